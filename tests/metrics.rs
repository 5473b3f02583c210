//! The `metrics` feature: an informer, a work queue and a controller exported through
//! `MetricsCollector`, served over loopback HTTP and scraped as Prometheus would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::rt::TokioIo;
use informer::cache::{meta_namespace_key, ResourceEventHandlerFuncs, SharedInformerFactory};
use informer::client::{Config, RestClient};
use informer::meta::{ApiResource, DynamicObject};
use informer::metrics::MetricsCollector;
use informer::testing::ApiServer;
use informer::workqueue::WorkQueue;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `registry` at `/metrics` on loopback until `stop`; returns the URL.
async fn serve(registry: Arc<Registry>, stop: CancellationToken) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => accepted.unwrap(),
                () = stop.cancelled() => return,
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let registry = registry.clone();
                    async move {
                        let mut text = String::new();
                        prometheus_client::encoding::text::encode(&mut text, &registry)?;
                        Ok::<_, std::fmt::Error>(Response::new(Full::new(Bytes::from(text))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
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

/// The value of the sample line that starts with `series ` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_shows_informer_reflector_and_workqueue_metrics() {
    let server = ApiServer::start().await.unwrap();
    let pods = ApiResource::new("", "v1", "Pod", "pods", true);
    for i in 0..3 {
        server
            .create(
                &pods,
                serde_json::json!({"metadata": {"name": format!("p{i}"), "namespace": "default"}}),
            )
            .unwrap();
    }
    let client =
        RestClient::new(Config::from_kubeconfig_file(server.kubeconfig()).unwrap()).unwrap();
    let factory = SharedInformerFactory::new(client.clone());
    let informer = factory.dynamic_informer(&pods);
    let queue: WorkQueue<String> = WorkQueue::builder("pods").build();
    informer
        .add_event_handler(ResourceEventHandlerFuncs::new().add_func({
            let queue = queue.clone();
            move |pod: Arc<DynamicObject>, _| {
                if let Ok(key) = meta_namespace_key(pod.as_ref()) {
                    queue.add(key);
                }
            }
        }))
        .unwrap();

    let collector = MetricsCollector::new();
    collector.add_informer(&informer);
    collector.add_work_queue(&queue);
    collector.add_client(&client);
    let mut registry = Registry::default();
    collector.register(&mut registry);
    let stop = CancellationToken::new();
    let url = serve(Arc::new(registry), stop.clone()).await;

    factory.start(&stop);
    assert!(factory
        .wait_for_cache_sync(&stop)
        .await
        .values()
        .all(|s| *s));
    // One more pod through the watch.
    server
        .create(
            &pods,
            serde_json::json!({"metadata": {"name": "p3", "namespace": "default"}}),
        )
        .unwrap();

    let informer_label = format!("{{name=\"{}\"}}", informer.name());
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = scrape(&url).await.unwrap();
        let done = sample(&text, &format!("informer_cache_size{informer_label}")) == Some(4.0)
            && sample(&text, "workqueue_depth{name=\"pods\"}") == Some(4.0);
        if done || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    assert_eq!(
        sample(&text, &format!("informer_cache_size{informer_label}")),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("reflector_lists_total{informer_label}")),
        Some(1.0),
        "{text}"
    );
    assert!(sample(&text, &format!("reflector_watches_total{informer_label}")) >= Some(1.0));
    let added = format!(
        "reflector_watch_events_total{{name=\"{}\",type=\"ADDED\"}}",
        informer.name()
    );
    assert_eq!(sample(&text, &added), Some(1.0), "{text}");
    assert!(
        sample(
            &text,
            &format!("reflector_last_resource_version{informer_label}")
        ) > Some(0.0)
    );
    assert_eq!(
        sample(&text, "workqueue_depth{name=\"pods\"}"),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "workqueue_adds_total{name=\"pods\"}"),
        Some(4.0),
        "{text}"
    );
    assert!(
        text.contains("# TYPE workqueue_queue_duration_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("# TYPE reflector_lists counter"), "{text}");
    // The client's requests: the informer's list (200) and its watch.
    let host = client.base_url();
    let lists =
        format!("rest_client_requests_total{{code=\"200\",host=\"{host}\",method=\"GET\"}}");
    assert!(sample(&text, &lists) >= Some(2.0), "{text}");
    let count =
        format!("rest_client_request_duration_seconds_count{{host=\"{host}\",verb=\"GET\"}}");
    assert_eq!(sample(&text, &count), sample(&text, &lists), "{text}");

    // Work done shows in the durations.
    for _ in 0..4 {
        let item = queue.get().await.unwrap();
        drop(item);
    }
    let text = scrape(&url).await.unwrap();
    assert_eq!(
        sample(&text, "workqueue_depth{name=\"pods\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "workqueue_work_duration_seconds_count{name=\"pods\"}"
        ),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "workqueue_queue_duration_seconds_bucket{le=\"+Inf\",name=\"pods\"}"
        )
        .or_else(|| sample(
            &text,
            "workqueue_queue_duration_seconds_bucket{name=\"pods\",le=\"+Inf\"}"
        )),
        Some(4.0),
        "{text}"
    );

    stop.cancel();
    queue.shut_down();
    factory.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_shows_controller_reconciles_and_its_queue() {
    use informer::cache::{ListWatch, SharedIndexInformer};
    use informer::client::Api;
    use informer::runtime::{Action, Controller, ObjectKey, Retry};

    let server = ApiServer::start().await.unwrap();
    let configmaps = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
    server
        .create(
            &configmaps,
            serde_json::json!({"metadata": {"name": "a", "namespace": "default"}}),
        )
        .unwrap();
    let client =
        RestClient::new(Config::from_kubeconfig_file(server.kubeconfig()).unwrap()).unwrap();
    let informer = SharedIndexInformer::new(
        ListWatch::new(Api::<DynamicObject>::all_with(client, &configmaps)),
        Default::default(),
    );
    let controller = Arc::new(Controller::for_resource(informer, &configmaps).name("cms"));
    let collector = MetricsCollector::new();
    collector.add_controller("cms", controller.clone());
    let mut registry = Registry::default();
    collector.register(&mut registry);
    let stop = CancellationToken::new();
    let url = serve(Arc::new(registry), stop.clone()).await;

    let run_stop = CancellationToken::new();
    let running = tokio::spawn({
        let (controller, run_stop) = (controller.clone(), run_stop.clone());
        async move {
            let reconcile = |_key: ObjectKey, _cm: Option<Arc<DynamicObject>>| async {
                Ok::<_, std::convert::Infallible>(Action::Done)
            };
            controller
                .run(reconcile, |_key, _err, _retries| Retry::Backoff, run_stop)
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = scrape(&url).await.unwrap();
        let done = sample(
            &text,
            "controller_runtime_reconcile_total{controller=\"cms\"}",
        ) == Some(1.0);
        if done || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        sample(
            &text,
            "controller_runtime_reconcile_total{controller=\"cms\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "controller_runtime_reconcile_errors_total{controller=\"cms\"}"
        ),
        Some(0.0),
        "{text}"
    );
    // The controller's work queue is exported with it.
    assert!(text.contains("workqueue_adds_total{name="), "{text}");

    run_stop.cancel();
    running.await.unwrap().unwrap();
    stop.cancel();
    server.shutdown().await;
}

#[tokio::test]
async fn client_counts_attempts_without_an_answer_as_error() {
    // Nothing listens on port 1 of loopback: the connection is refused, not retried.
    let mut config = Config::new("http://127.0.0.1:1").unwrap();
    config.retry = informer::client::RetryPolicy::none();
    let client = RestClient::new(config).unwrap();
    let api: informer::client::Api<DynamicObject> = informer::client::Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::new("", "v1", "Pod", "pods", true),
    );
    assert!(api.get("web").await.is_err());
    let requests: Vec<_> = client
        .metrics()
        .requests
        .into_iter()
        .map(|(method, code, n, _)| (method, code, n))
        .collect();
    assert_eq!(requests, [("GET".to_owned(), "<error>".to_owned(), 1)]);
    assert_eq!(client.metrics().host, "http://127.0.0.1:1");
}
