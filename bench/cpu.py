#!/usr/bin/python3
"""CPU per operation of every process, raftkv beside Redis, under one redis-benchmark load.

What it is: the floor that bench/RESULTS.md sets beside issue 16's targets. For each workload
given (redis-benchmark's own arguments, e.g. `-t set -c 50`), it starts a fresh 3-node raftkv
cluster and one Redis with `appendfsync always`, runs the load against raftkv's leader and
then against Redis for --seconds each, and reads from /proc how much CPU each process (each
node, the server, redis-benchmark) used in the middle of the run, and from /proc/PID/io's
syscall counters how many read and write system calls each made. It prints one markdown row
per process: operations per second, CPU % of one core, CPU microseconds and syscalls per
operation, and the fsyncs per second the nodes' INFO reports. Two CPUs bound what the whole
machine can do: the sum of every process's CPU per operation is the time the machine needs per
operation, so 2 s / that sum is the throughput the CPUs allow.

Failure modes: a process that does not come up, a cluster without a leader or a run that
overruns raises BenchError naming the step; everything started here is stopped and its
temporary directories removed, and the children die with this script (PDEATHSIG).

Usage: bench/cpu.py [--seconds S] [--binary PATH] -- ARGS [-- ARGS ...]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import compare
from compare import BenchError, RaftkvCluster, RedisServer

WARM_UP_S = 1.5
KEYSPACE = 100000


def syscalls(pid):
    counts = {}
    with open("/proc/%d/io" % pid) as io:
        for line in io:
            name, value = line.split(":")
            counts[name] = int(value)
    return counts["syscr"] + counts["syscw"]


def commands(port):
    return int(compare.info_fields(port, "stats")["total_commands_processed"])


def fsyncs(port):
    return int(compare.info_fields(port, "raft").get("raft_fsyncs", 0) or 0)


def measure(name, port, pids, args, seconds, fsync_ports):
    """Loads port with redis-benchmark ARGS; returns rows (process, ops/s, cpu%, us/op,
    syscalls/op) and the fsyncs per second of fsync_ports."""
    argv = ["redis-benchmark", "-h", compare.LOOPBACK, "-p", str(port), "-r", str(KEYSPACE),
            "-n", "100000000"] + args
    bench = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=compare._die_with_parent)
    try:
        time.sleep(WARM_UP_S)
        if bench.poll() is not None:
            raise BenchError("redis-benchmark %s ended early (status %s)" % (
                " ".join(args), bench.returncode))
        watched = dict(pids, **{"redis-benchmark": bench.pid})
        cpu_before = {label: compare.cpu_seconds(pid) for label, pid in watched.items()}
        calls_before = {label: syscalls(pid) for label, pid in watched.items()}
        fsyncs_before = {p: fsyncs(p) for p in fsync_ports}
        commands_before, started = commands(port), time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        done = commands(port) - commands_before
        cpu = {label: compare.cpu_seconds(pid) - cpu_before[label] for label, pid in watched.items()}
        calls = {label: syscalls(pid) - calls_before[label] for label, pid in watched.items()}
        fsync_rates = [(fsyncs(p) - fsyncs_before[p]) / elapsed for p in fsync_ports]
    finally:
        bench.kill()
        bench.wait()
    done = max(done, 1)
    rows = [(label, done / elapsed, 100 * cpu[label] / elapsed, 1e6 * cpu[label] / done,
             calls[label] / done) for label in watched]
    return "%s: %.0f ops/s" % (name, done / elapsed), rows, fsync_rates


def print_table(title, rows, fsync_rates):
    print("**%s**" % title)
    print("")
    print("| process | CPU % of a core | CPU µs per op | read+write syscalls per op |")
    print("|---|---:|---:|---:|")
    for label, _rate, percent, per_op, calls in rows:
        print("| %s | %.0f | %.1f | %.2f |" % (label, percent, per_op, calls))
    total = sum(row[3] for row in rows)
    print("| all | | %.1f | |" % total)
    print("")
    print("Two CPUs allow at most %.0f ops/s at this CPU per op." % (2e6 / total))
    if fsync_rates:
        print("fsyncs per second, node by node: %s." % ", ".join("%.0f" % r for r in fsync_rates))
    print("")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--binary", default=compare.DEFAULT_BINARY)
    parser.add_argument("workloads", nargs="+", help="redis-benchmark arguments, each workload "
                        "after a --, e.g. -- -t set -c 50 -- -t get -c 50")
    options = parser.parse_args(argv)
    workloads = [w.split() for w in " ".join(options.workloads).split(" -- ") if w.strip()]
    root = tempfile.mkdtemp(prefix="raftkv-cpu-")
    cluster = RaftkvCluster(options.binary, root)
    redis = RedisServer(root)
    try:
        cluster.start()
        redis.start()
        print("- command: `bench/cpu.py --seconds %g -- %s`" % (
            options.seconds, " -- ".join(" ".join(w) for w in workloads)))
        print("- date: %s UTC, git commit %s, load averages before: %s" % (
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), compare.git_description(),
            compare.load_averages()))
        print("")
        for args in workloads:
            leader = cluster.find_leader()
            pids = {"raftkv node %d%s" % (n, " (leader)" if n == leader else ""): p.pid
                    for n, p in sorted(cluster.processes.items())}
            title, rows, rates = measure("raftkv `%s`" % " ".join(args),
                                         cluster.client_ports[leader], pids, args,
                                         options.seconds, list(cluster.client_ports.values()))
            print_table(title, rows, rates)
            title, rows, _ = measure("redis `%s`" % " ".join(args), redis.port,
                                     {"redis-server": redis.process.pid}, args,
                                     options.seconds, [])
            print_table(title, rows, [])
            sys.stdout.flush()
    finally:
        cluster.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
