//! The [`Recorder`]: what a controller calls to record an event. It never waits for the
//! server: an event is stamped with the time, put on a bounded queue and handed to a
//! writer task, which correlates it and writes it (see [`writer`](super::writer)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::correlator::CorrelatorOptions;
use super::writer::{Pending, Writer, WriterConfig};
use super::{EventType, ObjectReference};
use crate::client::RestClient;
use crate::clock::{Clock, SystemClock};
use crate::meta::{Object, Resource};

/// Which API the recorder writes events to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventsApi {
    /// core/v1 `events`, with client-go `tools/record`'s correlator: repeats patch a
    /// count, similar events are combined, and a spam filter caps each object's events.
    #[default]
    Core,
    /// events.k8s.io/v1 `events`, with client-go `tools/events`' series: repeats become a
    /// series whose count is written when it is refreshed (every 30 min), finished (6 min
    /// without a repeat) or [flushed](Recorder::flush).
    EventsV1,
}

/// An event to record: what [`Recorder::publish`] takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Normal or Warning.
    pub type_: EventType,
    /// A short UpperCamelCase reason (`Scaled`, `FailedSync`) that tools switch on.
    pub reason: String,
    /// What happened, for people (the events.k8s.io `note`; cut at 1 kB there).
    pub message: String,
    /// What the controller did or failed to do (events.k8s.io requires one; [`Recorder::event`]
    /// uses the reason).
    pub action: Option<String>,
    /// A second object involved (a pod's node, a replica set's deployment).
    pub related: Option<ObjectReference>,
}

/// Counters of a recorder since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Events put on the queue.
    pub accepted: u64,
    /// Events dropped because the queue was full or the recorder had stopped.
    pub dropped: u64,
    /// Events the spam filter dropped.
    pub skipped: u64,
    /// Events created on the server.
    pub created: u64,
    /// Events written as a patch of an earlier one (a count or a series).
    pub patched: u64,
    /// Events given up on: refused by the server, or still failing after every retry.
    pub failed: u64,
}

/// The recorder's counters, shared with its writer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub dropped: AtomicU64,
    pub skipped: AtomicU64,
    pub created: AtomicU64,
    pub patched: AtomicU64,
    pub failed: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A message to the writer.
pub(crate) enum Msg {
    /// Record this event.
    Event(Box<Pending>),
    /// Answer once everything before has been written (and ongoing series with it).
    Flush(oneshot::Sender<()>),
}

/// Records events about objects for a controller, as client-go's `EventRecorder` does.
///
/// Cheap to clone; every clone feeds the same queue and writer. The writer runs as a
/// tokio task until every clone is dropped (it then writes what is queued and stops) or
/// the [shutdown token](RecorderBuilder::shutdown_on) is cancelled (it then tries each
/// queued event once and stops).
///
/// ```no_run
/// # async fn demo(client: informer::client::RestClient, lease: informer::leaderelection::Lease) {
/// use informer::events::{EventType, Recorder};
/// let recorder = Recorder::new(client, "example.com/shop-controller");
/// recorder.event(&lease, EventType::Normal, "Acquired", "became the leader");
/// recorder.flush().await; // only to wait for the write, as a test does
/// # }
/// ```
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder for `controller` with the defaults of [`RecorderBuilder`]. Must be
    /// called within a tokio runtime (it spawns the writer).
    pub fn new(client: RestClient, controller: impl Into<String>) -> Self {
        Recorder::builder(client, controller).build()
    }

    /// A builder, to choose the API, the queue's size, the retries and the correlator's
    /// thresholds.
    pub fn builder(client: RestClient, controller: impl Into<String>) -> RecorderBuilder {
        RecorderBuilder {
            client,
            controller: controller.into(),
            instance: None,
            api: EventsApi::default(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            clock: Arc::new(SystemClock::default()),
            correlator: CorrelatorOptions::default(),
            retry_delay: DEFAULT_RETRY_DELAY,
            max_tries: DEFAULT_MAX_TRIES,
            shutdown: None,
        }
    }

    /// Records an event about `object` (its action is the reason). Never waits: when the
    /// queue is full the event is dropped, counted in [`stats`](Self::stats) and logged.
    pub fn event<K: Object + Resource>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        message: &str,
    ) {
        self.publish(
            ObjectReference::from_object(object),
            NewEvent {
                type_,
                reason: reason.to_owned(),
                message: message.to_owned(),
                action: None,
                related: None,
            },
        );
    }

    /// Records an event about the object `regarding` refers to, with every field. Never
    /// waits, as [`event`](Self::event).
    pub fn publish(&self, regarding: ObjectReference, event: NewEvent) {
        if self.shutdown.is_cancelled() {
            self.dropped("the recorder has stopped");
            return;
        }
        let pending = Box::new(Pending {
            regarding,
            event,
            at: self.clock.wall(),
        });
        match self.tx.try_send(Msg::Event(pending)) {
            Ok(()) => {
                Counters::add(&self.counters.accepted);
            }
            Err(mpsc::error::TrySendError::Full(_)) => self.dropped("the queue is full"),
            Err(mpsc::error::TrySendError::Closed(_)) => self.dropped("the recorder has stopped"),
        }
    }

    /// Counts a dropped event; logs the first and every thousandth.
    fn dropped(&self, why: &str) {
        let n = Counters::add(&self.counters.dropped);
        if n == 1 || n.is_multiple_of(1000) {
            tracing::warn!(dropped = n, "event dropped: {why}");
        }
    }

    /// Waits until every event recorded before this call has been written or given up
    /// on; with [`EventsApi::EventsV1`], ongoing series are written with their counts
    /// too. Returns at once if the recorder has stopped.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> RecorderStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RecorderStats {
            accepted: get(&c.accepted),
            dropped: get(&c.dropped),
            skipped: get(&c.skipped),
            created: get(&c.created),
            patched: get(&c.patched),
            failed: get(&c.failed),
        }
    }
}

/// client-go's queue length.
const DEFAULT_QUEUE_CAPACITY: usize = 1000;
/// The longest queue a recorder may have.
const MAX_QUEUE_CAPACITY: usize = 1 << 24;
/// client-go's pause between tries of a write.
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(10);
/// client-go's tries per event.
const DEFAULT_MAX_TRIES: u32 = 12;

/// Builds a [`Recorder`]. The defaults are client-go's.
pub struct RecorderBuilder {
    client: RestClient,
    controller: String,
    instance: Option<String>,
    api: EventsApi,
    queue_capacity: usize,
    clock: Arc<dyn Clock>,
    correlator: CorrelatorOptions,
    retry_delay: Duration,
    max_tries: u32,
    shutdown: Option<CancellationToken>,
}

impl RecorderBuilder {
    /// The reporting instance (default: the host name; with events.k8s.io,
    /// `<controller>-<host name>`, as client-go's).
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Which API to write to (default [`EventsApi::Core`]).
    pub fn api(mut self, api: EventsApi) -> Self {
        self.api = api;
        self
    }

    /// How many events may wait for the writer (default 1000); more are dropped. At
    /// least 1, at most 2^24.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.clamp(1, MAX_QUEUE_CAPACITY);
        self
    }

    /// The clock events are stamped and correlated with (default the system's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The core correlator's thresholds (default client-go's).
    pub fn correlator(mut self, options: CorrelatorOptions) -> Self {
        self.correlator = options;
        self
    }

    /// The pause between tries of a failing write (default 10 s; the first pause is a
    /// random part of it, so that recorders do not retry in step).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// How many times a write is tried before the event is given up (default 12; at
    /// least 1). Only a transport failure, `429` or a `5xx` is retried; a refusal is not.
    pub fn max_tries(mut self, tries: u32) -> Self {
        self.max_tries = tries.max(1);
        self
    }

    /// Stops the recorder when `token` is cancelled: from then on new events are
    /// dropped, and the writer tries each queued event once and ends.
    pub fn shutdown_on(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    /// Spawns the writer and returns the recorder. Must be called within a tokio runtime.
    pub fn build(self) -> Recorder {
        let (tx, rx) = mpsc::channel(self.queue_capacity);
        let counters = Arc::new(Counters::default());
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let instance = self.instance.unwrap_or_else(|| match self.api {
            EventsApi::Core => host,
            EventsApi::EventsV1 => format!("{}-{host}", self.controller),
        });
        let shutdown = self.shutdown.unwrap_or_default();
        let writer = Writer::new(
            WriterConfig {
                client: self.client,
                api: self.api,
                controller: self.controller,
                instance,
                clock: self.clock.clone(),
                correlator: self.correlator,
                retry_delay: self.retry_delay,
                max_tries: self.max_tries,
                shutdown: shutdown.clone(),
            },
            counters.clone(),
        );
        tokio::spawn(writer.run(rx));
        Recorder {
            tx,
            clock: self.clock,
            counters,
            shutdown,
        }
    }
}
