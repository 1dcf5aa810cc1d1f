"""test_compat_multi.py — MULTI / EXEC / DISCARD side by side with redis-server 7.0, raw replies
compared byte for byte on one connection per side: queued commands answer +QUEUED, EXEC
answers every command's reply in order (errors inside included, the others still applied),
a command refused while queueing makes EXEC answer EXECABORT and run nothing, and the errors
of EXEC / DISCARD without MULTI and of a nested MULTI. raftkv applies the whole transaction as
one log entry; a transaction of reads only is served as one read.

WATCH: the scripts run on two connections per side ("@ " marks the second one's commands), so
that another client's change aborts EXEC with a null array — and one's own change too, as in
Redis; what counts as a change (a write that changes nothing does not; an expiry does; a
deletion of an expired key does not) is compared with redis-server's judgement.
"""

import time

import pytest

from compat import (Connection, LeaderConnection, command_arguments, compat,  # noqa: F401
                    fresh, redis_server)

SCRIPTS = {
    "writes and reads": ["MULTI", "SET a 1", "INCR a", "INCRBY a 5", "GET a", "LPUSH l x",
                         "LRANGE l 0 -1", "EXEC", "GET a"],
    "an error inside does not stop the others": ["SET s text", "MULTI", "INCR s",
                                                 "SET t 2", "LPUSH s x", "GET t", "EXEC",
                                                 "GET t", "GET s"],
    "queueing errors abort": ["MULTI", "SET a 1", "NOSUCHCOMMAND x", "SET b 2", "EXEC",
                              "EXISTS a b"],
    "arity errors abort": ["MULTI", "SET a", "GET", "EXEC", "EXISTS a"],
    "discard": ["MULTI", "SET a 1", "DISCARD", "EXISTS a", "DISCARD", "EXEC"],
    "without multi and nested": ["EXEC", "DISCARD", "MULTI", "MULTI", "SET a 1", "EXEC",
                                 "GET a"],
    "empty": ["MULTI", "EXEC"],
    "ping and echo inside": ["MULTI", "PING", "PING hello", "ECHO e", "PING a b", "SET a 1",
                             "EXEC", "PING"],
    "reads only": ["SET a 1", "RPUSH l a b", "MULTI", "GET a", "LRANGE l 0 -1", "EXISTS a l z",
                   "EXEC"],
    "every type at once": ["MULTI", "HSET h f v", "SADD s m", "ZADD z 1 m", "RPUSH q j",
                           "SET k v EX 100", "TTL k", "HGETALL h", "SMEMBERS s",
                           "ZRANGE z 0 -1 WITHSCORES", "LPOP q", "EXEC"],
    "blocking commands do not wait": ["MULTI", "BLPOP nothing 0", "BLMOVE nothing d LEFT "
                                      "RIGHT 0", "BZPOPMIN nothing 0", "RPUSH q a",
                                      "BLPOP q 0", "EXEC"],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_transactions_as_redis(fresh, name):
    fresh.compare_many(SCRIPTS[name])


# "@ " runs on the second connection; "sleep N" waits N seconds on both sides.
WATCH_SCRIPTS = {
    "unchanged key": ["SET x 30", "WATCH x", "GET x", "MULTI", "INCR x", "EXEC", "GET x"],
    "changed by another client": ["SET x 30", "WATCH x", "@ SET x 40", "MULTI", "INCR x",
                                  "EXEC", "GET x"],
    "changed by the same client": ["SET x 30", "WATCH x", "SET x 40", "MULTI", "INCR x",
                                   "EXEC", "GET x"],
    "one key of several": ["MSET a 1 b 2 c 3", "WATCH a b c", "@ SET b 5", "MULTI", "GET a",
                           "EXEC"],
    "absent then created": ["WATCH x", "@ SET x 1", "MULTI", "SET x 2", "EXEC", "GET x"],
    "absent and still absent": ["WATCH x", "@ GET x", "MULTI", "SET x 2", "EXEC", "GET x"],
    "deleted": ["SET x 1", "WATCH x", "@ DEL x", "MULTI", "SET y 1", "EXEC", "EXISTS y"],
    "a failed write is no change": ["SET x 1", "WATCH x", "@ SETNX x 2", "@ LPUSH x a",
                                    "MULTI", "SET y 1", "EXEC"],
    "a deletion of nothing is no change": ["WATCH x", "@ DEL x", "MULTI", "SET y 1", "EXEC"],
    "expire touches": ["SET x 1", "WATCH x", "@ EXPIRE x 100", "MULTI", "GET x", "EXEC"],
    "persist of no ttl is no change": ["SET x 1", "WATCH x", "@ PERSIST x", "MULTI", "GET x",
                                       "EXEC"],
    "hash field update": ["HSET h f 1", "WATCH h", "@ HSET h f 1", "MULTI", "HGET h f",
                          "EXEC"],
    "hash increment": ["HSET h f 1", "WATCH h", "@ HINCRBY h f 1", "MULTI", "HGET h f", "EXEC"],
    "hash delete of a missing field": ["HSET h f 1", "WATCH h", "@ HDEL h nope", "MULTI",
                                       "HGET h f", "EXEC"],
    "list set": ["RPUSH l a b", "WATCH l", "@ LSET l 0 z", "MULTI", "LRANGE l 0 -1", "EXEC"],
    "list pop to empty": ["RPUSH l a", "WATCH l", "@ LPOP l", "MULTI", "LLEN l", "EXEC"],
    "set add of a member it has": ["SADD s a", "WATCH s", "@ SADD s a", "MULTI", "SCARD s",
                                   "EXEC"],
    "set add": ["SADD s a", "WATCH s", "@ SADD s b", "MULTI", "SCARD s", "EXEC"],
    "zset score change": ["ZADD z 1 a", "WATCH z", "@ ZADD z 2 a", "MULTI", "ZSCORE z a",
                          "EXEC"],
    "zset same score": ["ZADD z 1 a", "WATCH z", "@ ZADD z 1 a", "MULTI", "ZSCORE z a", "EXEC"],
    "zset increment": ["ZADD z 1 a", "WATCH z", "@ ZINCRBY z 5 a", "MULTI", "ZSCORE z a",
                       "EXEC"],
    "rename onto the key": ["SET x 1", "SET y 2", "WATCH y", "@ RENAME x y", "MULTI", "GET y",
                            "EXEC"],
    "rename away from the key": ["SET x 1", "WATCH x", "@ RENAME x y", "MULTI", "GET y",
                                 "EXEC"],
    "flushall touches what exists": ["SET x 1", "WATCH x", "@ FLUSHALL", "MULTI", "GET x",
                                     "EXEC"],
    "flushall does not touch what is absent": ["DEL x", "WATCH x", "@ FLUSHALL", "MULTI",
                                               "GET x", "EXEC"],
    "an expiry between WATCH and EXEC": ["SET x 1 PX 300", "WATCH x", "sleep 0.6", "MULTI",
                                         "GET x", "EXEC"],
    "a key already expired when watched": ["SET x 1 PX 100", "sleep 0.3", "WATCH x", "MULTI",
                                           "GET y", "EXEC"],
    "exec unwatches": ["SET x 1", "WATCH x", "MULTI", "GET x", "EXEC", "@ SET x 2", "MULTI",
                       "GET x", "EXEC"],
    "an aborted exec unwatches": ["SET x 1", "WATCH x", "@ SET x 2", "MULTI", "GET x", "EXEC",
                                  "@ SET x 3", "MULTI", "GET x", "EXEC"],
    "unwatch": ["SET x 1", "WATCH x", "UNWATCH", "@ SET x 2", "MULTI", "GET x", "EXEC",
                "UNWATCH"],
    "discard unwatches": ["SET x 1", "WATCH x", "MULTI", "GET x", "DISCARD", "@ SET x 2",
                          "MULTI", "GET x", "EXEC"],
    "watch inside multi": ["MULTI", "WATCH x", "SET x 1", "EXEC", "GET x"],
    "watch arity": ["WATCH", "UNWATCH x"],
    "an empty transaction with a change": ["SET x 1", "WATCH x", "@ SET x 2", "MULTI", "EXEC"],
    "an empty transaction without": ["SET x 1", "WATCH x", "MULTI", "EXEC"],
    "a read-only transaction aborted": ["SET x 1", "WATCH x", "@ INCR x", "MULTI", "GET x",
                                        "EXEC"],
    "queueing errors still abort": ["SET x 1", "WATCH x", "MULTI", "NOSUCH", "GET x", "EXEC"],
    "watched twice": ["SET x 1", "WATCH x", "@ SET x 2", "WATCH x", "MULTI", "GET x", "EXEC"],
}


class _SecondClient:
    """The second connection on each side."""

    def __init__(self, compat):
        self.redis = Connection(compat.redis_server.host, compat.redis_server.port)
        self.raftkv = LeaderConnection(compat.cluster)

    def close(self):
        self.redis.close()
        self.raftkv.close()


@pytest.mark.parametrize("name", sorted(WATCH_SCRIPTS))
def test_watch_as_redis(fresh, name):
    other = _SecondClient(fresh)
    try:
        for step in WATCH_SCRIPTS[name]:
            if step.startswith("sleep "):
                time.sleep(float(step.split()[1]))
            elif step.startswith("@ "):
                arguments = command_arguments(step[2:])
                redis_reply = other.redis.command(arguments)
                raftkv_reply = other.raftkv.command(arguments)
                assert raftkv_reply == redis_reply, (step, redis_reply, raftkv_reply)
            else:
                fresh.compare(*command_arguments(step))
    finally:
        other.close()
