//! `Config`: everything needed to reach an API server — its URL, TLS settings,
//! credentials, default namespace and the client's own limits (timeouts, rate limit,
//! retries, watch event size).
//!
//! A config comes from a kubeconfig ([`kubeconfig`]: `KUBECONFIG`'s files merged, or
//! `~/.kube/config`), from the pod's service account ([`incluster`]), or from
//! [`Config::infer`], which tries the first and then the second. It is plain data that
//! [`RestClient::new`](super::RestClient::new) turns into a connection pool and an
//! authenticator. Secrets are [`Secret`](super::Secret)s: `Debug` shows them as
//! `<redacted>`.

pub mod incluster;
pub mod kubeconfig;

use std::path::Path;
use std::time::Duration;

use super::auth::AuthInfo;
use super::rate_limit::RateLimit;
use super::retry::RetryPolicy;
use super::tls::TlsConfig;
use super::{Error, Result};
use kubeconfig::{KubeConfigOptions, Kubeconfig};

/// The default cap on one watch event's size: 64 MiB.
pub const DEFAULT_MAX_WATCH_EVENT_SIZE: usize = 64 << 20;

/// The default cap on one object of an answer (one object, one item of a list, or the
/// rest of a list's document, or an error body): 64 MiB.
pub const DEFAULT_MAX_OBJECT_SIZE: usize = 64 << 20;

/// The default [`Config::read_timeout`]: 60 s.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How to reach and talk to an API server.
///
/// Usually read with [`Config::infer`] (the kubeconfig kubectl would use, else the pod's
/// service account); every field is public, so a config can be adjusted before
/// [`RestClient::new`](super::RestClient::new) turns it into a client.
///
/// ```
/// use std::time::Duration;
/// use informer::client::{Config, RestClient};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = Config::new("https://127.0.0.1:6443")?;
/// config.default_namespace = "shop".to_owned();
/// config.timeout = Some(Duration::from_secs(30));
/// let client = RestClient::new(config)?;
/// assert_eq!(client.default_namespace(), "shop");
///
/// // A server URL without a scheme says how to write it.
/// let err = Config::new("10.0.0.1:6443").unwrap_err();
/// assert!(err.to_string().contains("https://"));
/// # Ok(())
/// # }
/// ```
///
/// # Client-side rate limit
///
/// By default a client has **no client-side rate limit**
/// ([`rate_limit`](Self::rate_limit) is `None`). client-go still defaults to 5 requests a
/// second with bursts of 10, a limit from before servers could protect themselves; with
/// it, one step of a controller that writes a few objects waited 381 ms instead of 33 ms.
/// API servers have API Priority and Fairness (beta since Kubernetes 1.20, GA in 1.29):
/// they queue and, when overloaded, refuse requests per flow with `429` and
/// `Retry-After`, which this client honours (see [`RetryPolicy`]). SIG API Machinery
/// therefore recommends turning the client-side limiter off; controller-runtime does so
/// by default since v0.21, and kube-rs has never had one. A work queue's rate limiter
/// still paces a controller's retries.
///
/// To cap a client anyway (an old server without priority and fairness, or a tool that
/// must stay polite), set a limit; [`RateLimit::default`] is client-go's:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use informer::client::{Config, RateLimit};
/// let mut config = Config::new("https://127.0.0.1:6443")?;
/// assert_eq!(config.rate_limit, None);
/// config.rate_limit = Some(RateLimit { qps: 20.0, burst: 30 }); // kube-controller-manager's
/// assert_eq!(RateLimit::default(), RateLimit { qps: 5.0, burst: 10 });
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// The server's base URL, for example `https://10.0.0.1:6443` (no trailing slash).
    pub cluster_url: String,
    /// Namespace used by [`Api::default_namespaced`](super::Api::default_namespaced).
    pub default_namespace: String,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Credentials.
    pub auth: AuthInfo,
    /// HTTP(S) proxy for every request (`proxy-url`).
    pub proxy_url: Option<String>,
    /// Timeout of each request other than a watch (default 295 s); `None` for none.
    pub timeout: Option<Duration>,
    /// Longest wait for the next piece of an answer's body, once its headers came, for
    /// every request other than a watch (default [`DEFAULT_READ_TIMEOUT`]); `None` for
    /// none. A list that stalls mid-body then fails after this long instead of hanging
    /// until [`timeout`](Self::timeout). The wait for the headers falls under `timeout`,
    /// and a watch, which may rightly stay silent, under the reflector's
    /// [`watch_idle_timeout`](crate::cache::ReflectorOptions::watch_idle_timeout).
    pub read_timeout: Option<Duration>,
    /// Timeout of connecting (default 30 s).
    pub connect_timeout: Duration,
    /// Client-side rate limit; `None` (the default) sends every request at once and
    /// leaves the pacing to the server. See [the choice of default](#client-side-rate-limit).
    pub rate_limit: Option<RateLimit>,
    /// Retries on `429` (any request), and on `5xx` or a broken connection (idempotent
    /// requests only); a refused connection, a TLS failure or a timeout is not retried.
    pub retry: RetryPolicy,
    /// How often a token file is re-read (default 1 minute).
    pub token_refresh: Duration,
    /// Largest watch event accepted (default [`DEFAULT_MAX_WATCH_EVENT_SIZE`]).
    pub max_watch_event_size: usize,
    /// Largest object accepted in any other answer (default [`DEFAULT_MAX_OBJECT_SIZE`]):
    /// a whole answer for one object or an error, each item of a list (and the list's
    /// document without its items), so that memory stays bounded whatever a server
    /// sends. A larger one fails with [`Error::TooLarge`].
    pub max_object_size: usize,
    /// The `User-Agent` header (default `informer/<version>`).
    pub user_agent: String,
    /// The cluster's `client.authentication.k8s.io/exec` extension, passed to exec plugins
    /// with `provideClusterInfo` as `spec.cluster.config`.
    pub cluster_extensions: Option<serde_json::Value>,
}

impl Config {
    /// A config for this URL with every default and no credentials.
    pub fn new(cluster_url: &str) -> Result<Config> {
        let trimmed = cluster_url.trim();
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(|| {
                Error::Config(format!(
                    "the server URL {cluster_url:?} must start with https:// or http://"
                ))
            })?;
        let url = trimmed.trim_end_matches('/');
        let no_host = || {
            Error::Config(format!(
                "the server URL {cluster_url:?} has no host: write it as \
                 https://host[:port], for example https://10.0.0.1:6443"
            ))
        };
        if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
            return Err(no_host());
        }
        match url.parse::<http::Uri>() {
            Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => {}
            Ok(_) => return Err(no_host()),
            Err(e) => {
                return Err(Error::Config(format!(
                    "the server URL {cluster_url:?} is not a valid URL ({e}): write it as \
                     https://host[:port]"
                )))
            }
        }
        Ok(Config {
            cluster_url: url.to_owned(),
            default_namespace: "default".to_owned(),
            tls: TlsConfig::default(),
            auth: AuthInfo::default(),
            proxy_url: None,
            timeout: Some(Duration::from_secs(295)),
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            connect_timeout: Duration::from_secs(30),
            rate_limit: None,
            retry: RetryPolicy::default(),
            token_refresh: Duration::from_secs(60),
            max_watch_event_size: DEFAULT_MAX_WATCH_EVENT_SIZE,
            max_object_size: DEFAULT_MAX_OBJECT_SIZE,
            user_agent: format!("informer/{}", env!("CARGO_PKG_VERSION")),
            cluster_extensions: None,
        })
    }

    /// The config kubectl would use (`KUBECONFIG`, else `~/.kube/config`) with its current
    /// context, or the in-cluster config when there is no kubeconfig. The error says what
    /// was tried.
    pub fn infer() -> Result<Config> {
        let paths = kubeconfig::default_paths();
        let kubeconfig_err = if paths.iter().any(|p| p.exists()) {
            return Config::from_kubeconfig(&KubeConfigOptions::default());
        } else {
            let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            if list.is_empty() {
                "no KUBECONFIG and no home directory".to_owned()
            } else {
                format!("no kubeconfig at {}", list.join(", "))
            }
        };
        match Config::incluster() {
            Ok(c) => Ok(c),
            Err(e) => Err(Error::Config(format!(
                "no configuration found: {kubeconfig_err}; and {e}. Set KUBECONFIG, create \
                 ~/.kube/config or run inside a cluster"
            ))),
        }
    }

    /// The kubeconfig kubectl would use, with the given (or current) context.
    pub fn from_kubeconfig(options: &KubeConfigOptions) -> Result<Config> {
        Kubeconfig::read()?.to_config(options)
    }

    /// One kubeconfig file, with its current context.
    pub fn from_kubeconfig_file(path: impl AsRef<Path>) -> Result<Config> {
        Kubeconfig::read_from(path)?.to_config(&KubeConfigOptions::default())
    }

    /// The in-cluster config: `KUBERNETES_SERVICE_HOST`/`_PORT` and the service account
    /// mounted at [`incluster::SERVICE_ACCOUNT_DIR`].
    pub fn incluster() -> Result<Config> {
        incluster::from(
            &|k| std::env::var(k).ok(),
            Path::new(incluster::SERVICE_ACCOUNT_DIR),
        )
    }

    /// The in-cluster config from another environment and service-account directory
    /// (for tests and unusual mounts).
    pub fn incluster_from(env: &dyn Fn(&str) -> Option<String>, dir: &Path) -> Result<Config> {
        incluster::from(env, dir)
    }
}
