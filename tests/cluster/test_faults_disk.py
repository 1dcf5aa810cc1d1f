"""test_faults_disk.py — a full disk under a running 3-node cluster: clear errors, no exit, no
corruption, and recovery without an operator once space is freed.

The three nodes keep their data on one small tmpfs (as `make run` keeps all three on one disk),
mounted in a mount namespace that this test process creates for itself, so nothing outside the
test sees it. A writer stores values while a ballast file fills the file system and keeps it
full. Then every write must get an error from docs/errors.md's list (never a hang past the
client's timeout, never a crash), every node process must stay up, and once the ballast is
deleted the cluster must accept writes again by itself, with every write acknowledged before,
during and after still readable on every node, and each node's data must reopen cleanly.

Needs root (mount namespaces, tmpfs); skipped otherwise. Every loop is bounded in count and
time; the tmpfs is unmounted and every process stopped whatever happens.
"""

import ctypes
import errno
import os
import threading
import time

import pytest
import redis

from harness import Cluster, ClusterError, wait_until

MIB = 1024 * 1024
DISK_BYTES = 384 * MIB
# The writer stops at this many acknowledged writes until the test raises it: the cluster's
# own data (log, database, snapshots, on three nodes) must leave room to recover once the
# ballast is gone, or freeing it would not free the disk.
WRITE_BUDGET = 3000
SEGMENT_BYTES = 4 * MIB
VALUE_BYTES = 4096
FULL_PHASE_S = 8.0  # how long the disk stays full once writes are refused
REFUSED_WITHIN_S = 60.0  # writes must start failing this soon after the disk filled
RECOVERED_WITHIN_S = 90.0  # and succeed again this soon after space came back
MAX_WRITES = 200_000
CLIENT_TIMEOUT_S = 8.0
# What a client may see while the disk is full (docs/errors.md).
CLEAR_ERRORS = ("UNCERTAIN", "CLUSTERDOWN", "TRYAGAIN", "MOVED", "OOM")

CLONE_NEWNS = 0x00020000
MS_REC = 1 << 14
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, "%s: %s" % (what, os.strerror(code)))


def private_tmpfs(directory, size_bytes):
    """Moves this process into its own mount namespace and mounts a tmpfs there."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate")
    os.makedirs(directory, exist_ok=True)
    options = b"size=%d" % size_bytes
    _check(_libc.mount(b"tmpfs", directory.encode(), b"tmpfs", 0, options), "mount tmpfs")


class Ballast:
    """A file that fills the file system, topped up until told to stop."""

    def __init__(self, path):
        self.path = path
        self.full = threading.Event()

    def fill(self):
        chunk = b"\0" * MIB
        with open(self.path, "ab") as file:
            for _ in range(DISK_BYTES // MIB + 16):
                try:
                    file.write(chunk)
                    file.flush()
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    self.full.set()
                    return
        raise AssertionError("the tmpfs never filled")

    def remove(self):
        os.unlink(self.path)


class Writer(threading.Thread):
    """SETs key:i one after another on whichever node leads, recording each outcome."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.acked = {}
        self.errors = []  # (time, text)
        self.last_ok_s = 0.0
        self.stop = threading.Event()
        self.failure = None
        self.budget = WRITE_BUDGET

    def client(self):
        leader = self.cluster.leader(timeout_s=CLIENT_TIMEOUT_S)
        return self.cluster.client(leader, socket_timeout=CLIENT_TIMEOUT_S)

    def run(self):
        client = None
        try:
            for i in range(MAX_WRITES):
                if self.stop.is_set():
                    return
                while len(self.acked) >= self.budget and not self.stop.is_set():
                    time.sleep(0.02)
                key = "key:%d" % i
                value = (b"%08d" % i) * (VALUE_BYTES // 8)
                try:
                    client = client or self.client()
                    client.set(key, value)
                    self.acked[key] = value
                    self.last_ok_s = time.monotonic()
                except redis.ResponseError as error:
                    self.errors.append((time.monotonic(), str(error)))
                    client = None
                    time.sleep(0.05)
                except ClusterError:
                    # No node claims the lead (all may be recovering): unavailable, not an
                    # error a client saw.
                    self.errors.append((time.monotonic(), "NoLeader"))
                    client = None
                    time.sleep(0.1)
                except (redis.ConnectionError, redis.TimeoutError) as error:
                    self.errors.append((time.monotonic(), "%s: %s" % (type(error).__name__,
                                                                       error)))
                    client = None
                    time.sleep(0.1)
        except BaseException as error:  # reported by the test
            self.failure = error


def errors_since(writer, start_s):
    return [text for when, text in writer.errors if when >= start_s]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a mount namespace and tmpfs")
def test_full_disk_refuses_writes_then_recovers_by_itself(tmp_path):
    disk = str(tmp_path / "disk")
    private_tmpfs(disk, DISK_BYTES)
    os.makedirs(str(tmp_path / "cluster"))
    cluster = Cluster(3, root=str(tmp_path / "cluster"), request_timeout_ms=3000,
                      extra_args=["--wal-segment-bytes", str(SEGMENT_BYTES),
                                  "--snapshot-entries", "5000"])
    for node_id in cluster.ids():
        cluster.node(node_id).data_dir = os.path.join(disk, "node-%d" % node_id)
    ballast = Ballast(os.path.join(disk, "ballast"))
    writer = Writer(cluster)
    try:
        cluster.start()
        cluster.wait_for_leader()
        writer.start()
        wait_until(lambda: len(writer.acked) >= 200, timeout_s=30, what="writes before filling")

        ballast.fill()
        filled_s = time.monotonic()
        wait_until(lambda: errors_since(writer, filled_s) and
                   time.monotonic() - writer.last_ok_s > 1.0,
                   timeout_s=REFUSED_WITHIN_S, what="writes to be refused on the full disk")
        deadline = time.monotonic() + FULL_PHASE_S
        while time.monotonic() < deadline:
            ballast.fill()  # a node that rebuilds its database frees space: take it back
            cluster.check_alive()  # no node exits because the disk is full
            time.sleep(0.5)
        full_errors = errors_since(writer, filled_s)
        unclear = [text for text in full_errors if not text.startswith(CLEAR_ERRORS)
                   and not text.startswith(("TimeoutError", "ConnectionError", "NoLeader"))]
        assert not unclear, "unclear errors on a full disk: %s" % unclear[:5]
        states = {node_id: cluster.raft_info(node_id) for node_id in cluster.ids()}
        print("while full: %d errors, e.g. %s; node states %s" % (
            len(full_errors), sorted(set(text[:90] for text in full_errors))[:4],
            {node_id: (info.get("raft_node_state"), info.get("raft_failures"))
             for node_id, info in states.items()}))

        ballast.remove()
        freed_s = time.monotonic()
        acked_when_freed = len(writer.acked)
        writer.budget = acked_when_freed + 200
        wait_until(lambda: writer.last_ok_s > freed_s, timeout_s=RECOVERED_WITHIN_S,
                   what="a write to succeed after space was freed")
        print("first write after freeing space: %.1f s" % (writer.last_ok_s - freed_s))
        wait_until(lambda: len(writer.acked) >= acked_when_freed + 100 and
                   all(cluster.raft_info(node_id)["raft_node_state"] == "ok"
                       for node_id in cluster.ids()),
                   timeout_s=RECOVERED_WITHIN_S, what="every node to recover")
        writer.stop.set()
        writer.join(timeout=CLIENT_TIMEOUT_S * 3)
        assert writer.failure is None, writer.failure

        cluster.wait_applied(timeout_s=60)
        leader = cluster.wait_for_leader()
        for node_id in cluster.ids():
            reader = cluster.client(node_id, socket_timeout=30)
            if node_id != leader:
                reader.execute_command("READONLY")
                reader.execute_command("RAFT.CONSISTENCY", "stale")  # this node's own state
            keys = list(writer.acked)
            values = reader.mget(keys)
            lost = [key for key, value in zip(keys, values) if value != writer.acked[key]]
            assert not lost, "node %d lost %d acknowledged writes, e.g. %s" % (
                node_id, len(lost), lost[:5])

        # No corruption: each node's data reopens cleanly and it rejoins.
        for node_id in cluster.ids():
            cluster.restart(node_id)
        cluster.wait_for_leader()
        cluster.check_alive()
    finally:
        writer.stop.set()
        cluster.close()
        _libc.umount2(disk.encode(), MNT_DETACH)
