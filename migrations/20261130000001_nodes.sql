-- Storage nodes registered by their operators (issue 3). Staking pools, stakes and
-- committees come in later migrations.
CREATE TABLE nodes (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator              text NOT NULL,
    name                  text NOT NULL,
    endpoint              text NOT NULL,
    -- 64 lowercase hex digits of the node's ed25519 protocol key; one node per key
    protocol_public_key   text NOT NULL UNIQUE,
    commission_rate       numeric(10, 9) NOT NULL CHECK (commission_rate BETWEEN 0 AND 1),
    -- a requested commission change and the epoch from which it applies
    next_commission_rate  numeric(10, 9) CHECK (next_commission_rate BETWEEN 0 AND 1),
    next_commission_epoch bigint,
    storage_price_vote    numeric(20, 9) NOT NULL CHECK (storage_price_vote > 0),
    write_price_vote      numeric(20, 9) NOT NULL CHECK (write_price_vote > 0),
    registered_epoch      bigint NOT NULL,
    jailed_until_epoch    bigint,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((next_commission_rate IS NULL) = (next_commission_epoch IS NULL))
);

CREATE INDEX nodes_by_operator ON nodes (operator);
