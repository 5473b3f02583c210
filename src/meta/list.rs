//! `ObjectList<K>`: the body of a list response.

use serde::{Deserialize, Deserializer, Serialize};

use super::ListMeta;

/// A page of objects as a list call returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectList<K> {
    /// `apiVersion` of the list, for example `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the list, for example `PodList`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// resourceVersion and paging state.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The objects; a `null` on the wire decodes as empty.
    #[serde(
        default = "Vec::new",
        deserialize_with = "null_as_empty",
        bound(deserialize = "K: Deserialize<'de>")
    )]
    pub items: Vec<K>,
}

impl<K> Default for ObjectList<K> {
    fn default() -> Self {
        ObjectList {
            api_version: None,
            kind: None,
            metadata: ListMeta::default(),
            items: Vec::new(),
        }
    }
}

fn null_as_empty<'de, D, K>(deserializer: D) -> Result<Vec<K>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de>,
{
    Ok(Option::<Vec<K>>::deserialize(deserializer)?.unwrap_or_default())
}
