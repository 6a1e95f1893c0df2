//! [`Session`]: the handler's view of the current session, its extractor
//! and its errors.
//!
//! Loading is lazy: the cookie is parsed and the store read on the first
//! call that needs the data, so a handler that never touches the session
//! costs no store I/O. What the handler does is recorded in the request's
//! [`State`]; the commit engine (`commit.rs`) writes it once the handler
//! has returned.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, MutexGuard};

use crate::commit::{self, Commit, State};
use crate::cookie::RawCookies;
use crate::manager::SessionManager;
use crate::store::StoreError;

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

/// A session operation failed. As a response: 503 when the store is
/// unavailable, 500 for values that cannot be (de)serialized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
        match state.data().get(key) {
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
        self.loaded().await?.insert(key, value);
        Ok(())
    }

    /// Replaces the value at `key` with `f(old)` atomically, and returns
    /// the value stored: the read-modify-write for counters, carts and
    /// budgets that several requests change at once.
    ///
    /// The write happens now, not at the end of the request, with a
    /// version check: when another request saved the session since it was
    /// read, `f` runs again on the newer value (so keep `f` free of side
    /// effects), at most 200 times. No update is lost, and the value
    /// returned is the one that was stored, so the response can show it.
    /// The request's earlier changes are saved first; a session not yet
    /// stored is created.
    ///
    /// [`insert`](Self::insert) is cheaper (one write at the end of the
    /// request, none if nothing changed) and fine for values only one
    /// request at a time changes, such as a preference: for one key
    /// written by several requests at once, the last `insert` wins.
    ///
    /// ```
    /// use unchained_session::{Session, SessionError};
    ///
    /// async fn count(session: Session) -> Result<String, SessionError> {
    ///     let n = session.update("count", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    ///     Ok(n.to_string())
    /// }
    /// ```
    pub async fn update<T, F>(&self, key: &str, mut f: F) -> Result<T, SessionError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> T,
    {
        let manager = &self.inner.manager;
        let mut state = self.loaded().await?;
        if commit::flush(&mut state, manager).await.is_err() {
            // The manager has logged why; the response will be 503 too.
            state.fail();
            return Err(SessionError::Unavailable);
        }
        for attempt in 0..commit::MAX_ATTEMPTS {
            let old = match state.data().get(key) {
                None => None,
                Some(value) => {
                    Some(
                        T::deserialize(value).map_err(|e| SessionError::Deserialize {
                            key: key.to_owned(),
                            message: e.to_string(),
                        })?,
                    )
                }
            };
            let new = f(old);
            let value = serde_json::to_value(&new).map_err(|e| SessionError::Serialize {
                key: key.to_owned(),
                message: e.to_string(),
            })?;
            match commit::try_update(&mut state, manager, key, value).await {
                Ok(true) => return Ok(new),
                Ok(false) => commit::pause_after_conflict(attempt).await,
                Err(_) => {
                    state.fail();
                    return Err(SessionError::Unavailable);
                }
            }
        }
        tracing::error!(
            target: "unchained_session",
            "session update of {key:?} gave up after {} version conflicts",
            commit::MAX_ATTEMPTS
        );
        state.fail();
        Err(SessionError::Unavailable)
    }

    /// Removes `key`; `true` if it was there.
    pub async fn remove(&self, key: &str) -> Result<bool, SessionError> {
        Ok(self.loaded().await?.remove(key))
    }

    /// Removes every key. A stored session left empty is deleted and its
    /// cookie expired.
    pub async fn clear(&self) -> Result<(), SessionError> {
        self.loaded().await?.clear();
        Ok(())
    }

    /// Whether the session holds no data.
    pub async fn is_empty(&self) -> Result<bool, SessionError> {
        Ok(self.loaded().await?.data().is_empty())
    }

    /// The keys, sorted.
    pub async fn keys(&self) -> Result<Vec<String>, SessionError> {
        Ok(self.loaded().await?.data().keys().cloned().collect())
    }

    /// Gives the session a new id at the end of the request, keeping its
    /// data (call it at login, against session fixation). The store moves
    /// the record in one atomic step, and only once the handler has
    /// returned: a handler that fails before that keeps the old session.
    pub async fn regenerate(&self) -> Result<(), SessionError> {
        self.loaded().await?.regenerate();
        Ok(())
    }

    /// Ends the session: its record is deleted and the cookie expired.
    /// Data inserted afterwards starts a new session with a new id.
    pub async fn destroy(&self) -> Result<(), SessionError> {
        self.loaded().await?.destroy();
        Ok(())
    }

    /// The session's owner, e.g. the logged-in user's id.
    pub async fn owner(&self) -> Result<Option<String>, SessionError> {
        Ok(self.loaded().await?.owner().map(str::to_owned))
    }

    /// Tags the session with an owner (or removes the tag), so that
    /// [`SessionManager::list_owner_sessions`] and
    /// [`SessionManager::destroy_owner_sessions`] find it. The security
    /// bundle calls this at login, after [`regenerate`](Self::regenerate).
    pub async fn set_owner(&self, owner: Option<&str>) -> Result<(), SessionError> {
        let owner = owner.filter(|o| !o.is_empty()).map(str::to_owned);
        self.loaded().await?.set_owner(owner);
        Ok(())
    }

    /// The id of the stored session this request uses, if any (a new
    /// session gets its id when the response is sent).
    pub async fn id(&self) -> Result<Option<String>, SessionError> {
        Ok(self.loaded().await?.id().map(|id| id.as_str().to_owned()))
    }

    /// The manager, for operations beyond this session (listing or
    /// destroying all sessions of an owner).
    pub fn manager(&self) -> &SessionManager {
        &self.inner.manager
    }

    /// Locks the state, loading it on first use.
    async fn loaded(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        let mut state = self.inner.state.lock().await;
        if state
            .load_once(&self.inner.manager, &self.inner.cookies)
            .await
        {
            Ok(state)
        } else {
            Err(SessionError::Unavailable)
        }
    }

    /// What the response needs, when that is known without waiting: the
    /// session was not touched, or only read, or its load failed. `None`
    /// when there is something to save (or the state is locked by a task
    /// the handler left running): then [`commit`](Self::commit).
    pub(crate) fn commit_now(&self) -> Option<Commit> {
        let state = self.inner.state.try_lock().ok()?;
        commit::settled(&state, &self.inner.manager)
    }

    /// Saves what the request changed and returns what the response needs.
    /// Called by the layer once the handler has returned.
    pub(crate) async fn commit(&self) -> Commit {
        let mut state = self.inner.state.lock().await;
        commit::commit(&mut state, &self.inner.manager).await
    }
}
