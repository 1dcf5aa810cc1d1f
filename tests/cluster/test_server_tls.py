"""test_server_tls.py — TLS for clients and peers on a real 3-node cluster.

A throw-away PKI is made with the openssl command line in the module's temporary directory:
a CA, a node certificate (its SANs are the loopback addresses the nodes listen on, and it
serves as server and client certificate), a client certificate, a second node certificate
from the same CA (for the reload), and a CA of strangers with its own node and client
certificates. The module's cluster runs every node with --tls-replication yes (peer links TLS
with certificates both ways, the HMAC handshake inside) and a TLS client port beside the
plaintext one (harness.py keeps using the plaintext port for INFO and for finding the leader).

Checked: redis-cli --tls and redis-py with ssl=True, a follower's MOVED naming the leader's
TLS port, a leader failover with writes continuing over TLS, a plaintext client on the TLS
port (fails, node serves on), clients without a certificate (refused under tls-auth-clients
yes, accepted under optional and no), a certificate from another CA (refused, for clients and
for peers), a node started without TLS (cannot become a peer; the reason is logged on both
sides), SIGHUP and RAFT.TLS RELOAD with a new certificate (the served certificate changes) and
with a broken file (the old one keeps serving), tls-only, bad files at start, random bytes on
the TLS client and peer ports.

Failure modes: every wait is bounded; every socket and process is closed in a finally
block; the seed of the random bytes is printed (RAFTKV_TLS_SEED=<n> replays it).
"""

import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest
import redis

from harness import Cluster, _port_free, wait_until

TLS_PORT_OFFSET = 50  # a node's TLS port: its client port + this (within the cluster's range)
CLI_TIMEOUT_S = 15.0
SOCKET_TIMEOUT_S = 10.0
FAILOVER_TIMEOUT_S = 20.0
RANDOM_CONNECTIONS_PER_NODE = 20
RANDOM_PAYLOAD_MAX_BYTES = 4096
LOG_WAIT_S = 10.0
SEED = int(os.environ.get("RAFTKV_TLS_SEED", random.SystemRandom().randrange(1 << 32)))
NODE_SANS = ",".join(["IP:127.0.0.1"] + ["IP:127.0.0.%d" % (10 + i) for i in range(1, 10)])


# ---- the throw-away PKI ----

def _openssl(*arguments, cwd):
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _make_ca(directory, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-days", "2", "-subj", "/CN=%s" % name, "-keyout", name + ".key",
             "-out", name + ".crt", cwd=directory)


def _make_certificate(directory, ca, name, sans=None):
    """A key and a certificate signed by `ca`, good for TLS servers and clients."""
    extensions = os.path.join(directory, name + ".ext")
    with open(extensions, "w") as out:
        out.write("extendedKeyUsage=serverAuth,clientAuth\n")
        if sans:
            out.write("subjectAltName=%s\n" % sans)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/CN=%s" % name, "-keyout", name + ".key", "-out", name + ".csr",
             cwd=directory)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
             "-CAcreateserial", "-days", "2", "-extfile", extensions, "-out", name + ".crt",
             cwd=directory)


class Pki:
    def __init__(self, directory):
        self.directory = directory
        _make_ca(directory, "ca")
        _make_ca(directory, "stranger-ca")
        _make_certificate(directory, "ca", "node", NODE_SANS)
        _make_certificate(directory, "ca", "node-renewed", NODE_SANS)
        _make_certificate(directory, "ca", "client")
        _make_certificate(directory, "stranger-ca", "stranger-node", NODE_SANS)
        _make_certificate(directory, "stranger-ca", "stranger-client")
        # The files the nodes are started with; the reload test replaces their contents.
        shutil.copy(self.path("node.crt"), self.path("served.crt"))
        shutil.copy(self.path("node.key"), self.path("served.key"))

    def path(self, name):
        return os.path.join(self.directory, name)

    def node_flags(self, cert="served.crt", key="served.key", ca="ca.crt"):
        return ["--tls-cert-file", self.path(cert), "--tls-key-file", self.path(key),
                "--tls-ca-cert-file", self.path(ca)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


def tls_port(node):
    return node.client_port + TLS_PORT_OFFSET


def tls_node_args(pki, node, **files):
    return pki.node_flags(**files) + ["--tls-replication", "yes", "--tls-port",
                                      str(tls_port(node))]


def _set_tls_args(cluster, pki, check_free=False):
    for node_id in cluster.ids():
        node = cluster.nodes[node_id]
        if check_free:
            assert _port_free(node.host, tls_port(node)), "TLS port %d taken" % tls_port(node)
        node.extra_args = tls_node_args(pki, node)


@pytest.fixture(scope="module")
def tls_cluster(request, pki):
    from conftest import _finish, _failed_modules
    cluster = Cluster(size=3)
    try:
        _set_tls_args(cluster, pki, check_free=True)
        cluster.start()
        cluster.wait_for_leader()
    except Exception:
        _finish(request.config, cluster, True)
        raise
    yield cluster
    errors = _finish(request.config, cluster, request.module.__name__ in _failed_modules)
    if errors:
        pytest.fail("unclean node exit at shutdown:\n%s" % "\n".join(map(str, errors)))


@pytest.fixture
def cluster(tls_cluster, pki):
    """The module's cluster, whole and with its TLS flags, before and after each test."""
    _set_tls_args(tls_cluster, pki)
    tls_cluster.heal()
    yield tls_cluster
    tls_cluster.check_alive()


# ---- clients ----

def tls_client(pki, node, cert="client", ca="ca.crt", port=None, **options):
    arguments = dict(host=node.host, port=port or tls_port(node), ssl=True,
                     ssl_ca_certs=pki.path(ca), socket_timeout=SOCKET_TIMEOUT_S,
                     socket_connect_timeout=SOCKET_TIMEOUT_S)
    if cert is not None:
        arguments.update(ssl_certfile=pki.path(cert + ".crt"), ssl_keyfile=pki.path(cert + ".key"))
    arguments.update(options)
    return redis.Redis(**arguments)


def redis_cli(pki, node, *command, cert="client", port=None):
    arguments = ["redis-cli", "--tls", "--cacert", pki.path("ca.crt"), "-h", node.host,
                 "-p", str(port or tls_port(node))]
    if cert is not None:
        arguments += ["--cert", pki.path(cert + ".crt"), "--key", pki.path(cert + ".key")]
    return subprocess.run(arguments + list(command), capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S)


def served_certificate(pki, node, port=None):
    """The certificate the node presents, as Python's ssl module decodes it."""
    context = ssl.create_default_context(cafile=pki.path("ca.crt"))
    context.check_hostname = False
    context.load_cert_chain(pki.path("client.crt"), pki.path("client.key"))
    with socket.create_connection((node.host, port or tls_port(node)), SOCKET_TIMEOUT_S) as raw:
        with context.wrap_socket(raw) as wrapped:
            return wrapped.getpeercert()


def subject_name(certificate):
    return dict(item[0] for item in certificate["subject"])["commonName"]


def wait_for_log(cluster, node_id, text, after=0, timeout_s=LOG_WAIT_S):
    return wait_until(lambda: text in cluster.logs(node_id)[after:], timeout_s=timeout_s,
                      what="node %d to log %r" % (node_id, text), on_timeout=cluster.describe)


def assert_serves_over_tls(cluster, pki, key="sentinel", among=None):
    """One leader (that the nodes in among know of), a write and its read back over TLS."""
    leader = cluster.wait_for_leader(among=among)
    client = tls_client(pki, cluster.nodes[leader])
    try:
        value = "%s-%d" % (key, time.monotonic_ns())
        assert client.set(key, value)
        assert client.get(key) == value.encode()
    finally:
        client.close()


# ---- the happy paths ----

def test_redis_cli_set_get_over_tls_and_moved_names_the_tls_port(cluster, pki):
    leader = cluster.wait_for_leader()
    node = cluster.nodes[leader]
    result = redis_cli(pki, node, "SET", "cli-key", "cli-value")
    assert result.returncode == 0 and result.stdout.strip() == "OK", result
    result = redis_cli(pki, node, "GET", "cli-key")
    assert result.stdout.strip() == "cli-value", result
    follower = cluster.nodes[next(i for i in cluster.ids() if i != leader)]
    result = redis_cli(pki, follower, "SET", "cli-key", "x")
    assert "MOVED" in result.stdout and "%s:%d" % (node.host, tls_port(node)) in result.stdout, \
        result
    # A plaintext client is still told the plaintext port.
    with pytest.raises(redis.ResponseError, match="MOVED .*:%d$" % node.client_port):
        cluster.raw_command(follower.id, "SET", "cli-key", "x")
    slots = tls_client(pki, follower).execute_command("CLUSTER", "SLOTS")
    assert slots[0][2][1] == tls_port(node)
    assert "over TLS" in cluster.logs(leader)


def test_redis_py_over_tls_through_a_failover(cluster, pki):
    leader = cluster.wait_for_leader()
    client = tls_client(pki, cluster.nodes[leader])
    try:
        for i in range(20):
            assert client.set("failover-%d" % i, str(i))
    finally:
        client.close()
    cluster.kill(leader)
    survivors = [i for i in cluster.ids() if i != leader]
    written = {}
    deadline = time.monotonic() + FAILOVER_TIMEOUT_S
    attempt = 0
    while len(written) < 20 and time.monotonic() < deadline:
        target = survivors[attempt % len(survivors)]
        attempt += 1
        client = tls_client(pki, cluster.nodes[target])
        try:
            key = "after-%d" % len(written)
            client.set(key, "v")
            written[key] = target
        except (redis.RedisError, OSError):
            time.sleep(0.1)  # MOVED to the other survivor, or no leader yet
        finally:
            client.close()
    assert len(written) == 20, "writes did not continue over TLS after the leader died"
    new_leader = cluster.wait_for_leader(among=survivors)
    client = tls_client(pki, cluster.nodes[new_leader])
    try:
        assert client.get("failover-7") == b"7"
        assert client.get("after-19") == b"v"
    finally:
        client.close()


def test_pubsub_over_tls(cluster, pki):
    """A subscriber on a follower's TLS port gets what a TLS client publishes on the leader."""
    leader = cluster.wait_for_leader()
    follower = next(i for i in cluster.ids() if i != leader)
    subscriber = tls_client(pki, cluster.nodes[follower])
    publisher = tls_client(pki, cluster.nodes[leader])
    pubsub = subscriber.pubsub()
    try:
        pubsub.subscribe("tls-news")
        assert pubsub.get_message(timeout=SOCKET_TIMEOUT_S)["type"] == "subscribe"
        publisher.publish("tls-news", "hello over TLS")
        message = wait_until(lambda: pubsub.get_message(timeout=1.0), timeout_s=LOG_WAIT_S,
                             what="the message on the follower")
        assert message["data"] == b"hello over TLS"
    finally:
        pubsub.close()
        subscriber.close()
        publisher.close()


# ---- refusals ----

def test_plaintext_client_on_the_tls_port_fails_and_the_node_serves_on(cluster, pki):
    node = cluster.nodes[cluster.ids()[0]]
    before = len(cluster.logs(node.id))
    plain = redis.Redis(host=node.host, port=tls_port(node), socket_timeout=SOCKET_TIMEOUT_S)
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        plain.ping()
    plain.close()
    wait_for_log(cluster, node.id, "not a TLS handshake", after=before)
    assert tls_client(pki, node).ping()
    assert_serves_over_tls(cluster, pki)


def test_client_without_a_certificate_is_refused_under_auth_clients_yes(cluster, pki):
    node = cluster.nodes[cluster.ids()[1]]
    before = len(cluster.logs(node.id))
    result = redis_cli(pki, node, "PING", cert=None)
    assert "PONG" not in result.stdout, result
    client = tls_client(pki, node, cert=None)
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        client.ping()
    client.close()
    wait_for_log(cluster, node.id, "did not return a certificate", after=before)
    assert tls_client(pki, node).ping()


def test_client_certificate_from_another_ca_is_refused(cluster, pki):
    node = cluster.nodes[cluster.ids()[2]]
    before = len(cluster.logs(node.id))
    client = tls_client(pki, node, cert="stranger-client")
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        client.ping()
    client.close()
    wait_for_log(cluster, node.id, "certificate verification failed", after=before)
    assert tls_client(pki, node).ping()


def _wait_refused_peer(cluster, pki, node_id, own_text, other_text, marks):
    wait_for_log(cluster, node_id, own_text, after=marks[node_id])
    others = [i for i in cluster.ids() if i != node_id]
    wait_until(lambda: any(other_text in cluster.logs(i)[marks[i]:] for i in others),
               timeout_s=LOG_WAIT_S, what="a TLS node to log %r" % other_text,
               on_timeout=cluster.describe)
    # The refused node never hears of a leader; the others keep serving.
    assert cluster.raft_info(node_id)["raft_leader_id"] == 0
    assert_serves_over_tls(cluster, pki, among=others)


def test_node_without_tls_cannot_become_a_peer(cluster, pki):
    victim = cluster.ids()[2]
    cluster.stop(victim)
    marks = {i: len(cluster.logs(i)) for i in cluster.ids()}
    cluster.nodes[victim].extra_args = []  # plaintext peers, plaintext clients only
    cluster.start_node(victim)
    _wait_refused_peer(cluster, pki, victim, "the peer uses tls-replication and this node does not",
                       "tls-replication is on", marks)
    cluster.stop(victim)


def test_peer_certificate_from_another_ca_is_refused(cluster, pki):
    victim = cluster.ids()[1]
    cluster.stop(victim)
    marks = {i: len(cluster.logs(i)) for i in cluster.ids()}
    node = cluster.nodes[victim]
    node.extra_args = tls_node_args(pki, node, cert="stranger-node.crt", key="stranger-node.key",
                                    ca="stranger-ca.crt")
    cluster.start_node(victim)
    _wait_refused_peer(cluster, pki, victim, "TLS:", "certificate verification failed", marks)
    cluster.stop(victim)


def test_follower_catches_up_from_a_snapshot_over_tls(make_cluster, pki):
    """Snapshots stream over the TLS links too: a follower behind the compacted log gets one."""
    cluster = make_cluster(size=3, start=False, snapshot_entries=50)
    _set_tls_args(cluster, pki, check_free=True)
    cluster.start()
    leader = cluster.wait_for_leader()
    follower = next(i for i in cluster.ids() if i != leader)
    cluster.stop(follower)
    client = tls_client(pki, cluster.nodes[leader])
    try:
        value = "x" * 2000
        for i in range(300):
            client.set("snap-%d" % i, value)
    finally:
        client.close()
    cluster.start_node(follower)
    cluster.wait_applied()
    assert cluster.raft_info(follower)["raft_snapshots_installed"] >= 1
    reader = tls_client(pki, cluster.nodes[follower], cert="client")
    try:
        reader.execute_command("READONLY")
        assert reader.get("snap-299") == value.encode()
    finally:
        reader.close()


# ---- reload ----

def _install(pki, cert_source, key_source):
    shutil.copy(pki.path(cert_source), pki.path("served.crt"))
    shutil.copy(pki.path(key_source), pki.path("served.key"))


def test_sighup_reload_serves_the_new_certificate_and_a_failed_one_keeps_the_old(cluster, pki):
    node = cluster.nodes[cluster.ids()[0]]
    assert subject_name(served_certificate(pki, node)) == "node"
    kept = tls_client(pki, node)  # an open connection lives through both reloads
    assert kept.ping()
    try:
        before = len(cluster.logs(node.id))
        _install(pki, "node-renewed.crt", "node-renewed.key")
        node.process.send_signal(signal.SIGHUP)
        wait_for_log(cluster, node.id, "TLS certificates reloaded", after=before)
        assert subject_name(served_certificate(pki, node)) == "node-renewed"
        assert kept.ping()

        before = len(cluster.logs(node.id))
        with open(pki.path("served.crt"), "w") as broken:
            broken.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        node.process.send_signal(signal.SIGHUP)
        wait_for_log(cluster, node.id, "TLS reload failed", after=before)
        assert subject_name(served_certificate(pki, node)) == "node-renewed"
        with pytest.raises(redis.ResponseError, match="TLS reload failed"):
            kept.execute_command("RAFT.TLS", "RELOAD")
        assert kept.ping()
        assert_serves_over_tls(cluster, pki)
        info = cluster.raft_info(node.id)
        assert info["raft_tls_reloads"] >= 1 and info["raft_tls_reload_failures"] >= 2
    finally:
        kept.close()
        _install(pki, "node.crt", "node.key")
    assert tls_client(pki, node).execute_command("RAFT.TLS", "RELOAD") in (b"OK", True, "OK")
    assert subject_name(served_certificate(pki, node)) == "node"


# ---- hostile bytes ----

def _random_payload(generator):
    size = generator.randrange(1, RANDOM_PAYLOAD_MAX_BYTES)
    payload = bytearray(generator.getrandbits(8) for _ in range(size))
    if generator.random() < 0.5:
        payload[0:3] = b"\x16\x03\x01"  # looks like a TLS record: past the first check
    return bytes(payload)


def _send_and_close(host, port, payload):
    try:
        with socket.create_connection((host, port), SOCKET_TIMEOUT_S) as sock:
            sock.settimeout(1.0)
            sock.sendall(payload)
            try:
                sock.recv(4096)
            except OSError:
                pass
    except OSError:
        pass  # the node may close first: that is its right


def test_random_bytes_on_tls_client_and_peer_ports_do_not_hurt(cluster, pki):
    print("RAFTKV_TLS_SEED=%d" % SEED)
    generator = random.Random(SEED)
    for node_id in cluster.ids():
        node = cluster.nodes[node_id]
        for _ in range(RANDOM_CONNECTIONS_PER_NODE):
            _send_and_close(node.host, tls_port(node), _random_payload(generator))
            _send_and_close(node.host, node.peer_port, _random_payload(generator))
    cluster.check_alive()
    assert_serves_over_tls(cluster, pki)


# ---- other modes, on a node of their own ----

def _single_tls_node(make_cluster, pki, extra):
    """A one-node cluster started with the PKI's files and extra(node)'s flags."""
    cluster = make_cluster(size=1, start=False)
    node = cluster.nodes[1]
    node.extra_args = pki.node_flags() + extra(node)
    cluster.start()
    return cluster, node


def test_auth_clients_optional_and_tls_only(make_cluster, pki):
    cluster, node = _single_tls_node(
        make_cluster, pki, lambda node: ["--tls-only", "yes", "--tls-auth-clients", "optional"])
    port = node.client_port  # tls-only: the member's client port speaks TLS

    def serves():
        client = tls_client(pki, node, cert=None, port=port)
        try:
            return client.set("optional", "1")
        finally:
            client.close()
    wait_until(serves, timeout_s=FAILOVER_TIMEOUT_S, what="the tls-only node to take writes")
    assert tls_client(pki, node, port=port).get("optional") == b"1"
    stranger = tls_client(pki, node, cert="stranger-client", port=port)
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        stranger.ping()
    stranger.close()
    plain = redis.Redis(host=node.host, port=port, socket_timeout=SOCKET_TIMEOUT_S)
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        plain.ping()
    plain.close()
    slots = tls_client(pki, node, port=port).execute_command("CLUSTER", "SLOTS")
    assert slots[0][2][1] == port
    # A node joins a tls-only cluster through the member's TLS client port (join.c over TLS).
    cluster.add_node(2, extra_args=pki.node_flags() + ["--tls-only", "yes"])
    wait_for_log(cluster, 2, "added to the cluster as a learner")
    members = tls_client(pki, node, port=port).execute_command("RAFT.NODE", "LIST")
    assert len(members) == 2


def test_auth_clients_no_accepts_a_client_without_a_certificate(make_cluster, pki):
    cluster, node = _single_tls_node(make_cluster, pki,
                                     lambda node: ["--tls-port", str(tls_port(node)),
                                                   "--tls-auth-clients", "no"])
    cluster.wait_for_leader()
    result = redis_cli(pki, node, "SET", "no-cert", "1", cert=None)
    assert result.stdout.strip() == "OK", result
    assert tls_client(pki, node, cert=None).get("no-cert") == b"1"


def _run_refusing(arguments):
    return subprocess.run(arguments, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("case", ["missing cert", "bad key", "mismatched key", "missing ca",
                                  "no key setting"])
def test_bad_or_missing_files_refuse_to_start(pki, tmp_path, case):
    binary = os.environ.get("RAFTKV_BINARY", "/work/main/build/src/server/raftkv")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    files = {"cert": pki.path("node.crt"), "key": pki.path("node.key"), "ca": pki.path("ca.crt")}
    expected = {"missing cert": "cannot read tls-cert-file", "bad key": "tls-key-file",
                "mismatched key": "not usable with tls-cert-file", "missing ca": "cannot read tls-ca-cert-file",
                "no key setting": "need tls-cert-file and tls-key-file"}[case]
    if case == "missing cert":
        files["cert"] = str(tmp_path / "absent.crt")
    elif case == "bad key":
        files["key"] = str(garbage)
    elif case == "mismatched key":
        files["key"] = pki.path("client.key")
    elif case == "missing ca":
        files["ca"] = str(tmp_path / "absent-ca.crt")
    arguments = [binary, "--id", "1", "--data-dir", str(tmp_path / "data"),
                 "--member", "1=127.0.0.11:1,127.0.0.11:2", "--tls-port", "3",
                 "--tls-replication", "yes", "--tls-cert-file", files["cert"],
                 "--tls-ca-cert-file", files["ca"]]
    if case != "no key setting":
        arguments += ["--tls-key-file", files["key"]]
    result = _run_refusing(arguments)
    assert result.returncode == 2, result
    assert expected in result.stderr, result
    assert result.stderr.count("\n") == 1, result  # one sentence
