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
//! ```ignore
//! async fn form(csrf: CsrfToken, State(app): State<AppState>) -> Response {
//!     app.render("edit.html", minijinja::context! { csrf_token => csrf.0 })
//! }
//! // <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
//! ```

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Method, StatusCode, header};
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

/// Largest body buffered to find the token.
const MAX_FORM_BYTES: usize = 16 * 1024 * 1024;

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

fn token_in_urlencoded(body: &[u8]) -> Option<String> {
    form_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == FORM_FIELD)
        .map(|(_, v)| v)
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
/// answer to send instead (400, or the session store's error).
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
    let bytes = match to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response());
        }
    };
    let sent = match kind {
        FormKind::UrlEncoded => token_in_urlencoded(&bytes),
        FormKind::Multipart(boundary) => token_in_multipart(&bytes, &boundary),
        FormKind::Plain => None,
    };
    match sent {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(failure()),
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
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("a+b%20c"), "a b c");
    }
}
