//! Typed reads of the public ledger API, each decoded into its shared wire type.

use super::{ClientError, LedgerClient};
use crate::wire::{
    BlobStatus, Committee, EpochAudits, EpochView, Network, Node, NodesPage, Params, StoredBlob,
    StoredBlobsPage,
};

/// Page size of the listings the client walks through.
const PAGE: u32 = 500;

impl LedgerClient {
    /// `GET /v1/network`: the network's identity and current epoch.
    pub async fn network(&self) -> Result<Network, ClientError> {
        self.get("/v1/network").await
    }

    /// `GET /v1/committee`: the current committee and the shards of each member.
    pub async fn committee(&self) -> Result<Committee, ClientError> {
        self.get("/v1/committee").await
    }

    /// `GET /v1/epochs/{n}`, or `/v1/epochs/current` for `None`.
    pub async fn epoch(&self, number: Option<i64>) -> Result<EpochView, ClientError> {
        match number {
            Some(n) => self.get(&format!("/v1/epochs/{n}")).await,
            None => self.get("/v1/epochs/current").await,
        }
    }

    /// `GET /v1/params`: the governable parameters in force.
    pub async fn params(&self) -> Result<Params, ClientError> {
        self.get("/v1/params").await
    }

    /// `GET /v1/audits?epoch=`: challenges recorded per node, and the losses found.
    pub async fn epoch_audits(&self, epoch: i64) -> Result<EpochAudits, ClientError> {
        self.get(&format!("/v1/audits?epoch={epoch}")).await
    }

    /// `GET /v1/blobs/{id}/status`: a blob's contracts, certification and metadata.
    pub async fn blob_status(&self, blob_id: &str) -> Result<BlobStatus, ClientError> {
        self.get(&format!("/v1/blobs/{blob_id}/status")).await
    }

    /// The node registered with this protocol key (64 hex digits), if any.
    pub async fn node_by_protocol_key(&self, key_hex: &str) -> Result<Option<Node>, ClientError> {
        let page: NodesPage = self
            .get(&format!("/v1/nodes?protocol_public_key={key_hex}"))
            .await?;
        Ok(page.nodes.into_iter().next())
    }

    /// Every blob with certified storage in the current epoch (all pages of
    /// `GET /v1/blobs`).
    pub async fn stored_blobs(&self) -> Result<Vec<StoredBlob>, ClientError> {
        let mut blobs = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/blobs?limit={PAGE}&cursor={c}"),
                None => format!("/v1/blobs?limit={PAGE}"),
            };
            let page: StoredBlobsPage = self.get(&path).await?;
            blobs.extend(page.blobs);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(blobs),
            }
        }
    }
}
