//! The two wire forms of an event: core/v1 `Event` (what `kubectl describe` lists) and
//! events.k8s.io/v1 `Event` (with a `series` for repeats), and the event type.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ObjectReference;
use crate::meta::{object_resource, ObjectMeta};

/// Whether an event reports normal operation or something a user should look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `Normal`: the controller did what it is for.
    Normal,
    /// `Warning`: something failed or is not as it should be.
    Warning,
}

impl EventType {
    /// `Normal` or `Warning`, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who reported a core/v1 event: the controller and the host it runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    /// The reporting component (the controller's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// The host (or instance) it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// How often an event has repeated and when it was last seen (both event forms).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSeries {
    /// Occurrences so far, the first included.
    #[serde(default)]
    pub count: i32,
    /// When it was last seen (a MicroTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_observed_time: Option<String>,
}

/// A core/v1 Event: the form `kubectl describe` lists under "Events".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreEvent {
    /// `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Event`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard metadata; the name is the object's name and a unique suffix.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The object the event is about.
    #[serde(default)]
    pub involved_object: ObjectReference,
    /// A short UpperCamelCase machine-readable reason (`Scaled`, `FailedSync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EventSource>,
    /// When it first happened (a Time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<String>,
    /// When it last happened (a Time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<String>,
    /// How many times it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    /// `Normal` or `Warning`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// When it first happened, in microseconds (set by events.k8s.io writers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// Repeats, for events written in the events.k8s.io form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<EventSeries>,
    /// What the controller did or failed to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// A second object involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<ObjectReference>,
    /// The reporting controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_component: Option<String>,
    /// The reporting controller's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
}

object_resource!(CoreEvent, "", "v1", "Event", "events", true);

/// An events.k8s.io/v1 Event: repeats are a `series` rather than a `count`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsV1Event {
    /// `events.k8s.io/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Event`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard metadata; the name is the object's name and a unique suffix.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// When it first happened (a MicroTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// Repeats after the first occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<EventSeries>,
    /// The reporting controller (`example.com/my-controller`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_controller: Option<String>,
    /// The reporting controller's instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_instance: Option<String>,
    /// What the controller did or failed to do (`Scaling`, `Reconciling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Why (`Scaled`, `FailedSync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The object the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regarding: Option<ObjectReference>,
    /// A second object involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<ObjectReference>,
    /// What happened, for people (at most 1 kB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `Normal` or `Warning`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

object_resource!(
    EventsV1Event,
    "events.k8s.io",
    "v1",
    "Event",
    "events",
    true
);
