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
}
