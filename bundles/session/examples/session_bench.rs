//! Load generator on loopback: requests per second and p99 latency of the
//! session layer on each store, against bare axum in the same run.
//!
//! ```console
//! $ cargo run --release -p unchained-session --example session_bench -- memory redis postgres
//! ```
//!
//! Each store gets an app with `GET /anon` (does not touch the session),
//! `GET /read` (returns `n`, 0 if absent) and `GET /incr` (adds 1 to `n`).
//! Baselines: a bare axum handler, and for Redis and PostgreSQL a bare
//! handler that makes the same single store read itself (the floor of one
//! round trip per request). Every connection has its own session. Set
//! `BENCH_SECONDS` and `BENCH_CONNECTIONS` to change the load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use unchained_session::config::SessionConfig;
use unchained_session::store::{MemoryStore, RedisStore, SessionStore, SqlStore};
use unchained_session::{Session, SessionError, SessionManager};

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS_URL: &str = "redis://127.0.0.1:6379/0";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let mut stores: Vec<String> = std::env::args().skip(1).collect();
    if stores.is_empty() {
        stores.push("memory".into());
    }
    let duration = Duration::from_secs(seconds);
    println!("{connections} connections, {seconds} s per row\n");
    println!("| app | route | requests/s | p99 (ms) |");
    println!("| --- | --- | ---: | ---: |");

    let bare = serve(Router::new().route("/anon", get(|| async { "ok" }))).await?;
    report(
        "bare axum",
        "/anon",
        load(bare, "/anon", connections, duration, false).await?,
    );

    for store in &stores {
        let (session_store, baseline): (Arc<dyn SessionStore>, Option<Router>) = match store
            .as_str()
        {
            "memory" => (Arc::new(MemoryStore::new()), None),
            "redis" => {
                let client = redis::Client::open(REDIS_URL)?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                // The baseline reads a hash shaped like a session record.
                let _: () = redis::cmd("HSET")
                    .arg("bench:baseline")
                    .arg(&[
                        "v",
                        "1",
                        "d",
                        "\u{81}\u{a1}n\u{01}",
                        "c",
                        "1",
                        "e",
                        "9999999999999",
                    ])
                    .query_async(&mut conn)
                    .await?;
                let router = Router::new()
                    .route("/read", get(redis_read))
                    .with_state(conn);
                (
                    Arc::new(RedisStore::new(REDIS_URL, "bench:session:")?),
                    Some(router),
                )
            }
            "postgres" => {
                let db = Database::connect(PG_URL).await?;
                let table = "bench_sessions";
                db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                    .await?;
                let sql = SqlStore::new(db.clone(), table)?;
                sql.create_table(table).await?;
                // The baseline reads a row shaped like a session record.
                db.execute_unprepared(&format!(
                    "INSERT INTO {table} (session_id, data, expiry) VALUES ('x', '\\x81a16e01', now() + interval '1 day')"
                ))
                .await?;
                let router = Router::new().route("/read", get(pg_read)).with_state(db);
                (Arc::new(sql), Some(router))
            }
            other => {
                return Err(format!("unknown store {other}: use memory, redis or postgres").into());
            }
        };
        if let Some(router) = baseline {
            let addr = serve(router).await?;
            report(
                &format!("bare axum + 1 {store} read"),
                "/read",
                load(addr, "/read", connections, duration, false).await?,
            );
        }
        let manager = SessionManager::new(SessionConfig::default(), session_store, None)?;
        let app = Router::new()
            .route("/anon", get(|| async { "ok" }))
            .route("/read", get(read))
            .route("/incr", get(incr))
            .layer(manager.layer());
        let addr = serve(app).await?;
        for route in ["/anon", "/read", "/incr"] {
            let stats = load(addr, route, connections, duration, true).await?;
            report(&format!("session ({store})"), route, stats);
        }
    }
    Ok(())
}

async fn read(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<i64>("n").await?.unwrap_or(0).to_string())
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let n = session.get::<i64>("n").await?.unwrap_or(0) + 1;
    session.insert("n", n).await?;
    Ok(n.to_string())
}

async fn redis_read(State(mut conn): State<redis::aio::MultiplexedConnection>) -> String {
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg("bench:baseline")
        .query_async(&mut conn)
        .await
        .unwrap_or(None);
    value.map(|v| v.len()).unwrap_or(0).to_string()
}

async fn pg_read(State(db): State<DatabaseConnection>) -> String {
    let stmt = Statement::from_string(
        db.get_database_backend(),
        "SELECT data, expiry, version, owner, created_at FROM bench_sessions WHERE session_id = 'x'",
    );
    match db.query_one_raw(stmt).await {
        Ok(row) => row.is_some().to_string(),
        Err(_) => "error".into(),
    }
}

async fn serve(router: Router) -> Result<std::net::SocketAddr, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

struct Stats {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    p99: Duration,
}

fn report(app: &str, route: &str, stats: Stats) {
    let rps = stats.requests as f64 / stats.elapsed.as_secs_f64();
    let errors = if stats.errors > 0 {
        format!(" ({} errors)", stats.errors)
    } else {
        String::new()
    };
    println!(
        "| {app} | {route} | {rps:.0}{errors} | {:.2} |",
        stats.p99.as_secs_f64() * 1000.0
    );
}

/// `connections` keep-alive connections sending `GET route` as fast as
/// they can for `duration`, each with its own session when `session`.
async fn load(
    addr: std::net::SocketAddr,
    route: &str,
    connections: usize,
    duration: Duration,
    session: bool,
) -> Result<Stats, BoxError> {
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..connections {
        let route = route.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let cookie = if session {
                let (_, set_cookie) = conn.get("/incr", None).await?;
                set_cookie
            } else {
                None
            };
            let mut latencies = Vec::new();
            let mut errors = 0;
            let deadline = Instant::now() + duration;
            while Instant::now() < deadline {
                let t = Instant::now();
                let (status, _) = conn.get(&route, cookie.as_deref()).await?;
                latencies.push(t.elapsed());
                if status >= 500 {
                    errors += 1;
                }
            }
            Ok::<_, BoxError>((latencies, errors))
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await??;
        all.extend(latencies);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort();
    let p99 = all.get(all.len() * 99 / 100).copied().unwrap_or_default();
    Ok(Stats {
        requests: all.len(),
        errors,
        elapsed,
        p99,
    })
}

/// A minimal HTTP/1.1 keep-alive client: enough for `GET` and small bodies.
struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    async fn open(addr: std::net::SocketAddr) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream: BufReader::new(stream),
        })
    }

    /// Status and the session cookie (`name=value`) if one was set.
    async fn get(
        &mut self,
        path: &str,
        cookie: Option<&str>,
    ) -> Result<(u16, Option<String>), BoxError> {
        let cookie = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{cookie}\r\n");
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let mut length = 0;
        let mut set_cookie = None;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').ok_or("bad header")?;
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse()?,
                "set-cookie" => set_cookie = value.trim().split(';').next().map(str::to_owned),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, set_cookie))
    }
}
