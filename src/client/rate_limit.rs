//! Client-side rate limiting: a token bucket, as client-go's `flowcontrol` token bucket
//! (QPS 5, burst 10 by default).
//!
//! Every request (each retry included) takes one token before it is sent. Tokens refill
//! at `qps` per second up to `burst`. A request that finds the bucket empty reserves the
//! next token and sleeps until it is due, so waiting requests are served in the order they
//! arrived and the long-run rate never exceeds `qps`.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Rate limit settings.
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

/// A token bucket shared by every request of one client.
#[derive(Debug)]
pub struct RateLimiter {
    qps: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket with these settings (`qps` ≤ 0 is treated as 0.001, `burst` 0 as 1).
    pub fn new(limit: RateLimit) -> Self {
        let burst = f64::from(limit.burst.max(1));
        RateLimiter {
            qps: f64::from(limit.qps).max(0.001),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes a token now, or says how long to wait for the reserved one.
    pub fn reserve(&self) -> Duration {
        let mut state = self.state.lock();
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(state.1).as_secs_f64();
        let tokens = (state.0 + elapsed * self.qps).min(self.burst) - 1.0;
        *state = (tokens, now);
        if tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-tokens / self.qps)
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
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
            assert_eq!(l.reserve(), Duration::ZERO);
        }
        let w = l.reserve();
        assert!(
            w > Duration::from_millis(90) && w <= Duration::from_millis(100),
            "{w:?}"
        );
        let w = l.reserve();
        assert!(
            w > Duration::from_millis(190) && w <= Duration::from_millis(200),
            "{w:?}"
        );
    }
}
