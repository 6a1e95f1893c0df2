//! The warning `unchained run` prints before it listens when the database
//! lacks migrations: through the bundle's `before_serve` hook, as the CLI
//! calls it, on every backend.

use std::sync::Arc;

use sea_orm::DbErr;
use sea_orm_migration::prelude::*;
use unchained::Bundle;
use unchained::app::LoadedApp;
use unchained::config::{Config, Environment};
use unchained::models::ModelContext;
use unchained::project::Manifest;
use unchained::registry::BundleRegistry;
use unchained_database::DatabaseBundle;
use unchained_database::schema::MIGRATIONS_TABLE;
use unchained_database::testing::TestDatabase;

const MIGRATION: &str = "m20260101_000000_create_notes";

/// Creates the `notes` table.
struct CreateNotes;

impl MigrationName for CreateNotes {
    fn name(&self) -> &str {
        MIGRATION
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("notes")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("notes").to_owned())
            .await
    }
}

/// The app: ships one migration, as a project's file would.
struct AppBundle;

#[async_trait::async_trait]
impl Bundle for AppBundle {
    fn name(&self) -> &'static str {
        "app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn migrations(&self, _ctx: &ModelContext) -> Vec<unchained::BundleMigration> {
        vec![Box::new(CreateNotes)]
    }
}

fn loaded(root: &std::path::Path, url: &str) -> LoadedApp {
    let registry = BundleRegistry::from_bundles(vec![
        Arc::new(DatabaseBundle) as Arc<dyn Bundle>,
        Arc::new(AppBundle),
    ])
    .expect("a registry");
    let manifest = Manifest {
        bundles: vec!["unchained.bundles.database".into(), "app".into()],
        ..Manifest::default()
    };
    let resolved = registry.resolve(&manifest).expect("resolved");
    let config = Config::builder(Environment::Test)
        .defaults(
            "unchained.bundles.database",
            unchained_database::config::defaults(Environment::Test),
        )
        .set("DATABASE_URL", url)
        .build();
    LoadedApp::from_parts(root.to_owned(), resolved, config)
}

async fn db_upgrade(loaded: &LoadedApp) -> anyhow::Result<()> {
    let cli = DatabaseBundle
        .cli()
        .expect("the database bundle has commands");
    let matches = cli
        .augment(clap::Command::new("unchained"))
        .try_get_matches_from(["unchained", "db", "upgrade"])?;
    cli.run(&matches, &loaded.command_context()).await
}

async fn warns_until_upgraded(backend: &str) -> anyhow::Result<()> {
    let test_db = TestDatabase::from_backend_name(backend).await?;
    let project = tempfile::tempdir()?;
    let loaded = loaded(project.path(), test_db.url());

    let app = loaded.build().await?;
    let warnings = loaded.before_serve(&app).await?;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = &warnings[0];
    assert!(
        warning.starts_with("1 migration is not applied to ")
            && warning.contains(MIGRATION)
            && warning.ends_with("run `unchained db upgrade`"),
        "{warning}"
    );
    // The check only reads: the database still has no migrations table.
    assert!(
        !SchemaManager::new(test_db.connection())
            .has_table(MIGRATIONS_TABLE)
            .await?
    );
    // Building alone (tests, `session cleanup`, ...) never runs the check;
    // only `unchained run` calls before_serve.

    db_upgrade(&loaded).await?;
    let warnings = loaded.before_serve(&app).await?;
    assert!(warnings.is_empty(), "{warnings:?}");
    test_db.cleanup().await
}

#[tokio::test]
async fn warns_until_upgraded_sqlite() -> anyhow::Result<()> {
    warns_until_upgraded("sqlite").await
}

#[tokio::test]
async fn warns_until_upgraded_postgres() -> anyhow::Result<()> {
    warns_until_upgraded("postgres").await
}

#[tokio::test]
async fn warns_until_upgraded_mysql() -> anyhow::Result<()> {
    warns_until_upgraded("mysql").await
}

#[tokio::test]
async fn a_password_in_the_url_is_masked() -> anyhow::Result<()> {
    let test_db = TestDatabase::postgres().await?;
    // The admin URL has no password; give the warning one to hide.
    let url = test_db
        .url()
        .replacen("://postgres@", "://postgres:hunter2@", 1);
    if !url.contains("hunter2") {
        // UNCHAINED_TEST_POSTGRES_URL names another user: nothing to check.
        return test_db.cleanup().await;
    }
    let project = tempfile::tempdir()?;
    let loaded = loaded(project.path(), &url);
    let app = loaded.build().await?;
    let warnings = loaded.before_serve(&app).await?;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(!warnings[0].contains("hunter2"), "{}", warnings[0]);
    test_db.cleanup().await
}
