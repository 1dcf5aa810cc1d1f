/*
 * script_tape.h — a reply recorded as bytes (script_tape.c says why scripts need one).
 * Ownership: a struct kv_tape owns its buffer (kv_tape_free); items read from it point into it.
 */
#ifndef RAFTKV_KV_SCRIPT_TAPE_H
#define RAFTKV_KV_SCRIPT_TAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"

enum kv_tape_kind {
    KV_TAPE_STATUS = 1,
    KV_TAPE_ERROR,
    KV_TAPE_INTEGER,
    KV_TAPE_BULK,
    KV_TAPE_NULL,
    KV_TAPE_NULL_ARRAY,
    KV_TAPE_ARRAY,
    KV_TAPE_DOUBLE,
    KV_TAPE_MAP,
    KV_TAPE_SET,
    KV_TAPE_PAIRS,
    KV_TAPE_PAIR,
};

struct kv_tape {
    uint8_t *data;
    size_t used;
    size_t capacity;
    bool failed; /* an allocation failed: the tape is incomplete */
};

void kv_tape_reset(struct kv_tape *tape);
void kv_tape_free(struct kv_tape *tape);
void kv_tape_kind(struct kv_tape *tape, enum kv_tape_kind kind);
void kv_tape_count(struct kv_tape *tape, enum kv_tape_kind kind, uint64_t count);
void kv_tape_integer(struct kv_tape *tape, int64_t value);
void kv_tape_text(struct kv_tape *tape, enum kv_tape_kind kind, const void *text, size_t bytes);
/* A count written later (an array whose length is known only after its elements): returns
 * where to patch it. */
size_t kv_tape_count_placeholder(struct kv_tape *tape, enum kv_tape_kind kind);
void kv_tape_count_patch(struct kv_tape *tape, size_t at, uint64_t count);
/* A kv_reply whose callbacks record into tape. */
void kv_tape_sink(struct kv_tape *tape, struct kv_reply *sink);

struct kv_tape_item {
    enum kv_tape_kind kind;
    const uint8_t *text; /* STATUS, ERROR, BULK, DOUBLE */
    size_t bytes;
    uint64_t value; /* INTEGER (as bits), or the count of ARRAY, MAP, SET, PAIRS */
};
struct kv_tape_reader {
    const uint8_t *data;
    size_t used;
    size_t at;
};
/* The next item; false at the end. */
bool kv_tape_read(struct kv_tape_reader *reader, struct kv_tape_item *item);
/* Sends the whole tape to reply, in order. */
void kv_tape_replay(const struct kv_tape *tape, const struct kv_reply *reply);

#endif
