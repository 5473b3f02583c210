//! Any resource by group/version/resource, with the dynamic client: discovery resolves
//! the resource, `Api<DynamicObject>` lists it, and each object prints as a name plus its
//! top-level fields (client-go's `dynamic` example).
//!
//! ```text
//! cargo run --example dynamic --features testing                                  # embedded server, apps/v1 deployments
//! cargo run --example dynamic --features testing -- --kubeconfig ~/.kube/config apps/v1/deployments
//! cargo run --example dynamic --features testing -- --kubeconfig ~/.kube/config v1/configmaps
//! ```
//!
//! Without `--kubeconfig` it starts the embedded API server with sample objects.

use informer::client::{Api, Config, Discovery, ListParams, RestClient};
use informer::meta::{ApiResource, DynamicObject};
use informer::testing::ApiServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut kubeconfig = None;
    let mut gvr = "apps/v1/deployments".to_owned();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--kubeconfig" {
            kubeconfig = it.next();
        } else {
            gvr = a;
        }
    }
    let parts: Vec<&str> = gvr.split('/').collect();
    let (group, version, resource) = match parts[..] {
        [v, r] => ("", v, r),
        [g, v, r] => (g, v, r),
        _ => {
            return Err(
                format!("expected group/version/resource or version/resource, got {gvr:?}").into(),
            )
        }
    };

    let server = match &kubeconfig {
        Some(_) => None,
        None => {
            let server = ApiServer::start().await?;
            let deployments = ApiResource::new("apps", "v1", "Deployment", "deployments", true);
            for (name, replicas) in [("web", 3), ("api", 2)] {
                let _ = server.create(
                    &deployments,
                    serde_json::json!({
                        "metadata": {"name": name, "namespace": "default"},
                        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}}
                    }),
                );
            }
            println!("embedded API server at {}", server.url());
            Some(server)
        }
    };
    let config = match (&kubeconfig, &server) {
        (Some(path), _) => Config::from_kubeconfig_file(path)?,
        (None, Some(s)) => Config::from_kubeconfig_file(s.kubeconfig())?,
        (None, None) => Config::infer()?,
    };
    let client = RestClient::new(config)?;

    let discovery = Discovery::new(client.clone());
    let server_version = discovery.server_version().await?;
    println!(
        "server {} ({})",
        server_version.git_version, server_version.platform
    );
    let Some(api_resource) = discovery.resolve_gvr(group, version, resource).await? else {
        return Err(format!("the server does not serve {gvr}").into());
    };
    let api: Api<DynamicObject> = Api::all_with(client, &api_resource);
    let list = api.list(&ListParams::default()).await?;
    println!(
        "{} {} ({}):",
        list.items.len(),
        api_resource.plural,
        api_resource.kind
    );
    for obj in list.items {
        let fields: Vec<String> = obj
            .data
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        println!(
            "  {}/{}  fields: {}",
            obj.metadata.namespace.as_deref().unwrap_or("-"),
            obj.metadata.name.as_deref().unwrap_or("?"),
            fields.join(", ")
        );
    }
    if let Some(s) = server {
        s.shutdown().await;
    }
    Ok(())
}
