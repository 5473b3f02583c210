//! The informer framework: keys, the thread-safe [`Indexer`], the [`DeltaFifo`] and the
//! [`ListerWatcher`] through which it lists and watches.
//!
//! Data flows Reflector → [`DeltaFifo`] → controller loop → [`Indexer`] and handlers.
//! This layer never sees HTTP: it reaches a server only through [`ListerWatcher`]
//! (implemented over the client's `Api<K>` by [`ListWatch`]); what it stores and queues are `Arc<K>` of objects that
//! implement [`Object`](crate::meta::Object).

mod delta_fifo;
mod key;
mod listwatch;
mod store;

pub use delta_fifo::{
    DeletedFinalStateUnknown, Delta, DeltaFifo, DeltaObject, DeltaType, Deltas, KnownObjects,
    PopError, ProcessError,
};
pub use key::{
    deletion_handling_meta_namespace_key, meta_namespace_key, split_meta_namespace_key, KeyError,
    ObjectOrTombstone,
};
pub use listwatch::{
    ListPager, ListWatch, ListerWatcher, PagedList, WatchStream, DEFAULT_PAGE_SIZE,
};
pub use store::{
    namespace_index, IndexFunc, IndexFuncError, Indexer, Indexers, KeyFunc, StoreError,
    NAMESPACE_INDEX,
};
