//! The server process: starting it, noticing that it exited, stopping it,
//! and the signals that stop the launcher (and so the server).

use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitCode, ExitStatus};
use std::time::Duration;

use tokio::process::{Child, Command};

use super::RELOAD_VAR;
use crate::cli::launcher::PROJECT_ROOT_VAR;

/// How long a server gets to finish its requests after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Starts the project's executable, as `cargo run` would have.
pub(super) fn start(executable: &Path, args: &[OsString], root: &Path) -> std::io::Result<Child> {
    Command::new(executable)
        .args(args)
        .env(PROJECT_ROOT_VAR, root)
        .env(RELOAD_VAR, "1")
        // Whatever happens to the launcher, a panic included, the server
        // does not outlive it.
        .kill_on_drop(true)
        .spawn()
}

/// Waits for the server to exit; never returns when there is none.
pub(super) async fn exited(server: &mut Option<Child>) -> std::io::Result<ExitStatus> {
    match server {
        Some(child) => child.wait().await,
        None => std::future::pending().await,
    }
}

/// Stops the server, if any: SIGTERM so that it finishes its requests (as
/// a process manager would stop it), SIGKILL if it is still running after
/// [`STOP_GRACE`].
pub(super) async fn stop(server: Option<Child>) {
    let Some(mut child) = server else {
        return;
    };
    if terminate(&child).await && tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
        return;
    }
    if let Err(e) = child.kill().await {
        eprintln!(" * warning: cannot stop the server: {e}");
    }
}

/// The launcher's end on Ctrl-C or SIGTERM: the server's too.
pub(super) async fn shut_down(server: Option<Child>) -> ExitCode {
    stop(server).await;
    ExitCode::SUCCESS
}

/// Sends SIGTERM to `child`; whether that could be done. Through the
/// `kill` command: the workspace forbids the `unsafe` a direct call needs.
async fn terminate(child: &Child) -> bool {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        return Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .is_ok_and(|status| status.success());
    }
    let _ = child;
    false
}

/// The signals that end the launcher: Ctrl-C, and on Unix SIGTERM (a
/// process manager, `kill`) and SIGHUP (the terminal closed).
pub(super) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers now, so that a signal that comes before
    /// [`recv`](Self::recv) is first awaited does not take its default
    /// action (ending the launcher and orphaning the server).
    pub(super) fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for one of the signals.
    pub(super) async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
