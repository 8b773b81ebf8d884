//! Content-Digest (RFC 9530): `content_digest` (the client's) and
//! `verify_content_digest` (the server's), on a body and arbitrary field lines.
//! Input: the field's lines, one per line, then an empty line, then the body (seeds are
//! readable). Asserted:
//! - the client's field for a body verifies against that body and yields its SHA-256,
//!   and never against a different body;
//! - an arbitrary field that verifies holds a sha-256 or sha-512 member, every such
//!   member is that body's digest, and the result is the body's SHA-256;
//! - the same field refuses the body with one more byte (a digest that matches two
//!   bodies would be a SHA-2 collision).

#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use sfv::{BareItem, Item, ListEntry, Parser};
use sha2::{Digest, Sha256, Sha512};
use wal::signing::{content_digest, verify_content_digest};

struct Input<'a> {
    body: &'a [u8],
    lines: Vec<&'a [u8]>,
    other_body: &'a [u8],
}

fuzz_target!(|data: &[u8]| {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &data[data.len()..]),
    };
    let input = Input {
        body,
        lines: head.split(|&b| b == b'\n').collect(),
        // Another body: this one without its last byte.
        other_body: &body[..body.len().saturating_sub(1)],
    };
    let sha256: [u8; 32] = Sha256::digest(input.body).into();
    let own = content_digest(input.body);
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-digest",
        own.parse().expect("own field is a header value"),
    );
    assert_eq!(verify_content_digest(&headers, input.body), Ok(sha256));
    if input.other_body != input.body {
        assert!(verify_content_digest(&headers, input.other_body).is_err());
    }

    let mut headers = HeaderMap::new();
    for line in input.lines.iter().take(4) {
        let Ok(value) = HeaderValue::from_bytes(line) else {
            return;
        };
        headers.append("content-digest", value);
    }
    let result = verify_content_digest(&headers, input.body);
    assert_eq!(result, verify_content_digest(&headers, input.body));
    let Ok(digest) = result else { return };
    assert_eq!(digest, sha256);
    let field = wal_fuzz::combined(&headers, "content-digest").expect("a verified field is text");
    let dictionary = Parser::parse_dictionary(field.as_bytes()).expect("a verified field parses");
    let mut checked = 0;
    for (algorithm, entry) in &dictionary {
        let expected: Vec<u8> = match algorithm.as_str() {
            "sha-256" => sha256.to_vec(),
            "sha-512" => Sha512::digest(input.body).to_vec(),
            _ => continue,
        };
        match entry {
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSeq(bytes),
                ..
            }) => assert_eq!(bytes, &expected, "{algorithm} accepted with another digest"),
            other => panic!("{algorithm} accepted as {other:?}"),
        }
        checked += 1;
    }
    assert!(checked > 0, "accepted a field without sha-256 or sha-512");
    let mut longer = input.body.to_vec();
    longer.push(0);
    assert!(verify_content_digest(&headers, &longer).is_err());
});
