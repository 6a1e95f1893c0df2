//! Two app **processes** on one store (issue #16): 200 concurrent
//! `Session::update` increments of one session, split between two OS
//! processes that share only the store, end exact.
//!
//! The behaviour suite's `update_loses_nothing` already runs two app
//! instances in one test process, each with its own manager and
//! connection. This file takes the last shortcut away: each app is a
//! process of its own (this test binary started again with only
//! [`update_process`]), so nothing in memory (a lock, a cache, a version
//! counter) can be shared by accident. Requests go over real HTTP.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::{Backend, Harness, Maker, http};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use unchained_session::config::SessionConfig;
use unchained_session::store::{RedisStore, SessionStore, SqlStore};

/// How many increments the test sends, half to each process.
const INCREMENTS: i64 = 200;

/// The store the child serves, as `kind|location|name` (its environment).
const CHILD_BACKEND: &str = "UNCHAINED_PROCESSES_BACKEND";

/// The line the child prints once it listens, before its address.
const LISTENING: &str = "update process listening on ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_lose_no_update() {
    two_processes_lose_no_update(common::postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_redis_lose_no_update() {
    two_processes_lose_no_update(common::redis_store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_redis_cluster_lose_no_update() {
    two_processes_lose_no_update(common::redis_cluster_store).await;
}

async fn two_processes_lose_no_update(make: Maker) {
    let h: Harness = make(SessionConfig::default()).await;
    let cookie = h.start("n", "1").await;
    let a = UpdateProcess::start(&h.backend).await;
    let b = UpdateProcess::start(&h.backend).await;
    let name = h.config.cookie_name.clone();

    let mut tasks = Vec::new();
    for i in 0..INCREMENTS {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let (cookie, name) = (cookie.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            http::get(addr, &name, "/count", Some(&cookie)).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap().expect("every request is answered");
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        answers.push(reply.body.parse::<i64>().unwrap());
    }
    answers.sort_unstable();
    // Each answer is a value that was stored, so together they are every
    // value from 2 to 201 exactly once: no update lost, none applied twice.
    assert_eq!(answers, (2..=INCREMENTS + 1).collect::<Vec<i64>>());
    assert_eq!(
        h.get("/read", Some(&cookie)).await.body,
        (INCREMENTS + 1).to_string()
    );
    a.stop().await;
    b.stop().await;
    h.teardown().await;
}

/// Not a test: the app process that the tests above start twice. It serves
/// the shared test app on the store named in its environment until it is
/// killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the app process that two_processes_* start"]
async fn update_process() {
    let Ok(backend) = std::env::var(CHILD_BACKEND) else {
        eprintln!("update_process serves only when a two_processes_* test starts it");
        return;
    };
    let store = open(&backend).await;
    let manager = common::manager(SessionConfig::default(), store);
    let addr = http::serve(common::app(manager)).await;
    println!("{LISTENING}{addr}");
    std::future::pending::<()>().await;
}

/// The store a `kind|location|name` line names.
async fn open(backend: &str) -> Arc<dyn SessionStore> {
    let mut parts = backend.splitn(3, '|');
    let (kind, location, name) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    match kind {
        "sql" => Arc::new(SqlStore::new(common::connect(location).await, name).unwrap()),
        "redis" => Arc::new(RedisStore::new(location, name).unwrap()),
        "cluster" => Arc::new(RedisStore::cluster(location.split(','), name).unwrap()),
        other => panic!("unknown backend kind {other:?}"),
    }
}

/// The `kind|location|name` line for a harness's backend.
fn describe(backend: &Backend) -> String {
    match backend {
        Backend::Sql { url, table } => format!("sql|{url}|{table}"),
        Backend::Redis { url, prefix } => format!("redis|{url}|{prefix}"),
        Backend::RedisCluster { urls, prefix } => format!("cluster|{}|{prefix}", urls.join(",")),
        Backend::Memory(_) | Backend::Filesystem(_) => {
            panic!("a memory or filesystem store cannot be shared by two processes here")
        }
    }
}

/// A running [`update_process`].
struct UpdateProcess {
    child: Child,
    addr: SocketAddr,
}

impl UpdateProcess {
    /// Starts one on `backend` and waits until it listens.
    async fn start(backend: &Backend) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["update_process", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_BACKEND, describe(backend))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.strip_prefix(LISTENING) {
                    return addr.parse().unwrap();
                }
            }
            panic!("the app process ended before it listened");
        })
        .await
        .expect("the app process listens within 30 s");
        // Keep reading what it prints, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        UpdateProcess { child, addr }
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}
