/*
 * zset.c — sorted sets: their two indexes in LMDB, the elements in them, and the commands on
 * single members: ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD,
 * ZPOPMIN, ZPOPMAX, ZMPOP (and kv_zset_pop, which the blocking pops use). The cursors over
 * the two indexes and ZRANK are in zset_walk.c, ranges in zset_range.c, unions, intersections
 * and differences in zset_store.c, ZRANDMEMBER and ZSCAN in zset_scan.c.
 *
 * The layout (docs/storage.md). A sorted set's items sit under its collection id in the
 * "items" database, in two indexes that every write changes together:
 *
 *     id, 0x00, member hash (8 bytes, big-endian XXH3-64), member  ->  score (f64 LE)
 *     id, 0x01, ordered score (8 bytes), member                     ->  empty
 *
 * The member index answers "what is this member's score" in one B-tree lookup, and is in
 * hash order — the order ZSCAN walks, so its cursor is a hash, as SCAN's is. The score index
 * is in Redis's order: the ordered score is the IEEE bits, big-endian, with the sign bit
 * flipped for positive numbers and every bit flipped for negative ones, so that memcmp orders
 * scores as numbers (-inf first, +inf last; -0.0 is stored as 0.0, the one zero, as Redis's
 * small sets do), and equal scores order by member bytes, as Redis's sdscmp does. Adding,
 * removing or rescoring a member is a few O(log n) B-tree operations; a range by score or by
 * member is a seek and then a walk over just the range.
 *
 * Ranks are the exception: LMDB keeps no counts in its branch pages, so the element of rank r
 * is found by walking r steps from the start, or count - 1 - r from the end, whichever is
 * shorter — O(min(r, n - r)), and a rank in the middle of a huge set costs O(n / 2).
 *
 * Failure modes: every client error (syntax, a score that is not a float, WRONGTYPE, a member
 * over 494 bytes, a NaN from INCR) is found before the first write, so a failed command
 * changes nothing. Indexes that disagree with each other or with the record's count are
 * corruption (KV_ERROR_CORRUPT), never a crash.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kv/zset.h"

#define KV_ZSET_SIGN_BIT       (UINT64_C(1) << 63)
#define KV_ERROR_TEXT_ZSET_NAN "ERR resulting score is not a number (NaN)"

/* ---- encoding ---------------------------------------------------------------------------- */

uint64_t kv_zset_score_order(double score)
{
    assert(!isnan(score));
    if (score == 0) {
        score = 0.0; /* -0.0 and 0.0 are one score */
    }
    uint64_t bits;
    memcpy(&bits, &score, sizeof bits);
    return (bits & KV_ZSET_SIGN_BIT) ? ~bits : bits | KV_ZSET_SIGN_BIT;
}

double kv_zset_score_from_order(uint64_t order)
{
    uint64_t bits = (order & KV_ZSET_SIGN_BIT) ? order & ~KV_ZSET_SIGN_BIT : ~order;
    double score;
    memcpy(&score, &bits, sizeof score);
    return score;
}

static void kv_zset_score_put(uint8_t out[KV_ZSET_SCORE_BYTES], double score)
{
    uint64_t bits;
    memcpy(&bits, &score, sizeof bits);
    for (size_t i = 0; i < KV_ZSET_SCORE_BYTES; i++) {
        out[i] = (uint8_t)(bits >> (8 * i));
    }
}

double kv_zset_score_decode(const uint8_t *in)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < KV_ZSET_SCORE_BYTES; i++) {
        bits |= (uint64_t)in[i] << (8 * i);
    }
    double score;
    memcpy(&score, &bits, sizeof score);
    return score;
}

static void kv_zset_member_key(struct kv_item_key *key, uint64_t id, const uint8_t *member,
                               size_t member_bytes)
{
    assert(member_bytes <= KV_MAX_MEMBER_BYTES);
    uint64_t hash = kv_key_hash(member, member_bytes);
    kv_zset_hashed_member_key(key, id, false, hash, member, member_bytes);
}

void kv_zset_score_key(struct kv_item_key *key, uint64_t id, uint64_t order, const uint8_t *member,
                       size_t member_bytes)
{
    assert(member_bytes <= KV_MAX_MEMBER_BYTES);
    uint8_t head[1 + KV_ZSET_SCORE_BYTES] = {KV_ZSET_TAG_SCORES};
    kv_put_be64(head + 1, order);
    kv_item_key(key, id, head, sizeof head);
    kv_item_key_append(key, member, member_bytes);
}

int kv_zset_corrupt(struct kv_exec *exec, const char *what)
{
    snprintf(exec->kv->error_message, KV_ERROR_MESSAGE_BYTES, "a sorted set is corrupt: %s", what);
    return KV_ERROR_CORRUPT;
}

/* ---- members ------------------------------------------------------------------------------ */

int kv_zset_lookup(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record)
{
    int found = kv_lookup(exec, key, KV_TYPE_ZSET, record);
    if (found == KV_LOOKUP_WRONG_TYPE) {
        kv_reply_wrong_type(exec);
    }
    return found;
}

int kv_zset_score_get(struct kv_exec *exec, uint64_t id, const uint8_t *member, size_t member_bytes,
                      double *score, bool *found)
{
    *found = false;
    if (member_bytes > KV_MAX_MEMBER_BYTES) {
        return 0; /* never written */
    }
    struct kv_item_key key;
    kv_zset_member_key(&key, id, member, member_bytes);
    MDB_val value;
    int result = kv_item_get(exec, &key, &value, found);
    if (result != 0 || !*found) {
        return result;
    }
    if (value.mv_size != KV_ZSET_SCORE_BYTES) {
        return kv_zset_corrupt(exec, "a score is not 8 bytes");
    }
    *score = kv_zset_score_decode(value.mv_data);
    return 0;
}

int kv_zset_element_insert(struct kv_exec *exec, uint64_t id, double score, const uint8_t *member,
                           size_t member_bytes)
{
    assert(!isnan(score));
    if (score == 0) {
        score = 0.0;
    }
    struct kv_item_key key;
    uint8_t value[KV_ZSET_SCORE_BYTES];
    kv_zset_score_put(value, score);
    kv_zset_member_key(&key, id, member, member_bytes);
    int result = kv_item_put(exec, &key, value, sizeof value);
    if (result != 0) {
        return result;
    }
    kv_zset_score_key(&key, id, kv_zset_score_order(score), member, member_bytes);
    return kv_item_put(exec, &key, NULL, 0);
}

int kv_zset_element_remove(struct kv_exec *exec, uint64_t id, double score, const uint8_t *member,
                           size_t member_bytes)
{
    /* Both keys are built (copied) before the first delete moves the map's pages. */
    struct kv_item_key member_key;
    struct kv_item_key score_key;
    kv_zset_member_key(&member_key, id, member, member_bytes);
    kv_zset_score_key(&score_key, id, kv_zset_score_order(score), member, member_bytes);
    bool deleted_member, deleted_score;
    int result = kv_item_delete(exec, &member_key, &deleted_member);
    if (result == 0) {
        result = kv_item_delete(exec, &score_key, &deleted_score);
    }
    if (result == 0 && !(deleted_member && deleted_score)) {
        return kv_zset_corrupt(exec, "a member is missing from one of its indexes");
    }
    return result;
}

/* Moves a member (not from the map) from one score to another. */
static int kv_zset_element_rescore(struct kv_exec *exec, uint64_t id, double old_score,
                                   double new_score, const uint8_t *member, size_t member_bytes)
{
    struct kv_item_key key;
    kv_zset_score_key(&key, id, kv_zset_score_order(old_score), member, member_bytes);
    bool deleted;
    int result = kv_item_delete(exec, &key, &deleted);
    if (result != 0) {
        return result;
    }
    if (!deleted) {
        return kv_zset_corrupt(exec, "a member is missing from the score index");
    }
    return kv_zset_element_insert(exec, id, new_score, member, member_bytes);
}

void kv_zset_reply_score(struct kv_exec *exec, double score)
{
    char text[KV_DOUBLE_TEXT_BYTES];
    size_t length = kv_format_double(score, text);
    exec->reply->double_text(exec->reply->context, text, length);
}

void kv_zset_reply_element(struct kv_exec *exec, const struct kv_zset_element *element,
                           bool with_score)
{
    if (with_score) {
        exec->reply->pair(exec->reply->context); /* [member, score] in RESP3 */
    }
    exec->reply->bulk(exec->reply->context, element->member, element->member_bytes);
    if (with_score) {
        kv_zset_reply_score(exec, element->score);
    }
}

void kv_zset_reply_header(struct kv_exec *exec, uint64_t count, bool with_scores)
{
    if (with_scores) {
        exec->reply->pairs(exec->reply->context, (size_t)count);
    } else {
        exec->reply->array(exec->reply->context, (size_t)count);
    }
}

/* ---- ZADD, ZINCRBY ----------------------------------------------------------------------------
 */

enum kv_zadd_flags {
    KV_ZADD_NX = 1u << 0,
    KV_ZADD_XX = 1u << 1,
    KV_ZADD_GT = 1u << 2,
    KV_ZADD_LT = 1u << 3,
    KV_ZADD_CH = 1u << 4,
    KV_ZADD_INCR = 1u << 5,
};

/* What adding one member did, as Redis's zsetAdd reports it. */
struct kv_zadd_outcome {
    uint64_t added;
    uint64_t updated;   /* existing members whose score changed */
    uint64_t processed; /* members not skipped by NX, XX, GT or LT */
    double score;       /* the last member's new score (INCR's reply) */
    bool nan;           /* INCR produced NaN: nothing was written */
};

/* The options before the first score; returns the index of the first score. */
static size_t kv_zadd_parse_flags(size_t argc, const struct kv_arg *argv, unsigned *flags)
{
    static const struct {
        const char *name;
        unsigned flag;
    } options[] = {{"nx", KV_ZADD_NX}, {"xx", KV_ZADD_XX}, {"gt", KV_ZADD_GT},
                   {"lt", KV_ZADD_LT}, {"ch", KV_ZADD_CH}, {"incr", KV_ZADD_INCR}};
    size_t index = 2;
    for (; index < argc; index++) {
        size_t option = 0;
        while (option < sizeof options / sizeof options[0] &&
               !kv_arg_equals_nocase(&argv[index], options[option].name)) {
            option++;
        }
        if (option == sizeof options / sizeof options[0]) {
            break;
        }
        *flags |= options[option].flag;
    }
    return index;
}

/* Redis's checks, in Redis's order; replies the first error and returns false. */
static bool kv_zadd_check(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                          unsigned flags, size_t first)
{
    size_t pairs = (argc - first) / 2;
    if (first == argc || (argc - first) % 2 != 0) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return false;
    }
    if ((flags & KV_ZADD_NX) && (flags & KV_ZADD_XX)) {
        kv_reply_text_error(exec, "ERR XX and NX options at the same time are not compatible");
        return false;
    }
    unsigned exclusive = flags & (KV_ZADD_NX | KV_ZADD_GT | KV_ZADD_LT);
    if (exclusive & (exclusive - 1)) {
        kv_reply_text_error(exec,
                            "ERR GT, LT, and/or NX options at the same time are not compatible");
        return false;
    }
    if ((flags & KV_ZADD_INCR) && pairs > 1) {
        kv_reply_text_error(exec, "ERR INCR option supports a single increment-element pair");
        return false;
    }
    for (size_t i = first; i < argc; i += 2) {
        double score;
        if (!kv_parse_double(&argv[i], &score)) {
            kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_FLOAT);
            return false;
        }
    }
    if (!kv_key_writable(exec, &argv[1])) {
        return false;
    }
    for (size_t i = first + 1; i < argc; i += 2) {
        if (!kv_member_writable(exec, &argv[i])) {
            return false;
        }
    }
    return true;
}

/* Adds or updates one member under the flags (Redis's zsetAdd). */
static int kv_zadd_one(struct kv_exec *exec, struct kv_record *record, unsigned flags, double score,
                       const struct kv_arg *member, struct kv_zadd_outcome *outcome)
{
    double current;
    bool found;
    int result =
        kv_zset_score_get(exec, record->id, member->data, member->data_bytes, &current, &found);
    if (result != 0) {
        return result;
    }
    if (!found) {
        if (flags & KV_ZADD_XX) {
            return 0;
        }
        result = kv_zset_element_insert(exec, record->id, score, member->data, member->data_bytes);
        record->count++;
        outcome->added++;
        outcome->processed++;
        outcome->score = score;
        return result;
    }
    if (flags & KV_ZADD_NX) {
        return 0;
    }
    double next = (flags & KV_ZADD_INCR) ? current + score : score;
    if (isnan(next)) {
        outcome->nan = true;
        return 0;
    }
    if (((flags & KV_ZADD_GT) && next <= current) || ((flags & KV_ZADD_LT) && next >= current)) {
        return 0;
    }
    outcome->processed++;
    outcome->score = next;
    if (next == current) {
        return 0;
    }
    outcome->updated++;
    return kv_zset_element_rescore(exec, record->id, current, next, member->data,
                                   member->data_bytes);
}

static void kv_zadd_reply(struct kv_exec *exec, unsigned flags,
                          const struct kv_zadd_outcome *outcome)
{
    if (!(flags & KV_ZADD_INCR)) {
        uint64_t changed = outcome->added + ((flags & KV_ZADD_CH) ? outcome->updated : 0);
        exec->reply->integer(exec->reply->context, (int64_t)changed);
    } else if (outcome->processed > 0) {
        kv_zset_reply_score(exec, outcome->score);
    } else {
        exec->reply->null(exec->reply->context);
    }
}

/* ZADD's body after parsing, shared with ZINCRBY: pairs of (score, member) from argv[first]. */
static int kv_zadd_apply(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                         unsigned flags, size_t first)
{
    struct kv_zadd_outcome outcome = {0};
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    if (found == KV_LOOKUP_ABSENT) {
        if (flags & KV_ZADD_XX) {
            kv_zadd_reply(exec, flags, &outcome); /* no key and XX: nothing to do */
            return 0;
        }
        kv_collection_new(exec, KV_TYPE_ZSET, &record);
    }
    for (size_t i = first; i < argc && !outcome.nan; i += 2) {
        double score;
        bool parsed = kv_parse_double(&argv[i], &score);
        assert(parsed); /* kv_zadd_check parsed it */
        (void)parsed;
        int result = kv_zadd_one(exec, &record, flags, score, &argv[i + 1], &outcome);
        if (result != 0) {
            return result;
        }
    }
    if (outcome.nan) {
        /* Only INCR, with its single pair, gets here, and it wrote nothing. */
        kv_reply_text_error(exec, KV_ERROR_TEXT_ZSET_NAN);
        return 0;
    }
    int result = kv_collection_settle(exec, &argv[1], &record);
    if (result == 0 && (outcome.added > 0 || outcome.updated > 0)) {
        kv_notify(exec, KV_NOTIFY_ZSET, (flags & KV_ZADD_INCR) ? "zincr" : "zadd", &argv[1]);
    }
    if (result == 0) {
        kv_zadd_reply(exec, flags, &outcome);
    }
    return result;
}

KV_HANDLER(kv_command_zadd)
{
    unsigned flags = 0;
    size_t first = kv_zadd_parse_flags(argc, argv, &flags);
    if (!kv_zadd_check(exec, argc, argv, flags, first)) {
        return 0;
    }
    return kv_zadd_apply(exec, argc, argv, flags, first);
}

KV_HANDLER(kv_command_zincrby)
{
    if (!kv_zadd_check(exec, argc, argv, KV_ZADD_INCR, 2)) {
        return 0;
    }
    return kv_zadd_apply(exec, argc, argv, KV_ZADD_INCR, 2);
}

/* ---- ZREM, ZSCORE, ZMSCORE, ZCARD -------------------------------------------------------------
 */

KV_HANDLER(kv_command_zrem)
{
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found != KV_LOOKUP_FOUND) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->integer(exec->reply->context, 0);
        }
        return found < 0 ? found : 0;
    }
    uint64_t removed = 0;
    for (size_t i = 2; i < argc; i++) {
        double score;
        bool member_found;
        int result = kv_zset_score_get(exec, record.id, argv[i].data, argv[i].data_bytes, &score,
                                       &member_found);
        if (result == 0 && member_found) {
            result =
                kv_zset_element_remove(exec, record.id, score, argv[i].data, argv[i].data_bytes);
            removed++;
        }
        if (result != 0) {
            return result;
        }
    }
    if (removed > record.count) {
        return kv_zset_corrupt(exec, "more members removed than counted");
    }
    record.count -= removed;
    if (removed > 0) {
        int result = kv_collection_store(exec, &argv[1], &record);
        if (result != 0) {
            return result;
        }
        kv_notify_removal(exec, KV_NOTIFY_ZSET, "zrem", &argv[1], record.count == 0);
    }
    exec->reply->integer(exec->reply->context, (int64_t)removed);
    return 0;
}

/* Replies a member's score, or null when the set or the member is absent. */
static int kv_zset_reply_member_score(struct kv_exec *exec, const struct kv_record *record,
                                      const struct kv_arg *member)
{
    double score;
    bool found = false;
    if (record != NULL) {
        int result =
            kv_zset_score_get(exec, record->id, member->data, member->data_bytes, &score, &found);
        if (result != 0) {
            return result;
        }
    }
    if (found) {
        kv_zset_reply_score(exec, score);
    } else {
        exec->reply->null(exec->reply->context);
    }
    return 0;
}

KV_HANDLER(kv_command_zscore)
{
    (void)argc;
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    return kv_zset_reply_member_score(exec, found == KV_LOOKUP_FOUND ? &record : NULL, &argv[2]);
}

KV_HANDLER(kv_command_zmscore)
{
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    exec->reply->array(exec->reply->context, argc - 2);
    for (size_t i = 2; i < argc; i++) {
        int result =
            kv_zset_reply_member_score(exec, found == KV_LOOKUP_FOUND ? &record : NULL, &argv[i]);
        if (result != 0) {
            return result;
        }
    }
    return 0;
}

KV_HANDLER(kv_command_zcard)
{
    (void)argc;
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    exec->reply->integer(exec->reply->context,
                         found == KV_LOOKUP_FOUND ? (int64_t)record.count : 0);
    return 0;
}

/* ---- pops ---------------------------------------------------------------------------------- */

uint64_t kv_zset_pop_count(const struct kv_record *record, uint64_t count)
{
    return count < record->count ? count : record->count;
}

int kv_zset_pop(struct kv_exec *exec, const struct kv_arg *key, struct kv_record *record,
                enum kv_zset_end end, uint64_t count, enum kv_zset_pop_shape shape)
{
    bool nested = shape == KV_ZSET_POP_NESTED;
    bool paired = shape == KV_ZSET_POP_PAIRED;
    assert(exec->writable);
    assert(record->type == KV_TYPE_ZSET);
    uint64_t popping = kv_zset_pop_count(record, count);
    struct kv_zset_walk walk;
    int result = kv_zset_walk_open(exec, record->id, &walk);
    for (uint64_t i = 0; result == 0 && i < popping; i++) {
        /* A fresh seek each time: the deletes below move the map's pages. */
        result = end == KV_ZSET_MIN ? kv_zset_walk_first(&walk) : kv_zset_walk_last(&walk);
        if (result == 0 && !walk.valid) {
            result = kv_zset_corrupt(exec, "the score index is shorter than the count");
        }
        if (result != 0) {
            break;
        }
        uint8_t member[KV_MAX_MEMBER_BYTES];
        struct kv_zset_element element = walk.element;
        memcpy(member, element.member, element.member_bytes);
        element.member = member;
        if (nested) {
            exec->reply->array(exec->reply->context, 2);
        } else if (paired) {
            exec->reply->pair(exec->reply->context);
        }
        exec->reply->bulk(exec->reply->context, element.member, element.member_bytes);
        kv_zset_reply_score(exec, element.score);
        result =
            kv_zset_element_remove(exec, record->id, element.score, member, element.member_bytes);
        record->count--;
    }
    kv_zset_walk_close(&walk);
    if (result != 0 || popping == 0) {
        return result;
    }
    result = kv_collection_store(exec, key, record);
    if (result == 0) {
        kv_notify_removal(exec, KV_NOTIFY_ZSET, end == KV_ZSET_MIN ? "zpopmin" : "zpopmax", key,
                          record->count == 0);
    }
    return result;
}

static int kv_zset_pop_command(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                               enum kv_zset_end end)
{
    if (argc > 3) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    int64_t count = 1;
    if (argc == 3 && (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &count) || count < 0)) {
        kv_reply_text_error(exec, "ERR value is out of range, must be positive");
        return 0;
    }
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    if (found == KV_LOOKUP_ABSENT || count == 0) {
        exec->reply->array(exec->reply->context, 0);
        return 0;
    }
    uint64_t popping = kv_zset_pop_count(&record, (uint64_t)count);
    if (argc == 3) {
        exec->reply->pairs(exec->reply->context, popping); /* with a count: pairs in RESP3 */
    } else {
        exec->reply->array(exec->reply->context, 2 * popping);
    }
    return kv_zset_pop(exec, &argv[1], &record, end, (uint64_t)count,
                       argc == 3 ? KV_ZSET_POP_PAIRED : KV_ZSET_POP_FLAT);
}

KV_HANDLER(kv_command_zpopmin)
{
    return kv_zset_pop_command(exec, argc, argv, KV_ZSET_MIN);
}

KV_HANDLER(kv_command_zpopmax)
{
    return kv_zset_pop_command(exec, argc, argv, KV_ZSET_MAX);
}

/* ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: the first non-empty set's pops. */
KV_HANDLER(kv_command_zmpop)
{
    struct kv_mpop mpop;
    if (!kv_mpop_parse(exec, argc, argv, 1, "min", "max", &mpop)) {
        return 0;
    }
    bool min = mpop.low;
    uint64_t count = mpop.count;
    size_t where = mpop.first_key + mpop.key_count;
    for (size_t i = 2; i < where; i++) {
        struct kv_record record;
        int found = kv_zset_lookup(exec, &argv[i], &record);
        if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
            return found < 0 ? found : 0;
        }
        if (found == KV_LOOKUP_FOUND) {
            exec->reply->array(exec->reply->context, 2);
            exec->reply->bulk(exec->reply->context, argv[i].data, argv[i].data_bytes);
            exec->reply->array(exec->reply->context, kv_zset_pop_count(&record, count));
            return kv_zset_pop(exec, &argv[i], &record, min ? KV_ZSET_MIN : KV_ZSET_MAX, count,
                               KV_ZSET_POP_NESTED);
        }
    }
    exec->reply->null_array(exec->reply->context);
    return 0;
}
