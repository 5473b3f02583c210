//! The client: configuration, credentials, TLS and HTTP to reach an API server, and typed
//! or dynamic access to its resources.
//!
//! How data passes through it: a [`Config`] (from a kubeconfig, the pod's service account
//! or [`Config::infer`]) becomes a [`RestClient`] — a rate-limited, retrying,
//! authenticated connection pool. An [`Api<K>`] on that client turns calls (`get`,
//! `list`, `watch`, `create`, `replace`, `patch`, server-side `apply`, `delete`, ...) into
//! requests and decodes the answers into `K`,
//! [`ObjectList<K>`](crate::meta::ObjectList) or a stream of
//! [`WatchEvent<K>`](crate::meta::WatchEvent). Failures are one [`Error`] type; the
//! server's own `Status` is kept and classified ([`Error::is_not_found`],
//! [`Error::is_gone`], ...). [`Discovery`] lists what the server serves.
//!
//! This module knows nothing about caches, and the informer framework does not depend on
//! it: an [`Api<K>`] is a [`cache::ListerWatcher`](crate::cache::ListerWatcher) and a
//! [`RestClient`] the [`cache::InformerClient`](crate::cache::InformerClient) of a
//! [`SharedInformerFactory`](crate::cache::SharedInformerFactory); their errors become
//! [`cache::ListWatchError`](crate::cache::ListWatchError)s, classified by kind.
//!
//! ```
//! use informer::client::{Api, ListParams, RestClient};
//! use informer::meta::{ApiResource, DynamicObject};
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = informer::testing::ApiServer::start().await?;
//! # std::env::set_var("KUBECONFIG", server.kubeconfig());
//! // The kubeconfig (`KUBECONFIG`, `~/.kube/config`) or the pod's service account.
//! let client = RestClient::try_default()?;
//! let pods = ApiResource::new("", "v1", "Pod", "pods", true);
//! let api: Api<DynamicObject> = Api::default_namespaced_with(client, &pods);
//! for pod in api.list(&ListParams::default().labels("app=web")).await?.items {
//!     println!("{:?}", pod.metadata.name);
//! }
//! # server.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod auth;
pub mod config;
mod discovery;
mod error;
mod exact_decode;
mod exec;
mod files;
pub mod list_stream;
mod lister_watcher;
mod parallel_decode;
mod params;
mod rate_limit;
mod rest;
mod retry;
mod tls;
pub mod watch_stream;

pub use api::{Api, DeleteResponse};
pub use auth::{AuthInfo, Secret};
pub use config::kubeconfig::{KubeConfigOptions, Kubeconfig};
pub use config::{
    Config, DEFAULT_MAX_OBJECT_SIZE, DEFAULT_MAX_WATCH_EVENT_SIZE, DEFAULT_READ_TIMEOUT,
};
pub use discovery::{ApiGroupInfo, DiscoveredResource, Discovery, ServerVersion};
pub use error::{BoxError, Error, Result};
pub use exact_decode::from_slice_exact;
pub use exec::{ExecConfig, ExecEnvVar, MAX_EXEC_OUTPUT};
pub use files::MAX_FILE_SIZE;
pub use http::Method;
#[cfg(test)]
pub(crate) use params::ToQuery;
pub use params::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
    ResourceVersionMatch, WatchParams,
};
pub(crate) use rate_limit::quota as rate_limit_quota;
pub use rate_limit::{RateLimit, RateLimiter};
pub use rest::{Body, ClientMetrics, RestClient};
pub use retry::RetryPolicy;
pub use tls::TlsConfig;
