//! The Indexer against kube-runtime's reflector store, in the same run, on 100,000
//! realistic pods (k8s-openapi's `Pod`, shaped like `tests/fixtures/pod.json`) with a
//! `namespace` index and an `app` label index.
//!
//! Whole-collection operations (add, update, delete, reads) time all 100,000 operations
//! per iteration; the summary at the end divides by that and prints the ratio
//! ours/theirs from criterion's medians. Both stores own their objects exclusively, so a
//! replaced or deleted object is freed inside the timed operation for both. kube-runtime's
//! `apply_watcher_event` takes `&Event<K>` and clones the object into its `Arc`; ours takes
//! the `Arc<K>` the pipeline already decoded: each is timed through its own API. The
//! `_no_free` variants keep every stored object alive outside the store during the timed
//! part, so they measure the stores' own work without the allocator's cost of freeing a
//! replaced or deleted pod, which dominates the plain variants for both.

mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use informer::cache::{namespace_index, Indexer, Indexers, NAMESPACE_INDEX};
use informer::meta::Object;
use k8s_openapi::api::core::v1::Pod;
use kube_runtime::reflector::store::Writer;
use kube_runtime::reflector::ObjectRef;
use kube_runtime::watcher::Event;

const N: usize = 100_000;
const GROUP: &str = "indexer";
const OURS: &str = "informer";
const THEIRS: &str = "kube-runtime";

fn indexers() -> Indexers<Pod> {
    Indexers::new()
        .with_fallible(NAMESPACE_INDEX, namespace_index)
        .with("app", |p: &Pod| {
            p.labels()
                .and_then(|l| l.get("app"))
                .map(str::to_owned)
                .into_iter()
                .collect()
        })
}

/// `n` pods as `Arc`s, resourceVersions from `base_version`.
fn arcs(base_version: u64) -> Vec<Arc<Pod>> {
    support::pods::<Pod>(N, base_version)
        .into_iter()
        .map(Arc::new)
        .collect()
}

fn apply_events(base_version: u64) -> Vec<Event<Pod>> {
    support::pods::<Pod>(N, base_version)
        .into_iter()
        .map(Event::Apply)
        .collect()
}

/// A full store owning deep copies of `pods`, so that replacing or deleting an entry frees
/// the object inside the timed operation, as it does in kube-runtime's store.
fn our_exclusive_store(pods: &[Arc<Pod>]) -> Indexer<Pod> {
    let store = Indexer::new(indexers());
    for p in pods {
        store.add(Arc::new((**p).clone())).unwrap();
    }
    store
}

fn their_store(events: &[Event<Pod>]) -> Writer<Pod> {
    let mut writer = Writer::default();
    for e in events {
        writer.apply_watcher_event(e);
    }
    writer
}

/// A full store of ours plus every stored object held outside it, so that nothing the
/// timed part replaces or deletes is freed there.
fn our_store_kept(pods: &[Arc<Pod>]) -> (Indexer<Pod>, Vec<Arc<Pod>>) {
    let store = our_exclusive_store(pods);
    let kept = store.list();
    (store, kept)
}

/// The same for kube-runtime's store.
fn their_store_kept(events: &[Event<Pod>]) -> (Writer<Pod>, Vec<Arc<Pod>>) {
    let writer = their_store(events);
    let kept = writer.as_reader().state();
    (writer, kept)
}

fn object_ref(p: &Pod) -> ObjectRef<Pod> {
    ObjectRef::new(p.name().unwrap()).within(p.namespace().unwrap())
}

fn key(p: &Pod) -> String {
    format!("{}/{}", p.namespace().unwrap(), p.name().unwrap())
}

/// Times `op` on a fresh state from `setup` per iteration; setup and teardown untimed.
fn timed<S>(iters: u64, mut setup: impl FnMut() -> S, mut op: impl FnMut(&mut S)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut state = setup();
        let start = Instant::now();
        op(&mut state);
        total += start.elapsed();
        drop(state);
    }
    total
}

/// Interval between the writer's updates in the concurrent-read benchmark: 10,000
/// updates per second, a rate both stores sustain, so that both readers face the same
/// write traffic.
const WRITE_INTERVAL: Duration = Duration::from_micros(100);

/// Time for two threads to do their lookups while a third thread calls `write(i)` at
/// a fixed rate.
fn two_readers_one_writer(read: impl Fn() + Sync, write: impl Fn(usize) + Sync) -> Duration {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let start = Instant::now();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                write(i);
                let next = start + WRITE_INTERVAL * (i as u32 + 1);
                // Sleep, not spin: with two cores, a spinning writer would take a
                // reader's core.
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        });
        let start = Instant::now();
        let readers: Vec<_> = (0..2).map(|_| scope.spawn(&read)).collect();
        for r in readers {
            r.join().unwrap();
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        elapsed
    })
}

// A k8s-openapi Pod decoded from the fixture takes about 31 KB, so 100,000 of them take
// about 3 GB: each phase below keeps at most three such sets alive and drops them
// before the next phase.
fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group(GROUP);
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(1));
    g.measurement_time(Duration::from_secs(2));

    eprintln!("phase: ours, writes");
    {
        let v1 = arcs(1_000_000);
        let v2 = arcs(2_000_000);
        g.bench_function(BenchmarkId::new("add_all", OURS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || Indexer::new(indexers()),
                    |s| {
                        for p in &v1 {
                            s.add(p.clone()).unwrap();
                        }
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("update_all", OURS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || our_exclusive_store(&v1),
                    |s| {
                        for p in &v2 {
                            s.update(p.clone()).unwrap();
                        }
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("delete_all", OURS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || our_exclusive_store(&v1),
                    |s| {
                        for p in &v1 {
                            s.delete(p).unwrap();
                        }
                    },
                )
            })
        });
        // The same with every stored object also held outside the store, so that no
        // object is freed inside the timed part: the store's own work only.
        g.bench_function(BenchmarkId::new("update_all_no_free", OURS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || our_store_kept(&v1),
                    |(s, _)| {
                        for p in &v2 {
                            s.update(p.clone()).unwrap();
                        }
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("delete_all_no_free", OURS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || our_store_kept(&v1),
                    |(s, _)| {
                        for p in &v1 {
                            s.delete(p).unwrap();
                        }
                    },
                )
            })
        });
    }

    eprintln!("phase: kube-runtime, writes");
    {
        let v1 = apply_events(1_000_000);
        g.bench_function(BenchmarkId::new("add_all", THEIRS), |b| {
            b.iter_custom(|iters| {
                timed(iters, Writer::<Pod>::default, |w| {
                    for e in &v1 {
                        w.apply_watcher_event(e);
                    }
                })
            })
        });
        // Deletion reads only the name and namespace: metadata-only pods suffice.
        let deletes: Vec<Event<Pod>> = v1
            .iter()
            .map(|e| match e {
                Event::Apply(p) => Event::Delete(Pod {
                    metadata: p.metadata.clone(),
                    ..Pod::default()
                }),
                _ => unreachable!(),
            })
            .collect();
        g.bench_function(BenchmarkId::new("delete_all", THEIRS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || their_store(&v1),
                    |w| {
                        for e in &deletes {
                            w.apply_watcher_event(e);
                        }
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("delete_all_no_free", THEIRS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || their_store_kept(&v1),
                    |(w, _)| {
                        for e in &deletes {
                            w.apply_watcher_event(e);
                        }
                    },
                )
            })
        });
        drop(deletes);
        let v2 = apply_events(2_000_000);
        g.bench_function(BenchmarkId::new("update_all", THEIRS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || their_store(&v1),
                    |w| {
                        for e in &v2 {
                            w.apply_watcher_event(e);
                        }
                    },
                )
            })
        });
        g.bench_function(BenchmarkId::new("update_all_no_free", THEIRS), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || their_store_kept(&v1),
                    |(w, _)| {
                        for e in &v2 {
                            w.apply_watcher_event(e);
                        }
                    },
                )
            })
        });
    }

    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(4));

    eprintln!("phase: ours, reads");
    {
        let v1 = arcs(1_000_000);
        let keys: Vec<String> = v1.iter().map(|p| key(p)).collect();
        let store = Indexer::new(indexers());
        for p in &v1 {
            store.add(p.clone()).unwrap();
        }
        g.bench_function(BenchmarkId::new("get_by_key_all", OURS), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(store.get_by_key(k));
                }
            })
        });
        g.bench_function(BenchmarkId::new("list", OURS), |b| {
            b.iter(|| black_box(store.list()))
        });
        g.throughput(Throughput::Elements(2 * N as u64));
        g.bench_function(BenchmarkId::new("get_2_readers_1_writer", OURS), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        two_readers_one_writer(
                            || {
                                for k in &keys {
                                    black_box(store.get_by_key(k));
                                }
                            },
                            |i| {
                                store.update(v1[i % N].clone()).unwrap();
                            },
                        )
                    })
                    .sum()
            })
        });

        // Index reads have no peer: kube-runtime's store has no indices.
        g.throughput(Throughput::Elements(1));
        let ns = support::namespace_of(42);
        let app = support::app_of(4200);
        assert_eq!(store.by_index(NAMESPACE_INDEX, &ns).unwrap().len(), 1_000);
        assert_eq!(store.by_index("app", &app).unwrap().len(), 2_000);
        g.bench_function(BenchmarkId::new("by_index_namespace_1000", OURS), |b| {
            b.iter(|| black_box(store.by_index(NAMESPACE_INDEX, &ns).unwrap()))
        });
        g.bench_function(BenchmarkId::new("by_index_app_2000", OURS), |b| {
            b.iter(|| black_box(store.by_index("app", &app).unwrap()))
        });
        g.throughput(Throughput::Elements(N as u64));
    }

    eprintln!("phase: kube-runtime, reads");
    {
        let v1 = apply_events(1_000_000);
        let refs: Vec<ObjectRef<Pod>> = v1
            .iter()
            .map(|e| match e {
                Event::Apply(p) => object_ref(p),
                _ => unreachable!(),
            })
            .collect();
        let writer = parking_lot::Mutex::new(their_store(&v1));
        let reader = writer.lock().as_reader();
        g.bench_function(BenchmarkId::new("get_by_key_all", THEIRS), |b| {
            b.iter(|| {
                for r in &refs {
                    black_box(reader.get(r));
                }
            })
        });
        g.bench_function(BenchmarkId::new("list", THEIRS), |b| {
            b.iter(|| black_box(reader.state()))
        });
        g.throughput(Throughput::Elements(2 * N as u64));
        g.bench_function(BenchmarkId::new("get_2_readers_1_writer", THEIRS), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        two_readers_one_writer(
                            || {
                                for r in &refs {
                                    black_box(reader.get(r));
                                }
                            },
                            |i| {
                                writer.lock().apply_watcher_event(&v1[i % N]);
                            },
                        )
                    })
                    .sum()
            })
        });
    }
    g.finish();
}

fn main() {
    let mut c = support::criterion();
    benches(&mut c);
    c.final_summary();
    let n = N as u64;
    support::print_ratios(
        GROUP,
        OURS,
        THEIRS,
        &[
            ("add_all", n),
            ("update_all", n),
            ("delete_all", n),
            ("update_all_no_free", n),
            ("delete_all_no_free", n),
            ("get_by_key_all", n),
            ("list", 1),
            ("get_2_readers_1_writer", 2 * n),
            ("by_index_namespace_1000", 1),
            ("by_index_app_2000", 1),
        ],
    );
}
