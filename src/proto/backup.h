/*
 * backup.h — the format of a backup: what RAFT.BACKUP streams and raftkv-backup stores, and
 * what raftkv --restore reads back.
 *
 *   header   "RKVBACK1", u32 header bytes (all of the header), u32 configuration bytes,
 *            u64 applied index, u64 its term, u64 data bytes, the configuration (a
 *            RAFT_ENTRY_CONFIG entry's data: raft_configuration_decode reads it), and an
 *            XXH3-64 of everything before it; little-endian.
 *   data     the state machine's bytes as a snapshot holds them (kv/'s export).
 *   trailer  u64 XXH3-64 of the data.
 *
 * Happy path: the writer encodes the header, streams the data, appends the trailer. The reader
 * decodes the header (PROTO_OK once it is whole), hashes the data as it copies it, and compares
 * the trailer. Failure modes: bad magic, a header checksum that does not match, sizes beyond
 * the limits below → PROTO_ERROR_PROTOCOL with a sentence in `message`; a truncated or altered
 * file is caught by the header checksum or the trailer. Pure: no I/O.
 */
#ifndef RAFTKV_PROTO_BACKUP_H
#define RAFTKV_PROTO_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define BACKUP_MAGIC             "RKVBACK1"
#define BACKUP_FIXED_BYTES       (8 + 4 + 4 + 8 + 8 + 8 + 8)
#define BACKUP_MAX_CONFIGURATION (256 * 1024)
#define BACKUP_TRAILER_BYTES     8
#define BACKUP_MESSAGE_BYTES     160

struct backup_header {
    uint64_t index;
    uint64_t term;
    uint64_t data_bytes;
    uint32_t configuration_bytes;
    const uint8_t *configuration; /* borrowed: into the caller's bytes */
};

/* The encoded header's size. */
size_t backup_header_bytes(const struct backup_header *header);
/* Writes the header into out (backup_header_bytes of room). */
void backup_header_encode(const struct backup_header *header, uint8_t *out);
/* Reads a header from the first `bytes` of in: PROTO_OK with *header_bytes its size;
 * BACKUP_NEED_MORE with *header_bytes the bytes needed (so far known) when in is too short;
 * PROTO_ERROR_PROTOCOL with a sentence in message. header->configuration points into in. */
#define BACKUP_NEED_MORE 1
int backup_header_decode(const uint8_t *in, size_t bytes, struct backup_header *header,
                         size_t *header_bytes, char message[BACKUP_MESSAGE_BYTES]);
/* XXH3-64 streaming over the data, so that callers need not link xxhash themselves. */
struct backup_hash;
struct backup_hash *backup_hash_new(void);
void backup_hash_update(struct backup_hash *hash, const void *data, size_t bytes);
uint64_t backup_hash_digest(const struct backup_hash *hash);
void backup_hash_free(struct backup_hash *hash);
void backup_put_u64(uint8_t *out, uint64_t value);
uint64_t backup_get_u64(const uint8_t *in);

#endif
