//! OpenAPI pieces shared by the handlers' `#[utoipa::path]` attributes: the problem
//! responses (RFC 9457, `application/problem+json`), the headers and the security
//! scheme of signed requests, and the patterns of ids.

use std::collections::BTreeMap;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// The name of the security scheme of signed requests.
pub const SIGNATURE_SCHEME: &str = "rfc9421";

fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// Response sets for `responses(...)`: each a `utoipa::IntoResponses` of problems.
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident => [$($status:literal: $description:literal),+ $(,)?];)+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([$(($status.to_string(), problem($description))),+])
            }
        }
    )+};
}

problem_responses! {
    /// A parameter (or the body) is malformed.
    BadRequest => ["400": "INVALID_ARGUMENT: a parameter or the body is malformed"];
    /// The resource named by the path does not exist.
    NotFound => ["404": "NOT_FOUND: no such resource"];
    /// The signer may not do this (a role it lacks, or another account's object).
    Forbidden => ["403": "FORBIDDEN: the signer may not do this"];
    /// The ledger's current state refuses the request: too little WAL, a price above the
    /// buyer's limit, or an object in the wrong state.
    Conflict => ["409": "CONFLICT, INSUFFICIENT_FUNDS or PRICE_ABOVE_LIMIT: the state does not allow it now"];
    /// The request body is larger than the ledger accepts.
    PayloadTooLarge => ["413": "PAYLOAD_TOO_LARGE"];
    /// The database is busy or unreachable (every operation that reads it).
    Unavailable => ["503": "UNAVAILABLE: retry shortly"];
    /// What every signed request can answer besides its own problems.
    SignedErrors => [
        "400": "INVALID_ARGUMENT: a parameter, the body or the Idempotency-Key is malformed",
        "401": "MISSING_SIGNATURE, INVALID_SIGNATURE, STALE_SIGNATURE, REPLAYED_NONCE or WRONG_NETWORK",
        "413": "PAYLOAD_TOO_LARGE: the body is over the ledger's limit",
        "422": "IDEMPOTENCY_KEY_REUSED: the key was used for a different request",
        "503": "UNAVAILABLE: retry shortly",
    ];
}

/// The headers of a signed request besides `Signature` (the security scheme).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct SignedHeaders {
    /// RFC 9421 `Signature-Input`: label `sig1`, covering `@method`, `@path`, `@query`
    /// and `content-digest`, with `created`, `nonce`, `keyid` (the signer's address),
    /// `alg="ed25519"` and `tag` (the network id of `GET /v1/network`).
    #[param(rename = "Signature-Input")]
    signature_input: String,
    /// RFC 9530 `Content-Digest` of the body (`sha-256`).
    #[param(rename = "Content-Digest")]
    content_digest: String,
    /// Makes retries safe: a request repeated with the same key is done once and its
    /// first answer replayed (with `Idempotent-Replayed: true`). 1..=255 visible ASCII.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]{1,255}$"
    )]
    idempotency_key: Option<String>,
}

/// The security scheme of signed requests (the `Signature` header of RFC 9421).
pub fn signature_scheme() -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
        "Signature",
        "RFC 9421 HTTP message signature (ed25519) by the account's key, with \
         Signature-Input and Content-Digest; see the README",
    )))
}

/// Adds the security scheme to the document.
pub struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(SIGNATURE_SCHEME, signature_scheme());
    }
}
