//! The installed `unchained` command.
//!
//! Outside a project only `unchained new` makes sense, and it runs here.
//! Inside a project every command runs in the project's own binary, which
//! embeds the same CLI plus the project's bundles: the launcher runs it
//! through `cargo run`, so it is rebuilt when its sources changed and
//! cargo's progress shows.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command as Process, ExitCode};

use crate::project::{MANIFEST, Project};

/// Set in the project binary's environment: the project's root folder.
pub const PROJECT_ROOT_VAR: &str = "UNCHAINED_PROJECT_ROOT";

/// Entry point of the installed `unchained` binary.
pub fn launcher_main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let first = args.get(1).and_then(|a| a.to_str()).unwrap_or("");
    // These edit files or run cargo themselves: nothing to build first.
    if ["new", "build", "--version", "-V"].contains(&first) || super::bundles::is_edit(&args) {
        return local(args);
    }
    let root = match std::env::current_dir() {
        Ok(cwd) => Project::find_root(&cwd),
        Err(_) => None,
    };
    match root {
        Some(root) if super::reload::requested(&args[1..]) => {
            super::reload::run_with_reload(&root, &args[1..])
        }
        Some(root) => delegate(&root, &args[1..]),
        None if first.is_empty() || first == "--help" || first == "-h" || first == "help" => {
            let _ = super::base_command().print_help();
            println!(
                "\n\nNo {MANIFEST} found here: inside a project `unchained` also offers run, urls, bundles, config and the commands of the project's bundles."
            );
            ExitCode::SUCCESS
        }
        None => {
            let cwd = std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            eprintln!(
                "error: `unchained {first}` needs a project, but no {MANIFEST} was found in {cwd} or any parent folder.\n\
                 hint: cd into a project, or create one with `unchained new project NAME`"
            );
            ExitCode::from(2)
        }
    }
}

fn local(args: Vec<OsString>) -> ExitCode {
    super::init_tracing();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(super::run_project_cli(args)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the project's binary with `args` through `cargo run`.
///
/// On Unix the launcher becomes cargo (`exec`), and `cargo run` in turn
/// becomes the project's binary: the server ends up with the launcher's
/// process id, so a signal sent to `unchained run` (SIGTERM from a process
/// manager, Ctrl-C) reaches the server itself and nothing is left behind.
fn delegate(root: &Path, args: &[OsString]) -> ExitCode {
    let mut command = match project_command(root, args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Returns only if cargo could not be started.
        let error = command.exec();
        eprintln!("error: {}", cargo_missing(error));
        ExitCode::from(2)
    }
    #[cfg(not(unix))]
    match command.status() {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            // Killed by a signal (e.g. Ctrl-C while serving): not a failure of ours.
            None => ExitCode::from(130),
        },
        Err(e) => {
            eprintln!("error: {}", cargo_missing(e));
            ExitCode::from(2)
        }
    }
}

fn cargo_missing(e: std::io::Error) -> String {
    format!(
        "cannot run cargo to build and start the project's binary: {e}\nhint: install Rust with rustup and make sure `cargo` is on PATH"
    )
}

/// Builds (when needed) and runs the binary of the project at `root` with
/// `args`, showing cargo's progress unless `UNCHAINED_QUIET_BUILD` is set;
/// waits for it to finish.
pub fn run_project_binary(
    root: &Path,
    args: &[OsString],
) -> Result<std::process::ExitStatus, String> {
    project_command(root, args)?.status().map_err(cargo_missing)
}

/// The `cargo run` that builds and starts the project's binary.
fn project_command(root: &Path, args: &[OsString]) -> Result<Process, String> {
    let manifest = root.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(format!(
            "{} has an {MANIFEST} but no Cargo.toml: an Unchained project is a cargo package; \
             create one with `unchained new project NAME`",
            root.display()
        ));
    }
    // Listing a bundle in unchained.toml is all it takes: its crate (and
    // the drivers the config names) go into Cargo.toml before the build.
    super::build::prepare(root)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Process::new(cargo);
    command.arg("run").arg("--manifest-path").arg(&manifest);
    // Scripts and tests that only want the command's own output.
    if std::env::var_os("UNCHAINED_QUIET_BUILD").is_some() {
        command.arg("--quiet");
    }
    command.arg("--").args(args).env(PROJECT_ROOT_VAR, root);
    Ok(command)
}
