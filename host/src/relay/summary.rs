//! Rate-limited log summaries: per-peer events (refusals, drops) are counted by reason and
//! logged as one line per interval, so that one address cannot flood the log.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Counts of per-peer events by reason since the last summary line.
pub struct Summary {
    every: Option<Duration>,
    next: Instant,
    counts: BTreeMap<&'static str, u64>,
}

impl Summary {
    /// A summary written every `every` (`None`: counted, never written).
    pub fn new(every: Option<Duration>, now: Instant) -> Self {
        Summary {
            every,
            next: later(now, every),
            counts: BTreeMap::new(),
        }
    }

    /// Counts one event.
    pub fn add(&mut self, reason: &'static str) {
        *self.counts.entry(reason).or_insert(0) += 1;
    }

    /// The summary line when the interval is over and something was counted (the counts
    /// start again from zero).
    pub fn due(&mut self, now: Instant) -> Option<String> {
        let every = self.every?;
        if now < self.next {
            return None;
        }
        self.next = later(now, Some(every));
        if self.counts.is_empty() {
            return None;
        }
        let mut line = format!("refused or dropped in the last {}: ", humantime(every));
        let counts = std::mem::take(&mut self.counts);
        for (i, (reason, n)) in counts.iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            line.push_str(&format!("{reason}={n}"));
        }
        Some(line)
    }
}

fn later(now: Instant, every: Option<Duration>) -> Instant {
    every
        .and_then(|e| now.checked_add(e))
        .unwrap_or(now + Duration::from_secs(86_400))
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_counts_by_reason() {
        let t0 = Instant::now();
        let mut s = Summary::new(Some(Duration::from_secs(10)), t0);
        for _ in 0..10_000 {
            s.add("oversized");
        }
        s.add("already_paired");
        assert_eq!(s.due(t0 + Duration::from_secs(5)), None);
        assert_eq!(
            s.due(t0 + Duration::from_secs(10)).as_deref(),
            Some("refused or dropped in the last 10 s: already_paired=1 oversized=10000")
        );
        // nothing counted: no line
        assert_eq!(s.due(t0 + Duration::from_secs(30)), None);
        let mut off = Summary::new(None, t0);
        off.add("x");
        assert_eq!(off.due(t0 + Duration::from_secs(1_000_000)), None);
    }
}
