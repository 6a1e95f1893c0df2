//! Background jobs for Unchained: `unchained.bundles.jobs`.
//!
//! A job is a serde type with an async handler ([`Job`]), registered once
//! next to its type with [`register_job!`]; handlers, bundles and other
//! jobs enqueue it through the [`Jobs`] service; `unchained worker` runs
//! it in another process, with retries, backoff, a dead-letter state,
//! cron schedules and a graceful shutdown. See `docs/bundles/jobs.md`.
//!
//! With this bundle listed, two of the framework's own chores become jobs:
//! mail ([`mail_job`]: `Mail::send` stores a `mail.send` job, so requests
//! never wait for the SMTP server and refused mail is retried) and the
//! session cleanup ([`session_cleanup`]: one worker runs it on schedule
//! instead of a loop in every app process).
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use unchained_jobs::{Job, JobContext, Jobs};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Resize {
//!     image: String,
//! }
//!
//! impl Job for Resize {
//!     const NAME: &'static str = "images.resize";
//!     async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
//!         tracing::info!(attempt = ctx.attempt(), "resizing");
//!         Ok(())
//!     }
//! }
//! unchained_jobs::register_job!(Resize);
//!
//! async fn upload(jobs: Jobs) -> Result<&'static str, unchained::ServerError> {
//!     jobs.enqueue(Resize { image: "a.png".into() }).await?;
//!     Ok("queued")
//! }
//! ```
//!
//! # Why apalis
//!
//! The queue engine is [apalis](https://docs.rs/apalis) 1.0: a maintained
//! engine whose PostgreSQL and SQLite storages (and Redis, below) keep jobs with attempts,
//! `run_at`, worker heartbeats and orphan recovery (a job held by a worker
//! whose heartbeats stopped goes back to the queue: the visibility
//! timeout), idempotency keys, and `FOR UPDATE SKIP LOCKED` fetching, so
//! that two workers never take the same job. Its PostgreSQL and SQLite
//! storages are built on sqlx 0.9, the sqlx SeaORM 2 uses here: the build
//! holds one `sqlx-core 0.9.0` (`cargo tree -d | grep sqlx` lists no
//! second one), and when `JOBS_URL` is `DATABASE_URL` the jobs use
//! SeaORM's own pool. The alternatives were weaker fits: `fang` and
//! `sqlxmq` are PostgreSQL only (and pin other sqlx versions), `underway`
//! is PostgreSQL only, and a queue written here would have to earn the
//! leases and recovery apalis already has. apalis-mysql has no 1.0
//! release, so MySQL/MariaDB is refused as a `JOBS_URL`.
//!
//! # How jobs map onto apalis
//!
//! - One apalis task type per queue, [`Envelope`] `{ name, payload }`; the
//!   worker's one handler finds the registered job by name. An unknown
//!   name (or a payload that no longer decodes) is an apalis abort: the
//!   job is `Killed`, dead at once, not retried.
//! - Retries: apalis refetches a `Failed` job with attempts left once its
//!   `run_at` has passed; the worker moves `run_at` by the backoff
//!   (`JOBS_BACKOFF_BASE * 2^(attempt-1)`, capped by `JOBS_BACKOFF_MAX`)
//!   before reporting the failure.
//! - Dead letter: `Failed` with no attempt left, or `Killed`;
//!   `unchained jobs retry ID` resets it to `Pending` with 0 attempts.
//! - Cron: see [`schedule`].
//!
//! # Redis (feature `redis`)
//!
//! `JOBS_URL = "redis://..."` stores jobs with apalis-redis, every key under
//! `<JOBS_REDIS_PREFIX>:<JOBS_QUEUE>`. apalis-redis retries a failed run
//! `attempt` seconds later, up to 25 runs, ignoring the job's maximum, and
//! its orphan recovery does not count the lost run; so on Redis the worker
//! ends every failed run as `Killed` (filed dead, never fetched) and the
//! bundle moves a run with attempts left to its backoff, and each worker
//! sweeps, every heartbeat, the jobs of workers silent for
//! `JOBS_VISIBILITY_TIMEOUT` back to the queue, counting the run. Cron
//! ticks use apalis-redis' idempotency keys (a `SETNX` inside its push
//! script). Details in [`backend::redis`] and `docs/bundles/jobs.md`.

#![warn(missing_docs)]

pub mod backend;
mod bundle;
pub mod command;
pub mod config;
mod envelope;
mod id;
pub mod job;
pub mod mail_job;
mod poll;
pub mod schedule;
mod service;
pub mod session_cleanup;
pub mod worker;

pub use bundle::{BUNDLE_NAME, JobsBundle};
pub use config::{read_config, resolve_url};
pub use envelope::Envelope;
pub use id::JobId;
pub use job::{Job, JobContext};
pub use service::{Jobs, JobsError};
pub use worker::schedules;

#[doc(hidden)]
pub use inventory as __inventory;
#[doc(hidden)]
pub use serde_json as __serde_json;
