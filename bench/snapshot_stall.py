#!/usr/bin/python3
"""Write latency while a follower catches up from a large snapshot (issue 9, item 5).

What it is: `make bench-snapshot` (or run it directly). It starts a 3-node cluster on loopback
(the release build, tests/cluster/harness.py), loads --gigabytes of 1 MiB values, stops one
follower, writes until the leader has taken a snapshot past the follower's log (so the follower
can only catch up by snapshot), then runs one client doing SETs back to back against the
leader while the stopped follower restarts and installs the snapshot. A second thread sends
PING to every node every few milliseconds and records the longest gap between replies: how
long each node's event loop stood still. It prints, as markdown: the catch-up time, the SET
latencies (p50, p99, max) during the catch-up, the longest loop stall per node, and whether
the term changed (an election happened).

Failure modes: every wait is bounded; the cluster is stopped and its directory removed
whatever happens (unless --keep). It measures and reports; it asserts nothing.
"""

import argparse
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))

import redis  # noqa: E402

from harness import Cluster, wait_until  # noqa: E402

MIB = 1024 * 1024
VALUE_BYTES = MIB
PIPELINE = 16
PING_INTERVAL_S = 0.002
CATCH_UP_TIMEOUT_S = 600


class Pinger(threading.Thread):
    """PINGs one node back to back; records the longest time between two replies. One
    thread per node, so that a node that stands still does not hide the others."""

    def __init__(self, cluster, node_id):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.node_id = node_id
        self.stop = threading.Event()
        self.longest = 0.0
        self.longest_at = ""

    def run(self):
        client = None
        last = None
        while not self.stop.is_set():
            try:
                client = client or self.cluster.client(self.node_id, socket_timeout=30)
                client.ping()
            except redis.RedisError:
                client = None
                last = None
                time.sleep(PING_INTERVAL_S)
                continue
            now = time.monotonic()
            if last is not None and now - last > self.longest:
                self.longest = now - last
                self.longest_at = time.strftime("%H:%M:%S", time.gmtime(time.time()))
            last = now
            time.sleep(PING_INTERVAL_S)


class SetLoop(threading.Thread):
    """One client, SET after SET on the leader; records each latency in seconds."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client = client
        self.stop = threading.Event()
        self.latencies = []
        self.errors = []

    def run(self):
        i = 0
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                self.client.set("probe:%d" % (i % 1000), "v%d" % i)
                self.latencies.append(time.monotonic() - start)
            except redis.RedisError as error:
                self.errors.append(str(error))
                time.sleep(0.01)
            i += 1


def pipelined_sets(cluster, pairs):
    """SETs the pairs in pipelined chunks on whichever node leads, retrying a chunk after a
    leader change; returns the number of retries (each one is worth reporting)."""
    retries = 0
    for start in range(0, len(pairs), PIPELINE):
        for _ in range(20):
            client = cluster.client(cluster.wait_for_leader(), socket_timeout=60)
            pipe = client.pipeline(transaction=False)
            for key, value in pairs[start:start + PIPELINE]:
                pipe.set(key, value)
            try:
                pipe.execute()
                break
            except redis.RedisError:
                retries += 1
                time.sleep(0.2)
        else:
            raise RuntimeError("a chunk of writes kept failing")
    return retries


def load(cluster, total_bytes):
    value = b"v" * VALUE_BYTES
    count = max(1, total_bytes // VALUE_BYTES)
    retries = pipelined_sets(cluster, [("bulk:%d" % i, value) for i in range(count)])
    return count, retries


SETTLE_S = 3.0


def small_writes(cluster, leader, count, what):
    """count + 1 small pipelined writes, then waits for the leader's next snapshot."""
    taken = cluster.raft_info(leader)["raft_snapshots_taken"]
    pipelined_sets(cluster, [("small:%d" % i, "x") for i in range(count + 1)])
    wait_until(lambda: cluster.raft_info(leader)["raft_snapshots_taken"] > taken,
               timeout_s=300, what=what)


def measure(cluster, leader, follower, title, action):
    """Runs action() while one client SETs on the leader and every node is PINGed; returns
    a markdown row."""
    term = cluster.raft_info(leader)["raft_term"]
    pingers = {node_id: Pinger(cluster, node_id) for node_id in cluster.ids()}
    setter = SetLoop(cluster.client(leader, socket_timeout=30))
    for pinger in pingers.values():
        pinger.start()
    setter.start()
    time.sleep(1.0)
    before = len(setter.latencies)
    errors_before = len(setter.errors)
    began = time.monotonic()
    outcome = action()
    took = time.monotonic() - began
    time.sleep(1.0)
    setter.stop.set()
    setter.join(30)
    for pinger in pingers.values():
        pinger.stop.set()
        pinger.join(30)
    during = setter.latencies[before:] or [float("nan")]
    new_term = cluster.raft_info(cluster.wait_for_leader())["raft_term"]
    stalls = ", ".join("%d%s: %.0f" % (node_id, {leader: " (leader)", follower: " (catching up)"}
                                        .get(node_id, ""), 1000 * pingers[node_id].longest)
                       for node_id in cluster.ids())
    return "| %s | %.1f s | %s | %d | %.2f / %.2f / %.1f | %d | %s | %s |" % (
        title, took, outcome, len(during), 1000 * statistics.median(during),
        1000 * percentile(during, 0.99), 1000 * max(during), len(setter.errors) - errors_before,
        stalls, "none" if new_term == term else "term %d -> %d" % (term, new_term))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "build", "src", "server",
                                                         "raftkv"))
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--snapshot-entries", type=int, default=50000)
    parser.add_argument("--keep", action="store_true")
    arguments = parser.parse_args()

    cluster = Cluster(3, binary=os.path.abspath(arguments.binary), request_timeout_ms=30000,
                      snapshot_entries=arguments.snapshot_entries, log_level="info")
    rows = []
    try:
        cluster.start()
        cluster.wait_for_leader()
        began = time.monotonic()
        count, retries = load(cluster, int(arguments.gigabytes * 1024 * MIB))
        print("loaded %d values of %d bytes in %.1f s (%d chunks retried after a leader "
              "change)" % (count, VALUE_BYTES, time.monotonic() - began, retries))
        leader = cluster.wait_for_leader()
        follower = next(node_id for node_id in cluster.ids() if node_id != leader)
        cluster.stop(follower)
        small_writes(cluster, leader, arguments.snapshot_entries, "the leader to snapshot "
                     "past the stopped follower")
        time.sleep(SETTLE_S)

        def catch_up():
            cluster.start_node(follower)
            target = cluster.raft_info(leader)["raft_commit_index"]
            wait_until(lambda: cluster.raft_info(follower)["raft_applied_index"] >= target,
                       timeout_s=CATCH_UP_TIMEOUT_S, what="the follower to catch up")
            installed = cluster.raft_info(follower)["raft_snapshots_installed"]
            return "%d snapshot installed" % installed

        rows.append(measure(cluster, leader, follower, "a follower catches up by snapshot",
                            catch_up))
        time.sleep(SETTLE_S)
        leader = cluster.wait_for_leader()

        def own_snapshot():
            small_writes(cluster, leader, arguments.snapshot_entries,
                         "every node to take its own snapshot")
            return "every node snapshots its %.1f GiB database" % (count / 1024)

        rows.append(measure(cluster, leader, None, "the nodes take their own snapshots",
                            own_snapshot))
        print()
        print("| window | took | what happened | SETs | p50 / p99 / max (ms) | errors | "
              "longest loop stall per node (ms) | election |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            print(row)
    finally:
        cluster.close()
        if arguments.keep:
            print("kept %s" % cluster.root)
        else:
            cluster.remove_files()


if __name__ == "__main__":
    main()
