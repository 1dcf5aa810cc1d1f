"""test_metrics.py — /metrics, /livez and /readyz over HTTP (--metrics-addr, server/metrics.c).

Each node of a 3-node cluster serves its own numbers: exactly one says it leads, all agree on
the term and know a leader, writes move the commit index, the fsync histogram and the per-
command counters, error replies are counted by their first word; the text parses as the
Prometheus exposition format (every sample line a name, optional labels, a number; histogram
buckets cumulative). Health: /livez answers while the process serves; /readyz answers 503 with
its reason once the node's majority is gone, and 200 again when it returns. Hostile requests
(unknown path, POST, an overlong URL, a body, garbage, a silent connection, a flood of
connections) get an HTTP error or a close, and the node keeps serving.
"""

import http.client
import re
import socket
import time

import pytest
import redis

from harness import PEER_PORT_OFFSET, Cluster, wait_until

METRICS_PORT_OFFSET = 2 * PEER_PORT_OFFSET
SAMPLE = re.compile(r'^(raftkv_[a-z_]+)(\{[a-z]+="[^"]*"(?:,[a-z]+="[^"]*")*\})? '
                    r'(-?[0-9.e+]+|\+Inf)$')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(3, root=str(tmp_path_factory.mktemp("metrics")))
    for node_id in cluster.ids():
        node = cluster.node(node_id)
        node.extra_args = ["--metrics-addr", metrics_address(node)]
    cluster.start()
    cluster.wait_for_leader()
    yield cluster
    cluster.close()


def metrics_address(node):
    return "%s:%d" % (node.host, node.client_port + METRICS_PORT_OFFSET)


def get(node, path, method="GET", body=None, timeout_s=5):
    connection = http.client.HTTPConnection(node.host, node.client_port + METRICS_PORT_OFFSET,
                                            timeout=timeout_s)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def samples(node):
    status, text = get(node, "/metrics")
    assert status == 200
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, "not a Prometheus sample line: %r" % line
        values[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return values


def test_each_node_reports_the_cluster_it_sees(cluster):
    leader_id = cluster.wait_for_leader()
    client = cluster.client(leader_id)
    for i in range(100):
        client.set("metrics:%d" % i, i)
    cluster.wait_applied()
    everyone = {node_id: samples(cluster.node(node_id)) for node_id in cluster.ids()}
    assert [i for i, s in everyone.items() if s["raftkv_is_leader"] == 1] == [leader_id]
    assert {s["raftkv_term"] for s in everyone.values()} == {everyone[leader_id]["raftkv_term"]}
    for node_id, values in everyone.items():
        assert values["raftkv_has_leader"] == 1
        assert values["raftkv_is_learner"] == 0
        assert values["raftkv_commit_index"] >= 100
        assert values["raftkv_applied_index"] >= 100
        assert values["raftkv_keys"] >= 100
        assert values["raftkv_wal_fsync_duration_seconds_count"] > 0
        buckets = [v for k, v in values.items()
                   if k.startswith("raftkv_wal_fsync_duration_seconds_bucket")]
        assert buckets == sorted(buckets), "histogram buckets must be cumulative"
        assert buckets[-1] == values["raftkv_wal_fsync_duration_seconds_count"]
        assert values["raftkv_apply_duration_seconds_count"] > 0
    leader = everyone[leader_id]
    for peer in cluster.ids():
        if peer != leader_id:  # the leader times its heartbeats to each follower
            assert leader['raftkv_peer_round_trip_time_seconds_count{peer="%d"}' % peer] > 0
    assert "raftkv_snapshot_sent_bytes_total" in leader
    assert leader['raftkv_commands_total{command="set"}'] >= 100
    assert leader["raftkv_proposals_committed_total"] >= 100
    assert leader["raftkv_connected_clients"] >= 1


def test_error_replies_are_counted_by_kind(cluster):
    leader_id = cluster.wait_for_leader()
    leader = cluster.node(leader_id)
    client = cluster.client(leader_id)
    client.set("metrics:string", "x")
    before = samples(leader).get('raftkv_errors_total{type="WRONGTYPE"}', 0)
    for _ in range(3):
        with pytest.raises(redis.ResponseError):
            client.lpush("metrics:string", "y")
    after = samples(leader)['raftkv_errors_total{type="WRONGTYPE"}']
    assert after == before + 3
    follower_id = next(i for i in cluster.ids() if i != leader_id)
    follower = cluster.client(follower_id)
    with pytest.raises(redis.ResponseError, match="MOVED"):
        follower.set("metrics:k", "v")
    assert samples(cluster.node(follower_id))['raftkv_errors_total{type="MOVED"}'] >= 1


def test_hostile_requests_get_http_errors(cluster):
    node = cluster.node(cluster.ids()[0])
    assert get(node, "/nope")[0] == 404
    assert get(node, "/metrics", method="POST", body="x")[0] in (400, 405)
    assert get(node, "/metrics", method="DELETE")[0] == 405
    assert get(node, "/" + "x" * 1000)[0] == 414
    assert get(node, "/metrics?x=1")[0] == 200
    assert get(node, "/livez", method="HEAD")[0] == 200
    host, port = node.host, node.client_port + METRICS_PORT_OFFSET
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(b"\x00\x01 not http at all\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    with socket.create_connection((host, port), timeout=10) as silent:
        started = time.monotonic()
        reply = silent.recv(100)  # the server gives up on a request that never comes
        assert reply.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 9
    flood = [socket.create_connection((host, port), timeout=5) for _ in range(100)]
    try:
        assert cluster.client(node.id).ping()
    finally:
        for connection in flood:
            connection.close()
    assert get(node, "/livez") == (200, "ok\n")


def test_a_failover_shows_in_the_metrics(cluster):
    """Scraped all along: has_leader 1 -> 0 (the leader and another node gone) -> 1 (back,
    a leader elected), and the leader changes seen rising."""
    old_leader = cluster.wait_for_leader()
    watcher = next(i for i in cluster.ids() if i != old_leader)
    others = [i for i in cluster.ids() if i != watcher]
    node = cluster.node(watcher)
    before = samples(node)
    assert before["raftkv_has_leader"] == 1
    seen = [1.0]
    for node_id in others:
        cluster.stop(node_id)
    try:
        deadline = time.monotonic() + 20
        while seen[-1] != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            seen.append(samples(node)["raftkv_has_leader"])
    finally:
        for node_id in others:
            cluster.start_node(node_id)
    deadline = time.monotonic() + 20
    while seen[-1] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        seen.append(samples(node)["raftkv_has_leader"])
    after = samples(node)
    assert seen[0] == 1 and 0 in seen and seen[-1] == 1, seen
    assert after["raftkv_leader_changes_seen_total"] > before["raftkv_leader_changes_seen_total"]
    assert after["raftkv_term"] > before["raftkv_term"]
    assert after["raftkv_proposals_applied_total"] >= before["raftkv_proposals_applied_total"]
    cluster.wait_for_leader()


def test_readiness_follows_the_majority(cluster):
    for node_id in cluster.ids():
        assert get(cluster.node(node_id), "/readyz") == (200, "ok\n")
        assert get(cluster.node(node_id), "/livez") == (200, "ok\n")
    survivor, *others = cluster.ids()
    for node_id in others:
        cluster.stop(node_id)
    try:
        node = cluster.node(survivor)
        wait_until(lambda: get(node, "/readyz")[0] == 503, timeout_s=20,
                   what="/readyz to answer 503 without a majority")
        status, body = get(node, "/readyz")
        assert body == "no leader is known\n"
        assert get(node, "/livez") == (200, "ok\n")
        assert samples(node)["raftkv_has_leader"] == 0
    finally:
        for node_id in others:
            cluster.start_node(node_id)
    cluster.wait_for_leader()
    wait_until(lambda: get(cluster.node(survivor), "/readyz")[0] == 200, timeout_s=20,
               what="/readyz to answer 200 again")
