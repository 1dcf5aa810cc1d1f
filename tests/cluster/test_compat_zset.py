"""test_compat_zset.py — raftkv's sorted set commands side by side with a real redis-server 7.0
(compat.py): ZADD (NX, XX, GT, LT, CH, INCR), ZINCRBY, ZREM, ZSCORE, ZMSCORE, ZCARD, ZCOUNT,
ZLEXCOUNT, ZRANGE (BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGESTORE, ZREVRANGE,
ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZRANK, ZREVRANK,
ZREMRANGEBYRANK/SCORE/LEX, ZPOPMIN, ZPOPMAX, ZMPOP, ZUNION, ZINTER, ZDIFF and their STORE
forms, ZINTERCARD, ZRANDMEMBER and ZSCAN, the raw replies compared byte for byte.

Edge cases first: every option combination and error in Redis's order of checks, scores'
formatting (%.17g, inf, -inf, -0), infinities and NaN in INCR and in weights, ties ordered by
member, LIMIT offsets (negative, past the end, zero counts), reversed ranges, extreme ranks,
WRONGTYPE, the time to live kept by writes and dropped by stores, expired keys, sets as inputs
of the algebra, a set of 300 members (Redis's skiplist encoding), then a seeded random walk.

Happy path: each test starts from FLUSHALL on both sides (the `fresh` fixture) and runs a short
script; every reply must be identical, except where Redis leaves the order or the choice free:
ZSCAN is compared as the members of a whole iteration, ZRANDMEMBER's draws by their shape.

Failure modes: a difference fails the test with the command and both replies; the random walk
names its seed and step. Deliberate differences, tested on raftkv alone: members over 494 bytes
(KNOWN_DIFFERENCES["key-size"]); ZRANDMEMBER with a negative count beyond 1048576 is refused
(Redis builds the reply); ZSCAN's cursor is a member hash, so a cursor of -1 (2^64 - 1) is past
every member (Redis's is a bucket index).
"""

import random
import time

import pytest

from compat import compat, fresh, parse, redis_server  # noqa: F401 -- pytest fixtures

I64_MAX = "9223372036854775807"
I64_MIN = "-9223372036854775808"
U64_OVER = "9223372036854775808"
WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def case(*commands, id=None):  # noqa: A002 -- pytest's own name for it
    return pytest.param(list(commands), id=id)


def big_set(fresh, key="big", count=300):
    """key holds m000 .. m(count-1) with scores 0 .. count-1 on both sides."""
    for first in range(0, count, 50):
        arguments = ["ZADD", key]
        for i in range(first, min(count, first + 50)):
            arguments += [str(i), "m%03d" % i]
        fresh.setup(arguments)


# ---- ZADD, ZINCRBY ----

ZADD_CASES = [
    case("ZADD z 1 a 2 b 3 c", "ZADD z 10 a 4 d", "ZCARD z", "ZSCORE z a", "TYPE z",
         "ZADD z 5 e 6 e", "ZSCORE z e", "ZADD z CH 1 a 2 b 7 f", "ZRANGE z 0 -1 WITHSCORES",
         id="adds-and-updates"),
    case("ZADD z XX 1 a", "EXISTS z", "ZADD z 5 a", "ZADD z NX 1 a 2 b", "ZSCORE z a",
         "ZADD z XX CH 6 a 3 c", "ZSCORE z c", "ZADD z GT CH 4 a 9 b", "ZADD z LT CH 4 a 9 b",
         "ZADD z GT 100 new", "ZADD z lt xx ch 1 new", "ZADD z gt ch 1 a", "ZADD z lt ch 1 a",
         "ZRANGE z 0 -1 WITHSCORES", id="nx-xx-gt-lt-ch"),
    case("ZADD z 1", "ZADD z 1 a 2", "ZADD z NX 1", "ZADD z NX XX 1 a", "ZADD z GT LT 1 a",
         "ZADD z NX GT 1 a", "ZADD z LT NX 1 a", "ZADD z GT LT NX 1 a", "ZADD z INCR 1 a 2 b",
         "ZADD z abc a", "ZADD z nan a", "ZADD z 1e400 a", "ZADD z -1e400 a", "ZADD z 1 a x b",
         ("ZADD", "z", " 1", "a"), ("ZADD", "z", "1 ", "a"), ("ZADD", "z", "", "a"),
         "ZADD z 0x10 hex", "ZSCORE z hex", "EXISTS z", "ZADD", "ZADD z", id="errors"),
    case("SET s v", "ZADD s x a", "ZADD s 1 a", "ZINCRBY s 1 a", "ZADD s NX XX 1 a", "GET s",
         id="wrongtype-after-parsing"),
    case("ZADD z INCR 1.5 a", "ZADD z INCR 1 a", "ZINCRBY z 2.5 a", "ZINCRBY z -10 new",
         "ZADD z XX INCR 1 nosuch", "ZADD z NX INCR 1 a", "ZADD z GT INCR -1 a",
         "ZADD z LT INCR -1 a", "ZADD z GT INCR 0 a", "ZADD nokey XX INCR 1 a", "EXISTS nokey",
         "ZINCRBY z abc a", "ZINCRBY z 1", "ZINCRBY z 1 a b", id="incr"),
    case("ZADD z inf x -inf y", "ZINCRBY z -inf x", "ZADD z INCR -inf x", "ZADD z INCR inf y",
         "ZSCORE z x", "ZINCRBY z 1 x", "ZINCRBY z +inf x", "ZADD z INCR -0 m", "ZSCORE z m",
         "ZINCRBY z -0 m", "ZRANGE z 0 -1 WITHSCORES", id="infinities-and-nan"),
    case("ZADD f 0.1 a 1e20 b 1.7976931348623157e308 c 5e-324 d -0.0 e 123456789012345678 g",
         "ZADD f 3.0 h 1.5e-7 i -2.5e+10 j 0.30000000000000004 k 100 l 1e16 m 1e15 n",
         "ZADD f -0 e2 +5 plus", "ZRANGE f 0 -1 WITHSCORES", "ZSCORE f e", "ZMSCORE f a b c d",
         id="score-formatting"),
    case(("ZADD", "z", "1", ""), ("ZADD", "z", "2", b"\x00\r\n\xff"), "ZRANGE z 0 -1 WITHSCORES",
         ("ZSCORE", "z", ""), ("ZRANK", "z", b"\x00\r\n\xff"), id="empty-and-binary-members"),
]


@pytest.mark.parametrize("script", ZADD_CASES)
def test_zadd(fresh, script):
    fresh.compare_many(script)


def test_member_size_limit(fresh):
    fresh.compare("ZADD", "z", "1", "m" * 494)
    fresh.compare("ZSCORE", "z", "m" * 494)
    fresh.compare("ZRANGEBYLEX", "z", "[" + "m" * 600, "+")
    fresh.compare("ZRANGEBYLEX", "z", "-", "(" + "m" * 600)
    fresh.compare("ZREVRANGEBYLEX", "z", "[" + "m" * 600, "-")
    fresh.compare("ZADD", "z", "1", "m" * 495, known_difference="key-size")
    fresh.compare("ZINCRBY", "z", "1", "m" * 495, known_difference="key-size")
    fresh.compare("ZSCORE", "z", "m" * 494)
    assert fresh.raftkv("ZCARD", "z") == b":1\r\n"


# ---- ZREM, ZSCORE, ZMSCORE, ZCARD, ZRANK ----

MEMBER_CASES = [
    case("ZREM nokey a", "ZADD z 1 a 2 b 3 c", "ZREM z a nosuch a", "ZCARD z", "ZREM z b c",
         "EXISTS z", "ZREM z", id="zrem"),
    case("ZSCORE nokey a", "ZMSCORE nokey a b", "ZCARD nokey", "ZADD z 1.5 a 2 b",
         "ZSCORE z nosuch", "ZMSCORE z a nosuch b", "ZMSCORE z", "ZSCORE z", "ZCARD z x",
         id="zscore-zmscore-zcard"),
    case("ZRANK nokey a", "ZADD z 1 a 2 b 3 c 2 bb", "ZRANK z a", "ZRANK z bb", "ZRANK z c",
         "ZREVRANK z c", "ZREVRANK z a", "ZRANK z nosuch", "ZREVRANK nokey a", "ZRANK z",
         "ZRANK z a WITHSCORE", id="zrank"),
    case("SET s v", "ZREM s a", "ZSCORE s a", "ZMSCORE s a", "ZCARD s", "ZRANK s a",
         "ZREVRANK s a", "ZCOUNT s 0 1", "ZLEXCOUNT s - +", "ZCOUNT s a 1", "ZLEXCOUNT s a +",
         id="wrongtype"),
]


@pytest.mark.parametrize("script", MEMBER_CASES)
def test_members(fresh, script):
    fresh.compare_many(script)


def test_ranks_of_a_large_set(fresh):
    big_set(fresh)
    for member in ("m000", "m001", "m149", "m150", "m151", "m298", "m299"):
        fresh.compare("ZRANK", "big", member)
        fresh.compare("ZREVRANK", "big", member)
    for start, end in ((0, 1), (149, 151), (-2, -1), (298, 1000), (150, 150), (-300, -299)):
        fresh.compare("ZRANGE", "big", start, end, "WITHSCORES")
        fresh.compare("ZREVRANGE", "big", start, end)


# ---- ranges ----

RANKS = [(0, -1), (1, 2), (-2, -1), (-100, 0), (3, 100), (5, 10), (-1, -2), (2, 1), (0, 0),
         (-5, -5), (4, 4), (I64_MIN, I64_MAX), (I64_MAX, I64_MIN), (-1, I64_MAX)]


@pytest.mark.parametrize("start,end", RANKS)
def test_ranges_by_rank(fresh, start, end):
    fresh.setup("ZADD z 3 c 1 a 2 b 2 bb 2 ba")
    fresh.compare("ZRANGE", "z", start, end)
    fresh.compare("ZRANGE", "z", start, end, "WITHSCORES")
    fresh.compare("ZRANGE", "z", start, end, "REV", "WITHSCORES")
    fresh.compare("ZREVRANGE", "z", start, end, "WITHSCORES")
    fresh.compare("ZRANGESTORE", "d", "z", start, end)
    fresh.compare("ZRANGE", "d", 0, -1, "WITHSCORES")
    fresh.compare("ZREMRANGEBYRANK", "z", start, end)
    fresh.compare("ZRANGE", "z", 0, -1, "WITHSCORES")


SCORE_RANGES = [("-inf", "+inf"), ("(1", "3"), ("1", "(3"), ("(-inf", "(inf"), ("(", "5"),
                ("1e400", "5"), ("-1e400", "1"), ("3", "1"), ("3", "(3"), ("3", "3"),
                ("0x1", "2"), (" 1", "5"), ("-0", "-0"), ("(-0", "+inf"), ("-inf", "(0"),
                ("0", "0"), ("(9", "inf"), ("2.5", "2.50000000000000001")]
LIMITS = [None, (0, 1), (1, -1), (-1, 2), (0, 0), (10, 2), (2, 3), (1, 100), (0, I64_MAX)]


@pytest.mark.parametrize("low,high", SCORE_RANGES)
def test_ranges_by_score(fresh, low, high):
    fresh.setup("ZADD z 1 a 2 b 3 c -inf y inf x 9 d 0 z0 -0 z1 2.5 h")
    for limit in LIMITS:
        extra = [] if limit is None else ["LIMIT", limit[0], limit[1]]
        fresh.compare("ZRANGE", "z", low, high, "BYSCORE", *extra)
        fresh.compare("ZRANGEBYSCORE", "z", low, high, "WITHSCORES", *extra)
        fresh.compare("ZRANGE", "z", high, low, "BYSCORE", "REV", "WITHSCORES", *extra)
        fresh.compare("ZREVRANGEBYSCORE", "z", high, low, *extra)
        fresh.compare("ZRANGESTORE", "d", "z", low, high, "BYSCORE", *extra)
        fresh.compare("ZRANGE", "d", 0, -1, "WITHSCORES")
    fresh.compare("ZCOUNT", "z", low, high)
    fresh.compare("ZREMRANGEBYSCORE", "z", low, high)
    fresh.compare("ZRANGE", "z", 0, -1, "WITHSCORES")


LEX_RANGES = [("-", "+"), ("[aa", "(d"), ("(a", "[c"), ("[", "+"), ("(", "[b"), ("-", "["),
              ("+", "-"), ("+", "+"), ("-", "-"), ("[c", "(c"), ("[c", "[c"), ("[d", "[b"),
              ("[b", "[zz"), ("(e", "+"), ("-", "(a"), ("[bb", "(ca")]


@pytest.mark.parametrize("low,high", LEX_RANGES)
def test_ranges_by_member(fresh, low, high):
    fresh.setup("ZADD z 0 a 0 b 0 c 0 d 0 e 0 aa 0 ca")
    for limit in LIMITS:
        extra = [] if limit is None else ["LIMIT", limit[0], limit[1]]
        fresh.compare("ZRANGE", "z", low, high, "BYLEX", *extra)
        fresh.compare("ZRANGEBYLEX", "z", low, high, *extra)
        fresh.compare("ZRANGE", "z", high, low, "BYLEX", "REV", *extra)
        fresh.compare("ZREVRANGEBYLEX", "z", high, low, *extra)
        fresh.compare("ZRANGESTORE", "d", "z", high, low, "BYLEX", "REV", *extra)
        fresh.compare("ZRANGE", "d", 0, -1)
    fresh.compare("ZLEXCOUNT", "z", low, high)
    fresh.compare("ZREMRANGEBYLEX", "z", low, high)
    fresh.compare("ZRANGE", "z", 0, -1)


RANGE_ERROR_CASES = [
    case("ZADD z 1 a 2 b 3 c", "ZRANGE z 0 1 LIMIT 0 1", "ZREVRANGE z 0 1 LIMIT 0 1",
         "ZRANGE z 0 1 LIMIT 5 -1", "ZRANGE z 0 1 BYLEX WITHSCORES", "ZRANGE z 0 1 REV REV",
         "ZRANGE z 0 1 BYSCORE BYSCORE", "ZRANGE z 0 1 BYSCORE BYLEX", "ZRANGE z 0 1 LIMIT",
         "ZRANGE z 0 1 LIMIT 1", "ZRANGE z 0 1 LIMIT a b", "ZRANGE z 0 1 foo", "ZRANGE z a b",
         "ZRANGE z 01 2", "ZRANGE z 0 " + U64_OVER, "ZRANGE z a 1 BYSCORE",
         "ZRANGE z 1 nan BYSCORE", "ZRANGE z 1 (x BYSCORE", "ZRANGE z 1 ((1 BYSCORE",
         "ZRANGE z a b BYLEX", "ZRANGE z - +x BYLEX", ("ZRANGE", "z", "", "+", "BYLEX"),
         "ZRANGE z 0 1 withscores withscores", "ZRANGE z 0", id="zrange"),
    case("ZADD z 1 a", "ZREVRANGE z 0 1 REV", "ZREVRANGE z 0 1 BYSCORE", "ZRANGEBYSCORE z 0 1 BYSCORE",
         "ZRANGEBYSCORE z 0 1 REV", "ZRANGEBYSCORE z 0 1 LIMIT 0", "ZRANGEBYLEX z - + BYLEX",
         "ZRANGEBYLEX z - + WITHSCORES", "ZREVRANGEBYLEX z + - REV", "ZRANGEBYLEX z a b",
         "ZREVRANGEBYSCORE z a b", "ZRANGEBYSCORE z", "ZREVRANGE z 0", id="fixed-forms"),
    case("ZADD z 1 a 2 b 3 c", "ZRANGESTORE d z 0 1 WITHSCORES",
         "ZRANGESTORE d z 0 -1 LIMIT 0 1", "ZRANGESTORE d z 0 1 BYLEX", "ZRANGESTORE d",
         "ZRANGESTORE d z 0", "EXISTS d", id="zrangestore"),
    case("SET s v", "ZRANGE s 0 1 LIMIT a b", "ZRANGE s 0 1 foo", "ZRANGE s a b BYSCORE",
         "ZRANGE s 0 1", "ZRANGEBYSCORE s 0 1", "ZREVRANGEBYLEX s + -", "ZRANGESTORE d s 0 1",
         "ZREMRANGEBYRANK s 0 1", "ZREMRANGEBYSCORE s 0 1", "ZREMRANGEBYLEX s - +",
         "ZREMRANGEBYRANK s a b", id="wrongtype"),
    case("ZCOUNT z a 1", "ZCOUNT z 1", "ZLEXCOUNT z a +", "ZLEXCOUNT z -x +",
         "ZREMRANGEBYRANK z a b", "ZREMRANGEBYSCORE z a b", "ZREMRANGEBYLEX z a b",
         "ZREMRANGEBYRANK z 0", "ZCOUNT nokey 0 1", "ZLEXCOUNT nokey - +",
         "ZREMRANGEBYRANK nokey 0 1", "ZREMRANGEBYSCORE nokey 0 1", "ZREMRANGEBYLEX nokey - +",
         id="counts-and-removals"),
]


@pytest.mark.parametrize("script", RANGE_ERROR_CASES)
def test_range_errors(fresh, script):
    fresh.compare_many(script)


def test_zrangestore_replaces_the_destination(fresh):
    fresh.compare_many(["ZADD z 1 a 2 b 3 c", "ZRANGESTORE d nokey 0 -1", "ZADD d 1 x",
                        "ZRANGESTORE d nokey 0 -1", "EXISTS d", "SET s v", "EXPIRE s 100",
                        "ZRANGESTORE s z 0 0", "TYPE s", "TTL s", "ZRANGESTORE z z 1 1",
                        "ZRANGE z 0 -1 WITHSCORES", "ZRANGESTORE d z 5 10", "EXISTS d"])


def test_large_set_ranges(fresh):
    big_set(fresh)
    fresh.compare_many(["ZRANGE big (100 120 BYSCORE LIMIT 5 5 WITHSCORES",
                        "ZRANGE big 250 -inf BYSCORE REV LIMIT 3 4",
                        "ZRANGEBYLEX big [m123 (m130", "ZREVRANGEBYLEX big (m130 [m123 LIMIT 1 2",
                        "ZCOUNT big 10 (290", "ZLEXCOUNT big (m010 +",
                        "ZREMRANGEBYRANK big 100 199", "ZRANK big m200",
                        "ZREMRANGEBYRANK big -10 -1", "ZREVRANK big m289",
                        "ZREMRANGEBYSCORE big (50 250", "ZRANGE big 48 52 WITHSCORES",
                        "ZREMRANGEBYLEX big [m000 [m009", "ZCARD big",
                        "ZRANGESTORE d big 10 20", "ZRANGE d 0 -1 WITHSCORES"])


# ---- pops ----

POP_CASES = [
    case("ZPOPMIN nokey", "ZPOPMIN nokey 2", "ZPOPMAX nokey 0", "ZADD z 1 a 2 b 3 c 3 cc 4 d",
         "ZPOPMIN z", "ZPOPMAX z", "ZPOPMAX z 1", "ZPOPMIN z 0", "ZPOPMIN z 10", "EXISTS z",
         id="zpopmin-zpopmax"),
    case("ZADD z 1 a", "ZPOPMIN z -1", "ZPOPMIN z a", "ZPOPMIN z 1 2", "ZPOPMAX z " + U64_OVER,
         "ZPOPMIN z " + I64_MAX, "EXISTS z", "ZPOPMIN", "SET s v", "ZPOPMIN s", "ZPOPMAX s 0",
         "ZPOPMIN s -1", id="pop-errors"),
    case("ZMPOP 1 nokey MIN", "ZADD z 1 a 2 b 3 c", "ZMPOP 0 z MIN", "ZMPOP -1 z MIN",
         "ZMPOP a z MIN", "ZMPOP 1 z", "ZMPOP 1 z foo", "ZMPOP 2 z MIN",
         "ZMPOP " + I64_MAX + " z MIN", "ZMPOP 1 z MIN COUNT 0", "ZMPOP 1 z MIN COUNT -1",
         "ZMPOP 1 z MIN COUNT a", "ZMPOP 1 z MIN COUNT 1 COUNT 1", "ZMPOP 1 z MIN COUNT",
         "ZMPOP 1 z MIN COUNT a b", "ZMPOP 1 z MIN foo", "ZMPOP 2 nokey z MIN COUNT 2",
         "ZMPOP 1 z max count 5", "EXISTS z", id="zmpop"),
    case("SET s v", "ZADD z2 5 x 6 y", "ZMPOP 2 s z2 MIN", "ZMPOP 2 nokey s MIN",
         "ZMPOP 2 z2 s MAX", "ZMPOP 3 nokey nokey2 z2 min COUNT " + I64_MAX, "EXISTS z2",
         id="zmpop-wrongtype"),
]


@pytest.mark.parametrize("script", POP_CASES)
def test_pops(fresh, script):
    fresh.compare_many(script)


def test_writes_keep_the_ttl(fresh):
    fresh.setup("ZADD z 1 a 2 b 3 c 4 d 5 e", "EXPIRE z 1000")
    fresh.compare_many(["ZADD z 6 f", "ZINCRBY z 1 a", "ZREM z b", "ZPOPMIN z", "ZPOPMAX z 1",
                        "ZMPOP 1 z MIN", "ZREMRANGEBYRANK z 5 10", "ZRANGE z 0 -1 WITHSCORES"])
    fresh.compare_ttl("z")
    fresh.compare_many(["ZPOPMIN z 10", "EXISTS z", "ZADD z 1 new"])
    fresh.compare_ttl("z")  # a new set: -1 on both


def test_expired_sets_are_absent(fresh):
    fresh.setup("ZADD z 1 a 2 b", "PEXPIRE z 100", "ZADD y 1 a", "PEXPIRE y 100")
    time.sleep(0.3)
    fresh.compare_many(["ZCARD z", "ZSCORE z a", "ZMSCORE z a", "ZRANGE z 0 -1",
                        "ZRANGEBYSCORE z -inf +inf", "ZRANK z a", "ZCOUNT z -inf +inf",
                        "ZRANDMEMBER z", "ZRANDMEMBER z 3", "ZSCAN z 0", "ZUNION 1 z",
                        "ZINTERCARD 1 z", "ZPOPMIN z", "ZMPOP 1 z MIN", "ZADD z 5 new",
                        "ZRANGE z 0 -1 WITHSCORES", "ZUNIONSTORE d 2 y z",
                        "ZRANGESTORE d2 y 0 -1", "EXISTS y d2"])
    fresh.compare_ttl("z")


# ---- the algebra ----

ALGEBRA_CASES = [
    case("ZADD z1 1 a 2 b 3 c", "ZADD z2 10 b 20 c 30 d", "ZUNION 2 z1 z2",
         "ZUNION 2 z1 z2 WITHSCORES", "ZUNION 2 z1 z2 WEIGHTS 2 0.5 AGGREGATE MAX WITHSCORES",
         "ZUNION 2 z1 z2 AGGREGATE MIN WITHSCORES", "ZUNION 2 z1 z2 aggregate sum withscores",
         "ZINTER 2 z1 z2 WITHSCORES", "ZINTER 2 z1 z2 WEIGHTS 1 -1 WITHSCORES",
         "ZINTER 2 z1 z1 WITHSCORES", "ZINTER 2 z1 nokey", "ZINTER 3 z2 z1 z2 AGGREGATE MAX",
         "ZDIFF 2 z1 z2 WITHSCORES", "ZDIFF 1 z1", "ZDIFF 2 z1 z1", "ZDIFF 3 z1 nokey z1",
         "ZDIFF 2 nokey z1", "ZDIFF 3 z2 nokey z1 WITHSCORES",
         "ZUNION 2 z1 z2 withscores withscores", "ZUNION 1 z1 WEIGHTS 1 WEIGHTS 2 WITHSCORES",
         "ZUNION 1 z1 AGGREGATE MIN AGGREGATE MAX", "ZUNION 3 z1 nokey z2 WEIGHTS 1 2 3",
         id="zunion-zinter-zdiff"),
    case("ZADD z 1 a 2 b", "ZADD i inf p -inf q", "ZUNION 2 z i WEIGHTS 0 inf WITHSCORES",
         "ZUNION 2 i i WITHSCORES", "ZUNION 2 i i WEIGHTS 1 -1 WITHSCORES",
         "ZUNION 2 i i WEIGHTS 0 0 WITHSCORES", "ZUNION 3 i i i AGGREGATE MIN WITHSCORES",
         "ZINTER 2 i i WEIGHTS inf -inf WITHSCORES", "ZUNION 1 z WEIGHTS -0 WITHSCORES",
         "ZUNIONSTORE d 1 z WEIGHTS -0", "ZRANGE d 0 -1 WITHSCORES",
         "ZUNION 1 z WEIGHTS 1e308 AGGREGATE SUM WITHSCORES", id="infinities-nan-and-zero"),
    case("ZADD x 0.3 m", "ZADD y 0.2 m 0 n", "ZADD w 0.1 m 0 n 0 o", "ZUNION 3 w y x WITHSCORES",
         "ZUNION 3 x y w WITHSCORES", "ZINTER 3 w y x WITHSCORES", "ZUNIONSTORE d 3 w x y",
         "ZSCORE d m", id="summation-order"),
    case("ZADD z 1 a", "SET str v", "ZUNION 0 z", "ZUNION -1 z", "ZINTER 0 z", "ZDIFF 0 z",
         "ZUNIONSTORE d 0 z", "ZINTERSTORE d 0 z", "ZDIFFSTORE d 0 z", "ZINTERCARD 0 z",
         "ZUNION a z", "ZUNION 2 z", "ZUNION " + U64_OVER + " z", "ZUNION 1 z WEIGHTS a",
         "ZUNION 1 z WEIGHTS", "ZUNION 2 z z WEIGHTS 1", "ZUNION 1 z AGGREGATE foo",
         "ZUNION 1 z AGGREGATE", "ZUNION 1 z foo", "ZUNIONSTORE d 1 z WITHSCORES",
         "ZDIFF 1 z WEIGHTS 1", "ZDIFF 1 z AGGREGATE SUM", "ZDIFF 1 z WITHSCORES",
         "ZUNION 2 z str", "ZUNION 2 str z WEIGHTS a", "ZINTERSTORE d 2 z str",
         "ZDIFFSTORE d 2 str z", "ZUNIONSTORE d", "ZUNION 1", "EXISTS d", id="errors"),
    case("ZADD z1 1 a 2 b 3 c", "ZADD z2 10 b 20 c 30 d",
         "ZUNIONSTORE d 2 z1 z2 WEIGHTS 2 3 AGGREGATE MAX", "ZRANGE d 0 -1 WITHSCORES",
         "ZINTERSTORE d 2 z1 z2", "ZRANGE d 0 -1 WITHSCORES", "ZDIFFSTORE d 2 z2 z1",
         "ZRANGE d 0 -1 WITHSCORES", "ZINTERSTORE d 2 z1 nokey", "EXISTS d", "SET str v",
         "ZUNIONSTORE str 1 z1", "TYPE str", "ZUNIONSTORE z1 2 z1 z2",
         "ZRANGE z1 0 -1 WITHSCORES", "ZINTERSTORE z2 2 z1 z2 AGGREGATE MIN",
         "ZRANGE z2 0 -1 WITHSCORES", "ZDIFFSTORE z1 2 z1 z1", "EXISTS z1", id="stores"),
    case("ZADD z1 1 a 2 b 3 c 4 d", "ZADD z2 1 b 2 c 3 d 4 e", "ZINTERCARD 1 z1",
         "ZINTERCARD 2 z1 z2", "ZINTERCARD 2 z1 z2 LIMIT 2", "ZINTERCARD 2 z1 z2 LIMIT 0",
         "ZINTERCARD 2 z1 z2 LIMIT 10", "ZINTERCARD 2 z1 nokey", "ZINTERCARD 2 z1",
         "ZINTERCARD 1 z1 LIMIT -1", "ZINTERCARD 1 z1 LIMIT a", "ZINTERCARD 1 z1 WEIGHTS 1",
         "ZINTERCARD 1 z1 WITHSCORES", "ZINTERCARD 1 z1 LIMIT", "ZINTERCARD a z1",
         "ZINTERCARD 1 z1 LIMIT 1 LIMIT 2", "SET s v", "ZINTERCARD 2 z1 s LIMIT -1",
         id="zintercard"),
    case("ZADD z 1 a 2 b 3 c", "SADD st a x", "ZUNION 2 z st WITHSCORES",
         "ZINTER 2 z st WITHSCORES", "ZINTER 2 st st WEIGHTS 2 3 WITHSCORES",
         "ZDIFF 2 z st WITHSCORES", "ZDIFF 2 st z WITHSCORES", "ZINTERCARD 2 st z",
         "ZUNIONSTORE d 2 z st WEIGHTS 2 3 AGGREGATE MAX", "ZRANGE d 0 -1 WITHSCORES",
         "ZDIFFSTORE d 1 st", "TYPE d", "ZRANGE d 0 -1 WITHSCORES", "ZRANGE st 0 -1",
         "ZSCORE st a", id="sets-as-inputs"),
]


@pytest.mark.parametrize("script", ALGEBRA_CASES)
def test_algebra(fresh, script):
    fresh.compare_many(script)


def test_store_drops_the_ttl(fresh):
    fresh.setup("ZADD z 1 a", "ZADD d 5 x", "EXPIRE d 1000")
    fresh.compare("ZUNIONSTORE", "d", "1", "z")
    fresh.compare_ttl("d")
    fresh.setup("EXPIRE d 1000")
    fresh.compare("ZRANGESTORE", "d", "z", "0", "-1")
    fresh.compare_ttl("d")


def test_algebra_over_large_sets(fresh):
    big_set(fresh, "big")
    big_set(fresh, "half", 150)
    fresh.setup("SADD st m000 m100 m200 nonmember")
    fresh.compare_many(["ZUNION 3 big half st WEIGHTS 1 2 3 WITHSCORES",
                        "ZINTER 3 big half st WITHSCORES", "ZDIFF 2 big half",
                        "ZINTERCARD 2 big half LIMIT 77", "ZUNIONSTORE d 2 big st",
                        "ZRANGE d 295 -1 WITHSCORES", "ZINTERSTORE d 2 half big AGGREGATE MAX",
                        "ZRANGE d 0 4 WITHSCORES", "ZDIFFSTORE d 3 big half st", "ZCARD d"])


# ---- ZRANDMEMBER, ZSCAN ----

RANDOM_CASES = [
    case("ZRANDMEMBER nokey", "ZRANDMEMBER nokey 2", "ZRANDMEMBER nokey -2 WITHSCORES",
         "ZRANDMEMBER nokey 0", "ZRANDMEMBER nokey 5 foo", "ZRANDMEMBER nokey a",
         id="missing-key"),
    case("ZADD z 1 a 2 b 3 c", "ZRANDMEMBER z 0", "ZRANDMEMBER z 1 withscores foo",
         "ZRANDMEMBER z 1 WITHSCORE", "ZRANDMEMBER z " + I64_MIN + " WITHSCORES",
         "ZRANDMEMBER z " + I64_MIN, "ZRANDMEMBER z 4611686018427387904 WITHSCORES",
         "ZRANDMEMBER z -4611686018427387905 WITHSCORES", "ZRANDMEMBER z " + U64_OVER,
         "ZRANDMEMBER z 3", "ZRANDMEMBER z 4611686018427387903 WITHSCORES",
         "ZRANDMEMBER z " + I64_MAX, "ZRANDMEMBER", id="counts-and-errors"),
    case("ZADD z 7 only", "ZRANDMEMBER z", "ZRANDMEMBER z 1 WITHSCORES",
         "ZRANDMEMBER z -3 WITHSCORES", "ZRANDMEMBER z 2", id="one-member"),
    case("SET s v", "ZRANDMEMBER s", "ZRANDMEMBER s 0", "ZRANDMEMBER s 1 foo",
         "ZRANDMEMBER s a", id="wrongtype"),
]


@pytest.mark.parametrize("script", RANDOM_CASES)
def test_zrandmember(fresh, script):
    fresh.compare_many(script)


def _draws(reply, with_scores):
    value = parse(reply)
    assert isinstance(value, list), reply
    if with_scores:
        return list(zip(value[0::2], value[1::2]))
    return value


@pytest.mark.parametrize("size", [3, 60, 300])
@pytest.mark.parametrize("count", [1, 2, 10, 100, 299, -1, -5, -400])
def test_zrandmember_draws(fresh, size, count):
    """Random on both sides: the same number of members, all of the set, with their scores,
    distinct for a positive count."""
    big_set(fresh, "z", size)
    for with_scores in (False, True):
        arguments = ["ZRANDMEMBER", "z", count] + (["WITHSCORES"] if with_scores else [])
        expected = min(count, size) if count > 0 else -count
        for side in (fresh.redis, fresh.raftkv):
            draws = _draws(side(*arguments), with_scores)
            assert len(draws) == expected
            for draw in draws:
                member, score = draw if with_scores else (draw, None)
                number = int(member[1:])
                assert 0 <= number < size and member == b"m%03d" % number
                assert score is None or score == str(number).encode()
            if count > 0:
                assert len(set(draws)) == len(draws)


def test_zrandmember_limits_repetition(fresh):
    fresh.setup("ZADD z 1 a")
    assert fresh.raftkv("ZRANDMEMBER", "z", "-1048577") == (
        b"-ERR count would repeat more than 1048576 members\r\n")
    assert len(parse(fresh.raftkv("ZRANDMEMBER", "z", "-100000"))) == 100000


SCAN_OPTIONS = [[], ["COUNT", "1"], ["COUNT", "3"], ["COUNT", "1000"], ["MATCH", "m1*"],
                ["MATCH", "*", "COUNT", "7"], ["MATCH", "m00?", "COUNT", "50"],
                ["MATCH", "nothing*"], ["COUNT", "2", "MATCH", "m[12]5*"]]


@pytest.mark.parametrize("options", SCAN_OPTIONS)
@pytest.mark.parametrize("size", [5, 300])
def test_zscan_iterations(fresh, size, options):
    big_set(fresh, "z", size)
    fresh.compare_scan("ZSCAN", "z", *options, pairs=True)


ZSCAN_CASES = [
    case("ZSCAN nokey 0", "ZSCAN nokey 0 COUNT 0", "ZSCAN nokey 0 foo", "ZSCAN nokey abc",
         "ZADD z 1 a 2 b 3 c", "ZSCAN z abc", "ZSCAN z 18446744073709551616",
         ("ZSCAN", "z", " 0"), "ZSCAN z 0 COUNT 0", "ZSCAN z 0 COUNT a", "ZSCAN z 0 TYPE zset",
         "ZSCAN z 0 NOVALUES", "ZSCAN z 0 MATCH", "ZSCAN z 0 COUNT -1", "ZSCAN z",
         "SET s v", "ZSCAN s 0 COUNT 0", "ZSCAN s abc", id="errors"),
]


@pytest.mark.parametrize("script", ZSCAN_CASES)
def test_zscan(fresh, script):
    fresh.compare_many(script)


def test_zscan_cursor_syntax(fresh):
    """Cursors Redis reads with strtoul; raftkv's cursor is a hash, so only an iteration from
    0 (or its equivalents) is compared, and "-1", the largest, is past every member here."""
    fresh.setup("ZADD z 1 a 2 b 3 c")
    for cursor in ("0", "+0", "", "00"):
        fresh.compare_unordered("ZSCAN", "z", cursor)  # one call holds them all, in any order
    assert fresh.raftkv("ZSCAN", "z", "-1") == b"*2\r\n$1\r\n0\r\n*0\r\n"


# ---- a random walk ----

MEMBERS = ["a", "b", "c", "d", "e", "f", "aa", "ab", "ba", ""]
SCORES = ["0", "1", "-1", "2.5", "-0", "inf", "-inf", "3", "1e10", "0.1", "(1", "7"]
BOUNDS = ["-inf", "+inf", "0", "(0", "1", "(1", "2.5", "(3", "-1", "1e10", "(inf"]
LEX = ["-", "+", "[a", "(a", "[b", "(ba", "[c", "[ab", "(f", "["]


def _random_command(rng):
    member = lambda: rng.choice(MEMBERS)  # noqa: E731
    score = lambda: rng.choice(SCORES[:10])  # noqa: E731
    bound = lambda: rng.choice(BOUNDS)  # noqa: E731
    index = lambda: str(rng.randint(-8, 8))  # noqa: E731
    key = rng.choice(["z", "z", "y"])
    kind = rng.randrange(22)
    if kind < 4:
        flags = rng.sample(["NX", "XX", "GT", "LT", "CH"], rng.randint(0, 2))
        pairs = []
        for _ in range(rng.randint(1, 3)):
            pairs += [score(), member()]
        return ["ZADD", key] + flags + pairs
    if kind == 4:
        return ["ZADD", key] + rng.sample(["NX", "XX", "GT", "LT"], rng.randint(0, 1)) + [
            "INCR", score(), member()]
    if kind == 5:
        return ["ZINCRBY", key, score(), member()]
    if kind == 6:
        return ["ZREM", key, member(), member()]
    if kind == 7:
        return [rng.choice(["ZSCORE", "ZRANK", "ZREVRANK"]), key, member()]
    if kind == 8:
        return ["ZMSCORE", key, member(), member(), member()]
    if kind == 9:
        return ["ZRANGE", key, index(), index()] + rng.sample(["REV", "WITHSCORES"],
                                                              rng.randint(0, 2))
    if kind == 10:
        low, high = bound(), bound()
        limit = ["LIMIT", index(), index()] if rng.random() < 0.4 else []
        rev = rng.random() < 0.5
        return ["ZRANGE", key, high if rev else low, low if rev else high, "BYSCORE"] + (
            ["REV"] if rev else []) + limit + (["WITHSCORES"] if rng.random() < 0.5 else [])
    if kind == 11:
        return ["ZCOUNT", key, bound(), bound()]
    if kind == 12:
        return [rng.choice(["ZPOPMIN", "ZPOPMAX"]), key] + (
            [str(rng.randint(0, 3))] if rng.random() < 0.6 else [])
    if kind == 13:
        return ["ZMPOP", "2", key, rng.choice(["z", "y"]), rng.choice(["MIN", "MAX"]), "COUNT",
                str(rng.randint(1, 3))]
    if kind == 14:
        return ["ZREMRANGEBYRANK", key, index(), index()]
    if kind == 15:
        return ["ZREMRANGEBYSCORE", key, bound(), bound()]
    if kind == 16:
        op = rng.choice(["ZUNION", "ZINTER", "ZDIFF"])
        options = [] if op == "ZDIFF" else (
            ["WEIGHTS", rng.choice(["1", "2", "-1", "0", "inf"]), rng.choice(["1", "0.5"])]
            if rng.random() < 0.5 else []) + (
            ["AGGREGATE", rng.choice(["SUM", "MIN", "MAX"])] if rng.random() < 0.5 else [])
        return [op, "2", "z", "y"] + options + ["WITHSCORES"]
    if kind == 17:
        op = rng.choice(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"])
        return [op, rng.choice(["z", "y", "d"]), "2", "z", "y"]
    if kind == 18:
        return ["ZRANGESTORE", rng.choice(["y", "d"]), key, index(), index()]
    if kind == 19:
        return ["ZINTERCARD", "2", "z", "y", "LIMIT", str(rng.randint(0, 3))]
    if kind == 20:
        # Member ranges on "lex", where every score is 0, as Redis requires for them.
        low, high = rng.choice(LEX), rng.choice(LEX)
        return rng.choice([["ZRANGEBYLEX", "lex", low, high], ["ZREVRANGEBYLEX", "lex", high, low],
                           ["ZLEXCOUNT", "lex", low, high], ["ZREMRANGEBYLEX", "lex", low, high],
                           ["ZADD", "lex", "0", member()]])
    return ["ZCARD", key]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_walk(fresh, seed):
    rng = random.Random(seed)
    fresh.setup("ZADD lex 0 a 0 b 0 c 0 aa 0 ab 0 ba")
    for step in range(400):
        arguments = _random_command(rng)
        try:
            fresh.compare(*arguments)
        except pytest.fail.Exception as failure:
            raise AssertionError("seed %d, step %d: %s" % (seed, step, failure)) from None
        if step % 50 == 49:
            for key in ("z", "y", "d", "lex"):
                fresh.compare("ZRANGE", key, "0", "-1", "WITHSCORES")
