#!/usr/bin/env bash
# The development loop, timed: from saving a file to the first HTTP answer
# that shows the change, under `unchained run --reload`.
#
#   tests/bench/reload-timing.sh              # a project without a database
#   tests/bench/reload-timing.sh --database   # with the database bundle (SQLite)
#   RUNS=5 tests/bench/reload-timing.sh       # more edits of each kind (default 3)
#
# From the checkout's root, on a quiet machine. It scaffolds a project in a
# temporary folder and builds it into target/reload-timing (its own cache,
# so that no test's build holds the lock while it measures; only the first
# run compiles the dependencies), then, with `unchained run --reload`
# serving it:
#   - a template edit: rewrite templates/index.html, poll `GET /` until the
#     new text is served (no rebuild: the server re-reads the file);
#   - a handler edit: change the title that the index handler in
#     src/app.rs renders, poll until it is served (rebuild and restart).
# Each time is measured from the write to the first answer with the new
# text, polling every 20 ms. The launcher's own " * Restarted in" lines
# (build + restart, without the wait for the first answer) are shown too.
set -euo pipefail
cd "$(dirname "$0")/../.."
checkout=$(pwd)
runs=${RUNS:-3}
flags=(--no-prompt)
[[ "${1:-}" == "--database" ]] && flags+=(--database)

cargo build --quiet -p unchained --bin unchained
unchained="$checkout/target/debug/unchained"
export CARGO_TARGET_DIR="$checkout/target/reload-timing"
unset UNCHAINED_ENV
work=$(mktemp -d /tmp/reload-timing.XXXXXX)
launcher=
trap '[[ -n "$launcher" ]] && kill -TERM "$launcher" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
"$unchained" new project reloadtiming "${flags[@]}" >"$work/new.log" 2>&1
cd reloadtiming

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Polls until `GET /` shows $1; gives up after 15 minutes.
wait_for() {
  for _ in $(seq 45000); do
    if curl -s --max-time 5 "http://127.0.0.1:$port/" 2>/dev/null | grep -qF "$1"; then return 0; fi
    sleep 0.02
  done
  echo "error: GET / never showed \"$1\"; the launcher's log:" >&2
  cat "$work/run.log" >&2
  exit 1
}

"$unchained" run --reload --port "$port" >"$work/run.log" 2>&1 &
launcher=$!
wait_for "Welcome to reloadtiming"
# Let the first build's aftermath (the watcher's start) settle.
sleep 2

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "project: unchained new project reloadtiming ${flags[*]}"
for i in $(seq "$runs"); do
  sed -i "s/<h1>[^ ]* to/<h1>Template$i to/" templates/index.html
  t0=$(now)
  wait_for "Template$i to reloadtiming"
  t1=$(now)
  echo "template edit $i: $(secs "$t0" "$t1") s"
done
# First handler edit: render the title with a suffix; later ones change it.
sed -i 's/"title": title/"title": format!("{title} v0")/' src/app.rs
grep -q '"{title} v0"' src/app.rs || { echo "error: src/app.rs has no \"title\": title to edit" >&2; exit 1; }
wait_for "reloadtiming v0"
sleep 2
for i in $(seq "$runs"); do
  sed -i "s/{title} v[0-9]*\"/{title} v$i\"/" src/app.rs
  t0=$(now)
  wait_for "reloadtiming v$i"
  t1=$(now)
  echo "handler edit $i: $(secs "$t0" "$t1") s (launcher: $(grep -o 'Restarted in [0-9.]* s' "$work/run.log" | tail -1))"
  sleep 2
done
kill -TERM "$launcher"
wait "$launcher" 2>/dev/null || true
launcher=
