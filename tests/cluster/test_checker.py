"""Tests of the linearizability checker (linearizability.py) and the history model (history.py).

Each test pins down one behaviour with a hand-made history, except three: a large random history
produced by simulating a real linearizable register under random concurrency (accepted, and
rejected once one stale read is injected), and a cross-check against a brute-force checker that
tries every order of every tiny random history. No server is needed. Random tests print their
seed in the assertion message, so a failure replays exactly. Run with:

    /usr/bin/python3 -m pytest -q tests/cluster/test_checker.py
"""

import itertools
import json
import os
import random
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import history  # noqa: E402
import linearizability as lin  # noqa: E402
from history import HistoryError, Operation  # noqa: E402

CHECKER = os.path.join(HERE, "linearizability.py")


# --- building hand-made histories ---------------------------------------------------------

def write(process, key, value, start, end, outcome="ok"):
    return dict(process=process, f="write", key=key, argument=value, outcome=outcome,
                result=None, start=start, end=end)


def read(process, key, value, start, end, outcome="ok"):
    return dict(process=process, f="read", key=key, argument=None, outcome=outcome,
                result=value if outcome == "ok" else None, start=start, end=end)


def cas(process, key, expected, new, start, end, outcome="ok", swapped=True):
    return dict(process=process, f="cas", key=key, argument=(expected, new), outcome=outcome,
                result=swapped if outcome == "ok" else None, start=start, end=end)


def make(*specs):
    """Operations from specs, passed through the event format both ways (as a file would be)."""
    operations = [Operation(index, spec["process"], spec["f"], spec["key"], spec["argument"],
                            spec["outcome"], spec["result"], float(spec["start"]),
                            None if spec["end"] is None else float(spec["end"]))
                  for index, spec in enumerate(specs)]
    return history.events_to_operations(history.operations_to_events(operations))


def verdict(*specs):
    return lin.check_operations(make(*specs), time_budget_s=10).verdict


# --- the behaviours -----------------------------------------------------------------------

def test_sequential_valid_history_is_linearizable():
    assert verdict(read(1, "x", None, 0, 1), write(1, "x", "a", 2, 3), read(2, "x", "a", 4, 5),
                   write(2, "x", "b", 6, 7), read(1, "x", "b", 8, 9)) == lin.LINEARIZABLE


@pytest.mark.parametrize("seen", ["a", "b"])
def test_read_overlapping_two_concurrent_writes_may_see_either(seen):
    assert verdict(write(1, "x", "a", 0, 10), write(2, "x", "b", 1, 9),
                   read(3, "x", seen, 2, 8), read(3, "x", seen, 11, 12)) == lin.LINEARIZABLE


def test_stale_read_after_a_completed_write_is_rejected():
    assert verdict(write(1, "x", "a", 0, 1), write(1, "x", "b", 2, 3),
                   read(2, "x", "a", 4, 5)) == lin.NOT_LINEARIZABLE


def test_lost_acknowledged_write_is_rejected():
    assert verdict(write(1, "x", "a", 0, 1), write(2, "x", "b", 2, 3), read(1, "x", "a", 4, 5),
                   read(2, "x", "a", 6, 7)) == lin.NOT_LINEARIZABLE


def test_read_of_a_value_never_written_is_rejected():
    assert verdict(write(1, "x", "a", 0, 1), read(2, "x", "zzz", 0, 5)) == lin.NOT_LINEARIZABLE


def test_read_of_a_value_before_its_write_was_invoked_is_rejected():
    assert verdict(read(2, "x", "a", 0, 1), write(1, "x", "a", 2, 3)) == lin.NOT_LINEARIZABLE


def test_cas_swaps_only_when_the_expected_value_is_current():
    assert verdict(write(1, "x", "a", 0, 1), cas(2, "x", "b", "c", 2, 3, swapped=False),
                   cas(1, "x", "a", "c", 4, 5, swapped=True), read(2, "x", "c", 6, 7),
                   cas(1, "x", None, "d", 8, 9, swapped=False)) == lin.LINEARIZABLE


def test_cas_on_an_absent_key_expecting_absent_swaps():
    assert verdict(cas(1, "x", None, "a", 0, 1), read(2, "x", "a", 2, 3)) == lin.LINEARIZABLE


def test_cas_reporting_success_when_expected_could_not_be_current_is_rejected():
    assert verdict(write(1, "x", "a", 0, 1), write(1, "x", "b", 2, 3),
                   cas(2, "x", "a", "c", 4, 5, swapped=True)) == lin.NOT_LINEARIZABLE


def test_cas_reporting_failure_when_expected_must_be_current_is_rejected():
    assert verdict(write(1, "x", "a", 0, 1), cas(2, "x", "a", "c", 2, 3, swapped=False),
                   ) == lin.NOT_LINEARIZABLE


def test_cas_that_swapped_must_be_visible_to_later_reads():
    assert verdict(write(1, "x", "a", 0, 1), cas(2, "x", "a", "c", 2, 3),
                   read(1, "x", "a", 4, 5)) == lin.NOT_LINEARIZABLE


def test_indeterminate_write_that_later_appears_is_accepted():
    assert verdict(write(1, "x", "a", 0, 1), write(2, "x", "b", 2, 3, outcome="info"),
                   read(1, "x", "a", 4, 5), read(1, "x", "b", 100, 101)) == lin.LINEARIZABLE


def test_indeterminate_write_that_never_appears_is_accepted():
    assert verdict(write(1, "x", "a", 0, 1), write(2, "x", "b", 2, 3, outcome="info"),
                   read(1, "x", "a", 4, 5), read(1, "x", "a", 100, 101)) == lin.LINEARIZABLE


def test_indeterminate_write_cannot_take_effect_before_its_invocation():
    assert verdict(read(1, "x", "b", 0, 1), write(2, "x", "b", 2, 3, outcome="info"),
                   ) == lin.NOT_LINEARIZABLE


def test_indeterminate_write_appearing_then_disappearing_is_rejected():
    # Once "b" is seen it stays until something overwrites it; nothing does here.
    assert verdict(write(1, "x", "a", 0, 1), write(2, "x", "b", 2, 3, outcome="info"),
                   read(1, "x", "b", 4, 5), read(1, "x", "a", 6, 7)) == lin.NOT_LINEARIZABLE


def test_unfinished_invocation_is_indeterminate():
    assert verdict(write(2, "x", "b", 2, None, outcome="info"),
                   read(1, "x", "b", 50, 51)) == lin.LINEARIZABLE


def test_indeterminate_read_is_ignored():
    assert verdict(write(1, "x", "a", 0, 1), read(2, "x", None, 2, 3, outcome="info"),
                   read(1, "x", "a", 4, 5)) == lin.LINEARIZABLE


def test_indeterminate_cas_may_or_may_not_have_swapped():
    for later in ("a", "c"):
        assert verdict(write(1, "x", "a", 0, 1), cas(2, "x", "a", "c", 2, 3, outcome="info"),
                       read(1, "x", later, 10, 11)) == lin.LINEARIZABLE


def test_failed_write_whose_value_appears_is_rejected():
    assert verdict(write(1, "x", "a", 0, 1), write(2, "x", "b", 2, 3, outcome="fail"),
                   read(1, "x", "b", 4, 5)) == lin.NOT_LINEARIZABLE


def test_failed_write_that_never_appears_is_accepted():
    assert verdict(write(1, "x", "a", 0, 1), write(2, "x", "b", 2, 3, outcome="fail"),
                   read(1, "x", "a", 4, 5)) == lin.LINEARIZABLE


def test_keys_are_checked_independently():
    # As one register this would be a stale read of "a"; as two registers it is fine.
    specs = [write(1, "x", "a", 0, 1), write(2, "y", "b", 2, 3), read(3, "x", "a", 4, 5),
             read(3, "y", "b", 6, 7)]
    result = lin.check_operations(make(*specs), time_budget_s=10)
    assert result.verdict == lin.LINEARIZABLE
    assert [key.key for key in result.keys] == ["x", "y"]


def test_violation_is_reported_on_its_own_key_only():
    result = lin.check_operations(make(
        write(1, "x", "a", 0, 1), read(2, "x", "a", 2, 3),
        write(3, "y", "a", 0, 1), write(3, "y", "b", 2, 3), read(2, "y", "a", 4, 5),
    ), time_budget_s=10)
    assert result.verdict == lin.NOT_LINEARIZABLE
    assert [key.key for key in result.violations] == ["y"]
    assert {key.key: key.verdict for key in result.keys}["x"] == lin.LINEARIZABLE


def test_integer_values_compare_as_the_strings_the_store_returns():
    assert verdict(write(1, "x", 5, 0, 1), read(2, "x", "5", 2, 3)) == lin.LINEARIZABLE


def test_explanation_names_the_key_the_prefix_and_the_stuck_operation():
    result = lin.check_operations(make(
        write(1, "k", "a", 0, 1), write(1, "k", "b", 2, 3), read(2, "k", "b", 4, 5),
        read(2, "k", "a", 6, 7),
    ), time_budget_s=10)
    explanation = result.violations[0].explanation
    assert explanation.key == "k"
    assert [(operation.index, after) for operation, after in explanation.prefix] == [
        (0, "a"), (1, "b"), (2, "b")]
    assert explanation.state == "b"
    assert explanation.blocked.index == 3
    report = result.report()
    assert "key 'k': not linearizable" in report
    assert "it read 'a' but the value was 'b'" in report


def test_explanation_of_an_impossible_cas_says_why():
    result = lin.check_operations(make(
        write(1, "k", "a", 0, 1), cas(2, "k", "z", "c", 2, 3, swapped=True)), time_budget_s=10)
    assert "it swapped, so the value was 'z', but the value was 'a'" in result.report()


# --- bounds: "unknown" is not a violation -------------------------------------------------

def many_concurrent_writes_then_impossible_reads(count):
    """`count` overlapping writes, then sequential reads of two of them in an impossible order:
    the search must try every subset of the writes before it can say no."""
    specs = [write(process, "x", f"v{process}", 0, 10) for process in range(count)]
    specs.append(read(100, "x", "v0", 11, 12))
    specs.append(read(100, "x", "v1", 13, 14))
    return make(*specs)


def test_small_hard_history_is_rejected_when_the_budget_allows():
    result = lin.check_operations(many_concurrent_writes_then_impossible_reads(6),
                                  time_budget_s=10)
    assert result.verdict == lin.NOT_LINEARIZABLE


def test_exceeding_the_state_limit_reports_unknown():
    result = lin.check_operations(many_concurrent_writes_then_impossible_reads(14),
                                  time_budget_s=60, max_states=2000)
    assert result.verdict == lin.UNKNOWN
    assert "states" in result.keys[0].unknown_reason


def test_exceeding_the_time_budget_reports_unknown():
    started = time.monotonic()
    result = lin.check_operations(many_concurrent_writes_then_impossible_reads(22),
                                  time_budget_s=0.3)
    assert result.verdict == lin.UNKNOWN
    assert "time budget" in result.keys[0].unknown_reason
    assert time.monotonic() - started < 5


# --- the history file and the command line ------------------------------------------------

def test_history_file_round_trip_keeps_every_operation(tmp_path):
    operations = make(write(1, "x", "a", 0, 1), cas(2, "x", "a", "b", 0.5, 2, swapped=False),
                      read(3, "x", None, 3, 4, outcome="info"), write(2, "y", "c", 5, None,
                                                                     outcome="info"))
    path = str(tmp_path / "history.jsonl")
    history.save_history(path, operations)
    assert history.load_history(path) == operations


def test_recorder_events_load_as_operations(tmp_path):
    ticks = iter(range(100))
    recorder = history.HistoryRecorder(clock=lambda: float(next(ticks)))
    recorder.invoke("c1", "write", "x", "a")
    recorder.invoke("c2", "cas", "x", ["a", "b"])
    recorder.ok("c1")
    recorder.ok("c2", True)
    recorder.invoke("c1", "read", "x")
    recorder.info("c1")
    path = str(tmp_path / "recorded.jsonl")
    recorder.save(path)
    operations = history.load_history(path)
    assert [(op.f, op.outcome, op.result) for op in operations] == [
        ("write", "ok", None), ("cas", "ok", True), ("read", "info", None)]
    assert lin.check_file(path).verdict == lin.LINEARIZABLE
    with pytest.raises(HistoryError):
        recorder.ok("c1")


def run_cli(path, *extra):
    return subprocess.run([sys.executable, CHECKER, *extra, path], capture_output=True,
                          text=True, timeout=120)


def test_command_line_exits_zero_on_a_linearizable_history(tmp_path):
    path = str(tmp_path / "good.jsonl")
    history.save_history(path, make(write(1, "x", "a", 0, 1), read(2, "x", "a", 2, 3)))
    done = run_cli(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LINEARIZABLE" in done.stdout


def test_command_line_exits_one_and_explains_a_violation(tmp_path):
    path = str(tmp_path / "bad.jsonl")
    history.save_history(path, make(write(1, "x", "a", 0, 1), write(1, "x", "b", 2, 3),
                                    read(2, "x", "a", 4, 5)))
    done = run_cli(path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT LINEARIZABLE" in done.stdout
    assert "longest linearizable prefix found: 2 operations" in done.stdout


def test_command_line_exits_three_when_the_budget_runs_out(tmp_path):
    path = str(tmp_path / "hard.jsonl")
    history.save_history(path, many_concurrent_writes_then_impossible_reads(14))
    done = run_cli(path, "--max-states", "500")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "UNKNOWN" in done.stdout


@pytest.mark.parametrize("line, problem", [
    ("{not json", "not JSON"),
    ('{"process": 1, "type": "ok", "f": "read", "key": "x", "time": 1}', "never invoked"),
    ('{"process": 1, "type": "invoke", "f": "incr", "key": "x", "time": 1}', "unknown f"),
    ('{"process": 1, "type": "begin", "f": "read", "key": "x", "time": 1}', "unknown type"),
    ('{"process": 1, "type": "invoke", "f": "write", "key": "x", "value": [1], "time": 1}',
     "must be a string"),
    ('{"process": 1, "type": "invoke", "f": "read", "key": "x"}', "missing field 'time'"),
    ("[1, 2]", "JSON object"),
])
def test_malformed_history_is_a_clear_error(tmp_path, line, problem):
    path = str(tmp_path / "malformed.jsonl")
    with open(path, "w") as stream:
        stream.write(json.dumps({"process": 9, "type": "invoke", "f": "read", "key": "x",
                                 "time": 0}) + "\n")
        stream.write(line + "\n")
    with pytest.raises(HistoryError, match=problem) as error:
        history.load_history(path)
    assert ":2:" in str(error.value)
    done = run_cli(path)
    assert done.returncode == 2
    assert problem in done.stderr


def test_completion_before_invocation_is_a_clear_error():
    events = [{"process": 1, "type": "invoke", "f": "read", "key": "x", "time": 5},
              {"process": 1, "type": "ok", "f": "read", "key": "x", "value": None, "time": 4}]
    with pytest.raises(HistoryError, match="earlier than its invocation"):
        history.events_to_operations(events)


def test_second_invocation_while_one_is_pending_is_a_clear_error():
    events = [{"process": 1, "type": "invoke", "f": "read", "key": "x", "time": 1},
              {"process": 1, "type": "invoke", "f": "read", "key": "x", "time": 2}]
    with pytest.raises(HistoryError, match="had not completed"):
        history.events_to_operations(events)


# --- a large random history from a simulated linearizable register --------------------------

def simulate_register(seed, op_count, process_count, keys, info_rate=0.03, fail_rate=0.03):
    """Operations of `process_count` clients against a real linearizable map: each operation
    takes effect at a random instant inside its interval (an indeterminate one only half of the
    time, a failed one never), and results are computed in that order. Values are unique."""
    rng = random.Random(seed)
    free_at = [rng.uniform(0, 1) for _ in range(process_count)]
    planned, recent = [], {key: [None] for key in keys}
    for index in range(op_count):
        process = min(range(process_count), key=free_at.__getitem__)
        start = free_at[process]
        end = start + rng.expovariate(1.0)
        free_at[process] = end + rng.expovariate(5.0)
        key = rng.choice(keys)
        f = rng.choices(["read", "write", "cas"], weights=[5, 3, 2])[0]
        value = f"v{index}"
        argument = None
        if f == "write":
            argument = value
        elif f == "cas":
            argument = (rng.choice(recent[key][-3:]), value)
        if f != "read":
            recent[key].append(value)
        chance = rng.random()
        outcome = "info" if chance < info_rate else "fail" if chance < info_rate + fail_rate \
            else "ok"
        effective = outcome == "ok" or (outcome == "info" and rng.random() < 0.5)
        planned.append(dict(index=index, process=process, f=f, key=key, argument=argument,
                            outcome=outcome, start=start, end=end, effective=effective,
                            instant=rng.uniform(start, end)))
    store = {}
    results = {}
    for plan in sorted((p for p in planned if p["effective"]), key=lambda p: p["instant"]):
        current = store.get(plan["key"])
        if plan["f"] == "read":
            results[plan["index"]] = current
        elif plan["f"] == "write":
            store[plan["key"]] = plan["argument"]
        else:
            results[plan["index"]] = current == plan["argument"][0]
            if results[plan["index"]]:
                store[plan["key"]] = plan["argument"][1]
    return [Operation(p["index"], p["process"], p["f"], p["key"], p["argument"], p["outcome"],
                      results.get(p["index"]) if p["outcome"] == "ok" else None,
                      p["start"], p["end"]) for p in planned]


def inject_stale_read(operations, rng):
    """Make one ok read in the middle return a value that two acknowledged writes, both finished
    before the read began, put in order before it: a certain violation. Returns the read."""
    writes = [op for op in operations if op.f == "write" and op.outcome == "ok"]
    middle = len(operations) // 2
    for victim in operations[middle:]:
        if victim.f != "read" or victim.outcome != "ok":
            continue
        before = [w for w in writes
                  if w.key == victim.key and w.complete_time < victim.invoke_time]
        for newer in reversed(before):
            older = [w for w in before if w.complete_time < newer.invoke_time
                     and w.argument != victim.result]
            if older:
                victim.result = rng.choice(older[-5:]).argument
                return victim
    raise AssertionError("no read to make stale")


@pytest.mark.parametrize("seed, op_count, process_count, key_count", [
    (1, 4000, 8, 5), (2, 10000, 10, 8), (3, 2000, 6, 1)])
def test_large_random_valid_history_is_accepted_quickly(seed, op_count, process_count,
                                                        key_count):
    operations = simulate_register(seed, op_count, process_count,
                                   [f"k{n}" for n in range(key_count)])
    started = time.monotonic()
    result = lin.check_operations(operations, time_budget_s=60)
    elapsed_s = time.monotonic() - started
    assert result.verdict == lin.LINEARIZABLE, f"seed {seed}\n{result.report()}"
    assert elapsed_s < 15, f"seed {seed}: took {elapsed_s:.1f} s"


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_large_random_history_with_one_stale_read_is_rejected(seed):
    operations = simulate_register(seed, 4000, 8, [f"k{n}" for n in range(5)])
    victim = inject_stale_read(operations, random.Random(seed))
    result = lin.check_operations(operations, time_budget_s=60)
    assert result.verdict == lin.NOT_LINEARIZABLE, f"seed {seed}\n{result.report()}"
    assert [key.key for key in result.violations] == [victim.key], f"seed {seed}"
    explanation = result.violations[0].explanation
    stuck = [explanation.blocked] + explanation.candidates
    assert victim.index in [op.index for op in stuck], f"seed {seed}\n{result.report()}"


# --- agreement with a brute-force checker on tiny histories ---------------------------------

def brute_force_linearizable(operations):
    """From the definition: some subset of the indeterminate operations, with every ok one, in
    some order that respects real time, replays on a map with the recorded results."""
    required = [op for op in operations if op.outcome == "ok"]
    optional = [op for op in operations if op.outcome == "info" and op.f != "read"]
    for size in range(len(optional) + 1):
        for chosen in itertools.combinations(optional, size):
            for order in itertools.permutations(required + list(chosen)):
                if respects_real_time(order) and replays(order):
                    return True
    return False


def respects_real_time(order):
    for position, earlier in enumerate(order):
        for later in order[position + 1:]:
            if later.return_time < earlier.invoke_time:
                return False
    return True


def replays(order):
    store = {}
    for op in order:
        current = store.get(op.key)
        if op.f == "read":
            if op.result != current:
                return False
        elif op.f == "write":
            store[op.key] = op.argument
        else:
            swaps = current == op.argument[0]
            if op.outcome == "ok" and swaps != op.result:
                return False
            if swaps:
                store[op.key] = op.argument[1]
    return True


def random_tiny_history(rng, written=("a", "b"), observed=("a", "b"), outcomes=(7, 2, 1)):
    """Up to 7 operations by up to 3 processes on up to 2 keys, with integer times (so that
    ties happen). Writes draw from `written`, reads and cas expectations from `observed` and
    absent: values written but never observed exercise the merging of unseen values."""
    count = rng.randint(1, 7)
    free_at = {process: 0 for process in range(rng.randint(1, 3))}
    keys = ["x", "y"][:rng.randint(1, 2)]
    values = list(observed)
    specs = []
    for _ in range(count):
        process = rng.choice(list(free_at))
        start = free_at[process] + rng.randint(0, 2)
        end = start + rng.randint(0, 4)
        free_at[process] = end
        key = rng.choice(keys)
        outcome = rng.choices(["ok", "info", "fail"], weights=outcomes)[0]
        f = rng.choice(["read", "write", "cas"])
        if f == "read":
            specs.append(read(process, key, rng.choice(values + [None]), start, end, outcome))
        elif f == "write":
            specs.append(write(process, key, rng.choice(written), start, end, outcome))
        else:
            specs.append(cas(process, key, rng.choice(values + [None]), rng.choice(written),
                             start, end, outcome, swapped=rng.random() < 0.5))
    return make(*specs)


@pytest.mark.parametrize("seed, written, observed, outcomes", [
    (20240601, ("a", "b"), ("a", "b"), (7, 2, 1)),
    (20240602, ("a", "b", "c", "d"), ("a", "b"), (5, 4, 1)),
])
def test_agrees_with_brute_force_on_tiny_random_histories(seed, written, observed, outcomes):
    rng = random.Random(seed)
    verdicts = {True: 0, False: 0}
    for case in range(600):
        operations = random_tiny_history(rng, written, observed, outcomes)
        expected = brute_force_linearizable(operations)
        result = lin.check_operations(operations, time_budget_s=10)
        assert result.verdict != lin.UNKNOWN
        events = history.operations_to_events(operations)
        assert result.linearizable == expected, (
            f"seed {seed} case {case}: brute force says {expected}\n"
            f"{json.dumps(events, indent=1)}\n"
            f"{result.report()}")
        verdicts[expected] += 1
    # Both answers must be common, or the agreement would prove little.
    assert min(verdicts.values()) > 100, verdicts
