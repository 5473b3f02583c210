//! Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and the subset of
//! strategic merge patch that kubectl's `label`, `annotate`, `scale` and `edit` send.
//!
//! The handler picks the kind from the request's `Content-Type`, the storage hands the
//! current object to [`apply`] under its lock, and the result is stored as an update.
//! Strategic merge patch is applied as a merge patch that understands the `$patch`
//! directive on maps and drops the other `$` directives; lists are replaced whole rather
//! than merged by key (the server has no schemas to know the keys).

use json_patch::{Patch, PatchOperation};
use serde_json::Value;

use super::errors;
use crate::meta::Status;

/// The patch formats the server accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchKind {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
}

/// Media types, for the `415` message.
pub(crate) const ACCEPTED: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    APPLY,
];

/// The media type of a server-side apply patch (YAML, of which JSON is a subset).
pub(crate) const APPLY: &str = "application/apply-patch+yaml";

/// Whether a `Content-Type` is that of a server-side apply patch, which the handler
/// passes to field management instead of [`apply`].
pub(crate) fn is_apply(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or_default().trim() == APPLY
}

impl PatchKind {
    /// The kind named by a `Content-Type`, if the server accepts it.
    pub(crate) fn from_content_type(content_type: &str) -> Option<PatchKind> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Some(PatchKind::StrategicMerge),
            _ => None,
        }
    }
}

/// Applies `patch` (the raw body) to `current`.
pub(crate) fn apply(kind: PatchKind, current: &Value, patch: &[u8]) -> Result<Value, Status> {
    let patch: Value = serde_json::from_slice(patch)
        .map_err(|e| errors::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = current.clone();
    match kind {
        PatchKind::Json => {
            let ops: Vec<PatchOperation> = serde_json::from_value(patch)
                .map_err(|e| errors::bad_request(format!("error decoding JSON patch: {e}")))?;
            // One operation at a time, on a copy: a failure leaves nothing half done.
            for op in ops {
                if tests_absent_as_null(&doc, &op) {
                    continue;
                }
                json_patch::patch(&mut doc, &Patch(vec![op])).map_err(|e| {
                    Status::failure(
                        422,
                        "Invalid",
                        format!("the JSON patch could not be applied: {e}"),
                    )
                })?;
            }
        }
        PatchKind::Merge => json_patch::merge(&mut doc, &patch),
        PatchKind::StrategicMerge => strategic_merge(&mut doc, &patch),
    }
    Ok(doc)
}

/// Whether `op` tests that a member missing from an existing object is `null`: that
/// test passes on a real server (its JSON patch library treats the missing member as
/// `null`), and kube-runtime's `finalizer()` sends it before adding the first finalizer.
fn tests_absent_as_null(doc: &Value, op: &PatchOperation) -> bool {
    let PatchOperation::Test(test) = op else {
        return false;
    };
    if !test.value.is_null() {
        return false;
    }
    let path = test.path.as_str();
    let Some((parent, _)) = path.rsplit_once('/') else {
        return false;
    };
    doc.pointer(parent).is_some_and(Value::is_object) && doc.pointer(path).is_none()
}

fn strategic_merge(doc: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *doc = patch.clone();
        return;
    };
    match patch_map.get("$patch").and_then(Value::as_str) {
        Some("delete") => {
            *doc = Value::Null;
            return;
        }
        Some("replace") => {
            let mut replacement = patch.clone();
            strip_directives(&mut replacement);
            *doc = replacement;
            return;
        }
        _ => {}
    }
    if !doc.is_object() {
        *doc = Value::Object(serde_json::Map::new());
    }
    let Value::Object(doc_map) = doc else {
        return;
    };
    for (key, value) in patch_map {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            doc_map.remove(key);
            continue;
        }
        if value.is_object() {
            let entry = doc_map.entry(key.clone()).or_insert(Value::Null);
            strategic_merge(entry, value);
            if entry.is_null() {
                doc_map.remove(key);
            }
        } else {
            let mut value = value.clone();
            strip_directives(&mut value);
            doc_map.insert(key.clone(), value);
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_handles_maps_and_directives() {
        let cur = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": [1, 2]}});
        let p = br#"{"metadata":{"labels":{"a":null,"c":"3"},"$setElementOrder/x":[]},"spec":{"x":[3]}}"#;
        let out = apply(PatchKind::StrategicMerge, &cur, p).expect("applies");
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"x": [3]}})
        );
    }

    #[test]
    fn json_patch_and_merge_patch() {
        let cur = json!({"data": {"a": "1"}});
        let out = apply(
            PatchKind::Json,
            &cur,
            br#"[{"op":"replace","path":"/data/a","value":"2"}]"#,
        )
        .expect("applies");
        assert_eq!(out, json!({"data": {"a": "2"}}));
        let out = apply(PatchKind::Merge, &cur, br#"{"data":{"b":"3"}}"#).expect("applies");
        assert_eq!(out, json!({"data": {"a": "1", "b": "3"}}));
        let err = apply(
            PatchKind::Json,
            &cur,
            br#"[{"op":"test","path":"/data/a","value":"9"}]"#,
        )
        .expect_err("test fails");
        assert_eq!(err.code, 422);
        // A missing member tests as null, as on a real server; a missing parent does not.
        let out = apply(
            PatchKind::Json,
            &cur,
            br#"[{"op":"test","path":"/data/b","value":null},{"op":"add","path":"/data/b","value":"2"}]"#,
        )
        .expect("applies");
        assert_eq!(out, json!({"data": {"a": "1", "b": "2"}}));
        let err = apply(
            PatchKind::Json,
            &cur,
            br#"[{"op":"add","path":"/data/c","value":"3"},{"op":"test","path":"/x/y","value":null}]"#,
        )
        .expect_err("no parent");
        assert_eq!(err.code, 422);
    }
}
