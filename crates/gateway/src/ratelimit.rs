//! Rate limiting of repeated log lines, and the growing delay of a retried operation.
//!
//! An accept loop that fails (EMFILE, ENFILE, ENOBUFS…) must neither spin nor write a line
//! per failure: [`Backoff`] grows the delay between attempts and [`LogLimiter`] lets one
//! line through per interval, reporting how many it suppressed in between.

use std::time::{Duration, Instant};

/// Lets one occurrence through per `interval` and counts the ones it held back.
#[derive(Debug, Clone)]
pub struct LogLimiter {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter allowing one line per `interval`.
    pub fn new(interval: Duration) -> Self {
        LogLimiter {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Records one occurrence at `now` (the caller's clock, so tests can inject it). Returns
    /// `Some(suppressed)` when it should be logged, with the number held back since the last
    /// logged one; `None` when it is suppressed.
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// A delay that doubles from `min` up to `max` on each failure and resets on success.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Accept-loop defaults: 5 ms doubling to 1 s.
    pub fn accept() -> Self {
        Backoff::new(Duration::from_millis(5), Duration::from_secs(1))
    }

    /// A backoff from `min` to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The delay to wait after a failure; the following one is twice as long (up to `max`).
    pub fn fail(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// After a success the next failure waits `min` again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_suppressed_count() {
        let t0 = Instant::now();
        let mut lim = LogLimiter::new(Duration::from_secs(1));
        assert_eq!(lim.check(t0), Some(0));
        for ms in [1, 10, 500, 999] {
            assert_eq!(lim.check(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(lim.check(t0 + Duration::from_millis(1000)), Some(4));
        assert_eq!(lim.check(t0 + Duration::from_millis(1001)), None);
        assert_eq!(lim.check(t0 + Duration::from_millis(5000)), Some(1));
        assert_eq!(lim.check(t0 + Duration::from_millis(7000)), Some(0));
    }

    #[test]
    fn a_million_failures_in_a_second_log_once() {
        let t0 = Instant::now();
        let mut lim = LogLimiter::new(Duration::from_secs(1));
        let logged = (0..1_000_000u64)
            .filter(|i| lim.check(t0 + Duration::from_nanos(*i)).is_some())
            .count();
        assert_eq!(logged, 1);
        assert_eq!(lim.check(t0 + Duration::from_secs(1)), Some(999_999));
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::accept();
        let delays: Vec<u64> = (0..10).map(|_| b.fail().as_millis() as u64).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.fail(), Duration::from_millis(5));
    }
}
