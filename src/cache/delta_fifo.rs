//! `DeltaFifo`: the queue between the Reflector and the controller loop.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::ops::Deref;
use std::pin::pin;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::key::{meta_namespace_key, KeyError};
use super::store::{Indexer, KeyFunc};
use crate::meta::Object;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeltaType {
    /// The object was created.
    Added,
    /// The object changed.
    Updated,
    /// The object was deleted.
    Deleted,
    /// The object was in a relist (a watch could not continue, so everything was listed
    /// again); it may or may not have changed.
    Replaced,
    /// A periodic resync: the object did not change.
    Sync,
}

/// The last state the cache knew of an object whose deletion was missed (for example
/// while the watch was disconnected). The object may be stale.
#[derive(Debug)]
pub struct DeletedFinalStateUnknown<K> {
    /// The key of the deleted object.
    pub key: String,
    /// The last known state of the object.
    pub obj: Arc<K>,
}

impl<K> Clone for DeletedFinalStateUnknown<K> {
    fn clone(&self) -> Self {
        DeletedFinalStateUnknown {
            key: self.key.clone(),
            obj: self.obj.clone(),
        }
    }
}

impl<K> PartialEq for DeletedFinalStateUnknown<K> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && Arc::ptr_eq(&self.obj, &other.obj)
    }
}

/// The object a delta carries: the object itself, or a tombstone for a deletion whose
/// final state is unknown.
#[derive(Debug)]
pub enum DeltaObject<K> {
    /// The object as it was at this delta.
    Object(Arc<K>),
    /// A tombstone: the object was deleted but its final state is unknown.
    Tombstone(DeletedFinalStateUnknown<K>),
}

impl<K> DeltaObject<K> {
    /// The object, or the tombstone's last known object.
    pub fn object(&self) -> &Arc<K> {
        match self {
            DeltaObject::Object(o) => o,
            DeltaObject::Tombstone(t) => &t.obj,
        }
    }

    /// Whether this is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, DeltaObject::Tombstone(_))
    }
}

impl<K> Clone for DeltaObject<K> {
    fn clone(&self) -> Self {
        match self {
            DeltaObject::Object(o) => DeltaObject::Object(o.clone()),
            DeltaObject::Tombstone(t) => DeltaObject::Tombstone(t.clone()),
        }
    }
}

impl<K> PartialEq for DeltaObject<K> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (DeltaObject::Object(a), DeltaObject::Object(b)) => Arc::ptr_eq(a, b),
            (DeltaObject::Tombstone(a), DeltaObject::Tombstone(b)) => a == b,
            _ => false,
        }
    }
}

/// One change to one object.
#[derive(Debug)]
pub struct Delta<K> {
    /// What happened.
    pub kind: DeltaType,
    /// The object (or tombstone) after the change.
    pub object: DeltaObject<K>,
}

impl<K> Clone for Delta<K> {
    fn clone(&self) -> Self {
        Delta {
            kind: self.kind,
            object: self.object.clone(),
        }
    }
}

impl<K> PartialEq for Delta<K> {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.object == other.object
    }
}

/// Everything that happened to one object while it waited in the queue, oldest first.
/// Never empty when handed out by the FIFO.
#[derive(Debug)]
pub struct Deltas<K>(Vec<Delta<K>>);

impl<K> Deltas<K> {
    /// Deltas from a list, oldest first.
    pub fn new(deltas: Vec<Delta<K>>) -> Self {
        Deltas(deltas)
    }

    /// The oldest delta.
    pub fn oldest(&self) -> Option<&Delta<K>> {
        self.0.first()
    }

    /// The newest delta.
    pub fn newest(&self) -> Option<&Delta<K>> {
        self.0.last()
    }

    /// The deltas as a vector, oldest first.
    pub fn into_vec(self) -> Vec<Delta<K>> {
        self.0
    }

    /// Appends a delta, collapsing two consecutive deletions into one: the one that
    /// carries more information (an object beats a tombstone; between two objects, the
    /// earlier one, as client-go keeps it).
    fn push(&mut self, delta: Delta<K>) {
        if delta.kind == DeltaType::Deleted {
            if let Some(prev) = self.0.last_mut() {
                if prev.kind == DeltaType::Deleted {
                    if prev.object.is_tombstone() {
                        *prev = delta;
                    }
                    return;
                }
            }
        }
        self.0.push(delta);
    }
}

impl<K> Clone for Deltas<K> {
    fn clone(&self) -> Self {
        Deltas(self.0.clone())
    }
}

impl<K> PartialEq for Deltas<K> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K> Deref for Deltas<K> {
    type Target = [Delta<K>];
    fn deref(&self) -> &[Delta<K>] {
        &self.0
    }
}

impl<'a, K> IntoIterator for &'a Deltas<K> {
    type Item = &'a Delta<K>;
    type IntoIter = std::slice::Iter<'a, Delta<K>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// What the FIFO asks of the store it feeds: its keys and objects, to detect missed
/// deletions on `replace` and to queue `Sync` deltas on `resync`.
pub trait KnownObjects<K>: Send + Sync {
    /// Every key the store holds.
    fn list_keys(&self) -> Vec<String>;
    /// The object stored under `key`.
    fn get_by_key(&self, key: &str) -> Option<Arc<K>>;
}

impl<K: Send + Sync> KnownObjects<K> for Indexer<K> {
    fn list_keys(&self) -> Vec<String> {
        Indexer::list_keys(self)
    }
    fn get_by_key(&self, key: &str) -> Option<Arc<K>> {
        Indexer::get_by_key(self, key)
    }
}

/// What a processing function handed to [`DeltaFifo::pop`] may fail with.
#[derive(Debug)]
pub enum ProcessError<E> {
    /// Queue the deltas again (unless newer deltas for the key arrived meanwhile) and
    /// return the error from `pop`.
    Requeue(E),
    /// Drop the deltas and return the error from `pop`.
    Fail(E),
}

/// Why [`DeltaFifo::pop`] returned without a processed item.
#[derive(Debug, thiserror::Error)]
pub enum PopError<E> {
    /// The FIFO was closed; nothing more will come.
    #[error("the DeltaFifo is closed")]
    Closed,
    /// The processing function failed.
    #[error("processing the popped deltas failed: {0}")]
    Process(E),
}

struct State<K> {
    items: FastMap<Arc<str>, Deltas<K>>,
    queue: VecDeque<Arc<str>>,
    populated: bool,
    initial_population_count: usize,
    closed: bool,
    /// Keys listed so far by a replace delivered in pages.
    replacing: Option<FastSet<Arc<str>>>,
    /// The first replace is still being delivered: not synced yet.
    initial_replace_open: bool,
}

impl<K> State<K> {
    fn has_synced(&self) -> bool {
        self.populated && self.initial_population_count == 0 && !self.initial_replace_open
    }

    /// Queues a delta, counting a newly queued key toward the initial population while
    /// the first replace is open.
    fn queue_counted(&mut self, key: &str, delta: Delta<K>) {
        let new_key = !self.items.contains_key(key);
        self.queue_action(key, delta);
        if new_key && self.initial_replace_open {
            self.initial_population_count += 1;
        }
    }

    fn replace_start_locked(&mut self) {
        self.replacing = Some(FastSet::default());
        if !self.populated {
            self.populated = true;
            self.initial_replace_open = true;
            self.initial_population_count = self.queue.len();
        }
    }

    fn replace_page_locked(&mut self, keyed: Vec<(String, Arc<K>)>) {
        let mut listed = self.replacing.take().unwrap_or_default();
        for (key, obj) in keyed {
            self.queue_counted(
                &key,
                Delta {
                    kind: DeltaType::Replaced,
                    object: DeltaObject::Object(obj),
                },
            );
            listed.insert(Arc::from(key));
        }
        self.replacing = Some(listed);
    }

    /// Queues a deletion of `key` whose final state is unknown: `obj` is the last state
    /// seen (client-go's `DeletedFinalStateUnknown`).
    fn queue_tombstone(&mut self, key: &str, obj: Arc<K>) {
        let tombstone = DeletedFinalStateUnknown {
            key: key.to_owned(),
            obj,
        };
        self.queue_counted(
            key,
            Delta {
                kind: DeltaType::Deleted,
                object: DeltaObject::Tombstone(tombstone),
            },
        );
    }

    fn replace_finish_locked(&mut self, known: Option<&Arc<dyn KnownObjects<K>>>) {
        let listed = self.replacing.take().unwrap_or_default();
        // Queued keys absent from the list: tombstone with the newest queued object.
        let missing_queued: Vec<(Arc<str>, Arc<K>)> = self
            .queue
            .iter()
            .filter(|k| !listed.contains(&***k))
            .filter_map(|k| {
                let newest = self.items.get(k)?.newest()?;
                Some((k.clone(), newest.object.object().clone()))
            })
            .collect();
        for (key, obj) in missing_queued {
            self.queue_tombstone(&key, obj);
        }
        // Known keys absent from the list and not queued: tombstone with the known object.
        if let Some(known) = known {
            for key in known.list_keys() {
                if listed.contains(key.as_str()) || self.items.contains_key(key.as_str()) {
                    continue;
                }
                let Some(obj) = known.get_by_key(&key) else {
                    tracing::warn!(
                        key,
                        "known object vanished during replace; no tombstone queued"
                    );
                    continue;
                };
                self.queue_tombstone(&key, obj);
            }
        }
        self.initial_replace_open = false;
    }

    fn queue_action(&mut self, key: &str, delta: Delta<K>) {
        match self.items.get_mut(key) {
            Some(deltas) => deltas.push(delta),
            None => {
                let key: Arc<str> = Arc::from(key);
                self.queue.push_back(key.clone());
                self.items.insert(key, Deltas(vec![delta]));
            }
        }
    }
}

/// A producer/consumer queue of [`Deltas`] per object key, with client-go's DeltaFIFO
/// semantics.
///
/// ```
/// # tokio_test_block(async {
/// use std::sync::Arc;
/// use informer::cache::{DeltaFifo, DeltaType, ProcessError};
/// use informer::meta::{DynamicObject, ObjectMeta};
///
/// let pod = |name: &str| Arc::new(DynamicObject {
///     metadata: ObjectMeta { namespace: Some("ns".into()), name: Some(name.into()), ..Default::default() },
///     ..Default::default()
/// });
/// let fifo = DeltaFifo::new(None);
/// fifo.add(pod("a")).unwrap();
/// fifo.add(pod("b")).unwrap();
/// fifo.update(pod("a")).unwrap();
/// let kinds = fifo
///     .pop(|key, deltas, _| {
///         assert_eq!(key, "ns/a");
///         Ok::<_, ProcessError<()>>(deltas.iter().map(|d| d.kind).collect::<Vec<_>>())
///     })
///     .await
///     .unwrap();
/// assert_eq!(kinds, [DeltaType::Added, DeltaType::Updated]);
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
///
/// # How it works
///
/// The Reflector turns what it lists and watches into calls of [`DeltaFifo::add`],
/// [`DeltaFifo::update`], [`DeltaFifo::delete`] and [`DeltaFifo::replace`]; each call
/// appends a [`Delta`] to the entry of the object's key. The controller loop calls
/// [`DeltaFifo::pop`], which hands one key's whole [`Deltas`] (everything that happened to
/// that object while it waited) to a processing function, in the order keys were first
/// queued.
///
/// The FIFO consults the *known objects* (the informer's [`Indexer`](super::Indexer)) to
/// detect deletions missed while the watch was down: a `replace` queues a `Deleted` delta
/// carrying a [`DeletedFinalStateUnknown`] tombstone for every known key the new list
/// lacks. The processing function runs under the FIFO's lock, as in client-go, so that the
/// known objects never disagree with the queue while a `replace` looks at them.
pub struct DeltaFifo<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    key_func: KeyFunc<K>,
    known: Option<Arc<dyn KnownObjects<K>>>,
}

impl<K> fmt::Debug for DeltaFifo<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("DeltaFifo")
            .field("queued", &state.queue.len())
            .field("populated", &state.populated)
            .field("initial_population_count", &state.initial_population_count)
            .field("closed", &state.closed)
            .finish()
    }
}

impl<K: Object> DeltaFifo<K> {
    /// A FIFO keyed by [`meta_namespace_key`] that consults `known` (normally the
    /// informer's Indexer) to detect missed deletions.
    pub fn new(known: Option<Arc<dyn KnownObjects<K>>>) -> Self {
        Self::with_key_func(Arc::new(|obj: &K| meta_namespace_key(obj)), known)
    }
}

impl<K> DeltaFifo<K> {
    /// A FIFO with a custom key function.
    pub fn with_key_func(key_func: KeyFunc<K>, known: Option<Arc<dyn KnownObjects<K>>>) -> Self {
        DeltaFifo {
            state: Mutex::new(State {
                items: FastMap::default(),
                queue: VecDeque::new(),
                populated: false,
                initial_population_count: 0,
                closed: false,
                replacing: None,
                initial_replace_open: false,
            }),
            notify: Notify::new(),
            key_func,
            known,
        }
    }

    fn key_of_delta(&self, delta: &Delta<K>) -> Result<String, KeyError> {
        match &delta.object {
            DeltaObject::Object(o) => (self.key_func)(o),
            DeltaObject::Tombstone(t) => Ok(t.key.clone()),
        }
    }

    fn queue(&self, kind: DeltaType, obj: Arc<K>) -> Result<(), KeyError> {
        let key = (self.key_func)(&obj)?;
        let mut state = self.state.lock();
        state.populated = true;
        state.queue_action(
            &key,
            Delta {
                kind,
                object: DeltaObject::Object(obj),
            },
        );
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

    /// Queues a `Deleted` delta, unless the object is neither queued nor known (it was
    /// already reported deleted, for example by a relist).
    pub fn delete(&self, obj: Arc<K>) -> Result<(), KeyError> {
        let key = (self.key_func)(&obj)?;
        let mut state = self.state.lock();
        state.populated = true;
        let queued = state.items.contains_key(key.as_str());
        let known = match &self.known {
            Some(known) => known.get_by_key(&key).is_some(),
            None => false,
        };
        if !queued && !known {
            return Ok(());
        }
        state.queue_action(
            &key,
            Delta {
                kind: DeltaType::Deleted,
                object: DeltaObject::Object(obj),
            },
        );
        drop(state);
        self.notify.notify_waiters();
        Ok(())
    }

    /// Replaces the whole content with a fresh list (after a list or relist).
    ///
    /// Every listed object gets a `Replaced` delta. Every key that is queued, or held by
    /// the known objects, but absent from `list` gets a `Deleted` delta carrying a
    /// [`DeletedFinalStateUnknown`] with the last state known (the newest queued object,
    /// else the known object). The first `replace` sets the initial population that
    /// [`DeltaFifo::has_synced`] waits for. The resourceVersion is accepted for parity
    /// with client-go; the FIFO does not use it.
    pub fn replace(&self, list: Vec<Arc<K>>, _resource_version: &str) -> Result<(), KeyError> {
        // Keys first, so a bad object fails the call before anything is queued.
        let keyed = list
            .into_iter()
            .map(|obj| Ok(((self.key_func)(&obj)?, obj)))
            .collect::<Result<Vec<_>, KeyError>>()?;
        let mut state = self.state.lock();
        state.replace_start_locked();
        state.replace_page_locked(keyed);
        state.replace_finish_locked(self.known.as_ref());
        drop(state);
        self.notify.notify_waiters();
        Ok(())
    }

    /// Starts a replace delivered in pages: [`replace_page`](Self::replace_page) for each
    /// page, then [`replace_finish`](Self::replace_finish). Consumers may pop the pages
    /// already queued meanwhile, so a relist never holds the old and the new contents
    /// whole at once. Starting again forgets the keys listed so far (a list restarted
    /// after an error). Until the first replace finishes, [`has_synced`](Self::has_synced)
    /// stays false.
    pub fn replace_start(&self) {
        self.state.lock().replace_start_locked();
    }

    /// Queues `Replaced` deltas for one page of a replace begun with
    /// [`replace_start`](Self::replace_start).
    pub fn replace_page(&self, page: Vec<Arc<K>>) -> Result<(), KeyError> {
        let keyed = page
            .into_iter()
            .map(|obj| Ok(((self.key_func)(&obj)?, obj)))
            .collect::<Result<Vec<_>, KeyError>>()?;
        self.state.lock().replace_page_locked(keyed);
        self.notify.notify_waiters();
        Ok(())
    }

    /// Ends a paged replace: every key that is queued, or held by the known objects, but
    /// was in no page gets a `Deleted` tombstone, as [`replace`](Self::replace) does.
    pub fn replace_finish(&self, _resource_version: &str) {
        self.state.lock().replace_finish_locked(self.known.as_ref());
        self.notify.notify_waiters();
    }

    /// Queues a `Sync` delta for every known object whose key is not already queued.
    /// Does nothing without known objects.
    pub fn resync(&self) {
        let Some(known) = &self.known else {
            return;
        };
        let mut state = self.state.lock();
        let mut queued_any = false;
        for key in known.list_keys() {
            if state.items.contains_key(key.as_str()) {
                continue;
            }
            let Some(obj) = known.get_by_key(&key) else {
                continue;
            };
            state.queue_action(
                &key,
                Delta {
                    kind: DeltaType::Sync,
                    object: DeltaObject::Object(obj),
                },
            );
            queued_any = true;
        }
        drop(state);
        if queued_any {
            self.notify.notify_waiters();
        }
    }

    /// Queues `deltas` again under their key unless that key is already queued (newer
    /// deltas win). Used to retry an item whose processing failed.
    pub fn add_if_not_present(&self, deltas: Deltas<K>) -> Result<(), KeyError> {
        let Some(newest) = deltas.newest() else {
            return Ok(());
        };
        let key = self.key_of_delta(newest)?;
        let mut state = self.state.lock();
        add_if_not_present_locked(&mut state, &key, deltas);
        drop(state);
        self.notify.notify_waiters();
        Ok(())
    }

    /// Waits for the next key, removes its deltas from the queue and hands them to
    /// `process` with the key and whether they belong to the initial list.
    ///
    /// `process` runs under the FIFO's lock (producers wait meanwhile), so it must be
    /// quick and must not call back into this FIFO. Returning
    /// [`ProcessError::Requeue`] puts the deltas back unless newer ones arrived. A closed
    /// FIFO still hands out what it holds; once it is closed and empty, `pop` returns
    /// [`PopError::Closed`].
    pub async fn pop<T, E, F>(&self, process: F) -> Result<T, PopError<E>>
    where
        F: FnOnce(&str, &Deltas<K>, bool) -> Result<T, ProcessError<E>>,
    {
        loop {
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            {
                let mut state = self.state.lock();
                while let Some(key) = state.queue.pop_front() {
                    let is_in_initial_list = !state.has_synced();
                    if state.initial_population_count > 0 {
                        state.initial_population_count -= 1;
                    }
                    let Some(deltas) = state.items.remove(&key) else {
                        tracing::error!(key = &*key, "key queued without deltas; skipping");
                        continue;
                    };
                    return match process(&key, &deltas, is_in_initial_list) {
                        Ok(v) => Ok(v),
                        Err(ProcessError::Fail(e)) => Err(PopError::Process(e)),
                        Err(ProcessError::Requeue(e)) => {
                            add_if_not_present_locked(&mut state, &key, deltas);
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

    /// Whether the first `replace` (or any earlier add, update or delete) happened and
    /// everything it queued has been popped.
    pub fn has_synced(&self) -> bool {
        self.state.lock().has_synced()
    }

    /// Closes the FIFO and wakes every waiting `pop`, which returns [`PopError::Closed`].
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.notify.notify_waiters();
    }

    /// Whether [`DeltaFifo::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// The queued keys, in the order they will pop.
    pub fn list_keys(&self) -> Vec<String> {
        self.state
            .lock()
            .queue
            .iter()
            .map(|k| k.to_string())
            .collect()
    }

    /// A copy of the deltas queued for `key`.
    pub fn get_by_key(&self, key: &str) -> Option<Deltas<K>> {
        self.state.lock().items.get(key).cloned()
    }

    /// Number of queued keys.
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn add_if_not_present_locked<K>(state: &mut State<K>, key: &str, deltas: Deltas<K>) {
    state.populated = true;
    if state.items.contains_key(key) {
        return;
    }
    let key: Arc<str> = Arc::from(key);
    state.queue.push_back(key.clone());
    state.items.insert(key, deltas);
}
