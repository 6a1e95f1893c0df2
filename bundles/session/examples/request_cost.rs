//! Runs N in-process requests through the session layer (memory store, no
//! network), for counting what one request costs with valgrind:
//!
//! ```sh
//! cargo build --release -p unchained-session --example request_cost
//! valgrind --tool=callgrind target/release/examples/request_cost read 20000
//! ```
//!
//! Modes: `bare` (the same router without the session layer), `anon` (with
//! the layer and a session cookie, handler does not touch the session),
//! `read` (reads an integer from the session) and `incr` (adds one).
//! Instructions per request = the difference between two runs with
//! different N, divided by the difference in N.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, header};
use tower::ServiceExt;
use unchained_session::config::SessionConfig;
use unchained_session::store::MemoryStore;
use unchained_session::{Session, SessionError, SessionManager};

async fn anon() -> &'static str {
    "ok"
}

async fn read(session: Session) -> Result<String, SessionError> {
    let n: i64 = session.get("n").await?.unwrap_or(0);
    Ok(n.to_string())
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let n: i64 = session.get("n").await?.unwrap_or(0) + 1;
    session.insert("n", n).await?;
    Ok(n.to_string())
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "read".to_owned());
    let n: usize = args
        .next()
        .map(|a| a.parse().map_err(|e| format!("N: {e}")))
        .transpose()?
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let manager =
            SessionManager::new(SessionConfig::default(), Arc::new(MemoryStore::new()), None)
                .map_err(|e| e.to_string())?;
        let routes = Router::new()
            .route("/anon", get(anon))
            .route("/read", get(read))
            .route("/incr", get(incr));
        let app = if mode == "bare" {
            routes
        } else {
            routes.layer(manager.layer())
        };
        let first = app
            .clone()
            .oneshot(
                Request::get("/incr")
                    .body(Body::empty())
                    .map_err(|e| e.to_string())?,
            )
            .await
            .map_err(|e| e.to_string())?;
        let cookie = first
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("session=none")
            .to_owned();
        let path = match mode.as_str() {
            "bare" | "anon" => "/anon",
            "read" => "/read",
            "incr" => "/incr",
            other => return Err(format!("unknown mode {other:?}: bare, anon, read or incr")),
        };
        for _ in 0..n {
            let request = Request::get(path)
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .map_err(|e| e.to_string())?;
            let response = app
                .clone()
                .oneshot(request)
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("{path} answered {}", response.status()));
            }
        }
        Ok(())
    })
}
