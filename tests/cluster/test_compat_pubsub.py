"""test_compat_pubsub.py — Pub/Sub and keyspace notifications side by side with redis-server
7.0: the same command sequence on both, and the raw bytes a subscriber receives compared
byte for byte, over RESP2 and RESP3.

Where compat.py's one-reply-per-command model fits (PUBLISH's count, PUBSUB's answers,
CONFIG SET/GET notify-keyspace-events) its Compat does the comparison. A subscriber gets many
replies per command and messages between them, so subscribers here are raw sockets: a
Subscriber reads every reply it is sent, and a test ends each stream with a PUBLISH on a
sentinel channel, the last message any subscriber can receive (messages arrive in the order
their commands ran on redis-server, in log order on raftkv), so both streams are complete
when compared.

raftkv's subscribers connect to the leader here; test_pubsub_cluster.py subscribes on every
node. The differences raftkv documents (docs/commands.md): PUBLISH counts the receivers on the
node that answers; "expired" comes when a log entry deletes the key (active expiry or a write
touching it), not on a read; PUBSUB and subscriptions are per node.
"""

import difflib
import time

import pytest

from compat import Connection, _ReplyReader, compat, encode, fresh, redis_server  # noqa: F401

SENTINEL = "__end_of_stream__"
READ_TIMEOUT_S = 10.0


class Subscriber:
    """A raw connection that sends commands without waiting and reads replies one by one."""

    def __init__(self, host, port, protocol=2):
        self.connection = Connection(host, port)
        self.connection.sock.settimeout(READ_TIMEOUT_S)
        if protocol == 3:
            assert self.connection.command(["HELLO", "3"]).startswith(b"%")

    def send(self, *arguments):
        self.connection.sock.sendall(encode(arguments))

    def read(self):
        return self.connection.reader.read()

    def read_many(self, count):
        return [self.read() for _ in range(count)]

    def until_sentinel(self):
        """Every reply up to and including the sentinel's message."""
        replies = []
        while True:
            reply = self.read()
            replies.append(reply)
            if SENTINEL.encode() in reply and b"message" in reply:
                return replies

    def close(self):
        self.connection.close()


def leader_address(compat):
    node = compat.cluster.node(compat.cluster.wait_for_leader())
    return node.host, node.client_port


@pytest.fixture
def pair(fresh):
    """A factory of (redis subscriber, raftkv subscriber) pairs, closed after the test; the
    notify-keyspace-events setting is cleared on both sides afterwards."""
    made = []

    def make(protocol=2):
        host, port = leader_address(fresh)
        subscribers = (Subscriber("127.0.0.1", fresh.redis_server.port, protocol),
                       Subscriber(host, port, protocol))
        made.extend(subscribers)
        return subscribers

    yield make
    for subscriber in made:
        subscriber.close()
    fresh.setup(("CONFIG", "SET", "notify-keyspace-events", ""))
    # A closed connection's subscriptions go when each server notices the close: wait for it,
    # so the next test's PUBSUB counts start from nothing.
    deadline = time.monotonic() + READ_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(side("PUBSUB", "NUMPAT") == b":0\r\n" and side("PUBSUB", "CHANNELS") == b"*0\r\n"
               for side in (fresh.redis, fresh.raftkv)):
            return
        time.sleep(0.02)
    raise AssertionError("subscriptions of closed connections linger")


def both_send(subscribers, *arguments):
    for subscriber in subscribers:
        subscriber.send(*arguments)


def assert_same(subscribers, count, what):
    theirs, ours = (subscriber.read_many(count) for subscriber in subscribers)
    assert ours == theirs, "%s: redis-server %r, raftkv %r" % (what, theirs, ours)
    return theirs


def describe_stream(replies):
    """Each reply as one short line: its printable words (for a readable diff)."""
    lines = []
    for reply in replies:
        words = [part.decode("utf-8", "replace") for part in reply.split(b"\r\n")
                 if part and part[:1] not in (b"*", b">", b"$")]
        lines.append(" ".join(words))
    return lines


def assert_streams_equal(theirs, ours):
    __tracebackhide__ = True
    if ours != theirs:
        diff = difflib.unified_diff(describe_stream(theirs), describe_stream(ours),
                                    "redis-server", "raftkv", lineterm="")
        pytest.fail("the subscribers' streams differ:\n" + "\n".join(diff))


def finish_streams(compat, subscribers):
    """Publishes the sentinel on both sides and returns both subscribers' streams."""
    compat.setup(("PUBLISH", SENTINEL, "end"), check=False)
    return [subscriber.until_sentinel() for subscriber in subscribers]


# ---- subscribing: the confirmations and subscribed mode, byte for byte ----

# (command, replies it gets): run in order on a fresh connection of each side.
SUBSCRIBED_SCRIPT = [
    (("UNSUBSCRIBE",), 1),
    (("PUNSUBSCRIBE",), 1),
    (("SUBSCRIBE", "a", "b", "a"), 3),
    (("PSUBSCRIBE", "a*", "[bc]?"), 2),
    (("PSUBSCRIBE", "a*"), 1),
    (("PING",), 1),
    (("PING", "hello"), 1),
    (("GET", "k"), 1),
    (("SET", "k", "v"), 1),
    (("CLIENT", "ID"), 2),  # 2: in RESP2 only (RESP3 runs it, and the ids differ)
    (("ACL", "WHOAMI"), 1),  # RESP2's error names the subcommand: 'acl|whoami'
    (("SCRIPT", "EXISTS", "0" * 40), 1),
    (("PUBSUB", "NUMPAT"), 1),
    (("HELLO",), 2),
    (("NOSUCHCOMMAND",), 1),
    (("GET",), 1),
    (("PING", "a", "b"), 1),
    (("UNSUBSCRIBE", "zz", "b"), 2),
    (("UNSUBSCRIBE",), 1),
    (("PUNSUBSCRIBE", "[bc]?"), 1),
    (("PUNSUBSCRIBE",), 1),
    (("PING",), 1),
    (("UNSUBSCRIBE",), 1),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_subscribe_confirmations_and_subscribed_mode_match_redis(pair, protocol):
    subscribers = pair(protocol)
    for command, replies in SUBSCRIBED_SCRIPT:
        if replies == 2 and command[0] in ("CLIENT", "HELLO"):
            if protocol == 3:
                continue
            replies = 1
        both_send(subscribers, *command)
        assert_same(subscribers, replies, "RESP%d %s" % (protocol, " ".join(command)))


def test_reset_leaves_subscribed_mode(pair):
    subscribers = pair(2)
    both_send(subscribers, "SUBSCRIBE", "x")
    assert_same(subscribers, 1, "SUBSCRIBE x")
    for command in [("RESET",), ("GET", "k"), ("PING",), ("UNSUBSCRIBE",)]:
        both_send(subscribers, *command)
        assert_same(subscribers, 1, " ".join(command))


def test_resp3_reset_returns_to_resp2(pair):
    subscribers = pair(3)
    both_send(subscribers, "SUBSCRIBE", "x")
    assert_same(subscribers, 1, "SUBSCRIBE x")
    for command in [("RESET",), ("GET", "nothing"), ("SUBSCRIBE", "y"), ("PING",)]:
        both_send(subscribers, *command)
        assert_same(subscribers, 1, " ".join(command))


# ---- messages ----

@pytest.mark.parametrize("protocol", [2, 3])
def test_messages_and_pmessages_match_redis(fresh, pair, protocol):
    subscribers = pair(protocol)
    both_send(subscribers, "SUBSCRIBE", "news", "", SENTINEL)
    assert_same(subscribers, 3, "SUBSCRIBE")
    both_send(subscribers, "PSUBSCRIBE", "n*s")
    assert_same(subscribers, 1, "PSUBSCRIBE")
    # The publisher's count: channel subscribers plus matching patterns.
    fresh.compare("PUBLISH", "news", "hello")
    fresh.compare("PUBLISH", "nbs", "pattern only")
    fresh.compare("PUBLISH", "nobody", "x")
    fresh.compare("PUBLISH", "", "empty channel")
    fresh.compare("PUBLISH", "news", b"\x00binary\r\n\xff")
    fresh.compare("PUBLISH", "news", "")
    theirs, ours = finish_streams(fresh, subscribers)
    assert_streams_equal(theirs, ours)


def test_a_subscriber_receives_in_publish_order(fresh, pair):
    subscribers = pair(2)
    both_send(subscribers, "SUBSCRIBE", "seq", SENTINEL)
    assert_same(subscribers, 2, "SUBSCRIBE")
    for i in range(50):
        fresh.compare("PUBLISH", "seq", str(i))
    theirs, ours = finish_streams(fresh, subscribers)
    assert_streams_equal(theirs, ours)
    assert len(ours) == 51


def test_publish_inside_multi_replies_in_exec(fresh, pair):
    subscribers = pair(2)
    both_send(subscribers, "SUBSCRIBE", "tx", SENTINEL)
    assert_same(subscribers, 2, "SUBSCRIBE")
    fresh.setup("MULTI", "PUBLISH tx one", "SET k v", "PUBLISH tx two")
    fresh.compare("EXEC")
    theirs, ours = finish_streams(fresh, subscribers)
    assert_streams_equal(theirs, ours)


def test_publish_arity_errors_match_redis(fresh):
    fresh.compare("PUBLISH", "only-channel")
    fresh.compare("PUBLISH", "c", "m", "extra")


# ---- PUBSUB ----

def test_pubsub_introspection_matches_redis(fresh, pair):
    subscribers = pair(3)  # RESP3: PUBSUB may run on the subscribed connection too
    both_send(subscribers, "SUBSCRIBE", "alpha", "beta", "gamma")
    assert_same(subscribers, 3, "SUBSCRIBE")
    both_send(subscribers, "PSUBSCRIBE", "al*", "be*")
    assert_same(subscribers, 2, "PSUBSCRIBE")
    fresh.compare_unordered("PUBSUB", "CHANNELS")
    fresh.compare_unordered("PUBSUB", "CHANNELS", "*a")
    fresh.compare("PUBSUB", "CHANNELS", "al*")
    fresh.compare("PUBSUB", "CHANNELS", "nothing*")
    fresh.compare("PUBSUB", "NUMSUB", "alpha", "delta", "alpha")
    fresh.compare("PUBSUB", "NUMSUB")
    fresh.compare("PUBSUB", "NUMPAT")
    fresh.compare("PUBSUB", "HELP")
    fresh.compare("PUBSUB", "SHARDCHANNELS")
    fresh.compare("PUBSUB", "SHARDNUMSUB", "alpha")
    fresh.compare("PUBSUB", "nosuch")
    fresh.compare("PUBSUB", "CHANNELS", "a", "b")
    fresh.compare("PUBSUB", "NUMPAT", "x")
    fresh.compare("PUBSUB")
    both_send(subscribers, "PUNSUBSCRIBE", "al*")
    assert_same(subscribers, 1, "PUNSUBSCRIBE al*")
    fresh.compare("PUBSUB", "NUMPAT")
    both_send(subscribers, "PUBSUB", "NUMSUB", "beta")
    assert_same(subscribers, 1, "PUBSUB NUMSUB on the subscriber")


def test_info_stats_counts_channels_and_patterns(fresh, pair):
    subscribers = pair(2)
    both_send(subscribers, "SUBSCRIBE", "one", "two")
    assert_same(subscribers, 2, "SUBSCRIBE")
    both_send(subscribers, "PSUBSCRIBE", "p*")
    assert_same(subscribers, 1, "PSUBSCRIBE")
    for side in (fresh.redis, fresh.raftkv):
        text = side("INFO", "stats").decode()
        assert "pubsub_channels:2\r\n" in text
        assert "pubsub_patterns:1\r\n" in text


# ---- notify-keyspace-events ----

@pytest.mark.parametrize("flags", ["KEA", "AKE", "Kg$", "E", "K", "Elshzx", "gl$shzxetd",
                                   "KEAn", "An", "mK", "", "KA"])
def test_config_set_get_notify_keyspace_events_match_redis(fresh, pair, flags):
    pair(2)  # clears the setting afterwards
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", flags)
    fresh.compare("CONFIG", "GET", "notify-keyspace-events")


def test_config_set_notify_keyspace_events_refuses_invalid_flags(fresh, pair):
    pair(2)
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", "KEAy")
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", "kea")
    fresh.compare("CONFIG", "GET", "notify-keyspace-events")


# One script per test: the events redis-server and raftkv send for it must be identical.
NOTIFY_SCRIPTS = {
    "strings": ["SET s v", "SET s w EX 100", "SETNX s x", "SETNX t x", "GETSET s y", "APPEND s z",
                "APPEND new z", "SETRANGE s 1 QQ", "SETRANGE s 0 ''", "INCR n", "INCRBY n 5",
                "DECR n", "DECRBY n 2", "INCRBYFLOAT f 1.5", "MSET a 1 b 2", "MSETNX c 1 d 2",
                "MSETNX c 1 e 2", "GETDEL a", "GETDEL nothing", "SETEX e 100 v", "PSETEX p 100000 v",
                "SET k v GET", "SET k v NX", "SET k2 v XX", "SET k v KEEPTTL", "SETBIT bits 7 1",
                "SETBIT bits 7 1", "BITOP OR dest bits", "BITOP AND dest nothing"],
    "generic": ["SET a 1", "SET b 2", "DEL a b c", "SET x 1", "EXPIRE x 100", "PEXPIRE x 100000",
                "EXPIREAT x 9999999999", "PERSIST x", "PERSIST x", "EXPIRE x 100 NX",
                "EXPIRE x -1", "SET r 1", "RENAME r r2", "RENAMENX r2 r3", "SET r4 1",
                "RENAMENX r3 r4", "RENAME r3 r4", "COPY r4 r5", "COPY r4 r5",
                "COPY r4 r5 REPLACE", "UNLINK r4 r5", "SET g v", "GETEX g EX 100",
                "GETEX g PERSIST", "GETEX g PERSIST", "GETEX g PXAT 1", "EXISTS g"],
    "lists": ["RPUSH l a b c", "LPUSH l z", "LPUSHX l y", "LPUSHX nolist y", "RPUSHX l w",
              "LPOP l", "RPOP l 2", "LSET l 0 q", "LINSERT l BEFORE q p", "LINSERT l AFTER none x",
              "LREM l 0 p", "LREM l 0 none", "LTRIM l 0 -1", "RPUSH m 1 2 3", "LMOVE m l LEFT RIGHT",
              "RPOPLPUSH m m", "LMPOP 1 m RIGHT COUNT 5", "BLPOP l 0", "BRPOP l 0.01",
              "RPUSH t 1", "LTRIM t 1 0", "RPUSH u 1", "LPOP u"],
    "hashes": ["HSET h a 1 b 2", "HSET h a 3", "HSETNX h a 4", "HSETNX h c 5", "HMSET h d 6",
               "HINCRBY h n 2", "HINCRBYFLOAT h f 0.5", "HDEL h a z", "HDEL h zz",
               "HDEL h b c d n f"],
    "sets": ["SADD s a b c", "SADD s a", "SREM s a", "SREM s zz", "SMOVE s t b", "SMOVE s t zz",
             "SADD u x", "SPOP u", "SADD v 1 2 3", "SPOP v 0", "SPOP v 5", "SADD w 1 2",
             "SINTERSTORE i s t", "SUNIONSTORE un s t", "SDIFFSTORE d s t", "SDIFFSTORE d s s",
             "SINTERSTORE i2 s nothing", "SMOVE s t c"],
    "zsets": ["ZADD z 1 a 2 b", "ZADD z 1 a", "ZADD z 3 a", "ZADD z INCR 1 a", "ZINCRBY z 0 a",
              "ZINCRBY z 2 b", "ZADD z XX 5 new", "ZREM z a nothing", "ZREM z nothing",
              "ZADD y 1 p 2 q 3 r 4 s", "ZPOPMIN y", "ZPOPMAX y 1", "ZREMRANGEBYRANK y 0 0",
              "ZADD y 1 a 2 b 3 c", "ZREMRANGEBYSCORE y 1 2", "ZREMRANGEBYLEX y - +",
              "ZADD w 1 a 2 b", "ZUNIONSTORE u 2 z w", "ZINTERSTORE i 2 z w",
              "ZDIFFSTORE d 2 z w", "ZDIFFSTORE d 1 nothing", "ZRANGESTORE r z 0 -1",
              "ZMPOP 1 z MIN", "BZPOPMAX w 0", "BZPOPMIN w 0", "ZPOPMIN w"],
    "new-keys": ["SET a 1", "SET a 2", "RPUSH l x", "RPUSH l y", "HSET h f v", "SADD s m",
                 "ZADD z 1 m", "INCR n", "APPEND ap x", "DEL a", "SET a 3"],
}


@pytest.mark.parametrize("topic", sorted(NOTIFY_SCRIPTS))
def test_keyspace_notifications_match_redis(fresh, pair, topic):
    flags = "KEAn" if topic == "new-keys" else "KEA"
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", flags)
    subscribers = pair(2)
    both_send(subscribers, "PSUBSCRIBE", "__key*__:*")
    assert_same(subscribers, 1, "PSUBSCRIBE")
    both_send(subscribers, "SUBSCRIBE", SENTINEL)
    assert_same(subscribers, 1, "SUBSCRIBE")
    for line in NOTIFY_SCRIPTS[topic]:
        arguments = ["" if word == "''" else word for word in line.split()]
        if arguments[0] == "SPOP":
            fresh.compare_unordered(*arguments)  # which members: random on both sides
        else:
            fresh.compare(*arguments)
    theirs, ours = finish_streams(fresh, subscribers)
    assert_streams_equal(theirs, ours)


@pytest.mark.parametrize("flags", ["Kx", "Ex", "KEg", "E$", "Kl"])
def test_keyspace_notifications_follow_the_classes(fresh, pair, flags):
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", flags)
    subscribers = pair(2)
    both_send(subscribers, "PSUBSCRIBE", "__key*__:*")
    assert_same(subscribers, 1, "PSUBSCRIBE")
    both_send(subscribers, "SUBSCRIBE", SENTINEL)
    assert_same(subscribers, 1, "SUBSCRIBE")
    for line in ["SET s v", "RPUSH l a", "DEL s", "SET e v PX 1"]:
        fresh.compare(*line.split())
    time.sleep(0.5)  # "e" expires: active expiry on both sides
    theirs, ours = finish_streams(fresh, subscribers)
    assert_streams_equal(theirs, ours)


def test_expired_events_from_active_expiry_match_redis(fresh, pair):
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", "KEA")
    subscribers = pair(2)
    both_send(subscribers, "PSUBSCRIBE", "__key*__:*")
    assert_same(subscribers, 1, "PSUBSCRIBE")
    both_send(subscribers, "SUBSCRIBE", SENTINEL)
    assert_same(subscribers, 1, "SUBSCRIBE")
    fresh.compare("SET", "soon", "v", "PX", "100")
    fresh.compare("HSET", "hsoon", "f", "v")
    fresh.compare("PEXPIRE", "hsoon", "150")
    time.sleep(1.0)  # both delete them by active expiry, raftkv through a raft.expire entry
    theirs, ours = finish_streams(fresh, subscribers)
    # Redis's active expiry samples keys at random; raftkv's deletes them in deadline order:
    # the same events, the expired ones in either order.
    assert_streams_equal(sorted(theirs), sorted(ours))
    assert any(b"expired" in reply for reply in ours)


def test_expired_event_before_a_write_replaces_an_expired_key(fresh, pair):
    """A write that finds the key expired deletes it ("expired"), then does its own work."""
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", "KEA")
    fresh.setup("DEBUG SET-ACTIVE-EXPIRE 0", check=False)  # redis: no active expiry meanwhile
    subscribers = pair(2)
    both_send(subscribers, "PSUBSCRIBE", "__keyevent@0__:*")
    assert_same(subscribers, 1, "PSUBSCRIBE")
    both_send(subscribers, "SUBSCRIBE", SENTINEL)
    assert_same(subscribers, 1, "SUBSCRIBE")
    try:
        # raftkv's sweep could still delete the key first: the events are the same then,
        # "expired" before "set", which is what the test pins.
        fresh.compare("SET", "k", "v", "PX", "50")
        time.sleep(0.2)
        fresh.compare("SET", "k", "w")
        theirs, ours = finish_streams(fresh, subscribers)
    finally:
        fresh.redis("DEBUG", "SET-ACTIVE-EXPIRE", "1")
    assert_streams_equal(theirs, ours)


def test_notifications_come_with_published_messages_in_log_order(fresh, pair):
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", "E$")
    subscribers = pair(2)
    both_send(subscribers, "SUBSCRIBE", "__keyevent@0__:set", "chat", SENTINEL)
    assert_same(subscribers, 3, "SUBSCRIBE")
    for i in range(10):
        fresh.compare("SET", "k%d" % i, "v")
        fresh.compare("PUBLISH", "chat", "after %d" % i)
    theirs, ours = finish_streams(fresh, subscribers)
    assert_streams_equal(theirs, ours)


def test_config_get_star_includes_notify_keyspace_events(fresh, pair):
    pair(2)
    fresh.compare("CONFIG", "SET", "notify-keyspace-events", "Kl")
    reply = fresh.raftkv("CONFIG", "GET", "*")
    assert b"$22\r\nnotify-keyspace-events\r\n$2\r\nlK\r\n" in reply  # Redis's order
