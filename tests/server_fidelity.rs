//! The embedded API server answers writes, validation and watch edge cases as a real
//! kube-apiserver does (issue 11), checked over loopback HTTP with a plain hyper client.

mod support;

use std::time::Duration;

use hyper::Method;
use informer::meta::ApiResource;
use informer::testing::ApiServer;
use serde_json::{json, Value};
use support::http::Http;
use support::{bounded, configmaps};

/// A namespaced custom resource without a schema.
fn widgets() -> ApiResource {
    ApiResource::new("example.com", "v1", "Widget", "widgets", true)
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";

fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": "default"}, "data": data})
}

fn widget(name: &str) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget",
           "metadata": {"name": name, "namespace": "default"}, "spec": {"size": 1}})
}

/// The causes of a `422` as `(reason, field)` pairs.
fn causes(status: &Value) -> Vec<(String, String)> {
    status["details"]["causes"]
        .as_array()
        .map(|causes| {
            causes
                .iter()
                .map(|c| {
                    (
                        c["reason"].as_str().unwrap_or_default().to_owned(),
                        c["field"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn server() -> ApiServer {
    ApiServer::builder()
        .resource(widgets())
        .start()
        .await
        .expect("start")
}

#[test]
fn dry_run_answers_as_if_done_and_changes_nothing() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let (code, stored) = http
            .call(Method::POST, CMS, Some(cm("kept", json!({"a": "1"}))))
            .await;
        assert_eq!(code, 201, "{stored}");
        let rv = server.resource_version();
        let mut watch = http
            .watch(&format!("{CMS}?watch=1&resourceVersion={rv}"))
            .await;

        // Create: the answer is the object as it would be stored, without a version.
        let (code, created) = http
            .call(
                Method::POST,
                &format!("{CMS}?dryRun=All"),
                Some(cm("ghost", json!({"a": "1"}))),
            )
            .await;
        assert_eq!(code, 201, "{created}");
        assert!(created["metadata"]["uid"].is_string(), "{created}");
        assert!(created["metadata"]["creationTimestamp"].is_string());
        assert_eq!(created["metadata"].get("resourceVersion"), None);
        assert_eq!(http.get(&format!("{CMS}/ghost")).await.0, 404);
        // A dry run still checks what a real write checks.
        let (code, _) = http
            .call(
                Method::POST,
                &format!("{CMS}?dryRun=All"),
                Some(cm("kept", json!({}))),
            )
            .await;
        assert_eq!(code, 409);

        // Update and patch: the changed object at the version it had.
        let mut changed = stored.clone();
        changed["data"]["a"] = json!("2");
        let (code, updated) = http
            .call(
                Method::PUT,
                &format!("{CMS}/kept?dryRun=All"),
                Some(changed),
            )
            .await;
        assert_eq!(code, 200, "{updated}");
        assert_eq!(updated["data"]["a"], "2");
        assert_eq!(updated["metadata"]["resourceVersion"], rv.to_string());
        let (code, patched) = http
            .call_as(
                Method::PATCH,
                &format!("{CMS}/kept?dryRun=All"),
                "application/merge-patch+json",
                Some(json!({"data": {"b": "3"}})),
            )
            .await;
        assert_eq!(code, 200, "{patched}");
        assert_eq!(patched["data"], json!({"a": "1", "b": "3"}));
        assert_eq!(patched["metadata"]["resourceVersion"], rv.to_string());

        // Delete, by query or by DeleteOptions, and delete collection.
        let (code, deleted) = http
            .call(Method::DELETE, &format!("{CMS}/kept?dryRun=All"), None)
            .await;
        assert_eq!(code, 200, "{deleted}");
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "dryRun": ["All"]});
        let (code, _) = http
            .call(Method::DELETE, &format!("{CMS}/kept"), Some(options))
            .await;
        assert_eq!(code, 200);
        let (code, list) = http
            .call(Method::DELETE, &format!("{CMS}?dryRun=All"), None)
            .await;
        assert_eq!(code, 200, "{list}");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

        let (code, current) = http.get(&format!("{CMS}/kept")).await;
        assert_eq!(code, 200);
        assert_eq!(current, stored, "nothing changed");
        assert_eq!(server.resource_version(), rv, "no version was used");
        assert!(watch.silent_for(Duration::from_millis(200)).await);
        // The first event the watch sees is the next real write.
        server
            .create(&configmaps(), cm("real", json!({})))
            .expect("create");
        let (kind, obj) = watch.expect().await;
        assert_eq!(
            (kind.as_str(), obj["metadata"]["name"].as_str()),
            ("ADDED", Some("real"))
        );

        // Only `All` is a dry run.
        let (code, status) = http
            .call(
                Method::POST,
                &format!("{CMS}?dryRun=Partly"),
                Some(cm("x", json!({}))),
            )
            .await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(status["details"]["kind"], "CreateOptions");
        assert_eq!(
            causes(&status),
            [("FieldValueNotSupported".to_owned(), "dryRun".to_owned())]
        );
        assert_eq!(http.get(&format!("{CMS}/x")).await.0, 404);
        server.shutdown().await;
    });
}

#[test]
fn updates_need_a_version_on_custom_resources_and_drop_empty_metadata() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let (code, w) = http.call(Method::POST, WIDGETS, Some(widget("w"))).await;
        assert_eq!(code, 201, "{w}");

        // A custom resource: no unconditional update.
        let mut unversioned = widget("w");
        unversioned["spec"]["size"] = json!(2);
        let (code, status) = http
            .call(
                Method::PUT,
                &format!("{WIDGETS}/w"),
                Some(unversioned.clone()),
            )
            .await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(
            status["message"],
            "widgets.example.com \"w\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
        );
        assert_eq!(status["details"]["kind"], "widgets");
        assert_eq!(status["details"]["group"], "example.com");
        assert_eq!(
            causes(&status),
            [(
                "FieldValueInvalid".to_owned(),
                "metadata.resourceVersion".to_owned()
            )]
        );
        // The status subresource too.
        let (code, _) = http
            .call(
                Method::PUT,
                &format!("{WIDGETS}/w/status"),
                Some(unversioned.clone()),
            )
            .await;
        assert_eq!(code, 422);
        unversioned["metadata"]["resourceVersion"] = w["metadata"]["resourceVersion"].clone();
        let (code, updated) = http
            .call(Method::PUT, &format!("{WIDGETS}/w"), Some(unversioned))
            .await;
        assert_eq!(code, 200, "{updated}");
        assert_eq!(updated["spec"]["size"], 2);

        // A built-in type allows it.
        let (code, _) = http
            .call(Method::POST, CMS, Some(cm("c", json!({"a": "1"}))))
            .await;
        assert_eq!(code, 201);
        let (code, c) = http
            .call(
                Method::PUT,
                &format!("{CMS}/c"),
                Some(cm("c", json!({"a": "2"}))),
            )
            .await;
        assert_eq!(code, 200, "{c}");
        assert_eq!(c["data"]["a"], "2");

        // Empty metadata maps and lists are not stored, on create, update and patch.
        let mut empty = cm("e", json!({}));
        empty["metadata"]["labels"] = json!({});
        empty["metadata"]["annotations"] = json!({});
        empty["metadata"]["finalizers"] = json!([]);
        let (code, e) = http.call(Method::POST, CMS, Some(empty.clone())).await;
        assert_eq!(code, 201, "{e}");
        let meta = e["metadata"].as_object().expect("metadata");
        for f in ["labels", "annotations", "finalizers"] {
            assert!(!meta.contains_key(f), "{f} in {e}");
        }
        let (code, e) = http
            .call(Method::PUT, &format!("{CMS}/e"), Some(empty))
            .await;
        assert_eq!(code, 200);
        assert!(e["metadata"].get("labels").is_none(), "{e}");
        let (code, e) = http
            .call_as(
                Method::PATCH,
                &format!("{CMS}/e"),
                "application/merge-patch+json",
                Some(json!({"metadata": {"labels": {"a": "b"}}})),
            )
            .await;
        assert_eq!((code, &e["metadata"]["labels"]), (200, &json!({"a": "b"})));
        let (code, e) = http
            .call_as(
                Method::PATCH,
                &format!("{CMS}/e"),
                "application/json-patch+json",
                Some(json!([{"op": "remove", "path": "/metadata/labels/a"}])),
            )
            .await;
        assert_eq!(code, 200);
        assert!(e["metadata"].get("labels").is_none(), "{e}");
        server.shutdown().await;
    });
}

#[test]
fn metadata_is_validated_with_the_real_causes() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let mut bad = cm("bad", json!({}));
        bad["metadata"]["labels"] = json!({"ok": "yes", "-bad-key": "v", "k": "not ok"});
        bad["metadata"]["annotations"] = json!({"a/b/c": "v"});
        bad["metadata"]["finalizers"] = json!(["example.com/ok", "no/"]);
        let (code, status) = http.call(Method::POST, CMS, Some(bad)).await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(status["reason"], "Invalid");
        assert_eq!(status["details"]["kind"], "ConfigMap");
        assert_eq!(status["details"]["name"], "bad");
        assert_eq!(
            causes(&status),
            [
                ("FieldValueInvalid", "metadata.labels"),
                ("FieldValueInvalid", "metadata.labels"),
                ("FieldValueInvalid", "metadata.annotations"),
                ("FieldValueInvalid", "metadata.finalizers"),
            ]
            .map(|(r, f)| (r.to_owned(), f.to_owned()))
        );
        let message = status["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("ConfigMap \"bad\" is invalid: [metadata.labels: Invalid value: \"-bad-key\": name part must consist of alphanumeric characters"),
            "{message}"
        );
        assert_eq!(
            status["details"]["causes"][1]["message"],
            "Invalid value: \"not ok\": a valid label must be an empty string or consist of \
             alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used \
             for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );

        // Annotations may hold 256 KiB in all.
        let mut big = cm("big", json!({}));
        big["metadata"]["annotations"] = json!({"a": "x".repeat(256 * 1024)});
        let (code, status) = http.call(Method::POST, CMS, Some(big)).await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(
            status["details"]["causes"][0],
            json!({"reason": "FieldValueTooLong", "field": "metadata.annotations",
                   "message": "Too long: may not be more than 262144 bytes"})
        );

        // Names, on a custom resource: the kind and group name it.
        let (code, status) = http
            .call(Method::POST, WIDGETS, Some(widget("Not_A_Name")))
            .await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(status["details"]["kind"], "Widget");
        assert_eq!(status["details"]["group"], "example.com");
        assert!(status["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Widget.example.com \"Not_A_Name\" is invalid: metadata.name: Invalid value: \"Not_A_Name\": a lowercase RFC 1123 subdomain")));
        let mut nameless = widget("");
        nameless["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("name");
        let (code, status) = http.call(Method::POST, WIDGETS, Some(nameless)).await;
        assert_eq!(code, 422);
        assert_eq!(
            causes(&status),
            [("FieldValueRequired".to_owned(), "metadata.name".to_owned())]
        );

        // Updates are checked too.
        let (code, w) = http.call(Method::POST, WIDGETS, Some(widget("w"))).await;
        assert_eq!(code, 201);
        let mut labelled = w.clone();
        labelled["metadata"]["labels"] = json!({"a": "-"});
        let (code, status) = http
            .call(Method::PUT, &format!("{WIDGETS}/w"), Some(labelled))
            .await;
        assert_eq!(code, 422, "{status}");
        let (code, _) = http
            .call_as(
                Method::PATCH,
                &format!("{WIDGETS}/w"),
                "application/merge-patch+json",
                Some(json!({"metadata": {"finalizers": ["a b"]}})),
            )
            .await;
        assert_eq!(code, 422);

        // The type in the body must be the URL's.
        let mut other_version = widget("v");
        other_version["apiVersion"] = json!("example.com/v2");
        let (code, status) = http.call(Method::POST, WIDGETS, Some(other_version)).await;
        assert_eq!(code, 400, "{status}");
        assert_eq!(status["reason"], "BadRequest");
        assert_eq!(
            status["message"],
            "the API version in the data (example.com/v2) does not match the expected API version (example.com/v1)"
        );
        let mut other_kind = widget("k");
        other_kind["kind"] = json!("Gadget");
        let (code, status) = http.call(Method::POST, WIDGETS, Some(other_kind)).await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(
            status["message"],
            "Gadget.example.com \"k\" is invalid: kind: Invalid value: \"Gadget\": must be Widget"
        );
        let mut pod_as_cm = cm("p", json!({}));
        pod_as_cm["kind"] = json!("Pod");
        let (code, status) = http.call(Method::POST, CMS, Some(pod_as_cm)).await;
        assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
        let mut v2 = w.clone();
        v2["apiVersion"] = json!("example.com/v2");
        let (code, _) = http
            .call(Method::PUT, &format!("{WIDGETS}/w"), Some(v2))
            .await;
        assert_eq!(code, 400);

        // A creation must not carry a resourceVersion.
        let mut versioned = cm("versioned", json!({}));
        versioned["metadata"]["resourceVersion"] = json!("7");
        let (code, status) = http.call(Method::POST, CMS, Some(versioned)).await;
        assert_eq!(code, 500, "{status}");
        assert_eq!(
            status["message"],
            "resourceVersion should not be set on objects to be created"
        );
        for name in ["bad", "big", "Not_A_Name", "v", "k", "p", "versioned"] {
            let path = if name == "v" || name == "k" || name == "Not_A_Name" {
                format!("{WIDGETS}/{name}")
            } else {
                format!("{CMS}/{name}")
            };
            assert_eq!(http.get(&path).await.0, 404, "{name} was not stored");
        }
        server.shutdown().await;
    });
}

#[test]
fn finalizers_hold_deletion_until_the_last_one_goes() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let mut body = widget("f");
        body["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
        let (code, created) = http.call(Method::POST, WIDGETS, Some(body)).await;
        assert_eq!(code, 201, "{created}");
        let (code, deleting) = http
            .call(Method::DELETE, &format!("{WIDGETS}/f"), None)
            .await;
        assert_eq!(code, 200);
        assert!(deleting["metadata"]["deletionTimestamp"].is_string());
        assert_eq!(
            deleting["metadata"]["generation"], 2,
            "deletion bumps generation"
        );
        let rv = deleting["metadata"]["resourceVersion"].clone();
        let mut watch = http
            .watch(&format!(
                "{WIDGETS}?watch=1&resourceVersion={}",
                rv.as_str().unwrap_or_default()
            ))
            .await;

        // No new finalizer on an object being deleted.
        let mut more = deleting.clone();
        more["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b", "example.com/c"]);
        let (code, status) = http
            .call(Method::PUT, &format!("{WIDGETS}/f"), Some(more))
            .await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(
            status["details"]["causes"][0],
            json!({"reason": "FieldValueForbidden", "field": "metadata.finalizers",
                   "message": "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/c\"}"})
        );

        // Removing one keeps it; removing the last deletes it.
        let mut fewer = deleting.clone();
        fewer["metadata"]["finalizers"] = json!(["example.com/b"]);
        let (code, one_left) = http
            .call(Method::PUT, &format!("{WIDGETS}/f"), Some(fewer))
            .await;
        assert_eq!(code, 200, "{one_left}");
        let (kind, _) = watch.expect().await;
        assert_eq!(kind, "MODIFIED");
        let mut none = one_left.clone();
        none["metadata"]["finalizers"] = json!([]);
        let (code, answer) = http
            .call(Method::PUT, &format!("{WIDGETS}/f"), Some(none))
            .await;
        assert_eq!(code, 200, "{answer}");
        // The answer is the update as sent, at the version it was made against.
        assert!(answer["metadata"].get("finalizers").is_none(), "{answer}");
        assert_eq!(
            answer["metadata"]["resourceVersion"],
            one_left["metadata"]["resourceVersion"]
        );
        assert_eq!(http.get(&format!("{WIDGETS}/f")).await.0, 404);
        // Only `DELETED`, carrying the last stored state at the deletion's version.
        let (kind, last) = watch.expect().await;
        assert_eq!(kind, "DELETED");
        assert_eq!(last["metadata"]["finalizers"], json!(["example.com/b"]));
        assert!(last["metadata"]["deletionTimestamp"].is_string());
        assert_eq!(
            last["metadata"]["resourceVersion"],
            server.resource_version().to_string()
        );
        assert!(watch.silent_for(Duration::from_millis(200)).await);
        server.shutdown().await;
    });
}

#[test]
fn kube_runtime_finalizer_runs_to_completion() {
    use kube::runtime::controller::Action;
    use kube::runtime::finalizer::{finalizer, Event};
    use std::sync::{Arc, Mutex};

    bounded(async {
        let server = server().await;
        server.create(&widgets(), widget("k")).expect("create");
        let client =
            kube::Client::try_from(kube::Config::new(server.url().parse().expect("a URL")))
                .expect("client");
        let resource = kube::api::ApiResource {
            group: "example.com".into(),
            version: "v1".into(),
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
        };
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::namespaced_with(client, "default", &resource);
        let seen: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let name = "example.com/cleanup";
        let step = || async {
            let obj = api.get("k").await.expect("get");
            let seen = seen.clone();
            finalizer(&api, name, Arc::new(obj), |event| async move {
                let what = match event {
                    Event::Apply(_) => "apply",
                    Event::Cleanup(_) => "cleanup",
                };
                seen.lock().expect("lock").push(what);
                Ok::<_, std::io::Error>(Action::await_change())
            })
            .await
            .expect("finalizer step")
        };
        // First the finalizer is added (a JSON patch testing the missing list as null).
        step().await;
        let stored = server.get(&widgets(), Some("default"), "k").expect("get");
        assert_eq!(stored["metadata"]["finalizers"], json!([name]));
        step().await;
        api.delete("k", &Default::default()).await.expect("delete");
        assert!(
            server.get(&widgets(), Some("default"), "k").is_ok(),
            "held by the finalizer"
        );
        // Cleanup, then the finalizer is removed and the object is gone.
        step().await;
        assert_eq!(seen.lock().expect("lock").as_slice(), ["apply", "cleanup"]);
        let gone = server
            .get(&widgets(), Some("default"), "k")
            .expect_err("deleted");
        assert_eq!(gone.code, 404);
        server.shutdown().await;
    });
}

#[test]
fn objects_leaving_a_watch_selection_leave_as_they_last_matched() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let pods = "/api/v1/namespaces/default/pods";
        let rv = server.resource_version();
        let mut watch = http
            .watch(&format!(
                "{pods}?watch=1&resourceVersion={rv}&labelSelector=app%3Dweb"
            ))
            .await;
        let pod = |app: &str| {
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "p", "namespace": "default", "labels": {"app": app}},
                   "spec": {"containers": [{"name": "c", "image": "i"}]}})
        };
        let (code, _) = http.call(Method::POST, pods, Some(pod("web"))).await;
        assert_eq!(code, 201);
        let (kind, _) = watch.expect().await;
        assert_eq!(kind, "ADDED");

        let patch_app = |app: &'static str| {
            let http = &http;
            async move {
                let (code, obj) = http
                    .call_as(
                        Method::PATCH,
                        &format!("{pods}/p"),
                        "application/merge-patch+json",
                        Some(json!({"metadata": {"labels": {"app": app}}})),
                    )
                    .await;
                assert_eq!(code, 200, "{obj}");
                obj
            }
        };
        let moved_out = patch_app("db").await;
        let (kind, obj) = watch.expect().await;
        assert_eq!(kind, "DELETED");
        assert_eq!(
            obj["metadata"]["labels"]["app"], "web",
            "the last matching state"
        );
        assert_eq!(
            obj["metadata"]["resourceVersion"], moved_out["metadata"]["resourceVersion"],
            "at the version that moved it out"
        );
        // Changes outside the selection are not seen; coming back is an ADDED.
        patch_app("cache").await;
        let moved_in = patch_app("web").await;
        let (kind, obj) = watch.expect().await;
        assert_eq!(kind, "ADDED");
        assert_eq!(obj, moved_in);
        server.shutdown().await;
    });
}

#[test]
fn watch_options_as_a_server_with_watch_list() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        for name in ["b", "a"] {
            server
                .create(&configmaps(), cm(name, json!({})))
                .expect("create");
        }
        let name_of = |obj: &Value| {
            obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let initial_end =
            |obj: &Value| obj["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true";

        // No version and bookmarks: a streaming list by default.
        let mut w = http
            .watch(&format!("{CMS}?watch=1&allowWatchBookmarks=true"))
            .await;
        let rv = server.resource_version().to_string();
        for name in ["a", "b"] {
            let (kind, obj) = w.expect().await;
            assert_eq!((kind.as_str(), name_of(&obj).as_str()), ("ADDED", name));
        }
        let (kind, obj) = w.expect().await;
        assert_eq!(kind, "BOOKMARK");
        assert!(initial_end(&obj), "{obj}");
        assert_eq!(obj["metadata"]["resourceVersion"], rv);

        // "0" without bookmarks, and sendInitialEvents without bookmarks: the initial
        // events, no bookmark; timeoutSeconds=0 is the server's default, not an end.
        let mut zero = http
            .watch(&format!("{CMS}?watch=1&resourceVersion=0&timeoutSeconds=0"))
            .await;
        let mut streaming = http
            .watch(&format!(
                "{CMS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
            ))
            .await;
        for watch in [&mut zero, &mut streaming] {
            for name in ["a", "b"] {
                let (kind, obj) = watch.expect().await;
                assert_eq!((kind.as_str(), name_of(&obj).as_str()), ("ADDED", name));
            }
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        server
            .create(&configmaps(), cm("c", json!({})))
            .expect("create");
        for watch in [&mut zero, &mut streaming, &mut w] {
            let (kind, obj) = watch.expect().await;
            assert_eq!((kind.as_str(), name_of(&obj).as_str()), ("ADDED", "c"));
        }

        // Option errors, with the real fields.
        let (code, status) = http.get(&format!("{CMS}?sendInitialEvents=true")).await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(
            status["details"]["causes"][0],
            json!({"reason": "FieldValueForbidden", "field": "sendInitialEvents",
                   "message": "Forbidden: sendInitialEvents is forbidden for list"})
        );
        let (code, status) = http
            .get(&format!("{CMS}?watch=1&sendInitialEvents=true"))
            .await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(
            causes(&status),
            [(
                "FieldValueForbidden".to_owned(),
                "resourceVersionMatch".to_owned()
            )]
        );
        let (code, status) = http
            .get(&format!(
                "{CMS}?watch=1&sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=1"
            ))
            .await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(
            causes(&status),
            [
                (
                    "FieldValueForbidden".to_owned(),
                    "resourceVersionMatch".to_owned()
                ),
                (
                    "FieldValueNotSupported".to_owned(),
                    "resourceVersionMatch".to_owned()
                ),
            ]
        );
        assert_eq!(status["details"]["kind"], "ListOptions");
        assert_eq!(status["details"]["group"], "meta.k8s.io");
        server.shutdown().await;
    });
}

#[test]
fn list_items_of_built_in_types_carry_no_type() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        for name in ["a", "b"] {
            server
                .create(&configmaps(), cm(name, json!({"kind": "data, not a type"})))
                .expect("create");
            server.create(&widgets(), widget(name)).expect("create");
        }
        let (code, list) = http.get(CMS).await;
        assert_eq!(code, 200);
        assert_eq!(
            (list["kind"].as_str(), list["apiVersion"].as_str()),
            (Some("ConfigMapList"), Some("v1"))
        );
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        for item in items {
            assert!(
                item.get("kind").is_none() && item.get("apiVersion").is_none(),
                "{item}"
            );
            assert_eq!(item["data"]["kind"], "data, not a type");
            // The same object otherwise: a get carries the type.
            let name = item["metadata"]["name"].as_str().unwrap_or_default();
            let (_, mut got) = http.get(&format!("{CMS}/{name}")).await;
            assert_eq!(
                (got["kind"].as_str(), got["apiVersion"].as_str()),
                (Some("ConfigMap"), Some("v1"))
            );
            if let Value::Object(m) = &mut got {
                m.remove("kind");
                m.remove("apiVersion");
            }
            assert_eq!(&got, item);
        }
        // Paged lists too; custom resources keep their type.
        let (_, page) = http.get(&format!("{CMS}?limit=1")).await;
        assert!(page["items"][0].get("kind").is_none(), "{page}");
        let (_, widgets) = http.get(WIDGETS).await;
        for item in widgets["items"].as_array().expect("items") {
            assert_eq!(
                (item["kind"].as_str(), item["apiVersion"].as_str()),
                (Some("Widget"), Some("example.com/v1"))
            );
        }
        // Watch events of built-in types keep theirs.
        let mut w = http
            .watch(&format!("{CMS}?watch=1&resourceVersion=0"))
            .await;
        let (_, obj) = w.expect().await;
        assert_eq!(obj["kind"], "ConfigMap");
        server.shutdown().await;
    });
}

/// Whether a watch from `rv` is refused as too old (one `ERROR 410` event).
async fn watch_expired(http: &Http, path: &str, rv: u64) -> bool {
    let mut w = http
        .watch(&format!("{path}?watch=1&resourceVersion={rv}"))
        .await;
    // A watch that is served stays silent; a refused one sends its error at once.
    match tokio::time::timeout(Duration::from_millis(200), w.next()).await {
        Ok(Some(event)) => event["type"] == "ERROR" && event["object"]["code"] == 410,
        _ => false,
    }
}

#[test]
fn compaction_like_etcd() {
    bounded(async {
        let server = ApiServer::builder()
            .compaction_interval(Duration::from_millis(500))
            .start()
            .await
            .expect("start");
        let http = Http::new(&server);
        let first = server.resource_version();
        server
            .create(&configmaps(), cm("a", json!({})))
            .expect("create");
        // Written after the compactor's last look: still watchable at once.
        assert!(!watch_expired(&http, CMS, first).await);
        // Two ticks later at most, it is compacted.
        let mut expired = false;
        for _ in 0..40 {
            if watch_expired(&http, CMS, first).await {
                expired = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(expired, "the compactor compacted the old version");
        server.shutdown().await;

        // Compaction up to a chosen revision, as etcd's.
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        let mut versions = Vec::new();
        for name in ["a", "b", "c"] {
            let stored = server
                .create(&configmaps(), cm(name, json!({})))
                .expect("create");
            versions.push(
                stored["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .expect("a version"),
            );
        }
        let revision = versions[1];
        server.faults().compact_to(revision);
        assert!(watch_expired(&http, CMS, revision - 1).await);
        let mut w = http
            .watch(&format!("{CMS}?watch=1&resourceVersion={revision}"))
            .await;
        let (kind, obj) = w.expect().await;
        assert_eq!(
            (kind.as_str(), obj["metadata"]["name"].as_str()),
            ("ADDED", Some("c"))
        );
        let exact = |rv: u64| format!("{CMS}?resourceVersion={rv}&resourceVersionMatch=Exact");
        let (code, status) = http.get(&exact(revision - 1)).await;
        assert_eq!((code, status["reason"].as_str()), (410, Some("Expired")));
        let (code, list) = http.get(&exact(revision)).await;
        assert_eq!(code, 200);
        assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "a and b");
        server.shutdown().await;
    });
}

#[test]
fn content_negotiation_json_and_yaml() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  namespace: default\ndata:\n  a: \"1\"\n";
        let (code, ct, body) = http
            .raw(
                Method::POST,
                CMS,
                "application/yaml",
                "application/json",
                yaml,
            )
            .await;
        assert_eq!((code, ct.as_str()), (201, "application/json"), "{body}");
        let created: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(created["data"]["a"], "1");
        let rv = created["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let update = format!("{yaml}  b: \"2\"\n").replace(
            "  namespace: default\n",
            &format!("  namespace: default\n  resourceVersion: \"{rv}\"\n"),
        );
        let (code, _, body) = http
            .raw(
                Method::PUT,
                &format!("{CMS}/y"),
                "application/yaml",
                "*/*",
                &update,
            )
            .await;
        assert_eq!(code, 200, "{body}");

        // Answers in YAML when asked.
        let (code, ct, body) = http
            .raw(Method::GET, &format!("{CMS}/y"), "", "application/yaml", "")
            .await;
        assert_eq!((code, ct.as_str()), (200, "application/yaml"));
        let got: Value = serde_yaml_ng::from_str(&body).expect("YAML");
        assert_eq!(got["data"], json!({"a": "1", "b": "2"}));
        // A rendering the server lacks is passed over for the plain JSON after it.
        let (code, ct, _) = http
            .raw(
                Method::GET,
                CMS,
                "",
                "application/json;as=Table;v=v1;g=meta.k8s.io, application/json",
                "",
            )
            .await;
        assert_eq!((code, ct.as_str()), (200, "application/json"));

        // What the server cannot read or write.
        let (code, _, body) = http
            .raw(Method::POST, CMS, "text/plain", "application/json", "x")
            .await;
        assert_eq!(code, 415, "{body}");
        let status: Value = serde_json::from_str(&body).expect("a Status");
        assert_eq!(status["reason"], "UnsupportedMediaType");
        for accept in ["application/vnd.kubernetes.protobuf", "application/xml"] {
            let (code, _, body) = http.raw(Method::GET, WIDGETS, "", accept, "").await;
            assert_eq!(code, 406, "{accept}: {body}");
            let status: Value = serde_json::from_str(&body).expect("a Status");
            assert_eq!(status["reason"], "NotAcceptable");
        }
        let (code, _, _) = http
            .raw(
                Method::GET,
                &format!("{CMS}?watch=1"),
                "",
                "application/yaml",
                "",
            )
            .await;
        assert_eq!(code, 406, "watches stream JSON");
        server.shutdown().await;
    });
}

#[test]
fn metadata_only_answers_for_get_list_and_watch() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        server.create(&widgets(), widget("m")).expect("create");
        let one = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        let many = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        let (code, _, body) = http
            .raw(Method::GET, &format!("{WIDGETS}/m"), "", one, "")
            .await;
        assert_eq!(code, 200, "{body}");
        let obj: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(obj["kind"], "PartialObjectMetadata");
        assert_eq!(obj["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(obj["metadata"]["name"], "m");
        assert!(obj.get("spec").is_none(), "{obj}");

        let (code, _, body) = http.raw(Method::GET, WIDGETS, "", many, "").await;
        assert_eq!(code, 200, "{body}");
        let list: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(list["kind"], "PartialObjectMetadataList");
        assert!(list["metadata"]["resourceVersion"].is_string());
        assert_eq!(list["items"][0]["kind"], "PartialObjectMetadata");
        assert_eq!(list["items"][0]["metadata"]["name"], "m");
        assert!(list["items"][0].get("spec").is_none());
        // An object rendering for a list, with nothing to fall back to, is refused.
        let (code, _, _) = http.raw(Method::GET, WIDGETS, "", one, "").await;
        assert_eq!(code, 406);

        let resp = http
            .send_accept(
                Method::GET,
                &format!("{WIDGETS}?watch=1&resourceVersion=0"),
                one,
            )
            .await;
        let mut w = support::http::Lines::new(resp);
        let (kind, obj) = w.expect().await;
        assert_eq!(kind, "ADDED");
        assert_eq!(obj["kind"], "PartialObjectMetadata");
        assert!(obj.get("spec").is_none(), "{obj}");
        server.create(&widgets(), widget("n")).expect("create");
        let (kind, obj) = w.expect().await;
        assert_eq!(
            (kind.as_str(), obj["metadata"]["name"].as_str()),
            ("ADDED", Some("n"))
        );
        assert!(obj.get("spec").is_none(), "{obj}");
        server.shutdown().await;
    });
}

#[test]
fn tables_with_the_default_columns() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        for name in ["t1", "t2"] {
            server.create(&widgets(), widget(name)).expect("create");
        }
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json";
        let (code, _, body) = http
            .raw(
                Method::GET,
                &format!("{WIDGETS}?includeObject=Object"),
                "",
                table,
                "",
            )
            .await;
        assert_eq!(code, 200, "{body}");
        let t: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(
            (t["kind"].as_str(), t["apiVersion"].as_str()),
            (Some("Table"), Some("meta.k8s.io/v1"))
        );
        let columns: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(columns, ["Name", "Created At"]);
        assert_eq!(t["rows"][1]["cells"][0], "t2");
        assert!(t["rows"][1]["cells"][1].is_string());
        assert_eq!(
            t["rows"][1]["object"]["spec"]["size"], 1,
            "includeObject=Object"
        );
        assert!(t["metadata"]["resourceVersion"].is_string());

        let (code, _, body) = http
            .raw(Method::GET, &format!("{WIDGETS}/t1"), "", table, "")
            .await;
        assert_eq!(code, 200);
        let t: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(t["rows"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            t["rows"][0]["object"]["kind"], "PartialObjectMetadata",
            "the default"
        );
        // Errors stay a Status.
        let (code, _, body) = http
            .raw(Method::GET, &format!("{WIDGETS}/missing"), "", table, "")
            .await;
        assert_eq!(code, 404);
        assert!(body.contains("\"kind\":\"Status\""), "{body}");
        server.shutdown().await;
    });
}
