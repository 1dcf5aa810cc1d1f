"""workload.py — concurrent clients whose every operation is recorded for the linearizability
checker, and a watcher that checks no term ever has two leaders.

Happy path: Workload(cluster, recorder, seed).start() runs N client threads, each with its own
connection to a node, issuing GET, SET with a unique value, and compare-and-set
(`SET key new IFEQ expected`: OK when swapped, nil when not) on a small rotating set of keys;
stop() joins them. Every operation is recorded in a history.HistoryRecorder as invoke then
ok / fail / info:

  ok    the reply: OK, a value, or nil (a cas that did not swap, or an absent key);
  fail  an error that guarantees no effect (docs/errors.md): MOVED, CLUSTERDOWN, TRYAGAIN, or
        a connection that could not even be opened (nothing was sent);
  info  the outcome is unknown: UNCERTAIN, a client timeout, a connection dropped after the
        request was sent.

After MOVED a client reconnects to the named leader; after CLUSTERDOWN, TRYAGAIN, a timeout or
a dropped connection, to another node chosen at random. Keys rotate: every key_lifetime_s the
clients move to a fresh set of `keys` keys, so that each key sees few operations and the checker
stays fast (the search is exponential in the worst case). judge() saves the history as JSON lines
and returns the checker's verdict.

For the tests: the fault_run fixture (a FaultRun) hands out seeded nemeses, saves histories
under the test's temporary directory and asserts them linearizable, and on failure prints the
seed, every nemesis schedule, the history paths and the leader watch; assert_replicas_identical
compares every node's applied index and READONLY view of every key; deposed_leader_round is the
directed scenario that tells a correct server from the broken builds (test_faults_broken.py).

Failure modes: an error reply that docs/errors.md does not list (e.g. ERR) is recorded as fail
and kept in `unexpected`, which tests assert empty; a client thread that raises stops and its
exception is re-raised by stop(). LeaderWatch polls INFO raft on every node from one thread per
node and keeps, per term, the nodes that ever said leader; a term with two is split brain.
"""

import os
import random
import re
import sys
import threading
import time

import pytest
import redis

from harness import make_connection
from history import HistoryRecorder, save_history  # noqa: F401 -- re-exported for tests
from linearizability import check_operations

# Socket timeouts of the workload's requests, alternating by client: the short one moves a
# client off a stopped node soon, the long one keeps it waiting there (so that a paused old
# leader has requests to answer when it wakes). Both outlast the servers' request timeout.
CLIENT_TIMEOUTS_S = (1.8, 4.0)
CLIENT_TIMEOUT_S = max(CLIENT_TIMEOUTS_S)
CONNECT_TIMEOUT_S = 1.0
DEFAULT_CLIENTS = 6
DEFAULT_KEYS = 6
DEFAULT_KEY_LIFETIME_S = 4.0
THINK_S = (0.002, 0.020)  # pause between one client's operations
BACKOFF_S = 0.05  # after a refusal, before retrying elsewhere
READ_PERCENT = 20
CAS_PERCENT = 30  # the rest are writes
CHECK_BUDGET_S = 60.0
WATCH_INTERVAL_S = 0.05
WATCH_TIMEOUT_S = 0.5
NO_EFFECT_PREFIXES = ("MOVED", "CLUSTERDOWN", "TRYAGAIN")
UNKNOWN_PREFIXES = ("UNCERTAIN",)
MOVED = re.compile(r"MOVED \d+ ([\d.]+):(\d+)")
# (READONLY, RAFT.CONSISTENCY) by client index: leader reads, follower reads, lease reads.
READ_MODES = ((False, "linearizable"), (False, "linearizable"), (True, "linearizable"),
              (False, "lease"), (True, "lease"), (False, "linearizable"))


class _Refused(Exception):
    """A reply that guarantees no effect; `target` is (host, port) after MOVED."""

    def __init__(self, text, target=None):
        super().__init__(text)
        self.target = target


class _Unknown(Exception):
    """The outcome is unknown (UNCERTAIN, timeout, connection lost after sending)."""


class _Client:
    """One client thread's connection, moved between nodes as replies direct it."""

    def __init__(self, addresses, rng, readonly=False, timeout_s=CLIENT_TIMEOUT_S, tls=None,
                 consistency="stale"):
        self.addresses = addresses
        self.tls = tls  # harness.Cluster.tls: TLS client ports
        self.random = rng
        self.readonly = readonly
        # READONLY connections read on the node they are on, at this RAFT.CONSISTENCY
        # ("stale": the node's own state, outside the linearizable history).
        self.consistency = consistency
        self.timeout_s = timeout_s
        self.address = rng.choice(addresses)
        self.connection = None

    def _connect(self):
        """Opens the connection if needed; a failure here sent nothing (no effect)."""
        if self.connection is not None:
            return
        host, port = self.address
        connection = make_connection(self.tls, host, port, socket_timeout=self.timeout_s,
                                     socket_connect_timeout=CONNECT_TIMEOUT_S)
        try:
            connection.connect()
            if self.readonly:
                connection.send_command("READONLY")
                connection.read_response()
                connection.send_command("RAFT.CONSISTENCY", self.consistency)
                connection.read_response()
        except (redis.RedisError, OSError) as error:
            connection.disconnect()
            raise _Refused("connect to %s:%d: %s" % (host, port, error)) from None
        self.connection = connection

    def drop(self, target=None):
        if self.connection is not None:
            self.connection.disconnect()
            self.connection = None
        if target is not None:
            self.address = target
        else:
            others = [a for a in self.addresses if a != self.address] or self.addresses
            self.address = self.random.choice(others)

    def call(self, *arguments):
        """Sends one command, returns the reply; raises _Refused, _Unknown or ResponseError."""
        self._connect()
        try:
            self.connection.send_command(*arguments)
            reply = self.connection.read_response()
        except redis.ResponseError as error:
            reply = error
        except (redis.RedisError, OSError) as error:
            self.drop()
            raise _Unknown(str(error)) from None
        if isinstance(reply, redis.ResponseError):
            text = str(reply)
            if text.startswith(UNKNOWN_PREFIXES):
                raise _Unknown(text)
            if text.startswith(NO_EFFECT_PREFIXES):
                match = MOVED.match(text)
                raise _Refused(text, (match.group(1), int(match.group(2))) if match else None)
            raise reply
        return reply


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class Workload:
    """N client threads over a rotating set of keys, recorded in `recorder`."""

    def __init__(self, cluster, recorder, seed, clients=DEFAULT_CLIENTS, keys=DEFAULT_KEYS,
                 key_lifetime_s=DEFAULT_KEY_LIFETIME_S, key_prefix="k"):
        self.cluster = cluster
        self.recorder = recorder
        self.seed = seed
        self.client_count = clients
        self.key_count = keys
        self.key_lifetime_s = key_lifetime_s
        self.key_prefix = key_prefix
        self.addresses = [(cluster.node(i).host, cluster.node(i).client_port)
                          for i in cluster.ids()]
        self.stop_event = threading.Event()
        self.threads = []
        self.errors = []  # exceptions that ended a client thread
        self.unexpected = []  # error replies docs/errors.md does not list
        self.known = {}  # key -> a value recently written or read, for cas expectations
        self.counts = {"ok": 0, "fail": 0, "info": 0}
        self._lock = threading.Lock()
        self.started = None

    def start(self):
        self.started = time.monotonic()
        for index in range(self.client_count):
            thread = threading.Thread(target=self._run_client, args=(index,),
                                      name="workload-%d" % index, daemon=True)
            self.threads.append(thread)
            thread.start()
        return self

    def stop(self):
        """Stops and joins every client (each ends within one client timeout)."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=CLIENT_TIMEOUT_S * 4)
        alive = [thread.name for thread in self.threads if thread.is_alive()]
        if alive:
            raise RuntimeError("workload threads did not stop: %s" % alive)
        if self.errors:
            raise self.errors[0]

    def follow_members(self, ids):
        """The clients' address list becomes the given members' (a MembershipNemesis observer):
        a client on a node that left moves on at its next error, as after a crash."""
        addresses = [(self.cluster.node(i).host, self.cluster.node(i).client_port) for i in ids]
        self.addresses[:] = addresses  # in place: every _Client holds this list

    def keys_now(self):
        generation = int((time.monotonic() - self.started) / self.key_lifetime_s)
        return ["%s%d-%d" % (self.key_prefix, generation, i) for i in range(self.key_count)]

    def _count(self, outcome):
        with self._lock:
            self.counts[outcome] += 1

    def _run_client(self, index):
        rng = random.Random(self.seed * 1000 + index)
        # A third of the clients read on whichever node they are on (READONLY): through the
        # leader's read index, or its lease. Both promise linearizable reads, so their reads
        # go into the history the checker judges like any other.
        readonly, consistency = READ_MODES[index % len(READ_MODES)]
        client = _Client(self.addresses, rng, readonly=readonly,
                         timeout_s=CLIENT_TIMEOUTS_S[index % len(CLIENT_TIMEOUTS_S)],
                         tls=self.cluster.tls, consistency=consistency)
        sequence = 0
        try:
            while not self.stop_event.is_set():
                key = rng.choice(self.keys_now())
                sequence += 1
                self._one_operation(index, client, rng, key, "c%d-%d" % (index, sequence))
                time.sleep(rng.uniform(*THINK_S))
        except Exception as error:  # noqa: BLE001 -- reported by stop()
            self.errors.append(error)
        finally:
            client.drop()

    def _one_operation(self, process, client, rng, key, unique):
        roll = rng.randrange(100)
        if roll < READ_PERCENT:
            f, value, arguments = "read", None, ("GET", key)
        elif roll < READ_PERCENT + CAS_PERCENT:
            expected = self.known.get(key, unique + "-never")
            f, value, arguments = "cas", [expected, unique], ("SET", key, unique, "IFEQ",
                                                             expected)
        else:
            f, value, arguments = "write", unique, ("SET", key, unique)
        self.recorder.invoke(process, f, key, value)
        try:
            reply = client.call(*arguments)
        except _Refused as refusal:
            self.recorder.fail(process)
            self._count("fail")
            client.drop(refusal.target)
            time.sleep(BACKOFF_S)
            return
        except _Unknown:
            self.recorder.info(process)
            self._count("info")
            client.drop()
            return
        except redis.ResponseError as error:
            self.recorder.fail(process)
            self._count("fail")
            self.unexpected.append("%s -> %s" % (" ".join(map(str, arguments)), error))
            return
        self._record_reply(process, f, key, unique, reply)

    def _record_reply(self, process, f, key, unique, reply):
        if f == "read":
            self.recorder.ok(process, _text(reply))
            if reply is not None:
                self.known[key] = _text(reply)
        elif f == "write":
            self.recorder.ok(process)
            self.known[key] = unique
        else:
            swapped = reply is not None
            self.recorder.ok(process, swapped)
            if swapped:
                self.known[key] = unique
        self._count("ok")

    def summary(self):
        with self._lock:
            return "%d ok, %d fail, %d info" % (self.counts["ok"], self.counts["fail"],
                                                 self.counts["info"])


def judge(recorder, path, time_budget_s=CHECK_BUDGET_S):
    """Saves the history to path (JSON lines) and checks it; returns the CheckResult."""
    recorder.save(path)
    return check_operations(recorder.operations(), time_budget_s=time_budget_s)


class LeaderWatch:
    """Polls INFO raft on every node, often, from one thread per node, and remembers for each
    term which nodes said they were its leader. split_brain() lists the terms with two."""

    def __init__(self, cluster, interval_s=WATCH_INTERVAL_S):
        self.cluster = cluster
        self.interval_s = interval_s
        self.leaders = {}  # term -> set of node ids that reported leader in it
        self.polls = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._watched = set()

    def start(self):
        for node_id in self.cluster.ids():
            self._start_watching(node_id)
        return self

    def _start_watching(self, node_id):
        node = self.cluster.node(node_id)
        thread = threading.Thread(target=self._watch, args=(node_id, node.host,
                                                            node.client_port),
                                  name="leader-watch-%d" % node_id, daemon=True)
        with self._lock:
            self._watched.add(node_id)
        self._threads.append(thread)
        thread.start()

    def follow_members(self, ids):
        """Watches the nodes that joined too (a MembershipNemesis observer); a node that left
        stays watched: whatever it says still counts."""
        for node_id in ids:
            if node_id not in self._watched and not self._stop.is_set():
                self._start_watching(node_id)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=WATCH_TIMEOUT_S * 4 + 1)

    def _watch(self, node_id, host, port):
        client = redis.Redis(host=host, port=port, socket_timeout=WATCH_TIMEOUT_S,
                             socket_connect_timeout=WATCH_TIMEOUT_S,
                             **self.cluster.redis_options())
        try:
            while not self._stop.is_set():
                try:
                    info = client.info("raft")
                except (redis.RedisError, OSError):
                    info = None
                if info is not None and info.get("raft_role") == "leader":
                    with self._lock:
                        self.leaders.setdefault(int(info["raft_term"]), set()).add(node_id)
                if info is not None:
                    with self._lock:
                        self.polls += 1
                self._stop.wait(self.interval_s)
        finally:
            client.close()

    def split_brain(self):
        with self._lock:
            return {term: sorted(ids) for term, ids in self.leaders.items() if len(ids) > 1}

    def describe(self):
        with self._lock:
            terms = ", ".join("%d: %s" % (term, sorted(ids))
                              for term, ids in sorted(self.leaders.items()))
            return "%d polls; leaders per term: %s" % (self.polls, terms)


# ---- what the fault tests share: seeds, histories, failure reports ----

SEED_ENV = "RAFTKV_FAULTS_SEED"


def choose_seed(offset=0):
    """RAFTKV_FAULTS_SEED (to replay a failure) or a fresh random seed, plus offset."""
    text = os.environ.get(SEED_ENV)
    base = int(text) if text else random.SystemRandom().randrange(1 << 31)
    return base + offset


class FaultRun:
    """One test's seed, nemeses, histories and observers, for its failure report."""

    def __init__(self, directory, test_name):
        self.directory = str(directory)
        self.test_name = test_name
        self.nemeses = []
        self.histories = []  # paths of saved histories
        self.notes = []  # measurements and observations, printed at the end
        self.watches = []
        self.injected = False  # fault_run_injected: nemeses use the nodes' fault injection

    def nemesis(self, cluster, seed=None):
        from nemesis import Nemesis  # here, so that workload.py stands alone
        nemesis = Nemesis(cluster, seed if seed is not None else choose_seed(),
                          injected=self.injected)
        self.nemeses.append(nemesis)
        return nemesis

    def note(self, text):
        print(text)
        self.notes.append(text)

    def history_path(self, name="history"):
        path = os.path.join(self.directory, "%s.jsonl" % name)
        self.histories.append(path)
        return path

    def explain(self):
        lines = ["fault run %s (replay a nemesis with %s=<seed>)" % (self.test_name, SEED_ENV)]
        lines += [nemesis.schedule_text() for nemesis in self.nemeses]
        lines += ["history file: %s" % path for path in self.histories]
        lines += [watch.describe() for watch in self.watches]
        lines += self.notes
        return "\n".join(lines)

    def assert_linearizable(self, recorder, name="history"):
        """Saves the history, checks it, and fails with the checker's report and this run's
        seed, schedule and history path unless the verdict is linearizable."""
        path = self.history_path(name)
        result = judge(recorder, path)
        operations = len(recorder.operations())
        self.note("checked %d operations of %s in %.2f s: %s"
                  % (operations, path, result.elapsed_s, result.verdict))
        if result.verdict == "unknown":
            raise AssertionError("the checker ran out of budget (verdict unknown): make the "
                                 "workload smaller (fewer operations per key)\n%s\n%s"
                                 % (result.report(all_keys=False), self.explain()))
        assert result.verdict == "linearizable", (
            "history NOT linearizable\n%s\n%s" % (result.report(all_keys=False), self.explain()))
        return result


@pytest.fixture
def fault_run(request, tmp_path):
    """A FaultRun for the test; on failure its seed, schedules and history paths are printed.
    Every nemesis it made is closed (faults undone). Skips when nftables is unusable."""
    from nemesis import nft_available
    if not nft_available():
        pytest.skip("nftables is not usable here (the fault suite needs root and nf_tables)")
    yield from _fault_run(request, tmp_path, injected=False)


@pytest.fixture
def fault_run_injected(request, tmp_path):
    """fault_run for a Cluster(fault_injection=True): its nemeses make network faults with
    RAFT.FAULT instead of nftables, so the test needs no root."""
    yield from _fault_run(request, tmp_path, injected=True)


def _fault_run(request, tmp_path, injected):
    run = FaultRun(tmp_path, request.node.name)
    run.injected = injected
    yield run
    errors = []
    for nemesis in run.nemeses:
        try:
            nemesis.close()
        except Exception as error:  # noqa: BLE001 -- close the others, then report
            errors.append(error)
    for watch in run.watches:
        watch.stop()
    failed = any(getattr(getattr(request.node, "report_" + when, None), "failed", False)
                 for when in ("setup", "call"))
    if failed:
        reporter = request.config.pluginmanager.getplugin("terminalreporter")
        text = "\n" + run.explain()
        if reporter is not None:
            reporter.write_line(text)
        else:
            sys.stderr.write(text + "\n")
    if errors:
        raise errors[0]


# ---- comparing replicas ----

READ_CHUNK = 100


def readonly_values(cluster, node_id, keys):
    """Every key's value as node_id's own state machine holds it (READONLY reads)."""
    keys = sorted(keys)
    client = redis.Redis(host=cluster.node(node_id).host, port=cluster.node(node_id).client_port,
                         socket_timeout=10, **cluster.redis_options())
    try:
        assert client.execute_command("READONLY") is True
        assert client.execute_command("RAFT.CONSISTENCY", "stale") in (b"OK", "OK", True)
        values = {}
        for start in range(0, len(keys), READ_CHUNK):
            chunk = keys[start:start + READ_CHUNK]
            values.update(zip(chunk, client.mget(chunk)))
        return values
    finally:
        client.close()


def assert_replicas_identical(cluster, keys, timeout_s=30.0):
    """Waits until every node applied the leader's commit index, then asserts that INFO raft
    shows one applied index and that READONLY reads of every key agree on every node.
    Returns (applied index, {key: value}). A node that died on its own fails it first."""
    cluster.check_alive()
    applied = cluster.wait_applied(timeout_s=timeout_s)
    indexes = {i: cluster.raft_info(i)["raft_applied_index"] for i in cluster.ids()}
    assert len(set(indexes.values())) == 1, "applied indexes differ: %s" % indexes
    views = {i: readonly_values(cluster, i, keys) for i in cluster.ids()}
    first = cluster.ids()[0]
    for node_id, view in views.items():
        differing = sorted(k for k in keys if view[k] != views[first][k])
        assert not differing, ("node %d and node %d disagree on %d keys, e.g. %s: %r vs %r"
                               % (node_id, first, len(differing), differing[0],
                                  view[differing[0]], views[first][differing[0]]))
    return applied, views[first]


def history_keys(recorder):
    return sorted({event["key"] for event in recorder.events()})


# ---- directed scenarios, shared by the correct-server and the broken-server tests ----

def recorded_call(recorder, process, client, f, key, value=None):
    """One operation through a _Client-like call(), recorded; returns ("ok", reply),
    ("fail", error text) or ("info", error text)."""
    recorder.invoke(process, f, key, value)
    arguments = ("GET", key) if f == "read" else ("SET", key, value)
    try:
        reply = client.call(*arguments)
    except _Refused as refusal:
        recorder.fail(process)
        return "fail", str(refusal)
    except _Unknown as unknown:
        recorder.info(process)
        return "info", str(unknown)
    except redis.ResponseError as error:
        recorder.fail(process)
        return "fail", str(error)
    recorder.ok(process, _text(reply) if f == "read" else None)
    return "ok", reply


def node_client(cluster, node_id, readonly=False, consistency="stale"):
    """A _Client pinned to node_id (it follows nothing: MOVED is just an outcome here)."""
    node = cluster.node(node_id)
    client = _Client([(node.host, node.client_port)], random.Random(node_id), readonly,
                     tls=cluster.tls, consistency=consistency)
    client._connect()
    return client


def await_reply(recorder, process, connection):
    """Reads the reply to a command sent on connection and records its outcome."""
    try:
        reply = connection.read_response()
    except redis.ResponseError as error:
        text = str(error)
        if text.startswith(UNKNOWN_PREFIXES):
            recorder.info(process)
            return "info", text
        recorder.fail(process)
        return "fail", text
    except (redis.RedisError, OSError) as error:
        recorder.info(process)
        return "info", str(error)
    recorder.ok(process, _text(reply))
    return "ok", _text(reply)


def deposed_leader_round(cluster, nemesis, recorder, key, round_number):
    """The deposed-leader scenario: write old-N through the leader L; cut L off and SIGSTOP it
    at once; let the others elect a new leader and write new-N through it; queue a GET and a
    `SET key lost-N` on two connections to L; SIGCONT L. L wakes believing it leads, and no
    message of the new term can reach it (the cut came first, so none waits in its socket
    buffers either). A correct server answers the GET with an error or new-N (a read needs a
    quorum) and does not acknowledge the SET (a write needs a majority). A server that serves
    reads locally answers old-N; one that acknowledges before commit says OK to a write that
    the new leader's log then overwrites. After healing, a read through the leader ends the
    round. Every operation is recorded; returns {"read": (outcome, reply), "write": ...,
    "final": ...}."""
    old = cluster.wait_for_leader()
    first, second, lost = ("%s-%d" % (word, round_number) for word in ("old", "new", "lost"))
    outcome, reply = recorded_call(recorder, "writer", node_client(cluster, old), "write", key,
                                   first)
    assert outcome == "ok", "the first write failed: %s" % (reply,)
    cluster.wait_applied()
    reader, writer = node_client(cluster, old), node_client(cluster, old)
    nemesis.isolate(old, why="isolate leader")
    nemesis.pause([old], why="SIGSTOP leader")
    others = [i for i in cluster.ids() if i != old]
    new = cluster.wait_for_leader(among=others, timeout_s=30)
    outcome, reply = recorded_call(recorder, "writer", node_client(cluster, new), "write", key,
                                   second)
    assert outcome == "ok", "the write through the new leader failed: %s" % (reply,)
    outcomes = {}
    try:
        recorder.invoke("deposed-reader", "read", key)
        reader.connection.send_command("GET", key)  # queued in the socket while L is stopped
        recorder.invoke("deposed-writer", "write", key, lost)
        writer.connection.send_command("SET", key, lost)
        nemesis.resume([old])
        outcomes["read"] = await_reply(recorder, "deposed-reader", reader.connection)
        outcomes["write"] = await_reply(recorder, "deposed-writer", writer.connection)
    finally:
        reader.drop()
        writer.drop()
        nemesis.heal_network()
    leader = cluster.wait_for_leader(timeout_s=30)
    outcomes["final"] = recorded_call(recorder, "final-reader", node_client(cluster, leader),
                                      "read", key)
    return outcomes
