#!/usr/bin/env bash
# Cleanup under load: `/read` latency while `session cleanup` deletes one
# million expired rows, against the same server idle (issue #7's target:
# p99 within 2x of the idle run). SQLite and PostgreSQL.
#
#   examples/session-bench/cleanup-bench.sh [ROWS]     # default 1000000
#
# Run from the checkout's root on a quiet machine. Needs wrk, psql and the
# local PostgreSQL (127.0.0.1:5432, trust auth); uses its own database
# `session_bench_cleanup` and a temporary SQLite file. The server and the
# cleanup run on core 0, wrk on core 1, like ../shared/bench-peers.
set -euo pipefail
cd "$(dirname "$0")/../.."
rows=${1:-1000000}
port=18650
lua=../shared/bench-peers/peers.lua
[ -f "$lua" ] || { echo "error: $lua not found (../shared/bench-peers beside the checkout)" >&2; exit 2; }
cargo build --release -q -p session-bench
app=./target/release/session-bench
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export RUST_LOG=warn UNCHAINED_PROJECT_ROOT=examples/session-bench UNCHAINED_SESSION_TYPE=sqlalchemy

wrk_read() { # seconds -> "N req/s, p99 X ms"
  WRK_PATH=/read WRK_COOKIES="$work/cookies" WRK_JSON="$work/wrk.json" \
    taskset -c 1 wrk -t2 -c32 -d"$1"s -s "$lua" "http://127.0.0.1:$port/read" >/dev/null
  python3 - "$work/wrk.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
errors = sum(d["errors"].values())
print(f"{d['requests'] * 1e6 / d['duration_us']:,.0f} req/s, p99 {d['latency_us']['p99'] / 1000:.2f} ms, errors {errors}")
PY
}

measure() { # name url seed-sql
  local name=$1 url=$2 seed=$3
  export UNCHAINED_DATABASE_URL=$url
  $app db upgrade >/dev/null
  taskset -c 0 $app run --port $port >"$work/server.log" 2>&1 &
  local server=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/anon" >/dev/null && break; sleep 0.2; done
  for _ in $(seq 32); do
    curl -s -D - -o /dev/null "http://127.0.0.1:$port/incr" | tr -d '\r' \
      | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p'
  done >"$work/cookies"
  echo "== $name: $rows expired rows"
  echo "idle:            $(wrk_read 5)"
  eval "$seed"
  echo "seeded:          $(wrk_read 5)"
  local start=$(date +%s.%N)
  taskset -c 0 $app session cleanup ${CLEANUP_ARGS:-} >"$work/cleanup.log" 2>&1 &
  local cleanup=$!
  local during=$(wrk_read 5)
  wait $cleanup
  local took=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
  echo "during cleanup:  $during"
  echo "cleanup:         $(tail -1 "$work/cleanup.log") (finished after ${took} s)"
  kill $server; wait $server 2>/dev/null || true
}

sqlite_url="sqlite://$work/sessions.sqlite?mode=rwc"
measure SQLite "$sqlite_url" "sqlite3 '$work/sessions.sqlite' \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows) INSERT INTO flask_sessions (session_id, data, expiry, version) SELECT 'expired-' || x, x'80', '2000-01-01 00:00:00', 1 FROM c;\""

psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS session_bench_cleanup" -c "CREATE DATABASE session_bench_cleanup"
pg_url=postgres://postgres@127.0.0.1:5432/session_bench_cleanup
measure PostgreSQL "$pg_url" "psql -q -h 127.0.0.1 -U postgres -d session_bench_cleanup -c \"INSERT INTO flask_sessions (session_id, data, expiry, version) SELECT 'expired-' || g, '\\\\x80'::bytea, '2000-01-01', 1 FROM generate_series(1, $rows) g\""
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE session_bench_cleanup"
