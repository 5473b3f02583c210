//! # informer
//!
//! Kubernetes client-go's informer/cache framework for async Rust.
//!
//! A [`cache::Reflector`] lists and watches the API server and feeds a
//! [`cache::DeltaFifo`]; a controller loop pops deltas into a thread-safe
//! [`cache::Indexer`]; a shared processor fans events out to every handler registered
//! with the [`cache::SharedIndexInformer`]. Objects are decoded once and shared as
//! `Arc<K>` from the FIFO to the store, the indices and every handler.
//!
//! Modules:
//! - [`meta`]: the object model (metadata, lists, watch events, statuses).
//! - [`selector`]: label and field selectors.
//! - [`client`]: configuration, auth, TLS, `RestClient`, typed and dynamic `Api<K>`,
//!   discovery.
//! - [`cache`]: the informer framework: keys, the Indexer, the DeltaFifo and the
//!   in-order queue, the `ListerWatcher`, the Reflector, shared informers and their
//!   factory, handlers, listers.
//! - [`workqueue`]: client-go's work queue: deduplicating, delaying, rate-limited, with
//!   rate limiters and metrics.
//! - [`runtime`]: the reconcile runtime, a `Controller` running informers, a work queue
//!   and workers that call an async reconcile function.
//! - [`leaderelection`]: Lease-based leader election, so that one replica of a
//!   controller works at a time.
//! - [`events`]: an event recorder (client-go's `tools/record` and `tools/events`), so
//!   that a controller tells users what it did; `kubectl describe` shows its events.
//! - [`clock`]: the clocks the elector and the recorder count time with.
//! - `testing` (feature `testing`): an embedded API server and a fake lister-watcher for
//!   tests.
#![deny(missing_docs)]

pub mod cache;
pub mod client;
pub mod clock;
pub mod events;
pub mod leaderelection;
pub mod meta;
pub mod runtime;
pub mod selector;
#[cfg(feature = "testing")]
pub mod testing;
pub mod workqueue;

/// The README's example, compiled and run as a doc test.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
