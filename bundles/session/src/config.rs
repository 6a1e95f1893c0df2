//! [`SessionConfig`]: the session options, under Flask-Session's names.
//!
//! Every field reads the key Flask-Session documents, so its documentation
//! carries over; durations are whole seconds, as Flask accepts them.
//!
//! ```
//! use unchained_session::config::{SessionConfig, SessionType};
//!
//! let config = SessionConfig {
//!     session_type: Some(SessionType::Memory),
//!     ..SessionConfig::default()
//! };
//! assert_eq!(config.cookie_name, "session");
//! assert!(config.validate().is_ok());
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where sessions are kept (`SESSION_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SessionType {
    /// Nothing is kept: reading gives an empty session, writing is an error.
    Null,
    /// In this process's memory: tests and single-process development.
    Memory,
    /// One file per session under `SESSION_FILE_DIR`.
    Filesystem,
    /// Redis at `SESSION_REDIS`, with native expiry.
    Redis,
    /// A SQL table through SeaORM (SQLite, PostgreSQL, MySQL/MariaDB); the
    /// name is Flask-Session's, kept so its documentation carries over.
    #[serde(alias = "sql", alias = "database")]
    Sqlalchemy,
}

impl SessionType {
    /// The value as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionType::Null => "null",
            SessionType::Memory => "memory",
            SessionType::Filesystem => "filesystem",
            SessionType::Redis => "redis",
            SessionType::Sqlalchemy => "sqlalchemy",
        }
    }
}

/// How the session's data is serialized (`SESSION_SERIALIZATION_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SerializationFormat {
    /// MessagePack: compact and fast (the default).
    #[default]
    Msgpack,
    /// JSON: readable in the store.
    Json,
}

/// The cookie's `SameSite` attribute (`SESSION_COOKIE_SAMESITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[non_exhaustive]
pub enum SameSite {
    /// Sent only on same-site requests.
    #[serde(alias = "strict", alias = "STRICT")]
    Strict,
    /// Sent on same-site requests and top-level navigations (the default).
    #[default]
    #[serde(alias = "lax", alias = "LAX")]
    Lax,
    /// Sent on every request; browsers require `Secure` with it.
    #[serde(alias = "none", alias = "NONE")]
    None,
}

impl SameSite {
    /// The attribute's value in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// Share of the idle lifetime that must have passed since the last write
/// before a read-only request refreshes the expiry (see the docs).
pub const REFRESH_SHARE: u32 = 10;

/// Every option of the session bundle: each key is written once, here
/// (its name in `rename`, its default in [`SessionConfig::default`], its
/// meaning in the field's docs). The bundle's config defaults are this
/// struct serialized, so the two cannot disagree.
///
/// Missing keys take the defaults of [`SessionConfig::default`]; the bundle
/// sets `SESSION_COOKIE_SECURE = true` in production.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SessionConfig {
    /// `SESSION_TYPE`. `None` picks `sqlalchemy` when the database bundle
    /// is loaded, else `memory`.
    #[serde(rename = "SESSION_TYPE")]
    pub session_type: Option<SessionType>,
    /// `SESSION_PERMANENT`: the cookie outlives the browser (`Max-Age`).
    #[serde(rename = "SESSION_PERMANENT")]
    pub permanent: bool,
    /// `PERMANENT_SESSION_LIFETIME`: idle lifetime, in seconds.
    #[serde(
        rename = "PERMANENT_SESSION_LIFETIME",
        deserialize_with = "seconds",
        serialize_with = "ser_seconds"
    )]
    pub lifetime: Duration,
    /// `SESSION_ABSOLUTE_LIFETIME`: lifetime from creation however active
    /// the session is, in seconds; unset means none.
    #[serde(
        rename = "SESSION_ABSOLUTE_LIFETIME",
        deserialize_with = "opt_seconds",
        serialize_with = "ser_opt_seconds"
    )]
    pub absolute_lifetime: Option<Duration>,
    /// `SESSION_REFRESH_EACH_REQUEST`: read-only requests push the expiry
    /// forward (throttled, see [`REFRESH_SHARE`]).
    #[serde(rename = "SESSION_REFRESH_EACH_REQUEST")]
    pub refresh_each_request: bool,
    /// `SESSION_USE_SIGNER`: sign the cookie with `SECRET_KEY`.
    #[serde(rename = "SESSION_USE_SIGNER")]
    pub use_signer: bool,
    /// `SESSION_KEY_PREFIX`: prefix of Redis keys.
    #[serde(rename = "SESSION_KEY_PREFIX")]
    pub key_prefix: String,
    /// `SESSION_ID_LENGTH`: random bytes in a session id (at least 16).
    #[serde(rename = "SESSION_ID_LENGTH")]
    pub id_length: usize,
    /// `SESSION_SERIALIZATION_FORMAT`: `msgpack` or `json`.
    #[serde(rename = "SESSION_SERIALIZATION_FORMAT")]
    pub serialization_format: SerializationFormat,
    /// `SESSION_SQLALCHEMY_TABLE`: the SQL table's name.
    #[serde(rename = "SESSION_SQLALCHEMY_TABLE")]
    pub sql_table: String,
    /// `SESSION_REDIS`: Redis URL, e.g. `redis://127.0.0.1:6379/0`; with
    /// `SESSION_REDIS_CLUSTER`, the URLs of one or more of the cluster's
    /// nodes, separated by commas (see [`SessionConfig::redis_urls`]).
    /// In a config file the cluster's URLs may also be an array of strings.
    #[serde(rename = "SESSION_REDIS", deserialize_with = "url_list")]
    pub redis_url: String,
    /// `SESSION_REDIS_CLUSTER`: `SESSION_REDIS` names a Redis Cluster
    /// (`cluster-enabled yes`); the client finds the other nodes itself.
    #[serde(rename = "SESSION_REDIS_CLUSTER")]
    pub redis_cluster: bool,
    /// `SESSION_FILE_DIR`: folder of the filesystem store.
    #[serde(rename = "SESSION_FILE_DIR")]
    pub file_dir: PathBuf,
    /// `SESSION_FILE_MODE`: permission bits of session files (`0o600`);
    /// an integer or an octal string such as `"0600"`.
    #[serde(rename = "SESSION_FILE_MODE", deserialize_with = "file_mode")]
    pub file_mode: u32,
    /// `SESSION_CLEANUP_N_REQUESTS`: every Nth request starts a cleanup of
    /// expired records in the background; unset means never.
    #[serde(rename = "SESSION_CLEANUP_N_REQUESTS")]
    pub cleanup_n_requests: Option<u64>,
    /// `SESSION_CLEANUP_INTERVAL`: seconds between runs of the periodic
    /// cleanup of expired records (default 3600; `0` turns it off). It
    /// runs in the background of every app process, the first run at
    /// startup; with the jobs bundle listed it is instead the
    /// `session.cleanup` job, run by one worker per interval.
    #[serde(
        rename = "SESSION_CLEANUP_INTERVAL",
        deserialize_with = "seconds_or_off",
        serialize_with = "ser_seconds_or_off"
    )]
    pub cleanup_interval: Option<Duration>,
    /// `SESSION_CLEANUP_BATCH_SIZE`: records deleted per cleanup statement
    /// (default 200: small enough that a batch never holds a SQLite
    /// writer, or a CPU shared with the app, for more than a few ms).
    #[serde(rename = "SESSION_CLEANUP_BATCH_SIZE")]
    pub cleanup_batch_size: u64,
    /// `SESSION_COOKIE_NAME`; a `__Host-` name forces `Secure`, `Path=/`
    /// and no `Domain`.
    #[serde(rename = "SESSION_COOKIE_NAME")]
    pub cookie_name: String,
    /// `SESSION_COOKIE_DOMAIN`; unset means the host only.
    #[serde(rename = "SESSION_COOKIE_DOMAIN")]
    pub cookie_domain: Option<String>,
    /// `SESSION_COOKIE_PATH`.
    #[serde(rename = "SESSION_COOKIE_PATH")]
    pub cookie_path: String,
    /// `SESSION_COOKIE_HTTPONLY`.
    #[serde(rename = "SESSION_COOKIE_HTTPONLY")]
    pub cookie_httponly: bool,
    /// `SESSION_COOKIE_SECURE`; the bundle turns it on in production.
    #[serde(rename = "SESSION_COOKIE_SECURE")]
    pub cookie_secure: bool,
    /// `SESSION_COOKIE_SAMESITE`: `Strict`, `Lax` or `None`.
    #[serde(rename = "SESSION_COOKIE_SAMESITE")]
    pub cookie_samesite: SameSite,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            session_type: None,
            permanent: true,
            lifetime: Duration::from_secs(31 * 24 * 3600),
            absolute_lifetime: None,
            refresh_each_request: true,
            use_signer: false,
            key_prefix: "session:".to_owned(),
            id_length: 32,
            serialization_format: SerializationFormat::Msgpack,
            sql_table: "flask_sessions".to_owned(),
            redis_url: "redis://127.0.0.1:6379/0".to_owned(),
            redis_cluster: false,
            file_dir: PathBuf::from("flask_session"),
            file_mode: 0o600,
            cleanup_n_requests: None,
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            cleanup_batch_size: 200,
            cookie_name: "session".to_owned(),
            cookie_domain: None,
            cookie_path: "/".to_owned(),
            cookie_httponly: true,
            cookie_secure: false,
            cookie_samesite: SameSite::Lax,
        }
    }
}

/// Default `SESSION_CLEANUP_INTERVAL`: hourly keeps a table of expired
/// rows small without the cleanup showing up next to the app's own work.
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(3600);

/// Smallest `SESSION_ID_LENGTH`: 16 bytes are 128 bits of randomness.
pub const MIN_ID_BYTES: usize = 16;
/// Largest `SESSION_ID_LENGTH`, so the cookie stays small.
pub const MAX_ID_BYTES: usize = 96;

impl SessionConfig {
    /// Checks values that are each valid but wrong together; the message
    /// names the key and how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_ID_BYTES..=MAX_ID_BYTES).contains(&self.id_length) {
            return Err(ConfigError::IdLength(self.id_length));
        }
        if self.lifetime.is_zero() {
            return Err(ConfigError::ZeroLifetime);
        }
        if self.absolute_lifetime.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroAbsoluteLifetime);
        }
        if self.cleanup_batch_size == 0 {
            return Err(ConfigError::ZeroCleanupBatchSize);
        }
        if self.cleanup_n_requests == Some(0) {
            return Err(ConfigError::ZeroCleanupRequests);
        }
        if self.cookie_name.is_empty()
            || !self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        {
            return Err(ConfigError::CookieName(self.cookie_name.clone()));
        }
        if self.cookie_name.starts_with("__Host-") {
            if self.cookie_domain.is_some() {
                return Err(ConfigError::HostCookieDomain(self.cookie_name.clone()));
            }
            if self.cookie_path != "/" {
                return Err(ConfigError::HostCookiePath(self.cookie_name.clone()));
            }
        }
        if !self.key_prefix.is_empty() && self.key_prefix.contains(char::is_whitespace) {
            return Err(ConfigError::KeyPrefixWhitespace);
        }
        let urls = self.redis_urls();
        if urls.iter().any(|url| url.is_empty()) {
            return Err(ConfigError::RedisUrlEmpty(self.redis_url.clone()));
        }
        if !self.redis_cluster && urls.len() > 1 {
            return Err(ConfigError::RedisUrlList(urls.len()));
        }
        if self.sql_table.is_empty()
            || !self
                .sql_table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ConfigError::SqlTable(self.sql_table.clone()));
        }
        Ok(())
    }

    /// The URLs in `SESSION_REDIS`: the one URL, or the cluster nodes'
    /// URLs, split at commas and trimmed (an empty entry stays empty, for
    /// [`validate`](Self::validate) to refuse).
    pub fn redis_urls(&self) -> Vec<&str> {
        self.redis_url.split(',').map(str::trim).collect()
    }

    /// Whether the cookie carries `Secure`: configured, or forced by a
    /// `__Host-`/`__Secure-` name or `SameSite=None`.
    pub fn effective_secure(&self) -> bool {
        self.cookie_secure
            || self.cookie_name.starts_with("__Host-")
            || self.cookie_name.starts_with("__Secure-")
            || self.cookie_samesite == SameSite::None
    }
}

/// A session config that cannot work: each message names the key and how
/// to fix it. Returned by [`SessionConfig::validate`] and
/// `SessionManager::new`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `SESSION_ID_LENGTH` is outside 16..=96 bytes.
    #[error(
        "SESSION_ID_LENGTH = {0} is out of range: use {min} to {max} random bytes \
         (16 bytes are 128 bits)",
        min = MIN_ID_BYTES,
        max = MAX_ID_BYTES
    )]
    IdLength(usize),
    /// `PERMANENT_SESSION_LIFETIME` is zero.
    #[error("PERMANENT_SESSION_LIFETIME must be at least 1 second")]
    ZeroLifetime,
    /// `SESSION_ABSOLUTE_LIFETIME` is zero.
    #[error("SESSION_ABSOLUTE_LIFETIME must be at least 1 second, or unset for none")]
    ZeroAbsoluteLifetime,
    /// `SESSION_CLEANUP_BATCH_SIZE` is zero.
    #[error("SESSION_CLEANUP_BATCH_SIZE must be at least 1")]
    ZeroCleanupBatchSize,
    /// `SESSION_CLEANUP_N_REQUESTS` is zero.
    #[error("SESSION_CLEANUP_N_REQUESTS must be at least 1, or unset for never")]
    ZeroCleanupRequests,
    /// `SESSION_COOKIE_NAME` (the value) is not a cookie name.
    #[error("SESSION_COOKIE_NAME = {0:?} is not a valid cookie name: use letters, digits and -_.")]
    CookieName(String),
    /// A `__Host-` cookie (the name) with `SESSION_COOKIE_DOMAIN` set.
    #[error(
        "SESSION_COOKIE_NAME = {0:?} is a __Host- cookie, which browsers reject with a Domain: \
         unset SESSION_COOKIE_DOMAIN"
    )]
    HostCookieDomain(String),
    /// A `__Host-` cookie (the name) with a path other than `/`.
    #[error(
        "SESSION_COOKIE_NAME = {0:?} is a __Host- cookie, which needs SESSION_COOKIE_PATH = \"/\""
    )]
    HostCookiePath(String),
    /// `SESSION_KEY_PREFIX` contains whitespace.
    #[error("SESSION_KEY_PREFIX must not contain whitespace")]
    KeyPrefixWhitespace,
    /// `SESSION_REDIS` (the value) is empty or has an empty entry in its
    /// list of URLs.
    #[error(
        "SESSION_REDIS = {0:?} has an empty URL: give one Redis URL such as \
         redis://127.0.0.1:6379/0, or (with SESSION_REDIS_CLUSTER = true) cluster nodes' URLs \
         separated by commas"
    )]
    RedisUrlEmpty(String),
    /// `SESSION_REDIS` lists several URLs (how many) without
    /// `SESSION_REDIS_CLUSTER`.
    #[error(
        "SESSION_REDIS lists {0} URLs, but a list names the nodes of a Redis Cluster: set \
         SESSION_REDIS_CLUSTER = true for a cluster, or give one URL for one Redis server"
    )]
    RedisUrlList(usize),
    /// `SESSION_SQLALCHEMY_TABLE` (the value) is not a plain table name.
    #[error(
        "SESSION_SQLALCHEMY_TABLE = {0:?} is not a plain table name: use letters, digits and _"
    )]
    SqlTable(String),
    /// `SESSION_USE_SIGNER` is on but no cookie signer was given.
    #[error("SESSION_USE_SIGNER is on but no SECRET_KEY is set: set SECRET_KEY")]
    MissingSigner,
}

fn ser_seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

fn ser_opt_seconds<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = u64::deserialize(d)?;
    Ok(Duration::from_secs(secs))
}

fn opt_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let secs = Option::<u64>::deserialize(d)?;
    Ok(secs.map(Duration::from_secs))
}

/// Seconds where `0` means "off" (`SESSION_CLEANUP_INTERVAL`).
fn seconds_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let secs = Option::<u64>::deserialize(d)?;
    Ok(secs.filter(|&s| s > 0).map(Duration::from_secs))
}

fn ser_seconds_or_off<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.map_or(0, |d| d.as_secs()))
}

/// One string, or an array of strings joined with commas.
fn url_list<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Urls {
        One(String),
        List(Vec<String>),
    }
    match Urls::deserialize(d) {
        Ok(Urls::One(url)) => Ok(url),
        Ok(Urls::List(urls)) => Ok(urls.join(",")),
        Err(_) => Err(serde::de::Error::custom(
            "expected a Redis URL, or (for a cluster) URLs separated by commas or an array of URLs",
        )),
    }
}

fn file_mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Mode {
        Int(u32),
        Text(String),
    }
    let mode = match Mode::deserialize(d)? {
        Mode::Int(n) => n,
        Mode::Text(text) => {
            let digits = text.trim().trim_start_matches("0o");
            u32::from_str_radix(digits, 8).map_err(|_| {
                serde::de::Error::custom(format!(
                    "{text:?} is not an octal file mode such as \"0600\""
                ))
            })?
        }
    };
    if mode > 0o777 {
        return Err(serde::de::Error::custom(format!(
            "{mode:o} is not a file mode: use permission bits such as 0600"
        )));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_flask_like() {
        let config = SessionConfig::default();
        assert!(config.validate().is_ok());
        assert_eq!(config.sql_table, "flask_sessions");
        assert_eq!(config.lifetime, Duration::from_secs(2_678_400));
        assert!(config.cookie_httponly);
        assert_eq!(config.cookie_samesite, SameSite::Lax);
        assert_eq!(config.serialization_format, SerializationFormat::Msgpack);
    }

    #[test]
    fn short_ids_are_refused() {
        let config = SessionConfig {
            id_length: 8,
            ..SessionConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err, ConfigError::IdLength(8));
        assert_eq!(
            err.to_string(),
            "SESSION_ID_LENGTH = 8 is out of range: use 16 to 96 random bytes (16 bytes are 128 bits)"
        );
    }

    #[test]
    fn host_prefix_forces_secure_and_refuses_domain() {
        let mut config = SessionConfig {
            cookie_name: "__Host-session".into(),
            ..SessionConfig::default()
        };
        assert!(config.effective_secure());
        config.cookie_domain = Some("example.com".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("Domain"), "{err}");
    }

    #[test]
    fn reads_flask_names_from_json() {
        let config: SessionConfig = serde_json::from_value(serde_json::json!({
            "SESSION_TYPE": "redis",
            "PERMANENT_SESSION_LIFETIME": 60,
            "SESSION_FILE_MODE": "0640",
            "SESSION_COOKIE_SAMESITE": "Strict",
            "SESSION_SERIALIZATION_FORMAT": "json",
        }))
        .unwrap();
        assert_eq!(config.session_type, Some(SessionType::Redis));
        assert_eq!(config.lifetime, Duration::from_secs(60));
        assert_eq!(config.file_mode, 0o640);
        assert_eq!(config.cookie_samesite, SameSite::Strict);
        assert_eq!(config.serialization_format, SerializationFormat::Json);
    }

    #[test]
    fn redis_lists_need_the_cluster_key() {
        let mut config = SessionConfig {
            redis_url: "redis://10.0.0.1:7000, redis://10.0.0.2:7000".into(),
            ..SessionConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert_eq!(err, ConfigError::RedisUrlList(2));
        assert!(
            err.to_string().contains("SESSION_REDIS_CLUSTER = true"),
            "{err}"
        );
        config.redis_cluster = true;
        assert!(config.validate().is_ok());
        assert_eq!(
            config.redis_urls(),
            ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]
        );
        config.redis_url = "redis://10.0.0.1:7000,".into();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.starts_with("SESSION_REDIS = "), "{err}");
        config.redis_url = String::new();
        assert!(config.validate().is_err());
    }

    #[test]
    fn reads_the_cluster_key() {
        let config: SessionConfig = serde_json::from_value(serde_json::json!({
            "SESSION_REDIS": "redis://10.0.0.1:7000,redis://10.0.0.2:7000",
            "SESSION_REDIS_CLUSTER": true,
        }))
        .unwrap();
        assert!(config.redis_cluster);
        assert!(!SessionConfig::default().redis_cluster);
        let listed: SessionConfig = serde_json::from_value(serde_json::json!({
            "SESSION_REDIS": ["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"],
        }))
        .unwrap();
        assert_eq!(listed.redis_url, config.redis_url);
        let err = serde_json::from_value::<SessionConfig>(serde_json::json!({"SESSION_REDIS": 7}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a Redis URL"), "{err}");
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_type_is_an_error_naming_the_choices() {
        let err =
            serde_json::from_value::<SessionConfig>(serde_json::json!({"SESSION_TYPE": "rediss"}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("redis"), "{err}");
    }
}
