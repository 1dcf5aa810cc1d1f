"""test_compat_multi.py — MULTI / EXEC / DISCARD side by side with redis-server 7.0, raw replies
compared byte for byte on one connection per side: queued commands answer +QUEUED, EXEC
answers every command's reply in order (errors inside included, the others still applied),
a command refused while queueing makes EXEC answer EXECABORT and run nothing, and the errors
of EXEC / DISCARD without MULTI and of a nested MULTI. raftkv applies the whole transaction as
one log entry; a transaction of reads only is served as one read.
"""

import pytest

from compat import compat, fresh, redis_server  # noqa: F401 -- pytest fixtures

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
