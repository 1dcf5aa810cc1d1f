"""test_server_reads.py — reads from every node: READONLY connections get linearizable reads on
followers (the follower asks the leader for a read index), RAFT.CONSISTENCY chooses lease or
stale reads per connection, and redis-py's RedisCluster(read_from_replicas=True) spreads its
reads over all three nodes.

Happy path: one 3-node cluster for the module; writes go through the leader, and each read
right after a write, on a follower, must see it (a stale read could not, every time).

Failure modes: assertions name the node, the mode and the value read.
"""

import pytest
import redis
from redis.cluster import RedisCluster

from harness import Cluster, parse_fields

ROUNDS = 200  # write-then-read-on-a-follower rounds per mode
SPREAD_READS = 600


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(3, root=str(tmp_path_factory.mktemp("reads")))
    cluster.start()
    cluster.wait_for_leader()
    yield cluster
    cluster.close()


def follower_reader(cluster, node_id, mode=None):
    client = cluster.client(node_id)
    assert client.execute_command("READONLY") is True
    if mode is not None:
        assert client.execute_command("RAFT.CONSISTENCY", mode) == b"OK"
    return client


def gets_on(cluster, node_id):
    stats = cluster.info(node_id, "commandstats")
    return int(parse_fields(stats["cmdstat_get"])["calls"]) if "cmdstat_get" in stats else 0


@pytest.mark.parametrize("mode", [None, "linearizable", "lease"])
def test_a_follower_read_sees_the_write_just_acknowledged(cluster, mode):
    leader = cluster.wait_for_leader()
    writer = cluster.client(leader)
    readers = [follower_reader(cluster, i, mode) for i in cluster.ids() if i != leader]
    for i in range(ROUNDS):
        value = "v%d" % i
        assert writer.set("fresh", value) is True
        for reader in readers:
            got = reader.get("fresh")
            assert got == value.encode(), "round %d (%s): a follower read %r after %r was " \
                "acknowledged" % (i, mode or "default", got, value)


def test_raft_consistency_answers_and_refuses_like_redis_commands(cluster):
    client = cluster.client(cluster.wait_for_leader())
    assert client.execute_command("RAFT.CONSISTENCY") == b"linearizable"
    for mode in ("lease", "STALE", "Linearizable"):
        assert client.execute_command("RAFT.CONSISTENCY", mode) == b"OK"
        assert client.execute_command("RAFT.CONSISTENCY") == mode.lower().encode()
    with pytest.raises(redis.ResponseError, match="^RAFT.CONSISTENCY takes LINEARIZABLE, "
                                                  "LEASE or STALE$"):
        client.execute_command("RAFT.CONSISTENCY", "eventual")
    with pytest.raises(redis.ResponseError, match="^wrong number of arguments for "
                                                  "'raft.consistency' command$"):
        client.execute_command("RAFT.CONSISTENCY", "lease", "stale")
    client.execute_command("RAFT.CONSISTENCY", "stale")
    assert client.execute_command("RESET") in (b"RESET", "RESET")
    assert client.execute_command("RAFT.CONSISTENCY") == b"linearizable"


def test_a_follower_without_readonly_still_redirects_reads(cluster):
    leader = cluster.wait_for_leader()
    follower = next(i for i in cluster.ids() if i != leader)
    client = cluster.client(follower)
    client.execute_command("RAFT.CONSISTENCY", "lease")
    with pytest.raises(redis.ResponseError, match="^MOVED "):
        client.get("k")
    assert client.execute_command("READWRITE") is True
    with pytest.raises(redis.ResponseError, match="^MOVED "):
        client.get("k")


def test_stale_reads_are_served_by_the_follower_itself(cluster):
    leader = cluster.wait_for_leader()
    cluster.client(leader).set("settled", "yes")
    cluster.wait_applied()
    for node_id in cluster.ids():
        assert follower_reader(cluster, node_id, "stale").get("settled") == b"yes"


def test_redis_cluster_read_from_replicas_spreads_reads_over_every_node(cluster):
    leader = cluster.wait_for_leader()
    node = cluster.node(leader)
    client = RedisCluster(host=node.host, port=node.client_port, socket_timeout=10,
                          read_from_replicas=True)
    try:
        client.set("spread", "x")
        before = {i: gets_on(cluster, i) for i in cluster.ids()}
        for _ in range(SPREAD_READS):
            assert client.get("spread") == b"x"
        served = {i: gets_on(cluster, i) - before[i] for i in cluster.ids()}
    finally:
        client.close()
    assert sum(served.values()) >= SPREAD_READS
    # redis-py rotates over the primary and its replicas: each node takes a fair share.
    for node_id, count in served.items():
        assert count >= SPREAD_READS // 6, "node %d served only %d of %d reads: %s" % (
            node_id, count, SPREAD_READS, served)


def test_follower_reads_setting_serves_plain_clients_on_followers(tmp_path):
    """--follower-reads yes: a client that sends no READONLY (a load balancer's, a plain
    library's) reads on a follower as if it had, linearizably; writes still redirect, and
    READWRITE turns it off for that connection."""
    cluster = Cluster(3, root=str(tmp_path / "follower-reads"), extra_args=("--follower-reads",
                                                                          "yes"))
    cluster.start()
    try:
        leader = cluster.wait_for_leader()
        writer = cluster.client(leader)
        follower = next(i for i in cluster.ids() if i != leader)
        reader = cluster.client(follower)
        for i in range(50):
            writer.set("plain", i)
            assert reader.get("plain") == str(i).encode()
        with pytest.raises(redis.ResponseError, match="^MOVED "):
            reader.set("plain", "from a follower")
        assert reader.execute_command("READWRITE") is True
        with pytest.raises(redis.ResponseError, match="^MOVED "):
            reader.get("plain")
        assert int(cluster.raft_info(follower)["raft_follower_reads"]) >= 50
    finally:
        cluster.close()
