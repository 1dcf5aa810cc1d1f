"""test_server_acl.py — ACL users on a real cluster (server/acl.c, kv/acl.c).

Side by side with redis-server 7.0 where the replies are the same: SETUSER's errors, LIST,
USERS, WHOAMI, AUTH and NOPERM texts, command, category and key rules. Then what only a
replicated store must prove: a user made on the leader authenticates on every node, survives
a leader kill and a full restart; a denied command changes nothing (and aborts a MULTI);
--requirepass is the default user's password; DELUSER closes the user's connections at their
next command; and no password is ever written in clear to any node's data directory.
"""

import os

import pytest
import redis

from compat import command_arguments, compat, fresh, redis_server  # noqa: F401
from harness import Cluster, wait_until

PASSWORD = "s3cret-acl-password"
# redis-py raises AuthenticationError for some refusals, ResponseError (WRONGPASS) for others
AUTH_ERRORS = (redis.AuthenticationError, redis.ResponseError)

SCRIPTS = {
    "setuser and list": ["ACL SETUSER alice on >pw ~cache:* +get", "ACL LIST",
                         "ACL USERS", "ACL WHOAMI", "ACL SETUSER alice off", "ACL LIST"],
    "setuser errors": ["ACL SETUSER x +nosuch", "ACL SETUSER x badrule",
                       "ACL SETUSER x #abc", "ACL SETUSER x ~* ~a", "ACL USERS", "ACL SETUSER", "ACL DELUSER default", "ACL NOSUCH",
                       "ACL GETUSER nobody"],
    "deluser": ["ACL SETUSER a", "ACL SETUSER b", "ACL DELUSER a b c", "ACL USERS"],
    "passwords": ["ACL SETUSER p >one >two <one", "ACL LIST", "ACL SETUSER p nopass",
                  "ACL LIST", "ACL SETUSER p resetpass", "ACL LIST"],
    "keys and channels": ["ACL SETUSER k ~a* ~b* &ch", "ACL LIST", "ACL SETUSER k allkeys",
                          "ACL LIST", "ACL SETUSER k resetkeys allchannels", "ACL LIST"],
    "categories": ["ACL CAT nosuch", "ACL SETUSER c +@nosuch"],
    "auth": ["AUTH nobody pw", "AUTH default wrong", "AUTH wrong",
             "ACL SETUSER u on >pw +@all ~*", "AUTH u wrong", "AUTH u pw", "ACL WHOAMI"],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_acl_as_redis(fresh, name):
    try:
        fresh.compare_many(SCRIPTS[name])
    finally:
        for side in (fresh.redis, fresh.raftkv):
            side("AUTH", "default", "x")  # back to default, whatever the script did
        reset = ["ACL", "DELUSER", "alice", "x", "a", "b", "p", "k", "c", "u"]
        fresh.redis(*reset)
        fresh.raftkv(*reset)


def test_a_password_is_named_by_its_hash_in_errors(fresh):
    # Redis echoes the clear password of a failed <password rule; raftkv never had it in the
    # entry, so it names the hash (docs/commands.md).
    reply = fresh.raftkv("ACL", "SETUSER", "x", "<nothere")
    assert reply.startswith(b"-ERR Error in ACL SETUSER modifier '!") and b"nothere" not in reply
    assert b"The password you are trying to remove from the user does not exist" in reply
    fresh.raftkv("ACL", "DELUSER", "x")


def test_rules_are_enforced_as_redis(fresh):
    fresh.setup("ACL SETUSER limited on >pw ~cache:* +@read +set -@dangerous",
                "SET cache:1 v", "SET other v")
    fresh.compare("AUTH", "limited", "pw")
    for command in ["GET cache:1", "GET other", "SET cache:2 x", "DEL cache:1",
                    "MGET cache:1 other", "KEYS *", "FLUSHALL", "CLIENT ID", "ACL WHOAMI",
                    "MULTI", "SET cache:3 y", "SET other z", "EXEC", "GET cache:3"]:
        arguments = command_arguments(command)
        redis_reply, raftkv_reply = fresh.both(arguments)
        assert raftkv_reply == redis_reply, (command, redis_reply, raftkv_reply)
    fresh.redis("AUTH", "default", "x")
    fresh.raftkv("AUTH", "default", "x")
    fresh.compare("GET", "other")
    fresh.redis("ACL", "DELUSER", "limited")
    fresh.raftkv("ACL", "DELUSER", "limited")


def test_channel_rules_are_enforced_as_redis(fresh):
    fresh.setup("ACL SETUSER ch on >pw +@all ~* &news.* &lit")
    fresh.compare("AUTH", "ch", "pw")
    try:
        for command in ["PUBLISH other x", "PUBLISH news.a x", "PUBLISH lit x",
                        "PSUBSCRIBE news.a*", "SUBSCRIBE other", "SUBSCRIBE news.a other"]:
            fresh.compare(*command_arguments(command))
    finally:
        for side in (fresh.redis, fresh.raftkv):
            side("AUTH", "default", "x")
            side("ACL", "DELUSER", "ch")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(3, root=str(tmp_path_factory.mktemp("acl")), password=PASSWORD)
    cluster.start()
    cluster.wait_for_leader()
    yield cluster
    cluster.close()


def admin(cluster, node_id):
    return cluster.client(node_id, password=PASSWORD)


def user_client(cluster, node_id, name, password):
    return cluster.client(node_id, username=name, password=password)


def test_requirepass_is_the_default_users_password(cluster):
    node_id = cluster.ids()[0]
    with pytest.raises(AUTH_ERRORS):
        cluster.client(node_id).ping()
    with pytest.raises(AUTH_ERRORS):
        cluster.client(node_id, password="wrong").ping()
    assert admin(cluster, node_id).ping()
    assert cluster.client(node_id, username="default", password=PASSWORD).ping()


def test_users_are_replicated_and_survive_failover_and_restart(cluster):
    leader = cluster.wait_for_leader()
    assert admin(cluster, leader).execute_command(
        "ACL", "SETUSER", "app", "on", ">app-password", "~app:*", "+@all", "-@dangerous") == b"OK"
    cluster.wait_applied()
    for node_id in cluster.ids():
        client = user_client(cluster, node_id, "app", "app-password")
        assert client.execute_command("ACL", "WHOAMI") == b"app"
        with pytest.raises(redis.ResponseError, match="no permissions"):
            client.get("other:key")
        client.execute_command("READONLY")
        assert client.get("app:missing") is None
    cluster.kill(leader)
    new_leader = cluster.wait_for_leader(among=[i for i in cluster.ids() if i != leader])
    client = user_client(cluster, new_leader, "app", "app-password")
    assert client.set("app:k", "v")
    cluster.start_node(leader)
    for node_id in cluster.ids():
        cluster.restart(node_id)
    cluster.wait_for_leader()
    leader = cluster.wait_for_leader()
    client = user_client(cluster, leader, "app", "app-password")
    assert client.get("app:k") == b"v"
    with pytest.raises(redis.ResponseError, match="no permissions"):
        client.flushall()
    assert admin(cluster, leader).dbsize() >= 1


def test_a_denied_command_changes_nothing(cluster):
    leader = cluster.wait_for_leader()
    root = admin(cluster, leader)
    root.execute_command("ACL", "SETUSER", "reader", "on", ">r", "~*", "+@read",
                         "+@transaction")
    root.set("acl:value", "before")
    reader = user_client(cluster, leader, "reader", "r")
    with pytest.raises(redis.ResponseError, match="no permissions"):
        reader.set("acl:value", "after")
    pipe = reader.pipeline(transaction=True)
    pipe.get("acl:value")
    pipe.set("acl:value", "after")
    with pytest.raises((redis.exceptions.ExecAbortError, redis.ResponseError)):
        pipe.execute()  # the queued SET was refused: EXECABORT
    assert root.get("acl:value") == b"before"


def test_deleting_a_user_closes_its_connections(cluster):
    leader = cluster.wait_for_leader()
    root = admin(cluster, leader)
    root.execute_command("ACL", "SETUSER", "temp", "on", ">t", "~*", "+@all")
    temp = user_client(cluster, leader, "temp", "t")
    assert temp.ping()
    assert root.execute_command("ACL", "DELUSER", "temp") == 1
    with pytest.raises((redis.ResponseError, redis.ConnectionError)):
        temp.ping()
    with pytest.raises(AUTH_ERRORS):
        user_client(cluster, leader, "temp", "t").ping()


def test_no_password_reaches_any_disk_in_clear(cluster):
    leader = cluster.wait_for_leader()
    secret = "never-on-disk-%d" % os.getpid()
    admin(cluster, leader).execute_command("ACL", "SETUSER", "disk", "on", ">" + secret,
                                              "+@all", "~*")
    cluster.wait_applied()
    wait_until(lambda: all(
        user_client(cluster, i, "disk", secret).ping() for i in cluster.ids()),
        what="every node to know the user")
    for node_id in cluster.ids():
        for directory, _, files in os.walk(cluster.node(node_id).data_dir):
            for name in files:
                with open(os.path.join(directory, name), "rb") as file:
                    assert secret.encode() not in file.read(), (node_id, name)
