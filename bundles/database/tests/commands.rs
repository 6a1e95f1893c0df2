//! `unchained db ...` through the bundle's command entry point, as the CLI
//! calls it (a project's binary with the database bundle and an app
//! bundle).

use std::io::IsTerminal;
use std::sync::Arc;

use sea_orm::ConnectionTrait;
use unchained::Bundle;
use unchained::app::LoadedApp;
use unchained::command::CommandContext;
use unchained::config::{Config, Environment};
use unchained::models::{ModelContext, ModelDef};
use unchained::project::Manifest;
use unchained::registry::BundleRegistry;
use unchained_database::DatabaseBundle;
use unchained_database::testing::TestDatabase;

mod post {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "post")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[derive(Default)]
struct AppBundle;

#[async_trait::async_trait]
impl Bundle for AppBundle {
    fn name(&self) -> &'static str {
        "app"
    }
    fn is_app(&self) -> bool {
        true
    }
    fn models(&self, ctx: &ModelContext) -> Vec<ModelDef> {
        vec![ModelDef::from_entity(ctx, post::Entity)]
    }
}

fn context(root: &std::path::Path, url: &str) -> CommandContext {
    context_with(root, url, 10)
}

fn context_with(root: &std::path::Path, url: &str, acquire_timeout: u64) -> CommandContext {
    let registry = BundleRegistry::from_bundles(vec![
        Arc::new(DatabaseBundle) as Arc<dyn Bundle>,
        Arc::new(AppBundle),
    ])
    .unwrap();
    let manifest = Manifest {
        bundles: vec!["unchained.bundles.database".into(), "app".into()],
        ..Manifest::default()
    };
    let resolved = registry.resolve(&manifest).unwrap();
    let config = Config::builder(Environment::Test)
        .defaults(
            "unchained.bundles.database",
            unchained_database::config::defaults(Environment::Test),
        )
        .set("DATABASE_URL", url)
        .set("DATABASE_ACQUIRE_TIMEOUT", acquire_timeout)
        .build();
    LoadedApp::from_parts(root.to_owned(), resolved, config).command_context()
}

async fn db(ctx: &CommandContext, args: &[&str]) -> anyhow::Result<()> {
    let cli = DatabaseBundle
        .cli()
        .expect("the database bundle has commands");
    let matches = cli
        .augment(clap::Command::new("unchained"))
        .try_get_matches_from(["unchained", "db"].into_iter().chain(args.iter().copied()))?;
    cli.run(&matches, ctx).await
}

async fn command_flow(backend: &str) -> anyhow::Result<()> {
    let test_db = TestDatabase::from_backend_name(backend).await?;
    let project = tempfile::tempdir()?;
    let ctx = context(project.path(), test_db.url());

    db(&ctx, &["migrate", "-m", "create posts"]).await?;
    let files: Vec<_> = std::fs::read_dir(project.path().join("db/migrations"))?.collect();
    assert_eq!(files.len(), 1);
    let name = files[0]
        .as_ref()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    assert!(name.ends_with("_create_posts.rs"), "{name}");

    // The file is not compiled into this binary, so it is not applied:
    // the database is behind it.
    let err = db(&ctx, &["migrate", "-m", "again"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("run `unchained db upgrade` first"), "{err}");

    db(&ctx, &["upgrade"]).await?;
    db(&ctx, &["current"]).await?;
    db(&ctx, &["history"]).await?;

    test_db
        .connection()
        .execute_unprepared("CREATE TABLE leftover (id INTEGER PRIMARY KEY)")
        .await?;
    if !std::io::stdin().is_terminal() {
        let err = db(&ctx, &["drop"]).await.unwrap_err().to_string();
        assert!(err.contains("pass --yes"), "{err}");
    }
    db(&ctx, &["reset", "--yes"]).await?;
    db(&ctx, &["drop", "--yes"]).await?;
    let left = unchained_database::schema::live::introspect(test_db.connection()).await?;
    assert!(left.tables.is_empty(), "{left:?}");
    test_db.cleanup().await
}

#[tokio::test]
async fn command_flow_sqlite() -> anyhow::Result<()> {
    command_flow("sqlite").await
}

#[tokio::test]
async fn command_flow_postgres() -> anyhow::Result<()> {
    command_flow("postgres").await
}

#[tokio::test]
async fn command_flow_mysql() -> anyhow::Result<()> {
    command_flow("mysql").await
}

#[tokio::test]
async fn bad_database_urls_are_errors_not_panics() {
    let project = tempfile::tempdir().unwrap();
    let ctx = context(project.path(), "oracle://scott@127.0.0.1/db");
    let err = db(&ctx, &["current"]).await.unwrap_err().to_string();
    assert!(err.contains("unknown scheme `oracle`"), "{err}");

    let ctx = context_with(project.path(), "postgres://postgres@127.0.0.1:1/none", 1);
    let err = db(&ctx, &["upgrade"]).await.unwrap_err().to_string();
    assert!(err.contains("cannot connect to the database"), "{err}");
}

#[test]
fn migrate_needs_a_message() {
    let err = unchained_database::commands::db_command()
        .try_get_matches_from(["db", "migrate"])
        .unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
}
