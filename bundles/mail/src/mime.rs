//! A [`Message`] as a MIME message (lettre's), the form the SMTP and file
//! transports send: a single part for a text-only or HTML-only body,
//! `multipart/alternative` for both, inside `multipart/mixed` when there
//! are attachments.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

use crate::address;
use crate::error::MailError;
use crate::message::Message;

/// Checks `message` the way [`build`] would, without assembling it:
/// the addresses, at least one recipient and one body, the attachments'
/// content types. [`Mail::send`](crate::Mail::send) calls it before a
/// message is queued, so a bad message fails where it was written, not
/// later in a worker.
pub fn validate(message: &Message) -> Result<(), MailError> {
    if let Some(from) = &message.from {
        address::check("from", from)?;
    }
    if let Some(reply_to) = &message.reply_to {
        address::check("reply_to", reply_to)?;
    }
    for (field, list) in [
        ("to", &message.to),
        ("cc", &message.cc),
        ("bcc", &message.bcc),
    ] {
        for value in list {
            address::check(field, value)?;
        }
    }
    if message.recipients().next().is_none() {
        return Err(MailError::NoRecipient {
            subject: message.subject.clone(),
        });
    }
    if message.text.is_none() && message.html.is_none() {
        return Err(MailError::NoBody {
            subject: message.subject.clone(),
        });
    }
    for attachment in &message.attachments {
        content_type(&attachment.filename, &attachment.content_type)?;
    }
    Ok(())
}

/// `message` as lettre's message, sent as `from` when the message names
/// no sender.
pub fn build(message: &Message, default_from: &Mailbox) -> Result<lettre::Message, MailError> {
    validate(message)?;
    let mut builder = lettre::Message::builder().subject(message.subject.clone());
    builder = builder.from(match &message.from {
        Some(from) => address::parse("from", from)?,
        None => default_from.clone(),
    });
    if let Some(reply_to) = &message.reply_to {
        builder = builder.reply_to(address::parse("reply_to", reply_to)?);
    }
    for to in &message.to {
        builder = builder.to(address::parse("to", to)?);
    }
    for cc in &message.cc {
        builder = builder.cc(address::parse("cc", cc)?);
    }
    for bcc in &message.bcc {
        builder = builder.bcc(address::parse("bcc", bcc)?);
    }
    let failed = |e: lettre::error::Error| MailError::Build {
        subject: message.subject.clone(),
        message: e.to_string(),
    };
    let body = match (&message.text, &message.html) {
        (Some(text), Some(html)) => Content::Multi(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, text))
                .singlepart(part(ContentType::TEXT_HTML, html)),
        ),
        (Some(text), None) => Content::Single(part(ContentType::TEXT_PLAIN, text)),
        (None, Some(html)) => Content::Single(part(ContentType::TEXT_HTML, html)),
        // validate() refused it already; answered again rather than
        // assumed, so no input reaches a panic.
        (None, None) => {
            return Err(MailError::NoBody {
                subject: message.subject.clone(),
            });
        }
    };
    if message.attachments.is_empty() {
        return match body {
            Content::Single(part) => builder.singlepart(part),
            Content::Multi(multi) => builder.multipart(multi),
        }
        .map_err(failed);
    }
    let mut mixed = match body {
        Content::Single(part) => MultiPart::mixed().singlepart(part),
        Content::Multi(multi) => MultiPart::mixed().multipart(multi),
    };
    for attachment in &message.attachments {
        let kind = content_type(&attachment.filename, &attachment.content_type)?;
        mixed = mixed.singlepart(
            lettre::message::Attachment::new(attachment.filename.clone())
                .body(attachment.data.clone(), kind),
        );
    }
    builder.multipart(mixed).map_err(failed)
}

enum Content {
    Single(SinglePart),
    Multi(MultiPart),
}

fn content_type(filename: &str, value: &str) -> Result<ContentType, MailError> {
    ContentType::parse(value).map_err(|_| MailError::InvalidContentType {
        filename: filename.to_owned(),
        content_type: value.to_owned(),
    })
}

/// A text part: 7-bit when possible, so that long links stay whole
/// (lettre would quoted-print any line over 76 characters, cutting a
/// link with `=` line breaks in the raw message); otherwise lettre picks
/// quoted-printable or base64.
fn part(kind: ContentType, text: &str) -> SinglePart {
    let body = seven_bit(text).unwrap_or_else(|| Body::new(text.to_owned()));
    SinglePart::builder().header(kind).body(body)
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
    use crate::message::Attachment;

    fn sender() -> Mailbox {
        "Site <site@example.com>".parse().unwrap()
    }

    fn raw(message: &Message) -> String {
        String::from_utf8(build(message, &sender()).unwrap().formatted()).unwrap()
    }

    #[test]
    fn text_only_is_a_single_plain_part_with_long_links_whole() {
        let link = format!("https://example.com/reset/{}", "x".repeat(200));
        let text = raw(&Message::new()
            .to("a@example.com")
            .subject("S")
            .text(format!("Open {link}\n")));
        assert!(text.contains("Content-Type: text/plain"), "{text}");
        assert!(!text.contains("multipart"), "{text}");
        assert!(text.contains(&link));
        assert!(text.contains("From: Site <site@example.com>"));
    }

    #[test]
    fn html_only_is_a_single_html_part() {
        let text = raw(&Message::new()
            .to("a@example.com")
            .subject("S")
            .html("<p>hi</p>"));
        assert!(text.contains("Content-Type: text/html"), "{text}");
        assert!(!text.contains("multipart"));
    }

    #[test]
    fn both_bodies_are_multipart_alternative() {
        let text = raw(&Message::new()
            .to("a@example.com")
            .cc("c@example.com")
            .bcc("hidden@example.com")
            .reply_to("r@example.com")
            .subject("S")
            .text("plain words")
            .html("<p>html words</p>"));
        assert!(text.contains("multipart/alternative"), "{text}");
        let plain = text.find("plain words").unwrap();
        let html = text.find("<p>html words</p>").unwrap();
        assert!(
            plain < html,
            "the text part comes first: clients show the last part they can"
        );
        assert!(text.contains("Cc: c@example.com") && text.contains("Reply-To: r@example.com"));
        assert!(!text.contains("hidden@example.com"), "Bcc is no header");
    }

    #[test]
    fn attachments_make_multipart_mixed() {
        let text = raw(&Message::new()
            .to("a@example.com")
            .subject("S")
            .text("t")
            .html("<b>h</b>")
            .attach(Attachment::new(
                "notes.txt",
                "text/plain",
                b"hello file".to_vec(),
            )));
        assert!(
            text.contains("multipart/mixed") && text.contains("multipart/alternative"),
            "{text}"
        );
        assert!(text.contains("filename=\"notes.txt\""), "{text}");
        assert!(
            text.contains("hello file") || text.contains("aGVsbG8gZmlsZQ=="),
            "{text}"
        );
    }

    #[test]
    fn the_message_names_its_own_sender_when_set() {
        let text = raw(&Message::new()
            .from("other@example.com")
            .to("a@example.com")
            .text("t"));
        assert!(text.contains("From: other@example.com"), "{text}");
    }

    #[test]
    fn bad_messages_are_errors_naming_the_fault() {
        let base = Message::new().subject("S").text("t");
        let err = validate(&base).unwrap_err().to_string();
        assert!(err.contains("no recipient"), "{err}");
        let err = validate(&Message::new().to("a@example.com"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no body"), "{err}");
        let err = validate(&base.clone().to("not-an-address"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("to \"not-an-address\""), "{err}");
        let err = validate(&base.clone().to("a@example.com").attach(Attachment::new(
            "x.bin",
            "not a type",
            vec![1],
        )))
        .unwrap_err()
        .to_string();
        assert!(err.contains("x.bin") && err.contains("not a type"), "{err}");
    }
}
