#!/usr/bin/python3
"""fdatasync latency on this disk with 1, 2 and 3 writers at once: the floor under a write.

What it is: a probe for bench/RESULTS.md. A 3-node cluster on one machine keeps three WALs on
one disk, and every acknowledged write waits for the fdatasync of at least two of them; Redis
with appendfsync always has one. Each writer appends --bytes (default 2000, about what one
batch of 21 SETs writes) to its own preallocated file and fdatasyncs, back to back, for
--seconds; the probe prints, per number of writers, the fdatasyncs per second of all of them
together and the mean latency of one.

Failure modes: an I/O error ends the probe with its traceback; the files (in --dir, default
/tmp) are removed whatever happens.
"""

import argparse
import multiprocessing
import os
import sys
import time

PREALLOCATE_BYTES = 256 << 20


def writer(path, seconds, record_bytes, results):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.posix_fallocate(fd, 0, PREALLOCATE_BYTES)
        os.fsync(fd)
        record = b"x" * record_bytes
        offset, count, waited = 0, 0, 0.0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and offset + record_bytes <= PREALLOCATE_BYTES:
            os.pwrite(fd, record, offset)
            offset += record_bytes
            started = time.perf_counter()
            os.fdatasync(fd)
            waited += time.perf_counter() - started
            count += 1
        results.put((count, waited))
    finally:
        os.close(fd)
        os.unlink(path)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--bytes", type=int, default=2000)
    options = parser.parse_args(argv)
    print("| writers at once | fdatasyncs/s, all together | mean fdatasync (ms) |")
    print("|---:|---:|---:|")
    for writers in (1, 2, 3):
        results = multiprocessing.Queue()
        processes = [multiprocessing.Process(target=writer, args=(
            os.path.join(options.dir, "raftkv-fsync-probe-%d-%d" % (os.getpid(), i)),
            options.seconds, options.bytes, results)) for i in range(writers)]
        for process in processes:
            process.start()
        outcomes = [results.get() for _ in processes]
        for process in processes:
            process.join()
        count = sum(c for c, _ in outcomes)
        waited = sum(w for _, w in outcomes)
        print("| %d | %.0f | %.3f |" % (writers, count / options.seconds,
                                       1e3 * waited / max(count, 1)))


if __name__ == "__main__":
    main(sys.argv[1:])
