//! RFC 9421 round trips, tampering and the signature base.

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
) -> Result<Verified, SignatureError> {
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
    sign_request(key, "POST", "/v1/transfers", None, b"{}", &params).unwrap()
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
    let code = |r: Result<Verified, SignatureError>| r.unwrap_err().code();
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
