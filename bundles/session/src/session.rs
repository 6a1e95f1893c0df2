//! [`Session`]: the handler's view of the current session.
//!
//! Loading is lazy: the cookie is parsed and the store read on the first
//! call that needs the data, so a handler that never touches the session
//! costs no store I/O. Changes are recorded per key, so that when another
//! request saved the same session meanwhile, this request's changes are
//! replayed on top of the newer record instead of overwriting it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::codec::{self, SessionData};
use crate::cookie::RawCookies;
use crate::manager::SessionManager;
use crate::store::{Record, StoreError};

/// The current request's session.
///
/// Take it as a handler argument (the session layer must wrap the router).
/// Every method is `async` because the first one loads the session.
///
/// ```
/// use unchained_session::{Session, SessionError};
///
/// async fn visit(session: Session) -> Result<String, SessionError> {
///     let visits: u64 = session.get("visits").await?.unwrap_or(0);
///     session.insert("visits", visits + 1).await?;
///     Ok(format!("visit number {}", visits + 1))
/// }
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    manager: SessionManager,
    cookies: RawCookies,
    state: Mutex<State>,
}

/// What was loaded from the store.
struct Loaded {
    id: String,
    record: Record,
}

#[derive(Default)]
struct State {
    loaded: bool,
    failed: Option<String>,
    /// The stored session this request started from, if any.
    base: Option<Loaded>,
    data: SessionData,
    owner: Option<String>,
    /// Changes since loading, per key (`None` = removed), replayed on a
    /// newer record after a version conflict.
    changes: BTreeMap<String, Option<Value>>,
    cleared: bool,
    owner_changed: bool,
    dirty: bool,
    regenerate: bool,
    /// A record destroyed by this request, deleted at the end.
    destroyed: Option<String>,
    /// When the stored session was loaded: the request's "now" for expiry
    /// decisions, so the clock is read once per request.
    loaded_at: Option<DateTime<Utc>>,
}

impl State {
    /// Whether the end of the request has anything to write or delete.
    /// Checked before the (larger, boxed) write path is entered, so that a
    /// read-only request costs no more than this test.
    fn has_work(&self, config: &crate::config::SessionConfig) -> bool {
        if self.destroyed.is_some() {
            return true;
        }
        match &self.base {
            None => !self.data.is_empty(),
            Some(base) => {
                self.dirty
                    || self.regenerate
                    || self.data.is_empty()
                    || (config.refresh_each_request
                        && refresh_due(
                            &base.record,
                            config.lifetime,
                            self.loaded_at.unwrap_or_else(Utc::now),
                        ))
            }
        }
    }
}

/// A session operation failed. As a response: 503 when the store is
/// unavailable, 500 for values that cannot be (de)serialized.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store could not be reached; the log has the details.
    #[error("session store unavailable")]
    Unavailable,
    /// The value cannot be stored as session data.
    #[error("session value for {key:?} cannot be serialized: {message}")]
    Serialize {
        /// The key.
        key: String,
        /// The serializer's message.
        message: String,
    },
    /// The stored value does not have the requested type.
    #[error("session value for {key:?} has another type: {message}")]
    Deserialize {
        /// The key.
        key: String,
        /// The deserializer's message.
        message: String,
    },
}

impl From<StoreError> for SessionError {
    /// A store failure outside the request's own session (e.g. listing an
    /// owner's sessions); the manager has already logged it.
    fn from(_: StoreError) -> Self {
        SessionError::Unavailable
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        match self {
            SessionError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "session store unavailable, try again shortly",
            )
                .into_response(),
            other => {
                tracing::error!(target: "unchained_session", "{other}");
                (StatusCode::INTERNAL_SERVER_ERROR, "session error").into_response()
            }
        }
    }
}

/// The session layer is missing: the handler asked for a [`Session`] on a
/// router that the layer does not wrap.
#[derive(Debug, thiserror::Error)]
#[error(
    "no session layer: wrap the router with SessionManager::layer() or enable unchained.bundles.session"
)]
pub struct MissingSessionLayer;

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        tracing::error!(target: "unchained_session", "{self}");
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(MissingSessionLayer)
    }
}

impl Session {
    pub(crate) fn new(manager: SessionManager, cookies: RawCookies) -> Self {
        Session {
            inner: Arc::new(Inner {
                manager,
                cookies,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The value at `key`, or `None`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let state = self.loaded().await?;
        match state.data.get(key) {
            None => Ok(None),
            Some(value) => T::deserialize(value)
                .map(Some)
                .map_err(|e| SessionError::Deserialize {
                    key: key.to_owned(),
                    message: e.to_string(),
                }),
        }
    }

    /// Sets `key` to `value`. Nothing is written if the data ends up equal
    /// to what was stored.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), SessionError> {
        let value = serde_json::to_value(value).map_err(|e| SessionError::Serialize {
            key: key.to_owned(),
            message: e.to_string(),
        })?;
        let mut state = self.loaded().await?;
        // Overwriting a key that is there (the usual case) allocates no
        // new key string.
        match state.changes.get_mut(key) {
            Some(change) => *change = Some(value.clone()),
            None => {
                state.changes.insert(key.to_owned(), Some(value.clone()));
            }
        }
        match state.data.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                state.data.insert(key.to_owned(), value);
            }
        }
        state.dirty = true;
        Ok(())
    }

    /// Removes `key`; `true` if it was there.
    pub async fn remove(&self, key: &str) -> Result<bool, SessionError> {
        let mut state = self.loaded().await?;
        let had = state.data.remove(key).is_some();
        state.changes.insert(key.to_owned(), None);
        state.dirty = true;
        Ok(had)
    }

    /// Removes every key. A stored session left empty is deleted and its
    /// cookie expired.
    pub async fn clear(&self) -> Result<(), SessionError> {
        let mut state = self.loaded().await?;
        state.data.clear();
        state.changes.clear();
        state.cleared = true;
        state.dirty = true;
        Ok(())
    }

    /// Whether the session holds no data.
    pub async fn is_empty(&self) -> Result<bool, SessionError> {
        Ok(self.loaded().await?.data.is_empty())
    }

    /// The keys, sorted.
    pub async fn keys(&self) -> Result<Vec<String>, SessionError> {
        Ok(self.loaded().await?.data.keys().cloned().collect())
    }

    /// Gives the session a new id at the end of the request, keeping its
    /// data (call it at login, against session fixation). The store moves
    /// the record in one atomic step, and only once the handler has
    /// returned: a handler that fails before that keeps the old session.
    pub async fn regenerate(&self) -> Result<(), SessionError> {
        let mut state = self.loaded().await?;
        if state.base.is_some() {
            state.regenerate = true;
        }
        Ok(())
    }

    /// Ends the session: its record is deleted and the cookie expired.
    /// Data inserted afterwards starts a new session with a new id.
    pub async fn destroy(&self) -> Result<(), SessionError> {
        let mut state = self.loaded().await?;
        if let Some(base) = state.base.take() {
            state.destroyed = Some(base.id);
        }
        state.data.clear();
        state.changes.clear();
        state.owner = None;
        state.cleared = false;
        state.owner_changed = false;
        state.regenerate = false;
        state.dirty = false;
        Ok(())
    }

    /// The session's owner, e.g. the logged-in user's id.
    pub async fn owner(&self) -> Result<Option<String>, SessionError> {
        Ok(self.loaded().await?.owner.clone())
    }

    /// Tags the session with an owner (or removes the tag), so that
    /// [`SessionManager::list_owner_sessions`] and
    /// [`SessionManager::destroy_owner_sessions`] find it. The security
    /// bundle calls this at login, after [`regenerate`](Self::regenerate).
    pub async fn set_owner(&self, owner: Option<&str>) -> Result<(), SessionError> {
        let mut state = self.loaded().await?;
        let owner = owner.filter(|o| !o.is_empty()).map(str::to_owned);
        if state.owner != owner {
            state.owner = owner;
            state.owner_changed = true;
            state.dirty = true;
        }
        Ok(())
    }

    /// The id of the stored session this request uses, if any (a new
    /// session gets its id when the response is sent).
    pub async fn id(&self) -> Result<Option<String>, SessionError> {
        Ok(self.loaded().await?.base.as_ref().map(|b| b.id.clone()))
    }

    /// The manager, for operations beyond this session (listing or
    /// destroying all sessions of an owner).
    pub fn manager(&self) -> &SessionManager {
        &self.inner.manager
    }

    /// Locks the state, loading it on first use.
    async fn loaded(&self) -> Result<tokio::sync::MutexGuard<'_, State>, SessionError> {
        let mut state = self.inner.state.lock().await;
        if !state.loaded {
            state.loaded = true;
            if let Err(e) = self.load_into(&mut state).await {
                state.failed = Some(e.to_string());
            }
        }
        if state.failed.is_some() {
            return Err(SessionError::Unavailable);
        }
        Ok(state)
    }

    async fn load_into(&self, state: &mut State) -> Result<(), StoreError> {
        let manager = &self.inner.manager;
        let shared = &manager.shared;
        let Some(id) = self
            .inner
            .cookies
            .session_id(&shared.config.cookie_name, shared.signer.as_ref())
        else {
            return Ok(());
        };
        let Some(record) = manager.load(&id).await? else {
            return Ok(());
        };
        let now = Utc::now();
        state.loaded_at = Some(now);
        if let Some(absolute) = shared
            .config
            .absolute_lifetime
            .and_then(|d| chrono::Duration::from_std(d).ok())
            && record.created_at + absolute <= now
        {
            tracing::debug!(target: "unchained_session", "session past its absolute lifetime: starting a new one");
            return Ok(());
        }
        match codec::decode(shared.config.serialization_format, &record.data) {
            Ok(data) => {
                state.data = data;
                state.owner = record.owner.clone();
                state.base = Some(Loaded { id, record });
            }
            Err(e) => {
                // Unreadable data is treated like an unknown id: a fresh
                // session, never a failing request.
                tracing::warn!(target: "unchained_session", "ignoring undecodable session record: {e}");
            }
        }
        Ok(())
    }

    /// What the response needs, when that is known without waiting: the
    /// session was not touched, or only read, or its load failed. `None`
    /// when there is something to save (or the state is locked by a task
    /// the handler left running): then [`commit`](Self::commit).
    pub(crate) fn commit_now(&self) -> Option<Commit> {
        let state = self.inner.state.try_lock().ok()?;
        settled(&state, self.inner.manager.config())
    }

    /// Saves what the request changed and returns what the response needs.
    /// Called by the layer once the handler has returned.
    pub(crate) async fn commit(&self) -> Commit {
        let mut state = self.inner.state.lock().await;
        if let Some(commit) = settled(&state, self.inner.manager.config()) {
            return commit;
        }
        let mut commit = Commit {
            read: true,
            ..Commit::default()
        };
        if let Err(e) = self.write(&mut state, &mut commit).await {
            tracing::error!(target: "unchained_session", "session not saved: {e}");
            commit.failed = true;
        }
        commit
    }

    async fn write(&self, state: &mut State, commit: &mut Commit) -> Result<(), StoreError> {
        let manager = &self.inner.manager;
        let config = &manager.shared.config;
        if let Some(old) = state.destroyed.take() {
            manager.delete(&old).await?;
            commit.cookie = CookieAction::Expire;
        }
        // A stored session's expiry counts from when this request loaded
        // it; a new session's from now.
        let now = match &state.base {
            Some(_) => state.loaded_at.unwrap_or_else(Utc::now),
            None => Utc::now(),
        };
        let Some(base) = state.base.take() else {
            if !state.data.is_empty() {
                self.create(state, commit, now).await?;
            }
            return Ok(());
        };
        if state.data.is_empty() {
            // An empty session is never stored.
            manager.delete(&base.id).await?;
            commit.cookie = CookieAction::Expire;
            return Ok(());
        }
        // Serialize only when something may have changed: a read-only
        // request never pays for encoding.
        let bytes = if state.dirty {
            Some(self.encode(&state.data)?)
        } else {
            None
        };
        let changed = bytes
            .as_ref()
            .is_some_and(|b| *b != base.record.data || state.owner != base.record.owner);
        if state.regenerate || changed {
            let bytes = bytes.unwrap_or_else(|| base.record.data.clone());
            return self.save_with_retry(state, base, bytes, commit, now).await;
        }
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
                == crate::store::SaveOutcome::Saved
                && config.permanent
            {
                commit.cookie = CookieAction::Set {
                    id: base.id,
                    expires: record.expires_at,
                };
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        state: &State,
        commit: &mut Commit,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let manager = &self.inner.manager;
        let record = Record {
            data: self.encode(&state.data)?,
            version: 1,
            owner: state.owner.clone(),
            created_at: now,
            expires_at: manager.expiry(now, now),
        };
        // A taken id (a collision of 128+ random bits) just draws again.
        for _ in 0..3 {
            let id = crate::generate_id(manager.shared.config.id_length);
            if manager.save(&id, &record, None).await? == crate::store::SaveOutcome::Saved {
                commit.cookie = CookieAction::Set {
                    id,
                    expires: record.expires_at,
                };
                return Ok(());
            }
        }
        Err(StoreError::unavailable(
            manager.shared.store.name(),
            "could not find a free session id",
        ))
    }

    /// Saves (or regenerates) with a version check; on a conflict, reloads
    /// the newer record, replays this request's changes on it and tries
    /// again.
    async fn save_with_retry(
        &self,
        state: &mut State,
        mut base: Loaded,
        mut bytes: Vec<u8>,
        commit: &mut Commit,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let manager = &self.inner.manager;
        let new_id = state
            .regenerate
            .then(|| crate::generate_id(manager.shared.config.id_length));
        let lifetime = manager.shared.config.lifetime;
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
            if outcome == crate::store::SaveOutcome::Saved {
                let regenerated = new_id.is_some();
                let id = new_id.unwrap_or(base.id);
                // The browser's cookie already carries this expiry unless
                // this save moved it: a write between refreshes sends no
                // Set-Cookie (nor signs and formats one).
                let moved = record.expires_at != base.record.expires_at;
                if regenerated || (moved && manager.shared.config.permanent) {
                    commit.cookie = CookieAction::Set {
                        id,
                        expires: record.expires_at,
                    };
                }
                return Ok(());
            }
            // Someone saved first: start again from their record.
            let Some(fresh) = manager.load(&base.id).await? else {
                // The session was destroyed meanwhile (logout elsewhere):
                // it stays destroyed.
                tracing::debug!(target: "unchained_session", "session destroyed by a concurrent request");
                commit.cookie = CookieAction::Expire;
                return Ok(());
            };
            let mut data = if state.cleared {
                SessionData::new()
            } else {
                codec::decode(manager.shared.config.serialization_format, &fresh.data)
                    .map_err(|e| StoreError::corrupt(manager.shared.store.name(), e))?
            };
            for (key, change) in &state.changes {
                match change {
                    Some(value) => data.insert(key.clone(), value.clone()),
                    None => data.remove(key),
                };
            }
            if !state.owner_changed {
                state.owner = fresh.owner.clone();
            }
            bytes = self.encode(&data)?;
            state.data = data;
            base = Loaded {
                id: base.id,
                record: fresh,
            };
            if attempt > 2 {
                // Many writers at once: spread them out a little.
                let jitter = rand::random_range(0..(attempt as u64).min(20) + 1);
                tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
            }
        }
        Err(StoreError::unavailable(
            manager.shared.store.name(),
            format!("gave up saving after {MAX_ATTEMPTS} version conflicts"),
        ))
    }

    fn encode(&self, data: &SessionData) -> Result<Vec<u8>, StoreError> {
        let shared = &self.inner.manager.shared;
        codec::encode(shared.config.serialization_format, data)
            .map_err(|e| StoreError::corrupt(shared.store.name(), e))
    }
}

/// The end of a request that has nothing to write: `None` when it has.
fn settled(state: &State, config: &crate::config::SessionConfig) -> Option<Commit> {
    if !state.loaded {
        return Some(Commit::default());
    }
    let read = Commit {
        read: true,
        ..Commit::default()
    };
    if state.failed.is_some() {
        return Some(Commit {
            failed: true,
            ..read
        });
    }
    (!state.has_work(config)).then_some(read)
}

/// Attempts at a conditional save before giving up with 503.
const MAX_ATTEMPTS: u32 = 200;

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

/// What the response needs after a commit.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    /// The session was loaded: the response depends on the cookie.
    pub(crate) read: bool,
    /// The store failed: the response becomes 503.
    pub(crate) failed: bool,
    pub(crate) cookie: CookieAction,
}

#[derive(Debug, Default)]
pub(crate) enum CookieAction {
    #[default]
    Keep,
    Set {
        id: String,
        expires: DateTime<Utc>,
    },
    Expire,
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
