"""test_blocking_cluster.py — blocking pops on a real cluster: a client blocked in BLPOP (or
BZPOPMIN, BLMOVE) is woken by the write that makes its pop possible, the pop itself goes
through the log (every replica pops the same element for it), waiters are served in arrival
order, a timeout answers Redis's null reply, and a leader that stops leading answers its
blocked clients instead of leaving them hanging.

Every wait is bounded (socket timeouts); every process is stopped at the end.
"""

import threading
import time

import pytest
import redis

from harness import Cluster, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(3, root=str(tmp_path_factory.mktemp("blocking")))
    cluster.start()
    cluster.wait_for_leader()
    yield cluster
    cluster.close()


def leader_client(cluster, timeout=10):
    return cluster.client(cluster.wait_for_leader(), socket_timeout=timeout)


class Blocked(threading.Thread):
    """Runs one blocking command on its own connection and keeps the reply (or error)."""

    def __init__(self, client, *command):
        super().__init__(daemon=True)
        self.client = client
        self.command = command
        self.reply = None
        self.error = None
        self.started_s = None
        self.finished_s = None

    def run(self):
        self.started_s = time.monotonic()
        try:
            reply = self.client.execute_command(*self.command)
            # redis-py turns some array replies into tuples: compare lists.
            self.reply = list(reply) if isinstance(reply, tuple) else reply
        except redis.RedisError as error:
            self.error = error
        self.finished_s = time.monotonic()


def wait_parked(cluster, count):
    leader = cluster.wait_for_leader()
    wait_until(lambda: int(cluster.info(leader, "stats")["blocked_clients_parked"]) >= count,
               timeout_s=10, what="%d blocked clients to be parked" % count)


def test_blpop_is_woken_by_a_push_and_the_pop_is_replicated(cluster):
    leader = leader_client(cluster)
    parked_before = int(cluster.info(cluster.wait_for_leader(), "stats")["blocked_clients_parked"])
    waiter = Blocked(leader_client(cluster), "BLPOP", "q:wake", "q:other", "0")
    waiter.start()
    wait_parked(cluster, parked_before + 1)
    assert waiter.is_alive(), "BLPOP on empty lists must wait"
    leader.rpush("q:wake", "first", "second")
    waiter.join(timeout=10)
    assert waiter.reply == [b"q:wake", b"first"], (waiter.reply, waiter.error)
    cluster.wait_applied()
    for node_id in cluster.ids():
        reader = cluster.client(node_id)
        reader.execute_command("READONLY")
        assert reader.lrange("q:wake", 0, -1) == [b"second"], node_id


def test_waiters_are_served_in_arrival_order(cluster):
    leader = leader_client(cluster)
    parked_before = int(cluster.info(cluster.wait_for_leader(), "stats")["blocked_clients_parked"])
    waiters = []
    for i in range(3):
        waiter = Blocked(leader_client(cluster), "BRPOP", "q:fifo", "10")
        waiter.start()
        wait_parked(cluster, parked_before + i + 1)
        waiters.append(waiter)
    for value in ("a", "b", "c"):
        leader.lpush("q:fifo", value)
        time.sleep(0.2)
    for waiter in waiters:
        waiter.join(timeout=10)
    assert [w.reply for w in waiters] == [[b"q:fifo", b"a"], [b"q:fifo", b"b"],
                                          [b"q:fifo", b"c"]], [(w.reply, w.error) for w in waiters]


def test_timeout_answers_the_null_reply(cluster):
    client = leader_client(cluster)
    started = time.monotonic()
    assert client.execute_command("BLPOP", "q:never", "0.5") is None
    assert client.execute_command("BLMOVE", "q:never", "q:dst", "LEFT", "RIGHT", "0.3") is None
    assert client.execute_command("BZPOPMIN", "z:never", "0.3") is None
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 8, elapsed


def test_bzpopmin_and_blmove_wake(cluster):
    leader = leader_client(cluster)
    parked_before = int(cluster.info(cluster.wait_for_leader(), "stats")["blocked_clients_parked"])
    zwaiter = Blocked(leader_client(cluster), "BZPOPMIN", "z:wake", "0")
    mwaiter = Blocked(leader_client(cluster), "BLMOVE", "l:src", "l:dst", "RIGHT", "LEFT", "0")
    zwaiter.start()
    mwaiter.start()
    wait_parked(cluster, parked_before + 2)
    leader.zadd("z:wake", {"low": 1, "high": 2})
    leader.rpush("l:src", "x", "y")
    zwaiter.join(timeout=10)
    mwaiter.join(timeout=10)
    assert zwaiter.reply == [b"z:wake", b"low", 1.0], (zwaiter.reply, zwaiter.error)
    assert mwaiter.reply == b"y", (mwaiter.reply, mwaiter.error)
    assert leader.lrange("l:dst", 0, -1) == [b"y"]
    assert leader.zrange("z:wake", 0, -1) == [b"high"]


def test_a_follower_redirects_blocking_commands(cluster):
    leader = cluster.wait_for_leader()
    follower = next(i for i in cluster.ids() if i != leader)
    with pytest.raises(redis.ResponseError) as moved:
        cluster.client(follower).execute_command("BLPOP", "q:any", "0")
    assert str(moved.value).startswith("MOVED"), moved.value


def test_a_leader_that_steps_down_answers_its_blocked_clients(cluster):
    leader = cluster.wait_for_leader()
    parked_before = int(cluster.info(leader, "stats")["blocked_clients_parked"])
    waiter = Blocked(cluster.client(leader, socket_timeout=20), "BLPOP", "q:stepdown", "0")
    waiter.start()
    wait_parked(cluster, parked_before + 1)
    cluster.client(leader).execute_command("RAFT.TRANSFER-LEADER")
    waiter.join(timeout=15)
    assert not waiter.is_alive(), "the blocked client must be answered"
    assert isinstance(waiter.error, redis.ResponseError) and \
        str(waiter.error).startswith("TRYAGAIN"), (waiter.reply, waiter.error)
    cluster.wait_for_leader()
