/*
 * limits.h — the chain of size limits, from a client's argument down to a peer frame.
 *
 * Every layer a write passes through has a largest size it accepts: the RESP parser (one
 * argument, the number of arguments), the server's edge check (the whole request as it will
 * sit in a log entry), the Raft log entry, the WAL record that stores it, and the peer frame
 * that carries it to a follower. If any layer below the edge were smaller than the one above
 * it, a request the edge accepted could be refused after it was proposed — by the WAL on the
 * leader, or by a follower's decoder — and a node would be stuck with an entry it can neither
 * store nor skip. So each limit here is derived from the one before it, with a static
 * assertion, and the layers below the edge use these ceilings, never a node's own flags:
 * nodes of one cluster may run with different flags, and an entry one node's edge accepted
 * must fit every other node's WAL and decoder.
 *
 * The flags (--max-bulk-bytes, --max-request-bytes, --max-array-length) may lower the edge
 * below the ceilings; the server refuses values above them at start.
 *
 * Dependency-free: any module may include it (DESIGN.md's base/).
 */
#ifndef RAFTKV_BASE_LIMITS_H
#define RAFTKV_BASE_LIMITS_H

#include <assert.h>
#include <stdint.h>

#define LIMITS_KIB ((uint64_t)1024)
#define LIMITS_MIB (LIMITS_KIB * 1024)

/* ---- the client's edge ---- */

/* The longest key. kv stores keys as LMDB keys (at most 511 bytes) behind an 8-byte hash. */
#define LIMITS_MAX_KEY_BYTES 503

/* The longest single argument a client may send (Redis's proto-max-bulk-len default), the
 * ceiling of --max-bulk-bytes. Also the largest string value APPEND and SETRANGE may build:
 * that check runs while applying, so it must be the same on every replica, not a flag. */
#define LIMITS_MAX_BULK_BYTES (512 * LIMITS_MIB)
/* --max-bulk-bytes by default, far below Redis's 512 MiB: a log entry travels to each
 * follower as one frame, and heartbeats queue behind it, so an entry must cross the network
 * and the disk well within an election timeout (a 64 MiB entry stalled a leader's loop for
 * half a second, and takes as long on a 1 Gbit/s link). docs/operations.md says how to raise
 * it, and the election timeout with it. */
#define LIMITS_DEFAULT_BULK_BYTES (8 * LIMITS_MIB)

/* The most arguments in one request (Redis's limit for multibulk lengths). */
#define LIMITS_MAX_ARGUMENTS (1024 * 1024)

/* A request's size as a log entry: kv's command encoding, a version byte, the leader's time
 * stamp and a count, then
 * a 4-byte length before every argument (kv.h). */
#define LIMITS_COMMAND_HEADER_BYTES  13
#define LIMITS_ARGUMENT_HEADER_BYTES 4
#define LIMITS_REQUEST_BYTES(argument_count, payload_bytes)                                        \
    (LIMITS_COMMAND_HEADER_BYTES + LIMITS_ARGUMENT_HEADER_BYTES * (uint64_t)(argument_count) +     \
     (uint64_t)(payload_bytes))

/* Room for the largest value together with its key, the command's name and a few options
 * ("SET key value EX 10 NX GET"), as one request. */
#define LIMITS_REQUEST_SLACK_BYTES (64 * LIMITS_MIB)
/* The largest request (its encoded size), the ceiling of --max-request-bytes. */
#define LIMITS_MAX_REQUEST_BYTES     (LIMITS_MAX_BULK_BYTES + LIMITS_REQUEST_SLACK_BYTES)
#define LIMITS_DEFAULT_REQUEST_BYTES (2 * LIMITS_DEFAULT_BULK_BYTES)
/* --max-request-bytes may not be lowered below --max-bulk-bytes plus this, so that a SET of
 * the largest value the parser accepts always fits one request. */
#define LIMITS_MIN_REQUEST_SLACK_BYTES (64 * LIMITS_KIB)

static_assert(LIMITS_REQUEST_BYTES(8, LIMITS_MAX_BULK_BYTES + LIMITS_MAX_KEY_BYTES + 64) <=
                  LIMITS_MAX_REQUEST_BYTES,
              "a SET of the largest value, with options, fits one request");
static_assert(LIMITS_REQUEST_BYTES(LIMITS_MAX_ARGUMENTS, 0) <= LIMITS_REQUEST_SLACK_BYTES,
              "the encoding of the most arguments fits the slack");
static_assert(LIMITS_REQUEST_BYTES(3, LIMITS_DEFAULT_BULK_BYTES + LIMITS_MAX_KEY_BYTES + 16) <=
                  LIMITS_DEFAULT_REQUEST_BYTES,
              "by default a SET of the largest value fits one request");

/* ---- the log ---- */

/* Bytes a log entry's payload may carry beyond the request: reserved for what the state
 * machine's entry envelope adds (the leader's time stamp, a client session). */
#define LIMITS_ENTRY_ENVELOPE_BYTES (4 * LIMITS_KIB)
#define LIMITS_MAX_ENTRY_BYTES      (LIMITS_MAX_REQUEST_BYTES + LIMITS_ENTRY_ENVELOPE_BYTES)

/* A WAL record: its header, the payload, the checksum and the alignment (record.h asserts
 * that its own arithmetic stays within this). */
#define LIMITS_WAL_RECORD_OVERHEAD_BYTES 64
#define LIMITS_MAX_WAL_RECORD_BYTES      (LIMITS_MAX_ENTRY_BYTES + LIMITS_WAL_RECORD_OVERHEAD_BYTES)

/* ---- replication ---- */

/* The payload bytes the leader packs into one APPEND before starting another (a single entry
 * larger than this travels alone), and the most entries in one APPEND. */
#define LIMITS_APPEND_BYTES       (1 * LIMITS_MIB)
#define LIMITS_MAX_APPEND_ENTRIES (64 * 1024)
/* Per entry on the wire (term, index, type, length) and a RAFT frame's fixed fields with the
 * largest configuration, rounded up (peer.h asserts its own arithmetic against these). */
#define LIMITS_PEER_ENTRY_HEADER_BYTES  32
#define LIMITS_PEER_MESSAGE_FIXED_BYTES (4 * LIMITS_KIB)
/* The largest payload of a peer frame: an APPEND whose entries fill LIMITS_APPEND_BYTES and
 * then one more entry of the largest size (how the leader packs them). */
#define LIMITS_MAX_PEER_PAYLOAD_BYTES                                                              \
    (LIMITS_PEER_MESSAGE_FIXED_BYTES + LIMITS_APPEND_BYTES + LIMITS_MAX_ENTRY_BYTES +              \
     LIMITS_PEER_ENTRY_HEADER_BYTES * (uint64_t)LIMITS_MAX_APPEND_ENTRIES)
#define LIMITS_PEER_FRAME_HEADER_BYTES 20
#define LIMITS_MAX_PEER_FRAME_BYTES    (LIMITS_PEER_FRAME_HEADER_BYTES + LIMITS_MAX_PEER_PAYLOAD_BYTES)

/* A snapshot streams to a follower in chunks of this many data bytes, each its own frame. */
#define LIMITS_SNAPSHOT_CHUNK_BYTES          (1 * LIMITS_MIB)
#define LIMITS_SNAPSHOT_CHUNK_OVERHEAD_BYTES 64

static_assert(LIMITS_MAX_ENTRY_BYTES > LIMITS_MAX_REQUEST_BYTES, "an entry holds a request");
static_assert(LIMITS_MAX_WAL_RECORD_BYTES > LIMITS_MAX_ENTRY_BYTES, "a record holds an entry");
static_assert(LIMITS_MAX_PEER_PAYLOAD_BYTES > LIMITS_MAX_ENTRY_BYTES, "a frame holds an entry");
static_assert(LIMITS_SNAPSHOT_CHUNK_BYTES + LIMITS_SNAPSHOT_CHUNK_OVERHEAD_BYTES <=
                  LIMITS_MAX_PEER_PAYLOAD_BYTES,
              "a frame holds a snapshot chunk");
static_assert(LIMITS_MAX_PEER_FRAME_BYTES < UINT32_MAX, "frame lengths are 32-bit on the wire");
static_assert(LIMITS_MAX_WAL_RECORD_BYTES < UINT32_MAX, "record lengths are 32-bit on disk");

#endif
