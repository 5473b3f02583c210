//! Property tests of the work queue: random interleavings of adds, delayed and
//! rate-limited adds, gets and dones over several workers never hand one item to two
//! workers at once, and never lose an item that was added after it was last handed out.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::FutureExt;
use informer::workqueue::{ItemExponentialFailureRateLimiter, WorkItem, WorkQueue};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Add(u8),
    AddAfter(u8, u8),
    AddRateLimited(u8),
    Get(usize),
    Done(usize),
    Sleep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6).prop_map(Op::Add),
        1 => (0u8..6, 0u8..3).prop_map(|(k, d)| Op::AddAfter(k, d)),
        1 => (0u8..6).prop_map(Op::AddRateLimited),
        4 => (0usize..4).prop_map(Op::Get),
        3 => (0usize..4).prop_map(Op::Done),
        1 => Just(Op::Sleep),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// What the model expects: items that must be handed out again (added since they were
/// last handed out), and items that may be (a delayed add still pending).
#[derive(Default)]
struct Model {
    must: BTreeSet<u8>,
    may: BTreeMap<u8, u32>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn no_item_is_held_twice_and_none_is_lost(ops in proptest::collection::vec(op(), 1..120)) {
        runtime().block_on(async {
            let q: WorkQueue<u8> = WorkQueue::builder("prop")
                .rate_limiter(ItemExponentialFailureRateLimiter::new(
                    Duration::from_micros(100),
                    Duration::from_millis(2),
                ))
                .build();
            let mut workers: Vec<Option<WorkItem<u8>>> = (0..4).map(|_| None).collect();
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Add(k) => {
                        q.add(k);
                        model.must.insert(k);
                    }
                    Op::AddAfter(k, d) => {
                        q.add_after(k, Duration::from_millis(u64::from(d)));
                        if d == 0 {
                            model.must.insert(k);
                        } else {
                            *model.may.entry(k).or_default() += 1;
                        }
                    }
                    Op::AddRateLimited(k) => {
                        prop_assert!(q.add_rate_limited(k));
                        *model.may.entry(k).or_default() += 1;
                    }
                    Op::Get(w) => {
                        if workers[w].is_none() {
                            if let Some(item) = q.get().now_or_never().flatten() {
                                let k = *item;
                                for (other, held) in workers.iter().enumerate() {
                                    prop_assert!(
                                        held.as_ref().is_none_or(|h| **h != k),
                                        "item {k} handed to worker {w} while worker {other} holds it"
                                    );
                                }
                                let expected = model.must.remove(&k) || model.may.contains_key(&k);
                                prop_assert!(expected, "item {k} handed out but never added since");
                                workers[w] = Some(item);
                            }
                        }
                    }
                    Op::Done(w) => {
                        workers[w] = None;
                    }
                    Op::Sleep => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
            // Finish: every worker is done, then everything still owed comes out.
            for w in &mut workers {
                *w = None;
            }
            let mut seen = BTreeSet::new();
            loop {
                if q.is_idle() {
                    break;
                }
                let item = tokio::time::timeout(Duration::from_secs(2), q.get())
                    .await
                    .expect("an item was owed but none came within 2 s")
                    .expect("not shut down");
                seen.insert(*item);
                model.must.remove(&*item);
            }
            prop_assert!(model.must.is_empty(), "lost items: {:?}", model.must);
            q.shut_down();
            prop_assert!(q.get().await.is_none());
            Ok(())
        })?;
    }
}

/// Several workers on a multi-threaded runtime hammer a few hot keys: never two holders.
#[test]
fn concurrent_workers_never_share_an_item() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let q: WorkQueue<u32> = WorkQueue::new("hot");
        let held = std::sync::Arc::new(parking_lot::Mutex::new(BTreeSet::new()));
        let processed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (q, held, processed) = (q.clone(), held.clone(), processed.clone());
                tokio::spawn(async move {
                    while let Some(item) = q.get().await {
                        assert!(held.lock().insert(*item), "{} held twice", *item);
                        tokio::task::yield_now().await;
                        assert!(held.lock().remove(&*item));
                        processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for round in 0..2_000u32 {
            q.add(round % 10);
            if round % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
        // Let the workers catch up, then stop them.
        tokio::time::timeout(Duration::from_secs(10), async {
            while !q.is_idle() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the queue drained");
        q.shut_down();
        for w in workers {
            w.await.unwrap();
        }
        let n = processed.load(std::sync::atomic::Ordering::Relaxed);
        assert!((10..=2_000).contains(&n), "{n}");
    });
}
