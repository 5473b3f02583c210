//! `WatchEvent<K>`: one line of a watch stream.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
