//! Content negotiation as a real API server does it for the media types this server
//! speaks: request bodies in JSON or YAML (`415 UnsupportedMediaType` otherwise), and
//! answers in JSON or YAML as the `Accept` header asks (`406 NotAcceptable` when it
//! asks only for what the server cannot produce, such as protobuf or XML).
//!
//! Metadata-only answers (`as=PartialObjectMetadata` for an object or a watch,
//! `as=PartialObjectMetadataList` for a list, in `meta.k8s.io/v1`), as metadata-only
//! informers ask for them, are produced from the JSON answer, and so are `as=Table`
//! answers for gets and lists, with the default columns (name and creation time) a real
//! server gives a resource without printer columns. A watch asking for a `Table` gets
//! plain JSON when it also accepts it, as kubectl does.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::errors;
use crate::meta::Status;

/// The media types request bodies and answers may be in.
const MEDIA_TYPES: [&str; 2] = ["application/json", "application/yaml"];

/// What an answer is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// JSON, the default.
    Json,
    /// YAML (not for watches, which stream JSON).
    Yaml,
    /// JSON, each object reduced to a `PartialObjectMetadata`.
    Metadata,
    /// A `meta.k8s.io/v1` `Table` with the default columns (name, creation time), each
    /// row carrying what `includeObject` asks for.
    Table(Include),
}

/// What each row of a `Table` carries (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Include {
    /// Nothing.
    None,
    /// The object's `PartialObjectMetadata`, the default.
    Metadata,
    /// The whole object.
    Object,
}

impl Include {
    /// Reads `includeObject`; `400` for a value the server does not know.
    pub(crate) fn parse(value: Option<&str>) -> Result<Include, Status> {
        match value.unwrap_or_default() {
            "" | "Metadata" => Ok(Include::Metadata),
            "None" => Ok(Include::None),
            "Object" => Ok(Include::Object),
            other => Err(errors::bad_request(format!(
                "unsupported includeObject value {other:?}: supported values are None, Metadata, Object"
            ))),
        }
    }
}

/// What an answer holds, which decides the metadata-only rendering it may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One object.
    Object,
    /// A list.
    List,
    /// A watch stream.
    Watch,
}

/// The output an `Accept` header asks for: the first media range the server can
/// produce, JSON when there is no header; `406` when none can be produced.
pub(crate) fn output(
    accept: Option<&str>,
    shape: Shape,
    include: Include,
) -> Result<Output, Status> {
    let watch = shape == Shape::Watch;
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Output::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let (mut refused, mut as_, mut group, mut version) = (false, None, None, None);
        for param in parts {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            match k.trim() {
                "as" => as_ = Some(v.trim()),
                "g" => group = Some(v.trim()),
                "v" => version = Some(v.trim()),
                "q" => refused |= v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0),
                _ => {}
            }
        }
        if refused {
            continue;
        }
        if let Some(as_) = as_ {
            let wanted = match shape {
                Shape::List => "PartialObjectMetadataList",
                Shape::Object | Shape::Watch => "PartialObjectMetadata",
            };
            let meta_v1 = group == Some("meta.k8s.io") && version == Some("v1");
            if as_ == wanted && meta_v1 && media == "application/json" {
                return Ok(Output::Metadata);
            }
            if as_ == "Table" && meta_v1 && media == "application/json" && !watch {
                return Ok(Output::Table(include));
            }
            // A rendering (`Table`, another version) this server has not.
            continue;
        }
        match media.as_str() {
            "application/json" | "application/*" | "*/*" => return Ok(Output::Json),
            "application/yaml" if !watch => return Ok(Output::Yaml),
            _ => {}
        }
    }
    let accepted = if watch {
        &MEDIA_TYPES[..1]
    } else {
        &MEDIA_TYPES[..]
    };
    Err(errors::not_acceptable(accepted))
}

/// Decodes a request body in its `Content-Type` (JSON when unset); `415` for a type the
/// server does not read, `400` for a body that does not decode.
pub(crate) fn input(content_type: Option<&str>, body: &[u8]) -> Result<Value, Status> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "" | "application/json" => serde_json::from_slice(body).map_err(|e| {
            errors::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        }),
        "application/yaml" => serde_yaml_ng::from_slice(body).map_err(|e| {
            errors::bad_request(format!(
                "the body of the request could not be decoded as YAML: {e}"
            ))
        }),
        _ => Err(errors::unsupported_media_type(
            content_type.unwrap_or_default(),
            &MEDIA_TYPES,
        )),
    }
}

fn internal(e: impl std::fmt::Display) -> Status {
    errors::internal(e.to_string())
}

/// `json` (an answer holding `shape`) in `output`: as is, converted to YAML, or reduced
/// to metadata.
pub(crate) fn encode(
    output: Output,
    shape: Shape,
    json: Bytes,
) -> Result<(Bytes, &'static str), Status> {
    match output {
        Output::Json => Ok((json, "application/json")),
        Output::Yaml => {
            let value: Value = serde_json::from_slice(&json).map_err(internal)?;
            let yaml = serde_yaml_ng::to_string(&value).map_err(internal)?;
            Ok((Bytes::from(yaml), "application/yaml"))
        }
        Output::Metadata => {
            let bytes = match partial_answer(&json, shape)? {
                Some(bytes) => Bytes::from(bytes),
                None => json,
            };
            Ok((bytes, "application/json"))
        }
        Output::Table(include) => {
            let value: Value = serde_json::from_slice(&json).map_err(internal)?;
            let bytes = serde_json::to_vec(&table(value, shape, include)).map_err(internal)?;
            Ok((Bytes::from(bytes), "application/json"))
        }
    }
}

/// A `Table` of an object or a list with the default columns a real server's default
/// table convertor gives: `Name` and `Created At`. A `Status` stays as it is.
fn table(value: Value, shape: Shape, include: Include) -> Value {
    if value.get("kind").and_then(Value::as_str) == Some("Status") {
        return value;
    }
    let meta = |v: &Value, f: &str| v.pointer(&format!("/metadata/{f}")).cloned();
    let (mut metadata, objects) = match shape {
        Shape::List => {
            let metadata = value
                .get("metadata")
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default()));
            let items = match value.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            (metadata, items)
        }
        Shape::Object | Shape::Watch => {
            let mut m = serde_json::Map::new();
            if let Some(rv) = meta(&value, "resourceVersion") {
                m.insert("resourceVersion".to_owned(), rv);
            }
            (Value::Object(m), vec![value])
        }
    };
    if let Value::Object(m) = &mut metadata {
        m.retain(|k, _| {
            matches!(
                k.as_str(),
                "resourceVersion" | "continue" | "remainingItemCount"
            )
        });
    }
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|obj| {
            let cells = vec![
                meta(&obj, "name").unwrap_or(Value::Null),
                meta(&obj, "creationTimestamp").unwrap_or(Value::Null),
            ];
            let mut row = serde_json::json!({"cells": cells});
            let carried = match include {
                Include::None => None,
                Include::Metadata => Some(partial(obj)),
                Include::Object => Some(obj),
            };
            if let (Some(o), Value::Object(r)) = (carried, &mut row) {
                r.insert("object".to_owned(), o);
            }
            row
        })
        .collect();
    serde_json::json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "The name of the object, unique within its namespace."},
            {"name": "Created At", "type": "date", "format": "", "priority": 0,
             "description": "When the object was created."},
        ],
        "rows": rows,
    })
}

/// An object reduced to a `PartialObjectMetadata`; a `Status` stays as it is.
fn partial(mut obj: Value) -> Value {
    if obj.get("kind").and_then(Value::as_str) == Some("Status") {
        return obj;
    }
    let metadata = obj
        .get_mut("metadata")
        .map(Value::take)
        .unwrap_or_else(|| Value::Object(Default::default()));
    serde_json::json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

/// An object or a list as far as a metadata-only answer needs it: its `kind` (to pass a
/// `Status` on unchanged), its `metadata` as raw text borrowed from the JSON answer, and
/// (for a list) the same of each item. Decoding it skips every other field without
/// building anything, so reducing a list of large objects costs a scan of the text
/// rather than a tree of it.
#[derive(Deserialize)]
struct MetadataOf<'a> {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
}

/// A list as far as a metadata-only answer needs it.
#[derive(Deserialize)]
struct ListMetadataOf<'a> {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(default, borrow)]
    items: Vec<ItemMetadataOf<'a>>,
}

/// A list item as far as a metadata-only answer needs it.
#[derive(Deserialize)]
struct ItemMetadataOf<'a> {
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
}

/// A `PartialObjectMetadata` or a `PartialObjectMetadataList`, written in the order a
/// real server writes them.
#[derive(Serialize)]
struct Partial<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Vec<Partial<'a>>>,
}

impl<'a> Partial<'a> {
    fn new(
        kind: &'static str,
        metadata: Option<&'a RawValue>,
        items: Option<Vec<Partial<'a>>>,
    ) -> Result<Self, Status> {
        let metadata = match metadata {
            Some(m) => m,
            None => serde_json::from_str(EMPTY_OBJECT).map_err(internal)?,
        };
        Ok(Partial {
            kind,
            api_version: "meta.k8s.io/v1",
            metadata,
            items,
        })
    }
}

fn is_status(kind: &Option<String>) -> bool {
    kind.as_deref() == Some("Status")
}

/// The metadata-only form of a JSON answer: `None` for a `Status`, which is sent as it
/// is.
fn partial_answer(json: &[u8], shape: Shape) -> Result<Option<Vec<u8>>, Status> {
    let partial = if shape == Shape::List {
        let list: ListMetadataOf<'_> = serde_json::from_slice(json).map_err(internal)?;
        if is_status(&list.kind) {
            return Ok(None);
        }
        let items = list
            .items
            .iter()
            .map(|i| Partial::new("PartialObjectMetadata", i.metadata, None))
            .collect::<Result<_, _>>()?;
        Partial::new("PartialObjectMetadataList", list.metadata, Some(items))?
    } else {
        let obj: MetadataOf<'_> = serde_json::from_slice(json).map_err(internal)?;
        if is_status(&obj.kind) {
            return Ok(None);
        }
        Partial::new("PartialObjectMetadata", obj.metadata, None)?
    };
    serde_json::to_vec(&partial).map(Some).map_err(internal)
}

const EMPTY_OBJECT: &str = "{}";

/// One watch line (`{"type":...,"object":...}\n`) with its object reduced to metadata;
/// an `ERROR` event's `Status`, and a line that does not decode, are passed on as they
/// are.
pub(crate) fn partial_watch_line(line: Bytes) -> Bytes {
    #[derive(Deserialize, Serialize)]
    struct Event<'a, O> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        object: O,
    }
    let Ok(event) = serde_json::from_slice::<Event<'_, MetadataOf<'_>>>(&line) else {
        return line;
    };
    if is_status(&event.object.kind) {
        return line;
    }
    let Ok(object) = Partial::new("PartialObjectMetadata", event.object.metadata, None) else {
        return line;
    };
    let reduced = Event {
        kind: event.kind,
        object,
    };
    match serde_json::to_vec(&reduced) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            Bytes::from(bytes)
        }
        Err(_) => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduce(shape: Shape, json: Value) -> Value {
        let bytes = Bytes::from(serde_json::to_vec(&json).unwrap());
        let (out, media) = encode(Output::Metadata, shape, bytes).unwrap();
        assert_eq!(media, "application/json");
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn metadata_only_keeps_metadata_and_nothing_else() {
        let list = serde_json::json!({
            "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"},
            "items": [
                {"metadata": {"name": "a", "labels": {"k\"ey": "v\u{e9}"}}, "spec": {"x": [1]}},
                {"spec": {}},
            ],
        });
        let pod = |m: Value| {
            serde_json::json!({
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": m,
            })
        };
        assert_eq!(
            reduce(Shape::List, list.clone()),
            serde_json::json!({
                "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": "7"},
                "items": [pod(list["items"][0]["metadata"].clone()), pod(serde_json::json!({}))],
            })
        );
        assert_eq!(
            reduce(Shape::Object, list["items"][0].clone()),
            pod(list["items"][0]["metadata"].clone())
        );
        let odd = serde_json::json!({"kind": "Widget", "metadata": {"name": "w"}, "items": 5});
        assert_eq!(
            reduce(Shape::Object, odd),
            pod(serde_json::json!({"name": "w"}))
        );
        let status = serde_json::json!({"kind": "Status", "code": 410, "metadata": {}});
        assert_eq!(reduce(Shape::Object, status.clone()), status);
    }

    #[test]
    fn watch_lines_lose_all_but_metadata_and_errors_pass_unchanged() {
        let line = |v: Value| Bytes::from(format!("{v}\n"));
        let added = serde_json::json!({"type": "ADDED",
            "object": {"kind": "Pod", "metadata": {"name": "a"}, "status": {"phase": "Running"},
                "items": "not a list"}});
        let out = partial_watch_line(line(added));
        assert!(out.ends_with(b"\n"));
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"type": "ADDED", "object": {"kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "a"}}})
        );
        let error = line(serde_json::json!({"type": "ERROR",
            "object": {"kind": "Status", "code": 410, "reason": "Expired"}}));
        assert_eq!(partial_watch_line(error.clone()), error);
        let garbage = Bytes::from_static(b"not json\n");
        assert_eq!(partial_watch_line(garbage.clone()), garbage);
    }
}
