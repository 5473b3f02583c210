//! The clock an elector measures with: monotonic time for every duration it counts, and
//! wall time only for the timestamps it writes into the lease (which no candidate ever
//! compares with its own clock).

use std::time::{Duration, Instant, SystemTime};

/// A clock for a [`LeaderElector`](super::LeaderElector). Tests inject one that runs
/// fast, slow or offset to check that skew never lets two candidates lead at once.
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
