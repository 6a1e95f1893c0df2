//! Latency of enqueueing a job inside a request, through the router in
//! process (no network): a bare handler (the baseline), a handler that
//! pushes the job with apalis directly (the engine's floor), and a
//! handler that uses `Jobs::enqueue`, on the same PostgreSQL or SQLite
//! database, interleaved in rounds so that drift hits all three alike.
//!
//! `cargo run --release -p unchained-jobs --example enqueue_latency -- [postgres|sqlite] [REQUESTS]`
//! (and `redis`, with `--features redis`: 127.0.0.1:6379, keys under
//! `jobs_latency_*`, deleted first).
//!
//! Not a test: it prints p50/p99 per handler and the ratios.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::TaskSink;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::routing::get;
use sea_orm::{ConnectionTrait, Database};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tower::ServiceExt;
use unchained::config::Environment;
use unchained::prelude::*;
use unchained_jobs::{Envelope, Job, JobContext, Jobs, JobsBundle};

#[derive(Serialize, Deserialize)]
struct Noop {
    n: u64,
}

impl Job for Noop {
    const NAME: &'static str = "bench.noop";
    async fn run(self, _ctx: JobContext) -> anyhow::Result<()> {
        Ok(())
    }
}
unchained_jobs::register_job!(Noop);

/// A fresh database for `backend`, as a URL.
async fn fresh_db(backend: &str, dir: &std::path::Path) -> String {
    #[cfg(feature = "redis")]
    if backend == "redis" {
        let client = redis::Client::open(REDIS).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("jobs_latency_*")
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        return REDIS.to_owned();
    }
    if backend == "sqlite" {
        return format!("sqlite://{}?mode=rwc", dir.join("latency.db").display());
    }
    let admin = Database::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let _ = admin
        .execute_unprepared("DROP DATABASE IF EXISTS jobs_latency WITH (FORCE)")
        .await;
    admin
        .execute_unprepared("CREATE DATABASE jobs_latency")
        .await
        .unwrap();
    "postgres://postgres@127.0.0.1:5432/jobs_latency".to_owned()
}

#[cfg(feature = "redis")]
const REDIS: &str = "redis://127.0.0.1:6379";

/// The engine's floor: one apalis storage shared by every request (apalis
/// pushes through `&mut self`, hence the lock).
enum Floor {
    Postgres(Mutex<apalis_postgres::PostgresStorage<Envelope>>),
    Sqlite(Mutex<apalis_sqlite::SqliteStorage<Envelope>>),
    #[cfg(feature = "redis")]
    Redis(Mutex<apalis_redis::RedisStorage<Envelope>>),
}

impl Floor {
    async fn open(url: &str) -> Floor {
        #[cfg(feature = "redis")]
        if url.starts_with("redis") {
            let conn = apalis_redis::connect(url).await.unwrap();
            let config = apalis_redis::Config::default().queue("jobs_latency_floor");
            return Floor::Redis(Mutex::new(
                apalis_redis::RedisStorage::new(conn).with_config(config),
            ));
        }
        if url.starts_with("sqlite") {
            // The bundle's own pool options (WAL, 4 connections): with
            // sqlx's defaults instead, the floor's push was ~20% faster
            // here, which measured the pool, not the API.
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .unwrap()
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10));
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .unwrap();
            apalis_sqlite::SqliteStorage::setup(&pool).await.unwrap();
            let config = apalis_sqlite::Config::default().queue("floor");
            Floor::Sqlite(Mutex::new(
                apalis_sqlite::SqliteStorage::new(&pool).with_config(config),
            ))
        } else {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            apalis_postgres::PostgresStorage::setup(&pool)
                .await
                .unwrap();
            let config = apalis_postgres::Config::default().queue("floor");
            Floor::Postgres(Mutex::new(
                apalis_postgres::PostgresStorage::new(&pool).with_config(config),
            ))
        }
    }

    async fn push(&self, envelope: Envelope) {
        match self {
            Floor::Postgres(s) => s.lock().await.push(envelope).await.unwrap(),
            Floor::Sqlite(s) => s.lock().await.push(envelope).await.unwrap(),
            #[cfg(feature = "redis")]
            Floor::Redis(s) => s.lock().await.push(envelope).await.unwrap(),
        }
    }
}

async fn bare() -> &'static str {
    "ok"
}

async fn floor(State(floor): State<Arc<Floor>>) -> &'static str {
    floor
        .push(Envelope {
            name: Noop::NAME.into(),
            payload: serde_json::json!({ "n": 1 }),
        })
        .await;
    "ok"
}

async fn ours(jobs: Jobs) -> Result<&'static str, ServerError> {
    jobs.enqueue(Noop { n: 1 }).await?;
    Ok("ok")
}

/// One request through `router`, timed.
async fn time(router: &Router, path: &'static str) -> Duration {
    let start = Instant::now();
    let response = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    start.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// The app's router with `/ours`, plus `/bare` and `/floor` beside it.
#[derive(Default)]
struct AppRoutes;

#[unchained::bundle]
impl Bundle for AppRoutes {
    fn name(&self) -> &'static str {
        "latency_app"
    }
    fn is_app(&self) -> bool {
        true
    }
    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new().get("/ours", ours).get("/noop", bare)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "postgres".into());
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_db(&backend, dir.path()).await;

    let bundles: Vec<Arc<dyn Bundle>> = vec![Arc::new(JobsBundle), Arc::new(AppRoutes)];
    let jobs_url = url.clone();
    let app = unchained::app::build_with(
        bundles,
        move |b| {
            b.set("JOBS_URL", jobs_url)
                .set("JOBS_INLINE", false)
                .set("JOBS_QUEUE", "ours")
                .set("JOBS_REDIS_PREFIX", "jobs_latency_ours")
        },
        Environment::Development,
    )
    .await
    .unwrap();
    let ours_router = app.router();
    let floor_state = Arc::new(Floor::open(&url).await);
    let side = Router::new()
        .route("/bare", get(bare))
        .route("/floor", get(floor))
        .with_state(floor_state);

    // Warm up connections and caches.
    for _ in 0..100 {
        time(&side, "/bare").await;
        time(&side, "/floor").await;
        time(&ours_router, "/ours").await;
    }
    let (mut b, mut f, mut n, mut o) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..requests {
        b.push(time(&side, "/bare").await);
        f.push(time(&side, "/floor").await);
        n.push(time(&ours_router, "/noop").await);
        o.push(time(&ours_router, "/ours").await);
    }
    for v in [&mut b, &mut f, &mut n, &mut o] {
        v.sort_unstable();
    }
    println!("{backend}, {requests} requests each, interleaved, in process:");
    for (name, v) in [
        ("bare handler", &b),
        ("apalis push (floor)", &f),
        ("app route, no job", &n),
        ("app route + enqueue", &o),
    ] {
        println!(
            "  {name:<22} p50 {:>9.1?}  p99 {:>9.1?}",
            percentile(v, 0.5),
            percentile(v, 0.99)
        );
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let p50 = |v: &[Duration]| percentile(v, 0.5);
    // What the enqueue adds to its request, against what the bare push
    // adds to a bare handler.
    let ours_cost = p50(&o).saturating_sub(p50(&n));
    let floor_cost = p50(&f).saturating_sub(p50(&b));
    println!(
        "  enqueue cost (p50): ours {ours_cost:.1?}, apalis {floor_cost:.1?}: floor/ours = {:.2}x",
        ratio(floor_cost, ours_cost)
    );
    println!(
        "  whole request (p50): ours {:.1?} vs bare handler + apalis push {:.1?}",
        p50(&o),
        p50(&f)
    );
}
