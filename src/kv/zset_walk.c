/*
 * zset_walk.c — cursors over a sorted set's two indexes (zset.c has the layout): the score
 * index in Redis's order, for ranges, ranks and pops, and the member index in hash order (a
 * set's too, whose layout differs only by the missing tag), for ZSCAN, ZRANDMEMBER and the
 * inputs of ZUNION and friends; and ZRANK, ZREVRANK.
 *
 * Happy path: a walk is opened on a collection id, positioned (first, last, a seek, a rank)
 * and stepped; it turns not valid when a move leaves the collection's index. An element it
 * shows points into the map: copy it before writing. Positioning after a write is a new
 * seek, never a step from before it.
 *
 * Ranks: LMDB keeps no counts in its branch pages, so the element of rank r is reached by
 * stepping from the nearer end — O(min(r, n - r)); a rank in the middle of a huge set costs
 * O(n / 2). ZRANK, which does not know the rank yet, walks from the member outwards both ways.
 *
 * Failure modes: LMDB errors are kv errors; a key of the wrong size in an index, or an index
 * shorter or longer than the record's count, is corruption (KV_ERROR_CORRUPT).
 */
#include <assert.h>
#include <string.h>

#include "kv/zset.h"

/* ---- walks over the score index ------------------------------------------------------------ */

int kv_zset_walk_open(struct kv_exec *exec, uint64_t id, struct kv_zset_walk *walk)
{
    memset(walk, 0, sizeof *walk);
    walk->exec = exec;
    walk->id = id;
    return kv_item_cursor(exec, &walk->cursor);
}

void kv_zset_walk_close(struct kv_zset_walk *walk)
{
    if (walk->cursor != NULL) {
        mdb_cursor_close(walk->cursor);
        walk->cursor = NULL;
    }
    walk->valid = false;
}

/* Takes the cursor's result: an element of this set's score index, or the end of it. */
static int kv_zset_walk_load(struct kv_zset_walk *walk, int rc, const MDB_val *key)
{
    walk->valid = false;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return kv_storage_error(walk->exec->kv, rc, "walking a sorted set");
    }
    const uint8_t *bytes = key->mv_data;
    if (key->mv_size < KV_ZSET_PREFIX_BYTES || kv_item_id(key) != walk->id ||
        bytes[KV_ID_BYTES] != KV_ZSET_TAG_SCORES) {
        return 0; /* another index, or another collection */
    }
    if (key->mv_size < KV_ZSET_SCORE_KEY_HEAD ||
        key->mv_size > KV_ZSET_SCORE_KEY_HEAD + KV_MAX_MEMBER_BYTES) {
        return kv_zset_corrupt(walk->exec, "a score index key has a wrong size");
    }
    walk->element.score = kv_zset_score_from_order(kv_get_be64(bytes + KV_ZSET_PREFIX_BYTES));
    walk->element.member = bytes + KV_ZSET_SCORE_KEY_HEAD;
    walk->element.member_bytes = key->mv_size - KV_ZSET_SCORE_KEY_HEAD;
    walk->valid = true;
    return 0;
}

static int kv_zset_walk_move(struct kv_zset_walk *walk, MDB_cursor_op op)
{
    assert(walk->valid);
    MDB_val key, value;
    int rc = mdb_cursor_get(walk->cursor, &key, &value, op);
    return kv_zset_walk_load(walk, rc, &key);
}

int kv_zset_walk_next(struct kv_zset_walk *walk)
{
    return kv_zset_walk_move(walk, MDB_NEXT);
}

int kv_zset_walk_prev(struct kv_zset_walk *walk)
{
    return kv_zset_walk_move(walk, MDB_PREV);
}

int kv_zset_walk_step(struct kv_zset_walk *walk, bool reverse)
{
    return kv_zset_walk_move(walk, reverse ? MDB_PREV : MDB_NEXT);
}

/* Positions the cursor at the first key at or after `search` (before: at the last key before
 * it), whoever owns that key. */
static int kv_zset_walk_search(struct kv_zset_walk *walk, const struct kv_item_key *search,
                               bool before)
{
    MDB_val key = {.mv_size = search->bytes_used, .mv_data = (void *)search->bytes};
    MDB_val value;
    int rc = mdb_cursor_get(walk->cursor, &key, &value, MDB_SET_RANGE);
    if (before) {
        rc = mdb_cursor_get(walk->cursor, &key, &value, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    }
    return kv_zset_walk_load(walk, rc, &key);
}

int kv_zset_walk_seek(struct kv_zset_walk *walk, uint64_t order, const uint8_t *member,
                      size_t member_bytes)
{
    struct kv_item_key search;
    kv_zset_score_key(&search, walk->id, order, member, member_bytes);
    return kv_zset_walk_search(walk, &search, false);
}

int kv_zset_walk_seek_before(struct kv_zset_walk *walk, uint64_t order, const uint8_t *member,
                             size_t member_bytes)
{
    struct kv_item_key search;
    kv_zset_score_key(&search, walk->id, order, member, member_bytes);
    return kv_zset_walk_search(walk, &search, true);
}

int kv_zset_walk_first(struct kv_zset_walk *walk)
{
    uint8_t tag = KV_ZSET_TAG_SCORES;
    struct kv_item_key search;
    kv_item_key(&search, walk->id, &tag, 1);
    return kv_zset_walk_search(walk, &search, false);
}

int kv_zset_walk_last(struct kv_zset_walk *walk)
{
    uint8_t tag = KV_ZSET_TAG_SCORES + 1; /* just past the score index */
    struct kv_item_key search;
    kv_item_key(&search, walk->id, &tag, 1);
    return kv_zset_walk_search(walk, &search, true);
}

/* LMDB keeps no subtree counts, so a rank is reached by stepping from the nearer end: a
 * forward cursor for ranks below count / 2, a reverse one from the end otherwise. A rank in
 * the middle of a huge set costs O(count / 2). */
int kv_zset_walk_rank(struct kv_zset_walk *walk, uint64_t rank, uint64_t count)
{
    assert(rank < count);
    bool from_start = rank < count / 2;
    uint64_t steps = from_start ? rank : count - 1 - rank;
    int result = from_start ? kv_zset_walk_first(walk) : kv_zset_walk_last(walk);
    for (uint64_t i = 0; result == 0 && walk->valid && i < steps; i++) {
        result = kv_zset_walk_step(walk, !from_start);
    }
    if (result == 0 && !walk->valid) {
        return kv_zset_corrupt(walk->exec, "the score index is shorter than the count");
    }
    return result;
}

/* ---- member indexes: sorted sets' and sets' ---------------------------------------------------
 */

static size_t kv_zset_member_prefix_bytes(bool is_set)
{
    return KV_ID_BYTES + (is_set ? 0 : 1);
}

/* The item key of a member whose hash is known. */
void kv_zset_hashed_member_key(struct kv_item_key *key, uint64_t id, bool is_set, uint64_t hash,
                               const uint8_t *member, size_t member_bytes)
{
    uint8_t head[1 + KV_KEY_HASH_BYTES] = {KV_ZSET_TAG_MEMBERS};
    kv_put_be64(head + 1, hash);
    kv_item_key(key, id, is_set ? head + 1 : head, is_set ? KV_KEY_HASH_BYTES : sizeof head);
    kv_item_key_append(key, member, member_bytes);
}

static int kv_zset_member_load(struct kv_zset_member_walk *walk, int rc, const MDB_val *key,
                               const MDB_val *value)
{
    walk->valid = false;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return kv_storage_error(walk->exec->kv, rc, "walking members");
    }
    const uint8_t *bytes = key->mv_data;
    size_t prefix = kv_zset_member_prefix_bytes(walk->is_set);
    if (key->mv_size < prefix || kv_item_id(key) != walk->id ||
        (!walk->is_set && bytes[KV_ID_BYTES] != KV_ZSET_TAG_MEMBERS)) {
        return 0;
    }
    size_t head = prefix + KV_KEY_HASH_BYTES;
    bool sized = walk->is_set ? value->mv_size == 0 : value->mv_size == KV_ZSET_SCORE_BYTES;
    if (key->mv_size < head || key->mv_size > head + KV_MAX_MEMBER_BYTES || !sized) {
        return kv_zset_corrupt(walk->exec, "a member index entry has a wrong size");
    }
    walk->hash = kv_get_be64(bytes + prefix);
    walk->element.member = bytes + head;
    walk->element.member_bytes = key->mv_size - head;
    walk->element.score = 1.0;
    if (!walk->is_set) {
        walk->element.score = kv_zset_score_decode(value->mv_data);
    }
    walk->valid = true;
    return 0;
}

int kv_zset_member_walk_open(struct kv_exec *exec, uint64_t id, bool is_set,
                             struct kv_zset_member_walk *walk)
{
    memset(walk, 0, sizeof *walk);
    walk->exec = exec;
    walk->id = id;
    walk->is_set = is_set;
    return kv_item_cursor(exec, &walk->cursor);
}

void kv_zset_member_walk_close(struct kv_zset_member_walk *walk)
{
    mdb_cursor_close(walk->cursor);
    walk->valid = false;
}

/* To the first member whose hash is at least `hash`. */
int kv_zset_member_walk_seek(struct kv_zset_member_walk *walk, uint64_t hash)
{
    struct kv_item_key search;
    kv_zset_hashed_member_key(&search, walk->id, walk->is_set, hash, NULL, 0);
    MDB_val key = {.mv_size = search.bytes_used, .mv_data = search.bytes};
    MDB_val value;
    int rc = mdb_cursor_get(walk->cursor, &key, &value, MDB_SET_RANGE);
    return kv_zset_member_load(walk, rc, &key, &value);
}

int kv_zset_member_walk_next(struct kv_zset_member_walk *walk)
{
    assert(walk->valid);
    MDB_val key, value;
    int rc = mdb_cursor_get(walk->cursor, &key, &value, MDB_NEXT);
    return kv_zset_member_load(walk, rc, &key, &value);
}

/* ---- ZRANK, ZREVRANK --------------------------------------------------------------------------
 */

/* The rank of an element known to be in the set. Without subtree counts a rank is a walk; two
 * cursors start at the element, one stepping back and one forward, and the first to leave
 * the set tells the rank: O(min(rank, count - rank)) steps. */
static int kv_zset_rank_of(struct kv_exec *exec, const struct kv_record *record, double score,
                           const struct kv_arg *member, uint64_t *rank)
{
    struct kv_zset_walk back, forward;
    uint64_t order = kv_zset_score_order(score);
    int result = kv_zset_walk_open(exec, record->id, &back);
    if (result == 0) {
        result = kv_zset_walk_open(exec, record->id, &forward);
    }
    if (result == 0) {
        result = kv_zset_walk_seek(&back, order, member->data, member->data_bytes);
    }
    if (result == 0) {
        result = kv_zset_walk_seek(&forward, order, member->data, member->data_bytes);
    }
    if (result == 0 && (!back.valid || back.element.member_bytes != member->data_bytes ||
                        memcmp(back.element.member, member->data, member->data_bytes) != 0)) {
        result = kv_zset_corrupt(exec, "a member is missing from the score index");
    }
    *rank = UINT64_MAX;
    for (uint64_t steps = 0; result == 0 && *rank == UINT64_MAX; steps++) {
        if (steps >= record->count) {
            result = kv_zset_corrupt(exec, "the score index is longer than the count");
        } else if ((result = kv_zset_walk_prev(&back)) == 0 && !back.valid) {
            *rank = steps; /* `steps` elements before it */
        } else if (result == 0 && (result = kv_zset_walk_next(&forward)) == 0 && !forward.valid) {
            *rank = record->count - 1 - steps; /* `steps` elements after it */
        }
    }
    kv_zset_walk_close(&back);
    kv_zset_walk_close(&forward);
    return result;
}

static int kv_zset_rank_command(struct kv_exec *exec, const struct kv_arg *argv, bool reverse)
{
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    double score;
    bool member_found = false;
    if (found == KV_LOOKUP_FOUND) {
        int result = kv_zset_score_get(exec, record.id, argv[2].data, argv[2].data_bytes, &score,
                                       &member_found);
        if (result != 0) {
            return result;
        }
    }
    if (!member_found) {
        exec->reply->null(exec->reply->context);
        return 0;
    }
    uint64_t rank = 0;
    int result = kv_zset_rank_of(exec, &record, score, &argv[2], &rank);
    if (result != 0) {
        return result;
    }
    if (rank >= record.count) {
        return kv_zset_corrupt(exec, "a rank beyond the count");
    }
    exec->reply->integer(exec->reply->context, (int64_t)(reverse ? record.count - 1 - rank : rank));
    return 0;
}

KV_HANDLER(kv_command_zrank)
{
    (void)argc;
    return kv_zset_rank_command(exec, argv, false);
}

KV_HANDLER(kv_command_zrevrank)
{
    (void)argc;
    return kv_zset_rank_command(exec, argv, true);
}
