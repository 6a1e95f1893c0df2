//! [`Message`]: one email, built field by field, and its [`Attachment`]s.
//!
//! A message is plain data (`Serialize + Deserialize`) so that a queue can
//! store it and deliver it later ([`MailQueue`](crate::MailQueue));
//! attachment bytes are written as base64 in serialized form.

use serde::{Deserialize, Serialize};

/// One email: recipients, subject, a text and/or HTML body, attachments.
///
/// ```
/// use unchained_mail::{Attachment, Message};
///
/// let message = Message::new()
///     .to("ann@example.com")
///     .cc("bob@example.com")
///     .subject("Your invoice")
///     .text("The invoice is attached.")
///     .html("<p>The invoice is attached.</p>")
///     .attach(Attachment::new("invoice.pdf", "application/pdf", b"%PDF-1.7".to_vec()));
/// assert_eq!(message.to, ["ann@example.com"]);
/// assert!(message.is_multipart());
/// ```
///
/// `from` left empty means the sender the app configures
/// (`MAIL_DEFAULT_SENDER`); [`Mail::send`](crate::Mail::send) fills it in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The sender; `None` for `MAIL_DEFAULT_SENDER`.
    #[serde(default)]
    pub from: Option<String>,
    /// `To` recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// `Cc` recipients.
    #[serde(default)]
    pub cc: Vec<String>,
    /// `Bcc` recipients: receive the message, appear in no header.
    #[serde(default)]
    pub bcc: Vec<String>,
    /// `Reply-To`.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// `Subject`.
    #[serde(default)]
    pub subject: String,
    /// The `text/plain` body.
    #[serde(default)]
    pub text: Option<String>,
    /// The `text/html` body.
    #[serde(default)]
    pub html: Option<String>,
    /// Files sent along.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// The name the deferred-delivery hook gives the message type: a
/// [`Message`] is already serializable, so a queue stores it as it is.
pub type SerializableMessage = Message;

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file name the recipient sees, e.g. `invoice.pdf`.
    pub filename: String,
    /// Its MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// The bytes (base64 when serialized).
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

impl Attachment {
    /// An attachment called `filename` of type `content_type`.
    pub fn new(
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Vec<u8>>,
    ) -> Self {
        Attachment {
            filename: filename.into(),
            content_type: content_type.into(),
            data: data.into(),
        }
    }
}

impl Message {
    /// An empty message.
    pub fn new() -> Self {
        Message::default()
    }

    /// Sets the sender (otherwise `MAIL_DEFAULT_SENDER`).
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// Adds a `To` recipient; call again for more.
    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.to.push(to.into());
        self
    }

    /// Adds several `To` recipients.
    pub fn to_all<I, S>(mut self, to: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.to.extend(to.into_iter().map(Into::into));
        self
    }

    /// Adds a `Cc` recipient.
    pub fn cc(mut self, cc: impl Into<String>) -> Self {
        self.cc.push(cc.into());
        self
    }

    /// Adds a `Bcc` recipient.
    pub fn bcc(mut self, bcc: impl Into<String>) -> Self {
        self.bcc.push(bcc.into());
        self
    }

    /// Sets `Reply-To`.
    pub fn reply_to(mut self, reply_to: impl Into<String>) -> Self {
        self.reply_to = Some(reply_to.into());
        self
    }

    /// Sets the subject.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    /// Sets the plain-text body.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets the HTML body.
    pub fn html(mut self, html: impl Into<String>) -> Self {
        self.html = Some(html.into());
        self
    }

    /// Adds an attachment.
    pub fn attach(mut self, attachment: Attachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Whether the body has both parts (sent as `multipart/alternative`).
    pub fn is_multipart(&self) -> bool {
        self.text.is_some() && self.html.is_some()
    }

    /// Every recipient: `to`, then `cc`, then `bcc`.
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .map(String::as_str)
    }
}

/// Attachment bytes as base64 text in serialized form: JSON and most
/// queue formats have no byte strings, and an array of numbers would be
/// four times the size.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("attachment data is not base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_collects_every_field() {
        let m = Message::new()
            .from("Site <site@example.com>")
            .to("a@example.com")
            .to_all(["b@example.com", "c@example.com"])
            .cc("d@example.com")
            .bcc("e@example.com")
            .reply_to("help@example.com")
            .subject("Hi")
            .text("hello");
        assert_eq!(m.to, ["a@example.com", "b@example.com", "c@example.com"]);
        assert_eq!(m.recipients().count(), 5);
        assert_eq!(m.reply_to.as_deref(), Some("help@example.com"));
        assert!(!m.is_multipart());
        assert!(m.clone().html("<p>hello</p>").is_multipart());
    }

    #[test]
    fn a_message_survives_json_with_its_attachment_bytes() {
        let bytes: Vec<u8> = (0..=255).collect();
        let m = Message::new()
            .to("a@example.com")
            .subject("bin")
            .text("see attached")
            .attach(Attachment::new(
                "all.bin",
                "application/octet-stream",
                bytes.clone(),
            ));
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"data\":\"AAECAwQF"), "{json}");
        let back: Message = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.attachments[0].data, bytes);
    }

    #[test]
    fn bad_base64_is_an_error_not_a_panic() {
        let json = r#"{"to":["a@example.com"],"attachments":[{"filename":"x","content_type":"text/plain","data":"@@"}]}"#;
        let err = serde_json::from_str::<Message>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not base64"), "{err}");
    }
}
