//! [`MailQueue`]: the hook through which another bundle (a jobs bundle)
//! takes over delivery, so that a request does not wait for the mail
//! server.

use std::future::Future;
use std::pin::Pin;

use crate::message::Message;

/// A boxed future that can move between threads, as `futures` names it.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Stores a message for delivery later. Installed with
/// [`Mail::defer_through`](crate::Mail::defer_through); from then on
/// [`Mail::send`](crate::Mail::send) checks each message, fills in its
/// sender and hands it to [`enqueue`](MailQueue::enqueue) instead of the
/// transport. The queue's worker later calls
/// [`Mail::deliver_now`](crate::Mail::deliver_now) with the message to
/// send it for real (and retries on error as it sees fit).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use unchained_mail::{BoxFuture, MailQueue, SerializableMessage};
///
/// /// Keeps messages as JSON, as a database-backed queue would.
/// #[derive(Default)]
/// struct JsonQueue(Mutex<Vec<String>>);
///
/// impl MailQueue for JsonQueue {
///     fn enqueue(&self, message: SerializableMessage) -> BoxFuture<'_, anyhow::Result<()>> {
///         Box::pin(async move {
///             let json = serde_json::to_string(&message)?;
///             self.0.lock().map_err(|_| anyhow::anyhow!("queue lock poisoned"))?.push(json);
///             Ok(())
///         })
///     }
/// }
/// # let _: Arc<dyn MailQueue> = Arc::new(JsonQueue::default());
/// ```
pub trait MailQueue: Send + Sync + 'static {
    /// Stores `message` for delivery; an error is returned to the caller
    /// of [`Mail::send`](crate::Mail::send).
    fn enqueue(&self, message: Message) -> BoxFuture<'_, anyhow::Result<()>>;
}

/// [`Mail::defer_through`](crate::Mail::defer_through) was called twice:
/// one queue per app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mail delivery is already deferred through a queue: only one bundle may take it over")]
pub struct AlreadyDeferred;
