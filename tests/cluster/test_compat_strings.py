"""test_compat_strings.py — raftkv's string and keyspace commands side by side with a real
redis-server 7.0 (compat.py): the same commands on both, the raw replies compared byte for
byte. Edge cases first: option combinations and their syntax errors, integer overflow and
non-integers, negative and out-of-range indexes, glob patterns, SCAN cursors, arity errors.

Happy path: each test starts from FLUSHALL on both sides (the `fresh` fixture) and runs a short
script; every reply of the script must be identical (KEYS and SCAN, whose order Redis leaves
arbitrary, are compared as sets).

Failure modes: a difference fails the test with the command and both replies. A difference
that is a raftkv bug is marked xfail(strict=True) with both replies in its reason, so it
documents the bug and fails once the bug is fixed. Wrong-type cases need a key of another
type: they use the first collection command raftkv knows (HSET, RPUSH, SADD, ZADD) and skip,
saying so, while raftkv has none.
"""

import pytest

from compat import compat, fresh, parse, redis_server  # noqa: F401 -- pytest fixtures

I64_MAX = "9223372036854775807"
I64_MIN = "-9223372036854775808"


def bug(reason):
    """A case where raftkv differs from Redis 7.0: expected to fail until raftkv is fixed."""
    return pytest.mark.xfail(strict=True, reason="raftkv bug: " + reason)


def case(*commands, marks=(), id=None):  # noqa: A002 -- pytest's own name for it
    return pytest.param(list(commands), marks=marks, id=id)


def run(fresh, script):
    return fresh.compare_many(script)


# ---- SET and its options ----

SET_CASES = [
    case("SET k v", "GET k", id="plain"),
    case("SET k v", "SET k w", "GET k", id="overwrite"),
    case("SET k v NX", "SET k w NX", "GET k", id="nx"),
    case("SET k v XX", "EXISTS k", "SET k v", "SET k w XX", "GET k", id="xx"),
    case("SET k v NX XX", "SET k v XX NX", "SET k v nx xx", "EXISTS k", id="nx-xx-conflict"),
    case("SET k v GET", "SET k w GET", "GET k", id="get"),
    case("SET k v NX GET", "SET k w NX GET", "GET k", id="nx-get"),
    case("SET k v XX GET", "SET k v", "SET k w XX GET", "GET k", id="xx-get"),
    case("SET k v GET NX", "SET k w GET XX", "GET k", id="get-first"),
    case("SET k v NX NX", "SET k w XX XX", "SET k x GET GET", "SET k y KEEPTTL KEEPTTL",
         "GET k", id="repeated-flags"),
    case("SET k v EX 100", "TTL k", "SET k w KEEPTTL", "TTL k", "GET k", id="keepttl"),
    case("SET k v EX 100", "SET k w", "TTL k", id="set-clears-ttl"),
    case("SET k v EX 100", "SET k w GET KEEPTTL XX", "TTL k", id="get-keepttl-xx"),
    case("SET k v ex 100 nx", "SET k v Px 100000 xX", "TTL k", id="case-insensitive"),
    case("SET k v EX 10 PX 100", "SET k v EX 10 EXAT 20", "SET k v PX 10 PXAT 10",
         "SET k v EXAT 10 PX 10", "SET k v EX 10 KEEPTTL", "SET k v KEEPTTL EX 10",
         "SET k v PX 10 KEEPTTL", "EXISTS k", id="two-expiries"),
    case("SET k v EX", "SET k v PX", "SET k v EXAT", "SET k v PXAT", "SET k v FOO",
         "SET k v PERSIST", "SET k v NX XX GET", "SET k v GET EX 0", "EXISTS k",
         id="syntax-errors"),
    case("SET k v EX 0", "SET k v EX -1", "SET k v PX 0", "SET k v PX -1", "SET k v EXAT 0",
         "SET k v EXAT -5", "SET k v PXAT 0", "SET k v PXAT -1", "EXISTS k",
         id="invalid-expire"),
    case("SET k v EX abc", "SET k v EX 1.5", ("SET", "k", "v", "EX", ""), "SET k v EX 01",
         ("SET", "k", "v", "EX", " 1"), "SET k v EX +5", "SET k v EX 1e3", "SET k v EX 0x10",
         "EXISTS k", id="non-integer-expire"),
    case("SET k v EX " + I64_MAX, "SET k v EX 9223372036854775", "SET k v EX 9223372036854776",
         "SET k v EX " + I64_MIN, "SET k v PX " + I64_MAX, "SET k v PX 9223372036854775806",
         "SET k v PX 9223372036854000000", "SET k v EXAT 9223372036854776",
         "SET k v EXAT " + I64_MAX, "EXISTS k", id="expire-overflow"),
    case("SET k v EXAT 9223372036854775", "TTL k", "SET k v PXAT " + I64_MAX, "GET k",
         "PEXPIRETIME k", id="far-future"),
    case("SET k v PX 9223370000000000000", "EXISTS k", id="px-near-limit"),
    case("SET", "SET k", "get", id="arity"),
    case(("SET", "k", ""), "GET k", "STRLEN k", id="empty-value"),
    case(("SET", "", "v"), ("GET", ""), ("EXISTS", ""), ("TYPE", ""), id="empty-key"),
]


@pytest.mark.parametrize("script", SET_CASES)
def test_set(fresh, script):
    run(fresh, script)


# Redis 7.0 lets EX, PX, EXAT and PXAT repeat: the last one wins, and only its value is
# parsed (the earlier ones may be anything). raftkv answered "-ERR syntax error" until 50dc289.
@pytest.mark.parametrize("script", [
    case("SET k v EX 10 EX 100", "TTL k", id="ex-twice"),
    case("SET k v PX 10000 PX 100000", "TTL k", id="px-twice"),
    case("SET k v EXAT 9999999999 EXAT 8888888888", "EXPIRETIME k", id="exat-twice"),
    case("SET k v PXAT 9999999999000 PXAT 8888888888000", "PEXPIRETIME k", id="pxat-twice"),
    case("SET k v EX abc EX 100", "TTL k", id="only-last-parsed"),
    case("SET k v EX 100 EX 0", "EXISTS k", id="last-invalid"),
    case("SET k v EX 100 EX abc", "EXISTS k", id="last-not-integer"),
])
def test_set_repeated_expiry_last_wins(fresh, script):
    run(fresh, script)


def test_set_ifeq_is_a_known_extension(fresh):
    difference = fresh.compare("SET", "k", "v", "IFEQ", "x", known_difference="set-ifeq")
    assert difference.redis == b"-ERR syntax error\r\n"
    assert difference.raftkv == b"$-1\r\n"  # raftkv: no key, no match, nothing set
    fresh.compare("EXISTS", "k")


def test_oversized_key_is_a_known_difference(fresh):
    key = b"k" * 504
    difference = fresh.compare("SET", key, "v", known_difference="key-size")
    assert difference.redis == b"+OK\r\n"
    assert difference.raftkv == b"-ERR key exceeds the maximum length of 503 bytes\r\n"
    fresh.compare("SET", b"k" * 503, "v")  # the longest key raftkv stores
    fresh.compare("GET", b"k" * 503)


# ---- SETNX, GETSET, GETDEL ----

@pytest.mark.parametrize("script", [
    case("SETNX k 1", "SETNX k 2", "GET k", id="setnx"),
    case(("SETNX", "k", ""), "GET k", "SETNX k x", id="setnx-empty"),
    case("SET k v EX 100", "SETNX k w", "TTL k", id="setnx-keeps-ttl"),
    case("SETNX", "SETNX k", "SETNX k a b", id="setnx-arity"),
    case("GETSET k 1", "GETSET k 2", "GET k", id="getset"),
    case("SET k v EX 100", "GETSET k w", "TTL k", id="getset-clears-ttl"),
    case("GETSET", "GETSET k", "GETSET k a b", id="getset-arity"),
    case("GETDEL k", "SET k v", "GETDEL k", "GETDEL k", "EXISTS k", id="getdel"),
    case("GETDEL", "GETDEL a b", id="getdel-arity"),
])
def test_setnx_getset_getdel(fresh, script):
    run(fresh, script)


# ---- MGET, MSET, MSETNX ----

@pytest.mark.parametrize("script", [
    case("MGET a", "MSET a 1 b 2", "MGET a x b a", id="mget"),
    case("MSET a 1 a 2", "GET a", id="mset-same-key"),
    case("SET a v EX 100", "MSET a 1", "TTL a", id="mset-clears-ttl"),
    case("MSET", "MSET a", "MSET a 1 b", "MGET", "EXISTS a", id="mset-arity"),
    case("MSETNX a 1 b 2", "MSETNX b 3 c 4", "MGET a b c", id="msetnx-all-or-nothing"),
    case("MSETNX e 1 e 2", "GET e", id="msetnx-same-key"),
    case("MSETNX", "MSETNX a", "MSETNX a 1 b", "EXISTS a", id="msetnx-arity"),
])
def test_mget_mset(fresh, script):
    run(fresh, script)


def test_many_keys_in_one_command(fresh):
    keys = ["key:%d" % i for i in range(1000)]
    fresh.compare_many([["MSET"] + [item for key in keys for item in (key, key[::-1])],
                        ["MGET"] + keys + ["missing"], ["EXISTS"] + keys + keys[:10],
                        ["MSETNX"] + [item for key in keys[:500] for item in (key, "x")],
                        ["DEL"] + keys[::2] + ["missing"], "DBSIZE", ["UNLINK"] + keys,
                        "DBSIZE"])


# ---- DEL, UNLINK, EXISTS ----

@pytest.mark.parametrize("script", [
    case("DEL a", "MSET a 1 b 2 c 3", "DEL a a b x", "EXISTS a b c", id="del-counts-once"),
    case("MSET a 1 b 2", "UNLINK b b x", "UNLINK a", "EXISTS a b", id="unlink"),
    case("MSET a 1 b 2", "EXISTS a a b x", "EXISTS x", id="exists-counts-repeats"),
    case("DEL", "UNLINK", "EXISTS", id="arity"),
])
def test_del_unlink_exists(fresh, script):
    run(fresh, script)


# ---- INCR, INCRBY, DECR, DECRBY ----

NOT_INTEGERS = ["abc", "", " 1", "1 ", "01", "-01", "00", "-0", "+1", "1.0", "1e3", "-", "  ",
                "1\x00", "9223372036854775808", "-9223372036854775809",
                "12345678901234567890123", "0x10"]


@pytest.mark.parametrize("value", NOT_INTEGERS, ids=repr)
def test_incr_of_a_stored_non_integer(fresh, value):
    fresh.setup(("SET", "k", value))
    fresh.compare_many(["INCR k", "DECR k", "INCRBY k 1", "DECRBY k 1", "GET k"])


@pytest.mark.parametrize("increment", NOT_INTEGERS, ids=repr)
def test_incrby_with_a_non_integer_increment(fresh, increment):
    fresh.setup("SET k 5")
    fresh.compare_many([("INCRBY", "k", increment), ("DECRBY", "k", increment),
                        ("INCRBY", "missing", increment), "GET k", "EXISTS missing"])


@pytest.mark.parametrize("script", [
    case("INCR k", "INCR k", "INCRBY k 10", "INCRBY k -20", "DECR k", "DECRBY k 5",
         "DECRBY k -5", "GET k", id="arithmetic"),
    case("SET k " + I64_MAX, "INCR k", "INCRBY k 0", "INCRBY k 1", "DECR k", "GET k",
         id="max"),
    case("SET k " + I64_MIN, "DECR k", "DECRBY k 1", "INCRBY k -1", "INCR k", "GET k",
         id="min"),
    case("SET k 1", "INCRBY k " + I64_MAX, "GET k", id="incrby-overflow"),
    case("SET k -1", "DECRBY k " + I64_MAX, "DECRBY k 1", "GET k", id="decrby-to-min"),
    case("DECRBY k " + I64_MIN, "DECRBY k 1", "EXISTS k", id="decrby-min-refused"),
    case("SET k " + I64_MIN, "DECRBY k " + I64_MIN, "GET k", id="decrby-min-of-min"),
    case("INCRBY k " + I64_MIN, "GET k", "INCRBY j " + I64_MAX, "DECRBY i -" + I64_MAX,
         "MGET i j k", id="extreme-increments"),
    case("SET k 9223372036854775806", "INCRBY k 1", "INCRBY k 1", "GET k", id="step-to-max"),
    case("SET k 1", "APPEND k 0", "INCR k", "SETRANGE k 0 9", "INCR k", "GET k",
         id="after-append-and-setrange"),
    case("SET k 10 EX 100", "INCR k", "TTL k", id="keeps-ttl"),
    case("SET k 0", "INCRBY k -0", "GET k", id="zero"),
    case("INCR", "INCR a b", "INCRBY a", "INCRBY a 1 2", "DECR", "DECRBY a", id="arity"),
])
def test_incr_decr(fresh, script):
    run(fresh, script)


# ---- APPEND, STRLEN ----

@pytest.mark.parametrize("script", [
    case("APPEND k x", "APPEND k yz", ("APPEND", "k", ""), "GET k", "STRLEN k", id="append"),
    case(("APPEND", "k", ""), "EXISTS k", "GET k", "STRLEN k", id="append-empty-creates"),
    case("SET k 10", "APPEND k 5", "GET k", "STRLEN k", id="append-to-integer"),
    case("SET k v EX 100", "APPEND k w", "TTL k", id="append-keeps-ttl"),
    case("STRLEN k", "SET k 123", "STRLEN k", "SET k -1", "STRLEN k", id="strlen"),
    case("APPEND", "APPEND k", "APPEND k a b", "STRLEN", "STRLEN a b", id="arity"),
])
def test_append_strlen(fresh, script):
    run(fresh, script)


def test_binary_keys_and_values(fresh):
    key = b"k\x00\r\n\xff"
    fresh.compare_many([("SET", key, b"v\x00\r\nw"), ("GET", key), ("APPEND", key, b"\xff\x00"),
                        ("GETRANGE", key, 1, 3), ("STRLEN", key), ("SETRANGE", key, 2, b"\r\n"),
                        ("GET", key), ("MGET", key, b"k"), ("EXISTS", key), ("TYPE", key)])
    fresh.compare_unordered("KEYS", b"k\x00*")
    fresh.compare_unordered("KEYS", b"k?\r\n?")


def test_large_values(fresh):
    fresh.compare_many([("SET", "k", b"a" * 1000000), "STRLEN k", ("APPEND", "k", b"b" * 1000000),
                        "GETRANGE k 999998 1000001", "SETRANGE k 3000000 z", "STRLEN k",
                        "GETRANGE k 2999998 -1", "GETRANGE k -1000000000 2"])
    fresh.compare("GET", "k")


# ---- GETRANGE, SUBSTR ----

RANGES = [(0, 4), (-5, -1), (0, -1), (0, 100), (100, 200), (-100, -50), (-100, 3), (5, 3),
          (-1, -5), (10, 10), (11, 11), (-1, 0), (0, 0), (-11, -11), (-12, -12),
          (I64_MAX, I64_MAX), (I64_MIN, I64_MAX), (I64_MIN, I64_MIN), (3, I64_MIN)]


@pytest.mark.parametrize("start,end", RANGES)
def test_getrange_indexes(fresh, start, end):
    fresh.setup(("SET", "s", "Hello World"), ("SET", "e", ""), "SET i 12345")
    for key in ("s", "e", "i", "missing"):
        fresh.compare("GETRANGE", key, start, end)
        fresh.compare("SUBSTR", key, start, end)


@pytest.mark.parametrize("script", [
    case("SET s abc", "GETRANGE s a 1", "GETRANGE s 1 b", "GETRANGE s 1.5 3",
         "GETRANGE s 9223372036854775808 1", ("GETRANGE", "s", "", "1"), "SUBSTR s x 1",
         id="non-integer"),
    case("GETRANGE missing a b", "GETRANGE missing 0 x", id="non-integer-missing-key"),
    case("GETRANGE s", "GETRANGE s 1", "GETRANGE s 1 2 3", "SUBSTR s", "SUBSTR s 1",
         "SUBSTR s 1 2 3", id="arity"),
])
def test_getrange_errors(fresh, script):
    run(fresh, script)


# ---- SETRANGE ----

@pytest.mark.parametrize("script", [
    case("SETRANGE k 0 hello", "SETRANGE k 6 world", "GET k", "SETRANGE k 3 XY", "GET k",
         id="overwrite-and-extend"),
    case("SETRANGE k 10 x", "GET k", "SETRANGE k 12 yz", "GET k", "SETRANGE k 1 abc", "GET k",
         id="zero-padding"),
    case("SET k abc", ("SETRANGE", "k", "20", ""), "GET k", id="empty-value-existing"),
    case(("SETRANGE", "k", "5", ""), "EXISTS k", ("SETRANGE", "k", "0", ""), "EXISTS k",
         id="empty-value-missing"),
    case("SET k abc", "SETRANGE k -1 x", "SETRANGE k abc x", "SETRANGE k 1.5 x",
         ("SETRANGE", "k", "-1", ""), "SETRANGE k " + I64_MAX + " x", "GET k",
         id="bad-offset"),
    case(("SETRANGE", "m", "-1", ""), "SETRANGE m x y", "EXISTS m", id="bad-offset-missing"),
    case("SET k abc", "SETRANGE k 536870912 x", "SETRANGE k 536870912 xyz",
         "SETRANGE k 536870910 xyz", ("SETRANGE", "k", "536870912", ""), "STRLEN k",
         "SETRANGE m 536870912 x", "EXISTS m", id="size-limit"),
    case("SET k 123", "SETRANGE k 1 9", "GET k", "INCR k", id="integer-value"),
    case("SET k v EX 100", "SETRANGE k 0 w", "TTL k", id="keeps-ttl"),
    case("SETRANGE", "SETRANGE k 0", "SETRANGE k 0 a b", id="arity"),
])
def test_setrange(fresh, script):
    run(fresh, script)


def test_setrange_limit_just_under(fresh):
    """An offset that makes the string exactly 512 MB is allowed, with an empty value: no
    allocation happens."""
    fresh.compare_many([("SETRANGE", "k", "536870911", ""), "EXISTS k", "SET k v",
                        ("SETRANGE", "k", "536870911", ""), "STRLEN k"])


# ---- KEYS ----

GLOB_KEYS = ["foo", "foobar", "fo", "f", "bar", "a*b", "a?b", "a[b", "a\\b", "hello", "hallo",
             "hxllo", "heeeello", "hllo", "h-llo", "h]llo", "h^llo", "*", "?", "[", "]", "-",
             "^", "\\", "a\\", "\\a", "ab", "b", "a", "a["]

GLOB_PATTERNS = [
    "*", "f*", "*o", "f?", "?", "??", "?*", "*?", "*a*", "a**", "***o", "h?llo", "h*llo",
    "h[ae]llo", "h[^e]llo", "h[!e]llo", "h[a-b]llo", "h[b-a]llo", "h[x-z]llo", "h[-a]llo",
    "h[a-]llo", "h[\\-]llo", "h[\\]]llo", "h[]llo", "h[^]llo", "h[[]llo", "[a-c-e]", "[z-a]",
    "[^a]", "[^a]*", "[^^]", "[^]", "[-]", "[a-", "a[", "a[[", "[", "[[", "[]", "[]]", "]",
    "[\\]", "[\\a]", "\\", "\\\\", "a\\", "a\\\\", "\\a", "\\*", "\\?", "\\[", "a\\*b",
    "a\\?b", "a\\[b", "a\\\\b", "*\\", "[*]", "[?]", "*[*", "*]*", "a[b", "a[^b", "h[",
    "h[a", "*[^a-z]*", "", "nomatch", "F*", "H?LLO",
]


@pytest.mark.parametrize("pattern", GLOB_PATTERNS)
def test_keys_glob(fresh, pattern):
    fresh.setup(["MSET"] + [item for key in GLOB_KEYS for item in (key, "1")])
    fresh.compare_unordered("KEYS", pattern)
    fresh.compare_scan("SCAN", "MATCH", pattern, "COUNT", "7")


def test_keys_star_includes_the_empty_key(fresh):
    fresh.setup(("SET", "", "1"), "SET a 2")
    fresh.compare_unordered("KEYS", "*")
    fresh.compare_unordered("KEYS", "")
    fresh.compare_unordered("KEYS", "?")
    fresh.compare_scan("SCAN")


# Redis's matcher does not enter its loop for an empty string, so the empty key matches only
# the pattern "*" (special-cased) and "": not "**" (raftkv included it until 50dc289).
@pytest.mark.parametrize("pattern", ["**", "***"])
@pytest.mark.parametrize("command", ["KEYS", "SCAN"])
def test_double_star_leaves_out_the_empty_key(fresh, command, pattern):
    fresh.setup(("SET", "", "1"), "SET a 2")
    if command == "KEYS":
        fresh.compare_unordered("KEYS", pattern)
    else:
        fresh.compare_scan("SCAN", "MATCH", pattern)


def test_keys_arity(fresh):
    fresh.compare_many(["KEYS", "KEYS a b"])


# ---- SCAN ----

def test_scan_empty_database(fresh):
    fresh.compare_many(["SCAN 0", "SCAN 0 COUNT 1", "SCAN 0 MATCH *", "SCAN 0 TYPE string",
                        "SCAN 18446744073709551615"])


def test_scan_one_key(fresh):
    fresh.setup("SET a 1")
    # One key fits in the first call on both sides (a smaller COUNT may leave Redis a nonzero
    # cursor to return: cursors are each server's own and never compared).
    fresh.compare_many(["SCAN 0", "SCAN 0 MATCH a", "SCAN 0 MATCH b",
                        "SCAN 0 TYPE string", "SCAN 0 TYPE String", "SCAN 0 TYPE hash",
                        "SCAN 0 TYPE none", "SCAN 0 TYPE foo", "scan 0 match * count 10 type string"])


@pytest.mark.parametrize("options", [
    (), ("COUNT", "1"), ("COUNT", "3"), ("COUNT", "1000"), ("MATCH", "k1*"),
    ("MATCH", "k?7", "COUNT", "5"), ("TYPE", "string"), ("TYPE", "hash"),
    ("MATCH", "*9", "TYPE", "string", "COUNT", "2"), ("COUNT", "2", "COUNT", "50"),
    ("MATCH", "nomatch*", "MATCH", "k2*"),
], ids=lambda options: " ".join(options) or "plain")
def test_scan_full_iteration(fresh, options):
    fresh.setup(["MSET"] + [item for i in range(300) for item in ("k%d" % i, str(i))])
    fresh.compare_scan("SCAN", *options)


@pytest.mark.parametrize("script", [
    case("SCAN abc", ("SCAN", " 0"), "SCAN 0x", "SCAN 1.5", "SCAN 18446744073709551616",
         id="invalid-cursor"),
    case("SCAN 0 COUNT", "SCAN 0 COUNT 0", "SCAN 0 COUNT -1", "SCAN 0 COUNT abc",
         "SCAN 0 COUNT 9223372036854775808", "SCAN 0 COUNT " + I64_MAX, "SCAN 0 MATCH",
         "SCAN 0 TYPE", "SCAN 0 FOO bar", "SCAN 0 NOVALUES", "SCAN abc COUNT 0",
         id="bad-options"),
    case("SCAN", id="arity"),
])
def test_scan_errors(fresh, script):
    run(fresh, script)


# Redis 7.0 parses the cursor with strtoul(): a leading '-' or '+' is accepted ("-1" wraps
# to 2^64-1) and the empty string reads as 0 (raftkv answered "-ERR invalid cursor" until
# 50dc289).
@pytest.mark.parametrize("cursor", ["-1", "", "+0", "-0", "-18446744073709551615"])
def test_scan_cursor_parsed_like_strtoul(fresh, cursor):
    fresh.compare("SCAN", cursor)


# ---- TYPE, DBSIZE, FLUSHALL, FLUSHDB ----

@pytest.mark.parametrize("script", [
    case("TYPE k", "SET k v", "TYPE k", "SET i 1", "TYPE i", id="type"),
    case("TYPE", "TYPE a b", id="type-arity"),
    case("DBSIZE", "MSET a 1 b 2 c 3", "DBSIZE", "DEL a", "DBSIZE", id="dbsize"),
    case("DBSIZE x", id="dbsize-arity"),
    case("MSET a 1 b 2", "FLUSHALL", "DBSIZE", "MSET a 1", "FLUSHDB", "DBSIZE", id="flush"),
    case("FLUSHALL ASYNC", "FLUSHALL SYNC", "FLUSHALL sync", "FLUSHDB ASYNC", "FLUSHDB SYNC",
         "flushdb async", id="flush-modes"),
    case("SET a 1", "FLUSHALL foo", "FLUSHALL SYNC ASYNC", "FLUSHDB bar", "FLUSHDB SYNC SYNC",
         "DBSIZE", id="flush-syntax-errors"),
    case("SET a 1 EX 100", "FLUSHALL", "TTL a", "SET a 2", "TTL a", id="flush-drops-ttls"),
])
def test_keyspace(fresh, script):
    run(fresh, script)


# ---- unknown commands, arity ----

@pytest.mark.parametrize("command", [
    ("NOSUCHCOMMAND",), ("NOSUCHCOMMAND", "a", "b", "c"), ("nosuchcommand", "a b", ""),
    ("",), ("FOO", "a\nb"), ("FOO", "x" * 200), ("x" * 200, "a"),
    ("FOO",) + tuple("a%d" % i for i in range(40)),
], ids=["bare", "args", "spaces-empty", "empty-name", "newline", "long-arg", "long-name",
        "many-args"])
def test_unknown_command_error(fresh, command):
    fresh.compare(*command)


ARITY_ERRORS = [
    "GET", "GET a b", "get", "Get", "SET", "SET a", "SETNX a", "GETSET a", "GETDEL", "MGET",
    "MSET a", "MSETNX a b c", "DEL", "UNLINK", "EXISTS", "INCR", "INCRBY a", "DECR",
    "DECRBY a", "APPEND a", "STRLEN", "GETRANGE a 1", "SUBSTR a", "SETRANGE a 1", "KEYS",
    "SCAN", "TYPE", "DBSIZE 1",
]


@pytest.mark.parametrize("command", ARITY_ERRORS)
def test_wrong_arity_error(fresh, command):
    fresh.compare(*command.split())


# ---- wrong type ----

@pytest.fixture
def collection(fresh):
    """fresh, with a key "c" holding a collection on both sides (skips while raftkv has no
    collection type)."""
    fresh.setup_collection("c")
    return fresh


@pytest.mark.parametrize("command", [
    "GET c", "GETSET c v", "GETDEL c", "SET c v GET", "SET c v NX GET", "SET c v XX GET",
    "INCR c", "DECR c", "INCRBY c 1", "DECRBY c 1", "APPEND c x", "STRLEN c",
    "GETRANGE c 0 -1", "SUBSTR c 0 1", "SETRANGE c 0 x", ("SETRANGE", "c", "0", ""),
    "SETRANGE c -1 x", "INCRBY c abc", "GETRANGE c a b",
])
def test_wrong_type(collection, command):
    collection.compare_many([command, "TYPE c"])


def test_wrong_type_in_multi_key_and_keyspace_commands(collection):
    collection.compare_many(["SET s v", "MGET s c x", "SETNX c v", "MSETNX c 1 x 2",
                             "EXISTS c s", "TYPE c", "DBSIZE", "EXISTS x"])
    collection.compare_unordered("KEYS", "*")
    collection.compare_scan("SCAN", "TYPE", "string")
    collection.compare_scan("SCAN", "TYPE", parse(collection.redis("TYPE", "c")))
    collection.compare_many(["SET c v KEEPTTL", "TYPE c", "GET c", "DEL c s", "DBSIZE"])


def test_set_replaces_a_collection(collection):
    collection.compare_many(["SET c v", "TYPE c", "GET c"])
