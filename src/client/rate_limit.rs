//! Client-side rate limiting: a token bucket, as client-go's `flowcontrol` token bucket
//! (QPS 5, burst 10 by default).
//!
//! Every request (each retry included) takes one token before it is sent. Tokens refill
//! at `qps` per second up to `burst`. The bucket is `governor`'s (the GCRA form of a token
//! bucket), the same crate the work queue's overall limiter uses; a request that finds it
//! empty sleeps on the tokio timer until the bucket says a token is due, then asks again,
//! so the long-run rate never exceeds `qps`.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

/// Client-side rate limit settings for [`Config::rate_limit`](super::Config::rate_limit),
/// which is off by default. `RateLimit::default()` is client-go's: 5 requests a second,
/// bursts of 10.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub qps: f32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            qps: 5.0,
            burst: 10,
        }
    }
}

impl RateLimit {
    /// The `governor` quota of these settings (`qps` ≤ 0 or not a number is treated as
    /// 0.001, `burst` 0 as 1).
    pub(crate) fn quota(&self) -> Quota {
        quota(f64::from(self.qps), self.burst)
    }
}

/// A `governor` quota of `qps` tokens a second and bursts of `burst` (both clamped to
/// something the bucket can express: at least 0.001/s, at most one a nanosecond, burst ≥ 1).
pub(crate) fn quota(qps: f64, burst: u32) -> Quota {
    let qps = if qps.is_nan() {
        0.001
    } else {
        qps.clamp(0.001, 1e9)
    };
    let period = Duration::from_secs_f64(1.0 / qps).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    // `with_period` refuses only a zero period, excluded above.
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// A token bucket shared by every request of one client.
pub struct RateLimiter {
    bucket: DefaultDirectRateLimiter,
    limit: RateLimit,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A full bucket with these settings (`qps` ≤ 0 is treated as 0.001, `burst` 0 as 1).
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            bucket: governor::RateLimiter::direct(limit.quota()),
            limit,
        }
    }

    /// Takes a token if one is there; otherwise says how long until the next one is due
    /// (nothing is taken then).
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.bucket
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        while let Err(wait) = self.try_acquire() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let l = RateLimiter::new(RateLimit {
            qps: 10.0,
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(l.try_acquire(), Ok(()));
        }
        let w = l.try_acquire().unwrap_err();
        assert!(
            w > Duration::from_millis(80) && w <= Duration::from_millis(100),
            "{w:?}"
        );
        // Nothing was taken by the refused call: the next token is still ~100 ms away.
        let w = l.try_acquire().unwrap_err();
        assert!(w <= Duration::from_millis(100), "{w:?}");
    }

    #[test]
    fn odd_settings_are_clamped() {
        for (qps, burst) in [(0.0, 0), (-3.0, 1), (f32::NAN, 2), (f32::INFINITY, 5)] {
            let l = RateLimiter::new(RateLimit { qps, burst });
            assert_eq!(l.try_acquire(), Ok(()), "qps {qps} burst {burst}");
        }
    }
}
