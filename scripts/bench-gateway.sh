#!/usr/bin/env bash
# The gateway next to walctl on one machine (release build, a fresh ledger and 10 local
# wal-storage-node processes at 10 shards): PUT and GET of a 1 MiB and a BIG_MIB (256)
# MiB blob through the gateway (curl) and the same store and read with walctl, with the
# ratios; then requests/s and latency percentiles of random 4 KiB Range reads of the
# big blob through the gateway (16 clients, 10 s).
#   BIG_MIB=256 scripts/bench-gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
release=${CARGO_TARGET_DIR:-target}/release
big_mib=${BIG_MIB:-256}
nodes=10
server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=$server/postgres
scripts/ensure-postgres.sh
cargo build --release --locked --workspace --bins

work=$(mktemp -d)
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_bench_gateway' 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT
psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_bench_gateway' -c 'CREATE DATABASE wal_bench_gateway'
source scripts/lib/network.sh
WAL_N_SHARDS=$nodes start_network "$server/wal_bench_gateway" "$nodes"
WAL_GATEWAY_KEY_FILE=$work/treasury.key WAL_GATEWAY_LISTEN_ADDR=127.0.0.1:0 \
    WAL_LEDGER_URL=$ledger_url WAL_GATEWAY_BLOB_BYTES_MAX=$(( (big_mib + 1) << 20 )) RUST_LOG=warn \
    $release/wal-gateway >"$work/gateway.out" 2>"$work/gateway.err" &
pids+=($!)
gateway=$(url_of "$work/gateway.out")
measure() { python3 scripts/lib/measure.py "$@"; }
secs() { sed -n "s/^$1=//p" "$work/out"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
: >"$work/out"
for mib in 1 "$big_mib"; do
    # Two different files of one size: the gateway and walctl each store a new blob.
    head -c $((mib << 20)) /dev/urandom >"$work/g$mib.bin"
    head -c $((mib << 20)) /dev/urandom >"$work/w$mib.bin"
    measure "gateway put $mib" curl -sf -X PUT "$gateway/v1/blobs?epochs=1" --upload-file "$work/g$mib.bin" -o "$work/put$mib.json" | tee -a "$work/out"
    id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["newlyCreated"]["blobObject"]["blobId"])' "$work/put$mib.json")
    measure "walctl store $mib" $release/walctl --url "$ledger_url" --key "$work/treasury.key" store "$work/w$mib.bin" --epochs 1 | tee -a "$work/out"
    wid=$($release/walctl --url "$ledger_url" blob-id "$work/w$mib.bin")
    measure "gateway get $mib" curl -sf "$gateway/v1/blobs/$id" -o /dev/null | tee -a "$work/out"
    measure "walctl read $mib" $release/walctl --url "$ledger_url" read "$wid" | tee -a "$work/out"
    echo "$mib MiB: gateway PUT / walctl store: $(ratio "$(secs "walctl_store_${mib}_secs")" "$(secs "gateway_put_${mib}_secs")")x the speed;" \
        "gateway GET / walctl read: $(ratio "$(secs "walctl_read_${mib}_secs")" "$(secs "gateway_get_${mib}_secs")")x the speed"
done
python3 scripts/lib/range_load.py "$gateway/v1/blobs/$id" $((big_mib << 20)) 16 10
