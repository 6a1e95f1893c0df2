//! An app in a process of its own: this test binary started again with
//! only one `#[ignore]`d test, which builds an app from its environment,
//! serves it on 127.0.0.1 and prints [`LISTENING`] and the address. Tests
//! use it where nothing in memory may be shared with the app (two app
//! processes on one store) or where the app must die (`kill -9`).

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The line the child prints once it listens, before its address.
pub const LISTENING: &str = "test app listening on ";

/// A running child app.
pub struct ChildApp {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl ChildApp {
    /// Runs the ignored test `test` of this binary with `env` and waits
    /// until it listens.
    pub async fn start(test: &str, env: &[(&str, &OsStr)]) -> ChildApp {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([test, "--exact", "--ignored", "--nocapture"])
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix(LISTENING) {
                    return addr.parse().unwrap();
                }
            }
            panic!("the app process {test} ended before it listened");
        })
        .await
        .expect("the app process listens within 30 s");
        // Keep reading what it prints, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ChildApp { child, addr }
    }

    /// `kill -9` (tokio's `kill` sends SIGKILL), and reaps it.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}
