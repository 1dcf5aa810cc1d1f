"""test_faults_mixed.py — the recorded workload under a random nemesis schedule, judged by the
linearizability checker; the soak runs more seeds, longer, on 3 and 5 nodes.

Happy path: a private cluster (small snapshot_entries, so that restarted nodes also catch up
from snapshots) runs workload.Workload's clients and a LeaderWatch while nemesis.Nemesis applies
random faults one after another — kill -9 of a random node, of the leader, of a majority;
SIGSTOP of the leader or a random node for several election timeouts; majority/minority
partitions, an isolated leader, a bridge, one-way cuts, packet loss — each held 1-3 s then
undone. Afterwards: no term had two leaders, every replica holds the same data, and the
history is linearizable.

Default: one 3-node run of MIXED_SECONDS (about 20 s of faults). RAFTKV_SOAK=1 adds
RAFTKV_SOAK_RUNS runs (default 4) of RAFTKV_SOAK_SECONDS (default 60) per cluster size (3 and 5).
RAFTKV_FAULTS_SEED=<n> replays the schedule of seed n (run i uses n + i).

Failure modes: a failure prints the seed, the schedule, the history path and the leader
watch (fault_run), and conftest.py attaches every node's log.
"""

import os

import pytest

from workload import (  # noqa: F401 -- fault_run is a fixture
    HistoryRecorder, LeaderWatch, Workload, assert_replicas_identical, choose_seed, fault_run,
    history_keys)

MIXED_SECONDS = 20.0
SOAK_ENV = "RAFTKV_SOAK"
SOAK_RUNS = int(os.environ.get("RAFTKV_SOAK_RUNS", "4"))
SOAK_SECONDS = float(os.environ.get("RAFTKV_SOAK_SECONDS", "60"))
REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
SNAPSHOT_ENTRIES = 300


def runs():
    cases = [pytest.param(3, 0, MIXED_SECONDS, id="3-nodes-%ds" % MIXED_SECONDS)]
    if os.environ.get(SOAK_ENV):
        for size in (3, 5):
            for run in range(SOAK_RUNS):
                cases.append(pytest.param(size, run + 1, SOAK_SECONDS,
                                          id="soak-%d-nodes-run-%d" % (size, run + 1)))
    return cases


@pytest.mark.parametrize("size,run,seconds", runs())
def test_random_faults_keep_the_history_linearizable(size, run, seconds, make_cluster,
                                                     fault_run):
    cluster = make_cluster(size=size, request_timeout_ms=REQUEST_TIMEOUT_MS,
                           election_timeout_ms=ELECTION_TIMEOUT_MS,
                           snapshot_entries=SNAPSHOT_ENTRIES)
    nemesis = fault_run.nemesis(cluster, seed=choose_seed(run))
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed).start()
    try:
        nemesis.run_random(seconds)
        nemesis.heal()
    finally:
        workload.stop()
        watch.stop()
    fault_run.note("faults applied: %s" % nemesis.counts)
    fault_run.note("workload %s; %s" % (workload.summary(), watch.describe()))
    assert not watch.split_brain(), "two leaders in one term: %s" % watch.split_brain()
    assert workload.counts["ok"] > 0, "no operation succeeded in %.0f s" % seconds
    assert not workload.unexpected, workload.unexpected
    assert_replicas_identical(cluster, history_keys(recorder))
    fault_run.assert_linearizable(recorder)
