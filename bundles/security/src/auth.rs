//! Logging in and out on the server-side session, and the list of a
//! user's active sessions.
//!
//! At login the session gets a new id (against fixation), the user id is
//! the only thing stored about the user (session key `_user_id`), the
//! session's owner is tagged with it, and the CSRF token is replaced.
//! Logout destroys the session in the store, so a copy of the old cookie
//! is worth nothing.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use sha2::{Digest, Sha256};
use unchained_session::{Session, SessionError};

use crate::models::{user, user_session};
use crate::service::Security;

/// Session key holding the logged-in user's id.
pub const USER_ID_KEY: &str = "_user_id";

/// The public handle of a session: hex SHA-256 of its id. Shown in the
/// session list and used to end a session; the id itself never leaves
/// the cookie and the store.
pub fn session_handle(session_id: &str) -> String {
    crate::password::hex(&Sha256::digest(session_id.as_bytes()))
}

/// Logs `user` in on `session`: new session id, `_user_id`, owner tag,
/// new CSRF token.
pub async fn login(session: &Session, user: &user::Model) -> Result<(), SessionError> {
    session.regenerate().await?;
    session.insert(USER_ID_KEY, user.id).await?;
    session.set_owner(Some(&user.id.to_string())).await?;
    crate::csrf::rotate_token(session).await?;
    tracing::info!(target: "unchained_security", user_id = user.id, "user logged in");
    Ok(())
}

/// Logs out: destroys the session in the store and forgets its activity
/// row.
pub async fn logout(security: &Security, session: &Session) -> Result<(), SessionError> {
    if let Some(id) = session.id().await? {
        let handle = session_handle(&id);
        security.forget_touch(&handle);
        if let Err(e) = user_session::Entity::delete_by_id(handle)
            .exec(security.db())
            .await
        {
            tracing::warn!(target: "unchained_security", "could not delete a session activity row: {e}");
        }
    }
    let user_id: Option<i32> = session.get(USER_ID_KEY).await.ok().flatten();
    session.destroy().await?;
    if let Some(user_id) = user_id {
        tracing::info!(target: "unchained_security", user_id, "user logged out");
    }
    Ok(())
}

/// Ends every session of `user_id` except the one with id `keep`; returns
/// how many were ended.
pub async fn end_sessions(
    security: &Security,
    user_id: i32,
    keep: Option<&str>,
) -> anyhow::Result<u64> {
    let manager = security.sessions();
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
    delete.exec(security.db()).await?;
    tracing::info!(target: "unchained_security", user_id, ended, "ended sessions of a user");
    Ok(ended)
}

/// Ends the session of `user_id` whose handle is `handle`; `false` when
/// there is none (or it belongs to someone else).
pub async fn end_session(security: &Security, user_id: i32, handle: &str) -> anyhow::Result<bool> {
    let manager = security.sessions();
    let mut found = false;
    for info in manager.list_owner_sessions(&user_id.to_string()).await? {
        if crate::csrf::constant_time_eq(session_handle(&info.id).as_bytes(), handle.as_bytes()) {
            found = manager.destroy_session(&info.id).await?;
            break;
        }
    }
    user_session::Entity::delete_many()
        .filter(user_session::Column::UserId.eq(user_id))
        .filter(user_session::Column::IdHash.eq(handle))
        .exec(security.db())
        .await?;
    Ok(found)
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

/// The live sessions of `user_id`, newest first; `current` is the
/// requesting session's id.
pub async fn list_sessions(
    security: &Security,
    user_id: i32,
    current: Option<&str>,
) -> anyhow::Result<Vec<ActiveSession>> {
    let live = security
        .sessions()
        .list_owner_sessions(&user_id.to_string())
        .await?;
    let rows = user_session::Entity::find()
        .filter(user_session::Column::UserId.eq(user_id))
        .all(security.db())
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
    // Rows of sessions that ended on their own are dropped.
    let stale: Vec<String> = rows
        .iter()
        .filter(|r| !out.iter().any(|s| s.id == r.id_hash))
        .map(|r| r.id_hash.clone())
        .collect();
    if !stale.is_empty() {
        user_session::Entity::delete_many()
            .filter(user_session::Column::IdHash.is_in(stale))
            .exec(security.db())
            .await?;
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.last_seen_at));
    Ok(out)
}

/// Records that session `session_id` of `user_id` made a request (at most
/// once a minute per session).
pub async fn touch(security: &Security, session_id: &str, user_id: i32, user_agent: &str) {
    let handle = session_handle(session_id);
    if !security.touch_due(&handle) {
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
        .exec(security.db())
        .await;
    if let Err(e) = result {
        tracing::warn!(target: "unchained_security", "could not record session activity: {e}");
    }
}
