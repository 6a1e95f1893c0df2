//! Finding the token in a form body without copying the body, and
//! reading that body only up to `SECURITY_MAX_FORM_BYTES`.

use std::borrow::Cow;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use super::FORM_FIELD;

/// What kind of body a request has, for the check.
pub(super) enum FormKind {
    UrlEncoded,
    Multipart(String),
    Plain,
}

pub(super) fn form_kind(parts: &Parts) -> Option<FormKind> {
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
pub(super) fn token_in_urlencoded(body: &[u8]) -> Option<Cow<'_, str>> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == FORM_FIELD)
        .map(|(_, v)| v)
}

pub(super) fn token_in_multipart(body: &[u8], boundary: &str) -> Option<String> {
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
pub(super) fn too_large(limit: usize) -> Response {
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
pub(super) fn content_length(headers: &HeaderMap) -> Option<u64> {
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
pub(super) async fn read_limited(body: Body, limit: usize) -> Result<axum::body::Bytes, Response> {
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
