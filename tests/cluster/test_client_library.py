"""test_client_library.py — an application's view: redis-py's RedisCluster (cluster mode, as
ioredis and node-redis use raftkv too), pointed at any node, reads COMMAND to route by key and
asks COMMAND GETKEYS for the commands whose keys follow a numkeys argument; every data type,
blocking pops and expiry must work through it unchanged.
"""

import time

import pytest
from redis.cluster import RedisCluster

from harness import Cluster


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cluster = Cluster(3, root=str(tmp_path_factory.mktemp("client")))
    cluster.start()
    leader = cluster.wait_for_leader()
    follower = next(i for i in cluster.ids() if i != leader)
    node = cluster.node(follower)
    client = RedisCluster(host=node.host, port=node.client_port, socket_timeout=10)
    yield client
    client.close()
    cluster.close()


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
