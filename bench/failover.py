#!/usr/bin/python3
"""Failover time of a 3-node raftkv cluster: kill -9 the leader, time the first acknowledged
write on a survivor.

What it is: `make bench-failover`. It starts a fresh 3-node cluster on loopback with the default
timeouts (bench/compare.py's helpers: own free ports, temporary data directories) and repeats
--rounds times (default 20): a client thread writes continuously (SET, one at a time) to the
leader; after --warm-seconds of acknowledged writes the leader gets SIGKILL; the client, which
knows only the three addresses, follows -MOVED and, on -CLUSTERDOWN, a refused connection or a
timeout, tries the next node after a short pause, until a survivor acknowledges a write. The
failover time is from just before the kill to the arrival of that acknowledgement. The killed
node is then restarted and the round ends when its applied index has reached the leader's
commit index (it caught up). It prints every round, the median and the max, as markdown.

Failure modes: every wait is bounded (a failover that takes over --failover-timeout seconds, a
node that does not catch up, a cluster without a leader) and ends the run with a message and
the tail of the node logs. Every process is stopped and the temporary directory removed
whatever happens (unless --keep).
"""

import argparse
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time

import compare
from compare import BenchError, RespConnection, RespError

DEFAULT_ROUNDS = 20
DEFAULT_WARM_SECONDS = 1.0
DEFAULT_FAILOVER_TIMEOUT_S = 30.0
CATCH_UP_TIMEOUT_S = 30.0
# One write waits at most this long for its reply; a new leader commits within it.
WRITE_TIMEOUT_S = 1.0
# Pause before trying another node after a refusal, so the client does not spin.
RETRY_PAUSE_S = 0.005
WRITER_JOIN_TIMEOUT_S = 5.0
ERROR_KINDS = ("moved", "clusterdown", "other_error", "refused_or_closed", "timeout")


def moved_port(text):
    """The port of '-MOVED <slot> <host>:<port>', or None if the text is not of that form."""
    try:
        return int(text.split()[2].rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


class Writer(threading.Thread):
    """Writes SET failover:<n> <n> in a loop and records each acknowledgement as
    (monotonic time, node id). Follows MOVED; on any other failure tries the next node.
    It owns its connections; stop() ends the loop and closes them."""

    def __init__(self, client_ports, first_node):
        super().__init__(daemon=True)
        self.client_ports = dict(client_ports)
        self.node_by_port = {port: node for node, port in self.client_ports.items()}
        self.target = first_node
        self.connections = {}
        self.acks = []
        self.errors = {kind: 0 for kind in ERROR_KINDS}
        self.sequence = 0
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.failure = None

    def stop(self):
        self.stop_event.set()
        self.join(WRITER_JOIN_TIMEOUT_S)
        if self.is_alive():
            raise BenchError("the writer did not stop within %.0f s" % WRITER_JOIN_TIMEOUT_S)

    def first_ack_after(self, since, excluded_node):
        if self.failure is not None:
            raise BenchError("the writer failed: %r" % (self.failure,))
        with self.lock:
            for ack_time, node in self.acks:
                if ack_time >= since and node != excluded_node:
                    return ack_time, node
        return None

    def ack_count(self):
        if self.failure is not None:
            raise BenchError("the writer failed: %r" % (self.failure,))
        with self.lock:
            return len(self.acks)

    def _next_node(self):
        nodes = sorted(self.client_ports)
        self.target = nodes[(nodes.index(self.target) + 1) % len(nodes)]

    def _drop_connection(self, node):
        connection = self.connections.pop(node, None)
        if connection is not None:
            connection.close()

    def _write_once(self):
        node = self.target
        if node not in self.connections:
            self.connections[node] = RespConnection(self.client_ports[node], WRITE_TIMEOUT_S)
        self.sequence += 1
        reply = self.connections[node].command("SET", "failover:%d" % self.sequence,
                                               str(self.sequence))
        if reply != "OK":
            raise RespError("unexpected reply %r" % (reply,))
        with self.lock:
            self.acks.append((time.monotonic(), node))

    def _follow_error(self, error):
        text = str(error)
        if text.startswith("MOVED"):
            self.errors["moved"] += 1
            port = moved_port(text)
            if port in self.node_by_port and self.node_by_port[port] != self.target:
                self.target = self.node_by_port[port]
                return
        elif text.startswith("CLUSTERDOWN"):
            self.errors["clusterdown"] += 1
        else:
            self.errors["other_error"] += 1
        self._next_node()
        time.sleep(RETRY_PAUSE_S)

    def run(self):
        try:
            self._write_until_stopped()
        except Exception as error:  # reported to the main thread, which ends the run
            self.failure = error
        finally:
            for node in list(self.connections):
                self._drop_connection(node)

    def _write_until_stopped(self):
        while not self.stop_event.is_set():
            try:
                self._write_once()
            except RespError as error:
                self._follow_error(error)
            except TimeoutError:
                self.errors["timeout"] += 1
                self._drop_connection(self.target)
                self._next_node()
            except OSError:
                self.errors["refused_or_closed"] += 1
                self._drop_connection(self.target)
                self._next_node()
                time.sleep(RETRY_PAUSE_S)


def wait_caught_up(cluster, node_id):
    """Waits until node_id has applied everything the leader had committed when asked."""
    leader = cluster.find_leader()
    target = int(cluster.raft_info(leader)["raft_commit_index"])
    started = time.monotonic()
    compare.wait_until(
        lambda: int(cluster.raft_info(node_id)["raft_applied_index"]) >= target,
        CATCH_UP_TIMEOUT_S, "node %d to apply up to index %d" % (node_id, target))
    return time.monotonic() - started


def run_round(cluster, options, round_number):
    """One kill-and-recover round; returns a dict describing it."""
    leader = cluster.find_leader()
    writer = Writer(cluster.client_ports, leader)
    writer.start()
    try:
        compare.wait_until(lambda: writer.ack_count() > 0, options.failover_timeout,
                           "a first acknowledged write on leader node %d" % leader)
        time.sleep(options.warm_seconds)
        acks_before = writer.ack_count()
        killed_at = time.monotonic()
        cluster.kill_node(leader)
        ack = compare.wait_until(lambda: writer.first_ack_after(killed_at, leader),
                                 options.failover_timeout,
                                 "a write acknowledged by a survivor after killing node %d"
                                 % leader)
    finally:
        writer.stop()
    failover_s = ack[0] - killed_at
    new_leader = ack[1]
    cluster.start_node(leader)
    catch_up_s = wait_caught_up(cluster, leader)
    result = {"round": round_number, "killed": leader, "new_leader": new_leader,
              "failover_s": failover_s, "acks_before": acks_before, "catch_up_s": catch_up_s,
              "term": int(cluster.raft_info(new_leader)["raft_term"])}
    result.update(writer.errors)
    compare.log("round %2d: killed node %d, node %d acknowledged after %.3f s (term %d); "
                "restarted node caught up in %.2f s; errors %s" % (
                    round_number, leader, new_leader, failover_s, result["term"], catch_up_s,
                    {k: v for k, v in writer.errors.items() if v}))
    return result


def rounds_table(results):
    lines = ["| round | killed | acked by | failover ms | term after | writes before kill | "
             "MOVED | CLUSTERDOWN | refused/closed | timeouts | other errors | catch-up s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append("| %d | %d | %d | %.0f | %d | %d | %d | %d | %d | %d | %d | %.2f |" % (
            r["round"], r["killed"], r["new_leader"], r["failover_s"] * 1000, r["term"],
            r["acks_before"], r["moved"], r["clusterdown"], r["refused_or_closed"],
            r["timeout"], r["other_error"], r["catch_up_s"]))
    return lines


def summary_lines(results):
    times_ms = sorted(r["failover_s"] * 1000 for r in results)
    return ["Failover (kill -9 of the leader -> first acknowledged write on a survivor) over "
            "%d rounds: median %.0f ms, max %.0f ms, min %.0f ms, mean %.0f ms." % (
                len(times_ms), statistics.median(times_ms), times_ms[-1], times_ms[0],
                statistics.mean(times_ms)),
            "", "Every time (ms, sorted): " + " ".join("%.0f" % t for t in times_ms)]


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=compare.DEFAULT_BINARY, help="raftkv binary")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help="kill-and-recover rounds (default %d)" % DEFAULT_ROUNDS)
    parser.add_argument("--warm-seconds", type=float, default=DEFAULT_WARM_SECONDS,
                        help="writes to the leader before each kill (default %.1f s)"
                        % DEFAULT_WARM_SECONDS)
    parser.add_argument("--failover-timeout", type=float, default=DEFAULT_FAILOVER_TIMEOUT_S,
                        help="give up on a round after this many seconds (default %.0f)"
                        % DEFAULT_FAILOVER_TIMEOUT_S)
    parser.add_argument("--data-root", default=tempfile.gettempdir(),
                        help="where the temporary data directories go (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep data directories and logs")
    options = parser.parse_args(argv)
    if options.rounds < 1 or options.warm_seconds < 0 or options.failover_timeout <= 0:
        parser.error("--rounds must be at least 1, the times positive")
    if not os.access(options.binary, os.X_OK):
        parser.error("no raftkv binary at %s (run `make bench-failover`)" % options.binary)
    return options


def run_failover(options, root_dir, report):
    cluster = compare.RaftkvCluster(options.binary, root_dir)
    try:
        cluster.start()
        report.append("- raftkv: `%s` (and nodes 2, 3 alike; default timeouts)"
                      % shlex.join(cluster.node_argv(1)))
        report.append("- load averages (1, 5, 15 min) before: %s" % compare.load_averages())
        results = [run_round(cluster, options, n + 1) for n in range(options.rounds)]
        report.append("- load averages (1, 5, 15 min) after: %s" % compare.load_averages())
        report += ["", "### Failover rounds", ""] + rounds_table(results)
        report += [""] + summary_lines(results)
    except BenchError:
        compare.log(cluster.logs_tail())
        raise
    finally:
        cluster.stop()


def main(argv):
    options = parse_arguments(argv)
    signal.signal(signal.SIGTERM, compare.raise_system_exit)
    signal.signal(signal.SIGHUP, compare.raise_system_exit)
    root_dir = tempfile.mkdtemp(prefix="raftkv-failover-", dir=options.data_root)
    started = time.monotonic()
    report = ["## raftkv failover (bench/failover.py)", "",
              "- command: `%s`" % shlex.join([sys.executable, "bench/failover.py"] + argv)]
    report += compare.machine_lines(options.data_root)
    report.append("- client: one connection at a time, SET in a loop, %.0f ms reply timeout, "
                  "%.0f ms pause before trying another node" % (WRITE_TIMEOUT_S * 1000,
                                                                RETRY_PAUSE_S * 1000))
    try:
        run_failover(options, root_dir, report)
    except BenchError as error:
        compare.log("bench-failover: %s" % error)
        return 1
    finally:
        if options.keep:
            compare.log("bench-failover: kept %s" % root_dir)
        else:
            shutil.rmtree(root_dir, ignore_errors=True)
    report += ["", "Total wall time: %.0f s." % (time.monotonic() - started)]
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
