//! [`JobsConfig`]: the `JOBS_*` keys, their defaults and their checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use unchained::config::Config;

/// The jobs bundle's typed config. Every field is one key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobsConfig {
    /// `JOBS_URL`: where jobs are stored: `postgres://...`, `sqlite:...`
    /// or (feature `redis`) `redis://...`.
    /// Unset: `DATABASE_URL` when the database bundle is listed.
    #[serde(rename = "JOBS_URL")]
    pub url: Option<String>,
    /// `JOBS_QUEUE`: the queue `enqueue` writes to and `unchained worker`
    /// reads (default `default`).
    #[serde(rename = "JOBS_QUEUE")]
    pub queue: String,
    /// `JOBS_MAX_ATTEMPTS`: runs of a job before it is dead, unless the job
    /// type says otherwise (default 5).
    #[serde(rename = "JOBS_MAX_ATTEMPTS")]
    pub max_attempts: u32,
    /// `JOBS_BACKOFF_BASE`: seconds before the first retry; each retry
    /// waits twice as long as the one before (default 2).
    #[serde(rename = "JOBS_BACKOFF_BASE")]
    pub backoff_base: u64,
    /// `JOBS_BACKOFF_MAX`: the longest wait between two runs, in seconds
    /// (default 3600).
    #[serde(rename = "JOBS_BACKOFF_MAX")]
    pub backoff_max: u64,
    /// `JOBS_VISIBILITY_TIMEOUT`: seconds without a heartbeat from a worker
    /// after which its running jobs are handed to another worker (a worker
    /// killed with `kill -9` loses no job). At least 2 (default 60).
    #[serde(rename = "JOBS_VISIBILITY_TIMEOUT")]
    pub visibility_timeout: u64,
    /// `JOBS_CONCURRENCY`: jobs one worker process runs at once (default 4;
    /// `unchained worker --concurrency N` overrides it).
    #[serde(rename = "JOBS_CONCURRENCY")]
    pub concurrency: usize,
    /// `JOBS_SHUTDOWN_GRACE`: seconds a stopping worker lets running jobs
    /// finish before handing them back to the queue (default 30).
    #[serde(rename = "JOBS_SHUTDOWN_GRACE")]
    pub shutdown_grace: u64,
    /// `JOBS_POLL_INTERVAL_MS`: how often an idle worker asks the backend
    /// for jobs, in milliseconds (default 200).
    #[serde(rename = "JOBS_POLL_INTERVAL_MS")]
    pub poll_interval_ms: u64,
    /// `JOBS_INLINE`: `enqueue` runs the job itself, before it returns, and
    /// stores nothing. Default: on in the `test` environment, off elsewhere.
    #[serde(rename = "JOBS_INLINE")]
    pub inline: bool,
    /// `JOBS_REDIS_PREFIX`: on Redis, the start of every key the queue
    /// uses (`<prefix>:<queue>:...`), so that several apps (or test runs)
    /// share one Redis database without seeing each other's jobs (default
    /// `unchained:jobs`).
    #[serde(rename = "JOBS_REDIS_PREFIX")]
    pub redis_prefix: String,
    /// `JOBS_SCHEDULE`: cron jobs, e.g.
    /// `[{ job = "reports.daily", cron = "0 0 6 * * *", payload = {} }]`.
    #[serde(rename = "JOBS_SCHEDULE")]
    pub schedule: Vec<ScheduleConfig>,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            url: None,
            queue: "default".to_owned(),
            max_attempts: 5,
            backoff_base: 2,
            backoff_max: 3600,
            visibility_timeout: 60,
            concurrency: 4,
            shutdown_grace: 30,
            poll_interval_ms: 200,
            inline: false,
            redis_prefix: "unchained:jobs".to_owned(),
            schedule: Vec::new(),
        }
    }
}

/// One entry of `JOBS_SCHEDULE`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// The registered job's name.
    pub job: String,
    /// A cron expression with a seconds field: `sec min hour day month weekday`.
    pub cron: String,
    /// The job's fields (default: none).
    #[serde(default = "empty_payload")]
    pub payload: serde_json::Value,
    /// The schedule's name, in idempotency keys and logs (default: `job`).
    #[serde(default)]
    pub name: Option<String>,
}

fn empty_payload() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Which engine backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `postgres://` / `postgresql://`.
    Postgres,
    /// `sqlite:`.
    Sqlite,
    /// `redis://` / `rediss://` (TLS).
    Redis,
}

impl JobsConfig {
    /// Checks the values; the message names the key and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.queue.trim().is_empty() {
            return Err("JOBS_QUEUE is empty: name a queue, e.g. \"default\"".into());
        }
        if self.max_attempts == 0 {
            return Err(
                "JOBS_MAX_ATTEMPTS is 0: a job needs at least 1 run; set 1 or more (default 5)"
                    .into(),
            );
        }
        if self.backoff_base == 0 || self.backoff_max < self.backoff_base {
            return Err(format!(
                "JOBS_BACKOFF_BASE = {} and JOBS_BACKOFF_MAX = {}: the base must be at least 1 second and the \
                 cap at least the base (defaults 2 and 3600)",
                self.backoff_base, self.backoff_max
            ));
        }
        if self.visibility_timeout < 2 {
            return Err(format!(
                "JOBS_VISIBILITY_TIMEOUT = {}: a worker heartbeats every half of it in whole seconds, so it must be \
                 at least 2 (default 60)",
                self.visibility_timeout
            ));
        }
        if self.concurrency == 0 {
            return Err("JOBS_CONCURRENCY is 0: a worker must run at least 1 job at a time".into());
        }
        if self.poll_interval_ms == 0 {
            return Err(
                "JOBS_POLL_INTERVAL_MS is 0: set a poll interval of at least 1 ms (default 200)"
                    .into(),
            );
        }
        if self.redis_prefix.trim().is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            return Err(format!(
                "JOBS_REDIS_PREFIX = {:?}: set a prefix without spaces for the queue's Redis keys, e.g. \"myapp:jobs\" \
                 (default \"unchained:jobs\")",
                self.redis_prefix
            ));
        }
        if let Some(url) = &self.url {
            backend_kind(url)?;
        }
        for entry in &self.schedule {
            crate::schedule::parse_cron(&entry.cron)
                .map_err(|e| format!("JOBS_SCHEDULE: job {:?}: {e}", entry.job))?;
        }
        Ok(())
    }

    /// The wait before the run after failed run number `attempt` (1-based):
    /// `JOBS_BACKOFF_BASE * 2^(attempt-1)`, capped at `JOBS_BACKOFF_MAX`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u64::MAX);
        Duration::from_secs(
            self.backoff_base
                .saturating_mul(factor)
                .min(self.backoff_max),
        )
    }
}

/// The backend `url` names, or an error that says which URLs work.
pub fn backend_kind(url: &str) -> Result<BackendKind, String> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "postgres" | "postgresql" => Ok(BackendKind::Postgres),
        "sqlite" => Ok(BackendKind::Sqlite),
        "mysql" | "mariadb" => Err(format!(
            "JOBS_URL = {}: MySQL/MariaDB cannot store jobs (the apalis engine has no MySQL backend for its 1.0 \
             release); set JOBS_URL to a PostgreSQL (postgres://...) or SQLite (sqlite:jobs.db) URL",
            unchained::config::mask_url_password(url)
        )),
        "redis" | "rediss" => Ok(BackendKind::Redis),
        _ => Err(format!(
            "JOBS_URL = {}: unknown scheme; use postgres://user@host/db, sqlite:path/to/jobs.db or \
             redis://host:6379/0",
            unchained::config::mask_url_password(url)
        )),
    }
}

/// The database bundle, whose `DATABASE_URL` is the default `JOBS_URL`.
pub const DATABASE_BUNDLE: &str = "unchained.bundles.database";

/// The typed config, checked.
pub fn read_config(config: &Config) -> anyhow::Result<JobsConfig> {
    let jobs: JobsConfig = config.extract()?;
    jobs.validate().map_err(anyhow::Error::msg)?;
    for entry in &jobs.schedule {
        if crate::job::find(&entry.job).is_none() {
            anyhow::bail!(
                "JOBS_SCHEDULE names job {:?}, which no register_job! registers; registered jobs: {}",
                entry.job,
                crate::job::names().join(", ")
            );
        }
    }
    Ok(jobs)
}

/// `JOBS_URL`, or `DATABASE_URL` when the database bundle is listed;
/// `None` when neither is set (fine in inline mode only).
pub fn resolve_url(
    config: &Config,
    jobs: &JobsConfig,
    has_database: bool,
) -> anyhow::Result<Option<String>> {
    if let Some(url) = &jobs.url {
        return Ok(Some(url.clone()));
    }
    if !has_database {
        return Ok(None);
    }
    let url: String = config.get("DATABASE_URL")?;
    backend_kind(&url).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nhint: JOBS_URL is unset, so jobs would go to DATABASE_URL; set JOBS_URL to a PostgreSQL or SQLite database, or a Redis server (redis://...)"
        )
    })?;
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let config = JobsConfig {
            backoff_base: 2,
            backoff_max: 10,
            ..JobsConfig::default()
        };
        let waits: Vec<u64> = (1..=5).map(|a| config.backoff(a).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 10, 10]);
        assert_eq!(config.backoff(200).as_secs(), 10);
    }

    #[test]
    fn urls_are_classified_and_mysql_is_refused_with_the_key() {
        assert_eq!(backend_kind("postgres://u@h/db"), Ok(BackendKind::Postgres));
        assert_eq!(backend_kind("sqlite:jobs.db"), Ok(BackendKind::Sqlite));
        assert_eq!(
            backend_kind("redis://127.0.0.1:6379/0"),
            Ok(BackendKind::Redis)
        );
        assert_eq!(
            backend_kind("rediss://:pw@cache:6380"),
            Ok(BackendKind::Redis)
        );
        let error = backend_kind("mysql://root:pw@127.0.0.1/app").unwrap_err();
        assert!(
            error.contains("JOBS_URL") && error.contains("PostgreSQL"),
            "{error}"
        );
        assert!(!error.contains("pw"), "the password is masked: {error}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = JobsConfig {
            visibility_timeout: 1,
            ..JobsConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .contains("JOBS_VISIBILITY_TIMEOUT")
        );
        let bad = JobsConfig {
            schedule: vec![ScheduleConfig {
                job: "x".into(),
                cron: "every now and then".into(),
                payload: empty_payload(),
                name: None,
            }],
            ..JobsConfig::default()
        };
        let error = bad.validate().unwrap_err();
        assert!(
            error.contains("JOBS_SCHEDULE") && error.contains("cron"),
            "{error}"
        );
        let bad = JobsConfig {
            redis_prefix: " ".into(),
            ..JobsConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("JOBS_REDIS_PREFIX"));
    }
}
