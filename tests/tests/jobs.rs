//! Background jobs and mail as a new user meets them: `unchained bundles
//! add jobs` on a `--database` scaffold, a job and a route written in the
//! app, the request stores the job, `unchained jobs list` shows it, and
//! `unchained worker` (another process) runs it, then stops on SIGTERM;
//! then `unchained bundles add mail` and `unchained mail send-test` reach
//! a real SMTP server on 127.0.0.1.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use unchained_tests::*;

/// What the user adds to `src/app.rs`: a job, registered, and a route that
/// enqueues it.
const JOB_CODE: &str = r#"
/// Marks a chore done by writing `chore-NAME.done` in the working folder.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Chore {
    pub name: String,
}

impl unchained_jobs::Job for Chore {
    const NAME: &'static str = "app.chore";

    async fn run(self, _ctx: unchained_jobs::JobContext) -> unchained::anyhow::Result<()> {
        std::fs::write(format!("chore-{}.done", self.name), "done")?;
        Ok(())
    }
}

unchained_jobs::register_job!(Chore);

async fn chore(
    jobs: unchained_jobs::Jobs,
    Path(name): Path<String>,
) -> Result<String, ServerError> {
    let id = jobs.enqueue(Chore { name }).await?;
    Ok(format!("queued {id}"))
}
"#;

/// `unchained worker` in `dir`, in its own process group, ended (group and
/// all) when dropped.
struct Worker(Child);

impl Worker {
    fn start(dir: &Path) -> Worker {
        let child = Command::new(unchained_bin())
            .arg("worker")
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", e2e_target_dir())
            .env("UNCHAINED_QUIET_BUILD", "1")
            .env_remove("UNCHAINED_ENV")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("unchained worker starts");
        Worker(child)
    }

    /// SIGTERM to the group; waits for the launcher's exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("unchained worker did not stop within 60 s of SIGTERM");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

use std::os::unix::process::CommandExt;

/// The mail bundle's test SMTP server (`smtp_server.py`: Python's stdlib
/// `smtpd`), on a free port; each message lands in `inbox` as a file.
struct SmtpServer {
    child: Child,
    port: u16,
    inbox: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> SmtpServer {
        let inbox = temp_dir();
        let script = workspace_root().join("bundles/mail/tests/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(inbox.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (3.11 or older, with smtpd) runs the test SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start: {line:?}"));
        SmtpServer { child, port, inbox }
    }

    /// The messages received so far.
    fn received(&self) -> Vec<String> {
        fs::read_dir(self.inbox.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| fs::read_to_string(e.path()).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bundles_add_jobs_then_a_worker_runs_a_request_s_job_and_mail_send_test_reaches_smtp() {
    let dir = temp_dir();
    let args = [
        "new",
        "project",
        "chores",
        "--no-prompt",
        "--database",
        "--no-migrate",
    ];
    assert_success(&unchained(dir.path(), &args), &args.join(" "));
    let project = dir.path().join("chores");

    let added = unchained(&project, &["bundles", "add", "jobs"]);
    assert_success(&added, "unchained bundles add jobs");
    assert!(
        stdout(&added).contains("added unchained-jobs"),
        "{}",
        stdout(&added)
    );
    let manifest = fs::read_to_string(project.join("unchained.toml")).unwrap();
    let database = manifest.find("\"unchained.bundles.database\"").unwrap();
    let jobs = manifest
        .find("\"unchained.bundles.jobs\"")
        .unwrap_or_else(|| panic!("jobs listed in:\n{manifest}"));
    assert!(database < jobs, "{manifest}");

    let app_rs = project.join("src/app.rs");
    let code = fs::read_to_string(&app_rs).unwrap().replace(
        r#"Routes::new().get("/", index)"#,
        r#"Routes::new().get("/", index).get("/chore/{name}", chore)"#,
    );
    fs::write(
        &app_rs,
        format!("{code}\nuse unchained::axum::extract::Path;\n{JOB_CODE}"),
    )
    .unwrap();

    // The request stores the job; nothing runs it yet (no worker, and
    // inline mode is for tests only).
    let server = Server::start(&project, &[]);
    let (status, body) = server.get("/chore/dishes");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("queued "), "{body}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!project.join("chore-dishes.done").exists());
    let listed = unchained(&project, &["jobs", "list", "--status", "pending"]);
    assert_success(&listed, "unchained jobs list --status pending");
    let table = stdout(&listed);
    assert!(
        table.contains("app.chore") && table.contains("1 jobs in queue default"),
        "{table}"
    );

    let mut worker = Worker::start(&project);
    let deadline = Instant::now() + Duration::from_secs(300);
    while !project.join("chore-dishes.done").exists() {
        assert!(
            Instant::now() < deadline,
            "the worker did not run the job within 300 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        worker.terminate().success(),
        "the worker exits 0 on SIGTERM"
    );
    let done = unchained(&project, &["jobs", "list", "--status", "done"]);
    assert_success(&done, "unchained jobs list --status done");
    assert!(stdout(&done).contains("app.chore"), "{}", stdout(&done));

    // Mail: list the bundle, then check the SMTP settings with send-test.
    let added = unchained(&project, &["bundles", "add", "mail"]);
    assert_success(&added, "unchained bundles add mail");
    let smtp = SmtpServer::start();
    let port = smtp.port.to_string();
    let sent = unchained_with_env(
        &project,
        &["mail", "send-test", "ada@example.com"],
        &[
            ("UNCHAINED_MAIL_TRANSPORT", "smtp"),
            ("UNCHAINED_MAIL_SERVER", "127.0.0.1"),
            ("UNCHAINED_MAIL_PORT", &port),
            ("UNCHAINED_MAIL_USE_TLS", "false"),
        ],
    );
    assert_success(&sent, "unchained mail send-test ada@example.com");
    assert!(
        stdout(&sent).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stdout(&sent)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while smtp.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no message reached the SMTP server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let message = smtp.received().remove(0);
    assert!(
        message.contains("X-Envelope-To: ada@example.com"),
        "{message}"
    );
}
