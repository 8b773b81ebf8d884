-- The audit's checkpoint: the journal's sums per (account, stripe) and its entry counts
-- over every entry already verified, so that `GET /v1/audit` verifies only the entries
-- posted since (the tail) instead of the whole journal.
--
-- Which entries a checkpoint covers is decided by transaction id, not entry id: ids
-- come from a sequence and commit out of order, so an entry with a smaller id can
-- become visible after one with a larger id. Every entry records the transaction that
-- posted it; a checkpoint covers exactly the entries whose transaction is older than
-- the oldest transaction of this database running when it was taken (see
-- ledger::audit::checkpoint), all of which are committed or rolled back for good.
ALTER TABLE journal_entries ADD COLUMN created_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE journal_entries ALTER COLUMN created_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX journal_entries_by_xid ON journal_entries (created_xid);

-- One row: entries with created_xid < through_xid are covered, with the counts of
-- faults found among them (the journal is append-only: a fault once found stays).
CREATE TABLE audit_checkpoint (
    id            smallint PRIMARY KEY CHECK (id = 1),
    through_xid   xid8 NOT NULL,
    entries       bigint NOT NULL CHECK (entries >= 0),
    unbalanced    bigint NOT NULL CHECK (unbalanced >= 0),
    without_lines bigint NOT NULL CHECK (without_lines >= 0),
    advanced_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_checkpoint (id, through_xid, entries, unbalanced, without_lines)
VALUES (1, '0', 0, 0, 0);

-- The sum of the journal lines of the covered entries, per (account, stripe).
CREATE TABLE audit_totals (
    account text NOT NULL,
    stripe  smallint NOT NULL,
    total   numeric(38, 9) NOT NULL,
    PRIMARY KEY (account, stripe)
);
