//! [`ApiServer`]: the embedded API server's lifecycle (start, kubeconfig, shutdown) and its
//! connections.
//!
//! `start` binds `127.0.0.1` (port 0 unless told otherwise), makes the TLS material if
//! asked, writes a kubeconfig into a temporary directory and spawns the accept loop. Each
//! connection gets `TCP_NODELAY` (so small watch chunks are not held back by Nagle's
//! algorithm) and its own task serving HTTP/1.1 with hyper; every request goes to
//! [`rest::handle`](super::rest). `shutdown` stops accepting, ends every watch cleanly,
//! lets the connections finish and removes the kubeconfig.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::fake::{Backend, FakeListerWatcher};
use super::faults::{FaultState, Faults};
use super::kubeconfig;
use super::objects;
use super::resources::ResourceInfo;
use super::rest;
use super::storage::Storage;
use super::tls;
use crate::meta::{ApiResource, Status};

/// How long `shutdown` lets open connections finish before cutting them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings the request handlers read.
pub(crate) struct Config {
    /// The bearer token every request must carry, if auth is on.
    pub token: Option<String>,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// How long a request for a future resourceVersion waits before `504`.
    pub too_large_wait: Duration,
    /// `host:port`, for `/api`.
    pub address: String,
}

/// State shared by the server handle, the accept loop and every request.
pub(crate) struct Shared {
    /// Objects, history, watches.
    pub storage: Arc<Storage>,
    /// Request-level faults and the restart signal.
    pub faults: Arc<FaultState>,
    /// Settings.
    pub config: Config,
}

/// Options for an [`ApiServer`]; start with [`ApiServer::builder`].
#[derive(Clone, Debug)]
pub struct ApiServerBuilder {
    port: u16,
    history_limit: usize,
    compaction_interval: Option<Duration>,
    bookmark_interval: Duration,
    too_large_wait: Duration,
    tls: bool,
    client_certificates: bool,
    token: Option<String>,
    resources: Vec<ResourceInfo>,
}

impl Default for ApiServerBuilder {
    fn default() -> Self {
        ApiServerBuilder {
            port: 0,
            history_limit: 10_000,
            compaction_interval: None,
            bookmark_interval: Duration::from_secs(60),
            too_large_wait: Duration::from_secs(3),
            tls: false,
            client_certificates: false,
            token: None,
            resources: Vec::new(),
        }
    }
}

impl ApiServerBuilder {
    /// Listens on this port of `127.0.0.1` (default 0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Keeps at most this many events in the history (default 10,000); older ones are
    /// compacted.
    pub fn history_limit(mut self, events: usize) -> Self {
        self.history_limit = events;
        self
    }

    /// Compacts the history at this interval as a real API server's compactor compacts
    /// etcd (default: never; kube-apiserver uses 5 min): at each tick, everything up to
    /// the resourceVersion seen at the previous tick is compacted, so a version stays
    /// watchable for at least one interval. The history limit applies as well.
    pub fn compaction_interval(mut self, interval: Duration) -> Self {
        self.compaction_interval = Some(interval);
        self
    }

    /// Sends watch bookmarks at this interval (default 60 s, as a real server).
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// How long a list or get at a future resourceVersion waits before answering `504`
    /// (default 3 s, as a real server).
    pub fn too_large_resource_version_wait(mut self, wait: Duration) -> Self {
        self.too_large_wait = wait;
        self
    }

    /// Serves HTTPS with a fresh self-signed CA, written into the kubeconfig.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Requires a client certificate signed by the server's CA on every connection (the
    /// TLS handshake fails without one); implies [`tls`](Self::tls). The CA issues one,
    /// written into the kubeconfig and readable with [`ApiServer::client_identity`].
    pub fn client_certificates(mut self, on: bool) -> Self {
        self.client_certificates = on;
        self.tls |= on;
        self
    }

    /// Requires `Authorization: Bearer <token>` on every request (`401` otherwise); the
    /// token is written into the kubeconfig.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Serves this resource too, as a CRD would add it (an [`ApiResource`] gets a
    /// `status` subresource; pass a [`ResourceInfo`] to choose).
    pub fn resource(mut self, info: impl Into<ResourceInfo>) -> Self {
        self.resources.push(info.into());
        self
    }

    /// Starts the server: binds `127.0.0.1`, writes the kubeconfig and spawns the accept
    /// loop on the current Tokio runtime.
    pub async fn start(self) -> std::io::Result<ApiServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).await?;
        let addr = listener.local_addr()?;
        let tls = if self.tls {
            Some(tls::make(self.client_certificates)?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{addr}");
        let storage = Arc::new(Storage::new(self.history_limit));
        for info in self.resources {
            storage.register(info);
        }
        let shared = Arc::new(Shared {
            storage,
            faults: Arc::new(FaultState::default()),
            config: Config {
                token: self.token.clone(),
                bookmark_interval: self.bookmark_interval,
                too_large_wait: self.too_large_wait,
                address: addr.to_string(),
            },
        });
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let client_identity = tls.as_ref().and_then(|t| t.client.clone());
        let dir = kubeconfig::make_dir(addr.port())?;
        let contents = kubeconfig::render(
            &url,
            ca_pem.as_deref(),
            self.token.as_deref(),
            client_identity
                .as_ref()
                .map(|(c, k)| (c.as_str(), k.as_str())),
        );
        let kubeconfig = match kubeconfig::write(&dir, &contents) {
            Ok(p) => p,
            Err(e) => {
                kubeconfig::remove(&dir);
                return Err(e);
            }
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        if let Some(interval) = self.compaction_interval {
            tokio::spawn(compactor(
                shared.storage.clone(),
                interval,
                shutdown_rx.clone(),
            ));
        }
        let task = tokio::spawn(accept_loop(
            listener,
            shared.clone(),
            tls.map(|t| t.acceptor),
            shutdown_rx,
        ));
        tracing::debug!(%url, "embedded API server started");
        Ok(ApiServer {
            shared,
            addr,
            url,
            kubeconfig,
            dir,
            ca_pem,
            client_identity,
            shutdown,
            task: Some(task),
        })
    }
}

/// An API server in this process that speaks the Kubernetes REST and watch protocol over
/// loopback HTTP (or HTTPS), for tests and examples.
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use informer::meta::ApiResource;
/// use informer::testing::ApiServer;
/// let server = ApiServer::start().await?;
/// let pods = ApiResource::new("", "v1", "Pod", "pods", true);
/// server
///     .create(&pods, serde_json::json!({"metadata": {"name": "web", "namespace": "default"}}))
///     .expect("created");
/// println!("kubectl --kubeconfig {} get pods", server.kubeconfig().display());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
    kubeconfig: PathBuf,
    dir: PathBuf,
    ca_pem: Option<String>,
    client_identity: Option<(String, String)>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("url", &self.url)
            .field("kubeconfig", &self.kubeconfig)
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Starts a server with the default options on a free port of `127.0.0.1`, on the
    /// current Tokio runtime.
    pub async fn start() -> std::io::Result<ApiServer> {
        ApiServerBuilder::default().start().await
    }

    /// Options for a server.
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder::default()
    }

    /// The base URL, for example `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The kubeconfig file pointing at this server (removed at shutdown).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The CA certificate (PEM) when TLS is on.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The client certificate and key (PEM) the server's CA issued, with
    /// [`ApiServerBuilder::client_certificates`].
    pub fn client_identity(&self) -> Option<(&str, &str)> {
        self.client_identity
            .as_ref()
            .map(|(c, k)| (c.as_str(), k.as_str()))
    }

    /// The bearer token when auth is on.
    pub fn token(&self) -> Option<&str> {
        self.shared.config.token.as_deref()
    }

    /// Fault injection.
    pub fn faults(&self) -> Faults {
        Faults::new(self.shared.storage.clone(), self.shared.faults.clone())
    }

    /// Serves another resource from now on, as creating a CRD would (an
    /// [`ApiResource`] gets a `status` subresource; pass a [`ResourceInfo`] to choose).
    pub fn register(&self, info: impl Into<ResourceInfo>) {
        self.shared.storage.register(info.into());
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.storage.current_rv()
    }

    /// The number of open watches.
    pub fn watch_count(&self) -> usize {
        self.shared.storage.watch_count()
    }

    /// Creates an object as a `POST` would (its namespace, `default` if unset, is taken
    /// from its metadata) and returns it as stored. This write and [`ApiServer::replace`]
    /// are recorded in `managedFields` as an `Update` by the manager `informer`.
    pub fn create(&self, api: &ApiResource, obj: Value) -> Result<Value, Status> {
        objects::create(&self.shared.storage, api, obj).map(|w| w.value)
    }

    /// Replaces an object as a `PUT` would (a non-empty `metadata.resourceVersion` must
    /// be current; custom resources must carry one, `422` otherwise) and returns it as
    /// stored.
    pub fn replace(&self, api: &ApiResource, obj: Value) -> Result<Value, Status> {
        objects::replace(&self.shared.storage, api, obj).map(|w| w.value)
    }

    /// Deletes an object as a `DELETE` would; returns its last state (with a
    /// `deletionTimestamp` if finalizers keep it).
    pub fn delete(&self, api: &ApiResource, ns: Option<&str>, name: &str) -> Result<Value, Status> {
        objects::delete(&self.shared.storage, api, ns, name).map(|w| w.value)
    }

    /// One object.
    pub fn get(&self, api: &ApiResource, ns: Option<&str>, name: &str) -> Result<Value, Status> {
        objects::get(&self.shared.storage, api, ns, name)?.value()
    }

    /// Every object of a resource, in one namespace or (`None`) all, in key order.
    pub fn list(&self, api: &ApiResource, ns: Option<&str>) -> Result<Vec<Value>, Status> {
        objects::list(&self.shared.storage, api, ns)?
            .iter()
            .map(|o| o.value())
            .collect()
    }

    /// A [`FakeListerWatcher`] for `api` on this server's storage: it lists and watches
    /// without HTTP what the server serves, its writes reach the server's watches (and the
    /// other way round), and it shares the server's [`Faults`] and bookmark interval. The
    /// resource is registered (with a `status` subresource) if the server does not serve
    /// it yet.
    pub fn lister_watcher<K>(&self, api: &ApiResource) -> FakeListerWatcher<K> {
        FakeListerWatcher::on_backend(
            Backend {
                storage: self.shared.storage.clone(),
                faults: self.shared.faults.clone(),
                bookmark_interval: self.shared.config.bookmark_interval,
                too_large_wait: self.shared.config.too_large_wait,
            },
            api,
        )
    }

    /// Stops accepting, ends every watch cleanly, waits (up to 5 s) for open connections
    /// and removes the kubeconfig.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        kubeconfig::remove(&self.dir);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.shared.storage.drop_watchers();
        kubeconfig::remove(&self.dir);
    }
}

/// Compacts `storage` every `interval` up to the resourceVersion seen at the previous
/// tick, until the server shuts down.
async fn compactor(storage: Arc<Storage>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let interval = interval.max(Duration::from_millis(1));
    let mut seen = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            () = tokio::time::sleep(interval) => {}
        }
        if let Some(revision) = seen {
            storage.compact_to(revision);
        }
        seen = Some(storage.current_rv());
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::warn!(error = %e, "setting TCP_NODELAY failed");
                    }
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    let restart = shared.faults.restarts();
                    match tls.clone() {
                        None => {
                            conns.spawn(serve(stream, shared, shutdown, restart));
                        }
                        Some(acceptor) => {
                            conns.spawn(async move {
                                let handshake = tokio::time::timeout(
                                    Duration::from_secs(10),
                                    acceptor.accept(stream),
                                );
                                match handshake.await {
                                    Ok(Ok(stream)) => serve(stream, shared, shutdown, restart).await,
                                    Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::debug!("TLS handshake timed out"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    shared.storage.drop_watchers();
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        conns.abort_all();
    }
}

async fn serve<I>(
    io: I,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    mut restart: watch::Receiver<u64>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(rest::handle(shared, req).await) }
    });
    let conn = http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = restart.changed() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
