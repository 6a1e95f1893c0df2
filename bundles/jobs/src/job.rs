//! [`Job`]: a serde type plus an async handler, and the registry the
//! [`register_job!`](crate::register_job) macro fills (no list to edit).

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;
use unchained::state::AppState;

use crate::id::JobId;

/// A background job: its fields are the payload (stored as JSON), `run`
/// is the handler a worker calls.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use unchained_jobs::{Job, JobContext};
///
/// #[derive(Serialize, Deserialize)]
/// struct SendWelcome {
///     user_id: i64,
/// }
///
/// impl Job for SendWelcome {
///     const NAME: &'static str = "app.send_welcome";
///
///     async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
///         let _config = ctx.state().config();
///         tracing::info!(user = self.user_id, attempt = ctx.attempt(), "welcome sent");
///         Ok(())
///     }
/// }
///
/// unchained_jobs::register_job!(SendWelcome);
/// ```
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The name stored with each enqueued job; a worker finds the handler
    /// by it, so keep it stable across deploys (e.g. `mail.send`).
    const NAME: &'static str;

    /// Runs the job. An `Err` is retried with backoff until
    /// [`max_attempts`](Job::max_attempts) runs failed, then the job is
    /// dead (see `unchained jobs list --status dead`).
    fn run(self, ctx: JobContext) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Runs allowed before the job is dead; `None` takes
    /// `JOBS_MAX_ATTEMPTS`.
    fn max_attempts() -> Option<u32> {
        None
    }
}

/// What a job's handler gets besides its payload: the app (config and
/// every service, e.g. the database connection or another bundle's), the
/// job's id and which run this is.
#[derive(Clone)]
pub struct JobContext {
    state: AppState,
    id: JobId,
    attempt: u32,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// A context for one run (the worker and inline mode make them).
    pub fn new(state: AppState, id: JobId, attempt: u32) -> Self {
        JobContext { state, id, attempt }
    }

    /// The app's state: `config()`, `service::<T>()`.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A service registered by a bundle, e.g. `sea_orm::DatabaseConnection`.
    pub fn service<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.state.service::<T>()
    }

    /// The job's id, as `enqueue` returned it.
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// Which run this is: 1 for the first, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// A boxed run of a handler.
pub type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// One registered job type, collected with [`inventory`]; made by
/// [`register_job!`](crate::register_job).
#[derive(Debug)]
pub struct JobEntry {
    /// [`Job::NAME`].
    pub name: &'static str,
    /// Decodes the payload and runs the handler.
    pub run: fn(serde_json::Value, JobContext) -> JobFuture,
    /// [`Job::max_attempts`].
    pub max_attempts: fn() -> Option<u32>,
}

impl JobEntry {
    /// The entry of job type `J`.
    pub const fn of<J: Job>() -> Self {
        JobEntry {
            name: J::NAME,
            run: run_erased::<J>,
            max_attempts: J::max_attempts,
        }
    }
}

inventory::collect!(JobEntry);

fn run_erased<J: Job>(payload: serde_json::Value, ctx: JobContext) -> JobFuture {
    Box::pin(async move {
        let job: J = serde_json::from_value(payload).map_err(|e| {
            // The error names the field, never its value (payloads may
            // hold secrets).
            anyhow::Error::new(PayloadError {
                job: J::NAME,
                reason: e.to_string(),
            })
        })?;
        job.run(ctx).await
    })
}

/// A stored payload that no longer decodes into its job type (the type
/// changed since it was enqueued): retrying cannot help, so the job is
/// dead at once.
#[derive(Debug, thiserror::Error)]
#[error("the payload of job {job} does not decode into its type: {reason}")]
pub struct PayloadError {
    /// The job's name.
    pub job: &'static str,
    /// serde's message.
    pub reason: String,
}

/// The registered job called `name`.
pub fn find(name: &str) -> Option<&'static JobEntry> {
    inventory::iter::<JobEntry>().find(|entry| entry.name == name)
}

/// Every registered job's name, sorted (for error messages).
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<_> = inventory::iter::<JobEntry>().map(|e| e.name).collect();
    names.sort_unstable();
    names
}

/// Registers a [`Job`] type so that workers (and inline mode) can run it.
/// Write it once, next to the type, in any crate linked into the app.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct Ping;
/// # impl unchained_jobs::Job for Ping {
/// #     const NAME: &'static str = "doc.ping";
/// #     async fn run(self, _: unchained_jobs::JobContext) -> anyhow::Result<()> { Ok(()) }
/// # }
/// unchained_jobs::register_job!(Ping);
/// assert!(unchained_jobs::job::find("doc.ping").is_some());
/// ```
#[macro_export]
macro_rules! register_job {
    ($job:ty) => {
        $crate::__inventory::submit! {
            $crate::job::JobEntry::of::<$job>()
        }
    };
}

/// One inline run (see [`Jobs`](crate::Jobs)), logged like a worker's.
pub(crate) async fn run_logged(
    entry: &'static JobEntry,
    payload: serde_json::Value,
    ctx: JobContext,
) -> anyhow::Result<()> {
    let id = ctx.id().clone();
    let started = std::time::Instant::now();
    let result = (entry.run)(payload, ctx).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match &result {
        Ok(()) => {
            tracing::info!(target: "unchained_jobs", job = entry.name, id = %id, attempt = 1, ms, outcome = "done", "job done (inline)")
        }
        Err(e) => {
            tracing::error!(target: "unchained_jobs", job = entry.name, id = %id, attempt = 1, ms, outcome = "failed", "job failed (inline): {e:#}")
        }
    }
    result
}
