//! The SMTP transport against a real SMTP server: Python's stdlib
//! `smtpd`, started as a child process on a free 127.0.0.1 port, which
//! writes every message it receives to a folder. `unchained mail
//! send-test` runs as the `unchained` binary runs a bundle's command
//! (through a `CommandContext`), configured by `UNCHAINED_MAIL_*`
//! environment variables.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use unchained::app::LoadedApp;
use unchained::config::{Config, EnvVars, Environment};
use unchained::project::Manifest;
use unchained::registry::BundleRegistry;
use unchained::{Bundle, clap};
use unchained_mail::{Attachment, Mail, MailBundle, MailConfig, Message};

/// A running `smtp_server.py`; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    inbox: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> Self {
        let inbox = tempfile::tempdir().expect("a folder for received mail");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(inbox.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "this test needs python3 (3.11 or older, for the stdlib smtpd module) on PATH to run a \
                     local SMTP server, and starting it failed: {e}"
                )
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's port");
        let Some(port) = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            panic!(
                "{} did not start (it printed {line:?}): python3 must be 3.11 or older, with the smtpd module",
                script.display()
            );
        };
        SmtpServer { child, port, inbox }
    }

    /// The messages received so far (envelope headers, then the data),
    /// waiting up to 10 s for at least `n`.
    fn received(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut files: Vec<_> = std::fs::read_dir(self.inbox.path())
                .expect("the inbox folder")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            if files.len() >= n || Instant::now() >= deadline {
                files.sort();
                return files
                    .iter()
                    .map(|p| std::fs::read_to_string(p).expect("a received message"))
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project with only the mail bundle, configured by the environment
/// variables `vars` (as `UNCHAINED_MAIL_SERVER=... unchained mail ...`).
fn loaded(root: &Path, vars: &[(&str, String)]) -> LoadedApp {
    let registry = BundleRegistry::from_bundles(vec![Arc::new(MailBundle) as Arc<dyn Bundle>])
        .expect("a registry");
    let manifest = Manifest {
        bundles: vec![unchained_mail::BUNDLE_NAME.into()],
        ..Manifest::default()
    };
    let resolved = registry.resolve(&manifest).expect("resolved");
    let env_vars = EnvVars::from_pairs(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let config = Config::builder(Environment::Development)
        .defaults(
            unchained_mail::BUNDLE_NAME,
            unchained_mail::config::defaults(Environment::Development),
        )
        .env_vars_from(env_vars)
        .build();
    LoadedApp::from_parts(root.to_owned(), resolved, config)
}

fn smtp_vars(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("UNCHAINED_MAIL_TRANSPORT", "smtp".into()),
        ("UNCHAINED_MAIL_SERVER", "127.0.0.1".into()),
        ("UNCHAINED_MAIL_PORT", port.to_string()),
        // The test server speaks plain SMTP.
        ("UNCHAINED_MAIL_USE_TLS", "false".into()),
        (
            "UNCHAINED_MAIL_DEFAULT_SENDER",
            "Site <site@example.com>".into(),
        ),
    ]
}

async fn mail_command(loaded: &LoadedApp, args: &[&str]) -> anyhow::Result<()> {
    let cli = MailBundle.cli().expect("the mail bundle has commands");
    let matches = cli
        .augment(clap::Command::new("unchained"))
        .try_get_matches_from(
            ["unchained", "mail"]
                .into_iter()
                .chain(args.iter().copied()),
        )?;
    cli.run(&matches, &loaded.command_context()).await
}

#[tokio::test]
async fn send_test_reaches_a_local_smtp_server() {
    let server = SmtpServer::start();
    let project = tempfile::tempdir().unwrap();
    let loaded = loaded(project.path(), &smtp_vars(server.port));

    mail_command(&loaded, &["send-test", "ann@example.com"])
        .await
        .unwrap();
    let received = server.received(1);
    assert_eq!(received.len(), 1, "one message arrived");
    let message = &received[0];
    assert!(
        message.contains("X-Envelope-To: ann@example.com"),
        "{message}"
    );
    assert!(
        message.contains("X-Envelope-From: site@example.com"),
        "{message}"
    );
    assert!(
        message.contains("Subject: Unchained test message"),
        "{message}"
    );
    assert!(message.contains("To: ann@example.com"), "{message}");
    assert!(
        message.contains("multipart/alternative"),
        "text and HTML: {message}"
    );
    assert!(
        message.contains("<code>unchained mail send-test</code>"),
        "{message}"
    );

    // What the command prints: where the message went.
    let mail = Mail::from_app_config(loaded.config(), project.path()).unwrap();
    let mut out = Vec::new();
    unchained_mail::command::send_test(&mail, "bob@example.com", &mut out)
        .await
        .unwrap();
    let printed = String::from_utf8(out).unwrap();
    assert_eq!(
        printed,
        format!(
            "Sent a test message to bob@example.com: accepted by the SMTP server 127.0.0.1:{}.\n",
            server.port
        )
    );
    assert!(server.received(2)[1].contains("X-Envelope-To: bob@example.com"));
}

#[tokio::test]
async fn send_test_names_the_keys_to_check_when_nothing_listens() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let project = tempfile::tempdir().unwrap();
    let loaded = loaded(project.path(), &smtp_vars(port));
    let err = mail_command(&loaded, &["send-test", "ann@example.com"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        err.contains("MAIL_SERVER") && err.contains("MAIL_PORT"),
        "{err}"
    );
    let err = mail_command(&loaded, &["send-test", "not-an-address"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ADDRESS \"not-an-address\""), "{err}");
}

#[tokio::test]
async fn html_and_an_attachment_go_through_smtp() {
    let server = SmtpServer::start();
    let project = tempfile::tempdir().unwrap();
    let loaded = loaded(project.path(), &smtp_vars(server.port));
    let config = MailConfig::from_config(loaded.config()).unwrap();
    let mail = Mail::from_config(&config, project.path()).unwrap();
    assert_eq!(mail.transport_name(), "smtp");
    let pdf: Vec<u8> = b"%PDF-1.7 binary \x00\x01\x02\xff end".to_vec();
    mail.send(
        Message::new()
            .to("ann@example.com")
            .to("bob@example.com")
            .bcc("audit@example.com")
            .reply_to("help@example.com")
            .subject("Invoice 42")
            .text("Your invoice is attached.")
            .html("<p>Your <b>invoice</b> is attached.</p>")
            .attach(Attachment::new(
                "invoice-42.pdf",
                "application/pdf",
                pdf.clone(),
            )),
    )
    .await
    .unwrap();

    let received = server.received(1);
    assert_eq!(received.len(), 1);
    let message = &received[0];
    for to in ["ann@example.com", "bob@example.com", "audit@example.com"] {
        assert!(
            message.contains(&format!("X-Envelope-To: {to}")),
            "{to}: {message}"
        );
    }
    assert!(!message.contains("Bcc:"), "Bcc is envelope only: {message}");
    assert!(
        message.contains("Subject: Invoice 42") && message.contains("Reply-To: help@example.com")
    );
    assert!(
        message.contains("multipart/mixed") && message.contains("multipart/alternative"),
        "{message}"
    );
    assert!(
        message.contains("<p>Your <b>invoice</b> is attached.</p>"),
        "{message}"
    );
    assert!(
        message.contains("Content-Type: application/pdf"),
        "{message}"
    );
    assert!(message.contains("filename=\"invoice-42.pdf\""), "{message}");
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pdf);
    assert!(
        message.contains(&encoded),
        "the attachment's bytes, base64: {message}"
    );
}
