//! Counters of an informer, readable at any time as a plain snapshot.
//!
//! The reflector bumps [`Counters`] as it lists, watches and receives events; the informer
//! adds what only it knows (the queue depth, each handler's backlog, the cache size) when
//! it takes an [`InformerMetrics`] snapshot. Counters are relaxed atomics: a snapshot is
//! consistent per field, not across fields.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters shared by a reflector and its informer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) lists: AtomicU64,
    pub(crate) relists: AtomicU64,
    pub(crate) watches: AtomicU64,
    pub(crate) watch_errors: AtomicU64,
    pub(crate) added: AtomicU64,
    pub(crate) modified: AtomicU64,
    pub(crate) deleted: AtomicU64,
    pub(crate) bookmarks: AtomicU64,
    pub(crate) resyncs: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> ReflectorMetrics {
        ReflectorMetrics {
            lists: Self::get(&self.lists),
            relists: Self::get(&self.relists),
            watches: Self::get(&self.watches),
            watch_errors: Self::get(&self.watch_errors),
            events_added: Self::get(&self.added),
            events_modified: Self::get(&self.modified),
            events_deleted: Self::get(&self.deleted),
            bookmarks: Self::get(&self.bookmarks),
            resyncs: Self::get(&self.resyncs),
        }
    }
}

/// What a reflector has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReflectorMetrics {
    /// Completed lists (or streaming initial lists), the first included.
    pub lists: u64,
    /// Completed lists after the first.
    pub relists: u64,
    /// Watches opened.
    pub watches: u64,
    /// Attempts that ended in an error (a failed list or watch, a `410`, a very short
    /// watch) and were retried after a backoff.
    pub watch_errors: u64,
    /// `ADDED` watch events.
    pub events_added: u64,
    /// `MODIFIED` watch events.
    pub events_modified: u64,
    /// `DELETED` watch events.
    pub events_deleted: u64,
    /// `BOOKMARK` watch events.
    pub bookmarks: u64,
    /// Resyncs queued.
    pub resyncs: u64,
}

/// A snapshot of an informer's counters and queues.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InformerMetrics {
    /// The reflector's counters.
    pub reflector: ReflectorMetrics,
    /// Keys waiting in the queue between the reflector and the store.
    pub queue_depth: usize,
    /// Objects in the cache.
    pub cache_size: usize,
    /// Per registered handler, in registration order: notifications waiting in its
    /// buffer.
    pub handler_pending: Vec<usize>,
    /// The resourceVersion the informer has reached.
    pub last_resource_version: String,
}
