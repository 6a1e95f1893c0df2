//! The sessions of a user, as [`Security`] manages them: listing them,
//! ending them, and the "last seen" row each logged-in session keeps in
//! `user_session`.
//!
//! These live with the service (not with login and logout) because the
//! service's own operations need them: deactivating an account ends its
//! sessions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use unchained_session::store::StoreError;

use super::Security;
use crate::models::user_session;

/// The public handle of a session: hex SHA-256 of its id. Shown in the
/// session list and used to end a session; the id itself never leaves
/// the cookie and the store.
pub fn session_handle(session_id: &str) -> String {
    crate::crypto::sha256_hex(session_id.as_bytes())
}

/// Listing or ending sessions failed; the message is for the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionsError {
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The `user_session` table could not be read or written.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// One active session as the session list shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ActiveSession {
    /// The handle to end it with (not the session id).
    pub id: String,
    /// Whether it is the session making the request.
    pub current: bool,
    /// When the session started.
    pub created_at: DateTime<Utc>,
    /// The last request seen (to the minute).
    pub last_seen_at: DateTime<Utc>,
    /// When it expires unless used.
    pub expires_at: DateTime<Utc>,
    /// The browser's `User-Agent`, if seen.
    pub user_agent: String,
}

impl Security {
    /// Ends every session of `user_id` except the one with id `keep`;
    /// returns how many were ended.
    pub async fn end_sessions(
        &self,
        user_id: i32,
        keep: Option<&str>,
    ) -> Result<u64, SessionsError> {
        let manager = self.sessions();
        let owner = user_id.to_string();
        let mut ended = 0;
        match keep {
            None => ended = manager.destroy_owner_sessions(&owner).await?,
            Some(keep) => {
                for info in manager.list_owner_sessions(&owner).await? {
                    if info.id != keep && manager.destroy_session(&info.id).await? {
                        ended += 1;
                    }
                }
            }
        }
        let mut delete =
            user_session::Entity::delete_many().filter(user_session::Column::UserId.eq(user_id));
        if let Some(keep) = keep {
            delete = delete.filter(user_session::Column::IdHash.ne(session_handle(keep)));
        }
        delete.exec(self.db()).await?;
        tracing::info!(target: "unchained_security", user_id, ended, "ended sessions of a user");
        Ok(ended)
    }

    /// Ends the session of `user_id` whose handle is `handle`; `false`
    /// when there is none (or it belongs to someone else).
    pub async fn end_session(&self, user_id: i32, handle: &str) -> Result<bool, SessionsError> {
        let manager = self.sessions();
        let mut found = false;
        for info in manager.list_owner_sessions(&user_id.to_string()).await? {
            if crate::crypto::constant_time_eq(
                session_handle(&info.id).as_bytes(),
                handle.as_bytes(),
            ) {
                found = manager.destroy_session(&info.id).await?;
                break;
            }
        }
        user_session::Entity::delete_many()
            .filter(user_session::Column::UserId.eq(user_id))
            .filter(user_session::Column::IdHash.eq(handle))
            .exec(self.db())
            .await?;
        Ok(found)
    }

    /// The live sessions of `user_id`, newest first; `current` is the
    /// requesting session's id. Rows of sessions that ended on their own
    /// are deleted on the way.
    pub async fn list_sessions(
        &self,
        user_id: i32,
        current: Option<&str>,
    ) -> Result<Vec<ActiveSession>, SessionsError> {
        let live = self
            .sessions()
            .list_owner_sessions(&user_id.to_string())
            .await?;
        let rows = user_session::Entity::find()
            .filter(user_session::Column::UserId.eq(user_id))
            .all(self.db())
            .await?;
        let current = current.map(session_handle);
        let mut out: Vec<ActiveSession> = live
            .into_iter()
            .map(|info| {
                let handle = session_handle(&info.id);
                let row = rows.iter().find(|r| r.id_hash == handle);
                ActiveSession {
                    current: current.as_deref() == Some(handle.as_str()),
                    created_at: info.created_at,
                    last_seen_at: row.map_or(info.created_at, |r| r.last_seen_at),
                    expires_at: info.expires_at,
                    user_agent: row.map(|r| r.user_agent.clone()).unwrap_or_default(),
                    id: handle,
                }
            })
            .collect();
        let stale: Vec<String> = rows
            .iter()
            .filter(|r| !out.iter().any(|s| s.id == r.id_hash))
            .map(|r| r.id_hash.clone())
            .collect();
        if !stale.is_empty() {
            user_session::Entity::delete_many()
                .filter(user_session::Column::IdHash.is_in(stale))
                .exec(self.db())
                .await?;
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.last_seen_at));
        Ok(out)
    }

    /// Records that session `session_id` of `user_id` made a request (at
    /// most once a minute per session). A failed write is logged, never
    /// fails the request: the row is only shown in the session list.
    pub async fn record_activity(&self, session_id: &str, user_id: i32, user_agent: &str) {
        let handle = session_handle(session_id);
        if !self.touch_due(&handle) {
            return;
        }
        let now = Utc::now();
        let user_agent: String = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(255)
            .collect();
        let row = user_session::ActiveModel {
            id_hash: Set(handle),
            user_id: Set(user_id),
            created_at: Set(now),
            last_seen_at: Set(now),
            user_agent: Set(user_agent),
        };
        let result = user_session::Entity::insert(row)
            .on_conflict(
                OnConflict::column(user_session::Column::IdHash)
                    .update_columns([
                        user_session::Column::LastSeenAt,
                        user_session::Column::UserAgent,
                    ])
                    .to_owned(),
            )
            .exec(self.db())
            .await;
        if let Err(e) = result {
            tracing::warn!(target: "unchained_security", "could not record session activity: {e}");
        }
    }

    /// Forgets the activity of session `session_id` (at logout): its
    /// throttle entry and its row. A failed delete is logged only.
    pub async fn forget_activity(&self, session_id: &str) {
        let handle = session_handle(session_id);
        self.forget_touch(&handle);
        if let Err(e) = user_session::Entity::delete_by_id(handle)
            .exec(self.db())
            .await
        {
            tracing::warn!(target: "unchained_security", "could not delete a session activity row: {e}");
        }
    }
}
