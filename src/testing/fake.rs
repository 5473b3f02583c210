//! [`FakeListerWatcher`]: the embedded API server's list and watch semantics in memory,
//! without HTTP, for fast unit tests of the cache layer.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, watch as signal};

use super::errors;
use super::faults::{FaultState, Faults, Verb};
use super::list;
use super::objects;
use super::query::ListOptions;
use super::resources::ResourceInfo;
use super::storage::{Storage, Stored};
use super::watch;
use crate::cache::{ListWatchError, ListerWatcher, WatchStream};
use crate::client::watch_stream::decode_watch;
use crate::client::{Error, ListParams, Result, WatchParams, DEFAULT_MAX_WATCH_EVENT_SIZE};
use crate::meta::{ApiResource, ObjectList, Status};

/// What a fake serves from: the storage, its faults and the server settings the list and
/// watch code reads. Shared by every fake made from one another (and by the HTTP server
/// when a fake is made from it).
pub(crate) struct Backend {
    /// Objects, history, watches.
    pub storage: Arc<Storage>,
    /// Request failures, delay and the restart signal.
    pub faults: Arc<FaultState>,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// How long a list at a future resourceVersion waits before `504`.
    pub too_large_wait: Duration,
}

/// Options for a [`FakeListerWatcher`] with a storage of its own; start with
/// [`FakeListerWatcher::builder`].
pub struct FakeListerWatcherBuilder<K> {
    api: ApiResource,
    history_limit: usize,
    bookmark_interval: Duration,
    too_large_wait: Duration,
    resources: Vec<ResourceInfo>,
    _object: PhantomData<fn() -> K>,
}

impl<K> std::fmt::Debug for FakeListerWatcherBuilder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeListerWatcherBuilder")
            .field("api", &self.api)
            .field("history_limit", &self.history_limit)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("too_large_wait", &self.too_large_wait)
            .field("resources", &self.resources)
            .finish()
    }
}

impl<K> FakeListerWatcherBuilder<K> {
    /// Keeps at most this many events in the history (default 10,000); older ones are
    /// compacted, after which lists at, watches from and continue tokens for them answer
    /// `410 Expired`.
    pub fn history_limit(mut self, events: usize) -> Self {
        self.history_limit = events;
        self
    }

    /// Sends watch bookmarks (to watches that allow them) at this interval (default
    /// 60 s, as a real server).
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// How long a list at a future resourceVersion waits for it before answering `504`
    /// (default 3 s, as a real server).
    pub fn too_large_resource_version_wait(mut self, wait: Duration) -> Self {
        self.too_large_wait = wait;
        self
    }

    /// Serves this resource too (for [`FakeListerWatcher::for_resource`]), as a CRD would
    /// add it; pass a [`ResourceInfo`] to choose whether it has a `status` subresource.
    pub fn resource(mut self, info: impl Into<ResourceInfo>) -> Self {
        self.resources.push(info.into());
        self
    }

    /// Makes the fake, with a new storage holding the built-in resources and namespaces
    /// (`default`, `kube-system`, `kube-public`, `kube-node-lease`). The fake's resource
    /// is registered (with a `status` subresource) unless it is built in.
    pub fn build(self) -> FakeListerWatcher<K> {
        let storage = Arc::new(Storage::new(self.history_limit));
        for info in self.resources {
            storage.register(info);
        }
        FakeListerWatcher::on_backend(
            Backend {
                storage,
                faults: Arc::new(FaultState::default()),
                bookmark_interval: self.bookmark_interval,
                too_large_wait: self.too_large_wait,
            },
            &self.api,
        )
    }
}

/// A [`ListerWatcher`] over an in-memory API server storage: the embedded
/// [`ApiServer`](super::ApiServer)'s list and watch semantics without HTTP.
///
/// Calls are served by the server's own list and watch code, and the results decoded by
/// the client's own decoders, so a test sees what [`ListWatch`](crate::cache::ListWatch)
/// would see over HTTP: selectors, every resourceVersion semantics, `limit`/`continue`
/// with `remainingItemCount`, `410 Expired` for compacted versions and continue tokens (a
/// watch from a compacted version yields one error item carrying the `410` `Status`, then
/// ends), history replay, synthetic `ADDED` events, bookmarks, `timeoutSeconds` and
/// streaming initial lists. Errors are [`Error::Api`] with the `Status` the server sends.
///
/// [`faults`](Self::faults) work as on the server, minus what needs a connection:
/// failing the next list or watch calls with a status ([`Verb::List`], [`Verb::Watch`],
/// matched against the path the HTTP request would have), a delay, dropping watches, a
/// malformed event (an [`Error::Decode`] item that ends the watch), compaction and a
/// restart (open watches end with an [`Error::Transport`] item).
///
/// A fake lists and watches one resource, in all namespaces or (with
/// [`in_namespace`](Self::in_namespace)) one. It is cheap to clone, and clones share the
/// storage: hand one to the code under test and keep one to write objects and inject
/// faults. [`for_resource`](Self::for_resource) makes a fake of another resource on the
/// same storage, and [`ApiServer::lister_watcher`](super::ApiServer::lister_watcher) one
/// on a running server's storage, so that a test can mix the fake and HTTP.
///
/// List and watch calls need a Tokio runtime (a watch runs as a task, as on the server).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::StreamExt;
/// use informer::cache::ListerWatcher;
/// use informer::client::{ListParams, WatchParams};
/// use informer::meta::{ApiResource, DynamicObject, Object, WatchEvent};
/// use informer::testing::FakeListerWatcher;
/// use serde_json::json;
///
/// let pods = ApiResource::new("", "v1", "Pod", "pods", true);
/// let fake: FakeListerWatcher<DynamicObject> = FakeListerWatcher::new(&pods);
/// fake.create(&json!({"metadata": {"name": "web", "namespace": "default"}}))?;
///
/// let list = fake.list(&ListParams::default()).await?;
/// assert_eq!(list.items.len(), 1);
/// let rv = list.metadata.resource_version.clone().unwrap_or_default();
///
/// let mut events = fake.watch(&WatchParams::default().at(rv)).await?;
/// fake.delete(Some("default"), "web")?;
/// match events.next().await {
///     Some(Ok(WatchEvent::Deleted(pod))) => assert_eq!(pod.name(), Some("web")),
///     other => panic!("expected the deletion, got {other:?}"),
/// }
/// # Ok(()) }
/// ```
///
/// # How it works
///
/// A fake is a [`ListerWatcher`] over the same storage the HTTP server uses, and it
/// serves a call with the same code the server's handlers use: the client's
/// [`ListParams`]/[`WatchParams`] are read into the server's list options, a list reads
/// one page from the storage (selectors, resourceVersion semantics, `limit`/`continue`,
/// `remainingItemCount`, `410 Expired` for compacted versions and tokens) and each stored
/// object is decoded into `K`; a watch runs the server's watch task (history replay,
/// synthetic `ADDED` events, bookmarks, `timeoutSeconds`, streaming initial lists,
/// selector transitions), whose newline-delimited JSON is decoded by the client's own
/// watch decoder. What a test sees through a fake is therefore what it would see through
/// the client's `Api` over HTTP, down to the `Status` and the kind of a
/// [`ListWatchError`] (the client's [`Error`] underneath) and the single `ERROR` event of
/// a watch from a compacted version.
///
/// How data flows: a write ([`FakeListerWatcher::create`] and friends, or the HTTP server
/// when the fake shares its storage) takes the next global resourceVersion and is stored
/// as JSON bytes once; a list decodes the bytes of the page's objects; every open watch
/// receives the event, frames the bytes as one line and the decoder turns the line into
/// a [`WatchEvent<K>`](crate::meta::WatchEvent).
///
/// [`Faults`] work as on the server, minus what needs a connection: failing the next list
/// or watch calls with a status, a delay, dropping watches, a malformed event (an item
/// over an [`Error::Decode`]), compaction and a restart (open watches end with an item
/// of kind [`Broken`](crate::cache::ListWatchErrorKind::Broken) over an
/// [`Error::Transport`]).
pub struct FakeListerWatcher<K> {
    backend: Arc<Backend>,
    api: ApiResource,
    namespace: Option<String>,
    _object: PhantomData<fn() -> K>,
}

impl<K> Clone for FakeListerWatcher<K> {
    fn clone(&self) -> Self {
        FakeListerWatcher {
            backend: self.backend.clone(),
            api: self.api.clone(),
            namespace: self.namespace.clone(),
            _object: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for FakeListerWatcher<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeListerWatcher")
            .field("api", &self.api)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// A server's answer as the client's error.
fn api_error(status: Status) -> Error {
    Error::Api(Box::new(status))
}

impl<K> FakeListerWatcher<K> {
    /// A fake of `api` with a storage of its own and the default options (see
    /// [`builder`](Self::builder)).
    pub fn new(api: &ApiResource) -> Self {
        Self::builder(api).build()
    }

    /// Options for a fake of `api` with a storage of its own.
    pub fn builder(api: &ApiResource) -> FakeListerWatcherBuilder<K> {
        FakeListerWatcherBuilder {
            api: api.clone(),
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(60),
            too_large_wait: Duration::from_secs(3),
            resources: Vec::new(),
            _object: PhantomData,
        }
    }

    /// A fake of `api` on `backend`, which is made to serve `api`.
    pub(crate) fn on_backend(backend: Backend, api: &ApiResource) -> Self {
        Self::on_shared(Arc::new(backend), api)
    }

    fn on_shared(backend: Arc<Backend>, api: &ApiResource) -> Self {
        objects::ensure_served(&backend.storage, api);
        FakeListerWatcher {
            backend,
            api: api.clone(),
            namespace: None,
            _object: PhantomData,
        }
    }

    /// Lists and watches only the objects in `namespace`, as
    /// [`Api::namespaced`](crate::client::Api::namespaced) does. Writes and reads through
    /// the fake's own methods are not affected. For a cluster-scoped resource, list and
    /// watch calls then answer `404`, as the server does for such a path.
    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// A fake of another resource on the same storage, with the same faults and settings
    /// (listing and watching all namespaces). The resource is registered (with a `status`
    /// subresource) unless the storage already serves it.
    pub fn for_resource<L>(&self, api: &ApiResource) -> FakeListerWatcher<L> {
        FakeListerWatcher::on_shared(self.backend.clone(), api)
    }

    /// The resource this fake lists and watches.
    pub fn api_resource(&self) -> &ApiResource {
        &self.api
    }

    /// The namespace list and watch calls are limited to, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Fault injection, shared by every fake (and server) on this storage.
    pub fn faults(&self) -> Faults {
        Faults::new(self.backend.storage.clone(), self.backend.faults.clone())
    }

    /// The current (global) resourceVersion of the storage.
    pub fn resource_version(&self) -> u64 {
        self.backend.storage.current_rv()
    }

    /// The number of open watches on the storage (of every resource, HTTP ones
    /// included).
    pub fn watch_count(&self) -> usize {
        self.backend.storage.watch_count()
    }

    /// Creates a namespace, so that objects can be created in it (`409 AlreadyExists` if
    /// it exists).
    pub fn create_namespace(&self, name: &str) -> Result<()> {
        let namespaces = ApiResource::new("", "v1", "Namespace", "namespaces", false);
        let body = serde_json::json!({"metadata": {"name": name}});
        objects::create(&self.backend.storage, &namespaces, body)
            .map(|_| ())
            .map_err(api_error)
    }

    /// The path an HTTP request for this fake's collection would have, which fault rules
    /// match against.
    fn collection_path(&self) -> String {
        let r = &self.api;
        let mut p = if r.group.is_empty() {
            format!("/api/{}", r.version)
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        if let Some(ns) = &self.namespace {
            p.push_str("/namespaces/");
            p.push_str(ns);
        }
        p.push('/');
        p.push_str(&r.plural);
        p
    }

    /// What the server does with every request before serving it: the injected delay,
    /// then finding the resource (`404` when not served).
    async fn route(&self) -> Result<ResourceInfo> {
        if let Some(delay) = self.backend.faults.delay() {
            tokio::time::sleep(delay).await;
        }
        let info = objects::info(&self.backend.storage, &self.api).map_err(api_error)?;
        if self.namespace.is_some() && !info.api.namespaced {
            return Err(api_error(errors::path_not_found()));
        }
        Ok(info)
    }

    /// The failure an injected fault rule gives this call, if one matches.
    fn injected(&self, verb: Verb) -> Option<Status> {
        let failure = self.backend.faults.take(verb, &self.collection_path())?;
        Some(errors::for_code(failure.code, failure.retry_after, true))
    }
}

impl<K: DeserializeOwned> FakeListerWatcher<K> {
    /// Decodes a stored object into `K`.
    fn decode(&self, obj: &Stored) -> Result<K> {
        self.decode_json(obj, &obj.json)
    }

    /// Decodes `json`, the bytes of the stored object `obj` (maybe as listed), into `K`.
    fn decode_json(&self, obj: &Stored, json: &[u8]) -> Result<K> {
        serde_json::from_slice(json).map_err(|e| {
            Error::decode(
                format!(
                    "decoding {} from the fake's storage",
                    errors::qualified(&self.api, &obj.key().encode())
                ),
                e,
            )
        })
    }

    /// Serialises an object to write.
    fn encode(obj: &impl Serialize) -> Result<serde_json::Value> {
        serde_json::to_value(obj).map_err(|e| {
            Error::InvalidRequest(format!("the object cannot be serialised as JSON: {e}"))
        })
    }

    /// Creates an object (a `K`, or any serialisable value such as `serde_json::json!`)
    /// as a `POST` would: in the namespace its metadata names (`default` if unset), with
    /// a uid, a creation timestamp, generation 1 and the next resourceVersion. Returns it
    /// as stored. Every watch sees an `ADDED` event.
    pub fn create(&self, obj: &impl Serialize) -> Result<K> {
        let written = objects::create(&self.backend.storage, &self.api, Self::encode(obj)?)
            .map_err(api_error)?;
        self.decode(&written.stored)
    }

    /// Replaces an object as a `PUT` would (a non-empty `metadata.resourceVersion` must be
    /// current, `409 Conflict` otherwise; custom resources must carry one, `422 Invalid`
    /// otherwise). Returns it as stored; every watch sees a
    /// `MODIFIED` event, unless nothing changed.
    pub fn replace(&self, obj: &impl Serialize) -> Result<K> {
        let written = objects::replace(&self.backend.storage, &self.api, Self::encode(obj)?)
            .map_err(api_error)?;
        self.decode(&written.stored)
    }

    /// Deletes an object (namespace `ns`, `default` if unset) as a `DELETE` would; returns
    /// its last state, with a `deletionTimestamp` if finalizers keep it.
    pub fn delete(&self, ns: Option<&str>, name: &str) -> Result<K> {
        let written =
            objects::delete(&self.backend.storage, &self.api, ns, name).map_err(api_error)?;
        self.decode(&written.stored)
    }

    /// One object (namespace `ns`, `default` if unset); `404` if it does not exist.
    pub fn get(&self, ns: Option<&str>, name: &str) -> Result<K> {
        let stored = objects::get(&self.backend.storage, &self.api, ns, name).map_err(api_error)?;
        self.decode(&stored)
    }

    /// Every object of the resource, in namespace `ns` or (`None`) all, in key order
    /// (namespace, then name). Unlike [`ListerWatcher::list`] this is not a call to the
    /// server: no options, no faults.
    pub fn list_objects(&self, ns: Option<&str>) -> Result<Vec<K>> {
        objects::list(&self.backend.storage, &self.api, ns)
            .map_err(api_error)?
            .iter()
            .map(|o| self.decode(o))
            .collect()
    }
}

/// The calls as the client makes them, with the client's errors.
impl<K> FakeListerWatcher<K>
where
    K: DeserializeOwned + Send + 'static,
{
    async fn list_call(&self, params: &ListParams) -> Result<ObjectList<K>> {
        let info = self.route().await?;
        let opts = ListOptions::from_list_params(params).map_err(api_error)?;
        if let Some(status) = self.injected(Verb::List) {
            return Err(api_error(status));
        }
        let ns = self.namespace.as_deref();
        let backend = &self.backend;
        let page = list::read(&backend.storage, &info, ns, &opts, backend.too_large_wait)
            .await
            .map_err(api_error)?;
        // The items as the server lists them: the built-in types without their type.
        let untyped = info.builtin_group();
        let mut buf = Vec::new();
        let items = page
            .items
            .iter()
            .map(|o| {
                buf.clear();
                o.write_list_item(untyped, &mut buf);
                self.decode_json(o, &buf)
            })
            .collect::<Result<Vec<K>>>()?;
        Ok(ObjectList {
            api_version: Some(info.api.api_version()),
            kind: Some(list::list_kind(&info)),
            metadata: list::list_meta(&page),
            items,
        })
    }

    async fn watch_call(&self, params: &WatchParams) -> Result<WatchStream<K>> {
        let info = self.route().await?;
        let opts = ListOptions::from_watch_params(params).map_err(api_error)?;
        let restarts = self.backend.faults.restarts();
        let body = match self.injected(Verb::Watch) {
            // As on the wire: a watch that fails with 410 is one `ERROR` event.
            Some(status) if status.code == 410 => watch::error_body(status),
            Some(status) => return Err(api_error(status)),
            None => watch::open(
                &self.backend.storage,
                &info,
                self.namespace.as_deref(),
                &opts,
                self.backend.bookmark_interval,
            )
            .map_err(api_error)?,
        };
        let context = format!("{} (fake)", self.collection_path());
        Ok(decode_body(body, restarts, context))
    }
}

/// Lists and watches as the client's `Api` does, with the same error kinds.
impl<K> ListerWatcher<K> for FakeListerWatcher<K>
where
    K: DeserializeOwned + Send + 'static,
{
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> BoxFuture<'a, std::result::Result<ObjectList<K>, ListWatchError>> {
        async move { Ok(self.list_call(params).await?) }.boxed()
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> BoxFuture<'a, std::result::Result<WatchStream<K>, ListWatchError>> {
        async move { Ok(self.watch_call(params).await?) }.boxed()
    }
}

/// Decodes a watch body with the client's decoder. A simulated restart cuts the body as a
/// broken connection would: the stream ends with a transport error.
fn decode_body<K>(
    body: mpsc::Receiver<watch::Lines>,
    restarts: signal::Receiver<u64>,
    context: String,
) -> WatchStream<K>
where
    K: DeserializeOwned + Send + 'static,
{
    let start = Some((body, restarts, Vec::new().into_iter()));
    let chunks = futures::stream::unfold(start, |state| async move {
        let (mut body, mut restarts, mut pending) = state?;
        loop {
            if let Some(line) = pending.next() {
                return Some((Ok(line), Some((body, restarts, pending))));
            }
            tokio::select! {
                biased;
                Ok(()) = restarts.changed() => {
                    let cut = std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "the API server restarted",
                    );
                    return Some((Err(cut), None));
                }
                batch = body.recv() => pending = batch?.into_iter(),
            }
        }
    });
    decode_watch(Box::pin(chunks), DEFAULT_MAX_WATCH_EVENT_SIZE, context)
        .map(|e| e.map_err(ListWatchError::from))
        .boxed()
}
