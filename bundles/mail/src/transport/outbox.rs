//! [`OutboxTransport`]: test mail, kept in memory for the test to read.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use lettre::message::Mailbox;

use super::{Delivery, MailTransport};
use crate::error::MailError;
use crate::message::Message;

/// Every message sent through an [`OutboxTransport`], oldest first. Cheap
/// to clone: clones share the list.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    messages: Arc<Mutex<Vec<Message>>>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Outbox::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Message>> {
        // A test that panicked while holding the lock leaves the list
        // intact; later readers still see it.
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The messages sent so far (with `from` filled in).
    pub fn messages(&self) -> Vec<Message> {
        self.lock().clone()
    }

    /// How many messages were sent.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none was sent.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every message.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, message: Message) {
        self.lock().push(message);
    }
}

/// Keeps each message in an [`Outbox`]. The message is assembled as the
/// SMTP transport would assemble it first, so a message that SMTP would
/// refuse fails in tests too.
#[derive(Debug, Clone, Default)]
pub struct OutboxTransport {
    outbox: Outbox,
}

impl OutboxTransport {
    /// A transport filling `outbox`.
    pub fn new(outbox: Outbox) -> Self {
        OutboxTransport { outbox }
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

#[async_trait]
impl MailTransport for OutboxTransport {
    fn name(&self) -> &'static str {
        "outbox"
    }

    async fn deliver(
        &self,
        message: &Message,
        default_from: &Mailbox,
    ) -> Result<Delivery, MailError> {
        crate::mime::build(message, default_from)?;
        let mut kept = message.clone();
        kept.from.get_or_insert_with(|| default_from.to_string());
        self.outbox.push(kept);
        tracing::debug!(
            target: "unchained_mail",
            to = %super::recipients(message),
            subject = %message.subject,
            "email kept in the outbox"
        );
        Ok(Delivery::Outbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_are_kept_with_their_sender_and_can_be_cleared() {
        let transport = OutboxTransport::default();
        let from: Mailbox = "Site <site@example.com>".parse().unwrap();
        let outbox = transport.outbox().clone();
        assert!(outbox.is_empty());
        transport
            .deliver(
                &Message::new().to("a@example.com").subject("one").text("1"),
                &from,
            )
            .await
            .unwrap();
        let kept = outbox.messages();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].from.as_deref(), Some("Site <site@example.com>"));
        assert_eq!(kept[0].subject, "one");
        outbox.clear();
        assert_eq!(outbox.len(), 0);
        let err = transport
            .deliver(&Message::new().text("no one"), &from)
            .await;
        assert!(
            err.is_err() && outbox.is_empty(),
            "a message SMTP would refuse is not kept"
        );
    }
}
