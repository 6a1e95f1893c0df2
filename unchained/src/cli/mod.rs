//! The `unchained` command line, in the manner of Flask's `flask` command.
//!
//! A project's binary calls [`project_main`]: it offers the core commands
//! (`run`, `urls`, `bundles`, `config`, `new`) plus every command that a
//! bundle listed in `unchained.toml` adds (`db`, `session`, `users`, ...).
//! The installed `unchained` binary calls [`launcher_main`], which runs
//! the project's binary through cargo (see [`launcher`]).

mod inspect;
pub mod launcher;
pub mod new;
mod serve;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Arg, ArgMatches, Command};

use crate::app::{AppFactory, LoadedApp};
use crate::config::Environment;
use crate::error::Error;
use crate::registry::BundleError;

pub use launcher::launcher_main;

/// Names of the commands the core provides; a bundle may not reuse them.
pub const CORE_COMMANDS: [&str; 5] = ["new", "run", "urls", "bundles", "config"];

/// Entry point of a project's binary: `fn main() -> ExitCode { unchained::cli::project_main() }`.
pub fn project_main() -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run_project_cli(std::env::args_os()))
}

/// Parses `args` (program name first) and runs the command; returns the
/// exit code. Errors are printed to stderr.
pub async fn run_project_cli(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    // The version needs no project either (and must not load one: the
    // installed binary has none of the project's bundles compiled in).
    if args.len() == 2 && (args[1] == "--version" || args[1] == "-V") {
        println!("unchained {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    // `new` needs no project; handle it before loading one.
    if args.get(1).is_some_and(|a| a == "new") {
        let matches = match base_command().try_get_matches_from(&args) {
            Ok(m) => m,
            Err(e) => return clap_exit(e),
        };
        return report(new::run(sub(&matches, "new")));
    }
    let loaded = match load() {
        Ok(loaded) => loaded,
        Err(e) => {
            // Help and version still work when the project is broken.
            let wants_help = args
                .iter()
                .skip(1)
                .any(|a| a == "--help" || a == "-h" || a == "--version" || a == "-V");
            if wants_help && let Err(e) = base_command().try_get_matches_from(&args) {
                let _ = e.print();
            }
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = match full_command(&loaded) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let matches = match command.try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let Some((name, sub_matches)) = matches.subcommand() else {
        return ExitCode::SUCCESS;
    };
    let result: anyhow::Result<()> = match name {
        "run" => serve::run(&loaded, sub_matches).await.map_err(Into::into),
        "urls" => inspect::urls(&loaded).map_err(Into::into),
        "bundles" => {
            inspect::bundles(&loaded);
            Ok(())
        }
        "config" => inspect::config(&loaded, sub_matches),
        other => run_bundle_command(&loaded, other, &matches).await,
    };
    report(result)
}

fn sub<'a>(matches: &'a ArgMatches, name: &str) -> &'a ArgMatches {
    matches.subcommand_matches(name).unwrap_or(matches)
}

async fn run_bundle_command(
    loaded: &LoadedApp,
    name: &str,
    matches: &ArgMatches,
) -> anyhow::Result<()> {
    let cli = loaded
        .bundles()
        .iter()
        .filter_map(|b| b.cli())
        .find(|cli| cli.handles(name));
    match cli {
        Some(cli) => cli.run(matches, &loaded.command_context()).await,
        None => anyhow::bail!("no bundle handles the command `{name}`"),
    }
}

fn load() -> Result<LoadedApp, Error> {
    let env = Environment::from_env()
        .map_err(|e| Error::Config(crate::config::ConfigError::Rule(e.to_string())))?;
    AppFactory::discover(env)
}

/// The commands every binary has, whether or not a project is loaded.
pub fn base_command() -> Command {
    Command::new("unchained")
        .bin_name("unchained")
        .about("Unchained: a bundle-based web framework for Rust")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(new::command())
}

/// The full command of a loaded project: core commands plus every
/// command of its bundles.
pub fn full_command(loaded: &LoadedApp) -> Result<Command, Error> {
    let mut command = base_command()
        .subcommand(serve::command())
        .subcommand(
            Command::new("urls").about("List every route: method, path, handler and bundle"),
        )
        .subcommand(
            Command::new("bundles")
                .about("Show the bundles in load order, with their dependencies"),
        )
        .subcommand(
            Command::new("config")
                .about("Show the merged config (secrets masked) and where each value comes from")
                .arg(Arg::new("key").value_name("KEY").help("Show only this key")),
        );
    let mut owners: Vec<(String, &'static str)> = Vec::new();
    for bundle in loaded.bundles().iter() {
        let Some(cli) = bundle.cli() else {
            continue;
        };
        for name in cli.names() {
            if CORE_COMMANDS.contains(&name.as_str()) {
                return Err(BundleError::CoreCommand {
                    bundle: bundle.name().to_owned(),
                    command: name,
                }
                .into());
            }
            if let Some((_, other)) = owners.iter().find(|(n, _)| *n == name) {
                return Err(BundleError::CommandTwice {
                    first: (*other).to_owned(),
                    second: bundle.name().to_owned(),
                    command: name,
                }
                .into());
            }
            owners.push((name, bundle.name()));
        }
        command = cli.augment(command);
    }
    Ok(command)
}

fn clap_exit(e: clap::Error) -> ExitCode {
    let code = e.exit_code();
    let _ = e.print();
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default `info` level.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
