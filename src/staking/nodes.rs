//! Storage nodes: registration by an operator, updates by that operator only, and
//! their public view. A commission change applies two epochs after it is requested
//! (ECONOMICS.md, "Staking"); changes are kept per effective epoch
//! (`commission_changes`) and the rate of an epoch is looked up, so no epoch change
//! has to touch every node.

use rust_decimal::Decimal;
use serde::Deserialize;
use sqlx::PgConnection;

use crate::error::Error;
use crate::ledger::epochs::{current_epoch, EpochLock};
use crate::money::rates::{parse_rate, parse_usd};
use crate::money::Wal;
use crate::wire::ids::{IdError, NodeId, ProtocolKey};
use crate::wire::Address;

/// The longest node name, in characters (names are 1..=64 printable characters).
pub const NAME_LEN_MAX: usize = 64;
/// The longest node endpoint URL, in bytes.
pub const ENDPOINT_LEN_MAX: usize = 256;
/// A commission change applies from this many epochs after the request's epoch.
pub const COMMISSION_DELAY_EPOCHS: i64 = 2;

/// The body of `POST /v1/nodes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterNode {
    /// A display name, 1..=64 printable characters.
    pub name: String,
    /// The node's public HTTP(S) base URL.
    pub endpoint: String,
    /// 64 hex digits of the node's ed25519 protocol key (`0x` accepted).
    pub protocol_public_key: String,
    /// "0.1" is 10%; 0..=1.
    pub commission_rate: String,
    /// USD per storage unit (1 MiB) per epoch.
    pub storage_price_vote: String,
    /// USD per storage unit, once.
    pub write_price_vote: String,
}

/// The body of `PATCH /v1/nodes/{id}`: any subset of the fields, at least one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNode {
    /// A new display name, 1..=64 printable characters.
    pub name: Option<String>,
    /// A new public HTTP(S) base URL (no query, at most 256 characters).
    pub endpoint: Option<String>,
    /// A new ed25519 protocol key, 64 hex digits (`0x` accepted); no other node's.
    pub protocol_public_key: Option<String>,
    /// Applies two epochs after the current one.
    pub commission_rate: Option<String>,
    /// A new vote in USD per storage unit (1 MiB) per epoch, positive.
    pub storage_price_vote: Option<String>,
    /// A new vote in USD per storage unit, paid once, positive.
    pub write_price_vote: Option<String>,
}

pub use crate::wire::nodes::{Node, PendingCommission};

fn invalid(field: &str, reason: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{field}: {reason}"))
}

fn name(text: &str) -> Result<String, Error> {
    let length = text.chars().count();
    if length == 0 || length > NAME_LEN_MAX || text.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            format!("1..={NAME_LEN_MAX} printable characters"),
        ));
    }
    Ok(text.to_owned())
}

fn endpoint(text: &str) -> Result<String, Error> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| invalid("endpoint", format!("{text:?} is not a URL: {e}")))?;
    let web = matches!(url.scheme(), "http" | "https") && url.host().is_some();
    if !web || text.len() > ENDPOINT_LEN_MAX || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "endpoint",
            format!(
                "an http(s) base URL with a host, no query, at most {ENDPOINT_LEN_MAX} characters"
            ),
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// A protocol key by [`ProtocolKey`]'s rule; stored lowercase.
fn protocol_key(text: &str) -> Result<String, Error> {
    let key: ProtocolKey = text
        .parse()
        .map_err(|e: IdError| invalid("protocol_public_key", e.expected))?;
    Ok(key.to_string())
}

fn rate(text: &str) -> Result<Decimal, Error> {
    parse_rate(text).map_err(|e| invalid("commission_rate", e))
}

fn usd(field: &str, text: &str) -> Result<Decimal, Error> {
    parse_usd(text).map_err(|e| invalid(field, e))
}

/// A registration with every field checked.
pub struct NewNode {
    name: String,
    endpoint: String,
    protocol_public_key: String,
    commission_rate: Decimal,
    storage_price_vote: Decimal,
    write_price_vote: Decimal,
}

impl RegisterNode {
    /// Checks every field (name, URL, key, a rate in 0..=1, positive USD votes up to 10^9),
    /// or says which one is wrong (400 INVALID_ARGUMENT).
    pub fn validate(&self) -> Result<NewNode, Error> {
        Ok(NewNode {
            name: name(&self.name)?,
            endpoint: endpoint(&self.endpoint)?,
            protocol_public_key: protocol_key(&self.protocol_public_key)?,
            commission_rate: rate(&self.commission_rate)?,
            storage_price_vote: usd("storage_price_vote", &self.storage_price_vote)?,
            write_price_vote: usd("write_price_vote", &self.write_price_vote)?,
        })
    }
}

/// An update with every given field checked.
pub struct NodeChanges {
    name: Option<String>,
    endpoint: Option<String>,
    protocol_public_key: Option<String>,
    commission_rate: Option<Decimal>,
    storage_price_vote: Option<Decimal>,
    write_price_vote: Option<Decimal>,
}

impl UpdateNode {
    /// Checks every field given, by the rules of registration; an update that gives no
    /// field is refused (400 INVALID_ARGUMENT).
    pub fn validate(&self) -> Result<NodeChanges, Error> {
        let changes = NodeChanges {
            name: self.name.as_deref().map(name).transpose()?,
            endpoint: self.endpoint.as_deref().map(endpoint).transpose()?,
            protocol_public_key: self
                .protocol_public_key
                .as_deref()
                .map(protocol_key)
                .transpose()?,
            commission_rate: self.commission_rate.as_deref().map(rate).transpose()?,
            storage_price_vote: self
                .storage_price_vote
                .as_deref()
                .map(|t| usd("storage_price_vote", t))
                .transpose()?,
            write_price_vote: self
                .write_price_vote
                .as_deref()
                .map(|t| usd("write_price_vote", t))
                .transpose()?,
        };
        let empty = changes.name.is_none()
            && changes.endpoint.is_none()
            && changes.protocol_public_key.is_none()
            && changes.commission_rate.is_none()
            && changes.storage_price_vote.is_none()
            && changes.write_price_vote.is_none();
        if empty {
            return Err(Error::InvalidArgument(
                "the update changes nothing: give at least one field".into(),
            ));
        }
        Ok(changes)
    }
}

struct NodeRow {
    id: i64,
    operator: String,
    name: String,
    endpoint: String,
    protocol_public_key: String,
    /// In force in the current epoch.
    commission_rate: Decimal,
    pending_rates: Vec<Decimal>,
    pending_epochs: Vec<i64>,
    storage_price_vote: Decimal,
    write_price_vote: Decimal,
    registered_epoch: i64,
    jailed_until_epoch: Option<i64>,
    pool_wal: Decimal,
    pending_wal: Decimal,
    commission_wal: Decimal,
    shards: Option<Vec<i32>>,
}

impl NodeRow {
    /// The node as stored; `rewards::expected` fills in what the epoch would pay it.
    fn view(self) -> Node {
        let pending_commission = self
            .pending_rates
            .iter()
            .zip(&self.pending_epochs)
            .map(|(rate, &effective_epoch)| PendingCommission {
                rate: rate.normalize(),
                effective_epoch,
            })
            .collect();
        Node {
            id: self.id.to_string(),
            operator: self.operator,
            name: self.name,
            endpoint: self.endpoint,
            protocol_public_key: self.protocol_public_key,
            commission_rate: self.commission_rate.normalize(),
            pending_commission,
            storage_price_vote: self.storage_price_vote.normalize(),
            write_price_vote: self.write_price_vote.normalize(),
            registered_epoch: self.registered_epoch,
            jailed_until_epoch: self.jailed_until_epoch,
            stake: Wal::from_decimal_unchecked(self.pool_wal),
            pending_stake: Wal::from_decimal_unchecked(self.pending_wal),
            shards: self.shards.unwrap_or_default(),
            unclaimed_commission: Wal::from_decimal_unchecked(self.commission_wal),
            expected_reward: Wal::ZERO,
            expected_commission: Wal::ZERO,
        }
    }
}

fn key_taken(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(
            "protocol_public_key is already registered by another node; each node needs its own key".into(),
        ),
        other => other.into(),
    }
}

/// Registers a node in the current epoch.
pub async fn register(
    conn: &mut PgConnection,
    lock: &EpochLock,
    operator: Address,
    node: &NewNode,
) -> Result<Node, Error> {
    let epoch = lock.epoch();
    let id = sqlx::query_scalar!(
        r#"INSERT INTO nodes (operator, name, endpoint, protocol_public_key, commission_rate,
                              storage_price_vote, write_price_vote, registered_epoch)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id"#,
        operator.to_string(),
        node.name,
        node.endpoint,
        node.protocol_public_key,
        node.commission_rate,
        node.storage_price_vote,
        node.write_price_vote,
        epoch
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(key_taken)?;
    find(conn, NodeId::from_row(id))
        .await?
        .ok_or_else(|| Error::internal("the new node vanished"))
}

/// A node as seen in the current epoch.
pub async fn find(conn: &mut PgConnection, id: NodeId) -> Result<Option<Node>, Error> {
    let id = id.get();
    Ok(page_from(conn, id - 1, 1)
        .await?
        .into_iter()
        .find(|n| n.id == id.to_string()))
}

/// The node registered with this protocol key.
pub async fn find_by_key(
    conn: &mut PgConnection,
    key: &ProtocolKey,
) -> Result<Option<Node>, Error> {
    let id = sqlx::query_scalar!(
        "SELECT id FROM nodes WHERE protocol_public_key = $1",
        key.to_string()
    )
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => find(conn, NodeId::from_row(id)).await,
        None => Ok(None),
    }
}

/// Nodes in registration order, after the node id `after`.
pub async fn page(conn: &mut PgConnection, after: i64, limit: i64) -> Result<Vec<Node>, Error> {
    page_from(conn, after, limit).await
}

async fn page_from(conn: &mut PgConnection, after: i64, limit: i64) -> Result<Vec<Node>, Error> {
    let epoch = current_epoch(conn).await?.epoch;
    let rows = sqlx::query_as!(
        NodeRow,
        r#"SELECT n.id, n.operator, n.name, n.endpoint, n.protocol_public_key,
                  commission_rate_at(n.id, $3) AS "commission_rate!",
                  coalesce((SELECT array_agg(cc.rate ORDER BY cc.effective_epoch) FROM commission_changes cc
                            WHERE cc.node_id = n.id AND cc.effective_epoch > $3), '{}') AS "pending_rates!",
                  coalesce((SELECT array_agg(cc.effective_epoch ORDER BY cc.effective_epoch) FROM commission_changes cc
                            WHERE cc.node_id = n.id AND cc.effective_epoch > $3), '{}') AS "pending_epochs!",
                  n.storage_price_vote,
                  n.write_price_vote, n.registered_epoch, n.jailed_until_epoch,
                  (SELECT coalesce(sum(balance), 0) FROM balances
                   WHERE account = $4::text || n.id) AS "pool_wal!",
                  (SELECT coalesce(sum(balance), 0) FROM balances
                   WHERE account = $5::text || n.id) AS "pending_wal!",
                  (SELECT coalesce(sum(balance), 0) FROM balances
                   WHERE account = $6::text || n.id) AS "commission_wal!",
                  c.shards AS "shards?"
           FROM nodes n LEFT JOIN committee_members c ON c.epoch = $3 AND c.node_id = n.id
           WHERE n.id > $1 ORDER BY n.id LIMIT $2"#,
        after,
        limit,
        epoch,
        crate::ledger::account::POOL_PREFIX,
        crate::ledger::account::PENDING_PREFIX,
        crate::ledger::account::COMMISSION_PREFIX
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(NodeRow::view).collect())
}

/// Applies the operator's changes; anyone else gets 403, an unknown node 404.
pub async fn update(
    conn: &mut PgConnection,
    lock: &EpochLock,
    signer: Address,
    id: NodeId,
    changes: &NodeChanges,
) -> Result<Node, Error> {
    let epoch = lock.epoch();
    let not_found = || Error::NotFound(format!("no node with id {id}"));
    let node_id = id.get();
    let operator = sqlx::query_scalar!(
        "SELECT operator FROM nodes WHERE id = $1 FOR UPDATE",
        node_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(not_found)?;
    if operator != signer.to_string() {
        return Err(Error::Forbidden(format!(
            "node {id} belongs to {operator}; only its operator may change it"
        )));
    }
    sqlx::query!(
        r#"UPDATE nodes SET
               name = coalesce($2, name),
               endpoint = coalesce($3, endpoint),
               protocol_public_key = coalesce($4, protocol_public_key),
               storage_price_vote = coalesce($5, storage_price_vote),
               write_price_vote = coalesce($6, write_price_vote)
           WHERE id = $1"#,
        node_id,
        changes.name,
        changes.endpoint,
        changes.protocol_public_key,
        changes.storage_price_vote,
        changes.write_price_vote
    )
    .execute(&mut *conn)
    .await
    .map_err(key_taken)?;
    if let Some(rate) = changes.commission_rate {
        // A second request in the same epoch replaces the first; one asked for in an
        // earlier epoch still applies from its own epoch.
        sqlx::query!(
            r#"INSERT INTO commission_changes (node_id, effective_epoch, rate) VALUES ($1, $2, $3)
               ON CONFLICT (node_id, effective_epoch)
               DO UPDATE SET rate = EXCLUDED.rate, requested_at = now()"#,
            node_id,
            epoch + COMMISSION_DELAY_EPOCHS,
            rate
        )
        .execute(&mut *conn)
        .await?;
    }
    find(conn, id).await?.ok_or_else(not_found)
}
