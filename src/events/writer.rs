//! The writer task behind a [`Recorder`](super::Recorder): it takes events off the queue
//! one at a time, builds the wire form, lets the correlator (core/v1) or the series cache
//! (events.k8s.io/v1) decide what to write, and writes it, retrying failures that may
//! pass (transport errors, `429`, `5xx`) with a pause between tries.
//!
//! One event is written at a time, so a server that is down holds the queue back while
//! the writer retries; the recorder then drops new events rather than wait.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::correlator::{Correlated, Correlator, CorrelatorOptions};
use super::event::{CoreEvent, EventSource, EventsV1Event};
use super::recorder::{Counters, EventsApi, Msg, NewEvent};
use super::series::{SeriesCache, FINISH_AFTER, REFRESH_EVERY};
use super::ObjectReference;
use crate::client::{Api, Error, Patch, PatchParams, PostParams, RestClient};
use crate::clock::Clock;
use crate::meta::{micro_time, time, Object, ObjectMeta, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The most an events.k8s.io note may hold, in bytes.
const MAX_NOTE_BYTES: usize = 1024;

/// An event as the recorder queued it.
pub(crate) struct Pending {
    pub regarding: ObjectReference,
    pub event: NewEvent,
    pub at: SystemTime,
}

/// What the writer needs from the builder.
pub(crate) struct WriterConfig {
    pub client: RestClient,
    pub api: EventsApi,
    pub controller: String,
    pub instance: String,
    pub clock: Arc<dyn Clock>,
    pub correlator: CorrelatorOptions,
    pub retry_delay: Duration,
    pub max_tries: u32,
    pub shutdown: CancellationToken,
}

/// How an event is decided in the writer's API form.
enum Form {
    Core(Box<Correlator>),
    V1(SeriesCache),
}

/// The writer task's state.
pub(crate) struct Writer {
    cfg: WriterConfig,
    form: Form,
    counters: Arc<Counters>,
    /// The last name suffix given, so that names stay unique on a coarse clock.
    last_suffix: u128,
}

/// A write's result, as the retry loop sees it.
enum Outcome<T> {
    Written(T),
    Retry(Error),
    GiveUp(Error),
}

impl Writer {
    pub(crate) fn new(cfg: WriterConfig, counters: Arc<Counters>) -> Self {
        let form = match cfg.api {
            EventsApi::Core => Form::Core(Box::new(Correlator::new(
                cfg.clock.clone(),
                cfg.correlator.clone(),
            ))),
            EventsApi::EventsV1 => Form::V1(SeriesCache::new(cfg.clock.clone())),
        };
        Writer {
            cfg,
            form,
            counters,
            last_suffix: 0,
        }
    }

    /// Runs until the queue closes (every recorder dropped) or the shutdown token is
    /// cancelled, then writes what is left once.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut refresh = tokio::time::interval(REFRESH_EVERY);
        let mut finish = tokio::time::interval(FINISH_AFTER);
        refresh.reset();
        finish.reset();
        let v1 = matches!(self.form, Form::V1(_));
        let shutdown = self.cfg.shutdown.clone();
        let mut stopping = false;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    rx.close();
                }
                // Before the queue, so that a queue that never empties cannot hold the
                // series back.
                _ = refresh.tick(), if v1 => self.refresh_series().await,
                _ = finish.tick(), if v1 => self.finish_series().await,
                msg = rx.recv() => match msg {
                    Some(Msg::Event(p)) => self.record(*p).await,
                    Some(Msg::Flush(done)) => {
                        self.refresh_series().await;
                        let _ = done.send(());
                    }
                    None => break,
                },
            }
        }
        if let Form::V1(series) = &mut self.form {
            for event in series.drain() {
                let _ = self.write_v1(event, 1).await;
            }
        }
    }

    /// A unique name for an event about `object`: its name and a hex suffix from the
    /// time, as client-go names events, kept increasing per writer. When that is not a
    /// valid name (a `system:` name, one near the length limit), `event.<suffix>`.
    fn name(&mut self, object: Option<&str>, at: SystemTime) -> String {
        let nanos = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        self.last_suffix = nanos.max(self.last_suffix.saturating_add(1));
        let name = format!("{}.{:x}", object.unwrap_or_default(), self.last_suffix);
        if is_dns_subdomain(&name) {
            name
        } else {
            format!("event.{:x}", self.last_suffix)
        }
    }

    async fn record(&mut self, p: Pending) {
        let name = self.name(p.regarding.name.as_deref(), p.at);
        let namespace = p
            .regarding
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        match self.cfg.api {
            EventsApi::Core => {
                let event = self.core_event(name, namespace, p);
                let Form::Core(correlator) = &mut self.form else {
                    return;
                };
                match correlator.correlate(event) {
                    Correlated::Skip => {
                        Counters::add(&self.counters.skipped);
                    }
                    Correlated::Create(e) => self.write_core(e, None).await,
                    Correlated::Patch(e, patch) => self.write_core(e, Some(patch)).await,
                }
            }
            EventsApi::EventsV1 => {
                let event = self.v1_event(name, namespace, p);
                let Form::V1(series) = &mut self.form else {
                    return;
                };
                if let Some(event) = series.observe(event) {
                    let _ = self.write_v1(event, self.cfg.max_tries).await;
                }
            }
        }
    }

    fn core_event(&self, name: String, namespace: String, p: Pending) -> CoreEvent {
        let at = Some(time(p.at));
        CoreEvent {
            api_version: Some("v1".to_owned()),
            kind: Some("Event".to_owned()),
            metadata: crate::meta::ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                ..Default::default()
            },
            involved_object: p.regarding,
            reason: Some(p.event.reason),
            message: Some(p.event.message),
            source: Some(EventSource {
                component: Some(self.cfg.controller.clone()),
                host: Some(self.cfg.instance.clone()).filter(|h| !h.is_empty()),
            }),
            first_timestamp: at.clone(),
            last_timestamp: at,
            count: Some(1),
            type_: Some(p.event.type_.as_str().to_owned()),
            action: p.event.action,
            related: p.event.related,
            reporting_component: Some(self.cfg.controller.clone()),
            reporting_instance: Some(self.cfg.instance.clone()),
            ..Default::default()
        }
    }

    fn v1_event(&self, name: String, namespace: String, p: Pending) -> EventsV1Event {
        let mut note = p.event.message;
        if note.len() > MAX_NOTE_BYTES {
            let mut cut = MAX_NOTE_BYTES;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
        }
        EventsV1Event {
            api_version: Some("events.k8s.io/v1".to_owned()),
            kind: Some("Event".to_owned()),
            metadata: crate::meta::ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                ..Default::default()
            },
            event_time: Some(micro_time(p.at)),
            series: None,
            reporting_controller: Some(self.cfg.controller.clone()),
            reporting_instance: Some(self.cfg.instance.clone()),
            action: Some(p.event.action.unwrap_or_else(|| p.event.reason.clone())),
            reason: Some(p.event.reason),
            regarding: Some(p.regarding),
            related: p.event.related,
            note: Some(note),
            type_: Some(p.event.type_.as_str().to_owned()),
        }
    }

    /// Creates a core event, or patches the one it repeats (creating it if that is gone).
    async fn write_core(&mut self, event: CoreEvent, patch: Option<Value>) {
        let written = self.write(event, patch, false, self.cfg.max_tries).await;
        if let (Some(written), Form::Core(correlator)) = (written, &mut self.form) {
            correlator.written(&written);
        }
    }

    /// Creates an events.k8s.io event, or patches its series onto the first occurrence.
    async fn write_v1(&self, event: EventsV1Event, max_tries: u32) -> Option<EventsV1Event> {
        let patch = event
            .series
            .as_ref()
            .map(|series| json!({ "series": series }));
        let series = patch.is_some();
        self.write(event, patch, series, max_tries).await
    }

    /// Writes `event`: with a patch, patches the event of its name, creating it if that
    /// is gone; without, creates it. Counts the write.
    async fn write<K>(
        &self,
        event: K,
        patch: Option<Value>,
        series: bool,
        max_tries: u32,
    ) -> Option<K>
    where
        K: Object<Meta = ObjectMeta>
            + Resource
            + Clone
            + Serialize
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let ns = event.namespace().unwrap_or_default().to_owned();
        let name = event.name().unwrap_or_default().to_owned();
        let api: Api<K> = Api::namespaced(self.cfg.client.clone(), &ns);
        let written = self
            .with_retries(max_tries, || async {
                if let Some(patch) = &patch {
                    match api
                        .patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
                        .await
                    {
                        Ok(e) => return classify(Ok(e), series),
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return classify(Err(e), series),
                    }
                }
                let mut fresh = event.clone();
                fresh.meta_mut().resource_version = None;
                classify(api.create(&PostParams::default(), &fresh).await, series)
            })
            .await;
        if written.is_some() {
            Counters::add(if patch.is_some() {
                &self.counters.patched
            } else {
                &self.counters.created
            });
        }
        written
    }

    /// Writes the counts of ongoing series, one try each (the next refresh tries again).
    async fn refresh_series(&mut self) {
        let Form::V1(series) = &self.form else {
            return;
        };
        for event in series.ongoing() {
            let _ = self.write_v1(event, 1).await;
        }
    }

    /// Writes the final counts of series that ended, one try each, and forgets those
    /// written (the others are tried again at the next check).
    async fn finish_series(&mut self) {
        let Form::V1(series) = &mut self.form else {
            return;
        };
        for event in series.ended() {
            if self.write_v1(event.clone(), 1).await.is_some() {
                if let Form::V1(series) = &mut self.form {
                    series.forget(&event);
                }
            }
        }
    }

    /// Runs `attempt` until it writes, gives up, or has been tried `max_tries` times
    /// (once after shutdown); pauses between tries, the first pause a random part of the
    /// delay.
    async fn with_retries<T, F, Fut>(&self, max_tries: u32, mut attempt: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Outcome<T>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let err = match attempt().await {
                Outcome::Written(t) => return Some(t),
                Outcome::GiveUp(e) => {
                    tracing::warn!(error = %e, "server refused event (will not retry)");
                    Counters::add(&self.counters.failed);
                    return None;
                }
                Outcome::Retry(e) => e,
            };
            if tries >= max_tries || self.cfg.shutdown.is_cancelled() {
                tracing::warn!(error = %err, tries, "unable to write event (giving up)");
                Counters::add(&self.counters.failed);
                return None;
            }
            tracing::debug!(error = %err, tries, "unable to write event (will retry)");
            let delay = if tries == 1 {
                self.cfg.retry_delay.mul_f64(fastrand::f64())
            } else {
                self.cfg.retry_delay
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.cfg.shutdown.cancelled() => {}
            }
        }
    }
}

/// Whether `name` is a DNS subdomain, as an object's name must be: at most 253
/// characters of lower-case letters, digits, `-` and `.`, starting and ending with a
/// letter or digit, with no empty part between dots.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|part| {
            let alnum =
                |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            alnum(part.chars().next())
                && alnum(part.chars().last())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// Sorts a write's result: retried are failures that may pass (no answer, `429`, `5xx`)
/// and, for a series, `AlreadyExists` (its first event was being created meanwhile).
fn classify<T>(result: crate::client::Result<T>, series: bool) -> Outcome<T> {
    match result {
        Ok(t) => Outcome::Written(t),
        Err(e)
            if e.is_transport()
                || e.is_too_many_requests()
                || e.code().is_some_and(|c| c >= 500)
                || (series && e.is_already_exists()) =>
        {
            Outcome::Retry(e)
        }
        Err(e) => Outcome::GiveUp(e),
    }
}
