//! [`Store`]: the engine backend jobs live in (apalis' PostgreSQL, SQLite
//! or Redis storage), and what the bundle does to it besides apalis' own
//! push and fetch: backoff, listing, retrying and purging by status.
//!
//! Statuses are apalis' (`Pending`, `Queued`, `Running`, `Done`, `Failed`,
//! `Killed`). The dead-letter state is apalis' terminal failure: `Failed`
//! with no attempt left, or `Killed` (a job that must not be retried,
//! e.g. an unknown name). The queries here read and write apalis' tables
//! (`apalis.jobs` / `Jobs`); they only touch the columns apalis' own
//! queries use the same way. Redis keeps statuses differently (sets and
//! lists per status): see [`redis`].

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::time::{Duration, SystemTime};

use crate::config::{BackendKind, JobsConfig, backend_kind};
use crate::envelope::Envelope;
use crate::id::JobId;

/// Where jobs are stored: one apalis storage per backend, with its pool.
#[derive(Clone, Debug)]
pub enum Store {
    /// apalis-postgres.
    #[cfg(feature = "postgres")]
    Postgres(postgres::Pg),
    /// apalis-sqlite.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::Lite),
    /// apalis-redis.
    #[cfg(feature = "redis")]
    Redis(redis::Rd),
}

/// A job status as the CLI names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFilter {
    /// Waiting to run (including after a backoff, and fetched by a worker
    /// but not started).
    Pending,
    /// A worker runs it now.
    Running,
    /// Ran successfully.
    Done,
    /// Failed, and will be retried after its backoff.
    Failed,
    /// Failed every attempt, or was killed: the dead-letter state.
    Dead,
}

/// One job as `unchained jobs list` shows it (never its payload).
#[derive(Debug, Clone)]
pub struct JobRow {
    /// Its id.
    pub id: JobId,
    /// The registered job name, from the stored envelope.
    pub name: String,
    /// The status, in the CLI's words.
    pub status: &'static str,
    /// Runs so far.
    pub attempts: i64,
    /// Runs allowed.
    pub max_attempts: i64,
    /// When it runs (next), Unix seconds.
    pub run_at: i64,
    /// apalis' record of the last run: `{"Ok": ...}` or `{"Err": "..."}`.
    pub last_result: Option<String>,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// A new job was stored.
    New,
    /// A job with the same idempotency key already existed: nothing stored.
    Duplicate,
}

/// A job to push.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Its id.
    pub id: JobId,
    /// What it runs.
    pub envelope: Envelope,
    /// Runs allowed.
    pub max_attempts: u32,
    /// Not before (None: now).
    pub run_at: Option<SystemTime>,
    /// A key no other job of the queue may share (cron ticks).
    pub idempotency_key: Option<String>,
}

impl NewJob {
    /// The apalis task for this job.
    pub(crate) fn into_task(self) -> apalis_core::task::Task<Envelope> {
        let mut builder = apalis_core::task::builder::TaskBuilder::new(self.envelope)
            .task_id(apalis_core::task::task_id::TaskId::from_ulid(
                self.id.ulid(),
            ))
            .max_attempts(self.max_attempts as usize);
        if let Some(at) = self.run_at {
            builder = builder.run_at_time(at);
        }
        if let Some(key) = self.idempotency_key {
            builder = builder.idempotency_key(key);
        }
        builder.build()
    }
}

impl Store {
    /// Connects to the backend `url` names and creates apalis' tables
    /// (apalis' own migrations; they take a lock, so concurrent starts are
    /// fine). `shared` is SeaORM's connection when `url` is `DATABASE_URL`:
    /// its pool is reused.
    pub async fn open(
        url: &str,
        shared: Option<&sea_orm::DatabaseConnection>,
        config: &JobsConfig,
    ) -> anyhow::Result<Store> {
        let kind = backend_kind(url).map_err(anyhow::Error::msg)?;
        // Redis has no SeaORM pool to share.
        #[cfg(not(any(feature = "postgres", feature = "sqlite")))]
        let _ = shared;
        let masked = unchained::config::mask_url_password(url);
        let store = match kind {
            #[cfg(feature = "postgres")]
            BackendKind::Postgres => {
                Store::Postgres(postgres::Pg::open(url, shared, config).await?)
            }
            #[cfg(feature = "sqlite")]
            BackendKind::Sqlite => Store::Sqlite(sqlite::Lite::open(url, shared, config).await?),
            #[cfg(feature = "redis")]
            BackendKind::Redis => Store::Redis(redis::Rd::open(url, config).await?),
            #[allow(unreachable_patterns)]
            other => {
                let feature = format!("{other:?}").to_ascii_lowercase();
                anyhow::bail!(
                    "JOBS_URL = {masked}: this build of unchained-jobs leaves out the {other:?} backend; \
                     turn on unchained-jobs' \"{feature}\" feature (the unchained launcher does it when \
                     JOBS_URL in unchained.toml or UNCHAINED_JOBS_URL names that backend)"
                )
            }
        };
        Ok(store)
    }

    /// The queue jobs are pushed to and fetched from.
    pub fn queue(&self) -> &str {
        match self {
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => &s.queue,
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => &s.queue,
            #[cfg(feature = "redis")]
            Store::Redis(s) => &s.queue,
        }
    }

    /// The same store, on queue `queue`.
    pub fn with_queue(&self, queue: &str) -> Store {
        let mut store = self.clone();
        match &mut store {
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.queue = queue.to_owned(),
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.queue = queue.to_owned(),
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.queue = queue.to_owned(),
        }
        store
    }

    /// Stores a job through apalis' task sink.
    pub async fn push(&self, job: NewJob) -> anyhow::Result<Pushed> {
        match self {
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.push(job).await,
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.push(job).await,
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.push(job).await,
        }
    }

    /// Moves a failed job's next run `delay` into the future (the backoff):
    /// apalis refetches a `Failed` job with attempts left as soon as its
    /// `run_at` has passed.
    pub async fn delay(&self, id: &JobId, delay: Duration) -> anyhow::Result<()> {
        match self {
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.delay(id, delay).await,
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.delay(id, delay).await,
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.delay(id, delay).await,
        }
    }

    /// The newest jobs of the queue with `status` (all when `None`).
    pub async fn list(
        &self,
        status: Option<StatusFilter>,
        limit: u32,
    ) -> anyhow::Result<Vec<JobRow>> {
        match self {
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.list(status, limit).await,
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.list(status, limit).await,
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.list(status, limit).await,
        }
    }

    /// Puts a dead job back to pending with its attempts reset; `false`
    /// when the queue has no dead job `id`.
    pub async fn retry(&self, id: &JobId) -> anyhow::Result<bool> {
        match self {
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.retry(id).await,
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.retry(id).await,
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.retry(id).await,
        }
    }

    /// Deletes the queue's done and/or dead jobs; returns (done, dead) counts.
    pub async fn purge(&self, done: bool, dead: bool) -> anyhow::Result<(u64, u64)> {
        match self {
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.purge(done, dead).await,
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.purge(done, dead).await,
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.purge(done, dead).await,
        }
    }

    /// Whether every failed run must end as apalis' `Killed`. Redis: a
    /// killed run goes to the dead set, where no worker fetches it, and
    /// [`Store::delay`] moves a retry from there to its backoff (apalis
    /// would retry a `Failed` run `attempt` seconds later, up to 25 runs,
    /// whatever its maximum). The SQL backends keep `Failed` runs with
    /// attempts left for their backoff and read `attempts >= max_attempts`
    /// as dead.
    pub fn kills_failed_runs(&self) -> bool {
        match self {
            #[cfg(feature = "redis")]
            Store::Redis(_) => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Hands the jobs `worker` holds back to the queue (a shutdown whose
    /// grace period ran out): pending again, the interrupted run counted.
    pub async fn hand_back(&self, worker: &str) -> anyhow::Result<u64> {
        match self {
            #[cfg(feature = "postgres")]
            Store::Postgres(s) => s.hand_back(worker).await,
            #[cfg(feature = "sqlite")]
            Store::Sqlite(s) => s.hand_back(worker).await,
            #[cfg(feature = "redis")]
            Store::Redis(s) => s.hand_back(worker).await,
        }
    }
}

/// The SQL condition of a CLI status, over apalis' columns.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn status_condition(status: StatusFilter) -> &'static str {
    match status {
        StatusFilter::Pending => "status IN ('Pending', 'Queued')",
        StatusFilter::Running => "status = 'Running'",
        StatusFilter::Done => "status = 'Done'",
        StatusFilter::Failed => "(status = 'Failed' AND attempts < max_attempts)",
        StatusFilter::Dead => DEAD,
    }
}

/// apalis' terminal failure: the dead-letter state.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) const DEAD: &str =
    "((status = 'Failed' AND attempts >= max_attempts) OR status = 'Killed')";

/// The CLI's word for an apalis status.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn status_word(status: &str, attempts: i64, max_attempts: i64) -> &'static str {
    match status {
        "Pending" | "Queued" => "pending",
        "Running" => "running",
        "Done" => "done",
        "Failed" if attempts < max_attempts => "failed",
        "Failed" | "Killed" => "dead",
        _ => "unknown",
    }
}

/// The job name inside a stored envelope (without decoding the payload
/// into anything).
pub(crate) fn stored_name(job: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct NameOnly {
        name: String,
    }
    serde_json::from_slice::<NameOnly>(job)
        .map(|n| n.name)
        .unwrap_or_else(|_| "?".to_owned())
}

/// Whether a push error is the unique index on idempotency keys.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) fn is_duplicate_key(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(sqlx::Error::Database(db)) = e.downcast_ref::<sqlx::Error>()
            && db.is_unique_violation()
        {
            return true;
        }
        let text = e.to_string();
        if text.contains("idx_jobs_idempotency_key") {
            return true;
        }
        current = e.source();
    }
    false
}
