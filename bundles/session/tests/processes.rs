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

use std::sync::Arc;

use axum::http::StatusCode;
use common::child::{self, ChildApp};
use common::{Backend, Harness, Maker, http};
use unchained_session::config::SessionConfig;
use unchained_session::store::{RedisStore, SessionStore, SqlStore};

/// How many increments the test sends, half to each process.
const INCREMENTS: i64 = 200;

/// The store the child serves, as `kind|location|name` (its environment).
const CHILD_BACKEND: &str = "UNCHAINED_PROCESSES_BACKEND";

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
    let a = start_update_process(&h.backend).await;
    let b = start_update_process(&h.backend).await;
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
    a.kill().await;
    b.kill().await;
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
    println!("{}{addr}", child::LISTENING);
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

/// An [`update_process`] on `backend`, listening.
async fn start_update_process(backend: &Backend) -> ChildApp {
    let line = describe(backend);
    ChildApp::start("update_process", &[(CHILD_BACKEND, line.as_ref())]).await
}
