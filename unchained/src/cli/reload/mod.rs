//! `unchained run --reload`: rebuild and restart the server when the
//! project's sources change.
//!
//! Unlike a plain `unchained run`, the launcher does not become the server
//! (`exec`): it stays in charge of three things, one at a time, in one loop:
//! cargo builds ([`build`]), the server ([`process`]: the project's
//! executable, started directly, so there is no `cargo run` between the
//! launcher and the server to pass signals on) and a watcher on the sources
//! ([`watch`]).
//! A rebuild runs while the old server keeps serving, so a build that fails
//! leaves the previous version up; only a good build replaces it.
//!
//! Templates need no rebuild: in development the server re-reads a changed
//! template itself (see `Templates::reload_when_changed`).

mod build;
mod process;
mod watch;

use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitCode, ExitStatus};
use std::time::Instant;

use tokio::process::Child;

use self::build::Build;
use self::process::{Signals, exited, shut_down, start, stop};
use self::watch::Changes;

/// Set in the environment of a server started by `unchained run --reload`;
/// without it, the project's binary refuses `--reload` (only the launcher
/// can rebuild the binary that is running).
pub(crate) const RELOAD_VAR: &str = "UNCHAINED_RELOAD";

/// Whether `args` (everything after the program name) ask for
/// `run --reload`. With `--help` they do not: the project's binary shows
/// the help as usual.
pub(super) fn requested(args: &[OsString]) -> bool {
    args.first().is_some_and(|first| first == "run")
        && args.iter().any(|arg| arg == "--reload")
        && !args.iter().any(|arg| arg == "--help" || arg == "-h")
}

/// Serves the project at `root` with `args` (`run --reload ...`), and
/// rebuilds and restarts it whenever its sources change, until Ctrl-C or
/// SIGTERM, which stop the server too.
pub fn run_with_reload(root: &Path, args: &[OsString]) -> ExitCode {
    // cargo and the server print absolute paths; so does the watcher.
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let args: Vec<OsString> = args.iter().filter(|a| *a != "--reload").cloned().collect();
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(serve(&root, &args)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(root: &Path, args: &[OsString]) -> ExitCode {
    // First, before any child exists: from here on a signal cannot end the
    // launcher without it stopping the server.
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("error: cannot handle Ctrl-C and SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut changes = match Changes::start(root) {
        Ok(changes) => changes,
        Err(e) => {
            eprintln!(
                "error: cannot watch {} for changes: {e}\nhint: run `unchained run` without --reload",
                root.display()
            );
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        " * Watching {} for changes: sources rebuild and restart the server, templates reload without a rebuild",
        root.display()
    );
    let mut server: Option<Child> = None;
    // Whether this build follows a change (the first one does not).
    let mut rebuild = false;
    loop {
        // Build and (re)start: first at startup, then after each change.
        let started = Instant::now();
        // Windows cannot replace the executable of a running process: the
        // server stops before the build there.
        #[cfg(windows)]
        stop(server.take()).await;
        let outcome = tokio::select! {
            outcome = build::build(root) => outcome,
            _ = signals.recv() => return shut_down(server).await,
        };
        match outcome {
            Err(e) => {
                eprintln!(
                    "error: cannot run cargo to build the project: {e}\nhint: install Rust with rustup and make sure `cargo` is on PATH"
                );
                stop(server).await;
                return ExitCode::from(2);
            }
            Ok(Build::Failed(message)) => {
                if let Some(message) = message {
                    eprintln!("error: {message}");
                }
                if server.is_some() {
                    eprintln!(
                        " * Build failed; still serving the previous build. Fix the error and save again."
                    );
                } else {
                    eprintln!(" * Build failed. Fix the error and save again.");
                }
            }
            Ok(Build::Built(executable)) => {
                stop(server.take()).await;
                match start(&executable, args, root) {
                    Ok(child) => server = Some(child),
                    Err(e) => eprintln!(
                        " * Cannot start {}: {e}. Save a file to try again.",
                        executable.display()
                    ),
                }
                if rebuild && server.is_some() {
                    let seconds = started.elapsed().as_secs_f64();
                    eprintln!(" * Restarted in {seconds:.2} s");
                }
            }
        }
        // Serve until a change needs a rebuild.
        let path = loop {
            tokio::select! {
                _ = signals.recv() => return shut_down(server).await,
                status = exited(&mut server) => {
                    server = None;
                    // Exit code 2: the command line is wrong, which no
                    // change to the sources fixes.
                    if status.as_ref().ok().and_then(ExitStatus::code) == Some(2) {
                        return ExitCode::from(2);
                    }
                    match status {
                        Ok(status) => eprintln!(" * The server exited ({status}); save a file to rebuild and start it again."),
                        Err(e) => eprintln!(" * Lost track of the server ({e}); save a file to rebuild and start it again."),
                    }
                }
                path = changes.next() => match path {
                    Some(path) => break path,
                    None => {
                        eprintln!("error: the file watcher stopped; restart `unchained run --reload`");
                        stop(server).await;
                        return ExitCode::FAILURE;
                    }
                },
            }
        };
        eprintln!(" * Detected change in {}, rebuilding...", path.display());
        rebuild = true;
    }
}
