//! The SQLite backend: apalis-sqlite's `SqliteStorage` on an sqlx
//! `SqlitePool` (SeaORM's own when `JOBS_URL` is `DATABASE_URL`), tables
//! `Jobs` and `Workers`. Times are Unix seconds.

use std::str::FromStr;
use std::time::Duration;

use apalis_core::backend::TaskSink;
use apalis_sqlite::{Config, SqliteStorage};
use sqlx::Row;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::{
    DEAD, JobRow, NewJob, Pushed, StatusFilter, status_condition, status_word, stored_name,
};
use crate::config::JobsConfig;
use crate::envelope::Envelope;
use crate::id::JobId;

/// A SQLite job store on one queue.
#[derive(Clone, Debug)]
pub struct Lite {
    /// The pool.
    pub pool: SqlitePool,
    /// The queue (apalis' `job_type` column).
    pub queue: String,
}

impl Lite {
    /// Opens (creating the file) or reuses SeaORM's pool, and runs
    /// apalis' migrations.
    pub async fn open(
        url: &str,
        shared: Option<&sea_orm::DatabaseConnection>,
        config: &JobsConfig,
    ) -> anyhow::Result<Lite> {
        let masked = unchained::config::mask_url_password(url);
        let pool = match shared {
            Some(db) if matches!(db.get_database_backend(), sea_orm::DbBackend::Sqlite) => {
                db.get_sqlite_connection_pool().clone()
            }
            _ => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| anyhow::anyhow!("JOBS_URL = {masked}: not a SQLite URL: {e}"))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // Several worker processes share the file: wait for
                    // the writer's lock rather than fail.
                    .busy_timeout(Duration::from_secs(10));
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await
                    .map_err(|e| anyhow::anyhow!("JOBS_URL = {masked}: cannot open SQLite: {e}"))?
            }
        };
        // apalis-sqlite's migrations do not lock: two workers starting
        // on a new file can both run one, and the slower fails (e.g.
        // "duplicate column name"). The tables are there then; a second
        // pass finds the migration recorded and succeeds.
        let mut tries = 0;
        while let Err(e) = SqliteStorage::setup(&pool).await {
            tries += 1;
            if tries == 3 {
                anyhow::bail!("JOBS_URL = {masked}: creating apalis' job tables failed: {e}");
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        }
        Ok(Lite {
            pool,
            queue: config.queue.clone(),
        })
    }

    /// apalis' storage for this queue, configured for a worker.
    pub fn storage(&self, config: Config) -> SqliteStorage<Envelope> {
        SqliteStorage::new(&self.pool).with_config(config.queue(&self.queue))
    }

    pub(super) async fn push(&self, job: NewJob) -> anyhow::Result<Pushed> {
        let key = job.idempotency_key.clone();
        let id = job.id.clone();
        let mut storage = self.storage(Config::default());
        match storage.push_task(job.into_task()).await {
            Ok(()) => {}
            Err(e) if super::is_duplicate_key(&e) => return Ok(Pushed::Duplicate),
            Err(e) => anyhow::bail!("storing a job in SQLite failed: {e}"),
        }
        // apalis' insert is `ON CONFLICT DO NOTHING`: a keyed job that is
        // not there under our id was a duplicate.
        if key.is_some() {
            let found: Option<(String,)> = sqlx::query_as("SELECT id FROM Jobs WHERE id = ?1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
            if found.is_none() {
                return Ok(Pushed::Duplicate);
            }
        }
        Ok(Pushed::New)
    }

    pub(super) async fn delay(&self, id: &JobId, delay: Duration) -> anyhow::Result<()> {
        // run_at is whole seconds and due once the current whole second
        // reaches it: round up, so the wait is never shorter than `delay`.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let at = (now + delay).as_secs_f64().ceil() as i64;
        sqlx::query("UPDATE Jobs SET run_at = ?2 WHERE id = ?1")
            .bind(id.as_str())
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn list(
        &self,
        status: Option<StatusFilter>,
        limit: u32,
    ) -> anyhow::Result<Vec<JobRow>> {
        let filter = status.map(status_condition).unwrap_or("1");
        let sql = format!(
            "SELECT id, job, status, attempts, max_attempts, run_at, last_result FROM Jobs \
             WHERE job_type = ?1 AND {filter} ORDER BY id DESC LIMIT ?2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.queue)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let attempts: i64 = row.try_get("attempts")?;
                let max_attempts: i64 = row.try_get("max_attempts")?;
                let status: String = row.try_get("status")?;
                let job: Vec<u8> = row.try_get("job")?;
                Ok(JobRow {
                    id: JobId::from_stored(row.try_get("id")?),
                    name: stored_name(&job),
                    status: status_word(&status, attempts, max_attempts),
                    attempts,
                    max_attempts,
                    run_at: row.try_get("run_at")?,
                    last_result: row.try_get("last_result")?,
                })
            })
            .collect()
    }

    pub(super) async fn retry(&self, id: &JobId) -> anyhow::Result<bool> {
        let sql = format!(
            "UPDATE Jobs SET status = 'Pending', attempts = 0, run_at = strftime('%s', 'now'), lock_by = NULL, \
             lock_at = NULL, done_at = NULL WHERE id = ?1 AND job_type = ?2 AND {DEAD}"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(&self.queue)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn purge(&self, done: bool, dead: bool) -> anyhow::Result<(u64, u64)> {
        let mut counts = (0, 0);
        if done {
            counts.0 = sqlx::query("DELETE FROM Jobs WHERE job_type = ?1 AND status = 'Done'")
                .bind(&self.queue)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        if dead {
            counts.1 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM Jobs WHERE job_type = ?1 AND {DEAD}"
            )))
            .bind(&self.queue)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(counts)
    }

    pub(super) async fn hand_back(&self, worker: &str) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, done_at = NULL, \
             attempts = attempts + 1 WHERE lock_by = ?1 AND status IN ('Running', 'Queued')",
        )
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
