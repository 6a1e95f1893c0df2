//! The bundle's config keys and their defaults.

use serde::{Deserialize, Serialize};
use unchained::config::{Config, ConfigDefaults, ConfigError, Environment};

/// Config key of the database URL.
pub const DATABASE_URL: &str = "DATABASE_URL";

/// The database bundle's typed config (`Config::extract` reads only these
/// keys). Every key can be set in `unchained.toml` or as an environment
/// variable `UNCHAINED_<KEY>`. Each key is named once, here: the bundle's
/// config defaults are [`DatabaseConfig::for_url`] serialized.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// `DATABASE_PING_AFTER_IDLE`: seconds a pooled connection must have
    /// been idle before it is pinged on checkout (default 30). A connection
    /// in steady use is handed out without the extra round trip; one that
    /// sat idle long enough for a server, proxy or firewall to drop it is
    /// checked first. `0` pings on every checkout.
    #[serde(
        rename = "DATABASE_PING_AFTER_IDLE",
        default = "default_ping_after_idle"
    )]
    pub ping_after_idle: u64,
    /// `DATABASE_SQLITE_BUSY_TIMEOUT`: milliseconds SQLite waits for a lock
    /// held by another connection before failing with "database is locked".
    #[serde(
        rename = "DATABASE_SQLITE_BUSY_TIMEOUT",
        default = "default_busy_timeout"
    )]
    pub sqlite_busy_timeout: u64,
    /// `DATABASE_SQLITE_SYNCHRONOUS`: SQLite's `synchronous` setting,
    /// `NORMAL` (default), `FULL`, `EXTRA` or `OFF`. With the WAL journal
    /// this bundle uses, `NORMAL` syncs to disk at checkpoints rather than
    /// at every commit: a crash of the app loses nothing, a power cut may
    /// roll back the last commits. `FULL` syncs every commit (about ten
    /// times slower writes).
    #[serde(
        rename = "DATABASE_SQLITE_SYNCHRONOUS",
        default = "default_synchronous"
    )]
    pub sqlite_synchronous: SqliteSynchronous,
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
fn default_ping_after_idle() -> u64 {
    30
}
fn default_synchronous() -> SqliteSynchronous {
    SqliteSynchronous::Normal
}

/// Values of `DATABASE_SQLITE_SYNCHRONOUS` (SQLite's `PRAGMA synchronous`),
/// written in upper or lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// No syncing: fastest, a power cut may corrupt the database.
    #[serde(rename = "OFF", alias = "off")]
    Off,
    /// Sync at WAL checkpoints (the default).
    #[serde(rename = "NORMAL", alias = "normal")]
    Normal,
    /// Sync at every commit.
    #[serde(rename = "FULL", alias = "full")]
    Full,
    /// Like `FULL`, and also sync the directory after deleting a journal.
    #[serde(rename = "EXTRA", alias = "extra")]
    Extra,
}

impl SqliteSynchronous {
    /// The value as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteSynchronous::Off => "OFF",
            SqliteSynchronous::Normal => "NORMAL",
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Extra => "EXTRA",
        }
    }
}

/// The default `DATABASE_URL` for `env`: a SQLite file inside the project.
pub fn default_url(env: Environment) -> String {
    format!("sqlite:db/{}.sqlite", env.as_str())
}

/// The bundle's config defaults for `env`: every key at its default, the
/// URL a SQLite file named after the environment.
pub fn defaults(env: Environment) -> ConfigDefaults {
    ConfigDefaults::from_struct(&DatabaseConfig::for_url(default_url(env)))
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
            ping_after_idle: default_ping_after_idle(),
            sqlite_busy_timeout: default_busy_timeout(),
            sqlite_synchronous: default_synchronous(),
            echo: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_typed_config_serialized() {
        let defaults = defaults(Environment::Test);
        assert_eq!(defaults.keys().count(), 10);
        let config = Config::builder(Environment::Test)
            .defaults("unchained.bundles.database", defaults)
            .build();
        let read = DatabaseConfig::from_config(&config).unwrap();
        assert_eq!(
            format!("{read:?}"),
            format!("{:?}", DatabaseConfig::for_url("sqlite:db/test.sqlite"))
        );
    }
}
