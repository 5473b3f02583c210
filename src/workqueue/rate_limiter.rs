//! Rate limiters: how long an item waits before a retry (client-go's
//! `workqueue.TypedRateLimiter` and its implementations).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::DefaultDirectRateLimiter;
use parking_lot::Mutex;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Maps that held this many entries are shrunk when they empty, so that a drained queue
/// keeps no memory of a burst.
const SHRINK_ABOVE: usize = 1024;

/// Decides how long a failed item waits before it is retried.
///
/// Implementations must be cheap and must not call back into the queue: the queue asks
/// [`admit`](Self::admit) with its own lock held.
///
/// # The rate limiters
///
/// A limiter answers two questions. [`when`](RateLimiter::when) is asked once per
/// failure, when an item is handed to
/// [`WorkQueue::add_rate_limited`](super::WorkQueue::add_rate_limited): how long this item
/// should wait (per-item backoff). [`admit`](RateLimiter::admit) is asked when that wait
/// is over, before the item joins the queue: whether the overall rate allows it now, or
/// how long until it does. Splitting the two is what keeps an overall token bucket from
/// compounding (controller-runtime issue 1594): client-go's bucket reserves a future token
/// at every `when`, also for an item that is already waiting, so an item re-added faster
/// than the rate pushes every later retry further out, without bound. Here an item that is
/// already waiting keeps one place, and takes one token, when it is admitted.
pub trait RateLimiter<T>: Send + Sync + 'static {
    /// The per-item wait before `item` is retried; counts one failure of `item`.
    fn when(&self, item: &T) -> Duration;

    /// Asked when `item`'s per-item wait is over (it has waited `waited` since its
    /// failure): `Duration::ZERO` lets it into the queue now (taking a token from any
    /// overall bucket); otherwise the queue asks again after the returned time.
    fn admit(&self, item: &T, waited: Duration) -> Duration {
        let _ = (item, waited);
        Duration::ZERO
    }

    /// Forgets `item`'s failures (it succeeded, or was dropped): nothing of it is kept.
    fn forget(&self, item: &T);

    /// How many failures of `item` are counted.
    fn num_requeues(&self, item: &T) -> u32;
}

/// A boxed or shared limiter is a limiter.
macro_rules! forward_rate_limiter {
    ($($pointer:ident),*) => {$(
        impl<T, L: RateLimiter<T> + ?Sized> RateLimiter<T> for $pointer<L> {
            fn when(&self, item: &T) -> Duration {
                (**self).when(item)
            }
            fn admit(&self, item: &T, waited: Duration) -> Duration {
                (**self).admit(item, waited)
            }
            fn forget(&self, item: &T) {
                (**self).forget(item)
            }
            fn num_requeues(&self, item: &T) -> u32 {
                (**self).num_requeues(item)
            }
        }
    )*};
}

forward_rate_limiter!(Box, Arc);

/// Failure counts per item, shared by the per-item limiters.
struct Failures<T>(Mutex<FastMap<T, u32>>);

impl<T: Clone + Eq + Hash> Failures<T> {
    fn new() -> Self {
        Failures(Mutex::new(FastMap::default()))
    }

    /// Counts one more failure; returns the count before it.
    fn bump(&self, item: &T) -> u32 {
        let mut map = self.0.lock();
        if let Some(n) = map.get_mut(item) {
            let before = *n;
            *n = n.saturating_add(1);
            return before;
        }
        map.insert(item.clone(), 1);
        0
    }

    fn get(&self, item: &T) -> u32 {
        self.0.lock().get(item).copied().unwrap_or(0)
    }

    fn forget(&self, item: &T) {
        let mut map = self.0.lock();
        map.remove(item);
        if map.is_empty() && map.capacity() > SHRINK_ABOVE {
            map.shrink_to_fit();
        }
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.0.lock().capacity()
    }
}

/// Per-item exponential backoff: `base × 2^failures`, capped at `max` (client-go's
/// `ItemExponentialFailureRateLimiter`; the controller default is 5 ms to 1,000 s).
///
/// ```
/// use std::time::Duration;
/// use informer::workqueue::{ItemExponentialFailureRateLimiter, RateLimiter};
/// let l = ItemExponentialFailureRateLimiter::new(Duration::from_millis(5), Duration::from_secs(1000));
/// assert_eq!(l.when(&"a"), Duration::from_millis(5));
/// assert_eq!(l.when(&"a"), Duration::from_millis(10));
/// assert_eq!(l.when(&"b"), Duration::from_millis(5));
/// l.forget(&"a");
/// assert_eq!(l.num_requeues(&"a"), 0);
/// ```
pub struct ItemExponentialFailureRateLimiter<T> {
    base: Duration,
    max: Duration,
    failures: Failures<T>,
}

impl<T: Clone + Eq + Hash> ItemExponentialFailureRateLimiter<T> {
    /// Waits `base` after the first failure, doubling up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        ItemExponentialFailureRateLimiter {
            base,
            max,
            failures: Failures::new(),
        }
    }
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> RateLimiter<T>
    for ItemExponentialFailureRateLimiter<T>
{
    fn when(&self, item: &T) -> Duration {
        let exp = self.failures.bump(item);
        let factor = 2f64.powi(i32::try_from(exp).unwrap_or(i32::MAX));
        let secs = self.base.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    fn forget(&self, item: &T) {
        self.failures.forget(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.failures.get(item)
    }
}

/// `fast` for the first `max_fast_attempts` failures of an item, `slow` after them
/// (client-go's `ItemFastSlowRateLimiter`).
///
/// ```
/// use std::time::Duration;
/// use informer::workqueue::{ItemFastSlowRateLimiter, RateLimiter};
/// let l = ItemFastSlowRateLimiter::new(Duration::from_millis(5), Duration::from_secs(10), 2);
/// assert_eq!(l.when(&1), Duration::from_millis(5));
/// assert_eq!(l.when(&1), Duration::from_millis(5));
/// assert_eq!(l.when(&1), Duration::from_secs(10));
/// ```
pub struct ItemFastSlowRateLimiter<T> {
    fast: Duration,
    slow: Duration,
    max_fast_attempts: u32,
    failures: Failures<T>,
}

impl<T: Clone + Eq + Hash> ItemFastSlowRateLimiter<T> {
    /// `fast` for `max_fast_attempts` failures, then `slow`.
    pub fn new(fast: Duration, slow: Duration, max_fast_attempts: u32) -> Self {
        ItemFastSlowRateLimiter {
            fast,
            slow,
            max_fast_attempts,
            failures: Failures::new(),
        }
    }
}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> RateLimiter<T> for ItemFastSlowRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        if self.failures.bump(item) < self.max_fast_attempts {
            self.fast
        } else {
            self.slow
        }
    }

    fn forget(&self, item: &T) {
        self.failures.forget(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.failures.get(item)
    }
}

/// An overall token bucket: retries of all items together are admitted at `qps` per
/// second, with bursts of `burst` (client-go's `BucketRateLimiter`; the controller
/// default is 10/s, burst 100). The bucket is `governor`'s.
///
/// It adds no per-item wait ([`when`](RateLimiter::when) is zero); it paces items when
/// their per-item wait is over ([`admit`](RateLimiter::admit)), so an item re-added while
/// it waits takes one token, not one per re-add (see [`RateLimiter`]).
///
/// ```
/// use std::time::Duration;
/// use informer::workqueue::{BucketRateLimiter, RateLimiter};
/// let l = BucketRateLimiter::new(10.0, 2);
/// assert_eq!(l.admit(&"a", Duration::ZERO), Duration::ZERO);
/// assert_eq!(l.admit(&"b", Duration::ZERO), Duration::ZERO);
/// let wait = l.admit(&"c", Duration::ZERO);
/// assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
/// ```
pub struct BucketRateLimiter {
    bucket: DefaultDirectRateLimiter,
}

impl BucketRateLimiter {
    /// `qps` admissions a second, bursts of `burst` (`qps` ≤ 0 is treated as 0.001,
    /// `burst` 0 as 1).
    pub fn new(qps: f64, burst: u32) -> Self {
        BucketRateLimiter {
            bucket: governor::RateLimiter::direct(crate::client::rate_limit_quota(qps, burst)),
        }
    }
}

impl<T> RateLimiter<T> for BucketRateLimiter {
    fn when(&self, _item: &T) -> Duration {
        Duration::ZERO
    }

    fn admit(&self, _item: &T, _waited: Duration) -> Duration {
        match self.bucket.check() {
            Ok(()) => Duration::ZERO,
            // A wait that rounds to zero would be taken as an admission: ask again soon.
            Err(not_until) => not_until
                .wait_time_from(DefaultClock::default().now())
                .max(Duration::from_micros(1)),
        }
    }

    fn forget(&self, _item: &T) {}

    fn num_requeues(&self, _item: &T) -> u32 {
        0
    }
}

/// The worst of several limiters: the longest wait of all, the latest admission, the
/// highest failure count (client-go's `MaxOfRateLimiter`).
///
/// Every limiter is asked every time, so each counts the failure and each bucket that
/// admits takes its token even when another one refuses.
pub struct MaxOfRateLimiter<T> {
    limiters: Vec<Box<dyn RateLimiter<T>>>,
}

impl<T> MaxOfRateLimiter<T> {
    /// The worst of `limiters` (none: no wait at all).
    pub fn new(limiters: Vec<Box<dyn RateLimiter<T>>>) -> Self {
        MaxOfRateLimiter { limiters }
    }
}

impl<T: 'static> RateLimiter<T> for MaxOfRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        self.limiters
            .iter()
            .map(|l| l.when(item))
            .fold(Duration::ZERO, Duration::max)
    }

    fn admit(&self, item: &T, waited: Duration) -> Duration {
        self.limiters
            .iter()
            .map(|l| l.admit(item, waited))
            .fold(Duration::ZERO, Duration::max)
    }

    fn forget(&self, item: &T) {
        for l in &self.limiters {
            l.forget(item);
        }
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.limiters
            .iter()
            .map(|l| l.num_requeues(item))
            .max()
            .unwrap_or(0)
    }
}

/// Another limiter, but no item waits longer than `max_wait` in all, per-item wait and
/// admission together (client-go's `WithMaxWaitRateLimiter`). An item admitted because
/// its time is up does not take a bucket's token.
pub struct WithMaxWaitRateLimiter<T> {
    inner: Box<dyn RateLimiter<T>>,
    max_wait: Duration,
}

impl<T> WithMaxWaitRateLimiter<T> {
    /// `inner`, capped at `max_wait`.
    pub fn new(inner: Box<dyn RateLimiter<T>>, max_wait: Duration) -> Self {
        WithMaxWaitRateLimiter { inner, max_wait }
    }
}

impl<T: 'static> RateLimiter<T> for WithMaxWaitRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        self.inner.when(item).min(self.max_wait)
    }

    fn admit(&self, item: &T, waited: Duration) -> Duration {
        if waited >= self.max_wait {
            return Duration::ZERO;
        }
        let wait = self.inner.admit(item, waited);
        if wait.is_zero() {
            Duration::ZERO
        } else {
            wait.min(self.max_wait - waited)
        }
    }

    fn forget(&self, item: &T) {
        self.inner.forget(item);
    }

    fn num_requeues(&self, item: &T) -> u32 {
        self.inner.num_requeues(item)
    }
}

/// client-go's `DefaultControllerRateLimiter`: the worst of a per-item exponential
/// backoff (5 ms doubling to 1,000 s) and an overall bucket (10 retries/s, bursts of 100).
pub fn default_controller_rate_limiter<T>() -> MaxOfRateLimiter<T>
where
    T: Clone + Eq + Hash + Send + Sync + 'static,
{
    MaxOfRateLimiter::new(vec![
        Box::new(ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(5),
            Duration::from_secs(1000),
        )),
        Box::new(BucketRateLimiter::new(10.0, 100)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn exponential_sequence_and_cap() {
        let l = ItemExponentialFailureRateLimiter::new(ms(5), Duration::from_secs(1000));
        let got: Vec<_> = (0..5).map(|_| l.when(&"k")).collect();
        assert_eq!(got, [ms(5), ms(10), ms(20), ms(40), ms(80)]);
        assert_eq!(l.num_requeues(&"k"), 5);
        for _ in 0..30 {
            l.when(&"k");
        }
        assert_eq!(l.when(&"k"), Duration::from_secs(1000));
        // Billions of failures never overflow.
        for _ in 0..2000 {
            l.when(&"k");
        }
        assert_eq!(l.when(&"k"), Duration::from_secs(1000));
        l.forget(&"k");
        assert_eq!(l.num_requeues(&"k"), 0);
        assert_eq!(l.when(&"k"), ms(5));
    }

    #[test]
    fn fast_slow_sequence() {
        let l = ItemFastSlowRateLimiter::new(ms(5), ms(10_000), 3);
        let got: Vec<_> = (0..5).map(|_| l.when(&"k")).collect();
        assert_eq!(got, [ms(5), ms(5), ms(5), ms(10_000), ms(10_000)]);
        assert_eq!(l.num_requeues(&"k"), 5);
        l.forget(&"k");
        assert_eq!(l.when(&"k"), ms(5));
    }

    #[test]
    fn bucket_admits_a_burst_then_paces() {
        let l = BucketRateLimiter::new(10.0, 3);
        assert_eq!(RateLimiter::<u32>::when(&l, &1), Duration::ZERO);
        for i in 0..3u32 {
            assert_eq!(l.admit(&i, Duration::ZERO), Duration::ZERO);
        }
        let wait = l.admit(&9u32, Duration::ZERO);
        assert!(wait > ms(50) && wait <= ms(100), "{wait:?}");
        // A refusal takes nothing: asking again is no further out.
        let again = l.admit(&9u32, Duration::ZERO);
        assert!(again <= wait, "{again:?} > {wait:?}");
        std::thread::sleep(wait);
        assert_eq!(l.admit(&9u32, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn max_of_takes_the_worst() {
        let l = MaxOfRateLimiter::new(vec![
            Box::new(ItemFastSlowRateLimiter::new(ms(5), ms(30), 1)),
            Box::new(ItemExponentialFailureRateLimiter::new(ms(1), ms(1000))),
        ]);
        let got: Vec<_> = (0..7).map(|_| l.when(&"k")).collect();
        assert_eq!(got, [ms(5), ms(30), ms(30), ms(30), ms(30), ms(32), ms(64)]);
        assert_eq!(l.num_requeues(&"k"), 7);
        l.forget(&"k");
        assert_eq!(l.num_requeues(&"k"), 0);
        assert_eq!(l.when(&"k"), ms(5));
    }

    #[test]
    fn max_wait_caps_both_waits() {
        let l = WithMaxWaitRateLimiter::new(
            Box::new(MaxOfRateLimiter::new(vec![
                Box::new(ItemExponentialFailureRateLimiter::new(ms(100), ms(10_000))),
                Box::new(BucketRateLimiter::new(0.001, 1)),
            ])),
            ms(250),
        );
        assert_eq!(l.when(&"k"), ms(100));
        assert_eq!(l.when(&"k"), ms(200));
        assert_eq!(l.when(&"k"), ms(250));
        assert_eq!(l.admit(&"k", ms(0)), Duration::ZERO); // the bucket's one token
        assert_eq!(l.admit(&"k", ms(200)), ms(50)); // bucket empty for 1,000 s: capped
        assert_eq!(l.admit(&"k", ms(250)), Duration::ZERO); // its time is up
    }

    #[test]
    fn default_limiter_is_exponential_then_bucket() {
        let l = default_controller_rate_limiter::<&str>();
        assert_eq!(l.when(&"k"), ms(5));
        assert_eq!(l.when(&"k"), ms(10));
        for i in 0..100 {
            assert_eq!(l.admit(&"k", Duration::ZERO), Duration::ZERO, "token {i}");
        }
        let wait = l.admit(&"k", Duration::ZERO);
        assert!(wait > Duration::ZERO && wait <= ms(100), "{wait:?}");
    }

    #[test]
    fn forgotten_items_leave_nothing_behind() {
        let l = ItemExponentialFailureRateLimiter::new(ms(1), ms(10));
        for i in 0..100_000u32 {
            l.when(&i);
        }
        assert!(l.failures.capacity() >= 100_000);
        for i in 0..100_000u32 {
            l.forget(&i);
        }
        assert_eq!(l.failures.capacity(), 0);
    }
}
