#!/usr/bin/env bash
# Runs the ledger on a fresh Debian machine with Rust: PostgreSQL (installed and started
# if none answers), the database, migrations and genesis (when the database is empty),
# then serves on WAL_LISTEN_ADDR. Every WAL_* variable of the README applies.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/wal_ledger}
scripts/ensure-postgres.sh
cargo build --release --locked --bin wal-ledger --bin walctl

# Genesis needs a treasury. Without one configured, make a devnet key (kept in
# devnet/treasury.key, mode 0600) the first time and reuse it afterwards.
if [ -z "${WAL_TREASURY_ADDRESS:-}" ]; then
    key=devnet/treasury.key
    [ -f "$key" ] || target/release/walctl --key "$key" keygen >/dev/null
    WAL_TREASURY_ADDRESS=$(target/release/walctl --key "$key" address)
    export WAL_TREASURY_ADDRESS
    echo "treasury: $WAL_TREASURY_ADDRESS (key file $key)" >&2
fi

exec target/release/wal-ledger serve
