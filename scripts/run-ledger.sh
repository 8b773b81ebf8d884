#!/usr/bin/env bash
# Runs the ledger on a fresh Debian machine with Rust: PostgreSQL (installed and started
# if none answers), the database, migrations and genesis (when the database is empty),
# then serves on WAL_LISTEN_ADDR. Every WAL_* variable of the README applies.
set -euo pipefail
cd "$(dirname "$0")/.."
# Binaries live where cargo puts them (CARGO_TARGET_DIR honoured). WAL_PROFILE=dev runs
# the debug build instead of the release one (the tests do: they have just built it).
profile=${WAL_PROFILE:-release}
case "$profile" in
    dev) bin_dir=debug ;;
    *) bin_dir=$profile ;;
esac
bin=${CARGO_TARGET_DIR:-target}/$bin_dir

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/wal_ledger}
scripts/ensure-postgres.sh
# WAL_SKIP_BUILD=1 uses the binaries as they are (the tests: their cargo holds the
# build directory's lock while they run, and has just built them).
if [ "${WAL_SKIP_BUILD:-0}" != 1 ]; then
    cargo build --profile "$profile" --locked --bin wal-ledger --bin walctl
fi

# Genesis needs a treasury. Without one configured, make a devnet key (kept in
# $WAL_DEVNET_DIR/treasury.key, default devnet/, mode 0600) the first time and reuse it.
if [ -z "${WAL_TREASURY_ADDRESS:-}" ]; then
    key=${WAL_DEVNET_DIR:-devnet}/treasury.key
    [ -f "$key" ] || $bin/walctl --key "$key" keygen >/dev/null
    WAL_TREASURY_ADDRESS=$($bin/walctl --key "$key" address)
    export WAL_TREASURY_ADDRESS
    echo "treasury: $WAL_TREASURY_ADDRESS (key file $key)" >&2
fi

exec $bin/wal-ledger serve
