//! Limits counted across transports: connections, connections per address and the
//! partial-message budget. One transport owns its own; the event loops of one relay (one
//! transport per worker thread) share one, so `max_connections`, `max_per_ip` and
//! `partial_budget` bound the process, not each loop. Touched at accept, close and for
//! grants of incomplete messages, never per forwarded frame.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{AcceptRefusal, TransportConfig};

/// Counters behind `max_connections`, `max_per_ip` and `partial_budget`, shared by every
/// transport built with it ([`Transport::with_limits`](crate::Transport::with_limits)).
#[derive(Debug)]
pub struct SharedLimits {
    /// Connections in the tables (accepted in any phase, and dialed), except those kept
    /// only to answer a refusal.
    conns: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// What is left of `partial_budget`.
    partial: AtomicUsize,
}

impl SharedLimits {
    /// Fresh counters; the partial-message budget is `config.partial_budget`.
    pub fn new(config: &TransportConfig) -> Arc<Self> {
        Arc::new(SharedLimits {
            conns: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            partial: AtomicUsize::new(config.partial_budget),
        })
    }

    /// Connections counted against `max_connections` now.
    pub fn connections(&self) -> usize {
        self.conns.load(Ordering::Relaxed)
    }

    /// Bytes left in the partial-message budget.
    pub fn partial_left(&self) -> usize {
        self.partial.load(Ordering::Relaxed)
    }

    fn per_ip(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // a panic elsewhere while holding it leaves plain counters: still usable
        self.per_ip.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an accepted connection from `ip` if both limits allow it (0 = no per-address
    /// limit); otherwise counts nothing and says which limit refused it.
    pub(crate) fn admit(
        &self,
        ip: IpAddr,
        max_connections: usize,
        max_per_ip: usize,
    ) -> Result<(), AcceptRefusal> {
        self.conns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max_connections).then_some(n + 1)
            })
            .map_err(|_| AcceptRefusal::MaxConnections)?;
        let mut per_ip = self.per_ip();
        let n = per_ip.entry(ip).or_insert(0);
        if max_per_ip > 0 && *n >= max_per_ip {
            if *n == 0 {
                per_ip.remove(&ip);
            }
            drop(per_ip);
            self.conns.fetch_sub(1, Ordering::AcqRel);
            return Err(AcceptRefusal::MaxPerIp);
        }
        *n += 1;
        Ok(())
    }

    /// Counts a dialed connection (dials are not refused, but count towards the limit
    /// accepts see).
    pub(crate) fn dialed(&self) {
        self.conns.fetch_add(1, Ordering::AcqRel);
    }

    /// A counted connection is gone (`ip`: it was counted for that address too).
    pub(crate) fn release(&self, ip: Option<IpAddr>) {
        // never below zero, whatever the bookkeeping
        let _ = self
            .conns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if let Some(ip) = ip {
            let mut per_ip = self.per_ip();
            if let Some(n) = per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per_ip.remove(&ip);
                }
            }
        }
    }

    /// Takes `n` bytes from the partial-message budget if that many are left.
    pub(crate) fn take_partial(&self, n: usize) -> bool {
        self.partial
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    /// Returns `n` bytes to the partial-message budget.
    pub(crate) fn give_partial(&self, n: usize) {
        if n > 0 {
            self.partial.fetch_add(n, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn both_limits_hold_and_release_frees_them() {
        let l = SharedLimits::new(&TransportConfig::default());
        assert_eq!(l.admit(ip(1), 3, 2), Ok(()));
        assert_eq!(l.admit(ip(1), 3, 2), Ok(()));
        assert_eq!(l.admit(ip(1), 3, 2), Err(AcceptRefusal::MaxPerIp));
        assert_eq!(l.admit(ip(2), 3, 2), Ok(()));
        assert_eq!(l.admit(ip(3), 3, 2), Err(AcceptRefusal::MaxConnections));
        assert_eq!(l.connections(), 3);
        l.release(Some(ip(1)));
        assert_eq!(l.admit(ip(1), 3, 2), Ok(()));
        l.dialed();
        assert_eq!(l.connections(), 4);
        for _ in 0..10 {
            l.release(None);
        }
        assert_eq!(l.connections(), 0);
    }

    #[test]
    fn the_partial_budget_is_taken_and_given_back() {
        let l = SharedLimits::new(&TransportConfig {
            partial_budget: 100,
            ..TransportConfig::default()
        });
        assert!(l.take_partial(60));
        assert!(!l.take_partial(60));
        l.give_partial(60);
        assert!(l.take_partial(100));
        assert_eq!(l.partial_left(), 0);
    }

    #[test]
    fn threads_never_pass_the_connection_limit() {
        let l = SharedLimits::new(&TransportConfig::default());
        let admitted: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|t| {
                    let l = &l;
                    s.spawn(move || {
                        (0..1000)
                            .filter(|i| l.admit(ip((t * 50 + i % 50) as u8), 500, 0).is_ok())
                            .count()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(admitted, 500);
        assert_eq!(l.connections(), 500);
    }
}
