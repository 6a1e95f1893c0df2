//! The mail transports over real connections: SMTP against a minimal
//! SMTP server on 127.0.0.1, and the file transport on a temporary folder.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use unchained::config::{Config, Environment};
use unchained_security::SecurityConfig;
use unchained_security::mail::{Email, Mailer};

/// A tiny SMTP server that accepts every message and keeps its DATA.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 localhost test SMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-localhost\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            let _ = write.write_all(b"354 end with .\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            store.lock().unwrap().push(data);
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, received)
}

fn config(pairs: &[(&str, serde_json::Value)]) -> SecurityConfig {
    let mut builder = Config::builder(Environment::Test).defaults(
        "security",
        unchained_security::config::defaults(Environment::Test),
    );
    for (k, v) in pairs {
        builder = builder.set(k, v.clone());
    }
    SecurityConfig::from_config(&builder.build()).unwrap()
}

fn email() -> Email {
    Email {
        to: "ann@example.com".into(),
        subject: "Reset your password".into(),
        body: format!(
            "Open http://localhost:5000/reset-password/{}\n",
            "t".repeat(150)
        ),
    }
}

#[tokio::test]
async fn smtp_delivers_the_message_with_long_links_intact() {
    let (port, received) = smtp_server().await;
    let config = config(&[
        ("MAIL_TRANSPORT", "smtp".into()),
        ("MAIL_SERVER", "127.0.0.1".into()),
        ("MAIL_PORT", port.into()),
        ("MAIL_SECURITY", "none".into()),
        (
            "SECURITY_EMAIL_SENDER",
            "Site <no-reply@example.com>".into(),
        ),
    ]);
    let mailer = Mailer::from_config(&config, std::path::Path::new(".")).unwrap();
    assert_eq!(mailer.transport_name(), "smtp");
    mailer.send(&email()).await.unwrap();
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert!(
        message.contains("Subject: Reset your password"),
        "{message}"
    );
    assert!(message.contains("To: ann@example.com"));
    assert!(message.contains("From: Site <no-reply@example.com>"));
    assert!(
        message.contains(&format!("/reset-password/{}", "t".repeat(150))),
        "{message}"
    );
}

#[tokio::test]
async fn starttls_is_required_when_configured() {
    // The test server offers no STARTTLS: nothing may be sent in clear.
    let (port, received) = smtp_server().await;
    let config = config(&[
        ("MAIL_TRANSPORT", "smtp".into()),
        ("MAIL_SERVER", "127.0.0.1".into()),
        ("MAIL_PORT", port.into()),
        ("MAIL_SECURITY", "starttls".into()),
    ]);
    let mailer = Mailer::from_config(&config, std::path::Path::new(".")).unwrap();
    assert!(mailer.send(&email()).await.is_err());
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn smtp_errors_are_reported_not_panicked() {
    // Nothing listens on this port once the listener is dropped.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = config(&[
        ("MAIL_TRANSPORT", "smtp".into()),
        ("MAIL_SERVER", "127.0.0.1".into()),
        ("MAIL_PORT", port.into()),
        ("MAIL_SECURITY", "none".into()),
    ]);
    let mailer = Mailer::from_config(&config, std::path::Path::new(".")).unwrap();
    let err = mailer.send(&email()).await.unwrap_err();
    assert!(err.to_string().contains("SMTP"), "{err}");
}

#[tokio::test]
async fn the_file_transport_writes_one_eml_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&[("MAIL_FILE_DIR", "outbox".into())]);
    let mailer = Mailer::from_config(&config, dir.path()).unwrap();
    assert_eq!(mailer.transport_name(), "file");
    mailer.send(&email()).await.unwrap();
    mailer.send(&email()).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 2);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("Subject: Reset your password"));
    assert!(text.contains(&"t".repeat(150)));
    assert!(files[0].path().extension().is_some_and(|e| e == "eml"));
}

#[tokio::test]
async fn bad_mail_config_is_refused() {
    let built = Config::builder(Environment::Test)
        .defaults(
            "security",
            unchained_security::config::defaults(Environment::Test),
        )
        .set("SECURITY_EMAIL_SENDER", "not an address")
        .build();
    let err = SecurityConfig::from_config(&built).unwrap_err();
    assert!(err.to_string().contains("SECURITY_EMAIL_SENDER"), "{err}");
    let production = Config::builder(Environment::Production)
        .defaults(
            "security",
            unchained_security::config::defaults(Environment::Production),
        )
        .set("SECURITY_RECOVERABLE", true)
        .build();
    let err = SecurityConfig::from_config(&production).unwrap_err();
    assert!(err.to_string().contains("SECURITY_EXTERNAL_URL"), "{err}");
    let weak = Config::builder(Environment::Test)
        .defaults(
            "security",
            unchained_security::config::defaults(Environment::Test),
        )
        .set("SECURITY_PASSWORD_ARGON2_MEMORY_KIB", 1)
        .build();
    assert!(
        SecurityConfig::from_config(&weak)
            .unwrap_err()
            .to_string()
            .contains("ARGON2")
    );
}
