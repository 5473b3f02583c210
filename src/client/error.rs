//! `Error`: every failure of the client, with helpers that classify the server's `Status`
//! the way client-go's `k8s.io/apimachinery/pkg/api/errors` does.
//!
//! A non-2xx answer (and a watch `ERROR` event) becomes [`Error::Api`] carrying the
//! server's [`Status`]; when the body is not a `Status` (a proxy's HTML page, say) one is
//! made from the HTTP code. Connection and TLS failures, malformed bodies, configuration
//! and credential problems have variants of their own whose messages say what to check.
//! No variant exposes a type of the HTTP stack.

use std::time::Duration;

use crate::meta::Status;

/// A boxed error from a lower layer, kept as the source of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to an API server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a failure `Status` (a non-2xx response, or an `ERROR`
    /// event in a watch). Classify it with [`Error::is_not_found`], [`Error::is_conflict`],
    /// [`Error::is_gone`] and the other helpers.
    #[error("the API server answered {0}")]
    Api(Box<Status>),

    /// The request did not get an answer, or its answer broke off: connection refused,
    /// reset, timed out, stalled. The message shows the whole chain of causes.
    #[error("{context}: {}", error_chain(.source.as_ref()))]
    Transport {
        /// What was being done, for example `GET https://10.0.0.1/api/v1/pods`.
        context: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },

    /// The TLS handshake failed, for example because the server's certificate is not
    /// signed by the configured certificate authority.
    #[error("{message}")]
    Tls {
        /// What failed and what to check.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },

    /// A response body (or one line of a watch) is not the JSON that was expected.
    #[error("{context}: {source}")]
    Decode {
        /// What was being decoded.
        context: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// One watch event is larger than the configured limit
    /// ([`Config::max_watch_event_size`](super::Config::max_watch_event_size)).
    #[error(
        "a watch event exceeded {limit} bytes; raise Config::max_watch_event_size if the \
         objects are really that large"
    )]
    EventTooLarge {
        /// The limit in bytes.
        limit: usize,
    },

    /// An answer (one object, one item of a list, an error body), an exec plugin's output
    /// or a configuration file is larger than its cap, for example
    /// [`Config::max_object_size`](super::Config::max_object_size).
    #[error("{what} exceeded {limit} bytes; {remedy}")]
    TooLarge {
        /// What was too large.
        what: String,
        /// The cap in bytes.
        limit: usize,
        /// What to do about it.
        remedy: String,
    },

    /// The configuration (kubeconfig, in-cluster files) is missing or invalid.
    #[error("{0}")]
    Config(String),

    /// Credentials could not be obtained (token file unreadable, exec plugin failed).
    #[error("{0}")]
    Auth(String),

    /// The request itself is invalid (for example `replace` of an object without a name).
    #[error("{0}")]
    InvalidRequest(String),
}

impl Error {
    /// The server's `Status`, if the server answered with one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api(s) => Some(s),
            _ => None,
        }
    }

    /// The HTTP code of the server's answer, if there was one.
    pub fn code(&self) -> Option<u16> {
        self.status().map(|s| s.code)
    }

    fn reason_or_code(&self, reason: &str, code: u16) -> bool {
        self.status()
            .is_some_and(|s| s.reason_or_code(reason, code))
    }

    /// `404 NotFound`: the object (or the resource) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.reason_or_code("NotFound", 404)
    }

    /// `409 AlreadyExists`: a create found an object with that name.
    pub fn is_already_exists(&self) -> bool {
        self.status().is_some_and(|s| s.reason == "AlreadyExists")
    }

    /// `409 Conflict`: the object changed since it was read (resourceVersion precondition
    /// failed); re-read and try again.
    pub fn is_conflict(&self) -> bool {
        self.reason_or_code("Conflict", 409)
    }

    /// `410`: the requested resourceVersion (or continue token) is no longer available,
    /// whether the reason is `Gone` or `Expired`. A reflector relists.
    pub fn is_gone(&self) -> bool {
        self.status().is_some_and(Status::is_gone)
    }

    /// Reason `Expired`: a resourceVersion or continue token was compacted away (client-go's
    /// `IsResourceExpired`).
    pub fn is_expired(&self) -> bool {
        self.status().is_some_and(Status::is_expired)
    }

    /// `429 TooManyRequests`: the server is shedding load; see [`Error::retry_after`].
    pub fn is_too_many_requests(&self) -> bool {
        self.status().is_some_and(Status::is_too_many_requests)
    }

    /// `504` with cause `ResourceVersionTooLarge`: the requested resourceVersion is newer
    /// than the server's (client-go's `IsTooLargeResourceVersion`).
    pub fn is_too_large_resource_version(&self) -> bool {
        self.status()
            .is_some_and(Status::is_too_large_resource_version)
    }

    /// `401 Unauthorized`: the credentials were refused.
    pub fn is_unauthorized(&self) -> bool {
        self.reason_or_code("Unauthorized", 401)
    }

    /// `403 Forbidden`: the credentials lack permission.
    pub fn is_forbidden(&self) -> bool {
        self.reason_or_code("Forbidden", 403)
    }

    /// `422 Invalid`: the object failed validation.
    pub fn is_invalid(&self) -> bool {
        self.reason_or_code("Invalid", 422)
    }

    /// `400 BadRequest`.
    pub fn is_bad_request(&self) -> bool {
        self.reason_or_code("BadRequest", 400)
    }

    /// `500 InternalError`.
    pub fn is_internal_error(&self) -> bool {
        self.reason_or_code("InternalError", 500)
    }

    /// `503 ServiceUnavailable`.
    pub fn is_service_unavailable(&self) -> bool {
        self.reason_or_code("ServiceUnavailable", 503)
    }

    /// `504 Timeout` (the server gave up waiting, for example for a future resourceVersion).
    pub fn is_timeout(&self) -> bool {
        self.reason_or_code("Timeout", 504)
    }

    /// Reason `ServerTimeout`: the server could not complete the request in time.
    pub fn is_server_timeout(&self) -> bool {
        self.status().is_some_and(|s| s.reason == "ServerTimeout")
    }

    /// Whether the request never got an answer (connection or TLS failure).
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport { .. } | Error::Tls { .. })
    }

    /// Whether the connection was refused: nothing listens at the server's address, as
    /// while an API server restarts.
    pub fn is_connection_refused(&self) -> bool {
        self.transport_cause(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        })
    }

    /// Whether the connection broke before the whole answer came: reset, or closed in
    /// the middle of the response (as when a server restarts). A request sent again may
    /// well succeed.
    pub fn is_connection_broken(&self) -> bool {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
        self.transport_cause(|e| {
            let io_broke = e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
                )
            });
            io_broke
                || e.downcast_ref::<hyper::Error>()
                    .is_some_and(hyper::Error::is_incomplete_message)
        })
    }

    /// Whether this is a transport error with a cause, at any depth, that `is` accepts.
    fn transport_cause(&self, is: impl Fn(&(dyn std::error::Error + 'static)) -> bool) -> bool {
        let Error::Transport { source, .. } = self else {
            return false;
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
        while let Some(e) = cause {
            if is(e) {
                return true;
            }
            cause = e.source();
        }
        false
    }

    /// How long the server asked the client to wait (`Retry-After`, or
    /// `details.retryAfterSeconds`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.status().and_then(Status::retry_after)
    }

    pub(crate) fn transport(context: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Transport {
            context: context.into(),
            source: source.into(),
        }
    }

    /// An answer larger than [`Config::max_object_size`](super::Config::max_object_size).
    pub(crate) fn too_large(what: impl Into<String>, limit: usize) -> Error {
        Error::TooLarge {
            what: what.into(),
            limit,
            remedy: "raise Config::max_object_size if the objects are really that large".to_owned(),
        }
    }

    pub(crate) fn decode(context: impl Into<String>, source: serde_json::Error) -> Error {
        Error::Decode {
            context: context.into(),
            source,
        }
    }
}

/// An error and its causes, as `error: cause: cause`; a cause whose text the message
/// before it already shows is left out (HTTP libraries often repeat their cause).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// The reason a server gives for an HTTP code, used when a failure's body is not a
/// `Status` (client-go's `reasonForCode`).
pub(crate) fn reason_for_code(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

/// Builds the `Status` of a failed response from its code, body and `Retry-After` header.
pub(crate) fn status_from_response(code: u16, body: &[u8], retry_after: Option<u32>) -> Status {
    let mut status = match serde_json::from_slice::<Status>(body) {
        Ok(s) if s.kind.as_deref() == Some("Status") || !s.reason.is_empty() => s,
        _ => {
            let text = String::from_utf8_lossy(&body[..body.len().min(1024)]);
            let message = if text.trim().is_empty() {
                format!("the server answered HTTP {code} with no explanation")
            } else {
                format!("the server answered HTTP {code}: {}", text.trim())
            };
            Status::failure(code, reason_for_code(code), message)
        }
    };
    if status.code == 0 {
        status.code = code;
    }
    if let Some(secs) = retry_after {
        let details = status.details.get_or_insert_with(Default::default);
        if details.retry_after_seconds.is_none() {
            details.retry_after_seconds = i32::try_from(secs).ok();
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> Error {
        Error::Api(Box::new(Status::failure(code, reason, "m")))
    }

    #[test]
    fn helpers_follow_reason_then_code() {
        assert!(api(404, "NotFound").is_not_found());
        assert!(api(409, "AlreadyExists").is_already_exists());
        assert!(!api(409, "AlreadyExists").is_conflict());
        assert!(api(409, "Conflict").is_conflict());
        assert!(api(410, "Expired").is_gone());
        assert!(api(410, "Expired").is_expired());
        assert!(api(410, "Gone").is_gone());
        assert!(!api(410, "Gone").is_expired());
        assert!(api(429, "TooManyRequests").is_too_many_requests());
        assert!(api(500, "").is_internal_error());
        assert!(!api(500, "").is_not_found());
    }

    #[test]
    fn transport_errors_show_their_causes() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Error::transport(
            "GET http://x/api",
            Outer(std::io::Error::other("connection reset by peer")),
        );
        assert_eq!(
            e.to_string(),
            "GET http://x/api: error sending request: connection reset by peer"
        );
    }

    #[test]
    fn non_status_body_becomes_status() {
        let s = status_from_response(503, b"<html>down</html>", Some(3));
        assert_eq!(s.code, 503);
        assert_eq!(s.reason, "ServiceUnavailable");
        assert!(s.message.contains("down"));
        assert_eq!(s.retry_after_seconds(), Some(3));
    }
}
