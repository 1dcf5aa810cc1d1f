"""test_client_library.py — an application's view: redis-py's RedisCluster (cluster mode, as
ioredis and node-redis use raftkv too), pointed at any node, reads COMMAND to route by key and
asks COMMAND GETKEYS for the commands whose keys follow a numkeys argument; every data type,
blocking pops and expiry must work through it unchanged. And the optimistic-locking pattern
of redis-py's transaction() (WATCH, read, MULTI, write, EXEC, retried on a null reply), run by
several threads at once on one counter, must lose no increment.
"""

import threading
import time

import pytest
import redis
from redis.cluster import RedisCluster

from harness import Cluster

WATCH_THREADS = 4
WATCH_INCREMENTS = 40  # per thread
WATCH_DEADLINE_S = 120


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(3, root=str(tmp_path_factory.mktemp("client")))
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def client(cluster):
    leader = cluster.wait_for_leader()
    follower = next(i for i in cluster.ids() if i != leader)
    node = cluster.node(follower)
    client = RedisCluster(host=node.host, port=node.client_port, socket_timeout=10)
    yield client
    client.close()


def test_every_type_through_a_cluster_client(client):
    assert client.set("{app}:session", "token", ex=60)
    assert 55 <= client.ttl("{app}:session") <= 60
    client.hset("{app}:user", mapping={"name": "ann", "visits": 1})
    assert client.hincrby("{app}:user", "visits", 2) == 3
    assert client.hgetall("{app}:user") == {b"name": b"ann", b"visits": b"3"}
    client.rpush("{app}:queue", "job1", "job2")
    assert client.lpop("{app}:queue") == b"job1"
    client.sadd("{app}:tags", "a", "b", "c")
    assert client.scard("{app}:tags") == 3
    client.zadd("{app}:board", {"ann": 10, "bob": 20})
    assert client.zrevrange("{app}:board", 0, 0, withscores=True) == [(b"bob", 20.0)]
    assert client.zunionstore("{app}:copy", ["{app}:board"]) == 2
    assert client.lmpop(1, "{app}:queue", direction="LEFT") == [b"{app}:queue", [b"job2"]]
    assert sorted(client.keys("{app}:*")) == sorted([b"{app}:session", b"{app}:user",
                                                     b"{app}:tags", b"{app}:board",
                                                     b"{app}:copy"])


def test_blocking_pops_and_expiry_through_a_cluster_client(client):
    assert client.blpop("{q}:empty", timeout=0.2) is None
    client.rpush("{q}:full", "x")
    assert client.blmpop(1, 1, "{q}:full", direction="RIGHT") == [b"{q}:full", [b"x"]]
    client.zadd("{q}:z", {"m": 1})
    assert client.bzpopmin("{q}:z", timeout=1) == (b"{q}:z", b"m", 1.0)
    client.set("{q}:short", "v", px=300)
    time.sleep(0.5)
    assert client.get("{q}:short") is None
    assert client.exists("{q}:short") == 0


def test_watch_transactions_lose_no_increment(cluster):
    node = cluster.node(cluster.wait_for_leader())
    deadline = time.monotonic() + WATCH_DEADLINE_S
    aborted = []
    failures = []

    def worker():
        connection = redis.Redis(host=node.host, port=node.client_port, socket_timeout=10)
        retries = [0]

        def increment(pipe):
            value = pipe.get("watched:counter")
            pipe.multi()
            pipe.set("watched:counter", int(value or 0) + 1)

        def counting(pipe):
            retries[0] += 1
            if time.monotonic() > deadline:
                raise TimeoutError("the transactions did not finish in time")
            increment(pipe)

        try:
            for _ in range(WATCH_INCREMENTS):
                connection.transaction(counting, "watched:counter")
        except Exception as error:  # reported below, with the thread's count
            failures.append(repr(error))
        finally:
            aborted.append(retries[0] - WATCH_INCREMENTS)
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(WATCH_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WATCH_DEADLINE_S + 10)
    assert not failures, failures
    final = redis.Redis(host=node.host, port=node.client_port, socket_timeout=10)
    assert int(final.get("watched:counter")) == WATCH_THREADS * WATCH_INCREMENTS
    final.close()
    # Concurrent read-modify-writes on one key must have collided: WATCH did abort some.
    assert sum(aborted) > 0, aborted
