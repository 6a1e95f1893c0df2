//! [`SessionManager`]: the configured store, cookie rules and counters,
//! shared by the layer, the extractor, the CLI and other bundles.
//!
//! The request path calls into the manager and never the other way: the
//! layer and the commit engine ask it for the session id in the cookies,
//! the `Set-Cookie` to send, and every store operation (counted and
//! logged here), so the config, signer and store stay private to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderValue;

use crate::codec::{self, SessionData};
use crate::config::{ConfigError, SessionConfig};
use crate::cookie::{self, CookieAction, RawCookies};
use crate::id::SessionId;
use crate::signer::CookieSigner;
use crate::store::{
    Record, SaveOutcome, SessionInfo, SessionStore, StatsSnapshot, StoreError, StoreStats,
};

const LOG: &str = "unchained_session::store";

/// The longest pause between two cleanup batches (see
/// [`SessionManager::cleanup`]).
pub const CLEANUP_MAX_PAUSE: Duration = Duration::from_secs(1);

/// The session machinery of one app: config, store, signer and counters.
/// Cheap to clone; every clone shares the same store and counters.
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, routing::get};
/// use unchained_session::{Session, SessionManager, config::SessionConfig, store::MemoryStore};
///
/// let manager = SessionManager::new(SessionConfig::default(), Arc::new(MemoryStore::new()), None).unwrap();
/// let app: Router = Router::new()
///     .route("/", get(|session: Session| async move {
///         let n: i64 = session.get("n").await?.unwrap_or(0);
///         session.insert("n", n + 1).await?;
///         Ok::<_, unchained_session::SessionError>(format!("{}", n + 1))
///     }))
///     .layer(manager.layer());
/// ```
#[derive(Clone)]
pub struct SessionManager {
    shared: Arc<Shared>,
}

// Aligned so that the `Arc`'s reference counts, which every request
// writes when it clones the manager, sit on their own cache line: the
// config and store handle that every request reads stay cached on every
// core instead of moving with the counts.
#[repr(align(128))]
struct Shared {
    config: SessionConfig,
    store: Arc<dyn SessionStore>,
    signer: Option<CookieSigner>,
    stats: StoreStats,
    requests: AtomicU64,
    cleaning: AtomicBool,
}

impl std::fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("store", &self.shared.store.name())
            .field("signed", &self.shared.signer.is_some())
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager over `store`. `signer` is required when
    /// `config.use_signer` is on; the error says what is wrong.
    pub fn new(
        config: SessionConfig,
        store: Arc<dyn SessionStore>,
        signer: Option<CookieSigner>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if config.use_signer && signer.is_none() {
            return Err(ConfigError::MissingSigner);
        }
        // A signer is used only when SESSION_USE_SIGNER asks for it.
        let signer = if config.use_signer { signer } else { None };
        Ok(SessionManager {
            shared: Arc::new(Shared {
                config,
                store,
                signer,
                stats: StoreStats::default(),
                requests: AtomicU64::new(0),
                cleaning: AtomicBool::new(false),
            }),
        })
    }

    /// The config in force.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.shared.store
    }

    /// Store operations made through this manager so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Every live session of `owner` (see [`Session::set_owner`](crate::Session::set_owner)).
    pub async fn list_owner_sessions(&self, owner: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.shared.stats.read();
        let result = self.shared.store.list_by_owner(owner).await;
        self.observe("list_by_owner", result)
    }

    /// Destroys every session of `owner` (e.g. "log out everywhere", or
    /// after a password change); returns how many. Their cookies are dead
    /// from then on.
    pub async fn destroy_owner_sessions(&self, owner: &str) -> Result<u64, StoreError> {
        self.shared.stats.delete();
        let result = self.shared.store.delete_by_owner(owner).await;
        self.observe("delete_by_owner", result)
    }

    /// Destroys every session of `owner` except the one with id `keep`
    /// (e.g. "log out my other devices", or after a password change keep
    /// the current session: pass [`Session::id`](crate::Session::id)).
    /// Returns how many were destroyed. It lists, then deletes one by one:
    /// a session the owner starts meanwhile may survive.
    pub async fn destroy_owner_sessions_except(
        &self,
        owner: &str,
        keep: &str,
    ) -> Result<u64, StoreError> {
        let mut count = 0;
        for session in self.list_owner_sessions(owner).await? {
            if session.id != keep && self.destroy_session(&session.id).await? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Destroys one session by id (e.g. from a list of an owner's sessions).
    /// An id this crate would never make names no session: `Ok(false)`.
    pub async fn destroy_session(&self, id: &str) -> Result<bool, StoreError> {
        match SessionId::parse(id) {
            Some(id) => self.delete(&id).await,
            None => {
                // Counted and logged like the delete it replaces, which
                // every store answered with "nothing there".
                self.shared.stats.delete();
                self.observe("delete", Ok(false))
            }
        }
    }

    /// Deletes expired records in batches of `batch_size` until none is
    /// left; `progress` is called after each batch with the running total.
    /// Returns the total.
    ///
    /// Between two batches the cleanup pauses as long as the last batch
    /// took (at most [`CLEANUP_MAX_PAUSE`]), so it never takes more than
    /// about half of the store's time (or of a CPU shared with the app)
    /// away from requests, however many records there are.
    pub async fn cleanup(
        &self,
        batch_size: u64,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, StoreError> {
        let batch_size = batch_size.max(1);
        let now = Utc::now();
        let mut total = 0;
        loop {
            let started = std::time::Instant::now();
            let result = self.shared.store.cleanup_expired(now, batch_size).await;
            let deleted = self.observe("cleanup_expired", result)?;
            total += deleted;
            progress(total);
            if deleted < batch_size {
                tracing::info!(target: LOG, store = self.shared.store.name(), deleted = total, "session cleanup done");
                return Ok(total);
            }
            tokio::time::sleep(started.elapsed().min(CLEANUP_MAX_PAUSE)).await;
        }
    }

    /// Starts a task that runs [`cleanup`](Self::cleanup) every `every`;
    /// failures are logged and retried at the next tick. Abort the handle
    /// to stop it.
    pub fn spawn_cleanup_task(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let manager = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every.max(Duration::from_secs(1)));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                manager.cleanup_once_in_background().await;
            }
        })
    }

    /// Counts a request; every `SESSION_CLEANUP_N_REQUESTS`th one starts a
    /// background cleanup (never more than one at a time).
    pub(crate) fn count_request(&self) {
        let Some(n) = self.shared.config.cleanup_n_requests else {
            return;
        };
        let seen = self.shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if seen.is_multiple_of(n.max(1)) {
            let manager = self.clone();
            tokio::spawn(async move { manager.cleanup_once_in_background().await });
        }
    }

    async fn cleanup_once_in_background(&self) {
        if self.shared.cleaning.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self
            .cleanup(self.shared.config.cleanup_batch_size, |_| {})
            .await
        {
            tracing::warn!(target: LOG, "background session cleanup failed: {e}");
        }
        self.shared.cleaning.store(false, Ordering::Release);
    }

    /// The well-formed (and, with a signer, correctly signed) session id
    /// in a request's cookies, if any: the one place an id enters from
    /// the client.
    pub(crate) fn session_id_from(&self, cookies: &RawCookies) -> Option<SessionId> {
        cookies.session_id(&self.shared.config.cookie_name, self.shared.signer.as_ref())
    }

    /// The `Set-Cookie` value for `action` (`None` to leave the cookie as
    /// it is). A browser-session cookie (`SESSION_PERMANENT = false`) gets
    /// no expiry.
    pub(crate) fn cookie_for(&self, action: CookieAction) -> Option<HeaderValue> {
        let config = &self.shared.config;
        match action {
            CookieAction::Keep => None,
            CookieAction::Set { id, expires } => cookie::set_cookie(
                config,
                self.shared.signer.as_ref(),
                id.as_str(),
                config.permanent.then_some(expires),
                Utc::now(),
            ),
            CookieAction::Expire => cookie::expire_cookie(config),
        }
    }

    /// A fresh id of the configured length.
    pub(crate) fn new_id(&self) -> SessionId {
        SessionId::generate(self.shared.config.id_length)
    }

    /// Serializes session data in the configured format.
    pub(crate) fn encode(&self, data: &SessionData) -> Result<Vec<u8>, StoreError> {
        codec::encode(self.shared.config.serialization_format, data)
            .map_err(|e| StoreError::corrupt(self.shared.store.name(), e))
    }

    /// Deserializes stored session data (either format, see
    /// [`codec`](crate::codec)).
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<SessionData, codec::CodecError> {
        codec::decode(self.shared.config.serialization_format, bytes)
    }

    /// Whether `record` is past `SESSION_ABSOLUTE_LIFETIME` at `now`.
    pub(crate) fn past_absolute_lifetime(&self, record: &Record, now: DateTime<Utc>) -> bool {
        self.shared
            .config
            .absolute_lifetime
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .is_some_and(|absolute| record.created_at + absolute <= now)
    }

    pub(crate) async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.shared.stats.read();
        let result = match self.shared.store.load_now(id) {
            Some(result) => result,
            None => self.shared.store.load(id).await,
        };
        self.observe("load", result)
    }

    pub(crate) async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<SaveOutcome, StoreError> {
        self.shared.stats.write();
        let result = match self.shared.store.save_now(id, record, expected) {
            Some(result) => result,
            None => self.shared.store.save(id, record, expected).await,
        };
        self.observe_save("save", result)
    }

    pub(crate) async fn rename(
        &self,
        old: &SessionId,
        new: &SessionId,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, StoreError> {
        self.shared.stats.write();
        let result = self.shared.store.rename(old, new, record, expected).await;
        self.observe_save("rename", result)
    }

    pub(crate) async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.shared.stats.delete();
        let result = self.shared.store.delete(id).await;
        self.observe("delete", result)
    }

    fn observe_save(
        &self,
        op: &'static str,
        result: Result<SaveOutcome, StoreError>,
    ) -> Result<SaveOutcome, StoreError> {
        if let Ok(SaveOutcome::Conflict) = result {
            self.shared.stats.conflict();
        }
        self.observe(op, result)
    }

    /// Logs one operation: failures at `error` (the reason a request got
    /// 503), successes at `debug` with the counters.
    fn observe<T>(&self, op: &'static str, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let store = self.shared.store.name();
        match &result {
            Ok(_) => {
                tracing::debug!(target: LOG, store, op, stats = ?self.shared.stats.snapshot(), "session store operation");
            }
            Err(e) => {
                self.shared.stats.error();
                tracing::error!(target: LOG, store, op, "session store operation failed: {e}");
            }
        }
        result
    }

    /// When a record created or refreshed at `now` expires: the idle
    /// lifetime from now, capped by the absolute lifetime from creation.
    pub(crate) fn expiry(&self, created_at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        let config = &self.shared.config;
        let idle =
            now + chrono::Duration::from_std(config.lifetime).unwrap_or(chrono::Duration::MAX);
        match config
            .absolute_lifetime
            .and_then(|d| chrono::Duration::from_std(d).ok())
        {
            Some(absolute) => idle.min(created_at + absolute),
            None => idle,
        }
    }
}
