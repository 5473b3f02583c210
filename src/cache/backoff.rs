//! Exponential backoff with jitter that resets after a healthy period, as the reflector
//! uses between attempts (client-go's `ExponentialBackoffManager`).
//!
//! Each call to [`Backoff::next_delay`] returns the current step plus a random share of
//! it (the jitter) and doubles the step up to the cap. When the previous call was longer
//! ago than `reset_after`, the run of failures is over and the step starts again from
//! `initial`.

use std::time::{Duration, Instant};

use crate::client::random_unit;

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
        self.step = (self.step * 2).min(self.policy.max);
        step + step.mul_f64(self.policy.jitter.max(0.0) * random_unit())
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
}
