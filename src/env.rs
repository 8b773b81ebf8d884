//! Environment variables for the services' typed configs: parsed once at start, with
//! errors that name the variable, its value and why it is refused.

use std::str::FromStr;

/// Why a configuration variable is refused.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A required variable is unset.
    #[error("set {name} to {what}")]
    Missing {
        /// The variable.
        name: &'static str,
        /// What it should hold.
        what: &'static str,
    },
    /// A variable is set to something that does not parse or is out of range.
    #[error("{name}={value} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value as given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

/// `name` parsed, or `default` when unset.
pub fn parsed<T>(name: &'static str, default: T) -> Result<T, EnvError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value.parse().map_err(|e: T::Err| EnvError::Invalid {
            name,
            reason: e.to_string(),
            value,
        }),
    }
}

/// `name` as text, or `default` when unset.
pub fn text(name: &'static str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `name`, which must be set.
pub fn required(name: &'static str, what: &'static str) -> Result<String, EnvError> {
    std::env::var(name).map_err(|_| EnvError::Missing { name, what })
}
