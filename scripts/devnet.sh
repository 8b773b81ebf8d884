#!/usr/bin/env bash
# The whole system on this machine, from a fresh Debian with Rust: PostgreSQL
# (installed and started if none answers), a ledger on 127.0.0.1:8080, NODES storage
# nodes (7) registered and staked, the checker and the gateway, all release builds. The treasury
# key (devnet/run/treasury.key) is also the admin and the auditor. Each start is a new
# network (database wal_devnet and devnet/run are recreated); Ctrl-C stops it all.
#   NODES=7 WAL_EPOCH_DURATION_SECS=600 scripts/devnet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Binaries live where cargo puts them (CARGO_TARGET_DIR honoured).
release=${CARGO_TARGET_DIR:-target}/release

nodes=${NODES:-7}
server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=$server/postgres
export WAL_LISTEN_ADDR=${WAL_LISTEN_ADDR:-127.0.0.1:8080}
export WAL_EPOCH_DURATION_SECS=${WAL_EPOCH_DURATION_SECS:-600}
# 100 shards, as a realistic network has (Walrus runs 1000), and never fewer than one
# per node.
export WAL_N_SHARDS=${WAL_N_SHARDS:-$(( nodes > 100 ? nodes : 100 ))}
if [ "$WAL_N_SHARDS" -lt "$nodes" ]; then
    echo "devnet: WAL_N_SHARDS=$WAL_N_SHARDS is fewer than the $nodes nodes; give each node a shard" >&2
    exit 1
fi
scripts/ensure-postgres.sh
cargo build --release --locked --workspace --bins

psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_devnet' -c 'CREATE DATABASE wal_devnet'
work=devnet/run
rm -rf "$work"
mkdir -p "$work"
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT

source scripts/lib/network.sh
start_network "$server/wal_devnet" "$nodes"
WAL_CHECKER_KEY_FILE=$work/treasury.key WAL_CHECKER_STATE_DIR=$work/checker \
    WAL_LEDGER_URL=$ledger_url RUST_LOG=${RUST_LOG:-info} \
    $release/wal-checker >"$work/checker.out" 2>"$work/checker.err" &
pids+=($!)
gateway_addr=${WAL_GATEWAY_LISTEN_ADDR:-127.0.0.1:31415}
WAL_GATEWAY_KEY_FILE=$work/treasury.key WAL_GATEWAY_LISTEN_ADDR=$gateway_addr \
    WAL_LEDGER_URL=$ledger_url RUST_LOG=${RUST_LOG:-info} \
    $release/wal-gateway >"$work/gateway.out" 2>"$work/gateway.err" &
pids+=($!)

cat <<INFO
devnet: ledger at $ledger_url, $nodes storage nodes over $WAL_N_SHARDS shards, the checker,
the Walrus-compatible gateway at http://$gateway_addr (it pays from the treasury); epochs of $WAL_EPOCH_DURATION_SECS s.
The treasury (admin, auditor) key is $work/treasury.key; logs are in $work/.
Try, in another shell:
  K=$work/treasury.key
  $release/walctl --key \$K committee
  head -c 3000000 /dev/urandom > /tmp/blob.bin
  $release/walctl --key \$K store /tmp/blob.bin --epochs 3
  $release/walctl --key \$K blob health <blob_id>
  $release/walctl --key \$K read <blob_id> > /tmp/copy.bin
  $release/walctl --key \$K node audit 1
  curl -X PUT "http://$gateway_addr/v1/blobs?epochs=3" --upload-file /tmp/blob.bin
  curl "http://$gateway_addr/v1/blobs/<blob_id>" -o /tmp/copy2.bin
Ctrl-C stops everything.
INFO
wait -n "${pids[@]}" || true
echo "devnet: a process exited; stopping" >&2
