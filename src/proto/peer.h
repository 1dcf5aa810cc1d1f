/*
 * peer.h — the binary protocol between raftkv nodes: framing, the handshake frames, Raft
 * messages and snapshot chunks, and the HMAC that authenticates a peer.
 *
 * A frame is a 20-byte header and a payload, every integer little-endian:
 *
 *   offset  size  field
 *        0     4  magic "RKVP"
 *        4     1  frame format version (PEER_FRAME_VERSION)
 *        5     1  frame type (enum peer_frame_type)
 *        6     2  flags, zero
 *        8     4  payload bytes (at most the decoder's max_payload_bytes)
 *       12     8  XXH3-64 of the payload, seeded with the XXH3-64 of header bytes 0..11,
 *                 so that a flipped bit in the type or length is caught too
 *
 * Payloads (fixed-size ones must match exactly; no frame may carry trailing bytes):
 *   HELLO        cluster_id[16], node_id u64, challenge[32], protocol_version u32
 *   HELLO_REPLY  node_id u64, mac[32], challenge[32]
 *   AUTH         node_id u64, mac[32], challenge[32] (all zero; unused)
 *   RAFT         type u8, reject u8, force u8, zero u8, from, to, term, log_term, index,
 *                commit, context, hint_index, hint_term (u64 each); snapshot index u64,
 *                term u64, voter_count u32, learner_count u32, highest_id u64, voters u64[],
 *                learners u64[];
 *                entry_count u32, then per entry: term u64, index u64, type u8,
 *                data_bytes u32, data
 *   SNAPSHOT_CHUNK  snapshot_index u64, snapshot_term u64, offset u64, total_bytes u64,
 *                last u8, data_bytes u32, data
 *   REPLICA      (the lecture's foil modes only, src/replica; Raft never sends one)
 *                kind u8, flags u8, zero u16, from u64, to u64, item_count u32, then per
 *                item: stamp physical_ms u64, logical u32, node u64, tombstone u8,
 *                key_bytes u32, key, value_bytes u32, value
 *
 * The handshake, on each new connection from A (dialer) to B:
 *   A -> B  HELLO (cluster id, A, challenge cA, version)
 *   B -> A  HELLO_REPLY (B, peer_auth_compute(secret, cA, prover B, verifier A, cluster), cB)
 *   A -> B  AUTH (A, peer_auth_compute(secret, cB, prover A, verifier B, cluster))
 * Each side checks the cluster id and version, and verifies the MAC with peer_auth_verify()
 * before accepting any other frame. The MAC names the prover before the verifier, so a MAC
 * reflected back at its sender does not verify. Challenges must come from a CSPRNG
 * (OpenSSL's RAND_bytes in the server); proto/ does no I/O and draws no randomness.
 *
 * Decoder, happy path: the connection keeps a struct peer_decoder and calls peer_decode() on
 * its unconsumed bytes after every read: PEER_NEED_MORE (decoder->needed_bytes says how many
 * bytes the frame needs in total, once the header has arrived), or PEER_FRAME with *consumed
 * set to the frame's size. Failure modes (negative enum proto_error, text in
 * peer_decoder_error()): bad magic, version, type, flags (PROTO_ERROR_PROTOCOL), a payload
 * length above the limit (PROTO_ERROR_TOO_BIG, reported as soon as the header arrives, before
 * the caller buffers or anything is allocated), a checksum mismatch (PROTO_ERROR_CHECKSUM),
 * or a payload whose lengths, counts or enum values do not add up, or whose terms or indexes
 * pass PEER_MAX_TERM or PEER_MAX_INDEX (PROTO_ERROR_PROTOCOL).
 * Every count is checked against the bytes that remain before memory is allocated for it.
 *
 * Ownership: a decoded frame borrows. Entry and chunk data point into the caller's bytes
 * (valid until the caller changes or drops them); raft.entries points into an array owned by
 * the decoder, reused by the next peer_decode() and released by peer_decoder_free(). So a
 * decoded frame is valid until the next peer_decode() on the same decoder or until the caller
 * drops the consumed bytes, whichever comes first. raft_step() copies what it keeps.
 * The encoder appends one complete frame to a struct proto_buffer, or nothing on failure.
 */
#ifndef RAFTKV_PROTO_PEER_H
#define RAFTKV_PROTO_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "proto/proto.h"
#include "raft/raft.h"

#define PEER_MAGIC_BYTES             "RKVP"
#define PEER_FRAME_VERSION           1
#define PEER_PROTOCOL_VERSION        2 /* what HELLO announces; both sides must match */
#define PEER_HEADER_BYTES            20
#define PEER_MAX_PAYLOAD_BYTES       ((uint32_t)LIMITS_MAX_PEER_PAYLOAD_BYTES)
#define PEER_MAX_ENTRIES_PER_MESSAGE ((uint32_t)LIMITS_MAX_APPEND_ENTRIES)
#define PEER_CLUSTER_ID_BYTES        16
#define PEER_CHALLENGE_BYTES         32
#define PEER_MAC_BYTES               32 /* HMAC-SHA256 */
#define PEER_MAX_SECRET_BYTES        1024
#define PEER_ERROR_MESSAGE_BYTES     128
/* The largest term and the largest log index a RAFT frame or snapshot chunk may carry. Real
 * ones grow by one per election or entry and never come near; without a bound, one forged
 * frame at term 2^64 - 1 made a node adopt that term, and its next campaign wrapped to 0 and
 * failed the core's assertion that terms only grow. */
#define PEER_MAX_TERM  ((uint64_t)1 << 62)
#define PEER_MAX_INDEX ((uint64_t)1 << 62)

static_assert(PEER_HEADER_BYTES == LIMITS_PEER_FRAME_HEADER_BYTES, "the chain's frame header");

enum peer_frame_type {
    PEER_FRAME_HELLO = 1,
    PEER_FRAME_HELLO_REPLY = 2,
    PEER_FRAME_AUTH = 3,
    PEER_FRAME_RAFT = 4,
    PEER_FRAME_SNAPSHOT_CHUNK = 5,
    PEER_FRAME_REPLICA = 6,
};

#define PEER_FRAME_TYPE_MAX 6

const char *peer_frame_type_string(int type);

struct peer_hello {
    uint8_t cluster_id[PEER_CLUSTER_ID_BYTES];
    raft_node_id node_id;
    uint8_t challenge[PEER_CHALLENGE_BYTES];
    uint32_t protocol_version;
};

/* HELLO_REPLY and AUTH. */
struct peer_auth {
    raft_node_id node_id;
    uint8_t mac[PEER_MAC_BYTES];
    uint8_t challenge[PEER_CHALLENGE_BYTES]; /* the sender's own; zero in AUTH */
};

/* One piece of a snapshot's data, sent before the RAFT_MSG_SNAPSHOT message it belongs to.
 * Chunks tile [0, total_bytes); the one with last set ends exactly at total_bytes. */
struct peer_snapshot_chunk {
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    uint64_t offset;
    uint64_t total_bytes;
    bool last;
    uint32_t data_bytes;
    const uint8_t *data; /* borrowed; NULL when data_bytes is 0 */
};

/*
 * A message of the lecture's foil replication modes (src/replica), never of Raft's:
 *   ENTRY   naive: exactly one item, whose value is a kv-encoded command to apply as is
 *           (key empty, stamp zero, no tombstone);
 *   PUT     lww: each item is a key's latest state — its value, or a tombstone — with the
 *           hybrid-logical-clock stamp of the write that made it;
 *   DIGEST  lww anti-entropy: (key, stamp, tombstone) items in key order, values empty.
 *           It covers the keys from its first item's (or from the first key of all, with
 *           PEER_REPLICA_FROM_START) to its last item's (or to the last of all, with
 *           PEER_REPLICA_TO_END): the receiver answers with PUTs of what it holds newer in
 *           that range, or holds and the digest lacks.
 */
enum peer_replica_kind {
    PEER_REPLICA_ENTRY = 1,
    PEER_REPLICA_PUT = 2,
    PEER_REPLICA_DIGEST = 3,
};
#define PEER_REPLICA_KIND_MAX      3
#define PEER_REPLICA_FROM_START    1u /* DIGEST only */
#define PEER_REPLICA_TO_END        2u /* DIGEST only */
#define PEER_REPLICA_MAX_ITEMS     1024u
#define PEER_REPLICA_MAX_KEY_BYTES ((uint32_t)LIMITS_MAX_KEY_BYTES)

struct peer_replica_stamp {
    uint64_t physical_ms; /* Unix ms of the writer's clock, never behind a stamp it saw */
    uint32_t logical;     /* orders writes within one physical_ms */
    raft_node_id node;    /* the writer: the last tie-break */
};

struct peer_replica_item {
    struct peer_replica_stamp stamp;
    bool tombstone; /* the key was deleted by that write (value empty) */
    uint32_t key_bytes;
    const uint8_t *key; /* borrowed; NULL when key_bytes is 0 */
    uint32_t value_bytes;
    const uint8_t *value; /* borrowed; NULL when value_bytes is 0 */
};

struct peer_replica {
    uint8_t kind;  /* enum peer_replica_kind */
    uint8_t flags; /* PEER_REPLICA_FROM_START | PEER_REPLICA_TO_END, DIGEST only */
    raft_node_id from;
    raft_node_id to;
    uint32_t item_count; /* at most PEER_REPLICA_MAX_ITEMS */
    const struct peer_replica_item *items;
};

struct peer_frame {
    uint8_t type; /* enum peer_frame_type: selects the member below */
    union {
        struct peer_hello hello;          /* HELLO */
        struct peer_auth auth;            /* HELLO_REPLY, AUTH */
        struct raft_message raft;         /* RAFT; entries and their data borrowed */
        struct peer_snapshot_chunk chunk; /* SNAPSHOT_CHUNK */
        struct peer_replica replica;      /* REPLICA; items owned by the decoder */
    };
};

/* Fields are private to peer_decode.c, except needed_bytes after PEER_NEED_MORE. */
struct peer_decoder {
    uint32_t max_payload_bytes;
    size_t needed_bytes;
    struct raft_entry *entries;
    uint32_t entry_capacity;
    struct peer_replica_item *replica_items;
    uint32_t replica_item_capacity;
    char error[PEER_ERROR_MESSAGE_BYTES];
};

enum peer_outcome {
    PEER_NEED_MORE = 0,
    PEER_FRAME = 1,
};

/* max_payload_bytes 0 means PEER_MAX_PAYLOAD_BYTES; above it is PROTO_ERROR_INVALID. */
int peer_decoder_init(struct peer_decoder *decoder, uint32_t max_payload_bytes);
void peer_decoder_free(struct peer_decoder *decoder);

/* Decodes the frame at the front of data[0, length). Returns PEER_FRAME (*consumed = its
 * size), PEER_NEED_MORE (*consumed = 0), or a negative enum proto_error (*consumed = 0). */
int peer_decode(struct peer_decoder *decoder, const uint8_t *data, size_t length, size_t *consumed,
                struct peer_frame *frame);
const char *peer_decoder_error(const struct peer_decoder *decoder);

/* Appends one frame. PROTO_ERROR_INVALID for a frame the decoder would reject (unknown type,
 * counts, terms or indexes above their limits, inconsistent chunk, payload above
 * PEER_MAX_PAYLOAD_BYTES). */
int peer_encode(struct proto_buffer *buffer, const struct peer_frame *frame);

/* Field-by-field equality, entry data compared by content. */
bool peer_frame_equal(const struct peer_frame *a, const struct peer_frame *b);

/* HMAC-SHA256(secret, challenge || prover u64 LE || verifier u64 LE || cluster_id).
 * secret_bytes must be 1..PEER_MAX_SECRET_BYTES (PROTO_ERROR_INVALID otherwise);
 * PROTO_ERROR_CRYPTO if OpenSSL fails. */
int peer_auth_compute(const uint8_t *secret, size_t secret_bytes,
                      const uint8_t challenge[PEER_CHALLENGE_BYTES], raft_node_id prover,
                      raft_node_id verifier, const uint8_t cluster_id[PEER_CLUSTER_ID_BYTES],
                      uint8_t mac[PEER_MAC_BYTES]);
/* Recomputes the MAC and compares in constant time: PROTO_OK or PROTO_ERROR_AUTH. */
int peer_auth_verify(const uint8_t *secret, size_t secret_bytes,
                     const uint8_t challenge[PEER_CHALLENGE_BYTES], raft_node_id prover,
                     raft_node_id verifier, const uint8_t cluster_id[PEER_CLUSTER_ID_BYTES],
                     const uint8_t mac[PEER_MAC_BYTES]);

#endif
