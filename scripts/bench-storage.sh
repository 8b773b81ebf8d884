#!/usr/bin/env bash
# Storage benchmarks on real processes (release build): a ledger with 10 shards and 10
# local wal-storage-node processes, then
#   storage purchases by 32 distinct buyers next to transfers by 32 clients.
#   (The data path, store and read of heavy blobs: scripts/bench-blobs.sh.)
#   CLIENTS=32 DURATION_SECS=20 scripts/bench-storage.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Binaries live where cargo puts them (CARGO_TARGET_DIR honoured).
release=${CARGO_TARGET_DIR:-target}/release

clients=${CLIENTS:-32}
duration=${DURATION_SECS:-20}
nodes=10
server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=$server/postgres
scripts/ensure-postgres.sh
[ -n "${WAL_SKIP_BUILD:-}" ] || cargo build --release --locked --workspace --bins

psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_bench_storage' -c 'CREATE DATABASE wal_bench_storage'
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
    psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_bench_storage' 2>/dev/null || true
}
trap cleanup EXIT

source scripts/lib/network.sh
start_network "$server/wal_bench_storage" "$nodes"
echo "== ledger at $ledger_url, $nodes storage nodes, committee formed"

echo "== purchases: $clients buyers, $duration s"
walctl bench --op purchase --clients "$clients" --duration-secs "$duration"
echo "== transfers: $clients clients, $duration s"
walctl bench --op transfer --clients "$clients" --accounts $((clients * 2)) --duration-secs "$duration"
walctl audit >/dev/null && echo "audit ok after both"

