"""test_server_tls_certs.py — certificates that verify badly are refused: expired ones (a
client's, a node's) and a node's certificate that names another address (tls-verify-peer-name).

The PKI is test_server_tls.Pki (a CA, a node certificate naming every loopback address the nodes
use, a client certificate, a stranger CA — whose refusal test_server_tls.py checks) plus, made
here with the openssl command line:

  expired-client, expired-node   signed by the CA two days ago for one day (libfaketime's
                                 LD_PRELOAD with FAKETIME=-2d around `openssl x509 -req`, since
                                 OpenSSL 3.0's x509 has no -not_before): the chain is good, only
                                 the dates are not;
  node-<i>                       one per node, its only subjectAltName IP:127.0.0.(10+i): the
                                 node's own --member address and nothing else (the limit);
  wrong-host                     from the same CA, naming only node 2's address.

Checked: an expired client certificate is refused on the TLS client port (the reason logged)
while the valid one is served; a node with an expired certificate never joins (its peers log
"certificate has expired", it never hears of a leader, the others serve on); under
--tls-verify-peer-name yes a cluster of per-node certificates forms and serves (each names
exactly its node's address), and a node presenting a certificate of the right CA for another
address is refused by both sides (the dialer: "IP address mismatch"; the acceptor, after the
HELLO: "does not name its IP address"); without the setting the same certificate is
accepted (identity is then the HMAC handshake's, docs/operations.md); the setting without
tls-replication refuses to start.

Failure modes: every wait is bounded (harness.wait_until); each test has private clusters
(make_cluster), stopped and checked by conftest.py.
"""

import os
import subprocess

import pytest
import redis

from harness import wait_until
from test_server_tls import (
    LOG_WAIT_S, Pki, _make_certificate, _openssl, _wait_refused_peer, assert_serves_over_tls,
    tls_client, tls_node_args, tls_port, wait_for_log)

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
JOIN_TIMEOUT_S = 20.0


def _make_expired_certificate(directory, ca, name, sans=None):
    """Like _make_certificate, but signed two days in the past for one day."""
    extensions = os.path.join(directory, name + ".ext")
    with open(extensions, "w") as out:
        out.write("extendedKeyUsage=serverAuth,clientAuth\n")
        if sans:
            out.write("subjectAltName=%s\n" % sans)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", "/CN=%s" % name, "-keyout", name + ".key", "-out", name + ".csr",
             cwd=directory)
    env = dict(os.environ, LD_PRELOAD=LIBFAKETIME, FAKETIME="-2d")
    subprocess.run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt",
                    "-CAkey", ca + ".key", "-CAcreateserial", "-days", "1", "-extfile",
                    extensions, "-out", name + ".crt"],
                   cwd=directory, env=env, check=True, timeout=60, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    check = subprocess.run(["openssl", "verify", "-CAfile", ca + ".crt", name + ".crt"],
                           cwd=directory, capture_output=True, text=True, timeout=60)
    assert "certificate has expired" in check.stdout + check.stderr, check


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not os.path.exists(LIBFAKETIME):
        pytest.skip("libfaketime is not installed (%s)" % LIBFAKETIME)
    pki = Pki(str(tmp_path_factory.mktemp("pki")))
    from test_server_tls import NODE_SANS
    _make_expired_certificate(pki.directory, "ca", "expired-client")
    _make_expired_certificate(pki.directory, "ca", "expired-node", NODE_SANS)
    for node_id in range(1, 4):
        _make_certificate(pki.directory, "ca", "node-%d" % node_id, "IP:127.0.0.%d" % (10 + node_id))
    _make_certificate(pki.directory, "ca", "wrong-host", "IP:127.0.0.12")
    return pki


def _tls_cluster(make_cluster, pki, certs=None, extra=()):
    """A 3-node cluster with TLS peers and a TLS client port beside the plaintext one; node i
    presents certs(i) ("node" by default)."""
    cluster = make_cluster(size=3, start=False)
    for node_id in cluster.ids():
        node = cluster.nodes[node_id]
        name = certs(node_id) if certs else "node"
        node.extra_args = tls_node_args(pki, node, cert=name + ".crt", key=name + ".key") + list(
            extra)
    cluster.start()
    cluster.wait_for_leader(timeout_s=JOIN_TIMEOUT_S)
    return cluster


def _restart_with(cluster, pki, node_id, name, extra=()):
    """Restarts node_id presenting certificate `name`; returns the log marks before the start."""
    cluster.stop(node_id)
    marks = {i: len(cluster.logs(i)) for i in cluster.ids()}
    node = cluster.nodes[node_id]
    node.extra_args = tls_node_args(pki, node, cert=name + ".crt", key=name + ".key") + list(extra)
    cluster.start_node(node_id)
    return marks


# ---- expired ----

def test_expired_client_certificate_is_refused(make_cluster, pki):
    cluster = make_cluster(size=1, start=False)
    node = cluster.nodes[1]
    node.extra_args = pki.node_flags(cert="node.crt", key="node.key") + [
        "--tls-port", str(tls_port(node))]
    cluster.start()
    cluster.wait_for_leader()
    before = len(cluster.logs(1))
    expired = tls_client(pki, node, cert="expired-client")
    try:
        with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
            expired.ping()
    finally:
        expired.close()
    wait_for_log(cluster, 1, "certificate verification failed: certificate has expired",
                 after=before)
    good = tls_client(pki, node)
    try:
        assert good.set("after-expired", "1") and good.get("after-expired") == b"1"
    finally:
        good.close()
    assert cluster.raft_info(1)["raft_tls_handshake_failures"] >= 1


def test_node_with_an_expired_certificate_never_joins(make_cluster, pki):
    cluster = _tls_cluster(make_cluster, pki)
    victim = cluster.ids()[2]
    marks = _restart_with(cluster, pki, victim, "expired-node")
    # Its peers refuse it (as the dialer verifying it, and as the acceptor); it sees them close
    # during the TLS handshake. It never learns of a leader; the other two serve on.
    _wait_refused_peer(cluster, pki, victim, "refused our certificate?",
                       "certificate verification failed: certificate has expired", marks)
    cluster.stop(victim)


# ---- wrong host: tls-verify-peer-name ----

def test_verify_peer_name_accepts_certificates_naming_exactly_each_nodes_address(make_cluster,
                                                                                 pki):
    cluster = _tls_cluster(make_cluster, pki, certs=lambda i: "node-%d" % i,
                           extra=["--tls-verify-peer-name", "yes"])
    assert_serves_over_tls(cluster, pki)
    cluster.wait_applied()
    for node_id in cluster.ids():
        logs = cluster.logs(node_id)
        assert "over TLS" in logs
        assert "does not name" not in logs and "mismatch" not in logs, cluster.log_tail(node_id)


def test_verify_peer_name_refuses_a_certificate_for_another_address(make_cluster, pki):
    cluster = _tls_cluster(make_cluster, pki, certs=lambda i: "node-%d" % i,
                           extra=["--tls-verify-peer-name", "yes"])
    victim = 3  # presents a certificate of the right CA naming node 2's address only
    marks = _restart_with(cluster, pki, victim, "wrong-host", extra=["--tls-verify-peer-name",
                                                                      "yes"])
    others = [i for i in cluster.ids() if i != victim]
    # Nodes 1 and 2 dial node 3 (the higher id) and refuse its certificate while verifying it.
    wait_until(lambda: any("certificate verification failed: IP address mismatch"
                           in cluster.logs(i)[marks[i]:] for i in others),
               timeout_s=LOG_WAIT_S, what="a dialer to refuse the wrong-host certificate",
               on_timeout=cluster.describe)
    # Node 3 dials them too after the fallback delay: the acceptors refuse it as soon as its
    # HELLO says which node it claims to be, before proving themselves to it.
    wait_until(lambda: any("does not name its IP address 127.0.0.13 (tls-verify-peer-name)"
                           in cluster.logs(i)[marks[i]:] for i in others),
               timeout_s=LOG_WAIT_S, what="an acceptor to refuse the wrong-host certificate",
               on_timeout=cluster.describe)
    assert cluster.raft_info(victim)["raft_leader_id"] == 0
    assert "connected to peer" not in cluster.logs(victim)[marks[victim]:]
    assert_serves_over_tls(cluster, pki, among=others)
    cluster.stop(victim)


def test_without_verify_peer_name_a_certificate_for_another_address_is_accepted(make_cluster,
                                                                                 pki):
    """The default: any certificate of the CA; which node it is, the HMAC handshake proves."""
    cluster = _tls_cluster(make_cluster, pki, certs=lambda i: "node-%d" % i)
    victim = 3
    marks = _restart_with(cluster, pki, victim, "wrong-host")
    cluster.wait_for_leader(timeout_s=JOIN_TIMEOUT_S)
    cluster.wait_applied()
    assert "over TLS" in cluster.logs(victim)[marks[victim]:]
    assert_serves_over_tls(cluster, pki)


def test_verify_peer_name_needs_tls_replication(pki, tmp_path):
    binary = os.environ.get("RAFTKV_BINARY", "/work/main/build/src/server/raftkv")
    arguments = [binary, "--id", "1", "--data-dir", str(tmp_path / "data"),
                 "--member", "1=127.0.0.11:1,127.0.0.11:2", "--tls-verify-peer-name", "yes"]
    result = subprocess.run(arguments, capture_output=True, text=True, timeout=15,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result
    assert "tls-verify-peer-name needs tls-replication" in result.stderr, result
