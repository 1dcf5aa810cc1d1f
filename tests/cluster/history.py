"""Histories of operations on the key-value store, as recorded by concurrent test clients.

A cluster test's clients record every operation they attempt as two events: an *invoke* event
when the request is sent and a *completion* event when the outcome is known. A completion is
"ok" (it took effect, with its result), "fail" (it certainly had no effect, e.g. -MOVED or
-CLUSTERDOWN) or "info" (indeterminate: a timeout, a dropped connection, an UNCERTAIN error;
it may or may not take effect, at any time after its invocation). The happy path: clients call
HistoryRecorder.invoke() and then .ok()/.fail()/.info() from any thread, the test writes the
events with save_history() as JSON lines (one event per line), and the checker reads them back
with load_history(), which pairs each invocation with its completion into an Operation:

    {"process": 3, "type": "invoke", "f": "cas", "key": "k1", "value": ["4", "7"], "time": 1.5}
    {"process": 3, "type": "ok", "f": "cas", "key": "k1", "value": true, "time": 1.75}

Values follow the operation: a read's invocation carries no value and its ok completion the
value read (null when the key is absent); a write carries the value written; a cas carries
[expected, new] and its ok completion true (swapped) or false (the comparison failed, which is
an observation too: the current value was not `expected`). Values are compared as the store
keeps them, as strings: an integer is turned into its decimal string on loading, so a client may
record `SET k 5` as 5 and `GET k` as "5". Times are monotonic seconds (floats).

Failure modes: a line that is not a JSON object, an unknown "type" or "f", a missing field, a
completion without a pending invocation of its process, a second invocation by a process that
has one pending, a completion earlier than its invocation, or a value that is not a string, an
integer or null: each raises HistoryError naming the line and the problem. An invocation that
never completes (the client died with it in flight) is an indeterminate operation.
"""

import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

FUNCTIONS = ("read", "write", "cas")
OUTCOMES = ("ok", "fail", "info")
# The longest line load_history() accepts, so that a corrupt file cannot exhaust memory.
MAX_LINE_BYTES = 1 << 20


class HistoryError(ValueError):
    """A history that cannot be understood: the message names the line and the problem."""


@dataclass
class Operation:
    """One operation of one client, from invocation to completion.

    `argument` is None for a read, the value for a write and (expected, new) for a cas.
    `result` is the value read for an ok read, True/False for an ok cas (swapped or not), and
    None otherwise. `complete_time` is when the client learned the outcome, None if it never did.
    """

    index: int
    process: Any
    f: str
    key: str
    argument: Any
    outcome: str
    result: Any
    invoke_time: float
    complete_time: Optional[float]

    @property
    def return_time(self) -> float:
        """The latest time the operation may take effect: +inf unless its outcome is known."""
        if self.outcome == "info" or self.complete_time is None:
            return math.inf
        return self.complete_time


def normalize_value(value: Any, what: str, allow_null: bool = True) -> Optional[str]:
    """Return `value` as the store keeps it (a string, or None for absent); raise HistoryError."""
    if value is None:
        if not allow_null:
            raise HistoryError(f"{what} must not be null")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise HistoryError(f"{what} must be a string, an integer or null, not {value!r}")
    return value if isinstance(value, str) else str(value)


def _normalize_key(key: Any) -> str:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise HistoryError(f"key must be a string or an integer, not {key!r}")
    return key if isinstance(key, str) else str(key)


def _parse_argument(f: str, value: Any) -> Any:
    """The argument an invocation of `f` carries in its "value" field."""
    if f == "read":
        return None
    if f == "write":
        return normalize_value(value, "write value", allow_null=False)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise HistoryError(f"cas value must be [expected, new], not {value!r}")
    return (normalize_value(value[0], "cas expected value"),
            normalize_value(value[1], "cas new value", allow_null=False))


def _parse_result(f: str, argument: Any, value: Any) -> Any:
    """The result an ok completion of `f` carries in its "value" field."""
    if f == "read":
        return normalize_value(value, "read result")
    if f == "write":
        return None
    # A cas: true/false; a missing value or an echo of [expected, new] means it swapped.
    if value is None or value is True:
        return True
    if value is False:
        return False
    if isinstance(value, (list, tuple)) and len(value) == 2:
        echoed = (normalize_value(value[0], "cas expected value"),
                  normalize_value(value[1], "cas new value"))
        if echoed == argument:
            return True
    raise HistoryError(f"an ok cas completion's value must be true or false, not {value!r}")


def _field(event: Dict[str, Any], name: str) -> Any:
    if name not in event:
        raise HistoryError(f"missing field {name!r}")
    return event[name]


def _parse_time(event: Dict[str, Any]) -> float:
    moment = _field(event, "time")
    if isinstance(moment, bool) or not isinstance(moment, (int, float)):
        raise HistoryError(f"time must be a number, not {moment!r}")
    if not math.isfinite(moment):
        raise HistoryError(f"time must be finite, not {moment!r}")
    return float(moment)


class _Pairing:
    """Pairs invocations with completions, process by process, in the order events arrive."""

    def __init__(self) -> None:
        self.operations: List[Operation] = []
        self.pending: Dict[Any, Operation] = {}

    def add(self, event: Any) -> None:
        if not isinstance(event, dict):
            raise HistoryError(f"an event must be a JSON object, not {event!r}")
        process = _field(event, "process")
        if isinstance(process, (list, dict)):
            raise HistoryError(f"process must be a string or a number, not {process!r}")
        kind = _field(event, "type")
        f = _field(event, "f")
        if f not in FUNCTIONS:
            raise HistoryError(f"unknown f {f!r}; expected one of {', '.join(FUNCTIONS)}")
        moment = _parse_time(event)
        if kind == "invoke":
            self._invoke(process, f, event, moment)
        elif kind in OUTCOMES:
            self._complete(process, kind, f, event, moment)
        else:
            raise HistoryError(f"unknown type {kind!r}; expected invoke, ok, fail or info")

    def _invoke(self, process: Any, f: str, event: Dict[str, Any], moment: float) -> None:
        if process in self.pending:
            earlier = self.pending[process]
            raise HistoryError(f"process {process!r} invoked a {f} while its {earlier.f} "
                               f"(invoked at {earlier.invoke_time}) had not completed")
        key = _normalize_key(_field(event, "key"))
        argument = _parse_argument(f, event.get("value"))
        operation = Operation(len(self.operations), process, f, key, argument, "info", None,
                              moment, None)
        self.operations.append(operation)
        self.pending[process] = operation

    def _complete(self, process: Any, kind: str, f: str, event: Dict[str, Any],
                  moment: float) -> None:
        operation = self.pending.pop(process, None)
        if operation is None:
            raise HistoryError(f"process {process!r} completed a {f} it never invoked")
        if operation.f != f:
            raise HistoryError(f"process {process!r} invoked a {operation.f} "
                               f"but completed a {f}")
        if "key" in event and _normalize_key(event["key"]) != operation.key:
            raise HistoryError(f"process {process!r} invoked on key {operation.key!r} "
                               f"but completed on key {event['key']!r}")
        if moment < operation.invoke_time:
            raise HistoryError(f"completion at {moment} is earlier than its invocation "
                               f"at {operation.invoke_time}")
        operation.outcome = kind
        operation.complete_time = moment
        if kind == "ok":
            operation.result = _parse_result(f, operation.argument, event.get("value"))


def events_to_operations(events: Iterable[Any]) -> List[Operation]:
    """Pair a sequence of events into operations; raise HistoryError naming the bad event."""
    pairing = _Pairing()
    for number, event in enumerate(events, start=1):
        try:
            pairing.add(event)
        except HistoryError as error:
            raise HistoryError(f"event {number}: {error}") from None
    return pairing.operations


def operations_to_events(operations: Iterable[Operation]) -> List[Dict[str, Any]]:
    """The events that record `operations`, in time order (load_history's inverse)."""
    tagged: List[Tuple[float, int, int, Dict[str, Any]]] = []
    for operation in operations:
        invoke = {"process": operation.process, "type": "invoke", "f": operation.f,
                  "key": operation.key, "value": _argument_to_json(operation),
                  "time": operation.invoke_time}
        tagged.append((operation.invoke_time, operation.index, 0, invoke))
        if operation.complete_time is None:
            continue
        complete = {"process": operation.process, "type": operation.outcome, "f": operation.f,
                    "key": operation.key, "value": operation.result,
                    "time": operation.complete_time}
        tagged.append((operation.complete_time, operation.index, 1, complete))
    tagged.sort(key=lambda item: item[:3])
    return [event for _, _, _, event in tagged]


def _argument_to_json(operation: Operation) -> Any:
    if operation.f == "cas":
        return list(operation.argument)
    return operation.argument


def load_history(path: str) -> List[Operation]:
    """Read a JSON-lines history file into operations; raise HistoryError on bad content."""
    events = []
    with open(path, "rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise HistoryError(f"{path}:{number}: line longer than {MAX_LINE_BYTES} bytes")
            line = raw.strip()
            if not line:
                continue
            try:
                events.append((number, json.loads(line)))
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise HistoryError(f"{path}:{number}: not JSON: {error}") from None
    pairing = _Pairing()
    for number, event in events:
        try:
            pairing.add(event)
        except HistoryError as error:
            raise HistoryError(f"{path}:{number}: {error}") from None
    return pairing.operations


def save_history(path: str, history: Iterable[Any]) -> None:
    """Write events (dicts) or operations to `path` as JSON lines."""
    items = list(history)
    if items and isinstance(items[0], Operation):
        items = operations_to_events(items)
    with open(path, "w", encoding="utf-8") as stream:
        for event in items:
            stream.write(json.dumps(event, sort_keys=True) + "\n")


class HistoryRecorder:
    """Thread-safe recorder for test clients: one invoke() then one completion per operation.

    Each process (client) has at most one operation in flight; a client that gives up on an
    operation records info() and may then invoke the next one. The clock defaults to
    time.monotonic and can be replaced for tests. Misuse raises HistoryError.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._events: List[Dict[str, Any]] = []
        self._pending: Dict[Any, Dict[str, Any]] = {}

    def invoke(self, process: Any, f: str, key: Any, value: Any = None) -> None:
        """Record that `process` sends f(key[, value]); a cas's value is [expected, new]."""
        if f not in FUNCTIONS:
            raise HistoryError(f"unknown f {f!r}")
        _parse_argument(f, value)
        with self._lock:
            if process in self._pending:
                raise HistoryError(f"process {process!r} already has an operation in flight")
            event = {"process": process, "type": "invoke", "f": f, "key": key,
                     "value": list(value) if isinstance(value, tuple) else value,
                     "time": self._clock()}
            self._pending[process] = event
            self._events.append(event)

    def ok(self, process: Any, value: Any = None) -> None:
        """The operation took effect; `value` is a read's result or a cas's true/false."""
        self._complete(process, "ok", value)

    def fail(self, process: Any) -> None:
        """The operation certainly had no effect (e.g. -MOVED, -CLUSTERDOWN)."""
        self._complete(process, "fail", None)

    def info(self, process: Any) -> None:
        """The outcome is unknown (timeout, dropped connection, UNCERTAIN)."""
        self._complete(process, "info", None)

    def _complete(self, process: Any, kind: str, value: Any) -> None:
        with self._lock:
            invoke = self._pending.pop(process, None)
            if invoke is None:
                raise HistoryError(f"process {process!r} has no operation in flight")
            event = {"process": process, "type": kind, "f": invoke["f"], "key": invoke["key"],
                     "value": value, "time": self._clock()}
            self._events.append(event)

    def events(self) -> List[Dict[str, Any]]:
        """A copy of the events recorded so far, in recording order."""
        with self._lock:
            return [dict(event) for event in self._events]

    def operations(self) -> List[Operation]:
        return events_to_operations(self.events())

    def save(self, path: str) -> None:
        save_history(path, self.events())
