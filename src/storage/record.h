/*
 * record.h — the WAL's record format and the pure decoder of one segment file's bytes.
 *
 * A record is a 32-byte header, the payload, zero padding to a multiple of 8 bytes, and an
 * 8-byte XXH3-64 checksum over header, payload and padding. All integers are little-endian:
 *
 *   offset  0  u32 magic        WAL_RECORD_MAGIC
 *   offset  4  u8  kind         WAL_RECORD_KIND_ENTRY (the only kind in format version 1)
 *   offset  5  u8  entry type   enum raft_entry_type
 *   offset  6  u16 reserved     zero
 *   offset  8  u32 payload bytes
 *   offset 12  u32 reserved     zero
 *   offset 16  u64 index
 *   offset 24  u64 term
 *
 * Records start at multiples of 8 so that the recovery can look for a valid record after a
 * damaged one without trying every byte offset (see wal_find_valid_record).
 *
 * The decoder reads untrusted bytes (it is fuzzed): it bounds every length by the bytes it
 * was given and by max_payload_bytes, and never reads outside the buffer. Pure: no I/O, no
 * allocation. Nothing here is owned beyond the call; record views point into the caller's
 * buffer.
 */
#ifndef RAFTKV_STORAGE_RECORD_H
#define RAFTKV_STORAGE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "raft/raft.h"

#define WAL_RECORD_MAGIC          0x31524b52u /* "RKR1" as little-endian bytes */
#define WAL_RECORD_KIND_ENTRY     1
#define WAL_RECORD_HEADER_BYTES   32
#define WAL_RECORD_CHECKSUM_BYTES 8
#define WAL_RECORD_ALIGN_BYTES    8

static_assert(WAL_RECORD_HEADER_BYTES + WAL_RECORD_CHECKSUM_BYTES + WAL_RECORD_ALIGN_BYTES <=
                  LIMITS_WAL_RECORD_OVERHEAD_BYTES,
              "a record of the largest entry fits LIMITS_MAX_WAL_RECORD_BYTES");

/* Size on disk of a record with this payload. */
uint64_t wal_record_bytes(uint32_t payload_bytes);

/* Writes wal_record_bytes(entry->data_bytes) bytes to out. */
void wal_record_encode(const struct raft_entry *entry, uint8_t *out);

struct wal_record_view {
    uint64_t index;
    uint64_t term;
    uint8_t entry_type;
    uint32_t payload_bytes;
    const uint8_t *payload; /* into the decoded buffer */
    uint64_t record_bytes;
};

enum wal_decode_result {
    WAL_DECODE_DONE = 0,      /* one valid record */
    WAL_DECODE_NEED_MORE = 1, /* the bytes end inside a record whose header looks valid */
    WAL_DECODE_INVALID = 2,   /* not a valid record */
};

/* Decodes the record at the start of bytes. On INVALID, *reason (if not NULL) says why. */
enum wal_decode_result wal_record_decode(const uint8_t *bytes, size_t size,
                                         uint32_t max_payload_bytes, struct wal_record_view *out,
                                         const char **reason);

/* How a segment's bytes end after its last valid record. */
enum wal_tail {
    WAL_TAIL_CLEAN = 0, /* the last record ends exactly at the end of the file */
    WAL_TAIL_ZEROS = 1, /* only zero bytes follow (preallocated space) */
    WAL_TAIL_BAD = 2,   /* something else follows: a torn record, or damage */
};

struct wal_segment_scan {
    uint64_t record_count;
    uint64_t valid_bytes; /* where the last valid record ends */
    uint64_t first_index; /* of the first record, 0 when there is none */
    uint64_t last_index;  /* of the last valid record */
    uint64_t last_term;
    enum wal_tail tail;
    const char *bad_reason; /* when tail is WAL_TAIL_BAD */
    uint64_t error_offset;  /* when the scan returns an error: the offending record */
    const char *error_reason;
};

/* Called per valid record, in order; a nonzero return stops the scan and is returned. */
typedef int (*wal_record_fn)(void *arg, const struct wal_record_view *record, uint64_t offset);

/*
 * Decodes a whole segment. first_index is what the file name promises (0: accept any).
 * Returns 0 with *scan filled, or -1 when a record with a valid checksum breaks the sequence
 * (wrong first index, index gap, term going backwards): that is never a torn write, so
 * scan->error_offset and scan->error_reason say where and why. Other nonzero values come
 * from on_record.
 */
int wal_segment_scan(const uint8_t *bytes, size_t size, uint64_t first_index,
                     uint32_t max_payload_bytes, wal_record_fn on_record, void *arg,
                     struct wal_segment_scan *scan);

/*
 * Looks for any valid record at an 8-aligned offset at or after from_offset. Used to tell a
 * torn tail (nothing valid follows) from damage in the middle of the log. On success sets
 * *found_offset.
 */
bool wal_find_valid_record(const uint8_t *bytes, size_t size, uint64_t from_offset,
                           uint32_t max_payload_bytes, uint64_t *found_offset);

#endif
