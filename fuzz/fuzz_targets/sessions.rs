//! A consumer and a provider in the simulated world of core/tests/support/world.rs (the
//! harness of the session tests), driven by a fuzz-chosen script: connections opening,
//! closing and dropping, raw relay connections, arbitrary and structurally valid frames
//! (clear, sealed with the right key, sealed with a wrong one), replays and corruptions of
//! frames seen on the wire, app calls, and clock jumps up to the end of time. The provider
//! is attached to its own connection or listens on the relay's host (the terminus shape).
//!
//! The world checks after every drain: bounded queues, no lost outputs, a bounded number of
//! events, closed sessions hold no requests, no busy-looping deadline, no livelock. Here:
//! every consumer request is answered at most once and the provider's outstanding requests
//! follow their model (asked, answered once, expired or abandoned), and a rendezvous limit
//! never passes unnoticed.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use moneysocket_core::frame;
use moneysocket_core::host::{HostConfig, HostError, HostInput};
use moneysocket_core::json::Num;
use moneysocket_core::matchmaker::MatchmakerConfig;
use moneysocket_core::message::opinion::{OpinionItem, OpinionMessage};
use moneysocket_core::message::{Hex256, Message, ProviderInfo, Text, Timestamp, Wad};
use moneysocket_core::seed::{AesKey, SharedSeed};
use moneysocket_core::session::{ConsumerConfig, LinkState, ProviderConfig};
use moneysocket_core::time::Instant;
use moneysocket_core::uuid::Uuid;

#[path = "../../core/tests/support/test_rng.rs"]
mod test_rng;
#[path = "../../core/tests/support/world.rs"]
mod world;

use test_rng::TestRng;
use world::{Ev, World, CLIENT, RELAY, S};

/// Deliveries per settle before we call it a livelock.
const SETTLE_BUDGET: usize = 400;
/// Known uuids kept for references.
const KNOWN: usize = 32;
/// Raw relay connections at most.
const RAW_CONNS: usize = 6;
/// Largest message the script builds.
const MAX_TEXT: usize = 4096;

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
    /// The provider listens on the relay's host instead of dialing it.
    provider_listens: bool,
    ping_interval: Option<Dur>,
    strict_pong: bool,
    pong_timeout: Dur,
    request_timeout: Dur,
    provider_retry: Option<Dur>,
    handshake_timeout: Option<Dur>,
    rendezvous_timeout: Option<Dur>,
    consumer_timeout: Option<Dur>,
    provider_request_timeout: Dur,
    unpaired_timeout: Dur,
    unix_offset: Dur,
    /// What is in flight is delivered after every operation (else `Pump`/`Settle`).
    auto_settle: bool,
    /// The provider starts with this info.
    info: Option<InfoSpec>,
    start: u64,
    /// Both sessions carry extension messages (the opinion-seller demo).
    extensions: bool,
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
    /// The relay, as if from one of the world's connections.
    Relay(u8),
}

#[derive(Debug, Arbitrary)]
enum Op {
    /// The party dials the relay (a listening provider listens again).
    Connect(Party),
    /// Only the party's host hears `Opened` again on its connection.
    SessionOpened(Party),
    /// Only the party's host hears `Closed`.
    SessionClosed(Party),
    /// The party's connection drops: both ends hear `Closed`.
    Drop(Party),
    /// A connection only the relay sees.
    RelayOpened,
    /// The relay hears `Closed` on one of the world's connections.
    RelayClosed(u8),
    RelayTimeout,
    SessionTimeout(Party),
    Raw(Target, Vec<u8>),
    Valid(Target, MsgSpec, Enc),
    Replay(Target, u8),
    Corrupt(Target, u8, u16, u8),
    Advance(Jump, bool),
    /// Delivers up to n frames in flight.
    Pump(u8),
    Settle,
    /// Loses everything in flight.
    Lose,
    RequestInvoice(u64),
    Pay(Bolt11),
    ConsumerClose,
    ProviderClose,
    SetInfo(InfoSpec),
    SendInvoice(UuidChoice, Bolt11),
    SendPreimage(Option<UuidChoice>, [u8; 32]),
    SendError(Option<UuidChoice>, String),
    /// An opinion-seller message from either party.
    SendExtension(Party, UuidChoice, ExtSpec),
}

/// One of the six opinion-seller messages.
#[derive(Debug, Clone, Arbitrary)]
enum ExtSpec {
    RequestOpinionSeller,
    RequestOpinionInvoice(String),
    NotifyOpinionSeller(Option<UuidChoice>, Vec<(String, String, u64)>),
    NotifyOpinionSellerNotReady(Option<UuidChoice>),
    NotifyOpinionInvoice(Option<UuidChoice>, String),
    NotifyOpinion(Option<UuidChoice>, String, String),
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
// The run: the world, and the models it is checked against.

struct Run {
    w: World,
    c: S,
    p: S,
    /// The provider listens on the relay's host.
    listens: bool,
    /// Consumer requests not answered yet.
    outstanding: Vec<Uuid>,
    /// Provider requests not answered, expired or abandoned yet (as many times as asked).
    asked: Vec<Uuid>,
    known: Vec<Uuid>,
    last_request: Option<Uuid>,
    key: AesKey,
    wrong_key: AesKey,
    rid: Hex256,
    rng: TestRng,
    rendezvous_timeout: Option<Duration>,
    /// When the consumer last heard `Opened`.
    consumer_opened: Option<Instant>,
    /// Extension messages are on for both sessions.
    extensions: bool,
}

impl Run {
    fn new(s: &Setup) -> Run {
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
            extensions: s.extensions,
            ..ConsumerConfig::default()
        };
        let pconfig = ProviderConfig {
            unix_offset_ms: offset,
            consumer_timeout: s.consumer_timeout.map(Dur::get),
            request_timeout: s.provider_request_timeout.get(),
            extensions: s.extensions,
            ..ProviderConfig::default()
        };
        let mut w = World::with_relay(HostConfig {
            matchmaker: MatchmakerConfig {
                unpaired_timeout: s.unpaired_timeout.get(),
                unix_offset_ms: offset,
            },
            ..HostConfig::default()
        });
        w.now = Instant(s.start);
        w.auto_settle = s.auto_settle;
        w.settle_budget = SETTLE_BUDGET;
        let c = w.add_consumer(CLIENT, &seed, cconfig);
        let ph = if s.provider_listens { RELAY } else { CLIENT };
        let p = w.add_provider(ph, &pseed, pconfig, None);
        let mut run = Run {
            w,
            c,
            p,
            listens: s.provider_listens,
            outstanding: Vec::new(),
            asked: Vec::new(),
            known: Vec::new(),
            last_request: None,
            key: seed.v0_aes_key(),
            wrong_key: SharedSeed(*b"fuzz-sessions-03").v0_aes_key(),
            rid: Hex256::from(&seed.v0_rendezvous_id()),
            rng: TestRng(4),
            rendezvous_timeout: cconfig.rendezvous_timeout,
            consumer_opened: None,
            extensions: s.extensions,
        };
        if let Some(info) = &s.info {
            let _ = run.w.set_info(p, &info.info());
        }
        run.observe();
        run
    }

    fn remember(&mut self, u: Uuid) {
        if self.known.len() == KNOWN {
            self.known.remove(0);
        }
        self.known.push(u);
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

    fn party(&self, p: Party) -> S {
        match p {
            Party::Consumer => self.c,
            Party::Provider => self.p,
        }
    }

    // -- the models ------------------------------------------------------------------

    /// Takes the sessions' events into the models, then compares the models with the
    /// sessions.
    fn observe(&mut self) {
        self.take_events();
        self.compare();
    }

    fn take_events(&mut self) {
        for e in self.w.events(self.c) {
            if debug() {
                eprintln!("    consumer: {e:?}");
            }
            self.consumer_event(e);
        }
        for e in self.w.events(self.p) {
            if debug() {
                eprintln!("    provider: {e:?}");
            }
            self.provider_event(e);
        }
    }

    fn compare(&self) {
        assert_eq!(
            self.w.c(self.c).pending_requests(),
            self.outstanding.len(),
            "consumer's outstanding requests differ from the model: {:?}",
            self.outstanding
        );
        assert_eq!(
            self.w.p(self.p).outstanding_requests(),
            self.asked.len(),
            "provider's outstanding requests differ from the model: {:?}",
            self.asked
        );
    }

    fn answer(&mut self, r: Uuid, what: &str) {
        let i = self
            .outstanding
            .iter()
            .position(|u| *u == r)
            .unwrap_or_else(|| panic!("{what} for {r:?}, not an outstanding request"));
        self.outstanding.swap_remove(i);
    }

    fn consumer_event(&mut self, e: Ev) {
        match e {
            Ev::Invoice { request, .. } => self.answer(request, "invoice"),
            Ev::Preimage {
                request: Some(r), ..
            } => self.answer(r, "preimage"),
            Ev::Error {
                request: Some(r), ..
            } => self.answer(r, "error"),
            Ev::RequestFailed { request, .. } => self.answer(request, "failure"),
            Ev::Pong { request, rtt } => {
                assert!(u64::try_from(rtt.as_millis()).is_ok());
                self.remember(request);
            }
            Ev::Provider(u) => {
                let _ = u.wad();
                if let Some(r) = u.reference {
                    self.remember(r);
                }
            }
            Ev::Closed(_) => assert!(
                self.outstanding.is_empty(),
                "closed with requests still outstanding: {:?}",
                self.outstanding
            ),
            Ev::Extension(json) => self.extension(&json),
            Ev::Other(e) => panic!("unknown consumer event {e}"),
            _ => {}
        }
    }

    fn provider_event(&mut self, e: Ev) {
        match e {
            Ev::InvoiceRequested { request, msats } => {
                assert!(msats > 0);
                self.asked(request);
            }
            Ev::PayRequested { request, bolt11 } => {
                assert!(bolt11.starts_with("lnbc"));
                self.asked(request);
            }
            Ev::RequestExpired { request, .. } | Ev::RequestAbandoned { request, .. } => {
                let i = self
                    .asked
                    .iter()
                    .position(|u| *u == request)
                    .unwrap_or_else(|| panic!("{request:?} ended but was never asked"));
                self.asked.swap_remove(i);
            }
            Ev::Closed(_) => assert!(
                self.asked.is_empty(),
                "provider closed with requests not abandoned: {:?}",
                self.asked
            ),
            Ev::Extension(json) => self.extension(&json),
            Ev::Other(e) => panic!("unknown provider event {e}"),
            _ => {}
        }
    }

    /// A delivered extension message: only with the flag on, and it reads.
    fn extension(&mut self, json: &str) {
        assert!(self.extensions, "extension message with extensions off");
        let m = OpinionMessage::parse(json.as_bytes()).expect("a delivered extension parses");
        self.remember(m.uuid());
    }

    fn ext_message<'a>(
        &mut self,
        uuid: UuidChoice,
        spec: &'a ExtSpec,
        items: &'a mut Vec<OpinionItem<'a>>,
    ) -> OpinionMessage<'a> {
        let uuid = self.uuid(uuid);
        let ts = Timestamp::from_secs(0);
        match spec {
            ExtSpec::RequestOpinionSeller => OpinionMessage::request_opinion_seller(uuid, ts),
            ExtSpec::RequestOpinionInvoice(i) => {
                OpinionMessage::request_opinion_invoice(uuid, ts, i.as_str())
            }
            ExtSpec::NotifyOpinionSeller(r, list) => {
                let r = self.opt_uuid(*r);
                items.extend(list.iter().map(|(id, name, msats)| OpinionItem {
                    item_id: id.as_str().into(),
                    name: name.as_str().into(),
                    msats: *msats,
                }));
                OpinionMessage::notify_opinion_seller(uuid, r, ts, uuid, items)
            }
            ExtSpec::NotifyOpinionSellerNotReady(r) => {
                let r = self.opt_uuid(*r);
                OpinionMessage::notify_opinion_seller_not_ready(uuid, r, ts)
            }
            ExtSpec::NotifyOpinionInvoice(r, b) => {
                let r = self.opt_uuid(*r);
                OpinionMessage::notify_opinion_invoice(uuid, r, ts, b.as_str())
            }
            ExtSpec::NotifyOpinion(r, i, o) => {
                let r = self.opt_uuid(*r);
                OpinionMessage::notify_opinion(uuid, r, ts, i.as_str(), o.as_str())
            }
        }
    }

    fn asked(&mut self, request: Uuid) {
        self.remember(request);
        self.last_request = Some(request);
        self.asked.push(request);
    }

    /// An app call of `s`, then its events (nothing delivered in between), then settle.
    fn app<T>(
        &mut self,
        s: S,
        f: impl FnOnce(&mut world::Host, moneysocket_core::host::SessionId, Instant) -> T,
    ) -> T {
        let auto = self.w.auto_settle;
        self.w.auto_settle = false;
        let r = self.w.call(s, f);
        self.w.auto_settle = auto;
        self.take_events();
        r
    }

    /// The provider accepted an answer to `request`: it was asked and is answered now.
    fn answered(&mut self, request: Option<Uuid>, r: &Result<(), HostError>) {
        if let (Some(u), Ok(())) = (request, r) {
            assert!(
                self.asked.contains(&u),
                "answer to {u:?} accepted, never asked or already done: {:?}",
                self.asked
            );
            self.asked.retain(|a| *a != u);
        }
    }

    /// After the caller fired every due deadline: no configured limit has passed unnoticed.
    fn check_timers(&self) {
        // `rendezvous_timeout` must be announced and fire on time (it once was not).
        if let (Some(limit), Some(opened)) = (self.rendezvous_timeout, self.consumer_opened) {
            if self.w.c(self.c).link_state() == LinkState::Rendezvous {
                assert!(
                    self.w.now < opened.saturating_add(limit),
                    "consumer still waiting for the rendezvous at {:?}: opened at {opened:?}, \
                     limit {limit:?}, announced deadline {:?}",
                    self.w.now,
                    self.w.c(self.c).poll_timeout()
                );
            }
        }
    }

    // -- frames ------------------------------------------------------------------------

    fn deliver(&mut self, t: Target, f: &[u8]) {
        match t {
            Target::Consumer => self.w.inject(self.c, f),
            Target::Provider => self.w.inject(self.p, f),
            Target::Relay(i) => {
                let conns = self.w.conn_ids();
                if !conns.is_empty() {
                    let conn = conns[usize::from(i) % conns.len()];
                    self.w.inject_relay(conn, f);
                }
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
        if text.len() > MAX_TEXT {
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

    fn wire_frame(&self, i: u8) -> Option<Vec<u8>> {
        let n = self.w.wire.len();
        (n > 0).then(|| self.w.wire[usize::from(i) % n].clone())
    }

    // -- the script ----------------------------------------------------------------------

    fn step(&mut self, op: &Op) {
        if debug() {
            eprintln!("at {:?}: {op:?}", self.w.now);
        }
        let (c, p) = (self.c, self.p);
        match op {
            Op::Connect(Party::Provider) if self.listens => {
                let _ = self.w.listen(p);
            }
            Op::Connect(party) => {
                if self.w.connect(self.party(*party)).is_ok() && *party == Party::Consumer {
                    self.consumer_opened = Some(self.w.now);
                }
            }
            Op::SessionOpened(party) => {
                let s = self.party(*party);
                if self.w.attached(s) {
                    if *party == Party::Consumer {
                        self.consumer_opened = Some(self.w.now);
                    }
                    self.w.reopen(s);
                }
            }
            Op::SessionClosed(party) => {
                let s = self.party(*party);
                if let (true, Some(conn)) = (self.w.attached(s), self.w.conn(s)) {
                    let (h, _) = self.w.id(s);
                    self.w.input(h, HostInput::Closed(conn));
                }
            }
            Op::Drop(party) => self.w.drop_socket(self.party(*party)),
            Op::RelayOpened => {
                if self.w.conn_ids().len() < 2 * RAW_CONNS {
                    self.w.raw_conn();
                }
            }
            Op::RelayClosed(i) => {
                let conns = self.w.conn_ids();
                if !conns.is_empty() {
                    let conn = conns[usize::from(*i) % conns.len()];
                    self.w.input(RELAY, HostInput::Closed(conn));
                }
            }
            Op::RelayTimeout => self.w.input(RELAY, HostInput::Timeout),
            Op::SessionTimeout(party) => {
                let (h, _) = self.w.id(self.party(*party));
                self.w.input(h, HostInput::Timeout);
            }
            Op::Raw(t, bytes) => self.deliver(*t, bytes),
            Op::Valid(t, m, enc) => {
                if let Some(f) = self.build(m, *enc) {
                    self.deliver(*t, &f);
                }
            }
            Op::Replay(t, i) => {
                if let Some(f) = self.wire_frame(*i) {
                    self.deliver(*t, &f);
                }
            }
            Op::Corrupt(t, i, pos, x) => {
                if let Some(mut f) = self.wire_frame(*i) {
                    if !f.is_empty() {
                        let n = f.len();
                        f[usize::from(*pos) % n] ^= x | 1;
                    }
                    self.deliver(*t, &f);
                }
            }
            Op::Advance(j, stepwise) => {
                let now = self.w.now;
                let target = match j {
                    Jump::Millis(m) => Instant(now.0.saturating_add((*m).into())),
                    Jump::Secs(s) => Instant(now.0.saturating_add(u64::from(*s) * 1000)),
                    Jump::Raw(ms) => Instant(now.0.saturating_add(*ms)),
                    Jump::NearEnd(x) => Instant((u64::MAX - u64::from(*x)).max(now.0)),
                    Jump::NextDeadline => self.w.next_deadline().unwrap_or(now).max(now),
                };
                // A punctual caller visits the deadlines on the way; a late one does not.
                self.w.advance_to(target, if *stepwise { 32 } else { 0 });
                self.observe();
                self.check_timers();
            }
            Op::Pump(n) => self.w.pump(usize::from(*n)),
            Op::Settle => self.w.settle(),
            Op::Lose => self.w.lose(),
            Op::RequestInvoice(msats) => {
                if let Ok(u) = self.app(c, |h, id, now| h.request_invoice(id, *msats, now)) {
                    self.outstanding.push(u);
                    self.remember(u);
                }
            }
            Op::Pay(b) => {
                let b = b.text();
                if let Ok(u) = self.app(c, |h, id, now| h.pay(id, &b, now)) {
                    self.outstanding.push(u);
                    self.remember(u);
                }
            }
            Op::ConsumerClose => {
                let _ = self.app(c, |h, id, now| h.close(id, now));
            }
            Op::ProviderClose => {
                let _ = self.app(p, |h, id, now| h.close(id, now));
            }
            Op::SetInfo(info) => {
                let _ = self.app(p, |h, id, now| h.set_provider_info(id, &info.info(), now));
            }
            Op::SendInvoice(u, b) => {
                let (u, b) = (self.uuid(*u), b.text());
                let r = self.app(p, |h, id, now| h.send_invoice(id, u, &b, now));
                self.answered(Some(u), &r);
            }
            Op::SendPreimage(u, pre) => {
                let u = self.opt_uuid(*u);
                let r = self.app(p, |h, id, now| h.send_preimage(id, u, pre, now));
                self.answered(u, &r);
            }
            Op::SendError(u, s) => {
                let u = self.opt_uuid(*u);
                let r = self.app(p, |h, id, now| h.send_error(id, u, s, now));
                self.answered(u, &r);
            }
            Op::SendExtension(party, u, spec) => {
                let mut items = Vec::new();
                let msg = self.ext_message(*u, spec, &mut items);
                let s = self.party(*party);
                let r = self.app(s, |h, id, now| h.send_extension(id, &msg, now));
                if !self.extensions {
                    assert!(r.is_err(), "extension sent with extensions off");
                }
            }
        }
        self.w.settle_if_auto();
        self.observe();
    }
}

/// `SESSIONS_FUZZ_DEBUG=1` traces operations and events (for reproducing a crash).
fn debug() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SESSIONS_FUZZ_DEBUG").is_some())
}

fuzz_target!(|script: Script| {
    if debug() {
        eprintln!("{:?}", script.setup);
    }
    let mut run = Run::new(&script.setup);
    for op in script.ops.iter().take(256) {
        run.step(op);
    }
    run.w.settle();
    run.observe();
});
