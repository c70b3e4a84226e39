//! Latency percentiles and `/proc` readings (CPU time, resident memory) of a process.

use std::time::Duration;

/// Round-trip latencies, kept whole (a sorted `Vec` gives exact percentiles; a run of a few
/// hundred thousand samples costs a few MB).
#[derive(Debug, Default)]
pub struct Latencies {
    ns: Vec<u64>,
    sorted: bool,
}

impl Latencies {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Latencies {
            ns: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        self.ns
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other` (another thread's).
    pub fn merge(&mut self, mut other: Latencies) {
        if self.ns.is_empty() {
            *self = other;
            return;
        }
        self.ns.append(&mut other.ns);
        self.sorted = false;
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.ns.len()
    }

    /// The `q`-quantile (0 < q ≤ 1, nearest rank), `None` without samples.
    pub fn quantile(&mut self, q: f64) -> Option<Duration> {
        if self.ns.is_empty() {
            return None;
        }
        if !self.sorted {
            self.ns.sort_unstable();
            self.sorted = true;
        }
        let n = self.ns.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(Duration::from_nanos(self.ns[rank - 1]))
    }
}

/// CPU time (user + system) consumed so far by every thread of process `pid` (`None` = this
/// process), from `/proc/PID/task/*/schedstat` (nanoseconds, no clock-tick conversion).
/// `None` if unreadable (not Linux, no such process). Threads that already exited are not
/// counted, which is fine for long-lived event-loop threads.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}/task"),
        None => "/proc/self/task".to_owned(),
    };
    let mut total: u64 = 0;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        // A thread that exits during the scan is skipped, not a failed reading.
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
        {
            total = total.saturating_add(ns);
        }
    }
    Some(Duration::from_nanos(total))
}

/// Resident set size of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut l = Latencies::with_capacity(100);
        assert_eq!(l.quantile(0.5), None);
        for i in (1..=100).rev() {
            l.record(Duration::from_micros(i));
        }
        assert_eq!(l.quantile(0.5), Some(Duration::from_micros(50)));
        assert_eq!(l.quantile(0.99), Some(Duration::from_micros(99)));
        assert_eq!(l.quantile(1.0), Some(Duration::from_micros(100)));
        assert_eq!(l.len(), 100);
    }

    #[test]
    fn proc_readings() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(cpu_time(None).is_some());
            assert!(rss_kib(std::process::id()).is_some_and(|k| k > 0));
        }
    }
}
