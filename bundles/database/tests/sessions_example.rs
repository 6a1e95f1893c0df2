//! The tutorial's sessions table on every backend: the generated
//! migration is the one `docs/bundles/database.md` shows, it compiles (the
//! golden copies in `tests/golden/sessions/` are compiled in and run), it
//! creates what the model declares (migrate again finds nothing), and its
//! `down` removes it.

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use sea_orm::DbBackend;
use unchained::config::Config;
use unchained::models::{ModelContext, ModelDef};
use unchained_database::autogen::{MigrateOutcome, migrate};
use unchained_database::runner::{NamedMigration, Origin, Printer, Runner, Target};
use unchained_database::schema::live;
use unchained_database::testing::TestDatabase;

/// The session bundle's table, as the tutorial describes it.
mod flask_sessions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "flask_sessions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(column_type = "String(StringLen::N(255))", unique)]
        pub session_id: String,
        #[sea_orm(column_type = "Blob")]
        pub data: Vec<u8>,
        #[sea_orm(indexed)]
        pub expiry: Option<DateTime>,
        #[sea_orm(default_expr = "Expr::current_timestamp()")]
        pub created_at: DateTimeWithTimeZone,
        #[sea_orm(default_expr = "Expr::current_timestamp()")]
        pub updated_at: DateTimeWithTimeZone,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

mod golden {
    #[rustfmt::skip]
    #[path = "../golden/sessions/sqlite/m20260101_000000_create_sessions_table.rs"]
    pub mod sqlite;
    #[rustfmt::skip]
    #[path = "../golden/sessions/postgres/m20260101_000000_create_sessions_table.rs"]
    pub mod postgres;
    #[rustfmt::skip]
    #[path = "../golden/sessions/mysql/m20260101_000000_create_sessions_table.rs"]
    pub mod mysql;
}

fn compiled(backend: &str) -> Box<dyn sea_orm_migration::MigrationTrait> {
    match backend {
        "sqlite" => Box::new(golden::sqlite::Migration),
        "postgres" => Box::new(golden::postgres::Migration),
        _ => Box::new(golden::mysql::Migration),
    }
}

fn check_golden(backend: &str, generated: &Path) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/sessions")
        .join(backend)
        .join(generated.file_name().unwrap());
    let text = std::fs::read_to_string(generated).unwrap();
    if std::env::var_os("UNCHAINED_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        text,
        expected,
        "{} differs: rerun with UNCHAINED_UPDATE_GOLDEN=1",
        golden.display()
    );
}

async fn sessions_table(backend_name: &str) -> anyhow::Result<()> {
    let db = TestDatabase::from_backend_name(backend_name).await?;
    let conn = db.connection();
    let backend: DbBackend = conn.get_database_backend();
    let config = Config::empty();
    let ctx = ModelContext {
        backend,
        config: &config,
    };
    let models = vec![(
        "unchained.bundles.session".to_owned(),
        ModelDef::from_entity(&ctx, flask_sessions::Entity),
    )];
    let project = tempfile::tempdir()?;
    let dir = project.path().join("db/migrations");
    let quiet: Printer = Arc::new(|_: &str| {});

    let runner = Runner::new(conn, Vec::new(), quiet.clone())?;
    let day = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let MigrateOutcome::Written { path, .. } =
        migrate(conn, &runner, &models, &dir, "create sessions table", day).await?
    else {
        panic!("expected a migration")
    };
    check_golden(backend_name, &path);
    std::fs::remove_file(&path)?;

    let runner = Runner::new(
        conn,
        vec![NamedMigration::new(Origin::Project, compiled(backend_name))],
        quiet,
    )?;
    runner.upgrade(&Target::Default).await?;
    let schema = live::introspect(conn).await?;
    let table = schema.table("flask_sessions").expect("the table exists");
    assert!(
        table
            .indexes
            .iter()
            .any(|i| i.name == "idx-flask_sessions-expiry"),
        "{table:?}"
    );
    let outcome = migrate(conn, &runner, &models, &dir, "again", day).await?;
    assert!(matches!(outcome, MigrateOutcome::NoChanges), "{outcome:?}");

    runner.downgrade(&Target::Base).await?;
    assert!(live::introspect(conn).await?.tables.is_empty());
    db.cleanup().await
}

#[tokio::test]
async fn sessions_table_sqlite() -> anyhow::Result<()> {
    sessions_table("sqlite").await
}

#[tokio::test]
async fn sessions_table_postgres() -> anyhow::Result<()> {
    sessions_table("postgres").await
}

#[tokio::test]
async fn sessions_table_mysql() -> anyhow::Result<()> {
    sessions_table("mysql").await
}
