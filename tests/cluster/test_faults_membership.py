"""test_faults_membership.py — nodes replaced one after another while the recorded workload
runs and random faults hurt the cluster, judged by the linearizability checker.

Happy path: a private 3-node cluster (small snapshot_entries, so that some new nodes catch up
from a snapshot) runs workload.Workload's clients and a LeaderWatch. Two threads hurt it at
once: nemesis.Nemesis.run_random applies the usual faults one after another (kill -9 of a
random node, of the leader, of a majority; SIGSTOP; partitions, one-way cuts, packet loss),
and nemesis.MembershipNemesis replaces nodes — a new id joins with --join, catches up as a
learner, is promoted, and an old voter, the leader about a third of the time, is removed and
stopped. The clients, the leader watch and the nftables rules follow the membership. At the
end: every replacement finished, no term had two leaders, every member holds the same data,
and the history is linearizable.

A member that never catches up with the configuration (a known transport bug strands a node
that missed the ADD of a higher id: test_membership.py, xfail) is replaced like any other, as
an operator would, and counted in the notes (MembershipNemesis.stranded); the judgement of
the history is unchanged.

Default: MEMBERSHIP_SECONDS of faults and replacements (about 2 minutes in all on 2 cores).
RAFTKV_FAULTS_SEED=<n> replays the fault thread's choices (the interleaving of the two threads
is not replayable; the printed schedule says what happened).

Failure modes: a failure prints the seed, the schedule of both threads, the history path and
the leader watch (fault_run), and conftest.py attaches every node's log, removed ones included.
"""

import threading

from nemesis import MembershipNemesis
from workload import (  # noqa: F401 -- fault_run is a fixture
    HistoryRecorder, LeaderWatch, Workload, assert_replicas_identical, fault_run, history_keys)

MEMBERSHIP_SECONDS = 75.0
REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
SNAPSHOT_ENTRIES = 300
MIN_REPLACEMENTS = 3  # fewer in MEMBERSHIP_SECONDS means changes stall under faults
JOIN_TIMEOUT_S = 120.0  # the last replacement finishes after the faults stop


def test_nodes_replaced_under_random_faults_keep_the_history_linearizable(make_cluster,
                                                                         fault_run):
    cluster = make_cluster(size=3, request_timeout_ms=REQUEST_TIMEOUT_MS,
                           election_timeout_ms=ELECTION_TIMEOUT_MS,
                           snapshot_entries=SNAPSHOT_ENTRIES)
    nemesis = fault_run.nemesis(cluster)
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    recorder = HistoryRecorder()
    workload = Workload(cluster, recorder, nemesis.seed)
    membership = MembershipNemesis(nemesis, observers=[
        workload.follow_members, watch.follow_members,
        lambda ids: [nemesis.network.add_node(i) for i in ids]])
    stop = threading.Event()
    replacer = threading.Thread(target=membership.run, args=(MEMBERSHIP_SECONDS, stop),
                                name="membership-nemesis", daemon=True)
    workload.start()
    try:
        replacer.start()
        nemesis.run_random(MEMBERSHIP_SECONDS)
        stop.set()
        replacer.join(timeout=JOIN_TIMEOUT_S)
        assert not replacer.is_alive(), "the membership nemesis did not finish its last change"
        nemesis.heal(wait=False)
        if not membership.errors:
            membership.settle()  # a member stranded by the last changes is replaced too
        nemesis.heal()
    finally:
        stop.set()
        workload.stop()
        watch.stop()
    fault_run.note("faults applied: %s" % nemesis.counts)
    fault_run.note("membership: %s; members at the end %s, retired %s"
                   % (membership.summary(), cluster.ids(), sorted(cluster.retired)))
    fault_run.note("workload %s; %s" % (workload.summary(), watch.describe()))
    if membership.errors:
        raise membership.errors[0]
    assert membership.replacements >= MIN_REPLACEMENTS, membership.summary()
    assert not watch.split_brain(), "two leaders in one term: %s" % watch.split_brain()
    assert workload.counts["ok"] > 0, "no operation succeeded"
    assert not workload.unexpected, workload.unexpected
    assert len(cluster.ids()) == 3, cluster.ids()
    assert_replicas_identical(cluster, history_keys(recorder), timeout_s=60.0)
    fault_run.assert_linearizable(recorder)
