//! `unchained new ...`: scaffolds that build and pass their tests the
//! first time.
//!
//! - `new project DIR` ([`project`]): a new project, rendered from the
//!   workspace's `templates/project/` folder;
//! - `new bundle NAME` ([`bundle`]): a bundle crate inside the current
//!   project, rendered from `templates/bundle/`, listed in `unchained.toml`
//!   and compiled in through the project's `Cargo.toml` (the editors of
//!   [`crate::project`]), with dependencies like the project's ([`edit`]).
//!
//! Both run in the installed binary without building anything: the
//! launcher runs `new` itself, in or out of a project.

mod bundle;
mod edit;
mod project;

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use minijinja::Environment;

pub use bundle::{BundleOptions, generate_bundle};
pub use project::{DatabaseServer, ProjectOptions, generate};

/// The `new` command.
pub fn command() -> Command {
    Command::new("new")
        .about("Create something new")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("project")
                .about("Create a new project in DIR")
                .arg(Arg::new("dir").value_name("DIR").required(true).value_parser(value_parser!(PathBuf)))
                .arg(flag("database", "Add the database bundle (SeaORM)"))
                .arg(flag("session", "Add the server-side session bundle"))
                .arg(flag("security", "Add the security bundle (users, login, logout); implies --session and --database"))
                .arg(
                    Arg::new("db")
                        .long("db")
                        .value_name("BACKEND")
                        .value_parser(["sqlite", "postgres", "mysql"])
                        .help("Database backend to compile in (default sqlite); implies --database"),
                )
                .arg(flag("no-prompt", "Never ask: take the flags as given"))
                .arg(flag(
                    "no-migrate",
                    "With a database: do not build the project now, so no database or table is created",
                ))
                .arg(flag(
                    "no-create-db",
                    "With --db postgres|mysql: do not create the databases NAME and NAME_test on the server",
                ))
                .arg(flag("force", "Write into DIR even if it is not empty, replacing files")),
        )
        .subcommand(
            Command::new("bundle")
                .about("Create a bundle crate in bundles/NAME of the current project, listed in unchained.toml")
                .arg(Arg::new("name").value_name("NAME").required(true).help(
                    "The bundle's name, also its crate's: letters, digits, `-` and `_`, starting with a letter",
                ))
                .arg(flag(
                    "no-model",
                    "Leave out the model (a SeaORM entity), even when the project has the database bundle",
                ))
                .arg(flag("force", "Write into bundles/NAME even if it exists, replacing files")),
        )
}

fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

/// Runs `unchained new ...`.
pub fn run(matches: &ArgMatches) -> anyhow::Result<()> {
    match matches.subcommand() {
        Some(("project", m)) => project::run(m),
        Some(("bundle", m)) => bundle::run(m),
        _ => anyhow::bail!(
            "unknown `new` subcommand: try `unchained new project DIR` or `unchained new bundle NAME`"
        ),
    }
}

/// Whether `name` can name a cargo package (and so a crate): letters,
/// digits, `-` and `_`, starting with a letter.
fn is_package_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The minijinja environment both scaffolds render with: files keep their
/// last newline, and nothing is escaped (the output is Rust, TOML and
/// templates, not HTML pages).
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env
}

/// Writes `files` (path relative to `dir`, text) into `dir`, creating
/// folders as needed; returns the paths written.
fn write_files(
    dir: &std::path::Path,
    files: impl IntoIterator<Item = (impl AsRef<std::path::Path>, String)>,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (path, text) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", target.display()))?;
        written.push(target);
    }
    Ok(written)
}
