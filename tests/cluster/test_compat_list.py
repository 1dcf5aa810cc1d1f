"""test_compat_list.py — raftkv's list commands side by side with a real redis-server 7.0
(compat.py): LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP and RPOP (with a count), LLEN, LRANGE, LINDEX,
LSET, LINSERT, LREM, LTRIM, LPOS, LMOVE, RPOPLPUSH and LMPOP, the raw replies compared byte for
byte. Edge cases first: negative and out-of-range indexes, count 0 and a missing key's null
array, LPOS's option errors and its rank of -2^63, rotations of a list onto itself, WRONGTYPE
on either side of a move, LMPOP's numkeys and count errors, arity errors, time to live kept
by pushes and pops, elements of a megabyte; then a seeded random walk of list commands.

Happy path: each test starts from FLUSHALL on both sides (the `fresh` fixture) and runs a short
script; every reply must be identical.

Failure modes: a difference fails the test with the command and both replies; the random walk
names its seed and step. A raftkv bug would be pinned with xfail(strict=True); there is none
known. The one deliberate difference is the key size (KNOWN_DIFFERENCES["key-size"]).
"""

import random
import time

import pytest

from compat import compat, fresh, redis_server  # noqa: F401 -- pytest fixtures

I64_MAX = "9223372036854775807"
I64_MIN = "-9223372036854775808"
U64_OVER = "9223372036854775808"


def case(*commands, id=None):  # noqa: A002 -- pytest's own name for it
    return pytest.param(list(commands), id=id)


def run(fresh, script):
    return fresh.compare_many(script)


# ---- pushes and pops ----

PUSH_POP_CASES = [
    case("RPUSH l a b c", "LPUSH l x y", "LRANGE l 0 -1", "LLEN l", "TYPE l", id="push-order"),
    case("LPUSHX l a", "RPUSHX l a b", "EXISTS l", "RPUSH l m", "LPUSHX l a b", "RPUSHX l y z",
         "LRANGE l 0 -1", id="pushx"),
    case(("RPUSH", "l", ""), ("LPUSH", "l", b"\x00\r\n\xff"), "LRANGE l 0 -1", "LLEN l",
         id="empty-and-binary-elements"),
    case("LPUSH", "LPUSH l", "RPUSH l", "LPUSHX l", "RPUSHX", "LLEN", "LLEN a b", id="push-arity"),
    case("LPOP l", "RPOP l", "RPUSH l a b c", "LPOP l", "RPOP l", "LPOP l", "EXISTS l",
         "LPOP l", id="pop-one"),
    case("RPUSH l a b c d e", "LPOP l 2", "RPOP l 2", "LPOP l 0", "RPOP l 0", "RPOP l 10",
         "EXISTS l", id="pop-count"),
    case("LPOP l 0", "RPOP l 0", "LPOP l 3", "RPOP l 1", id="pop-count-missing-key"),
    case("RPUSH l a b", "LPOP l -1", "LPOP l x", "RPOP l " + U64_OVER, "LPOP l 1.5",
         ("LPOP", "l", ""), "LPOP missing -1", "RPOP l " + I64_MAX, id="pop-count-errors"),
    case("RPUSH l a", "LPOP l 1 2", "RPOP l 1 2", "LPOP", "LRANGE l 0 -1", id="pop-arity"),
]


@pytest.mark.parametrize("script", PUSH_POP_CASES)
def test_push_pop(fresh, script):
    run(fresh, script)


def test_pushes_and_pops_keep_the_ttl(fresh):
    fresh.setup("RPUSH l a b c", "EXPIRE l 1000")
    fresh.compare_many(["RPUSH l d", "LPOP l", "RPOP l 1", "LPUSHX l z", "LSET l 0 q",
                        "LINSERT l BEFORE q p", "LREM l 0 p", "LTRIM l 0 0", "LRANGE l 0 -1"])
    fresh.compare_ttl("l")
    fresh.compare_many(["LPOP l", "EXISTS l", "RPUSH l new"])
    fresh.compare_ttl("l")  # a new list: -1 on both


# ---- LRANGE, LINDEX, LSET ----

INDEXES = [0, 1, 4, 5, 100, -1, -5, -6, -100, I64_MAX, I64_MIN]
RANGES = [(0, -1), (1, 2), (-2, -1), (-100, 1), (2, 100), (3, 2), (5, 10), (-1, -2), (0, -6),
          (0, 0), (-5, -5), (4, 4), (I64_MIN, I64_MAX), (I64_MAX, I64_MIN), (-1, I64_MAX)]


@pytest.mark.parametrize("start,end", RANGES)
def test_lrange_indexes(fresh, start, end):
    fresh.setup("RPUSH l a b c d e")
    fresh.compare("LRANGE", "l", start, end)
    fresh.compare("LRANGE", "missing", start, end)


@pytest.mark.parametrize("index", INDEXES)
def test_lindex_and_lset_indexes(fresh, index):
    fresh.setup("RPUSH l a b c d e")
    fresh.compare_many([("LINDEX", "l", index), ("LINDEX", "missing", index),
                        ("LSET", "l", index, "z"), ("LSET", "missing", index, "z"),
                        "LRANGE l 0 -1"])


@pytest.mark.parametrize("script", [
    case("RPUSH l a", "LRANGE l x 1", "LRANGE l 0 y", "LRANGE missing x 1",
         "LRANGE l 0 " + U64_OVER, "LRANGE l 0 1.5", ("LRANGE", "l", "", "1"), "LRANGE l 01 1",
         "LRANGE l +1 1", "LRANGE l", "LRANGE l 0 1 2", id="lrange-errors"),
    case("RPUSH l a", "LINDEX l x", "LINDEX missing x", "LINDEX l " + U64_OVER, "LINDEX l",
         id="lindex-errors"),
    case("RPUSH l a", "LSET l x v", "LSET missing x v", "LSET l " + U64_OVER + " v",
         "LSET l 0", ("LSET", "l", "0", ""), "LRANGE l 0 -1", id="lset-errors"),
])
def test_read_and_set_errors(fresh, script):
    run(fresh, script)


# ---- LINSERT, LREM, LTRIM ----

@pytest.mark.parametrize("script", [
    case("LINSERT l BEFORE a x", "EXISTS l", "RPUSH l a b c", "LINSERT l BEFORE zz x",
         "LINSERT l MIDDLE a x", "LINSERT missing MIDDLE a x", "LINSERT l before a h",
         "LINSERT l After c t", "LINSERT l AFTER a a2", "LINSERT l BEFORE c c0",
         "LRANGE l 0 -1", id="linsert"),
    case("RPUSH l p q p q p", "LINSERT l AFTER q x", "LINSERT l BEFORE p y", "LRANGE l 0 -1",
         id="linsert-first-pivot"),
    case("RPUSH l a", ("LINSERT", "l", "AFTER", "a", ""), ("LINSERT", "l", "BEFORE", "", "e"),
         "LRANGE l 0 -1", "LINSERT l BEFORE a", "LINSERT l x a b c", id="linsert-empty-arity"),
    case("LREM l 0 a", "LREM l x a", "RPUSH l a x a y a z a", "LREM l 2 a", "LRANGE l 0 -1",
         "LREM l -1 a", "LRANGE l 0 -1", "LREM l 0 nothing", "RPUSH l a a", "LREM l 0 a",
         "LRANGE l 0 -1", id="lrem"),
    case("RPUSH l m a m b c d e f g", "LREM l 0 m", "RPUSH l m g m", "LREM l -3 m",
         "LPUSH l m", "RPUSH l m", "LREM l 0 m", "LRANGE l 0 -1", id="lrem-either-side"),
    case("RPUSH l a b a c a", "LREM l " + I64_MIN + " a", "LRANGE l 0 -1",
         "LREM l " + I64_MAX + " b", "LREM l " + U64_OVER + " c", "LREM l 0 c", "EXISTS l",
         "LREM l 1", id="lrem-extremes"),
])
def test_linsert_lrem(fresh, script):
    run(fresh, script)


@pytest.mark.parametrize("start,end", RANGES + [(1, -2), (-1, -1), (0, -4), (4, 5)])
def test_ltrim_ranges(fresh, start, end):
    fresh.setup("RPUSH l a b c d e", "RPUSH big " + " ".join(str(i) for i in range(40)))
    for key in ("l", "big", "missing"):
        fresh.compare_many([("LTRIM", key, start, end), ("LRANGE", key, 0, -1), ("EXISTS", key),
                            ("RPUSH", key, "tail"), ("LPUSH", key, "head"),
                            ("LRANGE", key, 0, -1)])


def test_ltrim_errors(fresh):
    fresh.compare_many(["RPUSH l a", "LTRIM l x 1", "LTRIM missing x 1", "LTRIM l 0 y",
                        "LTRIM l 0", "LRANGE l 0 -1"])


# ---- LPOS ----

RANK_ZERO_SCRIPT = ["LPOS missing a RANK 0", "LPOS l a RANK 0", "LPOS l a RANK 0 foo"]


@pytest.mark.parametrize("options", [
    "", "RANK 2", "RANK -1", "RANK -3", "RANK 4", "COUNT 2", "COUNT 0", "RANK -2 COUNT 2",
    "RANK 2 COUNT 0", "RANK -3 COUNT 5", "MAXLEN 1", "COUNT 0 MAXLEN 3", "RANK -1 MAXLEN 1",
    "RANK 3 MAXLEN 4 COUNT 0", "rank 1 RANK 2", "count 1 COUNT 3", "RANK " + I64_MAX,
    "RANK -" + I64_MAX, "RANK " + I64_MIN, "RANK " + I64_MIN + " COUNT 1",
    "RANK " + I64_MIN + " COUNT 2 MAXLEN 4", "COUNT " + I64_MAX, "MAXLEN " + I64_MAX,
])
def test_lpos_options(fresh, options):
    fresh.setup("RPUSH l x a b a c a")
    for element in ("a", "x", "zz"):
        fresh.compare(*(["LPOS", "l", element] + options.split()))
    fresh.compare(*(["LPOS", "missing", "a"] + options.split()))


def test_lpos_errors(fresh):
    fresh.setup("RPUSH l a", "SET s x")
    fresh.compare_many(RANK_ZERO_SCRIPT + [
        "LPOS s a RANK 0", "LPOS s a", "LPOS s a COUNT 0", "LPOS missing a RANK x",
        "LPOS l a RANK " + U64_OVER, "LPOS missing a COUNT -1", "LPOS missing a COUNT x",
        "LPOS missing a MAXLEN -1", "LPOS missing a MAXLEN x", "LPOS missing a foo",
        "LPOS missing a RANK", "LPOS l a COUNT", "LPOS missing a foo RANK 0", "LPOS l",
        "LPOS missing a COUNT " + U64_OVER])


# ---- LMOVE, RPOPLPUSH, LMPOP ----

SIDES = ["LEFT", "RIGHT"]


@pytest.mark.parametrize("source_side", SIDES)
@pytest.mark.parametrize("destination_side", SIDES)
def test_lmove_sides(fresh, source_side, destination_side):
    fresh.setup("RPUSH src a b c", "RPUSH dst x", "RPUSH one z")
    fresh.compare_many([("LMOVE", "src", "dst", source_side, destination_side),
                        "LRANGE src 0 -1", "LRANGE dst 0 -1",
                        ("LMOVE", "src", "src", source_side, destination_side),
                        "LRANGE src 0 -1",
                        ("LMOVE", "one", "one", source_side, destination_side),
                        "LRANGE one 0 -1",
                        ("LMOVE", "one", "new", source_side.lower(), destination_side.lower()),
                        "EXISTS one", "LRANGE new 0 -1",
                        ("LMOVE", "missing", "dst", source_side, destination_side),
                        "EXISTS missing"])


@pytest.mark.parametrize("script", [
    case("RPUSH src a b c", "RPOPLPUSH src dst", "RPOPLPUSH src dst", "RPOPLPUSH src src",
         "LRANGE src 0 -1", "RPOPLPUSH src dst", "RPOPLPUSH src dst", "EXISTS src",
         "LRANGE dst 0 -1", "RPOPLPUSH dst dst", "LRANGE dst 0 -1", id="rpoplpush"),
    case("SET s x", "RPUSH l a", "LMOVE l s LEFT RIGHT", "LMOVE s l LEFT RIGHT",
         "RPOPLPUSH l s", "RPOPLPUSH s l", "LMOVE missing s LEFT RIGHT", "RPOPLPUSH missing s",
         "LMOVE s s LEFT LEFT", "LRANGE l 0 -1", "GET s", id="move-wrong-types"),
    case("RPUSH l a", "LMOVE l d UP LEFT", "LMOVE l d LEFT DOWN", "LMOVE missing d UP LEFT",
         "LMOVE l d LEFT", "RPOPLPUSH l", "RPOPLPUSH l d x", "LRANGE l 0 -1",
         id="move-syntax-arity"),
])
def test_lmove_rpoplpush(fresh, script):
    run(fresh, script)


@pytest.mark.parametrize("script", [
    case("LMPOP 1 missing LEFT", "RPUSH b 1 2 3", "RPUSH c x", "LMPOP 3 a b c LEFT",
         "LMPOP 3 a b c RIGHT COUNT 5", "EXISTS b", "LMPOP 2 b c left count 1",
         "LMPOP 2 b c LEFT", "LMPOP 2 b c RIGHT COUNT 3", id="lmpop"),
    case("SET s x", "RPUSH l a", "LMPOP 2 missing s LEFT", "LMPOP 2 s l LEFT",
         "LMPOP 2 l s LEFT", "LMPOP 2 l s LEFT", id="lmpop-wrong-types"),
    case("RPUSH l a", "LMPOP 0 l LEFT", "LMPOP -1 l LEFT", "LMPOP x l LEFT",
         "LMPOP " + U64_OVER + " l LEFT", "LMPOP 1 l", "LMPOP 2 l LEFT",
         "LMPOP " + I64_MAX + " l LEFT", "LMPOP 1 l MIDDLE", "LMPOP 1 l LEFT COUNT 0",
         "LMPOP 1 l LEFT COUNT -1", "LMPOP 1 l LEFT COUNT x", "LMPOP 1 l LEFT COUNT 1 COUNT 1",
         "LMPOP 1 l LEFT COUNT", "LMPOP 1 l LEFT foo", "LMPOP 1 l LEFT COUNT " + U64_OVER,
         "LMPOP 1 l RIGHT COUNT " + I64_MAX, "LLEN l", id="lmpop-errors"),
    case("RPUSH l a b", "LMPOP 2 l l LEFT", "LMPOP 2 l l LEFT", "LMPOP 2 l l LEFT",
         id="lmpop-same-key-twice"),
])
def test_lmpop(fresh, script):
    run(fresh, script)


# ---- types, expiry, sizes ----

WRONG_TYPE_COMMANDS = [
    "LPUSH s a", "RPUSH s a", "LPUSHX s a", "RPUSHX s a", "LPOP s", "RPOP s", "LPOP s 0",
    "RPOP s 2", "LLEN s", "LRANGE s 0 -1", "LINDEX s 0", "LINDEX s x", "LSET s 0 v",
    "LSET s x v", "LINSERT s BEFORE a b", "LREM s 0 a", "LTRIM s 0 1", "LPOS s a",
    "LPOS s a COUNT 0", "LMOVE s s LEFT LEFT", "RPOPLPUSH s s", "LMPOP 1 s RIGHT",
    # argument errors Redis finds before it looks the key up
    "LRANGE s x 1", "LTRIM s x 1", "LREM s x a", "LPOP s -1", "LINSERT s MIDDLE a b",
    "LMOVE s s UP LEFT",
]


def test_wrong_type(fresh):
    fresh.setup("SET s x")
    fresh.compare_many(WRONG_TYPE_COMMANDS + ["GET s"])


def test_list_type_for_string_commands(fresh):
    fresh.setup("RPUSH l a")
    fresh.compare_many(["GET l", "APPEND l x", "INCR l", "STRLEN l", "TYPE l", "EXISTS l",
                        "DEL l", "EXISTS l"])


def test_expired_list(fresh):
    fresh.setup("RPUSH l a b c", "PEXPIRE l 100", "RPUSH d q", "PEXPIRE d 100")
    time.sleep(0.3)
    fresh.compare_many(["LLEN l", "LRANGE l 0 -1", "LINDEX l 0", "LPOS l b", "LSET l 0 x",
                        "LPOP l", "LPOP l 2", "LMOVE l d LEFT LEFT", "LINSERT l BEFORE b x",
                        "LPUSHX l x", "LPUSH l z", "LMOVE l d LEFT LEFT", "LRANGE d 0 -1",
                        "EXISTS l"])
    fresh.compare_ttl("d")


def test_large_elements(fresh):
    big = b"a" * 1000000 + b"z"
    other = b"b" * 2000000
    fresh.compare_many([("RPUSH", "l", big, "x", "y"), ("LINSERT", "l", "AFTER", "x", other),
                        ("LINDEX", "l", 0), ("LRANGE", "l", 0, -1), ("LSET", "l", -1, big),
                        ("LREM", "l", 1, "x"), ("LMOVE", "l", "l", "LEFT", "RIGHT"),
                        ("LPOS", "l", big, "COUNT", 0), ("LMOVE", "l", "m", "RIGHT", "LEFT"),
                        ("RPOP", "l", 5), ("LRANGE", "m", 0, -1)])


def test_oversized_key_is_a_known_difference(fresh):
    key = b"k" * 504
    difference = fresh.compare("RPUSH", key, "a", known_difference="key-size")
    assert difference.redis == b":1\r\n"
    assert difference.raftkv == b"-ERR key exceeds the maximum length of 503 bytes\r\n"
    fresh.compare("RPUSH", b"k" * 503, "a")  # the longest key raftkv stores
    fresh.compare("LRANGE", b"k" * 503, 0, -1)
    difference = fresh.compare("RPUSHX", key, "a", known_difference="key-size")
    assert difference.raftkv == b":0\r\n"  # no key this long can exist in raftkv


# ---- a random walk ----

def random_command(generator, sizes):
    """One list command over keys p and q with one-letter elements, and arguments around the
    lists' current lengths (as far as the walk knows them)."""
    key = generator.choice("pq")
    other = generator.choice("pq")
    length = sizes.get(key, 0)
    index = generator.randint(-length - 3, length + 3)
    end = generator.randint(-length - 3, length + 3)
    element = generator.choice("abc")
    side, side2 = generator.choice(SIDES), generator.choice(SIDES)
    return generator.choice([
        ("LPUSH", key, element, generator.choice("abc")),
        ("RPUSH", key, element),
        ("LPUSHX", key, element),
        ("LPOP", key),
        ("RPOP", key, generator.randint(0, 3)),
        ("LINSERT", key, generator.choice(["BEFORE", "AFTER"]), generator.choice("abcd"), "x"),
        ("LREM", key, generator.randint(-2, 2), element),
        ("LTRIM", key, index, end),
        ("LSET", key, index, "y"),
        ("LINDEX", key, index),
        ("LRANGE", key, index, end),
        ("LPOS", key, element, "RANK", generator.choice([1, 2, -1, -2]), "COUNT",
         generator.randint(0, 2)),
        ("LMOVE", key, other, side, side2),
        ("LMPOP", 2, key, other, side, "COUNT", generator.randint(1, 3)),
    ])


def test_random_walk(fresh):
    seed = 7001
    generator = random.Random(seed)
    sizes = {}
    for step in range(300):
        command = random_command(generator, sizes)
        try:
            fresh.compare(*command)
        except AssertionError as error:
            raise AssertionError("seed %d step %d: %s" % (seed, step, error)) from None
        for key in "pq":
            reply = fresh.compare("LLEN", key)
            sizes[key] = int(reply[1:-2])
    fresh.compare("LRANGE", "p", 0, -1)
    fresh.compare("LRANGE", "q", 0, -1)
