/*
 * peer_decode.c — decodes peer frames (the layout is in peer.h) from bytes nobody vouches for.
 *
 * Decoding happens in two steps. The header is checked as soon as its 20 bytes are
 * buffered — magic, version, type, flags and, above all, the payload length against the
 * limit — so that a hostile length is refused before the caller buffers or allocates for it.
 * Once the whole payload is buffered its checksum is verified, then the payload is read by a
 * cursor that fails (and stays failed) on any read past the end, so no field is ever read
 * from outside the frame. Counts are bounded twice: by their named limit, and by the bytes
 * that remain (each item has a minimum encoded size) before the entry array grows. Terms and
 * indexes are bounded too (PEER_MAX_TERM, PEER_MAX_INDEX), so that no arithmetic on them in
 * the core can wrap. Decoding is strict — zero flags and padding, booleans 0 or 1, no
 * trailing bytes — so that the encoding stays canonical (peer.c). Failure modes: the three
 * outcomes of peer.h (need more, a frame, or a negative enum proto_error with the reason in
 * peer_decoder_error()); a failed decode leaves the frame zeroed.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peer_internal.h"

/* ---- a little-endian cursor that cannot read past the end ---- */

struct reader {
    const uint8_t *at;
    size_t remaining;
    bool failed; /* a read went past the end; every later read returns zeros */
};

static const uint8_t *take(struct reader *reader, size_t count)
{
    assert(reader != NULL);
    assert(reader->at != NULL || reader->remaining == 0);
    if (reader->failed || count > reader->remaining) {
        reader->failed = true;
        return NULL;
    }
    const uint8_t *at = reader->at;
    reader->at += count;
    reader->remaining -= count;
    return at;
}

static uint64_t read_le(struct reader *reader, size_t bytes)
{
    assert(bytes <= 8); /* a wider field would shift past the value's bits */
    const uint8_t *at = take(reader, bytes);
    uint64_t value = 0;
    for (size_t i = 0; at != NULL && i < bytes; i++) {
        value |= (uint64_t)at[i] << (8 * i);
    }
    return value;
}

static void read_bytes(struct reader *reader, uint8_t *out, size_t count)
{
    assert(out != NULL);
    const uint8_t *at = take(reader, count);
    if (at == NULL) {
        memset(out, 0, count);
    } else {
        memcpy(out, at, count);
    }
}

/* ---- the decoder ---- */

int peer_decoder_init(struct peer_decoder *decoder, uint32_t max_payload_bytes)
{
    assert(decoder != NULL);
    memset(decoder, 0, sizeof *decoder);
    if (max_payload_bytes > PEER_MAX_PAYLOAD_BYTES) {
        return PROTO_ERROR_INVALID;
    }
    decoder->max_payload_bytes =
        max_payload_bytes == 0 ? PEER_MAX_PAYLOAD_BYTES : max_payload_bytes;
    return PROTO_OK;
}

void peer_decoder_free(struct peer_decoder *decoder)
{
    assert(decoder != NULL);
    assert(decoder->entries != NULL || decoder->entry_capacity == 0);
    free(decoder->entries);
    decoder->entries = NULL;
    decoder->entry_capacity = 0;
    free(decoder->replica_items);
    decoder->replica_items = NULL;
    decoder->replica_item_capacity = 0;
}

const char *peer_decoder_error(const struct peer_decoder *decoder)
{
    assert(decoder != NULL);
    return decoder->error;
}

__attribute__((format(printf, 3, 4))) static int fail(struct peer_decoder *decoder, int rc,
                                                      const char *format, ...)
{
    assert(rc < 0); /* only errors carry a message */
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(decoder->error, sizeof decoder->error, format, arguments);
    va_end(arguments);
    return rc;
}

static int decode_hello(struct reader *reader, struct peer_hello *hello)
{
    assert(hello != NULL);
    read_bytes(reader, hello->cluster_id, PEER_CLUSTER_ID_BYTES);
    hello->node_id = read_le(reader, 8);
    read_bytes(reader, hello->challenge, PEER_CHALLENGE_BYTES);
    hello->protocol_version = (uint32_t)read_le(reader, 4);
    return PROTO_OK;
}

static int decode_auth(struct reader *reader, struct peer_auth *auth)
{
    assert(auth != NULL);
    auth->node_id = read_le(reader, 8);
    read_bytes(reader, auth->mac, PEER_MAC_BYTES);
    read_bytes(reader, auth->challenge, PEER_CHALLENGE_BYTES);
    return PROTO_OK;
}

static int decode_node_list(struct peer_decoder *decoder, struct reader *reader, uint32_t count,
                            raft_node_id *nodes)
{
    assert(nodes != NULL);
    if (count > RAFT_MAX_NODES) {
        return fail(decoder, PROTO_ERROR_PROTOCOL, "%u nodes in a configuration (max %d)", count,
                    RAFT_MAX_NODES);
    }
    for (uint32_t i = 0; i < count; i++) {
        nodes[i] = read_le(reader, 8);
    }
    return PROTO_OK;
}

static int decode_snapshot_meta(struct peer_decoder *decoder, struct reader *reader,
                                struct raft_snapshot_meta *meta)
{
    assert(meta != NULL);
    memset(meta, 0, sizeof *meta);
    meta->index = read_le(reader, 8);
    meta->term = read_le(reader, 8);
    struct raft_configuration *configuration = &meta->configuration;
    configuration->voter_count = (uint32_t)read_le(reader, 4);
    configuration->learner_count = (uint32_t)read_le(reader, 4);
    configuration->highest_id = read_le(reader, 8);
    int rc = decode_node_list(decoder, reader, configuration->voter_count, configuration->voters);
    if (rc != PROTO_OK) {
        return rc;
    }
    return decode_node_list(decoder, reader, configuration->learner_count, configuration->learners);
}

static int reserve_entries(struct peer_decoder *decoder, uint32_t count)
{
    assert(count <= PEER_MAX_ENTRIES_PER_MESSAGE); /* checked against the limit first */
    if (count <= decoder->entry_capacity) {
        return PROTO_OK;
    }
    struct raft_entry *entries = realloc(decoder->entries, (size_t)count * sizeof *entries);
    if (entries == NULL) {
        return fail(decoder, PROTO_ERROR_NO_MEMORY, "out of memory for %u entries", count);
    }
    decoder->entries = entries;
    decoder->entry_capacity = count;
    return PROTO_OK;
}

static int decode_entries(struct peer_decoder *decoder, struct reader *reader,
                          struct raft_message *message)
{
    uint32_t count = (uint32_t)read_le(reader, 4);
    if (reader->failed) {
        return PROTO_OK; /* reported as truncated by the caller */
    }
    if (count > PEER_MAX_ENTRIES_PER_MESSAGE ||
        (uint64_t)count * PEER_ENTRY_HEADER_BYTES > reader->remaining) {
        return fail(decoder, PROTO_ERROR_PROTOCOL,
                    "entry count %u does not fit the %zu payload bytes left", count,
                    reader->remaining);
    }
    int rc = reserve_entries(decoder, count);
    if (rc != PROTO_OK) {
        return rc;
    }
    assert(decoder->entry_capacity >= count);
    message->entry_count = count;
    message->entries = count > 0 ? decoder->entries : NULL;
    for (uint32_t i = 0; i < count; i++) {
        struct raft_entry *entry = &decoder->entries[i];
        entry->term = read_le(reader, 8);
        entry->index = read_le(reader, 8);
        entry->type = (uint8_t)read_le(reader, 1);
        entry->data_bytes = (uint32_t)read_le(reader, 4);
        if (entry->type > RAFT_ENTRY_CONFIG) {
            return fail(decoder, PROTO_ERROR_PROTOCOL, "entry %u has unknown type %u", i,
                        (unsigned)entry->type);
        }
        entry->data = entry->data_bytes > 0 ? (uint8_t *)take(reader, entry->data_bytes) : NULL;
        if (reader->failed) {
            return fail(decoder, PROTO_ERROR_PROTOCOL, "entry %u of %u is truncated", i, count);
        }
    }
    return PROTO_OK;
}

static int decode_flag(struct peer_decoder *decoder, struct reader *reader, bool *flag)
{
    assert(flag != NULL);
    uint64_t value = read_le(reader, 1);
    if (value > 1) {
        return fail(decoder, PROTO_ERROR_PROTOCOL, "boolean field holds %u", (unsigned)value);
    }
    *flag = value == 1;
    return PROTO_OK;
}

static int decode_raft(struct peer_decoder *decoder, struct reader *reader,
                       struct raft_message *message)
{
    assert(message != NULL);
    memset(message, 0, sizeof *message);
    message->type = (uint8_t)read_le(reader, 1);
    int rc = decode_flag(decoder, reader, &message->reject);
    if (rc == PROTO_OK) {
        rc = decode_flag(decoder, reader, &message->force);
    }
    if (rc != PROTO_OK) {
        return rc;
    }
    uint64_t padding = read_le(reader, 1);
    if (message->type < 1 || message->type > RAFT_MSG_TYPE_MAX || padding != 0) {
        return fail(decoder, PROTO_ERROR_PROTOCOL, "raft message type %u, padding %u",
                    (unsigned)message->type, (unsigned)padding);
    }
    message->from = read_le(reader, 8);
    message->to = read_le(reader, 8);
    message->term = read_le(reader, 8);
    message->log_term = read_le(reader, 8);
    message->index = read_le(reader, 8);
    message->commit = read_le(reader, 8);
    message->context = read_le(reader, 8);
    message->hint_index = read_le(reader, 8);
    message->hint_term = read_le(reader, 8);
    rc = decode_snapshot_meta(decoder, reader, &message->snapshot);
    if (rc == PROTO_OK) {
        rc = decode_entries(decoder, reader, message);
    }
    if (rc != PROTO_OK || reader->failed) {
        return rc; /* a truncated payload is reported by the caller */
    }
    if (!peer_raft_counters_in_range(message)) {
        return fail(decoder, PROTO_ERROR_PROTOCOL,
                    "raft message (type %u) with a term above %llu or an index above %llu",
                    (unsigned)message->type, (unsigned long long)PEER_MAX_TERM,
                    (unsigned long long)PEER_MAX_INDEX);
    }
    return PROTO_OK;
}

static int decode_chunk(struct peer_decoder *decoder, struct reader *reader,
                        struct peer_snapshot_chunk *chunk)
{
    assert(chunk != NULL);
    memset(chunk, 0, sizeof *chunk);
    chunk->snapshot_index = read_le(reader, 8);
    chunk->snapshot_term = read_le(reader, 8);
    chunk->offset = read_le(reader, 8);
    chunk->total_bytes = read_le(reader, 8);
    int rc = decode_flag(decoder, reader, &chunk->last);
    if (rc != PROTO_OK) {
        return rc;
    }
    chunk->data_bytes = (uint32_t)read_le(reader, 4);
    chunk->data = chunk->data_bytes > 0 ? take(reader, chunk->data_bytes) : NULL;
    if (reader->failed) {
        return fail(decoder, PROTO_ERROR_PROTOCOL, "snapshot chunk of %u bytes is truncated",
                    chunk->data_bytes);
    }
    if (!peer_chunk_counters_in_range(chunk)) {
        return fail(decoder, PROTO_ERROR_PROTOCOL,
                    "snapshot chunk with a term above %llu or an index above %llu",
                    (unsigned long long)PEER_MAX_TERM, (unsigned long long)PEER_MAX_INDEX);
    }
    bool fits = chunk->offset <= chunk->total_bytes &&
                chunk->data_bytes <= chunk->total_bytes - chunk->offset;
    if (!fits || chunk->last != (chunk->offset + chunk->data_bytes == chunk->total_bytes)) {
        return fail(decoder, PROTO_ERROR_PROTOCOL,
                    "snapshot chunk at %llu of %u bytes does not tile a %llu-byte snapshot",
                    (unsigned long long)chunk->offset, chunk->data_bytes,
                    (unsigned long long)chunk->total_bytes);
    }
    return PROTO_OK;
}

static int reserve_replica_items(struct peer_decoder *decoder, uint32_t count)
{
    assert(count <= PEER_REPLICA_MAX_ITEMS); /* checked against the limit first */
    if (count <= decoder->replica_item_capacity) {
        return PROTO_OK;
    }
    struct peer_replica_item *items =
        realloc(decoder->replica_items, (size_t)count * sizeof *items);
    if (items == NULL) {
        return fail(decoder, PROTO_ERROR_NO_MEMORY, "out of memory for %u replica items", count);
    }
    decoder->replica_items = items;
    decoder->replica_item_capacity = count;
    return PROTO_OK;
}

static int decode_replica_item(struct peer_decoder *decoder, struct reader *reader,
                               struct peer_replica_item *item)
{
    item->stamp.physical_ms = read_le(reader, 8);
    item->stamp.logical = (uint32_t)read_le(reader, 4);
    item->stamp.node = read_le(reader, 8);
    int rc = decode_flag(decoder, reader, &item->tombstone);
    if (rc != PROTO_OK) {
        return rc;
    }
    item->key_bytes = (uint32_t)read_le(reader, 4);
    item->key = item->key_bytes > 0 ? take(reader, item->key_bytes) : NULL;
    item->value_bytes = (uint32_t)read_le(reader, 4);
    item->value = item->value_bytes > 0 ? take(reader, item->value_bytes) : NULL;
    return PROTO_OK;
}

/* The lecture's foil modes (peer.h): the layout first, then peer_replica_valid's rules. */
static int decode_replica(struct peer_decoder *decoder, struct reader *reader,
                          struct peer_replica *message)
{
    assert(message != NULL);
    memset(message, 0, sizeof *message);
    message->kind = (uint8_t)read_le(reader, 1);
    message->flags = (uint8_t)read_le(reader, 1);
    uint64_t padding = read_le(reader, 2);
    message->from = read_le(reader, 8);
    message->to = read_le(reader, 8);
    uint32_t count = (uint32_t)read_le(reader, 4);
    if (reader->failed) {
        return PROTO_OK; /* reported as truncated by the caller */
    }
    if (padding != 0 || count > PEER_REPLICA_MAX_ITEMS ||
        (uint64_t)count * PEER_REPLICA_ITEM_HEADER_BYTES > reader->remaining) {
        return fail(decoder, PROTO_ERROR_PROTOCOL,
                    "replica message with padding %u and %u items in %zu bytes", (unsigned)padding,
                    count, reader->remaining);
    }
    int rc = reserve_replica_items(decoder, count);
    if (rc != PROTO_OK) {
        return rc;
    }
    message->item_count = count;
    message->items = count > 0 ? decoder->replica_items : NULL;
    for (uint32_t i = 0; i < count && rc == PROTO_OK; i++) {
        rc = decode_replica_item(decoder, reader, &decoder->replica_items[i]);
        if (rc == PROTO_OK && reader->failed) {
            return fail(decoder, PROTO_ERROR_PROTOCOL, "replica item %u of %u is truncated", i,
                        count);
        }
    }
    uint64_t payload_bytes = 0;
    if (rc == PROTO_OK && !peer_replica_valid(message, &payload_bytes)) {
        return fail(decoder, PROTO_ERROR_PROTOCOL,
                    "replica message of kind %u (flags %u, %u items) breaks its rules",
                    (unsigned)message->kind, (unsigned)message->flags, count);
    }
    return rc;
}

static int decode_payload(struct peer_decoder *decoder, const uint8_t *payload,
                          size_t payload_bytes, struct peer_frame *frame)
{
    assert(payload_bytes <= decoder->max_payload_bytes); /* the header check came first */
    struct reader reader = {.at = payload, .remaining = payload_bytes, .failed = false};
    int rc = PROTO_OK;
    switch (frame->type) {
    case PEER_FRAME_HELLO:
        rc = decode_hello(&reader, &frame->hello);
        break;
    case PEER_FRAME_HELLO_REPLY:
    case PEER_FRAME_AUTH:
        rc = decode_auth(&reader, &frame->auth);
        break;
    case PEER_FRAME_RAFT:
        rc = decode_raft(decoder, &reader, &frame->raft);
        break;
    case PEER_FRAME_SNAPSHOT_CHUNK:
        rc = decode_chunk(decoder, &reader, &frame->chunk);
        break;
    case PEER_FRAME_REPLICA:
        rc = decode_replica(decoder, &reader, &frame->replica);
        break;
    default:
        assert(false); /* the header check admits only known types */
        return PROTO_ERROR_PROTOCOL;
    }
    if (rc != PROTO_OK) {
        return rc;
    }
    if (reader.failed || reader.remaining != 0) {
        return fail(decoder, PROTO_ERROR_PROTOCOL, "%s payload of %zu bytes is %s",
                    peer_frame_type_string(frame->type), payload_bytes,
                    reader.failed ? "truncated" : "followed by extra bytes");
    }
    return PROTO_OK;
}

/* Checks what the header says before anything else is trusted; *payload_bytes on success. */
static int decode_header(struct peer_decoder *decoder, const uint8_t *data, size_t length,
                         uint8_t *type, uint32_t *payload_bytes)
{
    assert(decoder->max_payload_bytes <= PEER_MAX_PAYLOAD_BYTES); /* as peer_decoder_init set it */
    size_t magic_bytes = length < 4 ? length : 4;
    decoder->needed_bytes = PEER_HEADER_BYTES;
    if (length == 0) {
        return PEER_NEED_MORE;
    }
    if (memcmp(data, PEER_MAGIC_BYTES, magic_bytes) != 0) {
        return fail(decoder, PROTO_ERROR_PROTOCOL, "bad magic: not a raftkv peer frame");
    }
    if (length < PEER_HEADER_BYTES) {
        return PEER_NEED_MORE;
    }
    struct reader reader = {.at = data + 4, .remaining = PEER_HEADER_BYTES - 4};
    uint64_t version = read_le(&reader, 1);
    *type = (uint8_t)read_le(&reader, 1);
    uint64_t flags = read_le(&reader, 2);
    *payload_bytes = (uint32_t)read_le(&reader, 4);
    assert(!reader.failed);
    if (version != PEER_FRAME_VERSION) {
        return fail(decoder, PROTO_ERROR_PROTOCOL, "frame version %u, expected %d",
                    (unsigned)version, PEER_FRAME_VERSION);
    }
    if (*type < 1 || *type > PEER_FRAME_TYPE_MAX || flags != 0) {
        return fail(decoder, PROTO_ERROR_PROTOCOL, "frame type %u, flags %u", (unsigned)*type,
                    (unsigned)flags);
    }
    if (*payload_bytes > decoder->max_payload_bytes) {
        return fail(decoder, PROTO_ERROR_TOO_BIG, "payload of %u bytes exceeds the limit of %u",
                    *payload_bytes, decoder->max_payload_bytes);
    }
    decoder->needed_bytes = PEER_HEADER_BYTES + (size_t)*payload_bytes;
    return PEER_FRAME;
}

int peer_decode(struct peer_decoder *decoder, const uint8_t *data, size_t length, size_t *consumed,
                struct peer_frame *frame)
{
    assert(data != NULL || length == 0);
    assert(consumed != NULL);
    assert(frame != NULL);
    *consumed = 0;
    decoder->error[0] = '\0';
    memset(frame, 0, sizeof *frame);
    uint8_t type = 0;
    uint32_t payload_bytes = 0;
    int rc = decode_header(decoder, data, length, &type, &payload_bytes);
    if (rc != PEER_FRAME) {
        return rc;
    }
    if (length - PEER_HEADER_BYTES < payload_bytes) {
        return PEER_NEED_MORE;
    }
    const uint8_t *payload = data + PEER_HEADER_BYTES;
    struct reader checksum_reader = {.at = data + PEER_CHECKSUMMED_HEADER_BYTES, .remaining = 8};
    uint64_t checksum = read_le(&checksum_reader, 8);
    if (checksum != peer_frame_checksum(data, payload, payload_bytes)) {
        return fail(decoder, PROTO_ERROR_CHECKSUM, "%s frame of %u bytes: checksum mismatch",
                    peer_frame_type_string(type), payload_bytes);
    }
    frame->type = type;
    rc = decode_payload(decoder, payload, payload_bytes, frame);
    if (rc != PROTO_OK) {
        memset(frame, 0, sizeof *frame);
        return rc;
    }
    *consumed = PEER_HEADER_BYTES + (size_t)payload_bytes;
    return PEER_FRAME;
}
