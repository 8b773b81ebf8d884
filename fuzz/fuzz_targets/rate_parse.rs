//! Rates and dollar prices (`money::rates::parse_rate`, `parse_usd`) and the shared
//! `parse_plain_decimal`. Input: `text\nfrost`, the string and an amount in FROST for
//! `fraction_down` (seeds are readable). Asserted:
//! - a string is accepted exactly when it is in the amount grammar (checked here
//!   independently) and in range: a rate in 0..=1, a price in (0, 10^9];
//! - the value is exact: equal to the one built from the digits with integer arithmetic;
//! - the result is normalised (no trailing fractional zero) and its display parses back
//!   to the same value;
//! - `fraction_down(amount, rate)` of an accepted rate is at most the amount, never
//!   negative, and exactly the product rounded down to the FROST.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;
use wal::money::rates::{parse_rate, parse_usd};
use wal::money::split::fraction_down;
use wal::money::{parse_plain_decimal, Wal};

/// The grammar, and the value as (mantissa, scale), computed without the crate.
fn expected(text: &str) -> Option<Decimal> {
    let (integer, fraction) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if integer.is_empty()
        || !digits(integer)
        || !digits(fraction)
        || fraction.len() > 9
        || (text.contains('.') && fraction.is_empty())
        || integer.trim_start_matches('0').len() > 19
    {
        return None;
    }
    let mut mantissa: i128 = 0;
    for b in integer.bytes().chain(fraction.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    let scale = u32::try_from(fraction.len()).expect("at most 9");
    Some(Decimal::from_i128_with_scale(mantissa, scale))
}

fuzz_target!(|data: &[u8]| {
    let Ok(data) = std::str::from_utf8(data) else {
        return;
    };
    let (text, frost) = data.split_once('\n').unwrap_or((data, ""));
    let frost: u64 = frost.parse().unwrap_or(123_456_789_000);
    let want = expected(text);
    let plain = parse_plain_decimal(text);
    assert_eq!(plain.ok(), want, "{text:?}: parse_plain_decimal disagrees");

    let rate = parse_rate(text);
    let in_range = want.filter(|d| *d <= Decimal::ONE);
    assert_eq!(
        rate.clone().ok(),
        in_range,
        "{text:?}: parse_rate says {rate:?}"
    );
    if let Ok(rate) = rate {
        assert_eq!(rate, rate.normalize());
        assert_eq!(parse_rate(&rate.to_string()), Ok(rate));
        let amount = Wal::from_frost(i64::try_from(frost >> 1).expect("63 bits"));
        let part = fraction_down(amount, rate);
        assert!(
            !part.is_negative() && part <= amount,
            "{rate} of {amount} is {part}"
        );
        // The floor of the product in integers: frost < 2^63 and the rate's mantissa
        // is at most 10^9, so the product fits an i128 with room to spare.
        let floor = amount.to_frost() * rate.mantissa() / 10i128.pow(rate.scale());
        assert_eq!(
            part.to_frost(),
            floor,
            "{rate} of {amount}: {part} is not the exact product rounded down"
        );
    }

    let usd = parse_usd(text);
    let in_range = want.filter(|d| !d.is_zero() && *d <= Decimal::from(1_000_000_000));
    assert_eq!(
        usd.clone().ok(),
        in_range,
        "{text:?}: parse_usd says {usd:?}"
    );
    if let Ok(price) = usd {
        assert_eq!(price, price.normalize());
        assert_eq!(parse_usd(&price.to_string()), Ok(price));
    }
});
