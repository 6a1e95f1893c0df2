//! Keeps the benchmark runnable: serve the app on loopback with the memory
//! store, load each route for a moment, and check that every request was
//! answered. No timing assertions: the numbers live in docs/performance.md.

use std::time::Duration;

use session_bench::load;
use unchained::testing::TestClient;

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmark_runs_and_reports() {
    let client = TestClient::for_project_with(session_bench::PROJECT_ROOT, |c| {
        c.set("SESSION_TYPE", "memory")
    })
    .await
    .expect("the bench app builds");
    let app = client.app().expect("an app").clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { app.serve_on(listener).await });

    // One session to read from, made like the harness makes them.
    let first = client.get("/incr").await;
    assert_eq!(first.text(), "1");
    let cookie_pair = first
        .set_cookies()
        .first()
        .and_then(|c| c.split(';').next().map(str::to_owned))
        .expect("/incr sets the session cookie");

    for (path, cookie) in [
        ("/anon", None),
        ("/anon", Some(cookie_pair.as_str())),
        ("/read", Some(cookie_pair.as_str())),
        ("/incr", Some(cookie_pair.as_str())),
        ("/count", Some(cookie_pair.as_str())),
    ] {
        let report = load::run(addr, path, cookie, 4, Duration::from_millis(300)).await;
        println!(
            "{path} cookie={}: {:.0} req/s, p99 {:?}, {} errors",
            cookie.is_some(),
            report.requests_per_second(),
            report.p99,
            report.errors
        );
        assert!(report.ok > 0, "{path}: no request answered: {report:?}");
        assert_eq!(report.errors, 0, "{path}: {report:?}");
    }
    let after = client.get("/read").await.text();
    let n: u64 = after
        .parse()
        .unwrap_or_else(|_| panic!("/read answers a number after the run: {after}"));
    // `/count` answers what it stored: the next one is exactly one more.
    assert_eq!(client.get("/count").await.text(), (n + 1).to_string());
}

/// The memory-footprint probe runs and counts what it made (the resident
/// memory itself is reported, never asserted).
#[tokio::test]
async fn the_footprint_probe_runs_and_reports() {
    let report = session_bench::footprint::measure(500)
        .await
        .expect("the probe runs");
    assert_eq!(report.sessions, 500);
    // {"n": 1} in msgpack: a one-entry map, a one-letter key, a small int.
    assert_eq!(report.data_bytes, 500 * 4);
    assert!(report.held_bytes > report.data_bytes, "{report:?}");
    assert!(report.to_string().contains("live sessions:          500"));
}

/// The in-process scaling benchmark runs every router at two worker
/// counts and prints its tables (the rates are reported, never asserted
/// beyond "something was answered").
#[test]
fn the_scaling_benchmark_runs_and_reports() {
    use session_bench::scaling::{self, Options, Peer, ROUTES};
    let options = Options {
        workers: vec![2, 1],
        duration: Duration::from_millis(100),
        warmup: Duration::from_millis(20),
        rounds: 1,
    };
    let report = scaling::run(&options).expect("the benchmark runs");
    assert_eq!(report.options.workers, [1, 2], "sorted");
    assert_eq!(report.cells.len(), Peer::ALL.len() * ROUTES.len() * 2);
    assert_eq!(report.errors(), 0, "{report}");
    for cell in &report.cells {
        assert!(cell.per_second > 0.0, "{cell:?}");
    }
    assert_eq!(report.multiple(Peer::Ours, "/incr", 1), Some(1.0));
    assert!(report.scaling_vs_bare(Peer::Ours, "/read", 2).is_some());
    let table = report.to_string();
    assert!(table.contains("| ours (memory store) | /incr |"), "{table}");
    assert!(
        table.contains("| tower-sessions (memory) | /read |"),
        "{table}"
    );
    assert!(table.contains("Scaling against bare axum"), "{table}");
    assert!(table.contains("busy core-second"), "{table}");
}
