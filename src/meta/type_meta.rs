//! `TypeMeta` and `ListMeta`: the `apiVersion`/`kind` pair and the metadata of lists.

use serde::{Deserialize, Serialize};

/// `apiVersion` and `kind` of an object or list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    /// Group and version, for example `v1` or `apps/v1`.
    pub api_version: String,
    /// Kind, for example `Pod`.
    pub kind: String,
}

/// Metadata of a list response: its version and paging state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// The resourceVersion at which the list was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Token to fetch the next page, absent on the last page.
    #[serde(default, rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_: Option<String>,
    /// Objects left after this page, when the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_item_count: Option<i64>,
    /// Deprecated self link; kept for round-tripping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_link: Option<String>,
}
