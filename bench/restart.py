#!/usr/bin/python3
"""How long a node with a large data set takes to serve again after a restart, beside Redis.

What it is: `make bench-restart` loads --keys keys with --value-bytes values (default 10 M keys
of 100 bytes) into a fresh 3-node raftkv cluster through MSET (one entry per --batch keys),
then restarts one follower three ways and times each, from the moment its process starts:
  clean    SIGTERM, then start (the database was closed cleanly);
  kill -9  SIGKILL, then start (the machine did not restart: the database is kept);
  reboot   SIGKILL, the boot id in kv-running-boot overwritten as a reboot would leave it,
           then start (the database is rebuilt from the snapshot and the log).
For each: when the node answers PING, and when it serves a linearizable follower read of the
last key written (READONLY; the follower asks the leader for a read index and waits until it
has applied that far). It also reports each node's resident memory and disk use, and the same
data set in one Redis with appendfsync always: its RSS, its AOF's size, and its own restart
time (until PING answers, which for Redis means the AOF is loaded). Markdown on stdout.

Failure modes: a step that overruns its bound names itself (BenchError) and the node's log
tail; every process is stopped and every temporary directory removed unless --keep.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

import compare
from compare import BenchError, RaftkvCluster, RedisServer, resp_command

LOAD_TIMEOUT_S = 3600.0
SERVE_TIMEOUT_S = 600.0
POLL_S = 0.02


LOAD_WINDOW = 16  # MSETs in flight on the loading connection


def load(port_function, keys, value_bytes, batch):
    """MSETs of `batch` keys, LOAD_WINDOW in flight on one connection to port_function()'s
    node; a refused or unknown one (MOVED, CLUSTERDOWN, TRYAGAIN, UNCERTAIN, a lost
    connection) is sent again to the node port_function() names then (MSET is idempotent).
    Returns (seconds, resent)."""
    began = time.monotonic()
    chunks = list(range(0, keys, batch))
    value = b"v" * value_bytes
    resent = 0
    pending = list(chunks)
    deadline = began + LOAD_TIMEOUT_S
    while pending:
        if time.monotonic() > deadline:
            raise BenchError("the load did not finish within %.0f s" % LOAD_TIMEOUT_S)
        failed = []
        try:
            connection = compare.RespConnection(port_function(), timeout_s=120.0)
        except (OSError, BenchError):
            time.sleep(0.5)
            continue
        try:
            in_flight = []
            queue = list(pending)
            while queue or in_flight:
                while queue and len(in_flight) < LOAD_WINDOW:
                    start = queue.pop(0)
                    args = [b"MSET"]
                    for i in range(start, min(keys, start + batch)):
                        args += [b"key:%d" % i, value]
                    connection.sock.sendall(compare.resp_encode(args))
                    in_flight.append(start)
                start = in_flight.pop(0)
                try:
                    connection.read_reply()
                except compare.RespError:
                    failed.append(start)
        except OSError:
            failed += in_flight + queue
        finally:
            connection.close()
        resent += len(failed)
        pending = failed
        if failed:
            time.sleep(0.5)
    return time.monotonic() - began, resent


def directory_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def follower_read(port, key):
    connection = compare.RespConnection(port, timeout_s=2.0)
    try:
        connection.command("READONLY")
        return connection.command("GET", key)
    finally:
        connection.close()


def time_restart(cluster, node_id, how, last_key, expected):
    port = cluster.client_ports[node_id]
    process = cluster.processes[node_id]
    if how == "clean":
        compare.stop_process(process)
    else:
        cluster.kill_node(node_id)
    if how == "reboot":
        with open(os.path.join(cluster.root_dir, "node-%d" % node_id, "kv-running-boot"),
                  "w") as marker:
            marker.write("a-boot-before-a-power-loss")
    began = time.monotonic()
    cluster.processes[node_id] = compare.spawn(cluster.node_argv(node_id),
                                               cluster.log_path(node_id))
    answered = served = None
    deadline = began + SERVE_TIMEOUT_S
    while time.monotonic() < deadline and served is None:
        if cluster.processes[node_id].poll() is not None:
            raise BenchError("node %d exited during its %s restart:\n%s" % (
                node_id, how, compare.log_tail(cluster.log_path(node_id))))
        try:
            if answered is None and resp_command(port, "PING") == "PONG":
                answered = time.monotonic() - began
            if answered is not None and follower_read(port, last_key) == expected:
                served = time.monotonic() - began
        except (OSError, compare.RespError, BenchError):
            pass
        time.sleep(POLL_S)
    if served is None:
        raise BenchError("node %d did not serve within %.0f s of its %s restart:\n%s" % (
            node_id, SERVE_TIMEOUT_S, how, compare.log_tail(cluster.log_path(node_id))))
    return answered, served


def redis_restart(redis):
    """Seconds from starting redis-server again until PING answers (its AOF is loaded)."""
    compare.stop_process(redis.process)
    began = time.monotonic()
    redis.process = compare.spawn(redis.argv, redis.log_path())
    compare.wait_until(lambda: redis.process.poll() is None and
                       resp_command(redis.port, "PING") == "PONG", SERVE_TIMEOUT_S,
                       "redis-server to load its AOF and answer PING")
    return time.monotonic() - began


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=compare.DEFAULT_BINARY)
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200, help="keys per MSET")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args(argv)


def main(argv):
    options = parse_arguments(argv)
    root = tempfile.mkdtemp(prefix="raftkv-bench-restart-", dir=os.environ.get("TMPDIR"))
    cluster = RaftkvCluster(options.binary, root)
    redis = None
    lines = ["# restart with %d keys of %d bytes" % (options.keys, options.value_bytes), ""]
    lines += ["command: `%s`" % " ".join(["bench/restart.py"] + argv)]
    lines += compare.machine_lines(root)
    try:
        cluster.start()
        leader = cluster.find_leader()
        seconds, resent = load(lambda: cluster.client_ports[cluster.find_leader()],
                               options.keys, options.value_bytes, options.batch)
        last_key = "key:%d" % (options.keys - 1)
        expected = b"v" * options.value_bytes
        lines += ["", "raftkv load: %.1f s (%.0f keys/s through MSET of %d, %d in flight; "
                  "%d MSETs sent again after a refusal)" % (
                      seconds, options.keys / seconds, options.batch, LOAD_WINDOW, resent), ""]
        lines += ["| node | RSS MiB | data dir MiB |", "|---|---|---|"]
        for node_id in sorted(cluster.processes):
            lines.append("| %d | %.0f | %.0f |" % (
                node_id, compare.memory_kib(cluster.processes[node_id].pid)["VmRSS"] / 1024,
                directory_bytes(os.path.join(root, "node-%d" % node_id)) / 2**20))
        follower = next(i for i in sorted(cluster.processes) if i != leader)
        lines += ["", "| restart of follower %d | answers PING (s) | serves a linearizable "
                  "read (s) |" % follower, "|---|---|---|"]
        for how in ("clean", "kill -9", "reboot"):
            answered, served = time_restart(cluster, follower, how.split()[0], last_key,
                                            expected)
            lines.append("| %s | %.2f | %.2f |" % (how, answered, served))
            cluster.find_leader()
        print("\n".join(lines), flush=True)  # what raftkv measured, whatever Redis does next
        lines = []
        if not options.no_redis:
            redis = RedisServer(root)
            redis.start()
            seconds, _ = load(lambda: redis.port, options.keys, options.value_bytes,
                              options.batch)
            aof = directory_bytes(redis.root_dir)
            lines += ["", "Redis (appendfsync always) load: %.1f s; RSS %.0f MiB; AOF dir "
                      "%.0f MiB; restart until PING answers (AOF loaded): %.2f s" % (
                          seconds, compare.memory_kib(redis.process.pid)["VmRSS"] / 1024, aof / 2**20,
                          redis_restart(redis))]
    finally:
        cluster.stop()
        if redis is not None and redis.process is not None:
            redis.stop()
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main(sys.argv[1:])
