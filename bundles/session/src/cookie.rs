//! Reading the session cookie from requests and writing `Set-Cookie`.

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, header};

use crate::config::SessionConfig;
use crate::id::SessionId;
use crate::signer::CookieSigner;

/// What the response does with the session cookie, as the end of the
/// request decided; the manager turns it into a `Set-Cookie` value.
#[derive(Debug, Default)]
pub(crate) enum CookieAction {
    /// Leave the browser's cookie as it is.
    #[default]
    Keep,
    /// Set the cookie to session `id`, expiring at `expires` (when the
    /// cookie is permanent).
    Set {
        /// The session.
        id: SessionId,
        /// The record's expiry.
        expires: DateTime<Utc>,
    },
    /// Delete the cookie.
    Expire,
}

/// Cookie values longer than this are refused unread (an id of 96 bytes
/// plus a signature is well under it).
pub(crate) const MAX_COOKIE_VALUE: usize = 256;

/// The `Cookie` headers of a request, kept unparsed: parsing happens only
/// if the handler touches the session.
#[derive(Debug, Default)]
pub(crate) struct RawCookies {
    /// The usual single `Cookie` header, kept without allocating.
    first: Option<HeaderValue>,
    /// Further `Cookie` headers (HTTP/2 may split cookies), rare.
    rest: Vec<HeaderValue>,
}

impl RawCookies {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        // Cloning a HeaderValue is a reference-count bump, not a copy.
        let mut all = headers.get_all(header::COOKIE).iter();
        RawCookies {
            first: all.next().cloned(),
            rest: all.cloned().collect(),
        }
    }

    /// The first value of cookie `name` that is a well-formed (and, with a
    /// signer, correctly signed) session id. Anything else is ignored:
    /// strict mode never adopts or echoes what the client sent.
    pub(crate) fn session_id(
        &self,
        name: &str,
        signer: Option<&CookieSigner>,
    ) -> Option<SessionId> {
        // Works on bytes: cookie names and ids are ASCII, and a header that
        // is not is simply skipped where it matters (the id check below).
        let name = name.as_bytes();
        for header in self.first.iter().chain(&self.rest) {
            for pair in header.as_bytes().split(|&b| b == b';') {
                let pair = pair.trim_ascii();
                let Some(value) = pair
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(b"="))
                else {
                    continue;
                };
                if value.len() > MAX_COOKIE_VALUE {
                    continue;
                }
                let value = value
                    .strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                    .unwrap_or(value);
                let Ok(value) = std::str::from_utf8(value) else {
                    continue;
                };
                let id = match signer {
                    Some(signer) => match signer.verify(value) {
                        Some(id) => id,
                        None => continue,
                    },
                    None => value,
                };
                // The edge: from here on the id is a checked `SessionId`.
                if let Some(id) = SessionId::parse(id) {
                    return Some(id);
                }
            }
        }
        None
    }
}

/// `Set-Cookie` for session `id`. `expires` is `None` for a browser-session
/// cookie (`SESSION_PERMANENT = false`).
pub(crate) fn set_cookie(
    config: &SessionConfig,
    signer: Option<&CookieSigner>,
    id: &str,
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<HeaderValue> {
    let value = match signer {
        Some(signer) => signer.sign(id),
        None => id.to_owned(),
    };
    let mut cookie = format!("{}={value}", config.cookie_name);
    if let Some(expires) = expires {
        let max_age = (expires - now).num_seconds().max(0);
        cookie.push_str(&format!(
            "; Expires={}; Max-Age={max_age}",
            http_date(expires)
        ));
    }
    attributes(config, &mut cookie);
    HeaderValue::from_str(&cookie).ok()
}

/// `Set-Cookie` that deletes the session cookie.
pub(crate) fn expire_cookie(config: &SessionConfig) -> Option<HeaderValue> {
    let mut cookie = format!(
        "{}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0",
        config.cookie_name
    );
    attributes(config, &mut cookie);
    HeaderValue::from_str(&cookie).ok()
}

fn attributes(config: &SessionConfig, cookie: &mut String) {
    if let Some(domain) = config.cookie_domain.as_deref().filter(|d| !d.is_empty()) {
        cookie.push_str("; Domain=");
        cookie.push_str(domain);
    }
    cookie.push_str("; Path=");
    cookie.push_str(if config.cookie_path.is_empty() {
        "/"
    } else {
        &config.cookie_path
    });
    if config.cookie_httponly {
        cookie.push_str("; HttpOnly");
    }
    if config.effective_secure() {
        cookie.push_str("; Secure");
    }
    cookie.push_str("; SameSite=");
    cookie.push_str(config.cookie_samesite.as_str());
}

fn http_date(t: DateTime<Utc>) -> String {
    // httpdate formats IMF-fixdate directly (chrono's `format` interprets
    // the pattern at run time, a measurable cost on every Set-Cookie).
    let secs = t.timestamp().max(0).unsigned_abs();
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(value: &str) -> RawCookies {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        RawCookies::from_headers(&headers)
    }

    #[test]
    fn expires_is_an_imf_fixdate() {
        let t = DateTime::parse_from_rfc3339("2026-11-26T18:05:09Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(http_date(t), "Thu, 26 Nov 2026 18:05:09 GMT");
        let config = SessionConfig::default();
        let header = set_cookie(&config, None, "abc", Some(t), t).unwrap();
        let text = header.to_str().unwrap();
        assert!(
            text.contains("; Expires=Thu, 26 Nov 2026 18:05:09 GMT; Max-Age=0"),
            "{text}"
        );
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let id = SessionId::generate(32);
        let raw = cookies(&format!("theme=dark; session={id}; other=1"));
        assert_eq!(raw.session_id("session", None), Some(id));
    }

    #[test]
    fn reads_cookies_split_over_several_headers() {
        let id = SessionId::generate(32);
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("session={id}")).unwrap(),
        );
        let raw = RawCookies::from_headers(&headers);
        assert_eq!(raw.session_id("session", None), Some(id));
        assert_eq!(
            RawCookies::from_headers(&HeaderMap::new()).session_id("session", None),
            None
        );
    }

    #[test]
    fn refuses_malformed_oversized_and_unsigned_values() {
        assert_eq!(cookies("session=short").session_id("session", None), None);
        let huge = "a".repeat(MAX_COOKIE_VALUE + 1);
        assert_eq!(
            cookies(&format!("session={huge}")).session_id("session", None),
            None
        );
        let signer = CookieSigner::new("k", &[]).unwrap();
        let id = SessionId::generate(32);
        assert_eq!(
            cookies(&format!("session={id}")).session_id("session", Some(&signer)),
            None
        );
        let signed = signer.sign(id.as_str());
        assert_eq!(
            cookies(&format!("session={signed}")).session_id("session", Some(&signer)),
            Some(id)
        );
    }

    #[test]
    fn set_cookie_has_secure_defaults() {
        let config = SessionConfig::default();
        let now = Utc::now();
        let value = set_cookie(
            &config,
            None,
            "abc",
            Some(now + chrono::Duration::seconds(60)),
            now,
        )
        .unwrap();
        let text = value.to_str().unwrap();
        assert!(text.starts_with("session=abc; Expires="), "{text}");
        assert!(text.contains("Max-Age=60"), "{text}");
        assert!(text.contains("; Path=/; HttpOnly; SameSite=Lax"), "{text}");
        assert!(!text.contains("Secure"), "{text}");
        let host = SessionConfig {
            cookie_name: "__Host-s".into(),
            ..SessionConfig::default()
        };
        let text = set_cookie(&host, None, "abc", None, now).unwrap();
        let text = text.to_str().unwrap();
        assert!(
            text.contains("; Secure") && !text.contains("Expires"),
            "{text}"
        );
        let gone = expire_cookie(&config).unwrap();
        assert!(gone.to_str().unwrap().contains("Max-Age=0"));
    }
}
