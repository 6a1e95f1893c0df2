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

use std::sync::atomic::{AtomicU64, Ordering};

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
#[derive(Debug, Default)]
pub struct StoreStats {
    reads: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
    conflicts: AtomicU64,
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
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn delete(&self) {
        self.deletes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn conflict(&self) {
        self.conflicts.fetch_add(1, Ordering::Relaxed);
    }
}
