//! `InOrderFifo`: the queue of the in-order mode (client-go's `RealFIFO`), an
//! alternative to the [`DeltaFifo`](super::DeltaFifo).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::pin::pin;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::delta_fifo::{
    DeletedFinalStateUnknown, Delta, DeltaObject, DeltaType, KnownObjects, PopError, ProcessError,
};
use super::key::{meta_namespace_key, KeyError};
use super::store::KeyFunc;
use crate::meta::Object;

/// One queued change and the key it belongs to.
#[derive(Debug)]
pub struct QueuedDelta<K> {
    /// The object's key.
    pub key: Arc<str>,
    /// The change.
    pub delta: Delta<K>,
}

impl<K> Clone for QueuedDelta<K> {
    fn clone(&self) -> Self {
        QueuedDelta {
            key: self.key.clone(),
            delta: self.delta.clone(),
        }
    }
}

enum Entry<K> {
    One(QueuedDelta<K>),
    Relist(Vec<QueuedDelta<K>>),
}

/// What the queue holds for a key: how many deltas, and the newest one's effect.
struct Pending<K> {
    count: usize,
    last: Option<Arc<K>>,
}

struct State<K> {
    queue: VecDeque<Entry<K>>,
    pending: HashMap<Arc<str>, Pending<K>>,
    populated: bool,
    /// Entries of the first relist (or earlier changes) not yet popped.
    initial_population_count: usize,
    closed: bool,
}

impl<K> State<K> {
    fn has_synced(&self) -> bool {
        self.populated && self.initial_population_count == 0
    }

    fn note_queued(&mut self, d: &QueuedDelta<K>) {
        let last = match (&d.delta.kind, &d.delta.object) {
            (DeltaType::Deleted, _) => None,
            (_, o) => Some(o.object().clone()),
        };
        let p = self.pending.entry(d.key.clone()).or_insert(Pending {
            count: 0,
            last: None,
        });
        p.count += 1;
        p.last = last;
    }

    fn note_popped(&mut self, d: &QueuedDelta<K>) {
        if let Some(p) = self.pending.get_mut(&d.key) {
            p.count -= 1;
            if p.count == 0 {
                self.pending.remove(&d.key);
            }
        }
    }

    fn push(&mut self, entry: Entry<K>) {
        match &entry {
            Entry::One(d) => self.note_queued(d),
            Entry::Relist(ds) => ds.iter().for_each(|d| self.note_queued(d)),
        }
        self.queue.push_back(entry);
    }
}

/// The in-order queue: every change in arrival order, a relist as one unit.
///
/// # How it works
///
/// Every change is queued as its own [`QueuedDelta`], in arrival order, without
/// coalescing per key, so handlers see every intermediate state. A relist (`replace`)
/// is queued as one unit: the `Replaced` deltas of the listed objects and the `Deleted`
/// tombstones of the objects that vanished, popped together so that the controller applies
/// the whole relist in one store write. Consecutive single changes pop in batches (up to
/// the `max` given to [`InOrderFifo::pop_batch`]), also applied in one store write each.
///
/// To find what a relist deleted, the FIFO combines the known objects (the store) with
/// what it still holds for each key (the effect of the newest queued delta).
pub struct InOrderFifo<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    key_func: KeyFunc<K>,
    known: Option<Arc<dyn KnownObjects<K>>>,
}

impl<K> fmt::Debug for InOrderFifo<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("InOrderFifo")
            .field("queued", &state.queue.len())
            .field("populated", &state.populated)
            .field("closed", &state.closed)
            .finish()
    }
}

impl<K: Object> InOrderFifo<K> {
    /// A FIFO keyed by [`meta_namespace_key`] that consults `known` (normally the
    /// informer's Indexer) to detect deletions missed before a relist.
    pub fn new(known: Option<Arc<dyn KnownObjects<K>>>) -> Self {
        InOrderFifo {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                pending: HashMap::new(),
                populated: false,
                initial_population_count: 0,
                closed: false,
            }),
            notify: Notify::new(),
            key_func: Arc::new(|obj: &K| meta_namespace_key(obj)),
            known,
        }
    }
}

impl<K> InOrderFifo<K> {
    fn queue(&self, kind: DeltaType, obj: Arc<K>) -> Result<(), KeyError> {
        let key: Arc<str> = Arc::from((self.key_func)(&obj)?);
        let mut state = self.state.lock();
        state.populated = true;
        state.push(Entry::One(QueuedDelta {
            key,
            delta: Delta {
                kind,
                object: DeltaObject::Object(obj),
            },
        }));
        drop(state);
        self.notify.notify_waiters();
        Ok(())
    }

    /// Queues an `Added` delta.
    pub fn add(&self, obj: Arc<K>) -> Result<(), KeyError> {
        self.queue(DeltaType::Added, obj)
    }

    /// Queues an `Updated` delta.
    pub fn update(&self, obj: Arc<K>) -> Result<(), KeyError> {
        self.queue(DeltaType::Updated, obj)
    }

    /// Queues a `Deleted` delta.
    pub fn delete(&self, obj: Arc<K>) -> Result<(), KeyError> {
        self.queue(DeltaType::Deleted, obj)
    }

    /// Queues a relist as one unit: `Replaced` for every listed object, then a `Deleted`
    /// tombstone for every key that the store holds (or will hold once the queue ahead
    /// is applied) but the list lacks.
    pub fn replace(&self, list: Vec<Arc<K>>, _resource_version: &str) -> Result<(), KeyError> {
        let mut deltas = Vec::with_capacity(list.len());
        for obj in list {
            deltas.push(QueuedDelta {
                key: Arc::from((self.key_func)(&obj)?),
                delta: Delta {
                    kind: DeltaType::Replaced,
                    object: DeltaObject::Object(obj),
                },
            });
        }
        let listed: std::collections::HashSet<Arc<str>> =
            deltas.iter().map(|d| d.key.clone()).collect();
        let mut state = self.state.lock();
        let mut vanished: Vec<(Arc<str>, Arc<K>)> = Vec::new();
        for (key, p) in &state.pending {
            if let (false, Some(obj)) = (listed.contains(key), &p.last) {
                vanished.push((key.clone(), obj.clone()));
            }
        }
        if let Some(known) = &self.known {
            for key in known.list_keys() {
                let key: Arc<str> = Arc::from(key);
                if listed.contains(&key) || state.pending.contains_key(&key) {
                    continue;
                }
                if let Some(obj) = known.get_by_key(&key) {
                    vanished.push((key, obj));
                }
            }
        }
        for (key, obj) in vanished {
            deltas.push(QueuedDelta {
                key: key.clone(),
                delta: Delta {
                    kind: DeltaType::Deleted,
                    object: DeltaObject::Tombstone(DeletedFinalStateUnknown {
                        key: key.to_string(),
                        obj,
                    }),
                },
            });
        }
        if !state.populated {
            state.populated = true;
            state.initial_population_count = state.queue.len() + 1;
        }
        state.push(Entry::Relist(deltas));
        drop(state);
        self.notify.notify_waiters();
        Ok(())
    }

    /// Queues every known object again as `Sync`, unless the queue already holds a change
    /// for it.
    pub fn resync(&self) {
        let Some(known) = &self.known else {
            return;
        };
        let mut state = self.state.lock();
        let mut queued = false;
        for key in known.list_keys() {
            let key: Arc<str> = Arc::from(key);
            if state.pending.contains_key(&key) {
                continue;
            }
            if let Some(obj) = known.get_by_key(&key) {
                state.push(Entry::One(QueuedDelta {
                    key,
                    delta: Delta {
                        kind: DeltaType::Sync,
                        object: DeltaObject::Object(obj),
                    },
                }));
                queued = true;
            }
        }
        drop(state);
        if queued {
            self.notify.notify_waiters();
        }
    }

    /// Waits for queued changes and hands the next batch to `process`, with whether it
    /// belongs to the initial list: a whole relist, or up to `max` consecutive single
    /// changes. `process` runs under the FIFO's lock, as with the DeltaFifo.
    /// [`ProcessError::Requeue`] is treated as a failure: in-order delivery cannot put a
    /// batch back without reordering it.
    pub async fn pop_batch<T, E, F>(&self, max: usize, process: F) -> Result<T, PopError<E>>
    where
        F: FnOnce(&[QueuedDelta<K>], bool) -> Result<T, ProcessError<E>>,
    {
        loop {
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            {
                let mut guard = self.state.lock();
                let state = &mut *guard;
                if let Some(first) = state.queue.pop_front() {
                    let initial = !state.has_synced();
                    let mut popped = 1;
                    let batch = match first {
                        Entry::Relist(ds) => ds,
                        Entry::One(d) => {
                            let mut batch = vec![d];
                            while batch.len() < max.max(1) {
                                match state.queue.front() {
                                    Some(Entry::One(_)) => {}
                                    _ => break,
                                }
                                if let Some(Entry::One(d)) = state.queue.pop_front() {
                                    batch.push(d);
                                    popped += 1;
                                }
                            }
                            batch
                        }
                    };
                    state.initial_population_count =
                        state.initial_population_count.saturating_sub(popped);
                    batch.iter().for_each(|d| state.note_popped(d));
                    return match process(&batch, initial) {
                        Ok(v) => Ok(v),
                        Err(ProcessError::Fail(e) | ProcessError::Requeue(e)) => {
                            Err(PopError::Process(e))
                        }
                    };
                }
                if state.closed {
                    return Err(PopError::Closed);
                }
            }
            notified.await;
        }
    }

    /// Whether the first relist (or any earlier change) has been popped entirely.
    pub fn has_synced(&self) -> bool {
        self.state.lock().has_synced()
    }

    /// Closes the FIFO and wakes every waiting pop.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.notify.notify_waiters();
    }

    /// Queued entries (a relist counts as one).
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Indexer, Indexers};
    use crate::meta::{DynamicObject, ObjectMeta};

    fn obj(name: &str, rv: u64) -> Arc<DynamicObject> {
        Arc::new(DynamicObject {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(rv.to_string()),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn kinds(batch: &[QueuedDelta<DynamicObject>]) -> Vec<String> {
        batch
            .iter()
            .map(|d| format!("{:?} {}", d.delta.kind, d.key))
            .collect()
    }

    async fn pop(f: &InOrderFifo<DynamicObject>, max: usize) -> (Vec<String>, bool) {
        f.pop_batch(max, |b, initial| {
            Ok::<_, ProcessError<()>>((kinds(b), initial))
        })
        .await
        .map_err(|_| ())
        .expect("a batch")
    }

    #[tokio::test]
    async fn every_change_pops_in_order_without_coalescing() {
        let f = InOrderFifo::new(None);
        f.add(obj("a", 1)).unwrap();
        f.update(obj("a", 2)).unwrap();
        f.add(obj("b", 3)).unwrap();
        f.delete(obj("a", 4)).unwrap();
        assert_eq!(
            pop(&f, 3).await.0,
            ["Added ns/a", "Updated ns/a", "Added ns/b"]
        );
        assert_eq!(pop(&f, 3).await.0, ["Deleted ns/a"]);
    }

    #[tokio::test]
    async fn a_relist_pops_as_one_batch_with_tombstones_and_syncs() {
        let store = Indexer::new(Indexers::new());
        store.add(obj("gone", 1)).unwrap();
        store.add(obj("kept", 1)).unwrap();
        let known: Arc<dyn KnownObjects<DynamicObject>> = Arc::new(store.clone());
        let f = InOrderFifo::new(Some(known));
        f.replace(vec![obj("kept", 3), obj("new", 3)], "3").unwrap();
        assert!(!f.has_synced());
        let (relist, initial) = pop(&f, 10).await;
        assert!(initial);
        assert_eq!(
            relist,
            ["Replaced ns/kept", "Replaced ns/new", "Deleted ns/gone"]
        );
        assert!(f.has_synced());
        // A later relist also removes what is still queued but no longer listed.
        f.add(obj("queued-then-gone", 4)).unwrap();
        f.replace(vec![obj("kept", 5)], "5").unwrap();
        f.add(obj("after", 6)).unwrap();
        assert_eq!(
            pop(&f, 10).await,
            (vec!["Added ns/queued-then-gone".to_owned()], false)
        );
        let (mut relist, _) = pop(&f, 10).await;
        relist[1..].sort();
        assert_eq!(
            relist,
            [
                "Replaced ns/kept",
                "Deleted ns/gone",
                "Deleted ns/queued-then-gone"
            ]
        );
        assert_eq!(
            pop(&f, 10).await,
            (vec!["Added ns/after".to_owned()], false)
        );
    }

    #[tokio::test]
    async fn close_wakes_a_waiting_pop() {
        let f = Arc::new(InOrderFifo::<DynamicObject>::new(None));
        let waiter = tokio::spawn({
            let f = f.clone();
            async move {
                f.pop_batch(1, |_, _| Ok::<_, ProcessError<()>>(()))
                    .await
                    .is_err()
            }
        });
        tokio::task::yield_now().await;
        f.close();
        assert!(waiter.await.unwrap());
    }
}
