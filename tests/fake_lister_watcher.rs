//! Tests of `testing::FakeListerWatcher`: the embedded API server's list and watch
//! semantics in memory, without HTTP, and its parity with `ListWatch` over HTTP.

mod support;

use std::time::Duration;

use futures::StreamExt;
use informer::cache::{ListPager, ListWatch, ListWatchError, ListerWatcher, WatchStream};
use informer::client::{
    Api, Config, Error, ListParams, ResourceVersionMatch, RestClient, RetryPolicy, WatchParams,
};
use informer::meta::{ApiResource, DynamicObject, Object, WatchEvent};
use informer::testing::{ApiServer, Failure, FakeListerWatcher, Verb};
use serde_json::{json, Value};
use support::{bounded, pods};

/// How long a test waits for a watch event that must come.
const EVENT_WAIT: Duration = Duration::from_secs(5);

type Fake = FakeListerWatcher<DynamicObject>;

fn fake() -> Fake {
    FakeListerWatcher::new(&pods())
}

fn pod(name: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "default", "labels": labels}})
}

fn name(obj: &DynamicObject) -> &str {
    obj.name().unwrap_or_default()
}

fn rv(obj: &DynamicObject) -> u64 {
    obj.resource_version()
        .and_then(|v| v.parse().ok())
        .expect("a numeric resourceVersion")
}

/// The next item of a watch, waiting at most [`EVENT_WAIT`]; `None` when it ended.
async fn next(
    events: &mut WatchStream<DynamicObject>,
) -> Option<Result<WatchEvent<DynamicObject>, Error>> {
    tokio::time::timeout(EVENT_WAIT, events.next())
        .await
        .expect("no watch item in time")
        .map(|item| item.map_err(client_error))
}

/// The client's error under a lister-watcher's error: the fake fails as the client does.
fn client_error(e: ListWatchError) -> Error {
    match e.into_inner().downcast::<Error>() {
        Ok(e) => *e,
        Err(other) => panic!("not a client error: {other}"),
    }
}

/// The next event as `(type, name, resourceVersion)`; bookmarks have an empty name.
async fn expect(events: &mut WatchStream<DynamicObject>) -> (&'static str, String, u64) {
    match next(events).await {
        Some(Ok(WatchEvent::Added(o))) => ("ADDED", name(&o).to_owned(), rv(&o)),
        Some(Ok(WatchEvent::Modified(o))) => ("MODIFIED", name(&o).to_owned(), rv(&o)),
        Some(Ok(WatchEvent::Deleted(o))) => ("DELETED", name(&o).to_owned(), rv(&o)),
        Some(Ok(WatchEvent::Bookmark(b))) => (
            "BOOKMARK",
            String::new(),
            b.metadata.resource_version.parse().expect("numeric"),
        ),
        other => panic!("expected an event, got {other:?}"),
    }
}

/// The next item must be an error, after which the stream ends.
async fn expect_error(events: &mut WatchStream<DynamicObject>) -> Error {
    let err = match next(events).await {
        Some(Err(e)) => e,
        other => panic!("expected an error item, got {other:?}"),
    };
    assert!(
        next(events).await.is_none(),
        "the stream goes on after {err}"
    );
    err
}

/// Whether nothing arrives on the watch for `d`.
async fn silent_for(events: &mut WatchStream<DynamicObject>, d: Duration) -> bool {
    tokio::time::timeout(d, events.next()).await.is_err()
}

fn names(items: &[DynamicObject]) -> Vec<&str> {
    items.iter().map(name).collect()
}

#[test]
fn list_pages_selectors_and_resource_versions() {
    bounded(async {
        let fake = FakeListerWatcher::<DynamicObject>::builder(&pods())
            .too_large_resource_version_wait(Duration::from_millis(50))
            .build();
        for (n, tier) in [
            ("a", "web"),
            ("b", "db"),
            ("c", "web"),
            ("d", "web"),
            ("e", "db"),
        ] {
            fake.create(&pod(n, json!({"tier": tier}))).expect("create");
        }
        let after_create = fake.resource_version();

        let first = fake
            .list(&ListParams::default().limit(2))
            .await
            .expect("list");
        assert_eq!(names(&first.items), ["a", "b"]);
        assert_eq!(first.kind.as_deref(), Some("PodList"));
        assert_eq!(first.api_version.as_deref(), Some("v1"));
        assert_eq!(first.metadata.remaining_item_count, Some(3));
        assert_eq!(
            first.metadata.resource_version,
            Some(after_create.to_string())
        );
        let token = first.metadata.continue_.clone().expect("a continue token");

        // A write between pages does not show: the token reads at the first page's version.
        fake.delete(Some("default"), "c").expect("delete");
        let second = fake
            .list(&ListParams::default().limit(2).continue_token(token.clone()))
            .await
            .expect("second page");
        assert_eq!(names(&second.items), ["c", "d"]);
        assert_eq!(second.metadata.remaining_item_count, Some(1));
        // Tokens can be reused.
        let again = fake
            .list(&ListParams::default().limit(2).continue_token(token))
            .await
            .expect("reused token");
        assert_eq!(names(&again.items), ["c", "d"]);
        let third = fake
            .list(
                &ListParams::default()
                    .limit(2)
                    .continue_token(second.metadata.continue_.expect("token")),
            )
            .await
            .expect("last page");
        assert_eq!(names(&third.items), ["e"]);
        assert_eq!(third.metadata.continue_, None);
        assert_eq!(third.metadata.remaining_item_count, None);

        // A label selector: no remainingItemCount.
        let web = fake
            .list(&ListParams::default().labels("tier=web").limit(1))
            .await
            .expect("selected");
        assert_eq!(names(&web.items), ["a"]);
        assert!(web.metadata.continue_.is_some());
        assert_eq!(web.metadata.remaining_item_count, None);
        let by_name = fake
            .list(&ListParams::default().fields("metadata.name=d"))
            .await
            .expect("field selector");
        assert_eq!(names(&by_name.items), ["d"]);

        // resourceVersion=0 ignores the limit.
        let cached = fake
            .list(&ListParams::default().at("0").limit(1))
            .await
            .expect("rv 0");
        assert_eq!(names(&cached.items), ["a", "b", "d", "e"]);
        assert_eq!(cached.metadata.continue_, None);

        // Exact: the past, as it was.
        let past = fake
            .list(
                &ListParams::default()
                    .at(after_create.to_string())
                    .matching(ResourceVersionMatch::Exact),
            )
            .await
            .expect("exact");
        assert_eq!(names(&past.items), ["a", "b", "c", "d", "e"]);

        // NotOlderThan a future version: 504 ResourceVersionTooLarge after the wait.
        let future = (fake.resource_version() + 10).to_string();
        let err = fake
            .list(
                &ListParams::default()
                    .at(future)
                    .matching(ResourceVersionMatch::NotOlderThan),
            )
            .await
            .map_err(client_error)
            .expect_err("future");
        assert!(err.is_too_large_resource_version(), "{err}");
        assert_eq!(err.code(), Some(504));

        // Bad options answer as the server does.
        let err = fake
            .list(&ListParams::default().labels("tier in (web"))
            .await
            .map_err(client_error)
            .expect_err("bad selector");
        assert!(err.is_bad_request(), "{err}");
        let err = fake
            .list(&ListParams::default().fields("spec.priority=1"))
            .await
            .map_err(client_error)
            .expect_err("unsupported field");
        assert!(err.is_bad_request(), "{err}");
        let err = fake
            .list(&ListParams::default().continue_token("x").at("7"))
            .await
            .map_err(client_error)
            .expect_err("continue with a version");
        assert!(err.is_bad_request(), "{err}");
        let err = fake
            .list(&ListParams::default().matching(ResourceVersionMatch::Exact))
            .await
            .map_err(client_error)
            .expect_err("match without a version");
        assert!(err.is_invalid(), "{err}");
    });
}

#[test]
fn compaction_expires_continue_tokens_and_exact_lists() {
    bounded(async {
        let fake = fake();
        for n in ["a", "b", "c"] {
            fake.create(&pod(n, json!({}))).expect("create");
        }
        let first = fake
            .list(&ListParams::default().limit(1))
            .await
            .expect("list");
        let token = first.metadata.continue_.clone().expect("token");
        let at = first.metadata.resource_version.clone().expect("rv");
        fake.create(&pod("d", json!({}))).expect("create");
        fake.faults().compact();

        let err = fake
            .list(&ListParams::default().limit(1).continue_token(token.clone()))
            .await
            .map_err(client_error)
            .expect_err("expired token");
        assert!(err.is_expired(), "{err}");
        assert_eq!(err.code(), Some(410));
        let status = err.status().expect("a status");
        assert!(
            status
                .message
                .starts_with("The provided continue parameter is too old"),
            "{}",
            status.message
        );
        // The answer carries a fresh token that lists the rest at the latest version.
        let fresh = status.metadata.continue_.clone().expect("a fresh token");
        let rest = fake
            .list(&ListParams::default().continue_token(fresh))
            .await
            .expect("fresh token");
        assert_eq!(names(&rest.items), ["b", "c", "d"]);

        let err = fake
            .list(
                &ListParams::default()
                    .at(at)
                    .matching(ResourceVersionMatch::Exact),
            )
            .await
            .map_err(client_error)
            .expect_err("compacted exact list");
        assert!(err.is_expired(), "{err}");
        assert_eq!(
            err.status().map(|s| s.message.as_str()),
            Some("The resourceVersion for the provided list is too old.")
        );
    });
}

#[test]
fn pager_falls_back_to_a_full_list_when_a_token_expires() {
    bounded(async {
        // History of 1 event: every write compacts what came before it.
        let fake = FakeListerWatcher::<DynamicObject>::builder(&pods())
            .history_limit(1)
            .build();
        for n in ["a", "b", "c", "d"] {
            fake.create(&pod(n, json!({}))).expect("create");
        }
        /// Writes between the pages of a list, so that the first page's token expires.
        struct WriteBetweenPages(Fake);
        impl ListerWatcher<DynamicObject> for WriteBetweenPages {
            fn list<'a>(
                &'a self,
                params: &'a ListParams,
            ) -> futures::future::BoxFuture<
                'a,
                informer::cache::ListWatchResult<informer::meta::ObjectList<DynamicObject>>,
            > {
                Box::pin(async move {
                    let page = self.0.list(params).await?;
                    if params.continue_token.is_none() && params.limit.is_some() {
                        self.0.create(&pod("z", json!({})))?;
                        self.0.create(&pod("y", json!({})))?;
                    }
                    Ok(page)
                })
            }
            fn watch<'a>(
                &'a self,
                params: &'a WatchParams,
            ) -> futures::future::BoxFuture<
                'a,
                informer::cache::ListWatchResult<WatchStream<DynamicObject>>,
            > {
                self.0.watch(params)
            }
        }
        let listed = ListPager::new(2)
            .list(&WriteBetweenPages(fake.clone()), &ListParams::default())
            .await
            .expect("paged");
        assert_eq!(names(&listed.list.items), ["a", "b", "c", "d", "y", "z"]);
    });
}

#[test]
fn watch_sees_create_update_delete_in_order() {
    bounded(async {
        let fake = fake();
        let list = fake.list(&ListParams::default()).await.expect("list");
        let start = list.metadata.resource_version.expect("rv");
        let mut events = fake
            .watch(&WatchParams::default().at(start.clone()))
            .await
            .expect("watch");

        let created = fake.create(&pod("web", json!({}))).expect("create");
        let mut changed = created.clone();
        changed.data["spec"] = json!({"replicas": 2});
        let replaced = fake.replace(&changed).expect("replace");
        assert_eq!(replaced.metadata.generation, Some(2));
        // A stale resourceVersion conflicts.
        let err = fake.replace(&changed).expect_err("stale");
        assert!(err.is_conflict(), "{err}");
        fake.delete(Some("default"), "web").expect("delete");

        let seen = [
            expect(&mut events).await,
            expect(&mut events).await,
            expect(&mut events).await,
        ];
        let kinds: Vec<_> = seen.iter().map(|(k, n, _)| (*k, n.as_str())).collect();
        assert_eq!(
            kinds,
            [("ADDED", "web"), ("MODIFIED", "web"), ("DELETED", "web")]
        );
        let start: u64 = start.parse().expect("numeric");
        assert!(start < seen[0].2 && seen[0].2 < seen[1].2 && seen[1].2 < seen[2].2);
        assert_eq!(seen[0].2, rv(&created));
        assert_eq!(seen[1].2, rv(&replaced));
        assert!(silent_for(&mut events, Duration::from_millis(100)).await);
        drop(events);

        // Only the fake's own writes and reads: get and list_objects.
        assert!(fake
            .get(Some("default"), "web")
            .expect_err("gone")
            .is_not_found());
        assert!(fake.list_objects(None).expect("objects").is_empty());
    });
}

#[test]
fn watch_replays_history_and_starts_with_synthetic_adds() {
    bounded(async {
        let fake = fake();
        let a = fake.create(&pod("a", json!({}))).expect("create");
        fake.create(&pod("b", json!({}))).expect("create");
        let mut a2 = a.clone();
        a2.data["spec"] = json!({"x": 1});
        fake.replace(&a2).expect("replace");

        // From a's version: what came after it, in order.
        let mut replay = fake
            .watch(&WatchParams::default().at(rv(&a).to_string()))
            .await
            .expect("watch");
        assert_eq!(expect(&mut replay).await.0, "ADDED");
        let (kind, n, _) = expect(&mut replay).await;
        assert_eq!((kind, n.as_str()), ("MODIFIED", "a"));
        assert!(silent_for(&mut replay, Duration::from_millis(100)).await);

        // Without a version, or "0": the current objects as ADDED, then changes.
        for params in [WatchParams::default(), WatchParams::default().at("0")] {
            let mut events = fake.watch(&params).await.expect("watch");
            let first = expect(&mut events).await;
            let second = expect(&mut events).await;
            assert_eq!(
                [(first.0, first.1.as_str()), (second.0, second.1.as_str())],
                [("ADDED", "a"), ("ADDED", "b")]
            );
            assert!(silent_for(&mut events, Duration::from_millis(50)).await);
        }
    });
}

#[test]
fn watch_from_a_compacted_version_is_one_410_error_event() {
    bounded(async {
        let fake = fake();
        fake.create(&pod("a", json!({}))).expect("create");
        let old = fake.resource_version();
        fake.create(&pod("b", json!({}))).expect("create");
        fake.faults().compact();
        let now = fake.resource_version();

        let mut events = fake
            .watch(&WatchParams::default().at((old - 1).to_string()))
            .await
            .expect("a watch from a compacted version still opens");
        let err = expect_error(&mut events).await;
        assert!(err.is_expired(), "{err}");
        assert_eq!(err.code(), Some(410));
        assert_eq!(
            err.status().map(|s| s.message.clone()),
            Some(format!("too old resource version: {} ({now})", old - 1))
        );
        // From the compacted version itself: fine.
        let mut events = fake
            .watch(&WatchParams::default().at(now.to_string()))
            .await
            .expect("watch");
        assert!(silent_for(&mut events, Duration::from_millis(50)).await);
    });
}

#[test]
fn watch_follows_selectors_and_namespaces() {
    bounded(async {
        let fake = fake();
        fake.create_namespace("shop").expect("namespace");
        let start = fake.resource_version().to_string();
        let mut web = fake
            .watch(&WatchParams::default().at(start.clone()).labels("tier=web"))
            .await
            .expect("watch");
        let mut shop = fake
            .clone()
            .in_namespace("shop")
            .watch(&WatchParams::default().at(start))
            .await
            .expect("watch");

        let p = fake
            .create(&pod("p", json!({"tier": "db"})))
            .expect("create");
        let mut moved = p.clone();
        moved.metadata.labels = Some([("tier".to_owned(), "web".to_owned())].into());
        let moved = fake.replace(&moved).expect("into the selection");
        let mut out = moved.clone();
        out.metadata.labels = None;
        let out = fake.replace(&out).expect("out of the selection");
        fake.create(&json!({"metadata": {"name": "s", "namespace": "shop"}}))
            .expect("create in shop");

        let (kind, n, at) = expect(&mut web).await;
        assert_eq!((kind, n.as_str(), at), ("ADDED", "p", rv(&moved)));
        let (kind, n, at) = expect(&mut web).await;
        assert_eq!((kind, n.as_str(), at), ("DELETED", "p", rv(&out)));
        assert!(silent_for(&mut web, Duration::from_millis(50)).await);

        let (kind, n, _) = expect(&mut shop).await;
        assert_eq!((kind, n.as_str()), ("ADDED", "s"));
        assert!(silent_for(&mut shop, Duration::from_millis(50)).await);
        let in_shop = fake
            .clone()
            .in_namespace("shop")
            .list(&ListParams::default())
            .await
            .expect("list");
        assert_eq!(names(&in_shop.items), ["s"]);

        let err = match fake
            .watch(&WatchParams::default().labels("tier in (web"))
            .await
        {
            Err(e) => client_error(e),
            Ok(_) => panic!("a bad selector opened a watch"),
        };
        assert!(err.is_bad_request(), "{err}");
        // A creation in a namespace that does not exist.
        let err = fake
            .create(&json!({"metadata": {"name": "x", "namespace": "nowhere"}}))
            .expect_err("no such namespace");
        assert!(err.is_not_found(), "{err}");
    });
}

#[test]
fn bookmarks_and_timeouts() {
    bounded(async {
        let fake = FakeListerWatcher::<DynamicObject>::builder(&pods())
            .bookmark_interval(Duration::from_millis(50))
            .build();
        let start = fake.resource_version();
        let mut events = fake
            .watch(&WatchParams::default().at(start.to_string()).bookmarks(true))
            .await
            .expect("watch");
        // No bookmark before the storage's version has moved past the start.
        assert!(silent_for(&mut events, Duration::from_millis(200)).await);
        // A write to another resource moves the version without an event on this watch.
        let configmaps = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
        fake.for_resource::<DynamicObject>(&configmaps)
            .create(&json!({"metadata": {"name": "cm"}}))
            .expect("create");
        let (kind, _, at) = expect(&mut events).await;
        assert_eq!((kind, at), ("BOOKMARK", start + 1));

        // Without allowWatchBookmarks: none.
        let mut quiet = fake
            .watch(&WatchParams::default().at(start.to_string()))
            .await
            .expect("watch");
        assert!(silent_for(&mut quiet, Duration::from_millis(200)).await);

        // timeoutSeconds ends the stream cleanly, with a last bookmark before the end.
        let began = tokio::time::Instant::now();
        let mut timed = fake
            .watch(
                &WatchParams::default()
                    .at(start.to_string())
                    .bookmarks(true)
                    .timeout(1),
            )
            .await
            .expect("watch");
        let mut bookmarks = 0;
        while let Some(item) = next(&mut timed).await {
            match item {
                Ok(WatchEvent::Bookmark(_)) => bookmarks += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        let took = began.elapsed();
        assert!(bookmarks >= 1);
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{took:?}"
        );
    });
}

#[test]
fn streaming_initial_list_ends_with_a_bookmark() {
    bounded(async {
        let fake = fake();
        fake.create(&pod("b", json!({}))).expect("create");
        fake.create(&pod("a", json!({}))).expect("create");
        let at = fake.resource_version();
        let mut events = fake
            .watch(&WatchParams::default().bookmarks(true).initial_events(true))
            .await
            .expect("watch");
        let first = expect(&mut events).await;
        let second = expect(&mut events).await;
        assert_eq!(
            [(first.0, first.1.as_str()), (second.0, second.1.as_str())],
            [("ADDED", "a"), ("ADDED", "b")]
        );
        match next(&mut events).await {
            Some(Ok(WatchEvent::Bookmark(b))) => {
                assert!(b.is_initial_events_end());
                assert_eq!(b.metadata.resource_version, at.to_string());
            }
            other => panic!("expected the end bookmark, got {other:?}"),
        }
        // The stream stays open for changes.
        fake.create(&pod("c", json!({}))).expect("create");
        let (kind, n, _) = expect(&mut events).await;
        assert_eq!((kind, n.as_str()), ("ADDED", "c"));

        // sendInitialEvents without bookmarks is accepted, as by a 1.35 server: the
        // initial events come, without the end bookmark.
        let mut params = WatchParams::default().initial_events(true);
        params.allow_watch_bookmarks = false;
        let mut events = fake.watch(&params).await.expect("watch");
        for name in ["a", "b", "c"] {
            let (kind, n, _) = expect(&mut events).await;
            assert_eq!((kind, n.as_str()), ("ADDED", name));
        }
        fake.create(&pod("d", json!({}))).expect("create");
        let (kind, n, _) = expect(&mut events).await;
        assert_eq!(
            (kind, n.as_str()),
            ("ADDED", "d"),
            "no bookmark came before"
        );
    });
}

#[test]
fn dropped_watches_end_cleanly() {
    bounded(async {
        let fake = fake();
        let start = fake.resource_version().to_string();
        let mut a = fake
            .watch(&WatchParams::default().at(start.clone()))
            .await
            .expect("watch");
        let mut b = fake
            .watch(&WatchParams::default().at(start.clone()))
            .await
            .expect("watch");
        assert_eq!(fake.watch_count(), 2);
        fake.faults().drop_watches();
        assert!(next(&mut a).await.is_none());
        assert!(next(&mut b).await.is_none());
        assert_eq!(fake.watch_count(), 0);

        // After one more event.
        let mut c = fake
            .watch(&WatchParams::default().at(start))
            .await
            .expect("watch");
        fake.faults().drop_watches_after(1);
        fake.create(&pod("x", json!({}))).expect("create");
        fake.create(&pod("y", json!({}))).expect("create");
        let (kind, n, _) = expect(&mut c).await;
        assert_eq!((kind, n.as_str()), ("ADDED", "x"));
        assert!(next(&mut c).await.is_none());

        // Dropping the stream closes the watch.
        let d = fake.watch(&WatchParams::default()).await.expect("watch");
        assert_eq!(fake.watch_count(), 1);
        drop(d);
        tokio::time::timeout(EVENT_WAIT, async {
            while fake.watch_count() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the watch closes");
    });
}

#[test]
fn injected_failures() {
    bounded(async {
        let fake = fake();
        let faults = fake.faults();
        faults.fail_next(2, Some(Verb::List), "/pods", Failure::too_many_requests(3));
        for _ in 0..2 {
            let err = fake
                .list(&ListParams::default())
                .await
                .map_err(client_error)
                .expect_err("injected");
            assert!(err.is_too_many_requests(), "{err}");
            assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        }
        fake.list(&ListParams::default()).await.expect("third list");

        // Rules match the path the HTTP request would have.
        faults.fail_next(
            1,
            Some(Verb::List),
            "/namespaces/shop/pods",
            Failure::status(500),
        );
        fake.list(&ListParams::default())
            .await
            .expect("all namespaces");
        let err = fake
            .clone()
            .in_namespace("shop")
            .list(&ListParams::default())
            .await
            .map_err(client_error)
            .expect_err("injected");
        assert!(err.is_internal_error(), "{err}");

        // A watch failing with 410 answers with one ERROR event; other codes refuse it.
        faults.fail_next(1, Some(Verb::Watch), "/pods", Failure::status(410));
        let mut events = fake
            .watch(&WatchParams::default())
            .await
            .expect("opens with an error event");
        let err = expect_error(&mut events).await;
        assert!(err.is_expired(), "{err}");
        faults.fail_next(1, Some(Verb::Watch), "/pods", Failure::status(503));
        let err = match fake.watch(&WatchParams::default()).await {
            Err(e) => client_error(e),
            Ok(_) => panic!("opened"),
        };
        assert!(err.is_service_unavailable(), "{err}");
        let mut events = fake.watch(&WatchParams::default()).await.expect("watch");
        assert!(silent_for(&mut events, Duration::from_millis(50)).await);

        // A list failing with 410 is Expired, as the server answers it.
        faults.fail_next(1, None, "/pods", Failure::status(410));
        let err = fake
            .list(&ListParams::default())
            .await
            .map_err(client_error)
            .expect_err("injected");
        assert!(err.is_expired(), "{err}");

        // Delay.
        faults.set_delay(Some(Duration::from_millis(200)));
        let began = tokio::time::Instant::now();
        fake.list(&ListParams::default()).await.expect("delayed");
        assert!(began.elapsed() >= Duration::from_millis(200));
        faults.clear();
    });
}

#[test]
fn malformed_events_and_restarts_end_watches_with_errors() {
    bounded(async {
        let fake = fake();
        let start = fake.resource_version().to_string();
        let mut events = fake
            .watch(&WatchParams::default().at(start.clone()))
            .await
            .expect("watch");
        fake.faults().malformed_line();
        fake.create(&pod("a", json!({}))).expect("create");
        let err = expect_error(&mut events).await;
        assert!(matches!(err, Error::Decode { .. }), "{err}");

        let mut events = fake
            .watch(&WatchParams::default().at(start.clone()))
            .await
            .expect("watch");
        let (kind, n, _) = expect(&mut events).await;
        assert_eq!((kind, n.as_str()), ("ADDED", "a"));
        fake.faults().restart(false);
        let err = expect_error(&mut events).await;
        assert!(err.is_transport(), "{err}");
        // The state is kept.
        assert_eq!(fake.list_objects(None).expect("objects").len(), 1);
        let mut events = fake
            .watch(&WatchParams::default().at(start.clone()))
            .await
            .expect("watch");
        assert_eq!(expect(&mut events).await.0, "ADDED");

        // A restart with compaction: the old version is gone.
        fake.faults().restart(true);
        assert!(expect_error(&mut events).await.is_transport());
        let mut events = fake
            .watch(&WatchParams::default().at(start))
            .await
            .expect("watch");
        assert!(expect_error(&mut events).await.is_expired());
    });
}

#[test]
fn typed_objects_round_trip() {
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    bounded(async {
        let fake: FakeListerWatcher<Pod> = FakeListerWatcher::new(&pods());
        let created = fake
            .create(&Pod {
                metadata: ObjectMeta {
                    name: Some("web".into()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .expect("create");
        assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
        assert!(created.metadata.uid.is_some());
        let list = fake.list(&ListParams::default()).await.expect("list");
        assert_eq!(list.items.len(), 1);
        assert_eq!(list.items[0], created);
        let mut events = fake.watch(&WatchParams::default()).await.expect("watch");
        match tokio::time::timeout(EVENT_WAIT, events.next()).await {
            Ok(Some(Ok(WatchEvent::Added(p)))) => assert_eq!(p, created),
            other => panic!("expected the pod, got {other:?}"),
        }
        // A stored object that does not decode into K is a decode error, not a panic.
        let odd = fake.for_resource::<DynamicObject>(&pods());
        odd.create(&json!({"metadata": {"name": "odd"}, "spec": {"containers": "nope"}}))
            .expect("stored as JSON");
        let err = fake
            .list(&ListParams::default())
            .await
            .map_err(client_error)
            .expect_err("undecodable");
        assert!(matches!(err, Error::Decode { .. }), "{err}");
    });
}

#[test]
fn same_answers_as_list_watch_over_http() {
    bounded(async {
        let server = ApiServer::builder()
            .too_large_resource_version_wait(Duration::from_millis(50))
            .start()
            .await
            .expect("server");
        let fake: Fake = server.lister_watcher(&pods());
        let mut config = Config::from_kubeconfig_file(server.kubeconfig()).expect("kubeconfig");
        config.rate_limit = None;
        // The fake answers once; so must the client, without retrying the 504.
        config.retry = RetryPolicy::none();
        let client = RestClient::new(config).expect("client");
        let http = ListWatch::new(Api::<DynamicObject>::all_with(client, &pods()));

        // Writes through either reach the other.
        fake.create(&pod("a", json!({"tier": "web"})))
            .expect("create");
        server
            .create(&pods(), pod("b", json!({"tier": "db"})))
            .expect("create");
        fake.create(&pod("c", json!({"tier": "web"})))
            .expect("create");
        assert_eq!(
            server.get(&pods(), None, "a").expect("get")["metadata"]["name"],
            "a"
        );

        let start = fake.resource_version();
        for params in [
            ListParams::default(),
            ListParams::default().limit(2),
            ListParams::default().labels("tier=web").limit(1),
            ListParams::default().at("0").limit(1),
            ListParams::default()
                .at("5")
                .matching(ResourceVersionMatch::Exact),
            ListParams::default().labels("tier in ("),
            ListParams::default()
                .at("999")
                .matching(ResourceVersionMatch::NotOlderThan),
        ] {
            let via_fake = fake.list(&params).await;
            let via_http = http.list(&params).await;
            match (via_fake, via_http) {
                (Ok(f), Ok(h)) => assert_eq!(f, h, "{params:?}"),
                (Err(f), Err(h)) => assert_eq!(f.status(), h.status(), "{params:?}"),
                (f, h) => panic!("{params:?}: fake {f:?}, http {h:?}"),
            }
        }

        let token = fake
            .list(&ListParams::default().limit(1))
            .await
            .expect("list")
            .metadata
            .continue_
            .expect("token");
        server.create(&pods(), pod("d", json!({}))).expect("create");
        server.faults().compact();
        let params = ListParams::default().continue_token(token);
        let f = fake.list(&params).await.expect_err("expired");
        let h = http.list(&params).await.expect_err("expired");
        assert!(f.is_expired());
        assert_eq!(f.status(), h.status());

        // Watches: the same compacted error, the same events.
        let old = WatchParams::default().at(start.to_string());
        let mut f = fake.watch(&old).await.expect("watch");
        let mut h = http.watch(&old).await.expect("watch");
        let (f, h) = (expect_error(&mut f).await, expect_error(&mut h).await);
        assert_eq!(f.status(), h.status());

        let now = WatchParams::default().at(fake.resource_version().to_string());
        let mut f = fake.watch(&now).await.expect("watch");
        let mut h = http.watch(&now).await.expect("watch");
        fake.create(&pod("e", json!({}))).expect("create");
        fake.delete(None, "a").expect("delete");
        for _ in 0..2 {
            let (fe, he) = (next(&mut f).await, next(&mut h).await);
            match (fe, he) {
                (Some(Ok(fe)), Some(Ok(he))) => assert_eq!(fe, he),
                other => panic!("{other:?}"),
            }
        }
        drop((f, h));
        server.shutdown().await;
    });
}
