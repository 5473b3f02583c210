//! Runs the embedded API server standalone, with sample data, so that a person can point
//! `kubectl` (or a controller) at it.
//!
//! ```text
//! cargo run --example apiserver --features testing -- [--port 8080] [--churn-ms 500] [--tls] [--token SECRET]
//! kubectl --kubeconfig <printed path> get pods -A
//! ```
//!
//! Sample data: three namespaces (`shop`, `payments`, `monitoring`), 50 pods spread over
//! them, and a few configmaps. With `--churn-ms`, one pod is relabelled, created or
//! deleted at that interval. Ctrl-C (or SIGTERM) stops the server and removes the kubeconfig.

use std::time::Duration;

use informer::meta::ApiResource;
use informer::testing::ApiServer;
use serde_json::json;

struct Args {
    port: u16,
    churn: Option<Duration>,
    tls: bool,
    token: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        churn: None,
        tls: false,
        token: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" => {
                let v = it.next().ok_or("--port needs a value")?;
                args.port = v.parse().map_err(|e| format!("--port {v}: {e}"))?;
            }
            "--churn-ms" => {
                let v = it.next().ok_or("--churn-ms needs a value")?;
                let ms: u64 = v.parse().map_err(|e| format!("--churn-ms {v}: {e}"))?;
                args.churn = Some(Duration::from_millis(ms.max(1)));
            }
            "--tls" => args.tls = true,
            "--token" => args.token = Some(it.next().ok_or("--token needs a value")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

const NAMESPACES: [&str; 3] = ["shop", "payments", "monitoring"];
const APPS: [&str; 5] = ["web", "api", "worker", "cache", "db"];

fn pod(i: usize) -> serde_json::Value {
    let ns = NAMESPACES[i % NAMESPACES.len()];
    let app = APPS[i % APPS.len()];
    json!({
        "metadata": {
            "name": format!("{app}-{i:03}"),
            "namespace": ns,
            "labels": {"app": app, "tier": if i.is_multiple_of(2) { "frontend" } else { "backend" }}
        },
        "spec": {"containers": [{"name": app, "image": format!("example.com/{app}:1.0")}]},
        "status": {"phase": "Running"}
    })
}

/// Resolves on SIGTERM (where there is such a signal), so that the kubeconfig is removed
/// when the process is stopped with `kill` too.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args().map_err(|e| {
        format!("{e}\nusage: apiserver [--port N] [--churn-ms MS] [--tls] [--token T]")
    })?;
    let mut builder = ApiServer::builder().port(args.port).tls(args.tls);
    if let Some(token) = &args.token {
        builder = builder.token(token.clone());
    }
    let server = builder.start().await?;

    let namespaces = ApiResource::new("", "v1", "Namespace", "namespaces", false);
    let pods = ApiResource::new("", "v1", "Pod", "pods", true);
    let configmaps = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
    for ns in NAMESPACES {
        server
            .create(&namespaces, json!({"metadata": {"name": ns}}))
            .map_err(|e| e.to_string())?;
        server
            .create(
                &configmaps,
                json!({"metadata": {"name": "settings", "namespace": ns}, "data": {"level": "info"}}),
            )
            .map_err(|e| e.to_string())?;
    }
    for i in 0..50 {
        server.create(&pods, pod(i)).map_err(|e| e.to_string())?;
    }

    println!("API server: {}", server.url());
    println!("kubeconfig: {}", server.kubeconfig().display());
    println!(
        "try: kubectl --kubeconfig {} get pods -A -w",
        server.kubeconfig().display()
    );

    let churn = async {
        let Some(interval) = args.churn else {
            return std::future::pending::<()>().await;
        };
        let mut tick = tokio::time::interval(interval);
        let mut n = 50usize;
        loop {
            tick.tick().await;
            n += 1;
            let result = match n % 3 {
                0 => server.create(&pods, pod(n)).map(|_| ()),
                1 => {
                    let victim = pod(n - 1 - 3 * 5);
                    let ns = victim["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("shop")
                        .to_owned();
                    let name = victim["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    server.delete(&pods, Some(&ns), &name).map(|_| ())
                }
                _ => {
                    let mut p = pod(n % 50);
                    p["metadata"]["labels"]["churn"] = json!(n.to_string());
                    server.replace(&pods, p).map(|_| ())
                }
            };
            if let Err(e) = result {
                eprintln!("churn step {n}: {e}");
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated() => {}
        _ = churn => {}
    }
    server.shutdown().await;
    Ok(())
}
