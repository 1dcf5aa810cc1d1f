#!/usr/bin/env bash
# Profiles raftkv's write path: where a 3-node cluster's leader spends its time under
# redis-benchmark SET -c 50, or -c CLIENTS (bench/RESULTS.md quotes its output).
#
# Happy path: start a fresh cluster with bench/compare.py's helpers (free ports, temporary data
# directories), load the leader with SET -c 50 -r 100000, and over five measured windows of
# SECONDS each (default 5): (1) counters only — commits/s, fsyncs/s, entries per fsync, CPU
# per process and per leader thread; (2) `perf record --call-graph dwarf` on the leader; (3)
# the same on a follower; (4) `perf trace -s -e fdatasync` on all nodes (fsync latency, cheap);
# (5) `perf trace -s` of every syscall on all nodes (counts per write; its overhead slows the
# run, so read its counts, not its times). Then print perf report summaries. The perf files
# stay in OUT_DIR (printed) for a closer look.
#
# Failure modes: a missing binary or perf, a cluster that elects no leader, a perf step that
# fails (reported, the others still run). The cluster and the load always stop and the data
# directories are removed; the children die with this script even on kill -9 (PDEATHSIG).
#
# Usage: bench/profile.sh [SECONDS] [OUT_DIR] [CLIENTS]   (default 5, a new temporary directory,
# 50; build/src/server/raftkv must exist: make bench builds it)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
out_dir=${2:-$(mktemp -d /tmp/raftkv-profile-XXXXXX)}
clients=${3:-50}
mkdir -p "$out_dir"
command -v perf >/dev/null || { echo "profile.sh: perf is not installed" >&2; exit 1; }
if [ ! -x build/src/server/raftkv ]; then
  echo "profile.sh: build raftkv first (make bench)" >&2
  exit 1
fi
echo "profile.sh: perf files in $out_dir" >&2
PYTHONPATH=bench exec /usr/bin/python3 - "$seconds" "$out_dir" "$clients" <<'PYTHON'
import os, shutil, subprocess, sys, tempfile, time
import compare

SECONDS, OUT_DIR, CLIENTS = float(sys.argv[1]), sys.argv[2], sys.argv[3]
WARM_UP_S = 2.0
TRACE_MIN_EVENTS = 2000
cpu_seconds = compare.cpu_seconds


def thread_cpu(pid):
    threads = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as comm:
            name = comm.read().strip()
        threads["%s/%s" % (name, tid)] = cpu_seconds(pid, tid)
    return threads


def counters(cluster, leader, load):
    info = cluster.raft_info(leader)
    stats = compare.info_fields(cluster.client_ports[leader], "stats")
    return {"time": time.monotonic(), "fsyncs": int(info["raft_fsyncs"]),
            "fsync_entries": int(info["raft_fsync_entries"]),
            "commits": int(stats["writes_committed"]),
            "cpu": {i: cpu_seconds(p.pid) for i, p in cluster.processes.items()},
            "bench_cpu": cpu_seconds(load.pid), "threads": thread_cpu(
                cluster.processes[leader].pid)}


def print_window(name, before, after, leader):
    wall = after["time"] - before["time"]
    fsyncs = after["fsyncs"] - before["fsyncs"]
    entries = after["fsync_entries"] - before["fsync_entries"]
    commits = after["commits"] - before["commits"]
    print("window %s: %.1f s, %.0f writes committed/s, %.0f leader fsyncs/s, %.1f entries per "
          "fsync" % (name, wall, commits / wall, fsyncs / wall, entries / max(fsyncs, 1)))
    for node, cpu in sorted(after["cpu"].items()):
        role = "leader" if node == leader else "follower"
        print("  CPU node %d (%s): %.0f%%" % (node, role, 100 * (cpu - before["cpu"][node]) / wall))
    bench_cpu = after["bench_cpu"] - before["bench_cpu"]
    print("  CPU redis-benchmark: %.0f%%" % (100 * bench_cpu / wall))
    for thread, cpu in sorted(after["threads"].items()):
        used = cpu - before["threads"].get(thread, 0.0)
        if used > 0:
            print("  CPU leader thread %s: %.0f%%" % (thread, 100 * used / wall))


def run_tool(argv, log_name):
    with open(os.path.join(OUT_DIR, log_name), "w") as log:
        status = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        compare.log("profile.sh: %s exited with %d (see %s)" % (argv[0:2], status, log_name))


def report(argv, limit_lines, user_only=False):
    result = subprocess.run(argv, capture_output=True, text=True)
    lines = [l for l in result.stdout.splitlines() if l.strip() and not l.startswith("#")]
    if user_only:
        lines = [l for l in lines if "[.]" in l and "0x0000" not in l]
    print("\n".join(lines[:limit_lines]))


root = tempfile.mkdtemp(prefix="raftkv-profile-data-")
cluster = compare.RaftkvCluster(compare.DEFAULT_BINARY, root)
load = None
try:
    cluster.start()
    leader = cluster.find_leader()
    pids = ",".join(str(p.pid) for p in cluster.processes.values())
    load = compare.spawn(["redis-benchmark", "-p", str(cluster.client_ports[leader]), "-t", "set",
                          "-c", CLIENTS, "-n", "100000000", "-r", "100000", "-q"],
                         os.path.join(OUT_DIR, "redis-benchmark.log"))
    print("load: redis-benchmark -t set -c %s -r 100000 against leader node %d; load averages "
          "%s" % (CLIENTS, leader, compare.load_averages()))
    time.sleep(WARM_UP_S)
    leader_pid = cluster.processes[leader].pid
    follower = min(i for i in cluster.processes if i != leader)
    follower_pid = cluster.processes[follower].pid

    def record(pid, name):
        return ["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o",
                os.path.join(OUT_DIR, name), "-p", str(pid), "--", "sleep", str(SECONDS)]

    def trace(name, *filters):
        return ["perf", "trace", "-s", *filters, "-o", os.path.join(OUT_DIR, name), "-p", pids,
                "--", "sleep", str(SECONDS)]

    windows = [("1 counters only", ["sleep", str(SECONDS)], "sleep.log"),
               ("2 perf record on the leader", record(leader_pid, "perf-leader.data"),
                "perf-record-leader.log"),
               ("3 perf record on follower node %d" % follower,
                record(follower_pid, "perf-follower.data"), "perf-record-follower.log"),
               ("4 perf trace -s -e fdatasync on all nodes",
                trace("trace-fdatasync.txt", "-e", "fdatasync"), "perf-trace-fdatasync.log"),
               ("5 perf trace -s (every syscall) on all nodes", trace("trace.txt"),
                "perf-trace.log")]
    for name, argv, log_name in windows:
        before = counters(cluster, leader, load)
        run_tool(argv, log_name)
        print_window(name, before, counters(cluster, leader, load), leader)
    print("load averages after: %s" % compare.load_averages())
    print("node pids: %s (leader node %d = pid %d)" % (
        {i: p.pid for i, p in cluster.processes.items()}, leader, cluster.processes[leader].pid))
finally:
    compare.stop_process(load)
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)

for role, name in (("leader", "perf-leader.data"), ("follower", "perf-follower.data")):
    data = os.path.join(OUT_DIR, name)
    print("\n## %s, self time by symbol (perf report --no-children)" % role)
    report(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,symbol",
            "--percent-limit", "1", "-g", "none"], 40)
    print("\n## %s, time including callees, raftkv's own functions (perf report --children)"
          % role)
    report(["perf", "report", "-i", data, "--stdio", "--children", "--sort", "symbol",
            "--percent-limit", "1.5", "-g", "none"], 200, user_only=True)
    print("\n## %s, samples per thread id" % role)
    threads = subprocess.run(["perf", "script", "-i", data, "-F", "tid"], capture_output=True,
                             text=True).stdout.split()
    for tid in sorted(set(threads), key=threads.count, reverse=True):
        print("  tid %s: %d samples" % (tid, threads.count(tid)))
print("\n## fdatasync of all nodes (perf trace -s -e fdatasync)")
with open(os.path.join(OUT_DIR, "trace-fdatasync.txt"), errors="replace") as trace_file:
    print(trace_file.read().strip())
print("\n## every syscall of all nodes, threads with over %d events (perf trace -s)"
      % TRACE_MIN_EVENTS)
with open(os.path.join(OUT_DIR, "trace.txt"), errors="replace") as trace_file:
    for block in trace_file.read().split("\n\n\n"):
        header = block.strip().splitlines()[0] if block.strip() else ""
        if " events, " in header and int(header.split(",")[1].split()[0]) > TRACE_MIN_EVENTS:
            print(block.strip() + "\n")
PYTHON
