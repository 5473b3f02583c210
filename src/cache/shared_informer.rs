//! `SharedIndexInformer`: one reflector, one queue, one indexed cache and any number of
//! event handlers for one kind of object (client-go's `sharedIndexInformer`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::controller::{process_in_order_loop, process_loop};
use super::delta_fifo::{DeltaFifo, KnownObjects};
use super::event_stream::{EventStream, StreamHandler};
use super::handler::ResourceEventHandler;
use super::in_order_fifo::InOrderFifo;
use super::lister::Lister;
use super::listwatch::ListerWatcher;
use super::metrics::{Counters, InformerMetrics};
use super::processor::{
    Bound, EventHandlerRegistration, HandlerOptions, SharedProcessor, UpstreamSynced,
};
use super::reflector::{
    Reflector, ReflectorError, ReflectorOptions, ReflectorStore, Transform, WatchErrorHandler,
};
use super::store::{Indexer, Indexers, StoreError};
use crate::meta::{MetaAccessor, Object};

/// The shortest resync period a handler can ask for; shorter ones are raised to it.
pub const MINIMUM_RESYNC_PERIOD: Duration = Duration::from_secs(1);

/// Why an informer refused a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InformerError {
    /// The informer has stopped: it takes no new handlers and cannot run again.
    #[error("informer {0:?} has stopped; create a new informer to watch again")]
    Stopped(String),
    /// The informer is running; this setting can only change before `run`.
    #[error("informer {0:?} has already started; {1} must be set before run")]
    AlreadyStarted(String, &'static str),
    /// The handler's thread could not be started.
    #[error("could not start a thread for the event handler: {0}")]
    Spawn(#[from] std::io::Error),
    /// The store refused the change (for example an index function failed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which queue sits between the reflector and the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueMode {
    /// The [`DeltaFifo`]: changes to one key coalesce while they wait, keys pop in the
    /// order they were first queued, one key per store write (client-go's classic
    /// behaviour; the default).
    #[default]
    DeltaFifo,
    /// The [`InOrderFifo`]: every change in arrival order, a relist applied as one
    /// atomic replace, consecutive changes applied in batches under one store write
    /// (client-go's `RealFIFO`).
    InOrder,
}

enum Queue<K> {
    Deltas(Arc<DeltaFifo<K>>),
    InOrder(Arc<InOrderFifo<K>>),
}

impl<K: Object + Send + Sync + 'static> Queue<K> {
    fn has_synced(&self) -> bool {
        match self {
            Queue::Deltas(q) => q.has_synced(),
            Queue::InOrder(q) => q.has_synced(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Queue::Deltas(q) => q.len(),
            Queue::InOrder(q) => q.len(),
        }
    }

    fn close(&self) {
        match self {
            Queue::Deltas(q) => q.close(),
            Queue::InOrder(q) => q.close(),
        }
    }

    fn store(&self) -> Arc<dyn ReflectorStore<K>> {
        match self {
            Queue::Deltas(q) => q.clone(),
            Queue::InOrder(q) => q.clone(),
        }
    }

    fn synced_fn(&self) -> UpstreamSynced {
        match self {
            Queue::Deltas(q) => {
                let q = q.clone();
                Arc::new(move || q.has_synced())
            }
            Queue::InOrder(q) => {
                let q = q.clone();
                Arc::new(move || q.has_synced())
            }
        }
    }
}

/// How a [`SharedIndexInformer`] is built.
pub struct InformerOptions<K> {
    /// How handlers are resynced by default (`None`: never); handlers can ask for their
    /// own period.
    pub default_resync: Option<Duration>,
    /// Indexes of the cache besides the namespace index that [`Lister`] adds.
    pub indexers: Indexers<K>,
    /// How the reflector lists, watches and backs off. Its `name` names the informer in
    /// logs and spans; its `resync_period` is managed by the informer.
    pub reflector: ReflectorOptions,
    /// The queue between the reflector and the cache.
    pub queue: QueueMode,
    /// Drop every object's `metadata.managedFields` before it is cached (and before a
    /// [transform](SharedIndexInformer::set_transform) sees it). Controllers rarely read
    /// them, and they are a large part of an object's memory (a fifth of the fixture
    /// pod's JSON). Default `false`.
    pub drop_managed_fields: bool,
}

impl<K> Default for InformerOptions<K> {
    fn default() -> Self {
        InformerOptions {
            default_resync: None,
            indexers: Indexers::new(),
            reflector: ReflectorOptions::default(),
            queue: QueueMode::default(),
            drop_managed_fields: false,
        }
    }
}

impl<K> Clone for InformerOptions<K> {
    fn clone(&self) -> Self {
        InformerOptions {
            default_resync: self.default_resync,
            indexers: self.indexers.clone(),
            reflector: self.reflector.clone(),
            queue: self.queue,
            drop_managed_fields: self.drop_managed_fields,
        }
    }
}

struct Settings<K> {
    started: bool,
    /// How often the reflector asks whether a handler's resync is due.
    resync_check_period: Option<Duration>,
    transform: Option<Transform<K>>,
    watch_error_handler: Option<WatchErrorHandler>,
}

struct Inner<K> {
    name: String,
    lw: Arc<dyn ListerWatcher<K>>,
    indexer: Indexer<K>,
    fifo: Queue<K>,
    processor: Arc<SharedProcessor<K>>,
    /// Held while a key's deltas are applied, and while a late handler takes its snapshot.
    gate: Mutex<()>,
    default_resync: Option<Duration>,
    reflector_options: ReflectorOptions,
    drop_managed_fields: bool,
    settings: Mutex<Settings<K>>,
    reflector: OnceLock<Arc<Reflector<K>>>,
    counters: Arc<Counters>,
    stopped: AtomicBool,
}

/// Stops a running informer: its tasks, its queue and its handlers. Dropped when `run`
/// returns, or with `run`'s future.
struct StopOnDrop<K: Object + Send + Sync + 'static> {
    inner: Arc<Inner<K>>,
    shutdown: CancellationToken,
}

impl<K: Object + Send + Sync + 'static> Drop for StopOnDrop<K> {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.inner.fifo.close();
        {
            let _settings = self.inner.settings.lock();
            self.inner.stopped.store(true, Ordering::Release);
        }
        self.inner.processor.stop_all();
    }
}

/// An informer for one kind of object: a cache kept in sync with the server and events
/// for every change, shared by any number of handlers (client-go's
/// `SharedIndexInformer`). Cloning gives another handle to the same informer.
///
/// Each handler has its own buffer, **unbounded** by default, so that a slow handler
/// never holds back the cache or another handler; the price is memory while it lags.
/// Watch each handler's backlog with [`EventHandlerRegistration::pending`] or
/// [`metrics`](Self::metrics), keep handlers quick (queue keys, work elsewhere), or add
/// a handler with a bound ([`add_event_handler_with_options`](Self::add_event_handler_with_options)
/// and [`HandlerOptions::max_pending`]): a full backlog is then dropped and the handler is
/// brought up to date from the cache.
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = informer::testing::ApiServer::start().await?;
/// # let client = informer::client::RestClient::new(
/// #     informer::client::Config::from_kubeconfig_file(server.kubeconfig())?,
/// # )?;
/// # let pods = informer::meta::ApiResource::new("", "v1", "Pod", "pods", true);
/// # let api = informer::client::Api::<informer::meta::DynamicObject>::all_with(client, &pods);
/// use informer::cache::{ListWatch, ResourceEventHandlerFuncs, SharedIndexInformer};
/// use informer::meta::Object;
/// use tokio_util::sync::CancellationToken;
///
/// let informer = SharedIndexInformer::new(ListWatch::new(api), Default::default());
/// informer.add_event_handler(
///     ResourceEventHandlerFuncs::new()
///         .add_func(|obj: std::sync::Arc<informer::meta::DynamicObject>, _| println!("added {:?}", obj.name()))
///         .delete_func(|deleted| println!("deleted {:?}", deleted.object().name())),
/// )?;
/// let stop = CancellationToken::new();
/// let running = tokio::spawn({
///     let (informer, stop) = (informer.clone(), stop.clone());
///     async move { informer.run(stop).await }
/// });
/// informer.wait_for_sync(&stop).await;
/// println!("{} objects cached", informer.get_indexer().len());
/// stop.cancel();
/// running.await??;
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
///
/// # How it works
///
/// How data passes through it: [`SharedIndexInformer::run`] starts a [`Reflector`] that
/// lists and watches through the [`ListerWatcher`] into a [`DeltaFifo`], and a controller
/// loop that pops each key's deltas, applies them to the [`Indexer`] and hands the
/// resulting adds, updates and deletes to the shared processor, which appends them to
/// every handler's own buffer. Handlers run on their own threads; nothing a handler does
/// can hold back the cache or another handler. Readers use the indexer (or a [`Lister`])
/// at any time: it never calls the server.
///
/// # Add or update
///
/// The controller loop (client-go's `processDeltas`, "HandleDeltas") applies each key's
/// deltas oldest first: `Added`, `Updated`, `Replaced` and `Sync` put the object into the
/// store; whether handlers hear `on_add` or `on_update` depends on whether the store
/// already held the key, not on the delta's type. An update that did not change the
/// resourceVersion (a resync, or a relist that found the object unchanged) goes only to
/// the handlers whose resync is due. `Deleted` removes the key and hands the handlers the
/// final object or the tombstone.
pub struct SharedIndexInformer<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for SharedIndexInformer<K> {
    fn clone(&self) -> Self {
        SharedIndexInformer {
            inner: self.inner.clone(),
        }
    }
}

impl<K> std::fmt::Debug for SharedIndexInformer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedIndexInformer")
            .field("name", &self.inner.name)
            .field("cached", &self.inner.indexer.len())
            .field("stopped", &self.inner.stopped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<K: Object + Send + Sync + 'static> SharedIndexInformer<K> {
    /// An informer that lists and watches through `lw`.
    pub fn new(lw: impl ListerWatcher<K> + 'static, options: InformerOptions<K>) -> Self {
        Self::from_arc(Arc::new(lw), options)
    }

    /// An informer over a shared lister-watcher.
    pub fn from_arc(lw: Arc<dyn ListerWatcher<K>>, options: InformerOptions<K>) -> Self {
        let indexer = Indexer::new(options.indexers);
        let known: Arc<dyn KnownObjects<K>> = Arc::new(indexer.clone());
        let default_resync = options.default_resync.filter(|p| !p.is_zero());
        SharedIndexInformer {
            inner: Arc::new(Inner {
                name: options.reflector.name.clone(),
                lw,
                fifo: match options.queue {
                    QueueMode::DeltaFifo => Queue::Deltas(Arc::new(DeltaFifo::new(Some(known)))),
                    QueueMode::InOrder => Queue::InOrder(Arc::new(InOrderFifo::new(Some(known)))),
                },
                indexer,
                processor: Arc::new(SharedProcessor::new()),
                gate: Mutex::new(()),
                default_resync,
                reflector_options: options.reflector,
                drop_managed_fields: options.drop_managed_fields,
                settings: Mutex::new(Settings {
                    started: false,
                    resync_check_period: default_resync,
                    transform: None,
                    watch_error_handler: None,
                }),
                reflector: OnceLock::new(),
                counters: Arc::default(),
                stopped: AtomicBool::new(false),
            }),
        }
    }

    /// The informer's name (its reflector's), as used in logs.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Registers a handler with the informer's default resync period. A handler added
    /// after start first receives the cache's current contents as adds with
    /// `is_in_initial_list = true`.
    pub fn add_event_handler(
        &self,
        handler: impl ResourceEventHandler<K>,
    ) -> Result<EventHandlerRegistration<K>, InformerError> {
        self.add_event_handler_with_resync_period(handler, self.inner.default_resync)
    }

    /// Registers a handler that is resynced every `resync_period` (`None`: never).
    ///
    /// Periods under [`MINIMUM_RESYNC_PERIOD`] are raised to it. Before start, a period
    /// shorter than the informer's check period shortens it; after start, it is raised to
    /// the check period, as in client-go.
    pub fn add_event_handler_with_resync_period(
        &self,
        handler: impl ResourceEventHandler<K>,
        resync_period: Option<Duration>,
    ) -> Result<EventHandlerRegistration<K>, InformerError> {
        self.add_handler(Box::new(handler), resync_period, None)
    }

    /// Registers a handler with [`HandlerOptions`]: its resync period (the informer's
    /// default when unset) and an optional bound on its buffer, with the policy the
    /// options' docs describe (drop the backlog, catch up from the cache).
    ///
    /// ```
    /// # use informer::{cache::*, meta::DynamicObject, testing::FakeListerWatcher};
    /// # let informer = SharedIndexInformer::new(FakeListerWatcher::<DynamicObject>::new(&informer::meta::ApiResource::new("", "v1", "Pod", "pods", true)), Default::default());
    /// # let handler = ResourceEventHandlerFuncs::<DynamicObject>::new();
    /// use informer::cache::HandlerOptions;
    /// let registration = informer
    ///     .add_event_handler_with_options(handler, HandlerOptions::default().max_pending(10_000))
    ///     .expect("informer running");
    /// # drop(registration);
    /// ```
    pub fn add_event_handler_with_options(
        &self,
        handler: impl ResourceEventHandler<K>,
        options: HandlerOptions,
    ) -> Result<EventHandlerRegistration<K>, InformerError> {
        let period = options.resync_period.or(self.inner.default_resync);
        self.add_handler(Box::new(handler), period, options.max_pending)
    }

    fn add_handler(
        &self,
        handler: Box<dyn ResourceEventHandler<K>>,
        resync_period: Option<Duration>,
        max_pending: Option<usize>,
    ) -> Result<EventHandlerRegistration<K>, InformerError> {
        let mut period = resync_period.filter(|p| !p.is_zero());
        // Held until the handler is registered, so that `run` cannot stop in between.
        let mut settings = self.inner.settings.lock();
        {
            if self.is_stopped() {
                return Err(InformerError::Stopped(self.inner.name.clone()));
            }
            if let Some(p) = period.as_mut() {
                if *p < MINIMUM_RESYNC_PERIOD {
                    tracing::warn!(informer = %self.inner.name, requested = ?*p,
                        "resync period too short; using {MINIMUM_RESYNC_PERIOD:?}");
                    *p = MINIMUM_RESYNC_PERIOD;
                }
                match settings.resync_check_period {
                    Some(check) if *p >= check => {}
                    _ if !settings.started => settings.resync_check_period = Some(*p),
                    Some(check) => {
                        tracing::warn!(informer = %self.inner.name, requested = ?*p,
                            "informer already started; raising the resync period to {check:?}");
                        *p = check;
                    }
                    None => {
                        tracing::warn!(informer = %self.inner.name,
                            "informer already started without resync; this handler will not resync");
                        period = None;
                    }
                }
            }
        }
        let synced = self.inner.fifo.synced_fn();
        let bound = max_pending.map(|max| self.bound(max));
        let _gate = self.inner.gate.lock();
        let initial = self.inner.indexer.list();
        let registration = self
            .inner
            .processor
            .add_bounded_listener(handler, period, synced, initial, bound)?;
        drop(settings);
        Ok(registration)
    }

    /// What a bounded handler needs to catch up: the cache's contents, read under the
    /// gate (so that no change is half delivered), and its key function.
    fn bound(&self, max_pending: usize) -> Bound<K> {
        let inner = Arc::downgrade(&self.inner);
        let indexer = self.inner.indexer.clone();
        Bound {
            max_pending: max_pending.max(1),
            snapshot: Arc::new(move |cut: &mut dyn FnMut()| match inner.upgrade() {
                Some(inner) => {
                    let _gate = inner.gate.lock();
                    cut();
                    inner.indexer.list()
                }
                None => {
                    cut();
                    Vec::new()
                }
            }),
            key: Arc::new(move |obj: &K| indexer.key_of(obj).ok()),
        }
    }

    /// Removes a handler: it hears nothing more. Await
    /// [`EventHandlerRegistration::stopped`] to wait until its last call has returned.
    pub fn remove_event_handler(
        &self,
        registration: &EventHandlerRegistration<K>,
    ) -> Result<(), InformerError> {
        if !self.inner.processor.remove_listener(registration.id()) && self.is_stopped() {
            return Err(InformerError::Stopped(self.inner.name.clone()));
        }
        Ok(())
    }

    /// An async stream of the informer's events (a handler that forwards into an
    /// unbounded channel). Dropping the stream removes the handler.
    pub fn stream(&self) -> Result<EventStream<K>, InformerError> {
        let (handler, rx) = StreamHandler::new();
        let registration = self.add_event_handler(handler)?;
        Ok(EventStream::new(
            rx,
            registration,
            Arc::downgrade(&self.inner.processor),
        ))
    }

    /// Changes every object before it is cached (for example to drop `managedFields`).
    /// Only before [`run`](Self::run).
    ///
    /// Returning a clone also compacts the object: decoding leaves spare capacity in its
    /// vectors (about 17% of a k8s-openapi `Pod` shaped like a real one), and a clone has
    /// none, at the cost of one clone per object received.
    ///
    /// ```
    /// # use informer::{cache::*, meta::DynamicObject, testing::FakeListerWatcher};
    /// # let informer = SharedIndexInformer::new(FakeListerWatcher::<DynamicObject>::new(&informer::meta::ApiResource::new("", "v1", "Pod", "pods", true)), Default::default());
    /// informer
    ///     .set_transform(|mut obj| {
    ///         obj.metadata.managed_fields = None;
    ///         obj.clone()
    ///     })
    ///     .expect("set before run");
    /// ```
    pub fn set_transform(
        &self,
        transform: impl Fn(K) -> K + Send + Sync + 'static,
    ) -> Result<(), InformerError> {
        let mut settings = self.inner.settings.lock();
        if settings.started {
            return Err(InformerError::AlreadyStarted(
                self.inner.name.clone(),
                "the transform",
            ));
        }
        settings.transform = Some(Arc::new(transform));
        Ok(())
    }

    /// Called with every list or watch error after which the informer backs off and
    /// relists, or backs off and re-watches (a broken or stalled watch); the default
    /// logs it. Only before [`run`](Self::run).
    pub fn set_watch_error_handler(
        &self,
        handler: impl Fn(&ReflectorError) + Send + Sync + 'static,
    ) -> Result<(), InformerError> {
        let mut settings = self.inner.settings.lock();
        if settings.started {
            return Err(InformerError::AlreadyStarted(
                self.inner.name.clone(),
                "the watch error handler",
            ));
        }
        settings.watch_error_handler = Some(Arc::new(handler));
        Ok(())
    }

    /// Adds indexes; objects already cached are indexed at once.
    pub fn add_indexers(&self, indexers: Indexers<K>) -> Result<(), InformerError> {
        Ok(self.inner.indexer.add_indexers(indexers)?)
    }

    /// The cache.
    pub fn get_indexer(&self) -> Indexer<K> {
        self.inner.indexer.clone()
    }

    /// The cache (client-go's `GetStore`; the same handle as [`get_indexer`](Self::get_indexer)).
    pub fn get_store(&self) -> Indexer<K> {
        self.get_indexer()
    }

    /// A lister over the cache (adds the namespace index if needed).
    pub fn lister(&self) -> Result<Lister<K>, InformerError> {
        Ok(Lister::new(self.get_indexer())?)
    }

    /// Whether the first list has been applied to the cache and handed to the handlers'
    /// buffers.
    pub fn has_synced(&self) -> bool {
        self.inner.fifo.has_synced()
    }

    /// Waits until [`has_synced`](Self::has_synced); false if `shutdown` came first.
    pub async fn wait_for_sync(&self, shutdown: &CancellationToken) -> bool {
        let mut delay = Duration::from_millis(1);
        while !self.has_synced() {
            if shutdown.is_cancelled() || self.is_stopped() {
                return false;
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return false,
            }
            delay = (delay * 2).min(Duration::from_millis(100));
        }
        true
    }

    /// The resourceVersion the informer has reached (`""` before the first list).
    pub fn last_sync_resource_version(&self) -> String {
        self.inner
            .reflector
            .get()
            .map(|r| r.last_sync_resource_version())
            .unwrap_or_default()
    }

    /// Whether the informer ran and has stopped.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// A snapshot of the informer's counters and queues.
    pub fn metrics(&self) -> InformerMetrics {
        InformerMetrics {
            reflector: self.inner.counters.snapshot(),
            queue_depth: self.inner.fifo.len(),
            cache_size: self.inner.indexer.len(),
            handler_pending: self.inner.processor.pending(),
            last_resource_version: self.last_sync_resource_version(),
        }
    }

    /// Lists, watches and dispatches until `shutdown` is cancelled; returns within a
    /// moment of it, after stopping every handler. An informer runs once.
    ///
    /// Dropping the future (an aborted task, the losing branch of a `select!`) stops the
    /// informer as cancelling `shutdown` would.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), InformerError> {
        let reflector = self.start()?;
        let shutdown = shutdown.child_token();
        let stopper = StopOnDrop {
            inner: self.inner.clone(),
            shutdown: shutdown.clone(),
        };
        let span = tracing::info_span!("informer", name = %self.inner.name);
        let reflect = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { reflector.run(shutdown).await }.instrument(span.clone())
        });
        let process = tokio::spawn({
            let inner = self.inner.clone();
            let shutdown = shutdown.clone();
            async move {
                let process = async {
                    match &inner.fifo {
                        Queue::Deltas(q) => {
                            process_loop(q, &inner.indexer, &inner.processor, &inner.gate).await
                        }
                        Queue::InOrder(q) => {
                            process_in_order_loop(q, &inner.indexer, &inner.processor, &inner.gate)
                                .await
                        }
                    }
                };
                tokio::select! {
                    () = process => {}
                    () = shutdown.cancelled() => {}
                }
            }
            .instrument(span)
        });
        let (r, p) = tokio::join!(reflect, process);
        drop(stopper);
        for result in [r, p] {
            if let Err(e) = result {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
        tracing::debug!(informer = %self.inner.name, "stopped");
        Ok(())
    }

    fn start(&self) -> Result<Arc<Reflector<K>>, InformerError> {
        let mut settings = self.inner.settings.lock();
        if self.is_stopped() {
            return Err(InformerError::Stopped(self.inner.name.clone()));
        }
        if settings.started {
            return Err(InformerError::AlreadyStarted(
                self.inner.name.clone(),
                "run (an informer runs once)",
            ));
        }
        settings.started = true;
        let options = ReflectorOptions {
            resync_period: settings.resync_check_period,
            ..self.inner.reflector_options.clone()
        };
        let store = self.inner.fifo.store();
        let processor = self.inner.processor.clone();
        let mut reflector = Reflector::new(self.inner.lw.clone(), store, options)
            .with_counters(self.inner.counters.clone())
            .with_should_resync(Arc::new(move || processor.should_resync(Instant::now())));
        let transform = match (settings.transform.clone(), self.inner.drop_managed_fields) {
            (t, false) => t,
            (None, true) => Some(Arc::new(|mut obj: K| {
                obj.meta_mut().clear_managed_fields();
                obj
            }) as Transform<K>),
            (Some(t), true) => Some(Arc::new(move |mut obj: K| {
                obj.meta_mut().clear_managed_fields();
                t(obj)
            }) as Transform<K>),
        };
        if let Some(t) = transform {
            reflector = reflector.with_transform(t);
        }
        if let Some(h) = settings.watch_error_handler.clone() {
            reflector = reflector.with_watch_error_handler(h);
        }
        let reflector = Arc::new(reflector);
        let _ = self.inner.reflector.set(reflector.clone());
        Ok(reflector)
    }
}
