//! Logging in and out on the server-side session.
//!
//! At login the session gets a new id (against fixation), the user id is
//! the only thing stored about the user (session key `_user_id`), the
//! session's owner is tagged with it, and the CSRF token is replaced.
//! Logout destroys the session in the store, so a copy of the old cookie
//! is worth nothing. Listing and ending a user's other sessions are
//! operations of the service (`Security::list_sessions`,
//! `Security::end_sessions`).

use unchained_session::{Session, SessionError};

use crate::models::user;
use crate::service::Security;

/// Session key holding the logged-in user's id.
pub const USER_ID_KEY: &str = "_user_id";

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
        security.forget_activity(&id).await;
    }
    let user_id: Option<i32> = session.get(USER_ID_KEY).await.ok().flatten();
    session.destroy().await?;
    if let Some(user_id) = user_id {
        tracing::info!(target: "unchained_security", user_id, "user logged out");
    }
    Ok(())
}

/// Ends a session whose user may no longer be logged in (deleted,
/// deactivated, or unconfirmed where confirmation is required): the same
/// as [`logout`], logged as what it is. The request-level resolution of
/// the current user calls it, once, when the lookup found the session
/// revoked; the lookup itself never writes.
pub async fn end_revoked_session(
    security: &Security,
    session: &Session,
    user_id: i32,
) -> Result<(), SessionError> {
    tracing::info!(target: "unchained_security", user_id, "ending the session of a user who may no longer log in");
    logout(security, session).await
}
