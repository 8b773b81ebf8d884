//! Certification: the nodes' signed confirmations must come from members of the current
//! committee and cover 2f+1 shards.

use sqlx::PgConnection;

use super::{find, CertifyRequest, Contract};
use crate::encoding::faulty_shards;
use crate::error::Error;
use crate::ledger::epochs::EpochLock;
use crate::wire::confirmation;
use crate::wire::ids::{ContractId, NodeId};

/// A committee member's share of a certification: its shards and its signature.
struct Confirmed {
    node_id: i64,
    shards: Vec<i32>,
    signature: String,
}

/// Certifies contract `id` with the nodes' confirmations for the locked epoch: the
/// parent keeps the control flow; the coverage rule is pure (`shards_needed`).
pub async fn certify(
    conn: &mut PgConnection,
    lock: &EpochLock,
    id: ContractId,
    request: &CertifyRequest,
    n_shards: u32,
) -> Result<Contract, Error> {
    let epoch = lock.epoch();
    let not_found = || Error::NotFound(format!("no storage contract with id {id}"));
    let contract_id = id.get();
    let row = sqlx::query!(
        "SELECT blob_id, end_epoch, deleted_epoch, certified_epoch FROM contracts WHERE id = $1 FOR UPDATE",
        contract_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(not_found)?;
    if row.deleted_epoch.is_some() || row.end_epoch <= epoch {
        return Err(Error::Conflict(format!(
            "storage contract {id} is deleted or expired; it cannot be certified"
        )));
    }
    if row.certified_epoch.is_some() {
        return find(conn, id, epoch).await?.ok_or_else(not_found);
    }
    if request.confirmations.is_empty() || request.confirmations.len() > n_shards as usize {
        return Err(Error::InvalidArgument(format!(
            "confirmations: give 1..={n_shards} node confirmations"
        )));
    }
    let confirmed = check_confirmations(conn, request, &row.blob_id, epoch).await?;
    let covered: u32 = confirmed
        .iter()
        .map(|c| u32::try_from(c.shards.len()))
        .sum::<Result<u32, _>>()
        .map_err(Error::internal)?;
    let needed = shards_needed(n_shards);
    if covered < needed {
        return Err(Error::InvalidArgument(format!(
            "the confirmations cover {covered} shards; certification needs 2f+1 = {needed}"
        )));
    }
    save(conn, contract_id, epoch, &confirmed, covered).await?;
    find(conn, id, epoch).await?.ok_or_else(not_found)
}

/// Shards the confirmations must cover together: 2f + 1.
fn shards_needed(n_shards: u32) -> u32 {
    2 * faulty_shards(n_shards) + 1
}

/// Each confirmation: a distinct committee member of `epoch` whose protocol key
/// signed the blob, the epoch and its shards.
async fn check_confirmations(
    conn: &mut PgConnection,
    request: &CertifyRequest,
    blob_id: &str,
    epoch: i64,
) -> Result<Vec<Confirmed>, Error> {
    let blob =
        confirmation::blob_id_bytes(blob_id).ok_or_else(|| Error::internal("bad blob id"))?;
    let mut seen = std::collections::HashSet::new();
    let mut confirmed = Vec::with_capacity(request.confirmations.len());
    for c in &request.confirmations {
        let node_id = c
            .node_id
            .parse::<NodeId>()
            .map_err(|e| Error::InvalidArgument(format!("node_id: {e}")))?
            .get();
        if !seen.insert(node_id) {
            return Err(Error::InvalidArgument(format!(
                "node {node_id} confirms twice"
            )));
        }
        let (shards, key) = committee_member(conn, epoch, node_id).await?;
        let shard_numbers: Vec<u32> = shards.iter().map(|&s| s as u32).collect();
        if !confirmation::verify(&key, &c.signature, &blob, epoch, node_id, &shard_numbers) {
            return Err(Error::InvalidArgument(format!(
                "the confirmation of node {node_id} does not verify: it must sign blob {blob_id}, epoch {epoch} and its shards with its protocol key"
            )));
        }
        confirmed.push(Confirmed {
            node_id,
            shards,
            signature: c.signature.clone(),
        });
    }
    Ok(confirmed)
}

/// A committee member's shards and protocol key in `epoch`; 400 for a non-member.
async fn committee_member(
    conn: &mut PgConnection,
    epoch: i64,
    node_id: i64,
) -> Result<(Vec<i32>, ed25519_dalek::VerifyingKey), Error> {
    let member = sqlx::query!(
        r#"SELECT c.shards, n.protocol_public_key FROM committee_members c
           JOIN nodes n ON n.id = c.node_id WHERE c.epoch = $1 AND c.node_id = $2"#,
        epoch,
        node_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| {
        Error::InvalidArgument(format!(
            "node {node_id} is not in the committee of epoch {epoch}"
        ))
    })?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(&member.protocol_public_key, &mut key).map_err(Error::internal)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(Error::internal)?;
    Ok((member.shards, key))
}

/// Stores the confirmations and marks the contract certified.
async fn save(
    conn: &mut PgConnection,
    contract_id: i64,
    epoch: i64,
    confirmed: &[Confirmed],
    covered: u32,
) -> Result<(), Error> {
    let ids: Vec<i64> = confirmed.iter().map(|c| c.node_id).collect();
    let shard_lists: Vec<String> = confirmed
        .iter()
        .map(|c| {
            let shards: Vec<String> = c.shards.iter().map(i32::to_string).collect();
            format!("{{{}}}", shards.join(","))
        })
        .collect();
    let signatures: Vec<String> = confirmed.iter().map(|c| c.signature.clone()).collect();
    sqlx::query!(
        r#"INSERT INTO contract_confirmations (contract_id, node_id, epoch, shards, signature)
           SELECT $1, u.node_id, $2, u.shards::integer[], u.signature
           FROM unnest($3::bigint[], $4::text[], $5::text[]) AS u(node_id, shards, signature)"#,
        contract_id,
        epoch,
        &ids,
        &shard_lists,
        &signatures
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE contracts SET certified_epoch = $2, certified_shards = $3 WHERE id = $1",
        contract_id,
        epoch,
        covered as i32
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certification_needs_two_thirds_plus_one_of_the_shards() {
        // n = 3f + 1 shards tolerate f faulty ones; 2f + 1 must confirm.
        assert_eq!(shards_needed(4), 3);
        assert_eq!(shards_needed(10), 7);
        assert_eq!(shards_needed(100), 67);
        assert_eq!(shards_needed(1000), 667);
    }
}
