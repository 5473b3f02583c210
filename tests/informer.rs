//! The informer end to end against the embedded API server over loopback HTTP: initial
//! sync, live changes, watch drops, relists with tombstones, expired continue tokens,
//! bookmarks, backoff, malformed lines, slow handlers, late handlers, removal, resync,
//! transforms, indexes added after start, the event stream, the factory and shutdown.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use informer::cache::{
    Indexers, InformerError, InformerEvent, InformerOptions, ListWatch, ListWatchResult,
    ListerWatcher, QueueMode, ReflectorError, ResourceEventHandlerFuncs, SharedIndexInformer,
    SharedInformerFactory, WatchStream,
};
use informer::client::{Api, ListParams, WatchParams};
use informer::meta::{Object, ObjectList};
use informer::selector::LabelSelector;
use informer::testing::{ApiServer, Failure, Verb};
use parking_lot::Mutex;
use support::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running informer over the server's ConfigMaps.
struct Running {
    informer: SharedIndexInformer<Obj>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), InformerError>>,
}

impl Running {
    fn start(informer: SharedIndexInformer<Obj>) -> Running {
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (informer, stop) = (informer.clone(), stop.clone());
            async move { informer.run(stop).await }
        });
        Running {
            informer,
            stop,
            task,
        }
    }

    async fn synced(&self) {
        assert!(
            tokio::time::timeout(
                Duration::from_secs(20),
                self.informer.wait_for_sync(&self.stop)
            )
            .await
            .expect("synced in time"),
            "informer synced"
        );
    }

    async fn stop(self) {
        self.stop.cancel();
        let started = Instant::now();
        self.task.await.expect("no panic").expect("ran");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "run returned promptly"
        );
    }
}

fn informer_with(server: &ApiServer, options: InformerOptions<Obj>) -> SharedIndexInformer<Obj> {
    let api: Api<Obj> = Api::all_with(client(server), &configmaps());
    SharedIndexInformer::new(ListWatch::new(api), options)
}

fn informer(server: &ApiServer, queue: QueueMode) -> SharedIndexInformer<Obj> {
    informer_with(server, options(queue))
}

fn options(queue: QueueMode) -> InformerOptions<Obj> {
    InformerOptions {
        queue,
        ..fast_options("configmaps")
    }
}

/// An informer over the server's ConfigMaps with a [`Recorder`], running and synced.
async fn synced_with_recorder(
    server: &ApiServer,
    queue: QueueMode,
) -> (SharedIndexInformer<Obj>, Recorder, Running) {
    let inf = informer(server, queue);
    let rec = Recorder::default();
    inf.add_event_handler(rec.clone()).unwrap();
    let run = Running::start(inf.clone());
    run.synced().await;
    (inf, rec, run)
}

fn initial_sync_adds_every_object_once_as_initial(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        server
            .create(
                &informer::meta::ApiResource::new("", "v1", "Namespace", "namespaces", false),
                serde_json::json!({"metadata": {"name": "shop"}}),
            )
            .unwrap();
        for i in 0..30 {
            create(
                &server,
                if i % 2 == 0 { "default" } else { "shop" },
                &format!("c{i}"),
                "a",
            );
        }
        let inf = informer(&server, queue);
        let rec = Recorder::default();
        let reg = inf.add_event_handler(rec.clone()).unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        wait_until("the handler synced", || reg.has_synced()).await;
        let heard = rec.heard();
        assert_eq!(heard.len(), 30);
        assert!(heard
            .iter()
            .all(|h| matches!(h, Heard::Add { initial: true, .. })));
        assert_eq!(cache_state(inf.get_indexer().list()), server_state(&server));
        assert_eq!(rec.state(), server_state(&server));
        let m = inf.metrics();
        assert_eq!((m.reflector.lists, m.reflector.relists), (1, 0));
        assert_eq!(m.cache_size, 30);
        assert!(!inf.last_sync_resource_version().is_empty());
        run.stop().await;
        server.shutdown().await;
    });
}

fn changes_after_sync_arrive_in_order_per_key(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "0");
        let (inf, rec, run) = synced_with_recorder(&server, queue).await;
        wait_until("initial add", || rec.len() == 1).await;
        rec.take();
        let b1 = create(&server, "default", "b", "1");
        let a1 = update(&server, "default", "a", "1");
        let b2 = update(&server, "default", "b", "2");
        delete(&server, "default", "a");
        wait_until("four events", || rec.len() == 4).await;
        let heard = rec.take();
        let a: Vec<_> = heard
            .iter()
            .filter(|h| h.key() == "default/a")
            .cloned()
            .collect();
        let b: Vec<_> = heard
            .iter()
            .filter(|h| h.key() == "default/b")
            .cloned()
            .collect();
        assert!(
            matches!(&a[..], [Heard::Update { new, .. }, Heard::Delete { tombstone: false, .. }] if *new == a1)
        );
        assert!(
            matches!(&b[..], [Heard::Add { rv, initial: false, .. }, Heard::Update { new, .. }] if *rv == b1 && *new == b2)
        );
        converged(&server, &inf, &rec).await;
        run.stop().await;
        server.shutdown().await;
    });
}

fn a_dropped_watch_resumes_without_relist_or_lost_events(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let (inf, rec, run) = synced_with_recorder(&server, queue).await;
        for round in 0..5 {
            for i in 0..10 {
                create(&server, "default", &format!("r{round}-{i}"), "x");
            }
            // The fault reaches the watches open now: wait for the reopened one.
            wait_until("watching", || server.watch_count() == 1).await;
            server.faults().drop_watches_after(3);
            for i in 0..10 {
                update(&server, "default", &format!("r{round}-{i}"), "y");
            }
            server.faults().drop_watches();
            wait_until("the round arrived", || rec.len() == 20 * (round + 1)).await;
        }
        converged(&server, &inf, &rec).await;
        assert_eq!(rec.len(), 100, "50 adds and 50 updates, no duplicates");
        let m = inf.metrics();
        assert_eq!(m.reflector.relists, 0);
        assert!(m.reflector.watches > 5, "watches reopened: {m:?}");
        run.stop().await;
        server.shutdown().await;
    });
}

fn a_410_relists_and_missed_deletions_arrive_as_tombstones(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        for i in 0..5 {
            create(&server, "default", &format!("c{i}"), "a");
        }
        let inf = informer(&server, queue);
        let rec = Recorder::default();
        inf.add_event_handler(rec.clone()).unwrap();
        let errors = Arc::new(Mutex::new(Vec::new()));
        inf.set_watch_error_handler({
            let errors = errors.clone();
            move |e: &ReflectorError| errors.lock().push(e.is_expired())
        })
        .unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        wait_until("initial adds", || rec.len() == 5).await;
        rec.take();
        // Keep the informer away while objects change, then make its version too old.
        server
            .faults()
            .fail_next(usize::MAX, None, "/configmaps", Failure::status(503));
        server.faults().drop_watches();
        tokio::time::sleep(Duration::from_millis(100)).await;
        delete(&server, "default", "c0");
        delete(&server, "default", "c1");
        update(&server, "default", "c2", "b");
        create(&server, "default", "new", "n");
        server.faults().compact();
        server.faults().clear();
        converged(&server, &inf, &rec).await;
        let heard = rec.take();
        let mut tombstones: Vec<_> = heard
            .iter()
            .filter_map(|h| match h {
                Heard::Delete {
                    key,
                    tombstone: true,
                    ..
                } => Some(key.as_str()),
                _ => None,
            })
            .collect();
        tombstones.sort_unstable();
        assert_eq!(tombstones, ["default/c0", "default/c1"]);
        assert!(heard
            .iter()
            .any(|h| matches!(h, Heard::Update { key, .. } if key == "default/c2")));
        assert!(heard
            .iter()
            .any(|h| matches!(h, Heard::Add { key, initial: false, .. } if key == "default/new")));
        assert!(inf.metrics().reflector.relists >= 1);
        assert!(
            !errors.lock().is_empty(),
            "the watch error handler heard the failures"
        );
        run.stop().await;
        server.shutdown().await;
    });
}

/// Lists through `inner`, compacting the server's history after the first page of a
/// paginated list, and records every list call's params.
struct CompactAfterFirstPage {
    inner: ListWatch<Api<Obj>>,
    server_faults: informer::testing::Faults,
    calls: Arc<Mutex<Vec<ListParams>>>,
}

impl ListerWatcher<Obj> for CompactAfterFirstPage {
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> BoxFuture<'a, ListWatchResult<ObjectList<Obj>>> {
        async move {
            self.calls.lock().push(params.clone());
            let page = self.inner.list(params).await?;
            if params.continue_token.is_none() && page.metadata.continue_.is_some() {
                // Move the server past the token's version, then compact up to it.
                let secrets = informer::meta::ApiResource::new("", "v1", "Secret", "secrets", true);
                let api: Api<Obj> =
                    Api::namespaced_with(self.inner.inner().client().clone(), "default", &secrets);
                let secret: Obj = serde_json::from_value(serde_json::json!({
                    "apiVersion": "v1", "kind": "Secret", "metadata": {"generateName": "s-"}
                }))
                .expect("a secret");
                api.create(&Default::default(), &secret).await?;
                self.server_faults.compact();
            }
            Ok(page)
        }
        .boxed()
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> BoxFuture<'a, ListWatchResult<WatchStream<Obj>>> {
        self.inner.watch(params)
    }
}

fn an_expired_continue_token_mid_list_falls_back_to_a_full_list(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        for i in 0..25 {
            create(&server, "default", &format!("c{i:02}"), "a");
        }
        // The first list (at "0") is served whole; make it fail with 410 so that the
        // reflector lists at "" in pages of 10.
        server
            .faults()
            .fail_next(1, Some(Verb::List), "/configmaps", Failure::status(410));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let lw = CompactAfterFirstPage {
            inner: ListWatch::new(Api::all_with(client(&server), &configmaps())),
            server_faults: server.faults(),
            calls: calls.clone(),
        };
        let mut options = options(queue);
        options.reflector.page_size = Some(10);
        let inf = SharedIndexInformer::new(lw, options);
        let rec = Recorder::default();
        inf.add_event_handler(rec.clone()).unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        converged(&server, &inf, &rec).await;
        let calls = calls.lock().clone();
        let shape: Vec<_> = calls
            .iter()
            .map(|p| {
                (
                    p.resource_version.clone(),
                    p.limit,
                    p.continue_token.is_some(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (Some("0".to_owned()), Some(10), false),
                (None, Some(10), false),
                (None, Some(10), true),
                (None, None, false),
            ],
            "list at 0 (410), then at \"\" paged, expired continue, full list"
        );
        run.stop().await;
        server.shutdown().await;
    });
}

fn bookmarks_move_the_resource_version_without_events(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::builder()
            .bookmark_interval(Duration::from_millis(50))
            .start()
            .await
            .unwrap();
        create(&server, "default", "a", "0");
        let (inf, rec, run) = synced_with_recorder(&server, queue).await;
        wait_until("initial add", || rec.len() == 1).await;
        let before: u64 = inf.last_sync_resource_version().parse().unwrap();
        // Writes to another resource move the server's version, not the ConfigMaps.
        let secrets = informer::meta::ApiResource::new("", "v1", "Secret", "secrets", true);
        for i in 0..3 {
            server
                .create(
                    &secrets,
                    serde_json::json!({"metadata": {"name": format!("s{i}")}}),
                )
                .unwrap();
        }
        let target = server.resource_version();
        assert!(target > before);
        wait_until("a bookmark reached the server's version", || {
            inf.last_sync_resource_version().parse::<u64>().unwrap() >= target
        })
        .await;
        assert!(inf.metrics().reflector.bookmarks >= 1);
        assert_eq!(rec.len(), 1, "no events for bookmarks");
        run.stop().await;
        server.shutdown().await;
    });
}

fn errors_back_off_and_recover(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "0");
        let faults = server.faults();
        faults.fail_next(2, Some(Verb::List), "/configmaps", Failure::status(500));
        faults.fail_next(
            1,
            Some(Verb::List),
            "/configmaps",
            Failure::too_many_requests(1),
        );
        let inf = informer(&server, queue);
        let errors = Arc::new(Mutex::new(Vec::new()));
        inf.set_watch_error_handler({
            let errors = errors.clone();
            move |e: &ReflectorError| {
                let code = e.list_watch_error().and_then(|c| c.code());
                errors.lock().push((Instant::now(), code));
            }
        })
        .unwrap();
        let rec = Recorder::default();
        inf.add_event_handler(rec.clone()).unwrap();
        let started = Instant::now();
        let run = Running::start(inf.clone());
        run.synced().await;
        let errors = errors.lock().clone();
        let codes: Vec<_> = errors.iter().map(|(_, c)| *c).collect();
        assert_eq!(codes, [Some(500), Some(500), Some(429)]);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "the 429's Retry-After of 1 s was honoured"
        );
        // A 500 on the watch relists and recovers too.
        faults.fail_next(1, Some(Verb::Watch), "/configmaps", Failure::status(500));
        faults.drop_watches();
        create(&server, "default", "b", "1");
        converged(&server, &inf, &rec).await;
        run.stop().await;
        server.shutdown().await;
    });
}

fn a_malformed_watch_line_loses_nothing(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let (inf, rec, run) = synced_with_recorder(&server, queue).await;
        create(&server, "default", "before", "x");
        wait_until("first event", || rec.len() == 1).await;
        server.faults().malformed_line();
        for i in 0..10 {
            create(&server, "default", &format!("after{i}"), "x");
        }
        converged(&server, &inf, &rec).await;
        assert_eq!(rec.len(), 11);
        assert_eq!(inf.metrics().reflector.relists, 0);
        run.stop().await;
        server.shutdown().await;
    });
}

fn a_slow_handler_does_not_hold_back_a_fast_one(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let inf = informer(&server, queue);
        let slow = Recorder::slow(Duration::from_millis(50));
        let fast = Recorder::default();
        let slow_reg = inf.add_event_handler(slow.clone()).unwrap();
        inf.add_event_handler(fast.clone()).unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        for i in 0..40 {
            create(&server, "default", &format!("c{i}"), "x");
        }
        let started = Instant::now();
        wait_until("the fast handler heard all", || fast.len() == 40).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(slow.len() < 40, "the slow handler is still behind");
        assert!(slow_reg.pending() > 0);
        assert!(inf.metrics().handler_pending[0] > 0);
        converged(&server, &inf, &slow).await;
        run.stop().await;
        server.shutdown().await;
    });
}

fn a_late_handler_gets_the_cache_first_then_changes(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        for i in 0..10 {
            create(&server, "default", &format!("c{i}"), "x");
        }
        let inf = informer(&server, queue);
        let run = Running::start(inf.clone());
        run.synced().await;
        let late = Recorder::default();
        let reg = inf.add_event_handler(late.clone()).unwrap();
        wait_until("late handler synced", || reg.has_synced()).await;
        assert_eq!(late.len(), 10);
        assert!(late
            .heard()
            .iter()
            .all(|h| matches!(h, Heard::Add { initial: true, .. })));
        update(&server, "default", "c3", "y");
        converged(&server, &inf, &late).await;
        assert!(
            matches!(late.heard().last(), Some(Heard::Update { key, .. }) if key == "default/c3")
        );
        run.stop().await;
        server.shutdown().await;
    });
}

fn a_removed_handler_stops_hearing(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let inf = informer(&server, queue);
        let kept = Recorder::default();
        let removed = Recorder::default();
        inf.add_event_handler(kept.clone()).unwrap();
        let reg = inf.add_event_handler(removed.clone()).unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        create(&server, "default", "a", "x");
        wait_until("both heard", || kept.len() == 1 && removed.len() == 1).await;
        inf.remove_event_handler(&reg).unwrap();
        tokio::time::timeout(Duration::from_secs(5), reg.stopped())
            .await
            .expect("stopped");
        create(&server, "default", "b", "x");
        wait_until("kept heard", || kept.len() == 2).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(removed.len(), 1);
        assert_eq!(inf.metrics().handler_pending.len(), 1);
        run.stop().await;
        server.shutdown().await;
    });
}

fn resync_redelivers_the_cache_to_handlers_that_asked(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "x");
        create(&server, "default", "b", "x");
        let inf = informer(&server, queue);
        let resynced = Recorder::default();
        let plain = Recorder::default();
        inf.add_event_handler_with_resync_period(resynced.clone(), Some(Duration::from_secs(1)))
            .unwrap();
        inf.add_event_handler(plain.clone()).unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        wait_until("a resync", || resynced.len() >= 4).await;
        let updates: Vec<_> = resynced.heard().into_iter().skip(2).take(2).collect();
        for u in &updates {
            assert!(
                matches!(u, Heard::Update { old, new, .. } if old == new),
                "{u:?}"
            );
        }
        assert_eq!(plain.len(), 2, "a handler without resync hears no resync");
        assert!(inf.metrics().reflector.resyncs >= 1);
        run.stop().await;
        server.shutdown().await;
    });
}

fn transform_and_indexers_added_after_start(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        for (i, app) in ["web", "web", "db"].iter().enumerate() {
            create(&server, "default", &format!("c{i}"), app);
        }
        let inf = informer(&server, queue);
        inf.set_transform(|mut o: Obj| {
            o.meta_mut().annotations = Some([("seen".to_owned(), "yes".to_owned())].into());
            o.data.as_object_mut().map(|d| d.remove("data"));
            o
        })
        .unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        assert!(matches!(
            inf.set_transform(|o: Obj| o),
            Err(InformerError::AlreadyStarted(..))
        ));
        for o in inf.get_indexer().list() {
            assert_eq!(o.annotations().and_then(|a| a.get("seen")), Some("yes"));
            assert!(
                o.data.get("data").is_none(),
                "the transform dropped the data"
            );
        }
        inf.add_indexers(Indexers::new().with("app", |o: &Obj| {
            o.labels()
                .and_then(|l| l.get("app"))
                .map(|a| vec![a.to_owned()])
                .unwrap_or_default()
        }))
        .unwrap();
        assert_eq!(inf.get_indexer().by_index("app", "web").unwrap().len(), 2);
        create(&server, "default", "c3", "web");
        wait_until("indexed live", || {
            inf.get_indexer().by_index("app", "web").unwrap().len() == 3
        })
        .await;
        let lister = inf.lister().unwrap();
        let web = LabelSelector::parse("app=web").unwrap();
        assert_eq!(lister.namespace("default").list(&web).len(), 3);
        assert_eq!(lister.namespace("other").list(&web).len(), 0);
        run.stop().await;
        server.shutdown().await;
    });
}

#[test]
fn managed_fields_are_dropped_before_the_transform_and_the_cache() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let mut obj = cm("default", "c0", "web");
        obj["metadata"]["managedFields"] =
            serde_json::json!([{"manager": "kubectl", "operation": "Update", "apiVersion": "v1"}]);
        server.create(&configmaps(), obj).expect("create");
        let inf = informer_with(
            &server,
            InformerOptions {
                drop_managed_fields: true,
                ..options(QueueMode::DeltaFifo)
            },
        );
        let transform_saw = Arc::new(Mutex::new(Vec::new()));
        inf.set_transform({
            let saw = transform_saw.clone();
            move |o: Obj| {
                saw.lock().push(o.metadata.managed_fields.clone());
                o
            }
        })
        .unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        let cached = inf.get_indexer().get_by_key("default/c0").expect("cached");
        assert_eq!(cached.metadata.managed_fields, None);
        assert_eq!(
            *transform_saw.lock(),
            vec![None],
            "the transform ran after the drop"
        );
        run.stop().await;

        // The factory's option reaches every informer it makes.
        let factory = SharedInformerFactory::new(client(&server)).drop_managed_fields();
        let inf = factory.dynamic_informer(&configmaps());
        let stop = CancellationToken::new();
        factory.start(&stop);
        assert!(factory
            .wait_for_cache_sync(&stop)
            .await
            .values()
            .all(|s| *s));
        let cached = inf.get_indexer().get_by_key("default/c0").expect("cached");
        assert_eq!(cached.metadata.managed_fields, None);
        stop.cancel();
        server.shutdown().await;
    });
}

fn the_event_stream_sees_what_handlers_see(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "x");
        let inf = informer(&server, queue);
        let mut events = inf.stream().unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        update(&server, "default", "a", "y");
        delete(&server, "default", "a");
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let e = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .expect("an event")
                .expect("stream open");
            seen.push(match e {
                InformerEvent::Added {
                    in_initial_list, ..
                } => format!("add {in_initial_list}"),
                InformerEvent::Updated { .. } => "update".to_owned(),
                InformerEvent::Deleted(d) => format!("delete {}", d.is_tombstone()),
            });
        }
        assert_eq!(seen, ["add true", "update", "delete false"]);
        run.stop().await;
        assert!(
            events.next().await.is_none(),
            "the stream ends when the informer stops"
        );
        server.shutdown().await;
    });
}

fn cancellation_stops_everything_and_refuses_new_handlers(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        for i in 0..20 {
            create(&server, "default", &format!("c{i}"), "x");
        }
        let inf = informer(&server, queue);
        let calls = Arc::new(AtomicUsize::new(0));
        let reg = inf
            .add_event_handler(ResourceEventHandlerFuncs::new().add_func({
                let calls = calls.clone();
                move |_, _| {
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            }))
            .unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        run.stop().await;
        assert!(inf.is_stopped());
        tokio::time::timeout(Duration::from_secs(1), reg.stopped())
            .await
            .expect("the handler stopped");
        assert!(matches!(
            inf.add_event_handler(Recorder::default()),
            Err(InformerError::Stopped(_))
        ));
        assert!(matches!(
            inf.run(CancellationToken::new()).await,
            Err(InformerError::Stopped(_))
        ));
        wait_until("the watch connection is closed", || {
            server.watch_count() == 0
        })
        .await;
        server.shutdown().await;
    });
}

/// Strips `sendInitialEvents`, like a server that does not support streaming lists.
struct NoStreamingLists(ListWatch<Api<Obj>>);

impl ListerWatcher<Obj> for NoStreamingLists {
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> BoxFuture<'a, ListWatchResult<ObjectList<Obj>>> {
        self.0.list(params)
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> BoxFuture<'a, ListWatchResult<WatchStream<Obj>>> {
        async move {
            let mut p = params.clone();
            p.send_initial_events = false;
            p.resource_version_match = None;
            self.0.watch(&p).await
        }
        .boxed()
    }
}

fn a_streaming_initial_list_syncs_and_falls_back_where_unsupported(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        for i in 0..10 {
            create(&server, "default", &format!("c{i}"), "x");
        }
        let mut options = options(queue);
        options.reflector.watch_list = true;
        let inf = informer_with(&server, options.clone());
        let rec = Recorder::default();
        inf.add_event_handler(rec.clone()).unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        create(&server, "default", "live", "x");
        converged(&server, &inf, &rec).await;
        let m = inf.metrics();
        assert_eq!(m.reflector.lists, 1);
        assert_eq!(
            m.reflector.watches, 1,
            "the initial-list stream goes on as the watch"
        );
        assert!(rec.heard()[..10]
            .iter()
            .all(|h| matches!(h, Heard::Add { initial: true, .. })));
        run.stop().await;

        options.reflector.initial_events_timeout = Duration::from_millis(300);
        let lw = NoStreamingLists(ListWatch::new(Api::all_with(
            client(&server),
            &configmaps(),
        )));
        let inf = SharedIndexInformer::new(lw, options);
        let rec = Recorder::default();
        inf.add_event_handler(rec.clone()).unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        converged(&server, &inf, &rec).await;
        run.stop().await;

        server.shutdown().await;
    });
}

/// A lister-watcher whose watches end at once without an event.
struct ShortWatches(ListWatch<Api<Obj>>);

impl ListerWatcher<Obj> for ShortWatches {
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> BoxFuture<'a, ListWatchResult<ObjectList<Obj>>> {
        self.0.list(params)
    }

    fn watch<'a>(&'a self, _: &'a WatchParams) -> BoxFuture<'a, ListWatchResult<WatchStream<Obj>>> {
        async { Ok(futures::stream::empty().boxed()) }.boxed()
    }
}

fn a_very_short_watch_counts_as_an_error(queue: QueueMode) {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let inf = SharedIndexInformer::new(
            ShortWatches(ListWatch::new(Api::all_with(
                client(&server),
                &configmaps(),
            ))),
            options(queue),
        );
        let short = Arc::new(AtomicUsize::new(0));
        inf.set_watch_error_handler({
            let short = short.clone();
            move |e: &ReflectorError| {
                if matches!(e, ReflectorError::ShortWatch { .. }) {
                    short.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        wait_until("two short watches", || short.load(Ordering::Relaxed) >= 2).await;
        assert!(
            inf.metrics().reflector.relists >= 1,
            "each short watch leads to a relist"
        );
        run.stop().await;
        server.shutdown().await;
    });
}

#[test]
fn the_factory_shares_one_informer_per_resource() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "x");
        let factory = SharedInformerFactory::new(client(&server))
            .reflector_options(fast_reflector("ignored"));
        let one = factory.dynamic_informer(&configmaps());
        let two = factory.dynamic_informer(&configmaps());
        assert_eq!(one.name(), "v1/configmaps");
        let rec = Recorder::default();
        two.add_event_handler(rec.clone()).unwrap();
        let secrets = factory.dynamic_informer(&informer::meta::ApiResource::new(
            "", "v1", "Secret", "secrets", true,
        ));
        let stop = CancellationToken::new();
        factory.start(&stop);
        let synced = factory.wait_for_cache_sync(&stop).await;
        assert_eq!(
            synced.into_iter().collect::<Vec<_>>(),
            [
                ("v1/configmaps".to_owned(), true),
                ("v1/secrets".to_owned(), true)
            ]
        );
        assert_eq!(one.get_indexer().len(), 1);
        assert_eq!(secrets.get_indexer().len(), 0);
        wait_until("shared handler heard", || rec.len() == 1).await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(1), factory.shutdown())
            .await
            .expect("factory stopped promptly");
        assert!(one.is_stopped() && two.is_stopped() && secrets.is_stopped());
        server.shutdown().await;
    });
}

/// A ConfigMap as a type that cannot decode one (`data` is a map on the wire).
#[derive(Debug, serde::Deserialize, informer::meta::Resource)]
#[resource(version = "v1", kind = "ConfigMap", namespaced)]
struct Undecodable {
    metadata: informer::meta::ObjectMeta,
    #[allow(dead_code)]
    data: u64,
}

#[test]
fn the_factory_reports_a_resource_synced_only_when_all_its_informers_are() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "x");
        let factory = SharedInformerFactory::new(client(&server))
            .reflector_options(fast_reflector("ignored"));
        let dynamic = factory.dynamic_informer(&configmaps());
        let broken = factory.informer_for::<Undecodable>(&configmaps());
        assert_eq!(
            (dynamic.name(), broken.name()),
            ("v1/configmaps", "v1/configmaps")
        );
        let stop = CancellationToken::new();
        factory.start(&stop);
        wait_until("the dynamic informer synced", || dynamic.has_synced()).await;
        let deadline = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            deadline.cancel();
        });
        let synced = factory.wait_for_cache_sync(&stop).await;
        assert!(!broken.has_synced());
        assert_eq!(
            synced.into_iter().collect::<Vec<_>>(),
            [("v1/configmaps".to_owned(), false)]
        );
        factory.shutdown().await;
        server.shutdown().await;
    });
}

#[test]
fn the_factory_tweak_and_transform_apply_to_lists_and_watches_alike() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        let labelled = |name: &str, app: Option<&str>| {
            let mut obj = cm("default", name, "x");
            obj["metadata"]["labels"] = match app {
                Some(app) => serde_json::json!({ "app": app }),
                None => serde_json::json!({}),
            };
            server.create(&configmaps(), obj).expect("create");
        };
        labelled("web-1", Some("web"));
        labelled("db-1", Some("db"));
        labelled("plain-1", None);
        let factory = SharedInformerFactory::new(client(&server))
            .reflector_options(fast_reflector("ignored"))
            .tweak_list_options(|p| p.label_selector = Some("app=web".into()))
            .transform_metadata(|meta| {
                let mut labels = meta.labels().map(|l| l.to_btree_map()).unwrap_or_default();
                labels.insert("cached".into(), "yes".into());
                meta.set_labels(Some(labels));
            });
        let cms = factory.dynamic_informer(&configmaps());
        let stop = CancellationToken::new();
        factory.start(&stop);
        factory.wait_for_cache_sync(&stop).await;
        assert_eq!(cms.get_indexer().list_keys(), ["default/web-1"]);
        // Created after the list: only what the selector takes may come in by watch.
        labelled("db-2", Some("db"));
        labelled("plain-2", None);
        labelled("web-2", Some("web"));
        wait_until("web-2 cached", || cms.get_indexer().len() == 2).await;
        let mut keys = cms.get_indexer().list_keys();
        keys.sort();
        assert_eq!(keys, ["default/web-1", "default/web-2"]);
        // Listed and watched objects alike went through the metadata transform.
        for obj in cms.get_indexer().list() {
            let labels = obj.labels().expect("labels");
            assert_eq!(labels.get("cached"), Some("yes"));
            assert_eq!(labels.get("app"), Some("web"));
        }
        stop.cancel();
        factory.shutdown().await;
        server.shutdown().await;
    });
}

#[test]
fn dropping_run_or_an_informer_that_never_ran_stops_it() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "x");
        // The task running `run` is aborted: its future is dropped mid-run.
        let inf = informer(&server, QueueMode::DeltaFifo);
        let reg = inf.add_event_handler(Recorder::default()).unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        wait_until("watching", || server.watch_count() == 1).await;
        run.task.abort();
        tokio::time::timeout(Duration::from_secs(1), reg.stopped())
            .await
            .expect("the handler stopped");
        assert!(inf.is_stopped());
        wait_until("the watch connection is closed", || {
            server.watch_count() == 0
        })
        .await;

        // An informer given a handler and dropped without running.
        let idle = informer(&server, QueueMode::DeltaFifo);
        let reg = idle.add_event_handler(Recorder::default()).unwrap();
        drop(idle);
        tokio::time::timeout(Duration::from_secs(1), reg.stopped())
            .await
            .expect("the handler's thread ended with the informer");
        server.shutdown().await;
    });
}

/// Handlers run on their own threads with the registering runtime entered: a handler
/// may `tokio::spawn` (this panicked with "there is no reactor running" before).
#[test]
fn a_handler_may_spawn_onto_the_runtime() {
    bounded(async {
        let server = ApiServer::start().await.unwrap();
        create(&server, "default", "a", "x");
        let inf = informer(&server, QueueMode::DeltaFifo);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        inf.add_event_handler(
            ResourceEventHandlerFuncs::new().add_func(move |cm: Arc<Obj>, _| {
                let tx = tx.clone();
                let name = cm.name().unwrap_or_default().to_owned();
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    let _ = tx.send(name);
                });
            }),
        )
        .unwrap();
        let run = Running::start(inf.clone());
        run.synced().await;
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(got.expect("the spawned task ran").as_deref(), Some("a"));
        run.stop().await;
        server.shutdown().await;
    });
}

/// Every scenario runs with both queues.
macro_rules! with_both_queues {
    ($($name:ident),* $(,)?) => {
        mod delta_fifo {
            $(#[test]
            fn $name() {
                super::$name(informer::cache::QueueMode::DeltaFifo)
            })*
        }
        mod in_order {
            $(#[test]
            fn $name() {
                super::$name(informer::cache::QueueMode::InOrder)
            })*
        }
    };
}

with_both_queues!(
    initial_sync_adds_every_object_once_as_initial,
    changes_after_sync_arrive_in_order_per_key,
    a_dropped_watch_resumes_without_relist_or_lost_events,
    a_410_relists_and_missed_deletions_arrive_as_tombstones,
    an_expired_continue_token_mid_list_falls_back_to_a_full_list,
    bookmarks_move_the_resource_version_without_events,
    errors_back_off_and_recover,
    a_malformed_watch_line_loses_nothing,
    a_slow_handler_does_not_hold_back_a_fast_one,
    a_late_handler_gets_the_cache_first_then_changes,
    a_removed_handler_stops_hearing,
    resync_redelivers_the_cache_to_handlers_that_asked,
    transform_and_indexers_added_after_start,
    the_event_stream_sees_what_handlers_see,
    cancellation_stops_everything_and_refuses_new_handlers,
    a_streaming_initial_list_syncs_and_falls_back_where_unsupported,
    a_very_short_watch_counts_as_an_error,
);
