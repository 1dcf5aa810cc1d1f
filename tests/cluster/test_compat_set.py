"""test_compat_set.py — raftkv's set commands side by side with a real redis-server 7.0
(compat.py): SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE,
SINTER, SUNION, SDIFF, SINTERSTORE, SUNIONSTORE, SDIFFSTORE, SINTERCARD and SSCAN, the raw
replies compared byte for byte (as unordered multisets where Redis leaves the order arbitrary:
SMEMBERS, the algebra, full SSCAN iterations). Edge cases: repeated, empty and binary members,
integer-only sets (Redis's intset) and sets past its listpack/hashtable thresholds, SPOP's and
SRANDMEMBER's count forms and errors, SMOVE's order of checks (a missing source before the
types) and moves onto itself, the algebra over missing keys, repeated keys and a destination
that is one of the sources or of another type, SINTERCARD's numkeys and LIMIT, SSCAN's options
and full iterations, WRONGTYPE, expired sets, TTLs kept by member writes and dropped by STORE,
the 494-byte member limit, COMMAND INFO's arity, flags and key positions; then a seeded random
walk of the deterministic set commands.

Happy path: each test starts from FLUSHALL on both sides (the `fresh` fixture) and runs a short
script; every reply must be identical.

Failure modes: a difference fails the test with the command and both replies; the random walk
names its seed and step. SPOP and SRANDMEMBER pick at random on both sides, so beyond the
whole-set cases only their shape is compared (length, distinctness, members of the set), and
after a partial SPOP each side is checked against its own pops. The one deliberate difference
is the member size (KNOWN_DIFFERENCES["key-size"]).
"""

import random
import time

import pytest

from compat import compat, fresh, parse, redis_server  # noqa: F401 -- pytest fixtures

I64_MAX = "9223372036854775807"
I64_MIN = "-9223372036854775808"
U64_OVER = "9223372036854775808"


def case(*commands, id=None):  # noqa: A002 -- pytest's own name for it
    return pytest.param(list(commands), id=id)


def members(n, prefix="m"):
    return ["%s%d" % (prefix, i) for i in range(n)]


# ---- SADD, SREM, SISMEMBER, SMISMEMBER, SCARD ----

BASIC_CASES = [
    case("SADD s a b c a", "SADD s a d", "SCARD s", "TYPE s", "SADD s", "SADD", id="sadd"),
    case(("SADD", "s", ""), ("SADD", "s", b"\x00\r\n\xff"), ("SISMEMBER", "s", ""),
         ("SISMEMBER", "s", b"\x00\r\n\xff"), "SCARD s", id="empty-and-binary"),
    case("SREM nokey a", "SADD s a b c", "SREM s a a z", "SCARD s", "SREM s b c", "EXISTS s",
         "SCARD s", "SREM s", id="srem"),
    case("SISMEMBER nokey a", "SMISMEMBER nokey a b", "SCARD nokey", "SMEMBERS nokey",
         "SADD s a b", "SISMEMBER s a", "SISMEMBER s z", "SMISMEMBER s b z a", "SISMEMBER s",
         "SISMEMBER s a b", "SMISMEMBER s", "SCARD s x", id="membership"),
    case("SADD s 1 2 3 -4 10000000000", "SISMEMBER s 2", "SISMEMBER s 02", "SADD s x",
         "SISMEMBER s 1", "SCARD s", id="intset-then-strings"),
]


@pytest.mark.parametrize("script", BASIC_CASES)
def test_basic(fresh, script):
    fresh.compare_many(script)


@pytest.mark.parametrize("size", [3, 100, 600])
def test_smembers(fresh, size):
    """Small, intset-sized and past the hashtable thresholds, numbers and strings."""
    fresh.setup(["SADD", "n"] + [str(i * 7) for i in range(size)])
    fresh.setup(["SADD", "s"] + members(size))
    for key in ("n", "s"):
        fresh.compare_unordered("SMEMBERS", key)
        fresh.compare("SCARD", key)
    fresh.compare("SMISMEMBER", "s", "m0", "m%d" % (size - 1), "m%d" % size, "nope")
    fresh.compare("SREM", "s", "m0", "m1", "nope")
    fresh.compare_unordered("SMEMBERS", "s")


# ---- SPOP, SRANDMEMBER ----

RANDOM_EXACT_CASES = [
    case("SPOP nokey", "SPOP nokey 2", "SPOP nokey 0", "SRANDMEMBER nokey",
         "SRANDMEMBER nokey 3", "SRANDMEMBER nokey -3", "SRANDMEMBER nokey 0", id="missing-key"),
    case("SADD s a", "SRANDMEMBER s", "SRANDMEMBER s 1", "SRANDMEMBER s 5", "SRANDMEMBER s -3",
         "SRANDMEMBER s 0", "SRANDMEMBER s " + I64_MAX, "SPOP s 0", "SPOP s", "EXISTS s",
         id="one-member"),
    case("SADD s a", "SPOP s 1 2", "SPOP s -1", "SPOP s x", "SPOP s " + U64_OVER,
         "SPOP nokey -1", "SPOP s 1.5", ("SPOP", "s", ""), "SPOP", "SCARD s",
         "SPOP s " + I64_MAX, "EXISTS s", id="spop-errors"),
    case("SADD s a", "SRANDMEMBER s x", "SRANDMEMBER s 1 2", "SRANDMEMBER s " + I64_MIN,
         "SRANDMEMBER s " + U64_OVER, "SRANDMEMBER nokey x", "SRANDMEMBER", "SCARD s",
         id="srandmember-errors"),
]


@pytest.mark.parametrize("script", RANDOM_EXACT_CASES)
def test_random_exact(fresh, script):
    fresh.compare_many(script)


def test_whole_set_draws_unordered(fresh):
    fresh.setup("SADD s a b c")
    fresh.compare_unordered("SRANDMEMBER", "s", "3")
    fresh.compare_unordered("SRANDMEMBER", "s", "100")
    fresh.compare_unordered("SPOP", "s", "3")
    fresh.compare("EXISTS", "s")
    fresh.setup("SADD s 1 2 3 4")
    fresh.compare_unordered("SPOP", "s", "10")
    fresh.compare("EXISTS", "s")


def check_draw_shape(reply, content, count):
    expected = min(count, len(content)) if count > 0 else -count
    assert isinstance(reply, list) and len(reply) == expected, reply
    assert all(member in content for member in reply)
    if count > 0:
        assert len(set(reply)) == len(reply)


@pytest.mark.parametrize("size", [5, 300])
def test_srandmember_shapes(fresh, size):
    content = set(m.encode() for m in members(size))
    fresh.setup(["SADD", "s"] + members(size))
    for count in [1, 2, size // 4, size // 3, size - 1, -1, -size, -3 * size]:
        for side in (fresh.redis, fresh.raftkv):
            check_draw_shape(parse(side("SRANDMEMBER", "s", str(count))), content, count)
    for _ in range(20):
        for side in (fresh.redis, fresh.raftkv):
            assert parse(side("SRANDMEMBER", "s")) in content
    fresh.compare("SCARD", "s")


@pytest.mark.parametrize("size,count", [(5, 1), (5, 4), (300, 10), (300, 150), (300, 299)])
def test_spop_shapes(fresh, size, count):
    """Each side pops its own members: check every side against itself."""
    content = set(m.encode() for m in members(size))
    fresh.setup(["SADD", "s"] + members(size))
    for side in (fresh.redis, fresh.raftkv):
        popped = parse(side("SPOP", "s", str(count)))
        check_draw_shape(popped, content, count)
        left = set(parse(side("SMEMBERS", "s")))
        assert left == content - set(popped)
        single = parse(side("SPOP", "s"))
        assert single in left
        assert parse(side("SISMEMBER", "s", single)) == 0
    fresh.compare("SCARD", "s")


# ---- SMOVE ----

SMOVE_CASES = [
    case("SET str x", "SMOVE nokey str a", "SMOVE str nokey a", "SADD s a b c", "SMOVE s str a",
         "SMOVE s s a", "SMOVE s s z", "SMOVE s d z", "EXISTS d", "SMOVE s d a", "SCARD s",
         "SMEMBERS d", "SADD d b", "SMOVE s d b", "SCARD d", "SMOVE s d c", "EXISTS s",
         "SCARD d", "SMOVE s d", "SMOVE s d a b", id="smove"),
    case("SADD s 1 2", "SADD d x", "SMOVE s d 1", "SMOVE s d 3", "SMOVE d s x", "SCARD s",
         "SCARD d", "SMOVE s s 2", id="smove-intset"),
]


@pytest.mark.parametrize("script", SMOVE_CASES)
def test_smove(fresh, script):
    fresh.compare_many(script)
    fresh.compare_unordered("SMEMBERS", "d")
    fresh.compare_unordered("SMEMBERS", "s")


def test_smove_keeps_and_drops_ttls(fresh):
    fresh.setup("SADD s a b", "EXPIRE s 1000", "SADD d z", "EXPIRE d 2000")
    fresh.compare("SMOVE", "s", "d", "a")
    fresh.compare_ttl("s")
    fresh.compare_ttl("d")
    fresh.compare("SMOVE", "s", "new", "b")
    fresh.compare_many(["EXISTS s", "TTL new"])


# ---- the algebra ----

ALGEBRA_SETUP = ["SADD a 1 2 3 4", "SADD b 3 4 5", "SADD c 4 5 6", "SADD x p q 4",
                 "SET str v"]

ALGEBRA_READS = [
    "SINTER a", "SINTER a b", "SINTER a b c", "SINTER a a", "SINTER a nokey", "SINTER nokey a",
    "SINTER a x", "SUNION a b c", "SUNION a nokey a", "SUNION nokey", "SUNION a x",
    "SDIFF a b", "SDIFF a b c", "SDIFF c a", "SDIFF a nokey", "SDIFF a a", "SDIFF nokey a",
    "SDIFF x a", "SINTER nokey str", "SUNION a str", "SDIFF nokey str", "SDIFF str a",
    "SINTER", "SUNION", "SDIFF",
]


@pytest.mark.parametrize("command", ALGEBRA_READS)
def test_algebra_reads(fresh, command):
    fresh.setup(*ALGEBRA_SETUP)
    fresh.compare_unordered(*command.split())


ALGEBRA_STORES = [
    "SINTERSTORE d a b", "SUNIONSTORE d a b c", "SDIFFSTORE d a b", "SINTERSTORE d a nokey",
    "SUNIONSTORE d nokey", "SDIFFSTORE d a a", "SINTERSTORE a a b", "SUNIONSTORE a b a",
    "SDIFFSTORE b b a", "SUNIONSTORE a a", "SDIFFSTORE a a a", "SDIFFSTORE str a",
    "SINTERSTORE str nokey", "SINTERSTORE d nokey str", "SUNIONSTORE d a str",
    "SDIFFSTORE a nokey str", "SINTERSTORE d", "SUNIONSTORE", "SDIFFSTORE x x c",
]


@pytest.mark.parametrize("command", ALGEBRA_STORES)
def test_algebra_stores(fresh, command):
    fresh.setup(*ALGEBRA_SETUP, "SADD d old", "EXPIRE d 1000")
    fresh.compare(*command.split())
    for key in ("a", "b", "d", "str", "x"):
        fresh.compare("TYPE", key)
        fresh.compare_unordered("SMEMBERS", key)
    fresh.compare("TTL", "d")


@pytest.mark.parametrize("sizes", [(50, 60, 20), (600, 300, 10), (200, 200, 200)])
def test_algebra_on_bigger_sets(fresh, sizes):
    size_a, size_b, size_c = sizes
    fresh.setup(["SADD", "a"] + members(size_a))
    fresh.setup(["SADD", "b"] + members(size_b)[size_b // 2:] + members(size_b, "n"))
    fresh.setup(["SADD", "c"] + members(size_c)[::3])
    for command in ("SINTER a b", "SINTER a b c", "SUNION a b c", "SDIFF a b", "SDIFF a c b",
                    "SUNION c c c a"):
        fresh.compare_unordered(*command.split())
    for command in ("SINTERSTORE d a b c", "SUNIONSTORE d a b c", "SDIFFSTORE d a b",
                    "SUNIONSTORE a a b", "SINTERCARD 2 a b", "SINTERCARD 3 a b c LIMIT 5"):
        fresh.compare(*command.split())
    fresh.compare_unordered("SMEMBERS", "d")
    fresh.compare_unordered("SMEMBERS", "a")


SINTERCARD_CASES = [
    case("SADD a 1 2 3 4", "SADD b 2 3 4 5", "SINTERCARD 2 a b", "SINTERCARD 1 a",
         "SINTERCARD 2 a b LIMIT 2", "SINTERCARD 2 a b limit 0", "SINTERCARD 2 a b LIMIT 10",
         "SINTERCARD 2 a b LIMIT 1 LIMIT 0", "SINTERCARD 2 a nokey", "SINTERCARD 2 a a",
         id="counts"),
    case("SADD a 1", "SINTERCARD 0 a", "SINTERCARD -1 a", "SINTERCARD x a", "SINTERCARD 3 a b",
         "SINTERCARD 1 a LIMIT", "SINTERCARD 1 a foo 1", "SINTERCARD 1 a LIMIT -1",
         "SINTERCARD 1 a LIMIT x", "SINTERCARD 1 nokey LIMIT x", "SINTERCARD 1 a LIMIT " + U64_OVER,
         "SINTERCARD 1", "SINTERCARD", id="errors"),
    case("SET str x", "SADD a 1", "SINTERCARD 1 str", "SINTERCARD 2 nokey str",
         "SINTERCARD 2 a str", id="wrong-type"),
]


@pytest.mark.parametrize("script", SINTERCARD_CASES)
def test_sintercard(fresh, script):
    fresh.compare_many(script)


# ---- SSCAN ----

SSCAN_EXACT_CASES = [
    case("SSCAN nokey 0", "SSCAN nokey 0 COUNT 0", "SSCAN nokey 0 badoption", "SSCAN nokey x",
         id="missing-key"),
    case("SADD s a", "SSCAN s 0", ("SSCAN", "s", ""), "SSCAN s 0 MATCH a", "SSCAN s 0 MATCH b",
         "SSCAN s 0 count 1 count 5", id="one-member"),
    case("SADD s a", "SSCAN s 0 COUNT 0", "SSCAN s 0 COUNT x", "SSCAN s 0 TYPE set",
         "SSCAN s 0 MATCH", "SSCAN s x", "SSCAN s -", ("SSCAN", "s", " 1"), "SSCAN s",
         "SSCAN s 18446744073709551616", id="errors"),
]


@pytest.mark.parametrize("script", SSCAN_EXACT_CASES)
def test_sscan_exact(fresh, script):
    fresh.compare_many(script)


@pytest.mark.parametrize("options", [[], ["COUNT", "1"], ["COUNT", "13"], ["MATCH", "m1*"],
                                     ["MATCH", "m1*", "COUNT", "4"], ["MATCH", "zzz"]])
def test_sscan_full_iterations(fresh, options):
    fresh.setup(["SADD", "s"] + members(300))
    fresh.setup(["SADD", "n"] + [str(i) for i in range(100)])
    fresh.compare_scan("SSCAN", "s", *options)
    fresh.compare_scan("SSCAN", "n", *options)


# ---- types, expiry, limits, COMMAND ----

SET_COMMANDS = ["SADD h a", "SREM h a", "SMEMBERS h", "SISMEMBER h a", "SMISMEMBER h a",
                "SCARD h", "SPOP h", "SPOP h 2", "SPOP h 0", "SRANDMEMBER h", "SRANDMEMBER h 0",
                "SRANDMEMBER h -2", "SINTER h", "SUNION h", "SDIFF h", "SINTERCARD 1 h",
                "SSCAN h 0", "SMOVE h d a", "SPOP h x", "SRANDMEMBER h x", "SSCAN h x",
                "SINTERSTORE d h", "SUNIONSTORE d h", "SDIFFSTORE d h"]


@pytest.mark.parametrize("make", ["SET h x", "HSET h f v", "RPUSH h x", "ZADD h 1 x"])
def test_wrong_type(fresh, make):
    if fresh.raftkv(*make.split()).startswith(b"-ERR unknown command"):
        pytest.skip("raftkv has no %s yet" % make.split()[0])
    fresh.redis(*make.split())
    for command in SET_COMMANDS:
        fresh.compare(*command.split())
    fresh.compare("TYPE", "h")


def test_an_expired_set_is_gone(fresh):
    fresh.setup("SADD s a b", "SADD t b c", "PEXPIRE s 150")
    time.sleep(0.4)
    fresh.compare_many(["SCARD s", "SMEMBERS s", "SISMEMBER s a", "SRANDMEMBER s",
                        "SRANDMEMBER s 3", "SINTER t s", "SSCAN s 0", "SMOVE s t a",
                        "SPOP s", "SINTERCARD 2 s t", "SADD s z", "SMEMBERS s", "TTL s"])
    fresh.compare_unordered("SUNION", "s", "t")
    fresh.compare_unordered("SDIFF", "t", "s")


def test_member_writes_keep_the_ttl(fresh):
    fresh.setup("SADD s a b c d", "EXPIRE s 1000")
    fresh.compare_many(["SADD s e", "SREM s a", "SPOP s 0"])
    fresh.compare_ttl("s")
    fresh.compare_many(["SREM s b c d e", "EXISTS s", "SADD s new"])
    fresh.compare_ttl("s")  # a new set: -1 on both


def test_members_of_494_bytes_and_more(fresh):
    member = "m" * 494
    fresh.compare("SADD", "s", member)
    fresh.compare("SISMEMBER", "s", member)
    fresh.compare("SMEMBERS", "s")
    fresh.compare("SSCAN", "s", "0")
    fresh.compare("SRANDMEMBER", "s")
    longer = "m" * 495
    fresh.compare("SISMEMBER", "s", longer)
    fresh.compare("SREM", "s", longer)
    fresh.compare("SMOVE", "s", "d", longer)
    fresh.compare("SMISMEMBER", "s", longer, member)
    difference = fresh.compare("SADD", "s", longer, known_difference="key-size")
    assert difference.raftkv == b"-ERR member exceeds the maximum length of 494 bytes\r\n"
    fresh.compare("SMOVE", "s", "d", member)
    fresh.compare("SPOP", "d")


@pytest.mark.parametrize("name", ["sadd", "srem", "smembers", "sismember", "smismember",
                                  "scard", "spop", "srandmember", "smove", "sinter", "sunion",
                                  "sdiff", "sinterstore", "sunionstore", "sdiffstore",
                                  "sintercard", "sscan"])
def test_command_info(fresh, name):
    """Arity, the write/readonly/denyoom flags and the key positions are Redis's."""
    ours, theirs = (parse(side("COMMAND", "INFO", name))[0] for side in (fresh.raftkv,
                                                                          fresh.redis))
    assert ours[1] == theirs[1]
    flags = {"write", "readonly", "denyoom"}
    assert set(theirs[2]) & flags  # status replies parse as str
    assert set(ours[2]) & flags == set(theirs[2]) & flags
    assert ours[3:6] == theirs[3:6]


# ---- a random walk ----

def random_command(rng):
    keys = ["s1", "s2", "s3"]
    key = rng.choice(keys)
    member = rng.choice(["a", "b", "c", "1", "2", ""])
    verb = rng.choice(["SADD", "SREM", "SISMEMBER", "SMISMEMBER", "SCARD", "SMEMBERS", "SMOVE",
                       "SINTER", "SUNION", "SDIFF", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE",
                       "SINTERCARD", "SRANDMEMBER"])
    if verb in ("SADD", "SREM"):
        return [verb, key, member, rng.choice(["a", "x", "3"])]
    if verb == "SISMEMBER":
        return [verb, key, member]
    if verb == "SMISMEMBER":
        return [verb, key, member, "b", "nope"]
    if verb == "SMOVE":
        return [verb, key, rng.choice(keys), member]
    if verb in ("SINTER", "SUNION", "SDIFF"):
        return [verb] + rng.sample(keys, rng.randint(1, 3))
    if verb.endswith("STORE"):
        return [verb, rng.choice(keys)] + rng.sample(keys, rng.randint(1, 3))
    if verb == "SINTERCARD":
        chosen = rng.sample(keys, rng.randint(1, 3))
        return [verb, str(len(chosen))] + chosen + ["LIMIT", str(rng.randint(0, 3))]
    if verb == "SRANDMEMBER":
        return [verb, key, "100"]
    return [verb, key]


def test_random_walk(fresh):
    seed = 7
    rng = random.Random(seed)
    for step in range(300):
        command = random_command(rng)
        unordered = command[0] in ("SMEMBERS", "SINTER", "SUNION", "SDIFF", "SRANDMEMBER")
        try:
            if unordered:
                fresh.compare_unordered(*command)
            else:
                fresh.compare(*command)
        except BaseException:
            print("random walk: seed %d, step %d: %r" % (seed, step, command))
            raise
