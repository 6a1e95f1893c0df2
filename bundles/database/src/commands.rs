//! The `db` command: `create`, `migrate`, `upgrade`, `downgrade`,
//! `current`, `history`, `drop`, `reset`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Command, Subcommand};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use unchained::bundle::BundleCommand;
use unchained::command::CommandContext;
use unchained::config::Environment;
use unchained::models::{ModelContext, ModelDef};
use unchained::registry::ResolvedBundles;

use crate::autogen::{MigrateOutcome, NO_CHANGES, migrate};
use crate::config::DatabaseConfig;
use crate::connect::{connect, mask_password};
use crate::runner::{NamedMigration, Origin, Printer, Runner, Target, stdout_printer};
use crate::schema::{MIGRATIONS_TABLE, live};

/// The project's migrations folder, relative to its root.
pub const MIGRATIONS_DIR: &str = "db/migrations";

/// The database bundle's top-level command, `unchained db ...`.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum DatabaseCommand {
    /// The database: create, migrate, upgrade, downgrade, current, history, drop, reset
    #[command(subcommand, arg_required_else_help = true)]
    Db(DbCommand),
}

/// `unchained db ...`.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum DbCommand {
    /// Create the database DATABASE_URL names, on its server, unless it exists
    Create {
        /// Create the database of this environment's config instead of the current one's; repeat it for several (--env development --env test)
        #[arg(long = "env", value_name = "ENV", value_parser = ["development", "test", "production"])]
        envs: Vec<String>,
    },
    /// Compare the models with the database and write a migration into db/migrations/
    Migrate {
        /// What the migration does; also names the file
        #[arg(short, long)]
        message: String,
    },
    /// Apply pending migrations (all, or up to TARGET)
    Upgrade {
        /// A migration name, or `head` (default)
        target: Option<String>,
    },
    /// Revert migrations: one step, down to TARGET, or `base` for all
    Downgrade {
        /// A migration name to keep, or `base`
        target: Option<String>,
    },
    /// Show the newest applied migration
    Current,
    /// List every migration and whether it is applied
    History,
    /// Drop every table of the database, migrations table included
    Drop {
        /// Do not ask for confirmation
        #[arg(short, long)]
        yes: bool,
    },
    /// Drop every table, then apply every migration
    Reset {
        /// Do not ask for confirmation
        #[arg(short, long)]
        yes: bool,
    },
}

impl BundleCommand for DatabaseCommand {
    async fn run(self, ctx: &CommandContext) -> anyhow::Result<()> {
        match self {
            DatabaseCommand::Db(command) => run(command, ctx).await,
        }
    }
}

/// The `db` command and its subcommands as clap sees them (for help
/// texts, docs checks and tests that parse arguments).
pub fn db_command() -> Command {
    DatabaseCommand::augment_subcommands(Command::new("unchained"))
        .find_subcommand("db")
        .cloned()
        .unwrap_or_else(|| Command::new("db"))
}

/// The models of `bundles` as `(bundle name, model)`, in bundle order.
pub fn collect_models(
    bundles: &ResolvedBundles,
    ctx: &ModelContext<'_>,
) -> Vec<(String, ModelDef)> {
    bundles
        .iter()
        .flat_map(|b| b.models(ctx).into_iter().map(|m| (b.name().to_owned(), m)))
        .collect()
}

/// Every migration of this build, in the order they apply: each bundle's
/// hand-written migrations in bundle order, then the project's files
/// (oldest first).
pub fn collect_migrations(
    bundles: &ResolvedBundles,
    ctx: &ModelContext<'_>,
) -> Vec<NamedMigration> {
    let mut all: Vec<NamedMigration> = bundles
        .iter()
        .flat_map(|b| {
            let origin = Origin::Bundle(b.name().to_owned());
            b.migrations(ctx)
                .into_iter()
                .map(move |m| NamedMigration::new(origin.clone(), m))
        })
        .collect();
    all.extend(
        crate::registry::project_migrations()
            .into_iter()
            .map(|p| NamedMigration::new(Origin::Project, (p.construct)())),
    );
    all
}

/// Runs `unchained db <subcommand>`.
pub async fn run(command: DbCommand, ctx: &CommandContext) -> anyhow::Result<()> {
    // The database may not exist yet: `create` must not connect to it.
    if let DbCommand::Create { envs } = &command {
        return run_create(envs, ctx, &stdout_printer()).await;
    }
    let config = DatabaseConfig::from_config(ctx.config())?;
    let conn = connect(&config, ctx.project_root()).await?;
    let model_ctx = ModelContext {
        backend: conn.get_database_backend(),
        config: ctx.config(),
    };
    let print = stdout_printer();
    let runner = Runner::new(
        &conn,
        collect_migrations(ctx.bundles(), &model_ctx),
        print.clone(),
    )?;
    let dir = ctx.project_root().join(MIGRATIONS_DIR);
    let result = match command {
        DbCommand::Create { .. } => Ok(()),
        DbCommand::Migrate { message } => {
            let models = collect_models(ctx.bundles(), &model_ctx);
            run_migrate(&conn, &runner, &models, &dir, &message, &print).await
        }
        DbCommand::Upgrade { target } => {
            let target = Target::parse(target.as_deref());
            runner.upgrade(&target).await.map(|_| ())
        }
        DbCommand::Downgrade { target } => {
            let target = Target::parse(target.as_deref());
            runner.downgrade(&target).await.map(|_| ())
        }
        DbCommand::Current => {
            match runner.current().await? {
                Some(name) => print(&name),
                None => print("base (no migration applied)"),
            }
            Ok(())
        }
        DbCommand::History => print_history(&runner, &print).await,
        DbCommand::Drop { yes } => {
            if confirm(&config.url, yes, "Drop every table")? {
                drop_all(&conn, &print).await
            } else {
                Ok(())
            }
        }
        DbCommand::Reset { yes } => {
            if confirm(
                &config.url,
                yes,
                "Drop every table and re-apply every migration",
            )? {
                drop_all(&conn, &print).await?;
                runner.upgrade(&Target::Default).await.map(|_| ())
            } else {
                Ok(())
            }
        }
    };
    let _ = conn.close().await;
    result
}

/// `db migrate`: writes the file, or prints [`NO_CHANGES`].
pub async fn run_migrate(
    conn: &DatabaseConnection,
    runner: &Runner,
    models: &[(String, ModelDef)],
    dir: &Path,
    message: &str,
    print: &Printer,
) -> anyhow::Result<()> {
    match migrate(conn, runner, models, dir, message, chrono::Utc::now()).await? {
        MigrateOutcome::NoChanges => print(NO_CHANGES),
        MigrateOutcome::Written { path, diff, .. } => {
            print(&format!("Generated {}", display_relative(&path)));
            for step in &diff.steps {
                print(&format!("  - {}", crate::diff::describe(&step.op)));
            }
            for warning in &diff.warnings {
                print(&format!("  ! not migrated: {warning}"));
            }
            print("Check it, then run `unchained db upgrade`.");
        }
    }
    Ok(())
}

fn display_relative(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    path.strip_prefix(&cwd)
        .unwrap_or(path)
        .display()
        .to_string()
}

async fn print_history(runner: &Runner, print: &Printer) -> anyhow::Result<()> {
    let entries = runner.history().await?;
    if entries.is_empty() {
        print("No migrations.");
    }
    for entry in entries {
        let state = match entry.applied_at {
            Some(at) => format!(
                "applied {}",
                chrono::DateTime::from_timestamp(at, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default()
            ),
            None => "pending".to_owned(),
        };
        let origin = match &entry.origin {
            Some(Origin::Bundle(name)) => format!("bundle {name}"),
            Some(Origin::Project) => "project".to_owned(),
            None => "unknown to this build".to_owned(),
        };
        print(&format!("{}  [{origin}]  {state}", entry.name));
    }
    Ok(())
}

/// Asks on a terminal; without one, `--yes` is required.
fn confirm(url: &str, yes: bool, what: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{what} of {}? Not a terminal, so pass --yes to confirm",
            mask_password(url)
        );
    }
    print!("{what} of {}? [y/N] ", mask_password(url));
    std::io::stdout().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("read the answer")?;
    let ok = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !ok {
        println!("Aborted.");
    }
    Ok(ok)
}

/// Drops every table of the database (the migrations table too),
/// referencing tables first.
pub async fn drop_all(conn: &DatabaseConnection, print: &Printer) -> anyhow::Result<()> {
    let backend = conn.get_database_backend();
    let schema = live::introspect(conn).await?;
    let tables: Vec<&crate::schema::Table> = schema.tables.iter().collect();
    let mut names: Vec<String> = order_children_first(&tables);
    names.push(MIGRATIONS_TABLE.to_owned());
    for name in names {
        let quoted = match backend {
            DbBackend::MySql => format!("`{name}`"),
            _ => format!("\"{name}\""),
        };
        let sql = match backend {
            DbBackend::Postgres => format!("DROP TABLE IF EXISTS {quoted} CASCADE"),
            _ => format!("DROP TABLE IF EXISTS {quoted}"),
        };
        print(&format!("    {sql}"));
        conn.execute_unprepared(&sql)
            .await
            .with_context(|| format!("run {sql}"))?;
    }
    Ok(())
}

fn order_children_first(tables: &[&crate::schema::Table]) -> Vec<String> {
    let mut pending: Vec<&crate::schema::Table> = tables.to_vec();
    let mut ordered = Vec::new();
    while !pending.is_empty() {
        // A table no other pending table references can go now.
        let next = pending
            .iter()
            .position(|t| {
                !pending.iter().any(|o| {
                    o.name != t.name && o.foreign_keys.iter().any(|fk| fk.ref_table == t.name)
                })
            })
            .unwrap_or(0);
        ordered.push(pending.remove(next).name.clone());
    }
    ordered
}

/// `db create [--env ENV]...`: creates the database of each environment's
/// `DATABASE_URL` (the current environment's without `--env`) unless it
/// exists. Every environment is tried; the error lists those that failed.
pub async fn run_create(
    envs: &[String],
    ctx: &CommandContext,
    print: &Printer,
) -> anyhow::Result<()> {
    let mut configs: Vec<(Environment, DatabaseConfig)> = Vec::new();
    if envs.is_empty() {
        configs.push((
            ctx.config().env(),
            DatabaseConfig::from_config(ctx.config())?,
        ));
    }
    for name in envs {
        let env: Environment = name.parse()?;
        // The environment's config as its app would merge it: the bundles'
        // defaults for it, its section of unchained.toml, the environment.
        let config = unchained::config::load(
            ctx.project_root(),
            env,
            ctx.bundles()
                .iter()
                .map(|b| (b.name().to_owned(), b.config_defaults(env), b.secret_keys())),
        )?;
        configs.push((env, DatabaseConfig::from_config(&config)?));
    }
    let mut failed: Vec<String> = Vec::new();
    // (URL, environment that created it, whether it succeeded)
    let mut done: Vec<(String, Environment, bool)> = Vec::new();
    for (env, config) in configs {
        // UNCHAINED_DATABASE_URL gives every environment the same URL.
        if let Some((_, first, ok)) = done.iter().find(|(url, _, _)| *url == config.url) {
            print(&format!(
                "{env}: the same database as {first}, {}",
                mask_password(&config.url)
            ));
            if !ok {
                failed.push(env.to_string());
            }
            continue;
        }
        let ok = match create_database(&config, ctx.project_root()).await {
            Ok(outcome) => {
                print(&format!("{env}: {outcome}"));
                true
            }
            Err(e) => {
                print(&format!("{env}: failed: {e:#}"));
                failed.push(env.to_string());
                false
            }
        };
        done.push((config.url.clone(), env, ok));
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "the database of {} could not be created (see above); once the server is running and the URL is right, run `unchained db create{}` again",
            failed.join(" and "),
            failed
                .iter()
                .map(|e| format!(" --env {e}"))
                .collect::<String>()
        );
    }
    Ok(())
}

/// What [`create_database`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Created {
    /// The database was created.
    Created {
        /// The database's name.
        name: String,
        /// The server, password masked.
        server: String,
    },
    /// It was there already.
    Exists {
        /// The database's name.
        name: String,
        /// The server, password masked.
        server: String,
    },
    /// A SQLite file: opened, and so created if it was missing.
    Sqlite {
        /// The URL.
        url: String,
    },
}

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Created::Created { name, server } => write!(f, "created database {name} on {server}"),
            Created::Exists { name, server } => {
                write!(f, "database {name} already exists on {server}")
            }
            Created::Sqlite { url } => write!(f, "SQLite database {url} is ready"),
        }
    }
}

/// Creates the database that `config.url` names unless it exists: on
/// PostgreSQL through the server's `postgres` database, on MySQL/MariaDB
/// through a connection without a database; a SQLite file is created by
/// opening it.
pub async fn create_database(config: &DatabaseConfig, root: &Path) -> anyhow::Result<Created> {
    let backend = crate::connect::backend_of(&config.url)?;
    if backend == DbBackend::Sqlite {
        let conn = connect(config, root).await?;
        let _ = conn.close().await;
        return Ok(Created::Sqlite {
            url: config.url.clone(),
        });
    }
    let (server, name) = split_database(&config.url);
    let Some(name) = name else {
        anyhow::bail!(
            "DATABASE_URL {} names no database: add one after the host, e.g. {}/myapp",
            mask_password(&config.url),
            mask_password(&server)
        );
    };
    let (maintenance, exists_sql, create_sql) = match backend {
        DbBackend::Postgres => (
            with_database(&config.url, "postgres"),
            "SELECT 1 FROM pg_database WHERE datname = $1",
            format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")),
        ),
        _ => (
            with_database(&config.url, ""),
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            format!(
                "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                name.replace('`', "``")
            ),
        ),
    };
    // One connection, and no waiting beyond the connect timeout: a server
    // that is down should be reported quickly.
    let admin_config = DatabaseConfig {
        url: maintenance,
        max_connections: 1,
        min_connections: 0,
        acquire_timeout: config.connect_timeout,
        ..config.clone()
    };
    let shown = mask_password(&server);
    let admin = connect(&admin_config, root).await.with_context(|| {
        format!("connect to the server {shown} to create database {name} (is it running?)")
    })?;
    let result = async {
        let exists = admin
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                exists_sql,
                [name.clone().into()],
            ))
            .await
            .with_context(|| format!("look for database {name} on {shown}"))?
            .is_some();
        if exists {
            return Ok(Created::Exists {
                name: name.clone(),
                server: shown.clone(),
            });
        }
        admin.execute_unprepared(&create_sql).await.with_context(|| {
            format!(
                "run {create_sql} on {shown}\nhint: the user of DATABASE_URL needs the right to create databases \
                 (PostgreSQL: ALTER ROLE ... CREATEDB; MySQL: GRANT CREATE ON *.*), or create it as an administrator"
            )
        })?;
        Ok(Created::Created {
            name: name.clone(),
            server: shown.clone(),
        })
    }
    .await;
    let _ = admin.close().await;
    result
}

/// Splits a server URL into the server part (scheme, user, host, port,
/// no path nor query) and the database name (percent-decoded), if any.
pub fn split_database(url: &str) -> (String, Option<String>) {
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    match base[scheme_end..].find('/') {
        Some(slash) => {
            let server = base[..scheme_end + slash].to_owned();
            let name = percent_decode(&base[scheme_end + slash + 1..]);
            (server, (!name.is_empty()).then_some(name))
        }
        None => (base.to_owned(), None),
    }
}

/// `url` with its database replaced by `name` (none when empty); the query
/// string (`?sslmode=...`) stays.
pub fn with_database(url: &str, name: &str) -> String {
    let (server, _) = split_database(url);
    let query = url.split_once('?').map(|(_, query)| query);
    let path = if name.is_empty() {
        String::new()
    } else {
        format!("/{name}")
    };
    match query {
        Some(query) => format!("{server}{path}?{query}"),
        None => format!("{server}{path}"),
    }
}

/// Decodes `%XX` escapes, as the drivers do with a URL's database name;
/// a malformed escape is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod create_tests {
    use super::*;

    #[test]
    fn the_database_is_split_off_the_server() {
        assert_eq!(
            split_database("postgres://u:p@h:5432/my_app?sslmode=require"),
            (
                "postgres://u:p@h:5432".to_owned(),
                Some("my_app".to_owned())
            )
        );
        assert_eq!(
            split_database("mysql://root@127.0.0.1:3306/"),
            ("mysql://root@127.0.0.1:3306".to_owned(), None)
        );
        assert_eq!(
            split_database("mysql://root@127.0.0.1"),
            ("mysql://root@127.0.0.1".to_owned(), None)
        );
        assert_eq!(
            split_database("postgres://h/a%20b").1.as_deref(),
            Some("a b")
        );
        assert_eq!(
            split_database("postgres://h/100%").1.as_deref(),
            Some("100%")
        );
        assert_eq!(split_database("postgres://h/%zz").1.as_deref(), Some("%zz"));
    }

    #[test]
    fn the_maintenance_url_keeps_the_query() {
        assert_eq!(
            with_database("postgres://u@h/app?sslmode=require", "postgres"),
            "postgres://u@h/postgres?sslmode=require"
        );
        assert_eq!(
            with_database("mysql://root@h:3306/app", ""),
            "mysql://root@h:3306"
        );
    }

    #[test]
    fn a_url_without_a_database_is_refused_with_an_example() {
        let config = DatabaseConfig::for_url("postgres://postgres@127.0.0.1:5432");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = runtime
            .block_on(create_database(&config, Path::new(".")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names no database") && err.contains("127.0.0.1:5432/myapp"),
            "{err}"
        );
    }
}
