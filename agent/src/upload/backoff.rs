//! Exponential backoff with full jitter (delay uniform in `[0, min(cap, base·2ⁿ)]`),
//! so a fleet that lost its collector does not come back in lockstep.

use std::time::Duration;

use rand::Rng;

/// Backoff state for one delivery effort.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, doubling up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The ceiling of the next delay (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(30)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next delay: uniform in `[0, ceiling]`; advances the attempt counter.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The wait before the next try after a failure: the collector's
    /// `Retry-After` spread by [`spread_retry_after`] when it sent one,
    /// else [`Backoff::next_delay`].
    pub fn delay_after(&mut self, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => spread_retry_after(asked),
            None => self.next_delay(),
        }
    }
}

/// First delay of the service loop's retries after a failed delivery.
pub const SERVICE_RETRY_BASE: Duration = Duration::from_secs(1);

/// Longest delay of the service loop's retries.
pub const SERVICE_RETRY_CAP: Duration = Duration::from_secs(300);

/// The service loop's backoff ([`SERVICE_RETRY_BASE`] doubling up to
/// [`SERVICE_RETRY_CAP`]); the load generator retries the same way.
pub fn service_backoff() -> Backoff {
    Backoff::new(SERVICE_RETRY_BASE, SERVICE_RETRY_CAP)
}

/// How far past a `Retry-After` an agent may come back, as a fraction of it.
pub const RETRY_AFTER_SPREAD: f64 = 0.5;

/// `asked` plus a random part of up to [`RETRY_AFTER_SPREAD`] of it: never
/// earlier than the collector asked, and a fleet told "5 s" at the same
/// moment (a storm answered 429/503) comes back over 2.5 s, not at once.
pub fn spread_retry_after(asked: Duration) -> Duration {
    asked + asked.mul_f64(rand::rng().random_range(0.0..=RETRY_AFTER_SPREAD))
}

/// `d` scaled by a random factor in `[1 - fraction, 1 + fraction]` (report-interval jitter).
pub fn jittered(d: Duration, fraction: f64) -> Duration {
    let f = rand::rng().random_range((1.0 - fraction)..=(1.0 + fraction));
    d.mul_f64(f.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_cap_and_delays_stay_below_it() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            let ceiling = b.ceiling();
            ceilings.push(ceiling.as_secs());
            assert!(b.next_delay() <= ceiling);
        }
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), Duration::from_secs(60));
    }

    #[test]
    fn a_retry_after_is_kept_and_spread_over_half_of_it() {
        let asked = Duration::from_secs(4);
        let mut b = service_backoff();
        let delays: Vec<Duration> = (0..500).map(|_| b.delay_after(Some(asked))).collect();
        for d in &delays {
            assert!(*d >= asked && *d <= Duration::from_secs(6), "{d:?}");
        }
        // Spread, not lockstep: the delays cover most of [4 s, 6 s].
        let (min, max) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(
            *max - *min >= Duration::from_millis(1500),
            "{min:?}..{max:?}"
        );
        // Retry-After does not advance the exponential schedule.
        assert_eq!(b.ceiling(), SERVICE_RETRY_BASE);
    }

    #[test]
    fn without_retry_after_the_delay_is_full_jitter_backoff() {
        let mut b = service_backoff();
        let first: Vec<Duration> = (0..200)
            .map(|_| {
                let mut b = service_backoff();
                b.delay_after(None)
            })
            .collect();
        assert!(first.iter().all(|d| *d <= SERVICE_RETRY_BASE));
        // Spread over [0, 1 s], so a failed fleet does not retry in lockstep.
        assert!(first.iter().any(|d| *d < Duration::from_millis(250)));
        assert!(first.iter().any(|d| *d > Duration::from_millis(750)));
        b.delay_after(None);
        assert_eq!(b.ceiling(), SERVICE_RETRY_BASE * 2);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..200 {
            let d = jittered(Duration::from_secs(100), 0.1);
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
    }
}
