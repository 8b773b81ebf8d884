-- Batched commits (ledger::batch): one transaction posts the journal entries of many
-- signed requests. The batch first locks every balance row it may touch, all in one
-- pass in the global lock order (account key in byte order, then stripe: the order
-- journal_post locks the legs of one entry in), creating the rows it will credit that
-- do not exist yet; then the ledger decides which entries apply (ledger::batch::apply)
-- and writes them in one statement.
--
-- The caller passes the rows sorted and distinct. A stripe of -1 locks every stripe of
-- the account, in stripe order (a debit that drains them). `created` says the row was
-- made here, so that one no entry ended up crediting is deleted again before COMMIT.
CREATE FUNCTION balances_lock(p_accounts text[], p_stripes smallint[], p_create boolean[])
RETURNS TABLE (locked_account text, locked_stripe smallint, locked_balance numeric,
               created boolean)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
        IF p_stripes[i] < 0 THEN
            RETURN QUERY
                SELECT b.account, b.stripe, b.balance, false FROM balances b
                WHERE b.account = p_accounts[i] ORDER BY b.stripe FOR UPDATE;
            CONTINUE;
        END IF;
        RETURN QUERY
            SELECT b.account, b.stripe, b.balance, false FROM balances b
            WHERE b.account = p_accounts[i] AND b.stripe = p_stripes[i] FOR UPDATE;
        IF NOT FOUND AND p_create[i] THEN
            -- A concurrent creator of the same row makes this wait for its commit; the
            -- row is then locked as it stands.
            INSERT INTO balances AS b (account, stripe, balance)
            VALUES (p_accounts[i], p_stripes[i], 0)
            ON CONFLICT ON CONSTRAINT balances_pkey DO NOTHING;
            IF FOUND THEN
                RETURN QUERY SELECT p_accounts[i], p_stripes[i], 0::numeric, true;
            ELSE
                RETURN QUERY
                    SELECT b.account, b.stripe, b.balance, false FROM balances b
                    WHERE b.account = p_accounts[i] AND b.stripe = p_stripes[i] FOR UPDATE;
            END IF;
        END IF;
    END LOOP;
END $$;

-- journal_post refused a drain with the balance left after it had drained the stripes
-- ("holds 0"), not what the account held; the batch applier (tests/batch.rs compares
-- the two) says what it held. The refusal now counts what the drain took back in.
DROP FUNCTION journal_insufficient_funds(text, numeric);
CREATE FUNCTION journal_insufficient_funds(p_account text, p_needed numeric,
                                                      p_drained numeric DEFAULT 0) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    available numeric;
BEGIN
    SELECT coalesce(sum(balance), 0) + p_drained INTO available FROM balances
    WHERE account = p_account;
    RAISE EXCEPTION USING ERRCODE = 'WL001', MESSAGE = format(
        'account %s holds %s WAL but %s WAL are needed',
        p_account, trim_scale(available), trim_scale(p_needed));
END $$;

CREATE OR REPLACE FUNCTION journal_post(
    p_kind text, p_actor text, p_memo text,
    p_accounts text[], p_stripes smallint[], p_amounts numeric[], p_may_go_negative boolean[],
    OUT new_id bigint, OUT new_epoch bigint, OUT new_created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    line_accounts text[] := '{}';
    line_stripes smallint[] := '{}';
    line_amounts numeric[] := '{}';
    remaining numeric;
    take numeric;
    stripe_row record;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
        IF p_amounts[i] > 0 OR p_may_go_negative[i] THEN
            INSERT INTO balances (account, stripe, balance)
            VALUES (p_accounts[i], greatest(p_stripes[i], 0), p_amounts[i])
            ON CONFLICT (account, stripe) DO UPDATE SET balance = balances.balance + EXCLUDED.balance;
            line_accounts := line_accounts || p_accounts[i];
            line_stripes := line_stripes || greatest(p_stripes[i], 0)::smallint;
            line_amounts := line_amounts || p_amounts[i];
        ELSIF p_stripes[i] >= 0 THEN
            UPDATE balances SET balance = balance + p_amounts[i]
            WHERE account = p_accounts[i] AND stripe = p_stripes[i] AND balance + p_amounts[i] >= 0;
            IF NOT FOUND THEN
                PERFORM journal_insufficient_funds(p_accounts[i], -p_amounts[i]);
            END IF;
            line_accounts := line_accounts || p_accounts[i];
            line_stripes := line_stripes || p_stripes[i];
            line_amounts := line_amounts || p_amounts[i];
        ELSE
            remaining := -p_amounts[i];
            FOR stripe_row IN
                SELECT b.stripe, b.balance FROM balances b
                WHERE b.account = p_accounts[i] ORDER BY b.stripe FOR UPDATE
            LOOP
                EXIT WHEN remaining = 0;
                take := least(remaining, stripe_row.balance);
                CONTINUE WHEN take <= 0;
                UPDATE balances SET balance = balance - take
                WHERE account = p_accounts[i] AND stripe = stripe_row.stripe;
                remaining := remaining - take;
                line_accounts := line_accounts || p_accounts[i];
                line_stripes := line_stripes || stripe_row.stripe;
                line_amounts := line_amounts || -take;
            END LOOP;
            IF remaining > 0 THEN
                PERFORM journal_insufficient_funds(p_accounts[i], -p_amounts[i],
                                                   -p_amounts[i] - remaining);
            END IF;
        END IF;
    END LOOP;

    INSERT INTO journal_entries (kind, epoch, actor, memo)
    VALUES (p_kind, (SELECT coalesce(max(e.epoch), 0) FROM epochs e), p_actor, p_memo)
    RETURNING id, epoch, created_at INTO new_id, new_epoch, new_created_at;
    INSERT INTO journal_lines (entry_id, line_no, account, stripe, amount)
    SELECT new_id, l.ord::smallint, l.account, l.stripe, l.amount
    FROM unnest(line_accounts, line_stripes, line_amounts) WITH ORDINALITY AS l(account, stripe, amount, ord);
END $$;

