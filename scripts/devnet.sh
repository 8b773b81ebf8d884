#!/usr/bin/env bash
# The whole network on this machine, from a fresh Debian with Rust: PostgreSQL
# (installed and started if none answers), a ledger on 127.0.0.1:8080 (the explorer at
# its /), NODES storage nodes (7) registered and staked, the checker and the gateway on
# 127.0.0.1:31415, the first committee formed; all release builds. It prints the
# explorer's and the gateway's URLs and commands to try; Ctrl-C stops it all. The
# treasury key (devnet/run/treasury.key) is also the admin and the auditor.
#   NODES=7 WAL_EPOCH_DURATION_SECS=600 scripts/devnet.sh
# The state survives a restart: a second start with the same directory and database
# resumes that network (same database, keys, node data, addresses, registrations and
# stakes; nothing is registered or staked again, and NODES and WAL_N_SHARDS are those of
# the first start). `scripts/devnet.sh --fresh` starts a new network instead: it drops
# the database and wipes the directory.
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

# Whether process $1 runs (a zombie that nobody reaped yet has stopped); /proc rather
# than ps, which a minimal Debian may lack. The state follows the command's ") ".
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ ${stat##*) } != [ZX]* ]]
}
# Whether the process of $work/$1.pid runs.
running() { [ -f "$work/$1.pid" ] && alive "$(cat "$work/$1.pid")"; }

node_command() { # $1: stop-node|start-node, $2: N
    local name=node$2
    [ -f "$work/$name.id" ] || { echo "devnet: there is no $name in $work" >&2; exit 2; }
    case $1 in
    stop-node)
        running "$name" || { echo "devnet: $name is not running"; exit 0; }
        kill "$(cat "$work/$name.pid")"
        echo "devnet: stopped $name" ;;
    start-node)
        running "$name" && { echo "devnet: $name already runs"; exit 0; }
        running ledger || { echo "devnet: the devnet in $work does not run" >&2; exit 1; }
        ledger_url=$(sed -n 's/^listening on //p' "$work/ledger.out")
        restart_node "$2"
        echo "devnet: started $name at http://$(cat "$work/$name.addr")" ;;
    esac
}

fresh=false
case ${1:-} in
stop-node | start-node)
    [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: scripts/devnet.sh $1 N" >&2; exit 2; }
    node_command "$1" "$2"
    exit 0 ;;
status)
    for pidfile in "$work"/*.pid; do
        [ -f "$pidfile" ] || { echo "devnet: nothing in $work"; exit 0; }
        name=$(basename "$pidfile" .pid)
        if running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
    done
    exit 0 ;;
--fresh) fresh=true ;;
"") ;;
*) echo "usage: scripts/devnet.sh [--fresh | stop-node N | start-node N | status]" >&2; exit 2 ;;
esac

# Two devnets on one directory would fight over its ports and pid files (the name
# check keeps a recycled pid of a devnet long gone from counting).
if running ledger && [ "$(cat "/proc/$(cat "$work/ledger.pid")/comm")" = wal-ledger ]; then
    echo "devnet: a devnet already runs in $work (scripts/devnet.sh status); stop it first" >&2
    exit 1
fi

server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
export DATABASE_URL=$server/postgres
export WAL_LISTEN_ADDR=${WAL_LISTEN_ADDR:-127.0.0.1:8080}
export WAL_EPOCH_DURATION_SECS=${WAL_EPOCH_DURATION_SECS:-600}
# The explorer's blob pages link to the gateway when its address is known before it
# starts (not port 0).
gateway_addr=${WAL_GATEWAY_LISTEN_ADDR:-127.0.0.1:31415}
if [[ $gateway_addr != *:0 ]]; then
    export WAL_EXPLORER_GATEWAY_URL=${WAL_EXPLORER_GATEWAY_URL:-http://$gateway_addr}
fi
scripts/ensure-postgres.sh
[ -n "${WAL_DEVNET_BIN:-}" ] || cargo build --release --locked --workspace --bins

# $work/network is written once the first start has set everything up (nodes
# registered and staked, the first committee formed); with it and the database, a
# start resumes. Without either (a first start, a set-up cut short, a dropped
# database) a start makes a new network, as --fresh does.
has_database=$(psql -Atq "$server/postgres" -c "SELECT 1 FROM pg_database WHERE datname = '$database'")
resume=false
if ! $fresh && [ -f "$work/network" ]; then
    if [ "$has_database" = 1 ]; then
        resume=true
    else
        echo "devnet: $work has a network but its database $database is gone: starting a new one"
    fi
fi

if $resume; then
    # The network's size is that of its first start.
    recorded_nodes=$(sed -n 's/^nodes=//p' "$work/network")
    if [ -n "${NODES:-}" ] && [ "$NODES" != "$recorded_nodes" ]; then
        echo "devnet: this network has $recorded_nodes nodes (NODES=$NODES applies with --fresh)"
    fi
    nodes=$recorded_nodes
    # The pids of the last run are gone, and may be another program's by now.
    rm -f "$work"/*.pid
    WAL_N_SHARDS=$(sed -n 's/^n_shards=//p' "$work/network")
    export WAL_N_SHARDS
else
    nodes=${NODES:-7}
    # 100 shards, as a realistic network has (Walrus runs 1000), and never fewer than
    # one per node.
    export WAL_N_SHARDS=${WAL_N_SHARDS:-$(( nodes > 100 ? nodes : 100 ))}
    if [ "$WAL_N_SHARDS" -lt "$nodes" ]; then
        echo "devnet: WAL_N_SHARDS=$WAL_N_SHARDS is fewer than the $nodes nodes; give each node a shard" >&2
        exit 1
    fi
    # (no NOTICE when there was no database to drop)
    PGOPTIONS="-c client_min_messages=warning" psql -q "$server/postgres" \
        -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"
    rm -rf "$work"
    mkdir -p "$work"
fi

pids=()
stop() {
    # Every process of the devnet, also a node started again from another shell (not
    # our child, so waited for by its pid): the next start needs their ports free. No
    # errexit here: one failed kill must not leave the rest running.
    set +e
    local pidfile pid left=() alive_now=()
    for pidfile in "$work"/*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if kill "$pid" 2>/dev/null; then left+=("$pid"); fi
    done
    wait 2>/dev/null
    # 20 s: the checker may spend up to 15 s delivering its report spool.
    for _ in $(seq 1 200); do
        alive_now=()
        for pid in "${left[@]}"; do
            if alive "$pid"; then alive_now+=("$pid"); fi
        done
        if [ ${#alive_now[@]} -eq 0 ]; then break; fi
        sleep 0.1
    done
    for pid in "${alive_now[@]}"; do kill -KILL "$pid" 2>/dev/null; done
}
trap stop EXIT
# Ctrl-C (SIGINT to the whole process group) or SIGTERM: exit at once, through stop,
# rather than let the watch loop below report the processes dying one by one.
trap 'echo "devnet: stopping"; exit 130' INT
trap 'echo "devnet: stopping"; exit 143' TERM

if $resume; then
    echo "devnet: resuming the network of $work (database $database); scripts/devnet.sh --fresh starts a new one"
    resume_network "$server/$database" "$nodes"
else
    echo "devnet: a new network in $work (database $database)"
    start_network "$server/$database" "$nodes"
    printf 'nodes=%s\nn_shards=%s\n' "$nodes" "$WAL_N_SHARDS" >"$work/network"
fi
WAL_CHECKER_KEY_FILE=$work/treasury.key WAL_CHECKER_STATE_DIR=$work/checker \
    WAL_LEDGER_URL=$ledger_url RUST_LOG=${RUST_LOG:-info} \
    $release/wal-checker >"$work/checker.out" 2>>"$work/checker.err" &
echo $! >"$work/checker.pid"
WAL_GATEWAY_KEY_FILE=$work/treasury.key \
    WAL_GATEWAY_LISTEN_ADDR=${WAL_GATEWAY_LISTEN_ADDR:-127.0.0.1:31415} \
    WAL_LEDGER_URL=$ledger_url RUST_LOG=${RUST_LOG:-info} \
    $release/wal-gateway >"$work/gateway.out" 2>>"$work/gateway.err" &
echo $! >"$work/gateway.pid"
gateway_url=$(url_of "$work/gateway.out" $!)
[ -n "$gateway_url" ] || { tail -n 5 "$work/gateway.err" >&2; exit 1; }
epoch=$(walctl --json network | python3 -c 'import json, sys; print(json.load(sys.stdin)["epoch"])')

cat <<INFO
devnet: ledger at $ledger_url, $nodes storage nodes over $WAL_N_SHARDS shards, the checker,
the Walrus-compatible gateway (it pays from the treasury); epoch $epoch, epochs of $WAL_EPOCH_DURATION_SECS s.
  explorer: $ledger_url/
  gateway:  $gateway_url
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
Ctrl-C stops everything; scripts/devnet.sh starts this network again, --fresh a new one.
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
