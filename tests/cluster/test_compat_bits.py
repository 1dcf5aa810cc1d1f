"""test_compat_bits.py — SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, INCRBYFLOAT and LCS side by
side with a real redis-server 7.0 (compat.py): the same commands on both, the raw replies
compared byte for byte.

Happy path: each test starts from FLUSHALL on both sides (the `fresh` fixture) and runs a short
script. BITCOUNT and BITPOS run over a grid of ranges (negative, reversed, out of the string,
at the int64 limits, in bytes and in bits) on strings chosen for their edges (all ones, all
zeros, one bit set, empty), then over seeded random strings and ranges; LCS over Redis's own
examples, ties between several longest subsequences, and random pairs, in every reply form.

Failure modes: a difference fails the test with the command and both replies; the random
cases name their seed in the test id, so a failure replays. Wrong-type cases use the first
collection command raftkv knows and skip, saying so, while it knows none.
"""

import random
import time

import pytest

from compat import compat, fresh, redis_server  # noqa: F401 -- pytest fixtures

I64_MAX = "9223372036854775807"
I64_MIN = "-9223372036854775808"


def case(*commands, id=None):  # noqa: A002 -- pytest's own name for it
    return pytest.param(list(commands), id=id)


def run(fresh, script):
    return fresh.compare_many(script)


# ---- SETBIT, GETBIT ----

@pytest.mark.parametrize("script", [
    case("SETBIT b 7 1", "SETBIT b 7 1", "GET b", "SETBIT b 0 1", "GET b", "SETBIT b 7 0",
         "GET b", id="bit-order"),
    case("SETBIT b 20 1", "GET b", "STRLEN b", "SETBIT b 23 0", "STRLEN b", id="growth"),
    case("SETBIT b 15 0", "GET b", "EXISTS b", id="clear-bit-creates"),
    case("SET b a", "SETBIT b 1 0", "GET b", "SETBIT b 100 1", "GET b", id="existing"),
    case("SET n 1", "GETBIT n 2", "GETBIT n 7", "GETBIT n 6", "SETBIT n 6 1", "GET n",
         id="integer-value"),
    case("SETBIT b 3 1", "GETBIT b 0", "GETBIT b 3", "GETBIT b 8", "GETBIT b 4294967295",
         "GETBIT nokey 0", id="getbit"),
    case("SETBIT b 4294967296 1", "SETBIT b -1 1", "SETBIT b x 1", "SETBIT b 01 1",
         "SETBIT b +1 1", "SETBIT b 1.0 1", ("SETBIT", "b", "", "1"), "SETBIT b " + I64_MAX + " 1",
         "EXISTS b", id="offset-errors"),
    case("SETBIT b 1 2", "SETBIT b 1 -1", "SETBIT b 1 x", "SETBIT b 1 01",
         ("SETBIT", "b", "1", ""), "SETBIT b x x", "EXISTS b", id="value-errors"),
    case("GETBIT b 4294967296", "GETBIT b -1", "GETBIT b x", id="getbit-errors"),
    case("SETBIT", "SETBIT b 1", "SETBIT b 1 1 1", "GETBIT b", "GETBIT b 1 1", id="arity"),
])
def test_setbit_getbit(fresh, script):
    run(fresh, script)


def test_setbit_keeps_the_ttl(fresh):
    fresh.setup("SET b a", "EXPIRE b 100", "SETBIT b 100 1")
    fresh.compare_ttl("b")
    fresh.setup("SETBIT b 100 1")
    fresh.compare_ttl("b")
    fresh.compare("GET", "b")


def test_setbit_far_offset(fresh):
    fresh.compare("SETBIT", "b", 8 * 1_000_000 + 5, "1")
    fresh.compare("STRLEN", "b")
    fresh.compare("BITCOUNT", "b")
    fresh.compare("BITPOS", "b", "1")
    fresh.compare("GETBIT", "b", 8 * 1_000_000 + 5)


def test_bit_commands_on_the_wrong_type(fresh):
    fresh.setup_collection("c")
    fresh.compare_many(["SETBIT c 1 1", "GETBIT c 1", "SETBIT c 1 2", "GETBIT c x",
                        "BITCOUNT c", "BITCOUNT c a b", "BITCOUNT c 0 1 foo", "BITPOS c 1",
                        "BITPOS c 5", "BITPOS c 1 x", "BITOP AND d c", "BITOP OR d a c",
                        "EXISTS d", "INCRBYFLOAT c 1", "INCRBYFLOAT c abc", "LCS c c",
                        "LCS a c", "LCS c a LEN"])
    fresh.setup("SET a abc")
    fresh.compare("BITOP", "AND", "c", "a")  # a target of another type is replaced
    fresh.compare("TYPE", "c")
    fresh.compare("GET", "c")


# ---- BITCOUNT ----

BIT_STRINGS = {
    "foobar": b"foobar",
    "ones": b"\xff\xf0\x00",
    "all-ones": b"\xff" * 20,
    "all-zeros": b"\x00" * 20,
    "one-bit": b"\x00" * 10 + b"\x01" + b"\x00" * 9,
    "empty": b"",
    "integer": b"12345",
}

RANGES = [
    ("0", "0"), ("1", "1"), ("0", "-1"), ("-2", "-1"), ("-1", "-3"), ("2", "1"),
    ("-100", "-50"), ("-100", "100"), ("0", "100"), ("5", "30"), ("7", "9"), ("3", "3"),
    ("19", "19"), ("20", "25"), ("-1", "-1"), ("-20", "-20"), ("-21", "-21"), ("10", "-10"),
    (I64_MAX, I64_MAX), (I64_MIN, "-1"), (I64_MIN, I64_MAX), (I64_MAX, I64_MIN),
    ("0", I64_MIN), ("159", "159"), ("160", "161"), ("-160", "-153"),
]


@pytest.mark.parametrize("unit", [None, "BYTE", "BIT", "bit"])
@pytest.mark.parametrize("name", sorted(BIT_STRINGS))
def test_bitcount_ranges(fresh, name, unit):
    fresh.setup(("SET", "s", BIT_STRINGS[name]))
    fresh.compare("BITCOUNT", "s")
    for start, end in RANGES:
        fresh.compare(*(["BITCOUNT", "s", start, end] + ([unit] if unit else [])))


@pytest.mark.parametrize("script", [
    case("SET s foobar", "BITCOUNT s 0", "BITCOUNT s 0 1 foo", "BITCOUNT s 0 1 bit x",
         "BITCOUNT s a b", "BITCOUNT s 1 a", "BITCOUNT s 1.5 2", "BITCOUNT s -1 -3 foo",
         "BITCOUNT s 1 3 foo", id="syntax"),
    case("BITCOUNT nokey", "BITCOUNT nokey 0", "BITCOUNT nokey a b", "BITCOUNT nokey 0 1 2 3",
         "BITCOUNT nokey 0 -1 bit", id="missing-key"),
    case("BITCOUNT", id="arity"),
])
def test_bitcount_order_of_checks(fresh, script):
    run(fresh, script)


# ---- BITPOS ----

BITPOS_RANGES = [(), ("0",), ("1",), ("-1",), ("100",), ("-100",), (I64_MAX,), (I64_MIN,)] + [
    (start, end) for start, end in RANGES] + [
    (start, end, unit) for start, end in RANGES for unit in ("BIT", "byte")]


@pytest.mark.parametrize("bit", ["0", "1"])
@pytest.mark.parametrize("name", sorted(BIT_STRINGS))
def test_bitpos_ranges(fresh, name, bit):
    fresh.setup(("SET", "s", BIT_STRINGS[name]))
    for arguments in BITPOS_RANGES:
        fresh.compare("BITPOS", "s", bit, *arguments)


@pytest.mark.parametrize("script", [
    case("SET s ab", "BITPOS s 2", "BITPOS s -1", "BITPOS s x", "BITPOS s 01",
         ("BITPOS", "s", ""), id="bit-errors"),
    case("BITPOS nokey 2", "BITPOS nokey 0 x", "BITPOS nokey 1 x", "BITPOS nokey 0",
         "BITPOS nokey 1", "BITPOS nokey 0 1 2 3 4", id="missing-key"),
    case("SET s ab", "BITPOS s 0 x 1", "BITPOS s 0 1 x", "BITPOS s 0 1 x foo",
         "BITPOS s 0 0 -1 foo", "BITPOS s 0 1 2 3 4", "BITPOS s 0 1.5", id="range-errors"),
    case("BITPOS", "BITPOS s", id="arity"),
])
def test_bitpos_order_of_checks(fresh, script):
    run(fresh, script)


def _random_bits(rng, length):
    kind = rng.randrange(4)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(length))
    fill = (0x00, 0xff, rng.randrange(256))[kind - 1]
    data = bytearray([fill] * length)
    for _ in range(rng.randrange(3)):
        if length:
            data[rng.randrange(length)] = rng.randrange(256)
    return bytes(data)


def _random_index(rng, length):
    return str(rng.choice([rng.randrange(-length - 3, length + 3),
                           rng.randrange(-8 * length - 10, 8 * length + 10), 0, -1]))


@pytest.mark.parametrize("seed", range(6))
def test_bitcount_and_bitpos_random(fresh, seed):
    rng = random.Random(seed)
    for _ in range(6):
        length = rng.choice([0, 1, 2, 7, 8, 9, 16, 17, 40, 100])
        fresh.setup(("SET", "s", _random_bits(rng, length)))
        for _ in range(25):
            start, end = _random_index(rng, length), _random_index(rng, length)
            unit = rng.choice([[], ["BIT"], ["BYTE"]])
            fresh.compare(*(["BITCOUNT", "s", start, end] + unit))
            bit = rng.choice(["0", "1"])
            form = rng.randrange(3)
            arguments = [[start], [start, end], [start, end] + (unit or ["BYTE"])][form]
            fresh.compare("BITPOS", "s", bit, *arguments)


# ---- BITOP ----

BITOP_SOURCES = [["a"], ["a", "b"], ["b", "a"], ["a", "nokey"], ["nokey", "a"], ["a", "a"],
                 ["a", "b", "c"], ["e"], ["e", "a"], ["nokey"], ["nokey", "nokey2"]]


@pytest.mark.parametrize("operation", ["AND", "OR", "XOR", "NOT", "and", "Or"])
@pytest.mark.parametrize("sources", BITOP_SOURCES, ids="-".join)
def test_bitop(fresh, operation, sources):
    fresh.setup("SET a abc", "SET b a", ("SET", "c", b"\xff\x00\x0f\xf0zz"), ("SET", "e", ""),
                "SET d old EX 100")
    fresh.compare("BITOP", operation, "d", *sources)
    fresh.compare("GET", "d")
    fresh.compare("EXISTS", "d")
    fresh.compare("TTL", "d")


@pytest.mark.parametrize("script", [
    case("SET a abc", "BITOP AND a a nokey", "GET a", id="target-among-sources"),
    case("SET a abc", "BITOP NOT d a b", "BITOP foo d a", "BITOP DIFF d a", "BITOP ONE d a",
         "EXISTS d", id="errors"),
    case("BITOP", "BITOP AND", "BITOP AND d", "BITOP NOT d", id="arity"),
    case("SET d x", "BITOP OR d nokey", "EXISTS d", id="empty-result-deletes"),
    case("SET a 1", "SET b 12", "BITOP XOR d a b", "GET d", id="integers"),
])
def test_bitop_cases(fresh, script):
    run(fresh, script)


def test_bitop_of_an_expired_source(fresh):
    fresh.setup("SET gone abcdef PX 100", "SET a abc")
    time.sleep(0.3)
    fresh.compare_many(["BITOP OR d gone a gone", "GET d", "BITOP AND d gone", "EXISTS d"])


def test_bitop_large_values(fresh):
    rng = random.Random(7)
    fresh.setup(("SET", "x", bytes(rng.randrange(256) for _ in range(100_000))),
                ("SET", "y", bytes(rng.randrange(256) for _ in range(70_000))))
    for operation in ("AND", "OR", "XOR"):
        fresh.compare("BITOP", operation, "d", "x", "y")
        fresh.compare("GET", "d")
    fresh.compare("BITOP", "NOT", "d", "y")
    fresh.compare("GET", "d")


# ---- INCRBYFLOAT ----

@pytest.mark.parametrize("script", [
    case("INCRBYFLOAT f 1.5", "INCRBYFLOAT f 0.1", "INCRBYFLOAT f -1.6", "INCRBYFLOAT f 1e3",
         "GET f", id="sums"),
    case("INCRBYFLOAT y 5.0e3", "INCRBYFLOAT z -0.0", "INCRBYFLOAT x 0x10",
         "INCRBYFLOAT w 1.23456789012345678901", "INCRBYFLOAT v 10.5e-5", "INCRBYFLOAT u .5",
         "INCRBYFLOAT t 5.", "INCRBYFLOAT s 1e-20", "INCRBYFLOAT r -1e-20", id="formatting"),
    case("SET i 10", "INCRBYFLOAT i 5", "SET j -3", "INCRBYFLOAT j 0.25",
         "SET k 1.5e2", "INCRBYFLOAT k 1", "SET l 0x1p3", "INCRBYFLOAT l 1", id="stored-numbers"),
    case("SET big 1e308", "INCRBYFLOAT big 1e308", "INCRBYFLOAT big -1e308",
         "SET m 1.7976931348623157e308", "INCRBYFLOAT m 1e4932", "INCRBYFLOAT m 1e4933",
         "INCRBYFLOAT n 1e4000", "GET n", id="long-double-range"),
    case("INCRBYFLOAT f abc", "INCRBYFLOAT f nan", "INCRBYFLOAT f 1x", ("INCRBYFLOAT", "f", ""),
         ("INCRBYFLOAT", "f", " 1"), ("INCRBYFLOAT", "f", "1 "), "INCRBYFLOAT f inf",
         "INCRBYFLOAT f -inf", "INCRBYFLOAT f infinity", "EXISTS f", id="increment-errors"),
    case("SET t hello", "INCRBYFLOAT t 1", ("SET", "u", " 1"), "INCRBYFLOAT u 1",
         "SET v nan", "INCRBYFLOAT v 1", ("SET", "w", ""), "INCRBYFLOAT w 1", "SET x 1e5000",
         "INCRBYFLOAT x 1", id="stored-errors"),
    case("INCRBYFLOAT", "INCRBYFLOAT f", "INCRBYFLOAT f 1 2", id="arity"),
])
def test_incrbyfloat(fresh, script):
    run(fresh, script)


def test_incrbyfloat_keeps_the_ttl(fresh):
    fresh.setup("SET x 3", "EXPIRE x 100", "INCRBYFLOAT x 0.5")
    fresh.compare_ttl("x")
    fresh.compare("GET", "x")


def test_incrbyfloat_random_walk(fresh):
    rng = random.Random(3)
    for _ in range(120):
        increment = rng.choice([
            "%.*f" % (rng.randrange(0, 8), rng.uniform(-1000, 1000)),
            "%de%d" % (rng.randrange(-99, 99), rng.randrange(-5, 5)),
            str(rng.randrange(-10**6, 10**6)),
            "%.17g" % rng.uniform(-1, 1)])
        fresh.compare("INCRBYFLOAT", "walk", increment)


# ---- LCS ----

@pytest.mark.parametrize("options", [[], ["LEN"], ["IDX"], ["IDX", "WITHMATCHLEN"],
                                     ["IDX", "MINMATCHLEN", "4"], ["idx", "minmatchlen", "4",
                                                                   "withmatchlen"],
                                     ["IDX", "MINMATCHLEN", "0"], ["IDX", "MINMATCHLEN", "-5"],
                                     ["IDX", "MINMATCHLEN", "2", "MINMATCHLEN", "1"],
                                     ["LEN", "WITHMATCHLEN"], ["WITHMATCHLEN"],
                                     ["MINMATCHLEN", "3"]], ids=" ".join)
@pytest.mark.parametrize("pair", [("ohmytext", "mynewtext"), ("ABCBDAB", "BDCABA"),
                                  ("BDCABA", "ABCBDAB"), ("same", "same"), ("abc", "xyz"),
                                  ("", "abc"), ("aaaa", "aa"), ("abcabcabc", "cba"),
                                  ("x", "x")], ids="/".join)
def test_lcs(fresh, pair, options):
    fresh.setup(("SET", "a", pair[0]), ("SET", "b", pair[1]))
    fresh.compare("LCS", "a", "b", *options)
    fresh.compare("LCS", "b", "a", *options)


@pytest.mark.parametrize("seed", range(8))
def test_lcs_random(fresh, seed):
    rng = random.Random(seed)
    alphabet = "ab" if seed % 2 else "abcdxyz"
    for _ in range(5):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        fresh.setup(("SET", "a", a), ("SET", "b", b))
        fresh.compare("LCS", "a", "b")
        fresh.compare("LCS", "a", "b", "IDX", "WITHMATCHLEN")
        fresh.compare("LCS", "a", "b", "IDX", "MINMATCHLEN", str(rng.randrange(0, 4)))


@pytest.mark.parametrize("script", [
    case("SET a x", "LCS a b LEN IDX", "LCS a b IDX LEN", "LCS a b MINMATCHLEN",
         "LCS a b MINMATCHLEN x", "LCS a b foo", "LCS a b LEN foo", id="errors"),
    case("LCS nokey nokey", "LCS nokey nokey IDX", "LCS nokey nokey LEN", id="missing-keys"),
    case("LCS", "LCS a", id="arity"),
    case("SET a abc", "SET b abc PX 100000", "LCS a b", id="ttl-irrelevant"),
])
def test_lcs_cases(fresh, script):
    run(fresh, script)


def test_lcs_memory_limit(fresh):
    # (12 001)^2 cells of 4 bytes exceed 512 MiB, Redis's proto-max-bulk-len and raftkv's
    # max_value_bytes: both refuse before allocating.
    fresh.setup(("SET", "a", "x" * 12_000), ("SET", "b", "y" * 12_000))
    fresh.compare("LCS", "a", "b")
    fresh.compare("LCS", "a", "b", "LEN")
    fresh.compare("LCS", "a", "b", "IDX")


def test_lcs_medium_strings(fresh):
    rng = random.Random(11)
    a = "".join(rng.choice("acgt") for _ in range(1500))
    b = "".join(rng.choice("acgt") for _ in range(1200))
    fresh.setup(("SET", "a", a), ("SET", "b", b))
    fresh.compare("LCS", "a", "b", "LEN")
    fresh.compare("LCS", "a", "b")
    fresh.compare("LCS", "a", "b", "IDX", "MINMATCHLEN", "6", "WITHMATCHLEN")
