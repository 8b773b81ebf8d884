//! `POST /v1/nodes`, `PATCH /v1/nodes/{id}` (signed by the operator),
//! `GET /v1/nodes`, `GET /v1/nodes/{id}`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use super::{doc, path_param, AppState};
use crate::audits::record::{node_audits, NodeAudits};
use crate::auth::{Signed, SignedTx};
use crate::error::Error;
use crate::ledger::entries::page_limit;
use crate::rewards::claim::Claim;
use crate::rewards::expected::{node_with_expected_rewards, with_expected_rewards};
use crate::staking::nodes::{self, Node, RegisterNode, UpdateNode};

/// Registers a storage node operated by the signer.
#[utoipa::path(post, path = "/v1/nodes", request_body = RegisterNode,
    security(("rfc9421" = [])), params(doc::SignedHeaders),
    responses((status = 201, body = Node), doc::SignedErrors, doc::Conflict))]
pub async fn register(State(state): State<AppState>, signed: Signed) -> Result<Response, Error> {
    let request: RegisterNode = signed.json()?;
    let node = request.validate()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let node = nodes::register(stx.conn(), signed.signer(), &node).await?;
        node_with_expected_rewards(stx.conn(), node).await
    }
    .await;
    stx.finish(done, StatusCode::CREATED).await
}

/// Changes a node (its operator only). A commission change applies two epochs later.
#[utoipa::path(patch, path = "/v1/nodes/{id}", request_body = UpdateNode,
    security(("rfc9421" = [])),
    params(("id" = String, Path, pattern = "^[1-9][0-9]*$"), doc::SignedHeaders),
    responses((status = 200, body = Node), doc::SignedErrors, doc::Forbidden, doc::NotFound))]
pub async fn update(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Response, Error> {
    let id = path_param(path)?;
    let request: UpdateNode = signed.json()?;
    let changes = request.validate()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        let node = nodes::update(stx.conn(), signed.signer(), &id, &changes).await?;
        node_with_expected_rewards(stx.conn(), node).await
    }
    .await;
    stx.finish(done, StatusCode::OK).await
}

/// Pays the node's unclaimed commission to its operator (the operator only).
#[utoipa::path(post, path = "/v1/nodes/{id}/rewards/claim", request_body = super::NoArguments,
    security(("rfc9421" = [])),
    params(("id" = String, Path, pattern = "^[1-9][0-9]*$"), doc::SignedHeaders),
    responses((status = 200, body = Claim), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn claim(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    signed: Signed,
) -> Result<Response, Error> {
    let id = path_param(path)?;
    let _: super::NoArguments = signed.json()?;
    let mut stx = SignedTx::begin(&state.pool, &signed).await?;
    let done = async {
        // Under the epoch lock: no epoch change credits the commission meanwhile.
        crate::ledger::epochs::lock_shared(stx.conn()).await?;
        crate::rewards::claim::claim(stx.conn(), signed.signer(), &id).await
    }
    .await;
    stx.finish(done, StatusCode::OK).await
}

/// A node with its audit record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeDetail {
    #[serde(flatten)]
    pub node: Node,
    /// Challenges per epoch (the last 20 audited epochs), every slash, and the signed
    /// evidence of the last 20 failures.
    pub audits: NodeAudits,
}

/// A node by id, with its audit record and every slash.
#[utoipa::path(get, path = "/v1/nodes/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]*$")),
    responses((status = 200, body = NodeDetail), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn node(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<NodeDetail>, Error> {
    let id = path_param(path)?;
    let mut conn = state.pool.acquire().await?;
    let node = nodes::find(&mut conn, &id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no node with id {id:?}")))?;
    let node = node_with_expected_rewards(&mut conn, node).await?;
    let node_id: i64 = node.id.parse().map_err(Error::internal)?;
    let audits = node_audits(&mut conn, node_id, node.jailed_until_epoch).await?;
    Ok(Json(NodeDetail { node, audits }))
}

pub use crate::wire::nodes::NodesPage;

/// Registered nodes in registration order, in cursor pages.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NodesQuery {
    /// Page size, 1..=500, default 50.
    #[param(minimum = 1, maximum = 500, nullable = false)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$", nullable = false)]
    pub cursor: Option<String>,
    /// Only the node with this protocol key (64 hex digits): how a storage node finds
    /// its own id.
    #[param(pattern = "^[0-9a-fA-F]{64}$", nullable = false)]
    pub protocol_public_key: Option<String>,
}

#[utoipa::path(get, path = "/v1/nodes", operation_id = "list_nodes", params(NodesQuery),
    responses((status = 200, body = NodesPage), doc::BadRequest, doc::Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<NodesQuery>, QueryRejection>,
) -> Result<Json<NodesPage>, Error> {
    let Query(query) = query.map_err(|e| Error::InvalidArgument(e.body_text()))?;
    let limit = page_limit(query.limit)?;
    let after = super::cursor_after(query.cursor.as_deref())?;
    let mut conn = state.pool.acquire().await?;
    if let Some(key) = query.protocol_public_key.as_deref() {
        let key = nodes::protocol_key(key)?;
        let nodes = nodes::find_by_key(&mut conn, &key)
            .await?
            .into_iter()
            .collect();
        let nodes = with_expected_rewards(&mut conn, nodes).await?;
        return Ok(Json(NodesPage {
            nodes,
            next_cursor: None,
        }));
    }
    let nodes = nodes::page(&mut conn, after, limit + 1).await?;
    let more = nodes.len() as i64 > limit;
    let take = usize::try_from(limit).map_err(Error::internal)?;
    let nodes: Vec<Node> = nodes.into_iter().take(take).collect();
    let nodes = with_expected_rewards(&mut conn, nodes).await?;
    let next_cursor = more.then(|| nodes.last().map(|n| n.id.clone())).flatten();
    Ok(Json(NodesPage { nodes, next_cursor }))
}
