//! The event recorder's cost on the caller's thread, against kube-runtime 5's
//! `Recorder::publish`; and the leader elector's steady-state load on the server.
//!
//! ```text
//! cargo bench --all-features --bench events
//! ```
//!
//! - `recorder/ours_event_queue_has_room`: one `Recorder::event` call about a typed
//!   object (building the reference, stamping the time, enqueueing), with a queue that
//!   has room. The writer is spawned on a runtime that is not driven while the clock
//!   runs, so the figure is the caller's cost alone, not the write's.
//! - `recorder/kube_runtime_publish`: kube-runtime's `publish`, which writes the event
//!   (a create, then series patches) before it returns: what its caller waits for.
//! - Elector load (printed, not timed by criterion): one leader and two standbys with a
//!   200 ms retry period on the embedded server for 6 s; requests per candidate per retry
//!   period, counted at the lock.
//!
//! # Results
//!
//! Two runs on the project's 2-core machine (shared, noisy; the second beside other
//! builds), 2026-12-02, criterion's medians (4 s measurements):
//!
//! | run | ours `event` | kube-runtime `publish` | ratio |
//! |---|---|---|---|
//! | 1 | 0.80 µs | 335 µs | 0.0024 |
//! | 2 | 1.08 µs | 303 µs | 0.0036 |
//!
//! Issue 12's target, under 2 µs a call when the queue has room, is met. The ratio says
//! what a caller waits for, not that the write is cheaper: kube-runtime writes before it
//! returns, this crate's writer does the same request later, on another task.
//!
//! Elector load, run 2 (after the leader's read-free renewal): the leader sent 1.00
//! request per retry period (run 1, before it: 2.00, a read and a write); each standby
//! 0.63 (one read per retry period stretched by up to 1.2 of jitter, 0.63 expected on
//! average). client-go has no figure for these on this machine
//! (`../shared/MEASUREMENTS.md` measures informers only).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures::future::BoxFuture;
use informer::client::{Config, RestClient, Result as ClientResult, RetryPolicy};
use informer::events::{EventType, Recorder};
use informer::leaderelection::{
    LeaderCallbacks, LeaderElectionConfig, LeaderElector, Lease, LeaseLock, Lock,
};
use informer::meta::ObjectMeta;
use informer::testing::ApiServer;
use tokio_util::sync::CancellationToken;

fn client(server: &ApiServer) -> RestClient {
    let mut config = Config::from_kubeconfig_file(server.kubeconfig()).expect("kubeconfig");
    config.rate_limit = None;
    config.retry = RetryPolicy::none();
    RestClient::new(config).expect("client")
}

fn lease() -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some("web-7d4b9c8f6-x2x9k".into()),
            namespace: Some("shop".into()),
            uid: Some("6f1c2f58-3b0e-4d5e-9a37-0c1d2e3f4a5b".into()),
            resource_version: Some("123456".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn recorder(c: &mut Criterion, server_rt: &tokio::runtime::Runtime, server: &ApiServer) {
    let mut group = c.benchmark_group("recorder");
    let lease = lease();
    group.bench_function("ours_event_queue_has_room", |b| {
        b.iter_custom(|iters| {
            // The writer lives on a runtime nobody drives while the clock runs.
            let writer_rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("writer runtime");
            let recorder = writer_rt.block_on(async {
                Recorder::builder(client(server), "example.com/bench")
                    .queue_capacity(iters as usize + 1)
                    .build()
            });
            let start = Instant::now();
            for _ in 0..iters {
                recorder.event(&lease, EventType::Normal, "Synced", "synced the object");
            }
            let took = start.elapsed();
            assert_eq!(recorder.stats().dropped, 0, "the queue had room");
            drop(recorder);
            drop(writer_rt);
            took
        })
    });

    let kube_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("kube runtime");
    let kube_recorder = kube_rt.block_on(async {
        let mut config = kube::Config::new(server.url().parse().expect("url"));
        config.default_retry = false;
        let client = kube::Client::try_from(config).expect("kube client");
        kube::runtime::events::Recorder::new(client, "example.com/bench".into())
    });
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("coordination.k8s.io/v1".into()),
        kind: Some("Lease".into()),
        name: lease.metadata.name.clone(),
        namespace: lease.metadata.namespace.clone(),
        uid: lease.metadata.uid.clone(),
        resource_version: lease.metadata.resource_version.clone(),
        field_path: None,
    };
    let event = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Normal,
        reason: "Synced".into(),
        note: Some("synced the object".into()),
        action: "Synced".into(),
        secondary: None,
    };
    group.bench_function("kube_runtime_publish", |b| {
        b.iter(|| {
            kube_rt
                .block_on(kube_recorder.publish(&event, &reference))
                .expect("published")
        })
    });
    group.finish();
    let _ = server_rt;
}

/// A lock that counts the requests a candidate sends.
struct Counting {
    inner: LeaseLock,
    requests: Arc<AtomicU64>,
}

impl Lock for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn get(&self) -> BoxFuture<'_, ClientResult<Option<Lease>>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.get()
    }
    fn create(&self, lease: Lease) -> BoxFuture<'_, ClientResult<Lease>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.create(lease)
    }
    fn update(&self, lease: Lease) -> BoxFuture<'_, ClientResult<Lease>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.update(lease)
    }
}

/// Runs three candidates for a while and prints each one's requests per retry period.
fn elector_load(server_rt: &tokio::runtime::Runtime, server: &ApiServer) {
    const RETRY: Duration = Duration::from_millis(200);
    const WARM_UP: Duration = Duration::from_secs(2);
    const MEASURE: Duration = Duration::from_secs(6);
    server_rt.block_on(async {
        let stop = CancellationToken::new();
        let mut candidates = Vec::new();
        for i in 0..3 {
            let requests = Arc::new(AtomicU64::new(0));
            let lock = Counting {
                inner: LeaseLock::new(client(server), "default", "bench-lock"),
                requests: requests.clone(),
            };
            let mut config = LeaderElectionConfig::new(format!("candidate-{i}"));
            config.lease_duration = Duration::from_millis(1500);
            config.renew_deadline = Duration::from_millis(1000);
            config.retry_period = RETRY;
            let elector = Arc::new(LeaderElector::new(lock, config).expect("config"));
            let task = tokio::spawn({
                let (elector, stop) = (elector.clone(), stop.clone());
                async move { elector.run(LeaderCallbacks::new(), stop).await }
            });
            candidates.push((elector, requests, task));
        }
        tokio::time::sleep(WARM_UP).await;
        let before: Vec<u64> = candidates
            .iter()
            .map(|(_, r, _)| r.load(Ordering::Relaxed))
            .collect();
        tokio::time::sleep(MEASURE).await;
        let periods = MEASURE.as_secs_f64() / RETRY.as_secs_f64();
        for ((elector, requests, _), before) in candidates.iter().zip(before) {
            let n = requests.load(Ordering::Relaxed) - before;
            println!(
                "elector {}: {} requests in {:?}: {:.2}/s, {:.2} per retry period (leader: {})",
                elector.identity(),
                n,
                MEASURE,
                n as f64 / MEASURE.as_secs_f64(),
                n as f64 / periods,
                elector.is_leader(),
            );
        }
        stop.cancel();
        for (_, _, task) in candidates {
            task.await.expect("no panic");
        }
    });
}

fn bench(c: &mut Criterion) {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let server = server_rt.block_on(async { ApiServer::start().await.expect("server") });
    let ns = informer::meta::ApiResource::new("", "v1", "Namespace", "namespaces", false);
    server
        .create(&ns, serde_json::json!({"metadata": {"name": "shop"}}))
        .expect("namespace");
    elector_load(&server_rt, &server);
    recorder(c, &server_rt, &server);
    server_rt.block_on(server.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
