//! The world's clock: where the queue and the event bus take the time from.
//!
//! The queue never reads the wall clock itself. The persistent world (the one real clients reach on TCP ports)
//! runs on [`Clock::system`]; a playground sandbox runs on a [`Clock::skippable`] clock that follows real time
//! but can be moved forward ("skip to the next retry", "skip to expiry"), so a learner sees a retry or a bounce in
//! seconds instead of minutes; tests use [`Clock::manual`], which moves only when told.
//!
//! Time only ever moves forward: a skip adds to an offset, never subtracts, so every deadline already computed
//! (a message's next attempt, its expiry) stays meaningful.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// Where a skip moves a sandbox's clock (`World::skip`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// To the earliest next attempt of any queued recipient.
    NextRetry,
    /// To the moment the oldest queued message outlives the queue lifetime.
    Expiry,
}

/// A shared clock. Cloning shares the same time.
#[derive(Clone, Debug)]
pub struct Clock {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// The wall clock; cannot be skipped.
    System,
    /// The wall clock plus an offset in milliseconds that only grows.
    Skippable(Arc<AtomicI64>),
    /// A fixed instant (milliseconds since the epoch) that moves only by [`Clock::advance`].
    Manual(Arc<AtomicI64>),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// Real time, not skippable (the persistent world: real clients expect real time).
    pub fn system() -> Clock {
        Clock { kind: Kind::System }
    }

    /// Real time that [`Clock::advance`] can move forward (a sandbox).
    pub fn skippable() -> Clock {
        Clock { kind: Kind::Skippable(Arc::new(AtomicI64::new(0))) }
    }

    /// A clock standing still at `start` until advanced (tests).
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock { kind: Kind::Manual(Arc::new(AtomicI64::new(start.timestamp_millis()))) }
    }

    /// The time now, by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.kind {
            Kind::System => Utc::now(),
            Kind::Skippable(off) => Utc::now() + TimeDelta::milliseconds(off.load(Ordering::SeqCst)),
            Kind::Manual(at) => {
                DateTime::from_timestamp_millis(at.load(Ordering::SeqCst)).unwrap_or_default()
            }
        }
    }

    /// Whether [`Clock::advance`] can move it.
    pub fn can_skip(&self) -> bool {
        !matches!(self.kind, Kind::System)
    }

    /// How far ahead of the wall clock this clock runs, in milliseconds (0 for the system clock; for a manual
    /// clock, its distance from the wall clock).
    pub fn offset_ms(&self) -> i64 {
        match &self.kind {
            Kind::System => 0,
            Kind::Skippable(off) => off.load(Ordering::SeqCst),
            Kind::Manual(_) => (self.now() - Utc::now()).num_milliseconds(),
        }
    }

    /// Moves the clock forward by `by`, rounded up to the millisecond (so a skip to a deadline never falls a
    /// fraction short of it). Returns false (and does nothing) on the system clock.
    pub fn advance(&self, by: Duration) -> bool {
        let ms = i64::try_from(by.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX / 2);
        match &self.kind {
            Kind::System => false,
            Kind::Skippable(a) | Kind::Manual(a) => {
                a.fetch_add(ms, Ordering::SeqCst);
                true
            }
        }
    }

    /// Moves the clock forward to `t` if `t` is later than now. Returns how far it moved.
    pub fn advance_to(&self, t: DateTime<Utc>) -> Duration {
        let gap = (t - self.now()).to_std().unwrap_or_default();
        if gap > Duration::ZERO && self.advance(gap) { gap } else { Duration::ZERO }
    }

    /// How long to wait in real time until this clock shows `t` (zero if it already does). Real time and clock
    /// time run at the same rate between skips; a skip wakes whoever waits.
    pub fn until(&self, t: DateTime<Utc>) -> Duration {
        (t - self.now()).to_std().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let c = Clock::manual(start);
        assert_eq!(c.now(), start);
        assert!(c.advance(Duration::from_secs(5)));
        assert_eq!(c.now(), start + TimeDelta::seconds(5));
        // Backwards is never possible: advance_to an earlier time does nothing.
        assert_eq!(c.advance_to(start), Duration::ZERO);
        assert_eq!(c.now(), start + TimeDelta::seconds(5));
        assert_eq!(c.advance_to(start + TimeDelta::seconds(65)), Duration::from_secs(60));
        assert_eq!(c.until(start + TimeDelta::seconds(70)), Duration::from_secs(5));
        // A skip to a deadline reaches it, never a fraction of a millisecond short.
        let deadline = c.now() + TimeDelta::microseconds(1500);
        c.advance_to(deadline);
        assert!(c.now() >= deadline);
    }

    #[test]
    fn the_system_clock_cannot_be_skipped_and_a_skippable_one_can() {
        let sys = Clock::system();
        assert!(!sys.advance(Duration::from_secs(60)));
        assert_eq!(sys.offset_ms(), 0);
        let s = Clock::skippable();
        let shared = s.clone();
        assert!(s.advance(Duration::from_secs(120)));
        assert_eq!(shared.offset_ms(), 120_000);
        assert!(shared.now() > Utc::now() + TimeDelta::seconds(119));
    }
}
