//! Which fields each resource can be selected by, and how a stored object's value of such
//! a field is read: the server's side of `fieldSelector`.
//!
//! Every resource supports `metadata.name`, and every one but namespaces and nodes
//! `metadata.namespace`; built-in resources add a few fields of their own, as kube-apiserver's registries declare them (pods by
//! node and phase, events by the object they are about, ...). A request that names any
//! other field is answered `400 BadRequest` ("field label not supported"), as a real
//! server answers it. A list or watch builds one [`FieldFilter`] from its selector and
//! applies it to each stored object: metadata fields are read from the decoded metadata,
//! other fields from the object's JSON, parsed only when the selector needs it.

use std::borrow::Cow;

use serde_json::Value;

use super::errors;
use super::resources::ResourceInfo;
use super::storage::Stored;
use crate::meta::Status;
use crate::selector::{json_field, Field, FieldRequirement, FieldSelector};

/// A selectable field beyond the metadata ones: its label in a selector, where it lives
/// in the object, and the value it has when the object leaves it out (a Go zero value).
struct Selectable {
    label: &'static str,
    path: &'static str,
    /// Read when `path` is missing or empty.
    fallback: Option<&'static str>,
    missing: &'static str,
}

const fn field(label: &'static str, path: &'static str) -> Selectable {
    Selectable {
        label,
        path,
        fallback: None,
        missing: "",
    }
}

const POD: &[Selectable] = &[
    field("spec.nodeName", "spec.nodeName"),
    field("spec.restartPolicy", "spec.restartPolicy"),
    field("spec.schedulerName", "spec.schedulerName"),
    field("spec.serviceAccountName", "spec.serviceAccountName"),
    Selectable {
        label: "spec.hostNetwork",
        path: "spec.hostNetwork",
        fallback: None,
        missing: "false",
    },
    field("status.phase", "status.phase"),
    field("status.podIP", "status.podIP"),
    field("status.nominatedNodeName", "status.nominatedNodeName"),
];

const CORE_EVENT: &[Selectable] = &[
    field("involvedObject.kind", "involvedObject.kind"),
    field("involvedObject.namespace", "involvedObject.namespace"),
    field("involvedObject.name", "involvedObject.name"),
    field("involvedObject.uid", "involvedObject.uid"),
    field("involvedObject.apiVersion", "involvedObject.apiVersion"),
    field(
        "involvedObject.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    field("involvedObject.fieldPath", "involvedObject.fieldPath"),
    field("reason", "reason"),
    field("reportingComponent", "reportingComponent"),
    // The reporting component when the legacy source is empty, as a real server reads it.
    Selectable {
        label: "source",
        path: "source.component",
        fallback: Some("reportingComponent"),
        missing: "",
    },
    field("type", "type"),
];

const EVENTS_V1_EVENT: &[Selectable] = &[
    field("regarding.kind", "regarding.kind"),
    field("regarding.namespace", "regarding.namespace"),
    field("regarding.name", "regarding.name"),
    field("regarding.uid", "regarding.uid"),
    field("regarding.apiVersion", "regarding.apiVersion"),
    field("regarding.resourceVersion", "regarding.resourceVersion"),
    field("regarding.fieldPath", "regarding.fieldPath"),
    field("reason", "reason"),
    field("reportingController", "reportingController"),
    field("type", "type"),
];

const SECRET: &[Selectable] = &[field("type", "type")];

const NAMESPACE: &[Selectable] = &[field("status.phase", "status.phase")];

const NODE: &[Selectable] = &[Selectable {
    label: "spec.unschedulable",
    path: "spec.unschedulable",
    fallback: None,
    missing: "false",
}];

const REPLICA_SET: &[Selectable] = &[Selectable {
    label: "status.replicas",
    path: "status.replicas",
    fallback: None,
    missing: "0",
}];

/// The fields beyond `metadata.name` and `metadata.namespace` that a resource supports.
fn selectable(info: &ResourceInfo) -> &'static [Selectable] {
    match (info.api.group.as_str(), info.api.plural.as_str()) {
        ("", "pods") => POD,
        ("", "events") => CORE_EVENT,
        ("events.k8s.io", "events") => EVENTS_V1_EVENT,
        ("", "secrets") => SECRET,
        ("", "namespaces") => NAMESPACE,
        ("", "nodes") => NODE,
        ("apps", "replicasets") => REPLICA_SET,
        _ => &[],
    }
}

/// A field selector checked against one resource, ready to filter its stored objects.
#[derive(Clone, Debug, Default)]
pub(crate) struct FieldFilter {
    /// Each requirement with, for a field outside the metadata, its place in the object.
    requirements: Vec<(FieldRequirement, Option<Path>)>,
}

/// Where a selectable field lives and what it is when missing.
#[derive(Clone, Copy, Debug)]
struct Path {
    path: &'static str,
    fallback: Option<&'static str>,
    missing: &'static str,
}

/// Whether objects of the resource can be selected by `metadata.namespace` (all but the
/// two cluster-scoped built-ins whose registries leave it out).
fn selectable_by_namespace(info: &ResourceInfo) -> bool {
    !(info.api.group.is_empty() && matches!(info.api.plural.as_str(), "namespaces" | "nodes"))
}

impl FieldFilter {
    /// Checks every field of `selector` against what `info` supports: `400 BadRequest`
    /// naming the first field it does not.
    pub(crate) fn new(info: &ResourceInfo, selector: &FieldSelector) -> Result<Self, Status> {
        let fields = selectable(info);
        let requirements = selector
            .requirements()
            .iter()
            .map(|r| {
                let path = match &r.field {
                    Field::Namespace if !selectable_by_namespace(info) => {
                        return Err(errors::bad_request(
                            "field label not supported: metadata.namespace",
                        ));
                    }
                    Field::Name | Field::Namespace => None,
                    Field::Path(label) => {
                        let Some(f) = fields.iter().find(|f| f.label == label.as_str()) else {
                            return Err(errors::bad_request(format!(
                                "field label not supported: {label}"
                            )));
                        };
                        Some(Path {
                            path: f.path,
                            fallback: f.fallback,
                            missing: f.missing,
                        })
                    }
                };
                Ok((r.clone(), path))
            })
            .collect::<Result<_, Status>>()?;
        Ok(FieldFilter { requirements })
    }

    /// Whether a stored object satisfies every requirement. Its JSON is parsed once, and
    /// only when a requirement names a field outside the metadata.
    pub(crate) fn matches(&self, obj: &Stored) -> bool {
        let mut json: Option<Option<Value>> = None;
        self.requirements.iter().all(|(r, path)| match path {
            None => r.matches_value(match r.field {
                Field::Namespace => obj.namespace(),
                _ => obj.name(),
            }),
            Some(p) => {
                let value = json.get_or_insert_with(|| obj.value().ok());
                let read = |path| {
                    value
                        .as_ref()
                        .and_then(|v| json_field(v, path))
                        .filter(|s| !s.is_empty())
                };
                let actual = read(p.path)
                    .or_else(|| p.fallback.and_then(read))
                    .unwrap_or(Cow::Borrowed(p.missing));
                r.matches_value(&actual)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::ApiResource;

    fn info(group: &str, kind: &str, plural: &str) -> ResourceInfo {
        ResourceInfo::new(ApiResource::new(group, "v1", kind, plural, true))
    }

    #[test]
    fn unsupported_fields_are_refused_per_resource() {
        let sel = FieldSelector::parse("spec.nodeName=n1").unwrap();
        assert!(FieldFilter::new(&info("", "Pod", "pods"), &sel).is_ok());
        let err = FieldFilter::new(&info("", "ConfigMap", "configmaps"), &sel).unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(err.message, "field label not supported: spec.nodeName");
        let sel = FieldSelector::parse("metadata.name=a,metadata.namespace!=b").unwrap();
        assert!(FieldFilter::new(&info("example.com", "Widget", "widgets"), &sel).is_ok());
        // Namespaces and nodes are selected by name only (and their own fields).
        let err = FieldFilter::new(&info("", "Node", "nodes"), &sel).unwrap_err();
        assert_eq!(err.message, "field label not supported: metadata.namespace");
        let by_name = FieldSelector::parse("metadata.name=n1,spec.unschedulable=true").unwrap();
        assert!(FieldFilter::new(&info("", "Node", "nodes"), &by_name).is_ok());
    }
}
