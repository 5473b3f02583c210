//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}` and
//! `/apis/{group}/{version}`, built from the registered resources.
//!
//! The server answers in the legacy (non-aggregated) format with a plain
//! `application/json` content type; clients that ask for aggregated discovery fall back to
//! it, as they do with older servers.

use std::collections::BTreeMap;

use hyper::Response;
use serde_json::{json, Value};

use super::errors;
use super::http::{self, Body};
use super::resources::ResourceInfo;

/// The Kubernetes version the server claims to be.
pub(crate) const MAJOR: &str = "1";
/// The Kubernetes minor version the server claims to be.
pub(crate) const MINOR: &str = "33";

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `/version`.
pub(crate) fn version() -> Response<Body> {
    http::json_value(
        200,
        &json!({
            "major": MAJOR,
            "minor": MINOR,
            "gitVersion": format!("v{MAJOR}.{MINOR}.0-informer"),
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64"
        }),
    )
}

/// `/api`.
pub(crate) fn api(server_address: &str) -> Response<Body> {
    http::json_value(
        200,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
            ]
        }),
    )
}

/// Versions per group (other than the core group), in registration-independent order.
fn groups(resources: &[ResourceInfo]) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources.iter().filter(|r| !r.api.group.is_empty()) {
        let versions = groups.entry(r.api.group.clone()).or_default();
        if !versions.contains(&r.api.version) {
            versions.push(r.api.version.clone());
        }
    }
    groups
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis`.
pub(crate) fn apis(resources: &[ResourceInfo]) -> Response<Body> {
    let groups: Vec<Value> = groups(resources)
        .iter()
        .map(|(name, versions)| group_json(name, versions))
        .collect();
    http::json_value(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

/// `/apis/{group}`.
pub(crate) fn group(resources: &[ResourceInfo], group: &str) -> Response<Body> {
    match groups(resources).get(group) {
        Some(versions) => {
            let mut doc = group_json(group, versions);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            http::json_value(200, &doc)
        }
        None => http::status(&errors::path_not_found()),
    }
}

/// `/api/v1` or `/apis/{group}/{version}`.
pub(crate) fn resource_list(
    resources: &[ResourceInfo],
    group: &str,
    version: &str,
) -> Response<Body> {
    let mut list = Vec::new();
    for r in resources
        .iter()
        .filter(|r| r.api.group == group && r.api.version == version)
    {
        list.push(json!({
            "name": r.api.plural,
            "singularName": r.api.kind.to_lowercase(),
            "namespaced": r.api.namespaced,
            "kind": r.api.kind,
            "verbs": VERBS,
            "shortNames": r.short_names,
        }));
        if r.status_subresource {
            list.push(json!({
                "name": format!("{}/status", r.api.plural),
                "singularName": "",
                "namespaced": r.api.namespaced,
                "kind": r.api.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if r.scale.is_some() {
            list.push(json!({
                "name": format!("{}/scale", r.api.plural),
                "singularName": "",
                "namespaced": r.api.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if list.is_empty() {
        return http::status(&errors::path_not_found());
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    http::json_value(
        200,
        &json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": list,
        }),
    )
}
