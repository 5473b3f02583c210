//! The correlator of core/v1 events (client-go's `EventCorrelator`): before an event is
//! written it decides whether to create it, patch an earlier one, or drop it.
//!
//! ```text
//! event ──▶ aggregate: the 10th different message of one (object, type, reason, source)
//!             within 10 minutes becomes "(combined from similar events): ..."
//!       ──▶ observe: an event seen before (same in every field but time) becomes a
//!             patch of the earlier one: count + 1, new lastTimestamp
//!       ──▶ spam filter: a token bucket per (source, object), burst 25, one more
//!             every 5 minutes; an empty bucket drops the event
//! ```
//!
//! It is a plain state machine on an injected [`Clock`]: no I/O, so tests drive it
//! through hours of events in microseconds. Its three caches (aggregation groups,
//! observed events, spam buckets) hold at most [`CorrelatorOptions::cache_size`] entries
//! each; the least recently used go first, as in client-go.

use std::collections::HashSet;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as GovernorClock, ReasonablyRealtime};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use lru::LruCache;
use serde_json::{json, Value};

use super::event::CoreEvent;
use crate::clock::Clock;

/// The prefix of an aggregated event's message.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// The correlator's thresholds; the defaults are client-go's, and, as there, a zero
/// stands for the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelatorOptions {
    /// How many different messages of similar events (same object, type, reason and
    /// source) within [`aggregate_window`](Self::aggregate_window) turn into one
    /// combined event: 10.
    pub aggregate_max_events: usize,
    /// How long similar events count towards aggregation after the last one: 10 min.
    pub aggregate_window: Duration,
    /// Events a source may write about one object at once: 25.
    pub spam_burst: u32,
    /// How often the spam filter gives a source one more event about an object: every
    /// 5 min.
    pub spam_refill: Duration,
    /// Entries each cache keeps (aggregation groups, observed events, spam buckets):
    /// 4096, at most 1,048,576.
    pub cache_size: usize,
}

impl CorrelatorOptions {
    /// The options with zeros replaced by the defaults and the cache size capped.
    fn with_defaults(self) -> Self {
        let d = CorrelatorOptions::default();
        let or = |v: Duration, d: Duration| if v.is_zero() { d } else { v };
        CorrelatorOptions {
            aggregate_max_events: if self.aggregate_max_events == 0 {
                d.aggregate_max_events
            } else {
                self.aggregate_max_events
            },
            aggregate_window: or(self.aggregate_window, d.aggregate_window),
            spam_burst: if self.spam_burst == 0 {
                d.spam_burst
            } else {
                self.spam_burst
            },
            spam_refill: or(self.spam_refill, d.spam_refill),
            cache_size: match self.cache_size {
                0 => d.cache_size,
                n => n.min(MAX_CACHE_SIZE),
            },
        }
    }
}

/// The most entries a cache may be given.
const MAX_CACHE_SIZE: usize = 1 << 20;

impl Default for CorrelatorOptions {
    fn default() -> Self {
        CorrelatorOptions {
            aggregate_max_events: 10,
            aggregate_window: Duration::from_secs(600),
            spam_burst: 25,
            spam_refill: Duration::from_secs(300),
            cache_size: 4096,
        }
    }
}

/// What to do with an event.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Correlated {
    /// Create it.
    Create(CoreEvent),
    /// Patch the earlier event it repeats (the event's name) with this strategic merge
    /// patch; create it if that one is gone.
    Patch(CoreEvent, Value),
    /// Drop it: its source has written too many events about the object.
    Skip,
}

/// The aggregation state of one group of similar events.
struct Group {
    messages: HashSet<String>,
    last: Duration,
}

/// What was last written for one event key.
#[derive(Clone)]
struct Observation {
    count: i32,
    first_timestamp: Option<String>,
    name: Option<String>,
    resource_version: Option<String>,
}

/// One source's token bucket for one object.
type SpamBucket = RateLimiter<NotKeyed, InMemoryState, Ticks, NoOpMiddleware<Nanos>>;

/// The correlator's clock as governor reads it.
#[derive(Clone)]
struct Ticks(Arc<dyn Clock>);

impl GovernorClock for Ticks {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.0.now())
    }
}

impl ReasonablyRealtime for Ticks {}

/// client-go's event correlator; see the module docs.
pub(crate) struct Correlator {
    clock: Arc<dyn Clock>,
    opts: CorrelatorOptions,
    groups: LruCache<String, Group>,
    observed: LruCache<String, Observation>,
    spam: LruCache<String, SpamBucket>,
    quota: Quota,
}

impl Correlator {
    pub(crate) fn new(clock: Arc<dyn Clock>, opts: CorrelatorOptions) -> Self {
        let opts = opts.with_defaults();
        let size = NonZeroUsize::new(opts.cache_size).unwrap_or(NonZeroUsize::MIN);
        let burst = NonZeroU32::new(opts.spam_burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(opts.spam_refill)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Correlator {
            clock,
            opts,
            groups: LruCache::new(size),
            observed: LruCache::new(size),
            spam: LruCache::new(size),
            quota,
        }
    }

    /// Decides what to write for `event`, a new event with count 1 and both timestamps
    /// set to now.
    pub(crate) fn correlate(&mut self, event: CoreEvent) -> Correlated {
        let (event, key) = self.aggregate(event);
        let correlated = self.observe(event, key);
        if self.spammed(match &correlated {
            Correlated::Create(e) | Correlated::Patch(e, _) => e,
            Correlated::Skip => return Correlated::Skip,
        }) {
            return Correlated::Skip;
        }
        correlated
    }

    /// Records what the server answered for a written event, so that the next repeat
    /// patches it.
    pub(crate) fn written(&mut self, event: &CoreEvent) {
        self.observed.put(
            event_key(event),
            Observation {
                count: event.count.unwrap_or(1),
                first_timestamp: event.first_timestamp.clone(),
                name: event.metadata.name.clone(),
                resource_version: event.metadata.resource_version.clone(),
            },
        );
    }

    /// The event to go on with and the key it is observed under: itself and its full key,
    /// or, once its group has seen too many different messages, a combined event under
    /// the group's key.
    fn aggregate(&mut self, event: CoreEvent) -> (CoreEvent, String) {
        let now = self.clock.now();
        let (group_key, message) = (
            aggregate_key(&event),
            event.message.clone().unwrap_or_default(),
        );
        let window = self.opts.aggregate_window;
        let group = self.groups.get_or_insert_mut(group_key.clone(), || Group {
            messages: HashSet::new(),
            last: now,
        });
        if now.saturating_sub(group.last) > window {
            group.messages.clear();
        }
        group.messages.insert(message);
        group.last = now;
        if group.messages.len() < self.opts.aggregate_max_events {
            let key = event_key(&event);
            return (event, key);
        }
        // Keep the group at its limit, so that every further message stays combined.
        if let Some(any) = group.messages.iter().next().cloned() {
            group.messages.remove(&any);
        }
        // A fresh event about the same object: nothing of the one that tipped the group
        // over but what all its members share (client-go's aggregate event).
        let combined = CoreEvent {
            api_version: event.api_version,
            kind: event.kind,
            metadata: crate::meta::ObjectMeta {
                name: event.metadata.name,
                namespace: event.metadata.namespace,
                ..Default::default()
            },
            involved_object: event.involved_object,
            message: Some(format!(
                "{COMBINED_PREFIX}{}",
                event.message.as_deref().unwrap_or_default()
            )),
            reason: event.reason,
            source: event.source,
            first_timestamp: event.last_timestamp.clone(),
            last_timestamp: event.last_timestamp,
            count: Some(1),
            type_: event.type_,
            ..Default::default()
        };
        (combined, group_key)
    }

    /// A repeat of an event written before becomes a patch of it.
    fn observe(&mut self, mut event: CoreEvent, key: String) -> Correlated {
        let last = self.observed.get(&key).filter(|o| o.count > 0).cloned();
        let correlated = match last {
            Some(last) => {
                event.metadata.name = last.name;
                event.metadata.resource_version = last.resource_version;
                event.first_timestamp = last.first_timestamp;
                event.count = Some(last.count.saturating_add(1));
                let patch = json!({
                    "count": event.count,
                    "lastTimestamp": event.last_timestamp,
                    "message": event.message,
                });
                Correlated::Patch(event, patch)
            }
            None => Correlated::Create(event),
        };
        if let Correlated::Create(e) | Correlated::Patch(e, _) = &correlated {
            self.observed.put(
                key,
                Observation {
                    count: e.count.unwrap_or(1),
                    first_timestamp: e.first_timestamp.clone(),
                    name: e.metadata.name.clone(),
                    resource_version: e.metadata.resource_version.clone(),
                },
            );
        }
        correlated
    }

    /// Whether the spam filter drops the event.
    fn spammed(&mut self, event: &CoreEvent) -> bool {
        let (quota, clock) = (self.quota, &self.clock);
        let bucket = self.spam.get_or_insert_mut(spam_key(event), || {
            RateLimiter::direct_with_clock(quota, Ticks(clock.clone()))
        });
        bucket.check().is_err()
    }
}

fn source_parts(e: &CoreEvent) -> [&str; 2] {
    let source = e.source.as_ref();
    [
        source
            .and_then(|s| s.component.as_deref())
            .unwrap_or_default(),
        source.and_then(|s| s.host.as_deref()).unwrap_or_default(),
    ]
}

fn object_parts(e: &CoreEvent) -> [&str; 5] {
    let o = &e.involved_object;
    [
        o.kind.as_deref().unwrap_or_default(),
        o.namespace.as_deref().unwrap_or_default(),
        o.name.as_deref().unwrap_or_default(),
        o.uid.as_deref().unwrap_or_default(),
        o.api_version.as_deref().unwrap_or_default(),
    ]
}

/// Joins key parts with a separator no Kubernetes name contains.
fn join(parts: &[&str]) -> String {
    parts.join("\u{1f}")
}

/// Same object, source, type, reason and message: a repeat.
fn event_key(e: &CoreEvent) -> String {
    let mut parts = Vec::with_capacity(11);
    parts.extend(source_parts(e));
    parts.extend(object_parts(e));
    parts.push(e.involved_object.field_path.as_deref().unwrap_or_default());
    parts.push(e.type_.as_deref().unwrap_or_default());
    parts.push(e.reason.as_deref().unwrap_or_default());
    parts.push(e.message.as_deref().unwrap_or_default());
    join(&parts)
}

/// Same but for the message: similar events, aggregated past a threshold.
fn aggregate_key(e: &CoreEvent) -> String {
    let mut parts = Vec::with_capacity(11);
    parts.extend(source_parts(e));
    parts.extend(object_parts(e));
    parts.push(e.type_.as_deref().unwrap_or_default());
    parts.push(e.reason.as_deref().unwrap_or_default());
    parts.push(e.reporting_component.as_deref().unwrap_or_default());
    parts.push(e.reporting_instance.as_deref().unwrap_or_default());
    join(&parts)
}

/// One source writing about one object: the spam filter's bucket.
fn spam_key(e: &CoreEvent) -> String {
    let mut parts = Vec::with_capacity(7);
    parts.extend(source_parts(e));
    parts.extend(object_parts(e));
    join(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::events::{EventSource, ObjectReference};

    fn event(name: &str, object: &str, reason: &str, message: &str) -> CoreEvent {
        CoreEvent {
            metadata: crate::meta::ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("shop".to_owned()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("Pod".to_owned()),
                name: Some(object.to_owned()),
                namespace: Some("shop".to_owned()),
                ..Default::default()
            },
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            source: Some(EventSource {
                component: Some("ctl".to_owned()),
                host: None,
            }),
            count: Some(1),
            type_: Some("Normal".to_owned()),
            last_timestamp: Some(format!("t-{name}")),
            first_timestamp: Some(format!("t-{name}")),
            ..Default::default()
        }
    }

    /// Correlates and, as the writer does, records what the server would answer.
    fn run(c: &mut Correlator, e: CoreEvent) -> Correlated {
        let out = c.correlate(e);
        if let Correlated::Create(e) | Correlated::Patch(e, _) = &out {
            c.written(e);
        }
        out
    }

    fn correlator() -> (ManualClock, Correlator) {
        let clock = ManualClock::new();
        let c = Correlator::new(Arc::new(clock.clone()), CorrelatorOptions::default());
        (clock, c)
    }

    #[test]
    fn repeats_patch_the_first_event_with_a_count() {
        let (_, mut c) = correlator();
        assert!(matches!(
            run(&mut c, event("a", "web", "Pulled", "m")),
            Correlated::Create(_)
        ));
        for (name, count) in [("b", 2), ("c", 3)] {
            match run(&mut c, event(name, "web", "Pulled", "m")) {
                Correlated::Patch(e, patch) => {
                    assert_eq!(e.metadata.name.as_deref(), Some("a"), "patches the first");
                    assert_eq!(e.first_timestamp.as_deref(), Some("t-a"));
                    assert_eq!(patch["count"], count);
                    assert_eq!(patch["lastTimestamp"], format!("t-{name}"));
                    assert_eq!(patch["message"], "m");
                }
                other => panic!("{other:?}"),
            }
        }
        // Another message, object or reason is another event.
        assert!(matches!(
            run(&mut c, event("d", "web", "Pulled", "n")),
            Correlated::Create(_)
        ));
        assert!(matches!(
            run(&mut c, event("e", "api", "Pulled", "m")),
            Correlated::Create(_)
        ));
    }

    #[test]
    fn the_tenth_different_message_within_the_window_is_combined() {
        let (clock, mut c) = correlator();
        for i in 1..10 {
            match run(
                &mut c,
                event(&format!("e{i}"), "web", "Failed", &format!("m{i}")),
            ) {
                Correlated::Create(e) => assert_eq!(e.message, Some(format!("m{i}"))),
                other => panic!("{i}: {other:?}"),
            }
            clock.advance(Duration::from_secs(30));
        }
        let combined = match run(&mut c, event("e10", "web", "Failed", "m10")) {
            Correlated::Create(e) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            combined.message.as_deref(),
            Some("(combined from similar events): m10")
        );
        // Further similar events count on the combined one, whatever their message.
        match run(&mut c, event("e11", "web", "Failed", "m11")) {
            Correlated::Patch(e, patch) => {
                assert_eq!(e.metadata.name, combined.metadata.name);
                assert_eq!(patch["count"], 2);
                assert_eq!(patch["message"], "(combined from similar events): m11");
            }
            other => panic!("{other:?}"),
        }
        // Another reason is another group.
        assert!(matches!(
            run(&mut c, event("x", "web", "Other", "m1")),
            Correlated::Create(e) if e.message.as_deref() == Some("m1")
        ));
        // Ten minutes without a similar event start the group afresh.
        clock.advance(Duration::from_secs(601));
        assert!(matches!(
            run(&mut c, event("e12", "web", "Failed", "m12")),
            Correlated::Create(e) if e.message.as_deref() == Some("m12")
        ));
    }

    #[test]
    fn the_combined_event_carries_only_what_similar_events_share() {
        let (_, mut c) = correlator();
        let mut last = None;
        for i in 1..=10 {
            let mut e = event(&format!("e{i}"), "web", "Failed", &format!("m{i}"));
            e.action = Some(format!("Action{i}"));
            e.related = Some(ObjectReference {
                name: Some(format!("other{i}")),
                ..Default::default()
            });
            last = Some(run(&mut c, e));
        }
        match last {
            Some(Correlated::Create(e)) => {
                assert_eq!(e.action, None);
                assert_eq!(e.related, None);
                assert_eq!(e.count, Some(1));
                assert_eq!(e.involved_object.name.as_deref(), Some("web"));
                assert_eq!(e.reason.as_deref(), Some("Failed"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zero_options_mean_the_defaults() {
        let clock = ManualClock::new();
        let zeros = CorrelatorOptions {
            aggregate_max_events: 0,
            aggregate_window: Duration::ZERO,
            spam_burst: 0,
            spam_refill: Duration::ZERO,
            cache_size: 0,
        };
        let mut c = Correlator::new(Arc::new(clock), zeros);
        assert_eq!(c.opts, CorrelatorOptions::default());
        // Not every event is combined, as an aggregation threshold of 0 would have it.
        assert!(matches!(
            run(&mut c, event("a", "web", "R", "m")),
            Correlated::Create(e) if e.message.as_deref() == Some("m")
        ));
        let huge = CorrelatorOptions {
            cache_size: usize::MAX,
            ..CorrelatorOptions::default()
        };
        let c = Correlator::new(Arc::new(ManualClock::new()), huge);
        assert_eq!(c.opts.cache_size, 1 << 20);
    }

    #[test]
    fn the_spam_filter_allows_a_burst_of_25_then_one_per_5_minutes() {
        let (clock, mut c) = correlator();
        // Different reasons, so that nothing aggregates or repeats.
        let mut next = 0;
        let mut send = |c: &mut Correlator, object: &str| {
            next += 1;
            run(
                c,
                event(&format!("e{next}"), object, &format!("R{next}"), "m"),
            )
        };
        for i in 0..25 {
            assert!(
                !matches!(send(&mut c, "web"), Correlated::Skip),
                "event {i}"
            );
        }
        assert_eq!(send(&mut c, "web"), Correlated::Skip);
        // Another object has its own bucket.
        assert!(!matches!(send(&mut c, "api"), Correlated::Skip));
        clock.advance(Duration::from_secs(299));
        assert_eq!(send(&mut c, "web"), Correlated::Skip);
        clock.advance(Duration::from_secs(1));
        assert!(!matches!(send(&mut c, "web"), Correlated::Skip));
        assert_eq!(send(&mut c, "web"), Correlated::Skip);
    }
}
