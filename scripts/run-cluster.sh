#!/usr/bin/env bash
# The local demo cluster: scripts/supervisor.py (what `make run` starts) with the arguments
# given — 3 nodes in the foreground, clients on 127.0.0.1:6379-6381, peers on 7379-7381,
# HTTP on 9121-9123, data under ${RAFTKV_DATA:-./data}/node-N, a control API on
# 127.0.0.1:9120 to kill, restart, pause and resume nodes, fault injection on.
#
#   scripts/run-cluster.sh --node N    starts node N alone in the foreground, with the same
#                                      flags, for when the supervisor is not the one to run it
#                                      (the supervisor's own /api/nodes/N/restart is simpler).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${RAFTKV_BINARY:-./build/src/server/raftkv}
data=${RAFTKV_DATA:-./data}

if [ "${1:-}" = "--node" ]; then
  id=${2:?usage: scripts/run-cluster.sh --node N}
  count=3
  if [ -f "$data/supervisor.json" ]; then
    count=$(sed -n 's/.*"nodes": *\([0-9]*\).*/\1/p' "$data/supervisor.json")
  fi
  members=()
  for n in $(seq 1 "$count"); do
    members+=(--member "$n=127.0.0.1:$((6378 + n)),127.0.0.1:$((7378 + n)),127.0.0.1:$((9120 + n))")
  done
  mkdir -p "$data/node-$id"
  exec "$binary" --id "$id" --data-dir "$data/node-$id" "${members[@]}" \
    --metrics-addr "127.0.0.1:$((9120 + id))" --enable-fault-injection
fi
exec /usr/bin/python3 scripts/supervisor.py --binary "$binary" --data "$data" "$@"
