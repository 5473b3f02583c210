//! `LeanObject`: lossless round trips of the fixture pod, of the k8s-openapi types the
//! tests use and of arbitrary JSON objects; field reads; and informers caching it over
//! the embedded server.

mod support;

use std::collections::BTreeMap;

use informer::cache::SharedInformerFactory;
use informer::meta::{LeanObject, Object};
use informer::testing::ApiServer;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodSpec, PodStatus, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::*;
use tokio_util::sync::CancellationToken;

const POD: &str = include_str!("fixtures/pod.json");

#[test]
fn the_fixture_pod_round_trips_unchanged() {
    let original: Value = serde_json::from_str(POD).unwrap();
    let lean: LeanObject = serde_json::from_str(POD).unwrap();
    assert_eq!(serde_json::to_value(&lean).unwrap(), original);
    // The top-level fields come back in their order on the wire.
    let text = serde_json::to_string(&lean).unwrap();
    let order = |json: &str| {
        let mut keys = ["apiVersion", "kind", "metadata", "spec", "status"];
        // Top-level keys are the first occurrences of each in these objects.
        keys.sort_by_key(|k| json.find(&format!("\"{k}\"")));
        keys
    };
    assert_eq!(order(&text), order(POD));
    // From a `Value`, owned or borrowed, as from text.
    for from_value in [
        serde_json::from_value::<LeanObject>(original.clone()).unwrap(),
        LeanObject::deserialize_from(&original),
    ] {
        assert_eq!(serde_json::to_value(&from_value).unwrap(), original);
        assert_eq!(from_value.metadata, lean.metadata);
    }

    let typed: Pod = serde_json::from_str(POD).unwrap();
    assert_eq!(lean.to_typed::<Pod>().unwrap(), typed);
    assert_eq!(lean.decode::<PodSpec>("spec").unwrap(), typed.spec);
    assert_eq!(lean.decode::<PodStatus>("status").unwrap(), typed.status);
    assert_eq!(lean.kind().unwrap().as_deref(), Some("Pod"));
    assert_eq!(lean.api_version().unwrap().as_deref(), Some("v1"));
    assert_eq!(lean.name(), typed.metadata.name.as_deref());
    assert_eq!(
        lean.labels().map(|l| l.to_btree_map()),
        typed.metadata.labels
    );
    assert!(lean.decode::<Value>("nothing").unwrap().is_none());
    assert!(!lean.raw_rest().contains("\"metadata\""));
}

trait DeserializeFrom {
    fn deserialize_from(v: &Value) -> Self;
}

impl DeserializeFrom for LeanObject {
    /// Through the borrowing `&Value` deserializer.
    fn deserialize_from(v: &Value) -> Self {
        serde::Deserialize::deserialize(v).unwrap()
    }
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some("shop".to_owned()),
        labels: Some([("app".to_owned(), "web".to_owned())].into()),
        ..ObjectMeta::default()
    }
}

/// `from_typed` then `to_typed` gives the object back, and the JSON is unchanged.
fn round_trips<T>(obj: T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let lean = LeanObject::from_typed(&obj).unwrap();
    assert_eq!(lean.to_typed::<T>().unwrap(), obj);
    assert_eq!(
        serde_json::to_value(&lean).unwrap(),
        serde_json::to_value(&obj).unwrap()
    );
}

#[test]
fn k8s_openapi_types_round_trip() {
    round_trips(ConfigMap {
        metadata: meta("settings"),
        data: Some([("k".to_owned(), "v \"quoted\" \\ ünïcode".to_owned())].into()),
        ..ConfigMap::default()
    });
    round_trips(Secret {
        metadata: meta("token"),
        type_: Some("Opaque".to_owned()),
        ..Secret::default()
    });
    round_trips(Service {
        metadata: meta("web"),
        ..Service::default()
    });
    round_trips(Deployment {
        metadata: meta("web"),
        spec: DeploymentSpec {
            replicas: Some(3),
            selector: LabelSelector {
                match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..LabelSelector::default()
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    });
    round_trips(serde_json::from_str::<Pod>(POD).unwrap());
}

#[test]
fn odd_shapes_round_trip_or_fail_clearly() {
    // Metadata last, keys that need escapes, nested values of every kind.
    let odd =
        r#"{"kind":"Odd","we\"ird\\key\n":[1,2.5,null,true,{"a":[]}],"metadata":{"name":"o"}}"#;
    let lean: LeanObject = serde_json::from_str(odd).unwrap();
    assert_eq!(serde_json::to_string(&lean).unwrap(), odd);
    assert_eq!(
        serde_json::to_value(&lean).unwrap(),
        serde_json::from_str::<Value>(odd).unwrap()
    );
    // No metadata: an empty one to read, and none written back; `{}` as `{}`.
    let bare: LeanObject = serde_json::from_str(r#"{"kind":"Bare"}"#).unwrap();
    assert_eq!(bare.name(), None);
    assert_eq!(serde_json::to_string(&bare).unwrap(), r#"{"kind":"Bare"}"#);
    let empty: LeanObject = serde_json::from_str("{}").unwrap();
    assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
    // Pretty input keeps its values as they came, and still reads back the same.
    let pretty = "{\n  \"kind\": \"P\",\n  \"spec\": { \"a\": [ 1, 2 ] },\n  \"metadata\": {}\n}";
    let lean_pretty: LeanObject = serde_json::from_str(pretty).unwrap();
    assert_eq!(
        serde_json::to_value(&lean_pretty).unwrap(),
        serde_json::from_str::<Value>(pretty).unwrap()
    );
    assert_eq!(lean_pretty.decode::<Vec<u8>>("spec").ok(), None);
    assert_eq!(
        lean_pretty.decode::<Value>("spec").unwrap(),
        Some(json!({"a": [1, 2]}))
    );
    // A top-level field twice is an error, as `metadata` twice is.
    let err =
        serde_json::from_str::<LeanObject>(r#"{"spec":1,"metadata":{},"spec":2}"#).unwrap_err();
    assert!(err.to_string().contains("duplicate field `spec`"), "{err}");
    // Not an object, or metadata twice: errors, not panics.
    assert!(serde_json::from_str::<LeanObject>("[1]").is_err());
    let twice = r#"{"metadata":{"name":"a"},"metadata":{"name":"b"}}"#;
    let err = serde_json::from_str::<LeanObject>(twice).unwrap_err();
    assert!(
        err.to_string().contains("duplicate field `metadata`"),
        "{err}"
    );
    // A field of the wrong type is a decode error of that read only.
    assert!(lean.decode::<u32>("kind").is_err());
}

/// JSON values of a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z\"\\\\é ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"]{1,5}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_objects_round_trip(
        fields in prop::collection::btree_map("[a-zA-Z\"\\\\]{1,6}", json_value(), 0..6),
        name in "[a-z]{1,8}",
    ) {
        let mut obj: serde_json::Map<String, Value> = fields.into_iter().collect();
        obj.insert("metadata".to_owned(), json!({"name": name, "labels": {"app": "x"}}));
        let obj = Value::Object(obj);
        let lean: LeanObject = serde_json::from_value(obj.clone()).unwrap();
        prop_assert_eq!(lean.name(), Some(name.as_str()));
        prop_assert_eq!(serde_json::to_value(&lean).unwrap(), obj.clone());
        let text: LeanObject = serde_json::from_str(&obj.to_string()).unwrap();
        prop_assert_eq!(text, lean);
    }
}

#[test]
fn an_informer_caches_lean_objects() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "web");
        create(&server, "default", "b", "db");
        let factory = SharedInformerFactory::new(client(&server))
            .reflector_options(fast_reflector("ignored"));
        let informer = factory.informer_for::<LeanObject>(&configmaps());
        let rec = Recorder::default();
        informer.add_event_handler(rec.clone()).unwrap();
        let stop = CancellationToken::new();
        factory.start(&stop);
        assert!(factory
            .wait_for_cache_sync(&stop)
            .await
            .values()
            .all(|s| *s));
        update(&server, "default", "a", "cache");
        delete(&server, "default", "b");
        create(&server, "default", "c", "web");
        converged(&server, &informer, &rec).await;

        let a = informer
            .get_indexer()
            .get_by_key("default/a")
            .expect("cached");
        let cm: ConfigMap = a.to_typed().unwrap();
        assert_eq!(cm.data.unwrap()["v"], "cache");
        let data: BTreeMap<String, String> = a.decode("data").unwrap().expect("data");
        assert_eq!(data["v"], "cache");
        let from_server = server
            .get(&configmaps(), Some("default"), "a")
            .expect("on the server");
        assert_eq!(serde_json::to_value(&*a).unwrap(), from_server);
        stop.cancel();
        factory.shutdown().await;
        server.shutdown().await;
    });
}
