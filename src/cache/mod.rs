//! The informer framework: keys, the thread-safe [`Indexer`], the [`DeltaFifo`], the
//! controller loop and the handlers it feeds, listers over the cache, and the
//! [`ListerWatcher`] through which it lists and watches.
//!
//! Data flows Reflector → [`DeltaFifo`] → controller loop → [`Indexer`] and, through the
//! shared processor, every registered [`ResourceEventHandler`].
//! This layer never sees HTTP: it reaches a server only through [`ListerWatcher`]
//! (implemented over the client's `Api<K>` by [`ListWatch`]); what it stores and queues
//! are `Arc<K>` of objects that implement [`Object`](crate::meta::Object).

// The controller loop and the shared processor are wired into the shared informer by
// the informer issue; until then only their tests use the crate-private parts.
#[cfg_attr(not(test), allow(dead_code))]
mod controller;
mod delta_fifo;
mod handler;
mod key;
mod lister;
mod listwatch;
#[cfg_attr(not(test), allow(dead_code))]
mod processor;
mod store;

pub use delta_fifo::{
    DeletedFinalStateUnknown, Delta, DeltaFifo, DeltaObject, DeltaType, Deltas, KnownObjects,
    PopError, ProcessError,
};
pub use handler::{
    DeletedObject, FilteringResourceEventHandler, ResourceEventHandler, ResourceEventHandlerFuncs,
};
pub use key::{
    deletion_handling_meta_namespace_key, meta_namespace_key, split_meta_namespace_key, KeyError,
    ObjectOrTombstone,
};
pub use lister::{Lister, NamespaceLister};
pub use listwatch::{
    ListPager, ListWatch, ListerWatcher, PagedList, WatchStream, DEFAULT_PAGE_SIZE,
};
pub use processor::EventHandlerRegistration;
pub use store::{
    namespace_index, IndexFunc, IndexFuncError, Indexer, Indexers, KeyFunc, StoreError,
    NAMESPACE_INDEX,
};
