//! Watch semantics shared by the HTTP server and the fake lister-watcher: from the current
//! state, from a resourceVersion in the history, or as a streaming initial list; with
//! bookmarks, timeouts, selector transitions and faults.
//!
//! A watch subscribes to the storage (which hands it the initial state or the history to
//! replay, and then every new event of the resource), and a task per watch turns events
//! into lines of newline-delimited JSON, the watch wire format, sent in batches on a
//! channel ([`open`]). An event's line was serialised once, when it was written
//! ([`Stored::watch_line`]), and every watch that sees the event as it happened sends that
//! same buffer; only an event seen differently (an object entering or leaving a selector,
//! or the initial state sent as `ADDED`) is framed again; one that leaves the selection
//! is sent as it last matched, stamped with the version of the write that moved it out.
//! Events that are already waiting go out in one batch. The HTTP server writes each batch as one chunk of the response,
//! in one vectored write of the shared buffers; the fake lister-watcher decodes the lines
//! with the client's own watch decoder. Dropping the receiver ends the watch task.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::errors;
use super::fields::FieldFilter;
use super::options;
use super::query::ListOptions;
use super::resources::ResourceInfo;
use super::storage::{Event, EventType, Storage, Stored, Subscription, WatchMsg, WatchStart};
use crate::meta::{
    ApiResource, Bookmark, BookmarkMeta, DynamicObject, Status, WatchEvent,
    INITIAL_EVENTS_END_ANNOTATION,
};
use crate::selector::LabelSelector;

/// Send a batch once it holds this many bytes, even if more events wait.
const BATCH_BYTES: usize = 64 * 1024;

/// Send a batch once it holds this many lines: hyper writes at most 64 buffers at once,
/// and a chunk adds its size line and its end, so a batch stays one write.
const BATCH_LINES: usize = 60;

/// The lines of a watch that are sent together.
pub(crate) type Lines = Vec<Bytes>;

/// How far before `timeoutSeconds` ends a watch the last bookmark is sent.
const BOOKMARK_BEFORE_TIMEOUT: Duration = Duration::from_secs(2);

/// What one watch selects and how it behaves.
struct WatchSpec {
    api: ApiResource,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldFilter,
    bookmarks: bool,
    bookmark_interval: Duration,
    timeout: Option<Duration>,
    initial_events_end: bool,
}

impl WatchSpec {
    fn selects(&self, obj: &Stored) -> bool {
        self.ns.as_deref().is_none_or(|ns| obj.namespace() == ns)
            && self.fields.matches(obj)
            && self
                .labels
                .matches_labels(obj.meta.labels.as_ref().map(Into::into))
    }

    /// The event type this watch sees for `ev`, if any: a modification that moves an
    /// object in or out of the selection is an `ADDED` or a `DELETED`.
    fn view(&self, ev: &Event) -> Option<EventType> {
        let now = self.selects(&ev.obj);
        match ev.kind {
            EventType::Added | EventType::Deleted => now.then_some(ev.kind),
            EventType::Modified => {
                let before = ev.prev.as_deref().is_some_and(|p| self.selects(p));
                match (before, now) {
                    (true, true) => Some(EventType::Modified),
                    (true, false) => Some(EventType::Deleted),
                    (false, true) => Some(EventType::Added),
                    (false, false) => None,
                }
            }
        }
    }
}

/// The line a watch sends for `ev`, seen as `kind`: an object that stopped matching
/// leaves as `DELETED` carrying its last matching state, at the event's version, as a
/// real server sends it.
fn line_for(ev: &Event, kind: EventType) -> Bytes {
    match (&ev.prev, ev.kind, kind) {
        (Some(prev), EventType::Modified, EventType::Deleted) => prev
            .watch_line_at(kind, ev.rv)
            .unwrap_or_else(|_| ev.obj.watch_line(kind)),
        _ => ev.obj.watch_line(kind),
    }
}

/// Lines waiting to be sent, and their size.
#[derive(Default)]
struct Batch {
    lines: Lines,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, line: Bytes) {
        self.bytes += line.len();
        self.lines.push(line);
    }

    fn push_json(&mut self, event: &WatchEvent<DynamicObject>) {
        if let Ok(mut line) = serde_json::to_vec(event) {
            line.push(b'\n');
            self.push(Bytes::from(line));
        }
    }

    fn push_bookmark(&mut self, api: &ApiResource, rv: u64, end_of_initial: bool) {
        let annotations = end_of_initial.then(|| {
            [(INITIAL_EVENTS_END_ANNOTATION.to_owned(), "true".to_owned())]
                .into_iter()
                .collect()
        });
        let bookmark = Bookmark {
            api_version: Some(api.api_version()),
            kind: Some(api.kind.clone()),
            metadata: BookmarkMeta {
                resource_version: rv.to_string(),
                annotations,
            },
        };
        self.push_json(&WatchEvent::Bookmark(bookmark));
    }

    fn full(&self) -> bool {
        self.bytes >= BATCH_BYTES || self.lines.len() >= BATCH_LINES
    }

    fn take(&mut self) -> Lines {
        self.bytes = 0;
        std::mem::take(&mut self.lines)
    }
}

/// A watch body carrying one `ERROR` event and then the end of the stream, as a real
/// server answers (with HTTP 200) a watch it cannot serve.
pub(crate) fn error_body(status: Status) -> mpsc::Receiver<Lines> {
    let mut batch = Batch::default();
    batch.push_json(&WatchEvent::Error(status));
    let (tx, rx) = mpsc::channel(1);
    // The channel is new and has room for one batch: this cannot fail.
    let _ = tx.try_send(batch.take());
    rx
}

/// Opens a watch: the chunks of newline-delimited JSON it writes, until it ends. A request
/// the server refuses outright (bad options) is an `Err`; a watch from a compacted
/// resourceVersion is a body with one `ERROR` event, as on the wire.
pub(crate) fn open(
    storage: &Arc<Storage>,
    info: &ResourceInfo,
    ns: Option<&str>,
    opts: &ListOptions,
    bookmark_interval: Duration,
) -> Result<mpsc::Receiver<Lines>, Status> {
    let (send_initial_events, rv_match) = options::watch_defaults(opts);
    options::check_watch(opts, send_initial_events, rv_match)?;
    let streaming = send_initial_events == Some(true);
    let rv = opts.rv_number()?;
    let fields = FieldFilter::new(info, &opts.fields)?;
    let start = match (send_initial_events, rv) {
        (Some(true), _) | (None, None | Some(0)) => WatchStart::State,
        // sendInitialEvents=false without a version: only changes from now on.
        (Some(false), None | Some(0)) => WatchStart::From(storage.current_rv()),
        (_, Some(n)) => WatchStart::From(n),
    };
    let sub = match storage.subscribe(info, ns, start) {
        Ok(sub) => sub,
        Err(oldest) => {
            return Ok(error_body(errors::watch_expired(
                rv.unwrap_or_default(),
                oldest,
            )))
        }
    };
    let spec = WatchSpec {
        api: info.api.clone(),
        ns: ns.map(str::to_owned),
        labels: opts.labels.clone(),
        fields,
        bookmarks: opts.allow_bookmarks,
        bookmark_interval,
        timeout: opts.timeout,
        // Without bookmarks, a streaming list sends its initial events and no end mark.
        initial_events_end: streaming && opts.allow_bookmarks,
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(storage.clone(), sub, spec, tx));
    Ok(rx)
}

/// Forgets the subscription when the watch task ends, however it ends.
struct Unsubscribe {
    storage: Arc<Storage>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.storage.unsubscribe(self.id);
    }
}

/// The state of one running watch.
struct Runner {
    spec: WatchSpec,
    batch: Batch,
    /// The last resourceVersion this watch has seen (sent or filtered out).
    last_rv: u64,
    /// Events left before a `DropAfter` fault ends the watch.
    left: Option<usize>,
}

impl Runner {
    /// Handles one message; `false` when the watch must end.
    fn handle(&mut self, msg: WatchMsg) -> bool {
        match msg {
            WatchMsg::Event(ev) => {
                if ev.rv <= self.last_rv {
                    return true;
                }
                self.last_rv = ev.rv;
                if let Some(kind) = self.spec.view(&ev) {
                    self.batch.push(line_for(&ev, kind));
                    if let Some(left) = self.left.as_mut() {
                        *left = left.saturating_sub(1);
                        return *left > 0;
                    }
                }
                true
            }
            WatchMsg::Malformed => {
                self.batch.push(Bytes::from_static(
                    b"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":\n",
                ));
                true
            }
            WatchMsg::DropAfter(n) => {
                self.left = Some(n);
                n > 0
            }
        }
    }

    async fn flush(&mut self, tx: &mpsc::Sender<Lines>) -> bool {
        if self.batch.lines.is_empty() {
            return true;
        }
        tx.send(self.batch.take()).await.is_ok()
    }
}

async fn run(
    storage: Arc<Storage>,
    mut sub: Subscription,
    spec: WatchSpec,
    tx: mpsc::Sender<Lines>,
) {
    let _guard = Unsubscribe {
        storage: storage.clone(),
        id: sub.id,
    };
    let start_rv = sub.rv;
    let mut r = Runner {
        spec,
        batch: Batch::default(),
        last_rv: sub.rv,
        left: None,
    };
    for obj in std::mem::take(&mut sub.initial) {
        if r.spec.selects(&obj) {
            r.batch.push(obj.watch_line(EventType::Added));
            if r.batch.full() && !r.flush(&tx).await {
                return;
            }
        }
    }
    if r.spec.initial_events_end {
        r.batch.push_bookmark(&r.spec.api, start_rv, true);
    }
    for ev in std::mem::take(&mut sub.replay) {
        if !r.handle(WatchMsg::Event(ev)) {
            r.flush(&tx).await;
            return;
        }
        if r.batch.full() && !r.flush(&tx).await {
            return;
        }
    }
    if !r.flush(&tx).await {
        return;
    }

    let now = Instant::now();
    // A timeout too large to add to the clock means no deadline.
    let deadline = r.spec.timeout.and_then(|t| now.checked_add(t));
    // The bookmark shortly before the deadline, sent once.
    let mut last_call = deadline.map(|d| {
        d.checked_sub(BOOKMARK_BEFORE_TIMEOUT)
            .unwrap_or(now)
            .max(now)
    });
    let interval = r.spec.bookmark_interval.max(Duration::from_millis(1));
    let mut next_periodic = now.checked_add(interval);
    loop {
        let next_bookmark = match (last_call, next_periodic) {
            (Some(l), Some(p)) => Some(l.min(p)),
            (l, p) => l.or(p),
        };
        let mut go_on = true;
        tokio::select! {
            msg = sub.rx.recv() => match msg {
                None => go_on = false,
                Some(msg) => {
                    go_on = r.handle(msg);
                    while go_on && !r.batch.full() {
                        match sub.rx.try_recv() {
                            Ok(msg) => go_on = r.handle(msg),
                            Err(_) => break,
                        }
                    }
                }
            },
            _ = sleep_until_opt(next_bookmark), if r.spec.bookmarks => {
                // Every event up to `current` is already queued for this watch: take
                // them first, so that the bookmark never goes back in time.
                let current = storage.current_rv();
                while go_on {
                    match sub.rx.try_recv() {
                        Ok(msg) => go_on = r.handle(msg),
                        Err(_) => break,
                    }
                }
                let at = current.max(r.last_rv);
                if go_on && at > start_rv {
                    r.batch.push_bookmark(&r.spec.api, at, false);
                }
                let fired = Instant::now();
                if last_call.is_some_and(|l| l <= fired) {
                    last_call = None;
                }
                if next_periodic.is_some_and(|p| p <= fired) {
                    next_periodic = fired.checked_add(interval);
                }
            }
            _ = sleep_until_opt(deadline) => go_on = false,
            _ = tx.closed() => return,
        }
        if !r.flush(&tx).await || !go_on {
            return;
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
