-- The journal's vocabulary, typed: an entry's kind is one of `ledger::kind::EntryKind`
-- (the test `entry_kinds_match_the_database` keeps the two lists equal).
ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_kind_known CHECK (kind IN (
    'genesis_mint', 'transfer', 'faucet', 'stake', 'stake_refund', 'stake_activation',
    'stake_withdrawals', 'storage_purchase', 'storage_extension', 'storage_refund',
    'subsidy', 'commission_claim', 'epoch_rewards', 'slash'
));
