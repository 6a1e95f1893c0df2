//! `unchained build [--release]`, and the step every build through the
//! `unchained` command starts with: [`prepare`], which adds the crates of
//! listed bundles and the drivers the config names to `Cargo.toml`.

use std::path::Path;
use std::process::Command as Process;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::project::builtin::source_checkout;
use crate::project::{Project, sync_dependencies};

/// The `build` command.
pub(crate) fn command() -> Command {
    Command::new("build")
        .about("Build the project's binary (target/debug or, with --release, target/release)")
        .long_about(
            "Build the project's binary. Like every command run through `unchained`, it first adds \
             the crates of the bundles listed in unchained.toml, and the database and session \
             drivers that the config and the UNCHAINED_* environment variables name, to Cargo.toml. \
             Build a release for production with the production environment variables set, so the \
             right drivers are compiled in.",
        )
        .arg(
            Arg::new("release")
                .long("release")
                .action(ArgAction::SetTrue)
                .help("Build with optimizations, into target/release"),
        )
}

/// Runs `unchained build`.
pub(crate) fn run(matches: &ArgMatches) -> anyhow::Result<()> {
    let project = Project::discover()?;
    prepare(&project.root).map_err(anyhow::Error::msg)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Process::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(project.root.join("Cargo.toml"));
    if matches.get_flag("release") {
        command.arg("--release");
    }
    // Scripts and tests that only want the command's own output.
    if std::env::var_os("UNCHAINED_QUIET_BUILD").is_some() {
        command.arg("--quiet");
    }
    let status = command.status().map_err(|e| {
        anyhow::anyhow!(
            "cannot run cargo: {e}\nhint: install Rust with rustup and make sure `cargo` is on PATH"
        )
    })?;
    if !status.success() {
        anyhow::bail!("the build failed (cargo's messages are above)");
    }
    Ok(())
}

/// Brings `Cargo.toml` in line with `unchained.toml` before a build, and
/// says on stderr what it changed (stdout stays the command's own).
pub(crate) fn prepare(root: &Path) -> Result<(), String> {
    match sync_dependencies(root, &source_checkout()) {
        Ok(Some(line)) => {
            eprintln!("{line}");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}
