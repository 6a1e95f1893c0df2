//! Resident memory of the memory store holding many live sessions.
//!
//! Creates `sessions` sessions through the real session layer (each one a
//! request to an `/incr` route without cookie, as the benchmark's clients
//! make theirs) and reads the process's resident set size (`VmRSS` from
//! `/proc/self/status`) before and after. `cargo run --release -p
//! session-bench --bin session-footprint -- 100000` prints the report that
//! `docs/performance.md` quotes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use unchained_session::config::SessionConfig;
use unchained_session::store::MemoryStore;
use unchained_session::{Session, SessionError, SessionManager};

/// What [`measure`] found.
#[derive(Debug, Clone)]
pub struct FootprintReport {
    /// Live sessions in the store at the end.
    pub sessions: usize,
    /// Resident memory growth while the sessions were made, in bytes
    /// (`None` where `/proc/self/status` cannot be read).
    pub rss_growth: Option<u64>,
    /// Bytes of ids and serialized data held (see
    /// [`MemoryStore::held_bytes`]).
    pub held_bytes: usize,
    /// Bytes of serialized data alone.
    pub data_bytes: usize,
}

impl FootprintReport {
    /// Resident memory growth per session, in bytes.
    pub fn rss_per_session(&self) -> Option<f64> {
        let growth = self.rss_growth?;
        (self.sessions > 0).then(|| growth as f64 / self.sessions as f64)
    }

    /// Resident memory growth divided by the ids and serialized data held.
    pub fn ratio_to_held(&self) -> Option<f64> {
        let growth = self.rss_growth?;
        (self.held_bytes > 0).then(|| growth as f64 / self.held_bytes as f64)
    }
}

impl std::fmt::Display for FootprintReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "live sessions:          {}", self.sessions)?;
        writeln!(
            f,
            "ids + serialized data:  {} bytes ({} of it data)",
            self.held_bytes, self.data_bytes
        )?;
        match (
            self.rss_growth,
            self.rss_per_session(),
            self.ratio_to_held(),
        ) {
            (Some(growth), Some(per), Some(ratio)) => {
                writeln!(f, "resident memory growth: {growth} bytes")?;
                writeln!(f, "per session:            {per:.0} bytes")?;
                write!(f, "growth / (ids + data):  {ratio:.2}")
            }
            _ => write!(f, "resident memory:        not readable on this system"),
        }
    }
}

/// Makes `sessions` sessions holding `{"n": 1}` in a fresh memory store and
/// reports the memory they take. Errors name what failed.
pub async fn measure(sessions: usize) -> Result<FootprintReport, String> {
    let store = Arc::new(MemoryStore::new());
    let manager = SessionManager::new(SessionConfig::default(), store.clone(), None)
        .map_err(|e| e.to_string())?;
    let app: Router = Router::new()
        .route("/incr", get(incr))
        .layer(manager.layer());
    // One session first, so the runtime's and the map's first allocations
    // are not counted.
    request(&app).await?;
    let before = resident_bytes();
    for _ in 1..sessions {
        request(&app).await?;
    }
    let after = resident_bytes();
    let held = store.held_bytes();
    Ok(FootprintReport {
        sessions: store.len(),
        rss_growth: before.zip(after).map(|(b, a)| a.saturating_sub(b)),
        held_bytes: held.ids + held.data,
        data_bytes: held.data,
    })
}

async fn incr(session: Session) -> Result<String, SessionError> {
    let n: i64 = session.get("n").await?.unwrap_or(0) + 1;
    session.insert("n", n).await?;
    Ok(n.to_string())
}

async fn request(app: &Router) -> Result<(), String> {
    use tower::ServiceExt;
    let request = Request::get("/incr")
        .body(Body::empty())
        .map_err(|e| e.to_string())?;
    let response = app
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("/incr answered {}", response.status()));
    }
    Ok(())
}

/// The process's resident set size, from `/proc/self/status`.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
