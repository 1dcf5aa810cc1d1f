#!/usr/bin/python3
"""Linearizability checker for histories recorded by concurrent clients of the key-value store.

A history is linearizable if every operation can be given one instant, between its invocation
and its completion, such that performed one at a time in that order the operations give the
results the clients saw, starting from an empty store (Herlihy & Wing). The store is a map of
independent registers, and linearizability is compositional (P-compositionality), so each key is
checked on its own. For one key the search is Wing & Gong's, with Lowe's memoization ("Testing
for linearizability", 2017), as Knossos and Porcupine do it: the invocations and completions sit
in one time-ordered linked list; the search linearizes any operation whose invocation comes
before the first completion still in the list, removes it, and backtracks when it meets the
completion of an operation it has not linearized. A set of (linearized operations, register
value) pairs already explored prunes every repeated configuration, which keeps the search close
to linear for the histories real clients produce.

Outcomes: an "ok" operation took effect with the result recorded; a "fail" operation had no
effect and is dropped; an "info" (indeterminate) operation may take effect at any time after its
invocation or never. An indeterminate read is dropped (it observed nothing); an indeterminate
write or cas gets the latest time by which taking effect can still matter, and past it the search
takes it as never effective (see _plan_key for why this keeps the verdict exact).

Happy path: check_operations(load_history(path)) returns a CheckResult whose verdict is
"linearizable". On a violation it is "not linearizable" and names each failing key with an
Explanation: the longest linearizable prefix the search found, the value after it, and the
pending operations that could not take effect next, each with the reason. The search is
exponential in the worst case, so it is bounded by a time budget and a limit on explored
configurations; exceeding either gives "unknown", which is not a violation. Measured on this
machine: 10,000-operation histories of 8-20 clients over 1-8 keys, with 5-10% indeterminate
operations, take well under 2 s either way when the workload is reads and writes. Proving a
violation is much harder when many indeterminate writes whose values no read returned are
still in flight and cas operations that did not swap occur all through the history (each of
those writes might be the reason some later cas did not swap): there, thousands of operations
per key can end as "unknown". Fewer operations per key (more keys) keep it fast. From a shell:

    /usr/bin/python3 tests/cluster/linearizability.py history.jsonl

prints the verdict and exits 0 (linearizable), 1 (not linearizable), 2 (bad input or usage) or
3 (unknown: budget exhausted).
"""

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

# The history model sits beside this file; make it importable however this file is run.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from history import HistoryError, Operation, load_history  # noqa: E402

LINEARIZABLE = "linearizable"
NOT_LINEARIZABLE = "not linearizable"
UNKNOWN = "unknown"

# Defaults of the search's bounds; both configurable per call and on the command line.
DEFAULT_TIME_BUDGET_S = 60.0
# Each explored configuration costs about a hundred bytes plus a bit per operation of its key.
DEFAULT_MAX_STATES = 1_000_000
# How often (in search steps) the search looks at the clock and the state count.
CLOCK_CHECK_STEPS = 1024
# How many operations of the longest linearizable prefix an explanation prints by default.
DEFAULT_SHOWN_PREFIX_OPS = 12

# What an operation does to the register, as the search sees it.
READ, WRITE, CAS_SWAPPED, CAS_UNCHANGED, CAS_UNKNOWN = range(5)
_ILLEGAL = object()


def _step(kind: int, first: Any, second: Any, state: Any) -> Any:
    """The register's value after the operation, or _ILLEGAL if it cannot take effect now."""
    if kind == READ:
        return state if state == first else _ILLEGAL
    if kind == WRITE:
        return first
    if kind == CAS_SWAPPED:
        return second if state == first else _ILLEGAL
    if kind == CAS_UNCHANGED:
        return state if state != first else _ILLEGAL
    assert kind == CAS_UNKNOWN
    return second if state == first else state


def _operation_kind(operation: Operation) -> Tuple[int, Any, Any]:
    """(kind, first, second) for an operation the search keeps."""
    if operation.f == "read":
        assert operation.outcome == "ok"
        return READ, operation.result, None
    if operation.f == "write":
        return WRITE, operation.argument, None
    expected, new = operation.argument
    if operation.outcome == "ok":
        return (CAS_SWAPPED if operation.result else CAS_UNCHANGED), expected, new
    return CAS_UNKNOWN, expected, new


def show_value(value: Any) -> str:
    return "(absent)" if value is None else repr(value)


def describe_operation(operation: Operation) -> str:
    """One line naming an operation: its index, process, call, outcome and times."""
    key = repr(operation.key)
    if operation.f == "read":
        call = f"read({key})"
    elif operation.f == "write":
        call = f"write({key}, {show_value(operation.argument)})"
    else:
        expected, new = operation.argument
        call = f"cas({key}, {show_value(expected)} -> {show_value(new)})"
    if operation.outcome == "ok" and operation.f == "read":
        outcome = f"ok -> {show_value(operation.result)}"
    elif operation.outcome == "ok" and operation.f == "cas":
        outcome = "ok, swapped" if operation.result else "ok, not swapped"
    elif operation.outcome == "info":
        outcome = "info (indeterminate)"
    else:
        outcome = operation.outcome
    completed = "never" if operation.complete_time is None else f"{operation.complete_time:.6f}"
    return (f"#{operation.index} process {operation.process}: {call} {outcome} "
            f"[{operation.invoke_time:.6f} .. {completed}]")


def refusal_reason(operation: Operation, state: Any) -> Optional[str]:
    """Why `operation` cannot take effect when the register holds `state`; None if it can."""
    kind, first, _ = _operation_kind(operation)
    if _step(kind, first, None, state) is not _ILLEGAL:
        return None
    if kind == READ:
        return f"it read {show_value(first)} but the value was {show_value(state)}"
    if kind == CAS_SWAPPED:
        return (f"it swapped, so the value was {show_value(first)}, "
                f"but the value was {show_value(state)}")
    assert kind == CAS_UNCHANGED
    return f"it did not swap, so the value was not {show_value(first)}, but it was"


@dataclass
class Explanation:
    """Why a key's history is not linearizable, from the deepest point the search reached.

    `prefix` is the longest linearizable sequence found, each operation with the value after it;
    operations in `never_effective` (indices) are indeterminate ones taken as never having taken
    effect. `state` is the value after the whole prefix. `blocked` had to take effect by
    `blocked_by_time` but could not; `candidates` are the operations that could have gone next
    (blocked among them).
    """

    key: str
    prefix: List[Tuple[Operation, Any]]
    never_effective: List[int]
    state: Any
    blocked: Operation
    blocked_by_time: float
    candidates: List[Operation]

    def lines(self, shown_prefix_ops: int = DEFAULT_SHOWN_PREFIX_OPS) -> List[str]:
        text = [f"longest linearizable prefix found: {len(self.prefix)} operations"]
        shown = self.prefix[-shown_prefix_ops:] if shown_prefix_ops > 0 else []
        if len(shown) < len(self.prefix):
            text.append(f"  ... {len(self.prefix) - len(shown)} earlier operations ...")
        for operation, after in shown:
            effect = f"=> {show_value(after)}"
            if operation.index in self.never_effective:
                effect = "=> never took effect"
            text.append(f"  {describe_operation(operation)}  {effect}")
        text.append(f"value after the prefix: {show_value(self.state)}")
        text.append(f"then {describe_operation(self.blocked)}")
        if self.blocked.outcome == "ok":
            text.append(f"  completed at {self.blocked_by_time:.6f} "
                        "but could not take effect by then;")
        else:
            text.append(f"  is indeterminate; by {self.blocked_by_time:.6f} it had to take "
                        "effect or never do so, and neither way leads to a linearization;")
        text.append("  none of the operations that could go next can take effect:")
        for operation in self.candidates:
            reason = refusal_reason(operation, self.state)
            if reason is None:
                reason = "it can take effect here, but every continuation was tried and failed"
            text.append(f"    {describe_operation(operation)}: {reason}")
        return text


@dataclass
class KeyResult:
    """The verdict on one key, with what the search did to reach it."""

    key: str
    verdict: str
    checked_ops: int
    dropped_ops: int
    explored_states: int
    elapsed_s: float
    explanation: Optional[Explanation] = None
    unknown_reason: str = ""

    def lines(self, shown_prefix_ops: int = DEFAULT_SHOWN_PREFIX_OPS) -> List[str]:
        head = (f"key {self.key!r}: {self.verdict} ({self.checked_ops} operations checked, "
                f"{self.dropped_ops} dropped, {self.explored_states} states, "
                f"{self.elapsed_s:.2f} s)")
        if self.verdict == UNKNOWN:
            head += f": {self.unknown_reason}"
        body = []
        if self.explanation is not None:
            body = ["  " + line for line in self.explanation.lines(shown_prefix_ops)]
        return [head] + body


@dataclass
class CheckResult:
    """The verdict on a whole history: not linearizable if any key is, else unknown if any key
    is, else linearizable."""

    verdict: str
    keys: List[KeyResult] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def linearizable(self) -> bool:
        return self.verdict == LINEARIZABLE

    @property
    def violations(self) -> List[KeyResult]:
        return [result for result in self.keys if result.verdict == NOT_LINEARIZABLE]

    def report(self, shown_prefix_ops: int = DEFAULT_SHOWN_PREFIX_OPS,
               all_keys: bool = True) -> str:
        text = [f"verdict: {self.verdict.upper()} ({len(self.keys)} keys, "
                f"{self.elapsed_s:.2f} s)"]
        for result in self.keys:
            if all_keys or result.verdict != LINEARIZABLE:
                text.extend(result.lines(shown_prefix_ops))
        return "\n".join(text)


class _Unseen:
    """The one register value that stands for every value no operation ever observes."""

    def __repr__(self) -> str:
        return "<a value no operation observed>"


UNSEEN = _Unseen()


@dataclass
class _Plan:
    """One key's operations as the search sees them: `deadlines[i]` is the latest time
    operation i may take effect, `may_skip[i]` says whether it may never take effect,
    `kinds[i]` is its (kind, first, second) with unobserved values replaced by UNSEEN, and
    `class_previous[i]` is the interchangeable operation invoked just before it, or -1."""

    operations: List[Operation] = field(default_factory=list)
    deadlines: List[float] = field(default_factory=list)
    may_skip: List[bool] = field(default_factory=list)
    kinds: List[Tuple[int, Any, Any]] = field(default_factory=list)
    class_previous: List[int] = field(default_factory=list)
    dropped_ops: int = 0


class _Observations:
    """What one key's operations observed, for _plan_key's rules."""

    def __init__(self, live: Sequence[Operation]) -> None:
        self.producers: Dict[Any, int] = {}
        self.observed_by: Dict[Any, List[float]] = {}
        self.unknown_cas_expecting: Dict[Any, int] = {}
        self.not_swapped_until = -math.inf
        self.seen = set()
        for op in live:
            kind, first, second = _operation_kind(op)
            if kind in (WRITE, CAS_SWAPPED, CAS_UNKNOWN):
                new_value = first if kind == WRITE else second
                self.producers[new_value] = self.producers.get(new_value, 0) + 1
            if kind != WRITE:
                self.seen.add(first)
            if kind in (READ, CAS_SWAPPED):
                self.observed_by.setdefault(first, []).append(op.return_time)
            if kind == CAS_UNKNOWN:
                self.unknown_cas_expecting[first] = self.unknown_cas_expecting.get(first, 0) + 1
            if kind == CAS_UNCHANGED:
                self.not_swapped_until = max(self.not_swapped_until, op.return_time)

    def latest_needer(self, op: Operation, new_value: Any) -> float:
        """The latest completion of an operation that may need `op` (rule 2 of _plan_key) to
        take effect before it; -infinity if none may."""
        own_expectation = 1 if op.f == "cas" and op.argument[0] == new_value else 0
        if self.unknown_cas_expecting.get(new_value, 0) > own_expectation:
            return math.inf
        # A cas that reported "not swapped" expecting new_value cannot follow op with no change
        # between them, so it is not a needer; counting it anyway only loosens the deadline.
        latest = max(self.observed_by.get(new_value, [-math.inf]) + [self.not_swapped_until])
        return latest if latest >= op.invoke_time else -math.inf


def _plan_key(operations: Sequence[Operation]) -> _Plan:
    """Which of one key's operations the search must place, by when, and which may be skipped.

    Dropped: "fail" operations (no effect) and indeterminate reads (they observed nothing).
    An indeterminate write or cas W, with new value v (never null), may take effect at any time
    after its invocation or never. Left pending until +infinity, W would be tried at every point
    of the search, which is exponential in the number of such operations in flight together.
    So each gets a deadline, without changing the verdict:

    1. If W is the only operation that can produce v and some ok operation observed v (a read
       of v, a cas that swapped from v), every linearization has W before each of them: its
       deadline is the earliest completion among them, and it cannot be skipped.
    2. Otherwise take a linearization in which W takes effect, and remove W. Only the
       operations between W and the next change of value see another value (the one before W).
       They can be: reads of v, cas that swapped from v (ok or indeterminate), cas that
       reported "not swapped" expecting a value other than v, and indeterminate cas that did
       nothing (which may as well never take effect). If none of the first three kinds -- W's
       "needers" -- is there, what is left is still a linearization. So W either never takes
       effect, or takes effect before some needer completes: its deadline is the latest
       completion of a needer that completes after W's invocation (+infinity if an
       indeterminate cas expects v), and at its deadline the search may skip it. Without
       needers W is dropped.
    """
    live = [op for op in operations
            if op.outcome != "fail" and not (op.f == "read" and op.outcome != "ok")]
    observations = _Observations(live)
    plan = _Plan(dropped_ops=len(operations) - len(live))
    for op in live:
        deadline, may_skip = op.return_time, False
        if op.outcome != "ok":
            kind, first, second = _operation_kind(op)
            new_value = first if kind == WRITE else second
            if observations.producers[new_value] == 1 and new_value in observations.observed_by:
                deadline = max(op.invoke_time, min(observations.observed_by[new_value]))
            else:
                deadline, may_skip = observations.latest_needer(op, new_value), True
                if deadline < op.invoke_time:
                    plan.dropped_ops += 1
                    continue
        plan.operations.append(op)
        plan.deadlines.append(deadline)
        plan.may_skip.append(may_skip)
    _merge_unseen_values(plan, observations.seen)
    return plan


def _merge_unseen_values(plan: _Plan, seen: set) -> None:
    """Replace every value no operation observes (no read returned it, no cas expected it) by
    UNSEEN, and link interchangeable indeterminate operations.

    No operation can tell two unseen values apart, so registers holding either have the same
    futures, and merging them lets the memoization prune more. After merging, indeterminate
    writes of unseen values all do the same thing, and by _plan_key's rule 2 they all have the
    same deadline (the latest "not swapped" cas), as do indeterminate cas of unseen values with
    the same expected value. Within such a class only how many took effect matters, not which:
    if a linearization uses a later-invoked member while an earlier-invoked one is unused,
    swapping their roles is still a linearization. So the search lets a member take effect only
    after the member invoked before it did (`class_previous`), which turns 2^k subsets of k
    members in flight into k + 1 choices.
    """
    last_in_class: Dict[Tuple[Any, ...], int] = {}
    order = sorted(range(len(plan.operations)),
                   key=lambda index: plan.operations[index].invoke_time)
    plan.kinds = [(-1, None, None)] * len(plan.operations)
    plan.class_previous = [-1] * len(plan.operations)
    for index in order:
        op = plan.operations[index]
        kind, first, second = _operation_kind(op)
        if kind == WRITE and first not in seen:
            first = UNSEEN
        if kind in (CAS_SWAPPED, CAS_UNKNOWN) and second not in seen:
            second = UNSEEN
        plan.kinds[index] = (kind, first, second)
        if plan.may_skip[index] and (first is UNSEEN or second is UNSEEN):
            assert op.outcome != "ok"
            members = (kind,) if kind == WRITE else (kind, first)
            previous = last_in_class.get(members, -1)
            assert previous < 0 or plan.deadlines[previous] == plan.deadlines[index]
            plan.class_previous[index] = previous
            last_in_class[members] = index


class _Deadline(Exception):
    """The search ran out of its time budget or its state limit."""


class _KeySearch:
    """The Wing & Gong / Lowe search over one key's plan (operation indices local to it)."""

    def __init__(self, plan: _Plan, deadline: float, max_states: int):
        self.operations = plan.operations
        self.deadlines = plan.deadlines
        self.may_skip = plan.may_skip
        self.kinds = plan.kinds
        self.class_previous = plan.class_previous
        self.deadline = deadline
        self.max_states = max_states
        self.explored_states = 0
        self._build_entries()
        self.best_depth = -1
        self.best: Optional[Tuple[list, Any, int]] = None

    def _build_entries(self) -> None:
        """A doubly linked list of call and return entries in time order, between a head (0)
        and a tail sentinel; a return entry sits at its operation's deadline. At equal times
        calls come first: such operations overlap. `match` links a call and its return."""
        moments = []
        for index, operation in enumerate(self.operations):
            moments.append((operation.invoke_time, 0, index))
            moments.append((self.deadlines[index], 1, index))
        moments.sort()
        count = len(moments)
        self.tail = count + 1
        self.next = list(range(1, count + 2)) + [self.tail]
        self.prev = [0] + list(range(0, count + 1))
        self.is_call = [False] * (count + 2)
        self.entry_op = [-1] * (count + 2)
        self.match = [-1] * (count + 2)
        call_entry = {}
        for entry, (_, is_return, index) in enumerate(moments, start=1):
            self.entry_op[entry] = index
            if is_return:
                self.match[call_entry[index]] = entry
                self.match[entry] = call_entry[index]
            else:
                self.is_call[entry] = True
                call_entry[index] = entry

    def _lift(self, entry: int) -> None:
        """Remove a call entry and its return entry from the list."""
        nxt, prv = self.next, self.prev
        prv[nxt[entry]] = prv[entry]
        nxt[prv[entry]] = nxt[entry]
        match = self.match[entry]
        prv[nxt[match]] = prv[match]
        nxt[prv[match]] = nxt[match]

    def _unlift(self, entry: int) -> None:
        """Put back what _lift removed, in the reverse order."""
        nxt, prv = self.next, self.prev
        match = self.match[entry]
        nxt[prv[match]] = match
        prv[nxt[match]] = match
        nxt[prv[entry]] = entry
        prv[nxt[entry]] = entry

    def _note_dead_end(self, stack: list, state: Any, entry: int) -> None:
        """Remember the deepest dead end: it explains a violation best."""
        if len(stack) > self.best_depth:
            self.best_depth = len(stack)
            self.best = (stack[:], state, entry)

    def run(self) -> bool:
        """True if linearizable, False if not; raises _Deadline when out of budget.

        At a call entry the search tries to make that operation take effect now (a member of a
        class of interchangeable operations only once the one before it has). Meeting a
        return entry means every operation invoked before that deadline was tried: if the
        operation may be skipped, the last choice is to skip it here (skipping it earlier
        would reach the same configurations); otherwise the branch is dead, and the search
        undoes its latest choice. The stack holds (call entry, value before, took effect).
        """
        head, nxt, is_call, entry_op = 0, self.next, self.is_call, self.entry_op
        kinds, may_skip, match = self.kinds, self.may_skip, self.match
        class_previous, done = self.class_previous, [False] * len(self.operations)
        cache = set()
        stack: List[Tuple[int, Any, bool]] = []
        linearized, state = 0, None
        entry, steps = nxt[head], 0
        while nxt[head] != self.tail:
            steps += 1
            if steps % CLOCK_CHECK_STEPS == 0:
                self._check_bounds(len(cache))
            index = entry_op[entry]
            if is_call[entry]:
                kind, first, second = kinds[index]
                after, call = _step(kind, first, second, state), entry
                if class_previous[index] >= 0 and not done[class_previous[index]]:
                    after = _ILLEGAL
            else:
                after, call = (state if may_skip[index] else _ILLEGAL), match[entry]
            if after is not _ILLEGAL:
                configuration = (linearized | (1 << index), after)
                if configuration not in cache:
                    cache.add(configuration)
                    stack.append((call, state, call == entry))
                    done[index] = True
                    linearized, state = configuration
                    self._lift(call)
                    entry = nxt[head]
                    continue
            if is_call[entry]:
                entry = nxt[entry]
                continue
            self._note_dead_end(stack, state, entry)
            took_effect = False
            while not took_effect:
                if not stack:
                    self.explored_states = len(cache)
                    return False
                call, state, took_effect = stack.pop()
                done[entry_op[call]] = False
                linearized &= ~(1 << entry_op[call])
                self._unlift(call)
            entry = nxt[call]
        self.explored_states = len(cache)
        return True

    def _check_bounds(self, states: int) -> None:
        self.explored_states = states
        if states > self.max_states:
            raise _Deadline(f"explored more than {self.max_states} states")
        if time.monotonic() > self.deadline:
            raise _Deadline("time budget exhausted")

    def explanation(self, key: str) -> Explanation:
        assert self.best is not None
        stack, _, dead_entry = self.best
        # Replay the prefix with the recorded values, which the search partly merged.
        prefix, never_effective, state = [], [], None
        for call, _, took_effect in stack:
            operation = self.operations[self.entry_op[call]]
            if took_effect:
                kind, first, second = _operation_kind(operation)
                state = _step(kind, first, second, state)
                assert state is not _ILLEGAL
            else:
                never_effective.append(operation.index)
            prefix.append((operation, state))
        dead_index = self.entry_op[dead_entry]
        by_time = self.deadlines[dead_index]
        done = {self.entry_op[call] for call, _, _ in stack}
        candidates = [operation for index, operation in enumerate(self.operations)
                      if index not in done and operation.invoke_time <= by_time]
        return Explanation(key, prefix, never_effective, state, self.operations[dead_index],
                           by_time, candidates)


def check_key(key: str, operations: Sequence[Operation], time_budget_s: float,
              max_states: int = DEFAULT_MAX_STATES) -> KeyResult:
    """Check one key's operations (all on `key`) as a single register starting absent."""
    started = time.monotonic()
    plan = _plan_key(operations)
    search = _KeySearch(plan, started + time_budget_s, max_states)
    result = KeyResult(key, UNKNOWN, len(plan.operations), plan.dropped_ops, 0, 0.0)
    try:
        if search.run():
            result.verdict = LINEARIZABLE
        else:
            result.verdict = NOT_LINEARIZABLE
            result.explanation = search.explanation(key)
    except _Deadline as reason:
        result.unknown_reason = str(reason)
    result.explored_states = search.explored_states
    result.elapsed_s = time.monotonic() - started
    return result


def check_operations(operations: Sequence[Operation],
                     time_budget_s: float = DEFAULT_TIME_BUDGET_S,
                     max_states: int = DEFAULT_MAX_STATES) -> CheckResult:
    """Check a whole history, key by key. Smaller keys go first, and each key may use the
    remaining budget divided by the keys left, so one hard key cannot starve the others of
    their verdicts; `max_states` bounds each key's search."""
    if time_budget_s < 0 or max_states < 0:
        raise ValueError("time_budget_s and max_states must not be negative")
    started = time.monotonic()
    by_key: Dict[str, List[Operation]] = {}
    for operation in operations:
        by_key.setdefault(operation.key, []).append(operation)
    order = sorted(by_key, key=lambda key: (len(by_key[key]), key))
    results = []
    for position, key in enumerate(order):
        remaining_s = max(0.0, started + time_budget_s - time.monotonic())
        share_s = remaining_s / (len(order) - position)
        results.append(check_key(key, by_key[key], share_s, max_states))
    results.sort(key=lambda result: result.key)
    verdicts = {result.verdict for result in results}
    verdict = LINEARIZABLE
    if NOT_LINEARIZABLE in verdicts:
        verdict = NOT_LINEARIZABLE
    elif UNKNOWN in verdicts:
        verdict = UNKNOWN
    return CheckResult(verdict, results, time.monotonic() - started)


def check_file(path: str, time_budget_s: float = DEFAULT_TIME_BUDGET_S,
               max_states: int = DEFAULT_MAX_STATES) -> CheckResult:
    """Load a JSON-lines history and check it; raises HistoryError on bad content."""
    return check_operations(load_history(path), time_budget_s, max_states)


EXIT_CODES = {LINEARIZABLE: 0, NOT_LINEARIZABLE: 1, UNKNOWN: 3}
EXIT_BAD_INPUT = 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check a JSON-lines key-value history for linearizability. Exit status: "
                    "0 linearizable, 1 not linearizable, 2 bad input, 3 unknown (budget).")
    parser.add_argument("history", help="history file, one JSON event per line")
    parser.add_argument("--time-budget-s", type=float, default=DEFAULT_TIME_BUDGET_S,
                        help="give up with 'unknown' after this many seconds "
                             f"(default {DEFAULT_TIME_BUDGET_S:g})")
    parser.add_argument("--max-states", type=int, default=DEFAULT_MAX_STATES,
                        help="give up with 'unknown' on a key after exploring this many "
                             f"configurations (default {DEFAULT_MAX_STATES})")
    parser.add_argument("--shown-prefix-ops", type=int, default=DEFAULT_SHOWN_PREFIX_OPS,
                        help="operations of the longest linearizable prefix to print")
    parser.add_argument("--quiet", action="store_true", help="print only keys that failed")
    arguments = parser.parse_args(argv)
    if arguments.time_budget_s < 0 or arguments.max_states < 0:
        parser.error("--time-budget-s and --max-states must not be negative")
    try:
        operations = load_history(arguments.history)
    except (OSError, HistoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    result = check_operations(operations, arguments.time_budget_s, arguments.max_states)
    print(f"{arguments.history}: {len(operations)} operations")
    print(result.report(arguments.shown_prefix_ops, all_keys=not arguments.quiet))
    return EXIT_CODES[result.verdict]


if __name__ == "__main__":
    sys.exit(main())
