//! Time as a dependency: services read it through [`Clock`] so tests control it.
//!
//! The one module that reads the system's clocks (`clippy.toml` bans it everywhere else).
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time in Unix milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `now_ms`.
    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A clock that runs `speed` times faster than the wall clock, from `origin_ms` at the moment it
/// is made; replays use it to live hours of traffic in minutes with every timer (leases, priority
/// credit, SLA) in simulated time.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    origin_ms: i64,
    started: std::time::Instant,
    speed: f64,
}

impl ScaledClock {
    /// A clock standing at `origin_ms` now and running `speed` times as fast as the wall clock.
    pub fn new(origin_ms: i64, speed: f64) -> Self {
        Self { origin_ms, started: std::time::Instant::now(), speed }
    }

    /// Wall time that `simulated_ms` of this clock take.
    pub fn wall(&self, simulated_ms: i64) -> std::time::Duration {
        std::time::Duration::from_secs_f64(simulated_ms.max(0) as f64 / 1000.0 / self.speed)
    }
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> i64 {
        self.origin_ms + (self.started.elapsed().as_secs_f64() * 1000.0 * self.speed) as i64
    }
}

/// A shared clock handle, as services hold it.
pub type SharedClock = Arc<dyn Clock>;

/// Converts Unix milliseconds into a protobuf timestamp.
pub fn timestamp_from_ms(ms: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// Converts a protobuf timestamp into Unix milliseconds (saturating).
pub fn ms_from_timestamp(ts: &pbjson_types::Timestamp) -> i64 {
    ts.seconds.saturating_mul(1000).saturating_add(i64::from(ts.nanos) / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_including_before_epoch() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1, -1001] {
            assert_eq!(ms_from_timestamp(&timestamp_from_ms(ms)), ms);
        }
    }
}
