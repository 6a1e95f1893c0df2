//! [`Mail`]: the service every bundle and handler sends mail through.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use lettre::message::Mailbox;
use serde::Serialize;
use unchained::bundle::BuildContext;
use unchained::config::Config;
use unchained::templates::Templates;

use crate::config::{MailConfig, TransportKind};
use crate::error::MailError;
use crate::message::Message;
use crate::queue::{AlreadyDeferred, MailQueue};
use crate::transport::{
    Delivery, FileTransport, MailTransport, Outbox, OutboxTransport, SmtpTransport,
};

/// Sends mail: through the configured transport, or through a queue that
/// another bundle installed ([`defer_through`](Self::defer_through)).
///
/// Cheap to clone (one `Arc`); handlers take it as
/// `Service<Mail>`.
#[derive(Clone)]
pub struct Mail {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Arc<dyn MailTransport>,
    default_from: Mailbox,
    /// Set for the outbox transport, so tests can read it.
    outbox: Option<Outbox>,
    /// Set once, by the bundle that takes over delivery.
    queue: OnceLock<Arc<dyn MailQueue>>,
    /// The app's templates, attached once the app is built.
    templates: OnceLock<Templates>,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("transport", &self.inner.transport.name())
            .field("default_from", &self.inner.default_from.to_string())
            .field("deferred", &self.is_deferred())
            .finish()
    }
}

impl Mail {
    /// Mail through `transport`, from `default_from` unless a message
    /// names its sender.
    pub fn new(transport: Arc<dyn MailTransport>, default_from: Mailbox) -> Self {
        Self::with_parts(transport, default_from, None)
    }

    /// Mail kept in a fresh in-memory [`Outbox`] (for tests of code that
    /// sends mail).
    pub fn in_memory(default_from: Mailbox) -> Self {
        let outbox = Outbox::new();
        Self::with_parts(
            Arc::new(OutboxTransport::new(outbox.clone())),
            default_from,
            Some(outbox),
        )
    }

    fn with_parts(
        transport: Arc<dyn MailTransport>,
        default_from: Mailbox,
        outbox: Option<Outbox>,
    ) -> Self {
        Mail {
            inner: Arc::new(Inner {
                transport,
                default_from,
                outbox,
                queue: OnceLock::new(),
                templates: OnceLock::new(),
            }),
        }
    }

    /// The service the options describe; a relative `MAIL_FILE_DIR` starts
    /// at `root` (the project's folder).
    pub fn from_config(config: &MailConfig, root: &Path) -> Result<Self, MailError> {
        let default_from = crate::address::parse("MAIL_DEFAULT_SENDER", &config.default_sender)?;
        Ok(match config.transport {
            TransportKind::Smtp => {
                Self::new(Arc::new(SmtpTransport::from_config(config)?), default_from)
            }
            TransportKind::File => Self::new(
                Arc::new(FileTransport::new(root.join(&config.file_dir))),
                default_from,
            ),
            TransportKind::Outbox => Self::in_memory(default_from),
        })
    }

    /// The service the app's merged config describes (the `MAIL_*` keys),
    /// logging the deprecation of a set `MAIL_SECURITY`.
    pub fn from_app_config(config: &Config, root: &Path) -> anyhow::Result<Self> {
        let mail_config = MailConfig::from_config(config)?;
        if let Some(warning) = mail_config.legacy_warning() {
            tracing::warn!(target: "unchained_mail", "{warning}");
        }
        Ok(Self::from_config(&mail_config, root)?)
    }

    /// The app's one `Mail`: the one a bundle loaded earlier registered,
    /// or else one built from the config and registered now, so that
    /// every bundle (and `Service<Mail>` in handlers) shares one service,
    /// one outbox and one queue whatever the load order. The mail bundle
    /// calls it, and so does any bundle that sends mail without requiring
    /// the mail bundle to be listed (the security bundle).
    pub fn shared(ctx: &mut BuildContext<'_>) -> anyhow::Result<Self> {
        if let Some(mail) = ctx.get::<Mail>() {
            return Ok(mail.clone());
        }
        let mail = Self::from_app_config(ctx.config(), ctx.project_root())?;
        tracing::info!(target: "unchained_mail", transport = mail.transport_name(), "mail ready");
        ctx.insert(mail.clone());
        Ok(mail)
    }

    /// The transport's name: `smtp`, `file`, `outbox` (or a custom one's).
    pub fn transport_name(&self) -> &'static str {
        self.inner.transport.name()
    }

    /// The sender of messages that name none (`MAIL_DEFAULT_SENDER`).
    pub fn default_sender(&self) -> &Mailbox {
        &self.inner.default_from
    }

    /// The in-memory outbox, with `MAIL_TRANSPORT = "outbox"`.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.inner.outbox.as_ref()
    }

    /// Gives [`render`](Self::render) the app's templates. The mail
    /// bundle (and the security bundle, when it built the service) calls
    /// it in `after_build`; later calls are ignored.
    pub fn attach_templates(&self, templates: &Templates) {
        let _ = self.inner.templates.get_or_init(|| templates.clone());
    }

    /// A message whose bodies are the templates `NAME.txt` and/or
    /// `NAME.html` rendered with `context` ([`Message::render`] on the
    /// app's templates). Fails before the app is built.
    pub fn render(&self, name: &str, context: impl Serialize) -> Result<Message, MailError> {
        let templates = self.inner.templates.get().ok_or(MailError::NoTemplates)?;
        Message::new().render(templates, name, context)
    }

    /// Sends `message`: checks it and fills in its sender, then hands it
    /// to the queue when delivery is deferred, or else delivers it now.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        let message = self.prepare(message)?;
        match self.inner.queue.get() {
            Some(queue) => {
                let subject = message.subject.clone();
                queue
                    .enqueue(message)
                    .await
                    .map_err(|source| MailError::Queue { subject, source })
            }
            None => self.deliver(&message).await.map(|_| ()),
        }
    }

    /// Delivers `message` through the transport now, whether or not
    /// delivery is deferred: what a queue's worker calls.
    pub async fn deliver_now(&self, message: Message) -> Result<Delivery, MailError> {
        let message = self.prepare(message)?;
        self.deliver(&message).await
    }

    /// From now on, [`send`](Self::send) hands messages to `queue`. One
    /// queue per app: a second call is refused.
    pub fn defer_through(&self, queue: Arc<dyn MailQueue>) -> Result<(), AlreadyDeferred> {
        self.inner.queue.set(queue).map_err(|_| AlreadyDeferred)
    }

    /// Whether a queue took over delivery.
    pub fn is_deferred(&self) -> bool {
        self.inner.queue.get().is_some()
    }

    fn prepare(&self, mut message: Message) -> Result<Message, MailError> {
        crate::mime::validate(&message)?;
        message
            .from
            .get_or_insert_with(|| self.inner.default_from.to_string());
        Ok(message)
    }

    async fn deliver(&self, message: &Message) -> Result<Delivery, MailError> {
        self.inner
            .transport
            .deliver(message, &self.inner.default_from)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::queue::BoxFuture;

    fn mail() -> Mail {
        Mail::in_memory("Site <site@example.com>".parse().unwrap())
    }

    /// A queue that keeps messages as JSON, like a database table would.
    #[derive(Default)]
    struct JsonQueue(Mutex<Vec<String>>);

    impl MailQueue for JsonQueue {
        fn enqueue(&self, message: Message) -> BoxFuture<'_, anyhow::Result<()>> {
            Box::pin(async move {
                let json = serde_json::to_string(&message)?;
                self.0
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push(json);
                Ok(())
            })
        }
    }

    struct RefusingQueue;

    impl MailQueue for RefusingQueue {
        fn enqueue(&self, _message: Message) -> BoxFuture<'_, anyhow::Result<()>> {
            Box::pin(async { anyhow::bail!("the jobs table is missing") })
        }
    }

    fn message() -> Message {
        Message::new()
            .to("ann@example.com")
            .subject("Hi")
            .text("hello")
    }

    #[tokio::test]
    async fn without_a_queue_send_delivers_now_with_the_default_sender() {
        let mail = mail();
        mail.send(message()).await.unwrap();
        let sent = mail.outbox().unwrap().messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].from.as_deref(), Some("Site <site@example.com>"));
    }

    #[tokio::test]
    async fn a_queue_takes_over_and_its_worker_delivers_later() {
        let mail = mail();
        let queue = Arc::new(JsonQueue::default());
        mail.defer_through(queue.clone()).unwrap();
        assert!(mail.is_deferred());
        // A clone (as handlers get) shares the queue.
        mail.clone().send(message()).await.unwrap();
        assert!(mail.outbox().unwrap().is_empty(), "nothing delivered yet");
        let stored = queue.0.lock().unwrap().clone();
        assert_eq!(stored.len(), 1);
        // The worker: the stored JSON back into a message, delivered now.
        let job: Message = serde_json::from_str(&stored[0]).unwrap();
        assert_eq!(
            job.from.as_deref(),
            Some("Site <site@example.com>"),
            "the sender is fixed at send time"
        );
        assert_eq!(mail.deliver_now(job).await.unwrap(), Delivery::Outbox);
        assert_eq!(mail.outbox().unwrap().messages()[0].subject, "Hi");
        assert_eq!(
            mail.defer_through(Arc::new(JsonQueue::default())),
            Err(AlreadyDeferred)
        );
    }

    #[tokio::test]
    async fn bad_messages_fail_at_send_time_not_in_the_queue() {
        let mail = mail();
        let queue = Arc::new(JsonQueue::default());
        mail.defer_through(queue.clone()).unwrap();
        assert!(mail.send(Message::new().text("to no one")).await.is_err());
        assert!(queue.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_queue_error_reaches_the_sender() {
        let mail = mail();
        mail.defer_through(Arc::new(RefusingQueue)).unwrap();
        let err = mail.send(message()).await.unwrap_err().to_string();
        assert!(
            err.contains("jobs table is missing") && err.contains("\"Hi\""),
            "{err}"
        );
    }

    #[tokio::test]
    async fn render_needs_the_app_templates() {
        let mail = mail();
        assert!(matches!(mail.render("x", ()), Err(MailError::NoTemplates)));
        let mut templates = Templates::new();
        templates.add("t", "hello.txt", "Hi {{ who }}").unwrap();
        mail.attach_templates(&templates);
        let message = mail
            .render("hello", unchained::minijinja::context! { who => "Ann" })
            .unwrap();
        assert_eq!(message.text.as_deref(), Some("Hi Ann"));
    }
}
