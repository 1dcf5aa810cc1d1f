/*
 * zset_store.c — sorted set algebra: ZUNION, ZINTER, ZDIFF, their *STORE forms and ZINTERCARD
 * (WEIGHTS, AGGREGATE SUM|MIN|MAX, WITHSCORES, LIMIT), over sorted sets and plain sets (a
 * set's members count with score 1, as in Redis); and the in-memory result they, ZRANGESTORE
 * and ZRANDMEMBER gather into.
 *
 * Happy path, as Redis's zunionInterDiffGenericCommand: every input key is looked up first
 * (WRONGTYPE for another type), then the options are parsed; the inputs are ordered by size
 * (smallest first, ties in argument order) except for ZDIFF. A union walks each input's
 * member index and folds each member's weighted score into a hashed result, in that order
 * (so floating-point sums round exactly as Redis's do); an intersection walks the smallest
 * input and looks each member up in the others (O(log n) each); a difference walks the first
 * and looks its members up in the rest. A weighted score that is NaN (0 * inf) counts as 0,
 * and so does a SUM of inf and -inf, as in Redis.
 *
 * The result is gathered in memory before anything is written, so a destination that is
 * also an input is read whole first, and no cursor is walked while the map changes. A
 * *STORE then writes a new set under a fresh id (the old value's items go to the trash);
 * the read forms sort it by score and member, as Redis's skiplist would hold it.
 *
 * Failure modes: syntax, weights and LIMIT errors are replied before any write; running out
 * of memory while gathering is KV_ERROR_NO_MEMORY (the entry is then not applied anywhere,
 * as with any storage failure); members that do not fit their index are corruption.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/zset.h"

#define KV_ZSET_RESULT_MIN_ENTRIES 16
#define KV_ZSET_RESULT_MIN_BYTES   1024

/* ---- the gathered result ------------------------------------------------------------------ */

void kv_zset_result_init(struct kv_zset_result *result, bool indexed)
{
    memset(result, 0, sizeof *result);
    result->indexed = indexed;
}

void kv_zset_result_free(struct kv_zset_result *result)
{
    free(result->entries);
    free(result->bytes);
    free(result->slots);
    memset(result, 0, sizeof *result);
}

const uint8_t *kv_zset_result_member(const struct kv_zset_result *result,
                                     const struct kv_zset_entry *entry)
{
    return result->bytes + entry->offset;
}

static bool kv_zset_entry_is(const struct kv_zset_result *result, const struct kv_zset_entry *entry,
                             uint64_t hash, const uint8_t *member, size_t member_bytes)
{
    return entry->hash == hash && entry->member_bytes == member_bytes &&
           (member_bytes == 0 ||
            memcmp(kv_zset_result_member(result, entry), member, member_bytes) == 0);
}

/* Puts entry `index` in the open-addressing table (linear probing). */
static void kv_zset_slot_insert(struct kv_zset_result *result, size_t index)
{
    size_t mask = result->slot_count - 1;
    size_t slot = (size_t)result->entries[index].hash & mask;
    while (result->slots[slot] != 0) {
        slot = (slot + 1) & mask;
    }
    result->slots[slot] = index + 1;
}

/* Keeps the table at most half full, rebuilding it twice as large when needed. */
static int kv_zset_index_entry(struct kv_zset_result *result, size_t index)
{
    if (2 * result->count > result->slot_count) {
        size_t slot_count =
            result->slot_count == 0 ? 2 * KV_ZSET_RESULT_MIN_ENTRIES : 2 * result->slot_count;
        size_t *slots = calloc(slot_count, sizeof *slots);
        if (slots == NULL) {
            return KV_ERROR_NO_MEMORY;
        }
        free(result->slots);
        result->slots = slots;
        result->slot_count = slot_count;
        for (size_t i = 0; i < result->count; i++) {
            kv_zset_slot_insert(result, i);
        }
        return 0;
    }
    kv_zset_slot_insert(result, index);
    return 0;
}

/* Makes room for one more entry of `member_bytes`. */
static int kv_zset_result_reserve(struct kv_zset_result *result, size_t member_bytes)
{
    if (result->count == result->capacity) {
        size_t capacity = result->capacity == 0 ? KV_ZSET_RESULT_MIN_ENTRIES : 2 * result->capacity;
        struct kv_zset_entry *entries = realloc(result->entries, capacity * sizeof *entries);
        if (entries == NULL) {
            return KV_ERROR_NO_MEMORY;
        }
        result->entries = entries;
        result->capacity = capacity;
    }
    if (result->bytes_capacity - result->bytes_used < member_bytes) {
        size_t capacity =
            result->bytes_capacity == 0 ? KV_ZSET_RESULT_MIN_BYTES : 2 * result->bytes_capacity;
        while (capacity - result->bytes_used < member_bytes) {
            capacity *= 2;
        }
        uint8_t *bytes = realloc(result->bytes, capacity);
        if (bytes == NULL) {
            return KV_ERROR_NO_MEMORY;
        }
        result->bytes = bytes;
        result->bytes_capacity = capacity;
    }
    return 0;
}

int kv_zset_result_add(struct kv_zset_result *result, uint64_t hash, const uint8_t *member,
                       size_t member_bytes, double score)
{
    assert(member_bytes <= KV_MAX_MEMBER_BYTES);
    int rc = kv_zset_result_reserve(result, member_bytes);
    if (rc != 0) {
        return rc;
    }
    struct kv_zset_entry *entry = &result->entries[result->count];
    entry->score = score;
    entry->hash = hash;
    entry->offset = result->bytes_used;
    entry->member_bytes = member_bytes;
    if (member_bytes > 0) {
        memcpy(result->bytes + result->bytes_used, member, member_bytes);
    }
    result->bytes_used += member_bytes;
    result->count++;
    return result->indexed ? kv_zset_index_entry(result, result->count - 1) : 0;
}

struct kv_zset_entry *kv_zset_result_find(struct kv_zset_result *result, uint64_t hash,
                                          const uint8_t *member, size_t member_bytes)
{
    assert(result->indexed);
    if (result->slot_count == 0) {
        return NULL;
    }
    size_t mask = result->slot_count - 1;
    for (size_t slot = (size_t)hash & mask; result->slots[slot] != 0; slot = (slot + 1) & mask) {
        struct kv_zset_entry *entry = &result->entries[result->slots[slot] - 1];
        if (kv_zset_entry_is(result, entry, hash, member, member_bytes)) {
            return entry;
        }
    }
    return NULL;
}

static int kv_zset_entry_compare(const void *a, const void *b, void *context)
{
    const struct kv_zset_result *result = context;
    const struct kv_zset_entry *left = a;
    const struct kv_zset_entry *right = b;
    if (left->score != right->score) {
        return left->score < right->score ? -1 : 1;
    }
    size_t common =
        left->member_bytes < right->member_bytes ? left->member_bytes : right->member_bytes;
    int order = common > 0 ? memcmp(kv_zset_result_member(result, left),
                                    kv_zset_result_member(result, right), common)
                           : 0;
    if (order != 0) {
        return order;
    }
    return left->member_bytes < right->member_bytes   ? -1
           : left->member_bytes > right->member_bytes ? 1
                                                      : 0;
}

void kv_zset_result_sort(struct kv_zset_result *result)
{
    free(result->slots); /* positions change: the index would be stale */
    result->slots = NULL;
    result->slot_count = 0;
    result->indexed = false;
    if (result->count > 1) {
        qsort_r(result->entries, result->count, sizeof *result->entries, kv_zset_entry_compare,
                result);
    }
}

void kv_zset_result_reply(struct kv_exec *exec, const struct kv_zset_result *result,
                          bool with_scores)
{
    kv_zset_reply_header(exec, result->count, with_scores);
    for (size_t i = 0; i < result->count; i++) {
        const struct kv_zset_entry *entry = &result->entries[i];
        struct kv_zset_element element = {
            .score = entry->score,
            .member = kv_zset_result_member(result, entry),
            .member_bytes = entry->member_bytes,
        };
        kv_zset_reply_element(exec, &element, with_scores);
    }
}

int kv_zset_result_store(struct kv_exec *exec, const struct kv_arg *destination,
                         const struct kv_zset_result *result, const char *event)
{
    int rc = 0;
    bool deleted = false;
    if (result->count == 0) {
        rc = kv_key_delete(exec, destination, &deleted);
    } else {
        struct kv_record record;
        kv_collection_new(exec, KV_TYPE_ZSET, &record);
        for (size_t i = 0; rc == 0 && i < result->count; i++) {
            const struct kv_zset_entry *entry = &result->entries[i];
            rc = kv_zset_element_insert(exec, record.id, entry->score,
                                        kv_zset_result_member(result, entry), entry->member_bytes);
        }
        record.count = result->count;
        if (rc == 0) {
            rc = kv_collection_store(exec, destination, &record);
        }
    }
    if (rc == 0 && (result->count > 0 || deleted)) {
        kv_notify(exec, result->count > 0 ? KV_NOTIFY_ZSET : KV_NOTIFY_GENERIC,
                  result->count > 0 ? event : "del", destination);
    }
    if (rc == 0) {
        exec->reply->integer(exec->reply->context, (int64_t)result->count);
    }
    return rc;
}

/* ---- the inputs --------------------------------------------------------------------------- */

/* One input key of ZUNION and friends: a sorted set, a set, or nothing (count 0). */
struct kv_zset_source {
    bool is_set;
    uint64_t id;
    uint64_t count;
    double weight;
    size_t position; /* among the inputs, for a stable order by size */
};

#define KV_SOURCE_STOP 1 /* a visitor's "enough" */

typedef int (*kv_source_visitor)(void *context, const struct kv_zset_member_walk *member);

/* Visits every member of an input in hash order, until a visitor returns nonzero. */
static int kv_source_each(struct kv_exec *exec, const struct kv_zset_source *source,
                          kv_source_visitor visit, void *context)
{
    if (source->count == 0) {
        return 0;
    }
    struct kv_zset_member_walk walk;
    int result = kv_zset_member_walk_open(exec, source->id, source->is_set, &walk);
    if (result == 0) {
        result = kv_zset_member_walk_seek(&walk, 0);
    }
    while (result == 0 && walk.valid) {
        result = visit(context, &walk);
        if (result == 0) {
            result = kv_zset_member_walk_next(&walk);
        }
    }
    kv_zset_member_walk_close(&walk);
    return result == KV_SOURCE_STOP ? 0 : result;
}

/* A member's score in an input (1 in a set); *found false when absent. */
static int kv_source_find(struct kv_exec *exec, const struct kv_zset_source *source,
                          const struct kv_zset_member_walk *member, double *score, bool *found)
{
    *found = false;
    if (source->count == 0) {
        return 0;
    }
    struct kv_item_key key;
    kv_zset_hashed_member_key(&key, source->id, source->is_set, member->hash,
                              member->element.member, member->element.member_bytes);
    MDB_val value;
    int result = kv_item_get(exec, &key, &value, found);
    if (result != 0 || !*found) {
        return result;
    }
    if (source->is_set) {
        *score = 1.0;
        return 0;
    }
    if (value.mv_size != KV_ZSET_SCORE_BYTES) {
        return kv_zset_corrupt(exec, "a score is not 8 bytes");
    }
    *score = kv_zset_score_decode(value.mv_data);
    return 0;
}

static int kv_source_compare_size(const void *a, const void *b)
{
    const struct kv_zset_source *left = a;
    const struct kv_zset_source *right = b;
    if (left->count != right->count) {
        return left->count < right->count ? -1 : 1;
    }
    return left->position < right->position ? -1 : left->position > right->position ? 1 : 0;
}

/* ---- ZUNION, ZINTER, ZDIFF, their *STORE forms, ZINTERCARD --------------------------------------
 */

enum kv_setop_kind {
    KV_SETOP_UNION,
    KV_SETOP_INTER,
    KV_SETOP_DIFF,
};

enum kv_aggregate {
    KV_AGGREGATE_SUM,
    KV_AGGREGATE_MIN,
    KV_AGGREGATE_MAX,
};

/* One command of the family, as its handler fixes it and its arguments fill it in. */
struct kv_setop {
    enum kv_setop_kind kind;
    const char *name;   /* for "at least 1 input key is needed for '%s' command" */
    bool store;         /* argv[1] is the destination, numkeys is argv[2] */
    bool cardinality;   /* ZINTERCARD */
    size_t numkeys_arg; /* argv index of numkeys */
    enum kv_aggregate aggregate;
    bool with_scores;
    uint64_t limit; /* ZINTERCARD's LIMIT; 0: none */
    struct kv_zset_source *sources;
    size_t source_count;
    uint64_t cardinality_count; /* out: ZINTERCARD's answer */
    struct kv_zset_result result;
};

/* Redis's zunionInterAggregate. */
static double kv_aggregate(enum kv_aggregate aggregate, double target, double value)
{
    if (aggregate == KV_AGGREGATE_SUM) {
        double sum = target + value;
        return isnan(sum) ? 0.0 : sum; /* inf + -inf: 0, by Redis's convention */
    }
    if (aggregate == KV_AGGREGATE_MIN) {
        return value < target ? value : target;
    }
    return value > target ? value : target;
}

static double kv_weighted(const struct kv_zset_source *source, double score)
{
    double weighted = source->weight * score;
    return isnan(weighted) ? 0.0 : weighted; /* 0 * inf */
}

/* numkeys, then every input looked up, in Redis's order; replies the error, returns false. */
static int kv_setop_parse_keys(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                               struct kv_setop *op, bool *ok)
{
    *ok = false;
    int64_t count;
    if (!kv_parse_int64(argv[op->numkeys_arg].data, argv[op->numkeys_arg].data_bytes, &count)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    if (count < 1) {
        char text[128];
        snprintf(text, sizeof text, "ERR at least 1 input key is needed for '%s' command",
                 op->name);
        kv_reply_text_error(exec, text);
        return 0;
    }
    if ((uint64_t)count > argc - op->numkeys_arg - 1) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    op->sources = calloc((size_t)count, sizeof *op->sources);
    if (op->sources == NULL) {
        return KV_ERROR_NO_MEMORY;
    }
    op->source_count = (size_t)count;
    for (size_t i = 0; i < op->source_count; i++) {
        struct kv_record record;
        int found = kv_lookup(exec, &argv[op->numkeys_arg + 1 + i], -1, &record);
        if (found < 0) {
            return found;
        }
        if (found == KV_LOOKUP_FOUND && record.type != KV_TYPE_ZSET && record.type != KV_TYPE_SET) {
            kv_reply_wrong_type(exec);
            return 0;
        }
        struct kv_zset_source *source = &op->sources[i];
        source->weight = 1.0;
        source->position = i;
        if (found == KV_LOOKUP_FOUND) {
            source->is_set = record.type == KV_TYPE_SET;
            source->id = record.id;
            source->count = record.count;
        }
    }
    *ok = true;
    return 0;
}

/* WEIGHTS, AGGREGATE, WITHSCORES and LIMIT, where each is allowed; false after an error. */
static bool kv_setop_parse_options(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                                   struct kv_setop *op)
{
    bool weighable = op->kind != KV_SETOP_DIFF && !op->cardinality;
    for (size_t i = op->numkeys_arg + 1 + op->source_count; i < argc;) {
        size_t remaining = argc - i;
        if (weighable && remaining >= op->source_count + 1 &&
            kv_arg_equals_nocase(&argv[i], "weights")) {
            for (size_t j = 0; j < op->source_count; j++) {
                if (!kv_parse_double(&argv[i + 1 + j], &op->sources[j].weight)) {
                    kv_reply_text_error(exec, "ERR weight value is not a float");
                    return false;
                }
            }
            i += 1 + op->source_count;
        } else if (weighable && remaining >= 2 && kv_arg_equals_nocase(&argv[i], "aggregate")) {
            const struct kv_arg *name = &argv[i + 1];
            if (kv_arg_equals_nocase(name, "sum")) {
                op->aggregate = KV_AGGREGATE_SUM;
            } else if (kv_arg_equals_nocase(name, "min")) {
                op->aggregate = KV_AGGREGATE_MIN;
            } else if (kv_arg_equals_nocase(name, "max")) {
                op->aggregate = KV_AGGREGATE_MAX;
            } else {
                kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
                return false;
            }
            i += 2;
        } else if (!op->store && !op->cardinality && kv_arg_equals_nocase(&argv[i], "withscores")) {
            op->with_scores = true;
            i++;
        } else if (op->cardinality && remaining >= 2 && kv_arg_equals_nocase(&argv[i], "limit")) {
            int64_t limit;
            if (!kv_parse_int64(argv[i + 1].data, argv[i + 1].data_bytes, &limit) || limit < 0) {
                kv_reply_text_error(exec, "ERR LIMIT can't be negative");
                return false;
            }
            op->limit = (uint64_t)limit;
            i += 2;
        } else {
            kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
            return false;
        }
    }
    return !op->store || kv_key_writable(exec, &argv[1]);
}

struct kv_setop_visit {
    struct kv_exec *exec;
    struct kv_setop *op;
    const struct kv_zset_source *source;
};

static int kv_union_visit(void *context, const struct kv_zset_member_walk *member)
{
    struct kv_setop_visit *visit = context;
    struct kv_zset_result *result = &visit->op->result;
    double score = kv_weighted(visit->source, member->element.score);
    const struct kv_zset_element *element = &member->element;
    struct kv_zset_entry *entry =
        kv_zset_result_find(result, member->hash, element->member, element->member_bytes);
    if (entry != NULL) {
        entry->score = kv_aggregate(visit->op->aggregate, entry->score, score);
        return 0;
    }
    return kv_zset_result_add(result, member->hash, element->member, element->member_bytes, score);
}

static int kv_inter_visit(void *context, const struct kv_zset_member_walk *member)
{
    struct kv_setop_visit *visit = context;
    struct kv_setop *op = visit->op;
    const struct kv_zset_source *first = &op->sources[0];
    double score = kv_weighted(first, member->element.score);
    for (size_t j = 1; j < op->source_count; j++) {
        const struct kv_zset_source *other = &op->sources[j];
        double value;
        bool found;
        int result = kv_source_find(visit->exec, other, member, &value, &found);
        if (result != 0) {
            return result;
        }
        if (!found) {
            return 0;
        }
        score = kv_aggregate(op->aggregate, score, kv_weighted(other, value));
    }
    if (op->cardinality) {
        op->cardinality_count++;
        return op->limit > 0 && op->cardinality_count >= op->limit ? KV_SOURCE_STOP : 0;
    }
    const struct kv_zset_element *element = &member->element;
    return kv_zset_result_add(&op->result, member->hash, element->member, element->member_bytes,
                              score);
}

static int kv_diff_visit(void *context, const struct kv_zset_member_walk *member)
{
    struct kv_setop_visit *visit = context;
    struct kv_setop *op = visit->op;
    for (size_t j = 1; j < op->source_count; j++) {
        double value;
        bool found;
        int result = kv_source_find(visit->exec, &op->sources[j], member, &value, &found);
        if (result != 0 || found) {
            return result;
        }
    }
    const struct kv_zset_element *element = &member->element;
    return kv_zset_result_add(&op->result, member->hash, element->member, element->member_bytes,
                              element->score);
}

/* Computes the operation into op->result (or op->cardinality_count). */
static int kv_setop_compute(struct kv_exec *exec, struct kv_setop *op)
{
    struct kv_setop_visit visit = {.exec = exec, .op = op, .source = &op->sources[0]};
    if (op->kind != KV_SETOP_DIFF) {
        qsort(op->sources, op->source_count, sizeof *op->sources, kv_source_compare_size);
    }
    if (op->kind == KV_SETOP_UNION) {
        int result = 0;
        for (size_t i = 0; result == 0 && i < op->source_count; i++) {
            visit.source = &op->sources[i];
            result = kv_source_each(exec, visit.source, kv_union_visit, &visit);
        }
        return result;
    }
    if (op->kind == KV_SETOP_INTER) {
        return kv_source_each(exec, &op->sources[0], kv_inter_visit, &visit);
    }
    for (size_t j = 1; j < op->source_count; j++) {
        if (op->sources[0].count > 0 && op->sources[j].count > 0 &&
            op->sources[j].id == op->sources[0].id &&
            op->sources[j].is_set == op->sources[0].is_set) {
            return 0; /* the first input again: nothing is left */
        }
    }
    return kv_source_each(exec, &op->sources[0], kv_diff_visit, &visit);
}

static int kv_setop_run(struct kv_exec *exec, size_t argc, const struct kv_arg *argv,
                        struct kv_setop op)
{
    kv_zset_result_init(&op.result, op.kind == KV_SETOP_UNION);
    bool ok;
    int result = kv_setop_parse_keys(exec, argc, argv, &op, &ok);
    if (result == 0 && ok && kv_setop_parse_options(exec, argc, argv, &op)) {
        result = kv_setop_compute(exec, &op);
        if (result == 0 && op.store) {
            result = kv_zset_result_store(exec, &argv[1], &op.result, op.name);
        } else if (result == 0 && op.cardinality) {
            exec->reply->integer(exec->reply->context, (int64_t)op.cardinality_count);
        } else if (result == 0) {
            kv_zset_result_sort(&op.result);
            kv_zset_result_reply(exec, &op.result, op.with_scores);
        }
    }
    kv_zset_result_free(&op.result);
    free(op.sources);
    return result;
}

KV_HANDLER(kv_command_zunionstore)
{
    struct kv_setop op = {
        .kind = KV_SETOP_UNION, .name = "zunionstore", .store = true, .numkeys_arg = 2};
    return kv_setop_run(exec, argc, argv, op);
}

KV_HANDLER(kv_command_zinterstore)
{
    struct kv_setop op = {
        .kind = KV_SETOP_INTER, .name = "zinterstore", .store = true, .numkeys_arg = 2};
    return kv_setop_run(exec, argc, argv, op);
}

KV_HANDLER(kv_command_zdiffstore)
{
    struct kv_setop op = {
        .kind = KV_SETOP_DIFF, .name = "zdiffstore", .store = true, .numkeys_arg = 2};
    return kv_setop_run(exec, argc, argv, op);
}

KV_HANDLER(kv_command_zunion)
{
    struct kv_setop op = {.kind = KV_SETOP_UNION, .name = "zunion", .numkeys_arg = 1};
    return kv_setop_run(exec, argc, argv, op);
}

KV_HANDLER(kv_command_zinter)
{
    struct kv_setop op = {.kind = KV_SETOP_INTER, .name = "zinter", .numkeys_arg = 1};
    return kv_setop_run(exec, argc, argv, op);
}

KV_HANDLER(kv_command_zdiff)
{
    struct kv_setop op = {.kind = KV_SETOP_DIFF, .name = "zdiff", .numkeys_arg = 1};
    return kv_setop_run(exec, argc, argv, op);
}

KV_HANDLER(kv_command_zintercard)
{
    struct kv_setop op = {
        .kind = KV_SETOP_INTER, .name = "zintercard", .cardinality = true, .numkeys_arg = 1};
    return kv_setop_run(exec, argc, argv, op);
}
