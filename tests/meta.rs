//! The object model against realistic wire data: a full Pod, lists, watch events, Status.

use std::collections::BTreeMap;

use informer::meta::{
    DynamicObject, ListMeta, Object, ObjectList, ObjectMeta, Resource, Status, WatchEvent,
};
use serde::{Deserialize, Serialize};

const POD: &str = include_str!("fixtures/pod.json");

/// A typed Pod as an application would declare it: metadata typed, the rest as JSON or
/// typed where it cares.
#[derive(Clone, Debug, Serialize, Deserialize, Resource)]
#[resource(version = "v1", kind = "Pod", namespaced)]
#[serde(rename_all = "camelCase")]
struct Pod {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: PodSpec,
    #[serde(default)]
    status: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    containers: Vec<serde_json::Value>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

#[test]
fn realistic_pod_decodes_into_a_typed_struct() {
    let pod: Pod = serde_json::from_str(POD).expect("fixture pod decodes");
    assert_eq!(pod.kind, "Pod");
    assert_eq!(pod.name(), Some("web-7d4b9c8f6d-x2k9p"));
    assert_eq!(pod.namespace(), Some("shop"));
    assert_eq!(pod.resource_version(), Some("48213377"));
    assert_eq!(pod.labels().unwrap().get("app"), Some("web"));
    assert_eq!(&pod.annotations().unwrap()["prometheus.io/port"], "9090");
    let owners = pod.owner_references();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].kind, "ReplicaSet");
    assert_eq!(owners[0].controller, Some(true));
    let managed = pod.metadata.managed_fields.as_ref().expect("managedFields");
    assert!(!managed.is_empty());
    assert_eq!(
        managed[0].manager.as_deref(),
        Some("kube-controller-manager")
    );
    let fields: serde_json::Value =
        serde_json::from_str(managed[0].fields_v1.as_ref().unwrap().get()).unwrap();
    assert!(fields["f:metadata"].is_object());
    assert!(!pod.spec.containers.is_empty());
    assert!(pod.status.as_ref().unwrap()["phase"].is_string());
}

#[test]
fn realistic_pod_round_trips_through_dynamic_object() {
    let original: serde_json::Value = serde_json::from_str(POD).unwrap();
    let obj: DynamicObject = serde_json::from_str(POD).expect("fixture pod decodes");
    assert_eq!(obj.name(), Some("web-7d4b9c8f6d-x2k9p"));
    assert_eq!(obj.types.as_ref().unwrap().kind, "Pod");
    assert!(obj.data["spec"].is_object());
    assert!(
        obj.data.get("metadata").is_none(),
        "metadata is typed, not duplicated"
    );
    let again = serde_json::to_value(&obj).unwrap();
    assert_eq!(again, original);
}

#[test]
fn unknown_fields_survive_a_dynamic_round_trip() {
    let json = serde_json::json!({
        "apiVersion": "example.com/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {}},
        "spec": {"nested": {"deep": [1, 2, {"x": null}]}},
        "somethingNew": true
    });
    let obj: DynamicObject = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&obj).unwrap(), json);
}

#[test]
fn object_without_type_meta_round_trips() {
    let json = serde_json::json!({"metadata": {"name": "bare"}, "data": {"k": "v"}});
    let obj: DynamicObject = serde_json::from_value(json.clone()).unwrap();
    assert!(obj.types.is_none());
    assert_eq!(serde_json::to_value(&obj).unwrap(), json);
}

#[test]
fn list_decodes_with_paging_metadata() {
    let pod: serde_json::Value = serde_json::from_str(POD).unwrap();
    let json = serde_json::json!({
        "kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "100", "continue": "tok", "remainingItemCount": 7},
        "items": [pod.clone(), pod]
    });
    let list: ObjectList<DynamicObject> = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(list.items.len(), 2);
    assert_eq!(
        list.metadata,
        ListMeta {
            resource_version: Some("100".into()),
            continue_: Some("tok".into()),
            remaining_item_count: Some(7),
            self_link: None
        }
    );
    assert_eq!(serde_json::to_value(&list).unwrap(), json);
    let empty: ObjectList<DynamicObject> =
        serde_json::from_str(r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":null}"#)
            .unwrap();
    assert!(empty.items.is_empty());
}

#[test]
fn every_watch_event_type_decodes() {
    let pod: serde_json::Value = serde_json::from_str(POD).unwrap();
    for (ty, check) in [("ADDED", 0), ("MODIFIED", 1), ("DELETED", 2)] {
        let line = serde_json::json!({"type": ty, "object": pod}).to_string();
        let ev: WatchEvent<Pod> = serde_json::from_str(&line).unwrap();
        let obj = match (check, ev) {
            (0, WatchEvent::Added(o))
            | (1, WatchEvent::Modified(o))
            | (2, WatchEvent::Deleted(o)) => o,
            (_, other) => panic!("{ty} decoded as {other:?}"),
        };
        assert_eq!(obj.name(), Some("web-7d4b9c8f6d-x2k9p"));
    }

    let bookmark = r#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"48213400","creationTimestamp":null,"annotations":{"k8s.io/initial-events-end":"true"}},"spec":{"containers":null},"status":{}}}"#;
    match serde_json::from_str::<WatchEvent<Pod>>(bookmark).unwrap() {
        WatchEvent::Bookmark(b) => {
            assert_eq!(b.metadata.resource_version, "48213400");
            assert!(b.is_initial_events_end());
        }
        other => panic!("bookmark decoded as {other:?}"),
    }

    let error = r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}}"#;
    match serde_json::from_str::<WatchEvent<Pod>>(error).unwrap() {
        WatchEvent::Error(s) => {
            assert_eq!(s.code, 410);
            assert_eq!(s.reason, "Expired");
            assert_eq!(s.message, "too old resource version: 1 (2)");
            assert_eq!(s.status.as_deref(), Some("Failure"));
        }
        other => panic!("error decoded as {other:?}"),
    }
}

#[test]
fn watch_event_decodes_with_object_before_type() {
    let pod: serde_json::Value = serde_json::from_str(POD).unwrap();
    let pod_text = pod.to_string();
    let line = format!(r#"{{"object":{pod_text},"type":"MODIFIED"}}"#);
    match serde_json::from_str::<WatchEvent<DynamicObject>>(&line).unwrap() {
        WatchEvent::Modified(o) => assert_eq!(serde_json::to_value(&o).unwrap(), pod),
        other => panic!("decoded as {other:?}"),
    }
}

#[test]
fn malformed_watch_events_are_errors() {
    for line in [
        r#"{"object":{}}"#,
        r#"{"type":"ADDED"}"#,
        r#"{"type":"ADDED","type":"ADDED","object":{}}"#,
        r#"{"type":"BOOKMARK","object":{"metadata":{}}}"#,
        r#"{"object":{"metadata":{"name":1}},"type":"ADDED"}"#,
        r#"[]"#,
    ] {
        assert!(
            serde_json::from_str::<WatchEvent<DynamicObject>>(line).is_err(),
            "{line}"
        );
    }
}

#[test]
fn unknown_watch_event_type_is_an_error_not_a_panic() {
    let r = serde_json::from_str::<WatchEvent<DynamicObject>>(r#"{"type":"EXPLODED","object":{}}"#);
    assert!(r.is_err());
}

#[test]
fn status_with_details_round_trips() {
    let json = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure",
        "message": "Too large resource version: 200, current: 100",
        "reason": "Timeout",
        "details": {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1},
        "code": 504
    });
    let s: Status = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(s.retry_after_seconds(), Some(1));
    assert_eq!(
        s.details.as_ref().unwrap().causes[0].reason.as_deref(),
        Some("ResourceVersionTooLarge")
    );
    assert_eq!(serde_json::to_value(&s).unwrap(), json);
    let made = Status::failure(404, "NotFound", "pods \"x\" not found");
    assert_eq!(made.to_string(), "404 NotFound: pods \"x\" not found");
}

#[cfg(feature = "k8s-openapi")]
#[test]
fn k8s_openapi_types_are_objects_and_resources() {
    use informer::meta::{MetaAccessor, Resource};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Node, Pod as K8sPod};

    let mut pod: K8sPod = serde_json::from_str(POD).expect("fixture decodes as k8s-openapi Pod");
    assert_eq!(pod.name(), Some("web-7d4b9c8f6d-x2k9p"));
    assert_eq!(pod.namespace(), Some("shop"));
    assert_eq!(pod.labels().unwrap().get("tier"), Some("frontend"));
    assert_eq!(pod.owner_references()[0].name, "web-7d4b9c8f6d");
    pod.meta_mut().set_resource_version(Some("7".into()));
    pod.meta_mut().clear_managed_fields();
    assert_eq!(pod.resource_version(), Some("7"));
    assert!(pod.metadata.managed_fields.is_none());

    let pods = K8sPod::api_resource();
    assert_eq!((pods.plural.as_str(), pods.namespaced), ("pods", true));
    assert_eq!(pods.api_version(), "v1");
    let deployments = Deployment::api_resource();
    assert_eq!(deployments.api_version(), "apps/v1");
    assert_eq!(deployments.kind, "Deployment");
    assert!(!Node::api_resource().namespaced);
}
