#!/usr/bin/env bash
# Heavy-blob benchmarks on real processes (release build), each on a fresh ledger and
# 10 local wal-storage-node processes:
#   1. `walctl store` and `walctl read` (into a file, and to stdout = /dev/null; median
#      of 3 each) of a 256 MiB file at 10 shards, next to the raw loopback floor of the
#      same slivers (benches/loopback_upload.rs: upload with write + fsync, download of
#      k slivers into memory and into a file), with the ratios;
#   2. `walctl store` of a 64 MiB file at 100 and at 1000 shards, with the ratio;
#   3. wall time and peak RSS of `walctl store` and `walctl read` of a BIG_GIB (4) GiB
#      file at 100 shards.
#   BLOB_MIB=256 BIG_GIB=4 scripts/bench-blobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
release=${CARGO_TARGET_DIR:-target}/release
blob_mib=${BLOB_MIB:-256}
big_gib=${BIG_GIB:-4}
nodes=10
server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=$server/postgres
scripts/ensure-postgres.sh
cargo build --release --locked --workspace --bins

scratch=$(mktemp -d)
pids=()
stop_network() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
    psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_bench_blobs' 2>/dev/null || true
}
trap 'stop_network; rm -rf "$scratch"' EXIT
source scripts/lib/network.sh

# fresh_network N_SHARDS: a new ledger and nodes, in a new work directory.
fresh_network() {
    stop_network
    work=$(mktemp -d -p "$scratch")
    psql -q "$server/postgres" -c 'CREATE DATABASE wal_bench_blobs'
    WAL_N_SHARDS=$1 start_network "$server/wal_bench_blobs" "$nodes"
    echo "== $nodes nodes, $1 shards"
}
measure() { python3 scripts/lib/measure.py "$@"; }
secs() { sed -n "s/^$1=//p" "$scratch/out"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
store_and_read() { # FILE LABEL [RUNS]
    local id runs=${3:-1} i to_file=() to_stdout=()
    measure "$2 store" $release/walctl --url "$ledger_url" --key "$work/treasury.key" store "$1" --epochs 1 | tee -a "$scratch/out"
    id=$($release/walctl --url "$ledger_url" blob-id "$1")
    for i in $(seq 1 "$runs"); do
        measure "$2 read $i" $release/walctl --url "$ledger_url" read "$id" -o "$1.back" | tee -a "$scratch/out"
        to_file+=("$(secs "$2_read_${i}_secs")")
        cmp "$1" "$1.back" && echo "$2: read back byte for byte"
        rm -f "$1.back"
        [ "$runs" -gt 1 ] || continue
        measure "$2 read to stdout $i" $release/walctl --url "$ledger_url" read "$id" | tee -a "$scratch/out"
        to_stdout+=("$(secs "$2_read_to_stdout_${i}_secs")")
    done
    echo "$2_read_secs=$(median "${to_file[@]}")" | tee -a "$scratch/out"
    [ "$runs" -gt 1 ] && echo "$2_read_stdout_secs=$(median "${to_stdout[@]}")" | tee -a "$scratch/out"
    return 0
}

: >"$scratch/out"
head -c $((blob_mib << 20)) /dev/urandom >"$scratch/blob.bin"
fresh_network 10
store_and_read "$scratch/blob.bin" "b$blob_mib" 3
cargo bench --locked --bench loopback_upload -- "$scratch/blob.bin" 10 | tee -a "$scratch/out"
echo "store / raw upload: $(ratio "$(secs raw_upload_secs)" "$(secs "b${blob_mib}_store_secs")")x;" \
    "read -o / raw download into a file: $(ratio "$(secs raw_download_file_secs)" "$(secs "b${blob_mib}_read_secs")")x;" \
    "read to stdout / raw download: $(ratio "$(secs raw_download_secs)" "$(secs "b${blob_mib}_read_stdout_secs")")x"

head -c $((64 << 20)) /dev/urandom >"$scratch/m64.bin"
for shards in 100 1000; do
    fresh_network "$shards"
    measure "m64 at $shards" $release/walctl --url "$ledger_url" --key "$work/treasury.key" store "$scratch/m64.bin" --epochs 1 | tee -a "$scratch/out"
done
echo "64 MiB store, 1000 shards / 100 shards: $(ratio "$(secs m64_at_1000_secs)" "$(secs m64_at_100_secs)")x the time"

if [ "$big_gib" -gt 0 ]; then
    head -c $((big_gib << 30)) /dev/urandom >"$scratch/big.bin"
    fresh_network 100
    store_and_read "$scratch/big.bin" "g$big_gib"
fi
