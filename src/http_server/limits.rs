//! The server's limits, the same environment variables for every service.

use std::time::Duration;

use crate::env::EnvError;

/// What bounds each connection and the server as a whole.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A request's head (line and headers) must arrive within this; the clock starts
    /// when the connection waits for a request, so it is also how long an idle
    /// keep-alive connection stays open. `WAL_HTTP_HEADER_TIMEOUT_SECS`, default 10.
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long fails the request, and a
    /// client that reads nothing of a response for this long is disconnected.
    /// `WAL_HTTP_IDLE_TIMEOUT_SECS`, default 30.
    pub idle_timeout: Duration,
    /// Open connections; one more is answered 503 and closed.
    /// `WAL_HTTP_CONNECTIONS_MAX`, default 1024.
    pub connections_max: usize,
    /// Requests being handled at once; one more is answered 503 at once.
    /// `WAL_HTTP_REQUESTS_MAX`, default 256.
    pub requests_in_flight_max: usize,
    /// Bytes of a request's line and headers together; more is 431.
    /// `WAL_HTTP_HEADER_BYTES_MAX`, default 16384.
    pub header_bytes_max: usize,
    /// Header fields of one request; more is 431. `WAL_HTTP_HEADERS_MAX`, default 100.
    pub headers_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            connections_max: 1024,
            requests_in_flight_max: 256,
            header_bytes_max: 16 * 1024,
            headers_max: 100,
        }
    }
}

/// hyper refuses a read buffer under 8 KiB.
const READ_BUFFER_MIN_BYTES: usize = 8 * 1024;

/// Reads of bodies use up to this much buffer per connection.
const BODY_READ_BUFFER_BYTES: usize = 64 * 1024;

impl Limits {
    /// The limits from the environment, defaults where unset; zero is refused.
    pub fn from_env() -> Result<Limits, EnvError> {
        Limits::from_lookup(&|name| std::env::var(name).ok())
    }

    /// The limits from `lookup` (a variable's value by name), defaults where unset.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Limits, EnvError> {
        let defaults = Limits::default();
        let secs = |name, default: Duration| {
            positive(lookup, name, default.as_secs()).map(Duration::from_secs)
        };
        Ok(Limits {
            header_read_timeout: secs(
                "WAL_HTTP_HEADER_TIMEOUT_SECS",
                defaults.header_read_timeout,
            )?,
            idle_timeout: secs("WAL_HTTP_IDLE_TIMEOUT_SECS", defaults.idle_timeout)?,
            connections_max: positive(
                lookup,
                "WAL_HTTP_CONNECTIONS_MAX",
                defaults.connections_max,
            )?,
            requests_in_flight_max: positive(
                lookup,
                "WAL_HTTP_REQUESTS_MAX",
                defaults.requests_in_flight_max,
            )?,
            header_bytes_max: positive(
                lookup,
                "WAL_HTTP_HEADER_BYTES_MAX",
                defaults.header_bytes_max,
            )?,
            headers_max: positive(lookup, "WAL_HTTP_HEADERS_MAX", defaults.headers_max)?,
        })
    }

    /// hyper's per-connection read buffer: it holds a whole head, so it bounds the
    /// memory of a connection that trickles one; bodies stream through it.
    pub(crate) fn read_buffer_bytes(&self) -> usize {
        self.header_bytes_max
            .max(BODY_READ_BUFFER_BYTES)
            .max(READ_BUFFER_MIN_BYTES)
    }
}

/// `name` from `lookup` (or `default`), at least 1.
fn positive<T>(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, EnvError>
where
    T: std::str::FromStr + PartialEq + Default + ToString,
    T::Err: std::fmt::Display,
{
    let invalid = |value: String, reason: String| EnvError::Invalid {
        name,
        value,
        reason,
    };
    let value: T = match lookup(name) {
        None => default,
        Some(text) => text
            .parse()
            .map_err(|e: T::Err| invalid(text.clone(), e.to_string()))?,
    };
    if value == T::default() {
        return Err(invalid(value.to_string(), "must be at least 1".to_owned()));
    }
    Ok(value)
}
