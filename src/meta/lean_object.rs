//! `LeanObject`: an object of any kind held in little memory — typed metadata, and
//! everything else as the compact JSON text it arrived in, decoded on demand.
//!
//! How data passes through it: decoding reads `metadata` into an [`ObjectMeta`] (so keys,
//! indices, selectors and handlers work as on any [`Object`]) and copies the raw text of
//! every other top-level field (`apiVersion`, `kind`, `spec`, `status`, ...) into one
//! JSON object, validated once by the parser and never turned into a tree. A read of a
//! field ([`LeanObject::decode`]) scans that text for the field and decodes only its
//! value; [`LeanObject::to_typed`] decodes the whole object into any serde type (a
//! k8s-openapi `Pod`, say). Serialising writes the fields back in their original order,
//! so an object as the API server sends it re-serialises to the JSON value it was
//! decoded from (metadata goes through [`ObjectMeta`], which keeps the fields it knows).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::{Object, ObjectMeta};

/// An object whose metadata is typed and whose other fields stay compact JSON text.
///
/// Against a typed k8s-openapi object it trades read speed for memory: a cached pod
/// shaped like the fixture takes a fraction of the bytes (the `indexer_memory` bench
/// counts them), while each [`decode`](Self::decode) of a field costs a scan of the
/// object's JSON text plus the decoding of that field, where a typed object's field is a
/// pointer away. Measured on the fixture pod (`benches/decode.rs`, `field_read`, one run):
/// reading `spec.nodeName` takes 3.1 µs against 17 ns for a clone of the typed field,
/// decoding the whole `spec` into a `PodSpec` 9.2 µs against 2.2 µs for a clone, finding
/// `status` as raw text ([`raw_field`](Self::raw_field)) 1.8 µs, and the whole pod
/// ([`to_typed`](Self::to_typed)) 26.5 µs. Metadata reads cost the same as on a typed
/// object. Use it for caches of many objects whose bodies are read rarely, and decode a
/// field once per handler call rather than once per use.
///
/// It decodes from JSON (bytes, text or a `serde_json::Value`) and serialises into
/// JSON; other formats (YAML), and serde's buffering containers (`#[serde(flatten)]`,
/// untagged or internally tagged enums), cannot carry its raw text. A top-level field
/// given twice is an error. Values are kept as they arrived: compact input stays compact.
/// Two lean objects are equal when their metadata are and their other fields are the
/// same JSON text in the same order, with `metadata` at the same place (compare
/// [`to_typed`](Self::to_typed) values or `serde_json::Value`s to ignore text and
/// order).
///
/// ```
/// use informer::meta::{LeanObject, Object};
/// use serde::Deserialize;
///
/// let json = serde_json::json!({
///     "apiVersion": "v1", "kind": "Pod",
///     "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
///     "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "nginx"}]},
/// });
/// let pod: LeanObject = serde_json::from_value(json.clone())?;
/// assert_eq!(pod.name(), Some("web"));
/// assert_eq!(pod.kind()?.as_deref(), Some("Pod"));
///
/// #[derive(Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct Spec { node_name: String }
/// let spec: Spec = pod.decode("spec")?.expect("a spec");
/// assert_eq!(spec.node_name, "node-1");
/// assert!(pod.decode::<Spec>("status")?.is_none());
///
/// // Lossless: the same JSON comes back.
/// assert_eq!(serde_json::to_value(&pod)?, json);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct LeanObject {
    /// Standard metadata.
    pub metadata: ObjectMeta,
    /// Every other top-level field, in order, as one compact JSON object.
    rest: Box<str>,
    /// How many of those fields came before `metadata` on the wire; `None` when the
    /// object had no `metadata` (none is written back).
    metadata_at: Option<u32>,
}

impl Default for LeanObject {
    fn default() -> Self {
        LeanObject {
            metadata: ObjectMeta::default(),
            rest: "{}".into(),
            metadata_at: Some(0),
        }
    }
}

impl fmt::Debug for LeanObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeanObject")
            .field("metadata", &self.metadata)
            .field("rest", &&*self.rest)
            .finish()
    }
}

impl LeanObject {
    /// The lean form of any serialisable object (a k8s-openapi type, a
    /// `DynamicObject`, ...).
    pub fn from_typed(object: &impl Serialize) -> serde_json::Result<LeanObject> {
        serde_json::from_slice(&serde_json::to_vec(object)?)
    }

    /// The whole object decoded into `T` (for example a k8s-openapi `Pod`).
    pub fn to_typed<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&serde_json::to_vec(self)?)
    }

    /// The top-level field `field` (not `metadata`) decoded into `T`; `None` when the
    /// object has no such field.
    pub fn decode<T: DeserializeOwned>(&self, field: &str) -> serde_json::Result<Option<T>> {
        self.raw_field(field)?
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
    }

    /// The JSON text of the top-level field `field` (not `metadata`), if there is one.
    pub fn raw_field(&self, field: &str) -> serde_json::Result<Option<&RawValue>> {
        let mut de = serde_json::Deserializer::from_str(&self.rest);
        de.deserialize_map(FindField(field))
    }

    /// The JSON text of every top-level field but `metadata`, as one object.
    pub fn raw_rest(&self) -> &str {
        &self.rest
    }

    /// `apiVersion`, if the object carries it.
    pub fn api_version(&self) -> serde_json::Result<Option<String>> {
        self.decode("apiVersion")
    }

    /// `kind`, if the object carries it.
    pub fn kind(&self) -> serde_json::Result<Option<String>> {
        self.decode("kind")
    }

    /// The fields but `metadata` with their JSON text, in order.
    fn rest_fields(&self) -> serde_json::Result<Vec<(Cow<'_, str>, &RawValue)>> {
        let mut de = serde_json::Deserializer::from_str(&self.rest);
        de.deserialize_map(AllFields)
    }
}

impl Object for LeanObject {
    type Meta = ObjectMeta;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Serialize for LeanObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.rest_fields().map_err(serde::ser::Error::custom)?;
        let at = self
            .metadata_at
            .map(|at| usize::try_from(at).unwrap_or(usize::MAX).min(fields.len()));
        let entries = fields.len() + usize::from(at.is_some());
        let mut map = serializer.serialize_map(Some(entries))?;
        for (i, (key, value)) in fields.iter().enumerate() {
            if at == Some(i) {
                map.serialize_entry("metadata", &self.metadata)?;
            }
            map.serialize_entry(key.as_ref(), value)?;
        }
        if at == Some(fields.len()) {
            map.serialize_entry("metadata", &self.metadata)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LeanObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(LeanVisitor)
    }
}

/// Reads `metadata` typed and gathers the raw text of the other fields.
struct LeanVisitor;

impl<'de> Visitor<'de> for LeanVisitor {
    type Value = LeanObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object (a JSON map)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LeanObject, A::Error> {
        let mut metadata = None;
        let mut metadata_at = None;
        let mut rest = String::from("{");
        // The few top-level keys seen, to refuse one given twice.
        let mut keys: Vec<Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key_seed(KeyText)? {
            if key == "metadata" {
                if metadata.is_some() {
                    return Err(de::Error::duplicate_field("metadata"));
                }
                metadata = Some(map.next_value::<ObjectMeta>()?);
                metadata_at = Some(u32::try_from(keys.len()).map_err(de::Error::custom)?);
                continue;
            }
            if keys.contains(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let value: Box<RawValue> = map.next_value()?;
            if !keys.is_empty() {
                rest.push(',');
            }
            push_key(&mut rest, &key).map_err(de::Error::custom)?;
            rest.push(':');
            rest.push_str(value.get());
            keys.push(key);
        }
        rest.push('}');
        Ok(LeanObject {
            metadata: metadata.unwrap_or_default(),
            rest: rest.into_boxed_str(),
            metadata_at,
        })
    }
}

/// Appends `key` as a JSON string, escaping only when it must.
fn push_key(out: &mut String, key: &str) -> serde_json::Result<()> {
    if key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&serde_json::to_string(key)?);
    } else {
        out.push('"');
        out.push_str(key);
        out.push('"');
    }
    Ok(())
}

/// A map key, borrowed from the input when it can be (no escapes in it).
struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyText {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Whether a map key equals the one sought, without allocating for it.
struct KeyIs<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// The raw text of one field of the rest, skipping the others unparsed.
struct FindField<'a>(&'a str);

impl<'de> Visitor<'de> for FindField<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeyIs(self.0))? {
            if hit && found.is_none() {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Every field of the rest with its raw text, in order.
struct AllFields;

impl<'de> Visitor<'de> for AllFields {
    type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(key) = map.next_key_seed(KeyText)? {
            fields.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(fields)
    }
}
