-- Staking, committees, rewards and epoch changes (issue 3).
--
-- WAL never sits in these tables: it sits in journal accounts (ledger::account):
--   sys:pending:<node>     stake made this epoch, not yet active (striped)
--   sys:pool:<node>        the node's staking pool: active stake plus rewards
--   sys:commission:<node>  the operator's unclaimed commission
--   sys:slot:<epoch>       the reward slot of an epoch (striped)
--   sys:subsidy            the subsidy pool
-- These tables hold what is not money: who owns which stake, shares, committees and
-- the record of each epoch change.

-- The governable parameters in force (ECONOMICS.md defaults); governance changes them.
CREATE TABLE params (
    name  text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO params (name, value) VALUES
    ('stake_min', '1'),
    ('node_stake_min', '1'),
    ('committee_size_max', '150'),
    ('reward_burn_rate', '0.03'),
    ('subsidy_rate', '0'),
    ('epochs_ahead_max', '53'),
    ('rate_change_max', '0.1'),
    ('price_change_max', '0.1'),
    ('audit_challenges_min', '20'),
    ('slash_threshold', '0.9'),
    ('slash_rate', '0.05'),
    ('jail_threshold', '0.5'),
    ('jail_epochs', '2');

-- The epoch lock. Requests whose effect depends on the current epoch (stakes,
-- withdrawals, subsidies, claims, node changes) call this first and hold the shared
-- lock until they commit; the epoch change holds it exclusively. So a change never
-- runs beside such a request, and a request that waited for a change sees the new
-- epoch (in READ COMMITTED each statement of a volatile function takes a fresh
-- snapshot, so the SELECT runs after the lock is granted).
CREATE FUNCTION epoch_lock_shared() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7761001);
    RETURN (SELECT max(epoch) FROM epochs);
END $$;

CREATE FUNCTION epoch_lock_exclusive() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7761001);
    RETURN (SELECT max(epoch) FROM epochs);
END $$;

-- Commission changes: each applies from its epoch (two after it was asked for) until a
-- later one does, so a second request never cancels a first one still waiting. The
-- rate a node registered with applies before its first change.
CREATE TABLE commission_changes (
    node_id         bigint NOT NULL REFERENCES nodes (id),
    effective_epoch bigint NOT NULL,
    rate            numeric(10, 9) NOT NULL CHECK (rate BETWEEN 0 AND 1),
    requested_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, effective_epoch)
);
INSERT INTO commission_changes (node_id, effective_epoch, rate)
SELECT id, next_commission_epoch, next_commission_rate FROM nodes
WHERE next_commission_rate IS NOT NULL;
ALTER TABLE nodes DROP COLUMN next_commission_rate, DROP COLUMN next_commission_epoch;

-- The commission rate in force for a node in an epoch.
CREATE FUNCTION commission_rate_at(p_node bigint, p_epoch bigint) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT rate FROM commission_changes
         WHERE node_id = p_node AND effective_epoch <= p_epoch
         ORDER BY effective_epoch DESC LIMIT 1),
        (SELECT commission_rate FROM nodes WHERE id = p_node))
$$;

-- A pool's shares outstanding (its WAL is the balance of sys:pool:<node>). Written
-- only by epoch changes: shares are minted when pending stake activates and retired
-- when withdrawals are paid.
ALTER TABLE nodes ADD COLUMN pool_shares numeric(40, 0) NOT NULL DEFAULT 0 CHECK (pool_shares >= 0);

-- A pool's WAL and shares at the change into `epoch`, just before that epoch's newly
-- active stake joined: the exchange rate at which those stakes got their shares.
CREATE TABLE pool_rates (
    node_id bigint NOT NULL REFERENCES nodes (id),
    epoch   bigint NOT NULL,
    wal     numeric(38, 9) NOT NULL CHECK (wal >= 0),
    shares  numeric(40, 0) NOT NULL CHECK (shares >= 0),
    PRIMARY KEY (node_id, epoch)
);

-- A stake made in `staked_epoch` is pending in that epoch and active from the next.
-- Its shares follow from its principal and the pool rate of its activation epoch; they
-- are written down when an active stake asks to withdraw.
CREATE TABLE stakes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner            text NOT NULL,
    node_id          bigint NOT NULL REFERENCES nodes (id),
    principal        numeric(38, 9) NOT NULL CHECK (principal > 0),
    staked_epoch     bigint NOT NULL,
    shares           numeric(40, 0) CHECK (shares >= 0),
    -- the epoch in which the owner asked to withdraw
    withdraw_epoch   bigint,
    -- WAL paid back, and in which epoch (pending stake: at once; active: at the change)
    withdrawn_amount numeric(38, 9) CHECK (withdrawn_amount >= 0),
    withdrawn_epoch  bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((withdrawn_amount IS NULL) = (withdrawn_epoch IS NULL)),
    CHECK (withdrawn_amount IS NULL OR withdraw_epoch IS NOT NULL)
);
CREATE INDEX stakes_by_owner ON stakes (owner, id);
CREATE INDEX stakes_by_node ON stakes (node_id, id);
-- The withdrawals an epoch change pays: O(withdrawals), never O(stakes).
CREATE INDEX stakes_withdrawing ON stakes (withdraw_epoch, node_id)
    WHERE withdraw_epoch IS NOT NULL AND withdrawn_amount IS NULL;

-- The committee of each epoch, chosen at the change into it; the reward columns are
-- filled by the change that closes it.
CREATE TABLE committee_members (
    epoch           bigint NOT NULL,
    node_id         bigint NOT NULL REFERENCES nodes (id),
    -- pool WAL when chosen
    stake           numeric(38, 9) NOT NULL CHECK (stake > 0),
    shards          integer[] NOT NULL,
    performance     numeric(10, 9),
    weight          numeric,
    reward          numeric(38, 9),
    commission_rate numeric(10, 9),
    commission      numeric(38, 9),
    PRIMARY KEY (epoch, node_id)
);
CREATE INDEX committee_members_by_node ON committee_members (node_id, epoch);

-- What each epoch change did; `epoch` is the epoch that ended. The primary key is one
-- of the guards that makes a change happen once.
CREATE TABLE epoch_changes (
    epoch              bigint PRIMARY KEY REFERENCES epochs (epoch),
    reward_slot        numeric(38, 9) NOT NULL,
    subsidy            numeric(38, 9) NOT NULL,
    reward_pool        numeric(38, 9) NOT NULL,
    burned             numeric(38, 9) NOT NULL,
    distributed        numeric(38, 9) NOT NULL,
    carried_to_next    numeric(38, 9) NOT NULL,
    stake_activated    numeric(38, 9) NOT NULL,
    withdrawals_paid   numeric(38, 9) NOT NULL,
    withdrawals        integer NOT NULL,
    changed_at         timestamptz NOT NULL DEFAULT now(),
    -- the signer who advanced it (admin role), NULL when its time had come
    advanced_by        text
);
