//! The controller of `examples/controller.rs` written with kube-runtime 5, the peer it
//! is compared with: the same behaviour, checked by the same script
//! (`examples/shared/inventory_script.rs`) against the embedded API server.
//!
//! Written as a kube-rs user would: typed k8s-openapi objects, `Controller::new(..)
//! .owns(..)`, reads through the API in `reconcile` (kube-runtime's `owns` keeps no store
//! a reconcile could read, on stable features), an error type implementing
//! `std::error::Error`, and a fixed requeue in the error policy (kube-runtime has no
//! per-key backoff of its own). kube-runtime never reconciles an object that is gone, so
//! deleting the ConfigMap of a deleted Deployment takes a second controller over the
//! ConfigMaps (kube-rs's usual answer, a finalizer, needs finalizer support that the
//! embedded server does not have yet).
//!
//! ```sh
//! cargo run --example controller_kube_runtime
//! ```

#[path = "shared/inventory_script.rs"]
mod script;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use informer::testing::ApiServer;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use script::BoxError;
use tokio_util::sync::CancellationToken;

// --- controller logic (tests/controller_peer.rs counts the lines from here) ---

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered an error.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// The object lacks something every such object has.
    #[error("{0}")]
    Invalid(&'static str),
}

/// What the reconciles use.
pub struct Ctx {
    client: kube::Client,
}

/// The uid of the Deployment that controls `obj`.
fn owner_uid(obj: &impl Resource) -> Option<String> {
    let owner = obj
        .owner_references()
        .iter()
        .find(|r| r.controller == Some(true));
    owner
        .filter(|r| r.kind == "Deployment")
        .map(|r| r.uid.clone())
}

/// Brings the ConfigMap of `deployment` in line with its ReplicaSets.
async fn reconcile(deployment: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if deployment.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = deployment
        .namespace()
        .ok_or(Error::Invalid("no namespace"))?;
    let uid = deployment.uid().ok_or(Error::Invalid("no uid"))?;
    let name = format!("{}-replicasets", deployment.name_any());
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
    let replicasets: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let desired: BTreeMap<String, String> = (replicasets
        .list(&ListParams::default())
        .await?
        .items
        .into_iter())
    .filter(|rs| owner_uid(rs).as_deref() == Some(&*uid))
    .map(|rs| (rs.name_any(), rs.spec.replicas.unwrap_or(1).to_string()))
    .collect();
    let params = PostParams {
        field_manager: Some("replicaset-inventory".into()),
        ..Default::default()
    };
    match api.get_opt(&name).await? {
        None => {
            let metadata = ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                owner_references: deployment.controller_owner_ref(&()).map(|o| vec![o]),
                ..Default::default()
            };
            let cm = ConfigMap {
                metadata,
                data: Some(desired.clone()),
                ..Default::default()
            };
            api.create(&params, &cm).await?;
            println!(
                "  controller: created {namespace}/{name}: {}",
                script::summary(&desired)
            );
        }
        // Someone else's ConfigMap of that name: never take it over.
        Some(cm) if owner_uid(&cm).as_deref() != Some(&*uid) => {
            println!("  controller: {namespace}/{name} is not ours")
        }
        Some(cm) if cm.data.as_ref() == Some(&desired) => {}
        Some(mut cm) => {
            cm.data = Some(desired.clone());
            api.replace(&name, &params, &cm).await?;
            println!(
                "  controller: updated {namespace}/{name}: {}",
                script::summary(&desired)
            );
        }
    }
    Ok(Action::await_change())
}

/// Deletes a ConfigMap whose controlling Deployment is gone.
async fn collect(cm: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let (Some(namespace), Some(uid)) = (cm.namespace(), owner_uid(&*cm)) else {
        return Ok(Action::await_change());
    };
    let owner = cm
        .owner_references()
        .iter()
        .find(|r| r.uid == uid)
        .map(|r| r.name.clone());
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let alive = match owner {
        Some(owner) => deployments
            .get_opt(&owner)
            .await?
            .is_some_and(|d| d.uid() == Some(uid)),
        None => false,
    };
    if !alive {
        let preconditions = Preconditions {
            uid: cm.uid(),
            ..Default::default()
        };
        let params = DeleteParams {
            preconditions: Some(preconditions),
            ..Default::default()
        };
        match Api::<ConfigMap>::namespaced(ctx.client.clone(), &namespace)
            .delete(&cm.name_any(), &params)
            .await
        {
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
            Ok(_) => println!("  controller: deleted {namespace}/{}", cm.name_any()),
        }
    }
    Ok(Action::await_change())
}

fn error_policy<K>(obj: Arc<K>, e: &Error, _: Arc<Ctx>) -> Action
where
    K: Resource,
{
    println!("  controller: {}: {e}; requeued", obj.name_any());
    Action::requeue(Duration::from_millis(100))
}

/// Runs both controllers until `stop`.
pub async fn run(client: kube::Client, stop: CancellationToken) {
    let ctx = Arc::new(Ctx {
        client: client.clone(),
    });
    let wc = watcher::Config::default;
    let inventory = Controller::new(Api::<Deployment>::all(client.clone()), wc())
        .owns(Api::<ReplicaSet>::all(client.clone()), wc())
        .owns(Api::<ConfigMap>::all(client.clone()), wc())
        .graceful_shutdown_on(stop.clone().cancelled_owned())
        .with_config(kube::runtime::controller::Config::default().concurrency(2))
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    let to_configmap = |d: Deployment| {
        let name = format!("{}-replicasets", d.name_any());
        d.namespace().map(|ns| ObjectRef::new(&name).within(&ns))
    };
    let collector = Controller::new(Api::<ConfigMap>::all(client.clone()), wc())
        .watches(Api::<Deployment>::all(client), wc(), to_configmap)
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(collect, error_policy, ctx)
        .for_each(|_| futures::future::ready(()));
    futures::join!(inventory, collector);
}

// --- end of controller logic ---

/// Runs the controllers against `server` (already seeded) through the script.
pub async fn run_script(server: &ApiServer) -> Result<(), BoxError> {
    let client = kube::Client::try_from(kube::Config::new(server.url().parse()?))?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(client, stop.clone()));
    // kube-runtime does not say when it is idle: converging needs the settle time only.
    let result = script::script(server, &|| true).await;
    stop.cancel();
    task.await?;
    result
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    script::demo(|server| Box::pin(run_script(server))).await
}
