//! Rate-limited log lines: a noisy line (resynchronisation, dropped frames) logs at most once
//! per interval, and the next line says how many were left out meanwhile.

use std::time::{Duration, Instant};

/// One kind of log line's limiter.
#[derive(Debug)]
pub(crate) struct RateLimit {
    every: Duration,
    next: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    pub(crate) const fn new(every: Duration) -> Self {
        RateLimit {
            every,
            next: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` if a line may be logged now, `n` lines having been left out since the last
    /// one; `None` if this one is left out.
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        if self.next.is_some_and(|t| now < t) {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        self.next = now.checked_add(self.every);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// ` (N more since the last line)` when lines were left out, else nothing.
pub(crate) fn more(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more like it since the last line)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_counting_the_rest() {
        let mut l = RateLimit::new(Duration::from_secs(1));
        let t = Instant::now();
        assert_eq!(l.allow(t), Some(0));
        assert_eq!(l.allow(t + Duration::from_millis(10)), None);
        assert_eq!(l.allow(t + Duration::from_millis(20)), None);
        assert_eq!(l.allow(t + Duration::from_millis(1001)), Some(2));
        assert_eq!(more(0), "");
        assert!(more(2).contains('2'));
    }
}
