/*
 * zset_scan.c — the sorted set commands that sample or page through a set rather than walk a
 * range: ZRANDMEMBER (count, WITHSCORES) and ZSCAN (MATCH, COUNT).
 *
 * ZSCAN's cursor is a member hash, exactly as SCAN's is a key hash (keyspace.c): the member
 * index is in hash order, a call visits at least COUNT members and then goes on to the next
 * hash boundary, and the cursor returned is the hash of the next member to visit (0 at the
 * end). It is stateless, valid across restarts and on every replica, and a member present for
 * a whole iteration is returned exactly once. Redis returns a small set whole whatever the
 * COUNT; this returns COUNT members (or a few more) per call at any size.
 *
 * ZRANDMEMBER is a read; its draws come from kv_random (seeded per read: variety, not
 * agreement). Without subtree counts an element cannot be drawn by rank cheaply, so a set of
 * up to KV_ZSET_RANDOM_WALK_MAX members draws a uniform rank and walks to it, and a larger one
 * draws a random 64-bit hash and takes the first member at or after it in the member index:
 * O(log n), each member's chance in proportion to the gap before its hash (hashes are spread
 * evenly, so the gaps are, on average). Distinct members (a positive count) follow Redis's
 * strategies: the whole set when the count reaches its size, an exact uniform selection in one
 * walk (Knuth's algorithm S) when the count is over a third of it, and repeated draws without
 * duplicates otherwise, falling back to the selection if draws keep repeating.
 *
 * Failure modes: Redis's errors for a bad count, cursor or option; a negative count beyond
 * KV_ZSET_RANDOM_MAX_REPEATS is refused, with hash.c's text (Redis would build a reply of that
 * many members).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/zset.h"

#define KV_ZSET_RANDOM_WALK_MAX    64
#define KV_ZSET_RANDOM_MAX_REPEATS (1 << 20)
#define KV_ZSET_SPARSE_FACTOR      3 /* Redis's ZRANDMEMBER_SUB_STRATEGY_MUL */

/* ---- ZRANDMEMBER ---------------------------------------------------------------------------- */

/* The two cursors a draw may use. */
struct kv_zset_draw {
    struct kv_exec *exec;
    const struct kv_record *record;
    struct kv_zset_walk ranks;
    struct kv_zset_member_walk members;
};

static int kv_zset_draw_open(struct kv_exec *exec, const struct kv_record *record,
                             struct kv_zset_draw *draw)
{
    draw->exec = exec;
    draw->record = record;
    int result = kv_zset_walk_open(exec, record->id, &draw->ranks);
    if (result == 0) {
        result = kv_zset_member_walk_open(exec, record->id, false, &draw->members);
    }
    return result;
}

static void kv_zset_draw_close(struct kv_zset_draw *draw)
{
    kv_zset_walk_close(&draw->ranks);
    if (draw->members.cursor != NULL) {
        kv_zset_member_walk_close(&draw->members);
    }
}

/* Draws one element (pointing into the map) and its member hash. */
static int kv_zset_draw_one(struct kv_zset_draw *draw, struct kv_zset_element *element,
                            uint64_t *hash)
{
    uint64_t count = draw->record->count;
    if (count <= KV_ZSET_RANDOM_WALK_MAX) {
        int result = kv_zset_walk_rank(&draw->ranks, kv_random(draw->exec) % count, count);
        *element = draw->ranks.element;
        *hash = kv_key_hash(element->member, element->member_bytes);
        return result;
    }
    int result = kv_zset_member_walk_seek(&draw->members, kv_random(draw->exec));
    if (result == 0 && !draw->members.valid) {
        result = kv_zset_member_walk_seek(&draw->members, 0); /* past the last hash: wrap */
    }
    if (result == 0 && !draw->members.valid) {
        result = kv_zset_corrupt(draw->exec, "the member index is empty");
    }
    *element = draw->members.element;
    *hash = draw->members.hash;
    return result;
}

/* `count` draws with repetition (a negative count, or 1), replied as they come. */
static int kv_zset_random_repeated(struct kv_zset_draw *draw, uint64_t count, bool with_scores)
{
    struct kv_exec *exec = draw->exec;
    kv_zset_reply_header(exec, count, with_scores);
    int result = 0;
    for (uint64_t i = 0; result == 0 && i < count; i++) {
        struct kv_zset_element element;
        uint64_t hash;
        result = kv_zset_draw_one(draw, &element, &hash);
        if (result == 0) {
            kv_zset_reply_element(exec, &element, with_scores);
        }
    }
    return result;
}

/* `count` distinct members, each subset equally likely, in one walk from the highest score
 * (Knuth's selection sampling); with count equal to the size, the whole set in that order,
 * which is the order Redis returns a whole set in. */
static int kv_zset_random_selection(struct kv_zset_draw *draw, uint64_t count, bool with_scores)
{
    struct kv_exec *exec = draw->exec;
    uint64_t size = draw->record->count;
    assert(count <= size);
    kv_zset_reply_header(exec, count, with_scores);
    uint64_t needed = count;
    int result = kv_zset_walk_last(&draw->ranks);
    for (uint64_t seen = 0; result == 0 && needed > 0; seen++) {
        if (!draw->ranks.valid || seen >= size) {
            return kv_zset_corrupt(exec, "the score index is shorter than the count");
        }
        if (needed == size - seen || kv_random(exec) % (size - seen) < needed) {
            kv_zset_reply_element(exec, &draw->ranks.element, with_scores);
            needed--;
        }
        if (needed > 0) {
            result = kv_zset_walk_prev(&draw->ranks);
        }
    }
    return result;
}

/* `count` distinct members of a set at least three times larger: draws until that many
 * different ones came up, then replies them in the order drawn. Draws are biased for large
 * sets, so an unlucky streak is cut short by the exact selection. */
static int kv_zset_random_sparse(struct kv_zset_draw *draw, uint64_t count, bool with_scores)
{
    struct kv_zset_result picked;
    kv_zset_result_init(&picked, true);
    uint64_t attempts = 8 * count + 64;
    int result = 0;
    while (result == 0 && picked.count < count && attempts-- > 0) {
        struct kv_zset_element element;
        uint64_t hash;
        result = kv_zset_draw_one(draw, &element, &hash);
        if (result == 0 &&
            kv_zset_result_find(&picked, hash, element.member, element.member_bytes) == NULL) {
            result = kv_zset_result_add(&picked, hash, element.member, element.member_bytes,
                                        element.score);
        }
    }
    if (result == 0 && picked.count == count) {
        kv_zset_result_reply(draw->exec, &picked, with_scores);
    } else if (result == 0) {
        result = kv_zset_random_selection(draw, count, with_scores);
    }
    kv_zset_result_free(&picked);
    return result;
}

/* ZRANDMEMBER key count [WITHSCORES], after parsing. */
static int kv_zset_random_count(struct kv_exec *exec, const struct kv_arg *key, int64_t count,
                                bool with_scores)
{
    struct kv_record record;
    int found = kv_zset_lookup(exec, key, &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    if (found == KV_LOOKUP_ABSENT || count == 0) {
        exec->reply->array(exec->reply->context, 0);
        return 0;
    }
    uint64_t wanted = count < 0 ? (uint64_t)0 - (uint64_t)count : (uint64_t)count;
    if (count < 0 && wanted > KV_ZSET_RANDOM_MAX_REPEATS) {
        /* The text hash.c replies for HRANDFIELD and SRANDMEMBER. */
        kv_reply_text_error(exec, "ERR count would repeat more than 1048576 members");
        return 0;
    }
    struct kv_zset_draw draw = {0};
    int result = kv_zset_draw_open(exec, &record, &draw);
    if (result != 0) {
        /* nothing replied */
    } else if (count < 0 || count == 1) {
        result = kv_zset_random_repeated(&draw, wanted, with_scores);
    } else if (wanted >= record.count) {
        result = kv_zset_random_selection(&draw, record.count, with_scores);
    } else if (wanted * KV_ZSET_SPARSE_FACTOR > record.count) {
        result = kv_zset_random_selection(&draw, wanted, with_scores);
    } else {
        result = kv_zset_random_sparse(&draw, wanted, with_scores);
    }
    kv_zset_draw_close(&draw);
    return result;
}

KV_HANDLER(kv_command_zrandmember)
{
    if (argc == 2) {
        struct kv_record record;
        int found = kv_zset_lookup(exec, &argv[1], &record);
        if (found != KV_LOOKUP_FOUND) {
            if (found == KV_LOOKUP_ABSENT) {
                exec->reply->null(exec->reply->context);
            }
            return found < 0 ? found : 0;
        }
        struct kv_zset_draw draw = {0};
        struct kv_zset_element element;
        uint64_t hash;
        int result = kv_zset_draw_open(exec, &record, &draw);
        if (result == 0) {
            result = kv_zset_draw_one(&draw, &element, &hash);
        }
        if (result == 0) {
            kv_zset_reply_element(exec, &element, false);
        }
        kv_zset_draw_close(&draw);
        return result;
    }
    int64_t count;
    if (!kv_parse_int64(argv[2].data, argv[2].data_bytes, &count)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_NOT_INTEGER);
        return 0;
    }
    if (count == INT64_MIN) {
        kv_reply_text_error(exec, "ERR value is out of range, value must between "
                                  "-9223372036854775807 and 9223372036854775807");
        return 0;
    }
    bool with_scores = argc == 4 && kv_arg_equals_nocase(&argv[3], "withscores");
    if (argc > 4 || (argc == 4 && !with_scores)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_SYNTAX);
        return 0;
    }
    if (with_scores && (count < INT64_MIN / 2 || count > INT64_MAX / 2)) {
        kv_reply_text_error(exec, "ERR value is out of range");
        return 0;
    }
    return kv_zset_random_count(exec, &argv[1], count, with_scores);
}

/* ---- ZSCAN ---------------------------------------------------------------------------------- */

struct kv_zscan {
    uint64_t cursor;
    uint64_t count;
    const struct kv_arg *match; /* NULL: every member */
    bool emit;
    uint64_t matched;     /* out */
    uint64_t next_cursor; /* out: 0 at the end */
};

/* One pass over the members from the cursor: counts the matches, or replies them. */
static int kv_zscan_walk(struct kv_exec *exec, const struct kv_record *record,
                         struct kv_zscan *scan)
{
    scan->matched = 0;
    scan->next_cursor = 0;
    struct kv_zset_member_walk walk;
    int result = kv_zset_member_walk_open(exec, record->id, false, &walk);
    if (result == 0) {
        result = kv_zset_member_walk_seek(&walk, scan->cursor);
    }
    uint64_t visited = 0;
    uint64_t previous_hash = 0;
    while (result == 0 && walk.valid) {
        if (visited >= scan->count && walk.hash != previous_hash) {
            scan->next_cursor = walk.hash; /* nonzero: it follows a visited hash */
            break;
        }
        visited++;
        previous_hash = walk.hash;
        const struct kv_zset_element *element = &walk.element;
        if (scan->match == NULL || kv_glob_match(scan->match->data, scan->match->data_bytes,
                                                 element->member, element->member_bytes)) {
            scan->matched++;
            if (scan->emit) {
                /* ZSCAN stays flat, its scores bulk strings, in RESP3 too (as Redis's). */
                char text[KV_DOUBLE_TEXT_BYTES];
                size_t length = kv_format_double(element->score, text);
                exec->reply->bulk(exec->reply->context, element->member, element->member_bytes);
                exec->reply->bulk(exec->reply->context, (const uint8_t *)text, length);
            }
        }
        result = kv_zset_member_walk_next(&walk);
    }
    kv_zset_member_walk_close(&walk);
    return result;
}

static void kv_zscan_reply_cursor(struct kv_exec *exec, uint64_t cursor)
{
    exec->reply->array(exec->reply->context, 2);
    kv_reply_scan_cursor(exec, cursor);
}

KV_HANDLER(kv_command_zscan)
{
    struct kv_zscan scan = {.count = KV_SCAN_DEFAULT_COUNT};
    if (!kv_scan_cursor_parse(&argv[2], &scan.cursor)) {
        kv_reply_text_error(exec, KV_ERROR_TEXT_INVALID_CURSOR);
        return 0;
    }
    /* As Redis: the key is looked up before the options are read. */
    struct kv_record record;
    int found = kv_zset_lookup(exec, &argv[1], &record);
    if (found < 0 || found == KV_LOOKUP_WRONG_TYPE) {
        return found < 0 ? found : 0;
    }
    if (found == KV_LOOKUP_ABSENT) {
        kv_zscan_reply_cursor(exec, 0);
        exec->reply->array(exec->reply->context, 0);
        return 0;
    }
    struct kv_scan_options options = {.count = scan.count};
    if (!kv_scan_options_parse(exec, argc, argv, 3, false, &options)) {
        return 0;
    }
    scan.count = options.count;
    scan.match = options.match;
    int result = kv_zscan_walk(exec, &record, &scan);
    if (result != 0) {
        return result;
    }
    uint64_t matched = scan.matched;
    uint64_t next_cursor = scan.next_cursor;
    kv_zscan_reply_cursor(exec, next_cursor);
    exec->reply->array(exec->reply->context, 2 * matched);
    scan.emit = true;
    result = kv_zscan_walk(exec, &record, &scan);
    assert(result != 0 || (scan.matched == matched && scan.next_cursor == next_cursor));
    return result;
}
