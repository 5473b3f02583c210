//! Fault injection, scriptable from tests: drop watches, fail requests, delay responses,
//! corrupt a watch stream, compact the history, restart.
//!
//! [`Faults`] is a handle on the running server. Request failures are rules kept here and
//! consulted by the HTTP layer before it routes a request; watch faults are messages the
//! storage sends to every open watch; compaction and restarts act on the storage and on
//! the connections directly.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::server::Shared;
use super::storage::WatchMsg;

/// What a request does, as fault rules match it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET of one object (or its status).
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST to a collection.
    Create,
    /// PUT of an object (or its status).
    Update,
    /// PATCH of an object (or its status).
    Patch,
    /// DELETE of an object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
}

/// How an injected failure answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The HTTP code: 410, 429, 500 and 503 get the `Status` a real server sends with
    /// them; other codes a generic one. A watch failing with 410 answers `200` with one
    /// `ERROR` event, as a real server does.
    pub code: u16,
    /// For 429: the `Retry-After` seconds (header and `details.retryAfterSeconds`).
    pub retry_after: Option<u32>,
}

impl Failure {
    /// A failure with this code.
    pub fn status(code: u16) -> Failure {
        Failure {
            code,
            retry_after: None,
        }
    }

    /// `429 TooManyRequests` with `Retry-After: seconds`.
    pub fn too_many_requests(seconds: u32) -> Failure {
        Failure {
            code: 429,
            retry_after: Some(seconds),
        }
    }
}

struct Rule {
    verb: Option<Verb>,
    path: String,
    left: usize,
    failure: Failure,
}

/// The request-level fault rules and the response delay.
#[derive(Default)]
pub(crate) struct FaultState {
    rules: Mutex<Vec<Rule>>,
    delay: Mutex<Option<Duration>>,
}

impl FaultState {
    /// The failure for this request, if a rule matches; counts it against the rule.
    pub(crate) fn take(&self, verb: Verb, path: &str) -> Option<Failure> {
        let mut rules = self.rules.lock();
        let i = rules.iter().position(|r| {
            r.left > 0 && r.verb.is_none_or(|v| v == verb) && path.contains(r.path.as_str())
        })?;
        let rule = &mut rules[i];
        rule.left -= 1;
        let failure = rule.failure;
        if rule.left == 0 {
            rules.remove(i);
        }
        Some(failure)
    }

    /// The delay to add before answering, if any.
    pub(crate) fn delay(&self) -> Option<Duration> {
        *self.delay.lock()
    }
}

/// Fault injection on a running [`ApiServer`](super::ApiServer); get it with
/// [`ApiServer::faults`](super::ApiServer::faults). Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use informer::testing::{ApiServer, Failure, Verb};
/// let server = ApiServer::start().await?;
/// // The next two pod lists answer 429 with Retry-After: 1.
/// server.faults().fail_next(2, Some(Verb::List), "/pods", Failure::too_many_requests(1));
/// server.faults().drop_watches();
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Faults {
    pub(crate) shared: Arc<Shared>,
}

impl Faults {
    /// Ends every open watch now, cleanly (the response ends as at a timeout).
    pub fn drop_watches(&self) {
        self.shared.storage.drop_watchers();
    }

    /// Ends every open watch after it has sent `events` more events.
    pub fn drop_watches_after(&self, events: usize) {
        self.shared
            .storage
            .broadcast(|| WatchMsg::DropAfter(events));
    }

    /// Fails the next `n` requests whose verb is `verb` (any verb when `None`) and whose
    /// path contains `path` (for example `"/pods"` or `"/namespaces/shop/configmaps"`).
    /// Rules are consulted in the order they were added.
    pub fn fail_next(&self, n: usize, verb: Option<Verb>, path: &str, failure: Failure) {
        if n == 0 {
            return;
        }
        self.shared.faults.rules.lock().push(Rule {
            verb,
            path: path.to_owned(),
            left: n,
            failure,
        });
    }

    /// Forgets every pending request failure and the delay.
    pub fn clear(&self) {
        self.shared.faults.rules.lock().clear();
        *self.shared.faults.delay.lock() = None;
    }

    /// Delays every response by `delay` (`None`: no delay).
    pub fn set_delay(&self, delay: Option<Duration>) {
        *self.shared.faults.delay.lock() = delay;
    }

    /// Writes one malformed line into every open watch, before its next event.
    pub fn malformed_line(&self) {
        self.shared.storage.broadcast(|| WatchMsg::Malformed);
    }

    /// Compacts the history now: watches from, lists at and continue tokens for any
    /// earlier resourceVersion answer `410 Expired`.
    pub fn compact(&self) {
        self.shared.storage.compact();
    }

    /// Simulates a restart: every connection (watches included) is cut without a clean
    /// end, and the state is kept; with `compact`, the history is compacted too, as after
    /// a restart of a real API server whose watch cache starts empty. The server keeps its
    /// address.
    pub fn restart(&self, compact: bool) {
        if compact {
            self.shared.storage.compact();
        }
        self.shared.restart.send_modify(|g| *g += 1);
        self.shared.storage.drop_watchers();
    }
}
