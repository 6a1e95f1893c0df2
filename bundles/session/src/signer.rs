//! Cookie signatures: HMAC-SHA256 with `SECRET_KEY`, verified against
//! `SECRET_KEY_FALLBACKS` too so keys rotate without logging anyone out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The purpose string each secret is bound to, so a signature made here
/// is worth nothing to another part of the app that uses `SECRET_KEY`.
const PURPOSE: &[u8] = b"unchained.session.cookie-signature";

/// Length of an encoded signature: 32 bytes in unpadded base64.
const SIG_CHARS: usize = 43;

/// Signs and verifies session cookies.
///
/// ```
/// use unchained_session::CookieSigner;
///
/// let old = CookieSigner::new("old-key", &[]).unwrap();
/// let new = CookieSigner::new("new-key", &["old-key"]).unwrap();
/// let value = old.sign("abcdefghijklmnopqrstuv");
/// // Signed with the previous key: still valid after rotation.
/// assert_eq!(new.verify(&value), Some("abcdefghijklmnopqrstuv"));
/// assert_eq!(new.verify("abcdefghijklmnopqrstuv.forged"), None);
/// ```
#[derive(Clone)]
pub struct CookieSigner {
    /// Derived keys, current first.
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for CookieSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSigner")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl CookieSigner {
    /// A signer with `secret` as current key and `fallbacks` as older keys
    /// that still verify. An empty secret is refused
    /// ([`SignerError::EmptySecret`]).
    pub fn new(secret: &str, fallbacks: &[&str]) -> Result<Self, SignerError> {
        if secret.is_empty() {
            return Err(SignerError::EmptySecret);
        }
        let keys = std::iter::once(secret)
            .chain(fallbacks.iter().copied().filter(|k| !k.is_empty()))
            .map(derive)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CookieSigner { keys })
    }

    /// `value.signature`, signed with the current key.
    pub fn sign(&self, value: &str) -> String {
        let mut mac = self.keys[0].clone();
        mac.update(value.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{value}.{sig}")
    }

    /// The value inside `signed` if any key's signature matches, compared
    /// in constant time.
    pub fn verify<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, sig) = signed.rsplit_once('.')?;
        if sig.len() != SIG_CHARS {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.keys
            .iter()
            .any(|key| {
                let mut mac = key.clone();
                mac.update(value.as_bytes());
                // `verify_slice` compares in constant time.
                mac.verify_slice(&sig).is_ok()
            })
            .then_some(value)
    }
}

/// Binds a configured secret to this crate's purpose.
fn derive(secret: &str) -> Result<HmacSha256, SignerError> {
    let mut outer = HmacSha256::new_from_slice(secret.as_bytes())
        .map_err(|e| SignerError::InvalidKey(e.to_string()))?;
    outer.update(PURPOSE);
    let derived = outer.finalize().into_bytes();
    HmacSha256::new_from_slice(&derived).map_err(|e| SignerError::InvalidKey(e.to_string()))
}

/// A [`CookieSigner`] cannot be made from the keys given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The current key is empty.
    #[error("SESSION_USE_SIGNER is on but SECRET_KEY is empty: set SECRET_KEY")]
    EmptySecret,
    /// HMAC refused a key (the message is the HMAC library's).
    #[error("{0}")]
    InvalidKey(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_is_detected() {
        let signer = CookieSigner::new("k", &[]).unwrap();
        let signed = signer.sign("abcdefghijklmnopqrstuvwx");
        assert_eq!(signer.verify(&signed), Some("abcdefghijklmnopqrstuvwx"));
        let mut tampered = signed.clone().into_bytes();
        tampered[0] = b'z';
        assert_eq!(signer.verify(std::str::from_utf8(&tampered).unwrap()), None);
        assert_eq!(signer.verify("abcdefghijklmnopqrstuvwx"), None);
        let other = CookieSigner::new("other", &[]).unwrap();
        assert_eq!(other.verify(&signed), None);
    }

    #[test]
    fn empty_secret_is_refused() {
        assert!(CookieSigner::new("", &[]).is_err());
    }
}
