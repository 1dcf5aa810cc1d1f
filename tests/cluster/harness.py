"""harness.py — runs a real raftkv cluster on loopback for the cluster test suites.

A Cluster starts N (3 or 5) raftkv processes, node i on its own loopback address
127.0.0.(10+i) with its client and peer ports on that address, so that a fault-injection
suite can cut links between nodes by address (nftables) without touching anything else on
the machine. Data lives in a fresh temporary directory, one sub-directory per node, and each
node's stderr goes to its own log file there (node-<id>.log, appended across restarts).

Happy path: Cluster(3).start(); cluster.wait_for_leader() returns the leader's id;
cluster.client(id) is a redis.Redis bound to that node; stop(id)/start_node(id)/restart(id),
kill(id) (SIGKILL), pause(id)/resume(id) (SIGSTOP/SIGCONT) are the nemeses' primitives;
cluster.close() always leaves no process behind.

Fault injection without root: Cluster(fault_injection=True) starts every node with
--enable-fault-injection; cluster.fault(id, "cut", peer=2, direction="out") sends RAFT.FAULT
to that node, cluster.isolate(id) cuts it from every other node on both ends of each link (so
that a restart of either end does not heal it), cluster.heal_faults() removes every fault.
Cluster(http=True) gives each node --metrics-addr on its own address (http_address(id)).

Membership: add_node(id) starts a node with an empty data directory, only its own --member
flag and --join (the client address of a running member), as an operator adds a machine;
change_membership("PROMOTE", "4") sends RAFT.NODE to the leader and retries what a script
must retry (TRYAGAIN, MOVED, an uncertain outcome); retire(id) stops a node the cluster has
removed and takes it out of ids(), keeping its log for the reports; members(id) parses
RAFT.NODE LIST. A node's --member flags are those it was first started with, on every
restart: they go stale after a change, as an operator's would.

Failure modes: every wait is bounded (WAIT_TIMEOUT_S unless told otherwise) and raises
ClusterError with the tail of every node's log; a node that exits with a nonzero code after
SIGTERM (a crash, or a leak reported by AddressSanitizer) raises NodeExitError with its log;
a node that dies on its own is noticed by check_alive(). Ports are chosen per run from the
process id and checked free on every node's address before use.
"""

import atexit
import ctypes
import errno
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import redis

DEFAULT_BINARY = "/work/main/build/src/server/raftkv"
HOST_BASE = 10  # node i listens on 127.0.0.(HOST_BASE + i)
PORT_LOW = 21000  # base ports are drawn from [PORT_LOW, PORT_HIGH)
PORT_HIGH = 59000
PEER_PORT_OFFSET = 100  # peer port = client port + PEER_PORT_OFFSET
HTTP_PORT_OFFSET = 2 * PEER_PORT_OFFSET  # --metrics-addr port (http=True) = client port + this
PORT_ATTEMPTS = 50
MAX_NODE_ID = 200  # nodes added later (add_node) take ports up to base port + this
WAIT_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 20.0  # ASan's leak check at exit is slow on a busy machine
POLL_INTERVAL_S = 0.05
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0
LOG_TAIL_LINES = 40
MAX_REPORT_LOG_BYTES = 400_000  # per node, in failure reports
EXEC_RETRY_S = 10.0  # a binary being rebuilt cannot be executed for a moment

PR_SET_PDEATHSIG = 1  # prctl option: signal the child when its parent thread exits

_base_counter = itertools.count()


def _die_with_parent():
    """Runs in the child before exec: a node must not outlive a crashed test runner."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def _popen_retrying(*arguments, **options):
    """Popen, retried for a few seconds while the binary cannot be executed: on a shared
    machine a rebuild replaces it under a running suite (EACCES or ETXTBSY meanwhile)."""
    deadline = time.monotonic() + EXEC_RETRY_S
    while True:
        try:
            return subprocess.Popen(*arguments, **options)
        except OSError as error:
            if (error.errno not in (errno.EACCES, errno.ETXTBSY, errno.ENOENT)
                    or time.monotonic() >= deadline):
                raise
            time.sleep(POLL_INTERVAL_S * 4)


class _Spawner:
    """Starts every node from one thread that lives as long as the interpreter.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process: a
    node started from a test's helper thread (a membership nemesis) was SIGKILLed the moment
    that thread returned. Forking from this one long-lived thread keeps the guard against a
    crashed runner without that trap."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests = []
        self._ready = threading.Condition(self._lock)
        self._thread = None

    def popen(self, *arguments, **options):
        if threading.current_thread() is threading.main_thread():
            return _popen_retrying(*arguments, **options)  # the main thread outlives all
        done = threading.Event()
        request = {"call": (arguments, options), "done": done}
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="node-spawner",
                                                daemon=True)
                self._thread.start()
            self._requests.append(request)
            self._ready.notify()
        done.wait()
        if "error" in request:
            raise request["error"]
        return request["process"]

    def _serve(self):
        while True:
            with self._lock:
                while not self._requests:
                    self._ready.wait()
                request = self._requests.pop(0)
            arguments, options = request["call"]
            try:
                request["process"] = _popen_retrying(*arguments, **options)
            except Exception as error:  # noqa: BLE001 -- handed to the caller
                request["error"] = error
            request["done"].set()


_spawner = _Spawner()


class ClusterError(Exception):
    """A bounded wait ran out, or the cluster is not in the state a test needs."""


class NodeExitError(ClusterError):
    """A node exited with an unexpected code (after SIGTERM, anything but 0)."""


def node_host(node_id):
    return "127.0.0.%d" % (HOST_BASE + node_id)


def ssl_options(tls):
    """redis-py's SSL keywords for tls = {"ca": path, "cert": path, "key": path} (cert and key
    may be absent: no client certificate); {} for None. The server's certificate is verified
    against the CA; its host name is not (redis-py's default), the nodes' SANs are IPs."""
    if not tls:
        return {}
    options = dict(ssl_ca_certs=tls["ca"], ssl_cert_reqs="required")
    if tls.get("cert"):
        options.update(ssl_certfile=tls["cert"], ssl_keyfile=tls["key"])
    return options


def make_connection(tls, host, port, **options):
    """redis.Connection to host:port, or redis.SSLConnection with ssl_options(tls)."""
    if tls:
        return redis.SSLConnection(host=host, port=port, **ssl_options(tls), **options)
    return redis.Connection(host=host, port=port, **options)


def parse_info(text):
    """Parses INFO text into {field: value}; numbers become ints, 'a=1,b=x' stays a str
    (use parse_fields on it). Section headers and blank lines are skipped."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    fields = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        try:
            fields[key] = int(value)
        except ValueError:
            fields[key] = value
    return fields


def parse_fields(value):
    """'match=5,next=6,connected=1' -> {'match': 5, 'next': 6, 'connected': 1}."""
    result = {}
    for part in value.split(","):
        if "=" in part:
            key, item = part.split("=", 1)
            try:
                result[key] = int(item)
            except ValueError:
                result[key] = item
    return result


def wait_until(predicate, timeout_s=WAIT_TIMEOUT_S, what="condition", on_timeout=None):
    """Polls predicate() until it returns a truthy value, which is returned. Exceptions from
    redis (a node restarting, refusing) count as 'not yet'. Raises ClusterError on timeout,
    with on_timeout()'s text appended."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (redis.RedisError, OSError) as error:
            last_error = error
        if time.monotonic() >= deadline:
            detail = "" if last_error is None else " (last error: %r)" % (last_error,)
            extra = on_timeout() if on_timeout is not None else ""
            raise ClusterError("timed out after %.1f s waiting for %s%s\n%s"
                               % (timeout_s, what, detail, extra))
        time.sleep(POLL_INTERVAL_S)


def _port_free(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def pick_base_port(node_count):
    """A base port whose client and peer ports are free on every node's address. Derived
    from the pid and a per-process counter, so concurrent runs and successive clusters of one
    run rarely collide; collisions are detected and skipped."""
    span = PORT_HIGH - PORT_LOW - PEER_PORT_OFFSET - max(node_count, MAX_NODE_ID)
    for _ in range(PORT_ATTEMPTS):
        n = next(_base_counter)
        base = PORT_LOW + (os.getpid() * 389 + n * 1031) % span
        ports = [(node_host(i), base + i + offset)
                 for i in range(1, node_count + 1) for offset in (0, PEER_PORT_OFFSET)]
        if all(_port_free(host, port) for host, port in ports):
            return base
    raise ClusterError("no free port range found after %d attempts" % PORT_ATTEMPTS)


class Node:
    """One raftkv process: its address, directories, and the Popen while it runs.

    member_ids are the nodes whose --member flags it is started with: every node of the
    cluster as first started, or only itself for a node that joins (join is then the client
    address it asks, --join). They never change: after the first start the log holds the
    membership, and the flags of a later restart are the stale bootstrap an operator leaves."""

    def __init__(self, node_id, base_port, root, member_ids=(), join=None):
        self.id = node_id
        self.member_ids = tuple(member_ids) or (node_id,)
        self.join = join
        self.host = node_host(node_id)
        self.client_port = base_port + node_id
        self.peer_port = base_port + node_id + PEER_PORT_OFFSET
        self.data_dir = os.path.join(root, "node-%d" % node_id)
        self.log_path = os.path.join(root, "node-%d.log" % node_id)
        self.process = None
        self.paused = False
        self.exit_codes = []  # every exit seen, in order, for reports
        self.stopped_on_purpose = False  # set by stop/kill, cleared by start
        self.extra_args = []  # flags for this node only, after the cluster's settings
        self.extra_env = {}  # environment for this node only (e.g. libfaketime's)
        self.member_overrides = {}  # id -> the --member text to give instead of the real one

    @property
    def address(self):
        return "%s:%d" % (self.host, self.client_port)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def member_flag(self):
        return "%d=%s:%d,%s:%d" % (self.id, self.host, self.client_port, self.host,
                                   self.peer_port)


class Cluster:
    """N raftkv nodes on loopback. Node ids are 1..size at first; add_node brings more.

    Not thread-safe: a test that changes the membership from one thread while another hurts
    the nodes serializes the calls that start, stop, add or retire nodes (nemesis.py's
    Nemesis.cluster_lock). Lookups (ids, node, known_node) tolerate a concurrent add_node or
    retire."""

    live_clusters = []  # every cluster not yet closed, for failure reports
    created = []  # every cluster made, in order (conftest removes the files of tests' own)

    def __init__(self, size=3, binary=None, root=None, election_timeout_ms=500,
                 heartbeat_ms=50, tick_ms=10, request_timeout_ms=5000, snapshot_entries=None,
                 log_level="info", extra_args=(), password=None, tls=None,
                 fault_injection=False, http=False):
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        self.binary = binary or os.environ.get("RAFTKV_BINARY", DEFAULT_BINARY)
        if not os.access(self.binary, os.X_OK):
            raise ClusterError("raftkv binary not found or not executable: %s "
                               "(set RAFTKV_BINARY)" % self.binary)
        self.owns_root = root is None
        self.kept = False  # conftest kept its files for a report
        self.root = root or tempfile.mkdtemp(prefix="raftkv-cluster-")
        self.election_timeout_ms = election_timeout_ms
        self.settings = ["--election-timeout-ms", str(election_timeout_ms),
                         "--heartbeat-ms", str(heartbeat_ms), "--tick-ms", str(tick_ms),
                         "--request-timeout-ms", str(request_timeout_ms),
                         "--log-level", log_level]
        if snapshot_entries is not None:
            self.settings += ["--snapshot-entries", str(snapshot_entries)]
        # --requirepass: the harness's own connections (INFO, waits) authenticate with it.
        self.password = password
        if password is not None:
            self.settings += ["--requirepass", password]
        self.fault_injection = fault_injection
        if fault_injection:
            self.settings += ["--enable-fault-injection"]
        self.http = http
        self.settings += list(extra_args)
        # tls: {"ca": path, "cert": path, "key": path} (cert and key optional) for a cluster
        # whose client ports speak TLS (--tls-only yes): every connection the harness and the
        # fault suite open (client, raw_command, the workload, the leader watch) uses it.
        self.tls = dict(tls) if tls else None
        self.base_port = pick_base_port(size)
        first = tuple(range(1, size + 1))
        self.nodes = {i: Node(i, self.base_port, self.root, member_ids=first) for i in first}
        # Nodes taken out of the cluster (retire): no longer in ids(), but their logs stay in
        # the reports and their flags may still name them.
        self.retired = {}
        self.closed = False
        self._clients = []
        Cluster.live_clusters.append(self)
        Cluster.created.append(self)

    # ---- processes ----

    def ids(self):
        return sorted(self.nodes)

    def node(self, node_id):
        return self.known_node(node_id)

    def all_ids(self):
        """The members and the retired nodes."""
        return sorted(list(self.nodes) + list(self.retired))

    def known_node(self, node_id):
        """A node of the cluster or one retired from it."""
        node = self.nodes.get(node_id)  # retire() files a node as retired before removing it
        return node if node is not None else self.retired[node_id]

    def command_line(self, node_id):
        node = self.nodes[node_id]
        arguments = [self.binary, "--id", str(node_id), "--data-dir", node.data_dir]
        for other in node.member_ids:
            flag = node.member_overrides.get(other) or self.known_node(other).member_flag()
            arguments += ["--member", flag]
        if node.join is not None:
            arguments += ["--join", node.join]
        if self.http:
            arguments += ["--metrics-addr", self.http_address(node_id)]
        return arguments + self.settings + list(node.extra_args)

    def http_address(self, node_id):
        node = self.known_node(node_id)
        return "%s:%d" % (node.host, node.client_port + HTTP_PORT_OFFSET)

    def start(self):
        for node_id in self.ids():
            self.start_node(node_id)
        return self

    def start_node(self, node_id):
        node = self.nodes[node_id]
        if node.running():
            raise ClusterError("node %d is already running" % node_id)
        os.makedirs(node.data_dir, exist_ok=True)
        env = dict(os.environ)
        # Leaks and errors must show as a nonzero exit; keep whatever the caller set.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.update(node.extra_env)
        with open(node.log_path, "ab") as log:
            log.write(b"\n==== harness: starting node %d: %s\n"
                      % (node_id, " ".join(self.command_line(node_id)).encode()))
            log.flush()
            node.process = _spawner.popen(self.command_line(node_id), stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=log, env=env,
                                          preexec_fn=_die_with_parent)
        node.paused = False
        node.stopped_on_purpose = False
        wait_until(lambda: self._accepts(node) or self._died(node), timeout_s=WAIT_TIMEOUT_S,
                   what="node %d to accept clients on %s" % (node_id, node.address),
                   on_timeout=self.describe)
        if not node.running():
            code = node.process.returncode
            node.exit_codes.append(code)
            raise NodeExitError("node %d exited at start with code %s\n%s"
                                % (node_id, code, self.log_tail(node_id)))

    def _died(self, node):
        return node.process.poll() is not None

    def _accepts(self, node):
        try:
            with socket.create_connection((node.host, node.client_port), CONNECT_TIMEOUT_S):
                return True
        except OSError:
            return False

    def stop(self, node_id, timeout_s=STOP_TIMEOUT_S, check=True):
        """SIGTERM, wait, and (with check) raise NodeExitError unless it exited with 0."""
        node = self.known_node(node_id)
        died_on_its_own = not node.stopped_on_purpose
        node.stopped_on_purpose = True
        if node.process is None or node.process.poll() is not None:
            code = self._reap(node)
            if check and died_on_its_own and code not in (None, 0):
                node.exit_codes.append(code)
                raise NodeExitError("node %d had already died with code %d\n%s"
                                    % (node_id, code, self.log_tail(node_id, 80)))
            return code
        if node.paused:
            self.resume(node_id)
        node.process.send_signal(signal.SIGTERM)
        try:
            code = node.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
            node.exit_codes.append("hung")
            raise NodeExitError("node %d did not exit within %.0f s of SIGTERM\n%s"
                                % (node_id, timeout_s, self.log_tail(node_id)))
        node.exit_codes.append(code)
        if check and code != 0:
            raise NodeExitError("node %d exited with code %d after SIGTERM\n%s"
                                % (node_id, code, self.logs(node_id)[-20000:]))
        return code

    def _reap(self, node):
        if node.process is None:
            return None
        return node.process.wait()

    def kill(self, node_id):
        """SIGKILL: a crash. Works on paused nodes too."""
        node = self.known_node(node_id)
        node.stopped_on_purpose = True
        if node.running():
            node.process.kill()
            node.exit_codes.append(node.process.wait())
        node.paused = False

    def pause(self, node_id):
        node = self.known_node(node_id)
        if not node.running():
            raise ClusterError("node %d is not running" % node_id)
        node.process.send_signal(signal.SIGSTOP)
        node.paused = True

    def resume(self, node_id):
        node = self.known_node(node_id)
        if node.running() and node.paused:
            node.process.send_signal(signal.SIGCONT)
        node.paused = False

    def restart(self, node_id, kill=False):
        if kill:
            self.kill(node_id)
        else:
            self.stop(node_id)
        self.start_node(node_id)

    # ---- membership ----

    def add_node(self, node_id, join_via=None, start=True, extra_args=()):
        """A new node with an empty data directory that joins the running cluster: started
        with only its own --member flag and --join <client address of join_via> (default: the
        lowest id running). Its addresses follow the scheme of the others (127.0.0.(10+id),
        base port + id) and are checked free first. Ids are never reused by the server, so
        node_id must be new to this cluster, retired ones included. Returns the Node."""
        if node_id in self.nodes or node_id in self.retired:
            raise ClusterError("node id %d is or was used in this cluster" % node_id)
        if node_id > MAX_NODE_ID:
            raise ClusterError("node id %d is above MAX_NODE_ID (%d): no address or port "
                               "is set aside for it" % (node_id, MAX_NODE_ID))
        if join_via is None:
            running = [i for i in self.ids() if self.nodes[i].running()]
            if not running:
                raise ClusterError("no running node to join through")
            join_via = running[0]
        node = Node(node_id, self.base_port, self.root, member_ids=(node_id,),
                    join=self.nodes[join_via].address)
        for host, port in ((node.host, node.client_port), (node.host, node.peer_port)):
            if not _port_free(host, port):
                raise ClusterError("port %s:%d for node %d is taken" % (host, port, node_id))
        if os.path.exists(node.data_dir):
            raise ClusterError("node %d's data directory %s exists" % (node_id, node.data_dir))
        node.extra_args = list(extra_args)
        self.nodes[node_id] = node
        if start:
            self.start_node(node_id)
        return node

    def retire(self, node_id, stop=True):
        """Takes a node out of ids() once the cluster has removed it: stops it (SIGTERM,
        checked) unless told not to or already dead, and keeps its log for the reports. One
        left running is stopped (and checked) by close(); one that died on its own is
        reported there too."""
        node = self.nodes[node_id]
        if stop and node.running():
            self.stop(node_id)
        self.retired[node_id] = node
        del self.nodes[node_id]

    def members(self, node_id):
        """RAFT.NODE LIST on node_id as a list of dicts (str keys; id, leader and match_index
        as ints, the rest str)."""
        reply = self.raw_command(node_id, "RAFT.NODE", "LIST")
        members = []
        for entry in reply:
            fields = {}
            for key, value in zip(entry[0::2], entry[1::2]):
                key = key.decode() if isinstance(key, bytes) else key
                fields[key] = value.decode() if isinstance(value, bytes) else value
            members.append(fields)
        return members

    def change_membership(self, *arguments, done=None, timeout_s=3 * WAIT_TIMEOUT_S,
                          via=None):
        """RAFT.NODE <arguments> as an operator's script would send it: to the leader (or via,
        following MOVED), retried after -TRYAGAIN, -CLUSTERDOWN, -UNCERTAIN, a timeout or a
        closed connection, until +OK. After an uncertain outcome a retry may be refused because
        the first attempt took effect; done() (a predicate on the cluster, e.g. "node 4 is a
        voter") then decides. Any other error raises redis.ResponseError. Returns the number
        of attempts."""
        deadline = time.monotonic() + timeout_s
        target = via
        attempts = 0
        uncertain = False
        while True:
            attempts += 1
            if target is None or target not in self.nodes:
                target = self.leader(timeout_s=max(0.1, deadline - time.monotonic()))
            try:
                reply = self.raw_command(target, "RAFT.NODE", *arguments,
                                         timeout_s=self._request_timeout_s() + 3)
                if reply in (b"OK", "OK", True):
                    return attempts
                raise ClusterError("RAFT.NODE %s answered %r" % (" ".join(arguments), reply))
            except redis.ResponseError as error:
                text = str(error)
                moved = re.match(r"MOVED \d+ ([\d.]+):(\d+)", text)
                if moved:
                    target = self.id_at(moved.group(1), int(moved.group(2)))
                elif text.startswith("UNCERTAIN"):
                    uncertain = True
                    target = None
                elif not text.startswith(("TRYAGAIN", "CLUSTERDOWN")):
                    if uncertain and done is not None and done():
                        return attempts
                    raise
            except (redis.RedisError, OSError):
                uncertain = True
                target = None
            if time.monotonic() >= deadline:
                raise ClusterError("RAFT.NODE %s did not go through in %.0f s (%d attempts)\n%s"
                                   % (" ".join(arguments), timeout_s, attempts, self.describe()))
            time.sleep(POLL_INTERVAL_S * 2)

    def _request_timeout_s(self):
        index = self.settings.index("--request-timeout-ms")
        return int(self.settings[index + 1]) / 1000.0

    def id_at(self, host, port):
        """The id of the member listening for clients on host:port, or None."""
        for node_id, node in self.nodes.items():
            if node.host == host and node.client_port == port:
                return node_id
        return None

    def heal(self):
        """Brings every node back (resumes paused ones, starts stopped or dead ones, heals
        injected faults) and waits for a leader: a shared cluster is whole again before the
        next test."""
        for node_id in self.ids():
            node = self.nodes[node_id]
            if node.paused:
                self.resume(node_id)
            if not node.running():
                self.start_node(node_id)
        if self.fault_injection:
            self.heal_faults()
        self.wait_for_leader()

    def live_ids(self):
        """Nodes running and not paused."""
        return [i for i in self.ids() if self.nodes[i].running() and not self.nodes[i].paused]

    def check_alive(self):
        """Raises NodeExitError if a node the harness started has died on its own."""
        for node_id in self.ids():
            node = self.nodes[node_id]
            if (node.process is not None and not node.stopped_on_purpose
                    and node.process.poll() is not None):
                code = node.process.returncode
                node.exit_codes.append(code)
                node.stopped_on_purpose = True  # reported once, here
                raise NodeExitError("node %d died on its own with code %d\n%s"
                                    % (node_id, code, self.log_tail(node_id, 80)))

    def stop_all(self, check=True):
        """SIGTERM every running node; raises the first nonzero exit after all have stopped."""
        failures = []
        for node_id in self.ids():
            try:
                self.stop(node_id, check=check)
            except NodeExitError as error:
                failures.append(error)
        if failures:
            raise failures[0]

    def close(self, graceful=True):
        """Leaves no process behind: resumes paused nodes, stops them (SIGTERM, checked when
        graceful), SIGKILLs anything left. Returns the NodeExitErrors of unclean exits."""
        if self.closed:
            return []
        for client in self._clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 -- closing must not stop cleanup
                pass
        errors = []
        for node_id in self.all_ids():
            node = self.known_node(node_id)
            if node.paused:
                self.resume(node_id)
            if graceful and node.running():
                try:
                    self.stop(node_id)
                except NodeExitError as error:
                    errors.append(error)
            self.kill(node_id)
        self.closed = True
        if self in Cluster.live_clusters:
            Cluster.live_clusters.remove(self)
        return errors

    def remove_files(self):
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- clients ----

    def ssl_options(self):
        """redis-py's SSLConnection keywords for this cluster's client ports ({} without TLS)."""
        return ssl_options(self.tls)

    def redis_options(self):
        """redis.Redis keywords for this cluster's client ports: ssl=True and the files."""
        return dict(ssl=True, **self.ssl_options()) if self.tls else {}

    def connection(self, host, port, **options):
        """A redis.Connection (redis.SSLConnection under tls) to host:port, not yet open."""
        return make_connection(self.tls, host, port, **options)

    def client(self, node_id, socket_timeout=SOCKET_TIMEOUT_S, **options):
        node = self.known_node(node_id)
        options = dict(self.redis_options(), **options)
        client = redis.Redis(host=node.host, port=node.client_port,
                             socket_timeout=socket_timeout,
                             socket_connect_timeout=CONNECT_TIMEOUT_S, **options)
        self._clients.append(client)
        return client

    def raw_command(self, node_id, *arguments, timeout_s=CONNECT_TIMEOUT_S + 3):
        """One command on a fresh connection, the reply unparsed by redis-py's callbacks
        (INFO comes back as bytes). Error replies raise redis.ResponseError."""
        node = self.known_node(node_id)
        connection = self.connection(node.host, node.client_port, socket_timeout=timeout_s,
                                     socket_connect_timeout=CONNECT_TIMEOUT_S,
                                     password=self.password)
        try:
            connection.send_command(*arguments)
            reply = connection.read_response()
        finally:
            connection.disconnect()
        if isinstance(reply, redis.ResponseError):
            raise reply
        return reply

    def info(self, node_id, section="all"):
        return parse_info(self.raw_command(node_id, "INFO", section))

    def raft_info(self, node_id):
        return self.info(node_id, "raft")

    # ---- fault injection (fault_injection=True) ----

    def fault(self, node_id, action, peer="ALL", value=None, direction=None):
        """RAFT.FAULT on node_id: action is cut, delay, loss, reorder or heal; peer an id or
        "ALL"; value the ms or percent; direction in, out or both (the default)."""
        arguments = ["RAFT.FAULT", action.upper()]
        if action.lower() != "heal" or peer != "ALL":
            arguments.append(str(peer))
        if value is not None:
            arguments.append(str(value))
        if direction is not None:
            arguments.append(direction.upper())
        return self.raw_command(node_id, *arguments)

    def faults(self, node_id):
        """RAFT.FAULT LIST on node_id: ["cut-out:2", "delay:3:200ms", ...]."""
        return [item.decode() for item in self.raw_command(node_id, "RAFT.FAULT", "LIST")]

    def isolate(self, node_id):
        """Cuts node_id off from every other node, on both ends of each link."""
        for other in self.ids():
            if other != node_id:
                self.fault(node_id, "cut", peer=other)
                if self.nodes[other].running() and not self.nodes[other].paused:
                    self.fault(other, "cut", peer=node_id)

    def heal_faults(self):
        """RAFT.FAULT HEAL on every live node."""
        for node_id in self.live_ids():
            self.fault(node_id, "heal")

    # ---- waits ----

    def leader(self, timeout_s=WAIT_TIMEOUT_S, among=None, agreed=False):
        """The id of the leader, polling INFO raft on every live node (or those in among).
        A node counts as leader when it says so and no live node reports a higher term.
        With agreed, every polled node must also name it as raft_leader_id."""
        def find():
            ids = among if among is not None else self.live_ids()
            infos = {}
            for node_id in ids:
                try:
                    infos[node_id] = self.raft_info(node_id)
                except (redis.RedisError, OSError):
                    if agreed:
                        return None
            if not infos:
                return None
            top_term = max(info["raft_term"] for info in infos.values())
            leaders = [i for i, info in infos.items()
                       if info["raft_role"] == "leader" and info["raft_term"] == top_term]
            if len(leaders) != 1:
                return None
            if agreed and any(info["raft_leader_id"] != leaders[0] for info in infos.values()):
                return None
            return leaders[0]
        return wait_until(find, timeout_s=timeout_s, what="a leader", on_timeout=self.describe)

    def wait_for_leader(self, timeout_s=WAIT_TIMEOUT_S, among=None):
        """A leader that every live node (or those in among) knows of."""
        return self.leader(timeout_s=timeout_s, among=among, agreed=True)

    def leader_client(self, timeout_s=WAIT_TIMEOUT_S, **options):
        return self.client(self.wait_for_leader(timeout_s=timeout_s), **options)

    def wait_applied(self, node_ids=None, timeout_s=WAIT_TIMEOUT_S):
        """Waits until the given nodes (default: all live) have applied the same index, at
        least the leader's commit index as read when the wait started. Returns the index."""
        leader_id = self.wait_for_leader(timeout_s=timeout_s)
        target = self.raft_info(leader_id)["raft_commit_index"]
        ids = node_ids if node_ids is not None else self.live_ids()

        def converged():
            applied = {i: self.raft_info(i)["raft_applied_index"] for i in ids}
            values = set(applied.values())
            if len(values) == 1 and min(values) >= target:
                return min(values)
            return None
        return wait_until(converged, timeout_s=timeout_s,
                          what="nodes %s to apply index %d" % (ids, target),
                          on_timeout=self.describe)

    # ---- logs ----

    def logs(self, node_id):
        path = self.known_node(node_id).log_path
        if not os.path.exists(path):
            return ""
        with open(path, "rb") as log:
            return log.read().decode("utf-8", "replace")

    def log_tail(self, node_id, lines=LOG_TAIL_LINES):
        text = self.logs(node_id).splitlines()
        header = "---- node %d (%s) log %s, last %d lines ----" % (
            node_id, self.known_node(node_id).address, self.known_node(node_id).log_path, lines)
        return "\n".join([header] + text[-lines:])

    def describe(self, lines=LOG_TAIL_LINES):
        """Where the cluster lives, each node's state, and the tail of every log."""
        parts = ["cluster in %s (base port %d)" % (self.root, self.base_port)]
        for node_id in self.all_ids():
            node = self.known_node(node_id)
            state = ("paused" if node.paused else "running") if node.running() else "stopped"
            retired = ", retired" if node_id in self.retired else ""
            parts.append("node %d %s: %s%s, exits %s" % (node_id, node.address, state, retired,
                                                         node.exit_codes))
        for node_id in self.all_ids():
            parts.append(self.log_tail(node_id, lines))
        return "\n".join(parts)

    def report_sections(self):
        """(title, full log) per node, cut to MAX_REPORT_LOG_BYTES, for a failure report."""
        sections = []
        for node_id in self.all_ids():
            text = self.logs(node_id)
            if len(text) > MAX_REPORT_LOG_BYTES:
                text = "[... cut ...]\n" + text[-MAX_REPORT_LOG_BYTES:]
            sections.append(("raftkv node %d log (%s)"
                             % (node_id, self.known_node(node_id).log_path), text))
        return sections


@atexit.register
def _close_every_cluster():
    """A last resort for scripts that forget close(): no node outlives the interpreter."""
    for cluster in list(Cluster.live_clusters):
        cluster.close(graceful=False)
