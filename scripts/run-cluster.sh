#!/usr/bin/env bash
# Starts a local 3-node raftkv cluster in the foreground: clients on 127.0.0.1:6379, 6380 and
# 6381, peers on 7379-7381, data under ${RAFTKV_DATA:-./data}/node-N (kept between runs:
# delete the directory to start fresh). Ctrl-C stops all three cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${RAFTKV_BINARY:-./build/src/server/raftkv}
data=${RAFTKV_DATA:-./data}
members=(--member 1=127.0.0.1:6379,127.0.0.1:7379
         --member 2=127.0.0.1:6380,127.0.0.1:7380
         --member 3=127.0.0.1:6381,127.0.0.1:7381)
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "raftkv: cluster stopped; data kept in $data"
}
trap stop INT TERM EXIT
for id in 1 2 3; do
  mkdir -p "$data/node-$id"
  "$binary" --id "$id" --data-dir "$data/node-$id" "${members[@]}" \
    2> >(sed -u "s/^/[node $id] /" >&2) &
  pids+=($!)
done
cat <<TEXT
raftkv: 3 nodes running (data in $data). Connect with:
  redis-cli -c -p 6379            # -c follows MOVED to the leader
  redis-cli -p 6379 SET favorite_food pickles
  redis-cli -p 6379 INFO raft
Any node redirects writes and reads to the leader. Ctrl-C stops the cluster.
TEXT
wait -n "${pids[@]}" || true
echo "raftkv: a node exited; stopping the others" >&2
