//! One definition of each governable parameter (ECONOMICS.md, "Governance"): its name
//! (a field of `Params`), its type, its bounds, and the rule that ties parameters
//! together. Reading the stored values, validating a proposal, executing it and
//! `GET /v1/params` all go through these.

use std::fmt::Display;

use rust_decimal::Decimal;

use crate::money::{parse_plain_decimal, PlainDecimalError, Wal};
use crate::wire::Params;

/// The type of a parameter's values, as the API writes them (strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An amount of WAL (at most 9 fractional digits).
    Wal,
    /// A whole number.
    Integer,
    /// A decimal fraction or factor (at most 9 fractional digits): "0.1" is 10%.
    Decimal,
}

/// A governable parameter: its name and inclusive bounds.
#[derive(Clone, Copy, Debug)]
pub struct Definition {
    /// The name in `GET /v1/params` and in a proposal's `changes`.
    pub name: &'static str,
    /// The type of its values.
    pub kind: Kind,
    /// The least value allowed, as text.
    pub min: &'static str,
    /// The greatest value allowed, as text.
    pub max: &'static str,
}

/// Settings fixed at genesis that a proposal may name but never change.
const GENESIS_SETTINGS: &[&str] = &[
    "n_shards",
    "network_id",
    "epoch_duration_secs",
    "total_supply",
    "genesis_wal_usd",
];

/// A parameter's value type: parsed from the API's text, compared with the bounds as a
/// decimal, written back in the shortest exact form.
trait Value: Sized + Display {
    const KIND: Kind;
    fn parse(text: &str) -> Result<Self, String>;
    fn as_decimal(&self) -> Decimal;
}

impl Value for Wal {
    const KIND: Kind = Kind::Wal;
    fn parse(text: &str) -> Result<Self, String> {
        Wal::parse(text).map_err(|e| e.to_string())
    }
    fn as_decimal(&self) -> Decimal {
        Wal::as_decimal(*self)
    }
}

impl Value for u32 {
    const KIND: Kind = Kind::Integer;
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{text:?} is not a whole number such as \"20\""));
        }
        text.parse().map_err(|_| format!("{text:?} is too large"))
    }
    fn as_decimal(&self) -> Decimal {
        Decimal::from(*self)
    }
}

impl Value for Decimal {
    const KIND: Kind = Kind::Decimal;
    fn parse(text: &str) -> Result<Self, String> {
        parse_plain_decimal(text)
            .map(|d| d.normalize())
            .map_err(|e| match e {
                PlainDecimalError::TooPrecise => {
                    format!("{text:?} has more than 9 fractional digits")
                }
                PlainDecimalError::TooLarge => format!("{text:?} is too large"),
                PlainDecimalError::Empty | PlainDecimalError::Malformed => {
                    format!("{text:?} is not a plain decimal number such as \"0.1\"")
                }
            })
    }
    fn as_decimal(&self) -> Decimal {
        *self
    }
}

/// `text` as a value of parameter `name`, within `min..=max`.
fn bounded<T: Value>(name: &str, min: &str, max: &str, text: &str) -> Result<T, String> {
    let value = T::parse(text).map_err(|e| format!("{name}: {e}"))?;
    let bound = |b: &str| parse_plain_decimal(b).unwrap_or(Decimal::ZERO);
    let decimal = value.as_decimal();
    if decimal < bound(min) || decimal > bound(max) {
        return Err(format!(
            "{name}: {text} is outside its bounds {min} ..= {max}"
        ));
    }
    Ok(value)
}

/// Why `name` cannot be set: a genesis setting, or no parameter at all.
pub fn not_governable(name: &str) -> String {
    if GENESIS_SETTINGS.contains(&name) {
        return format!("{name} is fixed at genesis and cannot be changed by a proposal");
    }
    let names: Vec<&str> = DEFINITIONS.iter().map(|d| d.name).collect();
    format!(
        "{name:?} is not a governable parameter; they are: {}",
        names.join(", ")
    )
}

/// Declares the governable parameters: each is a field of `Params` with its type and
/// bounds, and this is the only list of them.
macro_rules! governable {
    ($($field:ident: $ty:ty, $min:literal ..= $max:literal;)*) => {
        /// Every governable parameter, in `GET /v1/params` order.
        pub const DEFINITIONS: &[Definition] = &[$(Definition {
            name: stringify!($field),
            kind: <$ty as Value>::KIND,
            min: $min,
            max: $max,
        }),*];

        impl Params {
            /// The parameters from their text values by name: every one present and
            /// within its bounds (the set's consistency is `check_consistent`'s).
            pub fn from_texts<'a>(
                text_of: impl Fn(&str) -> Option<&'a str>,
            ) -> Result<Params, String> {
                Ok(Params {$(
                    $field: bounded::<$ty>(
                        stringify!($field),
                        $min,
                        $max,
                        text_of(stringify!($field)).ok_or_else(|| {
                            format!("parameter {} is missing", stringify!($field))
                        })?,
                    )?,
                )*})
            }

            /// Sets one parameter from its text, within its bounds.
            pub fn set(&mut self, name: &str, text: &str) -> Result<(), String> {
                match name {
                    $(stringify!($field) => {
                        self.$field = bounded::<$ty>(name, $min, $max, text)?;
                    })*
                    _ => return Err(not_governable(name)),
                }
                Ok(())
            }

            /// A parameter's value as the API and the database write it.
            pub fn text_of(&self, name: &str) -> Option<String> {
                match name {
                    $(stringify!($field) => Some(self.$field.to_string()),)*
                    _ => None,
                }
            }
        }
    };
}

governable! {
    stake_min: Wal, "0.000000001" ..= "1000000";
    node_stake_min: Wal, "0.000000001" ..= "1000000";
    committee_size_max: u32, "1" ..= "1000";
    reward_burn_rate: Decimal, "0" ..= "0.5";
    subsidy_rate: Decimal, "0" ..= "10";
    epochs_ahead_max: u32, "1" ..= "53";
    rate_change_max: Decimal, "0.01" ..= "0.5";
    price_change_max: Decimal, "0.01" ..= "0.5";
    audit_challenges_per_epoch: u32, "1" ..= "10000";
    audit_challenges_min: u32, "1" ..= "10000";
    slash_threshold: Decimal, "0" ..= "1";
    slash_rate: Decimal, "0" ..= "0.5";
    jail_threshold: Decimal, "0" ..= "1";
    jail_epochs: u32, "0" ..= "53";
    proposal_deposit: Wal, "1" ..= "1000000000";
    voting_epochs: u32, "1" ..= "4";
    gov_quorum: Decimal, "0.1" ..= "1";
    gov_threshold: Decimal, "0.5" ..= "1";
    gov_veto: Decimal, "0.1" ..= "1";
    proposals_open_max: u32, "1" ..= "100";
}

/// The rules between parameters; a set of values that breaks one is refused whole.
pub fn check_consistent(params: &Params) -> Result<(), String> {
    if params.jail_threshold > params.slash_threshold {
        return Err(format!(
            "jail_threshold {} would be above slash_threshold {}: a node is only jailed when \
             it is also slashed, so jail_threshold must not exceed slash_threshold",
            params.jail_threshold, params.slash_threshold
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn defaults() -> Params {
        crate::params::tests::defaults()
    }

    #[test]
    fn every_field_is_defined_once_and_written_back_as_read() {
        let params = defaults();
        let mut names: Vec<&str> = DEFINITIONS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DEFINITIONS.len());
        assert_eq!(DEFINITIONS.len(), 20);
        for def in DEFINITIONS {
            let text = params.text_of(def.name).unwrap();
            let mut copy = params.clone();
            copy.set(def.name, &text).unwrap();
            assert_eq!(copy, params, "{}", def.name);
        }
        assert_eq!(params.text_of("reward_burn_rate").unwrap(), "0.03");
        assert_eq!(params.text_of("proposal_deposit").unwrap(), "1000");
    }

    #[test]
    fn values_outside_bounds_or_of_the_wrong_type_are_refused() {
        let mut params = defaults();
        for (name, bad) in [
            ("committee_size_max", "0"),
            ("committee_size_max", "1001"),
            ("committee_size_max", "1.5"),
            ("committee_size_max", "-1"),
            ("reward_burn_rate", "0.51"),
            ("reward_burn_rate", "0.0000000001"),
            ("subsidy_rate", "10.000000001"),
            ("stake_min", "0"),
            ("stake_min", "1000000.000000001"),
            ("gov_threshold", "0.49"),
            ("voting_epochs", "5"),
            ("proposal_deposit", "0.5"),
            ("slash_rate", "1e-2"),
            ("jail_epochs", ""),
        ] {
            let before = params.clone();
            let error = params.set(name, bad).unwrap_err();
            assert!(error.starts_with(name), "{name}={bad}: {error}");
            assert_eq!(params, before, "a refused value changes nothing");
        }
        for (name, good) in [
            ("committee_size_max", "1000"),
            ("subsidy_rate", "10"),
            ("stake_min", "0.000000001"),
            ("jail_epochs", "0"),
            ("gov_quorum", "1"),
        ] {
            params.set(name, good).unwrap();
            assert_eq!(params.text_of(name).unwrap(), good);
        }
        assert!(params
            .set("n_shards", "10")
            .unwrap_err()
            .contains("genesis"));
        assert!(params
            .set("nope", "1")
            .unwrap_err()
            .contains("not a governable"));
    }

    #[test]
    fn jail_threshold_may_not_exceed_slash_threshold() {
        let mut params = defaults();
        check_consistent(&params).unwrap();
        params.set("jail_threshold", "0.9").unwrap();
        check_consistent(&params).unwrap();
        params.set("jail_threshold", "0.91").unwrap();
        assert!(check_consistent(&params)
            .unwrap_err()
            .contains("slash_threshold"));
    }

    proptest! {
        /// Bounds are inclusive and exact: a value is accepted iff it lies within them.
        #[test]
        fn a_rate_is_accepted_exactly_within_its_bounds(nano in 0u64..2_000_000_000) {
            let text = Decimal::new(i64::try_from(nano).unwrap(), 9).normalize().to_string();
            let mut params = defaults();
            let accepted = params.set("slash_threshold", &text).is_ok();
            prop_assert_eq!(accepted, nano <= 1_000_000_000);
        }
    }
}
