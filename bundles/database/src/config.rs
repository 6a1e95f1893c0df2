//! The bundle's config keys and their defaults.

use serde::Deserialize;
use unchained::config::{Config, ConfigDefaults, ConfigError, Environment};

/// Config key of the database URL.
pub const DATABASE_URL: &str = "DATABASE_URL";

/// The database bundle's typed config (`Config::extract` reads only these
/// keys). Every key can be set in `unchained.toml` or as an environment
/// variable `UNCHAINED_<KEY>`.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: `sqlite:db/development.sqlite` (relative paths are
    /// relative to the project root), `postgres://user@host/db` or
    /// `mysql://user@host/db`.
    #[serde(rename = "DATABASE_URL")]
    pub url: String,
    /// `DATABASE_MAX_CONNECTIONS`: the pool's maximum size.
    #[serde(
        rename = "DATABASE_MAX_CONNECTIONS",
        default = "default_max_connections"
    )]
    pub max_connections: u32,
    /// `DATABASE_MIN_CONNECTIONS`: connections the pool keeps open.
    #[serde(rename = "DATABASE_MIN_CONNECTIONS", default)]
    pub min_connections: u32,
    /// `DATABASE_CONNECT_TIMEOUT`: seconds to wait for a new connection.
    #[serde(
        rename = "DATABASE_CONNECT_TIMEOUT",
        default = "default_connect_timeout"
    )]
    pub connect_timeout: u64,
    /// `DATABASE_ACQUIRE_TIMEOUT`: seconds to wait for a free pooled
    /// connection.
    #[serde(
        rename = "DATABASE_ACQUIRE_TIMEOUT",
        default = "default_acquire_timeout"
    )]
    pub acquire_timeout: u64,
    /// `DATABASE_IDLE_TIMEOUT`: seconds after which an idle connection is
    /// closed.
    #[serde(rename = "DATABASE_IDLE_TIMEOUT", default = "default_idle_timeout")]
    pub idle_timeout: u64,
    /// `DATABASE_SQLITE_BUSY_TIMEOUT`: milliseconds SQLite waits for a lock
    /// held by another connection before failing with "database is locked".
    #[serde(
        rename = "DATABASE_SQLITE_BUSY_TIMEOUT",
        default = "default_busy_timeout"
    )]
    pub sqlite_busy_timeout: u64,
    /// `DATABASE_ECHO`: log every SQL statement (through `tracing`).
    #[serde(rename = "DATABASE_ECHO", default)]
    pub echo: bool,
}

fn default_max_connections() -> u32 {
    10
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_acquire_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    600
}
fn default_busy_timeout() -> u64 {
    5000
}

/// The default `DATABASE_URL` for `env`: a SQLite file inside the project.
pub fn default_url(env: Environment) -> String {
    format!("sqlite:db/{}.sqlite", env.as_str())
}

/// The bundle's config defaults for `env`.
pub fn defaults(env: Environment) -> ConfigDefaults {
    ConfigDefaults::new()
        .set(DATABASE_URL, default_url(env))
        .set("DATABASE_MAX_CONNECTIONS", default_max_connections())
        .set("DATABASE_MIN_CONNECTIONS", 0)
        .set("DATABASE_CONNECT_TIMEOUT", default_connect_timeout())
        .set("DATABASE_ACQUIRE_TIMEOUT", default_acquire_timeout())
        .set("DATABASE_IDLE_TIMEOUT", default_idle_timeout())
        .set("DATABASE_SQLITE_BUSY_TIMEOUT", default_busy_timeout())
        .set("DATABASE_ECHO", false)
}

impl DatabaseConfig {
    /// Reads the bundle's keys from the merged config; the error names the
    /// key, the value and where it came from.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        config.extract()
    }

    /// A config for `url` with every other key at its default (for tests
    /// and tools that have no project).
    pub fn for_url(url: impl Into<String>) -> Self {
        DatabaseConfig {
            url: url.into(),
            max_connections: default_max_connections(),
            min_connections: 0,
            connect_timeout: default_connect_timeout(),
            acquire_timeout: default_acquire_timeout(),
            idle_timeout: default_idle_timeout(),
            sqlite_busy_timeout: default_busy_timeout(),
            echo: false,
        }
    }
}
