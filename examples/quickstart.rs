//! Quickstart: the informer pipeline's foundation, in memory.
//!
//! The Reflector, the embedded API server and the client are not built yet, so this
//! example plays their part: a producer task lists 300 pods into a `DeltaFifo` with
//! `replace` (as a Reflector's initial list does), then churns them with adds, updates
//! and deletes (as a watch would), and finally relists with 10% of the pods gone. A
//! consumer task pops the deltas into an `Indexer` exactly as the controller loop does
//! (add versus update decided by whether the store holds the key, deletions with or
//! without a tombstone) and prints concise events. At the end it queries the store by
//! namespace and by label selector and prints a summary.
//!
//! Run it with `cargo run --release --example quickstart`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer::cache::{
    namespace_index, DeltaFifo, DeltaObject, DeltaType, Indexer, Indexers, KnownObjects, PopError,
    ProcessError, NAMESPACE_INDEX,
};
use informer::meta::{DynamicObject, Object, ObjectMeta};
use informer::selector::LabelSelector;

const NAMESPACES: [&str; 3] = ["shop", "bank", "blog"];
const APPS: [&str; 4] = ["web", "api", "db", "cache"];
const PODS: usize = 300;

fn pod(i: usize, version: u64) -> Arc<DynamicObject> {
    let labels = BTreeMap::from([
        ("app".to_owned(), APPS[i % APPS.len()].to_owned()),
        (
            "tier".to_owned(),
            if i % 2 == 0 { "frontend" } else { "backend" }.to_owned(),
        ),
    ]);
    Arc::new(DynamicObject {
        metadata: ObjectMeta {
            name: Some(format!("pod-{i:03}")),
            namespace: Some(NAMESPACES[i % NAMESPACES.len()].to_owned()),
            resource_version: Some(version.to_string()),
            labels: Some(labels),
            ..Default::default()
        },
        data: serde_json::json!({"spec": {"containers": [{"name": "main", "image": "nginx"}]}}),
        ..Default::default()
    })
}

#[derive(Default)]
struct Counts {
    added: usize,
    updated: usize,
    deleted: usize,
    tombstones: usize,
    printed: usize,
}

impl Counts {
    fn print(&mut self, line: String) {
        // Print the first events and then every 25th, to keep the output short.
        self.printed += 1;
        if self.printed <= 8 || self.printed % 25 == 0 {
            println!("  {line}");
        }
    }
}

/// The controller loop's HandleDeltas: apply one key's deltas to the store.
fn handle_deltas(
    store: &Indexer<DynamicObject>,
    counts: &mut Counts,
    key: &str,
    deltas: &informer::cache::Deltas<DynamicObject>,
    initial: bool,
) -> Result<(), ProcessError<String>> {
    for delta in deltas {
        let rv = delta
            .object
            .object()
            .resource_version()
            .unwrap_or("?")
            .to_owned();
        match delta.kind {
            DeltaType::Deleted => {
                store
                    .delete_by_key(key)
                    .map_err(|e| ProcessError::Fail(e.to_string()))?;
                counts.deleted += 1;
                if let DeltaObject::Tombstone(t) = &delta.object {
                    counts.tombstones += 1;
                    counts.print(format!(
                        "DELETE {key} (missed; last known rv {rv}, tombstone {})",
                        t.key
                    ));
                } else {
                    counts.print(format!("DELETE {key} rv {rv}"));
                }
            }
            _ => {
                // The store hands back what it replaced: present means update.
                let old = store
                    .add(delta.object.object().clone())
                    .map_err(|e| ProcessError::Fail(e.to_string()))?;
                if old.is_some() {
                    counts.updated += 1;
                    counts.print(format!("UPDATE {key} rv {rv} ({:?})", delta.kind));
                } else {
                    counts.added += 1;
                    let tag = if initial { " [initial list]" } else { "" };
                    counts.print(format!("ADD    {key} rv {rv}{tag}"));
                }
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    println!("informer quickstart: an in-memory demo of the Indexer and the DeltaFifo");
    println!("(the Reflector and embedded API server arrive with later issues)\n");
    let started = Instant::now();

    let store = Indexer::new(
        Indexers::new()
            .with_fallible(NAMESPACE_INDEX, namespace_index)
            .with("app", |p: &DynamicObject| {
                p.labels()
                    .and_then(|l| l.get("app"))
                    .cloned()
                    .into_iter()
                    .collect()
            }),
    );
    let known: Arc<dyn KnownObjects<DynamicObject>> = Arc::new(store.clone());
    let fifo = Arc::new(DeltaFifo::new(Some(known)));

    let consumer = {
        let fifo = fifo.clone();
        let store = store.clone();
        tokio::spawn(async move {
            let mut counts = Counts::default();
            let mut synced_after = None;
            loop {
                let r = fifo
                    .pop(|key, deltas, initial| {
                        handle_deltas(&store, &mut counts, key, deltas, initial)
                    })
                    .await;
                match r {
                    Ok(()) => {}
                    Err(PopError::Closed) => break,
                    Err(PopError::Process(e)) => eprintln!("  processing failed: {e}"),
                }
                if synced_after.is_none() && fifo.has_synced() {
                    synced_after = Some(started.elapsed());
                    println!("  -- synced: {} pods in the store --", store.len());
                }
            }
            (counts, synced_after)
        })
    };

    // Initial list, as a Reflector's first list would deliver it.
    let mut version = 1000u64;
    let list: Vec<_> = (0..PODS).map(|i| pod(i, version)).collect();
    fifo.replace(list, &version.to_string())
        .expect("pods have names");

    // Watch-like churn: updates, deletes and new pods.
    for round in 0..200usize {
        version += 1;
        let i = (round * 7) % PODS;
        match round % 4 {
            0 | 1 => fifo.update(pod(i, version)).expect("named"),
            2 => fifo.delete(pod(i, version)).expect("named"),
            _ => fifo.add(pod(PODS + round, version)).expect("named"),
        }
        if round % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    // A relist after a watch gap: 10% of the original pods are gone, and the FIFO turns
    // their absence into deletions carrying tombstones.
    tokio::time::sleep(Duration::from_millis(50)).await;
    version += 1;
    let relist: Vec<_> = (0..PODS)
        .filter(|i| i % 10 != 0)
        .map(|i| pod(i, version))
        .collect();
    fifo.replace(relist, &version.to_string())
        .expect("pods have names");

    // Let the consumer drain, then stop it.
    while !fifo.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    fifo.close();
    let (counts, synced_after) = consumer.await.expect("consumer task");

    println!("\nqueries against the store:");
    let shop = store
        .by_index(NAMESPACE_INDEX, "shop")
        .expect("namespace index");
    println!("  namespace shop: {} pods", shop.len());
    let selector = LabelSelector::parse("app in (web,api),tier=frontend").expect("valid selector");
    let matching = store
        .list()
        .into_iter()
        .filter(|p| selector.matches_object(&**p))
        .count();
    println!(
        "  label selector {selector:?}: {matching} pods",
        selector = selector.to_string()
    );
    let web = store.index_keys("app", "web").expect("app index");
    println!("  app=web via the app index: {} pods", web.len());

    println!("\nsummary:");
    println!(
        "  events: {} added, {} updated, {} deleted ({} via tombstone)",
        counts.added, counts.updated, counts.deleted, counts.tombstones
    );
    println!("  cache size: {} pods", store.len());
    if let Some(t) = synced_after {
        println!("  initial sync: {:.1} ms", t.as_secs_f64() * 1e3);
    }
    println!("  total: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
}
