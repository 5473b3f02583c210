//! The client against the embedded API server over real loopback HTTP and HTTPS: CRUD
//! (typed and dynamic), watches, errors and their helpers, TLS, tokens, exec plugins,
//! retries, the rate limiter, discovery, and the pager.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use informer::cache::{ListPager, ListWatch, ListerWatcher};
use informer::client::{
    Api, Config, DeleteParams, DeleteResponse, Discovery, Error, ListParams, Patch, PatchParams,
    PostParams, RateLimit, RestClient, RetryPolicy, WatchParams,
};
use informer::meta::{ApiResource, DynamicObject, ObjectMeta, Resource, WatchEvent};
use informer::testing::{ApiServer, Failure, Verb};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{bounded, pods};

/// A small typed ConfigMap, as a user would define one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, Resource)]
#[resource(version = "v1", kind = "ConfigMap", namespaced)]
#[serde(rename_all = "camelCase")]
struct ConfigMap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    data: std::collections::BTreeMap<String, String>,
}

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn pod(name: &str, labels: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap()
}

/// A client for the server's kubeconfig, without rate limit unless asked.
fn client(server: &ApiServer) -> RestClient {
    let mut config = Config::from_kubeconfig_file(server.kubeconfig()).expect("kubeconfig");
    config.rate_limit = None;
    RestClient::new(config).expect("client")
}

#[test]
fn typed_crud_and_error_helpers() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let ns: Api<DynamicObject> = Api::all_with(
            client(&server),
            &ApiResource::new("", "v1", "Namespace", "namespaces", false),
        );
        let shop: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        )
        .unwrap();
        ns.create(&PostParams::default(), &shop).await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client(&server), "shop");
        let pp = PostParams::default();

        let created = api
            .create(&pp, &cm("settings", &[("a", "1")]))
            .await
            .unwrap();
        assert_eq!(created.metadata.namespace.as_deref(), Some("shop"));
        assert!(created.metadata.resource_version.is_some());
        assert!(created.metadata.uid.is_some());

        let err = api.create(&pp, &cm("settings", &[])).await.unwrap_err();
        assert!(err.is_already_exists(), "{err}");
        assert_eq!(err.code(), Some(409));

        let got = api.get("settings").await.unwrap();
        assert_eq!(got.data["a"], "1");
        let err = api.get("nope").await.unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(api.get_opt("nope").await.unwrap().is_none());
        assert!(matches!(&err, Error::Api(s) if s.code == 404));

        // Replace with the current resourceVersion works; with a stale one conflicts.
        let mut next = got.clone();
        next.data.insert("b".into(), "2".into());
        let replaced = api.replace("settings", &pp, &next).await.unwrap();
        assert_eq!(replaced.data["b"], "2");
        let err = api.replace("settings", &pp, &next).await.unwrap_err();
        assert!(err.is_conflict(), "{err}");

        // Merge, JSON and strategic merge patches.
        let p = api
            .patch(
                "settings",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"c": "3"}})),
            )
            .await
            .unwrap();
        assert_eq!(p.data["c"], "3");
        let p = api
            .patch(
                "settings",
                &PatchParams::default(),
                &Patch::Json(json!([{"op": "remove", "path": "/data/a"}])),
            )
            .await
            .unwrap();
        assert!(!p.data.contains_key("a"));
        let p = api
            .patch(
                "settings",
                &PatchParams::default(),
                &Patch::Strategic(json!({"data": {"d": "4"}})),
            )
            .await
            .unwrap();
        assert_eq!(p.data["d"], "4");

        // A list sees it; everything-namespaces too.
        let list = api.list(&ListParams::default()).await.unwrap();
        assert_eq!(list.items.len(), 1);
        assert!(list.metadata.resource_version.is_some());
        let all: Api<ConfigMap> = Api::all(client(&server));
        assert_eq!(
            all.list(&ListParams::default()).await.unwrap().items.len(),
            1
        );
        let err = all.create(&pp, &cm("x", &[])).await.unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{err}");

        // Delete with a stale precondition conflicts; then deletes.
        let err = api
            .delete(
                "settings",
                &DeleteParams::default().if_resource_version("1"),
            )
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err}");
        match api
            .delete("settings", &DeleteParams::background())
            .await
            .unwrap()
        {
            DeleteResponse::Object(o) => assert_eq!(o.metadata.name.as_deref(), Some("settings")),
            DeleteResponse::Status(s) => assert_eq!(s.status.as_deref(), Some("Success")),
        }
        assert!(api.get("settings").await.unwrap_err().is_not_found());
        server.shutdown().await;
    });
}

#[test]
fn dynamic_api_status_subresource_and_delete_collection() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let c = client(&server);
        let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &pods());
        let pp = PostParams::default();
        for i in 0..5 {
            let tier = if i % 2 == 0 { "web" } else { "db" };
            api.create(&pp, &pod(&format!("p{i}"), json!({"tier": tier})))
                .await
                .unwrap();
        }
        let web = api
            .list(&ListParams::default().labels("tier=web"))
            .await
            .unwrap();
        assert_eq!(web.items.len(), 3);
        let one = api
            .list(&ListParams::default().fields("metadata.name=p1"))
            .await
            .unwrap();
        assert_eq!(one.items.len(), 1);
        let sel = informer::selector::LabelSelector::parse("tier in (db)").unwrap();
        assert_eq!(
            api.list(&ListParams::default().labels(&sel))
                .await
                .unwrap()
                .items
                .len(),
            2
        );

        // Status subresource.
        let mut p0 = api.get_status("p0").await.unwrap();
        p0.data["status"] = json!({"phase": "Running"});
        let updated = api.replace_status("p0", &pp, &p0).await.unwrap();
        assert_eq!(updated.data["status"]["phase"], "Running");
        let patched = api
            .patch_status(
                "p0",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
            )
            .await
            .unwrap();
        assert_eq!(patched.data["status"]["phase"], "Succeeded");

        // Cluster-scoped resource.
        let ns_api: Api<DynamicObject> = Api::all_with(
            c.clone(),
            &ApiResource::new("", "v1", "Namespace", "namespaces", false),
        );
        let ns: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
        )
        .unwrap();
        ns_api.create(&pp, &ns).await.unwrap();
        assert_eq!(
            ns_api.get("team-a").await.unwrap().metadata.name.as_deref(),
            Some("team-a")
        );

        // delete_collection by label.
        api.delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("tier=db"),
        )
        .await
        .unwrap();
        let left = api.list(&ListParams::default()).await.unwrap();
        assert_eq!(left.items.len(), 3);
        server.shutdown().await;
    });
}

#[test]
fn watch_events_bookmarks_and_expiry() {
    bounded(async {
        let server = ApiServer::builder()
            .bookmark_interval(Duration::from_millis(200))
            .start()
            .await
            .unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client(&server), "default", &pods());
        let pp = PostParams::default();
        let list = api.list(&ListParams::default()).await.unwrap();
        let rv = list.metadata.resource_version.clone().unwrap();
        let mut w = api
            .watch(&WatchParams::default().at(&rv).bookmarks(true).timeout(30))
            .await
            .unwrap();
        api.create(&pp, &pod("a", json!({}))).await.unwrap();
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
        api.delete("a", &DeleteParams::default()).await.unwrap();
        let mut seen = Vec::new();
        let mut bookmark = false;
        while seen.len() < 3 || !bookmark {
            match w.next().await.expect("event").expect("ok") {
                WatchEvent::Added(o) => seen.push(("ADDED", o.metadata.name.clone())),
                WatchEvent::Modified(o) => seen.push(("MODIFIED", o.metadata.name.clone())),
                WatchEvent::Deleted(o) => seen.push(("DELETED", o.metadata.name.clone())),
                WatchEvent::Bookmark(b) => {
                    assert!(!b.metadata.resource_version.is_empty());
                    bookmark = true;
                }
                WatchEvent::Error(s) => panic!("error event {s}"),
            }
        }
        assert_eq!(
            seen,
            [
                ("ADDED", Some("a".to_owned())),
                ("MODIFIED", Some("a".to_owned())),
                ("DELETED", Some("a".to_owned()))
            ]
        );
        // A clean server-side end ends the stream without error.
        server.faults().drop_watches();
        while let Some(ev) = w.next().await {
            ev.expect("clean end");
        }

        // Watching from a compacted resourceVersion: one ERROR item carrying 410 Expired.
        api.create(&pp, &pod("b", json!({}))).await.unwrap();
        server.faults().compact();
        let mut w = api.watch(&WatchParams::default().at(&rv)).await.unwrap();
        let err = w.next().await.expect("an item").unwrap_err();
        assert!(err.is_gone() && err.is_expired(), "{err}");
        assert!(w.next().await.is_none(), "the stream ends after an ERROR");

        // A malformed line is an error item and ends the stream.
        let now = server.resource_version().to_string();
        let mut w = api.watch(&WatchParams::default().at(&now)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.faults().malformed_line();
        api.create(&pp, &pod("c", json!({}))).await.unwrap();
        let mut got_error = false;
        while let Some(ev) = w.next().await {
            if let Err(e) = ev {
                assert!(matches!(e, Error::Decode { .. }), "{e}");
                got_error = true;
            }
        }
        assert!(got_error);
        server.shutdown().await;
    });
}

#[test]
fn streaming_initial_list_over_watch() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client(&server), "default", &pods());
        for n in ["b", "a"] {
            api.create(&PostParams::default(), &pod(n, json!({})))
                .await
                .unwrap();
        }
        let mut w = api
            .watch(&WatchParams::default().initial_events(true).bookmarks(true))
            .await
            .unwrap();
        let mut names = Vec::new();
        loop {
            match w.next().await.unwrap().unwrap() {
                WatchEvent::Added(o) => names.push(o.metadata.name.unwrap_or_default()),
                WatchEvent::Bookmark(b) if b.is_initial_events_end() => break,
                WatchEvent::Bookmark(_) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(names, ["a", "b"]);
        // The stream stays open for later events.
        api.create(&PostParams::default(), &pod("c", json!({})))
            .await
            .unwrap();
        assert!(matches!(
            w.next().await.unwrap().unwrap(),
            WatchEvent::Added(_)
        ));
        server.shutdown().await;
    });
}

#[test]
fn watch_of_a_large_object() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
        let big = "x".repeat(3 << 20);
        let mut w = api
            .watch(&WatchParams::default().at(server.resource_version().to_string()))
            .await
            .unwrap();
        api.create(&PostParams::default(), &cm("big", &[("blob", &big)]))
            .await
            .unwrap();
        match w.next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => assert_eq!(o.data["blob"].len(), big.len()),
            other => panic!("{other:?}"),
        }

        // The same object over a client whose event cap is 1 MiB.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.max_watch_event_size = 1 << 20;
        let small: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let mut w = small.watch(&WatchParams::default().at("1")).await.unwrap();
        let err = w.next().await.unwrap().unwrap_err();
        assert!(
            matches!(err, Error::EventTooLarge { limit } if limit == 1 << 20),
            "{err}"
        );
        server.shutdown().await;
    });
}

#[test]
fn https_with_the_kubeconfig_ca() {
    bounded(async {
        let server = ApiServer::builder().tls(true).start().await.unwrap();
        assert!(server.url().starts_with("https://"));
        let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
        api.create(&PostParams::default(), &cm("tls", &[]))
            .await
            .unwrap();
        assert_eq!(
            api.list(&ListParams::default()).await.unwrap().items.len(),
            1
        );
        let mut w = api
            .watch(&WatchParams::default().at(server.resource_version().to_string()))
            .await
            .unwrap();
        api.delete("tls", &DeleteParams::default()).await.unwrap();
        assert!(matches!(
            w.next().await.unwrap().unwrap(),
            WatchEvent::Deleted(_)
        ));
        server.shutdown().await;
    });
}

#[test]
fn https_with_a_wrong_ca_fails_and_says_so() {
    bounded(async {
        let server = ApiServer::builder().tls(true).start().await.unwrap();
        let other = ApiServer::builder().tls(true).start().await.unwrap();
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        // The other server's CA did not sign this server's certificate.
        config.tls.root_certificates = Some(other.ca_pem().unwrap().as_bytes().to_vec());
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(matches!(err, Error::Tls { .. }), "{err:?}");
        assert!(!err.is_connection_refused(), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("certificate authority"), "{msg}");

        // Plain config pointing at https without any CA: the platform store does not know
        // the test CA either.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.tls.root_certificates = None;
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(err.is_transport(), "{err:?}");

        // insecure-skip-tls-verify connects anyway.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.tls.root_certificates = None;
        config.tls.insecure_skip_verify = true;
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        api.list(&ListParams::default()).await.unwrap();

        // tls-server-name: the certificate is valid for "localhost", so verifying against
        // another name fails, and against "localhost" works.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.tls.server_name = Some("elsewhere.example.com".into());
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(err.to_string().contains("not valid for"), "{err}");
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.tls.server_name = Some("localhost".into());
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        api.list(&ListParams::default()).await.unwrap();
        server.shutdown().await;
        other.shutdown().await;
    });
}

#[test]
fn client_certificate_auth() {
    bounded(async {
        let server = ApiServer::builder()
            .client_certificates(true)
            .start()
            .await
            .unwrap();
        let list = |config: Config| async move {
            let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config)?, "default");
            api.list(&ListParams::default()).await
        };
        let kubeconfig = || Config::from_kubeconfig_file(server.kubeconfig()).unwrap();

        // The kubeconfig carries the certificate the server's CA issued: accepted.
        list(kubeconfig()).await.unwrap();

        // The same identity given in the config: accepted.
        let (cert, key) = server.client_identity().unwrap();
        let mut config = kubeconfig();
        config.tls.client_certificate = Some(cert.as_bytes().to_vec());
        config.tls.client_key = Some(key.as_bytes().to_vec().into());
        list(config).await.unwrap();

        // No certificate: the server refuses the handshake.
        let mut config = kubeconfig();
        config.tls.client_certificate = None;
        config.tls.client_key = None;
        let err = list(config).await.unwrap_err();
        assert!(
            matches!(err, Error::Tls { .. } | Error::Transport { .. }),
            "{err}"
        );

        // A certificate from another CA: refused too.
        let (other_cert, other_key) = client_identity();
        let mut config = kubeconfig();
        config.tls.client_certificate = Some(other_cert.into_bytes());
        config.tls.client_key = Some(other_key.into_bytes().into());
        let err = list(config).await.unwrap_err();
        assert!(
            matches!(err, Error::Tls { .. } | Error::Transport { .. }),
            "{err}"
        );
        server.shutdown().await;
    });
}

/// A self-signed client certificate and its key, PEM.
fn client_identity() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "system:admin");
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn client_certificate_is_loaded_and_offered() {
    bounded(async {
        // The server does not ask for a certificate, so this checks that a configured
        // identity loads and the handshake still completes with it.
        let server = ApiServer::builder().tls(true).start().await.unwrap();
        let (cert, key) = client_identity();
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.tls.client_certificate = Some(cert.clone().into_bytes());
        config.tls.client_key = Some(key.clone().into_bytes().into());
        assert!(!format!("{config:?}").contains(key.lines().nth(1).unwrap()));
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        api.list(&ListParams::default()).await.unwrap();

        // A key that does not belong to the certificate is refused up front.
        let (_, other_key) = client_identity();
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.tls.client_certificate = Some(cert.clone().into_bytes());
        config.tls.client_key = Some(other_key.into_bytes().into());
        let err = RestClient::new(config).unwrap_err();
        assert!(matches!(err, Error::Tls { .. }), "{err}");
        assert!(
            err.to_string().contains("client certificate and key"),
            "{err}"
        );

        // Garbage PEM and a certificate without a key say what is wrong.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.tls.client_certificate = Some(b"not pem".to_vec());
        config.tls.client_key = Some(key.into_bytes().into());
        let err = RestClient::new(config).unwrap_err();
        assert!(err.to_string().contains("client certificate"), "{err}");
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.tls.client_certificate = Some(cert.into_bytes());
        let err = RestClient::new(config).unwrap_err();
        assert!(err.to_string().contains("client-key"), "{err}");

        // A socks proxy is refused with a clear error.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.proxy_url = Some("socks5://127.0.0.1:1080".into());
        let err = RestClient::new(config).unwrap_err();
        assert!(err.to_string().contains("socks5"), "{err}");
        server.shutdown().await;
    });
}

#[test]
fn bearer_tokens() {
    bounded(async {
        let server = ApiServer::builder()
            .token("s3cr3t-token")
            .start()
            .await
            .unwrap();
        // The kubeconfig carries the token.
        let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
        api.list(&ListParams::default()).await.unwrap();

        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.auth.token = Some("wrong".to_owned().into());
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(err.is_unauthorized(), "{err}");
        assert!(!format!("{err:?}").contains("s3cr3t-token"));
        server.shutdown().await;
    });
}

#[test]
fn token_file_rotated_during_the_test() {
    bounded(async {
        let server = ApiServer::builder()
            .token("rotated-token")
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "old-token\n").unwrap();
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.auth.token = None;
        config.auth.token_file = Some(file.clone());
        config.token_refresh = Duration::from_millis(1500);
        config.rate_limit = None;
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        assert!(api
            .list(&ListParams::default())
            .await
            .unwrap_err()
            .is_unauthorized());
        // Rotate: the next request after the refresh interval uses the new token.
        std::fs::write(&file, "rotated-token\n").unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A 401 drops the cached token, so even before the interval the new one is read.
        api.list(&ListParams::default()).await.unwrap();
        // Rotate back to a bad token: within the interval the cached good token is used.
        std::fs::write(&file, "bad-again\n").unwrap();
        api.list(&ListParams::default()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert!(api
            .list(&ListParams::default())
            .await
            .unwrap_err()
            .is_unauthorized());
        server.shutdown().await;
    });
}

fn write_exec_plugin(dir: &Path, token: &str, ttl_secs: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let counter = dir.join("runs");
    let script = dir.join("plugin.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
echo run >> "{counter}"
case "$KUBERNETES_EXEC_INFO" in
  *'"interactive":false'*) ;;
  *) echo "missing KUBERNETES_EXEC_INFO" >&2; exit 3 ;;
esac
exp=$(date -u -d "+{ttl_secs} seconds" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+{ttl_secs}S +%Y-%m-%dT%H:%M:%SZ)
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s","expirationTimestamp":"%s"}}}}\n' "$PLUGIN_TOKEN" "$exp"
"#,
            counter = counter.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = token;
    script
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn exec_plugin_with_expiry() {
    bounded(async {
        let server = ApiServer::builder()
            .token("exec-token")
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let script = write_exec_plugin(dir.path(), "exec-token", 2);
        // A kubeconfig whose user is the plugin.
        let kubeconfig = dir.path().join("kubeconfig.yaml");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n\
                 users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n\
                 \x20     command: ./plugin.sh\n      interactiveMode: Never\n      env:\n      - name: PLUGIN_TOKEN\n\
                 \x20       value: exec-token\n\
                 contexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
                server.url()
            ),
        )
        .unwrap();
        let mut config = Config::from_kubeconfig_file(&kubeconfig).unwrap();
        assert_eq!(
            config.auth.exec.as_ref().unwrap().command,
            script.to_string_lossy()
        );
        config.rate_limit = None;
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let lp = ListParams::default();
        let (a, b) = tokio::join!(api.list(&lp), api.list(&lp));
        a.unwrap();
        b.unwrap();
        api.list(&ListParams::default()).await.unwrap();
        assert_eq!(
            runs(dir.path()),
            1,
            "the credential is cached until it expires"
        );
        tokio::time::sleep(Duration::from_millis(2600)).await;
        api.list(&ListParams::default()).await.unwrap();
        assert_eq!(
            runs(dir.path()),
            2,
            "an expired credential is fetched again"
        );

        // A failing plugin: the error quotes its standard error.
        let mut config = Config::from_kubeconfig_file(&kubeconfig).unwrap();
        let exec = config.auth.exec.as_mut().unwrap();
        exec.command = "/bin/sh".into();
        exec.args = vec!["-c".into(), "echo 'please log in first' >&2; exit 1".into()];
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(matches!(err, Error::Auth(_)), "{err}");
        assert!(err.to_string().contains("please log in first"), "{err}");
        server.shutdown().await;
    });
}

#[test]
fn exec_plugin_with_a_client_certificate() {
    bounded(async {
        // The server does not verify client certificates (see client_certificate_auth), so
        // this checks that the plugin's certificate is loaded into the TLS connections and
        // its token used with it.
        let server = ApiServer::builder()
            .tls(true)
            .token("cert-and-token")
            .start()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = client_identity();
        let cred = json!({
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "kind": "ExecCredential",
            "status": {"token": "cert-and-token", "clientCertificateData": cert, "clientKeyData": key}
        });
        let cred_file = dir.path().join("cred.json");
        std::fs::write(&cred_file, cred.to_string()).unwrap();
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.auth.token = None;
        config.auth.exec = Some(informer::client::ExecConfig {
            api_version: "client.authentication.k8s.io/v1beta1".into(),
            command: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                format!(
                    "echo run >> {}; cat {}",
                    dir.path().join("runs").display(),
                    cred_file.display()
                ),
            ],
            ..Default::default()
        });
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        api.list(&ListParams::default()).await.unwrap();
        api.list(&ListParams::default()).await.unwrap();
        assert_eq!(runs(dir.path()), 1);

        // A certificate without its key is refused with a clear error.
        let cred = json!({
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "kind": "ExecCredential",
            "status": {"clientCertificateData": "x"}
        });
        std::fs::write(&cred_file, cred.to_string()).unwrap();
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.auth.token = None;
        config.auth.exec = Some(informer::client::ExecConfig {
            api_version: "client.authentication.k8s.io/v1beta1".into(),
            command: "/bin/cat".into(),
            args: vec![cred_file.display().to_string()],
            ..Default::default()
        });
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(err.to_string().contains("clientKeyData"), "{err}");
        server.shutdown().await;
    });
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
        server.faults().fail_next(
            1,
            Some(Verb::List),
            "/configmaps",
            Failure::too_many_requests(1),
        );
        let start = Instant::now();
        api.list(&ListParams::default()).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(950),
            "{:?}",
            start.elapsed()
        );

        // A POST answered 429 is retried too: the server did not process it.
        server.faults().fail_next(
            1,
            Some(Verb::Create),
            "/configmaps",
            Failure::too_many_requests(1),
        );
        api.create(&PostParams::default(), &cm("after-429", &[]))
            .await
            .unwrap();

        // Without retries the error carries the delay.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.retry = RetryPolicy::none();
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        server.faults().fail_next(
            1,
            Some(Verb::List),
            "/configmaps",
            Failure::too_many_requests(7),
        );
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(err.is_too_many_requests(), "{err}");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        server.shutdown().await;
    });
}

#[test]
fn server_errors_are_retried_for_get_not_for_post() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
        api.create(&PostParams::default(), &cm("one", &[]))
            .await
            .unwrap();
        server
            .faults()
            .fail_next(2, Some(Verb::Get), "/configmaps/one", Failure::status(500));
        api.get("one").await.unwrap();
        server
            .faults()
            .fail_next(1, Some(Verb::List), "/configmaps", Failure::status(503));
        api.list(&ListParams::default()).await.unwrap();

        // Two failures queued for POST: the first create fails without retrying, so the
        // second failure is still there for the next create.
        server
            .faults()
            .fail_next(2, Some(Verb::Create), "/configmaps", Failure::status(500));
        let err = api
            .create(&PostParams::default(), &cm("two", &[]))
            .await
            .unwrap_err();
        assert!(err.is_internal_error(), "{err}");
        let err = api
            .create(&PostParams::default(), &cm("two", &[]))
            .await
            .unwrap_err();
        assert!(err.is_internal_error(), "{err}");
        api.create(&PostParams::default(), &cm("two", &[]))
            .await
            .unwrap();

        // Retries give up after max_retries.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.retry = RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(10),
            ..Default::default()
        };
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        server
            .faults()
            .fail_next(3, Some(Verb::Get), "/configmaps/one", Failure::status(503));
        assert!(api.get("one").await.unwrap_err().is_service_unavailable());
        server.shutdown().await;
    });
}

#[test]
fn error_reasons_from_the_server_map_to_helpers() {
    bounded(async {
        let server = ApiServer::builder()
            .too_large_resource_version_wait(Duration::from_millis(100))
            .start()
            .await
            .unwrap();
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.retry = RetryPolicy::none();
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        api.create(&PostParams::default(), &cm("x", &[]))
            .await
            .unwrap();

        let e = api.get("missing").await.unwrap_err();
        assert!(e.is_not_found() && !e.is_conflict());
        let e = api
            .create(&PostParams::default(), &cm("x", &[]))
            .await
            .unwrap_err();
        assert!(e.is_already_exists() && !e.is_conflict());
        let mut stale = api.get("x").await.unwrap();
        let mut changed = stale.clone();
        changed.data.insert("k".into(), "1".into());
        api.replace("x", &PostParams::default(), &changed)
            .await
            .unwrap();
        stale.data.insert("k".into(), "v".into());
        let e = api
            .replace("x", &PostParams::default(), &stale)
            .await
            .unwrap_err();
        assert!(e.is_conflict() && !e.is_already_exists());

        // A list at an exact, compacted resourceVersion: 410 Expired.
        api.create(&PostParams::default(), &cm("y", &[]))
            .await
            .unwrap();
        server.faults().compact();
        let e = api
            .list(
                &ListParams::default()
                    .at("1")
                    .matching(informer::client::ResourceVersionMatch::Exact),
            )
            .await
            .unwrap_err();
        assert!(e.is_gone() && e.is_expired(), "{e}");

        // A future resourceVersion: 504 with ResourceVersionTooLarge.
        let e = api
            .list(
                &ListParams::default()
                    .at("999999")
                    .matching(informer::client::ResourceVersionMatch::NotOlderThan),
            )
            .await
            .unwrap_err();
        assert!(e.is_too_large_resource_version() && e.is_timeout(), "{e}");

        for (code, check) in [
            (429u16, Error::is_too_many_requests as fn(&Error) -> bool),
            (500, Error::is_internal_error),
            (503, Error::is_service_unavailable),
            (401, Error::is_unauthorized),
            (404, Error::is_not_found),
            (409, Error::is_conflict),
            (504, Error::is_timeout),
            (400, Error::is_bad_request),
        ] {
            server
                .faults()
                .fail_next(1, Some(Verb::Get), "/configmaps/x", Failure::status(code));
            let e = api.get("x").await.unwrap_err();
            assert!(check(&e), "{code}: {e}");
            assert_eq!(e.code(), Some(code));
        }
        server.shutdown().await;
    });
}

#[test]
fn rate_limiter_holds_its_rate() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.rate_limit = Some(RateLimit {
            qps: 20.0,
            burst: 5,
        });
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let start = Instant::now();
        // 5 at once from the burst, then 20 more at 20 per second: at least ~1 s.
        let lp = ListParams::default();
        let calls = (0..25).map(|_| api.list(&lp));
        for r in futures::future::join_all(calls).await {
            r.unwrap();
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(950), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        server.shutdown().await;
    });
}

#[test]
fn discovery_of_the_embedded_server() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let d = Discovery::new(client(&server));
        let v = d.server_version().await.unwrap();
        assert_eq!(v.major, "1");
        let groups = d.groups().await.unwrap();
        assert_eq!(groups[0].name, "");
        assert!(groups.iter().any(|g| g.name == "apps"));
        let core = d.resources("", "v1").await.unwrap();
        let pods = core.iter().find(|r| r.api.plural == "pods").unwrap();
        assert!(pods.supports("watch"));
        assert!(pods.subresources.iter().any(|s| s == "status"));
        let deploy = d
            .resolve_gvk("apps", "v1", "Deployment")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deploy.plural, "deployments");
        assert!(deploy.namespaced);
        let node = d.resolve_gvr("", "v1", "nodes").await.unwrap().unwrap();
        assert!(!node.namespaced);
        assert!(d
            .resolve_gvk("example.com", "v1", "Widget")
            .await
            .unwrap()
            .is_none());

        // A resource registered later is found after the refresh a miss triggers.
        server.register(informer::testing::ResourceInfo::new(ApiResource::new(
            "example.com",
            "v1",
            "Widget",
            "widgets",
            true,
        )));
        let w = d
            .resolve_gvk("example.com", "v1", "Widget")
            .await
            .unwrap()
            .unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client(&server), "default", &w);
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 2}
        }))
        .unwrap();
        api.create(&PostParams::default(), &obj).await.unwrap();
        assert_eq!(api.get("w").await.unwrap().data["spec"]["size"], 2);
        server.shutdown().await;
    });
}

#[test]
fn list_watch_with_selectors_and_tweaks() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client(&server), "default", &pods());
        for (n, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
            api.create(&PostParams::default(), &pod(n, json!({"tier": tier})))
                .await
                .unwrap();
        }
        let lw = ListWatch::new(api.clone())
            .labels("tier=web")
            .tweak_list(|p| p.field_selector = Some("metadata.name!=c".into()));
        let list = lw.list(&ListParams::default()).await.unwrap();
        let names: Vec<_> = list
            .items
            .iter()
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        assert_eq!(names, ["a"]);
        let rv = list.metadata.resource_version.clone().unwrap();
        let mut w = lw.watch(&WatchParams::default().at(&rv)).await.unwrap();
        api.create(&PostParams::default(), &pod("d", json!({"tier": "db"})))
            .await
            .unwrap();
        api.create(&PostParams::default(), &pod("e", json!({"tier": "web"})))
            .await
            .unwrap();
        match w.next().await.unwrap().unwrap() {
            WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("e")),
            other => panic!("{other:?}"),
        }
        // Usable as a trait object.
        let dyn_lw: std::sync::Arc<dyn ListerWatcher<DynamicObject>> = std::sync::Arc::new(lw);
        assert_eq!(
            dyn_lw
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
            2
        );
        server.shutdown().await;
    });
}

/// Compacts the server's history after the first page, so that the continue token expires.
struct CompactAfterFirstPage {
    inner: ListWatch<Api<DynamicObject>>,
    server_faults: informer::testing::Faults,
    api: Api<DynamicObject>,
    calls: std::sync::Mutex<Vec<ListParams>>,
    late: &'static str,
}

impl ListerWatcher<DynamicObject> for CompactAfterFirstPage {
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> futures::future::BoxFuture<
        'a,
        informer::cache::ListWatchResult<informer::meta::ObjectList<DynamicObject>>,
    > {
        use futures::FutureExt;
        async move {
            let n = {
                let mut c = self.calls.lock().unwrap();
                c.push(params.clone());
                c.len()
            };
            let out = self.inner.list(params).await;
            if n == 1 {
                // A write moves the resourceVersion past the token's; then compact.
                self.api
                    .create(&PostParams::default(), &pod(self.late, json!({})))
                    .await
                    .unwrap();
                self.server_faults.compact();
            }
            out
        }
        .boxed()
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> futures::future::BoxFuture<
        'a,
        informer::cache::ListWatchResult<informer::cache::WatchStream<DynamicObject>>,
    > {
        self.inner.watch(params)
    }
}

#[test]
fn pager_lists_in_pages_and_falls_back_on_expired_token() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let api: Api<DynamicObject> = Api::namespaced_with(client(&server), "default", &pods());
        for i in 0..10 {
            api.create(&PostParams::default(), &pod(&format!("p{i:02}"), json!({})))
                .await
                .unwrap();
        }
        let lw = ListWatch::new(api.clone());
        let paged = ListPager::new(3)
            .list(&lw, &ListParams::default())
            .await
            .unwrap();
        assert!(paged.paginated);
        assert_eq!(paged.list.items.len(), 10);
        assert!(paged.list.metadata.continue_.is_none());
        assert!(paged.list.metadata.resource_version.is_some());
        let one = ListPager::new(50)
            .list(&lw, &ListParams::default())
            .await
            .unwrap();
        assert!(!one.paginated);
        assert_eq!(one.list.items.len(), 10);

        let tricky = CompactAfterFirstPage {
            inner: lw.clone(),
            server_faults: server.faults(),
            api: api.clone(),
            calls: Default::default(),
            late: "late",
        };
        let paged = ListPager::new(4)
            .list(&tricky, &ListParams::default())
            .await
            .unwrap();
        // The full list after the fallback includes the object created meanwhile.
        assert_eq!(paged.list.items.len(), 11);
        let calls = tricky.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(calls[0].limit, Some(4));
        assert!(calls[1].continue_token.is_some());
        assert_eq!(calls[2].limit, None);
        assert_eq!(calls[2].continue_token, None);

        // Without the fallback the 410 is returned.
        let tricky = CompactAfterFirstPage {
            inner: lw.clone(),
            server_faults: server.faults(),
            api: api.clone(),
            calls: Default::default(),
            late: "later",
        };
        let pager = ListPager {
            page_size: 4,
            full_list_if_expired: false,
        };
        let err = pager
            .list(&tricky, &ListParams::default())
            .await
            .unwrap_err();
        assert!(err.is_expired(), "{err}");
        server.shutdown().await;
    });
}

#[test]
fn user_agent_and_connection_errors() {
    bounded(async {
        // Nothing listens on this port once the server is gone.
        let server = ApiServer::start().await.unwrap();
        let config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        assert!(config.user_agent.starts_with("informer/"));
        server.shutdown().await;
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        let err = api.list(&ListParams::default()).await.unwrap_err();
        assert!(err.is_transport(), "{err:?}");
        assert!(err.is_connection_refused(), "{err:?}");
        assert!(err.to_string().contains("could not connect"), "{err}");
    });
}

#[test]
fn list_batched_decodes_while_the_answer_arrives() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
        let pad = "x".repeat(3_000);
        for i in 0..25 {
            api.create(
                &PostParams::default(),
                &cm(&format!("c{i:02}"), &[("pad", &pad)]),
            )
            .await
            .unwrap();
        }
        let whole = api.list(&ListParams::default()).await.unwrap();
        let mut batches = Vec::new();
        let mut names = Vec::new();
        let shell = api
            .list_batched(&ListParams::default(), 10, &mut |items: Vec<ConfigMap>| {
                batches.push(items.len());
                names.extend(
                    items
                        .into_iter()
                        .map(|c| c.metadata.name.unwrap_or_default()),
                );
            })
            .await
            .unwrap();
        assert_eq!(batches, [10, 10, 5]);
        let expected: Vec<_> = whole
            .items
            .iter()
            .map(|c| c.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, expected);
        assert!(shell.items.is_empty());
        assert_eq!(
            shell.metadata.resource_version,
            whole.metadata.resource_version
        );
        server.shutdown().await;
    });
}

#[test]
fn a_get_cut_off_by_a_restart_is_retried() {
    // client-go retries a GET whose connection broke: nothing was changed, and a
    // restarting server answers the next attempt.
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(client(&server), "default");
        server.faults().set_delay(Some(Duration::from_millis(500)));
        let list = tokio::spawn({
            let api = api.clone();
            async move { api.list(&ListParams::default()).await }
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        server.faults().set_delay(None);
        // The connection carrying the list is cut before the answer.
        server.faults().restart(false);
        let listed = list.await.expect("no panic");
        assert!(listed.is_ok(), "retried after the cut: {listed:?}");

        // Without retries, the error says the connection broke.
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).unwrap();
        config.retry = RetryPolicy::none();
        let api: Api<ConfigMap> = Api::namespaced(RestClient::new(config).unwrap(), "default");
        server.faults().set_delay(Some(Duration::from_millis(500)));
        let list = tokio::spawn(async move { api.list(&ListParams::default()).await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        server.faults().set_delay(None);
        server.faults().restart(false);
        let err = list.await.expect("no panic").unwrap_err();
        assert!(err.is_connection_broken(), "{err:?}");
        assert!(!err.is_connection_refused(), "{err:?}");
        server.shutdown().await;
    });
}
