//! `RestClient`: the HTTP layer every API call goes through.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::Method;
use serde::de::DeserializeOwned;

use super::auth::Authenticator;
use super::error::status_from_response;
use super::exec::Identity;
use super::rate_limit::RateLimiter;
use super::retry::RetryPolicy;
use super::tls::TlsConfig;
use super::{tls, BoxError, Config, Error, Result};

/// The `Accept` header of every request but a metadata-only read.
const JSON: &str = "application/json";

/// A client for one API server: cheap to clone, shared by every [`Api`](super::Api).
///
/// ```
/// use informer::client::{Config, RestClient};
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = informer::testing::ApiServer::start().await?;
/// # let kubeconfig = server.kubeconfig();
/// // `RestClient::try_default()` reads the kubeconfig or the in-cluster config;
/// // here the embedded test server's kubeconfig is used.
/// let client = RestClient::new(Config::from_kubeconfig_file(kubeconfig)?)?;
/// assert_eq!(client.default_namespace(), "default");
/// let also_client = client.clone(); // the same connection pool and rate limiter
/// # drop(also_client);
/// # server.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// # How a request is sent
///
/// A request passes, in order: the client-side rate limiter (one token per attempt), the
/// authenticator (which adds a sensitive `Authorization` header), reqwest over rustls
/// (`TCP_NODELAY`, HTTP/1.1, a user agent naming this crate), and the server. A 2xx
/// response is handed back (a whole body, or for watches a stream of chunks); any other
/// becomes [`Error::Api`] with the server's `Status`, and the retry policy decides whether
/// to try again (`429` always, `5xx` only for idempotent requests), honouring
/// `Retry-After`. A `401` makes the authenticator drop its cached credential.
/// An idempotent request whose connection broke before the whole answer (reset, or
/// closed mid-response) is retried too, as client-go does; other connection failures
/// are not retried here: they say what went wrong (a TLS failure says which certificate
/// check failed) and the caller decides.
#[derive(Clone)]
pub struct RestClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// The connection pool, and the exec plugin's client certificate it was built with.
    http: parking_lot::RwLock<(reqwest::Client, Option<Arc<Identity>>)>,
    /// Kept to rebuild the pool when an exec plugin hands out a new client certificate.
    config: Config,
    base: String,
    auth: Authenticator,
    limiter: Option<RateLimiter>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    default_namespace: String,
    max_event_size: usize,
    max_object_size: usize,
    /// Attempts by method and answer, and the time to their headers (client-go's
    /// `rest_client_requests_total` and `rest_client_request_duration_seconds`).
    requests: parking_lot::Mutex<HashMap<(Method, String), (u64, Duration)>>,
}

/// What a client has sent so far: per method and answer (the HTTP status code, or
/// `<error>` when no answer came), the attempts and their total time until the answer's
/// headers (retries count as attempts of their own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientMetrics {
    /// The server's URL (client-go's `host` label).
    pub host: String,
    /// `(method, code, attempts, total time to the headers)`, sorted by method and code.
    pub requests: Vec<(String, String, u64, Duration)>,
}

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient")
            .field("base", &self.inner.base)
            .field("auth", &self.inner.auth)
            .field("default_namespace", &self.inner.default_namespace)
            .finish_non_exhaustive()
    }
}

/// The body of a request: bytes and their content type.
#[derive(Clone, Debug)]
pub struct Body {
    /// The bytes.
    pub bytes: Bytes,
    /// Their `Content-Type`.
    pub content_type: &'static str,
}

impl Body {
    /// A JSON body.
    pub fn json(value: &impl serde::Serialize) -> Result<Body> {
        Body::json_as(value, "application/json")
    }

    /// A JSON body with another content type (patches).
    pub fn json_as(value: &impl serde::Serialize, content_type: &'static str) -> Result<Body> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::InvalidRequest(format!("cannot encode the request body: {e}")))?;
        Ok(Body {
            bytes: bytes.into(),
            content_type,
        })
    }
}

fn cluster_info(config: &Config) -> serde_json::Value {
    let mut c = serde_json::json!({"server": config.cluster_url});
    if let Some(ca) = &config.tls.root_certificates {
        c["certificateAuthorityData"] =
            serde_json::json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    if config.tls.insecure_skip_verify {
        c["insecureSkipTLSVerify"] = serde_json::json!(true);
    }
    if let Some(n) = &config.tls.server_name {
        c["tlsServerName"] = serde_json::json!(n);
    }
    if let Some(p) = &config.proxy_url {
        c["proxyURL"] = serde_json::json!(p);
    }
    if let Some(x) = &config.cluster_extensions {
        c["config"] = x.clone();
    }
    c
}

impl RestClient {
    /// Builds a client from a config: TLS, credentials, connection pool, limits.
    pub fn new(config: Config) -> Result<RestClient> {
        let auth = Authenticator::new(
            &config.auth,
            config.token_refresh,
            Some(cluster_info(&config)),
        )?;
        let http = build_http(&config, &config.tls)?;
        warn_if_credentials_in_clear(&config);
        Ok(RestClient {
            inner: Arc::new(Inner {
                http: parking_lot::RwLock::new((http, None)),
                requests: parking_lot::Mutex::default(),
                base: config.cluster_url.clone(),
                auth,
                limiter: config.rate_limit.map(RateLimiter::new),
                retry: config.retry,
                timeout: config.timeout,
                read_timeout: config.read_timeout,
                default_namespace: config.default_namespace.clone(),
                max_event_size: config.max_watch_event_size,
                max_object_size: config.max_object_size,
                config,
            }),
        })
    }

    /// A client from [`Config::infer`].
    pub fn try_default() -> Result<RestClient> {
        RestClient::new(Config::infer()?)
    }

    /// The namespace of the config's context (or the pod's, in cluster).
    pub fn default_namespace(&self) -> &str {
        &self.inner.default_namespace
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The configured cap on one watch event's size.
    pub fn max_watch_event_size(&self) -> usize {
        self.inner.max_event_size
    }

    /// The configured cap on one object of any other answer
    /// ([`Config::max_object_size`]).
    pub fn max_object_size(&self) -> usize {
        self.inner.max_object_size
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.inner.base, path_and_query)
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Body>,
        accept: &str,
        watch: bool,
    ) -> Result<reqwest::Response> {
        let inner = &*self.inner;
        let url = self.url(path_and_query);
        let idempotent = method == Method::GET || method == Method::HEAD;
        let mut attempt = 0;
        loop {
            if let Some(l) = &inner.limiter {
                l.acquire().await;
            }
            let credential = inner.auth.credential().await?;
            let http = self.http_for(credential.identity)?;
            let mut req = http.request(method.clone(), &url).header(ACCEPT, accept);
            if let Some(h) = credential.header {
                req = req.header(AUTHORIZATION, h);
            }
            if let Some(b) = &body {
                req = req
                    .header(CONTENT_TYPE, b.content_type)
                    .body(b.bytes.clone());
            }
            if !watch {
                if let Some(t) = inner.timeout {
                    req = req.timeout(t);
                }
            }
            tracing::trace!(%method, %url, attempt, "request");
            let sent = Instant::now();
            let answer = req.send().await;
            self.count(
                &method,
                answer.as_ref().ok().map(|r| r.status()),
                sent.elapsed(),
            );
            let resp = match answer {
                Ok(r) => r,
                Err(e) => {
                    let err = transport_error(&method, &url, e);
                    if !err.is_connection_broken() {
                        return Err(err);
                    }
                    match inner.retry.decide_broken(attempt, idempotent) {
                        Some(delay) => {
                            tracing::debug!(%method, %url, error = %err, ?delay, attempt,
                                "connection broke; retrying");
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                            continue;
                        }
                        None => return Err(err),
                    }
                }
            };
            let code = resp.status().as_u16();
            if resp.status().is_success() {
                return Ok(resp);
            }
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok());
            let location = resp
                .headers()
                .get(http::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            // An error body is only read for its `Status`: what lies past the cap (or
            // after a stall) is left unread.
            let bytes = read_capped(resp, inner.max_object_size, inner.read_timeout)
                .await
                .map(|(b, _)| b)
                .unwrap_or_default();
            let status = if resp_is_redirect(code) {
                redirect_status(code, location.as_deref(), &url)
            } else {
                status_from_response(code, &bytes, retry_after)
            };
            if code == 401 {
                inner.auth.invalidate();
            }
            let err = Error::Api(Box::new(status));
            match inner
                .retry
                .decide(attempt, idempotent, code, err.retry_after())
            {
                Some(delay) => {
                    tracing::debug!(%method, %url, code, ?delay, attempt, "retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => return Err(err),
            }
        }
    }

    /// Counts one attempt.
    fn count(&self, method: &Method, code: Option<http::StatusCode>, took: Duration) {
        let code = code.map_or_else(|| "<error>".to_owned(), |c| c.as_u16().to_string());
        let mut requests = self.inner.requests.lock();
        let entry = requests.entry((method.clone(), code)).or_default();
        entry.0 += 1;
        entry.1 += took;
    }

    /// The requests sent so far (see [`ClientMetrics`]); clones of a client share them.
    pub fn metrics(&self) -> ClientMetrics {
        let mut requests: Vec<_> = self
            .inner
            .requests
            .lock()
            .iter()
            .map(|((m, c), (n, t))| (m.to_string(), c.clone(), *n, *t))
            .collect();
        requests.sort();
        ClientMetrics {
            host: self.inner.base.clone(),
            requests,
        }
    }

    /// The connection pool to use with this exec-plugin identity: rebuilt (TLS with the
    /// new client certificate) when the identity changed.
    fn http_for(&self, identity: Option<Arc<Identity>>) -> Result<reqwest::Client> {
        let inner = &*self.inner;
        let Some(identity) = identity else {
            return Ok(inner.http.read().0.clone());
        };
        {
            let current = inner.http.read();
            if current
                .1
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &identity))
            {
                return Ok(current.0.clone());
            }
        }
        let mut tls = inner.config.tls.clone();
        tls.client_certificate = Some(identity.certificate.clone());
        tls.client_key = Some(identity.key.clone());
        let http = build_http(&inner.config, &tls)?;
        tracing::debug!("exec plugin returned a new client certificate; new connections use it");
        *inner.http.write() = (http.clone(), Some(identity));
        Ok(http)
    }

    /// Sends a request and returns the whole body of its 2xx answer, which may be no
    /// larger than [`Config::max_object_size`]; each piece of it must come within
    /// [`Config::read_timeout`].
    pub async fn request_bytes(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Body>,
    ) -> Result<Bytes> {
        self.request_bytes_as(method, path_and_query, body, JSON)
            .await
    }

    /// [`request_bytes`](Self::request_bytes) with this `Accept` header.
    pub(crate) async fn request_bytes_as(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Body>,
        accept: &str,
    ) -> Result<Bytes> {
        let resp = self
            .send(method.clone(), path_and_query, body, accept, false)
            .await?;
        let url = self.url(path_and_query);
        let limit = self.inner.max_object_size;
        match read_capped(resp, limit, self.inner.read_timeout).await {
            Ok((bytes, false)) => Ok(bytes),
            Ok((_, true)) => Err(Error::too_large(
                format!("the answer to {method} {url}"),
                limit,
            )),
            Err(e) => Err(e.into_error(&method, &url)),
        }
    }

    /// Sends a request and decodes the JSON body of its 2xx answer.
    pub async fn request_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Body>,
    ) -> Result<T> {
        self.request_json_as(method, path_and_query, body, JSON)
            .await
    }

    /// [`request_json`](Self::request_json) with this `Accept` header.
    pub(crate) async fn request_json_as<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Body>,
        accept: &str,
    ) -> Result<T> {
        let bytes = self
            .request_bytes_as(method.clone(), path_and_query, body, accept)
            .await?;
        super::from_slice_exact(&bytes).map_err(|e| {
            Error::decode(
                format!(
                    "decoding the answer to {method} {}",
                    self.url(path_and_query)
                ),
                e,
            )
        })
    }

    /// Sends a `GET` and returns the body of its 2xx answer as a stream of chunks as they
    /// arrive, for large lists; the request timeout applies, and the read timeout
    /// between chunks. An item is a transport error (with its context) when the body
    /// breaks off or stalls.
    pub(crate) async fn request_chunks(
        &self,
        path_and_query: &str,
        accept: &str,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let resp = self
            .send(Method::GET, path_and_query, None, accept, false)
            .await?;
        let url = self.url(path_and_query);
        let read_timeout = self.inner.read_timeout;
        Ok(futures::stream::unfold(Some(resp), move |resp| {
            let url = url.clone();
            async move {
                let mut resp = resp?;
                match next_chunk(&mut resp, read_timeout).await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(resp))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e.into_error(&Method::GET, &url)), None)),
                }
            }
        })
        .boxed())
    }

    /// Sends a `GET` and returns the body of its 2xx answer as a stream of chunks, for
    /// watches. No request timeout applies: the server's `timeoutSeconds` ends it.
    pub async fn request_stream(
        &self,
        path_and_query: &str,
    ) -> Result<BoxStream<'static, std::result::Result<Bytes, BoxError>>> {
        self.request_stream_as(path_and_query, JSON).await
    }

    /// [`request_stream`](Self::request_stream) with this `Accept` header.
    pub(crate) async fn request_stream_as(
        &self,
        path_and_query: &str,
        accept: &str,
    ) -> Result<BoxStream<'static, std::result::Result<Bytes, BoxError>>> {
        let resp = self
            .send(Method::GET, path_and_query, None, accept, true)
            .await?;
        Ok(resp
            .bytes_stream()
            .map(|r| r.map_err(|e| Box::new(e) as BoxError))
            .boxed())
    }
}

/// Why reading a body stopped.
enum ReadError {
    Broken(reqwest::Error),
    Stalled(Duration),
}

impl ReadError {
    fn into_error(self, method: &Method, url: &str) -> Error {
        match self {
            ReadError::Broken(e) if tls::explain(&e).is_none() && !e.is_timeout() => {
                Error::transport(
                    format!("{method} {url}: the answer broke off"),
                    BodyError(e),
                )
            }
            ReadError::Broken(e) => transport_error(method, url, e),
            ReadError::Stalled(after) => Error::transport(
                format!("{method} {url}: the answer stalled"),
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "nothing arrived for {after:?} (Config::read_timeout); the server \
                         or a proxy stopped sending"
                    ),
                ),
            ),
        }
    }
}

/// A body that broke off. reqwest calls every such failure "error decoding response
/// body", which would blame the JSON: this shows the causes beneath it instead (and keeps
/// them reachable for [`Error::is_connection_broken`]).
#[derive(Debug)]
struct BodyError(reqwest::Error);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reading it failed")
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

/// The next chunk of a body, waiting at most `read_timeout` for it.
async fn next_chunk(
    resp: &mut reqwest::Response,
    read_timeout: Option<Duration>,
) -> std::result::Result<Option<Bytes>, ReadError> {
    let chunk = match read_timeout {
        Some(t) => tokio::time::timeout(t, resp.chunk())
            .await
            .map_err(|_| ReadError::Stalled(t))?,
        None => resp.chunk().await,
    };
    chunk.map_err(ReadError::Broken)
}

/// Reads a body whole, up to `limit` bytes: the bytes, and whether there was more (the
/// rest is left unread). A `Content-Length` over the limit is not read at all.
async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
    read_timeout: Option<Duration>,
) -> std::result::Result<(Bytes, bool), ReadError> {
    if resp
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
    {
        return Ok((Bytes::new(), true));
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = next_chunk(&mut resp, read_timeout).await? {
        if buf.len() + chunk.len() > limit {
            let room = limit - buf.len();
            buf.extend_from_slice(&chunk[..room]);
            return Ok((buf.freeze(), true));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), false))
}

fn resp_is_redirect(code: u16) -> bool {
    (300..400).contains(&code)
}

/// The `Status` of a redirect: this client does not follow redirects (a credential must
/// not go to another host), so the answer says where it pointed.
fn redirect_status(code: u16, location: Option<&str>, url: &str) -> crate::meta::Status {
    let to = location.map(|l| format!(" to {l:?}")).unwrap_or_default();
    crate::meta::Status::failure(
        code,
        "Redirect",
        format!(
            "the server answered {url} with HTTP {code}, a redirect{to}; redirects are not \
             followed: point the config's server URL at the API server itself"
        ),
    )
}

/// Warns (once, as the client is built) when a bearer token or basic credentials would
/// go over plain `http://` to a host that is not this machine: anyone on the path can
/// read them.
fn warn_if_credentials_in_clear(config: &Config) {
    let auth = &config.auth;
    let credentials = auth.token.is_some()
        || auth.token_file.is_some()
        || auth.password.is_some()
        || auth.exec.is_some();
    if !credentials || !config.cluster_url.starts_with("http://") {
        return;
    }
    let host = config
        .cluster_url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_default();
    if !is_loopback(&host) {
        tracing::warn!(server = %config.cluster_url,
            "credentials will be sent over plain http:// to a host that is not this machine; \
             anyone on the network path can read them: use https://");
    }
}

/// Whether `host` (as a URL writes it) is this machine.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The connection pool for a config, with these TLS settings.
fn build_http(config: &Config, tls_config: &TlsConfig) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(config.user_agent.clone())
        .tcp_nodelay(true)
        .connect_timeout(config.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        // reqwest needs a TLS backend even for plain HTTP; with redirects off it is
        // used only for https:// servers.
        .tls_backend_preconfigured(tls::build(tls_config)?);
    if !config.cluster_url.starts_with("https://") && tls_config.client_certificate.is_some() {
        return Err(Error::Config(format!(
            "a client certificate is configured but the server URL {} is not https",
            config.cluster_url
        )));
    }
    match config.proxy_url.as_deref() {
        Some(p) if p.starts_with("http://") || p.starts_with("https://") => {
            let proxy = reqwest::Proxy::all(p).map_err(|e| {
                Error::Config(format!("proxy-url {p:?} is not a valid proxy URL: {e}"))
            })?;
            builder = builder.proxy(proxy);
        }
        Some(p) => {
            return Err(Error::Config(format!(
                "proxy-url {p:?} is not supported: only http:// and https:// proxies are"
            )))
        }
        None => {}
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))
}

fn transport_error(method: &Method, url: &str, e: reqwest::Error) -> Error {
    if let Some(message) = tls::explain(&e) {
        return Error::Tls {
            message: format!("{method} {url}: {message}"),
            source: Some(Box::new(e)),
        };
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    Error::transport(format!("{method} {url} {what}"), e)
}
