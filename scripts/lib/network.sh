# Sourced by scripts/bench-storage.sh and scripts/devnet.sh: a network of real
# processes on this machine (release build): a ledger, storage nodes registered and
# staked by the treasury key (which is also the admin and the auditor), and the first
# committee formed. The caller sets `work` (a directory) and `pids` (an array), and
# kills "${pids[@]}" when it exits. Every WAL_* variable in the environment reaches the
# ledger (epoch length, listen address, ...). Each process's pid is also in
# $work/NAME.pid (ledger, node1, ...) and each node's address in $work/nodeN.addr, so
# that scripts/devnet.sh can stop and start one node of a running network.

# Waits for a process's "listening on URL" line and prints the URL.
url_of() { # $1: its stdout file
    for _ in $(seq 1 300); do
        grep -q '^listening on ' "$1" && break
        sleep 0.1
    done
    sed -n 's/^listening on //p' "$1"
}

walctl() { $release/walctl --url "$ledger_url" --key "$work/treasury.key" "$@"; }

# start_node I ADDRESS: starts storage node I (key, data and logs in $work) listening on
# ADDRESS (port 0 picks one), in a session of its own so that it outlives the shell
# that started it; writes $work/nodeI.pid and, once it listens, $work/nodeI.addr.
start_node() {
    local i=$1 address=$2 node_url
    : >"$work/node$i.out"
    WAL_NODE_KEY_FILE=$work/node$i.key WAL_NODE_DATA_DIR=$work/node$i \
        WAL_NODE_LISTEN_ADDR=$address WAL_LEDGER_URL=$ledger_url RUST_LOG=warn \
        setsid $release/wal-storage-node >>"$work/node$i.out" 2>>"$work/node$i.err" &
    echo $! >"$work/node$i.pid"
    node_url=$(url_of "$work/node$i.out")
    [ -n "$node_url" ] || { cat "$work/node$i.err" >&2; return 1; }
    echo "${node_url#http://}" >"$work/node$i.addr"
}

# start_network DATABASE_URL NODES: sets ledger_url and treasury.
start_network() {
    local database_url=$1 nodes=$2 i node_url id
    $release/walctl --key "$work/treasury.key" keygen >/dev/null
    treasury=$($release/walctl --key "$work/treasury.key" address)
    DATABASE_URL=$database_url WAL_LISTEN_ADDR=${WAL_LISTEN_ADDR:-127.0.0.1:0} \
        RUST_LOG=${RUST_LOG:-warn} WAL_TREASURY_ADDRESS=$treasury \
        WAL_ADMIN_ADDRESS=$treasury WAL_AUDITOR_ADDRESS=$treasury \
        WAL_N_SHARDS=${WAL_N_SHARDS:-$nodes} WAL_DATABASE_CONNECTIONS_MAX=32 \
        $release/wal-ledger serve >"$work/ledger.out" 2>"$work/ledger.err" &
    pids+=($!)
    ledger_url=$(url_of "$work/ledger.out")
    [ -n "$ledger_url" ] || { cat "$work/ledger.err" >&2; return 1; }
    echo $! >"$work/ledger.pid"
    for i in $(seq 1 "$nodes"); do
        $release/walctl --key "$work/node$i.key" keygen >/dev/null
        start_node "$i" 127.0.0.1:0 || return 1
        pids+=($(cat "$work/node$i.pid"))
        node_url=http://$(cat "$work/node$i.addr")
        id=$(walctl --json node register --name "n$i" --endpoint "$node_url" \
            --protocol-key "$work/node$i.key" --commission-rate 0.1 \
            --storage-price-vote 0.0001 --write-price-vote 0.00001 |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
        walctl stake "$id" 1000 >/dev/null
    done
    walctl epoch --advance >/dev/null
}
