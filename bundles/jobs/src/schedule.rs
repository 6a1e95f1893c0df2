//! Cron jobs: [`Schedule`] (from `JOBS_SCHEDULE`, from code with
//! [`register_schedule!`](crate::register_schedule), or from a bundle such
//! as the session cleanup), and the loop a worker runs to enqueue ticks.
//!
//! Every worker process runs the loop, so that scheduling survives any one
//! of them. A tick still runs once: it is enqueued with the idempotency
//! key `cron:<name>:<tick unix time>`, and both backends refuse a second
//! job with the same key in the same queue (PostgreSQL: a unique index on
//! `(job_type, idempotency_key)`, whose violation this module treats as
//! "another worker was first"; SQLite: `ON CONFLICT DO NOTHING` on that
//! index). Workers need not agree on when they wake, only on the tick's
//! time, which comes from the expression (or interval) alone.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::envelope::Envelope;

/// When a schedule fires.
#[derive(Debug, Clone)]
pub enum When {
    /// A cron expression with seconds: `sec min hour day month weekday [year]`.
    Cron(Box<cron::Schedule>),
    /// Every `n` seconds, on multiples of `n` since the Unix epoch (so that
    /// every worker computes the same ticks).
    Every(Duration),
}

/// One scheduled job.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The schedule's name (in idempotency keys and logs).
    pub name: String,
    /// When it fires.
    pub when: When,
    /// The job it enqueues.
    pub envelope: Envelope,
}

/// Parses a cron expression; the error says what the format is.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expr).map_err(|e| {
        format!(
            "cron expression {expr:?} does not parse ({e}); write 6 or 7 fields with seconds first, \
             e.g. \"0 */5 * * * *\" for every five minutes"
        )
    })
}

impl Schedule {
    /// The first tick strictly after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.when {
            When::Cron(schedule) => schedule.after(&now).next(),
            When::Every(every) => {
                let step = every.as_secs().max(1) as i64;
                let next = (now.timestamp() / step + 1) * step;
                DateTime::from_timestamp(next, 0)
            }
        }
    }

    /// The idempotency key of the tick at `at`.
    pub fn key(&self, at: DateTime<Utc>) -> String {
        format!("cron:{}:{}", self.name, at.timestamp())
    }
}

/// A schedule registered in code, collected with [`inventory`]; made by
/// [`register_schedule!`](crate::register_schedule).
#[derive(Debug)]
pub struct ScheduleEntry {
    /// The schedule's name.
    pub name: &'static str,
    /// Its cron expression (checked when the app starts).
    pub cron: &'static str,
    /// Makes the job of one tick.
    pub make: fn() -> Result<Envelope, serde_json::Error>,
}

inventory::collect!(ScheduleEntry);

/// Registers a cron job in code: a name, a cron expression with seconds,
/// and an expression that makes the job of each tick.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct Report { kind: String }
/// # impl unchained_jobs::Job for Report {
/// #     const NAME: &'static str = "doc.report";
/// #     async fn run(self, _: unchained_jobs::JobContext) -> anyhow::Result<()> { Ok(()) }
/// # }
/// # unchained_jobs::register_job!(Report);
/// unchained_jobs::register_schedule!("nightly-report", "0 0 3 * * *", Report { kind: "daily".into() });
/// ```
#[macro_export]
macro_rules! register_schedule {
    ($name:expr, $cron:expr, $make:expr) => {
        const _: () = {
            fn __unchained_make_scheduled_job()
            -> ::std::result::Result<$crate::Envelope, $crate::__serde_json::Error> {
                $crate::Envelope::of(&$make)
            }
            $crate::__inventory::submit! {
                $crate::schedule::ScheduleEntry {
                    name: $name,
                    cron: $cron,
                    make: __unchained_make_scheduled_job,
                }
            }
        };
    };
}

/// The schedules registered in code, checked.
pub fn registered() -> Result<Vec<Schedule>, String> {
    inventory::iter::<ScheduleEntry>()
        .map(|entry| {
            let when = parse_cron(entry.cron)
                .map_err(|e| format!("register_schedule!({:?}): {e}", entry.name))?;
            let envelope = (entry.make)().map_err(|e| {
                format!(
                    "register_schedule!({:?}): the job does not serialize: {e}",
                    entry.name
                )
            })?;
            Ok(Schedule {
                name: entry.name.to_owned(),
                when: When::Cron(Box::new(when)),
                envelope,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(secs: u64) -> Schedule {
        Schedule {
            name: "t".into(),
            when: When::Every(Duration::from_secs(secs)),
            envelope: Envelope {
                name: "t".into(),
                payload: serde_json::Value::Null,
            },
        }
    }

    #[test]
    fn interval_ticks_are_the_same_for_every_worker() {
        let a = DateTime::from_timestamp(1_000_001, 0).unwrap();
        let b = DateTime::from_timestamp(1_000_009, 0).unwrap();
        let s = every(10);
        assert_eq!(s.next_after(a), s.next_after(b));
        assert_eq!(s.next_after(a).unwrap().timestamp(), 1_000_010);
        assert_eq!(s.key(s.next_after(a).unwrap()), "cron:t:1000010");
    }

    #[test]
    fn every_second_cron_fires_next_second() {
        let s = Schedule {
            when: When::Cron(Box::new(parse_cron("* * * * * *").unwrap())),
            ..every(1)
        };
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        assert_eq!(s.next_after(now).unwrap().timestamp(), 1_000_001);
        assert!(
            parse_cron("61 * * * *")
                .unwrap_err()
                .contains("seconds first")
        );
    }
}
