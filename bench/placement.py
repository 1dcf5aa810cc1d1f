#!/usr/bin/python3
"""Where the GET -c 50 bimodality comes from: CPU placement on a machine that holds the whole
cluster and the client.

What it is: `make bench-placement` starts a fresh 3-node cluster, loads 100 k keys, and runs
redis-benchmark GET -c 50 against the leader under three placements, printing the throughput
of every second of each run (thousands of GETs per second) and their median:
  free       nothing pinned: the scheduler places the 3 nodes and the client on the CPUs;
  split      the leader alone on CPU 0 with redis-benchmark on CPU 1, the followers on either;
  crowded    the leader on CPU 0, redis-benchmark and both followers on CPU 1.
A linearizable read on the leader waits for one heartbeat round (ReadIndex), so every batch
of reads needs a follower to run; on two CPUs that follower takes the CPU of the leader or of
the client, and the two differ by almost 2x. `free` flips between the other two every second
or so, which is the bimodality bench/compare.py records. Redis has no follower to place.

Failure modes: a step that overruns its bound raises BenchError naming it; the cluster stops,
its temporary directories go, and the children die with this script (PDEATHSIG). Needs 2
CPUs or more.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

import compare
from compare import BenchError, RaftkvCluster

PLACEMENTS = ("free", "split", "crowded")
KEYSPACE = 100000
CLIENTS = 50
SAMPLE_EVERY = 4  # redis-benchmark prints its rate every 250 ms: one sample per second
RUN_TIMEOUT_S = 120.0


def pin(pid, cpus):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass  # a thread that ended meanwhile


def place(cluster, leader, placement, every_cpu):
    """Pins the nodes; returns the CPUs redis-benchmark runs on."""
    for node_id, process in cluster.processes.items():
        if placement == "free":
            cpus = every_cpu
        elif node_id == leader:
            cpus = {0}
        else:
            cpus = every_cpu if placement == "split" else {1}
        pin(process.pid, cpus)
    return every_cpu if placement == "free" else {1}


def per_second(port, requests, cpus):
    argv = ["taskset", "-c", ",".join(str(cpu) for cpu in sorted(cpus)), "redis-benchmark",
            "-h", compare.LOOPBACK, "-p", str(port), "-t", "get", "-c", str(CLIENTS),
            "-n", str(requests), "-r", str(KEYSPACE)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                                preexec_fn=compare._die_with_parent)
    except subprocess.TimeoutExpired:
        raise BenchError("redis-benchmark overran %.0f s" % RUN_TIMEOUT_S)
    rates = [float(rate) for rate in re.findall(r"rps=([0-9.]+)", result.stdout)]
    return [rate / 1000 for rate in rates[SAMPLE_EVERY::SAMPLE_EVERY]]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=compare.DEFAULT_BINARY)
    parser.add_argument("--requests", type=int, default=2000000,
                        help="GETs per placement (default %(default)s)")
    options = parser.parse_args(argv)
    every_cpu = os.sched_getaffinity(0)
    if not {0, 1} <= every_cpu:
        parser.error("needs CPUs 0 and 1")
    root = tempfile.mkdtemp(prefix="raftkv-placement-")
    cluster = RaftkvCluster(options.binary, root)
    try:
        cluster.start()
        leader = cluster.find_leader()
        port = cluster.client_ports[leader]
        subprocess.run(
            ["redis-benchmark", "-h", compare.LOOPBACK, "-p", str(port), "-t", "set", "-c",
             str(CLIENTS), "-n", str(KEYSPACE), "-r", str(KEYSPACE), "-q"],
            check=True, stdout=subprocess.DEVNULL, timeout=RUN_TIMEOUT_S)
        print("GET -c %d on the leader (node %d), thousands per second, one sample a second"
              % (CLIENTS, leader))
        print("")
        print("| placement | median | every second |")
        print("|---|---:|---|")
        for placement in PLACEMENTS:
            if cluster.find_leader() != leader:
                raise BenchError("the leader changed during the run")
            samples = per_second(port, options.requests, place(cluster, leader, placement,
                                                                every_cpu))
            median = statistics.median(samples) if samples else 0.0
            print("| %s | %.0f | %s |" % (placement, median,
                                          " ".join("%.0f" % sample for sample in samples)))
            sys.stdout.flush()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
