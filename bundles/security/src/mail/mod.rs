//! Sending the bundle's email: a [`Mailer`] over a [`MailTransport`],
//! either [`SmtpTransport`] (lettre) or [`FileTransport`] (development:
//! each message written to a folder and announced in the log).
//!
//! Message bodies are minijinja templates (`security/email/*.txt`), so an
//! app can reword them by overriding the template names.

mod file;
mod smtp;

use std::sync::Arc;

use async_trait::async_trait;
use lettre::Message;
use lettre::message::Body;
use lettre::message::Mailbox;
use lettre::message::header::{ContentTransferEncoding, ContentType};

pub use file::FileTransport;
pub use smtp::SmtpTransport;

use crate::config::{MailTransportKind, SecurityConfig};

/// One email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Delivers built messages.
#[async_trait]
pub trait MailTransport: Send + Sync + 'static {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// Delivers `message` (addressed to `to`, titled `subject`, both for
    /// logs).
    async fn deliver(&self, message: Message, to: &str, subject: &str) -> anyhow::Result<()>;
}

/// Builds messages from the bundle's sender address and hands them to the
/// transport.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Arc<dyn MailTransport>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &self.transport.name())
            .finish()
    }
}

impl Mailer {
    /// A mailer sending as `from` through `transport`.
    pub fn new(from: Mailbox, transport: Arc<dyn MailTransport>) -> Self {
        Mailer { from, transport }
    }

    /// The mailer the config describes (`MAIL_TRANSPORT` and friends);
    /// relative `MAIL_FILE_DIR` paths start at `root`.
    pub fn from_config(config: &SecurityConfig, root: &std::path::Path) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .email_sender
            .parse()
            .map_err(|e| anyhow::anyhow!("SECURITY_EMAIL_SENDER is not an address: {e}"))?;
        let transport: Arc<dyn MailTransport> = match config.mail_transport {
            MailTransportKind::File => {
                Arc::new(FileTransport::new(root.join(&config.mail_file_dir)))
            }
            MailTransportKind::Smtp => Arc::new(SmtpTransport::from_config(config)?),
        };
        Ok(Mailer::new(from, transport))
    }

    /// The transport's name.
    pub fn transport_name(&self) -> &'static str {
        self.transport.name()
    }

    /// Sends `email`. Errors are returned for the caller to log; the
    /// message text is never logged.
    pub async fn send(&self, email: &Email) -> anyhow::Result<()> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| anyhow::anyhow!("recipient is not an address: {e}"))?;
        // Plain 7-bit text when possible, so long links stay whole (lettre
        // would quote-print any line over 76 characters).
        let body = seven_bit(&email.body).unwrap_or_else(|| Body::new(email.body.clone()));
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        self.transport
            .deliver(message, &email.to, &email.subject)
            .await
    }
}

/// `text` as a 7-bit body (CRLF line ends) when it is ASCII without NUL
/// and every line fits the 998-character limit of RFC 5322.
fn seven_bit(text: &str) -> Option<Body> {
    let ok = text.is_ascii() && !text.contains('\0') && text.lines().all(|l| l.len() <= 998);
    if !ok {
        return None;
    }
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    Some(Body::dangerous_pre_encoded(
        crlf.into_bytes(),
        ContentTransferEncoding::SevenBit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ascii_lines_stay_whole() {
        let link = format!("https://example.com/reset-password/{}", "x".repeat(200));
        let body = seven_bit(&format!("Hello\n\n{link}\n")).unwrap();
        assert_eq!(body.encoding(), ContentTransferEncoding::SevenBit);
        assert!(String::from_utf8_lossy(body.as_ref()).contains(&link));
        assert!(seven_bit("caf\u{e9}").is_none());
    }
}
