//! The Indexer: contract tests, a property test against a plain model, and a concurrent
//! reader/writer test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use informer::cache::{namespace_index, Indexer, Indexers, StoreError, NAMESPACE_INDEX};
use informer::meta::{DynamicObject, Object, ObjectMeta};
use proptest::prelude::*;

fn obj(ns: &str, name: &str, labels: &[(&str, &str)]) -> Arc<DynamicObject> {
    Arc::new(DynamicObject {
        metadata: ObjectMeta {
            namespace: Some(ns.to_owned()),
            name: Some(name.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn label(o: &DynamicObject, key: &str) -> Option<String> {
    o.labels().and_then(|l| l.get(key)).map(str::to_owned)
}

fn app_indexer() -> Indexers<DynamicObject> {
    Indexers::new().with("app", |o: &DynamicObject| {
        label(o, "app").into_iter().collect()
    })
}

/// Index values from the `tags` label, `.`-separated: zero, one or many per object.
fn tags_indexer() -> Indexers<DynamicObject> {
    Indexers::new().with("tags", |o: &DynamicObject| {
        label(o, "tags")
            .map(|t| {
                t.split('.')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Fails for objects labelled `poison`.
fn checked_indexer() -> Indexers<DynamicObject> {
    Indexers::new().with_fallible("checked", |o: &DynamicObject| {
        if label(o, "poison").is_some() {
            Err("poisoned object".into())
        } else {
            Ok(vec!["ok".to_owned()])
        }
    })
}

fn merged(a: Indexers<DynamicObject>, b: Indexers<DynamicObject>) -> Indexers<DynamicObject> {
    let mut out = a;
    for name in b.names().map(String::from).collect::<Vec<_>>() {
        let f = b.get(&name).unwrap().clone();
        out = out.with_fallible(name, move |o: &DynamicObject| f(o));
    }
    out
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn names(objs: Vec<Arc<DynamicObject>>) -> Vec<String> {
    sorted(objs.iter().map(|o| o.name().unwrap().to_owned()).collect())
}

#[test]
fn add_get_update_delete() {
    let store = Indexer::new(
        Indexers::new()
            .with_fallible(NAMESPACE_INDEX, namespace_index)
            .with("app", |o: &DynamicObject| {
                label(o, "app").into_iter().collect()
            }),
    );
    store.add(obj("ns1", "a", &[("app", "web")])).unwrap();
    store.add(obj("ns1", "b", &[("app", "web")])).unwrap();
    store.add(obj("ns2", "c", &[("app", "db")])).unwrap();
    assert_eq!(store.len(), 3);
    assert_eq!(
        names(store.by_index(NAMESPACE_INDEX, "ns1").unwrap()),
        ["a", "b"]
    );
    assert_eq!(names(store.by_index("app", "web").unwrap()), ["a", "b"]);
    assert_eq!(sorted(store.list_index_func_values("app")), ["db", "web"]);
    assert_eq!(
        store.get_by_key("ns2/c").unwrap().name(),
        Some("c"),
        "get_by_key"
    );

    // Moving b to app=db updates both index values.
    store.update(obj("ns1", "b", &[("app", "db")])).unwrap();
    assert_eq!(names(store.by_index("app", "web").unwrap()), ["a"]);
    assert_eq!(names(store.by_index("app", "db").unwrap()), ["b", "c"]);
    assert_eq!(
        sorted(store.index_keys("app", "db").unwrap()),
        ["ns1/b", "ns2/c"]
    );

    // index(): objects sharing any index value with the given one.
    let probe = obj("x", "probe", &[("app", "db")]);
    assert_eq!(names(store.index("app", &probe).unwrap()), ["b", "c"]);

    store.delete(&obj("ns1", "a", &[])).unwrap();
    assert!(store.get_by_key("ns1/a").is_none());
    // An index value whose last key is gone is removed.
    assert_eq!(store.list_index_func_values("app"), ["db"]);
    assert!(store.by_index("app", "web").unwrap().is_empty());
    // Deleting an absent object is not an error.
    store.delete(&obj("ns1", "a", &[])).unwrap();
}

#[test]
fn reads_share_the_stored_arc() {
    let store = Indexer::new(Indexers::new());
    let o = obj("ns", "a", &[]);
    store.add(o.clone()).unwrap();
    assert!(Arc::ptr_eq(&store.get_by_key("ns/a").unwrap(), &o));
    assert!(Arc::ptr_eq(&store.list()[0], &o));
}

#[test]
fn unknown_index_is_an_error() {
    let store: Indexer<DynamicObject> = Indexer::new(Indexers::new());
    let err = store.by_index("nope", "x").unwrap_err();
    assert!(matches!(err, StoreError::NoSuchIndex(ref n) if n == "nope"));
    assert!(err.to_string().contains("add_indexers"), "{err}");
    assert!(store.index_keys("nope", "x").is_err());
}

#[test]
fn values_of_an_unknown_index_are_empty_as_in_client_go() {
    let store: Indexer<DynamicObject> = Indexer::new(app_indexer());
    store.add(obj("ns", "a", &[("app", "web")])).unwrap();
    assert_eq!(store.list_index_func_values("app"), ["web"]);
    assert!(store.list_index_func_values("nope").is_empty());
}

#[test]
fn object_without_name_is_rejected() {
    let store = Indexer::new(Indexers::new());
    let nameless = Arc::new(DynamicObject::default());
    assert!(matches!(store.add(nameless), Err(StoreError::Key(_))));
    assert!(store.is_empty());
}

#[test]
fn failing_index_function_changes_nothing_and_names_key_and_index() {
    let store = Indexer::new(merged(app_indexer(), checked_indexer()));
    store.add(obj("ns", "a", &[("app", "web")])).unwrap();
    let err = store
        .add(obj("ns", "b", &[("app", "db"), ("poison", "1")]))
        .unwrap_err();
    match &err {
        StoreError::IndexFunc { index, key, .. } => {
            assert_eq!(index, "checked");
            assert_eq!(key, "ns/b");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("poisoned object"));
    assert!(store.get_by_key("ns/b").is_none());
    assert_eq!(store.list_index_func_values("app"), ["web"]);

    // An update that fails leaves the old object and its index entries in place.
    assert!(store
        .update(obj("ns", "a", &[("app", "db"), ("poison", "1")]))
        .is_err());
    assert_eq!(
        label(&store.get_by_key("ns/a").unwrap(), "app").unwrap(),
        "web"
    );
    assert_eq!(store.index_keys("app", "web").unwrap(), ["ns/a"]);

    // A replace with one bad object changes nothing.
    assert!(store
        .replace(
            vec![obj("ns", "x", &[]), obj("ns", "y", &[("poison", "1")])],
            "9"
        )
        .is_err());
    assert_eq!(store.list_keys(), ["ns/a"]);
}

#[test]
fn add_indexers_on_a_non_empty_store_indexes_existing_items() {
    let store = Indexer::new(Indexers::new().with_fallible(NAMESPACE_INDEX, namespace_index));
    store.add(obj("ns", "a", &[("app", "web")])).unwrap();
    store.add(obj("ns", "b", &[("app", "db")])).unwrap();
    store.add_indexers(app_indexer()).unwrap();
    assert_eq!(names(store.by_index("app", "web").unwrap()), ["a"]);
    store.add(obj("ns", "c", &[("app", "web")])).unwrap();
    assert_eq!(names(store.by_index("app", "web").unwrap()), ["a", "c"]);
    assert_eq!(
        sorted(store.get_indexers().names().map(String::from).collect()),
        ["app", "namespace"]
    );

    // A duplicate name is refused.
    assert!(matches!(
        store.add_indexers(app_indexer()),
        Err(StoreError::IndexerExists(ref n)) if n == "app"
    ));
    // An index function failing on an existing item refuses the whole call.
    store.add(obj("ns", "p", &[("poison", "1")])).unwrap();
    assert!(store.add_indexers(checked_indexer()).is_err());
    assert!(store.get_indexers().get("checked").is_none());
    assert!(store.by_index("checked", "ok").is_err());
}

#[test]
fn replace_swaps_everything() {
    let store = Indexer::new(app_indexer());
    store.add(obj("ns", "a", &[("app", "web")])).unwrap();
    store
        .replace(
            vec![
                obj("ns", "b", &[("app", "db")]),
                obj("ns", "c", &[("app", "db")]),
            ],
            "42",
        )
        .unwrap();
    assert_eq!(sorted(store.list_keys()), ["ns/b", "ns/c"]);
    assert_eq!(store.list_index_func_values("app"), ["db"]);
    // A later duplicate wins.
    store
        .replace(
            vec![
                obj("ns", "d", &[("app", "x")]),
                obj("ns", "d", &[("app", "y")]),
            ],
            "43",
        )
        .unwrap();
    assert_eq!(store.list_index_func_values("app"), ["y"]);
    assert_eq!(store.len(), 1);
}

#[test]
fn multi_valued_index() {
    let store = Indexer::new(tags_indexer());
    store.add(obj("ns", "a", &[("tags", "red.blue")])).unwrap();
    store.add(obj("ns", "b", &[("tags", "blue")])).unwrap();
    assert_eq!(names(store.by_index("tags", "blue").unwrap()), ["a", "b"]);
    let probe = obj("x", "p", &[("tags", "red.blue")]);
    // Each object once, even when it shares two values with the probe.
    assert_eq!(names(store.index("tags", &probe).unwrap()), ["a", "b"]);
    store.update(obj("ns", "a", &[("tags", "green")])).unwrap();
    assert_eq!(
        sorted(store.list_index_func_values("tags")),
        ["blue", "green"]
    );
}

// ---------------------------------------------------------------- property test

#[derive(Clone, Debug)]
struct Spec {
    ns: &'static str,
    name: &'static str,
    app: Option<&'static str>,
    tags: Option<&'static str>,
    poison: bool,
}

impl Spec {
    fn key(&self) -> String {
        format!("{}/{}", self.ns, self.name)
    }
    fn build(&self, version: u32) -> Arc<DynamicObject> {
        let mut labels: Vec<(&str, String)> = vec![("v", version.to_string())];
        if let Some(a) = self.app {
            labels.push(("app", a.to_owned()));
        }
        if let Some(t) = self.tags {
            labels.push(("tags", t.to_owned()));
        }
        if self.poison {
            labels.push(("poison", "1".to_owned()));
        }
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        obj(self.ns, self.name, &pairs)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(Spec),
    Update(Spec),
    Delete(&'static str, &'static str),
    Replace(Vec<Spec>),
    AddIndexer(&'static str),
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(vec!["ns1", "ns2", "ns3"]),
        prop::sample::select(vec!["a", "b", "c", "d", "e"]),
        prop::option::of(prop::sample::select(vec!["web", "db", "api"])),
        prop::option::of(prop::sample::select(vec!["r", "g", "r.g", "g.b.r", ""])),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(ns, name, app, tags, poison)| Spec {
            ns,
            name,
            app,
            tags,
            poison,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => spec().prop_map(Op::Add),
        3 => spec().prop_map(Op::Update),
        2 => (prop::sample::select(vec!["ns1", "ns2", "ns3"]), prop::sample::select(vec!["a", "b", "c", "d", "e"]))
            .prop_map(|(ns, n)| Op::Delete(ns, n)),
        1 => prop::collection::vec(spec(), 0..6).prop_map(Op::Replace),
        1 => prop::sample::select(vec!["app", "tags", "checked"]).prop_map(Op::AddIndexer),
    ]
}

/// The plain model: key -> spec, and the set of registered index names.
struct Model {
    items: BTreeMap<String, Spec>,
    indexes: BTreeSet<&'static str>,
}

impl Model {
    fn values(&self, index: &str, s: &Spec) -> Result<Vec<String>, ()> {
        Ok(match index {
            "namespace" => vec![s.ns.to_owned()],
            "app" => s.app.map(String::from).into_iter().collect(),
            "tags" => s
                .tags
                .map(|t| {
                    t.split('.')
                        .filter(|x| !x.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            "checked" if s.poison => return Err(()),
            "checked" => vec!["ok".to_owned()],
            _ => unreachable!(),
        })
    }

    fn ok_for_all(&self, s: &Spec) -> bool {
        self.indexes.iter().all(|i| self.values(i, s).is_ok())
    }

    fn index(&self, index: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (k, s) in &self.items {
            for v in self.values(index, s).unwrap() {
                out.entry(v).or_default().insert(k.clone());
            }
        }
        out
    }
}

fn indexer_named(name: &str) -> Indexers<DynamicObject> {
    match name {
        "app" => app_indexer(),
        "tags" => tags_indexer(),
        "checked" => checked_indexer(),
        _ => unreachable!(),
    }
}

fn check(store: &Indexer<DynamicObject>, model: &Model) {
    let keys: BTreeSet<String> = store.list_keys().into_iter().collect();
    let want: BTreeSet<String> = model.items.keys().cloned().collect();
    assert_eq!(keys, want, "keys");
    for (k, s) in &model.items {
        let got = store.get_by_key(k).expect("item present");
        assert_eq!(label(&got, "app").as_deref(), s.app, "app label of {k}");
        assert_eq!(label(&got, "tags").as_deref(), s.tags, "tags label of {k}");
    }
    for index in &model.indexes {
        let want = model.index(index);
        let values: BTreeSet<String> = store.list_index_func_values(index).into_iter().collect();
        assert_eq!(values, want.keys().cloned().collect(), "values of {index}");
        for (v, keys) in &want {
            let got: BTreeSet<String> = store.index_keys(index, v).unwrap().into_iter().collect();
            assert_eq!(&got, keys, "index_keys({index}, {v})");
            let by: BTreeSet<String> = store
                .by_index(index, v)
                .unwrap()
                .iter()
                .map(|o| format!("{}/{}", o.namespace().unwrap(), o.name().unwrap()))
                .collect();
            assert_eq!(&by, keys, "by_index({index}, {v})");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn indexer_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let store = Indexer::new(Indexers::new().with_fallible(NAMESPACE_INDEX, namespace_index));
        let mut model = Model { items: BTreeMap::new(), indexes: BTreeSet::from(["namespace"]) };
        for (version, op) in ops.into_iter().enumerate() {
            let version = version as u32;
            match op {
                Op::Add(s) | Op::Update(s) => {
                    let r = store.add(s.build(version));
                    prop_assert_eq!(r.is_ok(), model.ok_for_all(&s));
                    if r.is_ok() {
                        model.items.insert(s.key(), s);
                    }
                }
                Op::Delete(ns, name) => {
                    store.delete(&obj(ns, name, &[])).unwrap();
                    model.items.remove(&format!("{ns}/{name}"));
                }
                Op::Replace(list) => {
                    let ok = list.iter().all(|s| model.ok_for_all(s));
                    let r = store.replace(list.iter().map(|s| s.build(version)).collect(), "1");
                    prop_assert_eq!(r.is_ok(), ok);
                    if ok {
                        model.items = list.into_iter().map(|s| (s.key(), s)).collect();
                    }
                }
                Op::AddIndexer(name) => {
                    let r = store.add_indexers(indexer_named(name));
                    let ok = !model.indexes.contains(name)
                        && model.items.values().all(|s| model.values(name, s).is_ok());
                    prop_assert_eq!(r.is_ok(), ok, "add_indexers({})", name);
                    if ok {
                        model.indexes.insert(name);
                    }
                }
            }
            check(&store, &model);
        }
    }
}

// ---------------------------------------------------------------- concurrency

/// One writer adds objects under fresh keys (never reused) and deletes older ones; each
/// object's `app` label never changes. Readers look objects up through the items and
/// through the index and check the two never disagree:
/// - every object `by_index(app, v)` returns carries `app=v`;
/// - an object seen in `list()` whose key is still present afterwards must have been in
///   the index in between (keys are added once and deleted once, so presence after the
///   index lookup implies presence during it).
#[test]
fn readers_never_see_an_item_without_its_index_entries() {
    const APPS: [&str; 4] = ["a0", "a1", "a2", "a3"];
    let store = Indexer::new(app_indexer());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            for i in 0..20_000u32 {
                let app = APPS[(i % 4) as usize];
                store
                    .add(obj("ns", &format!("o{i}"), &[("app", app)]))
                    .unwrap();
                if i >= 200 {
                    store.delete_by_key(&format!("ns/o{}", i - 200)).unwrap();
                }
            }
            stop.store(true, Ordering::SeqCst);
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut checks = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for app in APPS {
                        for o in store.by_index("app", app).unwrap() {
                            assert_eq!(label(&o, "app").as_deref(), Some(app));
                            checks += 1;
                        }
                    }
                    for o in store.list().into_iter().take(50) {
                        let key = format!("ns/{}", o.name().unwrap());
                        let app = label(&o, "app").unwrap();
                        let in_index = store.index_keys("app", &app).unwrap().contains(&key);
                        if !in_index {
                            assert!(
                                store.get_by_key(&key).is_none(),
                                "{key} present in items but missing from index app={app}"
                            );
                        }
                        checks += 1;
                    }
                }
                checks
            })
        })
        .collect();
    writer.join().unwrap();
    let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(checks > 0, "readers ran no check");
    assert_eq!(store.len(), 200);
}
