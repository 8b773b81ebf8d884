//! The RFC 9421 signature base (`signature_base`) from a parsed Signature-Input.
//!
//! Input, one per line: a Signature-Input field, a method, a target, then header lines
//! `name: value` (seeds are readable). The field is parsed as the server parses it (an sf-dictionary whose one
//! member is an inner list of strings) and the base is built from its components.
//! Asserted:
//! - building the base twice gives the same bytes (or the same refusal);
//! - the serialised parameters survive a parse and a re-serialisation unchanged (the
//!   server re-serialises what the client sent, so anything else breaks signatures);
//! - the base has one line per component, `"<id>": <value>`, in the covered order, then
//!   `"@signature-params": <serialised inner list>` last, and no other line break (a
//!   value with a line break could forge another component's line);
//! - `@method`, `@path`, `@query` and `@request-target` hold exactly the request's;
//! - `@signature-params` is refused as a covered component, and so is an unknown
//!   derived component or an upper-case field name.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sfv::{BareItem, ListEntry, Parser, SerializeValue};
use wal::signing::signature_base;
use wal_fuzz::Received;

const SUPPORTED: [&str; 7] = [
    "@method",
    "@path",
    "@query",
    "@authority",
    "@scheme",
    "@target-uri",
    "@request-target",
];

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let signature_input = lines.next().unwrap_or_default();
    let method = std::str::from_utf8(lines.next().unwrap_or_default()).unwrap_or("");
    let target = std::str::from_utf8(lines.next().unwrap_or_default()).unwrap_or("");
    let mut headers: Vec<(&str, &[u8])> = Vec::new();
    for line in lines.take(8) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return;
        };
        let Ok(name) = std::str::from_utf8(&line[..colon]) else {
            return;
        };
        headers.push((name, line[colon + 1..].trim_ascii()));
    }
    let Some(request) = Received::new(method, target, &headers) else {
        return;
    };
    let Ok(dictionary) = Parser::parse_dictionary(signature_input) else {
        return;
    };
    let Some((_, ListEntry::InnerList(inner))) = dictionary.into_iter().next() else {
        return;
    };
    let mut ids = Vec::new();
    for item in &inner.items {
        match &item.bare_item {
            BareItem::String(s) => ids.push(s.clone()),
            _ => return,
        }
    }
    let serialized = vec![ListEntry::InnerList(inner.clone())]
        .serialize_value()
        .expect("a parsed inner list serialises");
    // Parse and serialise again: the bytes must not move.
    let reparsed = Parser::parse_list(serialized.as_bytes()).expect("serialised output parses");
    assert_eq!(
        reparsed
            .serialize_value()
            .expect("reparsed list serialises"),
        serialized,
        "sf serialisation is not idempotent"
    );

    let parts = request.parts();
    let first = signature_base(&parts, &ids, &serialized);
    let second = signature_base(&parts, &ids, &serialized);
    assert_eq!(first, second, "the signature base is not deterministic");

    let refusable = |id: &String| {
        id == "@signature-params"
            || (id.starts_with('@') && !SUPPORTED.contains(&id.as_str()))
            || (!id.starts_with('@') && id.bytes().any(|b| b.is_ascii_uppercase()))
    };
    let base = match first {
        Ok(base) => base,
        Err(_) => return,
    };
    assert!(
        !ids.iter().any(refusable),
        "accepted a refusable component: {ids:?}"
    );
    let lines: Vec<&str> = base.split('\n').collect();
    assert_eq!(
        lines.len(),
        ids.len() + 1,
        "a value held a line break: {base:?}"
    );
    for (line, id) in lines.iter().zip(&ids) {
        let prefix = format!("\"{id}\": ");
        assert!(line.starts_with(&prefix), "line {line:?} is not for {id:?}");
        let value = &line[prefix.len()..];
        let path = request.uri.path();
        let query = request.uri.query();
        match id.as_str() {
            "@method" => assert_eq!(value, request.method.as_str()),
            "@path" => assert_eq!(value, path),
            "@query" => assert_eq!(value, format!("?{}", query.unwrap_or(""))),
            "@request-target" => match query {
                Some(q) => assert_eq!(value, format!("{path}?{q}")),
                None => assert_eq!(value, path),
            },
            _ => {}
        }
    }
    assert_eq!(
        lines[ids.len()],
        format!("\"@signature-params\": {serialized}")
    );
});
