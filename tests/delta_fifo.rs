//! DeltaFifo semantics, one named test each, a property test against a model, and an
//! async test with several producers and one consumer.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use informer::cache::{
    DeletedFinalStateUnknown, DeltaFifo, DeltaObject, DeltaType, Deltas, Indexer, Indexers,
    KnownObjects, PopError, ProcessError,
};
use informer::meta::{DynamicObject, Object, ObjectMeta};
use proptest::prelude::*;

fn obj(name: &str, version: u32) -> Arc<DynamicObject> {
    Arc::new(DynamicObject {
        metadata: ObjectMeta {
            namespace: Some("ns".to_owned()),
            name: Some(name.to_owned()),
            resource_version: Some(version.to_string()),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn version(o: &DynamicObject) -> u32 {
    o.resource_version().unwrap().parse().unwrap()
}

/// A compact view of deltas: (type, version, tombstone?).
fn view(deltas: &Deltas<DynamicObject>) -> Vec<(DeltaType, u32, bool)> {
    deltas
        .iter()
        .map(|d| (d.kind, version(d.object.object()), d.object.is_tombstone()))
        .collect()
}

fn fifo_with_store() -> (DeltaFifo<DynamicObject>, Indexer<DynamicObject>) {
    let store = Indexer::new(Indexers::new());
    let known: Arc<dyn KnownObjects<DynamicObject>> = Arc::new(store.clone());
    (DeltaFifo::new(Some(known)), store)
}

/// Pops one item and applies it to `store` the way the controller loop does.
async fn pop_into(
    fifo: &DeltaFifo<DynamicObject>,
    store: &Indexer<DynamicObject>,
) -> (String, Vec<(DeltaType, u32, bool)>, bool) {
    fifo.pop(|key, deltas, initial| {
        for d in deltas {
            match d.kind {
                DeltaType::Deleted => {
                    store.delete_by_key(key).unwrap();
                }
                _ => {
                    store.add(d.object.object().clone()).unwrap();
                }
            }
        }
        Ok::<_, ProcessError<()>>((key.to_owned(), view(deltas), initial))
    })
    .await
    .unwrap()
}

async fn pop_view(fifo: &DeltaFifo<DynamicObject>) -> (String, Vec<(DeltaType, u32, bool)>) {
    fifo.pop(|key, deltas, _| Ok::<_, ProcessError<()>>((key.to_owned(), view(deltas))))
        .await
        .unwrap()
}

use DeltaType::*;

#[tokio::test]
async fn coalesces_per_key_in_first_queued_order() {
    let fifo = DeltaFifo::new(None);
    fifo.add(obj("a", 1)).unwrap();
    fifo.add(obj("b", 2)).unwrap();
    fifo.update(obj("a", 3)).unwrap();
    fifo.add(obj("c", 4)).unwrap();
    fifo.update(obj("b", 5)).unwrap();
    fifo.delete(obj("a", 6)).unwrap();
    assert_eq!(fifo.list_keys(), ["ns/a", "ns/b", "ns/c"]);
    assert_eq!(
        pop_view(&fifo).await,
        (
            "ns/a".into(),
            vec![(Added, 1, false), (Updated, 3, false), (Deleted, 6, false)]
        )
    );
    assert_eq!(
        pop_view(&fifo).await,
        ("ns/b".into(), vec![(Added, 2, false), (Updated, 5, false)])
    );
    assert_eq!(
        pop_view(&fifo).await,
        ("ns/c".into(), vec![(Added, 4, false)])
    );
    assert!(fifo.is_empty());
}

#[tokio::test]
async fn consecutive_deletions_collapse_keeping_the_richer_one() {
    // A tombstone followed by an object: the object wins.
    let (fifo, store) = fifo_with_store();
    store.add(obj("a", 1)).unwrap();
    fifo.replace(vec![], "10").unwrap(); // tombstone for a (known, not listed)
    fifo.delete(obj("a", 2)).unwrap();
    assert_eq!(
        view(&fifo.get_by_key("ns/a").unwrap()),
        [(Deleted, 2, false)]
    );

    // An object followed by a tombstone: the object stays.
    let (fifo, store) = fifo_with_store();
    store.add(obj("a", 1)).unwrap();
    fifo.delete(obj("a", 3)).unwrap();
    fifo.replace(vec![], "10").unwrap();
    assert_eq!(
        view(&fifo.get_by_key("ns/a").unwrap()),
        [(Deleted, 3, false)]
    );

    // Two objects: the first stays, as in client-go.
    let (fifo, store) = fifo_with_store();
    store.add(obj("a", 1)).unwrap();
    fifo.delete(obj("a", 4)).unwrap();
    fifo.delete(obj("a", 5)).unwrap();
    assert_eq!(
        view(&fifo.get_by_key("ns/a").unwrap()),
        [(Deleted, 4, false)]
    );

    // Deletions that are not consecutive are both kept.
    let (fifo, store) = fifo_with_store();
    store.add(obj("a", 1)).unwrap();
    fifo.delete(obj("a", 2)).unwrap();
    fifo.add(obj("a", 3)).unwrap();
    fifo.delete(obj("a", 4)).unwrap();
    assert_eq!(
        view(&fifo.get_by_key("ns/a").unwrap()),
        [(Deleted, 2, false), (Added, 3, false), (Deleted, 4, false)]
    );
}

#[tokio::test]
async fn replace_queues_replaced_and_tombstones_for_known_keys_absent_from_list() {
    let (fifo, store) = fifo_with_store();
    store.add(obj("kept", 1)).unwrap();
    store.add(obj("gone", 2)).unwrap();
    fifo.replace(vec![obj("kept", 3), obj("new", 4)], "10")
        .unwrap();
    assert_eq!(
        view(&fifo.get_by_key("ns/kept").unwrap()),
        [(Replaced, 3, false)]
    );
    assert_eq!(
        view(&fifo.get_by_key("ns/new").unwrap()),
        [(Replaced, 4, false)]
    );
    let gone = fifo.get_by_key("ns/gone").unwrap();
    assert_eq!(view(&gone), [(Deleted, 2, true)]);
    match &gone[0].object {
        DeltaObject::Tombstone(DeletedFinalStateUnknown { key, obj }) => {
            assert_eq!(key, "ns/gone");
            assert!(Arc::ptr_eq(obj, &store.get_by_key("ns/gone").unwrap()));
        }
        other => panic!("expected a tombstone, got {other:?}"),
    }
    assert_eq!(fifo.list_keys(), ["ns/kept", "ns/new", "ns/gone"]);
}

#[tokio::test]
async fn replace_tombstones_queued_but_unpopped_keys_absent_from_list() {
    let (fifo, _store) = fifo_with_store();
    fifo.add(obj("queued", 1)).unwrap();
    fifo.update(obj("queued", 2)).unwrap();
    fifo.replace(vec![obj("other", 3)], "10").unwrap();
    // The tombstone carries the newest queued state.
    assert_eq!(
        view(&fifo.get_by_key("ns/queued").unwrap()),
        [(Added, 1, false), (Updated, 2, false), (Deleted, 2, true)]
    );
    // A second replace without the key: the tombstone's object is unwrapped, and the
    // consecutive tombstones collapse into one.
    fifo.replace(vec![obj("other", 4)], "11").unwrap();
    assert_eq!(
        view(&fifo.get_by_key("ns/queued").unwrap()),
        [(Added, 1, false), (Updated, 2, false), (Deleted, 2, true)]
    );

    // Without known objects the same holds for queued keys.
    let fifo = DeltaFifo::new(None);
    fifo.add(obj("x", 1)).unwrap();
    fifo.replace(vec![], "1").unwrap();
    assert_eq!(
        view(&fifo.get_by_key("ns/x").unwrap()),
        [(Added, 1, false), (Deleted, 1, true)]
    );
}

#[tokio::test]
async fn resync_queues_sync_only_for_keys_not_already_queued() {
    let (fifo, store) = fifo_with_store();
    store.add(obj("idle", 1)).unwrap();
    store.add(obj("busy", 2)).unwrap();
    fifo.update(obj("busy", 3)).unwrap();
    fifo.resync();
    assert_eq!(
        view(&fifo.get_by_key("ns/idle").unwrap()),
        [(Sync, 1, false)]
    );
    assert_eq!(
        view(&fifo.get_by_key("ns/busy").unwrap()),
        [(Updated, 3, false)]
    );
    // Without known objects a resync does nothing.
    let lone: DeltaFifo<DynamicObject> = DeltaFifo::new(None);
    lone.resync();
    assert!(lone.is_empty());
}

#[tokio::test]
async fn has_synced_after_the_initial_population_is_popped() {
    let (fifo, store) = fifo_with_store();
    assert!(!fifo.has_synced(), "nothing replaced yet");
    fifo.replace(vec![obj("a", 1), obj("b", 2)], "5").unwrap();
    assert!(!fifo.has_synced());
    // Events after the list do not extend the initial population.
    fifo.add(obj("c", 3)).unwrap();
    let (_, _, initial) = pop_into(&fifo, &store).await;
    assert!(initial);
    assert!(!fifo.has_synced());
    let (_, _, initial) = pop_into(&fifo, &store).await;
    assert!(initial);
    assert!(fifo.has_synced());
    let (key, _, initial) = pop_into(&fifo, &store).await;
    assert_eq!(key, "ns/c");
    assert!(!initial);
    assert!(fifo.has_synced());
}

#[tokio::test]
async fn has_synced_after_an_empty_replace() {
    let fifo: DeltaFifo<DynamicObject> = DeltaFifo::new(None);
    fifo.replace(vec![], "1").unwrap();
    assert!(fifo.has_synced());
}

#[tokio::test]
async fn initial_population_counts_tombstones() {
    let (fifo, store) = fifo_with_store();
    store.add(obj("gone", 1)).unwrap();
    fifo.replace(vec![obj("a", 2)], "5").unwrap();
    pop_into(&fifo, &store).await;
    assert!(
        !fifo.has_synced(),
        "the tombstone is part of the initial population"
    );
    pop_into(&fifo, &store).await;
    assert!(fifo.has_synced());
    assert!(store.get_by_key("ns/gone").is_none());
}

#[tokio::test]
async fn add_if_not_present_does_not_clobber_newer_deltas() {
    let fifo = DeltaFifo::new(None);
    fifo.add(obj("a", 1)).unwrap();
    let popped: Deltas<DynamicObject> = fifo
        .pop(|_, deltas, _| Ok::<_, ProcessError<()>>(deltas.clone()))
        .await
        .unwrap();
    fifo.update(obj("a", 2)).unwrap();
    fifo.add_if_not_present(popped.clone()).unwrap();
    assert_eq!(
        view(&fifo.get_by_key("ns/a").unwrap()),
        [(Updated, 2, false)]
    );
    // With the key absent, the deltas come back.
    pop_view(&fifo).await;
    fifo.add_if_not_present(popped).unwrap();
    assert_eq!(view(&fifo.get_by_key("ns/a").unwrap()), [(Added, 1, false)]);
}

#[tokio::test]
async fn a_process_error_can_requeue_the_item() {
    let fifo = DeltaFifo::new(None);
    fifo.add(obj("a", 1)).unwrap();
    fifo.add(obj("b", 2)).unwrap();
    let r: Result<(), _> = fifo
        .pop(|_, _, _| Err(ProcessError::Requeue("try later")))
        .await;
    assert!(matches!(r, Err(PopError::Process("try later"))));
    // Requeued at the back, with its deltas intact.
    assert_eq!(fifo.list_keys(), ["ns/b", "ns/a"]);
    assert_eq!(view(&fifo.get_by_key("ns/a").unwrap()), [(Added, 1, false)]);
    // A plain failure drops the item.
    let r: Result<(), _> = fifo.pop(|_, _, _| Err(ProcessError::Fail("bad"))).await;
    assert!(matches!(r, Err(PopError::Process("bad"))));
    assert_eq!(fifo.list_keys(), ["ns/a"]);
}

#[tokio::test]
async fn close_wakes_a_blocked_pop() {
    let fifo: Arc<DeltaFifo<DynamicObject>> = Arc::new(DeltaFifo::new(None));
    let waiter = {
        let fifo = fifo.clone();
        tokio::spawn(async move { fifo.pop(|_, _, _| Ok::<_, ProcessError<()>>(())).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished(), "pop must block on an empty FIFO");
    fifo.close();
    let r = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("close woke the pop")
        .unwrap();
    assert!(matches!(r, Err(PopError::Closed)));
    assert!(fifo.is_closed());
}

#[tokio::test]
async fn a_closed_fifo_drains_then_reports_closed() {
    let fifo = DeltaFifo::new(None);
    fifo.add(obj("a", 1)).unwrap();
    fifo.close();
    assert_eq!(pop_view(&fifo).await.0, "ns/a");
    let r = fifo.pop(|_, _, _| Ok::<_, ProcessError<()>>(())).await;
    assert!(matches!(r, Err(PopError::Closed)));
}

#[tokio::test]
async fn a_blocked_pop_wakes_on_add() {
    let fifo: Arc<DeltaFifo<DynamicObject>> = Arc::new(DeltaFifo::new(None));
    let waiter = {
        let fifo = fifo.clone();
        tokio::spawn(async move { pop_view(&fifo).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    fifo.add(obj("a", 1)).unwrap();
    let (key, _) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("add woke the pop")
        .unwrap();
    assert_eq!(key, "ns/a");
}

#[tokio::test]
async fn deleting_an_object_neither_queued_nor_known_is_ignored() {
    let (fifo, store) = fifo_with_store();
    fifo.delete(obj("ghost", 1)).unwrap();
    assert!(fifo.is_empty());
    store.add(obj("known", 1)).unwrap();
    fifo.delete(obj("known", 2)).unwrap();
    assert_eq!(fifo.list_keys(), ["ns/known"]);
}

#[tokio::test]
async fn a_bad_object_fails_replace_before_anything_is_queued() {
    let fifo = DeltaFifo::new(None);
    let nameless = Arc::new(DynamicObject::default());
    assert!(fifo.replace(vec![obj("a", 1), nameless], "1").is_err());
    assert!(fifo.is_empty());
    assert!(!fifo.has_synced());
}

// ---------------------------------------------------------------- property test

#[derive(Clone, Debug)]
enum Op {
    Add(&'static str),
    Update(&'static str),
    Delete(&'static str),
    Replace(Vec<&'static str>),
    Resync,
    Pop,
}

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "c", "d", "e", "f"])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => name().prop_map(Op::Add),
        3 => name().prop_map(Op::Update),
        2 => name().prop_map(Op::Delete),
        1 => prop::collection::vec(name(), 0..5).prop_map(Op::Replace),
        1 => Just(Op::Resync),
        3 => Just(Op::Pop),
    ]
}

type DeltaView = (DeltaType, u32, bool);

/// The model: a queue of groups of keys (keys within a group may come in any order, as
/// the tombstones `replace` queues for known objects do), deltas per key, and the known
/// store that popped deltas are applied to.
#[derive(Default)]
struct Model {
    queue: VecDeque<BTreeSet<String>>,
    items: BTreeMap<String, Vec<DeltaView>>,
    known: BTreeMap<String, u32>,
}

impl Model {
    fn push(&mut self, key: &str, d: DeltaView, group: Option<&mut BTreeSet<String>>) {
        match self.items.get_mut(key) {
            Some(ds) => {
                let last = *ds.last().unwrap();
                if d.0 == Deleted && last.0 == Deleted {
                    if last.2 {
                        *ds.last_mut().unwrap() = d;
                    }
                } else {
                    ds.push(d);
                }
            }
            None => {
                self.items.insert(key.to_owned(), vec![d]);
                match group {
                    Some(g) => {
                        g.insert(key.to_owned());
                    }
                    None => self.queue.push_back(BTreeSet::from([key.to_owned()])),
                }
            }
        }
    }

    fn order_matches(&self, actual: &[String]) -> bool {
        let mut i = 0;
        for group in &self.queue {
            let n = group.len();
            if i + n > actual.len() {
                return false;
            }
            let got: BTreeSet<String> = actual[i..i + n].iter().cloned().collect();
            if &got != group {
                return false;
            }
            i += n;
        }
        i == actual.len()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn delta_fifo_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (fifo, store) = fifo_with_store();
        let mut m = Model::default();
        for (v, op) in ops.into_iter().enumerate() {
            let v = v as u32 + 1;
            match op {
                Op::Add(n) => {
                    fifo.add(obj(n, v)).unwrap();
                    m.push(&format!("ns/{n}"), (Added, v, false), None);
                }
                Op::Update(n) => {
                    fifo.update(obj(n, v)).unwrap();
                    m.push(&format!("ns/{n}"), (Updated, v, false), None);
                }
                Op::Delete(n) => {
                    fifo.delete(obj(n, v)).unwrap();
                    let key = format!("ns/{n}");
                    if m.items.contains_key(&key) || m.known.contains_key(&key) {
                        m.push(&key, (Deleted, v, false), None);
                    }
                }
                Op::Replace(names) => {
                    fifo.replace(names.iter().map(|n| obj(n, v)).collect(), "1").unwrap();
                    let listed: BTreeSet<String> = names.iter().map(|n| format!("ns/{n}")).collect();
                    for n in &names {
                        m.push(&format!("ns/{n}"), (Replaced, v, false), None);
                    }
                    let queued: Vec<String> = m.queue.iter().flatten().cloned().collect();
                    for key in queued {
                        if listed.contains(&key) { continue; }
                        let newest = m.items[&key].last().unwrap().1;
                        m.push(&key, (Deleted, newest, true), None);
                    }
                    let mut group = BTreeSet::new();
                    let known: Vec<(String, u32)> = m.known.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    for (key, kv) in known {
                        if listed.contains(&key) || m.items.contains_key(&key) { continue; }
                        m.push(&key, (Deleted, kv, true), Some(&mut group));
                    }
                    if !group.is_empty() { m.queue.push_back(group); }
                }
                Op::Resync => {
                    fifo.resync();
                    let mut group = BTreeSet::new();
                    let known: Vec<(String, u32)> = m.known.iter().map(|(k, v)| (k.clone(), *v)).collect();
                    for (key, kv) in known {
                        if m.items.contains_key(&key) { continue; }
                        m.push(&key, (Sync, kv, false), Some(&mut group));
                    }
                    if !group.is_empty() { m.queue.push_back(group); }
                }
                Op::Pop => {
                    if m.items.is_empty() {
                        prop_assert!(fifo.is_empty());
                        continue;
                    }
                    let (key, got, _) = rt.block_on(pop_into(&fifo, &store));
                    let front = m.queue.front_mut().unwrap();
                    prop_assert!(front.remove(&key), "popped {} out of order", key);
                    if front.is_empty() { m.queue.pop_front(); }
                    let want = m.items.remove(&key).unwrap();
                    prop_assert_eq!(&got, &want);
                    match want.last().unwrap() {
                        (Deleted, _, _) => { m.known.remove(&key); }
                        (_, ver, _) => { m.known.insert(key.clone(), *ver); }
                    }
                }
            }
            let keys = fifo.list_keys();
            prop_assert!(m.order_matches(&keys), "queue {:?} vs model {:?}", keys, m.queue);
            for (key, want) in &m.items {
                let got = view(&fifo.get_by_key(key).unwrap());
                prop_assert_eq!(&got, want, "deltas of {}", key);
            }
            let known: BTreeMap<String, u32> = store.list().iter()
                .map(|o| (format!("ns/{}", o.name().unwrap()), version(o))).collect();
            prop_assert_eq!(&known, &m.known);
        }
    }
}

// ---------------------------------------------------------------- producers and consumer

/// Four producers each write a strictly increasing version sequence to their own keys
/// while one consumer pops; every version arrives exactly once, in order per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_producers_one_consumer_lose_and_reorder_nothing() {
    const PRODUCERS: u32 = 4;
    const KEYS_EACH: u32 = 10;
    const UPDATES: u32 = 500;
    let fifo: Arc<DeltaFifo<DynamicObject>> = Arc::new(DeltaFifo::new(None));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let fifo = fifo.clone();
            tokio::spawn(async move {
                for v in 1..=UPDATES {
                    for k in 0..KEYS_EACH {
                        let o = obj(&format!("p{p}-k{k}"), v);
                        if v == 1 {
                            fifo.add(o).unwrap();
                        } else {
                            fifo.update(o).unwrap();
                        }
                    }
                    if v % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    let consumer = {
        let fifo = fifo.clone();
        tokio::spawn(async move {
            let mut seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
            loop {
                let r = fifo
                    .pop(|key, deltas, _| {
                        let versions: Vec<u32> =
                            deltas.iter().map(|d| version(d.object.object())).collect();
                        Ok::<_, ProcessError<()>>((key.to_owned(), versions))
                    })
                    .await;
                match r {
                    Ok((key, versions)) => seen.entry(key).or_default().extend(versions),
                    Err(PopError::Closed) => return seen,
                    Err(e) => panic!("{e:?}"),
                }
            }
        })
    };
    for p in producers {
        p.await.unwrap();
    }
    // Let the consumer drain, then close.
    tokio::time::timeout(Duration::from_secs(30), async {
        while !fifo.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("consumer drained the FIFO");
    fifo.close();
    let seen = tokio::time::timeout(Duration::from_secs(5), consumer)
        .await
        .expect("consumer stopped")
        .unwrap();
    assert_eq!(seen.len() as u32, PRODUCERS * KEYS_EACH);
    let want: Vec<u32> = (1..=UPDATES).collect();
    for (key, versions) in seen {
        assert_eq!(versions, want, "versions of {key}");
    }
}

#[tokio::test]
async fn a_paged_replace_syncs_only_when_finished_and_tombstones_what_no_page_listed() {
    let (fifo, store) = fifo_with_store();
    fifo.replace_start();
    fifo.replace_page(vec![obj("a", 1), obj("b", 1)]).unwrap();
    // Pages already queued can be popped before the list is complete…
    assert!(pop_into(&fifo, &store).await.2);
    assert!(pop_into(&fifo, &store).await.2);
    // …but the FIFO has not synced until the last page is in.
    assert!(!fifo.has_synced());
    fifo.replace_page(vec![obj("c", 1)]).unwrap();
    fifo.replace_finish("1");
    assert!(!fifo.has_synced());
    assert!(pop_into(&fifo, &store).await.2);
    assert!(fifo.has_synced());

    // A relist in pages: `b` is in no page, so it is deleted with a tombstone.
    fifo.replace_start();
    fifo.replace_page(vec![obj("a", 2)]).unwrap();
    let (key, deltas, initial) = pop_into(&fifo, &store).await;
    assert_eq!((key.as_str(), initial), ("ns/a", false));
    assert_eq!(deltas, [(DeltaType::Replaced, 2, false)]);
    // A restarted list forgets the keys listed before the restart.
    fifo.replace_start();
    fifo.replace_page(vec![obj("c", 2)]).unwrap();
    fifo.replace_finish("2");
    let mut popped = BTreeMap::new();
    while !fifo.is_empty() {
        let (key, deltas, _) = pop_into(&fifo, &store).await;
        popped.insert(key, deltas);
    }
    assert_eq!(popped["ns/c"], [(DeltaType::Replaced, 2, false)]);
    assert_eq!(popped["ns/a"], [(DeltaType::Deleted, 2, true)]);
    assert_eq!(popped["ns/b"], [(DeltaType::Deleted, 1, true)]);
    assert_eq!(store.list_keys(), ["ns/c"]);
}
