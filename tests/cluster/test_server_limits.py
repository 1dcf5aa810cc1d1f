"""test_server_limits.py — every size limit and the space quota, at the limit and one past it,
through real 3-node clusters.

The chain of limits (src/base/limits.h) promises that a request the client's edge accepts fits
every layer under it, and that a request it refuses is refused before anything is proposed:
so the largest value is stored on every node, one byte more is refused with Redis's error, and
the same poison request sent to leader after leader takes none of them down. The space quota
(--max-db-bytes) makes the leader refuse writes that can grow the data with Redis's -OOM
error, while reads, deletes and overwrites with smaller values keep working, and lifts by
itself once space is freed.

Failure modes: every wait is bounded; a node that exits on its own fails the test
(check_alive); the cluster's directory and logs are kept on failure (conftest.py).
"""

import os
import socket

import pytest
import redis

from harness import WAIT_TIMEOUT_S, node_host, wait_until

KIB = 1024
MIB = 1024 * KIB
SMALL_BULK_BYTES = 1 * MIB
# Redis's own default is 512 MiB; raftkv's is 8 MiB (docs/operations.md says why).
DEFAULT_BULK_BYTES = 8 * MIB
QUOTA_BYTES = 4 * MIB
QUOTA_VALUE_BYTES = 100 * 1000
QUOTA_MAX_WRITES = 200  # the quota of 4 MiB stops 100 KB writes long before this


def encoded_bytes(*arguments):
    """A request's size as a log entry (kv's encoding; base/limits.h's LIMITS_REQUEST_BYTES)."""
    return 13 + sum(4 + len(argument) for argument in arguments)


def raw_reply(host, port, payload, timeout_s=WAIT_TIMEOUT_S):
    """Sends raw bytes and reads until the server replies and, for a protocol error, closes.
    Returns (reply bytes, closed by the server)."""
    with socket.create_connection((host, port), timeout=timeout_s) as connection:
        connection.sendall(payload)
        received = b""
        while True:
            try:
                chunk = connection.recv(65536)
            except (ConnectionResetError, socket.timeout):
                return received, True
            if not chunk:
                return received, True
            received += chunk
            if received.endswith(b"\r\n") and not received.startswith(b"-ERR Protocol"):
                return received, False


def assert_cluster_healthy(cluster, term_before=None):
    """All nodes alive, one leader (the same term when given), a new write accepted."""
    cluster.check_alive()
    leader = cluster.wait_for_leader()
    if term_before is not None:
        assert cluster.raft_info(leader)["raft_term"] == term_before, \
            "a refused request must not cost the cluster its leader"
    assert cluster.client(leader).set("after", "ok")
    return leader


def set_value_on_leader(cluster, key, value):
    leader = cluster.wait_for_leader()
    return cluster.client(leader, socket_timeout=60).set(key, value)


def read_everywhere(cluster, key):
    """The value of key on every node's own state machine (READONLY), once all applied."""
    cluster.wait_applied(timeout_s=60)
    values = {}
    for node_id in cluster.ids():
        client = cluster.client(node_id, socket_timeout=60)
        client.execute_command("READONLY")
        values[node_id] = client.get(key)
    return values


@pytest.mark.parametrize("bulk_bytes", [SMALL_BULK_BYTES, DEFAULT_BULK_BYTES],
                         ids=["max-bulk-bytes-1MiB", "default-8MiB"])
def test_largest_value_is_stored_on_every_node_and_one_byte_more_is_refused(make_cluster,
                                                                              bulk_bytes):
    extra = [] if bulk_bytes == DEFAULT_BULK_BYTES else ["--max-bulk-bytes", str(bulk_bytes)]
    cluster = make_cluster(extra_args=extra, request_timeout_ms=30000)
    leader = cluster.wait_for_leader()
    term = cluster.raft_info(leader)["raft_term"]
    largest = b"x" * bulk_bytes
    assert set_value_on_leader(cluster, "largest", largest)
    values = read_everywhere(cluster, "largest")
    assert all(value == largest for value in values.values()), \
        "nodes hold %s" % {node: len(value or b"") for node, value in values.items()}

    node = cluster.node(leader)
    header = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % (bulk_bytes + 1)
    reply, closed = raw_reply(node.host, node.client_port, header)
    assert reply == b"-ERR Protocol error: invalid bulk length\r\n"
    assert closed, "a protocol error closes the connection, as in Redis"
    assert_cluster_healthy(cluster, term)
    assert cluster.client(leader).exists("big") == 0


def test_request_at_max_request_bytes_is_accepted_and_one_byte_more_refused(make_cluster):
    limit = SMALL_BULK_BYTES + 64 * KIB  # the smallest max-request-bytes allowed
    cluster = make_cluster(extra_args=["--max-bulk-bytes", str(SMALL_BULK_BYTES),
                                       "--max-request-bytes", str(limit)])
    leader = cluster.wait_for_leader()
    term = cluster.raft_info(leader)["raft_term"]
    client = cluster.client(leader)
    fixed = encoded_bytes(b"MSET", b"a", b"", b"b", b"")
    first = b"1" * SMALL_BULK_BYTES
    second = b"2" * (limit - fixed - len(first))
    assert encoded_bytes(b"MSET", b"a", first, b"b", second) == limit
    assert client.mset({"a": first, "b": second})
    with pytest.raises(redis.ResponseError) as refused:
        client.mset({"a": first, "b": second + b"!"})
    assert str(refused.value) == ("request of %d bytes exceeds max-request-bytes (%d); the "
                                  "command was not executed" % (limit + 1, limit))
    assert client.get("b") == second, "the refused MSET changed nothing"
    assert_cluster_healthy(cluster, term)
    assert int(cluster.info(leader, "stats")["writes_refused_size"]) == 1


def test_poison_request_sent_to_leader_after_leader_takes_none_down(make_cluster):
    limit = SMALL_BULK_BYTES + 64 * KIB
    cluster = make_cluster(extra_args=["--max-bulk-bytes", str(SMALL_BULK_BYTES),
                                       "--max-request-bytes", str(limit)])
    leader = cluster.wait_for_leader()
    cluster.client(leader).set("before", "kept")
    poison = {"p%d" % i: b"z" * (SMALL_BULK_BYTES // 2) for i in range(3)}
    seen = set()
    for _ in range(len(cluster.ids())):
        leader = cluster.wait_for_leader()
        seen.add(leader)
        with pytest.raises(redis.ResponseError, match="exceeds max-request-bytes"):
            cluster.client(leader).mset(poison)
        cluster.check_alive()
        others = [node_id for node_id in cluster.ids() if node_id not in seen]
        if not others:
            break
        cluster.client(leader).execute_command("RAFT.TRANSFER-LEADER", others[0])
        wait_until(lambda: cluster.leader() == others[0], what="leadership to move")
    assert len(seen) == len(cluster.ids()), "every node led once and refused the poison"
    leader = assert_cluster_healthy(cluster)
    assert cluster.client(leader).get("before") == b"kept"


def fill_until_refused(client):
    """Writes 100 KB values until the leader answers -OOM; returns {key: value} acknowledged
    and the refusal's text."""
    acked = {}
    for i in range(QUOTA_MAX_WRITES):
        key, value = "fill:%d" % i, (b"%d" % i) * (QUOTA_VALUE_BYTES // len(b"%d" % i))
        try:
            client.set(key, value)
        except redis.ResponseError as error:
            return acked, str(error)
        acked[key] = value
    raise AssertionError("%d writes of %d bytes passed a quota of %d bytes"
                         % (QUOTA_MAX_WRITES, QUOTA_VALUE_BYTES, QUOTA_BYTES))


def test_database_at_its_quota_refuses_growth_serves_reads_and_recovers(make_cluster):
    cluster = make_cluster(extra_args=["--max-db-bytes", str(QUOTA_BYTES)])
    leader = cluster.wait_for_leader()
    client = cluster.client(leader)
    acked, refusal = fill_until_refused(client)
    assert refusal == "OOM command not allowed when used memory > 'maxmemory'."
    assert len(acked) * QUOTA_VALUE_BYTES >= QUOTA_BYTES * 0.8, "refused too early"
    raft = cluster.raft_info(leader)
    assert raft["raft_db_quota_alarm"] == 1 and raft["raft_db_used_bytes"] >= QUOTA_BYTES

    # Reads, deletes and writes that cannot grow the data go on; growth stays refused.
    some_key = next(iter(acked))
    assert client.get(some_key) == acked[some_key]
    with pytest.raises(redis.ResponseError, match="^OOM "):
        client.incr("counter")
    with pytest.raises(redis.ResponseError, match="^OOM "):
        client.append(some_key, "more")
    assert client.set(some_key, b"small")
    acked[some_key] = b"small"
    cluster.check_alive()

    # Deleting gives the space back: the alarm clears by itself and writes pass again.
    doomed = sorted(acked)[: len(acked) // 2]
    assert client.delete(*doomed) == len(doomed)
    for key in doomed:
        del acked[key]
    wait_until(lambda: cluster.raft_info(leader)["raft_db_quota_alarm"] == 0,
               what="the quota alarm to clear")
    assert client.incr("counter") == 1
    acked["counter"] = b"1"

    # Every node applied the same thing; every acknowledged write is there.
    cluster.wait_applied()
    for node_id in cluster.ids():
        reader = cluster.client(node_id)
        reader.execute_command("READONLY")
        assert reader.dbsize() == len(acked)
        for key, value in acked.items():
            assert reader.get(key) == value
    assert_cluster_healthy(cluster)


def test_node_starts_in_a_data_directory_that_does_not_exist_yet(tmp_path):
    """The default quota is measured once storage has created the directory: a fresh node used
    to measure a path that did not exist yet, take an absurd quota, and fail to map LMDB."""
    import subprocess
    import time
    from harness import DEFAULT_BINARY, pick_base_port
    binary = os.environ.get("RAFTKV_BINARY", DEFAULT_BINARY)
    port = pick_base_port(1) + 1
    host = node_host(1)
    data = tmp_path / "fresh"  # its parent exists, as /var/lib/raftkv would
    process = subprocess.Popen(
        [binary, "--id", "1", "--data-dir", str(data),
         "--member", "1=%s:%d,%s:%d" % (host, port, host, port + 100)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = redis.Redis(host=host, port=port, socket_timeout=5, socket_connect_timeout=1)
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while True:
            assert process.poll() is None, process.stderr.read().decode(errors="replace")
            try:
                if client.set("fresh", "node"):
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert client.get("fresh") == b"node"
        quota = int(client.info("raft")["raft_max_db_bytes"])
        assert 0 < quota <= 16 << 40, quota
    finally:
        process.terminate()
        process.wait(timeout=30)
