#!/usr/bin/python3
"""How long one large SET holds the leader's event loop (what set max-bulk-bytes's default).

What it is: starts a fresh 3-node cluster on loopback (tests/cluster/harness.py), PINGs the
leader every 2 ms from one thread while another client sends one SET of --bytes, and prints
how long the SET took, the longest gap between two PING replies (the loop standing still) and
whether the term changed (an election). Measures and reports; asserts nothing. Every process
is stopped whatever happens.

    /usr/bin/python3 bench/large_write.py --bytes 8388608 [--binary build-san/src/server/raftkv]
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "cluster"))

from harness import Cluster  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "build", "src", "server",
                                                         "raftkv"))
    parser.add_argument("--bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--election-timeout-ms", type=int, default=500)
    arguments = parser.parse_args()
    extra = ["--max-bulk-bytes", str(max(arguments.bytes, 1)),
             "--max-request-bytes", str(max(arguments.bytes, 1) + (1 << 20))]
    cluster = Cluster(3, binary=os.path.abspath(arguments.binary), request_timeout_ms=30000,
                      election_timeout_ms=arguments.election_timeout_ms, extra_args=extra)
    try:
        cluster.start()
        leader = cluster.wait_for_leader()
        term = cluster.raft_info(leader)["raft_term"]
        stop = threading.Event()
        gaps = []

        def ping():
            client = cluster.client(leader)
            last = time.monotonic()
            while not stop.is_set():
                client.ping()
                now = time.monotonic()
                gaps.append(now - last)
                last = now
                time.sleep(0.002)

        pinger = threading.Thread(target=ping, daemon=True)
        pinger.start()
        time.sleep(0.2)
        began = time.monotonic()
        outcome = "ok"
        try:
            cluster.client(leader, socket_timeout=60).set("big", b"x" * arguments.bytes)
        except Exception as error:  # noqa: BLE001 -- reported, not raised
            outcome = str(error)[:80]
        took = time.monotonic() - began
        time.sleep(0.3)
        stop.set()
        pinger.join(10)
        new_term = cluster.raft_info(cluster.wait_for_leader())["raft_term"]
        print("| %d bytes | SET %s in %.3f s | longest loop stall %.0f ms | %s |" % (
            arguments.bytes, outcome, took, 1000 * max(gaps),
            "no election" if new_term == term else "ELECTION (term %d -> %d)" % (term,
                                                                                 new_term)))
    finally:
        cluster.close()
        cluster.remove_files()


if __name__ == "__main__":
    main()
