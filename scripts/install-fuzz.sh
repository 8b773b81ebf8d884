#!/usr/bin/env bash
# Installs cargo-fuzz (the libFuzzer driver scripts/fuzz.sh uses) when it is missing.
set -euo pipefail
if cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz already installed: $(cargo fuzz --version)"
    exit 0
fi
cargo install cargo-fuzz --locked
cargo fuzz --version
