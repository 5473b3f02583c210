//! The reference an event carries to the object it is about (core/v1
//! `ObjectReference`): kind, apiVersion, namespace, name, uid and resourceVersion.

use serde::{Deserialize, Serialize};

use crate::meta::{ApiResource, MetaAccessor, Object, Resource};

/// A reference to an object, as an event's `involvedObject` (core/v1) or `regarding`
/// (events.k8s.io/v1) names it.
///
/// ```
/// use informer::events::ObjectReference;
/// use informer::leaderelection::Lease;
/// use informer::meta::ObjectMeta;
/// let lease = Lease {
///     metadata: ObjectMeta { name: Some("lock".into()), namespace: Some("ops".into()), ..Default::default() },
///     ..Default::default()
/// };
/// let r = ObjectReference::from_object(&lease);
/// assert_eq!(r.kind.as_deref(), Some("Lease"));
/// assert_eq!(r.api_version.as_deref(), Some("coordination.k8s.io/v1"));
/// assert_eq!(r.name.as_deref(), Some("lock"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// `apiVersion` of the object (`v1`, `apps/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Its kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its namespace; absent for a cluster-scoped object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The resourceVersion the event saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// A part of the object (`spec.containers{web}`), when the event is about that part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

impl ObjectReference {
    /// A reference to a typed object.
    pub fn from_object<K: Object + Resource>(obj: &K) -> Self {
        ObjectReference::for_resource(obj, &K::api_resource())
    }

    /// A reference to an object of the given resource (for a dynamic object).
    pub fn for_resource<K: Object>(obj: &K, resource: &ApiResource) -> Self {
        ObjectReference {
            api_version: Some(resource.api_version()),
            kind: Some(resource.kind.clone()),
            namespace: obj.namespace().map(str::to_owned),
            name: obj.name().map(str::to_owned),
            uid: obj.meta().uid().map(str::to_owned),
            resource_version: obj.meta().resource_version().map(str::to_owned),
            field_path: None,
        }
    }
}
