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
//! Objects are decoded and wrapped in `Arc`s pod by pod (collecting a `Vec<K>` into a
//! `Vec<Arc<K>>` in place would keep its `N * size_of::<K>()` buffer and count it).
//!
//! # Resident set size
//!
//! Since fragmentation is what a user's pod limit sees, each form is also measured as the
//! resident set size of a process that holds only that cache: the bench re-executes
//! itself once per form, one at a time, with `INDEXER_MEMORY_FORM` set (`pod`,
//! `dynamic`, `metadata`, `metadata-light`, `lean`, `lean-light`, `kube-pod`,
//! `kube-metadata`). The child reads `VmRSS` from `/proc/self/status` (Linux; `n/a`
//! elsewhere), builds the cache as an informer would, pod by pod (decode one pod, drop
//! `managedFields` for the light forms, insert it into the indexed store, or apply it to
//! kube-runtime's store, which keeps a clone, and drop the event), reads `VmRSS` again
//! and reports the difference with the bytes it asked for (which must match the
//! in-process figure; a note is printed when they differ by more than 2 %). The figure
//! is what the process holds once building is done: the objects and store, the
//! allocator's headers and rounding, and whatever heap the allocator keeps from freed
//! temporaries: each pod's `serde_json::Value` (freed right after it is decoded, so only
//! one is live at a time but the holes it leaves stay between cached objects) and the
//! store's hash maps' old tables after they grow. glibc does not give that memory back
//! to the OS and trimming it (`malloc_trim`) would need `unsafe` FFI, so it is counted,
//! as it would be in an informer's process. The process's baseline (binary, runtime,
//! the fixture template) is subtracted.
//!
//! # Results
//!
//! On the 2-core machine of the other benches (counts of requested bytes do not vary
//! between runs), per pod, requested bytes and resident set size:
//!
//! ```text
//!                                          requested        RSS  RSS/req.
//! k8s-openapi Pod, Indexer + 2 indices       29,496 B   33,643 B     1.14x
//! DynamicObject, Indexer + 2 indices         30,435 B   35,732 B     1.17x
//! PartialObjectMetadata, Indexer + 2 ind.     2,806 B    3,526 B     1.26x
//!   the same, managedFields dropped           1,318 B    1,751 B     1.33x
//! LeanObject, Indexer + 2 indices             5,478 B    6,202 B     1.13x
//!   the same, managedFields dropped           3,990 B    4,416 B     1.11x
//! kube-runtime store of Pod                  29,300 B   33,421 B     1.14x
//! kube-runtime store, PartialObjectMeta      15,245 B   17,711 B     1.16x
//! ```
//!
//! Typed `Pod`s with the store and indices take 1.01x kube-runtime's store in requested
//! bytes and in RSS (371 B per pod of it the store and indices). `PartialObjectMetadata`
//! takes 2,806 B (2,436 B of objects), 0.18x kube-runtime's `PartialObjectMeta<Pod>`
//! store (0.20x in RSS), whose `managedFields` k8s-openapi decodes into a
//! `serde_json::Value` tree where this crate keeps their raw JSON text; with them dropped,
//! 1,318 B. `LeanObject` (typed metadata, the rest as compact JSON text) takes 0.19x the
//! typed pod: of its 5,478 B, about 2,650 B is the JSON text of `spec` and `status` and
//! about 1,490 B the `managedFields` (their `fieldsV1` text above all). Both forms keep
//! labels and annotations in a `StringMap` (one buffer of text and one of offsets per
//! map); with `BTreeMap`s, whose smallest node is over 500 bytes, they took about 400 B
//! more per pod (3,206 B and 5,854 B). The small allocations of the metadata-only forms
//! cost the most allocator overhead (1.26x to 1.33x). Figures before the pod-by-pod
//! construction (31,952 B typed, 4,240 B metadata-only, 6,888 B lean) counted
//! `size_of::<K>()` bytes per pod of a spent vector buffer.
//!
//! What a still leaner form has to save: the `managedFields` (client-go users drop them;
//! their `fieldsV1` texts repeat across the pods of one owner and could be shared), and
//! the JSON text of `spec` and `status`, whose keys repeat in every pod.

mod support;

use std::alloc::System;
use std::any::Any;
use std::process::Command;
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

/// Set in a child process: the form whose cache it builds and measures.
const FORM_VAR: &str = "INDEXER_MEMORY_FORM";

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
    let template = support::pod_template();
    let before = allocated();
    // Pod by pod, not by mapping a `Vec<K>`: collecting that in place would keep its
    // buffer (`N * size_of::<K>()` bytes) as the capacity of the `Vec<Arc<K>>`, and count
    // it as objects.
    let objects: Vec<Arc<K>> = (0..N)
        .map(|i| {
            let mut o: K = support::pod(&template, i, 1 + i as u64);
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

// ---------------------------------------------------------------------------------------
// Resident set size: one child process per form.

/// A cache whose resident set size the bench measures, each in a process of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Pod,
    Dynamic,
    Metadata,
    MetadataLight,
    Lean,
    LeanLight,
    KubePod,
    KubeMetadata,
}

impl Form {
    const ALL: [Form; 8] = [
        Form::Pod,
        Form::Dynamic,
        Form::Metadata,
        Form::MetadataLight,
        Form::Lean,
        Form::LeanLight,
        Form::KubePod,
        Form::KubeMetadata,
    ];

    /// The value of `INDEXER_MEMORY_FORM` for this form.
    fn name(self) -> &'static str {
        match self {
            Form::Pod => "pod",
            Form::Dynamic => "dynamic",
            Form::Metadata => "metadata",
            Form::MetadataLight => "metadata-light",
            Form::Lean => "lean",
            Form::LeanLight => "lean-light",
            Form::KubePod => "kube-pod",
            Form::KubeMetadata => "kube-metadata",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Form::Pod => "k8s-openapi Pod, Indexer + 2 indices",
            Form::Dynamic => "DynamicObject, Indexer + 2 indices",
            Form::Metadata => "PartialObjectMetadata, Indexer + 2 ind.",
            Form::MetadataLight => "  the same, managedFields dropped",
            Form::Lean => "LeanObject, Indexer + 2 indices",
            Form::LeanLight => "  the same, managedFields dropped",
            Form::KubePod => "kube-runtime store of Pod",
            Form::KubeMetadata => "kube-runtime store, PartialObjectMeta",
        }
    }

    /// Builds this form's cache of `N` pods, decoding and inserting them one at a time
    /// (as an informer does), so that each pod's `serde_json::Value` is freed before the
    /// next is built.
    fn build(self) -> Box<dyn Any> {
        match self {
            Form::Pod => Box::new(our_cache::<Pod>(false)),
            Form::Dynamic => Box::new(our_cache::<DynamicObject>(false)),
            Form::Metadata => Box::new(our_cache::<PartialObjectMetadata>(false)),
            Form::MetadataLight => Box::new(our_cache::<PartialObjectMetadata>(true)),
            Form::Lean => Box::new(our_cache::<LeanObject>(false)),
            Form::LeanLight => Box::new(our_cache::<LeanObject>(true)),
            Form::KubePod => Box::new(kube_cache::<Pod>()),
            Form::KubeMetadata => Box::new(kube_cache::<PartialObjectMeta<Pod>>()),
        }
    }
}

/// The indexed store of the in-process measurement, filled pod by pod.
fn our_cache<K>(drop_managed_fields: bool) -> Indexer<K>
where
    K: Object + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let template = support::pod_template();
    let store = Indexer::new(
        Indexers::new()
            .with_fallible(NAMESPACE_INDEX, namespace_index)
            .with("app", app_index::<K>),
    );
    for i in 0..N {
        let mut o: K = support::pod(&template, i, 1 + i as u64);
        if drop_managed_fields {
            o.meta_mut().clear_managed_fields();
        }
        store.add(Arc::new(o)).expect("index functions succeed");
    }
    assert_eq!(store.len(), N);
    store
}

/// kube-runtime's store, applying one event per pod and dropping it.
fn kube_cache<K>() -> Writer<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + 'static,
{
    let template = support::pod_template();
    let mut writer = Writer::default();
    for i in 0..N {
        writer.apply_watcher_event(&Event::Apply(support::pod::<K>(&template, i, 1 + i as u64)));
    }
    assert_eq!(writer.as_reader().state().len(), N);
    writer
}

/// `VmRSS` of this process in bytes, from `/proc/self/status`; `None` where there is no
/// procfs (not Linux).
fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line["VmRSS:".len()..]
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The child: builds `form`'s cache and prints one line, `RSS REQUESTED`: the growth of
/// its resident set size (`n/a` without procfs) and the bytes it requested, over its
/// state before building.
fn child(form: Form) {
    let before = rss();
    let requested_before = allocated();
    let cache = form.build();
    let requested = allocated() - requested_before;
    let rss = match before.zip(rss()) {
        Some((b, a)) => (a as i64 - b as i64).to_string(),
        None => "n/a".to_owned(),
    };
    println!("{rss} {requested}");
    drop(cache);
}

/// What a child measured, in bytes over its start: the growth of its resident set size
/// (`None` without procfs) and the bytes it requested.
struct Resident {
    rss: Option<i64>,
    requested: i64,
}

/// Runs this binary once for `form`; `None` (with a note) if the child failed.
fn resident(form: Form) -> Option<Resident> {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .env(FORM_VAR, form.name())
        .output()
        .expect("start a child process");
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    let parsed = match words.as_slice() {
        [rss, requested] if out.status.success() => {
            requested.parse().ok().map(|requested| Resident {
                rss: rss.parse().ok(),
                requested,
            })
        }
        _ => None,
    };
    if parsed.is_none() {
        eprintln!(
            "note: the child for {} failed ({}): {}{}",
            form.name(),
            out.status,
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parsed
}

fn main() {
    if let Ok(name) = std::env::var(FORM_VAR) {
        let form = Form::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("{FORM_VAR}: unknown form {name:?}"));
        child(form);
        return;
    }
    // `cargo bench` passes `--bench`; this binary takes no options. The children run
    // first, one at a time, while this process is still small.
    let resident: Vec<(Form, Option<Resident>)> =
        Form::ALL.into_iter().map(|f| (f, resident(f))).collect();
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

    let requested = |form: Form| match form {
        Form::Pod => ours_total,
        Form::Dynamic => dyn_objects + dyn_store,
        Form::Metadata => meta_total,
        Form::MetadataLight => lean_meta_objects + lean_meta_store,
        Form::Lean => lean_objects + lean_store,
        Form::LeanLight => leaner_objects + leaner_store,
        Form::KubePod => kube_store,
        Form::KubeMetadata => kube_meta_store,
    };

    println!();
    println!("resident set size per cached pod, each form in a process holding only that cache");
    println!("(VmRSS after building minus before; see the module doc for what it includes)");
    println!(
        "  {:<40} {:>10} {:>10} {:>9}",
        "form", "requested", "RSS", "RSS/req."
    );
    for (form, measured) in &resident {
        let asked = requested(*form);
        let rss = measured.as_ref().and_then(|m| m.rss);
        println!(
            "  {:<40} {:>10} {:>10} {:>9}",
            form.label(),
            format!("{:.0} B", per_pod(asked)),
            rss.map_or("n/a".to_owned(), |r| format!("{:.0} B", per_pod(r))),
            rss.map_or("n/a".to_owned(), |r| format!(
                "{:.2}x",
                r as f64 / asked as f64
            )),
        );
        if let Some(m) = measured {
            // The child builds the cache pod by pod as this process does; the bytes it
            // asked for should match this process's figure.
            if (m.requested - asked).abs() as f64 > 0.02 * asked as f64 {
                println!(
                    "    note: the child asked for {:.0} B per pod",
                    per_pod(m.requested)
                );
            }
        }
    }
}
