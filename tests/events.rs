//! The event recorder against the embedded API server over HTTP: repeats, aggregation,
//! the spam filter, a full queue, retries, shutdown and the events.k8s.io form; and the
//! server's event field selectors that `kubectl describe` relies on.

mod support;

use std::time::{Duration, Instant};

use informer::client::{Api, ListParams};
use informer::events::{
    CoreEvent, EventType, EventsApi, EventsV1Event, NewEvent, ObjectReference, Recorder,
    RecorderBuilder, COMBINED_PREFIX,
};
use informer::meta::{ApiResource, DynamicObject};
use informer::testing::{ApiServer, Failure, Verb};
use serde_json::{json, Value};
use support::{bounded, pods};
use tokio_util::sync::CancellationToken;

fn core_events() -> ApiResource {
    ApiResource::new("", "v1", "Event", "events", true)
}

fn v1_events() -> ApiResource {
    ApiResource::new("events.k8s.io", "v1", "Event", "events", true)
}

/// A server with pods `shop/web` and `shop/api`; the references to them.
async fn server() -> (ApiServer, ObjectReference, ObjectReference) {
    let server = ApiServer::start().await.expect("start");
    let ns = ApiResource::new("", "v1", "Namespace", "namespaces", false);
    server
        .create(&ns, json!({"metadata": {"name": "shop"}}))
        .expect("namespace");
    let mut refs = Vec::new();
    for name in ["web", "api"] {
        let pod = server
            .create(
                &pods(),
                json!({"metadata": {"name": name, "namespace": "shop"},
                       "spec": {"containers": [{"name": "c", "image": "example.com/app:1"}]}}),
            )
            .expect("pod");
        let pod: DynamicObject = serde_json::from_value(pod).expect("decode");
        refs.push(ObjectReference::for_resource(&pod, &pods()));
    }
    let api = refs.pop().expect("api");
    let web = refs.pop().expect("web");
    (server, web, api)
}

fn builder(server: &ApiServer) -> RecorderBuilder {
    Recorder::builder(support::client(server), "example.com/test-controller")
        .instance("test-1")
        .retry_delay(Duration::from_millis(50))
}

fn warning(reason: &str, message: &str) -> NewEvent {
    NewEvent {
        type_: EventType::Warning,
        reason: reason.to_owned(),
        message: message.to_owned(),
        action: None,
        related: None,
    }
}

fn listed(server: &ApiServer, resource: &ApiResource) -> Vec<Value> {
    server.list(resource, Some("shop")).expect("list events")
}

#[test]
fn repeats_become_a_count_on_one_event() {
    bounded(async {
        let (server, web, _) = server().await;
        let recorder = builder(&server).build();
        for _ in 0..3 {
            recorder.publish(web.clone(), warning("BackOff", "restarting the container"));
        }
        recorder.flush().await;

        let events = listed(&server, &core_events());
        assert_eq!(events.len(), 1, "{events:#?}");
        let e: CoreEvent = serde_json::from_value(events[0].clone()).expect("event");
        assert_eq!(e.count, Some(3));
        assert_eq!(e.reason.as_deref(), Some("BackOff"));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.involved_object.uid, web.uid);
        assert_eq!(e.involved_object.kind.as_deref(), Some("Pod"));
        let source = e.source.expect("source");
        assert_eq!(
            source.component.as_deref(),
            Some("example.com/test-controller")
        );
        assert_eq!(source.host.as_deref(), Some("test-1"));
        assert_eq!(
            e.reporting_component.as_deref(),
            Some("example.com/test-controller")
        );
        assert!(e.last_timestamp >= e.first_timestamp);
        assert!(e
            .metadata
            .name
            .as_deref()
            .expect("name")
            .starts_with("web."));
        let stats = recorder.stats();
        assert_eq!((stats.accepted, stats.created, stats.patched), (3, 1, 2));
        server.shutdown().await;
    });
}

#[test]
fn similar_events_are_combined_from_the_tenth_message() {
    bounded(async {
        let (server, web, _) = server().await;
        let recorder = builder(&server).build();
        for i in 1..=12 {
            recorder.publish(
                web.clone(),
                warning("FailedSync", &format!("attempt {i} failed")),
            );
        }
        recorder.flush().await;

        let events: Vec<CoreEvent> = listed(&server, &core_events())
            .into_iter()
            .map(|v| serde_json::from_value(v).expect("event"))
            .collect();
        assert_eq!(events.len(), 10, "nine single events and one combined");
        let combined: Vec<&CoreEvent> = events
            .iter()
            .filter(|e| {
                e.message
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with(COMBINED_PREFIX)
            })
            .collect();
        assert_eq!(combined.len(), 1);
        assert_eq!(combined[0].count, Some(3), "the 10th, 11th and 12th");
        assert_eq!(
            combined[0].message.as_deref(),
            Some("(combined from similar events): attempt 12 failed")
        );
        server.shutdown().await;
    });
}

#[test]
fn the_spam_filter_stops_an_object_at_25_events() {
    bounded(async {
        let (server, web, api) = server().await;
        let recorder = builder(&server).build();
        for i in 0..30 {
            recorder.publish(web.clone(), warning(&format!("Reason{i}"), "m"));
        }
        recorder.publish(api.clone(), warning("Reason0", "m"));
        recorder.flush().await;

        let events = listed(&server, &core_events());
        let about = |name: &str| {
            events
                .iter()
                .filter(|e| e["involvedObject"]["name"] == name)
                .count()
        };
        assert_eq!(about("web"), 25);
        assert_eq!(about("api"), 1, "another object has its own budget");
        assert_eq!(recorder.stats().skipped, 5);
        server.shutdown().await;
    });
}

#[test]
fn a_full_queue_drops_events_without_blocking_the_caller() {
    bounded(async {
        let (server, web, _) = server().await;
        server.faults().set_delay(Some(Duration::from_millis(300)));
        let recorder = builder(&server).queue_capacity(2).build();
        let started = Instant::now();
        for i in 0..100 {
            recorder.publish(web.clone(), warning(&format!("R{i}"), "m"));
        }
        let spent = started.elapsed();
        assert!(
            spent < Duration::from_millis(150),
            "100 calls took {spent:?} while each write takes 300 ms"
        );
        let stats = recorder.stats();
        assert_eq!(stats.accepted + stats.dropped, 100);
        assert!(
            stats.accepted <= 3,
            "{stats:?}: two queued and one being written"
        );
        assert!(stats.dropped >= 97, "{stats:?}");

        server.faults().set_delay(None);
        recorder.flush().await;
        let stats = recorder.stats();
        assert_eq!(
            stats.created, stats.accepted,
            "{stats:?}: every accepted event written"
        );
        assert_eq!(listed(&server, &core_events()).len() as u64, stats.accepted);
        server.shutdown().await;
    });
}

#[test]
fn failing_writes_are_retried_and_refusals_are_not() {
    bounded(async {
        let (server, web, _) = server().await;
        let faults = server.faults();
        let recorder = builder(&server).max_tries(3).build();

        // A 503 and a 429, then the write goes through.
        faults.fail_next(1, Some(Verb::Create), "/events", Failure::status(503));
        faults.fail_next(
            1,
            Some(Verb::Create),
            "/events",
            Failure::too_many_requests(0),
        );
        recorder.publish(web.clone(), warning("First", "m"));
        recorder.flush().await;
        assert_eq!(recorder.stats().created, 1);

        // Three 500s exhaust three tries.
        faults.fail_next(3, Some(Verb::Create), "/events", Failure::status(500));
        recorder.publish(web.clone(), warning("Second", "m"));
        recorder.flush().await;
        assert_eq!(recorder.stats().failed, 1);

        // A refusal is not retried: the next write goes through at once.
        faults.fail_next(1, Some(Verb::Create), "/events", Failure::status(400));
        recorder.publish(web.clone(), warning("Third", "m"));
        recorder.publish(web.clone(), warning("Fourth", "m"));
        recorder.flush().await;
        let stats = recorder.stats();
        assert_eq!((stats.created, stats.failed), (2, 2), "{stats:?}");

        let reasons: Vec<String> = listed(&server, &core_events())
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(reasons.len(), 2);
        assert!(reasons.contains(&"First".to_owned()) && reasons.contains(&"Fourth".to_owned()));
        server.shutdown().await;
    });
}

#[test]
fn a_patch_of_a_deleted_event_creates_it_again() {
    bounded(async {
        let (server, web, _) = server().await;
        let recorder = builder(&server).build();
        recorder.publish(web.clone(), warning("BackOff", "m"));
        recorder.flush().await;
        let name = listed(&server, &core_events())[0]["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_owned();
        let api: Api<CoreEvent> = Api::namespaced(support::client(&server), "shop");
        api.delete(&name, &Default::default())
            .await
            .expect("delete");

        recorder.publish(web.clone(), warning("BackOff", "m"));
        recorder.flush().await;
        let events = listed(&server, &core_events());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["count"], 2);
        server.shutdown().await;
    });
}

#[test]
fn a_shut_down_recorder_drops_new_events() {
    bounded(async {
        let (server, web, _) = server().await;
        let token = CancellationToken::new();
        let recorder = builder(&server).shutdown_on(token.clone()).build();
        recorder.publish(web.clone(), warning("Before", "m"));
        recorder.flush().await;
        token.cancel();
        // The writer closes the queue as soon as it sees the token.
        support::wait_until("the recorder stops", || {
            recorder.publish(web.clone(), warning("After", "m"));
            recorder.stats().dropped > 0
        })
        .await;
        recorder.flush().await;
        assert_eq!(listed(&server, &core_events()).len(), 1);
        server.shutdown().await;
    });
}

#[test]
fn the_events_v1_form_counts_repeats_in_a_series() {
    bounded(async {
        let (server, web, _) = server().await;
        let recorder = builder(&server).api(EventsApi::EventsV1).build();
        for note in ["pulling", "still pulling", "pulling again"] {
            recorder.publish(
                web.clone(),
                NewEvent {
                    type_: EventType::Normal,
                    reason: "Pulling".to_owned(),
                    message: note.to_owned(),
                    action: Some("Pull".to_owned()),
                    related: None,
                },
            );
        }
        recorder.flush().await;

        assert!(listed(&server, &core_events()).is_empty());
        let events = listed(&server, &v1_events());
        assert_eq!(events.len(), 1, "{events:#?}");
        let e: EventsV1Event = serde_json::from_value(events[0].clone()).expect("event");
        assert_eq!(e.series.as_ref().map(|s| s.count), Some(3));
        assert!(e.series.and_then(|s| s.last_observed_time).is_some());
        assert_eq!(
            e.note.as_deref(),
            Some("pulling"),
            "the first occurrence's note"
        );
        assert_eq!(e.action.as_deref(), Some("Pull"));
        assert_eq!(
            e.reporting_controller.as_deref(),
            Some("example.com/test-controller")
        );
        assert_eq!(e.reporting_instance.as_deref(), Some("test-1"));
        assert_eq!(e.regarding.and_then(|r| r.uid), web.uid);
        assert!(e.event_time.is_some());

        // A note over 1 kB is cut to fit the API's limit.
        recorder.publish(web.clone(), warning("Long", &"é".repeat(600)));
        recorder.flush().await;
        let long = listed(&server, &v1_events())
            .into_iter()
            .find(|e| e["reason"] == "Long")
            .expect("long event");
        let note = long["note"].as_str().expect("note");
        assert!(note.len() <= 1024 && note.len() >= 1022, "{}", note.len());
        server.shutdown().await;
    });
}

#[test]
fn event_takes_a_typed_object() {
    bounded(async {
        let (server, _, _) = server().await;
        let lease = informer::leaderelection::Lease {
            metadata: informer::meta::ObjectMeta {
                name: Some("lock".into()),
                namespace: Some("shop".into()),
                uid: Some("u-1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let recorder = builder(&server).build();
        recorder.event(&lease, EventType::Normal, "Acquired", "became the leader");
        recorder.flush().await;
        let events = listed(&server, &core_events());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["involvedObject"]["kind"], "Lease");
        assert_eq!(
            events[0]["involvedObject"]["apiVersion"],
            "coordination.k8s.io/v1"
        );
        assert_eq!(events[0]["involvedObject"]["uid"], "u-1");
        assert_eq!(events[0]["message"], "became the leader");
        server.shutdown().await;
    });
}

#[test]
fn events_are_selected_by_the_object_they_are_about() {
    bounded(async {
        let (server, web, api) = server().await;
        let recorder = builder(&server).build();
        recorder.publish(web.clone(), warning("A", "m"));
        recorder.publish(api.clone(), warning("B", "m"));
        recorder.flush().await;

        let events: Api<CoreEvent> = Api::namespaced(support::client(&server), "shop");
        let uid = web.uid.clone().expect("uid");
        let selector = format!(
            "involvedObject.name=web,involvedObject.namespace=shop,involvedObject.kind=Pod,involvedObject.uid={uid}"
        );
        let found = events
            .list(&ListParams::default().fields(&selector))
            .await
            .expect("list");
        assert_eq!(found.items.len(), 1);
        assert_eq!(found.items[0].reason.as_deref(), Some("A"));
        let found = events
            .list(
                &ListParams::default()
                    .fields("type=Warning,reason!=A,source=example.com/test-controller"),
            )
            .await
            .expect("list");
        assert_eq!(found.items.len(), 1);
        assert_eq!(found.items[0].reason.as_deref(), Some("B"));

        // A field the resource does not have is refused as a real server refuses it.
        let err = events
            .list(&ListParams::default().fields("spec.nodeName=n1"))
            .await
            .expect_err("unsupported field");
        assert!(err.is_bad_request(), "{err}");
        assert!(
            err.to_string()
                .contains("field label not supported: spec.nodeName"),
            "{err}"
        );
        server.shutdown().await;
    });
}

#[test]
fn an_object_whose_name_cannot_start_an_event_name_still_gets_its_event() {
    bounded(async {
        let (server, _, _) = server().await;
        let recorder = builder(&server).build();
        let role = ObjectReference {
            api_version: Some("rbac.authorization.k8s.io/v1".into()),
            kind: Some("ClusterRole".into()),
            name: Some("system:controller:attachdetach-controller".into()),
            ..Default::default()
        };
        recorder.publish(role, warning("Updated", "m"));
        recorder.flush().await;
        // A cluster-scoped object's events go to `default`.
        let events = server.list(&core_events(), Some("default")).expect("list");
        assert_eq!(events.len(), 1, "{:?}", recorder.stats());
        let name = events[0]["metadata"]["name"].as_str().expect("name");
        assert!(name.starts_with("event."), "{name}");
        assert_eq!(
            events[0]["involvedObject"]["name"],
            "system:controller:attachdetach-controller"
        );
        server.shutdown().await;
    });
}
