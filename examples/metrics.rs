//! Serving `/metrics` for Prometheus: an informer on pods and a work queue, exported
//! through `informer::metrics::MetricsCollector` and `prometheus-client`.
//!
//! It starts the embedded API server with a few pods, runs a shared informer, serves
//! `http://127.0.0.1:PORT/metrics` for `--seconds N` (default 30; Ctrl-C stops early) and
//! prints its own first scrape.
//!
//! ```sh
//! cargo run --example metrics --features metrics
//! curl -s http://127.0.0.1:PORT/metrics | grep reflector_
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use informer::cache::SharedInformerFactory;
use informer::client::{Config, RestClient};
use informer::meta::ApiResource;
use informer::metrics::MetricsCollector;
use informer::testing::ApiServer;
use informer::workqueue::WorkQueue;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of Prometheus' text format as `prometheus-client` writes it.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Answers `GET /metrics` with the registry's current text, anything else with 404.
async fn serve(listener: TcpListener, registry: Arc<Registry>, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => { eprintln!("accept: {e}"); continue }
            },
            () = stop.cancelled() => return,
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let registry = registry.clone();
                async move {
                    let response = if req.uri().path() == "/metrics" {
                        let mut text = String::new();
                        match prometheus_client::encoding::text::encode(&mut text, &registry) {
                            Ok(()) => Response::builder()
                                .header("content-type", CONTENT_TYPE)
                                .body(Full::new(Bytes::from(text))),
                            Err(_) => Response::builder()
                                .status(500)
                                .body(Full::new(Bytes::from("encoding failed"))),
                        }
                    } else {
                        Response::builder()
                            .status(404)
                            .body(Full::new(Bytes::from("try /metrics")))
                    };
                    response
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                eprintln!("connection: {e}");
            }
        });
    }
}

/// `GET url` over plain HTTP, the body as text.
async fn scrape(url: &str) -> Result<String, Box<dyn std::error::Error>> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<Bytes>>();
    let response = client.get(url.parse()?).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .map(|s| s.parse::<u64>())
        .transpose()
        .map_err(|e| format!("--seconds: {e}"))?
        .unwrap_or(30);

    let server = ApiServer::start().await?;
    let pods = ApiResource::new("", "v1", "Pod", "pods", true);
    for i in 0..5 {
        server.create(
            &pods,
            serde_json::json!({"metadata": {"name": format!("web-{i}"), "namespace": "default"}}),
        )?;
    }

    let client = RestClient::new(Config::from_kubeconfig_file(server.kubeconfig())?)?;
    let factory = SharedInformerFactory::new(client.clone());
    let informer = factory.dynamic_informer(&pods);
    let queue: WorkQueue<String> = WorkQueue::builder("pods").build();
    informer.add_event_handler(informer::cache::ResourceEventHandlerFuncs::new().add_func({
        let queue = queue.clone();
        move |pod: Arc<informer::meta::DynamicObject>, _| {
            if let Ok(key) = informer::cache::meta_namespace_key(pod.as_ref()) {
                queue.add(key);
            }
        }
    }))?;

    // One collector, registered once; add what it should export.
    let collector = MetricsCollector::new();
    collector.add_informer(&informer);
    collector.add_work_queue(&queue);
    collector.add_client(&client);
    let mut registry = Registry::default();
    collector.register(&mut registry);
    let registry = Arc::new(registry);

    let stop = CancellationToken::new();
    factory.start(&stop);
    factory.wait_for_cache_sync(&stop).await;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    let serving = tokio::spawn(serve(listener, registry, stop.clone()));
    println!("serving {url} for {seconds} s (Ctrl-C to stop)");

    let scrape = scrape(&url).await?;
    println!("first scrape (reflector, work-queue and client lines):");
    for line in scrape.lines().filter(|l| {
        ["reflector_lists", "workqueue_depth", "rest_client_requests"]
            .iter()
            .any(|p| l.starts_with(p))
    }) {
        println!("  {line}");
    }

    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
        _ = tokio::signal::ctrl_c() => println!("interrupted"),
    }
    stop.cancel();
    let _ = serving.await;
    queue.shut_down();
    factory.shutdown().await;
    server.shutdown().await;
    Ok(())
}
