/*
 * hash.c — the hash commands: HSET, HSETNX, HGET, HMGET, HMSET, HGETALL, HDEL, HEXISTS, HLEN,
 * HKEYS, HVALS, HINCRBY, HINCRBYFLOAT, HSTRLEN, HRANDFIELD, HSCAN; and the hashed-member
 * layout that hashes and sets share (hash.h): keys, cursors, SCAN-style walks, random picks.
 *
 * Happy path: a hash is a record (its id and field count) and one item per field, under
 * id + hash(field) + field, whose value is the field's value. Every field update is one
 * B-tree operation and keeps record.count exact; a hash that loses its last field is deleted
 * (kv_collection_store), as in Redis.
 *
 * Failure modes: every client error (syntax, WRONGTYPE, a value that is not a number, an
 * overflow, a field longer than KV_MAX_MEMBER_BYTES, a key longer than KV_MAX_KEY_BYTES) is
 * found before the first write, so a failed command changes nothing. A stored item shorter
 * than its prefix can only come from a corrupt database: KV_ERROR_CORRUPT.
 *
 * Random members. A pick draws a 64-bit number with kv_random() and seeks to the first member
 * whose hash is at or above it, wrapping around to the collection's first member: one B-tree
 * descent whatever the size. The distribution is therefore NOT exactly uniform: a member is
 * drawn with probability proportional to the gap in hash space between it and the member
 * before it (the first member also owns the gap after the last one). Hashes are XXH3's, so
 * gaps are like those of uniform random points — for n members, mostly within a small factor
 * of 1/n. Redis's own picks are not exactly uniform either; what both keep is the contract:
 * distinct members for a positive count, possibly repeated ones for a negative count, the
 * whole collection when the count reaches its size.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/hash.h"

#define KV_UINT64_TEXT_BYTES 21
/* A negative count asks for that many independent picks: each costs a seek and a reply
 * element, so it is bounded (Redis's is not, and a huge one stalls it). */
#define KV_MAX_RANDOM_REPEATS          (1u << 20)
#define KV_ERROR_TEXT_REPEATS          "ERR count would repeat more than 1048576 members"
#define KV_ERROR_TEXT_COUNT_RANGE      "ERR value is out of range"
#define KV_ERROR_TEXT_HASH_NOT_INTEGER "ERR hash value is not an integer"
#define KV_ERROR_TEXT_HASH_NOT_FLOAT   "ERR hash value is not a float"
#define KV_ERROR_TEXT_INFINITE_INCR    "ERR value is NaN or Infinity"

/* ---- hashed members ------------------------------------------------------------------------- */

bool kv_member_key(struct kv_item_key *out, uint64_t id, const struct kv_arg *member)
{
    if (member->data_bytes > KV_MAX_MEMBER_BYTES) {
        return false;
    }
    uint8_t hash[KV_KEY_HASH_BYTES];
    kv_put_be64(hash, kv_key_hash(member->data, member->data_bytes));
    kv_item_key(out, id, hash, sizeof hash);
    kv_item_key_append(out, member->data, member->data_bytes);
    return true;
}

void kv_member_key_rebase(struct kv_item_key *out, uint64_t id, const MDB_val *item)
{
    assert(item->mv_size >= KV_MEMBER_PREFIX_BYTES);
    assert(item->mv_size <= KV_MEMBER_PREFIX_BYTES + KV_MAX_MEMBER_BYTES);
    kv_item_key(out, id, (const uint8_t *)item->mv_data + KV_ID_BYTES, item->mv_size - KV_ID_BYTES);
}

int kv_member_contains(struct kv_exec *exec, uint64_t id, const struct kv_arg *member, bool *found)
{
    struct kv_item_key key;
    *found = false;
    if (!kv_member_key(&key, id, member)) {
        return 0;
    }
    MDB_val value;
    return kv_item_get(exec, &key, &value, found);
}

struct kv_arg kv_member_of(const MDB_val *item)
{
    assert(item->mv_size >= KV_MEMBER_PREFIX_BYTES);
    return (struct kv_arg){
        .data = (const uint8_t *)item->mv_data + KV_MEMBER_PREFIX_BYTES,
        .data_bytes = item->mv_size - KV_MEMBER_PREFIX_BYTES,
    };
}

int kv_member_cursor_open(struct kv_exec *exec, uint64_t id, struct kv_member_cursor *walk)
{
    memset(walk, 0, sizeof *walk);
    walk->id = id;
    return kv_item_cursor(exec, &walk->cursor);
}

void kv_member_cursor_close(struct kv_member_cursor *walk)
{
    if (walk->cursor != NULL) {
        mdb_cursor_close(walk->cursor);
        walk->cursor = NULL;
    }
}

/* Turns a cursor move's result into 1 (on an item of this collection), 0 (past its end) or an
 * error. */
static int kv_member_position(struct kv_exec *exec, struct kv_member_cursor *walk, int rc)
{
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return kv_storage_error(exec->kv, rc, "walking a collection");
    }
    if (walk->key.mv_size >= KV_ID_BYTES && kv_item_id(&walk->key) != walk->id) {
        return 0;
    }
    if (walk->key.mv_size < KV_MEMBER_PREFIX_BYTES) {
        snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES, "a stored member is malformed");
        return KV_ERROR_CORRUPT;
    }
    return 1;
}

int kv_member_seek(struct kv_exec *exec, struct kv_member_cursor *walk, uint64_t hash)
{
    uint8_t start[KV_MEMBER_PREFIX_BYTES];
    kv_put_be64(start, walk->id);
    kv_put_be64(start + KV_ID_BYTES, hash);
    walk->key = (MDB_val){.mv_size = sizeof start, .mv_data = start};
    int rc = mdb_cursor_get(walk->cursor, &walk->key, &walk->value, MDB_SET_RANGE);
    return kv_member_position(exec, walk, rc);
}

int kv_member_next(struct kv_exec *exec, struct kv_member_cursor *walk)
{
    int rc = mdb_cursor_get(walk->cursor, &walk->key, &walk->value, MDB_NEXT);
    return kv_member_position(exec, walk, rc);
}

int kv_member_resume(struct kv_exec *exec, struct kv_member_cursor *walk,
                     const struct kv_item_key *last)
{
    assert(last->bytes_used >= KV_MEMBER_PREFIX_BYTES);
    walk->key = (MDB_val){.mv_size = last->bytes_used, .mv_data = (void *)last->bytes};
    int rc = mdb_cursor_get(walk->cursor, &walk->key, &walk->value, MDB_SET_RANGE);
    if (rc == 0 && walk->key.mv_size == last->bytes_used &&
        memcmp(walk->key.mv_data, last->bytes, last->bytes_used) == 0) {
        rc = mdb_cursor_get(walk->cursor, &walk->key, &walk->value, MDB_NEXT);
    }
    return kv_member_position(exec, walk, rc);
}

uint64_t kv_member_hash(const struct kv_member_cursor *walk)
{
    assert(walk->key.mv_size >= KV_MEMBER_PREFIX_BYTES);
    return kv_get_be64((const uint8_t *)walk->key.mv_data + KV_ID_BYTES);
}

int kv_member_random(struct kv_exec *exec, struct kv_member_cursor *walk)
{
    int positioned = kv_member_seek(exec, walk, kv_random(exec));
    if (positioned == 0) {
        positioned = kv_member_seek(exec, walk, 0); /* past the last hash: wrap around */
    }
    if (positioned == 0) {
        snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES, "a collection has no items");
        return KV_ERROR_CORRUPT;
    }
    return positioned;
}

void kv_member_reply(struct kv_exec *exec, const struct kv_member_cursor *walk, bool with_value)
{
    struct kv_arg member = kv_member_of(&walk->key);
    exec->reply->bulk(exec->reply->context, member.data, member.data_bytes);
    if (with_value) {
        kv_reply_value(exec, &walk->value);
    }
}

/* One pick of HRANDFIELD / SRANDMEMBER: with its value it is a [field, value] pair in RESP3. */
static void kv_member_reply_picked(struct kv_exec *exec, const struct kv_member_cursor *walk,
                                   bool with_value)
{
    if (with_value) {
        exec->reply->pair(exec->reply->context);
    }
    kv_member_reply(exec, walk, with_value);
}

/* The count kept in a record disagrees with the items under its id. */
static int kv_member_count_mismatch(struct kv_exec *exec)
{
    snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES,
             "a collection's count disagrees with its items");
    return KV_ERROR_CORRUPT;
}

void kv_member_shape_header(struct kv_exec *exec, enum kv_member_shape shape, size_t count,
                            size_t per_item)
{
    switch (shape) {
    case KV_SHAPE_SET:
        exec->reply->set(exec->reply->context, count);
        break;
    case KV_SHAPE_MAP:
        exec->reply->map(exec->reply->context, count);
        break;
    case KV_SHAPE_PAIRS:
        exec->reply->pairs(exec->reply->context, count);
        break;
    default:
        exec->reply->array(exec->reply->context, count * per_item);
        break;
    }
}

int kv_member_reply_all(struct kv_exec *exec, const struct kv_record *record,
                        enum kv_member_shape shape, bool members, bool values)
{
    assert(members || values);
    size_t per_item = (members ? 1 : 0) + (values ? 1 : 0);
    kv_member_shape_header(exec, shape, (size_t)record->count, per_item);
    struct kv_member_cursor walk;
    int result = kv_member_cursor_open(exec, record->id, &walk);
    if (result != 0) {
        return result;
    }
    uint64_t visited = 0;
    int positioned = kv_member_seek(exec, &walk, 0);
    while (positioned == 1 && visited < record->count) {
        if (shape == KV_SHAPE_PAIRS) {
            exec->reply->pair(exec->reply->context);
        }
        if (members) {
            kv_member_reply(exec, &walk, values);
        } else {
            kv_reply_value(exec, &walk.value);
        }
        visited++;
        positioned = kv_member_next(exec, &walk);
    }
    kv_member_cursor_close(&walk);
    if (positioned < 0) {
        return positioned;
    }
    return positioned == 0 && visited == record->count ? 0 : kv_member_count_mismatch(exec);
}

/* ---- HSCAN and SSCAN ------------------------------------------------------------------------ */

struct kv_member_scan_walk {
    uint64_t cursor;            /* the first member hash to visit */
    uint64_t count;             /* members to visit before stopping at a hash boundary */
    const struct kv_arg *match; /* NULL: every member */
    bool values;                /* a hash's values follow its fields */
    bool emit;                  /* false: only count the matches */
    size_t matched;             /* out */
    uint64_t next_cursor;       /* out: 0 when the walk reached the end */
};

/* One walk of a scan call, as SCAN's (keyspace.c): visit `count` members, then go on until the
 * hash changes, so members sharing a hash are never split across calls. */
static int kv_member_scan_run(struct kv_exec *exec, uint64_t id, struct kv_member_scan_walk *scan)
{
    struct kv_member_cursor walk;
    int result = kv_member_cursor_open(exec, id, &walk);
    if (result != 0) {
        return result;
    }
    scan->matched = 0;
    scan->next_cursor = 0;
    uint64_t visited = 0;
    uint64_t previous_hash = 0;
    int positioned = kv_member_seek(exec, &walk, scan->cursor);
    while (positioned == 1) {
        uint64_t hash = kv_member_hash(&walk);
        if (visited >= scan->count && hash != previous_hash) {
            scan->next_cursor = hash; /* above previous_hash, so never 0 */
            break;
        }
        visited++;
        previous_hash = hash;
        struct kv_arg member = kv_member_of(&walk.key);
        if (scan->match == NULL || kv_glob_match(scan->match->data, scan->match->data_bytes,
                                                 member.data, member.data_bytes)) {
            scan->matched++;
            if (scan->emit) {
                kv_member_reply(exec, &walk, scan->values);
            }
        }
        positioned = kv_member_next(exec, &walk);
    }
    kv_member_cursor_close(&walk);
    return positioned < 0 ? positioned : 0;
}

int kv_member_remove(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                     enum kv_type type)
{
    struct kv_record record;
    int found = kv_lookup(exec, &argv[1], (int)type, &record);
    if (found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
        return 0;
    }
    if (found == KV_LOOKUP_ABSENT) {
        exec->reply->integer(exec->reply->context, 0);
    }
    if (found != KV_LOOKUP_FOUND) {
        return found < 0 ? found : 0;
    }
    int64_t removed = 0;
    for (size_t i = 2; i < argc; i++) {
        struct kv_item_key key;
        bool deleted = false;
        if (kv_member_key(&key, record.id, &argv[i])) {
            int result = kv_item_delete(exec, &key, &deleted);
            if (result != 0) {
                return result;
            }
        }
        if (deleted) {
            assert(record.count > 0);
            record.count--;
            removed++;
        }
    }
    if (removed > 0) {
        int result = kv_collection_store(exec, &argv[1], &record);
        if (result != 0) {
            return result;
        }
        bool hash = type == KV_TYPE_HASH;
        kv_notify_removal(exec, hash ? KV_NOTIFY_HASH : KV_NOTIFY_SET, hash ? "hdel" : "srem",
                          &argv[1], record.count == 0);
    }
    exec->reply->integer(exec->reply->context, removed);
    return 0;
}

int kv_member_scan(struct kv_exec *exec, size_t argc, const struct kv_arg *argv, enum kv_type type)
{
    struct kv_member_scan_walk scan = {
        .count = KV_SCAN_DEFAULT_COUNT,
        .values = type == KV_TYPE_HASH,
    };
    if (!kv_scan_cursor_parse(&argv[2], &scan.cursor)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_INVALID_CURSOR);
        return 0;
    }
    /* As Redis: the key is looked up before the options are read. */
    struct kv_record record;
    int found = kv_lookup(exec, &argv[1], (int)type, &record);
    if (found < 0) {
        return found;
    }
    if (found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
        return 0;
    }
    if (found == KV_LOOKUP_ABSENT) {
        exec->reply->array(exec->reply->context, 2);
        kv_reply_scan_cursor(exec, 0);
        exec->reply->array(exec->reply->context, 0);
        return 0;
    }
    struct kv_scan_options options = {.count = KV_SCAN_DEFAULT_COUNT};
    if (!kv_scan_options_parse(exec, argc, argv, 3, false, &options)) {
        return 0;
    }
    scan.count = options.count;
    scan.match = options.match;
    int result = kv_member_scan_run(exec, record.id, &scan);
    if (result != 0) {
        return result;
    }
    size_t counted = scan.matched;
    uint64_t next_cursor = scan.next_cursor;
    exec->reply->array(exec->reply->context, 2);
    kv_reply_scan_cursor(exec, next_cursor);
    exec->reply->array(exec->reply->context, counted * (scan.values ? 2 : 1));
    scan.emit = true;
    result = kv_member_scan_run(exec, record.id, &scan);
    assert(result != 0 || (scan.matched == counted && scan.next_cursor == next_cursor));
    return result;
}

/* ---- HRANDFIELD and SRANDMEMBER with a count ------------------------------------------------ */

/* |count| independent picks. */
static int kv_member_random_repeated(struct kv_exec *exec, const struct kv_record *record,
                                     uint64_t picks, bool with_values)
{
    kv_member_shape_header(exec, with_values ? KV_SHAPE_PAIRS : KV_SHAPE_ARRAY, (size_t)picks, 1);
    struct kv_member_cursor walk;
    int result = kv_member_cursor_open(exec, record->id, &walk);
    for (uint64_t i = 0; i < picks && result == 0; i++) {
        result = kv_member_random(exec, &walk);
        if (result == 1) {
            kv_member_reply_picked(exec, &walk, with_values);
            result = 0;
        }
    }
    kv_member_cursor_close(&walk);
    return result;
}

/* Selection sampling (Knuth's Algorithm S) over one walk: each member is taken with
 * probability needed / remaining, which draws a uniform subset of exactly `picks` members, in
 * hash order. Used when the picks are a large part of the collection, where the walk costs
 * no more than a few times the reply. */
static int kv_member_random_selection(struct kv_exec *exec, const struct kv_record *record,
                                      uint64_t picks, bool with_values)
{
    assert(picks < record->count);
    kv_member_shape_header(exec, with_values ? KV_SHAPE_PAIRS : KV_SHAPE_ARRAY, (size_t)picks, 1);
    struct kv_member_cursor walk;
    int result = kv_member_cursor_open(exec, record->id, &walk);
    if (result != 0) {
        return result;
    }
    uint64_t needed = picks;
    uint64_t remaining = record->count;
    int positioned = kv_member_seek(exec, &walk, 0);
    while (positioned == 1 && needed > 0) {
        if (kv_random(exec) % remaining < needed) {
            kv_member_reply_picked(exec, &walk, with_values);
            needed--;
        }
        remaining--;
        positioned = needed > 0 ? kv_member_next(exec, &walk) : 1;
    }
    kv_member_cursor_close(&walk);
    if (positioned < 0) {
        return positioned;
    }
    return needed == 0 ? 0 : kv_member_count_mismatch(exec);
}

/* Which members a run of distinct picks has taken: member hash → how many items of that hash
 * were taken (a seek lands on the first item of a hash, so they are taken in key order). Open
 * addressing; a slot with `taken` 0 is free. */
struct kv_pick_table {
    uint64_t *hashes;
    uint32_t *taken;
    size_t capacity; /* a power of two, at least twice the picks */
};

static int kv_pick_table_init(struct kv_pick_table *table, uint64_t picks)
{
    table->capacity = 16;
    while (table->capacity < 2 * picks) {
        table->capacity *= 2;
    }
    table->hashes = calloc(table->capacity, sizeof table->hashes[0]);
    table->taken = calloc(table->capacity, sizeof table->taken[0]);
    if (table->hashes == NULL || table->taken == NULL) {
        free(table->hashes);
        free(table->taken);
        return KV_ERROR_NO_MEMORY;
    }
    return 0;
}

static void kv_pick_table_free(struct kv_pick_table *table)
{
    free(table->hashes);
    free(table->taken);
}

/* The counter of `hash`, 0 when none of its items was taken yet. The table never fills: it
 * holds at most one slot per pick. */
static uint32_t *kv_pick_table_slot(struct kv_pick_table *table, uint64_t hash)
{
    size_t mask = table->capacity - 1;
    for (size_t i = (size_t)(hash ^ (hash >> 32)) & mask;; i = (i + 1) & mask) {
        if (table->taken[i] == 0) {
            table->hashes[i] = hash;
            return &table->taken[i];
        }
        if (table->hashes[i] == hash) {
            return &table->taken[i];
        }
    }
}

/* One distinct pick: from a random seek, the first item not taken yet, going forward (and
 * around). It exists, since fewer members were taken than the collection holds. */
static int kv_member_pick_untaken(struct kv_exec *exec, struct kv_member_cursor *walk,
                                  struct kv_pick_table *table)
{
    int positioned = kv_member_random(exec, walk);
    while (positioned == 1) {
        uint64_t hash = kv_member_hash(walk);
        uint32_t *taken = kv_pick_table_slot(table, hash);
        bool in_group = true;
        for (uint32_t i = 0; i < *taken && in_group; i++) {
            positioned = kv_member_next(exec, walk);
            in_group = positioned == 1 && kv_member_hash(walk) == hash;
        }
        if (in_group) {
            (*taken)++;
            return 1;
        }
        if (positioned == 0) {
            positioned = kv_member_seek(exec, walk, 0); /* wrap around */
        }
    }
    return positioned < 0 ? positioned : kv_member_count_mismatch(exec);
}

/* Distinct picks by random seeks: used when they are a small part of the collection, so a
 * seek mostly lands on a member not taken yet, and the cost is the picks', not the size's. */
static int kv_member_random_distinct(struct kv_exec *exec, const struct kv_record *record,
                                     uint64_t picks, bool with_values)
{
    assert(picks < record->count);
    struct kv_pick_table table;
    int result = kv_pick_table_init(&table, picks);
    if (result != 0) {
        return result;
    }
    struct kv_member_cursor walk;
    result = kv_member_cursor_open(exec, record->id, &walk);
    if (result == 0) {
        kv_member_shape_header(exec, with_values ? KV_SHAPE_PAIRS : KV_SHAPE_ARRAY, (size_t)picks,
                               1);
    }
    for (uint64_t i = 0; i < picks && result == 0; i++) {
        result = kv_member_pick_untaken(exec, &walk, &table);
        if (result == 1) {
            kv_member_reply_picked(exec, &walk, with_values);
            result = 0;
        }
    }
    kv_member_cursor_close(&walk);
    kv_pick_table_free(&table);
    return result;
}

int kv_member_random_reply(struct kv_exec *exec, const struct kv_record *record, int64_t count,
                           bool with_values)
{
    assert(count != 0 && count != INT64_MIN);
    if (count < 0) {
        if ((uint64_t)-count > KV_MAX_RANDOM_REPEATS) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_REPEATS);
            return 0;
        }
        return kv_member_random_repeated(exec, record, (uint64_t)-count, with_values);
    }
    uint64_t picks = (uint64_t)count;
    if (picks >= record->count) {
        return kv_member_reply_all(exec, record, with_values ? KV_SHAPE_PAIRS : KV_SHAPE_ARRAY,
                                   true, with_values);
    }
    if (picks > record->count / 4) {
        return kv_member_random_selection(exec, record, picks, with_values);
    }
    return kv_member_random_distinct(exec, record, picks, with_values);
}

/* ---- hash commands -------------------------------------------------------------------------- */

/* kv_lookup for a hash; replies WRONGTYPE itself when the key holds another type. */
static int kv_hash_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record)
{
    int found = kv_lookup(exec, key, KV_TYPE_HASH, record);
    if (found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
    }
    return found;
}

/* A field's value, *found false when the hash has no such field. */
static int kv_hash_get(struct kv_exec *exec, const struct kv_record *record,
                       const struct kv_arg *field, MDB_val *value, bool *found)
{
    struct kv_item_key key;
    *found = false;
    if (!kv_member_key(&key, record->id, field)) {
        return 0;
    }
    return kv_item_get(exec, &key, value, found);
}

/* Writes one field (checked by kv_member_writable), counting it in the record when new. */
static int kv_hash_put(struct kv_exec *exec, struct kv_record *record, const struct kv_arg *field,
                       const uint8_t *data, size_t data_bytes, bool *added)
{
    struct kv_item_key key;
    bool built = kv_member_key(&key, record->id, field);
    assert(built);
    (void)built;
    MDB_val old;
    bool found;
    int result = kv_item_get(exec, &key, &old, &found);
    if (result == 0) {
        result = kv_item_put(exec, &key, data, data_bytes);
    }
    if (result == 0 && !found) {
        record->count++;
    }
    *added = !found;
    return result;
}

/* The hash a write changes: the existing one, or a new empty one. Replies WRONGTYPE and
 * returns KV_LOOKUP_WRONG_TYPE for a key of another type. */
static int kv_hash_for_write(struct kv_exec *exec, const struct kv_arg *key,
                             struct kv_record *record)
{
    int found = kv_hash_lookup(exec, key, record);
    if (found == KV_LOOKUP_ABSENT) {
        kv_collection_new(exec, KV_TYPE_HASH, record);
    }
    return found;
}

/* HSET and HMSET: the pairs from argv[2]; *added receives the new fields' count, or -1 when
 * an error was replied. */
static int kv_hash_set_pairs(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                             int64_t *added)
{
    *added = -1;
    if (argc % 2 != 0) {
        kv_reply_wrong_arity(exec->reply, kv_command_lookup(argv[0].data, argv[0].data_bytes));
        return 0;
    }
    if (!kv_key_writable(exec, &argv[1])) {
        return 0;
    }
    for (size_t i = 2; i < argc; i += 2) {
        if (!kv_member_writable(exec, &argv[i])) {
            return 0;
        }
    }
    struct kv_record record;
    int found = kv_hash_for_write(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    int64_t count = 0;
    for (size_t i = 2; i < argc; i += 2) {
        bool is_new;
        int result =
            kv_hash_put(exec, &record, &argv[i], argv[i + 1].data, argv[i + 1].data_bytes, &is_new);
        if (result != 0) {
            return result;
        }
        count += is_new ? 1 : 0;
    }
    int result = kv_collection_settle(exec, &argv[1], &record);
    if (result != 0) {
        return result;
    }
    kv_notify(exec, KV_NOTIFY_HASH, "hset", &argv[1]);
    *added = count;
    return 0;
}

KV_HANDLER(kv_command_hset)
{
    int64_t added;
    int result = kv_hash_set_pairs(exec, argc, argv, &added);
    if (result == 0 && added >= 0) {
        exec->reply->integer(exec->reply->context, added);
    }
    return result;
}

KV_HANDLER(kv_command_hmset)
{
    int64_t added;
    int result = kv_hash_set_pairs(exec, argc, argv, &added);
    if (result == 0 && added >= 0) {
        kv_reply_ok(exec);
    }
    return result;
}

KV_HANDLER(kv_command_hsetnx)
{
    (void)argc;
    if (!kv_key_writable(exec, &argv[1]) || !kv_member_writable(exec, &argv[2])) {
        return 0;
    }
    struct kv_record record;
    int found = kv_hash_for_write(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    MDB_val value;
    bool exists;
    int result = kv_hash_get(exec, &record, &argv[2], &value, &exists);
    if (result == 0 && !exists) {
        bool added;
        result = kv_hash_put(exec, &record, &argv[2], argv[3].data, argv[3].data_bytes, &added);
        if (result == 0) {
            result = kv_collection_store(exec, &argv[1], &record);
        }
        if (result == 0) {
            kv_notify(exec, KV_NOTIFY_HASH, "hset", &argv[1]);
        }
    }
    if (result == 0) {
        exec->reply->integer(exec->reply->context, exists ? 0 : 1);
    }
    return result;
}

KV_HANDLER(kv_command_hget)
{
    (void)argc;
    struct kv_record record;
    int found = kv_hash_lookup(exec, &argv[1], &record);
    if (found == KV_LOOKUP_ABSENT) {
        exec->reply->null(exec->reply->context);
    }
    if (found != KV_LOOKUP_FOUND) {
        return found < 0 ? found : 0;
    }
    MDB_val value;
    bool exists;
    int result = kv_hash_get(exec, &record, &argv[2], &value, &exists);
    if (result == 0 && exists) {
        kv_reply_value(exec, &value);
    } else if (result == 0) {
        exec->reply->null(exec->reply->context);
    }
    return result;
}

KV_HANDLER(kv_command_hmget)
{
    struct kv_record record;
    int found = kv_hash_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    exec->reply->array(exec->reply->context, argc - 2);
    for (size_t i = 2; i < argc; i++) {
        MDB_val value;
        bool exists = false;
        if (found == KV_LOOKUP_FOUND) {
            int result = kv_hash_get(exec, &record, &argv[i], &value, &exists);
            if (result != 0) {
                return result;
            }
        }
        if (exists) {
            kv_reply_value(exec, &value);
        } else {
            exec->reply->null(exec->reply->context);
        }
    }
    return 0;
}

/* HGETALL, HKEYS, HVALS: the whole hash, or an empty array for a missing key. */
static int kv_hash_reply_all(struct kv_exec *exec, const struct kv_arg *key, bool fields,
                             bool values)
{
    struct kv_record record;
    int found = kv_hash_lookup(exec, key, &record);
    if (found == KV_LOOKUP_ABSENT) {
        kv_member_shape_header(exec, fields && values ? KV_SHAPE_MAP : KV_SHAPE_ARRAY, 0, 1);
    }
    if (found != KV_LOOKUP_FOUND) {
        return found < 0 ? found : 0;
    }
    return kv_member_reply_all(exec, &record, fields && values ? KV_SHAPE_MAP : KV_SHAPE_ARRAY,
                               fields, values);
}

KV_HANDLER(kv_command_hgetall)
{
    (void)argc;
    return kv_hash_reply_all(exec, &argv[1], true, true);
}

KV_HANDLER(kv_command_hkeys)
{
    (void)argc;
    return kv_hash_reply_all(exec, &argv[1], true, false);
}

KV_HANDLER(kv_command_hvals)
{
    (void)argc;
    return kv_hash_reply_all(exec, &argv[1], false, true);
}

KV_HANDLER(kv_command_hdel)
{
    return kv_member_remove(exec, argc, argv, KV_TYPE_HASH);
}

KV_HANDLER(kv_command_hexists)
{
    (void)argc;
    struct kv_record record;
    int found = kv_hash_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    bool exists = false;
    if (found == KV_LOOKUP_FOUND) {
        int result = kv_member_contains(exec, record.id, &argv[2], &exists);
        if (result != 0) {
            return result;
        }
    }
    exec->reply->integer(exec->reply->context, exists ? 1 : 0);
    return 0;
}

KV_HANDLER(kv_command_hlen)
{
    (void)argc;
    struct kv_record record;
    int found = kv_hash_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    exec->reply->integer(exec->reply->context,
                         found == KV_LOOKUP_FOUND ? (int64_t)record.count : 0);
    return 0;
}

KV_HANDLER(kv_command_hstrlen)
{
    (void)argc;
    struct kv_record record;
    int found = kv_hash_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    MDB_val value;
    bool exists = false;
    if (found == KV_LOOKUP_FOUND) {
        int result = kv_hash_get(exec, &record, &argv[2], &value, &exists);
        if (result != 0) {
            return result;
        }
    }
    exec->reply->integer(exec->reply->context, exists ? (int64_t)value.mv_size : 0);
    return 0;
}

/* What HINCRBY and HINCRBYFLOAT share: the length checks, then the hash (a new one for a
 * missing key) and the field's current value (*exists false when absent). Returns the lookup's
 * result, a negative error, or KV_LOOKUP_WRONG_TYPE whenever an error was replied (WRONGTYPE,
 * or a key or field too long). */
static int kv_hash_increment_target(struct kv_exec *exec, const struct kv_arg *argv,
                                    struct kv_record *record, MDB_val *current, bool *exists)
{
    *exists = false;
    if (!kv_key_writable(exec, &argv[1]) || !kv_member_writable(exec, &argv[2])) {
        return KV_LOOKUP_WRONG_TYPE;
    }
    int found = kv_hash_for_write(exec, &argv[1], record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found;
    }
    int result = kv_hash_get(exec, record, &argv[2], current, exists);
    return result != 0 ? result : found;
}

/* Stores a field's new value (text that lives outside the map) and replies nothing. */
static int kv_hash_store_field(struct kv_exec *exec, const struct kv_arg *key,
                               struct kv_record *record, const struct kv_arg *field,
                               const char *text, size_t text_bytes)
{
    bool added;
    int result = kv_hash_put(exec, record, field, (const uint8_t *)text, text_bytes, &added);
    if (result == 0) {
        result = kv_collection_store(exec, key, record);
    }
    return result;
}

KV_HANDLER(kv_command_hincrby)
{
    (void)argc;
    int64_t increment;
    if (!kv_parse_int64(argv[3].data, argv[3].data_bytes, &increment)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    struct kv_record record;
    MDB_val current;
    bool exists;
    int found = kv_hash_increment_target(exec, argv, &record, &current, &exists);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    int64_t value = 0;
    if (exists && !kv_parse_int64(current.mv_data, current.mv_size, &value)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_HASH_NOT_INTEGER);
        return 0;
    }
    if ((increment < 0 && value < 0 && increment < INT64_MIN - value) ||
        (increment > 0 && value > 0 && increment > INT64_MAX - value)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_OVERFLOW);
        return 0;
    }
    value += increment;
    char text[KV_INT64_TEXT_BYTES];
    size_t text_bytes = kv_format_int64(value, text);
    int result = kv_hash_store_field(exec, &argv[1], &record, &argv[2], text, text_bytes);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_HASH, "hincrby", &argv[1]);
        exec->reply->integer(exec->reply->context, value);
    }
    return result;
}

KV_HANDLER(kv_command_hincrbyfloat)
{
    (void)argc;
    long double increment;
    if (!kv_parse_long_double(&argv[3], &increment)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_FLOAT);
        return 0;
    }
    if (isinf(increment)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_INFINITE_INCR);
        return 0;
    }
    struct kv_record record;
    MDB_val current;
    bool exists;
    int found = kv_hash_increment_target(exec, argv, &record, &current, &exists);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    long double value = 0;
    struct kv_arg current_text = {.data = current.mv_data, .data_bytes = current.mv_size};
    if (exists && !kv_parse_long_double(&current_text, &value)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_HASH_NOT_FLOAT);
        return 0;
    }
    char text[KV_LONG_DOUBLE_TEXT_BYTES];
    size_t text_bytes;
    if (!kv_long_double_add(value, increment, text, &text_bytes)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NAN);
        return 0;
    }
    int result = kv_hash_store_field(exec, &argv[1], &record, &argv[2], text, text_bytes);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_HASH, "hincrbyfloat", &argv[1]);
        exec->reply->bulk(exec->reply->context, (const uint8_t *)text, text_bytes);
    }
    return result;
}

/* HRANDFIELD's count and WITHVALUES, checked as Redis does before the key is looked up.
 * Returns false after replying an error. */
static bool kv_hrandfield_options(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                  int64_t *count, bool *with_values)
{
    if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, count)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return false;
    }
    if (*count == INT64_MIN) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_LONG_RANGE);
        return false;
    }
    if (argc > 4 || (argc == 4 && !kv_arg_equals_nocase(&argv[3], "withvalues"))) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return false;
    }
    *with_values = argc == 4;
    if (*with_values && (*count < -INT64_MAX / 2 || *count > INT64_MAX / 2)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_COUNT_RANGE);
        return false;
    }
    return true;
}

KV_HANDLER(kv_command_hrandfield)
{
    int64_t count = 1;
    bool with_values = false;
    if (argc >= 3 && !kv_hrandfield_options(exec, argc, argv, &count, &with_values)) {
        return 0;
    }
    struct kv_record record;
    int found = kv_hash_lookup(exec, &argv[1], &record);
    if (found == KV_LOOKUP_ABSENT) {
        if (argc >= 3) {
            exec->reply->array(exec->reply->context, 0);
        } else {
            exec->reply->null(exec->reply->context);
        }
    }
    if (found != KV_LOOKUP_FOUND) {
        return found < 0 ? found : 0;
    }
    if (argc >= 3) {
        if (count == 0) {
            exec->reply->array(exec->reply->context, 0);
            return 0;
        }
        return kv_member_random_reply(exec, &record, count, with_values);
    }
    struct kv_member_cursor walk;
    int result = kv_member_cursor_open(exec, record.id, &walk);
    if (result == 0) {
        result = kv_member_random(exec, &walk);
    }
    if (result == 1) {
        kv_member_reply(exec, &walk, false);
        result = 0;
    }
    kv_member_cursor_close(&walk);
    return result;
}

KV_HANDLER(kv_command_hscan)
{
    return kv_member_scan(exec, argc, argv, KV_TYPE_HASH);
}
