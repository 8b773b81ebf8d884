#!/usr/bin/env bash
# Runs every cargo-fuzz (libFuzzer) target of fuzz/ for a bounded time, starting from
# its committed seed corpus (fuzz/corpus/<target>), and fails if any target crashes.
#   FUZZ_SECONDS=60 scripts/fuzz.sh            # seconds per target, 1..=60 (default 60)
#   FUZZ_REQUIRED=1 scripts/fuzz.sh            # fail instead of skipping without cargo-fuzz
#   FUZZ_SANITIZER=none scripts/fuzz.sh        # address (default) or none: faster to build
#   scripts/fuzz.sh amount_parse rate_parse    # only these targets
# cargo-fuzz needs nightly compiler flags: the nightly toolchain is used when rustup has
# one, else the stable compiler with RUSTC_BOOTSTRAP=1. scripts/install-fuzz.sh
# installs cargo-fuzz. What a run discovers goes to a temporary directory, so the
# checkout stays clean; a crashing input is kept in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "fuzz: FUZZ_SECONDS must be a whole number of seconds, 1..=60, not '$seconds'" >&2
    exit 2
fi
# A minute per target is the budget of the test command; longer campaigns are run by
# hand with `cargo fuzz run <target>`.
if [ "$seconds" -gt 60 ]; then
    echo "fuzz: FUZZ_SECONDS=$seconds is above the 60 s cap; using 60" >&2
    seconds=60
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    if [ "${FUZZ_REQUIRED:-0}" = 1 ]; then
        echo "fuzz: cargo-fuzz is not installed and FUZZ_REQUIRED=1 (run scripts/install-fuzz.sh)" >&2
        exit 1
    fi
    echo "fuzz: skipped: cargo-fuzz not installed (scripts/install-fuzz.sh installs it)"
    exit 0
fi

toolchain=()
if command -v rustup >/dev/null && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
    compiler="nightly ($(rustup run nightly rustc --version))"
else
    # The sanitizer and coverage flags are unstable; stable accepts them this way.
    export RUSTC_BOOTSTRAP=1
    compiler="$(rustc --version) with RUSTC_BOOTSTRAP=1"
fi
# A shared CARGO_TARGET_DIR would have the instrumented build overwrite the normal one.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
fi
sanitizer=${FUZZ_SANITIZER:-address}
# Release with debug assertions and overflow checks: cargo-fuzz's default profile.
flags=(--sanitizer "$sanitizer" --debug-assertions)

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cd fuzz && cargo "${toolchain[@]}" fuzz list)
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, sanitizer $sanitizer, $compiler"

# One build for every target; `cargo fuzz run` below then finds it up to date.
start=$(date +%s)
(cd fuzz && cargo "${toolchain[@]}" fuzz build "${flags[@]}")
echo "fuzz: build took $(($(date +%s) - start)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for target in "${targets[@]}"; do
    mkdir -p "$work/$target" "fuzz/corpus/$target"
    log="$work/$target.log"
    start=$(date +%s)
    # New inputs go to the first (temporary) corpus directory; the committed seeds are
    # only read. -timeout: an input taking 20 s is a finding, not a slow machine.
    if (cd fuzz && cargo "${toolchain[@]}" fuzz run "${flags[@]}" "$target" \
        "$work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=20 -print_final_stats=1) >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$target")
    fi
    took=$(($(date +%s) - start))
    # libFuzzer's last status line: executions, coverage (cov: edges, ft: features), corpus.
    stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    echo "fuzz: $target: $status after ${took} s, ${runs:-?} executions; last: ${stats:-no stats}"
    if [ "$status" = FAILED ]; then
        # The panic or sanitizer report, and where the crashing input was saved.
        grep -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY:|Test unit written|^Error|error\[" "$log" | head -20 >&2 || true
        tail -30 "$log" >&2
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (crashing inputs in fuzz/artifacts/<target>/; reproduce with cargo fuzz run <target> <file>)" >&2
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds} s without a crash"
