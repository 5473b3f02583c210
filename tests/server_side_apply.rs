//! Server-side apply and `managedFields` in the embedded server, over loopback HTTP, as
//! a real API server (k8s.io/apiserver 1.35) answers for objects without a schema: maps
//! merge key by key, lists are atomic.

mod support;

use std::time::Duration;

use hyper::Method;
use informer::client::{Api, Error, Patch, PatchParams};
use informer::meta::DynamicObject;
use informer::testing::ApiServer;
use serde_json::{json, Value};
use support::http::Http;
use support::{bounded, client, configmaps};

const APPLY: &str = "application/apply-patch+yaml";
const CM: &str = "/api/v1/namespaces/default/configmaps";

async fn server() -> ApiServer {
    ApiServer::builder().start().await.expect("start")
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": data})
}

/// Applies `body` to the configmap `cm` with these query parameters.
async fn apply(http: &Http, query: &str, body: Value) -> (u16, Value) {
    http.call_as(
        Method::PATCH,
        &format!("{CM}/cm?{query}"),
        APPLY,
        Some(body),
    )
    .await
}

/// The `managedFields` of an answer, without their times (which move). An apply that
/// changes nothing in the object records no time, as on a real server.
fn fields(obj: &Value) -> Value {
    let mut entries = obj["metadata"]["managedFields"].clone();
    for e in entries.as_array_mut().into_iter().flatten() {
        if let Some(time) = e.as_object_mut().and_then(|m| m.remove("time")) {
            assert!(time.as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
        }
    }
    entries
}

fn entry(manager: &str, operation: &str, fields_v1: Value) -> Value {
    json!({"manager": manager, "operation": operation, "apiVersion": "v1",
           "fieldsType": "FieldsV1", "fieldsV1": fields_v1})
}

#[test]
fn apply_creates_and_reapplying_changes_nothing() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let mut body = cm(json!({"a": "1"}));
        body["metadata"]["labels"] = json!({"app": "web"});
        let (code, created) = apply(&http, "fieldManager=alice", body.clone()).await;
        assert_eq!(code, 201, "{created}");
        assert_eq!(created["data"], json!({"a": "1"}));
        assert_eq!(
            fields(&created),
            json!([entry(
                "alice",
                "Apply",
                json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}})
            )])
        );
        let (code, again) = apply(&http, "fieldManager=alice", body).await;
        assert_eq!(code, 200, "{again}");
        assert_eq!(
            again["metadata"]["resourceVersion"],
            created["metadata"]["resourceVersion"]
        );
        assert_eq!(again, created);
        // A YAML body reads the same.
        let (code, _, text) = http
            .raw(
                Method::PATCH,
                &format!("{CM}/cm?fieldManager=alice"),
                APPLY,
                "application/json",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels:\n    app: web\ndata:\n  a: \"1\"\n",
            )
            .await;
        assert_eq!(code, 200, "{text}");
        let yaml: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(yaml, created);
        server.shutdown().await;
    });
}

#[test]
fn apply_options_are_validated() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let (code, status) = apply(&http, "", cm(json!({"a": "1"}))).await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(
            status["message"],
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
        );
        assert_eq!(
            status["details"]["causes"],
            json!([{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}])
        );
        let (code, _) = apply(&http, "fieldManager=alice", cm(json!({"a": "1"}))).await;
        assert_eq!(code, 201);
        let (code, status) = http
            .call_as(
                Method::PATCH,
                &format!("{CM}/cm?force=true"),
                "application/merge-patch+json",
                Some(json!({"data": {"a": "2"}})),
            )
            .await;
        assert_eq!(code, 422, "{status}");
        assert_eq!(
            status["message"],
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
        );
        let mut wrong = cm(json!({}));
        wrong["kind"] = json!("Secret");
        let (code, status) = apply(&http, "fieldManager=alice", wrong).await;
        assert_eq!(code, 400, "{status}");
        assert_eq!(status["message"], "invalid object type: /v1, Kind=Secret");
        let mut named = cm(json!({}));
        named["metadata"]["name"] = json!("other");
        let (code, _) = apply(&http, "fieldManager=alice", named).await;
        assert_eq!(code, 400);
        let mut with_fields = cm(json!({}));
        with_fields["metadata"]["managedFields"] = json!([]);
        let (code, status) = apply(&http, "fieldManager=alice", with_fields).await;
        assert_eq!(code, 400);
        assert_eq!(status["message"], "metadata.managedFields must be nil");
        server.shutdown().await;
    });
}

#[test]
fn conflicts_fail_unless_forced() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let (code, _) = apply(&http, "fieldManager=alice", cm(json!({"a": "1", "b": "1"}))).await;
        assert_eq!(code, 201);
        let (code, status) = apply(&http, "fieldManager=bob", cm(json!({"a": "2"}))).await;
        assert_eq!(code, 409, "{status}");
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(
            status["message"],
            "Apply failed with 1 conflict: conflict with \"alice\": .data.a"
        );
        assert_eq!(
            status["details"]["causes"],
            json!([{"reason": "FieldManagerConflict", "message": "conflict with \"alice\"", "field": ".data.a"}])
        );
        let (code, status) =
            apply(&http, "fieldManager=bob", cm(json!({"a": "2", "b": "2"}))).await;
        assert_eq!(code, 409);
        assert_eq!(
            status["message"],
            "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .data.a\n- .data.b"
        );
        assert_eq!(
            status["details"]["causes"].as_array().map(Vec::len),
            Some(2)
        );

        let (code, forced) =
            apply(&http, "fieldManager=bob&force=true", cm(json!({"a": "2"}))).await;
        assert_eq!(code, 200, "{forced}");
        assert_eq!(forced["data"], json!({"a": "2", "b": "1"}));
        assert_eq!(
            fields(&forced),
            json!([
                entry("alice", "Apply", json!({"f:data": {"f:b": {}}})),
                entry("bob", "Apply", json!({"f:data": {"f:a": {}}})),
            ])
        );
        server.shutdown().await;
    });
}

#[test]
fn same_values_share_ownership_and_unapplied_fields_go() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        apply(
            &http,
            "fieldManager=alice",
            cm(json!({"a": "1", "b": "1", "c": "1"})),
        )
        .await;
        // Same value: no conflict, both own it; the object is unchanged, so bob's entry
        // has no time.
        let (code, shared) = apply(&http, "fieldManager=bob", cm(json!({"b": "1"}))).await;
        assert_eq!(code, 200, "{shared}");
        // (Entries sort by operation, then time: none comes first.)
        assert_eq!(shared["metadata"]["managedFields"][0].get("time"), None);
        let abc = json!({"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}});
        assert_eq!(
            fields(&shared),
            json!([
                entry("bob", "Apply", json!({"f:data": {"f:b": {}}})),
                entry("alice", "Apply", abc),
            ])
        );
        // Alice stops applying b and c: c goes, b stays (bob owns it).
        let (code, pruned) = apply(&http, "fieldManager=alice", cm(json!({"a": "1"}))).await;
        assert_eq!(code, 200, "{pruned}");
        assert_eq!(pruned["data"], json!({"a": "1", "b": "1"}));
        assert_eq!(
            fields(&pruned),
            json!([
                entry("bob", "Apply", json!({"f:data": {"f:b": {}}})),
                entry("alice", "Apply", json!({"f:data": {"f:a": {}}})),
            ])
        );
        server.shutdown().await;
    });
}

#[test]
fn updates_are_recorded_per_manager() {
    bounded(async {
        let server = server().await;
        let mut http = Http::new(&server);
        http.user_agent = Some("my-tool/1.2.3 (linux/amd64)".to_owned());
        let (code, created) = http
            .call(
                Method::POST,
                CM,
                Some(json!({"metadata": {"name": "cm", "labels": {"app": "web"}}, "data": {"a": "1"}})),
            )
            .await;
        assert_eq!(code, 201, "{created}");
        assert_eq!(
            fields(&created),
            json!([entry(
                "my-tool",
                "Update",
                json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
            )])
        );
        let (code, patched) = http
            .call_as(
                Method::PATCH,
                &format!("{CM}/cm"),
                "application/merge-patch+json",
                Some(json!({"data": {"b": "2"}})),
            )
            .await;
        assert_eq!(code, 200, "{patched}");
        assert_eq!(
            fields(&patched),
            json!([entry(
                "my-tool",
                "Update",
                json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}})
            )])
        );
        // An explicit fieldManager names another manager, which takes the field over.
        let (code, other) = http
            .call_as(
                Method::PATCH,
                &format!("{CM}/cm?fieldManager=editor"),
                "application/merge-patch+json",
                Some(json!({"data": {"b": "3"}})),
            )
            .await;
        assert_eq!(code, 200);
        // (Entries sort by operation, time, then manager: find them by name.)
        let by = |name: &str| {
            fields(&other)
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["manager"] == name)
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            by("editor"),
            entry("editor", "Update", json!({"f:data": {"f:b": {}}}))
        );
        assert_eq!(
            by("my-tool")["fieldsV1"]["f:data"],
            json!({".": {}, "f:a": {}})
        );
        // Applying over an update's field conflicts with that update.
        let (code, status) = apply(&http, "fieldManager=alice", cm(json!({"a": "9"}))).await;
        assert_eq!(code, 409);
        assert_eq!(
            status["message"],
            "Apply failed with 1 conflict: conflict with \"my-tool\" using v1: .data.a"
        );
        // managedFields: [{}] resets the records; the write itself records nothing new.
        let (code, reset) = http
            .call_as(
                Method::PATCH,
                &format!("{CM}/cm"),
                "application/merge-patch+json",
                Some(json!({"metadata": {"managedFields": [{}]}})),
            )
            .await;
        assert_eq!(code, 200, "{reset}");
        assert_eq!(reset["metadata"].get("managedFields"), None, "{reset}");
        server.shutdown().await;
    });
}

#[test]
fn dry_run_apply_stores_nothing() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let (_, list) = http.get(CM).await;
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .expect("rv")
            .to_owned();
        let mut watch = http
            .watch(&format!("{CM}?watch=true&resourceVersion={rv}"))
            .await;
        let (code, answer) = apply(
            &http,
            "fieldManager=alice&dryRun=All",
            cm(json!({"a": "1"})),
        )
        .await;
        assert_eq!(code, 201, "{answer}");
        assert_eq!(answer["data"], json!({"a": "1"}));
        assert_eq!(answer["metadata"]["managedFields"][0]["manager"], "alice");
        let (code, _) = http.get(&format!("{CM}/cm")).await;
        assert_eq!(code, 404);
        assert!(watch.silent_for(Duration::from_millis(300)).await);
        server.shutdown().await;
    });
}

#[test]
fn the_client_applies() {
    bounded(async {
        let server = server().await;
        let api: Api<DynamicObject> =
            Api::namespaced_with(client(&server), "default", &configmaps());
        let applied = api
            .apply("cm", &PatchParams::apply("alice"), &cm(json!({"a": "1"})))
            .await
            .expect("apply");
        assert_eq!(applied.data["data"], json!({"a": "1"}));
        let err = api
            .apply("cm", &PatchParams::apply("bob"), &cm(json!({"a": "2"})))
            .await
            .expect_err("conflict");
        assert!(err.is_conflict(), "{err}");
        let forced = api
            .apply(
                "cm",
                &PatchParams::apply("bob").force(),
                &cm(json!({"a": "2"})),
            )
            .await
            .expect("forced");
        assert_eq!(forced.data["data"], json!({"a": "2"}));
        // Refused before sending: an apply without a manager, force on a merge patch.
        let err = api
            .patch("cm", &PatchParams::default(), &Patch::Apply(cm(json!({}))))
            .await
            .expect_err("no manager");
        assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
        let err = api
            .patch(
                "cm",
                &PatchParams::default().force(),
                &Patch::Merge(json!({"data": {"a": "3"}})),
            )
            .await
            .expect_err("force on merge");
        assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
        server.shutdown().await;
    });
}

#[test]
fn applying_a_definition_serves_its_resource() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "pools.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"kind": "Pool", "plural": "pools"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}});
        let (code, answer) = http
            .call_as(
                Method::PATCH,
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/pools.example.com?fieldManager=alice",
                APPLY,
                Some(crd),
            )
            .await;
        assert_eq!(code, 201, "{answer}");
        let pool = json!({"apiVersion": "example.com/v1", "kind": "Pool",
                          "metadata": {"name": "p"}, "spec": {"size": 3, "tags": ["a"]}});
        let path = "/apis/example.com/v1/namespaces/default/pools/p?fieldManager=alice";
        let (code, answer) = http.call_as(Method::PATCH, path, APPLY, Some(pool)).await;
        assert_eq!(code, 201, "{answer}");
        // A list is one atomic value, owned as a whole.
        assert_eq!(
            fields(&answer),
            json!([entry_in(
                "example.com/v1",
                json!({"f:spec": {"f:size": {}, "f:tags": {}}})
            )])
        );
        assert_eq!(answer["metadata"]["generation"], 1);
        // A change of the spec by apply bumps the generation, as any other write does.
        let pool = json!({"apiVersion": "example.com/v1", "kind": "Pool",
                          "metadata": {"name": "p"}, "spec": {"size": 4}});
        let (code, answer) = http.call_as(Method::PATCH, path, APPLY, Some(pool)).await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["spec"], json!({"size": 4}));
        assert_eq!(answer["metadata"]["generation"], 2);
        server.shutdown().await;
    });
}

fn entry_in(api_version: &str, fields_v1: Value) -> Value {
    json!({"manager": "alice", "operation": "Apply", "apiVersion": api_version,
           "fieldsType": "FieldsV1", "fieldsV1": fields_v1})
}

#[test]
fn status_writes_are_recorded_with_their_subresource() {
    bounded(async {
        let server = server().await;
        let http = Http::new(&server);
        let pods = "/api/v1/namespaces/default/pods";
        let (code, pod) = http
            .call(
                Method::POST,
                &format!("{pods}?fieldManager=creator"),
                Some(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})),
            )
            .await;
        assert_eq!(code, 201, "{pod}");
        let mut with_status = pod.clone();
        with_status["status"] = json!({"phase": "Running"});
        let (code, updated) = http
            .call(
                Method::PUT,
                &format!("{pods}/p/status?fieldManager=kubelet"),
                Some(with_status),
            )
            .await;
        assert_eq!(code, 200, "{updated}");
        let entries = fields(&updated);
        assert_eq!(
            entries[0],
            entry(
                "creator",
                "Update",
                json!({"f:spec": {".": {}, "f:containers": {}}})
            )
        );
        let mut kubelet = entry(
            "kubelet",
            "Update",
            json!({"f:status": {".": {}, "f:phase": {}}}),
        );
        kubelet["subresource"] = json!("status");
        assert_eq!(entries[1], kubelet);
        // Applying the status through the main resource changes nothing: it is not
        // the main resource's to set, and no conflict arises.
        let mut config = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                "status": {"phase": "Failed"}});
        let (code, applied) = http
            .call_as(
                Method::PATCH,
                &format!("{pods}/p?fieldManager=alice"),
                APPLY,
                Some(config.clone()),
            )
            .await;
        assert_eq!(code, 200, "{applied}");
        assert_eq!(applied["status"]["phase"], "Running");
        config["spec"] = json!({"containers": [{"name": "d"}]});
        let (code, status) = http
            .call_as(
                Method::PATCH,
                &format!("{pods}/p?fieldManager=alice"),
                APPLY,
                Some(config),
            )
            .await;
        assert_eq!(code, 409, "{status}");
        assert_eq!(
            status["message"],
            "Apply failed with 1 conflict: conflict with \"creator\" using v1: .spec.containers"
        );
        server.shutdown().await;
    });
}
