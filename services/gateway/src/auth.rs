//! Optional JWT authorization of uploads, compatible with Walrus's auth-publisher: a
//! `PUT` must carry `Authorization: Bearer <JWT>` signed with the configured secret
//! (HS256) or public key (ES256, EdDSA), unexpired, with a `jti` never used before on
//! this gateway; with upload checks on, the claims `epochs`/`max_epochs`,
//! `size`/`max_size` and `send_object_to` bound the request as Walrus's do.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{header, HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::walrus::WalrusError;

/// Walrus's claims (RFC 7519 with its storage parameters).
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    /// Issued at (Unix seconds).
    pub iat: Option<i64>,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The token's id: each is accepted once.
    pub jti: String,
    /// The only owner the upload may name.
    pub send_object_to: Option<String>,
    /// The exact epochs to store for.
    pub epochs: Option<u32>,
    /// The most epochs to store for.
    pub max_epochs: Option<u32>,
    /// The exact blob size.
    pub size: Option<u64>,
    /// The largest blob size.
    pub max_size: Option<u64>,
}

/// The publisher's token check.
pub struct Auth {
    key: DecodingKey,
    validation: Validation,
    /// The longest a token may live (`exp - iat`, seconds); 0: no bound.
    expiring_secs: u64,
    /// Whether the claims bound the upload.
    verify_upload: bool,
    /// Tokens used, by `jti`, until their expiry (then forgotten: they are refused anyway).
    used: Mutex<HashMap<String, i64>>,
}

fn unauthorized(reason: &'static str, message: impl Into<String>) -> WalrusError {
    WalrusError::with_status(StatusCode::UNAUTHORIZED, reason, message)
}

fn refused_claim(reason: &'static str, message: impl Into<String>) -> WalrusError {
    WalrusError::invalid(reason, message)
}

impl Auth {
    /// From `WAL_GATEWAY_JWT_SECRET` (HS256) or `WAL_GATEWAY_JWT_PUBLIC_KEY_FILE` (PEM,
    /// with `WAL_GATEWAY_JWT_ALGORITHM` ES256 or EdDSA), `WAL_GATEWAY_JWT_EXPIRING_SECS`
    /// (0) and `WAL_GATEWAY_JWT_VERIFY_UPLOAD` (false); `None` when neither key is set.
    pub fn from_env() -> Result<Option<Auth>, ConfigError> {
        let invalid = |name: &'static str, value: String, reason: String| ConfigError::Invalid {
            name,
            value,
            reason,
        };
        let algorithm = wal::env::text("WAL_GATEWAY_JWT_ALGORITHM", "HS256");
        let secret = std::env::var("WAL_GATEWAY_JWT_SECRET")
            .ok()
            .filter(|s| !s.is_empty());
        let public = std::env::var("WAL_GATEWAY_JWT_PUBLIC_KEY_FILE")
            .ok()
            .filter(|s| !s.is_empty());
        let (key, algorithm) = match (secret, public, algorithm.as_str()) {
            (None, None, _) => return Ok(None),
            (Some(secret), None, "HS256") => (DecodingKey::from_secret(secret.as_bytes()), Algorithm::HS256),
            (None, Some(file), "ES256" | "EdDSA") => {
                let pem = std::fs::read(&file).map_err(|e| invalid("WAL_GATEWAY_JWT_PUBLIC_KEY_FILE", file.clone(), e.to_string()))?;
                let parsed = if algorithm == "ES256" {
                    DecodingKey::from_ec_pem(&pem).map(|k| (k, Algorithm::ES256))
                } else {
                    DecodingKey::from_ed_pem(&pem).map(|k| (k, Algorithm::EdDSA))
                };
                parsed.map_err(|e| invalid("WAL_GATEWAY_JWT_PUBLIC_KEY_FILE", file, e.to_string()))?
            }
            (_, _, other) => {
                return Err(invalid(
                    "WAL_GATEWAY_JWT_ALGORITHM",
                    other.to_owned(),
                    "use HS256 with WAL_GATEWAY_JWT_SECRET, or ES256 or EdDSA with WAL_GATEWAY_JWT_PUBLIC_KEY_FILE (one of the two keys)".into(),
                ))
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.required_spec_claims = ["exp".to_owned()].into();
        Ok(Some(Auth {
            key,
            validation,
            expiring_secs: wal::env::parsed("WAL_GATEWAY_JWT_EXPIRING_SECS", 0)?,
            verify_upload: wal::env::parsed("WAL_GATEWAY_JWT_VERIFY_UPLOAD", false)?,
            used: Mutex::new(HashMap::new()),
        }))
    }

    /// The request's token, verified, its lifetime bounded, and spent (a second use of
    /// its `jti` is refused, even while the first upload runs).
    pub fn admit(&self, headers: &HeaderMap) -> Result<Claims, WalrusError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                unauthorized(
                    "MISSING_TOKEN",
                    "this publisher needs Authorization: Bearer <JWT>",
                )
            })?;
        let claims = jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    unauthorized("EXPIRED_TOKEN", "the token has expired")
                }
                _ => unauthorized("INVALID_TOKEN", format!("the token is not valid here: {e}")),
            })?
            .claims;
        if self.expiring_secs > 0 {
            let lifetime = claims.iat.map(|iat| claims.exp - iat);
            if lifetime.is_none_or(|l| l < 0 || l.unsigned_abs() > self.expiring_secs) {
                return Err(unauthorized(
                    "TOKEN_LIFETIME",
                    format!(
                        "tokens must carry iat and live at most {} s",
                        self.expiring_secs
                    ),
                ));
            }
        }
        self.spend(&claims)?;
        Ok(claims)
    }

    fn spend(&self, claims: &Claims) -> Result<(), WalrusError> {
        let now = i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
        .unwrap_or(i64::MAX);
        let mut used = self.used.lock().map_err(|_| {
            WalrusError::with_status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "the token cache is poisoned",
            )
        })?;
        used.retain(|_, exp| *exp >= now);
        if used.insert(claims.jti.clone(), claims.exp).is_some() {
            return Err(unauthorized(
                "TOKEN_REUSED",
                format!(
                    "token {} was used already; each token is good for one upload",
                    claims.jti
                ),
            ));
        }
        Ok(())
    }

    /// With upload checks on: the request's epochs and owner against the claims.
    pub fn check_request(
        &self,
        claims: &Claims,
        epochs: u32,
        owner: Option<&str>,
    ) -> Result<(), WalrusError> {
        if !self.verify_upload {
            return Ok(());
        }
        match (claims.epochs, claims.max_epochs) {
            (Some(_), Some(_)) => {
                return Err(refused_claim(
                    "INVALID_CLAIMS",
                    "the token names both epochs and max_epochs",
                ))
            }
            (Some(exact), None) if exact != epochs => {
                return Err(refused_claim(
                    "INVALID_EPOCHS",
                    format!("the token allows exactly {exact} epochs, not {epochs}"),
                ))
            }
            (None, Some(max)) if epochs > max => {
                return Err(refused_claim(
                    "INVALID_EPOCHS",
                    format!("the token allows at most {max} epochs, not {epochs}"),
                ))
            }
            _ => {}
        }
        if let Some(required) = &claims.send_object_to {
            if owner.is_none_or(|o| !o.eq_ignore_ascii_case(required)) {
                return Err(refused_claim(
                    "INVALID_SEND_OBJECT_TO",
                    format!("the token requires send_object_to={required}"),
                ));
            }
        }
        Ok(())
    }

    /// With upload checks on: the blob's size against the claims (once it is known).
    pub fn check_size(&self, claims: &Claims, size: u64) -> Result<(), WalrusError> {
        if !self.verify_upload {
            return Ok(());
        }
        match (claims.size, claims.max_size) {
            (Some(_), Some(_)) => Err(refused_claim(
                "INVALID_CLAIMS",
                "the token names both size and max_size",
            )),
            (Some(exact), None) if exact != size => Err(refused_claim(
                "INVALID_SIZE",
                format!("the token allows a blob of exactly {exact} bytes, not {size}"),
            )),
            (None, Some(max)) if size > max => Err(refused_claim(
                "INVALID_SIZE",
                format!("the token allows at most {max} bytes, not {size}"),
            )),
            _ => Ok(()),
        }
    }
}
