//! Work queues for controllers: client-go's `util/workqueue`, generic over the item.
//!
//! A controller's event handlers only turn events into keys and [`add`](WorkQueue::add)
//! them; workers [`get`](WorkQueue::get) one key at a time, do the work, and drop the
//! [`WorkItem`] guard (the queue's `Done`). On failure a worker hands the key to
//! [`add_rate_limited`](WorkQueue::add_rate_limited), which waits the per-item backoff of
//! the queue's [`RateLimiter`] and then passes the overall rate; on success it calls
//! [`forget`](WorkQueue::forget).
//!
//! ```text
//! add / add_after / add_rate_limited
//!     │            └─ waiting (earliest time wins) ─ due ─▶ admitted by the limiter ─┐
//!     ▼                                                                              ▼
//!   dirty ───────────────────────────────▶ queue (FIFO) ──get──▶ processing ──done──▶ (gone,
//!     ▲ added again while processing: queued once more after done                     or queued again)
//! ```
//!
//! - [`queue`](WorkQueue): the queue, its [`WorkItem`] guard and [`WorkQueueBuilder`].
//! - [`RateLimiter`] and its implementations: per-item exponential and fast-slow,
//!   an overall token bucket (`governor`'s), max-of, with-max-wait, and
//!   [`default_controller_rate_limiter`].
//! - [`QueueMetrics`]: a snapshot under client-go's metric names.
//!
//! Where this differs from client-go, on purpose: the guard makes a forgotten `Done`
//! impossible; the overall bucket admits an item when its per-item wait ends instead of
//! reserving a token at every failure, so it cannot compound (controller-runtime issue
//! 1594); an optional retry limit drops an item with a log line, a counter and a callback
//! (controller-runtime issue 3199); and a drained queue or a forgotten item leaves no
//! per-item state behind.

mod metrics;
mod queue;
mod rate_limiter;
mod waiting;

pub use metrics::{DurationStats, QueueMetrics};
pub use queue::{QueueItem, WorkItem, WorkQueue, WorkQueueBuilder};
pub use rate_limiter::{
    default_controller_rate_limiter, BucketRateLimiter, ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter, MaxOfRateLimiter, RateLimiter, WithMaxWaitRateLimiter,
};
