-- Storage contracts (issue 4). The prepaid WAL sits in the reward slots of the epochs
-- a contract covers (journal accounts sys:slot:<epoch>); `contract_slots` remembers
-- how much of each slot a contract paid, for refunds when it is deleted.

CREATE TABLE contracts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner           text NOT NULL,
    blob_id         text NOT NULL CHECK (blob_id ~ '^[0-9a-f]{64}$'),
    -- the blob's encoding metadata as the buyer sent it (validated)
    metadata        jsonb NOT NULL,
    size            bigint NOT NULL CHECK (size > 0),
    encoded_size    bigint NOT NULL CHECK (encoded_size > 0),
    storage_units   bigint NOT NULL CHECK (storage_units > 0),
    -- covers epochs start_epoch .. end_epoch - 1
    start_epoch     bigint NOT NULL,
    end_epoch       bigint NOT NULL CHECK (end_epoch > start_epoch),
    deletable       boolean NOT NULL,
    paid            numeric(38, 9) NOT NULL CHECK (paid > 0),
    certified_epoch bigint,
    certified_shards integer,
    deleted_epoch   bigint,
    refunded        numeric(38, 9),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contracts_by_owner ON contracts (owner, id);
CREATE INDEX contracts_by_blob ON contracts (blob_id, id);
-- Expiring contracts: nodes drop slivers after end_epoch.
CREATE INDEX contracts_by_end ON contracts (end_epoch);

CREATE TABLE contract_slots (
    contract_id bigint NOT NULL REFERENCES contracts (id),
    epoch       bigint NOT NULL,
    amount      numeric(38, 9) NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (contract_id, epoch)
);

-- Nodes whose signed confirmations were recorded for a contract.
CREATE TABLE contract_confirmations (
    contract_id bigint NOT NULL REFERENCES contracts (id),
    node_id     bigint NOT NULL REFERENCES nodes (id),
    epoch       bigint NOT NULL,
    shards      integer[] NOT NULL,
    signature   text NOT NULL,
    PRIMARY KEY (contract_id, node_id)
);
