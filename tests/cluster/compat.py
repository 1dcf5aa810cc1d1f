"""compat.py — side by side with Redis: the same commands sent to a real redis-server 7.0
(Debian's /usr/bin/redis-server) and to the leader of a raftkv cluster, the raw RESP2 replies
compared byte for byte.

How to use it, in a tests/cluster/test_compat_<topic>.py (the cluster_compat ctest suite runs
every such file, see compat.cmake):

    import pytest
    from compat import compat, fresh, redis_server  # noqa: F401 -- pytest fixtures

    def test_hset_counts_new_fields(fresh):
        fresh.setup("HSET h a 1")                      # run on both, replies must agree
        fresh.compare("HSET", "h", "a", "2", "b", "3")  # asserts equal, returns b":1\\r\\n"
        fresh.compare_unordered("HKEYS", "h")          # array order left arbitrary
        fresh.compare_unordered("HGETALL", "h", pairs=True)
        fresh.compare_many(["HGET h a", ("HGET", "h", "no such field")])

Run one file: cd tests/cluster && /usr/bin/python3 -m pytest -q -p no:cacheprovider
test_compat_<topic>.py (build/src/server/raftkv unless RAFTKV_BINARY says otherwise).

Fixtures (import them into the test module, as above; the module-scoped ones give each test
module ONE redis-server and ONE 3-node raftkv cluster, stopped at the module's end whatever
happens):
  redis_server  the redis-server process (RedisServer): port 127.0.0.1:<free>, --save ''
                --appendonly no, its own temporary directory; killed at the end.
  compat        a Compat bound to that redis-server and to conftest.py's module_cluster (so
                failures attach the nodes' logs and an unclean node exit fails the module).
  fresh         the same Compat after FLUSHALL on both sides; use it in every test unless the
                test picks its own key names and wants the module's state.

Compat's methods (arguments: str is sent UTF-8, bytes as is, int/float as str(); a reply is
the raw bytes, e.g. b"$1\\r\\n1\\r\\n" or b"-ERR syntax error\\r\\n"):
  compare(*args, known_difference=None)  one command on both; fails unless the replies are
      identical; returns the reply. See KNOWN_DIFFERENCES for known_difference.
  compare_unordered(*args, pairs=False)  for arrays whose order Redis leaves arbitrary
      (SMEMBERS, HKEYS, KEYS ...): compared as sorted multisets, nested arrays sorted too; with
      pairs=True the top array is a flat field/value list (HGETALL) compared as a multiset of
      pairs. Returns Redis's reply. Replies whose order is defined (LRANGE, ZRANGE ...
      WITHSCORES) go through compare().
  compare_many(commands, unordered=False)  compare() each; a command is a sequence of
      arguments or a str split on whitespace. Returns the list of replies.
  setup(*commands, check=True)  runs a script on both sides (same command forms); with check
      the replies must agree (a setup that already differs makes the test meaningless).
  compare_ttl(key, tolerance_ms=..., command="PTTL")  TTL, PTTL, EXPIRETIME or PEXPIRETIME:
      -1/-2 must be equal, positive values within tolerance (the two servers set a relative
      deadline at slightly different moments). Returns (redis_value, raftkv_value).
  compare_close(*args, tolerance)  any integer reply, within tolerance.
  compare_scan(command="SCAN", *args, pairs=False)  a full SCAN/HSCAN/SSCAN/ZSCAN iteration on
      both sides, comparing the set of elements returned (never the cursors); args are the
      key (except for SCAN) then options (MATCH, COUNT, TYPE).
  setup_collection(key)  makes key a hash, list, set or zset on both sides (the first type
      raftkv knows), for wrong-type cases; skips the test while raftkv has none.
  redis(*args), raftkv(*args)  one side only, raw reply (raftkv: the leader, MOVED followed).
  flushall()  FLUSHALL on both.
Helpers: encode(args) -> RESP bytes, parse(raw) -> nested Python values (errors as
RespError), show(args) -> a printable command.

A mismatch fails the test with the command, Redis's reply and raftkv's reply (repr of the
bytes). Real differences are raftkv bugs: pin them with
pytest.mark.xfail(strict=True, reason="<command>: redis says X, raftkv says Y") so the test
flips to a failure once fixed. known_difference is only for the deliberate differences listed
in KNOWN_DIFFERENCES; compare() then fails if the replies turn out EQUAL (the entry is stale)
and returns a Difference(redis, raftkv) so the test can still pin raftkv's side. A new
deliberate difference is added to that list by compat.py's owner: ask for it in your report.
Replies that are random by design (SPOP, SRANDMEMBER, HRANDFIELD ...) cannot be compared
byte for byte: compare their shape (parse() both sides' replies from redis() and raftkv()),
or the state they leave, instead.

Failure modes: every socket operation is bounded (SOCKET_TIMEOUT_S); raftkv's leader is found
with harness.Cluster.wait_for_leader and MOVED replies are followed to the named node (a few
times at most); -TRYAGAIN and -CLUSTERDOWN (no leader at the moment) are retried for
RETRY_WINDOW_S. A redis-server that does not answer PING within START_TIMEOUT_S fails the
fixture with its log.
"""

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from harness import _die_with_parent

REDIS_SERVER = os.environ.get("RAFTKV_REDIS_SERVER", "/usr/bin/redis-server")
REDIS_HOST = "127.0.0.1"
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
START_ATTEMPTS = 3
RETRY_WINDOW_S = 10.0
RETRY_PAUSE_S = 0.05
MAX_REDIRECTS = 5
DEFAULT_TTL_TOLERANCE_MS = 1000

# The deliberate differences a test may name in compare(..., known_difference=NAME). Each is
# a design decision of raftkv, documented; a bug never goes here (use xfail(strict=True)).
KNOWN_DIFFERENCES = {
    "one-database": "raftkv keeps a single database (0): SELECT n>0, MOVE, SWAPDB differ",
    "key-size": "raftkv refuses keys over 503 bytes and fields/members over 494 bytes "
                "(LMDB's maximum key size), where Redis accepts up to 512 MB",
    "set-ifeq": "raftkv accepts SET ... IFEQ <value> (Valkey's compare-and-set); Redis 7.0 "
                "answers a syntax error",
}

# setup_collection's ways to make a key of a non-string type, the first raftkv knows wins.
COLLECTION_WRITES = [("HSET", "f", "v"), ("RPUSH", "x"), ("SADD", "x"), ("ZADD", "1", "x")]

Difference = collections.namedtuple("Difference", ["redis", "raftkv"])


class RespError(str):
    """An error reply, as parse() returns it (the text without the leading '-')."""


class CompatError(Exception):
    """The harness itself could not do its job (a server gone, a bounded wait ran out)."""


# ---- RESP ----

def _argument_bytes(argument):
    if isinstance(argument, bytes):
        return argument
    if isinstance(argument, str):
        return argument.encode()
    if isinstance(argument, (int, float)) and not isinstance(argument, bool):
        return str(argument).encode()
    raise TypeError("cannot send %r as a command argument" % (argument,))


def encode(arguments):
    """A command as a RESP2 array of bulk strings."""
    parts = [b"*%d\r\n" % len(arguments)]
    for argument in arguments:
        data = _argument_bytes(argument)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def command_arguments(command):
    """A command given as a str (split on whitespace) or a sequence of arguments."""
    if isinstance(command, (str, bytes)):
        return command.split()
    return list(command)


def show(arguments):
    """A command as a readable line: printable words as is, others as repr."""
    words = []
    for argument in arguments:
        data = _argument_bytes(argument)
        text = data.decode("ascii", "replace")
        if data and re.fullmatch(rb"[\x21-\x7e]+", data) and len(data) <= 80:
            words.append(text)
        else:
            words.append(repr(data if len(data) <= 80 else data[:80] + b"..."))
    return " ".join(words)


class _ReplyReader:
    """Reads one complete reply from a socket and returns its raw bytes: just enough RESP
    (RESP2, and RESP3's types should a server send them) to find where a reply ends."""

    def __init__(self, sock):
        self.reader = sock.makefile("rb")

    def close(self):
        self.reader.close()

    def _line(self):
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise CompatError("connection closed mid-reply (read %r)" % line)
        return line

    def read(self):
        line = self._line()
        kind, body = line[:1], line[1:-2]
        if kind in b"+-:_,#(":
            return line
        if kind in b"$=!":
            length = int(body)
            if length < 0:
                return line
            data = self.reader.read(length + 2)
            if len(data) != length + 2:
                raise CompatError("connection closed mid-bulk (%d of %d bytes)"
                                  % (len(data), length + 2))
            return line + data
        if kind in b"*~>%|":
            count = int(body)
            if count < 0:
                return line
            if kind in b"%|":
                count *= 2
            return line + b"".join(self.read() for _ in range(count))
        raise CompatError("not a RESP reply: %r" % line)


def parse(raw):
    """Raw reply bytes -> Python values: bytes, int, None, list, RespError (status replies
    come back as str). For assertions beyond byte equality."""
    value, end = _parse_at(raw, 0)
    if end != len(raw):
        raise CompatError("trailing bytes after a reply: %r" % raw[end:])
    return value


def _parse_at(raw, start):
    end = raw.index(b"\r\n", start)
    kind, body = raw[start:start + 1], raw[start + 1:end]
    after = end + 2
    if kind == b"+":
        return body.decode(), after
    if kind == b"-":
        return RespError(body.decode("utf-8", "replace")), after
    if kind == b":":
        return int(body), after
    if kind == b"$":
        length = int(body)
        if length < 0:
            return None, after
        return raw[after:after + length], after + length + 2
    if kind == b"*":
        count = int(body)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _parse_at(raw, after)
            items.append(item)
        return items, after
    raise CompatError("compat.parse handles RESP2 only, got %r" % raw[start:end])


def _split_array(raw):
    """A RESP2 array reply -> (header, [raw element bytes]), or None if not an array."""
    if not raw.startswith(b"*") or raw.startswith(b"*-1"):
        return None
    end = raw.index(b"\r\n")
    count = int(raw[1:end])
    position = end + 2
    elements = []
    for _ in range(count):
        _, after = _parse_at(raw, position)
        elements.append(raw[position:after])
        position = after
    return raw[:end + 2], elements


def canonical(raw, pairs=False):
    """An array reply with its elements sorted (nested arrays canonical too); with pairs the
    top array is read as field/value pairs, sorted as pairs. Other replies unchanged."""
    split = _split_array(raw)
    if split is None:
        return raw
    header, elements = split
    elements = [canonical(element) for element in elements]
    if pairs:
        if len(elements) % 2:
            return raw  # not a pair list: leave it for the byte comparison to show
        joined = sorted(elements[i] + elements[i + 1] for i in range(0, len(elements), 2))
        return header + b"".join(joined)
    return header + b"".join(sorted(elements))


# ---- connections ----

class Connection:
    """One TCP connection to a server; command() sends one command, returns the raw reply."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        self.sock.settimeout(SOCKET_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = _ReplyReader(self.sock)

    def command(self, arguments):
        self.sock.sendall(encode(arguments))
        return self.reader.read()

    def close(self):
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


class LeaderConnection:
    """A connection to a raftkv cluster's leader: follows -MOVED to the node it names, and
    retries -TRYAGAIN / -CLUSTERDOWN for a bounded while (an election in progress)."""

    _MOVED = re.compile(rb"^-MOVED \d+ ([0-9.]+):(\d+)\r\n$")

    def __init__(self, cluster):
        self.cluster = cluster
        self.connection = None

    def _connect_to_leader(self):
        node = self.cluster.node(self.cluster.wait_for_leader())
        self.connection = Connection(node.host, node.client_port)

    def command(self, arguments):
        deadline = time.monotonic() + RETRY_WINDOW_S
        redirects = 0
        while True:
            if self.connection is None:
                self._connect_to_leader()
            reply = self.connection.command(arguments)
            moved = self._MOVED.match(reply)
            if moved and redirects < MAX_REDIRECTS:
                redirects += 1
                self.connection.close()
                self.connection = Connection(moved.group(1).decode(), int(moved.group(2)))
                continue
            if (reply.startswith((b"-TRYAGAIN", b"-CLUSTERDOWN"))
                    and time.monotonic() < deadline):
                time.sleep(RETRY_PAUSE_S)
                self.close()
                continue
            return reply

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


# ---- redis-server ----

def _free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private redis-server on 127.0.0.1 and a free port, no persistence, in its own
    temporary directory (its log is redis.log there). stop() always leaves no process."""

    def __init__(self, binary=REDIS_SERVER):
        if not os.access(binary, os.X_OK):
            raise CompatError("redis-server not found at %s (set RAFTKV_REDIS_SERVER)" % binary)
        self.binary = binary
        self.root = tempfile.mkdtemp(prefix="raftkv-compat-redis-")
        self.log_path = os.path.join(self.root, "redis.log")
        self.host = REDIS_HOST
        self.port = None
        self.process = None

    def start(self):
        last = None
        for _ in range(START_ATTEMPTS):  # the free port may be taken before redis binds it
            self.port = _free_port(self.host)
            arguments = [self.binary, "--bind", self.host, "--port", str(self.port),
                         "--save", "", "--appendonly", "no", "--dir", self.root,
                         "--daemonize", "no", "--logfile", self.log_path]
            self.process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL,
                                            preexec_fn=_die_with_parent)
            try:
                self._wait_ready()
                return self
            except CompatError as error:
                last = error
                self.stop()
        raise CompatError("redis-server did not start: %s\n%s" % (last, self.log_tail()))

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise CompatError("redis-server exited with code %d" % self.process.returncode)
            try:
                connection = Connection(self.host, self.port)
                try:
                    if connection.command(["PING"]) == b"+PONG\r\n":
                        return
                finally:
                    connection.close()
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise CompatError("redis-server not answering PING on port %d after %.0f s"
                                  % (self.port, START_TIMEOUT_S))
            time.sleep(RETRY_PAUSE_S)

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as log:
                text = log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no redis-server log)"
        return "\n".join(["---- redis-server log %s ----" % self.log_path] + text[-lines:])

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove_files(self):
        shutil.rmtree(self.root, ignore_errors=True)


# ---- the comparison ----

def _mismatch(what, arguments, redis_reply, raftkv_reply, note=""):
    return ("%s differ for: %s%s\n  redis-server: %r\n  raftkv:       %r"
            % (what, show(arguments), note, redis_reply, raftkv_reply))


class Compat:
    """The two sides and the comparisons; see the module's docstring."""

    def __init__(self, redis_server, cluster):
        self.redis_server = redis_server
        self.cluster = cluster
        self._redis = Connection(redis_server.host, redis_server.port)
        self._raftkv = LeaderConnection(cluster)

    def close(self):
        self._redis.close()
        self._raftkv.close()

    def redis(self, *arguments):
        """One command on redis-server only; the raw reply."""
        return self._redis.command(arguments)

    def raftkv(self, *arguments):
        """One command on raftkv's leader only; the raw reply."""
        return self._raftkv.command(arguments)

    def both(self, arguments):
        return self._redis.command(arguments), self._raftkv.command(arguments)

    def flushall(self):
        for side, reply in zip(("redis-server", "raftkv"), self.both(["FLUSHALL"])):
            if reply != b"+OK\r\n":
                raise CompatError("FLUSHALL on %s answered %r" % (side, reply))

    def compare(self, *arguments, known_difference=None):
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        redis_reply, raftkv_reply = self.both(arguments)
        if known_difference is not None:
            if known_difference not in KNOWN_DIFFERENCES:
                raise CompatError("unknown known_difference %r (see KNOWN_DIFFERENCES)"
                                  % known_difference)
            if redis_reply == raftkv_reply:
                pytest.fail(_mismatch("replies no longer", arguments, redis_reply,
                                      raftkv_reply, " (known difference %r is stale: %s)"
                                      % (known_difference,
                                         KNOWN_DIFFERENCES[known_difference])))
            return Difference(redis_reply, raftkv_reply)
        if redis_reply != raftkv_reply:
            pytest.fail(_mismatch("replies", arguments, redis_reply, raftkv_reply))
        return redis_reply

    def compare_unordered(self, *arguments, pairs=False):
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        redis_reply, raftkv_reply = self.both(arguments)
        if canonical(redis_reply, pairs) != canonical(raftkv_reply, pairs):
            pytest.fail(_mismatch("replies (as unordered %s)" % ("pairs" if pairs else
                                                                 "elements"),
                                  arguments, redis_reply, raftkv_reply))
        return redis_reply

    def compare_many(self, commands, unordered=False):
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        compare = self.compare_unordered if unordered else self.compare
        return [compare(*command_arguments(command)) for command in commands]

    def setup(self, *commands, check=True):
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        replies = []
        for command in commands:
            arguments = command_arguments(command)
            redis_reply, raftkv_reply = self.both(arguments)
            if check and redis_reply != raftkv_reply:
                pytest.fail(_mismatch("setup replies", arguments, redis_reply, raftkv_reply))
            replies.append(redis_reply)
        return replies

    def setup_collection(self, key):
        """Makes key a collection on both sides with the first of HSET, RPUSH, SADD, ZADD that
        raftkv knows (for wrong-type cases of commands of other types); skips the test while
        raftkv knows none. Returns the type's name (b"hash", ...)."""
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        for command in COLLECTION_WRITES:
            arguments = [command[0], key] + list(command[1:])
            if not self.raftkv(*arguments).startswith(b"-ERR unknown command"):
                self.redis(*arguments)
                return parse(self.compare("TYPE", key)).encode()
        pytest.skip("raftkv has no collection type yet (HSET, RPUSH, SADD, ZADD unknown)")

    def _integers(self, arguments):
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        redis_reply, raftkv_reply = self.both(arguments)
        values = []
        for reply in (redis_reply, raftkv_reply):
            if not reply.startswith(b":"):
                pytest.fail(_mismatch("replies", arguments, redis_reply, raftkv_reply,
                                      " (an integer was expected from both)"))
            values.append(int(reply[1:-2]))
        return redis_reply, raftkv_reply, values

    def compare_close(self, *arguments, tolerance):
        """Integer replies within tolerance of each other; negative ones (TTL's -1, -2) must
        be equal. Returns (redis_value, raftkv_value)."""
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        redis_reply, raftkv_reply, (ours, theirs) = self._integers(arguments)
        close = (ours == theirs if min(ours, theirs) < 0
                 else abs(ours - theirs) <= tolerance)
        if not close:
            pytest.fail(_mismatch("replies", arguments, redis_reply, raftkv_reply,
                                  " (tolerance %s)" % tolerance))
        return ours, theirs

    def compare_ttl(self, key, tolerance_ms=DEFAULT_TTL_TOLERANCE_MS, command="PTTL"):
        """TTL / PTTL / EXPIRETIME / PEXPIRETIME of key, within tolerance_ms (converted to
        seconds, rounded up, for TTL and EXPIRETIME)."""
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        name = command.upper()
        if name not in ("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"):
            raise CompatError("compare_ttl takes TTL, PTTL, EXPIRETIME or PEXPIRETIME")
        tolerance = tolerance_ms if name.startswith("P") else -(-tolerance_ms // 1000)
        return self.compare_close(name, key, tolerance=tolerance)

    def _scan_all(self, send, command, key, options):
        cursor = b"0"
        seen = []
        for _ in range(1_000_000):
            arguments = [command] + ([key] if key is not None else []) + [cursor] + options
            reply = send(arguments)
            value = parse(reply)
            if (not isinstance(value, list) or len(value) != 2
                    or not isinstance(value[1], list)):
                return reply, None
            cursor, elements = value
            seen.extend(elements)
            if cursor == b"0":
                return None, seen
        raise CompatError("%s did not finish" % show([command, key]))

    def compare_scan(self, command="SCAN", *arguments, pairs=False):
        """A full iteration on both sides; the sets of keys (or of field/value pairs with
        pairs, for HSCAN and ZSCAN) must be equal. An error reply must be identical. Returns
        the sorted list of elements (pairs as tuples)."""
        __tracebackhide__ = True  # pytest shows the test's line, not ours
        command = command.upper()
        key = None
        options = list(arguments)
        if command != "SCAN":
            key, options = options[0], options[1:]
        results = []
        for send in (self._redis.command, self._raftkv.command):
            results.append(self._scan_all(send, command, key, options))
        shown = [command] + ([key] if key is not None else []) + ["<cursor>"] + options
        (redis_error, redis_seen), (raftkv_error, raftkv_seen) = results
        if redis_error is not None or raftkv_error is not None:
            if redis_error != raftkv_error:
                pytest.fail(_mismatch("replies", shown, redis_error, raftkv_error))
            return redis_error
        if pairs:
            redis_seen = list(zip(redis_seen[0::2], redis_seen[1::2]))
            raftkv_seen = list(zip(raftkv_seen[0::2], raftkv_seen[1::2]))
        if set(redis_seen) != set(raftkv_seen):
            pytest.fail(_mismatch("elements of a full iteration", shown,
                                  sorted(set(redis_seen)), sorted(set(raftkv_seen))))
        return sorted(set(redis_seen))


# ---- fixtures ----

@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.remove_files()


@pytest.fixture(scope="module")
def compat(redis_server, module_cluster):
    """Compat for this module: its redis-server and conftest.py's module_cluster."""
    side_by_side = Compat(redis_server, module_cluster)
    try:
        yield side_by_side
    finally:
        side_by_side.close()


@pytest.fixture
def fresh(compat):
    """compat after FLUSHALL on both sides; after the test, checks no raftkv node died."""
    compat.flushall()
    yield compat
    compat.cluster.check_alive()
