//! [`WorkQueue`]: client-go's rate-limiting, delaying work queue in one type.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::metrics::{DurationStats, QueueMetrics};
use super::rate_limiter::{default_controller_rate_limiter, RateLimiter};
use super::waiting::{Waiting, SHRINK_ABOVE};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What a work queue can hold: a key, cheap to clone and compare.
pub trait QueueItem: Clone + Eq + Hash + Debug + Send + Sync + 'static {}
impl<T: Clone + Eq + Hash + Debug + Send + Sync + 'static> QueueItem for T {}

/// Called with an item dropped after its retry limit.
type OnDrop<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// A work queue (client-go's `workqueue.TypedRateLimitingInterface`): deduplicating,
/// fair, delaying and rate-limited, generic over the item.
///
/// The rules a controller relies on:
/// - an item added while it is queued is queued once;
/// - an item is never held by two workers at once: added while a worker holds it, it is
///   queued again once that worker is [done](WorkItem::done) with it, and handed out once
///   more, however often it was added meanwhile;
/// - [`get`](Self::get) returns a [`WorkItem`] guard that marks the item done when it is
///   dropped, so an early return or a panic never leaves an item stuck (the classic
///   client-go bug of a forgotten `Done`);
/// - after [`shut_down`](Self::shut_down), adds are ignored, `get` still hands out what is
///   queued and then returns `None`.
///
/// The handle is cheap to clone; every clone is the same queue.
///
/// ```
/// use std::time::Duration;
/// use informer::workqueue::WorkQueue;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let queue = WorkQueue::new("example");
/// queue.add("default/web".to_string());
/// queue.add("default/web".to_string()); // already queued: still one
/// assert_eq!(queue.len(), 1);
///
/// let item = queue.get().await.expect("not shut down");
/// assert_eq!(*item, "default/web");
/// queue.add("default/web".to_string()); // held: queued again once it is done
/// assert_eq!(queue.len(), 0);
/// item.done();
/// assert_eq!(queue.len(), 1);
///
/// // A failure: retried after the rate limiter's backoff (5 ms, 10 ms, ...).
/// let item = queue.get().await.unwrap();
/// queue.add_rate_limited(item.clone());
/// assert_eq!(queue.num_requeues(&item), 1);
/// drop(item); // done
/// let again = queue.get().await.unwrap();
/// queue.forget(&again); // it succeeded: its backoff starts over
///
/// queue.shut_down();
/// drop(again);
/// assert!(queue.get().await.is_none());
/// # }
/// ```
///
/// # How it works
///
/// An item passes through up to four places: *waiting* for its time ([`add_after`],
/// [`add_rate_limited`]), *queued* in first-in first-out order, *processing* while a
/// worker holds it (a [`WorkItem`] guard), and *dirty* when it was added again while
/// queued or held. All four sit under one lock; getters sleep on a [`Notify`] until an item
/// is queued, the earliest waiting item is due, or the queue shuts down. There is no
/// background task: waiting items are moved to the queue by whoever asks (`get`, `len`,
/// `metrics`) once they are due, so a queue needs no runtime until something awaits it.
/// Delays are measured on tokio's clock (`tokio::time::Instant`, which a test may pause);
/// the overall token bucket measures real time.
///
/// [`add_after`]: WorkQueue::add_after
/// [`add_rate_limited`]: WorkQueue::add_rate_limited
pub struct WorkQueue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        WorkQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<T: QueueItem> Debug for WorkQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.state.lock();
        f.debug_struct("WorkQueue")
            .field("name", &self.inner.name)
            .field("queued", &s.queue.len())
            .field("processing", &s.held)
            .field("waiting", &s.waiting.len())
            .field("shutting_down", &s.shutting_down)
            .finish_non_exhaustive()
    }
}

struct Inner<T> {
    name: String,
    state: Mutex<State<T>>,
    /// Getters wait here.
    getters: Notify,
    /// `shut_down_with_drain` waits here for the last item in process.
    idle: Notify,
    limiter: Box<dyn RateLimiter<T>>,
    max_retries: Option<u32>,
    on_drop: Option<OnDrop<T>>,
}

struct State<T> {
    queue: VecDeque<T>,
    /// Every item queued or held, and what the queue knows of it.
    items: FastMap<T, Slot>,
    /// Items held by a worker.
    held: usize,
    next_hold: u64,
    waiting: Waiting<T>,
    shutting_down: bool,
    adds: u64,
    retries: u64,
    dropped: u64,
    queue_latency: DurationStats,
    work_duration: DurationStats,
}

/// What the queue knows of an item that is queued or held.
struct Slot {
    /// When it was added, while it needs processing (queued, or added again while held).
    dirty_since: Option<Instant>,
    /// When a worker took it, and which hand-out that was, while it is held.
    held: Option<(Instant, u64)>,
}

/// Builds a [`WorkQueue`] with a chosen rate limiter and retry limit.
pub struct WorkQueueBuilder<T> {
    name: String,
    limiter: Option<Box<dyn RateLimiter<T>>>,
    max_retries: Option<u32>,
    on_drop: Option<OnDrop<T>>,
}

impl<T: QueueItem> WorkQueueBuilder<T> {
    /// The rate limiter of [`add_rate_limited`](WorkQueue::add_rate_limited) (default:
    /// [`default_controller_rate_limiter`]).
    pub fn rate_limiter(mut self, limiter: impl RateLimiter<T>) -> Self {
        self.limiter = Some(Box::new(limiter));
        self
    }

    /// Drops an item instead of retrying it once it has been retried `max` times since it
    /// last succeeded (controller-runtime issue 3199). A dropped item is logged, counted
    /// in [`QueueMetrics::dropped`] and handed to [`on_retries_exhausted`]; its failures
    /// are forgotten, so its next event starts afresh. Default: no limit.
    ///
    /// [`on_retries_exhausted`]: Self::on_retries_exhausted
    pub fn max_retries(mut self, max: u32) -> Self {
        self.max_retries = Some(max);
        self
    }

    /// Called with every item dropped after its retry limit.
    pub fn on_retries_exhausted(mut self, f: impl Fn(&T) + Send + Sync + 'static) -> Self {
        self.on_drop = Some(Arc::new(f));
        self
    }

    /// The queue.
    pub fn build(self) -> WorkQueue<T> {
        WorkQueue {
            inner: Arc::new(Inner {
                name: self.name,
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    items: FastMap::default(),
                    held: 0,
                    next_hold: 0,
                    waiting: Waiting::new(),
                    shutting_down: false,
                    adds: 0,
                    retries: 0,
                    dropped: 0,
                    queue_latency: DurationStats::default(),
                    work_duration: DurationStats::default(),
                }),
                getters: Notify::new(),
                idle: Notify::new(),
                limiter: self
                    .limiter
                    .unwrap_or_else(|| Box::new(default_controller_rate_limiter())),
                max_retries: self.max_retries,
                on_drop: self.on_drop,
            }),
        }
    }
}

impl<T: QueueItem> WorkQueue<T> {
    /// A queue named `name` (for metrics and logs) with client-go's default controller
    /// rate limiter and no retry limit.
    pub fn new(name: impl Into<String>) -> Self {
        Self::builder(name).build()
    }

    /// A builder for a queue named `name`.
    pub fn builder(name: impl Into<String>) -> WorkQueueBuilder<T> {
        WorkQueueBuilder {
            name: name.into(),
            limiter: None,
            max_retries: None,
            on_drop: None,
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Queues `item`, unless it is queued already; if a worker holds it, it is queued
    /// when that worker is done. Ignored after shutdown.
    pub fn add(&self, item: T) {
        let mut s = self.inner.state.lock();
        if s.shutting_down {
            return;
        }
        if s.add(item, Instant::now()) {
            drop(s);
            self.inner.getters.notify_one();
        }
    }

    /// Queues `item` once `delay` has passed (at once for a zero delay). An item already
    /// waiting keeps the earlier of its two times. Ignored after shutdown.
    pub fn add_after(&self, item: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(item);
        }
        self.schedule(item, delay, false);
    }

    /// Queues `item` after the rate limiter's wait: its per-item backoff, then the
    /// overall rate's admission. Returns false, and does not queue it, after shutdown or
    /// when `item` has reached the retry limit ([`WorkQueueBuilder::max_retries`]).
    pub fn add_rate_limited(&self, item: T) -> bool {
        if self.is_shutting_down() {
            return false;
        }
        if let Some(max) = self.inner.max_retries {
            let retries = self.inner.limiter.num_requeues(&item);
            if retries >= max {
                self.inner.limiter.forget(&item);
                self.inner.state.lock().dropped += 1;
                tracing::warn!(queue = %self.inner.name, ?item, retries, "dropping an item after its retry limit");
                if let Some(f) = &self.inner.on_drop {
                    f(&item);
                }
                return false;
            }
        }
        let delay = self.inner.limiter.when(&item);
        self.schedule(item, delay, true)
    }

    fn schedule(&self, item: T, delay: Duration, rate_limited: bool) -> bool {
        let now = Instant::now();
        let at = now
            .checked_add(delay)
            .unwrap_or(now + Duration::from_secs(86400 * 365));
        let mut s = self.inner.state.lock();
        if s.shutting_down {
            return false;
        }
        if rate_limited {
            s.retries += 1;
        }
        s.waiting.insert(item, at, rate_limited.then_some(now));
        drop(s);
        // A getter may be sleeping until a later time: let one look again.
        self.inner.getters.notify_one();
        true
    }

    /// Forgets `item`'s failures: its next [`add_rate_limited`](Self::add_rate_limited)
    /// waits the shortest time again. Call it when an item succeeded.
    pub fn forget(&self, item: &T) {
        self.inner.limiter.forget(item);
    }

    /// How many times `item` failed since it was last forgotten.
    pub fn num_requeues(&self, item: &T) -> u32 {
        self.inner.limiter.num_requeues(item)
    }

    /// Items queued for a worker (not those waiting for their time, nor those held).
    pub fn len(&self) -> usize {
        let mut s = self.inner.state.lock();
        s.promote(Instant::now(), &*self.inner.limiter);
        s.queue.len()
    }

    /// Whether no item is queued for a worker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether nothing is queued, held or waiting: the queue has no work at all.
    pub fn is_idle(&self) -> bool {
        let mut s = self.inner.state.lock();
        s.promote(Instant::now(), &*self.inner.limiter);
        s.queue.is_empty() && s.held == 0 && s.waiting.len() == 0
    }

    /// The next item, once there is one: a guard that marks it done when dropped.
    /// `None` once the queue is shut down and nothing is left queued.
    ///
    /// Cancel-safe: dropping the future (a `select!`, a timeout) loses no item.
    pub async fn get(&self) -> Option<WorkItem<T>> {
        loop {
            // Fast path: an item is there, no need to register for a wake-up.
            if let Some(taken) = self.try_take() {
                return taken;
            }
            // Register before looking again, so that an add in between is not missed.
            let notified = self.inner.getters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_due = match self.try_take_or_next_due() {
                Ok(taken) => return taken,
                Err(next_due) => next_due,
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// `Some(Some(item))`: an item; `Some(None)`: shut down and empty; `None`: nothing yet.
    fn try_take(&self) -> Option<Option<WorkItem<T>>> {
        self.try_take_or_next_due().ok()
    }

    /// An item or the end of the queue, or else when a waiting item is next due.
    fn try_take_or_next_due(&self) -> Result<Option<WorkItem<T>>, Option<Instant>> {
        let mut s = self.inner.state.lock();
        let now = Instant::now();
        let (next_due, promoted) = s.promote(now, &*self.inner.limiter);
        let Some(item) = s.queue.pop_front() else {
            return if s.shutting_down {
                Ok(None)
            } else {
                Err(next_due)
            };
        };
        let hold = s.next_hold;
        s.next_hold += 1;
        s.held += 1;
        let added = s.items.get_mut(&item).and_then(|slot| {
            slot.held = Some((now, hold));
            slot.dirty_since.take()
        });
        if let Some(added) = added {
            s.queue_latency
                .observe(now.saturating_duration_since(added));
        }
        let more = promoted && !s.queue.is_empty();
        s.shrink();
        drop(s);
        if more {
            // Pass the wake-up on: promotion queued items that no add announced.
            self.inner.getters.notify_one();
        }
        Ok(Some(WorkItem {
            queue: self.clone(),
            item: Some(item),
            hold,
        }))
    }

    /// Marks `item` done (client-go's `Done`); if it was added while held, it is queued
    /// again. [`WorkItem`] calls this when dropped; calling it yourself is only needed
    /// for an item taken out of its guard with [`WorkItem::into_inner`].
    pub fn done(&self, item: &T) {
        self.finish(item, None);
    }

    fn finish(&self, item: &T, hold: Option<u64>) {
        let mut s = self.inner.state.lock();
        let Some(slot) = s.items.get_mut(item) else {
            return; // done already
        };
        let started = match slot.held {
            Some((started, h)) if hold.is_none_or(|hold| hold == h) => started,
            // Done already, or held by another hand-out since.
            _ => return,
        };
        slot.held = None;
        let requeued = slot.dirty_since.is_some();
        s.held -= 1;
        s.work_duration.observe(started.elapsed());
        if requeued {
            s.queue.push_back(item.clone());
        } else {
            s.items.remove(item);
        }
        let idle = s.held == 0 && s.shutting_down;
        s.shrink();
        drop(s);
        if requeued {
            self.inner.getters.notify_one();
        }
        if idle {
            self.inner.idle.notify_waiters();
        }
    }

    /// Stops taking items: adds are ignored from now on, waiting items are dropped, and
    /// getters get what is still queued, then `None`.
    pub fn shut_down(&self) {
        let mut s = self.inner.state.lock();
        s.shutting_down = true;
        s.waiting.clear();
        drop(s);
        self.inner.getters.notify_waiters();
    }

    /// [`shut_down`](Self::shut_down), then waits until no item is held by a worker
    /// (client-go's `ShutDownWithDrain`). Items still queued are handed out by `get`
    /// meanwhile; with no worker left to take them it returns once the held ones are done.
    pub async fn shut_down_with_drain(&self) {
        self.shut_down();
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.state.lock().held == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Whether [`shut_down`](Self::shut_down) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.state.lock().shutting_down
    }

    /// The queue's metrics now.
    pub fn metrics(&self) -> QueueMetrics {
        let mut s = self.inner.state.lock();
        let now = Instant::now();
        s.promote(now, &*self.inner.limiter);
        let held = s
            .items
            .values()
            .filter_map(|slot| slot.held)
            .map(|(started, _)| now.saturating_duration_since(started));
        let (unfinished, longest) = held.fold((Duration::ZERO, Duration::ZERO), |(sum, max), d| {
            (sum.saturating_add(d), max.max(d))
        });
        QueueMetrics {
            name: self.inner.name.clone(),
            depth: s.queue.len(),
            waiting: s.waiting.len(),
            processing: s.held,
            adds: s.adds,
            retries: s.retries,
            dropped: s.dropped,
            queue_latency: s.queue_latency,
            work_duration: s.work_duration,
            unfinished_work: unfinished,
            longest_running_processor: longest,
        }
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        let s = self.inner.state.lock();
        s.queue.capacity() + s.items.capacity() + s.waiting.capacity()
    }
}

impl<T: QueueItem> State<T> {
    /// Marks `item` dirty and queues it unless it is queued or held; returns whether it
    /// was queued.
    fn add(&mut self, item: T, now: Instant) -> bool {
        match self.items.entry(item) {
            Entry::Occupied(mut e) => {
                // A slot is there only while the item is queued (dirty) or held.
                let slot = e.get_mut();
                if slot.dirty_since.is_some() {
                    return false;
                }
                self.adds += 1;
                slot.dirty_since = Some(now);
                false // held: queued again when done
            }
            Entry::Vacant(e) => {
                self.adds += 1;
                self.queue.push_back(e.key().clone());
                e.insert(Slot {
                    dirty_since: Some(now),
                    held: None,
                });
                true
            }
        }
    }

    /// Moves due waiting items into the queue: plain delayed ones at once, rate-limited
    /// ones once the limiter admits them. Returns when to look again, and whether any
    /// item was queued.
    fn promote(&mut self, now: Instant, limiter: &dyn RateLimiter<T>) -> (Option<Instant>, bool) {
        if self.shutting_down || self.waiting.len() == 0 {
            return (None, false);
        }
        let mut promoted = false;
        while let Some((item, since)) = self.waiting.pop_due(now) {
            if since.is_none() {
                promoted |= self.add(item, now);
            }
        }
        let mut retry_at = None;
        while let Some((item, since)) = self.waiting.first_in_line() {
            let wait = limiter.admit(item, now.saturating_duration_since(since));
            if !wait.is_zero() {
                retry_at = now.checked_add(wait);
                break;
            }
            if let Some(item) = self.waiting.admit_first() {
                promoted |= self.add(item, now);
            }
        }
        let next = match (self.waiting.next_due(), retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (next, promoted)
    }

    fn shrink(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > SHRINK_ABOVE {
            self.queue.shrink_to_fit();
        }
        if self.items.is_empty() && self.items.capacity() > SHRINK_ABOVE {
            self.items.shrink_to_fit();
        }
    }
}

/// An item handed out by [`WorkQueue::get`]. It derefs to the item; dropping it (or
/// [`done`](Self::done)) tells the queue the worker is done with it.
#[must_use = "dropping the item marks it done at once"]
pub struct WorkItem<T: QueueItem> {
    queue: WorkQueue<T>,
    item: Option<T>,
    hold: u64,
}

impl<T: QueueItem> WorkItem<T> {
    /// The item.
    pub fn item(&self) -> &T {
        self.item.as_ref().expect("present until dropped")
    }

    /// Marks the item done (the same as dropping the guard).
    pub fn done(self) {}

    /// Takes the item out of the guard without marking it done: the caller must call
    /// [`WorkQueue::done`] for it, or the item is never handed out again.
    pub fn into_inner(mut self) -> T {
        self.item.take().expect("present until dropped")
    }
}

impl<T: QueueItem> std::ops::Deref for WorkItem<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.item()
    }
}

impl<T: QueueItem> Debug for WorkItem<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WorkItem").field(&self.item).finish()
    }
}

impl<T: QueueItem> Drop for WorkItem<T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            self.queue.finish(&item, Some(self.hold));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workqueue::{BucketRateLimiter, ItemExponentialFailureRateLimiter};
    use futures::FutureExt;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `get` without waiting.
    fn try_get<T: QueueItem>(q: &WorkQueue<T>) -> Option<WorkItem<T>> {
        q.get().now_or_never().flatten()
    }

    #[test]
    fn adds_while_queued_are_one() {
        let q = WorkQueue::new("t");
        q.add(1);
        q.add(2);
        q.add(1);
        assert_eq!(q.len(), 2);
        assert_eq!(*try_get(&q).unwrap(), 1);
        assert_eq!(q.metrics().adds, 2);
    }

    #[test]
    fn items_leave_in_the_order_they_came() {
        let q = WorkQueue::new("t");
        for i in [3, 1, 2] {
            q.add(i);
        }
        let got: Vec<_> = (0..3).map(|_| try_get(&q).unwrap().into_inner()).collect();
        assert_eq!(got, [3, 1, 2]);
    }

    #[test]
    fn an_item_added_while_held_is_handed_out_once_more_after_done() {
        let q = WorkQueue::new("t");
        q.add("a");
        let held = try_get(&q).unwrap();
        q.add("a");
        q.add("a");
        assert_eq!(q.len(), 0, "never handed to a second worker while held");
        assert!(try_get(&q).is_none());
        held.done();
        assert_eq!(q.len(), 1);
        let again = try_get(&q).unwrap();
        drop(again);
        assert_eq!(q.len(), 0, "exactly once more");
        assert!(q.is_idle());
    }

    #[test]
    fn a_dropped_guard_is_done_and_a_stale_done_is_ignored() {
        let q = WorkQueue::new("t");
        q.add("a");
        let first = try_get(&q).unwrap().into_inner();
        q.add("a");
        q.done(&first); // explicit done
        let second = try_get(&q).unwrap();
        // A late done of the first hand-out must not release the second.
        q.finish(&first, Some(0));
        q.add("a");
        assert_eq!(q.len(), 0);
        drop(second);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn shutdown_hands_out_what_is_queued_then_none() {
        rt().block_on(async {
            let q = WorkQueue::new("t");
            q.add(1);
            q.add(2);
            q.shut_down();
            assert!(q.is_shutting_down());
            q.add(3); // ignored
            assert_eq!(*q.get().await.unwrap(), 1);
            assert_eq!(*q.get().await.unwrap(), 2);
            assert!(q.get().await.is_none());
            assert!(!q.add_rate_limited(4));
        });
    }

    #[test]
    fn shutdown_wakes_every_waiting_getter() {
        rt().block_on(async {
            let q: WorkQueue<u32> = WorkQueue::new("t");
            let getters: Vec<_> = (0..3)
                .map(|_| {
                    let q = q.clone();
                    tokio::spawn(async move { q.get().await.is_none() })
                })
                .collect();
            tokio::task::yield_now().await;
            q.shut_down();
            for g in getters {
                assert!(tokio::time::timeout(ms(1000), g).await.unwrap().unwrap());
            }
        });
    }

    #[test]
    fn drain_waits_for_the_items_being_processed() {
        rt().block_on(async {
            let q = WorkQueue::new("t");
            q.add(1);
            let held = q.get().await.unwrap();
            let drained = tokio::spawn({
                let q = q.clone();
                async move { q.shut_down_with_drain().await }
            });
            tokio::time::sleep(ms(30)).await;
            assert!(!drained.is_finished(), "returned while an item was held");
            drop(held);
            tokio::time::timeout(ms(1000), drained)
                .await
                .unwrap()
                .unwrap();
        });
    }

    #[test]
    fn add_after_waits_and_the_earliest_time_wins() {
        rt().block_on(async {
            let q = WorkQueue::new("t");
            q.add_after("a", ms(10_000));
            q.add_after("a", ms(20));
            q.add_after("a", ms(5_000)); // later: keeps 20 ms
            q.add_after("b", Duration::ZERO); // zero: at once
            assert_eq!(q.len(), 1);
            assert_eq!(*q.get().await.unwrap(), "b");
            let started = Instant::now();
            let a = tokio::time::timeout(ms(2000), q.get())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(*a, "a");
            let took = started.elapsed();
            assert!(took >= ms(15) && took < ms(1000), "{took:?}");
            assert_eq!(q.metrics().waiting, 0);
        });
    }

    #[test]
    fn a_cancelled_get_loses_nothing() {
        rt().block_on(async {
            let q = WorkQueue::new("t");
            assert!(tokio::time::timeout(ms(10), q.get()).await.is_err());
            q.add(7);
            assert_eq!(*q.get().await.unwrap(), 7);
        });
    }

    #[test]
    fn rate_limited_adds_back_off_and_forget_resets() {
        rt().block_on(async {
            let q = WorkQueue::builder("t")
                .rate_limiter(ItemExponentialFailureRateLimiter::new(ms(20), ms(1000)))
                .build();
            for expected in [20, 40, 80] {
                let started = Instant::now();
                q.add_rate_limited("k");
                let item = q.get().await.unwrap();
                let took = started.elapsed();
                assert!(
                    took >= ms(expected - 5) && took < ms(expected + 500),
                    "{expected}: {took:?}"
                );
                drop(item);
            }
            assert_eq!(q.num_requeues(&"k"), 3);
            assert_eq!(q.metrics().retries, 3);
            q.forget(&"k");
            assert_eq!(q.num_requeues(&"k"), 0);
        });
    }

    /// controller-runtime issue 1594: one item re-added twice as fast as a bucket of
    /// 1 per 50 ms (burst 1) must come out about every 50 ms, not at growing intervals.
    #[test]
    fn the_bucket_does_not_compound_for_an_item_readded_faster_than_the_rate() {
        rt().block_on(async {
            let q = WorkQueue::builder("t")
                .rate_limiter(BucketRateLimiter::new(20.0, 1))
                .build();
            let writer = tokio::spawn({
                let q = q.clone();
                async move {
                    for _ in 0..40 {
                        q.add_rate_limited("hot");
                        tokio::time::sleep(ms(25)).await;
                    }
                }
            });
            let mut gaps = Vec::new();
            let mut last = Instant::now();
            for _ in 0..12 {
                let item = tokio::time::timeout(ms(2000), q.get())
                    .await
                    .expect("an item within 2 s")
                    .unwrap();
                gaps.push(last.elapsed());
                last = Instant::now();
                drop(item);
            }
            writer.abort();
            // Compounding would give 50 ms, 100 ms, 200 ms, ...; the last gaps stay near 50.
            let worst = gaps[4..].iter().max().unwrap();
            assert!(*worst < ms(250), "gaps {gaps:?}");
        });
    }

    #[test]
    fn the_retry_limit_drops_with_a_count_and_a_callback() {
        rt().block_on(async {
            let dropped = Arc::new(Mutex::new(Vec::new()));
            let q = WorkQueue::builder("t")
                .rate_limiter(ItemExponentialFailureRateLimiter::new(ms(1), ms(1)))
                .max_retries(2)
                .on_retries_exhausted({
                    let dropped = dropped.clone();
                    move |item: &&str| dropped.lock().push(*item)
                })
                .build();
            assert!(q.add_rate_limited("k"));
            drop(q.get().await.unwrap());
            assert!(q.add_rate_limited("k"));
            drop(q.get().await.unwrap());
            assert!(!q.add_rate_limited("k"), "third retry is past the limit");
            assert_eq!(*dropped.lock(), ["k"]);
            assert_eq!(q.metrics().dropped, 1);
            assert_eq!(q.num_requeues(&"k"), 0, "its failures are forgotten");
            assert!(q.is_idle());
        });
    }

    #[test]
    fn a_drained_queue_holds_no_per_item_memory() {
        rt().block_on(async {
            let q = WorkQueue::builder("t")
                .rate_limiter(ItemExponentialFailureRateLimiter::new(ms(1), ms(1)))
                .build();
            for i in 0..100_000u32 {
                q.add(i);
            }
            for i in 0..100_000u32 {
                let item = q.get().await.unwrap();
                assert_eq!(*item, i);
                if i % 2 == 0 {
                    q.add_rate_limited(i);
                }
            }
            while !q.is_idle() {
                let item = q.get().await.unwrap();
                q.forget(&item);
            }
            // Empty tables that never held more than a few slots stay (they are not
            // shrunk, to spare an allocation per item under light load); none of the
            // 100,000 slots do.
            assert!(
                q.capacity() <= 4 * SHRINK_ABOVE,
                "{} slots: {q:?}",
                q.capacity()
            );
            assert_eq!(q.num_requeues(&0), 0);
        });
    }

    #[test]
    fn metrics_follow_client_go() {
        rt().block_on(async {
            let q = WorkQueue::new("metrics");
            q.add(1);
            q.add(2);
            tokio::time::sleep(ms(5)).await;
            let item = q.get().await.unwrap();
            tokio::time::sleep(ms(5)).await;
            let m = q.metrics();
            assert_eq!(m.name, "metrics");
            assert_eq!((m.depth, m.processing, m.adds), (1, 1, 2));
            assert_eq!(m.queue_latency.count, 1);
            assert!(m.queue_latency.max >= ms(5));
            assert!(m.longest_running_processor >= ms(5));
            assert!(m.unfinished_work >= m.longest_running_processor);
            drop(item);
            let m = q.metrics();
            assert_eq!(m.work_duration.count, 1);
            assert_eq!(m.processing, 0);
            assert_eq!(m.unfinished_work, Duration::ZERO);
        });
    }
}
