//! Leader election on a Lease (client-go's `tools/leaderelection`): of several replicas
//! of a controller, exactly one works at a time.
//!
//! ```text
//! candidate ── every retry period (jittered): read the Lease ──▶ free, released, or
//!     unchanged for a lease duration on my own clock? ──▶ conditional update ──▶ leading
//! leader ── every retry period: conditional renew ──▶ no renewal within the renew
//!     deadline (counted from when the last one was sent), or someone else holds it
//!     ──▶ the leadership token is cancelled ──▶ campaign again
//! ```
//!
//! - [`LeaderElector`]: one candidate; [`run`](LeaderElector::run) campaigns until shut
//!   down, calling [`LeaderCallbacks`]; [`leader`](LeaderElector::leader) watches who
//!   leads.
//! - [`LeaderElectionConfig`]: identity and durations, validated as client-go does.
//! - [`Lock`] and [`LeaseLock`]: where the record lives; [`Lease`] is the object.
//! - [`Clock`]: what the elector measures with ([`SystemClock`]; [`SkewedClock`] for tests).
//!
//! A controller gated by an elector: `runtime::Controller::run_while_leading`.

mod config;
mod elector;
mod lease;

pub use crate::clock::{Clock, SkewedClock, SystemClock};
pub use config::{ConfigError, LeaderElectionConfig, JITTER_FACTOR};
pub use elector::{LeaderCallbacks, LeaderElector, LeaderState};
pub use lease::{Lease, LeaseLock, LeaseSpec, Lock};
