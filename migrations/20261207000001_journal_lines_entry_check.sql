-- Every journal line names an entry that exists, checked once per statement instead
-- of once per line. The foreign key from journal_lines to journal_entries ran its own
-- lookup, with a row lock on the entry, for every line: about a sixth of a batched
-- commit's write statement. The statement trigger that already checks that the new
-- lines balance now also checks, in one anti-join, that their entries exist (it runs
-- after the statement, so it sees entries the same statement inserted). What the key
-- also prevented, an entry removed under its lines, cannot happen: journal_entries is
-- append-only (UPDATE, DELETE and TRUNCATE are refused by journal_entries_append_only).
ALTER TABLE journal_lines DROP CONSTRAINT journal_lines_entry_id_fkey;

CREATE OR REPLACE FUNCTION journal_lines_are_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    offending bigint;
BEGIN
    SELECT l.entry_id INTO offending FROM new_lines l
    WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.id = l.entry_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal line names entry %, which does not exist', offending;
    END IF;
    SELECT entry_id INTO offending FROM new_lines
    GROUP BY entry_id HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance', offending;
    END IF;
    RETURN NULL;
END $$;
