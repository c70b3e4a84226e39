//! The bridge's loop: the device link and the relay websocket in one mio loop (the websocket
//! transport's), plus a control channel for commands from other threads.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Interest;
use moneysocket_core::beacon::Beacon;
use moneysocket_core::device_message::{self, Body, DeviceMessage};
use moneysocket_core::serial_framing::{self, Decoded, Decoder};
use moneysocket_core::time::Instant as CoreInstant;
use moneysocket_core::ConnId;
use moneysocket_ws::{tls, Event, Transport, TransportConfig};
use rustls::ClientConfig;

use crate::limit::{more, RateLimit};
use crate::link::{DeviceAddr, Link};
use crate::MAX_FRAME;

/// User source numbers in the transport's mio registry.
const DEVICE_SOURCE: usize = 1;
const CONTROL_SOURCE: usize = 2;
/// Bytes queued towards the device above which relay frames are dropped (the device reads
/// slowly; a backlog this deep means it is not reading at all).
const MAX_DEVICE_BACKLOG: usize = 64 * 1024;
/// Bytes read from the device link per readiness round before the websocket side gets a turn.
const READ_CHUNK: usize = 4096;

/// How the bridge runs.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// Where the device is.
    pub device: DeviceAddr,
    /// The relay's websocket URL (`ws://…`, or `wss://…` trusting the webpki roots or
    /// [`BridgeConfig::tls`]).
    pub relay: String,
    /// TLS of a `wss://` relay (`None`: the webpki roots;
    /// `moneysocket_ws::tls::client_config(Some(ca_file))` trusts a CA file).
    pub tls: Option<Arc<tls::ClientConfig>>,
    /// A beacon whose shared seed is sent to the device (a provisioning message) whenever the
    /// device asks for it (a hello device message: it booted without a seed).
    pub provision: Option<String>,
    /// Silence that ends a partial frame from the device (default 2 s; `None`: never).
    pub idle_gap: Option<Duration>,
    /// First reconnect delay of either side (default 100 ms), doubling up to `max_delay`.
    pub initial_delay: Duration,
    /// Largest reconnect delay (default 5 s).
    pub max_delay: Duration,
    /// The websocket transport's limits.
    pub transport: TransportConfig,
}

impl BridgeConfig {
    /// Defaults for `device` and `relay`.
    pub fn new(device: DeviceAddr, relay: &str) -> Self {
        BridgeConfig {
            device,
            relay: relay.to_owned(),
            tls: None,
            provision: None,
            idle_gap: Some(Duration::from_secs(2)),
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            transport: TransportConfig {
                max_frame: 64 * 1024,
                ..TransportConfig::default()
            },
        }
    }
}

/// What another thread (or the application) asks the bridge to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Provision the device with this beacon's shared seed now, and whenever it asks again.
    Provision(String),
    /// Hand the device a BOLT11 invoice to pay.
    Pay(String),
    /// Close the relay websocket and dial a new one (a fault drill: the device sees a new
    /// transport).
    DropRelay,
}

/// What happened, for the application's log or output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BridgeEvent {
    /// The device link is up.
    DeviceConnected,
    /// The device link went down (why); it is reopened after a delay.
    DeviceLost(String),
    /// A websocket to the relay opened (the device was sent a zero-length frame).
    RelayOpened,
    /// The websocket to the relay ended (why); a new one is dialed after a delay.
    RelayLost(String),
    /// The device asks for this BOLT11 invoice to be paid.
    DeviceInvoice(String),
    /// A status line from the device.
    DeviceStatus(String),
    /// A device message of a kind the bridge does not know.
    DeviceOther {
        /// Its kind byte.
        kind: u8,
        /// Its payload.
        payload: Vec<u8>,
    },
}

impl fmt::Display for BridgeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeEvent::DeviceConnected => f.write_str("device connected"),
            BridgeEvent::DeviceLost(why) => write!(f, "device lost: {why}"),
            BridgeEvent::RelayOpened => f.write_str("relay connected"),
            BridgeEvent::RelayLost(why) => write!(f, "relay lost: {why}"),
            BridgeEvent::DeviceInvoice(b) => write!(f, "device invoice: {b}"),
            BridgeEvent::DeviceStatus(s) => write!(f, "device status: {s}"),
            BridgeEvent::DeviceOther { kind, payload } => {
                write!(
                    f,
                    "device message kind {kind:#04x}, {} bytes",
                    payload.len()
                )
            }
        }
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Frames carried device → relay.
    pub frames_up: u64,
    /// Frames carried relay → device.
    pub frames_down: u64,
    /// Device frames dropped because no websocket was open.
    pub dropped_up: u64,
    /// Relay frames dropped (above the device's bound, no device link, or backlog full).
    pub dropped_down: u64,
    /// Device messages received from the device.
    pub device_messages: u64,
    /// Websockets opened.
    pub relay_opens: u64,
    /// Device links opened.
    pub device_opens: u64,
    /// The device decoder's counters (resynchronisations, dropped bytes), over all links.
    pub framing: serial_framing::DecoderStats,
}

/// A handle that sends [`Command`]s to a running [`Bridge`] from any thread.
#[derive(Debug, Clone)]
pub struct BridgeHandle {
    tx: mpsc::Sender<Command>,
    wake: Arc<std::os::unix::net::UnixStream>,
}

impl BridgeHandle {
    /// Queues `cmd` and wakes the bridge's loop. Fails once the bridge is gone.
    pub fn send(&self, cmd: Command) -> Result<(), mpsc::SendError<Command>> {
        self.tx.send(cmd)?;
        // A full socket buffer already holds a wake-up.
        let _ = (&*self.wake).write(&[1]);
        Ok(())
    }
}

/// Reconnect delays: `initial`, doubling up to `max`.
#[derive(Debug)]
struct Delay {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Delay {
    fn new(initial: Duration, max: Duration) -> Self {
        Delay {
            initial,
            max,
            next: initial,
        }
    }
    fn take(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        d
    }
    fn reset(&mut self) {
        self.next = self.initial;
    }
}

struct DeviceSide {
    link: Option<Link>,
    connected: bool,
    retry_at: Option<Instant>,
    delay: Delay,
    decoder: Box<Decoder<MAX_FRAME>>,
    /// Bytes for the device not yet written.
    out: Vec<u8>,
}

struct RelaySide {
    conn: Option<ConnId>,
    open: bool,
    retry_at: Option<Instant>,
    delay: Delay,
}

/// Rate limits of the noisy log lines.
struct Limits {
    framing: RateLimit,
    dropped_up: RateLimit,
    dropped_down: RateLimit,
    unprovisioned: RateLimit,
}

/// The bridge. See the crate documentation.
pub struct Bridge {
    config: BridgeConfig,
    tls: Option<Arc<ClientConfig>>,
    transport: Transport,
    start: Instant,
    device: DeviceSide,
    relay: RelaySide,
    control_rx: mpsc::Receiver<Command>,
    control_tx: mpsc::Sender<Command>,
    control_wake_rx: mio::net::UnixStream,
    control_wake_tx: Arc<std::os::unix::net::UnixStream>,
    stats: BridgeStats,
    limits: Limits,
    ws_events: Vec<Event>,
}

impl Bridge {
    /// A bridge that starts opening the device link at its first [`Bridge::poll`].
    pub fn new(config: BridgeConfig) -> io::Result<Bridge> {
        let tls = match (&config.tls, config.relay.starts_with("wss://")) {
            (_, false) => None,
            (Some(t), true) => Some(Arc::clone(t)),
            (None, true) => Some(tls::client_config(None).map_err(io::Error::other)?),
        };
        let transport = Transport::new(config.transport.clone())?;
        let (wake_rx, wake_tx) = std::os::unix::net::UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let mut control_wake_rx = mio::net::UnixStream::from_std(wake_rx);
        transport.registry().register(
            &mut control_wake_rx,
            Transport::user_token(CONTROL_SOURCE),
            Interest::READABLE,
        )?;
        let (control_tx, control_rx) = mpsc::channel();
        let mut decoder = Box::new(Decoder::new());
        decoder.set_idle_gap(config.idle_gap);
        let now = Instant::now();
        Ok(Bridge {
            device: DeviceSide {
                link: None,
                connected: false,
                retry_at: Some(now),
                delay: Delay::new(config.initial_delay, config.max_delay),
                decoder,
                out: Vec::new(),
            },
            relay: RelaySide {
                conn: None,
                open: false,
                retry_at: None,
                delay: Delay::new(config.initial_delay, config.max_delay),
            },
            config,
            tls,
            transport,
            start: now,
            control_rx,
            control_tx,
            control_wake_rx,
            control_wake_tx: Arc::new(wake_tx),
            stats: BridgeStats::default(),
            limits: Limits {
                framing: RateLimit::new(Duration::from_secs(1)),
                dropped_up: RateLimit::new(Duration::from_secs(1)),
                dropped_down: RateLimit::new(Duration::from_secs(1)),
                unprovisioned: RateLimit::new(Duration::from_secs(10)),
            },
            ws_events: Vec::new(),
        })
    }

    /// A handle to send commands from other threads.
    pub fn handle(&self) -> BridgeHandle {
        BridgeHandle {
            tx: self.control_tx.clone(),
            wake: Arc::clone(&self.control_wake_tx),
        }
    }

    /// Counters.
    pub fn stats(&self) -> BridgeStats {
        BridgeStats {
            framing: self.device.decoder.stats(),
            ..self.stats
        }
    }

    /// Whether the device link is up.
    pub fn device_connected(&self) -> bool {
        self.device.connected
    }

    /// Whether a websocket to the relay is open.
    pub fn relay_open(&self) -> bool {
        self.relay.open
    }

    /// Carries out `cmd` (from this thread).
    pub fn command(&mut self, cmd: Command, events: &mut Vec<BridgeEvent>) {
        match cmd {
            Command::Provision(beacon) => match provision_payload(&beacon) {
                Ok(seed) => {
                    self.send_device_message(device_message::KIND_PROVISION, seed.as_bytes());
                    self.config.provision = Some(beacon);
                }
                Err(e) => tracing::warn!("not provisioned: {e}"),
            },
            Command::Pay(bolt11) => {
                self.send_device_message(device_message::KIND_PAY, bolt11.as_bytes());
            }
            Command::DropRelay => {
                if self.relay.conn.is_some() {
                    self.close_relay();
                    events.push(BridgeEvent::RelayLost("dropped on request".into()));
                    self.relay.retry_at = Some(Instant::now());
                }
            }
        }
        self.flush_device(events);
    }

    /// One round: waits up to `timeout` (or the next reconnect or idle deadline) for either
    /// side, carries what came, reconnects what is due, and appends what happened.
    pub fn poll(
        &mut self,
        events: &mut Vec<BridgeEvent>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.reconnect_due(events);
        let wait = self.next_wait(timeout);
        let mut ws_events = std::mem::take(&mut self.ws_events);
        self.transport.poll(&mut ws_events, wait)?;
        for ev in ws_events.drain(..) {
            self.on_ws_event(ev, events);
        }
        self.ws_events = ws_events;
        if let Some(e) = self.device.decoder.poll_idle(self.core_now()) {
            self.log_framing(&e);
        }
        self.reconnect_due(events);
        Ok(())
    }

    fn core_now(&self) -> CoreInstant {
        CoreInstant(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// The earliest of `timeout`, the reconnects and the decoder's idle deadline.
    fn next_wait(&self, timeout: Option<Duration>) -> Option<Duration> {
        let now = Instant::now();
        let mut wait = timeout;
        let mut consider = |at: Instant| {
            let d = at.saturating_duration_since(now);
            wait = Some(wait.map_or(d, |w| w.min(d)));
        };
        if let Some(t) = self.device.retry_at {
            consider(t);
        }
        if let Some(t) = self.relay.retry_at {
            consider(t);
        }
        if let Some(CoreInstant(ms)) = self.device.decoder.idle_deadline() {
            consider(self.start + Duration::from_millis(ms));
        }
        wait
    }

    fn reconnect_due(&mut self, events: &mut Vec<BridgeEvent>) {
        let now = Instant::now();
        if self.device.retry_at.is_some_and(|t| now >= t) {
            self.device.retry_at = None;
            self.open_device(events);
        }
        if self.relay.retry_at.is_some_and(|t| now >= t) {
            self.relay.retry_at = None;
            self.dial_relay(events);
        }
    }

    fn open_device(&mut self, events: &mut Vec<BridgeEvent>) {
        match Link::open(&self.config.device) {
            Ok(mut link) => {
                if let Err(e) = self.transport.registry().register(
                    link.source(),
                    Transport::user_token(DEVICE_SOURCE),
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    self.device_failed(format!("registering the link: {e}"), events);
                    return;
                }
                self.device.link = Some(link);
                self.device.connected = false;
                self.check_device_connected(events);
            }
            Err(e) => self.device_failed(format!("{}: {e}", self.config.device), events),
        }
    }

    /// A TCP link becomes usable when its connect completes.
    fn check_device_connected(&mut self, events: &mut Vec<BridgeEvent>) {
        let Some(link) = &self.device.link else {
            return;
        };
        if self.device.connected {
            return;
        }
        match link.connected() {
            Ok(true) => self.on_device_up(events),
            Ok(false) => {}
            Err(e) => self.device_failed(format!("{}: {e}", self.config.device), events),
        }
    }

    fn on_device_up(&mut self, events: &mut Vec<BridgeEvent>) {
        self.device.connected = true;
        self.device.delay.reset();
        self.stats.device_opens += 1;
        if let Some(e) = self.device.decoder.reset() {
            self.log_framing(&e);
        }
        self.device.out.clear();
        tracing::info!("device link up: {}", self.config.device);
        events.push(BridgeEvent::DeviceConnected);
        // A new device link is a new transport on the relay side too.
        self.close_relay();
        self.relay.delay.reset();
        self.dial_relay(events);
        self.flush_device(events);
    }

    /// The device link failed or ended: drop it (and the websocket), try again later.
    fn device_failed(&mut self, why: String, events: &mut Vec<BridgeEvent>) {
        let was_up = self.device.connected;
        if let Some(mut link) = self.device.link.take() {
            let _ = self.transport.registry().deregister(link.source());
        }
        self.device.connected = false;
        self.device.out.clear();
        if let Some(e) = self.device.decoder.reset() {
            self.log_framing(&e);
        }
        let delay = self.device.delay.take();
        self.device.retry_at = Some(Instant::now() + delay);
        if was_up {
            tracing::warn!("device link lost: {why}; reopening in {delay:?}");
            events.push(BridgeEvent::DeviceLost(why));
        } else {
            tracing::debug!("device link not up: {why}; retrying in {delay:?}");
        }
        self.close_relay();
        self.relay.retry_at = None;
    }

    fn dial_relay(&mut self, events: &mut Vec<BridgeEvent>) {
        if !self.device.connected || self.relay.conn.is_some() {
            return;
        }
        match self.transport.dial(&self.config.relay, self.tls.clone()) {
            Ok(conn) => self.relay.conn = Some(conn),
            Err(e) => self.relay_failed(format!("dialing {}: {e}", self.config.relay), events),
        }
    }

    /// Closes the websocket (no event follows from the transport).
    fn close_relay(&mut self) {
        if let Some(conn) = self.relay.conn.take() {
            self.transport.close(conn);
        }
        self.relay.open = false;
    }

    fn relay_failed(&mut self, why: String, events: &mut Vec<BridgeEvent>) {
        let was_open = self.relay.open;
        self.relay.conn = None;
        self.relay.open = false;
        if !self.device.connected {
            return;
        }
        let delay = self.relay.delay.take();
        self.relay.retry_at = Some(Instant::now() + delay);
        if was_open {
            tracing::warn!("relay websocket lost: {why}; redialing in {delay:?}");
            events.push(BridgeEvent::RelayLost(why));
        } else {
            tracing::warn!("relay websocket not opened: {why}; redialing in {delay:?}");
        }
    }

    fn on_ws_event(&mut self, ev: Event, events: &mut Vec<BridgeEvent>) {
        match ev {
            Event::Opened { conn, .. } if Some(conn) == self.relay.conn => {
                self.relay.open = true;
                self.relay.delay.reset();
                self.stats.relay_opens += 1;
                tracing::info!("relay websocket open: {}", self.config.relay);
                events.push(BridgeEvent::RelayOpened);
                // A new transport: the device starts its session over.
                self.queue_device_frame(&[]);
                self.flush_device(events);
            }
            Event::Frame { conn, data } if Some(conn) == self.relay.conn => {
                self.relay_to_device(&data, events);
            }
            Event::Closed { conn, cause } if Some(conn) == self.relay.conn => {
                self.relay_failed(cause.to_string(), events);
            }
            Event::User {
                n: DEVICE_SOURCE,
                readable,
                writable,
            } => {
                self.check_device_connected(events);
                if writable {
                    self.flush_device(events);
                }
                if readable {
                    self.read_device(events);
                }
            }
            Event::User {
                n: CONTROL_SOURCE, ..
            } => {
                let mut buf = [0u8; 64];
                while matches!(self.control_wake_rx.read(&mut buf), Ok(n) if n > 0) {}
                while let Ok(cmd) = self.control_rx.try_recv() {
                    self.command(cmd, events);
                }
            }
            // Old websockets (closed by us) and the rest.
            _ => {}
        }
    }

    fn relay_to_device(&mut self, data: &[u8], events: &mut Vec<BridgeEvent>) {
        let why = if data.len() > MAX_FRAME {
            Some(format!(
                "a {}-byte relay message is above the device's {MAX_FRAME}-byte bound",
                data.len()
            ))
        } else if !self.device.connected {
            Some("no device link".to_owned())
        } else if self.device.out.len() > MAX_DEVICE_BACKLOG {
            Some(format!(
                "{} bytes already wait for the device",
                self.device.out.len()
            ))
        } else {
            None
        };
        if let Some(why) = why {
            self.stats.dropped_down += 1;
            if let Some(n) = self.limits.dropped_down.allow(Instant::now()) {
                tracing::warn!("relay → device: frame dropped: {why}{}", more(n));
            }
            return;
        }
        self.stats.frames_down += 1;
        self.queue_device_frame(data);
        self.flush_device(events);
    }

    /// Queues one frame for the device (the bound was checked by the caller; an empty body
    /// is the control frame).
    fn queue_device_frame(&mut self, body: &[u8]) {
        if !self.device.connected {
            return;
        }
        let out = &mut self.device.out;
        if let Err(e) = serial_framing::write_frame(body, MAX_FRAME, |b| {
            out.extend_from_slice(b);
            Ok::<(), std::convert::Infallible>(())
        }) {
            tracing::warn!("relay → device: {e}");
        }
    }

    fn send_device_message(&mut self, kind: u8, payload: &[u8]) {
        let mut body = vec![0u8; device_message::encoded_len(payload.len())];
        match device_message::encode(kind, payload, &mut body) {
            Ok(n) if n <= MAX_FRAME => {
                if !self.device.connected {
                    tracing::warn!("device message not sent: no device link");
                }
                self.queue_device_frame(body.get(..n).unwrap_or(&[]));
            }
            Ok(n) => tracing::warn!(
                "device message not sent: {n} bytes, above the device's {MAX_FRAME}-byte bound"
            ),
            Err(e) => tracing::warn!("device message not sent: {e}"),
        }
    }

    /// Writes what waits for the device, as far as the link takes it.
    fn flush_device(&mut self, events: &mut Vec<BridgeEvent>) {
        if !self.device.connected {
            return;
        }
        let Some(link) = self.device.link.as_mut() else {
            return;
        };
        let mut written = 0;
        let mut failed = None;
        while written < self.device.out.len() {
            let rest = self.device.out.get(written..).unwrap_or(&[]);
            match link.write(rest) {
                Ok(0) => {
                    failed = Some("device link closed on write".to_owned());
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(format!("write: {e}"));
                    break;
                }
            }
        }
        self.device.out.drain(..written);
        if let Some(why) = failed {
            self.device_failed(why, events);
        }
    }

    /// Reads what the device sent and carries each frame.
    fn read_device(&mut self, events: &mut Vec<BridgeEvent>) {
        let mut buf = [0u8; READ_CHUNK];
        loop {
            let Some(link) = self.device.link.as_mut() else {
                return;
            };
            match link.read(&mut buf) {
                Ok(0) => {
                    self.device_failed("closed by the device side".into(), events);
                    return;
                }
                Ok(n) => self.device_bytes(buf.get(..n).unwrap_or(&[]), events),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.device_failed(format!("read: {e}"), events);
                    return;
                }
            }
        }
    }

    fn device_bytes(&mut self, mut bytes: &[u8], events: &mut Vec<BridgeEvent>) {
        let now = self.core_now();
        while !bytes.is_empty() {
            let (used, decoded) = self.device.decoder.feed(bytes, now);
            bytes = bytes.get(used..).unwrap_or(&[]);
            // Owned copies: the decoder's buffer is borrowed until the next feed.
            let item = match decoded {
                None => continue,
                Some(Decoded::Frame(f)) => Item::Frame(f.to_vec()),
                Some(Decoded::Control) => Item::Control,
                Some(Decoded::Error(e)) => Item::Error(e),
            };
            match item {
                Item::Frame(f) => self.device_frame(f, events),
                Item::Control => {
                    tracing::info!("device closed its transport: new websocket");
                    if self.relay.conn.is_some() {
                        self.close_relay();
                        events.push(BridgeEvent::RelayLost("closed by the device".into()));
                    }
                    self.relay.retry_at = None;
                    self.dial_relay(events);
                }
                Item::Error(e) => self.log_framing(&e),
            }
        }
    }

    fn device_frame(&mut self, frame: Vec<u8>, events: &mut Vec<BridgeEvent>) {
        match device_message::classify(&frame) {
            Body::Moneysocket => {}
            Body::Device(DeviceMessage {
                kind: device_message::KIND_HELLO,
                ..
            }) => {
                self.stats.device_messages += 1;
                self.provision_device();
                self.flush_device(events);
                return;
            }
            Body::Device(DeviceMessage { kind, payload }) => {
                self.stats.device_messages += 1;
                let text = || String::from_utf8_lossy(payload).into_owned();
                events.push(match kind {
                    device_message::KIND_INVOICE => BridgeEvent::DeviceInvoice(text()),
                    device_message::KIND_STATUS => BridgeEvent::DeviceStatus(text()),
                    _ => BridgeEvent::DeviceOther {
                        kind,
                        payload: payload.to_vec(),
                    },
                });
                return;
            }
            Body::Malformed => {
                tracing::warn!(
                    "device → relay: a {}-byte device message with an inconsistent header dropped",
                    frame.len()
                );
                return;
            }
        }
        match (self.relay.open, self.relay.conn) {
            (true, Some(conn)) if self.transport.send(conn, frame).is_ok() => {
                self.stats.frames_up += 1;
            }
            _ => {
                self.stats.dropped_up += 1;
                if let Some(n) = self.limits.dropped_up.allow(Instant::now()) {
                    tracing::warn!(
                        "device → relay: frame dropped: no websocket open yet{}",
                        more(n)
                    );
                }
            }
        }
    }

    /// The device asked for its seed: send it if the bridge has a beacon.
    fn provision_device(&mut self) {
        let now = Instant::now();
        match self.config.provision.as_deref().map(provision_payload) {
            Some(Ok(seed)) => {
                tracing::info!("device asks to be provisioned: sending the beacon's seed");
                self.send_device_message(device_message::KIND_PROVISION, seed.as_bytes());
            }
            Some(Err(e)) => {
                if let Some(n) = self.limits.unprovisioned.allow(now) {
                    tracing::warn!("device asks to be provisioned: {e}{}", more(n));
                }
            }
            None => {
                if let Some(n) = self.limits.unprovisioned.allow(now) {
                    tracing::warn!(
                        "device asks to be provisioned and the bridge has no beacon \
                         (--provision, or `provision BEACON` on stdin){}",
                        more(n)
                    );
                }
            }
        }
    }

    fn log_framing(&mut self, e: &serial_framing::DecodeError) {
        if let Some(n) = self.limits.framing.allow(Instant::now()) {
            tracing::warn!("device link: {e}{}", more(n));
        }
    }
}

/// What a provisioning message carries for `beacon`: its shared seed in hex (the device
/// needs no location: the bridge dials the relay).
fn provision_payload(beacon: &str) -> Result<String, String> {
    let b = Beacon::decode(beacon.trim()).map_err(|e| format!("not a beacon: {e}"))?;
    Ok(b.shared_seed().to_string())
}

/// The first websocket location of `beacon`, as a URL (for a bridge given no relay).
pub fn relay_of_beacon(beacon: &str) -> Result<String, String> {
    let b = Beacon::decode(beacon.trim()).map_err(|e| format!("not a beacon: {e}"))?;
    let ws = b
        .first_websocket()
        .ok_or_else(|| "the beacon names no websocket location".to_owned())?;
    let mut url = String::new();
    ws.url(&mut url)
        .map_err(|e| format!("beacon location: {e}"))?;
    Ok(url)
}

enum Item {
    Frame(Vec<u8>),
    Control,
    Error(serial_framing::DecodeError),
}
