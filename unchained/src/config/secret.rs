//! Secrets in config: masking for display, and the production check.

use figment::value::Value;
use serde::Deserialize;

use super::{Config, ConfigError};

/// Prefix of the development keys that `unchained new` writes; production
/// refuses them.
pub const DEV_SECRET_PREFIX: &str = "dev-insecure-";

/// Shortest `SECRET_KEY` production accepts, in characters.
pub const MIN_PRODUCTION_SECRET_LEN: usize = 32;

/// The framework's own config keys.
#[derive(Debug, Clone, Deserialize)]
pub struct CoreConfig {
    /// Signs cookies and tokens. Required in production.
    #[serde(rename = "SECRET_KEY", default)]
    pub secret_key: Option<SecretKey>,
    /// Older keys that still verify signatures, newest first.
    #[serde(rename = "SECRET_KEY_FALLBACKS", default)]
    pub secret_key_fallbacks: Vec<SecretKey>,
}

/// A secret string that never prints its value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretKey(String);

impl SecretKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        SecretKey(key.into())
    }

    /// The key's bytes, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Refuses to run production with a missing, development or short
/// `SECRET_KEY`; other environments always pass.
pub fn check_production_secret(config: &Config) -> Result<(), ConfigError> {
    if !config.env().is_production() {
        return Ok(());
    }
    let core: CoreConfig = config.extract()?;
    let fix = "set a random key of at least 32 characters in the environment variable \
               UNCHAINED_SECRET_KEY (e.g. `openssl rand -hex 32`)";
    match core.secret_key {
        None => Err(ConfigError::Rule(format!(
            "SECRET_KEY is not set and UNCHAINED_ENV=production refuses to start without one: {fix}"
        ))),
        Some(key) if key.0.starts_with(DEV_SECRET_PREFIX) || key.0.starts_with("change-me") => {
            Err(ConfigError::Rule(format!(
                "SECRET_KEY (from {}) is the development default and UNCHAINED_ENV=production refuses it: {fix}",
                config.source_of("SECRET_KEY")
            )))
        }
        Some(key) if key.0.chars().count() < MIN_PRODUCTION_SECRET_LEN => {
            Err(ConfigError::Rule(format!(
                "SECRET_KEY (from {}) has {} characters, production needs at least {MIN_PRODUCTION_SECRET_LEN}: {fix}",
                config.source_of("SECRET_KEY"),
                key.0.chars().count()
            )))
        }
        Some(_) => Ok(()),
    }
}

/// Whether a key's name marks it as a secret.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    ["SECRET", "PASSWORD", "TOKEN", "PRIVATE"]
        .iter()
        .any(|word| key.contains(word))
}

/// Masks a secret value entirely, keeping only its shape.
pub(crate) fn mask(value: &Value) -> String {
    match value {
        Value::Array(_, items) => format!("[{}]", vec!["\"********\""; items.len()].join(", ")),
        Value::Empty(_, _) => "(empty)".to_owned(),
        _ => "\"********\"".to_owned(),
    }
}

/// Masks the password of a URL such as `postgres://user:pw@host/db`.
pub(crate) fn mask_url_password(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_owned();
    };
    let Some(colon) = rest[..at].find(':') else {
        return text.to_owned();
    };
    format!(
        "{}{}:********{}",
        &text[..scheme_end + 3],
        &rest[..colon],
        &rest[at..]
    )
}
