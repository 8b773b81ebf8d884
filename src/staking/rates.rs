//! Parsing of the decimal strings that are not WAL amounts: rates ("0.1" is 10%) and
//! prices in US dollars. The same strict syntax as amounts: digits, optionally a point
//! and 1..=9 digits; no sign, exponent or spaces.

use std::str::FromStr;

use rust_decimal::Decimal;

const FRACTION_DIGITS_MAX: usize = 9;
/// Dollar prices above a billion per unit are a typo, not a price.
const USD_MAX: i64 = 1_000_000_000;

fn strict_decimal(text: &str) -> Result<Decimal, String> {
    let (integer, fraction) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer) || fraction.is_some_and(|f| !digits(f)) || integer.len() > 12 {
        return Err(format!(
            "{text:?} is not a plain decimal number such as \"0.1\""
        ));
    }
    if fraction.is_some_and(|f| f.len() > FRACTION_DIGITS_MAX) {
        return Err(format!(
            "{text:?} has more than {FRACTION_DIGITS_MAX} fractional digits"
        ));
    }
    Decimal::from_str(text).map_err(|e| format!("{text:?}: {e}"))
}

/// A rate between 0 and 1 inclusive ("0.1" is 10%).
pub fn parse_rate(text: &str) -> Result<Decimal, String> {
    let rate = strict_decimal(text)?;
    if rate > Decimal::ONE {
        return Err(format!("{text:?} is above 1 (100%)"));
    }
    Ok(rate.normalize())
}

/// A positive price in US dollars.
pub fn parse_usd(text: &str) -> Result<Decimal, String> {
    let price = strict_decimal(text)?;
    if price.is_zero() {
        return Err(format!("{text:?}: a price must be positive"));
    }
    if price > Decimal::from(USD_MAX) {
        return Err(format!("{text:?} is above {USD_MAX} USD"));
    }
    Ok(price.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_prices_are_strict() {
        assert_eq!(parse_rate("0.1").unwrap(), Decimal::new(1, 1));
        assert_eq!(parse_rate("1").unwrap(), Decimal::ONE);
        assert_eq!(parse_rate("0").unwrap(), Decimal::ZERO);
        for bad in [
            "1.01",
            "-0.1",
            "1e-1",
            "",
            " 0.1",
            ".1",
            "0.1234567891",
            "abc",
            "+0.1",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_usd("0.0001").unwrap(), Decimal::new(1, 4));
        for bad in ["0", "0.000", "-1", "1000000001", "1e3", "NaN"] {
            assert!(parse_usd(bad).is_err(), "{bad:?}");
        }
    }
}
