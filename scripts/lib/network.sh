# shellcheck shell=bash
# Sourced by scripts/bench-storage.sh, bench-gateway.sh, bench-blobs.sh and
# scripts/devnet.sh: a network of real processes on this machine (release build): a
# ledger, storage nodes registered and staked by the treasury key (which is also the
# admin and the auditor), and the first committee formed. The caller sets `work` (a
# directory) and `pids` (an array), and kills "${pids[@]}" when it exits. Every WAL_*
# variable in the environment reaches the ledger (epoch length, listen address, ...).
# Each process's pid is also in $work/NAME.pid (ledger, node1, ...), each node's address
# in $work/nodeN.addr and its ledger id in $work/nodeN.id, so that scripts/devnet.sh can
# stop and start one node of a running network, and start a stopped network again
# (resume_network) with the same keys, data, addresses and registrations.

# Waits for a process's "listening on URL" line and prints the URL (nothing if it has
# not come within 30 s, or as soon as the process has exited without it).
url_of() { # $1: its stdout file, $2 (optional): its pid
    for _ in $(seq 1 300); do
        grep -q '^listening on ' "$1" && break
        if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then break; fi
        sleep 0.1
    done
    sed -n 's/^listening on //p' "$1"
}

walctl() { $release/walctl --url "$ledger_url" --key "$work/treasury.key" "$@"; }

# start_ledger DATABASE_URL: starts the ledger on the treasury key of $work (genesis
# runs only if the database has none); sets ledger_url and treasury.
start_ledger() {
    local database_url=$1 pid
    treasury=$($release/walctl --key "$work/treasury.key" address)
    # The logs (stderr) of earlier runs are kept; stdout holds only this run's
    # "listening on" line, which url_of waits for.
    DATABASE_URL=$database_url WAL_LISTEN_ADDR=${WAL_LISTEN_ADDR:-127.0.0.1:0} \
        RUST_LOG=${RUST_LOG:-warn} WAL_TREASURY_ADDRESS=$treasury \
        WAL_ADMIN_ADDRESS=$treasury WAL_AUDITOR_ADDRESS=$treasury \
        WAL_N_SHARDS=${WAL_N_SHARDS:-$nodes} WAL_DATABASE_CONNECTIONS_MAX=32 \
        $release/wal-ledger serve >"$work/ledger.out" 2>>"$work/ledger.err" &
    pid=$!
    pids+=("$pid")
    echo $pid >"$work/ledger.pid"
    ledger_url=$(url_of "$work/ledger.out" $pid)
    [ -n "$ledger_url" ] || { cat "$work/ledger.err" >&2; return 1; }
}

# start_node I ADDRESS: starts storage node I (key, data and logs in $work) listening on
# ADDRESS (port 0 picks one), in a session of its own so that it outlives the shell
# that started it; writes $work/nodeI.pid and, once it listens, $work/nodeI.addr.
start_node() {
    local i=$1 address=$2 node_url pid
    : >"$work/node$i.out"
    WAL_NODE_KEY_FILE=$work/node$i.key WAL_NODE_DATA_DIR=$work/node$i \
        WAL_NODE_LISTEN_ADDR=$address WAL_LEDGER_URL=$ledger_url RUST_LOG=warn \
        setsid $release/wal-storage-node >>"$work/node$i.out" 2>>"$work/node$i.err" &
    pid=$!
    echo $pid >"$work/node$i.pid"
    node_url=$(url_of "$work/node$i.out" $pid)
    [ -n "$node_url" ] || { tail -n 5 "$work/node$i.err" >&2; return 1; }
    echo "${node_url#http://}" >"$work/node$i.addr"
}

# restart_node I: starts registered node I again at the address it is registered with.
# If that address is taken now (another process got the port meanwhile), the node
# listens on a new port and its registered endpoint is updated, so that the committee
# still finds it.
restart_node() {
    local i=$1 address
    address=$(cat "$work/node$i.addr")
    start_node "$i" "$address" && return 0
    echo "network: node$i cannot listen at $address again; it takes a new port" >&2
    start_node "$i" "${address%:*}:0" || return 1
    walctl node update "$(cat "$work/node$i.id")" \
        --endpoint "http://$(cat "$work/node$i.addr")" >/dev/null
}

# start_network DATABASE_URL NODES: a new network in $work, on an empty database: keys,
# ledger (genesis), NODES nodes registered and staked, the first committee formed. Sets
# ledger_url and treasury.
start_network() {
    local database_url=$1 nodes=$2 i node_url id
    $release/walctl --key "$work/treasury.key" keygen >/dev/null
    start_ledger "$database_url" || return 1
    for i in $(seq 1 "$nodes"); do
        $release/walctl --key "$work/node$i.key" keygen >/dev/null
        start_node "$i" 127.0.0.1:0 || return 1
        pids+=("$(cat "$work/node$i.pid")")
        node_url=http://$(cat "$work/node$i.addr")
        id=$(walctl --json node register --name "n$i" --endpoint "$node_url" \
            --protocol-key "$work/node$i.key" --commission-rate 0.1 \
            --storage-price-vote 0.0001 --write-price-vote 0.00001 |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
        echo "$id" >"$work/node$i.id"
        walctl stake "$id" 1000 >/dev/null
    done
    walctl epoch --advance >/dev/null
}

# resume_network DATABASE_URL NODES: the network that start_network made in $work and
# its database, started again: the same keys, data directories and addresses, nothing
# registered, staked or advanced again. Sets ledger_url and treasury.
resume_network() {
    local database_url=$1 nodes=$2 i
    start_ledger "$database_url" || return 1
    for i in $(seq 1 "$nodes"); do
        restart_node "$i" || return 1
        pids+=("$(cat "$work/node$i.pid")")
    done
}
