//! Text PostgreSQL cannot store. Its `text` type refuses the NUL character (U+0000), so
//! a request carrying one anywhere (a JSON string, a path segment, a query value) is
//! refused with 400 before it reaches the database, rather than failing there as a 500.
//! Every other Unicode scalar value is storable in a UTF-8 database, and JSON's lone
//! surrogates never reach a Rust `String` (serde_json refuses them). Pure.

/// Whether a JSON document holds a NUL in some string: JSON can write NUL only as the
/// escape `\u0000`, which counts when an odd run of backslashes leads to it (`\\u0000`
/// is a backslash followed by the text `u0000`).
pub fn json_has_nul(json: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &byte) in json.iter().enumerate() {
        if byte == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1 && byte == b'u' && json[i + 1..].starts_with(b"0000") {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// Whether a URL's path or query holds a NUL, raw or percent-encoded (`%00`).
pub fn url_has_nul(text: &str) -> bool {
    text.contains('\0') || text.contains("%00")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_and_their_lookalikes() {
        assert!(json_has_nul(br#"{"memo": "a\u0000b"}"#));
        assert!(json_has_nul(br#"["\\\u0000"]"#));
        assert!(!json_has_nul(br#"{"memo": "a\\u0000b"}"#));
        assert!(!json_has_nul(
            br#"{"memo": "\u0001 \u00000"}"#[..14].as_ref()
        ));
        assert!(!json_has_nul(br#"{"memo": "u0000"}"#));
        assert!(url_has_nul("/v1/accounts/sys:%00"));
        assert!(!url_has_nul("/v1/accounts/sys:%20"));
    }

    proptest! {
        /// The scan finds a NUL exactly when the encoded strings hold one, whatever
        /// backslashes, quotes and escapes surround it.
        #[test]
        fn finds_nul_exactly(parts in proptest::collection::vec("[a-z\\\\\"u0\u{0}\u{1}]{0,8}", 0..6)) {
            let json = serde_json::to_vec(&parts).unwrap();
            prop_assert_eq!(json_has_nul(&json), parts.iter().any(|p| p.contains('\0')));
        }
    }
}
