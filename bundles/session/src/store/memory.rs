//! [`MemoryStore`]: sessions in this process's memory.
//!
//! Each session is packed into one heap buffer (see [`Packed`]) held in a
//! hash set whose slots are two words: a session takes little more memory
//! than its id and data, rather than the five times that a map of `String`
//! to [`Record`] took (a wide slot, three allocations).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};

/// The store's name, in errors.
const NAME: &str = "memory";

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
    records: Arc<Mutex<HashSet<Packed>>>,
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

    fn lock(&self) -> MutexGuard<'_, HashSet<Packed>> {
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

// ---------------------------------------------------------------------------
// Packing
// ---------------------------------------------------------------------------

/// The longest id kept as is: ids are at most 128 characters (see
/// [`crate::id`]), so the key's first byte can tell its length and form.
const MAX_RAW_ID: usize = 128;
/// Added to the decoded length in the key's first byte of an id kept
/// base64-decoded, so it never equals a raw id's length.
const DECODED_TAG: usize = MAX_RAW_ID + 1;
/// Longest key: the first byte and a raw id.
const MAX_KEY: usize = 1 + MAX_RAW_ID;
/// The bit of the meta varint telling that timestamps are in the wide form.
const WIDE: u64 = 1;
/// Bytes of a timestamp as i64 nanoseconds.
const NARROW_TS: usize = 8;
/// Bytes of a timestamp as i64 seconds and u32 nanoseconds.
const WIDE_TS: usize = 12;

/// One session in one buffer, so that it costs one allocation and a
/// two-word slot in the set:
///
/// ```text
/// key:  [form+length: u8][id bytes]
/// rest: [meta: varint = owner << 1 | wide][version: varint]
///       [created_at][expires_at][owner bytes][data bytes]
/// ```
///
/// Ids this crate makes are URL-safe base64, kept decoded (3/4 of the
/// bytes); any other id is kept as is. The first byte is the id's length,
/// plus [`DECODED_TAG`] when decoded, so keys of the two forms never equal.
/// `owner` is 0 for no owner, else the owner's length plus one.
/// Timestamps are i64 nanoseconds (exact until 2262) or, for dates out of
/// that range or inside a leap second, i64 seconds and u32 nanoseconds:
/// both round-trip exactly. The data runs to the end of the buffer.
///
/// `Hash` and `Eq` look at the key only, and `Borrow<[u8]>` lends it, so the
/// set is looked up by [`Key`] bytes.
#[derive(Debug)]
struct Packed(Box<[u8]>);

impl Packed {
    /// Packs `record` under `id`. Fails if `id` is longer than any id this
    /// crate makes (callers check ids before) or a length overflows.
    fn new(id: &str, record: &Record) -> Result<Self, StoreError> {
        let key = Key::new(id).ok_or_else(|| {
            StoreError::corrupt(NAME, format!("refusing malformed session id {id:?}"))
        })?;
        let owner = record.owner.as_deref().unwrap_or("").as_bytes();
        let narrow = (nanos(record.created_at), nanos(record.expires_at));
        let (wide, ts_len) = match narrow {
            (Some(_), Some(_)) => (0, NARROW_TS),
            _ => (WIDE, WIDE_TS),
        };
        // The owner's presence is told by the owner length plus one, so
        // that `Some("")` and `None` stay apart.
        let owner_field = match &record.owner {
            None => Some(0),
            Some(_) => u64::try_from(owner.len())
                .ok()
                .and_then(|n| n.checked_add(1)),
        }
        .ok_or_else(|| StoreError::corrupt(NAME, "session owner too long to store"))?;
        let meta = owner_field
            .checked_mul(2)
            .map(|m| m | wide)
            .ok_or_else(|| StoreError::corrupt(NAME, "session owner too long to store"))?;
        let too_big = || StoreError::unavailable(NAME, "session record too large to store");
        let len = [
            varint_len(meta),
            varint_len(record.version),
            ts_len * 2,
            owner.len(),
            record.data.len(),
        ]
        .into_iter()
        .try_fold(key.bytes().len(), usize::checked_add)
        .ok_or_else(too_big)?;
        // Exactly `len` bytes, so the boxed slice takes no reallocation.
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| too_big())?;
        buf.extend_from_slice(key.bytes());
        put_varint(&mut buf, meta);
        put_varint(&mut buf, record.version);
        for (t, n) in [(record.created_at, narrow.0), (record.expires_at, narrow.1)] {
            match n {
                Some(n) if wide == 0 => buf.extend_from_slice(&n.to_le_bytes()),
                _ => {
                    buf.extend_from_slice(&t.timestamp().to_le_bytes());
                    buf.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
                }
            }
        }
        buf.extend_from_slice(owner);
        buf.extend_from_slice(&record.data);
        Ok(Packed(buf.into_boxed_slice()))
    }

    /// The key: the first byte and the id bytes.
    fn key(&self) -> &[u8] {
        let len = self.0.first().map_or(0, |&b| key_len(b));
        self.0.get(..len).unwrap_or(&self.0)
    }

    /// Length of the id as the caller wrote it.
    fn id_len(&self) -> usize {
        match self.0.first() {
            Some(&b) if usize::from(b) > DECODED_TAG => base64_len(usize::from(b) - DECODED_TAG),
            Some(&b) => usize::from(b),
            None => 0,
        }
    }

    /// The id as the caller wrote it.
    fn id(&self) -> Result<String, StoreError> {
        let key = self.key();
        let (first, bytes) = key.split_first().ok_or_else(corrupt)?;
        if usize::from(*first) > DECODED_TAG {
            Ok(URL_SAFE_NO_PAD.encode(bytes))
        } else {
            String::from_utf8(bytes.to_vec()).map_err(|_| corrupt())
        }
    }

    /// The fields after the key, unpacked. `None` only if the buffer is
    /// not one that [`Packed::new`] made.
    fn view(&self) -> Option<View<'_>> {
        let mut rest = self.0.get(self.key().len()..)?;
        let meta = take_varint(&mut rest)?;
        let version = take_varint(&mut rest)?;
        let wide = meta & WIDE != 0;
        let created_at = take_time(&mut rest, wide)?;
        let expires_at = take_time(&mut rest, wide)?;
        let owner = match usize::try_from(meta >> 1).ok()? {
            0 => None,
            n => {
                let (owner, tail) = rest.split_at_checked(n - 1)?;
                rest = tail;
                Some(std::str::from_utf8(owner).ok()?)
            }
        };
        Some(View {
            data: rest,
            version,
            owner,
            created_at,
            expires_at,
        })
    }

    /// [`Packed::view`], failing with the store's error.
    fn fields(&self) -> Result<View<'_>, StoreError> {
        self.view().ok_or_else(corrupt)
    }

    /// Whether the record is past its expiry at `now`. An unreadable
    /// record (never made here) counts as live so no path drops it silently.
    fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.view().is_some_and(|v| v.expires_at <= now)
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Packed {}

impl Hash for Packed {
    // Must hash exactly as the borrowed `[u8]` key does, for lookups by key.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl Borrow<[u8]> for Packed {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

/// The fields of a [`Packed`] record after its key, borrowed.
#[derive(Debug)]
struct View<'a> {
    data: &'a [u8],
    version: u64,
    owner: Option<&'a str>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl View<'_> {
    fn to_record(&self) -> Record {
        Record {
            data: self.data.to_vec(),
            version: self.version,
            owner: self.owner.map(str::to_owned),
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

/// An id in its packed key form, on the stack: built for every lookup.
struct Key {
    buf: [u8; MAX_KEY],
    len: usize,
}

impl Key {
    /// `None` for ids longer than any id this crate makes: no such id can
    /// be stored.
    fn new(id: &str) -> Option<Self> {
        let id = id.as_bytes();
        if id.len() > MAX_RAW_ID {
            return None;
        }
        let mut buf = [0u8; MAX_KEY];
        let decoded = buf.get_mut(1..)?;
        // Keep the decoded form only if encoding it gives the id back, so
        // each id has exactly one key.
        if let Ok(n) = URL_SAFE_NO_PAD.decode_slice(id, decoded)
            && n > 0
            && base64_len(n) == id.len()
        {
            let mut check = [0u8; MAX_RAW_ID];
            let back = decoded.get(..n)?;
            if URL_SAFE_NO_PAD.encode_slice(back, &mut check).ok() == Some(id.len())
                && check.get(..id.len()) == Some(id)
            {
                buf[0] = u8::try_from(DECODED_TAG + n).ok()?;
                return Some(Key { buf, len: 1 + n });
            }
        }
        buf.get_mut(1..=id.len())?.copy_from_slice(id);
        buf[0] = u8::try_from(id.len()).ok()?;
        Some(Key {
            buf,
            len: 1 + id.len(),
        })
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&self.buf)
    }
}

/// The key length told by a key's first byte.
fn key_len(first: u8) -> usize {
    let b = usize::from(first);
    1 + if b > DECODED_TAG { b - DECODED_TAG } else { b }
}

/// Characters of unpadded base64 for `n` bytes.
fn base64_len(n: usize) -> usize {
    n / 3 * 4 + [0, 2, 3][n % 3]
}

fn corrupt() -> StoreError {
    StoreError::corrupt(NAME, "unreadable packed record")
}

/// `t` as i64 nanoseconds if that round-trips exactly: not past 2262, not
/// inside a leap second.
fn nanos(t: DateTime<Utc>) -> Option<i64> {
    if t.timestamp_subsec_nanos() >= 1_000_000_000 {
        return None;
    }
    t.timestamp_nanos_opt()
}

fn take_time(rest: &mut &[u8], wide: bool) -> Option<DateTime<Utc>> {
    if wide {
        let (secs, tail) = rest.split_first_chunk::<8>()?;
        let (subsec, tail) = tail.split_first_chunk::<4>()?;
        *rest = tail;
        DateTime::from_timestamp(i64::from_le_bytes(*secs), u32::from_le_bytes(*subsec))
    } else {
        let (n, tail) = rest.split_first_chunk::<8>()?;
        *rest = tail;
        Some(DateTime::from_timestamp_nanos(i64::from_le_bytes(*n)))
    }
}

/// Bytes of `v` as an LEB128 varint.
fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn take_varint(rest: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, tail) = rest.split_first()?;
        *rest = tail;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

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

    async fn load(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let Some(key) = Key::new(id) else {
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

    async fn save(
        &self,
        id: &str,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        super::check_id(self.name(), id)?;
        let packed = Packed::new(id, record)?;
        let mut set = self.lock();
        if !matches(set.get(packed.key()), expected, Utc::now()) {
            return Ok(SaveOutcome::Conflict);
        }
        set.replace(packed);
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
        let Some(old_key) = Key::new(old) else {
            return Ok(SaveOutcome::Conflict);
        };
        let packed = Packed::new(new, record)?;
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

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        Ok(Key::new(id).is_some_and(|key| self.lock().remove(key.bytes())))
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

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, nanos).unwrap()
    }

    fn round_trip(id: &str, record: &Record) {
        let packed = Packed::new(id, record).unwrap();
        assert_eq!(packed.fields().unwrap().to_record(), *record, "{id}");
        assert_eq!(packed.id().unwrap(), id);
        assert_eq!(packed.id_len(), id.len());
    }

    #[test]
    fn packing_round_trips() {
        let id = crate::generate_id(32);
        let record = Record {
            data: b"\x81\xa1n\x01".to_vec(),
            version: 7,
            owner: Some("user-42".into()),
            created_at: at(1_700_000_000, 123_456_789),
            expires_at: at(1_700_001_209, 987_654_321),
        };
        round_trip(&id, &record);
        // A long owner (multi-byte varint), empty data, no owner, empty
        // owner, a huge version.
        let long = Record {
            owner: Some("ü".repeat(300)),
            data: Vec::new(),
            version: u64::MAX,
            ..record.clone()
        };
        round_trip(&id, &long);
        round_trip(
            &id,
            &Record {
                owner: None,
                ..record.clone()
            },
        );
        round_trip(
            &id,
            &Record {
                owner: Some(String::new()),
                ..record.clone()
            },
        );
        // Dates outside i64 nanoseconds, and a leap second: the wide form.
        let far = Record {
            created_at: at(-100_000_000_000, 5),
            expires_at: at(100_000_000_000, 999_999_999),
            ..record.clone()
        };
        round_trip(&id, &far);
        round_trip(
            &id,
            &Record {
                expires_at: at(1_483_228_799, 1_500_000_000),
                ..record.clone()
            },
        );
        // Ids of every shape round-trip, whether kept decoded or, when not
        // canonical base64 (non-zero trailing bits, impossible lengths), as
        // they are.
        for id in [
            "abcdefghijklmnopqrstuvw",
            &"x".repeat(128),
            "abcdefghijklmnopqrstuvx",
            &"A".repeat(22),
        ] {
            round_trip(id, &record);
        }
        assert!(Packed::new(&"x".repeat(129), &record).is_err());
    }

    #[test]
    fn lookup_by_id_finds_the_packed_entry() {
        let id = crate::generate_id(32);
        let now = Utc::now();
        let record = Record {
            data: vec![1, 2, 3],
            version: 1,
            owner: None,
            created_at: now,
            expires_at: now + chrono::Duration::seconds(60),
        };
        let mut set = HashSet::new();
        set.insert(Packed::new(&id, &record).unwrap());
        set.insert(Packed::new(&crate::generate_id(32), &record).unwrap());
        let found = set.get(Key::new(&id).unwrap().bytes()).unwrap();
        assert_eq!(found.id().unwrap(), id);
        assert_eq!(found.fields().unwrap().to_record(), record);
        assert!(!set.contains(Key::new(&crate::generate_id(32)).unwrap().bytes()));
        // An id that is not canonical base64 (non-zero trailing bits) is
        // kept as is, and found; its canonical neighbour is another key.
        let raw = "abcdefghijklmnopqrstuvx";
        assert_eq!(Key::new(raw).unwrap().bytes()[0], 23, "kept raw");
        set.insert(Packed::new(raw, &record).unwrap());
        assert_eq!(
            set.get(Key::new(raw).unwrap().bytes())
                .unwrap()
                .id()
                .unwrap(),
            raw
        );
        assert!(!set.contains(Key::new("abcdefghijklmnopqrstuvw").unwrap().bytes()));
    }

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
        let id = crate::generate_id(32);
        assert_eq!(
            store.save(&id, &record, None).await.unwrap(),
            SaveOutcome::Saved
        );
        assert_eq!(
            store.held_bytes(),
            HeldBytes {
                ids: id.len(),
                data: 4
            }
        );
        assert_eq!(store.load(&id).await.unwrap(), Some(record.clone()));
        let listed = store.list_by_owner(&"o".repeat(256)).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, id);
        assert_eq!(store.delete_by_owner(&"o".repeat(256)).await.unwrap(), 1);
        assert!(store.is_empty());
    }
}
