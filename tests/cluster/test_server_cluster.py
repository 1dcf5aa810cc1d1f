"""test_server_cluster.py — raftkv as a cluster: redirects, cluster-aware clients and tools,
leadership, crashes, restarts and catch-up, with real processes on loopback.

Happy path: the first tests share the module's 3-node cluster (`cluster`) and check what any
Redis Cluster client relies on — MOVED to the leader's address, CLUSTER SLOTS/SHARDS/NODES,
INFO replication roles, READONLY reads on followers — and that redis-cli -c, redis-py's
RedisCluster and redis-benchmark work unchanged. The later tests each start a private cluster
(`make_cluster`) and hurt it: kill -9 of the leader, a full restart, a follower down while the
others write, and a follower down long enough that the leader compacts its log, so that it
must catch up from a snapshot. Every acknowledged write must survive all of it.

Failure modes: every wait is bounded (harness.WAIT_TIMEOUT_S); on failure the cluster's
directory is kept and every node's log is attached to the report (conftest.py).
"""

import os
import re
import subprocess
import threading
import time

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from harness import WAIT_TIMEOUT_S, parse_fields, wait_until

ELECTION_BOUND_TIMEOUTS = 10  # a new leader within this many election timeouts
SUBPROCESS_TIMEOUT_S = 60
BENCHMARK_REQUESTS = 2000
BENCHMARK_CLIENTS = 10
ACKED_WRITES = 300
PIPELINE_CHUNK = 50
SNAPSHOT_ENTRIES = 200
SNAPSHOT_WRITES = 1000  # five times SNAPSHOT_ENTRIES: the leader compacts past the follower


def followers(cluster, leader_id):
    return [node_id for node_id in cluster.ids() if node_id != leader_id]


def moved_target(client, *arguments):
    """Runs a command that must be redirected; returns (slot, 'host:port')."""
    with pytest.raises(redis.ResponseError) as raised:
        client.execute_command(*arguments)
    match = re.fullmatch(r"MOVED (\d+) (\S+)", str(raised.value))
    assert match, "expected MOVED, got %r" % str(raised.value)
    return int(match.group(1)), match.group(2)


def write_keys(client, prefix, count):
    """Writes prefix:i = v-i for i < count in pipelined chunks; returns {key: value} of the
    writes the leader acknowledged (all of them, or the call raises)."""
    acked = {}
    for start in range(0, count, PIPELINE_CHUNK):
        pipe = client.pipeline(transaction=False)
        keys = [b"%s:%d" % (prefix.encode(), i) for i in range(start, min(count, start +
                                                                             PIPELINE_CHUNK))]
        for key in keys:
            pipe.set(key, b"v-" + key)
        for key, reply in zip(keys, pipe.execute()):
            assert reply is True
            acked[key] = b"v-" + key
    return acked


def read_keys(client, keys):
    keys = sorted(keys)
    values = {}
    for start in range(0, len(keys), PIPELINE_CHUNK):
        chunk = keys[start:start + PIPELINE_CHUNK]
        values.update(zip(chunk, client.mget(chunk)))
    return values


def readonly_client(cluster, node_id):
    client = cluster.client(node_id)
    assert client.execute_command("READONLY") is True
    return client


def wait_for_new_leader(cluster, old_leader_id, timeout_s=WAIT_TIMEOUT_S):
    def elected():
        leader_id = cluster.leader(timeout_s=timeout_s)
        return leader_id if leader_id != old_leader_id else None
    return wait_until(elected, timeout_s=timeout_s, what="a leader other than %d" % old_leader_id,
                      on_timeout=cluster.describe)


# ---- redirects and topology (the module's shared cluster) ----

def test_followers_redirect_with_moved_to_the_leader(cluster):
    leader_id = cluster.wait_for_leader()
    leader_address = cluster.node(leader_id).address
    for follower_id in followers(cluster, leader_id):
        client = cluster.client(follower_id)
        for key in (b"foo", b"user:{42}:name", b"\x00binary"):
            assert moved_target(client, "SET", key, "v") == (key_slot(key), leader_address)
            assert moved_target(client, "GET", key) == (key_slot(key), leader_address)
        assert moved_target(client, "MGET", "a", "b") == (key_slot(b"a"), leader_address)
        assert client.execute_command("PING") is True  # not every command is redirected
        assert moved_target(client, "DBSIZE") == (0, leader_address)


def test_info_replication_roles(cluster):
    leader_id = cluster.wait_for_leader()
    leader = cluster.info(leader_id, "replication")
    assert leader["role"] == "master"
    assert leader["connected_slaves"] == len(cluster.ids()) - 1
    for follower_id in followers(cluster, leader_id):
        info = cluster.info(follower_id, "replication")
        assert info["role"] == "slave"
        assert info["master_host"] == cluster.node(leader_id).host
        assert info["master_port"] == cluster.node(leader_id).client_port
        assert info["master_link_status"] == "up"
    raft = cluster.raft_info(leader_id)
    assert raft["raft_role"] == "leader" and raft["raft_leader_id"] == leader_id
    for follower_id in followers(cluster, leader_id):
        peer = parse_fields(raft["raft_peer_%d" % follower_id])
        assert peer["connected"] == 1 and peer["match"] >= 1


def test_cluster_slots_shards_nodes_myid_info(cluster):
    leader_id = cluster.wait_for_leader()
    ids = cluster.ids()
    names = {i: b"%040x" % i for i in ids}
    for node_id in ids:
        client = cluster.client(node_id)
        leader = cluster.node(leader_id)
        slots = cluster.raw_command(node_id, "CLUSTER", "SLOTS")
        assert len(slots) == 1
        start, end, primary, *replicas = slots[0]
        assert (start, end) == (0, 16383)
        assert primary == [leader.host.encode(), leader.client_port, names[leader_id]]
        assert sorted(replicas) == sorted(
            [cluster.node(i).host.encode(), cluster.node(i).client_port, names[i]]
            for i in followers(cluster, leader_id))
        assert cluster.raw_command(node_id, "CLUSTER", "MYID") == names[node_id]
        info = client.execute_command("CLUSTER INFO")
        assert info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == len(ids)
        assert int(info["cluster_slots_ok"]) == 16384 and int(info["cluster_size"]) == 1
        shards = cluster.raw_command(node_id, "CLUSTER", "SHARDS")
        assert len(shards) == 1
        shard_fields = dict(zip(shards[0][0::2], shards[0][1::2]))
        assert shard_fields[b"slots"] == [0, 16383]
        nodes = [dict(zip(n[0::2], n[1::2])) for n in shard_fields[b"nodes"]]
        assert [n[b"role"] for n in nodes] == [b"master"] + [b"replica"] * (len(ids) - 1)
        assert nodes[0][b"id"] == names[leader_id]
        assert nodes[0][b"port"] == leader.client_port
        lines = cluster.raw_command(node_id, "CLUSTER", "NODES").decode().splitlines()
        assert len(lines) == len(ids)
        for line in lines:
            fields = line.split()
            member = int(fields[0], 16)
            node = cluster.node(member)
            assert fields[1] == "%s:%d@%d" % (node.host, node.client_port, node.peer_port)
            assert ("myself" in fields[2]) == (member == node_id)
            if member == leader_id:
                assert "master" in fields[2] and fields[3] == "-" and fields[8] == "0-16383"
            else:
                assert "slave" in fields[2] and fields[3] == names[leader_id].decode()
            assert fields[7] == "connected"


def established_peer_links(cluster):
    """{(local_host, remote_host)} of the established TCP connections to or from a peer port,
    from ss(8)."""
    peer_ports = {cluster.node(i).peer_port for i in cluster.ids()}
    output = subprocess.run(["ss", "-tnH", "state", "established"], capture_output=True,
                            text=True, timeout=SUBPROCESS_TIMEOUT_S, check=True).stdout
    links = set()
    for line in output.splitlines():
        local, remote = line.split()[-2:]
        local_host, local_port = local.rsplit(":", 1)
        remote_host, remote_port = remote.rsplit(":", 1)
        if int(local_port) in peer_ports or int(remote_port) in peer_ports:
            links.add((local_host, remote_host))
    return links


def test_peer_links_run_between_the_nodes_own_addresses(cluster):
    """Partitions (nftables rules on 127.0.0.1x addresses) only work if a node dials its
    peers from its own address, not from 127.0.0.1."""
    hosts = {cluster.node(i).host for i in cluster.ids()}
    wanted = {(a, b) for a in hosts for b in hosts if a != b}
    links = wait_until(lambda: (lambda found: found if wanted <= found else None)(
        established_peer_links(cluster)), what="peer links between every pair of nodes")
    assert links <= wanted, "a peer link uses an address that is not a node's: %s" % links


def test_readonly_reads_on_followers_then_readwrite(cluster):
    leader_id = cluster.wait_for_leader()
    cluster.client(leader_id).set("ro:key", "fresh")
    for follower_id in followers(cluster, leader_id):
        client = readonly_client(cluster, follower_id)
        # A follower applies the write shortly after the leader acknowledges it.
        assert wait_until(lambda: client.get("ro:key") == b"fresh", what="a READONLY read")
        assert client.mget("ro:key", "ro:none") == [b"fresh", None]
        assert client.execute_command("READWRITE") is True
        assert moved_target(client, "GET", "ro:key")[1] == cluster.node(leader_id).address
        with pytest.raises(redis.ResponseError, match="^MOVED"):
            readonly_client(cluster, follower_id).set("ro:key", "writes still move")


def test_redis_cli_follows_moved_from_a_follower(cluster):
    leader_id = cluster.wait_for_leader()
    follower = cluster.node(followers(cluster, leader_id)[0])

    def cli(*arguments):
        result = subprocess.run(["redis-cli", "-c", "-h", follower.host, "-p",
                                 str(follower.client_port)] + list(arguments),
                                capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()
    assert cli("SET", "cli:key", "via-redirect") == "OK"
    assert cli("GET", "cli:key") == "via-redirect"
    assert cluster.client(leader_id).get("cli:key") == b"via-redirect"


def test_redis_py_cluster_client_finds_the_leader(cluster):
    leader_id = cluster.wait_for_leader()
    nodes = [ClusterNode(cluster.node(i).host, cluster.node(i).client_port) for i in cluster.ids()]
    client = RedisCluster(startup_nodes=nodes, socket_timeout=10, socket_connect_timeout=2)
    try:
        expected = {"rc:%d" % i: "value-%d" % i for i in range(200)}
        for key, value in expected.items():
            assert client.set(key, value) is True
        for key, value in expected.items():
            assert client.get(key) == value.encode()
        assert client.get_primaries()[0].port == cluster.node(leader_id).client_port
    finally:
        client.close()
    leader = cluster.client(leader_id)
    assert leader.get("rc:199") == b"value-199"


def test_redis_benchmark_runs_without_errors(cluster):
    leader_id = cluster.wait_for_leader()
    leader = cluster.node(leader_id)
    before = cluster.info(leader_id, "stats")
    result = subprocess.run(
        ["redis-benchmark", "-h", leader.host, "-p", str(leader.client_port), "-t",
         "set,get,incr,mset,ping", "-n", str(BENCHMARK_REQUESTS), "-c", str(BENCHMARK_CLIENTS),
         "-q"],
        capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S * 2)
    output = result.stdout + result.stderr
    print(output)
    assert result.returncode == 0, output
    # redis-benchmark 7 stops at the first error reply ("Error from server: ...").
    assert "Error from server" not in output, output
    rates = {}
    for line in result.stdout.replace("\r", "\n").splitlines():
        match = re.match(r"^(.+?): ([0-9.]+) requests per second", line.strip())
        if match:
            rates[match.group(1)] = float(match.group(2))
    for test in ("SET", "GET", "INCR", "PING_INLINE", "PING_MBULK"):
        assert rates.get(test, 0) > 0, (test, rates)
    assert any(name.startswith("MSET") for name in rates), rates
    after = cluster.info(leader_id, "stats")
    # SET, INCR and MSET write; GET reads linearizably; nothing failed or was uncertain.
    assert after["writes_committed"] - before["writes_committed"] >= 3 * BENCHMARK_REQUESTS
    assert after["reads_linearizable"] - before["reads_linearizable"] >= BENCHMARK_REQUESTS
    assert after["total_commands_processed"] - before["total_commands_processed"] >= \
        6 * BENCHMARK_REQUESTS
    assert after["reads_failed"] == before["reads_failed"]
    assert after["writes_uncertain"] == before["writes_uncertain"]
    assert after["writes_retry"] == before["writes_retry"]
    assert after["protocol_errors"] == before["protocol_errors"]


def test_transfer_leader_moves_leadership(cluster):
    leader_id = cluster.wait_for_leader()
    target = followers(cluster, leader_id)[-1]
    assert moved_target(cluster.client(target), "RAFT.TRANSFER-LEADER", str(leader_id))[1] == \
        cluster.node(leader_id).address
    with pytest.raises(redis.ResponseError, match="unknown node id"):
        cluster.client(leader_id).execute_command("RAFT.TRANSFER-LEADER", "99")
    assert cluster.client(leader_id).execute_command("RAFT.TRANSFER-LEADER", str(target)) \
        == b"OK"
    assert wait_until(lambda: cluster.wait_for_leader() == target,
                      what="leadership to move to node %d" % target, on_timeout=cluster.describe)
    # With no id, the most up-to-date other voter takes over.
    assert cluster.client(target).execute_command("RAFT.TRANSFER-LEADER") == b"OK"
    new_leader = wait_for_new_leader(cluster, target)
    client = cluster.client(new_leader)
    assert client.set("transfer:after", "ok") is True and client.get("transfer:after") == b"ok"


# ---- availability and faults (private clusters) ----

def test_clusterdown_when_only_one_node_of_three_runs(make_cluster):
    cluster = make_cluster(start=False)
    cluster.start_node(1)
    client = cluster.client(1, socket_timeout=5)
    time.sleep(3 * cluster.election_timeout_ms / 1000)  # long enough to have tried an election
    assert cluster.raft_info(1)["raft_role"] != "leader"
    for arguments in (("SET", "k", "v"), ("GET", "k"), ("INCR", "n"), ("CLUSTER", "SLOTS")):
        started = time.monotonic()
        with pytest.raises(redis.ResponseError, match="^CLUSTERDOWN"):
            client.execute_command(*arguments)
        assert time.monotonic() - started < 2, "a refusal must come at once"
    assert client.execute_command("CLUSTER INFO")["cluster_state"] == "fail"
    reader = readonly_client(cluster, 1)
    with pytest.raises(redis.ResponseError, match="^CLUSTERDOWN"):
        reader.get("k")  # a linearizable follower read needs a leader to ask
    reader.execute_command("RAFT.CONSISTENCY", "stale")
    assert reader.get("k") is None  # stale reads still work


def test_kill_9_of_the_leader_elects_a_new_one_and_loses_no_acked_write(make_cluster):
    cluster = make_cluster()
    old_leader = cluster.wait_for_leader()
    acked = write_keys(cluster.client(old_leader), "before", ACKED_WRITES)
    # A writer keeps writing one key at a time while the leader dies under it.
    during = {}
    stop = threading.Event()

    def writer():
        client = cluster.client(old_leader, socket_timeout=5)
        for i in range(100000):
            if stop.is_set():
                return
            key = b"during:%d" % i
            try:
                if client.set(key, key) is True:
                    during[key] = key
            except (redis.RedisError, OSError):
                return
    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.5)
    cluster.kill(old_leader)
    killed_at = time.monotonic()
    new_leader = wait_for_new_leader(cluster, old_leader)
    elapsed_ms = (time.monotonic() - killed_at) * 1000
    stop.set()
    thread.join(timeout=WAIT_TIMEOUT_S)
    assert not thread.is_alive()
    print("new leader %d elected %.0f ms after kill -9 of leader %d (election timeout %d ms); "
          "%d writes acknowledged during the run" % (new_leader, elapsed_ms, old_leader,
                                                     cluster.election_timeout_ms, len(during)))
    # A few election timeouts; generous, because ASan and a shared 2-core machine are slow.
    assert elapsed_ms < ELECTION_BOUND_TIMEOUTS * cluster.election_timeout_ms
    assert len(during) > 0
    acked.update(during)
    client = cluster.client(new_leader)
    assert read_keys(client, acked) == acked
    assert client.set("after", "kill") is True
    # The old leader comes back as a follower and catches up.
    cluster.start_node(old_leader)
    cluster.wait_applied()
    assert read_keys(readonly_client(cluster, old_leader), acked) == acked
    assert cluster.raft_info(old_leader)["raft_role"] == "follower"


def test_full_restart_keeps_every_acked_write(make_cluster):
    cluster = make_cluster()
    client = cluster.client(cluster.wait_for_leader())
    acked = write_keys(client, "restart", ACKED_WRITES)
    assert client.incrby("restart:counter", 41) == 41
    acked[b"restart:counter"] = b"41"
    cluster.stop_all()  # SIGTERM, each must exit with 0
    cluster.start()
    client = cluster.client(cluster.wait_for_leader())
    assert read_keys(client, acked) == acked
    assert client.incr("restart:counter") == 42


def test_the_log_rolls_over_into_segments_allocated_ahead(make_cluster):
    """Each node allocates its next WAL segment ahead, off its loop, as <wal>/segment.spare;
    the log rolls over into it, and after a restart every write is still there."""
    segment_bytes = 64 * 1024
    cluster = make_cluster(extra_args=["--wal-segment-bytes", str(segment_bytes)])
    client = cluster.client(cluster.wait_for_leader())
    value = b"x" * 4096
    for i in range(20):  # about 1.3 segments per 20 writes: many rollovers
        pipe = client.pipeline(transaction=False)
        for j in range(20):
            pipe.set("roll:%d" % (i * 20 + j), value)
        assert all(pipe.execute())
    cluster.wait_applied()
    for node_id in cluster.ids():
        wal = os.path.join(cluster.node(node_id).data_dir, "wal")
        names = sorted(os.listdir(wal))
        segments = [name for name in names if name != "segment.spare"]
        assert len(segments) >= 10, (node_id, names)
        spare = os.path.join(wal, "segment.spare")
        wait_until(lambda: os.path.exists(spare) and os.path.getsize(spare) == segment_bytes,
                   what="node %d's spare segment" % node_id)
        assert "spare segment" not in cluster.logs(node_id)
    cluster.stop_all()
    cluster.start()
    client = cluster.client(cluster.wait_for_leader())
    assert client.dbsize() == 400
    assert client.get("roll:399") == value


def test_killed_follower_catches_up_after_restart(make_cluster):
    cluster = make_cluster()
    leader_id = cluster.wait_for_leader()
    victim = followers(cluster, leader_id)[0]
    cluster.kill(victim)
    client = cluster.client(leader_id)
    acked = write_keys(client, "catchup", ACKED_WRITES)  # a majority of two still commits
    cluster.start_node(victim)
    applied = cluster.wait_applied()
    infos = {i: cluster.raft_info(i) for i in cluster.ids()}
    assert {info["raft_applied_index"] for info in infos.values()} == {applied}
    for node_id in cluster.ids():
        assert read_keys(readonly_client(cluster, node_id), acked) == acked
    assert readonly_client(cluster, victim).dbsize() == client.dbsize()


def test_follower_behind_a_compacted_log_catches_up_by_snapshot(make_cluster):
    cluster = make_cluster(snapshot_entries=SNAPSHOT_ENTRIES)
    leader_id = cluster.wait_for_leader()
    victim = followers(cluster, leader_id)[0]
    cluster.stop(victim)
    victim_last_index = cluster.raft_info(leader_id)["raft_commit_index"]
    client = cluster.client(leader_id)
    acked = write_keys(client, "snap", SNAPSHOT_WRITES)
    leader_info = wait_until(
        lambda: (lambda info: info if info["raft_first_index"] > victim_last_index + 1
                 else None)(cluster.raft_info(leader_id)),
        what="the leader to compact its log past the stopped follower",
        on_timeout=cluster.describe)
    assert leader_info["raft_snapshots_taken"] >= 1
    cluster.start_node(victim)
    cluster.wait_applied(timeout_s=2 * WAIT_TIMEOUT_S)
    victim_info = cluster.raft_info(victim)
    print("leader %d compacted to first index %d; follower %d installed %d snapshot(s)"
          % (leader_id, leader_info["raft_first_index"], victim,
             victim_info["raft_snapshots_installed"]))
    assert victim_info["raft_snapshots_installed"] >= 1
    reader = readonly_client(cluster, victim)
    assert read_keys(reader, acked) == acked
    assert reader.dbsize() == client.dbsize() == SNAPSHOT_WRITES
    # It keeps following after the snapshot: a new write reaches it too.
    assert client.set("snap:after", "x") is True
    assert wait_until(lambda: reader.get("snap:after") == b"x", what="a write after the snapshot")


def test_five_nodes_keep_writing_with_two_down(make_cluster):
    cluster = make_cluster(size=5)
    leader_id = cluster.wait_for_leader()
    down = followers(cluster, leader_id)[:2]
    for node_id in down:
        cluster.kill(node_id)
    client = cluster.client(leader_id)
    acked = write_keys(client, "five", PIPELINE_CHUNK * 2)  # three of five still commit
    for node_id in down:
        cluster.start_node(node_id)
    cluster.wait_applied()
    for node_id in cluster.ids():
        assert read_keys(readonly_client(cluster, node_id), acked) == acked


def test_paused_leader_is_replaced_and_steps_down_when_resumed(make_cluster):
    cluster = make_cluster()
    old_leader = cluster.wait_for_leader()
    cluster.pause(old_leader)  # SIGSTOP: alive but silent, as in a long GC pause
    paused_at = time.monotonic()
    new_leader = wait_for_new_leader(cluster, old_leader)
    print("node %d took over %.0f ms after SIGSTOP of leader %d"
          % (new_leader, (time.monotonic() - paused_at) * 1000, old_leader))
    client = cluster.client(new_leader)
    assert client.set("pause:k", "written while the old leader slept") is True
    cluster.resume(old_leader)
    # The old leader learns the higher term and follows; it never serves a stale read.
    assert cluster.wait_for_leader() == new_leader
    assert moved_target(cluster.client(old_leader), "GET", "pause:k")[1] == \
        cluster.node(new_leader).address
    cluster.wait_applied()
    assert readonly_client(cluster, old_leader).get("pause:k") == \
        b"written while the old leader slept"


REQUEST_TIMEOUT_MS = 2000


def test_write_without_a_majority_fails_in_bounded_time(make_cluster):
    cluster = make_cluster(request_timeout_ms=REQUEST_TIMEOUT_MS)
    leader_id = cluster.wait_for_leader()
    for node_id in followers(cluster, leader_id):
        cluster.kill(node_id)
    client = cluster.client(leader_id, socket_timeout=REQUEST_TIMEOUT_MS / 1000 + 10)
    started = time.monotonic()
    with pytest.raises(redis.ResponseError) as raised:
        client.set("minority:k", "v")
    elapsed_s = time.monotonic() - started
    print("write without a majority refused after %.0f ms: %s" % (elapsed_s * 1000,
                                                                   raised.value))
    # Either the leader still waits for the entry (UNCERTAIN at the timeout), or it has
    # stepped down (CheckQuorum) and refuses at once; it never hangs and never says OK.
    assert re.match(r"^(UNCERTAIN|TRYAGAIN|CLUSTERDOWN) ", str(raised.value)), raised.value
    assert elapsed_s < REQUEST_TIMEOUT_MS / 1000 + 3
    with pytest.raises(redis.ResponseError, match=r"^(CLUSTERDOWN|TRYAGAIN|UNCERTAIN) "):
        client.get("minority:k")


def test_flushall_empties_every_replica_and_keeps_the_cluster(make_cluster):
    """FLUSHALL is a write like any other: a follower answers MOVED, the leader proposes it, and
    every replica drops every key at the same log index. The cluster's own state (applied index,
    configuration) is not data: the members stay, and writes go on."""
    cluster = make_cluster(size=3)
    leader_id = cluster.wait_for_leader()
    leader = cluster.client(leader_id)
    for i in range(100):
        leader.set("flush:%d" % i, i)
    follower_id = followers(cluster, leader_id)[0]
    with pytest.raises(redis.ResponseError, match="^MOVED 0 "):
        cluster.client(follower_id).execute_command("FLUSHALL", "ASYNC")  # no key: slot 0
    assert leader.execute_command("FLUSHALL", "ASYNC") is True
    assert leader.dbsize() == 0
    cluster.wait_applied()
    for node_id in cluster.ids():
        assert readonly_client(cluster, node_id).dbsize() == 0
    assert cluster.raft_info(leader_id)["raft_voters"] == 3
    with pytest.raises(redis.ResponseError, match="syntax error"):
        leader.execute_command("FLUSHDB", "NOW")
    leader.set("after", "1")
    cluster.restart(follower_id)
    cluster.wait_applied()
    assert readonly_client(cluster, follower_id).get("after") == b"1"
    assert readonly_client(cluster, follower_id).dbsize() == 1
