//! Retries: which failed requests are tried again, and after how long.

use std::time::Duration;

/// When and how often to retry.
///
/// # Which requests are retried
///
/// A request is retried when the server answered `429 TooManyRequests` (any method: the
/// server refused it before doing anything) or a `5xx` other than `501` to an idempotent
/// request (`GET`, `HEAD`). The delay is the server's `Retry-After` when it gives one,
/// else exponential backoff with jitter. Non-idempotent requests (`POST`, `PUT`, `PATCH`,
/// `DELETE`) are never retried on `5xx`, since the server may have applied them.
///
/// A `GET` or `HEAD` whose connection broke before the whole answer came (reset, or
/// closed mid-response, as when a server restarts) is retried too, after the backoff, as
/// client-go does. Other requests that got no answer (refused connection, TLS failure,
/// timeout) are not retried here: the error goes back to the caller at once, and the
/// reflector decides (it resumes a watch in place after a refused connection, as
/// client-go does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 5; 0 switches retries off).
    pub max_retries: u32,
    /// First backoff (default 200 ms), doubled after each attempt.
    pub initial_backoff: Duration,
    /// Largest backoff (default 10 s).
    pub max_backoff: Duration,
    /// Largest `Retry-After` honoured (default 60 s); a longer one fails the request.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Default::default()
        }
    }

    /// The backoff before retry number `attempt` (0-based), with ±50% jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_backoff);
        let jitter = 0.5 + fastrand::f64();
        Duration::try_from_secs_f64(base.as_secs_f64() * jitter)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// Whether an attempt whose connection broke should be retried, and after how long.
    pub(crate) fn decide_broken(&self, attempt: u32, idempotent: bool) -> Option<Duration> {
        (idempotent && attempt < self.max_retries).then(|| self.backoff(attempt))
    }

    /// Whether a failed attempt should be retried, and after how long.
    pub(crate) fn decide(
        &self,
        attempt: u32,
        idempotent: bool,
        code: u16,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_retries {
            return None;
        }
        let retryable = match code {
            429 => true,
            c if (500..600).contains(&c) => idempotent && c != 501,
            _ => false,
        };
        if !retryable {
            return None;
        }
        match retry_after {
            Some(d) if d > self.max_retry_after => None,
            Some(d) => Some(d),
            None => Some(self.backoff(attempt)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_like_client_go() {
        let p = RetryPolicy::default();
        assert!(p.decide(0, true, 500, None).is_some());
        assert!(p.decide(0, false, 500, None).is_none());
        assert_eq!(
            p.decide(0, false, 429, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert!(p.decide(0, true, 404, None).is_none());
        assert!(p.decide(5, true, 503, None).is_none());
        assert!(p
            .decide(0, true, 429, Some(Duration::from_secs(600)))
            .is_none());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for a in 0..20 {
            let b = p.backoff(a);
            assert!(b <= p.max_backoff);
            assert!(b >= p.initial_backoff / 2);
        }
        let huge = RetryPolicy {
            initial_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            ..p
        };
        assert!(huge.backoff(3) >= Duration::MAX / 2, "no overflow");
    }
}
