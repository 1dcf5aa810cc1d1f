"""test_server_introspection.py — what an operator's tools read: a Redis-shaped INFO (the
sections and field names redis_exporter, RedisInsight and `redis-cli --stat` read, with
numbers that move with the work done), CONFIG GET / SET / REWRITE, SLOWLOG, LATENCY and
CLIENT LIST / INFO / KILL / NO-EVICT. Error texts are compared with redis-server 7.0 side by
side; the rest is checked against what the test did.
"""

import os
import subprocess
import time

import pytest
import redis

from compat import compat, fresh, redis_server  # noqa: F401 -- pytest fixtures
from harness import Cluster, parse_info, wait_until

SIDE_BY_SIDE = [
    "CONFIG SET daemonize yes", "CONFIG SET nosuch 1", "CONFIG SET maxclients",
    "CONFIG GET", "CONFIG GET save", "CONFIG GET appendonly",
    "CONFIG NOSUCH", "CLIENT KILL 1.2.3.4:5", "CLIENT KILL ID 99999999",
    "CLIENT KILL ID 0", "CLIENT KILL TYPE bogus", "CLIENT LIST TYPE bogus",
    "CLIENT NO-EVICT on", "CLIENT NO-EVICT off", "CLIENT NO-EVICT maybe",
    "SLOWLOG NOSUCH", "SLOWLOG GET -2", "LATENCY RESET nosuch",
]


def test_errors_and_fixed_answers_as_redis(fresh):
    fresh.compare_many(SIDE_BY_SIDE)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("introspection"))
    config_file = os.path.join(root, "raftkv.conf")
    with open(config_file, "w") as file:
        file.write("# an operator's file\nslowlog-max-len 50\nrequest-timeout-ms 5000\n")
    cluster = Cluster(1, root=root, extra_args=["--config", config_file])
    cluster.start()
    cluster.wait_for_leader()
    yield cluster, config_file
    cluster.close()


def client_of(cluster, **options):
    return cluster.client(cluster.ids()[0], **options)


def test_info_has_redis_sections_with_real_numbers(node):
    cluster, _ = node
    client = client_of(cluster)
    for i in range(50):
        client.set("info:%d" % i, i)
    with pytest.raises(redis.ResponseError):
        client.lpush("info:0", "x")
    info = client.info("everything")
    for field in ["redis_version", "redis_mode", "os", "arch_bits", "process_id", "tcp_port",
                  "uptime_in_seconds", "connected_clients", "maxclients", "blocked_clients",
                  "used_memory", "used_memory_rss", "used_memory_peak", "maxmemory",
                  "loading", "aof_enabled", "total_connections_received",
                  "total_commands_processed", "instantaneous_ops_per_sec",
                  "total_net_input_bytes", "total_error_replies", "role", "used_cpu_sys",
                  "used_cpu_user", "db0", "raft_term"]:
        assert field in info, field
    assert info["cmdstat_set"]["calls"] >= 50
    assert info["cmdstat_set"]["usec"] > 0
    assert info["cmdstat_lpush"]["failed_calls"] == 1
    errors = info["errorstat_WRONGTYPE"]  # redis-py leaves "count=N" unparsed
    assert int(errors["count"] if isinstance(errors, dict) else errors.split("=")[1]) >= 1
    assert info["db0"]["keys"] >= 50
    assert info["total_error_replies"] >= 1
    latency = client.info("latencystats")
    assert "p50" in latency["latency_percentiles_usec_set"], latency


def test_redis_cli_stat_shows_numbers(node):
    cluster, _ = node
    target = cluster.node(cluster.ids()[0])
    process = subprocess.run(["timeout", "3", "stdbuf", "-oL", "redis-cli", "-h", target.host, "-p",
                              str(target.client_port), "--stat", "-i", "0.5"],
                             capture_output=True, text=True)
    lines = [line for line in process.stdout.splitlines() if line.strip()]
    assert any("keys" in line and "mem" in line for line in lines), process.stdout
    assert any(line.strip()[0].isdigit() for line in lines[1:]), process.stdout


def test_config_set_changes_what_it_says_and_rewrite_keeps_it(node):
    cluster, config_file = node
    client = client_of(cluster)
    assert client.config_set("slowlog-max-len", 7)
    assert client.config_get("slowlog-max-len") == {"slowlog-max-len": "7"}
    assert client.config_set("maxclients", 3)
    others = [client_of(cluster) for _ in range(3)]
    try:
        refused = 0
        for other in others:
            try:
                other.ping()
            except redis.ConnectionError:
                refused += 1
            except redis.ResponseError as error:
                assert "max number of clients reached" in str(error)
                refused += 1
        assert refused >= 1
    finally:
        for other in others:
            other.close()
    assert client.config_set("maxclients", 10000)
    assert client.execute_command("CONFIG", "REWRITE") == b"OK"
    with open(config_file) as file:
        text = file.read()
    assert "# an operator's file" in text and "slowlog-max-len 7" in text
    assert text.count("slowlog-max-len") == 1
    node_id = cluster.ids()[0]
    cluster.restart(node_id)
    cluster.wait_for_leader()
    assert client_of(cluster).config_get("slowlog-max-len") == {"slowlog-max-len": "7"}


def test_slowlog_and_latency_record_what_was_slow(node):
    cluster, _ = node
    client = client_of(cluster)
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    client.set("slow:key", "value")
    entries = client.slowlog_get(10)
    assert any(entry["command"].startswith(b"SET slow:key") for entry in entries), entries
    assert client.slowlog_len() >= 1
    client.config_set("slowlog-log-slower-than", -1)
    client.slowlog_reset()
    client.set("slow:key", "value")
    assert client.slowlog_len() == 0
    client.config_set("slowlog-log-slower-than", 10000)
    client.config_set("latency-monitor-threshold", 1)
    client.execute_command("LATENCY", "RESET")
    wait_until(lambda: client.set("latency:key", "x" * 100000) and
               client.execute_command("LATENCY", "LATEST"), timeout_s=20,
               what="a latency event of at least 1 ms")
    latest = client.execute_command("LATENCY", "LATEST")
    assert {event[0] for event in latest} & {b"command", b"wal-fsync", b"apply"}
    history = client.execute_command("LATENCY", "HISTORY", latest[0][0])
    assert history and all(len(sample) == 2 for sample in history)
    client.config_set("latency-monitor-threshold", 0)


def test_client_list_info_and_kill(node):
    cluster, _ = node
    admin = client_of(cluster)
    target = cluster.node(cluster.ids()[0])
    victim = redis.Connection(host=target.host, port=target.client_port, socket_timeout=5)
    victim.send_command("CLIENT", "SETNAME", "victim")
    assert victim.read_response() == b"OK"
    victim.send_command("PING")
    assert victim.read_response() == b"PONG"
    listing = admin.client_list()
    mine = [c for c in listing if c["name"] == "victim"]
    assert len(mine) == 1 and mine[0]["cmd"] == "ping" and mine[0]["user"] == "default", mine
    info = admin.execute_command("CLIENT", "INFO").decode()
    assert info.startswith("id=") and "cmd=client|info" in info
    assert admin.execute_command("CLIENT", "KILL", "ID", mine[0]["id"]) == 1
    with pytest.raises((redis.ConnectionError, OSError)):
        victim.send_command("PING")
        victim.read_response()
    assert all(c["name"] != "victim" for c in admin.client_list())
    assert admin.execute_command("CLIENT", "KILL", "USER", "nobody") == 0
    victim.disconnect()
