//! Opening the connection pool from [`DatabaseConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

use crate::config::DatabaseConfig;

/// Why the database could not be opened. Every message names the URL
/// (password masked) and says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL's scheme is not one of sqlite, postgres, mysql.
    #[error(
        "DATABASE_URL {url}: unknown scheme `{scheme}`\nhint: use sqlite:path/to/file.sqlite, postgres://user@host/db or mysql://user@host/db"
    )]
    UnknownScheme {
        /// The URL, password masked.
        url: String,
        /// The scheme found.
        scheme: String,
    },
    /// The backend's driver was not compiled in.
    #[error(
        "DATABASE_URL {url}: this build has no {backend} driver\nhint: build with the `unchained` command and this URL set (e.g. `unchained build --release` with UNCHAINED_DATABASE_URL set): it turns on the `{feature}` feature of unchained-database in Cargo.toml"
    )]
    BackendNotEnabled {
        /// The URL, password masked.
        url: String,
        /// The backend's name.
        backend: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// The SQLite file's folder could not be created.
    #[error("DATABASE_URL {url}: cannot create the folder {folder}: {message}")]
    SqliteFolder {
        /// The URL.
        url: String,
        /// The folder.
        folder: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The server did not answer or refused the connection.
    #[error(
        "cannot connect to the database at DATABASE_URL {url}: {message}\nhint: check that the server is running and that DATABASE_URL (unchained.toml or UNCHAINED_DATABASE_URL) is right"
    )]
    Unreachable {
        /// The URL, password masked.
        url: String,
        /// The driver's message.
        message: String,
    },
}

/// The backend a URL names, from its scheme.
pub fn backend_of(url: &str) -> Result<DbBackend, ConnectError> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Ok(DbBackend::Sqlite),
        "postgres" | "postgresql" => Ok(DbBackend::Postgres),
        "mysql" | "mariadb" => Ok(DbBackend::MySql),
        _ => Err(ConnectError::UnknownScheme {
            url: mask_password(url),
            scheme,
        }),
    }
}

/// Replaces the password of a URL by `***`, for messages.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Makes the URL the driver understands: a relative SQLite path becomes
/// absolute under `root` (and its folder is created, so the file is created
/// on demand); `mariadb://` becomes `mysql://`.
pub fn resolve_url(url: &str, root: &Path) -> Result<String, ConnectError> {
    match backend_of(url)? {
        DbBackend::Sqlite => resolve_sqlite(url, root),
        DbBackend::MySql => Ok(match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        }),
        _ => Ok(url.to_owned()),
    }
}

fn resolve_sqlite(url: &str, root: &Path) -> Result<String, ConnectError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" {
        return Ok("sqlite::memory:".to_owned());
    }
    let path = Path::new(path);
    let path = if path.is_absolute() {
        path.to_owned()
    } else {
        root.join(path)
    };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(|e| ConnectError::SqliteFolder {
            url: url.to_owned(),
            folder: folder.to_owned(),
            message: e.to_string(),
        })?;
    }
    // `mode=rwc` creates the file on first use.
    let query = query.unwrap_or("mode=rwc");
    Ok(format!("sqlite://{}?{query}", path.display()))
}

/// The cargo feature that compiles `backend`'s driver, and whether it is on.
fn driver_enabled(backend: DbBackend) -> (&'static str, &'static str, bool) {
    match backend {
        DbBackend::Sqlite => ("SQLite", "sqlite", cfg!(feature = "sqlite")),
        DbBackend::Postgres => ("PostgreSQL", "postgres", cfg!(feature = "postgres")),
        _ => ("MySQL/MariaDB", "mysql", cfg!(feature = "mysql")),
    }
}

/// Opens the pool described by `config`, relative SQLite paths resolved
/// against the project `root`.
///
/// SQLite connections use WAL journaling (readers do not block the writer),
/// `DATABASE_SQLITE_SYNCHRONOUS` and `DATABASE_SQLITE_BUSY_TIMEOUT`.
pub async fn connect(
    config: &DatabaseConfig,
    root: &Path,
) -> Result<DatabaseConnection, ConnectError> {
    let backend = backend_of(&config.url)?;
    let (name, feature, enabled) = driver_enabled(backend);
    if !enabled {
        return Err(ConnectError::BackendNotEnabled {
            url: mask_password(&config.url),
            backend: name,
            feature,
        });
    }
    let url = resolve_url(&config.url, root)?;
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(config.max_connections.max(1))
        .min_connections(config.min_connections)
        .connect_timeout(Duration::from_secs(config.connect_timeout))
        .acquire_timeout(Duration::from_secs(config.acquire_timeout))
        .idle_timeout(Duration::from_secs(config.idle_timeout))
        .sqlx_logging(config.echo);
    // sqlx pings every connection it hands out by default: one more round
    // trip per query. Pinging only connections that sat idle keeps the
    // protection against dropped connections without that cost.
    if config.ping_after_idle == 0 {
        options.test_before_acquire(true);
    } else {
        options.test_before_acquire_if_idle_for(Duration::from_secs(config.ping_after_idle));
    }
    if backend == DbBackend::Sqlite {
        configure_sqlite(&mut options, &url, config);
    }
    let conn = Database::connect(options)
        .await
        .map_err(|e| ConnectError::Unreachable {
            url: mask_password(&config.url),
            message: e.to_string(),
        })?;
    // sqlx connects lazily for some backends: ping so that a wrong host or
    // password is reported here, not at the first request.
    conn.ping().await.map_err(|e| ConnectError::Unreachable {
        url: mask_password(&config.url),
        message: e.to_string(),
    })?;
    Ok(conn)
}

#[cfg(feature = "sqlite")]
fn configure_sqlite(options: &mut ConnectOptions, url: &str, config: &DatabaseConfig) {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous as Sync};
    let busy = Duration::from_millis(config.sqlite_busy_timeout);
    let synchronous = match config.sqlite_synchronous {
        crate::config::SqliteSynchronous::Off => Sync::Off,
        crate::config::SqliteSynchronous::Normal => Sync::Normal,
        crate::config::SqliteSynchronous::Full => Sync::Full,
        crate::config::SqliteSynchronous::Extra => Sync::Extra,
    };
    if url == "sqlite::memory:" {
        // Every connection to :memory: is a separate database: keep one.
        options.max_connections(1).min_connections(1);
        options
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>);
        options.map_sqlx_sqlite_opts(move |o| {
            o.busy_timeout(busy)
                .synchronous(synchronous)
                .foreign_keys(true)
        });
    } else {
        options.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(busy)
                .foreign_keys(true)
        });
    }
}

#[cfg(not(feature = "sqlite"))]
fn configure_sqlite(_: &mut ConnectOptions, _: &str, _: &DatabaseConfig) {}

/// Opens a pool for `url` with default pool options.
pub async fn connect_url(url: &str, root: &Path) -> Result<DatabaseConnection, ConnectError> {
    connect(&DatabaseConfig::for_url(url), root).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_map_to_backends() {
        assert_eq!(backend_of("sqlite:x.db").unwrap(), DbBackend::Sqlite);
        assert_eq!(
            backend_of("postgresql://a@b/c").unwrap(),
            DbBackend::Postgres
        );
        assert_eq!(backend_of("mariadb://a@b/c").unwrap(), DbBackend::MySql);
        let err = backend_of("oracle://u:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scheme `oracle`"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("postgres://u:pw@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(mask_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(mask_password("sqlite:a.db"), "sqlite:a.db");
    }

    #[test]
    fn relative_sqlite_paths_are_under_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let url = resolve_url("sqlite:db/development.sqlite", dir.path()).unwrap();
        let expected = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db/development.sqlite").display()
        );
        assert_eq!(url, expected);
        assert!(dir.path().join("db").is_dir());
        assert_eq!(
            resolve_url("sqlite::memory:", dir.path()).unwrap(),
            "sqlite::memory:"
        );
        assert_eq!(
            resolve_url("mariadb://root@127.0.0.1/test", dir.path()).unwrap(),
            "mysql://root@127.0.0.1/test"
        );
    }
}
