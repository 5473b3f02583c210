//! The embedded API server driven by the real `kubectl` through the kubeconfig it writes.
//!
//! Skipped (with the reason printed) when `kubectl` is not on PATH, unless
//! `INFORMER_REQUIRE_KUBECTL=1`, which makes its absence a failure.

mod support;

use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use informer::meta::ApiResource;
use informer::testing::ApiServer;
use serde_json::{json, Value};
use support::{configmaps, pods};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether kubectl can run; panics when it cannot and it is required.
fn kubectl_available() -> bool {
    let found = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("INFORMER_REQUIRE_KUBECTL").as_deref() == Ok("1") {
            panic!("kubectl is not on PATH and INFORMER_REQUIRE_KUBECTL=1");
        }
        eprintln!(
            "skipping: kubectl is not on PATH (set INFORMER_REQUIRE_KUBECTL=1 to fail instead)"
        );
    }
    found
}

/// Runs `f` under [`TEST_TIMEOUT`], where kubectl is available.
fn bounded<F: Future<Output = ()>>(f: F) {
    if kubectl_available() {
        support::bounded_for(TEST_TIMEOUT, f);
    }
}

fn base_args(server: &ApiServer) -> Vec<String> {
    let dir = server.kubeconfig().parent().unwrap_or(Path::new("."));
    vec![
        "--kubeconfig".into(),
        server.kubeconfig().display().to_string(),
        "--cache-dir".into(),
        dir.join("cache").display().to_string(),
    ]
}

/// Runs kubectl; returns (success, stdout, stderr).
async fn kubectl(server: &ApiServer, args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        KUBECTL_TIMEOUT,
        Command::new("kubectl")
            .args(base_args(server))
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("kubectl finished in time")
    .expect("kubectl ran");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn kubectl_ok(server: &ApiServer, args: &[&str]) -> String {
    let (ok, out, err) = kubectl(server, args).await;
    assert!(ok, "kubectl {args:?} failed: {err}");
    out
}

async fn seeded() -> ApiServer {
    let server = ApiServer::start().await.expect("start");
    let ns = ApiResource::new("", "v1", "Namespace", "namespaces", false);
    server
        .create(&ns, json!({"metadata": {"name": "shop"}}))
        .expect("namespace");
    for (ns, name, app) in [
        ("default", "a", "web"),
        ("shop", "b", "db"),
        ("shop", "c", "web"),
    ] {
        server
            .create(
                &pods(),
                json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
                       "spec": {"containers": [{"name": "c", "image": "example.com/app:1"}]}}),
            )
            .expect("pod");
    }
    server
}

#[test]
fn kubectl_get_matches_server_state() {
    bounded(async {
        let server = seeded().await;
        let out = kubectl_ok(
            &server,
            &["get", "pods", "-A", "-o", "json", "--show-managed-fields"],
        )
        .await;
        let list: Value = serde_json::from_str(&out).expect("JSON");
        let items = list["items"].as_array().expect("items").clone();
        let state = server.list(&pods(), None).expect("list");
        assert_eq!(items, state);

        let out = kubectl_ok(&server, &["get", "pod", "b", "-n", "shop"]).await;
        assert!(out.lines().any(|l| l.starts_with("b ")), "{out}");
        let (ok, _, err) = kubectl(&server, &["get", "pod", "missing", "-n", "shop"]).await;
        assert!(!ok);
        assert!(err.contains("pods \"missing\" not found"), "{err}");

        let out = kubectl_ok(
            &server,
            &["get", "pods", "-n", "shop", "-l", "app=web", "-o", "name"],
        )
        .await;
        assert_eq!(out.trim(), "pod/c");
        server.shutdown().await;
    });
}

async fn next(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(KUBECTL_TIMEOUT, lines.next_line())
        .await
        .expect("a line in time")
        .expect("readable")
        .expect("a line")
}

#[test]
fn kubectl_watch_sees_changes() {
    bounded(async {
        let server = seeded().await;
        let mut child = Command::new("kubectl")
            .args(base_args(&server))
            .args(["get", "pods", "-n", "shop", "-w", "-o", "name"])
            .env_remove("KUBECONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl ran");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut initial = vec![next(&mut lines).await, next(&mut lines).await];
        initial.sort();
        assert_eq!(initial, ["pod/b", "pod/c"], "the initial list");
        while server.watch_count() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server
            .create(
                &pods(),
                json!({"metadata": {"name": "d", "namespace": "shop"}}),
            )
            .expect("create");
        assert_eq!(next(&mut lines).await, "pod/d", "the new pod");
        server.delete(&pods(), Some("shop"), "b").expect("delete");
        assert_eq!(next(&mut lines).await, "pod/b", "the deleted pod");
        child.kill().await.expect("kill kubectl");
        server.shutdown().await;
    });
}

#[test]
fn kubectl_writes() {
    bounded(async {
        let server = seeded().await;
        let dir = server.kubeconfig().parent().expect("dir").to_owned();
        let manifest = dir.join("cm.json");
        std::fs::write(
            &manifest,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "settings", "namespace": "shop"},
                   "data": {"level": "info"}})
            .to_string(),
        )
        .expect("manifest");
        let manifest = manifest.display().to_string();
        let out = kubectl_ok(&server, &["create", "-f", &manifest, "--validate=false"]).await;
        assert!(out.contains("configmap/settings created"), "{out}");
        let (ok, _, err) = kubectl(&server, &["create", "-f", &manifest, "--validate=false"]).await;
        assert!(!ok && err.contains("already exists"), "{err}");

        kubectl_ok(
            &server,
            &["label", "pod", "b", "-n", "shop", "tier=backend"],
        )
        .await;
        kubectl_ok(
            &server,
            &["annotate", "pod", "b", "-n", "shop", "note=hello"],
        )
        .await;
        kubectl_ok(&server, &["label", "pod", "b", "-n", "shop", "app-"]).await;
        let b = server.get(&pods(), Some("shop"), "b").expect("get");
        assert_eq!(b["metadata"]["labels"], json!({"tier": "backend"}));
        assert_eq!(b["metadata"]["annotations"]["note"], "hello");

        let out = kubectl_ok(&server, &["delete", "pod", "c", "-n", "shop"]).await;
        assert!(out.contains("pod \"c\" deleted"), "{out}");
        assert!(server.get(&pods(), Some("shop"), "c").is_err());
        kubectl_ok(&server, &["delete", "configmap", "settings", "-n", "shop"]).await;
        server.shutdown().await;
    });
}

#[test]
fn kubectl_server_dry_run_and_diff_change_nothing() {
    bounded(async {
        let server = seeded().await;
        let dir = server.kubeconfig().parent().expect("dir").to_owned();
        let manifest = dir.join("dry.json");
        let write = |level: &str| {
            std::fs::write(
                &manifest,
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "settings", "namespace": "shop"},
                       "data": {"level": level}})
                .to_string(),
            )
            .expect("manifest");
        };
        write("info");
        let path = manifest.display().to_string();
        let rv = server.resource_version();
        let out = kubectl_ok(
            &server,
            &[
                "create",
                "-f",
                &path,
                "--validate=false",
                "--dry-run=server",
            ],
        )
        .await;
        assert!(out.contains("(server dry run)"), "{out}");
        assert!(server.get(&configmaps(), Some("shop"), "settings").is_err());
        kubectl_ok(
            &server,
            &[
                "label",
                "pod",
                "b",
                "-n",
                "shop",
                "tier=x",
                "--dry-run=server",
            ],
        )
        .await;
        kubectl_ok(
            &server,
            &["delete", "pod", "b", "-n", "shop", "--dry-run=server"],
        )
        .await;
        assert_eq!(server.resource_version(), rv, "dry runs store nothing");
        let b = server.get(&pods(), Some("shop"), "b").expect("still there");
        assert_eq!(b["metadata"]["labels"], json!({"app": "db"}));

        kubectl_ok(&server, &["create", "-f", &path, "--validate=false"]).await;
        let before = server
            .get(&configmaps(), Some("shop"), "settings")
            .expect("created");
        write("debug");
        // `kubectl diff` exits 1 when it finds differences.
        let (ok, out, err) = kubectl(&server, &["diff", "-f", &path]).await;
        assert!(!ok && err.is_empty(), "diff failed: {err}");
        assert!(
            out.contains("-  level: info") && out.contains("+  level: debug"),
            "{out}"
        );
        let after = server
            .get(&configmaps(), Some("shop"), "settings")
            .expect("still there");
        assert_eq!(before, after, "diff changed nothing");
        server.shutdown().await;
    });
}

#[test]
fn kubectl_discovery_and_raw() {
    bounded(async {
        let server = ApiServer::builder()
            .history_limit(2)
            .start()
            .await
            .expect("start");
        let out = kubectl_ok(&server, &["api-resources"]).await;
        for line in ["pods", "deployments", "leases", "configmaps"] {
            assert!(out.lines().any(|l| l.starts_with(line)), "{line} in {out}");
        }
        let out = kubectl_ok(&server, &["get", "--raw", "/apis/apps/v1"]).await;
        let v: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(v["groupVersion"], "apps/v1");

        for n in ["a", "b", "c"] {
            server
                .create(
                    &pods(),
                    json!({"metadata": {"name": n, "namespace": "default"}}),
                )
                .expect("create");
        }
        let out = kubectl_ok(
            &server,
            &["get", "--raw", "/api/v1/pods?watch=1&resourceVersion=1"],
        )
        .await;
        let oldest = server.resource_version() - 2;
        assert_eq!(
            out.trim(),
            format!(
                "{{\"type\":\"ERROR\",\"object\":{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\
                 \"status\":\"Failure\",\"message\":\"too old resource version: 1 ({oldest})\",\
                 \"reason\":\"Expired\",\"code\":410}}}}"
            )
        );
        server.shutdown().await;
    });
}

#[test]
fn kubectl_over_tls_with_a_token() {
    bounded(async {
        let server = ApiServer::builder()
            .tls(true)
            .token("kubectl-token")
            .start()
            .await
            .expect("start");
        let out = kubectl_ok(&server, &["get", "namespaces", "-o", "name"]).await;
        assert!(out.contains("namespace/default"), "{out}");
        let (ok, _, err) = kubectl(&server, &["get", "pods", "--token", "wrong"]).await;
        assert!(!ok);
        assert!(
            err.contains("Unauthorized") || err.contains("unauthorized"),
            "{err}"
        );
        server.shutdown().await;
    });
}

#[test]
fn kubectl_with_a_client_certificate() {
    bounded(async {
        let server = ApiServer::builder()
            .client_certificates(true)
            .start()
            .await
            .expect("start");
        // The kubeconfig carries the certificate the server's CA issued.
        let out = kubectl_ok(&server, &["get", "namespaces", "-o", "name"]).await;
        assert!(out.contains("namespace/default"), "{out}");
        server.shutdown().await;
    });
}

#[test]
fn kubectl_describe_lists_the_recorders_events() {
    use informer::events::{EventType, NewEvent, ObjectReference, Recorder};
    use informer::meta::DynamicObject;
    bounded(async {
        let server = seeded().await;
        let pod = server.get(&pods(), Some("shop"), "b").expect("pod");
        let pod: DynamicObject = serde_json::from_value(pod).expect("decode");
        let recorder = Recorder::new(support::client(&server), "example.com/describe-test");
        let event = |type_, reason: &str, message: &str| NewEvent {
            type_,
            reason: reason.to_owned(),
            message: message.to_owned(),
            action: None,
            related: None,
        };
        let about = ObjectReference::for_resource(&pod, &pods());
        for _ in 0..2 {
            recorder.publish(
                about.clone(),
                event(EventType::Warning, "BackOff", "restarting failed container"),
            );
        }
        recorder.publish(
            about,
            event(EventType::Normal, "Pulled", "image already present"),
        );
        // An event about another pod must not show.
        let other = server.get(&pods(), Some("shop"), "c").expect("pod");
        let other: DynamicObject = serde_json::from_value(other).expect("decode");
        recorder.publish(
            ObjectReference::for_resource(&other, &pods()),
            event(EventType::Normal, "Elsewhere", "about pod c"),
        );
        recorder.flush().await;

        let out = kubectl_ok(&server, &["describe", "pod", "b", "-n", "shop"]).await;
        let events = out
            .split("Events:")
            .nth(1)
            .unwrap_or_else(|| panic!("no events in:\n{out}"));
        let backoff = events
            .lines()
            .find(|l| l.contains("BackOff"))
            .unwrap_or_else(|| panic!("no BackOff in:\n{out}"));
        assert!(backoff.contains("Warning"), "{backoff}");
        assert!(backoff.contains("(x2 over"), "{backoff}");
        assert!(backoff.contains("example.com/describe-test"), "{backoff}");
        assert!(backoff.contains("restarting failed container"), "{backoff}");
        assert!(
            events.contains("Pulled") && events.contains("image already present"),
            "{out}"
        );
        assert!(!events.contains("Elsewhere"), "{out}");
        server.shutdown().await;
    });
}

/// A derived type for the definition test.
#[derive(
    Clone,
    Debug,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    informer::meta::Resource,
)]
#[resource(
    group = "example.com",
    version = "v1",
    kind = "Gizmo",
    namespaced,
    shortname = "gz",
    schema
)]
struct Gizmo {
    #[serde(default)]
    metadata: informer::meta::ObjectMeta,
    spec: GizmoSpec,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct GizmoSpec {
    size: i32,
}

#[test]
fn kubectl_applies_a_derived_definition_and_serves_the_resource() {
    use informer::meta::CustomResource;
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let dir = server
            .kubeconfig()
            .parent()
            .unwrap_or(Path::new("."))
            .to_owned();
        let file = dir.join("gizmo-crd.yaml");
        std::fs::write(&file, Gizmo::crd().to_yaml()).expect("write definition");
        let file = file.display().to_string();
        kubectl_ok(&server, &["apply", "--validate=false", "-f", &file]).await;
        let gizmo = dir.join("gizmo.yaml");
        std::fs::write(
            &gizmo,
            "apiVersion: example.com/v1\nkind: Gizmo\nmetadata:\n  name: g1\n  namespace: default\nspec:\n  size: 4\n",
        )
        .expect("write gizmo");
        let gizmo = gizmo.display().to_string();
        kubectl_ok(&server, &["apply", "--validate=false", "-f", &gizmo]).await;
        let out = kubectl_ok(&server, &["get", "gz", "-n", "default", "-o", "name"]).await;
        assert_eq!(out.trim(), "gizmo.example.com/g1");
        let g = server
            .get(
                &<Gizmo as informer::meta::Resource>::api_resource(),
                Some("default"),
                "g1",
            )
            .expect("stored");
        assert_eq!(g["spec"]["size"], 4);
        server.shutdown().await;
    });
}

#[test]
fn kubectl_scale_writes_the_deployments_replicas() {
    bounded(async {
        let server = seeded().await;
        let deployments = ApiResource::new("apps", "v1", "Deployment", "deployments", true);
        server
            .create(
                &deployments,
                json!({"metadata": {"name": "web", "namespace": "shop"},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                                "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [{"name": "c", "image": "example.com/app:1"}]}}}}),
            )
            .expect("deployment");
        kubectl_ok(
            &server,
            &["scale", "deployment", "web", "-n", "shop", "--replicas=4"],
        )
        .await;
        let stored = server.get(&deployments, Some("shop"), "web").expect("get");
        assert_eq!(stored["spec"]["replicas"], 4);
        // With a precondition that holds.
        kubectl_ok(
            &server,
            &[
                "scale",
                "deployment",
                "web",
                "-n",
                "shop",
                "--current-replicas=4",
                "--replicas=2",
            ],
        )
        .await;
        let stored = server.get(&deployments, Some("shop"), "web").expect("get");
        assert_eq!(stored["spec"]["replicas"], 2);
        server.shutdown().await;
    });
}

#[test]
fn kubectl_server_side_apply_conflicts_and_forces() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let dir = server
            .kubeconfig()
            .parent()
            .unwrap_or(Path::new("."))
            .to_owned();
        let write = |file: &str, value: &str| {
            let path = dir.join(file);
            std::fs::write(
                &path,
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  mode: {value}\n"
                ),
            )
            .expect("write manifest");
            path.display().to_string()
        };
        let first = write("first.yaml", "fast");
        let out = kubectl_ok(
            &server,
            &["apply", "--server-side", "--validate=false", "-f", &first],
        )
        .await;
        assert!(
            out.contains("configmap/settings serverside-applied"),
            "{out}"
        );
        let cm = server
            .get(&configmaps(), Some("default"), "settings")
            .expect("stored");
        assert_eq!(cm["data"]["mode"], "fast");
        assert_eq!(cm["metadata"]["managedFields"][0]["manager"], "kubectl");
        assert_eq!(cm["metadata"]["managedFields"][0]["operation"], "Apply");

        let second = write("second.yaml", "safe");
        let args = [
            "apply",
            "--server-side",
            "--validate=false",
            "--field-manager=other",
            "-f",
            &second,
        ];
        let (ok, _, err) = kubectl(&server, &args).await;
        assert!(!ok, "a conflicting apply must fail");
        assert!(err.contains("conflict"), "{err}");
        assert!(err.contains(".data.mode"), "{err}");

        let mut forced = args.to_vec();
        forced.insert(2, "--force-conflicts");
        kubectl_ok(&server, &forced).await;
        let cm = server
            .get(&configmaps(), Some("default"), "settings")
            .expect("stored");
        assert_eq!(cm["data"]["mode"], "safe");
        let managers: Vec<&str> = cm["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["manager"].as_str())
            .collect();
        assert_eq!(managers, ["other"], "{cm}");
        server.shutdown().await;
    });
}
