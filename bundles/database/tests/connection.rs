//! Connection, config and `TestDatabase` against the real servers.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use unchained::Bundle;
use unchained::config::Environment;
use unchained::testing::TestClient;
use unchained_database::testing::TestDatabase;
use unchained_database::{ConnectError, DatabaseBundle, DatabaseConfig, Db, connect, connect_url};

async fn round_trip(db: &TestDatabase) -> anyhow::Result<i64> {
    let conn = db.connection();
    conn.execute_unprepared("CREATE TABLE item (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        .await?;
    conn.execute_unprepared("INSERT INTO item (id, n) VALUES (1, 41)")
        .await?;
    let row = conn
        .query_one_raw(Statement::from_string(
            db.backend(),
            "SELECT n + 1 AS m FROM item",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row
        .try_get::<i64>("", "m")
        .or_else(|_| row.try_get::<i32>("", "m").map(i64::from))?)
}

#[tokio::test]
async fn each_backend_gives_a_fresh_database() -> anyhow::Result<()> {
    for name in ["sqlite", "postgres", "mysql"] {
        let db = TestDatabase::from_backend_name(name).await?;
        assert_eq!(round_trip(&db).await?, 42, "{name}");
        db.cleanup().await?;
    }
    Ok(())
}

#[tokio::test]
async fn postgres_database_is_dropped_on_cleanup_and_on_drop() -> anyhow::Result<()> {
    let admin = connect_url(
        "postgres://postgres@127.0.0.1:5432/postgres",
        std::path::Path::new("."),
    )
    .await?;
    let exists = |name: String| {
        let admin = admin.clone();
        async move {
            let rows = admin
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT 1 FROM pg_database WHERE datname = $1",
                    [name.into()],
                ))
                .await?;
            anyhow::Ok(!rows.is_empty())
        }
    };
    let db = TestDatabase::postgres().await?;
    let name = db.name().to_owned();
    assert!(exists(name.clone()).await?);
    db.cleanup().await?;
    assert!(!exists(name).await?);

    let db = TestDatabase::postgres().await?;
    let name = db.name().to_owned();
    drop(db);
    assert!(!exists(name).await?);
    Ok(())
}

#[tokio::test]
async fn sqlite_file_is_created_in_the_project_with_wal() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let config = DatabaseConfig::for_url(unchained_database::config::default_url(
        Environment::Development,
    ));
    let conn = connect(&config, root.path()).await?;
    conn.execute_unprepared("CREATE TABLE t (id INTEGER)")
        .await?;
    assert!(root.path().join("db/development.sqlite").is_file());
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    assert_eq!(row.try_get::<String>("", "journal_mode")?, "wal");
    Ok(())
}

async fn sqlite_synchronous(
    config: &DatabaseConfig,
    root: &std::path::Path,
) -> anyhow::Result<i32> {
    let conn = connect(config, root).await?;
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA synchronous",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get::<i32>("", "synchronous")?)
}

#[tokio::test]
async fn sqlite_synchronous_is_normal_by_default_and_configurable() -> anyhow::Result<()> {
    use unchained_database::config::SqliteSynchronous;
    let root = tempfile::tempdir()?;
    let mut config = DatabaseConfig::for_url("sqlite:db/sync.sqlite");
    // SQLite reports 0 = OFF, 1 = NORMAL, 2 = FULL, 3 = EXTRA.
    assert_eq!(sqlite_synchronous(&config, root.path()).await?, 1);
    config.sqlite_synchronous = SqliteSynchronous::Full;
    assert_eq!(sqlite_synchronous(&config, root.path()).await?, 2);

    let from_config = |value: &str| {
        let config = unchained::config::Config::builder(Environment::Test)
            .defaults(
                "db",
                unchained_database::config::defaults(Environment::Test),
            )
            .set("DATABASE_SQLITE_SYNCHRONOUS", value)
            .build();
        DatabaseConfig::from_config(&config)
    };
    assert_eq!(
        from_config("extra")?.sqlite_synchronous,
        SqliteSynchronous::Extra
    );
    let err = from_config("sometimes").unwrap_err().to_string();
    assert!(err.contains("DATABASE_SQLITE_SYNCHRONOUS"), "{err}");
    assert!(err.contains("NORMAL"), "{err}");
    Ok(())
}

/// With `DATABASE_PING_AFTER_IDLE = 0` a connection the server dropped is
/// noticed by the checkout ping and replaced; with the default, a
/// connection in steady use skips the ping, so the first query on it fails
/// and the pool replaces it. Either way the next query works.
#[tokio::test]
async fn ping_after_idle_decides_when_a_dropped_connection_is_noticed() -> anyhow::Result<()> {
    let db = TestDatabase::postgres().await?;
    let admin = db.connection().clone();
    for (ping_after_idle, first_query_works) in [(0, true), (30, false)] {
        let mut config = DatabaseConfig::for_url(db.url());
        config.max_connections = 1;
        config.ping_after_idle = ping_after_idle;
        let conn = connect(&config, std::path::Path::new(".")).await?;
        let row = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_backend_pid() AS pid",
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row"))?;
        let pid: i32 = row.try_get("", "pid")?;
        // Let the pool take the connection back before it is cut.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        admin
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_terminate_backend($1)",
                [pid.into()],
            ))
            .await?;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let first = conn.execute_unprepared("SELECT 1").await;
        assert_eq!(
            first.is_ok(),
            first_query_works,
            "DATABASE_PING_AFTER_IDLE = {ping_after_idle}: {first:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        conn.execute_unprepared("SELECT 1").await?;
    }
    db.cleanup().await?;
    Ok(())
}

#[tokio::test]
async fn unreachable_database_is_a_clear_error() {
    let mut config = DatabaseConfig::for_url("postgres://postgres:hunter2@127.0.0.1:1/nope");
    // Keep the test quick: the pool retries until the acquire timeout.
    config.acquire_timeout = 1;
    config.connect_timeout = 1;
    let err = connect(&config, std::path::Path::new("."))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("cannot connect to the database"), "{text}");
    assert!(
        text.contains("postgres://postgres:***@127.0.0.1:1/nope"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn unknown_scheme_is_a_clear_error() {
    let err = connect_url("oracle://scott@127.0.0.1/db", std::path::Path::new("."))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown scheme `oracle`"), "{err}");
    // The bundle refuses it at config validation, before any command runs.
    let config = unchained::config::Config::builder(Environment::Test)
        .defaults(
            "db",
            unchained_database::config::defaults(Environment::Test),
        )
        .set("DATABASE_URL", "oracle://scott@127.0.0.1/db")
        .build();
    let err = DatabaseBundle.validate_config(&config).unwrap_err();
    assert!(err.to_string().contains("unknown scheme"), "{err}");
}

#[tokio::test]
async fn bad_pool_option_names_the_key() {
    let config = unchained::config::Config::builder(Environment::Test)
        .defaults(
            "db",
            unchained_database::config::defaults(Environment::Test),
        )
        .set("DATABASE_MAX_CONNECTIONS", "many")
        .build();
    let err = DatabaseBundle.validate_config(&config).unwrap_err();
    assert!(
        err.to_string().contains("DATABASE_MAX_CONNECTIONS"),
        "{err}"
    );
}

async fn count_tables(Db(db): Db) -> String {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT name FROM sqlite_master WHERE type = 'table'",
        ))
        .await
        .map(|rows| rows.len())
        .unwrap_or(usize::MAX);
    format!("{rows} tables")
}

#[derive(Default)]
struct ProbeBundle;

#[async_trait::async_trait]
impl Bundle for ProbeBundle {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn dependencies(&self) -> &'static [&'static str] {
        &["unchained.bundles.database"]
    }
    fn routes(&self, _ctx: &unchained::routes::RouteContext) -> unchained::routes::Routes {
        unchained::routes::Routes::new().get("/tables", count_tables)
    }
}

#[tokio::test]
async fn handlers_get_the_connection_through_the_db_extractor() -> anyhow::Result<()> {
    let db = TestDatabase::sqlite().await?;
    db.connection()
        .execute_unprepared("CREATE TABLE a (id INTEGER)")
        .await?;
    let url = db.url().to_owned();
    let app = unchained::app::build_with(
        vec![Arc::new(DatabaseBundle), Arc::new(ProbeBundle)],
        move |c| c.set("DATABASE_URL", url),
        Environment::Test,
    )
    .await?;
    assert!(
        app.state()
            .service::<sea_orm::DatabaseConnection>()
            .is_some()
    );
    let client = TestClient::new(app);
    let response = client.get("/tables").await;
    assert_eq!(response.text(), "1 tables");
    Ok(())
}
