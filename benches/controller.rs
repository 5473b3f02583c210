//! From 10,000 ConfigMaps on the embedded API server to 10,000 reconciles done: this
//! crate's `runtime::Controller` against kube-runtime 5's `Controller`, the same no-op
//! reconcile, in the same run.
//!
//! ```text
//! cargo bench --all-features --bench controller
//! ```
//!
//! The server (one for the whole run, on its own two-thread runtime) holds 10,000
//! ConfigMaps of about 300 bytes. Each iteration builds a controller from nothing (a new
//! client, informer or watcher, and queue), starts the clock, runs it, and stops the clock
//! when the reconcile function has been called 10,000 times; then it shuts the controller
//! down. Both decode into k8s-openapi's typed `ConfigMap`, list at `resourceVersion=0`
//! without paging (the server, like a real one, ignores `limit` there), and run with their
//! defaults: one worker here (client-go's default), unbounded concurrency in
//! kube-runtime; our client's rate limit and retries are off (kube has none).
//!
//! So the figure is the whole path a controller's start-up takes: list, decode, cache,
//! handler, queue, worker, reconcile.
//!
//! # Results
//!
//! Three runs on the project's 2-core machine (shared, noisy), 2026-12-01, criterion's
//! medians:
//!
//! | run | ours | kube-runtime | ratio |
//! |---|---|---|---|
//! | 1 | 39.2 ms | 88.7 ms | 0.43 |
//! | 2 | 38.8 ms | 94.2 ms | 0.40 |
//! | 3 | 42.7 ms | 94.4 ms | 0.45 |
//! | median | 39.2 ms | 94.2 ms | 0.43 |
//!
//! Issue 10's target, at most 0.5x kube-runtime's time, is met. client-go has no figure
//! for this on this machine (`../shared/MEASUREMENTS.md` measures informers only).

mod support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::StreamExt;
use informer::cache::{ListWatch, SharedIndexInformer};
use informer::client::{Api, Config, RestClient, RetryPolicy};
use informer::runtime::{Action, Controller, Retry};
use informer::testing::ApiServer;
use k8s_openapi::api::core::v1::ConfigMap;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const OBJECTS: usize = 10_000;
const GROUP: &str = "controller";
const CASE: &str = "10k_objects_to_reconciles";

/// Counts reconciles and wakes the bench at the last one.
#[derive(Default)]
struct Count {
    n: AtomicUsize,
    all: Notify,
}

impl Count {
    fn hit(&self) {
        if self.n.fetch_add(1, Ordering::Relaxed) + 1 == OBJECTS {
            self.all.notify_one();
        }
    }
}

async fn ours(server: &ApiServer) -> Duration {
    let mut config = Config::from_kubeconfig_file(server.kubeconfig()).expect("kubeconfig");
    config.rate_limit = None;
    config.retry = RetryPolicy::none();
    let api: Api<ConfigMap> = Api::all(RestClient::new(config).expect("client"));
    let informer = SharedIndexInformer::new(ListWatch::new(api), Default::default());
    let controller = Controller::new(informer);
    let count = Arc::new(Count::default());
    let stop = CancellationToken::new();
    let start = Instant::now();
    let task = tokio::spawn({
        let (count, stop) = (count.clone(), stop.clone());
        async move {
            let reconcile = move |_key, _cm| {
                count.hit();
                async { Ok::<_, Infallible>(Action::Done) }
            };
            controller
                .run(reconcile, |_, _, _| Retry::Backoff, stop)
                .await
        }
    });
    count.all.notified().await;
    let took = start.elapsed();
    stop.cancel();
    task.await.expect("no panic").expect("ran");
    took
}

async fn kube_runtime(server: &ApiServer) -> Duration {
    let mut config = kube::Config::new(server.url().parse().expect("url"));
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("kube client");
    let api: kube::Api<ConfigMap> = kube::Api::all(client);
    let count = Arc::new(Count::default());
    let stop = CancellationToken::new();
    let start = Instant::now();
    let task = tokio::spawn({
        let (count, stop) = (count.clone(), stop.clone());
        kube::runtime::Controller::new(api, kube::runtime::watcher::Config::default())
            .graceful_shutdown_on(stop.cancelled_owned())
            .run(
                move |_cm, count: Arc<Count>| async move {
                    count.hit();
                    Ok::<_, Infallible>(kube::runtime::controller::Action::await_change())
                },
                |_, _, _| kube::runtime::controller::Action::await_change(),
                count,
            )
            .for_each(|_| futures::future::ready(()))
    });
    count.all.notified().await;
    let took = start.elapsed();
    stop.cancel();
    task.await.expect("no panic");
    took
}

fn bench(c: &mut Criterion) {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let server = server_rt.block_on(async {
        let server = ApiServer::start().await.expect("server");
        let configmaps =
            informer::meta::ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
        let namespaces =
            informer::meta::ApiResource::new("", "v1", "Namespace", "namespaces", false);
        for i in 0..support::NAMESPACES {
            let ns = serde_json::json!({"metadata": {"name": support::namespace_of(i)}});
            server.create(&namespaces, ns).expect("namespace");
        }
        for i in 0..OBJECTS {
            let cm = serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {
                    "name": format!("settings-{i:05}"),
                    "namespace": support::namespace_of(i),
                    "labels": {"app": support::app_of(i), "tier": "frontend"},
                },
                "data": {"color": "blue", "size": "large", "replicas": i.to_string()},
            });
            server.create(&configmaps, cm).expect("create");
        }
        server
    });
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");

    let mut g = c.benchmark_group(GROUP);
    g.bench_function(BenchmarkId::new(CASE, "ours"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| client_rt.block_on(ours(&server))).sum())
    });
    g.bench_function(BenchmarkId::new(CASE, "kube-runtime"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| client_rt.block_on(kube_runtime(&server)))
                .sum()
        })
    });
    g.finish();
    support::print_ratios(GROUP, "ours", "kube-runtime", &[(CASE, OBJECTS as u64)]);
    server_rt.block_on(server.shutdown());
}

fn config() -> Criterion {
    support::criterion()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
