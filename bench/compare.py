#!/usr/bin/python3
"""Side-by-side throughput and latency of raftkv against Redis, with redis-benchmark.

What it is: one command (`make bench`) that starts a fresh 3-node raftkv cluster and a single
Redis with `appendfsync always` (every acknowledged write fsynced, the closest Redis comes to
raftkv's promise), both on loopback with their own free ports and temporary data directories.
It runs the same redis-benchmark workloads against raftkv's leader and against Redis,
alternating A B A B so that drift on a shared machine hits both alike, and prints one markdown
report on stdout: the median ops/s of each system per workload and their ratio, p50/p99 at one
client, the resident memory of every process afterwards, the elections that happened during
the run, and the exact command, date, machine, load averages and git commit.

Happy path: start, find the leader (INFO raft: raft_role), size each workload's request count
from a short pilot run so that each measured run takes about --seconds, measure, report, stop.

Failure modes: a process that does not come up, a cluster that elects no leader, or a
redis-benchmark run that overruns its bound ends the run with a message naming the step (and
the tail of the node logs). A leader change during a run is reported on that row, and the
leader is found again before the next run. Replies that are errors (MOVED, CLUSTERDOWN,
timeouts) are counted per row; a row with errors is flagged. Whatever happens, every process
started here is stopped and every temporary directory removed (unless --keep); the children
also die with this script if it is killed, through PR_SET_PDEATHSIG.

The process and RESP helpers at the top are shared with bench/failover.py, which imports them.
"""

import argparse
import collections
import ctypes
import datetime
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BINARY = os.path.join(REPO_ROOT, "build", "src", "server", "raftkv")
NODE_COUNT = 3
LOOPBACK = "127.0.0.1"
# Ports a user's `make run` holds (clients 6379-6381, peers 7379-7381); never used here.
RESERVED_PORTS = set(range(6379, 6382)) | set(range(7379, 7382))
START_TIMEOUT_S = 15.0
LEADER_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
INFO_TIMEOUT_S = 2.0
POLL_INTERVAL_S = 0.05
KEYSPACE_SIZE = 100000
DEFAULT_ROUNDS = 3
DEFAULT_SECONDS_PER_RUN = 3.5
# A measured run is sized from a pilot; these bound its request count whatever the pilot said.
MIN_REQUESTS = 1000
MAX_REQUESTS = 5000000
# A run that takes more than this many times its target is killed and reported as failed.
RUN_TIMEOUT_FACTOR = 6.0
MIN_RUN_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 20
PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A step of the benchmark failed; the message names the step."""


class RespError(Exception):
    """The server answered with a RESP error (-MOVED, -CLUSTERDOWN, -ERR ...)."""


# ---------------------------------------------------------------------------------------------
# A minimal RESP client: enough for SET, INFO and INCR, with a timeout on every operation.


def resp_encode(args):
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class RespConnection:
    """One TCP connection to a RESP server. Raises OSError on I/O failure or timeout and
    RespError on an error reply. The caller owns it and closes it."""

    def __init__(self, port, timeout_s, host=LOOPBACK):
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def close(self):
        self.sock.close()

    def _read_line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _read_exact(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_reply(self):
        line = self._read_line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            return self._read_exact(length + 2)[:-2]
        if kind == b"*":
            return [self.read_reply() for _ in range(max(int(rest), 0))]
        raise ConnectionError("unexpected reply type %r" % line[:20])

    def command(self, *args):
        self.sock.sendall(resp_encode(args))
        return self.read_reply()


def resp_command(port, *args, timeout_s=INFO_TIMEOUT_S):
    """Runs one command on a fresh connection and returns its reply."""
    connection = RespConnection(port, timeout_s)
    try:
        return connection.command(*args)
    finally:
        connection.close()


def info_fields(port, section):
    """INFO <section> as a dict of strings."""
    text = resp_command(port, "INFO", section)
    fields = {}
    for line in text.decode(errors="replace").splitlines():
        if ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            fields[key] = value
    return fields


# ---------------------------------------------------------------------------------------------
# Processes: free ports, children that die with us, RSS.


def free_ports(count):
    """Ports the kernel says are free now (kept bound until all are chosen, so they differ)."""
    sockets = []
    ports = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
            port = sock.getsockname()[1]
            if port not in RESERVED_PORTS:
                ports.append(port)
    finally:
        for sock in sockets:
            sock.close()
    return ports


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv, log_path):
    """Starts a child whose stdout and stderr go to log_path; it is killed if we die."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def stop_process(process, timeout_s=STOP_TIMEOUT_S):
    """SIGTERM, then SIGKILL after timeout_s; safe on a process that already exited."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


MEMORY_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def cpu_seconds(pid, tid=None):
    """User + system CPU seconds of process pid (or of its thread tid) so far."""
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%s/stat" % (pid, tid)
    with open(path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid):
    """{VmRSS, VmHWM, RssAnon, RssFile} of a live process in KiB, or None if it is gone.
    RssFile counts pages of mapped files (LMDB's database is one) that this process touched."""
    values = {}
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in MEMORY_FIELDS:
                    values[key] = int(value.split()[0])
    except OSError:
        return None
    return values


def wait_until(predicate, timeout_s, what):
    """Polls predicate() until it returns a true value, which is returned; BenchError after
    timeout_s. Exceptions from predicate count as 'not yet'."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, RespError, ValueError) as error:
            last_error = error
        time.sleep(POLL_INTERVAL_S)
    raise BenchError("timed out after %.1f s waiting for %s (last error: %s)"
                     % (timeout_s, what, last_error))


def log_tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError:
        return ""


class RaftkvCluster:
    """A 3-node raftkv cluster on loopback with fresh data directories under root_dir.
    It owns its processes; stop() ends them all. Node ids are 1..NODE_COUNT."""

    def __init__(self, binary, root_dir, extra_args=()):
        self.binary = binary
        self.root_dir = root_dir
        self.extra_args = list(extra_args)
        ports = free_ports(2 * NODE_COUNT)
        self.client_ports = {i + 1: ports[i] for i in range(NODE_COUNT)}
        self.peer_ports = {i + 1: ports[NODE_COUNT + i] for i in range(NODE_COUNT)}
        self.processes = {}

    def node_argv(self, node_id):
        argv = [self.binary, "--id", str(node_id),
                "--data-dir", os.path.join(self.root_dir, "node-%d" % node_id)]
        for member in sorted(self.client_ports):
            argv += ["--member", "%d=%s:%d,%s:%d" % (member, LOOPBACK, self.client_ports[member],
                                                     LOOPBACK, self.peer_ports[member])]
        return argv + self.extra_args

    def log_path(self, node_id):
        return os.path.join(self.root_dir, "node-%d.log" % node_id)

    def start_node(self, node_id):
        os.makedirs(os.path.join(self.root_dir, "node-%d" % node_id), exist_ok=True)
        self.processes[node_id] = spawn(self.node_argv(node_id), self.log_path(node_id))
        port = self.client_ports[node_id]
        wait_until(lambda: self._answers(node_id), START_TIMEOUT_S,
                   "raftkv node %d to answer PING on port %d" % (node_id, port))

    def _answers(self, node_id):
        if self.processes[node_id].poll() is not None:
            raise BenchError("raftkv node %d exited with status %s:\n%s" % (
                node_id, self.processes[node_id].returncode, log_tail(self.log_path(node_id))))
        return resp_command(self.client_ports[node_id], "PING") == "PONG"

    def start(self):
        for node_id in sorted(self.client_ports):
            self.start_node(node_id)

    def live_nodes(self):
        return [i for i, p in sorted(self.processes.items()) if p.poll() is None]

    def kill_node(self, node_id):
        """kill -9; returns once the process is reaped."""
        process = self.processes[node_id]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def raft_info(self, node_id):
        return info_fields(self.client_ports[node_id], "raft")

    def find_leader(self, timeout_s=LEADER_TIMEOUT_S):
        """The id of the leader that every live node agrees on."""
        return wait_until(self._agreed_leader, timeout_s, "the live raftkv nodes to agree "
                          "on one leader")

    def _agreed_leader(self):
        infos = {i: self.raft_info(i) for i in self.live_nodes()}
        leaders = [i for i, info in infos.items() if info.get("raft_role") == "leader"]
        if len(leaders) != 1:
            return None
        agreed = all(int(info.get("raft_leader_id", 0)) == leaders[0] for info in infos.values())
        return leaders[0] if agreed else None

    def election_counters(self):
        """{node: (raft_elections_started, raft_leader_changes, raft_term)} of live nodes."""
        counters = {}
        for node_id in self.live_nodes():
            info = self.raft_info(node_id)
            counters[node_id] = (int(info["raft_elections_started"]),
                                 int(info["raft_leader_changes"]), int(info["raft_term"]))
        return counters

    def stop(self):
        for process in self.processes.values():
            stop_process(process)

    def logs_tail(self):
        return "\n".join("--- node %d log ---\n%s" % (i, log_tail(self.log_path(i)))
                         for i in sorted(self.processes))


class RedisServer:
    """One redis-server that fsyncs every write (appendfsync always), no RDB snapshots."""

    def __init__(self, root_dir):
        self.root_dir = os.path.join(root_dir, "redis")
        self.port = free_ports(1)[0]
        self.process = None
        self.argv = ["redis-server", "--port", str(self.port), "--bind", LOOPBACK,
                     "--dir", self.root_dir, "--appendonly", "yes", "--appendfsync", "always",
                     "--save", "", "--daemonize", "no", "--protected-mode", "no"]

    def log_path(self):
        return os.path.join(self.root_dir, "redis.log")

    def start(self):
        os.makedirs(self.root_dir, exist_ok=True)
        self.process = spawn(self.argv, self.log_path())
        wait_until(lambda: self.process.poll() is None and
                   resp_command(self.port, "PING") == "PONG", START_TIMEOUT_S,
                   "redis-server to answer PING on port %d" % self.port)

    def stop(self):
        stop_process(self.process)


# ---------------------------------------------------------------------------------------------
# The machine and the run, for the report.


def command_output(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10,
                              cwd=REPO_ROOT).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def load_averages():
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def cpu_model():
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def git_description():
    commit = command_output(["git", "rev-parse", "--short=12", "HEAD"])
    dirty = command_output(["git", "status", "--porcelain", "--", "src"])
    return commit + (" (src/ has uncommitted changes)" if dirty else "")


def machine_lines(data_root):
    filesystem = command_output(["df", "--output=fstype", data_root]).splitlines()[-1:]
    return [
        "- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC"),
        "- machine: %d CPUs (nproc), %s, Linux %s" % (os.cpu_count(), cpu_model(),
                                                     platform.release()),
        "- data directories on: %s (%s)" % (data_root, " ".join(filesystem) or "?"),
        "- git commit: %s" % git_description(),
        "- redis-benchmark: %s" % command_output(["redis-benchmark", "--version"]),
        "- redis-server: %s" % command_output(["redis-server", "--version"]),
    ]


# ---------------------------------------------------------------------------------------------
# Workloads and redis-benchmark runs.

# One workload: a redis-benchmark test (-t) or a command of its own, clients, pipeline, the
# pilot's request count, whether the report shows p50/p99, the value size (-d), the key space
# (-r), whether raftkv's side is spread over every node (followers serve the reads: the
# cluster runs with --follower-reads yes), and a prefill (PREFILLS) both systems get first.
Workload = collections.namedtuple(
    "Workload", "label test clients pipeline pilot percentiles command data_bytes keyspace "
    "spread prefill", defaults=(None, 3, KEYSPACE_SIZE, False, None))
BIG_MEMBERS = 1000000  # the sorted set and the hash the data-model rows work in
WORKLOADS = [
    Workload("SET -c 50", "set", 50, 1, 5000, False),
    Workload("GET -c 50", "get", 50, 1, 5000, False),
    Workload("GET -c 50 over 3 nodes (follower reads)", "get", 50, 1, 5000, False,
             spread=True),
    Workload("SET -c 50 -P 16", "set", 50, 16, 40000, False),
    Workload("GET -c 50 -P 16", "get", 50, 16, 40000, False),
    Workload("SET -c 1", "set", 1, 1, 500, True),
    Workload("GET -c 1", "get", 1, 1, 500, True),
    Workload("INCR -c 50", "incr", 50, 1, 5000, False),
    Workload("MSET (10 keys) -c 50", "mset", 50, 1, 2000, False),
    Workload("SET 1 KB -c 50", "set", 50, 1, 2000, False, data_bytes=1024),
    Workload("GET 1 KB -c 50", "get", 50, 1, 2000, False, data_bytes=1024),
    Workload("SET 100 KB -c 10", "set", 10, 1, 200, False, data_bytes=102400, keyspace=1000),
    Workload("GET 100 KB -c 10", "get", 10, 1, 200, False, data_bytes=102400, keyspace=1000),
    Workload("SET 1 MB -c 4", "set", 4, 1, 20, False, data_bytes=1048576, keyspace=100),
    Workload("GET 1 MB -c 4", "get", 4, 1, 20, False, data_bytes=1048576, keyspace=100),
    Workload("ZADD into a 1 M-member key -c 50", None, 50, 1, 2000, False,
             command=("ZADD", "big", "__rand_int__", "m:__rand_int__"), keyspace=BIG_MEMBERS,
             prefill="zset"),
    Workload("ZRANGEBYSCORE window of 10 in it -c 50", None, 50, 1, 2000, False,
             command=("ZRANGEBYSCORE", "big", "__rand_int__", "+inf", "LIMIT", "0", "10"),
             keyspace=BIG_MEMBERS, prefill="zset"),
    Workload("HSET into a 1 M-field hash -c 50", None, 50, 1, 2000, False,
             command=("HSET", "bighash", "f:__rand_int__", "v"), keyspace=BIG_MEMBERS,
             prefill="hash"),
    Workload("HGET in it -c 50", None, 50, 1, 2000, False,
             command=("HGET", "bighash", "f:__rand_int__"), keyspace=BIG_MEMBERS,
             prefill="hash"),
]


def prefill_stream(kind, members=BIG_MEMBERS, batch=1000):
    """RESP commands that fill the sorted set `big` (score i, member m:i) or the hash
    `bighash` (field f:i), `batch` members per command."""
    for start in range(0, members, batch):
        args = [b"ZADD", b"big"] if kind == "zset" else [b"HSET", b"bighash"]
        for i in range(start, min(members, start + batch)):
            args += [b"%d" % i, b"m:%d" % i] if kind == "zset" else [b"f:%d" % i, b"v"]
        yield resp_encode(args)


def prefill(port, kind):
    """Loads a PREFILLS data set through redis-cli --pipe; BenchError if any command failed."""
    with tempfile.TemporaryFile() as output:  # a file: error replies must not block it
        pipe = subprocess.Popen(["redis-cli", "-h", LOOPBACK, "-p", str(port), "--pipe"],
                                stdin=subprocess.PIPE, stdout=output,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        for chunk in prefill_stream(kind):
            pipe.stdin.write(chunk)
        pipe.stdin.close()
        pipe.wait(timeout=600)
        output.seek(0)
        text = output.read().decode("utf-8", "replace")
    if "errors: 0" not in text:
        raise BenchError("prefill %s failed:\n%s" % (kind, text[-2000:]))


def benchmark_argv(port, workload, requests, clients=None):
    argv = ["redis-benchmark", "-h", LOOPBACK, "-p", str(port), "-c",
            str(clients or workload.clients), "-P", str(workload.pipeline), "-n", str(requests),
            "-r", str(workload.keyspace), "-d", str(workload.data_bytes), "--precision", "3",
            "--csv", "-e"]
    return argv + (["-t", workload.test] if workload.test else list(workload.command))


def _finish_benchmark(argv, result, seconds):
    rows = [line for line in result.stdout.splitlines() if line.startswith('"')]
    errors = sum(1 for line in result.stdout.splitlines() if line.startswith("Error"))
    if result.returncode != 0 or len(rows) < 2:
        raise BenchError("redis-benchmark failed (status %d): %s\n%s%s" % (
            result.returncode, shlex.join(argv), result.stdout[-2000:], result.stderr[-2000:]))
    header = [field.strip('"') for field in rows[0].split(",")]
    values = dict(zip(header, [field.strip('"') for field in rows[1].split(",")]))
    return {"rps": float(values["rps"]), "p50_ms": float(values["p50_latency_ms"]),
            "p99_ms": float(values["p99_latency_ms"]), "errors": errors, "seconds": seconds}


def run_benchmark(port, workload, requests, timeout_s):
    """One redis-benchmark run: {rps, p50_ms, p99_ms, errors, seconds}. BenchError if it fails
    or overruns timeout_s."""
    argv = benchmark_argv(port, workload, requests)
    started = time.monotonic()
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        raise BenchError("redis-benchmark overran %.0f s: %s" % (timeout_s, shlex.join(argv)))
    return _finish_benchmark(argv, result, time.monotonic() - started)


def run_spread(ports, workload, requests, timeout_s):
    """The workload's clients and requests split over one redis-benchmark per port, run at
    once; ops/s is the sum of theirs, p50/p99 their median."""
    share = len(ports)
    runs = []
    processes = []
    started = time.monotonic()
    for index, port in enumerate(ports):
        clients = workload.clients // share + (1 if index < workload.clients % share else 0)
        argv = benchmark_argv(port, workload, max(1, requests // share), clients)
        processes.append((argv, subprocess.Popen(argv, stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, text=True,
                                                 preexec_fn=_die_with_parent)))
    for argv, process in processes:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            for _, other in processes:
                other.kill()
            raise BenchError("redis-benchmark overran %.0f s: %s" % (timeout_s,
                                                                     shlex.join(argv)))
        runs.append(_finish_benchmark(argv, subprocess.CompletedProcess(
            argv, process.returncode, stdout, stderr), time.monotonic() - started))
    return {"rps": sum(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "seconds": max(r["seconds"] for r in runs)}


def sized_requests(pilot, seconds_per_run):
    requests = int(pilot["rps"] * seconds_per_run)
    return max(MIN_REQUESTS, min(MAX_REQUESTS, requests))


class Target:
    """A system under test: a name, how to find the port to load, how to check it is stable,
    and (raftkv) every node's port, for the workloads spread over them."""

    def __init__(self, name, port_function, leader_function=None, all_ports_function=None):
        self.name = name
        self.port_function = port_function
        self.leader_function = leader_function
        self.all_ports_function = all_ports_function
        self.prefilled = set()
        self.retries = 0  # runs repeated after a failure (see run)

    def run(self, workload, requests, timeout_s):
        if workload.prefill and workload.prefill not in self.prefilled:
            log("  prefill %s on %s" % (workload.prefill, self.name))
            prefill(self.port_function(), workload.prefill)
            self.prefilled.add(workload.prefill)
        try:
            return self._run_once(workload, requests, timeout_s)
        except BenchError as error:
            if self.leader_function is None:
                raise
            # redis-benchmark stops at the first error reply: a leader change (MOVED) on a
            # loaded machine ends the run. Once more against the leader there is now.
            log("  %s: %s; once more after finding the leader" % (self.name,
                                                                   str(error)[:200]))
            self.leader_function()
            self.retries += 1
            return self._run_once(workload, requests, timeout_s)

    def _run_once(self, workload, requests, timeout_s):
        if workload.spread and self.all_ports_function is not None:
            return run_spread(self.all_ports_function(), workload, requests, timeout_s)
        return run_benchmark(self.port_function(), workload, requests, timeout_s)


def measure_workload(workload, targets, options, notes):
    """Pilot per target, then options.rounds alternations A B A B. Returns {name: [runs]}."""
    runs = {target.name: [] for target in targets}
    sizes = {}
    for target in targets:
        pilot = target.run(workload, workload.pilot, MIN_RUN_TIMEOUT_S * 4)
        sizes[target.name] = sized_requests(pilot, options.seconds)
    timeout_s = max(MIN_RUN_TIMEOUT_S, options.seconds * RUN_TIMEOUT_FACTOR)
    for round_index in range(options.rounds):
        for target in targets:
            leader_before = target.leader_function() if target.leader_function else None
            run = target.run(workload, sizes[target.name], timeout_s)
            run["requests"] = sizes[target.name]
            runs[target.name].append(run)
            log("  %-22s %-7s round %d: %10.0f ops/s  p50 %.3f ms  p99 %.3f ms  (%.1f s)%s" % (
                workload.label, target.name, round_index + 1, run["rps"], run["p50_ms"],
                run["p99_ms"], run["seconds"],
                "  %d errors" % run["errors"] if run["errors"] else ""))
            if target.leader_function and target.leader_function() != leader_before:
                notes.append("%s: raftkv's leader changed during round %d" % (
                    workload.label, round_index + 1))
    return runs


def log(text):
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The report.


def format_ratio(numerator, denominator):
    return "%.2f" % (numerator / denominator) if denominator else "-"


def results_table(results, names):
    """The main table: medians and ratio per workload; p50/p99 where the workload asks."""
    first, second = names
    lines = ["| workload | %s ops/s (median) | %s ops/s (median) | %s/%s | %s p50 / p99 ms "
             "| %s p50 / p99 ms | errors |" % (first, second, first, second, first, second),
             "|---|---:|---:|---:|---:|---:|---:|"]
    for workload in WORKLOADS:
        label, percentiles = workload.label, workload.percentiles
        if label not in results:
            continue
        runs = results[label]
        medians = {n: statistics.median(r["rps"] for r in runs[n]) for n in names}
        latency = {}
        for name in names:
            if percentiles:
                latency[name] = "%.3f / %.3f" % (
                    statistics.median(r["p50_ms"] for r in runs[name]),
                    statistics.median(r["p99_ms"] for r in runs[name]))
            else:
                latency[name] = ""
        errors = sum(r["errors"] for name in names for r in runs[name])
        lines.append("| %s | %.0f | %.0f | %s | %s | %s | %d |" % (
            label, medians[first], medians[second], format_ratio(medians[first],
                                                                  medians[second]),
            latency[first], latency[second], errors))
    return lines


def runs_table(results, names):
    """Every measured run, in the order run, so the spread is visible."""
    lines = ["| workload | system | -n | ops/s of each run | p50 ms of each run | "
             "p99 ms of each run |", "|---|---|---:|---|---|---|"]
    for workload in WORKLOADS:
        label = workload.label
        if label not in results:
            continue
        for name in names:
            runs = results[label][name]
            lines.append("| %s | %s | %d | %s | %s | %s |" % (
                label, name, runs[0]["requests"], " ".join("%.0f" % r["rps"] for r in runs),
                " ".join("%.3f" % r["p50_ms"] for r in runs),
                " ".join("%.3f" % r["p99_ms"] for r in runs)))
    return lines


def memory_lines(cluster, redis):
    lines = ["| process | pid | VmRSS MiB | of which anonymous | of which mapped files | "
             "VmHWM (peak) MiB |", "|---|---:|---:|---:|---:|---:|"]
    processes = [("raftkv node %d" % i, p.pid) for i, p in sorted(cluster.processes.items())]
    processes.append(("redis-server", redis.process.pid))
    for name, pid in processes:
        memory = memory_kib(pid)
        if memory is None:
            lines.append("| %s | %d | gone | | | |" % (name, pid))
            continue
        lines.append("| %s | %d | %s |" % (name, pid, " | ".join(
            "%.1f" % (memory.get(field, 0) / 1024)
            for field in ("VmRSS", "RssAnon", "RssFile", "VmHWM"))))
    return lines


def election_lines(before, after, leader_before, leader_after):
    lines = ["| node | elections started (before -> after) | leader changes seen "
             "(before -> after) | term (before -> after) |", "|---|---|---|---|"]
    for node_id in sorted(before):
        b, a = before[node_id], after.get(node_id, ("?", "?", "?"))
        lines.append("| %d | %s -> %s | %s -> %s | %s -> %s |" % (
            node_id, b[0], a[0], b[1], a[1], b[2], a[2]))
    started = sum(a[0] for a in after.values()) - sum(b[0] for b in before.values())
    lines.append("")
    lines.append("Elections started during the run: %d; leader node %d before, %s after%s." % (
        started, leader_before, leader_after,
        "" if started == 0 else " — SPURIOUS ELECTIONS, the numbers above are suspect"))
    return lines


# ---------------------------------------------------------------------------------------------
# main


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=DEFAULT_BINARY, help="raftkv server binary")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help="A B alternations per workload (default %d)" % DEFAULT_ROUNDS)
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS_PER_RUN,
                        help="target length of each measured run (default %.1f)"
                        % DEFAULT_SECONDS_PER_RUN)
    parser.add_argument("--only", action="append", default=[],
                        help="run only workloads whose label contains this (repeatable)")
    parser.add_argument("--data-root", default=tempfile.gettempdir(),
                        help="where the temporary data directories go (default: %(default)s)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the data directories and logs (the path is printed)")
    options = parser.parse_args(argv)
    if options.rounds < 1 or options.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds positive")
    if not os.access(options.binary, os.X_OK):
        parser.error("no raftkv binary at %s (run `make bench`, which builds it)"
                     % options.binary)
    return options


def selected_workloads(options):
    if not options.only:
        return WORKLOADS
    return [w for w in WORKLOADS if any(part in w.label for part in options.only)]


def run_comparison(options, root_dir, report):
    # Followers serve reads of plain connections too (the spread workload needs it; on the
    # leader, which is what every other workload loads, it changes nothing).
    cluster = RaftkvCluster(options.binary, root_dir, extra_args=["--follower-reads", "yes"])
    redis = RedisServer(root_dir)
    try:
        cluster.start()
        redis.start()
        leader_before = cluster.find_leader()
        log("raftkv ports %s (leader node %d), redis port %d, data under %s" % (
            sorted(cluster.client_ports.values()), leader_before, redis.port, root_dir))
        report.append("- raftkv: `%s` (and nodes 2, 3 alike)" % shlex.join(cluster.node_argv(1)))
        report.append("- redis: `%s`" % shlex.join(redis.argv))
        report.append("- load averages (1, 5, 15 min) before: %s" % load_averages())
        counters_before = cluster.election_counters()
        targets = [Target("raftkv", lambda: cluster.client_ports[cluster.find_leader()],
                          cluster.find_leader,
                          lambda: [cluster.client_ports[i] for i in cluster.live_nodes()]),
                   Target("redis", lambda: redis.port)]
        results, notes = {}, []
        for workload in selected_workloads(options):
            results[workload.label] = measure_workload(workload, targets, options, notes)
        report.append("- load averages (1, 5, 15 min) after: %s" % load_averages())
        counters_after = cluster.election_counters()
        leader_after = cluster.find_leader()
        names = [t.name for t in targets]
        report += ["", "### Throughput (median of %d runs each, alternating raftkv, redis)"
                   % options.rounds, ""] + results_table(results, names)
        spread, alone = (results.get(label, {}).get("raftkv") for label in (
            "GET -c 50 over 3 nodes (follower reads)", "GET -c 50"))
        if spread and alone:
            report += ["", "Follower reads: GET -c 50 spread over the 3 nodes is %.2f× GET -c 50 "
                       "on the leader alone (medians)." % (
                           statistics.median(r["rps"] for r in spread) /
                           statistics.median(r["rps"] for r in alone))]
        report += ["", "### Every run", ""] + runs_table(results, names)
        report += ["", "### Memory after the run", ""] + memory_lines(cluster, redis)
        report += ["", "### Elections during the run", ""]
        report += election_lines(counters_before, counters_after, leader_before, leader_after)
        notes += ["%s: %d runs failed once (a leader change, most likely) and were repeated"
                  % (t.name, t.retries) for t in targets if t.retries]
        if notes:
            report += [""] + ["- WARNING: " + note for note in notes]
    except BenchError:
        log(cluster.logs_tail())
        log("--- redis log ---\n" + log_tail(redis.log_path()))
        raise
    finally:
        cluster.stop()
        redis.stop()


def raise_system_exit(signal_number, _frame):
    raise SystemExit(128 + signal_number)


def main(argv):
    options = parse_arguments(argv)
    signal.signal(signal.SIGTERM, raise_system_exit)
    signal.signal(signal.SIGHUP, raise_system_exit)
    root_dir = tempfile.mkdtemp(prefix="raftkv-bench-", dir=options.data_root)
    started = time.monotonic()
    report = ["## raftkv vs Redis (bench/compare.py)", "",
              "- command: `%s`" % shlex.join([sys.executable, "bench/compare.py"] + argv)]
    report += machine_lines(options.data_root)
    report.append("- workloads: redis-benchmark -r %d, each run sized to ~%.1f s from a pilot "
                  "run; other engineers share this machine, see the load averages"
                  % (KEYSPACE_SIZE, options.seconds))
    try:
        run_comparison(options, root_dir, report)
    except BenchError as error:
        log("bench: %s" % error)
        return 1
    finally:
        if options.keep:
            log("bench: kept %s" % root_dir)
        else:
            shutil.rmtree(root_dir, ignore_errors=True)
    report.append("")
    report.append("Total wall time of the benchmark: %.0f s." % (time.monotonic() - started))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
