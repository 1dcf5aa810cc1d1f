/*
 * peer_encode.c — encodes peer frames (the layout is in peer.h).
 *
 * Happy path: the payload's size is computed first, which also checks the frame against every
 * rule the decoder enforces (known types, counts within their limits, terms and indexes within
 * PEER_MAX_TERM and PEER_MAX_INDEX, a chunk that tiles its snapshot, data present where its
 * length says so); then header and payload are reserved at once, written, and the checksum is
 * filled in over the finished bytes. A frame is appended whole or not at all. The bytes are
 * the canonical encoding (peer.c): zero flags and padding, booleans as 0 or 1. Failure modes:
 * PROTO_ERROR_INVALID for a frame the decoder would reject, or the buffer's error when it
 * cannot grow (PROTO_ERROR_TOO_BIG, PROTO_ERROR_NO_MEMORY); nothing is appended then.
 */
#include <assert.h>
#include <string.h>

#include "proto/peer_internal.h"

/* ---- little-endian output into space already reserved ---- */

static void write_le(uint8_t **out, uint64_t value, size_t bytes)
{
    assert(bytes <= 8); /* a wider field would shift past the value's bits */
    for (size_t i = 0; i < bytes; i++) {
        (*out)[i] = (uint8_t)(value >> (8 * i));
    }
    *out += bytes;
}

static void write_bytes(uint8_t **out, const void *bytes, size_t count)
{
    assert(bytes != NULL || count == 0);
    if (count > 0) {
        memcpy(*out, bytes, count);
        *out += count;
    }
}

/* ---- sizes: a frame the decoder would accept, or none ---- */

static bool raft_message_valid(const struct raft_message *message, uint64_t *payload_bytes)
{
    assert(payload_bytes != NULL);
    const struct raft_configuration *configuration = &message->snapshot.configuration;
    if (message->type < 1 || message->type > RAFT_MSG_TYPE_MAX ||
        configuration->voter_count > RAFT_MAX_NODES ||
        configuration->learner_count > RAFT_MAX_NODES ||
        message->entry_count > PEER_MAX_ENTRIES_PER_MESSAGE ||
        (message->entry_count > 0 && message->entries == NULL) ||
        !peer_raft_counters_in_range(message)) {
        return false;
    }
    uint64_t bytes = PEER_RAFT_FIXED_BYTES;
    bytes += 8 * (uint64_t)(configuration->voter_count + configuration->learner_count);
    for (uint32_t i = 0; i < message->entry_count; i++) {
        const struct raft_entry *entry = &message->entries[i];
        if (entry->type > RAFT_ENTRY_CONFIG || (entry->data_bytes > 0 && entry->data == NULL)) {
            return false;
        }
        bytes += PEER_ENTRY_HEADER_BYTES + (uint64_t)entry->data_bytes;
        if (bytes > PEER_MAX_PAYLOAD_BYTES) {
            return false;
        }
    }
    *payload_bytes = bytes;
    return true;
}

static bool chunk_valid(const struct peer_snapshot_chunk *chunk, uint64_t *payload_bytes)
{
    assert(payload_bytes != NULL);
    if (chunk->offset > chunk->total_bytes ||
        chunk->data_bytes > chunk->total_bytes - chunk->offset ||
        chunk->last != (chunk->offset + chunk->data_bytes == chunk->total_bytes) ||
        (chunk->data_bytes > 0 && chunk->data == NULL) || !peer_chunk_counters_in_range(chunk)) {
        return false;
    }
    *payload_bytes = PEER_CHUNK_HEADER_BYTES + (uint64_t)chunk->data_bytes;
    return *payload_bytes <= PEER_MAX_PAYLOAD_BYTES;
}

/* The payload's size, or false for a frame the decoder would reject. */
static bool payload_size(const struct peer_frame *frame, uint64_t *payload_bytes)
{
    assert(frame != NULL);
    switch (frame->type) {
    case PEER_FRAME_HELLO:
        *payload_bytes = PEER_HELLO_PAYLOAD_BYTES;
        return true;
    case PEER_FRAME_HELLO_REPLY:
    case PEER_FRAME_AUTH:
        *payload_bytes = PEER_AUTH_PAYLOAD_BYTES;
        return true;
    case PEER_FRAME_RAFT:
        return raft_message_valid(&frame->raft, payload_bytes);
    case PEER_FRAME_SNAPSHOT_CHUNK:
        return chunk_valid(&frame->chunk, payload_bytes);
    case PEER_FRAME_REPLICA:
        return peer_replica_valid(&frame->replica, payload_bytes);
    default:
        return false;
    }
}

static void write_raft(uint8_t **out, const struct raft_message *message)
{
    /* raft_message_valid admitted it: the member counts fit the layout, the entries are there. */
    assert(message->snapshot.configuration.voter_count <= RAFT_MAX_NODES);
    assert(message->snapshot.configuration.learner_count <= RAFT_MAX_NODES);
    assert(message->entry_count == 0 || message->entries != NULL);
    write_le(out, message->type, 1);
    write_le(out, message->reject ? 1 : 0, 1);
    write_le(out, message->force ? 1 : 0, 1);
    write_le(out, 0, 1);
    const uint64_t fields[] = {message->from,     message->to,         message->term,
                               message->log_term, message->index,      message->commit,
                               message->context,  message->hint_index, message->hint_term};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        write_le(out, fields[i], 8);
    }
    const struct raft_configuration *configuration = &message->snapshot.configuration;
    write_le(out, message->snapshot.index, 8);
    write_le(out, message->snapshot.term, 8);
    write_le(out, configuration->voter_count, 4);
    write_le(out, configuration->learner_count, 4);
    write_le(out, configuration->highest_id, 8);
    for (uint32_t i = 0; i < configuration->voter_count; i++) {
        write_le(out, configuration->voters[i], 8);
    }
    for (uint32_t i = 0; i < configuration->learner_count; i++) {
        write_le(out, configuration->learners[i], 8);
    }
    write_le(out, message->entry_count, 4);
    for (uint32_t i = 0; i < message->entry_count; i++) {
        const struct raft_entry *entry = &message->entries[i];
        write_le(out, entry->term, 8);
        write_le(out, entry->index, 8);
        write_le(out, entry->type, 1);
        write_le(out, entry->data_bytes, 4);
        write_bytes(out, entry->data, entry->data_bytes);
    }
}

static void write_replica(uint8_t **out, const struct peer_replica *message)
{
    assert(message->item_count <= PEER_REPLICA_MAX_ITEMS); /* peer_replica_valid admitted it */
    write_le(out, message->kind, 1);
    write_le(out, message->flags, 1);
    write_le(out, 0, 2);
    write_le(out, message->from, 8);
    write_le(out, message->to, 8);
    write_le(out, message->item_count, 4);
    for (uint32_t i = 0; i < message->item_count; i++) {
        const struct peer_replica_item *item = &message->items[i];
        write_le(out, item->stamp.physical_ms, 8);
        write_le(out, item->stamp.logical, 4);
        write_le(out, item->stamp.node, 8);
        write_le(out, item->tombstone ? 1 : 0, 1);
        write_le(out, item->key_bytes, 4);
        write_bytes(out, item->key, item->key_bytes);
        write_le(out, item->value_bytes, 4);
        write_bytes(out, item->value, item->value_bytes);
    }
}

static void write_payload(uint8_t **out, const struct peer_frame *frame)
{
    assert(*out != NULL);
    switch (frame->type) {
    case PEER_FRAME_HELLO:
        write_bytes(out, frame->hello.cluster_id, PEER_CLUSTER_ID_BYTES);
        write_le(out, frame->hello.node_id, 8);
        write_bytes(out, frame->hello.challenge, PEER_CHALLENGE_BYTES);
        write_le(out, frame->hello.protocol_version, 4);
        break;
    case PEER_FRAME_HELLO_REPLY:
    case PEER_FRAME_AUTH:
        write_le(out, frame->auth.node_id, 8);
        write_bytes(out, frame->auth.mac, PEER_MAC_BYTES);
        write_bytes(out, frame->auth.challenge, PEER_CHALLENGE_BYTES);
        break;
    case PEER_FRAME_RAFT:
        write_raft(out, &frame->raft);
        break;
    case PEER_FRAME_SNAPSHOT_CHUNK:
        write_le(out, frame->chunk.snapshot_index, 8);
        write_le(out, frame->chunk.snapshot_term, 8);
        write_le(out, frame->chunk.offset, 8);
        write_le(out, frame->chunk.total_bytes, 8);
        write_le(out, frame->chunk.last ? 1 : 0, 1);
        write_le(out, frame->chunk.data_bytes, 4);
        write_bytes(out, frame->chunk.data, frame->chunk.data_bytes);
        break;
    case PEER_FRAME_REPLICA:
        write_replica(out, &frame->replica);
        break;
    default:
        assert(false);
    }
}

int peer_encode(struct proto_buffer *buffer, const struct peer_frame *frame)
{
    assert(buffer != NULL);
    uint64_t payload_bytes = 0;
    if (!payload_size(frame, &payload_bytes)) {
        return PROTO_ERROR_INVALID;
    }
    assert(payload_bytes <= PEER_MAX_PAYLOAD_BYTES);
    int rc = proto_buffer_reserve(buffer, PEER_HEADER_BYTES + (size_t)payload_bytes);
    if (rc != PROTO_OK) {
        return rc;
    }
    uint8_t *header = buffer->data + buffer->length;
    uint8_t *out = header;
    write_bytes(&out, PEER_MAGIC_BYTES, 4);
    write_le(&out, PEER_FRAME_VERSION, 1);
    write_le(&out, frame->type, 1);
    write_le(&out, 0, 2);
    write_le(&out, payload_bytes, 4);
    uint8_t *checksum_at = out;
    out += 8;
    write_payload(&out, frame);
    assert((size_t)(out - header) == PEER_HEADER_BYTES + payload_bytes);
    uint64_t checksum = peer_frame_checksum(header, header + PEER_HEADER_BYTES, payload_bytes);
    write_le(&checksum_at, checksum, 8);
    buffer->length += PEER_HEADER_BYTES + (size_t)payload_bytes;
    return PROTO_OK;
}
