//! [`MemoryStore`]: sessions in this process's memory.
//!
//! Each session is packed into one heap buffer (see [`Packed`]) held in a
//! hash set whose slots are two words: a session takes little more memory
//! than its id and data, rather than the five times that a map of `String`
//! to [`Record`] took (a wide slot, three allocations).
//!
//! # Shards
//!
//! The sets are split into shards, each behind its own mutex, and a
//! session's shard is picked from bits of its key's hash. One set behind
//! one mutex stopped `/incr` from scaling past four cores: every request
//! on every core took the same lock, so its cache line moved between
//! cores on every request. With shards, two requests meet on a lock only
//! when their sessions fall in the same shard, and there are four times
//! as many shards as cores (a power of two, so the pick is a mask).
//!
//! Why shards of our own rather than a concurrent map crate (dashmap,
//! scc, papaya): the packed layout needs a set looked up by borrowed key
//! bytes, which a plain `HashSet` gives; `rename` must change two keys
//! with no reader seeing both or neither, which two shard locks taken in
//! order give; cleanup and owner listing walk a shard under its lock with
//! `retain`; and papaya's and scc's nodes or epochs would add allocations
//! per session to the 88 bytes a session takes now (dashmap is this same
//! design: shards of `RwLock<HashMap>`). A mutex rather than a `RwLock`
//! per shard: a read lock writes the lock word just as a mutex does, so
//! for critical sections this short (one lookup and a copy of the record)
//! it buys nothing, and readers of different sessions are already apart.
//! Measurements: `docs/performance.md`, "Scaling with cores".

mod packed;

use std::collections::HashSet;
use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use self::packed::{IdHash, Key, Packed};
use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};
use crate::id::SessionId;

/// The store's name, in errors.
pub(super) const NAME: &str = "memory";

/// Shards per core of [`MemoryStore::new`]: with four times as many shards
/// as cores, two cores working on different sessions rarely share a lock.
const SHARDS_PER_CORE: usize = 4;

/// The most shards a store takes: the shard is picked from the 16 hash
/// bits from bit 40 up, below the set's tag (see
/// [`MemoryStore::shard_index`]), and far more shards than cores buy
/// nothing.
const MAX_SHARDS: usize = 1 << 16;

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
#[derive(Clone)]
pub struct MemoryStore {
    shards: Arc<[Shard]>,
}

/// One shard: a set behind a lock, alone on its cache lines so that
/// taking one shard's lock never disturbs a core working in the next.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Set>);

/// The sessions of one shard, found by their key bytes.
type Set = HashSet<Packed, IdHash>;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No count of records: that would take every shard's lock, and a
        // `Debug` print must not wait on (or, under a held lock, deadlock
        // with) the requests.
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store with four shards per core (see the module docs).
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_shards(cores.saturating_mul(SHARDS_PER_CORE))
    }

    /// An empty store with `shards` shards, rounded up to a power of two
    /// between 1 and 65,536. `with_shards(1)` is one set behind one lock,
    /// as the store was before it was sharded: for comparing in benchmarks.
    pub fn with_shards(shards: usize) -> Self {
        let count = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        MemoryStore {
            shards: (0..count).map(|_| Shard::default()).collect(),
        }
    }

    /// How many shards the sessions are split into.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// How many records are held, expired ones included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// The bytes of ids and serialized data held: what a store that
    /// persisted the sessions would at least have to write. For comparing
    /// with the memory the process takes.
    pub fn held_bytes(&self) -> HeldBytes {
        let mut held = HeldBytes { ids: 0, data: 0 };
        for shard in self.shards.iter() {
            for packed in lock(shard).iter() {
                held.ids += packed.id_len();
                held.data += packed.view().map_or(0, |v| v.data.len());
            }
        }
        held
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| lock(s).is_empty())
    }

    /// The index of the shard holding `key`.
    ///
    /// The set inside a shard takes its bucket from the hash's low bits and
    /// a tag from its top seven, so the shard is picked from bits 40 and up,
    /// below the tag: were it picked from the low bits, every key of a
    /// shard would share them and fill only a fraction of its buckets. The hash is the one the set computes (same hasher, same
    /// `[u8]` input), so the two agree on what a key is.
    fn shard_index(&self, key: &[u8]) -> usize {
        let hash = IdHash.hash_one(key);
        // `shards.len()` is a power of two of at most 2^16 (`MAX_SHARDS`), so
        // the mask keeps only bits 40 to 55, below the tag (bits 57 to 63).
        (hash >> 40) as usize & (self.shards.len() - 1)
    }

    /// The locked set of the shard holding `key`.
    fn shard_of(&self, key: &[u8]) -> MutexGuard<'_, Set> {
        lock(&self.shards[self.shard_index(key)])
    }

    fn load_sync(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let Some(key) = Key::new(id.as_str()) else {
            return Ok(None);
        };
        let now = Utc::now();
        let set = self.shard_of(key.bytes());
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
        let mut set = self.shard_of(packed.key());
        if !matches(set.get(packed.key()), expected, Utc::now()) {
            return Ok(SaveOutcome::Conflict);
        }
        set.replace(packed);
        Ok(SaveOutcome::Saved)
    }
}

fn lock(shard: &Shard) -> MutexGuard<'_, Set> {
    // A panic while holding the lock cannot leave a record half written
    // (records are packed before the lock is taken and each change is one
    // set call), so poisoning is safe to ignore.
    shard
        .0
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let (from, to) = (
            self.shard_index(old_key.bytes()),
            self.shard_index(packed.key()),
        );
        // Both shards stay locked for the whole move, so no reader (who
        // locks one shard) sees both ids or neither. Two shards are always
        // locked in index order, so two renames never wait on each other
        // in a cycle.
        let (mut first, mut second) = match from.cmp(&to) {
            std::cmp::Ordering::Equal => (lock(&self.shards[from]), None),
            std::cmp::Ordering::Less => {
                let a = lock(&self.shards[from]);
                (a, Some(lock(&self.shards[to])))
            }
            std::cmp::Ordering::Greater => {
                let b = lock(&self.shards[to]);
                (lock(&self.shards[from]), Some(b))
            }
        };
        // `first` is the old id's shard; `second`, if any, the new id's.
        if !matches(first.get(old_key.bytes()), Some(expected), now)
            || second.as_deref().unwrap_or(&*first).contains(packed.key())
        {
            return Ok(SaveOutcome::Conflict);
        }
        first.remove(old_key.bytes());
        second.as_deref_mut().unwrap_or(&mut *first).insert(packed);
        Ok(SaveOutcome::Saved)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(Key::new(id.as_str()).is_some_and(|key| self.shard_of(key.bytes()).remove(key.bytes())))
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let now = Utc::now();
        let mut infos = Vec::new();
        // One shard at a time: a listing is not a snapshot of the whole
        // store (nor is it on any other store), and requests on other
        // shards go on meanwhile.
        for shard in self.shards.iter() {
            for packed in lock(shard).iter() {
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
        }
        Ok(infos)
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut set = lock(shard);
            let before = set.len();
            set.retain(|p| p.view().is_none_or(|v| v.owner != Some(owner)));
            removed += before - set.len();
        }
        Ok(removed as u64)
    }

    async fn cleanup_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let mut removed = 0u64;
        for shard in self.shards.iter() {
            if removed >= limit {
                break;
            }
            // Removing in place: no copy of the expired keys is needed.
            lock(shard).retain(|p| {
                if removed < limit && p.is_expired(now) {
                    removed += 1;
                    false
                } else {
                    true
                }
            });
        }
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

    fn live_record(owner: Option<&str>) -> Record {
        let now = Utc::now();
        Record {
            data: vec![9, 9],
            version: 1,
            owner: owner.map(str::to_owned),
            created_at: now,
            expires_at: now + chrono::Duration::seconds(60),
        }
    }

    #[test]
    fn shard_counts_are_powers_of_two() {
        assert_eq!(MemoryStore::with_shards(0).shard_count(), 1);
        assert_eq!(MemoryStore::with_shards(1).shard_count(), 1);
        assert_eq!(MemoryStore::with_shards(5).shard_count(), 8);
        assert_eq!(
            MemoryStore::with_shards(usize::MAX).shard_count(),
            MAX_SHARDS
        );
        assert!(MemoryStore::new().shard_count().is_power_of_two());
        assert!(MemoryStore::new().shard_count() >= SHARDS_PER_CORE);
    }

    #[test]
    fn keys_spread_over_every_shard() {
        let store = MemoryStore::with_shards(16);
        let mut seen = [0usize; 16];
        for _ in 0..4096 {
            let key = Key::new(&crate::generate_id(32)).unwrap();
            seen[store.shard_index(key.bytes())] += 1;
        }
        // 256 expected per shard; a shard with none would mean the pick
        // ignores some of its bits.
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }

    /// Many tasks on many threads write, read and rename their own
    /// sessions at once; every count comes out exact.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_tasks_see_their_own_sessions() {
        const TASKS: usize = 16;
        const PER_TASK: usize = 200;
        let store = MemoryStore::with_shards(8);
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    let owner = format!("owner-{t}");
                    let mut ids = Vec::new();
                    for _ in 0..PER_TASK {
                        let id = SessionId::generate(32);
                        let record = live_record(Some(&owner));
                        assert_eq!(
                            store.save(&id, &record, None).await.unwrap(),
                            SaveOutcome::Saved
                        );
                        // A second create of the same id conflicts.
                        assert_eq!(
                            store.save(&id, &record, None).await.unwrap(),
                            SaveOutcome::Conflict
                        );
                        let mut next = record.clone();
                        next.version = 2;
                        assert_eq!(
                            store.save(&id, &next, Some(1)).await.unwrap(),
                            SaveOutcome::Saved
                        );
                        assert_eq!(store.load(&id).await.unwrap(), Some(next));
                        ids.push(id);
                    }
                    // Renames cross shards: the old id goes, the new one holds
                    // the record.
                    for id in ids.iter_mut().take(PER_TASK / 2) {
                        let new = SessionId::generate(32);
                        let mut moved = live_record(Some(&owner));
                        moved.version = 3;
                        assert_eq!(
                            store.rename(id, &new, &moved, 2).await.unwrap(),
                            SaveOutcome::Saved
                        );
                        assert_eq!(store.load(id).await.unwrap(), None);
                        assert_eq!(store.load(&new).await.unwrap(), Some(moved));
                        *id = new;
                    }
                    ids
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        assert_eq!(store.len(), TASKS * PER_TASK);
        assert_eq!(
            store.held_bytes(),
            HeldBytes {
                ids: all.iter().map(|id| id.as_str().len()).sum(),
                data: TASKS * PER_TASK * 2,
            }
        );
        assert_eq!(
            store.list_by_owner("owner-3").await.unwrap().len(),
            PER_TASK
        );
        assert_eq!(
            store.delete_by_owner("owner-3").await.unwrap(),
            PER_TASK as u64
        );
        assert!(store.delete(&all[0]).await.unwrap());
        assert!(!store.delete(&all[0]).await.unwrap());
        assert_eq!(store.len(), (TASKS - 1) * PER_TASK - 1);
        // Cleanup stops at its limit across shards, then takes the rest.
        let later = Utc::now() + chrono::Duration::seconds(120);
        let left = store.len() as u64;
        assert_eq!(store.cleanup_expired(later, 100).await.unwrap(), 100);
        assert_eq!(
            store.cleanup_expired(later, u64::MAX).await.unwrap(),
            left - 100
        );
        assert!(store.is_empty());
    }

    /// A rename to an id that is taken fails and changes nothing, wherever
    /// the two ids fall.
    #[tokio::test]
    async fn rename_onto_a_taken_id_conflicts() {
        let store = MemoryStore::with_shards(4);
        let record = live_record(None);
        for _ in 0..32 {
            let (a, b) = (SessionId::generate(32), SessionId::generate(32));
            store.save(&a, &record, None).await.unwrap();
            store.save(&b, &record, None).await.unwrap();
            assert_eq!(
                store.rename(&a, &b, &record, 1).await.unwrap(),
                SaveOutcome::Conflict
            );
            assert_eq!(store.load(&a).await.unwrap(), Some(record.clone()));
            assert_eq!(store.load(&b).await.unwrap(), Some(record.clone()));
        }
    }
}
