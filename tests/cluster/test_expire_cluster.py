"""test_expire_cluster.py — time to live on a real cluster: a key with a TTL disappears on every
node (deleted by the leader's active-expiry entries, never by a follower alone), its deadline
survives a leader failover and a snapshot install unchanged, and a leader whose wall clock is
shifted by minutes (libfaketime, forward and back) moves no acknowledged deadline by more than
the documented bound (design note 10: 1 s, plus an apply's delay).

Deadlines are compared as absolute times (PEXPIRETIME), which every replica stores identically;
TTLs read on a node are compared with this process's clock within BOUND_MS. Every wait is
bounded; every process is stopped at the end.
"""

import os
import time

import pytest
import redis

from harness import Cluster, parse_fields, wait_until

FAKETIME_LIBRARY = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CORRECTION_MS = 1000  # server/clock.c's CLOCK_MAX_CORRECTION_MS
BOUND_MS = CORRECTION_MS + 500  # plus apply and round trips on a loaded 2-core machine
SHIFT_S = 300  # the nemesis: five minutes


def now_ms():
    return int(time.time() * 1000)


def readonly_client(cluster, node_id):
    client = cluster.client(node_id)
    client.execute_command("READONLY")
    client.execute_command("RAFT.CONSISTENCY", "stale")  # this node's own state
    return client


def transfer_to(cluster, node_id):
    """Makes node_id the leader (RAFT.TRANSFER-LEADER), waiting until every node agrees."""
    def done():
        leader = cluster.wait_for_leader()
        if leader == node_id:
            return True
        try:
            cluster.client(leader).execute_command("RAFT.TRANSFER-LEADER", node_id)
        except redis.ResponseError:
            pass
        time.sleep(0.3)
        return cluster.wait_for_leader() == node_id
    wait_until(done, timeout_s=30, what="node %d to lead" % node_id)


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(3, root=str(tmp_path), snapshot_entries=200)
    yield cluster
    cluster.close()


def test_a_key_expires_on_every_node(cluster):
    cluster.start()
    leader = cluster.client(cluster.wait_for_leader())
    leader.set("short", "v", px=800)
    leader.set("long", "v", ex=600)
    leader.set("kept", "v")
    cluster.wait_applied()
    for node_id in cluster.ids():
        assert readonly_client(cluster, node_id).exists("short") == 1

    def gone_everywhere():
        return all(readonly_client(cluster, i).exists("short") == 0 for i in cluster.ids())
    # Followers delete nothing by themselves: the leader's raft.expire entry does it.
    wait_until(gone_everywhere, timeout_s=10, what="the expired key to go on every node")
    for node_id in cluster.ids():
        reader = readonly_client(cluster, node_id)
        assert reader.dbsize() == 2, "node %d: only the expired key is deleted" % node_id
        assert reader.exists("long", "kept") == 2
    stats = cluster.info(cluster.wait_for_leader(), "stats")
    assert int(stats["expired_keys"]) >= 1
    keyspace = parse_fields(cluster.info(cluster.wait_for_leader(), "keyspace")["db0"])
    assert keyspace["keys"] == 2 and keyspace["expires"] == 1, keyspace


def test_deadlines_survive_failover_and_snapshot_install(cluster):
    cluster.start()
    leader_id = cluster.wait_for_leader()
    leader = cluster.client(leader_id)
    leader.set("ttl:a", "v", ex=3600)
    leader.expire("ttl:a", 1800, gt=False)
    deadline = leader.pexpiretime("ttl:a")
    assert abs(deadline - (now_ms() + 1800 * 1000)) < BOUND_MS
    cluster.wait_applied()

    # Failover: the deadline is the same absolute time on the new leader; no reset.
    cluster.kill(leader_id)
    new_leader_id = cluster.wait_for_leader(among=[i for i in cluster.ids() if i != leader_id])
    new_leader = cluster.client(new_leader_id)
    assert new_leader.pexpiretime("ttl:a") == deadline
    assert abs(new_leader.pttl("ttl:a") - (deadline - now_ms())) < BOUND_MS

    # The old leader comes back after enough writes for a snapshot, and installs it.
    for i in range(600):
        new_leader.set("fill:%d" % i, "x")
    cluster.start_node(leader_id)
    cluster.wait_applied()
    wait_until(lambda: cluster.raft_info(leader_id)["raft_snapshots_installed"] >= 1,
               timeout_s=30, what="the restarted node to install a snapshot")
    cluster.wait_applied()
    reader = readonly_client(cluster, leader_id)
    assert reader.pexpiretime("ttl:a") == deadline


@pytest.mark.skipif(not os.path.exists(FAKETIME_LIBRARY), reason="needs libfaketime")
def test_a_leader_with_a_shifted_clock_moves_no_deadline_beyond_the_bound(cluster, tmp_path):
    offset_file = str(tmp_path / "faketime-offset")
    with open(offset_file, "w") as handle:
        handle.write("+0\n")
    node = cluster.node(1)
    node.extra_env = {
        "LD_PRELOAD": FAKETIME_LIBRARY,
        "FAKETIME_TIMESTAMP_FILE": offset_file,
        "FAKETIME_NO_CACHE": "1",
        "DONT_FAKE_MONOTONIC": "1",  # as an NTP step would: the wall clock jumps, not uptime
        "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
                        + ":verify_asan_link_order=0",
    }
    cluster.start()
    transfer_to(cluster, 1)
    leader = cluster.client(1)
    leader.set("anchor", "v")  # an entry of this term: node 1's clock is anchored
    checked = {}
    for shift in (+SHIFT_S, -SHIFT_S, +SHIFT_S, 0):
        with open(offset_file, "w") as handle:
            handle.write("%+d\n" % shift)
        time.sleep(0.2)
        key = "shifted:%+d:%d" % (shift, len(checked))
        before = now_ms()
        leader.set(key, "v", ex=120)
        after = now_ms()
        deadline = leader.pexpiretime(key)
        assert before + 120000 - BOUND_MS <= deadline <= after + 120000 + BOUND_MS, (
            "clock shifted %+d s: deadline %d, expected %d..%d"
            % (shift, deadline, before + 120000, after + 120000))
        checked[key] = deadline
    # Deadlines acknowledged before are untouched by later shifts, on every node.
    cluster.wait_applied()
    for node_id in cluster.ids():
        reader = readonly_client(cluster, node_id)
        for key, deadline in checked.items():
            assert reader.pexpiretime(key) == deadline
    # And a key does not expire early on the shifted leader: its TTL is still about 2 min.
    with open(offset_file, "w") as handle:
        handle.write("+%d\n" % SHIFT_S)
    time.sleep(0.2)
    for key, deadline in checked.items():
        assert abs(leader.pttl(key) - (deadline - now_ms())) < BOUND_MS
