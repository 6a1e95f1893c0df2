//! The `unchained` command line, in the manner of Flask's `flask` command.
//!
//! A project's binary calls [`project_main`]: it offers the core commands
//! (`run`, `urls`, `bundles`, `config`, `new`) plus every command that a
//! bundle listed in `unchained.toml` adds (`db`, `session`, `users`, ...).
//! The installed `unchained` binary calls [`launcher_main`], which runs
//! the project's binary through cargo (see [`launcher`]).

mod build;
mod bundles;
mod inspect;
pub mod launcher;
pub mod new;
mod reload;
mod serve;

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Arg, ArgMatches, Command};

use crate::app::{AppFactory, LoadedApp};
use crate::config::Environment;
use crate::error::Error;
use crate::registry::BundleError;

pub use launcher::launcher_main;

/// Names of the commands the core provides; a bundle may not reuse them.
pub const CORE_COMMANDS: [&str; 6] = ["new", "build", "run", "urls", "bundles", "config"];

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
    // These only edit files or run cargo: they need no project loaded
    // (and must work while the project's bundles are not compiled in).
    if let Some(first) = args
        .get(1)
        .filter(|a| *a == "new" || *a == "build")
        .cloned()
        .or_else(|| bundles::is_edit(&args).then(|| "bundles".into()))
    {
        let matches = match base_command().try_get_matches_from(&args) {
            Ok(m) => m,
            Err(e) => return clap_exit(e),
        };
        let matches = sub(&matches, &first.to_string_lossy());
        return report(match first.to_str() {
            Some("new") => new::run(matches),
            Some("build") => build::run(matches),
            _ => bundles::edit(matches),
        });
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
        .subcommand(build::command())
        .subcommand(bundles::command())
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

/// Logs to stderr. The default level depends on the command (see
/// [`default_log_filter`]); `RUST_LOG` overrides it. Colours only on a
/// terminal, and never with `NO_COLOR` set.
pub fn init_tracing() {
    // The launcher and the project's binary both get here before parsing
    // anything; the first argument is the command in both.
    let command = std::env::args_os().nth(1);
    init_tracing_with(default_log_filter(command.as_deref()));
}

/// Logs to stderr with `default` as the filter unless `RUST_LOG` is set.
pub fn init_tracing_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(use_colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .try_init();
}

/// The log filter of `command` (the first argument) when `RUST_LOG` is
/// unset: `info` for `run`, whose log is the server's; `warn` for every
/// other command, which prints its result itself and whose INFO lines
/// (a store ready, a pool opened) would only bury it.
pub fn default_log_filter(command: Option<&OsStr>) -> &'static str {
    // sqlx and SeaORM log every statement at INFO.
    if command.is_some_and(|c| c == "run") {
        "info,sqlx=warn,sea_orm=warn"
    } else {
        "warn,sqlx=warn,sea_orm=warn"
    }
}

/// Escape codes garble a log written to a file or a pipe; `NO_COLOR`
/// (<https://no-color.org>), when set and not empty, turns them off too.
fn use_colour(terminal: bool, no_color: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_logs_info_by_default() {
        assert!(default_log_filter(Some(OsStr::new("run"))).starts_with("info,"));
        for other in ["db", "users", "session", "config", "new", "--help"] {
            assert!(
                default_log_filter(Some(OsStr::new(other))).starts_with("warn,"),
                "{other}"
            );
        }
        assert!(default_log_filter(None).starts_with("warn,"));
        for filter in [
            default_log_filter(Some(OsStr::new("run"))),
            default_log_filter(None),
        ] {
            assert!(filter.contains("sqlx=warn,sea_orm=warn"), "{filter}");
        }
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
