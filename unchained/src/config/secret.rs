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
/// `SECRET_KEY`, or with a development or short key among
/// `SECRET_KEY_FALLBACKS` (a fallback still verifies signatures, so a
/// guessable one forges sessions as well as a guessable `SECRET_KEY`);
/// other environments always pass.
pub fn check_production_secret(config: &Config) -> Result<(), ConfigError> {
    if !config.env().is_production() {
        return Ok(());
    }
    let core: CoreConfig = config.extract()?;
    let fix = "set a random key of at least 32 characters in the environment variable \
               UNCHAINED_SECRET_KEY (e.g. `openssl rand -hex 32`)";
    let Some(key) = core.secret_key else {
        return Err(ConfigError::Rule(format!(
            "SECRET_KEY is not set and UNCHAINED_ENV=production refuses to start without one: {fix}"
        )));
    };
    if let Some(problem) = weak_secret(&key) {
        return Err(ConfigError::Rule(format!(
            "SECRET_KEY (from {}) {problem} and UNCHAINED_ENV=production refuses it: {fix}",
            config.source_of("SECRET_KEY")
        )));
    }
    for (index, fallback) in core.secret_key_fallbacks.iter().enumerate() {
        if let Some(problem) = weak_secret(fallback) {
            return Err(ConfigError::Rule(format!(
                "SECRET_KEY_FALLBACKS[{index}] (from {}) {problem} and UNCHAINED_ENV=production \
                 refuses it, since a fallback still verifies signatures: remove it from \
                 SECRET_KEY_FALLBACKS (e.g. UNCHAINED_SECRET_KEY_FALLBACKS), or replace it with a \
                 random key of at least {MIN_PRODUCTION_SECRET_LEN} characters",
                config.source_of("SECRET_KEY_FALLBACKS")
            )));
        }
    }
    Ok(())
}

/// Why `key` is not fit for production (never showing the key), or
/// `None` when it is.
fn weak_secret(key: &SecretKey) -> Option<String> {
    if key.0.starts_with(DEV_SECRET_PREFIX) || key.0.starts_with("change-me") {
        return Some("is the development default".to_owned());
    }
    let len = key.0.chars().count();
    if len < MIN_PRODUCTION_SECRET_LEN {
        return Some(format!(
            "has {len} characters, production needs at least {MIN_PRODUCTION_SECRET_LEN},"
        ));
    }
    None
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

/// Masks the password of a URL such as `postgres://user:pw@host/db`, for
/// messages and logs that name a URL from config.
pub fn mask_url_password(text: &str) -> String {
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
