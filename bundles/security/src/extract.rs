//! Who is asking: the [`CurrentUser`] and [`MaybeUser`] extractors, and
//! the per-request resolution they (and the guard layers of the
//! `middleware` module) share.
//!
//! ```ignore
//! use unchained_security::{CurrentUser, MaybeUser};
//!
//! async fn profile(user: CurrentUser) -> String {
//!     format!("hello {}", user.email())
//! }
//! async fn home(user: MaybeUser) -> String {
//!     format!("logged in: {}", user.0.is_some())
//! }
//! ```
//!
//! Anonymous HTML requests are redirected to `SECURITY_LOGIN_URL` with
//! `?next=` the requested path; JSON requests (under `/api/`, or sending
//! or accepting only JSON) get 401.
//!
//! # Lookup, then settle
//!
//! Finding the user is split in two so that reading never writes:
//!
//! - [`lookup`] reads the session's `_user_id` and the user's row and
//!   roles, and says [`SessionUser::Anonymous`], [`SessionUser::Revoked`]
//!   (the user is gone, deactivated, or unconfirmed where confirmation is
//!   required) or [`SessionUser::Active`]. It has no side effects.
//! - [`settle`] is the one step that acts on that answer: it ends a
//!   revoked session (`auth::end_revoked_session`) and records a live
//!   session's "last seen" row. It runs before the handler, so a handler
//!   that writes to the session after a revoked login (a login form's
//!   CSRF token, say) writes into a fresh session, not into the one being
//!   ended.
//!
//! [`resolve`] chains the two, once per request (the outcome is cached in
//! the request's extensions), and is the only caller of [`settle`].
//!
//! # Reaching the service
//!
//! The extractors take [`Security`] from the app state
//! (`Service<Security>`, so any router state with `AppState: FromRef<S>`
//! works). The build guarantees it: the bundle registers it and declares it
//! in `provides`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Redirect, Response};
use http::request::Parts;
use http::{StatusCode, header};
use serde::Serialize;
use unchained::service::{MissingService, Service};
use unchained::state::AppState;
use unchained_session::{Session, SessionError};

use crate::auth::USER_ID_KEY;
use crate::models::user;
use crate::service::Security;

/// A logged-in user and the names of its roles.
#[derive(Debug, Clone, Serialize)]
pub struct AuthUser {
    /// The user's row (the password hash is never serialized).
    pub user: user::Model,
    /// Role names, sorted.
    pub roles: Vec<String>,
}

impl AuthUser {
    /// The user's id.
    pub fn id(&self) -> i32 {
        self.user.id
    }

    /// The user's email.
    pub fn email(&self) -> &str {
        &self.user.email
    }

    /// Whether the user holds role `name`.
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r == name)
    }
}

/// The logged-in user; rejects anonymous requests (HTML: redirect to the
/// login page; JSON: 401).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Arc<AuthUser>);

impl std::ops::Deref for CurrentUser {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.0
    }
}

/// The logged-in user, if any; never rejects for being anonymous.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<Arc<AuthUser>>);

/// Why a guard refused a request; each variant is a ready answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Nobody is logged in.
    #[error("authentication required")]
    Unauthenticated {
        /// Answer with JSON (401) rather than a redirect.
        json: bool,
        /// Where to redirect (login URL with `next`).
        location: String,
    },
    /// Logged in but without the required role(s).
    #[error("you do not have the role this requires")]
    Forbidden {
        /// Answer with JSON.
        json: bool,
    },
    /// The session store failed.
    #[error(transparent)]
    Session(SessionError),
    /// The [`Security`] service is not reachable (logged; 500).
    #[error(transparent)]
    MissingService(#[from] MissingService),
    /// The database failed (logged; 500).
    #[error("internal error")]
    Internal,
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        match self {
            AuthError::Unauthenticated { json: true, .. } => (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "authentication required"})),
            )
                .into_response(),
            AuthError::Unauthenticated {
                json: false,
                location,
            } => Redirect::to(&location).into_response(),
            AuthError::Forbidden { json: true } => (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({"error": "you do not have the role this requires"})),
            )
                .into_response(),
            AuthError::Forbidden { json: false } => (
                StatusCode::FORBIDDEN,
                "Forbidden: you do not have the role this page requires.",
            )
                .into_response(),
            AuthError::Session(e) => e.into_response(),
            AuthError::MissingService(e) => e.into_response(),
            AuthError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
            }
        }
    }
}

/// Whether the request wants a JSON answer: under `/api/`, or sending
/// JSON, or accepting JSON but not HTML.
pub fn wants_json(parts: &Parts) -> bool {
    let header_has = |name: header::HeaderName, what: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(what))
    };
    parts.uri.path().starts_with("/api/")
        || header_has(header::CONTENT_TYPE, "application/json")
        || (header_has(header::ACCEPT, "application/json")
            && !header_has(header::ACCEPT, "text/html"))
}

/// [`wants_json`], and any request to the bundle's JSON API wherever it is
/// mounted (`SECURITY_URL_PREFIX`).
pub fn wants_json_from(parts: &Parts, security: &Security) -> bool {
    wants_json(parts) || security.config().is_api_path(parts.uri.path())
}

/// What a request's session says about its user, read without side
/// effects by [`lookup`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionUser {
    /// No user id in the session.
    Anonymous,
    /// The session names a user who may no longer be logged in: gone,
    /// deactivated, or unconfirmed where confirmation is required.
    Revoked {
        /// The id the session holds.
        user_id: i32,
    },
    /// A user allowed to be logged in.
    Active(AuthUser),
}

fn db_error(e: sea_orm::DbErr) -> AuthError {
    tracing::error!(target: "unchained_security", "loading the current user failed: {e}");
    AuthError::Internal
}

/// Reads who `session` belongs to: its `_user_id`, that user's row and
/// roles. Writes nothing (see [`settle`] for what is done about the
/// answer).
pub async fn lookup(security: &Security, session: &Session) -> Result<SessionUser, AuthError> {
    let user_id: Option<i32> = session.get(USER_ID_KEY).await.map_err(AuthError::Session)?;
    let Some(user_id) = user_id else {
        return Ok(SessionUser::Anonymous);
    };
    let user = security.find_user(user_id).await.map_err(db_error)?;
    let config = security.config();
    let allowed = user.as_ref().is_some_and(|u| {
        u.active
            && (!config.confirmable
                || config.login_without_confirmation
                || u.confirmed_at.is_some())
    });
    let Some(user) = user.filter(|_| allowed) else {
        return Ok(SessionUser::Revoked { user_id });
    };
    let roles = security.role_names(user.id).await.map_err(db_error)?;
    Ok(SessionUser::Active(AuthUser { user, roles }))
}

/// Acts on a [`lookup`]: ends a revoked session (the request goes on as
/// anonymous) and records a live one's activity. Called only by
/// [`resolve`].
async fn settle(
    security: &Security,
    session: &Session,
    found: SessionUser,
    user_agent: &str,
) -> Result<Option<Arc<AuthUser>>, AuthError> {
    match found {
        SessionUser::Anonymous => Ok(None),
        SessionUser::Revoked { user_id } => {
            crate::auth::end_revoked_session(security, session, user_id)
                .await
                .map_err(AuthError::Session)?;
            Ok(None)
        }
        SessionUser::Active(user) => {
            if let Ok(Some(session_id)) = session.id().await {
                security
                    .record_activity(&session_id, user.id(), user_agent)
                    .await;
            }
            Ok(Some(Arc::new(user)))
        }
    }
}

/// The resolved user, cached in the request's extensions.
#[derive(Clone)]
struct Resolved(Option<Arc<AuthUser>>);

/// The logged-in user of the request: [`lookup`] then [`settle`], at most
/// once per request.
pub async fn resolve(
    parts: &mut Parts,
    security: &Security,
) -> Result<Option<Arc<AuthUser>>, AuthError> {
    if let Some(Resolved(user)) = parts.extensions.get::<Resolved>() {
        return Ok(user.clone());
    }
    let Some(session) = parts.extensions.get::<Session>().cloned() else {
        tracing::error!(target: "unchained_security", "no session layer: add unchained.bundles.session");
        return Err(AuthError::Internal);
    };
    let found = lookup(security, &session).await?;
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let resolved = settle(security, &session, found, user_agent).await?;
    if resolved.is_some()
        && let Some(seen) = parts.extensions.get::<UserSeen>()
    {
        // The response is this user's: the middleware marks it no-store.
        seen.mark();
    }
    parts.extensions.insert(Resolved(resolved.clone()));
    Ok(resolved)
}

fn login_location(parts: &Parts, security: &Security) -> String {
    let login_url = &security.config().login_url;
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let separator = if login_url.contains('?') { '&' } else { '?' };
    format!(
        "{login_url}{separator}next={}",
        crate::redirect::encode_query_value(&next)
    )
}

/// Requires a logged-in user; the rejection is ready to return.
pub async fn require_user(
    parts: &mut Parts,
    security: &Security,
) -> Result<Arc<AuthUser>, AuthError> {
    match resolve(parts, security).await? {
        Some(user) => Ok(user),
        None => Err(AuthError::Unauthenticated {
            json: wants_json_from(parts, security),
            location: login_location(parts, security),
        }),
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Service(security) = Service::<Security>::from_request_parts(parts, state).await?;
        require_user(parts, &security).await.map(CurrentUser)
    }
}

impl<S> FromRequestParts<S> for MaybeUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Service(security) = Service::<Security>::from_request_parts(parts, state).await?;
        resolve(parts, &security).await.map(MaybeUser)
    }
}

/// Set by `extract::resolve` when the request turned out to have a
/// logged-in user, read by the bundle's middleware once the handler is
/// done. The request, extensions and all, moves into the handler, so the
/// middleware keeps its own handle on the shared flag.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserSeen(Arc<AtomicBool>);

impl UserSeen {
    pub(crate) fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
