#!/usr/bin/env bash
# The image's entrypoint (Dockerfile): each service of docker-compose.yml is one role.
#   keys         makes the network's keys in $WAL_KEYS_DIR (/keys, a volume) on the
#                first start and never again: treasury.key (also the admin and the
#                auditor, as in scripts/devnet.sh) and node1.key ... nodeN.key
#   ledger       the ledger, with the treasury key's address as treasury, admin and
#                auditor (WAL_TREASURY_ADDRESS etc., when set, win)
#   node N       storage node N: key nodeN.key, data /data, on 0.0.0.0:9000
#   setup        registers node1..nodeN at http://nodeI:9000 (the service names), stakes
#                them and forms the first committee; a later start finds them
#                registered and the first epoch past, and changes nothing
#   checker      the checker with the auditor (treasury) key, its spool in /state
#   gateway      the gateway on 0.0.0.0:31415, paying from the treasury key
# Anything else runs as a command, e.g. `walctl --url http://ledger:8080 network`.
set -euo pipefail
keys=${WAL_KEYS_DIR:-/keys}
nodes=${NODES:-4}
ledger_url=${WAL_LEDGER_URL:-http://ledger:8080}
export WAL_LEDGER_URL=$ledger_url

treasury_walctl() { walctl --url "$ledger_url" --key "$keys/treasury.key" "$@"; }

# The set-up runs right after the ledger's health check passed, but a restarted ledger
# may still be starting: wait for it rather than fail.
wait_for_ledger() {
    for _ in $(seq 1 120); do
        curl -fsS "$ledger_url/ready" >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "setup: the ledger at $ledger_url is not ready after 120 s" >&2
    exit 1
}

setup() {
    local i address id epoch
    wait_for_ledger
    for i in $(seq 1 "$nodes"); do
        # Registered before (a restart, or a set-up cut short)? The ledger knows the
        # node by its protocol key.
        address=$(walctl --key "$keys/node$i.key" address)
        id=$(curl -fsS "$ledger_url/v1/nodes?protocol_public_key=$address" | jq -r '.nodes[0].id // empty')
        if [ -z "$id" ]; then
            id=$(treasury_walctl --json node register --name "n$i" --endpoint "http://node$i:9000" \
                --protocol-key "$keys/node$i.key" --commission-rate 0.1 \
                --storage-price-vote 0.0001 --write-price-vote 0.00001 | jq -r .id)
            echo "setup: node$i registered as node $id"
        fi
        echo "$id" >"$keys/node$i.id"
    done
    # The stakes and the first committee belong to epoch 0; once it is past (this
    # set-up advanced it, or the ledger's clock did), a start stakes nothing again.
    epoch=$(curl -fsS "$ledger_url/v1/network" | jq -r .epoch)
    if [ "$epoch" = 0 ]; then
        for i in $(seq 1 "$nodes"); do
            treasury_walctl stake "$(cat "$keys/node$i.id")" 1000 >/dev/null
        done
        treasury_walctl epoch --advance >/dev/null
        echo "setup: $nodes nodes staked; the first committee is formed"
    else
        echo "setup: the network is in epoch $epoch; nothing to do"
    fi
}

case ${1:-ledger} in
keys)
    mkdir -p "$keys"
    for name in treasury $(seq -f 'node%g' 1 "$nodes"); do
        [ -f "$keys/$name.key" ] || walctl --key "$keys/$name.key" keygen >/dev/null
    done
    echo "keys: treasury $(walctl --key "$keys/treasury.key" address) and $nodes nodes in $keys" ;;
ledger)
    if [ -z "${WAL_TREASURY_ADDRESS:-}" ]; then
        WAL_TREASURY_ADDRESS=$(walctl --key "$keys/treasury.key" address)
    fi
    export WAL_TREASURY_ADDRESS
    export WAL_ADMIN_ADDRESS=${WAL_ADMIN_ADDRESS:-$WAL_TREASURY_ADDRESS}
    export WAL_AUDITOR_ADDRESS=${WAL_AUDITOR_ADDRESS:-$WAL_TREASURY_ADDRESS}
    exec wal-ledger serve ;;
node)
    [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: wal-entrypoint node N" >&2; exit 2; }
    export WAL_NODE_KEY_FILE=${WAL_NODE_KEY_FILE:-$keys/node$2.key}
    export WAL_NODE_DATA_DIR=${WAL_NODE_DATA_DIR:-/data}
    export WAL_NODE_LISTEN_ADDR=${WAL_NODE_LISTEN_ADDR:-0.0.0.0:9000}
    exec wal-storage-node ;;
setup) setup ;;
checker)
    export WAL_CHECKER_KEY_FILE=${WAL_CHECKER_KEY_FILE:-$keys/treasury.key}
    export WAL_CHECKER_STATE_DIR=${WAL_CHECKER_STATE_DIR:-/state}
    exec wal-checker ;;
gateway)
    export WAL_GATEWAY_KEY_FILE=${WAL_GATEWAY_KEY_FILE:-$keys/treasury.key}
    export WAL_GATEWAY_LISTEN_ADDR=${WAL_GATEWAY_LISTEN_ADDR:-0.0.0.0:31415}
    exec wal-gateway ;;
*) exec "$@" ;;
esac
