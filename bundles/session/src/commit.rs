//! The commit engine: one request's session state, how it is loaded, and
//! what the end of the request writes.
//!
//! The handler API ([`Session`](crate::Session)) only records what the
//! handler did, in a [`State`]; this module turns that into store
//! operations through the manager once the handler has returned. Changes
//! are recorded per key, so that when another request saved the same
//! session meanwhile, this request's changes are replayed on top of the
//! newer record instead of overwriting it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::codec::SessionData;
use crate::cookie::{CookieAction, RawCookies};
use crate::id::SessionId;
use crate::manager::SessionManager;
use crate::store::{Record, SaveOutcome, StoreError};

const LOG: &str = "unchained_session";

/// Attempts at a conditional save before giving up with 503.
pub(crate) const MAX_ATTEMPTS: u32 = 200;

/// What the end of the request does, as the handler left it.
#[derive(Debug, Default)]
enum Ending {
    /// The session was never loaded: the response is left as it is.
    #[default]
    Untouched,
    /// Loading failed: every call answers 503, and so does the response.
    LoadFailed,
    /// Loaded and at most read: nothing to write beyond a due refresh
    /// (and, for a stored session left empty, its deletion).
    Read,
    /// The data or the owner changed.
    Changed,
    /// The stored session moves to a new id (`changed`: with changes
    /// made before or after [`Session::regenerate`](crate::Session::regenerate)).
    Regenerate {
        /// The data or the owner changed too.
        changed: bool,
    },
    /// The stored session with this id is deleted; data inserted after
    /// [`Session::destroy`](crate::Session::destroy) starts a new session.
    Destroyed(SessionId),
}

/// The stored session a request started from.
struct Loaded {
    id: SessionId,
    record: Record,
    /// When it was loaded: the request's "now" for expiry decisions, so
    /// the clock is read once per request.
    at: DateTime<Utc>,
}

/// This request's changes, replayed on a newer record after a version
/// conflict.
#[derive(Default)]
struct ChangeLog {
    /// Per key, the new value (`None` = removed).
    keys: BTreeMap<String, Option<Value>>,
    /// Every key was removed first: replay starts from empty data.
    cleared: bool,
    /// The owner was set: replay keeps this request's owner rather than
    /// the newer record's.
    owner_changed: bool,
}

/// One request's session: what was loaded, the data as the handler sees
/// it, and what the end of the request does.
#[derive(Default)]
pub(crate) struct State {
    ending: Ending,
    /// The stored session this request started from, if any.
    base: Option<Loaded>,
    data: SessionData,
    owner: Option<String>,
    changes: ChangeLog,
    /// The cookie an [`update`](crate::Session::update) during the request
    /// already decided on (the session it wrote may be new, or moved): the
    /// end of the request sends it unless it decides otherwise.
    pending_cookie: Option<CookieAction>,
}

impl State {
    /// Loads the session on first use; afterwards `false` if that load
    /// failed (the caller answers 503).
    pub(crate) async fn load_once(
        &mut self,
        manager: &SessionManager,
        cookies: &RawCookies,
    ) -> bool {
        if let Ending::Untouched = self.ending {
            // Marked before the await: a load abandoned halfway leaves an
            // empty session, never a second load.
            self.ending = Ending::Read;
            if self.load(manager, cookies).await.is_err() {
                // The manager has logged why.
                self.ending = Ending::LoadFailed;
            }
        }
        !matches!(self.ending, Ending::LoadFailed)
    }

    async fn load(
        &mut self,
        manager: &SessionManager,
        cookies: &RawCookies,
    ) -> Result<(), StoreError> {
        let Some(id) = manager.session_id_from(cookies) else {
            return Ok(());
        };
        let Some(record) = manager.load(&id).await? else {
            return Ok(());
        };
        let now = Utc::now();
        if manager.past_absolute_lifetime(&record, now) {
            tracing::debug!(target: LOG, "session past its absolute lifetime: starting a new one");
            return Ok(());
        }
        match manager.decode(&record.data) {
            Ok(data) => {
                self.data = data;
                self.owner = record.owner.clone();
                self.base = Some(Loaded {
                    id,
                    record,
                    at: now,
                });
            }
            Err(e) => {
                // Unreadable data is treated like an unknown id: a fresh
                // session, never a failing request.
                tracing::warn!(target: LOG, "ignoring undecodable session record: {e}");
            }
        }
        Ok(())
    }

    /// The data.
    pub(crate) fn data(&self) -> &SessionData {
        &self.data
    }

    /// The owner.
    pub(crate) fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// The id of the stored session this request uses, if any.
    pub(crate) fn id(&self) -> Option<&SessionId> {
        self.base.as_ref().map(|b| &b.id)
    }

    /// Sets `key` to `value`.
    pub(crate) fn insert(&mut self, key: &str, value: Value) {
        // Overwriting a key that is there (the usual case) allocates no
        // new key string.
        match self.changes.keys.get_mut(key) {
            Some(change) => *change = Some(value.clone()),
            None => {
                self.changes
                    .keys
                    .insert(key.to_owned(), Some(value.clone()));
            }
        }
        match self.data.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                self.data.insert(key.to_owned(), value);
            }
        }
        self.changed();
    }

    /// Removes `key`; `true` if it was there.
    pub(crate) fn remove(&mut self, key: &str) -> bool {
        let had = self.data.remove(key).is_some();
        self.changes.keys.insert(key.to_owned(), None);
        self.changed();
        had
    }

    /// Removes every key.
    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.changes.keys.clear();
        self.changes.cleared = true;
        self.changed();
    }

    /// Sets (or removes) the owner; nothing changes if it is the same.
    pub(crate) fn set_owner(&mut self, owner: Option<String>) {
        if self.owner != owner {
            self.owner = owner;
            self.changes.owner_changed = true;
            self.changed();
        }
    }

    /// Moves a stored session to a new id at the end; a session not
    /// stored yet gets a new id anyway.
    pub(crate) fn regenerate(&mut self) {
        if self.base.is_none() {
            return;
        }
        self.ending = match self.ending {
            Ending::Changed => Ending::Regenerate { changed: true },
            Ending::Regenerate { changed } => Ending::Regenerate { changed },
            _ => Ending::Regenerate { changed: false },
        };
    }

    /// Ends the stored session (if any) and starts over empty.
    pub(crate) fn destroy(&mut self) {
        self.ending = match (self.base.take(), std::mem::take(&mut self.ending)) {
            (Some(base), _) => Ending::Destroyed(base.id),
            // Destroyed twice: the first session is still the one to delete.
            (None, Ending::Destroyed(id)) => Ending::Destroyed(id),
            (None, _) => Ending::Read,
        };
        self.data.clear();
        self.changes = ChangeLog::default();
        self.owner = None;
    }

    /// Marks the store as failed for this request: every later call, and
    /// the response, answer 503.
    pub(crate) fn fail(&mut self) {
        self.ending = Ending::LoadFailed;
    }

    /// Makes `stored` (what was just written or read back) the request's
    /// starting point: nothing is left to write.
    fn rebase(&mut self, stored: Option<Loaded>) {
        if let Some(loaded) = &stored {
            self.owner = loaded.record.owner.clone();
        }
        self.base = stored;
        self.ending = Ending::Read;
        self.changes = ChangeLog::default();
    }

    /// Records that the data or the owner changed.
    fn changed(&mut self) {
        self.ending = match std::mem::take(&mut self.ending) {
            Ending::Read | Ending::Changed => Ending::Changed,
            Ending::Regenerate { .. } => Ending::Regenerate { changed: true },
            // A destroyed session stays destroyed; what changes now is the
            // new session, created if it ends up with data.
            other @ (Ending::Destroyed(_) | Ending::Untouched | Ending::LoadFailed) => other,
        };
    }

    /// Whether the data or the owner changed since loading.
    fn dirty(&self) -> bool {
        matches!(
            self.ending,
            Ending::Changed | Ending::Regenerate { changed: true }
        )
    }

    /// Whether the end of the request has anything to write or delete.
    /// Checked before the (larger, boxed) write path is entered, so that a
    /// read-only request costs no more than this test.
    fn has_work(&self, manager: &SessionManager) -> bool {
        if let Ending::Destroyed(_) = self.ending {
            return true;
        }
        match &self.base {
            None => !self.data.is_empty(),
            Some(base) => {
                !matches!(self.ending, Ending::Read)
                    || self.data.is_empty()
                    || (manager.config().refresh_each_request
                        && refresh_due(&base.record, manager.config().lifetime, base.at))
            }
        }
    }
}

/// What the response needs after a commit.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    /// The session was loaded: the response depends on the cookie.
    pub(crate) read: bool,
    /// The store failed: the response becomes 503.
    pub(crate) failed: bool,
    /// What to do with the cookie.
    pub(crate) cookie: CookieAction,
}

/// The end of a request that has nothing to write: `None` when it has.
pub(crate) fn settled(state: &State, manager: &SessionManager) -> Option<Commit> {
    match state.ending {
        Ending::Untouched => Some(Commit::default()),
        Ending::LoadFailed => Some(Commit {
            read: true,
            failed: true,
            ..Commit::default()
        }),
        // A cookie decided by an update is sent through `commit` (it has to
        // be taken out of the state).
        _ if state.pending_cookie.is_some() => None,
        _ => (!state.has_work(manager)).then_some(Commit {
            read: true,
            ..Commit::default()
        }),
    }
}

/// Saves what the request changed and returns what the response needs.
/// Called by the layer once the handler has returned.
pub(crate) async fn commit(state: &mut State, manager: &SessionManager) -> Commit {
    if let Some(commit) = settled(state, manager) {
        return commit;
    }
    let mut commit = Commit {
        read: true,
        cookie: state.pending_cookie.take().unwrap_or_default(),
        ..Commit::default()
    };
    if !state.has_work(manager) {
        return commit;
    }
    if let Err(e) = write(state, manager, &mut commit).await {
        tracing::error!(target: LOG, "session not saved: {e}");
        commit.failed = true;
    }
    commit
}

/// Writes what the request changed so far, now rather than at the end,
/// and makes what was stored the request's new starting point: the
/// first step of an [`update`](crate::Session::update).
pub(crate) async fn flush(state: &mut State, manager: &SessionManager) -> Result<(), StoreError> {
    if !state.has_work(manager) {
        return Ok(());
    }
    let mut commit = Commit {
        cookie: state.pending_cookie.take().unwrap_or_default(),
        ..Commit::default()
    };
    let stored = write(state, manager, &mut commit).await?;
    state.rebase(stored);
    if !matches!(commit.cookie, CookieAction::Keep) {
        state.pending_cookie = Some(commit.cookie);
    }
    Ok(())
}

/// One attempt of an [`update`](crate::Session::update): stores the data
/// with `key` set to `value`, if the stored version is still the one this
/// request has. `Ok(false)`: another request saved first; the state now
/// holds the newer record, for the caller to compute the value again.
pub(crate) async fn try_update(
    state: &mut State,
    manager: &SessionManager,
    key: &str,
    value: Value,
) -> Result<bool, StoreError> {
    let mut data = state.data.clone();
    data.insert(key.to_owned(), value);
    let Some(base) = &state.base else {
        let now = Utc::now();
        let (id, record) = create_record(manager, data.clone(), state.owner.clone(), now).await?;
        state.data = data;
        state.pending_cookie = Some(CookieAction::Set {
            id: id.clone(),
            expires: record.expires_at,
        });
        state.rebase(Some(Loaded {
            id,
            record,
            at: now,
        }));
        return Ok(true);
    };
    let now = base.at;
    let lifetime = manager.config().lifetime;
    let expires_at = if refresh_due(&base.record, lifetime, now) {
        manager.expiry(base.record.created_at, now)
    } else {
        base.record.expires_at
    };
    let record = Record {
        data: manager.encode(&data)?,
        version: base.record.version + 1,
        owner: state.owner.clone(),
        created_at: base.record.created_at,
        expires_at,
    };
    let id = base.id.clone();
    if manager
        .save(&id, &record, Some(base.record.version))
        .await?
        == SaveOutcome::Saved
    {
        if record.expires_at != base.record.expires_at && manager.config().permanent {
            state.pending_cookie = Some(CookieAction::Set {
                id: id.clone(),
                expires: record.expires_at,
            });
        }
        state.data = data;
        state.rebase(Some(Loaded {
            id,
            record,
            at: now,
        }));
        return Ok(true);
    }
    // Another request saved first: start again from its record, or from
    // nothing if it ended the session.
    let fresh = manager.load(&id).await?;
    let fresh = match fresh {
        Some(record) => {
            state.data = manager
                .decode(&record.data)
                .map_err(|e| StoreError::corrupt(manager.store().name(), e))?;
            state.owner = record.owner.clone();
            Some(Loaded {
                id,
                record,
                at: now,
            })
        }
        None => {
            state.data.clear();
            state.owner = None;
            state.pending_cookie = Some(CookieAction::Expire);
            None
        }
    };
    state.rebase(fresh);
    Ok(false)
}

/// Writes the request's changes; returns the stored session as it now is
/// (`None` when none is stored).
async fn write(
    state: &mut State,
    manager: &SessionManager,
    commit: &mut Commit,
) -> Result<Option<Loaded>, StoreError> {
    let dirty = state.dirty();
    let regenerate = matches!(state.ending, Ending::Regenerate { .. });
    if let Ending::Destroyed(old) = std::mem::replace(&mut state.ending, Ending::Read) {
        manager.delete(&old).await?;
        commit.cookie = CookieAction::Expire;
    }
    let Some(base) = state.base.take() else {
        if state.data.is_empty() {
            return Ok(None);
        }
        // A new session's expiry counts from now.
        let now = Utc::now();
        let (id, record) =
            create_record(manager, state.data.clone(), state.owner.clone(), now).await?;
        commit.cookie = CookieAction::Set {
            id: id.clone(),
            expires: record.expires_at,
        };
        return Ok(Some(Loaded {
            id,
            record,
            at: now,
        }));
    };
    // A stored session's expiry counts from when this request loaded it.
    let now = base.at;
    if state.data.is_empty() {
        // An empty session is never stored.
        manager.delete(&base.id).await?;
        commit.cookie = CookieAction::Expire;
        return Ok(None);
    }
    // Serialize only when something may have changed: a read-only
    // request never pays for encoding.
    let bytes = if dirty {
        Some(manager.encode(&state.data)?)
    } else {
        None
    };
    let changed = bytes
        .as_ref()
        .is_some_and(|b| *b != base.record.data || state.owner != base.record.owner);
    if regenerate || changed {
        let bytes = bytes.unwrap_or_else(|| base.record.data.clone());
        let new_id = regenerate.then(|| manager.new_id());
        return save_with_retry(state, manager, base, bytes, new_id, commit, now).await;
    }
    let config = manager.config();
    if config.refresh_each_request && refresh_due(&base.record, config.lifetime, now) {
        let record = Record {
            data: base.record.data.clone(),
            version: base.record.version + 1,
            owner: base.record.owner.clone(),
            created_at: base.record.created_at,
            expires_at: manager.expiry(base.record.created_at, now),
        };
        // A conflict means another request wrote (and so refreshed) it.
        if manager
            .save(&base.id, &record, Some(base.record.version))
            .await?
            == SaveOutcome::Saved
        {
            if config.permanent {
                commit.cookie = CookieAction::Set {
                    id: base.id.clone(),
                    expires: record.expires_at,
                };
            }
            return Ok(Some(Loaded { record, ..base }));
        }
    }
    Ok(Some(base))
}

/// Stores a new session holding `data` under a fresh id.
async fn create_record(
    manager: &SessionManager,
    data: SessionData,
    owner: Option<String>,
    now: DateTime<Utc>,
) -> Result<(SessionId, Record), StoreError> {
    let record = Record {
        data: manager.encode(&data)?,
        version: 1,
        owner,
        created_at: now,
        expires_at: manager.expiry(now, now),
    };
    // A taken id (a collision of 128+ random bits) just draws again.
    for _ in 0..3 {
        let id = manager.new_id();
        if manager.save(&id, &record, None).await? == SaveOutcome::Saved {
            return Ok((id, record));
        }
    }
    Err(StoreError::unavailable(
        manager.store().name(),
        "could not find a free session id",
    ))
}

/// Saves (or, with `new_id`, regenerates) with a version check; on a
/// conflict, reloads the newer record, replays this request's changes on
/// it and tries again.
async fn save_with_retry(
    state: &mut State,
    manager: &SessionManager,
    mut base: Loaded,
    mut bytes: Vec<u8>,
    new_id: Option<SessionId>,
    commit: &mut Commit,
    now: DateTime<Utc>,
) -> Result<Option<Loaded>, StoreError> {
    let lifetime = manager.config().lifetime;
    for attempt in 0..MAX_ATTEMPTS {
        // The expiry moves by the same throttled rule as a read-only
        // refresh: a session written often keeps its expiry until a
        // tenth of the lifetime has passed. The stored row then changes
        // only in data and version, which PostgreSQL can update in place
        // (no index touched) and every store writes with fewer bytes.
        let expires_at = if new_id.is_some() || refresh_due(&base.record, lifetime, now) {
            manager.expiry(base.record.created_at, now)
        } else {
            base.record.expires_at
        };
        let record = Record {
            data: bytes,
            version: base.record.version + 1,
            owner: state.owner.clone(),
            created_at: base.record.created_at,
            expires_at,
        };
        let outcome = match &new_id {
            Some(new_id) => {
                manager
                    .rename(&base.id, new_id, &record, base.record.version)
                    .await?
            }
            None => {
                manager
                    .save(&base.id, &record, Some(base.record.version))
                    .await?
            }
        };
        if outcome == SaveOutcome::Saved {
            let regenerated = new_id.is_some();
            let id = new_id.unwrap_or(base.id);
            // The browser's cookie already carries this expiry unless
            // this save moved it: a write between refreshes sends no
            // Set-Cookie (nor signs and formats one).
            let moved = record.expires_at != base.record.expires_at;
            if regenerated || (moved && manager.config().permanent) {
                commit.cookie = CookieAction::Set {
                    id: id.clone(),
                    expires: record.expires_at,
                };
            }
            return Ok(Some(Loaded {
                id,
                record,
                at: now,
            }));
        }
        // Someone saved first: start again from their record.
        let Some(fresh) = manager.load(&base.id).await? else {
            // The session was destroyed meanwhile (logout elsewhere):
            // it stays destroyed.
            tracing::debug!(target: LOG, "session destroyed by a concurrent request");
            commit.cookie = CookieAction::Expire;
            state.data.clear();
            return Ok(None);
        };
        let mut data = if state.changes.cleared {
            SessionData::new()
        } else {
            manager
                .decode(&fresh.data)
                .map_err(|e| StoreError::corrupt(manager.store().name(), e))?
        };
        for (key, change) in &state.changes.keys {
            match change {
                Some(value) => data.insert(key.clone(), value.clone()),
                None => data.remove(key),
            };
        }
        if !state.changes.owner_changed {
            state.owner = fresh.owner.clone();
        }
        bytes = manager.encode(&data)?;
        state.data = data;
        base = Loaded {
            id: base.id,
            record: fresh,
            at: base.at,
        };
        pause_after_conflict(attempt).await;
    }
    Err(StoreError::unavailable(
        manager.store().name(),
        format!("gave up saving after {MAX_ATTEMPTS} version conflicts"),
    ))
}

/// After the `attempt`th lost version race (from 0): the first few retry
/// at once, later ones wait a random few milliseconds, longer as the races
/// go on, so that many writers of one session spread out instead of
/// colliding again.
pub(crate) async fn pause_after_conflict(attempt: u32) {
    if attempt > 2 {
        let jitter = rand::random_range(0..u64::from(attempt).min(20) + 1);
        tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
    }
}

/// Whether a read-only request should push the expiry forward: once at
/// least 1/[`REFRESH_SHARE`](crate::config::REFRESH_SHARE) of the idle
/// lifetime has passed since the last write.
pub(crate) fn refresh_due(
    record: &Record,
    lifetime: std::time::Duration,
    now: DateTime<Utc>,
) -> bool {
    let Ok(lifetime) = chrono::Duration::from_std(lifetime) else {
        return false;
    };
    let last_write = record.expires_at - lifetime;
    now - last_write >= lifetime / crate::config::REFRESH_SHARE as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_is_throttled_to_a_tenth_of_the_lifetime() {
        let lifetime = std::time::Duration::from_secs(1000);
        let now = Utc::now();
        let fresh = Record {
            data: vec![],
            version: 1,
            owner: None,
            created_at: now,
            expires_at: now + chrono::Duration::seconds(1000),
        };
        assert!(!refresh_due(
            &fresh,
            lifetime,
            now + chrono::Duration::seconds(99)
        ));
        assert!(refresh_due(
            &fresh,
            lifetime,
            now + chrono::Duration::seconds(100)
        ));
    }
}
