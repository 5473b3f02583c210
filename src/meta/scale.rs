//! `Scale` (autoscaling/v1): what the `scale` subresource of a workload reads and writes
//! (client-go's scale client).

use serde::{Deserialize, Serialize};

use super::ObjectMeta;

/// A resource's desired and observed replicas, as its `scale` subresource answers.
///
/// ```
/// use informer::meta::Scale;
/// let s: Scale = serde_json::from_value(serde_json::json!({
///     "kind": "Scale", "apiVersion": "autoscaling/v1",
///     "metadata": {"name": "web", "namespace": "shop"},
///     "spec": {"replicas": 3},
///     "status": {"replicas": 2, "selector": "app=web"},
/// })).unwrap();
/// assert_eq!(s.spec.replicas, Some(3));
/// assert_eq!(s.status.and_then(|s| s.selector).as_deref(), Some("app=web"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    /// `autoscaling/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Scale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The scaled object's name, namespace, uid and resourceVersion; a write with a
    /// resourceVersion is conditional on it.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired replicas.
    #[serde(default)]
    pub spec: ScaleSpec,
    /// The observed replicas and the selector of the pods counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ScaleStatus>,
}

/// The desired replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleSpec {
    /// How many replicas the object should have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// The observed replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleStatus {
    /// How many replicas were last observed.
    #[serde(default)]
    pub replicas: i32,
    /// The label selector of the pods counted, in its string form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}
