"""bank.py — the bank workload: transfers between accounts whose total must stay constant,
made by transactions (WATCH + MULTI/EXEC) and scripts (EVAL), and judged by a checker that
sees every torn, stale, lost or doubled transfer.

Happy path: BankWorkload(cluster, seed).setup() writes K accounts of INITIAL_BALANCE each, a
transfer counter and an empty ledger; start() runs client threads of four kinds; stop() joins
them; final_states(cluster) reads every node's accounts, counter and ledger once they have
applied the same index; check(history, states) returns a BankVerdict whose `violations` is
empty for a correct server.

  watch    WATCH from to; GET from; MULTI; DECRBY from a; INCRBY to a; INCR count;
           RPUSH ledger "<id> <from> <to> <a>"; EXEC. The amount is at most the balance read,
           so the account never goes negative if WATCH holds; a null EXEC (a watched key
           changed) is recorded as `aborted` and retried as a new transfer with a new id.
  lua      the same four writes in one EVAL that checks the balance first and declines
           (returns {0, balance}) when it is short.
  session  the lua transfer on a connection with CLIENT SESSION (docs/commands.md): after an
           unknown outcome it reconnects, declares the transfer's number again and resends,
           so each of its transfers ends acknowledged or declined, applied exactly once.
  reader   all balances and the counter in one consistent read — MGET, a read-only MULTI of
           GETs, or EVAL_RO — on a normal connection (linearizable, the leader answers), or
           on a READONLY connection to any node (possibly stale, still one snapshot).

The ledger makes the check exact: it is the order in which the state machine applied the
transfers, so replaying it from the initial balances gives every state the cluster went
through. The checker asserts, for every node's final state, and for every read:

  - every read's balances sum to the total, none is negative, and they are exactly the state
    after the first `count` ledger entries (no torn, partial or invented snapshot);
  - a linearizable read includes every transfer acknowledged before it was sent and every
    read that completed before it was sent, and no transfer sent after it completed;
  - every node holds the same accounts, counter and ledger; the counter is the ledger's
    length; replaying the ledger never overdraws an account and ends at the final balances;
  - each ledger id is unique (nothing applied twice) and belongs to a transfer that was
    acknowledged or uncertain; every acknowledged transfer is in it, none that certainly had
    no effect (refused, aborted by WATCH, declined) is; an acknowledged transfer's reply (the
    balances after it and its counter value) is the replayed state at its ledger position;
    a transfer acknowledged before another was sent comes first in the ledger;
  - independently of the ledger: each account's final balance lies within the bounds that
    its acknowledged transfers plus any subset of the uncertain ones allow.

Outcomes follow docs/errors.md as workload.py does: MOVED, CLUSTERDOWN, TRYAGAIN and a failure
before EXEC was sent mean no effect (`fail`); UNCERTAIN, a timeout or a dropped connection
after EXEC or EVAL was sent mean unknown (`info`); such a transfer is never retried blindly.

Failure modes: an error reply docs/errors.md does not list is kept in `unexpected`; a client
thread that raises is re-raised by stop(); a violation names the transfer or read, its times
and what was expected. The history (JSON lines) and the final states are saved by save().
"""

import bisect
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import redis

from workload import CLIENT_TIMEOUTS_S, _Client, _Refused, _Unknown

ACCOUNTS = 8
INITIAL_BALANCE = 100
MAX_AMOUNT = 40
THINK_S = (0.002, 0.015)
BACKOFF_S = 0.05
SESSION_FINISH_S = 20.0  # after stop(), a session client's last transfer still has this long
SETUP_TIMEOUT_S = 20.0
DEFAULT_CLIENTS = {"watch": 4, "lua": 2, "session": 1, "reader": 2, "stale-reader": 1}
READ_METHODS = ("mget", "multi", "eval_ro")

# KEYS: from, to, count, ledger. ARGV: amount, ledger entry. Declines when short.
TRANSFER_SCRIPT = """
local balance = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if balance < amount then return {0, balance} end
local from_after = redis.call('DECRBY', KEYS[1], amount)
local to_after = redis.call('INCRBY', KEYS[2], amount)
local count = redis.call('INCR', KEYS[3])
local length = redis.call('RPUSH', KEYS[4], ARGV[2])
return {1, from_after, to_after, count, length}
"""
READ_SCRIPT = "return redis.call('MGET', unpack(KEYS))"


@dataclass
class Transfer:
    id: str
    process: str
    method: str  # watch, lua, session
    source: int
    destination: int
    amount: int
    invoke_time: float
    complete_time: Optional[float] = None
    outcome: str = "info"  # ok, aborted, declined, fail, info
    reply: Optional[List[int]] = None  # ok: [from balance after, to balance after, count]
    attempts: int = 1
    note: str = ""


@dataclass
class Read:
    process: str
    method: str  # mget, multi, eval_ro
    node: str
    readonly: bool
    invoke_time: float
    complete_time: float
    balances: List[int]
    count: int


@dataclass
class BankHistory:
    accounts: int = ACCOUNTS
    initial_balance: int = INITIAL_BALANCE
    transfers: List[Transfer] = field(default_factory=list)
    reads: List[Read] = field(default_factory=list)
    malformed: List[str] = field(default_factory=list)  # replies that are no transfer's

    @property
    def total(self):
        return self.accounts * self.initial_balance

    def save(self, path, states=None):
        """JSON lines: one header, every transfer and read, then each node's final state."""
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(json.dumps({"accounts": self.accounts,
                                     "initial_balance": self.initial_balance,
                                     "malformed": self.malformed}) + "\n")
            for transfer in self.transfers:
                stream.write(json.dumps(dict(asdict(transfer), type="transfer")) + "\n")
            for read in self.reads:
                stream.write(json.dumps(dict(asdict(read), type="read")) + "\n")
            for node, state in sorted((states or {}).items()):
                stream.write(json.dumps(dict(state, type="final", node=node)) + "\n")


class Keys:
    """The workload's key names; one prefix per run."""

    def __init__(self, prefix, accounts):
        self.accounts = ["%s:account:%d" % (prefix, i) for i in range(accounts)]
        self.count = "%s:count" % prefix
        self.ledger = "%s:ledger" % prefix

    def read_keys(self):
        return self.accounts + [self.count]


def _integer(value):
    return int(value.decode() if isinstance(value, bytes) else value)


class BankWorkload:
    """Transfer and reader threads over one set of accounts, recorded in a BankHistory."""

    def __init__(self, cluster, seed, clients=None, accounts=ACCOUNTS, prefix="bank"):
        self.cluster = cluster
        self.seed = seed
        self.clients = dict(DEFAULT_CLIENTS if clients is None else clients)
        self.keys = Keys(prefix, accounts)
        self.history = BankHistory(accounts=accounts)
        self.addresses = [(cluster.node(i).host, cluster.node(i).client_port)
                          for i in cluster.ids()]
        self.stop_event = threading.Event()
        self.threads = []
        self.errors = []
        self.unexpected = []
        self.skipped = 0  # watch transfers not sent: the balance read was 0
        self.sessions_unresolved = []  # session transfers still unknown at the end
        self._lock = threading.Lock()

    # ---- set up, start, stop ----

    def setup(self):
        """Writes the initial balances and a zero counter through the leader (MSET is
        idempotent, so it is simply retried until acknowledged); the ledger starts absent."""
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        pairs = {key: self.history.initial_balance for key in self.keys.accounts}
        pairs[self.keys.count] = 0
        while True:
            try:
                client = self.cluster.leader_client()
                try:
                    client.mset(pairs)
                finally:
                    client.close()
                return self
            except (redis.RedisError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(BACKOFF_S)

    def start(self):
        index = 0
        for kind, count in sorted(self.clients.items()):
            for _ in range(count):
                target = {"watch": self._run_watch, "lua": self._run_lua,
                          "session": self._run_session, "reader": self._run_reader,
                          "stale-reader": self._run_reader}[kind]
                name = "%s-%d" % (kind, index)
                thread = threading.Thread(target=self._guard, args=(target, name, index),
                                          name="bank-" + name, daemon=True)
                self.threads.append(thread)
                thread.start()
                index += 1
        return self

    def stop(self):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=SESSION_FINISH_S + max(CLIENT_TIMEOUTS_S) * 4)
        alive = [thread.name for thread in self.threads if thread.is_alive()]
        if alive:
            raise RuntimeError("bank threads did not stop: %s" % alive)
        if self.errors:
            raise self.errors[0]

    def _guard(self, target, name, index):
        rng = random.Random(self.seed * 1000 + index)
        try:
            target(name, index, rng)
        except Exception as error:  # noqa: BLE001 -- re-raised by stop()
            self.errors.append(error)

    def _client(self, index, rng, readonly=False):
        return _Client(self.addresses, rng, readonly=readonly,
                       timeout_s=CLIENT_TIMEOUTS_S[index % len(CLIENT_TIMEOUTS_S)],
                       tls=self.cluster.tls)

    def _new_transfer(self, name, method, sequence, rng):
        source, destination = rng.sample(range(self.history.accounts), 2)
        transfer = Transfer("%s-%d" % (name, sequence), name, method, source, destination,
                            rng.randint(1, MAX_AMOUNT), time.monotonic())
        return transfer

    def _record(self, transfer, outcome, reply=None, note=""):
        transfer.complete_time = time.monotonic()
        transfer.outcome = outcome
        transfer.reply = reply
        transfer.note = note
        with self._lock:
            self.history.transfers.append(transfer)

    def _ledger_entry(self, transfer):
        return "%s %d %d %d" % (transfer.id, transfer.source, transfer.destination,
                                transfer.amount)

    # ---- watch: optimistic transactions ----

    def _run_watch(self, name, index, rng):
        client = self._client(index, rng)
        sequence = 0
        try:
            while not self.stop_event.is_set():
                sequence += 1
                self._watch_transfer(client, self._new_transfer(name, "watch", sequence, rng))
                time.sleep(rng.uniform(*THINK_S))
        finally:
            client.drop()

    def _watch_transfer(self, client, transfer):
        source = self.keys.accounts[transfer.source]
        destination = self.keys.accounts[transfer.destination]
        try:  # nothing below is proposed before EXEC: any failure here had no effect
            client.call("WATCH", source, destination)
            balance = _integer(client.call("GET", source))
            if balance <= 0:
                client.call("UNWATCH")
                with self._lock:
                    self.skipped += 1
                return
            transfer.amount = min(transfer.amount, balance)
            client.call("MULTI")
            for command in (("DECRBY", source, transfer.amount),
                            ("INCRBY", destination, transfer.amount),
                            ("INCR", self.keys.count),
                            ("RPUSH", self.keys.ledger, self._ledger_entry(transfer))):
                queued = client.call(*command)
                if queued not in (b"QUEUED", "QUEUED"):
                    raise redis.ResponseError("queued %r answered %r" % (command, queued))
        except (_Refused, _Unknown) as error:
            self._record(transfer, "fail", note="before EXEC: %s" % error)
            client.drop(getattr(error, "target", None))
            time.sleep(BACKOFF_S)
            return
        except redis.ResponseError as error:
            self._record(transfer, "fail", note="before EXEC: %s" % error)
            self.unexpected.append("%s before EXEC -> %s" % (transfer.id, error))
            client.drop()
            return
        self._finish(client, transfer, lambda: client.call("EXEC"), self._exec_reply)

    def _exec_reply(self, transfer, reply):
        """(outcome, [from after, to after, count]) from EXEC's reply."""
        if reply is None:
            return "aborted", None
        if isinstance(reply, list) and len(reply) == 4:
            values = [_integer(value) for value in reply]
            if values[2] != values[3]:
                self.history.malformed.append("%s: EXEC answered count %d but ledger length %d"
                                              % (transfer.id, values[2], values[3]))
            return "ok", values[:3]
        self.history.malformed.append("%s: EXEC answered %r" % (transfer.id, reply))
        return "ok", None

    def _parsed(self, parse, transfer, reply):
        """parse's (outcome, values); a reply of the wrong shape is acknowledged but
        malformed (kept for the checker), never an exception that ends the client."""
        try:
            return parse(transfer, reply)
        except (ValueError, TypeError, AttributeError):
            self.history.malformed.append("%s answered %r" % (transfer.id, reply))
            return "ok", None

    def _finish(self, client, transfer, send, parse):
        """Sends the write (EXEC or EVAL) and records its outcome."""
        try:
            reply = send()
        except _Refused as refusal:
            self._record(transfer, "fail", note=str(refusal))
            client.drop(refusal.target)
            time.sleep(BACKOFF_S)
            return
        except _Unknown as unknown:
            self._record(transfer, "info", note=str(unknown))
            client.drop()
            return
        except redis.ResponseError as error:
            self._record(transfer, "fail", note=str(error))
            self.unexpected.append("%s -> %s" % (transfer.id, error))
            client.drop()
            return
        self._record(transfer, *self._parsed(parse, transfer, reply))

    # ---- lua: the check and the move in one script ----

    def _eval_arguments(self, transfer):
        return ("EVAL", TRANSFER_SCRIPT, 4, self.keys.accounts[transfer.source],
                self.keys.accounts[transfer.destination], self.keys.count, self.keys.ledger,
                transfer.amount, self._ledger_entry(transfer))

    def _eval_reply(self, transfer, reply):
        if isinstance(reply, list) and len(reply) == 2 and _integer(reply[0]) == 0:
            return "declined", [_integer(reply[1])]
        if isinstance(reply, list) and len(reply) == 5 and _integer(reply[0]) == 1:
            values = [_integer(value) for value in reply[1:]]
            if values[2] != values[3]:
                self.history.malformed.append("%s: EVAL answered count %d but ledger length %d"
                                              % (transfer.id, values[2], values[3]))
            return "ok", values[:3]
        self.history.malformed.append("%s: EVAL answered %r" % (transfer.id, reply))
        return "ok", None

    def _run_lua(self, name, index, rng):
        client = self._client(index, rng)
        sequence = 0
        try:
            while not self.stop_event.is_set():
                sequence += 1
                transfer = self._new_transfer(name, "lua", sequence, rng)
                arguments = self._eval_arguments(transfer)
                self._finish(client, transfer, lambda: client.call(*arguments),
                             self._eval_reply)
                time.sleep(rng.uniform(*THINK_S))
        finally:
            client.drop()

    # ---- session: lua transfers retried exactly once through CLIENT SESSION ----

    def _run_session(self, name, index, rng):
        session = "%s-%d-%d" % (self.keys.count, self.seed, index)
        client = self._client(index, rng)
        number = 0
        try:
            while not self.stop_event.is_set():
                number += 1
                transfer = self._new_transfer(name, "session", number, rng)
                self._session_transfer(client, session, number, transfer)
                time.sleep(rng.uniform(*THINK_S))
        finally:
            client.drop()

    def _session_transfer(self, client, session, number, transfer):
        """Sends write `number` until it has an answer: after any failure the connection is
        dropped and the next one declares `number` again, so a retry of a write that applied
        is answered its first reply and does not apply twice."""
        arguments = self._eval_arguments(transfer)
        finish_by = None
        last = "never sent"
        while True:
            if self.stop_event.is_set():
                finish_by = finish_by or time.monotonic() + SESSION_FINISH_S
                if time.monotonic() > finish_by:
                    outcome = "info" if last.startswith("unknown") else "fail"
                    self._record(transfer, outcome, note="gave up: " + last)
                    if outcome == "info":
                        self.sessions_unresolved.append(transfer.id)
                    return
            try:
                if client.connection is None:
                    client._connect()
                    client.call("CLIENT", "SESSION", session, number)
                reply = client.call(*arguments)
            except _Refused as refusal:
                last = "refused: %s" % refusal if last == "never sent" or \
                    not last.startswith("unknown") else last
                client.drop(refusal.target)
                transfer.attempts += 1
                time.sleep(BACKOFF_S)
                continue
            except _Unknown as unknown:
                last = "unknown: %s" % unknown
                client.drop()
                transfer.attempts += 1
                time.sleep(BACKOFF_S)
                continue
            except redis.ResponseError as error:
                self.unexpected.append("%s -> %s" % (transfer.id, error))
                self._record(transfer, "info" if last.startswith("unknown") else "fail",
                             note=str(error))
                client.drop()
                return
            outcome, values = self._parsed(self._eval_reply, transfer, reply)
            self._record(transfer, outcome, values, note=last if transfer.attempts > 1 else "")
            return

    # ---- readers ----

    def _run_reader(self, name, index, rng):
        readonly = name.startswith("stale-reader")
        client = self._client(index, rng, readonly=readonly)
        try:
            while not self.stop_event.is_set():
                if readonly and rng.random() < 0.1:
                    client.drop()  # move to another node now and then
                self._read(name, client, rng.choice(READ_METHODS), readonly)
                time.sleep(rng.uniform(*THINK_S))
        finally:
            client.drop()

    def _read(self, name, client, method, readonly):
        keys = self.keys.read_keys()
        began = time.monotonic()
        try:
            if method == "mget":
                values = client.call("MGET", *keys)
            elif method == "eval_ro":
                values = client.call("EVAL_RO", READ_SCRIPT, len(keys), *keys)
            else:
                client.call("MULTI")
                for key in keys:
                    client.call("GET", key)
                values = client.call("EXEC")
        except (_Refused, _Unknown) as error:
            client.drop(getattr(error, "target", None))
            time.sleep(BACKOFF_S)
            return
        except redis.ResponseError as error:
            self.unexpected.append("%s %s -> %s" % (name, method, error))
            client.drop()
            return
        ended = time.monotonic()
        node = "%s:%d" % client.address
        if not isinstance(values, list) or len(values) != len(keys) or None in values:
            self.history.malformed.append("%s %s on %s answered %r" % (name, method, node,
                                                                       values))
            return
        try:
            numbers = [_integer(value) for value in values]
        except (ValueError, TypeError, AttributeError):
            self.history.malformed.append("%s %s on %s answered %r" % (name, method, node,
                                                                       values))
            return
        with self._lock:
            self.history.reads.append(Read(name, method, node, readonly, began, ended,
                                           numbers[:-1], numbers[-1]))

    # ---- the end ----

    def final_states(self, timeout_s=30.0):
        """{node id: {"balances", "count", "ledger"}} read on every node's own state
        (READONLY, one read-only MULTI) once all nodes applied the same index."""
        self.cluster.check_alive()
        self.cluster.wait_applied(timeout_s=timeout_s)
        states = {}
        for node_id in self.cluster.ids():
            node = self.cluster.node(node_id)
            client = redis.Redis(host=node.host, port=node.client_port, socket_timeout=10)
            try:
                client.execute_command("READONLY")
                client.execute_command("RAFT.CONSISTENCY", "stale")  # this node's own state
                pipe = client.pipeline(transaction=True)
                pipe.mget(self.keys.read_keys())
                pipe.lrange(self.keys.ledger, 0, -1)
                values, ledger = pipe.execute()
            finally:
                client.close()
            numbers = [_integer(value) for value in values]
            states[node_id] = {"balances": numbers[:-1], "count": numbers[-1],
                               "ledger": [entry.decode() for entry in ledger]}
        return states

    def counts(self):
        outcomes = {}
        for transfer in self.history.transfers:
            key = "%s %s" % (transfer.method, transfer.outcome)
            outcomes[key] = outcomes.get(key, 0) + 1
        reads = {}
        for read in self.history.reads:
            key = "%s%s" % (read.method, " readonly" if read.readonly else "")
            reads[key] = reads.get(key, 0) + 1
        return outcomes, reads

    def summary(self):
        outcomes, reads = self.counts()
        transfers = self.history.transfers
        total = {outcome: sum(1 for t in transfers if t.outcome == outcome)
                 for outcome in ("ok", "aborted", "declined", "fail", "info")}
        retried = sum(1 for t in transfers if t.method == "session" and t.attempts > 1)
        return ("%d transfers: %d committed, %d aborted by WATCH, %d declined, %d refused, "
                "%d uncertain; %d session transfers retried; %d reads checked (%s); "
                "by method: %s; %d watch transfers skipped (empty account)"
                % (len(transfers), total["ok"], total["aborted"], total["declined"],
                   total["fail"], total["info"], retried, len(self.history.reads),
                   ", ".join("%s %d" % item for item in sorted(reads.items())),
                   ", ".join("%s %d" % item for item in sorted(outcomes.items())),
                   self.skipped))


# ---- the checker ----

@dataclass
class BankVerdict:
    violations: Dict[str, List[str]] = field(default_factory=dict)
    ledger_length: int = 0
    checked_reads: int = 0

    def add(self, category, text):
        self.violations.setdefault(category, []).append(text)

    def report(self, per_category=5):
        if not self.violations:
            return "no violation (%d ledger entries, %d reads)" % (self.ledger_length,
                                                                   self.checked_reads)
        lines = []
        for category, texts in sorted(self.violations.items()):
            lines.append("%s: %d" % (category, len(texts)))
            lines += ["    " + text for text in texts[:per_category]]
        return "\n".join(lines)


def _describe_transfer(transfer):
    return ("%s (%s %d->%d amount %d, %s%s, sent %.3f, answered %s)"
            % (transfer.id, transfer.method, transfer.source, transfer.destination,
               transfer.amount, transfer.outcome,
               " %s" % transfer.reply if transfer.reply else "", transfer.invoke_time,
               "%.3f" % transfer.complete_time if transfer.complete_time is not None else "-"))


def _describe_read(read):
    return ("%s %s%s on %s, sent %.3f, answered %.3f: balances %s count %d"
            % (read.process, read.method, " READONLY" if read.readonly else "", read.node,
               read.invoke_time, read.complete_time, read.balances, read.count))


class _PrefixMax:
    """The largest value among items whose time is before a given time."""

    def __init__(self, items):  # (time, value)
        items = sorted(items)
        self.times = [moment for moment, _ in items]
        self.maxima = []
        best = None
        for _, value in items:
            best = value if best is None or value > best else best
            self.maxima.append(best)

    def before(self, moment):
        at = bisect.bisect_left(self.times, moment)
        return self.maxima[at - 1] if at > 0 else None


def _parse_ledger(ledger, accounts, verdict):
    entries = []
    for position, text in enumerate(ledger):
        parts = text.split()
        try:
            transfer_id, source, destination, amount = parts[0], int(parts[1]), int(parts[2]), \
                int(parts[3])
        except (IndexError, ValueError):
            verdict.add("corrupt ledger", "entry %d is %r" % (position, text))
            continue
        if not (0 <= source < accounts and 0 <= destination < accounts and amount > 0):
            verdict.add("corrupt ledger", "entry %d is %r" % (position, text))
            continue
        entries.append((transfer_id, source, destination, amount))
    return entries


def _replay(history, entries, verdict):
    """Every state the ledger goes through: states[n] is after its first n entries."""
    balances = [history.initial_balance] * history.accounts
    states = [tuple(balances)]
    for position, (transfer_id, source, destination, amount) in enumerate(entries):
        if balances[source] < amount:
            verdict.add("overdraft", "ledger entry %d (%s) moves %d from account %d, which "
                        "holds %d" % (position, transfer_id, amount, source, balances[source]))
        balances[source] -= amount
        balances[destination] += amount
        states.append(tuple(balances))
    return states


def _check_final_states(history, states, verdict):
    """Every node identical, summing to the total; returns the reference state."""
    first = min(states)
    reference = states[first]
    for node_id, state in sorted(states.items()):
        if state != reference:
            differing = [name for name in ("balances", "count", "ledger")
                         if state[name] != reference[name]]
            verdict.add("replicas differ", "node %d and node %d differ in %s: %s vs %s"
                        % (node_id, first, differing, state["balances"],
                           reference["balances"]))
        if sum(state["balances"]) != history.total:
            verdict.add("final total", "node %d's balances %s sum to %d, not %d"
                        % (node_id, state["balances"], sum(state["balances"]), history.total))
        if state["count"] != len(state["ledger"]):
            verdict.add("final count", "node %d's counter is %d but its ledger has %d entries"
                        % (node_id, state["count"], len(state["ledger"])))
    return reference


def _check_ledger_membership(history, entries, verdict):
    """Ids unique, known, never of a transfer that had no effect; acknowledged all in.
    Returns {id: position}."""
    by_id = {transfer.id: transfer for transfer in history.transfers}
    positions = {}
    for position, (transfer_id, source, destination, amount) in enumerate(entries):
        if transfer_id in positions:
            verdict.add("applied twice", "%s at ledger positions %d and %d"
                        % (transfer_id, positions[transfer_id], position))
            continue
        positions[transfer_id] = position
        transfer = by_id.get(transfer_id)
        if transfer is None:
            verdict.add("unknown transfer applied", "ledger entry %d: %s" % (position,
                                                                              transfer_id))
            continue
        if (source, destination, amount) != (transfer.source, transfer.destination,
                                             transfer.amount):
            verdict.add("corrupt ledger", "entry %d records %d->%d %d for %s"
                        % (position, source, destination, amount,
                           _describe_transfer(transfer)))
        if transfer.outcome in ("fail", "aborted", "declined"):
            verdict.add("applied though it had no effect", "ledger entry %d: %s"
                        % (position, _describe_transfer(transfer)))
    for transfer in history.transfers:
        if transfer.outcome == "ok" and transfer.id not in positions:
            verdict.add("acknowledged transfer lost", _describe_transfer(transfer))
    return positions


def _check_replies(history, positions, states, verdict):
    """An acknowledged transfer's reply is the state right after its ledger entry."""
    for transfer in history.transfers:
        if transfer.outcome != "ok" or transfer.reply is None or transfer.id not in positions:
            continue
        position = positions[transfer.id]
        after = states[position + 1]
        expected = [after[transfer.source], after[transfer.destination], position + 1]
        if transfer.reply != expected:
            verdict.add("reply disagrees with the ledger", "%s; at ledger position %d the "
                        "state gives %s" % (_describe_transfer(transfer), position, expected))


def _check_write_order(history, positions, verdict):
    """A transfer acknowledged before another was sent precedes it in the ledger."""
    acknowledged = _PrefixMax((t.complete_time, (positions[t.id], t.id))
                              for t in history.transfers
                              if t.outcome == "ok" and t.id in positions)
    for transfer in history.transfers:
        if transfer.id not in positions:
            continue
        earlier = acknowledged.before(transfer.invoke_time)
        if earlier is not None and earlier[0] > positions[transfer.id]:
            verdict.add("transfers out of real-time order", "%s is at ledger position %d, "
                        "before %s (position %d), acknowledged before it was sent"
                        % (_describe_transfer(transfer), positions[transfer.id], earlier[1],
                           earlier[0]))


def _check_reads(history, entries, states, verdict):
    """Each read is a whole state of the ledger; a linearizable read is also fresh enough
    and not from the future."""
    by_id = {transfer.id: transfer for transfer in history.transfers}
    acknowledged = _PrefixMax((t.complete_time, (t.reply[2], t.id)) for t in history.transfers
                              if t.outcome == "ok" and t.reply is not None)
    linearizable = [read for read in history.reads if not read.readonly]
    completed = _PrefixMax((read.complete_time, (read.count, _describe_read(read)))
                           for read in linearizable)
    latest_invoke = [float("-inf")]
    for transfer_id, _, _, _ in entries:
        transfer = by_id.get(transfer_id)
        moment = transfer.invoke_time if transfer is not None else float("-inf")
        latest_invoke.append(max(latest_invoke[-1], moment))
    for read in history.reads:
        verdict.checked_reads += 1
        if sum(read.balances) != history.total:
            verdict.add("torn read", "%s sums to %d, not %d" % (_describe_read(read),
                                                               sum(read.balances),
                                                               history.total))
        if min(read.balances) < 0:
            verdict.add("negative balance read", _describe_read(read))
        if not 0 <= read.count < len(states):
            verdict.add("read of a transfer never applied", "%s, but the ledger has %d entries"
                        % (_describe_read(read), len(entries)))
            continue
        if tuple(read.balances) != states[read.count]:
            verdict.add("read is no state of the ledger", "%s; after %d ledger entries the "
                        "balances are %s" % (_describe_read(read), read.count,
                                             list(states[read.count])))
        if read.readonly:
            continue
        fresh = acknowledged.before(read.invoke_time)
        if fresh is not None and fresh[0] > read.count:
            verdict.add("stale linearizable read", "%s misses %s (counter %d), acknowledged "
                        "before the read was sent" % (_describe_read(read), fresh[1], fresh[0]))
        seen = completed.before(read.invoke_time)
        if seen is not None and seen[0] > read.count:
            verdict.add("stale linearizable read", "%s is older than the earlier read %s"
                        % (_describe_read(read), seen[1]))
        if latest_invoke[read.count] > read.complete_time:
            verdict.add("read from the future", "%s includes a transfer sent after it was "
                        "answered" % _describe_read(read))


def _check_bounds(history, final_balances, verdict):
    """Without the ledger: acknowledged transfers move each account by a known amount, the
    uncertain ones by any subset of theirs; the final balance must lie within."""
    low = [history.initial_balance] * history.accounts
    high = list(low)
    for transfer in history.transfers:
        if transfer.outcome not in ("ok", "info"):
            continue
        for account, delta in ((transfer.source, -transfer.amount),
                               (transfer.destination, transfer.amount)):
            if transfer.outcome == "ok":
                low[account] += delta
                high[account] += delta
            elif delta < 0:
                low[account] += delta
            else:
                high[account] += delta
    for account, balance in enumerate(final_balances):
        if not low[account] <= balance <= high[account]:
            verdict.add("final balance out of bounds", "account %d holds %d; acknowledged and "
                        "uncertain transfers allow [%d, %d]" % (account, balance, low[account],
                                                                high[account]))


def load(path):
    """(history, {node: state}) from a file written by BankHistory.save."""
    history, states = None, {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            record = json.loads(line)
            kind = record.pop("type", None)
            if history is None:
                history = BankHistory(**record)
            elif kind == "transfer":
                history.transfers.append(Transfer(**record))
            elif kind == "read":
                history.reads.append(Read(**record))
            elif kind == "final":
                states[record.pop("node")] = record
    return history, states


def check(history, states):
    """The verdict on a bank history and every node's final state ({id: state})."""
    verdict = BankVerdict()
    for text in history.malformed:
        verdict.add("malformed reply", text)
    if not states:
        verdict.add("no final state", "no node's final state was read")
        return verdict
    reference = _check_final_states(history, states, verdict)
    entries = _parse_ledger(reference["ledger"], history.accounts, verdict)
    verdict.ledger_length = len(entries)
    replayed = _replay(history, entries, verdict)
    if list(replayed[-1]) != reference["balances"]:
        verdict.add("ledger disagrees with balances", "replaying the ledger gives %s, the "
                    "accounts hold %s" % (list(replayed[-1]), reference["balances"]))
    positions = _check_ledger_membership(history, entries, verdict)
    _check_replies(history, positions, replayed, verdict)
    _check_write_order(history, positions, verdict)
    _check_reads(history, entries, replayed, verdict)
    _check_bounds(history, reference["balances"], verdict)
    return verdict


# ---- the directed scenario that tells a correct server from the broken builds ----

def _send_transfer(workload, connection, transfer):
    transfer.invoke_time = time.monotonic()
    connection.send_command(*workload._eval_arguments(transfer))


def _await_transfer(workload, connection, transfer):
    """Reads the reply of a transfer sent with _send_transfer and records it."""
    try:
        reply = connection.read_response()
    except redis.ResponseError as error:
        text = str(error)
        outcome = "info" if text.startswith("UNCERTAIN") else "fail"
        workload._record(transfer, outcome, note=text)
        return outcome, text
    except (redis.RedisError, OSError) as error:
        workload._record(transfer, "info", note=str(error))
        return "info", str(error)
    outcome, values = workload._parsed(workload._eval_reply, transfer, reply)
    workload._record(transfer, outcome, values)
    return outcome, values


def _await_read(workload, connection, process, node, began):
    try:
        values = connection.read_response()
    except (redis.RedisError, OSError) as error:
        return "error", str(error)
    if not isinstance(values, list) or None in values:
        workload.history.malformed.append("%s answered %r" % (process, values))
        return "malformed", values
    numbers = [_integer(value) for value in values]
    with workload._lock:
        workload.history.reads.append(Read(process, "mget", node, False, began,
                                           time.monotonic(), numbers[:-1], numbers[-1]))
    return "ok", numbers


def _connection(cluster, node_id):
    node = cluster.node(node_id)
    connection = redis.Connection(host=node.host, port=node.client_port,
                                  socket_timeout=max(CLIENT_TIMEOUTS_S))
    connection.connect()
    return connection


def _directed_transfer(workload, node_id, transfer):
    connection = _connection(workload.cluster, node_id)
    try:
        _send_transfer(workload, connection, transfer)
        return _await_transfer(workload, connection, transfer)
    finally:
        connection.disconnect()


def deposed_leader_round(workload, nemesis, round_number):
    """As workload.deposed_leader_round, for transfers: a transfer through the leader L; L is
    cut off and SIGSTOPped at once; a transfer through the new leader is acknowledged; an MGET
    of every account and a transfer are queued on two connections to L; SIGCONT L, which wakes
    believing it leads. A correct server refuses the read (it needs a quorum) or answers the
    new state, and does not acknowledge the transfer. One that reads locally answers the old
    balances — a consistent snapshot, whose sum is right, but which misses the acknowledged
    transfer: the checker's "stale linearizable read". One that acknowledges before commit
    says yes to a transfer the new leader's log overwrites: "acknowledged transfer lost".
    Returns what the deposed leader answered."""
    cluster = workload.cluster
    rng = random.Random(nemesis.seed * 7919 + round_number)
    name = "deposed-%d" % round_number
    old = cluster.wait_for_leader()
    outcome, reply = _directed_transfer(workload, old,
                                        workload._new_transfer(name, "lua", 1, rng))
    assert outcome in ("ok", "declined"), "the first transfer failed: %s" % (reply,)
    cluster.wait_applied()
    reader, writer = _connection(cluster, old), _connection(cluster, old)
    nemesis.isolate(old, why="isolate leader")
    nemesis.pause([old], why="SIGSTOP leader")
    outcomes = {}
    try:
        others = [i for i in cluster.ids() if i != old]
        new = cluster.wait_for_leader(among=others, timeout_s=30)
        outcome, reply = _directed_transfer(workload, new,
                                            workload._new_transfer(name, "lua", 2, rng))
        assert outcome in ("ok", "declined"), "the new leader's transfer failed: %s" % (reply,)
        began = time.monotonic()
        reader.send_command("MGET", *workload.keys.read_keys())
        lost = workload._new_transfer(name, "lua", 3, rng)
        _send_transfer(workload, writer, lost)
        nemesis.resume([old])
        node = "%s:%d" % (cluster.node(old).host, cluster.node(old).client_port)
        outcomes["read"] = _await_read(workload, reader, name + "-reader", node, began)
        outcomes["transfer"] = _await_transfer(workload, writer, lost)
    finally:
        reader.disconnect()
        writer.disconnect()
        nemesis.heal_network()
    return outcomes


if __name__ == "__main__":
    import sys
    loaded_history, loaded_states = load(sys.argv[1])
    result = check(loaded_history, loaded_states)
    print(result.report(per_category=20))
    sys.exit(1 if result.violations else 0)
