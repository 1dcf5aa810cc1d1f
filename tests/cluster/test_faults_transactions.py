"""test_faults_transactions.py — transfers between accounts (WATCH + MULTI/EXEC, EVAL, and
EVAL under CLIENT SESSION) under the nemeses: the total never changes, no read is torn or
stale, no acknowledged transfer is lost and none applies twice (bank.py's checker).

Happy path: a private 3-node cluster (small snapshot_entries, so that restarted nodes also
catch up from snapshots) runs bank.BankWorkload — transfer threads of each kind, linearizable
readers on the leader and READONLY readers on any node — and a LeaderWatch while
nemesis.Nemesis applies random faults (kills of a random node, the leader, a majority;
SIGSTOP pauses; partitions, an isolated and paused leader, bridges, one-way cuts, packet loss
— the network faults need nftables, as for the whole fault suite). Afterwards, healed and
applied everywhere, every node's accounts, counter and ledger must agree and the checker must
find no violation. A directed round (bank.deposed_leader_round) asks a woken, deposed leader
for the balances and for a transfer; against the deliberately broken servers
(RAFTKV_BROKEN_BINARY, as for test_faults_broken.py) the same round must be caught — each by
the invariant its broken rule breaks.

Default: one 3-node run of BANK_SECONDS of faults. RAFTKV_SOAK=1 adds RAFTKV_SOAK_RUNS runs
(default 4) of RAFTKV_SOAK_SECONDS (default 60) on 3 and on 5 nodes. RAFTKV_FAULTS_SEED=<n>
replays the schedule of seed n (run i uses n + i).

Failure modes: a failure prints the seed, the schedule, the saved bank history (JSON lines,
with every node's final state) and the checker's report (fault_run); conftest.py attaches
every node's log.
"""

import os

import pytest

from bank import BankHistory, BankWorkload, Read, Transfer, check, deposed_leader_round
from workload import (  # noqa: F401 -- fault_run is a fixture
    LeaderWatch, choose_seed, fault_run)

BANK_SECONDS = 25.0
SOAK_ENV = "RAFTKV_SOAK"
SOAK_RUNS = int(os.environ.get("RAFTKV_SOAK_RUNS", "4"))
SOAK_SECONDS = float(os.environ.get("RAFTKV_SOAK_SECONDS", "60"))
REQUEST_TIMEOUT_MS = 1500
ELECTION_TIMEOUT_MS = 500
SNAPSHOT_ENTRIES = 300
DEPOSED_ROUNDS = 2
BROKEN_ENV = "RAFTKV_BROKEN_BINARY"
MAX_BROKEN_ROUNDS = 4
# What each broken server breaks, as the checker names it.
BROKEN_CATCHES = {"raftkv_broken_local_reads": "stale linearizable read",
                  "raftkv_broken_ack_before_commit": "acknowledged transfer lost"}


def start(make_cluster, size=3, **options):
    return make_cluster(size=size, request_timeout_ms=REQUEST_TIMEOUT_MS,
                        election_timeout_ms=ELECTION_TIMEOUT_MS,
                        snapshot_entries=SNAPSHOT_ENTRIES, **options)


def judge(fault_run, workload, name="bank"):
    """Reads every node's final state, saves the history, checks it; returns the verdict."""
    states = workload.final_states()
    path = fault_run.history_path(name)
    workload.history.save(path, {str(i): state for i, state in states.items()})
    verdict = check(workload.history, states)
    fault_run.note("bank: %s" % workload.summary())
    fault_run.note("bank checker on %s: %s" % (path, verdict.report()))
    return verdict


def assert_no_violation(fault_run, verdict):
    assert not verdict.violations, ("the bank checker found violations:\n%s\n%s"
                                    % (verdict.report(), fault_run.explain()))


def runs():
    cases = [pytest.param(3, 0, BANK_SECONDS, id="3-nodes-%ds" % BANK_SECONDS)]
    if os.environ.get(SOAK_ENV):
        for size in (3, 5):
            for run in range(SOAK_RUNS):
                cases.append(pytest.param(size, run + 1, SOAK_SECONDS,
                                          id="soak-%d-nodes-run-%d" % (size, run + 1)))
    return cases


@pytest.mark.parametrize("size,run,seconds", runs())
def test_random_faults_keep_every_transfer_atomic_and_the_total_constant(
        size, run, seconds, make_cluster, fault_run):
    cluster = start(make_cluster, size=size)
    nemesis = fault_run.nemesis(cluster, seed=choose_seed(run))
    watch = LeaderWatch(cluster).start()
    fault_run.watches.append(watch)
    workload = BankWorkload(cluster, nemesis.seed).setup().start()
    try:
        nemesis.run_random(seconds)
        nemesis.heal()
    finally:
        workload.stop()
        watch.stop()
    fault_run.note("faults applied: %s" % nemesis.counts)
    assert not watch.split_brain(), "two leaders in one term: %s" % watch.split_brain()
    verdict = judge(fault_run, workload)
    assert_no_violation(fault_run, verdict)
    assert not workload.unexpected, workload.unexpected
    assert not workload.sessions_unresolved, (
        "session transfers still unknown after healing: %s" % workload.sessions_unresolved)
    committed = sum(1 for t in workload.history.transfers if t.outcome == "ok")
    assert committed > 0 and verdict.checked_reads > 0, "nothing was tested: %s" % (
        workload.summary())


def test_a_woken_deposed_leader_shows_no_stale_balances_and_loses_no_transfer(make_cluster,
                                                                              fault_run):
    cluster = start(make_cluster)
    nemesis = fault_run.nemesis(cluster)
    workload = BankWorkload(cluster, nemesis.seed, clients={"lua": 1, "reader": 1}).setup()
    workload.start()
    try:
        for round_number in range(DEPOSED_ROUNDS):
            outcomes = deposed_leader_round(workload, nemesis, round_number)
            fault_run.note("round %d: the woken deposed leader answered %s"
                           % (round_number, outcomes))
            assert outcomes["transfer"][0] != "ok", "the deposed leader acknowledged a transfer"
            nemesis.heal()
    finally:
        workload.stop()
    assert_no_violation(fault_run, judge(fault_run, workload))
    assert not workload.unexpected, workload.unexpected


def broken_binaries():
    paths = [path for path in os.environ.get(BROKEN_ENV, "").split(os.pathsep) if path]
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason="%s is not set: point it at the broken servers to prove the bank checker "
                   "catches them" % BROKEN_ENV), id="no-broken-binary")]
    return [pytest.param(path, id=os.path.basename(path)) for path in paths]


@pytest.mark.parametrize("binary", broken_binaries())
def test_the_bank_checker_catches_a_broken_server(binary, make_cluster, fault_run):
    assert os.access(binary, os.X_OK), "%s=%s is not an executable" % (BROKEN_ENV, binary)
    expected = BROKEN_CATCHES.get(os.path.basename(binary))
    cluster = start(make_cluster, binary=binary)
    nemesis = fault_run.nemesis(cluster)
    # Script transfers and readers only: a broken ack-before-commit answers every write "OK"
    # before it applies, so a WATCH abort or a declined transfer would be "lost" too; here
    # the loss must be the deposed leader's.
    workload = BankWorkload(cluster, nemesis.seed,
                            clients={"lua": 1, "reader": 2, "stale-reader": 1}).setup().start()
    # The round that shows the broken rule: the deposed leader answered the read, or
    # acknowledged the transfer (a correct server does neither).
    shown = "transfer" if expected == BROKEN_CATCHES["raftkv_broken_ack_before_commit"] else "read"
    try:
        for round_number in range(MAX_BROKEN_ROUNDS):
            outcomes = deposed_leader_round(workload, nemesis, round_number)
            fault_run.note("round %d against %s: %s" % (round_number, os.path.basename(binary),
                                                        outcomes))
            nemesis.heal()
            if outcomes[shown][0] == "ok":
                break
    finally:
        workload.stop()
    verdict = judge(fault_run, workload, name="bank-broken")
    caught = verdict.violations.get(expected, []) if expected else verdict.violations
    assert caught, ("the bank checker did not catch the broken server %s (expected %r)\n%s\n%s"
                    % (binary, expected, verdict.report(), fault_run.explain()))
    deposed = [text for text in caught if "deposed-" in text]
    assert deposed, ("the violations are not the deposed leader's:\n%s" % verdict.report())


# ---- the checker itself, on histories written by hand (no cluster) ----

def _history(*transfers, reads=()):
    history = BankHistory(accounts=2, initial_balance=10)
    history.transfers = list(transfers)
    history.reads = list(reads)
    return history


def _transfer(transfer_id, source, destination, amount, invoke, complete, outcome, reply=None):
    return Transfer(transfer_id, "p", "lua", source, destination, amount, invoke, complete,
                    outcome, reply)


def _state(balances, ledger):
    return {"balances": balances, "count": len(ledger), "ledger": ledger}


def _states(balances, ledger):
    return {node: _state(balances, ledger) for node in (1, 2, 3)}


def test_checker_accepts_a_correct_history():
    history = _history(_transfer("a", 0, 1, 3, 0.0, 1.0, "ok", [7, 13, 1]),
                       _transfer("b", 1, 0, 5, 2.0, 3.0, "info"),
                       _transfer("c", 1, 0, 4, 2.0, 3.0, "aborted"),
                       reads=[Read("r", "mget", "n", False, 1.5, 1.6, [7, 13], 1),
                              Read("s", "mget", "n", True, 1.5, 1.6, [10, 10], 0)])
    verdict = check(history, _states([12, 8], ["a 0 1 3", "b 1 0 5"]))
    assert not verdict.violations, verdict.report()


@pytest.mark.parametrize("case,category", [
    ("torn", "torn read"), ("stale", "stale linearizable read"),
    ("lost", "acknowledged transfer lost"), ("twice", "applied twice"),
    ("aborted applied", "applied though it had no effect"),
    ("replicas", "replicas differ"), ("bounds", "final balance out of bounds"),
    ("order", "transfers out of real-time order"), ("overdraft", "overdraft")])
def test_checker_names_each_violation(case, category):
    ok = _transfer("a", 0, 1, 3, 0.0, 1.0, "ok", [7, 13, 1])
    ledger, balances, reads, transfers = ["a 0 1 3"], [7, 13], [], [ok]
    states = None
    if case == "torn":
        reads = [Read("r", "mget", "n", True, 0.5, 0.6, [7, 10], 1)]
    elif case == "stale":
        reads = [Read("r", "mget", "n", False, 2.0, 2.1, [10, 10], 0)]
    elif case == "lost":
        ledger, balances = [], [10, 10]
    elif case == "twice":
        ledger, balances = ["a 0 1 3", "a 0 1 3"], [4, 16]
    elif case == "aborted applied":
        transfers.append(_transfer("b", 1, 0, 2, 2.0, 3.0, "aborted"))
        ledger, balances = ["a 0 1 3", "b 1 0 2"], [9, 11]
    elif case == "order":
        transfers.append(_transfer("b", 1, 0, 2, 2.0, 3.0, "ok", [9, 12, 1]))
        ledger, balances = ["b 1 0 2", "a 0 1 3"], [9, 11]
    elif case == "overdraft":
        transfers.append(_transfer("b", 0, 1, 9, 2.0, 3.0, "ok", [-2, 22, 2]))
        ledger, balances = ["a 0 1 3", "b 0 1 9"], [-2, 22]
    elif case == "replicas":
        states = _states(balances, ledger)
        states[3] = _state([10, 10], [])
    elif case == "bounds":
        states = {node: {"balances": [6, 14], "count": 1, "ledger": ledger} for node in (1, 2)}
    verdict = check(_history(*transfers, reads=reads), states or _states(balances, ledger))
    assert category in verdict.violations, verdict.report()
