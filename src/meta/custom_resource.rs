//! [`CustomResource`]: the CustomResourceDefinition of an own type, as
//! `#[derive(Resource)]` with `#[resource(..., schema)]` builds it (feature `schema`).
//!
//! The schema comes from the type's `schemars::JsonSchema`, generated for OpenAPI 3 with
//! every subschema inlined (a definition's schema may not refer to others) and `metadata`
//! left as `type: object`, which is all the API server accepts there.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::{ApiResource, ObjectMeta, Resource};

/// A resource type that can describe itself as a CustomResourceDefinition.
///
/// ```
/// use informer::meta::{CustomResource, ObjectMeta, Resource};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema, Resource)]
/// #[resource(group = "example.com", version = "v1", kind = "Widget", namespaced, status, schema)]
/// struct Widget {
///     #[serde(default)]
///     metadata: ObjectMeta,
///     spec: WidgetSpec,
///     #[serde(default, skip_serializing_if = "Option::is_none")]
///     status: Option<WidgetStatus>,
/// }
///
/// #[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
/// #[serde(rename_all = "camelCase")]
/// struct WidgetSpec { replicas: i32, image_ref: Option<String> }
///
/// #[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
/// struct WidgetStatus { ready: bool }
///
/// let crd = Widget::crd();
/// assert_eq!(crd.name(), "widgets.example.com");
/// assert_eq!(Widget::api_resource().plural, "widgets");
/// let json = crd.to_json();
/// let schema = &json["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
/// assert_eq!(schema["properties"]["spec"]["properties"]["imageRef"]["nullable"], true);
/// assert!(crd.to_yaml().starts_with("apiVersion: apiextensions.k8s.io/v1\n"));
/// ```
pub trait CustomResource: Resource {
    /// The CustomResourceDefinition that registers this type.
    fn crd() -> CustomResourceDefinition;
}

/// A CustomResourceDefinition (apiextensions.k8s.io/v1), ready to create or print.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomResourceDefinition {
    json: Value,
    resource: ApiResource,
}

/// The names and flags a derived type gives its definition. Used by the derive.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct CrdNames {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    pub status: bool,
    /// The scale subresource's spec, status and selector paths.
    pub scale: Option<(&'static str, &'static str, Option<&'static str>)>,
}

impl CustomResourceDefinition {
    /// Builds the definition from the derive's names and the type's schema.
    #[doc(hidden)]
    pub fn build(names: CrdNames, schema: Value) -> Self {
        let mut version = json!({
            "name": names.version,
            "served": true,
            "storage": true,
            "schema": {"openAPIV3Schema": schema},
        });
        if names.status {
            version["subresources"]["status"] = json!({});
        }
        if let Some((spec, status, selector)) = names.scale {
            let mut scale = json!({"specReplicasPath": spec, "statusReplicasPath": status});
            if let Some(selector) = selector {
                scale["labelSelectorPath"] = selector.into();
            }
            version["subresources"]["scale"] = scale;
        }
        let json = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{}.{}", names.plural, names.group)},
            "spec": {
                "group": names.group,
                "names": {
                    "kind": names.kind,
                    "listKind": format!("{}List", names.kind),
                    "plural": names.plural,
                    "singular": names.singular,
                    "shortNames": names.short_names,
                },
                "scope": if names.namespaced { "Namespaced" } else { "Cluster" },
                "versions": [version],
            },
        });
        CustomResourceDefinition {
            json,
            resource: ApiResource::new(
                names.group,
                names.version,
                names.kind,
                names.plural,
                names.namespaced,
            ),
        }
    }

    /// `<plural>.<group>`, the definition's name.
    pub fn name(&self) -> &str {
        self.json["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// The resource it defines.
    pub fn api_resource(&self) -> &ApiResource {
        &self.resource
    }

    /// The definition as JSON, to create it with an `Api` or the embedded server.
    pub fn to_json(&self) -> Value {
        self.json.clone()
    }

    /// The definition as YAML, for `kubectl apply -f`.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(&self.json).unwrap_or_default()
    }
}

/// The structural OpenAPI 3 schema of `T` for a definition. Used by the derive.
#[doc(hidden)]
pub fn __schema_of<T: JsonSchema>() -> Value {
    let generator: SchemaGenerator = SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Value::Object(map) = &mut schema {
        for key in ["components", "definitions", "$defs"] {
            map.remove(key);
        }
        if let Some(Value::Object(props)) = map.get_mut("properties") {
            props.insert("metadata".into(), json!({"type": "object"}));
            for key in ["apiVersion", "kind"] {
                props.insert(key.into(), json!({"type": "string"}));
            }
        }
        if let Some(Value::Array(required)) = map.get_mut("required") {
            required.retain(|r| !matches!(r.as_str(), Some("metadata" | "apiVersion" | "kind")));
        }
    }
    strip_titles(&mut schema);
    schema
}

/// Removes the `title` and `$schema` keys schemars adds at every level; a definition has
/// no use for them.
fn strip_titles(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("title");
            map.remove("$schema");
            for (_, child) in map.iter_mut() {
                strip_titles(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_titles),
        _ => {}
    }
}

impl JsonSchema for ObjectMeta {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ObjectMeta".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut map = Map::new();
        map.insert("type".into(), "object".into());
        Schema::from(map)
    }
}
