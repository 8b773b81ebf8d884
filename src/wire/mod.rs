//! Wire types: what the ledger, the services and the clients exchange over HTTP. No
//! database or server code lives here, so every service can link it; the ledger derives
//! OpenAPI schemas for them only when built with the `server` feature.

pub mod address;
pub mod audits;
pub mod blobs;
pub mod challenge;
pub mod confirmation;
pub mod problem;

pub use address::{Address, AddressError};
pub use audits::{AuditResult, Outcome};
pub use blobs::StoredBlob;
pub use problem::Problem;
