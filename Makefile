# The README's two commands: `make run` and `make test`. Both install what is missing first.
# The real work happens in CMake (build/ for a normal build, build-san/ with ASan + UBSan,
# build-fuzz/ with clang and libFuzzer); this file only strings the steps together.

JOBS ?= $(shell nproc)
SEEDS ?= 1000

.PHONY: all deps build build-san build-fuzz run demo test test-unit test-sim soak lecture clean
.PHONY: install package package-test

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS)

build-san: deps
	@cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug -DRAFTKV_SANITIZE=ON >/dev/null
	@cmake --build build-san -j $(JOBS)

build-fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAFTKV_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzzers

# `make install [PREFIX=/usr/local] [DESTDIR=]`: raftkv, raftkv-backup, their man pages, the
# example config (PREFIX/etc/raftkv/raftkv.conf; /etc under PREFIX=/usr), the docs and the
# dashboard's files, through CMake's install() rules (GNUInstallDirs), from a build of only what
# ships in build-install/, configured for PREFIX.
PREFIX ?= /usr/local
install: deps
	@cmake -S . -B build-install -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAFTKV_BUILD_TESTS=OFF \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build build-install -j $(JOBS)
	@DESTDIR=$(DESTDIR) cmake --install build-install

# The Debian package, into build-deb/ (scripts/build-package.sh: dpkg-buildpackage -us -uc -b
# on a copy of the tree); `dpkg-buildpackage -us -uc -b` in the tree works too.
package: deps
	@bash scripts/build-package.sh build-deb

# Builds the package and checks it (tests/cluster/test_package.py); make test runs it too,
# as the ctest `package`.
package-test: build
	@RAFTKV_BUILD_DIR=$(CURDIR)/build PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -q \
	  -p no:cacheprovider -rfEsxX tests/cluster/test_package.py

# A local 3-node demo cluster in the foreground under scripts/supervisor.py, with its control
# API on 127.0.0.1:9120 and fault injection on; data under ./data. RUN_ARGS="--nodes 5" for 5.
run: build
	@/usr/bin/python3 scripts/supervisor.py $(RUN_ARGS)

# The simulator's narrated demo: a 5-node cluster in one process surviving faults.
demo: build
	@./build/tests/sim/sim --demo

# The lecture on real processes (tests/lecture/lecture.py; about 2 minutes, no root: the faults
# are the nodes' own, --enable-fault-injection; LECTURE_ARGS="--faults nftables" as root):
# a node down, a partition with writes on both sides, reordered messages, each against the
# unsafe foils --replication naive and lww and against Raft; prints the table and writes
# build/lecture/report.html (a timeline per scenario) and the histories beside it.
lecture: build
	@RAFTKV_BINARY=$(CURDIR)/build/src/server/raftkv PYTHONDONTWRITEBYTECODE=1 \
	  /usr/bin/python3 tests/lecture/lecture.py --out $(CURDIR)/build/lecture $(LECTURE_ARGS)

# Every suite under ASan + UBSan: unit tests, the simulator, the real-process cluster tests;
# then each fuzzer briefly.
test: build-san build-fuzz
	@cd build-san && ctest --output-on-failure -j $(JOBS)
	@cd build-fuzz && ctest --output-on-failure -L fuzz

test-unit: build-san
	@cd build-san && ctest --output-on-failure -L unit

test-sim: build
	@./build/tests/sim/sim --seeds $(SEEDS)

# Long searches, for a machine left alone (about an hour on 2 cores; root for nftables):
# many more simulator seeds, 3,000 seeds of the state machine's replica check, every nemesis for longer on 3 and 5 nodes (RAFTKV_SOAK=1, under
# ASan, which is what catches memory errors), and ten minutes per fuzzer.
SOAK_SERVER = $(CURDIR)/build-san/src/server
soak: build build-san build-fuzz
	@./build/tests/sim/sim --seeds 200000 --from 100000
	@KV_REPLICAS_SEEDS=3000 ./build/tests/unit/test_kv_replicas
	@RAFTKV_SOAK=1 RAFTKV_BINARY=$(SOAK_SERVER)/raftkv \
	  RAFTKV_BROKEN_BINARY=$(SOAK_SERVER)/raftkv_broken_local_reads:$(SOAK_SERVER)/raftkv_broken_ack_before_commit \
	  PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX \
	  tests/cluster/test_faults_mixed.py tests/cluster/test_faults_broken.py \
	  tests/cluster/test_faults_transactions.py tests/cluster/test_dashboard.py
	@cd build-fuzz && FUZZ_SECONDS=600 ctest --output-on-failure -L fuzz

# Side by side with Redis (bench/compare.py): a 3-node cluster against redis-server with
# appendfsync always, redis-benchmark alternating between them; a markdown report on stdout.
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--rounds 5 --seconds 4".
.PHONY: bench bench-failover bench-snapshot bench-restart bench-placement
bench: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS) --target raftkv >&2
	@/usr/bin/python3 bench/compare.py $(BENCH_ARGS)

# Time from kill -9 of the leader to the first acknowledged write on a survivor, 20 rounds.
bench-failover: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS) --target raftkv >&2
	@/usr/bin/python3 bench/failover.py $(BENCH_ARGS)

# Writes while a follower catches up from a 1 GiB snapshot, and while every node snapshots
# its own 1 GiB database (bench/snapshot_stall.py; about 2 minutes, 8 GB of disk).
bench-snapshot: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS) --target raftkv >&2
	@/usr/bin/python3 bench/snapshot_stall.py $(BENCH_ARGS)

# GET -c 50 on the leader under three CPU placements (bench/placement.py; about a minute).
bench-placement: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS) --target raftkv >&2
	@/usr/bin/python3 bench/placement.py $(BENCH_ARGS)

clean:
	rm -rf build build-san build-fuzz build-install build-deb

# A follower with 10 M keys restarted cleanly, after kill -9 and as after a reboot: time until
# it serves a linearizable read; RSS and disk beside Redis's (bench/restart.py; ~15 GB of disk).
bench-restart: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j $(JOBS) --target raftkv >&2
	@/usr/bin/python3 bench/restart.py $(BENCH_ARGS)
