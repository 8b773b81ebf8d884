#!/usr/bin/env bash
# Runs the ledger on a fresh Debian machine with Rust: PostgreSQL (installed and started
# if none answers), the database, migrations and genesis (when the database is empty),
# then serves on WAL_LISTEN_ADDR. Every WAL_* variable of the README applies.
set -euo pipefail
cd "$(dirname "$0")/.."
# Binaries live where cargo puts them (CARGO_TARGET_DIR honoured).
release=${CARGO_TARGET_DIR:-target}/release

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/wal_ledger}
scripts/ensure-postgres.sh
cargo build --release --locked --bin wal-ledger --bin walctl

# Genesis needs a treasury. Without one configured, make a devnet key (kept in
# $WAL_DEVNET_DIR/treasury.key, default devnet/, mode 0600) the first time and reuse it.
if [ -z "${WAL_TREASURY_ADDRESS:-}" ]; then
    key=${WAL_DEVNET_DIR:-devnet}/treasury.key
    [ -f "$key" ] || $release/walctl --key "$key" keygen >/dev/null
    WAL_TREASURY_ADDRESS=$($release/walctl --key "$key" address)
    export WAL_TREASURY_ADDRESS
    echo "treasury: $WAL_TREASURY_ADDRESS (key file $key)" >&2
fi

exec $release/wal-ledger serve
