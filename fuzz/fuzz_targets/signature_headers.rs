//! Signature-Input / Signature / Content-Digest parsing and verification (`verify`).
//!
//! Input: `METHOD /target\nnonce\ncreated offset\nbody\n` (readable seeds), then bytes
//! the fuzzer's edits are read from. A request is signed with a fixed key, as a client
//! would, then changed by the
//! fuzzer's edits (bytes flipped, inserted or deleted in any of the three signature
//! headers, the method, the target or the body; a header replaced by arbitrary bytes or
//! given a second line). Asserted:
//! - the unchanged request verifies, and yields the signer, nonce, created and body hash;
//! - `verify` never panics and gives the same answer twice;
//! - a changed request that still verifies changed nothing the signature covers: same
//!   method, path, query and body, the same signature parameters once parsed and
//!   re-serialised (the signature base holds them serialised), the same 64 signature
//!   bytes (ed25519 strict verification admits one signature per message).

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use sfv::{BareItem, Item, ListEntry, Parser, SerializeValue};
use wal::signing::{sign_request, verify, SignatureParams};
use wal::wire::Address;
use wal_fuzz::{combined, policy, Received, NETWORK, NOW};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Part {
    ContentDigest,
    SignatureInput,
    Signature,
    Method,
    Target,
    Body,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Flip {
        part: Part,
        at: u16,
        xor: u8,
    },
    Insert {
        part: Part,
        at: u16,
        byte: u8,
    },
    Delete {
        part: Part,
        at: u16,
    },
    Replace {
        part: Part,
        bytes: Vec<u8>,
    },
    /// Another line of the header (the three signature headers only).
    SecondLine {
        part: Part,
        bytes: Vec<u8>,
    },
}

/// The request's parts as bytes, in `Part` order.
struct Request {
    parts: [Vec<u8>; 6],
    second_lines: Vec<(usize, Vec<u8>)>,
}

fn apply(request: &mut Request, edit: &Edit) {
    let bytes = |part: Part| part as usize;
    match edit {
        Edit::Flip { part, at, xor } => {
            let v = &mut request.parts[bytes(*part)];
            if !v.is_empty() {
                let i = usize::from(*at) % v.len();
                v[i] ^= xor;
            }
        }
        Edit::Insert { part, at, byte } => {
            let v = &mut request.parts[bytes(*part)];
            let i = usize::from(*at) % (v.len() + 1);
            v.insert(i, *byte);
        }
        Edit::Delete { part, at } => {
            let v = &mut request.parts[bytes(*part)];
            if !v.is_empty() {
                let i = usize::from(*at) % v.len();
                v.remove(i);
            }
        }
        Edit::Replace { part, bytes: new } => request.parts[bytes(*part)] = new.clone(),
        Edit::SecondLine { part, bytes: new } => {
            if bytes(*part) <= Part::Signature as usize {
                request.second_lines.push((bytes(*part), new.clone()));
            }
        }
    }
}

const HEADER_NAMES: [&str; 3] = ["content-digest", "signature-input", "signature"];

fn received(request: &Request) -> Option<Received> {
    let method = std::str::from_utf8(&request.parts[Part::Method as usize]).ok()?;
    let target = std::str::from_utf8(&request.parts[Part::Target as usize]).ok()?;
    let mut headers: Vec<(&str, &[u8])> = (0..3)
        .map(|i| (HEADER_NAMES[i], request.parts[i].as_slice()))
        .collect();
    for (i, line) in &request.second_lines {
        headers.push((HEADER_NAMES[*i], line.as_slice()));
    }
    Received::new(method, target, &headers)
}

/// The single Signature-Input member's inner list, serialised as the base holds it.
fn serialized_params(received: &Received) -> Option<String> {
    let field = combined(&received.headers, "signature-input")?;
    let dictionary = Parser::parse_dictionary(field.as_bytes()).ok()?;
    let (_, entry) = dictionary.into_iter().next()?;
    vec![entry].serialize_value().ok()
}

fn signature_bytes(received: &Received) -> Option<Vec<u8>> {
    let field = combined(&received.headers, "signature")?;
    let dictionary = Parser::parse_dictionary(field.as_bytes()).ok()?;
    match dictionary.into_iter().next()?.1 {
        ListEntry::Item(Item {
            bare_item: BareItem::ByteSeq(bytes),
            ..
        }) => Some(bytes),
        _ => None,
    }
}

/// Everything a verification says, comparable.
fn outcome(
    result: &Result<wal::signing::Verified, wal::signing::SignatureError>,
) -> Result<(String, String, i64, [u8; 32]), String> {
    result
        .as_ref()
        .map(|v| {
            (
                v.signer.to_string(),
                v.nonce.clone(),
                v.created_unix_secs,
                v.body_sha256,
            )
        })
        .map_err(|e| format!("{e:?}"))
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(5, |&b| b == b'\n');
    let request_line = std::str::from_utf8(fields.next().unwrap_or_default()).unwrap_or("");
    let nonce = std::str::from_utf8(fields.next().unwrap_or_default()).unwrap_or("");
    let created_offset: i16 = std::str::from_utf8(fields.next().unwrap_or_default())
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let body = fields.next().unwrap_or_default();
    let mut rest = Unstructured::new(fields.next().unwrap_or_default());
    let edits: Vec<Edit> = rest.arbitrary_iter().map_or_else(
        |_| Vec::new(),
        |iter| iter.take(8).filter_map(Result::ok).collect(),
    );
    let Some((method, target)) = request_line.split_once(' ') else {
        return;
    };
    let key = SigningKey::from_bytes(&[7; 32]);
    // The client signs what it will send: the target goes through `http` first, so
    // that the signed path and query are the ones the server will see.
    if !target.starts_with('/') || http::Method::from_bytes(method.as_bytes()).is_err() {
        return;
    }
    let Ok(uri) = target.parse::<http::Uri>() else {
        return;
    };
    let created = NOW + i64::from(created_offset);
    let params = SignatureParams {
        network_id: NETWORK,
        created_unix_secs: created,
        nonce,
    };
    let Ok(signed) = sign_request(&key, method, uri.path(), uri.query(), body, &params) else {
        // Only nonces an sf-string cannot hold are refused by the signer.
        assert!(
            nonce.bytes().any(|b| !(0x20..=0x7e).contains(&b)),
            "sign_request refused the printable nonce {nonce:?}"
        );
        return;
    };
    let original = Request {
        parts: [
            signed.content_digest.clone().into_bytes(),
            signed.signature_input.clone().into_bytes(),
            signed.signature.clone().into_bytes(),
            method.as_bytes().to_vec(),
            target.as_bytes().to_vec(),
            body.to_vec(),
        ],
        second_lines: Vec::new(),
    };
    let sent = received(&original).expect("a signed request is a valid HTTP request");
    let result = verify(&sent.parts(), body, &policy());
    let nonce_ok = !nonce.is_empty() && nonce.len() <= 128;
    let fresh = i64::from(created_offset).abs() <= 300;
    match &result {
        Ok(v) => {
            assert!(
                nonce_ok && fresh,
                "accepted a bad nonce or a stale signature"
            );
            assert_eq!(v.signer, Address::from_key(&key.verifying_key()));
            assert_eq!(v.nonce, nonce);
            assert_eq!(v.created_unix_secs, created);
            let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(body).into();
            assert_eq!(v.body_sha256, digest);
        }
        Err(e) => assert!(
            !(nonce_ok && fresh),
            "the unchanged request was refused: {e:?}"
        ),
    }
    let Ok(_) = result else { return };
    let want_params = serialized_params(&sent).expect("own Signature-Input parses");
    let want_signature = signature_bytes(&sent).expect("own Signature parses");
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&want_signature),
        signed.signature["sig1=:".len()..signed.signature.len() - 1]
    );

    let mut changed = Request {
        parts: original.parts.clone(),
        second_lines: Vec::new(),
    };
    for edit in &edits {
        apply(&mut changed, edit);
    }
    let Some(got) = received(&changed) else {
        return;
    };
    let changed_body = &changed.parts[Part::Body as usize];
    let first = verify(&got.parts(), changed_body, &policy());
    let second = verify(&got.parts(), changed_body, &policy());
    assert_eq!(
        outcome(&first),
        outcome(&second),
        "verify is not deterministic"
    );
    if first.is_ok() {
        assert_eq!(got.method, sent.method, "accepted another method");
        assert_eq!(got.uri.path(), sent.uri.path(), "accepted another path");
        assert_eq!(
            got.uri.query().unwrap_or(""),
            sent.uri.query().unwrap_or(""),
            "accepted another query"
        );
        assert_eq!(changed_body.as_slice(), body, "accepted another body");
        assert_eq!(
            serialized_params(&got).as_deref(),
            Some(want_params.as_str()),
            "accepted other signature parameters"
        );
        assert_eq!(
            signature_bytes(&got).as_deref(),
            Some(want_signature.as_slice()),
            "accepted other signature bytes"
        );
    }
});
