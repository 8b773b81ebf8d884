-- Governance (issue 13; ECONOMICS.md, "Governance"): stakers propose parameter changes
-- and vote on them by stake; the epoch change out of a proposal's last voting epoch
-- tallies it and applies it if it passed.
--
-- WAL never sits in these tables: deposits sit in the journal account sys:gov:deposits
-- from the proposal until its tally refunds or burns them.

INSERT INTO params (name, value) VALUES
    ('proposal_deposit', '1000'),
    ('voting_epochs', '1'),
    ('gov_quorum', '0.334'),
    ('gov_threshold', '0.5'),
    ('gov_veto', '0.334'),
    ('proposals_open_max', '20');

CREATE TABLE proposals (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    proposer          text NOT NULL,
    title             text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description       text NOT NULL CHECK (char_length(description) <= 10000),
    -- {parameter: value as text}, 1 to 16 of them, each checked when proposed
    changes           jsonb NOT NULL,
    deposit           numeric(38, 9) NOT NULL CHECK (deposit > 0),
    created_epoch     bigint NOT NULL,
    -- votes are taken through this epoch; the change out of it tallies
    voting_ends_epoch bigint NOT NULL CHECK (voting_ends_epoch > created_epoch),
    status            text NOT NULL DEFAULT 'voting' CHECK (status IN
                        ('voting', 'passed', 'rejected', 'vetoed', 'no_quorum', 'failed')),
    -- the epoch whose change tallied it
    decided_epoch     bigint,
    -- what the tally counted (FROST-exact WAL)
    tally_yes         numeric(38, 9),
    tally_no          numeric(38, 9),
    tally_abstain     numeric(38, 9),
    tally_veto        numeric(38, 9),
    tally_total_power numeric(38, 9),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'voting') = (decided_epoch IS NULL)),
    CHECK ((status = 'voting') = (tally_total_power IS NULL))
);
-- What an epoch change tallies, and the open-proposal cap: O(open proposals).
CREATE INDEX proposals_voting ON proposals (voting_ends_epoch, id) WHERE status = 'voting';
CREATE INDEX proposals_by_status ON proposals (status, id);

-- One row per voter and proposal: a later vote replaces the earlier one.
CREATE TABLE votes (
    proposal_id bigint NOT NULL REFERENCES proposals (id),
    voter       text NOT NULL,
    choice      text NOT NULL CHECK (choice IN ('yes', 'no', 'abstain', 'veto')),
    voted_epoch bigint NOT NULL,
    voted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (proposal_id, voter)
);

-- What a tally counted, written without touching the votes (a tally of 100k votes
-- writes O(voters + operators) rows): a vote's power is its voter's own stake at the
-- tally of its proposal's decided epoch (the same for every proposal tallied then),
-- plus, for an operator, what it inherited from its pools on that proposal.
CREATE TABLE tally_own_power (
    epoch bigint NOT NULL,
    voter text NOT NULL,
    power numeric(38, 9) NOT NULL CHECK (power >= 0),
    PRIMARY KEY (epoch, voter)
);
CREATE TABLE tally_inherited_power (
    proposal_id bigint NOT NULL REFERENCES proposals (id),
    operator    text NOT NULL,
    power       numeric(38, 9) NOT NULL CHECK (power >= 0),
    PRIMARY KEY (proposal_id, operator)
);

-- Every value a parameter took, from the epoch it came into force, with the proposal
-- that set it (NULL: the genesis default). The values in force in epoch n are, for
-- each parameter, its row with the greatest epoch <= n; `params` holds the current ones.
CREATE TABLE param_changes (
    name        text NOT NULL REFERENCES params (name),
    epoch       bigint NOT NULL CHECK (epoch >= 0),
    value       text NOT NULL,
    proposal_id bigint REFERENCES proposals (id),
    PRIMARY KEY (name, epoch)
);
INSERT INTO param_changes (name, epoch, value) SELECT name, 0, value FROM params;

ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_kind_known;
ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_kind_known CHECK (kind IN (
    'genesis_mint', 'transfer', 'faucet', 'stake', 'stake_refund', 'stake_activation',
    'stake_withdrawals', 'storage_purchase', 'storage_extension', 'storage_refund',
    'subsidy', 'commission_claim', 'epoch_rewards', 'slash',
    'proposal_deposit', 'proposal_settlement'
));
