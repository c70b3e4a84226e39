//! The relay daemon: policy around the std driver (`moneysocket-driver`), whose session host,
//! holding no session, is a relay: accepted connections are paired by rendezvous id in its
//! matchmaker and frames are forwarded byte for byte. This module adds the configuration,
//! logs, the metrics endpoint, signals, the status line and the graceful shutdown.

pub mod config;
pub mod summary;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use moneysocket_core::host::HostConfig;
use moneysocket_driver::{
    ConnectionClosed, Disconnect, Driver, DriverConfig, DriverEvent, Eviction, WsIo,
};
use moneysocket_ws::{tls, Bytes, CloseCause};

pub use config::RelayConfig;
use config::MAX_CONNECTIONS_CAP;
use moneysocket_host::metrics::{Exposition, Metrics};
use summary::Summary;

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
/// Time given to flush END notifications and close handshakes at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

struct Relay {
    cfg: RelayConfig,
    driver: RelayDriver,
    metrics: Option<Metrics>,
    signals: Option<mio::net::UnixStream>,
    /// Interval of the status log line (`None`: off).
    stats_every: Option<Duration>,
    last_stats: (usize, usize, usize),
    next_stats: std::time::Instant,
    /// Per-peer refusals and drops, logged as one line per interval.
    summary: Summary,
    shutdown: bool,
    /// Set by [`RelayThread::stop`] when the relay runs inside another program.
    stop: Option<Arc<AtomicBool>>,
}

/// A relay running on a thread of this process (the demo): no signals, no stdout.
pub struct RelayThread {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl RelayThread {
    /// Starts the relay on its own thread and returns once it listens.
    pub fn spawn(cfg: RelayConfig) -> Result<RelayThread, String> {
        cfg.validate()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                let mut relay = match start(cfg, Some(flag)) {
                    Ok((relay, addr)) => {
                        let _ = tx.send(Ok(addr));
                        relay
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.clone()));
                        return Err(e);
                    }
                };
                relay.serve()
            })
            .map_err(|e| format!("relay thread: {e}"))?;
        let addr = rx
            .recv()
            .map_err(|_| "relay thread ended before listening".to_string())??;
        Ok(RelayThread {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the relay (graceful shutdown) and waits for its thread.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("relay thread panicked".into()),
            None => Ok(()),
        }
    }
}

impl Drop for RelayThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
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
    start(cfg, None)?.0.serve()
}

/// Binds the relay. With `stop` it runs inside another program: no signal handling and
/// nothing on stdout.
fn start(cfg: RelayConfig, stop: Option<Arc<AtomicBool>>) -> Result<(Relay, SocketAddr), String> {
    let embedded = stop.is_some();
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(tls::server_config(c, k, cfg.tls_chain.as_deref())?),
        _ => None,
    };
    let config = DriverConfig {
        host: HostConfig {
            // the driver sets the matchmaker's Unix offset from its clock
            matchmaker: cfg.matchmaker()?,
            max_frame: cfg.max_frame,
        },
        ..DriverConfig::default()
    };
    let mut driver: RelayDriver =
        Driver::new(config, cfg.transport()?).map_err(|e| format!("event loop: {e}"))?;
    let want = SocketAddr::new(cfg.bind, cfg.port);
    let addr = driver
        .listen(want, tls.clone())
        .map_err(|e| format!("listening on {want}: {e}"))?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
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
    // the log line first: whoever waits for stdout finds it in the log already
    tracing::info!("listening at: {scheme}://{addr}");
    let _ = writeln!(stdout, "listening at: {scheme}://{addr}");
    let metrics = metrics.map(|(metrics, local)| {
        tracing::info!("metrics at: http://{local}/metrics");
        let _ = writeln!(stdout, "metrics at: http://{local}/metrics");
        metrics
    });
    let _ = stdout.flush();
    // inside another program the signals are that program's: do not even register a handler
    let signals = match (!embedded).then(|| crate::daemon::signal_pipe(t.registry(), SIGNAL_N)) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            tracing::warn!("no signal handling: {e}");
            None
        }
    };
    let interval =
        |v: f64| (v > 0.0).then(|| Duration::try_from_secs_f64(v).unwrap_or(Duration::MAX));
    let stats_every = interval(cfg.stats_interval);
    let summary = Summary::new(interval(cfg.summary_interval), std::time::Instant::now());
    let relay = Relay {
        cfg,
        driver,
        metrics,
        signals,
        stats_every,
        last_stats: (0, 0, 0),
        next_stats: std::time::Instant::now(),
        summary,
        shutdown: false,
        stop,
    };
    Ok((relay, addr))
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
    /// The driver's loop; this only reacts to what it reports.
    fn serve(&mut self) -> Result<(), String> {
        let mut events = Vec::new();
        while !self.shutdown {
            // inside another program: look at the stop flag ten times a second
            let tick = self.stop.as_ref().map(|_| Duration::from_millis(100));
            self.driver
                .poll(&mut events, tick)
                .map_err(|e| format!("poll: {e}"))?;
            for ev in events.drain(..) {
                self.on_event(ev);
            }
            if let Some(m) = &mut self.metrics {
                m.sweep(self.driver.io().transport().registry());
            }
            self.stats_line();
            if let Some(line) = self.summary.due(std::time::Instant::now()) {
                tracing::info!("{line}");
            }
            if self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                self.shutdown = true;
            }
        }
        self.graceful_shutdown(&mut events);
        Ok(())
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
                if let Some(s) = &mut self.signals {
                    crate::daemon::drain_signals(s);
                }
                tracing::info!("signal received: shutting down");
                self.shutdown = true;
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

    fn stats_line(&mut self) {
        let Some(every) = self.stats_every else {
            return;
        };
        let now = std::time::Instant::now();
        if now < self.next_stats {
            return;
        }
        self.next_stats = now
            .checked_add(every)
            .unwrap_or(now + Duration::from_secs(86_400));
        let s = self.driver.host().matchmaker_stats();
        let cur = (
            self.driver.io().transport().len(),
            s.unregistered + s.waiting,
            s.pairs,
        );
        if cur != self.last_stats {
            self.last_stats = cur;
            tracing::info!("connections/unpaired/pairs: {}/{}/{}", cur.0, cur.1, cur.2);
        }
    }

    fn render_metrics(&self) -> String {
        let s = self.driver.host().matchmaker_stats();
        let hs = self.driver.host().stats();
        let t = self.driver.io().transport();
        let ts = t.stats();
        let mut x = Exposition::new("moneysocket_relay_");
        let mut put = |name: &str, kind: &str, help: &str, rows: &[(&str, u64)]| {
            x.put(name, kind, help, rows)
        };
        put(
            "connections",
            "gauge",
            "Websocket connections (handshaking and closing included).",
            &[("", t.len() as u64)],
        );
        put(
            "unpaired",
            "gauge",
            "Connections without a partner.",
            &[
                ("{state=\"unregistered\"}", s.unregistered as u64),
                ("{state=\"waiting\"}", s.waiting as u64),
            ],
        );
        put(
            "pairs",
            "gauge",
            "Pairs forwarding.",
            &[("", s.pairs as u64)],
        );
        put(
            "pairs_formed_total",
            "counter",
            "Pairs formed.",
            &[("", s.pairs_formed)],
        );
        put(
            "frames_forwarded_total",
            "counter",
            "Frames forwarded between partners.",
            &[("", s.frames_forwarded)],
        );
        put(
            "bytes_forwarded_total",
            "counter",
            "Bytes forwarded between partners.",
            &[("", hs.bytes_forwarded)],
        );
        put(
            "refusals_total",
            "counter",
            "Connections refused, by reason.",
            &[
                ("{reason=\"already_paired\"}", s.refused_already_paired),
                ("{reason=\"table_full\"}", s.refused_full),
                ("{reason=\"invalid_request\"}", s.refused_invalid),
                ("{reason=\"max_unpaired_per_prefix\"}", s.refused_group_full),
                ("{reason=\"max_connections\"}", ts.refused_max_connections),
                ("{reason=\"max_per_ip\"}", ts.refused_max_per_ip),
            ],
        );
        put(
            "closes_total",
            "counter",
            "Connections closed by the relay, by reason.",
            &[
                ("{reason=\"unpaired_expired\"}", s.expired_unpaired),
                ("{reason=\"unpaired_evicted\"}", s.evicted_crowded),
                // every ended pair closes its survivor with END
                ("{reason=\"peer_gone\"}", s.pairs_ended),
                ("{reason=\"oversized\"}", ts.closed_oversized),
                ("{reason=\"overflow\"}", ts.closed_overflow),
                ("{reason=\"idle\"}", ts.closed_idle),
                ("{reason=\"protocol\"}", ts.closed_protocol),
                ("{reason=\"input_budget\"}", ts.closed_input_budget),
            ],
        );
        put(
            "bad_requests_total",
            "counter",
            "HTTP requests answered with an error status instead of a websocket upgrade.",
            &[("", ts.bad_requests)],
        );
        put(
            "dropped_frames_total",
            "counter",
            "Frames dropped before pairing, by kind.",
            &[
                ("{kind=\"ciphertext\"}", s.dropped_ciphertext),
                ("{kind=\"invalid\"}", s.dropped_invalid),
                ("{kind=\"unexpected\"}", s.dropped_unexpected),
            ],
        );
        put(
            "handshake_failures_total",
            "counter",
            "TLS or websocket opening handshakes that failed or timed out.",
            &[("", ts.handshake_failures)],
        );
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
