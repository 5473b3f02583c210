//! List pods with the typed client, like client-go's clientset example
//! (`clientset.CoreV1().Pods("").List(...)`), then watch them for a few seconds.
//!
//! ```text
//! cargo run --example list_pods --features testing,k8s-openapi                 # embedded server
//! cargo run --example list_pods --features testing,k8s-openapi -- --kubeconfig ~/.kube/config [--context NAME] [--namespace NS]
//! ```
//!
//! Without `--kubeconfig` it starts the embedded API server (`informer::testing`) with a
//! few sample pods and points the client at the kubeconfig the server writes, so the
//! example runs anywhere.

use std::time::Duration;

use futures::StreamExt;
use informer::client::{
    Api, Config, KubeConfigOptions, Kubeconfig, ListParams, RestClient, WatchParams,
};
use informer::meta::{ApiResource, WatchEvent};
use informer::testing::ApiServer;
use k8s_openapi::api::core::v1::Pod;

struct Args {
    kubeconfig: Option<String>,
    context: Option<String>,
    namespace: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        kubeconfig: None,
        context: None,
        namespace: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--kubeconfig" => a.kubeconfig = it.next(),
            "--context" => a.context = it.next(),
            "--namespace" | "-n" => a.namespace = it.next(),
            other => {
                eprintln!("unknown argument {other:?}; see the example's doc comment");
                std::process::exit(2);
            }
        }
    }
    a
}

async fn sample_server() -> std::io::Result<ApiServer> {
    let server = ApiServer::start().await?;
    let pods = ApiResource::new("", "v1", "Pod", "pods", true);
    for (ns, name, app) in [
        ("default", "web-1", "web"),
        ("default", "web-2", "web"),
        ("default", "db-0", "db"),
        ("kube-system", "coredns-1", "dns"),
    ] {
        let _ = server.create(
            &pods,
            serde_json::json!({
                "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
                "spec": {"containers": [{"name": "main", "image": format!("{app}:1.0")}]},
                "status": {"phase": "Running", "podIP": "10.0.0.7"}
            }),
        );
    }
    Ok(server)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args();
    let (config, server) = match &args.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)?;
            let options = KubeConfigOptions {
                context: args.context.clone(),
                ..Default::default()
            };
            (kc.to_config(&options)?, None)
        }
        None => {
            let server = sample_server().await?;
            println!("embedded API server at {}", server.url());
            (
                Config::from_kubeconfig_file(server.kubeconfig())?,
                Some(server),
            )
        }
    };
    let client = RestClient::new(config)?;
    let pods: Api<Pod> = match &args.namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };

    let list = pods.list(&ListParams::default()).await?;
    println!("There are {} pods in the cluster", list.items.len());
    println!("{:<16} {:<24} {:<10} IMAGE", "NAMESPACE", "NAME", "PHASE");
    for pod in &list.items {
        let image = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        println!(
            "{:<16} {:<24} {:<10} {image}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or(""),
            phase
        );
    }

    // Watch from the list's resourceVersion for a few seconds.
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut events = pods
        .watch(&WatchParams::default().at(rv).timeout(5))
        .await?;
    if let Some(server) = &server {
        let api = ApiResource::new("", "v1", "Pod", "pods", true);
        let _ = server.delete(&api, Some("default"), "db-0");
    }
    println!("watching for 3 s ...");
    let deadline = tokio::time::sleep(Duration::from_secs(3));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            ev = events.next() => match ev {
                Some(Ok(WatchEvent::Added(p))) => println!("ADDED    {:?}", p.metadata.name),
                Some(Ok(WatchEvent::Modified(p))) => println!("MODIFIED {:?}", p.metadata.name),
                Some(Ok(WatchEvent::Deleted(p))) => println!("DELETED  {:?}", p.metadata.name),
                Some(Ok(_)) => {}
                Some(Err(e)) => { println!("watch error: {e}"); break }
                None => break,
            }
        }
    }
    if let Some(server) = server {
        server.shutdown().await;
    }
    Ok(())
}
