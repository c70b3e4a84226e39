//! The relay daemon: policy around the std driver (`moneysocket-driver`), whose session host,
//! holding no session, is a relay: accepted connections are paired by rendezvous id in its
//! matchmaker and frames are forwarded byte for byte. This module adds the configuration,
//! logs, the metrics endpoint, signals, the status line and the graceful shutdown.

pub mod config;
pub mod summary;
mod workers;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use moneysocket_driver::{ConnectionClosed, Disconnect, Driver, DriverEvent, Eviction, WsIo};
use moneysocket_ws::{tls, Bytes, CloseCause};

pub use config::RelayConfig;
use config::MAX_CONNECTIONS_CAP;
use moneysocket_host::metrics::{Exposition, Metrics};
use summary::Summary;
use workers::{sum, Shared, Snapshot};

/// The matchmaker's table: twice the connection cap, so its hash probes stay short. Its
/// tables live on the heap, touched as slots are used.
const TABLE: usize = 2 * MAX_CONNECTIONS_CAP;
type RelayDriver = Driver<WsIo, TABLE>;

/// User-token number of the signal pipe.
const SIGNAL_N: usize = 1;
/// User-token numbers of the metrics endpoint (from here on, one per client slot).
const METRICS_BASE: usize = 16;
/// Client slots of the metrics endpoint: enough that a flood of stalled requests needs more
/// than this many connections between a scrape's connect and its request to push it out.
const METRICS_CLIENTS: usize = 1024;
/// Most time between two publications of a worker's counters while it forwards.
const PUBLISH_EVERY: Duration = Duration::from_millis(10);
/// Time given to flush END notifications and close handshakes at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How often a wss relay logs its certificate's end again.
const CERT_LOG_EVERY: Duration = Duration::from_secs(86_400);

/// One worker's loop (the relay is worker 0 and, with `workers = N`, N - 1 more threads).
struct Relay {
    cfg: RelayConfig,
    /// This worker's number (0: the one with the metrics, the signals and the status line).
    worker: usize,
    driver: RelayDriver,
    shared: Arc<Shared>,
    /// Worker 0: the other workers' threads.
    others: Vec<JoinHandle<Result<(), String>>>,
    metrics: Option<Metrics>,
    signals: Option<crate::daemon::Signals>,
    /// Worker 0 of a wss relay: the certificate every worker's listener presents, read
    /// again on SIGHUP.
    cert: Option<tls::ServerCert>,
    /// When worker 0 logs the certificate's end again (daily: a renewal that never came
    /// is noticed without a restart).
    next_cert_log: std::time::Instant,
    /// Interval of the status log line (`None`: off; worker 0 only).
    stats_every: Option<Duration>,
    last_stats: (u64, u64, u64),
    next_stats: std::time::Instant,
    /// When this worker publishes its counters next (several workers).
    next_publish: std::time::Instant,
    /// Per-peer refusals and drops, logged as one line per interval.
    summary: Summary,
    shutdown: bool,
}

/// A relay running on a thread of this process (the demo): no signals, no stdout.
pub struct RelayThread {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl RelayThread {
    /// Starts the relay on its own thread and returns once it listens.
    pub fn spawn(cfg: RelayConfig) -> Result<RelayThread, String> {
        cfg.validate()?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                let mut relay = match start(cfg, true) {
                    Ok(relay) => {
                        let _ = tx.send(Ok((relay.addr, Arc::clone(&relay.worker0.shared))));
                        relay.worker0
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.clone()));
                        return Err(e);
                    }
                };
                relay.serve()
            })
            .map_err(|e| format!("relay thread: {e}"))?;
        let (addr, shared) = rx
            .recv()
            .map_err(|_| "relay thread ended before listening".to_string())??;
        Ok(RelayThread {
            addr,
            shared,
            thread: Some(thread),
        })
    }

    /// Stops the relay (graceful shutdown) and waits for its thread.
    pub fn stop(mut self) -> Result<(), String> {
        self.shared.stop_all();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("relay thread panicked".into()),
            None => Ok(()),
        }
    }
}

impl Drop for RelayThread {
    fn drop(&mut self) {
        self.shared.stop_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the relay until SIGTERM or SIGINT. Prints `listening at: ws[s]://addr` (and
/// `metrics at: http://addr/metrics`) on stdout once bound.
pub fn run(cfg: RelayConfig) -> Result<(), String> {
    cfg.validate()?;
    crate::daemon::init_logging(
        &cfg.log_level()?,
        cfg.log_dir.as_deref(),
        "moneysocket-relay.log",
    )?;
    start(cfg, false)?.worker0.serve()
}

/// A bound relay: worker 0, to serve on the caller's thread (the others run already).
struct Started {
    worker0: Relay,
    addr: SocketAddr,
}

/// Binds the relay and starts workers 1.. on their threads. `embedded`: it runs inside
/// another program: no signal handling and nothing on stdout.
fn start(cfg: RelayConfig, embedded: bool) -> Result<Started, String> {
    let cert = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(tls::ServerCert::load(c, k, cfg.tls_chain.as_deref())?),
        _ => None,
    };
    let tls = cert.as_ref().map(tls::ServerCert::config).transpose()?;
    let workers::Built {
        drivers,
        addr,
        shared,
    } = workers::build(&cfg, tls.clone())?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let mut drivers = drivers.into_iter();
    let Some(driver) = drivers.next() else {
        return Err("no worker".into());
    };
    // bind everything before announcing anything: a failure prints no success line
    let t = driver.io().transport();
    let metrics = match cfg.metrics {
        Some(m) => {
            let (metrics, local) =
                Metrics::bind_with(m, t.registry(), METRICS_BASE, METRICS_CLIENTS).map_err(
                    |e| {
                        let hint = if m == addr {
                            " (the relay itself listens there: give metrics another port)"
                        } else {
                            ""
                        };
                        format!("metrics on {m}: {e}{hint}")
                    },
                )?;
            Some((metrics, local))
        }
        None => None,
    };
    let mut stdout: Box<dyn std::io::Write> = if embedded {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stdout())
    };
    // inside another program the signals are that program's: do not even register a handler
    let signals =
        match (!embedded).then(|| crate::daemon::Signals::register(t.registry(), SIGNAL_N, true)) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                tracing::warn!("no signal handling: {e}");
                None
            }
        };
    let interval =
        |v: f64| (v > 0.0).then(|| Duration::try_from_secs_f64(v).unwrap_or(Duration::MAX));
    let now = std::time::Instant::now();
    let worker = |n: usize, driver: RelayDriver| Relay {
        cfg: cfg.clone(),
        worker: n,
        driver,
        shared: Arc::clone(&shared),
        others: Vec::new(),
        metrics: None,
        signals: None,
        cert: None,
        next_cert_log: now + CERT_LOG_EVERY,
        stats_every: None,
        last_stats: (0, 0, 0),
        next_stats: now,
        next_publish: now,
        summary: Summary::new(interval(cfg.summary_interval), now),
        shutdown: false,
    };
    let mut others = Vec::new();
    for (i, d) in drivers.enumerate() {
        let mut relay = worker(i + 1, d);
        let spawned = std::thread::Builder::new()
            .name(format!("relay-worker-{}", i + 1))
            .spawn(move || {
                let _span = tracing::info_span!("worker", n = relay.worker).entered();
                let r = relay.serve();
                if r.is_err() {
                    // one failed loop stops the relay instead of leaving its ids unserved
                    relay.shared.stop_all();
                }
                r
            });
        match spawned {
            Ok(h) => others.push(h),
            Err(e) => {
                shared.stop_all();
                for h in others {
                    let _ = h.join();
                }
                return Err(format!("worker thread: {e}"));
            }
        }
    }
    let mut relay = worker(0, driver);
    relay.others = others;
    relay.signals = signals;
    relay.cert = cert;
    relay.stats_every = interval(cfg.stats_interval);
    // the log line first: whoever waits for stdout finds it in the log already
    let workers = match cfg.workers {
        1 => String::new(),
        n => format!(" ({n} workers)"),
    };
    tracing::info!("listening at: {scheme}://{addr}{workers}");
    if let (Some(cert), false) = (&relay.cert, embedded) {
        crate::daemon::log_cert(cert, "TLS certificate");
    }
    let _ = writeln!(stdout, "listening at: {scheme}://{addr}");
    relay.metrics = metrics.map(|(metrics, local)| {
        tracing::info!("metrics at: http://{local}/metrics");
        let _ = writeln!(stdout, "metrics at: http://{local}/metrics");
        metrics
    });
    let _ = stdout.flush();
    Ok(Started {
        worker0: relay,
        addr,
    })
}

/// The label of a matchmaker close in logs and metrics.
fn eviction_label(reason: Eviction) -> &'static str {
    match reason {
        Eviction::AlreadyPaired => "already_paired",
        Eviction::Full => "table_full",
        Eviction::UnpairedExpired => "unpaired_expired",
        Eviction::PeerGone => "peer_gone",
        Eviction::Invalid => "invalid_request",
        Eviction::Crowded => "unpaired_evicted",
        Eviction::GroupFull => "max_unpaired_per_prefix",
        _ => "other",
    }
}

impl Relay {
    /// The driver's loop; this only reacts to what it reports. Worker 0 stops the others
    /// and waits for them when it stops.
    fn serve(&mut self) -> Result<(), String> {
        let r = self.serve_loop();
        if self.worker == 0 {
            self.shared.stop_all();
        }
        let mut events = Vec::new();
        self.graceful_shutdown(&mut events);
        let mut result = r;
        for h in std::mem::take(&mut self.others) {
            let r = match h.join() {
                Ok(r) => r,
                Err(_) => Err("a worker thread panicked".into()),
            };
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    fn serve_loop(&mut self) -> Result<(), String> {
        let mut events = Vec::new();
        let workers = self.shared.workers();
        while !self.shutdown {
            self.driver
                .poll(&mut events, None)
                .map_err(|e| format!("poll: {e}"))?;
            // several workers: worker 0 sums what every worker published. Forwarding rounds
            // produce no event, so a round publishes when the last publication is older than
            // PUBLISH_EVERY (the transport's sweep runs a round at least every 250 ms) or
            // when it had events (a lock and a copy)
            if workers > 1 {
                let now = std::time::Instant::now();
                if !events.is_empty() || now >= self.next_publish {
                    self.shared.publish(self.worker, Snapshot::of(&self.driver));
                    self.next_publish = now + PUBLISH_EVERY;
                }
            }
            for ev in events.drain(..) {
                self.on_event(ev);
            }
            if let Some(m) = &mut self.metrics {
                m.sweep(self.driver.io().transport().registry());
            }
            // one clock reading for the round's timed lines
            let now = std::time::Instant::now();
            self.stats_line(now);
            self.cert_line(now);
            if let Some(line) = self.summary.due(now) {
                tracing::info!("{line}");
            }
            if self.shared.stopping() {
                self.shutdown = true;
            }
        }
        Ok(())
    }

    /// Every worker's counters, this one's taken now.
    fn snapshots(&self) -> Vec<Snapshot> {
        self.shared.publish(self.worker, Snapshot::of(&self.driver));
        self.shared.snapshots()
    }

    fn on_event(&mut self, ev: DriverEvent) {
        match ev {
            DriverEvent::Accepted { conn, peer } => {
                match peer.filter(|_| self.cfg.log_client_ips) {
                    Some(peer) => tracing::debug!(conn = conn.0, %peer, "connection open"),
                    None => tracing::debug!(conn = conn.0, "connection open"),
                }
            }
            DriverEvent::AcceptedClosed { conn, cause } => match cause {
                Disconnect::ConnectionClosed(error) => {
                    let cause = error
                        .as_deref()
                        .and_then(|e| e.downcast_ref::<ConnectionClosed>())
                        .map(|c| c.0.clone())
                        .unwrap_or(CloseCause::Remote);
                    tracing::debug!(conn = conn.0, "connection closed: {cause}");
                    match cause {
                        CloseCause::Oversized => self.summary.add("oversized"),
                        CloseCause::Overflow => self.summary.add("overflow"),
                        CloseCause::Protocol(_) => self.summary.add("protocol"),
                        CloseCause::InputBudget => self.summary.add("input_budget"),
                        _ => {}
                    }
                }
                Disconnect::Evicted(reason) => {
                    // per-peer: debug, and counted in the summary line
                    let label = eviction_label(reason);
                    tracing::debug!(conn = conn.0, "closed by the matchmaker: {label}");
                    if !matches!(reason, Eviction::UnpairedExpired | Eviction::PeerGone) {
                        self.summary.add(label);
                    }
                }
                _ => tracing::debug!(conn = conn.0, "connection closed: {cause:?}"),
            },
            DriverEvent::Refused { peer, reason } => {
                // debug only: a flood must not flood the log (the transport counts them)
                match peer.filter(|_| self.cfg.log_client_ips) {
                    Some(peer) => tracing::debug!(%peer, "connection refused: {reason}"),
                    None => tracing::debug!("connection refused: {reason}"),
                }
                self.summary.add(reason);
            }
            DriverEvent::User { n, .. } if n == SIGNAL_N => {
                let Some(arrived) = self.signals.as_mut().map(crate::daemon::Signals::take) else {
                    return;
                };
                if arrived.reload {
                    crate::daemon::reload_cert(self.cert.as_ref());
                }
                if arrived.stop {
                    tracing::info!("signal received: shutting down");
                    self.shutdown = true;
                }
            }
            DriverEvent::User { n, .. } => {
                if let Some(mut m) = self.metrics.take() {
                    if m.owns(n) {
                        let registry = self.driver.io().transport().registry();
                        m.ready(n, registry, &|| self.render_metrics());
                    }
                    self.metrics = Some(m);
                }
            }
            // the relay holds no session, dials nothing and spawns no job
            _ => {}
        }
    }

    /// Worker 0 of a wss relay, once a day: the certificate's end (a warning when near).
    fn cert_line(&mut self, now: std::time::Instant) {
        let Some(cert) = &self.cert else {
            return;
        };
        if now >= self.next_cert_log {
            self.next_cert_log = now + CERT_LOG_EVERY;
            crate::daemon::log_cert(cert, "TLS certificate");
        }
    }

    fn stats_line(&mut self, now: std::time::Instant) {
        let Some(every) = self.stats_every else {
            return;
        };
        if now < self.next_stats {
            return;
        }
        self.next_stats = now
            .checked_add(every)
            .unwrap_or(now + Duration::from_secs(86_400));
        let all = self.snapshots();
        let cur = (
            sum(&all, |w| w.connections as u64),
            sum(&all, |w| {
                (w.awaiting + w.mm.unregistered + w.mm.waiting) as u64
            }),
            sum(&all, |w| w.mm.pairs as u64),
        );
        if cur != self.last_stats {
            self.last_stats = cur;
            tracing::info!("connections/unpaired/pairs: {}/{}/{}", cur.0, cur.1, cur.2);
        }
    }

    fn render_metrics(&self) -> String {
        let all = self.snapshots();
        let n = |f: &dyn Fn(&Snapshot) -> u64| sum(&all, f);
        let mut x = Exposition::new("moneysocket_relay_");
        x.put_all(&[
            (
                "connections",
                "gauge",
                "Websocket connections (handshaking and closing included).",
                &[("", n(&|w| w.connections as u64))],
            ),
            (
                "unpaired",
                "gauge",
                "Connections without a partner.",
                &[
                    (
                        "{state=\"unregistered\"}",
                        n(&|w| (w.awaiting + w.mm.unregistered) as u64),
                    ),
                    ("{state=\"waiting\"}", n(&|w| w.mm.waiting as u64)),
                ],
            ),
            (
                "pairs",
                "gauge",
                "Pairs forwarding.",
                &[("", n(&|w| w.mm.pairs as u64))],
            ),
            (
                "pairs_formed_total",
                "counter",
                "Pairs formed.",
                &[("", n(&|w| w.mm.pairs_formed))],
            ),
            (
                "frames_forwarded_total",
                "counter",
                "Frames forwarded between partners.",
                &[("", n(&|w| w.mm.frames_forwarded))],
            ),
            (
                "bytes_forwarded_total",
                "counter",
                "Bytes forwarded between partners.",
                &[("", n(&|w| w.host.bytes_forwarded))],
            ),
            (
                "refusals_total",
                "counter",
                "Connections refused, by reason.",
                &[
                    (
                        "{reason=\"already_paired\"}",
                        n(&|w| w.mm.refused_already_paired),
                    ),
                    ("{reason=\"table_full\"}", n(&|w| w.mm.refused_full)),
                    ("{reason=\"invalid_request\"}", n(&|w| w.mm.refused_invalid)),
                    (
                        "{reason=\"max_unpaired_per_prefix\"}",
                        n(&|w| w.mm.refused_group_full),
                    ),
                    (
                        "{reason=\"max_connections\"}",
                        n(&|w| w.transport.refused_max_connections),
                    ),
                    (
                        "{reason=\"max_per_ip\"}",
                        n(&|w| w.transport.refused_max_per_ip),
                    ),
                ],
            ),
            (
                "closes_total",
                "counter",
                "Connections closed by the relay, by reason.",
                &[
                    (
                        "{reason=\"unpaired_expired\"}",
                        n(&|w| w.mm.expired_unpaired + w.transport.first_frame_timeouts),
                    ),
                    (
                        "{reason=\"unpaired_evicted\"}",
                        n(&|w| w.mm.evicted_crowded),
                    ),
                    // every ended pair closes its survivor with END
                    ("{reason=\"peer_gone\"}", n(&|w| w.mm.pairs_ended)),
                    (
                        "{reason=\"oversized\"}",
                        n(&|w| w.transport.closed_oversized),
                    ),
                    ("{reason=\"overflow\"}", n(&|w| w.transport.closed_overflow)),
                    ("{reason=\"idle\"}", n(&|w| w.transport.closed_idle)),
                    ("{reason=\"protocol\"}", n(&|w| w.transport.closed_protocol)),
                    (
                        "{reason=\"input_budget\"}",
                        n(&|w| w.transport.closed_input_budget),
                    ),
                ],
            ),
            (
                "bad_requests_total",
                "counter",
                "HTTP requests answered with an error status instead of a websocket upgrade.",
                &[("", n(&|w| w.transport.bad_requests))],
            ),
            (
                "dropped_frames_total",
                "counter",
                "Frames dropped before pairing, by kind.",
                &[
                    ("{kind=\"ciphertext\"}", n(&|w| w.mm.dropped_ciphertext)),
                    ("{kind=\"invalid\"}", n(&|w| w.mm.dropped_invalid)),
                    ("{kind=\"unexpected\"}", n(&|w| w.mm.dropped_unexpected)),
                ],
            ),
            (
                "handshake_failures_total",
                "counter",
                "TLS or websocket opening handshakes that failed or timed out.",
                &[("", n(&|w| w.transport.handshake_failures))],
            ),
            (
                "handoffs_total",
                "counter",
                "Connections moved to the worker that owns their rendezvous id (workers > 1).",
                &[("", n(&|w| w.transport.handed_off))],
            ),
            (
                "workers",
                "gauge",
                "Event loops (threads) forwarding frames.",
                &[("", all.len() as u64)],
            ),
        ]);
        if let Some(v) = self.cert.as_ref().and_then(tls::ServerCert::validity) {
            x.put(
                "tls_certificate_expiry_timestamp_seconds",
                "gauge",
                "End of the validity of the TLS certificate served (Unix seconds; follows SIGHUP reloads).",
                &[("", u64::try_from(v.not_after).unwrap_or(0))],
            );
        }
        x.finish()
    }

    /// Stops accepting, sends NOTIFY_RENDEZVOUS_END to every paired connection, closes all
    /// connections and waits a little for the frames to leave.
    fn graceful_shutdown(&mut self, events: &mut Vec<DriverEvent>) {
        let d = &mut self.driver;
        let now = d.now();
        let open: Vec<_> = d.host().accepted().collect();
        let t = d.io_mut().transport_mut();
        t.stop_listening();
        let mut ended = 0usize;
        for &conn in &open {
            // the host keeps the pairs as they are: the relay closes everything itself
            if let Some(frame) = d.host_mut().end_frame(conn, now) {
                let t = d.io_mut().transport_mut();
                if t.send(conn, Bytes::copy_from_slice(&frame)).is_ok() {
                    ended += 1;
                }
            }
        }
        let t = d.io_mut().transport_mut();
        for &conn in &open {
            t.close(conn);
        }
        tracing::info!("shutdown: END sent to {ended} paired connections");
        let until = std::time::Instant::now() + SHUTDOWN_GRACE;
        while !d.io().transport().is_empty() && std::time::Instant::now() < until {
            if d.poll(events, Some(Duration::from_millis(50))).is_err() {
                break;
            }
            events.clear();
        }
    }
}
