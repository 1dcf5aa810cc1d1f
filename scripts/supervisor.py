#!/usr/bin/env python3
"""supervisor.py — the local demo cluster of `make run`: starts 3 (or 5) raftkv nodes in the
foreground and serves a small control API to kill, restart, pause and resume them.

Happy path: node N listens for clients on 127.0.0.1:(6378+N), for peers on 7378+N, for HTTP
(metrics, the dashboard, fault injection) on 9120+N, keeps its data in ./data/node-N, and its
log lines go to stderr prefixed "[node N]". Every node runs with --enable-fault-injection: this
is a demo cluster, and the fault buttons (RAFT.FAULT, POST /api/fault) are the point of it.
The control API listens on 127.0.0.1:9120 only:

    GET  /api/nodes                   [{"id":1,"pid":123,"state":"running",...}, ...]
    GET  /api/nodes/<id>              one node
    POST /api/nodes/<id>/kill         SIGKILL
    POST /api/nodes/<id>/restart      start it again (kill it first if it runs)
    POST /api/nodes/<id>/pause        SIGSTOP
    POST /api/nodes/<id>/resume       SIGCONT
    GET  /lecture/report.html         `make lecture`'s last report (build/lecture/), if any

Each POST answers 200 with the node's JSON, 404 for an unknown node or route, 409 when the
node is not in a state the action applies to (kill of a node that is down, pause of a paused
one, ...). Every answer carries Access-Control-Allow-Origin: *, and OPTIONS gets the CORS
preflight's answer, so that the dashboard served by a node can call it.

The supervisor restarts nothing by itself: a node killed, or one that exits on its own, stays
down until asked (its state says "killed" or "exited"). Ctrl-C (SIGINT) or SIGTERM stops every
node cleanly — SIGCONT to paused ones first, then SIGTERM, then SIGKILL to any still running
after --stop-timeout seconds — and exits 0. Nodes are spawned from one long-lived thread with
PR_SET_PDEATHSIG, so they die with the supervisor even if it is killed with SIGKILL.

Failure modes: a data directory written by a cluster of another size is refused at start
(its nodes' logs hold that membership); a port that is taken makes that node exit, which is
reported and shown as "exited". Python 3 standard library only.
"""

import argparse
import ctypes
import http.server
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
STATE_FILE = "supervisor.json"  # in the data directory: the cluster size it was made with
KILL_WAIT_S = 5.0


def parse_arguments(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description="A local raftkv demo cluster with a control "
                                                 "API (make run).")
    parser.add_argument("--nodes", type=int, choices=(3, 5), default=3)
    parser.add_argument("--lecture-report", default=os.path.join(root, "build", "lecture",
                                                                 "report.html"),
                        help="make lecture's report, served at /lecture/report.html")
    parser.add_argument("--binary", default=os.environ.get(
        "RAFTKV_BINARY", os.path.join(root, "build", "src", "server", "raftkv")))
    parser.add_argument("--data", default=os.environ.get("RAFTKV_DATA", "./data"),
                        help="data directory (node-N under it; default ./data)")
    parser.add_argument("--client-port", type=int, default=6379, help="node 1's; N adds N-1")
    parser.add_argument("--peer-port", type=int, default=7379, help="node 1's; N adds N-1")
    parser.add_argument("--http-port", type=int, default=9121, help="node 1's; N adds N-1")
    parser.add_argument("--control-port", type=int, default=9120,
                        help="the control API, on 127.0.0.1 only")
    parser.add_argument("--stop-timeout", type=float, default=15.0,
                        help="seconds a node has to exit after SIGTERM before SIGKILL")
    parser.add_argument("--node-arg", action="append", default=[],
                        help="one more argument for every node (repeat), e.g. "
                             "--node-arg=--election-timeout-ms --node-arg=300")
    return parser.parse_args(argv)


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the supervisor is already gone
        os._exit(1)


class Spawner:
    """Starts processes from one thread that lives as long as the supervisor: PDEATHSIG fires
    when the thread that forked exits, not the process, so the HTTP handlers' short-lived
    threads must not fork."""

    def __init__(self):
        self.requests = queue.Queue()
        threading.Thread(target=self._serve, name="spawner", daemon=True).start()

    def popen(self, arguments, **options):
        answer = queue.Queue(maxsize=1)
        self.requests.put((arguments, options, answer))
        result = answer.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def _serve(self):
        while True:
            arguments, options, answer = self.requests.get()
            try:
                answer.put(subprocess.Popen(arguments, preexec_fn=_die_with_parent, **options))
            except BaseException as error:  # noqa: BLE001 -- handed back to the caller
                answer.put(error)


class Node:
    def __init__(self, node_id, settings):
        self.id = node_id
        self.settings = settings
        self.client = "127.0.0.1:%d" % (settings.client_port + node_id - 1)
        self.peer = "127.0.0.1:%d" % (settings.peer_port + node_id - 1)
        self.http = "127.0.0.1:%d" % (settings.http_port + node_id - 1)
        self.data_dir = os.path.join(settings.data, "node-%d" % node_id)
        self.process = None
        self.state = "exited"
        self.exit_code = None

    def describe(self):
        return {"id": self.id, "pid": self.process.pid if self.process is not None else None,
                "state": self.state, "client": self.client, "http": self.http,
                "exit_code": self.exit_code}


class Supervisor:
    def __init__(self, settings):
        self.settings = settings
        self.nodes = {i: Node(i, settings) for i in range(1, settings.nodes + 1)}
        self.lock = threading.RLock()  # every change of a node's process or state
        self.spawner = Spawner()
        self.stopping = False

    # ---- processes ----

    def command_line(self, node):
        arguments = [self.settings.binary, "--id", str(node.id), "--data-dir", node.data_dir]
        for other in self.nodes.values():
            # The third address is its HTTP listener: the dashboard of any node finds them all.
            arguments += ["--member",
                          "%d=%s,%s,%s" % (other.id, other.client, other.peer, other.http)]
        arguments += ["--metrics-addr", node.http, "--enable-fault-injection"]
        return arguments + list(self.settings.node_arg)

    def start(self, node):
        with self.lock:
            assert node.process is None or node.process.poll() is not None
            os.makedirs(node.data_dir, exist_ok=True)
            # Its own session: a Ctrl-C in the terminal reaches the supervisor only, which
            # stops the nodes in order (paused ones must be continued first).
            process = self.spawner.popen(self.command_line(node), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            node.process = process
            node.state = "running"
            node.exit_code = None
        threading.Thread(target=self._relay, args=(node, process), name="node-%d" % node.id,
                         daemon=True).start()

    def _relay(self, node, process):
        """Copies the node's log to stderr, prefixed; notices when it exits."""
        prefix = ("[node %d] " % node.id).encode()
        for line in process.stdout:
            sys.stderr.buffer.write(prefix + line)
            sys.stderr.buffer.flush()
        code = process.wait()
        with self.lock:
            if node.process is not process:
                return  # restarted since
            node.exit_code = code
            if node.state == "running" or node.state == "paused":
                node.state = "exited"
                if not self.stopping:
                    say("raftkv: node %d exited on its own (status %d); it stays down. "
                        "Restart it: curl -X POST http://127.0.0.1:%d/api/nodes/%d/restart"
                        % (node.id, code, self.settings.control_port, node.id))

    def kill(self, node):
        """SIGKILL and reap; the caller holds the lock and checked the node runs."""
        process = node.process
        process.send_signal(signal.SIGKILL)
        try:
            node.exit_code = process.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            pass  # reaped by its relay thread later; it cannot run on after SIGKILL
        node.state = "killed"

    def act(self, node, action):
        """Runs an action of the API; returns (status, body)."""
        with self.lock:
            if self.stopping:
                return 409, {"error": "the supervisor is stopping"}
            alive = node.state in ("running", "paused")
            if action == "kill":
                if not alive:
                    return 409, {"error": "node %d is not running (%s)" % (node.id, node.state)}
                self.kill(node)
                say("raftkv: node %d killed (SIGKILL) through the control API" % node.id)
            elif action == "restart":
                if alive:
                    self.kill(node)
                self.start(node)
                say("raftkv: node %d started again through the control API (pid %d)"
                    % (node.id, node.process.pid))
            elif action == "pause":
                if node.state != "running":
                    return 409, {"error": "node %d is not running (%s)" % (node.id, node.state)}
                node.process.send_signal(signal.SIGSTOP)
                node.state = "paused"
                say("raftkv: node %d paused (SIGSTOP)" % node.id)
            elif action == "resume":
                if node.state != "paused":
                    return 409, {"error": "node %d is not paused (%s)" % (node.id, node.state)}
                node.process.send_signal(signal.SIGCONT)
                node.state = "running"
                say("raftkv: node %d resumed (SIGCONT)" % node.id)
            else:
                return 404, {"error": "unknown action %r (kill, restart, pause, resume)"
                                      % action}
            return 200, node.describe()

    def stop_all(self):
        """SIGCONT paused nodes, SIGTERM all, SIGKILL what is left after the timeout."""
        with self.lock:
            running = [n for n in self.nodes.values()
                       if n.process is not None and n.process.poll() is None]
            for node in running:
                if node.state == "paused":
                    node.process.send_signal(signal.SIGCONT)
                node.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.settings.stop_timeout
            for node in running:
                try:
                    node.exit_code = node.process.wait(
                        timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    say("raftkv: node %d did not stop within %.0f s: SIGKILL"
                        % (node.id, self.settings.stop_timeout))
                    node.process.kill()
                    node.exit_code = node.process.wait()
                node.state = "exited"


def say(text):
    print(text, file=sys.stderr, flush=True)


def make_handler(supervisor):
    node_route = re.compile(r"^/api/nodes/([0-9]+)(?:/([a-z]+))?$")

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "raftkv-supervisor"

        def log_message(self, format, *arguments):  # noqa: A002 -- the base class's name
            pass  # the node logs are the interesting ones

        def answer(self, status, body):
            data = (json.dumps(body) + "\n").encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", "*")
            if self.command == "OPTIONS":
                self.send_header("Access-Control-Allow-Methods", "POST, GET")
                self.send_header("Access-Control-Allow-Headers", "Content-Type")
                self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def route(self):
            path = self.path.split("?", 1)[0]
            if path == "/api/nodes":
                return None, None
            match = node_route.match(path)
            if match is None:
                return False, None
            node = supervisor.nodes.get(int(match.group(1)))
            return node, match.group(2)

        def not_found(self):
            self.answer(404, {"error": "no such node or route (GET /api/nodes, POST "
                                       "/api/nodes/<id>/kill|restart|pause|resume)"})

        def do_OPTIONS(self):  # noqa: N802 -- http.server's naming
            self.answer(204, None)

        def lecture_report(self):
            """make lecture's report, for the dashboard's link; 404 until a run wrote one."""
            try:
                with open(supervisor.settings.lecture_report, "rb") as report:
                    data = report.read()
            except OSError:
                self.answer(404, {"error": "no report yet: run `make lecture`"})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            if self.path.split("?", 1)[0] == "/lecture/report.html":
                self.lecture_report()
                return
            node, action = self.route()
            if node is None and action is None and self.path.split("?")[0] == "/api/nodes":
                with supervisor.lock:
                    body = [n.describe() for n in supervisor.nodes.values()]
                self.answer(200, body)
            elif node and action is None:
                with supervisor.lock:
                    self.answer(200, node.describe())
            else:
                self.not_found()

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= 4096:
                self.rfile.read(length)  # the actions take no body; read what came
            node, action = self.route()
            if not node or action is None:
                self.not_found()
                return
            self.answer(*supervisor.act(node, action))

    return Handler


def check_data(settings):
    """The data directory's cluster size must match (a node's log holds its membership)."""
    os.makedirs(settings.data, exist_ok=True)
    path = os.path.join(settings.data, STATE_FILE)
    recorded = None
    if os.path.exists(path):
        with open(path) as file:
            recorded = json.load(file).get("nodes")
    elif any(name.startswith("node-") for name in os.listdir(settings.data)):
        recorded = 3  # made by the run-cluster.sh of before, always 3 nodes
    if recorded is not None and recorded != settings.nodes:
        sys.exit("raftkv: %s holds a %s-node cluster; start it with --nodes %s, or delete "
                 "the directory to start a fresh %d-node one"
                 % (settings.data, recorded, recorded, settings.nodes))
    with open(path, "w") as file:
        json.dump({"nodes": settings.nodes}, file)


def banner(supervisor):
    settings = supervisor.settings
    first = supervisor.nodes[1]
    control = "http://127.0.0.1:%d" % settings.control_port
    client_port = first.client.split(":")[1]
    lines = ["raftkv: %d nodes running (data in %s)." % (settings.nodes, settings.data), ""]
    for node in supervisor.nodes.values():
        lines.append("  node %d  clients %s  peers %s  http %s  pid %d"
                     % (node.id, node.client, node.peer, node.http, node.process.pid))
    lines += [
        "",
        "Dashboard:  http://%s/dashboard?supervisor=%s" % (first.http, control),
        "",
        "Connect:",
        "  redis-cli -c -p %s                  # -c follows MOVED to the leader" % client_port,
        "  redis-cli -c -p %s SET favorite_food pickles" % client_port,
        "  redis-cli -p %s INFO raft           # raft_role, raft_leader_id, faults" % client_port,
        "",
        "Control API (%s, this machine only):" % control,
        "  curl -s %s/api/nodes" % control,
        "  redis-cli -p %s INFO raft | grep raft_leader_id     # find the leader, say 2"
        % client_port,
        "  curl -s -X POST %s/api/nodes/2/kill       # kill -9 the leader: watch another "
        "take over" % control,
        "  curl -s -X POST %s/api/nodes/2/restart    # it comes back and catches up" % control,
        "  curl -s -X POST %s/api/nodes/3/pause      # SIGSTOP; /resume is SIGCONT" % control,
        "",
        "Fault injection is ON on every node (--enable-fault-injection) because this is a demo",
        "cluster; never use it in production. Cut node 1 off and see its writes refused:",
        "  redis-cli -p %s RAFT.FAULT CUT ALL       # drop all it sends and receives"
        % client_port,
        "  redis-cli -p %s SET x 1                  # refused (CLUSTERDOWN) once it knows"
        % client_port,
        "  redis-cli -p %s RAFT.FAULT DELAY 2 200   # 200 ms on node 1's link to node 2"
        % client_port,
        "  redis-cli -p %s RAFT.FAULT LIST; redis-cli -p %s RAFT.FAULT HEAL"
        % (client_port, client_port),
        "  curl -s -X POST http://%s/api/fault -d '{\"action\":\"loss\",\"peer\":\"all\","
        "\"percent\":30}'" % first.http,
        "",
        "Ctrl-C stops the cluster (the data stays for the next make run).",
    ]
    print("\n".join(lines), flush=True)


def main(argv=None):
    settings = parse_arguments(sys.argv[1:] if argv is None else argv)
    if not os.access(settings.binary, os.X_OK):
        sys.exit("raftkv: no executable at %s (make build, or --binary)" % settings.binary)
    check_data(settings)
    supervisor = Supervisor(settings)
    stop = threading.Event()

    def on_signal(*_):
        supervisor.stopping = True  # from now on a node's exit is expected
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", settings.control_port),
                                                 make_handler(supervisor))
    except OSError as error:
        sys.exit("raftkv: cannot serve the control API on 127.0.0.1:%d: %s"
                 % (settings.control_port, error))
    server.daemon_threads = True
    for node in supervisor.nodes.values():
        supervisor.start(node)
    threading.Thread(target=server.serve_forever, name="control-api", daemon=True).start()
    banner(supervisor)
    while not stop.wait(0.5):
        pass
    say("raftkv: stopping every node")
    supervisor.stop_all()
    server.shutdown()
    server.server_close()
    say("raftkv: cluster stopped; data kept in %s" % settings.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
