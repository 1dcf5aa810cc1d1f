"""test_supervisor.py — scripts/supervisor.py, the demo cluster of `make run`, on free ports:
its control API kills, restarts, pauses and resumes nodes as a newcomer would click them, and
Ctrl-C leaves no process behind.

Happy path: the supervisor starts 3 nodes (data in a temporary directory, the binary of
RAFTKV_BINARY) with fault injection on and prints the dashboard URL; killing the leader through
POST /api/nodes/<id>/kill makes another node leader (seen through redis-py); restart brings the
node back, caught up; pause and resume stop and continue the process (its /proc state says
so); errors are 404/409 JSON; CORS preflights are answered; SIGINT, with a node paused, stops
every node and exits 0.

Failure modes: every wait is bounded; the supervisor's output is kept and printed when a test
fails; the fixture kills the supervisor's process group whatever happened.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import redis

from harness import DEFAULT_BINARY, wait_until

SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                          "supervisor.py")
WAIT_S = 20.0
PORT_LOW = 12000
STOP_BOUND_S = 30.0  # ASan's leak check at exit is slow on a busy machine


def free_base(count, attempts=200):
    """A port p such that p..p+count-1 are all free on 127.0.0.1, below the kernel's ephemeral
    range (ip_local_port_range), so that no outgoing connection — the nodes dial each other
    from 127.0.0.1 — can take one between this check and the node's bind."""
    low, high = PORT_LOW, ephemeral_low() - count
    for attempt in range(attempts):
        base = low + (os.getpid() * 131 + attempt * 977) % (high - low)
        ok = True
        for port in range(base, base + count):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class Running:
    """One supervisor process, its ports, and its output collected by a thread."""

    def __init__(self, root, nodes=3):
        base = free_base(16)
        self.ports = {"client": base, "peer": base + 5, "http": base + 10, "control": base + 15}
        binary = os.environ.get("RAFTKV_BINARY", DEFAULT_BINARY)
        self.arguments = [sys.executable, SUPERVISOR, "--binary", binary,
                          "--data", os.path.join(root, "data"),
                          "--client-port", str(self.ports["client"]),
                          "--peer-port", str(self.ports["peer"]),
                          "--http-port", str(self.ports["http"]),
                          "--control-port", str(self.ports["control"]), "--nodes", str(nodes),
                          "--lecture-report", os.path.join(root, "report.html")]
        self.lecture_report = os.path.join(root, "report.html")
        self.output = []
        self.process = subprocess.Popen(self.arguments, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.output.append(line.decode(errors="replace"))

    def text(self):
        return "".join(self.output)

    def request(self, method, path, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.ports["control"], timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            body = response.read()
            return response.status, dict(response.getheaders()), (json.loads(body) if body
                                                                   else None)
        finally:
            connection.close()

    def nodes(self):
        status, _, body = self.request("GET", "/api/nodes")
        assert status == 200
        return {node["id"]: node for node in body}

    def act(self, node_id, action):
        return self.request("POST", "/api/nodes/%d/%s" % (node_id, action))

    def client(self, node_id):
        return redis.Redis(host="127.0.0.1", port=self.ports["client"] + node_id - 1,
                           socket_timeout=5, socket_connect_timeout=2)


def raft(running, node_id):
    return running.client(node_id).info("raft")


def leader_among(running, ids):
    """The leader that the given nodes agree on, or None."""
    seen = set()
    for node_id in ids:
        try:
            info = raft(running, node_id)
        except redis.RedisError:
            return None
        seen.add(info["raft_leader_id"])
    return seen.pop() if len(seen) == 1 and 0 not in seen else None


def process_state(pid):
    """The one-letter state of /proc/<pid>/status (R, S, T for stopped), None when gone."""
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("State:"):
                    return line.split()[1]
    except FileNotFoundError:
        return None
    return None


def gone(pid):
    state = process_state(pid)
    return state is None or state == "Z"


@pytest.fixture
def supervisor(request):
    yield from _supervisor(request, 3)


@pytest.fixture
def supervisor_of_five(request):
    yield from _supervisor(request, 5)


def _supervisor(request, nodes):
    root = tempfile.mkdtemp(prefix="raftkv-supervisor-")
    running = Running(root, nodes)
    try:
        wait_until(lambda: "Ctrl-C stops the cluster" in running.text(), timeout_s=WAIT_S,
                   what="the supervisor's banner")
        yield running
    finally:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait()
        if getattr(request.node, "report_call", None) is not None and \
                request.node.report_call.failed:
            sys.stderr.write("supervisor output:\n%s\n" % running.text()[-20000:])
        subprocess.run(["rm", "-rf", root], check=False)


def test_the_supervisor_kills_restarts_pauses_and_stops_its_nodes(supervisor):
    running = supervisor
    text = running.text()
    control = "http://127.0.0.1:%d" % running.ports["control"]
    assert "http://127.0.0.1:%d/dashboard?supervisor=%s" % (running.ports["http"], control) in text
    assert "redis-cli -c -p %d" % running.ports["client"] in text
    assert "Fault injection is ON" in text and "RAFT.FAULT" in text
    assert "curl -s -X POST %s/api/nodes/2/kill" % control in text
    nodes = running.nodes()
    assert sorted(nodes) == [1, 2, 3]
    assert all(node["state"] == "running" and node["pid"] > 0 for node in nodes.values())
    assert nodes[2]["client"] == "127.0.0.1:%d" % (running.ports["client"] + 1)
    assert nodes[3]["http"] == "127.0.0.1:%d" % (running.ports["http"] + 2)
    wait_until(lambda: leader_among(running, [1, 2, 3]) is not None, timeout_s=WAIT_S,
               what="a leader")
    old = leader_among(running, [1, 2, 3])
    assert raft(running, old)["fault_injection"] == "enabled"
    running.client(old).set("before", "the kill")

    # Kill the leader: another takes over, and a write goes through it.
    status, headers, body = running.act(old, "kill")
    assert status == 200 and body["state"] == "killed", body
    assert headers["Access-Control-Allow-Origin"] == "*"
    wait_until(lambda: gone(nodes[old]["pid"]), timeout_s=5, what="the killed process to go")
    others = [i for i in (1, 2, 3) if i != old]
    wait_until(lambda: leader_among(running, others) not in (None, old), timeout_s=WAIT_S,
               what="a new leader among %s" % others)
    new = leader_among(running, others)
    running.client(new).set("after", "the kill")
    assert running.act(old, "kill")[0] == 409
    assert running.act(old, "pause")[0] == 409
    assert running.nodes()[old]["state"] == "killed"

    # Restart it: a new process that catches up.
    status, _, body = running.act(old, "restart")
    assert status == 200 and body["state"] == "running" and body["pid"] != nodes[old]["pid"]
    wait_until(lambda: _readonly_get(running, old, "after") == b"the kill", timeout_s=WAIT_S,
               what="the restarted node to catch up")

    # Pause and resume a follower: its process stops and continues.
    follower = [i for i in others if i != new][0]
    status, _, body = running.act(follower, "pause")
    assert status == 200 and body["state"] == "paused"
    wait_until(lambda: process_state(body["pid"]) == "T", timeout_s=5, what="SIGSTOP")
    assert running.act(follower, "pause")[0] == 409
    status, _, body = running.act(follower, "resume")
    assert status == 200 and body["state"] == "running"
    wait_until(lambda: process_state(body["pid"]) in ("S", "R"), timeout_s=5, what="SIGCONT")
    assert running.act(follower, "resume")[0] == 409

    # Errors and CORS.
    assert running.act(9, "kill")[0] == 404
    assert running.act(1, "explode")[0] == 404
    assert running.request("GET", "/nowhere")[0] == 404
    status, headers, _ = running.request("OPTIONS", "/api/nodes/1/kill",
                                         {"Origin": "http://127.0.0.1:9121",
                                          "Access-Control-Request-Method": "POST"})
    assert status == 204
    assert headers["Access-Control-Allow-Methods"] == "POST, GET"
    assert headers["Access-Control-Allow-Headers"] == "Content-Type"

    # Ctrl-C with a node paused: every node stops, the supervisor exits 0.
    status, _, body = running.act(follower, "pause")
    assert status == 200
    pids = [node["pid"] for node in running.nodes().values()]
    began = time.monotonic()
    running.process.send_signal(signal.SIGINT)
    code = running.process.wait(timeout=STOP_BOUND_S)
    took = time.monotonic() - began
    assert code == 0, running.text()[-3000:]
    assert all(gone(pid) for pid in pids), [(pid, process_state(pid)) for pid in pids]
    assert took < STOP_BOUND_S
    running.reader.join(timeout=5)
    assert "cluster stopped" in running.text()


def _readonly_get(running, node_id, key):
    try:
        client = running.client(node_id)
        client.execute_command("READONLY")
        return client.get(key)
    except redis.RedisError:
        return None


def test_the_supervisor_serves_make_lectures_report_for_the_dashboard(supervisor):
    """The dashboard links make lecture's last report through the supervisor: 404 with a hint
    until a run wrote one, then the file itself, with CORS like the rest of the API."""
    def get():
        connection = http.client.HTTPConnection("127.0.0.1", supervisor.ports["control"],
                                                timeout=10)
        try:
            connection.request("GET", "/lecture/report.html")
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    status, _, body = get()
    assert status == 404 and b"make lecture" in body
    page = "<!doctype html><title>lecture</title><p>naive: split brain</p>\n"
    with open(supervisor.lecture_report, "w") as out:
        out.write(page)
    status, headers, body = get()
    assert status == 200 and body == page.encode()
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_a_data_directory_of_another_size_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "supervisor.json").write_text('{"nodes": 3}')
    binary = os.environ.get("RAFTKV_BINARY", DEFAULT_BINARY)
    result = subprocess.run([sys.executable, SUPERVISOR, "--nodes", "5", "--binary", binary,
                             "--data", str(data), "--control-port", str(free_base(1))],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "holds a 3-node cluster" in result.stderr


def test_five_nodes_elect_one_leader_and_stop_cleanly(supervisor_of_five):
    running = supervisor_of_five
    nodes = running.nodes()
    assert sorted(nodes) == [1, 2, 3, 4, 5]
    assert nodes[5]["client"] == "127.0.0.1:%d" % (running.ports["client"] + 4)
    wait_until(lambda: leader_among(running, [1, 2, 3, 4, 5]) is not None, timeout_s=WAIT_S,
               what="a leader of five")
    leader = leader_among(running, [1, 2, 3, 4, 5])
    assert raft(running, leader)["raft_voters"] == 5
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=STOP_BOUND_S) == 0
    assert all(gone(node["pid"]) for node in nodes.values())
