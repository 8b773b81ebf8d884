//! Parsing of the decimal strings that are not WAL amounts: rates ("0.1" is 10%) and
//! prices in US dollars, in the same strict syntax as amounts
//! (`money::parse_plain_decimal`).

use rust_decimal::Decimal;

use crate::money::{parse_plain_decimal, PlainDecimalError};

/// Dollar prices above a billion per unit are a typo, not a price.
const USD_MAX: i64 = 1_000_000_000;

fn strict_decimal(text: &str) -> Result<Decimal, String> {
    parse_plain_decimal(text).map_err(|e| match e {
        PlainDecimalError::TooPrecise => format!("{text:?} has more than 9 fractional digits"),
        PlainDecimalError::TooLarge => format!("{text:?} is too large"),
        PlainDecimalError::Empty | PlainDecimalError::Malformed => {
            format!("{text:?} is not a plain decimal number such as \"0.1\"")
        }
    })
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
