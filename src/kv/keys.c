/*
 * keys.c — commands on keys whatever they hold: RENAME, RENAMENX, COPY, TOUCH, RANDOMKEY,
 * OBJECT (ENCODING, REFCOUNT, IDLETIME, FREQ, HELP), and TIME.
 *
 * Happy path. RENAME moves a key's record to its new name as it is: a collection's items live
 * under its id in the "items" database, not under its name, so the record — type, id, count,
 * list head and deadline — is all that moves, in O(1) whatever the size. COPY gives the copy a
 * fresh id and copies every item whose key starts with the old id, the prefix replaced by the
 * new one (one loop for hashes, sets, lists and sorted sets alike: docs/storage.md), then
 * stores a record with the same type, count, head and deadline. Both keep the time to live,
 * as Redis does.
 *
 * OBJECT answers what Redis 7.0 would, from what the key holds now: raftkv stores no encoding,
 * so ENCODING applies Redis's default thresholds to the current contents (a hash or sorted
 * set that was once large, and shrank, says "listpack" here where Redis keeps its big
 * encoding; a string APPEND or SETRANGE made says "embstr" or "int" where Redis says "raw").
 * REFCOUNT is 1, or INT_MAX for the small integers Redis shares; IDLETIME is 0 (no access
 * times are kept); FREQ answers Redis's error for a server without an LFU policy.
 *
 * RANDOMKEY and TIME are reads: RANDOMKEY draws with kv_random (a read's draws need variety,
 * not agreement), TIME answers the execution's clock (the replicated clock, or the reader's
 * when later), never the local one.
 *
 * Failure modes: Redis's errors, all found before the first write; a stored key or item
 * shorter than its prefix can only come from a corrupt database (KV_ERROR_CORRUPT).
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kv/hash.h"
#include "kv/keys.h"
#include "kv/zset.h"

#define KV_ERROR_TEXT_NO_SUCH_KEY "ERR no such key"
#define KV_ERROR_TEXT_SAME_OBJECT "ERR source and destination objects are the same"
#define KV_ERROR_TEXT_INT_RANGE                                                                    \
    "ERR value is out of range, value must between -2147483648 and 2147483647"
#define KV_ERROR_TEXT_DB_RANGE "ERR DB index is out of range"
#define KV_ERROR_TEXT_NO_LFU                                                                       \
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that " \
    "when switching between policies at runtime LRU and LFU data will take some time to adjust."
#define KV_OBJECT_ERROR_BYTES    256
#define KV_SUBCOMMAND_ECHO_BYTES 128 /* Redis's %.128s */
#define KV_UINT64_TEXT_BYTES     21

/* Redis 7.0's defaults (redis.conf and config.c), which decide OBJECT ENCODING's answers. */
#define KV_EMBSTR_MAX_BYTES              44
#define KV_SHARED_INTEGERS               10000 /* 0 .. 9999 are shared objects */
#define KV_SHARED_REFCOUNT               INT32_MAX
#define KV_HASH_MAX_LISTPACK_ENTRIES     512
#define KV_HASH_MAX_LISTPACK_VALUE_BYTES 64
#define KV_SET_MAX_INTSET_ENTRIES        512
#define KV_ZSET_MAX_LISTPACK_ENTRIES     128
#define KV_ZSET_MAX_LISTPACK_VALUE_BYTES 64

/* Item keys (docs/storage.md): hash and set items are id, member hash, member (hash.h's
 * member layer); a sorted set's member items are id, tag, member hash, member (zset.h). */
#define KV_ZSET_MEMBER_PREFIX_BYTES (KV_ZSET_PREFIX_BYTES + KV_KEY_HASH_BYTES)

static bool kv_args_equal(const struct kv_arg *a, const struct kv_arg *b)
{
    return a->data_bytes == b->data_bytes &&
           (a->data_bytes == 0 || memcmp(a->data, b->data, a->data_bytes) == 0);
}

/* A string record's bytes point into the map, valid only until the next write: this points
 * them at a copy in the scratch buffer instead. */
static int kv_record_detach_value(struct kv_exec *exec, struct kv_record *record)
{
    if (record->type != KV_TYPE_STRING || record->value_bytes == 0) {
        return 0;
    }
    int result = kv_buffer_reserve(&exec->kv->scratch, record->value_bytes);
    if (result != 0) {
        return result;
    }
    memcpy(exec->kv->scratch.data, record->value, record->value_bytes);
    record->value = exec->kv->scratch.data;
    return 0;
}

/* ---- RENAME, RENAMENX ------------------------------------------------------------------------ */

/* Deletes the record under `key` without releasing what it owns (its items, its deadline),
 * which RENAME has just given to another key: only the record and the deadline's index entry
 * under this key's hash go. kv_key_delete would list the items for freeing. */
static int kv_record_unlink(struct kv_exec *exec, const struct kv_arg *key,
                            const struct kv_record *record)
{
    struct kv_stored_key stored;
    bool encoded = kv_key_encode(key, &stored);
    assert(encoded); /* the key was just found */
    (void)encoded;
    MDB_val stored_key = {.mv_size = stored.bytes_used, .mv_data = stored.bytes};
    int rc = mdb_del(exec->txn, exec->kv->data_dbi, &stored_key, NULL);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_del (rename)");
    }
    if (record->deadline_ms != 0) {
        return kv_expires_forget(exec, key, record->deadline_ms);
    }
    return 0;
}

/* Redis's order: a missing source is an error even when both names are the same; the same
 * name is then a no-op. */
static int kv_rename_generic(struct kv_exec *exec, const struct kv_arg *argv, bool only_new)
{
    const struct kv_arg *source = &argv[1];
    const struct kv_arg *target = &argv[2];
    struct kv_record record;
    int found = kv_lookup(exec, source, -1, &record);
    if (found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_ABSENT) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NO_SUCH_KEY);
        return 0;
    }
    if (kv_args_equal(source, target)) {
        if (only_new) {
            exec->reply->integer(exec->reply->context, 0);
        } else {
            kv_reply_ok(exec);
        }
        return 0;
    }
    if (!kv_key_writable(exec, target)) {
        return 0;
    }
    /* Copied before the target's lookup, which may delete an expired target (a write). */
    int result = kv_record_detach_value(exec, &record);
    if (result != 0) {
        return result;
    }
    if (only_new) {
        struct kv_record existing;
        int exists = kv_lookup(exec, target, -1, &existing);
        if (exists < 0) {
            return exists;
        }
        if (exists != KV_LOOKUP_ABSENT) {
            exec->reply->integer(exec->reply->context, 0);
            return 0;
        }
    }
    /* The record keeps its id: the items stay where they are, and whatever the target held
     * is released by the store (its items listed for freeing, its deadline unindexed). */
    result = kv_record_store(exec, target, &record);
    if (result == 0) {
        result = kv_record_unlink(exec, source, &record);
    }
    if (result != 0) {
        return result;
    }
    kv_notify(exec, KV_NOTIFY_GENERIC, "rename_from", source);
    kv_notify(exec, KV_NOTIFY_GENERIC, "rename_to", target);
    if (only_new) {
        exec->reply->integer(exec->reply->context, 1);
    } else {
        kv_reply_ok(exec);
    }
    return 0;
}

KV_HANDLER(kv_command_rename)
{
    (void)argc;
    return kv_rename_generic(exec, argv, false);
}

KV_HANDLER(kv_command_renamenx)
{
    (void)argc;
    return kv_rename_generic(exec, argv, true);
}

/* ---- COPY ---------------------------------------------------------------------------------- */

/* COPY's options from argv[3]: REPLACE, and DB n, where only database 0 exists. */
static bool kv_copy_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                          bool *replace)
{
    for (size_t i = 3; i < argc; i++) {
        if (kv_arg_equals_nocase(&argv[i], "replace")) {
            *replace = true;
        } else if (kv_arg_equals_nocase(&argv[i], "db") && i + 1 < argc) {
            int64_t db;
            i++;
            if (!kv_parse_int64(argv[i].data, argv[i].data_bytes, &db)) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
                return false;
            }
            if (db < INT32_MIN || db > INT32_MAX) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_INT_RANGE);
                return false;
            }
            if (db != 0) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_DB_RANGE);
                return false;
            }
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    return true;
}

/* Puts a copy of every item under from_id under to_id. Each item is copied out of the map
 * before the put (which may move the page it is on), and the cursor seeks back to it after,
 * rather than trusting its position across a put. New ids are larger than any in use, so
 * the copies sort after the items still to visit. */
static int kv_items_copy(struct kv_exec *exec, uint64_t from_id, uint64_t to_id)
{
    assert(to_id > from_id);
    MDB_cursor *cursor;
    int result = kv_item_cursor(exec, &cursor);
    if (result != 0) {
        return result;
    }
    struct kv_item_key position;
    kv_item_key(&position, from_id, NULL, 0);
    MDB_val key = {.mv_size = position.bytes_used, .mv_data = position.bytes};
    MDB_val value;
    int rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size >= KV_ID_BYTES && kv_item_id(&key) == from_id) {
        if (key.mv_size > KV_ITEM_KEY_MAX_BYTES) {
            snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES, "an item key is too long");
            result = KV_ERROR_CORRUPT;
            goto close;
        }
        memcpy(position.bytes, key.mv_data, key.mv_size);
        position.bytes_used = key.mv_size;
        struct kv_item_key copy;
        kv_item_key(&copy, to_id, position.bytes + KV_ID_BYTES, key.mv_size - KV_ID_BYTES);
        if ((result = kv_buffer_reserve(&exec->kv->scratch, value.mv_size)) != 0) {
            goto close;
        }
        if (value.mv_size > 0) {
            memcpy(exec->kv->scratch.data, value.mv_data, value.mv_size);
        }
        if ((result = kv_item_put(exec, &copy, exec->kv->scratch.data, value.mv_size)) != 0) {
            goto close;
        }
        key.mv_size = position.bytes_used;
        key.mv_data = position.bytes;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_KEY);
        if (rc == 0) {
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
        }
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        result = kv_storage_error(exec->kv, rc, "copying a collection's items");
    }
close:
    mdb_cursor_close(cursor);
    return result;
}

/* Writes a copy of `source` (looked up, its string bytes detached) under target. */
static int kv_copy_store(struct kv_exec *exec, const struct kv_arg *target,
                         const struct kv_record *source)
{
    if (source->type == KV_TYPE_STRING) {
        return kv_string_store(exec, target, source->value, source->value_bytes,
                               source->deadline_ms);
    }
    struct kv_record copy;
    kv_collection_new(exec, source->type, &copy);
    int result = kv_items_copy(exec, source->id, copy.id);
    if (result != 0) {
        return result;
    }
    copy.count = source->count;
    copy.head = source->head;
    copy.deadline_ms = source->deadline_ms;
    return kv_record_store(exec, target, &copy);
}

KV_HANDLER(kv_command_copy)
{
    bool replace = false;
    if (!kv_copy_parse(exec, argc, argv, &replace)) {
        return 0;
    }
    const struct kv_arg *source = &argv[1];
    const struct kv_arg *target = &argv[2];
    if (kv_args_equal(source, target)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SAME_OBJECT);
        return 0;
    }
    struct kv_record record;
    int found = kv_lookup(exec, source, -1, &record);
    if (found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_ABSENT) {
        exec->reply->integer(exec->reply->context, 0);
        return 0;
    }
    /* Copied before the target's lookup, which may delete an expired target (a write). */
    int result = kv_record_detach_value(exec, &record);
    if (result != 0) {
        return result;
    }
    struct kv_record existing;
    int exists = kv_lookup(exec, target, -1, &existing);
    if (exists < 0) {
        return exists;
    }
    if (exists != KV_LOOKUP_ABSENT && !replace) {
        exec->reply->integer(exec->reply->context, 0);
        return 0;
    }
    if (!kv_key_writable(exec, target)) {
        return 0;
    }
    result = kv_copy_store(exec, target, &record);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_GENERIC, "copy_to", target);
        exec->reply->integer(exec->reply->context, 1);
    }
    return result;
}

/* ---- TOUCH, RANDOMKEY, TIME ----------------------------------------------------------------- */

/* TOUCH counts the keys that exist; raftkv keeps no access times to update. */
KV_HANDLER(kv_command_touch)
{
    int64_t found_count = 0;
    for (size_t i = 1; i < argc; i++) {
        struct kv_record record;
        int found = kv_lookup(exec, &argv[i], -1, &record);
        if (found < 0) {
            return found;
        }
        found_count += found != KV_LOOKUP_ABSENT ? 1 : 0;
    }
    exec->reply->integer(exec->reply->context, found_count);
    return 0;
}

/*
 * RANDOMKEY seeks a random 8-byte hash in "data" and answers the first live key at or after
 * it, wrapping around to the first key at the end, and stopping when it comes back to where
 * it started (no live key: null). Keys are stored in the order of their XXH3 hash, which is
 * uniform, so every key is about equally likely — but not exactly: a key is drawn when the
 * random point falls in the gap between the previous key's hash and its own, and gaps vary
 * (their lengths are exponentially distributed around 2^64 / n), so some keys come up a few
 * times more often than others; a live key right after expired ones also inherits their gaps.
 * Redis's own pick (a random bucket, then a random entry of its chain) is not uniform either.
 * The walk is bounded by the number of keys, and is long only when most keys have expired
 * and active expiry has not deleted them yet.
 */
static int kv_randomkey_walk(struct kv_exec *exec, MDB_cursor *cursor, uint64_t start_hash)
{
    uint8_t start[KV_KEY_HASH_BYTES];
    kv_put_be64(start, start_hash);
    MDB_val key = {.mv_size = sizeof start, .mv_data = start};
    MDB_val value;
    bool wrapped = false;
    int rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    for (;;) {
        if (rc == MDB_NOTFOUND && !wrapped) {
            wrapped = true;
            rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
            continue;
        }
        if (rc != 0) {
            break;
        }
        if (key.mv_size < KV_KEY_HASH_BYTES) {
            snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES, "stored key too short");
            return KV_ERROR_CORRUPT;
        }
        if (wrapped && kv_get_be64(key.mv_data) >= start_hash) {
            break; /* back where the walk began: every key was visited */
        }
        struct kv_record record;
        int result = kv_record_decode(exec->kv, &value, &record);
        if (result != 0) {
            return result;
        }
        if (!kv_record_expired(exec, &record)) {
            exec->reply->bulk(exec->reply->context,
                              (const uint8_t *)key.mv_data + KV_KEY_HASH_BYTES,
                              key.mv_size - KV_KEY_HASH_BYTES);
            return 0;
        }
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return kv_storage_error(exec->kv, rc, "mdb_cursor_get (randomkey)");
    }
    exec->reply->null(exec->reply->context);
    return 0;
}

KV_HANDLER(kv_command_randomkey)
{
    (void)argc, (void)argv;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open(exec->txn, exec->kv->data_dbi, &cursor);
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "mdb_cursor_open (randomkey)");
    }
    assert(exec->txn != NULL);
    int result = kv_randomkey_walk(exec, cursor, kv_random(exec));
    mdb_cursor_close(cursor);
    return result;
}

static void kv_reply_uint64_bulk(struct kv_exec *exec, uint64_t value)
{
    char text[KV_UINT64_TEXT_BYTES];
    int length = snprintf(text, sizeof text, "%llu", (unsigned long long)value);
    assert(length > 0 && (size_t)length < sizeof text);
    exec->reply->bulk(exec->reply->context, (const uint8_t *)text, (size_t)length);
}

/* TIME: [seconds, microseconds] of the execution's clock, which has millisecond precision. */
KV_HANDLER(kv_command_time)
{
    (void)argc, (void)argv;
    exec->reply->array(exec->reply->context, 2);
    kv_reply_uint64_bulk(exec, exec->now_ms / 1000);
    kv_reply_uint64_bulk(exec, exec->now_ms % 1000 * 1000);
    return 0;
}

/* ---- OBJECT -------------------------------------------------------------------------------- */

/* Walks the items of collection `id` whose keys start with id + prefix[0..prefix_bytes), calling
 * visit() on each until it returns false (*stopped then says so). */
typedef bool (*kv_item_visit_fn)(const MDB_val *key, const MDB_val *value);

static int kv_items_walk(struct kv_exec *exec, uint64_t id, const uint8_t *prefix,
                         size_t prefix_bytes, kv_item_visit_fn visit, bool *stopped)
{
    *stopped = false;
    MDB_cursor *cursor;
    int result = kv_item_cursor(exec, &cursor);
    if (result != 0) {
        return result;
    }
    struct kv_item_key start;
    kv_item_key(&start, id, prefix, prefix_bytes);
    MDB_val key = {.mv_size = start.bytes_used, .mv_data = start.bytes};
    MDB_val value;
    int rc = mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE);
    while (rc == 0 && key.mv_size >= start.bytes_used &&
           memcmp(key.mv_data, start.bytes, start.bytes_used) == 0) {
        if (!visit(&key, &value)) {
            *stopped = true;
            break;
        }
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        result = kv_storage_error(exec->kv, rc, "mdb_cursor_get (object)");
    }
    mdb_cursor_close(cursor);
    return result;
}

/* Hash items: id, field hash, field → value. Both must fit a listpack entry. */
static bool kv_hash_item_fits_listpack(const MDB_val *key, const MDB_val *value)
{
    size_t prefix = KV_MEMBER_PREFIX_BYTES;
    return key->mv_size >= prefix && key->mv_size - prefix <= KV_HASH_MAX_LISTPACK_VALUE_BYTES &&
           value->mv_size <= KV_HASH_MAX_LISTPACK_VALUE_BYTES;
}

/* Set items: id, member hash, member. An intset holds only what parses as a 64-bit integer
 * (Redis's string2ll, which kv_parse_int64 mirrors). */
static bool kv_set_item_fits_intset(const MDB_val *key, const MDB_val *value)
{
    (void)value;
    size_t prefix = KV_MEMBER_PREFIX_BYTES;
    int64_t integer;
    return key->mv_size >= prefix &&
           kv_parse_int64((const uint8_t *)key->mv_data + prefix, key->mv_size - prefix, &integer);
}

/* Sorted set member items: id, 0x00, member hash, member → score. */
static bool kv_zset_item_fits_listpack(const MDB_val *key, const MDB_val *value)
{
    (void)value;
    size_t prefix = KV_ZSET_MEMBER_PREFIX_BYTES;
    return key->mv_size >= prefix && key->mv_size - prefix <= KV_ZSET_MAX_LISTPACK_VALUE_BYTES;
}

/* What OBJECT ENCODING answers, by Redis 7.0's rules applied to the current contents. */
static int kv_object_encoding(struct kv_exec *exec, const struct kv_record *record,
                              const char **encoding)
{
    bool stopped = false;
    int result = 0;
    int64_t integer;
    const uint8_t member_tag = KV_ZSET_TAG_MEMBERS;
    switch (record->type) {
    case KV_TYPE_STRING:
        if (record->value_bytes <= 20 &&
            kv_parse_int64(record->value, record->value_bytes, &integer)) {
            *encoding = "int";
        } else {
            *encoding = record->value_bytes <= KV_EMBSTR_MAX_BYTES ? "embstr" : "raw";
        }
        return 0;
    case KV_TYPE_LIST:
        *encoding = "quicklist";
        return 0;
    case KV_TYPE_HASH:
        stopped = record->count > KV_HASH_MAX_LISTPACK_ENTRIES;
        if (!stopped) {
            result = kv_items_walk(exec, record->id, NULL, 0, kv_hash_item_fits_listpack, &stopped);
        }
        *encoding = stopped ? "hashtable" : "listpack";
        return result;
    case KV_TYPE_SET:
        stopped = record->count > KV_SET_MAX_INTSET_ENTRIES;
        if (!stopped) {
            result = kv_items_walk(exec, record->id, NULL, 0, kv_set_item_fits_intset, &stopped);
        }
        *encoding = stopped ? "hashtable" : "intset";
        return result;
    case KV_TYPE_ZSET:
        stopped = record->count > KV_ZSET_MAX_LISTPACK_ENTRIES;
        if (!stopped) {
            result = kv_items_walk(exec, record->id, &member_tag, 1, kv_zset_item_fits_listpack,
                                   &stopped);
        }
        *encoding = stopped ? "skiplist" : "listpack";
        return result;
    }
    assert(false);
    return KV_ERROR_INVALID;
}

/* Redis shares the string objects of the integers 0 .. 9999, whose refcount is INT_MAX. */
static int64_t kv_object_refcount(const struct kv_record *record)
{
    int64_t integer;
    if (record->type == KV_TYPE_STRING && record->value_bytes <= 20 &&
        kv_parse_int64(record->value, record->value_bytes, &integer) && integer >= 0 &&
        integer < KV_SHARED_INTEGERS) {
        return KV_SHARED_REFCOUNT;
    }
    return 1;
}

static void kv_object_help(struct kv_exec *exec)
{
    static const char *const lines[] = {
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    };
    size_t count = sizeof lines / sizeof lines[0];
    exec->reply->array(exec->reply->context, count);
    for (size_t i = 0; i < count; i++) {
        exec->reply->status(exec->reply->context, lines[i], strlen(lines[i]));
    }
}

/* Redis's reply to an unknown subcommand: at most 128 bytes of it, cut at a NUL, CR and LF
 * turned into spaces so that the error stays one line. */
static void kv_reply_unknown_subcommand(struct kv_exec *exec, const struct kv_arg *subcommand)
{
    char text[KV_OBJECT_ERROR_BYTES];
    size_t used = (size_t)snprintf(text, sizeof text, "ERR unknown subcommand '");
    for (size_t i = 0; i < subcommand->data_bytes && i < KV_SUBCOMMAND_ECHO_BYTES; i++) {
        uint8_t c = subcommand->data[i];
        if (c == '\0') {
            break;
        }
        text[used++] = (c == '\r' || c == '\n') ? ' ' : (char)c;
    }
    int tail = snprintf(text + used, sizeof text - used, "'. Try OBJECT HELP.");
    assert(tail > 0 && used + (size_t)tail < sizeof text);
    exec->reply->error(exec->reply->context, text, used + (size_t)tail);
}

enum kv_object_subcommand {
    KV_OBJECT_HELP,
    KV_OBJECT_ENCODING,
    KV_OBJECT_REFCOUNT,
    KV_OBJECT_IDLETIME,
    KV_OBJECT_FREQ,
};

static const struct {
    const char *name;
    size_t arity;
} kv_object_subcommands[] = {
    [KV_OBJECT_HELP] = {"help", 2},         [KV_OBJECT_ENCODING] = {"encoding", 3},
    [KV_OBJECT_REFCOUNT] = {"refcount", 3}, [KV_OBJECT_IDLETIME] = {"idletime", 3},
    [KV_OBJECT_FREQ] = {"freq", 3},
};

/* Finds the subcommand and checks its arity, replying Redis's errors; -1 when it cannot run. */
static int kv_object_resolve(struct kv_exec *exec, size_t argc, const struct kv_arg *argv)
{
    size_t count = sizeof kv_object_subcommands / sizeof kv_object_subcommands[0];
    for (size_t i = 0; i < count; i++) {
        if (!kv_arg_equals_nocase(&argv[1], kv_object_subcommands[i].name)) {
            continue;
        }
        if (argc != kv_object_subcommands[i].arity) {
            char text[KV_OBJECT_ERROR_BYTES];
            int length =
                snprintf(text, sizeof text, "ERR wrong number of arguments for 'object|%s' command",
                         kv_object_subcommands[i].name);
            exec->reply->error(exec->reply->context, text, (size_t)length);
            return -1;
        }
        return (int)i;
    }
    kv_reply_unknown_subcommand(exec, &argv[1]);
    return -1;
}

KV_HANDLER(kv_command_object)
{
    int subcommand = kv_object_resolve(exec, argc, argv);
    if (subcommand < 0) {
        return 0;
    }
    if (subcommand == KV_OBJECT_HELP) {
        kv_object_help(exec);
        return 0;
    }
    struct kv_record record;
    int found = kv_lookup(exec, &argv[2], -1, &record);
    if (found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_ABSENT) {
        exec->reply->null(exec->reply->context);
        return 0;
    }
    const char *encoding = NULL;
    int result = 0;
    switch ((enum kv_object_subcommand)subcommand) {
    case KV_OBJECT_ENCODING:
        result = kv_object_encoding(exec, &record, &encoding);
        if (result == 0) {
            exec->reply->bulk(exec->reply->context, (const uint8_t *)encoding, strlen(encoding));
        }
        break;
    case KV_OBJECT_REFCOUNT:
        exec->reply->integer(exec->reply->context, kv_object_refcount(&record));
        break;
    case KV_OBJECT_IDLETIME:
        exec->reply->integer(exec->reply->context, 0);
        break;
    case KV_OBJECT_FREQ:
        kv_reply_text_error(exec, KV_ERROR_TEXT_NO_LFU);
        break;
    case KV_OBJECT_HELP:
        assert(false);
        break;
    }
    return result;
}
