"""dashboard_fixture.py — what the dashboard's tests share: a cluster whose nodes serve HTTP
and know each other's HTTP addresses, a server-sent-events reader, and a supervisor.

The cluster: every node gets --metrics-addr (its client port + METRICS_PORT_OFFSET, on its own
loopback address) and --member flags with the third, HTTP, address, as scripts/run-cluster.sh
gives them.

EventStream reads GET /api/events over a plain socket, as a browser's EventSource does, and
parses the stream into (event, data) pairs; every read is bounded by a timeout.

ClusterSupervisor answers the supervisor's control API (the one scripts/supervisor.py serves
for `make run`: GET /api/nodes, POST /api/nodes/<id>/kill|restart|pause|resume, CORS and
OPTIONS) over the harness's Cluster, so the browser test drives real processes through the
same buttons a person clicks.
"""

import http.client
import http.server
import json
import socket
import threading
import time

from harness import PEER_PORT_OFFSET, Cluster

METRICS_PORT_OFFSET = 2 * PEER_PORT_OFFSET


def http_address(node):
    return "%s:%d" % (node.host, node.client_port + METRICS_PORT_OFFSET)


def dashboard_cluster(root, size=3, extra_args=(), password=None):
    cluster = Cluster(size, root=root, extra_args=extra_args, password=password)
    for node_id in cluster.ids():
        node = cluster.node(node_id)
        node.extra_args = ["--metrics-addr", http_address(node)]
        for other_id in cluster.ids():
            other = cluster.node(other_id)
            node.member_overrides[other_id] = "%s,%s" % (other.member_flag(), http_address(other))
    return cluster


def get(node, path, timeout_s=5):
    """(status, headers, body) of one GET to a node's HTTP listener."""
    host, port = http_address(node).split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def state(node, timeout_s=5):
    status, headers, body = get(node, "/api/state", timeout_s)
    assert status == 200, body
    return json.loads(body)


class StreamClosed(Exception):
    pass


class EventStream:
    """One GET /api/events, read as a browser's EventSource reads it."""

    def __init__(self, node, timeout_s=5):
        host, port = http_address(node).split(":")
        self.socket = socket.create_connection((host, int(port)), timeout=timeout_s)
        self.socket.sendall(b"GET /api/events HTTP/1.1\r\nHost: %s\r\n"
                            b"Accept: text/event-stream\r\n\r\n" % host.encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._read(time.monotonic() + timeout_s)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in
                        (line.split(":", 1) for line in lines[1:] if ":" in line)}

    def _read(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no event in time")
        self.socket.settimeout(remaining)
        chunk = self.socket.recv(65536)
        if not chunk:
            raise StreamClosed("the node closed the stream")
        self.buffer += chunk

    def next_event(self, timeout_s=5):
        """The next (event, data) pair; comments (heartbeats) are skipped as EventSource does."""
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\n\n" not in self.buffer:
                self._read(deadline)
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            event, data = "message", []
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
            if data:
                return event, "\n".join(data)

    def next_state(self, predicate=lambda s: True, timeout_s=5):
        """The first state event whose object satisfies predicate (bounded by timeout_s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            event, data = self.next_event(max(deadline - time.monotonic(), 0.001))
            if event == "state":
                value = json.loads(data)
                if predicate(value):
                    return value

    def close(self):
        self.socket.close()


class ClusterSupervisor:
    """The supervisor's HTTP control API over a harness Cluster (see the module's text)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        supervisor = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *arguments):
                pass

            def _answer(self, status, value):
                body = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Content-Type")
                self.end_headers()
                self.wfile.write(body)

            def do_OPTIONS(self):
                self._answer(204, {})

            def do_GET(self):
                if self.path != "/api/nodes":
                    self._answer(404, {"error": "try /api/nodes"})
                    return
                self._answer(200, supervisor.nodes())

            def do_POST(self):
                parts = self.path.strip("/").split("/")
                if len(parts) != 4 or parts[:2] != ["api", "nodes"] or not parts[2].isdigit():
                    self._answer(404, {"error": "POST /api/nodes/<id>/<action>"})
                    return
                status, value = supervisor.act(int(parts[2]), parts[3])
                self._answer(status, value)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.actions = []  # (action, id) in the order asked, for the test's assertions

    def nodes(self):
        with self.lock:
            listing = []
            for node_id in self.cluster.ids():
                node = self.cluster.node(node_id)
                running = node.running()
                listing.append({
                    "id": node_id, "pid": node.process.pid if running else None,
                    "state": "paused" if running and node.paused
                    else "running" if running else "killed",
                    "client": node.address, "http": http_address(node)})
            return listing

    def act(self, node_id, action):
        if node_id not in self.cluster.ids():
            return 404, {"error": "no node %d" % node_id}
        with self.lock:
            self.actions.append((action, node_id))
            try:
                self._act(node_id, action)
            except Exception as error:  # a node that would not start, pause of a dead one
                return 409, {"error": str(error)[:2000]}
        return 200, {"id": node_id, "action": action}

    def _act(self, node_id, action):
        node = self.cluster.node(node_id)
        if action == "kill":
            if node.running():
                self.cluster.kill(node_id)
        elif action == "restart":
            if node.running():
                self.cluster.kill(node_id)
            self.cluster.start_node(node_id)
        elif action == "pause":
            self.cluster.pause(node_id)
        elif action == "resume":
            self.cluster.resume(node_id)
        else:
            raise ValueError("kill, restart, pause or resume")

    def close(self):
        self.server.shutdown()
        self.server.server_close()
