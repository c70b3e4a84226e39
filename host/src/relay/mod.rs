//! The relay daemon: the core's sans-IO [`Matchmaker`] driven by the mio websocket
//! transport. Pairs connections by rendezvous id and forwards frames byte for byte.

pub mod config;
mod metrics;

use std::collections::HashSet;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moneysocket_core::matchmaker::{
    Eviction, Matchmaker, MatchmakerConfig, MatchmakerInput, MatchmakerOutput,
};
use moneysocket_core::time::{duration_millis, Instant};
use moneysocket_core::Endpoint;
use moneysocket_ws::{tls, Bytes, CloseCause, ConnId, Event, Transport};
use rand_core::OsRng;

pub use config::RelayConfig;
use config::MAX_CONNECTIONS_CAP;
use metrics::Metrics;

/// The matchmaker's output queue (outputs per input are at most 2; a timeout round fills it).
const QUEUE: usize = 64;
/// The matchmaker's table: twice the connection cap, so its hash probes stay short. Its
/// tables live on the heap (core's `alloc` feature), touched as slots are used.
const TABLE: usize = 2 * MAX_CONNECTIONS_CAP;
type Mm = Matchmaker<OsRng, TABLE, QUEUE>;

/// User-token number of the signal pipe.
const SIGNAL_N: usize = 1;
/// Time given to flush END notifications and close handshakes at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

struct Relay {
    cfg: RelayConfig,
    t: Transport,
    mm: Box<Mm>,
    start: std::time::Instant,
    /// The loop's clock, read once per poll round (the matchmaker counts milliseconds).
    now: Instant,
    /// When the matchmaker next wants `Timeout` (its `poll_timeout` after the last input).
    deadline: Option<Instant>,
    /// Connections the matchmaker knows (opened and not yet closed).
    open: HashSet<ConnId>,
    metrics: Option<Metrics>,
    signals: Option<mio::net::UnixStream>,
    /// Bytes of forwarded frames (the matchmaker counts frames, not bytes).
    bytes_forwarded: u64,
    /// Interval of the status log line (`None`: off).
    stats_every: Option<Duration>,
    last_stats: (usize, usize, usize),
    next_stats: std::time::Instant,
    shutdown: bool,
}

/// Runs the relay until SIGTERM or SIGINT. Prints `listening at: ws[s]://addr` (and
/// `metrics at: http://addr/metrics`) on stdout once bound.
pub fn run(cfg: RelayConfig) -> Result<(), String> {
    cfg.validate()?;
    init_logging(&cfg)?;
    run_loop(cfg)
}

fn run_loop(cfg: RelayConfig) -> Result<(), String> {
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(tls::server_config(c, k, cfg.tls_chain.as_deref())?),
        _ => None,
    };
    let mut t = Transport::new(cfg.transport()?).map_err(|e| format!("event loop: {e}"))?;
    let want = SocketAddr::new(cfg.bind, cfg.port);
    let addr = t
        .listen(want, tls.clone())
        .map_err(|e| format!("listening on {want}: {e}"))?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening at: {scheme}://{addr}");
    tracing::info!("listening at: {scheme}://{addr}");
    let metrics = match cfg.metrics {
        Some(m) => {
            let (metrics, local) =
                Metrics::bind(m, &t).map_err(|e| format!("metrics on {m}: {e}"))?;
            let _ = writeln!(stdout, "metrics at: http://{local}/metrics");
            tracing::info!("metrics at: http://{local}/metrics");
            Some(metrics)
        }
        None => None,
    };
    let _ = stdout.flush();
    let signals = match signal_pipe(&t) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("no signal handling: {e}");
            None
        }
    };
    // The loop's clock starts now; notifications carry Unix time = offset + loop clock.
    let start = std::time::Instant::now();
    let unix_offset_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_millis)
        .unwrap_or(0);
    let stats_every = (cfg.stats_interval > 0.0)
        .then(|| Duration::try_from_secs_f64(cfg.stats_interval).unwrap_or(Duration::MAX));
    let mm = Box::new(Matchmaker::new(
        MatchmakerConfig {
            unpaired_timeout: cfg.unpaired_timeout()?,
            unix_offset_ms,
        },
        OsRng,
    ));
    let mut relay = Relay {
        cfg,
        t,
        mm,
        start,
        now: Instant::ZERO,
        deadline: None,
        open: HashSet::new(),
        metrics,
        signals,
        bytes_forwarded: 0,
        stats_every,
        last_stats: (0, 0, 0),
        next_stats: std::time::Instant::now(),
        shutdown: false,
    };
    relay.serve()
}

/// SIGTERM and SIGINT write a byte into a socket pair whose read end wakes the loop.
fn signal_pipe(t: &Transport) -> std::io::Result<mio::net::UnixStream> {
    let (r, w) = std::os::unix::net::UnixStream::pair()?;
    r.set_nonblocking(true)?;
    w.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, w.try_clone()?)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, w)?;
    let mut r = mio::net::UnixStream::from_std(r);
    t.registry().register(
        &mut r,
        Transport::user_token(SIGNAL_N),
        mio::Interest::READABLE,
    )?;
    Ok(r)
}

fn init_logging(cfg: &RelayConfig) -> Result<(), String> {
    let level = cfg.log_level()?;
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    let r = match &cfg.log_dir {
        Some(dir) => {
            let path = dir.join("moneysocket-relay.log");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .try_init()
        }
        None => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
    // Already initialised (e.g. twice in one process) is fine.
    let _ = r;
    Ok(())
}

impl Relay {
    fn clock(&self) -> Instant {
        Instant(duration_millis(self.start.elapsed()))
    }

    fn serve(&mut self) -> Result<(), String> {
        let mut events = Vec::new();
        while !self.shutdown {
            let now = self.clock();
            let timeout = self.deadline.map(|d| d.saturating_duration_since(now));
            self.t
                .poll(&mut events, timeout)
                .map_err(|e| format!("poll: {e}"))?;
            self.now = self.clock();
            for ev in events.drain(..) {
                self.on_event(ev);
            }
            if let Some(d) = self.deadline {
                if self.now >= d {
                    self.input(MatchmakerInput::Timeout, None);
                }
            }
            if let Some(m) = &mut self.metrics {
                m.sweep(&self.t);
            }
            self.stats_line();
        }
        self.graceful_shutdown(&mut events);
        Ok(())
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Opened { conn, peer, .. } => {
                if self.cfg.log_client_ips {
                    tracing::debug!(conn = conn.0, %peer, "connection open");
                } else {
                    tracing::debug!(conn = conn.0, "connection open");
                }
                self.open.insert(conn);
                self.input(MatchmakerInput::Opened(Endpoint::Remote(conn)), None);
            }
            Event::Frame { conn, data } => self.input(
                MatchmakerInput::Frame(Endpoint::Remote(conn), &data),
                Some(&data),
            ),
            Event::Closed { conn, cause } => {
                tracing::debug!(conn = conn.0, "connection closed: {cause}");
                if matches!(cause, CloseCause::Oversized | CloseCause::Overflow) {
                    tracing::info!(conn = conn.0, "connection dropped: {cause}");
                }
                self.open.remove(&conn);
                self.input(MatchmakerInput::Closed(Endpoint::Remote(conn)), None);
            }
            Event::Refused { peer, reason } => {
                // debug only: a flood must not flood the log (the transport counts them)
                if self.cfg.log_client_ips {
                    tracing::debug!(%peer, "connection refused: {}", reason.label());
                } else {
                    tracing::debug!("connection refused: {}", reason.label());
                }
            }
            Event::User { n, .. } if n == SIGNAL_N => {
                if let Some(s) = &mut self.signals {
                    let mut buf = [0u8; 64];
                    while matches!(std::io::Read::read(s, &mut buf), Ok(n) if n > 0) {}
                }
                tracing::info!("signal received: shutting down");
                self.shutdown = true;
            }
            Event::User { n, .. } => {
                if let Some(mut m) = self.metrics.take() {
                    if Metrics::owns(n) {
                        m.ready(n, &self.t, &|| self.render_metrics());
                    }
                    self.metrics = Some(m);
                }
            }
        }
    }

    /// Feeds one input to the matchmaker, carries out its outputs and takes its next
    /// deadline. `data` is the frame of a `MatchmakerInput::Frame` (shared, so forwarding
    /// does not copy it).
    fn input(&mut self, input: MatchmakerInput<'_>, data: Option<&Bytes>) {
        self.mm.handle_input(input, self.now);
        // The relay opens only `Endpoint::Remote`s, so outputs name no local endpoint.
        while let Some(out) = self.mm.poll_output() {
            match out {
                MatchmakerOutput::Transmit { to, frame } => {
                    let Endpoint::Remote(conn) = to else { continue };
                    // A failed send means the connection is already going away.
                    let _ = self.t.send(conn, Bytes::copy_from_slice(&frame));
                }
                MatchmakerOutput::Forward { from, to } => {
                    let (Endpoint::Remote(from), Endpoint::Remote(to)) = (from, to) else {
                        continue;
                    };
                    if let Some(d) = data {
                        self.bytes_forwarded += d.len() as u64;
                        let _ = self.t.forward(from, to, d.clone());
                    }
                }
                MatchmakerOutput::Close { endpoint, reason } => {
                    let Endpoint::Remote(conn) = endpoint else {
                        continue;
                    };
                    match reason {
                        Eviction::AlreadyPaired => {
                            tracing::info!(conn = conn.0, "refused: rendezvous id already paired")
                        }
                        Eviction::Full => tracing::warn!(conn = conn.0, "refused: table full"),
                        Eviction::UnpairedExpired => {
                            tracing::debug!(conn = conn.0, "unpaired wait expired")
                        }
                        Eviction::PeerGone => {
                            tracing::debug!(conn = conn.0, "peer gone: END sent")
                        }
                        _ => tracing::debug!(conn = conn.0, "closed by the matchmaker: {reason:?}"),
                    }
                    self.open.remove(&conn);
                    self.t.close(conn);
                }
                _ => {}
            }
        }
        self.deadline = self.mm.poll_timeout();
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
        let s = self.mm.stats();
        let cur = (self.t.len(), s.unregistered + s.waiting, s.pairs);
        if cur != self.last_stats {
            self.last_stats = cur;
            tracing::info!("connections/unpaired/pairs: {}/{}/{}", cur.0, cur.1, cur.2);
        }
    }

    fn render_metrics(&self) -> String {
        let s = self.mm.stats();
        let ts = self.t.stats();
        let mut o = String::new();
        let mut put = |name: &str, kind: &str, help: &str, rows: &[(&str, u64)]| {
            o.push_str(&format!("# HELP moneysocket_relay_{name} {help}\n"));
            o.push_str(&format!("# TYPE moneysocket_relay_{name} {kind}\n"));
            for (labels, v) in rows {
                o.push_str(&format!("moneysocket_relay_{name}{labels} {v}\n"));
            }
        };
        put(
            "connections",
            "gauge",
            "Websocket connections (handshaking and closing included).",
            &[("", self.t.len() as u64)],
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
            &[("", self.bytes_forwarded)],
        );
        put(
            "refusals_total",
            "counter",
            "Connections refused, by reason.",
            &[
                ("{reason=\"already_paired\"}", s.refused_already_paired),
                ("{reason=\"table_full\"}", s.refused_full),
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
                // every ended pair closes its survivor with END
                ("{reason=\"peer_gone\"}", s.pairs_ended),
                ("{reason=\"oversized\"}", ts.closed_oversized),
                ("{reason=\"overflow\"}", ts.closed_overflow),
                ("{reason=\"idle\"}", ts.closed_idle),
            ],
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
        o
    }

    /// Stops accepting, sends NOTIFY_RENDEZVOUS_END to every paired connection, closes all
    /// connections and waits a little for the frames to leave.
    fn graceful_shutdown(&mut self, events: &mut Vec<Event>) {
        self.t.stop_listening();
        let now = self.clock();
        let mut ended = 0usize;
        for &conn in &self.open {
            if let Some(frame) = self.mm.end_frame(Endpoint::Remote(conn), now) {
                if self.t.send(conn, Bytes::copy_from_slice(&frame)).is_ok() {
                    ended += 1;
                }
            }
        }
        for conn in self.open.drain() {
            self.t.close(conn);
        }
        tracing::info!("shutdown: END sent to {ended} paired connections");
        let until = std::time::Instant::now() + SHUTDOWN_GRACE;
        while !self.t.is_empty() && std::time::Instant::now() < until {
            if self
                .t
                .poll(events, Some(Duration::from_millis(50)))
                .is_err()
            {
                break;
            }
            events.clear();
        }
    }
}
