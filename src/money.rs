//! `Wal`: an exact amount of WAL, 9 fractional digits (1 FROST = 0.000000001 WAL).
//!
//! Amounts cross the API as decimal strings ("12.5"); they are parsed strictly (no sign,
//! no exponent, no more than 9 fractional digits) and held as `rust_decimal::Decimal`
//! with scale 9. All arithmetic is checked: an overflow is an error, never a wrap.

/// Rates and dollar prices: decimals that are not amounts.
pub mod rates;
/// Splits of amounts that never create or destroy a FROST.
pub mod split;

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Fractional digits of WAL: 1 FROST = 10^-9 WAL.
pub const WAL_DECIMALS: u32 = 9;

/// Integer digits an amount may have. With the 9 fractional digits that makes 28
/// significant digits, which Decimal's 96-bit mantissa holds exactly (29 would not
/// always: parsing would round). 10^19 WAL is far above any supply.
const INTEGER_DIGITS_MAX: usize = 19;

/// Why a string is not a plain decimal (callers word the message for their field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainDecimalError {
    /// The string is empty.
    Empty,
    /// Not digits with an optional point and fraction: a sign, exponent, space, ".5" or "5.".
    Malformed,
    /// More than 9 fractional digits (finer than a FROST).
    TooPrecise,
    /// More than 19 integer digits (leading zeros not counted).
    TooLarge,
}

/// The API's one syntax for decimal strings (amounts, rates, dollar prices): digits,
/// optionally a point and 1..=9 digits, at most 19 integer digits. Signs, exponents,
/// ".5", "5." and whitespace are all refused.
pub fn parse_plain_decimal(text: &str) -> Result<Decimal, PlainDecimalError> {
    if text.is_empty() {
        return Err(PlainDecimalError::Empty);
    }
    let (integer, fraction) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(integer) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(PlainDecimalError::Malformed);
    }
    if fraction.is_some_and(|f| f.len() > WAL_DECIMALS as usize) {
        return Err(PlainDecimalError::TooPrecise);
    }
    if integer.trim_start_matches('0').len() > INTEGER_DIGITS_MAX {
        return Err(PlainDecimalError::TooLarge);
    }
    Decimal::from_str(text).map_err(|_| PlainDecimalError::Malformed)
}

/// An exact, possibly negative (for journal legs) amount of WAL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Wal(Decimal);

/// Why a string is not an amount of WAL; each carries the offending text (400 at the API).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountError {
    /// The amount string is empty.
    #[error("amount is empty")]
    Empty,
    /// Not a plain decimal: a sign, exponent, space, separator or a bare point.
    #[error("amount {0:?} is not a plain decimal number of WAL like \"12.5\" (no sign, exponent, spaces or separators)")]
    Malformed(String),
    /// More than 9 fractional digits, i.e. finer than one FROST.
    #[error("amount {0:?} has more than 9 fractional digits (1 FROST = 0.000000001 WAL is the smallest unit)")]
    TooPrecise(String),
    /// More than 19 integer digits: above any possible supply.
    #[error("amount {0:?} is too large")]
    TooLarge(String),
}

impl Wal {
    /// Zero WAL.
    pub const ZERO: Wal = Wal(Decimal::ZERO);

    /// One FROST, the smallest unit.
    pub fn frost() -> Wal {
        Wal(Decimal::new(1, WAL_DECIMALS))
    }

    /// Whole WAL.
    pub fn from_wal(whole: i64) -> Wal {
        Wal(Decimal::from(whole))
    }

    /// An amount in FROST (10^-9 WAL).
    pub fn from_frost(frost: i64) -> Wal {
        Wal(Decimal::new(frost, WAL_DECIMALS))
    }

    /// Parses the API's amount syntax (see `parse_plain_decimal`).
    pub fn parse(text: &str) -> Result<Wal, AmountError> {
        parse_plain_decimal(text)
            .map(Wal::from_decimal_unchecked)
            .map_err(|e| match e {
                PlainDecimalError::Empty => AmountError::Empty,
                PlainDecimalError::Malformed => AmountError::Malformed(text.to_owned()),
                PlainDecimalError::TooPrecise => AmountError::TooPrecise(text.to_owned()),
                PlainDecimalError::TooLarge => AmountError::TooLarge(text.to_owned()),
            })
    }

    /// Wraps a decimal that is known to have at most 9 fractional digits (from the
    /// database's NUMERIC(38,9) or from checked arithmetic on `Wal`s).
    pub fn from_decimal_unchecked(value: Decimal) -> Wal {
        let mut value = value;
        value.rescale(WAL_DECIMALS);
        Wal(value)
    }

    /// Converts a decimal, refusing one with sub-FROST precision.
    pub fn try_from_decimal(value: Decimal) -> Result<Wal, AmountError> {
        if value.normalize().scale() > WAL_DECIMALS {
            return Err(AmountError::TooPrecise(value.to_string()));
        }
        Ok(Wal::from_decimal_unchecked(value))
    }

    /// The amount as a `Decimal` in WAL, at scale 9.
    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// Whether the amount is above zero.
    pub fn is_positive(self) -> bool {
        self.0 > Decimal::ZERO
    }

    /// Whether the amount is below zero (a journal leg may be; a parsed amount never is).
    pub fn is_negative(self) -> bool {
        self.0 < Decimal::ZERO
    }

    /// Whether the amount is exactly zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// The sum, `None` if it overflows the 96-bit decimal.
    pub fn checked_add(self, other: Wal) -> Option<Wal> {
        self.0.checked_add(other.0).map(Wal)
    }

    /// The difference (may be negative), `None` if it overflows the 96-bit decimal.
    pub fn checked_sub(self, other: Wal) -> Option<Wal> {
        self.0.checked_sub(other.0).map(Wal)
    }

    /// The amount without its sign.
    pub fn abs(self) -> Wal {
        Wal(self.0.abs())
    }

    /// The amount in FROST, for exact integer reasoning in tests and rules.
    pub fn to_frost(self) -> i128 {
        let mut scaled = self.0;
        scaled.rescale(WAL_DECIMALS);
        scaled.mantissa()
    }

    /// Sums amounts, `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Wal>>(amounts: I) -> Option<Wal> {
        amounts
            .into_iter()
            .try_fold(Wal::ZERO, |acc, x| acc.checked_add(x))
    }
}

impl fmt::Display for Wal {
    /// Shortest exact form: "12.5", "0.000000001", "0".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

impl FromStr for Wal {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Wal::parse(s)
    }
}

impl Serialize for Wal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Wal {
    /// Only JSON strings are amounts: a JSON number would lose exactness in other clients.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Wal::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "server")]
impl utoipa::PartialSchema for Wal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[0-9]+(\.[0-9]{1,9})?$"))
            .description(Some(
                "An amount of WAL as a decimal string with at most 9 fractional digits",
            ))
            .examples([serde_json::json!("12.5")])
            .into()
    }
}

#[cfg(feature = "server")]
impl utoipa::ToSchema for Wal {}

impl std::ops::Neg for Wal {
    type Output = Wal;
    fn neg(self) -> Wal {
        Wal(-self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_plain_amounts() {
        assert_eq!(Wal::parse("12.5").unwrap().to_string(), "12.5");
        assert_eq!(Wal::parse("0.000000001").unwrap(), Wal::frost());
        assert_eq!(Wal::parse("0").unwrap(), Wal::ZERO);
        assert_eq!(
            Wal::parse("5000000000").unwrap(),
            Wal::from_wal(5_000_000_000)
        );
        assert_eq!(Wal::parse("1.000000000").unwrap().to_string(), "1");
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", "-1", "+1", "1e9", "1E9", "0x10", " 1", "1 ", "1,5", ".5", "5.", "1..2", "NaN",
            "inf", "١", "1_000",
        ] {
            assert!(Wal::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Wal::parse("0.0000000001"),
            Err(AmountError::TooPrecise("0.0000000001".into()))
        );
        assert!(matches!(
            Wal::parse("123456789012345678901234567890"),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn json_numbers_are_not_amounts() {
        assert!(serde_json::from_str::<Wal>("12").is_err());
        assert_eq!(
            serde_json::from_str::<Wal>("\"12\"").unwrap(),
            Wal::from_wal(12)
        );
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(frost in 0i64..i64::MAX) {
            let amount = Wal::from_frost(frost);
            prop_assert_eq!(Wal::parse(&amount.to_string()).unwrap(), amount);
            prop_assert_eq!(amount.to_frost(), frost as i128);
        }

        #[test]
        fn addition_is_exact(a in 0i64..i64::MAX / 2, b in 0i64..i64::MAX / 2) {
            let sum = Wal::from_frost(a).checked_add(Wal::from_frost(b)).unwrap();
            prop_assert_eq!(sum.to_frost(), a as i128 + b as i128);
            prop_assert_eq!(sum.checked_sub(Wal::from_frost(b)).unwrap(), Wal::from_frost(a));
        }
    }
}
