"""test_faults_tls.py — the recorded register workload over TLS clients on a TLS-only cluster
(--tls-only yes --tls-replication yes), under kills, pauses and partitions, judged by the
linearizability checker.

Happy path: a throw-away PKI (test_server_tls.Pki, made with the openssl command line in the
test's temporary directory), a private 3-node cluster whose client ports speak only TLS and whose
peer links are TLS with certificates both ways (the HMAC handshake inside). harness.Cluster's
tls= option makes every connection of the harness, the workload's clients, the leader watch and
the replica comparison TLS with the client certificate. nemesis.Nemesis applies a seeded
schedule: first one of each of kill -9 of the leader, SIGSTOP of the leader, a majority/minority
partition, kill -9 of a random node, SIGSTOP of a random node, an isolated leader (in an order
drawn from the seed), then random ones of these until TLS_FAULT_SECONDS are over; each held
1-3 s (pauses longer than the election timeout), then undone. Afterwards: no term had two
leaders, every replica holds the same data (READONLY over TLS), the history is linearizable,
every restarted node rejoined over TLS, and a plaintext client on a client port is refused.

Short: about 20 s of faults, under 40 s in all on 2 cores. The seed is printed
(RAFTKV_FAULTS_SEED=<n> replays the schedule). Needs root and nftables, as the rest of the fault
suite (the fault_run fixture skips otherwise).

Failure modes: a failure prints the seed, the schedule, the history path and the leader watch
(fault_run), and conftest.py attaches every node's log.
"""

import time

import pytest
import redis

from test_server_tls import Pki
from workload import (  # noqa: F401 -- fault_run is a fixture
    HistoryRecorder, LeaderWatch, Workload, assert_replicas_identical, choose_seed, fault_run,
    history_keys)

TLS_FAULT_SECONDS = 20.0
REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
SNAPSHOT_ENTRIES = 300
HOLD_S = (1.0, 3.0)
QUIET_S = (0.3, 1.0)


def _faults(nemesis):
    """(name, apply, undo) of the faults this test draws from: process faults and partitions."""
    return [
        ("kill leader", nemesis.kill_leader, nemesis.restart),
        ("pause leader", nemesis.pause_leader, nemesis.resume),
        ("partition halves", nemesis.partition_halves, lambda _: nemesis.heal_network()),
        ("kill random", nemesis.kill_random, nemesis.restart),
        ("pause random", nemesis.pause_random, nemesis.resume),
        ("isolate leader", nemesis.isolate_leader, lambda _: nemesis.heal_network()),
    ]


def _run_schedule(nemesis, seconds):
    """Each fault once (in a seeded order), then seeded random ones until `seconds` are over."""
    faults = _faults(nemesis)
    first = list(faults)
    nemesis.random.shuffle(first)
    deadline = time.monotonic() + seconds
    try:
        while first or time.monotonic() < deadline:
            name, apply, undo = first.pop(0) if first else nemesis.random.choice(faults)
            with nemesis.cluster_lock:
                victims = apply()
            hold = nemesis.random.uniform(*HOLD_S)
            if name.startswith("pause"):
                hold = max(hold, nemesis.pause_hold_s())
            time.sleep(hold)
            with nemesis.cluster_lock:
                undo(victims)
            time.sleep(nemesis.random.uniform(*QUIET_S))
    finally:
        nemesis.heal(wait=False)


def test_tls_only_cluster_under_kills_pauses_and_partitions_stays_linearizable(
        make_cluster, fault_run, tmp_path):
    directory = tmp_path / "pki"
    directory.mkdir()
    pki = Pki(str(directory))
    tls = {"ca": pki.path("ca.crt"), "cert": pki.path("client.crt"),
           "key": pki.path("client.key")}
    cluster = make_cluster(size=3, start=False, request_timeout_ms=REQUEST_TIMEOUT_MS,
                           election_timeout_ms=ELECTION_TIMEOUT_MS,
                           snapshot_entries=SNAPSHOT_ENTRIES, tls=tls)
    for node_id in cluster.ids():
        cluster.nodes[node_id].extra_args = (
            pki.node_flags(cert="node.crt", key="node.key")
            + ["--tls-only", "yes", "--tls-replication", "yes"])
    cluster.start()
    cluster.wait_for_leader()

    seed = choose_seed()
    print("RAFTKV_FAULTS_SEED=%d" % seed)
    nemesis = fault_run.nemesis(cluster, seed=seed)
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed).start()
    try:
        _run_schedule(nemesis, TLS_FAULT_SECONDS)
        nemesis.heal()
    finally:
        workload.stop()
        watch.stop()
    fault_run.note("faults applied: %s" % nemesis.counts)
    fault_run.note("workload %s; %s" % (workload.summary(), watch.describe()))
    applied = " ".join(nemesis.counts)
    assert "kill -9" in applied and "SIGSTOP" in applied, nemesis.counts
    assert watch.polls > 0, "the leader watch never read INFO over TLS"
    assert not watch.split_brain(), "two leaders in one term: %s" % watch.split_brain()
    assert workload.counts["ok"] > 0, "no operation succeeded over TLS"
    assert not workload.unexpected, workload.unexpected
    assert_replicas_identical(cluster, history_keys(recorder))
    fault_run.assert_linearizable(recorder)

    # It was TLS all along: the peer links came back over TLS after every restart, and the
    # client ports refuse plaintext.
    for node_id in cluster.ids():
        links = [line for line in cluster.logs(node_id).splitlines()
                 if "connected to peer" in line]
        assert links, "node %d logged no peer link" % node_id
        plaintext = [line for line in links if not line.rstrip().endswith("over TLS")]
        assert not plaintext, "node %d: peer links not over TLS: %s" % (node_id, plaintext)
    node = cluster.nodes[cluster.ids()[0]]
    plain = redis.Redis(host=node.host, port=node.client_port, socket_timeout=2.0,
                        socket_connect_timeout=2.0)
    try:
        with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
            plain.ping()
    finally:
        plain.close()
