//! [`Packed`]: one memory-store session in one heap buffer, and the
//! [`Key`] it is found by.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::NAME;
use crate::store::{Record, StoreError};

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
pub(super) struct Packed(Box<[u8]>);

impl Packed {
    /// Packs `record` under `id`. Fails if `id` is longer than any id this
    /// crate makes (callers check ids before) or a length overflows.
    pub(super) fn new(id: &str, record: &Record) -> Result<Self, StoreError> {
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
    pub(super) fn key(&self) -> &[u8] {
        let len = self.0.first().map_or(0, |&b| key_len(b));
        self.0.get(..len).unwrap_or(&self.0)
    }

    /// Length of the id as the caller wrote it.
    pub(super) fn id_len(&self) -> usize {
        match self.0.first() {
            Some(&b) if usize::from(b) > DECODED_TAG => base64_len(usize::from(b) - DECODED_TAG),
            Some(&b) => usize::from(b),
            None => 0,
        }
    }

    /// The id as the caller wrote it.
    pub(super) fn id(&self) -> Result<String, StoreError> {
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
    pub(super) fn view(&self) -> Option<View<'_>> {
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
    pub(super) fn fields(&self) -> Result<View<'_>, StoreError> {
        self.view().ok_or_else(corrupt)
    }

    /// Whether the record is past its expiry at `now`. An unreadable
    /// record (never made here) counts as live so no path drops it silently.
    pub(super) fn is_expired(&self, now: DateTime<Utc>) -> bool {
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

/// Hashes packed keys for the store's set with a multiply-rotate mix
/// instead of SipHash (a tenth of the instructions).
///
/// SipHash's keyed randomness protects a table whose keys an attacker
/// chooses. Here every stored key is an id this crate drew from a CSPRNG;
/// a client can only look keys up, which changes nothing in the table, so
/// the buckets stay as evenly filled as random keys make them.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct IdHash;

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// The hasher made by [`IdHash`].
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write(&n.to_le_bytes());
    }

    fn finish(&self) -> u64 {
        // The table takes its bucket from the low bits and a tag from the
        // top seven: fold the well-mixed high half down.
        self.0 ^ (self.0 >> 32)
    }
}

/// The fields of a [`Packed`] record after its key, borrowed.
#[derive(Debug)]
pub(super) struct View<'a> {
    pub(super) data: &'a [u8],
    pub(super) version: u64,
    pub(super) owner: Option<&'a str>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) expires_at: DateTime<Utc>,
}

impl View<'_> {
    pub(super) fn to_record(&self) -> Record {
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
pub(super) struct Key {
    buf: [u8; MAX_KEY],
    len: usize,
}

impl Key {
    /// `None` for ids longer than any id this crate makes: no such id can
    /// be stored.
    pub(super) fn new(id: &str) -> Option<Self> {
        let id = id.as_bytes();
        if id.len() > MAX_RAW_ID {
            return None;
        }
        let mut buf = [0u8; MAX_KEY];
        let decoded = buf.get_mut(1..)?;
        // Keep the decoded form only if encoding it gives the id back, so
        // each id has exactly one key. The engine guarantees that without
        // a second pass: it refuses padding and non-zero trailing bits, and
        // the length check refuses anything else that would not round-trip.
        if let Ok(n) = URL_SAFE_NO_PAD.decode_slice(id, decoded)
            && n > 0
            && base64_len(n) == id.len()
        {
            buf[0] = u8::try_from(DECODED_TAG + n).ok()?;
            return Some(Key { buf, len: 1 + n });
        }
        buf.get_mut(1..=id.len())?.copy_from_slice(id);
        buf[0] = u8::try_from(id.len()).ok()?;
        Some(Key {
            buf,
            len: 1 + id.len(),
        })
    }

    pub(super) fn bytes(&self) -> &[u8] {
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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
}
