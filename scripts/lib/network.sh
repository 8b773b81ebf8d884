# Sourced by scripts/bench-storage.sh and scripts/devnet.sh: a network of real
# processes on this machine (release build): a ledger, storage nodes registered and
# staked by the treasury key (which is also the admin and the auditor), and the first
# committee formed. The caller sets `work` (a directory) and `pids` (an array), and
# kills "${pids[@]}" when it exits. Every WAL_* variable in the environment reaches the
# ledger (epoch length, listen address, ...).

# Waits for a process's "listening on URL" line and prints the URL.
url_of() { # $1: its stdout file
    for _ in $(seq 1 300); do
        grep -q '^listening on ' "$1" && break
        sleep 0.1
    done
    sed -n 's/^listening on //p' "$1"
}

walctl() { $release/walctl --url "$ledger_url" --key "$work/treasury.key" "$@"; }

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
    for i in $(seq 1 "$nodes"); do
        $release/walctl --key "$work/node$i.key" keygen >/dev/null
        WAL_NODE_KEY_FILE=$work/node$i.key WAL_NODE_DATA_DIR=$work/node$i \
            WAL_NODE_LISTEN_ADDR=127.0.0.1:0 WAL_LEDGER_URL=$ledger_url RUST_LOG=warn \
            $release/wal-storage-node >"$work/node$i.out" 2>"$work/node$i.err" &
        pids+=($!)
        node_url=$(url_of "$work/node$i.out")
        [ -n "$node_url" ] || { cat "$work/node$i.err" >&2; return 1; }
        id=$(walctl --json node register --name "n$i" --endpoint "$node_url" \
            --protocol-key "$work/node$i.key" --commission-rate 0.1 \
            --storage-price-vote 0.0001 --write-price-vote 0.00001 |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
        walctl stake "$id" 1000 >/dev/null
    done
    walctl epoch --advance >/dev/null
}
