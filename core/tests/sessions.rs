//! Deterministic in-memory harness: consumers and providers wired through the relay
//! matchmaker, with a simulated clock. Every scenario of the engine issue runs here.

use std::collections::VecDeque;
use std::time::Duration;

use moneysocket_core::frame::FrameError;
use moneysocket_core::matchmaker::{self, ConnId, Matchmaker};
use moneysocket_core::message::{MessageKind, ProviderInfo, Wad};
use moneysocket_core::seed::SharedSeed;
use moneysocket_core::session::{
    CloseReason, Consumer, ConsumerConfig, ConsumerEvent, Input, Output, Provider, ProviderConfig,
    ProviderEvent, Refusal, RequestFailure, RequestKind, SessionError,
};
use moneysocket_core::time::Instant;
use moneysocket_core::uuid::Uuid;

#[path = "support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

type C = Consumer<TestRng>;
type P = Provider<TestRng>;
type CEvent = ConsumerEvent<2048>;
type PEvent = ProviderEvent<2048>;

enum Session {
    Consumer(Box<C>),
    Provider(Box<P>),
}

/// One endpoint: a session on a simulated socket to the relay.
struct Endpoint {
    session: Session,
    conn: ConnId,
    /// The socket is open (the relay knows this connection).
    open: bool,
    deadline: Option<Instant>,
    consumer_events: Vec<CEvent>,
    provider_events: Vec<PEvent>,
    /// Every frame this endpoint transmitted.
    sent: Vec<Vec<u8>>,
}

/// Endpoint index.
type Ep = usize;

struct World {
    now: Instant,
    relay: Matchmaker<TestRng, 16, 64>,
    relay_deadline: Option<Instant>,
    eps: Vec<Endpoint>,
    next_conn: u32,
    /// Frames from these connections are silently dropped by the "network".
    blackholed: Vec<ConnId>,
    /// Frames in flight: (to relay from conn) or (to endpoint).
    to_relay: VecDeque<(ConnId, Vec<u8>)>,
}

fn seed(n: u8) -> SharedSeed {
    SharedSeed::from_hex(&format!("{n:02x}0102030405060708090a0b0c0d0e0f")).unwrap()
}

fn info(msats: u64) -> ProviderInfo<'static> {
    ProviderInfo {
        account_uuid: Uuid::v4_from_bytes([0x42; 16]),
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(msats)),
    }
}

const BOLT11: &str = "lnbc10u1pwjqwkkpp5vlc3tttdzhpk9fwzkkue0sf2pumtza7qyw9vucxyyeh0yaqq66yqdq5f38z6anwvdhkjmmnxcqzysxqrrsssp5m6kmam774klwlh4dhmhaatd7al02m0h0m6kmam774klwlh4dhmhs9qypqqqcqpf3cwux5979a8j28d4ydwahx00saa68wq3az7v9jdgzkghtxnkf3z5t7q5suyq2dl9tqwsap8j0wptc82cpyvey9gf6zyylzrm60qtcqsq7egtsq";

impl World {
    fn new() -> Self {
        let config = matchmaker::Config {
            unpaired_timeout: Duration::from_secs(600),
            unix_offset_ms: 1_700_000_000_000,
        };
        World {
            now: Instant(0),
            relay: Matchmaker::new(config, TestRng(99)),
            relay_deadline: None,
            eps: Vec::new(),
            next_conn: 0,
            blackholed: Vec::new(),
            to_relay: VecDeque::new(),
        }
    }

    fn with_unpaired_timeout(secs: u64) -> Self {
        let mut w = World::new();
        w.relay = Matchmaker::new(
            matchmaker::Config {
                unpaired_timeout: Duration::from_secs(secs),
                unix_offset_ms: 0,
            },
            TestRng(98),
        );
        w
    }

    fn add(&mut self, session: Session) -> Ep {
        let conn = ConnId(u32::MAX); // assigned on connect
        self.eps.push(Endpoint {
            session,
            conn,
            open: false,
            deadline: None,
            consumer_events: Vec::new(),
            provider_events: Vec::new(),
            sent: Vec::new(),
        });
        self.eps.len() - 1
    }

    fn consumer(&mut self, seed: &SharedSeed) -> Ep {
        let rng = TestRng(1000 + self.eps.len() as u64);
        self.add(Session::Consumer(Box::new(Consumer::new(
            seed,
            ConsumerConfig::default(),
            rng,
        ))))
    }

    fn provider(&mut self, seed: &SharedSeed, info: Option<ProviderInfo<'_>>) -> Ep {
        let rng = TestRng(2000 + self.eps.len() as u64);
        let mut p = Box::new(Provider::new(seed, ProviderConfig::default(), rng));
        if let Some(i) = info {
            p.set_provider_info(&i, self.now).unwrap();
        }
        self.add(Session::Provider(p))
    }

    fn c(&mut self, ep: Ep) -> &mut C {
        match &mut self.eps[ep].session {
            Session::Consumer(c) => c,
            Session::Provider(_) => panic!("not a consumer"),
        }
    }

    fn p(&mut self, ep: Ep) -> &mut P {
        match &mut self.eps[ep].session {
            Session::Provider(p) => p,
            Session::Consumer(_) => panic!("not a provider"),
        }
    }

    /// Opens a new socket for `ep` to the relay and runs until quiet.
    fn connect(&mut self, ep: Ep) {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        self.eps[ep].conn = conn;
        self.eps[ep].open = true;
        self.relay_input(matchmaker::Input::Opened(conn));
        self.session_input(ep, Input::Opened);
        self.settle();
    }

    fn ep_of(&self, conn: ConnId) -> Option<Ep> {
        self.eps.iter().position(|e| e.open && e.conn == conn)
    }

    fn session_input(&mut self, ep: Ep, input: Input<'_>) {
        let now = self.now;
        match &mut self.eps[ep].session {
            Session::Consumer(c) => c.handle_input(input, now),
            Session::Provider(p) => p.handle_input(input, now),
        }
        self.drain(ep);
    }

    /// Drains an endpoint's outputs: frames go to the relay, a Closed event closes the socket.
    fn drain(&mut self, ep: Ep) {
        let mut close = false;
        loop {
            let e = &mut self.eps[ep];
            let (frame, deadline) = match &mut e.session {
                Session::Consumer(c) => match c.poll_output() {
                    None => break,
                    Some(Output::Transmit(f)) => (Some(f.to_vec()), None),
                    Some(Output::Timeout(d)) => (None, Some(d)),
                    Some(Output::Event(ev)) => {
                        close |= matches!(ev, ConsumerEvent::Closed(_));
                        e.consumer_events.push(ev);
                        (None, None)
                    }
                },
                Session::Provider(p) => match p.poll_output() {
                    None => break,
                    Some(Output::Transmit(f)) => (Some(f.to_vec()), None),
                    Some(Output::Timeout(d)) => (None, Some(d)),
                    Some(Output::Event(ev)) => {
                        close |= matches!(ev, ProviderEvent::Closed(_));
                        e.provider_events.push(ev);
                        (None, None)
                    }
                },
            };
            if let Some(d) = deadline {
                e.deadline = d;
            }
            if let Some(f) = frame {
                e.sent.push(f.clone());
                if e.open && !self.blackholed.contains(&e.conn) {
                    self.to_relay.push_back((e.conn, f));
                }
            }
        }
        if close && self.eps[ep].open {
            self.eps[ep].open = false;
            let conn = self.eps[ep].conn;
            self.relay_input(matchmaker::Input::Closed(conn));
        }
    }

    fn relay_input(&mut self, input: matchmaker::Input<'_>) {
        let frame = match input {
            matchmaker::Input::Frame(_, f) => f.to_vec(),
            _ => Vec::new(),
        };
        self.relay.handle_input(input, self.now);
        let mut deliveries = Vec::new();
        while let Some(o) = self.relay.poll_output() {
            match o {
                matchmaker::Output::Transmit { conn, frame } => {
                    deliveries.push((conn, Some(frame.to_vec())))
                }
                matchmaker::Output::Forward { to, .. } => {
                    deliveries.push((to, Some(frame.clone())))
                }
                matchmaker::Output::Close { conn, .. } => deliveries.push((conn, None)),
                matchmaker::Output::Timeout(d) => self.relay_deadline = Some(d),
            }
        }
        for (conn, f) in deliveries {
            let Some(ep) = self.ep_of(conn) else { continue };
            match f {
                Some(f) => self.session_input(ep, Input::Frame(&f)),
                None => {
                    // The relay closed the socket.
                    self.eps[ep].open = false;
                    self.session_input(ep, Input::Closed);
                }
            }
        }
    }

    /// Delivers frames until nothing is in flight.
    fn settle(&mut self) {
        let mut budget = 10_000;
        while let Some((conn, f)) = self.to_relay.pop_front() {
            budget -= 1;
            assert!(budget > 0, "no quiescence");
            if self.ep_of(conn).is_some() {
                self.relay_input(matchmaker::Input::Frame(conn, &f));
            }
        }
    }

    /// Delivers a frame straight to an endpoint, as a relay could.
    fn inject(&mut self, ep: Ep, frame: &[u8]) {
        self.session_input(ep, Input::Frame(frame));
        self.settle();
    }

    /// Closes an endpoint's socket from outside (network loss).
    fn drop_socket(&mut self, ep: Ep) {
        self.eps[ep].open = false;
        let conn = self.eps[ep].conn;
        self.relay_input(matchmaker::Input::Closed(conn));
        self.session_input(ep, Input::Closed);
        self.settle();
    }

    /// Advances the clock by `secs`, firing every deadline on the way.
    fn advance(&mut self, secs: u64) {
        let target = Instant(self.now.0 + secs * 1000);
        loop {
            let next = self
                .eps
                .iter()
                .filter_map(|e| e.deadline)
                .chain(self.relay_deadline)
                .filter(|d| *d <= target)
                .min();
            let Some(t) = next else { break };
            self.now = self.now.max(t);
            if self.relay_deadline.is_some_and(|d| d <= self.now) {
                self.relay_deadline = None;
                self.relay_input(matchmaker::Input::Timeout);
            }
            for ep in 0..self.eps.len() {
                if self.eps[ep].deadline.is_some_and(|d| d <= self.now) {
                    self.eps[ep].deadline = None;
                    self.session_input(ep, Input::Timeout);
                }
            }
            self.settle();
        }
        self.now = target;
    }

    fn cev(&mut self, ep: Ep) -> Vec<CEvent> {
        std::mem::take(&mut self.eps[ep].consumer_events)
    }

    fn pev(&mut self, ep: Ep) -> Vec<PEvent> {
        std::mem::take(&mut self.eps[ep].provider_events)
    }

    /// A consumer and a ready provider, paired and past the handshake.
    fn ready_pair(seed_n: u8) -> (World, Ep, Ep) {
        let mut w = World::new();
        let s = seed(seed_n);
        let p = w.provider(&s, Some(info(50_000_000)));
        let c = w.consumer(&s);
        w.connect(p);
        w.connect(c);
        assert!(w.c(c).is_ready(), "consumer not ready: {:?}", w.cev(c));
        assert!(w.p(p).is_ready());
        w.cev(c);
        w.pev(p);
        (w, c, p)
    }
}

fn closed_reasons_c(events: &[CEvent]) -> Vec<CloseReason> {
    events
        .iter()
        .filter_map(|e| match e {
            ConsumerEvent::Closed(r) => Some(*r),
            _ => None,
        })
        .collect()
}

#[test]
fn happy_path() {
    let mut w = World::new();
    let s = seed(1);
    let p = w.provider(&s, Some(info(50_000_000)));
    let c = w.consumer(&s);
    w.connect(p);
    assert_eq!(w.pev(p), vec![ProviderEvent::WaitingForPeer]);
    w.connect(c);
    let ev = w.cev(c);
    assert!(matches!(ev[0], ConsumerEvent::Paired), "{ev:?}");
    let ConsumerEvent::Provider(update) = &ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(update.msats, Some(50_000_000));
    assert_eq!(update.account_uuid, Uuid::v4_from_bytes([0x42; 16]));
    assert!(update.payer && update.payee);
    assert_eq!(update.wad().unwrap().code.as_str(), Some("BTC"));
    // The first keepalive ping goes out right after the handshake and is answered.
    assert!(matches!(ev[2], ConsumerEvent::Pong { .. }), "{ev:?}");
    assert_eq!(
        w.pev(p),
        vec![ProviderEvent::Paired, ProviderEvent::ConsumerReady]
    );

    // Invoice.
    let now = w.now;
    let req = w.c(c).request_invoice(1_000, now).unwrap();
    w.drain(c);
    w.settle();
    assert_eq!(
        w.pev(p),
        vec![ProviderEvent::InvoiceRequested {
            request: req,
            msats: 1_000
        }]
    );
    let now = w.now;
    w.p(p).send_invoice(req, BOLT11, now).unwrap();
    w.drain(p);
    w.settle();
    let ev = w.cev(c);
    assert!(
        matches!(&ev[..], [ConsumerEvent::Invoice { request, bolt11 }] if *request == req && bolt11 == BOLT11),
        "{ev:?}"
    );

    // Pay, answered with a preimage and a balance update.
    let pay = w.c(c).pay(BOLT11, now).unwrap();
    w.drain(c);
    w.settle();
    let ev = w.pev(p);
    assert!(
        matches!(&ev[..], [ProviderEvent::PayRequested { request, bolt11 }] if *request == pay && bolt11 == BOLT11),
        "{ev:?}"
    );
    w.p(p).send_preimage(Some(pay), &[0xab; 32], now).unwrap();
    w.p(p).set_provider_info(&info(49_000_000), now).unwrap();
    w.drain(p);
    w.settle();
    let ev = w.cev(c);
    assert_eq!(
        ev[0],
        ConsumerEvent::Preimage {
            request: Some(pay),
            preimage: [0xab; 32]
        }
    );
    assert!(
        matches!(&ev[1], ConsumerEvent::Provider(u) if u.msats == Some(49_000_000) && u.reference.is_none()),
        "{ev:?}"
    );
    assert_eq!(w.c(c).balance_msats(), Some(49_000_000));

    // An invoice of ours was paid: unsolicited preimage, then the new balance.
    w.p(p).send_preimage(None, &[0xcd; 32], now).unwrap();
    w.p(p).set_provider_info(&info(50_000_000), now).unwrap();
    w.drain(p);
    w.settle();
    let ev = w.cev(c);
    assert_eq!(
        ev[0],
        ConsumerEvent::Preimage {
            request: None,
            preimage: [0xcd; 32]
        }
    );
    assert!(matches!(&ev[1], ConsumerEvent::Provider(u) if u.msats == Some(50_000_000)));

    // An error answer to a request, and keepalive keeps the link up for minutes.
    let req = w.c(c).request_invoice(5, now).unwrap();
    w.drain(c);
    w.settle();
    w.pev(p);
    w.p(p)
        .send_error(Some(req), "account cap exceeded", now)
        .unwrap();
    w.drain(p);
    w.settle();
    assert_eq!(
        w.cev(c),
        vec![ConsumerEvent::Error {
            request: Some(req),
            message: "account cap exceeded".try_into().unwrap()
        }]
    );
    w.advance(300);
    let ev = w.cev(c);
    assert!(ev.len() >= 50, "{}", ev.len());
    assert!(
        ev.iter().all(|e| matches!(e, ConsumerEvent::Pong { .. })),
        "{ev:?}"
    );
    assert_eq!(w.p(p).stats().output_overflow, 0);
    assert_eq!(w.c(c).stats().output_overflow, 0);
}

#[test]
fn app_calls_are_checked() {
    let (mut w, c, p) = World::ready_pair(2);
    let now = w.now;
    assert_eq!(
        w.c(c).request_invoice(0, now),
        Err(SessionError::InvalidAmount)
    );
    assert_eq!(w.c(c).pay("lntb1xyz", now), Err(SessionError::NotBolt11));
    assert_eq!(
        w.p(p)
            .send_invoice(Uuid::v4_from_bytes([1; 16]), "nope", now),
        Err(SessionError::NotBolt11)
    );
    // Too many outstanding requests.
    for _ in 0..8 {
        w.c(c).request_invoice(1, now).unwrap();
    }
    assert_eq!(
        w.c(c).request_invoice(1, now),
        Err(SessionError::TooManyPending)
    );
    let mut fresh: C = Consumer::new(&seed(2), ConsumerConfig::default(), TestRng(5));
    assert_eq!(fresh.request_invoice(1, now), Err(SessionError::NotReady));
    fresh.close(now);
    assert_eq!(fresh.request_invoice(1, now), Err(SessionError::Closed));
    // A wad Python would reject never reaches the wire.
    let mut bad = info(1);
    let mut wad = Wad::bitcoin(1);
    wad.decimals = Some(11);
    bad.wad = Some(wad);
    assert_eq!(
        w.p(p).set_provider_info(&bad, now),
        Err(SessionError::InvalidProviderInfo)
    );
}

#[test]
fn provider_not_ready_then_ready() {
    let mut w = World::new();
    let s = seed(3);
    let p = w.provider(&s, None);
    let c = w.consumer(&s);
    w.connect(p);
    w.connect(c);
    assert_eq!(
        w.cev(c),
        vec![ConsumerEvent::Paired, ConsumerEvent::ProviderNotReady]
    );
    assert_eq!(
        w.pev(p),
        vec![
            ProviderEvent::WaitingForPeer,
            ProviderEvent::Paired,
            ProviderEvent::InfoRequested
        ]
    );
    // The consumer keeps asking.
    w.advance(11);
    assert_eq!(
        w.cev(c),
        vec![
            ConsumerEvent::ProviderNotReady,
            ConsumerEvent::ProviderNotReady
        ]
    );
    assert!(w.pev(p).is_empty());
    assert!(!w.c(c).is_ready());
    let now = w.now;
    w.p(p).set_provider_info(&info(7_000), now).unwrap();
    w.drain(p);
    w.settle();
    assert_eq!(w.pev(p), vec![ProviderEvent::ConsumerReady]);
    let ev = w.cev(c);
    assert!(
        matches!(&ev[0], ConsumerEvent::Provider(u) if u.msats == Some(7_000) && u.reference.is_some()),
        "{ev:?}"
    );
    assert!(w.c(c).is_ready());
}

#[test]
fn ping_timeout_closes() {
    let (mut w, c, p) = World::ready_pair(4);
    // The provider's frames stop arriving (a half-dead link).
    let pc = w.eps[p].conn;
    w.blackholed.push(pc);
    let now = w.now;
    let req = w.c(c).request_invoice(1_000, now).unwrap();
    w.drain(c);
    w.settle();
    w.advance(30);
    let ev = w.cev(c);
    assert_eq!(closed_reasons_c(&ev), vec![CloseReason::PongTimeout]);
    assert!(ev.contains(&ConsumerEvent::RequestFailed {
        request: req,
        kind: RequestKind::Invoice,
        reason: RequestFailure::LinkClosed
    }));
    // The relay saw the consumer go and told the provider.
    assert_eq!(
        w.pev(p).last(),
        Some(&ProviderEvent::Closed(CloseReason::PeerGone))
    );
}

#[test]
fn request_timeout_errors() {
    let (mut w, c, p) = World::ready_pair(5);
    let now = w.now;
    let req = w.c(c).pay(BOLT11, now).unwrap();
    w.drain(c);
    w.settle();
    assert_eq!(w.pev(p).len(), 1);
    w.advance(119);
    assert!(w
        .cev(c)
        .iter()
        .all(|e| matches!(e, ConsumerEvent::Pong { .. })));
    w.advance(2);
    let ev = w.cev(c);
    assert!(
        ev.contains(&ConsumerEvent::RequestFailed {
            request: req,
            kind: RequestKind::Pay,
            reason: RequestFailure::TimedOut
        }),
        "{ev:?}"
    );
    // A late answer is ignored, the link stays up.
    let now = w.now;
    w.p(p).send_preimage(Some(req), &[1; 32], now).unwrap();
    w.drain(p);
    w.settle();
    assert!(w.cev(c).is_empty());
    assert_eq!(w.c(c).stats().ignored_answers, 1);
    assert!(w.c(c).is_ready());
}

#[test]
fn peer_closes_mid_request() {
    let (mut w, c, p) = World::ready_pair(6);
    let now = w.now;
    let req = w.c(c).pay(BOLT11, now).unwrap();
    w.drain(c);
    w.settle();
    w.drop_socket(p);
    let ev = w.cev(c);
    assert_eq!(
        ev,
        vec![
            ConsumerEvent::RequestFailed {
                request: req,
                kind: RequestKind::Pay,
                reason: RequestFailure::LinkClosed
            },
            ConsumerEvent::Closed(CloseReason::PeerGone)
        ]
    );
    assert_eq!(w.relay.stats().pairs, 0);
    assert!(w.relay.is_empty());
}

#[test]
fn third_party_on_a_paired_id_is_refused_and_the_pair_keeps_working() {
    let (mut w, c, p) = World::ready_pair(7);
    let intruder = w.consumer(&seed(7));
    w.connect(intruder);
    assert_eq!(
        w.cev(intruder),
        vec![ConsumerEvent::Closed(CloseReason::RendezvousRefused)]
    );
    assert_eq!(w.relay.stats().refused_already_paired, 1);
    assert!(w.cev(c).is_empty());
    assert!(w.pev(p).is_empty());
    let now = w.now;
    let req = w.c(c).request_invoice(9, now).unwrap();
    w.drain(c);
    w.settle();
    assert_eq!(
        w.pev(p),
        vec![ProviderEvent::InvoiceRequested {
            request: req,
            msats: 9
        }]
    );
}

#[test]
fn unpaired_expiry() {
    let mut w = World::with_unpaired_timeout(60);
    let c = w.consumer(&seed(8));
    w.connect(c);
    assert_eq!(w.cev(c), vec![ConsumerEvent::WaitingForPeer]);
    w.advance(59);
    assert!(w.cev(c).is_empty());
    w.advance(2);
    assert_eq!(
        w.cev(c),
        vec![ConsumerEvent::Closed(CloseReason::TransportClosed)]
    );
    assert_eq!(w.relay.stats().expired_unpaired, 1);
}

#[test]
fn reconnect_with_the_same_beacon() {
    let (mut w, c, p) = World::ready_pair(9);
    w.drop_socket(c);
    assert_eq!(w.pev(p), vec![ProviderEvent::Closed(CloseReason::PeerGone)]);
    assert_eq!(
        w.cev(c),
        vec![ConsumerEvent::Closed(CloseReason::TransportClosed)]
    );
    // Both dial again with the same sessions (same seed).
    w.connect(c);
    w.connect(p);
    let ev = w.cev(c);
    assert!(
        matches!(
            &ev[..3],
            [
                ConsumerEvent::WaitingForPeer,
                ConsumerEvent::Paired,
                ConsumerEvent::Provider(_)
            ]
        ),
        "{ev:?}"
    );
    assert!(w.c(c).is_ready() && w.p(p).is_ready());
    let now = w.now;
    let req = w.c(c).request_invoice(3, now).unwrap();
    w.drain(c);
    w.settle();
    assert_eq!(
        w.pev(p).last(),
        Some(&ProviderEvent::InvoiceRequested {
            request: req,
            msats: 3
        })
    );
    assert_eq!(w.relay.stats().pairs_formed, 2);
}

#[test]
fn relay_injected_cleartext_pay_is_refused() {
    let (mut w, _c, p) = World::ready_pair(10);
    let pay = br#"{"timestamp": 1612345678.1, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "REQUEST", "request_uuid": "35cefcb2-cab0-4cca-9655-3e110b736efa", "request_name": "REQUEST_PAY", "bolt11": "lnbc1fake"}"#;
    w.inject(p, pay);
    assert_eq!(
        w.pev(p),
        vec![ProviderEvent::Refused(Refusal::Frame(
            FrameError::ClearShouldBeEncrypted(MessageKind::RequestPay)
        ))]
    );
    assert!(w.p(p).is_ready());
}

#[test]
fn replayed_and_garbled_ciphertext_is_refused() {
    let (mut w, c, p) = World::ready_pair(11);
    let now = w.now;
    w.c(c).pay(BOLT11, now).unwrap();
    w.drain(c);
    w.settle();
    assert_eq!(w.pev(p).len(), 1);
    let frame = w.eps[c].sent.last().unwrap().clone();
    w.inject(p, &frame);
    assert_eq!(
        w.pev(p),
        vec![ProviderEvent::Refused(Refusal::Replayed(
            MessageKind::RequestPay
        ))]
    );
    // Every single-byte corruption is refused or (IV bytes) yields a replay; never a panic,
    // never a second pay request with a different uuid.
    for i in 0..frame.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = frame.clone();
            bad[i] ^= flip;
            w.inject(p, &bad);
        }
    }
    let ev = w.pev(p);
    assert!(
        ev.iter().all(|e| matches!(e, ProviderEvent::Refused(_))),
        "{ev:?}"
    );
    // Truncated, empty and oversized frames.
    w.inject(p, &frame[..frame.len() - 1]);
    w.inject(p, &[]);
    w.inject(p, &vec![0x41; 5000]);
    let ev = w.pev(p);
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert!(ev.iter().all(|e| matches!(e, ProviderEvent::Refused(_))));
    assert!(w.p(p).is_ready() && w.c(c).is_ready());
}

#[test]
fn consumer_meeting_consumer_is_a_clear_error() {
    let mut w = World::new();
    let s = seed(12);
    let a = w.consumer(&s);
    let b = w.consumer(&s);
    w.connect(a);
    w.connect(b);
    assert!(closed_reasons_c(&w.cev(a)).contains(&CloseReason::WrongRole));
    let ev = w.cev(b);
    let reasons = closed_reasons_c(&ev);
    assert!(
        reasons == [CloseReason::WrongRole] || reasons == [CloseReason::PeerGone],
        "{ev:?}"
    );
}

#[test]
fn provider_meeting_provider_is_a_clear_error() {
    let mut w = World::new();
    let s = seed(13);
    let a = w.provider(&s, Some(info(1)));
    let b = w.provider(&s, Some(info(1)));
    w.connect(a);
    w.connect(b);
    w.advance(31);
    let ea = w.pev(a);
    let eb = w.pev(b);
    let closed = |ev: &[PEvent]| {
        ev.iter()
            .find_map(|e| match e {
                ProviderEvent::Closed(r) => Some(*r),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(closed(&ea), CloseReason::HandshakeTimeout, "{ea:?}");
    assert!(matches!(
        closed(&eb),
        CloseReason::HandshakeTimeout | CloseReason::PeerGone
    ));
}

#[test]
fn terminus_error_msg_array_is_tolerated() {
    // Pitfall 15.28: the terminus sends a JSON array as error_msg for amount-less invoices.
    let (mut w, c, _p) = World::ready_pair(14);
    let now = w.now;
    let req = w.c(c).pay(BOLT11, now).unwrap();
    w.drain(c);
    w.settle();
    let text = format!(
        r#"{{"timestamp": 1.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "NOTIFICATION", "notification_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a11", "request_reference_uuid": "{req}", "notification_name": "NOTIFY_ERROR", "error_msg": ["no amount", 0]}}"#
    );
    w.inject(c, &seal_for(14, &text));
    assert_eq!(
        w.cev(c),
        vec![ConsumerEvent::Error {
            request: Some(req),
            message: r#"["no amount", 0]"#.try_into().unwrap()
        }]
    );
}

#[test]
fn go_relay_end_with_empty_reference_is_understood() {
    let (mut w, c, _p) = World::ready_pair(15);
    let rid = w.c(c).rendezvous_id().to_owned();
    let end = format!(
        r#"{{"timestamp":1.0,"protocol":"Moneysocket","protocol_version":"0.0.0","message_class":"NOTIFICATION","notification_uuid":"9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a11","request_reference_uuid":"","notification_name":"NOTIFY_RENDEZVOUS_END","rendezvous_id":"{rid}"}}"#
    );
    w.inject(c, end.as_bytes());
    assert_eq!(closed_reasons_c(&w.cev(c)), vec![CloseReason::PeerGone]);
}

#[test]
fn consumer_sends_the_reference_wire() {
    // The first frame is the cleartext REQUEST_RENDEZVOUS for the beacon's rendezvous id, in
    // Python's json.dumps layout; everything after pairing is ciphertext.
    let (w, c, _p) = World::ready_pair(16);
    let first = String::from_utf8(w.eps[c].sent[0].clone()).unwrap();
    let rid = seed(16).v0_rendezvous_id().to_hex();
    assert!(first.starts_with(r#"{"timestamp": "#), "{first}");
    assert!(
        first.contains(r#""request_name": "REQUEST_RENDEZVOUS", "rendezvous_id": ""#),
        "{first}"
    );
    assert!(first.contains(rid.as_str()));
    for f in &w.eps[c].sent[1..] {
        assert!(!moneysocket_core::frame::is_cleartext(f));
        assert_eq!((f.len() - 16) % 16, 0);
    }
}

/// Seals `text` with the seed's key, as a peer would.
fn seal_for(seed_n: u8, text: &str) -> Vec<u8> {
    let key = seed(seed_n).v0_aes_key();
    let mut out = vec![0u8; moneysocket_core::frame::sealed_len(text.len())];
    moneysocket_core::frame::seal(&key, [5; 16], text.as_bytes(), &mut out)
        .unwrap()
        .to_vec()
}

#[test]
fn provider_that_never_pongs_is_tolerated_unless_strict() {
    // Pitfall 15.30: a consumer must not require pongs from a provider that never sends any.
    for strict in [false, true] {
        let mut w = World::new();
        let s = seed(17);
        let config = ConsumerConfig {
            strict_pong: strict,
            ..ConsumerConfig::default()
        };
        let c = w.add(Session::Consumer(Box::new(Consumer::new(
            &s,
            config,
            TestRng(4),
        ))));
        w.connect(c);
        let rid = w.c(c).rendezvous_id().to_owned();
        // A hand-made peer: the relay pairs us, a provider answers the handshake, and then
        // stays silent (our pings reach nobody).
        let paired = format!(
            r#"{{"timestamp": 1.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "NOTIFICATION", "notification_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a11", "request_reference_uuid": null, "notification_name": "NOTIFY_RENDEZVOUS", "rendezvous_id": "{rid}"}}"#
        );
        w.inject(c, paired.as_bytes());
        let provider = r#"{"timestamp": 1.0, "protocol": "Moneysocket", "protocol_version": "0.0.0", "message_class": "NOTIFICATION", "notification_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a12", "request_reference_uuid": null, "notification_name": "NOTIFY_PROVIDER", "account_uuid": "9a4d1b0e-5b86-4b71-9d56-0c8a0d8f5a13", "payer": true, "payee": false, "wad": null}"#;
        w.inject(c, &seal_for(17, provider));
        assert!(w.c(c).is_ready());
        assert_eq!(w.c(c).balance_msats(), None);
        w.advance(120);
        let reasons = closed_reasons_c(&w.cev(c));
        if strict {
            assert_eq!(reasons, vec![CloseReason::PongTimeout]);
        } else {
            assert!(reasons.is_empty(), "{reasons:?}");
            assert!(w.c(c).is_ready());
            assert!(w.c(c).stats().unanswered_pings >= 5);
        }
    }
}

fn drain_c(c: &mut C) -> (Vec<Vec<u8>>, Vec<CEvent>, Option<Instant>) {
    let (mut frames, mut events, mut deadline) = (Vec::new(), Vec::new(), None);
    while let Some(o) = c.poll_output() {
        match o {
            Output::Transmit(f) => frames.push(f.to_vec()),
            Output::Event(e) => events.push(e),
            Output::Timeout(d) => deadline = d,
        }
    }
    (frames, events, deadline)
}

#[test]
fn rendezvous_timeout_is_announced() {
    // Found by the sessions fuzz target: the deadline was kept but never reported.
    let config = ConsumerConfig {
        rendezvous_timeout: Some(Duration::from_secs(10)),
        ..ConsumerConfig::default()
    };
    let mut c: C = Consumer::new(&seed(18), config, TestRng(1));
    c.handle_input(Input::Opened, Instant(5));
    let (frames, _, deadline) = drain_c(&mut c);
    assert_eq!(frames.len(), 1);
    assert_eq!(deadline, Some(Instant(10_005)));
    c.handle_input(Input::Timeout, Instant(10_005));
    let (_, events, deadline) = drain_c(&mut c);
    assert_eq!(
        events,
        vec![ConsumerEvent::Closed(CloseReason::RendezvousTimeout)]
    );
    assert_eq!(deadline, None);
}

#[test]
fn zero_intervals_do_not_spin() {
    // Found by the sessions fuzz target: a zero retry or ping interval made the timer due
    // again at the same instant, forever.
    let config = ConsumerConfig {
        provider_retry: Some(Duration::ZERO),
        ping_interval: Some(Duration::ZERO),
        ..ConsumerConfig::default()
    };
    let mut w = World::new();
    let s = seed(19);
    let p = w.provider(&s, None);
    let c = w.add(Session::Consumer(Box::new(Consumer::new(
        &s,
        config,
        TestRng(2),
    ))));
    w.connect(p);
    w.connect(c);
    // Handshake: the retry deadline is in the future, and firing it at the same instant
    // sends nothing.
    let now = w.now;
    let before = w.eps[c].sent.len();
    for _ in 0..5 {
        w.c(c).handle_input(Input::Timeout, now);
        let (frames, _, deadline) = drain_c(w.c(c));
        assert!(frames.is_empty());
        assert!(deadline.unwrap() > now);
    }
    assert_eq!(w.eps[c].sent.len(), before);
    // Ready: pongs do not trigger a new ping at the same instant.
    w.p(p).set_provider_info(&info(1), now).unwrap();
    w.drain(p);
    w.settle();
    assert!(w.c(c).is_ready());
    let pings = w.eps[c].sent.len();
    w.settle();
    assert!(w.eps[c].sent.len() <= pings + 1);
}

#[test]
fn reopening_fails_outstanding_requests() {
    // Found by the sessions fuzz target: a second Opened without Closed dropped requests
    // silently.
    let (mut w, c, _p) = World::ready_pair(20);
    let now = w.now;
    let req = w.c(c).request_invoice(5, now).unwrap();
    drain_c(w.c(c));
    w.c(c).handle_input(Input::Opened, now);
    let (frames, events, _) = drain_c(w.c(c));
    assert_eq!(frames.len(), 1, "a fresh REQUEST_RENDEZVOUS");
    assert!(events.contains(&ConsumerEvent::RequestFailed {
        request: req,
        kind: RequestKind::Invoice,
        reason: RequestFailure::LinkClosed
    }));
    assert_eq!(w.c(c).pending_requests(), 0);
}
