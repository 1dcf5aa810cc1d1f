"""test_faults_broken.py — proof that the fault suite can fail: against a deliberately broken
server, the linearizability checker must REJECT the recorded history.

The broken servers are built by src/server/CMakeLists.txt with one guarantee switched off:
raftkv_broken_local_reads (a node that believes it leads answers reads from its own state,
without ReadIndex) and raftkv_broken_ack_before_commit (a write is acknowledged when proposed,
before a majority stored it). RAFTKV_BROKEN_BINARY names one or more of them, separated by
':'; each is a test case. Unset, the tests skip and say so.

Happy path: a short partition scenario (workload.deposed_leader_round: the leader is cut off
and paused, a new leader takes a write, the old one wakes believing it leads and is asked for
a read and a write) runs a few rounds, alongside a recorded workload; the history saved under
the test's directory must be judged "not linearizable". Against the correct server the same
rounds are linearizable (test_faults_partition.py), so a rejection here is the broken rule's.

Failure modes: if the checker accepts the history, the test fails with the seed, the schedule
and the history path (fault_run), so that the missed violation can be studied.
"""

import os

import pytest

from linearizability import NOT_LINEARIZABLE
from workload import (  # noqa: F401 -- fault_run is a fixture
    HistoryRecorder, Workload, deposed_leader_round, fault_run, judge)

BROKEN_ENV = "RAFTKV_BROKEN_BINARY"
REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
MAX_ROUNDS = 4  # rounds until a violation shows; one is nearly always enough


def broken_binaries():
    paths = [path for path in os.environ.get(BROKEN_ENV, "").split(os.pathsep) if path]
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason="%s is not set: point it at raftkv_broken_local_reads and/or "
                   "raftkv_broken_ack_before_commit (':'-separated) to prove the suite "
                   "catches a broken server" % BROKEN_ENV), id="no-broken-binary")]
    return [pytest.param(path, id=os.path.basename(path)) for path in paths]


@pytest.mark.parametrize("binary", broken_binaries())
def test_checker_rejects_the_history_of_a_broken_server(binary, make_cluster, fault_run):
    assert os.access(binary, os.X_OK), "%s=%s is not an executable" % (BROKEN_ENV, binary)
    cluster = make_cluster(size=3, binary=binary, request_timeout_ms=REQUEST_TIMEOUT_MS,
                           election_timeout_ms=ELECTION_TIMEOUT_MS)
    nemesis = fault_run.nemesis(cluster)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed, clients=3, key_prefix="w").start()
    verdict = None
    try:
        for round_number in range(MAX_ROUNDS):
            outcomes = deposed_leader_round(cluster, nemesis, recorder, "k%d" % round_number,
                                            round_number)
            fault_run.note("round %d against %s: %s" % (round_number, os.path.basename(binary),
                                                        outcomes))
            nemesis.heal()
            verdict = judge(recorder, fault_run.history_path("round-%d" % round_number)).verdict
            if verdict == NOT_LINEARIZABLE:
                break
    finally:
        workload.stop()
    fault_run.note("verdict after %d round(s): %s" % (round_number + 1, verdict))
    assert verdict == NOT_LINEARIZABLE, (
        "the checker did not reject the history of the broken server %s (verdict %s)\n%s"
        % (binary, verdict, fault_run.explain()))
