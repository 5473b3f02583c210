//! [`LeaderElector`]: one candidate's campaign for a [`Lock`], client-go's
//! `leaderelection.LeaderElector`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::config::{ConfigError, LeaderElectionConfig, JITTER_FACTOR};
use super::lease::{Lease, LeaseSpec, Lock};
use crate::clock::{Clock, SystemClock};
use crate::meta::micro_time;

/// Who leads, as one candidate last saw it ([`LeaderElector::leader`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderState {
    /// The holder of the lease when this candidate last read it (`None`: nobody).
    pub holder: Option<String>,
    /// Whether this candidate is leading now.
    pub leading: bool,
}

type StartedFn = Box<dyn Fn(CancellationToken) + Send + Sync>;
type StoppedFn = Box<dyn Fn() + Send + Sync>;
type NewLeaderFn = Box<dyn Fn(&str) + Send + Sync>;

/// What to do when leadership changes (client-go's `LeaderCallbacks`). Every callback
/// runs on the elector's task: keep them short (spawn the work).
#[derive(Default)]
pub struct LeaderCallbacks {
    on_started: Option<StartedFn>,
    on_stopped: Option<StoppedFn>,
    on_new_leader: Option<NewLeaderFn>,
}

impl LeaderCallbacks {
    /// No callbacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Called when this candidate starts leading, with a token that is cancelled the
    /// moment it stops (before [`on_stopped_leading`](Self::on_stopped_leading)).
    pub fn on_started_leading(
        mut self,
        f: impl Fn(CancellationToken) + Send + Sync + 'static,
    ) -> Self {
        self.on_started = Some(Box::new(f));
        self
    }

    /// Called when this candidate stops leading (lost, or shut down).
    pub fn on_stopped_leading(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_stopped = Some(Box::new(f));
        self
    }

    /// Called with the identity of each new holder this candidate observes (itself
    /// included).
    pub fn on_new_leader(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_new_leader = Some(Box::new(f));
        self
    }
}

/// The record as last seen, and when (on this candidate's clock).
struct Observed {
    spec: LeaseSpec,
    at: Duration,
}

/// The outcome of one attempt.
enum Attempt {
    /// We hold the lease: the attempt started at this time.
    Held(Duration),
    /// Someone else holds it.
    Other(String),
    /// The read or write failed (or lost a race); try again.
    Failed,
}

/// One candidate in a leader election over a [`Lock`].
///
/// ```
/// use std::time::Duration;
/// use informer::client::{Config, RestClient};
/// use informer::leaderelection::{LeaderCallbacks, LeaderElectionConfig, LeaderElector, LeaseLock};
/// use informer::testing::ApiServer;
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = ApiServer::start().await?;
/// let client = RestClient::new(Config::from_kubeconfig_file(server.kubeconfig())?)?;
/// let mut config = LeaderElectionConfig::new("replica-1");
/// config.lease_duration = Duration::from_secs(2);
/// config.renew_deadline = Duration::from_millis(1500);
/// config.retry_period = Duration::from_millis(200);
/// let elector = LeaderElector::new(LeaseLock::new(client, "default", "my-controller"), config)?;
///
/// let stop = CancellationToken::new();
/// let callbacks = LeaderCallbacks::new().on_started_leading({
///     let stop = stop.clone();
///     move |leading: CancellationToken| {
///         println!("leading");
///         stop.cancel(); // shut down at once, releasing the lease
///     }
/// });
/// elector.run(callbacks, stop).await;
/// server.shutdown().await;
/// # Ok(()) }
/// ```
///
/// # How it works
///
/// A candidate reads the lease every retry period (with jitter). It takes the lease when
/// nobody holds it, or when the record has not changed for a lease duration **measured on
/// its own monotonic clock since it last saw the record change**; it never compares the
/// `renewTime` written by another machine with its own clock, so wall-clock skew cannot
/// make it take over early. Every write is conditional on the resourceVersion it read.
///
/// The leader renews every retry period. Its renew deadline counts from the moment it
/// *sent* its last successful renewal (never later than the server applied it, so never
/// later than anyone observed it), and every request is cut off at that deadline. So a
/// leader that cannot renew stops leading at most `renew_deadline` after that moment,
/// while the others wait at least `lease_duration` (longer) from when they saw it.
pub struct LeaderElector {
    lock: Box<dyn Lock>,
    config: LeaderElectionConfig,
    clock: Arc<dyn Clock>,
    observed: Mutex<Option<Observed>>,
    /// The lease as this candidate last wrote it while holding it: the next renewal
    /// updates it directly, conditional on its resourceVersion, without reading first.
    last_written: Mutex<Option<Lease>>,
    state: watch::Sender<LeaderState>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("lock", &self.lock.describe())
            .field("identity", &self.config.identity)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl LeaderElector {
    /// A candidate for `lock`, after checking `config`.
    pub fn new(lock: impl Lock, config: LeaderElectionConfig) -> Result<Self, ConfigError> {
        Self::with_clock(lock, config, Arc::new(SystemClock::default()))
    }

    /// The same, measuring with `clock` (tests inject a skewed one).
    pub fn with_clock(
        lock: impl Lock,
        config: LeaderElectionConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(LeaderElector {
            lock: Box::new(lock),
            config,
            clock,
            observed: Mutex::new(None),
            last_written: Mutex::new(None),
            state: watch::channel(LeaderState::default()).0,
        })
    }

    /// The candidate's configuration.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.config.identity
    }

    /// Who leads, as this candidate last saw it; changes can be awaited.
    pub fn leader(&self) -> watch::Receiver<LeaderState> {
        self.state.subscribe()
    }

    /// Whether this candidate leads now.
    pub fn is_leader(&self) -> bool {
        self.state.borrow().leading
    }

    /// Campaigns until `shutdown` is cancelled: acquires the lease, leads while it can
    /// renew it, and campaigns again after losing it. On shutdown while leading, the
    /// leadership token is cancelled, `on_stopped_leading` is called, and then, with
    /// `release_on_cancel`, the lease is released at once: the next candidate may start
    /// within a retry period, so the leader's work must have stopped by the time
    /// `on_stopped_leading` returns. (`Controller::run_while_leading` releases only after
    /// its reconciles have ended.)
    pub async fn run(&self, callbacks: LeaderCallbacks, shutdown: CancellationToken) {
        if self.campaign(callbacks, shutdown).await && self.config.release_on_cancel {
            self.release().await;
        }
    }

    /// [`run`](Self::run) without the release; returns whether this candidate was
    /// leading when `shutdown` came.
    pub(crate) async fn campaign(
        &self,
        callbacks: LeaderCallbacks,
        shutdown: CancellationToken,
    ) -> bool {
        loop {
            let Some(acquired_at) = self.acquire(&callbacks, &shutdown).await else {
                return false;
            };
            let term = shutdown.child_token();
            self.set_leading(true);
            tracing::info!(identity = %self.config.identity, lock = %self.lock.describe(), "started leading");
            if let Some(f) = &callbacks.on_started {
                f(term.clone());
            }
            self.renew(acquired_at, &callbacks, &shutdown).await;
            term.cancel();
            self.set_leading(false);
            tracing::info!(identity = %self.config.identity, lock = %self.lock.describe(), "stopped leading");
            if let Some(f) = &callbacks.on_stopped {
                f();
            }
            if shutdown.is_cancelled() {
                return true;
            }
        }
    }

    /// Tries every retry period (jittered) until the lease is ours; `None` on shutdown.
    async fn acquire(
        &self,
        callbacks: &LeaderCallbacks,
        shutdown: &CancellationToken,
    ) -> Option<Duration> {
        loop {
            let attempt = tokio::select! {
                a = tokio::time::timeout(self.clock.real(self.config.renew_deadline), self.try_acquire_or_renew(callbacks)) => a,
                () = shutdown.cancelled() => return None,
            };
            if let Ok(Attempt::Held(at)) = attempt {
                return Some(at);
            }
            let jitter = 1.0 + fastrand::f64() * JITTER_FACTOR;
            let wait = self.clock.real(self.config.retry_period.mul_f64(jitter));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return None,
            }
        }
    }

    /// Renews every retry period; returns when the renew deadline passed without a
    /// renewal, another holder took the lease, or `shutdown`.
    async fn renew(
        &self,
        mut renewed_at: Duration,
        callbacks: &LeaderCallbacks,
        shutdown: &CancellationToken,
    ) {
        let retry = self.config.retry_period;
        let mut wait = retry;
        loop {
            // Never sleep past the deadline: an acquisition whose answer came late may
            // have little of it left.
            let deadline = renewed_at + self.config.renew_deadline;
            let nap = wait.min(deadline.saturating_sub(self.clock.now()));
            tokio::select! {
                () = tokio::time::sleep(self.clock.real(nap)) => {}
                () = shutdown.cancelled() => return,
            }
            let left = deadline.saturating_sub(self.clock.now());
            if left.is_zero() {
                tracing::warn!(identity = %self.config.identity, "failed to renew the lease within the renew deadline");
                return;
            }
            let attempt = tokio::select! {
                a = tokio::time::timeout(self.clock.real(left), self.try_acquire_or_renew(callbacks)) => a,
                () = shutdown.cancelled() => return,
            };
            match attempt {
                Ok(Attempt::Held(at)) => {
                    renewed_at = at;
                    wait = retry;
                }
                Ok(Attempt::Other(holder)) => {
                    tracing::warn!(identity = %self.config.identity, %holder, "the lease was taken over");
                    return;
                }
                Ok(Attempt::Failed) => {
                    // Retry sooner than a full period, but never past the deadline.
                    let left = deadline.saturating_sub(self.clock.now());
                    wait = retry.min(left);
                }
                Err(_) => {
                    tracing::warn!(identity = %self.config.identity, "failed to renew the lease within the renew deadline");
                    return;
                }
            }
        }
    }

    /// One read and, where this candidate may, one conditional write (client-go's
    /// `tryAcquireOrRenew`). A leader first tries to renew the lease as it last wrote it,
    /// without the read (client-go's fast path): the write is conditional on that
    /// version, so it fails if anyone else wrote since, and the slow path follows.
    async fn try_acquire_or_renew(&self, callbacks: &LeaderCallbacks) -> Attempt {
        let started = self.clock.now();
        let wall = micro_time(self.clock.wall());
        let me = &self.config.identity;
        let lease_seconds = i32::try_from(self.config.lease_duration.as_secs_f64().ceil() as u64)
            .unwrap_or(i32::MAX);
        let mine = self.last_written.lock().take();
        let renewable = |l: &Lease| l.metadata.resource_version.is_some() && self.is_leader();
        if let Some(mut lease) = mine.filter(renewable) {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            spec.renew_time = Some(wall.clone());
            spec.lease_duration_seconds = Some(lease_seconds);
            let spec = spec.clone();
            match self.lock.update(lease).await {
                Ok(written) => {
                    *self.last_written.lock() = Some(written);
                    self.observe(spec, started, callbacks);
                    return Attempt::Held(started);
                }
                Err(e) => {
                    tracing::debug!(identity = %me, error = %e, "renewing without a read failed; reading the lease");
                }
            }
        }
        let current = match self.lock.get().await {
            Ok(current) => current,
            Err(e) => {
                tracing::debug!(identity = %me, error = %e, "reading the lease failed");
                return Attempt::Failed;
            }
        };
        let Some(mut lease) = current else {
            let spec = LeaseSpec {
                holder_identity: Some(me.clone()),
                lease_duration_seconds: Some(lease_seconds),
                acquire_time: Some(wall.clone()),
                renew_time: Some(wall),
                lease_transitions: Some(0),
                other: Default::default(),
            };
            let lease = Lease {
                spec: Some(spec.clone()),
                ..Lease::default()
            };
            let written = self.lock.create(lease).await;
            return self.written(written, spec, started, callbacks, "creating");
        };
        let spec = lease.spec.clone().unwrap_or_default();
        self.observe(spec.clone(), self.clock.now(), callbacks);
        let holder = spec.holder().map(str::to_owned);
        let mine = holder.as_deref() == Some(me.as_str());
        if let Some(holder) = holder.filter(|_| !mine) {
            let observed_at = self.observed.lock().as_ref().map_or(started, |o| o.at);
            let theirs =
                Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64);
            let wait = theirs.max(self.config.lease_duration);
            if observed_at + wait > self.clock.now() {
                return Attempt::Other(holder);
            }
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let new = LeaseSpec {
            holder_identity: Some(me.clone()),
            lease_duration_seconds: Some(lease_seconds),
            acquire_time: if mine {
                spec.acquire_time.clone()
            } else {
                Some(wall.clone())
            },
            renew_time: Some(wall),
            lease_transitions: Some(if mine {
                transitions
            } else {
                transitions.saturating_add(1)
            }),
            other: spec.other.clone(),
        };
        lease.spec = Some(new.clone());
        let written = self.lock.update(lease).await;
        self.written(written, new, started, callbacks, "updating")
    }

    /// The outcome of writing `spec` in an attempt that started at `started`.
    fn written(
        &self,
        result: crate::client::Result<Lease>,
        spec: LeaseSpec,
        started: Duration,
        callbacks: &LeaderCallbacks,
        what: &str,
    ) -> Attempt {
        match result {
            Ok(lease) => {
                *self.last_written.lock() = Some(lease);
                self.observe(spec, started, callbacks);
                Attempt::Held(started)
            }
            Err(e) => {
                tracing::debug!(identity = %self.config.identity, error = %e, "{what} the lease failed");
                Attempt::Failed
            }
        }
    }

    /// Records `spec` as seen at `at` if it differs from what was seen before.
    fn observe(&self, spec: LeaseSpec, at: Duration, callbacks: &LeaderCallbacks) {
        let mut observed = self.observed.lock();
        if observed.as_ref().is_some_and(|o| o.spec == spec) {
            return;
        }
        let old_holder = observed
            .as_ref()
            .and_then(|o| o.spec.holder().map(str::to_owned));
        let holder = spec.holder().map(str::to_owned);
        *observed = Some(Observed { spec, at });
        drop(observed);
        if holder != old_holder {
            self.state.send_modify(|s| s.holder = holder.clone());
            if let (Some(h), Some(f)) = (&holder, &callbacks.on_new_leader) {
                f(h);
            }
        }
    }

    fn set_leading(&self, leading: bool) {
        self.state.send_modify(|s| s.leading = leading);
    }

    /// Gives the lease up, if this candidate still holds it (client-go's `release`):
    /// the holder is emptied, so the next candidate takes it at its next attempt.
    pub(crate) async fn release(&self) {
        let attempt = async {
            let mut lease = self.lock.get().await.ok()??;
            let spec = lease.spec.clone().unwrap_or_default();
            if spec.holder() != Some(self.config.identity.as_str()) {
                return None;
            }
            let wall = micro_time(self.clock.wall());
            lease.spec = Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                acquire_time: Some(wall.clone()),
                renew_time: Some(wall),
                ..spec
            });
            self.lock.update(lease).await.ok()
        };
        match tokio::time::timeout(self.config.renew_deadline, attempt).await {
            Ok(Some(_)) => tracing::info!(identity = %self.config.identity, "released the lease"),
            _ => {
                tracing::warn!(identity = %self.config.identity, "could not release the lease; the next leader waits a lease duration")
            }
        }
    }
}
