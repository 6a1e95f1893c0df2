//! `unchained session cleanup`: deletes expired sessions in batches and
//! reports the count, with progress on large sets.

use std::io::Write;

use crate::manager::SessionManager;

/// Runs a cleanup with `manager`, `batch_size` records per statement,
/// writing progress lines (one per full batch) and a summary to `out`.
/// Returns how many records were deleted.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use unchained_session::{SessionManager, config::SessionConfig, store::MemoryStore};
/// let manager = SessionManager::new(SessionConfig::default(), Arc::new(MemoryStore::new()), None).unwrap();
/// let mut out = Vec::new();
/// let deleted = unchained_session::cleanup::run(&manager, 100, &mut out).await.unwrap();
/// assert_eq!(deleted, 0);
/// assert!(String::from_utf8(out).unwrap().contains("Deleted 0 expired sessions"));
/// # });
/// ```
pub async fn run(
    manager: &SessionManager,
    batch_size: u64,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let store = manager.store().name();
    if store == "redis" {
        writeln!(
            out,
            "Redis expires sessions by itself (native TTL): nothing to delete."
        )?;
        return Ok(0);
    }
    let mut last = 0;
    let total = manager
        .cleanup(batch_size, |so_far| {
            // A line per full batch: progress on large sets, silence on small.
            if so_far > last && so_far % batch_size == 0 {
                let _ = writeln!(out, "... {so_far} expired sessions deleted so far");
            }
            last = so_far;
        })
        .await?;
    writeln!(
        out,
        "Deleted {total} expired sessions from the {store} store."
    )?;
    Ok(total)
}
