#!/usr/bin/env bash
# Starts a local 3-node raftkv cluster in the foreground: clients on 127.0.0.1:6379, 6380 and
# 6381, peers on 7379-7381, /metrics /livez /readyz on http://127.0.0.1:9121-9123, data under ${RAFTKV_DATA:-./data}/node-N (kept between runs:
# delete the directory to start fresh). Ctrl-C stops all nodes cleanly.
#
# A node that dies (kill -9 it to watch a failover) is reported, and the others keep serving;
# bring it back from another terminal with:   scripts/run-cluster.sh --node N
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${RAFTKV_BINARY:-./build/src/server/raftkv}
data=${RAFTKV_DATA:-./data}
members=(--member 1=127.0.0.1:6379,127.0.0.1:7379
         --member 2=127.0.0.1:6380,127.0.0.1:7380
         --member 3=127.0.0.1:6381,127.0.0.1:7381)

node_args() {
  args=("$binary" --id "$1" --data-dir "$data/node-$1" "${members[@]}"
        --metrics-addr "127.0.0.1:$((9120 + $1))")
}

if [ "${1:-}" = "--node" ]; then
  id=${2:?usage: scripts/run-cluster.sh --node N}
  mkdir -p "$data/node-$id"
  node_args "$id"
  exec "${args[@]}"
fi

declare -A pids=()
start_node() {
  mkdir -p "$data/node-$1"
  node_args "$1"
  "${args[@]}" 2> >(sed -u "s/^/[node $1] /" >&2) &
  pids[$!]=$1
}
stop() {
  trap - INT TERM EXIT
  for pid in "${!pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "raftkv: cluster stopped; data kept in $data"
  exit 0
}
trap stop INT TERM EXIT
for id in 1 2 3; do
  start_node "$id"
done
cat <<TEXT
raftkv: 3 nodes running (data in $data). Connect with:
  redis-cli -c -p 6379            # -c follows MOVED to the leader
  redis-cli -c -p 6379 SET favorite_food pickles
  redis-cli -p 6379 INFO raft     # raft_role, raft_term, raft_leader_id, ...
  curl http://127.0.0.1:9121/metrics   # Prometheus metrics (9122, 9123 for nodes 2, 3)
Any node redirects writes and reads to the leader. kill -9 the leader's process to watch
another node take over; restart it with: scripts/run-cluster.sh --node N
Ctrl-C stops the cluster.
TEXT
while [ ${#pids[@]} -gt 0 ]; do
  exited=
  status=0
  wait -n -p exited "${!pids[@]}" || status=$?
  [ -n "${exited:-}" ] || continue
  echo "raftkv: node ${pids[$exited]} exited (status $status); the others keep serving." \
       "Restart it with: scripts/run-cluster.sh --node ${pids[$exited]}" >&2
  unset "pids[$exited]"
done
