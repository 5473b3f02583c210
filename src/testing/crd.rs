//! CustomResourceDefinitions: creating one (apiextensions.k8s.io/v1) registers the
//! resource it defines, as a real server starts serving it, with its scope, short names
//! and `status` subresource. The server serves one version of a resource: the
//! definition's storage version.

use serde_json::Value;

use super::errors::{self, FieldError};
use super::resources::{ResourceInfo, ScaleSubresource};
use super::storage::Storage;
use crate::meta::{ApiResource, Status};

/// Whether `info` is the definitions resource itself.
pub(crate) fn is_definitions(info: &ResourceInfo) -> bool {
    info.api.group == "apiextensions.k8s.io" && info.api.plural == "customresourcedefinitions"
}

/// The resource a definition defines; `422 Invalid` naming the field that is missing or
/// wrong.
pub(crate) fn resource_of(definitions: &ResourceInfo, crd: &Value) -> Result<ResourceInfo, Status> {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let refuse = |e: FieldError| errors::invalid(&definitions.api, name, &[e]);
    let text = |pointer: &str, field: &str| -> Result<String, Status> {
        match crd.pointer(pointer).and_then(Value::as_str) {
            Some(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(refuse(FieldError::required(field, ""))),
        }
    };
    let group = text("/spec/group", "spec.group")?;
    let kind = text("/spec/names/kind", "spec.names.kind")?;
    let plural = text("/spec/names/plural", "spec.names.plural")?;
    if name != format!("{plural}.{group}") {
        return Err(refuse(FieldError::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        )));
    }
    let scope = crd
        .pointer("/spec/scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let namespaced = match scope {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(refuse(FieldError::not_supported(
                "spec.scope",
                other,
                &["Cluster", "Namespaced"],
            )))
        }
    };
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage: Vec<&Value> = versions.iter().filter(|v| v["storage"] == true).collect();
    let [version] = storage.as_slice() else {
        return Err(refuse(FieldError::invalid(
            "spec.versions",
            &format!("{} storage versions", storage.len()),
            "must have exactly one version marked as storage version",
        )));
    };
    let version_name = version["name"]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refuse(FieldError::required("spec.versions[0].name", "")))?;
    let short_names = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let path = |key: &str| {
        version
            .pointer(&format!("/subresources/scale/{key}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let scale = match (path("specReplicasPath"), path("statusReplicasPath")) {
        (Some(spec), Some(status)) => Some(ScaleSubresource {
            spec_replicas_path: spec,
            status_replicas_path: status,
            label_selector_path: path("labelSelectorPath"),
        }),
        (None, None) if version.pointer("/subresources/scale").is_none() => None,
        _ => {
            return Err(refuse(FieldError::required(
                "spec.versions[0].subresources.scale.specReplicasPath",
                "",
            )))
        }
    };
    Ok(ResourceInfo {
        api: ApiResource::new(&group, version_name, &kind, &plural, namespaced),
        status_subresource: version.pointer("/subresources/status").is_some(),
        short_names,
        scale,
    })
}

/// Checks a definition before it is stored; registers what it defines once it is (not
/// on a dry run).
pub(crate) fn create_with(
    storage: &Storage,
    info: &ResourceInfo,
    crd: &Value,
    dry_run: bool,
    store: impl FnOnce() -> Result<super::storage::Written, Status>,
) -> Result<super::storage::Written, Status> {
    if !is_definitions(info) {
        return store();
    }
    let defined = resource_of(info, crd)?;
    let written = store()?;
    if !dry_run {
        storage.register(defined);
    }
    Ok(written)
}
