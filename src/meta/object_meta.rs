//! `ObjectMeta`, `OwnerReference` and `ManagedFieldsEntry`: the metadata every persisted
//! Kubernetes object carries.

use serde::{Deserialize, Serialize};

use super::StringMap;

/// Standard object metadata (`metadata` of every persisted object).
///
/// Field names follow the wire format in camelCase. Every field is optional and an absent
/// field stays absent when the object is serialised again, so that a decoded object
/// round-trips without gaining `null`s. Labels and annotations are [`StringMap`]s, which
/// read like a `BTreeMap` in a fraction of its memory:
///
/// ```
/// use informer::meta::{ObjectMeta, StringMap};
///
/// let mut meta = ObjectMeta {
///     name: Some("web".into()),
///     labels: Some(StringMap::from([("app", "web")])),
///     ..ObjectMeta::default()
/// };
/// meta.labels.get_or_insert_with(StringMap::new).insert("tier", "frontend");
/// assert_eq!(meta.labels.as_ref().and_then(|l| l.get("tier")), Some("frontend"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Name, unique within a namespace (or the cluster for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Prefix the server uses to generate a unique name when `name` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// Namespace; absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Deprecated self link; kept for round-tripping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_link: Option<String>,
    /// Unique id set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Opaque version used for optimistic concurrency and watches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Sequence number of the desired state, incremented on spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// RFC 3339 time at which the object is to be deleted; set once deletion began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// Grace period granted for the deletion in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Labels: identifying key/value pairs matched by selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    /// Annotations: non-identifying key/value pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<StringMap>,
    /// Objects this object depends on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_references: Option<Vec<OwnerReference>>,
    /// Finalizers that must be removed before the object is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalizers: Option<Vec<String>>,
    /// Field ownership bookkeeping of server-side apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_fields: Option<Vec<ManagedFieldsEntry>>,
}

/// A reference from an object to the object that owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// API version of the owner, for example `apps/v1`.
    pub api_version: String,
    /// Kind of the owner, for example `ReplicaSet`.
    pub kind: String,
    /// Name of the owner.
    pub name: String,
    /// Uid of the owner.
    pub uid: String,
    /// Whether the owner is the managing controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether the owner cannot be deleted before this object is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

/// One entry of `metadata.managedFields`.
///
/// `fieldsV1` is kept as the raw JSON text it arrived as: it is large, deeply nested and
/// almost never read, and as text it takes a fraction of the memory a parsed
/// `serde_json::Value` would (parse it on demand with `serde_json::from_str`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedFieldsEntry {
    /// Name of the manager (the client) that owns these fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// `Apply` or `Update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// API version the fields were written with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// RFC 3339 time of the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Format of `fieldsV1`; always `FieldsV1` today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields_type: Option<String>,
    /// The owned field set, as raw JSON text.
    #[serde(default, rename = "fieldsV1", skip_serializing_if = "Option::is_none")]
    pub fields_v1: Option<Box<serde_json::value::RawValue>>,
    /// Subresource the fields were written through, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
}

impl PartialEq for ManagedFieldsEntry {
    fn eq(&self, other: &Self) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.api_version == other.api_version
            && self.time == other.time
            && self.fields_type == other.fields_type
            && self.fields_v1.as_deref().map(|r| r.get())
                == other.fields_v1.as_deref().map(|r| r.get())
            && self.subresource == other.subresource
    }
}
