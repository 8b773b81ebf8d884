#!/usr/bin/env bash
# The whole system on this machine, from a fresh Debian with Rust: PostgreSQL
# (installed and started if none answers), a ledger on 127.0.0.1:8080, NODES storage
# nodes (7) registered and staked, the checker and the gateway, all release builds. The treasury
# key (devnet/run/treasury.key) is also the admin and the auditor. Each start is a new
# network (database wal_devnet and devnet/run are recreated); Ctrl-C stops it all.
#   NODES=7 WAL_EPOCH_DURATION_SECS=600 scripts/devnet.sh
# A storage node, the checker or the gateway that exits is reported and the rest goes
# on (only the ledger's exit stops the devnet). From another shell:
#   scripts/devnet.sh stop-node N     stop storage node N
#   scripts/devnet.sh start-node N    start it again: same key, data and address
#   scripts/devnet.sh status          which processes run
# WAL_DEVNET_DIR (devnet/run), WAL_DEVNET_DB (wal_devnet) and WAL_DEVNET_BIN (the
# binaries; when set, nothing is built) let tests run a devnet of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
# Binaries live where cargo puts them (CARGO_TARGET_DIR honoured).
release=${WAL_DEVNET_BIN:-${CARGO_TARGET_DIR:-target}/release}
work=${WAL_DEVNET_DIR:-devnet/run}
database=${WAL_DEVNET_DB:-wal_devnet}
source scripts/lib/network.sh

# Whether the process of $work/$1.pid runs.
running() { [ -f "$work/$1.pid" ] && kill -0 "$(cat "$work/$1.pid")" 2>/dev/null; }

node_command() { # $1: stop-node|start-node, $2: N
    local name=node$2
    [ -f "$work/$name.key" ] || { echo "devnet: there is no $name in $work" >&2; exit 2; }
    case $1 in
    stop-node)
        running "$name" || { echo "devnet: $name is not running"; exit 0; }
        kill "$(cat "$work/$name.pid")"
        echo "devnet: stopped $name" ;;
    start-node)
        running "$name" && { echo "devnet: $name already runs"; exit 0; }
        ledger_url=$(sed -n 's/^listening on //p' "$work/ledger.out")
        start_node "$2" "$(cat "$work/$name.addr")"
        echo "devnet: started $name at http://$(cat "$work/$name.addr")" ;;
    esac
}

case ${1:-} in
stop-node | start-node)
    [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: scripts/devnet.sh $1 N" >&2; exit 2; }
    node_command "$1" "$2"
    exit 0 ;;
status)
    for pidfile in "$work"/*.pid; do
        name=$(basename "$pidfile" .pid)
        if running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
    done
    exit 0 ;;
"") ;;
*) echo "usage: scripts/devnet.sh [stop-node N | start-node N | status]" >&2; exit 2 ;;
esac

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
[ -n "${WAL_DEVNET_BIN:-}" ] || cargo build --release --locked --workspace --bins

psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
rm -rf "$work"
mkdir -p "$work"
pids=()
stop() {
    # Every process of the devnet, also a node started again from another shell.
    for pidfile in "$work"/*.pid; do kill "$(cat "$pidfile")" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT

start_network "$server/$database" "$nodes"
WAL_CHECKER_KEY_FILE=$work/treasury.key WAL_CHECKER_STATE_DIR=$work/checker \
    WAL_LEDGER_URL=$ledger_url RUST_LOG=${RUST_LOG:-info} \
    $release/wal-checker >"$work/checker.out" 2>"$work/checker.err" &
echo $! >"$work/checker.pid"
WAL_GATEWAY_KEY_FILE=$work/treasury.key \
    WAL_GATEWAY_LISTEN_ADDR=${WAL_GATEWAY_LISTEN_ADDR:-127.0.0.1:31415} \
    WAL_LEDGER_URL=$ledger_url RUST_LOG=${RUST_LOG:-info} \
    $release/wal-gateway >"$work/gateway.out" 2>"$work/gateway.err" &
echo $! >"$work/gateway.pid"
gateway_url=$(url_of "$work/gateway.out")

cat <<INFO
devnet: ledger at $ledger_url, $nodes storage nodes over $WAL_N_SHARDS shards, the checker,
the Walrus-compatible gateway at $gateway_url (it pays from the treasury); epochs of $WAL_EPOCH_DURATION_SECS s.
The treasury (admin, auditor) key is $work/treasury.key; logs are in $work/.
Try, in another shell:
  K=$work/treasury.key
  $release/walctl --url $ledger_url --key \$K committee
  head -c 3000000 /dev/urandom > /tmp/blob.bin
  $release/walctl --url $ledger_url --key \$K store /tmp/blob.bin --epochs 3
  $release/walctl --url $ledger_url --key \$K blob health <blob_id>
  $release/walctl --url $ledger_url --key \$K read <blob_id> > /tmp/copy.bin
  $release/walctl --url $ledger_url --key \$K node audit 1
  curl -X PUT "$gateway_url/v1/blobs?epochs=3" --upload-file /tmp/blob.bin
  curl "$gateway_url/v1/blobs/<blob_id>" -o /tmp/copy2.bin
  scripts/devnet.sh stop-node 1; scripts/devnet.sh start-node 1
Ctrl-C stops everything.
INFO
echo "devnet: ready"

# Watch every process: one that exits is reported once, and again when it is back.
declare -A up
while true; do
    for pidfile in "$work"/*.pid; do
        name=$(basename "$pidfile" .pid)
        if running "$name"; then
            [ "${up[$name]:-1}" = 0 ] && echo "devnet: $name runs again (pid $(cat "$pidfile"))"
            up[$name]=1
        elif [ "${up[$name]:-1}" = 1 ]; then
            up[$name]=0
            if [ "$name" = ledger ]; then
                echo "devnet: the ledger exited; stopping the devnet" >&2
                exit 1
            fi
            echo "devnet: $name exited; the network goes on without it (logs: $work/$name.err;" \
                "a node: scripts/devnet.sh start-node N)"
        fi
    done
    sleep 1
done
