//! The driver: one loop that moves frames between a [`FrameIo`] and a [`SessionHost`].

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use moneysocket_core::beacon::Beacon;
use moneysocket_core::host::{
    HostConfig, HostError, HostInput, HostOutput, SessionHost, SessionId,
};
use moneysocket_core::message::ProviderInfo;
use moneysocket_core::seed::SharedSeed;
use moneysocket_core::session::{CloseReason, ConsumerConfig, ProviderConfig};
use moneysocket_core::time::{Instant, UnixClock};
use moneysocket_core::uuid::Uuid;
use moneysocket_core::ConnId;
use moneysocket_ws::tls::ServerConfig;
use moneysocket_ws::TransportConfig;
use rand_core::{OsRng, RngCore};

use crate::event::{Disconnect, DriverEvent, SessionEvent};
use crate::io::{FrameIo, IoEvent, WsIo};
use crate::jobs::{JobId, Jobs, SpawnError};

/// The host's matchmaker table size ([`SessionHost`]'s default): accepted connections plus
/// listening sessions.
pub const DEFAULT_CONNS: usize = 65_536;

/// Reconnect delays of dialing sessions: `initial`, doubling up to `max`, each delay drawn
/// from [d/2, d] (jitter); back to `initial` once the session was ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay (default 250 ms).
    pub initial: Duration,
    /// Largest delay (default 30 s).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

/// Driver tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverConfig {
    /// The session host's (its matchmaker's `unix_offset_ms` is set by the driver).
    pub host: HostConfig,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Jobs running at once, one thread each (default 4).
    pub max_running_jobs: usize,
    /// Jobs waiting for a thread (default 256); more are refused.
    pub max_queued_jobs: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            host: HostConfig::default(),
            backoff: Backoff::default(),
            max_running_jobs: 4,
            max_queued_jobs: 256,
        }
    }
}

/// Why [`Driver::connect`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// No such session.
    UnknownSession,
    /// The session dials already ([`Driver::disconnect`] it first).
    AlreadyConnecting,
    /// No address to dial (a beacon without websocket location).
    NoAddress,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectError::UnknownSession => "no such session",
            ConnectError::AlreadyConnecting => "the session is already connecting",
            ConnectError::NoAddress => "no address to dial",
        })
    }
}

impl std::error::Error for ConnectError {}

/// Where a dialing session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialState {
    /// A dial of address `address` is under way on `conn`.
    Dialing {
        /// The connection being opened.
        conn: ConnId,
        /// Index of the address.
        address: usize,
    },
    /// The session runs on `conn`.
    Up {
        /// The connection.
        conn: ConnId,
        /// Index of the address.
        address: usize,
    },
    /// Waiting to dial again.
    Waiting {
        /// When.
        until: Instant,
    },
}

#[derive(Debug)]
struct Link {
    addresses: Vec<String>,
    /// The address to dial next (or being dialed, or carrying the session).
    next: usize,
    /// Addresses tried in this round without success.
    failed: usize,
    delay: Duration,
    state: DialState,
    /// The session's last `Closed` reason (set before the host's `Close` output).
    closed: Option<CloseReason>,
    /// The session became ready on its current connection (else the address counts as
    /// failed when the connection ends, and the next one is tried).
    ready: bool,
}

/// What the host said, owned, so the driver can act on it with `&mut self`.
enum Out {
    Transmit(ConnId, Vec<u8>),
    Forward(ConnId, ConnId),
    Close(ConnId),
    Event(SessionId, SessionEvent),
}

/// Runs a [`SessionHost`] over a [`FrameIo`] (by default [`WsIo`], websockets): the loop,
/// the clock, reconnects, listening and off-loop jobs. It has no protocol logic: every
/// decision about frames is the host's.
pub struct Driver<Io: FrameIo = WsIo, const CONNS: usize = DEFAULT_CONNS> {
    io: Io,
    host: SessionHost<OsRng, CONNS>,
    config: DriverConfig,
    start: std::time::Instant,
    clock: UnixClock,
    links: HashMap<SessionId, Link>,
    /// Connections of dialing sessions (dialing or up).
    by_conn: HashMap<ConnId, SessionId>,
    io_events: Vec<IoEvent<Io::Frame>>,
    /// Events produced outside `poll` (app calls), handed out by the next `poll`.
    pending: Vec<DriverEvent>,
    jobs: Jobs,
}

impl<const CONNS: usize> Driver<WsIo, CONNS> {
    /// A driver over a new websocket transport with these limits.
    /// The frame cap is one number: the transport's `max_frame` becomes the host's, and
    /// every session's is held to it ([`Driver::add_consumer`], [`Driver::add_provider`]).
    pub fn new(mut config: DriverConfig, transport: TransportConfig) -> io::Result<Self> {
        config.host.max_frame = transport.max_frame;
        Self::with_io(WsIo::new(transport)?, config)
    }

    /// Listens for websockets on `addr` (`wss` with `tls`); returns the bound address.
    /// Accepted connections meet the sessions placed with [`Driver::listen_session`] (and
    /// each other: the driver relays between accepted connections with the same beacon).
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<SocketAddr> {
        self.io.listen(addr, tls)
    }
}

impl<Io: FrameIo, const CONNS: usize> Driver<Io, CONNS> {
    /// A driver over `io`.
    pub fn with_io(mut io: Io, mut config: DriverConfig) -> io::Result<Self> {
        let start = std::time::Instant::now();
        let clock = UnixClock::new(moneysocket_ws::unix_time_ms(), Instant::ZERO);
        config.host.matchmaker.unix_offset_ms = clock.offset_ms();
        let waker = io.waker()?;
        Ok(Driver {
            io,
            host: SessionHost::new(config.host, OsRng),
            jobs: Jobs::new(config.max_running_jobs, config.max_queued_jobs, waker),
            config,
            start,
            clock,
            links: HashMap::new(),
            by_conn: HashMap::new(),
            io_events: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// Now on the driver's clock (milliseconds since the driver started): what the host's
    /// calls take.
    pub fn now(&self) -> Instant {
        Instant(moneysocket_core::time::duration_millis(
            self.start.elapsed(),
        ))
    }

    /// Unix milliseconds at [`Instant::ZERO`] of [`now`](Self::now)'s clock: what session
    /// configurations' `unix_offset_ms` take (the driver's `add_*` set it).
    pub fn unix_offset_ms(&self) -> u64 {
        self.clock.offset_ms()
    }

    /// The host, to read sessions.
    pub fn host(&self) -> &SessionHost<OsRng, CONNS> {
        &self.host
    }

    /// The host, to call it (pass [`now`](Self::now)); its output is sent by the next
    /// [`poll`](Self::poll) or [`flush`](Self::flush).
    pub fn host_mut(&mut self) -> &mut SessionHost<OsRng, CONNS> {
        &mut self.host
    }

    /// The frame I/O.
    pub fn io(&self) -> &Io {
        &self.io
    }

    /// The frame I/O, to call it directly.
    pub fn io_mut(&mut self) -> &mut Io {
        &mut self.io
    }

    /// Adds a consumer (its `unix_offset_ms` set to the driver's clock, its `max_frame` held
    /// to the host's), detached:
    /// [`connect`](Self::connect) or [`listen_session`](Self::listen_session) it.
    pub fn add_consumer(&mut self, seed: &SharedSeed, mut config: ConsumerConfig) -> SessionId {
        config.unix_offset_ms = self.clock.offset_ms();
        config.max_frame = config.max_frame.min(self.host.config().max_frame);
        self.host.add_consumer(seed, config)
    }

    /// Adds a provider (its `unix_offset_ms` set to the driver's clock, its `max_frame` held
    /// to the host's), detached.
    pub fn add_provider(
        &mut self,
        seed: &SharedSeed,
        mut config: ProviderConfig,
        account: Option<Uuid>,
    ) -> SessionId {
        config.unix_offset_ms = self.clock.offset_ms();
        config.max_frame = config.max_frame.min(self.host.config().max_frame);
        self.host.add_provider(seed, config, account)
    }

    /// Places the session in the host's matchmaker, for remote peers that connect to the
    /// driver's listener (or another listening session) with its beacon.
    pub fn listen_session(&mut self, session: SessionId) -> Result<(), HostError> {
        let now = self.now();
        self.host.listen(session, now)
    }

    /// Runs `session` on a connection to the first of `addresses` that opens (tried in
    /// order), and keeps it connected: when the connection fails or the session closes its
    /// link (anything but the application's `close`), the driver dials again with
    /// exponential backoff ([`Backoff`]). Progress is reported as
    /// [`DriverEvent::Connected`] and [`DriverEvent::Disconnected`].
    pub fn connect<S: Into<String>>(
        &mut self,
        session: SessionId,
        addresses: impl IntoIterator<Item = S>,
    ) -> Result<(), ConnectError> {
        if self.host.consumer(session).is_none() && self.host.provider(session).is_none() {
            return Err(ConnectError::UnknownSession);
        }
        if self.links.contains_key(&session) {
            return Err(ConnectError::AlreadyConnecting);
        }
        let addresses: Vec<String> = addresses.into_iter().map(Into::into).collect();
        if addresses.is_empty() {
            return Err(ConnectError::NoAddress);
        }
        self.links.insert(
            session,
            Link {
                addresses,
                next: 0,
                failed: 0,
                delay: self.config.backoff.initial,
                state: DialState::Waiting { until: self.now() },
                closed: None,
                ready: false,
            },
        );
        self.dial(session);
        Ok(())
    }

    /// [`connect`](Self::connect) to the beacon's websocket locations, in beacon order.
    pub fn connect_beacon(
        &mut self,
        session: SessionId,
        beacon: &Beacon,
    ) -> Result<(), ConnectError> {
        let urls: Vec<String> = beacon.websockets().map(|ws| ws.to_string()).collect();
        self.connect(session, urls)
    }

    /// Stops dialing `session` and closes it ([`CloseReason::Local`]); it stays in the host.
    /// Returns whether it was dialing.
    pub fn disconnect(&mut self, session: SessionId) -> bool {
        let Some(link) = self.links.remove(&session) else {
            return false;
        };
        match link.state {
            DialState::Dialing { conn, .. } => {
                self.by_conn.remove(&conn);
                self.io.close(conn);
            }
            // the host closes the connection (its Close output, sent by the next poll)
            DialState::Up { conn, .. } => {
                self.by_conn.remove(&conn);
            }
            DialState::Waiting { .. } => {}
        }
        // In every state the session closes (`Closed(Local)` comes out of the next poll).
        let now = self.now();
        let _ = self.host.close(session, now);
        true
    }

    /// Where a session placed with [`connect`](Self::connect) stands.
    pub fn dial_state(&self, session: SessionId) -> Option<DialState> {
        self.links.get(&session).map(|l| l.state)
    }

    /// Runs `job` (which may block) on a worker thread; its return value comes back as
    /// [`DriverEvent::Job`] (take it with [`JobOutput::take`](crate::JobOutput::take)).
    pub fn spawn<T, F>(&mut self, job: F) -> Result<JobId, SpawnError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.jobs.spawn(Box::new(move || Box::new(job()) as _))
    }

    /// Jobs running or waiting for a thread.
    pub fn jobs(&self) -> usize {
        self.jobs.len()
    }

    /// [`SessionHost::request_invoice`] now.
    pub fn request_invoice(&mut self, session: SessionId, msats: u64) -> Result<Uuid, HostError> {
        let now = self.now();
        self.host.request_invoice(session, msats, now)
    }

    /// [`SessionHost::pay`] now.
    pub fn pay(&mut self, session: SessionId, bolt11: &str) -> Result<Uuid, HostError> {
        let now = self.now();
        self.host.pay(session, bolt11, now)
    }

    /// [`SessionHost::set_provider_info`] now.
    pub fn set_provider_info(
        &mut self,
        session: SessionId,
        info: &ProviderInfo<'_>,
    ) -> Result<(), HostError> {
        let now = self.now();
        self.host.set_provider_info(session, info, now)
    }

    /// [`SessionHost::send_invoice`] now.
    pub fn send_invoice(
        &mut self,
        session: SessionId,
        request: Uuid,
        bolt11: &str,
    ) -> Result<(), HostError> {
        let now = self.now();
        self.host.send_invoice(session, request, bolt11, now)
    }

    /// [`SessionHost::send_extension`] now (either role; the session needs `extensions`
    /// on in its config).
    pub fn send_extension(
        &mut self,
        session: SessionId,
        msg: &moneysocket_core::message::opinion::OpinionMessage<'_>,
    ) -> Result<(), HostError> {
        let now = self.now();
        self.host.send_extension(session, msg, now)
    }

    /// [`SessionHost::send_preimage`] now.
    pub fn send_preimage(
        &mut self,
        session: SessionId,
        request: Option<Uuid>,
        preimage: &[u8; 32],
    ) -> Result<(), HostError> {
        let now = self.now();
        self.host.send_preimage(session, request, preimage, now)
    }

    /// [`SessionHost::send_error`] now.
    pub fn send_error(
        &mut self,
        session: SessionId,
        request: Option<Uuid>,
        error: &str,
    ) -> Result<(), HostError> {
        let now = self.now();
        self.host.send_error(session, request, error, now)
    }

    /// Closes `session` ([`CloseReason::Local`]; a dialing session stops dialing, as with
    /// [`disconnect`](Self::disconnect)).
    pub fn close(&mut self, session: SessionId) -> Result<(), HostError> {
        if self.disconnect(session) {
            return Ok(());
        }
        let now = self.now();
        self.host.close(session, now)
    }

    /// Removes `session` from the host (and stops dialing it).
    pub fn remove(&mut self, session: SessionId) -> Result<(), HostError> {
        self.disconnect(session);
        let now = self.now();
        self.host.remove(session, now)
    }

    /// Sends what the host has queued since the last poll (after app calls) and appends the
    /// events that came with it. [`poll`](Self::poll) does this first.
    pub fn flush(&mut self, events: &mut Vec<DriverEvent>) {
        self.drain(None);
        events.append(&mut self.pending);
    }

    /// One round: flushes the host's output, waits for the frame I/O up to `timeout` (or
    /// the host's next deadline, or the next redial, whichever is first; `None`: no limit of
    /// the caller's), feeds what happened to the host and sends its output, fires due
    /// deadlines and redials, collects finished jobs, and appends the events.
    pub fn poll(
        &mut self,
        events: &mut Vec<DriverEvent>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.drain(None);
        self.jobs.collect(|job, result| {
            self.pending.push(DriverEvent::Job { job, result });
        });
        let now = self.now();
        let mut wait = timeout;
        let mut limit = |d: Duration| wait = Some(wait.map_or(d, |w| w.min(d)));
        if let Some(d) = self.host.poll_timeout() {
            limit(d.saturating_duration_since(now));
        }
        for l in self.links.values() {
            if let DialState::Waiting { until } = l.state {
                limit(until.saturating_duration_since(now));
            }
        }
        if !self.pending.is_empty() || !events.is_empty() {
            wait = Some(Duration::ZERO);
        }
        let mut io_events = std::mem::take(&mut self.io_events);
        self.io.poll_io(&mut io_events, wait)?;
        // one clock reading per round of I/O events (as the host counts milliseconds)
        let now = self.now();
        for ev in io_events.drain(..) {
            self.on_io(ev, now);
        }
        self.io_events = io_events;
        let now = self.now();
        if self.host.poll_timeout().is_some_and(|d| d <= now) {
            self.host.handle_input(HostInput::Timeout, now);
            self.drain(None);
        }
        let due: Vec<SessionId> = self
            .links
            .iter()
            .filter(|(_, l)| matches!(l.state, DialState::Waiting { until } if until <= now))
            .map(|(&s, _)| s)
            .collect();
        for s in due {
            self.dial(s);
        }
        self.jobs.collect(|job, result| {
            self.pending.push(DriverEvent::Job { job, result });
        });
        events.append(&mut self.pending);
        Ok(())
    }

    /// Polls until `deadline`, handing each event to `f` (with the driver, to act on it);
    /// returns `f`'s `Break` value, or `None` at the deadline. Events after a `Break` stay
    /// for the next poll.
    pub fn run_until<B>(
        &mut self,
        deadline: std::time::Instant,
        mut f: impl FnMut(&mut Self, DriverEvent) -> ControlFlow<B>,
    ) -> io::Result<Option<B>> {
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            self.poll(&mut events, Some(left))?;
            let mut it = events.drain(..);
            while let Some(ev) = it.next() {
                if let ControlFlow::Break(b) = f(self, ev) {
                    let rest: Vec<_> = it.collect();
                    self.pending.splice(0..0, rest);
                    return Ok(Some(b));
                }
            }
            drop(it);
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    // ---- internals ----

    fn on_io(&mut self, ev: IoEvent<Io::Frame>, now: Instant) {
        match ev {
            IoEvent::Opened(conn) => match self.by_conn.get(&conn).copied() {
                Some(session) => self.opened(session, conn, now),
                None => {
                    self.pending.push(DriverEvent::Accepted {
                        conn,
                        peer: self.io.peer_addr(conn),
                    });
                    self.host.handle_input(HostInput::Opened(conn), now);
                    self.drain(None);
                }
            },
            IoEvent::Frame(conn, frame) => {
                self.host
                    .handle_input(HostInput::Frame(conn, frame.as_ref()), now);
                self.drain(Some(&frame));
            }
            IoEvent::Closed(conn, error) => {
                let session = self.by_conn.remove(&conn);
                let dialing = session
                    .and_then(|s| self.links.get(&s))
                    .is_some_and(|l| matches!(l.state, DialState::Dialing { .. }));
                let Some(s) = session else {
                    // an accepted connection: reported before what its close causes (the
                    // END to its partner)
                    self.pending.push(DriverEvent::AcceptedClosed {
                        conn,
                        cause: Disconnect::ConnectionClosed(error),
                    });
                    self.host.handle_input(HostInput::Closed(conn), now);
                    self.drain(None);
                    return;
                };
                if !dialing {
                    self.host.handle_input(HostInput::Closed(conn), now);
                    self.drain(None);
                }
                self.link_down(s, Disconnect::ConnectionClosed(error), dialing);
            }
            IoEvent::Woken => {}
            IoEvent::User {
                n,
                readable,
                writable,
            } => self.pending.push(DriverEvent::User {
                n,
                readable,
                writable,
            }),
            IoEvent::Refused { peer, reason } => {
                self.pending.push(DriverEvent::Refused { peer, reason })
            }
        }
    }

    /// A dial of `session` opened `conn`: run the session on it.
    fn opened(&mut self, session: SessionId, conn: ConnId, now: Instant) {
        let Some(link) = self.links.get_mut(&session) else {
            return;
        };
        let address = link.next;
        match self.host.attach(session, conn, true, now) {
            Ok(()) => {
                link.state = DialState::Up { conn, address };
                link.failed = 0;
                link.closed = None;
                link.ready = false;
                self.pending.push(DriverEvent::Connected {
                    session,
                    conn,
                    address,
                });
            }
            Err(e) => {
                self.links.remove(&session);
                self.by_conn.remove(&conn);
                self.io.close(conn);
                self.pending.push(DriverEvent::Disconnected {
                    session,
                    cause: Disconnect::Attach(e),
                    retry_in: None,
                });
            }
        }
        self.drain(None);
    }

    /// Dials the session's next address (or schedules the retry if the I/O refuses).
    fn dial(&mut self, session: SessionId) {
        loop {
            let Some(link) = self.links.get_mut(&session) else {
                return;
            };
            let address = link.next;
            match self.io.dial(&link.addresses[address]) {
                Ok(conn) => {
                    link.state = DialState::Dialing { conn, address };
                    link.ready = false;
                    self.by_conn.insert(conn, session);
                    return;
                }
                Err(e) => {
                    if !self.link_down(session, Disconnect::DialRefused(e), true) {
                        return;
                    }
                }
            }
        }
    }

    /// The session's connection is gone (or never came). Picks the next address (a failed
    /// dial, more addresses untried this round: at once) or waits; reports it. Returns
    /// whether to dial at once.
    fn link_down(&mut self, session: SessionId, cause: Disconnect, failed_dial: bool) -> bool {
        let now = self.now();
        let Some(link) = self.links.get_mut(&session) else {
            return false;
        };
        let n = link.addresses.len();
        // A connection that never got the session ready counts as a failed address.
        let failed = failed_dial || !link.ready;
        link.ready = false;
        let mut at_once = false;
        let retry = if failed {
            link.failed += 1;
            link.next = (link.next + 1) % n;
            if link.failed < n && failed_dial {
                at_once = true;
                Duration::ZERO
            } else if link.failed < n {
                // it connected, then failed: the next address, after the shortest pause
                jittered(
                    &mut self.config.backoff.initial.clone(),
                    self.config.backoff,
                )
            } else {
                link.failed = 0;
                jittered(&mut link.delay, self.config.backoff)
            }
        } else {
            // it was up and ready: start over at the same address after a pause
            link.failed = 0;
            jittered(&mut link.delay, self.config.backoff)
        };
        link.state = DialState::Waiting {
            until: now.saturating_add(retry),
        };
        self.pending.push(DriverEvent::Disconnected {
            session,
            cause,
            retry_in: Some(retry),
        });
        // Only untried addresses are dialed at once: a zero backoff must not spin.
        at_once
    }

    /// Drains the host into the I/O and `pending`. `frame`: the last frame fed, for
    /// `Forward`.
    fn drain(&mut self, frame: Option<&Io::Frame>) {
        loop {
            let out = match self.host.poll_output() {
                None => return,
                Some(HostOutput::Transmit { conn, frame }) => Out::Transmit(conn, frame),
                Some(HostOutput::Forward { from, to }) => Out::Forward(from, to),
                Some(HostOutput::Close { conn }) => Out::Close(conn),
                Some(HostOutput::Event { session, event }) => {
                    Out::Event(session, event.into_owned())
                }
                Some(_) => continue,
            };
            match out {
                Out::Transmit(conn, f) => self.io.send(conn, f),
                Out::Forward(from, to) => {
                    if let Some(f) = frame {
                        self.io.forward(from, to, f.clone());
                    }
                }
                Out::Close(conn) => {
                    self.io.close(conn);
                    match self.by_conn.remove(&conn) {
                        Some(session) => self.session_left(session),
                        None => {
                            if let Some(reason) = self.host.last_eviction() {
                                self.pending.push(DriverEvent::AcceptedClosed {
                                    conn,
                                    cause: Disconnect::Evicted(reason),
                                });
                            }
                        }
                    }
                }
                Out::Event(session, event) => {
                    let mut stop = false;
                    if let Some(link) = self.links.get_mut(&session) {
                        if event.is_ready() {
                            link.delay = self.config.backoff.initial;
                            link.ready = true;
                        }
                        if let Some(r) = event.closed() {
                            link.closed = Some(r);
                            // closed by the application through `host_mut()` while not on a
                            // connection: no `Close` follows, stop dialing here
                            stop = r == CloseReason::Local
                                && !matches!(link.state, DialState::Up { .. });
                        }
                    }
                    self.pending.push(DriverEvent::Session { session, event });
                    if stop {
                        self.disconnect(session);
                        self.pending.push(DriverEvent::Disconnected {
                            session,
                            cause: Disconnect::SessionClosed(CloseReason::Local),
                            retry_in: None,
                        });
                    }
                }
            }
        }
    }

    /// The host closed the connection of a dialing session: redial unless the application
    /// closed or removed it.
    fn session_left(&mut self, session: SessionId) {
        let gone = self.host.consumer(session).is_none() && self.host.provider(session).is_none();
        let Some(link) = self.links.get(&session) else {
            return;
        };
        let reason = link.closed.unwrap_or(CloseReason::TransportClosed);
        if gone || reason == CloseReason::Local {
            self.links.remove(&session);
            self.pending.push(DriverEvent::Disconnected {
                session,
                cause: Disconnect::SessionClosed(reason),
                retry_in: None,
            });
        } else {
            self.link_down(session, Disconnect::SessionClosed(reason), false);
        }
    }
}

/// The next delay from `delay` (drawn from [d/2, d]), doubling `delay` up to the maximum.
fn jittered(delay: &mut Duration, backoff: Backoff) -> Duration {
    let d = (*delay).min(backoff.max);
    *delay = d.saturating_mul(2).min(backoff.max);
    let ms = moneysocket_core::time::duration_millis(d);
    let half = ms / 2;
    let jitter = if ms > half {
        OsRng.next_u64() % (ms - half + 1)
    } else {
        0
    };
    Duration::from_millis(half + jitter)
}

impl<Io: FrameIo, const CONNS: usize> fmt::Debug for Driver<Io, CONNS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("sessions", &self.host.stats().sessions)
            .field("links", &self.links.len())
            .field("jobs", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_max() {
        let b = Backoff::default();
        let mut d = b.initial;
        let first = jittered(&mut d, b);
        assert!((125..=250).contains(&first.as_millis()), "{first:?}");
        assert_eq!(d, Duration::from_millis(500));
        for _ in 0..20 {
            let x = jittered(&mut d, b);
            assert!(x <= b.max, "{x:?}");
        }
        assert_eq!(d, b.max);
        let x = jittered(&mut d, b);
        assert!(x >= Duration::from_secs(15) && x <= Duration::from_secs(30));
    }
}
