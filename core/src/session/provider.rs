//! The provider session: provider and provider-transact layers (11.6, 11.8) on a link.

use core::time::Duration;

use heapless::Vec;
use rand_core::{CryptoRng, RngCore};

use super::consumer::{interval, RequestKind};
use super::link::{end_reason, FixedText, Link, LinkState, Polled, Received, Send};
use super::store::{self, Span, TextStore};
use super::{
    CloseReason, DefaultStore, FrameRefusal, SessionError, SessionInput, SessionOutput,
    DEFAULT_MAX_FRAME, DEFAULT_PENDING, DEFAULT_QUEUE,
};
use crate::message::{Body, Message, MessageClass, ProviderInfo, Timestamp, Wad};
use crate::seed::SharedSeed;
use crate::time::Instant;
use crate::uuid::Uuid;

/// The `error_msg` a provider answers to invoice or pay requests that arrive before its
/// provider handshake completed (the reference silently drops them).
pub const NOT_READY_ERROR: &str = "provider not ready";

/// The `error_msg` a provider answers to a request beyond its outstanding-request limit.
pub const TOO_MANY_REQUESTS_ERROR: &str = "too many outstanding requests";

/// Provider tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Added to an `Instant` to get milliseconds since the Unix epoch (message timestamps).
    pub unix_offset_ms: u64,
    /// After pairing, a consumer sends `REQUEST_PROVIDER` at once. If nothing arrives within
    /// this limit the peer is taken for another provider holding the same beacon and the
    /// session closes with [`CloseReason::HandshakeTimeout`]. `None`: wait forever (as the
    /// reference). Default 30 s.
    pub consumer_timeout: Option<Duration>,
    /// How long an invoice or pay request may stay unanswered: after it the request is
    /// reported as [`ProviderEvent::RequestExpired`] and an answer is refused with
    /// [`SessionError::UnknownRequest`] (the consumer gave up too). Default 120 s, the
    /// consumer's default.
    pub request_timeout: Duration,
    /// Largest frame sent or accepted, in bytes (default [`DEFAULT_MAX_FRAME`]).
    pub max_frame: usize,
    /// Carry extension messages (the opinion-seller demo, wire 7.6): receive them as
    /// [`ProviderEvent::Extension`] and send them with [`Provider::send_extension`].
    /// Default `false`: their names are refused as unknown, as every v0 peer does.
    pub extensions: bool,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            unix_offset_ms: 0,
            consumer_timeout: Some(Duration::from_secs(30)),
            request_timeout: Duration::from_secs(120),
            max_frame: DEFAULT_MAX_FRAME,
            extensions: false,
        }
    }
}

/// What a provider session reports. `S` is the text type: `&str` borrowed from the session
/// until its next poll, or an owned `String` after [`ProviderEvent::map_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderEvent<S> {
    /// The relay has no peer for this beacon yet (`NOTIFY_RENDEZVOUS_NOT_READY`).
    WaitingForPeer,
    /// Paired with the peer; waiting for its `REQUEST_PROVIDER`.
    Paired,
    /// The consumer asked for provider info and none is set: it was told
    /// `NOTIFY_PROVIDER_NOT_READY`. Call [`Provider::set_provider_info`] when ready.
    InfoRequested,
    /// The consumer has the provider info: invoice and pay requests may follow.
    ConsumerReady,
    /// The consumer wants an invoice: answer with [`Provider::send_invoice`] or
    /// [`Provider::send_error`] before [`ProviderConfig::request_timeout`].
    InvoiceRequested {
        /// The request's uuid (reference it in the answer).
        request: Uuid,
        /// Amount in millisatoshi (> 0).
        msats: u64,
    },
    /// The consumer wants an invoice paid: answer with [`Provider::send_preimage`] or
    /// [`Provider::send_error`] before [`ProviderConfig::request_timeout`].
    PayRequested {
        /// The request's uuid (reference it in the answer).
        request: Uuid,
        /// The invoice (starts with `lnbc`; not otherwise checked).
        bolt11: S,
    },
    /// A request went unanswered for [`ProviderConfig::request_timeout`]; answers to it are
    /// refused from now on. A payment still under way may complete: report it with an
    /// unsolicited [`Provider::send_preimage`]`(None, ..)` and a balance update.
    RequestExpired {
        /// The request.
        request: Uuid,
        /// Invoice or pay.
        kind: RequestKind,
    },
    /// The link closed with this request unanswered (reported for every outstanding request,
    /// before [`ProviderEvent::Closed`]). A payment under way may still complete: record it.
    RequestAbandoned {
        /// The request.
        request: Uuid,
        /// Invoice or pay.
        kind: RequestKind,
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
    /// The session closed: close the transport.
    Closed(CloseReason),
}

impl<S> ProviderEvent<S> {
    /// The same event with its text mapped, e.g. `event.map_text(str::to_owned)` to keep it
    /// past the next poll.
    pub fn map_text<T>(self, f: impl FnOnce(S) -> T) -> ProviderEvent<T> {
        match self {
            ProviderEvent::WaitingForPeer => ProviderEvent::WaitingForPeer,
            ProviderEvent::Paired => ProviderEvent::Paired,
            ProviderEvent::InfoRequested => ProviderEvent::InfoRequested,
            ProviderEvent::ConsumerReady => ProviderEvent::ConsumerReady,
            ProviderEvent::InvoiceRequested { request, msats } => {
                ProviderEvent::InvoiceRequested { request, msats }
            }
            ProviderEvent::PayRequested { request, bolt11 } => ProviderEvent::PayRequested {
                request,
                bolt11: f(bolt11),
            },
            ProviderEvent::RequestExpired { request, kind } => {
                ProviderEvent::RequestExpired { request, kind }
            }
            ProviderEvent::RequestAbandoned { request, kind } => {
                ProviderEvent::RequestAbandoned { request, kind }
            }
            ProviderEvent::Extension { json } => ProviderEvent::Extension { json: f(json) },
            ProviderEvent::Refused(r) => ProviderEvent::Refused(r),
            ProviderEvent::Closed(r) => ProviderEvent::Closed(r),
        }
    }
}

/// A provider event as queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Queued {
    WaitingForPeer,
    Paired,
    InfoRequested,
    ConsumerReady,
    InvoiceRequested {
        request: Uuid,
        msats: u64,
    },
    PayRequested {
        request: Uuid,
        bolt11: Span,
    },
    RequestExpired {
        request: Uuid,
        kind: RequestKind,
    },
    RequestAbandoned {
        request: Uuid,
        kind: RequestKind,
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
    ) -> ProviderEvent<&'a str> {
        match self {
            Queued::WaitingForPeer => ProviderEvent::WaitingForPeer,
            Queued::Paired => ProviderEvent::Paired,
            Queued::InfoRequested => ProviderEvent::InfoRequested,
            Queued::ConsumerReady => ProviderEvent::ConsumerReady,
            Queued::InvoiceRequested { request, msats } => {
                ProviderEvent::InvoiceRequested { request, msats }
            }
            Queued::PayRequested { request, bolt11 } => ProviderEvent::PayRequested {
                request,
                bolt11: store::text(store, bolt11),
            },
            Queued::RequestExpired { request, kind } => {
                ProviderEvent::RequestExpired { request, kind }
            }
            Queued::RequestAbandoned { request, kind } => {
                ProviderEvent::RequestAbandoned { request, kind }
            }
            Queued::Extension { json } => ProviderEvent::Extension {
                json: store::text(store, json),
            },
            Queued::Refused => {
                ProviderEvent::Refused(refusal.take().unwrap_or(FrameRefusal::NoRoom))
            }
            Queued::Closed(r) => ProviderEvent::Closed(r),
        }
    }
}

/// Provider counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProviderStats {
    /// Pings answered.
    pub pongs: u64,
    /// Invoice or pay requests answered with [`NOT_READY_ERROR`].
    pub early_requests: u64,
    /// Requests answered with [`TOO_MANY_REQUESTS_ERROR`].
    pub refused_requests: u64,
    /// Requests that expired unanswered.
    pub expired_requests: u64,
    /// Frames received while closed or before the transport opened.
    pub ignored_frames: u64,
    /// Outputs lost because `poll_output` was not drained (should stay 0).
    pub output_overflow: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Rendezvous,
    AwaitRequest,
    WaitingForApp,
    Ready,
    Closed,
}

/// Provider info as kept between `set_provider_info` and the `NOTIFY_PROVIDER`s it feeds.
#[derive(Debug, Clone, Copy)]
struct Info {
    account_uuid: Uuid,
    payer: bool,
    payee: bool,
    wad: StoredWad,
}

/// Most wads are the reference's plain bitcoin wad: kept as its msats; any other as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredWad {
    Null,
    Bitcoin(u64),
    Json,
}

/// The provider info to send, from its stored form.
fn info_view<B: TextStore>(info: Option<Info>, wad_json: &B) -> Option<ProviderInfo<'_>> {
    let i = info?;
    let wad = match i.wad {
        StoredWad::Null => None,
        StoredWad::Bitcoin(msats) => Some(Wad::bitcoin(msats)),
        StoredWad::Json => match crate::json::parse(wad_json.bytes()) {
            Ok(crate::json::Value::Object(o)) => Some(Wad::from_object(o).ok()?),
            _ => return None,
        },
    };
    Some(ProviderInfo {
        account_uuid: i.account_uuid,
        payer: i.payer,
        payee: i.payee,
        wad,
    })
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    request: Uuid,
    kind: RequestKind,
    deadline: Instant,
}

/// A provider: rendezvous, provider handshake, answers to pings, invoice and pay requests
/// surfaced to the application and tracked until answered, expired or abandoned,
/// unsolicited preimage and balance notifications.
///
/// `B`: where texts (and the provider info) are kept ([`TextStore`]); `Q`: depth of each
/// output queue (at least 4); `P`: outstanding requests.
#[derive(Debug)]
pub struct Provider<
    B = DefaultStore,
    const Q: usize = DEFAULT_QUEUE,
    const P: usize = DEFAULT_PENDING,
> {
    link: Link<B, Queued, Q>,
    config: ProviderConfig,
    phase: Phase,
    phase_deadline: Option<Instant>,
    /// The last request uuid seen (a delayed NOTIFY_PROVIDER references it, as the
    /// reference does).
    last_ref: Option<Uuid>,
    /// The provider info (`None`: not set), its wad stored compactly.
    info: Option<Info>,
    /// The wad's JSON when it is not a plain bitcoin wad.
    wad_json: B,
    outstanding: Vec<Outstanding, P>,
    stats: ProviderStats,
}

impl<B: TextStore, const Q: usize, const P: usize> Provider<B, Q, P> {
    const SIZES_OK: () = assert!(Q >= 4, "Provider needs Q >= 4");

    /// A provider for the beacon's `seed`, idle until [`SessionInput::Opened`].
    pub fn new(seed: &SharedSeed, config: ProviderConfig) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZES_OK;
        Provider {
            link: Link::new(seed, config.unix_offset_ms, config.max_frame)
                .with_extensions(config.extensions),
            config,
            phase: Phase::Idle,
            phase_deadline: None,
            last_ref: None,
            info: None,
            wad_json: B::default(),
            outstanding: Vec::new(),
            stats: ProviderStats::default(),
        }
    }

    /// Processes one input at `now`; then drain [`Provider::poll_output`].
    pub fn handle_input(&mut self, input: SessionInput<'_>, now: Instant) {
        self.link.now = now;
        match input {
            SessionInput::Opened => self.on_opened(now),
            SessionInput::Frame(bytes) => self.on_frame(bytes, now),
            SessionInput::Closed => self.close_with(CloseReason::TransportClosed),
            SessionInput::Timeout => {}
        }
        if self.phase_deadline.is_some_and(|d| now >= d) {
            self.close_with(CloseReason::HandshakeTimeout);
        }
        self.expire(now);
    }

    /// The next output, until `None`: events, then frames sealed into `buf` (give it
    /// [`ProviderConfig::max_frame`] bytes) with entropy from `rng`.
    #[must_use]
    pub fn poll_output<'a, R: RngCore + CryptoRng + ?Sized>(
        &'a mut self,
        rng: &mut R,
        buf: &'a mut [u8],
    ) -> Option<SessionOutput<'a, ProviderEvent<&'a str>>> {
        let info = if self.link.info_next() {
            info_view(self.info, &self.wad_json)
        } else {
            None
        };
        match self.link.poll(info, rng, buf)? {
            Polled::Event(e) => Some(SessionOutput::Event(
                e.resolve(&self.link.text, &mut self.link.refusal),
            )),
            Polled::Sealed { len, .. } => Some(SessionOutput::Transmit(&buf[..len])),
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
        let phase = match self.phase {
            Phase::AwaitRequest => self.phase_deadline,
            _ => None,
        };
        let requests = self.outstanding.iter().map(|o| o.deadline).min();
        match (phase, requests) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the consumer has received provider info.
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

    /// The rendezvous id this provider asks for (lowercase hex).
    pub fn rendezvous_id(&self) -> crate::message::Hex256 {
        self.link.rendezvous_id()
    }

    /// Number of queued outputs (frames to seal and events).
    pub fn pending_outputs(&self) -> usize {
        self.link.queued()
    }

    /// Requests waiting for the application's answer.
    pub fn outstanding_requests(&self) -> usize {
        self.outstanding.len()
    }

    /// Counters.
    pub fn stats(&self) -> ProviderStats {
        let mut s = self.stats;
        s.output_overflow = self.link.overflow;
        s
    }

    /// Sets (or replaces) the provider info. A consumer that was told "not ready" gets it at
    /// once (referencing its last request); a ready consumer gets it as an unsolicited
    /// update (reference `null`), e.g. after the balance changed. Kept across reconnects.
    pub fn set_provider_info(
        &mut self,
        info: &ProviderInfo<'_>,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.link.now = now;
        let template = Message::notify_provider(
            Uuid::v4_from_bytes([0; 16]),
            None,
            Timestamp::from_secs(0),
            *info,
        );
        let mut counting = crate::sink::CountingSink::default();
        template
            .write_json(&mut counting)
            .map_err(|_| SessionError::TooLarge)?;
        if crate::frame::sealed_len(counting.0 + 64) > self.config.max_frame {
            return Err(SessionError::TooLarge);
        }
        if let Some(w) = &info.wad {
            w.validate()
                .map_err(|_| SessionError::InvalidProviderInfo)?;
        }
        let mut wad_json = B::default();
        let wad = match info.wad {
            None => StoredWad::Null,
            Some(w) if w == Wad::bitcoin(w.msats) => StoredWad::Bitcoin(w.msats),
            Some(w) => {
                w.write_json(&mut wad_json)
                    .map_err(|_| SessionError::TooLarge)?;
                wad_json.compact();
                StoredWad::Json
            }
        };
        let stored = Info {
            account_uuid: info.account_uuid,
            payer: info.payer,
            payee: info.payee,
            wad,
        };
        if info_view(Some(stored), &wad_json).is_none() {
            return Err(SessionError::InvalidProviderInfo);
        }
        let reference = match self.phase {
            Phase::WaitingForApp => Some(self.last_ref),
            Phase::Ready => Some(None),
            _ => None,
        };
        if reference.is_some() && self.link.room() < 2 {
            return Err(SessionError::QueueFull);
        }
        self.info = Some(stored);
        self.wad_json = wad_json;
        if let Some(reference) = reference {
            self.link.send(Send::ProviderInfo { reference });
            if self.phase == Phase::WaitingForApp {
                self.phase = Phase::Ready;
                self.link.event(Queued::ConsumerReady);
            }
        }
        Ok(())
    }

    /// Forgets the provider info: later `REQUEST_PROVIDER`s are told "not ready".
    pub fn clear_provider_info(&mut self) {
        self.info = None;
        self.wad_json.reset();
    }

    /// Answers an outstanding invoice request with `NOTIFY_INVOICE`.
    pub fn send_invoice(
        &mut self,
        request: Uuid,
        bolt11: &str,
        now: Instant,
    ) -> Result<(), SessionError> {
        if !bolt11.starts_with("lnbc") {
            return Err(SessionError::NotBolt11);
        }
        self.check_answer(request, Some(RequestKind::Invoice), now)?;
        let span = self.link.store_outgoing(bolt11, 256)?;
        self.answered(request);
        self.link.send(Send::Invoice {
            reference: request,
            bolt11: span,
        });
        Ok(())
    }

    /// Sends `NOTIFY_PREIMAGE`: the answer to an outstanding pay request (`request` set) or
    /// news that an invoice was paid (`None`). `ext` is always `null`, as in v0.
    pub fn send_preimage(
        &mut self,
        request: Option<Uuid>,
        preimage: &[u8; 32],
        now: Instant,
    ) -> Result<(), SessionError> {
        match request {
            Some(r) => self.check_answer(r, Some(RequestKind::Pay), now)?,
            None => self.check_notify(now)?,
        }
        let preimage =
            store::push_bytes(&mut self.link.text, preimage).map_err(|_| SessionError::TooLarge)?;
        if let Some(r) = request {
            self.answered(r);
        }
        self.link.send(Send::Preimage {
            reference: request,
            preimage,
        });
        Ok(())
    }

    /// Sends `NOTIFY_ERROR` answering an outstanding request (or a general error with
    /// `None`).
    pub fn send_error(
        &mut self,
        request: Option<Uuid>,
        error: &str,
        now: Instant,
    ) -> Result<(), SessionError> {
        match request {
            Some(r) => self.check_answer(r, None, now)?,
            None => self.check_notify(now)?,
        }
        let span = self.link.store_outgoing(error, 256)?;
        if let Some(r) = request {
            self.answered(r);
        }
        self.link.send(Send::Error {
            reference: request,
            text: span,
        });
        Ok(())
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

    /// Closes the session ([`CloseReason::Local`]); outstanding requests are abandoned.
    pub fn close(&mut self, now: Instant) {
        self.link.now = now;
        self.close_with(CloseReason::Local);
    }

    fn check_notify(&mut self, now: Instant) -> Result<(), SessionError> {
        self.link.now = now;
        match self.phase {
            Phase::AwaitRequest | Phase::WaitingForApp | Phase::Ready => {}
            Phase::Closed => return Err(SessionError::Closed),
            Phase::Idle | Phase::Rendezvous => return Err(SessionError::NotReady),
        }
        self.link.can_send()
    }

    fn check_answer(
        &mut self,
        request: Uuid,
        kind: Option<RequestKind>,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.check_notify(now)?;
        self.expire(now);
        let known = self
            .outstanding
            .iter()
            .any(|o| o.request == request && kind.is_none_or(|k| k == o.kind));
        if !known {
            return Err(SessionError::UnknownRequest);
        }
        Ok(())
    }

    fn answered(&mut self, request: Uuid) {
        self.outstanding.retain(|o| o.request != request);
    }

    /// Reports requests past their deadline (while there is room for the events).
    fn expire(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.outstanding.len() && self.link.room() > 1 {
            if now >= self.outstanding[i].deadline {
                let o = self.outstanding.swap_remove(i);
                self.stats.expired_requests += 1;
                self.link.event(Queued::RequestExpired {
                    request: o.request,
                    kind: o.kind,
                });
            } else {
                i += 1;
            }
        }
    }

    fn on_opened(&mut self, now: Instant) {
        let _ = now;
        self.abandon_outstanding();
        self.phase_deadline = None;
        self.last_ref = None;
        self.link.open();
        self.phase = Phase::Rendezvous;
    }

    fn on_frame(&mut self, bytes: &mut [u8], now: Instant) {
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            self.stats.ignored_frames += 1;
            return;
        }
        let event = match self.link.receive(bytes) {
            Received::Ignored => {
                self.stats.ignored_frames += 1;
                None
            }
            Received::NotReady => Some(Queued::WaitingForPeer),
            Received::Paired => {
                self.phase = Phase::AwaitRequest;
                self.phase_deadline = self.config.consumer_timeout.map(|d| now.saturating_add(d));
                Some(Queued::Paired)
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
            Received::LenientError { .. } => self.wrong_role(),
            Received::Message(msg, _) => self.on_message(&msg, now),
        };
        if let Some(e) = event {
            self.link.event(e);
        }
    }

    fn wrong_role(&mut self) -> Option<Queued> {
        // Only providers send notifications: the peer is a provider too.
        self.close_with(CloseReason::WrongRole);
        None
    }

    fn on_message(&mut self, msg: &Message<'_>, now: Instant) -> Option<Queued> {
        if msg.class() == MessageClass::Notification {
            return self.wrong_role();
        }
        let request = msg.request_uuid()?;
        match msg.body() {
            Body::RequestPing => {
                self.last_ref = Some(request);
                self.stats.pongs += 1;
                self.link.send(Send::Pong { reference: request });
                None
            }
            Body::RequestProvider => self.on_provider_request(request),
            Body::RequestInvoice { msats } if self.phase == Phase::Ready => self
                .track(request, RequestKind::Invoice, now)
                .then_some(Queued::InvoiceRequested {
                    request,
                    msats: *msats,
                }),
            Body::RequestPay { bolt11 } if self.phase == Phase::Ready => {
                let Ok(span) = store::push_chars(&mut self.link.text, bolt11.chars()) else {
                    self.refuse(request, FixedText::TooManyRequests);
                    return self.refused(FrameRefusal::NoRoom);
                };
                self.track(request, RequestKind::Pay, now)
                    .then_some(Queued::PayRequested {
                        request,
                        bolt11: span,
                    })
            }
            Body::RequestInvoice { .. } | Body::RequestPay { .. } => {
                self.stats.early_requests += 1;
                self.refuse(request, FixedText::NotReady);
                None
            }
            b => self.refused(FrameRefusal::Unexpected(b.kind())),
        }
    }

    /// Starts tracking a request; false (and the consumer told) when too many are open.
    fn track(&mut self, request: Uuid, kind: RequestKind, now: Instant) -> bool {
        if self.outstanding.iter().any(|o| o.request == request) {
            // Asked twice (a replay past the window): the first one is being answered.
            return false;
        }
        let deadline = now.saturating_add(interval(self.config.request_timeout));
        if self
            .outstanding
            .push(Outstanding {
                request,
                kind,
                deadline,
            })
            .is_err()
        {
            self.stats.refused_requests += 1;
            self.refuse(request, FixedText::TooManyRequests);
            return false;
        }
        true
    }

    fn refuse(&mut self, request: Uuid, text: FixedText) {
        self.link.send(Send::FixedError {
            reference: Some(request),
            text,
        });
    }

    fn on_provider_request(&mut self, request: Uuid) -> Option<Queued> {
        self.last_ref = Some(request);
        self.phase_deadline = None;
        if self.info.is_some() {
            self.link.send(Send::ProviderInfo {
                reference: Some(request),
            });
            if self.phase == Phase::Ready {
                return None;
            }
            self.phase = Phase::Ready;
            return Some(Queued::ConsumerReady);
        }
        self.link
            .send(Send::ProviderNotReady { reference: request });
        if self.phase == Phase::WaitingForApp {
            return None;
        }
        self.phase = Phase::WaitingForApp;
        Some(Queued::InfoRequested)
    }

    fn abandon_outstanding(&mut self) {
        for o in core::mem::take(&mut self.outstanding) {
            self.link.event(Queued::RequestAbandoned {
                request: o.request,
                kind: o.kind,
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
        self.phase_deadline = None;
        self.link.set_closed();
        self.abandon_outstanding();
        if !idle || reason == CloseReason::Local {
            self.link.event(Queued::Closed(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame;
    use crate::message::Hex256;

    struct Zero;
    impl RngCore for Zero {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            d.fill(0x5a)
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            d.fill(0x5a);
            Ok(())
        }
    }
    impl CryptoRng for Zero {}

    fn sealed(seed: &SharedSeed, msg: &Message<'_>) -> heapless::Vec<u8, 512> {
        let mut text: heapless::Vec<u8, 512> = heapless::Vec::new();
        msg.write_json(&mut text).unwrap();
        let mut out = [0u8; 512];
        let n = frame::seal(&seed.v0_aes_key(), [1; 16], &text, &mut out)
            .unwrap()
            .len();
        heapless::Vec::from_slice(&out[..n]).unwrap()
    }

    /// A bounded store that cannot take the preimage must not forget the request.
    #[test]
    fn a_preimage_that_does_not_fit_leaves_the_request_open() {
        let seed = SharedSeed::from_hex("0f0e0d0c0b0a09080706050403020100").unwrap();
        let mut p: Provider<heapless::Vec<u8, 64>, 12, 8> =
            Provider::new(&seed, ProviderConfig::default());
        let now = Instant(0);
        let info = ProviderInfo {
            account_uuid: Uuid::v4_from_bytes([1; 16]),
            payer: true,
            payee: true,
            wad: Some(Wad::bitcoin(1)),
        };
        p.set_provider_info(&info, now).unwrap();
        let mut buf = [0u8; 2048];
        let mut drain = |p: &mut Provider<heapless::Vec<u8, 64>, 12, 8>| {
            let mut n = 0;
            while p.poll_output(&mut Zero, &mut buf).is_some() {
                n += 1;
            }
            n
        };
        p.handle_input(SessionInput::Opened, now);
        drain(&mut p);
        let rid = Hex256::from_bytes(&seed.v0_rendezvous_id().0);
        let u = |b: u8| Uuid::v4_from_bytes([b; 16]);
        let mut paired: heapless::Vec<u8, 512> = heapless::Vec::new();
        Message::notify_rendezvous(u(2), Some(u(3)), Timestamp::from_secs(1), rid)
            .write_json(&mut paired)
            .unwrap();
        p.handle_input(SessionInput::Frame(&mut paired), now);
        let mut rp = sealed(
            &seed,
            &Message::request_provider(u(4), Timestamp::from_secs(1)),
        );
        p.handle_input(SessionInput::Frame(&mut rp), now);
        drain(&mut p);
        assert!(p.is_ready());
        // A 40-character invoice waits in the 64-byte store until drained.
        let bolt11 = "lnbc1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
        let mut pay = sealed(
            &seed,
            &Message::request_pay(u(5), Timestamp::from_secs(1), bolt11),
        );
        p.handle_input(SessionInput::Frame(&mut pay), now);
        assert_eq!(p.outstanding_requests(), 1);
        assert_eq!(
            p.send_preimage(Some(u(5)), &[9; 32], now),
            Err(SessionError::TooLarge)
        );
        drain(&mut p);
        assert_eq!(p.send_preimage(Some(u(5)), &[9; 32], now), Ok(()));
    }
}
