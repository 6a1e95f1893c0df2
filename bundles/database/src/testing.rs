//! [`TestDatabase`]: each test gets its own fresh database, so tests run in
//! parallel (feature `testing`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use unchained_database::testing::TestDatabase;
//! let db = TestDatabase::sqlite().await?;
//! // db.url() for the app's DATABASE_URL, db.connection() for queries
//! db.cleanup().await?;
//! # Ok(()) }
//! ```
//!
//! PostgreSQL and MySQL/MariaDB databases are created on 127.0.0.1 through
//! an admin URL (`UNCHAINED_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; `UNCHAINED_TEST_MYSQL_URL`,
//! default `mysql://root@127.0.0.1:3306/test`) and dropped by
//! [`TestDatabase::cleanup`], or on drop.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use crate::connect::connect_url;

/// Default admin URL of the test PostgreSQL server.
pub const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Default admin URL of the test MySQL/MariaDB server.
pub const DEFAULT_MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, uniquely named database for one test.
pub struct TestDatabase {
    backend: DbBackend,
    url: String,
    name: String,
    admin_url: Option<String>,
    connection: Option<DatabaseConnection>,
    // Keeps the SQLite file's folder alive as long as the database.
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A name no other test process or test uses at the same time.
fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "unchained_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replaces the database (path) part of a server URL.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

impl TestDatabase {
    /// A SQLite file in a fresh temporary folder.
    pub async fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("create a temporary folder for the test database")?;
        let path = dir.path().join("test.sqlite");
        let url = format!("sqlite:{}", path.display());
        let connection = connect_url(&url, dir.path()).await?;
        Ok(TestDatabase {
            backend: DbBackend::Sqlite,
            url,
            name: path.display().to_string(),
            admin_url: None,
            connection: Some(connection),
            _dir: Some(dir),
        })
    }

    /// A new database on the PostgreSQL server of `UNCHAINED_TEST_POSTGRES_URL`.
    pub async fn postgres() -> anyhow::Result<Self> {
        let admin = std::env::var("UNCHAINED_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_ADMIN_URL.to_owned());
        Self::on_server(DbBackend::Postgres, admin).await
    }

    /// A new database on the MySQL/MariaDB server of `UNCHAINED_TEST_MYSQL_URL`.
    pub async fn mysql() -> anyhow::Result<Self> {
        let admin = std::env::var("UNCHAINED_TEST_MYSQL_URL")
            .unwrap_or_else(|_| DEFAULT_MYSQL_ADMIN_URL.to_owned());
        Self::on_server(DbBackend::MySql, admin).await
    }

    /// `"sqlite"`, `"postgres"` (or `"postgresql"`) or `"mysql"` (or
    /// `"mariadb"`), e.g. from a test matrix.
    pub async fn from_backend_name(name: &str) -> anyhow::Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sqlite" => Self::sqlite().await,
            "postgres" | "postgresql" => Self::postgres().await,
            "mysql" | "mariadb" => Self::mysql().await,
            other => anyhow::bail!(
                "unknown test database backend `{other}`: use sqlite, postgres or mysql"
            ),
        }
    }

    async fn on_server(backend: DbBackend, admin_url: String) -> anyhow::Result<Self> {
        let name = unique_name();
        let admin = connect_url(&admin_url, std::path::Path::new("."))
            .await
            .with_context(|| {
                format!(
                    "create a test database through {}",
                    crate::connect::mask_password(&admin_url)
                )
            })?;
        let create = match backend {
            DbBackend::MySql => {
                format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            }
            _ => format!("CREATE DATABASE \"{name}\""),
        };
        admin
            .execute_unprepared(&create)
            .await
            .with_context(|| format!("run {create}"))?;
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        let connection = match connect_url(&url, std::path::Path::new(".")).await {
            Ok(connection) => connection,
            Err(e) => {
                drop_server_database(backend, &admin_url, &name).await.ok();
                return Err(e.into());
            }
        };
        Ok(TestDatabase {
            backend,
            url,
            name,
            admin_url: Some(admin_url),
            connection: Some(connection),
            _dir: None,
        })
    }

    /// The URL to put in `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name (the SQLite file's path for SQLite).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The backend.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// A pool connected to the database.
    pub fn connection(&self) -> &DatabaseConnection {
        // Only `cleanup` and `drop` take the connection, and both consume
        // `self`, so it is always there while `&self` exists.
        self.connection.as_ref().unwrap_or_else(|| {
            unreachable!("the connection is only taken when the database is consumed")
        })
    }

    /// Closes the pool and drops the database (removes the folder for
    /// SQLite), reporting any error.
    pub async fn cleanup(mut self) -> anyhow::Result<()> {
        if let Some(connection) = self.connection.take() {
            let _ = connection.close().await;
        }
        if let Some(admin_url) = self.admin_url.take() {
            drop_server_database(self.backend, &admin_url, &self.name).await?;
        }
        Ok(())
    }
}

async fn drop_server_database(
    backend: DbBackend,
    admin_url: &str,
    name: &str,
) -> anyhow::Result<()> {
    let admin = connect_url(admin_url, std::path::Path::new(".")).await?;
    let drop = match backend {
        DbBackend::MySql => format!("DROP DATABASE IF EXISTS `{name}`"),
        // FORCE ends connections a test left open (PostgreSQL 13+).
        _ => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    };
    admin
        .execute_unprepared(&drop)
        .await
        .with_context(|| format!("run {drop}"))?;
    let _ = admin.close().await;
    Ok(())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.take() else {
            return;
        };
        // The pool belongs to the test's runtime: drop it here rather than
        // closing it from another runtime.
        drop(self.connection.take());
        let (backend, name) = (self.backend, self.name.clone());
        // Drop cannot await, and may run inside a runtime: drop the database
        // on a thread of its own with a small runtime.
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Err(e) = drop_server_database(backend, &admin_url, &name).await {
                    eprintln!("warning: could not drop test database {name}: {e:#}");
                }
            });
        });
        let _ = worker.join();
    }
}

impl TestDatabase {
    /// Builds the project at `root` (its `[test]` config) on this database,
    /// with every migration applied (the bundles' and the project's
    /// `db/migrations/`), and returns a test client for it: a fresh,
    /// migrated app in one line.
    ///
    /// ```no_run
    /// # async fn demo() -> anyhow::Result<()> {
    /// use unchained_database::testing::TestDatabase;
    /// let db = TestDatabase::sqlite().await?;
    /// let client = db.client_for_project(env!("CARGO_MANIFEST_DIR")).await?;
    /// assert_eq!(client.get("/").await.status(), 200);
    /// # Ok(()) }
    /// ```
    pub async fn client_for_project(
        &self,
        root: impl AsRef<std::path::Path>,
    ) -> anyhow::Result<unchained::testing::TestClient> {
        use unchained::app::AppFactory;
        use unchained::config::Environment;
        use unchained::models::ModelContext;
        use unchained::project::Project;
        use unchained::registry::BundleRegistry;

        let project = Project::load(root.as_ref())?;
        let url = self.url.clone();
        let loaded = AppFactory::load_with(
            &project.root,
            &project.manifest,
            &BundleRegistry::from_inventory()?,
            Environment::Test,
            move |config| config.set("DATABASE_URL", url),
        )?;
        let model_ctx = ModelContext {
            backend: self.backend,
            config: loaded.config(),
        };
        let migrations = crate::commands::collect_migrations(loaded.bundles(), &model_ctx);
        let quiet: crate::runner::Printer = std::sync::Arc::new(|_: &str| {});
        crate::runner::Runner::new(self.connection(), migrations, quiet)?
            .upgrade(&crate::runner::Target::Default)
            .await
            .context("applying the project's migrations to the test database")?;
        Ok(unchained::testing::TestClient::new(loaded.build().await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_part_of_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@h/test?ssl-mode=disabled", "y"),
            "mysql://root@h/y?ssl-mode=disabled"
        );
        assert_eq!(with_database("postgres://u@h", "z"), "postgres://u@h/z");
    }

    #[test]
    fn names_are_unique() {
        assert_ne!(unique_name(), unique_name());
    }
}
