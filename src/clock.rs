//! Clocks for the parts that count time: monotonic time for every duration they measure,
//! and wall time only for the timestamps they write into objects (a lease's `renewTime`,
//! an event's `lastTimestamp`), which nothing ever compares with its own clock.
//!
//! [`SystemClock`] is the machine's; tests inject [`SkewedClock`] (a clock running fast
//! or slow, for leader election under skew) or [`ManualClock`] (one that moves only when
//! told to, for the event recorder's ten-minute windows).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

/// A clock for a [`LeaderElector`](crate::leaderelection::LeaderElector) or an event
/// [`Recorder`](crate::events::Recorder). Tests inject one that runs fast, slow or offset
/// to check that skew never lets two candidates lead at once, or one they move by hand.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic time since an arbitrary origin, as this clock counts it.
    fn now(&self) -> Duration;

    /// Wall-clock time, written into the lease's `acquireTime` and `renewTime`.
    fn wall(&self) -> SystemTime;

    /// How much real time passes while this clock counts `d` (to sleep for `d` of it).
    fn real(&self, d: Duration) -> Duration {
        d
    }
}

/// The machine's clocks.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that runs `rate` times as fast as the machine's (1.1: 10 % fast) and whose
/// wall time is off by `wall_offset_secs` (negative: behind), for skew tests.
#[derive(Debug)]
pub struct SkewedClock {
    origin: Instant,
    rate: f64,
    wall_offset_secs: f64,
}

impl SkewedClock {
    /// A clock running at `rate` (clamped to 0.01..=100) with its wall time shifted.
    pub fn new(rate: f64, wall_offset_secs: f64) -> Self {
        SkewedClock {
            origin: Instant::now(),
            rate: if rate.is_finite() {
                rate.clamp(0.01, 100.0)
            } else {
                1.0
            },
            wall_offset_secs: if wall_offset_secs.is_finite() {
                wall_offset_secs
            } else {
                0.0
            },
        }
    }
}

impl Clock for SkewedClock {
    fn now(&self) -> Duration {
        self.origin.elapsed().mul_f64(self.rate)
    }

    fn wall(&self) -> SystemTime {
        let offset = Duration::from_secs_f64(self.wall_offset_secs.abs());
        let now = SystemTime::now();
        if self.wall_offset_secs >= 0.0 {
            now.checked_add(offset).unwrap_or(now)
        } else {
            now.checked_sub(offset).unwrap_or(now)
        }
    }

    fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.rate)
    }
}

/// A clock that stands still until [`advance`](ManualClock::advance) moves it: its
/// monotonic and wall time move together. Clones share one time.
///
/// ```
/// use std::time::Duration;
/// use informer::clock::{Clock, ManualClock};
/// let clock = ManualClock::new();
/// let (t0, w0) = (clock.now(), clock.wall());
/// clock.advance(Duration::from_secs(600));
/// assert_eq!(clock.now() - t0, Duration::from_secs(600));
/// assert_eq!(clock.wall().duration_since(w0).unwrap(), Duration::from_secs(600));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    state: Arc<Mutex<(Duration, SystemTime)>>,
}

impl ManualClock {
    /// A clock at monotonic time zero whose wall time is the machine's now.
    pub fn new() -> Self {
        ManualClock {
            state: Arc::new(Mutex::new((Duration::ZERO, SystemTime::now()))),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut state = self.state.lock();
        state.0 = state.0.saturating_add(d);
        state.1 = state.1.checked_add(d).unwrap_or(state.1);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.state.lock().0
    }

    fn wall(&self) -> SystemTime {
        self.state.lock().1
    }
}
