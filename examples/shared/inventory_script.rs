//! The scripted scenario shared by `examples/controller.rs` (this crate's runtime) and
//! `examples/controller_kube_runtime.rs` (the same controller on kube-runtime), so that
//! both are checked by the same changes: the seed, the steps, and convergence.
//!
//! The controller under test keeps, for every Deployment, a ConfigMap
//! `<deployment>-replicasets` whose data maps the name of each ReplicaSet the Deployment
//! controls to its `spec.replicas`, owned by the Deployment; it deletes the ConfigMap when
//! the Deployment goes, and restores it when someone deletes it by hand.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use informer::meta::ApiResource;
use informer::testing::{ApiServer, Failure, Verb};
use serde_json::{json, Value};

/// Boxed error of the examples.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long each step may take to converge.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server must stay right before a step counts as converged.
pub const SETTLE: Duration = Duration::from_millis(150);

pub fn namespaces() -> ApiResource {
    ApiResource::new("", "v1", "Namespace", "namespaces", false)
}

pub fn deployments() -> ApiResource {
    ApiResource::new("apps", "v1", "Deployment", "deployments", true)
}

pub fn replicasets() -> ApiResource {
    ApiResource::new("apps", "v1", "ReplicaSet", "replicasets", true)
}

pub fn configmaps() -> ApiResource {
    ApiResource::new("", "v1", "ConfigMap", "configmaps", true)
}

fn deployment(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
        },
    })
}

/// A ReplicaSet, controlled by the Deployment `owner` (name, uid) if given.
fn replicaset(namespace: &str, name: &str, owner: Option<(&str, &str)>, replicas: i64) -> Value {
    let app = owner.map_or(name, |(deployment, _)| deployment);
    let mut rs = json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": app, "image": "nginx:1.27"}]},
            },
        },
    });
    if let Some((deployment, uid)) = owner {
        rs["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment,
            "uid": uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }]);
    }
    rs
}

/// The ConfigMaps the server should end up with: `namespace/name` → data.
type Want = BTreeMap<String, BTreeMap<String, String>>;

fn want_entry(want: &mut Want, key: &str, replicasets: &[(&str, i64)]) {
    let data = replicasets
        .iter()
        .map(|(name, replicas)| ((*name).to_owned(), replicas.to_string()))
        .collect();
    want.insert(key.to_owned(), data);
}

/// The ConfigMaps on the server, as [`Want`].
fn have(server: &ApiServer) -> Result<Want, BoxError> {
    let mut have = Want::new();
    for cm in server.list(&configmaps(), None)? {
        let key = format!(
            "{}/{}",
            cm["metadata"]["namespace"].as_str().unwrap_or_default(),
            cm["metadata"]["name"].as_str().unwrap_or_default()
        );
        let data = serde_json::from_value(cm["data"].clone()).unwrap_or_default();
        have.insert(key, data);
    }
    Ok(have)
}

/// `name=replicas` pairs, for printing.
pub fn summary(data: &BTreeMap<String, String>) -> String {
    if data.is_empty() {
        return "(no ReplicaSets)".to_owned();
    }
    let pairs: Vec<String> = data.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(" ")
}

/// Waits until the server holds exactly the ConfigMaps `want`, has held them for
/// [`SETTLE`], and `idle` says the controller has nothing left to do.
async fn converge(
    server: &ApiServer,
    idle: &(dyn Fn() -> bool + Sync),
    step: &str,
    want: &Want,
) -> Result<(), BoxError> {
    let started = Instant::now();
    let mut right_since: Option<Instant> = None;
    loop {
        let have = have(server)?;
        if &have == want && idle() {
            let since = *right_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= SETTLE {
                println!("  converged in {} ms", started.elapsed().as_millis());
                return Ok(());
            }
        } else {
            right_since = None;
        }
        if started.elapsed() > CONVERGE_TIMEOUT {
            return Err(format!(
                "{step}: no convergence within {CONVERGE_TIMEOUT:?}\n  want {want:?}\n  have {have:?}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn create_deployment(server: &ApiServer, namespace: &str, name: &str) -> Result<String, BoxError> {
    let created = server.create(&deployments(), deployment(namespace, name))?;
    let uid = created["metadata"]["uid"].as_str().ok_or("no uid")?;
    Ok(uid.to_owned())
}

/// Namespaces, Deployments and ReplicaSets (and one ReplicaSet no Deployment controls).
pub fn seed(server: &ApiServer) -> Result<(), BoxError> {
    for namespace in ["shop", "blog"] {
        server.create(&namespaces(), json!({"metadata": {"name": namespace}}))?;
    }
    let rs = replicasets();
    let shop_web = create_deployment(server, "shop", "web")?;
    let shop_api = create_deployment(server, "shop", "api")?;
    let blog_web = create_deployment(server, "blog", "web")?;
    let owned = [
        ("shop", "web-6f7d8c9b5", ("web", &shop_web), 0),
        ("shop", "web-7b9c5d4f8", ("web", &shop_web), 3),
        ("shop", "api-5c8d7f6b9", ("api", &shop_api), 2),
        ("blog", "web-9d4b6c7f5", ("web", &blog_web), 1),
    ];
    for (namespace, name, (deployment, uid), replicas) in owned {
        server.create(
            &rs,
            replicaset(namespace, name, Some((deployment, uid)), replicas),
        )?;
    }
    server.create(&rs, replicaset("shop", "cron-4f5b6c7d8", None, 1))?;
    Ok(())
}

/// Plays the changes against a running controller and checks after each that it
/// converged: the initial state, an added child, a ConfigMap deleted by hand while the
/// server fails writes, a deleted primary, and a deletion missed during a watch outage.
pub async fn script(server: &ApiServer, idle: &(dyn Fn() -> bool + Sync)) -> Result<(), BoxError> {
    let rs = replicasets();
    let mut want = Want::new();

    println!("== initial state: Deployments shop/web, shop/api, blog/web and their ReplicaSets");
    want_entry(
        &mut want,
        "shop/web-replicasets",
        &[("web-6f7d8c9b5", 0), ("web-7b9c5d4f8", 3)],
    );
    want_entry(&mut want, "shop/api-replicasets", &[("api-5c8d7f6b9", 2)]);
    want_entry(&mut want, "blog/web-replicasets", &[("web-9d4b6c7f5", 1)]);
    converge(server, idle, "initial state", &want).await?;

    let uid = server.get(&deployments(), Some("shop"), "web")?["metadata"]["uid"]
        .as_str()
        .ok_or("no uid")?
        .to_owned();
    println!("== roll out shop/web: a new ReplicaSet, the current one scaled down");
    server.create(
        &rs,
        replicaset("shop", "web-8c5f9d6b7", Some(("web", &uid)), 1),
    )?;
    let mut current = server.get(&rs, Some("shop"), "web-7b9c5d4f8")?;
    current["spec"]["replicas"] = json!(2);
    server.replace(&rs, current)?;
    want_entry(
        &mut want,
        "shop/web-replicasets",
        &[
            ("web-6f7d8c9b5", 0),
            ("web-7b9c5d4f8", 2),
            ("web-8c5f9d6b7", 1),
        ],
    );
    converge(server, idle, "rollout", &want).await?;

    println!("== someone deletes shop/api-replicasets; the server fails the next 3 creates (500)");
    let faults = server.faults();
    faults.fail_next(3, Some(Verb::Create), "/configmaps", Failure::status(500));
    server.delete(&configmaps(), Some("shop"), "api-replicasets")?;
    converge(server, idle, "ConfigMap deleted by hand", &want).await?;

    // Its ReplicaSet stays: deleting it is the garbage collector's job.
    println!("== delete Deployment blog/web");
    server.delete(&deployments(), Some("blog"), "web")?;
    want.remove("blog/web-replicasets");
    converge(server, idle, "Deployment deleted", &want).await?;

    println!("== every watch breaks; shop/web-6f7d8c9b5 is deleted meanwhile");
    // The ReplicaSet watch's next attempt fails with 410 Gone, so the informer relists
    // and finds the ReplicaSet gone: a deletion it never saw as an event.
    faults.fail_next(1, Some(Verb::Watch), "/replicasets", Failure::status(410));
    faults.drop_watches();
    server.delete(&rs, Some("shop"), "web-6f7d8c9b5")?;
    want_entry(
        &mut want,
        "shop/web-replicasets",
        &[("web-7b9c5d4f8", 2), ("web-8c5f9d6b7", 1)],
    );
    converge(server, idle, "missed deletion", &want).await?;
    Ok(())
}

/// Prints the ConfigMaps on the server.
pub fn print_configmaps(server: &ApiServer) -> Result<(), BoxError> {
    println!("== ConfigMaps on the server");
    for (key, data) in have(server)? {
        println!("  {key}: {}", summary(&data));
    }
    Ok(())
}

/// An example's `main`: starts the embedded server, seeds it, runs `run` (the controller
/// through the script), prints the ConfigMaps, and exits with 1 if a step did not converge.
pub async fn demo<F>(run: F) -> Result<(), BoxError>
where
    F: for<'a> Fn(&'a ApiServer) -> futures::future::BoxFuture<'a, Result<(), BoxError>>,
{
    let server = ApiServer::start().await?;
    seed(&server)?;
    println!("embedded API server at {}", server.url());
    let result = run(&server).await;
    print_configmaps(&server)?;
    server.shutdown().await;
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    Ok(())
}
