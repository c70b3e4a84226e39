//! A deterministic simulated world of [`SessionHost`]s, the one harness of the session tests
//! (`core/tests/sessions.rs`) and the sessions fuzz target (`fuzz/fuzz_targets/sessions.rs`),
//! both of which include it by `#[path]` next to `test_rng.rs` (declare `mod test_rng` first).
//!
//! Host [`RELAY`] plays the relay: it only accepts connections (`HostInput::Opened/Frame/
//! Closed`), and it may hold listening sessions itself (the terminus shape). The other hosts
//! are endpoints whose sessions are attached to simulated connections to the relay. One
//! FIFO carries frames and closes in flight in both directions; the clock is simulated and
//! advanced through every host's `poll_timeout()`. A connection can be blackholed (what its
//! endpoint sends is lost), dropped (both ends hear `Closed` at once), or fed raw frames.
//!
//! Every drain checks what holds for any host: bounded queues, no lost outputs, a bounded
//! number of events per session and drain, a closed consumer has nothing pending, and a
//! due deadline does not stay due after the host was told (no busy loop).
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use moneysocket_core::conn::ConnId;
use moneysocket_core::host::{
    HostConfig, HostError, HostInput, HostOutput, HostedConsumer, HostedProvider, SessionEvent,
    SessionHost, SessionId,
};
use moneysocket_core::matchmaker::MatchmakerStats;
use moneysocket_core::message::opinion::OpinionMessage;
use moneysocket_core::message::{Message, ProviderInfo, Wad};
use moneysocket_core::seed::SharedSeed;
use moneysocket_core::session::{
    CloseReason, ConsumerConfig, ConsumerEvent, FrameRefusal, LinkState, ProviderConfig,
    ProviderEvent, RequestFailure, RequestKind, DEFAULT_PENDING, DEFAULT_QUEUE,
};
use moneysocket_core::time::Instant;
use moneysocket_core::uuid::Uuid;

use crate::test_rng::TestRng;

/// Every host of the world.
pub type Host = SessionHost<TestRng, 64>;

/// The relay host.
pub const RELAY: usize = 0;
/// The endpoint host [`World::new`] creates.
pub const CLIENT: usize = 1;
/// Most events one session reports in one drain (every request failing, expiry, a close).
pub const MAX_EVENTS: usize = DEFAULT_PENDING + 4;
/// Timeouts a host may take at one instant before its deadline must have moved on.
const BUSY: usize = 8;
/// Frames kept in [`World::wire`].
const WIRE_LOG: usize = 64;

/// A session of the world: an index into [`World::sessions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S(pub usize);

/// A session event, owned (the hosts' events borrow them until their next poll).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    WaitingForPeer,
    Paired,
    Refused(FrameRefusal),
    Closed(CloseReason),
    // Consumer events.
    ProviderNotReady,
    Provider(Update),
    Invoice {
        request: Uuid,
        bolt11: String,
    },
    Preimage {
        request: Option<Uuid>,
        preimage: [u8; 32],
    },
    Error {
        request: Option<Uuid>,
        message: String,
    },
    Pong {
        request: Uuid,
        rtt: Duration,
    },
    RequestFailed {
        request: Uuid,
        kind: RequestKind,
        reason: RequestFailure,
    },
    // Provider events.
    InfoRequested,
    ConsumerReady,
    InvoiceRequested {
        request: Uuid,
        msats: u64,
    },
    PayRequested {
        request: Uuid,
        bolt11: String,
    },
    RequestExpired {
        request: Uuid,
        kind: RequestKind,
    },
    RequestAbandoned {
        request: Uuid,
        kind: RequestKind,
    },
    /// An extension message (either role), its JSON.
    Extension(String),
    /// A variant this harness does not know yet.
    Other(String),
}

/// A `ConsumerEvent::Provider`, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub reference: Option<Uuid>,
    pub account_uuid: Uuid,
    pub payer: bool,
    pub payee: bool,
    pub msats: Option<u64>,
    pub json: Vec<u8>,
}

impl Update {
    pub fn wad(&self) -> Option<Wad<'_>> {
        Message::parse(&self.json).ok()?.provider_info()?.wad
    }
}

impl From<&SessionEvent<&str>> for Ev {
    fn from(e: &SessionEvent<&str>) -> Ev {
        match e {
            SessionEvent::Consumer(e) => match e {
                ConsumerEvent::WaitingForPeer => Ev::WaitingForPeer,
                ConsumerEvent::Paired => Ev::Paired,
                ConsumerEvent::ProviderNotReady => Ev::ProviderNotReady,
                ConsumerEvent::Provider(u) => Ev::Provider(Update {
                    reference: u.reference,
                    account_uuid: u.account_uuid,
                    payer: u.payer,
                    payee: u.payee,
                    msats: u.msats,
                    json: u.json().as_bytes().to_vec(),
                }),
                ConsumerEvent::Invoice { request, bolt11 } => Ev::Invoice {
                    request: *request,
                    bolt11: bolt11.to_string(),
                },
                ConsumerEvent::Preimage { request, preimage } => Ev::Preimage {
                    request: *request,
                    preimage: *preimage,
                },
                ConsumerEvent::Error { request, message } => Ev::Error {
                    request: *request,
                    message: message.to_string(),
                },
                ConsumerEvent::Pong { request, rtt } => Ev::Pong {
                    request: *request,
                    rtt: *rtt,
                },
                ConsumerEvent::RequestFailed {
                    request,
                    kind,
                    reason,
                } => Ev::RequestFailed {
                    request: *request,
                    kind: *kind,
                    reason: *reason,
                },
                ConsumerEvent::Extension { json } => Ev::Extension(json.to_string()),
                ConsumerEvent::Refused(r) => Ev::Refused(r.clone()),
                ConsumerEvent::Closed(r) => Ev::Closed(*r),
                other => Ev::Other(format!("{other:?}")),
            },
            SessionEvent::Provider(e) => match e {
                ProviderEvent::WaitingForPeer => Ev::WaitingForPeer,
                ProviderEvent::Paired => Ev::Paired,
                ProviderEvent::InfoRequested => Ev::InfoRequested,
                ProviderEvent::ConsumerReady => Ev::ConsumerReady,
                ProviderEvent::InvoiceRequested { request, msats } => Ev::InvoiceRequested {
                    request: *request,
                    msats: *msats,
                },
                ProviderEvent::PayRequested { request, bolt11 } => Ev::PayRequested {
                    request: *request,
                    bolt11: bolt11.to_string(),
                },
                ProviderEvent::RequestExpired { request, kind } => Ev::RequestExpired {
                    request: *request,
                    kind: *kind,
                },
                ProviderEvent::RequestAbandoned { request, kind } => Ev::RequestAbandoned {
                    request: *request,
                    kind: *kind,
                },
                ProviderEvent::Extension { json } => Ev::Extension(json.to_string()),
                ProviderEvent::Refused(r) => Ev::Refused(r.clone()),
                ProviderEvent::Closed(r) => Ev::Closed(*r),
                other => Ev::Other(format!("{other:?}")),
            },
            other => Ev::Other(format!("{other:?}")),
        }
    }
}

/// A session as the world knows it.
#[derive(Debug)]
pub struct Session {
    pub host: usize,
    pub id: SessionId,
    /// The connection it was last attached to.
    pub conn: Option<ConnId>,
    /// Events not taken yet ([`World::events`]).
    pub events: Vec<Ev>,
    /// Every frame it transmitted on a connection.
    pub sent: Vec<Vec<u8>>,
}

/// A simulated connection between an endpoint host (`client`; `None` for a raw connection
/// that only the relay sees) and the relay.
#[derive(Debug)]
struct Conn {
    client: Option<usize>,
    relay_open: bool,
    client_open: bool,
    /// What the client sends is lost.
    blackholed: bool,
}

#[derive(Debug)]
struct Flight {
    conn: ConnId,
    to_relay: bool,
    /// `None`: the sender closed (ordered after the frames it sent before).
    frame: Option<Vec<u8>>,
}

/// What a drain asks the world to do.
enum Act {
    Send(ConnId, Vec<u8>),
    Close(ConnId),
    Event(SessionId, Ev),
}

pub struct World {
    pub now: Instant,
    pub hosts: Vec<Host>,
    pub sessions: Vec<Session>,
    /// Deliver what is in flight after every operation (else call [`World::settle`] or
    /// [`World::pump`]).
    pub auto_settle: bool,
    /// Deliveries one settle may take before it is called a livelock.
    pub settle_budget: usize,
    /// The last frames put on the wire, both directions.
    pub wire: VecDeque<Vec<u8>>,
    conns: BTreeMap<ConnId, Conn>,
    in_flight: VecDeque<Flight>,
    next_conn: u32,
    /// The frame of the last `HostInput::Frame` (for `HostOutput::Forward`).
    last_frame: Vec<u8>,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// A relay (default config) and one endpoint host ([`CLIENT`]).
    pub fn new() -> World {
        World::with_relay(HostConfig::default())
    }

    pub fn with_relay(relay: HostConfig) -> World {
        let mut w = World {
            now: Instant(0),
            hosts: vec![SessionHost::new(relay, TestRng(99))],
            sessions: Vec::new(),
            auto_settle: true,
            settle_budget: 10_000,
            wire: VecDeque::new(),
            conns: BTreeMap::new(),
            in_flight: VecDeque::new(),
            next_conn: 0,
            last_frame: Vec::new(),
        };
        w.add_host(HostConfig::default());
        w
    }

    /// Another endpoint host; its index.
    pub fn add_host(&mut self, config: HostConfig) -> usize {
        let n = self.hosts.len();
        self.hosts
            .push(SessionHost::new(config, TestRng(100 + n as u64)));
        n
    }

    // ---- sessions ----

    pub fn add_consumer(&mut self, host: usize, seed: &SharedSeed, config: ConsumerConfig) -> S {
        let id = self.hosts[host].add_consumer(seed, config);
        self.track(host, id)
    }

    /// A provider, with `info` set if given.
    pub fn add_provider(
        &mut self,
        host: usize,
        seed: &SharedSeed,
        config: ProviderConfig,
        info: Option<&ProviderInfo<'_>>,
    ) -> S {
        let id = self.hosts[host].add_provider(seed, config, None);
        let s = self.track(host, id);
        if let Some(info) = info {
            self.set_info(s, info).expect("provider info");
        }
        s
    }

    /// A consumer with the default config on [`CLIENT`].
    pub fn consumer(&mut self, seed: &SharedSeed) -> S {
        self.add_consumer(CLIENT, seed, ConsumerConfig::default())
    }

    /// A provider with the default config on [`CLIENT`].
    pub fn provider(&mut self, seed: &SharedSeed, info: Option<&ProviderInfo<'_>>) -> S {
        self.add_provider(CLIENT, seed, ProviderConfig::default(), info)
    }

    fn track(&mut self, host: usize, id: SessionId) -> S {
        self.sessions.push(Session {
            host,
            id,
            conn: None,
            events: Vec::new(),
            sent: Vec::new(),
        });
        S(self.sessions.len() - 1)
    }

    pub fn id(&self, s: S) -> (usize, SessionId) {
        (self.sessions[s.0].host, self.sessions[s.0].id)
    }

    pub fn c(&self, s: S) -> &HostedConsumer {
        let (h, id) = self.id(s);
        self.hosts[h].consumer(id).expect("a consumer")
    }

    pub fn p(&self, s: S) -> &HostedProvider {
        let (h, id) = self.id(s);
        self.hosts[h].provider(id).expect("a provider")
    }

    /// Takes the session's events so far.
    pub fn events(&mut self, s: S) -> Vec<Ev> {
        std::mem::take(&mut self.sessions[s.0].events)
    }

    pub fn sent(&self, s: S) -> &[Vec<u8>] {
        &self.sessions[s.0].sent
    }

    /// The session's (last) connection.
    pub fn conn(&self, s: S) -> Option<ConnId> {
        self.sessions[s.0].conn
    }

    /// Whether the session's connection is open at its end.
    pub fn attached(&self, s: S) -> bool {
        self.conn(s)
            .and_then(|c| self.conns.get(&c))
            .is_some_and(|c| c.client_open)
    }

    pub fn relay_stats(&self) -> MatchmakerStats {
        self.hosts[RELAY].matchmaker_stats()
    }

    /// Runs an app call of session `s` on its host, then drains (and settles if auto).
    pub fn call<T>(&mut self, s: S, f: impl FnOnce(&mut Host, SessionId, Instant) -> T) -> T {
        let (h, id) = self.id(s);
        let r = f(&mut self.hosts[h], id, self.now);
        self.drain(h);
        self.settle_if_auto();
        r
    }

    pub fn request_invoice(&mut self, s: S, msats: u64) -> Result<Uuid, HostError> {
        self.call(s, |h, id, now| h.request_invoice(id, msats, now))
    }

    pub fn pay(&mut self, s: S, bolt11: &str) -> Result<Uuid, HostError> {
        self.call(s, |h, id, now| h.pay(id, bolt11, now))
    }

    pub fn set_info(&mut self, s: S, info: &ProviderInfo<'_>) -> Result<(), HostError> {
        self.call(s, |h, id, now| h.set_provider_info(id, info, now))
    }

    pub fn send_invoice(&mut self, s: S, request: Uuid, bolt11: &str) -> Result<(), HostError> {
        self.call(s, |h, id, now| h.send_invoice(id, request, bolt11, now))
    }

    pub fn send_preimage(
        &mut self,
        s: S,
        request: Option<Uuid>,
        preimage: &[u8; 32],
    ) -> Result<(), HostError> {
        self.call(s, |h, id, now| h.send_preimage(id, request, preimage, now))
    }

    pub fn send_error(&mut self, s: S, request: Option<Uuid>, text: &str) -> Result<(), HostError> {
        self.call(s, |h, id, now| h.send_error(id, request, text, now))
    }

    pub fn send_extension(&mut self, s: S, msg: &OpinionMessage<'_>) -> Result<(), HostError> {
        self.call(s, |h, id, now| h.send_extension(id, msg, now))
    }

    pub fn close(&mut self, s: S) -> Result<(), HostError> {
        self.call(s, |h, id, now| h.close(id, now))
    }

    // ---- connections ----

    /// Dials a new connection from the session's host to the relay, attaches the session
    /// and opens it (the relay first, as a socket accept precedes the client's first frame).
    pub fn connect(&mut self, s: S) -> Result<ConnId, HostError> {
        let (h, id) = self.id(s);
        assert_ne!(h, RELAY, "relay sessions listen");
        let conn = ConnId(self.next_conn);
        self.hosts[h].attach(id, conn, false, self.now)?;
        self.next_conn += 1;
        self.conns.insert(
            conn,
            Conn {
                client: Some(h),
                relay_open: true,
                client_open: true,
                blackholed: false,
            },
        );
        self.sessions[s.0].conn = Some(conn);
        self.input(RELAY, HostInput::Opened(conn));
        self.input(h, HostInput::Opened(conn));
        self.settle_if_auto();
        Ok(conn)
    }

    /// Puts the session in its host's matchmaker (on [`RELAY`]: the terminus shape).
    pub fn listen(&mut self, s: S) -> Result<(), HostError> {
        self.call(s, |h, id, now| h.listen(id, now))
    }

    /// A connection only the relay sees (what reaches it goes nowhere).
    pub fn raw_conn(&mut self) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            conn,
            Conn {
                client: None,
                relay_open: true,
                client_open: true,
                blackholed: false,
            },
        );
        self.input(RELAY, HostInput::Opened(conn));
        conn
    }

    /// Every connection the world made, oldest first.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// What the session sends from now on is lost.
    pub fn blackhole(&mut self, s: S) {
        let conn = self.conn(s).expect("connected");
        self.conns.get_mut(&conn).expect("known").blackholed = true;
    }

    /// The session's host opens its connection again without closing it first (a
    /// transport reconnecting under the same connection id).
    pub fn reopen(&mut self, s: S) {
        let (h, _) = self.id(s);
        if let Some(conn) = self.conn(s) {
            self.input(h, HostInput::Opened(conn));
            self.settle_if_auto();
        }
    }

    /// Network loss: both ends of `conn` hear `Closed` at once; what was in flight is lost.
    pub fn drop_conn(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let (relay, client) = (c.relay_open, c.client.filter(|_| c.client_open));
        c.relay_open = false;
        c.client_open = false;
        self.in_flight.retain(|f| f.conn != conn);
        if relay {
            self.input(RELAY, HostInput::Closed(conn));
        }
        if let Some(h) = client {
            self.input(h, HostInput::Closed(conn));
        }
        self.settle_if_auto();
    }

    pub fn drop_socket(&mut self, s: S) {
        if let Some(conn) = self.conn(s) {
            self.drop_conn(conn);
        }
    }

    /// Delivers `frame` to the session at once, as its relay could.
    pub fn inject(&mut self, s: S, frame: &[u8]) {
        let (h, _) = self.id(s);
        if let Some(conn) = self.conn(s) {
            self.input(h, HostInput::Frame(conn, frame));
            self.settle_if_auto();
        }
    }

    /// Delivers `frame` to the relay as if from `conn`.
    pub fn inject_relay(&mut self, conn: ConnId, frame: &[u8]) {
        self.input(RELAY, HostInput::Frame(conn, frame));
        self.settle_if_auto();
    }

    /// One input to host `h`, then its drain. `Closed` marks that end of the connection
    /// closed.
    pub fn input(&mut self, h: usize, input: HostInput<'_>) {
        match input {
            HostInput::Frame(_, f) => {
                self.last_frame.clear();
                self.last_frame.extend_from_slice(f);
            }
            HostInput::Closed(conn) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    if h == RELAY {
                        c.relay_open = false;
                    } else {
                        c.client_open = false;
                    }
                }
            }
            _ => {}
        }
        self.hosts[h].handle_input(input, self.now);
        self.drain(h);
    }

    /// Drains host `h`: frames and closes go on the wire, events to their sessions.
    pub fn drain(&mut self, h: usize) {
        let mut acts = Vec::new();
        while let Some(o) = self.hosts[h].poll_output() {
            acts.push(match o {
                HostOutput::Transmit { conn, frame } => Act::Send(conn, frame),
                HostOutput::Forward { to, .. } => Act::Send(to, self.last_frame.clone()),
                HostOutput::Close { conn } => Act::Close(conn),
                HostOutput::Event { session, event } => Act::Event(session, Ev::from(&event)),
                other => panic!("unknown host output {other:?}"),
            });
        }
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for a in acts {
            match a {
                Act::Send(conn, frame) => self.send(h, conn, frame),
                Act::Close(conn) => self.close_end(h, conn),
                Act::Event(id, ev) => {
                    let Some(i) = self.sessions.iter().position(|s| s.host == h && s.id == id)
                    else {
                        continue;
                    };
                    let n = counts.entry(i).or_default();
                    *n += 1;
                    assert!(*n <= MAX_EVENTS, "session {i}: {n} events in one drain");
                    self.sessions[i].events.push(ev);
                }
            }
        }
        self.check();
    }

    fn send(&mut self, h: usize, conn: ConnId, frame: Vec<u8>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let to_relay = h != RELAY;
        if to_relay {
            if let Some(s) = self
                .sessions
                .iter_mut()
                .find(|s| s.host == h && s.conn == Some(conn))
            {
                s.sent.push(frame.clone());
            }
        }
        if self.wire.len() == WIRE_LOG {
            self.wire.pop_front();
        }
        self.wire.push_back(frame.clone());
        let open = if to_relay {
            c.client_open && !c.blackholed
        } else {
            c.relay_open && c.client.is_some()
        };
        if open {
            self.in_flight.push_back(Flight {
                conn,
                to_relay,
                frame: Some(frame),
            });
        }
    }

    /// Host `h` closes its end of `conn`; the other end hears it after what is in flight.
    fn close_end(&mut self, h: usize, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let to_relay = h != RELAY;
        let other_open = if to_relay {
            c.client_open = false;
            c.relay_open
        } else {
            c.relay_open = false;
            c.client_open && c.client.is_some()
        };
        if other_open {
            self.in_flight.push_back(Flight {
                conn,
                to_relay,
                frame: None,
            });
        }
    }

    // ---- the network ----

    /// Delivers up to `n` frames (or closes) in flight.
    pub fn pump(&mut self, n: usize) {
        for _ in 0..n {
            let Some(f) = self.in_flight.pop_front() else {
                return;
            };
            let Some(c) = self.conns.get(&f.conn) else {
                continue;
            };
            let (h, open) = if f.to_relay {
                (Some(RELAY), c.relay_open)
            } else {
                (c.client, c.client_open)
            };
            let Some(h) = h.filter(|_| open) else {
                continue;
            };
            match &f.frame {
                Some(bytes) => self.input(h, HostInput::Frame(f.conn, bytes)),
                None => self.input(h, HostInput::Closed(f.conn)),
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Loses everything in flight.
    pub fn lose(&mut self) {
        self.in_flight.clear();
    }

    /// Delivers until nothing is in flight.
    pub fn settle(&mut self) {
        let mut budget = self.settle_budget;
        while !self.in_flight.is_empty() {
            if budget == 0 && self.now.0 == u64::MAX {
                // At the end of time every saturated deadline is due on each input, so a
                // retry can repeat forever. Not a realistic clock: drop what is in flight.
                self.in_flight.clear();
                return;
            }
            assert!(
                budget > 0,
                "no quiescence: {} in flight",
                self.in_flight.len()
            );
            budget -= 1;
            self.pump(1);
        }
    }

    pub fn settle_if_auto(&mut self) {
        if self.auto_settle {
            self.settle();
        }
    }

    // ---- the clock ----

    /// The earliest deadline of all hosts.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.hosts.iter().filter_map(|h| h.poll_timeout()).min()
    }

    /// Tells every host whose deadline is due; a deadline must not stay due (busy loop),
    /// except at the end of time, where saturated deadlines cannot move on.
    pub fn fire_due(&mut self) {
        for h in 0..self.hosts.len() {
            let mut n = 0;
            while self.hosts[h].poll_timeout().is_some_and(|d| d <= self.now) {
                if n == BUSY {
                    assert_eq!(
                        self.now.0,
                        u64::MAX,
                        "host {h} busy-loops: deadline {:?} stays due",
                        self.hosts[h].poll_timeout()
                    );
                    break;
                }
                n += 1;
                self.input(h, HostInput::Timeout);
            }
        }
    }

    /// Moves the clock to `target`, stopping at up to `stops` deadlines on the way (a
    /// punctual caller), then fires what is due at `target` (a late one).
    pub fn advance_to(&mut self, target: Instant, stops: usize) {
        for _ in 0..stops {
            let Some(t) = self.next_deadline().filter(|d| *d <= target) else {
                break;
            };
            self.now = self.now.max(t);
            self.fire_due();
            self.settle_if_auto();
        }
        self.now = self.now.max(target);
        self.fire_due();
        self.settle_if_auto();
    }

    /// Advances `secs` seconds, honouring every deadline on the way.
    pub fn advance(&mut self, secs: u64) {
        let target = Instant(self.now.0 + secs * 1000);
        self.advance_to(target, usize::MAX);
    }

    // ---- invariants ----

    /// What holds after any drain.
    pub fn check(&self) {
        for host in &self.hosts {
            let st = host.matchmaker_stats();
            assert_eq!(st.output_overflow, 0, "relay overflow");
            assert_eq!(st.encode_failures, 0, "relay encode failure");
        }
        for (i, s) in self.sessions.iter().enumerate() {
            let host = &self.hosts[s.host];
            if let Some(c) = host.consumer(s.id) {
                assert!(c.pending_outputs() <= DEFAULT_QUEUE);
                assert!(c.pending_requests() <= DEFAULT_PENDING);
                assert_eq!(c.stats().output_overflow, 0, "consumer {i} overflow");
                if c.is_ready() {
                    assert_eq!(c.link_state(), LinkState::Paired);
                }
                if c.is_closed() {
                    assert!(!c.is_ready());
                    assert_eq!(c.pending_requests(), 0, "consumer {i} closed with requests");
                }
            }
            if let Some(p) = host.provider(s.id) {
                assert!(p.pending_outputs() <= DEFAULT_QUEUE);
                assert!(p.outstanding_requests() <= DEFAULT_PENDING);
                assert_eq!(p.stats().output_overflow, 0, "provider {i} overflow");
                if p.is_closed() {
                    assert_eq!(
                        p.outstanding_requests(),
                        0,
                        "provider {i} closed with requests"
                    );
                }
            }
        }
    }
}

/// A seed whose first byte is `n`.
pub fn seed(n: u8) -> SharedSeed {
    SharedSeed::from_hex(&format!("{n:02x}0102030405060708090a0b0c0d0e0f")).unwrap()
}
