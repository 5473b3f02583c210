//! The thread-safe indexed store: Items, Indexers and Indices.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

use super::key::{meta_namespace_key, KeyError};
use crate::meta::Object;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// The error an index function may return.
pub type IndexFuncError = Box<dyn std::error::Error + Send + Sync>;

/// An index function: the index values of an object (zero, one or many).
pub type IndexFunc<K> = Arc<dyn Fn(&K) -> Result<Vec<String>, IndexFuncError> + Send + Sync>;

/// A key function: the key under which an object is stored.
pub type KeyFunc<K> = Arc<dyn Fn(&K) -> Result<String, KeyError> + Send + Sync>;

/// The name of the index that [`namespace_index`] is registered under by convention.
pub const NAMESPACE_INDEX: &str = "namespace";

/// Index function of the `namespace` index: the object's namespace, `""` for
/// cluster-scoped objects (client-go's `MetaNamespaceIndexFunc`).
pub fn namespace_index<K: Object>(obj: &K) -> Result<Vec<String>, IndexFuncError> {
    Ok(vec![obj.namespace().unwrap_or_default().to_owned()])
}

/// Named index functions.
///
/// ```
/// use informer::cache::{namespace_index, Indexers, NAMESPACE_INDEX};
/// use informer::meta::{DynamicObject, Object};
/// let indexers = Indexers::<DynamicObject>::new()
///     .with_fallible(NAMESPACE_INDEX, namespace_index)
///     .with("app", |o: &DynamicObject| {
///         o.labels().and_then(|l| l.get("app")).map(str::to_owned).into_iter().collect()
///     });
/// assert_eq!(indexers.names().count(), 2);
/// ```
pub struct Indexers<K> {
    funcs: FastMap<String, IndexFunc<K>>,
}

impl<K> Indexers<K> {
    /// No index functions.
    pub fn new() -> Self {
        Indexers {
            funcs: FastMap::default(),
        }
    }

    /// Adds an index function that cannot fail.
    pub fn with<F>(self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(&K) -> Vec<String> + Send + Sync + 'static,
    {
        self.with_fallible(name, move |obj: &K| Ok(f(obj)))
    }

    /// Adds an index function that may fail; a failure makes the store operation that
    /// called it fail and change nothing.
    pub fn with_fallible<F>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(&K) -> Result<Vec<String>, IndexFuncError> + Send + Sync + 'static,
    {
        self.funcs.insert(name.into(), Arc::new(f));
        self
    }

    /// The names of the index functions, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.funcs.keys().map(String::as_str)
    }

    /// The index function of the given name.
    pub fn get(&self, name: &str) -> Option<&IndexFunc<K>> {
        self.funcs.get(name)
    }

    /// Whether there are no index functions.
    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }
}

impl<K> Default for Indexers<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K> Clone for Indexers<K> {
    fn clone(&self) -> Self {
        Indexers {
            funcs: self.funcs.clone(),
        }
    }
}

impl<K> fmt::Debug for Indexers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.funcs.keys()).finish()
    }
}

/// Why a store operation failed. A failed operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key function rejected the object.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// An index function failed for an object.
    #[error("index function {index:?} failed for object {key:?}: {source}")]
    IndexFunc {
        /// Name of the index.
        index: String,
        /// Key of the object.
        key: String,
        /// What the index function returned.
        #[source]
        source: IndexFuncError,
    },
    /// The named index does not exist.
    #[error("index {0:?} does not exist; register it with add_indexers first")]
    NoSuchIndex(String),
    /// `add_indexers` was given a name that is already registered.
    #[error("indexer {0:?} already exists; index names must be unique")]
    IndexerExists(String),
}

/// Values of every index for one object, in the order of [`IndexSpec::names`].
type IndexValues = Vec<Vec<String>>;

/// One index: index value -> the objects that produce it, by key. Holding the objects
/// themselves (not only their keys) lets `by_index` answer without a lookup per object.
type Index<K> = FastMap<String, FastMap<Arc<str>, Arc<K>>>;

/// The registered index functions in a fixed order, shared by every write without
/// cloning: a writer takes an `Arc` of it under a short read lock.
struct IndexSpec<K> {
    indexers: Indexers<K>,
    names: Vec<Arc<str>>,
    funcs: Vec<IndexFunc<K>>,
}

impl<K> IndexSpec<K> {
    fn new(indexers: Indexers<K>) -> Self {
        let (names, funcs) = indexers
            .funcs
            .iter()
            .map(|(n, f)| (Arc::from(n.as_str()), f.clone()))
            .unzip();
        IndexSpec {
            indexers,
            names,
            funcs,
        }
    }

    fn position(&self, name: &str) -> Result<usize, StoreError> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .ok_or_else(|| StoreError::NoSuchIndex(name.to_owned()))
    }

    fn values_of(&self, key: &str, obj: &K) -> Result<IndexValues, StoreError> {
        self.names
            .iter()
            .zip(&self.funcs)
            .map(|(name, f)| {
                f(obj).map_err(|source| StoreError::IndexFunc {
                    index: name.to_string(),
                    key: key.to_owned(),
                    source,
                })
            })
            .collect()
    }
}

/// A stored object and the index values it was filed under, kept so that an update or
/// delete never has to run the index functions on the old object again.
struct Item<K> {
    obj: Arc<K>,
    values: IndexValues,
}

struct Inner<K> {
    items: FastMap<Arc<str>, Item<K>>,
    spec: Arc<IndexSpec<K>>,
    /// One index per name of `spec.names`, in the same order.
    indices: Vec<Index<K>>,
}

fn insert_index_entries<K>(
    indices: &mut [Index<K>],
    key: &Arc<str>,
    obj: &Arc<K>,
    values: &IndexValues,
) {
    for (index, vals) in indices.iter_mut().zip(values) {
        for v in vals {
            let entries = match index.get_mut(v.as_str()) {
                Some(entries) => entries,
                None => index.entry(v.clone()).or_default(),
            };
            entries.insert(key.clone(), obj.clone());
        }
    }
}

fn remove_index_entries<K>(indices: &mut [Index<K>], key: &str, values: &IndexValues) {
    for (index, vals) in indices.iter_mut().zip(values) {
        for v in vals {
            if let Some(entries) = index.get_mut(v.as_str()) {
                entries.remove(key);
                if entries.is_empty() {
                    index.remove(v.as_str());
                }
            }
        }
    }
}

/// Points the index entries of `key` (whose values did not change) at the new object.
fn refresh_index_entries<K>(
    indices: &mut [Index<K>],
    key: &str,
    obj: &Arc<K>,
    values: &IndexValues,
) {
    for (index, vals) in indices.iter_mut().zip(values) {
        for v in vals {
            if let Some(slot) = index.get_mut(v.as_str()).and_then(|e| e.get_mut(key)) {
                *slot = obj.clone();
            }
        }
    }
}

/// Stores `obj` under `key` with its index values; returns the object it replaced.
fn upsert_locked<K>(
    inner: &mut Inner<K>,
    key: String,
    obj: Arc<K>,
    new_values: IndexValues,
) -> Option<Arc<K>> {
    match inner.items.get_mut(key.as_str()) {
        Some(item) => {
            if item.values == new_values {
                refresh_index_entries(&mut inner.indices, &key, &obj, &item.values);
            } else {
                remove_index_entries(&mut inner.indices, &key, &item.values);
                // Reuse the stored key allocation for the new entries.
                let stored_key = inner
                    .items
                    .get_key_value(key.as_str())
                    .map(|(k, _)| k.clone())
                    .unwrap_or_else(|| Arc::from(key.as_str()));
                insert_index_entries(&mut inner.indices, &stored_key, &obj, &new_values);
            }
            let item = inner
                .items
                .get_mut(key.as_str())
                .expect("item looked up under the same lock");
            item.values = new_values;
            Some(std::mem::replace(&mut item.obj, obj))
        }
        None => {
            let key: Arc<str> = Arc::from(key);
            insert_index_entries(&mut inner.indices, &key, &obj, &new_values);
            inner.items.insert(
                key,
                Item {
                    obj,
                    values: new_values,
                },
            );
            None
        }
    }
}

/// Removes `key` and its index entries; returns the removed object.
fn delete_locked<K>(inner: &mut Inner<K>, key: &str) -> Option<Arc<K>> {
    let item = inner.items.remove(key)?;
    remove_index_entries(&mut inner.indices, key, &item.values);
    Some(item.obj)
}

/// A thread-safe, indexed store of objects; cheap to clone (clones share the store).
///
/// ```
/// use std::sync::Arc;
/// use informer::cache::{namespace_index, Indexer, Indexers, NAMESPACE_INDEX};
/// use informer::meta::{DynamicObject, ObjectMeta};
///
/// let store = Indexer::new(Indexers::new().with_fallible(NAMESPACE_INDEX, namespace_index));
/// let pod = |ns: &str, name: &str| Arc::new(DynamicObject {
///     metadata: ObjectMeta { namespace: Some(ns.into()), name: Some(name.into()), ..Default::default() },
///     ..Default::default()
/// });
/// store.add(pod("shop", "web-1")).unwrap();
/// store.add(pod("shop", "web-2")).unwrap();
/// store.add(pod("bank", "db-1")).unwrap();
/// assert_eq!(store.by_index(NAMESPACE_INDEX, "shop").unwrap().len(), 2);
/// assert!(store.get_by_key("bank/db-1").is_some());
/// ```
///
/// # How it works
///
/// [`Indexer`] is the cache that informers fill and listers read. It holds every object by
/// key (Items), the named index functions (Indexers) and, per index, a map from each
/// index value to the keys of the objects that produce it (Indices). Objects are held as
/// `Arc<K>` and handed out as clones of that `Arc`: a read never copies an object.
///
/// One `RwLock` guards items and indices together, so an object and all its index entries
/// change in a single write and a reader never sees one without the other. Index values
/// are computed before the lock is taken for writing and before anything changes, so an
/// index function that fails leaves the store exactly as it was.
pub struct Indexer<K> {
    key_func: KeyFunc<K>,
    inner: Arc<RwLock<Inner<K>>>,
}

impl<K> Clone for Indexer<K> {
    fn clone(&self) -> Self {
        Indexer {
            key_func: self.key_func.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<K> fmt::Debug for Indexer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.read();
        f.debug_struct("Indexer")
            .field("items", &inner.items.len())
            .field("indexers", &inner.spec.indexers)
            .finish()
    }
}

impl<K: Object> Indexer<K> {
    /// A store keyed by [`meta_namespace_key`] with the given index functions.
    pub fn new(indexers: Indexers<K>) -> Self {
        Self::with_key_func(Arc::new(|obj: &K| meta_namespace_key(obj)), indexers)
    }
}

impl<K> Indexer<K> {
    /// A store with a custom key function.
    pub fn with_key_func(key_func: KeyFunc<K>, indexers: Indexers<K>) -> Self {
        let spec = IndexSpec::new(indexers);
        let indices = spec.names.iter().map(|_| Index::default()).collect();
        Indexer {
            key_func,
            inner: Arc::new(RwLock::new(Inner {
                items: FastMap::default(),
                spec: Arc::new(spec),
                indices,
            })),
        }
    }

    /// The key the store uses for `obj`.
    pub fn key_of(&self, obj: &K) -> Result<String, KeyError> {
        (self.key_func)(obj)
    }

    /// The key function this store was built with.
    pub fn key_func(&self) -> &KeyFunc<K> {
        &self.key_func
    }

    /// Inserts or replaces an object (client-go's `Add`); returns the object it replaced.
    pub fn add(&self, obj: Arc<K>) -> Result<Option<Arc<K>>, StoreError> {
        let key = self.key_of(&obj)?;
        self.upsert(key, obj)
    }

    /// Inserts or replaces an object (client-go's `Update`; the same as [`Indexer::add`]);
    /// returns the object it replaced.
    pub fn update(&self, obj: Arc<K>) -> Result<Option<Arc<K>>, StoreError> {
        self.add(obj)
    }

    /// Inserts or replaces the object stored under `key`; returns the object it replaced.
    ///
    /// The replaced object is handed back rather than dropped under the store's lock, so
    /// that freeing a large object never holds up readers.
    pub fn upsert(&self, key: String, obj: Arc<K>) -> Result<Option<Arc<K>>, StoreError> {
        // The new object's index values do not depend on the store: compute them before
        // taking the write lock, so that readers wait only for the map updates.
        let spec = self.inner.read().spec.clone();
        let new_values = spec.values_of(&key, &obj)?;
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        let new_values = if Arc::ptr_eq(&spec, &inner.spec) {
            new_values
        } else {
            // Indexers were added in between: compute again under the lock.
            inner.spec.values_of(&key, &obj)?
        };
        Ok(upsert_locked(inner, key, obj, new_values))
    }

    /// Applies a batch of changes in order under one write: `Some(obj)` stores `obj`
    /// under the key, `None` removes the key. Returns, per change, the object it replaced
    /// or removed, or why it was skipped (an index function failed; the other changes
    /// still apply). Index values are computed before the write lock is taken.
    pub fn apply_batch(
        &self,
        changes: Vec<(String, Option<Arc<K>>)>,
    ) -> Vec<Result<Option<Arc<K>>, StoreError>> {
        let spec = self.inner.read().spec.clone();
        let values: Vec<_> = changes
            .iter()
            .map(|(key, obj)| obj.as_ref().map(|o| spec.values_of(key, o)))
            .collect();
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        let same_spec = Arc::ptr_eq(&spec, &inner.spec);
        changes
            .into_iter()
            .zip(values)
            .map(|((key, obj), values)| match (obj, values) {
                (None, _) => Ok(delete_locked(inner, &key)),
                (Some(obj), Some(values)) => {
                    let values = if same_spec {
                        values?
                    } else {
                        inner.spec.values_of(&key, &obj)?
                    };
                    Ok(upsert_locked(inner, key, obj, values))
                }
                (Some(obj), None) => {
                    let values = inner.spec.values_of(&key, &obj)?;
                    Ok(upsert_locked(inner, key, obj, values))
                }
            })
            .collect()
    }

    /// Removes the object with the key of `obj`; removing an absent object is not an error.
    pub fn delete(&self, obj: &K) -> Result<(), StoreError> {
        let key = self.key_of(obj)?;
        self.delete_by_key(&key).map(drop)
    }

    /// Removes the object stored under `key`, if any, and returns it.
    pub fn delete_by_key(&self, key: &str) -> Result<Option<Arc<K>>, StoreError> {
        Ok(delete_locked(&mut self.inner.write(), key))
    }

    /// The stored object with the key of `obj`.
    pub fn get(&self, obj: &K) -> Result<Option<Arc<K>>, StoreError> {
        let key = self.key_of(obj)?;
        Ok(self.get_by_key(&key))
    }

    /// The stored object under `key`.
    pub fn get_by_key(&self, key: &str) -> Option<Arc<K>> {
        self.inner.read().items.get(key).map(|i| i.obj.clone())
    }

    /// Every stored object, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.inner
            .read()
            .items
            .values()
            .map(|i| i.obj.clone())
            .collect()
    }

    /// Every key, in no particular order.
    pub fn list_keys(&self) -> Vec<String> {
        self.inner
            .read()
            .items
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.inner.read().items.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the whole content with `list` in one write (client-go's `Replace`).
    ///
    /// The new items and indices are built before the write lock is taken; readers see
    /// either the old content or the new one. The resourceVersion is accepted for parity
    /// with client-go's `Store` interface; the store itself does not use it. If any key
    /// or index function fails, nothing changes. When a key occurs twice in `list`, the
    /// later object wins.
    pub fn replace(&self, list: Vec<Arc<K>>, _resource_version: &str) -> Result<(), StoreError> {
        let mut list = list;
        loop {
            let spec = self.inner.read().spec.clone();
            let (items, indices) = build(&self.key_func, &spec, list)?;
            let mut inner = self.inner.write();
            if !Arc::ptr_eq(&spec, &inner.spec) {
                // Indexers were added while we built (rare): build again with them.
                drop(inner);
                list = items.into_values().map(|i| i.obj).collect();
                continue;
            }
            let old_items = std::mem::replace(&mut inner.items, items);
            let old_indices = std::mem::replace(&mut inner.indices, indices);
            drop(inner);
            // Free the old content after the lock is released: readers need not wait.
            drop(old_items);
            drop(old_indices);
            return Ok(());
        }
    }

    /// Objects that share any value of index `index_name` with `obj`.
    pub fn index(&self, index_name: &str, obj: &K) -> Result<Vec<Arc<K>>, StoreError> {
        let inner = self.inner.read();
        let pos = inner.spec.position(index_name)?;
        let values = (inner.spec.funcs[pos])(obj).map_err(|source| StoreError::IndexFunc {
            index: index_name.to_owned(),
            key: (self.key_func)(obj).unwrap_or_default(),
            source,
        })?;
        let index = &inner.indices[pos];
        if let [single] = values.as_slice() {
            return Ok(index
                .get(single.as_str())
                .map(|e| e.values().cloned().collect())
                .unwrap_or_default());
        }
        let mut seen: FastSet<&Arc<str>> = FastSet::default();
        let mut out = Vec::new();
        for v in &values {
            for (k, o) in index.get(v.as_str()).into_iter().flatten() {
                if seen.insert(k) {
                    out.push(o.clone());
                }
            }
        }
        Ok(out)
    }

    /// Keys of the objects whose index `index_name` contains `value`.
    pub fn index_keys(&self, index_name: &str, value: &str) -> Result<Vec<String>, StoreError> {
        let inner = self.inner.read();
        let pos = inner.spec.position(index_name)?;
        Ok(inner.indices[pos]
            .get(value)
            .map(|entries| entries.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default())
    }

    /// Every value that index `index_name` currently holds; empty for an index that
    /// does not exist, as in client-go (unlike [`by_index`](Self::by_index),
    /// [`index_keys`](Self::index_keys) and [`index`](Self::index), which fail there).
    pub fn list_index_func_values(&self, index_name: &str) -> Vec<String> {
        let inner = self.inner.read();
        match inner.spec.position(index_name) {
            Ok(pos) => inner.indices[pos].keys().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Objects whose index `index_name` contains `value`.
    pub fn by_index(&self, index_name: &str, value: &str) -> Result<Vec<Arc<K>>, StoreError> {
        let inner = self.inner.read();
        let pos = inner.spec.position(index_name)?;
        Ok(inner.indices[pos]
            .get(value)
            .map(|entries| entries.values().cloned().collect())
            .unwrap_or_default())
    }

    /// The registered index functions.
    pub fn get_indexers(&self) -> Indexers<K> {
        self.inner.read().spec.indexers.clone()
    }

    /// Registers more index functions and indexes every stored object with them.
    ///
    /// Works on a non-empty store. Fails, changing nothing, if a name is already
    /// registered or an index function fails for a stored object.
    pub fn add_indexers(&self, new: Indexers<K>) -> Result<(), StoreError> {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        if let Some(dup) = new.names().find(|n| inner.spec.indexers.get(n).is_some()) {
            return Err(StoreError::IndexerExists(dup.to_owned()));
        }
        let added = IndexSpec::new(new);
        let mut new_indices: Vec<Index<K>> = added.names.iter().map(|_| Index::default()).collect();
        // Compute every new value first, so that a failure changes nothing.
        let mut new_values: Vec<(Arc<str>, IndexValues)> = Vec::with_capacity(inner.items.len());
        for (key, item) in &inner.items {
            let values = added.values_of(key, &item.obj)?;
            insert_index_entries(&mut new_indices, key, &item.obj, &values);
            new_values.push((key.clone(), values));
        }
        for (key, values) in new_values {
            if let Some(item) = inner.items.get_mut(&key) {
                item.values.extend(values);
            }
        }
        let mut all = inner.spec.indexers.clone();
        all.funcs.extend(added.indexers.funcs);
        // Keep existing positions stable: old names first, then the new ones.
        let mut names = inner.spec.names.clone();
        let mut funcs = inner.spec.funcs.clone();
        names.extend(added.names);
        funcs.extend(added.funcs);
        inner.spec = Arc::new(IndexSpec {
            indexers: all,
            names,
            funcs,
        });
        inner.indices.extend(new_indices);
        Ok(())
    }
}

type Built<K> = (FastMap<Arc<str>, Item<K>>, Vec<Index<K>>);

fn build<K>(
    key_func: &KeyFunc<K>,
    spec: &IndexSpec<K>,
    list: Vec<Arc<K>>,
) -> Result<Built<K>, StoreError> {
    let mut items: FastMap<Arc<str>, Item<K>> =
        FastMap::with_capacity_and_hasher(list.len(), Default::default());
    let mut indices: Vec<Index<K>> = spec.names.iter().map(|_| Index::default()).collect();
    for obj in list {
        let key: Arc<str> = Arc::from(key_func(&obj)?);
        let values = spec.values_of(&key, &obj)?;
        if let Some(prev) = items.get(&key) {
            // A later duplicate wins: drop the earlier one's index entries.
            remove_index_entries(&mut indices, &key, &prev.values);
        }
        insert_index_entries(&mut indices, &key, &obj, &values);
        items.insert(key, Item { obj, values });
    }
    Ok((items, indices))
}
