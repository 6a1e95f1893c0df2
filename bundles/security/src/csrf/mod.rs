//! CSRF protection for HTML forms.
//!
//! Forms send a token back in a `csrf_token` field (or an `X-CSRF-Token`
//! header). The bundle's layer checks every unsafe request (`POST`,
//! `PUT`, `PATCH`, `DELETE`) whose body a cross-site form could send
//! (`application/x-www-form-urlencoded`, `multipart/form-data`,
//! `text/plain`, or no content type) and answers 400 when the token is
//! missing or wrong. JSON requests are not checked: a browser sends them
//! cross-site only after a CORS preflight the app would have to allow.
//!
//! # Where the token lives
//!
//! - **Logged in**: the session holds a random token (session key
//!   `_csrf_token`), replaced at login and when the password changes, and
//!   gone with the session at logout.
//! - **Anonymous**: nothing is stored. The visitor gets a `csrf_token`
//!   cookie (`__Host-csrf_token` where cookies are `Secure`) holding a
//!   random seed, and the form token is a keyed digest of that seed under
//!   `SECRET_KEY` (a signed double-submit token, see [`cookie`]). Showing
//!   a login form to a crawler therefore creates no session record; the
//!   first thing written to the session (a login, a flash message, the
//!   app's own data) does.
//!
//! A session that holds a token accepts only that token.
//!
//! The check is [`check_request`]; the bundle's middleware (in the
//! `middleware` module) runs it around every route.
//!
//! To find a form's token the check reads the body, at most
//! `SECURITY_MAX_FORM_BYTES` of it (64 KiB by default): a larger body gets
//! 413 Payload Too Large, from its `Content-Length` before anything is
//! read, or as soon as a chunked body passes the limit. The urlencoded
//! pairs are scanned in place; only the token's value is decoded. A token
//! in the `X-CSRF-Token` header leaves the body unread (for uploads
//! larger than the limit).
//!
//! ```ignore
//! async fn form(csrf: CsrfToken, State(app): State<AppState>) -> Response {
//!     app.render("edit.html", minijinja::context! { csrf_token => csrf.0 })
//! }
//! // <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
//! ```

pub mod cookie;
mod form;

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Method, StatusCode};
use unchained_session::{Session, SessionError};

use crate::config::SecurityConfig;
use crate::crypto::{constant_time_eq, random_token};
pub use cookie::CsrfCookie;
use form::{
    FormKind, content_length, form_kind, read_limited, token_in_multipart, token_in_urlencoded,
    too_large,
};

/// Session key of the token.
pub const SESSION_KEY: &str = "_csrf_token";
/// Form field of the token.
pub const FORM_FIELD: &str = "csrf_token";
/// Header of the token (for scripts posting forms).
pub const HEADER: &str = "x-csrf-token";
pub use crate::config::API_PREFIX;

/// The message of a refused request.
pub const FAILURE_MESSAGE: &str = "CSRF check failed: the form's csrf_token is missing or does not match this session. Reload the page and submit \
     the form again.";

/// Replaces the session's token (at login and after a password change):
/// from then on the session accepts only the new one.
pub async fn rotate_token(session: &Session) -> Result<String, SessionError> {
    let token = random_token();
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

/// A request's CSRF token source: the session's token once it has one,
/// else the anonymous visitor's cookie. Nothing is written to the session
/// to make a token.
///
/// ```ignore
/// async fn edit(csrf: Csrf) -> Result<String, SessionError> {
///     let token = csrf.token().await?; // for the form's csrf_token field
///     Ok(token)
/// }
/// ```
#[derive(Clone)]
pub struct Csrf {
    session: Session,
    cookie: Option<Arc<CsrfCookie>>,
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Csrf")
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl Csrf {
    /// The request's session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The token a form on this page should carry.
    ///
    /// Without the bundle's middleware (no CSRF cookie in the request),
    /// the token is stored in the session, as a last resort that still
    /// lets the check pass.
    pub async fn token(&self) -> Result<String, SessionError> {
        if let Some(token) = self.session.get::<String>(SESSION_KEY).await? {
            return Ok(token);
        }
        match &self.cookie {
            Some(cookie) => Ok(cookie.token()),
            None => rotate_token(&self.session).await,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Csrf {
            session,
            cookie: parts.extensions.get::<Arc<CsrfCookie>>().cloned(),
        })
    }
}

/// The CSRF token for a form on this page: put it in a hidden
/// `csrf_token` field. Taking it stores nothing for an anonymous visitor
/// (see the module docs).
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let csrf = Csrf::from_request_parts(parts, state).await?;
        csrf.token()
            .await
            .map(CsrfToken)
            .map_err(IntoResponse::into_response)
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

fn failure() -> Response {
    (StatusCode::BAD_REQUEST, FAILURE_MESSAGE).into_response()
}

/// Whether the CSRF check skips `parts`: checking is off, the method is
/// safe, or the path is the JSON API or an exempt prefix.
fn is_exempt(config: &SecurityConfig, parts: &Parts) -> bool {
    let path = parts.uri.path();
    !config.csrf_enabled
        || !is_unsafe(&parts.method)
        || config.is_api_path(path)
        || config
            .csrf_exempt_paths
            .iter()
            .any(|p| !p.is_empty() && path.starts_with(p.as_str()))
}

/// The token a request must carry.
enum Expected {
    /// The session's own.
    Session(String),
    /// The form token of the request's CSRF cookie.
    Cookie(Arc<CsrfCookie>),
}

impl Expected {
    fn accepts(&self, sent: &str) -> bool {
        match self {
            Expected::Session(token) => constant_time_eq(sent.as_bytes(), token.as_bytes()),
            Expected::Cookie(cookie) => cookie.accepts(sent),
        }
    }
}

/// Checks the CSRF token of `request` under `config`: `Ok` gives the
/// request back (its body rebuilt when it had to be read), `Err` is the
/// answer to send instead (400; 413 for a body over
/// `SECURITY_MAX_FORM_BYTES` that had to be read; or the session store's
/// error).
///
/// The session must already be in the request's extensions (the session
/// bundle's layer runs outside the security bundle's), and, for a session
/// without a token, the request's [`CsrfCookie`] (the bundle's middleware
/// puts it there): without them an unsafe form request is refused, never
/// let through.
pub async fn check_request(config: &SecurityConfig, request: Request) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let kind = if is_exempt(config, &parts) {
        None
    } else {
        form_kind(&parts)
    };
    let Some(kind) = kind else {
        return Ok(Request::from_parts(parts, body));
    };
    let limit = config.max_form_bytes;
    // A body that will have to be read (no header token) and declares
    // itself too large is refused before the session store is asked or a
    // byte is read; a chunked one is cut off by `read_limited` as soon as
    // it passes the limit.
    if !parts.headers.contains_key(HEADER)
        && content_length(&parts.headers).is_some_and(|n| n > limit as u64)
    {
        return Err(too_large(limit));
    }
    let Some(session) = parts.extensions.get::<Session>().cloned() else {
        tracing::error!(target: "unchained_security", "CSRF check without a session layer: refusing the request");
        return Err(failure());
    };
    let expected = match session.get::<String>(SESSION_KEY).await {
        Ok(Some(token)) => Expected::Session(token),
        Ok(None) => match parts.extensions.get::<Arc<CsrfCookie>>() {
            Some(cookie) => Expected::Cookie(cookie.clone()),
            None => return Err(failure()),
        },
        Err(e) => return Err(e.into_response()),
    };
    let header_token = parts
        .headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(token) = header_token {
        if expected.accepts(&token) {
            return Ok(Request::from_parts(parts, body));
        }
        return Err(failure());
    }
    let bytes = read_limited(body, limit).await?;
    let sent = match kind {
        FormKind::UrlEncoded => token_in_urlencoded(&bytes),
        FormKind::Multipart(boundary) => token_in_multipart(&bytes, &boundary).map(Cow::Owned),
        FormKind::Plain => None,
    };
    let valid = sent.is_some_and(|token| expected.accepts(&token));
    if valid {
        Ok(Request::from_parts(parts, Body::from(bytes)))
    } else {
        Err(failure())
    }
}
