//! Shared parts of the informer integration tests: a bounded runtime, a client for the
//! embedded server, a handler that records what it hears, and polling helpers.

#![allow(dead_code)]

pub mod http;
pub mod raw;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer::cache::{
    BackoffPolicy, DeletedObject, InformerOptions, ReflectorOptions, ResourceEventHandler,
    SharedIndexInformer,
};
use informer::client::{Config, RestClient, RetryPolicy};
use informer::meta::{ApiResource, DynamicObject, Object};
use informer::testing::ApiServer;
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Every test must finish within this.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `f` on a two-thread runtime, failing the test if it takes longer than
/// [`TEST_TIMEOUT`].
pub fn bounded<F: Future<Output = ()>>(f: F) {
    bounded_for(TEST_TIMEOUT, f)
}

/// Runs `f` on a two-thread runtime, failing the test if it takes longer than `limit`.
pub fn bounded_for<F: Future<Output = ()>>(limit: Duration, f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(limit, f)
            .await
            .expect("test timed out");
    });
}

/// ConfigMaps: a namespaced built-in resource.
pub fn configmaps() -> ApiResource {
    ApiResource::new("", "v1", "ConfigMap", "configmaps", true)
}

/// A client for `server` without rate limit or retries, so that every injected failure
/// reaches the reflector.
pub fn client(server: &ApiServer) -> RestClient {
    let mut config = Config::from_kubeconfig_file(server.kubeconfig()).expect("kubeconfig");
    config.rate_limit = None;
    config.retry = RetryPolicy::none();
    RestClient::new(config).expect("client")
}

/// Reflector options with short waits, for tests.
pub fn fast_reflector(name: &str) -> ReflectorOptions {
    ReflectorOptions {
        name: name.to_owned(),
        backoff: BackoffPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            jitter: 0.5,
            reset_after: Duration::from_secs(5),
        },
        ..ReflectorOptions::default()
    }
}

/// Informer options with [`fast_reflector`].
pub fn fast_options<K>(name: &str) -> InformerOptions<K> {
    InformerOptions {
        reflector: fast_reflector(name),
        ..InformerOptions::default()
    }
}

/// A ConfigMap as JSON.
pub fn cm(ns: &str, name: &str, value: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": value}},
        "data": {"v": value},
    })
}

/// Creates a ConfigMap on the server; returns its resourceVersion.
pub fn create(server: &ApiServer, ns: &str, name: &str, value: &str) -> String {
    let v = server
        .create(&configmaps(), cm(ns, name, value))
        .expect("create");
    rv_of(&v)
}

/// Changes a ConfigMap's data on the server; returns its new resourceVersion.
pub fn update(server: &ApiServer, ns: &str, name: &str, value: &str) -> String {
    let v = server
        .replace(&configmaps(), cm(ns, name, value))
        .expect("replace");
    rv_of(&v)
}

/// Deletes a ConfigMap on the server.
pub fn delete(server: &ApiServer, ns: &str, name: &str) {
    server
        .delete(&configmaps(), Some(ns), name)
        .expect("delete");
}

pub fn rv_of(v: &Value) -> String {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The server's ConfigMaps as key → resourceVersion.
pub fn server_state(server: &ApiServer) -> BTreeMap<String, String> {
    server
        .list(&configmaps(), None)
        .expect("list")
        .iter()
        .map(|v| {
            let ns = v.pointer("/metadata/namespace").and_then(Value::as_str);
            let name = v.pointer("/metadata/name").and_then(Value::as_str);
            (
                format!("{}/{}", ns.unwrap_or(""), name.unwrap_or("")),
                rv_of(v),
            )
        })
        .collect()
}

/// Key → resourceVersion of cached objects.
pub fn cache_state<K: Object>(
    objects: impl IntoIterator<Item = Arc<K>>,
) -> BTreeMap<String, String> {
    objects
        .into_iter()
        .map(|o| (key(&*o), o.resource_version().unwrap_or("").to_owned()))
        .collect()
}

pub fn key<K: Object>(o: &K) -> String {
    format!("{}/{}", o.namespace().unwrap_or(""), o.name().unwrap_or(""))
}

/// Waits until the informer's cache and the state `rec` rebuilt from its events both equal
/// the server's ConfigMaps, then checks that no event contradicted the handler's view.
pub async fn converged<K: Object + Send + Sync + 'static>(
    server: &ApiServer,
    informer: &SharedIndexInformer<K>,
    rec: &Recorder,
) {
    let want = server_state(server);
    wait_until("the cache and the handler equal the server", || {
        cache_state(informer.get_indexer().list()) == want && rec.state() == want
    })
    .await;
    assert_eq!(rec.anomalies(), Vec::<String>::new());
}

/// Polls `cond` every few milliseconds until it holds; panics with `what` after 20 s.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a [`Recorder`] heard, one line per event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    Add {
        key: String,
        rv: String,
        initial: bool,
    },
    Update {
        key: String,
        old: String,
        new: String,
    },
    Delete {
        key: String,
        rv: String,
        tombstone: bool,
    },
}

impl Heard {
    pub fn key(&self) -> &str {
        match self {
            Heard::Add { key, .. } | Heard::Update { key, .. } | Heard::Delete { key, .. } => key,
        }
    }
}

/// A handler that records every event and rebuilds the state from them.
#[derive(Clone, Default)]
pub struct Recorder {
    heard: Arc<Mutex<Vec<Heard>>>,
    state: Arc<Mutex<BTreeMap<String, String>>>,
    /// Keys whose add came while the recorder already held them, and the like.
    anomalies: Arc<Mutex<Vec<String>>>,
    delay: Option<Duration>,
}

impl Recorder {
    /// A recorder that sleeps `delay` in every call (a slow handler).
    pub fn slow(delay: Duration) -> Self {
        Recorder {
            delay: Some(delay),
            ..Recorder::default()
        }
    }

    pub fn heard(&self) -> Vec<Heard> {
        self.heard.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.heard.lock().len()
    }

    pub fn take(&self) -> Vec<Heard> {
        std::mem::take(&mut *self.heard.lock())
    }

    /// The state rebuilt from the events: key → resourceVersion.
    pub fn state(&self) -> BTreeMap<String, String> {
        self.state.lock().clone()
    }

    /// Events that contradict the rebuilt state (an add of a key already present, an
    /// update or delete of an absent one, an update whose old state is not the last).
    pub fn anomalies(&self) -> Vec<String> {
        self.anomalies.lock().clone()
    }

    fn pause(&self) {
        if let Some(d) = self.delay {
            std::thread::sleep(d);
        }
    }
}

fn rv<K: Object>(o: &K) -> String {
    o.resource_version().unwrap_or("").to_owned()
}

impl<K: Object + Send + Sync + 'static> ResourceEventHandler<K> for Recorder {
    fn on_add(&self, obj: Arc<K>, initial: bool) {
        self.pause();
        let (k, v) = (key(&*obj), rv(&*obj));
        if let Some(prev) = self.state.lock().insert(k.clone(), v.clone()) {
            self.anomalies
                .lock()
                .push(format!("add of {k}@{v} while holding @{prev}"));
        }
        self.heard.lock().push(Heard::Add {
            key: k,
            rv: v,
            initial,
        });
    }

    fn on_update(&self, old: Arc<K>, new: Arc<K>) {
        self.pause();
        let (k, o, n) = (key(&*new), rv(&*old), rv(&*new));
        let prev = self.state.lock().insert(k.clone(), n.clone());
        if prev.as_deref() != Some(o.as_str()) {
            self.anomalies
                .lock()
                .push(format!("update of {k} from @{o} while holding {prev:?}"));
        }
        self.heard.lock().push(Heard::Update {
            key: k,
            old: o,
            new: n,
        });
    }

    fn on_delete(&self, deleted: DeletedObject<K>) {
        self.pause();
        let obj = deleted.object();
        let (k, v) = (key(&**obj), rv(&**obj));
        if self.state.lock().remove(&k).is_none() {
            self.anomalies.lock().push(format!("delete of absent {k}"));
        }
        self.heard.lock().push(Heard::Delete {
            key: k,
            rv: v,
            tombstone: deleted.is_tombstone(),
        });
    }
}

/// Dynamic objects, as most tests use.
pub type Obj = DynamicObject;

/// Pods: the built-in resource most tests use.
pub fn pods() -> ApiResource {
    ApiResource::new("", "v1", "Pod", "pods", true)
}
