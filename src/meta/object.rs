//! The `Object` accessor trait: what the cache needs to read from any Kubernetes object.
//!
//! The cache never looks inside an object except through these accessors (name and
//! namespace for keys, labels for selectors, resourceVersion for bookkeeping), so any
//! serde type with standard metadata can be cached. [`MetaAccessor`] abstracts over the
//! metadata struct itself, so this crate's [`ObjectMeta`] and k8s-openapi's (feature
//! `k8s-openapi`) both work.

use std::collections::BTreeMap;

use super::{ObjectMeta, OwnerReference, StringMap, StringMapRef};

/// Read and write access to the standard fields of object metadata, in the style of
/// client-go's `meta.Accessor`.
pub trait MetaAccessor {
    /// `metadata.name`.
    fn name(&self) -> Option<&str>;
    /// `metadata.namespace`; `None` for cluster-scoped objects.
    fn namespace(&self) -> Option<&str>;
    /// `metadata.uid`.
    fn uid(&self) -> Option<&str>;
    /// `metadata.resourceVersion`.
    fn resource_version(&self) -> Option<&str>;
    /// `metadata.generation`.
    fn generation(&self) -> Option<i64>;
    /// `metadata.labels`, as a view over whatever map the metadata keeps them in.
    fn labels(&self) -> Option<StringMapRef<'_>>;
    /// `metadata.annotations`, as a view over whatever map the metadata keeps them in.
    fn annotations(&self) -> Option<StringMapRef<'_>>;
    /// `metadata.deletionTimestamp` as an RFC 3339 string.
    fn deletion_timestamp(&self) -> Option<String>;
    /// `metadata.ownerReferences`, converted to this crate's type.
    fn owner_references(&self) -> Vec<OwnerReference>;
    /// `metadata.finalizers`.
    fn finalizers(&self) -> &[String];
    /// Sets `metadata.name`.
    fn set_name(&mut self, name: Option<String>);
    /// Sets `metadata.namespace`.
    fn set_namespace(&mut self, namespace: Option<String>);
    /// Sets `metadata.uid`.
    fn set_uid(&mut self, uid: Option<String>);
    /// Sets `metadata.resourceVersion`.
    fn set_resource_version(&mut self, resource_version: Option<String>);
    /// Sets `metadata.labels`.
    fn set_labels(&mut self, labels: Option<BTreeMap<String, String>>);
    /// Sets `metadata.annotations`.
    fn set_annotations(&mut self, annotations: Option<BTreeMap<String, String>>);
    /// Drops `metadata.managedFields`, the usual transform before caching.
    fn clear_managed_fields(&mut self);
}

impl MetaAccessor for ObjectMeta {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
    fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }
    fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }
    fn generation(&self) -> Option<i64> {
        self.generation
    }
    fn labels(&self) -> Option<StringMapRef<'_>> {
        self.labels.as_ref().map(StringMap::view)
    }
    fn annotations(&self) -> Option<StringMapRef<'_>> {
        self.annotations.as_ref().map(StringMap::view)
    }
    fn deletion_timestamp(&self) -> Option<String> {
        self.deletion_timestamp.clone()
    }
    fn owner_references(&self) -> Vec<OwnerReference> {
        self.owner_references.clone().unwrap_or_default()
    }
    fn finalizers(&self) -> &[String] {
        self.finalizers.as_deref().unwrap_or_default()
    }
    fn set_name(&mut self, name: Option<String>) {
        self.name = name;
    }
    fn set_namespace(&mut self, namespace: Option<String>) {
        self.namespace = namespace;
    }
    fn set_uid(&mut self, uid: Option<String>) {
        self.uid = uid;
    }
    fn set_resource_version(&mut self, resource_version: Option<String>) {
        self.resource_version = resource_version;
    }
    fn set_labels(&mut self, labels: Option<BTreeMap<String, String>>) {
        self.labels = labels.map(StringMap::from);
    }
    fn set_annotations(&mut self, annotations: Option<BTreeMap<String, String>>) {
        self.annotations = annotations.map(StringMap::from);
    }
    fn clear_managed_fields(&mut self) {
        self.managed_fields = None;
    }
}

/// A Kubernetes object: anything with standard metadata.
///
/// Implementing it takes three lines for a type with an [`ObjectMeta`] field:
///
/// ```
/// use informer::meta::{Object, ObjectMeta};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Debug, Serialize, Deserialize)]
/// struct ConfigMap {
///     metadata: ObjectMeta,
///     #[serde(default)]
///     data: std::collections::BTreeMap<String, String>,
/// }
///
/// impl Object for ConfigMap {
///     type Meta = ObjectMeta;
///     fn meta(&self) -> &ObjectMeta { &self.metadata }
///     fn meta_mut(&mut self) -> &mut ObjectMeta { &mut self.metadata }
/// }
///
/// let cm: ConfigMap = serde_json::from_str(
///     r#"{"metadata":{"name":"settings","namespace":"shop"},"data":{"a":"1"}}"#,
/// ).unwrap();
/// assert_eq!(cm.name(), Some("settings"));
/// assert_eq!(cm.namespace(), Some("shop"));
/// ```
pub trait Object {
    /// The metadata type: this crate's [`ObjectMeta`] or another crate's.
    type Meta: MetaAccessor;

    /// The object's metadata.
    fn meta(&self) -> &Self::Meta;

    /// The object's metadata, mutable.
    fn meta_mut(&mut self) -> &mut Self::Meta;

    /// `metadata.name`.
    fn name(&self) -> Option<&str> {
        self.meta().name()
    }
    /// `metadata.namespace`.
    fn namespace(&self) -> Option<&str> {
        self.meta().namespace()
    }
    /// `metadata.uid`.
    fn uid(&self) -> Option<&str> {
        self.meta().uid()
    }
    /// `metadata.resourceVersion`.
    fn resource_version(&self) -> Option<&str> {
        self.meta().resource_version()
    }
    /// `metadata.labels`.
    fn labels(&self) -> Option<StringMapRef<'_>> {
        self.meta().labels()
    }
    /// `metadata.annotations`.
    fn annotations(&self) -> Option<StringMapRef<'_>> {
        self.meta().annotations()
    }
    /// `metadata.deletionTimestamp` as an RFC 3339 string.
    fn deletion_timestamp(&self) -> Option<String> {
        self.meta().deletion_timestamp()
    }
    /// `metadata.ownerReferences`.
    fn owner_references(&self) -> Vec<OwnerReference> {
        self.meta().owner_references()
    }
}
