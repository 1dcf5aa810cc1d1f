/*
 * test_kv_zset.c — the sorted set commands, each reply and error checked against what
 * redis-server 7.0.15 answers to the same command (the expected transcripts were taken from
 * it): ZADD and its options, scores' formatting, ranges by rank, score and member in both
 * directions with LIMIT, the stores, the algebra, pops, ZRANDMEMBER and ZSCAN; WRONGTYPE and
 * expired keys (test_clock_ms); sets large enough that ranks are walked from both ends.
 */
#include "test_kv_support.c"

#include <math.h>

#define EXPECT(line, expected) assert_string_equal(run(fixture, line), expected)
/* Where raftkv differs from Redis by design (documented at the code): not replayed on Redis. */
#define EXPECT_RAFTKV(line, expected) EXPECT(line, expected)

/* Adds members m0 .. m(count-1) with scores 0 .. count-1 (score i to member i), a few per
 * command so the lines stay within the fixture's word limit. */
static void add_numbered(struct fixture *fixture, const char *key, int count)
{
    for (int first = 0; first < count; first += 25) {
        char line[2048];
        int used = snprintf(line, sizeof line, "ZADD %s", key);
        for (int i = first; i < count && i < first + 25; i++) {
            used += snprintf(line + used, sizeof line - (size_t)used, " %d m%03d", i, i);
        }
        run(fixture, line);
    }
}

static void test_zadd_counts_new_members_and_updates_scores(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("ZADD z 10 a 4 d", ":1");
    EXPECT("ZCARD z", ":4");
    EXPECT("ZSCORE z a", ",10");
    EXPECT("TYPE z", "+zset");
    EXPECT("ZADD z 5 e 6 e", ":1"); /* the same member twice: the last score wins */
    EXPECT("ZSCORE z e", ",6");
    EXPECT("ZADD z CH 1 a 2 b 7 f", ":2"); /* a changed, b did not, f is new */
    EXPECT("ZRANGE z 0 -1 WITHSCORES", "*12 | \"a\" | ,1 | \"b\" | ,2 | \"c\" | ,3 | \"d\" | ,4 | "
                                       "\"e\" | ,6 | \"f\" | ,7");
}

static void test_zadd_nx_xx_gt_lt(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z XX 1 a", ":0");
    EXPECT("EXISTS z", ":0"); /* XX on a missing key creates nothing */
    EXPECT("ZADD z 5 a", ":1");
    EXPECT("ZADD z NX 1 a 2 b", ":1");
    EXPECT("ZSCORE z a", ",5");
    EXPECT("ZADD z XX CH 6 a 3 c", ":1");
    EXPECT("ZSCORE z c", "(nil)");
    EXPECT("ZADD z GT CH 4 a 9 b", ":1"); /* 4 < 6: a unchanged */
    EXPECT("ZADD z LT CH 4 a 9 b", ":1"); /* a goes down; 9 < 9 is false: b stays */
    EXPECT("ZRANGE z 0 -1 WITHSCORES", "*4 | \"a\" | ,4 | \"b\" | ,9");
    EXPECT("ZADD z GT 100 newone", ":1"); /* GT and LT still add new members */
    EXPECT("ZADD z lt xx ch 1 newone", ":1");
    EXPECT("ZSCORE z newone", ",1");
}

static void test_zadd_errors_in_redis_order(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1", "-ERR wrong number of arguments for 'zadd' command");
    EXPECT("ZADD z 1 a 2", "-ERR syntax error");
    EXPECT("ZADD z NX 1", "-ERR syntax error");
    EXPECT("ZADD z NX XX 1 a", "-ERR XX and NX options at the same time are not compatible");
    EXPECT("ZADD z GT LT 1 a",
           "-ERR GT, LT, and/or NX options at the same time are not compatible");
    EXPECT("ZADD z NX GT 1 a",
           "-ERR GT, LT, and/or NX options at the same time are not compatible");
    EXPECT("ZADD z INCR 1 a 2 b", "-ERR INCR option supports a single increment-element pair");
    EXPECT("ZADD z abc a", "-ERR value is not a valid float");
    EXPECT("ZADD z nan a", "-ERR value is not a valid float");
    EXPECT("ZADD z 1e400 a", "-ERR value is not a valid float");
    EXPECT("ZADD z 1 a x b", "-ERR value is not a valid float");
    EXPECT("EXISTS z", ":0");
    EXPECT("SET s v", "+OK");
    EXPECT("ZADD s x a", "-ERR value is not a valid float"); /* parsing comes first */
    EXPECT("ZADD s 1 a", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZINCRBY s 1 a", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("GET s", "\"v\"");
}

static void test_zadd_incr_and_zincrby(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z INCR 1.5 a", ",1.5");
    EXPECT("ZADD z INCR 1 a", ",2.5");
    EXPECT("ZINCRBY z 2.5 a", ",5");
    EXPECT("ZINCRBY z -10 new", ",-10");
    EXPECT("ZADD z XX INCR 1 nosuch", "(nil)");
    EXPECT("ZADD z NX INCR 1 a", "(nil)");
    EXPECT("ZADD z GT INCR -1 a", "(nil)");
    EXPECT("ZADD z LT INCR -1 a", ",4");
    EXPECT("ZADD nokey XX INCR 1 a", "(nil)");
    EXPECT("ZINCRBY z abc a", "-ERR value is not a valid float");
    EXPECT("ZADD z inf x", ":1");
    EXPECT("ZINCRBY z -inf x", "-ERR resulting score is not a number (NaN)");
    EXPECT("ZADD z INCR -inf x", "-ERR resulting score is not a number (NaN)");
    EXPECT("ZSCORE z x", ",inf");
    EXPECT("ZINCRBY z 1 x", ",inf");
    EXPECT("ZADD z INCR -0 m", ",-0"); /* replied as computed, stored as 0 */
    EXPECT("ZSCORE z m", ",0");
    EXPECT("ZCARD z", ":4");
}

static void test_scores_are_formatted_as_redis(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD f 0.1 a 1e20 b 1.7976931348623157e308 c 5e-324 d -0.0 e 123456789012345678 g",
           ":6");
    EXPECT("ZADD f 0x10 hex -inf n +inf p", ":3");
    EXPECT("ZRANGE f 0 -1 WITHSCORES",
           "*18 | \"n\" | ,-inf | \"e\" | ,0 | \"d\" | ,4.9406564584124654e-324 | \"a\" | "
           ",0.10000000000000001 | \"hex\" | ,16 | \"g\" | ,1.2345678901234568e+17 | \"b\" | "
           ",1e+20 | \"c\" | ,1.7976931348623157e+308 | \"p\" | ,inf");
}

static void test_member_and_key_limits(void **state)
{
    struct fixture *fixture = *state;
    char line[2048];
    char member[600];
    memset(member, 'm', sizeof member);
    member[495] = '\0';
    snprintf(line, sizeof line, "ZADD z 1 %s", member);
    EXPECT(line, "-ERR member exceeds the maximum length of 494 bytes");
    snprintf(line, sizeof line, "ZINCRBY z 1 %s", member);
    EXPECT(line, "-ERR member exceeds the maximum length of 494 bytes");
    EXPECT("EXISTS z", ":0");
    member[494] = '\0';
    snprintf(line, sizeof line, "ZADD z 1 %s", member);
    EXPECT(line, ":1");
    char expected[2048];
    snprintf(expected, sizeof expected, "*1 | \"%s\"", member);
    snprintf(line, sizeof line, "ZRANGEBYLEX z [%s +", member);
    EXPECT(line, expected);
    member[494] = 'm';
    member[599] = '\0'; /* a bound longer than any member: the member is a prefix of it */
    snprintf(line, sizeof line, "ZRANGEBYLEX z - [%s", member);
    EXPECT(line, expected);
    snprintf(line, sizeof line, "ZRANGEBYLEX z - (%s", member);
    EXPECT(line, expected);
    snprintf(line, sizeof line, "ZRANGEBYLEX z [%s +", member);
    EXPECT(line, "*0");
    snprintf(line, sizeof line, "ZREVRANGEBYLEX z [%s -", member);
    EXPECT(line, expected);
    member[495] = '\0';
    snprintf(line, sizeof line, "ZSCORE z %s", member);
    EXPECT(line, "(nil)"); /* too long to be a member: simply absent */
    snprintf(line, sizeof line, "ZREM z %s", member);
    EXPECT(line, ":0");
    char key[600];
    memset(key, 'k', sizeof key);
    key[504] = '\0';
    snprintf(line, sizeof line, "ZADD %s 1 a", key);
    EXPECT(line, "-ERR key exceeds the maximum length of 503 bytes");
    snprintf(line, sizeof line, "ZCARD %s", key);
    EXPECT(line, ":0");
}

static void test_zrem_removes_and_deletes_the_emptied_key(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZREM nokey a", ":0");
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("ZREM z a nosuch a", ":1");
    EXPECT("ZCARD z", ":2");
    EXPECT("ZRANGE z 0 -1", "*2 | \"b\" | \"c\"");
    EXPECT("ZREM z b c", ":2");
    EXPECT("EXISTS z", ":0");
    EXPECT("SET s v", "+OK");
    EXPECT("ZREM s a", "-WRONGTYPE Operation against a key holding the wrong kind of value");
}

static void test_zscore_zmscore_zcard(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZSCORE nokey a", "(nil)");
    EXPECT("ZMSCORE nokey a b", "*2 | (nil) | (nil)");
    EXPECT("ZCARD nokey", ":0");
    EXPECT("ZADD z 1.5 a 2 b", ":2");
    EXPECT("ZSCORE z nosuch", "(nil)");
    EXPECT("ZMSCORE z a nosuch b", "*3 | ,1.5 | (nil) | ,2");
    EXPECT("SET s v", "+OK");
    EXPECT("ZSCORE s a", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZMSCORE s a", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZCARD s", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZMSCORE z", "-ERR wrong number of arguments for 'zmscore' command");
}

static void test_zrange_by_rank(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZRANGE nokey 0 -1", "*0");
    EXPECT("ZADD z 3 c 1 a 2 b 2 bb 2 ba", ":5"); /* ties order by member bytes */
    EXPECT("ZRANGE z 0 -1", "*5 | \"a\" | \"b\" | \"ba\" | \"bb\" | \"c\"");
    EXPECT("ZRANGE z 1 2 WITHSCORES", "*4 | \"b\" | ,2 | \"ba\" | ,2");
    EXPECT("ZRANGE z -2 -1", "*2 | \"bb\" | \"c\"");
    EXPECT("ZRANGE z -100 0", "*1 | \"a\"");
    EXPECT("ZRANGE z 3 100", "*2 | \"bb\" | \"c\"");
    EXPECT("ZRANGE z 5 10", "*0");
    EXPECT("ZRANGE z -1 -2", "*0");
    EXPECT("ZRANGE z 2 1", "*0");
    EXPECT("ZRANGE z 0 1 REV", "*2 | \"c\" | \"bb\"");
    EXPECT("ZRANGE z 0 -1 rev withscores withscores",
           "*10 | \"c\" | ,3 | \"bb\" | ,2 | \"ba\" | ,2 | \"b\" | ,2 | \"a\" | ,1");
    EXPECT("ZREVRANGE z 1 -2", "*3 | \"bb\" | \"ba\" | \"b\"");
    EXPECT("ZREVRANGE z 0 0 WITHSCORES", "*2 | \"c\" | ,3");
    EXPECT("ZRANGE z 0 1 LIMIT 5 -1", "*2 | \"a\" | \"b\""); /* LIMIT x -1 is no LIMIT */
}

static void test_zrange_by_score(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1 a 2 b 3 c -inf y inf x 9 d", ":6");
    EXPECT("ZRANGE z (1 3 BYSCORE", "*2 | \"b\" | \"c\"");
    EXPECT("ZRANGE z 1 (3 BYSCORE WITHSCORES", "*4 | \"a\" | ,1 | \"b\" | ,2");
    EXPECT("ZRANGE z -inf +inf BYSCORE", "*6 | \"y\" | \"a\" | \"b\" | \"c\" | \"d\" | \"x\"");
    EXPECT("ZRANGE z (-inf (inf BYSCORE", "*4 | \"a\" | \"b\" | \"c\" | \"d\"");
    EXPECT("ZRANGEBYSCORE z ( 5", "*3 | \"a\" | \"b\" | \"c\""); /* "(" alone is (0 */
    EXPECT("ZRANGEBYSCORE z 1e400 5", "*0");
    EXPECT("ZRANGEBYSCORE z -1e400 1", "*2 | \"y\" | \"a\"");
    EXPECT("ZRANGEBYSCORE z 3 1", "*0");
    EXPECT("ZRANGEBYSCORE z 3 (3", "*0");
    EXPECT("ZRANGEBYSCORE z 3 3", "*1 | \"c\"");
    EXPECT("ZRANGEBYSCORE z 0x1 2", "*2 | \"a\" | \"b\"");
    EXPECT("ZRANGE z (1 5 BYSCORE LIMIT 1 -1", "*1 | \"c\"");
    EXPECT("ZRANGE z (1 5 BYSCORE LIMIT -1 2", "*0");
    EXPECT("ZRANGE z (1 5 BYSCORE LIMIT 0 0", "*0");
    EXPECT("ZRANGE z (1 5 BYSCORE LIMIT 10 2", "*0");
    EXPECT("ZRANGE z -inf inf BYSCORE LIMIT 2 3", "*3 | \"b\" | \"c\" | \"d\"");
    EXPECT("ZRANGE z 5 1 BYSCORE REV", "*3 | \"c\" | \"b\" | \"a\"");
    EXPECT("ZRANGE z 5 1 BYSCORE REV LIMIT 1 2 WITHSCORES", "*4 | \"b\" | ,2 | \"a\" | ,1");
    EXPECT("ZREVRANGEBYSCORE z 3 1 WITHSCORES LIMIT 1 5", "*4 | \"b\" | ,2 | \"a\" | ,1");
    EXPECT("ZREVRANGEBYSCORE z 1 3", "*0");
    EXPECT("ZREVRANGEBYSCORE z +inf (9", "*1 | \"x\"");
    EXPECT("ZREVRANGEBYSCORE z (inf -inf", "*5 | \"d\" | \"c\" | \"b\" | \"a\" | \"y\"");
    EXPECT("ZRANGEBYSCORE nokey 0 1", "*0");
}

static void test_zrange_by_score_ties_and_zero(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 0 b -0 a 0 c -1 n 1 p", ":5");
    EXPECT("ZRANGEBYSCORE z 0 0", "*3 | \"a\" | \"b\" | \"c\"");
    EXPECT("ZRANGEBYSCORE z -0 -0", "*3 | \"a\" | \"b\" | \"c\"");
    EXPECT("ZRANGEBYSCORE z (-0 +inf", "*1 | \"p\"");
    EXPECT("ZRANGEBYSCORE z -inf (0", "*1 | \"n\"");
    EXPECT("ZREVRANGEBYSCORE z 0 0 LIMIT 1 1", "*1 | \"b\"");
    EXPECT("ZREVRANGEBYSCORE z (0 -inf", "*1 | \"n\"");
}

static void test_zrange_by_lex(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 0 a 0 b 0 c 0 d 0 e 0 aa", ":6");
    EXPECT("ZRANGEBYLEX z - +", "*6 | \"a\" | \"aa\" | \"b\" | \"c\" | \"d\" | \"e\"");
    EXPECT("ZRANGEBYLEX z [aa (d", "*3 | \"aa\" | \"b\" | \"c\"");
    EXPECT("ZRANGEBYLEX z (a [c", "*3 | \"aa\" | \"b\" | \"c\"");
    EXPECT("ZRANGEBYLEX z [ +", "*6 | \"a\" | \"aa\" | \"b\" | \"c\" | \"d\" | \"e\"");
    EXPECT("ZRANGEBYLEX z ( [b", "*3 | \"a\" | \"aa\" | \"b\"");
    EXPECT("ZRANGEBYLEX z - [", "*0");
    EXPECT("ZRANGEBYLEX z + -", "*0");
    EXPECT("ZRANGEBYLEX z + +", "*0");
    EXPECT("ZRANGEBYLEX z - -", "*0");
    EXPECT("ZRANGEBYLEX z [c (c", "*0");
    EXPECT("ZRANGEBYLEX z [c [c", "*1 | \"c\"");
    EXPECT("ZRANGEBYLEX z [d [b", "*0");
    EXPECT("ZRANGEBYLEX z [b [zz", "*4 | \"b\" | \"c\" | \"d\" | \"e\"");
    EXPECT("ZRANGEBYLEX z - + LIMIT 1 2", "*2 | \"aa\" | \"b\"");
    EXPECT("ZRANGE z [b + BYLEX LIMIT 2 10", "*2 | \"d\" | \"e\"");
    EXPECT("ZREVRANGEBYLEX z + -", "*6 | \"e\" | \"d\" | \"c\" | \"b\" | \"aa\" | \"a\"");
    EXPECT("ZREVRANGEBYLEX z [c [a", "*4 | \"c\" | \"b\" | \"aa\" | \"a\"");
    EXPECT("ZREVRANGEBYLEX z (c (a", "*2 | \"b\" | \"aa\"");
    EXPECT("ZREVRANGEBYLEX z [bb (a", "*2 | \"b\" | \"aa\"");
    EXPECT("ZREVRANGEBYLEX z [a [c", "*0");
    EXPECT("ZRANGE z + [b BYLEX REV LIMIT 1 2", "*2 | \"d\" | \"c\"");
    EXPECT("ZRANGEBYLEX z a b", "-ERR min or max not valid string range item");
    EXPECT("ZRANGEBYLEX z -x +", "-ERR min or max not valid string range item");
    EXPECT("ZRANGEBYLEX z '' +", "-ERR min or max not valid string range item");
    EXPECT("ZRANGEBYLEX z - + WITHSCORES",
           "-ERR syntax error, WITHSCORES not supported in combination with BYLEX");
}

static void test_ranks_are_walked_from_the_nearer_end(void **state)
{
    struct fixture *fixture = *state;
    add_numbered(fixture, "z", 300);
    EXPECT("ZCARD z", ":300");
    EXPECT("ZRANK z m000", ":0");
    EXPECT("ZRANK z m149", ":149");
    EXPECT("ZRANK z m150", ":150");
    EXPECT("ZRANK z m299", ":299");
    EXPECT("ZREVRANK z m299", ":0");
    EXPECT("ZREVRANK z m010", ":289");
    EXPECT("ZRANGE z 149 151", "*3 | \"m149\" | \"m150\" | \"m151\"");
    EXPECT("ZRANGE z 0 1", "*2 | \"m000\" | \"m001\"");
    EXPECT("ZRANGE z -2 -1 WITHSCORES", "*4 | \"m298\" | ,298 | \"m299\" | ,299");
    EXPECT("ZREVRANGE z 0 1", "*2 | \"m299\" | \"m298\"");
    EXPECT("ZREVRANGE z 150 150", "*1 | \"m149\"");
    EXPECT("ZREVRANGE z 298 1000", "*2 | \"m001\" | \"m000\"");
    EXPECT("ZREMRANGEBYRANK z 100 199", ":100");
    EXPECT("ZRANK z m200", ":100");
    EXPECT("ZRANGE z 99 100", "*2 | \"m099\" | \"m200\"");
    EXPECT("ZREMRANGEBYRANK z -10 -1", ":10");
    EXPECT("ZREVRANK z m289", ":0");
    EXPECT("ZCOUNT z -inf +inf", ":190");
    EXPECT("ZREMRANGEBYSCORE z (50 250", ":100");
    EXPECT("ZRANGE z 50 51", "*2 | \"m050\" | \"m251\"");
    EXPECT("ZCARD z", ":90");
}

static void test_zrange_option_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("ZRANGE z 0 1 LIMIT 0 1",
           "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or "
           "BYLEX");
    EXPECT("ZREVRANGE z 0 1 LIMIT 0 1",
           "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or "
           "BYLEX");
    EXPECT("ZRANGE z 0 1 BYLEX WITHSCORES",
           "-ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    EXPECT("ZRANGE z 0 1 REV REV", "-ERR syntax error");
    EXPECT("ZRANGE z 0 1 BYSCORE BYSCORE", "-ERR syntax error");
    EXPECT("ZRANGE z 0 1 BYSCORE BYLEX", "-ERR syntax error");
    EXPECT("ZRANGE z 0 1 LIMIT", "-ERR syntax error");
    EXPECT("ZRANGE z 0 1 LIMIT 1", "-ERR syntax error");
    EXPECT("ZRANGE z 0 1 LIMIT a b", "-ERR value is not an integer or out of range");
    EXPECT("ZRANGE z 0 1 foo", "-ERR syntax error");
    EXPECT("ZRANGE z a b", "-ERR value is not an integer or out of range");
    EXPECT("ZRANGE z 01 2", "-ERR value is not an integer or out of range");
    EXPECT("ZRANGE z a 1 BYSCORE", "-ERR min or max is not a float");
    EXPECT("ZRANGE z 1 nan BYSCORE", "-ERR min or max is not a float");
    EXPECT("ZRANGE z 1 (x BYSCORE", "-ERR min or max is not a float");
    EXPECT("ZRANGE z a b BYLEX", "-ERR min or max not valid string range item");
    EXPECT("ZREVRANGE z 0 1 REV", "-ERR syntax error");
    EXPECT("ZRANGEBYSCORE z 0 1 BYSCORE", "-ERR syntax error");
    EXPECT("ZRANGEBYSCORE z 0 1 REV", "-ERR syntax error");
    EXPECT("ZRANGEBYLEX z - + BYLEX", "-ERR syntax error");
    EXPECT("ZRANGE z 0", "-ERR wrong number of arguments for 'zrange' command");
    EXPECT("SET s v", "+OK");
    EXPECT("ZRANGE s 0 1 LIMIT a b", "-ERR value is not an integer or out of range");
    EXPECT("ZRANGE s 0 1 foo", "-ERR syntax error");
    EXPECT("ZRANGE s 0 1", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZRANGEBYSCORE s 0 1",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZREVRANGEBYLEX s + -",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
}

static void test_zrangestore(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("ZRANGESTORE d z 0 1", ":2");
    EXPECT("ZRANGE d 0 -1 WITHSCORES", "*4 | \"a\" | ,1 | \"b\" | ,2");
    EXPECT("ZRANGESTORE d z 0 1 REV", ":2");
    EXPECT("ZRANGE d 0 -1", "*2 | \"b\" | \"c\"");
    EXPECT("ZRANGESTORE d z 1 2 BYSCORE LIMIT 0 1", ":1");
    EXPECT("ZRANGE d 0 -1 WITHSCORES", "*2 | \"a\" | ,1");
    EXPECT("ZRANGESTORE d z [a [b BYLEX", ":2");
    EXPECT("ZRANGESTORE d z (b + BYLEX REV", ":0"); /* reversed: max (b, min + */
    EXPECT("ZRANGESTORE d z + (a BYLEX REV", ":2");
    EXPECT("ZRANGE d 0 -1", "*2 | \"b\" | \"c\"");
    EXPECT("ZRANGESTORE d z 0 1 WITHSCORES", "-ERR syntax error");
    EXPECT("ZRANGESTORE d z 0 -1 LIMIT 0 1",
           "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or "
           "BYLEX");
    EXPECT("ZRANGESTORE d nokey 0 -1", ":0");
    EXPECT("EXISTS d", ":0"); /* an empty result deletes the destination */
    EXPECT("SET s v", "+OK");
    EXPECT("ZRANGESTORE d s 0 1",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("EXPIRE s 100", ":1");
    EXPECT("ZRANGESTORE s z 0 0", ":1"); /* any type is replaced, its TTL dropped */
    EXPECT("TYPE s", "+zset");
    EXPECT("TTL s", ":-1");
    EXPECT("ZRANGESTORE z z 1 1", ":1"); /* the source read whole before it is replaced */
    EXPECT("ZRANGE z 0 -1 WITHSCORES", "*2 | \"b\" | ,2");
    EXPECT("ZRANGESTORE d z 5 10", ":0");
    EXPECT("ZRANGESTORE d", "-ERR wrong number of arguments for 'zrangestore' command");
}

static void test_zcount_zlexcount(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZCOUNT nokey 0 1", ":0");
    EXPECT("ZLEXCOUNT nokey - +", ":0");
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("ZCOUNT z (1 3", ":2");
    EXPECT("ZCOUNT z 3 1", ":0");
    EXPECT("ZCOUNT z -inf +inf", ":3");
    EXPECT("ZCOUNT z a 1", "-ERR min or max is not a float");
    EXPECT("ZLEXCOUNT z - +", ":3");
    EXPECT("ZLEXCOUNT z [a (c", ":2");
    EXPECT("ZLEXCOUNT z [ +", ":3");
    EXPECT("ZLEXCOUNT z ( +", ":3");
    EXPECT("ZLEXCOUNT z (c +", ":0");
    EXPECT("ZLEXCOUNT z a +", "-ERR min or max not valid string range item");
    EXPECT("ZLEXCOUNT z -x +", "-ERR min or max not valid string range item");
    EXPECT("SET s v", "+OK");
    EXPECT("ZCOUNT s 0 1", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZLEXCOUNT s - +", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZCOUNT s a 1", "-ERR min or max is not a float");
}

static void test_zremrange_by_rank_score_lex(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZREMRANGEBYRANK nokey 0 1", ":0");
    EXPECT("ZADD z 1 a 2 b 3 c 4 d 5 e", ":5");
    EXPECT("ZREMRANGEBYRANK z a b", "-ERR value is not an integer or out of range");
    EXPECT("ZREMRANGEBYRANK z 5 10", ":0");
    EXPECT("ZREMRANGEBYRANK z -1 -1", ":1");
    EXPECT("ZREMRANGEBYRANK z 1 2", ":2");
    EXPECT("ZRANGE z 0 -1", "*2 | \"a\" | \"d\"");
    EXPECT("ZADD z 2 b 3 c", ":2");
    EXPECT("ZREMRANGEBYSCORE z a b", "-ERR min or max is not a float");
    EXPECT("ZREMRANGEBYSCORE z -inf (1", ":0");
    EXPECT("ZREMRANGEBYSCORE z (1 3", ":2");
    EXPECT("ZRANGE z 0 -1", "*2 | \"a\" | \"d\"");
    EXPECT("ZREMRANGEBYSCORE z -inf +inf", ":2");
    EXPECT("EXISTS z", ":0");
    EXPECT("ZADD z 0 a 0 b 0 c 0 d", ":4");
    EXPECT("ZREMRANGEBYLEX z a b", "-ERR min or max not valid string range item");
    EXPECT("ZREMRANGEBYLEX z (a [c", ":2");
    EXPECT("ZRANGE z 0 -1", "*2 | \"a\" | \"d\"");
    EXPECT("ZREMRANGEBYLEX z + -", ":0");
    EXPECT("ZREMRANGEBYLEX z - +", ":2");
    EXPECT("EXISTS z", ":0");
    EXPECT("SET s v", "+OK");
    EXPECT("ZREMRANGEBYRANK s 0 1",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZREMRANGEBYSCORE s 0 1",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZREMRANGEBYLEX s - +",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
}

static void test_zrank_zrevrank(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZRANK nokey a", "(nil)");
    EXPECT("ZADD z 1 a 2 b 3 c 2 bb", ":4");
    EXPECT("ZRANK z a", ":0");
    EXPECT("ZRANK z bb", ":2");
    EXPECT("ZRANK z c", ":3");
    EXPECT("ZREVRANK z c", ":0");
    EXPECT("ZREVRANK z a", ":3");
    EXPECT("ZRANK z nosuch", "(nil)");
    EXPECT("ZREVRANK z nosuch", "(nil)");
    EXPECT("ZRANK z a WITHSCORE", "-ERR wrong number of arguments for 'zrank' command");
    EXPECT("SET s v", "+OK");
    EXPECT("ZRANK s a", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZREVRANK s a", "-WRONGTYPE Operation against a key holding the wrong kind of value");
}

static void test_zpopmin_zpopmax(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZPOPMIN nokey", "*0");
    EXPECT("ZPOPMIN nokey 2", "*0");
    EXPECT("ZADD z 1 a 2 b 3 c 3 cc 4 d", ":5");
    EXPECT("ZPOPMIN z", "*2 | \"a\" | ,1");
    EXPECT("ZPOPMAX z", "*2 | \"d\" | ,4");
    EXPECT("ZPOPMAX z 1", "*2 | \"cc\" | ,3");
    EXPECT("ZPOPMIN z 0", "*0");
    EXPECT("ZPOPMIN z -1", "-ERR value is out of range, must be positive");
    EXPECT("ZPOPMIN z a", "-ERR value is out of range, must be positive");
    EXPECT("ZPOPMIN z 1 2", "-ERR syntax error");
    EXPECT("ZPOPMIN z 10", "*4 | \"b\" | ,2 | \"c\" | ,3");
    EXPECT("EXISTS z", ":0");
    EXPECT("SET s v", "+OK");
    EXPECT("ZPOPMIN s", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZPOPMAX s 0", "-WRONGTYPE Operation against a key holding the wrong kind of value");
}

static void test_zmpop(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZMPOP 1 nokey MIN", "(nil-array)");
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("ZMPOP 0 z MIN", "-ERR numkeys should be greater than 0");
    EXPECT("ZMPOP -1 z MIN", "-ERR numkeys should be greater than 0");
    EXPECT("ZMPOP a z MIN", "-ERR numkeys should be greater than 0");
    EXPECT("ZMPOP 1 z", "-ERR wrong number of arguments for 'zmpop' command");
    EXPECT("ZMPOP 1 z foo", "-ERR syntax error");
    EXPECT("ZMPOP 2 z MIN", "-ERR syntax error");
    EXPECT("ZMPOP 9223372036854775807 z MIN", "-ERR syntax error");
    EXPECT("ZMPOP 1 z MIN COUNT 0", "-ERR count should be greater than 0");
    EXPECT("ZMPOP 1 z MIN COUNT -1", "-ERR count should be greater than 0");
    EXPECT("ZMPOP 1 z MIN COUNT a", "-ERR count should be greater than 0");
    EXPECT("ZMPOP 1 z MIN COUNT 1 COUNT 1", "-ERR syntax error");
    EXPECT("ZMPOP 1 z MIN COUNT", "-ERR syntax error");
    EXPECT("ZMPOP 1 z MIN foo", "-ERR syntax error");
    EXPECT("ZMPOP 2 nokey z MIN COUNT 2", "*2 | \"z\" | *2 | *2 | \"a\" | ,1 | *2 | \"b\" | ,2");
    EXPECT("ZMPOP 1 z max count 5", "*2 | \"z\" | *1 | *2 | \"c\" | ,3");
    EXPECT("EXISTS z", ":0");
    EXPECT("SET s v", "+OK");
    EXPECT("ZADD z2 5 x", ":1");
    EXPECT("ZMPOP 2 s z2 MIN",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZMPOP 2 z2 s MAX", "*2 | \"z2\" | *1 | *2 | \"x\" | ,5");
}

static void test_zunion_zinter_zdiff(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z1 1 a 2 b 3 c", ":3");
    EXPECT("ZADD z2 10 b 20 c 30 d", ":3");
    EXPECT("ZUNION 2 z1 z2", "*4 | \"a\" | \"b\" | \"c\" | \"d\"");
    EXPECT("ZUNION 2 z1 z2 WITHSCORES",
           "*8 | \"a\" | ,1 | \"b\" | ,12 | \"c\" | ,23 | \"d\" | ,30");
    EXPECT("ZUNION 2 z1 z2 WEIGHTS 2 0.5 AGGREGATE MAX WITHSCORES",
           "*8 | \"a\" | ,2 | \"b\" | ,5 | \"c\" | ,10 | \"d\" | ,15");
    EXPECT("ZUNION 2 z1 z2 AGGREGATE MIN WITHSCORES",
           "*8 | \"a\" | ,1 | \"b\" | ,2 | \"c\" | ,3 | \"d\" | ,30");
    EXPECT("ZINTER 2 z1 z2 WITHSCORES", "*4 | \"b\" | ,12 | \"c\" | ,23");
    EXPECT("ZINTER 2 z1 z2 WEIGHTS 1 -1 WITHSCORES", "*4 | \"c\" | ,-17 | \"b\" | ,-8");
    EXPECT("ZINTER 2 z1 z1 WITHSCORES", "*6 | \"a\" | ,2 | \"b\" | ,4 | \"c\" | ,6");
    EXPECT("ZINTER 2 z1 nokey", "*0");
    EXPECT("ZDIFF 2 z1 z2 WITHSCORES", "*2 | \"a\" | ,1");
    EXPECT("ZDIFF 1 z1", "*3 | \"a\" | \"b\" | \"c\"");
    EXPECT("ZDIFF 2 z1 z1", "*0");
    EXPECT("ZDIFF 3 z1 nokey z1", "*0");
    EXPECT("ZDIFF 2 nokey z1", "*0");
    EXPECT("ZUNION 2 z1 z2 withscores withscores",
           "*8 | \"a\" | ,1 | \"b\" | ,12 | \"c\" | ,23 | \"d\" | ,30");
    EXPECT("ZUNION 1 z1 WEIGHTS 1 WEIGHTS 2 WITHSCORES",
           "*6 | \"a\" | ,2 | \"b\" | ,4 | \"c\" | ,6");
    EXPECT("ZUNION 1 z1 AGGREGATE MIN AGGREGATE MAX", "*3 | \"a\" | \"b\" | \"c\"");
}

static void test_algebra_infinities_and_nan(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1 a 2 b", ":2");
    EXPECT("ZADD i inf p -inf q", ":2");
    EXPECT("ZUNION 2 z i WEIGHTS 0 inf WITHSCORES",
           "*8 | \"q\" | ,-inf | \"a\" | ,0 | \"b\" | ,0 | \"p\" | ,inf");
    EXPECT("ZUNION 2 i i WITHSCORES", "*4 | \"q\" | ,-inf | \"p\" | ,inf");
    EXPECT("ZUNION 2 i i WEIGHTS 1 -1 WITHSCORES", "*4 | \"p\" | ,0 | \"q\" | ,0");
    EXPECT("ZUNION 2 i i WEIGHTS 0 0 WITHSCORES", "*4 | \"p\" | ,0 | \"q\" | ,0");
    EXPECT("ZUNION 3 i i i AGGREGATE MIN WITHSCORES", "*4 | \"q\" | ,-inf | \"p\" | ,inf");
    EXPECT("ZUNION 1 z WEIGHTS -0 WITHSCORES", "*4 | \"a\" | ,-0 | \"b\" | ,-0");
    EXPECT("ZUNIONSTORE d 1 z WEIGHTS -0", ":2");
    EXPECT("ZRANGE d 0 -1 WITHSCORES", "*4 | \"a\" | ,0 | \"b\" | ,0");
    /* Sums run smallest input first, as Redis's: (0.3 + 0.2) + 0.1, not (0.1 + 0.2) + 0.3. */
    EXPECT("ZADD x 0.3 m", ":1");
    EXPECT("ZADD y 0.2 m 0 n", ":2");
    EXPECT("ZADD w 0.1 m 0 n 0 o", ":3");
    EXPECT("ZUNION 3 w y x WITHSCORES",
           "*6 | \"n\" | ,0 | \"o\" | ,0 | \"m\" | ,0.59999999999999998");
    EXPECT("ZINTER 3 w y x WITHSCORES", "*2 | \"m\" | ,0.59999999999999998");
}

static void test_algebra_errors(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1 a", ":1");
    EXPECT("SET str v", "+OK");
    EXPECT("ZUNION 0 z", "-ERR at least 1 input key is needed for 'zunion' command");
    EXPECT("ZUNION -1 z", "-ERR at least 1 input key is needed for 'zunion' command");
    EXPECT("ZINTER 0 z", "-ERR at least 1 input key is needed for 'zinter' command");
    EXPECT("ZDIFF 0 z", "-ERR at least 1 input key is needed for 'zdiff' command");
    EXPECT("ZUNIONSTORE d 0 z", "-ERR at least 1 input key is needed for 'zunionstore' command");
    EXPECT("ZINTERSTORE d 0 z", "-ERR at least 1 input key is needed for 'zinterstore' command");
    EXPECT("ZDIFFSTORE d 0 z", "-ERR at least 1 input key is needed for 'zdiffstore' command");
    EXPECT("ZINTERCARD 0 z", "-ERR at least 1 input key is needed for 'zintercard' command");
    EXPECT("ZUNION a z", "-ERR value is not an integer or out of range");
    EXPECT("ZUNION 2 z", "-ERR syntax error");
    EXPECT("ZUNION 1 z WEIGHTS a", "-ERR weight value is not a float");
    EXPECT("ZUNION 1 z WEIGHTS", "-ERR syntax error");
    EXPECT("ZUNION 1 z AGGREGATE foo", "-ERR syntax error");
    EXPECT("ZUNION 1 z AGGREGATE", "-ERR syntax error");
    EXPECT("ZUNION 1 z foo", "-ERR syntax error");
    EXPECT("ZUNIONSTORE d 1 z WITHSCORES", "-ERR syntax error");
    EXPECT("ZDIFF 1 z WEIGHTS 1", "-ERR syntax error");
    EXPECT("ZDIFF 1 z AGGREGATE SUM", "-ERR syntax error");
    EXPECT("ZUNION 2 z str", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZUNION 2 str z WEIGHTS a",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZINTERCARD 2 z str",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZUNIONSTORE d", "-ERR wrong number of arguments for 'zunionstore' command");
    EXPECT("EXISTS d", ":0");
}

static void test_algebra_stores(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z1 1 a 2 b 3 c", ":3");
    EXPECT("ZADD z2 10 b 20 c 30 d", ":3");
    EXPECT("ZUNIONSTORE d 2 z1 z2 WEIGHTS 2 3 AGGREGATE MAX", ":4");
    EXPECT("ZRANGE d 0 -1 WITHSCORES", "*8 | \"a\" | ,2 | \"b\" | ,30 | \"c\" | ,60 | \"d\" | ,90");
    EXPECT("ZINTERSTORE d 2 z1 z2", ":2");
    EXPECT("ZRANGE d 0 -1 WITHSCORES", "*4 | \"b\" | ,12 | \"c\" | ,23");
    EXPECT("ZDIFFSTORE d 2 z2 z1", ":1");
    EXPECT("ZRANGE d 0 -1 WITHSCORES", "*2 | \"d\" | ,30");
    EXPECT("ZINTERSTORE d 2 z1 nokey", ":0");
    EXPECT("EXISTS d", ":0");
    EXPECT("SET str v", "+OK");
    EXPECT("EXPIRE str 100", ":1");
    EXPECT("ZUNIONSTORE str 1 z1", ":3"); /* another type is replaced, its TTL dropped */
    EXPECT("TYPE str", "+zset");
    EXPECT("TTL str", ":-1");
    EXPECT("ZUNIONSTORE z1 2 z1 z2", ":4"); /* the destination is also an input */
    EXPECT("ZRANGE z1 0 -1 WITHSCORES",
           "*8 | \"a\" | ,1 | \"b\" | ,12 | \"c\" | ,23 | \"d\" | ,30");
    EXPECT("ZINTERSTORE z2 2 z1 z2 AGGREGATE MIN", ":3");
    EXPECT("ZRANGE z2 0 -1 WITHSCORES", "*6 | \"b\" | ,10 | \"c\" | ,20 | \"d\" | ,30");
    EXPECT("ZDIFFSTORE z1 2 z1 z1", ":0");
    EXPECT("EXISTS z1", ":0");
}

static void test_zintercard(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z1 1 a 2 b 3 c 4 d", ":4");
    EXPECT("ZADD z2 1 b 2 c 3 d 4 e", ":4");
    EXPECT("ZINTERCARD 1 z1", ":4");
    EXPECT("ZINTERCARD 2 z1 z2", ":3");
    EXPECT("ZINTERCARD 2 z1 z2 LIMIT 2", ":2");
    EXPECT("ZINTERCARD 2 z1 z2 LIMIT 0", ":3");
    EXPECT("ZINTERCARD 2 z1 z2 LIMIT 10", ":3");
    EXPECT("ZINTERCARD 2 z1 nokey", ":0");
    EXPECT("ZINTERCARD 2 z1", "-ERR syntax error");
    EXPECT("ZINTERCARD 1 z1 LIMIT -1", "-ERR LIMIT can't be negative");
    EXPECT("ZINTERCARD 1 z1 LIMIT a", "-ERR LIMIT can't be negative");
    EXPECT("ZINTERCARD 1 z1 WEIGHTS 1", "-ERR syntax error");
    EXPECT("ZINTERCARD 1 z1 WITHSCORES", "-ERR syntax error");
    EXPECT("ZINTERCARD 1 z1 LIMIT", "-ERR syntax error");
    EXPECT("ZINTERCARD a z1", "-ERR value is not an integer or out of range");
}

static void test_algebra_takes_sets_with_score_one(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("SADD st a x", ":2");
    EXPECT("ZUNION 2 z st WITHSCORES", "*8 | \"x\" | ,1 | \"a\" | ,2 | \"b\" | ,2 | \"c\" | ,3");
    EXPECT("ZINTER 2 z st WITHSCORES", "*2 | \"a\" | ,2");
    EXPECT("ZINTER 2 st st WEIGHTS 2 3 WITHSCORES", "*4 | \"a\" | ,5 | \"x\" | ,5");
    EXPECT("ZDIFF 2 z st WITHSCORES", "*4 | \"b\" | ,2 | \"c\" | ,3");
    EXPECT("ZDIFF 2 st z WITHSCORES", "*2 | \"x\" | ,1");
    EXPECT("ZINTERCARD 2 st z", ":1");
    EXPECT("ZUNIONSTORE d 2 z st WEIGHTS 2 3 AGGREGATE MAX", ":4");
    EXPECT("ZRANGE d 0 -1 WITHSCORES", "*8 | \"a\" | ,3 | \"x\" | ,3 | \"b\" | ,4 | \"c\" | ,6");
    EXPECT("ZRANGE st 0 -1", "-WRONGTYPE Operation against a key holding the wrong kind of value");
}

/* Splits a transcript into its replies (in place); returns how many. */
static size_t split_replies(char *transcript, char **replies, size_t capacity)
{
    size_t count = 0;
    char *save = NULL;
    for (char *reply = strtok_r(transcript, "|", &save); reply != NULL;
         reply = strtok_r(NULL, "|", &save)) {
        while (*reply == ' ') {
            reply++;
        }
        size_t length = strlen(reply);
        while (length > 0 && reply[length - 1] == ' ') {
            reply[--length] = '\0';
        }
        assert_true(count < capacity);
        replies[count++] = reply;
    }
    return count;
}

static bool contains(char **words, size_t count, const char *word)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(words[i], word) == 0) {
            return true;
        }
    }
    return false;
}

/* Runs ZRANDMEMBER and checks its reply: `expected` members, each a member of m000 ..
 * m(size-1) with its score, distinct when `distinct`. */
static void check_random_members(struct fixture *fixture, const char *line, size_t expected,
                                 int size, bool distinct)
{
    char transcript[TRANSCRIPT_BYTES];
    snprintf(transcript, sizeof transcript, "%s", run(fixture, line));
    char *replies[1024];
    size_t count = split_replies(transcript, replies, 1024);
    char header[32];
    snprintf(header, sizeof header, "*%zu", 2 * expected);
    assert_string_equal(replies[0], header);
    assert_int_equal(count, 1 + 2 * expected);
    char *members[512];
    for (size_t i = 0; i < expected; i++) {
        int number = -1;
        assert_int_equal(sscanf(replies[1 + 2 * i], "\"m%d\"", &number), 1);
        assert_true(number >= 0 && number < size);
        char score[32];
        snprintf(score, sizeof score, ",%d", number);
        assert_string_equal(replies[2 + 2 * i], score);
        assert_false(distinct && contains(members, i, replies[1 + 2 * i]));
        members[i] = replies[1 + 2 * i];
    }
}

static void test_zrandmember(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZRANDMEMBER nokey", "(nil)");
    EXPECT("ZRANDMEMBER nokey 2", "*0");
    EXPECT("ZRANDMEMBER nokey -1048577", "*0");
    EXPECT("ZRANDMEMBER nokey 5 foo", "-ERR syntax error");
    EXPECT("ZRANDMEMBER nokey a", "-ERR value is not an integer or out of range");
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("ZRANDMEMBER z 0", "*0");
    EXPECT("ZRANDMEMBER z 1 withscores foo", "-ERR syntax error");
    EXPECT("ZRANDMEMBER z 1 WITHSCORE", "-ERR syntax error");
    EXPECT("ZRANDMEMBER z -9223372036854775808 WITHSCORES",
           "-ERR value is out of range, value must between -9223372036854775807 and "
           "9223372036854775807");
    EXPECT("ZRANDMEMBER z -9223372036854775808",
           "-ERR value is out of range, value must between -9223372036854775807 and "
           "9223372036854775807");
    EXPECT("ZRANDMEMBER z 4611686018427387904 WITHSCORES", "-ERR value is out of range");
    EXPECT("ZRANDMEMBER z -4611686018427387905 WITHSCORES", "-ERR value is out of range");
    /* A count of the size or more: the whole set, highest score first, as Redis. */
    EXPECT("ZRANDMEMBER z 3", "*3 | \"c\" | \"b\" | \"a\"");
    EXPECT("ZRANDMEMBER z 4611686018427387903 WITHSCORES",
           "*6 | \"c\" | ,3 | \"b\" | ,2 | \"a\" | ,1");
    EXPECT("SET s v", "+OK");
    EXPECT("ZRANDMEMBER s", "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZRANDMEMBER s 0", "-WRONGTYPE Operation against a key holding the wrong kind of value");
}

static void test_zrandmember_counts_and_spread(void **state)
{
    struct fixture *fixture = *state;
    add_numbered(fixture, "small", 3);
    add_numbered(fixture, "big", 300);
    EXPECT_RAFTKV("ZRANDMEMBER big -1048577",
                  "-ERR count would repeat more than 1048576 members"); /* hash.c's limit */
    check_random_members(fixture, "ZRANDMEMBER small -7 WITHSCORES", 7, 3, false);
    check_random_members(fixture, "ZRANDMEMBER small 2 WITHSCORES", 2, 3, true);
    check_random_members(fixture, "ZRANDMEMBER big -50 WITHSCORES", 50, 300, false);
    check_random_members(fixture, "ZRANDMEMBER big 1 WITHSCORES", 1, 300, true);
    check_random_members(fixture, "ZRANDMEMBER big 10 WITHSCORES", 10, 300, true);
    check_random_members(fixture, "ZRANDMEMBER big 99 WITHSCORES", 99, 300, true);
    check_random_members(fixture, "ZRANDMEMBER big 150 WITHSCORES", 150, 300, true);
    check_random_members(fixture, "ZRANDMEMBER big 299 WITHSCORES", 299, 300, true);
    /* Small sets draw a uniform rank: each of 3 members comes up about a third of the time. */
    int seen[3] = {0};
    for (int i = 0; i < 600; i++) {
        int number = -1;
        assert_int_equal(sscanf(run(fixture, "ZRANDMEMBER small"), "\"m%d\"", &number), 1);
        assert_true(number >= 0 && number < 3);
        seen[number]++;
    }
    for (int i = 0; i < 3; i++) {
        assert_in_range(seen[i], 140, 260);
    }
    /* Large sets draw by hash: every member can come up. */
    bool drawn[300] = {false};
    int distinct = 0;
    for (int i = 0; i < 60 && distinct < 300; i++) {
        char transcript[TRANSCRIPT_BYTES];
        snprintf(transcript, sizeof transcript, "%s", run(fixture, "ZRANDMEMBER big -100"));
        char *replies[128];
        size_t count = split_replies(transcript, replies, 128);
        assert_int_equal(count, 101);
        for (size_t j = 1; j < count; j++) {
            int number = -1;
            assert_int_equal(sscanf(replies[j], "\"m%d\"", &number), 1);
            distinct += drawn[number] ? 0 : 1;
            drawn[number] = true;
        }
    }
    assert_in_range(distinct, 250, 300);
}

static void test_zscan(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZSCAN nokey 0", "*2 | \"0\" | *0");
    EXPECT("ZSCAN nokey 0 COUNT 0", "*2 | \"0\" | *0"); /* options are read after the lookup */
    EXPECT("ZSCAN nokey abc", "-ERR invalid cursor");
    EXPECT("ZADD z 1 a 2 b 3 c", ":3");
    EXPECT("ZSCAN z abc", "-ERR invalid cursor");
    EXPECT("ZSCAN z 18446744073709551616", "-ERR invalid cursor");
    EXPECT("ZSCAN z 0 COUNT 0", "-ERR syntax error");
    EXPECT("ZSCAN z 0 COUNT a", "-ERR value is not an integer or out of range");
    EXPECT("ZSCAN z 0 TYPE zset", "-ERR syntax error");
    EXPECT("ZSCAN z 0 NOVALUES", "-ERR syntax error");
    EXPECT("ZSCAN z 0 MATCH", "-ERR syntax error");
    EXPECT("SET s v", "+OK");
    EXPECT("ZSCAN s 0 COUNT 0",
           "-WRONGTYPE Operation against a key holding the wrong kind of value");
    EXPECT("ZSCAN s abc", "-ERR invalid cursor");
}

/* A whole ZSCAN iteration of m000 .. m299 with these options: every member exactly once,
 * with its score, `matching` of them. */
static void check_full_scan(struct fixture *fixture, const char *options, int matching)
{
    bool seen[300] = {false};
    int found = 0;
    char cursor[32] = "0";
    int calls = 0;
    do {
        char line[128];
        snprintf(line, sizeof line, "ZSCAN big %s%s", cursor, options);
        char transcript[TRANSCRIPT_BYTES];
        snprintf(transcript, sizeof transcript, "%s", run(fixture, line));
        char *replies[700];
        size_t count = split_replies(transcript, replies, 700);
        assert_true(count >= 3);
        assert_string_equal(replies[0], "*2");
        assert_int_equal(sscanf(replies[1], "\"%31[0-9]\"", cursor), 1);
        size_t elements = 0;
        assert_int_equal(sscanf(replies[2], "*%zu", &elements), 1);
        assert_int_equal(count, 3 + elements);
        for (size_t i = 3; i < count; i += 2) {
            int number = -1;
            assert_int_equal(sscanf(replies[i], "\"m%d\"", &number), 1);
            assert_true(number >= 0 && number < 300);
            assert_false(seen[number]);
            seen[number] = true;
            found++;
            char score[32];
            snprintf(score, sizeof score, "\"%d\"", number); /* a bulk string, as Redis */
            assert_string_equal(replies[i + 1], score);
        }
        calls++;
    } while (strcmp(cursor, "0") != 0);
    assert_int_equal(found, matching);
    assert_true(calls > 1);
}

static void test_zscan_visits_every_member_once(void **state)
{
    struct fixture *fixture = *state;
    add_numbered(fixture, "big", 300);
    check_full_scan(fixture, "", 300);
    check_full_scan(fixture, " COUNT 1", 300);
    check_full_scan(fixture, " COUNT 70", 300);
    check_full_scan(fixture, " MATCH m1*", 100);
    check_full_scan(fixture, " MATCH * COUNT 3", 300);
    check_full_scan(fixture, " MATCH m00? COUNT 50", 10);
    /* "-1" is the largest cursor, as strtoul reads it: past every member's hash (Redis's
     * cursor is a bucket index: it gives the last bucket's members). */
    EXPECT_RAFTKV("ZSCAN big -1", "*2 | \"0\" | *0");
}

static void test_expired_sets_are_absent(void **state)
{
    struct fixture *fixture = *state;
    EXPECT("ZADD z 1 a 2 b", ":2");
    EXPECT("PEXPIRE z 100", ":1");
    EXPECT("ZADD z 3 c", ":1"); /* a write keeps the TTL, as Redis */
    EXPECT("ZINCRBY z 1 a", ",2");
    EXPECT("ZREM z b", ":1");
    EXPECT("PTTL z", ":100");
    test_clock_ms += 100;
    EXPECT("ZCARD z", ":0");
    EXPECT("ZSCORE z a", "(nil)");
    EXPECT("ZMSCORE z a", "*1 | (nil)");
    EXPECT("ZRANGE z 0 -1", "*0");
    EXPECT("ZRANGEBYSCORE z -inf +inf", "*0");
    EXPECT("ZRANK z a", "(nil)");
    EXPECT("ZCOUNT z -inf +inf", ":0");
    EXPECT("ZRANDMEMBER z", "(nil)");
    EXPECT("ZSCAN z 0", "*2 | \"0\" | *0");
    EXPECT("ZUNION 1 z", "*0");
    EXPECT("ZINTERCARD 1 z", ":0");
    EXPECT("ZPOPMIN z", "*0");
    EXPECT("ZMPOP 1 z MIN", "(nil-array)");
    EXPECT("ZADD z 5 new", ":1"); /* a new set: the old members are gone */
    EXPECT("ZRANGE z 0 -1 WITHSCORES", "*2 | \"new\" | ,5");
    EXPECT("TTL z", ":-1");
    EXPECT("ZADD y 1 a", ":1");
    EXPECT("PEXPIRE y 10", ":1");
    test_clock_ms += 10;
    EXPECT("ZUNIONSTORE d 2 y z", ":1");
    EXPECT("ZRANGESTORE d2 y 0 -1", ":0");
    EXPECT("EXISTS y d2", ":0");
}

static void test_sets_survive_a_reopen(void **state)
{
    struct fixture *fixture = *state;
    add_numbered(fixture, "big", 100);
    EXPECT("ZADD z -inf lo 0.5 mid inf hi", ":3");
    fixture_reopen(fixture);
    EXPECT("ZRANGE z 0 -1 WITHSCORES", "*6 | \"lo\" | ,-inf | \"mid\" | ,0.5 | \"hi\" | ,inf");
    EXPECT("ZCARD big", ":100");
    EXPECT("ZRANK big m077", ":77");
    EXPECT("DEL big", ":1");
    EXPECT("ZCARD big", ":0");
    add_numbered(fixture, "big", 3);
    EXPECT("ZRANGE big 0 -1", "*3 | \"m000\" | \"m001\" | \"m002\"");
}

#define FIXTURE_TEST(name) cmocka_unit_test_setup_teardown(name, setup_fixture, teardown_fixture)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_zadd_counts_new_members_and_updates_scores),
        FIXTURE_TEST(test_zadd_nx_xx_gt_lt),
        FIXTURE_TEST(test_zadd_errors_in_redis_order),
        FIXTURE_TEST(test_zadd_incr_and_zincrby),
        FIXTURE_TEST(test_scores_are_formatted_as_redis),
        FIXTURE_TEST(test_member_and_key_limits),
        FIXTURE_TEST(test_zrem_removes_and_deletes_the_emptied_key),
        FIXTURE_TEST(test_zscore_zmscore_zcard),
        FIXTURE_TEST(test_zrange_by_rank),
        FIXTURE_TEST(test_zrange_by_score),
        FIXTURE_TEST(test_zrange_by_score_ties_and_zero),
        FIXTURE_TEST(test_zrange_by_lex),
        FIXTURE_TEST(test_ranks_are_walked_from_the_nearer_end),
        FIXTURE_TEST(test_zrange_option_errors),
        FIXTURE_TEST(test_zrangestore),
        FIXTURE_TEST(test_zcount_zlexcount),
        FIXTURE_TEST(test_zremrange_by_rank_score_lex),
        FIXTURE_TEST(test_zrank_zrevrank),
        FIXTURE_TEST(test_zpopmin_zpopmax),
        FIXTURE_TEST(test_zmpop),
        FIXTURE_TEST(test_zunion_zinter_zdiff),
        FIXTURE_TEST(test_algebra_infinities_and_nan),
        FIXTURE_TEST(test_algebra_errors),
        FIXTURE_TEST(test_algebra_stores),
        FIXTURE_TEST(test_zintercard),
        FIXTURE_TEST(test_algebra_takes_sets_with_score_one),
        FIXTURE_TEST(test_zrandmember),
        FIXTURE_TEST(test_zrandmember_counts_and_spread),
        FIXTURE_TEST(test_zscan),
        FIXTURE_TEST(test_zscan_visits_every_member_once),
        FIXTURE_TEST(test_expired_sets_are_absent),
        FIXTURE_TEST(test_sets_survive_a_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
