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
  linearizable, and the counters of GET /api/faults prove the messages were dropped;
- a random schedule of every nemesis (kills, pauses, injected partitions, one-way cuts, loss,
  delay, reordering; small snapshots, so restarted nodes also catch up from one) for
  RANDOM_SECONDS;
- proof that this suite can fail: against raftkv_broken_local_reads (reads without ReadIndex,
  from RAFTKV_BROKEN_BINARY), an old leader cut off by injection and woken believing it leads
  serves a stale read, and the checker rejects the history;
- the control surface: RAFT.FAULT's and POST /api/fault's arguments at their limits and one
  past, the 4 KiB body limit, CORS; and on a node without the flag, every subcommand and every
  POST refused with the same sentence.

Failure modes: assertions name what was seen; fault_run_injected prints the seed, the nemesis
schedule and the history path, and conftest.py attaches every node's log.
"""

import json
import os
import random
import time

import pytest

from linearizability import NOT_LINEARIZABLE
from workload import (  # noqa: F401 -- fault_run_injected is a fixture
    HistoryRecorder, LeaderWatch, Workload, assert_replicas_identical, deposed_leader_round,
    fault_run_injected, history_keys, judge, node_client, recorded_call)
from harness import wait_until

REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
REFUSAL_SLACK_S = 1.5
HOLD_S = 2.0
DELAY_MS = 80
LOSS_PERCENT = 20
REORDER_MS = 60
RANDOM_SECONDS = 15.0
BROKEN_ENV = "RAFTKV_BROKEN_BINARY"
BROKEN_ROUNDS = 4
SNAPSHOT_ENTRIES = 300


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
        # At once, while it may still believe it leads: no acknowledgement, bounded wait.
        early = node_client(cluster, old)
        began = time.monotonic()
        outcome, reply = recorded_call(recorder, "cut-off-early", early, "write", "early", "x")
        took = time.monotonic() - began
        fault_run.note("write on the just cut-off leader %d: %s %r after %.3f s"
                       % (old, outcome, reply, took))
        assert outcome != "ok", "the cut-off leader acknowledged a write: %r" % (reply,)
        assert took <= bound_s, "the refusal took %.3f s" % took
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
    time.sleep(0.3)  # what the leader had handed to the kernel before the cut arrives
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


def test_random_injected_faults_keep_the_history_linearizable(make_cluster, fault_run_injected):
    fault_run = fault_run_injected
    cluster = start(make_cluster, snapshot_entries=SNAPSHOT_ENTRIES)
    nemesis = fault_run.nemesis(cluster)
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed).start()
    try:
        nemesis.run_random(RANDOM_SECONDS)
        nemesis.heal()
    finally:
        workload.stop()
        watch.stop()
    fault_run.note("faults applied: %s" % nemesis.counts)
    fault_run.note("workload %s; %s" % (workload.summary(), watch.describe()))
    assert not watch.split_brain(), "two leaders in one term: %s" % watch.split_brain()
    assert workload.counts["ok"] > 0, "no operation succeeded"
    finish(fault_run, cluster, recorder, workload)

def test_a_deposed_leader_woken_while_cut_off_serves_no_stale_read(make_cluster,
                                                                   fault_run_injected):
    """The scenario the broken server fails below, against the real one: linearizable."""
    fault_run = fault_run_injected
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    for round_number in range(2):
        outcomes = deposed_leader_round(cluster, nemesis, recorder, "k%d" % round_number,
                                        round_number)
        fault_run.note("round %d: the woken deposed leader answered %s" % (round_number,
                                                                           outcomes))
        assert outcomes["read"][1] != "old-%d" % round_number, "stale read from the old leader"
        assert outcomes["write"][0] != "ok", "the deposed leader acknowledged a write"
        nemesis.heal()
    fault_run.assert_linearizable(recorder)

def broken_local_reads():
    paths = [path for path in os.environ.get(BROKEN_ENV, "").split(os.pathsep)
             if os.path.basename(path) == "raftkv_broken_local_reads"]
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason="%s names no raftkv_broken_local_reads" % BROKEN_ENV), id="none")]
    return [pytest.param(paths[0], id="raftkv_broken_local_reads")]


@pytest.mark.parametrize("binary", broken_local_reads())
def test_the_injected_nemesis_catches_a_server_that_reads_without_read_index(
        binary, make_cluster, fault_run_injected):
    fault_run = fault_run_injected
    cluster = start(make_cluster, binary=binary)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    verdict = None
    for round_number in range(BROKEN_ROUNDS):
        outcomes = deposed_leader_round(cluster, nemesis, recorder, "k%d" % round_number,
                                        round_number)
        fault_run.note("round %d: %s" % (round_number, outcomes))
        nemesis.heal()
        verdict = judge(recorder, fault_run.history_path("round-%d" % round_number)).verdict
        if verdict == NOT_LINEARIZABLE:
            break
    fault_run.note("verdict after %d round(s): %s" % (round_number + 1, verdict))
    assert verdict == NOT_LINEARIZABLE, (
        "the checker did not reject the broken server's history (verdict %s)\n%s"
        % (verdict, fault_run.explain()))

# ---- the control surface ----

DISABLED = ("fault injection is disabled on this node (start it with "
            "--enable-fault-injection)")
BODY_LIMIT = 4096


def http_request(cluster, node_id, method, path, body=None, headers=None):
    import http.client
    host, port = cluster.http_address(node_id).split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_fault(cluster, node_id, fields):
    text = fields if isinstance(fields, (bytes, str)) else json.dumps(fields)
    status, headers, body = http_request(cluster, node_id, "POST", "/api/fault", text,
                                         {"Content-Type": "application/json"})
    assert headers.get("Access-Control-Allow-Origin") == "*"
    return status, json.loads(body) if body.strip() else None


def resp_error(cluster, node_id, *arguments):
    import redis
    try:
        reply = cluster.raw_command(node_id, *arguments)
    except redis.ResponseError as error:
        return str(error)
    raise AssertionError("%r answered %r, not an error" % (arguments, reply))


EVERY_SUBCOMMAND = [
    ("CUT", "2"), ("CUT", "ALL", "IN"), ("DELAY", "2", "100"), ("DELAY", "ALL", "5", "OUT"),
    ("LOSS", "2", "10"), ("LOSS", "ALL", "50", "BOTH"), ("REORDER", "2", "100"),
    ("REORDER", "ALL", "10", "IN"), ("HEAL",), ("HEAL", "2"), ("HEAL", "ALL"), ("LIST",),
    ("SEED", "5"),
]


def test_every_fault_command_is_refused_without_the_flag(make_cluster):
    cluster = make_cluster(size=3, http=True)
    assert cluster.raft_info(1)["fault_injection"] == "disabled"
    with open(cluster.node(1).log_path) as log:
        assert "FAULT INJECTION" not in log.read()
    for arguments in EVERY_SUBCOMMAND:
        assert resp_error(cluster, 1, "RAFT.FAULT", *arguments) == DISABLED, arguments
    assert "immutable" in resp_error(cluster, 1, "CONFIG", "SET", "enable-fault-injection",
                                     "yes")
    help_lines = cluster.raw_command(1, "RAFT.FAULT", "HELP")
    assert any(b"CUT <peer|ALL>" in line for line in help_lines)
    for action in ("cut", "heal", "delay", "loss", "reorder"):
        status, answer = post_fault(cluster, 1, {"action": action, "peer": 2, "ms": 10,
                                                 "percent": 10})
        assert (status, answer) == (403, {"error": DISABLED}), (action, status, answer)
    status, headers, body = http_request(cluster, 1, "GET", "/api/faults")
    assert status == 200 and json.loads(body) == {"enabled": False, "active": []}
    # Nothing was cut: the cluster still commits.
    leader = cluster.wait_for_leader()
    assert cluster.client(leader).set("after", "refusals")


def test_fault_arguments_and_the_http_body_at_their_limits(make_cluster):
    cluster = make_cluster(size=3, fault_injection=True, http=True)
    node = 1
    assert cluster.raft_info(node)["fault_injection"] == "enabled"
    assert cluster.raft_info(node)["fault_injection_active"] == ""
    with open(cluster.node(node).log_path) as log:
        assert "WARNING FAULT INJECTION IS ENABLED" in log.read()
    ok = cluster.raw_command
    assert ok(node, "RAFT.FAULT", "DELAY", "2", "60000", "OUT") == b"OK"
    assert resp_error(cluster, node, "RAFT.FAULT", "DELAY", "2", "60001") == (
        "ms must be an integer from 0 to 60000")
    assert ok(node, "RAFT.FAULT", "REORDER", "3", "60000", "IN") == b"OK"
    assert resp_error(cluster, node, "RAFT.FAULT", "REORDER", "3", "60001", "IN") == (
        "ms must be an integer from 0 to 60000")
    assert ok(node, "RAFT.FAULT", "LOSS", "ALL", "100", "IN") == b"OK"
    assert resp_error(cluster, node, "RAFT.FAULT", "LOSS", "2", "101") == (
        "percent must be an integer from 0 to 100")
    assert resp_error(cluster, node, "RAFT.FAULT", "LOSS", "2", "-1").startswith("percent")
    assert resp_error(cluster, node, "RAFT.FAULT", "CUT", "9") == (
        "unknown peer id 9 (not a peer of node 1)")
    assert resp_error(cluster, node, "RAFT.FAULT", "CUT", "1") == (
        "unknown peer id 1 (not a peer of node 1)")
    assert resp_error(cluster, node, "RAFT.FAULT", "CUT", "x").startswith("invalid peer id 'x'")
    assert resp_error(cluster, node, "RAFT.FAULT", "CUT", "2", "SIDEWAYS") == (
        "direction must be IN, OUT or BOTH")
    assert resp_error(cluster, node, "RAFT.FAULT", "CUT", "2", "IN", "OUT") == (
        "wrong number of arguments for 'raft.fault|cut' command")
    assert resp_error(cluster, node, "RAFT.FAULT", "DELAY", "2") == (
        "wrong number of arguments for 'raft.fault|delay' command")
    assert resp_error(cluster, node, "RAFT.FAULT", "LIST", "x") == (
        "wrong number of arguments for 'raft.fault|list' command")
    assert resp_error(cluster, node, "RAFT.FAULT", "SHAKE").startswith(
        "unknown subcommand 'SHAKE'")
    assert resp_error(cluster, node, "RAFT.FAULT").startswith("wrong number of arguments")
    assert sorted(cluster.faults(node)) == ["delay-out:2:60000ms", "loss-in:2:100%",
                                            "loss-in:3:100%", "reorder-in:3:60000ms"]
    assert cluster.raft_info(node)["fault_injection_active"] == (
        "delay-out:2:60000ms,loss-in:2:100%,loss-in:3:100%,reorder-in:3:60000ms")
    assert ok(node, "RAFT.FAULT", "HEAL") == b"OK"
    assert cluster.faults(node) == []

    # POST /api/fault: the same faults as JSON, then the body limit.
    status, answer = post_fault(cluster, node, {"action": "delay", "peer": 2, "ms": 60000,
                                                "direction": "in"})
    assert status == 200 and answer["enabled"] is True
    item = answer["active"][0]
    # The counters are the peer's since the start: the loss above may have dropped some.
    assert {key: item[key] for key in ("action", "peer", "direction", "ms")} == {
        "action": "delay", "peer": 2, "direction": "in", "ms": 60000}
    assert {"held_in", "held_out", "dropped_in", "dropped_out"} <= set(item)
    assert post_fault(cluster, node, {"action": "delay", "peer": 2, "ms": 60001}) == (
        400, {"error": "ms must be an integer from 0 to 60000"})
    assert post_fault(cluster, node, {"action": "loss", "peer": "all", "percent": 101})[0] == 400
    assert post_fault(cluster, node, {"action": "loss", "peer": "all", "percent": "5"})[0] == 400
    assert post_fault(cluster, node, {"action": "cut", "peer": 9})[1] == {
        "error": "unknown peer id 9 (not a peer of node 1)"}
    assert post_fault(cluster, node, {"action": "cut", "peer": 0})[0] == 400
    assert post_fault(cluster, node, {"action": "cut", "peer": 2, "direction": "up"})[0] == 400
    assert post_fault(cluster, node, {"action": "cut", "peer": 2, "colour": 1})[0] == 400
    assert post_fault(cluster, node, {"action": "explode", "peer": 2})[0] == 400
    assert post_fault(cluster, node, {"peer": 2})[0] == 400
    assert post_fault(cluster, node, "[1, 2]")[0] == 400
    assert post_fault(cluster, node, "{not json")[0] == 400
    assert post_fault(cluster, node, '{"action":"cut","action":"heal","peer":2}')[0] == 400
    assert post_fault(cluster, node, rb'{"action":"cut\u0000","peer":2}')[0] == 400
    # Exactly 4096 bytes of body (padded with spaces) is taken; 4097 is refused unread.
    body = json.dumps({"action": "cut", "peer": 3, "direction": "out"})
    status, answer = post_fault(cluster, node, body + " " * (BODY_LIMIT - len(body)))
    assert status == 200, answer
    assert {"action": "cut", "peer": 3, "direction": "out"}.items() <= answer["active"][-1].items()
    status, headers, text = http_request(cluster, node, "POST", "/api/fault",
                                         body + " " * (BODY_LIMIT + 1 - len(body)))
    assert status == 413, (status, text)
    status, _, _ = http_request(cluster, node, "POST", "/api/fault", iter([body.encode()]),
                                {"Transfer-Encoding": "chunked"})
    assert status == 411
    assert cluster.faults(node) == ["delay-in:2:60000ms", "cut-out:3"]
    status, headers, text = http_request(cluster, node, "OPTIONS", "/api/fault", None,
                                         {"Origin": "http://127.0.0.1:9121",
                                          "Access-Control-Request-Method": "POST"})
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "POST, GET"
    assert headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert http_request(cluster, node, "GET", "/api/fault")[0] == 405
    assert http_request(cluster, node, "POST", "/api/faults", "{}")[0] in (400, 405)
    status, answer = post_fault(cluster, node, {"action": "heal"})
    assert status == 200 and answer == {"enabled": True, "active": []}
    # Other routes still refuse a body.
    assert http_request(cluster, node, "POST", "/metrics", "x")[0] in (400, 405)

    # Untrusted bytes: mangled bodies get 400 (or 200 if they happen to be a valid fault),
    # never a crash.
    rng = random.Random(15)
    valid = json.dumps({"action": "delay", "peer": 2, "ms": 10, "direction": "in"}).encode()
    for round_number in range(200):
        if round_number % 2:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        else:
            mangled = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                mangled[rng.randrange(len(mangled))] = rng.randrange(256)
            body = bytes(mangled)
        status = http_request(cluster, node, "POST", "/api/fault", body)[0]
        assert status in (200, 400), (status, body)
    cluster.check_alive()
    assert ok(node, "RAFT.FAULT", "HEAL") == b"OK"
