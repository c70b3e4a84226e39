//! Several event loops (`workers = N`): one driver per thread, each with its own transport,
//! session host and matchmaker; every worker listens on the relay's port (`SO_REUSEPORT`)
//! and routes a new connection by its `REQUEST_RENDEZVOUS` to the worker that owns the
//! rendezvous id, so that both ends of a pair live on one loop and a forwarded frame never
//! crosses threads. docs/relay.md, "Workers".

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use moneysocket_core::host::{HostConfig, HostStats};
use moneysocket_core::matchmaker::{requested_rendezvous, MatchmakerStats};
use moneysocket_driver::{Driver, DriverConfig, WsIo};
use moneysocket_ws::tls::ServerConfig;
use moneysocket_ws::{Router, SharedLimits, Transport, TransportStats};

use super::{RelayConfig, RelayDriver};

/// What the workers of one relay share.
pub(super) struct Shared {
    /// Set to stop every worker (a signal on worker 0, [`super::RelayThread::stop`], or a
    /// worker that failed).
    stop: AtomicBool,
    /// Each worker's driver waker: makes it see `stop` at once.
    wakers: Vec<Waker>,
    /// Each worker's counters, published after every round with events; worker 0 renders
    /// metrics and the status line from their sum.
    snapshots: Vec<Mutex<Snapshot>>,
}

impl Shared {
    /// Whether the relay is stopping.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Stops every worker.
    pub fn stop_all(&self) {
        self.stop.store(true, Ordering::Release);
        for w in &self.wakers {
            w.wake_by_ref();
        }
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.snapshots.len()
    }

    /// Publishes worker `n`'s counters.
    pub fn publish(&self, n: usize, s: Snapshot) {
        if let Some(slot) = self.snapshots.get(n) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = s;
        }
    }

    /// Every worker's last published counters.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.snapshots
            .iter()
            .map(|s| *s.lock().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }
}

/// One worker's counters.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Snapshot {
    /// Connections in its transport's table.
    pub connections: usize,
    /// Accepted connections waiting for their first message (routing).
    pub awaiting: usize,
    pub mm: MatchmakerStats,
    pub host: HostStats,
    pub transport: TransportStats,
}

impl Snapshot {
    /// The counters of `driver` now.
    pub fn of(driver: &RelayDriver) -> Self {
        let t = driver.io().transport();
        Snapshot {
            connections: t.len(),
            awaiting: t.awaiting_first_message(),
            mm: driver.host().matchmaker_stats(),
            host: driver.host().stats(),
            transport: t.stats(),
        }
    }
}

/// One figure summed over the workers.
pub(super) fn sum(snaps: &[Snapshot], f: impl Fn(&Snapshot) -> u64) -> u64 {
    snaps.iter().map(f).sum()
}

/// `n` of `parts` equal shares, rounded up (`usize::MAX` stays: no limit).
fn share(n: usize, parts: usize) -> usize {
    match n {
        usize::MAX => n,
        n => n.div_ceil(parts.max(1)).max(1),
    }
}

/// The relay's drivers, listening on one address; worker 0 first.
pub(super) struct Built {
    pub drivers: Vec<RelayDriver>,
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
}

/// Builds `cfg.workers` drivers: limits counted together, routed by rendezvous id, all
/// listening on `cfg.bind:cfg.port` (one listener without `SO_REUSEPORT` when there is one
/// worker).
pub(super) fn build(cfg: &RelayConfig, tls: Option<Arc<ServerConfig>>) -> Result<Built, String> {
    let n = cfg.workers.max(1);
    let transport = cfg.transport()?;
    let mut matchmaker = cfg.matchmaker()?;
    // the routers enforce the time for a REQUEST_RENDEZVOUS before a matchmaker sees it:
    // as a matchmaker does, the shorter of the time to register and the time to stay unpaired
    let first_timeout = matchmaker.register_timeout.min(matchmaker.unpaired_timeout);
    // the unpaired budgets are enforced by each owner over its own ids
    matchmaker.max_unpaired = share(matchmaker.max_unpaired, n);
    matchmaker.max_unpaired_per_group = share(matchmaker.max_unpaired_per_group, n);
    let config = DriverConfig {
        host: HostConfig {
            // the driver sets the matchmaker's Unix offset from its clock
            matchmaker,
            max_frame: cfg.max_frame,
        },
        ..DriverConfig::default()
    };
    let limits = SharedLimits::new(&transport);
    let mut drivers: Vec<RelayDriver> = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Transport::with_limits(transport.clone(), Arc::clone(&limits))
            .map_err(|e| format!("event loop: {e}"))?;
        let d = Driver::with_io(WsIo::from_transport(t), config)
            .map_err(|e| format!("event loop: {e}"))?;
        drivers.push(d);
    }
    let want = SocketAddr::new(cfg.bind, cfg.port);
    let mut addr = want;
    for (i, d) in drivers.iter_mut().enumerate() {
        let t = d.io_mut().transport_mut();
        let bound = if n == 1 {
            t.listen(addr, tls.clone())
        } else {
            t.listen_reuse_port(addr, tls.clone())
        };
        // with port 0 the others take the first one's port
        addr = bound.map_err(|e| {
            let which = if n > 1 {
                format!(" (worker {i})")
            } else {
                String::new()
            };
            format!("listening on {addr}{which}: {e}")
        })?;
    }
    if n > 1 {
        let inboxes: Vec<_> = drivers
            .iter_mut()
            .map(|d| d.io_mut().transport_mut().inbox())
            .collect();
        // one key for every worker's rule, unknown to clients: they cannot aim ids at one
        // worker on purpose
        let keys = RandomState::new();
        for (i, d) in drivers.iter_mut().enumerate() {
            let keys = keys.clone();
            let route = move |first: &[u8]| {
                requested_rendezvous(first)
                    .map(|rid| (keys.hash_one(rid.as_str()) % n as u64) as usize)
            };
            d.io_mut().transport_mut().set_router(Router::new(
                i,
                inboxes.clone(),
                first_timeout,
                route,
            ));
        }
    }
    let wakers = drivers.iter().map(|d| d.waker()).collect();
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        wakers,
        snapshots: (0..n).map(|_| Mutex::new(Snapshot::default())).collect(),
    });
    Ok(Built {
        drivers,
        addr,
        shared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_up_and_keep_no_limit() {
        assert_eq!(share(5_000, 2), 2_500);
        assert_eq!(share(5_001, 2), 2_501);
        assert_eq!(share(1, 4), 1);
        assert_eq!(share(usize::MAX, 4), usize::MAX);
        assert_eq!(share(256, 1), 256);
    }
}
