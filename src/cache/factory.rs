//! `SharedInformerFactory`: one shared informer per resource for a whole process
//! (client-go's `informers.SharedInformerFactory`).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::informer_client::InformerClient;
use super::listwatch::{ListWatch, ListerWatcher};
use super::reflector::ReflectorOptions;
use super::shared_informer::{InformerError, InformerOptions, SharedIndexInformer};
use crate::meta::{
    ApiResource, DynamicObject, ListParams, MetaAccessor, Object, PartialObjectMetadata, Resource,
    WatchParams,
};

type ListTweak = Arc<dyn Fn(&mut ListParams) + Send + Sync>;
type MetaTransform = Arc<dyn Fn(&mut dyn MetaAccessor) + Send + Sync>;

/// An informer as the factory keeps it: typed behind `Any`, with type-erased run and
/// sync checks.
struct Entry {
    informer: Box<dyn Any + Send + Sync>,
    run: Box<dyn Fn(CancellationToken) -> BoxFuture<'static, ()> + Send + Sync>,
    has_synced: Box<dyn Fn() -> bool + Send + Sync>,
    started: bool,
}

/// Creates and shares informers: one per resource and Rust type for a whole process,
/// listing and watching through a client `C` (the crate's `client::RestClient`, or any
/// [`InformerClient`]).
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = informer::testing::ApiServer::start().await?;
/// # let client = informer::client::RestClient::new(
/// #     informer::client::Config::from_kubeconfig_file(server.kubeconfig())?,
/// # )?;
/// use informer::cache::SharedInformerFactory;
/// use informer::meta::{ApiResource, DynamicObject};
/// use tokio_util::sync::CancellationToken;
///
/// let factory = SharedInformerFactory::new(client).namespace("shop");
/// let pods = factory.dynamic_informer(&ApiResource::new("", "v1", "Pod", "pods", true));
/// let stop = CancellationToken::new();
/// factory.start(&stop);
/// let synced = factory.wait_for_cache_sync(&stop).await;
/// assert!(synced.values().all(|s| *s));
/// println!("{} pods", pods.get_indexer().len());
/// stop.cancel();
/// factory.shutdown().await;
/// # server.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// # How it works
///
/// Every part of an application asks the factory for the informer of a resource, typed
/// ([`SharedInformerFactory::informer`]) or dynamic
/// ([`SharedInformerFactory::dynamic_informer`]); the first request creates it, later ones
/// get the same informer, so each resource is listed and watched once per Rust type it is
/// decoded as (a typed and a dynamic informer of one resource are two informers, as a
/// typed and a dynamic factory are in client-go). [`start`] runs every informer not yet
/// running; [`wait_for_cache_sync`] waits until all have synced.
///
/// [`start`]: SharedInformerFactory::start
/// [`wait_for_cache_sync`]: SharedInformerFactory::wait_for_cache_sync
pub struct SharedInformerFactory<C> {
    client: C,
    namespace: Option<String>,
    default_resync: Option<Duration>,
    label_selector: Option<String>,
    field_selector: Option<String>,
    tweak_list: Option<ListTweak>,
    transform_metadata: Option<MetaTransform>,
    drop_managed_fields: bool,
    reflector: ReflectorOptions,
    informers: Mutex<HashMap<(String, TypeId), Entry>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl<C> std::fmt::Debug for SharedInformerFactory<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self
            .informers
            .lock()
            .keys()
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        f.debug_struct("SharedInformerFactory")
            .field("namespace", &self.namespace)
            .field("informers", &names)
            .finish_non_exhaustive()
    }
}

impl<C: InformerClient> SharedInformerFactory<C> {
    /// A factory whose informers watch every namespace through `client`.
    pub fn new(client: C) -> Self {
        SharedInformerFactory {
            client,
            namespace: None,
            default_resync: None,
            label_selector: None,
            field_selector: None,
            tweak_list: None,
            transform_metadata: None,
            drop_managed_fields: false,
            reflector: ReflectorOptions::default(),
            informers: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// The client the factory's informers list and watch through.
    pub fn client(&self) -> &C {
        &self.client
    }

    /// Watch only this namespace (cluster-scoped resources are unaffected).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The default resync period of every informer's handlers.
    pub fn default_resync(mut self, period: Duration) -> Self {
        self.default_resync = Some(period);
        self
    }

    /// Only objects whose labels match.
    pub fn labels(mut self, selector: impl std::fmt::Display) -> Self {
        self.label_selector = Some(selector.to_string()).filter(|s| !s.is_empty());
        self
    }

    /// Only objects whose fields match.
    pub fn fields(mut self, selector: impl std::fmt::Display) -> Self {
        self.field_selector = Some(selector.to_string()).filter(|s| !s.is_empty());
        self
    }

    /// Changes the params of every list call (client-go's `TweakListOptionsFunc`), after
    /// the factory's selectors are applied; the label and field selectors it sets are
    /// applied to every watch too, so that watches select what lists select. (Other
    /// fields, such as `limit` or `timeout_seconds`, stay list-only: the reflector sets
    /// its watches' own.)
    ///
    /// ```
    /// # fn doc(client: informer::client::RestClient) {
    /// use informer::cache::SharedInformerFactory;
    ///
    /// let factory = SharedInformerFactory::new(client)
    ///     .tweak_list_options(|p| p.label_selector = Some("app=web".into()));
    /// # }
    /// ```
    pub fn tweak_list_options(
        mut self,
        f: impl Fn(&mut ListParams) + Send + Sync + 'static,
    ) -> Self {
        self.tweak_list = Some(Arc::new(f));
        self
    }

    /// Changes the metadata of every object of every informer the factory makes, before
    /// it is cached (client-go's `WithTransform`, for what all types share): for example,
    /// drop `managedFields`, which controllers rarely read and which take a large part
    /// of an object's memory. An informer's own
    /// [`set_transform`](SharedIndexInformer::set_transform) replaces it.
    ///
    /// ```
    /// # fn doc(client: informer::client::RestClient) {
    /// use informer::cache::SharedInformerFactory;
    ///
    /// let factory = SharedInformerFactory::new(client)
    ///     .transform_metadata(|meta| meta.clear_managed_fields());
    /// # }
    /// ```
    pub fn transform_metadata(
        mut self,
        f: impl Fn(&mut dyn MetaAccessor) + Send + Sync + 'static,
    ) -> Self {
        self.transform_metadata = Some(Arc::new(f));
        self
    }

    /// Drops `metadata.managedFields` from every object of every informer the factory
    /// makes, before it is cached ([`InformerOptions::drop_managed_fields`]). They are a
    /// large part of an object's memory and controllers rarely read them.
    ///
    /// ```
    /// # fn doc(client: informer::client::RestClient) {
    /// let factory = informer::cache::SharedInformerFactory::new(client).drop_managed_fields();
    /// # }
    /// ```
    pub fn drop_managed_fields(mut self) -> Self {
        self.drop_managed_fields = true;
        self
    }

    /// How every informer's reflector lists, watches and backs off (the name is set per
    /// resource).
    pub fn reflector_options(mut self, options: ReflectorOptions) -> Self {
        self.reflector = options;
        self
    }

    /// The shared informer of a typed resource.
    pub fn informer<K>(&self) -> SharedIndexInformer<K>
    where
        K: Resource + DeserializeOwned + Send + Sync + 'static,
    {
        self.informer_for::<K>(&K::api_resource())
    }

    /// The shared informer of a resource known at run time.
    pub fn dynamic_informer(&self, resource: &ApiResource) -> SharedIndexInformer<DynamicObject> {
        self.informer_for::<DynamicObject>(resource)
    }

    /// The shared metadata-only informer of a resource (client-go's `metadatainformer`,
    /// kube-rs's `metadata_watcher`): it lists and watches [`PartialObjectMetadata`]
    /// (the server leaves out `spec` and `status`), so its cache holds names, labels,
    /// annotations, owners and finalizers at a fraction of a whole object's memory.
    /// Listers, indexers and handlers work as on any informer. It is the informer
    /// `informer_for::<PartialObjectMetadata>` returns too.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = informer::testing::ApiServer::start().await?;
    /// # let client = informer::client::RestClient::new(
    /// #     informer::client::Config::from_kubeconfig_file(server.kubeconfig())?,
    /// # )?;
    /// use informer::cache::SharedInformerFactory;
    /// use informer::meta::ApiResource;
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let factory = SharedInformerFactory::new(client).drop_managed_fields();
    /// let pods = factory.metadata_informer(&ApiResource::new("", "v1", "Pod", "pods", true));
    /// let stop = CancellationToken::new();
    /// factory.start(&stop);
    /// factory.wait_for_cache_sync(&stop).await;
    /// for pod in pods.get_indexer().list() {
    ///     println!("{:?} {:?}", pod.metadata.name, pod.metadata.labels);
    /// }
    /// stop.cancel();
    /// factory.shutdown().await;
    /// # server.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn metadata_informer(
        &self,
        resource: &ApiResource,
    ) -> SharedIndexInformer<PartialObjectMetadata> {
        self.informer_for::<PartialObjectMetadata>(resource)
    }

    /// The shared informer of `resource`, decoded as `K`.
    pub fn informer_for<K>(&self, resource: &ApiResource) -> SharedIndexInformer<K>
    where
        K: Object + DeserializeOwned + Send + Sync + 'static,
    {
        let name = resource_name(resource);
        let mut informers = self.informers.lock();
        let entry = informers
            .entry((name.clone(), TypeId::of::<K>()))
            .or_insert_with(|| self.new_entry::<K>(resource, name));
        match entry.informer.downcast_ref::<SharedIndexInformer<K>>() {
            Some(informer) => informer.clone(),
            None => unreachable!("entries are keyed by the informer's type"),
        }
    }

    fn new_entry<K>(&self, resource: &ApiResource, name: String) -> Entry
    where
        K: Object + DeserializeOwned + Send + Sync + 'static,
    {
        let mut lw = ListWatch::new(self.lister_watcher::<K>(resource));
        if let Some(s) = &self.label_selector {
            lw = lw.labels(s);
        }
        if let Some(s) = &self.field_selector {
            lw = lw.fields(s);
        }
        if let Some(t) = self.tweak_list.clone() {
            let for_watch = t.clone();
            lw = lw.tweak_list(move |p: &mut ListParams| t(p)).tweak_watch(
                move |w: &mut WatchParams| {
                    let mut p = ListParams {
                        label_selector: w.label_selector.take(),
                        field_selector: w.field_selector.take(),
                        ..ListParams::default()
                    };
                    for_watch(&mut p);
                    w.label_selector = p.label_selector;
                    w.field_selector = p.field_selector;
                },
            );
        }
        let informer = SharedIndexInformer::new(
            lw,
            InformerOptions {
                default_resync: self.default_resync,
                reflector: ReflectorOptions {
                    name,
                    ..self.reflector.clone()
                },
                drop_managed_fields: self.drop_managed_fields,
                ..InformerOptions::default()
            },
        );
        if let Some(t) = self.transform_metadata.clone() {
            // A new informer has not started: setting its transform cannot fail.
            let _ = informer.set_transform(move |mut obj: K| {
                t(obj.meta_mut());
                obj
            });
        }
        let runner = informer.clone();
        let synced = informer.clone();
        Entry {
            informer: Box::new(informer),
            run: Box::new(move |stop| {
                let informer = runner.clone();
                async move {
                    match informer.run(stop).await {
                        // Something else (a controller) runs it already: nothing lost.
                        Ok(()) | Err(InformerError::AlreadyStarted(..)) => {}
                        Err(e) => {
                            tracing::error!(informer = informer.name(), error = %e, "informer did not run")
                        }
                    }
                }
                .boxed()
            }),
            has_synced: Box::new(move || synced.has_synced()),
            started: false,
        }
    }

    /// Runs every informer created so far that is not running yet, until `shutdown` is
    /// cancelled. Call again after creating more informers.
    pub fn start(&self, shutdown: &CancellationToken) {
        let mut informers = self.informers.lock();
        let mut tasks = self.tasks.lock();
        for entry in informers.values_mut().filter(|e| !e.started) {
            entry.started = true;
            tasks.push(tokio::spawn((entry.run)(shutdown.clone())));
        }
    }

    /// Waits until every started informer has synced, or `shutdown` is cancelled;
    /// returns each informer's name and whether it synced (for a resource with informers
    /// of several Rust types, whether all of them did).
    pub async fn wait_for_cache_sync(
        &self,
        shutdown: &CancellationToken,
    ) -> BTreeMap<String, bool> {
        let mut delay = Duration::from_millis(1);
        loop {
            let mut status: BTreeMap<String, bool> = BTreeMap::new();
            for ((name, _), e) in self.informers.lock().iter().filter(|(_, e)| e.started) {
                let synced = (e.has_synced)();
                *status.entry(name.clone()).or_insert(true) &= synced;
            }
            if status.values().all(|s| *s) || shutdown.is_cancelled() {
                return status;
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => {}
            }
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// Waits until every started informer has returned (cancel the token given to
    /// [`start`](Self::start) first).
    pub async fn shutdown(&self) {
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock());
        for task in tasks {
            if let Err(e) = task.await {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    }
}

impl<C: InformerClient> SharedInformerFactory<C> {
    /// The client's lister-watcher of `resource` in the factory's namespace: the
    /// metadata-only one when `K` is [`PartialObjectMetadata`].
    fn lister_watcher<K>(&self, resource: &ApiResource) -> Arc<dyn ListerWatcher<K>>
    where
        K: Object + DeserializeOwned + Send + Sync + 'static,
    {
        let namespace = self.namespace.as_deref();
        if TypeId::of::<K>() == TypeId::of::<PartialObjectMetadata>() {
            let metadata: Arc<dyn ListerWatcher<PartialObjectMetadata>> =
                Arc::new(self.client.metadata_lister_watcher(resource, namespace));
            let any: Box<dyn Any> = Box::new(metadata);
            if let Ok(lw) = any.downcast::<Arc<dyn ListerWatcher<K>>>() {
                return *lw;
            }
        }
        Arc::new(self.client.lister_watcher::<K>(resource, namespace))
    }
}

/// `group/version/plural`, or `version/plural` for the core group.
fn resource_name(r: &ApiResource) -> String {
    if r.group.is_empty() {
        format!("{}/{}", r.version, r.plural)
    } else {
        format!("{}/{}/{}", r.group, r.version, r.plural)
    }
}
