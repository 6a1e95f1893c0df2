//! `unchained run --reload`, as a developer uses it: a template edit shows
//! without a rebuild, a source edit rebuilds and restarts, a compile error
//! leaves the previous build serving, and SIGTERM leaves nothing behind.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unchained_tests::*;

/// Builds on two cores are slow; the first one compiles every dependency.
const FIRST_BUILD: Duration = Duration::from_secs(1200);
const REBUILD: Duration = Duration::from_secs(600);

/// `unchained run --reload` in its own process group, its stderr kept (and
/// echoed, so a failing test shows it); the group is killed when dropped.
struct Reloading {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Reloading {
    fn start(project: &Path) -> Reloading {
        let port = free_port();
        let mut child = Command::new(unchained_bin())
            .args(["run", "--reload", "--port", &port.to_string()])
            .current_dir(project)
            .env("CARGO_TARGET_DIR", e2e_target_dir())
            .env("UNCHAINED_QUIET_BUILD", "1")
            .env_remove("UNCHAINED_ENV")
            // The launcher's lines are its own; the server's log of every
            // polling request would bury them.
            .env("RUST_LOG", "warn")
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unchained run --reload starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&chunk[..n]);
                    eprint!("{text}");
                    if let Ok(mut all) = sink.lock() {
                        all.push_str(&text);
                    }
                }
            });
        }
        Reloading {
            child,
            port,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Polls `GET /` until its body contains `text`; panics after `timeout`
    /// or if the launcher exits.
    fn wait_for_page(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("unchained run --reload exited with {status}");
            }
            if let Some((200, body)) = try_get(self.port, "/")
                && body.contains(text)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "GET / did not show {text:?} within {timeout:?}; last answer: {:?}",
            try_get(self.port, "/")
        );
    }

    /// Waits until the launcher has written `text` to stderr.
    fn wait_for_stderr(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stderr().contains(text) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("unchained run --reload exited with {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the launcher did not print {text:?} within {timeout:?}");
    }
}

impl Drop for Reloading {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`, or `None` while nothing answers (the
/// server is restarting).
fn try_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

/// Replaces `from` with `to` in `file`, which must contain it.
fn edit(file: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{} lacks {from:?}", file.display());
    fs::write(file, text.replacen(from, to, 1)).expect("write");
}

#[test]
fn reload_serves_template_edits_rebuilds_sources_and_survives_errors() {
    let dir = temp_dir();
    let output = unchained(dir.path(), &["new", "project", "demo", "--no-prompt"]);
    assert_success(&output, "unchained new project demo --no-prompt");
    let project = dir.path().join("demo");
    let app_rs = project.join("src/app.rs");

    let mut server = Reloading::start(&project);
    server.wait_for_page("Welcome to demo", FIRST_BUILD);

    // (a) A template edit is served without a rebuild.
    edit(
        &project.join("templates/index.html"),
        "Welcome to",
        "Edited template: welcome to",
    );
    server.wait_for_page("Edited template: welcome to demo", Duration::from_secs(30));
    assert!(
        !server.stderr().contains("Detected change"),
        "a template edit must not rebuild:\n{}",
        server.stderr()
    );

    // (b) A source edit rebuilds and restarts.
    edit(
        &app_rs,
        "context! { title,",
        "context! { title => format!(\"{title} rebuilt\"),",
    );
    server.wait_for_page("welcome to demo rebuilt", REBUILD);
    let log = server.stderr();
    assert!(
        log.contains(" * Detected change in src/app.rs, rebuilding..."),
        "{log}"
    );
    assert!(log.contains(" * Restarted in "), "{log}");

    // (c) A compile error keeps the previous build serving...
    let good = fs::read_to_string(&app_rs).expect("read");
    fs::write(
        &app_rs,
        format!("{good}\nfn broken() -> u32 {{ \"not a number\" }}\n"),
    )
    .expect("write");
    server.wait_for_stderr(
        " * Build failed; still serving the previous build. Fix the error and save again.",
        REBUILD,
    );
    let (status, body) = try_get(server.port, "/").expect("the old server still answers");
    assert_eq!(status, 200);
    assert!(body.contains("welcome to demo rebuilt"), "{body}");
    // ... until it is fixed.
    fs::write(&app_rs, good.replace("rebuilt", "fixed")).expect("write");
    server.wait_for_page("welcome to demo fixed", REBUILD);

    // SIGTERM to the launcher alone (as a process manager sends it) stops
    // the server too: the port is free and the process group is empty.
    let pid = server.child.id();
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "the launcher did not exit within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_err(),
        "something still listens on port {} after SIGTERM",
        server.port
    );
    let group_alive = Command::new("kill")
        .args(["-0", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status()
        .expect("kill runs")
        .success();
    assert!(
        !group_alive,
        "a process of the launcher's group outlived it"
    );
}
