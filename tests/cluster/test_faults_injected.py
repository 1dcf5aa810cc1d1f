"""test_faults_injected.py — the fault suite without root: partitions, one-way cuts, delay,
loss and reordering made by the nodes' own fault point (--enable-fault-injection, RAFT.FAULT,
server/transport_fault.c) instead of nftables, judged by the linearizability checker.

Happy path: each test starts a private 3-node cluster with fault injection on, hurts it with
nemesis.Nemesis(injected=True) (RAFT.FAULT on the nodes) while workload.Workload's clients run,
heals, checks that every replica ends identical and that the history is linearizable:

- a leader cut off by injection (on its own end only, both directions) steps down: its
  clients get the cluster's usual refusals in bounded time while the other two elect a leader
  and serve;
- a one-way cut (the leader's messages to one follower) leaves the cluster serving, and that
  follower behind until the cut heals;
- delay, loss and reordering on every link slow the cluster down but keep the history
  linearizable, and the counters of RAFT.FAULT prove the messages were held and dropped.

Failure modes: assertions name what was seen; fault_run_injected prints the seed, the nemesis
schedule and the history path, and conftest.py attaches every node's log.
"""

import json
import time

from workload import (  # noqa: F401 -- fault_run_injected is a fixture
    HistoryRecorder, LeaderWatch, Workload, assert_replicas_identical, fault_run_injected,
    history_keys, node_client, recorded_call)
from harness import wait_until

REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
REFUSAL_SLACK_S = 1.5
HOLD_S = 2.0
DELAY_MS = 80
LOSS_PERCENT = 20
REORDER_MS = 60


def start(make_cluster, **options):
    return make_cluster(size=3, request_timeout_ms=REQUEST_TIMEOUT_MS,
                        election_timeout_ms=ELECTION_TIMEOUT_MS, fault_injection=True,
                        **options)


def finish(fault_run, cluster, recorder, workload):
    assert_replicas_identical(cluster, history_keys(recorder))
    fault_run.note("workload %s" % workload.summary())
    assert not workload.unexpected, workload.unexpected
    fault_run.assert_linearizable(recorder)


def test_a_leader_cut_off_by_injection_steps_down_while_the_majority_elects(make_cluster,
                                                                             fault_run_injected):
    fault_run = fault_run_injected
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed).start()
    bound_s = REQUEST_TIMEOUT_MS / 1000.0 + REFUSAL_SLACK_S
    try:
        time.sleep(1)
        old = cluster.wait_for_leader()
        others = [i for i in cluster.ids() if i != old]
        # Only the old leader's own end: the fault point alone must make the partition.
        cluster.fault(old, "cut", peer="ALL")
        nemesis.record("RAFT.FAULT CUT ALL on the leader %d alone" % old, fault="cut leader")
        assert sorted(cluster.faults(old)) == sorted("cut:%d" % i for i in others)
        assert cluster.raft_info(old)["fault_injection_active"] == ",".join(
            "cut:%d" % i for i in sorted(others))
        new = cluster.wait_for_leader(among=others)
        assert new != old
        # CheckQuorum: the cut-off leader steps down within an election timeout or two.
        wait_until(lambda: cluster.raft_info(old)["raft_role"] != "leader", timeout_s=5,
                   what="the cut-off leader %d to step down" % old)
        client = node_client(cluster, old)
        for attempt in range(3):
            began = time.monotonic()
            outcome, reply = recorded_call(recorder, "cut-off", client, "write",
                                           "cut-off-%d" % attempt, "lost")
            took = time.monotonic() - began
            fault_run.note("write on the cut-off node %d: %s %r after %.3f s"
                           % (old, outcome, reply, took))
            assert outcome != "ok", "the cut-off node acknowledged a write: %r" % (reply,)
            assert took <= bound_s, "the refusal took %.3f s" % took
        majority = node_client(cluster, new)
        assert recorded_call(recorder, "majority", majority, "write", "m", "v")[0] == "ok"
        time.sleep(HOLD_S)
    finally:
        workload.stop()
        watch.stop()
    nemesis.heal()
    fault_run.note("leader watch: %s" % watch.describe())
    assert not watch.split_brain(), watch.split_brain()
    assert cluster.faults(old) == []
    finish(fault_run, cluster, recorder, workload)


def test_a_one_way_cut_leaves_the_follower_behind_until_it_heals(make_cluster,
                                                                fault_run_injected):
    fault_run = fault_run_injected
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    leader = cluster.wait_for_leader()
    follower = nemesis.random.choice([i for i in cluster.ids() if i != leader])
    cluster.fault(leader, "cut", peer=follower, direction="out")
    nemesis.record("RAFT.FAULT CUT %d OUT on the leader %d" % (follower, leader),
                   fault="one-way cut")
    assert cluster.faults(leader) == ["cut-out:%d" % follower]
    before = cluster.raft_info(follower)["raft_commit_index"]
    workload = Workload(cluster, recorder, nemesis.seed).start()
    try:
        time.sleep(HOLD_S)
        leader_now = cluster.wait_for_leader(among=[i for i in cluster.ids() if i != follower])
        writer = node_client(cluster, leader_now)
        assert recorded_call(recorder, "writer", writer, "write", "one-way", "v")[0] == "ok"
        if leader_now == leader:
            # The follower hears nothing from the leader: it cannot have advanced its commit
            # index by the leader's messages (its own elections fail by PreVote).
            assert cluster.raft_info(follower)["raft_commit_index"] == before
            assert cluster.raft_info(leader)["raft_commit_index"] > before
    finally:
        workload.stop()
    nemesis.heal()
    finish(fault_run, cluster, recorder, workload)


def test_delay_loss_and_reordering_keep_the_history_linearizable(make_cluster,
                                                                 fault_run_injected):
    fault_run = fault_run_injected
    cluster = start(make_cluster, http=True)
    nemesis = fault_run.nemesis(cluster)
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed).start()
    leader = cluster.wait_for_leader()
    try:
        time.sleep(0.5)
        nemesis.delay(DELAY_MS)
        writer = node_client(cluster, cluster.wait_for_leader())
        began = time.monotonic()
        outcome, _ = recorded_call(recorder, "timed", writer, "write", "delayed", "v")
        took = time.monotonic() - began
        fault_run.note("a write under %d ms of delay each way took %.3f s" % (DELAY_MS, took))
        # A commit needs an append to a follower and its answer: two delayed messages.
        assert outcome != "ok" or took >= 2 * DELAY_MS / 1000.0, took
        time.sleep(HOLD_S)
        nemesis.heal_network()
        nemesis.packet_loss(LOSS_PERCENT)
        time.sleep(HOLD_S)
        state = faults_json(cluster, leader)
        fault_run.note("faults on node %d under loss: %s" % (leader, state))
        assert state["enabled"] and state["active"]
        assert all(item["action"] == "loss" and item["percent"] == LOSS_PERCENT
                   and item["direction"] == "out" for item in state["active"])
        assert sum(item["dropped_out"] for item in state["active"]) > 0, state
        nemesis.heal_network()
        nemesis.reorder(REORDER_MS)
        time.sleep(HOLD_S)
        state = faults_json(cluster, leader)
        assert all(item["action"] == "reorder" for item in state["active"]), state
        nemesis.delay(DELAY_MS, REORDER_MS)
        time.sleep(HOLD_S)
    finally:
        workload.stop()
        watch.stop()
    nemesis.heal()
    assert all(cluster.faults(i) == [] for i in cluster.ids())
    assert not watch.split_brain(), watch.split_brain()
    finish(fault_run, cluster, recorder, workload)


def faults_json(cluster, node_id):
    import http.client
    host, port = cluster.http_address(node_id).split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", "/api/faults")
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()
