//! The shared processor: fans the informer's notifications out to every registered
//! handler.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use super::handler::{DeletedObject, ResourceEventHandler};
use super::DeletedFinalStateUnknown;

/// One change, as a listener receives it.
pub(crate) enum Notification<K> {
    Add(Arc<K>, bool),
    Update(Arc<K>, Arc<K>),
    Delete(DeletedObject<K>),
    /// A bounded buffer overflowed: everything before this was dropped; bring the
    /// handler up to date from the cache.
    Resync,
}

impl<K> Clone for Notification<K> {
    fn clone(&self) -> Self {
        match self {
            Notification::Add(o, i) => Notification::Add(o.clone(), *i),
            Notification::Update(a, b) => Notification::Update(a.clone(), b.clone()),
            Notification::Delete(d) => Notification::Delete(d.clone()),
            Notification::Resync => Notification::Resync,
        }
    }
}

/// Whether the informer feeding a listener has synced.
pub(crate) type UpstreamSynced = Arc<dyn Fn() -> bool + Send + Sync>;

/// How a handler's notifications are delivered (see
/// [`SharedIndexInformer::add_event_handler_with_options`](super::SharedIndexInformer::add_event_handler_with_options)).
///
/// # Bounded buffers
///
/// By default a handler's buffer is unbounded: a handler slower than the stream of
/// changes holds every change it has not handled yet, and memory grows with the backlog.
/// Watch it with [`EventHandlerRegistration::pending`] (also in the informer's
/// metrics). With `max_pending`, the buffer holds at most that many notifications. When
/// a notification would go past it, the handler's whole backlog is dropped, and once it
/// finishes the call in progress the handler is brought up to date from the cache, as a
/// relist would: `on_add` for objects it has not seen (with `is_in_initial_list` true
/// only when the overflow came during its initial list), `on_update(last seen, current)`
/// for objects that changed, and `on_delete` with a [`DeletedFinalStateUnknown`]
/// tombstone for objects that are gone. It then goes on with
/// the changes made after that point. The handler converges to the cache without holding
/// an unbounded backlog, but skips intermediate states. To do that, a bounded handler
/// remembers the last object it was given per key (shared `Arc`s, no copies).
///
/// # How handlers are called
///
/// A handler's buffer is unbounded unless the handler was registered with a bound
/// ([`HandlerOptions::max_pending`]). A bounded buffer that is full is dropped whole and
/// the handler is brought up to date from the cache instead (see [`HandlerOptions`]).
///
/// The controller loop hands each change to the shared processor once; the
/// processor appends the notification to each listener's unbounded buffer and returns at
/// once. Every listener has its own thread that takes notifications from its buffer in
/// order and calls its [`ResourceEventHandler`], so a slow or blocking handler delays
/// neither the informer nor any other handler, and never blocks an async runtime. An
/// idle buffer holds no slots. The thread has the tokio runtime that registered the
/// handler entered, so a handler may `tokio::spawn` work onto it.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct HandlerOptions {
    /// The handler's resync period; `None` takes the informer's default.
    pub resync_period: Option<Duration>,
    /// The most notifications the handler's buffer holds; `None` (the default) is
    /// unbounded. See the type's docs for what happens when it is reached.
    pub max_pending: Option<usize>,
}

impl HandlerOptions {
    /// Resyncs the handler every `period`.
    pub fn resync_period(mut self, period: Duration) -> Self {
        self.resync_period = Some(period);
        self
    }

    /// Bounds the handler's buffer to `max` notifications (at least 1).
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = Some(max.max(1));
        self
    }
}

/// The cache's contents, taken at a point where no change is half delivered; `cut` runs
/// at that point, before the contents are read.
pub(crate) type Snapshot<K> = Arc<dyn Fn(&mut dyn FnMut()) -> Vec<Arc<K>> + Send + Sync>;

/// The cache's key of an object, if it has one.
pub(crate) type ObjectKey<K> = Arc<dyn Fn(&K) -> Option<String> + Send + Sync>;

/// What a bounded listener needs: its bound, the cache, and the cache's key function.
pub(crate) struct Bound<K> {
    pub(crate) max_pending: usize,
    pub(crate) snapshot: Snapshot<K>,
    pub(crate) key: ObjectKey<K>,
}

struct Listener<K> {
    id: u64,
    sender: Mutex<Option<mpsc::Sender<Notification<K>>>>,
    /// Notifications buffered and not yet handled.
    pending: AtomicUsize,
    /// Initial-list adds buffered and not yet handled.
    initial_pending: AtomicUsize,
    stopping: AtomicBool,
    stopped: AtomicBool,
    stopped_notify: Notify,
    resync_period: Option<Duration>,
    next_resync: Mutex<Option<Instant>>,
    /// Chosen by the last `should_resync`: receives `is_sync` notifications.
    syncing: AtomicBool,
    /// The bound on `pending`, if any.
    max_pending: Option<usize>,
    /// The bounded buffer overflowed: notifications are dropped until the runner brings
    /// the handler up to date.
    overflowed: AtomicBool,
    /// Whether the pending catch-up counts as part of the initial list.
    catch_up_is_initial: AtomicBool,
    /// Backlogs dropped so far.
    overflows: AtomicU64,
}

impl<K> Listener<K> {
    fn send(&self, n: Notification<K>) {
        let initial = matches!(n, Notification::Add(_, true));
        let sender = self.sender.lock();
        let Some(sender) = sender.as_ref() else {
            return;
        };
        if let Some(max) = self.max_pending {
            if self.overflowed.load(Ordering::Acquire) {
                // Dropped: the catch-up from the cache covers it.
                return;
            }
            if self.pending.load(Ordering::Relaxed) >= max {
                self.overflow(sender, max);
                return;
            }
        }
        self.pending.fetch_add(1, Ordering::Relaxed);
        if initial {
            self.initial_pending.fetch_add(1, Ordering::AcqRel);
        }
        if sender.send(n).is_err() {
            // The runner is gone (it only exits when stopping): undo the counts.
            self.pending.fetch_sub(1, Ordering::Relaxed);
            if initial {
                self.initial_pending.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// The bounded buffer is full: drop the backlog and queue a catch-up from the cache.
    fn overflow(&self, sender: &mpsc::Sender<Notification<K>>, max: usize) {
        self.overflowed.store(true, Ordering::Release);
        self.overflows.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(handler = self.id, max_pending = max,
            "event handler's buffer is full; dropping its backlog and bringing it up to date from the cache");
        let initial = self.initial_pending.load(Ordering::Acquire) > 0;
        self.catch_up_is_initial.store(initial, Ordering::Release);
        self.pending.fetch_add(1, Ordering::Relaxed);
        if initial {
            self.initial_pending.fetch_add(1, Ordering::AcqRel);
        }
        if sender.send(Notification::Resync).is_err() {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            if initial {
                self.initial_pending.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.sender.lock().take();
    }
}

/// A handler's registration with an informer: its own sync state, its buffer depth, and
/// the handle to remove it (client-go's `ResourceEventHandlerRegistration`).
pub struct EventHandlerRegistration<K> {
    listener: Arc<Listener<K>>,
    upstream_synced: UpstreamSynced,
}

impl<K> Clone for EventHandlerRegistration<K> {
    fn clone(&self) -> Self {
        EventHandlerRegistration {
            listener: self.listener.clone(),
            upstream_synced: self.upstream_synced.clone(),
        }
    }
}

impl<K> std::fmt::Debug for EventHandlerRegistration<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHandlerRegistration")
            .field("id", &self.listener.id)
            .field("pending", &self.pending())
            .field("has_synced", &self.has_synced())
            .finish()
    }
}

impl<K> EventHandlerRegistration<K> {
    /// True once the informer has synced and this handler has handled every object of
    /// its initial list (for a handler added after start: the cache's contents then).
    pub fn has_synced(&self) -> bool {
        (self.upstream_synced)() && self.listener.initial_pending.load(Ordering::Acquire) == 0
    }

    /// Notifications waiting in this handler's buffer; 0 once the handler has stopped.
    ///
    /// The buffer is unbounded unless the handler was added with
    /// [`HandlerOptions::max_pending`]: a value that keeps growing means the handler is
    /// slower than the changes. Make it faster (queue keys to a work queue and do the work
    /// elsewhere, as client-go controllers do), or bound it.
    pub fn pending(&self) -> usize {
        if self.is_stopped() {
            return 0;
        }
        self.listener.pending.load(Ordering::Relaxed)
    }

    /// How many times this handler's bounded buffer overflowed: its backlog was dropped
    /// and it was brought up to date from the cache (see [`HandlerOptions`]).
    pub fn overflows(&self) -> u64 {
        self.listener.overflows.load(Ordering::Relaxed)
    }

    /// Whether the handler's runner has stopped (after removal or informer shutdown).
    pub fn is_stopped(&self) -> bool {
        self.listener.stopped.load(Ordering::Acquire)
    }

    /// Waits until the handler's runner has stopped: after removal it finishes the call in
    /// progress, drops what is still buffered and exits.
    pub async fn stopped(&self) {
        loop {
            let notified = self.listener.stopped_notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.listener.id
    }
}

/// Fans notifications out to listeners (client-go's `sharedProcessor`).
pub(crate) struct SharedProcessor<K> {
    listeners: RwLock<Vec<Arc<Listener<K>>>>,
    next_id: AtomicU64,
}

impl<K: Send + Sync + 'static> SharedProcessor<K> {
    pub(crate) fn new() -> Self {
        SharedProcessor {
            listeners: RwLock::new(Vec::new()),
            next_id: AtomicU64::new(1),
        }
    }

    /// Registers a handler: queues `initial` as adds of the initial list, then starts
    /// delivering everything distributed from now on.
    #[cfg(test)]
    pub(crate) fn add_listener(
        &self,
        handler: Box<dyn ResourceEventHandler<K>>,
        resync_period: Option<Duration>,
        upstream_synced: UpstreamSynced,
        initial: Vec<Arc<K>>,
    ) -> std::io::Result<EventHandlerRegistration<K>> {
        self.add_bounded_listener(handler, resync_period, upstream_synced, initial, None)
    }

    /// [`add_listener`](Self::add_listener), with an optional bound on its buffer.
    pub(crate) fn add_bounded_listener(
        &self,
        handler: Box<dyn ResourceEventHandler<K>>,
        resync_period: Option<Duration>,
        upstream_synced: UpstreamSynced,
        initial: Vec<Arc<K>>,
        bound: Option<Bound<K>>,
    ) -> std::io::Result<EventHandlerRegistration<K>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        let listener = Arc::new(Listener {
            id,
            sender: Mutex::new(Some(tx)),
            pending: AtomicUsize::new(0),
            initial_pending: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            stopped_notify: Notify::new(),
            resync_period: resync_period.filter(|p| !p.is_zero()),
            // A period too long to add to the clock never comes.
            next_resync: Mutex::new(Instant::now().checked_add(resync_period.unwrap_or_default())),
            syncing: AtomicBool::new(false),
            max_pending: bound.as_ref().map(|b| b.max_pending),
            overflowed: AtomicBool::new(false),
            catch_up_is_initial: AtomicBool::new(false),
            overflows: AtomicU64::new(0),
        });
        let handler = Delivery::new(handler, bound);
        let runner = listener.clone();
        // The handler runs with the registering runtime entered, so that it may
        // `tokio::spawn` (or use `Handle::current`) as code on the runtime would.
        let runtime = tokio::runtime::Handle::try_current().ok();
        std::thread::Builder::new()
            .name(format!("informer-handler-{id}"))
            .spawn(move || {
                let _entered = runtime.as_ref().map(|r| r.enter());
                run_listener(runner, handler, rx)
            })?;
        for obj in initial {
            listener.send(Notification::Add(obj, true));
        }
        self.listeners.write().push(listener.clone());
        Ok(EventHandlerRegistration {
            listener,
            upstream_synced,
        })
    }

    /// Stops and removes a handler; returns false if it was not registered here.
    pub(crate) fn remove_listener(&self, id: u64) -> bool {
        let mut listeners = self.listeners.write();
        let Some(pos) = listeners.iter().position(|l| l.id == id) else {
            return false;
        };
        let listener = listeners.remove(pos);
        listener.stop();
        true
    }

    /// Stops and removes every handler (the informer stopped).
    pub(crate) fn stop_all(&self) {
        for listener in self.listeners.write().drain(..) {
            listener.stop();
        }
    }

    /// Each handler's buffered notifications, in registration order.
    pub(crate) fn pending(&self) -> Vec<usize> {
        self.listeners
            .read()
            .iter()
            .map(|l| l.pending.load(Ordering::Relaxed))
            .collect()
    }

    /// Sends `n` to every listener, or, for a sync notification (an update that did not
    /// change the resourceVersion), to the listeners whose resync is due.
    pub(crate) fn distribute(&self, n: Notification<K>, is_sync: bool) {
        let listeners = self.listeners.read();
        let mut targets = listeners
            .iter()
            .filter(|l| !is_sync || l.syncing.load(Ordering::Relaxed))
            .peekable();
        while let Some(l) = targets.next() {
            if targets.peek().is_none() {
                l.send(n);
                return;
            }
            l.send(n.clone());
        }
    }

    /// Chooses the listeners whose resync period has elapsed at `now` and schedules their
    /// next one; returns whether any is due (client-go's `shouldResync`).
    pub(crate) fn should_resync(&self, now: Instant) -> bool {
        let mut any = false;
        for l in self.listeners.read().iter() {
            let due = match l.resync_period {
                Some(period) => {
                    let mut next = l.next_resync.lock();
                    if next.is_some_and(|n| now >= n) {
                        *next = now.checked_add(period);
                        true
                    } else {
                        false
                    }
                }
                None => false,
            };
            l.syncing.store(due, Ordering::Relaxed);
            any |= due;
        }
        any
    }
}

/// Handlers' threads end with the processor, also when the informer never ran.
impl<K> Drop for SharedProcessor<K> {
    fn drop(&mut self) {
        for listener in self.listeners.get_mut().drain(..) {
            listener.stop();
        }
    }
}

fn run_listener<K: Send + Sync + 'static>(
    listener: Arc<Listener<K>>,
    mut handler: Delivery<K>,
    rx: mpsc::Receiver<Notification<K>>,
) {
    while let Ok(n) = rx.recv() {
        listener.pending.fetch_sub(1, Ordering::Relaxed);
        if listener.stopping.load(Ordering::Acquire) {
            break;
        }
        let initial = matches!(n, Notification::Add(_, true));
        match n {
            Notification::Resync => {
                handler.catch_up(&listener);
                if listener.catch_up_is_initial.load(Ordering::Acquire) {
                    listener.initial_pending.fetch_sub(1, Ordering::AcqRel);
                }
                continue;
            }
            // Part of a dropped backlog: the catch-up queued after it covers it.
            _ if listener.overflowed.load(Ordering::Acquire) => {}
            n => handler.deliver(&listener, n),
        }
        if initial {
            listener.initial_pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
    drop(handler);
    listener.pending.store(0, Ordering::Relaxed);
    listener.stopped.store(true, Ordering::Release);
    listener.stopped_notify.notify_waiters();
}

/// A handler as its runner calls it: panics caught, and, when bounded, the last object
/// given per key remembered for a catch-up.
struct Delivery<K> {
    handler: Box<dyn ResourceEventHandler<K>>,
    bound: Option<Bound<K>>,
    seen: std::collections::HashMap<String, Arc<K>>,
}

impl<K: Send + Sync + 'static> Delivery<K> {
    fn new(handler: Box<dyn ResourceEventHandler<K>>, bound: Option<Bound<K>>) -> Self {
        Delivery {
            handler,
            bound,
            seen: Default::default(),
        }
    }

    fn deliver(&mut self, listener: &Listener<K>, n: Notification<K>) {
        if let Some(bound) = &self.bound {
            match &n {
                Notification::Add(obj, _) | Notification::Update(_, obj) => {
                    if let Some(key) = (bound.key)(obj) {
                        self.seen.insert(key, obj.clone());
                    }
                }
                Notification::Delete(DeletedObject::Unknown(t)) => {
                    self.seen.remove(&t.key);
                }
                Notification::Delete(DeletedObject::Object(obj)) => {
                    if let Some(key) = (bound.key)(obj) {
                        self.seen.remove(&key);
                    }
                }
                Notification::Resync => {}
            }
        }
        self.call(listener, n);
    }

    fn call(&self, listener: &Listener<K>, n: Notification<K>) {
        let handler = &self.handler;
        let result = catch_unwind(AssertUnwindSafe(|| match n {
            Notification::Add(obj, initial) => handler.on_add(obj, initial),
            Notification::Update(old, new) => handler.on_update(old, new),
            Notification::Delete(deleted) => handler.on_delete(deleted),
            Notification::Resync => {}
        }));
        if let Err(panic) = result {
            let message = panic_message(&*panic);
            tracing::error!(handler = listener.id, %message, "event handler panicked; it keeps receiving events");
        }
    }

    /// After an overflow: reopens the buffer and brings the handler from what it last
    /// saw to the cache's contents at that same point.
    fn catch_up(&mut self, listener: &Listener<K>) {
        let Some(bound) = &self.bound else {
            return;
        };
        let (snapshot, key) = (bound.snapshot.clone(), bound.key.clone());
        let objects = snapshot(&mut || listener.overflowed.store(false, Ordering::Release));
        let mut current = std::collections::HashMap::with_capacity(objects.len());
        for obj in objects {
            if let Some(k) = key(&obj) {
                current.insert(k, obj);
            }
        }
        let seen = std::mem::take(&mut self.seen);
        // Adds of a catch-up during the initial list still belong to it.
        let initial = listener.catch_up_is_initial.load(Ordering::Acquire);
        let mut calls = Vec::new();
        for (k, obj) in &current {
            match seen.get(k) {
                Some(old) if Arc::ptr_eq(old, obj) => {}
                Some(old) => calls.push(Notification::Update(old.clone(), obj.clone())),
                None => calls.push(Notification::Add(obj.clone(), initial)),
            }
        }
        for (k, old) in seen {
            if !current.contains_key(&k) {
                calls.push(Notification::Delete(DeletedObject::Unknown(
                    DeletedFinalStateUnknown { key: k, obj: old },
                )));
            }
        }
        self.seen = current;
        tracing::debug!(
            handler = listener.id,
            changes = calls.len(),
            "bringing the event handler up to date from the cache"
        );
        for n in calls {
            if listener.stopping.load(Ordering::Acquire) {
                return;
            }
            self.call(listener, n);
        }
    }
}

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
