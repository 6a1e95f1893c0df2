//! The migration runner on real databases: order, progress, targets,
//! bundle migrations, registration, and a migration that fails halfway.

use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::prelude::*;
use unchained_database::registry::project_migrations;
use unchained_database::runner::{NamedMigration, Origin, Printer, Runner, Target};
use unchained_database::schema::live;
use unchained_database::testing::TestDatabase;

/// Creates (up) and drops (down) one table.
struct CreateTable(&'static str, &'static str);

impl MigrationName for CreateTable {
    fn name(&self) -> &str {
        self.0
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(self.1)
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(self.1).to_owned())
            .await
    }
}

/// Creates a table, then runs invalid SQL.
struct FailsHalfway;

impl MigrationName for FailsHalfway {
    fn name(&self) -> &str {
        "m20260105_000000_fails_halfway"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for FailsHalfway {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("half")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE broken (")
            .await?;
        Ok(())
    }
}

fn capture() -> (Printer, Arc<Mutex<Vec<String>>>) {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    (
        Arc::new(move |l: &str| sink.lock().unwrap().push(l.to_owned())),
        lines,
    )
}

fn three() -> Vec<NamedMigration> {
    vec![
        NamedMigration::new(
            Origin::Bundle("unchained.bundles.session".into()),
            Box::new(CreateTable("m20200101_000000_session_extension", "ext")),
        ),
        NamedMigration::new(
            Origin::Project,
            Box::new(CreateTable("m20260101_000000_a", "a")),
        ),
        NamedMigration::new(
            Origin::Project,
            Box::new(CreateTable("m20260102_000000_b", "b")),
        ),
    ]
}

async fn tables(conn: &sea_orm::DatabaseConnection) -> Vec<String> {
    live::introspect(conn)
        .await
        .unwrap()
        .tables
        .into_iter()
        .map(|t| t.name)
        .collect()
}

#[tokio::test]
async fn upgrade_and_downgrade_with_targets_progress_and_history() -> anyhow::Result<()> {
    let db = TestDatabase::sqlite().await?;
    let conn = db.connection();
    let (print, lines) = capture();
    let runner = Runner::new(conn, three(), print)?;

    assert_eq!(runner.current().await?, None);
    assert_eq!(
        runner
            .upgrade(&Target::Name("m20260101_000000_a".into()))
            .await?,
        ["m20200101_000000_session_extension", "m20260101_000000_a"]
    );
    assert_eq!(runner.pending().await?, ["m20260102_000000_b"]);
    {
        let lines = lines.lock().unwrap();
        assert_eq!(
            lines[0],
            "[1/2] m20200101_000000_session_extension (upgrade)"
        );
        assert!(lines[1].contains("CREATE TABLE \"ext\""), "{lines:?}");
        assert_eq!(lines[2], "[2/2] m20260101_000000_a (upgrade)");
    }
    assert_eq!(
        runner.upgrade(&Target::Default).await?,
        ["m20260102_000000_b"]
    );
    assert_eq!(
        runner.current().await?.as_deref(),
        Some("m20260102_000000_b")
    );

    let history = runner.history().await?;
    assert_eq!(history.len(), 3);
    assert_eq!(
        history[0].origin,
        Some(Origin::Bundle("unchained.bundles.session".into()))
    );
    assert!(history.iter().all(|h| h.applied_at.is_some()));

    // One step by default, then down to a named one, then base.
    assert_eq!(
        runner.downgrade(&Target::Default).await?,
        ["m20260102_000000_b"]
    );
    assert_eq!(
        runner
            .downgrade(&Target::Name("m20200101_000000_session_extension".into()))
            .await?,
        ["m20260101_000000_a"]
    );
    assert_eq!(tables(conn).await, ["ext"]);
    assert_eq!(
        runner.downgrade(&Target::Base).await?,
        ["m20200101_000000_session_extension"]
    );
    assert!(tables(conn).await.is_empty());
    assert!(runner.downgrade(&Target::Default).await?.is_empty());

    let err = runner
        .upgrade(&Target::Name("nope".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown migration nope"), "{err}");
    db.cleanup().await
}

#[tokio::test]
async fn an_applied_migration_this_build_does_not_know_is_reported() -> anyhow::Result<()> {
    let db = TestDatabase::sqlite().await?;
    let conn = db.connection();
    let (print, _) = capture();
    Runner::new(conn, three(), print.clone())?
        .upgrade(&Target::Default)
        .await?;
    let fewer: Vec<NamedMigration> = three().into_iter().take(2).collect();
    let err = Runner::new(conn, fewer, print)?
        .downgrade(&Target::Default)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("m20260102_000000_b applied, but this build does not know it"),
        "{err}"
    );
    db.cleanup().await
}

async fn fails_halfway(backend: &str) -> anyhow::Result<()> {
    let db = TestDatabase::from_backend_name(backend).await?;
    let conn = db.connection();
    let (print, _) = capture();
    let runner = Runner::new(
        conn,
        vec![NamedMigration::new(Origin::Project, Box::new(FailsHalfway))],
        print,
    )?;
    let err = format!("{:#}", runner.upgrade(&Target::Default).await.unwrap_err());
    assert!(
        err.contains("upgrade of migration m20260105_000000_fails_halfway failed"),
        "{err}"
    );
    assert_eq!(
        runner.current().await?,
        None,
        "a failed migration is not recorded"
    );
    if conn.get_database_backend() == DbBackend::Postgres {
        assert!(err.contains("rolled back"), "{err}");
        assert!(
            tables(conn).await.is_empty(),
            "PostgreSQL rolls the whole migration back"
        );
    } else {
        assert!(err.contains("1 statement(s) of it were applied"), "{err}");
        assert!(
            err.contains("CREATE TABLE") && err.contains("half"),
            "{err}"
        );
        assert_eq!(tables(conn).await, ["half"]);
    }
    db.cleanup().await
}

#[tokio::test]
async fn fails_halfway_postgres() -> anyhow::Result<()> {
    fails_halfway("postgres").await
}

#[tokio::test]
async fn fails_halfway_mysql() -> anyhow::Result<()> {
    fails_halfway("mysql").await
}

#[tokio::test]
async fn fails_halfway_sqlite() -> anyhow::Result<()> {
    fails_halfway("sqlite").await
}

mod m20260301_000000_first {
    use unchained_database::migration::prelude::*;

    pub struct Migration;

    #[unchained_database::migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
            Ok(())
        }
    }

    unchained_database::register_migration! {
        revision: "m20260301_000000_first",
        parent: None,
    }
}

mod m20260302_000000_second {
    use unchained_database::migration::prelude::*;

    pub struct Migration;

    #[unchained_database::migration::async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
            Ok(())
        }
    }

    unchained_database::register_migration! {
        revision: "m20260302_000000_second",
        parent: Some("m20260301_000000_first"),
    }
}

#[test]
fn migration_files_register_themselves_in_revision_order() {
    let all = project_migrations();
    let names: Vec<&str> = all.iter().map(|m| m.revision).collect();
    assert_eq!(names, ["m20260301_000000_first", "m20260302_000000_second"]);
    assert_eq!(all[1].parent, Some("m20260301_000000_first"));
    assert_eq!((all[1].construct)().name(), "m20260302_000000_second");
}
