//! [`MailTransport`]: where a message goes once it is sent, one module
//! per transport: [`SmtpTransport`] (an SMTP server, with lettre),
//! [`FileTransport`] (development: `.eml` files) and [`OutboxTransport`]
//! (tests: kept in memory).

mod file;
mod outbox;
mod smtp;

use std::fmt;
use std::path::PathBuf;

use async_trait::async_trait;
use lettre::message::Mailbox;

pub use file::FileTransport;
pub use outbox::{Outbox, OutboxTransport};
pub use smtp::SmtpTransport;

use crate::error::MailError;
use crate::message::Message;

/// Delivers messages. A transport gets messages already checked
/// ([`mime::validate`](crate::mime::validate)); `default_from` is the
/// sender of a message that names none.
#[async_trait]
pub trait MailTransport: Send + Sync + 'static {
    /// A short name for logs and `unchained mail send-test`.
    fn name(&self) -> &'static str;

    /// Delivers `message`; says where it went.
    async fn deliver(
        &self,
        message: &Message,
        default_from: &Mailbox,
    ) -> Result<Delivery, MailError>;
}

/// Where a delivered message went.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Accepted by an SMTP server.
    Smtp {
        /// `MAIL_SERVER`.
        server: String,
        /// `MAIL_PORT`.
        port: u16,
    },
    /// Written to a file.
    File {
        /// The `.eml` file.
        path: PathBuf,
    },
    /// Kept in the in-memory outbox.
    Outbox,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Smtp { server, port } => {
                write!(f, "accepted by the SMTP server {server}:{port}")
            }
            Delivery::File { path } => write!(f, "written to {}", path.display()),
            Delivery::Outbox => {
                f.write_str("kept in the in-memory outbox (MAIL_TRANSPORT = \"outbox\")")
            }
        }
    }
}

/// Every recipient of `message`, comma-separated, for log lines.
pub(crate) fn recipients(message: &Message) -> String {
    message.recipients().collect::<Vec<_>>().join(", ")
}
