//! The `scale` subresource (autoscaling/v1 `Scale`): deployments, replica sets and any
//! resource whose definition declares `subresources.scale`. A `GET` renders the object's
//! replica counts and selector as a `Scale`; a `PUT` or `PATCH` of the `Scale` writes the
//! desired replicas back into the object, conditional on the `Scale`'s resourceVersion
//! when it has one, as a real server does.

use serde_json::{json, Value};

use super::errors::{self, FieldError};
use super::managed::Tracking;
use super::patch::{self, PatchKind};
use super::resources::{ResourceInfo, ScaleSubresource};
use super::storage::{Storage, Stored, Written};
use crate::meta::{label_selector_as_selector, LabelSelector, Status};

/// The `Scale` of a stored object.
pub(crate) fn render(
    info: &ResourceInfo,
    scale: &ScaleSubresource,
    obj: &Stored,
) -> Result<Value, Status> {
    let value = obj.value()?;
    let at = |path: &str| value.pointer(&pointer(path)).cloned();
    let default_replicas = if info.api.group == "apps" { 1 } else { 0 };
    let spec = at(&scale.spec_replicas_path)
        .and_then(|v| v.as_i64())
        .unwrap_or(default_replicas);
    let status = at(&scale.status_replicas_path)
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let selector = match scale.label_selector_path.as_deref().and_then(at) {
        Some(Value::String(s)) => Some(s),
        // Built-in workloads keep a structured selector; a Scale writes it as a string.
        Some(structured @ Value::Object(_)) => serde_json::from_value::<LabelSelector>(structured)
            .ok()
            .and_then(|s| label_selector_as_selector(Some(&s)).ok())
            .map(|s| s.to_string()),
        _ => None,
    };
    let meta = &value["metadata"];
    let mut status_json = json!({ "replicas": status });
    if let Some(selector) = selector {
        status_json["selector"] = selector.into();
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": { "replicas": spec },
        "status": status_json,
    }))
}

/// How a write of the `Scale` arrived.
pub(crate) enum Change<'a> {
    /// A `PUT` of a whole `Scale`.
    Replace(Value),
    /// A `PATCH` of the `Scale`.
    Patch(PatchKind, &'a [u8]),
}

/// Writes a changed `Scale` into the object; returns the write and the new `Scale`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    storage: &Storage,
    info: &ResourceInfo,
    scale: &ScaleSubresource,
    ns: Option<&str>,
    name: &str,
    dry_run: bool,
    tracking: Tracking<'_>,
    change: Change<'_>,
) -> Result<(Written, Value), Status> {
    let written = storage.modify(info, ns, name, false, dry_run, tracking, |current| {
        let before = render(info, scale, current)?;
        let after = match &change {
            Change::Replace(v) => v.clone(),
            Change::Patch(kind, body) => patch::apply(*kind, &before, body)?,
        };
        let wanted = after["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty());
        if wanted.is_some_and(|rv| rv != current.rv.to_string()) {
            return Err(errors::conflict(
                &info.api,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let replicas = after["spec"]["replicas"].as_i64().unwrap_or(0);
        if replicas < 0 {
            return Err(errors::invalid(
                &scale_api(),
                name,
                &[FieldError::raw_invalid(
                    "spec.replicas",
                    &replicas.to_string(),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let mut obj = current.value()?;
        set(&mut obj, &scale.spec_replicas_path, replicas.into());
        Ok(obj)
    })?;
    let rendered = render(info, scale, &written.stored)?;
    Ok((written, rendered))
}

fn scale_api() -> crate::meta::ApiResource {
    crate::meta::ApiResource::new("autoscaling", "v1", "Scale", "scale", true)
}

/// A CRD-style path (`.spec.replicas`) as a JSON pointer (`/spec/replicas`).
fn pointer(path: &str) -> String {
    path.split('.')
        .filter(|p| !p.is_empty())
        .fold(String::new(), |mut out, p| {
            out.push('/');
            out.push_str(p);
            out
        })
}

/// Sets the value at a CRD-style path, creating objects on the way.
fn set(obj: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut at = obj;
    for p in parents {
        if !at.get(*p).is_some_and(Value::is_object) {
            at[*p] = json!({});
        }
        at = &mut at[*p];
    }
    at[*last] = value;
}
