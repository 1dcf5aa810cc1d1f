"""test_faults_crash.py — crashes (kill -9) under a recorded workload: a follower down while
writes go on, a follower kept away until it must catch up from a snapshot, a majority killed at
once, and failover after the leader dies, timed.

Happy path: each test starts a private 3-node cluster (make_cluster), runs workload.Workload's
clients while a nemesis.Nemesis hurts it, heals, and then asserts that every replica applied the
same index and holds the same value for every key (READONLY reads on each node), and that the
recorded history is linearizable (linearizability.check_operations).

Failure modes: an assertion names what differed; fault_run prints the seed, the nemesis
schedule and the history path, and conftest.py attaches every node's log.
"""

import os
import time

import redis

from nemesis import wait_snapshot_installed
from workload import (  # noqa: F401 -- fault_run is a fixture
    HistoryRecorder, LeaderWatch, Workload, assert_replicas_identical, fault_run, history_keys)

REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
FAILOVER_ROUNDS = 3
FAILOVER_BOUND_TIMEOUTS = 6  # a new leader that takes writes within this many timeouts
SNAPSHOT_ENTRIES = 100
POLL_S = 0.02


def start(make_cluster, **options):
    return make_cluster(size=3, request_timeout_ms=REQUEST_TIMEOUT_MS,
                        election_timeout_ms=ELECTION_TIMEOUT_MS, **options)


def run_for(seconds):
    time.sleep(seconds)


def test_follower_down_while_writes_continue_catches_up_with_identical_data(make_cluster,
                                                                             fault_run):
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed, key_lifetime_s=30).start()
    try:
        run_for(2)
        leader_id = cluster.wait_for_leader()
        follower = nemesis.random.choice([i for i in cluster.ids() if i != leader_id])
        before = cluster.raft_info(follower)["raft_applied_index"]
        nemesis.kill([follower], why="kill -9 follower")
        run_for(4)
        nemesis.restart([follower])
        run_for(2)
    finally:
        workload.stop()
    nemesis.heal()
    applied, _ = assert_replicas_identical(cluster, history_keys(recorder))
    fault_run.note("follower %d: applied %d before the crash, %d after catching up; workload %s"
                   % (follower, before, applied, workload.summary()))
    assert applied > before
    assert workload.counts["ok"] > 0 and not workload.unexpected, workload.unexpected
    fault_run.assert_linearizable(recorder)


def test_follower_kept_away_past_compaction_catches_up_from_a_snapshot(make_cluster,
                                                                       fault_run):
    cluster = start(make_cluster, snapshot_entries=SNAPSHOT_ENTRIES)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed, key_lifetime_s=30).start()
    try:
        run_for(1)
        leader_id = cluster.wait_for_leader()
        follower = nemesis.random.choice([i for i in cluster.ids() if i != leader_id])
        installed = cluster.raft_info(follower)["raft_snapshots_installed"]
        filler = nemesis.keep_away_until_compacted(follower)
        nemesis.heal_network()
        count = wait_snapshot_installed(cluster, follower, installed)
        run_for(1)
    finally:
        workload.stop()
    nemesis.heal()
    keys = history_keys(recorder) + ["filler:%d" % i for i in range(filler)]
    applied, values = assert_replicas_identical(cluster, keys)
    assert all(values["filler:%d" % i] == b"x" * 32 for i in range(filler))
    fault_run.note("node %d installed %d snapshot(s) after %d filler writes; applied index %d; "
                   "workload %s" % (follower, count, filler, applied, workload.summary()))
    assert not workload.unexpected, workload.unexpected
    fault_run.assert_linearizable(recorder)


def test_majority_killed_at_once_loses_no_acknowledged_write(make_cluster, fault_run):
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    # Long-lived keys: the reads after the restart must see the writes from before it.
    workload = Workload(cluster, recorder, nemesis.seed, key_lifetime_s=60).start()
    try:
        for _ in range(2):
            run_for(2)
            victims = nemesis.kill_majority()
            run_for(1)
            nemesis.restart(victims)
        run_for(3)
    finally:
        workload.stop()
    nemesis.heal()
    assert_replicas_identical(cluster, history_keys(recorder))
    fault_run.note("workload %s" % workload.summary())
    assert workload.counts["ok"] > 0 and not workload.unexpected, workload.unexpected
    fault_run.assert_linearizable(recorder)


def wait_new_leader(cluster, survivors, deadline):
    """Polls until every survivor names one leader among them; returns its id or None."""
    while time.monotonic() < deadline:
        try:
            infos = {i: cluster.raft_info(i) for i in survivors}
        except (redis.RedisError, OSError):
            infos = {}
        named = {info["raft_leader_id"] for info in infos.values()}
        if len(named) == 1 and named <= set(survivors):
            leader_id = named.pop()
            if infos[leader_id]["raft_role"] == "leader":
                return leader_id
        time.sleep(POLL_S)
    return None


def wait_first_write(cluster, leader_id, key, deadline):
    client = cluster.client(leader_id, socket_timeout=2)
    while time.monotonic() < deadline:
        try:
            if client.set(key, "after-failover"):
                return True
        except redis.RedisError:
            pass
        time.sleep(POLL_S)
    return False


def test_failover_after_the_leader_dies_takes_a_few_election_timeouts(make_cluster, fault_run):
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    bound_s = FAILOVER_BOUND_TIMEOUTS * ELECTION_TIMEOUT_MS / 1000.0
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    measured = []
    for round_number in range(FAILOVER_ROUNDS):
        old = cluster.wait_for_leader()
        cluster.leader_client().set("before-%d" % round_number, "x")
        killed_at = time.monotonic()
        nemesis.kill([old], why="kill -9 leader")
        survivors = [i for i in cluster.ids() if i != old]
        new = wait_new_leader(cluster, survivors, killed_at + 4 * bound_s)
        elected_s = time.monotonic() - killed_at
        assert new is not None, "no new leader %.1f s after the leader died" % elected_s
        wrote = wait_first_write(cluster, new, "after-%d" % round_number,
                                 killed_at + 4 * bound_s)
        writable_s = time.monotonic() - killed_at
        assert wrote, "no write accepted %.1f s after the leader died" % writable_s
        measured.append((elected_s, writable_s))
        fault_run.note("failover round %d: leader %d killed; node %d elected after %.3f s, "
                       "first write accepted after %.3f s" % (round_number, old, new, elected_s,
                                                              writable_s))
        nemesis.restart([old])
        cluster.wait_applied()
    watch.stop()
    assert not watch.split_brain(), "two leaders in one term: %s" % watch.split_brain()
    worst = max(writable for _, writable in measured)
    fault_run.note("failover: worst %.3f s to a writable leader; bound %.1f s (%d election "
                   "timeouts of %d ms)" % (worst, bound_s, FAILOVER_BOUND_TIMEOUTS,
                                           ELECTION_TIMEOUT_MS))
    assert worst <= bound_s, "failover took %.3f s, more than %d election timeouts" % (
        worst, FAILOVER_BOUND_TIMEOUTS)
    for round_number in range(FAILOVER_ROUNDS):
        assert cluster.leader_client().get("before-%d" % round_number) == b"x"


def test_a_killed_node_keeps_its_database_unless_the_machine_restarted(make_cluster):
    """kill -9 loses nothing of LMDB (the page cache outlives the process), so a node restarted
    on the same boot of the machine keeps its database and replays only the log after it; a
    start that sees another boot id (a power loss, a reboot) rebuilds from the snapshot and the
    log. Both end with every acknowledged write."""
    cluster = start(make_cluster)
    leader = cluster.wait_for_leader()
    client = cluster.client(leader)
    for i in range(200):
        client.set("kept-%d" % i, i)
    cluster.wait_applied()
    victim = next(i for i in cluster.ids() if i != leader)
    marker = os.path.join(cluster.node(victim).data_dir, "kv-running-boot")
    for round_number, boot in enumerate((None, "another-boot-of-the-machine")):
        cluster.kill(victim)
        if boot is not None:
            with open(marker, "w") as out:
                out.write(boot)
        before = cluster.logs(victim).count("rebuilding the database")
        cluster.start_node(victim)
        cluster.wait_applied()
        rebuilt = cluster.logs(victim).count("rebuilding the database") - before
        assert rebuilt == (0 if boot is None else 1), (round_number, rebuilt)
        reader = cluster.client(victim)
        reader.execute_command("READONLY")
        reader.execute_command("RAFT.CONSISTENCY", "stale")
        assert reader.mget(["kept-%d" % i for i in range(200)]) == [
            str(i).encode() for i in range(200)]
