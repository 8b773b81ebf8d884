-- The stable storage price (issue 4): the oracle's WAL/USD observations and the rate
-- and prices fixed for each epoch at the change into it.

CREATE TABLE oracle_observations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the epoch during which the observation was recorded
    epoch       bigint NOT NULL,
    wal_usd     numeric(38, 18) NOT NULL CHECK (wal_usd > 0),
    observed_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oracle_observations_by_epoch ON oracle_observations (epoch);

-- Fixed for the whole epoch: every quote in it is the same. The prices are NULL while
-- the network has no committee (nobody to store anything).
CREATE TABLE epoch_prices (
    epoch         bigint PRIMARY KEY REFERENCES epochs (epoch),
    wal_usd       numeric(38, 18) NOT NULL CHECK (wal_usd > 0),
    observations  integer NOT NULL,
    storage_usd   numeric(20, 9),
    write_usd     numeric(20, 9),
    -- WAL per storage unit (1 MiB encoded) per epoch, and per unit once
    storage_price numeric(38, 9) CHECK (storage_price > 0),
    write_price   numeric(38, 9) CHECK (write_price > 0)
);

-- Epochs that began before this migration: the genesis rate, no prices.
INSERT INTO epoch_prices (epoch, wal_usd, observations)
SELECT e.epoch, n.genesis_wal_usd, 0 FROM epochs e CROSS JOIN network n;
