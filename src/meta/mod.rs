//! The object model: plain serde types for Kubernetes objects, lists, watch events and
//! statuses, and the [`Object`] accessor trait through which the rest of the crate reads
//! metadata.
//!
//! Data enters the crate here: a list or watch response body decodes into
//! [`ObjectList<K>`] or [`WatchEvent<K>`], where `K` is a typed struct implementing
//! [`Object`] or a [`DynamicObject`]. From then on objects travel as `Arc<K>`.

mod dynamic;
#[cfg(feature = "k8s-openapi")]
mod k8s_openapi;
mod label_selector;
mod list;
mod object;
mod object_meta;
mod resource;
mod status;
mod type_meta;
mod watch_event;

pub use dynamic::DynamicObject;
#[cfg(feature = "k8s-openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
pub use k8s_openapi::Scope;
pub use label_selector::{
    label_selector_as_selector, selector_as_label_selector, LabelSelector, LabelSelectorError,
    LabelSelectorRequirement,
};
pub use list::ObjectList;
pub use object::{MetaAccessor, Object};
pub use object_meta::{ManagedFieldsEntry, ObjectMeta, OwnerReference};
pub use resource::{ApiResource, Resource};
pub use status::{Status, StatusCause, StatusDetails};
pub use type_meta::{ListMeta, TypeMeta};
pub use watch_event::{Bookmark, BookmarkMeta, WatchEvent, INITIAL_EVENTS_END_ANNOTATION};
