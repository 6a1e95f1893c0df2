//! The password throttle under parallel requests, over real HTTP: an
//! attempt is reserved before the password is hashed, in the shared
//! `login_attempts` table, so at most the configured limit of attempts
//! reach the hasher however many arrive at once, across app instances
//! too, and change-password is throttled like login.
//!
//! The HTTP tests were run against the old throttle (check the counter,
//! hash, then record the failure, in process memory) and all failed: every
//! one of the 64 parallel requests passed the check before the first
//! failure was recorded, so all 64 got the wrong-password answer, on one
//! instance and on two; change-password was not throttled at all. The
//! hashing is made slow (8 MiB argon2) so the requests surely overlap.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use unchained::config::ConfigBuilder;
use unchained::prelude::*;
use unchained_database::DatabaseBundle;
use unchained_database::testing::TestDatabase;
use unchained_security::SecurityBundle;
use unchained_security::throttle::{LoginThrottle, ThrottleError, UNKNOWN_ADDRESS};
use unchained_session::SessionBundle;

const LIMIT: usize = 5;
const PARALLEL: usize = 64;

/// The options of every app here: slow enough hashing that parallel
/// requests overlap, the account limit of 5 and no address limit (every
/// request comes from 127.0.0.1; the address counter is tested below).
fn options(c: ConfigBuilder) -> ConfigBuilder {
    c.set("SECURITY_PASSWORD_ARGON2_MEMORY_KIB", 8192)
        .set("SECURITY_LOGIN_ATTEMPTS_PER_ACCOUNT", LIMIT as i64)
        .set("SECURITY_LOGIN_ATTEMPTS_PER_ADDRESS", 0)
        .set("SECURITY_CHANGEABLE", true)
}

/// Serves `app` on a free local port; the server lives as long as the
/// test's runtime.
async fn serve(app: &App) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(app.clone().serve_on(listener));
    addr
}

/// One HTTP/1.1 request with a JSON body; returns the status and the whole
/// answer (head and body).
async fn post_json(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n{cookie}\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, answer)
}

/// The `name=value` pairs of the answer's `Set-Cookie` headers, as one
/// `Cookie` header value.
fn cookies(answer: &str) -> String {
    answer
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie").then(|| {
                value
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sends `PARALLEL` wrong-password logins for `email`, spread over
/// `servers` in turn, all at once; returns the statuses.
async fn parallel_wrong_logins(servers: &[SocketAddr], email: &str) -> Vec<u16> {
    let body = format!(r#"{{"email":"{email}","password":"wrong password {email}"}}"#);
    let barrier = Arc::new(tokio::sync::Barrier::new(PARALLEL));
    let tasks: Vec<_> = (0..PARALLEL)
        .map(|i| {
            let (addr, body, barrier) = (servers[i % servers.len()], body.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                post_json(addr, "/api/v1/auth/login", None, &body).await.0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("request task"));
    }
    statuses
}

/// Exactly `LIMIT` wrong-password answers (400: the attempts that reached
/// the hasher), every other one 429.
fn assert_limit_held(statuses: &[u16], what: &str) {
    let wrong = statuses.iter().filter(|s| **s == 400).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (wrong, refused),
        (LIMIT, PARALLEL - LIMIT),
        "{what}: {LIMIT} attempts may reach the hasher, the rest get 429; statuses: {statuses:?}"
    );
}

async fn parallel_logins_hold_the_limit(store: Store) {
    let t = app_with(store, options).await;
    t.user("ann@example.com", PASSWORD).await;
    let addr = serve(&t.app).await;
    let statuses = parallel_wrong_logins(&[addr], "ann@example.com").await;
    assert_limit_held(&statuses, &format!("{store:?}"));
    // The right password is refused too until the window ends.
    let (status, answer) = post_json(
        addr,
        "/api/v1/auth/login",
        None,
        &format!(r#"{{"email":"ann@example.com","password":"{PASSWORD}"}}"#),
    )
    .await;
    assert_eq!(status, 429, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer}"
    );
    // An unknown email is throttled alike.
    let statuses = parallel_wrong_logins(&[addr], "ghost@example.com").await;
    assert_limit_held(&statuses, &format!("{store:?}, unknown email"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_logins_on_sqlite() {
    parallel_logins_hold_the_limit(Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_logins_on_postgres() {
    parallel_logins_hold_the_limit(Store::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_logins_on_mysql() {
    parallel_logins_hold_the_limit(Store::Mysql).await;
}

/// A second app instance on the database of `t` (its own connection pool,
/// throttle and memory session store), as a second process would be.
async fn second_instance(t: &TestApp) -> App {
    let url = t.db.url().to_owned();
    unchained::app::build_with(
        vec![
            Arc::new(DatabaseBundle),
            Arc::new(SessionBundle),
            Arc::new(SecurityBundle),
        ],
        move |c| {
            options(
                c.set("DATABASE_URL", url)
                    .set(
                        "SECRET_KEY",
                        "test-secret-key-for-the-security-bundle-tests",
                    )
                    .set("SESSION_TYPE", "memory")
                    .set("SECURITY_PASSWORD_ARGON2_ITERATIONS", 1),
            )
        },
        Environment::Test,
    )
    .await
    .expect("build the second instance")
}

async fn two_instances_share_the_limit(store: Store) {
    let t = app_with(store, options).await;
    t.user("ann@example.com", PASSWORD).await;
    let other = second_instance(&t).await;
    let servers = [serve(&t.app).await, serve(&other).await];
    let statuses = parallel_wrong_logins(&servers, "ann@example.com").await;
    assert_limit_held(&statuses, &format!("{store:?}, two instances"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_limit_on_postgres() {
    two_instances_share_the_limit(Store::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_limit_on_mysql() {
    two_instances_share_the_limit(Store::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn change_password_is_throttled() {
    let t = app_with(Store::Sqlite, options).await;
    t.user("ann@example.com", PASSWORD).await;
    let addr = serve(&t.app).await;
    let (status, answer) = post_json(
        addr,
        "/api/v1/auth/login",
        None,
        &format!(r#"{{"email":"ann@example.com","password":"{PASSWORD}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let cookie = cookies(&answer);
    assert!(!cookie.is_empty(), "a session cookie: {answer}");

    // A stolen cookie guessing the current password, all at once.
    let barrier = Arc::new(tokio::sync::Barrier::new(PARALLEL));
    let tasks: Vec<_> = (0..PARALLEL)
        .map(|i| {
            let (cookie, barrier) = (cookie.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let body = format!(
                    r#"{{"password":"guess number {i}","new_password":"a brand new password"}}"#
                );
                post_json(addr, "/api/v1/auth/change-password", Some(&cookie), &body).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, answer) = task.await.expect("request task");
        if status == 400 {
            assert!(
                answer.contains("The current password is wrong."),
                "{answer}"
            );
        }
        statuses.push(status);
    }
    assert_limit_held(&statuses, "change-password");

    // The guesses count against the account: login is refused too.
    let (status, _) = post_json(
        addr,
        "/api/v1/auth/login",
        None,
        &format!(r#"{{"email":"ann@example.com","password":"{PASSWORD}"}}"#),
    )
    .await;
    assert_eq!(status, 429);
}

// ---- the counters themselves, on every database --------------------------

async fn counters_on(backend: &str) {
    let db = TestDatabase::from_backend_name(backend).await.unwrap();
    unchained_security::models::create_tables(db.connection())
        .await
        .unwrap();
    let conn = db.connection().clone();
    let refused = |r: Result<_, ThrottleError>| matches!(r, Err(ThrottleError::Throttled(_)));

    // 2 per account, 3 per address.
    let t = LoginThrottle::new(conn.clone(), 2, 3, Duration::from_secs(60));
    let _ = t.reserve("a@x.org", "192.0.2.1").await.unwrap();
    let _ = t.reserve("a@x.org", "192.0.2.1").await.unwrap();
    match t.reserve("a@x.org", "192.0.2.2").await {
        Err(ThrottleError::Throttled(th)) => {
            assert!(th.retry_after <= Duration::from_secs(60) && th.retry_after.as_secs() >= 59)
        }
        other => panic!("{backend}: the account is over its limit: {other:?}"),
    }
    // The address has one attempt left; the refused one did not count.
    let _ = t.reserve("b@x.org", "192.0.2.1").await.unwrap();
    assert!(
        refused(t.reserve("c@x.org", "192.0.2.1").await),
        "{backend}: address limit"
    );
    assert!(t.reserve("c@x.org", "192.0.2.3").await.is_ok());
    // A right password resets the account and gives the address its
    // attempt back.
    let ok = t.reserve("d@x.org", "192.0.2.9").await.unwrap();
    t.succeeded(ok).await;
    let _ = t.reserve("d@x.org", "192.0.2.9").await.unwrap();
    let _ = t.reserve("d@x.org", "192.0.2.9").await.unwrap();
    assert!(
        refused(t.reserve("d@x.org", "192.0.2.10").await),
        "{backend}: the two failures after the success count"
    );
    let ok = t.reserve("e@x.org", "192.0.2.9").await.unwrap();
    t.succeeded(ok).await;
    let _ = t.reserve("f@x.org", "192.0.2.9").await.unwrap();
    assert!(
        refused(t.reserve("f@x.org", "192.0.2.9").await),
        "{backend}: three failures kept on the address"
    );
    // IPv6 counts by /64.
    let _ = t.reserve("g@x.org", "2001:db8:1:2::1").await.unwrap();
    let _ = t.reserve("h@x.org", "2001:db8:1:2::2").await.unwrap();
    let _ = t.reserve("i@x.org", "2001:db8:1:2:ffff::3").await.unwrap();
    assert!(
        refused(t.reserve("j@x.org", "2001:db8:1:2::4").await),
        "{backend}: one /64, one counter"
    );
    assert!(t.reserve("j@x.org", "2001:db8:1:3::4").await.is_ok());

    // A second throttle on the same database (another process) sees the
    // same counters.
    let other = LoginThrottle::new(conn.clone(), 2, 3, Duration::from_secs(60));
    assert!(
        refused(other.reserve("a@x.org", "192.0.2.50").await),
        "{backend}: shared"
    );

    // Unknown addresses share no counter; 0 turns a limit off.
    let open = LoginThrottle::new(conn.clone(), 0, 1, Duration::from_secs(60));
    for _ in 0..5 {
        let _ = open.reserve("k@x.org", UNKNOWN_ADDRESS).await.unwrap();
    }

    // Windows end.
    let short = LoginThrottle::new(conn, 1, 0, Duration::from_secs(1));
    let _ = short.reserve("w@x.org", "192.0.2.77").await.unwrap();
    assert!(refused(short.reserve("w@x.org", "192.0.2.77").await));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        short.reserve("w@x.org", "192.0.2.77").await.is_ok(),
        "{backend}: a new window"
    );
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn counters_on_sqlite() {
    counters_on("sqlite").await;
}

#[tokio::test]
async fn counters_on_postgres() {
    counters_on("postgres").await;
}

#[tokio::test]
async fn counters_on_mysql() {
    counters_on("mysql").await;
}

#[tokio::test]
async fn html_change_password_is_throttled() {
    let t = app_with(Store::Memory, |c| {
        c.set("SECURITY_LOGIN_ATTEMPTS_PER_ACCOUNT", 2)
            .set("SECURITY_CHANGEABLE", true)
    })
    .await;
    let user = t.user("ann@example.com", PASSWORD).await;
    unchained_security::testing::login_as(&t.client, &user)
        .await
        .unwrap();
    let form = [
        ("password", "not my password"),
        ("new_password", "a brand new password"),
        ("new_password_confirm", "a brand new password"),
    ];
    for _ in 0..2 {
        let wrong = post_with_csrf(&t.client, "/change-password", "/change-password", &form).await;
        assert_eq!(wrong.status(), 200);
        assert!(wrong.text().contains("The current password is wrong."));
    }
    let refused = post_with_csrf(&t.client, "/change-password", "/change-password", &form).await;
    assert_eq!(refused.status(), 429, "{}", refused.text());
    assert!(refused.header("retry-after").is_some());
    assert!(refused.text().contains("Too many wrong passwords."));
}
