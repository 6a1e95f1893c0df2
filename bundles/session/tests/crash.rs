//! Crashes (issue #15), over real HTTP on 127.0.0.1: a Redis frozen, a
//! Redis killed with `kill -9` and restarted from its AOF, a PostgreSQL
//! stopped in immediate mode and started again, and the app itself killed
//! with `kill -9` while it writes to SQLite, then started again on the
//! same file.
//!
//! Each client has one session and keeps incrementing its counter
//! (`GET /incr` answers the new value) while the crash happens. Every case
//! asserts that
//! - every answer is 200 or 503: a crash never shows as another status,
//!   and no request hangs;
//! - service resumes by itself: every client is answered 200 again within
//!   [`RECOVERY_BOUND`] of the server being back (the measured time is
//!   printed; the bound is loose so a busy 2-core machine passes);
//! - no acknowledged write is lost: the values a client got with a 200 only
//!   go up, and at the end the store holds at least the last of them (more
//!   is fine: a write can be done and its answer lost to the crash).
//!
//! The servers that crash are the test's own (own port, own folder), so
//! the rest of the suite keeps the shared ones.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use common::child::{self, ChildApp};
use common::http;
use common::services::{PrivatePostgres, PrivateRedis, signal};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use unchained_session::config::SessionConfig;
use unchained_session::store::{RedisStore, SqlStore};

/// Concurrent clients, one session each.
const CLIENTS: usize = 8;

/// How soon after the server is back every client must be answered 200
/// again. Measured recoveries are well under a second; the bound leaves
/// room for a loaded CI machine.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// How long a killed server stays down while the clients keep writing.
const DOWN: Duration = Duration::from_millis(300);

/// Pause between two requests of a client, to leave the 2 cores some air.
const PAUSE: Duration = Duration::from_millis(5);

// ---- the cases ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_from_its_aof() {
    common::init_logs();
    let config = SessionConfig::default();
    let mut redis = PrivateRedis::start().await;
    let store = |url: &str| Arc::new(RedisStore::new(url, "crash:").unwrap());
    let addr = http::serve(common::app(common::manager(
        config.clone(),
        store(&redis.url()),
    )))
    .await;
    let traffic = Traffic::start(addr, &config.cookie_name).await;
    traffic.wait_for_acks_since(Instant::now(), 5).await;

    redis.kill().await;
    tokio::time::sleep(DOWN).await;
    redis.restart().await;
    let back = Instant::now();
    traffic.wait_for_acks_since(back, 5).await;

    let logs = traffic.stop().await;
    let summary = Summary::of(&logs, Cut::NotExpected);
    summary.report("redis killed (kill -9), restarted from its AOF", back);
    assert!(
        summary.unavailable > 0,
        "requests made while Redis was dead were answered 503: {summary:?}"
    );
    summary.assert_recovered(back);
    // What a new process reading the restarted Redis finds.
    let fresh = common::app(common::manager(config.clone(), store(&redis.url())));
    assert_kept(&fresh, &config, &logs, &summary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_then_resumed() {
    common::init_logs();
    let config = SessionConfig::default();
    let redis = PrivateRedis::start().await;
    let store = Arc::new(RedisStore::new(&redis.url(), "crash:").unwrap());
    let addr = http::serve(common::app(common::manager(config.clone(), store))).await;
    let traffic = Traffic::start(addr, &config.cookie_name).await;
    traffic.wait_for_acks_since(Instant::now(), 5).await;

    // SIGSTOP: the port still accepts connections, but nothing answers;
    // longer than the store's 3 s call timeout, so requests give up.
    signal(redis.pid(), "STOP").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    signal(redis.pid(), "CONT").await;
    let back = Instant::now();
    traffic.wait_for_acks_since(back, 5).await;

    let logs = traffic.stop().await;
    let summary = Summary::of(&logs, Cut::NotExpected);
    summary.report("redis frozen (SIGSTOP) for 4 s", back);
    assert!(
        summary.unavailable > 0,
        "requests waiting on the frozen Redis timed out with 503: {summary:?}"
    );
    summary.assert_recovered(back);
    let store = Arc::new(RedisStore::new(&redis.url(), "crash:").unwrap());
    let fresh = common::app(common::manager(config.clone(), store));
    assert_kept(&fresh, &config, &logs, &summary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_in_immediate_mode_and_restarted() {
    common::init_logs();
    let Some(pg) = PrivatePostgres::start().await else {
        return;
    };
    let config = SessionConfig::default();
    let store = SqlStore::new(common::connect(&pg.url()).await, &config.sql_table).unwrap();
    store.create_table(&config.sql_table).await.unwrap();
    let addr = http::serve(common::app(common::manager(
        config.clone(),
        Arc::new(store),
    )))
    .await;
    let started_at = postmaster_start(&pg.url()).await;
    let traffic = Traffic::start(addr, &config.cookie_name).await;
    traffic.wait_for_acks_since(Instant::now(), 5).await;

    pg.stop_immediate().await;
    tokio::time::sleep(DOWN).await;
    pg.start_again().await;
    let back = Instant::now();
    traffic.wait_for_acks_since(back, 5).await;

    let logs = traffic.stop().await;
    let summary = Summary::of(&logs, Cut::NotExpected);
    summary.report("postgres stopped with -m immediate, restarted", back);
    // Requests that find the server gone may wait in the pool for a
    // connection until it is back (and then succeed), so 503s are not
    // certain here; that the server really went down and came back is.
    assert_ne!(
        postmaster_start(&pg.url()).await,
        started_at,
        "the server restarted under the traffic"
    );
    summary.assert_recovered(back);
    let db = common::connect(&pg.url()).await;
    let store = SqlStore::new(db, &config.sql_table).unwrap();
    let fresh = common::app(common::manager(config.clone(), Arc::new(store)));
    assert_kept(&fresh, &config, &logs, &summary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_app_killed_while_writing() {
    common::init_logs();
    let config = SessionConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sessions.db");
    let app = ChildApp::start("app_process", &[(APP_DATABASE, file.as_os_str())]).await;
    let traffic = Traffic::start(app.addr, &config.cookie_name).await;
    traffic.wait_for_acks_since(Instant::now(), 20).await;

    // kill -9 while the clients write: no shutdown, no final checkpoint.
    app.kill().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let logs = traffic.stop().await;
    let summary = Summary::of(&logs, Cut::Expected);
    assert_eq!(
        summary.unavailable, 0,
        "the app answered 503 before it was killed: {summary:?}"
    );
    assert!(
        summary.cut > 0,
        "requests went unanswered once the app was killed: {summary:?}"
    );

    // The file as the killed process left it (opening it replays the WAL).
    let url = format!("sqlite://{}?mode=rw", file.display());
    let db = common::connect(&url).await;
    assert_eq!(integrity_check(&db).await, "ok");
    let store = SqlStore::new(db.clone(), &config.sql_table).unwrap();
    let fresh = common::app(common::manager(config.clone(), Arc::new(store)));
    let kept = assert_kept(&fresh, &config, &logs, &summary).await;
    drop(fresh);
    db.close().await.unwrap();

    // A new process on the same file serves the old cookies.
    let restart = Instant::now();
    let app = ChildApp::start("app_process", &[(APP_DATABASE, file.as_os_str())]).await;
    let mut first_answer = None;
    for (log, kept) in logs.iter().zip(&kept) {
        let read = http::get(app.addr, &config.cookie_name, "/read", Some(&log.cookie))
            .await
            .unwrap();
        first_answer.get_or_insert_with(|| restart.elapsed());
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        assert_eq!(
            read.body,
            kept.to_string(),
            "the session is as the file has it"
        );
        let incr = http::get(app.addr, &config.cookie_name, "/incr", Some(&log.cookie))
            .await
            .unwrap();
        assert_eq!(incr.status, StatusCode::OK, "{}", incr.body);
        assert_eq!(incr.body, (kept + 1).to_string());
    }
    eprintln!(
        "app killed (kill -9) while writing to SQLite: {} acknowledged writes, {} requests cut, \
         integrity_check ok; the restarted app answered the first old cookie {:?} after it was started",
        summary.ok,
        summary.cut,
        first_answer.unwrap()
    );
    app.kill().await;
}

/// The app process of `sqlite_app_killed_while_writing`, which runs this
/// test binary again with only this test. It serves the test app on a
/// SQLite file, opened as the database bundle opens it for an app (WAL,
/// `synchronous = NORMAL`), until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the app process that sqlite_app_killed_while_writing starts and kills"]
async fn app_process() {
    let Some(file) = std::env::var_os(APP_DATABASE) else {
        eprintln!("app_process serves only when sqlite_app_killed_while_writing starts it");
        return;
    };
    let config = SessionConfig::default();
    let url = format!("sqlite://{}", Path::new(&file).display());
    let db = unchained_database::connect::connect_url(&url, Path::new("/"))
        .await
        .unwrap();
    let store = SqlStore::new(db, &config.sql_table).unwrap();
    store.create_table(&config.sql_table).await.unwrap();
    let addr = http::serve(common::app(common::manager(config, Arc::new(store)))).await;
    println!("{}{addr}", child::LISTENING);
    std::future::pending::<()>().await;
}

// ---- the app in a process of its own ------------------------------------

/// The SQLite file `app_process` serves (its environment).
const APP_DATABASE: &str = "UNCHAINED_CRASH_APP_DATABASE";

// ---- clients ------------------------------------------------------------

/// What one request got: a status and body, or no HTTP answer at all.
#[derive(Debug)]
enum Outcome {
    Answer(StatusCode, String),
    NoAnswer(String),
}

#[derive(Debug)]
struct Seen {
    sent: Instant,
    done: Instant,
    outcome: Outcome,
}

/// One client: its session cookie and every request it made, in order.
struct ClientLog {
    cookie: String,
    seen: Mutex<Vec<Seen>>,
}

impl ClientLog {
    fn acked_since(&self, since: Instant) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.done >= since && matches!(s.outcome, Outcome::Answer(StatusCode::OK, _)))
            .count()
    }
}

/// [`CLIENTS`] clients, each incrementing its own session's counter in a
/// loop until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    logs: Vec<Arc<ClientLog>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    /// Makes the sessions (a first `/incr` each, answered 1 with the
    /// cookie) and starts the loops.
    async fn start(addr: SocketAddr, cookie_name: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut logs = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let sent = Instant::now();
            let first = http::get(addr, cookie_name, "/incr", None).await.unwrap();
            assert_eq!(first.status, StatusCode::OK, "{}", first.body);
            assert_eq!(first.body, "1");
            let log = Arc::new(ClientLog {
                cookie: first
                    .cookie(cookie_name)
                    .expect("a new session sets its cookie"),
                seen: Mutex::new(vec![Seen {
                    sent,
                    done: Instant::now(),
                    outcome: Outcome::Answer(first.status, first.body),
                }]),
            });
            let (stop, client, name) = (stop.clone(), log.clone(), cookie_name.to_owned());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let outcome = match http::get(addr, &name, "/incr", Some(&client.cookie)).await
                    {
                        Ok(reply) => Outcome::Answer(reply.status, reply.body),
                        Err(e) => Outcome::NoAnswer(e.to_string()),
                    };
                    let done = Instant::now();
                    client.seen.lock().unwrap().push(Seen {
                        sent,
                        done,
                        outcome,
                    });
                    tokio::time::sleep(PAUSE).await;
                }
            }));
            logs.push(log);
        }
        Traffic { stop, logs, tasks }
    }

    /// Waits until every client has had `n` requests answered 200 since
    /// `since`; panics after [`RECOVERY_BOUND`].
    async fn wait_for_acks_since(&self, since: Instant, n: usize) {
        while !self.logs.iter().all(|log| log.acked_since(since) >= n) {
            assert!(
                since.elapsed() < RECOVERY_BOUND,
                "not every client got {n} answers 200 within {RECOVERY_BOUND:?}: {:?}",
                Summary::of(&self.logs, Cut::Expected)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the clients (each finishes its request) and hands over the logs.
    async fn stop(self) -> Vec<Arc<ClientLog>> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        self.logs
    }
}

// ---- checks -------------------------------------------------------------

/// Whether requests may go without an HTTP answer: only when the app
/// itself is killed.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    Expected,
    NotExpected,
}

/// What the clients saw, checked request by request.
#[derive(Debug)]
struct Summary {
    ok: usize,
    unavailable: usize,
    cut: usize,
    /// The longest any request waited for its answer.
    slowest: Duration,
    /// Per client, the last value answered with 200.
    last_acked: Vec<i64>,
    /// Per client, when each of its 200s came.
    acked_at: Vec<Vec<Instant>>,
}

impl Summary {
    /// Checks each answer: 200 or 503 only (no answer at all only with
    /// [`Cut::Expected`]), and the values answered with 200 strictly
    /// increasing per client: an acknowledged write that was lost would
    /// make the next increment start again from an older value.
    fn of(logs: &[Arc<ClientLog>], cut: Cut) -> Self {
        let mut summary = Summary {
            ok: 0,
            unavailable: 0,
            cut: 0,
            slowest: Duration::ZERO,
            last_acked: Vec::new(),
            acked_at: Vec::new(),
        };
        for log in logs {
            let mut last = 0;
            let mut acked_at = Vec::new();
            for seen in log.seen.lock().unwrap().iter() {
                summary.slowest = summary.slowest.max(seen.done - seen.sent);
                match &seen.outcome {
                    Outcome::Answer(StatusCode::OK, body) => {
                        let n: i64 = body.parse().expect("/incr answers a number");
                        assert!(
                            n > last,
                            "an acknowledged write was lost: {n} answered after {last}"
                        );
                        last = n;
                        summary.ok += 1;
                        acked_at.push(seen.done);
                    }
                    Outcome::Answer(StatusCode::SERVICE_UNAVAILABLE, _) => {
                        summary.unavailable += 1;
                    }
                    Outcome::Answer(status, body) => {
                        panic!("a crash answered {status}, not 200 or 503: {body}")
                    }
                    Outcome::NoAnswer(error) => {
                        assert!(
                            cut == Cut::Expected,
                            "a request got no answer although the app kept running: {error}"
                        );
                        summary.cut += 1;
                    }
                }
            }
            summary.last_acked.push(last);
            summary.acked_at.push(acked_at);
        }
        summary
    }

    /// How long after `back` every client had been answered 200 again.
    fn recovery(&self, back: Instant) -> Duration {
        self.acked_at
            .iter()
            .map(|done| {
                done.iter()
                    .find(|&&d| d >= back)
                    .expect("every client is answered 200 after the server is back")
                    .duration_since(back)
            })
            .max()
            .unwrap()
    }

    fn assert_recovered(&self, back: Instant) {
        let recovery = self.recovery(back);
        assert!(
            recovery <= RECOVERY_BOUND,
            "service resumed {recovery:?} after the server was back, over {RECOVERY_BOUND:?}"
        );
    }

    fn report(&self, what: &str, back: Instant) {
        eprintln!(
            "{what}: {} answered 200, {} answered 503, slowest answer {:?}; \
             every client answered 200 again {:?} after the server was back",
            self.ok,
            self.unavailable,
            self.slowest,
            self.recovery(back)
        );
    }
}

/// Reads every client's counter through `app` (a new process's view of the
/// store) and checks it holds at least the last value acknowledged (as
/// `summary` has it); returns the values read.
async fn assert_kept(
    app: &Router,
    config: &SessionConfig,
    logs: &[Arc<ClientLog>],
    summary: &Summary,
) -> Vec<i64> {
    let mut kept = Vec::new();
    for (log, &acked) in logs.iter().zip(&summary.last_acked) {
        let read = common::send(app, &config.cookie_name, "/read", Some(&log.cookie)).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        let n: i64 = read.body.parse().unwrap();
        assert!(
            n >= acked,
            "an acknowledged write was lost: the store holds {n}, {acked} was answered 200"
        );
        kept.push(n);
    }
    kept
}

/// `PRAGMA integrity_check`'s answer (`ok` for a sound file).
async fn integrity_check(db: &DatabaseConnection) -> String {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "integrity_check").unwrap()
}

/// When the PostgreSQL server at `url` started, as it says.
async fn postmaster_start(url: &str) -> String {
    let db = common::connect(url).await;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_postmaster_start_time()::text AS started",
        ))
        .await
        .unwrap()
        .unwrap();
    let started = row.try_get("", "started").unwrap();
    db.close().await.unwrap();
    started
}
