//! The informer framework: keys, the thread-safe [`Indexer`], the [`DeltaFifo`], the
//! controller loop and the handlers it feeds, listers over the cache, and the
//! [`ListerWatcher`] through which it lists and watches.
//!
//! Data flows [`Reflector`] → [`DeltaFifo`] → controller loop → [`Indexer`] and, through the
//! shared processor, every registered [`ResourceEventHandler`].
//! This layer never sees HTTP and does not depend on the client: it reaches a server only
//! through [`ListerWatcher`] (implemented by the client's `Api<K>`), which reports
//! failures as [`ListWatchError`]s, and the [`SharedInformerFactory`] gets its
//! lister-watchers from an [`InformerClient`] (implemented by the client's `RestClient`);
//! what it stores and queues are `Arc<K>` of objects that implement
//! [`Object`](crate::meta::Object).

mod backoff;
mod controller;
mod delta_fifo;
mod event_stream;
mod factory;
mod handler;
mod in_order_fifo;
mod informer_client;
mod key;
mod lister;
mod listwatch;
mod listwatch_error;
mod metrics;
mod processor;
mod reflector;
mod shared_informer;
mod store;

pub use backoff::{BackoffPolicy, MAX_RETRY_AFTER};
pub use event_stream::{EventStream, InformerEvent};
pub use factory::SharedInformerFactory;
pub use in_order_fifo::{InOrderFifo, QueuedDelta};
pub use informer_client::InformerClient;
pub use metrics::{InformerMetrics, ReflectorMetrics};
pub use reflector::{
    default_watch_error_handler, PagedReplace, Reflector, ReflectorError, ReflectorOptions,
    ReflectorStore, ShouldResync, Transform, WatchErrorHandler, DEFAULT_WATCH_IDLE_TIMEOUT,
};
pub use shared_informer::{
    InformerError, InformerOptions, QueueMode, SharedIndexInformer, MINIMUM_RESYNC_PERIOD,
};

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
pub use listwatch_error::{ListWatchError, ListWatchErrorKind, ListWatchResult};
pub(crate) use processor::panic_message;
pub use processor::EventHandlerRegistration;
pub use processor::HandlerOptions;
pub use store::{
    namespace_index, IndexFunc, IndexFuncError, Indexer, Indexers, KeyFunc, StoreError,
    NAMESPACE_INDEX,
};
