//! CSRF protection for HTML forms.
//!
//! Each session carries a random token (session key `_csrf_token`); forms
//! send it back in a `csrf_token` field (or an `X-CSRF-Token` header). The
//! bundle's layer checks every unsafe request (`POST`, `PUT`, `PATCH`,
//! `DELETE`) whose body a cross-site form could send
//! (`application/x-www-form-urlencoded`, `multipart/form-data`,
//! `text/plain`, or no content type) and answers 400 when the token is
//! missing or wrong. JSON requests are not checked: a browser sends them
//! cross-site only after a CORS preflight the app would have to allow.
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

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use unchained_session::{Session, SessionError};

use crate::config::SecurityConfig;
use crate::crypto::{constant_time_eq, random_token};

/// Session key of the token.
pub const SESSION_KEY: &str = "_csrf_token";
/// Form field of the token.
pub const FORM_FIELD: &str = "csrf_token";
/// Header of the token (for scripts posting forms).
pub const HEADER: &str = "x-csrf-token";
/// Path prefix of the JSON API, which refuses anything but JSON itself.
pub const API_PREFIX: &str = "/api/v1/auth/";

/// The message of a refused request.
pub const FAILURE_MESSAGE: &str = "CSRF check failed: the form's csrf_token is missing or does not match this session. Reload the page and submit \
     the form again.";

/// The session's token, created when there is none yet.
pub async fn ensure_token(session: &Session) -> Result<String, SessionError> {
    if let Some(token) = session.get::<String>(SESSION_KEY).await? {
        return Ok(token);
    }
    let token = random_token();
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

/// Replaces the session's token (at login and logout).
pub async fn rotate_token(session: &Session) -> Result<String, SessionError> {
    let token = random_token();
    session.insert(SESSION_KEY, &token).await?;
    Ok(token)
}

/// The current session's CSRF token, for a form: put it in a hidden
/// `csrf_token` field.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        ensure_token(&session)
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

/// What kind of body a request has, for the check.
enum FormKind {
    UrlEncoded,
    Multipart(String),
    Plain,
}

fn form_kind(parts: &Parts) -> Option<FormKind> {
    let Some(value) = parts.headers.get(header::CONTENT_TYPE) else {
        return Some(FormKind::Plain);
    };
    let text = value.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = text.split(';').next().unwrap_or("").trim();
    match essence {
        "application/x-www-form-urlencoded" => Some(FormKind::UrlEncoded),
        "multipart/form-data" => {
            let raw = value.to_str().unwrap_or("");
            let boundary = raw
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.trim().trim_matches('"').to_owned())
                .unwrap_or_default();
            Some(FormKind::Multipart(boundary))
        }
        "text/plain" | "" => Some(FormKind::Plain),
        // Anything else (JSON, XML...) cannot come from a cross-site form.
        _ => None,
    }
}

/// The first `csrf_token` value of an urlencoded body. `form_urlencoded`
/// yields each pair as slices of `body`, allocating only for a key or
/// value that needs decoding, and each pair is dropped before the next: a
/// body of a million empty pairs costs no memory beyond itself.
fn token_in_urlencoded(body: &[u8]) -> Option<Cow<'_, str>> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == FORM_FIELD)
        .map(|(_, v)| v)
}

fn token_in_multipart(body: &[u8], boundary: &str) -> Option<String> {
    if boundary.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    for part in text.split(delimiter.as_str()) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let named = head.lines().any(|line| {
            line.to_ascii_lowercase().starts_with("content-disposition")
                && line.contains(&format!("name=\"{FORM_FIELD}\""))
        });
        if named {
            return Some(value.trim_end_matches("\r\n").to_owned());
        }
    }
    None
}

/// The answer to a body larger than `limit`.
fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "The form is larger than {limit} bytes (SECURITY_MAX_FORM_BYTES): send less, or send the CSRF \
             token in the X-CSRF-Token header."
        ),
    )
        .into_response()
}

/// The declared `Content-Length`, when there is one that parses.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads `body`, at most `limit` bytes: 413 past the limit, 400 when the
/// body cannot be read (a malformed chunk, a client that went away).
async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, Response> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(e) => {
            tracing::debug!(target: "unchained_security", "reading a form body failed: {e}");
            Err((
                StatusCode::BAD_REQUEST,
                "The request body could not be read.",
            )
                .into_response())
        }
    }
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
        || path.starts_with(API_PREFIX)
        || config
            .csrf_exempt_paths
            .iter()
            .any(|p| !p.is_empty() && path.starts_with(p.as_str()))
}

/// Checks the CSRF token of `request` under `config`: `Ok` gives the
/// request back (its body rebuilt when it had to be read), `Err` is the
/// answer to send instead (400; 413 for a body over
/// `SECURITY_MAX_FORM_BYTES` that had to be read; or the session store's
/// error).
///
/// The session must already be in the request's extensions (the session
/// bundle's layer runs outside the security bundle's): without one an
/// unsafe form request is refused, never let through.
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
        Ok(Some(token)) => token,
        Ok(None) => return Err(failure()),
        Err(e) => return Err(e.into_response()),
    };
    let header_token = parts
        .headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(token) = header_token {
        if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
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
    let valid = sent.is_some_and(|token| constant_time_eq(token.as_bytes(), expected.as_bytes()));
    if valid {
        Ok(Request::from_parts(parts, Body::from(bytes)))
    } else {
        Err(failure())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_in_forms() {
        assert_eq!(
            token_in_urlencoded(b"email=a%40b.c&csrf_token=x-y_z%2B&p=1").as_deref(),
            Some("x-y_z+")
        );
        assert_eq!(token_in_urlencoded(b"email=a"), None);
        let body = "--XX\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhi\r\n--XX\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nTOKEN\r\n--XX--\r\n";
        assert_eq!(
            token_in_multipart(body.as_bytes(), "XX").as_deref(),
            Some("TOKEN")
        );
        assert_eq!(token_in_multipart(body.as_bytes(), ""), None);
    }

    #[test]
    fn the_token_is_found_without_copying_the_body() {
        // A plain token is borrowed from the body: nothing is allocated.
        let body = format!("{}csrf_token=abc-DEF_123", "a&".repeat(10_000));
        assert!(matches!(
            token_in_urlencoded(body.as_bytes()),
            Some(Cow::Borrowed("abc-DEF_123"))
        ));
        // Decoding stays lenient.
        assert_eq!(
            token_in_urlencoded(b"csrf_token=a%2").as_deref(),
            Some("a%2")
        );
        assert_eq!(
            token_in_urlencoded(b"csrf_token=%zz+b").as_deref(),
            Some("%zz b")
        );
        // The first one counts.
        assert_eq!(
            token_in_urlencoded(b"csrf_token=1&csrf_token=2").as_deref(),
            Some("1")
        );
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit() {
        assert_eq!(
            read_limited(Body::from("x".repeat(100)), 100)
                .await
                .unwrap()
                .len(),
            100
        );
        let refused = read_limited(Body::from("x".repeat(101)), 100)
            .await
            .unwrap_err();
        assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "10000000".parse().unwrap());
        assert_eq!(content_length(&headers), Some(10_000_000));
    }
}
