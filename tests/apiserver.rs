//! Integration tests of the embedded API server over real loopback HTTP, with a plain
//! hyper client (not this crate's client).

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use informer::meta::ApiResource;
use informer::testing::{ApiServer, Failure, ResourceInfo, Verb};
use serde_json::{json, Value};
use support::http::Http;
use support::{bounded, pods};

fn pod(ns: &str, name: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {"x": 1}})
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a resourceVersion")
}

#[test]
fn create_get_list_and_errors() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        let path = "/api/v1/namespaces/default/pods";
        let (code, created) = http
            .call(
                Method::POST,
                path,
                Some(pod("default", "a", json!({"app": "web"}))),
            )
            .await;
        assert_eq!(code, 201);
        assert_eq!(created["kind"], "Pod");
        assert_eq!(created["apiVersion"], "v1");
        assert_eq!(created["metadata"]["generation"], 1);
        assert!(created["metadata"]["uid"].is_string());
        assert!(created["metadata"]["creationTimestamp"].is_string());

        let (code, got) = http.get(&format!("{path}/a")).await;
        assert_eq!(code, 200);
        assert_eq!(got, created);

        let (code, status) = http
            .call(Method::POST, path, Some(pod("default", "a", json!({}))))
            .await;
        assert_eq!(code, 409);
        assert_eq!(status["reason"], "AlreadyExists");
        assert_eq!(status["message"], "pods \"a\" already exists");

        let (code, status) = http.get(&format!("{path}/missing")).await;
        assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));
        assert_eq!(status["message"], "pods \"missing\" not found");

        let (code, gen) = http
            .call(
                Method::POST,
                path,
                Some(json!({"metadata": {"generateName": "web-"}})),
            )
            .await;
        assert_eq!(code, 201);
        assert!(name(&gen).starts_with("web-") && name(&gen).len() == 9);

        let (code, status) = http
            .call(
                Method::POST,
                path,
                Some(json!({"metadata": {"name": "Bad_Name"}})),
            )
            .await;
        assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));

        let (code, status) = http
            .call(
                Method::POST,
                "/api/v1/namespaces/nowhere/pods",
                Some(json!({"metadata": {"name": "x"}})),
            )
            .await;
        assert_eq!(code, 404);
        assert_eq!(status["message"], "namespaces \"nowhere\" not found");

        let (code, status) = http
            .call(
                Method::POST,
                path,
                Some(json!({"metadata": {"name": "x", "namespace": "kube-system"}})),
            )
            .await;
        assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));

        let (code, list) = http.get("/api/v1/pods").await;
        assert_eq!(code, 200);
        assert_eq!(list["kind"], "PodList");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            list["metadata"]["resourceVersion"],
            server.resource_version().to_string()
        );

        let (code, status) = http.get("/api/v1/nothings").await;
        assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));
        let (code, status) = http.call(Method::PUT, path, None).await;
        assert_eq!(
            (code, status["reason"].as_str()),
            (405, Some("MethodNotAllowed"))
        );
        let (code, status) = http
            .call_as(Method::POST, path, "application/json", None)
            .await;
        assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
        server.shutdown().await;
    });
}

#[test]
fn replace_detects_conflicts_and_bumps_generation() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        let path = "/api/v1/namespaces/default/pods/a";
        let created = server
            .create(&pods(), pod("default", "a", json!({})))
            .expect("create");
        let mut next = created.clone();
        next["spec"]["x"] = json!(2);
        next["status"] = json!({"phase": "Ignored"});
        let (code, updated) = http.call(Method::PUT, path, Some(next.clone())).await;
        assert_eq!(code, 200);
        assert!(rv(&updated) > rv(&created));
        assert_eq!(updated["metadata"]["generation"], 2);
        assert!(updated.get("status").is_none(), "status is a subresource");

        let (code, status) = http.call(Method::PUT, path, Some(next)).await;
        assert_eq!(code, 409);
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(
            status["message"],
            "Operation cannot be fulfilled on pods \"a\": the object has been modified; \
             please apply your changes to the latest version and try again"
        );

        let mut with_status = updated.clone();
        with_status["status"] = json!({"phase": "Running"});
        with_status["spec"]["x"] = json!(99);
        let (code, s) = http
            .call(Method::PUT, &format!("{path}/status"), Some(with_status))
            .await;
        assert_eq!(code, 200);
        assert_eq!(s["status"]["phase"], "Running");
        assert_eq!(s["spec"]["x"], 2, "a status update changes only the status");
        assert_eq!(s["metadata"]["generation"], 2);

        // A label change through the main resource: no new generation, and the
        // status it carries is ignored in favour of the stored one.
        let mut relabelled = s.clone();
        relabelled["metadata"]["labels"] = json!({"tier": "web"});
        relabelled["status"] = json!({"phase": "Failed"});
        let (code, r) = http.call(Method::PUT, path, Some(relabelled)).await;
        assert_eq!(code, 200);
        assert!(rv(&r) > rv(&s));
        assert_eq!(r["metadata"]["generation"], 2);
        assert_eq!(r["metadata"]["labels"]["tier"], "web");
        assert_eq!(r["status"]["phase"], "Running");
        assert_eq!(r["metadata"]["uid"], created["metadata"]["uid"]);

        // A no-op update keeps the resourceVersion.
        let (code, same) = http.call(Method::PUT, path, Some(r.clone())).await;
        assert_eq!(code, 200);
        assert_eq!(rv(&same), rv(&r));
        server.shutdown().await;
    });
}

#[test]
fn patches() {
    bounded(async {
        let server = ApiServer::builder()
            .resource(ResourceInfo::new(ApiResource::new(
                "example.com",
                "v1",
                "Widget",
                "widgets",
                true,
            )))
            .start()
            .await
            .expect("start");
        let http = Http::new(&server);
        server
            .create(
                &pods(),
                pod("default", "a", json!({"app": "web", "old": "x"})),
            )
            .expect("create");
        let path = "/api/v1/namespaces/default/pods/a";
        let (code, p) = http
            .call_as(
                Method::PATCH,
                path,
                "application/strategic-merge-patch+json",
                Some(json!({"metadata": {"labels": {"old": null, "new": "y"}}})),
            )
            .await;
        assert_eq!(code, 200);
        assert_eq!(p["metadata"]["labels"], json!({"app": "web", "new": "y"}));
        let (code, p) = http
            .call_as(
                Method::PATCH,
                path,
                "application/merge-patch+json",
                Some(json!({"metadata": {"annotations": {"a": "1"}}})),
            )
            .await;
        assert_eq!(code, 200);
        assert_eq!(p["metadata"]["annotations"]["a"], "1");
        let (code, p) = http
            .call_as(
                Method::PATCH,
                path,
                "application/json-patch+json",
                Some(json!([{"op": "replace", "path": "/spec/x", "value": 5}])),
            )
            .await;
        assert_eq!(code, 200);
        assert_eq!(p["spec"]["x"], 5);
        assert_eq!(p["metadata"]["generation"], 2);
        let (code, s) = http
            .call_as(
                Method::PATCH,
                path,
                "application/merge-patch+json",
                Some(json!({"metadata": {"resourceVersion": "1"}})),
            )
            .await;
        assert_eq!((code, s["reason"].as_str()), (409, Some("Conflict")));
        let (code, s) = http
            .call_as(
                Method::PATCH,
                path,
                "application/x-unknown-patch",
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (code, s["reason"].as_str()),
            (415, Some("UnsupportedMediaType"))
        );

        // Custom resources take merge patches but not strategic ones.
        let widgets = "/apis/example.com/v1/namespaces/default/widgets";
        let (code, _) = http
            .call(
                Method::POST,
                widgets,
                Some(json!({"metadata": {"name": "w"}, "spec": {"size": 1}})),
            )
            .await;
        assert_eq!(code, 201);
        let (code, _) = http
            .call_as(
                Method::PATCH,
                &format!("{widgets}/w"),
                "application/strategic-merge-patch+json",
                Some(json!({"spec": {"size": 2}})),
            )
            .await;
        assert_eq!(code, 415);
        let (code, w) = http
            .call_as(
                Method::PATCH,
                &format!("{widgets}/w"),
                "application/merge-patch+json",
                Some(json!({"spec": {"size": 2}})),
            )
            .await;
        assert_eq!(code, 200);
        assert_eq!(w["spec"]["size"], 2);
        assert_eq!(w["kind"], "Widget");
        assert_eq!(w["apiVersion"], "example.com/v1");
        server.shutdown().await;
    });
}

#[test]
fn delete_finalizers_preconditions_and_collections() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        let base = "/api/v1/namespaces/default/pods";
        let mut with_finalizer = pod("default", "f", json!({}));
        with_finalizer["metadata"]["finalizers"] = json!(["example.com/hold"]);
        let created = server.create(&pods(), with_finalizer).expect("create");
        let mut w = http
            .watch(&format!(
                "{base}?watch=true&resourceVersion={}",
                rv(&created)
            ))
            .await;

        let (code, s) = http
            .call(
                Method::DELETE,
                &format!("{base}/f"),
                Some(json!({"preconditions": {"uid": "not-the-uid"}})),
            )
            .await;
        assert_eq!((code, s["reason"].as_str()), (409, Some("Conflict")));

        let (code, d) = http.call(Method::DELETE, &format!("{base}/f"), None).await;
        assert_eq!(code, 200);
        assert!(d["metadata"]["deletionTimestamp"].is_string());
        assert_eq!(http.get(&format!("{base}/f")).await.0, 200);
        let (kind, _) = w.expect().await;
        assert_eq!(kind, "MODIFIED");

        let (code, _) = http
            .call_as(
                Method::PATCH,
                &format!("{base}/f"),
                "application/merge-patch+json",
                Some(json!({"metadata": {"finalizers": null}})),
            )
            .await;
        assert_eq!(code, 200);
        let (kind, obj) = w.expect().await;
        assert_eq!(
            kind, "DELETED",
            "removing the last finalizer sends only DELETED"
        );
        assert_eq!(name(&obj), "f");
        assert_eq!(http.get(&format!("{base}/f")).await.0, 404);

        for (n, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
            server
                .create(&pods(), pod("default", n, json!({"app": app})))
                .expect("create");
        }
        let (code, deleted) = http
            .call(
                Method::DELETE,
                &format!("{base}?labelSelector=app%3Dweb"),
                None,
            )
            .await;
        assert_eq!(code, 200);
        assert_eq!(deleted["items"].as_array().map(Vec::len), Some(2));
        let (_, list) = http.get(base).await;
        let names: Vec<&str> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(name)
            .collect();
        assert_eq!(names, ["c"]);
        server.shutdown().await;
    });
}

#[test]
fn selectors_and_paging() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        for i in 0..10 {
            let app = if i % 2 == 0 { "web" } else { "db" };
            server
                .create(
                    &pods(),
                    pod("default", &format!("p{i}"), json!({"app": app})),
                )
                .expect("create");
        }
        let (_, list) = http.get("/api/v1/pods?labelSelector=app%3Dweb").await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(5));
        let (_, list) = http
            .get("/api/v1/pods?labelSelector=app+in+%28web%2Cdb%29%2C%21missing")
            .await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(10));
        let (_, list) = http
            .get("/api/v1/pods?fieldSelector=metadata.name%3Dp3")
            .await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
        // Pods are selectable by their node, as on a real server; p0 is on n1.
        let mut p0 = server.get(&pods(), Some("default"), "p0").expect("p0");
        p0["spec"]["nodeName"] = json!("n1");
        server.replace(&pods(), p0).expect("bind p0");
        let (code, list) = http
            .get("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")
            .await;
        assert_eq!(code, 200);
        assert_eq!(list["items"][0]["metadata"]["name"], "p0");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
        let (_, list) = http
            .get("/api/v1/pods?fieldSelector=spec.nodeName%3D%2Cspec.hostNetwork%3Dfalse")
            .await;
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(9),
            "unbound pods"
        );
        // A field the resource cannot be selected by is refused.
        let (code, s) = http
            .get("/api/v1/pods?fieldSelector=spec.priority%3D1")
            .await;
        assert_eq!((code, s["reason"].as_str()), (400, Some("BadRequest")));
        assert_eq!(
            s["message"].as_str(),
            Some("field label not supported: spec.priority")
        );
        let (code, _) = http.get("/api/v1/pods?labelSelector=%3D%3D%3D").await;
        assert_eq!(code, 400);

        // Paging: 10 pods in pages of 4.
        let (_, first) = http.get("/api/v1/namespaces/default/pods?limit=4").await;
        assert_eq!(first["items"].as_array().map(Vec::len), Some(4));
        assert_eq!(first["metadata"]["remainingItemCount"], 6);
        let token = first["metadata"]["continue"]
            .as_str()
            .expect("continue")
            .to_owned();
        server
            .create(&pods(), pod("default", "p99", json!({})))
            .expect("a write between pages");
        let (_, second) = http
            .get(&format!(
                "/api/v1/namespaces/default/pods?limit=4&continue={token}"
            ))
            .await;
        assert_eq!(
            second["metadata"]["resourceVersion"],
            first["metadata"]["resourceVersion"]
        );
        let names: Vec<&str> = second["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(name)
            .collect();
        assert_eq!(names, ["p4", "p5", "p6", "p7"]);
        // Tokens can be reused.
        let (_, again) = http
            .get(&format!(
                "/api/v1/namespaces/default/pods?limit=4&continue={token}"
            ))
            .await;
        assert_eq!(again["items"], second["items"]);
        let token2 = second["metadata"]["continue"]
            .as_str()
            .expect("continue")
            .to_owned();
        let (_, third) = http
            .get(&format!(
                "/api/v1/namespaces/default/pods?limit=4&continue={token2}"
            ))
            .await;
        let names: Vec<&str> = third["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(name)
            .collect();
        assert_eq!(names, ["p8", "p9"], "the snapshot does not see p99");
        assert!(third["metadata"].get("continue").is_none());
        assert!(third["metadata"].get("remainingItemCount").is_none());

        // With a selector: no remainingItemCount.
        let (_, sel) = http
            .get("/api/v1/pods?limit=2&labelSelector=app%3Dweb")
            .await;
        assert!(sel["metadata"]["continue"].is_string());
        assert!(sel["metadata"].get("remainingItemCount").is_none());
        // resourceVersion=0 ignores limit.
        let (_, all) = http.get("/api/v1/pods?limit=2&resourceVersion=0").await;
        assert_eq!(all["items"].as_array().map(Vec::len), Some(11));
        // continue with an exact resourceVersion is a bad request.
        let (code, s) = http
            .get(&format!(
                "/api/v1/pods?limit=2&resourceVersion=5&continue={token}"
            ))
            .await;
        assert_eq!((code, s["reason"].as_str()), (400, Some("BadRequest")));
        let (code, _) = http.get("/api/v1/pods?continue=bm90LWEtdG9rZW4").await;
        assert_eq!(code, 400);
        server.shutdown().await;
    });
}

#[test]
fn compaction_expires_lists_tokens_and_watches() {
    bounded(async {
        let server = ApiServer::builder()
            .history_limit(5)
            .start()
            .await
            .expect("start");
        let http = Http::new(&server);
        for i in 0..6 {
            server
                .create(&pods(), pod("default", &format!("p{i}"), json!({})))
                .expect("create");
        }
        let (_, first) = http.get("/api/v1/namespaces/default/pods?limit=2").await;
        let token = first["metadata"]["continue"]
            .as_str()
            .expect("continue")
            .to_owned();
        let list_rv = first["metadata"]["resourceVersion"]
            .as_str()
            .expect("rv")
            .to_owned();
        // An exact list at the current version works.
        let (code, _) = http
            .get(&format!(
                "/api/v1/pods?resourceVersion={list_rv}&resourceVersionMatch=Exact"
            ))
            .await;
        assert_eq!(code, 200);
        server
            .create(&pods(), pod("default", "later", json!({})))
            .expect("create");
        server.faults().compact();

        let (code, s) = http
            .get(&format!(
                "/api/v1/namespaces/default/pods?limit=2&continue={token}"
            ))
            .await;
        assert_eq!(code, 410);
        assert_eq!(s["reason"], "Expired");
        assert!(s["message"].as_str().unwrap_or_default().starts_with(
            "The provided continue parameter is too old to display a consistent list result."
        ));
        let fresh = s["metadata"]["continue"]
            .as_str()
            .expect("a fresh token")
            .to_owned();
        let (code, rest) = http
            .get(&format!(
                "/api/v1/namespaces/default/pods?limit=100&continue={fresh}"
            ))
            .await;
        assert_eq!(code, 200);
        let names: Vec<&str> = rest["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(name)
            .collect();
        assert_eq!(names, ["p2", "p3", "p4", "p5"]);

        let (code, s) = http
            .get(&format!(
                "/api/v1/pods?resourceVersion={list_rv}&resourceVersionMatch=Exact"
            ))
            .await;
        assert_eq!(code, 410);
        assert_eq!(s["reason"], "Expired");
        assert_eq!(
            s["message"],
            "The resourceVersion for the provided list is too old."
        );
        // Without resourceVersionMatch, a version with a limit is read exactly (the legacy
        // rule); without a limit, or with NotOlderThan, it is a lower bound.
        let (code, s) = http
            .get(&format!("/api/v1/pods?resourceVersion={list_rv}&limit=2"))
            .await;
        assert_eq!((code, s["reason"].as_str()), (410, Some("Expired")));
        for query in [
            format!("resourceVersion={list_rv}"),
            format!("resourceVersion={list_rv}&limit=2&resourceVersionMatch=NotOlderThan"),
        ] {
            let (code, page) = http.get(&format!("/api/v1/pods?{query}")).await;
            assert_eq!(code, 200, "{query}");
            assert_eq!(
                page["metadata"]["resourceVersion"],
                current_rv(&server),
                "{query}"
            );
        }

        let mut w = http.watch("/api/v1/pods?watch=1&resourceVersion=1").await;
        let line = w.next_raw().await.expect("an ERROR event");
        let current = server.resource_version();
        assert_eq!(
            line,
            format!(
                "{{\"type\":\"ERROR\",\"object\":{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\
                 \"status\":\"Failure\",\"message\":\"too old resource version: 1 ({current})\",\
                 \"reason\":\"Expired\",\"code\":410}}}}"
            )
        );
        assert!(
            w.next_raw().await.is_none(),
            "the stream ends after the error"
        );
        server.shutdown().await;
    });
}

#[test]
fn watch_replays_history_and_follows_selectors() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        let a = server
            .create(&pods(), pod("default", "a", json!({"app": "web"})))
            .expect("create");
        server
            .create(&pods(), pod("default", "b", json!({"app": "db"})))
            .expect("create");

        // resourceVersion=0: synthetic ADDED for the current state.
        let mut all = http
            .watch("/api/v1/namespaces/default/pods?watch=1&resourceVersion=0")
            .await;
        assert_eq!(name(&all.expect().await.1), "a");
        assert_eq!(name(&all.expect().await.1), "b");

        // From a resourceVersion: the history after it.
        let mut replay = http
            .watch(&format!("/api/v1/pods?watch=1&resourceVersion={}", rv(&a)))
            .await;
        let (kind, obj) = replay.expect().await;
        assert_eq!((kind.as_str(), name(&obj)), ("ADDED", "b"));

        let mut web = http
            .watch(&format!(
                "/api/v1/pods?watch=1&labelSelector=app%3Dweb&resourceVersion={}",
                server.resource_version()
            ))
            .await;
        let mut b = server.get(&pods(), Some("default"), "b").expect("get");
        b["metadata"]["labels"]["app"] = json!("web");
        let moved_in = server.replace(&pods(), b.clone()).expect("replace");
        let (kind, obj) = web.expect().await;
        assert_eq!((kind.as_str(), name(&obj)), ("ADDED", "b"));
        let mut b = moved_in;
        b["metadata"]["labels"]["app"] = json!("db");
        let moved_out = server.replace(&pods(), b).expect("replace");
        let (kind, obj) = web.expect().await;
        assert_eq!((kind.as_str(), name(&obj)), ("DELETED", "b"));
        assert_eq!(
            rv(&obj),
            rv(&moved_out),
            "DELETED carries the new resourceVersion"
        );

        for expected in ["MODIFIED", "MODIFIED"] {
            let (kind, obj) = replay.expect().await;
            assert_eq!((kind.as_str(), name(&obj)), (expected, "b"));
        }
        server.shutdown().await;
    });
}

#[test]
fn bookmarks_and_timeouts() {
    bounded(async {
        let server = ApiServer::builder()
            .bookmark_interval(Duration::from_millis(50))
            .start()
            .await
            .expect("start");
        let http = Http::new(&server);
        let start = server.resource_version();
        let mut w = http
            .watch(&format!(
                "/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion={start}"
            ))
            .await;
        assert!(
            w.silent_for(Duration::from_millis(300)).await,
            "no bookmark before the resourceVersion moves past the start"
        );
        let cm = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
        server
            .create(
                &cm,
                json!({"metadata": {"name": "c", "namespace": "default"}}),
            )
            .expect("create");
        let (kind, obj) = w.expect().await;
        assert_eq!(kind, "BOOKMARK");
        assert_eq!(obj["kind"], "Pod");
        assert_eq!(rv(&obj), server.resource_version());

        // With the default 60 s interval, a bookmark still comes about 2 s before
        // timeoutSeconds ends the watch.
        let quiet = ApiServer::start().await.expect("start");
        let qhttp = Http::new(&quiet);
        let from = quiet.resource_version();
        let began = tokio::time::Instant::now();
        let mut q = qhttp
            .watch(&format!(
                "/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion={from}"
            ))
            .await;
        quiet
            .create(
                &cm,
                json!({"metadata": {"name": "c", "namespace": "default"}}),
            )
            .expect("create");
        let (kind, obj) = q.expect().await;
        assert_eq!(kind, "BOOKMARK");
        assert_eq!(rv(&obj), quiet.resource_version());
        let at = began.elapsed();
        assert!(
            at >= Duration::from_millis(800) && at < Duration::from_millis(2500),
            "{at:?}"
        );
        assert!(q.next_raw().await.is_none());
        assert!(began.elapsed() >= Duration::from_millis(2900));
        quiet.shutdown().await;

        // An absurd timeoutSeconds is no deadline (and no panic).
        let mut huge = http
            .watch(
                "/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=18446744073709551615",
            )
            .await;
        server
            .create(
                &cm,
                json!({"metadata": {"name": "c2", "namespace": "default"}}),
            )
            .expect("create");
        let (kind, _) = huge.expect().await;
        assert_eq!(kind, "BOOKMARK");

        // timeoutSeconds ends the stream cleanly.
        let began = tokio::time::Instant::now();
        let mut t = http.watch("/api/v1/pods?watch=1&timeoutSeconds=1").await;
        assert!(t.next_raw().await.is_none());
        assert!(began.elapsed() >= Duration::from_millis(900));
        server.shutdown().await;
    });
}

#[test]
fn streaming_initial_list() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        for n in ["c", "a", "b"] {
            server
                .create(&pods(), pod("default", n, json!({})))
                .expect("create");
        }
        let (code, s) = http
            .get("/api/v1/pods?watch=1&sendInitialEvents=true")
            .await;
        assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")));
        let mut w = http
            .watch(
                "/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true\
                 &resourceVersionMatch=NotOlderThan&resourceVersion=",
            )
            .await;
        for n in ["a", "b", "c"] {
            let (kind, obj) = w.expect().await;
            assert_eq!((kind.as_str(), name(&obj)), ("ADDED", n));
        }
        let (kind, obj) = w.expect().await;
        assert_eq!(kind, "BOOKMARK");
        assert_eq!(
            obj["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
        assert_eq!(rv(&obj), server.resource_version());
        server
            .create(&pods(), pod("default", "d", json!({})))
            .expect("create");
        let (kind, obj) = w.expect().await;
        assert_eq!((kind.as_str(), name(&obj)), ("ADDED", "d"));

        // sendInitialEvents=false: no initial state, only what happens next.
        let mut later = http
            .watch("/api/v1/pods?watch=1&sendInitialEvents=false&resourceVersionMatch=NotOlderThan")
            .await;
        server
            .create(&pods(), pod("default", "e", json!({})))
            .expect("create");
        let (kind, obj) = later.expect().await;
        assert_eq!((kind.as_str(), name(&obj)), ("ADDED", "e"));
        server.shutdown().await;
    });
}

#[test]
fn future_resource_versions() {
    bounded(async {
        let server = ApiServer::builder()
            .too_large_resource_version_wait(Duration::from_millis(200))
            .start()
            .await
            .expect("start");
        let http = Http::new(&server);
        let future = server.resource_version() + 2;
        let (code, s) = http
            .get(&format!("/api/v1/pods?resourceVersion={future}"))
            .await;
        assert_eq!(code, 504);
        assert_eq!(
            s["details"]["causes"][0]["reason"],
            "ResourceVersionTooLarge"
        );
        assert_eq!(s["details"]["retryAfterSeconds"], 1);

        // A version reached while the list waits is served.
        let soon = server.resource_version() + 1;
        let soon_path = format!("/api/v1/pods?resourceVersion={soon}");
        let (code, _) = tokio::join!(http.get(&soon_path), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            server
                .create(&pods(), pod("default", "early", json!({})))
                .expect("create");
        })
        .0;
        assert_eq!(code, 200);
        let future = server.resource_version() + 2;
        let mut w = http
            .watch(&format!("/api/v1/pods?watch=1&resourceVersion={future}"))
            .await;
        server
            .create(&pods(), pod("default", "a", json!({})))
            .expect("create");
        server
            .create(&pods(), pod("default", "b", json!({})))
            .expect("create");
        server
            .create(&pods(), pod("default", "c", json!({})))
            .expect("create");
        let (kind, obj) = w.expect().await;
        assert_eq!((kind.as_str(), name(&obj)), ("ADDED", "c"));
        server.shutdown().await;
    });
}

#[test]
fn discovery() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        server.register(ApiResource::new(
            "example.com",
            "v1",
            "Widget",
            "widgets",
            false,
        ));
        let http = Http::new(&server);
        let (code, v) = http.get("/version").await;
        assert_eq!((code, v["major"].as_str()), (200, Some("1")));
        let (_, api) = http.get("/api").await;
        assert_eq!(api["versions"], json!(["v1"]));
        let (_, core) = http.get("/api/v1").await;
        let names: Vec<&str> = core["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        for n in [
            "pods",
            "pods/status",
            "namespaces",
            "configmaps",
            "secrets",
            "services",
            "nodes",
            "events",
        ] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
        let (_, apis) = http.get("/apis").await;
        let groups: Vec<&str> = apis["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter_map(|g| g["name"].as_str())
            .collect();
        assert_eq!(
            groups,
            [
                "apiextensions.k8s.io",
                "apps",
                "coordination.k8s.io",
                "events.k8s.io",
                "example.com"
            ]
        );
        let (code, widgets) = http.get("/apis/example.com/v1").await;
        assert_eq!(code, 200);
        assert_eq!(widgets["resources"][0]["kind"], "Widget");
        assert_eq!(widgets["resources"][0]["namespaced"], false);
        assert_eq!(http.get("/apis/example.com").await.0, 200);
        assert_eq!(http.get("/apis/nothing.example/v1").await.0, 404);
        let (code, _) = http
            .call(
                Method::POST,
                "/apis/example.com/v1/widgets",
                Some(json!({"metadata": {"name": "w"}})),
            )
            .await;
        assert_eq!(code, 201);
        server.shutdown().await;
    });
}

#[test]
fn injected_request_failures_and_delay() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        let faults = server.faults();
        faults.fail_next(1, Some(Verb::List), "/pods", Failure::too_many_requests(7));
        let resp = http
            .send(Method::GET, "/api/v1/pods", "application/json", None)
            .await;
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let s: Value = serde_json::from_slice(&body).expect("status");
        assert_eq!(s["reason"], "TooManyRequests");
        assert_eq!(s["details"]["retryAfterSeconds"], 7);
        assert_eq!(
            http.get("/api/v1/pods").await.0,
            200,
            "only the next one fails"
        );

        faults.fail_next(2, None, "/configmaps", Failure::status(500));
        faults.fail_next(1, None, "/configmaps", Failure::status(503));
        let codes = [
            http.get("/api/v1/configmaps").await,
            http.get("/api/v1/configmaps").await,
            http.get("/api/v1/configmaps").await,
            http.get("/api/v1/configmaps").await,
        ];
        assert_eq!(
            codes.iter().map(|c| c.0).collect::<Vec<_>>(),
            [500, 500, 503, 200]
        );
        assert_eq!(codes[0].1["reason"], "InternalError");
        assert_eq!(codes[2].1["reason"], "ServiceUnavailable");

        faults.fail_next(1, Some(Verb::Watch), "/pods", Failure::status(410));
        let mut w = http.watch("/api/v1/pods?watch=1").await;
        let (kind, obj) = w.expect().await;
        assert_eq!(
            (kind.as_str(), obj["reason"].as_str()),
            ("ERROR", Some("Expired"))
        );
        faults.fail_next(1, Some(Verb::List), "/pods", Failure::status(410));
        let (code, s) = http.get("/api/v1/pods").await;
        assert_eq!((code, s["reason"].as_str()), (410, Some("Expired")));

        faults.set_delay(Some(Duration::from_millis(200)));
        let began = tokio::time::Instant::now();
        http.get("/version").await;
        assert!(began.elapsed() >= Duration::from_millis(200));
        faults.clear();
        server.shutdown().await;
    });
}

#[test]
fn injected_watch_faults() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        let faults = server.faults();
        let from = server.resource_version();
        let path = format!("/api/v1/pods?watch=1&resourceVersion={from}");

        let mut w = http.watch(&path).await;
        while server.watch_count() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        faults.drop_watches();
        assert!(w.next_raw().await.is_none(), "dropped watches end");

        let mut w = http.watch(&path).await;
        while server.watch_count() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        faults.drop_watches_after(2);
        for n in ["a", "b", "c"] {
            server
                .create(&pods(), pod("default", n, json!({})))
                .expect("create");
        }
        assert_eq!(name(&w.expect().await.1), "a");
        assert_eq!(name(&w.expect().await.1), "b");
        assert!(
            w.next_raw().await.is_none(),
            "the watch ends after two events"
        );

        let now = server.resource_version();
        let mut w = http
            .watch(&format!("/api/v1/pods?watch=1&resourceVersion={now}"))
            .await;
        while server.watch_count() < 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        faults.malformed_line();
        server
            .create(&pods(), pod("default", "d", json!({})))
            .expect("create");
        let bad = w.next_raw().await.expect("a line");
        assert!(serde_json::from_str::<Value>(&bad).is_err());
        assert_eq!(name(&w.expect().await.1), "d", "then the events continue");

        faults.restart(true);
        let end = w.next_raw().await;
        assert!(end.is_none(), "a restart cuts the watch");
        // The restart cut the pooled connections too: use a fresh client.
        let http = Http::new(&server);
        let (code, s) = http
            .get(&format!("/api/v1/pods?watch=1&resourceVersion={from}"))
            .await;
        assert_eq!(code, 200);
        assert_eq!(s["type"], "ERROR", "history compacted by the restart");
        assert_eq!(
            http.get("/api/v1/namespaces/default/pods/a").await.0,
            200,
            "state kept"
        );
        server.shutdown().await;
    });
}

#[test]
fn bearer_token_auth() {
    bounded(async {
        let server = ApiServer::builder()
            .token("s3cret")
            .start()
            .await
            .expect("start");
        let mut http = Http::new(&server);
        assert_eq!(http.get("/api/v1/pods").await.0, 200);
        http.token = Some("wrong".into());
        let (code, s) = http.get("/api/v1/pods").await;
        assert_eq!((code, s["reason"].as_str()), (401, Some("Unauthorized")));
        http.token = None;
        assert_eq!(http.get("/version").await.0, 401);
        let kubeconfig = std::fs::read_to_string(server.kubeconfig()).expect("kubeconfig");
        assert!(kubeconfig.contains("s3cret"));
        let path = server.kubeconfig().to_owned();
        server.shutdown().await;
        assert!(!path.exists(), "the kubeconfig is removed at shutdown");
    });
}

#[test]
fn tls() {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

    bounded(async {
        let server = ApiServer::builder().tls(true).start().await.expect("start");
        assert!(server.url().starts_with("https://127.0.0.1:"));
        let ca =
            CertificateDer::from_pem_slice(server.ca_pem().expect("a CA").as_bytes()).expect("PEM");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("CA");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(server.addr())
            .await
            .expect("connect");
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let tls = connector.connect(name, tcp).await.expect("handshake");
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .expect("http handshake");
        let conn = tokio::spawn(conn);
        let req = Request::get(format!("{}/version", server.url()))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let resp = send.send_request(req).await.expect("response");
        assert_eq!(resp.status().as_u16(), 200);
        drop(send);
        conn.abort();
        server.shutdown().await;
    });
}

#[test]
fn namespaces_cascade_and_option_errors() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let http = Http::new(&server);
        let (code, ns) = http
            .call(
                Method::POST,
                "/api/v1/namespaces",
                Some(json!({"metadata": {"name": "shop"}})),
            )
            .await;
        assert_eq!(code, 201);
        assert_eq!(ns["status"]["phase"], "Active");
        let (code, _) = http
            .call(
                Method::POST,
                "/api/v1/namespaces",
                Some(json!({"metadata": {"name": "a.b"}})),
            )
            .await;
        assert_eq!(code, 422, "namespace names are DNS labels");
        server
            .create(&pods(), pod("shop", "p", json!({})))
            .expect("create");
        let mut w = http
            .watch(&format!(
                "/api/v1/namespaces/shop/pods?watch=1&resourceVersion={}",
                server.resource_version()
            ))
            .await;
        let (code, _) = http
            .call(Method::DELETE, "/api/v1/namespaces/shop", None)
            .await;
        assert_eq!(code, 200);
        let (kind, obj) = w.expect().await;
        assert_eq!((kind.as_str(), name(&obj)), ("DELETED", "p"));
        assert_eq!(http.get("/api/v1/namespaces/shop/pods/p").await.0, 404);
        assert_eq!(http.get("/api/v1/namespaces/shop").await.0, 404);

        let (code, s) = http.get("/api/v1/pods?resourceVersionMatch=Exact").await;
        assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")));
        let (code, _) = http
            .get("/api/v1/pods?resourceVersion=0&resourceVersionMatch=Exact")
            .await;
        assert_eq!(code, 422);
        let (code, _) = http.get("/api/v1/pods?resourceVersion=abc").await;
        assert_eq!(code, 400);
        let (code, _) = http.get("/api/v1/pods?limit=-1").await;
        assert_eq!(code, 400);
        // NotOlderThan a past version serves the latest state.
        let (code, list) = http
            .get("/api/v1/pods?resourceVersion=1&resourceVersionMatch=NotOlderThan")
            .await;
        assert_eq!(code, 200);
        assert_eq!(
            list["metadata"]["resourceVersion"],
            server.resource_version().to_string()
        );
        // Watching one object by its path.
        server
            .create(&pods(), pod("default", "one", json!({})))
            .expect("create");
        server
            .create(&pods(), pod("default", "two", json!({})))
            .expect("create");
        let mut one = http
            .watch("/api/v1/namespaces/default/pods/one?watch=1")
            .await;
        let (kind, obj) = one.expect().await;
        assert_eq!((kind.as_str(), name(&obj)), ("ADDED", "one"));
        assert!(one.silent_for(Duration::from_millis(100)).await);
        // An injected 410 on a get is Gone.
        server
            .faults()
            .fail_next(1, Some(Verb::Get), "/pods/one", Failure::status(410));
        let (code, s) = http.get("/api/v1/namespaces/default/pods/one").await;
        assert_eq!((code, s["reason"].as_str()), (410, Some("Gone")));
        server.shutdown().await;
    });
}

fn current_rv(server: &ApiServer) -> String {
    server.resource_version().to_string()
}
