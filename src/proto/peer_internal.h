/*
 * peer_internal.h — what the peer codec's source files share: the encoded sizes of the
 * payloads' parts, the bounds on terms and indexes, and the frame checksum.
 *
 *   peer.c         frame type names, the shared rules below, frame equality
 *   peer_decode.c  the decoder (header first, then checksum, then a bounded cursor)
 *   peer_encode.c  the encoder (size first, then one reservation, then the bytes)
 *   peer_auth.c    the handshake's HMAC
 *
 * The layout itself is in peer.h. Private to src/proto/peer*.c.
 */
#ifndef RAFTKV_PROTO_PEER_INTERNAL_H
#define RAFTKV_PROTO_PEER_INTERNAL_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/peer.h"

/* Encoded sizes, in bytes, of the fixed parts of the payloads (see the layout in peer.h). */
enum {
    PEER_HELLO_PAYLOAD_BYTES = PEER_CLUSTER_ID_BYTES + 8 + PEER_CHALLENGE_BYTES + 4,
    PEER_AUTH_PAYLOAD_BYTES = 8 + PEER_MAC_BYTES + PEER_CHALLENGE_BYTES,
    PEER_RAFT_FIXED_BYTES = 4 + 9 * 8 + 8 + 8 + 4 + 4 + 8 + 4, /* without members or entries */
    PEER_ENTRY_HEADER_BYTES = 8 + 8 + 1 + 4,
    PEER_CHUNK_HEADER_BYTES = 4 * 8 + 1 + 4,
    PEER_CHECKSUMMED_HEADER_BYTES = 12, /* header bytes 0..11 seed the payload's checksum */
    PEER_REPLICA_FIXED_BYTES = 1 + 1 + 2 + 8 + 8 + 4,
    PEER_REPLICA_ITEM_HEADER_BYTES = 8 + 4 + 8 + 1 + 4 + 4,
};

static_assert(PEER_ENTRY_HEADER_BYTES <= LIMITS_PEER_ENTRY_HEADER_BYTES, "limits.h's entry header");
static_assert(PEER_RAFT_FIXED_BYTES + 2 * 8 * RAFT_MAX_NODES <= LIMITS_PEER_MESSAGE_FIXED_BYTES,
              "limits.h's fixed part of a RAFT frame");
static_assert(PEER_CHUNK_HEADER_BYTES <= LIMITS_SNAPSHOT_CHUNK_OVERHEAD_BYTES,
              "limits.h's snapshot chunk overhead");

/* Every term and log index of a RAFT message, entries included, within the wire's bounds
 * (PEER_MAX_TERM, PEER_MAX_INDEX): the decoder refuses, and the encoder will not write, any
 * other. */
bool peer_raft_counters_in_range(const struct raft_message *message);
bool peer_chunk_counters_in_range(const struct peer_snapshot_chunk *chunk);

/* The rules of a REPLICA message beyond its layout (peer.h): a known kind, flags only on a
 * DIGEST, one key-less item in an ENTRY, no value in a DIGEST or with a tombstone, keys
 * within PEER_REPLICA_MAX_KEY_BYTES, at most PEER_REPLICA_MAX_ITEMS; *payload_bytes its
 * encoded size. The decoder refuses, and the encoder will not write, any other. */
bool peer_replica_valid(const struct peer_replica *message, uint64_t *payload_bytes);

/* XXH3-64 of the payload, seeded with the XXH3-64 of the header's first
 * PEER_CHECKSUMMED_HEADER_BYTES. */
uint64_t peer_frame_checksum(const uint8_t *header, const uint8_t *payload, size_t payload_bytes);

#endif
