#!/usr/bin/env bash
# The audit at 10 million journal lines: a ledger's database is filled with LINES
# journal lines (transfers of 1 WAL from the treasury to ACCOUNTS accounts, written in
# bulk by SQL with their balances), then the checkpoint takes them in once, and
# `GET /v1/audit` (from the checkpoint on) is timed next to `wal-ledger audit --full`
# (the whole journal, the old cost) in the same run. Prints the times and their ratio.
#   LINES=10000000 ACCOUNTS=10000 RUNS=5 scripts/bench-audit.sh
# (WAL_SKIP_BUILD=1 runs the release binaries as they are.)
set -euo pipefail
cd "$(dirname "$0")/.."
release=${CARGO_TARGET_DIR:-target}/release

lines=${LINES:-10000000}
accounts=${ACCOUNTS:-10000}
runs=${RUNS:-5}
server=${PG_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
db=$server/wal_bench_audit
export DATABASE_URL=$server/postgres
scripts/ensure-postgres.sh
[ "${WAL_SKIP_BUILD:-0}" = 1 ] || cargo build --release --locked --bin wal-ledger --bin walctl

psql -q "$server/postgres" -c 'DROP DATABASE IF EXISTS wal_bench_audit' -c 'CREATE DATABASE wal_bench_audit'
work=$(mktemp -d)
cleanup() { [ -n "${ledger_pid:-}" ] && kill "$ledger_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

$release/walctl --key "$work/treasury.key" keygen >/dev/null
treasury=$($release/walctl --key "$work/treasury.key" address)
export WAL_TREASURY_ADDRESS=$treasury
DATABASE_URL=$db $release/wal-ledger genesis >/dev/null

entries=$((lines / 2))
echo "== writing $entries transfers ($lines journal lines) to $accounts accounts"
start=$(date +%s)
psql -q "$db" -v ON_ERROR_STOP=1 <<SQL
BEGIN;
SELECT coalesce(max(id), 0) AS before_id FROM journal_entries \gset
SELECT stripe AS t_stripe FROM balances WHERE account = '$treasury' ORDER BY balance DESC LIMIT 1 \gset
CREATE TEMP TABLE bulk AS
  SELECT n, 'bench:' || (n % $accounts) AS account FROM generate_series(1, $entries) n;
INSERT INTO journal_entries (kind, epoch, actor, memo)
  SELECT 'transfer', 0, '$treasury', NULL FROM bulk;
CREATE TEMP TABLE ids AS
  SELECT id, row_number() OVER (ORDER BY id) AS n FROM journal_entries
  WHERE id > :before_id;
INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount)
  SELECT i.id, l.line_no, CASE l.line_no WHEN 0 THEN '$treasury' ELSE b.account END,
         CASE l.line_no WHEN 0 THEN :t_stripe ELSE 0 END,
         CASE l.line_no WHEN 0 THEN -1 ELSE 1 END
  FROM ids i JOIN bulk b USING (n) CROSS JOIN (VALUES (0), (1)) l(line_no);
UPDATE balances SET balance = balance - $entries WHERE account = '$treasury' AND stripe = :t_stripe;
INSERT INTO balances (account, stripe, balance)
  SELECT account, 0, count(*) FROM bulk GROUP BY account;
COMMIT;
VACUUM ANALYZE;
SQL
echo "written in $(( $(date +%s) - start )) s"

start=$(date +%s%N)
DATABASE_URL=$db $release/wal-ledger audit --advance >/dev/null
echo "the checkpoint takes in the $lines lines once: $(( ($(date +%s%N) - start) / 1000000 )) ms"

DATABASE_URL=$db WAL_LISTEN_ADDR=127.0.0.1:0 RUST_LOG=warn \
    $release/wal-ledger serve >"$work/ledger.out" 2>"$work/ledger.err" &
ledger_pid=$!
for _ in $(seq 1 100); do
    grep -q '^listening on ' "$work/ledger.out" && break
    sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/ledger.out")
[ -n "$url" ] || { cat "$work/ledger.err" >&2; exit 1; }

# The median of RUNS timings of a command, in ms.
median_ms() {
    local times=() i t0
    for i in $(seq 1 "$runs"); do
        t0=$(date +%s%N)
        "$@" >"$work/answer.json"
        times+=($(( ($(date +%s%N) - t0) / 1000000 )))
        # The API serves a report for a second: wait it out so each run is a new audit.
        sleep 1.1
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}
get_ms=$(median_ms curl -sf "$url/v1/audit")
grep -q '"ok":true' "$work/answer.json" || { echo "the audit is not ok:"; cat "$work/answer.json"; exit 1; }
full_ms=$(median_ms env DATABASE_URL=$db $release/wal-ledger audit --full)
echo "GET /v1/audit at $lines journal lines: median $get_ms ms over $runs runs"
echo "wal-ledger audit --full (the whole journal): median $full_ms ms over $runs runs"
python3 -c "print(f'incremental / full: {max($get_ms, 1) / $full_ms:.4f}')"
