/*
 * peer.c — encodes and decodes peer frames (the layout is in peer.h).
 *
 * Decoding happens in two steps. The header is checked as soon as its 20 bytes are
 * buffered — magic, version, type, flags and, above all, the payload length against the
 * limit — so that a hostile length is refused before the caller buffers or allocates for it.
 * Once the whole payload is buffered its checksum is verified, then the payload is read by a
 * cursor that fails (and stays failed) on any read past the end, so no field is ever read
 * from outside the frame. Counts are bounded twice: by their named limit, and by the bytes
 * that remain (each item has a minimum encoded size) before the entry array grows. Terms and
 * indexes are bounded too (PEER_MAX_TERM, PEER_MAX_INDEX), so that no arithmetic on them in
 * the core can wrap.
 *
 * Encoding computes the payload size first, reserves header and payload at once, writes
 * them, and fills in the length and checksum; a frame is appended whole or not at all.
 * The encoding is canonical: decoding is strict (zero flags and padding, booleans 0 or 1),
 * so encode(decode(bytes)) reproduces the bytes exactly, which fuzz_peer_codec checks.
 */
#include "proto/peer.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum {
    HELLO_PAYLOAD_BYTES = PEER_CLUSTER_ID_BYTES + 8 + PEER_CHALLENGE_BYTES + 4,
    AUTH_PAYLOAD_BYTES = 8 + PEER_MAC_BYTES + PEER_CHALLENGE_BYTES,
    RAFT_FIXED_BYTES = 4 + 9 * 8 + 8 + 8 + 4 + 4 + 8 + 4,
    ENTRY_HEADER_BYTES = 8 + 8 + 1 + 4,
    CHUNK_HEADER_BYTES = 4 * 8 + 1 + 4,
    CHECKSUMMED_HEADER_BYTES = 12,
};

static_assert(ENTRY_HEADER_BYTES <= LIMITS_PEER_ENTRY_HEADER_BYTES, "limits.h's entry header");
static_assert(RAFT_FIXED_BYTES + 2 * 8 * RAFT_MAX_NODES <= LIMITS_PEER_MESSAGE_FIXED_BYTES,
              "limits.h's fixed part of a RAFT frame");
static_assert(CHUNK_HEADER_BYTES <= LIMITS_SNAPSHOT_CHUNK_OVERHEAD_BYTES,
              "limits.h's snapshot chunk overhead");

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
    default:
        return "unknown";
    }
}

/* ---- little-endian cursor ---- */

struct reader {
    const uint8_t *at;
    size_t remaining;
    bool failed; /* a read went past the end; every later read returns zeros */
};

static const uint8_t *take(struct reader *reader, size_t count)
{
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
    const uint8_t *at = take(reader, bytes);
    uint64_t value = 0;
    for (size_t i = 0; at != NULL && i < bytes; i++) {
        value |= (uint64_t)at[i] << (8 * i);
    }
    return value;
}

static void read_bytes(struct reader *reader, uint8_t *out, size_t count)
{
    const uint8_t *at = take(reader, count);
    if (at == NULL) {
        memset(out, 0, count);
    } else {
        memcpy(out, at, count);
    }
}

static void write_le(uint8_t **out, uint64_t value, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++) {
        (*out)[i] = (uint8_t)(value >> (8 * i));
    }
    *out += bytes;
}

static void write_bytes(uint8_t **out, const void *bytes, size_t count)
{
    if (count > 0) {
        memcpy(*out, bytes, count);
        *out += count;
    }
}

/* ---- bounds shared by the decoder and the encoder ---- */

/* Every term and log index of a RAFT message, entries included, within the wire's bounds. */
static bool raft_counters_in_range(const struct raft_message *message)
{
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

static bool chunk_counters_in_range(const struct peer_snapshot_chunk *chunk)
{
    return chunk->snapshot_term <= PEER_MAX_TERM && chunk->snapshot_index <= PEER_MAX_INDEX;
}

/* ---- decoder ---- */

int peer_decoder_init(struct peer_decoder *decoder, uint32_t max_payload_bytes)
{
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
    free(decoder->entries);
    decoder->entries = NULL;
    decoder->entry_capacity = 0;
}

const char *peer_decoder_error(const struct peer_decoder *decoder)
{
    return decoder->error;
}

__attribute__((format(printf, 3, 4))) static int fail(struct peer_decoder *decoder, int rc,
                                                      const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(decoder->error, sizeof decoder->error, format, arguments);
    va_end(arguments);
    return rc;
}

static int decode_hello(struct reader *reader, struct peer_hello *hello)
{
    read_bytes(reader, hello->cluster_id, PEER_CLUSTER_ID_BYTES);
    hello->node_id = read_le(reader, 8);
    read_bytes(reader, hello->challenge, PEER_CHALLENGE_BYTES);
    hello->protocol_version = (uint32_t)read_le(reader, 4);
    return PROTO_OK;
}

static int decode_auth(struct reader *reader, struct peer_auth *auth)
{
    auth->node_id = read_le(reader, 8);
    read_bytes(reader, auth->mac, PEER_MAC_BYTES);
    read_bytes(reader, auth->challenge, PEER_CHALLENGE_BYTES);
    return PROTO_OK;
}

static int decode_node_list(struct peer_decoder *decoder, struct reader *reader, uint32_t count,
                            raft_node_id *nodes)
{
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
        (uint64_t)count * ENTRY_HEADER_BYTES > reader->remaining) {
        return fail(decoder, PROTO_ERROR_PROTOCOL,
                    "entry count %u does not fit the %zu payload bytes left", count,
                    reader->remaining);
    }
    int rc = reserve_entries(decoder, count);
    if (rc != PROTO_OK) {
        return rc;
    }
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
    if (!raft_counters_in_range(message)) {
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
    if (!chunk_counters_in_range(chunk)) {
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

static int decode_payload(struct peer_decoder *decoder, const uint8_t *payload,
                          size_t payload_bytes, struct peer_frame *frame)
{
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

static uint64_t frame_checksum(const uint8_t *header, const uint8_t *payload, size_t payload_bytes)
{
    XXH64_hash_t seed = XXH3_64bits(header, CHECKSUMMED_HEADER_BYTES);
    return XXH3_64bits_withSeed(payload, payload_bytes, seed);
}

/* Checks what the header says before anything else is trusted; *payload_bytes on success. */
static int decode_header(struct peer_decoder *decoder, const uint8_t *data, size_t length,
                         uint8_t *type, uint32_t *payload_bytes)
{
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
    struct reader checksum_reader = {.at = data + CHECKSUMMED_HEADER_BYTES, .remaining = 8};
    uint64_t checksum = read_le(&checksum_reader, 8);
    if (checksum != frame_checksum(data, payload, payload_bytes)) {
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

/* ---- encoder ---- */

static bool raft_message_valid(const struct raft_message *message, uint64_t *payload_bytes)
{
    const struct raft_configuration *configuration = &message->snapshot.configuration;
    if (message->type < 1 || message->type > RAFT_MSG_TYPE_MAX ||
        configuration->voter_count > RAFT_MAX_NODES ||
        configuration->learner_count > RAFT_MAX_NODES ||
        message->entry_count > PEER_MAX_ENTRIES_PER_MESSAGE ||
        (message->entry_count > 0 && message->entries == NULL) ||
        !raft_counters_in_range(message)) {
        return false;
    }
    uint64_t bytes = RAFT_FIXED_BYTES;
    bytes += 8 * (uint64_t)(configuration->voter_count + configuration->learner_count);
    for (uint32_t i = 0; i < message->entry_count; i++) {
        const struct raft_entry *entry = &message->entries[i];
        if (entry->type > RAFT_ENTRY_CONFIG || (entry->data_bytes > 0 && entry->data == NULL)) {
            return false;
        }
        bytes += ENTRY_HEADER_BYTES + (uint64_t)entry->data_bytes;
        if (bytes > PEER_MAX_PAYLOAD_BYTES) {
            return false;
        }
    }
    *payload_bytes = bytes;
    return true;
}

static bool chunk_valid(const struct peer_snapshot_chunk *chunk, uint64_t *payload_bytes)
{
    if (chunk->offset > chunk->total_bytes ||
        chunk->data_bytes > chunk->total_bytes - chunk->offset ||
        chunk->last != (chunk->offset + chunk->data_bytes == chunk->total_bytes) ||
        (chunk->data_bytes > 0 && chunk->data == NULL) || !chunk_counters_in_range(chunk)) {
        return false;
    }
    *payload_bytes = CHUNK_HEADER_BYTES + (uint64_t)chunk->data_bytes;
    return *payload_bytes <= PEER_MAX_PAYLOAD_BYTES;
}

/* The payload's size, or false for a frame the decoder would reject. */
static bool payload_size(const struct peer_frame *frame, uint64_t *payload_bytes)
{
    switch (frame->type) {
    case PEER_FRAME_HELLO:
        *payload_bytes = HELLO_PAYLOAD_BYTES;
        return true;
    case PEER_FRAME_HELLO_REPLY:
    case PEER_FRAME_AUTH:
        *payload_bytes = AUTH_PAYLOAD_BYTES;
        return true;
    case PEER_FRAME_RAFT:
        return raft_message_valid(&frame->raft, payload_bytes);
    case PEER_FRAME_SNAPSHOT_CHUNK:
        return chunk_valid(&frame->chunk, payload_bytes);
    default:
        return false;
    }
}

static void write_raft(uint8_t **out, const struct raft_message *message)
{
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

static void write_payload(uint8_t **out, const struct peer_frame *frame)
{
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
    default:
        assert(false);
    }
}

int peer_encode(struct proto_buffer *buffer, const struct peer_frame *frame)
{
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
    uint64_t checksum = frame_checksum(header, header + PEER_HEADER_BYTES, payload_bytes);
    write_le(&checksum_at, checksum, 8);
    buffer->length += PEER_HEADER_BYTES + (size_t)payload_bytes;
    return PROTO_OK;
}

/* ---- equality, for round-trip tests and the fuzzer ---- */

static bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t count)
{
    return count == 0 || memcmp(a, b, count) == 0;
}

static bool entries_equal(const struct raft_message *a, const struct raft_message *b)
{
    if (a->entry_count != b->entry_count) {
        return false;
    }
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

bool peer_frame_equal(const struct peer_frame *a, const struct peer_frame *b)
{
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
    default:
        return false;
    }
}
