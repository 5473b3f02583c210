//! The series cache of events.k8s.io/v1 events (client-go's `tools/events`): the first
//! occurrence of an event is created; the second turns it into a series (count 2) and
//! patches it; later ones only count, and the count reaches the server when the series
//! is refreshed (every 30 minutes) or finished (after 6 minutes without a repeat).
//!
//! Two events are the same when they agree on type, action, reason, reporting
//! controller and instance, and the objects they regard and relate to; the note may
//! differ. Plain state on an injected [`Clock`]; the writer does the I/O.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::event::{EventSeries, EventsV1Event};
use super::ObjectReference;
use crate::clock::Clock;
use crate::meta::micro_time;

/// How long a series may go without a repeat before it is finished: 6 minutes.
pub(crate) const FINISH_AFTER: Duration = Duration::from_secs(6 * 60);

/// How often ongoing series are written: every 30 minutes.
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(30 * 60);

/// What makes two events the same.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    type_: Option<String>,
    action: Option<String>,
    reason: Option<String>,
    controller: Option<String>,
    instance: Option<String>,
    regarding: Option<ObjectReference>,
    related: Option<ObjectReference>,
}

impl Key {
    fn of(e: &EventsV1Event) -> Key {
        Key {
            type_: e.type_.clone(),
            action: e.action.clone(),
            reason: e.reason.clone(),
            controller: e.reporting_controller.clone(),
            instance: e.reporting_instance.clone(),
            regarding: e.regarding.clone(),
            related: e.related.clone(),
        }
    }
}

/// An event seen, and when (on the cache's clock) it was first and last seen.
struct Entry {
    event: EventsV1Event,
    first: Duration,
    last: Duration,
}

/// The series cache; see the module docs.
pub(crate) struct SeriesCache {
    clock: Arc<dyn Clock>,
    entries: HashMap<Key, Entry>,
}

impl SeriesCache {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        SeriesCache {
            clock,
            entries: HashMap::new(),
        }
    }

    /// What to write for a new occurrence: the event itself the first time, the earlier
    /// event with a series of 2 the second time, nothing after that.
    pub(crate) fn observe(&mut self, event: EventsV1Event) -> Option<EventsV1Event> {
        let now = self.clock.now();
        let wall = micro_time(self.clock.wall());
        match self.entries.entry(Key::of(&event)) {
            std::collections::hash_map::Entry::Occupied(mut seen) => {
                let seen = seen.get_mut();
                seen.last = now;
                match &mut seen.event.series {
                    Some(series) => {
                        series.count = series.count.saturating_add(1);
                        series.last_observed_time = Some(wall);
                        None
                    }
                    None => {
                        seen.event.series = Some(EventSeries {
                            count: 2,
                            last_observed_time: Some(wall),
                        });
                        Some(seen.event.clone())
                    }
                }
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Entry {
                    event: event.clone(),
                    first: now,
                    last: now,
                });
                Some(event)
            }
        }
    }

    /// The ongoing series, to be written with their counts so far.
    pub(crate) fn ongoing(&self) -> Vec<EventsV1Event> {
        self.entries
            .values()
            .filter(|e| e.event.series.is_some())
            .map(|e| e.event.clone())
            .collect()
    }

    /// The series without a repeat for longer than [`FINISH_AFTER`], to be written one
    /// last time and then [forgotten](Self::forget); single events that old are
    /// forgotten now.
    pub(crate) fn ended(&mut self) -> Vec<EventsV1Event> {
        let now = self.clock.now();
        let idle = |e: &Entry| now.saturating_sub(e.last) > FINISH_AFTER;
        self.entries
            .retain(|_, e| e.event.series.is_some() || now.saturating_sub(e.first) <= FINISH_AFTER);
        self.entries
            .values()
            .filter(|e| e.event.series.is_some() && idle(e))
            .map(|e| e.event.clone())
            .collect()
    }

    /// Forgets a series whose final count was written, unless it repeated meanwhile.
    pub(crate) fn forget(&mut self, event: &EventsV1Event) {
        let key = Key::of(event);
        if self
            .entries
            .get(&key)
            .is_some_and(|e| e.event.series == event.series)
        {
            self.entries.remove(&key);
        }
    }

    /// Takes out every series (the recorder is stopping).
    pub(crate) fn drain(&mut self) -> Vec<EventsV1Event> {
        self.entries
            .drain()
            .filter_map(|(_, e)| e.event.series.is_some().then_some(e.event))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn event(name: &str, reason: &str, note: &str) -> EventsV1Event {
        EventsV1Event {
            metadata: crate::meta::ObjectMeta {
                name: Some(name.to_owned()),
                ..Default::default()
            },
            reason: Some(reason.to_owned()),
            action: Some(reason.to_owned()),
            note: Some(note.to_owned()),
            regarding: Some(ObjectReference {
                name: Some("web".to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn repeats_become_a_series_written_on_the_second_and_when_finished() {
        let clock = ManualClock::new();
        let mut cache = SeriesCache::new(Arc::new(clock.clone()));
        let first = cache
            .observe(event("a", "Pulled", "one"))
            .expect("first is written");
        assert_eq!(first.series, None);
        // The second, even with another note, makes the first a series of 2.
        let second = cache
            .observe(event("b", "Pulled", "two"))
            .expect("second is written");
        assert_eq!(second.metadata.name.as_deref(), Some("a"));
        assert_eq!(second.series.as_ref().map(|s| s.count), Some(2));
        // Later ones only count.
        assert_eq!(cache.observe(event("c", "Pulled", "three")), None);
        assert_eq!(cache.ongoing()[0].series.as_ref().map(|s| s.count), Some(3));
        // Another reason is another event.
        assert!(cache.observe(event("d", "Killed", "x")).is_some());

        clock.advance(FINISH_AFTER);
        assert!(
            cache.ended().is_empty(),
            "not idle for longer than the limit yet"
        );
        clock.advance(Duration::from_secs(1));
        let ended = cache.ended();
        assert_eq!(ended.len(), 1, "the single event is forgotten, not written");
        assert_eq!(ended[0].series.as_ref().map(|s| s.count), Some(3));
        // Until its final write succeeds, the series stays.
        assert_eq!(cache.ongoing().len(), 1);
        cache.forget(&ended[0]);
        assert!(cache.ongoing().is_empty());
        // Afterwards the same event starts over.
        assert_eq!(
            cache
                .observe(event("e", "Pulled", "x"))
                .and_then(|e| e.series),
            None
        );
    }
}
