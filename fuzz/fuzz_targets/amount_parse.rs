//! Amounts of WAL (`Wal::parse`, `Display`, serde) and their exact arithmetic.
//!
//! Input: `a\nb\nparts`, two amount strings and a part count (seeds are readable).
//! Asserted for each string:
//! - it is accepted exactly when it matches the API's grammar, checked here
//!   independently: digits, optionally a point and 1..=9 digits, at most 19 integer
//!   digits once leading zeros are dropped;
//! - an accepted amount's value is exact: its FROST count equals the one computed from
//!   the digits with integer arithmetic;
//! - display → parse round-trips to the same amount, display is the shortest form
//!   (no leading zero before a digit, no trailing fractional zero) and is itself in
//!   the grammar; JSON serialisation is that string and deserialises back;
//! - the sum and the difference of two amounts are exact (or refused on overflow, never
//!   wrapped), and an amount split evenly in `parts` parts or by weights sums back to
//!   the amount, to the FROST.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;
use wal::money::split::{split_by_weight, split_evenly};
use wal::money::Wal;

/// The grammar and the value in FROST, computed without the crate.
fn expected_frost(text: &str) -> Option<i128> {
    let (integer, fraction) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer) || fraction.is_some_and(|f| !digits(f) || f.len() > 9) {
        return None;
    }
    let integer = integer.trim_start_matches('0');
    if integer.len() > 19 {
        return None;
    }
    let mut frost: i128 = 0;
    for b in integer.bytes() {
        frost = frost * 10 + i128::from(b - b'0');
    }
    let fraction = fraction.unwrap_or("");
    for i in 0..9 {
        let digit = fraction.as_bytes().get(i).map_or(0, |b| b - b'0');
        frost = frost * 10 + i128::from(digit);
    }
    Some(frost)
}

fn check(text: &str) -> Option<Wal> {
    let parsed = Wal::parse(text);
    let expected = expected_frost(text);
    assert_eq!(
        parsed.is_ok(),
        expected.is_some(),
        "{text:?}: parse says {parsed:?}"
    );
    let amount = parsed.ok()?;
    assert_eq!(Some(amount.to_frost()), expected, "{text:?} is not exact");
    assert!(!amount.is_negative());
    let shown = amount.to_string();
    assert_eq!(
        Wal::parse(&shown),
        Ok(amount),
        "{shown:?} does not round-trip"
    );
    assert!(
        expected_frost(&shown).is_some(),
        "{shown:?} is outside the grammar"
    );
    assert!(
        !shown.ends_with('0') || !shown.contains('.'),
        "{shown:?} is not shortest"
    );
    assert!(!shown.ends_with('.'));
    assert!(shown == "0" || !shown.starts_with('0') || shown.starts_with("0."));
    let json = serde_json::to_string(&amount).expect("an amount serialises");
    assert_eq!(json, format!("\"{shown}\""));
    assert_eq!(serde_json::from_str::<Wal>(&json).ok(), Some(amount));
    Some(amount)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(3, '\n');
    let a = check(lines.next().unwrap_or(""));
    let b = check(lines.next().unwrap_or("0"));
    let parts: u32 = lines.next().and_then(|p| p.parse().ok()).unwrap_or(3);
    if let (Some(a), Some(b)) = (a, b) {
        let sum = a
            .checked_add(b)
            .expect("two amounts of at most 10^19 WAL add up");
        assert_eq!(sum.to_frost(), a.to_frost() + b.to_frost());
        let difference = a.checked_sub(b).expect("two amounts subtract");
        assert_eq!(difference.to_frost(), a.to_frost() - b.to_frost());
        assert_eq!(difference.checked_add(b), Some(a));
        // A sum may have 20 integer digits, which the API does not take.
        if sum.to_frost() < 10i128.pow(28) {
            assert_eq!(Wal::parse(&sum.to_string()), Ok(sum));
        }
    }
    if let Some(a) = a {
        // The API splits over at most epochs_ahead_max (53) slots.
        let parts = parts.clamp(1, 255);
        let split = split_evenly(a, parts);
        assert_eq!(split.len(), parts as usize);
        assert_eq!(Wal::checked_sum(split.iter().copied()), Some(a));
        assert!(split.iter().all(|p| !p.is_negative()));
        // Weights of at most 2.55: pool × weight must fit Decimal's 96-bit mantissa
        // (about 7.9·10^28 FROST), which split_by_weight does not check (see the
        // findings in fuzz/README.md).
        let weights = [
            Decimal::ONE,
            Decimal::new(25, 1),
            Decimal::new(i64::from(parts), 2),
        ];
        let (shares, remainder) = split_by_weight(a, &weights);
        assert!(!remainder.is_negative() && shares.iter().all(|s| !s.is_negative()));
        let paid = Wal::checked_sum(shares.iter().copied()).expect("shares add up");
        assert_eq!(
            paid.checked_add(remainder),
            Some(a),
            "a weighted split lost FROST"
        );
    }
});
