//! `RestClient`: the HTTP layer every API call goes through.
//!
//! A request passes, in order: the client-side rate limiter (one token per attempt), the
//! authenticator (which adds a sensitive `Authorization` header), reqwest over rustls
//! (`TCP_NODELAY`, HTTP/1.1, a user agent naming this crate), and the server. A 2xx
//! response is handed back (a whole body, or for watches a stream of chunks); any other
//! becomes [`Error::Api`] with the server's `Status`, and the retry policy decides whether
//! to try again (`429` always, `5xx` only for idempotent requests), honouring
//! `Retry-After`. A `401` makes the authenticator drop its cached credential.
//! An idempotent request whose connection broke before the whole answer (reset, or
//! closed mid-response) is retried too, as client-go does; other connection failures
//! are not retried here: they say what went wrong (a TLS failure says which certificate
//! check failed) and the caller decides.

use std::sync::Arc;
use std::time::Duration;

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

/// A client for one API server: cheap to clone, shared by every [`Api`](super::Api).
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
    default_namespace: String,
    max_event_size: usize,
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
        Ok(RestClient {
            inner: Arc::new(Inner {
                http: parking_lot::RwLock::new((http, None)),
                base: config.cluster_url.clone(),
                auth,
                limiter: config.rate_limit.map(RateLimiter::new),
                retry: config.retry,
                timeout: config.timeout,
                default_namespace: config.default_namespace.clone(),
                max_event_size: config.max_watch_event_size,
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

    fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.inner.base, path_and_query)
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Body>,
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
            let mut req = http
                .request(method.clone(), &url)
                .header(ACCEPT, "application/json");
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
            let resp = match req.send().await {
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
            let bytes = resp.bytes().await.unwrap_or_default();
            let status = status_from_response(code, &bytes, retry_after);
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

    /// Sends a request and returns the whole body of its 2xx answer.
    pub async fn request_bytes(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Body>,
    ) -> Result<Bytes> {
        let resp = self
            .send(method.clone(), path_and_query, body, false)
            .await?;
        resp.bytes()
            .await
            .map_err(|e| transport_error(&method, &self.url(path_and_query), e))
    }

    /// Sends a request and decodes the JSON body of its 2xx answer.
    pub async fn request_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Body>,
    ) -> Result<T> {
        let bytes = self
            .request_bytes(method.clone(), path_and_query, body)
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| {
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
    /// arrive, for large lists; the request timeout applies.
    pub(crate) async fn request_chunks(
        &self,
        path_and_query: &str,
    ) -> Result<BoxStream<'static, std::result::Result<Bytes, BoxError>>> {
        let resp = self.send(Method::GET, path_and_query, None, false).await?;
        Ok(resp
            .bytes_stream()
            .map(|r| r.map_err(|e| Box::new(e) as BoxError))
            .boxed())
    }

    /// Sends a `GET` and returns the body of its 2xx answer as a stream of chunks, for
    /// watches. No request timeout applies: the server's `timeoutSeconds` ends it.
    pub async fn request_stream(
        &self,
        path_and_query: &str,
    ) -> Result<BoxStream<'static, std::result::Result<Bytes, BoxError>>> {
        let resp = self.send(Method::GET, path_and_query, None, true).await?;
        Ok(resp
            .bytes_stream()
            .map(|r| r.map_err(|e| Box::new(e) as BoxError))
            .boxed())
    }
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
