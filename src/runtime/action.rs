//! What a reconcile asks for next: [`Action`] after a success, [`Retry`] after an error.

use std::time::Duration;

/// What to do with a key after `reconcile` succeeded. Either way its failures are
/// forgotten (its next error backs off from the start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next change.
    Done,
    /// Reconcile again after this long (also when nothing changes), for example to poll
    /// something outside the cluster.
    RequeueAfter(Duration),
}

impl Action {
    /// [`Action::Done`].
    pub fn done() -> Self {
        Action::Done
    }

    /// [`Action::RequeueAfter`].
    pub fn requeue(after: Duration) -> Self {
        Action::RequeueAfter(after)
    }
}

/// What to do with a key after `reconcile` failed: the answer of the error policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Retry after the queue's rate limiter's backoff (5 ms doubling to 1,000 s, and
    /// 10 retries/s overall, by default).
    Backoff,
    /// Retry after this long instead of the backoff (the failure does not count toward
    /// the backoff or the retry limit).
    After(Duration),
    /// Do not retry; wait for the next change (the key's failures are forgotten).
    Never,
}
