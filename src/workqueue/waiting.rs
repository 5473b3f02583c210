//! The items of a work queue that wait for their time (client-go's delaying queue):
//! one entry per item, the earliest time winning, and a line of rate-limited items whose
//! per-item wait is over and that wait for the overall rate to admit them.
//!
//! Entries leave in time order through [`Waiting::pop_due`]; an item whose time moves
//! earlier leaves a stale heap entry behind, which is skipped when it surfaces and swept
//! when stale entries outnumber live ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::Hash;
use tokio::time::Instant;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Collections that held this many entries are shrunk when they empty.
pub(crate) const SHRINK_ABOVE: usize = 1024;

/// Where a waiting item is.
#[derive(Clone, Copy, Debug)]
enum Entry {
    /// In the heap until `at`; `since` is when it failed, for a rate-limited item.
    Timed {
        at: Instant,
        seq: u64,
        since: Option<Instant>,
    },
    /// Due, rate-limited, waiting in line for admission since it failed at `since`.
    Paced { since: Instant },
}

/// The waiting items of one queue.
pub(crate) struct Waiting<T> {
    entries: FastMap<T, Entry>,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// The item of each live heap entry, by sequence number.
    by_seq: FastMap<u64, T>,
    next_seq: u64,
    /// Due rate-limited items in the order they became due.
    paced: VecDeque<T>,
}

impl<T: Clone + Eq + Hash> Waiting<T> {
    pub(crate) fn new() -> Self {
        Waiting {
            entries: FastMap::default(),
            heap: BinaryHeap::new(),
            by_seq: FastMap::default(),
            next_seq: 0,
            paced: VecDeque::new(),
        }
    }

    /// Items waiting, timed or in line.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Schedules `item` at `at` (`since`: when it failed, for a rate-limited item). An
    /// item already waiting keeps the earlier of its times; one already in line stays.
    pub(crate) fn insert(&mut self, item: T, at: Instant, since: Option<Instant>) {
        match self.entries.get(&item).copied() {
            Some(Entry::Paced { .. }) => {}
            Some(Entry::Timed {
                at: old,
                seq,
                since: old_since,
            }) => {
                if at < old {
                    self.by_seq.remove(&seq);
                    let since = match (old_since, since) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    self.push_timed(item, at, since);
                    self.sweep();
                }
            }
            None => self.push_timed(item, at, since),
        }
    }

    fn push_timed(&mut self, item: T, at: Instant, since: Option<Instant>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse((at, seq)));
        self.by_seq.insert(seq, item.clone());
        self.entries.insert(item, Entry::Timed { at, seq, since });
    }

    /// The next timed item due at `now`. A plain delayed one, `(item, None)`, leaves the
    /// waiting set; a rate-limited one, `(item, Some(since))`, moves into the line for
    /// admission ([`first_in_line`](Self::first_in_line)).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(T, Option<Instant>)> {
        while let Some(&Reverse((at, seq))) = self.heap.peek() {
            if at > now {
                return None;
            }
            self.heap.pop();
            let Some(item) = self.by_seq.remove(&seq) else {
                continue; // moved earlier since: a stale entry
            };
            let since = match self.entries.get(&item) {
                Some(Entry::Timed { since, .. }) => *since,
                _ => None,
            };
            match since {
                Some(since) => {
                    self.entries.insert(item.clone(), Entry::Paced { since });
                    self.paced.push_back(item.clone());
                }
                None => {
                    self.entries.remove(&item);
                    self.shrink();
                }
            }
            return Some((item, since));
        }
        None
    }

    /// The first item in line for admission, with the time it failed.
    pub(crate) fn first_in_line(&self) -> Option<(&T, Instant)> {
        let item = self.paced.front()?;
        match self.entries.get(item) {
            Some(Entry::Paced { since }) => Some((item, *since)),
            _ => None,
        }
    }

    /// Takes the first item in line out of the waiting set (it was admitted).
    pub(crate) fn admit_first(&mut self) -> Option<T> {
        let item = self.paced.pop_front()?;
        self.entries.remove(&item);
        self.shrink();
        Some(item)
    }

    /// When the next timed item is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Forgets everything (the queue shut down).
    pub(crate) fn clear(&mut self) {
        *self = Waiting::new();
    }

    /// Rebuilds the heap when stale entries outnumber live ones, so that an item moved
    /// earlier again and again cannot grow it.
    fn sweep(&mut self) {
        if self.heap.len() <= 2 * self.by_seq.len() + 64 {
            return;
        }
        let live: Vec<_> = self
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Timed { at, seq, .. } => Some(Reverse((*at, *seq))),
                Entry::Paced { .. } => None,
            })
            .collect();
        self.heap = BinaryHeap::from(live);
    }

    fn shrink(&mut self) {
        if self.entries.is_empty() {
            if self.entries.capacity() > SHRINK_ABOVE {
                self.entries.shrink_to_fit();
            }
            if self.by_seq.capacity() > SHRINK_ABOVE {
                self.by_seq.shrink_to_fit();
            }
            if self.heap.capacity() > SHRINK_ABOVE && self.heap.is_empty() {
                self.heap.shrink_to_fit();
            }
            if self.paced.capacity() > SHRINK_ABOVE {
                self.paced.shrink_to_fit();
            }
        }
    }

    /// Capacity of every collection, for the bounded-memory test.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
            + self.heap.capacity()
            + self.by_seq.capacity()
            + self.paced.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_time_wins_and_stale_entries_are_skipped() {
        let t0 = Instant::now();
        let mut w = Waiting::new();
        w.insert("a", t0 + Duration::from_secs(10), None);
        w.insert("a", t0 + Duration::from_secs(1), None);
        w.insert("a", t0 + Duration::from_secs(5), None); // later: ignored
        assert_eq!(w.len(), 1);
        assert_eq!(w.next_due(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(w.pop_due(t0), None);
        assert_eq!(w.pop_due(t0 + Duration::from_secs(2)), Some(("a", None)));
        assert_eq!(w.len(), 0);
        // The stale 10 s entry surfaces and is skipped.
        assert_eq!(w.pop_due(t0 + Duration::from_secs(20)), None);
    }

    #[test]
    fn rate_limited_items_wait_in_line_once() {
        let t0 = Instant::now();
        let mut w = Waiting::new();
        w.insert("a", t0, Some(t0));
        assert_eq!(w.pop_due(t0), Some(("a", Some(t0))));
        // Re-added while in line: still one place.
        w.insert("a", t0, Some(t0));
        assert_eq!(w.pop_due(t0), None);
        assert_eq!(w.first_in_line(), Some((&"a", t0)));
        assert_eq!(w.admit_first(), Some("a"));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn moving_an_item_earlier_again_and_again_keeps_the_heap_small() {
        let t0 = Instant::now() + Duration::from_secs(3600);
        let mut w = Waiting::new();
        for i in 0..10_000u64 {
            w.insert(1u32, t0 - Duration::from_millis(i), None);
        }
        assert!(w.heap.len() <= 2 * w.by_seq.len() + 65, "{}", w.heap.len());
    }
}
