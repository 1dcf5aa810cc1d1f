"""test_server_commands.py — every command raftkv serves, against a real 3-node cluster, with
the reply types and error texts of Redis 7 (checked side by side with Debian's redis-server
7.0; where raftkv differs on purpose — one database, no expiry, SET IFEQ from Valkey — the
test says so).

Happy path: the module shares one cluster (the `cluster` fixture); each test talks to the
leader through redis-py, or through a raw socket where redis-py 4.3 cannot go (RESP3, inline
commands, protocol errors), and uses its own key prefix so tests do not see each other's keys.

Failure modes: a wrong reply fails the test; a node that dies or leaks fails the module at
shutdown (conftest.py), with every node's log in the report.
"""

import socket
import time

import pytest
import redis

KEY_MAX_BYTES = 503  # raftkv's documented limit (LMDB's key size)
LARGE_VALUE_BYTES = 1 << 20
PIPELINE_COMMANDS = 100
HANGUP_ROUNDS = 10
HANGUP_PIPELINED_GETS = 30


@pytest.fixture
def leader(cluster):
    """A redis-py client bound to the current leader."""
    return cluster.client(cluster.wait_for_leader())


def call(client, *arguments):
    """Sends a command and returns the reply as the server sent it, without redis-py's
    per-command reply callbacks (which turn PING's bulk reply into True, for example)."""
    connection = client.connection_pool.get_connection(arguments[0])
    try:
        connection.send_command(*arguments)
        reply = connection.read_response()
    finally:
        client.connection_pool.release(connection)
    return reply


def error_text(client, *arguments):
    with pytest.raises(redis.ResponseError) as raised:
        call(client, *arguments)
    return str(raised.value)


# ---- a minimal RESP2/RESP3 reader for the raw-socket tests ----

class RawConnection:
    """A plain socket to a node: send bytes, read one RESP2 or RESP3 reply as Python values
    (errors as ('error', text), verbatim as ('verbatim', text), RESP3 null as None)."""

    def __init__(self, node):
        self.socket = socket.create_connection((node.host, node.client_port), timeout=10)
        self.reader = self.socket.makefile("rb")

    def close(self):
        self.reader.close()
        self.socket.close()

    def send(self, data):
        self.socket.sendall(data)

    def command(self, *arguments):
        parts = [b"*%d\r\n" % len(arguments)]
        for argument in arguments:
            if isinstance(argument, str):
                argument = argument.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(argument), argument))
        self.send(b"".join(parts))
        return self.read()

    def read_line(self):
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed mid-reply: %r" % line)
        return line[:-2]

    def read(self):
        line = self.read_line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return ("error", rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"_":
            return None
        if kind == b"#":
            return rest == b"t"
        if kind in (b"$", b"="):
            length = int(rest)
            if length < 0:
                return None
            data = self.reader.read(length + 2)[:-2]
            return ("verbatim", data[4:].decode()) if kind == b"=" else data
        if kind in (b"*", b"~", b">"):
            count = int(rest)
            return None if count < 0 else [self.read() for _ in range(count)]
        if kind == b"%":
            return {self._key(self.read()): self.read() for _ in range(int(rest))}
        raise ValueError("unknown RESP type in %r" % line)

    @staticmethod
    def _key(value):
        return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def raw(cluster):
    connection = RawConnection(cluster.node(cluster.wait_for_leader()))
    yield connection
    connection.close()


# ---- connection commands ----

def test_ping_echo_and_their_arity(leader):
    assert leader.ping() is True
    assert call(leader, "PING", "hello") == b"hello"
    assert leader.echo("x\r\ny") == b"x\r\ny"
    assert error_text(leader, "PING", "a", "b") == \
        "wrong number of arguments for 'ping' command"
    assert error_text(leader, "ECHO") == "wrong number of arguments for 'echo' command"


def test_unknown_command_quotes_name_and_first_arguments(leader):
    assert error_text(leader, "NOSUCH", "a", "b") == \
        "unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    assert error_text(leader, "NOSUCHCOMMAND") == \
        "unknown command 'NOSUCHCOMMAND', with args beginning with: "


@pytest.mark.parametrize("arguments,name", [
    (("GET",), "get"), (("GET", "a", "b"), "get"), (("SET", "k"), "set"),
    (("MSET", "a", "1", "b"), "mset"), (("MSETNX", "a"), "msetnx"), (("DEL",), "del"),
    (("EXISTS",), "exists"), (("INCR", "a", "b"), "incr"), (("INCRBY", "a"), "incrby"),
    (("DECR",), "decr"), (("DECRBY", "a"), "decrby"), (("APPEND", "a"), "append"),
    (("STRLEN",), "strlen"), (("GETRANGE", "a", "0"), "getrange"),
    (("SETRANGE", "a", "0"), "setrange"), (("KEYS",), "keys"), (("SCAN",), "scan"),
    (("TYPE",), "type"), (("DBSIZE", "x"), "dbsize"), (("SETNX", "a"), "setnx"),
    (("GETSET", "a"), "getset"), (("GETDEL",), "getdel"), (("MGET",), "mget"),
    (("SELECT",), "select"), (("READONLY", "x"), "readonly"), (("CLIENT",), "client"),
])
def test_wrong_arity_is_refused_with_redis_text(leader, arguments, name):
    # MSET with an odd number of arguments fails arity in Redis too (arity -3, pairs checked
    # by the command); raftkv must say the same.
    assert error_text(leader, *arguments) == \
        "wrong number of arguments for '%s' command" % name


def test_select_only_database_zero(leader):
    assert call(leader, "SELECT", "0") == b"OK"
    # Redis has 16 databases; raftkv has one, and says so with Redis's out-of-range text.
    assert error_text(leader, "SELECT", "1") == "DB index is out of range"
    assert error_text(leader, "SELECT", "x") == "value is not an integer or out of range"


def test_auth_without_password_configured(leader):
    assert error_text(leader, "AUTH", "secret").startswith(
        "AUTH <password> called without any password configured for the default user")


def test_client_id_setname_getname(cluster, leader):
    other = cluster.client(cluster.wait_for_leader())
    first_id = leader.client_id()
    assert isinstance(first_id, int) and first_id > 0
    assert other.client_id() != first_id
    assert leader.client_getname() is None
    assert leader.client_setname("worker-1") is True
    assert leader.client_getname() == "worker-1"
    assert other.client_getname() is None
    assert error_text(leader, "CLIENT", "SETNAME", "has space") == \
        "Client names cannot contain spaces, newlines or special characters."
    assert error_text(leader, "CLIENT", "NOSUCH") == \
        "unknown subcommand 'NOSUCH'. Try CLIENT HELP."


def test_hello_setname_validates_the_name_like_client_setname(leader):
    assert error_text(leader, "HELLO", "2", "SETNAME", "has space") == \
        "Client names cannot contain spaces, newlines or special characters."
    assert leader.client_getname() is None


def test_subcommand_arity_and_hello_errors_use_redis_texts(leader):
    assert error_text(leader, "CLIENT", "ID", "x") == \
        "wrong number of arguments for 'client|id' command"
    assert error_text(leader, "COMMAND", "COUNT", "x") == \
        "wrong number of arguments for 'command|count' command"
    assert error_text(leader, "HELLO", "x") == \
        "Protocol version is not an integer or out of range"


def test_config_get_and_set(leader):
    assert call(leader, "CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
    assert call(leader, "CONFIG", "GET", "no-such-setting") == []
    assert "can't set immutable config" in error_text(leader, "CONFIG", "SET", "save", "")


def test_command_count_info_and_list(leader):
    count = call(leader, "COMMAND", "COUNT")
    listing = call(leader, "COMMAND")
    assert count == len(listing) >= 37
    names = {entry[0] for entry in listing}
    for name in (b"get", b"set", b"mset", b"scan", b"ping", b"cluster", b"raft.info"):
        assert name in names
    get, missing = call(leader, "COMMAND", "INFO", "get", "nosuch")
    assert get[:6] == [b"get", 2, [b"readonly", b"fast"], 1, 1, 1]
    assert missing is None
    mset = call(leader, "COMMAND", "INFO", "mset")[0]
    assert mset[3:6] == [1, -1, 2]


def test_info_sections_and_raft_info(leader):
    info = leader.info("all")
    for field in ("redis_version", "connected_clients", "total_commands_processed", "role",
                  "raft_role", "raft_term", "raft_commit_index", "raft_applied_index"):
        assert field in info, field
    assert info["role"] == "master" and info["raft_role"] == "leader"
    only_raft = leader.info("raft")
    assert "raft_term" in only_raft and "redis_version" not in only_raft
    text = call(leader, "RAFT.INFO")
    assert b"raft_role:leader" in text and b"# Raft" in text


def test_quit_closes_the_connection(raw):
    assert raw.command("QUIT") == "OK"
    assert raw.reader.readline() == b""


# ---- SET and its options ----

def test_set_get_and_options_nx_xx_get(leader):
    assert leader.get("opt:k") is None
    assert leader.set("opt:k", "v") is True
    assert leader.get("opt:k") == b"v"
    assert leader.set("opt:k", "v2", nx=True) is None
    assert leader.set("opt:k", "v2", xx=True) is True
    assert leader.set("opt:k", "v3", xx=True, get=True) == b"v2"
    assert leader.set("opt:absent", "v3", xx=True, get=True) is None
    assert leader.get("opt:absent") is None
    assert leader.set("opt:k", "v4", get=True) == b"v3"
    assert error_text(leader, "SET", "opt:k", "v", "NX", "XX") == "syntax error"
    assert error_text(leader, "SET", "opt:k", "v", "BADOPT") == "syntax error"
    assert leader.get("opt:k") == b"v4"


def test_set_with_a_bad_expiry_is_refused_and_changes_nothing(leader):
    leader.set("opt:ttl", "before")
    assert error_text(leader, "SET", "opt:ttl", "after", "EX", "0") == \
        "invalid expire time in 'set' command"
    assert leader.get("opt:ttl") == b"before"
    assert leader.ttl("opt:ttl") == -1


def test_set_ifeq_compare_and_set(leader):
    leader.set("cas:k", "one")
    # Valkey's SET IFEQ: set only when the current value equals the given one.
    assert call(leader, "SET", "cas:k", "two", "IFEQ", "wrong") is None
    assert leader.get("cas:k") == b"one"
    assert call(leader, "SET", "cas:k", "two", "IFEQ", "one") == b"OK"
    assert leader.get("cas:k") == b"two"
    assert call(leader, "SET", "cas:k", "three", "IFEQ", "two", "GET") == b"two"
    assert call(leader, "SET", "cas:k", "four", "IFEQ", "two", "GET") == b"three"
    assert leader.get("cas:k") == b"three"
    assert call(leader, "SET", "cas:absent", "x", "IFEQ", "") is None
    assert leader.exists("cas:absent") == 0
    assert error_text(leader, "SET", "cas:k", "x", "IFEQ", "three", "NX") == "syntax error"
    assert error_text(leader, "SET", "cas:k", "x", "IFEQ") == "syntax error"


def test_setnx_getset_getdel(leader):
    assert leader.setnx("sx:k", "a") is True
    assert leader.setnx("sx:k", "b") is False
    assert leader.getset("sx:k", "c") == b"a"
    assert leader.getset("sx:new", "d") is None
    assert leader.getdel("sx:k") == b"c"
    assert leader.getdel("sx:k") is None
    assert leader.exists("sx:k") == 0


# ---- multi-key commands ----

def test_mset_mget_msetnx(leader):
    assert leader.mset({"m:a": "1", "m:b": "2"}) is True
    assert leader.mget("m:a", "m:b", "m:none") == [b"1", b"2", None]
    assert leader.msetnx({"m:a": "x", "m:c": "3"}) is False
    assert leader.get("m:c") is None and leader.get("m:a") == b"1"
    assert leader.msetnx({"m:c": "3", "m:d": "4"}) is True
    assert leader.mget("m:c", "m:d") == [b"3", b"4"]


def test_del_and_exists_count_keys(leader):
    leader.mset({"d:a": "1", "d:b": "2"})
    assert leader.exists("d:a", "d:b", "d:b", "d:none") == 3
    assert leader.delete("d:a", "d:b", "d:none") == 2
    assert leader.exists("d:a", "d:b") == 0
    assert leader.delete("d:a") == 0


# ---- counters ----

def test_incr_family(leader):
    assert leader.incr("n:c") == 1
    assert leader.incrby("n:c", 10) == 11
    assert leader.decr("n:c") == 10
    assert leader.decrby("n:c", 15) == -5
    assert call(leader, "INCRBY", "n:c", "-5") == -10
    assert leader.get("n:c") == b"-10"


def test_incr_on_non_integer_and_overflow(leader):
    leader.set("n:text", "abc")
    assert error_text(leader, "INCR", "n:text") == "value is not an integer or out of range"
    leader.set("n:space", " 1")
    assert error_text(leader, "INCR", "n:space") == "value is not an integer or out of range"
    assert error_text(leader, "INCRBY", "n:c2", "x") == \
        "value is not an integer or out of range"
    assert error_text(leader, "INCRBY", "n:c2", "1.5") == \
        "value is not an integer or out of range"
    leader.set("n:max", "9223372036854775807")
    assert error_text(leader, "INCR", "n:max") == "increment or decrement would overflow"
    leader.set("n:min", "-9223372036854775808")
    assert error_text(leader, "DECR", "n:min") == "increment or decrement would overflow"
    assert leader.get("n:text") == b"abc" and leader.get("n:max") == b"9223372036854775807"


# ---- string ranges ----

def test_append_strlen(leader):
    assert leader.append("s:a", "hello") == 5
    assert leader.append("s:a", " world") == 11
    assert leader.strlen("s:a") == 11
    assert leader.strlen("s:none") == 0


def test_getrange_setrange(leader):
    leader.set("r:a", "hello world")
    assert leader.getrange("r:a", 0, 4) == b"hello"
    assert leader.getrange("r:a", -5, -1) == b"world"
    assert leader.getrange("r:a", 10, 2) == b""
    assert leader.getrange("r:a", 0, 1000) == b"hello world"
    assert leader.getrange("r:none", 0, 10) == b""
    assert error_text(leader, "GETRANGE", "r:a", "x", "2") == \
        "value is not an integer or out of range"
    assert leader.setrange("r:a", 0, "J") == 11
    assert leader.get("r:a") == b"Jello world"
    assert leader.setrange("r:pad", 5, "abc") == 8
    assert leader.get("r:pad") == b"\x00" * 5 + b"abc"
    assert error_text(leader, "SETRANGE", "r:a", "-1", "x") == "offset is out of range"


# ---- keyspace ----

def test_type_dbsize_keys(leader):
    before = leader.dbsize()
    leader.mset({"ks:{t}1": "a", "ks:{t}2": "b", "ks:{t}3": "c"})
    assert leader.dbsize() == before + 3
    assert leader.type("ks:{t}1") == b"string"
    assert leader.type("ks:none") == b"none"
    assert sorted(leader.keys("ks:{t}*")) == [b"ks:{t}1", b"ks:{t}2", b"ks:{t}3"]
    assert sorted(leader.keys("ks:{t}[12]")) == [b"ks:{t}1", b"ks:{t}2"]
    assert leader.keys("ks:nothing*") == []


def test_dbsize_counts_new_keys_exactly(leader):
    before = leader.dbsize()
    leader.mset({"db:1": "a", "db:2": "b"})
    leader.delete("db:1")
    assert leader.dbsize() == before + 1


def test_scan_visits_every_key_once_with_match_and_count(leader):
    expected = {b"scan:%03d" % i for i in range(250)}
    leader.mset({key: b"v" for key in expected})
    seen = []
    cursor = 0
    for _ in range(1000):  # bounded: 250 keys at COUNT 20 need ~13 rounds
        cursor, keys = leader.scan(cursor=cursor, match="scan:*", count=20)
        seen += keys
        if cursor == 0:
            break
    assert cursor == 0
    assert sorted(seen) == sorted(expected)
    assert error_text(leader, "SCAN", "x") == "invalid cursor"


# ---- values ----

def test_binary_safe_keys_and_values(leader):
    value = bytes(range(256)) * 4 + b"\r\n\x00*1\r\n$3\r\n"
    key = b"bin:\x00\xff\r\n key"
    assert leader.set(key, value) is True
    assert leader.get(key) == value
    assert leader.strlen(key) == len(value)
    assert leader.append(key, b"\x00") == len(value) + 1
    assert leader.getrange(key, 0, 3) == b"\x00\x01\x02\x03"
    assert leader.set(b"bin:empty", b"") is True
    assert leader.get(b"bin:empty") == b""
    assert leader.exists(b"bin:empty") == 1


def test_large_value_round_trips(cluster, leader):
    value = bytes((i * 7 + 3) % 251 for i in range(LARGE_VALUE_BYTES))
    assert leader.set("big:1mb", value) is True
    assert leader.get("big:1mb") == value
    assert leader.strlen("big:1mb") == LARGE_VALUE_BYTES
    # It replicated: every node applies it and serves it to a READONLY reader.
    cluster.wait_applied()
    for node_id in cluster.ids():
        follower = cluster.client(node_id)
        follower.execute_command("READONLY")
        assert follower.get("big:1mb") == value


def test_key_length_limit(leader):
    longest = b"k" * KEY_MAX_BYTES
    assert leader.set(longest, "ok") is True
    assert leader.get(longest) == b"ok"
    assert error_text(leader, "SET", b"k" * (KEY_MAX_BYTES + 1), "x") == \
        "key exceeds the maximum length of %d bytes" % KEY_MAX_BYTES


# ---- pipelining and protocols ----

def test_pipeline_of_100_commands_replies_in_order(leader):
    pipe = leader.pipeline(transaction=False)
    for i in range(PIPELINE_COMMANDS // 4):
        pipe.set("pipe:%d" % i, i)
        pipe.incr("pipe:%d" % i)
        pipe.get("pipe:%d" % i)
        pipe.echo("e%d" % i)
    replies = pipe.execute()
    assert len(replies) == PIPELINE_COMMANDS
    for i in range(PIPELINE_COMMANDS // 4):
        assert replies[4 * i:4 * i + 4] == [True, i + 1, str(i + 1).encode(), b"e%d" % i]


def test_pipelined_read_sees_the_write_before_it(leader):
    """Read your writes within a pipeline, as Redis gives it: a GET right behind a SET of the
    same connection returns the SET's value, even though the SET is not answered yet when the
    GET's read index is confirmed (failed once in CI before reads waited for it)."""
    for round_number in range(5):
        pipe = leader.pipeline(transaction=False)
        for i in range(100):
            pipe.set("ryw:%d:%d" % (round_number, i), "v%d" % i)
            pipe.get("ryw:%d:%d" % (round_number, i))
            pipe.incr("ryw:counter:%d" % round_number)
            pipe.get("ryw:counter:%d" % round_number)
        replies = pipe.execute()
        for i in range(100):
            assert replies[4 * i] is True
            assert replies[4 * i + 1] == b"v%d" % i
            assert replies[4 * i + 2] == i + 1
            assert replies[4 * i + 3] == b"%d" % (i + 1)


def test_pipeline_error_in_the_middle_keeps_order(leader):
    leader.set("pipe:text", "abc")
    pipe = leader.pipeline(transaction=False)
    pipe.set("pipe:x", "1")
    pipe.incr("pipe:text")
    pipe.get("pipe:x")
    replies = pipe.execute(raise_on_error=False)
    assert replies[0] is True
    assert isinstance(replies[1], redis.ResponseError)
    assert "not an integer" in str(replies[1])
    assert replies[2] == b"1"


def test_hello_2_through_redis_py(leader):
    reply = call(leader, "HELLO", "2")
    fields = dict(zip(reply[0::2], reply[1::2]))
    assert fields[b"proto"] == 2
    assert fields[b"server"] == b"redis"
    assert fields[b"role"] == b"master"
    assert fields[b"id"] == leader.client_id()
    assert error_text(leader, "HELLO", "4") == "NOPROTO unsupported protocol version"


def test_hello_3_switches_to_resp3(raw):
    hello = raw.command("HELLO", "3", "SETNAME", "resp3-client")
    assert isinstance(hello, dict)
    assert hello["proto"] == 3 and hello["mode"] == b"cluster"
    assert raw.command("CLIENT", "GETNAME") == b"resp3-client"
    assert raw.command("GET", "resp3:none") is None  # RESP3's '_' null
    raw.send(b"*2\r\n$3\r\nGET\r\n$10\r\nresp3:none\r\n")
    assert raw.read_line() == b"_"
    assert raw.command("SET", "resp3:k", "v") == "OK"
    assert raw.command("GET", "resp3:k") == b"v"
    kind, text = raw.command("INFO", "raft")
    assert kind == "verbatim" and "raft_role:leader" in text
    config = raw.command("CONFIG", "GET", "appendonly")
    assert config == {"appendonly": b"no"}
    assert raw.command("NOSUCH")[0] == "error"
    back = raw.command("HELLO", "2")
    assert isinstance(back, list) and back[back.index(b"proto") + 1] == 2
    raw.send(b"*2\r\n$3\r\nGET\r\n$10\r\nresp3:none\r\n")
    assert raw.read_line() == b"$-1"


def test_inline_commands(raw):
    raw.send(b"PING\r\n")
    assert raw.read() == "PONG"
    raw.send(b"SET inline:k hello\r\nGET inline:k\r\n")
    assert raw.read() == "OK"
    assert raw.read() == b"hello"


def test_client_hanging_up_during_a_large_reply_does_not_hurt_the_node(cluster):
    """A client that pipelines big reads and half-closes without reading its replies: the
    node must drop that connection and carry on (found a use-after-free; see
    /tmp/server-findings.md, finding 1)."""
    leader_id = cluster.wait_for_leader()
    node = cluster.node(leader_id)
    cluster.client(leader_id).set("hangup:big", b"x" * LARGE_VALUE_BYTES)
    try:
        for _ in range(HANGUP_ROUNDS):
            with socket.create_connection((node.host, node.client_port), timeout=10) as hangup:
                hangup.sendall(b"READONLY\r\n" +
                               b"GET hangup:big\r\n" * HANGUP_PIPELINED_GETS)
                hangup.shutdown(socket.SHUT_WR)
                time.sleep(0.1)
        time.sleep(0.5)
    finally:
        cluster.check_alive()  # a dead node fails here, with its log, and only here
    assert cluster.client(leader_id).get("hangup:big") == b"x" * LARGE_VALUE_BYTES


def test_protocol_error_closes_only_that_connection(cluster, raw):
    raw.send(b"*1\r\n$abc\r\n")
    kind, text = raw.read()
    assert kind == "error" and text.startswith("ERR Protocol error")
    assert raw.reader.readline() == b""
    # The node is fine and other clients are unaffected.
    assert cluster.client(cluster.wait_for_leader()).ping() is True
