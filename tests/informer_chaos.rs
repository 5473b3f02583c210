//! Chaos: seeded random creates, updates and deletes over a few hundred ConfigMaps,
//! interleaved with random faults (dropped watches, 410s, 500s, 503s, compaction,
//! restarts, malformed lines). After quiescence the informer's cache must equal the
//! server exactly, and the state rebuilt from each handler's events must equal it too,
//! with no event that contradicts the handler's view (an add of a key it holds, an update
//! from a state it never saw, a delete of a key it lacks).
//!
//! Both queues (DeltaFifo and in-order) are exercised, over whole objects, metadata-only
//! ones (`PartialObjectMetadata`) and lean ones (`LeanObject`). CI runs a few seeds
//! (`INFORMER_CHAOS_SEEDS`, default 3); the ignored test runs 50:
//! `cargo test --all-features --test informer_chaos -- --ignored`. Every seed runs
//! whatever happens to the others, and the result of each is reported (one line per
//! run on standard error, and all of them in the failure message).

mod support;

use std::time::Duration;

use informer::cache::{InformerOptions, ListWatch, QueueMode, SharedIndexInformer};
use informer::client::{Api, RestClient};
use informer::meta::{ApiResource, LeanObject, Object};
use informer::testing::{ApiServer, Failure, Verb};
use support::*;

/// A small xorshift generator: the same seed gives the same run of operations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const OBJECTS: u64 = 300;
const STEPS: usize = 600;

/// What the informer lists and watches: whole objects or their metadata only.
#[derive(Clone, Copy, Debug)]
enum Form {
    Whole,
    Metadata,
    Lean,
}

fn inject_fault(server: &ApiServer, rng: &mut Rng) -> String {
    let faults = server.faults();
    match rng.below(9) {
        0 => {
            faults.drop_watches();
            "drop watches".into()
        }
        1 => {
            let n = rng.below(5) as usize;
            faults.drop_watches_after(n);
            format!("drop watches after {n}")
        }
        2 => {
            faults.compact();
            "compact".into()
        }
        3 => {
            let compact = rng.below(2) == 0;
            faults.restart(compact);
            format!("restart (compact: {compact})")
        }
        4 => {
            faults.malformed_line();
            "malformed line".into()
        }
        5 => {
            faults.fail_next(1, Some(Verb::Watch), "/configmaps", Failure::status(410));
            faults.drop_watches();
            "watch 410".into()
        }
        6 => {
            let n = 1 + rng.below(2) as usize;
            faults.fail_next(n, Some(Verb::List), "/configmaps", Failure::status(500));
            faults.compact();
            faults.drop_watches();
            format!("{n} list 500s after compaction")
        }
        7 => {
            faults.fail_next(1, None, "/configmaps", Failure::status(503));
            faults.drop_watches();
            "503".into()
        }
        _ => {
            faults.fail_next(1, Some(Verb::List), "/configmaps", Failure::status(410));
            faults.compact();
            faults.drop_watches();
            "list 410 after compaction".into()
        }
    }
}

fn run_seed(seed: u64, queue: QueueMode, form: Form) {
    match form {
        Form::Whole => run_seed_as(seed, queue, Api::<Obj>::all_with),
        Form::Metadata => run_seed_as(seed, queue, Api::all_metadata),
        Form::Lean => run_seed_as(seed, queue, Api::<LeanObject>::all_with),
    }
}

fn run_seed_as<K>(seed: u64, queue: QueueMode, api: fn(RestClient, &ApiResource) -> Api<K>)
where
    K: Object + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    bounded(async move {
        let server = ApiServer::builder()
            .history_limit(150)
            .bookmark_interval(Duration::from_millis(100))
            .start()
            .await
            .unwrap();
        let mut rng = Rng::new(seed);
        let mut live = vec![false; OBJECTS as usize];
        for i in 0..OBJECTS / 3 {
            create(&server, "default", &format!("o{i}"), "0");
            live[i as usize] = true;
        }
        let api = api(client(&server), &configmaps());
        let options = InformerOptions {
            queue,
            ..fast_options("chaos")
        };
        let inf = SharedIndexInformer::new(ListWatch::new(api), options);
        let early = Recorder::default();
        inf.add_event_handler(early.clone()).unwrap();
        let slow = Recorder::slow(Duration::from_micros(200));
        inf.add_event_handler(slow.clone()).unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn({
            let (inf, stop) = (inf.clone(), stop.clone());
            async move { inf.run(stop).await }
        });
        let mut late = None;
        let mut log = Vec::new();
        for step in 0..STEPS {
            let i = rng.below(OBJECTS) as usize;
            let name = format!("o{i}");
            if live[i] {
                if rng.below(3) == 0 {
                    delete(&server, "default", &name);
                    live[i] = false;
                } else {
                    update(&server, "default", &name, &step.to_string());
                }
            } else {
                create(&server, "default", &name, &step.to_string());
                live[i] = true;
            }
            if rng.below(25) == 0 {
                log.push(format!("step {step}: {}", inject_fault(&server, &mut rng)));
            }
            if step == STEPS / 2 {
                let rec = Recorder::default();
                inf.add_event_handler(rec.clone()).unwrap();
                late = Some(rec);
            }
            if rng.below(8) == 0 {
                tokio::time::sleep(Duration::from_millis(rng.below(6))).await;
            }
        }
        server.faults().clear();
        let want = server_state(&server);
        let late = late.expect("late handler");
        let converged = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if cache_state(inf.get_indexer().list()) == want
                    && [&early, &slow, &late].iter().all(|r| r.state() == want)
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let cache = cache_state(inf.get_indexer().list());
        assert!(
            converged.is_ok(),
            "seed {seed} ({queue:?}): no convergence; cache has {} of {} objects, handlers {} {} {}; faults: {log:?}; metrics {:?}",
            cache.len(),
            want.len(),
            early.state().len(),
            slow.state().len(),
            late.state().len(),
            inf.metrics(),
        );
        for (name, rec) in [("early", &early), ("slow", &slow), ("late", &late)] {
            assert_eq!(
                rec.anomalies(),
                Vec::<String>::new(),
                "seed {seed}: the {name} handler heard contradicting events; faults: {log:?}"
            );
        }
        let m = inf.metrics();
        assert!(
            m.reflector.relists > 0 || m.reflector.watch_errors > 0 || m.reflector.watches > 1,
            "seed {seed}: the faults went unnoticed: {m:?}"
        );
        stop.cancel();
        task.await.expect("no panic").expect("ran");
        server.shutdown().await;
    });
}

/// Runs every seed with both queues, whatever happens to the others, prints one line per
/// run, and fails at the end listing every run's result.
fn run_seeds(seeds: impl IntoIterator<Item = u64>, form: Form) {
    let mut report = Vec::new();
    let mut failed = 0;
    for seed in seeds {
        for queue in [QueueMode::DeltaFifo, QueueMode::InOrder] {
            let started = std::time::Instant::now();
            let result = std::panic::catch_unwind(|| run_seed(seed, queue, form));
            let line = match result {
                Ok(()) => format!(
                    "seed {seed} ({queue:?}, {form:?}): ok in {:?}",
                    started.elapsed()
                ),
                Err(panic) => {
                    failed += 1;
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic".to_owned());
                    format!("seed {seed} ({queue:?}, {form:?}): FAILED: {message}")
                }
            };
            eprintln!("{line}");
            report.push(line);
        }
    }
    assert!(
        failed == 0,
        "{failed} of {} chaos runs failed:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[test]
fn chaos_seeds_for_ci() {
    let seeds: u64 = std::env::var("INFORMER_CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    run_seeds(1..=seeds, Form::Whole);
}

#[test]
fn chaos_seeds_for_ci_metadata_only() {
    run_seeds(1..=2, Form::Metadata);
}

#[test]
fn chaos_seeds_for_ci_lean_objects() {
    run_seeds(1..=2, Form::Lean);
}

#[test]
#[ignore = "runs 50 seeds with each queue and form; about three minutes"]
fn chaos_many_seeds() {
    run_seeds(1000..1050, Form::Whole);
    run_seeds(1000..1050, Form::Metadata);
    run_seeds(1000..1050, Form::Lean);
}
