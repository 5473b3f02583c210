//! Fault injection, scriptable from tests: drop watches, fail requests, delay responses,
//! corrupt a watch stream, compact the history, restart.
//!
//! [`Faults`] is a handle on a storage and its fault rules, shared by the HTTP server and
//! by every [`FakeListerWatcher`](super::FakeListerWatcher) on the same storage. Request
//! failures are rules kept here and consulted before a request is served (by the HTTP
//! layer after routing, by the fake at the start of each call); watch faults are messages
//! the storage sends to every open watch; compaction acts on the storage; a restart is
//! announced on a channel that the server's connections and the fake's watches listen to.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use super::storage::{Storage, WatchMsg};

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

/// The request-level fault rules, the response delay and the restart signal.
pub(crate) struct FaultState {
    rules: Mutex<Vec<Rule>>,
    delay: Mutex<Option<Duration>>,
    /// Bumped by a simulated restart: every connection and fake watch is cut.
    restart: watch::Sender<u64>,
}

impl Default for FaultState {
    fn default() -> Self {
        FaultState {
            rules: Mutex::new(Vec::new()),
            delay: Mutex::new(None),
            restart: watch::channel(0).0,
        }
    }
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

    /// A receiver that changes at every simulated restart.
    pub(crate) fn restarts(&self) -> watch::Receiver<u64> {
        self.restart.subscribe()
    }
}

/// Fault injection on a running [`ApiServer`](super::ApiServer) or a
/// [`FakeListerWatcher`](super::FakeListerWatcher); get it with
/// [`ApiServer::faults`](super::ApiServer::faults) or
/// [`FakeListerWatcher::faults`](super::FakeListerWatcher::faults). Every server and fake
/// on the same storage shares one set of faults. Cheap to clone.
///
/// ```
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    storage: Arc<Storage>,
    state: Arc<FaultState>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Faults {
    pub(crate) fn new(storage: Arc<Storage>, state: Arc<FaultState>) -> Faults {
        Faults { storage, state }
    }

    /// Ends every open watch now, cleanly (the response ends as at a timeout).
    pub fn drop_watches(&self) {
        self.storage.drop_watchers();
    }

    /// Ends every open watch after it has sent `events` more events.
    pub fn drop_watches_after(&self, events: usize) {
        self.storage.broadcast(|| WatchMsg::DropAfter(events));
    }

    /// Fails the next `n` requests whose verb is `verb` (any verb when `None`) and whose
    /// path contains `path` (for example `"/pods"` or `"/namespaces/shop/configmaps"`).
    /// Rules are consulted in the order they were added. A fake's list and watch calls
    /// count as [`Verb::List`] and [`Verb::Watch`] requests on the path the HTTP request
    /// would have (`/api/v1/namespaces/shop/pods`, `/apis/apps/v1/deployments`).
    pub fn fail_next(&self, n: usize, verb: Option<Verb>, path: &str, failure: Failure) {
        if n == 0 {
            return;
        }
        self.state.rules.lock().push(Rule {
            verb,
            path: path.to_owned(),
            left: n,
            failure,
        });
    }

    /// Forgets every pending request failure and the delay.
    pub fn clear(&self) {
        self.state.rules.lock().clear();
        *self.state.delay.lock() = None;
    }

    /// Delays every response (and every list or watch call of a fake) by `delay`
    /// (`None`: no delay).
    pub fn set_delay(&self, delay: Option<Duration>) {
        *self.state.delay.lock() = delay;
    }

    /// Writes one malformed line into every open watch, before its next event.
    pub fn malformed_line(&self) {
        self.storage.broadcast(|| WatchMsg::Malformed);
    }

    /// Compacts the history now: watches from, lists at and continue tokens for any
    /// earlier resourceVersion answer `410 Expired`.
    pub fn compact(&self) {
        self.storage.compact();
    }

    /// Compacts the history up to `revision` (a resourceVersion), as etcd's compaction
    /// does: watches from, lists at and continue tokens for a version before it answer
    /// `410 Expired`; those at or after it are still served. A revision past the current
    /// one compacts everything; one before an earlier compaction changes nothing.
    pub fn compact_to(&self, revision: u64) {
        self.storage.compact_to(revision);
    }

    /// Simulates a restart: every connection (watches included) is cut without a clean
    /// end, and the state is kept; with `compact`, the history is compacted too, as after
    /// a restart of a real API server whose watch cache starts empty. The server keeps its
    /// address. A fake's open watches end with an [`Error::Transport`] item, as a client's
    /// watch does when its connection is cut.
    ///
    /// [`Error::Transport`]: crate::client::Error::Transport
    pub fn restart(&self, compact: bool) {
        if compact {
            self.storage.compact();
        }
        self.state.restart.send_modify(|g| *g += 1);
        self.storage.drop_watchers();
    }
}
