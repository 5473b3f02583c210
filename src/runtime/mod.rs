//! The reconcile runtime: a [`Controller`] runs informers, a work queue and workers that
//! call an async `reconcile` function, the other half of a controller.
//!
//! ```text
//! primary informer ─┐  event handlers turn every change into keys of primary objects:
//! .owns(child)     ─┼─ the object itself (primary), its controlling owner (owns),
//! .watches(x, map) ─┘  whatever `map` says (watches)
//!                         │ add
//!                         ▼
//!                  WorkQueue<ObjectKey>  (dedup, one holder per key, backoff, pacing)
//!                         │ get (after every informer has synced)
//!                         ▼
//!   workers ── reconcile(key, cached object or None) ──▶ Ok(Action) → forget, maybe requeue
//!                                                    └─▶ Err(e) → error_policy → Retry
//! ```
//!
//! - [`Controller`]: the builder (`owns`, `watches`, `rate_limiter`, `workers`,
//!   `max_retries`, `requeue_every`, `shutdown_timeout`) and `run`.
//! - [`ObjectKey`]: namespace and name, what the queue holds.
//! - [`Action`] and [`Retry`]: what a reconcile and an error policy ask for next.
//! - [`controller_owner_key`]: the owner mapping `owns` uses.
//!
//! `run` takes a `CancellationToken`: cancelling it stops taking keys and lets running
//! reconciles finish (up to a timeout). A run connects its handlers and builds a fresh
//! queue, and removes the handlers when it returns, so that a controller can be run
//! again, for example each time its replica is elected leader.

mod action;
mod controller;
mod object_key;
mod owner;

pub use action::{Action, Retry};
pub use controller::{Controller, ControllerError, ControllerMetrics, DEFAULT_SHUTDOWN_TIMEOUT};
pub use object_key::ObjectKey;
pub use owner::controller_owner_key;
