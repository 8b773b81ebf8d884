//! Helpers shared by the fuzz targets: the request a server would see, built the way the
//! `Signed` extractor sees it (method and URI through the `http` crate, so a target never
//! feeds `verify` a path or method the server could not receive).

use http::{HeaderMap, HeaderValue, Method, Uri};

/// The fixed clock of every target, in Unix seconds.
pub const NOW: i64 = 1_732_370_000;
/// The network id of every target.
pub const NETWORK: &str = "wal-devnet";
/// The accepted skew of every target, in seconds.
pub const WINDOW_SECS: u64 = 300;

/// A request as the server receives it: `http`-validated method and URI, raw header lines.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
}

impl Received {
    /// Builds it from text, `None` if `http` would refuse the method or the target.
    pub fn new(method: &str, target: &str, headers: &[(&str, &[u8])]) -> Option<Received> {
        let method = Method::from_bytes(method.as_bytes()).ok()?;
        // Only origin-form targets reach a handler: "/path?query".
        if !target.starts_with('/') {
            return None;
        }
        let uri: Uri = target.parse().ok()?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_bytes(value).ok()?,
            );
        }
        Some(Received {
            method,
            uri,
            headers: map,
        })
    }

    /// The parts `verify` takes, exactly as the extractor builds them.
    pub fn parts(&self) -> wal::signing::RequestParts<'_> {
        wal::signing::RequestParts {
            method: self.method.as_str(),
            path: self.uri.path(),
            query: self.uri.query(),
            headers: &self.headers,
        }
    }
}

/// The policy of every target.
pub fn policy() -> wal::signing::Policy<'static> {
    wal::signing::Policy {
        network_id: NETWORK,
        window_secs: WINDOW_SECS,
        now_unix_secs: NOW,
    }
}

/// All lines of a header joined by ", " as RFC 9421 §2.1 combines them.
pub fn combined(headers: &HeaderMap, name: &str) -> Option<String> {
    let lines: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().map(|s| s.trim().to_owned()))
        .collect::<Result<_, _>>()
        .ok()?;
    (!lines.is_empty()).then(|| lines.join(", "))
}
