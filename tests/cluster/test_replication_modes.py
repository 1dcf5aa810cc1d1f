"""The lecture's replication modes (--replication raft|naive|lww; src/replica): Raft is the
default, the unsafe foils say so in every INFO section, in RAFT.INFO and in the log, a data
directory made by one mode is refused by every other, and peers of different modes refuse each
other in the handshake. What the foils get wrong under faults is tests/lecture/lecture.py's
(cluster_lecture); here, only their rules and their happy path.
"""

import time

import pytest
import redis

import harness

WARNING = "replication_warning:UNSAFE lecture mode"


def foil_cluster(mode, size=3):
    return harness.Cluster(size, extra_args=["--replication", mode])


def wait_linked(cluster, pairs=None):
    """Until each node logged its links to the others up (a foil drops what it sends before)."""
    ids = cluster.ids()
    pairs = pairs or [(a, b) for a in ids for b in ids if a != b]
    harness.wait_until(
        lambda: all("peer %d connected" % b in cluster.logs(a) for a, b in pairs),
        what="the peer links %s" % pairs)


def wait_value(client, key, value, timeout_s=5.0):
    harness.wait_until(lambda: client.get(key) == value, timeout_s=timeout_s,
                       what="%s to be %r" % (key, value))


def test_raft_is_the_default_and_warns_nothing():
    cluster = harness.Cluster(3).start()
    try:
        leader = cluster.wait_for_leader()
        client = cluster.client(leader)
        assert client.config_get("replication") == {"replication": "raft"}
        text = cluster.raw_command(leader, "INFO", "everything").decode()
        assert "replication_mode" not in text
        assert "replication_warning" not in text
        assert "UNSAFE" not in cluster.logs(leader)
    finally:
        cluster.close()


def test_naive_warns_in_every_info_section_raft_info_and_the_log():
    cluster = foil_cluster("naive").start()
    try:
        for section in ("default", "server", "raft", "replication", "keyspace", "everything"):
            text = cluster.raw_command(1, "INFO", section).decode()
            sections = [part for part in text.split("\r\n\r\n") if part.strip()]
            assert sections, section
            for part in sections:
                assert "replication_mode:naive" in part, (section, part[:80])
                assert WARNING + " 'naive'" in part, (section, part[:80])
        raft_info = cluster.raw_command(1, "RAFT.INFO").decode()
        assert "replication_mode:naive" in raft_info
        assert cluster.info(1, "replication")["role"] == "master"
        time.sleep(1.5)  # three election timeouts: a core that ran would have campaigned
        for node_id in cluster.ids():
            raft = cluster.raft_info(node_id)
            assert (raft["raft_role"], raft["raft_term"]) == ("follower", 0), raft
        with pytest.raises(redis.ResponseError, match="RAFT.BACKUP needs Raft"):
            cluster.raw_command(1, "RAFT.BACKUP")
        log = cluster.logs(1)
        assert "WARNING: --replication naive is one of the lecture's UNSAFE foils" in log
    finally:
        cluster.close()


def test_naive_takes_writes_anywhere_and_sends_them_to_every_sibling():
    cluster = foil_cluster("naive").start()
    try:
        wait_linked(cluster)
        clients = {i: cluster.client(i) for i in cluster.ids()}
        assert clients[2].set("k", "from-2") is True
        assert clients[3].rpush("list", "a", "b") == 2  # any command: the same kv apply code
        for client in clients.values():
            wait_value(client, "k", b"from-2")
            harness.wait_until(lambda c=client: c.lrange("list", 0, -1) == [b"a", b"b"],
                               what="the list on every node")
    finally:
        cluster.close()


def test_naive_keeps_its_only_copy_across_kill_9_and_expires_by_the_wall_clock():
    cluster = foil_cluster("naive").start()
    try:
        wait_linked(cluster)
        cluster.client(1).set("durable", "yes")
        cluster.kill(1)
        cluster.start_node(1)
        assert cluster.client(1).get("durable") == b"yes"
        probes = iter(range(1000))  # until node 2's writes reach the restarted node again

        def reached():
            value = str(next(probes))
            cluster.client(2).set("probe", value)
            time.sleep(0.05)
            return cluster.client(1).get("probe") == value.encode()
        harness.wait_until(reached, what="node 2's writes to reach node 1")
        cluster.client(2).set("brief", "x", px=200)
        time.sleep(0.4)  # no write since: the key expires by the wall clock, not by a write
        assert [cluster.client(i).get("brief") for i in cluster.ids()] == [None] * 3
    finally:
        cluster.close()


def test_lww_takes_whole_key_string_writes_and_refuses_the_rest():
    cluster = foil_cluster("lww").start()
    try:
        wait_linked(cluster)
        one, two = cluster.client(1), cluster.client(2)
        assert one.set("s", "v") is True
        assert one.incrby("n", 5) == 5
        assert two.append("s", "w") in (1, 2)  # 2 once "v" arrived, 1 if it had not yet
        with pytest.raises(redis.ResponseError, match="lww mode takes only whole-key string"):
            one.lpush("l", "x")
        with pytest.raises(redis.ResponseError, match="without options"):
            one.set("s", "v", nx=True)
        with pytest.raises(redis.ResponseError, match="not an integer"):
            one.incr("s")
        wait_value(cluster.client(3), "n", b"5")
        assert one.delete("n") == 1
        for node_id in cluster.ids():
            harness.wait_until(lambda i=node_id: cluster.client(i).get("n") is None,
                               what="the delete on node %d" % node_id)
        assert "replication_mode:lww" in cluster.raw_command(3, "INFO", "server").decode()
    finally:
        cluster.close()


def test_a_data_directory_of_another_mode_is_refused():
    cluster = harness.Cluster(1)
    try:
        cluster.node(1).extra_args = ["--replication", "naive"]
        cluster.start()
        cluster.stop(1)
        for other in ("lww", "raft"):
            cluster.node(1).extra_args = ["--replication", other]
            with pytest.raises(harness.NodeExitError):
                cluster.start_node(1)
            assert "was made by replication mode 'naive'; this node runs '%s'" % other \
                in cluster.logs(1)
        cluster.node(1).extra_args = ["--replication", "naive"]
        cluster.start_node(1)  # its own mode opens it
    finally:
        cluster.close()


def test_a_raft_data_directory_is_refused_by_a_foil():
    cluster = harness.Cluster(1).start()
    try:
        cluster.wait_for_leader()
        cluster.client(1).set("raft-data", "1")
        cluster.stop(1)
        cluster.node(1).extra_args = ["--replication", "lww"]
        with pytest.raises(harness.NodeExitError):
            cluster.start_node(1)
        assert "made by replication mode 'raft'" in cluster.logs(1)
        cluster.node(1).extra_args = []
        cluster.start_node(1)
        cluster.wait_for_leader()
        assert cluster.client(1).get("raft-data") == b"1"
    finally:
        cluster.close()


def test_peers_of_different_modes_refuse_each_other():
    cluster = harness.Cluster(3)
    try:
        for node_id in (1, 2):
            cluster.node(node_id).extra_args = ["--replication", "naive"]
        cluster.node(3).extra_args = ["--replication", "lww"]
        cluster.start()
        harness.wait_until(
            lambda: any("running replication mode" in cluster.logs(i) for i in cluster.ids()),
            what="a handshake refused for its mode")
        text = "\n".join(cluster.logs(i) for i in cluster.ids())
        assert ("running replication mode naive, ours is lww" in text or
                "running replication mode lww, ours is naive" in text)
        wait_linked(cluster, [(1, 2), (2, 1)])
        cluster.client(1).set("k", "v")
        wait_value(cluster.client(2), "k", b"v")
        time.sleep(0.5)
        assert cluster.client(3).get("k") is None  # never reached the node of another mode
    finally:
        cluster.close()


def test_every_foil_node_claims_to_be_the_master_of_every_slot():
    cluster = foil_cluster("naive").start()
    try:
        for node_id in cluster.ids():
            node = cluster.node(node_id)
            slots = cluster.raw_command(node_id, "CLUSTER", "SLOTS")
            assert slots[0][2][1] == node.client_port  # itself, for all 16384 slots
            nodes = cluster.raw_command(node_id, "CLUSTER", "NODES").decode()
            assert "myself,master" in nodes
            hello = cluster.raw_command(node_id, "HELLO", "2")
            assert hello[hello.index(b"role") + 1] == b"master"
    finally:
        cluster.close()
