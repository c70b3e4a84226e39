//! A caller-driven clock for the sans-IO state machines: the core never reads a clock, the
//! caller passes the current [`Instant`] with every input.

use core::time::Duration;

/// A point in time, in milliseconds on a monotonic clock chosen by the caller (for example
/// milliseconds since process start, or since the Unix epoch). Only differences matter to the
/// core; arithmetic saturates instead of overflowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(pub u64);

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant(0);

    /// From milliseconds on the caller's clock.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds on the caller's clock.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at the end of time (sub-millisecond parts are truncated).
    pub fn saturating_add(self, d: Duration) -> Self {
        Instant(self.0.saturating_add(duration_millis(d)))
    }

    /// `self - d`, saturating at [`Instant::ZERO`].
    pub fn saturating_sub(self, d: Duration) -> Self {
        Instant(self.0.saturating_sub(duration_millis(d)))
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// The link between the caller's [`Instant`] clock and Unix time: Unix milliseconds =
/// instant + offset. The core stamps messages with it; the caller reads the wall clock once
/// (with std: `moneysocket_ws::unix_time_ms()`) and pairs it with the instant it read then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnixClock {
    offset_ms: u64,
}

impl UnixClock {
    /// The clock on which `now` (the caller's clock) is `now_unix_ms` milliseconds after the
    /// Unix epoch. A wall clock earlier than `now` saturates to offset 0.
    pub const fn new(now_unix_ms: u64, now: Instant) -> Self {
        UnixClock {
            offset_ms: unix_offset_ms(now_unix_ms, now),
        }
    }

    /// From a known offset (Unix milliseconds at [`Instant::ZERO`]).
    pub const fn from_offset_ms(offset_ms: u64) -> Self {
        UnixClock { offset_ms }
    }

    /// Unix milliseconds at [`Instant::ZERO`] (what `unix_offset_ms` configuration fields
    /// take).
    pub const fn offset_ms(self) -> u64 {
        self.offset_ms
    }

    /// Unix milliseconds at `at`, saturating.
    pub const fn unix_ms(self, at: Instant) -> u64 {
        at.0.saturating_add(self.offset_ms)
    }
}

/// The offset that turns the caller's clock into Unix milliseconds, given that `now` on it
/// is `now_unix_ms`: `now_unix_ms - now`, saturating at 0.
pub const fn unix_offset_ms(now_unix_ms: u64, now: Instant) -> u64 {
    now_unix_ms.saturating_sub(now.0)
}

/// Whole milliseconds of `d`, saturating at `u64::MAX`.
pub fn duration_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(1_000);
        assert_eq!(t.saturating_add(Duration::from_secs(2)), Instant(3_000));
        assert_eq!(t.saturating_sub(Duration::from_secs(2)), Instant::ZERO);
        assert_eq!(
            Instant(u64::MAX).saturating_add(Duration::MAX),
            Instant(u64::MAX)
        );
        assert_eq!(
            Instant(5).saturating_duration_since(Instant(9)),
            Duration::ZERO
        );
        assert_eq!(t.saturating_duration_since(Instant(400)).as_millis(), 600);
    }

    #[test]
    fn unix_clock() {
        let c = UnixClock::new(1_700_000_000_000, Instant(5_000));
        assert_eq!(c.offset_ms(), 1_699_999_995_000);
        assert_eq!(c.unix_ms(Instant(5_000)), 1_700_000_000_000);
        assert_eq!(c.unix_ms(Instant(6_500)), 1_700_000_001_500);
        assert_eq!(c, UnixClock::from_offset_ms(1_699_999_995_000));
        assert_eq!(
            unix_offset_ms(1_700_000_000_000, Instant::ZERO),
            1_700_000_000_000
        );
        // a wall clock before the loop clock's reading (clock not set) saturates
        assert_eq!(unix_offset_ms(10, Instant(20)), 0);
        assert_eq!(
            UnixClock::from_offset_ms(u64::MAX).unix_ms(Instant(1)),
            u64::MAX
        );
    }
}
