//! Test harness: an app with the database and jobs bundles on a private
//! PostgreSQL database or SQLite file per test, jobs that record each run
//! in a table, and worker processes (this test binary again, running the
//! `#[ignore]`d `worker_process` test).

#![allow(dead_code)]

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use unchained::config::Environment;
use unchained::prelude::*;
use unchained_database::DatabaseBundle;
use unchained_jobs::{Job, JobContext, Jobs, JobsBundle};

/// The environment variables a worker process reads.
pub const ENV_DB: &str = "JOBS_TEST_DATABASE_URL";
pub const ENV_SETTINGS: &str = "JOBS_TEST_SETTINGS";

/// The line a worker process prints once it runs jobs.
pub const READY: &str = "jobs test worker ready";

/// Records one run: `(id, n, attempt)` into `runs`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub n: i64,
    /// Milliseconds to sleep before recording (a job still running when
    /// its worker dies).
    #[serde(default)]
    pub sleep_ms: u64,
}

impl Job for Record {
    const NAME: &'static str = "test.record";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        if self.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        }
        let db = ctx
            .service::<DatabaseConnection>()
            .ok_or_else(|| anyhow::anyhow!("no database"))?;
        db.execute_unprepared(&format!(
            "INSERT INTO runs (id, n, attempt) VALUES ('{}', {}, {})",
            ctx.id(),
            self.n,
            ctx.attempt()
        ))
        .await?;
        Ok(())
    }
}
unchained_jobs::register_job!(Record);

/// Fails (recording the attempt) until the `allow` table has a row.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flaky {}

impl Job for Flaky {
    const NAME: &'static str = "test.flaky";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        let db = ctx
            .service::<DatabaseConnection>()
            .ok_or_else(|| anyhow::anyhow!("no database"))?;
        db.execute_unprepared(&format!(
            "INSERT INTO runs (id, n, attempt, at_ms) VALUES ('{}', -1, {}, {})",
            ctx.id(),
            ctx.attempt(),
            now_ms()
        ))
        .await?;
        let allowed = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS c FROM allow",
            ))
            .await?
            .and_then(|row| row.try_get::<i64>("", "c").ok())
            .unwrap_or(0);
        anyhow::ensure!(allowed > 0, "not allowed yet");
        Ok(())
    }

    fn max_attempts() -> Option<u32> {
        Some(3)
    }
}
unchained_jobs::register_job!(Flaky);

/// The test app: `GET /enqueue/{n}` enqueues `Record { n }`.
#[derive(Default)]
pub struct TestApp;

#[unchained::bundle]
impl Bundle for TestApp {
    fn name(&self) -> &'static str {
        "jobs_test_app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().get("/enqueue/{n}", enqueue)
    }
}

async fn enqueue(
    jobs: Jobs,
    unchained::axum::extract::Path(n): unchained::axum::extract::Path<i64>,
) -> Result<String, unchained::ServerError> {
    let id = jobs.enqueue(Record { n, sleep_ms: 0 }).await?;
    Ok(id.to_string())
}

/// A private database: PostgreSQL (own database) or SQLite (own file).
pub struct TestDb {
    pub url: String,
    pub kind: DbBackend,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl TestDb {
    pub async fn postgres() -> TestDb {
        let name = format!(
            "jobs_{}",
            ulid::Ulid::generate().to_string().to_ascii_lowercase()
        );
        let admin = Database::connect(PG_ADMIN).await.unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let db = TestDb {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            kind: DbBackend::Postgres,
            pg_name: Some(name),
            _dir: None,
        };
        db.create_tables().await;
        db
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb {
            url: format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display()),
            kind: DbBackend::Sqlite,
            pg_name: None,
            _dir: Some(dir),
        };
        db.create_tables().await;
        db
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url).await.unwrap()
    }

    async fn create_tables(&self) {
        let db = self.connect().await;
        db.execute_unprepared("CREATE TABLE runs (id TEXT NOT NULL, n BIGINT NOT NULL, attempt BIGINT NOT NULL, at_ms BIGINT)")
            .await
            .unwrap();
        db.execute_unprepared("CREATE TABLE allow (x INTEGER)")
            .await
            .unwrap();
    }

    /// `SELECT <expr>` as an i64.
    pub async fn scalar(&self, db: &DatabaseConnection, sql: &str) -> i64 {
        db.query_one_raw(Statement::from_string(self.kind, sql.to_owned()))
            .await
            .unwrap()
            .map(|row| row.try_get_by_index::<i64>(0).unwrap())
            .unwrap_or(0)
    }

    pub async fn drop_pg(&self) {
        if let Some(name) = &self.pg_name {
            let admin = Database::connect(PG_ADMIN).await.unwrap();
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

/// Where the jobs of a test live: the app's database (`JOBS_URL` unset)
/// or, on Redis, a private key prefix on 127.0.0.1:6379. The app's
/// database (the `runs` table) is SQLite then.
pub struct TestEnv {
    pub db: TestDb,
    /// `JOBS_URL` and `JOBS_REDIS_PREFIX` on Redis; nothing otherwise.
    jobs: Vec<(String, serde_json::Value)>,
    redis_prefix: Option<String>,
}

pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

impl TestEnv {
    pub async fn postgres() -> TestEnv {
        TestEnv {
            db: TestDb::postgres().await,
            jobs: Vec::new(),
            redis_prefix: None,
        }
    }

    pub async fn sqlite() -> TestEnv {
        TestEnv {
            db: TestDb::sqlite().await,
            jobs: Vec::new(),
            redis_prefix: None,
        }
    }

    pub async fn redis() -> TestEnv {
        let prefix = format!("unchained-test:{}", ulid::Ulid::generate());
        TestEnv {
            db: TestDb::sqlite().await,
            jobs: vec![
                ("JOBS_URL".to_owned(), serde_json::json!(REDIS_URL)),
                ("JOBS_REDIS_PREFIX".to_owned(), serde_json::json!(prefix)),
            ],
            redis_prefix: Some(prefix),
        }
    }

    pub fn is_redis(&self) -> bool {
        self.redis_prefix.is_some()
    }

    /// The test's settings: where jobs live, then `pairs`.
    pub fn settings(
        &self,
        pairs: &[(&str, serde_json::Value)],
    ) -> Vec<(String, serde_json::Value)> {
        let mut all = self.jobs.clone();
        all.extend(settings(pairs));
        all
    }

    /// The Redis keys of this test matching `pattern` (after the prefix).
    pub async fn redis_keys(&self, pattern: &str) -> Vec<String> {
        let Some(prefix) = &self.redis_prefix else {
            return Vec::new();
        };
        let client = redis::Client::open(REDIS_URL).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:{pattern}"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    /// Drops the PostgreSQL database or deletes the Redis keys.
    pub async fn cleanup(&self) {
        self.db.drop_pg().await;
        if self.redis_prefix.is_some() {
            let keys = self.redis_keys("*").await;
            let client = redis::Client::open(REDIS_URL).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            for chunk in keys.chunks(500) {
                let _: () = redis::cmd("DEL")
                    .arg(chunk)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
            // apalis-redis also lists each queue's worker set in one
            // global sorted set.
            let prefix = self.redis_prefix.as_deref().unwrap_or_default();
            let _: () = redis::cmd("ZREM")
                .arg("core:apalis:queues:list")
                .arg(format!("{prefix}:default:workers"))
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// Builds the test app on `url` with extra config.
pub async fn build_app(
    url: &str,
    settings: &[(String, serde_json::Value)],
) -> Result<unchained::App, unchained::Error> {
    let bundles: Vec<Arc<dyn Bundle>> = vec![
        Arc::new(DatabaseBundle),
        Arc::new(JobsBundle),
        Arc::new(TestApp),
    ];
    let url = url.to_owned();
    let settings = settings.to_vec();
    unchained::app::build_with(
        bundles,
        move |mut builder| {
            builder = builder.set("DATABASE_URL", url).set("JOBS_INLINE", false);
            for (key, value) in settings {
                builder = builder.set(&key, value);
            }
            builder
        },
        Environment::Test,
    )
    .await
}

/// Settings as the worker process receives them.
pub fn settings(pairs: &[(&str, serde_json::Value)]) -> Vec<(String, serde_json::Value)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A running worker process.
pub struct WorkerProcess {
    pub child: Child,
}

impl WorkerProcess {
    pub async fn start(url: &str, settings: &[(String, serde_json::Value)]) -> WorkerProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["worker_process", "--exact", "--ignored", "--nocapture"])
            .env(ENV_DB, url)
            .env(ENV_SETTINGS, serde_json::to_string(settings).unwrap())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains(READY) {
                    return;
                }
            }
            panic!("the worker process ended before it was ready");
        })
        .await
        .expect("the worker process starts within 60 s");
        // JOBS_TEST_ECHO=1 shows what the workers log, to debug a test.
        let echo = std::env::var_os("JOBS_TEST_ECHO").is_some();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("[worker] {line}");
                }
            }
        });
        WorkerProcess { child }
    }

    /// `kill -9`.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// SIGTERM, then waits for the exit; returns whether it exited 0.
    pub async fn terminate(mut self) -> bool {
        let pid = self.child.id().unwrap().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the worker stops within 30 s of SIGTERM")
            .unwrap();
        status.success()
    }
}

/// Polls `check` every 50 ms until it is true; panics with `what` after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "unchained_jobs=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
