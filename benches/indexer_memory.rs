//! Bytes per cached pod: the objects themselves, our Indexer with a `namespace` and an
//! `app` index on top of them, and kube-runtime's reflector store holding the same pods;
//! for typed k8s-openapi pods, `DynamicObject`s, `LeanObject`s, and metadata-only objects
//! (`PartialObjectMetadata`, as a metadata-only informer caches them, with and without
//! `managedFields`) beside kube-runtime's `metadata_watcher` store of
//! `PartialObjectMeta<Pod>`.
//!
//! A counting global allocator (the `cap` crate) reports the bytes the program has
//! asked for; each figure is the difference across one step, divided by the pod count.
//! Allocator overhead (malloc headers, fragmentation) is not included, the same for all.
//!
//! On the 2-core machine of the other benches (counts of requested bytes do not vary
//! between runs), per pod: typed `Pod` 31,952 B with the store and indices, kube-runtime
//! 29,300 B (1.09x); `PartialObjectMetadata` 4,240 B (3,870 B of objects), 2,752 B with
//! `managedFields` dropped; kube-runtime's `PartialObjectMeta<Pod>` store 15,245 B
//! (0.28x), most of it the `managedFields`, which k8s-openapi decodes into a
//! `serde_json::Value` tree where this crate keeps their raw JSON text. `LeanObject`
//! (typed metadata, the rest as compact JSON text) 6,888 B (0.22x the typed pod), 5,400 B
//! with `managedFields` dropped: of that, about 2,650 B is the JSON text of `spec` and
//! `status` and the rest the typed `ObjectMeta` (its label and annotation B-trees above
//! all), which is where a leaner form has to save next.

mod support;

use std::alloc::System;
use std::sync::Arc;

use cap::Cap;
use informer::cache::{namespace_index, Indexer, Indexers, NAMESPACE_INDEX};
use informer::meta::{DynamicObject, LeanObject, MetaAccessor, Object, PartialObjectMetadata};
use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
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
        .map(str::to_owned)
        .into_iter()
        .collect()
}

fn per_pod(bytes: i64) -> f64 {
    bytes as f64 / N as f64
}

/// Objects alone, then objects plus the indexed store; returns (objects, store) bytes.
/// With `drop_managed_fields`, each object loses its `managedFields` as the informer
/// option does it, before it is counted.
fn ours<K>(drop_managed_fields: bool) -> (i64, i64)
where
    K: Object + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let before = allocated();
    let objects: Vec<Arc<K>> = support::pods::<K>(N, 1)
        .into_iter()
        .map(|mut o| {
            if drop_managed_fields {
                o.meta_mut().clear_managed_fields();
            }
            Arc::new(o)
        })
        .collect();
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
fn theirs<K>() -> i64
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + 'static,
{
    let events: Vec<Event<K>> = support::pods::<K>(N, 1)
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
    let probe: Vec<Event<K>> = support::pods::<K>(N, 1)
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
    let (pod_objects, pod_store) = ours::<Pod>(false);
    let (dyn_objects, dyn_store) = ours::<DynamicObject>(false);
    let (meta_objects, meta_store) = ours::<PartialObjectMetadata>(false);
    let (lean_meta_objects, lean_meta_store) = ours::<PartialObjectMetadata>(true);
    let (lean_objects, lean_store) = ours::<LeanObject>(false);
    let (leaner_objects, leaner_store) = ours::<LeanObject>(true);
    let kube_store = theirs::<Pod>();
    let kube_meta_store = theirs::<PartialObjectMeta<Pod>>();
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
    println!(
        "  LeanObject total (objects + store):   {:>7.0} B  ({:.2} of typed)",
        per_pod(lean_objects + lean_store),
        (lean_objects + lean_store) as f64 / ours_total as f64
    );
    println!(
        "  LeanObject, managedFields dropped:    {:>7.0} B",
        per_pod(leaner_objects + leaner_store)
    );
    let meta_total = meta_objects + meta_store;
    println!(
        "  metadata-only total (objects + store): {:>6.0} B  ({:.0} B objects)",
        per_pod(meta_total),
        per_pod(meta_objects)
    );
    println!(
        "  metadata-only, managedFields dropped: {:>7.0} B",
        per_pod(lean_meta_objects + lean_meta_store)
    );
    println!(
        "  kube-runtime metadata_watcher store:  {:>7.0} B",
        per_pod(kube_meta_store)
    );
    println!(
        "  ratio metadata-only / kube-runtime:   {:>7.2}",
        meta_total as f64 / kube_meta_store as f64
    );
}
