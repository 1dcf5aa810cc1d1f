"""test_pubsub_cluster.py — Pub/Sub through the Raft log on a real 3-node cluster.

PUBLISH is a write: its entry applies on every node, and each node delivers the message to
its own subscribers. So subscribers on all three nodes receive every message, in the same
(log) order, also when several publishers race; a follower takes subscriptions but redirects
PUBLISH; PUBLISH counts the leader's receivers; a subscriber that goes away or a node that
restarts does not stop the others; a subscriber that does not read is disconnected at the
pubsub output limit (hard, and soft after its grace) with a log line, while its node keeps
serving everyone else.

Subscribers are raw sockets (compat.py's Connection) reading RESP2 messages; every wait is
bounded; the clusters are stopped by conftest.py's fixtures whatever happens.
"""

import socket
import threading
import time

import pytest
import redis

from compat import Connection, encode, parse
from harness import wait_until

READ_TIMEOUT_S = 15.0


class Subscriber:
    def __init__(self, node, channels=(), patterns=(), receive_buffer_bytes=None):
        self.node = node
        self.connection = Connection(node.host, node.client_port)
        if receive_buffer_bytes is not None:
            self.connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                            receive_buffer_bytes)
        self.connection.sock.settimeout(READ_TIMEOUT_S)
        if channels:
            self.send("SUBSCRIBE", *channels)
            for _ in channels:
                assert parse(self.read())[0] == b"subscribe"
        if patterns:
            self.send("PSUBSCRIBE", *patterns)
            for _ in patterns:
                assert parse(self.read())[0] == b"psubscribe"

    def send(self, *arguments):
        self.connection.sock.sendall(encode(arguments))

    def read(self):
        return self.connection.reader.read()

    def messages(self, count):
        """The next `count` messages as (channel, payload)."""
        received = []
        for _ in range(count):
            message = parse(self.read())
            assert message[0] in (b"message", b"pmessage"), message
            received.append((message[-2], message[-1]))
        return received

    def close(self):
        # Shut the socket first: a Reader thread blocked in it wakes (closing the buffered
        # reader under it would wait for that thread's lock).
        try:
            self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()


def node_of(cluster, node_id):
    return cluster.node(node_id)


def followers(cluster):
    leader = cluster.wait_for_leader()
    return leader, [i for i in cluster.ids() if i != leader]


def settled_subscriptions(cluster, node_ids, channel, count):
    """Waits until each node reports `count` subscribers of channel (PUBSUB NUMSUB)."""
    for node_id in node_ids:
        wait_until(lambda: cluster.raw_command(node_id, "PUBSUB", "NUMSUB", channel)[1] == count,
                   timeout_s=10, what="%d subscribers of %s on node %d" % (count, channel, node_id))


def test_subscribers_on_every_node_get_every_message_in_the_same_order(cluster):
    leader, others = followers(cluster)
    subscribers = []
    for node_id in cluster.ids():
        subscribers.append(Subscriber(node_of(cluster, node_id), channels=["race"]))
        subscribers.append(Subscriber(node_of(cluster, node_id), patterns=["ra*"]))
    per_publisher = 150

    def publish(name):
        client = cluster.client(leader)
        for i in range(per_publisher):
            client.publish("race", "%s-%d" % (name, i))

    publishers = [threading.Thread(target=publish, args=(name,)) for name in ("a", "b")]
    for publisher in publishers:
        publisher.start()
    for publisher in publishers:
        publisher.join(timeout=60)
    streams = [subscriber.messages(2 * per_publisher) for subscriber in subscribers]
    for subscriber in subscribers:
        subscriber.close()
    first = streams[0]
    for stream in streams[1:]:
        assert stream == first, "two subscribers saw different orders"
    payloads = [payload.decode() for _, payload in first]
    for name in ("a", "b"):
        mine = [p for p in payloads if p.startswith(name + "-")]
        assert mine == ["%s-%d" % (name, i) for i in range(per_publisher)]


def test_publish_on_a_follower_redirects_and_subscribing_there_works(cluster):
    leader, others = followers(cluster)
    follower = others[0]
    with pytest.raises(redis.ResponseError, match="^MOVED 0 "):
        cluster.raw_command(follower, "PUBLISH", "c", "m")
    subscriber = Subscriber(node_of(cluster, follower), channels=["c"])
    try:
        assert cluster.client(leader).publish("c", "through the log") == 0  # none on the leader
        assert subscriber.messages(1) == [(b"c", b"through the log")]
    finally:
        subscriber.close()


def test_publish_counts_the_leaders_receivers(cluster):
    leader, others = followers(cluster)
    on_leader = Subscriber(node_of(cluster, leader), channels=["count"], patterns=["cou*"])
    on_followers = [Subscriber(node_of(cluster, node_id), channels=["count"]) for node_id in others]
    try:
        assert cluster.client(leader).publish("count", "m") == 2
        for subscriber in [on_leader] + on_followers:
            subscriber.messages(2 if subscriber is on_leader else 1)
    finally:
        for subscriber in [on_leader] + on_followers:
            subscriber.close()


def test_the_others_keep_receiving_when_a_subscriber_dies_and_a_node_restarts(cluster):
    leader, others = followers(cluster)
    gone, restarted = others
    stays = Subscriber(node_of(cluster, leader), channels=["life"])
    dies = Subscriber(node_of(cluster, gone), channels=["life"])
    on_restarted = Subscriber(node_of(cluster, restarted), channels=["life"])
    witness = Subscriber(node_of(cluster, gone), channels=["life"])
    publisher = cluster.client(leader)
    try:
        publisher.publish("life", "1")
        for subscriber in (stays, dies, on_restarted, witness):
            assert subscriber.messages(1) == [(b"life", b"1")]
        dies.connection.sock.shutdown(socket.SHUT_RDWR)  # gone mid-stream
        dies.close()
        settled_subscriptions(cluster, [gone], "life", 1)
        publisher.publish("life", "2")
        assert stays.messages(1) == [(b"life", b"2")]
        assert witness.messages(1) == [(b"life", b"2")]
        assert on_restarted.messages(1) == [(b"life", b"2")]

        cluster.stop(restarted)  # its subscribers are disconnected with it
        for i in range(3, 6):
            publisher.publish("life", str(i))
        assert stays.messages(3) == [(b"life", str(i).encode()) for i in range(3, 6)]
        assert witness.messages(3) == [(b"life", str(i).encode()) for i in range(3, 6)]
        cluster.start_node(restarted)
        cluster.wait_applied()
        back = Subscriber(node_of(cluster, restarted), channels=["life"])
        try:
            publisher.publish("life", "6")
            for subscriber in (stays, witness, back):
                assert subscriber.messages(1) == [(b"life", b"6")]
        finally:
            back.close()
    finally:
        for subscriber in (stays, on_restarted, witness):
            subscriber.close()


def log_text(cluster, node_id):
    with open(cluster.node(node_id).log_path, "rb") as log:
        return log.read().decode("utf-8", "replace")


def flood_until_disconnected(cluster, leader, slow, channel, payload, limit_s=60):
    """Publishes until the slow subscriber's node has disconnected it; returns how many."""
    node_id = cluster.id_at(slow.node.host, slow.node.client_port)
    publisher = cluster.client(leader)
    published = 0
    deadline = time.monotonic() + limit_s
    while int(cluster.info(node_id, "stats")["pubsub_slow_disconnects"]) == 0:
        assert time.monotonic() < deadline, "the slow subscriber was never disconnected"
        publisher.publish(channel, payload)
        published += 1
    return node_id, published


class Reader(threading.Thread):
    """Reads a subscriber's messages as fast as they come, until its connection ends."""

    def __init__(self, subscriber):
        super().__init__(daemon=True)
        self.subscriber = subscriber
        subscriber.connection.sock.settimeout(None)  # waits while the test does other things
        self.received = []
        self.error = None

    def run(self):
        try:
            while True:
                self.received.extend(self.subscriber.messages(1))
        except Exception as error:  # the connection closed, or the test ended
            self.error = error


def test_a_slow_subscriber_past_the_hard_limit_is_disconnected(make_cluster):
    hard = 1024 * 1024
    cluster = make_cluster(extra_args=("--pubsub-hard-limit-bytes", str(hard),
                                       "--pubsub-soft-limit-bytes", "0"))
    leader, others = followers(cluster)
    node = node_of(cluster, others[0])
    slow = Subscriber(node, channels=["flood"], receive_buffer_bytes=4096)
    fast = Subscriber(node, channels=["flood"])
    reader = Reader(fast)
    reader.start()
    payload = "x" * (64 * 1024)
    try:
        node_id, published = flood_until_disconnected(cluster, leader, slow, "flood", payload)
        # Disconnected once its unsent bytes reached the limit, not before (the kernel's
        # buffers took some too): at least the limit was published to it.
        assert published * len(payload) >= hard
        assert "is a slow subscriber" in log_text(cluster, node_id)
        # It is gone from the node (its socket still holds megabytes the kernel took, which a
        # 4 KB receive window drains slowly: the registry is the witness).
        assert cluster.raw_command(node_id, "PUBSUB", "NUMSUB", "flood")[1] == 1
        # The node keeps serving: the fast subscriber on it got every message, and more.
        cluster.client(leader).publish("flood", "after")
        wait_until(lambda: len(reader.received) == published + 1, timeout_s=20,
                   what="the fast subscriber's %d messages" % (published + 1),
                   on_timeout=lambda: "received %d, reader error %r"
                   % (len(reader.received), reader.error))
        assert reader.received[-1] == (b"flood", b"after")
        assert cluster.raw_command(node_id, "PUBSUB", "NUMSUB", "flood")[1] == 1
        assert cluster.raw_command(node_id, "PING") in (b"PONG", "PONG", True)
    finally:
        slow.close()
        fast.close()
        reader.join(timeout=5)


def test_a_subscriber_over_the_soft_limit_past_its_grace_is_disconnected(make_cluster):
    soft = 256 * 1024
    cluster = make_cluster(extra_args=("--pubsub-hard-limit-bytes", "0",
                                       "--pubsub-soft-limit-bytes", str(soft),
                                       "--pubsub-soft-limit-seconds", "1"))
    leader, others = followers(cluster)
    node = node_of(cluster, others[0])
    slow = Subscriber(node, channels=["soft"], receive_buffer_bytes=4096)
    publisher = cluster.client(leader)
    node_id = cluster.id_at(node.host, node.client_port)
    try:
        payload = "y" * (64 * 1024)
        # Enough to stay above the soft limit whatever the kernel buffers took.
        for _ in range(80):
            publisher.publish("soft", payload)
        assert int(cluster.info(node_id, "stats")["pubsub_slow_disconnects"]) == 0  # in grace
        time.sleep(1.5)
        publisher.publish("soft", payload)  # checked when a message arrives, as Redis
        wait_until(lambda: int(cluster.info(node_id, "stats")["pubsub_slow_disconnects"]) == 1,
                   timeout_s=10, what="the soft limit's disconnection")
        assert "is a slow subscriber" in log_text(cluster, node_id)
        assert cluster.raw_command(node_id, "PUBSUB", "NUMSUB", "soft")[1] == 0
    finally:
        slow.close()


def test_a_too_large_publish_gets_the_request_limit_error(make_cluster):
    cluster = make_cluster(extra_args=("--max-bulk-bytes", "65536",
                                       "--max-request-bytes", str(65536 + 65536)))
    leader, _ = followers(cluster)
    client = cluster.client(leader)
    assert client.publish("big", "z" * 65536) == 0  # at the bulk limit: accepted
    with pytest.raises(redis.ResponseError, match="max-request-bytes"):
        client.execute_command("PUBLISH", "c" * 65536, "z" * 65536)
    with pytest.raises(redis.RedisError):
        client.publish("big", "z" * 65537)  # one past the bulk limit: Redis's protocol error


def test_reset_leaves_subscribed_mode_and_returns_to_the_default_user(make_cluster):
    cluster = make_cluster(password="secret")
    leader, _ = followers(cluster)
    node = node_of(cluster, leader)
    connection = Connection(node.host, node.client_port)
    try:
        assert connection.command(["AUTH", "secret"]) == b"+OK\r\n"
        assert parse(connection.command(["SUBSCRIBE", "x"])) == [b"subscribe", b"x", 1]
        assert connection.command(["RESET"]) == b"+RESET\r\n"
        # Out of subscribed mode, and unauthenticated: the default user needs the password.
        assert connection.command(["GET", "k"]) == b"-NOAUTH Authentication required.\r\n"
        assert connection.command(["AUTH", "secret"]) == b"+OK\r\n"
        assert connection.command(["PUBSUB", "NUMSUB", "x"]) == b"*2\r\n$1\r\nx\r\n:0\r\n"
    finally:
        connection.close()
