/*
 * buffer.c — the growable byte buffer every encoder appends to, and the error-name table.
 *
 * Growth doubles the capacity (from a small floor) so that appends cost amortized O(1), and
 * never goes past max_bytes: the limit is checked before realloc, so a reply or frame that
 * would overflow it fails with PROTO_ERROR_TOO_BIG and allocates nothing. A failed realloc
 * leaves the old allocation and contents in place. Either failure sets append_failed, which
 * only emptying the buffer clears (proto.h says why).
 */
#include "proto/proto.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { BUFFER_MIN_CAPACITY_BYTES = 256 };

const char *proto_error_string(int error)
{
    /* A switch rather than a table: two codes with one value fail to compile. */
    switch (error) {
#define PROTO_ERROR_CASE(name, value, text)                                                        \
    case name:                                                                                     \
        return text;
        PROTO_ERRORS(PROTO_ERROR_CASE)
#undef PROTO_ERROR_CASE
    }
    return "unknown";
}

void proto_buffer_init(struct proto_buffer *buffer, size_t max_bytes)
{
    assert(buffer != NULL);
    assert(max_bytes > 0);
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
    buffer->max_bytes = max_bytes;
    buffer->append_failed = false;
}

void proto_buffer_free(struct proto_buffer *buffer)
{
    free(buffer->data);
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
    buffer->append_failed = false;
}

int proto_buffer_reserve(struct proto_buffer *buffer, size_t extra)
{
    assert(buffer->length <= buffer->capacity);
    assert(buffer->length <= buffer->max_bytes);
    if (extra > buffer->max_bytes - buffer->length) {
        buffer->append_failed = true;
        return PROTO_ERROR_TOO_BIG;
    }
    size_t needed = buffer->length + extra;
    if (needed <= buffer->capacity) {
        return PROTO_OK;
    }
    size_t capacity =
        buffer->capacity < BUFFER_MIN_CAPACITY_BYTES ? BUFFER_MIN_CAPACITY_BYTES : buffer->capacity;
    while (capacity < needed) {
        capacity = capacity > SIZE_MAX / 2 ? SIZE_MAX : capacity * 2;
    }
    if (capacity > buffer->max_bytes) {
        capacity = buffer->max_bytes;
    }
    uint8_t *data = realloc(buffer->data, capacity);
    if (data == NULL) {
        buffer->append_failed = true;
        return PROTO_ERROR_NO_MEMORY;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return PROTO_OK;
}

int proto_buffer_append(struct proto_buffer *buffer, const void *bytes, size_t count)
{
    if (count == 0) {
        return PROTO_OK;
    }
    assert(bytes != NULL);
    int rc = proto_buffer_reserve(buffer, count);
    if (rc != PROTO_OK) {
        return rc;
    }
    memcpy(buffer->data + buffer->length, bytes, count);
    buffer->length += count;
    return PROTO_OK;
}

void proto_buffer_consume(struct proto_buffer *buffer, size_t count)
{
    assert(count <= buffer->length);
    if (count == 0) {
        return;
    }
    memmove(buffer->data, buffer->data + count, buffer->length - count);
    buffer->length -= count;
}

void proto_buffer_truncate(struct proto_buffer *buffer, size_t length)
{
    assert(length <= buffer->length);
    buffer->length = length;
    if (length == 0) {
        buffer->append_failed = false;
    }
}
