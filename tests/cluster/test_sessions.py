"""test_sessions.py — exactly-once writes across failover (CLIENT SESSION, kv/session.c).

A client that declared a session numbers its writes (the server does it for it: every write
command and EXEC, in the order sent); after a dropped connection, a timeout or an error that
leaves the outcome unknown (UNCERTAIN, TRYAGAIN after proposing), it reconnects to whichever
node leads, declares the number of its first unanswered write, and sends it again. The state
machine applies each (session, number) once and answers a retry with the first reply.

The proof: INCRs retried through leader kills, pauses and isolations leave the counter at
exactly the number of increments, and every retried increment's reply is the value the first
attempt produced — so the retries did reach a state machine that had applied them already.
Every loop is bounded in time; the nemesis undoes its faults; the cluster is closed at the end.
"""

import random
import threading
import time

import pytest
import redis

from harness import Cluster
from nemesis import Nemesis, nft_available

MIN_INCREMENTS = 150
MIN_FAULTS = 6  # the increments go on until this many faults have hit them
DEADLINE_S = 240
RETRY_PAUSE_S = 0.05
SESSION = "test-session-1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(3, root=str(tmp_path_factory.mktemp("sessions")))
    cluster.start()
    yield cluster
    cluster.close()


class SessionClient:
    """One session's writes, retried until each has a reply, on whichever node leads."""

    def __init__(self, cluster, session):
        self.cluster = cluster
        self.session = session
        self.connection = None
        self.retries = 0

    def _connect(self, seq):
        ids = list(self.cluster.ids())
        random.shuffle(ids)
        for node_id in ids:
            node = self.cluster.node(node_id)
            try:
                connection = redis.Redis(host=node.host, port=node.client_port,
                                         socket_timeout=2, socket_connect_timeout=1)
                role = connection.info("raft").get("raft_role")
                if role != "leader":
                    connection.close()
                    continue
                connection.execute_command("CLIENT", "SESSION", self.session, seq)
                self.connection = connection
                return True
            except (redis.RedisError, OSError):
                continue
        return False

    def drop(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except (redis.RedisError, OSError):
                pass
            self.connection = None

    def write(self, seq, *command, deadline):
        """The reply of write number seq, however many attempts it takes."""
        attempt = 0
        while time.monotonic() < deadline:
            if self.connection is None and not self._connect(seq):
                time.sleep(RETRY_PAUSE_S)
                continue
            attempt += 1
            self.retries += 1 if attempt > 1 else 0
            try:
                return self.connection.execute_command(*command)
            except redis.ResponseError as error:
                text = str(error)
                if not text.startswith(("UNCERTAIN", "TRYAGAIN", "CLUSTERDOWN", "MOVED")):
                    raise
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass
            self.drop()  # the outcome is unknown: declare seq again on a new connection
            time.sleep(RETRY_PAUSE_S)
        raise TimeoutError("write %d had no reply in time" % seq)


def test_a_retried_write_answers_its_first_reply_and_applies_once(cluster):
    leader = cluster.node(cluster.wait_for_leader())
    client = redis.Redis(host=leader.host, port=leader.client_port, socket_timeout=5)
    assert client.execute_command("CLIENT", "SESSION", "plain", 1) == b"OK"
    assert client.incr("plain:counter") == 1
    assert client.set("plain:key", "v", get=True) is None
    client.rpush("plain:list", "a", "b")
    assert client.execute_command("LPOP", "plain:list", 5) == [b"a", b"b"]
    # The same three numbers again, as a client that lost the replies would send them.
    assert client.execute_command("CLIENT", "SESSION", "plain", 1) == b"OK"
    assert client.incr("plain:counter") == 1
    assert client.set("plain:key", "other", get=True) is None
    client.rpush("plain:list", "a", "b")  # number 3: already applied, answered 2 again
    assert client.execute_command("LPOP", "plain:list", 5) == [b"a", b"b"]
    assert client.get("plain:counter") == b"1"
    assert client.get("plain:key") == b"v"
    assert client.llen("plain:list") == 0
    # Reads take no number; the next write is number 5.
    assert client.get("plain:counter") == b"1"
    assert client.incr("plain:counter") == 2
    # A transaction is one write: MULTI's commands take none, EXEC takes one.
    pipe = client.pipeline(transaction=True)
    pipe.incr("plain:counter")
    pipe.incr("plain:counter")
    assert pipe.execute() == [3, 4]
    assert client.execute_command("CLIENT", "SESSION", "plain", 6) == b"OK"
    pipe = client.pipeline(transaction=True)
    pipe.incr("plain:counter")
    pipe.incr("plain:counter")
    assert pipe.execute() == [3, 4]
    assert client.get("plain:counter") == b"4"
    # Without a session (or after OFF), writes are plain writes.
    assert client.execute_command("CLIENT", "SESSION", "OFF") == b"OK"
    assert client.incr("plain:counter") == 5
    other = redis.Redis(host=leader.host, port=leader.client_port, socket_timeout=5)
    assert other.incr("plain:counter") == 6
    # Another session's numbers are its own.
    assert other.execute_command("CLIENT", "SESSION", "other", 1) == b"OK"
    assert other.incr("plain:counter") == 7
    client.close()
    other.close()


def test_a_blocked_write_of_a_session_is_numbered_once(cluster):
    leader = cluster.node(cluster.wait_for_leader())
    client = redis.Redis(host=leader.host, port=leader.client_port, socket_timeout=10)
    pusher = redis.Redis(host=leader.host, port=leader.client_port, socket_timeout=10)
    assert client.execute_command("CLIENT", "SESSION", "blocking", 1) == b"OK"
    timer = threading.Timer(0.3, lambda: pusher.rpush("blocking:queue", "job"))
    timer.start()
    assert client.blpop(["blocking:queue"], timeout=5) == (b"blocking:queue", b"job")
    timer.join()
    assert client.incr("blocking:counter") == 1  # number 2
    assert client.execute_command("CLIENT", "SESSION", "blocking", 1) == b"OK"
    assert client.blpop(["blocking:queue"], timeout=5) == (b"blocking:queue", b"job")
    assert client.incr("blocking:counter") == 1
    assert pusher.llen("blocking:queue") == 0
    client.close()
    pusher.close()


def test_session_arguments_are_checked(cluster):
    leader = cluster.node(cluster.wait_for_leader())
    client = redis.Redis(host=leader.host, port=leader.client_port, socket_timeout=5)
    for arguments, text in [
            ((), "wrong number of arguments for 'client|session'"),
            (("id",), "wrong number of arguments for 'client|session'"),
            (("x" * 65, 1), "the session id must be 1 to 64 bytes"),
            (("", 1), "the session id must be 1 to 64 bytes"),
            (("id", 0), "the sequence number must be a positive integer"),
            (("id", "one"), "the sequence number must be a positive integer")]:
        with pytest.raises(redis.ResponseError, match=text):
            client.execute_command("CLIENT", "SESSION", *arguments)
    client.close()


def test_increments_retried_through_faults_apply_exactly_once(cluster):
    deadline = time.monotonic() + DEADLINE_S
    session = SessionClient(cluster, SESSION)
    stop = threading.Event()
    faults = []

    def nemesis_loop():
        with Nemesis(cluster, announce=None) as nemesis:
            kinds = ["kill", "pause"] + (["isolate"] if nft_available() else [])
            while not stop.wait(nemesis.random.uniform(0.5, 1.2)):
                kind = nemesis.random.choice(kinds)
                faults.append(kind)
                try:
                    if kind == "kill":
                        victims = nemesis.kill_leader()
                        stop.wait(0.8)
                        nemesis.restart(victims)
                    elif kind == "pause":
                        victims = nemesis.pause_leader()
                        stop.wait(nemesis.pause_hold_s())
                        nemesis.resume(victims)
                    else:
                        nemesis.isolate_leader()
                        stop.wait(1.5)
                    nemesis.heal()
                except Exception as error:  # reported by the main thread
                    faults.append("error: %r" % error)
                    return

    thread = threading.Thread(target=nemesis_loop)
    thread.start()
    replies = {}
    rechecked = 0
    seq = 0
    try:
        while seq < MIN_INCREMENTS or len(faults) < MIN_FAULTS:
            seq += 1
            replies[seq] = session.write(seq, "INCR", "faults:counter", deadline=deadline)
            if seq % 3 == 0:
                # As if the reply were lost: the same number again, on a new connection.
                session.drop()
                again = session.write(seq, "INCR", "faults:counter", deadline=deadline)
                assert again == replies[seq], (seq, replies[seq], again)
                rechecked += 1
    finally:
        stop.set()
        thread.join(60)
        session.drop()
    assert not [f for f in faults if f.startswith("error")], faults
    leader = cluster.node(cluster.wait_for_leader())
    final = redis.Redis(host=leader.host, port=leader.client_port, socket_timeout=5)
    assert final.get("faults:counter") == str(seq).encode(), (faults, session.retries)
    final.close()
    # Each write's reply is the counter after it: the writes applied in order, once each.
    assert [replies[n] for n in sorted(replies)] == list(range(1, seq + 1))
    assert len(faults) >= MIN_FAULTS and rechecked == seq // 3
    print("%d increments, %d retries, faults %s" % (seq, session.retries, faults))
