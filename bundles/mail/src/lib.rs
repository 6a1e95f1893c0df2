//! The mail bundle of Unchained, named `unchained.bundles.mail`: one
//! [`Mail`] service that every bundle and handler sends mail through,
//! messages with text and HTML bodies and attachments ([`Message`]),
//! bodies rendered from overridable templates, three transports (SMTP,
//! `.eml` files, an in-memory outbox), test helpers, a hook through which
//! a jobs bundle defers delivery, and `unchained mail send-test`.
//!
//! ```
//! use unchained_mail::{Attachment, Mail, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), unchained_mail::MailError> {
//! // In an app, take it as `Service<Mail>`; here, one with an outbox.
//! let mail = Mail::in_memory("Example <no-reply@example.com>".parse().unwrap());
//! mail.send(
//!     Message::new()
//!         .to("ann@example.com")
//!         .subject("Your report")
//!         .text("The report is attached.")
//!         .html("<p>The report is attached.</p>")
//!         .attach(Attachment::new("report.csv", "text/csv", b"a,b\n1,2\n".to_vec())),
//! )
//! .await?;
//! let sent = mail.outbox().expect("an in-memory outbox").messages();
//! assert_eq!(sent[0].from.as_deref(), Some("Example <no-reply@example.com>"));
//! # Ok(()) }
//! ```
//!
//! In an app, list the bundle and set the server:
//!
//! ```toml
//! bundles = ["unchained.bundles.mail", "app"]
//!
//! [production]
//! MAIL_SERVER = "smtp.example.com"
//! MAIL_USERNAME = "apikey"
//! # MAIL_PASSWORD comes from UNCHAINED_MAIL_PASSWORD
//! MAIL_DEFAULT_SENDER = "Example <no-reply@example.com>"
//! ```
//!
//! `docs/bundles/mail.md` lists every key, transport and command.
//!
//! # Transports
//!
//! `MAIL_TRANSPORT` picks one: `smtp` (the production default), `file`
//! (development: each message an `.eml` file under `MAIL_FILE_DIR`,
//! announced in the log) or `outbox` (tests: kept in memory, read with
//! [`testing::outbox`]).
//!
//! SMTP uses [lettre]: it is the maintained, widely used Rust mail crate,
//! builds correct MIME (multipart, attachments, encoded headers) and has
//! an async tokio transport with STARTTLS, implicit TLS (rustls, no
//! OpenSSL to install), authentication and a connection pool. The
//! security bundle already used it, so the lockfile keeps one version.
//!
//! # Templates
//!
//! [`Mail::render`] (or [`Message::render`] with the app's templates)
//! renders `NAME.txt` as the text body and `NAME.html` as the HTML body;
//! either may be missing. Both present are sent as
//! `multipart/alternative`. An app overrides a bundle's mail by putting a
//! file of the same name in its `templates/` folder.
//!
//! # Deferred delivery
//!
//! By default [`Mail::send`] delivers at once. Another bundle (a jobs
//! bundle) takes delivery over at runtime by implementing [`MailQueue`]
//! and calling [`Mail::defer_through`], typically in its `before_build`
//! (with the mail bundle loaded first) or `after_build`:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use unchained_mail::{BoxFuture, Mail, MailQueue, SerializableMessage};
//! struct JobsQueue; // stores the message in the jobs table
//! impl MailQueue for JobsQueue {
//!     fn enqueue(&self, message: SerializableMessage) -> BoxFuture<'_, anyhow::Result<()>> {
//!         Box::pin(async move {
//!             let _payload = serde_json::to_vec(&message)?; // insert as a job
//!             Ok(())
//!         })
//!     }
//! }
//! # async fn demo(mail: Mail, payload: &[u8]) -> anyhow::Result<()> {
//! mail.defer_through(Arc::new(JobsQueue))?;
//! // ...later, in the job's handler:
//! let message: SerializableMessage = serde_json::from_slice(payload)?;
//! mail.deliver_now(message).await?;
//! # Ok(()) }
//! ```
//!
//! From then on `send` checks the message (addresses, a recipient, a
//! body), fills in the sender and hands it to the queue; the message is
//! plain serde data, attachments as base64. `deliver_now` always sends
//! through the transport.
//!
//! # Without this bundle
//!
//! A bundle that sends mail but should not make every project list this
//! one (the security bundle) calls [`Mail::shared`] in its `before_build`:
//! it takes the `Mail` registered by a bundle loaded earlier, or builds
//! one from the same `MAIL_*` keys and registers it, so an app always has
//! exactly one.

#![warn(missing_docs)]

pub mod address;
mod bundle;
pub mod command;
pub mod config;
pub mod error;
pub mod message;
pub mod mime;
pub mod queue;
mod render;
pub mod service;
pub mod testing;
pub mod transport;

pub use bundle::{BUNDLE_NAME, MailBundle};
pub use config::{MailConfig, SmtpSecurity, TransportKind};
pub use error::MailError;
pub use message::{Attachment, Message, SerializableMessage};
pub use queue::{AlreadyDeferred, BoxFuture, MailQueue};
pub use service::Mail;
pub use transport::{Delivery, MailTransport, Outbox};
