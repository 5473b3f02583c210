//! A stored object read without building a `serde_json::Value`: its top-level fields and
//! its metadata fields as raw JSON slices of the stored bytes.
//!
//! An update needs only a few things from the version it replaces: some metadata fields,
//! the status, and whether the rest changed. Parsing a whole 4.5 kB pod into a `Value` to
//! answer that costs several times more than serialising the new version, so the update
//! path scans the old bytes into [`RawObject`] (a validation pass and a few small maps of
//! borrowed slices) and parses only the fields it copies.
//!
//! Comparisons are byte comparisons: the stored bytes were written by
//! `serde_json::to_vec` of a `Value`, whose maps are sorted, so two equal values have
//! equal bytes ([`same_as_bytes`] falls back to comparing values when a build turns on
//! serde_json's `preserve_order`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::value::RawValue;
use serde_json::Value;

use super::errors;
use crate::meta::Status;

/// The top-level fields of a stored object, and those of its `metadata`, as raw JSON.
pub(crate) struct RawObject<'a> {
    fields: BTreeMap<String, &'a RawValue>,
    meta: BTreeMap<String, &'a RawValue>,
}

fn corrupt(e: serde_json::Error) -> Status {
    errors::internal(format!("stored object is not valid JSON: {e}"))
}

impl<'a> RawObject<'a> {
    /// Reads stored bytes (a JSON object).
    pub(crate) fn parse(json: &'a [u8]) -> Result<RawObject<'a>, Status> {
        let fields: BTreeMap<String, &'a RawValue> =
            serde_json::from_slice(json).map_err(corrupt)?;
        let meta = match fields.get("metadata") {
            Some(m) if m.get() != "null" => serde_json::from_str(m.get()).map_err(corrupt)?,
            _ => BTreeMap::new(),
        };
        Ok(RawObject { fields, meta })
    }

    /// Top-level field `key`, parsed.
    pub(crate) fn field(&self, key: &str) -> Result<Option<Value>, Status> {
        parse(self.fields.get(key).copied())
    }

    /// Metadata field `key`, parsed.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<Value>, Status> {
        parse(self.meta.get(key).copied())
    }

    /// Top-level field `key` as raw JSON.
    pub(crate) fn raw_field(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.get(key).copied()
    }

    /// Metadata field `key` as raw JSON.
    pub(crate) fn raw_meta(&self, key: &str) -> Option<&'a RawValue> {
        self.meta.get(key).copied()
    }

    /// The names of the top-level fields.
    pub(crate) fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// The names of the metadata fields.
    pub(crate) fn meta_names(&self) -> impl Iterator<Item = &str> {
        self.meta.keys().map(String::as_str)
    }

    /// Whether some top-level field other than those `skip` accepts differs between this
    /// object and `other` (a field missing on one side differs from any value on the
    /// other).
    pub(crate) fn differs(&self, other: &Value, skip: impl Fn(&str) -> bool) -> bool {
        let Value::Object(other) = other else {
            return true;
        };
        let theirs = other.iter().filter(|(k, _)| !skip(k));
        let ours = self.fields.keys().filter(|k| !skip(k));
        if theirs.clone().count() != ours.count() {
            return true;
        }
        theirs.into_iter().any(|(k, v)| {
            self.fields
                .get(k.as_str())
                .is_none_or(|raw| !same_json(raw, v))
        })
    }
}

fn parse(raw: Option<&RawValue>) -> Result<Option<Value>, Status> {
    raw.map(|r| serde_json::from_str(r.get()).map_err(corrupt))
        .transpose()
}

fn same_json(raw: &RawValue, value: &Value) -> bool {
    same_as_bytes(raw.get().as_bytes(), value)
}

/// Whether `value` equals the JSON `bytes` that `serde_json::to_vec` wrote of a `Value`.
///
/// Equal bytes prove equality. Different bytes disprove it only while maps serialise
/// their keys sorted, serde_json's default; with its `preserve_order` feature (which
/// any crate in a build can turn on) the bytes are parsed and compared as values.
pub(crate) fn same_as_bytes(bytes: &[u8], value: &Value) -> bool {
    if serde_json::to_vec(value).is_ok_and(|ours| ours == bytes) {
        return true;
    }
    !maps_sorted() && serde_json::from_slice::<Value>(bytes).is_ok_and(|v| v == *value)
}

/// Whether `serde_json::Map` keeps its keys sorted (no `preserve_order`).
fn maps_sorted() -> bool {
    static SORTED: LazyLock<bool> = LazyLock::new(|| {
        let mut m = serde_json::Map::new();
        m.insert("b".to_owned(), Value::Null);
        m.insert("a".to_owned(), Value::Null);
        m.keys().next().is_some_and(|k| k == "a")
    });
    *SORTED
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).expect("serialise")
    }

    #[test]
    fn reads_fields_and_metadata() {
        let stored = bytes(&json!({
            "apiVersion": "v1",
            "metadata": {"name": "a", "uid": "u-1", "generation": 3, "labels": {"x": "y"}},
            "spec": {"n": 1.5, "s": "t\"q"},
            "status": {"phase": "Running"},
        }));
        let raw = RawObject::parse(&stored).expect("parse");
        assert_eq!(raw.meta("uid").expect("uid"), Some(json!("u-1")));
        assert_eq!(raw.meta("generation").expect("gen"), Some(json!(3)));
        assert_eq!(raw.meta("deletionTimestamp").expect("none"), None);
        assert_eq!(
            raw.field("status").expect("status"),
            Some(json!({"phase": "Running"}))
        );
    }

    #[test]
    fn differs_compares_the_fields_not_skipped() {
        let old = json!({
            "metadata": {"name": "a"},
            "spec": {"b": [1, 2], "a": {"z": null, "s": "é\n"}},
            "status": {"phase": "Running"},
        });
        let stored = bytes(&old);
        let raw = RawObject::parse(&stored).expect("parse");
        let skip = |k: &str| matches!(k, "metadata" | "status");
        // Equal values built in another key order are the same.
        let same = json!({"spec": {"a": {"s": "é\n", "z": null}, "b": [1, 2]}, "status": 1});
        assert!(!raw.differs(&same, skip));
        assert!(raw.differs(&json!({"spec": {"a": {}, "b": [1, 2]}}), skip));
        // An integer and a float are different JSON.
        assert!(raw.differs(
            &json!({"spec": {"a": {"s": "é\n", "z": null}, "b": [1.0, 2]}}),
            skip
        ));
        // A field added or removed is a difference.
        assert!(raw.differs(&json!({"metadata": {}}), skip));
        assert!(raw.differs(
            &json!({"spec": {"a": {"s": "é\n", "z": null}, "b": [1, 2]}, "extra": 0}),
            skip
        ));
        assert!(raw.differs(&json!("not an object"), skip));
    }

    #[test]
    fn corrupt_bytes_are_an_internal_error() {
        let e = RawObject::parse(b"{\"a\":").err().expect("refused");
        assert_eq!(e.code, 500);
    }
}
