//! The `db` command: `migrate`, `upgrade`, `downgrade`, `current`,
//! `history`, `drop`, `reset`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Command, Subcommand};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use unchained::bundle::BundleCommand;
use unchained::command::CommandContext;
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
    /// Database migrations: migrate, upgrade, downgrade, current, history, drop, reset
    #[command(subcommand, arg_required_else_help = true)]
    Db(DbCommand),
}

/// `unchained db ...`.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum DbCommand {
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
