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
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv_internal.h"

#define KV_UINT64_TEXT_BYTES 21

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
        exec->reply->array(exec->reply->context, 2);
        kv_reply_scan_cursor(exec, next_cursor);
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

/* The cursor, read as Redis reads it (strtoul, base 10): the text up to its first NUL, no
 * leading space, an optional sign ("-1" wraps to 2^64 - 1), digits, nothing else; the empty
 * argument reads as 0; overflow is an invalid cursor. */
bool kv_scan_cursor_parse(const struct kv_arg *arg, uint64_t *cursor)
{
    const uint8_t *nul = arg->data_bytes > 0 ? memchr(arg->data, '\0', arg->data_bytes) : NULL;
    size_t bytes = nul != NULL ? (size_t)(nul - arg->data) : arg->data_bytes;
    char text[KV_UINT64_TEXT_BYTES + 1];
    if (bytes >= sizeof text) {
        return false;
    }
    if (bytes > 0) {
        memcpy(text, arg->data, bytes);
    }
    text[bytes] = '\0';
    if (isspace((unsigned char)text[0])) {
        return false;
    }
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (*end != '\0' || errno == ERANGE) {
        return false;
    }
    *cursor = (uint64_t)value;
    return true;
}

void kv_reply_scan_cursor(struct kv_exec *exec, uint64_t cursor)
{
    char text[KV_UINT64_TEXT_BYTES];
    int length = snprintf(text, sizeof text, "%llu", (unsigned long long)cursor);
    exec->reply->bulk(exec->reply->context, (const uint8_t *)text, (size_t)length);
}

bool kv_scan_options_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                           size_t first, bool allow_type, struct kv_scan_options *options)
{
    for (size_t i = first; i < argc; i += 2) {
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
            options->count = (uint64_t)count;
        } else if (has_value && kv_arg_equals_nocase(&argv[i], "match")) {
            bool everything = argv[i + 1].data_bytes == 1 && argv[i + 1].data[0] == '*';
            options->match = everything ? NULL : &argv[i + 1];
        } else if (has_value && allow_type && kv_arg_equals_nocase(&argv[i], "type")) {
            options->type = kv_type_from_name(&argv[i + 1]);
            options->type_matches = options->type >= 0;
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    return true;
}

KV_HANDLER(kv_command_scan)
{
    struct kv_walk walk = {.cursor = 0};
    if (!kv_scan_cursor_parse(&argv[1], &walk.cursor)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_INVALID_CURSOR);
        return 0;
    }
    struct kv_scan_options options = {
        .count = KV_SCAN_DEFAULT_COUNT, .match = NULL, .type = -1, .type_matches = true};
    if (!kv_scan_options_parse(exec, argc, argv, 2, true, &options)) {
        return 0;
    }
    walk.count = options.count;
    walk.match = options.match;
    walk.type = options.type;
    walk.type_matches = options.type_matches;
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
