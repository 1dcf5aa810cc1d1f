"""test_server_backup.py — backup, restore and disaster recovery through real processes.

raftkv-backup streams RAFT.BACKUP from a live node while writes go on; raftkv --restore starts a
new single-node cluster from the file, which then grows with --join; a truncated or altered
backup, or a data directory that holds data, is refused before anything is written; after a
majority is lost for good, --force-new-cluster on the survivor brings back every acknowledged
write and says what may have been lost. Every check reads the data back key by key.
"""

import os
import subprocess
import threading

import redis

from harness import WAIT_TIMEOUT_S, wait_until

KEYS = 100_000
BATCH = 2_000


def backup_binary(cluster):
    path = os.path.join(os.path.dirname(cluster.binary), "raftkv-backup")
    assert os.access(path, os.X_OK), "raftkv-backup not built next to %s" % cluster.binary
    return path


def run_backup(cluster, node_id, path, *extra):
    node = cluster.node(node_id)
    return subprocess.run([backup_binary(cluster), *extra, "%s:%d" % (node.host, node.client_port),
                           path], capture_output=True, text=True, timeout=120)


def write_keys(client, prefix, count):
    for start in range(0, count, BATCH):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(count, start + BATCH)):
            pipe.set("%s:%d" % (prefix, i), "value-%d" % i)
        assert all(pipe.execute())


def assert_keys(client, prefix, count):
    for start in range(0, count, BATCH):
        keys = ["%s:%d" % (prefix, i) for i in range(start, min(count, start + BATCH))]
        values = client.mget(keys)
        expected = [("value-%d" % i).encode() for i in range(start, min(count, start + BATCH))]
        missing = [k for k, v, e in zip(keys, values, expected) if v != e]
        assert not missing, "%d keys lost or wrong, e.g. %s" % (len(missing), missing[:3])


def restore_node(cluster, node_id, backup_path):
    """Starts node_id of `cluster` with --restore into its (empty) data directory."""
    cluster.node(node_id).extra_args = ["--restore", backup_path]
    cluster.start_node(node_id)


def promote_when_caught_up(cluster, node_id, timeout_s=6 * WAIT_TIMEOUT_S):
    """RAFT.NODE PROMOTE, retried while the learner has not caught up (it copies a snapshot)."""
    def promoted():
        try:
            cluster.change_membership("PROMOTE", str(node_id))
            return True
        except redis.ResponseError as error:
            if "not caught up" not in str(error):
                raise
            return False
    wait_until(promoted, timeout_s=timeout_s, what="node %d promoted" % node_id)


def test_backup_during_writes_then_restore_and_grow(make_cluster, tmp_path):
    cluster = make_cluster(size=3)
    leader = cluster.leader_client()
    write_keys(leader, "k", KEYS)
    # Writes keep going while the backup runs: the cluster does not pause for it.
    stop = threading.Event()
    during = []

    def writer():
        client = cluster.leader_client()
        i = 0
        while not stop.is_set():
            client.set("during:%d" % i, "x")
            during.append(i)
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    path = str(tmp_path / "cluster.backup")
    try:
        result = run_backup(cluster, cluster.leader(), path)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert "checksums verified" in result.stdout
    assert during, "no write completed while the backup ran"
    cluster.check_alive()
    # A follower serves a backup too.
    follower = next(i for i in cluster.ids() if i != cluster.leader())
    follower_path = str(tmp_path / "follower.backup")
    assert run_backup(cluster, follower, follower_path).returncode == 0

    restored = make_cluster(size=1, start=False)
    restore_node(restored, 1, path)
    restored.wait_for_leader()
    assert "restored %s" % path in restored.logs(1)
    client = restored.leader_client()
    assert_keys(client, "k", KEYS)
    assert client.dbsize() >= KEYS
    restored.node(1).extra_args = []  # as the docs say: drop --restore once it has started
    client.set("after-restore", "yes")
    # Ids 1-3 were the old cluster's: a restored cluster never reuses them.
    try:
        restored.raw_command(1, "RAFT.NODE", "ADD", "3", "127.0.0.1:1", "127.0.0.1:2")
        raise AssertionError("ADD of an id the old cluster used was accepted")
    except redis.ResponseError as error:
        assert "is or was used" in str(error)
    for new_id in (4, 5):
        restored.add_node(new_id, join_via=1)
        promote_when_caught_up(restored, new_id)
    wait_until(lambda: restored.raft_info(1)["raft_voters"] == 3, what="three voters")
    restored.wait_applied()
    restored.kill(1)  # the restored node dies: the two that joined carry the data
    new_leader = restored.leader(among=[4, 5], timeout_s=3 * WAIT_TIMEOUT_S)
    client = restored.client(new_leader)
    assert client.get("after-restore") == b"yes"
    assert_keys(client, "k", KEYS)


def test_restore_refuses_damaged_backups_and_a_directory_with_data(make_cluster, tmp_path):
    cluster = make_cluster(size=3)
    write_keys(cluster.leader_client(), "small", 2_000)
    path = str(tmp_path / "small.backup")
    assert run_backup(cluster, cluster.leader(), path).returncode == 0
    data = open(path, "rb").read()
    truncated = str(tmp_path / "truncated.backup")
    open(truncated, "wb").write(data[: len(data) - 100])
    altered = str(tmp_path / "altered.backup")
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    open(altered, "wb").write(bytes(flipped))
    header = str(tmp_path / "header.backup")
    flipped = bytearray(data)
    flipped[20] ^= 0x01
    open(header, "wb").write(bytes(flipped))
    expectations = [(truncated, "truncated or was altered"), (altered, "does not match its checksum"),
                    (header, "header checksum does not match"), (str(tmp_path / "none"), "cannot open")]
    target = make_cluster(size=1, start=False)
    node = target.node(1)
    for bad, text in expectations:
        command = target.command_line(1) + ["--restore", bad]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0, "restored %s" % bad
        assert text in result.stderr, result.stderr[-2000:]
        snapshots = os.path.join(node.data_dir, "snapshots")
        assert not os.path.isdir(snapshots) or not os.listdir(snapshots), "wrote a snapshot"
    # A good restore, then the same flag again: the directory holds data now.
    restore_node(target, 1, path)
    target.wait_for_leader()
    assert_keys(target.leader_client(), "small", 2_000)
    target.stop(1)
    command = target.command_line(1) + ["--restore", path]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "already holds data" in result.stderr
    node.extra_args = []
    target.start_node(1)
    target.wait_for_leader()
    assert_keys(target.leader_client(), "small", 2_000)


def test_backup_refusals(make_cluster, tmp_path):
    cluster = make_cluster(size=1, wait=False, extra_args=["--requirepass", "s3cret"])
    node = 1
    authed = cluster.client(node, password="s3cret")
    wait_until(lambda: authed.info("raft").get("raft_role") == "leader",
               what="node 1 leads")
    authed.set("k", "v")
    path = str(tmp_path / "x.backup")
    result = run_backup(cluster, node, path)
    assert result.returncode == 1
    assert "NOAUTH" in result.stderr
    assert not os.path.exists(path)
    result = run_backup(cluster, node, path, "-a", "wrong")
    assert result.returncode == 1 and "AUTH refused" in result.stderr
    result = run_backup(cluster, node, path, "-a", "s3cret")
    assert result.returncode == 0, result.stderr
    usage = subprocess.run([backup_binary(cluster)], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_force_new_cluster_after_losing_the_majority(make_cluster):
    cluster = make_cluster(size=3)
    write_keys(cluster.leader_client(), "acked", 5_000)
    cluster.wait_applied()
    survivor = 1
    for lost in (2, 3):
        cluster.kill(lost)
    # Without a majority: no leader, writes refused with an error (never a stale success).
    client = cluster.client(survivor)
    wait_until(lambda: cluster.raft_info(survivor)["raft_role"] != "leader", what="no leader")
    cluster.stop(survivor)
    cluster.node(survivor).extra_args = ["--force-new-cluster"]
    cluster.start_node(survivor)
    leader = cluster.leader(among=[survivor], timeout_s=3 * WAIT_TIMEOUT_S)
    assert leader == survivor
    logs = cluster.logs(survivor)
    assert "--force-new-cluster: the configuration is now node 1 alone" in logs
    assert "are lost" in logs
    client = cluster.client(survivor)
    assert_keys(client, "acked", 5_000)
    client.set("after-force", "1")
    info = cluster.raft_info(survivor)
    assert info["raft_voters"] == 1 and info["raft_member_role"] == "voter"
    # The flag may stay: a second start does nothing more.
    cluster.stop(survivor)
    cluster.start_node(survivor)
    cluster.leader(among=[survivor], timeout_s=3 * WAIT_TIMEOUT_S)
    assert "nothing to do" in cluster.logs(survivor)
    assert cluster.client(survivor).get("after-force") == b"1"
