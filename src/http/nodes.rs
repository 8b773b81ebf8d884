//! `POST /v1/nodes`, `PATCH /v1/nodes/{id}` (signed by the operator),
//! `GET /v1/nodes`, `GET /v1/nodes/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use super::extract::{ApiPath, ApiQuery, PathParam};
use super::paging::Paging;
use super::{doc, AppState, NoArguments};
use crate::audits::record::{node_audits, NodeAudits};
use crate::auth::SignedJson;
use crate::error::Error;
use crate::ledger::epochs::lock_shared;
use crate::rewards::claim::Claim;
use crate::rewards::expected::{node_with_expected_rewards, with_expected_rewards};
use crate::staking::nodes::{self, Node, RegisterNode, UpdateNode};
use crate::wire::ids::{NodeId, ProtocolKey};

/// Registers a storage node operated by the signer.
#[utoipa::path(post, path = "/v1/nodes", request_body = RegisterNode,
    security(("rfc9421" = [])), params(doc::SignedHeaders),
    responses((status = 201, body = Node), doc::SignedErrors, doc::Conflict))]
pub async fn register(
    State(state): State<AppState>,
    request: SignedJson<RegisterNode>,
) -> Result<Response, Error> {
    let node = request.body.validate()?;
    request
        .write(&state.pool, StatusCode::CREATED, async |conn| {
            let lock = lock_shared(conn).await?;
            let node = nodes::register(conn, &lock, request.signer(), &node).await?;
            node_with_expected_rewards(conn, node).await
        })
        .await
}

/// Changes a node (its operator only). A commission change applies two epochs later.
#[utoipa::path(patch, path = "/v1/nodes/{id}", request_body = UpdateNode,
    security(("rfc9421" = [])),
    params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), doc::SignedHeaders),
    responses((status = 200, body = Node), doc::SignedErrors, doc::Forbidden, doc::NotFound))]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: SignedJson<UpdateNode>,
) -> Result<Response, Error> {
    let changes = request.body.validate()?;
    request
        .write(&state.pool, StatusCode::OK, async |conn| {
            // Parsed after the signature: a signed request is judged whole first.
            let id = NodeId::from_path(&id)?;
            let lock = lock_shared(conn).await?;
            let node = nodes::update(conn, &lock, request.signer(), id, &changes).await?;
            node_with_expected_rewards(conn, node).await
        })
        .await
}

/// Pays the node's unclaimed commission to its operator (the operator only).
#[utoipa::path(post, path = "/v1/nodes/{id}/rewards/claim", request_body = NoArguments,
    security(("rfc9421" = [])),
    params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$"), doc::SignedHeaders),
    responses((status = 200, body = Claim), doc::SignedErrors, doc::Forbidden, doc::NotFound,
              doc::Conflict))]
pub async fn claim(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    request: SignedJson<NoArguments>,
) -> Result<Response, Error> {
    request
        .write(&state.pool, StatusCode::OK, async |conn| {
            // Parsed after the signature: a signed request is judged whole first.
            let id = NodeId::from_path(&id)?;
            let lock = lock_shared(conn).await?;
            crate::rewards::claim::claim(conn, &lock, request.signer(), id).await
        })
        .await
}

/// A node with its audit record.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NodeDetail {
    /// The node as `GET /v1/nodes` lists it, flattened into this object.
    #[serde(flatten)]
    pub node: Node,
    /// Challenges per epoch (the last 20 audited epochs), every slash, and the signed
    /// evidence of the last 20 failures.
    pub audits: NodeAudits,
}

/// A node by id, with its audit record and every slash.
#[utoipa::path(get, path = "/v1/nodes/{id}", params(("id" = String, Path, pattern = "^[1-9][0-9]{0,17}$")),
    responses((status = 200, body = NodeDetail), doc::BadRequest, doc::NotFound, doc::Unavailable))]
pub async fn node(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<NodeId>,
) -> Result<Json<NodeDetail>, Error> {
    let mut conn = state.pool.acquire().await?;
    let node = nodes::find(&mut conn, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no node with id {id}")))?;
    let node = node_with_expected_rewards(&mut conn, node).await?;
    let audits = node_audits(&mut conn, id.get(), node.jailed_until_epoch).await?;
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
    #[param(value_type = Option<String>, pattern = "^[1-9][0-9]{0,17}$", nullable = false)]
    pub cursor: Option<NodeId>,
    /// Only the node with this protocol key (64 hex digits): how a storage node finds
    /// its own id.
    #[param(pattern = "^(0x)?[0-9a-fA-F]{64}$", nullable = false)]
    pub protocol_public_key: Option<String>,
}

/// Registered nodes in registration order, in cursor pages; with `protocol_public_key`,
/// only the node holding that key (how a storage node finds its own id).
#[utoipa::path(get, path = "/v1/nodes", operation_id = "list_nodes", params(NodesQuery),
    responses((status = 200, body = NodesPage), doc::BadRequest, doc::Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<NodesQuery>,
) -> Result<Json<NodesPage>, Error> {
    let paging = Paging::new(query.limit, query.cursor)?;
    let mut conn = state.pool.acquire().await?;
    if let Some(text) = &query.protocol_public_key {
        let nodes = match text.parse::<ProtocolKey>() {
            Ok(key) => nodes::find_by_key(&mut conn, &key)
                .await?
                .into_iter()
                .collect(),
            // 64 hex digits that are no ed25519 point are no node's key: none matches.
            Err(_) if ProtocolKey::has_key_syntax(text) => Vec::new(),
            Err(e) => return Err(Error::InvalidArgument(format!("protocol_public_key: {e}"))),
        };
        let nodes = with_expected_rewards(&mut conn, nodes).await?;
        return Ok(Json(NodesPage {
            nodes,
            next_cursor: None,
        }));
    }
    let after = paging.after.map_or(0, NodeId::get);
    let rows = nodes::page(&mut conn, after, paging.fetch_limit()).await?;
    let (nodes, next_cursor) = paging.page(rows, |n| n.id.clone());
    let nodes = with_expected_rewards(&mut conn, nodes).await?;
    Ok(Json(NodesPage { nodes, next_cursor }))
}
