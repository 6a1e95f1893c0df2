//! [`MemoryStore`]: sessions in this process's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};

/// Sessions in a map in this process: for tests and single-process
/// development. Everything is lost on restart and not shared between
/// processes. Clones share the same map.
///
/// ```
/// # tokio_test_block(async {
/// use unchained_session::store::{MemoryStore, SessionStore};
/// let store = MemoryStore::new();
/// assert!(store.load("abcdefghijklmnopqrstuv").await.unwrap().is_none());
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<HashMap<String, Record>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records are held, expired ones included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// The bytes of ids and serialized data held: what a store that
    /// persisted the sessions would at least have to write. For comparing
    /// with the memory the process takes.
    pub fn held_bytes(&self) -> HeldBytes {
        let map = self.lock();
        HeldBytes {
            ids: map.keys().map(String::len).sum(),
            data: map.values().map(|r| r.data.len()).sum(),
        }
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Record>> {
        // A panic while holding the lock cannot leave a record half
        // written (each operation is one map call), so poisoning is safe
        // to ignore.
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What [`MemoryStore::held_bytes`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBytes {
    /// Bytes of session ids.
    pub ids: usize,
    /// Bytes of serialized session data.
    pub data: usize,
}

fn matches(current: Option<&Record>, expected: Option<u64>, now: DateTime<Utc>) -> bool {
    let live = current.filter(|r| !r.is_expired(now));
    match (live, expected) {
        (None, None) => true,
        (Some(r), Some(v)) => r.version == v,
        _ => false,
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let now = Utc::now();
        Ok(self.lock().get(id).filter(|r| !r.is_expired(now)).cloned())
    }

    async fn save(
        &self,
        id: &str,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        super::check_id(self.name(), id)?;
        let mut map = self.lock();
        if !matches(map.get(id), expected, Utc::now()) {
            return Ok(SaveOutcome::Conflict);
        }
        map.insert(id.to_owned(), record.clone());
        Ok(SaveOutcome::Saved)
    }

    async fn rename(
        &self,
        old: &str,
        new: &str,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, StoreError> {
        super::check_id(self.name(), new)?;
        let now = Utc::now();
        let mut map = self.lock();
        if !matches(map.get(old), Some(expected), now) || map.contains_key(new) {
            return Ok(SaveOutcome::Conflict);
        }
        // Both changes happen under one lock: no reader sees both or neither.
        map.remove(old);
        map.insert(new.to_owned(), record.clone());
        Ok(SaveOutcome::Saved)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().remove(id).is_some())
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let now = Utc::now();
        Ok(self
            .lock()
            .iter()
            .filter(|(_, r)| r.owner.as_deref() == Some(owner) && !r.is_expired(now))
            .map(|(id, r)| SessionInfo {
                id: id.clone(),
                owner: r.owner.clone(),
                created_at: r.created_at,
                expires_at: r.expires_at,
            })
            .collect())
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, r| r.owner.as_deref() != Some(owner));
        Ok((before - map.len()) as u64)
    }

    async fn cleanup_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let mut map = self.lock();
        let expired: Vec<String> = map
            .iter()
            .filter(|(_, r)| r.is_expired(now))
            .map(|(id, _)| id.clone())
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        for id in &expired {
            map.remove(id);
        }
        Ok(expired.len() as u64)
    }
}
