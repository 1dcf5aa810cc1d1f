/*
 * set.c — the set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP,
 * SRANDMEMBER, SMOVE, SINTER, SUNION, SDIFF, SINTERSTORE, SUNIONSTORE, SDIFFSTORE, SINTERCARD,
 * SSCAN.
 *
 * Happy path: a set is a record (its id and member count) and one item per member under
 * id + hash(member) + member, with an empty value (hash.h's layout, shared with hashes).
 * Adding or removing a member is one B-tree operation; a set that loses its last member is
 * deleted (kv_collection_store), as in Redis. SPOP and SRANDMEMBER pick with one seek per
 * member (hash.c says how, and why the picks are not exactly uniform); SPOP draws with the
 * entry's kv_random, so every replica pops the same members.
 *
 * The algebra. Every set is stored in hash order, so:
 *   - SINTER walks the smallest set and keeps the members every other set holds (one lookup
 *     per member and set); SINTERCARD does the same and stops at LIMIT;
 *   - SDIFF walks the first set and keeps the members no other set holds;
 *   - SUNION merges the sets' walks (a heap of cursors, all in the same order), so equal
 *     members meet and are replied once, with no memory but the cursors;
 *   - the STORE forms read every source's record before anything is written (the destination
 *     may be a source: its items stay readable under its old id until the trash collector
 *     runs, after the entry), delete the destination, and build a new set under a new id;
 *     SUNIONSTORE walks each source in turn and lets the new set's own lookups drop repeats.
 * A read reply needs its count first, so the read forms run twice in their transaction (count,
 * then emit); both runs see the same snapshot and agree.
 *
 * Failure modes: every client error (syntax, WRONGTYPE, a member longer than
 * KV_MAX_MEMBER_BYTES, a key longer than KV_MAX_KEY_BYTES) is found before the first write, so
 * a failed command changes nothing; a negative result is a storage failure.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "kv/hash.h"
#include "kv/set.h"

#define KV_ERROR_TEXT_NOT_POSITIVE   "ERR value is out of range, must be positive"
#define KV_ERROR_TEXT_NUMKEYS        "ERR numkeys should be greater than 0"
#define KV_ERROR_TEXT_NUMKEYS_ARGS   "ERR Number of keys can't be greater than number of args"
#define KV_ERROR_TEXT_LIMIT_NEGATIVE "ERR LIMIT can't be negative"

/* kv_lookup for a set; replies WRONGTYPE itself when the key holds another type. */
static int kv_set_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record)
{
    int found = kv_lookup(exec, key, KV_TYPE_SET, record);
    if (found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
    }
    return found;
}

/* Adds a member (checked by kv_member_writable) to a set, counting it when new. */
static int kv_set_add(struct kv_exec *exec, struct kv_record *record, const struct kv_item_key *key,
                      bool *added)
{
    MDB_val old;
    bool found;
    int result = kv_item_get(exec, key, &old, &found);
    if (result == 0 && !found) {
        result = kv_item_put(exec, key, NULL, 0);
    }
    if (result == 0 && !found) {
        record->count++;
    }
    *added = result == 0 && !found;
    return result;
}

/* ---- SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD ------------------------------------- */

KV_HANDLER(kv_command_sadd)
{
    if (!kv_key_writable(exec, &argv[1])) {
        return 0;
    }
    for (size_t i = 2; i < argc; i++) {
        if (!kv_member_writable(exec, &argv[i])) {
            return 0;
        }
    }
    struct kv_record record;
    int found = kv_set_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    if (found == KV_LOOKUP_ABSENT) {
        kv_collection_new(exec, KV_TYPE_SET, &record);
    }
    int64_t added = 0;
    for (size_t i = 2; i < argc; i++) {
        struct kv_item_key key;
        bool built = kv_member_key(&key, record.id, &argv[i]);
        assert(built);
        (void)built;
        bool is_new;
        int result = kv_set_add(exec, &record, &key, &is_new);
        if (result != 0) {
            return result;
        }
        added += is_new ? 1 : 0;
    }
    if (added > 0) {
        int result = kv_collection_store(exec, &argv[1], &record);
        if (result != 0) {
            return result;
        }
        kv_notify(exec, KV_NOTIFY_SET, "sadd", &argv[1]);
    }
    exec->reply->integer(exec->reply->context, added);
    return 0;
}

KV_HANDLER(kv_command_srem)
{
    return kv_member_remove(exec, argc, argv, KV_TYPE_SET);
}

KV_HANDLER(kv_command_smembers)
{
    (void)argc;
    struct kv_record record;
    int found = kv_set_lookup(exec, &argv[1], &record);
    if (found == KV_LOOKUP_ABSENT) {
        exec->reply->set(exec->reply->context, 0);
    }
    if (found != KV_LOOKUP_FOUND) {
        return found < 0 ? found : 0;
    }
    return kv_member_reply_all(exec, &record, KV_SHAPE_SET, true, false);
}

/* SISMEMBER and SMISMEMBER: 1 or 0 for each member from argv[2]; `array` for SMISMEMBER. */
static int kv_set_is_member(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                            bool array)
{
    struct kv_record record;
    int found = kv_set_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    if (array) {
        exec->reply->array(exec->reply->context, argc - 2);
    }
    for (size_t i = 2; i < argc; i++) {
        bool member = false;
        if (found == KV_LOOKUP_FOUND) {
            int result = kv_member_contains(exec, record.id, &argv[i], &member);
            if (result != 0) {
                return result;
            }
        }
        exec->reply->integer(exec->reply->context, member ? 1 : 0);
    }
    return 0;
}

KV_HANDLER(kv_command_sismember)
{
    return kv_set_is_member(exec, argc, argv, false);
}

KV_HANDLER(kv_command_smismember)
{
    return kv_set_is_member(exec, argc, argv, true);
}

KV_HANDLER(kv_command_scard)
{
    (void)argc;
    struct kv_record record;
    int found = kv_set_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    exec->reply->integer(exec->reply->context,
                         found == KV_LOOKUP_FOUND ? (int64_t)record.count : 0);
    return 0;
}

/* ---- SPOP, SRANDMEMBER ---------------------------------------------------------------------- */

/* Pops `pops` members (fewer than the set holds), each drawn from those left: one seek, one
 * reply and one delete each, so they are distinct. */
static int kv_set_pop_some(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record,
                           uint64_t pops, bool array)
{
    assert(pops > 0 && pops < record->count);
    if (array) {
        exec->reply->set(exec->reply->context, (size_t)pops); /* SPOP with a count: a set */
    }
    struct kv_member_cursor walk;
    int result = kv_member_cursor_open(exec, record->id, &walk);
    for (uint64_t i = 0; i < pops && result == 0; i++) {
        result = kv_member_random(exec, &walk);
        if (result == 1) {
            kv_member_reply(exec, &walk, false); /* before the delete reuses the page */
            int rc = mdb_cursor_del(walk.cursor, 0);
            result = rc == 0 ? 0 : kv_storage_error(exec->kv, rc, "popping a member");
            kv_items_changed(exec, record->id);
            record->count--;
        }
    }
    kv_member_cursor_close(&walk);
    if (result == 0) {
        result = kv_collection_store(exec, key, record);
    }
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_SET, "spop", key);
    }
    return result;
}

KV_HANDLER(kv_command_spop)
{
    if (argc > 3) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    int64_t count = 1;
    if (argc == 3 && (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &count) || count < 0)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_POSITIVE);
        return 0;
    }
    struct kv_record record;
    int found = kv_set_lookup(exec, &argv[1], &record);
    if (found == KV_LOOKUP_ABSENT) {
        if (argc == 3) {
            exec->reply->set(exec->reply->context, 0);
        } else {
            exec->reply->null(exec->reply->context);
        }
    }
    if (found != KV_LOOKUP_FOUND) {
        return found < 0 ? found : 0;
    }
    if (count == 0) {
        exec->reply->set(exec->reply->context, 0);
        return 0;
    }
    if ((uint64_t)count < record.count) {
        return kv_set_pop_some(exec, &argv[1], &record, (uint64_t)count, argc == 3);
    }
    /* The whole set: reply it, then drop the key (its items go to the trash at once). */
    int result;
    if (argc == 3) {
        result = kv_member_reply_all(exec, &record, KV_SHAPE_SET, true, false);
    } else {
        struct kv_member_cursor walk;
        result = kv_member_cursor_open(exec, record.id, &walk);
        if (result == 0 && (result = kv_member_seek(exec, &walk, 0)) == 1) {
            kv_member_reply(exec, &walk, false);
            result = 0;
        }
        kv_member_cursor_close(&walk);
    }
    bool deleted;
    if (result == 0) {
        result = kv_key_delete(exec, &argv[1], &deleted);
    }
    if (result == 0) {
        kv_notify_removal(exec, KV_NOTIFY_SET, "spop", &argv[1], true);
    }
    return result;
}

KV_HANDLER(kv_command_srandmember)
{
    if (argc > 3) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    int64_t count = 1;
    if (argc == 3) {
        if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &count)) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
            return 0;
        }
        if (count == INT64_MIN) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_LONG_RANGE);
            return 0;
        }
    }
    struct kv_record record;
    int found = kv_set_lookup(exec, &argv[1], &record);
    if (found == KV_LOOKUP_ABSENT) {
        if (argc == 3) {
            exec->reply->array(exec->reply->context, 0);
        } else {
            exec->reply->null(exec->reply->context);
        }
    }
    if (found != KV_LOOKUP_FOUND) {
        return found < 0 ? found : 0;
    }
    if (argc == 3) {
        if (count == 0) {
            exec->reply->array(exec->reply->context, 0);
            return 0;
        }
        return kv_member_random_reply(exec, &record, count, false);
    }
    struct kv_member_cursor walk;
    int result = kv_member_cursor_open(exec, record.id, &walk);
    if (result == 0 && (result = kv_member_random(exec, &walk)) == 1) {
        kv_member_reply(exec, &walk, false);
        result = 0;
    }
    kv_member_cursor_close(&walk);
    return result;
}

/* ---- SMOVE ---------------------------------------------------------------------------------- */

static bool kv_arg_equal(const struct kv_arg *a, const struct kv_arg *b)
{
    return a->data_bytes == b->data_bytes &&
           (a->data_bytes == 0 || memcmp(a->data, b->data, a->data_bytes) == 0);
}

/* Moves a member known to be in `source` (and not the same key) into the destination. */
static int kv_set_move(struct kv_exec *exec, const struct kv_arg *argv, struct kv_record *source,
                       struct kv_record *destination, bool destination_exists)
{
    struct kv_item_key key;
    bool built = kv_member_key(&key, source->id, &argv[3]);
    assert(built);
    (void)built;
    bool deleted;
    int result = kv_item_delete(exec, &key, &deleted);
    if (result != 0) {
        return result;
    }
    assert(deleted && source->count > 0);
    source->count--;
    result = kv_collection_store(exec, &argv[1], source);
    if (result != 0) {
        return result;
    }
    kv_notify_removal(exec, KV_NOTIFY_SET, "srem", &argv[1], source->count == 0);
    if (!destination_exists) {
        kv_collection_new(exec, KV_TYPE_SET, destination);
    }
    kv_member_key(&key, destination->id, &argv[3]);
    bool added;
    result = kv_set_add(exec, destination, &key, &added);
    if (result == 0 && added) {
        result = kv_collection_store(exec, &argv[2], destination);
        if (result == 0) {
            kv_notify(exec, KV_NOTIFY_SET, "sadd", &argv[2]);
        }
    }
    return result;
}

KV_HANDLER(kv_command_smove)
{
    (void)argc;
    /* As Redis: both keys are looked up, then a missing source answers 0 before either type
     * is checked. */
    struct kv_record source, destination;
    int source_found = kv_lookup(exec, &argv[1], KV_TYPE_SET, &source);
    if (source_found < 0) {
        return source_found;
    }
    int destination_found = kv_lookup(exec, &argv[2], KV_TYPE_SET, &destination);
    if (destination_found < 0) {
        return destination_found;
    }
    if (source_found == KV_LOOKUP_ABSENT) {
        exec->reply->integer(exec->reply->context, 0);
        return 0;
    }
    if (source_found == KV_LOOKUP_WRONG_TYPE || destination_found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
        return 0;
    }
    bool member;
    int result = kv_member_contains(exec, source.id, &argv[3], &member);
    if (result != 0) {
        return result;
    }
    if (!member || kv_arg_equal(&argv[1], &argv[2])) {
        exec->reply->integer(exec->reply->context, member ? 1 : 0);
        return 0;
    }
    if (!kv_key_writable(exec, &argv[2])) {
        return 0;
    }
    result = kv_set_move(exec, argv, &source, &destination, destination_found == KV_LOOKUP_FOUND);
    if (result == 0) {
        exec->reply->integer(exec->reply->context, 1);
    }
    return result;
}

/* ---- the algebra ---------------------------------------------------------------------------- */

enum kv_set_operation {
    KV_SET_INTER,
    KV_SET_UNION,
    KV_SET_DIFF,
};

/* The source sets, looked up once before anything is computed; a missing key has count 0. */
struct kv_set_sources {
    size_t count;
    struct kv_record *records;
};

/* Where the members of a result go. */
enum kv_set_sink {
    KV_SET_SINK_COUNT, /* counted only */
    KV_SET_SINK_EMIT,  /* replied as bulk strings */
    KV_SET_SINK_STORE, /* added to `destination` (which drops repeats) */
};

struct kv_set_result {
    enum kv_set_sink sink;
    uint64_t count; /* members taken so far (stored ones: the destination's count) */
    uint64_t limit; /* stop once count reaches it; 0: no limit */
    struct kv_record *destination;
};

/* Looks up keys[0..count) as sets. Returns 0, 1 after replying WRONGTYPE (nothing kept), or a
 * negative error. */
static int kv_set_sources_load(struct kv_exec *exec, const struct kv_arg *keys, size_t count,
                               struct kv_set_sources *sources)
{
    assert(count > 0);
    sources->count = count;
    sources->records = calloc(count, sizeof sources->records[0]);
    if (sources->records == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    for (size_t i = 0; i < count; i++) {
        int found = kv_lookup(exec, &keys[i], KV_TYPE_SET, &sources->records[i]);
        if (found == KV_LOOKUP_FOUND) {
            continue;
        }
        if (found == KV_LOOKUP_ABSENT) {
            memset(&sources->records[i], 0, sizeof sources->records[i]);
            continue;
        }
        free(sources->records);
        sources->records = NULL;
        if (found == KV_LOOKUP_WRONG_TYPE) {
            kv_reply_wrong_type(exec);
            return 1;
        }
        return found;
    }
    return 0;
}

/* Takes one member of the result (`item` is its item key in a source). Returns 1 when the
 * result is complete (its limit reached), 0 to go on, or a negative error. A stored member
 * is written: the caller's map pointers are stale afterwards. */
static int kv_set_take(struct kv_exec *exec, struct kv_set_result *result, const MDB_val *item)
{
    if (result->sink == KV_SET_SINK_STORE) {
        struct kv_item_key key;
        kv_member_key_rebase(&key, result->destination->id, item);
        bool added;
        int stored = kv_set_add(exec, result->destination, &key, &added);
        if (stored != 0) {
            return stored;
        }
        result->count = result->destination->count;
        return 0;
    }
    if (result->sink == KV_SET_SINK_EMIT) {
        struct kv_arg member = kv_member_of(item);
        exec->reply->bulk(exec->reply->context, member.data, member.data_bytes);
    }
    result->count++;
    return result->limit != 0 && result->count >= result->limit ? 1 : 0;
}

/* Whether a member of the walked set `driver` belongs to the result: for SINTER, held by every
 * other source; for SDIFF (driver 0), held by none of the others. */
static int kv_set_keeps(struct kv_exec *exec, const struct kv_set_sources *sources, size_t driver,
                        enum kv_set_operation operation, const struct kv_arg *member, bool *keep)
{
    *keep = true;
    for (size_t i = 0; i < sources->count && *keep; i++) {
        const struct kv_record *other = &sources->records[i];
        if (i == driver || other->count == 0) {
            continue; /* SINTER has no missing source here; SDIFF ignores them */
        }
        bool held = other->id == sources->records[driver].id;
        if (!held) {
            int result = kv_member_contains(exec, other->id, member, &held);
            if (result != 0) {
                return result;
            }
        }
        *keep = operation == KV_SET_INTER ? held : !held;
    }
    return 0;
}

/* Walks one set, taking the members that `keep` (NULL: all of them). After a stored member
 * the walk resumes from a copy of its key, since the write may have moved the map's pages. */
static int kv_set_walk(struct kv_exec *exec, const struct kv_set_sources *sources, size_t driver,
                       const enum kv_set_operation *filter, struct kv_set_result *result)
{
    struct kv_member_cursor walk;
    int outcome = kv_member_cursor_open(exec, sources->records[driver].id, &walk);
    if (outcome != 0) {
        return outcome;
    }
    int positioned = kv_member_seek(exec, &walk, 0);
    while (positioned == 1) {
        bool keep = true;
        if (filter != NULL) {
            struct kv_arg member = kv_member_of(&walk.key);
            positioned = kv_set_keeps(exec, sources, driver, *filter, &member, &keep);
            if (positioned != 0) {
                break;
            }
        }
        if (!keep) {
            positioned = kv_member_next(exec, &walk);
            continue;
        }
        struct kv_item_key last;
        if (result->sink == KV_SET_SINK_STORE) {
            assert(walk.key.mv_size <= sizeof last.bytes);
            memcpy(last.bytes, walk.key.mv_data, walk.key.mv_size);
            last.bytes_used = walk.key.mv_size;
        }
        int taken = kv_set_take(exec, result, &walk.key);
        if (taken != 0) {
            positioned = taken < 0 ? taken : 0;
            break;
        }
        positioned = result->sink == KV_SET_SINK_STORE ? kv_member_resume(exec, &walk, &last)
                                                       : kv_member_next(exec, &walk);
    }
    kv_member_cursor_close(&walk);
    return positioned < 0 ? positioned : 0;
}

/* ---- SUNION's merge ---- */

/* The sources' cursors as a binary min-heap on their current member (the item key after the
 * id: hash, then member bytes — the order every set is stored in). */
struct kv_set_merge {
    struct kv_member_cursor *cursors;
    size_t *heap;
    size_t size;
};

static int kv_set_suffix_compare(const MDB_val *a, const MDB_val *b)
{
    size_t a_bytes = a->mv_size - KV_ID_BYTES;
    size_t b_bytes = b->mv_size - KV_ID_BYTES;
    int order =
        memcmp((const uint8_t *)a->mv_data + KV_ID_BYTES, (const uint8_t *)b->mv_data + KV_ID_BYTES,
               a_bytes < b_bytes ? a_bytes : b_bytes);
    if (order != 0) {
        return order;
    }
    return a_bytes < b_bytes ? -1 : a_bytes > b_bytes ? 1 : 0;
}

static bool kv_set_merge_less(const struct kv_set_merge *merge, size_t a, size_t b)
{
    return kv_set_suffix_compare(&merge->cursors[merge->heap[a]].key,
                                 &merge->cursors[merge->heap[b]].key) < 0;
}

static void kv_set_merge_sift_down(struct kv_set_merge *merge, size_t at)
{
    for (;;) {
        size_t smallest = at;
        size_t left = 2 * at + 1;
        size_t right = left + 1;
        if (left < merge->size && kv_set_merge_less(merge, left, smallest)) {
            smallest = left;
        }
        if (right < merge->size && kv_set_merge_less(merge, right, smallest)) {
            smallest = right;
        }
        if (smallest == at) {
            return;
        }
        size_t swap = merge->heap[at];
        merge->heap[at] = merge->heap[smallest];
        merge->heap[smallest] = swap;
        at = smallest;
    }
}

/* Opens a cursor on each present source, at its first member, and heapifies. */
static int kv_set_merge_open(struct kv_exec *exec, const struct kv_set_sources *sources,
                             struct kv_set_merge *merge)
{
    merge->size = 0;
    merge->cursors = calloc(sources->count, sizeof merge->cursors[0]);
    merge->heap = calloc(sources->count, sizeof merge->heap[0]);
    if (merge->cursors == NULL || merge->heap == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    for (size_t i = 0; i < sources->count; i++) {
        if (sources->records[i].count == 0) {
            continue;
        }
        int positioned = kv_member_cursor_open(exec, sources->records[i].id, &merge->cursors[i]);
        if (positioned == 0) {
            positioned = kv_member_seek(exec, &merge->cursors[i], 0);
        }
        if (positioned < 0) {
            return positioned;
        }
        if (positioned == 1) {
            merge->heap[merge->size++] = i;
        }
    }
    for (size_t at = merge->size / 2; at-- > 0;) {
        kv_set_merge_sift_down(merge, at);
    }
    return 0;
}

static void kv_set_merge_close(struct kv_set_merge *merge, size_t count)
{
    for (size_t i = 0; merge->cursors != NULL && i < count; i++) {
        kv_member_cursor_close(&merge->cursors[i]);
    }
    free(merge->cursors);
    free(merge->heap);
}

/* SUNION for a read: the smallest current member is taken unless it equals the last one
 * taken; its cursor then moves on. Nothing is written, so the map pointers stay valid. */
static int kv_set_union_merge(struct kv_exec *exec, const struct kv_set_sources *sources,
                              struct kv_set_result *result)
{
    assert(result->sink != KV_SET_SINK_STORE);
    struct kv_set_merge merge;
    int outcome = kv_set_merge_open(exec, sources, &merge);
    MDB_val last = {.mv_size = 0, .mv_data = NULL};
    while (outcome == 0 && merge.size > 0) {
        struct kv_member_cursor *top = &merge.cursors[merge.heap[0]];
        if (last.mv_data == NULL || kv_set_suffix_compare(&top->key, &last) != 0) {
            last = top->key;
            outcome = kv_set_take(exec, result, &top->key);
        }
        int positioned = outcome == 0 ? kv_member_next(exec, top) : 0;
        if (positioned < 0) {
            outcome = positioned;
        } else if (positioned == 0) {
            merge.heap[0] = merge.heap[--merge.size];
        }
        kv_set_merge_sift_down(&merge, 0);
    }
    kv_set_merge_close(&merge, sources->count);
    return outcome < 0 ? outcome : 0;
}

/* Runs one operation over the loaded sources into `result`. */
static int kv_set_run(struct kv_exec *exec, const struct kv_set_sources *sources,
                      enum kv_set_operation operation, struct kv_set_result *result)
{
    const struct kv_record *records = sources->records;
    if (operation == KV_SET_UNION) {
        if (result->sink != KV_SET_SINK_STORE) {
            return kv_set_union_merge(exec, sources, result);
        }
        for (size_t i = 0; i < sources->count; i++) {
            if (records[i].count > 0) {
                int outcome = kv_set_walk(exec, sources, i, NULL, result);
                if (outcome != 0) {
                    return outcome;
                }
            }
        }
        return 0;
    }
    size_t driver = 0;
    if (operation == KV_SET_INTER) {
        for (size_t i = 0; i < sources->count; i++) {
            if (records[i].count == 0) {
                return 0; /* a missing set: the intersection is empty */
            }
            driver = records[i].count < records[driver].count ? i : driver;
        }
    }
    if (records[driver].count == 0) {
        return 0; /* SDIFF from a missing set */
    }
    return kv_set_walk(exec, sources, driver, &operation, result);
}

/* SINTER, SUNION, SDIFF: the result of keys[0..count), counted then replied. */
static int kv_set_operation_reply(struct kv_exec *exec, const struct kv_arg *keys, size_t count,
                                  enum kv_set_operation operation)
{
    struct kv_set_sources sources;
    int outcome = kv_set_sources_load(exec, keys, count, &sources);
    if (outcome != 0) {
        return outcome < 0 ? outcome : 0;
    }
    struct kv_set_result result = {.sink = KV_SET_SINK_COUNT};
    outcome = kv_set_run(exec, &sources, operation, &result);
    if (outcome == 0) {
        uint64_t counted = result.count;
        exec->reply->set(exec->reply->context, (size_t)counted);
        result = (struct kv_set_result){.sink = KV_SET_SINK_EMIT};
        outcome = kv_set_run(exec, &sources, operation, &result);
        assert(outcome != 0 || result.count == counted);
    }
    free(sources.records);
    return outcome;
}

/* SINTERSTORE, SUNIONSTORE, SDIFFSTORE: argv[1] is replaced by the result of argv[2..]. */
static int kv_set_operation_store(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                  enum kv_set_operation operation)
{
    if (!kv_key_writable(exec, &argv[1])) {
        return 0;
    }
    struct kv_set_sources sources;
    int outcome = kv_set_sources_load(exec, &argv[2], argc - 2, &sources);
    if (outcome != 0) {
        return outcome < 0 ? outcome : 0;
    }
    bool deleted;
    outcome = kv_key_delete(exec, &argv[1], &deleted);
    struct kv_record destination;
    kv_collection_new(exec, KV_TYPE_SET, &destination);
    struct kv_set_result result = {.sink = KV_SET_SINK_STORE, .destination = &destination};
    if (outcome == 0) {
        outcome = kv_set_run(exec, &sources, operation, &result);
    }
    if (outcome == 0) {
        outcome = kv_collection_store(exec, &argv[1], &destination); /* none: the key stays gone */
    }
    if (outcome == 0) {
        static const char *const events[] = {
            [KV_SET_INTER] = "sinterstore",
            [KV_SET_UNION] = "sunionstore",
            [KV_SET_DIFF] = "sdiffstore",
        };
        if (destination.count > 0) {
            kv_notify(exec, KV_NOTIFY_SET, events[operation], &argv[1]);
        } else if (deleted) {
            kv_notify(exec, KV_NOTIFY_GENERIC, "del", &argv[1]);
        }
        exec->reply->integer(exec->reply->context, (int64_t)destination.count);
    }
    free(sources.records);
    return outcome;
}

KV_HANDLER(kv_command_sinter)
{
    return kv_set_operation_reply(exec, &argv[1], argc - 1, KV_SET_INTER);
}

KV_HANDLER(kv_command_sunion)
{
    return kv_set_operation_reply(exec, &argv[1], argc - 1, KV_SET_UNION);
}

KV_HANDLER(kv_command_sdiff)
{
    return kv_set_operation_reply(exec, &argv[1], argc - 1, KV_SET_DIFF);
}

KV_HANDLER(kv_command_sinterstore)
{
    return kv_set_operation_store(exec, argc, argv, KV_SET_INTER);
}

KV_HANDLER(kv_command_sunionstore)
{
    return kv_set_operation_store(exec, argc, argv, KV_SET_UNION);
}

KV_HANDLER(kv_command_sdiffstore)
{
    return kv_set_operation_store(exec, argc, argv, KV_SET_DIFF);
}

/* SINTERCARD numkeys key [key ...] [LIMIT limit], checked in Redis's order before any key is
 * looked up. Returns false after replying an error. */
static bool kv_sintercard_options(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                  size_t *keys, uint64_t *limit)
{
    int64_t numkeys;
    if (!kv_parse_int64(argv[1].data, argv[1].data_bytes, &numkeys) || numkeys < 1) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NUMKEYS);
        return false;
    }
    if ((uint64_t)numkeys > argc - 2) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NUMKEYS_ARGS);
        return false;
    }
    *keys = (size_t)numkeys;
    *limit = 0;
    for (size_t i = 2 + *keys; i < argc; i++) {
        if (!kv_arg_equals_nocase(&argv[i], "limit") || i + 1 >= argc) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
        int64_t value;
        i++;
        if (!kv_parse_int64(argv[i].data, argv[i].data_bytes, &value) || value < 0) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_LIMIT_NEGATIVE);
            return false;
        }
        *limit = (uint64_t)value;
    }
    return true;
}

KV_HANDLER(kv_command_sintercard)
{
    size_t keys;
    uint64_t limit;
    if (!kv_sintercard_options(exec, argc, argv, &keys, &limit)) {
        return 0;
    }
    struct kv_set_sources sources;
    int outcome = kv_set_sources_load(exec, &argv[2], keys, &sources);
    if (outcome != 0) {
        return outcome < 0 ? outcome : 0;
    }
    struct kv_set_result result = {.sink = KV_SET_SINK_COUNT, .limit = limit};
    outcome = kv_set_run(exec, &sources, KV_SET_INTER, &result);
    if (outcome == 0) {
        exec->reply->integer(exec->reply->context, (int64_t)result.count);
    }
    free(sources.records);
    return outcome;
}

KV_HANDLER(kv_command_sscan)
{
    return kv_member_scan(exec, argc, argv, KV_TYPE_SET);
}
