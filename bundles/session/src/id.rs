//! Session ids: random, URL-safe, never taken from the client.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// Longest id accepted from a cookie, in characters (96 bytes encoded).
pub(crate) const MAX_ID_CHARS: usize = 128;
/// Shortest id accepted from a cookie (16 bytes encoded).
pub(crate) const MIN_ID_CHARS: usize = 22;

/// A new session id: `bytes` bytes from the thread-local CSPRNG
/// (ChaCha, seeded and reseeded from the operating system), encoded as
/// unpadded URL-safe base64, so 32 bytes give 43 characters.
///
/// ```
/// let id = unchained_session::generate_id(16);
/// assert_eq!(id.len(), 22);
/// assert!(unchained_session::is_valid_id(&id));
/// ```
pub fn generate_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes.max(crate::config::MIN_ID_BYTES)];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// Whether `id` has the shape of an id this crate makes: 22 to 128
/// characters of the URL-safe base64 alphabet. Stores refuse any other id,
/// so an id can never reach a file path or a Redis key unchecked.
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
    }
}
