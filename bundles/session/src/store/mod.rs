//! The [`SessionStore`] trait and its implementations, one per module.
//!
//! A store keeps [`Record`]s by session id. It is deliberately small: the
//! session logic (expiry rules, merging, cookies) lives above it, so a new
//! backend only implements these few operations, each one round trip.
//!
//! Ids arrive as [`SessionId`]s, checked once where they entered the
//! crate: a store can use one as a file name or a key as it is.

mod filesystem;
mod memory;
mod null;
#[cfg(feature = "redis")]
mod redis;
mod sql;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::id::SessionId;

pub use self::filesystem::FilesystemStore;
pub use self::memory::{HeldBytes, MemoryStore};
pub use self::null::NullStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
pub use self::sql::{SqlStore, session_table};

/// One stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The session's data, serialized.
    pub data: Vec<u8>,
    /// Starts at 1 and grows by one with each save; compare-and-swap key.
    pub version: u64,
    /// The session's owner (e.g. a user id), for listing and destroying all
    /// sessions of one owner.
    pub owner: Option<String>,
    /// When the session was created: the start of its absolute lifetime.
    pub created_at: DateTime<Utc>,
    /// When the record expires unless refreshed (idle lifetime).
    pub expires_at: DateTime<Utc>,
}

impl Record {
    /// Whether the record is past its expiry at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// What a session listing shows about one session of an owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id (a bearer secret: never show it to other users).
    pub id: String,
    /// The owner.
    pub owner: Option<String>,
    /// When the session was created.
    pub created_at: DateTime<Utc>,
    /// When the session expires unless used.
    pub expires_at: DateTime<Utc>,
}

/// The result of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaveOutcome {
    /// Written.
    Saved,
    /// Not written: the record's version was not the expected one (another
    /// request saved first), it does not exist any more, (on create) the
    /// id is taken, or the database rolled the write back because of a
    /// lock conflict with a concurrent save. Reload and try again.
    Conflict,
}

/// A store could not do what was asked. The request gets 503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend is unreachable or failed (database down, Redis down,
    /// disk error).
    #[error("{store} session store unavailable: {message}")]
    Unavailable {
        /// The store's name.
        store: &'static str,
        /// The backend's message.
        message: String,
    },
    /// A stored record cannot be read (corrupt file or row).
    #[error("{store} session store holds a corrupt record: {message}")]
    Corrupt {
        /// The store's name.
        store: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store keeps nothing (`SESSION_TYPE = "null"`).
    #[error(
        "SESSION_TYPE is \"null\": sessions cannot be written; choose memory, filesystem, redis or sqlalchemy"
    )]
    Disabled,
}

impl StoreError {
    pub(crate) fn unavailable(store: &'static str, message: impl std::fmt::Display) -> Self {
        StoreError::Unavailable {
            store,
            message: message.to_string(),
        }
    }

    pub(crate) fn corrupt(store: &'static str, message: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            store,
            message: message.to_string(),
        }
    }
}

/// Where sessions live. Implementations must be safe to share between
/// requests and processes that share the backend.
///
/// Every method is one round trip to the backend, except the listing and
/// cleanup helpers.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// A short name for logs, e.g. `redis`.
    fn name(&self) -> &'static str;

    /// The record of `id`, or `None` if it does not exist or has expired.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError>;

    /// Writes `record` under `id` if the stored version is `expected`;
    /// `expected = None` creates the record and fails if `id` exists.
    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError>;

    /// Moves the record at `old` (which must have version `expected`) to
    /// `new` and writes `record` there, atomically: no reader ever sees
    /// both ids or neither.
    async fn rename(
        &self,
        old: &SessionId,
        new: &SessionId,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, StoreError>;

    /// Deletes the record of `id`; `true` if there was one.
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// Every live session of `owner`.
    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionInfo>, StoreError>;

    /// Deletes every session of `owner`; returns how many.
    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError>;

    /// Deletes at most `limit` records expired at `now`; returns how many.
    /// Callers loop until it returns less than `limit`.
    async fn cleanup_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError>;

    /// For stores that answer without I/O (the memory store): what
    /// [`load`](Self::load) would return, computed now, with no future to
    /// allocate and poll. `None` (the default) means "call `load`". The
    /// session layer tries this first on every read.
    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Record>, StoreError>> {
        let _ = id;
        None
    }

    /// Like [`load_now`](Self::load_now), for [`save`](Self::save).
    fn save_now(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Option<Result<SaveOutcome, StoreError>> {
        let _ = (id, record, expected);
        None
    }
}

/// Counters of store operations made by a session layer, for tests and
/// monitoring. Every operation is also logged at `debug` level with the
/// `unchained_session::store` target.
///
/// The counters are striped: each thread adds to the stripe its index
/// picks, alone on its cache lines, and [`snapshot`](Self::snapshot) sums
/// the stripes. One shared set of counters was written by every request
/// on every core, so its cache line moved between cores on every request
/// and writes stopped scaling at four cores; with stripes, cores count
/// apart and only a reader of the counters touches them all.
pub struct StoreStats {
    stripes: Box<[Stripe]>,
}

/// One thread's share of [`StoreStats`]. 128 bytes apart: CPUs that fetch
/// cache lines in pairs would otherwise share a neighbour's.
#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    reads: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
    conflicts: AtomicU64,
}

/// Stripes per core: threads take stripe indexes in turn, and with twice
/// as many stripes as cores the runtime's workers (made one after the
/// other) each get their own even when a few other threads came between.
const STRIPES_PER_CORE: usize = 2;

/// The next stripe index to hand to a thread that counts for the first
/// time. Touched once per thread, never per request.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe index (before the mask of a given
    /// [`StoreStats`]).
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed);
}

impl Default for StoreStats {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let count = cores
            .saturating_mul(STRIPES_PER_CORE)
            .checked_next_power_of_two()
            .unwrap_or(1);
        StoreStats {
            stripes: (0..count).map(|_| Stripe::default()).collect(),
        }
    }
}

impl std::fmt::Debug for StoreStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreStats").field(&self.snapshot()).finish()
    }
}

/// A copy of [`StoreStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// `load` calls.
    pub reads: u64,
    /// `save` and `rename` calls.
    pub writes: u64,
    /// `delete` and `delete_by_owner` calls.
    pub deletes: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Saves refused by the version check.
    pub conflicts: u64,
}

impl StatsSnapshot {
    /// Every operation: reads, writes and deletes.
    pub fn total(&self) -> u64 {
        self.reads + self.writes + self.deletes
    }
}

impl std::ops::Sub for StatsSnapshot {
    type Output = StatsSnapshot;

    fn sub(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            reads: self.reads - earlier.reads,
            writes: self.writes - earlier.writes,
            deletes: self.deletes - earlier.deletes,
            errors: self.errors - earlier.errors,
            conflicts: self.conflicts - earlier.conflicts,
        }
    }
}

impl StoreStats {
    /// The counters now: the sum of every stripe. Counts made while the
    /// sum is taken may or may not be in it, as with any counter read
    /// under load; none is ever lost.
    pub fn snapshot(&self) -> StatsSnapshot {
        let mut sum = StatsSnapshot::default();
        for stripe in self.stripes.iter() {
            sum.reads += stripe.reads.load(Ordering::Relaxed);
            sum.writes += stripe.writes.load(Ordering::Relaxed);
            sum.deletes += stripe.deletes.load(Ordering::Relaxed);
            sum.errors += stripe.errors.load(Ordering::Relaxed);
            sum.conflicts += stripe.conflicts.load(Ordering::Relaxed);
        }
        sum
    }

    /// This thread's stripe. The stripe count is a power of two, so the
    /// pick is a mask. Outside a thread's life (in a thread-local
    /// destructor) it falls back to the first stripe.
    fn stripe(&self) -> &Stripe {
        let index = STRIPE.try_with(|i| *i).unwrap_or(0) & (self.stripes.len() - 1);
        &self.stripes[index]
    }

    pub(crate) fn read(&self) {
        self.stripe().reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn write(&self) {
        self.stripe().writes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn delete(&self) {
        self.stripe().deletes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self) {
        self.stripe().errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn conflict(&self) {
        self.stripe().conflicts.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod stats_tests {
    use super::*;

    /// Counts made on many threads, each on its own stripe or sharing one,
    /// all show in the sum.
    #[test]
    fn striped_counters_sum_every_thread() {
        let stats = std::sync::Arc::new(StoreStats::default());
        assert!(stats.stripes.len().is_power_of_two());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let stats = stats.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        stats.read();
                        stats.write();
                        stats.write();
                    }
                    stats.delete();
                    stats.error();
                    stats.conflict();
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let sum = stats.snapshot();
        assert_eq!(
            sum,
            StatsSnapshot {
                reads: 8000,
                writes: 16000,
                deletes: 8,
                errors: 8,
                conflicts: 8,
            }
        );
        assert_eq!(sum.total(), 24008);
        assert!(format!("{stats:?}").contains("reads: 8000"));
    }
}
