//! What a journal entry records: the one vocabulary of entry kinds. The database holds
//! the same list as a CHECK constraint (migration `journal_entry_kinds`), so an entry of
//! an unknown kind cannot be written by any path.

/// The kind of a journal entry, stored as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// The one mint of the total supply to the treasury.
    GenesisMint,
    /// A payment between two users.
    Transfer,
    /// A devnet faucet drip.
    Faucet,
    /// Stake into a node's pending pool.
    Stake,
    /// Pending stake withdrawn before it became active.
    StakeRefund,
    /// Pending stake moved into the pools at an epoch change.
    StakeActivation,
    /// Active stake paid out at an epoch change.
    StakeWithdrawals,
    /// Prepaid storage into the reward slots.
    StoragePurchase,
    /// More epochs of storage for a contract.
    StorageExtension,
    /// The refund of a deleted contract's future epochs.
    StorageRefund,
    /// WAL added to the reward slots of coming epochs.
    Subsidy,
    /// An operator's unclaimed commission paid out.
    CommissionClaim,
    /// An epoch's reward pool split among its committee.
    EpochRewards,
    /// A slash of a node's pool and commission.
    Slash,
    /// A proposer's deposit into `sys:gov:deposits`.
    ProposalDeposit,
    /// The deposits of the proposals an epoch change tallied, refunded or burned.
    ProposalSettlement,
}

impl EntryKind {
    /// Every kind, in the order of the database's CHECK constraint.
    pub const ALL: [EntryKind; 16] = [
        EntryKind::GenesisMint,
        EntryKind::Transfer,
        EntryKind::Faucet,
        EntryKind::Stake,
        EntryKind::StakeRefund,
        EntryKind::StakeActivation,
        EntryKind::StakeWithdrawals,
        EntryKind::StoragePurchase,
        EntryKind::StorageExtension,
        EntryKind::StorageRefund,
        EntryKind::Subsidy,
        EntryKind::CommissionClaim,
        EntryKind::EpochRewards,
        EntryKind::Slash,
        EntryKind::ProposalDeposit,
        EntryKind::ProposalSettlement,
    ];

    /// The name stored in `journal_entries.kind` and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::GenesisMint => "genesis_mint",
            EntryKind::Transfer => "transfer",
            EntryKind::Faucet => "faucet",
            EntryKind::Stake => "stake",
            EntryKind::StakeRefund => "stake_refund",
            EntryKind::StakeActivation => "stake_activation",
            EntryKind::StakeWithdrawals => "stake_withdrawals",
            EntryKind::StoragePurchase => "storage_purchase",
            EntryKind::StorageExtension => "storage_extension",
            EntryKind::StorageRefund => "storage_refund",
            EntryKind::Subsidy => "subsidy",
            EntryKind::CommissionClaim => "commission_claim",
            EntryKind::EpochRewards => "epoch_rewards",
            EntryKind::Slash => "slash",
            EntryKind::ProposalDeposit => "proposal_deposit",
            EntryKind::ProposalSettlement => "proposal_settlement",
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
