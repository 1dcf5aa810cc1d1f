/*
 * reply.c — replies in RESP, for the server's own commands and as kv's reply sink.
 *
 * kv/ answers through a struct kv_reply of callbacks and knows nothing of the wire; here
 * those callbacks become proto/resp.h encodings in the client's protocol version (RESP2, or
 * RESP3 after HELLO 3). An append fails only when a client's output passes its limit; the
 * buffer's bytes then stay as they were and its append_failed flag is set, so that client.c
 * closes the client instead of sending a reply with a hole in it (an array missing an element,
 * or no reply at all, would make every later reply answer the wrong request).
 */
#include "server/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void sink_status(void *context, const char *text, size_t text_bytes)
{
    struct reply_target *target = context;
    resp_append_simple(target->buffer, text, text_bytes);
}

static void sink_error(void *context, const char *text, size_t text_bytes)
{
    struct reply_target *target = context;
    stats_count_error(text, text_bytes);
    resp_append_error(target->buffer, text, text_bytes);
}

static void sink_integer(void *context, int64_t value)
{
    struct reply_target *target = context;
    resp_append_integer(target->buffer, value);
}

static void sink_bulk(void *context, const uint8_t *data, size_t data_bytes)
{
    struct reply_target *target = context;
    resp_append_bulk(target->buffer, data, data_bytes);
}

static void sink_null(void *context)
{
    struct reply_target *target = context;
    resp_append_null(target->buffer, target->protocol);
}

static void sink_null_array(void *context)
{
    struct reply_target *target = context;
    resp_append_null_array(target->buffer, target->protocol);
}

static void sink_array(void *context, size_t count)
{
    struct reply_target *target = context;
    resp_append_array_header(target->buffer, count);
}

static void sink_double_text(void *context, const char *text, size_t text_bytes)
{
    struct reply_target *target = context;
    if (target->protocol == 3) {
        proto_buffer_append(target->buffer, ",", 1);
        proto_buffer_append(target->buffer, text, text_bytes);
        proto_buffer_append(target->buffer, "\r\n", 2);
    } else {
        resp_append_bulk(target->buffer, text, text_bytes);
    }
}

static void sink_map(void *context, size_t pairs)
{
    struct reply_target *target = context;
    resp_append_map_header(target->buffer, target->protocol, pairs);
}

static void sink_set(void *context, size_t count)
{
    struct reply_target *target = context;
    resp_append_set_header(target->buffer, target->protocol, count);
}

static void sink_pairs(void *context, size_t count)
{
    struct reply_target *target = context;
    resp_append_array_header(target->buffer, target->protocol == 3 ? count : 2 * count);
}

static void sink_pair(void *context)
{
    struct reply_target *target = context;
    if (target->protocol == 3) {
        resp_append_array_header(target->buffer, 2);
    }
}

/* A blocking command that found nothing: the request knows from this flag to wait. */
static void sink_blocked(void *context)
{
    struct reply_target *target = context;
    target->blocked = true;
}

/* kv runs a batch again (its map grew): what the aborted run replied is taken back. */
static void sink_rewind(void *context)
{
    struct reply_target *target = context;
    if (target->buffer->length >= target->mark) {
        proto_buffer_truncate(target->buffer, target->mark);
    }
    target->blocked = false;
}

void reply_sink_init(struct kv_reply *sink, struct reply_target *target)
{
    target->mark = target->buffer->length;
    sink->status = sink_status;
    sink->error = sink_error;
    sink->integer = sink_integer;
    sink->bulk = sink_bulk;
    sink->null = sink_null;
    sink->null_array = sink_null_array;
    sink->array = sink_array;
    sink->double_text = sink_double_text;
    sink->blocked = sink_blocked;
    sink->map = sink_map;
    sink->set = sink_set;
    sink->pairs = sink_pairs;
    sink->pair = sink_pair;
    sink->rewind = sink_rewind;
    sink->context = target;
}

void reply_status(struct proto_buffer *buffer, const char *text)
{
    resp_append_simple(buffer, text, strlen(text));
}

void reply_error(struct proto_buffer *buffer, const char *format, ...)
{
    char text[512];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    if (length < 0) {
        length = 0;
    }
    if ((size_t)length >= sizeof text) {
        length = sizeof text - 1;
    }
    stats_count_error(text, (size_t)length);
    resp_append_error(buffer, text, (size_t)length);
}

void reply_integer(struct proto_buffer *buffer, int64_t value)
{
    resp_append_integer(buffer, value);
}

void reply_bulk(struct proto_buffer *buffer, const void *data, size_t length)
{
    resp_append_bulk(buffer, data, length);
}

void reply_bulk_string(struct proto_buffer *buffer, const char *text)
{
    resp_append_bulk(buffer, text, strlen(text));
}

void reply_null(struct proto_buffer *buffer, int protocol)
{
    resp_append_null(buffer, protocol);
}

void reply_array(struct proto_buffer *buffer, uint64_t count)
{
    resp_append_array_header(buffer, count);
}

void reply_map(struct proto_buffer *buffer, int protocol, uint64_t pairs)
{
    resp_append_map_header(buffer, protocol, pairs);
}

void reply_verbatim(struct proto_buffer *buffer, int protocol, const char *text, size_t length)
{
    resp_append_verbatim(buffer, protocol, "txt", text, length);
}

void reply_help(struct proto_buffer *buffer, const char *const *lines, size_t count)
{
    reply_array(buffer, count);
    for (size_t i = 0; i < count; i++) {
        resp_append_simple(buffer, lines[i], strlen(lines[i]));
    }
}
