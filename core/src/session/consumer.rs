//! The consumer session: consumer and consumer-transact layers (11.7, 11.8) on a link, with
//! the keepalive and request deadlines the reference lacks.

use core::time::Duration;

use heapless::Vec;
use rand_core::{CryptoRng, RngCore};

use super::link::{end_reason, Link, LinkState, Polled, Received, Send};
use super::store::{self, Span, TextStore};
use super::{
    CloseReason, DefaultStore, FrameRefusal, SessionError, SessionInput, SessionOutput,
    DEFAULT_MAX_FRAME, DEFAULT_PENDING, DEFAULT_QUEUE,
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
    /// Largest frame sent or accepted, in bytes (default [`DEFAULT_MAX_FRAME`], the
    /// transport's default limit).
    pub max_frame: usize,
    /// Carry extension messages (the opinion-seller demo, wire 7.6): receive them as
    /// [`ConsumerEvent::Extension`] and send them with [`Consumer::send_extension`].
    /// Default `false`: their names are refused as unknown, as every v0 peer does.
    pub extensions: bool,
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
            max_frame: DEFAULT_MAX_FRAME,
            extensions: false,
        }
    }
}

/// Which request a [`ConsumerEvent::RequestFailed`] (or a provider's request event) is about.
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
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequestFailure {
    /// No answer within [`ConsumerConfig::request_timeout`]. A late answer is ignored.
    TimedOut,
    /// The link closed first. Whether a payment went out is unknown: check the provider's
    /// balance after reconnecting.
    LinkClosed,
}

/// A `NOTIFY_PROVIDER` (handshake answer or later balance update). `S` is the JSON text:
/// `&str` borrowed from the session, or an owned `String` ([`ConsumerEvent::map_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderUpdate<S> {
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
    json: S,
}

impl<'a> ProviderUpdate<&'a str> {
    /// From the decrypted text of a `NOTIFY_PROVIDER` the link already validated.
    fn read(json: &'a str) -> Self {
        let msg = Message::parse(json.as_bytes()).ok();
        let info = msg.as_ref().and_then(|m| m.provider_info());
        ProviderUpdate {
            reference: msg.as_ref().and_then(|m| m.reference_uuid()),
            account_uuid: info.map_or(Uuid([0; 16]), |i| i.account_uuid),
            payer: info.is_some_and(|i| i.payer),
            payee: info.is_some_and(|i| i.payee),
            msats: info.and_then(|i| i.wad.map(|w| w.msats)),
            json,
        }
    }
}

impl<S: AsRef<str>> ProviderUpdate<S> {
    /// The full wad (asset code, name, ...), read from the message.
    pub fn wad(&self) -> Option<Wad<'_>> {
        Message::parse(self.json.as_ref().as_bytes())
            .ok()?
            .provider_info()?
            .wad
    }

    /// The message JSON as received (after decryption).
    pub fn json(&self) -> &str {
        self.json.as_ref()
    }
}

impl<S> ProviderUpdate<S> {
    /// The same update with its text mapped (e.g. `str::to_owned`).
    pub fn map_text<T>(self, f: impl FnOnce(S) -> T) -> ProviderUpdate<T> {
        ProviderUpdate {
            reference: self.reference,
            account_uuid: self.account_uuid,
            payer: self.payer,
            payee: self.payee,
            msats: self.msats,
            json: f(self.json),
        }
    }
}

/// What a consumer session reports. `S` is the text type: `&str` borrowed from the session
/// until its next poll, or an owned `String` after [`ConsumerEvent::map_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerEvent<S> {
    /// The relay has no peer for this beacon yet (`NOTIFY_RENDEZVOUS_NOT_READY`).
    WaitingForPeer,
    /// Paired with the peer; `REQUEST_PROVIDER` sent.
    Paired,
    /// The provider answered `NOTIFY_PROVIDER_NOT_READY`; the session keeps asking.
    ProviderNotReady,
    /// Provider info: the handshake answer (the session is ready for requests from now
    /// on) and every later update, e.g. the balance after a payment.
    Provider(ProviderUpdate<S>),
    /// The invoice for a [`Consumer::request_invoice`].
    Invoice {
        /// The request's uuid.
        request: Uuid,
        /// The BOLT11 invoice.
        bolt11: S,
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
        message: S,
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
    /// An extension message (only with `extensions` on), as received (decrypted and
    /// validated): read it with
    /// [`OpinionMessage::parse`](crate::message::opinion::OpinionMessage::parse). The
    /// application correlates requests and answers by their uuids.
    Extension {
        /// The message JSON.
        json: S,
    },
    /// A received frame was dropped (the link stays up).
    Refused(FrameRefusal),
    /// The session closed: close the transport. Outstanding requests were failed first.
    Closed(CloseReason),
}

impl<S> ConsumerEvent<S> {
    /// The same event with its texts mapped, e.g. `event.map_text(str::to_owned)` to keep
    /// it past the next poll.
    pub fn map_text<T>(self, mut f: impl FnMut(S) -> T) -> ConsumerEvent<T> {
        match self {
            ConsumerEvent::WaitingForPeer => ConsumerEvent::WaitingForPeer,
            ConsumerEvent::Paired => ConsumerEvent::Paired,
            ConsumerEvent::ProviderNotReady => ConsumerEvent::ProviderNotReady,
            ConsumerEvent::Provider(u) => ConsumerEvent::Provider(u.map_text(f)),
            ConsumerEvent::Invoice { request, bolt11 } => ConsumerEvent::Invoice {
                request,
                bolt11: f(bolt11),
            },
            ConsumerEvent::Preimage { request, preimage } => {
                ConsumerEvent::Preimage { request, preimage }
            }
            ConsumerEvent::Error { request, message } => ConsumerEvent::Error {
                request,
                message: f(message),
            },
            ConsumerEvent::Pong { request, rtt } => ConsumerEvent::Pong { request, rtt },
            ConsumerEvent::RequestFailed {
                request,
                kind,
                reason,
            } => ConsumerEvent::RequestFailed {
                request,
                kind,
                reason,
            },
            ConsumerEvent::Extension { json } => ConsumerEvent::Extension { json: f(json) },
            ConsumerEvent::Refused(r) => ConsumerEvent::Refused(r),
            ConsumerEvent::Closed(r) => ConsumerEvent::Closed(r),
        }
    }
}

/// A consumer event as queued: texts are spans of the session's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Queued {
    WaitingForPeer,
    Paired,
    ProviderNotReady,
    /// The message text is in the store (read again at poll time: provider info is rare).
    Provider {
        json: Span,
    },
    Invoice {
        request: Uuid,
        bolt11: Span,
    },
    /// The 32 bytes are in the store.
    Preimage {
        request: Option<Uuid>,
        preimage: Span,
    },
    Error {
        request: Option<Uuid>,
        message: Span,
    },
    Pong {
        request: Uuid,
        rtt_ms: u32,
    },
    RequestFailed {
        request: Uuid,
        kind: RequestKind,
        reason: RequestFailure,
    },
    /// The message text is in the store.
    Extension {
        json: Span,
    },
    Refused,
    Closed(CloseReason),
}

impl Queued {
    fn resolve<'a, B: TextStore>(
        self,
        store: &'a B,
        refusal: &mut Option<FrameRefusal>,
    ) -> ConsumerEvent<&'a str> {
        match self {
            Queued::WaitingForPeer => ConsumerEvent::WaitingForPeer,
            Queued::Paired => ConsumerEvent::Paired,
            Queued::ProviderNotReady => ConsumerEvent::ProviderNotReady,
            Queued::Provider { json } => {
                ConsumerEvent::Provider(ProviderUpdate::read(store::text(store, json)))
            }
            Queued::Invoice { request, bolt11 } => ConsumerEvent::Invoice {
                request,
                bolt11: store::text(store, bolt11),
            },
            Queued::Preimage { request, preimage } => ConsumerEvent::Preimage {
                request,
                preimage: store::bytes(store, preimage).try_into().unwrap_or([0; 32]),
            },
            Queued::Error { request, message } => ConsumerEvent::Error {
                request,
                message: store::text(store, message),
            },
            Queued::Pong { request, rtt_ms } => ConsumerEvent::Pong {
                request,
                rtt: Duration::from_millis(u64::from(rtt_ms)),
            },
            Queued::RequestFailed {
                request,
                kind,
                reason,
            } => ConsumerEvent::RequestFailed {
                request,
                kind,
                reason,
            },
            Queued::Extension { json } => ConsumerEvent::Extension {
                json: store::text(store, json),
            },
            Queued::Refused => {
                ConsumerEvent::Refused(refusal.take().unwrap_or(FrameRefusal::NoRoom))
            }
            Queued::Closed(r) => ConsumerEvent::Closed(r),
        }
    }
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

/// The provider info last reported.
#[derive(Debug, Clone, Copy)]
struct Known {
    account_uuid: Uuid,
    payer: bool,
    payee: bool,
    msats: Option<u64>,
}

/// A consumer: rendezvous, provider handshake, invoice and pay requests, keepalive.
///
/// `B`: where texts wait for the drain ([`TextStore`]); `Q`: depth of each output queue;
/// `P`: outstanding requests. `Q` must exceed `P + 3` (checked at compile time). Entropy
/// and the frame buffer come with each call; nothing here is sized by the frame length.
#[derive(Debug)]
pub struct Consumer<
    B = DefaultStore,
    const Q: usize = DEFAULT_QUEUE,
    const P: usize = DEFAULT_PENDING,
> {
    link: Link<B, Queued, Q>,
    config: ConsumerConfig,
    phase: Phase,
    pending: Vec<Pending, P>,
    /// Phase deadline: rendezvous or handshake limit.
    phase_deadline: Option<Instant>,
    next_provider_request: Option<Instant>,
    next_ping: Option<Instant>,
    /// Outstanding ping: when it was queued, and its uuid once sealed.
    ping: Option<(Option<Uuid>, Instant)>,
    /// A pong arrived on this link: the pong deadline is armed.
    pong_seen: bool,
    provider: Option<Known>,
    stats: ConsumerStats,
}

impl<B: TextStore, const Q: usize, const P: usize> Consumer<B, Q, P> {
    const SIZES_OK: () = assert!(Q > P + 3, "Consumer needs Q > P + 3");

    /// A consumer for the beacon's `seed`, idle until [`SessionInput::Opened`].
    pub fn new(seed: &SharedSeed, config: ConsumerConfig) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZES_OK;
        Consumer {
            link: Link::new(seed, config.unix_offset_ms, config.max_frame)
                .with_extensions(config.extensions),
            config,
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
    pub fn handle_input(&mut self, input: SessionInput<'_>, now: Instant) {
        self.link.now = now;
        match input {
            SessionInput::Opened => self.on_opened(now),
            SessionInput::Frame(bytes) => self.on_frame(bytes, now),
            SessionInput::Closed => self.close_with(CloseReason::TransportClosed),
            SessionInput::Timeout => {}
        }
        self.on_timers(now);
    }

    /// The next output, until `None`: events, then frames sealed into `buf` (give it
    /// [`ConsumerConfig::max_frame`] bytes) with entropy from `rng`.
    #[must_use]
    pub fn poll_output<'a, R: RngCore + CryptoRng + ?Sized>(
        &'a mut self,
        rng: &mut R,
        buf: &'a mut [u8],
    ) -> Option<SessionOutput<'a, ConsumerEvent<&'a str>>> {
        match self.link.poll(None, rng, buf)? {
            Polled::Event(e) => Some(SessionOutput::Event(
                e.resolve(&self.link.text, &mut self.link.refusal),
            )),
            Polled::Sealed { send, uuid, len } => {
                if send == Send::Ping {
                    if let Some((id @ None, _)) = &mut self.ping {
                        *id = Some(uuid);
                    }
                }
                Some(SessionOutput::Transmit(&buf[..len]))
            }
        }
    }

    /// Whether the next output is an event, and if so whether it is `Closed` (the host
    /// acts on a close before it hands the event out).
    #[cfg(feature = "alloc")]
    pub(crate) fn peek_event(&self) -> Option<Option<CloseReason>> {
        match self.link.front_event()? {
            Queued::Closed(r) => Some(Some(*r)),
            _ => Some(None),
        }
    }

    /// When to call `handle_input(SessionInput::Timeout, now)` next (`None`: no deadline).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
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

    /// Whether the provider handshake is done (requests can be sent).
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Whether the session is closed (a new [`SessionInput::Opened`] starts over).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The link's state.
    pub fn link_state(&self) -> LinkState {
        self.link.state()
    }

    /// The rendezvous id this consumer asks for (lowercase hex).
    pub fn rendezvous_id(&self) -> crate::message::Hex256 {
        self.link.rendezvous_id()
    }

    /// The latest balance the provider reported, in msat.
    pub fn balance_msats(&self) -> Option<u64> {
        self.provider.and_then(|p| p.msats)
    }

    /// The latest provider info: account uuid, payer, payee.
    pub fn provider_account(&self) -> Option<(Uuid, bool, bool)> {
        self.provider.map(|p| (p.account_uuid, p.payer, p.payee))
    }

    /// Number of requests waiting for an answer.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Number of queued outputs (frames to seal and events).
    pub fn pending_outputs(&self) -> usize {
        self.link.queued()
    }

    /// Counters.
    pub fn stats(&self) -> ConsumerStats {
        let mut s = self.stats;
        s.output_overflow = self.link.overflow;
        s
    }

    /// Asks the provider for an invoice of `msats`; returns the request's uuid (drawn from
    /// `rng`). The answer comes as [`ConsumerEvent::Invoice`], [`ConsumerEvent::Error`] or
    /// [`ConsumerEvent::RequestFailed`].
    pub fn request_invoice<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        msats: u64,
        now: Instant,
        rng: &mut R,
    ) -> Result<Uuid, SessionError> {
        if msats == 0 {
            return Err(SessionError::InvalidAmount);
        }
        self.check_request()?;
        let uuid = Uuid::new_v4(rng);
        self.queue_request(
            Send::RequestInvoice { uuid, msats },
            uuid,
            RequestKind::Invoice,
            now,
        );
        Ok(uuid)
    }

    /// Asks the provider to pay `bolt11` (must start with `lnbc`, as v0 peers require);
    /// returns the request's uuid (drawn from `rng`). The answer comes as
    /// [`ConsumerEvent::Preimage`], [`ConsumerEvent::Error`] or
    /// [`ConsumerEvent::RequestFailed`].
    pub fn pay<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        bolt11: &str,
        now: Instant,
        rng: &mut R,
    ) -> Result<Uuid, SessionError> {
        if !bolt11.starts_with("lnbc") {
            return Err(SessionError::NotBolt11);
        }
        self.check_request()?;
        // The fields around the invoice in a REQUEST_PAY are under 256 bytes.
        let span = self.link.store_outgoing(bolt11, 256)?;
        let uuid = Uuid::new_v4(rng);
        self.queue_request(
            Send::RequestPay { uuid, bolt11: span },
            uuid,
            RequestKind::Pay,
            now,
        );
        Ok(uuid)
    }

    /// Sends an extension message (stamped `now`; its uuids are the application's: a
    /// request's own, a notification's reference to the request it answers). Needs
    /// `extensions` on and a paired link (before or after the provider handshake); the
    /// session keeps no request state for it.
    pub fn send_extension(
        &mut self,
        msg: &crate::message::opinion::OpinionMessage<'_>,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.link.queue_extension(msg, now)
    }

    /// Closes the session ([`CloseReason::Local`]); outstanding requests fail.
    pub fn close(&mut self, now: Instant) {
        self.link.now = now;
        self.close_with(CloseReason::Local);
    }

    fn check_request(&self) -> Result<(), SessionError> {
        match self.phase {
            Phase::Ready => {}
            Phase::Closed => return Err(SessionError::Closed),
            _ => return Err(SessionError::NotReady),
        }
        if self.pending.is_full() {
            return Err(SessionError::TooManyPending);
        }
        self.link.can_send()
    }

    fn queue_request(&mut self, send: Send, uuid: Uuid, kind: RequestKind, now: Instant) {
        self.link.now = now;
        self.link.send(send);
        let _ = self.pending.push(Pending {
            uuid,
            kind,
            deadline: now.saturating_add(self.config.request_timeout),
        });
    }

    fn on_opened(&mut self, now: Instant) {
        // A new transport replaces any previous one: its requests will not be answered.
        self.fail_pending();
        self.reset();
        self.link.open();
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
        self.link.send(Send::RequestProvider);
        self.next_provider_request = self
            .config
            .provider_retry
            .map(|d| now.saturating_add(interval(d)));
    }

    fn on_frame(&mut self, bytes: &mut [u8], now: Instant) {
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            self.stats.ignored_frames += 1;
            return;
        }
        let received = self.link.receive(bytes);
        let event = match received {
            Received::Ignored => {
                self.stats.ignored_frames += 1;
                None
            }
            Received::NotReady => Some(Queued::WaitingForPeer),
            Received::Paired => {
                self.phase = Phase::Handshake;
                self.phase_deadline = self.config.handshake_timeout.map(|d| now.saturating_add(d));
                self.link.event(Queued::Paired);
                self.send_provider_request(now);
                None
            }
            Received::End { was_paired } => {
                self.close_with(end_reason(was_paired));
                None
            }
            Received::Refused(r) => self.refused(r),
            Received::Extension(text) => match store::push_bytes(&mut self.link.text, text) {
                Ok(json) => Some(Queued::Extension { json }),
                Err(_) => self.refused(FrameRefusal::NoRoom),
            },
            Received::LenientError { reference, raw } => {
                let text = store::push_chars(&mut self.link.text, raw.chars());
                self.on_error(reference, text)
            }
            Received::Message(msg, text) => self.on_message(&msg, text, now),
        };
        if let Some(e) = event {
            self.link.event(e);
        }
    }

    fn on_message(&mut self, msg: &Message<'_>, text: &[u8], now: Instant) -> Option<Queued> {
        let reference = msg.reference_uuid();
        let body = msg.body();
        if body.kind().class() == MessageClass::Request {
            // Only consumers send requests: the peer is a consumer too.
            self.close_with(CloseReason::WrongRole);
            return None;
        }
        let ready = self.phase == Phase::Ready;
        match body {
            Body::NotifyProvider(info) => {
                let Ok(json) = store::push_bytes(&mut self.link.text, text) else {
                    return self.refused(FrameRefusal::NoRoom);
                };
                let known = Known {
                    account_uuid: info.account_uuid,
                    payer: info.payer,
                    payee: info.payee,
                    msats: info.wad.map(|w| w.msats),
                };
                self.on_provider(known, now);
                Some(Queued::Provider { json })
            }
            Body::NotifyProviderNotReady if self.phase == Phase::Handshake => {
                Some(Queued::ProviderNotReady)
            }
            Body::NotifyPong if ready => match (self.ping, reference) {
                (Some((Some(uuid), sent)), Some(r)) if r == uuid => {
                    self.ping = None;
                    self.pong_seen = true;
                    Some(Queued::Pong {
                        request: uuid,
                        rtt_ms: u32::try_from(now.as_millis().saturating_sub(sent.as_millis()))
                            .unwrap_or(u32::MAX),
                    })
                }
                _ => self.ignored(),
            },
            Body::NotifyInvoice { bolt11 } if ready => {
                match reference.and_then(|r| self.take_pending(r, Some(RequestKind::Invoice))) {
                    Some(p) => match store::push_chars(&mut self.link.text, bolt11.chars()) {
                        Ok(bolt11) => Some(Queued::Invoice {
                            request: p.uuid,
                            bolt11,
                        }),
                        Err(_) => self.refused(FrameRefusal::NoRoom),
                    },
                    None => self.ignored(),
                }
            }
            Body::NotifyPreimage { preimage, .. } if ready => {
                let request = match reference {
                    None => None,
                    Some(r) if self.take_pending(r, Some(RequestKind::Pay)).is_some() => Some(r),
                    Some(_) => return self.ignored(),
                };
                match store::push_bytes(&mut self.link.text, &preimage.to_bytes()) {
                    Ok(preimage) => Some(Queued::Preimage { request, preimage }),
                    Err(_) => self.refused(FrameRefusal::NoRoom),
                }
            }
            Body::NotifyError { error_msg } if ready => {
                let text = store::push_chars(&mut self.link.text, error_msg.chars());
                self.on_error(reference, text)
            }
            b => self.refused(FrameRefusal::Unexpected(b.kind())),
        }
    }

    fn on_error(
        &mut self,
        reference: Option<Uuid>,
        text: Result<Span, crate::sink::Overflow>,
    ) -> Option<Queued> {
        if self.phase != Phase::Ready {
            return self.refused(FrameRefusal::Unexpected(MessageKind::NotifyError));
        }
        let request = match reference {
            None => None,
            Some(r) if self.take_pending(r, None).is_some() => Some(r),
            Some(_) => return self.ignored(),
        };
        match text {
            Ok(message) => Some(Queued::Error { request, message }),
            Err(_) => self.refused(FrameRefusal::NoRoom),
        }
    }

    fn on_provider(&mut self, known: Known, now: Instant) {
        self.provider = Some(known);
        if self.phase == Phase::Handshake {
            self.phase = Phase::Ready;
            self.phase_deadline = None;
            self.next_provider_request = None;
            self.next_ping = self.config.ping_interval.map(|_| now);
        }
    }

    fn ignored(&mut self) -> Option<Queued> {
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
            self.link.event(Queued::RequestFailed {
                request: p.uuid,
                kind: p.kind,
                reason: RequestFailure::LinkClosed,
            });
        }
    }

    /// A `Refused` event for `r` (unless one is already waiting: then only counted).
    fn refused(&mut self, r: FrameRefusal) -> Option<Queued> {
        self.link.park_refusal(r).then_some(Queued::Refused)
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
            self.link.event(Queued::Closed(reason));
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
        // Leave room for a Closed event.
        let mut i = 0;
        while i < self.pending.len() && self.link.room() > 1 {
            if now >= self.pending[i].deadline {
                let p = self.pending.swap_remove(i);
                self.link.event(Queued::RequestFailed {
                    request: p.uuid,
                    kind: p.kind,
                    reason: RequestFailure::TimedOut,
                });
            } else {
                i += 1;
            }
        }
        if let (Some(every), Some(t)) = (self.config.ping_interval, self.next_ping) {
            if now >= t && self.ping.is_none() && self.link.room() > 1 {
                self.link.send(Send::Ping);
                self.ping = Some((None, now));
                self.next_ping = Some(now.saturating_add(self::interval(every)));
            }
        }
    }
}

/// Repeating intervals are at least 1 ms: a zero interval would make a timer due again at
/// the same instant, forever.
pub(crate) fn interval(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}
