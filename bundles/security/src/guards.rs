//! Who is asking: the [`CurrentUser`] and [`MaybeUser`] extractors, and
//! the [`auth_required`], [`roles_required`] and [`roles_accepted`] layers
//! for any handler.
//!
//! ```ignore
//! use unchained::axum::handler::Handler;
//! use unchained_security::{CurrentUser, roles_required};
//!
//! async fn profile(user: CurrentUser) -> String {
//!     format!("hello {}", user.email())
//! }
//! async fn admin() -> &'static str { "admin area" }
//!
//! Routes::new()
//!     .get("/profile", profile)                                // extractor
//!     .get("/admin", admin.layer(roles_required(["admin"])))   // layer
//! ```
//!
//! Anonymous HTML requests are redirected to `SECURITY_LOGIN_URL` with
//! `?next=` the requested path; JSON requests (under `/api/`, or sending
//! or accepting only JSON) get 401. A missing role gives 403.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Redirect, Response};
use futures::future::BoxFuture;
use http::request::Parts;
use http::{Request, StatusCode, header};
use serde::Serialize;
use tower::{Layer, Service};
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

/// Why a guard refused a request.
#[derive(Debug)]
pub enum AuthError {
    /// Nobody is logged in.
    Unauthenticated {
        /// Answer with JSON (401) rather than a redirect.
        json: bool,
        /// Where to redirect (login URL with `next`).
        location: String,
    },
    /// Logged in but without the required role(s).
    Forbidden {
        /// Answer with JSON.
        json: bool,
    },
    /// The session store failed.
    Session(SessionError),
    /// The bundle is not set up or the database failed (logged).
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

/// The resolved user, cached in the request's extensions.
#[derive(Clone)]
struct Resolved(Option<Arc<AuthUser>>);

fn app_state(parts: &Parts, state: Option<&AppState>) -> Option<AppState> {
    state
        .cloned()
        .or_else(|| parts.extensions.get::<AppState>().cloned())
}

/// Finds the logged-in user of the request (at most once per request).
///
/// A session naming a user who no longer exists, is deactivated, or (with
/// `SECURITY_CONFIRMABLE` and without `SECURITY_LOGIN_WITHOUT_CONFIRMATION`)
/// is unconfirmed, is destroyed and the request treated as anonymous.
pub async fn resolve_user(
    parts: &mut Parts,
    state: Option<&AppState>,
) -> Result<Option<Arc<AuthUser>>, AuthError> {
    if let Some(Resolved(user)) = parts.extensions.get::<Resolved>() {
        return Ok(user.clone());
    }
    let Some(app) = app_state(parts, state) else {
        tracing::error!(target: "unchained_security", "guard used outside the security bundle's layer");
        return Err(AuthError::Internal);
    };
    let Some(security) = app.service::<Security>().cloned() else {
        tracing::error!(target: "unchained_security", "no Security service: is unchained.bundles.security loaded?");
        return Err(AuthError::Internal);
    };
    let Some(session) = parts.extensions.get::<Session>().cloned() else {
        tracing::error!(target: "unchained_security", "no session layer: add unchained.bundles.session");
        return Err(AuthError::Internal);
    };
    let user_id: Option<i32> = session.get(USER_ID_KEY).await.map_err(AuthError::Session)?;
    let resolved = match user_id {
        None => None,
        Some(id) => load(&security, &session, id, parts).await?,
    };
    parts.extensions.insert(Resolved(resolved.clone()));
    Ok(resolved)
}

async fn load(
    security: &Security,
    session: &Session,
    id: i32,
    parts: &Parts,
) -> Result<Option<Arc<AuthUser>>, AuthError> {
    let db_error = |e: sea_orm::DbErr| {
        tracing::error!(target: "unchained_security", "loading the current user failed: {e}");
        AuthError::Internal
    };
    let user = security.find_user(id).await.map_err(db_error)?;
    let config = security.config();
    let allowed = user.as_ref().is_some_and(|u| {
        u.active
            && (!config.confirmable
                || config.login_without_confirmation
                || u.confirmed_at.is_some())
    });
    let Some(user) = user.filter(|_| allowed) else {
        // Logged in as someone who may not be: end that session.
        crate::auth::logout(security, session)
            .await
            .map_err(AuthError::Session)?;
        return Ok(None);
    };
    let roles = security.role_names(user.id).await.map_err(db_error)?;
    if let Ok(Some(session_id)) = session.id().await {
        let agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        crate::auth::touch(security, &session_id, user.id, agent).await;
    }
    Ok(Some(Arc::new(AuthUser { user, roles })))
}

fn login_location(parts: &Parts, state: Option<&AppState>) -> String {
    let login_url = app_state(parts, state)
        .and_then(|app| {
            app.service::<Security>()
                .map(|s| s.config().login_url.clone())
        })
        .unwrap_or_else(|| "/login".to_owned());
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
    state: Option<&AppState>,
) -> Result<Arc<AuthUser>, AuthError> {
    match resolve_user(parts, state).await? {
        Some(user) => Ok(user),
        None => Err(AuthError::Unauthenticated {
            json: wants_json(parts),
            location: login_location(parts, state),
        }),
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        require_user(parts, Some(state)).await.map(CurrentUser)
    }
}

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        resolve_user(parts, Some(state)).await.map(MaybeUser)
    }
}

/// What a guard layer requires.
#[derive(Debug, Clone)]
enum Rule {
    LoggedIn,
    AllRoles(Vec<String>),
    AnyRole(Vec<String>),
}

/// A layer that refuses requests not meeting its rule; see
/// [`auth_required`], [`roles_required`], [`roles_accepted`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    rule: Arc<Rule>,
}

/// Requires a logged-in user.
pub fn auth_required() -> AuthLayer {
    AuthLayer {
        rule: Arc::new(Rule::LoggedIn),
    }
}

/// Requires a logged-in user holding *every* role in `roles` (403 otherwise).
pub fn roles_required<I, R>(roles: I) -> AuthLayer
where
    I: IntoIterator<Item = R>,
    R: Into<String>,
{
    AuthLayer {
        rule: Arc::new(Rule::AllRoles(roles.into_iter().map(Into::into).collect())),
    }
}

/// Requires a logged-in user holding *at least one* role in `roles`
/// (403 otherwise).
pub fn roles_accepted<I, R>(roles: I) -> AuthLayer
where
    I: IntoIterator<Item = R>,
    R: Into<String>,
{
    AuthLayer {
        rule: Arc::new(Rule::AnyRole(roles.into_iter().map(Into::into).collect())),
    }
}

impl AuthLayer {
    async fn check(&self, parts: &mut Parts) -> Result<(), AuthError> {
        let user = require_user(parts, None).await?;
        let ok = match &*self.rule {
            Rule::LoggedIn => true,
            Rule::AllRoles(roles) => roles.iter().all(|r| user.has_role(r)),
            Rule::AnyRole(roles) => roles.iter().any(|r| user.has_role(r)),
        };
        if ok {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
                json: wants_json(parts),
            })
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            match layer.check(&mut parts).await {
                Ok(()) => inner
                    .call(Request::from_parts(parts, body))
                    .await
                    .map(IntoResponse::into_response),
                Err(e) => Ok(e.into_response()),
            }
        })
    }
}
