#!/usr/bin/env bash
# Runs one libFuzzer target for FUZZ_SECONDS (default 10) from a copy of its seed corpus, so
# that what it discovers stays out of the source tree. A crash fails the test and leaves the
# reproducer in the build directory (crash-*), which replays with: <target> <file>.
set -euo pipefail
target=$1
seeds=$2
seconds=${FUZZ_SECONDS:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
if [ -d "$seeds" ]; then
  cp -r "$seeds"/. "$work/corpus/"
fi
# Not exec: the trap must outlive the fuzzer to remove the copy (exec leaked one per run).
"$target" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix=./ "$work/corpus"
