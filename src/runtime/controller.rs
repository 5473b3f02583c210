//! [`Controller`]: informers, a work queue and workers running a reconcile function.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cache::{
    panic_message, DeletedObject, EventHandlerRegistration, InformerError, ResourceEventHandler,
    SharedIndexInformer,
};
use crate::leaderelection::{LeaderCallbacks, LeaderElector};
use crate::meta::{ApiResource, Object, Resource};
use crate::workqueue::{default_controller_rate_limiter, QueueMetrics, RateLimiter, WorkQueue};

use super::{controller_owner_key, Action, ObjectKey, Retry};

/// How long [`Controller::run`] waits for running reconciles after shutdown, by default
/// (controller-runtime's graceful shutdown timeout).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why [`Controller::run`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// An informer refused the controller's event handler (it has stopped).
    #[error("controller {controller:?} cannot watch through informer {informer:?}: {source}")]
    Informer {
        /// The controller.
        controller: String,
        /// The informer.
        informer: String,
        /// The informer's answer.
        source: InformerError,
    },
    /// Reconciles were still running when the shutdown timeout passed; they were aborted.
    #[error("controller {controller:?}: {running} reconciles still running after the shutdown timeout of {timeout:?}; aborted")]
    ShutdownTimeout {
        /// The controller.
        controller: String,
        /// Reconciles aborted.
        running: usize,
        /// The timeout.
        timeout: Duration,
    },
}

/// Counts of one controller, and its queue's metrics while it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerMetrics {
    /// Reconciles finished, successful or not.
    pub reconciles: u64,
    /// Reconciles that returned an error.
    pub errors: u64,
    /// Reconciles that panicked (counted as errors too).
    pub panics: u64,
    /// Reconciles running now.
    pub active: usize,
    /// The work queue of the current (or last) run.
    pub queue: Option<QueueMetrics>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Option<WorkQueue<ObjectKey>>>,
    reconciles: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
    active: AtomicUsize,
}

/// Hears of a key given up after its retry limit.
type OnGiveUp = Arc<dyn Fn(&ObjectKey) + Send + Sync>;

/// Maps an object of a watched informer to the keys of primary objects.
type Mapper<C> = Arc<dyn Fn(&C) -> Vec<ObjectKey> + Send + Sync>;

/// An informer a controller watches, type-erased.
trait Source: Send + Sync {
    fn name(&self) -> &str;
    /// Registers a handler that adds mapped keys to `queue`.
    fn connect(&self, queue: &WorkQueue<ObjectKey>) -> Result<Box<dyn Connected>, InformerError>;
    /// Runs the informer unless something else already does.
    fn run(&self, shutdown: CancellationToken) -> BoxFuture<'static, ()>;
}

trait Connected: Send + Sync {
    fn has_synced(&self) -> bool;
    fn disconnect(self: Box<Self>);
}

struct InformerSource<C> {
    informer: SharedIndexInformer<C>,
    mapper: Mapper<C>,
    /// Whether a resync (an update with an unchanged resourceVersion) maps too: yes for
    /// the primary (that is what a resync period is for), no for the others.
    map_resyncs: bool,
}

impl<C: Object + Send + Sync + 'static> Source for InformerSource<C> {
    fn name(&self) -> &str {
        self.informer.name()
    }

    fn connect(&self, queue: &WorkQueue<ObjectKey>) -> Result<Box<dyn Connected>, InformerError> {
        let handler = Enqueue {
            queue: queue.clone(),
            mapper: self.mapper.clone(),
            map_resyncs: self.map_resyncs,
        };
        let registration = self.informer.add_event_handler(handler)?;
        Ok(Box::new(Connection {
            informer: self.informer.clone(),
            registration,
        }))
    }

    fn run(&self, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        let informer = self.informer.clone();
        async move {
            match informer.run(shutdown).await {
                Ok(()) | Err(InformerError::AlreadyStarted(..)) => {}
                Err(e) => {
                    tracing::warn!(informer = %informer.name(), error = %e, "informer did not run")
                }
            }
        }
        .boxed()
    }
}

struct Connection<C> {
    informer: SharedIndexInformer<C>,
    registration: EventHandlerRegistration<C>,
}

impl<C: Object + Send + Sync + 'static> Connected for Connection<C> {
    fn has_synced(&self) -> bool {
        self.registration.has_synced()
    }

    fn disconnect(self: Box<Self>) {
        // Refused only by a stopped informer, which has removed every handler already.
        let _ = self.informer.remove_event_handler(&self.registration);
    }
}

/// The controller's event handler: events only become keys.
struct Enqueue<C> {
    queue: WorkQueue<ObjectKey>,
    mapper: Mapper<C>,
    map_resyncs: bool,
}

impl<C: Object + Send + Sync + 'static> Enqueue<C> {
    fn enqueue(&self, obj: &C) {
        for key in (self.mapper)(obj) {
            self.queue.add(key);
        }
    }
}

impl<C: Object + Send + Sync + 'static> ResourceEventHandler<C> for Enqueue<C> {
    fn on_add(&self, obj: Arc<C>, _is_in_initial_list: bool) {
        self.enqueue(&obj);
    }

    fn on_update(&self, old: Arc<C>, new: Arc<C>) {
        if !self.map_resyncs && old.resource_version() == new.resource_version() {
            return;
        }
        // Both: an object that moved to another owner concerns the old one too.
        self.enqueue(&old);
        self.enqueue(&new);
    }

    fn on_delete(&self, deleted: DeletedObject<C>) {
        // A tombstone carries the last state the cache knew, owners included.
        self.enqueue(deleted.object());
    }
}

/// A controller (client-go's controller pattern, kube-runtime's `Controller`): event
/// handlers on informers turn changes into keys of the primary resource, a
/// [`WorkQueue`] deduplicates and paces them, and workers call `reconcile` with each key
/// and the primary object from the cache.
///
/// The guarantees:
/// - workers start only once every informer has synced (and its initial list is queued);
/// - one key is never reconciled by two workers at once, and a change during a
///   reconcile causes exactly one more;
/// - an error (or a panic, which is caught) retries the key through the rate limiter;
///   a success forgets its failures;
/// - a key whose object is gone is reconciled with `None`, also when the deletion was
///   missed during a watch outage, so cleanup needs no finalizer;
/// - on shutdown no new key is taken (workers check before every key), and running
///   reconciles get a grace period.
///
/// Informers that nobody runs yet are run by [`run`](Self::run) and stop with it. To
/// run a controller more than once (for example only while leading), start the informers
/// yourself (`SharedInformerFactory::start`) so that they outlive each run.
///
/// ```
/// use std::sync::Arc;
/// use informer::cache::{ListWatch, SharedIndexInformer};
/// use informer::client::{Api, Config, RestClient};
/// use informer::meta::{ApiResource, DynamicObject, Object};
/// use informer::runtime::{Action, Controller, ObjectKey, Retry};
/// use informer::testing::ApiServer;
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ApiServer::start().await?;
/// let configmaps = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
/// server.create(&configmaps, serde_json::json!({"metadata": {"name": "a", "namespace": "default"}}))?;
/// let client = RestClient::new(Config::from_kubeconfig_file(server.kubeconfig())?)?;
/// let informer = SharedIndexInformer::new(
///     ListWatch::new(Api::<DynamicObject>::all_with(client, &configmaps)),
///     Default::default(),
/// );
///
/// let stop = CancellationToken::new();
/// let controller = Controller::for_resource(informer, &configmaps);
/// let reconcile = {
///     let stop = stop.clone();
///     move |key: ObjectKey, cm: Option<Arc<DynamicObject>>| {
///         let stop = stop.clone();
///         async move {
///             println!("reconcile {key}: {}", if cm.is_some() { "present" } else { "gone" });
///             stop.cancel(); // one reconcile is enough for this example
///             Ok::<_, std::convert::Infallible>(Action::Done)
///         }
///     }
/// };
/// controller.run(reconcile, |_key, _err, _retries| Retry::Backoff, stop).await?;
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Controller<K> {
    name: String,
    primary: SharedIndexInformer<K>,
    primary_resource: ApiResource,
    sources: Vec<Arc<dyn Source>>,
    limiter: Arc<dyn RateLimiter<ObjectKey>>,
    workers: usize,
    max_retries: Option<u32>,
    on_retries_exhausted: Option<OnGiveUp>,
    requeue_every: Option<Duration>,
    shutdown_timeout: Duration,
    shared: Arc<Shared>,
}

impl<K: Resource + Send + Sync + 'static> Controller<K> {
    /// A controller of the objects of `primary`, a typed informer.
    pub fn new(primary: SharedIndexInformer<K>) -> Self {
        Self::for_resource(primary, &K::api_resource())
    }
}

impl<K: Object + Send + Sync + 'static> Controller<K> {
    /// A controller of the objects of `primary`, which are `resource` (for dynamic
    /// objects, whose type says nothing of their kind).
    pub fn for_resource(primary: SharedIndexInformer<K>, resource: &ApiResource) -> Self {
        let source = InformerSource {
            informer: primary.clone(),
            mapper: Arc::new(|obj: &K| ObjectKey::from_object(obj).into_iter().collect()),
            map_resyncs: true,
        };
        Controller {
            name: primary.name().to_owned(),
            primary,
            primary_resource: resource.clone(),
            sources: vec![Arc::new(source)],
            limiter: Arc::new(default_controller_rate_limiter()),
            workers: 1,
            max_retries: None,
            on_retries_exhausted: None,
            requeue_every: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            shared: Arc::default(),
        }
    }

    /// The name in logs and metrics (default: the primary informer's).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Also reconciles the owner of every changed object of `child`: the object its
    /// owner reference with `controller: true` names, when that is of the primary's kind
    /// and group ([`controller_owner_key`]).
    pub fn owns<C: Object + Send + Sync + 'static>(self, child: SharedIndexInformer<C>) -> Self {
        let owner = self.primary_resource.clone();
        self.watches(child, move |obj: &C| {
            controller_owner_key(obj, &owner).into_iter().collect()
        })
    }

    /// Also reconciles the keys `mapper` gives for every changed object of `informer`
    /// (for an update, those of the old and the new object).
    pub fn watches<C, F>(mut self, informer: SharedIndexInformer<C>, mapper: F) -> Self
    where
        C: Object + Send + Sync + 'static,
        F: Fn(&C) -> Vec<ObjectKey> + Send + Sync + 'static,
    {
        self.sources.push(Arc::new(InformerSource {
            informer,
            mapper: Arc::new(mapper),
            map_resyncs: false,
        }));
        self
    }

    /// The work queue's rate limiter (default: [`default_controller_rate_limiter`]).
    pub fn rate_limiter(mut self, limiter: impl RateLimiter<ObjectKey>) -> Self {
        self.limiter = Arc::new(limiter);
        self
    }

    /// Reconciles running at once, on different keys (default 1; at least 1).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Gives up on a key after `max` retries in a row, until its next change; `f` hears
    /// of every key given up (see [`WorkQueueBuilder::max_retries`]).
    ///
    /// [`WorkQueueBuilder::max_retries`]: crate::workqueue::WorkQueueBuilder::max_retries
    pub fn max_retries(mut self, max: u32, f: impl Fn(&ObjectKey) + Send + Sync + 'static) -> Self {
        self.max_retries = Some(max);
        self.on_retries_exhausted = Some(Arc::new(f));
        self
    }

    /// Reconciles every cached primary object again every `period`, changed or not.
    pub fn requeue_every(mut self, period: Duration) -> Self {
        self.requeue_every = Some(period).filter(|p| !p.is_zero());
        self
    }

    /// How long shutdown waits for running reconciles before aborting them (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`]).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Counts so far, and the current queue's metrics.
    pub fn metrics(&self) -> ControllerMetrics {
        let s = &self.shared;
        ControllerMetrics {
            reconciles: s.reconciles.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            panics: s.panics.load(Ordering::Relaxed),
            active: s.active.load(Ordering::Relaxed),
            queue: s.queue.lock().as_ref().map(WorkQueue::metrics),
        }
    }

    /// Whether the controller has nothing to do: nothing queued, waiting or being
    /// reconciled (false before the first run).
    pub fn is_idle(&self) -> bool {
        self.shared
            .queue
            .lock()
            .as_ref()
            .is_some_and(WorkQueue::is_idle)
    }

    /// Runs until `shutdown` is cancelled: connects to the informers (running those
    /// nobody runs yet), waits until all have synced, then runs the workers.
    ///
    /// `reconcile(key, object)` gets the primary object from the cache, or `None` when it
    /// is gone, and returns an [`Action`] or an error. On an error, the runtime logs it
    /// and asks `error_policy(key, error, retries so far)` for a [`Retry`]. A panic in
    /// `reconcile` is caught, logged and retried as an error with [`Retry::Backoff`].
    ///
    /// After `shutdown`, no new key is taken; running reconciles get the shutdown
    /// timeout, then are aborted ([`ControllerError::ShutdownTimeout`]). Each run has a
    /// fresh queue, and removes its handlers when it returns, so that `run` can be called
    /// again (with informers that outlive it, see above).
    pub async fn run<R, Fut, E, P>(
        &self,
        reconcile: R,
        error_policy: P,
        shutdown: CancellationToken,
    ) -> Result<(), ControllerError>
    where
        R: Fn(ObjectKey, Option<Arc<K>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        P: Fn(&ObjectKey, &E, u32) -> Retry + Send + Sync + 'static,
    {
        self.run_for(
            reconcile,
            error_policy,
            shutdown,
            self.shutdown_timeout,
            true,
        )
        .await
    }

    /// [`run`](Self::run) with a grace period of `grace` for running reconciles; runs the
    /// informers nobody runs yet (tied to this run) only with `run_informers`.
    async fn run_for<R, Fut, E, P>(
        &self,
        reconcile: R,
        error_policy: P,
        shutdown: CancellationToken,
        grace: Duration,
        run_informers: bool,
    ) -> Result<(), ControllerError>
    where
        R: Fn(ObjectKey, Option<Arc<K>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        P: Fn(&ObjectKey, &E, u32) -> Retry + Send + Sync + 'static,
    {
        let mut builder = WorkQueue::builder(self.name.clone()).rate_limiter(self.limiter.clone());
        if let Some(max) = self.max_retries {
            builder = builder.max_retries(max);
        }
        if let Some(f) = self.on_retries_exhausted.clone() {
            builder = builder.on_retries_exhausted(move |key| f(key));
        }
        let queue = builder.build();
        *self.shared.queue.lock() = Some(queue.clone());

        // Handlers first, so that no event between sync and the workers is missed.
        let mut connections = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            match source.connect(&queue) {
                Ok(c) => connections.push(c),
                Err(e) => {
                    for c in connections {
                        c.disconnect();
                    }
                    queue.shut_down();
                    return Err(ControllerError::Informer {
                        controller: self.name.clone(),
                        informer: source.name().to_owned(),
                        source: e,
                    });
                }
            }
        }
        let informers_stop = shutdown.child_token();
        let mut informers = JoinSet::new();
        if run_informers {
            for source in &self.sources {
                informers.spawn(source.run(informers_stop.clone()));
            }
        }

        let result = self
            .run_workers(
                &queue,
                &connections,
                reconcile,
                error_policy,
                &shutdown,
                grace,
            )
            .await;

        for c in connections {
            c.disconnect();
        }
        informers_stop.cancel();
        while informers.join_next().await.is_some() {}
        tracing::info!(controller = %self.name, "stopped");
        result
    }

    /// Runs the controller only while `elector` leads: campaigns until `shutdown`, and
    /// each time this candidate starts leading, runs as [`run`](Self::run) until the
    /// leadership token is cancelled (lost, or shut down).
    ///
    /// On a loss, no new reconcile starts, and running ones get at most half of
    /// `lease_duration - renew_deadline` (or the shutdown timeout, if shorter) before they
    /// are aborted, so that none is still running when another replica may take over.
    /// Aborting is cooperative: a reconcile stops at its next `.await`, so keep
    /// synchronous stretches short. On shutdown the lease is released (with
    /// `release_on_cancel`) only after the reconciles have ended. The rate limiter and
    /// its per-key backoff carry over from one term to the next. With `warm_standby`, the informers
    /// nobody runs yet start at once and keep their caches while standing by, so a new
    /// leader starts its workers without a relist; without it they start with the first
    /// term. Either way they run until `shutdown` (an informer runs once).
    pub async fn run_while_leading<R, Fut, E, P>(
        &self,
        elector: &LeaderElector,
        warm_standby: bool,
        reconcile: R,
        error_policy: P,
        shutdown: CancellationToken,
    ) -> Result<(), ControllerError>
    where
        R: Fn(ObjectKey, Option<Arc<K>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        P: Fn(&ObjectKey, &E, u32) -> Retry + Send + Sync + 'static,
    {
        let (reconcile, error_policy) = (Arc::new(reconcile), Arc::new(error_policy));
        let (terms_tx, mut terms) = tokio::sync::mpsc::unbounded_channel();
        let callbacks = LeaderCallbacks::new().on_started_leading(move |term| {
            let _ = terms_tx.send(term);
        });
        let config = elector.config();
        // Half the margin between the leader's renew deadline and the earliest takeover.
        let grace = self
            .shutdown_timeout
            .min(config.lease_duration.saturating_sub(config.renew_deadline) / 2);
        // Informers are run here, for the whole campaign, never by a term: an informer
        // runs once, so one tied to a term could not serve the next.
        let mut informers = JoinSet::new();
        let start_informers = |informers: &mut JoinSet<()>| {
            for source in &self.sources {
                informers.spawn(source.run(shutdown.child_token()));
            }
        };
        if warm_standby {
            start_informers(&mut informers);
        }
        let lead = async {
            let mut first_error = None;
            while let Some(term) = terms.recv().await {
                if informers.is_empty() {
                    start_informers(&mut informers);
                }
                let (r, p) = (reconcile.clone(), error_policy.clone());
                let run = self.run_for(
                    move |k, o| r(k, o),
                    move |k, e, n| p(k, e, n),
                    term,
                    grace,
                    false,
                );
                if let Err(e) = run.await {
                    tracing::warn!(controller = %self.name, error = %e, "a term ended with an error");
                    first_error.get_or_insert(e);
                }
            }
            first_error
        };
        let (was_leading, first_error) =
            tokio::join!(elector.campaign(callbacks, shutdown.clone()), lead);
        // Only now, with every reconcile of the last term ended, may another replica start.
        if was_leading && config.release_on_cancel {
            elector.release().await;
        }
        while informers.join_next().await.is_some() {}
        first_error.map_or(Ok(()), Err)
    }

    async fn run_workers<R, Fut, E, P>(
        &self,
        queue: &WorkQueue<ObjectKey>,
        connections: &[Box<dyn Connected>],
        reconcile: R,
        error_policy: P,
        shutdown: &CancellationToken,
        grace: Duration,
    ) -> Result<(), ControllerError>
    where
        R: Fn(ObjectKey, Option<Arc<K>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        P: Fn(&ObjectKey, &E, u32) -> Retry + Send + Sync + 'static,
    {
        // Wait for every cache, polling as client-go's WaitForCacheSync does.
        let synced = async {
            while !connections.iter().all(|c| c.has_synced()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                queue.shut_down();
                return Ok(());
            }
            () = synced => {}
        }
        if shutdown.is_cancelled() {
            queue.shut_down();
            return Ok(());
        }
        tracing::info!(controller = %self.name, workers = self.workers, "caches synced; starting workers");

        let worker = Arc::new(Worker {
            controller: self.name.clone(),
            queue: queue.clone(),
            primary: self.primary.clone(),
            reconcile,
            error_policy,
            shared: self.shared.clone(),
        });
        let mut workers = JoinSet::new();
        for _ in 0..self.workers {
            workers.spawn(worker.clone().run(shutdown.clone()));
        }
        let requeue = self.requeue_every.map(|period| {
            let (queue, primary) = (queue.clone(), self.primary.clone());
            tokio::spawn(async move {
                let start = tokio::time::Instant::now() + period;
                let mut tick = tokio::time::interval_at(start, period);
                loop {
                    tick.tick().await;
                    for key in primary.get_indexer().list_keys() {
                        if let Ok(key) = ObjectKey::parse(&key) {
                            queue.add(key);
                        }
                    }
                }
            })
        });

        shutdown.cancelled().await;
        if let Some(task) = requeue {
            task.abort();
        }
        queue.shut_down();
        let drained = async {
            while let Some(joined) = workers.join_next().await {
                if joined.is_err_and(|e| e.is_panic()) {
                    tracing::error!(controller = %self.name, "a worker panicked outside reconcile");
                }
            }
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            let running = self.shared.active.load(Ordering::Relaxed);
            workers.abort_all();
            while workers.join_next().await.is_some() {}
            tracing::warn!(controller = %self.name, running, "reconciles still running after the shutdown timeout; aborted");
            return Err(ControllerError::ShutdownTimeout {
                controller: self.name.clone(),
                running,
                timeout: grace,
            });
        }
        Ok(())
    }
}

/// Counts one running reconcile while it lives.
struct ActiveGuard<'a>(&'a AtomicUsize);

impl<'a> ActiveGuard<'a> {
    fn new(active: &'a AtomicUsize) -> Self {
        active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(active)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every worker shares.
struct Worker<K, R, P> {
    controller: String,
    queue: WorkQueue<ObjectKey>,
    primary: SharedIndexInformer<K>,
    reconcile: R,
    error_policy: P,
    shared: Arc<Shared>,
}

impl<K, R, Fut, E, P> Worker<K, R, P>
where
    K: Object + Send + Sync + 'static,
    R: Fn(ObjectKey, Option<Arc<K>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
    P: Fn(&ObjectKey, &E, u32) -> Retry + Send + Sync + 'static,
{
    /// Takes keys until `shutdown` (checked before every key, so that a worker of a
    /// replica that stopped leading starts no new reconcile) or the queue's end.
    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let item = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                item = self.queue.get() => item,
            };
            let Some(item) = item else {
                return;
            };
            let key = item.item().clone();
            let obj = self.primary.get_indexer().get_by_key(&key.to_string());
            let outcome = {
                // Counted as active until it ends, also when it is aborted mid-way.
                let _active = ActiveGuard::new(&self.shared.active);
                AssertUnwindSafe(async { (self.reconcile)(key.clone(), obj).await })
                    .catch_unwind()
                    .await
            };
            self.shared.reconciles.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Ok(Ok(Action::Done)) => self.queue.forget(&key),
                Ok(Ok(Action::RequeueAfter(after))) => {
                    self.queue.forget(&key);
                    self.queue.add_after(key, after);
                }
                Ok(Err(e)) => {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    let retries = self.queue.num_requeues(&key);
                    tracing::warn!(controller = %self.controller, %key, retries, error = %e, "reconcile failed");
                    match (self.error_policy)(&key, &e, retries) {
                        Retry::Backoff => {
                            self.queue.add_rate_limited(key);
                        }
                        Retry::After(after) => self.queue.add_after(key, after),
                        Retry::Never => self.queue.forget(&key),
                    }
                }
                Err(panic) => {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    self.shared.panics.fetch_add(1, Ordering::Relaxed);
                    let message = panic_message(&*panic);
                    tracing::error!(controller = %self.controller, %key, %message, "reconcile panicked; retrying with backoff");
                    self.queue.add_rate_limited(key);
                }
            }
            drop(item);
        }
    }
}
