//! The `Range` header of a read (RFC 9110, section 14): one byte range, `a-b`, `a-`
//! or `-n`, over a blob of a known size. Pure.

/// What a `Range` header asks of a blob of `size` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    /// No usable range: the whole blob, 200 (no header, another unit, or several
    /// ranges, which RFC 9110 lets a server answer whole).
    Whole,
    /// Bytes `start..end` (end exclusive), 206.
    Part { start: u64, end: u64 },
    /// A range the blob cannot satisfy, or a malformed one: 416, with why.
    Unsatisfiable(String),
}

/// Parses the header's value against the blob's size.
pub fn parse(header: Option<&str>, size: u64) -> Asked {
    let Some(header) = header.map(str::trim) else {
        return Asked::Whole;
    };
    let Some(spec) = header.strip_prefix("bytes=") else {
        return Asked::Whole;
    };
    if spec.contains(',') {
        return Asked::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Asked::Unsatisfiable(format!("Range {header:?} is not bytes=a-b, a- or -n"));
    };
    let number = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    let malformed = || Asked::Unsatisfiable(format!("Range {header:?} is not bytes=a-b, a- or -n"));
    let (first, last) = (first.trim(), last.trim());
    let (start, end) = match (first.is_empty(), last.is_empty()) {
        // -n: the last n bytes.
        (true, false) => {
            let Some(n) = number(last) else {
                return malformed();
            };
            if n == 0 || size == 0 {
                return Asked::Unsatisfiable(format!(
                    "Range {header:?} asks for no bytes of a blob of {size} bytes"
                ));
            }
            (size - n.min(size), size)
        }
        // a-: from a to the end.
        (false, true) => match number(first) {
            Some(a) => (a, size),
            None => return malformed(),
        },
        // a-b: inclusive, b clipped to the end.
        (false, false) => match (number(first), number(last)) {
            (Some(a), Some(b)) if a <= b => (a, b.saturating_add(1).min(size)),
            (Some(_), Some(_)) => {
                return Asked::Unsatisfiable(format!("Range {header:?} ends before it starts"))
            }
            _ => return malformed(),
        },
        (true, true) => return malformed(),
    };
    if start >= size {
        return Asked::Unsatisfiable(format!(
            "Range {header:?} starts at or after the end of the blob ({size} bytes)"
        ));
    }
    Asked::Part { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_three_forms_and_their_edges() {
        let part = |start, end| Asked::Part { start, end };
        assert_eq!(parse(None, 10), Asked::Whole);
        assert_eq!(parse(Some("bytes=0-4"), 10), part(0, 5));
        assert_eq!(parse(Some("bytes=5-"), 10), part(5, 10));
        assert_eq!(parse(Some("bytes=-3"), 10), part(7, 10));
        assert_eq!(parse(Some("bytes=-30"), 10), part(0, 10));
        assert_eq!(parse(Some("bytes=8-100"), 10), part(8, 10));
        assert_eq!(parse(Some("bytes=9-9"), 10), part(9, 10));
        assert_eq!(parse(Some("items=0-4"), 10), Asked::Whole);
        assert_eq!(parse(Some("bytes=0-1,4-5"), 10), Asked::Whole);
        for bad in [
            "bytes=10-",
            "bytes=10-12",
            "bytes=-0",
            "bytes=5-4",
            "bytes=x-1",
            "bytes=-",
            "bytes=1",
            "bytes=+1-2",
        ] {
            assert!(
                matches!(parse(Some(bad), 10), Asked::Unsatisfiable(_)),
                "{bad}"
            );
        }
        assert!(matches!(
            parse(Some("bytes=0-0"), 0),
            Asked::Unsatisfiable(_)
        ));
    }

    proptest! {
        /// A satisfiable range lies within the blob and is never empty.
        #[test]
        fn parts_lie_within_the_blob(a in 0u64..2000, b in 0u64..2000, size in 0u64..1000, form in 0u8..3) {
            let header = match form {
                0 => format!("bytes={a}-{b}"),
                1 => format!("bytes={a}-"),
                _ => format!("bytes=-{b}"),
            };
            if let Asked::Part { start, end } = parse(Some(&header), size) {
                prop_assert!(start < end && end <= size, "{header} -> {start}..{end} of {size}");
            }
        }
    }
}
