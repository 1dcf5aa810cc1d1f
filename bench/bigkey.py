#!/usr/bin/python3
"""The cost of one member update in a collection of a million members, side by side with Redis.

What it is: issue 12 asks for "the measured cost of an HSET/ZADD into a 1M-member key". This
script starts a fresh 3-node raftkv cluster and a Redis with `appendfsync always` (as
bench/compare.py does, whose helpers it uses), fills one hash and one sorted set with
--members members on each (pipelined HSET/ZADD of 1000 members per command), and then runs
redis-benchmark's arbitrary-command mode against each: HSET and ZADD of random members into the
big key, and the same into a key of 100 members, so the report shows what the size costs. It
prints a markdown table on stdout with the exact commands, the date, the machine and the commit.

Failure modes: as bench/compare.py — a process that does not come up or a run that overruns
ends the run with a message; every process started here is stopped and every temporary
directory removed whatever happens.
"""

import argparse
import datetime
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the shared helpers)

FILL_BATCH = 1000
RUN_TIMEOUT_S = 600


def fill(port, key, kind, members):
    """Pipelines HSET/ZADD of `members` members into key, FILL_BATCH per command."""
    connection = compare.RespConnection(port, 60)
    try:
        pending = 0
        for start in range(0, members, FILL_BATCH):
            args = ["HSET" if kind == "hash" else "ZADD", key]
            for i in range(start, min(start + FILL_BATCH, members)):
                args += ["field:%d" % i, "v"] if kind == "hash" else [str(i), "member:%d" % i]
            connection.sock.sendall(compare.resp_encode(args))
            pending += 1
            if pending == 64:
                for _ in range(pending):
                    connection.read_reply()
                pending = 0
        for _ in range(pending):
            connection.read_reply()
    finally:
        connection.close()


def run(port, clients, requests, command):
    argv = ["redis-benchmark", "-h", compare.LOOPBACK, "-p", str(port), "-c", str(clients),
            "-n", str(requests), "-r", "1000000", "--csv"] + command
    result = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    rows = [line for line in result.stdout.splitlines() if line.startswith('"')]
    if result.returncode != 0 or len(rows) < 2:
        raise compare.BenchError("redis-benchmark failed: %s\n%s%s" % (
            shlex.join(argv), result.stdout[-2000:], result.stderr[-2000:]))
    header = [field.strip('"') for field in rows[0].split(",")]
    values = dict(zip(header, [field.strip('"') for field in rows[1].split(",")]))
    return float(values["rps"]), float(values["p50_latency_ms"]), shlex.join(argv)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=compare.DEFAULT_BINARY)
    parser.add_argument("--members", type=int, default=1000000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=50)
    options = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="raftkv-bigkey-")
    cluster = compare.RaftkvCluster(options.binary, root)
    redis = compare.RedisServer(root)
    rows = []
    try:
        cluster.start()
        redis.start()
        leader = cluster.client_ports[cluster.find_leader()]
        targets = [("raftkv", leader), ("redis", redis.port)]
        for name, port in targets:
            started = time.monotonic()
            fill(port, "big:hash", "hash", options.members)
            fill(port, "big:zset", "zset", options.members)
            fill(port, "small:hash", "hash", 100)
            fill(port, "small:zset", "zset", 100)
            compare.log("%s: filled in %.1f s" % (name, time.monotonic() - started))
        workloads = [
            ("HSET into %d fields" % options.members, ["HSET", "big:hash", "field:__rand_int__", "w"]),
            ("HSET into 100 fields", ["HSET", "small:hash", "field:__rand_int__", "w"]),
            ("ZADD into %d members" % options.members,
             ["ZADD", "big:zset", "__rand_int__", "member:__rand_int__"]),
            ("ZADD into 100 members", ["ZADD", "small:zset", "__rand_int__", "member:__rand_int__"]),
            ("ZSCORE in %d members" % options.members, ["ZSCORE", "big:zset", "member:__rand_int__"]),
        ]
        for label, command in workloads:
            measured = {}
            for name, port in targets:
                measured[name] = run(port, options.clients, options.requests, command)
                compare.log("%s %s: %.0f ops/s" % (name, label, measured[name][0]))
            rows.append((label, measured))
    finally:
        cluster.stop()
        redis.stop()
        subprocess.run(["rm", "-rf", root])
    print("### Member updates in a %d-member key (%s)" % (options.members,
                                                         datetime.date.today().isoformat()))
    print()
    print("| workload (-c %d, -n %d) | raftkv ops/s | raftkv p50 ms | Redis ops/s | Redis p50 ms "
          "| raftkv / Redis |" % (options.clients, options.requests))
    print("|---|---|---|---|---|---|")
    for label, measured in rows:
        raftkv, redis_result = measured["raftkv"], measured["redis"]
        print("| %s | %.0f | %.3f | %.0f | %.3f | %.2f |" % (
            label, raftkv[0], raftkv[1], redis_result[0], redis_result[1],
            raftkv[0] / redis_result[0]))
    print()
    print("Commands: `%s` (raftkv's leader and Redis with appendfsync always, the same command);"
          % rows[0][1]["raftkv"][2])
    print("commit %s; %s" % (compare.git_description(), compare.cpu_model()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
