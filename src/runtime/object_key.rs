//! [`ObjectKey`]: the name of the object a reconcile is about.

use std::fmt;

use crate::cache::{split_meta_namespace_key, KeyError};
use crate::meta::Object;

/// Namespace and name of an object: what a controller's work queue holds, and what
/// `reconcile` is called with. Displayed as the cache's key (`namespace/name`, or `name`
/// for a cluster-scoped object).
///
/// ```
/// use informer::runtime::ObjectKey;
/// let key = ObjectKey::namespaced("shop", "web");
/// assert_eq!(key.to_string(), "shop/web");
/// assert_eq!(ObjectKey::parse("shop/web").unwrap(), key);
/// assert_eq!(ObjectKey::parse("node-1").unwrap(), ObjectKey::cluster("node-1"));
/// assert!(ObjectKey::parse("a/b/c").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace; `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of a namespaced object.
    pub fn namespaced(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    /// The key of a cluster-scoped object.
    pub fn cluster(name: impl Into<String>) -> Self {
        ObjectKey {
            namespace: None,
            name: name.into(),
        }
    }

    /// The key of `obj`; `None` when it has no name.
    pub fn from_object<K: Object>(obj: &K) -> Option<Self> {
        let name = obj.name().filter(|n| !n.is_empty())?;
        Some(ObjectKey {
            namespace: obj
                .namespace()
                .filter(|ns| !ns.is_empty())
                .map(str::to_owned),
            name: name.to_owned(),
        })
    }

    /// Parses a cache key (`namespace/name` or `name`).
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let (namespace, name) = split_meta_namespace_key(key)?;
        Ok(ObjectKey {
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}
