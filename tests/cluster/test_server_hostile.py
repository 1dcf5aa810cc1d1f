"""test_server_hostile.py — a node never dies of its input: hostile bytes and hostile
connections on the client and peer ports of a real 3-node cluster.

Each test attacks the cluster one way — random bytes and malformed RESP on every client port,
random bytes and forged frames on every peer port (and, where no --secret is set, frames at the
largest term from an impostor that passed the handshake), nodes of another cluster or with the
wrong secret, thousands of idle connections, more clients than --max-clients or than the file
descriptor limit allows, a client that never reads its replies, replies that pass
--max-output-buffer-bytes alone or piled up behind a write that cannot commit, requests past
--max-bulk-bytes and --max-query-buffer-bytes — and then checks the same four things: every
node is still running, there is exactly one leader, a write acknowledged before the attack
still reads back, and a new write is accepted. Where Redis's reply is deterministic it is the
spec: the expected replies below are Redis 7.0's, and when Debian's redis-server is installed
each one is also checked against a real redis-server started with the same limits (the
`redis_server` fixture). Where raftkv differs from Redis on purpose, the test says so.

Happy path: the module shares one cluster started with small limits (LIMIT_FLAGS, fixture
`cluster`); tests that need other flags start a private one with `make_cluster`. Random inputs
come from one seeded PRNG per test; the seed is printed, and RAFTKV_HOSTILE_SEED=<n> replays it.

Failure modes: a node that dies fails the test that killed it (check_alive), with every node's
log in the report; a node that leaks or crashes at shutdown fails the module (conftest.py). A
reply that differs from Redis's fails with both replies. Every loop is bounded in count and in
time, and every socket and process a test opens is closed in a finally block.
"""

import ctypes
import os
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib

import pytest
import redis

from harness import DEFAULT_BINARY, Cluster, ClusterError, _die_with_parent, wait_until

MIB = 1024 * 1024
MAX_BULK_BYTES = 1 * MIB  # also Redis's smallest proto-max-bulk-len
MAX_QUERY_BUFFER_BYTES = 4 * MIB
MAX_OUTPUT_BUFFER_BYTES = 1 * MIB
LIMIT_FLAGS = ["--max-bulk-bytes", str(MAX_BULK_BYTES),
               "--max-query-buffer-bytes", str(MAX_QUERY_BUFFER_BYTES),
               "--max-output-buffer-bytes", str(MAX_OUTPUT_BUFFER_BYTES)]
REDIS_LIMIT_FLAGS = ["--proto-max-bulk-len", str(MAX_BULK_BYTES),
                     "--client-query-buffer-limit", str(MAX_QUERY_BUFFER_BYTES),
                     "--client-output-buffer-limit", "normal %d 0 0" % MAX_OUTPUT_BUFFER_BYTES]

INLINE_MAX_BYTES = 64 * 1024  # Redis's PROTO_INLINE_MAX_SIZE, raftkv's inline line limit
SOCKET_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 10.0  # how long a connection the node must close may stay open
READ_LIMIT_BYTES = 64 * MIB  # no test reads more than this from one socket
SENTINEL = b"ECHO hostile-sentinel\r\n"
SENTINEL_REPLY = b"$16\r\nhostile-sentinel\r\n"

RANDOM_CONNECTIONS_PER_NODE = 24
RANDOM_PAYLOAD_MAX_BYTES = 6 * 1024
PEER_RANDOM_CONNECTIONS_PER_NODE = 16
HALF_OPEN_CONNECTIONS = 2000
SMALL_MAX_CLIENTS = 50
DESCRIPTOR_LIMIT = 256  # ulimit -n of the nodes in the descriptor-budget test
DESCRIPTOR_FLOOD_CONNECTIONS = 300
WAL_SEGMENT_BYTES = 64 * MIB  # storage's default segment size: the write below rolls one
UNREAD_VALUE_BYTES = 256 * 1024
UNREAD_GETS = 2048  # 512 MiB of replies if nothing stopped them
UNREAD_RSS_GROWTH_MAX_BYTES = 128 * MIB
INTRUDER_OBSERVE_S = 3.0
PEER_HANDSHAKE_REPLY_BYTES = 20 + 72  # HELLO_REPLY: header and payload
FORGERY_ATTEMPTS = 5
INTRUDER_HOST_BASE = 19  # intruders listen on 127.0.0.19, .20, ...; the cluster on .11-.13

SEED = int(os.environ.get("RAFTKV_HOSTILE_SEED", random.SystemRandom().randrange(1 << 32)))


# ---- fixtures ----

@pytest.fixture(scope="module")
def hostile_cluster(request):
    """The module's 3-node cluster, with small client limits (LIMIT_FLAGS). Stopped after the
    module; an unclean exit (crash, leak) fails the module; its files are kept on failure."""
    failures_before = request.session.testsfailed
    cluster = Cluster(size=3, extra_args=LIMIT_FLAGS)
    try:
        cluster.start()
        cluster.wait_for_leader()
        yield cluster
    finally:
        errors = cluster.close(graceful=True)
        if errors or request.session.testsfailed > failures_before or \
                os.environ.get("RAFTKV_KEEP_CLUSTER"):
            print("\nraftkv cluster kept in %s\n%s" % (cluster.root, cluster.describe()))
        else:
            cluster.remove_files()
    if errors:
        pytest.fail("unclean node exit at shutdown:\n%s" % "\n".join(map(str, errors)))


@pytest.fixture
def cluster(hostile_cluster):
    """Overrides conftest's `cluster`: the module's cluster with small limits, whole before
    each test; a node that died during the test fails that test."""
    hostile_cluster.heal()
    yield hostile_cluster
    hostile_cluster.check_alive()


@pytest.fixture
def rng(request):
    """A PRNG seeded from SEED and the test's name; the seed is printed for replay."""
    seed = (SEED + zlib.crc32(request.node.name.encode())) & 0xFFFFFFFF
    print("hostile seed: RAFTKV_HOSTILE_SEED=%d (this test's PRNG seed %d)" % (SEED, seed))
    return random.Random(seed)


def free_port(host):
    """A port that was free on host a moment ago (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server():
    """A real redis-server on loopback with the same limits as the cluster, or None when
    redis-server is not installed (the tests then check raftkv against Redis's texts only)."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    directory = tempfile.mkdtemp(prefix="raftkv-hostile-redis-")
    port = free_port("127.0.0.1")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", directory, "--logfile", os.path.join(directory, "redis.log")]
        + REDIS_LIMIT_FLAGS, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=SOCKET_TIMEOUT_S)
        wait_until(client.ping, what="redis-server on port %d" % port)
        client.connection_pool.disconnect()
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def acked_write(cluster, rng):
    return write_before_attack(cluster, rng)


# ---- the checks every test ends with ----

def write_before_attack(cluster, rng):
    """A write acknowledged before the attack: (key, value)."""
    key = b"hostile:before:%d" % rng.randrange(1 << 48)
    value = bytes(rng.randrange(256) for _ in range(64))
    assert cluster.client(cluster.wait_for_leader()).set(key, value) is True
    return key, value


def assert_cluster_healthy(cluster, acked):
    """No node died, exactly one leader that every node knows, the acknowledged write still
    reads back, and a new write is accepted."""
    key, value = acked
    cluster.check_alive()
    leader_id = cluster.wait_for_leader()
    leaders = [i for i in cluster.ids() if cluster.raft_info(i)["raft_role"] == "leader"]
    assert leaders == [leader_id], "leaders: %s" % leaders
    client = cluster.client(leader_id)
    assert client.get(key) == value
    assert client.set(key + b":after", b"accepted") is True
    assert client.get(key + b":after") == b"accepted"
    cluster.check_alive()


def leader_node(cluster):
    return cluster.node(cluster.wait_for_leader())


# ---- raw sockets ----

def connect(host, port, timeout_s=SOCKET_TIMEOUT_S, receive_buffer_bytes=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer_bytes is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
    sock.settimeout(timeout_s)
    try:
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def send_ignoring_close(sock, data):
    """Sends what the other side takes; False once it has closed (EPIPE, ECONNRESET)."""
    try:
        sock.sendall(data)
        return True
    except OSError:
        return False


def read_until_closed(sock, timeout_s=CLOSE_WAIT_S, limit_bytes=READ_LIMIT_BYTES):
    """Everything the other side sends until it closes: (bytes, closed). A reset counts as
    closed; closed is False if it stayed open for timeout_s or sent more than limit_bytes."""
    deadline = time.monotonic() + timeout_s
    data = bytearray()
    while len(data) < limit_bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(data), False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(256 * 1024)
        except socket.timeout:
            return bytes(data), False
        except OSError:
            return bytes(data), True
        if not chunk:
            return bytes(data), True
        data += chunk
    return bytes(data), False


def read_until_suffix(sock, suffix, timeout_s=SOCKET_TIMEOUT_S):
    """Reads until the bytes end with suffix: (bytes, found)."""
    deadline = time.monotonic() + timeout_s
    data = bytearray()
    while not data.endswith(suffix) and len(data) < READ_LIMIT_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(data), False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except OSError:
            return bytes(data), False
        if not chunk:
            return bytes(data), False
        data += chunk
    return bytes(data), data.endswith(suffix)


def read_exactly(sock, count, timeout_s=SOCKET_TIMEOUT_S):
    """count bytes, or fewer if the other side closes or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    data = bytearray()
    while len(data) < count and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(count - len(data))
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def abort(sock):
    """Closes with a reset (SO_LINGER 0), as a client that crashed mid-request would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def close_all(sockets):
    for sock in sockets:
        try:
            sock.close()
        except OSError:
            pass


def raised_descriptor_limit(needed):
    """Raises this process's soft RLIMIT_NOFILE to at least needed (bounded by the hard limit).
    Returns the old limits, for restore_descriptor_limit."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = old
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return old


def restore_descriptor_limit(old):
    resource.setrlimit(resource.RLIMIT_NOFILE, old)


def descriptor_soft_limit():
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


def bulk_bytes(argument):
    if isinstance(argument, str):
        argument = argument.encode()
    return b"$%d\r\n%s\r\n" % (len(argument), argument)


def command_bytes(*arguments):
    return b"*%d\r\n" % len(arguments) + b"".join(bulk_bytes(argument) for argument in arguments)


def resident_bytes(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise ClusterError("no VmRSS for pid %d" % pid)


# ---- 1. malformed RESP and random bytes on the client ports ----

def reply_to_error(host, port, request):
    """Sends a request that must fail: (reply bytes, whether the server then closed)."""
    sock = connect(host, port)
    try:
        send_ignoring_close(sock, request)
        return read_until_closed(sock)
    finally:
        sock.close()


def reply_to_tolerated(host, port, request):
    """Sends a request the server must survive, then the sentinel ECHO: the replies up to and
    including the sentinel's (the connection still works), or what came before it failed."""
    sock = connect(host, port)
    try:
        send_ignoring_close(sock, request + SENTINEL)
        data, found = read_until_suffix(sock, SENTINEL_REPLY)
        return data if found else (data, "no sentinel reply: the connection broke")
    finally:
        sock.close()


def protocol_error(text):
    return b"-ERR Protocol error: " + text + b"\r\n"


# (name, request, Redis 7.0's reply; the connection is then closed)
PROTOCOL_ERRORS = [
    ("count_overflows_int64", b"*99999999999999999999\r\n",
     protocol_error(b"invalid multibulk length")),
    ("count_not_a_number", b"*abc\r\n", protocol_error(b"invalid multibulk length")),
    ("count_leading_zero", b"*01\r\n", protocol_error(b"invalid multibulk length")),
    ("count_plus_sign", b"*+1\r\n", protocol_error(b"invalid multibulk length")),
    ("count_empty", b"*\r\n", protocol_error(b"invalid multibulk length")),
    ("bulk_length_negative", b"*1\r\n$-2\r\n", protocol_error(b"invalid bulk length")),
    ("bulk_length_empty", b"*1\r\n$\r\n", protocol_error(b"invalid bulk length")),
    ("bulk_length_leading_zero", b"*1\r\n$04\r\nPING\r\n", protocol_error(b"invalid bulk length")),
    ("bulk_length_huge", b"*1\r\n$999999999999\r\n", protocol_error(b"invalid bulk length")),
    ("bulk_length_one_past_max_bulk_bytes", b"*1\r\n$%d\r\n" % (MAX_BULK_BYTES + 1),
     protocol_error(b"invalid bulk length")),
    ("negative_multibulk_inside", b"*2\r\n$3\r\nGET\r\n*-1\r\n",
     protocol_error(b"expected '$', got '*'")),
    ("inline_inside_multibulk", b"*1\r\nfoo\r\n", protocol_error(b"expected '$', got 'f'")),
    ("blank_line_inside_multibulk", b"*1\r\n\r\n", protocol_error(b"expected '$', got ' '")),
    ("unbalanced_quotes", b'SET "unbalanced\r\n',
     protocol_error(b"unbalanced quotes in request")),
    ("unterminated_inline_over_64k", b"A" * (INLINE_MAX_BYTES + 4000),
     protocol_error(b"too big inline request")),
    ("unterminated_count_line_over_64k", b"*" + b"1" * (INLINE_MAX_BYTES + 4000),
     protocol_error(b"too big mbulk count string")),
    ("unterminated_bulk_header_over_64k", b"*1\r\n$" + b"1" * (INLINE_MAX_BYTES + 4000),
     protocol_error(b"too big bulk count string")),
]

# (name, request, Redis 7.0's replies before the sentinel's; the connection stays usable)
TOLERATED = [
    ("negative_count_is_an_empty_request", b"*-5\r\n", b""),
    ("zero_count_is_an_empty_request", b"*0\r\n", b""),
    ("blank_lines_are_skipped", b"\r\n\r\n\n", b""),
    ("dollar_line_outside_multibulk_is_an_inline_command", b"$-2\r\n",
     b"-ERR unknown command '$-2', with args beginning with: \r\n"),
    ("bytes_after_a_bulk_are_skipped_unchecked", b"*1\r\n$4\r\nPINGxx", b"+PONG\r\n"),
    ("nul_bytes_inside_a_bulk_are_data", command_bytes("ECHO", b"a\x00b\x00"),
     b"$4\r\na\x00b\x00\r\n"),
    ("high_bytes_in_a_command_name", command_bytes(b"\xff\xfe", b"x"),
     b"-ERR unknown command '\xff\xfe', with args beginning with: 'x' \r\n"),
]


@pytest.mark.parametrize("name,request_bytes,expected", PROTOCOL_ERRORS,
                         ids=[case[0] for case in PROTOCOL_ERRORS])
def test_malformed_request_gets_redis_protocol_error_and_only_that_connection_closes(
        cluster, acked_write, redis_server, name, request_bytes, expected):
    """Each malformed request gets Redis's exact "-ERR Protocol error: ..." and its connection
    is closed; the other connections and the node carry on."""
    node = leader_node(cluster)
    bystander = connect(node.host, node.client_port)
    try:
        bystander.sendall(b"PING\r\n")
        assert read_until_suffix(bystander, b"+PONG\r\n")[1]
        if redis_server is not None:
            assert reply_to_error(*redis_server, request_bytes) == (expected, True), \
                "redis-server no longer answers as this test expects"
        assert reply_to_error(node.host, node.client_port, request_bytes) == (expected, True)
        bystander.sendall(SENTINEL)
        assert read_until_suffix(bystander, SENTINEL_REPLY)[1], "the bystander was hurt"
    finally:
        bystander.close()
    assert_cluster_healthy(cluster, acked_write)


@pytest.mark.parametrize("name,request_bytes,expected", TOLERATED,
                         ids=[case[0] for case in TOLERATED])
def test_odd_but_valid_request_is_answered_as_redis_does_and_the_connection_lives(
        cluster, acked_write, redis_server, name, request_bytes, expected):
    """Requests Redis tolerates (empty multibulks, blank lines, bytes after a bulk, NUL and
    high bytes inside bulks) get Redis's replies, and the connection still answers after."""
    node = leader_node(cluster)
    if redis_server is not None:
        assert reply_to_tolerated(*redis_server, request_bytes) == expected + SENTINEL_REPLY, \
            "redis-server no longer answers as this test expects"
    assert reply_to_tolerated(node.host, node.client_port, request_bytes) == \
        expected + SENTINEL_REPLY
    assert_cluster_healthy(cluster, acked_write)


def test_nul_byte_in_an_inline_command_ends_the_arguments(cluster, acked_write):
    """Differs from Redis on purpose: Redis looks for an inline line's "\\n" with strchr, which
    stops at a NUL, so a NUL in an inline command hangs that connection until 64 KiB arrive.
    raftkv finds the line's end and ignores the bytes from the first NUL (resp.h)."""
    node = leader_node(cluster)
    request = b"PI\x00NG\r\nECHO a\x00b\r\n\x00\r\n"
    assert reply_to_tolerated(node.host, node.client_port, request) == \
        b"-ERR unknown command 'PI', with args beginning with: \r\n$1\r\na\r\n" + SENTINEL_REPLY
    assert_cluster_healthy(cluster, acked_write)


# Words random requests are made of: commands with random arguments and RESP's punctuation.
# Only commands that cannot take the cluster down on purpose (no leadership transfer).
FUZZ_WORDS = [b"PING", b"ECHO", b"GET", b"SET", b"MGET", b"MSET", b"DEL", b"EXISTS", b"INCR",
              b"INCRBY", b"APPEND", b"STRLEN", b"GETRANGE", b"TYPE", b"SCAN", b"KEYS", b"DBSIZE",
              b"HELLO", b"CLIENT", b"SETNAME", b"GETNAME", b"ID", b"INFO", b"CLUSTER", b"SLOTS",
              b"NODES", b"SHARDS", b"COMMAND", b"COUNT", b"SELECT", b"AUTH", b"READONLY",
              b"READWRITE", b"CONFIG", b"RAFT.INFO", b"NX", b"XX", b"GET", b"IFEQ", b"EX", b"0",
              b"1", b"2", b"3", b"-1", b"-9223372036854775808", b"9223372036854775807",
              b"99999999999999999999", b"*", b"fuzz:*", b"fuzz:key", b"", b"\x00", b"\xff" * 3]
FUZZ_PUNCTUATION = [b"*", b"$", b"\r\n", b"\n", b"\r", b" ", b'"', b"'", b"\\x4", b"\\", b"-",
                    b"\x00", b"*-1\r\n", b"$-1\r\n", b"*0\r\n", b"*1\r\n", b"$0\r\n\r\n"]


def random_request(rng):
    """One request: a well-formed command of random words, or one with a lying length, or
    inline words, or punctuation soup."""
    kind = rng.randrange(4)
    words = [rng.choice(FUZZ_WORDS) for _ in range(rng.randint(1, 6))]
    if kind == 0:
        return command_bytes(*words)
    if kind == 1:
        parts = [b"*%d\r\n" % (len(words) + rng.randint(-2, 2))]
        for word in words:
            parts.append(b"$%d\r\n%s\r\n" % (max(-1, len(word) + rng.randint(-2, 2)), word))
        return b"".join(parts)
    if kind == 2:
        return b" ".join(words) + rng.choice([b"\r\n", b"\n", b""])
    return b"".join(rng.choice(FUZZ_PUNCTUATION + FUZZ_WORDS) for _ in range(rng.randint(1, 12)))


def random_payload(rng):
    """A few KiB: pure random bytes, or random requests run together."""
    size = rng.randint(1, RANDOM_PAYLOAD_MAX_BYTES)
    if rng.random() < 0.5:
        return rng.randbytes(size)
    parts = []
    total = 0
    while total < size:
        part = random_request(rng)
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def hit_with_random_bytes(addresses, rng, connections_per_address):
    """Opens connections_per_address connections to every address, all at once, sends each a
    random payload in random pieces; a third are reset mid-payload, the rest finish, half-close
    and read until the node closes. Returns (connections that finished, of those how many the
    nodes closed)."""
    sockets = []
    try:
        for host, port in addresses:
            for _ in range(connections_per_address):
                sockets.append(connect(host, port, timeout_s=2.0))
        finished = 0
        closed = 0
        for sock in sockets:
            payload = random_payload(rng)
            aborting = rng.random() < 1 / 3
            end = rng.randint(0, len(payload)) if aborting else len(payload)
            offset = 0
            alive = True
            while offset < end and alive:
                piece = rng.randint(1, 2048)
                alive = send_ignoring_close(sock, payload[offset:min(end, offset + piece)])
                offset += piece
            if aborting:
                abort(sock)
                continue
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            finished += 1
            closed += read_until_closed(sock)[1]
        return finished, closed
    finally:
        close_all(sockets)


def test_random_bytes_on_every_client_port(cluster, acked_write, rng):
    """Random bytes and random RESP-like soup, on many connections to every node at once,
    some reset mid-request: every node survives and closes every connection that hung up."""
    addresses = [(cluster.node(i).host, cluster.node(i).client_port) for i in cluster.ids()]
    finished, closed = hit_with_random_bytes(addresses, rng, RANDOM_CONNECTIONS_PER_NODE)
    assert closed == finished > 0
    assert_cluster_healthy(cluster, acked_write)


# ---- 2. random bytes and forged frames on the peer ports ----

def frame_header(frame_type, payload_bytes, version=1, flags=0, checksum=0):
    """A peer frame header (proto/peer.h): magic, version, type, flags, length, checksum."""
    return b"RKVP" + struct.pack("<BBHIQ", version, frame_type, flags, payload_bytes, checksum)


def forged_frames(rng):
    """(what, bytes) that must each make the node close the connection."""
    return [
        ("a RAFT frame announcing 4 GiB", frame_header(4, 0xFFFFFFFF)),
        ("a HELLO above the handshake size", frame_header(1, 129) + rng.randbytes(129)),
        ("the magic, then garbage", b"RKVP" + rng.randbytes(500)),
        ("the wrong frame version", frame_header(1, 60, version=2) + rng.randbytes(60)),
        ("an unknown frame type", frame_header(9, 60) + rng.randbytes(60)),
        ("nonzero flags", frame_header(1, 60, flags=1) + rng.randbytes(60)),
        ("a HELLO with a wrong checksum", frame_header(1, 60, checksum=1) + rng.randbytes(60)),
        ("a RAFT frame before the handshake", frame_header(4, 100) + rng.randbytes(100)),
        ("a Redis command", b"*1\r\n$4\r\nPING\r\n"),
    ]


def test_random_bytes_and_forged_frames_on_every_peer_port(cluster, acked_write, rng):
    """Random bytes, a frame header announcing a 4 GiB payload, the magic followed by garbage
    and other forged frames on every node's peer port: each such connection is closed (a silent
    one by the handshake timeout) and the node logs why."""
    addresses = [(cluster.node(i).host, cluster.node(i).peer_port) for i in cluster.ids()]
    silent = []
    try:
        for host, port in addresses:
            silent.append(connect(host, port))  # sends a partial header, then nothing
            silent[-1].sendall(b"RKV")
        finished, closed = hit_with_random_bytes(addresses, rng, PEER_RANDOM_CONNECTIONS_PER_NODE)
        assert closed == finished > 0
        for host, port in addresses:
            for what, data in forged_frames(rng):
                sock = connect(host, port)
                try:
                    send_ignoring_close(sock, data)
                    assert read_until_closed(sock)[1], "%s:%d kept %s open" % (host, port, what)
                finally:
                    sock.close()
        for sock in silent:
            assert read_until_closed(sock)[1], "a silent peer connection was never closed"
    finally:
        close_all(silent)
    for node_id in cluster.ids():
        log = cluster.logs(node_id)
        assert "payload of 4294967295 bytes exceeds the limit" in log
        assert "bad magic" in log
        assert "handshake did not complete" in log
    assert_cluster_healthy(cluster, acked_write)


def xxh3_64(data, seed=0):
    """XXH3-64 through the libxxhash the server links, or None when it cannot be loaded."""
    try:
        library = ctypes.CDLL("libxxhash.so.0")
    except OSError:
        return None
    function = library.XXH3_64bits_withSeed
    function.restype = ctypes.c_uint64
    function.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
    return function(data, len(data), seed)


def checksummed_frame(frame_type, payload):
    """A frame with a correct checksum: XXH3-64 of the payload, seeded with that of the
    header's first 12 bytes (proto/peer.h)."""
    head = b"RKVP" + struct.pack("<BBHI", 1, frame_type, 0, len(payload))
    return head + struct.pack("<Q", xxh3_64(payload, xxh3_64(head))) + payload


def raft_frame(message_type, sender, receiver, term):
    """A RAFT frame with no entries and an empty snapshot configuration."""
    fields = struct.pack("<BBBB9Q", message_type, 0, 0, 0, sender, receiver, term, 0, 0, 0, 0,
                         0, 0)
    # snapshot index, term, voter and learner counts, highest id; entry count
    return checksummed_frame(4, fields + struct.pack("<QQIIQI", 0, 0, 0, 0, 0, 0))


PEER_PROTOCOL_VERSION = 2  # proto/peer.h
RAFT_MSG_HEARTBEAT = 7
RAFT_MSG_TIMEOUT_NOW = 10


def test_forged_frames_at_the_largest_term_are_refused(cluster, acked_write):
    """Without --secret a peer is not authenticated (only its cluster id and node id are
    checked), so anyone who reaches the peer port can pass the handshake as node 2. A heartbeat
    at term 2^64 - 1 and then a TimeoutNow used to kill node 3: it adopted the term, and its
    campaign wrapped the term to 0 and failed an assertion in the core. The frames are now
    refused at the wire (terms and indexes above 2^62) and node 3 carries on."""
    if xxh3_64(b"") is None:
        pytest.skip("libxxhash.so.0 is not installed: cannot forge a frame's checksum")
    node = cluster.node(3)
    hello = checksummed_frame(1, b"raftkv".ljust(16, b"\0") + struct.pack("<Q", 2)
                              + bytes(32) + struct.pack("<I", PEER_PROTOCOL_VERSION))
    auth = checksummed_frame(3, struct.pack("<Q", 2) + bytes(64))
    largest = (1 << 64) - 1
    forged = (raft_frame(RAFT_MSG_HEARTBEAT, 2, 3, largest)
              + raft_frame(RAFT_MSG_TIMEOUT_NOW, 2, 3, largest))
    # The real node 2 re-dials when the impostor replaces its link, and its connection may in
    # turn replace the impostor's before the forged frames arrive: then try again.
    for _ in range(FORGERY_ATTEMPTS):
        sock = connect(node.host, node.peer_port)
        try:
            sock.sendall(hello)
            reply = read_exactly(sock, PEER_HANDSHAKE_REPLY_BYTES)
            assert reply[:4] == b"RKVP" and reply[5] == 2, "no HELLO_REPLY: %r" % reply
            send_ignoring_close(sock, auth + forged)
            assert read_until_closed(sock)[1], "node 3 kept the connection of the forged frames"
        finally:
            sock.close()
        cluster.check_alive()
        if "with a term above" in cluster.logs(3):
            break
    assert "with a term above" in cluster.logs(3)
    assert_cluster_healthy(cluster, acked_write)
    assert cluster.raft_info(3)["raft_term"] < 1 << 62


# ---- 3. peers of another cluster, or with the wrong secret ----

class Intruder:
    """A raftkv process that claims to be node 1 of the cluster from its own address, so that
    it dials nodes 2 and 3 (a node dials the peers with higher ids)."""

    def __init__(self, cluster, index, extra_args):
        self.host = "127.0.0.%d" % (INTRUDER_HOST_BASE + index)
        client_port, peer_port = free_port(self.host), free_port(self.host)
        self.data_dir = os.path.join(cluster.root, "intruder-%d" % index)
        self.log_path = self.data_dir + ".log"
        os.makedirs(self.data_dir)
        members = ["1=%s:%d,%s:%d" % (self.host, client_port, self.host, peer_port)]
        members += [cluster.node(i).member_flag() for i in cluster.ids() if i != 1]
        self.arguments = [cluster.binary, "--id", "1", "--data-dir", self.data_dir,
                          "--election-timeout-ms", "500", "--heartbeat-ms", "50",
                          "--tick-ms", "10"]
        for member in members:
            self.arguments += ["--member", member]
        self.arguments += list(extra_args)
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.arguments, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=log, preexec_fn=_die_with_parent)

    def log(self):
        with open(self.log_path, "rb") as log:
            return log.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; returns the exit code (SIGKILL and None if it hangs)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


def test_peers_of_another_cluster_or_with_the_wrong_secret_are_refused(make_cluster):
    """Three impostors of node 1 dial nodes 2 and 3: one with another --cluster-id, one with a
    different --secret, one with none. Each is refused in the handshake (the real nodes log
    why), the real node 1's links are not replaced, and the leader and term do not move."""
    secret = "hostile-test-secret"
    cluster = make_cluster(extra_args=["--secret", secret])
    acked = write_before_attack(cluster, random.Random(SEED))
    leader_id = cluster.wait_for_leader()
    terms = {i: cluster.raft_info(i)["raft_term"] for i in cluster.ids()}
    log_sizes = {i: len(cluster.logs(i)) for i in cluster.ids()}
    intruders = [Intruder(cluster, 0, ["--cluster-id", "stranger", "--secret", secret]),
                 Intruder(cluster, 1, ["--secret", "not-the-secret"]),
                 Intruder(cluster, 2, [])]
    exit_codes = []
    try:
        for intruder in intruders:
            intruder.start()
        refused_on = [2, 3]

        def refusals_logged():
            new = "".join(cluster.logs(i)[log_sizes[i]:] for i in refused_on)
            return ("HELLO from node 1 of cluster 737472616e676572" in new  # "stranger"
                    and "AUTH's MAC does not verify" in new
                    and "HELLO_REPLY's MAC does not verify" in intruders[1].log())
        wait_until(refusals_logged, what="the impostors to be refused",
                   on_timeout=cluster.describe)
        time.sleep(INTRUDER_OBSERVE_S)  # they keep re-dialing meanwhile
        for intruder in intruders:
            assert intruder.process.poll() is None, "an impostor died:\n" + intruder.log()
    finally:
        for intruder in intruders:
            exit_codes.append(intruder.stop())
    assert exit_codes == [0, 0, 0], "impostors did not exit cleanly: %s\n%s" % (
        exit_codes, "\n".join(intruder.log()[-3000:] for intruder in intruders))
    for node_id in cluster.ids():
        new = cluster.logs(node_id)[log_sizes[node_id]:]
        assert "replaced by a new connection" not in new
        assert "connected to peer 1 (accepted)" not in new
    assert cluster.wait_for_leader() == leader_id
    assert {i: cluster.raft_info(i)["raft_term"] for i in cluster.ids()} == terms
    assert_cluster_healthy(cluster, acked)


# ---- 4. thousands of idle connections, and the limits on clients ----

def test_two_thousand_half_open_connections_do_not_stop_the_leader(cluster, acked_write, rng):
    """About 2,000 connections to the leader that send nothing, half a multibulk, or half an
    inline command, held open: a separate client is still served, and once they close the
    node's client count comes back down."""
    node = leader_node(cluster)
    baseline = cluster.info(node.id, "clients")
    partial = [b"", b"*3\r\n$3\r\nSET\r\n$1\r\nk", b"GET half-open-key", b"*1\r\n$100000\r\nabc"]
    old_limit = raised_descriptor_limit(HALF_OPEN_CONNECTIONS + 500)
    held = []
    try:
        count = min(HALF_OPEN_CONNECTIONS, baseline["maxclients"] - 50,
                    descriptor_soft_limit() - 200)
        for _ in range(count):
            sock = connect(node.host, node.client_port, timeout_s=5.0)
            held.append(sock)
            data = rng.choice(partial)
            if data:
                sock.sendall(data)
        wait_until(lambda: cluster.info(node.id, "clients")["connected_clients"] >= count,
                   what="the leader to accept %d connections" % count)
        separate = cluster.client(node.id)
        assert separate.get(acked_write[0]) == acked_write[1]
        assert separate.set(b"hostile:half-open", b"served") is True
        assert cluster.client(cluster.wait_for_leader()).get(b"hostile:half-open") == b"served"
    finally:
        close_all(held)
        restore_descriptor_limit(old_limit)
    wait_until(lambda: cluster.info(node.id, "clients")["connected_clients"]
               <= baseline["connected_clients"] + 5,
               what="the leader to release the closed connections")
    assert_cluster_healthy(cluster, acked_write)


def open_until_refused(host, port, limit):
    """Opens connections that each answer a PING, until one is refused: (held, refusal, closed)
    with the refused connection's reply and whether the node closed it."""
    held = []
    try:
        for _ in range(limit):
            sock = connect(host, port)
            sock.sendall(b"PING\r\n")
            reply, found = read_until_suffix(sock, b"\r\n")
            if reply != b"+PONG\r\n":
                try:
                    rest, closed = read_until_closed(sock)
                finally:
                    sock.close()
                return held, reply + rest, closed
            held.append(sock)
        return held, None, False
    except BaseException:
        close_all(held)
        raise


def test_connection_past_max_clients_gets_redis_error_and_limit_is_released(
        make_cluster, redis_server):
    """With --max-clients 50, connection 51 gets Redis's "-ERR max number of clients reached"
    and is closed; the 50 clients keep being served, and once some close new ones get in."""
    refusal = b"-ERR max number of clients reached\r\n"
    if redis_server is not None:
        admin = redis.Redis(*redis_server, socket_timeout=SOCKET_TIMEOUT_S)
        connected = admin.info("clients")["connected_clients"]  # this one included
        admin.config_set("maxclients", connected + 2)
        try:
            held, reply, closed = open_until_refused(*redis_server, 10)
            close_all(held)
            assert (len(held), reply, closed) == (2, refusal, True), \
                "redis-server no longer answers as this test expects"
        finally:
            admin.config_set("maxclients", 10000)
            admin.connection_pool.disconnect()
    cluster = make_cluster(extra_args=["--max-clients", str(SMALL_MAX_CLIENTS)])
    node = leader_node(cluster)
    first = cluster.client(node.id, single_connection_client=True)  # holds one of the 50
    acked = (b"hostile:before-full", b"acknowledged")
    assert first.set(*acked) is True
    # The harness's INFO connections must be gone before counting: ask on this connection.
    wait_until(lambda: first.info("clients")["connected_clients"] == 1,
               what="the leader to count only this client")
    held, reply, closed = open_until_refused(node.host, node.client_port, SMALL_MAX_CLIENTS + 10)
    try:
        assert (len(held) + 1, reply, closed) == (SMALL_MAX_CLIENTS, refusal, True)
        assert first.get(acked[0]) == acked[1]
        assert first.set(b"hostile:while-full", b"1") is True
        for sock in held[:10]:
            sock.close()
        del held[:10]
        fresh = cluster.client(node.id)
        assert wait_until(lambda: fresh.get(b"hostile:while-full") == b"1",
                          what="a new client to get in after ten closed")
    finally:
        close_all(held)
        first.close()
    assert cluster.info(node.id, "stats")["rejected_connections"] >= 1
    assert_cluster_healthy(cluster, acked)


def test_connection_flood_cannot_take_the_descriptors_storage_needs(make_cluster, tmp_path):
    """Nodes run with ulimit -n 256 (soft and hard) and the default --max-clients 10000: the
    node lowers max-clients to what leaves its reserve of descriptors, so a flood of 300 idle
    connections gets "-ERR max number of clients reached" past it, while a write big enough to
    open a new WAL segment still succeeds. (Before the budget the flood took every descriptor,
    and at the segment's end the leader failed the write and left the cluster: "fsync
    directory .../wal: Too many open files".)"""
    wrapper = tmp_path / "raftkv-ulimit"
    binary = os.environ.get("RAFTKV_BINARY", DEFAULT_BINARY)
    wrapper.write_text("#!/bin/sh\nulimit -n %d\nexec %s \"$@\"\n" % (DESCRIPTOR_LIMIT, binary))
    wrapper.chmod(0o755)
    cluster = make_cluster(binary=str(wrapper))
    acked = write_before_attack(cluster, random.Random(SEED))
    node = leader_node(cluster)
    writer = cluster.client(node.id, single_connection_client=True)
    assert writer.ping()
    flood = []
    try:
        for _ in range(DESCRIPTOR_FLOOD_CONNECTIONS):
            flood.append(connect(node.host, node.client_port, timeout_s=5.0))
        value = b"v" * MAX_BULK_BYTES
        for i in range(WAL_SEGMENT_BYTES // MAX_BULK_BYTES + 2):
            assert writer.set(b"hostile:flood:%d" % (i % 4), value) is True
        cluster.check_alive()
        maxclients = writer.info("clients")["maxclients"]
        assert 0 < maxclients < DESCRIPTOR_LIMIT
        refused = 0
        deadline = time.monotonic() + CLOSE_WAIT_S
        for sock in flood[maxclients:]:
            timeout_s = max(0.1, deadline - time.monotonic())
            reply, closed = read_until_closed(sock, timeout_s=timeout_s)
            refused += reply == b"-ERR max number of clients reached\r\n" and closed
        assert refused == DESCRIPTOR_FLOOD_CONNECTIONS - maxclients
    finally:
        close_all(flood)
        writer.close()
    assert "max-clients lowered to %d" % maxclients in cluster.logs(node.id)
    assert_cluster_healthy(cluster, acked)


# ---- 5. a client that never reads ----

def flood_without_reading(host, port, key):
    """Pipelines UNREAD_GETS GETs of key without reading a reply. Returns (bytes the node sent
    before closing, closed)."""
    sock = connect(host, port, receive_buffer_bytes=16 * 1024)
    try:
        request = command_bytes("GET", key)
        for _ in range(UNREAD_GETS // 64):
            if not send_ignoring_close(sock, request * 64):
                break
        data, closed = read_until_closed(sock, timeout_s=30.0, limit_bytes=READ_LIMIT_BYTES)
        return len(data), closed
    finally:
        sock.close()


def test_client_that_never_reads_is_dropped_at_max_output_buffer_bytes(
        cluster, acked_write, redis_server):
    """A client pipelines 2,048 GETs of a 256 KiB value (512 MiB of replies) and reads nothing:
    the node drops it once its unsent replies pass --max-output-buffer-bytes (1 MiB), as Redis
    does at client-output-buffer-limit, serves the others meanwhile, and its memory stays
    bounded: the node's RSS grows by far less than the replies it was asked for."""
    key = b"hostile:large"
    value = b"L" * UNREAD_VALUE_BYTES
    if redis_server is not None:
        loader = redis.Redis(*redis_server, socket_timeout=SOCKET_TIMEOUT_S)
        loader.set(key, value)
        loader.connection_pool.disconnect()
        sent, closed = flood_without_reading(*redis_server, key)
        assert closed and sent < 64 * MIB, "redis-server no longer drops the client"
    node = leader_node(cluster)
    assert cluster.client(node.id).set(key, value) is True
    rss_before = resident_bytes(node.process.pid)
    sent, closed = flood_without_reading(node.host, node.client_port, key)
    rss_after = resident_bytes(node.process.pid)
    assert closed, "the node kept a client that never reads"
    assert sent < 64 * MIB
    assert rss_after - rss_before < UNREAD_RSS_GROWTH_MAX_BYTES, (rss_before, rss_after)
    assert cluster.client(node.id).get(acked_write[0]) == acked_write[1]
    assert_cluster_healthy(cluster, acked_write)


def large_reply_then_ping(host, port, command):
    sock = connect(host, port)
    try:
        sock.sendall(command + b"PING\r\n")
        return read_until_closed(sock)
    finally:
        sock.close()


@pytest.mark.parametrize("command", [command_bytes("GET", "hostile:one-mib"),
                                     command_bytes("MGET", "hostile:one-mib", "hostile:one-mib")],
                         ids=["get", "mget"])
def test_reply_larger_than_max_output_buffer_bytes_closes_without_a_partial_reply(
        cluster, acked_write, redis_server, command):
    """A reply that alone passes --max-output-buffer-bytes (a GET or MGET of a 1 MiB value,
    with a 1 MiB limit) closes the connection with nothing sent, as Redis does: no reply with
    a hole in it. (raftkv used to drop the reply silently, so the PING's +PONG answered the
    GET, and to send MGET's "*2" without its elements.)"""
    value = b"M" * MAX_BULK_BYTES
    if redis_server is not None:
        loader = redis.Redis(*redis_server, socket_timeout=SOCKET_TIMEOUT_S)
        loader.set(b"hostile:one-mib", value)
        loader.connection_pool.disconnect()
        assert large_reply_then_ping(*redis_server, command) == (b"", True), \
            "redis-server no longer answers as this test expects"
    node = leader_node(cluster)
    assert cluster.client(node.id).set(b"hostile:one-mib", value) is True
    assert large_reply_then_ping(node.host, node.client_port, command) == (b"", True)
    assert_cluster_healthy(cluster, acked_write)


def test_replies_waiting_behind_a_blocked_write_count_against_max_output_buffer_bytes(
        cluster, acked_write):
    """With the followers paused, a pipeline of a SET (which cannot commit) and up to 1,000
    ECHOs of 256 KiB: the ECHOs' replies wait behind the SET's, and once they pass
    --max-output-buffer-bytes the client is dropped at once, while the SET still waits, instead
    of the node holding 250 MiB of replies until the SET times out."""
    node = leader_node(cluster)
    followers = [i for i in cluster.ids() if i != node.id]
    echo = command_bytes("ECHO", b"e" * UNREAD_VALUE_BYTES)
    sock = connect(node.host, node.client_port, receive_buffer_bytes=16 * 1024)
    try:
        rss_before = resident_bytes(node.process.pid)
        for follower in followers:
            cluster.pause(follower)
        sent = 0
        if send_ignoring_close(sock, command_bytes("SET", "hostile:blocked", "1")):
            while sent < 1000 and send_ignoring_close(sock, echo):
                sent += 1
        rss_after = resident_bytes(node.process.pid)
        assert read_until_closed(sock) == (b"", True)
    finally:
        sock.close()
        for follower in followers:
            cluster.resume(follower)
    assert sent < 1000, "the node read the whole pipeline"
    assert rss_after - rss_before < UNREAD_RSS_GROWTH_MAX_BYTES, (rss_before, rss_after)
    assert_cluster_healthy(cluster, acked_write)


# ---- 6. an argument past --max-bulk-bytes ----

def oversized_set(host, port):
    """SET with a value one byte past MAX_BULK_BYTES: the header alone, then the body.
    Returns (reply, closed)."""
    sock = connect(host, port)
    try:
        sock.sendall(b"*3\r\n$3\r\nSET\r\n$14\r\nhostile:toobig\r\n$%d\r\n" % (MAX_BULK_BYTES + 1))
        reply, found = read_until_suffix(sock, b"\r\n")
        send_ignoring_close(sock, b"x" * (MAX_BULK_BYTES + 1) + b"\r\n")
        rest, closed = read_until_closed(sock)
        return reply + rest, closed
    finally:
        sock.close()


def test_argument_past_max_bulk_bytes_gets_invalid_bulk_length_and_is_not_stored(
        cluster, acked_write, redis_server):
    """A value one byte past --max-bulk-bytes gets Redis's "-ERR Protocol error: invalid bulk
    length" as soon as its length is read, the connection is closed and nothing is stored;
    a value of exactly --max-bulk-bytes is accepted."""
    expected = (protocol_error(b"invalid bulk length"), True)
    if redis_server is not None:
        assert oversized_set(*redis_server) == expected, \
            "redis-server no longer answers as this test expects"
    node = leader_node(cluster)
    assert oversized_set(node.host, node.client_port) == expected
    client = cluster.client(node.id)
    assert client.exists(b"hostile:toobig") == 0
    assert client.set(b"hostile:at-the-limit", b"y" * MAX_BULK_BYTES) is True
    assert client.strlen(b"hostile:at-the-limit") == MAX_BULK_BYTES
    assert_cluster_healthy(cluster, acked_write)


# ---- 7. --max-query-buffer-bytes ----

def test_request_past_max_query_buffer_bytes_closes_the_connection(cluster, acked_write):
    """An MSET that announces 50 values of 1 MiB and keeps sending them is closed, with
    no reply, once its unparsed bytes pass --max-query-buffer-bytes (4 MiB), and nothing is
    stored. Differs from Redis 7.0, which moves each completed large argument out of its query
    buffer and so holds all 50 MiB: raftkv bounds the whole request."""
    node = leader_node(cluster)
    pairs = 50
    sock = connect(node.host, node.client_port)
    try:
        sock.sendall(b"*%d\r\n$4\r\nMSET\r\n" % (1 + 2 * pairs))
        value = bulk_bytes(b"q" * MAX_BULK_BYTES)
        sent = 0
        while sent < pairs and send_ignoring_close(sock, bulk_bytes(b"hostile:qb:%d" % sent)
                                                   + value):
            sent += 1
        assert read_until_closed(sock) == (b"", True)
        assert sent < pairs, "the node read 50 MiB of one request"
    finally:
        sock.close()
    assert cluster.client(node.id).exists(b"hostile:qb:0") == 0
    assert_cluster_healthy(cluster, acked_write)
