#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine with Rust: PostgreSQL (installed and
# started if none answers), the Python venv of the independent RFC 9421 client,
# Chromium and playwright-core for the explorer's browser test, a `docker compose
# config` check of docker-compose.yml where the docker client is installed, then every
# test of the workspace against real PostgreSQL, then every fuzz target for a bounded
# time when cargo-fuzz is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# #[sqlx::test] creates one fresh database per test through this server.
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
scripts/ensure-postgres.sh

if ! .venv-test/bin/python -c 'import http_message_signatures, requests, openapi_spec_validator, schemathesis' 2>/dev/null; then
    rm -rf .venv-test
    if ! python3 -m venv .venv-test 2>/dev/null; then
        echo "installing python3-venv..." >&2
        if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo=sudo; fi
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv .venv-test
    fi
    .venv-test/bin/pip install -q -r tests/py/requirements.txt
fi

# The explorer's browser test: Debian's Chromium and the script's one npm package
# (playwright-core, which downloads no browser of its own).
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "installing chromium for the explorer's browser test..." >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo=sudo; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "installing Node.js for the explorer's browser test..." >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo=sudo; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
fi

# docker-compose.yml must be a file that compose accepts. `config` needs no engine:
# the docker client's compose plugin, or where the client has none, Debian's
# docker-compose (installed then). With no docker client at all the check is skipped
# and says so.
if docker compose version >/dev/null 2>&1; then
    docker compose -f docker-compose.yml config -q
    echo "docker compose config: docker-compose.yml accepted"
elif command -v docker >/dev/null 2>&1; then
    if ! command -v docker-compose >/dev/null 2>&1; then
        echo "installing docker-compose to check docker-compose.yml..." >&2
        if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo=sudo; fi
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
    fi
    docker-compose -f docker-compose.yml config -q
    echo "docker-compose config: docker-compose.yml accepted"
else
    echo "skipped: docker compose config (no docker client)"
fi

# The end-to-end tests start the storage node binary, which `cargo test` does not build
# for a package without integration tests of its own.
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"

# Every fuzz target (fuzz/, cargo-fuzz) for FUZZ_SECONDS (30 here; at most 60) each;
# prints "skipped: cargo-fuzz not installed" and succeeds when it is missing.
FUZZ_SECONDS=${FUZZ_SECONDS:-30} scripts/fuzz.sh
