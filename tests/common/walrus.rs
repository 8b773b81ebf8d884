//! Walrus's own HTTP response types, written out here field for field from Walrus's
//! source (MystenLabs/walrus: `walrus-sdk/src/node_client/responses.rs` `BlobStoreResult`
//! and `QuiltStoreResult`, `walrus-sdk/src/node_client/resource.rs` `RegisterBlobOp`,
//! `walrus-sui/src/types/move_structs.rs` `Blob` and `StorageResource`,
//! `walrus-sdk/src/node_client/client_types.rs` `StoredQuiltPatch`,
//! `walrus-service/src/client/daemon/routes.rs` `QuiltPatchItem`, and
//! `walrus-storage-node-client/src/api/errors.rs` `Status`), with the serde renames those
//! types carry and the Rust types their fields have (`u32` epochs, `u64` sizes and cost).
//!
//! The gateway's answers are parsed into these, so a renamed, retyped or missing field
//! fails the test. They are stricter than Walrus in one way: unknown fields are refused,
//! so a field spelled two ways is caught too. The differences API.md allows are typed
//! loosely on purpose: ids are strings (our 64-hex blob id and contract id, not Walrus's
//! base64 and Sui object ids) and `encodingType` is our codec's name.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// Walrus's `BlobStoreResult` (externally tagged, variants and fields camelCase).
#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum BlobStoreResult {
    /// Certified long enough already; `event` or `object` is Walrus's flattened
    /// `EventOrObjectId`, exactly one of the two.
    AlreadyCertified {
        blob_id: String,
        event: Option<EventId>,
        object: Option<String>,
        end_epoch: u32,
    },
    NewlyCreated {
        blob_object: Blob,
        resource_operation: RegisterBlobOp,
        cost: u64,
        shared_blob_object: Option<String>,
    },
    MarkedInvalid {
        blob_id: String,
        event: EventId,
    },
    Error {
        blob_id: Option<String>,
        failure_phase: String,
        error_msg: String,
    },
}

/// Sui's `EventID` as Walrus serializes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventId {
    pub tx_digest: String,
    pub event_seq: String,
}

/// Walrus's `Blob` (the Sui blob object).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Blob {
    pub id: String,
    pub registered_epoch: u32,
    pub blob_id: String,
    pub size: u64,
    pub encoding_type: String,
    pub certified_epoch: Option<u32>,
    pub storage: StorageResource,
    pub deletable: bool,
}

/// Walrus's `StorageResource`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageResource {
    pub id: String,
    pub start_epoch: u32,
    pub end_epoch: u32,
    pub storage_size: u64,
}

/// Walrus's `RegisterBlobOp`.
#[derive(Debug, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum RegisterBlobOp {
    RegisterFromScratch {
        encoded_length: u64,
        epochs_ahead: u32,
    },
    ReuseStorage {
        encoded_length: u64,
    },
    ReuseRegistration {
        encoded_length: u64,
    },
    ReuseAndExtend {
        encoded_length: u64,
        epochs_extended: u32,
    },
    ReuseAndExtendNonCertified {
        encoded_length: u64,
        epochs_extended: u32,
    },
}

/// Walrus's `QuiltStoreResult`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuiltStoreResult {
    pub blob_store_result: BlobStoreResult,
    pub stored_quilt_blobs: Vec<StoredQuiltPatch>,
}

/// Walrus's `StoredQuiltPatch`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoredQuiltPatch {
    pub identifier: String,
    pub quilt_patch_id: String,
    pub range: Option<(u64, u64)>,
}

/// Walrus's `QuiltPatchItem` (no rename: `patch_id` is snake_case on the wire).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuiltPatchItem {
    pub identifier: String,
    pub patch_id: String,
    pub tags: BTreeMap<String, String>,
}

/// Walrus's error `Status`: `{"error": {code, status, message, details}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub error: StatusInner,
}

/// The inside of a `Status` (Walrus flattens its `StatusCode` into `code` and `status`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusInner {
    pub code: u16,
    pub status: String,
    pub message: String,
    pub details: Vec<ErrorDetails>,
}

/// Walrus's `ErrorDetails`, tagged by `@type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "@type", deny_unknown_fields)]
pub enum ErrorDetails {
    ErrorInfo {
        reason: String,
        domain: String,
        metadata: serde_json::Map<String, Value>,
    },
    #[serde(rename_all = "camelCase")]
    DebugInfo {
        stack_entries: Vec<String>,
        detail: String,
    },
}

/// Walrus's table of (HTTP code, status) pairs: its client refuses a `Status` whose pair
/// is not in it. Statuses Walrus has no row for are `None`.
pub fn walrus_status_name(code: u16) -> Option<&'static [&'static str]> {
    Some(match code {
        200 => &["OK"],
        400 => &["INVALID_ARGUMENT", "FAILED_PRECONDITION"],
        401 => &["UNAUTHENTICATED"],
        403 => &["PERMISSION_DENIED", "SIZE_EXCEEDED"],
        404 => &["NOT_FOUND"],
        416 => &["RANGE_NOT_SATISFIABLE"],
        429 => &["RESOURCE_EXHAUSTED"],
        451 => &["UNAVAILABLE_FOR_LEGAL_REASONS"],
        500 => &["INTERNAL"],
        503 => &["UNAVAILABLE"],
        504 => &["DEADLINE_EXCEEDED"],
        _ => return None,
    })
}

/// Parses a JSON answer as one of Walrus's types, naming the type and the answer when
/// it does not fit.
pub fn parse<T: DeserializeOwned>(answer: &Value) -> T {
    serde_json::from_value(answer.clone()).unwrap_or_else(|e| {
        panic!(
            "not Walrus's {}: {e}\n{answer:#}",
            std::any::type_name::<T>()
        )
    })
}

/// Parses an error envelope as Walrus's `Status` and checks what its client checks: the
/// pair of code and status is Walrus's where Walrus has one, and an `ErrorInfo` is among
/// the details. Returns the inside.
pub fn parse_status(answer: &Value, http_status: u16) -> StatusInner {
    let status: Status = parse(answer);
    let inner = status.error;
    assert_eq!(inner.code, http_status, "{answer}");
    if let Some(names) = walrus_status_name(http_status) {
        assert!(
            names.contains(&inner.status.as_str()),
            "Walrus pairs {http_status} with {names:?}, not {:?}",
            inner.status
        );
    }
    assert!(
        inner
            .details
            .iter()
            .any(|d| matches!(d, ErrorDetails::ErrorInfo { .. })),
        "no ErrorInfo in {answer}"
    );
    inner
}
