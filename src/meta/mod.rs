//! The object model: plain serde types for Kubernetes objects, lists, watch events and
//! statuses, and the [`Object`] accessor trait through which the rest of the crate reads
//! metadata.
//!
//! Data enters the crate here: a list or watch response body decodes into
//! [`ObjectList<K>`] or [`WatchEvent<K>`], where `K` is a typed struct implementing
//! [`Object`] or a [`DynamicObject`]. From then on objects travel as `Arc<K>`.

#[cfg(feature = "schema")]
mod custom_resource;
mod dynamic;
#[cfg(feature = "k8s-openapi")]
mod k8s_openapi;
mod label_selector;
mod lean_object;
mod list;
mod object;
mod object_meta;
mod params;
mod partial_object_metadata;
mod resource;
mod scale;
mod status;
mod string_map;
mod time;
mod type_meta;
mod watch_event;

#[cfg(feature = "schema")]
#[doc(hidden)]
pub use custom_resource::{__schema_of, CrdNames};
#[cfg(feature = "schema")]
pub use custom_resource::{CustomResource, CustomResourceDefinition};
pub use dynamic::DynamicObject;
/// `#[derive(Resource)]` (feature `derive`): implements [`Object`] and [`Resource`] for a
/// struct with a `metadata: ObjectMeta` field, from `#[resource(group = "...", version =
/// "...", kind = "...", plural = "...", namespaced)]`; with `schema` (feature `schema`),
/// [`CustomResource`] too. See the `informer-derive` crate for every key.
#[cfg(feature = "derive")]
pub use informer_derive::Resource;
#[cfg(feature = "k8s-openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
pub use k8s_openapi::Scope;
pub use label_selector::{
    label_selector_as_selector, selector_as_label_selector, LabelSelector, LabelSelectorError,
    LabelSelectorRequirement,
};
pub use lean_object::LeanObject;
pub use list::ObjectList;
pub use object::{MetaAccessor, Object};
pub use object_meta::{ManagedFieldsEntry, ObjectMeta, OwnerReference};
pub use params::{ListParams, ResourceVersionMatch, WatchParams};
pub use partial_object_metadata::PartialObjectMetadata;
pub(crate) use resource::object_resource;
pub use resource::{ApiResource, Resource};
pub use scale::{Scale, ScaleSpec, ScaleStatus};
pub use status::{Status, StatusCause, StatusDetails};
pub use string_map::{Iter as StringMapIter, StringMap, StringMapRef};
pub(crate) use time::{micro_time, time};
pub use type_meta::{ListMeta, TypeMeta};
pub use watch_event::{Bookmark, BookmarkMeta, WatchEvent, INITIAL_EVENTS_END_ANNOTATION};
