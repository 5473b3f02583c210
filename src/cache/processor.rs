//! The shared processor: fans the informer's notifications out to every registered
//! handler.
//!
//! The controller loop calls [`SharedProcessor::distribute`] once per change; the
//! processor appends the notification to each listener's unbounded buffer and returns at
//! once. Every listener has its own thread that takes notifications from its buffer in
//! order and calls its [`ResourceEventHandler`], so a slow or blocking handler delays
//! neither the informer nor any other handler, and never blocks an async runtime. An
//! idle buffer holds no slots. The thread has the tokio runtime that registered the
//! handler entered, so a handler may `tokio::spawn` work onto it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use super::handler::{DeletedObject, ResourceEventHandler};

/// One change, as a listener receives it.
pub(crate) enum Notification<K> {
    Add(Arc<K>, bool),
    Update(Arc<K>, Arc<K>),
    Delete(DeletedObject<K>),
}

impl<K> Clone for Notification<K> {
    fn clone(&self) -> Self {
        match self {
            Notification::Add(o, i) => Notification::Add(o.clone(), *i),
            Notification::Update(a, b) => Notification::Update(a.clone(), b.clone()),
            Notification::Delete(d) => Notification::Delete(d.clone()),
        }
    }
}

/// Whether the informer feeding a listener has synced.
pub(crate) type UpstreamSynced = Arc<dyn Fn() -> bool + Send + Sync>;

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
}

impl<K> Listener<K> {
    fn send(&self, n: Notification<K>) {
        let initial = matches!(n, Notification::Add(_, true));
        let sender = self.sender.lock();
        let Some(sender) = sender.as_ref() else {
            return;
        };
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

    /// Notifications waiting in this handler's buffer.
    pub fn pending(&self) -> usize {
        self.listener.pending.load(Ordering::Relaxed)
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
    pub(crate) fn add_listener(
        &self,
        handler: Box<dyn ResourceEventHandler<K>>,
        resync_period: Option<Duration>,
        upstream_synced: UpstreamSynced,
        initial: Vec<Arc<K>>,
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
        });
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
    handler: Box<dyn ResourceEventHandler<K>>,
    rx: mpsc::Receiver<Notification<K>>,
) {
    while let Ok(n) = rx.recv() {
        listener.pending.fetch_sub(1, Ordering::Relaxed);
        if listener.stopping.load(Ordering::Acquire) {
            break;
        }
        let initial = matches!(n, Notification::Add(_, true));
        let result = catch_unwind(AssertUnwindSafe(|| match n {
            Notification::Add(obj, initial) => handler.on_add(obj, initial),
            Notification::Update(old, new) => handler.on_update(old, new),
            Notification::Delete(deleted) => handler.on_delete(deleted),
        }));
        if let Err(panic) = result {
            let message = panic_message(&*panic);
            tracing::error!(handler = listener.id, %message, "event handler panicked; it keeps receiving events");
        }
        if initial {
            listener.initial_pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
    drop(handler);
    listener.stopped.store(true, Ordering::Release);
    listener.stopped_notify.notify_waiters();
}

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
