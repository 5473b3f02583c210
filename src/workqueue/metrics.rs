//! A work queue's metrics, as a snapshot under client-go's metric names
//! (`workqueue_depth`, `workqueue_adds_total`, `workqueue_queue_duration_seconds`,
//! `workqueue_work_duration_seconds`, `workqueue_unfinished_work_seconds`,
//! `workqueue_longest_running_processor_seconds`, `workqueue_retries_total`).

use std::time::Duration;

/// Count, sum and maximum of observed durations (a histogram's summary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurationStats {
    /// Observations.
    pub count: u64,
    /// Their sum.
    pub sum: Duration,
    /// The longest.
    pub max: Duration,
}

impl DurationStats {
    pub(crate) fn observe(&mut self, d: Duration) {
        self.count += 1;
        self.sum = self.sum.saturating_add(d);
        self.max = self.max.max(d);
    }

    /// The mean, zero before the first observation.
    pub fn mean(&self) -> Duration {
        match u32::try_from(self.count) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.sum / n,
            Err(_) => Duration::from_secs_f64(self.sum.as_secs_f64() / self.count as f64),
        }
    }
}

/// One queue's metrics at one moment ([`WorkQueue::metrics`](super::WorkQueue::metrics)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueMetrics {
    /// The queue's name (client-go's `name` label).
    pub name: String,
    /// Items queued for a worker (`workqueue_depth`).
    pub depth: usize,
    /// Items waiting for their time (delayed or rate-limited), not yet queued.
    pub waiting: usize,
    /// Items a worker holds.
    pub processing: usize,
    /// Items added (`workqueue_adds_total`); an add of an item already queued is not one.
    pub adds: u64,
    /// Rate-limited re-adds (`workqueue_retries_total`).
    pub retries: u64,
    /// Items dropped after their retry limit.
    pub dropped: u64,
    /// Time from queued to handed to a worker (`workqueue_queue_duration_seconds`).
    pub queue_latency: DurationStats,
    /// Time from handed out to done (`workqueue_work_duration_seconds`).
    pub work_duration: DurationStats,
    /// Time the items being processed have been held so far, summed
    /// (`workqueue_unfinished_work_seconds`).
    pub unfinished_work: Duration,
    /// The longest any item being processed has been held
    /// (`workqueue_longest_running_processor_seconds`).
    pub longest_running_processor: Duration,
}
