/*
 * list.c — the list commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP and RPOP (with a count), LLEN,
 * LRANGE, LINDEX, LSET, LINSERT, LREM, LTRIM, LPOS (RANK, COUNT, MAXLEN), LMOVE, RPOPLPUSH and
 * LMPOP, and kv_list_pop / kv_list_move, which the blocking variants build on (list.h).
 *
 * Happy path: each handler parses its arguments, finds the list's record, reads or moves its
 * elements and replies exactly what Redis 7.0 replies, in the order Redis checks things (an
 * LRANGE parses its integers before it looks the key up, an LINDEX after). Failure modes: every
 * error a client can cause is found before the first write, so a failed command changes
 * nothing; a key of another type gets WRONGTYPE; an element missing inside a list's run of
 * positions is corruption (KV_ERROR_CORRUPT); any other negative result is a storage failure
 * and the caller aborts the transaction.
 *
 * Positions. A list's elements are items under its id keyed by a u64 big-endian position, and
 * they occupy head .. head + count - 1 without gaps (docs/storage.md), so the element at index
 * i is at head + i: LINDEX, LSET, and a push or a pop at either end are one B-tree operation
 * each, and LRANGE is one seek and a cursor walk. A new list starts at KV_LIST_MIDDLE, a push
 * on the left takes head - 1 and one on the right head + count, which leaves 2^63 positions on
 * each side — more pushes than any log will hold. Keeping the run contiguous has a price where
 * Redis pays it too: LINSERT and LREM move elements, always the shorter side of the change;
 * LTRIM deletes what it drops, or, when it keeps less than it drops, copies what it keeps
 * under a fresh id and leaves the old id to the trash collector (record.c), so its work is the
 * smaller of the two. A list emptied by a command is deleted as a whole (count 0), its items
 * freed later by the trash collector rather than one by one here.
 *
 * Map pointers. An element read from the items database points into LMDB's map and is valid
 * only until the next write in the transaction: every reply of elements is sent before the
 * command writes, and an element that moves (LINSERT, LREM, LTRIM's copy, LMOVE) is copied to
 * kv->scratch first, since LMDB must never be handed its own map as the data of a put.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kv/list.h"

#define KV_LIST_POSITION_BYTES 8

#define KV_ERROR_TEXT_INDEX_RANGE  "ERR index out of range"
#define KV_ERROR_TEXT_NO_SUCH_KEY  "ERR no such key"
#define KV_ERROR_TEXT_NOT_POSITIVE "ERR value is out of range, must be positive"
#define KV_ERROR_TEXT_RANK_ZERO                                                                    \
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use "   \
    "negative to start from the end of the list"
#define KV_ERROR_TEXT_COUNT_NEGATIVE  "ERR COUNT can't be negative"
#define KV_ERROR_TEXT_MAXLEN_NEGATIVE "ERR MAXLEN can't be negative"

/* ---- elements by position ------------------------------------------------------------------ */

static uint64_t kv_list_position(const struct kv_record *record, uint64_t index)
{
    return record->head + index;
}

static void kv_list_item(struct kv_item_key *key, uint64_t id, uint64_t position)
{
    uint8_t suffix[KV_LIST_POSITION_BYTES];
    kv_put_be64(suffix, position);
    kv_item_key(key, id, suffix, sizeof suffix);
}

static int kv_list_corrupt(struct kv_exec *exec, uint64_t id, uint64_t position)
{
    snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES,
             "list %llu has no element at position %llu", (unsigned long long)id,
             (unsigned long long)position);
    return KV_ERROR_CORRUPT;
}

/* The element at `position` of list `id`, pointing into the map (valid until the next write). */
static int kv_list_get(struct kv_exec *exec, uint64_t id, uint64_t position, MDB_val *value)
{
    struct kv_item_key key;
    kv_list_item(&key, id, position);
    bool found;
    int result = kv_item_get(exec, &key, value, &found);
    if (result == 0 && !found) {
        result = kv_list_corrupt(exec, id, position);
    }
    return result;
}

static int kv_list_put(struct kv_exec *exec, uint64_t id, uint64_t position, const uint8_t *data,
                       size_t data_bytes)
{
    static const uint8_t empty[1];
    struct kv_item_key key;
    kv_list_item(&key, id, position);
    return kv_item_put(exec, &key, data_bytes > 0 ? data : empty, data_bytes);
}

static int kv_list_delete(struct kv_exec *exec, uint64_t id, uint64_t position)
{
    struct kv_item_key key;
    kv_list_item(&key, id, position);
    bool deleted;
    int result = kv_item_delete(exec, &key, &deleted);
    if (result == 0 && !deleted) {
        result = kv_list_corrupt(exec, id, position);
    }
    return result;
}

/* Copies an element into kv->scratch, from where it may be written back to the items. */
static int kv_list_stash(struct kv_exec *exec, const MDB_val *value)
{
    int result = kv_buffer_reserve(&exec->kv->scratch, value->mv_size);
    if (result == 0 && value->mv_size > 0) {
        memcpy(exec->kv->scratch.data, value->mv_data, value->mv_size);
    }
    return result;
}

/* Copies the element at position `from` of list from_id to position `to` of list to_id. */
static int kv_list_copy(struct kv_exec *exec, uint64_t from_id, uint64_t from, uint64_t to_id,
                        uint64_t to)
{
    MDB_val value;
    int result = kv_list_get(exec, from_id, from, &value);
    if (result == 0) {
        result = kv_list_stash(exec, &value);
    }
    if (result == 0) {
        result = kv_list_put(exec, to_id, to, exec->kv->scratch.data, value.mv_size);
    }
    return result;
}

static bool kv_list_value_equals(const MDB_val *value, const struct kv_arg *element)
{
    return value->mv_size == element->data_bytes &&
           (element->data_bytes == 0 ||
            memcmp(value->mv_data, element->data, element->data_bytes) == 0);
}

/* ---- walks: one seek, then one cursor step per element ----------------------------------------
 */

struct kv_list_walk {
    MDB_cursor *cursor;
    const struct kv_record *record;
    uint64_t index;     /* of the next element to visit */
    uint64_t remaining; /* elements left to visit */
    bool backward;      /* towards the head */
    bool started;       /* the cursor has been positioned */
};

/* Opens a walk over `length` elements from `index`, towards the tail or (backward) the head.
 * No write may happen while it is open; kv_list_walk_close ends it. */
static int kv_list_walk_open(struct kv_exec *exec, struct kv_list_walk *walk,
                             const struct kv_record *record, uint64_t index, uint64_t length,
                             bool backward)
{
    assert(length == 0 || index < record->count);
    assert(length <= (backward ? index + 1 : record->count - index));
    *walk = (struct kv_list_walk){
        .record = record, .index = index, .remaining = length, .backward = backward};
    return kv_item_cursor(exec, &walk->cursor);
}

static void kv_list_walk_close(struct kv_list_walk *walk)
{
    mdb_cursor_close(walk->cursor);
}

/* Steps to the next element: returns 1 with *value (into the map) and *index, 0 at the end of
 * the walk, or a negative error. An item that is not the expected position is corruption. */
static int kv_list_walk_next(struct kv_exec *exec, struct kv_list_walk *walk, MDB_val *value,
                             uint64_t *index)
{
    if (walk->remaining == 0) {
        return 0;
    }
    uint64_t position = kv_list_position(walk->record, walk->index);
    struct kv_item_key expected;
    kv_list_item(&expected, walk->record->id, position);
    MDB_val key = {.mv_size = expected.bytes_used, .mv_data = expected.bytes};
    MDB_cursor_op op = !walk->started ? MDB_SET_KEY : walk->backward ? MDB_PREV : MDB_NEXT;
    int rc = mdb_cursor_get(walk->cursor, &key, value, op);
    walk->started = true;
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return kv_storage_error(exec->kv, rc, "walking a list");
    }
    if (rc == MDB_NOTFOUND || key.mv_size != expected.bytes_used ||
        memcmp(key.mv_data, expected.bytes, expected.bytes_used) != 0) {
        return kv_list_corrupt(exec, walk->record->id, position);
    }
    *index = walk->index;
    walk->remaining--;
    if (walk->remaining > 0) {
        walk->index = walk->backward ? walk->index - 1 : walk->index + 1;
    }
    return 1;
}

/* Replies `length` elements as bulk strings, from `index` on, towards the tail or the head. */
static int kv_list_reply_range(struct kv_exec *exec, const struct kv_record *record, uint64_t index,
                               uint64_t length, bool backward)
{
    struct kv_list_walk walk;
    int result = kv_list_walk_open(exec, &walk, record, index, length, backward);
    if (result != 0) {
        return result;
    }
    MDB_val value;
    uint64_t at;
    while ((result = kv_list_walk_next(exec, &walk, &value, &at)) == 1) {
        kv_reply_value(exec, &value);
    }
    kv_list_walk_close(&walk);
    return result;
}

/* The index of the first element equal to `element`, walking from the head. */
static int kv_list_find(struct kv_exec *exec, const struct kv_record *record,
                        const struct kv_arg *element, uint64_t *index, bool *found)
{
    struct kv_list_walk walk;
    *found = false;
    int result = kv_list_walk_open(exec, &walk, record, 0, record->count, false);
    if (result != 0) {
        return result;
    }
    MDB_val value;
    while ((result = kv_list_walk_next(exec, &walk, &value, index)) == 1) {
        if (kv_list_value_equals(&value, element)) {
            *found = true;
            result = 0;
            break;
        }
    }
    kv_list_walk_close(&walk);
    return result;
}

/* ---- arguments and lookups ----------------------------------------------------------------- */

/* kv_lookup for a list; replies WRONGTYPE itself when the key holds another type. */
static int kv_list_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record)
{
    int found = kv_lookup(exec, key, KV_TYPE_LIST, record);
    if (found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
    }
    return found;
}

/* Elements are LMDB values, so they may be as large as a string's value. */
static bool kv_list_elements_allowed(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                     size_t first)
{
    for (size_t i = first; i < argc; i++) {
        if (argv[i].data_bytes > exec->kv->options.max_value_bytes) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_STRING_TOO_LONG);
            return false;
        }
    }
    return true;
}

static bool kv_list_parse_integer(struct kv_exec *exec, const struct kv_arg *arg, int64_t *value)
{
    if (!kv_parse_int64(arg->data, arg->data_bytes, value)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return false;
    }
    return true;
}

/* An integer of at least `minimum`; anything else gets `error` (Redis's texts for the option). */
static bool kv_list_parse_at_least(struct kv_exec *exec, const struct kv_arg *arg, int64_t minimum,
                                   const char *error, int64_t *value)
{
    if (!kv_parse_int64(arg->data, arg->data_bytes, value) || *value < minimum) {
        kv_reply_text_error(exec, error);
        return false;
    }
    return true;
}

/* A Redis index (negative counts from the tail) as an offset from the head; false outside. */
static bool kv_list_index(const struct kv_record *record, int64_t index, uint64_t *offset)
{
    if (index < 0) {
        uint64_t back = (uint64_t)0 - (uint64_t)index; /* INT64_MIN's magnitude too */
        if (back > record->count) {
            return false;
        }
        *offset = record->count - back;
        return true;
    }
    if ((uint64_t)index >= record->count) {
        return false;
    }
    *offset = (uint64_t)index;
    return true;
}

/* LRANGE's and LTRIM's reading of start and end: negative ones count from the tail, the range
 * is clamped to the list; false when it is empty. */
static bool kv_list_range(uint64_t count, int64_t start, int64_t end, uint64_t *from,
                          uint64_t *length)
{
    assert(count <= (uint64_t)INT64_MAX);
    int64_t size = (int64_t)count;
    if (start < 0) {
        start += size; /* cannot overflow: start < 0 <= size */
    }
    if (end < 0) {
        end += size;
    }
    if (start < 0) {
        start = 0;
    }
    if (start > end || start >= size) {
        return false;
    }
    if (end >= size) {
        end = size - 1;
    }
    *from = (uint64_t)start;
    *length = (uint64_t)(end - start) + 1;
    return true;
}

/* A null array: what Redis answers LPOP key count on a missing key and an LMPOP that found
 * nothing (RESP2's *-1). */
static void kv_list_reply_null_array(struct kv_exec *exec)
{
    exec->reply->null_array(exec->reply->context);
}

/* ---- pushes and pops ------------------------------------------------------------------------ */

/* Puts one element at the head (becoming the new head) or after the tail. */
static int kv_list_push_one(struct kv_exec *exec, struct kv_record *record, bool left,
                            const uint8_t *data, size_t data_bytes)
{
    /* 2^63 positions on either side of the middle: no log holds enough pushes to use them. */
    assert(!left || record->head > 0);
    assert(left || record->head + record->count < UINT64_MAX);
    uint64_t position = left ? record->head - 1 : record->head + record->count;
    int result = kv_list_put(exec, record->id, position, data, data_bytes);
    if (result == 0) {
        record->head = left ? position : record->head;
        record->count++;
    }
    return result;
}

/* Removes `removed` elements from the head or the tail, after they were replied. A list left
 * empty keeps its items: storing it with count 0 deletes the key and trashes them all. */
static int kv_list_remove_end(struct kv_exec *exec, struct kv_record *record, bool left,
                              uint64_t removed)
{
    assert(removed <= record->count);
    if (removed == record->count) {
        record->count = 0;
        return 0;
    }
    for (uint64_t i = 0; i < removed; i++) {
        uint64_t index = left ? i : record->count - 1 - i;
        int result = kv_list_delete(exec, record->id, kv_list_position(record, index));
        if (result != 0) {
            return result;
        }
    }
    record->head += left ? removed : 0;
    record->count -= removed;
    return 0;
}

static int kv_list_push_command(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                bool left, bool existing_only)
{
    const struct kv_arg *key = &argv[1];
    if (!kv_list_elements_allowed(exec, argc, argv, 2)) {
        return 0;
    }
    if (!existing_only && !kv_key_writable(exec, key)) {
        return 0; /* LPUSHX finds no key this long, and answers 0 below */
    }
    struct kv_record record;
    int found = kv_list_lookup(exec, key, &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    if (found == KV_LOOKUP_ABSENT) {
        if (existing_only) {
            exec->reply->integer(exec->reply->context, 0);
            return 0;
        }
        kv_collection_new(exec, KV_TYPE_LIST, &record);
    }
    for (size_t i = 2; i < argc; i++) {
        int result = kv_list_push_one(exec, &record, left, argv[i].data, argv[i].data_bytes);
        if (result != 0) {
            return result;
        }
    }
    int result = kv_collection_store(exec, key, &record);
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_LIST, left ? "lpush" : "rpush", key);
        exec->reply->integer(exec->reply->context, (int64_t)record.count);
    }
    return result;
}

KV_HANDLER(kv_command_lpush)
{
    return kv_list_push_command(exec, argc, argv, true, false);
}

KV_HANDLER(kv_command_rpush)
{
    return kv_list_push_command(exec, argc, argv, false, false);
}

KV_HANDLER(kv_command_lpushx)
{
    return kv_list_push_command(exec, argc, argv, true, true);
}

KV_HANDLER(kv_command_rpushx)
{
    return kv_list_push_command(exec, argc, argv, false, true);
}

static void kv_list_pop_reply_header(struct kv_exec *exec, const struct kv_arg *key,
                                     enum kv_list_reply_style style, uint64_t popped)
{
    const struct kv_reply *reply = exec->reply;
    if (style == KV_LIST_REPLY_KEY_ELEMENT || style == KV_LIST_REPLY_KEY_ARRAY) {
        reply->array(reply->context, 2);
        reply->bulk(reply->context, key->data, key->data_bytes);
    }
    if (style == KV_LIST_REPLY_ARRAY || style == KV_LIST_REPLY_KEY_ARRAY) {
        reply->array(reply->context, popped);
    }
}

int kv_list_pop(struct kv_exec *exec, const struct kv_arg *key, bool left, uint64_t count,
                enum kv_list_reply_style style)
{
    assert(exec->writable);
    assert(count >= 1);
    assert(count == 1 || style == KV_LIST_REPLY_ARRAY || style == KV_LIST_REPLY_KEY_ARRAY);
    struct kv_record record;
    int found = kv_list_lookup(exec, key, &record);
    if (found < 0) {
        return found;
    }
    if (found != KV_LOOKUP_FOUND) {
        return found == KV_LOOKUP_ABSENT ? KV_LIST_NONE : KV_LIST_REFUSED;
    }
    uint64_t popped = count < record.count ? count : record.count;
    kv_list_pop_reply_header(exec, key, style, popped);
    int result = kv_list_reply_range(exec, &record, left ? 0 : record.count - 1, popped, !left);
    if (result == 0) {
        result = kv_list_remove_end(exec, &record, left, popped);
    }
    if (result == 0) {
        result = kv_collection_store(exec, key, &record);
    }
    if (result == 0) {
        kv_notify_removal(exec, KV_NOTIFY_LIST, left ? "lpop" : "rpop", key, record.count == 0);
    }
    return result != 0 ? result : KV_LIST_DONE;
}

/* LPOP key 0 pops nothing but still looks at the key: an empty array for a list, a null array
 * for a missing key, WRONGTYPE for another type. */
static int kv_list_pop_nothing(struct kv_exec *exec, const struct kv_arg *key)
{
    struct kv_record record;
    int found = kv_list_lookup(exec, key, &record);
    if (found == KV_LOOKUP_FOUND) {
        exec->reply->array(exec->reply->context, 0);
    } else if (found == KV_LOOKUP_ABSENT) {
        kv_list_reply_null_array(exec);
    }
    return found < 0 ? found : 0;
}

/* LPOP key [count] and RPOP: one element as a bulk string, or with a count an array of up to
 * count elements (count 0: an empty array for a list, a null array for a missing key). */
static int kv_list_pop_command(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                               bool left)
{
    if (argc > 3) {
        kv_reply_wrong_arity(exec->reply, kv_command_lookup(argv[0].data, argv[0].data_bytes));
        return 0;
    }
    int outcome;
    if (argc == 2) {
        outcome = kv_list_pop(exec, &argv[1], left, 1, KV_LIST_REPLY_ELEMENT);
        if (outcome == KV_LIST_NONE) {
            exec->reply->null(exec->reply->context);
        }
        return outcome < 0 ? outcome : 0;
    }
    int64_t count;
    if (!kv_list_parse_at_least(exec, &argv[2], 0, KV_ERROR_TEXT_NOT_POSITIVE, &count)) {
        return 0;
    }
    if (count == 0) {
        return kv_list_pop_nothing(exec, &argv[1]);
    }
    outcome = kv_list_pop(exec, &argv[1], left, (uint64_t)count, KV_LIST_REPLY_ARRAY);
    if (outcome == KV_LIST_NONE) {
        kv_list_reply_null_array(exec);
    }
    return outcome < 0 ? outcome : 0;
}

KV_HANDLER(kv_command_lpop)
{
    return kv_list_pop_command(exec, argc, argv, true);
}

KV_HANDLER(kv_command_rpop)
{
    return kv_list_pop_command(exec, argc, argv, false);
}

/* ---- reads -------------------------------------------------------------------------------------
 */

KV_HANDLER(kv_command_llen)
{
    (void)argc;
    struct kv_record record;
    int found = kv_list_lookup(exec, &argv[1], &record);
    if (found == KV_LOOKUP_FOUND || found == KV_LOOKUP_ABSENT) {
        int64_t length = found == KV_LOOKUP_FOUND ? (int64_t)record.count : 0;
        exec->reply->integer(exec->reply->context, length);
    }
    return found < 0 ? found : 0;
}

KV_HANDLER(kv_command_lrange)
{
    (void)argc;
    int64_t start, end;
    if (!kv_list_parse_integer(exec, &argv[2], &start) ||
        !kv_list_parse_integer(exec, &argv[3], &end)) {
        return 0;
    }
    struct kv_record record;
    int found = kv_list_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->array(exec->reply->context, 0);
        }
        return found < 0 ? found : 0;
    }
    uint64_t from, length;
    if (!kv_list_range(record.count, start, end, &from, &length)) {
        exec->reply->array(exec->reply->context, 0);
        return 0;
    }
    exec->reply->array(exec->reply->context, length);
    return kv_list_reply_range(exec, &record, from, length, false);
}

KV_HANDLER(kv_command_lindex)
{
    (void)argc;
    struct kv_record record;
    int found = kv_list_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->null(exec->reply->context);
        }
        return found < 0 ? found : 0;
    }
    int64_t index;
    if (!kv_list_parse_integer(exec, &argv[2], &index)) {
        return 0;
    }
    uint64_t offset;
    if (!kv_list_index(&record, index, &offset)) {
        exec->reply->null(exec->reply->context);
        return 0;
    }
    MDB_val value;
    int result = kv_list_get(exec, record.id, kv_list_position(&record, offset), &value);
    if (result == 0) {
        kv_reply_value(exec, &value);
    }
    return result;
}

/* LPOS's options. The rank counts matches from 1; a negative rank walks from the tail. */
struct kv_list_lpos {
    int64_t rank;
    bool has_count;    /* COUNT given: reply an array */
    uint64_t count;    /* matches to reply, 0: all */
    uint64_t maxlen;   /* elements to compare, 0: all */
    bool backward;     /* from the tail */
    uint64_t skip;     /* matches to pass over before the first one replied (rank - 1) */
    bool count_capped; /* COUNT bounds the matches replied */
};

static bool kv_list_lpos_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                               struct kv_list_lpos *options)
{
    *options = (struct kv_list_lpos){.rank = 1};
    for (size_t i = 3; i < argc; i++) {
        bool has_value = i + 1 < argc;
        int64_t value;
        if (kv_arg_equals_nocase(&argv[i], "rank") && has_value) {
            if (!kv_list_parse_integer(exec, &argv[++i], &options->rank)) {
                return false;
            }
            if (options->rank == 0) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_RANK_ZERO);
                return false;
            }
        } else if (kv_arg_equals_nocase(&argv[i], "count") && has_value) {
            if (!kv_list_parse_at_least(exec, &argv[++i], 0, KV_ERROR_TEXT_COUNT_NEGATIVE,
                                        &value)) {
                return false;
            }
            options->has_count = true;
            options->count = (uint64_t)value;
        } else if (kv_arg_equals_nocase(&argv[i], "maxlen") && has_value) {
            if (!kv_list_parse_at_least(exec, &argv[++i], 0, KV_ERROR_TEXT_MAXLEN_NEGATIVE,
                                        &value)) {
                return false;
            }
            options->maxlen = (uint64_t)value;
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    options->backward = options->rank < 0;
    /* Redis 7.0 negates a negative rank in a long, so RANK -9223372036854775808 stays negative:
     * every match then counts as past the rank (the first from the tail is replied) and COUNT
     * never stops the walk. Kept as it is, for identical replies. */
    bool rank_overflows = options->rank == INT64_MIN;
    uint64_t magnitude =
        options->backward ? (uint64_t)0 - (uint64_t)options->rank : (uint64_t)options->rank;
    options->skip = rank_overflows ? 0 : magnitude - 1;
    options->count_capped = options->count != 0 && !rank_overflows;
    return true;
}

/* Appends a match's index to the array collected in kv->scratch. */
static int kv_list_lpos_collect(struct kv_exec *exec, uint64_t *collected, uint64_t index)
{
    size_t bytes = (size_t)(*collected + 1) * sizeof index;
    int result = kv_buffer_reserve(&exec->kv->scratch, bytes);
    if (result == 0) {
        memcpy(exec->kv->scratch.data + bytes - sizeof index, &index, sizeof index);
        (*collected)++;
    }
    return result;
}

/* Walks for LPOS's matches; with COUNT they are collected in kv->scratch (*collected of them),
 * without it *match receives the one match, if any (*collected 1). */
static int kv_list_lpos_walk(struct kv_exec *exec, const struct kv_record *record,
                             const struct kv_arg *element, const struct kv_list_lpos *options,
                             uint64_t *collected, uint64_t *match)
{
    uint64_t length = record->count;
    if (options->maxlen != 0 && options->maxlen < length) {
        length = options->maxlen;
    }
    struct kv_list_walk walk;
    uint64_t start = options->backward ? record->count - 1 : 0;
    int result = kv_list_walk_open(exec, &walk, record, start, length, options->backward);
    if (result != 0) {
        return result;
    }
    uint64_t matches = 0;
    MDB_val value;
    uint64_t index;
    *collected = 0;
    while ((result = kv_list_walk_next(exec, &walk, &value, &index)) == 1) {
        if (!kv_list_value_equals(&value, element) || matches++ < options->skip) {
            continue;
        }
        if (!options->has_count) {
            *match = index;
            *collected = 1;
            result = 0;
            break;
        }
        result = kv_list_lpos_collect(exec, collected, index);
        if (result != 0 || (options->count_capped && *collected >= options->count)) {
            break;
        }
    }
    kv_list_walk_close(&walk);
    return result;
}

KV_HANDLER(kv_command_lpos)
{
    struct kv_list_lpos options;
    if (!kv_list_lpos_parse(exec, argc, argv, &options)) {
        return 0;
    }
    struct kv_record record;
    int found = kv_list_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT && options.has_count) {
            exec->reply->array(exec->reply->context, 0);
        } else if (found == KV_LOOKUP_ABSENT) {
            exec->reply->null(exec->reply->context);
        }
        return found < 0 ? found : 0;
    }
    uint64_t collected = 0, match = 0;
    int result = kv_list_lpos_walk(exec, &record, &argv[2], &options, &collected, &match);
    if (result != 0) {
        return result;
    }
    if (!options.has_count) {
        if (collected == 0) {
            exec->reply->null(exec->reply->context);
        } else {
            exec->reply->integer(exec->reply->context, (int64_t)match);
        }
        return 0;
    }
    exec->reply->array(exec->reply->context, collected);
    for (uint64_t i = 0; i < collected; i++) {
        uint64_t index;
        memcpy(&index, exec->kv->scratch.data + i * sizeof index, sizeof index);
        exec->reply->integer(exec->reply->context, (int64_t)index);
    }
    return 0;
}

/* ---- changes inside a list ------------------------------------------------------------------ */

KV_HANDLER(kv_command_lset)
{
    struct kv_record record;
    int found = kv_list_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_NO_SUCH_KEY);
        }
        return found < 0 ? found : 0;
    }
    int64_t index;
    if (!kv_list_parse_integer(exec, &argv[2], &index)) {
        return 0;
    }
    uint64_t offset;
    if (!kv_list_index(&record, index, &offset)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_INDEX_RANGE);
        return 0;
    }
    if (!kv_list_elements_allowed(exec, argc, argv, 3)) {
        return 0;
    }
    int result = kv_list_put(exec, record.id, kv_list_position(&record, offset), argv[3].data,
                             argv[3].data_bytes);
    if (result == 0) {
        result = kv_collection_store(exec, &argv[1], &record); /* same count: a new version */
    }
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_LIST, "lset", &argv[1]);
        kv_reply_ok(exec);
    }
    return result;
}

/* Moves the elements at indexes [from, to) one position towards the head or the tail. Each
 * lands where a neighbour already moved away from (or on the free slot past the end), so no
 * element is overwritten before it is read. */
static int kv_list_shift(struct kv_exec *exec, const struct kv_record *record, uint64_t from,
                         uint64_t to, bool toward_head)
{
    assert(from <= to && to <= record->count);
    assert(toward_head ? record->head > 0 : record->head + record->count < UINT64_MAX);
    for (uint64_t step = 0; step < to - from; step++) {
        uint64_t index = toward_head ? from + step : to - 1 - step;
        uint64_t position = kv_list_position(record, index);
        int result = kv_list_copy(exec, record->id, position, record->id,
                                  toward_head ? position - 1 : position + 1);
        if (result != 0) {
            return result;
        }
    }
    return 0;
}

/* Inserts an element so that it gets index `index` (0 .. count), moving the shorter side. */
static int kv_list_insert(struct kv_exec *exec, struct kv_record *record, uint64_t index,
                          const struct kv_arg *element)
{
    assert(index <= record->count);
    bool toward_head = index < record->count - index;
    int result = toward_head ? kv_list_shift(exec, record, 0, index, true)
                             : kv_list_shift(exec, record, index, record->count, false);
    if (result != 0) {
        return result;
    }
    record->head -= toward_head ? 1 : 0;
    result = kv_list_put(exec, record->id, kv_list_position(record, index), element->data,
                         element->data_bytes);
    if (result == 0) {
        record->count++;
    }
    return result;
}

KV_HANDLER(kv_command_linsert)
{
    bool after;
    if (kv_arg_equals_nocase(&argv[2], "after")) {
        after = true;
    } else if (kv_arg_equals_nocase(&argv[2], "before")) {
        after = false;
    } else {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    struct kv_record record;
    int found = kv_list_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->integer(exec->reply->context, 0);
        }
        return found < 0 ? found : 0;
    }
    if (!kv_list_elements_allowed(exec, argc, argv, 4)) {
        return 0;
    }
    uint64_t pivot;
    bool pivot_found;
    int result = kv_list_find(exec, &record, &argv[3], &pivot, &pivot_found);
    if (result != 0 || !pivot_found) {
        if (result == 0) {
            exec->reply->integer(exec->reply->context, -1);
        }
        return result;
    }
    result = kv_list_insert(exec, &record, after ? pivot + 1 : pivot, &argv[4]);
    if (result == 0) {
        result = kv_collection_store(exec, &argv[1], &record);
    }
    if (result == 0) {
        kv_notify(exec, KV_NOTIFY_LIST, "linsert", &argv[1]);
        exec->reply->integer(exec->reply->context, (int64_t)record.count);
    }
    return result;
}

/*
 * LREM in two passes. The first walks from the end LREM's count names (the head for a count
 * of 0 or more, the tail for a negative one) and finds how many elements go and the lowest
 * and highest index among them: every match between those two goes, and none outside. The
 * second closes the gaps by moving the kept elements of that span together with the shorter
 * of the two sides beyond it — towards the head when fewer elements follow the span than
 * precede it, towards the tail otherwise — and deletes the positions left free at that end.
 */
struct kv_list_removal {
    uint64_t removed;
    uint64_t first; /* lowest index removed */
    uint64_t last;  /* highest index removed */
};

static int kv_list_removal_find(struct kv_exec *exec, const struct kv_record *record,
                                const struct kv_arg *element, int64_t count,
                                struct kv_list_removal *removal)
{
    /* Redis 7.0 negates count in a long too: -9223372036854775808 stays negative and never
     * equals the number removed, so every match goes, as with 0. */
    bool backward = count < 0;
    uint64_t limit = count == 0 || count == INT64_MIN ? UINT64_MAX
                     : backward                       ? (uint64_t)-count
                                                      : (uint64_t)count;
    *removal = (struct kv_list_removal){0};
    struct kv_list_walk walk;
    int result = kv_list_walk_open(exec, &walk, record, backward ? record->count - 1 : 0,
                                   record->count, backward);
    if (result != 0) {
        return result;
    }
    MDB_val value;
    uint64_t index;
    while (removal->removed < limit &&
           (result = kv_list_walk_next(exec, &walk, &value, &index)) == 1) {
        if (kv_list_value_equals(&value, element)) {
            removal->first =
                removal->removed == 0 || index < removal->first ? index : removal->first;
            removal->last = removal->removed == 0 || index > removal->last ? index : removal->last;
            removal->removed++;
        }
    }
    kv_list_walk_close(&walk);
    return result < 0 ? result : 0;
}

/* Moves the element at index `from` to index `to` unless it is one to remove (`removable` and
 * equal to the element); *kept says which. */
static int kv_list_compact_step(struct kv_exec *exec, const struct kv_record *record,
                                const struct kv_arg *element, uint64_t from, uint64_t to,
                                bool removable, bool *kept)
{
    MDB_val value;
    int result = kv_list_get(exec, record->id, kv_list_position(record, from), &value);
    if (result != 0) {
        return result;
    }
    *kept = !(removable && kv_list_value_equals(&value, element));
    if (!*kept || from == to) {
        return 0;
    }
    result = kv_list_stash(exec, &value);
    if (result != 0) {
        return result;
    }
    return kv_list_put(exec, record->id, kv_list_position(record, to), exec->kv->scratch.data,
                       value.mv_size);
}

/* The second pass, towards the head: the span's kept elements and all that follow it move
 * down over the gaps, and the last `removed` positions are deleted. */
static int kv_list_compact_down(struct kv_exec *exec, struct kv_record *record,
                                const struct kv_arg *element, const struct kv_list_removal *removal)
{
    uint64_t to = removal->first;
    for (uint64_t from = removal->first; from < record->count; from++) {
        bool kept;
        int result =
            kv_list_compact_step(exec, record, element, from, to, from <= removal->last, &kept);
        if (result != 0) {
            return result;
        }
        to += kept ? 1 : 0;
    }
    assert(to == record->count - removal->removed);
    for (uint64_t index = to; index < record->count; index++) {
        int result = kv_list_delete(exec, record->id, kv_list_position(record, index));
        if (result != 0) {
            return result;
        }
    }
    record->count -= removal->removed;
    return 0;
}

/* The second pass, towards the tail: the span's kept elements and all that precede it move
 * up over the gaps, and the first `removed` positions are deleted. */
static int kv_list_compact_up(struct kv_exec *exec, struct kv_record *record,
                              const struct kv_arg *element, const struct kv_list_removal *removal)
{
    uint64_t to = removal->last;
    for (uint64_t from = removal->last + 1; from-- > 0;) {
        bool kept;
        int result =
            kv_list_compact_step(exec, record, element, from, to, from >= removal->first, &kept);
        if (result != 0) {
            return result;
        }
        to -= kept ? 1 : 0;
    }
    assert(to + 1 == removal->removed); /* kept elements: last + 1 - removed of them */
    for (uint64_t index = 0; index < removal->removed; index++) {
        int result = kv_list_delete(exec, record->id, kv_list_position(record, index));
        if (result != 0) {
            return result;
        }
    }
    record->head += removal->removed;
    record->count -= removal->removed;
    return 0;
}

KV_HANDLER(kv_command_lrem)
{
    (void)argc;
    int64_t count;
    if (!kv_list_parse_integer(exec, &argv[2], &count)) {
        return 0;
    }
    struct kv_record record;
    int found = kv_list_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->integer(exec->reply->context, 0);
        }
        return found < 0 ? found : 0;
    }
    struct kv_list_removal removal;
    int result = kv_list_removal_find(exec, &record, &argv[3], count, &removal);
    if (result == 0 && removal.removed > 0) {
        if (removal.removed == record.count) {
            record.count = 0; /* the key goes, its items to the trash */
        } else if (record.count - 1 - removal.last <= removal.first) {
            result = kv_list_compact_down(exec, &record, &argv[3], &removal);
        } else {
            result = kv_list_compact_up(exec, &record, &argv[3], &removal);
        }
        if (result == 0) {
            result = kv_collection_store(exec, &argv[1], &record);
        }
        if (result == 0) {
            kv_notify_removal(exec, KV_NOTIFY_LIST, "lrem", &argv[1], record.count == 0);
        }
    }
    if (result == 0) {
        exec->reply->integer(exec->reply->context, (int64_t)removal.removed);
    }
    return result;
}

/* LTRIM's keeping of [from, from + length) when it keeps less than it drops: the kept elements
 * are copied under a fresh id from KV_LIST_MIDDLE on, and storing the record with that id
 * trashes the old one's items (record.c), to be freed a few per entry later. */
static int kv_list_rebuild(struct kv_exec *exec, struct kv_record *record, uint64_t from,
                           uint64_t length)
{
    struct kv_record rebuilt;
    kv_collection_new(exec, KV_TYPE_LIST, &rebuilt);
    rebuilt.deadline_ms = record->deadline_ms;
    for (uint64_t i = 0; i < length; i++) {
        int result = kv_list_copy(exec, record->id, kv_list_position(record, from + i), rebuilt.id,
                                  kv_list_position(&rebuilt, i));
        if (result != 0) {
            return result;
        }
    }
    rebuilt.count = length;
    *record = rebuilt;
    return 0;
}

/* Keeps the elements [from, from + length) of a list, doing the smaller part of the work. */
static int kv_list_keep(struct kv_exec *exec, struct kv_record *record, uint64_t from,
                        uint64_t length)
{
    assert(length >= 1 && from + length <= record->count);
    uint64_t dropped = record->count - length;
    if (length < dropped) {
        return kv_list_rebuild(exec, record, from, length);
    }
    for (uint64_t index = 0; index < record->count; index++) {
        if (index == from) {
            index += length - 1; /* the kept range: skip it */
            continue;
        }
        int result = kv_list_delete(exec, record->id, kv_list_position(record, index));
        if (result != 0) {
            return result;
        }
    }
    record->head += from;
    record->count = length;
    return 0;
}

KV_HANDLER(kv_command_ltrim)
{
    (void)argc;
    int64_t start, end;
    if (!kv_list_parse_integer(exec, &argv[2], &start) ||
        !kv_list_parse_integer(exec, &argv[3], &end)) {
        return 0;
    }
    struct kv_record record;
    int found = kv_list_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            kv_reply_ok(exec);
        }
        return found < 0 ? found : 0;
    }
    uint64_t from, length;
    int result = 0;
    if (!kv_list_range(record.count, start, end, &from, &length)) {
        record.count = 0; /* nothing kept: the key goes */
        result = kv_collection_store(exec, &argv[1], &record);
    } else if (length < record.count) {
        result = kv_list_keep(exec, &record, from, length);
        if (result == 0) {
            result = kv_collection_store(exec, &argv[1], &record);
        }
    }
    if (result == 0) {
        kv_notify_removal(exec, KV_NOTIFY_LIST, "ltrim", &argv[1], record.count == 0);
        kv_reply_ok(exec);
    }
    return result;
}

/* ---- moves between lists ----------------------------------------------------------------------
 */

static bool kv_list_same_key(const struct kv_arg *a, const struct kv_arg *b)
{
    return a->data_bytes == b->data_bytes &&
           (a->data_bytes == 0 || memcmp(a->data, b->data, a->data_bytes) == 0);
}

/* LMOVE of a list onto itself, with the element already in kv->scratch: from one end to the
 * other it is a rotation; to the end it came from, no change at all. */
static int kv_list_rotate(struct kv_exec *exec, struct kv_record *record, bool from_left,
                          bool to_left, size_t element_bytes)
{
    if (from_left == to_left) {
        return 0;
    }
    uint64_t taken = kv_list_position(record, from_left ? 0 : record->count - 1);
    int result = kv_list_push_one(exec, record, to_left, exec->kv->scratch.data, element_bytes);
    if (result == 0) {
        result = kv_list_delete(exec, record->id, taken);
    }
    if (result == 0) {
        record->head += from_left ? 1 : 0; /* the push on the left moved the head already */
        record->count--;
    }
    return result;
}

/* The destination of an LMOVE between two keys: an existing list, or a new one. */
static int kv_list_move_destination(struct kv_exec *exec, const struct kv_arg *destination,
                                    struct kv_record *record)
{
    int found = kv_list_lookup(exec, destination, record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : KV_LIST_REFUSED;
    }
    if (found == KV_LOOKUP_ABSENT) {
        if (!kv_key_writable(exec, destination)) {
            return KV_LIST_REFUSED;
        }
        kv_collection_new(exec, KV_TYPE_LIST, record);
    }
    return KV_LIST_DONE;
}

int kv_list_move(struct kv_exec *exec, const struct kv_arg *source,
                 const struct kv_arg *destination, bool from_left, bool to_left)
{
    assert(exec->writable);
    struct kv_record from;
    int found = kv_list_lookup(exec, source, &from);
    if (found != KV_LOOKUP_FOUND) {
        return found < 0 ? found : found == KV_LOOKUP_ABSENT ? KV_LIST_NONE : KV_LIST_REFUSED;
    }
    bool same = kv_list_same_key(source, destination);
    struct kv_record to;
    if (!same) {
        int outcome = kv_list_move_destination(exec, destination, &to);
        if (outcome != KV_LIST_DONE) {
            return outcome;
        }
    }
    MDB_val value;
    uint64_t index = from_left ? 0 : from.count - 1;
    int result = kv_list_get(exec, from.id, kv_list_position(&from, index), &value);
    if (result == 0) {
        result = kv_list_stash(exec, &value);
    }
    if (result != 0) {
        return result;
    }
    kv_reply_value(exec, &value); /* before any write moves the page under it */
    const char *push_event = to_left ? "lpush" : "rpush";
    const char *pop_event = from_left ? "lpop" : "rpop";
    if (same) {
        result = kv_list_rotate(exec, &from, from_left, to_left, value.mv_size);
        if (result == 0) {
            result = kv_collection_store(exec, source, &from);
        }
        if (result == 0) {
            kv_notify(exec, KV_NOTIFY_LIST, push_event, destination);
            kv_notify(exec, KV_NOTIFY_LIST, pop_event, source);
        }
        return result != 0 ? result : KV_LIST_DONE;
    }
    result = kv_list_remove_end(exec, &from, from_left, 1);
    if (result == 0) {
        result = kv_collection_store(exec, source, &from);
    }
    if (result == 0) {
        result = kv_list_push_one(exec, &to, to_left, exec->kv->scratch.data, value.mv_size);
    }
    if (result == 0) {
        result = kv_collection_store(exec, destination, &to);
    }
    if (result == 0) {
        /* Redis's order: the push, then the pop, then the emptied source's deletion. */
        kv_notify(exec, KV_NOTIFY_LIST, push_event, destination);
        kv_notify_removal(exec, KV_NOTIFY_LIST, pop_event, source, from.count == 0);
    }
    return result != 0 ? result : KV_LIST_DONE;
}

static int kv_list_move_command(struct kv_exec *exec, const struct kv_arg *argv, bool from_left,
                                bool to_left)
{
    int outcome = kv_list_move(exec, &argv[1], &argv[2], from_left, to_left);
    if (outcome == KV_LIST_NONE) {
        exec->reply->null(exec->reply->context);
    }
    return outcome < 0 ? outcome : 0;
}

KV_HANDLER(kv_command_lmove)
{
    (void)argc;
    bool from_left, to_left;
    if (!kv_parse_side(exec, &argv[3], "left", "right", &from_left) ||
        !kv_parse_side(exec, &argv[4], "left", "right", &to_left)) {
        return 0;
    }
    return kv_list_move_command(exec, argv, from_left, to_left);
}

KV_HANDLER(kv_command_rpoplpush)
{
    (void)argc;
    return kv_list_move_command(exec, argv, false, true);
}

/* LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops from the first non-empty list. */
KV_HANDLER(kv_command_lmpop)
{
    struct kv_mpop mpop;
    if (!kv_mpop_parse(exec, argc, argv, 1, "left", "right", &mpop)) {
        return 0;
    }
    for (size_t i = mpop.first_key; i < mpop.first_key + mpop.key_count; i++) {
        int outcome = kv_list_pop(exec, &argv[i], mpop.low, mpop.count, KV_LIST_REPLY_KEY_ARRAY);
        if (outcome != KV_LIST_NONE) {
            return outcome < 0 ? outcome : 0;
        }
    }
    kv_list_reply_null_array(exec);
    return 0;
}
