//! The informer framework: keys, the thread-safe [`Indexer`] and the [`DeltaFifo`].
//!
//! Data flows Reflector → [`DeltaFifo`] → controller loop → [`Indexer`] and handlers.
//! This layer never sees HTTP: what it stores and queues are `Arc<K>` of objects that
//! implement [`Object`](crate::meta::Object).

mod delta_fifo;
mod key;
mod store;

pub use delta_fifo::{
    DeletedFinalStateUnknown, Delta, DeltaFifo, DeltaObject, DeltaType, Deltas, KnownObjects,
    PopError, ProcessError,
};
pub use key::{
    deletion_handling_meta_namespace_key, meta_namespace_key, split_meta_namespace_key, KeyError,
    ObjectOrTombstone,
};
pub use store::{
    namespace_index, IndexFunc, IndexFuncError, Indexer, Indexers, KeyFunc, StoreError,
    NAMESPACE_INDEX,
};
