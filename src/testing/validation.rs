//! What a real API server checks in an object's metadata and type on every write, with
//! the field errors it answers: apimachinery's object-metadata rules (label keys and
//! values, annotation keys and their total size, finalizer names) and the handlers'
//! check that the body's `apiVersion` and `kind` are those of the URL.
//!
//! Names are checked where they are chosen (on create, in the storage). The checks read
//! the request's JSON value as it is, without decoding it again.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::errors::{self, FieldError};
use super::resources::ResourceInfo;
use crate::meta::Status;
use crate::selector::{validate_key, validate_value};

/// The largest total size of an object's annotations, keys and values: 256 KiB.
const ANNOTATIONS_LIMIT: usize = 256 * 1024;

/// The field errors in `metadata` (the object's `metadata` map): its labels, annotations
/// and finalizers.
pub(crate) fn object_meta(meta: &Map<String, Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(Value::Object(labels)) = meta.get("labels") {
        for (k, v) in labels {
            if let Err(msg) = validate_key(k) {
                errs.push(FieldError::invalid("metadata.labels", k, &msg));
            }
            if let Some(Err(msg)) = v.as_str().map(validate_value) {
                errs.push(FieldError::invalid(
                    "metadata.labels",
                    v.as_str().unwrap_or_default(),
                    &msg,
                ));
            }
        }
    }
    if let Some(Value::Object(annotations)) = meta.get("annotations") {
        let mut size = 0;
        for (k, v) in annotations {
            let checked = if k.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(k.to_ascii_lowercase())
            } else {
                Cow::Borrowed(k.as_str())
            };
            if let Err(msg) = validate_key(&checked) {
                errs.push(FieldError::invalid("metadata.annotations", k, &msg));
            }
            size += k.len() + v.as_str().map_or(0, str::len);
        }
        if size > ANNOTATIONS_LIMIT {
            errs.push(FieldError::too_long(
                "metadata.annotations",
                ANNOTATIONS_LIMIT,
            ));
        }
    }
    if let Some(Value::Array(finalizers)) = meta.get("finalizers") {
        for f in finalizers.iter().filter_map(Value::as_str) {
            if let Err(msg) = validate_key(f) {
                errs.push(FieldError::invalid("metadata.finalizers", f, &msg));
            }
        }
    }
    errs
}

/// Checks the metadata of `value`, an object of `info` named `name`: `422 Invalid` with
/// every field error.
pub(crate) fn check_meta(info: &ResourceInfo, name: &str, value: &Value) -> Result<(), Status> {
    let Some(Value::Object(meta)) = value.get("metadata") else {
        return Ok(());
    };
    let errs = object_meta(meta);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid(&info.api, name, &errs))
    }
}

/// Checks that a body's `apiVersion` and `kind`, where set, are those the URL names: a
/// different `apiVersion` is `400 BadRequest`; a different `kind` is `400` for a
/// built-in type (it does not decode) and `422 Invalid` for a custom resource, whose
/// validation names it.
pub(crate) fn check_type(info: &ResourceInfo, name: &str, value: &Value) -> Result<(), Status> {
    let api = &info.api;
    let set = |f: &str| {
        value
            .get(f)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let expected = api.api_version();
    if let Some(v) = set("apiVersion").filter(|v| *v != expected) {
        return Err(errors::bad_request(format!(
            "the API version in the data ({v}) does not match the expected API version ({expected})"
        )));
    }
    match set("kind").filter(|k| *k != api.kind) {
        None => Ok(()),
        Some(k) if info.builtin_group() => Err(errors::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            api.kind
        ))),
        Some(k) => Err(errors::invalid_fields(
            &api.group,
            k,
            name,
            &[FieldError::invalid(
                "kind",
                k,
                &format!("must be {}", api.kind),
            )],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errs(meta: Value) -> Vec<(String, &'static str)> {
        let Value::Object(meta) = meta else {
            unreachable!("a map")
        };
        object_meta(&meta)
            .into_iter()
            .map(|e| (e.field, e.reason))
            .collect()
    }

    #[test]
    fn metadata_rules() {
        assert!(
            errs(json!({"labels": {"a/b": "c", "x": ""}, "finalizers": ["e.com/f"]})).is_empty()
        );
        assert_eq!(
            errs(json!({"labels": {"-a": "b c"}})),
            [
                ("metadata.labels".to_owned(), "FieldValueInvalid"),
                ("metadata.labels".to_owned(), "FieldValueInvalid"),
            ]
        );
        assert_eq!(
            errs(json!({"annotations": {"bad key": "v"}})),
            [("metadata.annotations".to_owned(), "FieldValueInvalid")]
        );
        // Annotation keys are checked in lower case.
        assert!(errs(json!({"annotations": {"Example.COM/Key": "v"}})).is_empty());
        let big = "x".repeat(ANNOTATIONS_LIMIT);
        assert_eq!(
            errs(json!({"annotations": {"a": big}})),
            [("metadata.annotations".to_owned(), "FieldValueTooLong")]
        );
        assert_eq!(
            errs(json!({"finalizers": ["a//b"]})),
            [("metadata.finalizers".to_owned(), "FieldValueInvalid")]
        );
    }
}
