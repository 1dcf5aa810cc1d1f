"""test_faults_partition.py — network partitions and pauses: a cut-off minority refuses in
bounded time while the majority serves, no term ever has two leaders, READONLY reads on a
cut-off follower are stale (RAFT.CONSISTENCY stale) while normal and linearizable follower reads
never are, and a paused old leader that wakes
believing it leads serves no stale read.

Happy path: each test starts a private 3-node cluster with a short request timeout, cuts peer
links with nemesis.Nemesis (nftables rules on this cluster's peer ports only) or pauses nodes,
records what clients see in a history.HistoryRecorder, heals, checks that every replica ends
identical, and asserts the history linearizable.

Failure modes: assertions name the reply and how long it took; fault_run prints the seed, the
nemesis schedule and the history path, and conftest.py attaches every node's log.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from workload import (  # noqa: F401 -- fault_run is a fixture
    HistoryRecorder, LeaderWatch, Workload, assert_replicas_identical, await_reply, fault_run,
    history_keys,
    node_client, deposed_leader_round, readonly_values, recorded_call)

REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
REFUSAL_SLACK_S = 1.5  # an error must come within the request timeout plus this
MINORITY_ATTEMPTS = 3
HOLD_S = 2.0
MIN_TERMS_WITH_LEADER = 3  # the faults of the split-brain test force at least this many
PAUSED_LEADER_ROUNDS = 2


def start(make_cluster, size=3, **options):
    return make_cluster(size=size, request_timeout_ms=REQUEST_TIMEOUT_MS,
                        election_timeout_ms=ELECTION_TIMEOUT_MS, **options)


def timed(recorder, process, client, f, key, value=None):
    began = time.monotonic()
    outcome, reply = recorded_call(recorder, process, client, f, key, value)
    return outcome, reply, time.monotonic() - began


def probe_minority(fault_run, recorder, clients, attempt, bound_s):
    """A write and a linearizable read sent at once to every minority node (the first time,
    the old leader still believes it leads): each must end in an error or a redirect, within
    bound_s of being sent."""
    key = "minority-%d" % attempt
    sent = []
    for node_id, (reader, writer) in clients.items():
        for f, client, value in (("read", reader, None),
                                 ("write", writer, "lost-%d-%d" % (node_id, attempt))):
            process = "minority-%s-%d" % (f, node_id)
            recorder.invoke(process, f, key, value)
            client.connection.send_command(*(("GET", key) if f == "read" else
                                             ("SET", key, value)))
            sent.append((node_id, f, process, client, time.monotonic()))
    def wait(item):
        node_id, f, process, client, began = item
        outcome, reply = await_reply(recorder, process, client.connection)
        return outcome, reply, time.monotonic() - began

    with ThreadPoolExecutor(max_workers=len(sent)) as pool:
        replies = list(pool.map(wait, sent))
    for (node_id, f, process, client, _), (outcome, reply, took) in zip(sent, replies):
        fault_run.note("minority node %d %s %d: %s %r after %.3f s"
                       % (node_id, f, attempt, outcome, reply, took))
        assert outcome != "ok", "cut-off node %d answered a %s: %r" % (node_id, f, reply)
        assert took <= bound_s, "the refusal took %.3f s (bound %.1f s)" % (took, bound_s)
        if outcome == "info":
            client.drop()
            client.address = client.addresses[0]
            client._connect()


@pytest.mark.parametrize("size", [3, 5])
def test_cut_off_minority_refuses_in_bounded_time_while_the_majority_serves(size, make_cluster,
                                                                            fault_run):
    cluster = start(make_cluster, size=size)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed, key_lifetime_s=30).start()
    bound_s = REQUEST_TIMEOUT_MS / 1000.0 + REFUSAL_SLACK_S
    try:
        time.sleep(1)
        old = cluster.wait_for_leader()
        followers = [i for i in cluster.ids() if i != old]
        minority = [old] + nemesis.random.sample(followers, (size - 1) // 2 - 1)
        majority = [i for i in cluster.ids() if i not in minority]
        nemesis.partition(minority, majority, why="partition: old leader in the minority")
        clients = {node_id: (node_client(cluster, node_id), node_client(cluster, node_id))
                   for node_id in minority}
        for attempt in range(MINORITY_ATTEMPTS):
            probe_minority(fault_run, recorder, clients, attempt, bound_s)
        new = cluster.wait_for_leader(among=majority)
        majority_client = node_client(cluster, new)
        outcome, reply = recorded_call(recorder, "majority", majority_client, "write",
                                       "majority-key", "from-the-majority")
        assert outcome == "ok", "the majority refused a write: %r" % (reply,)
        outcome, reply = recorded_call(recorder, "majority", majority_client, "read",
                                       "majority-key")
        assert outcome == "ok" and reply == b"from-the-majority", (outcome, reply)
    finally:
        workload.stop()
    nemesis.heal()
    _, values = assert_replicas_identical(cluster, history_keys(recorder))
    for node_id in minority:
        assert readonly_values(cluster, node_id, ["majority-key"]) == {
            "majority-key": b"from-the-majority"}
    assert all(values["minority-%d" % i] is None for i in range(MINORITY_ATTEMPTS))
    fault_run.note("workload %s" % workload.summary())
    assert not workload.unexpected, workload.unexpected
    fault_run.assert_linearizable(recorder)


def hold(seconds):
    time.sleep(seconds)


def test_no_term_ever_has_two_leaders(make_cluster, fault_run):
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed).start()
    try:
        hold(1)
        paused = nemesis.pause_leader()
        hold(nemesis.pause_hold_s())
        nemesis.resume(paused)  # the old leader wakes believing it leads
        hold(HOLD_S)
        nemesis.isolate_leader()
        hold(HOLD_S)
        nemesis.heal_network()
        nemesis.bridge()
        hold(HOLD_S)
        nemesis.heal_network()
        nemesis.one_way_cut()
        hold(HOLD_S)
        nemesis.heal_network()
        nemesis.kill_leader()
        hold(HOLD_S)
        nemesis.heal()
        hold(1)
    finally:
        workload.stop()
        watch.stop()
    fault_run.note("leader watch: %s" % watch.describe())
    assert not watch.split_brain(), "two leaders in one term: %s" % watch.split_brain()
    assert len(watch.leaders) >= MIN_TERMS_WITH_LEADER, (
        "the faults changed the leader too rarely for this test to mean anything: %s"
        % watch.describe())
    assert_replicas_identical(cluster, history_keys(recorder))
    fault_run.note("workload %s" % workload.summary())
    assert not workload.unexpected, workload.unexpected
    fault_run.assert_linearizable(recorder)


def test_readonly_reads_on_a_cut_off_follower_are_stale_but_normal_reads_never(make_cluster,
                                                                              fault_run):
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    leader = cluster.wait_for_leader()
    follower = nemesis.random.choice([i for i in cluster.ids() if i != leader])
    writer = node_client(cluster, leader)
    assert recorded_call(recorder, "writer", writer, "write", "k", "v1")[0] == "ok"
    cluster.wait_applied()
    stale_reader = node_client(cluster, follower, readonly=True)
    follower_readers = {mode: node_client(cluster, follower, readonly=True, consistency=mode)
                        for mode in ("linearizable", "lease")}
    nemesis.isolate(follower, why="isolate follower")
    assert recorded_call(recorder, "writer", writer, "write", "k", "v2")[0] == "ok"
    # READONLY is opt-in staleness: not in the linearizable history, but it must be stale
    # here, which also proves the partition cut the follower off.
    stale = stale_reader.call("GET", "k")
    fault_run.note("READONLY read on cut-off follower %d: %r" % (follower, stale))
    assert stale == b"v1", "expected the stale v1 on the cut-off follower, got %r" % (stale,)
    normal_on_follower = node_client(cluster, follower)
    outcome, reply = recorded_call(recorder, "follower-reader", normal_on_follower, "read", "k")
    fault_run.note("normal read on the cut-off follower: %s %r" % (outcome, reply))
    assert outcome != "ok" or reply == b"v2", "a normal read was stale: %r" % (reply,)
    # READONLY at the default (linearizable) or lease consistency asks the leader, which the
    # cut-off follower cannot reach: an error in bounded time, never v1.
    for mode, reader in follower_readers.items():
        outcome, reply, took = timed(recorder, "follower-%s-reader" % mode, reader, "read", "k")
        fault_run.note("READONLY %s read on the cut-off follower: %s %r in %.2f s"
                       % (mode, outcome, reply, took))
        assert outcome != "ok" or reply == b"v2", "a %s follower read was stale" % mode
        assert took < REQUEST_TIMEOUT_MS / 1000 + REFUSAL_SLACK_S
    outcome, reply = recorded_call(recorder, "leader-reader", node_client(cluster, leader),
                                   "read", "k")
    assert (outcome, reply) == ("ok", b"v2")
    nemesis.heal()
    assert_replicas_identical(cluster, ["k"])
    assert stale_reader.call("GET", "k") == b"v2"
    fault_run.assert_linearizable(recorder)


def test_a_paused_deposed_leader_serves_no_stale_read_and_acknowledges_no_write(
        make_cluster, fault_run):
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    for round_number in range(PAUSED_LEADER_ROUNDS):
        outcomes = deposed_leader_round(cluster, nemesis, recorder, "k%d" % round_number,
                                        round_number)
        fault_run.note("round %d: the woken deposed leader answered %s" % (round_number,
                                                                           outcomes))
        assert outcomes["read"][1] != "old-%d" % round_number, "stale read from the old leader"
        assert outcomes["write"][0] != "ok", "the deposed leader acknowledged a write"
        nemesis.heal()
    fault_run.assert_linearizable(recorder)


def test_a_leader_stopped_within_its_lease_does_not_serve_from_it_on_waking(make_cluster,
                                                                           fault_run):
    """A leader's lease lasts less than an election timeout on its clock. Stopped (SIGSTOP)
    right after a lease read renewed its lease, it misses the election of its successor; its
    timers do not run while it is stopped, but time does: on waking, the lease read queued for
    it must not be served from the old lease (the successor has acknowledged a newer write)."""
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    for round_number in range(PAUSED_LEADER_ROUNDS):
        key, first, second = "lease-%d" % round_number, "old", "new-%d" % round_number
        old = cluster.wait_for_leader()
        assert recorded_call(recorder, "writer", node_client(cluster, old), "write", key,
                             first)[0] == "ok"
        cluster.wait_applied()
        reader = node_client(cluster, old, readonly=True, consistency="lease")
        for _ in range(3):
            assert recorded_call(recorder, "lease-reader", reader, "read", key) == ("ok", b"old")
        fault_run.note("DEBUG lease reads %s" % cluster.raft_info(old).get("raft_lease_reads"))
        nemesis.pause([old], why="SIGSTOP leader within its lease")
        nemesis.isolate(old, why="isolate the stopped leader")
        new = cluster.wait_for_leader(among=[i for i in cluster.ids() if i != old], timeout_s=30)
        assert recorded_call(recorder, "writer", node_client(cluster, new), "write", key,
                             second)[0] == "ok"
        try:
            recorder.invoke("lease-reader", "read", key)
            reader.connection.send_command("GET", key)
            nemesis.resume([old])
            outcome = await_reply(recorder, "lease-reader", reader.connection)
        finally:
            reader.drop()
            nemesis.heal_network()
        fault_run.note("round %d: the woken leader's lease read answered %s" % (round_number,
                                                                               outcome))
        assert outcome[1] != first, "a stale read from the old leader's lapsed lease"
    fault_run.assert_linearizable(recorder)


def test_checker_sees_the_stale_read_a_broken_server_would_give(fault_run):
    """The history the paused-leader scenario records if the old leader answers locally: the
    checker must reject it. Pins down that the scenario is one the checker can judge."""
    recorder = HistoryRecorder()
    recorder.invoke("writer", "write", "k", "old-0")
    recorder.ok("writer")
    recorder.invoke("writer", "write", "k", "new-0")
    recorder.ok("writer")
    recorder.invoke("deposed-reader", "read", "k")
    recorder.ok("deposed-reader", "old-0")
    try:
        fault_run.assert_linearizable(recorder)
    except AssertionError as error:
        assert "NOT linearizable" in str(error)
    else:
        raise AssertionError("the checker accepted a stale read")


def test_packet_loss_on_peer_links_gives_answers_or_errors_never_hangs(make_cluster, fault_run):
    """Heavy loss on every peer link: clients get answers or errors, never hangs, and what
    they saw is linearizable."""
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed).start()
    try:
        hold(1)
        nemesis.packet_loss(nemesis.random.randint(20, 40))
        hold(4)
        nemesis.heal_network()
        hold(1)
    finally:
        workload.stop()
    nemesis.heal()
    assert_replicas_identical(cluster, history_keys(recorder))
    fault_run.note("workload %s" % workload.summary())
    assert not workload.unexpected, workload.unexpected
    fault_run.assert_linearizable(recorder)

