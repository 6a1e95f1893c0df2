//! Helpers for the workspace's end-to-end tests: the `unchained` binary,
//! scaffolded projects that share one build cache, and a server that is
//! stopped when the test ends.
//!
//! Scaffolded projects build into `e2e/` under the workspace's target
//! folder so that their dependencies compile once for all tests (and all
//! later runs) instead of once per project. The target folder is where
//! cargo puts it (`cargo metadata`), so `CARGO_TARGET_DIR` is honoured.

pub mod guide;
pub mod http;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

/// The workspace's target folder, where cargo puts it: `target/` under
/// the root unless `CARGO_TARGET_DIR` or a cargo config says otherwise.
pub fn target_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let output = Command::new(cargo())
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(workspace_root())
            .output()
            .expect("cargo metadata runs");
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
        let dir = metadata["target_directory"]
            .as_str()
            .expect("cargo metadata names the target directory");
        PathBuf::from(dir)
    })
}

/// The shared target folder of scaffolded projects.
pub fn e2e_target_dir() -> PathBuf {
    target_dir().join("e2e")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The `unchained` binary of this checkout, built once per test process.
pub fn unchained_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace_root();
        let status = Command::new(cargo())
            .args(["build", "--quiet", "-p", "unchained", "--bin", "unchained"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the unchained binary failed");
        target_dir().join("debug").join("unchained")
    })
}

/// Runs `unchained ARGS` in `dir` the way a user would, with the shared
/// build cache; returns its output.
pub fn unchained(dir: &Path, args: &[&str]) -> Output {
    unchained_with_env(dir, args, &[])
}

/// Like [`unchained`] with extra environment variables.
pub fn unchained_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(unchained_bin());
    command
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", e2e_target_dir())
        .env("UNCHAINED_QUIET_BUILD", "1")
        .env_remove("UNCHAINED_ENV");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("unchained runs")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the command succeeded, showing its output when it did not.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({:?})\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Runs `cargo ARGS` in a scaffolded project with the shared build cache.
pub fn cargo_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(cargo())
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", e2e_target_dir())
        .env_remove("UNCHAINED_ENV")
        .output()
        .expect("cargo runs")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Server {
    /// Starts `unchained run --port PORT` in `dir` and waits until it answers.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut command = run_command(dir, port, env);
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        let child = command.spawn().expect("unchained run starts");
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("unchained run exited early with {status}");
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("unchained run did not listen on port {port} in time");
    }

    /// Sends SIGTERM to the `unchained run` process only (not its group,
    /// as a process manager would) and waits until it has exited.
    pub fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("unchained run did not exit within 30 s of SIGTERM");
    }

    /// `GET path`: status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // `unchained` runs the project's binary through cargo: end the
        // whole group, not just the launcher.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a server started with [`Server::start_capturing`] has written to
/// standard error so far; a thread keeps reading it while the server runs.
#[derive(Clone, Default)]
pub struct CapturedStderr(Arc<Mutex<Vec<u8>>>);

impl CapturedStderr {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits up to `timeout` until the text contains `needle` (a log line
    /// is written after its response is sent); returns the text either way.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text();
            if text.contains(needle) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Server {
    /// Like [`Server::start`], but standard error is kept in the returned
    /// [`CapturedStderr`] instead of shown (it is a pipe, as in a
    /// deployment, not a terminal).
    pub fn start_capturing(dir: &Path, env: &[(&str, &str)]) -> (Server, CapturedStderr) {
        let port = free_port();
        let mut command = run_command(dir, port, env);
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("unchained run starts");
        let captured = CapturedStderr::default();
        if let Some(mut pipe) = child.stderr.take() {
            let sink = captured.0.clone();
            // Read as it comes, so a long build log cannot fill the pipe.
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut all) = sink.lock() {
                        all.extend_from_slice(&chunk[..n]);
                    }
                }
            });
        }
        let mut server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                // Let the reader catch the last words.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "unchained run exited early with {status}\n--- stderr\n{}",
                    captured.text()
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (server, captured);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "unchained run did not listen on port {port} in time\n--- stderr\n{}",
            captured.text()
        );
    }
}

/// `unchained run --port PORT` in `dir` as a user runs it, with the shared
/// build cache, in its own process group (so that ending the group ends
/// cargo and the project's binary under it too).
fn run_command(dir: &Path, port: u16, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(unchained_bin());
    command
        .args(["run", "--port", &port.to_string()])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", e2e_target_dir())
        .env("UNCHAINED_QUIET_BUILD", "1")
        .env_remove("UNCHAINED_ENV")
        .process_group(0);
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// Runs `unchained run` in `dir` until it exits by itself, as it must when
/// the app cannot be built; returns its status and standard error. Kills it
/// and panics if it is still running after ten minutes.
pub fn run_until_exit(dir: &Path) -> (std::process::ExitStatus, String) {
    let mut child = run_command(dir, free_port(), &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unchained run starts");
    // Read stderr on the side, so a long build log cannot fill the pipe.
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = pipe.read_to_string(&mut err);
        err
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (status, reader.join().expect("stderr reader"));
        }
        if Instant::now() > deadline {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            let _ = child.kill();
            panic!("unchained run kept running although the app cannot be built");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A minimal HTTP/1.1 `GET` on 127.0.0.1: status code and body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A temporary folder for one test's project.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("unchained-e2e-")
        .tempdir()
        .expect("temp dir")
}

/// The migration files of the project at `project` (`db/migrations/*.rs`),
/// sorted: oldest first, as their names start with the time.
pub fn migration_files(project: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(project.join("db/migrations"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
