//! The app that `docs/performance.md` measures: three routes that exercise
//! the session bundle exactly like the peers of `shared/bench-peers`.
//!
//! - `GET /anon` never touches the session and answers `ok`;
//! - `GET /read` answers the integer `n` from the session (0 when absent);
//! - `GET /incr` adds 1 to `n` and answers it, with `get` then `insert`
//!   (what the peers do: concurrent increments of one session can be lost);
//! - `GET /count` adds 1 to `n` with `Session::update` and answers the
//!   value stored (no increment is ever lost).

pub mod footprint;
pub mod load;
pub mod scaling;

use unchained::prelude::*;
use unchained_session::{Session, SessionError};

unchained::project!();

/// The benchmark's app bundle.
#[derive(Default)]
pub struct BenchBundle;

#[unchained::bundle]
impl Bundle for BenchBundle {
    fn name(&self) -> &'static str {
        "app"
    }

    fn is_app(&self) -> bool {
        true
    }

    fn routes(&self, _ctx: &RouteContext) -> Routes {
        Routes::new()
            .get("/anon", anon)
            .get("/read", read)
            .get("/incr", incr)
            .get("/count", count)
    }
}

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

async fn count(session: Session) -> Result<String, SessionError> {
    let n = session
        .update("n", |n: Option<i64>| n.unwrap_or(0) + 1)
        .await?;
    Ok(n.to_string())
}
