//! Password hashing with argon2id (RustCrypto `argon2`), stored as PHC
//! strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
//!
//! Hashing is CPU- and memory-heavy on purpose, so it runs on tokio's
//! blocking pool. A hash made with weaker parameters than configured is
//! flagged by [`Verification::needs_rehash`], and login stores a new one.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub use crate::config::MAX_PASSWORD_CHARS;
use crate::config::SecurityConfig;
use crate::crypto::{hex, random_bytes};

/// The argon2 parameters the config asks for (see
/// [`SecurityConfig::argon2_params`]).
pub fn params(config: &SecurityConfig) -> Result<Params, argon2::Error> {
    config.argon2_params()
}

/// Hashing failed (a bug or a broken parameter set; never the user's fault).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The password matches.
    pub valid: bool,
    /// The hash is valid but made with other (weaker) parameters or another
    /// algorithm than configured: store a fresh hash.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with the configured argon2id parameters.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    dummy: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `params`; computes the dummy hash used when a login
    /// names an unknown email (so that it takes as long as a real one).
    pub fn new(params: Params) -> Result<Self, HashError> {
        let mut hasher = PasswordHasher {
            params,
            dummy: String::new(),
        };
        hasher.dummy = hasher.hash_blocking(&hex(&random_bytes::<24>()))?;
        Ok(hasher)
    }

    /// The configured parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` on the current thread (the CLI and tests);
    /// handlers use [`hash`](Self::hash).
    pub fn hash_blocking(&self, password: &str) -> Result<String, HashError> {
        let salt =
            SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| HashError(e.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Checks `password` against `stored` on the current thread. A stored
    /// value that is not a PHC string simply does not match.
    pub fn verify_blocking(&self, password: &str, stored: &str) -> Verification {
        let Ok(parsed) = PasswordHash::new(stored) else {
            // Still spend the time, so a broken row is not distinguishable.
            let _ = self.verify_dummy_blocking(password);
            return Verification {
                valid: false,
                needs_rehash: false,
            };
        };
        // Verification uses the parameters stored in the hash itself.
        let valid = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        let needs_rehash = valid && self.is_weaker(&parsed);
        Verification {
            valid,
            needs_rehash,
        }
    }

    fn is_weaker(&self, parsed: &PasswordHash<'_>) -> bool {
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return true;
        }
        if parsed.version != Some(Version::V0x13 as u32) {
            return true;
        }
        match Params::try_from(parsed) {
            Ok(stored) => {
                stored.m_cost() < self.params.m_cost()
                    || stored.t_cost() < self.params.t_cost()
                    || stored.p_cost() < self.params.p_cost()
            }
            Err(_) => true,
        }
    }

    fn verify_dummy_blocking(&self, password: &str) -> bool {
        match PasswordHash::new(&self.dummy) {
            Ok(parsed) => self
                .argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Hashes `password` on the blocking pool.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let hasher = self.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hasher.hash_blocking(&password))
            .await
            .map_err(|e| HashError(e.to_string()))?
    }

    /// Checks `password` against `stored` on the blocking pool.
    pub async fn verify(&self, password: &str, stored: &str) -> Verification {
        let hasher = self.clone();
        let (password, stored) = (password.to_owned(), stored.to_owned());
        tokio::task::spawn_blocking(move || hasher.verify_blocking(&password, &stored))
            .await
            .unwrap_or(Verification {
                valid: false,
                needs_rehash: false,
            })
    }

    /// Verifies `password` against a dummy hash and returns `false`: used
    /// when the account does not exist, so the response takes as long as
    /// for a real account.
    pub async fn verify_dummy(&self, password: &str) -> bool {
        let hasher = self.clone();
        let password = password.to_owned();
        let _ = tokio::task::spawn_blocking(move || hasher.verify_dummy_blocking(&password)).await;
        false
    }
}

/// Why a new password breaks the policy; the message is shown to the
/// user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Shorter than `SECURITY_PASSWORD_LENGTH_MIN`.
    #[error("Password must be at least {min} characters long.")]
    TooShort {
        /// The configured minimum.
        min: usize,
    },
    /// Longer than [`MAX_PASSWORD_CHARS`].
    #[error("Password must be at most {max} characters long.")]
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// Nothing but whitespace.
    #[error("Password must not be only spaces.")]
    Blank,
}

/// Checks a new password against the policy; the error is shown to the
/// user.
pub fn check_new_password(password: &str, min_chars: usize) -> Result<(), PolicyError> {
    let chars = password.chars().count();
    if chars < min_chars {
        return Err(PolicyError::TooShort { min: min_chars });
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PolicyError::TooLong {
            max: MAX_PASSWORD_CHARS,
        });
    }
    if password.trim().is_empty() {
        return Err(PolicyError::Blank);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(m: u32, t: u32) -> PasswordHasher {
        PasswordHasher::new(Params::new(m, t, 1, None).unwrap()).unwrap()
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let h = hasher(256, 1);
        let phc = h.hash_blocking("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert_eq!(
            h.verify_blocking("correct horse", &phc),
            Verification {
                valid: true,
                needs_rehash: false
            }
        );
        assert!(!h.verify_blocking("wrong horse", &phc).valid);
        assert!(!h.verify_blocking("x", "not a hash").valid);
        // Two hashes of one password differ (random salt).
        assert_ne!(phc, h.hash_blocking("correct horse").unwrap());
    }

    #[test]
    fn weaker_hashes_need_a_rehash() {
        let weak = hasher(128, 1).hash_blocking("pw-pw-pw-pw").unwrap();
        let strong = hasher(256, 2);
        assert_eq!(
            strong.verify_blocking("pw-pw-pw-pw", &weak),
            Verification {
                valid: true,
                needs_rehash: true
            }
        );
        // A wrong password never asks for a rehash.
        assert!(!strong.verify_blocking("nope", &weak).needs_rehash);
        // A stronger stored hash is kept.
        let stronger = hasher(512, 3).hash_blocking("pw-pw-pw-pw").unwrap();
        assert!(
            !strong
                .verify_blocking("pw-pw-pw-pw", &stronger)
                .needs_rehash
        );
    }

    #[test]
    fn policy_checks_length() {
        assert!(check_new_password("short", 8).is_err());
        assert!(check_new_password("long enough", 8).is_ok());
        assert!(check_new_password("        ", 8).is_err());
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_CHARS + 1), 8).is_err());
    }
}
