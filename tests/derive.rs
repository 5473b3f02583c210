//! `#[derive(Resource)]` on own types: the impls it writes, the CustomResourceDefinition
//! it builds, and that definition registering the resource on the embedded server, where
//! the typed `Api` and an informer then work with the type.

mod support;

use informer::cache::{ListWatch, SharedIndexInformer};
use informer::client::{Api, ListParams, PostParams};
use informer::meta::{ApiResource, CustomResource, Object, ObjectMeta, Resource};
use informer::testing::ApiServer;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use support::bounded;

/// A namespaced custom resource with a status subresource.
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema, Resource,
)]
#[resource(
    group = "example.com",
    version = "v1alpha1",
    kind = "Widget",
    namespaced,
    status,
    shortname = "wd",
    scale_spec = ".spec.replicas",
    scale_status = ".status.ready",
    schema
)]
#[serde(rename_all = "camelCase")]
struct Widget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default)]
    metadata: ObjectMeta,
    spec: WidgetSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<WidgetStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct WidgetSpec {
    replicas: i32,
    image_ref: Option<String>,
    ports: Vec<Port>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct Port {
    name: String,
    number: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct WidgetStatus {
    ready: i32,
}

/// A cluster-scoped resource in the core group, with every name defaulted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, Resource)]
#[resource(version = "v1")]
struct Gadget {
    metadata: ObjectMeta,
}

#[test]
fn the_derive_implements_object_and_resource() {
    assert_eq!(
        Widget::api_resource(),
        ApiResource::new("example.com", "v1alpha1", "Widget", "widgets", true)
    );
    assert_eq!(
        Gadget::api_resource(),
        ApiResource::new("", "v1", "Gadget", "gadgets", false)
    );
    let mut w = Widget::default();
    w.meta_mut().name = Some("w1".into());
    assert_eq!(w.name(), Some("w1"));
}

/// Every `$ref` anywhere in a schema: a definition's schema must have none.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    out.push(child.to_string());
                }
                refs(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

#[test]
fn the_definition_has_the_names_scope_subresources_and_an_inline_schema() {
    let crd = Widget::crd();
    assert_eq!(crd.name(), "widgets.example.com");
    let json = crd.to_json();
    let spec = &json["spec"];
    assert_eq!(spec["group"], "example.com");
    assert_eq!(spec["scope"], "Namespaced");
    assert_eq!(spec["names"]["kind"], "Widget");
    assert_eq!(spec["names"]["listKind"], "WidgetList");
    assert_eq!(spec["names"]["plural"], "widgets");
    assert_eq!(spec["names"]["singular"], "widget");
    assert_eq!(spec["names"]["shortNames"], serde_json::json!(["wd"]));
    let version = &spec["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert_eq!(version["storage"], true);
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    assert_eq!(
        version["subresources"]["scale"],
        serde_json::json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.ready"})
    );
    let schema = &version["schema"]["openAPIV3Schema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(
        schema["properties"]["metadata"],
        serde_json::json!({"type": "object"})
    );
    let spec_schema = &schema["properties"]["spec"];
    assert_eq!(spec_schema["properties"]["replicas"]["type"], "integer");
    assert_eq!(spec_schema["properties"]["imageRef"]["nullable"], true);
    assert_eq!(
        spec_schema["properties"]["ports"]["items"]["properties"]["number"]["type"],
        "integer"
    );
    let mut found = Vec::new();
    refs(schema, &mut found);
    assert!(found.is_empty(), "subschemas are inlined: {found:?}");
    let yaml = crd.to_yaml();
    let back: Value = serde_yaml_ng::from_str(&yaml).expect("yaml");
    assert_eq!(back, json);
}

#[test]
fn creating_the_definition_registers_the_resource_on_the_server() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let client = support::client(&server);
        let crds: Api<informer::meta::DynamicObject> = Api::all_with(
            client.clone(),
            &ApiResource::new(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                false,
            ),
        );
        // Before: the resource is not served.
        let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
        let err = widgets
            .list(&ListParams::default())
            .await
            .expect_err("not served");
        assert!(err.is_not_found(), "{err}");

        crds.create(
            &PostParams::default(),
            &serde_json::from_value(Widget::crd().to_json()).expect("dynamic"),
        )
        .await
        .expect("create the definition");

        let informer =
            SharedIndexInformer::new(ListWatch::new(widgets.clone()), Default::default());
        let stop = tokio_util::sync::CancellationToken::new();
        let run = tokio::spawn({
            let (informer, stop) = (informer.clone(), stop.clone());
            async move { informer.run(stop).await }
        });
        let created = widgets
            .create(
                &PostParams::default(),
                &Widget {
                    metadata: ObjectMeta {
                        name: Some("w1".into()),
                        ..Default::default()
                    },
                    spec: WidgetSpec {
                        replicas: 3,
                        image_ref: Some("example.com/w:1".into()),
                        ports: vec![Port {
                            name: "http".into(),
                            number: 80,
                        }],
                    },
                    ..Default::default()
                },
            )
            .await
            .expect("create a widget");
        assert_eq!(created.spec.replicas, 3);
        // The definition's scale subresource is served.
        let scale = widgets.get_scale("w1").await.expect("scale");
        assert_eq!(scale.spec.replicas, Some(3));
        assert_eq!(scale.status.map(|s| s.replicas), Some(0));
        assert_eq!(created.kind.as_deref(), Some("Widget"));
        let store = informer.get_store();
        support::wait_until("the informer has the widget", || {
            store.get_by_key("default/w1").is_some()
        })
        .await;
        stop.cancel();
        let _ = run.await;

        // A definition whose name is not <plural>.<group> is refused.
        let mut bad = Widget::crd().to_json();
        bad["metadata"]["name"] = "widget.example.com".into();
        let err = crds
            .create(
                &PostParams::default(),
                &serde_json::from_value(bad).expect("dynamic"),
            )
            .await
            .expect_err("bad name");
        assert!(err.is_invalid(), "{err}");
        server.shutdown().await;
    });
}
