//! The Reflector alone, over the in-memory `FakeListerWatcher` and into an `Indexer`:
//! which resourceVersion each list and watch asks for, and the watch options.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use informer::cache::{
    Indexer, Indexers, ListWatchError, ListWatchErrorKind, ListWatchResult, ListerWatcher,
    Reflector, ReflectorOptions, WatchStream,
};
use informer::client::{Error, ListParams, WatchParams};
use informer::meta::ObjectList;
use informer::testing::{Failure, FakeListerWatcher, Verb};
use parking_lot::Mutex;
use support::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Records the params of every call, then forwards it.
struct Recording {
    inner: FakeListerWatcher<Obj>,
    lists: Mutex<Vec<ListParams>>,
    watches: Mutex<Vec<WatchParams>>,
}

impl ListerWatcher<Obj> for Recording {
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> BoxFuture<'a, ListWatchResult<ObjectList<Obj>>> {
        self.lists.lock().push(params.clone());
        self.inner.list(params)
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> BoxFuture<'a, ListWatchResult<WatchStream<Obj>>> {
        self.watches.lock().push(params.clone());
        self.inner.watch(params)
    }
}

/// A reflector from `lw` into `store`, running until the returned token is cancelled.
fn run_reflector(
    lw: Arc<dyn ListerWatcher<Obj>>,
    store: &Indexer<Obj>,
    options: ReflectorOptions,
) -> (Arc<Reflector<Obj>>, CancellationToken, JoinHandle<()>) {
    let reflector = Arc::new(Reflector::new(lw, Arc::new(store.clone()), options));
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (r, stop) = (reflector.clone(), stop.clone());
        async move { r.run(stop).await }
    });
    (reflector, stop, task)
}

#[test]
fn a_relist_after_a_watch_410_asks_for_the_last_seen_version() {
    bounded(async {
        let fake = FakeListerWatcher::<Obj>::new(&configmaps());
        for i in 0..3 {
            fake.create(&cm("default", &format!("c{i}"), "a")).unwrap();
        }
        let lw = Arc::new(Recording {
            inner: fake.clone(),
            lists: Mutex::default(),
            watches: Mutex::default(),
        });
        let store = Indexer::new(Indexers::new());
        let mut options = fast_reflector("configmaps");
        options.min_watch_timeout = Duration::from_secs(60);
        let (reflector, stop, task) = run_reflector(lw.clone(), &store, options);
        wait_until("listed", || store.len() == 3).await;
        let listed_at = reflector.last_sync_resource_version();
        fake.create(&cm("default", "live", "b")).unwrap();
        let seen = fake.resource_version().to_string();
        wait_until("watched", || reflector.last_sync_resource_version() == seen).await;

        // The next watch answers 410: the reflector relists at the version it had seen.
        fake.faults()
            .fail_next(1, Some(Verb::Watch), "/configmaps", Failure::status(410));
        fake.faults().drop_watches();
        wait_until("relisted", || reflector.metrics().relists == 1).await;

        let lists: Vec<_> = lw
            .lists
            .lock()
            .iter()
            .map(|p| (p.resource_version.clone(), p.limit))
            .collect();
        // The first list pages (a server ignores the limit at "0"); the relist at a known
        // version asks for everything, which a real server serves from its watch cache
        // (with a limit it would read that exact, likely compacted, version).
        assert_eq!(
            lists,
            [
                (Some("0".to_owned()), Some(500)),
                (Some(seen.clone()), None)
            ]
        );
        let watches = lw.watches.lock().clone();
        assert!(watches.len() >= 3, "{watches:?}");
        assert_eq!(
            watches[0].resource_version.as_deref(),
            Some(listed_at.as_str())
        );
        assert_eq!(watches[1].resource_version.as_deref(), Some(seen.as_str()));
        for w in &watches {
            assert!(w.allow_watch_bookmarks);
            let t = w.timeout_seconds.expect("a timeout");
            assert!((60..120).contains(&t), "timeout {t} in [60, 120)");
        }
        assert_eq!(store.len(), 4);
        stop.cancel();
        task.await.unwrap();
    });
}

#[test]
fn a_clean_watch_end_rewatches_from_the_last_version_without_a_list() {
    bounded(async {
        let fake = FakeListerWatcher::<Obj>::new(&configmaps());
        fake.create(&cm("default", "a", "a")).unwrap();
        let lw = Arc::new(Recording {
            inner: fake.clone(),
            lists: Mutex::default(),
            watches: Mutex::default(),
        });
        let store = Indexer::new(Indexers::new());
        let (reflector, stop, task) =
            run_reflector(lw.clone(), &store, fast_reflector("configmaps"));
        wait_until("listed", || store.len() == 1).await;
        for i in 0..3 {
            fake.create(&cm("default", &format!("n{i}"), "b")).unwrap();
            let seen = fake.resource_version().to_string();
            wait_until("watched", || reflector.last_sync_resource_version() == seen).await;
            fake.faults().drop_watches();
            wait_until("re-watched", || lw.watches.lock().len() == i + 2).await;
            assert_eq!(
                lw.watches.lock()[i + 1].resource_version.as_deref(),
                Some(seen.as_str())
            );
        }
        assert_eq!(lw.lists.lock().len(), 1, "no relist");
        stop.cancel();
        task.await.unwrap();
    });
}

/// Fails the next watch calls with the queued errors, then forwards.
struct FailingWatches {
    inner: FakeListerWatcher<Obj>,
    failures: Mutex<Vec<Error>>,
    watch_calls: Mutex<usize>,
}

impl ListerWatcher<Obj> for FailingWatches {
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> BoxFuture<'a, ListWatchResult<ObjectList<Obj>>> {
        self.inner.list(params)
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> BoxFuture<'a, ListWatchResult<WatchStream<Obj>>> {
        *self.watch_calls.lock() += 1;
        match self.failures.lock().pop() {
            Some(e) => Box::pin(async move { Err(e.into()) }),
            None => self.inner.watch(params),
        }
    }
}

fn transport(source: std::io::Error) -> Error {
    Error::Transport {
        context: "GET http://127.0.0.1/api/v1/configmaps?watch=1".to_owned(),
        source: Box::new(source),
    }
}

#[test]
fn a_refused_watch_is_retried_in_place_and_other_failures_relist() {
    bounded(async {
        let fake = FakeListerWatcher::<Obj>::new(&configmaps());
        fake.create(&cm("default", "a", "a")).unwrap();
        let refused = || transport(std::io::ErrorKind::ConnectionRefused.into());
        let lw = Arc::new(FailingWatches {
            inner: fake.clone(),
            failures: Mutex::new(vec![refused(), refused()]),
            watch_calls: Mutex::default(),
        });
        let store = Indexer::new(Indexers::new());
        let (reflector, stop, task) =
            run_reflector(lw.clone(), &store, fast_reflector("configmaps"));
        // Two refused connections (a restarting server): the watch opens on the third
        // try, from the list's version, without a relist or a reported error.
        wait_until("watching", || *lw.watch_calls.lock() == 3).await;
        fake.create(&cm("default", "b", "b")).unwrap();
        wait_until("watched", || store.len() == 2).await;
        let m = reflector.metrics();
        assert_eq!((m.lists, m.relists, m.watch_errors), (1, 0, 0), "{m:?}");

        // Any other failure to open a watch (here, as a TLS failure would) is an error
        // of the attempt: reported, and followed by a relist.
        lw.failures
            .lock()
            .push(transport(std::io::Error::other("certificate expired")));
        fake.faults().drop_watches();
        wait_until("relisted", || reflector.metrics().relists == 1).await;
        assert_eq!(reflector.metrics().watch_errors, 1);
        stop.cancel();
        task.await.unwrap();
    });
}

/// Ends its first watch with a status-less `Expired` item, as a lister-watcher of its own
/// may classify a failure, then forwards.
struct ExpiringStream {
    inner: FakeListerWatcher<Obj>,
    expired: Mutex<bool>,
}

impl ListerWatcher<Obj> for ExpiringStream {
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> BoxFuture<'a, ListWatchResult<ObjectList<Obj>>> {
        self.inner.list(params)
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> BoxFuture<'a, ListWatchResult<WatchStream<Obj>>> {
        if std::mem::replace(&mut *self.expired.lock(), true) {
            return self.inner.watch(params);
        }
        Box::pin(async {
            let e = ListWatchError::new(ListWatchErrorKind::Expired, "compacted (no status)");
            Ok(futures::StreamExt::boxed(futures::stream::iter([Err(e)])))
        })
    }
}

#[test]
fn a_watch_item_classified_expired_relists_even_without_a_status() {
    bounded(async {
        let fake = FakeListerWatcher::<Obj>::new(&configmaps());
        fake.create(&cm("default", "a", "a")).unwrap();
        let lw = Arc::new(ExpiringStream {
            inner: fake.clone(),
            expired: Mutex::new(false),
        });
        let store = Indexer::new(Indexers::new());
        let (reflector, stop, task) = run_reflector(lw, &store, fast_reflector("configmaps"));
        // Reopening the watch at the same version would expire again: the reflector
        // relists instead, then watches on.
        wait_until("relisted", || reflector.metrics().relists == 1).await;
        fake.create(&cm("default", "b", "b")).unwrap();
        wait_until("watched", || store.len() == 2).await;
        assert_eq!(reflector.metrics().watch_errors, 1);
        stop.cancel();
        task.await.unwrap();
    });
}
