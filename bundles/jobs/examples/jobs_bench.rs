//! Throughput of `Jobs::enqueue` + `unchained_jobs::worker::run` next to
//! apalis used directly (the floor), on one PostgreSQL database:
//! `cargo run --release -p unchained-jobs --example jobs_bench [N]`, or on
//! Redis (127.0.0.1:6379): `cargo run --release -p unchained-jobs
//! --features redis --example jobs_bench N redis`.
//! Both sides push N jobs one at a time, then one worker (concurrency 8,
//! poll 20 ms) runs them; the time is from the first push to the last
//! job done. Not a test: it prints numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Data, TaskSink, WorkerBuilder, WorkerBuilderExt};
use apalis_core::backend::ext::BackendExt;
use apalis_core::backend::ext::poll_strategy::Strategy;
use sea_orm::{ConnectionTrait, Database};
use serde::{Deserialize, Serialize};
use unchained::config::Environment;
use unchained::prelude::*;
use unchained_jobs::{Envelope, Job, JobContext, Jobs, JobsBundle};

static DONE: AtomicUsize = AtomicUsize::new(0);

#[derive(Serialize, Deserialize)]
struct Noop {
    n: usize,
}

impl Job for Noop {
    const NAME: &'static str = "bench.noop";
    async fn run(self, _ctx: JobContext) -> anyhow::Result<()> {
        DONE.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
unchained_jobs::register_job!(Noop);

async fn fresh_db(name: &str) -> String {
    let admin = Database::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("postgres://postgres@127.0.0.1:5432/{name}")
}

async fn wait_for(n: usize) {
    while DONE.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn floor(n: usize) -> Duration {
    let url = fresh_db("jobs_bench_floor").await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    apalis_postgres::PostgresStorage::setup(&pool)
        .await
        .unwrap();
    let config = apalis_postgres::Config::default()
        .queue("bench")
        .batch_size(8);
    let mut storage =
        apalis_postgres::PostgresStorage::<Envelope>::new(&pool).with_config(config.clone());
    DONE.store(0, Ordering::Relaxed);
    let start = Instant::now();
    for i in 0..n {
        let envelope = Envelope {
            name: "bench.noop".into(),
            payload: serde_json::json!({ "n": i }),
        };
        storage.push(envelope).await.unwrap();
    }
    async fn handle(_: Envelope, counter: Data<Arc<()>>) -> Result<(), BoxDynError> {
        let _ = counter;
        DONE.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    let backend = apalis_postgres::PostgresStorage::<Envelope>::new(&pool)
        .with_config(config)
        .poll_with_strategy(Strategy::new().interval(Duration::from_millis(20)));
    let worker = WorkerBuilder::new("floor")
        .backend(backend)
        .data(Arc::new(()))
        .concurrency(8)
        .build(handle);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run_until(async move {
        let _ = rx.await;
        Ok::<(), apalis_core::error::WorkerError>(())
    }));
    wait_for(n).await;
    let took = start.elapsed();
    let _ = tx.send(());
    let _ = run.await;
    took
}

/// Deletes the keys under `prefix` (a previous run's jobs).
#[cfg(feature = "redis")]
async fn clear_redis(prefix: &str) {
    let client = redis::Client::open(REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for chunk in keys.chunks(500) {
        let _: () = redis::cmd("DEL")
            .arg(chunk)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

#[cfg(feature = "redis")]
const REDIS: &str = "redis://127.0.0.1:6379";

/// The floor on Redis: apalis-redis with its defaults, queue and batch
/// size as on PostgreSQL.
#[cfg(feature = "redis")]
async fn floor_redis(n: usize) -> Duration {
    clear_redis("jobs_bench_floor").await;
    let conn = apalis_redis::connect(REDIS).await.unwrap();
    let config = apalis_redis::Config::default()
        .queue("jobs_bench_floor:bench")
        .batch_size(8);
    let mut storage =
        apalis_redis::RedisStorage::<Envelope>::new(conn.clone()).with_config(config.clone());
    DONE.store(0, Ordering::Relaxed);
    let start = Instant::now();
    for i in 0..n {
        let envelope = Envelope {
            name: "bench.noop".into(),
            payload: serde_json::json!({ "n": i }),
        };
        storage.push(envelope).await.unwrap();
    }
    async fn handle(_: Envelope, counter: Data<Arc<()>>) -> Result<(), BoxDynError> {
        let _ = counter;
        DONE.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    let backend = apalis_redis::RedisStorage::<Envelope>::new(conn)
        .with_config(config)
        .poll_with_strategy(Strategy::new().interval(Duration::from_millis(20)));
    let worker = WorkerBuilder::new("floor")
        .backend(backend)
        .data(Arc::new(()))
        .concurrency(8)
        .build(handle);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run_until(async move {
        let _ = rx.await;
        Ok::<(), apalis_core::error::WorkerError>(())
    }));
    wait_for(n).await;
    let took = start.elapsed();
    let _ = tx.send(());
    let _ = run.await;
    clear_redis("jobs_bench_floor").await;
    took
}

async fn ours(n: usize, backend: &str) -> Duration {
    let (url, prefix) = if backend == "redis" {
        #[cfg(feature = "redis")]
        clear_redis("jobs_bench_ours").await;
        ("redis://127.0.0.1:6379".to_owned(), "jobs_bench_ours")
    } else {
        (fresh_db("jobs_bench_ours").await, "unchained:jobs")
    };
    let bundles: Vec<Arc<dyn Bundle>> = vec![Arc::new(JobsBundle)];
    let app = unchained::app::build_with(
        bundles,
        move |b| {
            b.set("JOBS_URL", url)
                .set("JOBS_REDIS_PREFIX", prefix)
                .set("JOBS_INLINE", false)
                .set("JOBS_QUEUE", "bench")
                .set("JOBS_CONCURRENCY", 8)
                .set("JOBS_POLL_INTERVAL_MS", 20)
        },
        Environment::Development,
    )
    .await
    .unwrap();
    let state = app.state().clone();
    let jobs = state.service::<Jobs>().unwrap().clone();
    DONE.store(0, Ordering::Relaxed);
    let start = Instant::now();
    for i in 0..n {
        jobs.enqueue(Noop { n: i }).await.unwrap();
    }
    let options = unchained_jobs::worker::WorkerOptions::from_config(jobs.config());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(unchained_jobs::worker::run(state, options, async move {
        let _ = rx.await;
    }));
    wait_for(n).await;
    let took = start.elapsed();
    let _ = tx.send(());
    let _ = run.await;
    #[cfg(feature = "redis")]
    if backend == "redis" {
        clear_redis("jobs_bench_ours").await;
    }
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let backend = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "postgres".to_owned());
    let (label, floor) = match backend.as_str() {
        "postgres" => ("PostgreSQL", floor(n).await),
        #[cfg(feature = "redis")]
        "redis" => ("Redis", floor_redis(n).await),
        other => {
            eprintln!("unknown backend {other:?}: use postgres, or redis (with --features redis)");
            std::process::exit(2);
        }
    };
    let ours = ours(n, &backend).await;
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("{label}, {n} jobs (push one at a time, then one worker, concurrency 8):");
    println!(
        "  apalis directly:   {:>8.0} jobs/s ({:?})",
        rate(floor),
        floor
    );
    println!(
        "  unchained-jobs:    {:>8.0} jobs/s ({:?})",
        rate(ours),
        ours
    );
    println!("  ratio: {:.2}x the floor", rate(ours) / rate(floor));
}
