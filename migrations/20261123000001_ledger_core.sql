-- The WAL ledger core: network (genesis), epochs, balances, the journal, signature
-- nonces, idempotency keys and the devnet faucet's rate limit.

-- One row, written once at genesis. The primary key on a constant makes a second
-- genesis impossible at the database level.
CREATE TABLE network (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    network_id       text NOT NULL CHECK (length(network_id) BETWEEN 1 AND 64),
    treasury_address text NOT NULL,
    total_supply     numeric(38, 9) NOT NULL CHECK (total_supply > 0),
    n_shards         integer NOT NULL CHECK (n_shards BETWEEN 1 AND 1000),
    genesis_wal_usd  numeric(38, 18) NOT NULL CHECK (genesis_wal_usd > 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE epochs (
    epoch      bigint PRIMARY KEY CHECK (epoch >= 0),
    started_at timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > started_at)
);

-- Balances, written only by ledger::journal. An account's balance is the sum of its
-- stripes (hot system accounts have several, users one). Only the issuance account,
-- the counter-account of the genesis mint, may be negative.
CREATE TABLE balances (
    account text NOT NULL,
    stripe  smallint NOT NULL DEFAULT 0 CHECK (stripe >= 0),
    balance numeric(38, 9) NOT NULL,
    PRIMARY KEY (account, stripe),
    CONSTRAINT balance_not_negative CHECK (balance >= 0 OR account = 'sys:issuance')
);

-- The journal: append-only; every entry's lines sum to zero.
CREATE TABLE journal_entries (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL,
    epoch      bigint NOT NULL,
    -- the account whose signed request caused the entry; NULL for system entries
    actor      text,
    memo       text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE journal_lines (
    entry_id bigint NOT NULL REFERENCES journal_entries (id),
    line_no  smallint NOT NULL,
    account  text NOT NULL,
    stripe   smallint NOT NULL,
    amount   numeric(38, 9) NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (entry_id, line_no)
);

CREATE INDEX journal_lines_by_account ON journal_lines (account, entry_id DESC);

CREATE FUNCTION journal_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END $$;

CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON journal_entries FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER journal_lines_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON journal_lines FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- A second line of defence behind ledger::journal: the lines that one INSERT writes
-- must balance for every entry they belong to. journal_post writes all lines of an
-- entry in one statement, so an entry can never be left unbalanced; one check per
-- statement (not per line) keeps it cheap.
CREATE FUNCTION journal_lines_are_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced bigint;
BEGIN
    SELECT entry_id INTO unbalanced FROM new_lines
    GROUP BY entry_id HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance', unbalanced;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION journal_lines_are_balanced();

-- Posting one journal entry in one round trip (called only by ledger::journal::post,
-- which has already checked that the legs balance, merged them per account and sorted
-- them by account key: the global lock order that keeps concurrent entries from
-- deadlocking). Leg i moves p_amounts[i] on account p_accounts[i]:
--   * a credit goes to stripe p_stripes[i] (chosen at random for striped accounts);
--   * a debit of an account that may go negative (issuance) is applied as is;
--   * a debit with p_stripes[i] >= 0 is refused if it would take that row below zero;
--   * a debit with p_stripes[i] = -1 drains the account's stripes in stripe order.
-- A refused debit raises SQLSTATE WL001 (insufficient funds); the caller's
-- transaction then rolls back whole.
CREATE FUNCTION journal_insufficient_funds(p_account text, p_needed numeric) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    available numeric;
BEGIN
    SELECT coalesce(sum(balance), 0) INTO available FROM balances WHERE account = p_account;
    RAISE EXCEPTION USING ERRCODE = 'WL001', MESSAGE = format(
        'account %s holds %s WAL but %s WAL are needed',
        p_account, trim_scale(available), trim_scale(p_needed));
END $$;

CREATE FUNCTION journal_post(
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
                PERFORM journal_insufficient_funds(p_accounts[i], -p_amounts[i]);
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

-- RFC 9421 nonces: unique per signer while their signature could still be accepted.
CREATE TABLE signature_nonces (
    address    text NOT NULL,
    nonce      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (address, nonce)
);
CREATE INDEX signature_nonces_expiry ON signature_nonces (expires_at);

-- Idempotency keys: the first request with a key executes; later ones with the same
-- request fingerprint get the stored response.
CREATE TABLE idempotency_keys (
    address         text NOT NULL,
    key             text NOT NULL,
    fingerprint     bytea NOT NULL,
    response_status smallint NOT NULL,
    response_body   bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (address, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- Devnet faucet: last drip per recipient and per requester.
CREATE TABLE faucet_drips (
    who          text PRIMARY KEY,
    last_drip_at timestamptz NOT NULL
);
