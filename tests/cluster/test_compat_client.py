"""test_compat_client.py — CLIENT LIST and CLIENT INFO side by side with redis-server 7.0.

A connection's line holds values no two servers share (its id, addresses, file descriptor,
buffer sizes), so the lines are compared field by field: the same field names in the same
order, and the same values for the fields that describe what the connection did (flags, db,
sub, psub, ssub, multi, cmd, user, redir, resp, name). The errors are compared byte for byte.
rq's Worker parses CLIENT LIST through redis-py's client_list() to find its own address
(test_libraries.py runs it).
"""

import pytest

from compat import Connection, compat, fresh, parse, redis_server  # noqa: F401

# Fields whose values depend on the server, the socket or the moment.
VARYING_FIELDS = {"id", "addr", "laddr", "fd", "age", "idle", "qbuf", "qbuf-free", "argv-mem",
                  "multi-mem", "rbs", "rbp", "obl", "oll", "omem", "tot-mem", "events"}


def fields(line):
    """A CLIENT LIST line as an ordered list of (name, value)."""
    pairs = []
    for word in line.split(" "):
        name, _, value = word.partition("=")
        pairs.append((name, value))
    return pairs


def lines_of(raw):
    text = parse(raw)
    assert isinstance(text, bytes), raw
    return [line for line in text.decode().split("\n") if line]


def stable(line):
    return [(name, value) for name, value in fields(line) if name not in VARYING_FIELDS]


def raftkv_leader_connection(compat):
    node = compat.cluster.node(compat.cluster.wait_for_leader())
    return Connection(node.host, node.client_port)


def test_client_info_has_redis_fields_in_redis_order(fresh):
    redis_line, = lines_of(fresh.redis("CLIENT", "INFO"))
    raftkv_line, = lines_of(fresh.raftkv("CLIENT", "INFO"))
    assert [name for name, _ in fields(raftkv_line)] == [name for name, _ in fields(redis_line)]
    assert stable(raftkv_line) == stable(redis_line)
    assert dict(fields(raftkv_line))["cmd"] == "client|info"


def test_client_list_id_names_the_connection_and_skips_unknown_ids(fresh):
    redis_id = parse(fresh.redis("CLIENT", "ID"))
    raftkv_id = parse(fresh.raftkv("CLIENT", "ID"))
    redis_line, = lines_of(fresh.redis("CLIENT", "LIST", "ID", redis_id, 999999))
    raftkv_line, = lines_of(fresh.raftkv("CLIENT", "LIST", "ID", raftkv_id, 999999))
    assert stable(raftkv_line) == stable(redis_line)
    assert dict(fields(raftkv_line))["id"] == str(raftkv_id)
    fresh.compare("CLIENT", "LIST", "ID", 999999)  # nothing found: an empty bulk string
    fresh.compare("CLIENT", "LIST", "TYPE", "master")
    fresh.compare("CLIENT", "LIST", "TYPE", "replica")


def test_client_list_shows_name_last_command_and_subscriptions(compat):
    redis_subscriber = Connection(compat.redis_server.host, compat.redis_server.port)
    raftkv_subscriber = raftkv_leader_connection(compat)
    try:
        for subscriber in (redis_subscriber, raftkv_subscriber):
            assert subscriber.command(["CLIENT", "SETNAME", "listener"]) == b"+OK\r\n"
            assert subscriber.command(["SUBSCRIBE", "news"]).startswith(b"*3\r\n")
        redis_lines = lines_of(compat.redis("CLIENT", "LIST", "TYPE", "pubsub"))
        raftkv_lines = lines_of(compat.raftkv("CLIENT", "LIST", "TYPE", "pubsub"))
        assert len(redis_lines) == len(raftkv_lines) == 1, (redis_lines, raftkv_lines)
        assert stable(raftkv_lines[0]) == stable(redis_lines[0])
        found = dict(fields(raftkv_lines[0]))
        assert (found["name"], found["flags"], found["sub"], found["cmd"]) == \
            ("listener", "P", "1", "subscribe")
        # The whole list holds the subscriber too, and the normal type does not.
        raftkv_all = lines_of(compat.raftkv("CLIENT", "LIST"))
        assert any("name=listener" in line for line in raftkv_all)
        raftkv_normal = lines_of(compat.raftkv("CLIENT", "LIST", "TYPE", "normal"))
        assert not any("name=listener" in line for line in raftkv_normal)
    finally:
        redis_subscriber.close()
        raftkv_subscriber.close()


@pytest.mark.parametrize("command", [
    "CLIENT LIST TYPE nosuchtype",
    "CLIENT LIST ID 1 notanumber",
    "CLIENT LIST ID",
    "CLIENT LIST foo",
    "CLIENT LIST TYPE normal ID 1",
    "CLIENT INFO extra",
])
def test_client_list_errors(fresh, command):
    fresh.compare(*command.split())
