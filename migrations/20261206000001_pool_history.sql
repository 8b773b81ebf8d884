-- Every node's pool at the start of each epoch (after the change into it: rewards,
-- slashes, withdrawals and activations applied), for the stake and exchange-rate
-- history a node's page shows. One row per node per epoch change: O(nodes), like the
-- rest of the change. `pool_rates` stays what it is: the rate stakes activated at.
-- Epochs that began before this migration have no row.
CREATE TABLE pool_history (
    node_id bigint NOT NULL REFERENCES nodes (id),
    epoch   bigint NOT NULL REFERENCES epochs (epoch),
    wal     numeric(38, 9) NOT NULL CHECK (wal >= 0),
    shares  numeric(40, 0) NOT NULL CHECK (shares >= 0),
    PRIMARY KEY (node_id, epoch)
);
