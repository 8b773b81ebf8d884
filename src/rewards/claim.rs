//! Commission claims (`POST /v1/nodes/{id}/rewards/claim`): the operator takes the
//! node's whole unclaimed commission into its own balance.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::error::Error;
use crate::ledger::account::{Account, Address, SystemAccount};
use crate::ledger::epochs::EpochLock;
use crate::ledger::journal::{self, balance_of_key, Leg, NewEntry};
use crate::money::Wal;
use crate::wire::ids::NodeId;

/// What `POST /v1/nodes/{id}/rewards/claim` paid: the node's whole unclaimed commission.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claim {
    /// The journal entry's id.
    pub id: String,
    /// The node whose commission was claimed.
    pub node_id: String,
    /// The operator's address, credited with the commission.
    pub to: String,
    /// WAL paid: all the commission the node had unclaimed (positive).
    pub amount: Wal,
}

/// Pays the node's unclaimed commission to its operator (the signer must be it), under
/// the epoch lock: no epoch change credits the commission meanwhile.
pub async fn claim(
    conn: &mut PgConnection,
    _lock: &EpochLock,
    signer: Address,
    id: NodeId,
) -> Result<Claim, Error> {
    let not_found = || Error::NotFound(format!("no node with id {id}"));
    let node_id = id.get();
    let operator = sqlx::query_scalar!("SELECT operator FROM nodes WHERE id = $1", node_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(not_found)?;
    if operator != signer.to_string() {
        return Err(Error::Forbidden(format!(
            "node {id} is operated by {operator}; only its operator may claim its commission"
        )));
    }
    let account = Account::System(SystemAccount::Commission(node_id));
    let amount = balance_of_key(conn, &account.key()).await?;
    if !amount.is_positive() {
        return Err(Error::Conflict(format!(
            "node {id} has no unclaimed commission; commission is paid at each epoch change"
        )));
    }
    let memo = format!("commission of node {id}");
    let entry = NewEntry {
        kind: crate::ledger::kind::EntryKind::CommissionClaim,
        actor: Some(signer),
        memo: Some(&memo),
        legs: vec![
            Leg::debit(account, amount),
            Leg::credit(Account::User(signer), amount),
        ],
    };
    // A claim racing this one may have taken the commission between our read and
    // the debit: the debit then fails, and that is "nothing left to claim".
    let posted = journal::post(conn, &entry).await.map_err(|e| match e {
        Error::InsufficientFunds(_) => Error::Conflict(format!(
            "node {id}'s commission was just claimed by another request; nothing is left"
        )),
        other => other,
    })?;
    Ok(Claim {
        id: posted.id.to_string(),
        node_id: id.to_string(),
        to: signer.to_string(),
        amount,
    })
}
