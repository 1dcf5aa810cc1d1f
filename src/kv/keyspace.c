/*
 * keyspace.c — the commands over the whole key space: KEYS, SCAN, TYPE, DBSIZE, FLUSHALL,
 * FLUSHDB.
 *
 * SCAN's cursor. Keys are stored in the order of their 64-bit XXH3 hash (kv_internal.h), and
 * the cursor SCAN returns is the hash of the next key to visit, printed as an unsigned decimal
 * integer; 0 starts an iteration and 0 returned ends it. A call visits at least COUNT keys
 * (default 10) and then keeps going until the hash changes, so keys that share a hash are
 * never split across calls and every call makes progress. This gives Redis's guarantees and a
 * little more: a key present from the start to the end of a full iteration is returned exactly
 * once; keys added or removed meanwhile may or may not be; the cursor is stateless, so it
 * stays valid across restarts and on any replica (all replicas hold the same keys in the same
 * order). MATCH and TYPE filter after visiting, and expired keys not yet deleted are skipped,
 * so a call may return fewer keys than COUNT, even none, with a nonzero cursor — as in Redis.
 *
 * Replies need their element count first, so KEYS and SCAN walk their range twice inside the
 * same transaction: once to count the matches, once to emit them; both walks see the same
 * snapshot, so they agree.
 *
 * Failure modes: bad cursors and options reply Redis's errors; a stored key shorter than its
 * hash prefix can only come from a corrupt database and returns KV_ERROR_CORRUPT.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kv/kv_internal.h"

#define KV_SCAN_DEFAULT_COUNT 10
#define KV_UINT64_TEXT_BYTES  21

struct kv_walk {
    uint64_t cursor;            /* the first hash to visit */
    uint64_t count;             /* keys to visit before stopping at a hash boundary */
    const struct kv_arg *match; /* NULL: every key */
    int type;                   /* -1: any; else the enum kv_type TYPE asked for */
    bool type_matches;          /* false: TYPE named a type no key has */
    bool emit;                  /* false: only count the matches */
    size_t matched;             /* out: matches counted or emitted */
    uint64_t next_cursor;       /* out: 0 when the walk reached the end */
};

static uint64_t kv_read_hash(const uint8_t *bytes)
{
    uint64_t hash = 0;
    for (size_t i = 0; i < KV_KEY_HASH_BYTES; i++) {
        hash = hash << 8 | bytes[i];
    }
    return hash;
}

static int kv_walk_visit(struct kv_exec *exec, struct kv_walk *walk, const MDB_val *stored,
                         const MDB_val *value)
{
    const uint8_t *key = (const uint8_t *)stored->mv_data + KV_KEY_HASH_BYTES;
    size_t key_bytes = stored->mv_size - KV_KEY_HASH_BYTES;
    if (!walk->type_matches) {
        return 0;
    }
    if (walk->match != NULL &&
        !kv_glob_match(walk->match->data, walk->match->data_bytes, key, key_bytes)) {
        return 0;
    }
    struct kv_record record;
    int result = kv_record_decode(exec->kv, value, &record);
    if (result != 0) {
        return result;
    }
    if (kv_record_expired(exec, &record) ||
        (walk->type >= 0 && record.type != (enum kv_type)walk->type)) {
        return 0;
    }
    walk->matched++;
    if (walk->emit) {
        exec->reply->bulk(exec->reply->context, key, key_bytes);
    }
    return 0;
}

static int kv_walk_run(struct kv_exec *exec, struct kv_walk *walk)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(exec->txn, exec->kv->data_dbi, &cursor);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_cursor_open");
    }
    uint8_t start[KV_KEY_HASH_BYTES];
    for (size_t i = 0; i < KV_KEY_HASH_BYTES; i++) {
        start[i] = (uint8_t)(walk->cursor >> (8 * (KV_KEY_HASH_BYTES - 1 - i)));
    }
    MDB_val stored = {.mv_size = sizeof start, .mv_data = start};
    MDB_val value;
    uint64_t visited = 0;
    uint64_t previous_hash = 0;
    int result = 0;
    walk->matched = 0;
    walk->next_cursor = 0;
    rc = mdb_cursor_get(cursor, &stored, &value, MDB_SET_RANGE);
    while (rc == 0) {
        if (stored.mv_size < KV_KEY_HASH_BYTES) {
            result = KV_ERROR_CORRUPT;
            snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES, "stored key too short");
            goto close_cursor;
        }
        uint64_t hash = kv_read_hash(stored.mv_data);
        if (visited >= walk->count && hash != previous_hash) {
            walk->next_cursor = hash; /* nonzero: hash 0 sorts first, before any stop */
            goto close_cursor;
        }
        visited++;
        previous_hash = hash;
        result = kv_walk_visit(exec, walk, &stored, &value);
        if (result != 0) {
            goto close_cursor;
        }
        rc = mdb_cursor_get(cursor, &stored, &value, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND) {
        result = kv_storage_error(exec->kv, rc, "mdb_cursor_get");
    }
close_cursor:
    mdb_cursor_close(cursor);
    return result;
}

/* Counts, then emits, the keys of one walk. For SCAN (a count below UINT64_MAX) the reply is
 * [cursor, [keys...]]; for KEYS just [keys...]. */
static int kv_walk_twice(struct kv_exec *exec, struct kv_walk *walk)
{
    walk->emit = false;
    int result = kv_walk_run(exec, walk);
    if (result != 0) {
        return result;
    }
    size_t counted = walk->matched;
    uint64_t next_cursor = walk->next_cursor;
    if (walk->count != UINT64_MAX) {
        char text[KV_UINT64_TEXT_BYTES];
        size_t used = sizeof text;
        uint64_t remaining = next_cursor;
        do {
            text[--used] = (char)('0' + remaining % 10);
            remaining /= 10;
        } while (remaining > 0);
        exec->reply->array(exec->reply->context, 2);
        exec->reply->bulk(exec->reply->context, (const uint8_t *)text + used, sizeof text - used);
    }
    exec->reply->array(exec->reply->context, counted);
    walk->emit = true;
    result = kv_walk_run(exec, walk);
    assert(result != 0 || walk->matched == counted);
    assert(result != 0 || walk->next_cursor == next_cursor);
    return result;
}

KV_HANDLER(kv_command_keys)
{
    bool everything = argv[1].data_bytes == 1 && argv[1].data[0] == '*';
    struct kv_walk walk = {
        .cursor = 0,
        .count = UINT64_MAX,
        .match = everything ? NULL : &argv[1],
        .type = -1,
        .type_matches = true,
    };
    return kv_walk_twice(exec, &walk);
}

/* Redis reads a cursor with strtoul: an optional sign ("-1" wraps to 2^64 - 1), decimal
 * digits, nothing else; the empty string is 0; overflow, a leading space or a sign without
 * digits is an invalid cursor. */
static bool kv_parse_cursor(const struct kv_arg *arg, uint64_t *cursor)
{
    size_t i = 0;
    bool negative = false;
    if (arg->data_bytes == 0) {
        *cursor = 0;
        return true;
    }
    if (arg->data[0] == '+' || arg->data[0] == '-') {
        negative = arg->data[0] == '-';
        i = 1;
    }
    if (i == arg->data_bytes) {
        return false;
    }
    uint64_t value = 0;
    for (; i < arg->data_bytes; i++) {
        uint8_t c = arg->data[i];
        if (c < '0' || c > '9') {
            return false;
        }
        uint64_t digit = (uint64_t)(c - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    *cursor = negative ? (uint64_t)0 - value : value;
    return true;
}

/* Parses MATCH, COUNT and TYPE as Redis does: each takes one value, any order, last wins. */
static bool kv_scan_options(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                            struct kv_walk *walk)
{
    for (size_t i = 2; i < argc; i += 2) {
        bool has_value = i + 1 < argc;
        if (has_value && kv_arg_equals_nocase(&argv[i], "count")) {
            int64_t count;
            if (!kv_parse_int64(argv[i + 1].data, argv[i + 1].data_bytes, &count)) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
                return false;
            }
            if (count < 1) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
                return false;
            }
            walk->count = (uint64_t)count;
        } else if (has_value && kv_arg_equals_nocase(&argv[i], "match")) {
            bool everything = argv[i + 1].data_bytes == 1 && argv[i + 1].data[0] == '*';
            walk->match = everything ? NULL : &argv[i + 1];
        } else if (has_value && kv_arg_equals_nocase(&argv[i], "type")) {
            walk->type = kv_type_from_name(&argv[i + 1]);
            walk->type_matches = walk->type >= 0;
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    return true;
}

KV_HANDLER(kv_command_scan)
{
    struct kv_walk walk = {
        .count = KV_SCAN_DEFAULT_COUNT,
        .match = NULL,
        .type = -1,
        .type_matches = true,
    };
    if (!kv_parse_cursor(&argv[1], &walk.cursor)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_INVALID_CURSOR);
        return 0;
    }
    if (!kv_scan_options(exec, argc, argv, &walk)) {
        return 0;
    }
    /* UINT64_MAX means "no limit" to kv_walk_twice; COUNT is at most INT64_MAX. */
    assert(walk.count < UINT64_MAX);
    return kv_walk_twice(exec, &walk);
}

KV_HANDLER(kv_command_type)
{
    struct kv_record record;
    int found = kv_lookup(exec, &argv[1], -1, &record);
    if (found < 0) {
        return found;
    }
    const char *type = found == KV_LOOKUP_ABSENT ? "none" : kv_type_name(record.type);
    exec->reply->status(exec->reply->context, type, strlen(type));
    return 0;
}

/* FLUSHALL / FLUSHDB [ASYNC|SYNC]: every key goes, in this entry's transaction, on every
 * replica alike (there is one database, so both do the same; ASYNC and SYNC are accepted and
 * mean the same here: the entry is applied whole before its reply). The cluster's own state
 * (the applied index, the configuration) lives in another database and stays. */
static int flush_keys(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
{
    if (argc > 2 || (argc == 2 && !kv_arg_equals_nocase(&argv[1], "async") &&
                     !kv_arg_equals_nocase(&argv[1], "sync"))) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    MDB_dbi databases[] = {exec->kv->data_dbi, exec->kv->items_dbi, exec->kv->expires_dbi,
                           exec->kv->trash_dbi};
    for (size_t i = 0; i < sizeof databases / sizeof databases[0]; i++) {
        int rc = mdb_drop(exec->txn, databases[i], 0);
        if (rc != 0) {
            return kv_storage_error(exec->kv, rc, "mdb_drop");
        }
    }
    kv_reply_ok(exec);
    return 0;
}

KV_HANDLER(kv_command_flushall)
{
    return flush_keys(exec, argc, argv);
}

KV_HANDLER(kv_command_flushdb)
{
    return flush_keys(exec, argc, argv);
}

KV_HANDLER(kv_command_dbsize)
{
    MDB_stat stat;
    int rc = mdb_stat(exec->txn, exec->kv->data_dbi, &stat);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_stat");
    }
    exec->reply->integer(exec->reply->context, (int64_t)stat.ms_entries);
    return 0;
}
