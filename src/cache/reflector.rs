//! The reflector: lists and watches one kind of object through a [`ListerWatcher`] and
//! feeds every change into a [`ReflectorStore`] (client-go's `Reflector.ListAndWatch`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::backoff::{Backoff, BackoffPolicy};
use super::delta_fifo::{DeltaFifo, DeltaType};
use super::in_order_fifo::InOrderFifo;
use super::key::meta_namespace_key;
use super::listwatch::{ListPager, ListerWatcher, WatchStream, DEFAULT_PAGE_SIZE};
use super::listwatch_error::{ListWatchError, ListWatchErrorKind};
use super::metrics::{Counters, ReflectorMetrics};
use super::store::{Indexer, StoreError};
use crate::meta::{ListParams, Object, ResourceVersionMatch, WatchEvent, WatchParams};

/// Changes an object as it arrives, before anything stores or queues it (for example to
/// drop `managedFields`).
pub type Transform<K> = Arc<dyn Fn(K) -> K + Send + Sync>;

/// Called with every error after which the reflector backs off and relists, or backs off
/// and re-watches (a broken or stalled watch).
pub type WatchErrorHandler = Arc<dyn Fn(&ReflectorError) + Send + Sync>;

/// Asked at every resync tick whether to resync now.
pub type ShouldResync = Arc<dyn Fn() -> bool + Send + Sync>;

/// Why a reflector's list-and-watch attempt ended. After each, the reflector backs off
/// and relists.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReflectorError {
    /// The list failed.
    #[error("list failed: {0}")]
    List(#[source] ListWatchError),
    /// Opening the watch failed, or the watch ended with an `ERROR` event (for example
    /// `410 Expired`: the version it watched from is too old).
    #[error("watch failed: {0}")]
    Watch(#[source] ListWatchError),
    /// A watch stayed silent longer than [`ReflectorOptions::watch_idle_timeout`]: its
    /// request got no answer, or its stream brought no event and no bookmark.
    #[error(
        "the watch {} for {after:?} (ReflectorOptions::watch_idle_timeout); the server or a \
         proxy may have stalled it",
        if *answered { "sent nothing, not even a bookmark," } else { "request got no answer" }
    )]
    WatchStalled {
        /// How long it was silent.
        after: Duration,
        /// Whether the server had answered the request (then the stream went silent).
        answered: bool,
    },
    /// The watch closed within a second without delivering an event.
    #[error(
        "very short watch: the watch closed after {elapsed:?} without an event; the server \
         or a proxy may be closing connections"
    )]
    ShortWatch {
        /// How long the watch lasted.
        elapsed: Duration,
    },
    /// The store refused a list (its key or index functions failed).
    #[error("could not replace the store's contents: {0}")]
    Store(#[from] StoreError),
}

impl ReflectorError {
    /// The lister-watcher's error underneath, if any ([`ListWatchError::get_ref`]
    /// downcasts to the client's `Error` for the client's lister-watcher, or to a
    /// [`Status`](crate::meta::Status) for a watch's `ERROR` event).
    pub fn list_watch_error(&self) -> Option<&ListWatchError> {
        match self {
            ReflectorError::List(e) | ReflectorError::Watch(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the error is a `410 Expired`/`Gone`: the version asked for is compacted.
    pub fn is_expired(&self) -> bool {
        self.list_watch_error().is_some_and(ListWatchError::is_gone)
    }
}

/// The default watch error handler: `410` is routine (logged at debug), the rest warns.
pub fn default_watch_error_handler(name: &str, err: &ReflectorError) {
    if err.is_expired() {
        tracing::debug!(reflector = name, error = %err, "watch closed; relisting");
    } else {
        tracing::warn!(reflector = name, error = %err, "list or watch failed; backing off");
    }
}

/// Where a reflector puts what it lists and watches: the [`DeltaFifo`] of an informer,
/// or an [`Indexer`] directly.
pub trait ReflectorStore<K>: Send + Sync {
    /// An object was added.
    fn add(&self, obj: Arc<K>) -> Result<(), StoreError>;
    /// An object changed.
    fn update(&self, obj: Arc<K>) -> Result<(), StoreError>;
    /// An object was deleted; `obj` is its last state.
    fn delete(&self, obj: Arc<K>) -> Result<(), StoreError>;
    /// A list: the complete set of objects at `resource_version`.
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), StoreError>;
    /// Queue the known objects again (a resync); stores that are not queues do nothing.
    fn resync(&self) {}

    /// The store's replace in pages, if it has one: the reflector then hands over each
    /// page of a list as it arrives instead of the whole list at once.
    fn paged_replace(&self) -> Option<&dyn PagedReplace<K>> {
        None
    }
}

/// A replace delivered in pages (see [`DeltaFifo::replace_start`]).
pub trait PagedReplace<K>: Send + Sync {
    /// A list begins (or begins again).
    fn replace_start(&self);
    /// One page of it.
    fn replace_page(&self, page: Vec<Arc<K>>) -> Result<(), StoreError>;
    /// The list is complete at `resource_version`: whatever it lacked is deleted.
    fn replace_finish(&self, resource_version: &str);
}

impl<K: Object + Send + Sync + 'static> PagedReplace<K> for DeltaFifo<K> {
    fn replace_start(&self) {
        DeltaFifo::replace_start(self)
    }
    fn replace_page(&self, page: Vec<Arc<K>>) -> Result<(), StoreError> {
        Ok(DeltaFifo::replace_page(self, page)?)
    }
    fn replace_finish(&self, resource_version: &str) {
        DeltaFifo::replace_finish(self, resource_version)
    }
}

impl<K: Object + Send + Sync + 'static> ReflectorStore<K> for DeltaFifo<K> {
    fn add(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Ok(DeltaFifo::add(self, obj)?)
    }
    fn update(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Ok(DeltaFifo::update(self, obj)?)
    }
    fn delete(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Ok(DeltaFifo::delete(self, obj)?)
    }
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), StoreError> {
        Ok(DeltaFifo::replace(self, list, resource_version)?)
    }
    fn resync(&self) {
        DeltaFifo::resync(self)
    }
    fn paged_replace(&self) -> Option<&dyn PagedReplace<K>> {
        Some(self)
    }
}

impl<K: Object + Send + Sync + 'static> ReflectorStore<K> for InOrderFifo<K> {
    fn add(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Ok(InOrderFifo::add(self, obj)?)
    }
    fn update(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Ok(InOrderFifo::update(self, obj)?)
    }
    fn delete(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Ok(InOrderFifo::delete(self, obj)?)
    }
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), StoreError> {
        Ok(InOrderFifo::replace(self, list, resource_version)?)
    }
    fn resync(&self) {
        InOrderFifo::resync(self)
    }
}

impl<K: Object + Send + Sync + 'static> ReflectorStore<K> for Indexer<K> {
    fn add(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Indexer::add(self, obj).map(drop)
    }
    fn update(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Indexer::update(self, obj).map(drop)
    }
    fn delete(&self, obj: Arc<K>) -> Result<(), StoreError> {
        Indexer::delete(self, &obj)
    }
    fn replace(&self, list: Vec<Arc<K>>, resource_version: &str) -> Result<(), StoreError> {
        Indexer::replace(self, list, resource_version)
    }
}

/// The default [`ReflectorOptions::watch_idle_timeout`]: 3 minutes, three bookmark
/// intervals of a real server.
pub const DEFAULT_WATCH_IDLE_TIMEOUT: Duration = Duration::from_secs(180);

/// How a [`Reflector`] lists, watches and retries.
#[derive(Clone, Debug)]
pub struct ReflectorOptions {
    /// Name used in logs and spans (for example `"v1/pods"`).
    pub name: String,
    /// Objects per list page. `None` is client-go's choice: 500 per page, except that a
    /// relist at a known resourceVersion asks for everything at once (the server answers
    /// it from its cache) unless the server paginated before.
    pub page_size: Option<u32>,
    /// How often to ask whether to resync; `None` never resyncs.
    pub resync_period: Option<Duration>,
    /// Watches time out after a random duration in `[min, 2 * min)` (default 5 minutes),
    /// so that many reflectors do not reconnect at once.
    pub min_watch_timeout: Duration,
    /// Waits between failed attempts.
    pub backoff: BackoffPolicy,
    /// Hand a list's objects to the store in batches, decoded while the answer arrives
    /// (paged or not), when the store takes pages (the [`DeltaFifo`] does), so that a
    /// relist never holds the old and the new contents whole at once. Off, a list is
    /// gathered and replaced at once, as in client-go.
    pub stream_lists: bool,
    /// Sync first with a streaming initial list (`sendInitialEvents=true`).
    pub watch_list: bool,
    /// A watch that stays silent this long is treated as failed: reported to the watch
    /// error handler and reopened from the last resourceVersion after the backoff. It
    /// covers a request that gets no answer and a stream that brings no event and no
    /// bookmark. A real server sends a bookmark about every minute while its
    /// resourceVersion moves (it does all the time in a real cluster), so the default,
    /// 3 minutes, only fires when the server or a proxy has stalled.
    pub watch_idle_timeout: Duration,
    /// During a streaming initial list, fall back to a plain list after this long
    /// without an event: a server that ignores `sendInitialEvents` never sends the end
    /// bookmark. (A busy one keeps sending events; the stream then ends with the watch
    /// timeout, and the list follows.)
    pub initial_events_timeout: Duration,
}

impl Default for ReflectorOptions {
    fn default() -> Self {
        ReflectorOptions {
            name: "reflector".to_owned(),
            page_size: None,
            resync_period: None,
            min_watch_timeout: Duration::from_secs(300),
            backoff: BackoffPolicy::default(),
            stream_lists: true,
            watch_list: false,
            watch_idle_timeout: DEFAULT_WATCH_IDLE_TIMEOUT,
            initial_events_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    last_sync_resource_version: String,
    /// The last list answered `410 Expired` or "too large": list at `""` next.
    resource_version_unavailable: bool,
    /// The server paginated a list at `"0"`: keep paging relists.
    paginated_result: bool,
    /// A list (or streaming initial list) has completed once.
    synced_once: bool,
}

/// Objects handed to the store at once while a list page arrives.
const LIST_BATCH: usize = 500;

/// What one list brought.
#[derive(Debug, Default)]
struct Listed {
    resource_version: String,
    paginated: bool,
    count: usize,
}

/// How one watch ended, short of an error that needs a relist.
enum WatchEnd {
    Stopped,
    Closed,
    /// Broken or stalled: report, back off and re-watch from the last version.
    Broken(ReflectorError),
}

/// Lists and watches through a [`ListerWatcher`] into a [`ReflectorStore`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use informer::cache::{Indexer, Indexers, ListWatch, Reflector, ReflectorOptions};
/// use informer::client::Api;
/// use informer::meta::{ApiResource, DynamicObject};
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = informer::testing::ApiServer::start().await?;
/// # let client = informer::client::RestClient::new(
/// #     informer::client::Config::from_kubeconfig_file(server.kubeconfig())?,
/// # )?;
/// let pods = ApiResource::new("", "v1", "Pod", "pods", true);
/// # server.create(&pods, serde_json::json!({"metadata": {"name": "web", "namespace": "default"}}))?;
/// let lw = ListWatch::new(Api::<DynamicObject>::all_with(client, &pods));
/// let store: Indexer<DynamicObject> = Indexer::new(Indexers::new());
/// let reflector = Reflector::new(Arc::new(lw), Arc::new(store.clone()), ReflectorOptions::default());
/// let stop = CancellationToken::new();
/// let running = tokio::spawn({ let stop = stop.clone(); async move { reflector.run(stop).await } });
/// // `store` now mirrors the server.
/// for _ in 0..100 {
///     if store.get_by_key("default/web").is_some() { break }
///     tokio::time::sleep(Duration::from_millis(20)).await;
/// }
/// assert!(store.get_by_key("default/web").is_some());
/// stop.cancel();
/// let _ = running.await;
/// # server.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// # How it works
///
/// How data passes through it:
///
/// 1. **List.** A list goes to the store: in batches decoded while the answer arrives
///    into a [`DeltaFifo`] (`replace_start`, `replace_page` per batch, `replace_finish`,
///    so the consumer applies each batch while the next is read and a relist never holds
///    two full copies of the objects), or as one `replace` into any other store. Pages
///    follow client-go: 500 per page, except a relist at a known version, which asks for
///    everything at once unless the server paginated before; a continue token that
///    expires mid-list falls back to a full list. The first
///    list asks for resourceVersion `"0"` (any recent state, served from the server's
///    cache); a relist asks for the last version seen, so the cache never goes back in
///    time; only when a list itself answered `410 Expired` or "too large resource
///    version" does the next one ask for `""` (a consistent read).
/// 2. **Watch** from the list's version, with bookmarks and a random timeout in
///    `[min_watch_timeout, 2 * min_watch_timeout)`. `ADDED`, `MODIFIED` and `DELETED`
///    become `add`, `update` and `delete` of the store; a `BOOKMARK` only moves the
///    resourceVersion. A watch that ends cleanly is reopened at once from the last
///    version. One that breaks (a malformed line, an event over the size cap, a broken
///    connection) or stays silent longer than [`ReflectorOptions::watch_idle_timeout`]
///    (no answer to its request, or no event nor bookmark on its stream) is reported to
///    the watch error handler with its cause and reopened from the last version after
///    the backoff, without a relist; so is one whose opening was refused (connection
///    refused, `429`, reported only in the log). A watch that closes within a second
///    without an event counts as an error.
/// 3. **Errors** (a failed list, an `ERROR` event such as `410 Expired`, a very short
///    watch) go to the watch error handler; the reflector then waits (exponential backoff
///    with jitter, at least the server's `Retry-After`) and relists. Every failure waits
///    on the same backoff, so a server that keeps breaking watches is never stormed.
/// 4. **Resync.** While watching, every resync period, when the informer's
///    `should_resync` agrees, the store queues its known objects again.
///
/// With [`ReflectorOptions::watch_list`] the first sync is a streaming initial list
/// (`sendInitialEvents=true`): the `ADDED` events up to the bookmark annotated
/// `k8s.io/initial-events-end` are gathered and handed over as one `replace`, and the same
/// stream goes on as the watch. A server that refuses it, or that sends nothing for
/// [`ReflectorOptions::initial_events_timeout`] before that bookmark, gets a plain list
/// instead.
pub struct Reflector<K> {
    lw: Arc<dyn ListerWatcher<K>>,
    store: Arc<dyn ReflectorStore<K>>,
    options: ReflectorOptions,
    transform: Option<Transform<K>>,
    should_resync: Option<ShouldResync>,
    watch_error_handler: Option<WatchErrorHandler>,
    state: Mutex<State>,
    counters: Arc<Counters>,
}

impl<K> std::fmt::Debug for Reflector<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reflector")
            .field("options", &self.options)
            .field("state", &*self.state.lock())
            .finish_non_exhaustive()
    }
}

impl<K: Object + Send + Sync + 'static> Reflector<K> {
    /// A reflector that lists and watches through `lw` into `store`.
    pub fn new(
        lw: Arc<dyn ListerWatcher<K>>,
        store: Arc<dyn ReflectorStore<K>>,
        options: ReflectorOptions,
    ) -> Self {
        Reflector {
            lw,
            store,
            options,
            transform: None,
            should_resync: None,
            watch_error_handler: None,
            state: Mutex::new(State::default()),
            counters: Arc::default(),
        }
    }

    /// Changes every object as it arrives, before it is stored.
    pub fn with_transform(mut self, transform: Transform<K>) -> Self {
        self.transform = Some(transform);
        self
    }

    /// Resyncs only when `f` says so at a resync tick (an informer asks its handlers).
    pub fn with_should_resync(mut self, f: ShouldResync) -> Self {
        self.should_resync = Some(f);
        self
    }

    /// Called with each error after which the reflector backs off and relists; the
    /// default logs it ([`default_watch_error_handler`]).
    pub fn with_watch_error_handler(mut self, handler: WatchErrorHandler) -> Self {
        self.watch_error_handler = Some(handler);
        self
    }

    pub(crate) fn with_counters(mut self, counters: Arc<Counters>) -> Self {
        self.counters = counters;
        self
    }

    /// The resourceVersion of the last list, event or bookmark seen (`""` before the
    /// first list).
    pub fn last_sync_resource_version(&self) -> String {
        self.state.lock().last_sync_resource_version.clone()
    }

    /// What the reflector has done so far.
    pub fn metrics(&self) -> ReflectorMetrics {
        self.counters.snapshot()
    }

    /// The options it runs with.
    pub fn options(&self) -> &ReflectorOptions {
        &self.options
    }

    /// Lists and watches until `shutdown` is cancelled, retrying every failure after a
    /// backoff. Returns promptly on cancellation.
    pub async fn run(&self, shutdown: CancellationToken) {
        let span = tracing::info_span!("reflector", name = %self.options.name);
        self.run_until_stopped(shutdown).instrument(span).await
    }

    async fn run_until_stopped(&self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.options.backoff);
        while !shutdown.is_cancelled() {
            let result = self.list_and_watch(&shutdown, &mut backoff).await;
            if shutdown.is_cancelled() {
                return;
            }
            let mut delay = backoff.next_delay(Instant::now());
            if let Err(err) = result {
                self.report(&err);
                let after = err.list_watch_error().and_then(ListWatchError::retry_after);
                delay = backoff.honour(delay, after);
            }
            if !sleep_or_stop(delay, &shutdown).await {
                return;
            }
        }
    }

    /// Counts an error and hands it to the watch error handler.
    fn report(&self, err: &ReflectorError) {
        Counters::bump(&self.counters.watch_errors);
        match &self.watch_error_handler {
            Some(handler) => handler(err),
            None => default_watch_error_handler(&self.options.name, err),
        }
    }

    /// One attempt: list (or stream the initial list), then watch until an error.
    async fn list_and_watch(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), ReflectorError> {
        let mut stream = None;
        let first = !self.state.lock().synced_once;
        if first && self.options.watch_list {
            match self.watch_list(shutdown).await {
                Ok(Some(s)) => stream = Some(s),
                Ok(None) if shutdown.is_cancelled() => return Ok(()),
                Ok(None) => {}
                Err(e) => {
                    tracing::info!(reflector = %self.options.name, error = %e,
                        "streaming initial list failed; falling back to list and watch")
                }
            }
        }
        if stream.is_none() {
            let list = self.list();
            tokio::select! {
                r = list => r?,
                () = shutdown.cancelled() => return Ok(()),
            }
        }
        let watch = self.watch(stream, shutdown, backoff);
        tokio::select! {
            r = watch => r,
            () = self.resync_loop() => Ok(()),
        }
    }

    /// The version to relist at (client-go's `relistResourceVersion`).
    fn relist_resource_version(&self) -> String {
        let state = self.state.lock();
        if state.resource_version_unavailable {
            String::new()
        } else if state.last_sync_resource_version.is_empty() {
            "0".to_owned()
        } else {
            state.last_sync_resource_version.clone()
        }
    }

    fn list_params(resource_version: &str) -> ListParams {
        ListParams {
            resource_version: Some(resource_version.to_owned()).filter(|rv| !rv.is_empty()),
            ..ListParams::default()
        }
    }

    async fn list(&self) -> Result<(), ReflectorError> {
        let resource_version = self.relist_resource_version();
        tracing::debug!(reflector = %self.options.name, %resource_version, "listing");
        let listed = match self.list_at(&resource_version).await {
            Err(ReflectorError::List(e))
                if e.is_gone() || e.kind() == ListWatchErrorKind::TooLargeResourceVersion =>
            {
                tracing::debug!(reflector = %self.options.name, error = %e,
                    "list at {resource_version:?} is unavailable; listing the latest state");
                self.state.lock().resource_version_unavailable = true;
                self.list_at("").await
            }
            other => other,
        }?;
        let relist = {
            let mut state = self.state.lock();
            if resource_version == "0" && listed.paginated {
                state.paginated_result = true;
            }
            state.resource_version_unavailable = false;
            state
                .last_sync_resource_version
                .clone_from(&listed.resource_version);
            std::mem::replace(&mut state.synced_once, true)
        };
        Counters::bump(&self.counters.lists);
        if relist {
            Counters::bump(&self.counters.relists);
        }
        tracing::debug!(reflector = %self.options.name, resource_version = %listed.resource_version,
            count = listed.count, "listed");
        Ok(())
    }

    /// Lists everything at `resource_version` into the store, page by page when the store
    /// takes pages, else gathered and replaced at once.
    async fn list_at(&self, resource_version: &str) -> Result<Listed, ReflectorError> {
        let params = Self::list_params(resource_version);
        let sink = self
            .options
            .stream_lists
            .then(|| self.store.paged_replace())
            .flatten();
        let page_size = self.page_size(resource_version);
        let Some(sink) = sink else {
            let listed = ListPager::new(page_size)
                .list(&*self.lw, &params)
                .await
                .map_err(ReflectorError::List)?;
            let resource_version = listed.list.metadata.resource_version.unwrap_or_default();
            let items = self.arcs(listed.list.items);
            let count = items.len();
            self.store.replace(items, &resource_version)?;
            return Ok(Listed {
                resource_version,
                paginated: listed.paginated,
                count,
            });
        };

        let mut page_params = params.clone();
        page_params.limit = Some(page_size).filter(|n| *n > 0);
        sink.replace_start();
        let mut listed = Listed::default();
        let mut first = true;
        loop {
            // Items go to the store batch by batch while the page is still arriving.
            let mut refused: Option<StoreError> = None;
            let mut count = 0usize;
            let mut on_batch = |items: Vec<K>| {
                count += items.len();
                if refused.is_none() {
                    if let Err(e) = sink.replace_page(self.arcs(items)) {
                        refused = Some(e);
                    }
                }
            };
            let result = self
                .lw
                .list_batched(&page_params, LIST_BATCH, &mut on_batch)
                .await;
            if let Some(e) = refused {
                return Err(e.into());
            }
            let page = match result {
                Ok(page) => page,
                Err(e) if !first && e.is_expired() => {
                    // The continue token expired between pages: list everything at once
                    // at the version first asked for, as client-go's pager does.
                    tracing::debug!(reflector = %self.options.name, error = %e,
                        "continue token expired; falling back to a full list");
                    let full = self.lw.list(&params).await.map_err(ReflectorError::List)?;
                    sink.replace_start();
                    listed.resource_version = full.metadata.resource_version.unwrap_or_default();
                    listed.count = full.items.len();
                    sink.replace_page(self.arcs(full.items))?;
                    break;
                }
                Err(e) => return Err(ReflectorError::List(e)),
            };
            if first {
                listed.resource_version =
                    page.metadata.resource_version.clone().unwrap_or_default();
                first = false;
            }
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            listed.count += count;
            match next {
                Some(token) => {
                    page_params.continue_token = Some(token);
                    page_params.resource_version = None;
                    page_params.resource_version_match = None;
                    listed.paginated = true;
                }
                None => break,
            }
        }
        sink.replace_finish(&listed.resource_version);
        Ok(listed)
    }

    /// Objects per page of a list at `resource_version` (0: no limit), by client-go's
    /// rule: a relist at a known version asks for everything at once, which a server
    /// answers from its watch cache (with a limit, it would read that exact version from
    /// etcd, or answer `410` once it is compacted), unless this server paginated a list
    /// before.
    fn page_size(&self, resource_version: &str) -> u32 {
        match self.options.page_size {
            Some(n) => n,
            None if self.state.lock().paginated_result => DEFAULT_PAGE_SIZE,
            None if !resource_version.is_empty() && resource_version != "0" => 0,
            None => DEFAULT_PAGE_SIZE,
        }
    }

    fn arcs(&self, items: Vec<K>) -> Vec<Arc<K>> {
        items
            .into_iter()
            .map(|o| Arc::new(self.transformed(o)))
            .collect()
    }

    fn transformed(&self, obj: K) -> K {
        match &self.transform {
            Some(t) => t(obj),
            None => obj,
        }
    }

    fn watch_timeout(&self) -> u32 {
        let min = self.options.min_watch_timeout.as_secs_f64();
        (min * (1.0 + fastrand::f64())).clamp(1.0, u32::MAX as f64) as u32
    }

    fn set_resource_version(&self, resource_version: &str) {
        if !resource_version.is_empty() {
            resource_version.clone_into(&mut self.state.lock().last_sync_resource_version);
        }
    }

    /// Watches from the last version until an error, re-opening after clean ends.
    async fn watch(
        &self,
        mut stream: Option<WatchStream<K>>,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), ReflectorError> {
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let start = Instant::now();
            let s = match stream.take() {
                Some(s) => s,
                None => {
                    Counters::bump(&self.counters.watches);
                    let params = WatchParams {
                        resource_version: Some(self.last_sync_resource_version()),
                        timeout_seconds: Some(self.watch_timeout()),
                        allow_watch_bookmarks: true,
                        ..WatchParams::default()
                    };
                    let idle = self.options.watch_idle_timeout;
                    let opened = tokio::select! {
                        r = tokio::time::timeout(idle, self.lw.watch(&params)) => r,
                        () = shutdown.cancelled() => return Ok(()),
                    };
                    let Ok(opened) = opened else {
                        let stalled = ReflectorError::WatchStalled {
                            after: idle,
                            answered: false,
                        };
                        if !self.back_off_after(stalled, backoff, shutdown).await {
                            return Ok(());
                        }
                        continue;
                    };
                    match opened {
                        Ok(s) => s,
                        Err(e)
                            if matches!(
                                e.kind(),
                                ListWatchErrorKind::ConnectionRefused
                                    | ListWatchErrorKind::TooManyRequests
                            ) =>
                        {
                            // client-go retries these without a relist: the server is
                            // restarting or busy, and the watch can resume where it ended.
                            // Any other error ends the attempt: it is reported to the
                            // watch error handler, and a relist follows the backoff.
                            let delay = backoff.next_delay(Instant::now());
                            let delay = backoff.honour(delay, e.retry_after());
                            tracing::debug!(reflector = %self.options.name, error = %e, ?delay,
                                "could not open the watch; retrying");
                            if !sleep_or_stop(delay, shutdown).await {
                                return Ok(());
                            }
                            continue;
                        }
                        Err(e) => return Err(ReflectorError::Watch(e)),
                    }
                }
            };
            match self.handle_watch(s, start, shutdown).await? {
                WatchEnd::Stopped => return Ok(()),
                WatchEnd::Closed => {}
                WatchEnd::Broken(err) => {
                    if !self.back_off_after(err, backoff, shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Reports a broken or stalled watch and waits out the backoff before it is
    /// reopened; false if `shutdown` came first.
    async fn back_off_after(
        &self,
        err: ReflectorError,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> bool {
        tracing::debug!(reflector = %self.options.name, error = %err,
            resource_version = %self.last_sync_resource_version(),
            "watch failed; re-watching from the last resourceVersion after the backoff");
        self.report(&err);
        let delay = backoff.next_delay(Instant::now());
        let after = err.list_watch_error().and_then(ListWatchError::retry_after);
        let delay = backoff.honour(delay, after);
        sleep_or_stop(delay, shutdown).await
    }

    /// Applies one watch's events until it ends.
    async fn handle_watch(
        &self,
        mut stream: WatchStream<K>,
        start: Instant,
        shutdown: &CancellationToken,
    ) -> Result<WatchEnd, ReflectorError> {
        let mut events = 0u64;
        let idle = self.options.watch_idle_timeout;
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout(idle, stream.next()) => n,
                () = shutdown.cancelled() => return Ok(WatchEnd::Stopped),
            };
            let Ok(next) = next else {
                return Ok(WatchEnd::Broken(ReflectorError::WatchStalled {
                    after: idle,
                    answered: true,
                }));
            };
            match next {
                None => break,
                // The stream broke (a malformed line, an event over the cap, a broken
                // connection): that is the cause to report, however short the watch, and
                // the watch reopens from the last resourceVersion.
                Some(Err(e))
                    if matches!(
                        e.kind(),
                        ListWatchErrorKind::Broken | ListWatchErrorKind::ConnectionRefused
                    ) =>
                {
                    return Ok(WatchEnd::Broken(ReflectorError::Watch(e)))
                }
                // A failure the server reported (or a lister-watcher classified): expired,
                // too large, rejected: the attempt ends and a relist follows.
                Some(Err(e)) => return Err(ReflectorError::Watch(e)),
                Some(Ok(event)) => {
                    events += 1;
                    self.apply_event(event)?;
                }
            }
        }
        let elapsed = start.elapsed();
        if events == 0 && elapsed < Duration::from_secs(1) {
            return Err(ReflectorError::ShortWatch { elapsed });
        }
        Ok(WatchEnd::Closed)
    }

    /// Hands one watch event to the store and moves the resourceVersion.
    fn apply_event(&self, event: WatchEvent<K>) -> Result<(), ReflectorError> {
        let (obj, kind) = match event {
            WatchEvent::Added(o) => (o, DeltaType::Added),
            WatchEvent::Modified(o) => (o, DeltaType::Updated),
            WatchEvent::Deleted(o) => (o, DeltaType::Deleted),
            WatchEvent::Bookmark(b) => {
                Counters::bump(&self.counters.bookmarks);
                self.set_resource_version(&b.metadata.resource_version);
                return Ok(());
            }
            WatchEvent::Error(status) => {
                return Err(ReflectorError::Watch(ListWatchError::from_status(status)))
            }
        };
        let obj = self.transformed(obj);
        let resource_version = obj.resource_version().unwrap_or_default().to_owned();
        let obj = Arc::new(obj);
        let queued = match kind {
            DeltaType::Added => {
                Counters::bump(&self.counters.added);
                self.store.add(obj)
            }
            DeltaType::Deleted => {
                Counters::bump(&self.counters.deleted);
                self.store.delete(obj)
            }
            _ => {
                Counters::bump(&self.counters.modified);
                self.store.update(obj)
            }
        };
        if let Err(e) = queued {
            tracing::error!(reflector = %self.options.name, error = %e,
                "could not queue a watch event; skipping it");
        }
        self.set_resource_version(&resource_version);
        Ok(())
    }

    /// A streaming initial list: `Ok(None)` means fall back to a plain list.
    async fn watch_list(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<WatchStream<K>>, ReflectorError> {
        let params = WatchParams {
            resource_version: Some(self.last_sync_resource_version()).filter(|rv| !rv.is_empty()),
            resource_version_match: Some(ResourceVersionMatch::NotOlderThan),
            send_initial_events: true,
            allow_watch_bookmarks: true,
            timeout_seconds: Some(self.watch_timeout()),
            ..WatchParams::default()
        };
        let idle = self.options.watch_idle_timeout;
        let opened = tokio::select! {
            r = tokio::time::timeout(idle, self.lw.watch(&params)) => r,
            () = shutdown.cancelled() => return Ok(None),
        };
        let Ok(opened) = opened else {
            return Err(ReflectorError::WatchStalled {
                after: idle,
                answered: false,
            });
        };
        let mut stream = opened.map_err(ReflectorError::Watch)?;
        Counters::bump(&self.counters.watches);
        let mut objects: BTreeMap<String, Arc<K>> = BTreeMap::new();
        let resource_version = loop {
            let next = tokio::select! {
                n = tokio::time::timeout(self.options.initial_events_timeout, stream.next()) => n,
                () = shutdown.cancelled() => return Ok(None),
            };
            let event = match next {
                Err(_) => {
                    tracing::info!(reflector = %self.options.name,
                        timeout = ?self.options.initial_events_timeout,
                        "no end of the streaming initial list; the server may not support it");
                    return Ok(None);
                }
                Ok(None) => return Ok(None),
                Ok(Some(event)) => event.map_err(ReflectorError::Watch)?,
            };
            match event {
                // A server may send changes made since its snapshot before the end
                // bookmark (client-go applies them to its temporary store too).
                WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                    Counters::bump(&self.counters.added);
                    let o = self.transformed(o);
                    match meta_namespace_key(&o) {
                        Ok(key) => {
                            objects.insert(key, Arc::new(o));
                        }
                        Err(e) => tracing::error!(reflector = %self.options.name, error = %e,
                            "skipping an object without a key"),
                    }
                }
                WatchEvent::Deleted(o) => {
                    if let Ok(key) = meta_namespace_key(&o) {
                        objects.remove(&key);
                    }
                }
                WatchEvent::Bookmark(b) => {
                    Counters::bump(&self.counters.bookmarks);
                    if b.is_initial_events_end() {
                        break b.metadata.resource_version;
                    }
                }
                WatchEvent::Error(status) => {
                    return Err(ReflectorError::Watch(ListWatchError::from_status(status)))
                }
            }
        };
        self.store
            .replace(objects.into_values().collect(), &resource_version)?;
        {
            let mut state = self.state.lock();
            state.resource_version_unavailable = false;
            state.last_sync_resource_version = resource_version;
            state.synced_once = true;
        }
        Counters::bump(&self.counters.lists);
        Ok(Some(stream))
    }

    /// Queues a resync every resync period when `should_resync` agrees; never returns
    /// (pending forever without a period).
    async fn resync_loop(&self) {
        let Some(period) = self.options.resync_period.filter(|p| !p.is_zero()) else {
            return std::future::pending().await;
        };
        loop {
            // (A period too long for the clock sleeps forever.)
            tokio::time::sleep(period).await;
            if self.should_resync.as_ref().is_none_or(|f| f()) {
                Counters::bump(&self.counters.resyncs);
                self.store.resync();
            }
        }
    }
}

/// Sleeps for `delay`; false if `shutdown` came first.
pub(crate) async fn sleep_or_stop(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = shutdown.cancelled() => false,
    }
}
