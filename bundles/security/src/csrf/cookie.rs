//! The CSRF cookie of visitors without a stored token: a random seed in a
//! cookie, and a form token that is a keyed digest of it (a signed
//! double-submit token). Checking it needs the cookie, the form and
//! `SECRET_KEY`, and nothing stored on the server, so an anonymous visitor
//! costs no session record.
//!
//! A cross-site form cannot read the cookie, and a site that manages to
//! plant one (a sibling subdomain, where the name has no `__Host-`
//! prefix) still cannot make the form token without the key.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue, header};
use unchained_session::config::SessionConfig;

use crate::crypto::random_token;
use crate::tokens::TokenSigner;

/// The cookie's name where cookies are not `Secure` (development).
pub const COOKIE_NAME: &str = "csrf_token";
/// The cookie's name where session cookies are `Secure` (production): the
/// `__Host-` prefix makes browsers refuse one set by a sibling subdomain
/// or for another path.
pub const HOST_COOKIE_NAME: &str = "__Host-csrf_token";

/// Length of a seed: [`random_token`] makes 43 base64url characters.
const SEED_LEN: usize = 43;

/// One request's CSRF cookie: the seed the request came with, and the one
/// issued (set on the response) when a form needed a token and the
/// request had none. The bundle's middleware puts it in the request's
/// extensions before the CSRF check.
pub struct CsrfCookie {
    signer: TokenSigner,
    settings: CookieSettings,
    incoming: Option<String>,
    issued: OnceLock<String>,
}

/// The cookie's attributes, which follow the session cookie's.
#[derive(Debug, Clone, Copy)]
pub struct CookieSettings {
    name: &'static str,
    secure: bool,
    same_site: &'static str,
    max_age: u64,
}

impl CookieSettings {
    /// The attributes under the session bundle's settings: `Secure`, and
    /// named `__Host-`, where session cookies are `Secure`; the session
    /// cookie's `SameSite` and lifetime; always `HttpOnly`, `Path=/` and
    /// no `Domain`.
    pub fn for_sessions(config: &SessionConfig) -> Self {
        let secure = config.effective_secure();
        CookieSettings {
            name: if secure {
                HOST_COOKIE_NAME
            } else {
                COOKIE_NAME
            },
            secure,
            same_site: config.cookie_samesite.as_str(),
            max_age: config.lifetime.as_secs(),
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl std::fmt::Debug for CsrfCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Seeds are secrets: only whether there is one is shown.
        f.debug_struct("CsrfCookie")
            .field("incoming", &self.incoming.is_some())
            .field("issued", &self.issued.get().is_some())
            .finish()
    }
}

impl CsrfCookie {
    /// The cookie of a request with `headers`; a value that is not a seed
    /// this bundle made is ignored (a new one is issued when needed).
    pub fn from_headers(
        signer: &TokenSigner,
        settings: CookieSettings,
        headers: &HeaderMap,
    ) -> Self {
        let name = settings.name;
        let incoming = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim_matches('"'))
            .filter(|v| is_seed(v))
            .map(str::to_owned);
        CsrfCookie {
            signer: signer.clone(),
            settings,
            incoming,
            issued: OnceLock::new(),
        }
    }

    /// The form token for this visitor, issuing a seed when the request had
    /// none.
    pub fn token(&self) -> String {
        let seed = match &self.incoming {
            Some(seed) => seed.as_str(),
            None => self.issued.get_or_init(random_token).as_str(),
        };
        self.signer.csrf_token(seed)
    }

    /// Whether `sent` is the form token of the seed the request came with
    /// (never of one issued during the request).
    pub fn accepts(&self, sent: &str) -> bool {
        self.incoming
            .as_deref()
            .is_some_and(|seed| self.signer.csrf_token_matches(seed, sent))
    }

    /// The `Set-Cookie` header for a seed issued during the request.
    pub fn set_cookie(&self) -> Option<HeaderValue> {
        let seed = self.issued.get()?;
        let CookieSettings {
            name,
            secure,
            same_site,
            max_age,
        } = self.settings;
        let secure = if secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={seed}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
        ))
        .ok()
    }
}

fn is_seed(value: &str) -> bool {
    value.len() == SEED_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_seeds_this_bundle_makes_are_read() {
        assert!(is_seed(&random_token()));
        assert!(!is_seed("short"));
        assert!(!is_seed(&"a".repeat(42)));
        assert!(!is_seed(&format!("{}=", "a".repeat(42))));
    }
}
