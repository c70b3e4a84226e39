//! A consumer, a provider and the relay matchmaker driven by a fuzz-chosen script: sockets
//! opening and closing, arbitrary and structurally valid frames (clear, sealed with the
//! right key, sealed with a wrong one), replays and corruptions of transmitted frames, app
//! calls, and clock jumps up to the end of time. Frames the sessions transmit are routed
//! through the matchmaker as the in-memory harness does (core/tests/sessions.rs), so real
//! pairing, handshakes and requests happen.
//!
//! After every input the outputs are drained and checked: queue bounds, no overflow, the
//! deadline comes last, a bounded number of events, every consumer request answered at most
//! once (checked against a model of the outstanding requests), and no busy-looping deadline.
#![no_main]

use std::collections::VecDeque;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use moneysocket_core::frame;
use moneysocket_core::json::Num;
use moneysocket_core::matchmaker::{self, ConnId, Matchmaker};
use moneysocket_core::message::{Hex256, Message, ProviderInfo, Text, Timestamp, Wad};
use moneysocket_core::seed::{AesKey, SharedSeed};
use moneysocket_core::session::{
    Consumer, ConsumerConfig, ConsumerEvent, Input, Output, Provider, ProviderConfig, ProviderEvent,
};
use moneysocket_core::time::Instant;
use moneysocket_core::uuid::Uuid;

#[path = "../../core/tests/support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

const N: usize = 1024;
const CQ: usize = 8;
const CP: usize = 4;
const PQ: usize = 6;
const CONNS: usize = 8;
const MQ: usize = 16;

type C = Consumer<TestRng, N, CQ, CP>;
type P = Provider<TestRng, N, PQ>;
type Mm = Matchmaker<TestRng, CONNS, MQ>;

/// Most events one session input may produce (requests failing, a close, one more).
const MAX_EVENTS: usize = CP + 4;
/// Frames delivered per operation before we call it a livelock.
const SETTLE_BUDGET: usize = 400;
/// Frames kept for replay.
const HISTORY: usize = 64;
/// Known uuids kept for references.
const KNOWN: usize = 32;

// ---------------------------------------------------------------------------------------
// The script.

#[derive(Debug, Arbitrary)]
struct Script {
    setup: Setup,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
struct Setup {
    /// The provider's seed differs from the consumer's (never pairs through the relay).
    other_provider_seed: bool,
    ping_interval: Option<Dur>,
    strict_pong: bool,
    pong_timeout: Dur,
    request_timeout: Dur,
    provider_retry: Option<Dur>,
    handshake_timeout: Option<Dur>,
    rendezvous_timeout: Option<Dur>,
    consumer_timeout: Option<Dur>,
    unpaired_timeout: Dur,
    unix_offset: Dur,
    /// Frames transmitted by the sessions reach the relay at once (else `Pump`/`Settle`).
    auto_settle: bool,
    /// The provider starts with this info.
    info: Option<InfoSpec>,
    start: u64,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Dur {
    Zero,
    Millis(u16),
    Secs(u16),
    Raw(u64),
    Max,
}

impl Dur {
    fn get(self) -> Duration {
        match self {
            Dur::Zero => Duration::ZERO,
            Dur::Millis(m) => Duration::from_millis(m.into()),
            Dur::Secs(s) => Duration::from_secs(s.into()),
            Dur::Raw(ms) => Duration::from_millis(ms),
            Dur::Max => Duration::MAX,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
enum Party {
    Consumer,
    Provider,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Target {
    Consumer,
    Provider,
    /// The matchmaker, as if from this connection (0..8).
    Relay(u8),
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// Opens a socket for the party (relay `Opened` + session `Opened`) on connection `conn`.
    Connect(Party, u8),
    /// Only the session hears `Opened` (no relay connection).
    SessionOpened(Party),
    /// Only the session hears `Closed`.
    SessionClosed(Party),
    /// The party's socket drops: both the relay and the session hear `Closed`.
    Drop(Party),
    RelayOpened(u8),
    RelayClosed(u8),
    RelayTimeout,
    SessionTimeout(Party),
    Raw(Target, Vec<u8>),
    Valid(Target, MsgSpec, Enc),
    Replay(Target, u8),
    Corrupt(Target, u8, u16, u8),
    Advance(Jump, bool),
    /// Delivers up to n in-flight frames to the relay.
    Pump(u8),
    Settle,
    /// Loses every in-flight frame.
    Lose,
    RequestInvoice(u64),
    Pay(Bolt11),
    ConsumerClose,
    ProviderClose,
    SetInfo(InfoSpec),
    ClearInfo,
    SendInvoice(UuidChoice, Bolt11),
    SendPreimage(Option<UuidChoice>, [u8; 32]),
    SendError(Option<UuidChoice>, String),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Jump {
    Millis(u16),
    Secs(u32),
    Raw(u64),
    /// To `u64::MAX - x` (if later than now).
    NearEnd(u16),
    /// To the earliest announced deadline.
    NextDeadline,
}

#[derive(Debug, Arbitrary)]
enum Bolt11 {
    Real,
    Prefixed(String),
    Any(String),
}

impl Bolt11 {
    fn text(&self) -> String {
        match self {
            Bolt11::Real => BOLT11.to_string(),
            Bolt11::Prefixed(s) => format!("lnbc{s}"),
            Bolt11::Any(s) => s.clone(),
        }
    }
}

const BOLT11: &str = "lnbc10u1pwjqwkkpp5vlc3tttdzhpk9fwzkkue0sf2pumtza7qyw9vucxyyeh0yaqq66yqdq5f38z6anwvdhkjmmnxcqzysxqrrsssp5m6kmam774klwlh4dhmhaatd7al02m0h0m6kmam774klwlh4dhmhs9qypqqqcqpf3cwux5979a8j28d4ydwahx00saa68wq3az7v9jdgzkghtxnkf3z5t7q5suyq2dl9tqwsap8j0wptc82cpyvey9gf6zyylzrm60qtcqsq7egtsq";

#[derive(Debug, Clone, Copy, Arbitrary)]
enum UuidChoice {
    /// The latest request the provider was asked (invoice or pay).
    LastRequest,
    /// One seen in the run (request uuids, references), the latest first.
    Known(u8),
    Bytes([u8; 16]),
}

#[derive(Debug, Arbitrary)]
struct MsgSpec {
    uuid: UuidChoice,
    /// Micros since the epoch.
    timestamp: u64,
    kind: MsgKind,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Rid {
    /// The consumer's rendezvous id.
    Ours,
    Other([u8; 32]),
}

#[derive(Debug, Arbitrary)]
enum MsgKind {
    RequestRendezvous(Rid),
    RequestProvider,
    RequestPing,
    RequestInvoice(u64),
    RequestPay(Bolt11),
    NotifyRendezvous(Option<UuidChoice>, Rid),
    NotifyRendezvousNotReady(Option<UuidChoice>, Rid),
    NotifyRendezvousEnd(Rid),
    NotifyProvider(Option<UuidChoice>, InfoSpec),
    NotifyProviderNotReady(Option<UuidChoice>),
    NotifyPong(Option<UuidChoice>),
    NotifyInvoice(Option<UuidChoice>, Bolt11),
    NotifyPreimage(Option<UuidChoice>, [u8; 32]),
    NotifyError(Option<UuidChoice>, String),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Enc {
    Clear,
    Sealed([u8; 16]),
    WrongKey([u8; 16]),
}

#[derive(Debug, Clone, Arbitrary)]
struct InfoSpec {
    account: [u8; 16],
    payer: bool,
    payee: bool,
    wad: Option<WadSpec>,
}

#[derive(Debug, Clone, Arbitrary)]
enum WadSpec {
    Bitcoin(u64),
    Custom {
        msats: u64,
        asset_stable: bool,
        units: Units,
        code: String,
        countries: Option<String>,
        decimals: Option<u8>,
        iso_num: Option<Units>,
        name: Option<String>,
        symbol: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Units {
    U(u64),
    I(i64),
    F(f64),
}

impl Units {
    fn num(self) -> Num<'static> {
        match self {
            Units::U(v) => Num::U64(v),
            Units::I(v) => Num::I64(v),
            Units::F(v) => Num::F64(v),
        }
    }
}

impl InfoSpec {
    fn info(&self) -> ProviderInfo<'_> {
        let wad = self.wad.as_ref().map(|w| match w {
            WadSpec::Bitcoin(m) => Wad::bitcoin(*m),
            WadSpec::Custom {
                msats,
                asset_stable,
                units,
                code,
                countries,
                decimals,
                iso_num,
                name,
                symbol,
            } => Wad {
                msats: *msats,
                asset_stable: *asset_stable,
                asset_units: units.num(),
                code: Text::Plain(code),
                countries: countries.as_deref().map(Text::Plain),
                decimals: *decimals,
                iso_num: iso_num.map(Units::num),
                name: name.as_deref().map(Text::Plain),
                symbol: symbol.as_deref().map(Text::Plain),
            },
        });
        ProviderInfo {
            account_uuid: Uuid::v4_from_bytes(self.account),
            payer: self.payer,
            payee: self.payee,
            wad,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The world.

struct Endpoint {
    conn: ConnId,
    /// The relay knows this party's connection.
    connected: bool,
    deadline: Option<Instant>,
}

struct World {
    now: Instant,
    consumer: Box<C>,
    provider: Box<P>,
    relay: Mm,
    relay_deadline: Option<Instant>,
    ends: [Endpoint; 2],
    auto_settle: bool,
    /// Frames on their way to the relay, from a connection.
    in_flight: VecDeque<(ConnId, Vec<u8>)>,
    history: VecDeque<Vec<u8>>,
    known: VecDeque<Uuid>,
    /// The model: consumer requests not answered yet.
    outstanding: Vec<Uuid>,
    key: AesKey,
    wrong_key: AesKey,
    rid: Hex256,
    rng: TestRng,
    rendezvous_timeout: Option<Duration>,
    last_request: Option<Uuid>,
    /// When the consumer last heard `Opened`.
    consumer_opened: Option<Instant>,
}

fn idx(p: Party) -> usize {
    match p {
        Party::Consumer => 0,
        Party::Provider => 1,
    }
}

impl World {
    fn new(s: &Setup) -> World {
        let seed = SharedSeed(*b"fuzz-sessions-01");
        let pseed = if s.other_provider_seed {
            SharedSeed(*b"fuzz-sessions-02")
        } else {
            seed
        };
        let offset = u64::try_from(s.unix_offset.get().as_millis()).unwrap_or(u64::MAX);
        let cconfig = ConsumerConfig {
            unix_offset_ms: offset,
            // Zero intervals once made timers spin (fixed: the core keeps them >= 1 ms).
            ping_interval: s.ping_interval.map(Dur::get),
            pong_timeout: s.pong_timeout.get(),
            strict_pong: s.strict_pong,
            request_timeout: s.request_timeout.get(),
            provider_retry: s.provider_retry.map(Dur::get),
            handshake_timeout: s.handshake_timeout.map(Dur::get),
            rendezvous_timeout: s.rendezvous_timeout.map(Dur::get),
        };
        let pconfig = ProviderConfig {
            unix_offset_ms: offset,
            consumer_timeout: s.consumer_timeout.map(Dur::get),
        };
        let mconfig = matchmaker::Config {
            unpaired_timeout: s.unpaired_timeout.get(),
            unix_offset_ms: offset,
        };
        let now = Instant(s.start);
        let mut w = World {
            now,
            consumer: Box::new(Consumer::new(&seed, cconfig, TestRng(1))),
            provider: Box::new(Provider::new(&pseed, pconfig, TestRng(2))),
            relay: Matchmaker::new(mconfig, TestRng(3)),
            relay_deadline: None,
            ends: [
                Endpoint {
                    conn: ConnId(0),
                    connected: false,
                    deadline: None,
                },
                Endpoint {
                    conn: ConnId(1),
                    connected: false,
                    deadline: None,
                },
            ],
            auto_settle: s.auto_settle,
            in_flight: VecDeque::new(),
            history: VecDeque::new(),
            known: VecDeque::new(),
            outstanding: Vec::new(),
            key: seed.v0_aes_key(),
            wrong_key: SharedSeed(*b"fuzz-sessions-03").v0_aes_key(),
            rid: Hex256::from(&seed.v0_rendezvous_id()),
            rng: TestRng(4),
            rendezvous_timeout: cconfig.rendezvous_timeout,
            consumer_opened: None,
            last_request: None,
        };
        if let Some(info) = &s.info {
            let r = w.provider.set_provider_info(&info.info(), now);
            w.drain_app(Party::Provider, r.is_ok());
        }
        w
    }

    fn remember(&mut self, u: Uuid) {
        if self.known.len() == KNOWN {
            self.known.pop_front();
        }
        self.known.push_back(u);
    }

    fn record(&mut self, f: &[u8]) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(f.to_vec());
    }

    fn uuid(&mut self, c: UuidChoice) -> Uuid {
        match c {
            UuidChoice::LastRequest if self.last_request.is_some() => {
                self.last_request.unwrap_or(Uuid([0; 16]))
            }
            UuidChoice::Known(i) if !self.known.is_empty() => {
                let n = self.known.len();
                self.known[n - 1 - usize::from(i) % n]
            }
            UuidChoice::LastRequest | UuidChoice::Known(_) => Uuid::new_v4(&mut self.rng),
            UuidChoice::Bytes(b) => Uuid(b),
        }
    }

    fn opt_uuid(&mut self, c: Option<UuidChoice>) -> Option<Uuid> {
        c.map(|c| self.uuid(c))
    }

    fn rid(&self, r: Rid) -> Hex256 {
        match r {
            Rid::Ours => self.rid.clone(),
            Rid::Other(b) => Hex256::from_bytes(&b),
        }
    }

    fn check_bounds(&self) {
        self.check_queues();
        assert_eq!(
            self.consumer.pending_requests(),
            self.outstanding.len(),
            "consumer's outstanding requests differ from the model: {:?}",
            self.outstanding
        );
    }

    /// Bounds that hold even with outputs not drained yet.
    fn check_queues(&self) {
        assert!(self.consumer.pending_outputs() <= CQ);
        assert!(self.provider.pending_outputs() <= PQ);
        assert!(self.consumer.pending_requests() <= CP);
        assert_eq!(
            self.consumer.stats().output_overflow,
            0,
            "consumer overflow"
        );
        assert_eq!(
            self.provider.stats().output_overflow,
            0,
            "provider overflow"
        );
        assert!(self.relay.len() <= CONNS);
        assert!(self.relay.pending_outputs() <= MQ);
        let st = self.relay.stats();
        assert_eq!(st.output_overflow, 0, "relay overflow");
        assert_eq!(st.encode_failures, 0, "relay encode failure");
        if self.consumer.is_ready() {
            assert_eq!(
                self.consumer.link_state(),
                moneysocket_core::session::LinkState::Paired
            );
        }
    }

    // -- sessions --------------------------------------------------------------------

    fn session_input(&mut self, p: Party, input: Input<'_>) {
        let now = self.now;
        if p == Party::Consumer && input == Input::Opened {
            self.consumer_opened = Some(now);
            // A reopened consumer fails its outstanding requests (RequestFailed, checked
            // by the request model in `check_bounds`).
        }
        match p {
            Party::Consumer => self.consumer.handle_input(input, now),
            Party::Provider => self.provider.handle_input(input, now),
        }
        let n = self.drain(p);
        assert!(
            n > 0,
            "{p:?}: a drain after an input must end with a deadline"
        );
        self.unbusy(p);
    }

    /// After an app call: a refused call may leave nothing to drain; an accepted one ends
    /// with the deadline.
    fn drain_app(&mut self, p: Party, accepted: bool) {
        let n = self.drain(p);
        if accepted {
            assert!(
                n > 0,
                "{p:?}: an accepted app call must announce the deadline"
            );
        }
        self.unbusy(p);
    }

    /// A session that announces a deadline already due must make progress when told so:
    /// a few `Timeout`s at the same instant end with a later deadline (or none).
    fn unbusy(&mut self, p: Party) {
        for _ in 0..8 {
            match self.ends[idx(p)].deadline {
                Some(d) if d <= self.now => {}
                _ => return,
            }
            // At the end of time nothing can be later: accept a due deadline there.
            if self.now.0 == u64::MAX {
                return;
            }
            self.ends[idx(p)].deadline = None;
            let now = self.now;
            match p {
                Party::Consumer => self.consumer.handle_input(Input::Timeout, now),
                Party::Provider => self.provider.handle_input(Input::Timeout, now),
            }
            self.drain(p);
        }
        panic!(
            "{p:?} busy-loops: deadline {:?} stays due at {:?}",
            self.ends[idx(p)].deadline,
            self.now
        );
    }

    /// Drains one session fully; returns the number of outputs.
    fn drain(&mut self, p: Party) -> usize {
        self.check_queues();
        let mut outputs = 0;
        let mut events = 0;
        let mut timeout_seen = false;
        let mut close = false;
        loop {
            let (frame, deadline) = match p {
                Party::Consumer => match self.consumer.poll_output() {
                    None => break,
                    Some(o) => {
                        assert!(!timeout_seen, "output after the deadline: {o:?}");
                        match o {
                            Output::Transmit(f) => {
                                assert!(f.len() <= N);
                                (Some(f.to_vec()), None)
                            }
                            Output::Timeout(d) => (None, Some(d)),
                            Output::Event(e) => {
                                events += 1;
                                close |= matches!(e, ConsumerEvent::Closed(_));
                                self.consumer_event(&e);
                                (None, None)
                            }
                        }
                    }
                },
                Party::Provider => match self.provider.poll_output() {
                    None => break,
                    Some(o) => {
                        assert!(!timeout_seen, "output after the deadline: {o:?}");
                        match o {
                            Output::Transmit(f) => {
                                assert!(f.len() <= N);
                                (Some(f.to_vec()), None)
                            }
                            Output::Timeout(d) => (None, Some(d)),
                            Output::Event(e) => {
                                events += 1;
                                close |= matches!(e, ProviderEvent::Closed(_));
                                self.provider_event(&e);
                                (None, None)
                            }
                        }
                    }
                },
            };
            outputs += 1;
            if let Some(d) = deadline {
                timeout_seen = true;
                self.ends[idx(p)].deadline = d;
            }
            if let Some(f) = frame {
                self.record(&f);
                let e = &self.ends[idx(p)];
                if e.connected {
                    self.in_flight.push_back((e.conn, f));
                }
            }
        }
        assert!(
            outputs == 0 || timeout_seen,
            "{p:?}: drain did not end with Output::Timeout"
        );
        assert!(events <= MAX_EVENTS, "{p:?}: {events} events for one input");
        self.check_bounds();
        if p == Party::Consumer && close {
            assert!(!self.consumer.is_ready());
            assert_eq!(self.consumer.pending_requests(), 0);
        }
        if close && self.ends[idx(p)].connected {
            self.ends[idx(p)].connected = false;
            let conn = self.ends[idx(p)].conn;
            self.relay_input(matchmaker::Input::Closed(conn));
        }
        outputs
    }

    fn answer(&mut self, r: Uuid, what: &str) {
        let i = self
            .outstanding
            .iter()
            .position(|u| *u == r)
            .unwrap_or_else(|| panic!("{what} for {r:?}, not an outstanding request"));
        self.outstanding.swap_remove(i);
    }

    fn consumer_event(&mut self, e: &ConsumerEvent<N>) {
        if debug() {
            eprintln!(
                "    consumer event {e:?} (pending {})",
                self.consumer.pending_requests()
            );
        }
        match e {
            ConsumerEvent::Invoice { request, .. } => self.answer(*request, "invoice"),
            ConsumerEvent::Preimage {
                request: Some(r), ..
            } => self.answer(*r, "preimage"),
            ConsumerEvent::Error {
                request: Some(r), ..
            } => self.answer(*r, "error"),
            ConsumerEvent::RequestFailed { request, .. } => self.answer(*request, "failure"),
            ConsumerEvent::Pong { request, rtt } => {
                assert!(u64::try_from(rtt.as_millis()).is_ok());
                self.remember(*request);
            }
            ConsumerEvent::Provider(u) => {
                let _ = u.wad();
                if let Some(r) = u.reference {
                    self.remember(r);
                }
            }
            ConsumerEvent::Closed(_) => {
                assert!(
                    self.outstanding.is_empty(),
                    "closed with requests still outstanding: {:?}",
                    self.outstanding
                );
            }
            _ => {}
        }
    }

    fn provider_event(&mut self, e: &ProviderEvent<N>) {
        if debug() {
            eprintln!("    provider event {e:?}");
        }
        match e {
            ProviderEvent::InvoiceRequested { request, msats } => {
                assert!(*msats > 0);
                self.remember(*request);
                self.last_request = Some(*request);
            }
            ProviderEvent::PayRequested { request, bolt11 } => {
                assert!(bolt11.starts_with("lnbc"));
                self.remember(*request);
                self.last_request = Some(*request);
            }
            _ => {}
        }
    }

    // -- relay -----------------------------------------------------------------------

    fn party_of(&self, conn: ConnId) -> Option<Party> {
        [Party::Consumer, Party::Provider]
            .into_iter()
            .find(|p| self.ends[idx(*p)].connected && self.ends[idx(*p)].conn == conn)
    }

    fn relay_input(&mut self, input: matchmaker::Input<'_>) {
        let frame = match input {
            matchmaker::Input::Frame(_, f) => f.to_vec(),
            _ => Vec::new(),
        };
        let is_timeout = matches!(input, matchmaker::Input::Timeout);
        self.relay.handle_input(input, self.now);
        self.check_queues();
        let mut deliveries = Vec::new();
        let mut outputs = 0;
        while let Some(o) = self.relay.poll_output() {
            outputs += 1;
            assert!(outputs <= MQ, "relay yields more than its queue");
            match o {
                matchmaker::Output::Transmit { conn, frame } => {
                    self.record(&frame);
                    deliveries.push((conn, Some(frame.to_vec())))
                }
                matchmaker::Output::Forward { to, .. } => {
                    deliveries.push((to, Some(frame.clone())))
                }
                matchmaker::Output::Close { conn, .. } => deliveries.push((conn, None)),
                matchmaker::Output::Timeout(d) => self.relay_deadline = Some(d),
            }
        }
        if !is_timeout {
            // A non-timeout input queues at most END + Close (or two notifications) and
            // the deadline.
            assert!(outputs <= 3, "relay: {outputs} outputs for one input");
        }
        for (conn, f) in deliveries {
            let Some(p) = self.party_of(conn) else {
                continue;
            };
            match f {
                Some(f) => self.session_input(p, Input::Frame(&f)),
                None => {
                    self.ends[idx(p)].connected = false;
                    self.session_input(p, Input::Closed);
                }
            }
        }
        self.check_bounds();
    }

    /// Fires the relay's timeout while it is due (it may announce a leftover as due at once).
    fn relay_timeout(&mut self) {
        for _ in 0..CONNS + 2 {
            self.relay_deadline = None;
            self.relay_input(matchmaker::Input::Timeout);
            match self.relay_deadline {
                Some(d) if d <= self.now && self.now.0 != u64::MAX => {}
                _ => return,
            }
        }
        panic!(
            "relay busy-loops: deadline {:?} stays due at {:?} ({} conns)",
            self.relay_deadline,
            self.now,
            self.relay.len()
        );
    }

    fn pump(&mut self, n: usize) {
        for _ in 0..n {
            let Some((conn, f)) = self.in_flight.pop_front() else {
                return;
            };
            // A frame from a socket that has closed since is lost with it.
            if self.party_of(conn).is_some() {
                self.relay_input(matchmaker::Input::Frame(conn, &f));
            }
        }
    }

    fn settle(&mut self) {
        // At the end of time (see below) a short budget keeps executions fast.
        let mut budget = if self.now.0 == u64::MAX {
            16
        } else {
            SETTLE_BUDGET
        };
        while !self.in_flight.is_empty() {
            if budget == 0 && self.now.0 == u64::MAX {
                // At the end of time every saturated deadline is due on each input, so a
                // retry (REQUEST_PROVIDER answered "not ready", a ping answered at once) can
                // repeat forever. Not a realistic clock; drop what is in flight.
                self.in_flight.clear();
                return;
            }
            assert!(
                budget > 0,
                "no quiescence: {} frames in flight",
                self.in_flight.len()
            );
            budget -= 1;
            self.pump(1);
        }
    }

    /// Fires every due deadline once (a late caller).
    fn fire_due(&mut self) {
        if self.relay_deadline.is_some_and(|d| d <= self.now) {
            self.relay_timeout();
        }
        for p in [Party::Consumer, Party::Provider] {
            if self.ends[idx(p)].deadline.is_some_and(|d| d <= self.now) {
                self.ends[idx(p)].deadline = None;
                self.session_input(p, Input::Timeout);
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.ends
            .iter()
            .filter_map(|e| e.deadline)
            .chain(self.relay_deadline)
            .min()
    }

    fn advance(&mut self, j: Jump, stepwise: bool) {
        let target = match j {
            Jump::Millis(m) => Instant(self.now.0.saturating_add(m.into())),
            Jump::Secs(s) => Instant(self.now.0.saturating_add(u64::from(s) * 1000)),
            Jump::Raw(ms) => Instant(self.now.0.saturating_add(ms)),
            Jump::NearEnd(x) => Instant((u64::MAX - u64::from(x)).max(self.now.0)),
            Jump::NextDeadline => self.next_deadline().unwrap_or(self.now).max(self.now),
        };
        if stepwise {
            // Visit every deadline on the way, as a punctual caller would.
            for _ in 0..32 {
                let Some(t) = self.next_deadline().filter(|d| *d <= target) else {
                    break;
                };
                self.now = self.now.max(t);
                self.fire_due();
                self.settle_if_auto();
            }
        }
        self.now = target;
        self.fire_due();
        self.check_timers();
    }

    /// After the caller fired every announced deadline: no configured limit has passed
    /// unnoticed.
    fn check_timers(&self) {
        use moneysocket_core::session::LinkState;
        // `rendezvous_timeout` must be announced and fire on time (it once was not).
        if let (Some(limit), Some(opened)) = (self.rendezvous_timeout, self.consumer_opened) {
            if self.consumer.link_state() == LinkState::Rendezvous {
                assert!(
                    self.now < opened.saturating_add(limit),
                    "consumer still waiting for the rendezvous at {:?}: opened at {opened:?}, \
                     limit {limit:?}, announced deadline {:?}",
                    self.now,
                    self.ends[0].deadline
                );
            }
        }
    }

    fn settle_if_auto(&mut self) {
        if self.auto_settle {
            self.settle();
        }
    }

    // -- frames ------------------------------------------------------------------------

    fn deliver(&mut self, t: Target, f: &[u8]) {
        match t {
            Target::Consumer => self.session_input(Party::Consumer, Input::Frame(f)),
            Target::Provider => self.session_input(Party::Provider, Input::Frame(f)),
            Target::Relay(c) => {
                let conn = ConnId(u32::from(c) % CONNS as u32);
                self.relay_input(matchmaker::Input::Frame(conn, f));
            }
        }
    }

    fn build(&mut self, m: &MsgSpec, enc: Enc) -> Option<Vec<u8>> {
        let uuid = self.uuid(m.uuid);
        let ts = Timestamp::from_micros(m.timestamp);
        let bolt;
        let err;
        let msg = match &m.kind {
            MsgKind::RequestRendezvous(r) => Message::request_rendezvous(uuid, ts, self.rid(*r)),
            MsgKind::RequestProvider => Message::request_provider(uuid, ts),
            MsgKind::RequestPing => Message::request_ping(uuid, ts),
            MsgKind::RequestInvoice(msats) => Message::request_invoice(uuid, ts, *msats),
            MsgKind::RequestPay(b) => {
                bolt = b.text();
                Message::request_pay(uuid, ts, bolt.as_str())
            }
            MsgKind::NotifyRendezvous(r, rid) => {
                let r = self.opt_uuid(*r);
                Message::notify_rendezvous(uuid, r, ts, self.rid(*rid))
            }
            MsgKind::NotifyRendezvousNotReady(r, rid) => {
                let r = self.opt_uuid(*r);
                Message::notify_rendezvous_not_ready(uuid, r, ts, self.rid(*rid))
            }
            MsgKind::NotifyRendezvousEnd(rid) => {
                Message::notify_rendezvous_end(uuid, ts, self.rid(*rid))
            }
            MsgKind::NotifyProvider(r, info) => {
                let r = self.opt_uuid(*r);
                Message::notify_provider(uuid, r, ts, info.info())
            }
            MsgKind::NotifyProviderNotReady(r) => {
                let r = self.opt_uuid(*r);
                Message::notify_provider_not_ready(uuid, r, ts)
            }
            MsgKind::NotifyPong(r) => {
                let r = self.opt_uuid(*r);
                Message::notify_pong(uuid, r, ts)
            }
            MsgKind::NotifyInvoice(r, b) => {
                let r = self.opt_uuid(*r);
                bolt = b.text();
                Message::notify_invoice(uuid, r, ts, bolt.as_str())
            }
            MsgKind::NotifyPreimage(r, pre) => {
                let r = self.opt_uuid(*r);
                Message::notify_preimage(uuid, r, ts, Hex256::from_bytes(pre), None)
            }
            MsgKind::NotifyError(r, s) => {
                let r = self.opt_uuid(*r);
                err = s.clone();
                Message::notify_error(uuid, r, ts, err.as_str())
            }
        };
        let text = msg.to_json_string().into_bytes();
        if text.len() > 4 * N {
            return None;
        }
        let (key, iv) = match enc {
            Enc::Clear => return Some(text),
            Enc::Sealed(iv) => (self.key, iv),
            Enc::WrongKey(iv) => (self.wrong_key, iv),
        };
        let mut out = vec![0u8; frame::sealed_len(text.len())];
        let sealed = frame::seal(&key, iv, &text, &mut out).expect("sized");
        Some(sealed.to_vec())
    }

    // -- the script ----------------------------------------------------------------------

    fn step(&mut self, op: &Op) {
        if debug() {
            eprintln!("at {:?}: {op:?}", self.now);
        }
        match op {
            Op::Connect(p, c) => {
                let conn = ConnId(u32::from(*c) % CONNS as u32);
                let other = &self.ends[1 - idx(*p)];
                if other.connected && other.conn == conn {
                    return;
                }
                let me = &mut self.ends[idx(*p)];
                if me.connected {
                    return;
                }
                me.conn = conn;
                me.connected = true;
                self.relay_input(matchmaker::Input::Opened(conn));
                // The relay may have refused it (table full): then the socket is gone.
                if self.ends[idx(*p)].connected {
                    self.session_input(*p, Input::Opened);
                }
            }
            Op::SessionOpened(p) => self.session_input(*p, Input::Opened),
            Op::SessionClosed(p) => self.session_input(*p, Input::Closed),
            Op::Drop(p) => {
                let e = &mut self.ends[idx(*p)];
                if e.connected {
                    e.connected = false;
                    let conn = e.conn;
                    self.relay_input(matchmaker::Input::Closed(conn));
                }
                self.session_input(*p, Input::Closed);
            }
            Op::RelayOpened(c) => {
                let conn = ConnId(u32::from(*c) % CONNS as u32);
                if self.party_of(conn).is_none() {
                    self.relay_input(matchmaker::Input::Opened(conn));
                }
            }
            Op::RelayClosed(c) => {
                let conn = ConnId(u32::from(*c) % CONNS as u32);
                if let Some(p) = self.party_of(conn) {
                    // The party's socket: the session hears it too.
                    self.step(&Op::Drop(p));
                } else {
                    self.relay_input(matchmaker::Input::Closed(conn));
                }
            }
            Op::RelayTimeout => self.relay_timeout(),
            Op::SessionTimeout(p) => self.session_input(*p, Input::Timeout),
            Op::Raw(t, bytes) => self.deliver(*t, bytes),
            Op::Valid(t, m, enc) => {
                if let Some(f) = self.build(m, *enc) {
                    self.deliver(*t, &f);
                }
            }
            Op::Replay(t, i) => {
                if !self.history.is_empty() {
                    let f = self.history[usize::from(*i) % self.history.len()].clone();
                    self.deliver(*t, &f);
                }
            }
            Op::Corrupt(t, i, pos, x) => {
                if !self.history.is_empty() {
                    let mut f = self.history[usize::from(*i) % self.history.len()].clone();
                    if !f.is_empty() {
                        let n = f.len();
                        f[usize::from(*pos) % n] ^= x | 1;
                    }
                    self.deliver(*t, &f);
                }
            }
            Op::Advance(j, stepwise) => self.advance(*j, *stepwise),
            Op::Pump(n) => self.pump(usize::from(*n)),
            Op::Settle => self.settle(),
            Op::Lose => self.in_flight.clear(),
            Op::RequestInvoice(msats) => {
                let r = self.consumer.request_invoice(*msats, self.now);
                if debug() {
                    eprintln!("    -> {r:?}, pending {}", self.consumer.pending_requests());
                }
                if let Ok(u) = r {
                    self.outstanding.push(u);
                    self.remember(u);
                }
                self.drain_app(Party::Consumer, r.is_ok());
            }
            Op::Pay(b) => {
                let r = self.consumer.pay(&b.text(), self.now);
                if let Ok(u) = r {
                    self.outstanding.push(u);
                    self.remember(u);
                }
                self.drain_app(Party::Consumer, r.is_ok());
            }
            Op::ConsumerClose => {
                self.consumer.close(self.now);
                self.drain_app(Party::Consumer, true);
            }
            Op::ProviderClose => {
                self.provider.close(self.now);
                self.drain_app(Party::Provider, true);
            }
            Op::SetInfo(info) => {
                let r = self.provider.set_provider_info(&info.info(), self.now);
                self.drain_app(Party::Provider, r.is_ok());
            }
            Op::ClearInfo => self.provider.clear_provider_info(),
            Op::SendInvoice(u, b) => {
                let u = self.uuid(*u);
                let r = self.provider.send_invoice(u, &b.text(), self.now);
                self.drain_app(Party::Provider, r.is_ok());
            }
            Op::SendPreimage(u, pre) => {
                let u = u.map(|u| self.uuid(u));
                let r = self.provider.send_preimage(u, pre, self.now);
                self.drain_app(Party::Provider, r.is_ok());
            }
            Op::SendError(u, s) => {
                let u = u.map(|u| self.uuid(u));
                let r = self.provider.send_error(u, s, self.now);
                self.drain_app(Party::Provider, r.is_ok());
            }
        }
        self.settle_if_auto();
        self.check_bounds();
    }
}

/// `SESSIONS_FUZZ_DEBUG=1` traces operations and events (for reproducing a crash).
fn debug() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SESSIONS_FUZZ_DEBUG").is_some())
}

fuzz_target!(|script: Script| {
    let mut w = World::new(&script.setup);
    for op in script.ops.iter().take(256) {
        w.step(op);
    }
    w.settle();
    w.check_bounds();
});
