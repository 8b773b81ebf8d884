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

-- A second line of defence behind ledger::journal: at commit, every entry that got
-- lines in this transaction must sum to zero.
CREATE FUNCTION journal_entry_is_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sum(amount) FROM journal_lines WHERE entry_id = NEW.entry_id) <> 0 THEN
        RAISE EXCEPTION 'journal entry % does not balance', NEW.entry_id;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_entry_is_balanced();

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
    response_status smallint,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (address, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- Devnet faucet: last drip per recipient and per requester.
CREATE TABLE faucet_drips (
    who          text PRIMARY KEY,
    last_drip_at timestamptz NOT NULL
);
