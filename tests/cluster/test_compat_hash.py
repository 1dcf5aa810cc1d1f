"""test_compat_hash.py — raftkv's hash commands side by side with a real redis-server 7.0
(compat.py): HSET, HSETNX, HGET, HMGET, HMSET, HGETALL, HDEL, HEXISTS, HLEN, HKEYS, HVALS,
HINCRBY, HINCRBYFLOAT, HSTRLEN, HRANDFIELD and HSCAN, the raw replies compared byte for byte
(as unordered multisets where Redis leaves the order arbitrary: HGETALL, HKEYS, HVALS, full
HSCAN iterations). Edge cases: odd pairs and arity, empty and binary fields, integer and float
edges of HINCRBY and HINCRBYFLOAT (overflow, formatting of huge and tiny values, NaN and
infinity), HRANDFIELD's count forms and their errors, HSCAN's options, cursors and a hash big
enough for Redis's hashtable encoding, WRONGTYPE, expired hashes, TTLs kept by field writes,
the 494-byte field limit, COMMAND INFO's arity, flags and key positions; then a seeded random
walk of the deterministic hash commands.

Happy path: each test starts from FLUSHALL on both sides (the `fresh` fixture) and runs a short
script; every reply must be identical.

Failure modes: a difference fails the test with the command and both replies; the random walk
names its seed and step. HRANDFIELD's picks are random on both sides, so beyond the whole-hash
cases only their shape is compared (length, distinctness, fields and values of the hash). The
one deliberate difference is the field size (KNOWN_DIFFERENCES["key-size"]).
"""

import random
import time

import pytest

from compat import compat, fresh, parse, redis_server, RespError  # noqa: F401 -- fixtures

I64_MAX = "9223372036854775807"
I64_MIN = "-9223372036854775808"
U64_OVER = "9223372036854775808"
WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def case(*commands, id=None):  # noqa: A002 -- pytest's own name for it
    return pytest.param(list(commands), id=id)


# ---- writes and point reads ----

BASIC_CASES = [
    case("HSET h a 1 b 2 a 3", "HGET h a", "HGET h b", "HLEN h", "TYPE h", id="hset-repeats"),
    case("HSET h a 1", "HSET h a 2 c 3", "HGET h a", "HLEN h", id="hset-overwrite"),
    case("HSET h", "HSET h a", "HSET h a 1 b", "HMSET h a 1 b", "HMSET h a", "EXISTS h",
         id="hset-pairs"),
    case("HMSET h a 1 b 2", "HMSET h a 9", "HMGET h a b", "HLEN h", id="hmset"),
    case("HSETNX h a 1", "HSETNX h a 2", "HGET h a", "HSETNX h b 2", "HLEN h", "HSETNX h a",
         "HSETNX h a 1 2", id="hsetnx"),
    case("HGET nokey a", "HMGET nokey a b", "HSET h a 1 z 9", "HGET h nope",
         "HMGET h a nope z", "HMGET h", "HGET h", id="hget-hmget"),
    case(("HSET", "h", "", ""), ("HGET", "h", ""), ("HSET", "h", b"\x00\r\n\xff", b"\xfe\x00"),
         ("HGET", "h", b"\x00\r\n\xff"), ("HSTRLEN", "h", b"\x00\r\n\xff"), "HLEN h",
         id="empty-and-binary"),
    case("HDEL nokey a", "HSET h a 1 b 2 c 3", "HDEL h a a nope", "HLEN h", "HEXISTS h a",
         "HDEL h b c", "EXISTS h", "TYPE h", "HLEN h", "HDEL h", id="hdel"),
    case("HEXISTS nokey a", "HLEN nokey", "HSTRLEN nokey a", ("HSET", "h", "a", "hello", "e", ""),
         "HEXISTS h a", "HEXISTS h b", "HSTRLEN h a", "HSTRLEN h b", "HLEN h", "HEXISTS h",
         "HLEN h x", "HSTRLEN h", id="hexists-hlen-hstrlen"),
    case("HGETALL nokey", "HKEYS nokey", "HVALS nokey", "HGETALL", "HKEYS a b",
         id="whole-hash-missing"),
]


@pytest.mark.parametrize("script", BASIC_CASES)
def test_basic(fresh, script):
    fresh.compare_many(script)


def test_hset_replies_for_an_empty_string_value(fresh):
    fresh.compare("HSET", "h", "f", "")
    fresh.compare("HGET", "h", "f")
    fresh.compare("HSTRLEN", "h", "f")


def test_whole_hash_replies_unordered(fresh):
    fresh.setup("HSET h a 1 b 2 c 3 d 4", ("HSET", "h", "", b"\x00"))
    fresh.compare_unordered("HGETALL", "h", pairs=True)
    fresh.compare_unordered("HKEYS", "h")
    fresh.compare_unordered("HVALS", "h")


def test_a_big_hash(fresh):
    """Past Redis's listpack thresholds (128 fields, 64-byte values): a hashtable there."""
    fields = []
    for i in range(300):
        fields += ["field:%d" % i, "value:%d:%s" % (i, "x" * (i % 100))]
    for i in range(0, len(fields), 60):
        fresh.compare("HSET", "h", *fields[i:i + 60])
    fresh.compare("HLEN", "h")
    fresh.compare_unordered("HGETALL", "h", pairs=True)
    fresh.compare_unordered("HKEYS", "h")
    fresh.compare_unordered("HVALS", "h")
    fresh.compare_many(["HGET h field:299", "HSTRLEN h field:150", "HEXISTS h field:300",
                        "HDEL h field:0 field:1 field:2 nope", "HLEN h", "HMGET h field:3 x"])
    fresh.compare("HSET", "h", "big", "v" * 1_000_000)
    fresh.compare("HSTRLEN", "h", "big")
    fresh.compare("HGET", "h", "big")


# ---- HINCRBY, HINCRBYFLOAT ----

HINCRBY_CASES = [
    case("HINCRBY h a 5", "HINCRBY h a -7", "HGET h a", "HLEN h", id="new-and-existing"),
    case("HINCRBY h a x", "HINCRBY h a 1.5", ("HINCRBY", "h", "a", ""), "HINCRBY h a " + U64_OVER,
         "HINCRBY h a 01", "HINCRBY h a +1", "EXISTS h", id="increment-errors"),
    case(("HSET", "h", "s", "abc", "sp", " 1", "fl", "1.5", "e", "", "z", "007", "t", "1 "),
         "HINCRBY h s 1", "HINCRBY h sp 1", "HINCRBY h fl 1", "HINCRBY h e 1", "HINCRBY h z 1",
         "HINCRBY h t 1", "HLEN h", id="value-errors"),
    case("HSET h big " + I64_MAX, "HINCRBY h big 1", "HINCRBY h big 0",
         "HINCRBY h small " + I64_MIN, "HINCRBY h small -1", "HINCRBY h small " + I64_MAX,
         "HGET h big", "HGET h small", id="overflow"),
    case("HINCRBY h a", "HINCRBY h a 1 2", id="arity"),
]


@pytest.mark.parametrize("script", HINCRBY_CASES)
def test_hincrby(fresh, script):
    fresh.compare_many(script)


FLOAT_INCREMENTS = ["10.5", "0.1", "-10.6", "5.0e3", "0x10", "3.0000000000000000000001",
                    "1e-320", "-0", "1e308", "1e308", "-1e308", "123456789012345678901234567890",
                    "1.5e4930", "-1.5e4930", "0.0000001", ".5", "5.", "1E2", "-.5e-3",
                    "  1", "1 ", "", "x", "1e4940", "nan", "NaN", "inf", "-inf", "+inf",
                    "Infinity", "1e", "0x", "--1"]


def test_hincrbyfloat_accumulates_as_redis(fresh):
    for increment in FLOAT_INCREMENTS:
        fresh.compare("HINCRBYFLOAT", "h", "f", increment)
        fresh.compare("HGET", "h", "f")
    for _ in range(10):
        fresh.compare("HINCRBYFLOAT", "h", "tenth", "0.1")


@pytest.mark.parametrize("value", ["1.5", "10", " 1", "1 ", "", "abc", "1e4932", "-1e4932",
                                   "0x1p3", "1e5000", "inf", "nan", "007", "-0", "1.7976931348623157e308"])
def test_hincrbyfloat_on_stored_values(fresh, value):
    fresh.setup(("HSET", "h", "f", value))
    fresh.compare("HINCRBYFLOAT", "h", "f", "1")
    fresh.compare("HINCRBYFLOAT", "h", "f", "1e4932")
    fresh.compare("HGET", "h", "f")
    fresh.compare("HINCRBY", "h", "f", "1")


def test_hincrbyfloat_then_hincrby(fresh):
    fresh.compare_many(["HSET h i 10", "HINCRBYFLOAT h i 0.1", "HINCRBYFLOAT h i -0.1",
                        "HINCRBY h i 1", "HINCRBYFLOAT h i 1e3", "HINCRBY h i 1",
                        "HINCRBYFLOAT nothing f inf", "EXISTS nothing", "HINCRBYFLOAT h i",
                        "HINCRBYFLOAT h i 1 2"])


# ---- HRANDFIELD ----

HRANDFIELD_EXACT_CASES = [
    case("HRANDFIELD nokey", "HRANDFIELD nokey 3", "HRANDFIELD nokey -3",
         "HRANDFIELD nokey 3 WITHVALUES", "HRANDFIELD nokey 0", id="missing-key"),
    case("HSET h a 1", "HRANDFIELD h", "HRANDFIELD h 1", "HRANDFIELD h 5 WITHVALUES",
         "HRANDFIELD h -3", "HRANDFIELD h -2 withvalues", "HRANDFIELD h 0",
         "HRANDFIELD h 0 WITHVALUES", "HRANDFIELD h " + I64_MAX, id="one-field"),
    case("HSET h a 1", "HRANDFIELD h x", "HRANDFIELD h x foo", "HRANDFIELD nokey x",
         "HRANDFIELD h 1 foo", "HRANDFIELD h 1 withvalues x", "HRANDFIELD h " + I64_MIN,
         "HRANDFIELD h -4611686018427387904 withvalues",
         "HRANDFIELD h 4611686018427387904 withvalues",
         "HRANDFIELD h 4611686018427387903 withvalues", "HRANDFIELD h 1.5", "HRANDFIELD",
         id="errors"),
]


@pytest.mark.parametrize("script", HRANDFIELD_EXACT_CASES)
def test_hrandfield_exact(fresh, script):
    fresh.compare_many(script)


def test_hrandfield_whole_hash_unordered(fresh):
    fresh.setup("HSET h a 1 b 2 c 3")
    fresh.compare_unordered("HRANDFIELD", "h", "3")
    fresh.compare_unordered("HRANDFIELD", "h", "100")
    fresh.compare_unordered("HRANDFIELD", "h", "3", "WITHVALUES", pairs=True)
    fresh.compare_unordered("HRANDFIELD", "h", "100", "withvalues", pairs=True)


def check_random_shape(fresh, content, count, with_values):
    """Both sides' HRANDFIELD h count [WITHVALUES] have the same shape."""
    arguments = ["HRANDFIELD", "h", str(count)] + (["WITHVALUES"] if with_values else [])
    for side in (fresh.redis, fresh.raftkv):
        reply = parse(side(*arguments))
        expected = min(count, len(content)) if count > 0 else -count
        per = 2 if with_values else 1
        assert isinstance(reply, list) and len(reply) == expected * per, (side, reply)
        fields = reply[0::per]
        assert all(field in content for field in fields)
        if with_values:
            assert all(content[f] == v for f, v in zip(fields, reply[1::2]))
        if count > 0:
            assert len(set(fields)) == len(fields)


@pytest.mark.parametrize("size", [5, 200])
def test_hrandfield_shapes(fresh, size):
    content = {b"f%d" % i: b"v%d" % i for i in range(size)}
    pairs = [x for item in content.items() for x in item]
    fresh.setup(["HSET", "h"] + pairs)
    for count in [1, 2, size // 4, size // 3, size - 1, -1, -size, -3 * size]:
        if count == 0:
            continue
        check_random_shape(fresh, content, count, False)
        check_random_shape(fresh, content, count, True)
    for _ in range(20):
        for side in (fresh.redis, fresh.raftkv):
            assert parse(side("HRANDFIELD", "h")) in content


# ---- HSCAN ----

HSCAN_EXACT_CASES = [
    case("HSCAN nokey 0", "HSCAN nokey 0 badoption", "HSCAN nokey 0 COUNT 0", "HSCAN nokey x",
         id="missing-key"),
    case("HSET h a 1", "HSCAN h 0", "HSCAN h 0 MATCH a", "HSCAN h 0 MATCH b*",
         "HSCAN h 0 match * count 1000", "HSCAN h 0 COUNT 5 COUNT 1", ("HSCAN", "h", ""),
         id="one-field"),
    case("HSET h a 1", "HSCAN h x", "HSCAN h -", "HSCAN h 1x", "HSCAN h 18446744073709551616",
         ("HSCAN", "h", " 1"), "HSCAN h 0 COUNT 0", "HSCAN h 0 COUNT -1", "HSCAN h 0 COUNT x",
         "HSCAN h 0 MATCH", "HSCAN h 0 TYPE hash", "HSCAN h 0 NOVALUES", "HSCAN h",
         "HSCAN h 0 COUNT", id="errors"),
]


@pytest.mark.parametrize("script", HSCAN_EXACT_CASES)
def test_hscan_exact(fresh, script):
    fresh.compare_many(script)


def test_hscan_of_a_small_hash_in_one_call(fresh):
    fresh.setup("HSET h a 1 b 2 c 3")
    fresh.compare_unordered("HSCAN", "h", "0")
    fresh.compare_unordered("HSCAN", "h", "0", "MATCH", "[ab]")


@pytest.mark.parametrize("options", [[], ["COUNT", "1"], ["COUNT", "7"], ["COUNT", "1000"],
                                     ["MATCH", "f1*"], ["MATCH", "f1*", "COUNT", "3"],
                                     ["MATCH", "nothing"], ["MATCH", "f?"]])
def test_hscan_full_iterations(fresh, options):
    fields = []
    for i in range(250):
        fields += ["f%d" % i, "v%d" % i]
    fresh.setup(["HSET", "h"] + fields)
    fresh.compare_scan("HSCAN", "h", *options, pairs=True)


# ---- types, expiry, limits, COMMAND ----

HASH_COMMANDS = ["HSET s a 1", "HSETNX s a 1", "HGET s a", "HMGET s a", "HMSET s a 1",
                 "HGETALL s", "HDEL s a", "HEXISTS s a", "HLEN s", "HKEYS s", "HVALS s",
                 "HINCRBY s a 1", "HINCRBYFLOAT s a 1.5", "HSTRLEN s a", "HRANDFIELD s",
                 "HRANDFIELD s 2", "HRANDFIELD s 0", "HRANDFIELD s -2 WITHVALUES", "HSCAN s 0",
                 "HINCRBY s a x", "HINCRBYFLOAT s a x", "HRANDFIELD s x", "HSCAN s x",
                 "HSET s a"]


@pytest.mark.parametrize("make", ["SET s x", "RPUSH s x", "SADD s x", "ZADD s 1 x"])
def test_wrong_type(fresh, make):
    if fresh.raftkv(*make.split()).startswith(b"-ERR unknown command"):
        pytest.skip("raftkv has no %s yet" % make.split()[0])
    fresh.redis(*make.split())
    for command in HASH_COMMANDS:
        fresh.compare(*command.split())
    fresh.compare("TYPE", "s")


def test_an_expired_hash_is_gone(fresh):
    fresh.setup("HSET h a 1 b 2", "PEXPIRE h 150", "HSET g n 10", "PEXPIRE g 150")
    time.sleep(0.4)
    fresh.compare_many(["HGET h a", "HLEN h", "HGETALL h", "HEXISTS h a", "HRANDFIELD h",
                        "HRANDFIELD h 2", "HSCAN h 0", "HSTRLEN h a", "HMGET h a b",
                        "HDEL h a", "HSET h c 3", "HGETALL h", "TTL h", "HINCRBY g n 1",
                        "HINCRBYFLOAT g x 1.5", "HLEN g", "TTL g"])


def test_field_writes_keep_the_ttl(fresh):
    fresh.setup("HSET h a 1", "EXPIRE h 1000")
    fresh.compare_many(["HSET h b 2", "HSETNX h c 3", "HMSET h d 4", "HINCRBY h a 1",
                        "HINCRBYFLOAT h a 1.5", "HDEL h b"])
    fresh.compare_ttl("h")
    fresh.compare_many(["HDEL h a c d", "EXISTS h", "HSET h new 1"])
    fresh.compare_ttl("h")  # a new hash: -1 on both


def test_fields_of_494_bytes_and_more(fresh):
    field = "f" * 494
    fresh.compare("HSET", "h", field, "v")
    fresh.compare("HGET", "h", field)
    fresh.compare("HKEYS", "h")
    fresh.compare("HSCAN", "h", "0")
    fresh.compare("HRANDFIELD", "h")
    longer = "f" * 495
    # Reads of a longer field agree: neither side has one yet.
    fresh.compare("HGET", "h", longer)
    fresh.compare("HEXISTS", "h", longer)
    fresh.compare("HDEL", "h", longer)
    fresh.compare("HMGET", "h", longer, field)
    for command in (["HSET", "h", longer, "v"], ["HSETNX", "h", longer, "v"],
                    ["HMSET", "h", longer, "v"], ["HINCRBY", "h", longer, "1"],
                    ["HINCRBYFLOAT", "h", longer, "1"]):
        difference = fresh.compare(*command, known_difference="key-size")
        assert difference.raftkv == b"-ERR member exceeds the maximum length of 494 bytes\r\n"


@pytest.mark.parametrize("name", ["hset", "hsetnx", "hget", "hmget", "hmset", "hgetall", "hdel",
                                  "hexists", "hlen", "hkeys", "hvals", "hincrby",
                                  "hincrbyfloat", "hstrlen", "hrandfield", "hscan"])
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
    key = rng.choice(["h1", "h2"])
    field = rng.choice(["a", "b", "c", "d", "n", "x"])
    verb = rng.choice(["HSET", "HSETNX", "HGET", "HMGET", "HMSET", "HDEL", "HEXISTS", "HLEN",
                       "HSTRLEN", "HINCRBY", "HINCRBYFLOAT", "HGETALL", "HKEYS", "HVALS",
                       "HRANDFIELD"])
    value = rng.choice(["1", "-5", "2.5", "abc", "", "100", "0"])
    if verb in ("HSET", "HMSET"):
        other = rng.choice(["a", "b", "c", "d", "n", "x"])
        return [verb, key, field, value, other, rng.choice(["7", "z"])]
    if verb == "HSETNX":
        return [verb, key, field, value]
    if verb in ("HGET", "HEXISTS", "HSTRLEN"):
        return [verb, key, field]
    if verb == "HMGET":
        return [verb, key, field, "a", "nope"]
    if verb == "HDEL":
        return [verb, key, field, rng.choice(["a", "b"])]
    if verb == "HINCRBY":
        return [verb, key, field, rng.choice(["1", "-3", "100", "x"])]
    if verb == "HINCRBYFLOAT":
        return [verb, key, field, rng.choice(["0.5", "-1.25", "1e3", "x"])]
    if verb == "HRANDFIELD":
        return [verb, key, "100", "WITHVALUES"]
    return [verb, key]


def test_random_walk(fresh):
    seed = 12
    rng = random.Random(seed)
    for step in range(300):
        command = random_command(rng)
        unordered = command[0] in ("HGETALL", "HKEYS", "HVALS", "HRANDFIELD")
        try:
            if unordered:
                fresh.compare_unordered(*command,
                                        pairs=command[0] in ("HGETALL", "HRANDFIELD"))
            else:
                fresh.compare(*command)
        except BaseException:
            print("random walk: seed %d, step %d: %r" % (seed, step, command))
            raise
