//! Password hashing with argon2id (RustCrypto `argon2`), stored as PHC
//! strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
//!
//! Hashing is CPU- and memory-heavy on purpose (argon2id holds
//! `SECURITY_PASSWORD_ARGON2_MEMORY_KIB`, 19 MiB by default, for the whole
//! hash), so it runs on [`HashLimits::concurrency`] threads of its own,
//! one hash each: a request waits at most [`HashLimits::wait`] for a
//! slot, then gets [`HasherBusy`] (503 with `Retry-After`). Without the
//! bound, a burst of logins started one hash per request on tokio's
//! blocking pool (up to 512 at once, ~10 GiB).
//!
//! Each thread keeps one argon2 buffer and reuses it for every hash: left
//! to the `argon2` crate, each hash allocates its buffer anew (64-byte
//! aligned), which fragments glibc's heap, and 2 slots still left
//! ~200 MiB resident after 200 logins. The threads are the hasher's own,
//! not tokio's blocking pool, so that the buffers are exactly one per
//! slot (the pool's threads come and go): 2 slots stay at 2 x 19 MiB.
//!
//! A hash made with weaker parameters than configured is flagged by
//! [`Verification::needs_rehash`], and login stores a new one.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::{
    Output, ParamsString, PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::SecurityConfig;
pub use crate::config::{HashLimits, MAX_CONCURRENCY, MAX_PASSWORD_CHARS, machine_parallelism};
use crate::crypto::{hex, random_bytes};

/// The argon2 parameters the config asks for (see
/// [`SecurityConfig::argon2_params`]).
pub fn params(config: &SecurityConfig) -> Result<Params, argon2::Error> {
    config.argon2_params()
}

/// Hashing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// A bug or a broken parameter set; never the user's fault.
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// Every hashing slot stayed taken for the configured wait.
    #[error(transparent)]
    Busy(#[from] HasherBusy),
}

/// Every hashing slot (`SECURITY_HASH_CONCURRENCY`) stayed taken for
/// `SECURITY_HASH_WAIT`: the server is at capacity. Answer 503 with
/// `Retry-After` rather than queueing without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "every password hashing slot stayed taken for {waited:?} (SECURITY_HASH_CONCURRENCY, SECURITY_HASH_WAIT): \
     the server is at capacity, retry after {retry_after:?}"
)]
pub struct HasherBusy {
    /// How long the request waited for a slot.
    pub waited: Duration,
    /// When to try again (the `Retry-After` header).
    pub retry_after: Duration,
}

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
///
/// Clones share one set of hashing slots ([`HashLimits`]); the blocking
/// (`*_blocking`) methods, for the CLI and start-up, do not take a slot.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    dummy: String,
    limits: HashLimits,
    pool: Arc<HashPool>,
}

/// Work for a hashing thread, given the thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// A hashing thread's argon2 memory, allocated at its first hash and
/// reused by every later one. Left to the `argon2` crate, each hash
/// allocates its 19 MiB anew, 64-byte aligned, and glibc's aligned
/// allocations fragment the heap: one thread doing 30 hashes in a row
/// grew the process by 116 MiB.
type Memory = Vec<Block>;

/// Runs argon2 into `out`, in `memory` when it is large enough (it is
/// grown once to the configured size, `configured_blocks`); a stored hash
/// made with more memory than configured gets a buffer for this hash only.
fn argon2_into(
    argon2: &Argon2<'_>,
    configured_blocks: usize,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Memory,
) -> Result<(), argon2::Error> {
    let needed = argon2.params().block_count();
    if memory.len() < needed && needed <= configured_blocks {
        memory.resize(configured_blocks, Block::default());
    }
    match memory.get_mut(..needed) {
        Some(blocks) => argon2.hash_password_into_with_memory(password, salt, out, blocks),
        None => argon2.hash_password_into(password, salt, out),
    }
}

/// The slots and the threads behind them: as many threads as slots,
/// started at the first hash (the CLI, which hashes on its own thread,
/// starts none); they end when the last clone of the hasher is dropped
/// (the channel closes).
struct HashPool {
    slots: Arc<Semaphore>,
    threads: usize,
    jobs: OnceLock<Sender<Job>>,
}

impl HashPool {
    fn new(threads: usize) -> Arc<Self> {
        Arc::new(HashPool {
            slots: Arc::new(Semaphore::new(threads)),
            threads,
            jobs: OnceLock::new(),
        })
    }

    fn jobs(&self) -> &Sender<Job> {
        self.jobs.get_or_init(|| start_threads(self.threads))
    }
}

/// Starts `n` threads taking jobs from one channel. If none can start,
/// the channel is closed and hashing fails (500) rather than waits.
fn start_threads(n: usize) -> Sender<Job> {
    let (sender, receiver) = std::sync::mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for i in 0..n {
        let receiver = Arc::clone(&receiver);
        let started = std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                let mut memory = Memory::new();
                loop {
                    // The lock is held only while waiting for a job.
                    let next = match receiver.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = next else { return };
                    // A panicking hash (a bug) loses its answer, not the
                    // thread.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
                }
            });
        if let Err(e) = started {
            tracing::error!(target: "unchained_security", "could not start a password hashing thread: {e}");
        }
    }
    sender
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `params` and [`HashLimits::for_this_machine`];
    /// computes the dummy hash used when a login names an unknown email
    /// (so that it takes as long as a real one).
    pub fn new(params: Params) -> Result<Self, HashError> {
        let limits = HashLimits::for_this_machine();
        let mut hasher = PasswordHasher {
            params,
            dummy: String::new(),
            limits,
            pool: HashPool::new(limits.concurrency),
        };
        hasher.dummy = hasher.hash_blocking(&hex(&random_bytes::<24>()))?;
        Ok(hasher)
    }

    /// The same hasher with other limits (and slots and threads of its
    /// own); a concurrency of 0 is taken as 1.
    pub fn with_limits(mut self, limits: HashLimits) -> Self {
        let limits = HashLimits {
            concurrency: limits.concurrency.clamp(1, MAX_CONCURRENCY),
            ..limits
        };
        self.limits = limits;
        self.pool = HashPool::new(limits.concurrency);
        self
    }

    /// The concurrency bound and the wait for a slot.
    pub fn limits(&self) -> HashLimits {
        self.limits
    }

    /// Runs `work` on a hashing thread once a slot is free (waiting at
    /// most `limits.wait`); the inner error says the thread failed.
    async fn run<T, F>(&self, work: F) -> Result<Result<T, String>, HasherBusy>
    where
        T: Send + 'static,
        F: FnOnce(&PasswordHasher, &mut Memory) -> T + Send + 'static,
    {
        let permit = self.slot().await?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        let hasher = self.clone();
        let job: Job = Box::new(move |memory: &mut Memory| {
            // The slot is freed when the work ends, not when the request
            // does: a dropped request's hash still holds its memory.
            let _permit = permit;
            let _ = answer.send(work(&hasher, memory));
        });
        if self.pool.jobs().send(job).is_err() {
            return Ok(Err("no password hashing thread is running".to_owned()));
        }
        Ok(answered
            .await
            .map_err(|_| "a password hashing thread failed".to_owned()))
    }

    /// A hashing slot, waiting at most `limits.wait`.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, HasherBusy> {
        let wait = self.limits.wait;
        let slots = &self.pool.slots;
        let permit = if wait.is_zero() {
            slots.clone().try_acquire_owned().ok()
        } else {
            tokio::time::timeout(wait, slots.clone().acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
        };
        permit.ok_or(HasherBusy {
            waited: wait,
            // The wait, rounded up to a second: by then the slots that
            // were taken have freed up several times over.
            retry_after: Duration::from_secs(wait.as_secs().max(1)),
        })
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
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|e| HashError::Failed(e.to_string()))?;
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError::Failed(e.to_string()))
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

    fn configured_blocks(&self) -> usize {
        self.params.block_count()
    }

    /// [`hash_blocking`](Self::hash_blocking) in a hashing thread's
    /// `memory`; the same PHC string as the `argon2` crate makes.
    fn hash_in(&self, password: &str, memory: &mut Memory) -> Result<String, HashError> {
        let failed = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| failed(&e))?;
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt
            .as_salt()
            .decode_b64(&mut salt_bytes)
            .map_err(|e| failed(&e))?;
        let argon2 = self.argon2();
        let output_len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = Output::init_with(output_len, |out| {
            argon2_into(
                &argon2,
                self.configured_blocks(),
                password.as_bytes(),
                salt_bytes,
                out,
                memory,
            )
            .map_err(Into::into)
        })
        .map_err(|e| failed(&e))?;
        let hash = PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| failed(&e))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` matches `parsed`, computed in `memory` (as
    /// `argon2`'s `verify_password`: the stored algorithm, version and
    /// parameters, outputs compared in constant time).
    fn matches_in(&self, password: &str, parsed: &PasswordHash<'_>, memory: &mut Memory) -> bool {
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from).transpose() {
            Ok(version) => version.unwrap_or_default(),
            Err(_) => return false,
        };
        let Ok(params) = Params::try_from(parsed) else {
            return false;
        };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
            return false;
        };
        let argon2 = Argon2::new(algorithm, version, params);
        let computed = Output::init_with(expected.len(), |out| {
            argon2_into(
                &argon2,
                self.configured_blocks(),
                password.as_bytes(),
                salt_bytes,
                out,
                memory,
            )
            .map_err(Into::into)
        });
        // `Output`'s equality is constant-time.
        computed.is_ok_and(|computed| computed == expected)
    }

    /// [`verify_blocking`](Self::verify_blocking) in a hashing thread's
    /// `memory`.
    fn verify_in(&self, password: &str, stored: &str, memory: &mut Memory) -> Verification {
        let Ok(parsed) = PasswordHash::new(stored) else {
            // Still spend the time, so a broken row is not distinguishable.
            let _ = self.verify_dummy_in(password, memory);
            return Verification {
                valid: false,
                needs_rehash: false,
            };
        };
        let valid = self.matches_in(password, &parsed, memory);
        Verification {
            valid,
            needs_rehash: valid && self.is_weaker(&parsed),
        }
    }

    fn verify_dummy_in(&self, password: &str, memory: &mut Memory) -> bool {
        match PasswordHash::new(&self.dummy) {
            Ok(parsed) => self.matches_in(password, &parsed, memory),
            Err(_) => false,
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

    /// Hashes `password` on a hashing thread, once a slot is free.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        match self
            .run(move |h, memory| h.hash_in(&password, memory))
            .await?
        {
            Ok(hashed) => hashed,
            Err(e) => Err(HashError::Failed(e)),
        }
    }

    /// Checks `password` against `stored` on a hashing thread, once a slot
    /// is free.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verification, HasherBusy> {
        let (password, stored) = (password.to_owned(), stored.to_owned());
        let checked = self
            .run(move |h, memory| h.verify_in(&password, &stored, memory))
            .await?;
        Ok(checked.unwrap_or(Verification {
            valid: false,
            needs_rehash: false,
        }))
    }

    /// Verifies `password` against a dummy hash: used when the account
    /// does not exist, so the response takes as long as for a real
    /// account. It takes a slot like a real check, so unknown emails
    /// cannot get around the bound (nor be told apart by it).
    pub async fn verify_dummy(&self, password: &str) -> Result<(), HasherBusy> {
        let password = password.to_owned();
        let _ = self
            .run(move |h, memory| h.verify_dummy_in(&password, memory))
            .await?;
        Ok(())
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

    #[tokio::test]
    async fn a_full_hasher_answers_busy_after_the_wait() {
        let h = hasher(64, 1).with_limits(HashLimits {
            concurrency: 1,
            wait: Duration::from_millis(50),
        });
        assert_eq!(h.limits().concurrency, 1);
        // The one slot is taken (as by a hash in progress).
        let taken = h.pool.slots.clone().try_acquire_owned().unwrap();
        let busy = h.verify_dummy("pw").await.unwrap_err();
        assert_eq!(busy.retry_after, Duration::from_secs(1));
        assert!(h.verify("pw", "x").await.is_err());
        assert!(matches!(h.hash("pw").await, Err(HashError::Busy(_))));
        // Zero wait: refused at once.
        let now = h.clone().with_limits(HashLimits {
            concurrency: 1,
            wait: Duration::ZERO,
        });
        let _taken_too = now.pool.slots.clone().try_acquire_owned().unwrap();
        assert!(now.verify_dummy("pw").await.is_err());
        // Once the slot is free, the work runs.
        drop(taken);
        assert!(h.verify_dummy("pw").await.is_ok());
        let phc = h.hash("pw-pw").await.unwrap();
        assert!(h.verify("pw-pw", &phc).await.unwrap().valid);
        // A concurrency of 0 is taken as 1.
        assert_eq!(
            h.with_limits(HashLimits {
                concurrency: 0,
                wait: Duration::ZERO
            })
            .limits()
            .concurrency,
            1
        );
    }

    #[test]
    fn hashes_in_reused_memory_match_the_argon2_crate() {
        let h = hasher(256, 1);
        let mut memory = Memory::new();
        let ours = h.hash_in("correct horse", &mut memory).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{ours}");
        assert_eq!(memory.len(), 256);
        // Each way round: the crate's verifier takes ours, ours takes the
        // crate's, with the same memory reused.
        assert!(h.verify_blocking("correct horse", &ours).valid);
        let theirs = h.hash_blocking("correct horse").unwrap();
        for phc in [&ours, &theirs] {
            assert_eq!(
                h.verify_in("correct horse", phc, &mut memory),
                Verification {
                    valid: true,
                    needs_rehash: false
                }
            );
            assert!(!h.verify_in("wrong horse", phc, &mut memory).valid);
        }
        assert!(!h.verify_in("x", "not a hash", &mut memory).valid);
        // Weaker and stronger stored hashes, as with the crate.
        let weak = hasher(128, 1).hash_blocking("pw").unwrap();
        assert!(h.verify_in("pw", &weak, &mut memory).needs_rehash);
        let strong = hasher(512, 2).hash_blocking("pw").unwrap();
        let checked = h.verify_in("pw", &strong, &mut memory);
        assert!(checked.valid && !checked.needs_rehash);
        // The larger hash got a buffer of its own; the kept one did not grow.
        assert_eq!(memory.len(), 256);
        assert!(!h.verify_dummy_in("pw", &mut memory));
    }

    #[test]
    fn policy_checks_length() {
        assert!(check_new_password("short", 8).is_err());
        assert!(check_new_password("long enough", 8).is_ok());
        assert!(check_new_password("        ", 8).is_err());
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_CHARS + 1), 8).is_err());
    }
}
