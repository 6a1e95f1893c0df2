//! Answering `GET /static/<name>`: the file (or its precompressed
//! version), its cache headers, and `304 Not Modified` for a client whose
//! copy is current.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use super::StaticAssets;
use super::index::{Contents, File, is_servable_name};
use super::mime::content_type;

/// `Cache-Control` of a response to a URL carrying the file's hash: the
/// URL changes with the content, so the browser never asks again.
pub(super) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The handler of `STATIC_URL_PATH/{*path}`.
pub(super) async fn serve(
    State(assets): State<StaticAssets>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let prefix = &assets.inner.config.url_path;
    let Some(name) = uri
        .path()
        .strip_prefix(prefix.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(percent_decode)
        .filter(|name| is_servable_name(name))
    else {
        return not_found();
    };
    let Some(found) = assets.inner.index.find(&name) else {
        return not_found();
    };

    let accepted = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (file, encoding) = match (&found.br, &found.gz) {
        (Some(br), _) if accepts(accepted, "br") => (br, Some("br")),
        (_, Some(gz)) if accepts(accepted, "gzip") => (gz, Some("gzip")),
        _ => (&found.file, None),
    };
    let has_variants = found.br.is_some() || found.gz.is_some();

    let hashed = query_param(uri.query(), "v") == Some(&*found.file.hash);
    let cache_control = if hashed {
        IMMUTABLE.to_owned()
    } else if assets.inner.config.max_age == 0 {
        "no-cache".to_owned()
    } else {
        format!("public, max-age={}", assets.inner.config.max_age)
    };
    // One tag per representation: the identity file's is its hash.
    let etag = match encoding {
        None => format!("\"{}\"", found.file.hash),
        Some(coding) => format!("\"{}.{coding}\"", found.file.hash),
    };
    let modified = whole_seconds(file.modified.max(found.file.modified));

    let mut response_headers = HeaderMap::new();
    insert(&mut response_headers, header::CACHE_CONTROL, &cache_control);
    insert(&mut response_headers, header::ETAG, &etag);
    insert(
        &mut response_headers,
        header::LAST_MODIFIED,
        &httpdate::fmt_http_date(modified),
    );
    if has_variants {
        insert(&mut response_headers, header::VARY, "Accept-Encoding");
    }

    if not_modified(&headers, &etag, modified) {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }

    let body = match read(file).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    insert(
        &mut response_headers,
        header::CONTENT_TYPE,
        content_type(&name),
    );
    insert(
        &mut response_headers,
        header::X_CONTENT_TYPE_OPTIONS,
        "nosniff",
    );
    if let Some(coding) = encoding {
        insert(&mut response_headers, header::CONTENT_ENCODING, coding);
    }
    (StatusCode::OK, response_headers, body).into_response()
}

/// The file's bytes; a file deleted since the index saw it is a 404.
async fn read(file: &File) -> Result<Body, Response> {
    match &file.contents {
        Contents::Embedded(bytes) => Ok(Body::from(*bytes)),
        Contents::Disk(path) => match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Body::from(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found()),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read a static file");
                Err((StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response())
            }
        },
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Whether the client's copy is current: `If-None-Match` lists the tag
/// (or `*`); without it, `If-Modified-Since` is not before `modified`.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
        let Ok(tags) = tags.to_str() else {
            return false;
        };
        // Weak comparison, as RFC 9110 asks for If-None-Match.
        return tags
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| modified <= since)
}

/// `time` without its fraction of a second, as HTTP dates carry it.
fn whole_seconds(time: SystemTime) -> SystemTime {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Whether an `Accept-Encoding` value allows `coding` (named, or `*`,
/// with a non-zero `q`).
fn accepts(header: &str, coding: &str) -> bool {
    let mut star = false;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case(coding) {
            return q > 0.0;
        }
        if name == "*" {
            star = q > 0.0;
        }
    }
    star
}

/// The value of `key` in a query string.
fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// `%XX` decoded; `None` for a bad escape or a name that is not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `name` with every byte outside `A-Z a-z 0-9 - . _ ~ /` percent-encoded,
/// for a URL.
pub(super) fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("br;q=0.5", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(accepts("*", "gzip"));
        assert!(!accepts("gzip;q=0, *", "gzip"));
        assert!(!accepts("", "br"));
        assert!(!accepts("identity", "gzip"));
    }

    #[test]
    fn decoding_and_encoding() {
        assert_eq!(percent_decode("a%20b.css").as_deref(), Some("a b.css"));
        assert_eq!(percent_decode("%2e%2e/x").as_deref(), Some("../x"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(encode_path("css/my file.css"), "css/my%20file.css");
        assert_eq!(query_param(Some("x=1&v=abc"), "v"), Some("abc"));
        assert_eq!(query_param(Some("vv=1"), "v"), None);
    }

    #[test]
    fn conditional_requests() {
        let modified = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(not_modified(&headers, "\"abc\"", modified));
        assert!(!not_modified(&headers, "\"abd\"", modified));

        let mut headers = HeaderMap::new();
        let date = httpdate::fmt_http_date(modified);
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&date).unwrap(),
        );
        assert!(not_modified(&headers, "\"abc\"", modified));
        assert!(!not_modified(
            &headers,
            "\"abc\"",
            modified + Duration::from_secs(1)
        ));
        // If-None-Match decides when both are present.
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"old\""));
        assert!(!not_modified(&headers, "\"abc\"", modified));
    }
}
