//! `ListWatchError`: why a list or a watch failed, in the terms a reflector acts on.
//!
//! A [`ListerWatcher`](super::ListerWatcher) reports every failure as a
//! [`ListWatchError`]: a [`ListWatchErrorKind`] that says what the reflector should do
//! (relist from the newest state, retry the watch, back off), the server's [`Status`]
//! when it answered with one, and the original error underneath (for the client's
//! lister-watcher, a `client::Error`), which [`ListWatchError::get_ref`] hands back for
//! downcasting. The informer framework never names the HTTP client's error type.

use std::time::Duration;

use crate::meta::Status;

/// A boxed error, kept as the cause of a [`ListWatchError`].
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of a [`ListerWatcher`](super::ListerWatcher) call.
pub type ListWatchResult<T> = Result<T, ListWatchError>;

/// What kind of failure a list or watch met: what a reflector needs to know to react.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListWatchErrorKind {
    /// Reason `Expired` (the server sends it with `410`): the resourceVersion or
    /// continue token asked for was compacted away. A pager falls back to a full list;
    /// a reflector relists.
    Expired,
    /// Code `410` or reason `Gone`, without reason `Expired`: the resourceVersion is no
    /// longer available. A reflector relists.
    Gone,
    /// The requested resourceVersion is newer than the server's (cause
    /// `ResourceVersionTooLarge`, which the server sends with `504`, or its message). A
    /// reflector relists from the newest state.
    TooLargeResourceVersion,
    /// `429 TooManyRequests`: the server sheds load; wait [`ListWatchError::retry_after`]
    /// and try again.
    TooManyRequests,
    /// The connection was refused: nothing listens at the server's address, as while
    /// it restarts. A reflector reopens its watch without relisting.
    ConnectionRefused,
    /// The server answered with another failure [`Status`].
    Rejected,
    /// No answer, or a broken one: a transport failure, a stream cut off, a malformed
    /// body. A reflector reopens its watch from the last resourceVersion.
    Broken,
}

impl ListWatchErrorKind {
    /// The kind of failure a server's `Status` reports.
    pub fn of_status(status: &Status) -> Self {
        if status.is_expired() {
            ListWatchErrorKind::Expired
        } else if status.is_gone() {
            ListWatchErrorKind::Gone
        } else if status.is_too_large_resource_version() {
            ListWatchErrorKind::TooLargeResourceVersion
        } else if status.is_too_many_requests() {
            ListWatchErrorKind::TooManyRequests
        } else {
            ListWatchErrorKind::Rejected
        }
    }
}

/// Why a list or watch of a [`ListerWatcher`](super::ListerWatcher) failed.
///
/// It displays as the error underneath. Build one from a server's [`Status`] (which is
/// classified), from a kind and any error, or, with the client, from a `client::Error`
/// (`?` converts).
///
/// ```
/// use informer::cache::{ListWatchError, ListWatchErrorKind};
/// use informer::meta::Status;
///
/// let e = ListWatchError::from_status(Status::failure(410, "Expired", "too old resource version"));
/// assert_eq!(e.kind(), ListWatchErrorKind::Expired);
/// assert!(e.is_expired() && e.is_gone());
/// assert_eq!(e.status().map(|s| s.code), Some(410));
///
/// let broken = ListWatchError::new(ListWatchErrorKind::Broken, "connection reset");
/// assert!(broken.status().is_none());
/// assert_eq!(broken.to_string(), "connection reset");
/// ```
#[derive(Debug)]
pub struct ListWatchError {
    kind: ListWatchErrorKind,
    status: Option<Box<Status>>,
    retry_after: Option<Duration>,
    error: BoxError,
}

impl ListWatchError {
    /// A failure of this kind caused by `error` (a message or any error), without a
    /// server's `Status`.
    pub fn new(kind: ListWatchErrorKind, error: impl Into<BoxError>) -> Self {
        ListWatchError {
            kind,
            status: None,
            retry_after: None,
            error: error.into(),
        }
    }

    /// The failure a server's `Status` reports (for example a watch's `ERROR` event).
    pub fn from_status(status: Status) -> Self {
        ListWatchError {
            kind: ListWatchErrorKind::of_status(&status),
            retry_after: status.retry_after(),
            status: Some(Box::new(status.clone())),
            error: Box::new(status),
        }
    }

    /// The failure a server's `Status` reports, carried by `error` (the client's error
    /// that holds it, say).
    pub fn with_status(status: Status, error: impl Into<BoxError>) -> Self {
        ListWatchError {
            kind: ListWatchErrorKind::of_status(&status),
            retry_after: status.retry_after(),
            status: Some(Box::new(status)),
            error: error.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ListWatchErrorKind {
        self.kind
    }

    /// The server's `Status`, if the server answered with one.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_deref()
    }

    /// The HTTP code of the server's answer, if there was one.
    pub fn code(&self) -> Option<u16> {
        self.status().map(|s| s.code)
    }

    /// How long the server asked to wait before the next attempt, if it did (from its
    /// `Status`, or as set by [`with_retry_after`](Self::with_retry_after)).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The same failure, asking the reflector to wait at least `delay` before the next
    /// attempt (as a `Retry-After` header does; the reflector caps it at
    /// [`MAX_RETRY_AFTER`](super::MAX_RETRY_AFTER)).
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// Reason `Expired` (see [`ListWatchErrorKind::Expired`]).
    pub fn is_expired(&self) -> bool {
        self.kind == ListWatchErrorKind::Expired
    }

    /// Any `410`, `Expired` or `Gone`: the version asked for is no longer available.
    pub fn is_gone(&self) -> bool {
        matches!(
            self.kind,
            ListWatchErrorKind::Expired | ListWatchErrorKind::Gone
        )
    }

    /// The error underneath, for example to downcast to the client's error.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.error.as_ref()
    }

    /// The error underneath, by value.
    pub fn into_inner(self) -> BoxError {
        self.error
    }
}

impl std::fmt::Display for ListWatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// As `std::io::Error` does with a custom error, the source is the underlying error's
/// own source: the underlying error is this error's message, not a cause beneath it
/// (reach it with [`ListWatchError::get_ref`]).
impl std::error::Error for ListWatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl From<Status> for ListWatchError {
    fn from(status: Status) -> Self {
        ListWatchError::from_status(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{StatusCause, StatusDetails};

    fn with_cause(code: u16, reason: &str, cause: &str) -> Status {
        Status {
            details: Some(StatusDetails {
                causes: vec![StatusCause {
                    reason: Some(cause.to_owned()),
                    ..StatusCause::default()
                }],
                ..StatusDetails::default()
            }),
            ..Status::failure(code, reason, "")
        }
    }

    #[test]
    fn statuses_are_classified_as_the_reflector_needs() {
        use ListWatchErrorKind::*;
        let cases = [
            (
                Status::failure(410, "Expired", "too old resource version"),
                Expired,
            ),
            (Status::failure(410, "Gone", "gone"), Gone),
            (Status::failure(410, "", "no reason"), Gone),
            (Status::failure(500, "Expired", "reason decides"), Expired),
            (
                with_cause(504, "Timeout", "ResourceVersionTooLarge"),
                TooLargeResourceVersion,
            ),
            (
                Status::failure(504, "Timeout", "Too large resource version: 9, current: 3"),
                TooLargeResourceVersion,
            ),
            // A 410 that also says too large is still a 410: relist from the newest.
            (with_cause(410, "Gone", "ResourceVersionTooLarge"), Gone),
            (
                Status::failure(429, "TooManyRequests", "slow down"),
                TooManyRequests,
            ),
            (
                Status::failure(429, "", "no reason: the code decides"),
                TooManyRequests,
            ),
            (Status::failure(503, "ServiceUnavailable", "busy"), Rejected),
            (Status::failure(403, "Forbidden", "no"), Rejected),
        ];
        for (status, kind) in cases {
            let e = ListWatchError::from_status(status.clone());
            assert_eq!(e.kind(), kind, "{status}");
            assert_eq!(e.status(), Some(&status));
        }
    }

    #[test]
    fn retry_after_comes_from_the_status_or_is_set() {
        let mut s = Status::failure(429, "TooManyRequests", "slow down");
        s.details = Some(StatusDetails {
            retry_after_seconds: Some(3),
            ..StatusDetails::default()
        });
        assert_eq!(
            ListWatchError::from_status(s).retry_after(),
            Some(Duration::from_secs(3))
        );
        let e = ListWatchError::new(ListWatchErrorKind::TooManyRequests, "busy")
            .with_retry_after(Duration::from_secs(2));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert!(ListWatchError::new(ListWatchErrorKind::Broken, "x")
            .retry_after()
            .is_none());
    }
}
