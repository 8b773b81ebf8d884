//! RFC 9421 HTTP Message Signatures with ed25519, as API.md specifies them.
//!
//! A signed request carries `Content-Digest` (RFC 9530), `Signature-Input` and
//! `Signature`. The covered components must include `@method`, `@path`, `@query` and
//! `content-digest`; `@authority`, `@target-uri`, `@scheme`, `@request-target` and plain
//! header fields may also be covered. The signature base is built as RFC 9421 §2.5 says.
//! `keyid` is the signer's address, which is its public key.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey};
use http::HeaderMap;
use sfv::{BareItem, InnerList, Item, ListEntry, Parameters, Parser, SerializeValue};
use sha2::{Digest, Sha256, Sha512};

use crate::wire::Address;

mod verify;
pub use verify::{verify, verify_content_digest};

/// Components every signature must cover.
pub const REQUIRED_COMPONENTS: [&str; 4] = ["@method", "@path", "@query", "content-digest"];
/// Longest nonce accepted (API.md).
pub const NONCE_LEN_MAX: usize = 128;

/// The parts of a request the signature can cover.
pub struct RequestParts<'a> {
    /// The HTTP method as sent, e.g. `POST`: the `@method` component.
    pub method: &'a str,
    /// The path as received, percent-encoding untouched.
    pub path: &'a str,
    /// The query string without its `?`, `None` if there is none (`@query` is then `?`).
    pub query: Option<&'a str>,
    /// The request's header fields: the signature fields, Content-Digest, Host and any
    /// covered field.
    pub headers: &'a HeaderMap,
}

/// What the server accepts.
pub struct Policy<'a> {
    /// This network's id: a signature's `tag` must equal it (else `WrongNetwork`).
    pub network_id: &'a str,
    /// How far `created` may be from the server clock, either way, in seconds.
    pub window_secs: u64,
    /// The server clock now, in Unix seconds.
    pub now_unix_secs: i64,
}

/// A signature that verified: who signed, with which nonce, when.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The signer's address: the `keyid`, whose key verified the signature.
    pub signer: Address,
    /// The signature's nonce, 1..=`NONCE_LEN_MAX` (128) characters; not yet checked for
    /// reuse (the caller does that in the request's transaction).
    pub nonce: String,
    /// The signature's `created`, in Unix seconds: within the policy's window.
    pub created_unix_secs: i64,
    /// SHA-256 of the body, from the verified Content-Digest.
    pub body_sha256: [u8; 32],
}

/// The signature parameters API.md defines.
pub(crate) struct Params {
    created: i64,
    expires: Option<i64>,
    keyid: String,
    nonce: String,
    tag: String,
}

/// Why a signature is refused; the server maps each to its problem code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Signature-Input`/`Signature` pair.
    #[error("{0}")]
    Missing(String),
    /// Malformed, not covering what it must, or not verifying.
    #[error("{0}")]
    Invalid(String),
    /// Outside the `created` window, or expired.
    #[error("{0}")]
    Stale(String),
    /// Signed for another network (`tag`).
    #[error("{0}")]
    WrongNetwork(String),
}

impl SignatureError {
    /// The API's error code for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing(_) => "MISSING_SIGNATURE",
            SignatureError::Invalid(_) => "INVALID_SIGNATURE",
            SignatureError::Stale(_) => "STALE_SIGNATURE",
            SignatureError::WrongNetwork(_) => "WRONG_NETWORK",
        }
    }
}

pub(crate) fn invalid(detail: impl Into<String>) -> SignatureError {
    SignatureError::Invalid(detail.into())
}

/// All field lines of a header, each trimmed, joined by ", " (RFC 9421 §2.1).
pub(crate) fn combined_field(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<String>, SignatureError> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let text = value
            .to_str()
            .map_err(|_| invalid(format!("header {name} is not visible ASCII")))?;
        values.push(text.trim().to_owned());
    }
    Ok((!values.is_empty()).then(|| values.join(", ")))
}
pub(crate) fn serialize_inner_list(inner: &InnerList) -> Result<String, SignatureError> {
    let list = vec![ListEntry::InnerList(inner.clone())];
    list.serialize_value()
        .map_err(|e| invalid(format!("signature parameters cannot be serialised: {e}")))
}

/// The value of one covered component (RFC 9421 §2.1-2.2).
fn component_value(request: &RequestParts, id: &str) -> Result<String, SignatureError> {
    let authority = || -> Result<String, SignatureError> {
        combined_field(request.headers, "host")?
            .map(|h| h.to_ascii_lowercase())
            .ok_or_else(|| invalid("@authority is covered but the request has no Host"))
    };
    let path = if request.path.is_empty() {
        "/"
    } else {
        request.path
    };
    let query = format!("?{}", request.query.unwrap_or(""));
    let request_target = match request.query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    Ok(match id {
        "@method" => request.method.to_owned(),
        "@path" => path.to_owned(),
        "@query" => query,
        "@authority" => authority()?,
        "@scheme" => "http".to_owned(),
        "@target-uri" => format!("http://{}{}", authority()?, request_target),
        "@request-target" => request_target,
        derived if derived.starts_with('@') => {
            return Err(invalid(format!("component {derived:?} is not supported")))
        }
        field => {
            if field.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(invalid(format!("field names must be lowercase: {field:?}")));
            }
            combined_field(request.headers, field)?.ok_or_else(|| {
                invalid(format!(
                    "covered header {field:?} is missing from the request"
                ))
            })?
        }
    })
}

/// The signature base (RFC 9421 §2.5).
pub fn signature_base(
    request: &RequestParts,
    component_ids: &[String],
    signature_params: &str,
) -> Result<String, SignatureError> {
    let mut base = String::new();
    for id in component_ids {
        if id == "@signature-params" {
            return Err(invalid("@signature-params cannot be a covered component"));
        }
        let value = component_value(request, id)?;
        base.push_str(&format!("\"{id}\": {value}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {signature_params}"));
    Ok(base)
}

/// The headers a client adds to sign a request.
#[derive(Clone, Debug)]
pub struct SignatureHeaders {
    /// The Content-Digest field: `sha-256=:` + the body's SHA-256 in base64 + `:`.
    pub content_digest: String,
    /// The Signature-Input field: `sig1=` + the covered components and parameters.
    pub signature_input: String,
    /// The Signature field: `sig1=:` + the ed25519 signature in base64 + `:`.
    pub signature: String,
}

/// The sha-256 Content-Digest field of a body.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", BASE64.encode(Sha256::digest(body)))
}

/// The signature parameters a client chooses: the network `tag`, `created`, `nonce`.
#[derive(Clone, Copy, Debug)]
pub struct SignatureParams<'a> {
    /// The network id (from `/v1/network`), sent as the `tag` parameter.
    pub network_id: &'a str,
    /// The signing time in Unix seconds: the `created` parameter.
    pub created_unix_secs: i64,
    /// A fresh nonce of 1..=`NONCE_LEN_MAX` (128) characters; a reused one is refused.
    pub nonce: &'a str,
}

/// Signs a request the way API.md prescribes (client side: walctl, services, tests).
/// Fails (`Invalid`) when the parameters cannot be written as structured fields, e.g. a
/// network id or nonce with characters an sf-string cannot hold.
pub fn sign_request(
    key: &SigningKey,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    params: &SignatureParams,
) -> Result<SignatureHeaders, SignatureError> {
    let SignatureParams {
        network_id,
        created_unix_secs,
        nonce,
    } = *params;
    let address = Address::from_key(&key.verifying_key());
    let components: Vec<Item> = REQUIRED_COMPONENTS
        .iter()
        .map(|id| Item::new(BareItem::String((*id).to_owned())))
        .collect();
    let mut params = Parameters::new();
    params.insert("created".into(), BareItem::Integer(created_unix_secs));
    params.insert("keyid".into(), BareItem::String(address.to_string()));
    params.insert("nonce".into(), BareItem::String(nonce.to_owned()));
    params.insert("tag".into(), BareItem::String(network_id.to_owned()));
    params.insert("alg".into(), BareItem::String("ed25519".into()));
    let inner = InnerList::with_params(components, params);
    let serialized = serialize_inner_list(&inner)
        .map_err(|e| invalid(format!("the signature parameters do not serialise: {e}")))?;

    let digest = content_digest(body);
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-digest",
        digest
            .parse()
            .map_err(|e| invalid(format!("the content digest is not a header value: {e}")))?,
    );
    let parts = RequestParts {
        method,
        path,
        query,
        headers: &headers,
    };
    let ids: Vec<String> = REQUIRED_COMPONENTS.iter().map(|s| s.to_string()).collect();
    let base = signature_base(&parts, &ids, &serialized)?;
    let signature = key.sign(base.as_bytes());
    Ok(SignatureHeaders {
        content_digest: digest,
        signature_input: format!("sig1={serialized}"),
        signature: format!("sig1=:{}:", BASE64.encode(signature.to_bytes())),
    })
}

#[cfg(test)]
mod tests;
