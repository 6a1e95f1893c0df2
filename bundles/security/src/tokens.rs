//! Signed, expiring, single-use tokens for links sent by email (password
//! reset, email confirmation).
//!
//! A token is `base64url(payload).base64url(HMAC-SHA256(payload))` where
//! the payload names the purpose, the user, the expiry and a
//! *fingerprint* of the state the token may change: the current password
//! hash for a reset, the unconfirmed email for a confirmation. Using the
//! token changes that state, so the fingerprint no longer matches and the
//! token is dead: single use without storing tokens.
//!
//! The key is derived from `SECRET_KEY` (`SECRET_KEY_FALLBACKS` still
//! verify), separately from the cookie signer.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a token is for; a token for one purpose never passes for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenPurpose {
    /// `/reset-password/{token}`.
    ResetPassword,
    /// `/confirm/{token}`.
    ConfirmEmail,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::ResetPassword => "reset",
            TokenPurpose::ConfirmEmail => "confirm",
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Malformed, forged, for another purpose, or already used.
    #[error("invalid or already used link")]
    Invalid,
    /// Genuine but past its expiry.
    #[error("expired link")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    p: String,
    u: i32,
    x: i64,
    f: String,
}

/// A verified token's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The user the token was issued for.
    pub user_id: i32,
    /// The fingerprint to compare with [`TokenSigner::fingerprint`] of the
    /// user's current state.
    pub fingerprint: String,
}

/// Signs and verifies tokens.
/// Cheap to clone: the keys are shared.
#[derive(Clone)]
pub struct TokenSigner {
    /// The signing key.
    key: Arc<[u8]>,
    /// The signing key, then keys that only verify.
    keys: Arc<[Vec<u8>]>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("keys", &self.keys.len())
            .finish()
    }
}

fn derive(secret: &[u8]) -> Vec<u8> {
    let mut mac = TokenSigner::mac(secret);
    mac.update(b"unchained.bundles.security tokens v1");
    mac.finalize().into_bytes().to_vec()
}

impl TokenSigner {
    /// A signer from `SECRET_KEY` and its fallbacks (which only verify).
    pub fn new(secret: &str, fallbacks: &[&str]) -> Self {
        let key = derive(secret.as_bytes());
        let mut keys = vec![key.clone()];
        keys.extend(fallbacks.iter().map(|k| derive(k.as_bytes())));
        TokenSigner {
            key: key.into(),
            keys: keys.into(),
        }
    }

    /// A signer with a random key (development without `SECRET_KEY`):
    /// links die when the process restarts.
    pub fn random() -> Self {
        let key = crate::crypto::random_bytes::<32>();
        TokenSigner {
            key: key.to_vec().into(),
            keys: vec![key.to_vec()].into(),
        }
    }

    fn mac(key: &[u8]) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(key)
            // HMAC takes keys of any length: `new_from_slice` never fails.
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    /// A short keyed digest of `state`, e.g. the current password hash.
    pub fn fingerprint(&self, state: &str) -> String {
        Self::fingerprint_with(&self.key, state)
    }

    fn fingerprint_with(key: &[u8], state: &str) -> String {
        let mut mac = Self::mac(key);
        mac.update(b"fingerprint:");
        mac.update(state.as_bytes());
        crate::crypto::hex(&mac.finalize().into_bytes()[..12])
    }

    /// A token for `user_id` that expires `ttl_seconds` from now and is
    /// bound to `state`.
    pub fn sign(
        &self,
        purpose: TokenPurpose,
        user_id: i32,
        state: &str,
        ttl_seconds: u64,
    ) -> String {
        let expires =
            chrono::Utc::now().timestamp() + i64::try_from(ttl_seconds).unwrap_or(i64::MAX / 2);
        self.sign_at(purpose, user_id, state, expires)
    }

    fn sign_at(&self, purpose: TokenPurpose, user_id: i32, state: &str, expires: i64) -> String {
        let payload = Payload {
            p: purpose.as_str().to_owned(),
            u: user_id,
            x: expires,
            f: self.fingerprint(state),
        };
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let body = URL_SAFE_NO_PAD.encode(json);
        let mut mac = Self::mac(&self.key);
        mac.update(body.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// Checks the signature, purpose and expiry of `token`. The caller then
    /// compares [`TokenClaims::fingerprint`] with the user's current state.
    pub fn verify(&self, purpose: TokenPurpose, token: &str) -> Result<TokenClaims, TokenError> {
        if token.len() > 1024 {
            return Err(TokenError::Invalid);
        }
        let (body, sig) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Invalid)?;
        // `verify_slice` compares in constant time.
        let genuine = self.keys.iter().any(|key| {
            let mut mac = Self::mac(key);
            mac.update(body.as_bytes());
            mac.verify_slice(&sig).is_ok()
        });
        if !genuine {
            return Err(TokenError::Invalid);
        }
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Invalid)?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
        if payload.p != purpose.as_str() {
            return Err(TokenError::Invalid);
        }
        if payload.x <= chrono::Utc::now().timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(TokenClaims {
            user_id: payload.u,
            fingerprint: payload.f,
        })
    }

    /// The CSRF form token for the anonymous visitor whose CSRF cookie
    /// holds `seed`: a keyed digest, so a site that can plant a cookie but
    /// does not know `SECRET_KEY` cannot make the matching form token.
    pub fn csrf_token(&self, seed: &str) -> String {
        URL_SAFE_NO_PAD.encode(Self::csrf_digest(&self.key, seed))
    }

    fn csrf_digest(key: &[u8], seed: &str) -> Vec<u8> {
        let mut mac = Self::mac(key);
        mac.update(b"csrf:");
        mac.update(seed.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `token` is the CSRF form token of `seed` under the key or a
    /// fallback (constant-time compare).
    pub fn csrf_token_matches(&self, seed: &str, token: &str) -> bool {
        let Ok(sent) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        self.keys
            .iter()
            .any(|key| crate::crypto::constant_time_eq(&sent, &Self::csrf_digest(key, seed)))
    }

    /// Whether `claims` still match `state` (constant-time compare).
    pub fn matches(&self, claims: &TokenClaims, state: &str) -> bool {
        self.keys.iter().any(|key| {
            crate::crypto::constant_time_eq(
                claims.fingerprint.as_bytes(),
                Self::fingerprint_with(key, state).as_bytes(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bind_purpose_and_state() {
        let s = TokenSigner::new("secret", &[]);
        let t = s.sign(TokenPurpose::ResetPassword, 7, "hash-1", 60);
        let claims = s.verify(TokenPurpose::ResetPassword, &t).unwrap();
        assert_eq!(claims.user_id, 7);
        assert!(s.matches(&claims, "hash-1"));
        assert!(
            !s.matches(&claims, "hash-2"),
            "a changed state kills the token"
        );
        assert_eq!(
            s.verify(TokenPurpose::ConfirmEmail, &t),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn forged_expired_and_foreign_tokens_fail() {
        let s = TokenSigner::new("secret", &[]);
        let t = s.sign(TokenPurpose::ConfirmEmail, 1, "x", 60);
        let (body, sig) = t.split_once('.').unwrap();
        let mut forged = body.to_owned();
        forged.push('A');
        assert_eq!(
            s.verify(TokenPurpose::ConfirmEmail, &format!("{forged}.{sig}")),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            s.verify(TokenPurpose::ConfirmEmail, "garbage"),
            Err(TokenError::Invalid)
        );
        let other = TokenSigner::new("other", &[]);
        assert_eq!(
            other.verify(TokenPurpose::ConfirmEmail, &t),
            Err(TokenError::Invalid)
        );
        let old = s.sign_at(
            TokenPurpose::ConfirmEmail,
            1,
            "x",
            chrono::Utc::now().timestamp() - 1,
        );
        assert_eq!(
            s.verify(TokenPurpose::ConfirmEmail, &old),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_seed_and_the_key() {
        let s = TokenSigner::new("secret", &[]);
        let token = s.csrf_token("seed-1");
        assert_eq!(token.len(), 43);
        assert!(s.csrf_token_matches("seed-1", &token));
        assert!(!s.csrf_token_matches("seed-2", &token));
        assert!(!s.csrf_token_matches("seed-1", "seed-1"));
        assert!(!s.csrf_token_matches("seed-1", "not base64 !"));
        assert!(!TokenSigner::new("other", &[]).csrf_token_matches("seed-1", &token));
        // A rotated key keeps forms rendered before the rotation valid.
        let rotated = TokenSigner::new("new", &["secret"]);
        assert!(rotated.csrf_token_matches("seed-1", &token));
        assert_ne!(rotated.csrf_token("seed-1"), token);
    }

    #[test]
    fn fallback_keys_verify_but_do_not_sign() {
        let old = TokenSigner::new("old", &[]);
        let t = old.sign(TokenPurpose::ResetPassword, 3, "h", 60);
        let rotated = TokenSigner::new("new", &["old"]);
        let claims = rotated.verify(TokenPurpose::ResetPassword, &t).unwrap();
        assert!(rotated.matches(&claims, "h"));
        let t2 = rotated.sign(TokenPurpose::ResetPassword, 3, "h", 60);
        assert!(old.verify(TokenPurpose::ResetPassword, &t2).is_err());
    }
}
