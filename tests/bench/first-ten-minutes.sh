#!/usr/bin/env bash
# The first ten minutes of a new user, timed (issue #7): with an empty
# cargo cache, install the CLI, scaffold a SQLite project with sessions
# (`new` builds it and creates its tables), rebuild after touching one
# handler, and time from start to the first HTTP answer.
#
#   tests/bench/first-ten-minutes.sh      # from the checkout's root, on a quiet machine
#
# Everything goes to a fresh temporary CARGO_HOME and folder (crates are
# downloaded again from crates.io); nothing outside it is touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
checkout=$(pwd)
work=$(mktemp -d /tmp/first-ten-minutes.XXXXXX)
export CARGO_HOME="$work/cargo-home"
export PATH="$CARGO_HOME/bin:$PATH"
unset CARGO_TARGET_DIR
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }

t0=$(now)
cargo install --locked --quiet --path "$checkout/unchained" --root "$CARGO_HOME"
t1=$(now)
cd "$work"
unchained new project shop --database --session --no-prompt >"$work/new.log" 2>&1
t2=$(now)
cd shop
crates=$( (ls target/debug/deps/*.rlib 2>/dev/null || true) | sed 's|.*/lib||; s|-[0-9a-f]*\.rlib||' | sort -u | wc -l)
size=$(du -sh target | cut -f1)
drivers=$(cargo tree -e normal --prefix none 2>/dev/null | awk '{print $1}' | { grep -E '^(sqlx-postgres|sqlx-mysql|redis)$' || true; } | sort -u | tr '\n' ' ')

# Edit one handler: change the title the index page falls back to.
handler=src/app.rs
grep -q '"shop".into()' "$handler" || { echo "error: $handler has no \"shop\" literal to edit" >&2; exit 1; }
sed -i 's/"shop".into()/"shop (edited)".into()/' "$handler"
t3=$(now)
cargo build --quiet
t4=$(now)

port=18790
t5=$(now)
./target/debug/shop run --port $port >"$work/run.log" 2>&1 &
server=$!
for _ in $(seq 3000); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.01; done
t6=$(now)
kill $server; wait $server 2>/dev/null || true

echo "install of the CLI (cargo install, empty cache):  $(secs $t0 $t1) s"
echo "unchained new project (first build + tables):     $(secs $t1 $t2) s"
echo "install + first build together:                   $(secs $t0 $t2) s"
echo "rebuild after editing the index handler:         $(secs $t3 $t4) s"
echo "start to first HTTP answer:                       $(secs $t5 $t6) s"
echo "crates compiled for the project: $crates; target/: $size"
echo "PostgreSQL/MySQL/Redis drivers in the project's tree: ${drivers:-none}"
rm -rf "$work"
