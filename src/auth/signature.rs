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

use crate::error::Error;
use crate::ledger::account::Address;

/// Components every signature must cover.
pub const REQUIRED_COMPONENTS: [&str; 4] = ["@method", "@path", "@query", "content-digest"];
/// Longest nonce accepted (API.md).
pub const NONCE_LEN_MAX: usize = 128;

/// The parts of a request the signature can cover.
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as received, percent-encoding untouched.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// What the server accepts.
pub struct Policy<'a> {
    pub network_id: &'a str,
    pub window_secs: u64,
    pub now_unix_secs: i64,
}

/// A signature that verified: who signed, with which nonce, when.
#[derive(Clone, Debug)]
pub struct Verified {
    pub signer: Address,
    pub nonce: String,
    pub created_unix_secs: i64,
    /// SHA-256 of the body, from the verified Content-Digest.
    pub body_sha256: [u8; 32],
}

/// The signature parameters API.md defines.
struct Params {
    created: i64,
    expires: Option<i64>,
    keyid: String,
    nonce: String,
    tag: String,
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::InvalidSignature(detail.into())
}

/// All field lines of a header, each trimmed, joined by ", " (RFC 9421 §2.1).
fn combined_field(headers: &HeaderMap, name: &str) -> Result<Option<String>, Error> {
    let mut values = Vec::new();
    for value in headers.get_all(name) {
        let text = value
            .to_str()
            .map_err(|_| invalid(format!("header {name} is not visible ASCII")))?;
        values.push(text.trim().to_owned());
    }
    Ok((!values.is_empty()).then(|| values.join(", ")))
}

/// Verifies the request's signature. The checks run cheapest-first; nothing here
/// touches the database (nonce uniqueness is checked in the request's transaction).
pub fn verify(request: &RequestParts, body: &[u8], policy: &Policy) -> Result<Verified, Error> {
    let input_field = combined_field(request.headers, "signature-input")?;
    let signature_field = combined_field(request.headers, "signature")?;
    let (input_field, signature_field) = match (input_field, signature_field) {
        (None, None) => {
            return Err(Error::MissingSignature(
                "this request must be signed: add Content-Digest, Signature-Input and \
                 Signature headers (RFC 9421, ed25519, keyid = your address)"
                    .into(),
            ))
        }
        (Some(i), Some(s)) => (i, s),
        (None, Some(_)) => {
            return Err(invalid(
                "Signature is present but Signature-Input is missing",
            ))
        }
        (Some(_), None) => {
            return Err(invalid(
                "Signature-Input is present but Signature is missing",
            ))
        }
    };
    let (label, inner) = single_input(&input_field)?;
    let signature = single_signature(&signature_field, &label)?;
    let params = read_params(&inner.params)?;
    let component_ids = read_components(&inner)?;

    let signer: Address = params
        .keyid
        .parse()
        .map_err(|e| invalid(format!("keyid: {e}")))?;
    let key = signer
        .verifying_key()
        .map_err(|_| invalid(format!("keyid {signer} is not a valid ed25519 public key")))?;

    let body_sha256 = verify_content_digest(request.headers, body)?;
    let base = signature_base(request, &component_ids, &serialize_inner_list(&inner)?)?;
    key.verify_strict(base.as_bytes(), &signature)
        .map_err(|_| {
            invalid(format!(
                "the signature does not verify with the key of {signer}: the request was changed \
             after signing or signed by another key"
            ))
        })?;

    if params.tag != policy.network_id {
        return Err(Error::WrongNetwork(format!(
            "the signature was made for network {:?} but this is {:?}",
            params.tag, policy.network_id
        )));
    }
    check_freshness(&params, policy)?;
    Ok(Verified {
        signer,
        nonce: params.nonce,
        created_unix_secs: params.created,
        body_sha256,
    })
}

fn single_input(field: &str) -> Result<(String, InnerList), Error> {
    let dictionary = Parser::parse_dictionary(field.as_bytes()).map_err(|e| {
        invalid(format!(
            "Signature-Input is not a structured dictionary: {e}"
        ))
    })?;
    if dictionary.len() != 1 {
        return Err(invalid(format!(
            "exactly one signature per request is accepted, Signature-Input has {}",
            dictionary.len()
        )));
    }
    let (label, entry) = dictionary.into_iter().next().expect("one member");
    match entry {
        ListEntry::InnerList(inner) => Ok((label, inner)),
        ListEntry::Item(_) => Err(invalid(
            "Signature-Input must be an inner list of covered components",
        )),
    }
}

fn single_signature(field: &str, label: &str) -> Result<Signature, Error> {
    let dictionary = Parser::parse_dictionary(field.as_bytes())
        .map_err(|e| invalid(format!("Signature is not a structured dictionary: {e}")))?;
    if dictionary.len() != 1 {
        return Err(invalid(format!(
            "exactly one signature per request is accepted, Signature has {}",
            dictionary.len()
        )));
    }
    let bytes = match dictionary.get(label) {
        Some(ListEntry::Item(Item {
            bare_item: BareItem::ByteSeq(bytes),
            ..
        })) => bytes,
        Some(_) => return Err(invalid("Signature must be a byte sequence (:base64:)")),
        None => {
            return Err(invalid(format!(
                "Signature has no member labelled {label:?} like Signature-Input"
            )))
        }
    };
    let bytes: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| invalid("an ed25519 signature is 64 bytes"))?;
    Ok(Signature::from_bytes(&bytes))
}

fn read_params(params: &Parameters) -> Result<Params, Error> {
    let string = |name: &str| -> Result<Option<String>, Error> {
        match params.get(name) {
            None => Ok(None),
            Some(BareItem::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!(
                "signature parameter {name} must be a string"
            ))),
        }
    };
    let integer = |name: &str| -> Result<Option<i64>, Error> {
        match params.get(name) {
            None => Ok(None),
            Some(BareItem::Integer(i)) => Ok(Some(*i)),
            Some(_) => Err(invalid(format!(
                "signature parameter {name} must be an integer"
            ))),
        }
    };
    if let Some(alg) = string("alg")? {
        if alg != "ed25519" {
            return Err(invalid(format!(
                "alg {alg:?} is not supported, use \"ed25519\""
            )));
        }
    }
    let required = |value: Option<String>, name: &str| {
        value.ok_or_else(|| invalid(format!("signature parameter {name} is required")))
    };
    let nonce = required(string("nonce")?, "nonce")?;
    if nonce.is_empty() || nonce.len() > NONCE_LEN_MAX {
        return Err(invalid(format!(
            "nonce must be 1..={NONCE_LEN_MAX} characters"
        )));
    }
    Ok(Params {
        created: integer("created")?
            .ok_or_else(|| invalid("signature parameter created is required"))?,
        expires: integer("expires")?,
        keyid: required(string("keyid")?, "keyid")?,
        nonce,
        tag: required(string("tag")?, "tag")?,
    })
}

/// The covered component identifiers, each a plain string without parameters.
fn read_components(inner: &InnerList) -> Result<Vec<String>, Error> {
    let mut ids: Vec<String> = Vec::with_capacity(inner.items.len());
    for item in &inner.items {
        let id = match &item.bare_item {
            BareItem::String(s) => s.clone(),
            _ => {
                return Err(invalid(
                    "covered components must be strings like \"@method\"",
                ))
            }
        };
        if !item.params.is_empty() {
            return Err(invalid(format!(
                "component parameters (on {id:?}) are not supported"
            )));
        }
        if ids.contains(&id) {
            return Err(invalid(format!("component {id:?} is covered twice")));
        }
        ids.push(id);
    }
    for required in REQUIRED_COMPONENTS {
        if !ids.iter().any(|id| id == required) {
            return Err(invalid(format!(
                "the signature must cover {}; it does not cover {required:?}",
                REQUIRED_COMPONENTS.join(", ")
            )));
        }
    }
    Ok(ids)
}

fn serialize_inner_list(inner: &InnerList) -> Result<String, Error> {
    let list = vec![ListEntry::InnerList(inner.clone())];
    list.serialize_value()
        .map_err(|e| invalid(format!("signature parameters cannot be serialised: {e}")))
}

/// Checks `Content-Digest` against the body: every supported member must match and at
/// least one of sha-256 / sha-512 must be present. Returns the body's SHA-256.
fn verify_content_digest(headers: &HeaderMap, body: &[u8]) -> Result<[u8; 32], Error> {
    let field = combined_field(headers, "content-digest")?
        .ok_or_else(|| invalid("Content-Digest is required (sha-256 of the body, RFC 9530)"))?;
    let dictionary = Parser::parse_dictionary(field.as_bytes()).map_err(|e| {
        invalid(format!(
            "Content-Digest is not a structured dictionary: {e}"
        ))
    })?;
    let sha256: [u8; 32] = Sha256::digest(body).into();
    let mut checked = 0;
    for (algorithm, entry) in &dictionary {
        let expected: Vec<u8> = match algorithm.as_str() {
            "sha-256" => sha256.to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        let given = match entry {
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSeq(bytes),
                ..
            }) => bytes,
            _ => {
                return Err(invalid(format!(
                    "Content-Digest {algorithm} must be :base64:"
                )))
            }
        };
        if *given != expected {
            return Err(invalid(format!(
                "Content-Digest {algorithm} does not match the body that was received"
            )));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(invalid("Content-Digest must carry sha-256 (or sha-512)"));
    }
    Ok(sha256)
}

fn check_freshness(params: &Params, policy: &Policy) -> Result<(), Error> {
    let skew = params.created.saturating_sub(policy.now_unix_secs);
    let window = policy.window_secs as i64;
    if skew.abs() > window {
        return Err(Error::StaleSignature(format!(
            "created={} is {}s from the server clock ({}); accepted: ±{}s; sign again now",
            params.created, skew, policy.now_unix_secs, window
        )));
    }
    if let Some(expires) = params.expires {
        if expires < policy.now_unix_secs {
            return Err(Error::StaleSignature(format!(
                "the signature expired at {expires}; sign again"
            )));
        }
    }
    Ok(())
}

/// The value of one covered component (RFC 9421 §2.1-2.2).
fn component_value(request: &RequestParts, id: &str) -> Result<String, Error> {
    let authority = || -> Result<String, Error> {
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
) -> Result<String, Error> {
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
    pub content_digest: String,
    pub signature_input: String,
    pub signature: String,
}

/// The sha-256 Content-Digest field of a body.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", BASE64.encode(Sha256::digest(body)))
}

/// The signature parameters a client chooses: the network `tag`, `created`, `nonce`.
#[derive(Clone, Copy, Debug)]
pub struct SignatureParams<'a> {
    pub network_id: &'a str,
    pub created_unix_secs: i64,
    pub nonce: &'a str,
}

/// Signs a request the way API.md prescribes (client side: walctl, services, tests).
pub fn sign_request(
    key: &SigningKey,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
    params: &SignatureParams,
) -> SignatureHeaders {
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
    let serialized = serialize_inner_list(&inner).expect("client parameters serialise");

    let digest = content_digest(body);
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-digest",
        digest.parse().expect("digest is a valid header value"),
    );
    let parts = RequestParts {
        method,
        path,
        query,
        headers: &headers,
    };
    let ids: Vec<String> = REQUIRED_COMPONENTS.iter().map(|s| s.to_string()).collect();
    let base = signature_base(&parts, &ids, &serialized).expect("required components resolve");
    let signature = key.sign(base.as_bytes());
    SignatureHeaders {
        content_digest: digest,
        signature_input: format!("sig1={serialized}"),
        signature: format!("sig1=:{}:", BASE64.encode(signature.to_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_732_370_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn headers_of(signed: &SignatureHeaders) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("content-digest", signed.content_digest.parse().unwrap());
        headers.insert("signature-input", signed.signature_input.parse().unwrap());
        headers.insert("signature", signed.signature.parse().unwrap());
        headers
    }

    fn check(
        headers: &HeaderMap,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Verified, Error> {
        let parts = RequestParts {
            method: "POST",
            path,
            query,
            headers,
        };
        let policy = Policy {
            network_id: "wal-devnet",
            window_secs: 300,
            now_unix_secs: NOW,
        };
        verify(&parts, body, &policy)
    }

    fn sign_transfer(
        key: &SigningKey,
        network_id: &str,
        created_unix_secs: i64,
        nonce: &str,
    ) -> SignatureHeaders {
        let params = SignatureParams {
            network_id,
            created_unix_secs,
            nonce,
        };
        sign_request(key, "POST", "/v1/transfers", None, b"{}", &params)
    }

    #[test]
    fn own_signatures_verify() {
        let signed = sign_transfer(&key(1), "wal-devnet", NOW, "n1");
        let verified = check(&headers_of(&signed), "/v1/transfers", None, b"{}").unwrap();
        assert_eq!(verified.signer, Address::from_key(&key(1).verifying_key()));
        assert_eq!(verified.nonce, "n1");
    }

    #[test]
    fn tampering_is_detected_with_its_code() {
        let signed = sign_transfer(&key(1), "wal-devnet", NOW, "n1");
        let headers = headers_of(&signed);
        let code = |r: Result<Verified, Error>| r.unwrap_err().code();
        assert_eq!(
            code(check(&headers, "/v1/transfers", None, b"{ }")),
            "INVALID_SIGNATURE"
        );
        assert_eq!(
            code(check(&headers, "/v1/transferz", None, b"{}")),
            "INVALID_SIGNATURE"
        );
        assert_eq!(
            code(check(&headers, "/v1/transfers", Some("a=1"), b"{}")),
            "INVALID_SIGNATURE"
        );
        assert_eq!(
            code(check(&HeaderMap::new(), "/v1/transfers", None, b"{}")),
            "MISSING_SIGNATURE"
        );

        let stale = sign_transfer(&key(1), "wal-devnet", NOW - 301, "n");
        assert_eq!(
            code(check(&headers_of(&stale), "/v1/transfers", None, b"{}")),
            "STALE_SIGNATURE"
        );
        let other_net = sign_transfer(&key(1), "wal-mainnet", NOW, "n");
        assert_eq!(
            code(check(&headers_of(&other_net), "/v1/transfers", None, b"{}")),
            "WRONG_NETWORK"
        );
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let signed = sign_transfer(&key(1), "wal-devnet", NOW, "n1");
        let by_other = sign_transfer(&key(2), "wal-devnet", NOW, "n1");
        let mut headers = headers_of(&signed);
        headers.insert("signature", by_other.signature.parse().unwrap());
        assert_eq!(
            check(&headers, "/v1/transfers", None, b"{}")
                .unwrap_err()
                .code(),
            "INVALID_SIGNATURE"
        );
    }

    #[test]
    fn the_signature_base_follows_rfc_9421() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-digest",
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
                .parse()
                .unwrap(),
        );
        let parts = RequestParts {
            method: "POST",
            path: "/foo",
            query: None,
            headers: &headers,
        };
        let ids: Vec<String> = REQUIRED_COMPONENTS.iter().map(|s| s.to_string()).collect();
        let base = signature_base(&parts, &ids, "(\"@method\");created=1").unwrap();
        assert_eq!(
            base,
            "\"@method\": POST\n\"@path\": /foo\n\"@query\": ?\n\"content-digest\": \
             sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:\n\"@signature-params\": (\"@method\");created=1"
        );
    }
}
