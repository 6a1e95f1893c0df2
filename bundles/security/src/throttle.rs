//! Brute-force protection for every route that checks a password (login,
//! HTML and API, and change-password): attempts are counted per account
//! (the email tried, whether or not it exists) and per client address, in
//! a fixed window. Past the limit, those routes answer 429 until the
//! window ends.
//!
//! An attempt is *reserved* before the password is hashed: the counter is
//! raised first, in one atomic statement, and the attempt goes on to the
//! hasher only when the raised count is within the limit. The reservation
//! counts as a failure until the outcome is known; a right password gives
//! it back ([`LoginThrottle::succeeded`]). So however many requests arrive
//! at once, at most `limit` of them per window reach password hashing: a
//! check-then-hash-then-record scheme lets every request that arrives
//! before the first failure is recorded through.
//!
//! Counters live in the bundle's `login_attempts` table
//! ([`crate::models::login_attempt`]), so the limits hold across every
//! process of an app that share its database. The security bundle always
//! has a database (it requires one at build time), so there is no
//! per-process fallback.
//!
//! Client addresses are counted as [`address_key`] names them: IPv4 by
//! address, IPv6 by its /64 prefix (one subscriber usually holds a whole
//! /64, so counting single IPv6 addresses would give one attacker 2^64
//! fresh counters).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};
use sha2::{Digest, Sha256};

use crate::crypto::hex;

/// The address of a client whose address is not known.
pub const UNKNOWN_ADDRESS: &str = "unknown";

/// Counts password attempts in the shared `login_attempts` table.
pub struct LoginThrottle {
    per_account: u32,
    per_address: u32,
    /// The window in milliseconds.
    window: i64,
    db: DatabaseConnection,
    /// When this process last deleted expired counters (Unix milliseconds).
    last_prune: AtomicI64,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("per_account", &self.per_account)
            .field("per_address", &self.per_address)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// The attempt is refused for now; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// How long until the window ends.
    pub retry_after: Duration,
}

/// Why an attempt could not be reserved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThrottleError {
    /// The account or the address is over its limit.
    #[error("too many attempts: try again in {} second(s)", .0.retry_after.as_secs())]
    Throttled(Throttled),
    /// The counters could not be read or written. The attempt is refused
    /// (a throttle that cannot count must not let attempts through).
    #[error(
        "the login throttle could not count the attempt in table login_attempts \
         (create it with `unchained db migrate` and `unchained db upgrade`): {0}"
    )]
    Store(#[from] DbErr),
}

/// One raised counter: its key and the window the raise counted in.
#[derive(Debug)]
struct Held {
    key: String,
    window_start: i64,
}

/// An attempt counted before the password is checked. Dropping it keeps
/// the attempt counted as a failure (a wrong password, or a request that
/// ended before its outcome was known); pass it to
/// [`LoginThrottle::succeeded`] when the password was right, or to
/// [`LoginThrottle::give_back`] when it was never checked.
#[derive(Debug, Default)]
pub struct Reservation {
    account: Option<Held>,
    address: Option<Held>,
}

/// The throttle's name for a client address: an IPv4 address as it is,
/// an IPv6 address by its /64 prefix (`2001:db8:1:2::/64`), an
/// IPv4-mapped IPv6 address as the IPv4 address. A port
/// (`[2001:db8::1]:443`, `1.2.3.4:80`) is dropped. Anything else (a value
/// a proxy header carried that is no address) is its own name.
pub fn address_key(address: &str) -> String {
    let ip = match address.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match address.parse::<SocketAddr>() {
            Ok(socket) => socket.ip(),
            Err(_) => return address.to_owned(),
        },
    };
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// The stored key of a counter: hex SHA-256 of its name, so the table
/// holds no email addresses and every key fits the column.
fn stored_key(name: &str) -> String {
    hex(&Sha256::digest(name.as_bytes()))
}

/// Now, in milliseconds since the Unix epoch: windows are kept to the
/// millisecond, so a window of one second lasts one second.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl LoginThrottle {
    /// Limits of `per_account` and `per_address` attempts (0 = no limit)
    /// per `window`, counted in `db`.
    pub fn new(
        db: DatabaseConnection,
        per_account: u32,
        per_address: u32,
        window: Duration,
    ) -> Self {
        LoginThrottle {
            per_account,
            per_address,
            window: i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1),
            db,
            last_prune: AtomicI64::new(0),
        }
    }

    /// Reserves one attempt for `account` (a normalized email) from
    /// `address`, before the password is hashed. An unknown client address
    /// is not counted: one shared "unknown" counter would let a single
    /// attacker lock everybody out.
    pub async fn reserve(
        &self,
        account: &str,
        address: &str,
    ) -> Result<Reservation, ThrottleError> {
        self.prune_now_and_then().await;
        let now = now_ms();
        let mut reservation = Reservation::default();
        let mut counters = Vec::with_capacity(2);
        if self.per_account > 0 {
            counters.push((true, format!("account:{account}"), self.per_account));
        }
        if self.per_address > 0 && address != UNKNOWN_ADDRESS {
            counters.push((
                false,
                format!("address:{}", address_key(address)),
                self.per_address,
            ));
        }
        for (is_account, name, limit) in counters {
            let key = stored_key(&name);
            // On an error the counters raised so far stay raised: failing
            // closed costs the user one attempt at most.
            let (attempts, window_start) = self.raise(&key, now).await?;
            let held = Held { key, window_start };
            if i64::from(attempts) > i64::from(limit) {
                // A refused attempt reaches no hasher, so it does not
                // count. Stopping at the first full counter also keeps a
                // flood on one account from raising the address counter
                // (which other accounts behind that address share).
                for raised in [reservation.account, Some(held)].into_iter().flatten() {
                    self.release(&raised).await;
                }
                let left_ms = (window_start.saturating_add(self.window) - now).max(1);
                return Err(ThrottleError::Throttled(Throttled {
                    retry_after: Duration::from_secs(left_ms.unsigned_abs().div_ceil(1000)),
                }));
            }
            if is_account {
                reservation.account = Some(held);
            } else {
                reservation.address = Some(held);
            }
        }
        Ok(reservation)
    }

    /// The password was right: forgets the account's failures (as a
    /// successful login always did) and gives the address its attempt back.
    /// A failure is logged only: the worst it does is count one attempt
    /// too many.
    pub async fn succeeded(&self, reservation: Reservation) {
        if let Some(account) = reservation.account {
            let delete = Statement::from_sql_and_values(
                self.backend(),
                self.sql("DELETE FROM login_attempts WHERE throttle_key = ?"),
                [Value::from(account.key)],
            );
            if let Err(e) = self.db.execute_raw(delete).await {
                tracing::warn!(target: "unchained_security", "could not reset an account's login throttle: {e}");
            }
        }
        if let Some(address) = reservation.address {
            self.release(&address).await;
        }
    }

    /// The attempt never reached the hasher (the server was at its
    /// hashing capacity): gives its attempt back to every counter, as if
    /// it had not been made. A failure is logged only.
    pub async fn give_back(&self, reservation: Reservation) {
        for held in [reservation.account, reservation.address]
            .into_iter()
            .flatten()
        {
            self.release(&held).await;
        }
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// `sql` with `?` placeholders, numbered (`$1`, `$2`, ...) for
    /// PostgreSQL.
    fn sql(&self, sql: &str) -> String {
        if self.backend() != DbBackend::Postgres {
            return sql.to_owned();
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Raises counter `key` by one, starting a new window when its window
    /// is over; returns the new count and the window's start. One atomic
    /// statement on SQLite and PostgreSQL (an upsert with `RETURNING`); on
    /// MySQL, which has no `RETURNING`, the upsert and a read of the row
    /// in one transaction: the upsert's row lock keeps other raises out
    /// until the read is done.
    async fn raise(&self, key: &str, now: i64) -> Result<(i32, i64), DbErr> {
        let expired = now.saturating_sub(self.window);
        let backend = self.backend();
        // Both SET clauses compare the old window_start: MySQL assigns left
        // to right, so `attempts` (which does not change window_start)
        // comes first on every backend.
        let values = || {
            vec![
                Value::from(key.to_owned()),
                Value::from(now),
                Value::from(expired),
                Value::from(expired),
                Value::from(now),
            ]
        };
        let row = if backend == DbBackend::MySql {
            let upsert = Statement::from_sql_and_values(
                backend,
                "INSERT INTO login_attempts (throttle_key, window_start, attempts) VALUES (?, ?, 1) \
                 ON DUPLICATE KEY UPDATE \
                 attempts = IF(window_start <= ?, 1, attempts + 1), \
                 window_start = IF(window_start <= ?, ?, window_start)",
                values(),
            );
            let read = Statement::from_sql_and_values(
                backend,
                "SELECT attempts, window_start FROM login_attempts WHERE throttle_key = ? FOR UPDATE",
                [Value::from(key.to_owned())],
            );
            let txn = self.db.begin().await?;
            txn.execute_raw(upsert).await?;
            let row = txn.query_one_raw(read).await?;
            txn.commit().await?;
            row
        } else {
            let upsert = Statement::from_sql_and_values(
                backend,
                self.sql(
                    "INSERT INTO login_attempts (throttle_key, window_start, attempts) VALUES (?, ?, 1) \
                     ON CONFLICT (throttle_key) DO UPDATE SET \
                     attempts = CASE WHEN login_attempts.window_start <= ? THEN 1 ELSE login_attempts.attempts + 1 END, \
                     window_start = CASE WHEN login_attempts.window_start <= ? THEN ? ELSE login_attempts.window_start END \
                     RETURNING attempts, window_start",
                ),
                values(),
            );
            self.db.query_one_raw(upsert).await?
        };
        let row =
            row.ok_or_else(|| DbErr::RecordNotFound("the raised login_attempts row".into()))?;
        Ok((
            row.try_get("", "attempts")?,
            row.try_get("", "window_start")?,
        ))
    }

    /// Gives back one attempt of `held`, if its window is still the one it
    /// counted in. A failure is logged only (the count stays one higher).
    async fn release(&self, held: &Held) {
        let release = Statement::from_sql_and_values(
            self.backend(),
            self.sql(
                "UPDATE login_attempts SET attempts = attempts - 1 \
                 WHERE throttle_key = ? AND window_start = ? AND attempts > 0",
            ),
            [
                Value::from(held.key.clone()),
                Value::from(held.window_start),
            ],
        );
        if let Err(e) = self.db.execute_raw(release).await {
            tracing::warn!(target: "unchained_security", "could not give back a login throttle attempt: {e}");
        }
    }

    /// Deletes expired counters, at most once per window per process, so
    /// the table holds roughly one window's worth of keys.
    async fn prune_now_and_then(&self) {
        let now = now_ms();
        let last = self.last_prune.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.window
            || self
                .last_prune
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let prune = Statement::from_sql_and_values(
            self.backend(),
            self.sql("DELETE FROM login_attempts WHERE window_start <= ?"),
            [Value::from(now.saturating_sub(self.window))],
        );
        if let Err(e) = self.db.execute_raw(prune).await {
            tracing::warn!(target: "unchained_security", "could not delete expired login throttle counters: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_counts_by_address_and_ipv6_by_its_64_prefix() {
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_ne!(address_key("203.0.113.7"), address_key("203.0.113.8"));
        assert_eq!(address_key("203.0.113.7:8080"), "203.0.113.7");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "one /64, one counter"
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1"),
            "another /64, another counter"
        );
        assert_eq!(address_key("[2001:db8:1:2::9]:443"), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:198.51.100.4"), "198.51.100.4");
        assert_eq!(address_key("::1"), "::/64");
        assert_eq!(address_key("not-an-address"), "not-an-address");
    }

    #[test]
    fn stored_keys_are_fixed_length_hashes() {
        let key = stored_key("account:ann@example.com");
        assert_eq!(key.len(), 64);
        assert!(!key.contains("ann"));
        assert_ne!(key, stored_key("address:ann@example.com"));
    }
}
