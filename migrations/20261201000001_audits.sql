-- Proof-of-storage audits (issue 5): the checker's challenge results per node and
-- epoch, and what each epoch change slashed and jailed.

-- Challenges the checker draws per committee node and epoch: with 66, a node missing
-- 10% of its slivers fails at least one with probability 1 - 0.9^66 > 0.999.
INSERT INTO params (name, value) VALUES ('audit_challenges_per_epoch', '66');

CREATE TABLE audit_results (
    -- the challenge's nonce (64 hex digits), fresh per challenge: a result sent twice
    -- is recognised and never counted twice
    challenge_id text PRIMARY KEY,
    epoch        bigint NOT NULL REFERENCES epochs (epoch),
    node_id      bigint NOT NULL REFERENCES nodes (id),
    blob_id      text NOT NULL,
    shard        integer NOT NULL CHECK (shard >= 0),
    chunk        integer NOT NULL CHECK (chunk >= 0),
    outcome      text NOT NULL
                 CHECK (outcome IN ('pass', 'fail', 'missing', 'timeout', 'unreachable')),
    -- for `fail` only: the node's signed wrong answer {chunk, siblings, signature},
    -- verified by the ledger before it was recorded
    evidence     jsonb,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((outcome = 'fail') = (evidence IS NOT NULL))
);
CREATE INDEX audit_results_by_epoch_node ON audit_results (epoch, node_id);
CREATE INDEX audit_results_by_node ON audit_results (node_id, epoch);

-- Step 3 of the epoch change: one row per node slashed at the end of `epoch`.
CREATE TABLE slashes (
    epoch              bigint NOT NULL REFERENCES epochs (epoch),
    node_id            bigint NOT NULL REFERENCES nodes (id),
    challenges         integer NOT NULL,
    passed             integer NOT NULL,
    pass_rate          numeric(10, 9) NOT NULL,
    -- slash_rate of the pool's WAL, rounded down
    pool_slashed       numeric(38, 9) NOT NULL CHECK (pool_slashed >= 0),
    -- the whole unclaimed commission
    commission_slashed numeric(38, 9) NOT NULL CHECK (commission_slashed >= 0),
    burned             numeric(38, 9) NOT NULL CHECK (burned >= 0),
    to_subsidy_pool    numeric(38, 9) NOT NULL CHECK (to_subsidy_pool >= 0),
    -- set when the pass rate was below jail_threshold: the first epoch it may rejoin
    jailed_until_epoch bigint,
    PRIMARY KEY (epoch, node_id),
    CHECK (pool_slashed + commission_slashed = burned + to_subsidy_pool)
);
CREATE INDEX slashes_by_node ON slashes (node_id, epoch);

-- What the audits of the closing epoch gave each committee member.
ALTER TABLE committee_members
    ADD COLUMN challenges integer,
    ADD COLUMN passed     integer;

ALTER TABLE epoch_changes
    ADD COLUMN slashed numeric(38, 9) NOT NULL DEFAULT 0;
