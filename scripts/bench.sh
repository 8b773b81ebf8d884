#!/usr/bin/env bash
# Transfer throughput of the ledger next to pgbench's tpcb-like workload (scale 10) on
# the same PostgreSQL with the same number of clients, for each client count in one
# run: the ledger first, pgbench right after. Prints both and their ratio.
#   CLIENTS="8 32 64" DURATION_SECS=20 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Binaries live where cargo puts them (CARGO_TARGET_DIR honoured).
release=${CARGO_TARGET_DIR:-target}/release

client_counts=${CLIENTS:-8 32 64}
duration=${DURATION_SECS:-20}
server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=$server/postgres
scripts/ensure-postgres.sh
[ -n "${WAL_SKIP_BUILD:-}" ] || cargo build --release --locked --bin wal-ledger --bin walctl

work=$(mktemp -d)
cleanup() {
    [ -n "${ledger_pid:-}" ] && kill "$ledger_pid" 2>/dev/null
    rm -rf "$work"
    psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS pgbench_wal' \
        -c 'DROP DATABASE IF EXISTS wal_bench' 2>/dev/null || true
}
trap cleanup EXIT

# A fresh ledger on a fresh database: $url, $ledger_pid.
start_ledger() {
    psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_bench' -c 'CREATE DATABASE wal_bench'
    rm -f "$work/ledger.out"
    DATABASE_URL=$server/wal_bench WAL_LISTEN_ADDR=127.0.0.1:0 RUST_LOG=warn \
        WAL_TREASURY_ADDRESS=$($release/walctl --key "$work/treasury.key" address) \
        $release/wal-ledger serve >"$work/ledger.out" 2>"$work/ledger.err" &
    ledger_pid=$!
    for _ in $(seq 1 100); do
        grep -q '^listening on ' "$work/ledger.out" 2>/dev/null && break
        sleep 0.1
    done
    url=$(sed -n 's/^listening on //p' "$work/ledger.out")
    [ -n "$url" ] || { cat "$work/ledger.err" >&2; exit 1; }
}

stop_ledger() {
    kill "$ledger_pid"; wait "$ledger_pid" 2>/dev/null || true; ledger_pid=
}

# The ledger talks to a PostgreSQL on this machine without TLS (see src/app.rs), so
# pgbench runs on the same transport.
pgbench_tps() { # $1: clients
    pgbench -c "$1" -j 2 -T "$duration" "$server/pgbench_wal?sslmode=disable" 2>/dev/null \
        | tee "$work/pgbench.txt" | grep -E '^(tps|latency)' >&2
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/pgbench.txt"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

$release/walctl --key "$work/treasury.key" keygen >/dev/null
psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS pgbench_wal' -c 'CREATE DATABASE pgbench_wal'
pgbench -q -i -s 10 "$server/pgbench_wal" >/dev/null 2>&1
summary=()
for clients in $client_counts; do
    start_ledger
    echo "== walctl bench: $clients clients, $duration s (ledger at $url)"
    $release/walctl --url "$url" --key "$work/treasury.key" bench \
        --clients "$clients" --accounts $((clients * 2)) --duration-secs "$duration" \
        | tee "$work/bench.txt"
    ledger_tps=$(sed -n 's/^\([0-9]*\) transfers\/s.*/\1/p' "$work/bench.txt")
    latency=$(sed -n 's/^[0-9]* transfers\/s  latency //p' "$work/bench.txt")
    $release/walctl --url "$url" audit >/dev/null && echo "audit ok after the bench"
    stop_ledger
    echo "== pgbench tpcb-like, scale 10: $clients clients, $duration s, sslmode=disable"
    pg_tps=$(pgbench_tps "$clients")
    summary+=("$clients clients: ledger $ledger_tps transfers/s ($latency); pgbench $pg_tps tps; ratio $(ratio "$ledger_tps" "$pg_tps")")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
