//! `PartialObjectMetadata`: an object reduced to its type and metadata, as the API server
//! sends it to metadata-only clients (`meta.k8s.io/v1`).

use serde::{Deserialize, Serialize};

use super::{Object, ObjectMeta};

/// An object of any kind reduced to its metadata: what metadata-only informers cache
/// (client-go's `metav1.PartialObjectMetadata`, kube-rs's `PartialObjectMeta`).
///
/// A client asks for it with
/// `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1` (for an object
/// or a watch) or `as=PartialObjectMetadataList` (for a list); the server then sends
/// `kind: PartialObjectMetadata`, `apiVersion: meta.k8s.io/v1` and the object's whole
/// `metadata`, but no `spec` or `status`. Decoding a full object into it keeps the
/// metadata and drops the rest, so it also works with a server that ignores the request
/// (the `kind` is then the object's own).
///
/// ```
/// use informer::meta::{Object, PartialObjectMetadata};
/// let json = serde_json::json!({
///     "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
///     "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}}
/// });
/// let pod: PartialObjectMetadata = serde_json::from_value(json.clone()).unwrap();
/// assert_eq!(pod.name(), Some("web"));
/// assert_eq!(pod.labels().and_then(|l| l.get("app")), Some("web"));
/// assert_eq!(serde_json::to_value(&pod).unwrap(), json);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialObjectMetadata {
    /// `meta.k8s.io/v1` as the server sends it (empty when absent).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `PartialObjectMetadata` as the server sends it (empty when absent).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

impl Object for PartialObjectMetadata {
    type Meta = ObjectMeta;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
