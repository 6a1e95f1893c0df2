//! The PostgreSQL backend: apalis-postgres' `PostgresStorage` on an sqlx
//! `PgPool` (SeaORM's own when `JOBS_URL` is `DATABASE_URL`), tables in
//! the `apalis` schema.

use std::time::Duration;

use apalis_core::backend::TaskSink;
use apalis_postgres::{Config, PostgresStorage};
use sqlx::PgPool;
use sqlx::Row;

use super::{
    DEAD, JobRow, NewJob, Pushed, StatusFilter, status_condition, status_word, stored_name,
};
use crate::config::JobsConfig;
use crate::envelope::Envelope;
use crate::id::JobId;

/// A PostgreSQL job store on one queue.
#[derive(Clone, Debug)]
pub struct Pg {
    /// The pool.
    pub pool: PgPool,
    /// The queue (apalis' `job_type` column).
    pub queue: String,
}

impl Pg {
    /// Connects (or reuses SeaORM's pool) and runs apalis' migrations.
    pub async fn open(
        url: &str,
        shared: Option<&sea_orm::DatabaseConnection>,
        config: &JobsConfig,
    ) -> anyhow::Result<Pg> {
        let masked = unchained::config::mask_url_password(url);
        let pool = match shared {
            Some(db) if matches!(db.get_database_backend(), sea_orm::DbBackend::Postgres) => {
                db.get_postgres_connection_pool().clone()
            }
            _ => sqlx::postgres::PgPoolOptions::new()
                .max_connections((config.concurrency as u32 + 4).max(8))
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("JOBS_URL = {masked}: cannot connect to PostgreSQL: {e}")
                })?,
        };
        PostgresStorage::setup(&pool).await.map_err(|e| {
            anyhow::anyhow!("JOBS_URL = {masked}: creating apalis' job tables failed: {e}")
        })?;
        Ok(Pg {
            pool,
            queue: config.queue.clone(),
        })
    }

    /// apalis' storage for this queue, configured for a worker.
    pub fn storage(&self, config: Config) -> PostgresStorage<Envelope> {
        PostgresStorage::new(&self.pool).with_config(config.queue(&self.queue))
    }

    pub(super) async fn push(&self, job: NewJob) -> anyhow::Result<Pushed> {
        let mut storage = self.storage(Config::default());
        match storage.push_task(job.into_task()).await {
            Ok(()) => Ok(Pushed::New),
            Err(e) if super::is_duplicate_key(&e) => Ok(Pushed::Duplicate),
            Err(e) => Err(anyhow::anyhow!("storing a job in PostgreSQL failed: {e}")),
        }
    }

    pub(super) async fn delay(&self, id: &JobId, delay: Duration) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE apalis.jobs SET run_at = now() + make_interval(secs => $2) WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(delay.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn list(
        &self,
        status: Option<StatusFilter>,
        limit: u32,
    ) -> anyhow::Result<Vec<JobRow>> {
        let filter = status.map(status_condition).unwrap_or("TRUE");
        let sql = format!(
            "SELECT id, job, status, attempts, max_attempts, EXTRACT(EPOCH FROM run_at)::BIGINT AS run_at, \
             last_result::TEXT AS last_result FROM apalis.jobs WHERE job_type = $1 AND {filter} \
             ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.queue)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let attempts: i32 = row.try_get("attempts")?;
                let max_attempts: i32 = row.try_get("max_attempts")?;
                let status: String = row.try_get("status")?;
                let job: Vec<u8> = row.try_get("job")?;
                Ok(JobRow {
                    id: JobId::from_stored(row.try_get("id")?),
                    name: stored_name(&job),
                    status: status_word(&status, attempts.into(), max_attempts.into()),
                    attempts: attempts.into(),
                    max_attempts: max_attempts.into(),
                    run_at: row.try_get("run_at")?,
                    last_result: row.try_get("last_result")?,
                })
            })
            .collect()
    }

    pub(super) async fn retry(&self, id: &JobId) -> anyhow::Result<bool> {
        let sql = format!(
            "UPDATE apalis.jobs SET status = 'Pending', attempts = 0, run_at = now(), lock_by = NULL, \
             lock_at = NULL, done_at = NULL WHERE id = $1 AND job_type = $2 AND {DEAD}"
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
            counts.0 =
                sqlx::query("DELETE FROM apalis.jobs WHERE job_type = $1 AND status = 'Done'")
                    .bind(&self.queue)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
        }
        if dead {
            counts.1 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM apalis.jobs WHERE job_type = $1 AND {DEAD}"
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
            "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, done_at = NULL, \
             attempts = attempts + 1 WHERE lock_by = $1 AND status IN ('Running', 'Queued')",
        )
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
