/*
 * resp_encode.c — appends RESP2/RESP3 reply elements to a struct proto_buffer.
 *
 * Happy path: each helper formats a short header into a stack buffer and appends it, plus the
 * payload and "\r\n" for bulk-like types. Every helper reserves the whole element's size up
 * front, so it either appends the complete element or, on PROTO_ERROR_TOO_BIG or
 * PROTO_ERROR_NO_MEMORY, nothing at all: a reply is never left half-written.
 * Simple strings and errors cannot carry "\r" or "\n"; those bytes become spaces (Redis does
 * the same to error texts) rather than corrupting the stream.
 */
#include "proto/resp.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Large enough for a type byte, a 64-bit integer or a %.17g double, and "\r\n". */
enum { RESP_HEADER_BYTES = 48 };

static bool valid_version(int version)
{
    return version == 2 || version == 3;
}

static int append_line(struct proto_buffer *buffer, char type, const char *text, size_t length)
{
    int rc = proto_buffer_reserve(buffer, length + 3);
    if (rc != PROTO_OK) {
        return rc;
    }
    uint8_t *out = buffer->data + buffer->length;
    out[0] = (uint8_t)type;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        out[1 + i] = (uint8_t)(c == '\r' || c == '\n' ? ' ' : c);
    }
    out[1 + length] = '\r';
    out[2 + length] = '\n';
    buffer->length += length + 3;
    return PROTO_OK;
}

/* "<type><number>\r\n" */
static int append_header(struct proto_buffer *buffer, char type, int64_t number)
{
    char header[RESP_HEADER_BYTES];
    int length = snprintf(header, sizeof header, "%c%lld\r\n", type, (long long)number);
    assert(length > 0 && (size_t)length < sizeof header);
    return proto_buffer_append(buffer, header, (size_t)length);
}

/* "<type><length>\r\n<prefix><data>\r\n" in one reservation. */
static int append_sized(struct proto_buffer *buffer, char type, const char *prefix,
                        const void *data, size_t length)
{
    size_t prefix_bytes = strlen(prefix);
    if (length > (size_t)INT64_MAX - prefix_bytes) {
        return PROTO_ERROR_TOO_BIG;
    }
    char header[RESP_HEADER_BYTES];
    int header_bytes = snprintf(header, sizeof header, "%c%llu\r\n", type,
                                (unsigned long long)(length + prefix_bytes));
    assert(header_bytes > 0 && (size_t)header_bytes < sizeof header);
    size_t total = (size_t)header_bytes + prefix_bytes;
    if (length > SIZE_MAX - total - 2) {
        return PROTO_ERROR_TOO_BIG;
    }
    int rc = proto_buffer_reserve(buffer, total + length + 2);
    if (rc != PROTO_OK) {
        return rc;
    }
    assert(data != NULL || length == 0);
    proto_buffer_append(buffer, header, (size_t)header_bytes);
    proto_buffer_append(buffer, prefix, prefix_bytes);
    proto_buffer_append(buffer, data, length);
    proto_buffer_append(buffer, "\r\n", 2);
    return PROTO_OK;
}

int resp_append_simple(struct proto_buffer *buffer, const char *text, size_t length)
{
    return append_line(buffer, '+', text, length);
}

int resp_append_error(struct proto_buffer *buffer, const char *text, size_t length)
{
    return append_line(buffer, '-', text, length);
}

int resp_append_integer(struct proto_buffer *buffer, int64_t value)
{
    return append_header(buffer, ':', value);
}

int resp_append_bulk(struct proto_buffer *buffer, const void *data, size_t length)
{
    return append_sized(buffer, '$', "", data, length);
}

int resp_append_array_header(struct proto_buffer *buffer, uint64_t count)
{
    if (count > (uint64_t)INT64_MAX) {
        return PROTO_ERROR_INVALID;
    }
    return append_header(buffer, '*', (int64_t)count);
}

int resp_append_set_header(struct proto_buffer *buffer, int version, uint64_t count)
{
    if (!valid_version(version) || count > (uint64_t)INT64_MAX) {
        return PROTO_ERROR_INVALID;
    }
    return append_header(buffer, version == 3 ? '~' : '*', (int64_t)count);
}

int resp_append_map_header(struct proto_buffer *buffer, int version, uint64_t pairs)
{
    if (!valid_version(version) || pairs > (uint64_t)INT64_MAX / 2) {
        return PROTO_ERROR_INVALID;
    }
    if (version == 3) {
        return append_header(buffer, '%', (int64_t)pairs);
    }
    return append_header(buffer, '*', (int64_t)(pairs * 2));
}

int resp_append_null(struct proto_buffer *buffer, int version)
{
    if (!valid_version(version)) {
        return PROTO_ERROR_INVALID;
    }
    return version == 3 ? proto_buffer_append(buffer, "_\r\n", 3)
                        : proto_buffer_append(buffer, "$-1\r\n", 5);
}

int resp_append_null_array(struct proto_buffer *buffer, int version)
{
    if (!valid_version(version)) {
        return PROTO_ERROR_INVALID;
    }
    return version == 3 ? proto_buffer_append(buffer, "_\r\n", 3)
                        : proto_buffer_append(buffer, "*-1\r\n", 5);
}

int resp_append_double(struct proto_buffer *buffer, int version, double value)
{
    if (!valid_version(version)) {
        return PROTO_ERROR_INVALID;
    }
    char text[RESP_HEADER_BYTES];
    int length;
    if (isnan(value)) {
        length = snprintf(text, sizeof text, "nan");
    } else if (isinf(value)) {
        length = snprintf(text, sizeof text, "%s", value > 0 ? "inf" : "-inf");
    } else {
        length = snprintf(text, sizeof text, "%.17g", value);
    }
    assert(length > 0 && (size_t)length < sizeof text);
    if (version == 3) {
        return append_line(buffer, ',', text, (size_t)length);
    }
    return resp_append_bulk(buffer, text, (size_t)length);
}

int resp_append_boolean(struct proto_buffer *buffer, int version, bool value)
{
    if (!valid_version(version)) {
        return PROTO_ERROR_INVALID;
    }
    if (version == 3) {
        return proto_buffer_append(buffer, value ? "#t\r\n" : "#f\r\n", 4);
    }
    return resp_append_integer(buffer, value ? 1 : 0);
}

int resp_append_verbatim(struct proto_buffer *buffer, int version, const char *format,
                         const void *data, size_t length)
{
    if (!valid_version(version) || format == NULL || strlen(format) != 3) {
        return PROTO_ERROR_INVALID;
    }
    if (version == 2) {
        return resp_append_bulk(buffer, data, length);
    }
    char prefix[5];
    snprintf(prefix, sizeof prefix, "%s:", format);
    return append_sized(buffer, '=', prefix, data, length);
}
