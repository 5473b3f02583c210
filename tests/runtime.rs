//! The reconcile runtime against the embedded API server over loopback HTTP: workers
//! start after sync, owned children map to their owner, a key is never reconciled twice
//! at once and a change during a reconcile causes exactly one more, errors and panics
//! retry with backoff, the retry limit, a deletion missed during a watch outage reaches
//! `reconcile` as `None`, periodic requeues, and shutdown on time.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use informer::cache::{ListWatch, SharedIndexInformer};
use informer::client::Api;
use informer::meta::ApiResource;
use informer::runtime::{Action, Controller, ControllerError, ObjectKey, Retry};
use informer::testing::{ApiServer, Failure, Verb};
use informer::workqueue::ItemExponentialFailureRateLimiter;
use parking_lot::Mutex;
use serde_json::json;
use support::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

fn secrets() -> ApiResource {
    ApiResource::new("", "v1", "Secret", "secrets", true)
}

fn informer_of(server: &ApiServer, resource: &ApiResource) -> SharedIndexInformer<Obj> {
    let api: Api<Obj> = Api::all_with(client(server), resource);
    SharedIndexInformer::new(ListWatch::new(api), fast_options(&resource.plural))
}

fn controller(server: &ApiServer) -> Controller<Obj> {
    Controller::for_resource(informer_of(server, &configmaps()), &configmaps())
        .rate_limiter(ItemExponentialFailureRateLimiter::new(
            Duration::from_millis(20),
            Duration::from_secs(1),
        ))
        .shutdown_timeout(Duration::from_secs(5))
}

/// What the reconciles saw: per key, `true` for an object and `false` for `None`.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, bool, Instant)>>>);

impl Seen {
    fn push(&self, key: &ObjectKey, present: bool) {
        self.0
            .lock()
            .push((key.to_string(), present, Instant::now()));
    }
    fn of(&self, key: &str) -> Vec<bool> {
        self.0
            .lock()
            .iter()
            .filter(|(k, ..)| k == key)
            .map(|(_, p, _)| *p)
            .collect()
    }
    fn times(&self, key: &str) -> Vec<Instant> {
        self.0
            .lock()
            .iter()
            .filter(|(k, ..)| k == key)
            .map(|(.., t)| *t)
            .collect()
    }
    fn len(&self) -> usize {
        self.0.lock().len()
    }
}

type Running = (
    Arc<Controller<Obj>>,
    CancellationToken,
    JoinHandle<Result<(), ControllerError>>,
);

/// Runs `controller` with a reconcile that records what it sees and then runs `then`.
fn start<F>(controller: Controller<Obj>, seen: &Seen, then: F) -> Running
where
    F: Fn(&ObjectKey) -> Result<Action, String> + Send + Sync + 'static,
{
    let controller = Arc::new(controller);
    let stop = CancellationToken::new();
    let then = Arc::new(then);
    let task = tokio::spawn({
        let (controller, stop, seen) = (controller.clone(), stop.clone(), seen.clone());
        async move {
            controller
                .run(
                    move |key: ObjectKey, obj: Option<Arc<Obj>>| {
                        let (seen, then) = (seen.clone(), then.clone());
                        async move {
                            seen.push(&key, obj.is_some());
                            then(&key)
                        }
                    },
                    |_, _, _| Retry::Backoff,
                    stop,
                )
                .await
        }
    });
    (controller, stop, task)
}

async fn stop(running: Running) {
    let (_, stop, task) = running;
    stop.cancel();
    let started = Instant::now();
    task.await.expect("no panic").expect("stopped cleanly");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "run returned promptly"
    );
}

#[test]
fn every_object_is_reconciled_once_after_sync_and_gone_objects_get_none() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        for i in 0..20 {
            create(&server, "default", &format!("c{i}"), "x");
        }
        let seen = Seen::default();
        let running = start(controller(&server), &seen, |_| Ok(Action::Done));
        wait_until("20 reconciles", || seen.len() == 20).await;
        wait_until("idle", || running.0.is_idle()).await;
        for i in 0..20 {
            assert_eq!(seen.of(&format!("default/c{i}")), [true]);
        }
        delete(&server, "default", "c3");
        wait_until("the deletion reconciled", || {
            seen.of("default/c3").len() == 2
        })
        .await;
        assert_eq!(seen.of("default/c3"), [true, false]);
        let m = running.0.metrics();
        assert_eq!((m.reconciles, m.errors), (21, 0));
        stop(running).await;
        server.shutdown().await;
    });
}

#[test]
fn owned_children_map_to_their_controlling_owner() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let owner = server
            .create(&configmaps(), cm("default", "parent", "x"))
            .unwrap();
        let uid = owner["metadata"]["uid"].as_str().unwrap().to_owned();
        let seen = Seen::default();
        let c = controller(&server).owns(informer_of(&server, &secrets()));
        let running = start(c, &seen, |_| Ok(Action::Done));
        wait_until("the parent reconciled", || {
            seen.of("default/parent").len() == 1
        })
        .await;
        let child = |name: &str, kind: &str, controller: bool| {
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": "default", "ownerReferences": [{
                    "apiVersion": "v1", "kind": kind, "name": "parent", "uid": uid,
                    "controller": controller,
                }]},
            })
        };
        server
            .create(&secrets(), child("owned", "ConfigMap", true))
            .unwrap();
        wait_until("the owned child's owner reconciled", || {
            seen.of("default/parent").len() == 2
        })
        .await;
        // Not the controller, or another kind: no reconcile of the parent.
        server
            .create(&secrets(), child("ref-only", "ConfigMap", false))
            .unwrap();
        server
            .create(&secrets(), child("other-kind", "Deployment", true))
            .unwrap();
        server.delete(&secrets(), Some("default"), "owned").unwrap();
        wait_until("the child's deletion reconciled its owner", || {
            seen.of("default/parent").len() == 3
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(seen.of("default/parent").len(), 3);
        assert!(seen.of("default/ref-only").is_empty());
        stop(running).await;
        server.shutdown().await;
    });
}

#[test]
fn a_key_is_never_reconciled_twice_at_once_and_a_change_meanwhile_causes_exactly_one_more() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "hot", "v0");
        let active = Arc::new(AtomicUsize::new(0));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let seen = Seen::default();
        let c = controller(&server).workers(4);
        let controller = Arc::new(c);
        let stop_token = CancellationToken::new();
        let task = tokio::spawn({
            let (controller, stop, seen) = (controller.clone(), stop_token.clone(), seen.clone());
            let (active, overlaps) = (active.clone(), overlaps.clone());
            async move {
                controller
                    .run(
                        move |key: ObjectKey, obj: Option<Arc<Obj>>| {
                            let (seen, active, overlaps) =
                                (seen.clone(), active.clone(), overlaps.clone());
                            async move {
                                if active.fetch_add(1, Ordering::SeqCst) > 0 {
                                    overlaps.fetch_add(1, Ordering::SeqCst);
                                }
                                seen.push(&key, obj.is_some());
                                tokio::time::sleep(Duration::from_millis(300)).await;
                                active.fetch_sub(1, Ordering::SeqCst);
                                Ok::<_, String>(Action::Done)
                            }
                        },
                        |_, _, _| Retry::Backoff,
                        stop,
                    )
                    .await
            }
        });
        wait_until("the first reconcile started", || seen.len() == 1).await;
        // Five changes while the first reconcile runs: exactly one more reconcile.
        for i in 1..=5 {
            update(&server, "default", "hot", &format!("v{i}"));
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(seen.len(), 2, "exactly one more reconcile");
        assert_eq!(overlaps.load(Ordering::SeqCst), 0);
        stop_token.cancel();
        task.await.unwrap().unwrap();
        server.shutdown().await;
    });
}

#[test]
fn errors_and_panics_retry_with_growing_backoff_and_success_forgets() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "flaky", "x");
        create(&server, "default", "panicky", "x");
        let attempts = Arc::new(Mutex::new(BTreeMap::<String, u32>::new()));
        let seen = Seen::default();
        let running = start(controller(&server).workers(2), &seen, {
            let attempts = attempts.clone();
            move |key| {
                let n = {
                    let mut a = attempts.lock();
                    let n = a.entry(key.to_string()).or_default();
                    *n += 1;
                    *n
                };
                match (key.name.as_str(), n) {
                    ("flaky", 1..=4) => Err(format!("attempt {n} failed")),
                    ("panicky", 1..=2) => panic!("reconcile bug"),
                    _ => Ok(Action::Done),
                }
            }
        });
        wait_until("flaky succeeded", || seen.of("default/flaky").len() == 5).await;
        wait_until("panicky succeeded", || {
            seen.of("default/panicky").len() == 3
        })
        .await;
        let times = seen.times("default/flaky");
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        // 20 ms, 40 ms, 80 ms, 160 ms: each wait longer than the one before (the first
        // may be stretched by the other worker's panic report on a busy machine).
        for (i, pair) in gaps[1..].windows(2).enumerate() {
            assert!(pair[1] > pair[0], "gap {} not longer: {gaps:?}", i + 2);
        }
        assert!(gaps[0] >= Duration::from_millis(15), "{gaps:?}");
        wait_until("idle", || running.0.is_idle()).await;
        let m = running.0.metrics();
        assert_eq!((m.errors, m.panics), (6, 2));
        // Success forgot the failures.
        assert_eq!(m.queue.as_ref().map(|q| q.retries), Some(6));
        stop(running).await;
        server.shutdown().await;
    });
}

#[test]
fn the_retry_limit_gives_up_until_the_next_change() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "broken", "x");
        let given_up = Arc::new(Mutex::new(Vec::new()));
        let seen = Seen::default();
        let c = controller(&server).max_retries(2, {
            let given_up = given_up.clone();
            move |key: &ObjectKey| given_up.lock().push(key.to_string())
        });
        let running = start(c, &seen, |_| Err("always".to_owned()));
        wait_until("given up", || !given_up.lock().is_empty()).await;
        assert_eq!(*given_up.lock(), ["default/broken"]);
        assert_eq!(
            seen.of("default/broken").len(),
            3,
            "first try and two retries"
        );
        update(&server, "default", "broken", "y");
        wait_until("a change tries again, and gives up again", || {
            given_up.lock().len() == 2
        })
        .await;
        assert_eq!(seen.of("default/broken").len(), 6);
        stop(running).await;
        server.shutdown().await;
    });
}

#[test]
fn a_deletion_missed_during_a_watch_outage_reaches_reconcile_as_none() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "doomed", "x");
        create(&server, "default", "other", "x");
        let seen = Seen::default();
        let running = start(controller(&server), &seen, |_| Ok(Action::Done));
        wait_until("both reconciled", || seen.len() == 2).await;
        // The next watch fails with 410: the informer relists and finds the object gone.
        let faults = server.faults();
        faults.fail_next(1, Some(Verb::Watch), "/configmaps", Failure::status(410));
        faults.drop_watches();
        delete(&server, "default", "doomed");
        wait_until("the missed deletion reconciled", || {
            seen.of("default/doomed").len() == 2
        })
        .await;
        assert_eq!(seen.of("default/doomed"), [true, false]);
        stop(running).await;
        server.shutdown().await;
    });
}

#[test]
fn requeue_after_and_periodic_requeue_reconcile_unchanged_objects() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "poll", "x");
        create(&server, "default", "still", "x");
        let seen = Seen::default();
        let c = controller(&server).requeue_every(Duration::from_millis(300));
        let running = start(c, &seen, |key| {
            Ok(if key.name == "poll" {
                Action::requeue(Duration::from_millis(50))
            } else {
                Action::Done
            })
        });
        wait_until("polled several times", || {
            seen.of("default/poll").len() >= 4
        })
        .await;
        wait_until("the periodic requeue", || {
            seen.of("default/still").len() >= 2
        })
        .await;
        stop(running).await;
        server.shutdown().await;
    });
}

#[test]
fn workers_wait_for_every_informer_to_sync() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "x");
        // The child informer's lists fail for a while: no reconcile may start before it syncs.
        server
            .faults()
            .fail_next(5, Some(Verb::List), "/secrets", Failure::status(500));
        let seen = Seen::default();
        let secrets_informer = informer_of(&server, &secrets());
        let c = controller(&server).owns(secrets_informer.clone());
        let running = start(c, &seen, {
            let secrets_informer = secrets_informer.clone();
            move |_| {
                assert!(
                    secrets_informer.has_synced(),
                    "reconcile before the child synced"
                );
                Ok(Action::Done)
            }
        });
        wait_until("reconciled after sync", || seen.len() == 1).await;
        assert_eq!(running.0.metrics().panics, 0);
        stop(running).await;
        server.shutdown().await;
    });
}

#[test]
fn shutdown_waits_for_a_running_reconcile_up_to_the_timeout() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "slow", "x");
        let controller = Arc::new(controller(&server).shutdown_timeout(Duration::from_millis(300)));
        let stop_token = CancellationToken::new();
        let started = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (controller, stop, started) =
                (controller.clone(), stop_token.clone(), started.clone());
            async move {
                controller
                    .run(
                        move |_key, _obj| {
                            let started = started.clone();
                            async move {
                                started.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                Ok::<_, String>(Action::Done)
                            }
                        },
                        |_, _, _| Retry::Backoff,
                        stop,
                    )
                    .await
            }
        });
        wait_until("the reconcile started", || {
            started.load(Ordering::SeqCst) == 1
        })
        .await;
        let t = Instant::now();
        stop_token.cancel();
        let result = task.await.unwrap();
        let took = t.elapsed();
        assert!(
            matches!(
                result,
                Err(ControllerError::ShutdownTimeout { running: 1, .. })
            ),
            "{result:?}"
        );
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(2),
            "{took:?}"
        );
        server.shutdown().await;
    });
}

#[test]
fn a_controller_runs_again_with_informers_that_outlive_it() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "x");
        let informer = informer_of(&server, &configmaps());
        let informer_stop = CancellationToken::new();
        let informer_task = tokio::spawn({
            let (informer, stop) = (informer.clone(), informer_stop.clone());
            async move { informer.run(stop).await }
        });
        // The informer must be running before the controller looks at it: one that nobody
        // runs yet is run by the controller, and stops with its run.
        wait_until("the informer synced", || informer.has_synced()).await;
        let seen = Seen::default();
        let c = Controller::for_resource(informer, &configmaps());
        let running = start(c, &seen, |_| Ok(Action::Done));
        wait_until("first run reconciled", || seen.len() == 1).await;
        let (controller, stop_token, task) = running;
        stop_token.cancel();
        task.await.unwrap().unwrap();
        // Second run: a fresh queue, the same warm informer, the cache reconciled again.
        let controller = Arc::into_inner(controller).expect("only handle");
        let running = start(controller, &seen, |_| Ok(Action::Done));
        wait_until("second run reconciled", || seen.len() == 2).await;
        stop(running).await;
        informer_stop.cancel();
        informer_task.await.unwrap().unwrap();
        server.shutdown().await;
    });
}
