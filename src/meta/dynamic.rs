//! `DynamicObject`: an object of any kind, typed metadata plus the rest as raw JSON.

use serde::{Deserialize, Serialize};

use super::{Object, ObjectMeta, TypeMeta};

/// An object whose kind is known only at run time.
///
/// `metadata` is decoded into [`ObjectMeta`]; every other field (`spec`, `status`,
/// `data`, fields this crate has never heard of) is kept in `data` as JSON, so the object
/// re-serialises to the same JSON value it was decoded from.
///
/// ```
/// use informer::meta::{DynamicObject, Object};
/// let json = serde_json::json!({
///     "apiVersion": "example.com/v1", "kind": "Widget",
///     "metadata": {"name": "w1", "namespace": "ns"},
///     "spec": {"size": 3}
/// });
/// let w: DynamicObject = serde_json::from_value(json.clone()).unwrap();
/// assert_eq!(w.name(), Some("w1"));
/// assert_eq!(w.data["spec"]["size"], 3);
/// assert_eq!(serde_json::to_value(&w).unwrap(), json);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicObject {
    /// `apiVersion` and `kind`, when the object carries them.
    #[serde(flatten, default)]
    pub types: Option<TypeMeta>,
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field, as JSON.
    #[serde(flatten)]
    pub data: serde_json::Value,
}

impl Object for DynamicObject {
    type Meta = ObjectMeta;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
