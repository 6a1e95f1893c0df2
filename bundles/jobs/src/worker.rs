//! The worker: an apalis worker on the queue's envelope type that finds
//! each job's handler by name, logs one line per run, schedules retries
//! with backoff, runs the cron loop, and stops gracefully.
//!
//! Shutdown: on the signal the worker stops fetching (apalis hands jobs it
//! fetched but did not start back to the queue), lets running jobs finish
//! for the grace period, then hands back what still runs (pending again,
//! the interrupted run counted as an attempt) and returns.

use std::future::Future;
use std::time::{Duration, Instant};

use apalis::prelude::{Attempt, BoxDynError, Data, TaskId, WorkerBuilder, WorkerBuilderExt};
use apalis_core::error::AbortError;
use unchained::state::AppState;

use crate::backend::{NewJob, Pushed, Store};
use crate::config::JobsConfig;
use crate::envelope::Envelope;
use crate::id::JobId;
use crate::job::{self, JobContext, JobEntry, PayloadError};
use crate::schedule::{Schedule, When};
use crate::service::Jobs;

/// How `unchained worker` runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Jobs run at once (`--concurrency`, else `JOBS_CONCURRENCY`).
    pub concurrency: usize,
    /// The queue (`--queue`, else `JOBS_QUEUE`).
    pub queue: String,
    /// How long running jobs may finish after the stop signal
    /// (`--grace`, else `JOBS_SHUTDOWN_GRACE`).
    pub grace: Duration,
}

impl WorkerOptions {
    /// The options `config` gives.
    pub fn from_config(config: &JobsConfig) -> Self {
        WorkerOptions {
            concurrency: config.concurrency,
            queue: config.queue.clone(),
            grace: Duration::from_secs(config.shutdown_grace),
        }
    }
}

/// What every run of the handler needs.
#[derive(Clone)]
struct Dispatch {
    state: AppState,
    store: Store,
    config: JobsConfig,
}

/// Runs jobs of the app `state` until `shutdown` completes, then stops
/// gracefully (see the module docs).
pub async fn run(
    state: AppState,
    options: WorkerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let jobs = state.service::<Jobs>().cloned().ok_or_else(|| {
        anyhow::anyhow!("the worker needs the jobs bundle: add \"unchained.bundles.jobs\" to bundles in unchained.toml")
    })?;
    let store = jobs
        .store()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the worker needs a job store: set JOBS_URL (or list the database bundle)"
            )
        })?
        .with_queue(&options.queue);
    let config = jobs.config().clone();
    let name = format!("worker-{}-{}", std::process::id(), ulid::Ulid::generate());
    let schedules = schedules(&state)?;
    tracing::info!(
        target: "unchained_jobs",
        worker = %name,
        queue = %options.queue,
        concurrency = options.concurrency,
        schedules = schedules.len(),
        "worker started"
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(run_schedules(
        store.clone(),
        config.clone(),
        schedules,
        stop_rx.clone(),
    ));
    let dispatch = Dispatch {
        state,
        store: store.clone(),
        config: config.clone(),
    };
    let signal = {
        let mut stop = stop_rx.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
            Ok::<(), apalis_core::error::WorkerError>(())
        }
    };
    let heartbeat = Duration::from_secs((config.visibility_timeout / 2).max(1));
    let batch = options.concurrency.max(1);
    let poll = Duration::from_millis(config.poll_interval_ms);
    let visibility = Duration::from_secs(config.visibility_timeout);
    let timing = Timing {
        heartbeat,
        poll,
        visibility,
    };
    let worker = run_apalis(&store, &name, batch, timing, dispatch, signal);
    tokio::pin!(worker);

    let mut outcome = tokio::select! {
        result = &mut worker => Some(result),
        () = shutdown => None,
    };
    if outcome.is_none() {
        tracing::info!(
            target: "unchained_jobs",
            worker = %name,
            grace_s = options.grace.as_secs_f64(),
            "stopping: no new jobs; running jobs may finish within the grace period"
        );
        let _ = stop_tx.send(true);
        outcome = tokio::time::timeout(options.grace, &mut worker).await.ok();
        if outcome.is_none() {
            tracing::warn!(target: "unchained_jobs", worker = %name, "grace period over: handing running jobs back");
        }
    }
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    // Whatever this worker still holds goes back to the queue now rather
    // than after the visibility timeout.
    let handed_back = store.hand_back(&name).await?;
    if handed_back > 0 {
        tracing::info!(target: "unchained_jobs", worker = %name, jobs = handed_back, "handed back to the queue");
    }
    match outcome {
        Some(Err(e)) => Err(anyhow::anyhow!("the worker stopped on an error: {e}")),
        _ => {
            tracing::info!(target: "unchained_jobs", worker = %name, "worker stopped");
            Ok(())
        }
    }
}

/// The worker's clocks.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// How often the worker says it is alive (half the visibility timeout).
    heartbeat: Duration,
    /// How often an idle worker asks for jobs.
    poll: Duration,
    /// `JOBS_VISIBILITY_TIMEOUT` (read by the Redis sweep; the SQL
    /// backends derive theirs from the heartbeat).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    visibility: Duration,
}

/// Builds and runs the apalis worker on the store's backend.
async fn run_apalis(
    store: &Store,
    name: &str,
    concurrency: usize,
    timing: Timing,
    dispatch: Dispatch,
    signal: impl Future<Output = Result<(), apalis_core::error::WorkerError>> + Send + 'static,
) -> Result<(), apalis_core::error::WorkerError> {
    use apalis_core::backend::ext::BackendExt;
    let Timing {
        heartbeat, poll, ..
    } = timing;
    match store {
        #[cfg(feature = "postgres")]
        Store::Postgres(pg) => {
            let config = apalis_postgres::Config::default()
                .batch_size(concurrency)
                .heartbeat_interval(heartbeat)
                .missed_heartbeats(2);
            let backend = pg
                .storage(config)
                .poll_with_strategy(crate::poll::EveryInterval::new(poll));
            WorkerBuilder::new(name)
                .backend(backend)
                .data(dispatch)
                .concurrency(concurrency)
                .build(handle)
                .run_until(signal)
                .await
        }
        #[cfg(feature = "sqlite")]
        Store::Sqlite(lite) => {
            let config = apalis_sqlite::Config::default()
                .batch_size(concurrency)
                .heartbeat_interval(heartbeat)
                .missed_heartbeats(2);
            let backend = lite
                .storage(config)
                .poll_with_strategy(crate::poll::EveryInterval::new(poll));
            WorkerBuilder::new(name)
                .backend(backend)
                .data(dispatch)
                .concurrency(concurrency)
                .build(handle)
                .run_until(signal)
                .await
        }
        #[cfg(feature = "redis")]
        Store::Redis(rd) => {
            // apalis' own orphan sweep (which does not count the lost run)
            // waits twice the visibility timeout: it is the backstop of
            // the bundle's sweep below.
            let config = rd
                .config()
                .batch_size(concurrency)
                .heartbeat_interval(heartbeat)
                .missed_heartbeats(4);
            let backend = rd
                .storage(config)
                .poll_with_strategy(crate::poll::EveryInterval::new(poll));
            let sweeper = tokio::spawn(sweep_orphans(
                rd.clone(),
                name.to_owned(),
                heartbeat,
                timing.visibility,
            ));
            let result = WorkerBuilder::new(name)
                .backend(backend)
                .data(dispatch)
                .concurrency(concurrency)
                .build(handle)
                .run_until(signal)
                .await;
            sweeper.abort();
            result
        }
    }
}

/// Every heartbeat (Redis): schedules recorded retries whose worker died
/// before it could, and hands the jobs of workers silent for the
/// visibility timeout back to the queue (the SQL backends do the latter
/// in apalis).
#[cfg(feature = "redis")]
async fn sweep_orphans(
    rd: crate::backend::redis::Rd,
    me: String,
    every: Duration,
    visibility: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = rd.promote_backoffs(None).await {
            tracing::warn!(target: "unchained_jobs", worker = %me, "scheduling recorded retries failed: {e:#}");
        }
        match rd.recover_orphans(&me, visibility).await {
            Ok(0) => {}
            Ok(jobs) => {
                tracing::warn!(target: "unchained_jobs", worker = %me, jobs, "took back the jobs of a worker silent for the visibility timeout")
            }
            Err(e) => {
                tracing::warn!(target: "unchained_jobs", worker = %me, "orphan sweep failed: {e:#}")
            }
        }
    }
}

/// The apalis handler of every job of the queue.
async fn handle(
    envelope: Envelope,
    task_id: TaskId,
    attempt: Attempt,
    dispatch: Data<Dispatch>,
) -> Result<(), BoxDynError> {
    let id = JobId::from_stored(task_id.to_string());
    let attempt = u32::try_from(attempt.current()).unwrap_or(u32::MAX);
    let Some(entry) = job::find(&envelope.name) else {
        // Retrying cannot help: the job is killed (dead) at once.
        tracing::error!(
            target: "unchained_jobs",
            job = %envelope.name, id = %id, attempt,
            "unknown job: no register_job! for this name in this build (known: {}); dead",
            job::names().join(", ")
        );
        return Err(Box::new(AbortError::new(format!(
            "unknown job {:?}: no register_job! for it in the worker's build",
            envelope.name
        ))));
    };
    let ctx = JobContext::new(dispatch.state.clone(), id.clone(), attempt);
    let started = Instant::now();
    let result = (entry.run)(envelope.payload, ctx).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let Err(error) = result else {
        tracing::info!(target: "unchained_jobs", job = entry.name, id = %id, attempt, ms, outcome = "done", "job done");
        return Ok(());
    };
    let max = max_attempts(entry, &dispatch.config);
    if error.downcast_ref::<PayloadError>().is_some() {
        tracing::error!(target: "unchained_jobs", job = entry.name, id = %id, attempt, ms, outcome = "dead", "job failed: {error:#}");
        return Err(Box::new(AbortError::new(format!("{error:#}"))));
    }
    if attempt < max {
        let wait = dispatch.config.backoff(attempt);
        if let Err(e) = dispatch.store.delay(&id, wait).await {
            tracing::warn!(
                target: "unchained_jobs", job = entry.name, id = %id,
                "could not delay the retry: {e:#}; on Redis the job stays dead (`unchained jobs retry {id}` runs it)"
            );
        }
        tracing::warn!(
            target: "unchained_jobs",
            job = entry.name, id = %id, attempt, ms, outcome = "retry", retry_in_s = wait.as_secs(),
            "job failed: {error:#}"
        );
    } else {
        tracing::error!(
            target: "unchained_jobs",
            job = entry.name, id = %id, attempt, ms, outcome = "dead",
            "job failed its last attempt ({attempt} of {max}): {error:#}; `unchained jobs retry {id}` runs it again"
        );
    }
    if dispatch.store.kills_failed_runs() {
        return Err(Box::new(AbortError::new(format!("{error:#}"))));
    }
    Err(error.into())
}

/// Runs allowed for `entry`'s jobs.
fn max_attempts(entry: &JobEntry, config: &JobsConfig) -> u32 {
    (entry.max_attempts)().unwrap_or(config.max_attempts).max(1)
}

/// Every schedule the worker of `state` runs: `JOBS_SCHEDULE`,
/// `register_schedule!` and the session cleanup.
pub fn schedules(state: &AppState) -> anyhow::Result<Vec<Schedule>> {
    let config = crate::config::read_config(state.config())?;
    let mut all = Vec::new();
    for entry in &config.schedule {
        let when = crate::schedule::parse_cron(&entry.cron).map_err(anyhow::Error::msg)?;
        all.push(Schedule {
            name: entry.name.clone().unwrap_or_else(|| entry.job.clone()),
            when: When::Cron(Box::new(when)),
            envelope: crate::Envelope {
                name: entry.job.clone(),
                payload: entry.payload.clone(),
            },
        });
    }
    all.extend(crate::schedule::registered().map_err(anyhow::Error::msg)?);
    all.extend(crate::session_cleanup::schedule(state));
    Ok(all)
}

/// Enqueues each schedule's ticks until `stop` turns true.
async fn run_schedules(
    store: Store,
    config: JobsConfig,
    schedules: Vec<Schedule>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if schedules.is_empty() {
        return;
    }
    loop {
        let now = chrono::Utc::now();
        let Some((at, due)) = next_ticks(&schedules, now) else {
            return;
        };
        let wait = (at - now).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for schedule in due {
            let max = job::find(&schedule.envelope.name)
                .map(|entry| max_attempts(entry, &config))
                .unwrap_or(config.max_attempts);
            let pushed = store
                .push(NewJob {
                    id: JobId::generate(),
                    envelope: schedule.envelope.clone(),
                    max_attempts: max,
                    run_at: None,
                    idempotency_key: Some(schedule.key(at)),
                })
                .await;
            match pushed {
                Ok(Pushed::New) => {
                    tracing::info!(target: "unchained_jobs", schedule = %schedule.name, tick = at.timestamp(), "scheduled job enqueued")
                }
                Ok(Pushed::Duplicate) => {
                    tracing::debug!(target: "unchained_jobs", schedule = %schedule.name, tick = at.timestamp(), "tick already enqueued by another worker")
                }
                Err(e) => {
                    tracing::error!(target: "unchained_jobs", schedule = %schedule.name, "enqueueing the scheduled job failed: {e:#}")
                }
            }
        }
    }
}

/// The earliest tick after `now` and the schedules due then.
fn next_ticks(
    schedules: &[Schedule],
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(chrono::DateTime<chrono::Utc>, Vec<&Schedule>)> {
    let ticks: Vec<_> = schedules
        .iter()
        .filter_map(|s| s.next_after(now).map(|at| (at, s)))
        .collect();
    let at = ticks.iter().map(|(at, _)| *at).min()?;
    Some((
        at,
        ticks
            .into_iter()
            .filter(|(t, _)| *t == at)
            .map(|(_, s)| s)
            .collect(),
    ))
}
