//! A small controller on this crate's reconcile runtime, against the embedded API server.
//!
//! For every Deployment it keeps a ConfigMap `<deployment>-replicasets` whose data lists
//! the ReplicaSets the Deployment controls (name → `spec.replicas`), with an
//! ownerReference back to the Deployment. It deletes the ConfigMap when the Deployment
//! goes, and restores it when someone edits or deletes it by hand.
//!
//! ```text
//! informers (Deployments, ReplicaSets, ConfigMaps; one SharedInformerFactory)
//!   → runtime::Controller: Deployment events, and ReplicaSet and ConfigMap events mapped
//!     to their controlling Deployment (`owns`), become Deployment keys in a WorkQueue
//!   → workers: reconcile(key, the Deployment from the cache or None once it is gone)
//!     reads only listers and an index (never the API) and writes through `Api`
//!   → errors retry with client-go's backoff; a success forgets the key's failures
//! ```
//!
//! The same controller written with kube-runtime is `examples/controller_kube_runtime.rs`;
//! both are run through the same script (`examples/shared/inventory_script.rs`: a rollout,
//! a ConfigMap deleted by hand while the server fails writes, a deleted Deployment, a
//! deletion the informer misses during a watch outage), and `tests/controller_peer.rs`
//! runs both and compares their lines of controller logic.
//!
//! ```sh
//! cargo run --example controller
//! ```
//! It takes a few seconds and exits with 0 when every step converged, 1 otherwise.

#[path = "shared/inventory_script.rs"]
mod script;

use std::collections::BTreeMap;
use std::sync::Arc;

use informer::cache::{Indexer, Indexers, Lister, SharedInformerFactory};
use informer::client::{Api, Config, DeleteParams, PostParams, RestClient};
use informer::meta::{DynamicObject, Object};
use informer::runtime::{controller_owner_key, Action, Controller, ObjectKey, Retry};
use informer::testing::ApiServer;
use script::{configmaps, deployments, replicasets, BoxError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

// --- controller logic (tests/controller_peer.rs counts the lines from here) ---

/// The ReplicaSet index: the uid of the controlling Deployment.
const CONTROLLER_UID: &str = "controllerUID";

/// What `reconcile` reads and writes through.
pub struct Ctx {
    client: RestClient,
    replicasets: Indexer<DynamicObject>,
    configmaps: Lister<DynamicObject>,
}

/// The informers from `factory`, the ReplicaSet index, and the controller over them.
pub fn controller(
    factory: &SharedInformerFactory<RestClient>,
) -> Result<(Controller<DynamicObject>, Ctx), BoxError> {
    let replicaset_informer = factory.dynamic_informer(&replicasets());
    replicaset_informer.add_indexers(
        Indexers::new().with(CONTROLLER_UID, |rs: &DynamicObject| {
            owner_uid(rs).into_iter().collect()
        }),
    )?;
    let configmap_informer = factory.dynamic_informer(&configmaps());
    let ctx = Ctx {
        client: factory.client().clone(),
        replicasets: replicaset_informer.get_indexer(),
        configmaps: configmap_informer.lister()?,
    };
    let controller =
        Controller::for_resource(factory.dynamic_informer(&deployments()), &deployments())
            .owns(replicaset_informer)
            .owns(configmap_informer)
            .workers(2);
    Ok((controller, ctx))
}

/// The uid of the Deployment that controls `obj`.
fn owner_uid(obj: &DynamicObject) -> Option<String> {
    let owner = obj
        .owner_references()
        .into_iter()
        .find(|r| r.controller == Some(true));
    owner.filter(|r| r.kind == "Deployment").map(|r| r.uid)
}

/// Brings the ConfigMap of Deployment `key` in line with the caches.
pub async fn reconcile(
    ctx: Arc<Ctx>,
    key: ObjectKey,
    deployment: Option<Arc<DynamicObject>>,
) -> Result<Action, BoxError> {
    let namespace = key
        .namespace
        .as_deref()
        .ok_or("a Deployment key has a namespace")?;
    let name = format!("{}-replicasets", key.name);
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), namespace, &configmaps());
    let existing = ctx.configmaps.namespace(namespace).get(&name);
    let params = PostParams {
        field_manager: Some("replicaset-inventory".into()),
        ..Default::default()
    };
    let Some(deployment) = deployment.filter(|d| d.deletion_timestamp().is_none()) else {
        // Gone (also when its deletion was missed): delete the ConfigMap it controlled.
        let ours = existing
            .filter(|cm| controller_owner_key(&**cm, &deployments()).as_ref() == Some(&key));
        if let Some(uid) = ours.as_ref().and_then(|cm| cm.uid()) {
            match api
                .delete(&name, &DeleteParams::default().if_uid(uid))
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => println!("  controller: deleted {namespace}/{name}"),
            }
        }
        return Ok(Action::Done);
    };
    let uid = deployment.uid().ok_or("the Deployment has no uid")?;
    let desired: BTreeMap<String, String> = (ctx.replicasets.by_index(CONTROLLER_UID, uid)?.iter())
        .filter_map(|rs| {
            Some((
                rs.name()?.to_owned(),
                rs.data["spec"]["replicas"]
                    .as_i64()
                    .unwrap_or(1)
                    .to_string(),
            ))
        })
        .collect();
    match existing {
        None => {
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": desired, "metadata": {
                "name": name, "namespace": namespace, "ownerReferences": [{"apiVersion": "apps/v1",
                "kind": "Deployment", "name": key.name, "uid": uid, "controller": true}]}});
            api.create(&params, &serde_json::from_value(cm)?).await?;
            println!(
                "  controller: created {namespace}/{name}: {}",
                script::summary(&desired)
            );
        }
        // Someone else's ConfigMap of that name: never take it over.
        Some(cm) if owner_uid(&cm).as_deref() != Some(uid) => {
            println!("  controller: {namespace}/{name} is not ours")
        }
        Some(cm) if cm.data["data"] == json!(desired) => {}
        Some(cm) => {
            // Cached objects are shared: change a copy. Its resourceVersion makes the
            // write fail with 409 Conflict if the cache was behind; the error retries.
            let mut updated = (*cm).clone();
            updated.data["data"] = json!(desired);
            api.replace(&name, &params, &updated).await?;
            println!(
                "  controller: updated {namespace}/{name}: {}",
                script::summary(&desired)
            );
        }
    }
    Ok(Action::Done)
}

/// Runs the controller until `stop`, retrying failures with the default backoff.
pub async fn run(
    factory: &SharedInformerFactory<RestClient>,
    controller: &Controller<DynamicObject>,
    ctx: Ctx,
    stop: CancellationToken,
) -> Result<(), BoxError> {
    factory.start(&stop);
    let ctx = Arc::new(ctx);
    let reconcile = move |key, deployment| reconcile(ctx.clone(), key, deployment);
    let error_policy = |key: &ObjectKey, e: &BoxError, retries| {
        println!("  controller: {key}: {e} (retry {})", retries + 1);
        Retry::Backoff
    };
    Ok(controller.run(reconcile, error_policy, stop).await?)
}

// --- end of controller logic ---

/// Runs the controller against `server` (already seeded) through the script.
pub async fn run_script(server: &ApiServer) -> Result<(), BoxError> {
    // The client has no client-side rate limit by default (see `Config::rate_limit`).
    let config = Config::from_kubeconfig_file(server.kubeconfig())?;
    let factory = Arc::new(SharedInformerFactory::new(RestClient::new(config)?));
    let (controller, ctx) = controller(&factory)?;
    let controller = Arc::new(controller);
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (factory, controller, stop) = (factory.clone(), controller.clone(), stop.clone());
        async move { run(&factory, &controller, ctx, stop).await }
    });
    let result = script::script(server, &|| controller.is_idle()).await;
    stop.cancel();
    task.await??;
    factory.shutdown().await;
    let m = controller.metrics();
    println!(
        "controller: {} reconciles, {} failed and retried",
        m.reconciles, m.errors
    );
    result
}

/// Seeds `server` with the script's objects (for tests that include this example).
pub fn script_seed(server: &ApiServer) -> Result<(), BoxError> {
    script::seed(server)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    script::demo(|server| Box::pin(run_script(server))).await
}
