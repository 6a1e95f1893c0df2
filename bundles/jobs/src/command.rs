//! The bundle's commands: `unchained worker` and `unchained jobs ...`.

use anyhow::Context;
use unchained::CommandContext;
use unchained::bundle::BundleCommand;

use crate::backend::{StatusFilter, Store};
use crate::id::JobId;
use crate::worker::WorkerOptions;

/// Commands of the jobs bundle.
#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Run background jobs until SIGTERM or Ctrl-C (then stop gracefully).
    Worker {
        /// Jobs run at once (default: JOBS_CONCURRENCY).
        #[arg(long)]
        concurrency: Option<usize>,
        /// The queue to run (default: JOBS_QUEUE).
        #[arg(long)]
        queue: Option<String>,
        /// Seconds running jobs may finish after the stop signal before
        /// they are handed back to the queue (default: JOBS_SHUTDOWN_GRACE).
        #[arg(long)]
        grace: Option<u64>,
    },
    /// List, retry and purge background jobs.
    #[command(subcommand)]
    Jobs(AdminCommand),
}

/// `unchained jobs ...`.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// List the newest jobs (never their payloads).
    List {
        /// Only jobs in this state.
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The queue (default: JOBS_QUEUE).
        #[arg(long)]
        queue: Option<String>,
    },
    /// Put a dead job back to pending, with its attempts reset.
    Retry {
        /// The job's id, as `jobs list` shows it.
        id: String,
        /// The queue (default: JOBS_QUEUE).
        #[arg(long)]
        queue: Option<String>,
    },
    /// Delete finished and/or dead jobs (both when neither flag is given).
    Purge {
        /// Delete jobs that ran successfully.
        #[arg(long)]
        done: bool,
        /// Delete dead jobs.
        #[arg(long)]
        dead: bool,
        /// The queue (default: JOBS_QUEUE).
        #[arg(long)]
        queue: Option<String>,
    },
}

impl BundleCommand for JobsCommand {
    async fn run(self, ctx: &CommandContext) -> anyhow::Result<()> {
        match self {
            JobsCommand::Worker {
                concurrency,
                queue,
                grace,
            } => {
                let app = ctx.build_app().await?;
                let state = app.state().clone();
                let config = crate::config::read_config(ctx.config())?;
                let mut options = WorkerOptions::from_config(&config);
                if let Some(n) = concurrency {
                    anyhow::ensure!(
                        n > 0,
                        "--concurrency 0: a worker must run at least 1 job at a time"
                    );
                    options.concurrency = n;
                }
                if let Some(queue) = queue {
                    options.queue = queue;
                }
                if let Some(grace) = grace {
                    options.grace = std::time::Duration::from_secs(grace);
                }
                crate::worker::run(state, options, stop_signal()).await
            }
            JobsCommand::Jobs(admin) => {
                let mut out = Vec::new();
                let result = run_admin(admin, &admin_store(ctx).await?, &mut out).await;
                print!("{}", String::from_utf8_lossy(&out));
                result
            }
        }
    }
}

/// The job store as the config names it, without building the app.
async fn admin_store(ctx: &CommandContext) -> anyhow::Result<Store> {
    let config = crate::config::read_config(ctx.config())?;
    let url = crate::config::resolve_url(
        ctx.config(),
        &config,
        ctx.bundles().contains(crate::config::DATABASE_BUNDLE),
    )?
    .context("no job store to manage: set JOBS_URL")?;
    Store::open(&url, None, &config).await
}

/// Runs `jobs list|retry|purge` on `store`, printing to `out` (what
/// `unchained jobs` prints; tests call it directly).
pub async fn run_admin(
    command: AdminCommand,
    store: &Store,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    match command {
        AdminCommand::List {
            status,
            limit,
            queue,
        } => {
            let store = queue
                .map(|q| store.with_queue(&q))
                .unwrap_or_else(|| store.clone());
            let rows = store.list(status, limit).await?;
            writeln!(
                out,
                "{:<26}  {:<24}  {:<8}  {:>8}  {:<20}  last result",
                "id", "job", "status", "attempts", "run at (UTC)"
            )?;
            for row in &rows {
                let run_at = chrono::DateTime::from_timestamp(row.run_at, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                let last: String = row
                    .last_result
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(80)
                    .collect();
                writeln!(
                    out,
                    "{:<26}  {:<24}  {:<8}  {:>8}  {:<20}  {last}",
                    row.id.as_str(),
                    row.name,
                    row.status,
                    format!("{}/{}", row.attempts, row.max_attempts),
                    run_at
                )?;
            }
            writeln!(out, "{} jobs in queue {}", rows.len(), store.queue())?;
        }
        AdminCommand::Retry { id, queue } => {
            let store = queue
                .map(|q| store.with_queue(&q))
                .unwrap_or_else(|| store.clone());
            let id = JobId::parse(&id).map_err(anyhow::Error::msg)?;
            if store.retry(&id).await? {
                writeln!(out, "Job {id} is pending again (attempts reset).")?;
            } else {
                anyhow::bail!(
                    "no dead job {id} in queue {}: `unchained jobs list --status dead` shows the dead ones",
                    store.queue()
                );
            }
        }
        AdminCommand::Purge { done, dead, queue } => {
            let store = queue
                .map(|q| store.with_queue(&q))
                .unwrap_or_else(|| store.clone());
            let (done, dead) = if done || dead {
                (done, dead)
            } else {
                (true, true)
            };
            let (n_done, n_dead) = store.purge(done, dead).await?;
            writeln!(
                out,
                "Deleted {n_done} done and {n_dead} dead jobs from queue {}.",
                store.queue()
            )?;
        }
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(target: "unchained_jobs", "cannot listen for SIGTERM ({e}); Ctrl-C still stops the worker");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
