#!/usr/bin/env bash
# Transfer throughput of the ledger next to pgbench's tpcb-like workload on the same
# PostgreSQL with the same number of clients, run right after. Prints both and the ratio.
#   CLIENTS=32 DURATION_SECS=20 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Binaries live where cargo puts them (CARGO_TARGET_DIR honoured).
release=${CARGO_TARGET_DIR:-target}/release

clients=${CLIENTS:-32}
duration=${DURATION_SECS:-20}
server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=$server/postgres
scripts/ensure-postgres.sh
cargo build --release --locked --bin wal-ledger --bin walctl

psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_bench' -c 'CREATE DATABASE wal_bench'
work=$(mktemp -d)
cleanup() { [ -n "${ledger_pid:-}" ] && kill "$ledger_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

$release/walctl --key "$work/treasury.key" keygen >/dev/null
DATABASE_URL=$server/wal_bench WAL_LISTEN_ADDR=127.0.0.1:0 RUST_LOG=warn \
    WAL_TREASURY_ADDRESS=$($release/walctl --key "$work/treasury.key" address) \
    $release/wal-ledger serve >"$work/ledger.out" 2>"$work/ledger.err" &
ledger_pid=$!
for _ in $(seq 1 100); do
    grep -q '^listening on ' "$work/ledger.out" && break
    sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/ledger.out")
[ -n "$url" ] || { cat "$work/ledger.err" >&2; exit 1; }

echo "== walctl bench: $clients clients, $duration s (ledger at $url)"
$release/walctl --url "$url" --key "$work/treasury.key" bench \
    --clients "$clients" --accounts $((clients * 2)) --duration-secs "$duration" | tee "$work/bench.txt"
ledger_tps=$(sed -n 's/^\([0-9]*\) transfers\/s.*/\1/p' "$work/bench.txt")
$release/walctl --url "$url" audit >/dev/null && echo "audit ok after the bench"
kill "$ledger_pid"; wait "$ledger_pid" 2>/dev/null || true; ledger_pid=

# The ledger talks to a PostgreSQL on this machine without TLS (see src/app.rs), so
# pgbench runs on the same transport; its figure with libpq's default TLS is printed too.
pgbench_tps() { # $1: sslmode
    pgbench -c "$clients" -j 2 -T "$duration" "$server/pgbench_wal?sslmode=$1" 2>/dev/null \
        | tee "$work/pgbench-$1.txt" | grep -E '^(tps|latency)' >&2
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench-$1.txt"
}
psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS pgbench_wal' -c 'CREATE DATABASE pgbench_wal'
pgbench -q -i -s 10 "$server/pgbench_wal" >/dev/null 2>&1
echo "== pgbench tpcb-like, scale 10: $clients clients, $duration s, sslmode=disable"
pg_tps=$(pgbench_tps disable)
echo "== pgbench tpcb-like, scale 10: $clients clients, $duration s, sslmode=prefer (TLS)"
pg_tls_tps=$(pgbench_tps prefer)
psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS pgbench_wal' -c 'DROP DATABASE IF EXISTS wal_bench'

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "== ledger $ledger_tps transfers/s; pgbench $pg_tps tps (same transport): ratio $(ratio "$ledger_tps" "$pg_tps"); pgbench with TLS $pg_tls_tps tps"
