//! `mail.send`: the mail bundle's delivery, run as a job when the jobs
//! bundle is listed. A request that sends mail then only stores a job
//! (one insert) instead of waiting for the SMTP server, and a message the
//! server refused is retried with backoff and, if it never goes through,
//! kept in the dead-letter state where `unchained jobs retry` can send it
//! again.
//!
//! The wiring is the mail bundle's [`MailQueue`] hook: after the app is
//! built, the jobs bundle hands [`Mail`] a [`JobsMailQueue`] (see
//! [`defer_mail`]), whatever the order of the two bundles in
//! `unchained.toml`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use unchained::state::AppState;
use unchained_mail::{BoxFuture, Mail, MailQueue, Message};

use crate::job::{Job, JobContext};
use crate::service::Jobs;

/// Delivers one message through the app's [`Mail`] transport.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendMail {
    /// The message, checked and with its sender filled in by
    /// [`Mail::send`] before it was queued.
    pub message: Message,
}

impl Job for SendMail {
    const NAME: &'static str = "mail.send";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        let mail = ctx.service::<Mail>().ok_or_else(|| {
            anyhow::anyhow!(
                "mail.send needs the app's Mail service: add \"{}\" to bundles in unchained.toml",
                unchained_mail::BUNDLE_NAME
            )
        })?;
        let delivery = mail.deliver_now(self.message).await?;
        // The delivery (server or file), never the message: bodies and
        // addresses stay out of the worker's log.
        tracing::info!(target: "unchained_jobs", job = ctx.id().to_string(), "mail delivered ({delivery})");
        Ok(())
    }
}

crate::register_job!(SendMail);

/// The [`MailQueue`] that stores each message as a [`SendMail`] job.
#[derive(Debug, Clone)]
pub struct JobsMailQueue {
    jobs: Jobs,
}

impl JobsMailQueue {
    /// A queue that enqueues through `jobs`.
    pub fn new(jobs: Jobs) -> Self {
        JobsMailQueue { jobs }
    }
}

impl MailQueue for JobsMailQueue {
    fn enqueue(&self, message: Message) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            self.jobs.enqueue(SendMail { message }).await?;
            Ok(())
        })
    }
}

/// Hands the app's [`Mail`] (if it has one) to the jobs bundle: from now
/// on `Mail::send` enqueues `mail.send` jobs. Returns whether it did.
pub fn defer_mail(state: &AppState) -> anyhow::Result<bool> {
    let (Some(mail), Some(jobs)) = (state.service::<Mail>(), state.service::<Jobs>()) else {
        return Ok(false);
    };
    mail.defer_through(Arc::new(JobsMailQueue::new(jobs.clone())))
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}: the jobs bundle defers mail delivery as mail.send jobs, so no other bundle may take it over"
            )
        })?;
    Ok(true)
}
