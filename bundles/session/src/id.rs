//! [`SessionId`]: random, URL-safe session ids, never taken from the
//! client unchecked.
//!
//! An id is checked once, where it enters the crate: parsed from the
//! cookie (or from a store's own listing), or generated. Everything after
//! that edge (the manager, the commit engine, every store) takes a
//! [`SessionId`] and can rely on its shape, so an id can never reach a
//! file path, a Redis key or a SQL row unchecked.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// Longest id accepted from a cookie, in characters (96 bytes encoded).
pub(crate) const MAX_ID_CHARS: usize = 128;
/// Shortest id accepted from a cookie (16 bytes encoded).
pub(crate) const MIN_ID_CHARS: usize = 22;

/// A session id of the shape this crate makes: 22 to 128 characters of
/// the URL-safe base64 alphabet.
///
/// The only ways to get one are [`SessionId::parse`] (which checks the
/// shape) and [`SessionId::generate`], so holding one is proof that it
/// is safe to use as a file name or a key.
///
/// ```
/// use unchained_session::SessionId;
///
/// let id = SessionId::generate(16);
/// assert_eq!(id.as_str().len(), 22);
/// assert_eq!(SessionId::parse(id.as_str()), Some(id));
/// assert_eq!(SessionId::parse("../../etc/passwd"), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// `id` as a session id, or `None` if it does not have the shape of an
    /// id this crate makes (see [`is_valid_id`]).
    pub fn parse(id: &str) -> Option<SessionId> {
        is_valid_id(id).then(|| SessionId(id.to_owned()))
    }

    /// A new id: `bytes` bytes (at least 16) from the thread-local CSPRNG
    /// (ChaCha, seeded and reseeded from the operating system), encoded as
    /// unpadded URL-safe base64, so 32 bytes give 43 characters.
    pub fn generate(bytes: usize) -> SessionId {
        // At most 96 bytes (128 characters), the longest id `parse` takes,
        // so a generated id always parses back.
        SessionId(random_text(bytes.min(crate::config::MAX_ID_BYTES)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Printed like the string it wraps, as logs showed ids before the
        // newtype existed.
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SessionId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SessionId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

/// A new session id as a `String`: like [`SessionId::generate`], but
/// without the upper bound (`bytes` above 96 give an id that
/// [`SessionId::parse`] refuses; the manager never asks for that many).
///
/// ```
/// let id = unchained_session::generate_id(16);
/// assert_eq!(id.len(), 22);
/// assert!(unchained_session::is_valid_id(&id));
/// ```
pub fn generate_id(bytes: usize) -> String {
    random_text(bytes)
}

/// `bytes` (at least 16) random bytes as unpadded URL-safe base64.
fn random_text(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes.max(crate::config::MIN_ID_BYTES)];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// Whether `id` has the shape of an id this crate makes: 22 to 128
/// characters of the URL-safe base64 alphabet (what [`SessionId::parse`]
/// accepts, without making one).
pub fn is_valid_id(id: &str) -> bool {
    (MIN_ID_CHARS..=MAX_ID_CHARS).contains(&id.len())
        && id.bytes().all(|b| ID_ALPHABET[usize::from(b)])
}

/// `ID_ALPHABET[b]`: whether byte `b` may appear in an id (checked on
/// every request, so a table rather than three comparisons per byte).
const ID_ALPHABET: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_unique_and_url_safe() {
        let a = generate_id(32);
        let b = generate_id(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(is_valid_id(&a));
        // Never fewer than 128 bits, whatever is asked.
        assert_eq!(generate_id(4).len(), 22);
        assert!(SessionId::parse(SessionId::generate(1000).as_str()).is_some());
    }

    #[test]
    fn malformed_ids_are_refused() {
        assert!(!is_valid_id("short"));
        assert!(!is_valid_id(&"a".repeat(129)));
        assert!(!is_valid_id("../../../../etc/passwd/aaaaaaaaaaaaaaaa"));
        assert!(!is_valid_id("aaaaaaaaaaaaaaaaaaaaaaaaaa:owner"));
        assert!(!is_valid_id("aaaaaaaaaaaaaaaaaaaaaaaaaa=="));
        assert!(!is_valid_id("aaaaaaaaaaaaaaaaaaaaaaaaa\u{e9}"));
        assert!(is_valid_id("AZaz09-_AZaz09-_AZaz09"));
        assert!(SessionId::parse("short").is_none());
    }
}
