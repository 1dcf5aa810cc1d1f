/*
 * test_kv_list.c — the list commands against Redis 7.0's replies: pushes and pops at both ends
 * (with counts, count 0, a missing key's null array), LRANGE/LINDEX/LSET with negative and
 * out-of-range indexes, LINSERT and LREM moving the shorter side, LTRIM (also its copy under a
 * fresh id), LPOS's RANK/COUNT/MAXLEN, LMOVE/RPOPLPUSH (rotations, WRONGTYPE on either side),
 * LMPOP's errors; WRONGTYPE everywhere, expired keys (test_clock_ms), element values far larger
 * than a transcript, the value size limit, and a seeded random walk compared with a model
 * list after every command, the items database holding exactly the model's elements.
 */
#include "test_kv_support.c"

#include <lmdb.h>

#include "kv/kv_internal.h"

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)

#define WRONGTYPE "-WRONGTYPE Operation against a key holding the wrong kind of value"

/* ---- pushes, pops, reads -------------------------------------------------------------------- */

static void test_push_order_and_length(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LPUSH l x y", ":5");
    EXPECT("LRANGE l 0 -1", "*5 | \"y\" | \"x\" | \"a\" | \"b\" | \"c\"");
    EXPECT("LLEN l", ":5");
    EXPECT("LLEN missing", ":0");
    EXPECT("TYPE l", "+list");
    EXPECT("RPUSH l ''", ":6");
    EXPECT("LINDEX l -1", "\"\"");
    EXPECT("LPUSH", "-ERR wrong number of arguments for 'lpush' command");
    EXPECT("RPUSH l", "-ERR wrong number of arguments for 'rpush' command");
}

static void test_pushx_only_on_an_existing_list(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LPUSHX l a", ":0");
    EXPECT("RPUSHX l a b", ":0");
    EXPECT("EXISTS l", ":0");
    EXPECT("RPUSH l m", ":1");
    EXPECT("LPUSHX l a b", ":3");
    EXPECT("RPUSHX l y z", ":5");
    EXPECT("LRANGE l 0 -1", "*5 | \"b\" | \"a\" | \"m\" | \"y\" | \"z\"");
}

static void test_pop_one_and_delete_when_emptied(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LPOP l", "(nil)");
    EXPECT("RPOP l", "(nil)");
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LPOP l", "\"a\"");
    EXPECT("RPOP l", "\"c\"");
    EXPECT("LPOP l", "\"b\"");
    EXPECT("EXISTS l", ":0");
    EXPECT("LPOP l", "(nil)");
    EXPECT("LPOP l 1 2", "-ERR wrong number of arguments for 'lpop' command");
    EXPECT("RPOP l 1 2", "-ERR wrong number of arguments for 'rpop' command");
}

static void test_pop_with_count(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l a b c d e", ":5");
    EXPECT("LPOP l 2", "*2 | \"a\" | \"b\"");
    EXPECT("RPOP l 2", "*2 | \"e\" | \"d\"");
    EXPECT("LPOP l 0", "*0");
    EXPECT("RPOP l 0", "*0");
    EXPECT("RPOP l 10", "*1 | \"c\"");
    EXPECT("EXISTS l", ":0");
    /* A missing key with a count is a null array, even for count 0. */
    EXPECT("LPOP l 0", "(nil-array)");
    EXPECT("RPOP l 3", "(nil-array)");
    EXPECT("LPOP l -1", "-ERR value is out of range, must be positive");
    EXPECT("LPOP l x", "-ERR value is out of range, must be positive");
    EXPECT("LPOP l 9223372036854775808", "-ERR value is out of range, must be positive");
    EXPECT("RPUSH l a b", ":2");
    EXPECT("RPOP l 9223372036854775807", "*2 | \"b\" | \"a\"");
}

static void test_lrange_indexes_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LRANGE l 0 -1", "*0");
    EXPECT("LRANGE l x 1", "-ERR value is not an integer or out of range");
    EXPECT("RPUSH l a b c d", ":4");
    EXPECT("LRANGE l 1 2", "*2 | \"b\" | \"c\"");
    EXPECT("LRANGE l -2 -1", "*2 | \"c\" | \"d\"");
    EXPECT("LRANGE l -100 1", "*2 | \"a\" | \"b\"");
    EXPECT("LRANGE l 2 100", "*2 | \"c\" | \"d\"");
    EXPECT("LRANGE l 3 2", "*0");
    EXPECT("LRANGE l 4 10", "*0");
    EXPECT("LRANGE l -1 -2", "*0");
    EXPECT("LRANGE l 0 -5", "*0");
    EXPECT("LRANGE l -9223372036854775808 9223372036854775807",
           "*4 | \"a\" | \"b\" | \"c\" | \"d\"");
    EXPECT("LRANGE l 0 9223372036854775808", "-ERR value is not an integer or out of range");
    EXPECT("LRANGE l 0 1.5", "-ERR value is not an integer or out of range");
}

static void test_lindex_negative_and_out_of_range(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LINDEX l 0", "(nil)");
    EXPECT("LINDEX l x", "(nil)"); /* the key is looked at first */
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LINDEX l 0", "\"a\"");
    EXPECT("LINDEX l 2", "\"c\"");
    EXPECT("LINDEX l 3", "(nil)");
    EXPECT("LINDEX l -1", "\"c\"");
    EXPECT("LINDEX l -3", "\"a\"");
    EXPECT("LINDEX l -4", "(nil)");
    EXPECT("LINDEX l -9223372036854775808", "(nil)");
    EXPECT("LINDEX l 9223372036854775807", "(nil)");
    EXPECT("LINDEX l x", "-ERR value is not an integer or out of range");
}

static void test_lset_errors_and_indexes(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LSET l 0 v", "-ERR no such key");
    EXPECT("LSET l x v", "-ERR no such key");
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LSET l 0 x", "+OK");
    EXPECT("LSET l -1 z", "+OK");
    EXPECT("LSET l 1 ''", "+OK");
    EXPECT("LRANGE l 0 -1", "*3 | \"x\" | \"\" | \"z\"");
    EXPECT("LSET l 3 v", "-ERR index out of range");
    EXPECT("LSET l -4 v", "-ERR index out of range");
    EXPECT("LSET l x v", "-ERR value is not an integer or out of range");
    EXPECT("LLEN l", ":3");
}

/* ---- LINSERT, LREM, LTRIM -------------------------------------------------------------------- */

static void test_linsert_before_after_and_misses(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LINSERT l BEFORE a x", ":0");
    EXPECT("EXISTS l", ":0");
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LINSERT l BEFORE zz x", ":-1");
    EXPECT("LINSERT l MIDDLE a x", "-ERR syntax error");
    EXPECT("LINSERT missing MIDDLE a x", "-ERR syntax error");
    EXPECT("LINSERT l before a h", ":4");  /* at the head */
    EXPECT("LINSERT l After c t", ":5");   /* at the tail */
    EXPECT("LINSERT l AFTER a a2", ":6");  /* near the head: the head side moves */
    EXPECT("LINSERT l BEFORE c c0", ":7"); /* near the tail: the tail side moves */
    EXPECT("LRANGE l 0 -1", "*7 | \"h\" | \"a\" | \"a2\" | \"b\" | \"c0\" | \"c\" | \"t\"");
    EXPECT("LINSERT l BEFORE '' e", ":-1");
    EXPECT("LINSERT l AFTER t ''", ":8");
    EXPECT("LINSERT l BEFORE '' e", ":9");
    EXPECT("LRANGE l -3 -1", "*3 | \"t\" | \"e\" | \"\"");
    EXPECT("LINDEX l 0", "\"h\"");
    EXPECT("LINDEX l 8", "\"\"");
}

static void test_linsert_uses_the_first_pivot_from_the_head(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l p q p q p", ":5");
    EXPECT("LINSERT l AFTER q x", ":6");
    EXPECT("LRANGE l 0 -1", "*6 | \"p\" | \"q\" | \"x\" | \"p\" | \"q\" | \"p\"");
}

static void test_lrem_counts_and_directions(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LREM l 0 a", ":0");
    EXPECT("LREM l x a", "-ERR value is not an integer or out of range");
    EXPECT("RPUSH l a x a y a z a", ":7");
    EXPECT("LREM l 2 a", ":2");
    EXPECT("LRANGE l 0 -1", "*5 | \"x\" | \"y\" | \"a\" | \"z\" | \"a\"");
    EXPECT("LREM l -1 a", ":1");
    EXPECT("LRANGE l 0 -1", "*4 | \"x\" | \"y\" | \"a\" | \"z\"");
    EXPECT("LREM l 0 nothing", ":0");
    EXPECT("RPUSH l a a", ":6");
    EXPECT("LREM l 0 a", ":3");
    EXPECT("LRANGE l 0 -1", "*3 | \"x\" | \"y\" | \"z\"");
    EXPECT("LREM l 9223372036854775807 y", ":1");
    EXPECT("LREM l 9223372036854775808 y", "-ERR value is not an integer or out of range");
    EXPECT("LREM l 0 x", ":1");
    EXPECT("LREM l -5 z", ":1");
    EXPECT("EXISTS l", ":0");
}

static void test_lrem_compacts_either_side(void **state)
{
    struct fixture *fixture = *state;
    /* Matches near the head: the head side moves up. */
    EXPECT("RPUSH l m a m b c d e f g", ":9");
    EXPECT("LREM l 0 m", ":2");
    EXPECT("LRANGE l 0 -1", "*7 | \"a\" | \"b\" | \"c\" | \"d\" | \"e\" | \"f\" | \"g\"");
    /* Matches near the tail: the tail side moves down. */
    EXPECT("RPUSH l m g m", ":10");
    EXPECT("LREM l -3 m", ":2");
    EXPECT("LRANGE l 0 -1", "*8 | \"a\" | \"b\" | \"c\" | \"d\" | \"e\" | \"f\" | \"g\" | \"g\"");
    EXPECT("LPUSH l m", ":9");
    EXPECT("RPUSH l m", ":10");
    EXPECT("LREM l 0 m", ":2"); /* the whole list is the span */
    EXPECT("LINDEX l 0", "\"a\"");
    EXPECT("LINDEX l -1", "\"g\"");
    EXPECT("LLEN l", ":8");
}

static void test_lrem_int64_min_removes_every_match_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l a b a c a", ":5");
    EXPECT("LREM l -9223372036854775808 a", ":3");
    EXPECT("LRANGE l 0 -1", "*2 | \"b\" | \"c\"");
}

static void test_ltrim_ranges(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LTRIM l 0 1", "+OK");
    EXPECT("LTRIM l x 1", "-ERR value is not an integer or out of range");
    EXPECT("RPUSH l a b c d e", ":5");
    EXPECT("LTRIM l 1 -2", "+OK");
    EXPECT("LRANGE l 0 -1", "*3 | \"b\" | \"c\" | \"d\"");
    EXPECT("LTRIM l -100 100", "+OK");
    EXPECT("LLEN l", ":3");
    EXPECT("LTRIM l -1 -1", "+OK");
    EXPECT("LRANGE l 0 -1", "*1 | \"d\"");
    EXPECT("LTRIM l 2 1", "+OK");
    EXPECT("EXISTS l", ":0");
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LTRIM l 5 10", "+OK");
    EXPECT("EXISTS l", ":0");
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LTRIM l 0 -4", "+OK");
    EXPECT("EXISTS l", ":0");
}

static void test_ltrim_keeping_little_copies_and_keeps_the_ttl(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l 0 1 2 3 4 5 6 7 8 9", ":10");
    EXPECT("PEXPIRE l 100000", ":1");
    EXPECT("LTRIM l 4 5", "+OK"); /* keeps 2, drops 8: copied under a fresh id */
    EXPECT("LRANGE l 0 -1", "*2 | \"4\" | \"5\"");
    EXPECT("PTTL l", ":100000");
    EXPECT("LPUSH l x", ":3");
    EXPECT("RPUSH l y", ":4");
    EXPECT("LRANGE l 0 -1", "*4 | \"x\" | \"4\" | \"5\" | \"y\"");
    EXPECT("LINDEX l 3", "\"y\"");
}

/* ---- LPOS ------------------------------------------------------------------------------------ */

static void test_lpos_rank_count_maxlen(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l x a b a c a", ":6");
    EXPECT("LPOS l a", ":1");
    EXPECT("LPOS l zz", "(nil)");
    EXPECT("LPOS l a RANK 2", ":3");
    EXPECT("LPOS l a RANK -1", ":5");
    EXPECT("LPOS l a RANK -3", ":1");
    EXPECT("LPOS l a RANK 4", "(nil)");
    EXPECT("LPOS l a COUNT 2", "*2 | :1 | :3");
    EXPECT("LPOS l a COUNT 0", "*3 | :1 | :3 | :5");
    EXPECT("LPOS l a RANK -2 COUNT 2", "*2 | :3 | :1");
    EXPECT("LPOS l a RANK 2 COUNT 0", "*2 | :3 | :5");
    EXPECT("LPOS l a RANK -3 COUNT 5", "*1 | :1");
    EXPECT("LPOS l zz COUNT 1", "*0");
    EXPECT("LPOS l a MAXLEN 1", "(nil)");
    EXPECT("LPOS l a COUNT 0 MAXLEN 3", "*1 | :1");
    EXPECT("LPOS l a RANK -1 MAXLEN 1", ":5");
    EXPECT("LPOS l a RANK 3 MAXLEN 4 COUNT 0", "*0");
    EXPECT("LPOS l a rank 1 RANK 2", ":3"); /* the last one wins */
    EXPECT("LPOS l a RANK 9223372036854775807", "(nil)");
    EXPECT("LPOS l a RANK -9223372036854775807", "(nil)");
}

static void test_lpos_int64_min_rank_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l x a b a c a", ":6");
    /* Redis 7.0 negates the rank in a long: it stays negative, so the first match from the
     * tail is taken and COUNT never stops the walk. */
    EXPECT("LPOS l a RANK -9223372036854775808", ":5");
    EXPECT("LPOS l a RANK -9223372036854775808 COUNT 1", "*3 | :5 | :3 | :1");
    EXPECT("LPOS l a RANK -9223372036854775808 COUNT 2 MAXLEN 4", "*2 | :5 | :3");
}

static void test_lpos_errors_before_the_key(void **state)
{
    struct fixture *fixture = *state;
    const char *rank_zero = "-ERR RANK can't be zero: use 1 to start from the first match, 2 "
                            "from the second ... or use negative to start from the end of the "
                            "list";
    EXPECT("LPOS missing a", "(nil)");
    EXPECT("LPOS missing a COUNT 0", "*0");
    EXPECT("LPOS missing a RANK 0", rank_zero);
    EXPECT("SET s x", "+OK");
    EXPECT("LPOS s a RANK 0", rank_zero);
    EXPECT("LPOS s a", WRONGTYPE);
    EXPECT("LPOS missing a RANK x", "-ERR value is not an integer or out of range");
    EXPECT("LPOS missing a COUNT -1", "-ERR COUNT can't be negative");
    EXPECT("LPOS missing a COUNT x", "-ERR COUNT can't be negative");
    EXPECT("LPOS missing a MAXLEN -1", "-ERR MAXLEN can't be negative");
    EXPECT("LPOS missing a MAXLEN x", "-ERR MAXLEN can't be negative");
    EXPECT("LPOS missing a foo", "-ERR syntax error");
    EXPECT("LPOS missing a RANK", "-ERR syntax error");
    EXPECT("LPOS missing a RANK 0 foo", rank_zero);
    EXPECT("LPOS missing a foo RANK 0", "-ERR syntax error");
}

/* ---- LMOVE, RPOPLPUSH, LMPOP ------------------------------------------------------------------
 */

static void test_lmove_between_lists(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LMOVE src dst LEFT RIGHT", "(nil)");
    EXPECT("EXISTS dst", ":0");
    EXPECT("RPUSH src a b c", ":3");
    EXPECT("LMOVE src dst LEFT RIGHT", "\"a\"");
    EXPECT("LMOVE src dst right left", "\"c\"");
    EXPECT("LMOVE src dst Left Left", "\"b\"");
    EXPECT("EXISTS src", ":0");
    EXPECT("LRANGE dst 0 -1", "*3 | \"b\" | \"c\" | \"a\"");
    EXPECT("LMOVE dst src RIGHT RIGHT", "\"a\"");
    EXPECT("LRANGE src 0 -1", "*1 | \"a\"");
    EXPECT("RPOPLPUSH dst src", "\"c\"");
    EXPECT("RPOPLPUSH dst src", "\"b\"");
    EXPECT("RPOPLPUSH dst src", "(nil)");
    EXPECT("LRANGE src 0 -1", "*3 | \"b\" | \"c\" | \"a\"");
    EXPECT("LMOVE src dst UP LEFT", "-ERR syntax error");
    EXPECT("LMOVE missing dst LEFT DOWN", "-ERR syntax error");
}

static void test_lmove_onto_itself_rotates(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LMOVE l l LEFT RIGHT", "\"a\"");
    EXPECT("LRANGE l 0 -1", "*3 | \"b\" | \"c\" | \"a\"");
    EXPECT("LMOVE l l RIGHT LEFT", "\"a\"");
    EXPECT("LRANGE l 0 -1", "*3 | \"a\" | \"b\" | \"c\"");
    EXPECT("LMOVE l l LEFT LEFT", "\"a\"");
    EXPECT("LMOVE l l RIGHT RIGHT", "\"c\"");
    EXPECT("LRANGE l 0 -1", "*3 | \"a\" | \"b\" | \"c\"");
    EXPECT("RPOPLPUSH l l", "\"c\"");
    EXPECT("LRANGE l 0 -1", "*3 | \"c\" | \"a\" | \"b\"");
    EXPECT("RPUSH one x", ":1");
    EXPECT("LMOVE one one LEFT RIGHT", "\"x\"");
    EXPECT("RPOPLPUSH one one", "\"x\"");
    EXPECT("LRANGE one 0 -1", "*1 | \"x\"");
    EXPECT("LINDEX one -1", "\"x\"");
}

static void test_lmove_wrong_types(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET s x", "+OK");
    EXPECT("RPUSH l a", ":1");
    EXPECT("LMOVE l s LEFT RIGHT", WRONGTYPE);
    EXPECT("LMOVE s l LEFT RIGHT", WRONGTYPE);
    EXPECT("RPOPLPUSH l s", WRONGTYPE);
    EXPECT("LMOVE missing s LEFT RIGHT", "(nil)"); /* the source is looked at first */
    EXPECT("LRANGE l 0 -1", "*1 | \"a\"");
    EXPECT("GET s", "\"x\"");
}

static void test_lmpop_pops_from_the_first_non_empty_list(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("LMPOP 1 missing LEFT", "(nil-array)");
    EXPECT("RPUSH b 1 2 3", ":3");
    EXPECT("RPUSH c x", ":1");
    EXPECT("LMPOP 3 a b c LEFT", "*2 | \"b\" | *1 | \"1\"");
    EXPECT("LMPOP 3 a b c RIGHT COUNT 5", "*2 | \"b\" | *2 | \"3\" | \"2\"");
    EXPECT("EXISTS b", ":0");
    EXPECT("LMPOP 2 b c left count 1", "*2 | \"c\" | *1 | \"x\"");
    EXPECT("LMPOP 2 b c LEFT", "(nil-array)");
    EXPECT("SET s x", "+OK");
    EXPECT("RPUSH l a", ":1");
    EXPECT("LMPOP 2 missing s LEFT", WRONGTYPE);
    EXPECT("LMPOP 2 s l LEFT", WRONGTYPE);
    EXPECT("LMPOP 2 l s LEFT", "*2 | \"l\" | *1 | \"a\"");
}

static void test_lmpop_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l a", ":1");
    EXPECT("LMPOP 0 l LEFT", "-ERR numkeys should be greater than 0");
    EXPECT("LMPOP -1 l LEFT", "-ERR numkeys should be greater than 0");
    EXPECT("LMPOP x l LEFT", "-ERR numkeys should be greater than 0");
    EXPECT("LMPOP 9223372036854775808 l LEFT", "-ERR numkeys should be greater than 0");
    EXPECT("LMPOP 1 l", "-ERR wrong number of arguments for 'lmpop' command");
    EXPECT("LMPOP 2 l LEFT", "-ERR syntax error");
    EXPECT("LMPOP 9223372036854775807 l LEFT", "-ERR syntax error");
    EXPECT("LMPOP 1 l MIDDLE", "-ERR syntax error");
    EXPECT("LMPOP 1 l LEFT COUNT 0", "-ERR count should be greater than 0");
    EXPECT("LMPOP 1 l LEFT COUNT -1", "-ERR count should be greater than 0");
    EXPECT("LMPOP 1 l LEFT COUNT x", "-ERR count should be greater than 0");
    EXPECT("LMPOP 1 l LEFT COUNT 1 COUNT 1", "-ERR syntax error");
    EXPECT("LMPOP 1 l LEFT COUNT", "-ERR syntax error");
    EXPECT("LMPOP 1 l LEFT foo", "-ERR syntax error");
    EXPECT("LLEN l", ":1");
}

/* ---- types, expiry, limits --------------------------------------------------------------------
 */

static void test_wrong_type_everywhere(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("SET s x", "+OK");
    const char *lines[] = {
        "LPUSH s a",
        "RPUSH s a",
        "LPUSHX s a",
        "RPUSHX s a",
        "LPOP s",
        "RPOP s",
        "LPOP s 0",
        "RPOP s 2",
        "LLEN s",
        "LRANGE s 0 -1",
        "LINDEX s 0",
        "LINDEX s x",
        "LSET s 0 v",
        "LSET s x v",
        "LINSERT s BEFORE a b",
        "LREM s 0 a",
        "LTRIM s 0 1",
        "LPOS s a",
        "LPOS s a COUNT 0",
        "LMOVE s s LEFT LEFT",
        "RPOPLPUSH s s",
        "LMPOP 1 s RIGHT",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        EXPECT(lines[i], WRONGTYPE);
    }
    EXPECT("GET s", "\"x\"");
    /* Argument errors that Redis finds before it looks the key up. */
    EXPECT("LRANGE s x 1", "-ERR value is not an integer or out of range");
    EXPECT("LTRIM s x 1", "-ERR value is not an integer or out of range");
    EXPECT("LREM s x a", "-ERR value is not an integer or out of range");
    EXPECT("LPOP s -1", "-ERR value is out of range, must be positive");
    EXPECT("LINSERT s MIDDLE a b", "-ERR syntax error");
    EXPECT("LMOVE s s UP LEFT", "-ERR syntax error");
}

static void test_expired_list_is_gone_for_every_command(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("PEXPIRE l 100", ":1");
    EXPECT("RPUSH l d", ":4");
    EXPECT("PTTL l", ":100"); /* pushes keep the time to live */
    EXPECT("LPOP l", "\"a\"");
    EXPECT("PTTL l", ":100");
    test_clock_ms += 100;
    EXPECT("LLEN l", ":0");
    EXPECT("LRANGE l 0 -1", "*0");
    EXPECT("LINDEX l 0", "(nil)");
    EXPECT("LPOS l b", "(nil)");
    EXPECT("LSET l 0 x", "-ERR no such key");
    EXPECT("LPOP l", "(nil)");
    EXPECT("LPOP l 2", "(nil-array)");
    EXPECT("LMOVE l d LEFT LEFT", "(nil)");
    EXPECT("LINSERT l BEFORE b x", ":0");
    EXPECT("LPUSHX l x", ":0");
    EXPECT("LPUSH l z", ":1"); /* a new list, without the old deadline */
    EXPECT("PTTL l", ":-1");
    EXPECT("LRANGE l 0 -1", "*1 | \"z\"");
    EXPECT("RPUSH d q", ":1");
    EXPECT("PEXPIRE d 50", ":1");
    test_clock_ms += 50;
    EXPECT("LMOVE l d LEFT LEFT", "\"z\""); /* the expired destination is a new list */
    EXPECT("PTTL d", ":-1");
    EXPECT("LRANGE d 0 -1", "*1 | \"z\"");
}

static void test_keys_too_long_to_write(void **state)
{
    struct fixture *fixture = *state;
    char line[700];
    char key[KV_MAX_KEY_BYTES + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(line, sizeof line, "RPUSH %s a", key);
    EXPECT(line, "-ERR key exceeds the maximum length of 503 bytes");
    snprintf(line, sizeof line, "RPUSHX %s a", key);
    EXPECT(line, ":0");
    snprintf(line, sizeof line, "LLEN %s", key);
    EXPECT(line, ":0");
    EXPECT("RPUSH l a b", ":2");
    snprintf(line, sizeof line, "LMOVE l %s LEFT LEFT", key);
    EXPECT(line, "-ERR key exceeds the maximum length of 503 bytes");
    EXPECT("LRANGE l 0 -1", "*2 | \"a\" | \"b\"");
}

static void test_element_size_limit(void **state)
{
    (void)state;
    struct kv_options options;
    kv_options_default(&options);
    options.max_value_bytes = 4;
    struct fixture *fixture = malloc(sizeof *fixture);
    assert_non_null(fixture);
    fixture_open(fixture, &options);
    const char *too_long = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    EXPECT("RPUSH l abcd", ":1");
    EXPECT("RPUSH l a abcde", too_long);
    EXPECT("LPUSHX l abcde", too_long);
    EXPECT("LSET l 0 abcde", too_long);
    EXPECT("LINSERT l BEFORE abcd abcde", too_long);
    EXPECT("LRANGE l 0 -1", "*1 | \"abcd\"");
    fixture_close(fixture);
    free(fixture);
}

static void test_lists_survive_a_reopen(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l a b c", ":3");
    EXPECT("LPUSH l z", ":4");
    fixture_reopen(fixture);
    EXPECT("LRANGE l 0 -1", "*4 | \"z\" | \"a\" | \"b\" | \"c\"");
    EXPECT("RPOP l", "\"c\"");
}

static void test_table_entries_as_redis_command_info(void **state)
{
    (void)state;
    const struct kv_command *lmove = kv_command_lookup((const uint8_t *)"LMOVE", 5);
    assert_non_null(lmove);
    assert_int_equal(lmove->arity, 5);
    assert_int_equal(lmove->flags, KV_COMMAND_WRITE | KV_COMMAND_DENY_OOM);
    assert_int_equal(lmove->first_key, 1);
    assert_int_equal(lmove->last_key, 2);
    const struct kv_command *lmpop = kv_command_lookup((const uint8_t *)"lmpop", 5);
    assert_non_null(lmpop);
    assert_int_equal(lmpop->arity, -4);
    assert_int_equal(lmpop->first_key, 0); /* movablekeys in Redis */
    const struct kv_command *lpos = kv_command_lookup((const uint8_t *)"lpos", 4);
    assert_non_null(lpos);
    assert_int_equal(lpos->flags, KV_COMMAND_READ);
    const struct kv_command *lrem = kv_command_lookup((const uint8_t *)"lrem", 4);
    assert_non_null(lrem);
    assert_int_equal(lrem->flags, KV_COMMAND_WRITE);
}

/* ---- large elements: a sink that measures bulk strings instead of printing them ---------------
 */

struct measure {
    size_t bulks;
    size_t last_bytes;
    size_t total_bytes;
    uint64_t last_sum; /* a position-weighted checksum of the last bulk */
    size_t errors;
    int64_t last_integer;
};

static void measure_status(void *context, const char *text, size_t bytes)
{
    (void)context, (void)text, (void)bytes;
}

static void measure_error(void *context, const char *text, size_t bytes)
{
    (void)text, (void)bytes;
    ((struct measure *)context)->errors++;
}

static void measure_integer(void *context, int64_t value)
{
    ((struct measure *)context)->last_integer = value;
}

static uint64_t checksum(const uint8_t *data, size_t bytes)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < bytes; i++) {
        sum = sum * 31 + data[i];
    }
    return sum;
}

static void measure_bulk(void *context, const uint8_t *data, size_t bytes)
{
    struct measure *measure = context;
    measure->bulks++;
    measure->last_bytes = bytes;
    measure->total_bytes += bytes;
    measure->last_sum = checksum(data, bytes);
}

static void measure_null(void *context)
{
    (void)context;
}

static void measure_array(void *context, size_t count)
{
    (void)context, (void)count;
}

static void measure_text(void *context, const char *text, size_t bytes)
{
    (void)context, (void)text, (void)bytes;
}

static struct kv_reply measure_sink(struct measure *measure)
{
    memset(measure, 0, sizeof *measure);
    return (struct kv_reply){
        .status = measure_status,
        .error = measure_error,
        .integer = measure_integer,
        .bulk = measure_bulk,
        .null = measure_null,
        .null_array = measure_null,
        .array = measure_array,
        .double_text = measure_text,
        .blocked = measure_null,
        .context = measure,
    };
}

static const struct kv_reply *provide_measure(void *context, uint64_t index, uint64_t term)
{
    (void)index, (void)term;
    return context;
}

/* Runs argv through the log (a write) or kv_read, replying to a measuring sink. */
static void run_measured(struct fixture *fixture, size_t argc, const struct kv_arg *argv,
                         struct measure *measure)
{
    struct kv_reply sink = measure_sink(measure);
    const struct kv_command *command = kv_command_lookup(argv[0].data, argv[0].data_bytes);
    assert_non_null(command);
    if (command->flags & KV_COMMAND_READ) {
        assert_int_equal(kv_read(fixture->kv, argc, argv, test_clock_ms, &sink), 0);
        return;
    }
    struct raft_entry entry;
    entry_from_argv(&entry, fixture->next_index++, fixture->term, argc, argv);
    assert_int_equal(kv_apply_batch(fixture->kv, &entry, 1, provide_measure, &sink), 0);
    free(entry.data);
}

static struct kv_arg word(const char *text)
{
    return (struct kv_arg){.data = (const uint8_t *)text, .data_bytes = strlen(text)};
}

static void test_huge_elements_move_whole(void **state)
{
    struct fixture *fixture = *state;
    enum { HUGE_BYTES = 3 * 1024 * 1024 + 17 };
    uint8_t *huge = malloc(HUGE_BYTES);
    assert_non_null(huge);
    for (size_t i = 0; i < HUGE_BYTES; i++) {
        huge[i] = (uint8_t)(i * 7 + i / 4096);
    }
    uint64_t huge_sum = checksum(huge, HUGE_BYTES);
    struct kv_arg value = {.data = huge, .data_bytes = HUGE_BYTES};
    struct measure measure;
    EXPECT("RPUSH l a b c d", ":4");
    struct kv_arg insert[] = {word("LINSERT"), word("l"), word("AFTER"), word("a"), value};
    run_measured(fixture, 5, insert, &measure); /* a H b c d: the head side moves */
    assert_int_equal(measure.last_integer, 5);
    struct kv_arg set[] = {word("LSET"), word("l"), word("-1"), value};
    run_measured(fixture, 4, set, &measure); /* a H b c H */
    EXPECT("LINSERT l BEFORE c x", ":6");    /* a H b x c H: the tail side moves, H with it */
    EXPECT("LREM l 0 b", ":1");              /* a H x c H: a and H move up */
    struct kv_arg index[] = {word("LINDEX"), word("l"), word("1")};
    run_measured(fixture, 3, index, &measure);
    assert_int_equal(measure.last_bytes, HUGE_BYTES);
    assert_true(measure.last_sum == huge_sum);
    struct kv_arg rotate[] = {word("LMOVE"), word("l"), word("l"), word("RIGHT"), word("LEFT")};
    run_measured(fixture, 5, rotate, &measure); /* H a H x c */
    assert_int_equal(measure.last_bytes, HUGE_BYTES);
    assert_true(measure.last_sum == huge_sum);
    struct kv_arg range[] = {word("LRANGE"), word("l"), word("0"), word("-1")};
    run_measured(fixture, 4, range, &measure);
    assert_int_equal(measure.bulks, 5);
    assert_int_equal(measure.total_bytes, 2 * (size_t)HUGE_BYTES + 3);
    struct kv_arg pop[] = {word("LPOP"), word("l"), word("1")};
    run_measured(fixture, 3, pop, &measure); /* a H x c */
    assert_int_equal(measure.bulks, 1);
    assert_int_equal(measure.last_bytes, HUGE_BYTES);
    assert_true(measure.last_sum == huge_sum);
    assert_int_equal(measure.errors, 0);
    EXPECT("LINDEX l 0", "\"a\"");
    EXPECT("LRANGE l 2 -1", "*2 | \"x\" | \"c\"");
    run_measured(fixture, 3, index, &measure);
    assert_true(measure.last_sum == huge_sum);
    free(huge);
}

static void test_long_list_walks(void **state)
{
    struct fixture *fixture = *state;
    char line[4096];
    for (int batch = 0; batch < 20; batch++) {
        size_t used = (size_t)snprintf(line, sizeof line, "RPUSH l");
        for (int i = 0; i < 50; i++) {
            used += (size_t)snprintf(line + used, sizeof line - used, " %d", batch * 50 + i);
        }
        run(fixture, line);
    }
    EXPECT("LLEN l", ":1000");
    EXPECT("LINDEX l 500", "\"500\"");
    EXPECT("LRANGE l 997 2000", "*3 | \"997\" | \"998\" | \"999\"");
    EXPECT("LPOS l 999 RANK -1", ":999");
    EXPECT("LPOS l 3 MAXLEN 3", "(nil)");
    EXPECT("LINSERT l AFTER 499 x", ":1001");
    EXPECT("LINDEX l 500", "\"x\"");
    EXPECT("LINDEX l 501", "\"500\"");
    EXPECT("LREM l 0 x", ":1");
    EXPECT("LTRIM l 10 19", "+OK");
    EXPECT("LRANGE l 0 1", "*2 | \"10\" | \"11\"");
    EXPECT("LLEN l", ":10");
}

/* ---- the random walk against a model ----------------------------------------------------------
 */

#define MODEL_MAX 48

struct model {
    char items[2][MODEL_MAX]; /* one-letter elements of lists "p" and "q" */
    size_t length[2];
};

static uint64_t model_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void model_insert(struct model *model, int list, size_t index, char value)
{
    memmove(&model->items[list][index + 1], &model->items[list][index],
            model->length[list] - index);
    model->items[list][index] = value;
    model->length[list]++;
}

static char model_remove(struct model *model, int list, size_t index)
{
    char value = model->items[list][index];
    memmove(&model->items[list][index], &model->items[list][index + 1],
            model->length[list] - index - 1);
    model->length[list]--;
    return value;
}

static void model_range(const struct model *model, int list, char *out, size_t capacity)
{
    size_t used = (size_t)snprintf(out, capacity, "*%zu", model->length[list]);
    for (size_t i = 0; i < model->length[list]; i++) {
        used += (size_t)snprintf(out + used, capacity - used, " | \"%c\"", model->items[list][i]);
    }
}

/* Counts the entries of a named database of the fixture's environment. */
static size_t database_entries(struct fixture *fixture, MDB_dbi dbi)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(fixture->kv->env, NULL, MDB_RDONLY, &txn), 0);
    MDB_stat stat;
    assert_int_equal(mdb_stat(txn, dbi, &stat), 0);
    mdb_txn_abort(txn);
    return stat.ms_entries;
}

/* One random command on list `list` (or a move between the two): its line and, in `expected`,
 * the reply the model predicts; the model is updated. */
static void model_step(struct model *model, uint64_t *random, char *line, char *expected)
{
    const char *names = "pq";
    int list = (int)(model_random(random) % 2);
    size_t length = model->length[list];
    char key = names[list];
    char value = (char)('a' + model_random(random) % 3);
    uint64_t choice = model_random(random) % 9;
    if (model->length[0] + model->length[1] + 2 >= MODEL_MAX) {
        choice = 1; /* keep the model bounded: pop */
    }
    int64_t span = (int64_t)length + 3;
    int64_t a = (int64_t)(model_random(random) % (uint64_t)(2 * span)) - span;
    int64_t b = (int64_t)(model_random(random) % (uint64_t)(2 * span)) - span;
    switch (choice) {
    case 0: {
        bool left = a & 1;
        sprintf(line, "%s %c %c %c", left ? "LPUSH" : "RPUSH", key, value, 'a' + (int)(b & 1));
        model_insert(model, list, left ? 0 : length, value);
        model_insert(model, list, left ? 0 : length + 1, (char)('a' + (b & 1)));
        sprintf(expected, ":%zu", model->length[list]);
        break;
    }
    case 1: {
        bool left = a & 1;
        size_t count = (size_t)(b + span) % 4;
        sprintf(line, "%s %c %zu", left ? "LPOP" : "RPOP", key, count);
        if (length == 0) {
            sprintf(expected, "(nil-array)");
            break;
        }
        size_t popped = count < length ? count : length;
        size_t used = (size_t)sprintf(expected, "*%zu", popped);
        for (size_t i = 0; i < popped; i++) {
            char taken = model_remove(model, list, left ? 0 : model->length[list] - 1);
            used += (size_t)sprintf(expected + used, " | \"%c\"", taken);
        }
        break;
    }
    case 2: {
        bool after = a & 1;
        char pivot = (char)('a' + model_random(random) % 4);
        sprintf(line, "LINSERT %c %s %c %c", key, after ? "AFTER" : "BEFORE", pivot, 'x');
        const char *found = length > 0 ? memchr(model->items[list], pivot, length) : NULL;
        if (length == 0 || found == NULL) {
            sprintf(expected, ":%d", length == 0 ? 0 : -1);
            break;
        }
        size_t at = (size_t)(found - model->items[list]) + (after ? 1 : 0);
        model_insert(model, list, at, 'x');
        sprintf(expected, ":%zu", model->length[list]);
        break;
    }
    case 3: {
        int64_t count = a % 3;
        sprintf(line, "LREM %c %lld %c", key, (long long)count, value);
        size_t removed = 0;
        uint64_t limit = count == 0 ? UINT64_MAX : (uint64_t)(count < 0 ? -count : count);
        for (size_t step = 0; step < model->length[list] && removed < limit;) {
            size_t i = count < 0 ? model->length[list] - 1 - step : step;
            if (model->items[list][i] == value) {
                model_remove(model, list, i);
                removed++; /* the next element to look at has the same step */
            } else {
                step++;
            }
        }
        sprintf(expected, ":%zu", removed);
        break;
    }
    case 4: {
        sprintf(line, "LTRIM %c %lld %lld", key, (long long)a, (long long)b);
        int64_t start = a < 0 ? a + (int64_t)length : a;
        int64_t end = b < 0 ? b + (int64_t)length : b;
        start = start < 0 ? 0 : start;
        if (start > end || start >= (int64_t)length) {
            model->length[list] = 0;
        } else {
            end = end >= (int64_t)length ? (int64_t)length - 1 : end;
            memmove(model->items[list], model->items[list] + start, (size_t)(end - start + 1));
            model->length[list] = (size_t)(end - start + 1);
        }
        sprintf(expected, "+OK");
        break;
    }
    case 5: {
        sprintf(line, "LSET %c %lld %c", key, (long long)a, 'y');
        int64_t index = a < 0 ? a + (int64_t)length : a;
        if (length == 0) {
            sprintf(expected, "-ERR no such key");
        } else if (index < 0 || index >= (int64_t)length) {
            sprintf(expected, "-ERR index out of range");
        } else {
            model->items[list][index] = 'y';
            sprintf(expected, "+OK");
        }
        break;
    }
    default: {
        int other = choice == 6 ? list : 1 - list; /* a rotation, or a move to the other list */
        bool from_left = a & 1, to_left = b & 1;
        sprintf(line, "LMOVE %c %c %s %s", key, names[other], from_left ? "LEFT" : "RIGHT",
                to_left ? "LEFT" : "RIGHT");
        if (length == 0) {
            sprintf(expected, "(nil)");
            break;
        }
        char moved = model_remove(model, list, from_left ? 0 : length - 1);
        model_insert(model, other, to_left ? 0 : model->length[other], moved);
        sprintf(expected, "\"%c\"", moved);
        break;
    }
    }
}

static void test_random_commands_match_a_model(void **state)
{
    struct fixture *fixture = *state;
    struct model model = {0};
    uint64_t seed = 20241;
    uint64_t random = seed;
    char line[128], expected[512], range[512];
    for (int step = 0; step < 1500; step++) {
        model_step(&model, &random, line, expected);
        const char *reply = run(fixture, line);
        if (strcmp(reply, expected) != 0) {
            fail_msg("seed %llu step %d: %s replied %s, the model says %s",
                     (unsigned long long)seed, step, line, reply, expected);
        }
        for (int list = 0; list < 2; list++) {
            model_range(&model, list, range, sizeof range);
            reply = run(fixture, list == 0 ? "LRANGE p 0 -1" : "LRANGE q 0 -1");
            if (strcmp(reply, range) != 0) {
                fail_msg("seed %llu step %d after %s: list %c is %s, the model says %s",
                         (unsigned long long)seed, step, line, "pq"[list], reply, range);
            }
        }
        /* Exactly the model's elements are stored: no stray positions, nothing left behind. */
        assert_int_equal(database_entries(fixture, fixture->kv->trash_dbi), 0);
        assert_int_equal(database_entries(fixture, fixture->kv->items_dbi),
                         model.length[0] + model.length[1]);
    }
}

/* An element missing inside head .. head + count - 1 is corruption, never a short reply. */
static void test_a_missing_element_is_corruption(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("RPUSH l a b c", ":3");
    MDB_txn *txn;
    MDB_cursor *cursor;
    assert_int_equal(mdb_txn_begin(fixture->kv->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, fixture->kv->items_dbi, &cursor), 0);
    MDB_val key, value;
    assert_int_equal(mdb_cursor_get(cursor, &key, &value, MDB_FIRST), 0);
    assert_int_equal(mdb_cursor_get(cursor, &key, &value, MDB_NEXT), 0); /* "b" */
    assert_int_equal(mdb_cursor_del(cursor, 0), 0);
    mdb_cursor_close(cursor);
    assert_int_equal(mdb_txn_commit(txn), 0);
    EXPECT("LINDEX l 0", "\"a\"");
    struct kv_arg range[] = {word("LRANGE"), word("l"), word("0"), word("-1")};
    struct transcript *transcript = &fixture->transcript;
    transcript_reset(transcript);
    assert_int_equal(kv_read(fixture->kv, 4, range, test_clock_ms, &transcript->sink),
                     KV_ERROR_CORRUPT);
    struct kv_arg index[] = {word("LINDEX"), word("l"), word("1")};
    assert_int_equal(kv_read(fixture->kv, 3, index, test_clock_ms, &transcript->sink),
                     KV_ERROR_CORRUPT);
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_push_order_and_length),
        FIXTURE_TEST(test_pushx_only_on_an_existing_list),
        FIXTURE_TEST(test_pop_one_and_delete_when_emptied),
        FIXTURE_TEST(test_pop_with_count),
        FIXTURE_TEST(test_lrange_indexes_as_redis),
        FIXTURE_TEST(test_lindex_negative_and_out_of_range),
        FIXTURE_TEST(test_lset_errors_and_indexes),
        FIXTURE_TEST(test_linsert_before_after_and_misses),
        FIXTURE_TEST(test_linsert_uses_the_first_pivot_from_the_head),
        FIXTURE_TEST(test_lrem_counts_and_directions),
        FIXTURE_TEST(test_lrem_compacts_either_side),
        FIXTURE_TEST(test_lrem_int64_min_removes_every_match_as_redis),
        FIXTURE_TEST(test_ltrim_ranges),
        FIXTURE_TEST(test_ltrim_keeping_little_copies_and_keeps_the_ttl),
        FIXTURE_TEST(test_lpos_rank_count_maxlen),
        FIXTURE_TEST(test_lpos_int64_min_rank_as_redis),
        FIXTURE_TEST(test_lpos_errors_before_the_key),
        FIXTURE_TEST(test_lmove_between_lists),
        FIXTURE_TEST(test_lmove_onto_itself_rotates),
        FIXTURE_TEST(test_lmove_wrong_types),
        FIXTURE_TEST(test_lmpop_pops_from_the_first_non_empty_list),
        FIXTURE_TEST(test_lmpop_errors),
        FIXTURE_TEST(test_wrong_type_everywhere),
        FIXTURE_TEST(test_expired_list_is_gone_for_every_command),
        FIXTURE_TEST(test_keys_too_long_to_write),
        cmocka_unit_test(test_element_size_limit),
        FIXTURE_TEST(test_lists_survive_a_reopen),
        cmocka_unit_test(test_table_entries_as_redis_command_info),
        FIXTURE_TEST(test_huge_elements_move_whole),
        FIXTURE_TEST(test_long_list_walks),
        FIXTURE_TEST(test_random_commands_match_a_model),
        FIXTURE_TEST(test_a_missing_element_is_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
