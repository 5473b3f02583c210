//! Key functions: how an object is named inside the cache.
//!
//! The store, the FIFO and every index refer to objects by key. The default key is
//! `namespace/name`, or `name` for cluster-scoped objects, exactly as client-go's
//! `MetaNamespaceKeyFunc`.

use crate::meta::Object;

use super::DeletedFinalStateUnknown;

/// Why a key could not be made or split.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The object has no `metadata.name`.
    #[error("object has no metadata.name; give it a name before caching it")]
    MissingName,
    /// The key is not of the form `name` or `namespace/name`.
    #[error("unexpected key format: {0:?} (expected \"name\" or \"namespace/name\")")]
    Malformed(String),
}

/// `namespace/name`, or `name` when the object has no namespace.
///
/// ```
/// use informer::cache::meta_namespace_key;
/// use informer::meta::{DynamicObject, ObjectMeta};
/// let mut pod = DynamicObject::default();
/// pod.metadata = ObjectMeta { name: Some("web".into()), namespace: Some("shop".into()), ..Default::default() };
/// assert_eq!(meta_namespace_key(&pod).unwrap(), "shop/web");
/// ```
pub fn meta_namespace_key<K: Object>(obj: &K) -> Result<String, KeyError> {
    let name = obj
        .name()
        .filter(|n| !n.is_empty())
        .ok_or(KeyError::MissingName)?;
    Ok(match obj.namespace().filter(|ns| !ns.is_empty()) {
        Some(ns) => {
            let mut key = String::with_capacity(ns.len() + 1 + name.len());
            key.push_str(ns);
            key.push('/');
            key.push_str(name);
            key
        }
        None => name.to_owned(),
    })
}

/// Splits a key made by [`meta_namespace_key`] into `(namespace, name)`; the namespace is
/// `None` for cluster-scoped keys.
///
/// ```
/// use informer::cache::split_meta_namespace_key;
/// assert_eq!(split_meta_namespace_key("shop/web").unwrap(), (Some("shop"), "web"));
/// assert_eq!(split_meta_namespace_key("node-1").unwrap(), (None, "node-1"));
/// assert!(split_meta_namespace_key("a/b/c").is_err());
/// assert!(split_meta_namespace_key("/web").is_err());
/// ```
pub fn split_meta_namespace_key(key: &str) -> Result<(Option<&str>, &str), KeyError> {
    let malformed = || KeyError::Malformed(key.to_owned());
    let mut parts = key.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), None, None) if !name.is_empty() => Ok((None, name)),
        (Some(ns), Some(name), None) if !ns.is_empty() && !name.is_empty() => Ok((Some(ns), name)),
        _ => Err(malformed()),
    }
}

/// Something that is either an object or a tombstone for one, as a deletion hands it over.
pub enum ObjectOrTombstone<'a, K> {
    /// A live object.
    Object(&'a K),
    /// The tombstone of an object whose deletion was missed.
    Tombstone(&'a DeletedFinalStateUnknown<K>),
}

/// Like [`meta_namespace_key`], but a tombstone yields the key it carries, as client-go's
/// `DeletionHandlingMetaNamespaceKeyFunc` does.
pub fn deletion_handling_meta_namespace_key<K: Object>(
    obj: ObjectOrTombstone<'_, K>,
) -> Result<String, KeyError> {
    match obj {
        ObjectOrTombstone::Object(o) => meta_namespace_key(o),
        ObjectOrTombstone::Tombstone(t) => Ok(t.key.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{DynamicObject, ObjectMeta};
    use std::sync::Arc;

    fn obj(ns: Option<&str>, name: Option<&str>) -> DynamicObject {
        DynamicObject {
            metadata: ObjectMeta {
                name: name.map(Into::into),
                namespace: ns.map(Into::into),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn namespaced_and_cluster_scoped_keys() {
        assert_eq!(
            meta_namespace_key(&obj(Some("a"), Some("b"))).unwrap(),
            "a/b"
        );
        assert_eq!(meta_namespace_key(&obj(None, Some("b"))).unwrap(), "b");
        assert_eq!(meta_namespace_key(&obj(Some(""), Some("b"))).unwrap(), "b");
        assert_eq!(
            meta_namespace_key(&obj(Some("a"), None)),
            Err(KeyError::MissingName)
        );
    }

    #[test]
    fn split_rejects_malformed_keys() {
        for bad in ["", "/", "a/", "/b", "a/b/c", "a//b"] {
            assert_eq!(
                split_meta_namespace_key(bad),
                Err(KeyError::Malformed(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(split_meta_namespace_key("a/b").unwrap(), (Some("a"), "b"));
        assert_eq!(split_meta_namespace_key("b").unwrap(), (None, "b"));
    }

    #[test]
    fn split_inverts_key() {
        let o = obj(Some("ns"), Some("n"));
        let key = meta_namespace_key(&o).unwrap();
        assert_eq!(split_meta_namespace_key(&key).unwrap(), (Some("ns"), "n"));
    }

    #[test]
    fn tombstone_key_is_its_own() {
        let t = DeletedFinalStateUnknown {
            key: "ns/gone".to_owned(),
            obj: Arc::new(obj(Some("other"), Some("x"))),
        };
        assert_eq!(
            deletion_handling_meta_namespace_key(ObjectOrTombstone::Tombstone(&t)).unwrap(),
            "ns/gone"
        );
        let o = obj(Some("ns"), Some("live"));
        assert_eq!(
            deletion_handling_meta_namespace_key(ObjectOrTombstone::Object(&o)).unwrap(),
            "ns/live"
        );
    }
}
