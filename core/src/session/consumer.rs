//! The consumer session: consumer and consumer-transact layers (11.7, 11.8) on a link, with
//! the keepalive and request deadlines the reference lacks.

use core::time::Duration;

use heapless::{String, Vec};
use rand_core::{CryptoRng, RngCore};

use super::link::{Link, LinkState, Received};
use super::outbox::Outbox;
use super::{
    lossy, CloseReason, Input, Output, Refusal, SessionError, DEFAULT_FRAME, DEFAULT_PENDING,
    DEFAULT_QUEUE,
};
use crate::message::{Body, Message, MessageClass, MessageKind, Wad};
use crate::seed::SharedSeed;
use crate::time::Instant;
use crate::uuid::Uuid;

/// Consumer tunables. The reference times nothing out (12); these defaults keep a dead link
/// from going unnoticed while staying lenient with slow Lightning payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Added to an `Instant` to get milliseconds since the Unix epoch (message timestamps).
    pub unix_offset_ms: u64,
    /// `REQUEST_PING` interval once the provider handshake is done (first ping at once, as
    /// the JavaScript consumer does). `None`: never ping. Default 5 s.
    pub ping_interval: Option<Duration>,
    /// A ping unanswered this long closes the link ([`CloseReason::PongTimeout`]).
    /// Default 15 s. Python and JavaScript providers answer pings in every state.
    pub pong_timeout: Duration,
    /// Enforce the pong deadline even before the provider has answered any ping on this
    /// link. Default `false`: pitfall 15.30 says a consumer must not require pongs, so the
    /// deadline is armed by the first pong (a provider that never answers pings is
    /// tolerated, its unanswered pings are counted in [`ConsumerStats::unanswered_pings`]).
    pub strict_pong: bool,
    /// An invoice or pay request unanswered this long fails with
    /// [`RequestFailure::TimedOut`]. Default 120 s (payments may take a while to route).
    pub request_timeout: Duration,
    /// While the provider is not ready, re-send `REQUEST_PROVIDER` this often (`None`: only
    /// once, as the reference). Default 5 s.
    pub provider_retry: Option<Duration>,
    /// Give up on the provider handshake after this long ([`CloseReason::HandshakeTimeout`]).
    /// Default `None` (a terminus may wait for its operator indefinitely).
    pub handshake_timeout: Option<Duration>,
    /// Give up waiting for the peer at the relay after this long
    /// ([`CloseReason::RendezvousTimeout`]). Default `None` (as the reference).
    pub rendezvous_timeout: Option<Duration>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            unix_offset_ms: 0,
            ping_interval: Some(Duration::from_secs(5)),
            pong_timeout: Duration::from_secs(15),
            strict_pong: false,
            request_timeout: Duration::from_secs(120),
            provider_retry: Some(Duration::from_secs(5)),
            handshake_timeout: None,
            rendezvous_timeout: None,
        }
    }
}

/// Which request a [`ConsumerEvent::RequestFailed`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequestKind {
    /// `REQUEST_INVOICE`.
    Invoice,
    /// `REQUEST_PAY`.
    Pay,
}

/// Why a request ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequestFailure {
    /// No answer within [`ConsumerConfig::request_timeout`]. A late answer is ignored.
    TimedOut,
    /// The link closed first. Whether a payment went out is unknown: check the provider's
    /// balance after reconnecting.
    LinkClosed,
}

/// A `NOTIFY_PROVIDER` (handshake answer or later balance update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUpdate<const N: usize> {
    /// `request_reference_uuid` as sent (not meaningful: see pitfall 15.29).
    pub reference: Option<Uuid>,
    /// The account behind the connection.
    pub account_uuid: Uuid,
    /// The provider pays invoices for this consumer.
    pub payer: bool,
    /// The provider creates invoices for this consumer.
    pub payee: bool,
    /// Balance available to the consumer, in msat (`None`: the wad is `null`).
    pub msats: Option<u64>,
    text: Vec<u8, N>,
}

impl<const N: usize> ProviderUpdate<N> {
    /// The full wad (asset code, name, ...), read from the stored message.
    pub fn wad(&self) -> Option<Wad<'_>> {
        Message::parse(&self.text).ok()?.provider_info()?.wad
    }

    /// The message JSON as received (after decryption).
    pub fn json(&self) -> &[u8] {
        &self.text
    }
}

/// What a consumer session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEvent<const N: usize> {
    /// The relay has no peer for this beacon yet (`NOTIFY_RENDEZVOUS_NOT_READY`).
    WaitingForPeer,
    /// Paired with the peer; `REQUEST_PROVIDER` sent.
    Paired,
    /// The provider answered `NOTIFY_PROVIDER_NOT_READY`; the session keeps asking.
    ProviderNotReady,
    /// Provider info: the handshake answer (the session is ready for requests from now
    /// on) and every later update, e.g. the balance after a payment.
    Provider(ProviderUpdate<N>),
    /// The invoice for a [`Consumer::request_invoice`].
    Invoice {
        /// The request's uuid.
        request: Uuid,
        /// The BOLT11 invoice.
        bolt11: String<N>,
    },
    /// A preimage: the answer to [`Consumer::pay`] (`request` set) or news that an invoice
    /// of ours was paid (`request` is `None`).
    Preimage {
        /// The request it answers, if any.
        request: Option<Uuid>,
        /// The payment preimage.
        preimage: [u8; 32],
    },
    /// The provider refused a request (`request` set) or reports a general error.
    Error {
        /// The request it answers, if any.
        request: Option<Uuid>,
        /// The provider's text (a JSON text when the provider sent a non-string).
        message: String<N>,
    },
    /// The answer to a keepalive ping.
    Pong {
        /// The ping's uuid.
        request: Uuid,
        /// Round-trip time.
        rtt: Duration,
    },
    /// A request will not be answered.
    RequestFailed {
        /// The request's uuid.
        request: Uuid,
        /// Invoice or pay.
        kind: RequestKind,
        /// Why.
        reason: RequestFailure,
    },
    /// A received frame was dropped (the link stays up).
    Refused(Refusal),
    /// The session closed: close the transport. Outstanding requests were failed first.
    Closed(CloseReason),
}

/// Consumer counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConsumerStats {
    /// Answers whose reference is not an outstanding request of this session (another
    /// connection's, or late after a timeout), ignored as pitfall 15.28 advises.
    pub ignored_answers: u64,
    /// Frames received while closed or before the transport opened.
    pub ignored_frames: u64,
    /// Pings given up on because the provider has never answered one (not strict mode).
    pub unanswered_pings: u64,
    /// Outputs lost because `poll_output` was not drained (should stay 0).
    pub output_overflow: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Rendezvous,
    Handshake,
    Ready,
    Closed,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    uuid: Uuid,
    kind: RequestKind,
    deadline: Instant,
}

/// A consumer: rendezvous, provider handshake, invoice and pay requests, keepalive.
///
/// `N`: frame/message buffer bytes, `Q`: output queue depth, `P`: outstanding requests.
/// `Q` must exceed `P + 3` (checked at compile time).
#[derive(Debug)]
pub struct Consumer<
    R,
    const N: usize = DEFAULT_FRAME,
    const Q: usize = DEFAULT_QUEUE,
    const P: usize = DEFAULT_PENDING,
> {
    link: Link<R>,
    config: ConsumerConfig,
    scratch: [u8; N],
    out: Outbox<ConsumerEvent<N>, N, Q>,
    phase: Phase,
    pending: Vec<Pending, P>,
    /// Phase deadline: rendezvous or handshake limit.
    phase_deadline: Option<Instant>,
    next_provider_request: Option<Instant>,
    next_ping: Option<Instant>,
    /// Outstanding ping: uuid and when it was sent.
    ping: Option<(Uuid, Instant)>,
    /// A pong arrived on this link: the pong deadline is armed.
    pong_seen: bool,
    provider: Option<(Uuid, bool, bool, Option<u64>)>,
    stats: ConsumerStats,
}

impl<R: RngCore + CryptoRng, const N: usize, const Q: usize, const P: usize> Consumer<R, N, Q, P> {
    const SIZES_OK: () = assert!(Q > P + 3, "Consumer needs Q > P + 3");

    /// A consumer for the beacon's `seed`, idle until [`Input::Opened`].
    pub fn new(seed: &SharedSeed, config: ConsumerConfig, rng: R) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZES_OK;
        Consumer {
            link: Link::new(seed, config.unix_offset_ms, rng),
            config,
            scratch: [0; N],
            out: Outbox::new(),
            phase: Phase::Idle,
            pending: Vec::new(),
            phase_deadline: None,
            next_provider_request: None,
            next_ping: None,
            ping: None,
            pong_seen: false,
            provider: None,
            stats: ConsumerStats::default(),
        }
    }

    /// Processes one input at `now`; then drain [`Consumer::poll_output`].
    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        match input {
            Input::Opened => self.on_opened(now),
            Input::Frame(bytes) => self.on_frame(bytes, now),
            Input::Closed => self.close_with(CloseReason::TransportClosed),
            Input::Timeout => {}
        }
        self.on_timers(now);
        self.out.touch();
    }

    /// The next output; the last one of each drain is [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Option<Output<ConsumerEvent<N>, N>> {
        if let Some(o) = self.out.pop() {
            return Some(o);
        }
        // The deadline is computed only at the end of a drain.
        self.out
            .take_deadline_report()
            .then(|| Output::Timeout(self.next_deadline()))
    }

    /// Whether the provider handshake is done (requests can be sent).
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The link's state.
    pub fn link_state(&self) -> LinkState {
        self.link.state()
    }

    /// The rendezvous id this consumer asks for (lowercase hex).
    pub fn rendezvous_id(&self) -> &str {
        self.link.rendezvous_id().as_str()
    }

    /// The latest balance the provider reported, in msat.
    pub fn balance_msats(&self) -> Option<u64> {
        self.provider.and_then(|p| p.3)
    }

    /// The latest provider info: account uuid, payer, payee.
    pub fn provider_account(&self) -> Option<(Uuid, bool, bool)> {
        self.provider.map(|p| (p.0, p.1, p.2))
    }

    /// Number of requests waiting for an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Number of queued outputs.
    pub fn pending_outputs(&self) -> usize {
        self.out.len()
    }

    /// Counters.
    pub fn stats(&self) -> ConsumerStats {
        let mut s = self.stats;
        s.output_overflow = self.out.overflow;
        s
    }

    /// Asks the provider for an invoice of `msats`; returns the request's uuid. The answer
    /// comes as [`ConsumerEvent::Invoice`], [`ConsumerEvent::Error`] or
    /// [`ConsumerEvent::RequestFailed`].
    pub fn request_invoice(&mut self, msats: u64, now: Instant) -> Result<Uuid, SessionError> {
        if msats == 0 {
            return Err(SessionError::InvalidAmount);
        }
        self.request(RequestKind::Invoice, now, |uuid, ts| {
            Message::request_invoice(uuid, ts, msats)
        })
    }

    /// Asks the provider to pay `bolt11` (must start with `lnbc`, as v0 peers require);
    /// returns the request's uuid. The answer comes as [`ConsumerEvent::Preimage`],
    /// [`ConsumerEvent::Error`] or [`ConsumerEvent::RequestFailed`].
    pub fn pay(&mut self, bolt11: &str, now: Instant) -> Result<Uuid, SessionError> {
        if !bolt11.starts_with("lnbc") {
            return Err(SessionError::NotBolt11);
        }
        self.request(RequestKind::Pay, now, |uuid, ts| {
            Message::request_pay(uuid, ts, bolt11)
        })
    }

    /// Closes the session ([`CloseReason::Local`]); outstanding requests fail.
    pub fn close(&mut self, now: Instant) {
        let _ = now;
        self.close_with(CloseReason::Local);
        self.out.touch();
    }

    fn request<'m>(
        &mut self,
        kind: RequestKind,
        now: Instant,
        build: impl FnOnce(Uuid, crate::message::Timestamp<'static>) -> Message<'m>,
    ) -> Result<Uuid, SessionError> {
        match self.phase {
            Phase::Ready => {}
            Phase::Closed => return Err(SessionError::Closed),
            _ => return Err(SessionError::NotReady),
        }
        if self.pending.is_full() {
            return Err(SessionError::TooManyPending);
        }
        if self.out.room() < 2 {
            return Err(SessionError::QueueFull);
        }
        let uuid = self.link.uuid();
        let frame = self.link.encode(&build(uuid, self.link.timestamp(now)))?;
        self.out.transmit(frame);
        let _ = self.pending.push(Pending {
            uuid,
            kind,
            deadline: now.saturating_add(self.config.request_timeout),
        });
        self.out.touch();
        Ok(uuid)
    }

    fn on_opened(&mut self, now: Instant) {
        // A new transport replaces any previous one: its requests will not be answered.
        self.fail_pending();
        self.reset();
        match self.link.open(now) {
            Ok(f) => self.out.transmit(f),
            Err(_) => {
                // A REQUEST_RENDEZVOUS is ~250 bytes: only a tiny N gets here.
                self.close_with(CloseReason::Local);
                return;
            }
        }
        self.phase = Phase::Rendezvous;
        self.phase_deadline = self
            .config
            .rendezvous_timeout
            .map(|d| now.saturating_add(d));
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.phase_deadline = None;
        self.next_provider_request = None;
        self.next_ping = None;
        self.ping = None;
        self.pong_seen = false;
        self.provider = None;
    }

    fn send_provider_request(&mut self, now: Instant) {
        let uuid = self.link.uuid();
        let msg = Message::request_provider(uuid, self.link.timestamp(now));
        self.out.send(&mut self.link, &msg);
        self.next_provider_request = self
            .config
            .provider_retry
            .map(|d| now.saturating_add(interval(d)));
    }

    fn on_frame(&mut self, bytes: &[u8], now: Instant) {
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            self.stats.ignored_frames += 1;
            return;
        }
        let incoming = Incoming::from(self.link.receive(bytes, &mut self.scratch));
        let event = match incoming {
            Incoming::Ignored => {
                self.stats.ignored_frames += 1;
                None
            }
            Incoming::NotReady => Some(ConsumerEvent::WaitingForPeer),
            Incoming::Paired => {
                self.phase = Phase::Handshake;
                self.phase_deadline = self.config.handshake_timeout.map(|d| now.saturating_add(d));
                self.out.event(ConsumerEvent::Paired);
                self.send_provider_request(now);
                None
            }
            Incoming::End { was_paired } => {
                self.close_with(if was_paired {
                    CloseReason::PeerGone
                } else {
                    CloseReason::RendezvousRefused
                });
                None
            }
            Incoming::Refused(r) => Some(ConsumerEvent::Refused(r)),
            Incoming::Request => {
                // Only consumers send requests: the peer is a consumer too.
                self.close_with(CloseReason::WrongRole);
                None
            }
            Incoming::Provider(update) => self.on_provider(update, now),
            Incoming::ProviderNotReady if self.phase == Phase::Handshake => {
                Some(ConsumerEvent::ProviderNotReady)
            }
            Incoming::Pong(reference) if self.phase == Phase::Ready => {
                match (self.ping, reference) {
                    (Some((uuid, sent)), Some(r)) if r == uuid => {
                        self.ping = None;
                        self.pong_seen = true;
                        Some(ConsumerEvent::Pong {
                            request: uuid,
                            rtt: now.saturating_duration_since(sent),
                        })
                    }
                    _ => self.ignored(),
                }
            }
            Incoming::Invoice(reference, bolt11) if self.phase == Phase::Ready => {
                match reference.and_then(|r| self.take_pending(r, Some(RequestKind::Invoice))) {
                    Some(p) => Some(ConsumerEvent::Invoice {
                        request: p.uuid,
                        bolt11,
                    }),
                    None => self.ignored(),
                }
            }
            Incoming::Preimage(reference, preimage) if self.phase == Phase::Ready => {
                match reference {
                    None => Some(ConsumerEvent::Preimage {
                        request: None,
                        preimage,
                    }),
                    Some(r) if self.take_pending(r, Some(RequestKind::Pay)).is_some() => {
                        Some(ConsumerEvent::Preimage {
                            request: Some(r),
                            preimage,
                        })
                    }
                    Some(_) => self.ignored(),
                }
            }
            Incoming::Error(reference, message) if self.phase == Phase::Ready => match reference {
                None => Some(ConsumerEvent::Error {
                    request: None,
                    message,
                }),
                Some(r) if self.take_pending(r, None).is_some() => Some(ConsumerEvent::Error {
                    request: Some(r),
                    message,
                }),
                Some(_) => self.ignored(),
            },
            Incoming::ProviderNotReady => Some(unexpected(MessageKind::NotifyProviderNotReady)),
            Incoming::Pong(_) => Some(unexpected(MessageKind::NotifyPong)),
            Incoming::Invoice(..) => Some(unexpected(MessageKind::NotifyInvoice)),
            Incoming::Preimage(..) => Some(unexpected(MessageKind::NotifyPreimage)),
            Incoming::Error(..) => Some(unexpected(MessageKind::NotifyError)),
        };
        if let Some(e) = event {
            self.out.event(e);
        }
    }

    fn on_provider(&mut self, update: ProviderUpdate<N>, now: Instant) -> Option<ConsumerEvent<N>> {
        self.provider = Some((
            update.account_uuid,
            update.payer,
            update.payee,
            update.msats,
        ));
        if self.phase == Phase::Handshake {
            self.phase = Phase::Ready;
            self.phase_deadline = None;
            self.next_provider_request = None;
            self.next_ping = self.config.ping_interval.map(|_| now);
        }
        Some(ConsumerEvent::Provider(update))
    }

    fn ignored(&mut self) -> Option<ConsumerEvent<N>> {
        self.stats.ignored_answers += 1;
        None
    }

    /// Removes the outstanding request `uuid` (of `kind`, if given).
    fn take_pending(&mut self, uuid: Uuid, kind: Option<RequestKind>) -> Option<Pending> {
        let i = self
            .pending
            .iter()
            .position(|p| p.uuid == uuid && kind.is_none_or(|k| k == p.kind))?;
        Some(self.pending.swap_remove(i))
    }

    /// Every outstanding request fails with `LinkClosed`.
    fn fail_pending(&mut self) {
        for p in core::mem::take(&mut self.pending) {
            self.out.event(ConsumerEvent::RequestFailed {
                request: p.uuid,
                kind: p.kind,
                reason: RequestFailure::LinkClosed,
            });
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        let idle = self.phase == Phase::Idle;
        self.phase = Phase::Closed;
        self.link.set_closed();
        self.fail_pending();
        self.reset();
        if !idle || reason == CloseReason::Local {
            self.out.event(ConsumerEvent::Closed(reason));
        }
    }

    fn on_timers(&mut self, now: Instant) {
        if self.phase_deadline.is_some_and(|d| now >= d) {
            self.close_with(match self.phase {
                Phase::Rendezvous => CloseReason::RendezvousTimeout,
                _ => CloseReason::HandshakeTimeout,
            });
            return;
        }
        match self.phase {
            Phase::Handshake if self.next_provider_request.is_some_and(|t| now >= t) => {
                self.send_provider_request(now);
            }
            Phase::Ready => self.ready_timers(now),
            _ => {}
        }
    }

    fn ready_timers(&mut self, now: Instant) {
        if let Some((_, sent)) = self.ping {
            if now >= sent.saturating_add(self.config.pong_timeout) {
                if self.pong_seen || self.config.strict_pong {
                    self.close_with(CloseReason::PongTimeout);
                    return;
                }
                self.ping = None;
                self.stats.unanswered_pings += 1;
            }
        }
        // Leave room for a Closed event and the deadline.
        let mut i = 0;
        while i < self.pending.len() && self.out.room() > 2 {
            if now >= self.pending[i].deadline {
                let p = self.pending.swap_remove(i);
                self.out.event(ConsumerEvent::RequestFailed {
                    request: p.uuid,
                    kind: p.kind,
                    reason: RequestFailure::TimedOut,
                });
            } else {
                i += 1;
            }
        }
        if let (Some(every), Some(t)) = (self.config.ping_interval, self.next_ping) {
            if now >= t && self.ping.is_none() && self.out.room() > 2 {
                let uuid = self.link.uuid();
                let msg = Message::request_ping(uuid, self.link.timestamp(now));
                self.out.send(&mut self.link, &msg);
                self.ping = Some((uuid, now));
                self.next_ping = Some(now.saturating_add(self::interval(every)));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.phase_deadline;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                d = Some(d.map_or(t, |d| d.min(t)));
            }
        };
        match self.phase {
            Phase::Handshake => consider(self.next_provider_request),
            Phase::Ready => {
                consider(
                    self.ping
                        .map(|(_, s)| s.saturating_add(self.config.pong_timeout)),
                );
                if self.ping.is_none() && self.config.ping_interval.is_some() {
                    consider(self.next_ping);
                }
                for p in &self.pending {
                    consider(Some(p.deadline));
                }
            }
            Phase::Rendezvous => {}
            Phase::Idle | Phase::Closed => return None,
        }
        d
    }
}

/// Repeating intervals are at least 1 ms: a zero interval would make a timer due again at
/// the same instant, forever.
fn interval(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

fn unexpected<const N: usize>(kind: MessageKind) -> ConsumerEvent<N> {
    ConsumerEvent::Refused(Refusal::Unexpected(kind))
}

/// A received frame reduced to owned data, so that the session can act on it after the
/// scratch buffer borrow ends.
enum Incoming<const N: usize> {
    Ignored,
    NotReady,
    Paired,
    End { was_paired: bool },
    Refused(Refusal),
    Request,
    Provider(ProviderUpdate<N>),
    ProviderNotReady,
    Pong(Option<Uuid>),
    Invoice(Option<Uuid>, String<N>),
    Preimage(Option<Uuid>, [u8; 32]),
    Error(Option<Uuid>, String<N>),
}

impl<const N: usize> From<Received<'_>> for Incoming<N> {
    fn from(r: Received<'_>) -> Self {
        match r {
            Received::Ignored => Incoming::Ignored,
            Received::NotReady => Incoming::NotReady,
            Received::Paired => Incoming::Paired,
            Received::End { was_paired } => Incoming::End { was_paired },
            Received::Refused(r) => Incoming::Refused(r),
            Received::LenientError { reference, raw } => {
                Incoming::Error(reference, lossy(raw.chars()))
            }
            Received::Message(msg, text) => from_message(&msg, text),
        }
    }
}

fn from_message<const N: usize>(msg: &Message<'_>, text: &[u8]) -> Incoming<N> {
    let reference = msg.reference_uuid();
    match msg.body() {
        b if b.kind().class() == MessageClass::Request => Incoming::Request,
        Body::NotifyProvider(info) => {
            let mut stored = Vec::new();
            // The frame fitted the N-byte scratch buffer, so its text fits N too.
            let _ = stored.extend_from_slice(text);
            Incoming::Provider(ProviderUpdate {
                reference,
                account_uuid: info.account_uuid,
                payer: info.payer,
                payee: info.payee,
                msats: info.wad.map(|w| w.msats),
                text: stored,
            })
        }
        Body::NotifyProviderNotReady => Incoming::ProviderNotReady,
        Body::NotifyPong => Incoming::Pong(reference),
        Body::NotifyInvoice { bolt11 } => Incoming::Invoice(reference, lossy(bolt11.chars())),
        Body::NotifyPreimage { preimage, .. } => Incoming::Preimage(reference, preimage.to_bytes()),
        Body::NotifyError { error_msg } => Incoming::Error(reference, lossy(error_msg.chars())),
        // Rendezvous kinds never reach here (the link handles them).
        b => Incoming::Refused(Refusal::Unexpected(b.kind())),
    }
}
