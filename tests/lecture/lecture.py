#!/usr/bin/python3
"""lecture.py — the lecture's three systems on real processes, side by side (make lecture).

raftkv grew out of a lecture that argues with pictures: a naive replication protocol
("propagate the write to all siblings, ignore errors; read the local value") drifts into split
brain; eventual consistency with last-writer-wins serves stale values and loses updates when a
partition heals; Raft elects one leader per term, commits on a majority, refuses in the minority
and never rolls back what it committed. This script shows it: for every scenario and every mode
(--replication naive, lww, raft) it starts 3 real nodes on loopback in a temporary directory,
runs one client per node (writes and reads of two registers, INCRs of a counter), injects the
scenario's fault, heals it, lets the replicas settle, reads every key on every node, and judges:

  linearizable  tests/cluster/linearizability.py over the register history
  stale reads   reads that returned a value older than one a write had already replaced
                before the read began (or nothing after a write was acknowledged)
  lost writes   acknowledged register writes that a replica's final value rolled back (a write
                invoked after the final value's write had completed, yet not in the end), plus
                acknowledged INCRs missing from a replica's final counter
  refused       operations answered with a refusal (MOVED out of the client's side, CLUSTERDOWN,
                TRYAGAIN, a node that is down): no effect
  split brain   both sides of the fault (node 3 and the others, cut off or delayed) accepted
                writes to one key while apart, and the replicas still disagree at the end
  converged     every node holds the same value of every key at the end

Scenarios: "node-down" (kill -9 of node 3 for a while, writes continue, restart), "partition"
({1,2} | {3}, clients keep writing on both sides), "reorder" (every peer message may be held a
random while, so later ones overtake earlier ones, while everyone writes; from the heal on, the
clients only read, so what arrived last decides the final values). Network faults come from
the nodes' own fault point by default (--enable-fault-injection and RAFT.FAULT: CUT drops every
message and leaves the TCP link up, as a partition does; REORDER holds a random half of them up
to 400 ms longer); no root is needed. --faults nftables uses nftables rules on this run's peer
ports instead (root): a partition rejects with a TCP reset so that a link really breaks, and
"reorder" drops the packets between nodes 1 and 3 for a while, which TCP then delivers late.

A client talks only to its own node, as a client on its side of a partition would; in Raft mode
it follows a redirect (MOVED) to a node on its own side, and takes one to the other side as a
refusal. Raft's roles over time are polled from INFO raft.

Output: the table on stdout (also build/lecture/table.md, and the verdicts with each node's
final values as build/lecture/report.json), one history per run
(build/lecture/<scenario>-<mode>.jsonl), and an HTML report (build/lecture/report.html) with a
timeline per scenario: a lane per node, who was leader, every operation coloured by its verdict,
fault intervals shaded. At the end it lists the lecture's claims, each seen or not: naive never
converges (and splits in the partition), lww converges but serves stale reads or loses updates,
Raft stays linearizable, converges, loses nothing and refuses in the minority. --quick runs the
partition scenario only, shorter; --check fails (exit 1) when a claim was not seen: the CTest
suite cluster_lecture runs --quick --check.
"""

import argparse
import html
import json
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))

import redis  # noqa: E402

import harness  # noqa: E402
import linearizability  # noqa: E402
import nemesis  # noqa: E402
from history import HistoryRecorder, events_to_operations  # noqa: E402

MODES = ("naive", "lww", "raft")
SCENARIOS = ("node-down", "partition", "reorder")
REGISTERS = ("r0", "r1")
COUNTER = "c"
OP_INTERVAL_S = 0.02
CLIENT_TIMEOUT_S = 2.0
ROLE_POLL_S = 0.2
REORDER_MS = 400  # injected reordering: a message may be held up to this much longer
CHECK_BUDGET_S = 20.0


class LectureFaults(nemesis.NetworkFaults):
    """nemesis's nftables table, with a choice of how a cut behaves: reset (the link breaks,
    as a real partition looks to a sender) or drop (packets vanish; TCP retransmits them
    later, so they arrive late and out of order with newer traffic)."""

    def __init__(self, cluster):
        super().__init__(cluster)
        self.verdict = "drop"

    def _rules(self):
        lines = ["flush chain inet %s drops" % self.table]
        # A reset must itself get through (the rules match both directions), or the socket
        # never learns that its link broke and TCP simply retransmits after the heal.
        verdict = ("tcp flags & rst == 0 reject with tcp reset" if self.verdict == "reset"
                   else "drop")
        for (source, destination), _percent in sorted(self.drops.items()):
            match = "ip saddr %s ip daddr %s" % (harness.node_host(source),
                                                harness.node_host(destination))
            for direction in ("dport", "sport"):
                lines.append("add rule inet %s drops %s tcp %s @peer_ports %s"
                             % (self.table, match, direction, verdict))
        return "\n".join(lines) + "\n"


class InjectedFaults:
    """The same faults through the nodes' own fault point (--enable-fault-injection, RAFT.FAULT:
    no root needed). A cut drops every message and leaves the TCP link up, as a partition
    does; reordering holds a random half of the messages up to REORDER_MS longer, so later ones
    overtake them."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.verdict = "cut"  # the fault point drops; it never resets a link

    def partition(self, *groups):
        for group in groups:
            for node_id in group:
                for other in self.cluster.ids():
                    if other not in group:
                        self.cluster.raw_command(node_id, "RAFT.FAULT", "CUT", str(other))

    def reorder(self, node_ids):
        for node_id in node_ids:
            self.cluster.raw_command(node_id, "RAFT.FAULT", "REORDER", "ALL", str(REORDER_MS))

    def heal(self):
        for node_id in self.cluster.ids():
            self.cluster.raw_command(node_id, "RAFT.FAULT", "HEAL")

    def close(self):
        pass


class Run:
    """One scenario against one mode: the cluster, its clients, its timeline."""

    def __init__(self, mode, scenario, binary, hold_s, warm_s, after_s, fault_kind="injected"):
        self.fault_kind = fault_kind
        self.mode = mode
        self.scenario = scenario
        self.binary = binary
        self.hold_s = hold_s
        self.warm_s = warm_s
        self.after_s = after_s
        self.recorder = HistoryRecorder()
        self.ops = []  # every operation, the counter's too: dicts for the report
        self.ops_lock = threading.Lock()
        self.roles = []  # (time, node, role, term) polled from INFO
        self.faults = []  # (start, end, text)
        self.sides = {1: {1, 2, 3}, 2: {1, 2, 3}, 3: {1, 2, 3}}  # reachable nodes per client
        self.down = set()
        self.stop = threading.Event()
        self.reads_only = threading.Event()
        self.final = {}  # node -> {key: value}
        self.started = None

    def now(self):
        return time.monotonic() - self.started

    # ---- clients ----

    def node_of(self, cluster, host, port):
        for node_id in cluster.ids():
            node = cluster.node(node_id)
            if node.host == host and node.client_port == int(port):
                return node_id
        return None

    def command(self, cluster, clients, process, *arguments):
        """Runs a command from `process`'s client; returns (outcome, result, error text)."""
        target = process
        for _hop in range(2):
            if target in self.down:
                return "fail", None, "node %d is down" % target
            try:
                return "ok", clients[target].execute_command(*arguments), None
            except redis.ResponseError as error:
                text = str(error)
                if text.startswith("MOVED") and self.mode == "raft":
                    host, port = text.split()[2].rsplit(":", 1)
                    leader = self.node_of(cluster, host, port)
                    if leader is not None and leader in self.sides[process] and leader != target:
                        target = leader
                        continue
                    return "fail", None, "redirected out of reach: " + text
                if text.startswith(("MOVED", "CLUSTERDOWN", "TRYAGAIN")):
                    return "fail", None, text
                if text.startswith("ERR value is not an integer"):
                    return "fail", None, text
                return "info", None, text
            except redis.ConnectionError as error:
                if "refused" in str(error).lower():
                    return "fail", None, str(error)
                return "info", None, str(error)
            except (redis.TimeoutError, OSError) as error:
                return "info", None, str(error)
        return "fail", None, "too many redirects"

    def client_loop(self, cluster, clients, process, seed):
        rng = random.Random(seed)
        sequence = 0
        while not self.stop.is_set():
            choice = rng.random()
            if self.reads_only.is_set():
                choice = 0.5
            key = rng.choice(REGISTERS)
            started = self.now()
            if choice < 0.4:
                sequence += 1
                value = "w%d-%d" % (process, sequence)
                self.recorder.invoke(process, "write", key, value)
                outcome, _result, error = self.command(cluster, clients, process, "SET", key,
                                                       value)
                self.complete(process, outcome, None)
                self.note(process, "write", key, value, started, outcome, None, error)
            elif choice < 0.8:
                self.recorder.invoke(process, "read", key)
                outcome, result, error = self.command(cluster, clients, process, "GET", key)
                value = result.decode() if isinstance(result, bytes) else None
                self.complete(process, outcome, value)
                self.note(process, "read", key, None, started, outcome, value, error)
            else:
                outcome, result, error = self.command(cluster, clients, process, "INCR", COUNTER)
                self.note(process, "incr", COUNTER, None, started, outcome, result, error)
            time.sleep(OP_INTERVAL_S)

    def complete(self, process, outcome, value):
        if outcome == "ok":
            self.recorder.ok(process, value)
        elif outcome == "fail":
            self.recorder.fail(process)
        else:
            self.recorder.info(process)

    def note(self, process, f, key, value, started, outcome, result, error):
        with self.ops_lock:
            self.ops.append({"process": process, "node": process, "f": f, "key": key,
                             "value": value, "start": started, "end": self.now(),
                             "outcome": outcome, "result": result, "error": error})

    def role_loop(self, cluster):
        while not self.stop.is_set():
            for node_id in cluster.ids():
                if node_id in self.down:
                    self.roles.append((self.now(), node_id, "down", 0))
                    continue
                try:
                    info = cluster.info(node_id, "raft")
                    role = info.get("raft_role", "?") if self.mode == "raft" else "master"
                    self.roles.append((self.now(), node_id, role, info.get("raft_term", 0)))
                except (redis.RedisError, OSError):
                    self.roles.append((self.now(), node_id, "unreachable", 0))
            time.sleep(ROLE_POLL_S)

    # ---- the scenario ----

    def inject(self, cluster, faults):
        start = self.now()
        if self.scenario == "node-down":
            self.down.add(3)
            cluster.kill(3)
            text = "node 3 killed (kill -9)"
        elif self.scenario == "partition":
            faults.verdict = "reset"  # nftables: a link that really breaks (ignored injected)
            faults.partition([1, 2], [3])
            self.sides = {1: {1, 2}, 2: {1, 2}, 3: {3}}
            text = "partition {1,2} | {3}"
        elif self.fault_kind == "injected":
            faults.reorder(cluster.ids())
            text = "every peer message may be held up to %d ms (reordered)" % REORDER_MS
        else:
            faults.verdict = "drop"
            faults.cut(3, 1)
            text = "packets between nodes 1 and 3 dropped (delivered late by TCP)"
        time.sleep(self.hold_s)
        if self.scenario == "node-down":
            cluster.start_node(3)
            self.down.discard(3)
        else:
            if self.scenario == "reorder":
                self.reads_only.set()  # what arrives late now decides the final values
            faults.heal()
            self.sides = {1: {1, 2, 3}, 2: {1, 2, 3}, 3: {1, 2, 3}}
        self.faults.append((start, self.now(), text))

    def settle_and_read(self, cluster):
        """Waits (bounded) for the replicas to agree, then keeps what each node holds."""
        deadline = time.monotonic() + (8.0 if self.mode != "naive" else 3.0)
        while True:
            self.final = {}
            for node_id in cluster.ids():
                try:
                    client = cluster.client(node_id, socket_timeout=CLIENT_TIMEOUT_S)
                    if self.mode == "raft":
                        client.execute_command("READONLY")
                    values = {}
                    for key in REGISTERS + (COUNTER,):
                        value = client.execute_command("GET", key)
                        values[key] = value.decode() if isinstance(value, bytes) else None
                    self.final[node_id] = values
                    client.close()
                except (redis.RedisError, OSError) as error:
                    self.final[node_id] = {"error": str(error)}
            if self.converged() or time.monotonic() > deadline:
                return
            time.sleep(0.5)

    def converged(self):
        states = [json.dumps(values, sort_keys=True) for values in self.final.values()]
        return len(states) > 0 and len(set(states)) == 1 and "error" not in self.final[1]

    def execute(self, out_dir):
        extra = ["--replication", self.mode] if self.mode != "raft" else []
        if self.fault_kind == "injected":
            extra.append("--enable-fault-injection")
        cluster = harness.Cluster(3, binary=self.binary, extra_args=extra)
        faults = None
        threads = []
        try:
            cluster.start()
            if self.mode == "raft":
                cluster.wait_for_leader()
            else:  # a foil drops what it sends before its links are up
                harness.wait_until(lambda: all("peer %d connected" % b in cluster.logs(a)
                                               for a in cluster.ids() for b in cluster.ids()
                                               if a != b), what="the peer links")
            faults = (InjectedFaults(cluster) if self.fault_kind == "injected"
                      else LectureFaults(cluster))
            clients = {i: cluster.client(i, socket_timeout=CLIENT_TIMEOUT_S) for i in cluster.ids()}
            self.started = time.monotonic()
            threads = [threading.Thread(target=self.client_loop, args=(cluster, clients, i, i),
                                        daemon=True) for i in cluster.ids()]
            threads.append(threading.Thread(target=self.role_loop, args=(cluster,), daemon=True))
            for thread in threads:
                thread.start()
            time.sleep(self.warm_s)
            self.inject(cluster, faults)
            time.sleep(self.after_s)
            self.stop.set()
            for thread in threads:
                thread.join(timeout=10)
            self.ended = self.now()
            self.settle_and_read(cluster)
            self.recorder.save(os.path.join(out_dir, "%s-%s.jsonl" % (self.scenario, self.mode)))
        finally:
            self.stop.set()
            if faults is not None:
                faults.close()
            cluster.close()
            cluster.remove_files()
        return self.judge()

    # ---- the verdicts ----

    def judge(self):
        operations = events_to_operations(self.recorder.events())
        check = linearizability.check_operations(operations, time_budget_s=CHECK_BUDGET_S)
        registers = [op for op in self.ops if op["f"] in ("read", "write")]
        writes = {}  # (key, value) -> op
        for op in registers:
            if op["f"] == "write":
                writes[(op["key"], op["value"])] = op
        stale = 0
        for op in registers:
            if op["f"] != "read" or op["outcome"] != "ok":
                continue
            source = writes.get((op["key"], op["result"]))
            newer = [w for w in writes.values() if w["key"] == op["key"] and
                     w["outcome"] == "ok" and w["end"] < op["start"] and
                     (source is None or w["start"] > source["end"])]
            if newer:
                op["stale"] = True
                stale += 1
        lost = 0
        for node_id, values in self.final.items():
            lost_here = 0
            for key in REGISTERS:
                final_write = writes.get((key, values.get(key)))
                for w in writes.values():
                    if w["key"] != key or w["outcome"] != "ok" or w is final_write:
                        continue
                    if final_write is None or w["start"] > final_write["end"]:
                        lost_here += 1
                        w.setdefault("lost_on", []).append(node_id)
            acked = sum(1 for op in self.ops if op["f"] == "incr" and op["outcome"] == "ok")
            try:
                counter = int(values.get(COUNTER) or 0)
            except ValueError:
                counter = 0
            lost_here += max(0, acked - counter)
            lost = max(lost, lost_here)
        refused = sum(1 for op in self.ops if op["outcome"] == "fail")
        split = self.split_brain() and not self.converged()
        return {"mode": self.mode, "scenario": self.scenario, "verdict": check.verdict,
                "linearizable": check.verdict == linearizability.LINEARIZABLE,
                "stale": stale, "lost": lost, "refused": refused, "split_brain": split,
                "converged": self.converged(), "operations": len(self.ops),
                "final": self.final, "faults": self.faults, "roles": self.roles,
                "ops": self.ops, "ended": self.ended}

    def split_brain(self):
        """Writes to one key acknowledged on both sides while they were apart."""
        for start, end, _text in self.faults:
            for key in REGISTERS + (COUNTER,):
                sides = set()
                for op in self.ops:
                    if op["key"] == key and op["f"] in ("write", "incr") and \
                            op["outcome"] == "ok" and start <= op["start"] and op["end"] <= end:
                        sides.add("minority" if op["node"] == 3 else "majority")
                if len(sides) == 2:
                    return True
        return False


# ---- output ----

def table(results):
    lines = ["| scenario | mode | linearizable | stale reads | lost writes | refused | "
             "split brain | converged |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append("| %s | %s | %s | %d | %d | %d | %s | %s |" % (
            r["scenario"], r["mode"],
            "yes" if r["linearizable"] else ("no" if r["verdict"] != "unknown" else "unknown"),
            r["stale"], r["lost"], r["refused"], "YES" if r["split_brain"] else "no",
            "yes" if r["converged"] else "NO"))
    return "\n".join(lines)


COLOURS = {"ok": "#3a3", "stale": "#f90", "lost": "#d22", "fail": "#999", "info": "#dd3"}
ROLE_COLOURS = {"leader": "#cce4ff", "down": "#eee", "unreachable": "#f3dede"}


def svg_timeline(result, width=900, lane_h=46):
    end = max([result["ended"]] + [op["end"] for op in result["ops"]] + [1.0])
    scale = (width - 60) / end
    lanes = sorted({op["node"] for op in result["ops"]} | {1, 2, 3})
    height = lane_h * len(lanes) + 30
    parts = ['<svg width="%d" height="%d" xmlns="http://www.w3.org/2000/svg" '
             'font-family="sans-serif" font-size="11">' % (width, height)]
    for start, stop, text in result["faults"]:
        parts.append('<rect x="%.1f" y="0" width="%.1f" height="%d" fill="#f6d6d6">'
                     '<title>%s</title></rect>' % (60 + start * scale, (stop - start) * scale,
                                                   height - 20, html.escape(text)))
    for index, node in enumerate(lanes):
        y = index * lane_h
        polls = [(t, role) for t, n, role, _term in result["roles"] if n == node]
        for (t, role), following in zip(polls, polls[1:] + [(end, None)]):
            colour = ROLE_COLOURS.get(role)
            if colour:
                parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" '
                             'opacity="0.8"><title>node %d: %s</title></rect>'
                             % (60 + t * scale, y + 2, max(1.0, (following[0] - t) * scale),
                                lane_h - 4, colour, node, role))
        parts.append('<text x="2" y="%d">node %d</text>' % (y + lane_h // 2 + 4, node))
        parts.append('<line x1="60" x2="%d" y1="%d" y2="%d" stroke="#ccc"/>'
                     % (width, y + lane_h, y + lane_h))
    for op in result["ops"]:
        kind = op["outcome"]
        if op.get("stale"):
            kind = "stale"
        if op.get("lost_on"):
            kind = "lost"
        index = lanes.index(op["node"])
        row = {"write": 0, "read": 1, "incr": 2}[op["f"]]
        y = index * lane_h + 6 + row * 12
        title = "%s %s %s -> %s %s" % (op["f"], op["key"], op["value"] or "",
                                      op["result"] if op["result"] is not None else "",
                                      op["error"] or kind)
        parts.append('<rect x="%.1f" y="%d" width="%.1f" height="9" fill="%s">'
                     '<title>%s</title></rect>'
                     % (60 + op["start"] * scale, y, max(1.5, (op["end"] - op["start"]) * scale),
                        COLOURS[kind], html.escape(title)))
    for second in range(int(end) + 1):
        parts.append('<text x="%.1f" y="%d" fill="#666">%ds</text>'
                     % (60 + second * scale, height - 6, second))
    parts.append("</svg>")
    return "\n".join(parts)


def report_html(results, table_text):
    rows = []
    for line in table_text.splitlines():
        if line.startswith("|---"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        tag = "th" if line is table_text.splitlines()[0] else "td"
        rows.append("<tr>%s</tr>" % "".join("<%s>%s</%s>" % (tag, html.escape(c), tag)
                                           for c in cells))
    body = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>raftkv — the lecture"
            "</title><style>body{font-family:sans-serif;margin:2em;max-width:1000px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}"
            ".key span{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px}"
            "</style></head><body>",
            "<h1>The lecture's three systems on real processes</h1>",
            "<p>naive and lww are raftkv's UNSAFE foils (<code>--replication</code>); raft is "
            "the default. Each run: 3 nodes, one client per node (rows per lane: writes, "
            "reads, INCRs), the fault shaded in red, Raft's leader in blue.</p>",
            "<table>%s</table>" % "".join(rows),
            "<p class='key'>operations: " +
            "".join("<span style='background:%s'></span>%s" % (c, k) for k, c in COLOURS.items()) +
            "<br>lanes: " +
            "".join("<span style='background:%s'></span>%s" % (c, k)
                    for k, c in ROLE_COLOURS.items()) +
            "<span style='background:#f6d6d6'></span>fault</p>"]
    for scenario in SCENARIOS:
        runs = [r for r in results if r["scenario"] == scenario]
        if not runs:
            continue
        body.append("<h2>%s</h2>" % html.escape(scenario))
        body.append("<p>%s</p>" % html.escape(SCENARIO_TEXT[scenario]))
        for r in runs:
            body.append("<h3>%s: %s</h3>" % (html.escape(r["mode"]), html.escape(r["verdict"])))
            body.append("<p>final values: %s</p>" % html.escape(json.dumps(r["final"],
                                                                             sort_keys=True)))
            body.append(svg_timeline(r))
    body.append("</body></html>")
    return "\n".join(body)


def expectations(result):
    """The lecture's claims for one run, as (holds, text) pairs."""
    mode, scenario = result["mode"], result["scenario"]
    label = "%s, %s: " % (scenario, mode)
    if mode == "naive":
        claims = [(not result["converged"], label + "the replicas never converge")]
        if scenario == "partition":
            claims.append((result["split_brain"], label + "split brain: both sides took writes"))
        return claims
    if mode == "lww":
        return [(result["converged"], label + "the replicas converge after healing"),
                (result["verdict"] == linearizability.NOT_LINEARIZABLE or result["stale"] > 0 or
                 result["lost"] > 0, label + "stale reads or lost updates")]
    claims = [(result["linearizable"], label + "the history is linearizable"),
              (result["converged"], label + "the replicas converge"),
              (result["lost"] == 0 and result["stale"] == 0, label + "nothing stale, nothing lost")]
    if scenario == "partition":
        claims.append((result["refused"] > 0, label + "the minority refuses"))
    return claims


SCENARIO_TEXT = {
    "node-down": "Node 3 is killed with kill -9 while the clients write; it restarts later. "
                 "naive: node 3 never gets what it missed. lww: anti-entropy brings it back, "
                 "but its client's INCRs on stale values overwrite newer ones. raft: node 3 "
                 "catches up from the leader's log.",
    "partition": "The peer links between {1,2} and {3} break; every client keeps writing to "
                 "its own node. naive: split brain, and the sides stay apart after the heal. "
                 "lww: stale reads on the minority, one side's updates silently lost when the "
                 "states merge. raft: node 3 refuses (no majority), the majority goes on.",
    "reorder": "Messages between the nodes are held a random while, so that later ones "
               "overtake earlier ones (with --faults nftables: the packets between nodes 1 and 3 "
               "are dropped for a while and TCP delivers them late); from the heal on, the "
               "clients only read. naive: each node applies the writes in the order they "
               "arrived and keeps whichever came last. lww: stamps order them. raft: the log "
               "orders them.",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.environ.get("RAFTKV_BINARY"))
    parser.add_argument("--out", default=os.environ.get("LECTURE_OUT", "build/lecture"))
    parser.add_argument("--quick", action="store_true", help="the partition scenario, shorter")
    parser.add_argument("--check", action="store_true", help="assert the lecture's outcome")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--scenarios", default=None)
    parser.add_argument("--faults", choices=("injected", "nftables"), default="injected",
                        help="the nodes' own fault point (default, no root) or nftables rules")
    args = parser.parse_args(argv)
    if not args.binary:
        parser.error("--binary (or RAFTKV_BINARY) is required")
    if args.faults == "nftables" and (os.geteuid() != 0 or not nemesis.nft_available()):
        print("lecture: --faults nftables needs root and nftables", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    scenarios = args.scenarios.split(",") if args.scenarios else (
        ["partition"] if args.quick else list(SCENARIOS))
    hold_s, warm_s, after_s = (3.0, 1.5, 1.5) if args.quick else (5.0, 2.0, 2.5)
    results = []
    for scenario in scenarios:
        for mode in args.modes.split(","):
            print("lecture: %s against %s ..." % (scenario, mode), flush=True)
            run = Run(mode, scenario, args.binary, hold_s, warm_s, after_s, args.faults)
            result = run.execute(args.out)
            results.append(result)
            print("lecture:   %s, %d operations, %d stale, %d lost, %d refused, %s"
                  % (result["verdict"], result["operations"], result["stale"], result["lost"],
                     result["refused"], "converged" if result["converged"] else "NOT converged"),
                  flush=True)
    text = table(results)
    print()
    print(text)
    with open(os.path.join(args.out, "table.md"), "w") as out:
        out.write(text + "\n")
    summary = [{k: v for k, v in r.items() if k not in ("ops", "roles")} for r in results]
    with open(os.path.join(args.out, "report.json"), "w") as out:
        json.dump(summary, out, indent=1, sort_keys=True)
    report = os.path.join(args.out, "report.html")
    with open(report, "w") as out:
        out.write(report_html(results, text))
    print("\nreport: %s" % os.path.abspath(report))
    print("\nThe lecture's claims:")
    failed = []
    for r in results:
        for holds, claim in expectations(r):
            print("  %s  %s" % ("seen    " if holds else "NOT SEEN", claim))
            if not holds:
                failed.append(claim)
    if args.check and failed:
        print("lecture: %d of the lecture's claims were not seen" % len(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
