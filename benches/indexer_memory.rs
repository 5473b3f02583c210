//! Bytes per cached pod: the objects themselves, our Indexer with a `namespace` and an
//! `app` index on top of them, and kube-runtime's reflector store holding the same pods.
//!
//! A counting global allocator (the `cap` crate) reports the bytes the program has
//! asked for; each figure is the difference across one step, divided by the pod count.
//! Allocator overhead (malloc headers, fragmentation) is not included, the same for all.

mod support;

use std::alloc::System;
use std::sync::Arc;

use cap::Cap;
use informer::cache::{namespace_index, Indexer, Indexers, NAMESPACE_INDEX};
use informer::meta::{DynamicObject, Object};
use k8s_openapi::api::core::v1::Pod;
use kube_runtime::reflector::store::Writer;
use kube_runtime::watcher::Event;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const N: usize = 100_000;

fn allocated() -> i64 {
    ALLOCATOR.allocated() as i64
}

fn app_index<K: Object>(o: &K) -> Vec<String> {
    o.labels()
        .and_then(|l| l.get("app"))
        .cloned()
        .into_iter()
        .collect()
}

fn per_pod(bytes: i64) -> f64 {
    bytes as f64 / N as f64
}

/// Objects alone, then objects plus the indexed store; returns (objects, store) bytes.
fn ours<K>() -> (i64, i64)
where
    K: Object + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let before = allocated();
    let objects: Vec<Arc<K>> = support::pods::<K>(N, 1).into_iter().map(Arc::new).collect();
    let objects_bytes = allocated() - before;
    let before_store = allocated();
    let store = Indexer::new(
        Indexers::new()
            .with_fallible(NAMESPACE_INDEX, namespace_index)
            .with("app", app_index::<K>),
    );
    for o in &objects {
        store.add(o.clone()).unwrap();
    }
    let store_bytes = allocated() - before_store;
    assert_eq!(store.len(), N);
    drop(store);
    drop(objects);
    (objects_bytes, store_bytes)
}

/// kube-runtime's store after applying every pod; the events are dropped before
/// measuring, so what remains is the store: its own clones of the pods plus its map.
fn theirs() -> i64 {
    let events: Vec<Event<Pod>> = support::pods::<Pod>(N, 1)
        .into_iter()
        .map(Event::Apply)
        .collect();
    let before = allocated();
    let mut writer = Writer::default();
    for e in &events {
        writer.apply_watcher_event(e);
    }
    drop(events);
    let bytes = allocated() - before;
    // The events were allocated before `before`, so dropping them subtracted their size;
    // add it back by measuring an identical set.
    let probe_before = allocated();
    let probe: Vec<Event<Pod>> = support::pods::<Pod>(N, 1)
        .into_iter()
        .map(Event::Apply)
        .collect();
    let events_bytes = allocated() - probe_before;
    drop(probe);
    assert_eq!(writer.as_reader().state().len(), N);
    bytes + events_bytes
}

fn main() {
    // `cargo bench` passes `--bench`; this binary takes no options.
    let (pod_objects, pod_store) = ours::<Pod>();
    let (dyn_objects, dyn_store) = ours::<DynamicObject>();
    let kube_store = theirs();
    let ours_total = pod_objects + pod_store;

    println!("memory per cached pod ({N} pods shaped like tests/fixtures/pod.json)");
    println!(
        "  k8s-openapi Pod objects:             {:>8.0} B",
        per_pod(pod_objects)
    );
    println!(
        "  informer Indexer + 2 indices:        {:>8.0} B  ({:.1}% of the objects)",
        per_pod(pod_store),
        100.0 * pod_store as f64 / pod_objects as f64
    );
    println!(
        "  informer total (objects + store):    {:>8.0} B",
        per_pod(ours_total)
    );
    println!(
        "  kube-runtime store (objects + map):  {:>8.0} B",
        per_pod(kube_store)
    );
    println!(
        "  ratio informer / kube-runtime:       {:>8.2}",
        ours_total as f64 / kube_store as f64
    );
    println!(
        "  DynamicObject objects:               {:>8.0} B  (+{:.0} B store and indices)",
        per_pod(dyn_objects),
        per_pod(dyn_store)
    );
}
