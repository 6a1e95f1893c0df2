#!/usr/bin/env bash
# Measures session-bench on every store side by side with the peers of
# ../shared/bench-peers (bare axum, one-round-trip floors, axum +
# tower-sessions, Flask-Session) in one interleaved run.
#
#   examples/session-bench/bench.sh                       # full run (3 rounds x 5 s, about 20 min)
#   examples/session-bench/bench.sh --rounds 1 --duration 2   # a quick look
#
# Run from the checkout's root; results land in ../shared/bench-peers/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
peers=../shared/bench-peers
[ -x "$peers/run.sh" ] || { echo "error: $peers/run.sh not found (the peers benchmark lives beside the checkout)" >&2; exit 2; }
cargo build --release -p session-bench

# Measured as deployed: no request log (on by default only in development).
app='env RUST_LOG=warn UNCHAINED_REQUEST_LOG=false UNCHAINED_PROJECT_ROOT=examples/session-bench ./target/release/session-bench'
# `--only unchained,flask`: our four servers, their references (bare axum,
# floors, tower-sessions on the same store) and the Flask-Session peers.
exec "$peers/run.sh" --only unchained,flask \
  --extra "unchained-memory=$app run --port {port}" \
  --extra "unchained-sqlite=env UNCHAINED_SESSION_TYPE=sqlalchemy UNCHAINED_DATABASE_URL=sqlite://\$PEERS_SQLITE_DIR/sessions.sqlite?mode=rwc sh -c '$app db upgrade >/dev/null && exec $app run --port {port}'" \
  --extra "unchained-postgres=env UNCHAINED_SESSION_TYPE=sqlalchemy UNCHAINED_DATABASE_URL=\$PEERS_PG_URL sh -c '$app db upgrade >/dev/null && exec $app run --port {port}'" \
  --extra "unchained-redis=env UNCHAINED_SESSION_TYPE=redis UNCHAINED_SESSION_REDIS=\$PEERS_REDIS_URL $app run --port {port}" \
  "$@"
