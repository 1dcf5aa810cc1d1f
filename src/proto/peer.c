/*
 * peer.c — what the peer codec's decoder and encoder share: frame type names, the bounds on the
 * terms and indexes a frame may carry, the frame checksum; and frame equality.
 *
 * The layout is in peer.h; decoding is peer_decode.c's, encoding peer_encode.c's, the
 * handshake's HMAC peer_auth.c's. The encoding is canonical: decoding is strict (zero flags and
 * padding, booleans 0 or 1), so encode(decode(bytes)) reproduces the bytes exactly, which
 * fuzz_peer_codec checks with peer_frame_equal. Everything here is pure: no allocation, no
 * I/O, and no failure mode.
 */
#include <assert.h>
#include <string.h>
#include <xxhash.h>

#include "proto/peer_internal.h"

const char *peer_frame_type_string(int type)
{
    switch (type) {
    case PEER_FRAME_HELLO:
        return "HELLO";
    case PEER_FRAME_HELLO_REPLY:
        return "HELLO_REPLY";
    case PEER_FRAME_AUTH:
        return "AUTH";
    case PEER_FRAME_RAFT:
        return "RAFT";
    case PEER_FRAME_SNAPSHOT_CHUNK:
        return "SNAPSHOT_CHUNK";
    case PEER_FRAME_REPLICA:
        return "REPLICA";
    default:
        return "unknown";
    }
}

/* ---- bounds and the checksum, shared by the decoder and the encoder ---- */

bool peer_raft_counters_in_range(const struct raft_message *message)
{
    assert(message->entry_count == 0 || message->entries != NULL);
    if (message->term > PEER_MAX_TERM || message->log_term > PEER_MAX_TERM ||
        message->hint_term > PEER_MAX_TERM || message->snapshot.term > PEER_MAX_TERM) {
        return false;
    }
    if (message->index > PEER_MAX_INDEX || message->commit > PEER_MAX_INDEX ||
        message->hint_index > PEER_MAX_INDEX || message->snapshot.index > PEER_MAX_INDEX) {
        return false;
    }
    for (uint32_t i = 0; i < message->entry_count; i++) {
        if (message->entries[i].term > PEER_MAX_TERM ||
            message->entries[i].index > PEER_MAX_INDEX) {
            return false;
        }
    }
    return true;
}

bool peer_chunk_counters_in_range(const struct peer_snapshot_chunk *chunk)
{
    assert(chunk != NULL);
    return chunk->snapshot_term <= PEER_MAX_TERM && chunk->snapshot_index <= PEER_MAX_INDEX;
}

uint64_t peer_frame_checksum(const uint8_t *header, const uint8_t *payload, size_t payload_bytes)
{
    assert(header != NULL);
    assert(payload != NULL || payload_bytes == 0);
    XXH64_hash_t seed = XXH3_64bits(header, PEER_CHECKSUMMED_HEADER_BYTES);
    return XXH3_64bits_withSeed(payload, payload_bytes, seed);
}

/* ---- equality, for round-trip tests and the fuzzer ---- */

static bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t count)
{
    assert(count == 0 || a != NULL);
    assert(count == 0 || b != NULL);
    return count == 0 || memcmp(a, b, count) == 0;
}

static bool entries_equal(const struct raft_message *a, const struct raft_message *b)
{
    if (a->entry_count != b->entry_count) {
        return false;
    }
    assert(a->entry_count == 0 || a->entries != NULL);
    assert(b->entry_count == 0 || b->entries != NULL);
    for (uint32_t i = 0; i < a->entry_count; i++) {
        const struct raft_entry *x = &a->entries[i];
        const struct raft_entry *y = &b->entries[i];
        if (x->term != y->term || x->index != y->index || x->type != y->type ||
            x->data_bytes != y->data_bytes || !bytes_equal(x->data, y->data, x->data_bytes)) {
            return false;
        }
    }
    return true;
}

static bool raft_equal(const struct raft_message *a, const struct raft_message *b)
{
    const struct raft_configuration *x = &a->snapshot.configuration;
    const struct raft_configuration *y = &b->snapshot.configuration;
    if (x->voter_count != y->voter_count || x->learner_count != y->learner_count ||
        x->voter_count > RAFT_MAX_NODES || x->learner_count > RAFT_MAX_NODES) {
        return false;
    }
    return a->type == b->type && a->from == b->from && a->to == b->to && a->term == b->term &&
           a->log_term == b->log_term && a->index == b->index && a->commit == b->commit &&
           a->context == b->context && a->hint_index == b->hint_index &&
           a->hint_term == b->hint_term && a->reject == b->reject && a->force == b->force &&
           a->snapshot.index == b->snapshot.index && a->snapshot.term == b->snapshot.term &&
           x->highest_id == y->highest_id &&
           memcmp(x->voters, y->voters, x->voter_count * sizeof x->voters[0]) == 0 &&
           memcmp(x->learners, y->learners, x->learner_count * sizeof x->learners[0]) == 0 &&
           entries_equal(a, b);
}

bool peer_replica_valid(const struct peer_replica *message, uint64_t *payload_bytes)
{
    assert(message != NULL);
    assert(payload_bytes != NULL);
    bool digest = message->kind == PEER_REPLICA_DIGEST;
    if (message->kind < 1 || message->kind > PEER_REPLICA_KIND_MAX ||
        (message->flags & ~(PEER_REPLICA_FROM_START | PEER_REPLICA_TO_END)) != 0 ||
        (!digest && message->flags != 0) || message->item_count > PEER_REPLICA_MAX_ITEMS ||
        (message->item_count > 0 && message->items == NULL) ||
        (message->kind == PEER_REPLICA_ENTRY && message->item_count != 1)) {
        return false;
    }
    uint64_t bytes = PEER_REPLICA_FIXED_BYTES;
    for (uint32_t i = 0; i < message->item_count; i++) {
        const struct peer_replica_item *item = &message->items[i];
        bool keyless = message->kind == PEER_REPLICA_ENTRY;
        if ((item->key_bytes > 0 && item->key == NULL) ||
            (item->value_bytes > 0 && item->value == NULL) ||
            item->key_bytes > PEER_REPLICA_MAX_KEY_BYTES || (keyless != (item->key_bytes == 0)) ||
            ((digest || item->tombstone) && item->value_bytes != 0) ||
            (keyless && item->tombstone)) {
            return false;
        }
        bytes += PEER_REPLICA_ITEM_HEADER_BYTES + (uint64_t)item->key_bytes + item->value_bytes;
        if (bytes > PEER_MAX_PAYLOAD_BYTES) {
            return false;
        }
    }
    *payload_bytes = bytes;
    return true;
}

static bool replica_equal(const struct peer_replica *a, const struct peer_replica *b)
{
    if (a->kind != b->kind || a->flags != b->flags || a->from != b->from || a->to != b->to ||
        a->item_count != b->item_count) {
        return false;
    }
    for (uint32_t i = 0; i < a->item_count; i++) {
        const struct peer_replica_item *x = &a->items[i];
        const struct peer_replica_item *y = &b->items[i];
        if (x->stamp.physical_ms != y->stamp.physical_ms || x->stamp.logical != y->stamp.logical ||
            x->stamp.node != y->stamp.node || x->tombstone != y->tombstone ||
            x->key_bytes != y->key_bytes || x->value_bytes != y->value_bytes ||
            !bytes_equal(x->key, y->key, x->key_bytes) ||
            !bytes_equal(x->value, y->value, x->value_bytes)) {
            return false;
        }
    }
    return true;
}

bool peer_frame_equal(const struct peer_frame *a, const struct peer_frame *b)
{
    assert(a != NULL);
    assert(b != NULL);
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case PEER_FRAME_HELLO:
        return memcmp(a->hello.cluster_id, b->hello.cluster_id, PEER_CLUSTER_ID_BYTES) == 0 &&
               a->hello.node_id == b->hello.node_id &&
               memcmp(a->hello.challenge, b->hello.challenge, PEER_CHALLENGE_BYTES) == 0 &&
               a->hello.protocol_version == b->hello.protocol_version;
    case PEER_FRAME_HELLO_REPLY:
    case PEER_FRAME_AUTH:
        return a->auth.node_id == b->auth.node_id &&
               memcmp(a->auth.mac, b->auth.mac, PEER_MAC_BYTES) == 0 &&
               memcmp(a->auth.challenge, b->auth.challenge, PEER_CHALLENGE_BYTES) == 0;
    case PEER_FRAME_RAFT:
        return raft_equal(&a->raft, &b->raft);
    case PEER_FRAME_SNAPSHOT_CHUNK:
        return a->chunk.snapshot_index == b->chunk.snapshot_index &&
               a->chunk.snapshot_term == b->chunk.snapshot_term &&
               a->chunk.offset == b->chunk.offset && a->chunk.total_bytes == b->chunk.total_bytes &&
               a->chunk.last == b->chunk.last && a->chunk.data_bytes == b->chunk.data_bytes &&
               bytes_equal(a->chunk.data, b->chunk.data, a->chunk.data_bytes);
    case PEER_FRAME_REPLICA:
        return replica_equal(&a->replica, &b->replica);
    default:
        return false;
    }
}
