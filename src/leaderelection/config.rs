//! [`LeaderElectionConfig`]: the durations and identity of one candidate, checked as
//! client-go's `NewLeaderElector` checks them.

use std::time::Duration;

/// client-go's jitter factor: candidates wait between one and 2.2 retry periods between
/// attempts to acquire, and the renew deadline must exceed 1.2 retry periods.
pub const JITTER_FACTOR: f64 = 1.2;

/// How one candidate campaigns. The defaults are client-go's (and
/// kube-controller-manager's): a lease of 15 s, renewed within 10 s, tried every 2 s.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderElectionConfig {
    /// This candidate's identity, unique among the candidates (for example the pod
    /// name); written into the lease as its holder.
    pub identity: String,
    /// How long candidates wait, each on its own clock, after they last saw the lease
    /// change before they take it over.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops leading. Shorter than
    /// `lease_duration`, so that a leader that cannot renew stops before anyone else may
    /// take over.
    pub renew_deadline: Duration,
    /// How long to wait between attempts.
    pub retry_period: Duration,
    /// Whether to release the lease when the elector is shut down while leading, so that
    /// the next candidate takes over within a retry period instead of a lease duration.
    /// Only safe when the leader's work has stopped by then: cancelling the leadership
    /// token asks the work to stop, it does not wait for it (see
    /// [`LeaderElector::run`](super::LeaderElector::run)).
    pub release_on_cancel: bool,
}

impl LeaderElectionConfig {
    /// client-go's defaults for `identity`, releasing on shutdown.
    pub fn new(identity: impl Into<String>) -> Self {
        LeaderElectionConfig {
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            release_on_cancel: true,
        }
    }

    /// Checks the rules of client-go's `NewLeaderElector`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use informer::leaderelection::LeaderElectionConfig;
    /// assert!(LeaderElectionConfig::new("a").validate().is_ok());
    /// let mut c = LeaderElectionConfig::new("a");
    /// c.renew_deadline = Duration::from_secs(20);
    /// assert_eq!(
    ///     c.validate().unwrap_err().to_string(),
    ///     "lease_duration (15s) must be greater than renew_deadline (20s)"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.identity.is_empty() {
            return Err(ConfigError::EmptyIdentity);
        }
        for (field, value) in [
            ("lease_duration", self.lease_duration),
            ("renew_deadline", self.renew_deadline),
            ("retry_period", self.retry_period),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Zero(field));
            }
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(ConfigError::LeaseNotLongerThanRenew {
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
            });
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return Err(ConfigError::RenewNotLongerThanRetry {
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
            });
        }
        if i32::try_from(self.lease_duration.as_secs()).is_err() {
            return Err(ConfigError::TooLong(self.lease_duration));
        }
        Ok(())
    }
}

/// A [`LeaderElectionConfig`] that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No identity: the lease could not say who holds it.
    #[error("identity is empty; give each candidate a unique identity (for example its pod name)")]
    EmptyIdentity,
    /// A duration is zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// The leader could still believe it leads when others take over.
    #[error("lease_duration ({lease_duration:?}) must be greater than renew_deadline ({renew_deadline:?})")]
    LeaseNotLongerThanRenew {
        /// The lease duration.
        lease_duration: Duration,
        /// The renew deadline.
        renew_deadline: Duration,
    },
    /// The leader would get at most one attempt to renew.
    #[error("renew_deadline ({renew_deadline:?}) must be greater than retry_period ({retry_period:?}) x {JITTER_FACTOR}")]
    RenewNotLongerThanRetry {
        /// The renew deadline.
        renew_deadline: Duration,
        /// The retry period.
        retry_period: Duration,
    },
    /// The lease duration does not fit the Lease's `leaseDurationSeconds`.
    #[error("lease_duration {0:?} does not fit in leaseDurationSeconds")]
    TooLong(Duration),
}
