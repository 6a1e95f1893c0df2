//! [`FilesystemStore`]: one file per session.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Record, SaveOutcome, SessionInfo, SessionStore, StoreError};
use crate::id::SessionId;

const NAME: &str = "filesystem";
const MAGIC: &[u8; 4] = b"UNS1";
const NO_OWNER: u32 = u32::MAX;
/// Prefix of temporary files; never a valid session id (ids have no dot).
const TMP_PREFIX: &str = ".tmp-";
/// The file every writer locks; never a valid session id either.
const LOCK_FILE: &str = ".lock";

/// Sessions as files in `SESSION_FILE_DIR`, named by session id, created
/// with `SESSION_FILE_MODE` (0600 by default).
///
/// Writes go to a temporary file that is renamed over the record, so a
/// reader sees the old record or the new one, never half of one. Version
/// checks are serialized by a lock inside this process and, across
/// processes sharing the folder, by an exclusive `flock` on the folder's
/// `.lock` file, so compare-and-swap (and `Session::update`) holds for
/// several app processes on one machine. Listing by owner and cleanup read
/// every file.
#[derive(Debug, Clone)]
pub struct FilesystemStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    mode: u32,
    write_lock: tokio::sync::Mutex<()>,
}

impl FilesystemStore {
    /// A store in `dir` (created on first write, mode 0700) whose files get
    /// permission bits `mode`.
    pub fn new(dir: impl Into<PathBuf>, mode: u32) -> Self {
        FilesystemStore {
            inner: Arc::new(Inner {
                dir: dir.into(),
                mode,
                write_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The folder holding the files.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| StoreError::unavailable(NAME, e))?
            .map_err(|e| StoreError::unavailable(NAME, e))
    }
}

impl Inner {
    /// Runs `f` holding the folder's exclusive lock: the one writer, among
    /// every process sharing the folder, that checks a version and writes.
    fn exclusive<T>(&self, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(self.dir.join(LOCK_FILE))
        };
        let file = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&self.dir)?;
                open()?
            }
            other => other?,
        };
        // Released when `file` is closed, even if `f` panics.
        file.lock()?;
        f()
    }

    /// The file of session `id`. The id's type guarantees it is a plain
    /// name (URL-safe base64): it cannot climb out of the folder.
    fn path(&self, id: &SessionId) -> PathBuf {
        self.dir.join(id.as_str())
    }

    /// The record of `id`; a corrupt file reads as no record (it can never
    /// load, and cleanup removes it) rather than failing every request.
    fn read(&self, id: &SessionId) -> io::Result<Option<Record>> {
        match self.read_raw(id) {
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                tracing::warn!(target: "unchained_session::store", id = id.as_str(), "ignoring corrupt session file: {e}");
                Ok(None)
            }
            other => other,
        }
    }

    fn read_raw(&self, id: &SessionId) -> io::Result<Option<Record>> {
        match fs::read(self.path(id)) {
            Ok(bytes) => decode(&bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn read_live(&self, id: &SessionId) -> io::Result<Option<Record>> {
        let now = Utc::now();
        Ok(self.read(id)?.filter(|r| !r.is_expired(now)))
    }

    /// Writes `record` to a temporary file and renames it over `id`.
    fn write(&self, id: &SessionId, record: &Record) -> io::Result<()> {
        let tmp = self
            .dir
            .join(format!("{TMP_PREFIX}{}", crate::generate_id(16)));
        let result = self
            .write_tmp(&tmp, record)
            .and_then(|()| fs::rename(&tmp, self.path(id)));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn write_tmp(&self, tmp: &Path, record: &Record) -> io::Result<()> {
        let open = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(self.mode)
                .open(tmp)
        };
        let mut file = match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&self.dir)?;
                open()?
            }
            other => other?,
        };
        file.write_all(&encode(record))?;
        // Durable before it becomes visible: a crash leaves the old record.
        file.sync_data()
    }

    /// The sessions in the folder: every file named like a session id
    /// (temporary files and strangers are skipped).
    fn ids(&self) -> io::Result<Vec<SessionId>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            if let Some(id) = name.to_str().and_then(SessionId::parse) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn remove(&self, id: &SessionId) -> io::Result<bool> {
        match fs::remove_file(self.path(id)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn millis(t: DateTime<Utc>) -> [u8; 8] {
    t.timestamp_millis().to_be_bytes()
}

fn encode(record: &Record) -> Vec<u8> {
    let owner = record.owner.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(32 + owner.len() + record.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&record.version.to_be_bytes());
    out.extend_from_slice(&millis(record.created_at));
    out.extend_from_slice(&millis(record.expires_at));
    match &record.owner {
        Some(owner) => {
            out.extend_from_slice(&(owner.len() as u32).to_be_bytes());
            out.extend_from_slice(owner.as_bytes());
        }
        None => out.extend_from_slice(&NO_OWNER.to_be_bytes()),
    }
    out.extend_from_slice(&record.data);
    out
}

fn decode(bytes: &[u8]) -> io::Result<Record> {
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("corrupt session file: {what}"),
        )
    };
    let take = |at: usize, n: usize| bytes.get(at..at + n).ok_or_else(|| bad("truncated"));
    if take(0, 4)? != MAGIC {
        return Err(bad("unknown format"));
    }
    let u64_at = |at| take(at, 8).map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default()));
    let time_at = |at| -> io::Result<DateTime<Utc>> {
        let ms = u64_at(at)? as i64;
        DateTime::from_timestamp_millis(ms).ok_or_else(|| bad("timestamp out of range"))
    };
    let version = u64_at(4)?;
    let created_at = time_at(12)?;
    let expires_at = time_at(20)?;
    let owner_len = u32::from_be_bytes(take(28, 4)?.try_into().unwrap_or_default());
    let (owner, data_at) = if owner_len == NO_OWNER {
        (None, 32)
    } else {
        let raw = take(32, owner_len as usize)?;
        let owner = String::from_utf8(raw.to_vec()).map_err(|_| bad("owner is not UTF-8"))?;
        (Some(owner), 32 + owner_len as usize)
    };
    Ok(Record {
        data: bytes[data_at..].to_vec(),
        version,
        owner,
        created_at,
        expires_at,
    })
}

fn version_matches(current: Option<&Record>, expected: Option<u64>) -> bool {
    match (current, expected) {
        (None, None) => true,
        (Some(r), Some(v)) => r.version == v,
        _ => false,
    }
}

#[async_trait]
impl SessionStore for FilesystemStore {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let id = id.clone();
        self.blocking(move |inner| inner.read_live(&id)).await
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        let _guard = self.inner.write_lock.lock().await;
        let (id, record) = (id.clone(), record.clone());
        self.blocking(move |inner| {
            inner.exclusive(|| {
                if !version_matches(inner.read_live(&id)?.as_ref(), expected) {
                    return Ok(SaveOutcome::Conflict);
                }
                inner.write(&id, &record)?;
                Ok(SaveOutcome::Saved)
            })
        })
        .await
    }

    async fn rename(
        &self,
        old: &SessionId,
        new: &SessionId,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, StoreError> {
        let _guard = self.inner.write_lock.lock().await;
        let (old, new, record) = (old.clone(), new.clone(), record.clone());
        self.blocking(move |inner| {
            inner.exclusive(|| {
                if !version_matches(inner.read_live(&old)?.as_ref(), Some(expected))
                    || inner.path(&new).exists()
                {
                    return Ok(SaveOutcome::Conflict);
                }
                // rename(2) moves the record in one step: the old id stops
                // working exactly when the new one starts. The new content then
                // replaces it atomically too.
                fs::rename(inner.path(&old), inner.path(&new))?;
                inner.write(&new, &record)?;
                Ok(SaveOutcome::Saved)
            })
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let _guard = self.inner.write_lock.lock().await;
        let id = id.clone();
        self.blocking(move |inner| inner.exclusive(|| inner.remove(&id)))
            .await
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |inner| {
            let mut found = Vec::new();
            for id in inner.ids()? {
                // A file that fails to decode or vanished meanwhile is not
                // this owner's session.
                if let Ok(Some(r)) = inner.read_live(&id)
                    && r.owner.as_deref() == Some(owner.as_str())
                {
                    found.push(SessionInfo {
                        id: id.into_string(),
                        owner: r.owner,
                        created_at: r.created_at,
                        expires_at: r.expires_at,
                    });
                }
            }
            Ok(found)
        })
        .await
    }

    async fn delete_by_owner(&self, owner: &str) -> Result<u64, StoreError> {
        let _guard = self.inner.write_lock.lock().await;
        let owner = owner.to_owned();
        self.blocking(move |inner| {
            inner.exclusive(|| {
                let mut count = 0;
                for id in inner.ids()? {
                    if let Ok(Some(r)) = inner.read(&id)
                        && r.owner.as_deref() == Some(owner.as_str())
                        && inner.remove(&id)?
                    {
                        count += 1;
                    }
                }
                Ok(count)
            })
        })
        .await
    }

    async fn cleanup_expired(&self, now: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        let _guard = self.inner.write_lock.lock().await;
        self.blocking(move |inner| {
            inner.exclusive(|| {
                let mut count = 0;
                for id in inner.ids()? {
                    if count >= limit {
                        break;
                    }
                    // Corrupt files are removed too: they can never load.
                    let expired = match inner.read_raw(&id) {
                        Ok(Some(r)) => r.is_expired(now),
                        Ok(None) => false,
                        Err(e) if e.kind() == io::ErrorKind::InvalidData => true,
                        Err(e) => return Err(e),
                    };
                    if expired && inner.remove(&id)? {
                        count += 1;
                    }
                }
                Ok(count)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_format_round_trips() {
        let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
        for owner in [None, Some("user-7".to_owned())] {
            let record = Record {
                data: vec![1, 2, 3],
                version: 9,
                owner,
                created_at: now,
                expires_at: now,
            };
            assert_eq!(decode(&encode(&record)).unwrap(), record);
        }
        assert!(decode(b"UNS1\0").is_err());
        assert!(decode(b"nope").is_err());
    }
}
