//! DeltaFifo throughput: add N then pop N, and a `replace` of 100,000 objects of which
//! 10% are absent from the list (and so become tombstones).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use informer::cache::{DeltaFifo, Indexer, Indexers, KnownObjects, ProcessError};
use informer::meta::DynamicObject;

const N: usize = 100_000;

fn benches(c: &mut Criterion) {
    eprintln!("decoding {N} pods ...");
    let pods: Vec<Arc<DynamicObject>> = support::pods::<DynamicObject>(N, 1)
        .into_iter()
        .map(Arc::new)
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");

    let mut g = c.benchmark_group("delta_fifo");
    g.throughput(Throughput::Elements(N as u64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function(BenchmarkId::new("add_then_pop", N), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fifo: DeltaFifo<DynamicObject> = DeltaFifo::new(None);
                let start = Instant::now();
                for p in &pods {
                    fifo.add(p.clone()).unwrap();
                }
                rt.block_on(async {
                    for _ in 0..N {
                        fifo.pop(|_, d, _| Ok::<_, ProcessError<()>>(d.len()))
                            .await
                            .unwrap();
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });

    // The store knows all N; the relist lists 90% of them.
    let store = Indexer::new(Indexers::new());
    for p in &pods {
        store.add(p.clone()).unwrap();
    }
    let known: Arc<dyn KnownObjects<DynamicObject>> = Arc::new(store);
    let listed: Vec<Arc<DynamicObject>> = pods
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 != 0)
        .map(|(_, p)| p.clone())
        .collect();
    g.bench_function(BenchmarkId::new("replace_10pct_absent", N), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let fifo = DeltaFifo::new(Some(known.clone()));
                let list = listed.clone();
                let start = Instant::now();
                fifo.replace(list, "1").unwrap();
                total += start.elapsed();
                assert_eq!(fifo.len(), N);
            }
            total
        })
    });
    g.finish();
}

fn main() {
    let mut c = support::criterion();
    benches(&mut c);
    c.final_summary();
    for op in ["add_then_pop", "replace_10pct_absent"] {
        if let Some(ns) = support::median_ns("delta_fifo", op, &N.to_string()) {
            println!(
                "delta_fifo {op}: median {} per iteration, {} per object",
                support::format_ns(ns),
                support::format_ns(ns / N as f64)
            );
        }
    }
}
