//! The JSON API under `/api/v1/auth/`. Requests with a body must be
//! `Content-Type: application/json` (415 otherwise); answers are JSON,
//! errors `{"error": "..."}`.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use unchained::routes::Routes;
use unchained::service::Service;
use unchained::state::AppState;
use unchained_session::{Session, SessionError};

use super::ClientAddress;
use crate::config::SecurityConfig;
use crate::extract::{AuthUser, CurrentUser, MaybeUser};
use crate::flows::{self, LoginFailure};
use crate::service::Security;

/// Adds the enabled API routes to `routes`, named `security.api_<name>`
/// (`security.api_login`, ...).
pub fn routes(mut routes: Routes, config: &SecurityConfig) -> Routes {
    routes = routes
        .post("/api/v1/auth/login", login)
        .name("api_login")
        .post("/api/v1/auth/logout", logout)
        .name("api_logout")
        .get("/api/v1/auth/check", check)
        .name("api_check")
        .get("/api/v1/auth/sessions", sessions)
        .name("api_sessions")
        .post("/api/v1/auth/sessions/end", end_session)
        .name("api_end_session")
        .post("/api/v1/auth/sessions/end-others", end_others)
        .name("api_end_other_sessions");
    if config.changeable {
        routes = routes
            .post("/api/v1/auth/change-password", change_password)
            .name("api_change_password");
    }
    if config.recoverable {
        routes = routes
            .post("/api/v1/auth/forgot-password", forgot_password)
            .name("api_forgot_password")
            .post("/api/v1/auth/reset-password", reset_password)
            .name("api_reset_password");
    }
    routes
}

/// A JSON error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn internal() -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unavailable => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
            }
            other => {
                tracing::error!(target: "unchained_security", "session error: {other}");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

type ApiResult = Result<Response, ApiError>;

/// A flow's error as an answer: 503 with `Retry-After` when the server was
/// at its hashing capacity, 400 with the message otherwise.
fn flow_error(e: flows::FlowError) -> ApiError {
    if let flows::FlowError::Throttled(after) = e {
        let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string());
        error.retry_after = Some(after.as_secs().max(1));
        return error;
    }
    // The session store failed around a password change: not the input's
    // fault, and never a success.
    if let flows::FlowError::SessionsNotEnded { .. } = e {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    match e.retry_after() {
        Some(after) => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: e.to_string(),
            retry_after: Some(after.as_secs().max(1)),
        },
        None => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// Refuses a request whose body is not declared as JSON, with 415. Put it
/// first among a handler's arguments, so the check runs before any other.
#[derive(Debug, Clone, Copy)]
pub struct JsonOnly;

fn is_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
}

impl<S: Send + Sync> FromRequestParts<S> for JsonOnly {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if is_json(parts) {
            Ok(JsonOnly)
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "this endpoint accepts only Content-Type: application/json",
            ))
        }
    }
}

/// A JSON body whose errors are JSON too. An empty body reads as `{}`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        if !is_json(&parts) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "this endpoint accepts only Content-Type: application/json",
            ));
        }
        // The same cap as the forms' (the bundle's middleware put the
        // service in the extensions); its default where it did not.
        let limit = parts
            .extensions
            .get::<Security>()
            .map_or(crate::config::DEFAULT_MAX_FORM_BYTES, |security| {
                security.config().max_form_bytes
            });
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes (SECURITY_MAX_FORM_BYTES)"),
            )
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
    }
}

fn user_json(user: &AuthUser) -> serde_json::Value {
    json!({
        "id": user.user.id,
        "email": user.user.email,
        "active": user.user.active,
        "confirmed_at": user.user.confirmed_at,
        "roles": user.roles,
    })
}

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Deserialize)]
pub struct LoginBody {
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Password.
    #[serde(default)]
    pub password: String,
}

async fn login(
    _: JsonOnly,
    Service(security): Service<Security>,
    session: Session,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult {
    match flows::check_login(&security, &body.email, &body.password, &address).await {
        Ok(user) => {
            crate::auth::login(&session, &user).await?;
            let roles = security.role_names(user.id).await.map_err(|e| {
                tracing::error!(target: "unchained_security", "loading roles failed: {e}");
                ApiError::internal()
            })?;
            let auth = AuthUser { user, roles };
            Ok(Json(json!({ "user": user_json(&auth) })).into_response())
        }
        Err(failure) => {
            let status = match failure {
                LoginFailure::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                LoginFailure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                LoginFailure::Disabled | LoginFailure::Unconfirmed => StatusCode::FORBIDDEN,
                LoginFailure::Invalid => StatusCode::BAD_REQUEST,
                LoginFailure::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            let mut error = ApiError::new(status, failure.message());
            if let LoginFailure::Throttled(after) | LoginFailure::Busy(after) = failure {
                error.retry_after = Some(after.as_secs().max(1));
            }
            Err(error)
        }
    }
}

async fn logout(_: JsonOnly, Service(security): Service<Security>, session: Session) -> ApiResult {
    crate::auth::logout(&security, &session).await?;
    Ok(Json(json!({ "logged_out": true })).into_response())
}

async fn check(user: MaybeUser) -> Response {
    let mut response = match user.0 {
        Some(user) => {
            Json(json!({ "authenticated": true, "user": user_json(&user) })).into_response()
        }
        None => ApiError::new(StatusCode::UNAUTHORIZED, "authentication required").into_response(),
    };
    // Either answer is about this user's session: no cache may keep it
    // (a shared cache could hand one user's answer to another).
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /api/v1/auth/change-password` body.
#[derive(Debug, Deserialize)]
pub struct ChangeBody {
    /// The current password.
    #[serde(default)]
    pub password: String,
    /// The new password.
    #[serde(default)]
    pub new_password: String,
}

async fn change_password(
    _: JsonOnly,
    Service(security): Service<Security>,
    session: Session,
    user: CurrentUser,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<ChangeBody>,
) -> ApiResult {
    flows::change_password(
        &security,
        &session,
        &user.user,
        &body.password,
        &body.new_password,
        &address,
    )
    .await
    .map_err(flow_error)?;
    Ok(Json(json!({ "changed": true })).into_response())
}

/// `POST /api/v1/auth/forgot-password` body.
#[derive(Debug, Deserialize)]
pub struct ForgotBody {
    /// Email.
    #[serde(default)]
    pub email: String,
}

async fn forgot_password(
    _: JsonOnly,
    State(app): State<AppState>,
    Service(security): Service<Security>,
    ApiJson(body): ApiJson<ForgotBody>,
) -> ApiResult {
    flows::forgot_password(&app, &security, &body.email).await;
    Ok(Json(json!({
        "message": "If an account uses this address, we have sent it a link to reset the password."
    }))
    .into_response())
}

/// `POST /api/v1/auth/reset-password` body.
#[derive(Debug, Deserialize)]
pub struct ResetBody {
    /// The token from the emailed link.
    #[serde(default)]
    pub token: String,
    /// The new password.
    #[serde(default)]
    pub password: String,
}

async fn reset_password(
    _: JsonOnly,
    Service(security): Service<Security>,
    ApiJson(body): ApiJson<ResetBody>,
) -> ApiResult {
    flows::reset_password(&security, &body.token, &body.password)
        .await
        .map_err(flow_error)?;
    Ok(Json(json!({ "reset": true })).into_response())
}

async fn sessions(
    Service(security): Service<Security>,
    session: Session,
    user: CurrentUser,
) -> ApiResult {
    let current = session.id().await?;
    let list = security
        .list_sessions(user.id(), current.as_deref())
        .await
        .map_err(|e| {
            tracing::error!(target: "unchained_security", "listing sessions failed: {e}");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "session list unavailable")
        })?;
    Ok(Json(json!({ "sessions": list })).into_response())
}

/// `POST /api/v1/auth/sessions/end` body.
#[derive(Debug, Deserialize)]
pub struct EndBody {
    /// The session's `id` from the list.
    #[serde(default)]
    pub id: String,
}

async fn end_session(
    _: JsonOnly,
    Service(security): Service<Security>,
    session: Session,
    user: CurrentUser,
    ApiJson(body): ApiJson<EndBody>,
) -> ApiResult {
    let current = session
        .id()
        .await?
        .map(|id| crate::service::session_handle(&id));
    if current.as_deref() == Some(body.id.as_str()) {
        crate::auth::logout(&security, &session).await?;
        return Ok(Json(json!({ "ended": true, "current": true })).into_response());
    }
    let ended = security
        .end_session(user.id(), &body.id)
        .await
        .map_err(|e| {
            tracing::error!(target: "unchained_security", "ending a session failed: {e}");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "could not end the session")
        })?;
    if !ended {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such session"));
    }
    Ok(Json(json!({ "ended": true, "current": false })).into_response())
}

async fn end_others(
    _: JsonOnly,
    Service(security): Service<Security>,
    session: Session,
    user: CurrentUser,
) -> ApiResult {
    let current = session.id().await?;
    let ended = security
        .end_sessions(user.id(), current.as_deref())
        .await
        .map_err(|e| {
            tracing::error!(target: "unchained_security", "ending other sessions failed: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "could not end the sessions",
            )
        })?;
    Ok(Json(json!({ "ended": ended })).into_response())
}
