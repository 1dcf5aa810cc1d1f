/*
 * script_tape.c — a reply recorded as bytes: what a command called from Lua replied (kv's
 * callbacks write the tape; script_lua.c turns it into Lua values afterwards), and what a
 * script returned (Lua values written to the tape; replayed to the client's sink once the
 * whole reply converted).
 *
 * Why a tape and not direct conversion: building Lua values may raise a Lua error (the
 * memory cap), and a Lua error is a longjmp — through a kv handler it would skip the handler's
 * cleanup (open LMDB cursors); through the client's sink it would leave half a reply on the
 * wire. So each side works on plain bytes and nothing that can raise runs in between.
 *
 * Record: u8 kind, then for texts u64 length + bytes, for integers an i64, for arrays, maps,
 * sets and pairs a u64 count (native byte order: a tape never leaves the process). A tape
 * whose allocation failed is marked `failed` and ignores further writes.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/script_tape.h"

void kv_tape_reset(struct kv_tape *tape)
{
    tape->used = 0;
    tape->failed = false;
}

void kv_tape_free(struct kv_tape *tape)
{
    free(tape->data);
    memset(tape, 0, sizeof *tape);
}

static void kv_tape_put(struct kv_tape *tape, const void *bytes, size_t count)
{
    if (tape->failed) {
        return;
    }
    if (count > tape->capacity - tape->used) {
        size_t capacity = tape->capacity > 0 ? tape->capacity : 256;
        while (capacity - tape->used < count) {
            if (capacity > SIZE_MAX / 2) {
                tape->failed = true;
                return;
            }
            capacity *= 2;
        }
        uint8_t *data = realloc(tape->data, capacity);
        if (data == NULL) {
            tape->failed = true;
            return;
        }
        tape->data = data;
        tape->capacity = capacity;
    }
    if (count > 0) {
        memcpy(tape->data + tape->used, bytes, count);
    }
    tape->used += count;
}

void kv_tape_kind(struct kv_tape *tape, enum kv_tape_kind kind)
{
    uint8_t byte = (uint8_t)kind;
    kv_tape_put(tape, &byte, 1);
}

void kv_tape_count(struct kv_tape *tape, enum kv_tape_kind kind, uint64_t count)
{
    kv_tape_kind(tape, kind);
    kv_tape_put(tape, &count, sizeof count);
}

void kv_tape_integer(struct kv_tape *tape, int64_t value)
{
    kv_tape_kind(tape, KV_TAPE_INTEGER);
    kv_tape_put(tape, &value, sizeof value);
}

void kv_tape_text(struct kv_tape *tape, enum kv_tape_kind kind, const void *text, size_t bytes)
{
    uint64_t length = bytes;
    kv_tape_kind(tape, kind);
    kv_tape_put(tape, &length, sizeof length);
    kv_tape_put(tape, text, bytes);
}

size_t kv_tape_count_placeholder(struct kv_tape *tape, enum kv_tape_kind kind)
{
    kv_tape_count(tape, kind, 0);
    return tape->used - sizeof(uint64_t);
}

void kv_tape_count_patch(struct kv_tape *tape, size_t at, uint64_t count)
{
    if (!tape->failed) {
        memcpy(tape->data + at, &count, sizeof count);
    }
}

/* ---- a kv_reply that records ---- */

static void kv_tape_on_status(void *context, const char *text, size_t bytes)
{
    kv_tape_text(context, KV_TAPE_STATUS, text, bytes);
}

static void kv_tape_on_error(void *context, const char *text, size_t bytes)
{
    kv_tape_text(context, KV_TAPE_ERROR, text, bytes);
}

static void kv_tape_on_integer(void *context, int64_t value)
{
    kv_tape_integer(context, value);
}

static void kv_tape_on_bulk(void *context, const uint8_t *data, size_t bytes)
{
    kv_tape_text(context, KV_TAPE_BULK, data, bytes);
}

static void kv_tape_on_null(void *context)
{
    kv_tape_kind(context, KV_TAPE_NULL);
}

static void kv_tape_on_null_array(void *context)
{
    kv_tape_kind(context, KV_TAPE_NULL_ARRAY);
}

static void kv_tape_on_array(void *context, size_t count)
{
    kv_tape_count(context, KV_TAPE_ARRAY, count);
}

static void kv_tape_on_double(void *context, const char *text, size_t bytes)
{
    kv_tape_text(context, KV_TAPE_DOUBLE, text, bytes);
}

static void kv_tape_on_blocked(void *context)
{
    kv_tape_kind(context, KV_TAPE_NULL_ARRAY); /* cannot happen inside a script: no wait */
}

static void kv_tape_on_map(void *context, size_t pairs)
{
    kv_tape_count(context, KV_TAPE_MAP, pairs);
}

static void kv_tape_on_set(void *context, size_t count)
{
    kv_tape_count(context, KV_TAPE_SET, count);
}

static void kv_tape_on_pairs(void *context, size_t count)
{
    kv_tape_count(context, KV_TAPE_PAIRS, count);
}

static void kv_tape_on_pair(void *context)
{
    kv_tape_kind(context, KV_TAPE_PAIR);
}

void kv_tape_sink(struct kv_tape *tape, struct kv_reply *sink)
{
    *sink = (struct kv_reply){
        .status = kv_tape_on_status,
        .error = kv_tape_on_error,
        .integer = kv_tape_on_integer,
        .bulk = kv_tape_on_bulk,
        .null = kv_tape_on_null,
        .null_array = kv_tape_on_null_array,
        .array = kv_tape_on_array,
        .double_text = kv_tape_on_double,
        .blocked = kv_tape_on_blocked,
        .map = kv_tape_on_map,
        .set = kv_tape_on_set,
        .pairs = kv_tape_on_pairs,
        .pair = kv_tape_on_pair,
        .context = tape,
    };
}

/* ---- reading ---- */

bool kv_tape_read(struct kv_tape_reader *reader, struct kv_tape_item *item)
{
    if (reader->at >= reader->used) {
        return false;
    }
    item->kind = (enum kv_tape_kind)reader->data[reader->at++];
    item->text = NULL;
    item->bytes = 0;
    item->value = 0;
    switch (item->kind) {
    case KV_TAPE_STATUS:
    case KV_TAPE_ERROR:
    case KV_TAPE_BULK:
    case KV_TAPE_DOUBLE: {
        uint64_t length;
        memcpy(&length, reader->data + reader->at, sizeof length);
        reader->at += sizeof length;
        item->text = reader->data + reader->at;
        item->bytes = (size_t)length;
        reader->at += (size_t)length;
        break;
    }
    case KV_TAPE_INTEGER:
    case KV_TAPE_ARRAY:
    case KV_TAPE_MAP:
    case KV_TAPE_SET:
    case KV_TAPE_PAIRS:
        memcpy(&item->value, reader->data + reader->at, sizeof item->value);
        reader->at += sizeof item->value;
        break;
    default:
        break;
    }
    return reader->at <= reader->used;
}

void kv_tape_replay(const struct kv_tape *tape, const struct kv_reply *reply)
{
    struct kv_tape_reader reader = {.data = tape->data, .used = tape->used, .at = 0};
    struct kv_tape_item item;
    while (kv_tape_read(&reader, &item)) {
        switch (item.kind) {
        case KV_TAPE_STATUS:
            reply->status(reply->context, (const char *)item.text, item.bytes);
            break;
        case KV_TAPE_ERROR:
            reply->error(reply->context, (const char *)item.text, item.bytes);
            break;
        case KV_TAPE_BULK:
            reply->bulk(reply->context, item.text, item.bytes);
            break;
        case KV_TAPE_DOUBLE:
            reply->double_text(reply->context, (const char *)item.text, item.bytes);
            break;
        case KV_TAPE_INTEGER: {
            int64_t value;
            memcpy(&value, &item.value, sizeof value);
            reply->integer(reply->context, value);
            break;
        }
        case KV_TAPE_NULL:
            reply->null(reply->context);
            break;
        case KV_TAPE_NULL_ARRAY:
            reply->null_array(reply->context);
            break;
        case KV_TAPE_ARRAY:
            reply->array(reply->context, (size_t)item.value);
            break;
        case KV_TAPE_MAP:
            reply->map(reply->context, (size_t)item.value);
            break;
        case KV_TAPE_SET:
            reply->set(reply->context, (size_t)item.value);
            break;
        case KV_TAPE_PAIRS:
            reply->pairs(reply->context, (size_t)item.value);
            break;
        case KV_TAPE_PAIR:
            reply->pair(reply->context);
            break;
        }
    }
}
