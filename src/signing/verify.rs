//! Verifying a request's RFC 9421 signature (the server side), cheapest checks first.

use super::*;

/// Verifies the request's signature. The checks run cheapest-first; nothing here
/// touches the database (nonce uniqueness is checked in the request's transaction).
pub fn verify(
    request: &RequestParts,
    body: &[u8],
    policy: &Policy,
) -> Result<Verified, SignatureError> {
    let input_field = combined_field(request.headers, "signature-input")?;
    let signature_field = combined_field(request.headers, "signature")?;
    let (input_field, signature_field) = match (input_field, signature_field) {
        (None, None) => {
            return Err(SignatureError::Missing(
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
        return Err(SignatureError::WrongNetwork(format!(
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

fn single_input(field: &str) -> Result<(String, InnerList), SignatureError> {
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
    let Some((label, entry)) = dictionary.into_iter().next() else {
        return Err(invalid("Signature-Input has no signature"));
    };
    match entry {
        ListEntry::InnerList(inner) => Ok((label, inner)),
        ListEntry::Item(_) => Err(invalid(
            "Signature-Input must be an inner list of covered components",
        )),
    }
}

fn single_signature(field: &str, label: &str) -> Result<Signature, SignatureError> {
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

fn read_params(params: &Parameters) -> Result<Params, SignatureError> {
    let string = |name: &str| -> Result<Option<String>, SignatureError> {
        match params.get(name) {
            None => Ok(None),
            Some(BareItem::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(format!(
                "signature parameter {name} must be a string"
            ))),
        }
    };
    let integer = |name: &str| -> Result<Option<i64>, SignatureError> {
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
fn read_components(inner: &InnerList) -> Result<Vec<String>, SignatureError> {
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

/// Checks `Content-Digest` against the body: every supported member must match and at
/// least one of sha-256 / sha-512 must be present. Returns the body's SHA-256. Public so
/// that the fuzz targets (fuzz/) can check it on its own, without a signature around it.
pub fn verify_content_digest(headers: &HeaderMap, body: &[u8]) -> Result<[u8; 32], SignatureError> {
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

fn check_freshness(params: &Params, policy: &Policy) -> Result<(), SignatureError> {
    let skew = params.created.saturating_sub(policy.now_unix_secs);
    let window = policy.window_secs as i64;
    if skew.abs() > window {
        return Err(SignatureError::Stale(format!(
            "created={} is {}s from the server clock ({}); accepted: ±{}s; sign again now",
            params.created, skew, policy.now_unix_secs, window
        )));
    }
    if let Some(expires) = params.expires {
        if expires < policy.now_unix_secs {
            return Err(SignatureError::Stale(format!(
                "the signature expired at {expires}; sign again"
            )));
        }
    }
    Ok(())
}
