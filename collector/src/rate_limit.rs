//! Per-source-address rate limiting (a token bucket per address), for
//! enrollment: whoever holds the fleet-wide enroll secret must not be able
//! to mint devices, or guess the secret, at full speed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Addresses tracked at most; past it, idle (full) buckets are dropped, and
/// if that is not enough every bucket is (a flood from many addresses then
/// gets one fresh burst each, never unbounded memory).
const MAX_TRACKED: usize = 65_536;

/// `per_minute` requests a minute per source, in bursts of up to as many.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` a minute per source (0: no limit).
    pub fn new(per_minute: u64) -> Self {
        RateLimiter {
            per_minute: u32::try_from(per_minute).unwrap_or(u32::MAX),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `source` at `now`; `Err` holds the whole seconds
    /// until one is available (for `Retry-After`).
    pub fn check(&self, source: IpAddr, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let burst = f64::from(self.per_minute);
        let per_second = burst / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&key(source)) {
            buckets.retain(|_, b| refilled(b, now, per_second, burst) < burst);
            if buckets.len() >= MAX_TRACKED {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key(source)).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        bucket.tokens = refilled(bucket, now, per_second, burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

fn refilled(b: &Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
    (b.tokens + elapsed * per_second).min(burst)
}

/// The bucket of an address: IPv6 hosts usually own a whole /64, so that
/// is one source.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_one_per_interval_per_source() {
        let limiter = RateLimiter::new(3);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(a, t0), Ok(()));
        }
        assert_eq!(limiter.check(a, t0), Err(20), "one token every 20 s");
        assert_eq!(limiter.check(b, t0), Ok(()), "another source");
        assert_eq!(limiter.check(a, t0 + Duration::from_secs(20)), Ok(()));
        assert!(limiter.check(a, t0 + Duration::from_secs(21)).is_err());
        // The burst never grows past its size.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limiter.check(a, later), Ok(()));
        }
        assert!(limiter.check(a, later).is_err());
        assert_eq!(RateLimiter::new(0).check(a, t0), Ok(()), "0: no limit");
    }

    #[test]
    fn an_ipv6_slash_64_is_one_source_and_memory_is_bounded() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        assert!(limiter.check("2001:db8::1".parse().unwrap(), t0).is_ok());
        assert!(limiter.check("2001:db8::2".parse().unwrap(), t0).is_err());
        assert!(
            limiter
                .check("2001:db8:0:1::1".parse().unwrap(), t0)
                .is_ok()
        );
        for i in 0..(MAX_TRACKED as u32 + 10) {
            let _ = limiter.check(IpAddr::V4(i.into()), t0);
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_TRACKED);
    }
}
