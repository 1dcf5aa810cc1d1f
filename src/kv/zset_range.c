/*
 * zset_range.c — sorted set ranges: by rank, by score and by member (lexicographic), as
 * ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGESTORE, ZREVRANGE, ZRANGEBYSCORE,
 * ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZCOUNT, ZLEXCOUNT and ZREMRANGEBYRANK /
 * BYSCORE / BYLEX use them; and ZRANK, ZREVRANK.
 *
 * Happy path: a range is parsed with Redis's syntax and errors ("(" for an exclusive score,
 * "-inf"/"+inf"; "[" "(" "-" "+" for members), then walked over the score index (zset.c):
 * a score or member range seeks its first element and walks only the range; a rank range
 * steps from the nearer end to its first element (LMDB keeps no subtree counts, so that is
 * O(min(rank, count - rank))). A reply's array length comes first, so a range with LIMIT or
 * by score or member is walked twice in the same transaction, once to count, once to reply.
 *
 * Ranges by member assume, as Redis documents, that every member has the same score: they
 * seek under the first (or, reversed, the last) element's score. With mixed scores the result
 * is as unspecified as Redis says; it is the same on every replica.
 *
 * Failure modes: syntax and range errors are replied before the key is looked up, as Redis
 * does; ZRANGESTORE and ZREMRANGEBY* gather or decide everything before their first write.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv/zset.h"

#define KV_ERROR_TEXT_SCORE_RANGE "ERR min or max is not a float"
#define KV_ERROR_TEXT_LEX_RANGE   "ERR min or max not valid string range item"
/* A score bound is read by strtod as Redis does; longer texts are not taken for numbers. */
#define KV_ZSET_BOUND_TEXT_BYTES 1024

struct kv_score_range {
    double min;
    double max;
    bool min_exclusive;
    bool max_exclusive;
};

enum kv_lex_kind {
    KV_LEX_VALUE,
    KV_LEX_LOWEST,  /* "-" */
    KV_LEX_HIGHEST, /* "+" */
};

struct kv_lex_bound {
    enum kv_lex_kind kind;
    const uint8_t *data;
    size_t data_bytes;
    bool exclusive;
};

enum kv_range_kind {
    KV_RANGE_RANK,
    KV_RANGE_SCORE,
    KV_RANGE_LEX,
};

/* One range of a command, parsed. Ranks are as given (negative from the end) until
 * kv_range_ranks() resolves them against a size. */
struct kv_range {
    enum kv_range_kind kind;
    bool reverse;
    int64_t start;
    int64_t end;
    struct kv_score_range score;
    struct kv_lex_bound lex_min;
    struct kv_lex_bound lex_max;
    int64_t offset; /* LIMIT: negative gives nothing, as in Redis */
    int64_t limit;  /* negative: no limit */
};

/* ---- parsing ------------------------------------------------------------------------------ */

/* One score bound as Redis's zslParseRange reads it: "(" for exclusive, then strtod over
 * the text up to its first NUL, which must be consumed whole (leading spaces, "inf", hex
 * and out-of-range values, which become infinities, are all accepted); NaN is not. */
static bool kv_score_bound_parse(const struct kv_arg *arg, double *value, bool *exclusive)
{
    const uint8_t *data = arg->data;
    size_t bytes = arg->data_bytes;
    *exclusive = bytes > 0 && data[0] == '(';
    if (*exclusive) {
        data++;
        bytes--;
    }
    const uint8_t *nul = bytes > 0 ? memchr(data, '\0', bytes) : NULL;
    if (nul != NULL) {
        bytes = (size_t)(nul - data);
    }
    char text[KV_ZSET_BOUND_TEXT_BYTES];
    if (bytes >= sizeof text) {
        return false;
    }
    if (bytes > 0) {
        memcpy(text, data, bytes);
    }
    text[bytes] = '\0';
    char *end;
    *value = strtod(text, &end);
    return *end == '\0' && !isnan(*value);
}

static bool kv_score_range_parse(const struct kv_arg *min, const struct kv_arg *max,
                                 struct kv_score_range *range)
{
    return kv_score_bound_parse(min, &range->min, &range->min_exclusive) &&
           kv_score_bound_parse(max, &range->max, &range->max_exclusive);
}

/* A member bound longer than any member can be compares with members as its first 494
 * bytes do, as a maximum taken inclusively, as a minimum exclusively; so it is cut. */
static bool kv_lex_bound_parse(const struct kv_arg *arg, bool is_max, struct kv_lex_bound *bound)
{
    memset(bound, 0, sizeof *bound);
    if (arg->data_bytes == 0) {
        return false;
    }
    uint8_t first = arg->data[0];
    bool alone = arg->data_bytes == 1 || arg->data[1] == '\0';
    if ((first == '+' || first == '-') && alone) {
        bound->kind = first == '+' ? KV_LEX_HIGHEST : KV_LEX_LOWEST;
        return true;
    }
    if (first != '(' && first != '[') {
        return false;
    }
    bound->kind = KV_LEX_VALUE;
    bound->exclusive = first == '(';
    bound->data = arg->data + 1;
    bound->data_bytes = arg->data_bytes - 1;
    if (bound->data_bytes > KV_MAX_MEMBER_BYTES) {
        bound->data_bytes = KV_MAX_MEMBER_BYTES;
        bound->exclusive = !is_max;
    }
    return true;
}

static bool kv_lex_range_parse(const struct kv_arg *min, const struct kv_arg *max,
                               struct kv_range *range)
{
    return kv_lex_bound_parse(min, false, &range->lex_min) &&
           kv_lex_bound_parse(max, true, &range->lex_max);
}

/* ---- membership ---------------------------------------------------------------------------- */

static bool kv_score_at_least_min(double score, const struct kv_score_range *range)
{
    return range->min_exclusive ? score > range->min : score >= range->min;
}

static bool kv_score_at_most_max(double score, const struct kv_score_range *range)
{
    return range->max_exclusive ? score < range->max : score <= range->max;
}

static int kv_lex_compare(const struct kv_zset_element *element, const struct kv_lex_bound *bound)
{
    if (bound->kind != KV_LEX_VALUE) {
        return bound->kind == KV_LEX_LOWEST ? 1 : -1;
    }
    size_t common =
        element->member_bytes < bound->data_bytes ? element->member_bytes : bound->data_bytes;
    int order = common > 0 ? memcmp(element->member, bound->data, common) : 0;
    if (order != 0) {
        return order;
    }
    return element->member_bytes < bound->data_bytes   ? -1
           : element->member_bytes > bound->data_bytes ? 1
                                                       : 0;
}

static bool kv_lex_at_least_min(const struct kv_zset_element *element,
                                const struct kv_lex_bound *min)
{
    int order = kv_lex_compare(element, min);
    return min->exclusive ? order > 0 : order >= 0;
}

static bool kv_lex_at_most_max(const struct kv_zset_element *element,
                               const struct kv_lex_bound *max)
{
    int order = kv_lex_compare(element, max);
    return max->exclusive ? order < 0 : order <= 0;
}

/* Whether an element is on the near side of the far end of a score or member range (the
 * near end is where the walk started). */
static bool kv_range_before_end(const struct kv_range *range, const struct kv_zset_element *element)
{
    if (range->kind == KV_RANGE_SCORE) {
        return range->reverse ? kv_score_at_least_min(element->score, &range->score)
                              : kv_score_at_most_max(element->score, &range->score);
    }
    assert(range->kind == KV_RANGE_LEX);
    return range->reverse ? kv_lex_at_least_min(element, &range->lex_min)
                          : kv_lex_at_most_max(element, &range->lex_max);
}

static bool kv_range_after_start(const struct kv_range *range,
                                 const struct kv_zset_element *element)
{
    return range->reverse ? kv_lex_at_most_max(element, &range->lex_max)
                          : kv_lex_at_least_min(element, &range->lex_min);
}

/* Resolves a rank range against the set's size, as Redis does; false when it is empty. */
static bool kv_range_ranks(const struct kv_range *range, uint64_t count, uint64_t *first,
                           uint64_t *length)
{
    int64_t size = (int64_t)count;
    int64_t start = range->start < 0 ? size + range->start : range->start;
    int64_t end = range->end < 0 ? size + range->end : range->end;
    start = start < 0 ? 0 : start;
    if (start > end || start >= size) {
        return false;
    }
    end = end >= size ? size - 1 : end;
    *first = (uint64_t)start;
    *length = (uint64_t)(end - start + 1);
    return true;
}

/* ---- walking a range ---------------------------------------------------------------------- */

/* Positions the walk at the first element of a score or member range in walking order (the
 * lowest, or for a reversed range the highest), or leaves it not valid. */
static int kv_range_seek(struct kv_zset_walk *walk, const struct kv_range *range)
{
    if (range->kind == KV_RANGE_SCORE) {
        const struct kv_score_range *score = &range->score;
        if (range->reverse) {
            uint64_t order = kv_zset_score_order(score->max) + (score->max_exclusive ? 0 : 1);
            return kv_zset_walk_seek_before(walk, order, NULL, 0);
        }
        uint64_t order = kv_zset_score_order(score->min) + (score->min_exclusive ? 1 : 0);
        return kv_zset_walk_seek(walk, order, NULL, 0);
    }
    const struct kv_lex_bound *near = range->reverse ? &range->lex_max : &range->lex_min;
    if (near->kind != KV_LEX_VALUE) {
        if ((near->kind == KV_LEX_HIGHEST) != range->reverse) {
            walk->valid = false; /* from "+" upwards, or from "-" downwards: nothing */
            return 0;
        }
        return range->reverse ? kv_zset_walk_last(walk) : kv_zset_walk_first(walk);
    }
    /* Under the score of the end the walk starts from: all scores are equal, by assumption. */
    int result = range->reverse ? kv_zset_walk_last(walk) : kv_zset_walk_first(walk);
    if (result != 0 || !walk->valid) {
        return result;
    }
    uint64_t order = kv_zset_score_order(walk->element.score);
    result = kv_zset_walk_seek(walk, order, near->data, near->data_bytes);
    bool exact = result == 0 && walk->valid && kv_zset_score_order(walk->element.score) == order &&
                 kv_lex_compare(&walk->element, near) == 0;
    if (result == 0 && range->reverse && !(exact && !near->exclusive)) {
        result = kv_zset_walk_seek_before(walk, order, near->data, near->data_bytes);
    }
    /* Skips what precedes the start: an exclusive bound's own member, or, with mixed scores,
     * members the seek could not place. */
    while (result == 0 && walk->valid && !kv_range_after_start(range, &walk->element)) {
        result = kv_zset_walk_step(walk, range->reverse);
    }
    return result;
}

/* Called for each element of a range in order; returns 0 or a negative kv error. */
typedef int (*kv_range_visitor)(void *context, const struct kv_zset_element *element);

/* Visits the elements of `range` in `record`, LIMIT applied; *visited receives how many. */
static int kv_range_walk(struct kv_exec *exec, const struct kv_record *record,
                         const struct kv_range *range, kv_range_visitor visit, void *context,
                         uint64_t *visited)
{
    *visited = 0;
    uint64_t first = 0, length = UINT64_MAX, skip = 0;
    if (range->kind == KV_RANGE_RANK) {
        if (!kv_range_ranks(range, record->count, &first, &length)) {
            return 0;
        }
        first = range->reverse ? record->count - 1 - first : first;
    } else {
        if (range->offset < 0 || range->limit == 0) {
            return 0;
        }
        skip = (uint64_t)range->offset;
        length = range->limit < 0 ? UINT64_MAX : (uint64_t)range->limit;
    }
    struct kv_zset_walk walk;
    int result = kv_zset_walk_open(exec, record->id, &walk);
    if (result == 0) {
        result = range->kind == KV_RANGE_RANK ? kv_zset_walk_rank(&walk, first, record->count)
                                              : kv_range_seek(&walk, range);
    }
    for (uint64_t i = 0; result == 0 && walk.valid && i < skip; i++) {
        result = kv_zset_walk_step(&walk, range->reverse);
    }
    while (result == 0 && walk.valid && *visited < length) {
        if (range->kind != KV_RANGE_RANK && !kv_range_before_end(range, &walk.element)) {
            break;
        }
        result = visit(context, &walk.element);
        (*visited)++;
        if (result == 0 && *visited < length) {
            result = kv_zset_walk_step(&walk, range->reverse);
        }
    }
    if (result == 0 && range->kind == KV_RANGE_RANK && *visited != length) {
        result = kv_zset_corrupt(exec, "the score index is shorter than the count");
    }
    kv_zset_walk_close(&walk);
    return result;
}

static int kv_range_visit_nothing(void *context, const struct kv_zset_element *element)
{
    (void)context, (void)element;
    return 0;
}

struct kv_range_reply {
    struct kv_exec *exec;
    bool with_scores;
};

static int kv_range_visit_reply(void *context, const struct kv_zset_element *element)
{
    struct kv_range_reply *reply = context;
    kv_zset_reply_element(reply->exec, element, reply->with_scores);
    return 0;
}

static int kv_range_visit_gather(void *context, const struct kv_zset_element *element)
{
    uint64_t hash = kv_key_hash(element->member, element->member_bytes);
    return kv_zset_result_add(context, hash, element->member, element->member_bytes,
                              element->score);
}

/* Replies the range as an array: counted first, then walked again to reply. */
static int kv_range_reply(struct kv_exec *exec, const struct kv_record *record,
                          const struct kv_range *range, bool with_scores)
{
    uint64_t count;
    int result = kv_range_walk(exec, record, range, kv_range_visit_nothing, NULL, &count);
    if (result != 0) {
        return result;
    }
    kv_zset_reply_header(exec, count, with_scores);
    struct kv_range_reply reply = {.exec = exec, .with_scores = with_scores};
    uint64_t replied;
    result = kv_range_walk(exec, record, range, kv_range_visit_reply, &reply, &replied);
    assert(result != 0 || replied == count); /* one transaction: both walks see the same */
    return result;
}

/* ---- the ZRANGE family ---------------------------------------------------------------------- */

/* What a command of the family fixes before its options are read (Redis's zrangeGenericCommand
 * with its rangetype and direction). */
struct kv_range_command {
    size_t key;      /* argv index of the source key; min and max follow it */
    bool store;      /* ZRANGESTORE: the destination is argv[1] */
    bool kind_fixed; /* ZREVRANGE, ZRANGEBYSCORE, ...: BYSCORE / BYLEX are syntax errors */
    bool reverse_fixed;
    enum kv_range_kind kind;
    bool reverse;
};

/* Reads the options after min and max; replies the error and returns false. */
static bool kv_range_parse_options(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                   struct kv_range_command *command, struct kv_range *range,
                                   bool *with_scores)
{
    for (size_t i = command->key + 3; i < argc; i++) {
        const struct kv_arg *option = &argv[i];
        if (!command->store && kv_arg_equals_nocase(option, "withscores")) {
            *with_scores = true;
        } else if (kv_arg_equals_nocase(option, "limit") && argc - i - 1 >= 2) {
            if (!kv_parse_int64(argv[i + 1].data, argv[i + 1].data_bytes, &range->offset) ||
                !kv_parse_int64(argv[i + 2].data, argv[i + 2].data_bytes, &range->limit)) {
                kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
                return false;
            }
            i += 2;
        } else if (!command->reverse_fixed && kv_arg_equals_nocase(option, "rev")) {
            command->reverse = true;
            command->reverse_fixed = true;
        } else if (!command->kind_fixed && kv_arg_equals_nocase(option, "bylex")) {
            command->kind = KV_RANGE_LEX;
            command->kind_fixed = true;
        } else if (!command->kind_fixed && kv_arg_equals_nocase(option, "byscore")) {
            command->kind = KV_RANGE_SCORE;
            command->kind_fixed = true;
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    return true;
}

/* Parses a command of the family in Redis's order; replies the error and returns false. */
static bool kv_range_parse(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                           struct kv_range_command *command, struct kv_range *range,
                           bool *with_scores)
{
    memset(range, 0, sizeof *range);
    range->limit = -1;
    *with_scores = false;
    if (!kv_range_parse_options(exec, argc, argv, command, range, with_scores)) {
        return false;
    }
    range->kind = command->kind;
    range->reverse = command->reverse;
    if (range->limit != -1 && range->kind == KV_RANGE_RANK) {
        kv_reply_text_error(exec, "ERR syntax error, LIMIT is only supported in combination with "
                                  "either BYSCORE or BYLEX");
        return false;
    }
    if (*with_scores && range->kind == KV_RANGE_LEX) {
        kv_reply_text_error(exec,
                            "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return false;
    }
    const struct kv_arg *min = &argv[command->key + 1];
    const struct kv_arg *max = &argv[command->key + 2];
    if (range->reverse && range->kind != KV_RANGE_RANK) {
        const struct kv_arg *swap = min; /* reversed ranges are given as max, min */
        min = max;
        max = swap;
    }
    if (range->kind == KV_RANGE_RANK &&
        (!kv_parse_int64(min->data, min->data_bytes, &range->start) ||
         !kv_parse_int64(max->data, max->data_bytes, &range->end))) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return false;
    }
    if (range->kind == KV_RANGE_SCORE && !kv_score_range_parse(min, max, &range->score)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SCORE_RANGE);
        return false;
    }
    if (range->kind == KV_RANGE_LEX && !kv_lex_range_parse(min, max, range)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_LEX_RANGE);
        return false;
    }
    return !command->store || kv_key_writable(exec, &argv[1]);
}

static int kv_range_command_run(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                struct kv_range_command command)
{
    struct kv_range range;
    bool with_scores;
    if (!kv_range_parse(exec, argc, argv, &command, &range, &with_scores)) {
        return 0;
    }
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[command.key], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    if (!command.store) {
        if (found == KV_LOOKUP_ABSENT) {
            exec->reply->array(exec->reply->context, 0);
            return 0;
        }
        return kv_range_reply(exec, &record, &range, with_scores);
    }
    /* ZRANGESTORE: the range is gathered before the destination (maybe the source) goes. */
    struct kv_zset_result gathered;
    kv_zset_result_init(&gathered, false);
    uint64_t visited;
    int result =
        found == KV_LOOKUP_FOUND
            ? kv_range_walk(exec, &record, &range, kv_range_visit_gather, &gathered, &visited)
            : 0;
    if (result == 0) {
        result = kv_zset_result_store(exec, &argv[1], &gathered, "zrangestore");
    }
    kv_zset_result_free(&gathered);
    return result;
}

KV_HANDLER(kv_command_zrange)
{
    struct kv_range_command command = {.key = 1, .kind = KV_RANGE_RANK};
    return kv_range_command_run(exec, argc, argv, command);
}

KV_HANDLER(kv_command_zrangestore)
{
    struct kv_range_command command = {.key = 2, .store = true, .kind = KV_RANGE_RANK};
    return kv_range_command_run(exec, argc, argv, command);
}

KV_HANDLER(kv_command_zrevrange)
{
    struct kv_range_command command = {.key = 1,
                                       .kind = KV_RANGE_RANK,
                                       .kind_fixed = true,
                                       .reverse = true,
                                       .reverse_fixed = true};
    return kv_range_command_run(exec, argc, argv, command);
}

KV_HANDLER(kv_command_zrangebyscore)
{
    struct kv_range_command command = {
        .key = 1, .kind = KV_RANGE_SCORE, .kind_fixed = true, .reverse_fixed = true};
    return kv_range_command_run(exec, argc, argv, command);
}

KV_HANDLER(kv_command_zrevrangebyscore)
{
    struct kv_range_command command = {.key = 1,
                                       .kind = KV_RANGE_SCORE,
                                       .kind_fixed = true,
                                       .reverse = true,
                                       .reverse_fixed = true};
    return kv_range_command_run(exec, argc, argv, command);
}

KV_HANDLER(kv_command_zrangebylex)
{
    struct kv_range_command command = {
        .key = 1, .kind = KV_RANGE_LEX, .kind_fixed = true, .reverse_fixed = true};
    return kv_range_command_run(exec, argc, argv, command);
}

KV_HANDLER(kv_command_zrevrangebylex)
{
    struct kv_range_command command = {
        .key = 1, .kind = KV_RANGE_LEX, .kind_fixed = true, .reverse = true, .reverse_fixed = true};
    return kv_range_command_run(exec, argc, argv, command);
}

/* ---- ZCOUNT, ZLEXCOUNT ------------------------------------------------------------------------
 */

/* Counts a score or member range by walking it: O(elements in the range). */
static int kv_range_count_command(struct kv_exec *exec, const struct kv_arg *argv,
                                  enum kv_range_kind kind)
{
    struct kv_range range = {.kind = kind, .limit = -1};
    if (kind == KV_RANGE_SCORE && !kv_score_range_parse(&argv[2], &argv[3], &range.score)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SCORE_RANGE);
        return 0;
    }
    if (kind == KV_RANGE_LEX && !kv_lex_range_parse(&argv[2], &argv[3], &range)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_LEX_RANGE);
        return 0;
    }
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    uint64_t count = 0;
    if (found == KV_LOOKUP_FOUND) {
        int result = kv_range_walk(exec, &record, &range, kv_range_visit_nothing, NULL, &count);
        if (result != 0) {
            return result;
        }
    }
    exec->reply->integer(exec->reply->context, (int64_t)count);
    return 0;
}

KV_HANDLER(kv_command_zcount)
{
    (void)argc;
    return kv_range_count_command(exec, argv, KV_RANGE_SCORE);
}

KV_HANDLER(kv_command_zlexcount)
{
    (void)argc;
    return kv_range_count_command(exec, argv, KV_RANGE_LEX);
}

/* ---- ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX ------------------------------------------
 */

/* Removes a range, lowest first. Each removal moves the map's pages, so the walk seeks again
 * from a copy of the removed element's key, which lands on the element after it. */
static int kv_range_remove(struct kv_exec *exec, struct kv_record *record,
                           const struct kv_range *range, uint64_t *removed)
{
    assert(!range->reverse);
    *removed = 0;
    uint64_t first = 0, length = UINT64_MAX;
    if (range->kind == KV_RANGE_RANK && !kv_range_ranks(range, record->count, &first, &length)) {
        return 0;
    }
    struct kv_zset_walk walk;
    int result = kv_zset_walk_open(exec, record->id, &walk);
    if (result == 0) {
        result = range->kind == KV_RANGE_RANK ? kv_zset_walk_rank(&walk, first, record->count)
                                              : kv_range_seek(&walk, range);
    }
    while (result == 0 && walk.valid && *removed < length) {
        if (range->kind != KV_RANGE_RANK && !kv_range_before_end(range, &walk.element)) {
            break;
        }
        uint8_t member[KV_MAX_MEMBER_BYTES];
        size_t member_bytes = walk.element.member_bytes;
        double score = walk.element.score;
        memcpy(member, walk.element.member, member_bytes);
        result = kv_zset_element_remove(exec, record->id, score, member, member_bytes);
        (*removed)++;
        if (result == 0 && *removed < length) {
            result = kv_zset_walk_seek(&walk, kv_zset_score_order(score), member, member_bytes);
        }
    }
    kv_zset_walk_close(&walk);
    if (result == 0 &&
        (*removed > record->count || (range->kind == KV_RANGE_RANK && *removed != length))) {
        result = kv_zset_corrupt(exec, "the score index disagrees with the count");
    }
    return result;
}

static int kv_range_remove_command(struct kv_exec *exec, const struct kv_arg *argv,
                                   enum kv_range_kind kind)
{
    struct kv_range range = {.kind = kind, .limit = -1};
    bool parsed = true;
    const char *error = KV_ERROR_TEXT_NOT_INTEGER;
    if (kind == KV_RANGE_RANK) {
        parsed = kv_parse_int64(argv[2].data, argv[2].data_bytes, &range.start) &&
                 kv_parse_int64(argv[3].data, argv[3].data_bytes, &range.end);
    } else if (kind == KV_RANGE_SCORE) {
        parsed = kv_score_range_parse(&argv[2], &argv[3], &range.score);
        error = KV_ERROR_TEXT_SCORE_RANGE;
    } else {
        parsed = kv_lex_range_parse(&argv[2], &argv[3], &range);
        error = KV_ERROR_TEXT_LEX_RANGE;
    }
    if (!parsed) {
        kv_reply_text_error(exec, error);
        return 0;
    }
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    uint64_t removed = 0;
    if (found == KV_LOOKUP_FOUND) {
        int result = kv_range_remove(exec, &record, &range, &removed);
        if (result == 0 && removed > 0) {
            static const char *const events[] = {[KV_RANGE_RANK] = "zremrangebyrank",
                                                 [KV_RANGE_SCORE] = "zremrangebyscore",
                                                 [KV_RANGE_LEX] = "zremrangebylex"};
            record.count -= removed;
            result = kv_collection_store(exec, &argv[1], &record);
            if (result == 0) {
                kv_notify_removal(exec, KV_NOTIFY_ZSET, events[kind], &argv[1], record.count == 0);
            }
        }
        if (result != 0) {
            return result;
        }
    }
    exec->reply->integer(exec->reply->context, (int64_t)removed);
    return 0;
}

KV_HANDLER(kv_command_zremrangebyrank)
{
    (void)argc;
    return kv_range_remove_command(exec, argv, KV_RANGE_RANK);
}

KV_HANDLER(kv_command_zremrangebyscore)
{
    (void)argc;
    return kv_range_remove_command(exec, argv, KV_RANGE_SCORE);
}

KV_HANDLER(kv_command_zremrangebylex)
{
    (void)argc;
    return kv_range_remove_command(exec, argv, KV_RANGE_LEX);
}
