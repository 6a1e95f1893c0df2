//! [`Jobs`]: the service that enqueues jobs, reachable from handlers (as
//! an extractor), from other bundles (`ctx.require::<Jobs>()`,
//! `state.service::<Jobs>()`) and from jobs themselves.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use unchained::axum::extract::{FromRef, FromRequestParts};
use unchained::axum::http::request::Parts;
use unchained::state::AppState;

use crate::backend::{NewJob, Store};
use crate::config::JobsConfig;
use crate::envelope::Envelope;
use crate::id::JobId;
use crate::job::{self, Job, JobContext};

/// Enqueues jobs. Cheap to clone.
///
/// ```no_run
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct SendWelcome { user_id: i64 }
/// # impl unchained_jobs::Job for SendWelcome {
/// #     const NAME: &'static str = "doc.welcome";
/// #     async fn run(self, _: unchained_jobs::JobContext) -> anyhow::Result<()> { Ok(()) }
/// # }
/// use unchained_jobs::Jobs;
///
/// async fn sign_up(jobs: Jobs) -> Result<String, unchained::ServerError> {
///     let id = jobs.enqueue(SendWelcome { user_id: 7 }).await?;
///     Ok(format!("queued {id}"))
/// }
/// ```
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Option<Store>,
    config: JobsConfig,
    /// The app, for inline runs; set once the app is built.
    state: OnceLock<AppState>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("queue", &self.inner.config.queue)
            .field("inline", &self.inner.config.inline)
            .finish_non_exhaustive()
    }
}

/// Why a job could not be enqueued (or, in inline mode, why it failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobsError {
    /// The job value does not serialize to JSON.
    #[error("job {job} does not serialize to JSON: {source}")]
    Serialize {
        /// The job's name.
        job: &'static str,
        /// serde's error.
        source: serde_json::Error,
    },
    /// No [`register_job!`](crate::register_job) for this job: a worker
    /// could not run it.
    #[error(
        "job {0} is not registered: add `unchained_jobs::register_job!(YourType);` next to its type"
    )]
    NotRegistered(&'static str),
    /// The backend refused or could not be reached.
    #[error("enqueueing job {job} failed: {source}")]
    Store {
        /// The job's name.
        job: &'static str,
        /// The backend's error.
        source: anyhow::Error,
    },
    /// Inline mode: the app is not built yet, so the job has no context.
    #[error(
        "job {0} was enqueued in inline mode before the app was built; enqueue from handlers or after_build"
    )]
    NotReady(&'static str),
    /// Inline mode: the job ran and failed (it is not retried).
    #[error("job {job} failed (inline mode): {source:#}")]
    Failed {
        /// The job's name.
        job: &'static str,
        /// The handler's error.
        source: anyhow::Error,
    },
}

impl Jobs {
    /// A service over `store` (`None` only in inline mode).
    pub fn new(store: Option<Store>, config: JobsConfig) -> Self {
        Jobs {
            inner: Arc::new(Inner {
                store,
                config,
                state: OnceLock::new(),
            }),
        }
    }

    /// Gives inline runs the app (the bundle does it in `after_build`).
    pub fn attach(&self, state: AppState) {
        let _ = self.inner.state.set(state);
    }

    /// The backend, `None` in inline mode without a `JOBS_URL`.
    pub fn store(&self) -> Option<&Store> {
        self.inner.store.as_ref()
    }

    /// The config.
    pub fn config(&self) -> &JobsConfig {
        &self.inner.config
    }

    /// Whether `enqueue` runs jobs itself (`JOBS_INLINE`).
    pub fn is_inline(&self) -> bool {
        self.inner.config.inline
    }

    /// Enqueues `job` to run as soon as a worker is free.
    pub async fn enqueue<J: Job>(&self, job: J) -> Result<JobId, JobsError> {
        self.push(job, None).await
    }

    /// Enqueues `job` to run `delay` from now (to the second).
    pub async fn enqueue_in<J: Job>(&self, job: J, delay: Duration) -> Result<JobId, JobsError> {
        self.push(job, Some(SystemTime::now() + delay)).await
    }

    /// Enqueues `job` to run at `when` (a `SystemTime` or a
    /// `chrono::DateTime<Utc>`; to the second).
    pub async fn enqueue_at<J: Job>(
        &self,
        job: J,
        when: impl Into<SystemTime>,
    ) -> Result<JobId, JobsError> {
        self.push(job, Some(when.into())).await
    }

    async fn push<J: Job>(&self, job: J, run_at: Option<SystemTime>) -> Result<JobId, JobsError> {
        let envelope = Envelope::of(&job).map_err(|source| JobsError::Serialize {
            job: J::NAME,
            source,
        })?;
        let entry = job::find(J::NAME).ok_or(JobsError::NotRegistered(J::NAME))?;
        let id = JobId::generate();
        if self.inner.config.inline {
            // Inline: the run a worker would make, now, once. Delays are
            // ignored so that tests need not wait.
            let state = self
                .inner
                .state
                .get()
                .cloned()
                .ok_or(JobsError::NotReady(J::NAME))?;
            crate::job::run_logged(
                entry,
                envelope.payload,
                JobContext::new(state, id.clone(), 1),
            )
            .await
            .map_err(|source| JobsError::Failed {
                job: J::NAME,
                source,
            })?;
            return Ok(id);
        }
        let store = self.inner.store.as_ref().ok_or_else(|| JobsError::Store {
            job: J::NAME,
            source: anyhow::anyhow!("no job store: set JOBS_URL (or turn on JOBS_INLINE)"),
        })?;
        let max_attempts = (entry.max_attempts)().unwrap_or(self.inner.config.max_attempts);
        store
            .push(NewJob {
                id: id.clone(),
                envelope,
                max_attempts: max_attempts.max(1),
                run_at,
                idempotency_key: None,
            })
            .await
            .map_err(|source| JobsError::Store {
                job: J::NAME,
                source,
            })?;
        Ok(id)
    }
}

/// A handler takes `jobs: Jobs` directly (like `Service<Jobs>`).
impl<S> FromRequestParts<S> for Jobs
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = unchained::MissingService;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let unchained::Service(jobs) =
            unchained::Service::<Jobs>::from_request_parts(parts, state).await?;
        Ok(jobs)
    }
}
