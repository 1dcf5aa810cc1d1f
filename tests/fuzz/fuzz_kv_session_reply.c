/*
 * fuzz_kv_session_reply.c — libFuzzer target for the decoder of a session's kept reply
 * (kv/session.c), bytes read back from the state machine's database, which may be damaged:
 * it must refuse what is malformed before sending anything, and never read outside the bytes.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "kv/kv_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t calls;

static void on_text(void *context, const char *text, size_t bytes)
{
    (void)context;
    for (size_t i = 0; i < bytes; i++) {
        calls += (unsigned char)text[i] == 0xff; /* touches every byte */
    }
    calls++;
}

static void on_bulk(void *context, const uint8_t *data, size_t bytes)
{
    on_text(context, (const char *)data, bytes);
}

static void on_integer(void *context, int64_t value)
{
    (void)context, (void)value;
    calls++;
}

static void on_count(void *context, size_t count)
{
    (void)context, (void)count;
    calls++;
}

static void on_nothing(void *context)
{
    (void)context;
    calls++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct kv_reply sink = {
        .status = on_text,
        .error = on_text,
        .integer = on_integer,
        .bulk = on_bulk,
        .null = on_nothing,
        .null_array = on_nothing,
        .array = on_count,
        .double_text = on_text,
        .blocked = on_nothing,
        .map = on_count,
        .set = on_count,
        .pairs = on_count,
        .pair = on_nothing,
    };
    calls = 0;
    if (!kv_session_reply_replay(data, size, &sink)) {
        assert(calls == 0); /* a malformed reply sends nothing */
    }
    return 0;
}
