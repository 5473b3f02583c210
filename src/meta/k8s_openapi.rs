//! `Object` and `Resource` for every k8s-openapi resource type (feature `k8s-openapi`).
//!
//! The application chooses the Kubernetes version feature of k8s-openapi, as with any
//! library built on it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as k8s;

use super::{ApiResource, MetaAccessor, Object, OwnerReference, Resource, StringMapRef};

#[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
impl MetaAccessor for k8s::ObjectMeta {
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
        self.labels.as_ref().map(StringMapRef::from)
    }
    fn annotations(&self) -> Option<StringMapRef<'_>> {
        self.annotations.as_ref().map(StringMapRef::from)
    }
    fn deletion_timestamp(&self) -> Option<String> {
        self.deletion_timestamp.as_ref().map(|t| t.0.to_string())
    }
    fn owner_references(&self) -> Vec<OwnerReference> {
        self.owner_references
            .iter()
            .flatten()
            .map(|r| OwnerReference {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
                uid: r.uid.clone(),
                controller: r.controller,
                block_owner_deletion: r.block_owner_deletion,
            })
            .collect()
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
        self.labels = labels;
    }
    fn set_annotations(&mut self, annotations: Option<BTreeMap<String, String>>) {
        self.annotations = annotations;
    }
    fn clear_managed_fields(&mut self) {
        self.managed_fields = None;
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
impl<K> Object for K
where
    K: k8s_openapi::Metadata<Ty = k8s::ObjectMeta>,
{
    type Meta = k8s::ObjectMeta;

    fn meta(&self) -> &k8s::ObjectMeta {
        self.metadata()
    }

    fn meta_mut(&mut self) -> &mut k8s::ObjectMeta {
        self.metadata_mut()
    }
}

/// Maps a k8s-openapi scope marker to whether the resource is namespaced.
#[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
pub trait Scope {
    /// `true` for namespaced resources.
    const NAMESPACED: bool;
}

impl Scope for k8s_openapi::NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl Scope for k8s_openapi::ClusterResourceScope {
    const NAMESPACED: bool = false;
}

#[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
impl<K> Resource for K
where
    K: k8s_openapi::Metadata<Ty = k8s::ObjectMeta>,
    K::Scope: Scope,
{
    fn api_resource() -> ApiResource {
        ApiResource::new(
            K::GROUP,
            K::VERSION,
            K::KIND,
            K::URL_PATH_SEGMENT,
            <K::Scope as Scope>::NAMESPACED,
        )
    }
}
