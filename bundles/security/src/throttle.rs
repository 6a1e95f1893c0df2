//! Brute-force protection: failed logins are counted per account (the
//! email tried, whether or not it exists) and per client address, in a
//! fixed window. Past the limit, login answers 429 until the window ends.
//!
//! Counters live in this process's memory: with several processes behind
//! a load balancer, each one counts on its own (limits multiply by the
//! number of processes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The address of a client whose address is not known.
pub const UNKNOWN_ADDRESS: &str = "unknown";

/// Most keys kept; past it, expired windows are dropped, then the oldest.
const MAX_KEYS: usize = 100_000;

/// Counts failed logins.
#[derive(Debug)]
pub struct LoginThrottle {
    per_account: u32,
    per_address: u32,
    window: Duration,
    counters: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Login is refused for now; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long until the window ends.
    pub retry_after: Duration,
}

impl LoginThrottle {
    /// Limits of `per_account` and `per_address` failures (0 = no limit)
    /// per `window`.
    pub fn new(per_account: u32, per_address: u32, window: Duration) -> Self {
        LoginThrottle {
            per_account,
            per_address,
            window,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// The counters a login touches, with their limits. An unknown client
    /// address (no proxy header configured and no peer address recorded)
    /// is not counted: one shared "unknown" counter would let a single
    /// attacker lock everybody out.
    fn keys(&self, account: &str, address: &str) -> Vec<(String, u32)> {
        let mut keys = vec![(format!("account:{account}"), self.per_account)];
        if address != UNKNOWN_ADDRESS {
            keys.push((format!("address:{address}"), self.per_address));
        }
        keys
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err` when the account or the address is over its limit.
    pub fn check(&self, account: &str, address: &str) -> Result<(), Throttled> {
        let now = Instant::now();
        let counters = self.lock();
        let mut worst: Option<Duration> = None;
        for (key, limit) in self.keys(account, address) {
            if limit == 0 {
                continue;
            }
            if let Some((start, count)) = counters.get(&key) {
                let elapsed = now.duration_since(*start);
                if elapsed < self.window && *count >= limit {
                    let left = self.window - elapsed;
                    worst = Some(worst.map_or(left, |w| w.max(left)));
                }
            }
        }
        match worst {
            Some(retry_after) => Err(Throttled { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts one failed login.
    pub fn record_failure(&self, account: &str, address: &str) {
        let now = Instant::now();
        let mut counters = self.lock();
        if counters.len() >= MAX_KEYS {
            let window = self.window;
            counters.retain(|_, (start, _)| now.duration_since(*start) < window);
            if counters.len() >= MAX_KEYS
                && let Some(oldest) = counters
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| k.clone())
            {
                counters.remove(&oldest);
            }
        }
        for (key, _) in self.keys(account, address) {
            let entry = counters.entry(key).or_insert((now, 0));
            if now.duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
    }

    /// Forgets the failures of `account` (after a successful login).
    pub fn reset_account(&self, account: &str) {
        self.lock().remove(&format!("account:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_account_and_per_address() {
        let t = LoginThrottle::new(2, 3, Duration::from_secs(60));
        assert!(t.check("a@x.org", "1.1.1.1").is_ok());
        t.record_failure("a@x.org", "1.1.1.1");
        t.record_failure("a@x.org", "1.1.1.1");
        let refused = t.check("a@x.org", "2.2.2.2").unwrap_err();
        assert!(refused.retry_after <= Duration::from_secs(60));
        // Another account from the same address still has one try left.
        assert!(t.check("b@x.org", "1.1.1.1").is_ok());
        t.record_failure("b@x.org", "1.1.1.1");
        assert!(
            t.check("c@x.org", "1.1.1.1").is_err(),
            "address limit reached"
        );
        assert!(t.check("c@x.org", "3.3.3.3").is_ok());
        t.reset_account("a@x.org");
        assert!(t.check("a@x.org", "4.4.4.4").is_ok());
    }

    #[test]
    fn windows_expire_and_zero_disables() {
        let t = LoginThrottle::new(1, 0, Duration::from_millis(30));
        t.record_failure("a", "ip");
        assert!(t.check("a", "ip").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(t.check("a", "ip").is_ok());
        let shared = LoginThrottle::new(0, 1, Duration::from_secs(60));
        shared.record_failure("a", UNKNOWN_ADDRESS);
        assert!(
            shared.check("b", UNKNOWN_ADDRESS).is_ok(),
            "unknown addresses share no counter"
        );
        let off = LoginThrottle::new(0, 0, Duration::from_secs(60));
        for _ in 0..10 {
            off.record_failure("a", "ip");
        }
        assert!(off.check("a", "ip").is_ok());
    }
}
