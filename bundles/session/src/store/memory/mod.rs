//! [`MemoryStore`]: sessions in this process's memory.
//!
//! Each session is packed into one heap buffer (see [`Packed`]) held in a
//! hash set whose slots are two words: a session takes little more memory
//! than its id and data, rather than the five times that a map of `String`
//! to [`Record`] took (a wide slot, three allocations).

mod packed;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use self::packed::{IdHash, Key, Packed};
use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};
use crate::id::SessionId;

/// The store's name, in errors.
pub(super) const NAME: &str = "memory";

/// Sessions in a map in this process: for tests and single-process
/// development. Everything is lost on restart and not shared between
/// processes. Clones share the same map.
///
/// ```
/// # tokio_test_block(async {
/// use unchained_session::SessionId;
/// use unchained_session::store::{MemoryStore, SessionStore};
/// let store = MemoryStore::new();
/// let id = SessionId::parse("abcdefghijklmnopqrstuv").unwrap();
/// assert!(store.load(&id).await.unwrap().is_none());
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<HashSet<Packed, IdHash>>>,
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
        let set = self.lock();
        let mut held = HeldBytes { ids: 0, data: 0 };
        for packed in set.iter() {
            held.ids += packed.id_len();
            held.data += packed.view().map_or(0, |v| v.data.len());
        }
        held
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn load_sync(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let Some(key) = Key::new(id.as_str()) else {
            return Ok(None);
        };
        let now = Utc::now();
        let set = self.lock();
        match set.get(key.bytes()) {
            Some(p) => {
                let view = p.fields()?;
                Ok((view.expires_at > now).then(|| view.to_record()))
            }
            None => Ok(None),
        }
    }

    fn save_sync(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        let packed = Packed::new(id.as_str(), record)?;
        let mut set = self.lock();
        if !matches(set.get(packed.key()), expected, Utc::now()) {
            return Ok(SaveOutcome::Conflict);
        }
        set.replace(packed);
        Ok(SaveOutcome::Saved)
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<Packed, IdHash>> {
        // A panic while holding the lock cannot leave a record half
        // written (records are packed before the lock is taken and each
        // change is one set call), so poisoning is safe to ignore.
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

fn matches(current: Option<&Packed>, expected: Option<u64>, now: DateTime<Utc>) -> bool {
    let live = current.filter(|p| !p.is_expired(now));
    match (live, expected) {
        (None, None) => true,
        (Some(p), Some(v)) => p.view().is_some_and(|r| r.version == v),
        _ => false,
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.load_sync(id)
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        self.save_sync(id, record, expected)
    }

    fn load_now(&self, id: &SessionId) -> Option<Result<Option<Record>, StoreError>> {
        Some(self.load_sync(id))
    }

    fn save_now(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Option<Result<SaveOutcome, StoreError>> {
        Some(self.save_sync(id, record, expected))
    }

    async fn rename(
        &self,
        old: &SessionId,
        new: &SessionId,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, StoreError> {
        let Some(old_key) = Key::new(old.as_str()) else {
            return Ok(SaveOutcome::Conflict);
        };
        let packed = Packed::new(new.as_str(), record)?;
        let now = Utc::now();
        let mut set = self.lock();
        if !matches(set.get(old_key.bytes()), Some(expected), now) || set.contains(packed.key()) {
            return Ok(SaveOutcome::Conflict);
        }
        // Both changes happen under one lock: no reader sees both or neither.
        set.remove(old_key.bytes());
        set.insert(packed);
        Ok(SaveOutcome::Saved)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(Key::new(id.as_str()).is_some_and(|key| self.lock().remove(key.bytes())))
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let now = Utc::now();
        let set = self.lock();
        let mut infos = Vec::new();
        for packed in set.iter() {
            let view = packed.fields()?;
            if view.owner == Some(owner) && view.expires_at > now {
                infos.push(SessionInfo {
                    id: packed.id()?,
                    owner: view.owner.map(str::to_owned),
                    created_at: view.created_at,
                    expires_at: view.expires_at,
                });
            }
        }
        Ok(infos)
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let mut set = self.lock();
        let before = set.len();
        set.retain(|p| p.view().is_none_or(|v| v.owner != Some(owner)));
        Ok((before - set.len()) as u64)
    }

    async fn cleanup_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let mut set = self.lock();
        let mut removed = 0u64;
        // Removing in place: no copy of the expired keys is needed.
        set.retain(|p| {
            if removed < limit && p.is_expired(now) {
                removed += 1;
                false
            } else {
                true
            }
        });
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn store_counts_held_bytes_and_lists_owners() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let record = Record {
            data: vec![1, 2, 3, 4],
            version: 1,
            owner: Some("o".repeat(256)),
            created_at: now,
            expires_at: now + chrono::Duration::seconds(60),
        };
        let id = SessionId::generate(32);
        assert_eq!(
            store.save(&id, &record, None).await.unwrap(),
            SaveOutcome::Saved
        );
        assert_eq!(
            store.held_bytes(),
            HeldBytes {
                ids: id.as_str().len(),
                data: 4
            }
        );
        assert_eq!(store.load(&id).await.unwrap(), Some(record.clone()));
        let listed = store.list_by_owner(&"o".repeat(256)).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, id.as_str());
        assert_eq!(store.delete_by_owner(&"o".repeat(256)).await.unwrap(), 1);
        assert!(store.is_empty());
    }
}
