//! Acceptance tests against real PostgreSQL (and SQLite): a request's job
//! run by a worker process, retries with backoff then dead letter then
//! `jobs retry`, cron, two workers and 1,000 jobs, `kill -9` mid-job,
//! graceful SIGTERM, inline mode, config errors.

mod common;

use std::time::Duration;

use common::*;
use sea_orm::ConnectionTrait;
use serde_json::json;
use unchained::testing::TestClient;
use unchained_jobs::backend::StatusFilter;
use unchained_jobs::command::{AdminCommand, run_admin};
use unchained_jobs::{JobId, Jobs};

/// The worker process the tests start (and kill). It serves only when a
/// test starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the worker process the other tests start"]
async fn worker_process() {
    let Ok(url) = std::env::var(ENV_DB) else {
        eprintln!("worker_process runs only when a test starts it");
        return;
    };
    init_logs();
    let settings: Vec<(String, serde_json::Value)> =
        serde_json::from_str(&std::env::var(ENV_SETTINGS).unwrap_or_else(|_| "[]".into())).unwrap();
    let app = build_app(&url, &settings).await.unwrap();
    let state = app.state().clone();
    let jobs = state.service::<Jobs>().unwrap();
    let mut options = unchained_jobs::worker::WorkerOptions::from_config(jobs.config());
    options.grace = Duration::from_secs(5);
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        term.recv().await;
    };
    println!("{READY}");
    unchained_jobs::worker::run(state, options, shutdown)
        .await
        .unwrap();
}

async fn enqueue_by_request(env: &TestEnv) {
    let db = &env.db;
    let settings = env.settings(&[]);
    let app = build_app(&db.url, &settings).await.unwrap();
    let client = TestClient::new(app);
    let response = client.get("/enqueue/42").await;
    assert_eq!(response.status(), 200, "{}", response.text());
    let id = response.text();
    JobId::parse(&id).unwrap();
    let conn = db.connect().await;
    // Nothing runs the job in this process (JOBS_INLINE is off).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(db.scalar(&conn, "SELECT COUNT(*) FROM runs").await, 0);

    let worker = WorkerProcess::start(&db.url, &settings).await;
    wait_until(
        Duration::from_secs(20),
        "the worker process ran the job",
        || async {
            db.scalar(
                &conn,
                &format!("SELECT COUNT(*) FROM runs WHERE id = '{id}' AND n = 42"),
            )
            .await
                == 1
        },
    )
    .await;
    assert!(worker.terminate().await, "the worker exits 0 on SIGTERM");
}

async fn failing_job_backs_off_dies_and_is_retried(env: &TestEnv) {
    let db = &env.db;
    let settings = env.settings(&[
        ("JOBS_BACKOFF_BASE", json!(1)),
        ("JOBS_POLL_INTERVAL_MS", json!(50)),
    ]);
    let app = build_app(&db.url, &settings).await.unwrap();
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    let id = jobs.enqueue(Flaky {}).await.unwrap();
    let conn = db.connect().await;
    let worker = WorkerProcess::start(&db.url, &settings).await;

    let store = jobs.store().unwrap().clone();
    // Generous deadlines: the CI machine (2 cores) builds and runs other
    // tests' worker processes at the same time.
    wait_until(
        Duration::from_secs(60),
        "three failed runs, then dead",
        || async {
            store
                .list(Some(StatusFilter::Dead), 10)
                .await
                .unwrap()
                .iter()
                .any(|r| r.id == id)
        },
    )
    .await;
    assert_eq!(
        db.scalar(&conn, "SELECT COUNT(*) FROM runs").await,
        3,
        "max_attempts() = 3 runs"
    );
    // Backoff: JOBS_BACKOFF_BASE = 1 s after the first failure, 2 s after
    // the second (each run records when it started).
    let at = |attempt: i64| {
        let (db, conn) = (&db, &conn);
        async move {
            db.scalar(
                conn,
                &format!("SELECT at_ms FROM runs WHERE attempt = {attempt}"),
            )
            .await
        }
    };
    let (first, second, third) = (at(1).await, at(2).await, at(3).await);
    assert!(
        first > 0 && second > 0 && third > 0,
        "runs 1, 2 and 3 were recorded"
    );
    eprintln!(
        "runs at +0 ms, +{} ms, +{} ms",
        second - first,
        third - first
    );
    assert!(
        second - first >= 950,
        "the first retry waited ~1 s: {} ms",
        second - first
    );
    assert!(
        third - second >= 1950,
        "the second retry waited ~2 s: {} ms",
        third - second
    );
    assert!(
        third - first < 15_000,
        "and not much longer: {} ms",
        third - first
    );

    let mut out = Vec::new();
    run_admin(
        AdminCommand::List {
            status: Some(StatusFilter::Dead),
            limit: 10,
            queue: None,
        },
        &store,
        &mut out,
    )
    .await
    .unwrap();
    let listing = String::from_utf8(out).unwrap();
    assert!(
        listing.contains(id.as_str()) && listing.contains("dead") && listing.contains("3/3"),
        "{listing}"
    );

    conn.execute_unprepared("INSERT INTO allow VALUES (1)")
        .await
        .unwrap();
    let mut out = Vec::new();
    run_admin(
        AdminCommand::Retry {
            id: id.to_string(),
            queue: None,
        },
        &store,
        &mut out,
    )
    .await
    .unwrap();
    wait_until(
        Duration::from_secs(40),
        "the retried job succeeded",
        || async {
            store
                .list(Some(StatusFilter::Done), 10)
                .await
                .unwrap()
                .iter()
                .any(|r| r.id == id)
        },
    )
    .await;
    assert_eq!(db.scalar(&conn, "SELECT COUNT(*) FROM runs").await, 4);
    // A job that is not dead cannot be retried.
    let mut out = Vec::new();
    let error = run_admin(
        AdminCommand::Retry {
            id: id.to_string(),
            queue: None,
        },
        &store,
        &mut out,
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("no dead job"), "{error}");
    let mut out = Vec::new();
    run_admin(
        AdminCommand::Purge {
            done: true,
            dead: false,
            queue: None,
        },
        &store,
        &mut out,
    )
    .await
    .unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("Deleted 1 done and 0 dead")
    );
    assert!(worker.terminate().await);
}

async fn cron_fires_once_per_tick_with_two_workers(env: &TestEnv) {
    let db = &env.db;
    let settings = env.settings(&[
        ("JOBS_POLL_INTERVAL_MS", json!(50)),
        (
            "JOBS_SCHEDULE",
            json!([{ "job": "test.record", "cron": "* * * * * *", "payload": { "n": 7 } }]),
        ),
    ]);
    let conn = db.connect().await;
    let (a, b) = tokio::join!(
        WorkerProcess::start(&db.url, &settings),
        WorkerProcess::start(&db.url, &settings)
    );
    let started = std::time::Instant::now();
    wait_until(Duration::from_secs(20), "three cron ticks ran", || async {
        db.scalar(&conn, "SELECT COUNT(*) FROM runs WHERE n = 7")
            .await
            >= 3
    })
    .await;
    // Let the last enqueued ticks run, then compare with the seconds elapsed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = db
        .scalar(&conn, "SELECT COUNT(*) FROM runs WHERE n = 7")
        .await;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{runs} cron runs in {seconds:.1} s with two workers");
    assert!(
        (runs as f64) <= seconds + 2.0,
        "each tick ran once, not once per worker: {runs} runs in {seconds:.1} s"
    );
    // Each tick was stored once, whichever worker got there first.
    let app = build_app(&db.url, &settings).await.unwrap();
    let store = app
        .state()
        .service::<Jobs>()
        .unwrap()
        .store()
        .unwrap()
        .clone();
    let stored = store
        .list(None, 100_000)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.name == "test.record")
        .count() as i64;
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        stored >= runs && (stored as f64) <= seconds + 2.0,
        "one stored job per tick: {stored} in {seconds:.1} s ({runs} ran)"
    );
    if db.kind == sea_orm::DbBackend::Postgres && !env.is_redis() {
        let keys = db
            .scalar(
                &conn,
                "SELECT COUNT(*) FROM apalis.jobs WHERE idempotency_key LIKE 'cron:test.record:%'",
            )
            .await;
        assert_eq!(keys, db.scalar(&conn, "SELECT COUNT(DISTINCT idempotency_key) FROM apalis.jobs WHERE idempotency_key IS NOT NULL").await);
    }
    if env.is_redis() {
        // Every stored tick claimed its key (`SET NX` inside apalis' push).
        let claims = env
            .redis_keys("*:idempotency:cron:test.record:*")
            .await
            .len() as i64;
        assert!(
            claims >= stored,
            "{claims} tick keys for {stored} stored ticks"
        );
    }
    assert!(a.terminate().await && b.terminate().await);
}

async fn thousand_jobs_two_workers(env: &TestEnv) {
    let db = &env.db;
    let settings = env.settings(&[
        ("JOBS_POLL_INTERVAL_MS", json!(20)),
        ("JOBS_CONCURRENCY", json!(8)),
    ]);
    let app = build_app(&db.url, &settings).await.unwrap();
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    let conn = db.connect().await;
    let (a, b) = tokio::join!(
        WorkerProcess::start(&db.url, &settings),
        WorkerProcess::start(&db.url, &settings)
    );
    for chunk in (0..1000).collect::<Vec<i64>>().chunks(50) {
        let pushes = chunk
            .iter()
            .map(|&n| jobs.enqueue(Record { n, sleep_ms: 0 }));
        for result in futures::future::join_all(pushes).await {
            result.unwrap();
        }
    }
    wait_until(
        Duration::from_secs(90),
        "1,000 distinct jobs ran",
        || async { db.scalar(&conn, "SELECT COUNT(DISTINCT n) FROM runs").await >= 1000 },
    )
    .await;
    // Anything run twice would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let total = db.scalar(&conn, "SELECT COUNT(*) FROM runs").await;
    let distinct_ids = db
        .scalar(&conn, "SELECT COUNT(DISTINCT id) FROM runs")
        .await;
    let distinct_n = db.scalar(&conn, "SELECT COUNT(DISTINCT n) FROM runs").await;
    assert_eq!(
        (total, distinct_ids, distinct_n),
        (1000, 1000, 1000),
        "every job ran exactly once"
    );
    assert!(a.terminate().await && b.terminate().await);
}

async fn killed_workers_job_runs_again_after_the_visibility_timeout(env: &TestEnv) {
    let db = &env.db;
    let settings = env.settings(&[
        ("JOBS_VISIBILITY_TIMEOUT", json!(2)),
        ("JOBS_POLL_INTERVAL_MS", json!(50)),
    ]);
    let app = build_app(&db.url, &settings).await.unwrap();
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    let store = jobs.store().unwrap().clone();
    let conn = db.connect().await;
    let first = WorkerProcess::start(&db.url, &settings).await;
    let id = jobs
        .enqueue(Record {
            n: 5,
            sleep_ms: 3000,
        })
        .await
        .unwrap();
    wait_until(Duration::from_secs(10), "the job is running", || async {
        store
            .list(Some(StatusFilter::Running), 10)
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == id)
    })
    .await;
    first.kill().await;
    let killed_at = std::time::Instant::now();
    let second = WorkerProcess::start(&db.url, &settings).await;
    wait_until(
        Duration::from_secs(20),
        "another worker ran the job",
        || async {
            db.scalar(
                &conn,
                &format!("SELECT COUNT(*) FROM runs WHERE id = '{id}'"),
            )
            .await
                == 1
        },
    )
    .await;
    eprintln!(
        "the killed worker's job ran again {:?} after the kill",
        killed_at.elapsed()
    );
    assert!(
        db.scalar(
            &conn,
            &format!("SELECT attempt FROM runs WHERE id = '{id}'")
        )
        .await
            >= 2,
        "the killed run counts as an attempt"
    );
    assert!(second.terminate().await);
}

async fn sigterm_lets_the_running_job_finish(env: &TestEnv) {
    let db = &env.db;
    let settings = env.settings(&[("JOBS_POLL_INTERVAL_MS", json!(50))]);
    let app = build_app(&db.url, &settings).await.unwrap();
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    let store = jobs.store().unwrap().clone();
    let conn = db.connect().await;
    let worker = WorkerProcess::start(&db.url, &settings).await;
    let id = jobs
        .enqueue(Record {
            n: 3,
            sleep_ms: 1500,
        })
        .await
        .unwrap();
    wait_until(Duration::from_secs(10), "the job is running", || async {
        store
            .list(Some(StatusFilter::Running), 10)
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == id)
    })
    .await;
    assert!(worker.terminate().await, "exit 0");
    assert_eq!(
        db.scalar(
            &conn,
            &format!("SELECT COUNT(*) FROM runs WHERE id = '{id}'")
        )
        .await,
        1,
        "the running job finished before the worker exited"
    );
}

/// `enqueue_in` and `enqueue_at`: a worker that is already running leaves
/// the jobs alone until their time, then runs them.
async fn delayed_jobs_wait_for_their_time(env: &TestEnv) {
    let db = &env.db;
    let settings = env.settings(&[("JOBS_POLL_INTERVAL_MS", json!(50))]);
    let conn = db.connect().await;
    let worker = WorkerProcess::start(&db.url, &settings).await;
    let app = build_app(&db.url, &settings).await.unwrap();
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    let enqueued = std::time::Instant::now();
    jobs.enqueue_in(Record { n: 31, sleep_ms: 0 }, Duration::from_secs(3))
        .await
        .unwrap();
    jobs.enqueue_at(
        Record { n: 32, sleep_ms: 0 },
        std::time::SystemTime::now() + Duration::from_secs(3),
    )
    .await
    .unwrap();
    // Stores keep run times in whole seconds, so "3 s from now" may come
    // up to a second early; at 1.5 s neither job may have run.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        db.scalar(&conn, "SELECT COUNT(*) FROM runs WHERE n IN (31, 32)")
            .await,
        0,
        "a delayed job ran early"
    );
    wait_until(Duration::from_secs(20), "both delayed jobs ran", || async {
        db.scalar(&conn, "SELECT COUNT(*) FROM runs WHERE n IN (31, 32)")
            .await
            == 2
    })
    .await;
    assert!(
        enqueued.elapsed() >= Duration::from_secs(2),
        "the delayed jobs ran after {:?}",
        enqueued.elapsed()
    );
    assert!(worker.terminate().await);
}

/// One `#[tokio::test]` per backend for each scenario above, named
/// `<backend>_<scenario>`; each test has its own database or Redis prefix,
/// cleaned at the end.
macro_rules! on {
    ($backend:ident, $test:ident, $scenario:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            init_logs();
            let env = TestEnv::$backend().await;
            $scenario(&env).await;
            env.cleanup().await;
        }
    };
}

on!(
    postgres,
    postgres_request_job_runs_in_a_worker_process,
    enqueue_by_request
);
on!(
    postgres,
    postgres_delayed_jobs_wait_for_their_time,
    delayed_jobs_wait_for_their_time
);
on!(
    sqlite,
    sqlite_delayed_jobs_wait_for_their_time,
    delayed_jobs_wait_for_their_time
);
on!(
    sqlite,
    sqlite_request_job_runs_in_a_worker_process,
    enqueue_by_request
);
on!(
    postgres,
    postgres_failing_job_backs_off_dies_and_is_retried,
    failing_job_backs_off_dies_and_is_retried
);
on!(
    sqlite,
    sqlite_failing_job_backs_off_dies_and_is_retried,
    failing_job_backs_off_dies_and_is_retried
);
on!(
    postgres,
    postgres_cron_fires_once_per_tick_with_two_workers,
    cron_fires_once_per_tick_with_two_workers
);
on!(
    sqlite,
    sqlite_cron_fires_once_per_tick_with_two_workers,
    cron_fires_once_per_tick_with_two_workers
);
on!(
    postgres,
    postgres_two_workers_run_a_thousand_jobs_once_each,
    thousand_jobs_two_workers
);
on!(
    sqlite,
    sqlite_two_workers_run_a_thousand_jobs_once_each,
    thousand_jobs_two_workers
);
on!(
    postgres,
    postgres_job_of_a_killed_worker_runs_again_after_the_visibility_timeout,
    killed_workers_job_runs_again_after_the_visibility_timeout
);
on!(
    sqlite,
    sqlite_job_of_a_killed_worker_runs_again_after_the_visibility_timeout,
    killed_workers_job_runs_again_after_the_visibility_timeout
);
on!(
    postgres,
    postgres_sigterm_lets_the_running_job_finish,
    sigterm_lets_the_running_job_finish
);

/// The same scenarios with jobs on Redis (127.0.0.1:6379).
#[cfg(feature = "redis")]
mod on_redis {
    use super::*;

    on!(
        redis,
        redis_request_job_runs_in_a_worker_process,
        enqueue_by_request
    );
    on!(
        redis,
        redis_delayed_jobs_wait_for_their_time,
        delayed_jobs_wait_for_their_time
    );
    on!(
        redis,
        redis_failing_job_backs_off_dies_and_is_retried,
        failing_job_backs_off_dies_and_is_retried
    );
    on!(
        redis,
        redis_cron_fires_once_per_tick_with_two_workers,
        cron_fires_once_per_tick_with_two_workers
    );
    on!(
        redis,
        redis_two_workers_run_a_thousand_jobs_once_each,
        thousand_jobs_two_workers
    );
    on!(
        redis,
        redis_job_of_a_killed_worker_runs_again_after_the_visibility_timeout,
        killed_workers_job_runs_again_after_the_visibility_timeout
    );
    on!(
        redis,
        redis_sigterm_lets_the_running_job_finish,
        sigterm_lets_the_running_job_finish
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_mode_runs_the_job_before_the_request_returns() {
    init_logs();
    let db = TestDb::sqlite().await;
    let app = build_app(&db.url, &settings(&[("JOBS_INLINE", json!(true))]))
        .await
        .unwrap();
    let client = TestClient::new(app);
    let conn = db.connect().await;
    let response = client.get("/enqueue/9").await;
    assert_eq!(response.status(), 200, "{}", response.text());
    assert_eq!(
        db.scalar(
            &conn,
            &format!(
                "SELECT COUNT(*) FROM runs WHERE n = 9 AND id = '{}'",
                response.text()
            )
        )
        .await,
        1,
        "the job ran before the response"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_is_the_default_in_the_test_environment_and_failures_surface() {
    init_logs();
    let db = TestDb::sqlite().await;
    // build_app turns inline off; this app keeps the test default.
    let bundles: Vec<std::sync::Arc<dyn unchained::Bundle>> = vec![
        std::sync::Arc::new(unchained_database::DatabaseBundle),
        std::sync::Arc::new(unchained_jobs::JobsBundle),
    ];
    let url = db.url.clone();
    let app = unchained::app::build_with(
        bundles,
        move |b| b.set("DATABASE_URL", url),
        unchained::config::Environment::Test,
    )
    .await
    .unwrap();
    let jobs = app.state().service::<Jobs>().unwrap().clone();
    assert!(jobs.is_inline());
    let error = jobs.enqueue(Flaky {}).await.unwrap_err();
    assert!(error.to_string().contains("not allowed yet"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_name_the_key() {
    let db = TestDb::sqlite().await;
    let error = build_app(
        &db.url,
        &settings(&[("JOBS_URL", json!("mysql://root:hunter2@127.0.0.1/app"))]),
    )
    .await
    .err()
    .expect("MySQL is refused")
    .to_string();
    assert!(
        error.contains("JOBS_URL") && error.contains("PostgreSQL") && !error.contains("hunter2"),
        "{error}"
    );

    // Redis that does not answer: the key, the URL without its password.
    #[cfg(feature = "redis")]
    {
        let error = build_app(
            &db.url,
            &settings(&[("JOBS_URL", json!("redis://:hunter2@127.0.0.1:1/0"))]),
        )
        .await
        .err()
        .expect("an unreachable Redis is refused at startup")
        .to_string();
        assert!(
            error.contains("JOBS_URL") && error.contains("Redis") && !error.contains("hunter2"),
            "{error}"
        );
        let error = build_app(
            &db.url,
            &settings(&[
                ("JOBS_URL", json!(REDIS_URL)),
                ("JOBS_REDIS_PREFIX", json!("has space")),
            ]),
        )
        .await
        .err()
        .expect("a prefix with a space is refused")
        .to_string();
        assert!(error.contains("JOBS_REDIS_PREFIX"), "{error}");
    }

    let bad_cron = json!([{ "job": "test.record", "cron": "every minute" }]);
    let error = build_app(&db.url, &settings(&[("JOBS_SCHEDULE", bad_cron)]))
        .await
        .err()
        .expect("a bad cron expression is refused")
        .to_string();
    assert!(
        error.contains("JOBS_SCHEDULE") && error.contains("every minute"),
        "{error}"
    );

    let unknown = json!([{ "job": "no.such.job", "cron": "0 * * * * *" }]);
    let error = build_app(&db.url, &settings(&[("JOBS_SCHEDULE", unknown)]))
        .await
        .err()
        .expect("an unknown job is refused")
        .to_string();
    assert!(
        error.contains("no.such.job") && error.contains("register_job"),
        "{error}"
    );
}
