//! Exponential backoff with jitter that resets after a healthy period, as the reflector
//! uses between attempts (client-go's `ExponentialBackoffManager`).
//!
//! Each call to [`Backoff::next_delay`] returns the current step plus a random share of
//! it (the jitter) and doubles the step up to the cap. When the previous call was longer
//! ago than `reset_after`, the run of failures is over and the step starts again from
//! `initial`.

use std::time::{Duration, Instant};

/// The longest `Retry-After` a server can impose on a reflector (the same cap as the REST
/// client's default retry policy): a longer one, as a misbehaving proxy may send, is cut
/// to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a reflector waits between attempts.
///
/// The default is client-go's: 800 ms doubling up to 30 s, jitter 1.0 (each wait is
/// between one and two steps), reset after 2 minutes without a failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffPolicy {
    /// The first step.
    pub initial: Duration,
    /// The largest step.
    pub max: Duration,
    /// Share of a step added at random: a wait lies in `[step, step * (1 + jitter))`.
    pub jitter: f64,
    /// After this long without a wait, the next one starts again from `initial`.
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_millis(800),
            max: Duration::from_secs(30),
            jitter: 1.0,
            reset_after: Duration::from_secs(120),
        }
    }
}

/// The state of one run of attempts under a [`BackoffPolicy`].
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: BackoffPolicy,
    step: Duration,
    last: Option<Instant>,
}

impl Backoff {
    pub(crate) fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            step: policy.initial,
            last: None,
        }
    }

    /// The wait before the next attempt, at `now`.
    pub(crate) fn next_delay(&mut self, now: Instant) -> Duration {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) > self.policy.reset_after)
        {
            self.step = self.policy.initial;
        }
        self.last = Some(now);
        let step = self.step;
        self.step = self.step.saturating_mul(2).min(self.policy.max);
        // A jitter that is not a finite positive number adds nothing; a wait too long to
        // represent is the longest one.
        let jitter = Some(self.policy.jitter).filter(|j| j.is_finite() && *j > 0.0);
        let extra = jitter
            .and_then(|j| {
                Duration::try_from_secs_f64(step.as_secs_f64() * j * fastrand::f64()).ok()
            })
            .unwrap_or_default();
        step.saturating_add(extra)
    }

    /// `delay`, or the server's `retry_after` when that is longer, up to
    /// [`MAX_RETRY_AFTER`].
    pub(crate) fn honour(&self, delay: Duration, retry_after: Option<Duration>) -> Duration {
        delay.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
            jitter: 0.0,
            reset_after: Duration::from_secs(10),
        }
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::new(policy());
        let t = Instant::now();
        let waits: Vec<_> = (0..5).map(|_| b.next_delay(t).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 400, 400]);
    }

    #[test]
    fn resets_after_a_healthy_period() {
        let mut b = Backoff::new(policy());
        let t = Instant::now();
        b.next_delay(t);
        b.next_delay(t);
        assert_eq!(b.next_delay(t + Duration::from_secs(11)).as_millis(), 100);
    }

    #[test]
    fn jitter_stays_within_one_step() {
        let mut b = Backoff::new(BackoffPolicy {
            jitter: 1.0,
            ..policy()
        });
        let t = Instant::now();
        for i in 0..100 {
            let d = b.next_delay(t + Duration::from_secs(11 * i));
            assert!(d >= Duration::from_millis(100) && d < Duration::from_millis(200));
        }
    }

    #[test]
    fn extreme_policies_do_not_panic() {
        let mut b = Backoff::new(BackoffPolicy {
            initial: Duration::MAX / 2,
            max: Duration::MAX,
            jitter: f64::INFINITY,
            reset_after: Duration::MAX,
        });
        let t = Instant::now();
        for _ in 0..3 {
            assert!(b.next_delay(t) >= Duration::MAX / 2);
        }
        let mut nan = Backoff::new(BackoffPolicy {
            jitter: f64::NAN,
            ..policy()
        });
        assert_eq!(nan.next_delay(t), Duration::from_millis(100));
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let b = Backoff::new(policy());
        let ms = Duration::from_millis;
        assert_eq!(b.honour(ms(100), None), ms(100));
        assert_eq!(b.honour(ms(100), Some(ms(300))), ms(300));
        assert_eq!(
            b.honour(ms(100), Some(Duration::from_secs(86_400))),
            MAX_RETRY_AFTER
        );
        assert_eq!(b.honour(ms(500), Some(ms(300))), ms(500));
    }
}
