//! `session.cleanup`: the session bundle's periodic cleanup of expired
//! sessions, run as a job when the jobs bundle is listed, so that one
//! worker runs it per `SESSION_CLEANUP_INTERVAL` instead of every app
//! process running its own loop (the session bundle leaves its loop off
//! when it sees the jobs bundle).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use unchained::state::AppState;
use unchained_session::SessionManager;

use crate::envelope::Envelope;
use crate::job::{Job, JobContext};
use crate::schedule::{Schedule, When};

/// The session bundle's name.
const SESSION_BUNDLE: &str = "unchained.bundles.session";

/// Deletes expired sessions through the app's [`SessionManager`].
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SessionCleanup {}

impl Job for SessionCleanup {
    const NAME: &'static str = "session.cleanup";

    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        let manager = ctx.service::<SessionManager>().ok_or_else(|| {
            anyhow::anyhow!(
                "session.cleanup needs the session bundle: add \"{SESSION_BUNDLE}\" to bundles in unchained.toml"
            )
        })?;
        if manager.store().name() == "redis" {
            // Redis expires sessions itself.
            return Ok(());
        }
        let batch = manager.config().cleanup_batch_size;
        let deleted = manager.cleanup(batch, |_| {}).await?;
        tracing::info!(target: "unchained_jobs", deleted, "expired sessions deleted");
        Ok(())
    }
}

crate::register_job!(SessionCleanup);

/// The `session.cleanup` schedule when the session bundle is listed and
/// its `SESSION_CLEANUP_INTERVAL` is not off.
pub fn schedule(state: &AppState) -> Option<Schedule> {
    if !state.bundles().contains(&SESSION_BUNDLE) {
        return None;
    }
    let every: Duration = state
        .service::<SessionManager>()?
        .config()
        .cleanup_interval?;
    Some(Schedule {
        name: SessionCleanup::NAME.to_owned(),
        when: When::Every(every.max(Duration::from_secs(1))),
        envelope: Envelope {
            name: SessionCleanup::NAME.to_owned(),
            payload: serde_json::json!({}),
        },
    })
}
