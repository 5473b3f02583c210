//! Events: how a controller tells users what it did (client-go's `tools/record` and
//! `tools/events`). `kubectl describe` lists them under the object.
//!
//! ```text
//! Recorder::event(obj, Warning, "FailedSync", msg)      caller: stamp, try to enqueue
//!     ──▶ bounded queue (full: drop, count, log)          never waits
//!     ──▶ writer task ──▶ core/v1: correlator             repeat → count patch,
//!                    │                                    similar ×10 → combined,
//!                    │                                    spam filter per object
//!                    └──▶ events.k8s.io/v1: series cache  repeat → series
//!     ──▶ create or patch, retried with pauses            transport, 429, 5xx
//! ```
//!
//! - [`Recorder`]: [`event`](Recorder::event) and [`publish`](Recorder::publish), never
//!   blocking; [`flush`](Recorder::flush) waits for the writes (tests);
//!   [`stats`](Recorder::stats) counts drops, skips and writes.
//! - [`RecorderBuilder`]: which API ([`EventsApi`]), the queue's size, retries, the
//!   correlator's thresholds ([`CorrelatorOptions`]), the clock.
//! - [`CoreEvent`] and [`EventsV1Event`]: the two wire forms; [`ObjectReference`]: what
//!   an event is about.
//!
//! Where it differs from client-go:
//! - besides transport errors, `429` and `5xx` answers are retried too (client-go gives
//!   up on any answer from the server);
//! - names stay unique even when the clock does not move between two events, and an
//!   object whose name cannot start a valid event name (`system:` names) gets
//!   `event.<suffix>` (client-go a random name);
//! - [`flush`](Recorder::flush) writes ongoing events.k8s.io series at once instead of
//!   at the next 30-minute refresh, and a stopping recorder writes them once more;
//! - after [shutdown](RecorderBuilder::shutdown_on), new events are dropped at once.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use informer::client::{Api, Config, RestClient};
//! use informer::events::{EventType, Recorder};
//! use informer::leaderelection::Lease;
//!
//! let client = RestClient::new(Config::infer()?)?;
//! let recorder = Recorder::new(client.clone(), "example.com/lease-watcher");
//! let lease = Api::<Lease>::namespaced(client, "kube-system").get("kube-scheduler").await?;
//! recorder.event(&lease, EventType::Normal, "Observed", "saw the scheduler's lease");
//! recorder.flush().await;
//! # Ok(()) }
//! ```

mod correlator;
mod event;
mod recorder;
mod reference;
mod series;
mod writer;

pub use correlator::{CorrelatorOptions, COMBINED_PREFIX};
pub use event::{CoreEvent, EventSeries, EventSource, EventType, EventsV1Event};
pub use recorder::{EventsApi, NewEvent, Recorder, RecorderBuilder, RecorderStats};
pub use reference::ObjectReference;
