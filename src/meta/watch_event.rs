//! `WatchEvent<K>`: one line of a watch stream.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::Status;

/// The annotation on the bookmark that ends a streaming initial list.
pub const INITIAL_EVENTS_END_ANNOTATION: &str = "k8s.io/initial-events-end";

/// One event of a watch, as the API server writes it:
/// `{"type":"ADDED","object":{...}}`.
///
/// ```
/// use informer::meta::{DynamicObject, WatchEvent};
/// let e: WatchEvent<DynamicObject> = serde_json::from_str(
///     r#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}}"#,
/// ).unwrap();
/// match e {
///     WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, "12"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
// `K` is usually far larger than `Status` (a decoded Pod is kilobytes), so boxing the
// rare error variant would not make the enum smaller where it matters.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "object", rename_all = "UPPERCASE")]
pub enum WatchEvent<K> {
    /// An object was created (or started matching the watch's selector).
    Added(K),
    /// An object changed.
    Modified(K),
    /// An object was deleted (or stopped matching the watch's selector); the object is its
    /// last state.
    Deleted(K),
    /// Progress marker: only the resourceVersion moved.
    Bookmark(Bookmark),
    /// The watch failed; the stream ends after it.
    Error(Status),
}

/// Decodes `{"type": ..., "object": ...}` with the keys in either order.
///
/// The API server writes `type` first, and then the object decodes straight from the
/// input. When `object` comes first it is kept as raw JSON text until the type is known,
/// instead of serde's generic buffering, which cannot hold the raw JSON fields
/// (`fieldsV1`) of [`ObjectMeta`](super::ObjectMeta).
impl<'de, K: DeserializeOwned> Deserialize<'de> for WatchEvent<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor(PhantomData))
    }
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum EventType {
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum EventField {
    Type,
    Object,
    #[serde(other)]
    Other,
}

struct EventVisitor<K>(PhantomData<K>);

impl<K> EventVisitor<K> {
    fn object<'de, A: MapAccess<'de>>(ty: EventType, map: &mut A) -> Result<WatchEvent<K>, A::Error>
    where
        K: DeserializeOwned,
    {
        Ok(match ty {
            EventType::Added => WatchEvent::Added(map.next_value()?),
            EventType::Modified => WatchEvent::Modified(map.next_value()?),
            EventType::Deleted => WatchEvent::Deleted(map.next_value()?),
            EventType::Bookmark => WatchEvent::Bookmark(map.next_value()?),
            EventType::Error => WatchEvent::Error(map.next_value()?),
        })
    }

    fn from_raw<E: de::Error>(ty: EventType, raw: &str) -> Result<WatchEvent<K>, E>
    where
        K: DeserializeOwned,
    {
        let event = match ty {
            EventType::Added => serde_json::from_str(raw).map(WatchEvent::Added),
            EventType::Modified => serde_json::from_str(raw).map(WatchEvent::Modified),
            EventType::Deleted => serde_json::from_str(raw).map(WatchEvent::Deleted),
            EventType::Bookmark => serde_json::from_str(raw).map(WatchEvent::Bookmark),
            EventType::Error => serde_json::from_str(raw).map(WatchEvent::Error),
        };
        event.map_err(E::custom)
    }
}

impl<'de, K: DeserializeOwned> Visitor<'de> for EventVisitor<K> {
    type Value = WatchEvent<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a watch event with \"type\" and \"object\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ty: Option<EventType> = None;
        let mut event: Option<WatchEvent<K>> = None;
        let mut raw: Option<Box<serde_json::value::RawValue>> = None;
        while let Some(field) = map.next_key::<EventField>()? {
            match field {
                EventField::Type if ty.is_some() => return Err(de::Error::duplicate_field("type")),
                EventField::Type => ty = Some(map.next_value()?),
                EventField::Object if event.is_some() || raw.is_some() => {
                    return Err(de::Error::duplicate_field("object"))
                }
                EventField::Object => match ty {
                    Some(t) => event = Some(Self::object(t, &mut map)?),
                    None => raw = Some(map.next_value()?),
                },
                EventField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let ty = ty.ok_or_else(|| de::Error::missing_field("type"))?;
        match (event, raw) {
            (Some(event), _) => Ok(event),
            (None, Some(raw)) => Self::from_raw(ty, raw.get()),
            (None, None) => Err(de::Error::missing_field("object")),
        }
    }
}

/// The object of a `BOOKMARK` event: only a resourceVersion and maybe annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bookmark {
    /// `apiVersion` of the watched kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The watched kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The bookmark's metadata.
    pub metadata: BookmarkMeta,
}

/// Metadata of a bookmark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookmarkMeta {
    /// The resourceVersion the watch has reached.
    pub resource_version: String,
    /// Annotations, such as [`INITIAL_EVENTS_END_ANNOTATION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Bookmark {
    /// Whether this bookmark ends the initial events of a streaming list
    /// (`k8s.io/initial-events-end: "true"`).
    pub fn is_initial_events_end(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INITIAL_EVENTS_END_ANNOTATION))
            .is_some_and(|v| v == "true")
    }
}
