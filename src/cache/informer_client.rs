//! `InformerClient`: what a [`SharedInformerFactory`](super::SharedInformerFactory)
//! needs of a client — a [`ListerWatcher`] for any resource, decoded as any type.
//!
//! The factory asks its client for one lister-watcher per resource and Rust type, wraps
//! it with the factory's selectors and tweaks ([`ListWatch`](super::ListWatch)) and builds
//! the shared informer over it. The crate's REST client implements the trait; a test can
//! implement it over fakes.

use serde::de::DeserializeOwned;

use super::listwatch::ListerWatcher;
use crate::meta::{ApiResource, Object, PartialObjectMetadata};

/// A source of lister-watchers for a [`SharedInformerFactory`](super::SharedInformerFactory)
/// (client-go's factories take a clientset, a dynamic or a metadata client for this).
///
/// `client::RestClient` implements it over `client::Api`.
pub trait InformerClient: Send + Sync + 'static {
    /// Lists and watches `resource` in `namespace`, or in every namespace when it is
    /// `None` (a cluster-scoped resource ignores the namespace), decoding objects as `K`.
    fn lister_watcher<K>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> impl ListerWatcher<K> + 'static
    where
        K: Object + DeserializeOwned + Send + Sync + 'static;

    /// Lists and watches only the metadata of `resource`'s objects (the server sends
    /// [`PartialObjectMetadata`], without `spec` or `status`), as
    /// [`lister_watcher`](Self::lister_watcher) scopes it. The factory calls this, never
    /// `lister_watcher::<PartialObjectMetadata>`, for every `PartialObjectMetadata`
    /// informer.
    fn metadata_lister_watcher(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> impl ListerWatcher<PartialObjectMetadata> + 'static;
}
