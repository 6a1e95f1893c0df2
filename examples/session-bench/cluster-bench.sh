#!/usr/bin/env bash
# Measures session-bench on a three-master Redis Cluster beside the same
# server on one Redis, axum + tower-sessions' Redis store, the one-round-
# trip Redis floor and bare axum, in one interleaved run of
# ../shared/bench-peers.
#
#   examples/session-bench/cluster-bench.sh                           # 3 rounds x 5 s
#   examples/session-bench/cluster-bench.sh --rounds 1 --duration 2   # a quick look
#
# Run from the checkout's root. The cluster is private (ports 45101-45103,
# a temporary folder, nothing saved) and is stopped when the run ends.
set -euo pipefail
cd "$(dirname "$0")/../.."
peers=../shared/bench-peers
[ -x "$peers/run.sh" ] || { echo "error: $peers/run.sh not found (the peers benchmark lives beside the checkout)" >&2; exit 2; }
command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
  || { echo "error: redis-server and redis-cli are needed for the cluster" >&2; exit 2; }
cargo build --release -p session-bench

ports=(45101 45102 45103)
dir=$(mktemp -d /tmp/unchained-cluster-bench.XXXXXX)
stop_cluster() {
  for port in "${ports[@]}"; do
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}
trap stop_cluster EXIT
for port in "${ports[@]}"; do
  mkdir -p "$dir/$port"
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "$dir/$port/nodes.conf" --dir "$dir/$port" \
    --save "" --appendonly no --daemonize yes --logfile "$dir/$port/log"
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done
redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 1 100); do
  redis-cli -p "${ports[0]}" cluster info | grep -q 'cluster_state:ok' && break
  sleep 0.1
done

app='env RUST_LOG=warn UNCHAINED_REQUEST_LOG=false UNCHAINED_PROJECT_ROOT=examples/session-bench ./target/release/session-bench'
"$peers/run.sh" --only unchained-redis \
  --extra "unchained-redis=env UNCHAINED_SESSION_TYPE=redis UNCHAINED_SESSION_REDIS=\$PEERS_REDIS_URL $app run --port {port}" \
  --extra "unchained-redis-cluster=env UNCHAINED_SESSION_TYPE=redis UNCHAINED_SESSION_REDIS_CLUSTER=true UNCHAINED_SESSION_REDIS=redis://127.0.0.1:${ports[0]} $app run --port {port}" \
  --extra-store unchained-redis-cluster=redis \
  --tag cluster "$@"
