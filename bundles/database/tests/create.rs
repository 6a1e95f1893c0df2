//! `unchained db create` against the real PostgreSQL and MySQL/MariaDB
//! servers (the ones `TestDatabase` uses), through the command's entry
//! point as a project's binary calls it: the environments' URLs come from
//! a project's `unchained.toml`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use unchained::Bundle;
use unchained::app::AppFactory;
use unchained::command::CommandContext;
use unchained::config::Environment;
use unchained::project::Manifest;
use unchained::registry::BundleRegistry;
use unchained_database::commands::{Created, create_database, split_database, with_database};
use unchained_database::testing::{DEFAULT_MYSQL_ADMIN_URL, DEFAULT_POSTGRES_ADMIN_URL};
use unchained_database::{DatabaseBundle, DatabaseConfig, connect_url};

/// A database name no other test (or test process) uses.
fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("unchained_create_{tag}_{}_{nanos}", std::process::id())
}

fn admin_url(backend: DbBackend) -> String {
    match backend {
        DbBackend::Postgres => std::env::var("UNCHAINED_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_ADMIN_URL.to_owned()),
        _ => std::env::var("UNCHAINED_TEST_MYSQL_URL")
            .unwrap_or_else(|_| DEFAULT_MYSQL_ADMIN_URL.to_owned()),
    }
}

async fn exists(backend: DbBackend, name: &str) -> anyhow::Result<bool> {
    let admin = connect_url(&admin_url(backend), std::path::Path::new(".")).await?;
    let sql = match backend {
        DbBackend::Postgres => "SELECT 1 FROM pg_database WHERE datname = $1",
        _ => "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    };
    let found = admin
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await?
        .is_some();
    let _ = admin.close().await;
    Ok(found)
}

async fn drop_database(backend: DbBackend, name: &str) -> anyhow::Result<()> {
    let admin = connect_url(&admin_url(backend), std::path::Path::new(".")).await?;
    let sql = match backend {
        DbBackend::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        _ => format!("DROP DATABASE IF EXISTS `{name}`"),
    };
    admin.execute_unprepared(&sql).await?;
    let _ = admin.close().await;
    Ok(())
}

/// A project whose `[development]` and `[test]` sections name the two
/// databases, loaded in the development environment.
fn project(dir: &std::path::Path, dev_url: &str, test_url: &str) -> CommandContext {
    std::fs::write(
        dir.join("unchained.toml"),
        format!(
            "bundles = [\"unchained.bundles.database\"]\n\n\
             [development]\nDATABASE_URL = \"{dev_url}\"\n\n\
             [test]\nDATABASE_URL = \"{test_url}\"\n"
        ),
    )
    .unwrap();
    let registry =
        BundleRegistry::from_bundles(vec![Arc::new(DatabaseBundle) as Arc<dyn Bundle>]).unwrap();
    let manifest = Manifest {
        bundles: vec!["unchained.bundles.database".into()],
        ..Manifest::default()
    };
    AppFactory::load(dir, &manifest, &registry, Environment::Development)
        .unwrap()
        .command_context()
}

/// `unchained db ARGS` as the CLI runs it.
async fn db(ctx: &CommandContext, args: &[&str]) -> anyhow::Result<()> {
    let cli = DatabaseBundle
        .cli()
        .expect("the database bundle has commands");
    let matches = cli
        .augment(clap::Command::new("unchained"))
        .try_get_matches_from(["unchained", "db"].into_iter().chain(args.iter().copied()))?;
    cli.run(&matches, ctx).await
}

async fn creates_each_environments_database(backend: DbBackend) -> anyhow::Result<()> {
    let admin = admin_url(backend);
    let dev = unique("dev");
    let test = unique("test");
    let dir = tempfile::tempdir()?;
    let ctx = project(
        dir.path(),
        &with_database(&admin, &dev),
        &with_database(&admin, &test),
    );
    let outcome = async {
        // The current environment (development) only.
        db(&ctx, &["create"]).await?;
        assert!(exists(backend, &dev).await?, "{dev} was created");
        assert!(!exists(backend, &test).await?, "{test} was not asked for");

        // Both, by name: the existing one is left alone.
        db(&ctx, &["create", "--env", "development", "--env", "test"]).await?;
        assert!(exists(backend, &test).await?, "{test} was created");

        // The created database is usable through its URL.
        let conn = connect_url(&with_database(&admin, &test), dir.path()).await?;
        conn.execute_unprepared("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
            .await?;
        let _ = conn.close().await;

        // Idempotent, and says so.
        let again = create_database(
            &DatabaseConfig::for_url(with_database(&admin, &test)),
            dir.path(),
        )
        .await?;
        assert!(
            matches!(&again, Created::Exists { name, .. } if *name == test),
            "{again:?}"
        );
        assert!(again.to_string().contains("already exists"), "{again}");
        anyhow::Ok(())
    }
    .await;
    drop_database(backend, &dev).await?;
    drop_database(backend, &test).await?;
    outcome
}

#[tokio::test]
async fn postgres_databases_are_created_once() -> anyhow::Result<()> {
    creates_each_environments_database(DbBackend::Postgres).await
}

#[tokio::test]
async fn mysql_databases_are_created_once() -> anyhow::Result<()> {
    creates_each_environments_database(DbBackend::MySql).await
}

#[tokio::test]
async fn an_unreachable_server_is_named_with_the_command_to_run_again() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Port 1 on loopback: nothing listens there.
    let ctx = project(
        dir.path(),
        "postgres://postgres@127.0.0.1:1/unreachable_dev",
        "postgres://postgres@127.0.0.1:1/unreachable_test",
    );
    let err = db(&ctx, &["create", "--env", "test"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the database of test could not be created")
            && err.contains("unchained db create --env test"),
        "{err}"
    );
    // One URL for both (as UNCHAINED_DATABASE_URL makes it): tried once,
    // and both environments are named as failed.
    let same = tempfile::tempdir()?;
    let url = "postgres://postgres@127.0.0.1:1/unreachable";
    let ctx = project(same.path(), url, url);
    let err = db(&ctx, &["create", "--env", "development", "--env", "test"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the database of development and test could not be created")
            && err.contains("unchained db create --env development --env test"),
        "{err}"
    );
    let err = create_database(
        &DatabaseConfig::for_url("postgres://postgres@127.0.0.1:1/unreachable"),
        dir.path(),
    )
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("postgres://postgres@127.0.0.1:1") && text.contains("is it running?"),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn a_sqlite_file_is_created_by_opening_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let created =
        create_database(&DatabaseConfig::for_url("sqlite:db/new.sqlite"), dir.path()).await?;
    assert!(matches!(created, Created::Sqlite { .. }), "{created:?}");
    assert!(dir.path().join("db/new.sqlite").is_file());
    Ok(())
}

#[test]
fn urls_split_into_server_and_database() {
    let (server, name) = split_database(DEFAULT_POSTGRES_ADMIN_URL);
    assert_eq!(server, "postgres://postgres@127.0.0.1:5432");
    assert_eq!(name.as_deref(), Some("postgres"));
}
