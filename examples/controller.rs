//! A small controller built the way client-go controllers are, on the embedded API server.
//!
//! For every Deployment it keeps a ConfigMap `<deployment>-replicasets` whose data lists
//! the ReplicaSets the Deployment controls (name → `spec.replicas`), with an
//! ownerReference back to the Deployment. It deletes the ConfigMap when the Deployment
//! goes, and restores it when someone edits or deletes it by hand.
//!
//! The structure is client-go's (compare `k8s.io/sample-controller`):
//!
//! ```text
//! informers (Deployments, ReplicaSets, ConfigMaps; one SharedInformerFactory)
//!   → event handlers: only turn events into Deployment keys (`namespace/name`)
//!   → work queue: deduplicates keys, never hands one key to two workers at once
//!   → workers: pop a key, run `sync_handler(key)`, requeue failures with a backoff
//!   → sync_handler: reads only from listers and an index (never the API),
//!     computes the desired ConfigMap and creates, updates or deletes it through `Api`
//! ```
//!
//! A ReplicaSet or ConfigMap event maps to the key of the Deployment that controls the
//! object (its ownerReference with `controller: true`); deletions handle the tombstone
//! that an informer hands over when it missed a deletion. ReplicaSets are indexed by
//! their controller's uid, so the sync finds a Deployment's ReplicaSets without a scan.
//! There is no work queue in this crate yet, so a small one below stands in for
//! client-go's `workqueue`.
//!
//! `main` starts the embedded server with two namespaces, three Deployments and their
//! ReplicaSets, runs the controller, then scripts a few changes (a rollout, a ConfigMap
//! deleted by hand while the server fails a request, a deleted Deployment, a deletion the
//! informer misses during a watch outage) and after each waits until the ConfigMaps on
//! the server are what they should be and the controller is idle. It takes a few
//! seconds and exits with 0 when every step converged, 1 otherwise:
//!
//! ```sh
//! cargo run --example controller
//! ```

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer::cache::{
    deletion_handling_meta_namespace_key, meta_namespace_key, split_meta_namespace_key,
    DeletedObject, FilteringResourceEventHandler, Indexer, Indexers, Lister, ObjectOrTombstone,
    ResourceEventHandlerFuncs, SharedInformerFactory,
};
use informer::client::{Api, Config, DeleteParams, ListParams, PostParams, RateLimit, RestClient};
use informer::meta::{ApiResource, DynamicObject, Object, ObjectMeta, OwnerReference, Resource};
use informer::testing::{ApiServer, Failure, Verb};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Workers processing keys in parallel.
const WORKERS: usize = 2;
/// Retries of one key before it is dropped (until its next event).
const MAX_RETRIES: u32 = 5;
/// The ReplicaSet index: the uid of the controlling Deployment.
const CONTROLLER_UID_INDEX: &str = "controllerUID";
/// Suffix of the name of the ConfigMap kept for each Deployment.
const SUFFIX: &str = "-replicasets";
/// Name this controller writes under (`metadata.managedFields`).
const FIELD_MANAGER: &str = "replicaset-inventory";
/// How long each step of the script may take to converge.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(10);

type BoxError = Box<dyn Error + Send + Sync>;

// ---------------------------------------------------------------------------------------
// Resources and the typed ConfigMap
// ---------------------------------------------------------------------------------------

fn namespaces() -> ApiResource {
    ApiResource::new("", "v1", "Namespace", "namespaces", false)
}

fn deployments() -> ApiResource {
    ApiResource::new("apps", "v1", "Deployment", "deployments", true)
}

fn replicasets() -> ApiResource {
    ApiResource::new("apps", "v1", "ReplicaSet", "replicasets", true)
}

/// A ConfigMap, typed: its informer decodes each one once into this struct.
/// (Deployments and ReplicaSets stay `DynamicObject`s: only their metadata and
/// `spec.replicas` are read.)
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    data: BTreeMap<String, String>,
}

impl Object for ConfigMap {
    type Meta = ObjectMeta;
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Resource for ConfigMap {
    fn api_resource() -> ApiResource {
        ApiResource::new("", "v1", "ConfigMap", "configmaps", true)
    }
}

/// The Deployment that controls `obj` (client-go's `metav1.GetControllerOf`, narrowed to
/// Deployments).
fn controlling_deployment<K: Object>(obj: &K) -> Option<OwnerReference> {
    obj.owner_references().into_iter().find(|r| {
        r.controller == Some(true)
            && r.kind == "Deployment"
            && r.api_version.split('/').next() == Some("apps")
    })
}

/// The key (`namespace/name`) of the Deployment that controls `obj`.
fn owner_key<K: Object>(obj: &K) -> Option<String> {
    let owner = controlling_deployment(obj)?;
    Some(format!("{}/{}", obj.namespace()?, owner.name))
}

/// `name=replicas` pairs, for printing.
fn summary(data: &BTreeMap<String, String>) -> String {
    if data.is_empty() {
        return "(no ReplicaSets)".to_owned();
    }
    let pairs: Vec<String> = data.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(" ")
}

// ---------------------------------------------------------------------------------------
// The work queue
// ---------------------------------------------------------------------------------------

/// Stands in for client-go's rate-limited `workqueue` (a later issue of this crate), with
/// the guarantees a controller relies on:
/// - a key added several times before a worker takes it is processed once;
/// - a key is never processed by two workers at once: added again while a worker holds
///   it, it is queued when that worker calls [`done`](Self::done);
/// - [`add_rate_limited`](Self::add_rate_limited) adds a key back after a per-key
///   exponential delay (5 ms, 10 ms, 20 ms, ...), counted by
///   [`num_requeues`](Self::num_requeues) and reset by [`forget`](Self::forget).
struct WorkQueue {
    state: Mutex<QueueState>,
    notify: Notify,
    shutdown: CancellationToken,
}

#[derive(Default)]
struct QueueState {
    /// Keys waiting for a worker, in order.
    queue: VecDeque<String>,
    /// Keys that need processing: the queued ones and those re-added while processed.
    dirty: HashSet<String>,
    /// Keys a worker holds.
    processing: HashSet<String>,
    /// Failures per key since it last succeeded.
    requeues: HashMap<String, u32>,
}

impl WorkQueue {
    fn new() -> Arc<WorkQueue> {
        Arc::new(WorkQueue {
            state: Mutex::new(QueueState::default()),
            notify: Notify::new(),
            shutdown: CancellationToken::new(),
        })
    }

    fn add(&self, key: String) {
        if self.shutdown.is_cancelled() {
            return;
        }
        let mut s = self.state.lock();
        if s.processing.contains(&key) {
            s.dirty.insert(key);
            return;
        }
        if s.dirty.insert(key.clone()) {
            s.queue.push_back(key);
            drop(s);
            self.notify.notify_one();
        }
    }

    /// The next key, once there is one; `None` after [`shut_down`](Self::shut_down).
    async fn get(&self) -> Option<String> {
        loop {
            // Register for a wake-up before looking, so that no `add` in between is lost.
            let mut notified = std::pin::pin!(self.notify.notified());
            notified.as_mut().enable();
            if self.shutdown.is_cancelled() {
                return None;
            }
            {
                let mut s = self.state.lock();
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    return Some(key);
                }
            }
            tokio::select! {
                () = notified => {}
                () = self.shutdown.cancelled() => return None,
            }
        }
    }

    /// Marks `key` processed; queues it again if it was added meanwhile.
    fn done(&self, key: &str) {
        let mut s = self.state.lock();
        s.processing.remove(key);
        if s.dirty.contains(key) && !self.shutdown.is_cancelled() {
            s.queue.push_back(key.to_owned());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Adds `key` after its backoff: 5 ms doubled at every failure (client-go's
    /// `ItemExponentialFailureRateLimiter` defaults, capped here at 10 s).
    fn add_rate_limited(self: &Arc<Self>, key: String) {
        let failures = {
            let mut s = self.state.lock();
            let n = s.requeues.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        let delay = Duration::from_millis(5)
            .saturating_mul(1 << (failures - 1).min(20))
            .min(Duration::from_secs(10));
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => queue.add(key),
                () = queue.shutdown.cancelled() => {}
            }
        });
    }

    /// Whether no key is queued or being processed.
    fn is_idle(&self) -> bool {
        let s = self.state.lock();
        s.queue.is_empty() && s.processing.is_empty()
    }

    fn num_requeues(&self, key: &str) -> u32 {
        self.state.lock().requeues.get(key).copied().unwrap_or(0)
    }

    fn forget(&self, key: &str) {
        self.state.lock().requeues.remove(key);
    }

    /// Stops handing out keys; workers return once they finish the key they hold.
    fn shut_down(&self) {
        self.shutdown.cancel();
    }
}

// ---------------------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------------------

struct Controller {
    client: RestClient,
    deployments: Lister<DynamicObject>,
    replicasets: Indexer<DynamicObject>,
    configmaps: Lister<ConfigMap>,
    /// Whether each event handler has seen its informer's initial list.
    handlers_synced: Vec<Box<dyn Fn() -> bool + Send + Sync>>,
    queue: Arc<WorkQueue>,
}

impl Controller {
    /// Gets the three informers from `factory`, adds the ReplicaSet index and registers
    /// the event handlers. Start the factory afterwards, then [`run`](Self::run).
    fn new(factory: &SharedInformerFactory, client: RestClient) -> Result<Arc<Self>, BoxError> {
        let queue = WorkQueue::new();
        let deployment_informer = factory.dynamic_informer(&deployments());
        let replicaset_informer = factory.dynamic_informer(&replicasets());
        let configmap_informer = factory.informer::<ConfigMap>();

        replicaset_informer.add_indexers(Indexers::new().with(
            CONTROLLER_UID_INDEX,
            |rs: &DynamicObject| {
                controlling_deployment(rs)
                    .map(|r| r.uid)
                    .into_iter()
                    .collect()
            },
        ))?;

        // Deployments: the key of the Deployment itself.
        let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
        let deployment_handler = ResourceEventHandlerFuncs::new()
            .add_func(move |d: Arc<DynamicObject>, _| enqueue(&q1, meta_namespace_key(&*d)))
            .update_func(move |_, d| enqueue(&q2, meta_namespace_key(&*d)))
            .delete_func(move |deleted| {
                // A tombstone carries the key of the object whose deletion was missed.
                let key = match &deleted {
                    DeletedObject::Object(d) => {
                        deletion_handling_meta_namespace_key(ObjectOrTombstone::Object(&**d))
                    }
                    DeletedObject::Unknown(t) => {
                        deletion_handling_meta_namespace_key(ObjectOrTombstone::Tombstone(t))
                    }
                };
                enqueue(&q3, key);
            });

        // ReplicaSets: the key of the controlling Deployment, old and new when it changed.
        let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
        let replicaset_handler = ResourceEventHandlerFuncs::new()
            .add_func(move |rs: Arc<DynamicObject>, _| enqueue_owner(&q1, &*rs))
            .update_func(move |old, new| {
                if old.resource_version() == new.resource_version() {
                    return; // a resync: nothing changed
                }
                if owner_key(&*old) != owner_key(&*new) {
                    enqueue_owner(&q2, &*old);
                }
                enqueue_owner(&q2, &*new);
            })
            .delete_func(move |deleted| match deleted {
                DeletedObject::Object(rs) => enqueue_owner(&q3, &*rs),
                DeletedObject::Unknown(tombstone) => {
                    // The deletion was missed (a watch outage); the relist noticed it. The
                    // tombstone holds the last state the cache knew, owner included.
                    println!(
                        "  informer: missed the deletion of ReplicaSet {}; got a tombstone",
                        tombstone.key
                    );
                    enqueue_owner(&q3, &*tombstone.obj);
                }
            });

        // ConfigMaps: only those a Deployment controls, mapped to that Deployment, so that
        // a ConfigMap changed or deleted by someone else is put right.
        let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
        let configmap_handler = FilteringResourceEventHandler::new(
            |cm: &ConfigMap| controlling_deployment(cm).is_some(),
            ResourceEventHandlerFuncs::new()
                .add_func(move |cm: Arc<ConfigMap>, _| enqueue_owner(&q1, &*cm))
                .update_func(move |_, cm| enqueue_owner(&q2, &*cm))
                .delete_func(move |deleted| enqueue_owner(&q3, &**deleted.object())),
        );

        let d = deployment_informer.add_event_handler(deployment_handler)?;
        let r = replicaset_informer.add_event_handler(replicaset_handler)?;
        let c = configmap_informer.add_event_handler(configmap_handler)?;
        Ok(Arc::new(Controller {
            client,
            deployments: deployment_informer.lister()?,
            replicasets: replicaset_informer.get_indexer(),
            configmaps: configmap_informer.lister()?,
            handlers_synced: vec![
                Box::new(move || d.has_synced()),
                Box::new(move || r.has_synced()),
                Box::new(move || c.has_synced()),
            ],
            queue,
        }))
    }

    /// Waits for the caches, runs `workers` workers until `shutdown`, then stops them.
    async fn run(self: Arc<Self>, workers: usize, shutdown: CancellationToken) {
        if !self.wait_for_cache_sync(&shutdown).await {
            self.queue.shut_down();
            return;
        }
        println!("controller: caches synced, starting {workers} workers");
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let controller = self.clone();
                tokio::spawn(async move { controller.run_worker().await })
            })
            .collect();
        shutdown.cancelled().await;
        self.queue.shut_down();
        for task in tasks {
            if let Err(e) = task.await {
                eprintln!("controller: a worker failed: {e}");
            }
        }
    }

    /// Waits until every handler has seen its informer's initial list (client-go's
    /// `cache.WaitForCacheSync`), so that no sync acts on a half-filled cache.
    async fn wait_for_cache_sync(&self, shutdown: &CancellationToken) -> bool {
        while !self.handlers_synced.iter().all(|synced| synced()) {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
                () = shutdown.cancelled() => return false,
            }
        }
        true
    }

    async fn run_worker(&self) {
        while self.process_next_work_item().await {}
    }

    /// Takes one key and syncs it; a failure is retried with a backoff, up to
    /// [`MAX_RETRIES`] times. Returns false once the queue is shut down.
    async fn process_next_work_item(&self) -> bool {
        let Some(key) = self.queue.get().await else {
            return false;
        };
        match self.sync_handler(&key).await {
            Ok(()) => self.queue.forget(&key),
            Err(e) if self.queue.num_requeues(&key) < MAX_RETRIES => {
                if e.downcast_ref::<informer::client::Error>()
                    .is_some_and(|e| e.is_conflict())
                {
                    // A write with the resourceVersion of a cache that was behind.
                    println!("  controller: {key}: the cache was behind (409 Conflict); requeued");
                } else {
                    println!("  controller: syncing {key} failed ({e}); requeued");
                }
                self.queue.add_rate_limited(key.clone());
            }
            Err(e) => {
                eprintln!("  controller: dropping {key} after {MAX_RETRIES} retries: {e}");
                self.queue.forget(&key);
            }
        }
        self.queue.done(&key);
        true
    }

    /// Brings the ConfigMap of the Deployment `key` in line with the caches. Reads only
    /// from the listers and the ReplicaSet index; writes through the API.
    async fn sync_handler(&self, key: &str) -> Result<(), BoxError> {
        let (namespace, name) = match split_meta_namespace_key(key) {
            Ok((Some(namespace), name)) => (namespace, name),
            _ => {
                // Retrying cannot help a malformed key.
                eprintln!("  controller: invalid key {key:?}; dropped");
                return Ok(());
            }
        };
        let cm_name = format!("{name}{SUFFIX}");
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let existing = self.configmaps.namespace(namespace).get(&cm_name);
        let deployment = self
            .deployments
            .namespace(namespace)
            .get(name)
            .filter(|d| d.deletion_timestamp().is_none());

        let Some(deployment) = deployment else {
            // The Deployment is gone: delete the ConfigMap it controlled. (On a real
            // cluster the garbage collector would too, through the ownerReference; the
            // embedded server has none.)
            let Some(cm) = existing
                .filter(|cm| controlling_deployment(&**cm).is_some_and(|owner| owner.name == name))
            else {
                return Ok(());
            };
            let mut params = DeleteParams::default();
            if let Some(uid) = cm.uid() {
                params = params.if_uid(uid);
            }
            match api.delete(&cm_name, &params).await {
                Ok(_) => println!("  controller: deleted {namespace}/{cm_name}"),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
            return Ok(());
        };

        let uid = deployment.uid().ok_or("the Deployment has no uid")?;
        let desired: BTreeMap<String, String> = self
            .replicasets
            .by_index(CONTROLLER_UID_INDEX, uid)?
            .iter()
            .filter_map(|rs| {
                // Absent means 1, the API's default.
                let replicas = rs.data["spec"]["replicas"].as_i64().unwrap_or(1);
                Some((rs.name()?.to_owned(), replicas.to_string()))
            })
            .collect();

        match existing {
            None => {
                let cm = ConfigMap {
                    api_version: Some("v1".to_owned()),
                    kind: Some("ConfigMap".to_owned()),
                    metadata: ObjectMeta {
                        name: Some(cm_name.clone()),
                        namespace: Some(namespace.to_owned()),
                        owner_references: Some(vec![OwnerReference {
                            api_version: "apps/v1".to_owned(),
                            kind: "Deployment".to_owned(),
                            name: name.to_owned(),
                            uid: uid.to_owned(),
                            controller: Some(true),
                            block_owner_deletion: Some(true),
                        }]),
                        ..ObjectMeta::default()
                    },
                    data: desired,
                };
                // `AlreadyExists` means the cache is behind: the error requeues the key.
                api.create(&post_params(), &cm).await?;
                println!(
                    "  controller: created {namespace}/{cm_name}: {}",
                    summary(&cm.data)
                );
            }
            Some(cm) if controlling_deployment(&*cm).map(|o| o.uid).as_deref() != Some(uid) => {
                // Someone else's ConfigMap (or a previous Deployment's of the same name):
                // never take it over. (client-go's sample controller also records an
                // event and returns an error.)
                eprintln!(
                    "  controller: {namespace}/{cm_name} is not controlled by Deployment {key}; \
                     left alone"
                );
            }
            Some(cm) if cm.data == desired => {} // up to date
            Some(cm) => {
                // Objects from a lister are shared with the cache (`Arc`): change a copy
                // (client-go's `DeepCopy`).
                let mut updated = (*cm).clone();
                updated.data = desired;
                // Sent with the cached resourceVersion: if the ConfigMap changed since,
                // the server answers 409 Conflict and the key is retried on a newer cache.
                api.replace(&cm_name, &post_params(), &updated).await?;
                println!(
                    "  controller: updated {namespace}/{cm_name}: {}",
                    summary(&updated.data)
                );
            }
        }
        Ok(())
    }
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    }
}

fn enqueue(queue: &WorkQueue, key: Result<String, informer::cache::KeyError>) {
    match key {
        Ok(key) => queue.add(key),
        Err(e) => eprintln!("  controller: no key: {e}"),
    }
}

fn enqueue_owner<K: Object>(queue: &WorkQueue, obj: &K) {
    if let Some(key) = owner_key(obj) {
        queue.add(key);
    }
}

// ---------------------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------------------

fn deployment(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
        },
    })
}

/// A ReplicaSet, controlled by the Deployment `owner` (name, uid) if given.
fn replicaset(namespace: &str, name: &str, owner: Option<(&str, &str)>, replicas: i64) -> Value {
    let app = owner.map_or(name, |(deployment, _)| deployment);
    let mut rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}}},
    });
    if let Some((deployment, uid)) = owner {
        rs["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment,
            "uid": uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }]);
    }
    rs
}

/// The ConfigMaps the server should end up with: `namespace/name` → data.
type Want = BTreeMap<String, BTreeMap<String, String>>;

fn want_entry(want: &mut Want, key: &str, replicasets: &[(&str, i64)]) {
    let data = replicasets
        .iter()
        .map(|(name, replicas)| ((*name).to_owned(), replicas.to_string()))
        .collect();
    want.insert(key.to_owned(), data);
}

/// The ConfigMaps on the server, as [`Want`].
fn have(server: &ApiServer) -> Result<Want, BoxError> {
    let mut have = Want::new();
    for value in server.list(&ConfigMap::api_resource(), None)? {
        let cm: ConfigMap = serde_json::from_value(value)?;
        have.insert(meta_namespace_key(&cm)?, cm.data);
    }
    Ok(have)
}

/// Waits until the server holds exactly the ConfigMaps `want` and the controller has
/// nothing left to do.
async fn converge(
    server: &ApiServer,
    controller: &Controller,
    step: &str,
    want: &Want,
) -> Result<(), BoxError> {
    let started = Instant::now();
    loop {
        let have = have(server)?;
        if &have == want && controller.queue.is_idle() {
            println!("  converged in {} ms", started.elapsed().as_millis());
            return Ok(());
        }
        if started.elapsed() > CONVERGE_TIMEOUT {
            return Err(format!(
                "{step}: no convergence within {CONVERGE_TIMEOUT:?}\n  want {want:?}\n  have {have:?}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Creates a Deployment and returns its uid.
fn create_deployment(server: &ApiServer, namespace: &str, name: &str) -> Result<String, BoxError> {
    let created = server.create(&deployments(), deployment(namespace, name))?;
    let uid = created["metadata"]["uid"].as_str().ok_or("no uid")?;
    Ok(uid.to_owned())
}

/// Plays the changes and checks after each that the controller converged.
async fn script(server: &ApiServer, controller: &Controller) -> Result<(), BoxError> {
    let rs = replicasets();
    let mut want = Want::new();

    println!("== initial state: Deployments shop/web, shop/api, blog/web and their ReplicaSets");
    want_entry(
        &mut want,
        "shop/web-replicasets",
        &[("web-6f7d8c9b5", 0), ("web-7b9c5d4f8", 3)],
    );
    want_entry(&mut want, "shop/api-replicasets", &[("api-5c8d7f6b9", 2)]);
    want_entry(&mut want, "blog/web-replicasets", &[("web-9d4b6c7f5", 1)]);
    converge(server, controller, "initial state", &want).await?;

    let uid = server.get(&deployments(), Some("shop"), "web")?["metadata"]["uid"]
        .as_str()
        .ok_or("no uid")?
        .to_owned();
    println!("== roll out shop/web: a new ReplicaSet, the current one scaled down");
    server.create(
        &rs,
        replicaset("shop", "web-8c5f9d6b7", Some(("web", &uid)), 1),
    )?;
    let mut current = server.get(&rs, Some("shop"), "web-7b9c5d4f8")?;
    current["spec"]["replicas"] = json!(2);
    server.replace(&rs, current)?;
    want_entry(
        &mut want,
        "shop/web-replicasets",
        &[
            ("web-6f7d8c9b5", 0),
            ("web-7b9c5d4f8", 2),
            ("web-8c5f9d6b7", 1),
        ],
    );
    converge(server, controller, "rollout", &want).await?;

    println!("== someone deletes shop/api-replicasets; the server fails the next create (500)");
    let faults = server.faults();
    faults.fail_next(1, Some(Verb::Create), "/configmaps", Failure::status(500));
    server.delete(&ConfigMap::api_resource(), Some("shop"), "api-replicasets")?;
    converge(server, controller, "ConfigMap deleted by hand", &want).await?;

    // Its ReplicaSet stays: deleting it is the garbage collector's job.
    println!("== delete Deployment blog/web");
    server.delete(&deployments(), Some("blog"), "web")?;
    want.remove("blog/web-replicasets");
    converge(server, controller, "Deployment deleted", &want).await?;

    println!("== every watch breaks; shop/web-6f7d8c9b5 is deleted meanwhile");
    // The ReplicaSet informer's next watch fails with 410 Gone, so it backs off and
    // relists, and the relist finds the ReplicaSet gone: the deletion it never saw
    // arrives as a tombstone.
    faults.fail_next(1, Some(Verb::Watch), "/replicasets", Failure::status(410));
    faults.drop_watches();
    server.delete(&rs, Some("shop"), "web-6f7d8c9b5")?;
    want_entry(
        &mut want,
        "shop/web-replicasets",
        &[("web-7b9c5d4f8", 2), ("web-8c5f9d6b7", 1)],
    );
    converge(server, controller, "missed deletion", &want).await?;
    Ok(())
}

/// Namespaces, Deployments and ReplicaSets (and one ReplicaSet no Deployment controls).
fn seed(server: &ApiServer) -> Result<(), BoxError> {
    for namespace in ["shop", "blog"] {
        server.create(&namespaces(), json!({"metadata": {"name": namespace}}))?;
    }
    let rs = replicasets();
    let shop_web = create_deployment(server, "shop", "web")?;
    let shop_api = create_deployment(server, "shop", "api")?;
    let blog_web = create_deployment(server, "blog", "web")?;
    let owned = [
        ("shop", "web-6f7d8c9b5", ("web", &shop_web), 0),
        ("shop", "web-7b9c5d4f8", ("web", &shop_web), 3),
        ("shop", "api-5c8d7f6b9", ("api", &shop_api), 2),
        ("blog", "web-9d4b6c7f5", ("web", &blog_web), 1),
    ];
    for (namespace, name, (deployment, uid), replicas) in owned {
        server.create(
            &rs,
            replicaset(namespace, name, Some((deployment, uid)), replicas),
        )?;
    }
    server.create(&rs, replicaset("shop", "cron-4f5b6c7d8", None, 1))?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let server = ApiServer::start().await?;
    seed(&server)?;
    println!("embedded API server at {}", server.url());

    let mut config = Config::from_kubeconfig_file(server.kubeconfig())?;
    // client-go's default client-side limit (5 requests/s, bursts of 10) suits kubectl
    // more than a controller; controllers raise it (kube-controller-manager: 20/30).
    config.rate_limit = Some(RateLimit {
        qps: 50.0,
        burst: 100,
    });
    let client = RestClient::new(config)?;
    let factory = SharedInformerFactory::new(client.clone());
    let controller = Controller::new(&factory, client.clone())?;
    let stop = CancellationToken::new();
    factory.start(&stop);
    let controller_task = tokio::spawn(controller.clone().run(WORKERS, stop.clone()));

    let result = script(&server, &controller).await;

    stop.cancel();
    controller_task.await?;
    factory.shutdown().await;

    println!("== ConfigMaps on the server");
    let configmaps: Api<ConfigMap> = Api::all(client);
    for cm in configmaps.list(&ListParams::default()).await?.items {
        let owner = controlling_deployment(&cm).map_or("-".to_owned(), |o| o.name);
        println!(
            "  {} (Deployment {owner}): {}",
            meta_namespace_key(&cm)?,
            summary(&cm.data)
        );
    }
    server.shutdown().await;
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    Ok(())
}
