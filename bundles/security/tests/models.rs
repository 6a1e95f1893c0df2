//! The bundle's tables as `unchained db migrate` sees them, on SQLite,
//! PostgreSQL and MariaDB.

use std::sync::Arc;

use unchained::config::Config;
use unchained::models::{ModelContext, ModelDef};
use unchained_database::autogen::{MigrateOutcome, migrate};
use unchained_database::runner::Runner;
use unchained_database::testing::TestDatabase;

async fn migrate_sees_the_tables(backend: &str) {
    let db = TestDatabase::from_backend_name(backend).await.unwrap();
    let conn = db.connection();
    let config = Config::empty();
    let ctx = ModelContext {
        backend: conn.get_database_backend(),
        config: &config,
    };
    let models: Vec<(String, ModelDef)> = unchained_security::models::model_defs(&ctx)
        .into_iter()
        .map(|m| (unchained_security::BUNDLE_NAME.to_owned(), m))
        .collect();
    let names: Vec<String> = models.iter().map(|(_, m)| m.table_name()).collect();
    assert_eq!(
        names,
        [
            "users",
            "roles",
            "user_roles",
            "user_sessions",
            "login_attempts"
        ]
    );
    let quiet: unchained_database::runner::Printer = Arc::new(|_: &str| {});

    // Before the tables exist, migrate writes a file creating all five.
    let runner = Runner::new(conn, Vec::new(), quiet.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outcome = migrate(
        conn,
        &runner,
        &models,
        dir.path(),
        "security tables",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let MigrateOutcome::Written { path, .. } = outcome else {
        panic!("{backend}: expected a migration creating the tables");
    };
    let text = std::fs::read_to_string(path).unwrap();
    for table in [
        "users",
        "roles",
        "user_roles",
        "user_sessions",
        "login_attempts",
    ] {
        assert!(
            text.contains(table),
            "{backend}: {table} missing from the migration:\n{text}"
        );
    }

    // create_tables makes exactly what the models describe.
    unchained_security::models::create_tables(conn)
        .await
        .unwrap();
    unchained_security::models::create_tables(conn)
        .await
        .unwrap();
    let runner = Runner::new(conn, Vec::new(), quiet).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let outcome = migrate(
        conn,
        &runner,
        &models,
        empty.path(),
        "again",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, MigrateOutcome::NoChanges),
        "{backend}: create_tables and the models differ: {outcome:?}"
    );
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn models_on_sqlite() {
    migrate_sees_the_tables("sqlite").await;
}

#[tokio::test]
async fn models_on_postgres() {
    migrate_sees_the_tables("postgres").await;
}

#[tokio::test]
async fn models_on_mysql() {
    migrate_sees_the_tables("mysql").await;
}
