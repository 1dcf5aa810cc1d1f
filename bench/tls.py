#!/usr/bin/python3
"""The cost of TLS: redis-benchmark against a 3-node raftkv cluster's leader, plaintext and TLS.

What it is: one 3-node cluster on loopback (tests/cluster/harness.py) started with TLS for
clients (--tls-port, client certificates required) and for peers (--tls-replication yes), with
a throw-away CA and certificates made by the openssl command line in its temporary directory.
Each round runs `redis-benchmark -t set,get -n N -c 50 -q` once against the leader's plaintext
port and once against its TLS port (`--tls --cacert --cert --key`), alternating, so that a
change in the machine's load hits both alike. Peer links are TLS in both columns: the
plaintext column measures clients in the clear over a TLS-replicating cluster, so the
difference is the client side's cost. With --plain-peers a second cluster without
--tls-replication runs the plaintext column, to see the peers' share.

It prints every round and the median of each column as markdown, with the command lines, the
load averages before and after, and the commit. Benchmarks measure; they do not pass or fail.
Failure modes: a cluster that does not elect a leader or a redis-benchmark that fails ends the
run with its output; every node is stopped whatever happens.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))

from harness import Cluster  # noqa: E402

TLS_PORT_OFFSET = 50
BENCH_TIMEOUT_S = 600
LINE = re.compile(r"^(SET|GET): ([\d.]+) requests per second, p50=([\d.]+) msec")


def openssl(directory, *arguments):
    subprocess.run(["openssl", *arguments], cwd=directory, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_pki(directory):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(directory, "req", "-x509", *ec, "-days", "2", "-subj", "/CN=bench-ca",
            "-keyout", "ca.key", "-out", "ca.crt")
    with open(os.path.join(directory, "ext"), "w") as out:
        out.write("extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,"
                  "IP:127.0.0.11,IP:127.0.0.12,IP:127.0.0.13\n")
    openssl(directory, "req", *ec, "-subj", "/CN=bench-node", "-keyout", "node.key",
            "-out", "node.csr")
    openssl(directory, "x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext", "-out", "node.crt")


def start_cluster(binary, pki, tls_peers):
    cluster = Cluster(size=3, binary=binary)
    for node_id in cluster.ids():
        node = cluster.nodes[node_id]
        node.extra_args = ["--tls-cert-file", os.path.join(pki, "node.crt"),
                           "--tls-key-file", os.path.join(pki, "node.key"),
                           "--tls-ca-cert-file", os.path.join(pki, "ca.crt"),
                           "--tls-port", str(node.client_port + TLS_PORT_OFFSET)]
        if tls_peers:
            node.extra_args += ["--tls-replication", "yes"]
    cluster.start()
    return cluster


def run_benchmark(node, port, tls, pki, requests):
    command = ["redis-benchmark", "-h", node.host, "-p", str(port), "-t", "set,get",
               "-n", str(requests), "-c", "50", "-q"]
    if tls:
        command += ["--tls", "--cacert", os.path.join(pki, "ca.crt"),
                    "--cert", os.path.join(pki, "node.crt"), "--key", os.path.join(pki, "node.key")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S)
    numbers = {}
    for line in result.stdout.replace("\r", "\n").splitlines():
        match = LINE.match(line.strip())
        if match:
            numbers[match.group(1)] = (float(match.group(2)), float(match.group(3)))
    if set(numbers) != {"SET", "GET"}:
        raise SystemExit("redis-benchmark failed: %s\n%s\n%s"
                         % (" ".join(command), result.stdout, result.stderr))
    return numbers, " ".join(command)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "build", "src", "server",
                                                         "raftkv"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--plain-peers", action="store_true")
    options = parser.parse_args()
    pki = tempfile.mkdtemp(prefix="raftkv-bench-tls-")
    make_pki(pki)
    load_before = os.getloadavg()
    clusters = {"tls": start_cluster(options.binary, pki, tls_peers=True)}
    try:
        if options.plain_peers:
            clusters["plain"] = start_cluster(options.binary, pki, tls_peers=False)
        rows = []
        commands = {}
        for round_number in range(1, options.rounds + 1):
            row = {}
            for column in ("plaintext", "TLS"):
                cluster = clusters["plain" if column == "plaintext" and options.plain_peers
                                   else "tls"]
                node = cluster.nodes[cluster.wait_for_leader()]
                port = node.client_port + (TLS_PORT_OFFSET if column == "TLS" else 0)
                row[column], commands[column] = run_benchmark(node, port, column == "TLS", pki,
                                                              options.requests)
            rows.append(row)
            print("round %d: %s" % (round_number, row), file=sys.stderr)
    finally:
        for cluster in clusters.values():
            cluster.close()
            cluster.remove_files()
        shutil.rmtree(pki, ignore_errors=True)
    load_after = os.getloadavg()
    commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    print("commit %s; load averages before %.2f %.2f %.2f, after %.2f %.2f %.2f\n"
          % ((commit,) + load_before + load_after))
    for column, command in commands.items():
        print("    %s: %s" % (column, command))
    print("\n| round | SET plaintext (req/s, p50 ms) | SET TLS | GET plaintext | GET TLS |")
    print("|---|---|---|---|---|")
    for index, row in enumerate(rows, 1):
        cells = ["%.0f, %.3f" % row[column][test] for test in ("SET", "GET")
                 for column in ("plaintext", "TLS")]
        print("| %d | %s |" % (index, " | ".join(cells)))
    medians = []
    for test in ("SET", "GET"):
        for column in ("plaintext", "TLS"):
            medians.append(statistics.median(row[column][test][0] for row in rows))
    print("| median | %.0f | %.0f (%+.0f%%) | %.0f | %.0f (%+.0f%%) |"
          % (medians[0], medians[1], 100 * (medians[1] / medians[0] - 1), medians[2],
             medians[3], 100 * (medians[3] / medians[2] - 1)))


if __name__ == "__main__":
    main()
