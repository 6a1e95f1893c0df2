//! [`Ticker`]: the poll strategy the worker gives apalis: wake the fetch
//! loop every `JOBS_POLL_INTERVAL_MS`.
//!
//! apalis' own `IntervalStrategy` replaces its timer when it fires but does
//! not poll the new one, so no wake-up is registered for that round; when
//! the fetch that follows finds nothing, the worker sleeps until its next
//! heartbeat (30 s with the default visibility timeout: retries and cron
//! ticks ran that late, now and then, on every backend). This one always
//! leaves its timer registered.

use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};

/// Wakes the worker's fetch loop every interval.
#[derive(Debug)]
pub(crate) struct Ticker {
    interval: tokio::time::Interval,
}

impl Ticker {
    /// A ticker firing every `every` (at least 1 ms).
    pub(crate) fn new(every: Duration) -> Self {
        let mut interval = tokio::time::interval(every.max(Duration::from_millis(1)));
        // After a busy stretch, one wake-up is enough: no burst of missed ticks.
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticker { interval }
    }
}

impl PollStrategy for Ticker {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        // Poll until Pending: that last poll registers `cx`'s waker for the
        // next tick.
        while self.interval.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}
