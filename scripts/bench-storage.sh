#!/usr/bin/env bash
# Storage benchmarks on real processes (release build): a ledger with 10 shards and 10
# local wal-storage-node processes, then
#   1. storage purchases by 32 distinct buyers next to transfers by 32 clients;
#   2. `walctl store` of a 256 MiB file next to a raw loopback upload of the same
#      encoded bytes (benches/loopback_upload.rs).
#   CLIENTS=32 DURATION_SECS=20 BLOB_MIB=256 scripts/bench-storage.sh
set -euo pipefail
cd "$(dirname "$0")/.."

clients=${CLIENTS:-32}
duration=${DURATION_SECS:-20}
blob_mib=${BLOB_MIB:-256}
nodes=10
server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=$server/postgres
scripts/ensure-postgres.sh
cargo build --release --locked --workspace --bins

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

# Waits for a process's "listening on URL" line and prints the URL.
url_of() { # $1: its stdout file
    for _ in $(seq 1 300); do
        grep -q '^listening on ' "$1" && break
        sleep 0.1
    done
    sed -n 's/^listening on //p' "$1"
}

walctl() { target/release/walctl --url "$ledger_url" --key "$work/treasury.key" "$@"; }

target/release/walctl --key "$work/treasury.key" keygen >/dev/null
treasury=$(target/release/walctl --key "$work/treasury.key" address)
DATABASE_URL=$server/wal_bench_storage WAL_LISTEN_ADDR=127.0.0.1:0 RUST_LOG=warn \
    WAL_TREASURY_ADDRESS=$treasury WAL_ADMIN_ADDRESS=$treasury WAL_N_SHARDS=$nodes \
    WAL_DATABASE_CONNECTIONS_MAX=32 \
    target/release/wal-ledger serve >"$work/ledger.out" 2>"$work/ledger.err" &
pids+=($!)
ledger_url=$(url_of "$work/ledger.out")
[ -n "$ledger_url" ] || { cat "$work/ledger.err" >&2; exit 1; }

for i in $(seq 1 $nodes); do
    target/release/walctl --key "$work/node$i.key" keygen >/dev/null
    WAL_NODE_KEY_FILE=$work/node$i.key WAL_NODE_DATA_DIR=$work/node$i \
        WAL_NODE_LISTEN_ADDR=127.0.0.1:0 WAL_LEDGER_URL=$ledger_url RUST_LOG=warn \
        target/release/wal-storage-node >"$work/node$i.out" 2>"$work/node$i.err" &
    pids+=($!)
    node_url=$(url_of "$work/node$i.out")
    [ -n "$node_url" ] || { cat "$work/node$i.err" >&2; exit 1; }
    id=$(walctl --json node register --name "n$i" --endpoint "$node_url" \
        --protocol-key "$work/node$i.key" --commission-rate 0.1 \
        --storage-price-vote 0.0001 --write-price-vote 0.00001 |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    walctl stake "$id" 1000 >/dev/null
done
walctl epoch --advance >/dev/null
echo "== ledger at $ledger_url, $nodes storage nodes, committee formed"

echo "== purchases: $clients buyers, $duration s"
walctl bench --op purchase --clients "$clients" --duration-secs "$duration"
echo "== transfers: $clients clients, $duration s"
walctl bench --op transfer --clients "$clients" --accounts $((clients * 2)) --duration-secs "$duration"
walctl audit >/dev/null && echo "audit ok after both"

head -c $((blob_mib * 1024 * 1024)) /dev/urandom >"$work/blob.bin"
echo "== walctl store of $blob_mib MiB to $nodes nodes"
started=$(date +%s.%N)
walctl store "$work/blob.bin" --epochs 1
ended=$(date +%s.%N)
awk -v a="$started" -v b="$ended" -v m="$blob_mib" \
    'BEGIN { printf "walctl store: %.2f s = %.1f MiB/s of blob\n", b - a, m / (b - a) }'
echo "== the same file's encoded slivers over raw loopback HTTP"
cargo bench --locked --bench loopback_upload -- "$work/blob.bin" "$nodes"
