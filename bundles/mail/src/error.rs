//! [`MailError`]: everything that can go wrong between building a message
//! and handing it over.

use std::path::PathBuf;

/// Why a message was not sent. Each variant names what is at fault (the
/// field, template, server or file) and the message says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// An address field holds something that is not an email address.
    #[error(
        "{field} {value:?} is not an email address ({reason}): write e.g. \"ann@example.com\" or \"Ann <ann@example.com>\""
    )]
    InvalidAddress {
        /// The field (`to`, `cc`, `bcc`, `reply_to`, `from`) or config key.
        field: String,
        /// The value given.
        value: String,
        /// The parser's reason.
        reason: String,
    },
    /// No `to`, `cc` or `bcc` address.
    #[error(
        "the message {subject:?} has no recipient: add one with .to(...), .cc(...) or .bcc(...)"
    )]
    NoRecipient {
        /// The message's subject, to tell messages apart.
        subject: String,
    },
    /// Neither a text nor an HTML body.
    #[error(
        "the message {subject:?} has no body: set .text(...) or .html(...), or render templates"
    )]
    NoBody {
        /// The message's subject.
        subject: String,
    },
    /// An attachment's content type does not parse.
    #[error(
        "attachment {filename:?} has content type {content_type:?}, which is not a MIME type: write e.g. \"application/pdf\""
    )]
    InvalidContentType {
        /// The attachment's file name.
        filename: String,
        /// The content type given.
        content_type: String,
    },
    /// Neither `NAME.txt` nor `NAME.html` exists.
    #[error(
        "no mail template {name}.txt or {name}.html: add one to a bundle or to the project's templates/ folder"
    )]
    NoTemplate {
        /// The name without extension.
        name: String,
    },
    /// A template exists but failed to render.
    #[error("mail template {template} failed to render: {message}")]
    Template {
        /// The template's full name.
        template: String,
        /// minijinja's message.
        message: String,
    },
    /// [`Mail::render`](crate::Mail::render) was called before the app was
    /// built (templates are attached by the bundle's `after_build`).
    #[error(
        "Mail::render has no templates yet: call it once the app is built, or use Message::render with the app's templates"
    )]
    NoTemplates,
    /// lettre refused to assemble the message.
    #[error("the message {subject:?} could not be assembled: {message}")]
    Build {
        /// The message's subject.
        subject: String,
        /// lettre's message.
        message: String,
    },
    /// The SMTP server refused the message, or could not be reached.
    #[error(
        "SMTP delivery to {server}:{port} failed: {message}; check MAIL_SERVER and MAIL_PORT (and MAIL_USE_TLS / MAIL_USE_SSL, MAIL_USERNAME / MAIL_PASSWORD) and that the server is running"
    )]
    Smtp {
        /// `MAIL_SERVER`.
        server: String,
        /// `MAIL_PORT`.
        port: u16,
        /// lettre's message (never includes the password).
        message: String,
    },
    /// The file transport could not write.
    #[error(
        "writing mail to {path} failed: {message}; check MAIL_FILE_DIR (the folder must be writable)"
    )]
    File {
        /// The folder or file.
        path: PathBuf,
        /// The operating system's message.
        message: String,
    },
    /// The deferred-delivery queue refused the message.
    #[error("queueing the message {subject:?} failed: {source:#}")]
    Queue {
        /// The message's subject.
        subject: String,
        /// The queue's error.
        source: anyhow::Error,
    },
}
