"""test_compat_resp3.py — the same commands over RESP3 (HELLO 3) to redis-server 7.0 and to a
raftkv leader, the raw replies compared byte for byte: the shapes RESP3 adds (maps for
HGETALL, sets for SMEMBERS and the set algebra, [member, score] pairs for WITHSCORES and
ZPOPMIN with a count, doubles for scores, the null "_") and those it leaves flat (ZSCAN, with
its scores as bulk strings; ZPOPMIN without a count; BZPOPMIN).
"""

import pytest

from compat import Connection, compat, fresh, redis_server  # noqa: F401 -- pytest fixtures


@pytest.fixture
def resp3(fresh):
    """A RESP3 connection to each side (after HELLO 3), the database flushed."""
    leader = fresh.cluster.node(fresh.cluster.wait_for_leader())
    connections = (Connection("127.0.0.1", fresh.redis_server.port),
                   Connection(leader.host, leader.client_port))
    for connection in connections:
        assert connection.command(["HELLO", "3"]).startswith(b"%")
    yield connections
    for connection in connections:
        connection.close()


# One script per test: run on both sides in order, every reply compared. Sets and maps of one
# element (or whose order both sides share) keep the comparison byte-exact.
SCRIPTS = {
    "hash": ["HSET h f v", "HGETALL h", "HGETALL missing", "HRANDFIELD h 1 WITHVALUES",
             "HRANDFIELD h -2 WITHVALUES", "HRANDFIELD h 5", "HKEYS h", "HVALS h",
             "HSCAN h 0", "HINCRBYFLOAT h n 1.5"],
    "set": ["SADD s m", "SMEMBERS s", "SMEMBERS missing", "SINTER s", "SUNION s missing",
            "SDIFF s missing", "SRANDMEMBER s 1", "SRANDMEMBER s -2", "SPOP s 1", "SPOP s 1",
            "SSCAN missing 0", "SADD t a", "SPOP t"],
    "zset": ["ZADD z 1 a 2.5 b", "ZRANGE z 0 -1 WITHSCORES", "ZRANGE z 0 -1",
             "ZREVRANGEBYSCORE z +inf -inf WITHSCORES", "ZRANGE z (1 +inf BYSCORE WITHSCORES",
             "ZSCORE z b", "ZSCORE z none", "ZMSCORE z a none", "ZINCRBY z 1 a",
             "ZADD z INCR 1 a", "ZUNION 1 z WITHSCORES", "ZINTER 1 z WITHSCORES",
             "ZDIFF 1 z WITHSCORES", "ZADD one 5 m", "ZRANDMEMBER one -2 WITHSCORES", "ZSCAN z 0",
             "ZPOPMIN z", "ZPOPMAX z 1", "ZADD y 1 c 2 d", "ZPOPMIN y 5", "ZPOPMIN y 1",
             "ZADD x 1 e", "ZMPOP 1 x MIN", "ZADD w 3 f", "BZPOPMIN w 0", "BZPOPMIN w 0.01"],
    "lists": ["RPUSH l a b", "LPOP l 5", "LPOP l 5", "LPOP missing", "BLPOP missing 0.01",
              "RPUSH l c", "BLMPOP 0.01 1 l LEFT COUNT 2", "LRANGE missing 0 -1"],
    "strings": ["SET k v", "GET k", "GET missing", "MGET k missing", "INCRBYFLOAT n 0.1",
                "TTL missing", "TYPE k"],
}


@pytest.mark.parametrize("topic", sorted(SCRIPTS))
def test_resp3_replies_match_redis(resp3, topic):
    redis_side, raftkv_side = resp3
    for line in SCRIPTS[topic]:
        arguments = line.split()
        ours = raftkv_side.command(arguments)
        theirs = redis_side.command(arguments)
        assert ours == theirs, "RESP3 %s: redis-server %r, raftkv %r" % (line, theirs, ours)
