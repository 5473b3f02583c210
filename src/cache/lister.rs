//! Listers: typed, read-only views of an informer's store for application code.
//!
//! A [`Lister`] answers "which objects match this label selector" and "give me the object
//! named X" from the cache, never from the API server. Namespaced reads go through the
//! store's `namespace` index, which [`Lister::new`] registers if the store lacks it, so a
//! namespace lookup never scans the whole store.

use std::sync::Arc;

use super::store::{namespace_index, Indexer, Indexers, StoreError, NAMESPACE_INDEX};
use crate::meta::Object;
use crate::selector::LabelSelector;

/// Reads objects of one type from a store (client-go's generated `XLister`).
///
/// ```
/// use std::sync::Arc;
/// use informer::cache::{Indexer, Indexers, Lister};
/// use informer::meta::{DynamicObject, ObjectMeta};
/// use informer::selector::LabelSelector;
///
/// let store = Indexer::new(Indexers::new());
/// let pod = |ns: &str, name: &str, app: &str| Arc::new(DynamicObject {
///     metadata: ObjectMeta {
///         namespace: Some(ns.into()), name: Some(name.into()),
///         labels: Some([("app".to_string(), app.to_string())].into()),
///         ..Default::default()
///     },
///     ..Default::default()
/// });
/// store.add(pod("shop", "web-1", "web")).unwrap();
/// store.add(pod("shop", "db-1", "db")).unwrap();
/// store.add(pod("bank", "web-2", "web")).unwrap();
///
/// let lister = Lister::new(store).unwrap();
/// let web = LabelSelector::parse("app=web").unwrap();
/// assert_eq!(lister.list(&web).len(), 2);
/// assert_eq!(lister.namespace("shop").list(&web).len(), 1);
/// assert!(lister.namespace("bank").get("web-2").is_some());
/// ```
pub struct Lister<K> {
    indexer: Indexer<K>,
}

impl<K> Clone for Lister<K> {
    fn clone(&self) -> Self {
        Lister {
            indexer: self.indexer.clone(),
        }
    }
}

impl<K> std::fmt::Debug for Lister<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lister")
            .field("indexer", &self.indexer)
            .finish()
    }
}

impl<K: Object + Send + Sync + 'static> Lister<K> {
    /// A lister over `indexer`; registers the `namespace` index if it is missing. Fails
    /// only if that index cannot be built for an object already stored.
    pub fn new(indexer: Indexer<K>) -> Result<Self, StoreError> {
        if indexer.get_indexers().get(NAMESPACE_INDEX).is_none() {
            match indexer
                .add_indexers(Indexers::new().with_fallible(NAMESPACE_INDEX, namespace_index::<K>))
            {
                // Another lister registered it meanwhile: same function, nothing to do.
                Ok(()) | Err(StoreError::IndexerExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Lister { indexer })
    }

    /// Every object that `selector` matches.
    pub fn list(&self, selector: &LabelSelector) -> Vec<Arc<K>> {
        filter(self.indexer.list(), selector)
    }

    /// The cluster-scoped object named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<K>> {
        self.indexer.get_by_key(name)
    }

    /// A view of one namespace.
    pub fn namespace(&self, namespace: &str) -> NamespaceLister<K> {
        NamespaceLister {
            indexer: self.indexer.clone(),
            namespace: namespace.to_owned(),
        }
    }

    /// The store behind this lister.
    pub fn indexer(&self) -> &Indexer<K> {
        &self.indexer
    }
}

/// Reads objects of one namespace (client-go's generated `XNamespaceLister`).
pub struct NamespaceLister<K> {
    indexer: Indexer<K>,
    namespace: String,
}

impl<K> std::fmt::Debug for NamespaceLister<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceLister")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl<K: Object> NamespaceLister<K> {
    /// Every object of the namespace that `selector` matches, found through the
    /// `namespace` index.
    pub fn list(&self, selector: &LabelSelector) -> Vec<Arc<K>> {
        // `Lister::new` guarantees the index exists; a store whose indexers were replaced
        // behind our back yields nothing rather than a scan.
        let objects = self
            .indexer
            .by_index(NAMESPACE_INDEX, &self.namespace)
            .unwrap_or_default();
        filter(objects, selector)
    }

    /// The object named `name` in this namespace.
    pub fn get(&self, name: &str) -> Option<Arc<K>> {
        let mut key = String::with_capacity(self.namespace.len() + 1 + name.len());
        key.push_str(&self.namespace);
        key.push('/');
        key.push_str(name);
        self.indexer.get_by_key(&key)
    }
}

fn filter<K: Object>(objects: Vec<Arc<K>>, selector: &LabelSelector) -> Vec<Arc<K>> {
    if selector.is_everything() {
        return objects;
    }
    objects
        .into_iter()
        .filter(|o| selector.matches_object(&**o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{DynamicObject, ObjectMeta};

    fn obj(ns: Option<&str>, name: &str, app: &str) -> Arc<DynamicObject> {
        Arc::new(DynamicObject {
            metadata: ObjectMeta {
                namespace: ns.map(Into::into),
                name: Some(name.into()),
                labels: Some([("app".to_string(), app.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    #[test]
    fn registers_the_namespace_index_on_a_filled_store() {
        let store = Indexer::new(Indexers::new());
        store.add(obj(Some("a"), "x", "web")).unwrap();
        let lister = Lister::new(store.clone()).unwrap();
        assert!(store.get_indexers().get(NAMESPACE_INDEX).is_some());
        assert_eq!(
            lister
                .namespace("a")
                .list(&LabelSelector::everything())
                .len(),
            1
        );
        // A second lister on the same store is fine.
        Lister::new(store).unwrap();
    }

    #[test]
    fn selectors_namespaces_and_cluster_scoped_gets() {
        let store = Indexer::new(Indexers::new());
        store.add(obj(Some("a"), "x", "web")).unwrap();
        store.add(obj(Some("a"), "y", "db")).unwrap();
        store.add(obj(Some("b"), "x", "web")).unwrap();
        store.add(obj(None, "node-1", "node")).unwrap();
        let lister = Lister::new(store).unwrap();
        let all = LabelSelector::everything();
        assert_eq!(lister.list(&all).len(), 4);
        let not_web = LabelSelector::parse("app!=web").unwrap();
        assert_eq!(lister.list(&not_web).len(), 2);
        assert_eq!(lister.namespace("a").list(&not_web).len(), 1);
        assert!(lister.namespace("missing").list(&all).is_empty());
        assert_eq!(
            lister.namespace("b").get("x").unwrap().namespace(),
            Some("b")
        );
        assert!(lister.namespace("b").get("y").is_none());
        assert!(lister.get("node-1").is_some());
    }
}
