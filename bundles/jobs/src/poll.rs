//! [`EveryInterval`]: how often an idle worker asks its store for jobs.
//!
//! apalis 1.0's own interval strategy swaps in a fresh timer when one
//! fires and does not poll it, so the worker's waker is not registered
//! with the new timer. When the fetch that follows completes without ever
//! returning `Pending`, nothing wakes the worker again: it stops fetching
//! for good, with jobs waiting (our cron test caught two idle workers that
//! way). This strategy drains every elapsed tick in one call, which always
//! ends with a `Pending` poll of the timer, so the next tick is armed.

use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
use tokio::time::{Interval, MissedTickBehavior};

/// Wakes the worker every `period` (at least 1 ms).
#[derive(Debug)]
pub struct EveryInterval {
    period: Duration,
    interval: Option<Interval>,
}

impl EveryInterval {
    /// A strategy that polls every `period`.
    pub fn new(period: Duration) -> Self {
        EveryInterval {
            period: period.max(Duration::from_millis(1)),
            interval: None,
        }
    }
}

impl Clone for EveryInterval {
    fn clone(&self) -> Self {
        // A timer belongs to one worker: a clone starts its own.
        EveryInterval::new(self.period)
    }
}

impl PollStrategy for EveryInterval {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _snapshot: &PollSnapshot) -> Poll<Option<()>> {
        let period = self.period;
        let interval = self.interval.get_or_insert_with(|| {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        let mut fired = false;
        // Ends on `Pending`, which registers `cx`'s waker for the next tick.
        while interval.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_tick_is_armed_after_one_fires() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut strategy = EveryInterval::new(Duration::from_millis(100));
        let snapshot = PollSnapshot::default();
        // The first tick is immediate, and the call still arms the next.
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        for round in 1..=3 {
            tokio::time::advance(Duration::from_millis(100)).await;
            tokio::task::yield_now().await;
            assert_eq!(
                count.0.load(Ordering::SeqCst),
                round,
                "tick {round} woke the worker without being polled in between"
            );
            assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        }
    }
}
