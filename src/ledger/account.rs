//! Account identities: user addresses (ed25519 public keys, `wire::Address`) and
//! system accounts.
//!
//! In the database an account is a text key: a user's `0x…` address, or `sys:…` for a
//! system account. A system account that many unrelated requests credit (burn, escrow
//! slots, pools) is *striped*: its balance is the sum of several rows, and each credit
//! lands on a random stripe, so concurrent requests never queue on one row
//! (ARCHITECTURE rule 3). Debits of striped accounts happen in epoch changes, which lock
//! every stripe in order.

pub use crate::wire::address::{Address, AddressError};

/// Accounts the ledger itself owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemAccount {
    /// The counter-account of the genesis mint: the only account whose balance is
    /// negative, always exactly `-total_supply`, so that every entry balances.
    Issuance,
    /// Burned WAL stays visible here; it is never debited.
    Burn,
    /// The reward slot of an epoch: prepaid fees and subsidies for that epoch.
    Slot(i64),
    /// The subsidy pool (fed by slashes), drawn on at `subsidy_rate` per epoch.
    SubsidyPool,
    /// A node's stake made this epoch, active from the next.
    PendingStake(i64),
    /// A node's staking pool: active stake plus its rewards.
    Pool(i64),
    /// A node operator's unclaimed commission.
    Commission(i64),
    /// The deposits of the proposals still voting (`sys:gov:deposits`).
    GovDeposits,
}

/// Any account that can hold WAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Account {
    /// A user's account, named by its address (an ed25519 public key).
    User(Address),
    /// An account the ledger itself owns.
    System(SystemAccount),
}

/// Stripes of a striped system account; a power of two is not required.
pub const HOT_ACCOUNT_STRIPES: i16 = 16;

/// Key of the issuance account, the counter-account of the genesis mint.
pub const ISSUANCE_KEY: &str = "sys:issuance";
/// Key prefixes of the per-epoch and per-node system accounts: the one definition of
/// the key format. Queries that aggregate per node bind these (`$n::text || n.id`)
/// instead of spelling the keys in SQL.
pub const SLOT_PREFIX: &str = "sys:slot:";
/// Prefix of a node's pending-stake account key; the node id follows.
pub const PENDING_PREFIX: &str = "sys:pending:";
/// Prefix of a node's staking-pool account key; the node id follows.
pub const POOL_PREFIX: &str = "sys:pool:";
/// Prefix of a node's unclaimed-commission account key; the node id follows.
pub const COMMISSION_PREFIX: &str = "sys:commission:";
/// Key of the account that holds the deposits of the proposals still voting.
pub const GOV_DEPOSITS_KEY: &str = "sys:gov:deposits";

impl Account {
    /// The account's key in the `balances` and `journal_lines` tables.
    pub fn key(&self) -> String {
        match self {
            Account::User(address) => address.to_string(),
            Account::System(SystemAccount::Issuance) => ISSUANCE_KEY.to_owned(),
            Account::System(SystemAccount::Burn) => "sys:burn".to_owned(),
            Account::System(SystemAccount::Slot(epoch)) => format!("{SLOT_PREFIX}{epoch}"),
            Account::System(SystemAccount::SubsidyPool) => "sys:subsidy".to_owned(),
            Account::System(SystemAccount::PendingStake(node)) => format!("{PENDING_PREFIX}{node}"),
            Account::System(SystemAccount::Pool(node)) => format!("{POOL_PREFIX}{node}"),
            Account::System(SystemAccount::Commission(node)) => {
                format!("{COMMISSION_PREFIX}{node}")
            }
            Account::System(SystemAccount::GovDeposits) => GOV_DEPOSITS_KEY.to_owned(),
        }
    }

    /// How many rows hold this account's balance (see the module docs).
    pub fn stripes(&self) -> i16 {
        match self {
            // Credited by many unrelated requests at once.
            Account::System(
                SystemAccount::Burn | SystemAccount::Slot(_) | SystemAccount::PendingStake(_),
            ) => HOT_ACCOUNT_STRIPES,
            // Written by one writer at a time (epoch changes, the operator's claims,
            // proposals, which are made one at a time).
            Account::User(_)
            | Account::System(
                SystemAccount::Issuance
                | SystemAccount::SubsidyPool
                | SystemAccount::Pool(_)
                | SystemAccount::Commission(_)
                | SystemAccount::GovDeposits,
            ) => 1,
        }
    }

    /// Only the issuance account may go below zero.
    pub fn may_go_negative(&self) -> bool {
        matches!(self, Account::System(SystemAccount::Issuance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise_and_validate() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let address = Address::from_key(&key);
        let upper = format!("0x{}", hex::encode_upper(key.to_bytes()));
        assert_eq!(upper.parse::<Address>().unwrap(), address);
        assert_eq!(
            Address::parse_spendable(&address.to_string()).unwrap(),
            address
        );
        for bad in [
            "",
            "0x",
            "abcd",
            &address.to_string()[2..],
            &format!("{address}00"),
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn system_accounts_have_distinct_keys() {
        let user = Account::User(Address::from_bytes([1; 32]));
        let keys = [
            user.key(),
            Account::System(SystemAccount::Issuance).key(),
            Account::System(SystemAccount::Burn).key(),
            Account::System(SystemAccount::Slot(1)).key(),
            Account::System(SystemAccount::Slot(11)).key(),
            Account::System(SystemAccount::SubsidyPool).key(),
            Account::System(SystemAccount::PendingStake(1)).key(),
            Account::System(SystemAccount::Pool(1)).key(),
            Account::System(SystemAccount::Commission(1)).key(),
            Account::System(SystemAccount::GovDeposits).key(),
        ];
        assert_eq!(
            keys.iter().collect::<std::collections::HashSet<_>>().len(),
            keys.len()
        );
        assert!(!user.may_go_negative());
        assert_eq!(user.stripes(), 1);
    }
}
