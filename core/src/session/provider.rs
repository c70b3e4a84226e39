//! The provider session: provider and provider-transact layers (11.6, 11.8) on a link.

use core::time::Duration;

use heapless::{String, Vec};
use rand_core::{CryptoRng, RngCore};

use super::link::{Link, LinkState, Received};
use super::outbox::Outbox;
use super::{
    lossy, CloseReason, Input, Output, Refusal, SessionError, DEFAULT_FRAME, DEFAULT_QUEUE,
};
use crate::message::{Body, Hex256, Message, MessageClass, ProviderInfo, Timestamp};
use crate::seed::SharedSeed;
use crate::time::Instant;
use crate::uuid::Uuid;

/// The `error_msg` a provider answers to invoice or pay requests that arrive before its
/// provider handshake completed (the reference silently drops them).
pub const NOT_READY_ERROR: &str = "provider not ready";

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
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            unix_offset_ms: 0,
            consumer_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// What a provider session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent<const N: usize> {
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
    /// [`Provider::send_error`].
    InvoiceRequested {
        /// The request's uuid (reference it in the answer).
        request: Uuid,
        /// Amount in millisatoshi (> 0).
        msats: u64,
    },
    /// The consumer wants an invoice paid: answer with [`Provider::send_preimage`] or
    /// [`Provider::send_error`].
    PayRequested {
        /// The request's uuid (reference it in the answer).
        request: Uuid,
        /// The invoice (starts with `lnbc`; not otherwise checked).
        bolt11: String<N>,
    },
    /// A received frame was dropped (the link stays up).
    Refused(Refusal),
    /// The session closed: close the transport.
    Closed(CloseReason),
}

/// Provider counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProviderStats {
    /// Pings answered.
    pub pongs: u64,
    /// Invoice or pay requests answered with [`NOT_READY_ERROR`].
    pub early_requests: u64,
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

/// A provider: rendezvous, provider handshake, answers to pings, invoice and pay requests
/// surfaced to the application, unsolicited preimage and balance notifications.
///
/// `N`: frame/message buffer bytes, `Q`: output queue depth (at least 4).
#[derive(Debug)]
pub struct Provider<R, const N: usize = DEFAULT_FRAME, const Q: usize = DEFAULT_QUEUE> {
    link: Link<R>,
    config: ProviderConfig,
    scratch: [u8; N],
    out: Outbox<ProviderEvent<N>, N, Q>,
    phase: Phase,
    phase_deadline: Option<Instant>,
    /// The last request uuid seen (a delayed NOTIFY_PROVIDER references it, as the
    /// reference does).
    last_ref: Option<Uuid>,
    /// The provider info, as the JSON of a template `NOTIFY_PROVIDER`.
    info: Option<Vec<u8, N>>,
    stats: ProviderStats,
}

impl<R: RngCore + CryptoRng, const N: usize, const Q: usize> Provider<R, N, Q> {
    const SIZES_OK: () = assert!(Q >= 4, "Provider needs Q >= 4");

    /// A provider for the beacon's `seed`, idle until [`Input::Opened`].
    pub fn new(seed: &SharedSeed, config: ProviderConfig, rng: R) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZES_OK;
        Provider {
            link: Link::new(seed, config.unix_offset_ms, rng),
            config,
            scratch: [0; N],
            out: Outbox::new(),
            phase: Phase::Idle,
            phase_deadline: None,
            last_ref: None,
            info: None,
            stats: ProviderStats::default(),
        }
    }

    /// Processes one input at `now`; then drain [`Provider::poll_output`].
    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        match input {
            Input::Opened => self.on_opened(now),
            Input::Frame(bytes) => self.on_frame(bytes, now),
            Input::Closed => self.close_with(CloseReason::TransportClosed),
            Input::Timeout => {}
        }
        if self.phase_deadline.is_some_and(|d| now >= d) {
            self.close_with(CloseReason::HandshakeTimeout);
        }
        self.out.touch();
    }

    /// The next output; the last one of each drain is [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Option<Output<ProviderEvent<N>, N>> {
        if let Some(o) = self.out.pop() {
            return Some(o);
        }
        let deadline = match self.phase {
            Phase::AwaitRequest => self.phase_deadline,
            _ => None,
        };
        self.out
            .take_deadline_report()
            .then_some(Output::Timeout(deadline))
    }

    /// Whether the consumer has received provider info.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The link's state.
    pub fn link_state(&self) -> LinkState {
        self.link.state()
    }

    /// The rendezvous id this provider asks for (lowercase hex).
    pub fn rendezvous_id(&self) -> &str {
        self.link.rendezvous_id().as_str()
    }

    /// Number of queued outputs.
    pub fn pending_outputs(&self) -> usize {
        self.out.len()
    }

    /// Counters.
    pub fn stats(&self) -> ProviderStats {
        let mut s = self.stats;
        s.output_overflow = self.out.overflow;
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
        let template = Message::notify_provider(
            Uuid::v4_from_bytes([0; 16]),
            None,
            Timestamp::from_secs(0),
            *info,
        );
        let mut json: Vec<u8, N> = Vec::new();
        template
            .write_json(&mut json)
            .map_err(|_| SessionError::TooLarge)?;
        if Message::parse(&json).is_err() {
            return Err(SessionError::InvalidProviderInfo);
        }
        let reference = match self.phase {
            Phase::WaitingForApp => Some(self.last_ref),
            Phase::Ready => Some(None),
            _ => None,
        };
        if reference.is_some() && self.out.room() < 3 {
            return Err(SessionError::QueueFull);
        }
        self.info = Some(json);
        if let Some(reference) = reference {
            self.send_info(reference, now)?;
            if self.phase == Phase::WaitingForApp {
                self.phase = Phase::Ready;
                self.out.event(ProviderEvent::ConsumerReady);
            }
        }
        self.out.touch();
        Ok(())
    }

    /// Forgets the provider info: later `REQUEST_PROVIDER`s are told "not ready".
    pub fn clear_provider_info(&mut self) {
        self.info = None;
    }

    /// Answers an invoice request with `NOTIFY_INVOICE`.
    pub fn send_invoice(
        &mut self,
        request: Uuid,
        bolt11: &str,
        now: Instant,
    ) -> Result<(), SessionError> {
        if !bolt11.starts_with("lnbc") {
            return Err(SessionError::NotBolt11);
        }
        self.send_app(now, |uuid, ts| {
            Message::notify_invoice(uuid, Some(request), ts, bolt11)
        })
    }

    /// Sends `NOTIFY_PREIMAGE`: the answer to a pay request (`request` set) or news that an
    /// invoice was paid (`None`). `ext` is always `null`, as in v0.
    pub fn send_preimage(
        &mut self,
        request: Option<Uuid>,
        preimage: &[u8; 32],
        now: Instant,
    ) -> Result<(), SessionError> {
        let hex = Hex256::from_bytes(preimage);
        self.send_app(now, |uuid, ts| {
            Message::notify_preimage(uuid, request, ts, hex, None)
        })
    }

    /// Sends `NOTIFY_ERROR` about `request` (or a general error with `None`).
    pub fn send_error(
        &mut self,
        request: Option<Uuid>,
        error: &str,
        now: Instant,
    ) -> Result<(), SessionError> {
        self.send_app(now, |uuid, ts| {
            Message::notify_error(uuid, request, ts, error)
        })
    }

    /// Closes the session ([`CloseReason::Local`]).
    pub fn close(&mut self, now: Instant) {
        let _ = now;
        self.close_with(CloseReason::Local);
        self.out.touch();
    }

    fn send_app<'m>(
        &mut self,
        now: Instant,
        build: impl FnOnce(Uuid, Timestamp<'static>) -> Message<'m>,
    ) -> Result<(), SessionError> {
        match self.phase {
            Phase::AwaitRequest | Phase::WaitingForApp | Phase::Ready => {}
            Phase::Closed => return Err(SessionError::Closed),
            Phase::Idle | Phase::Rendezvous => return Err(SessionError::NotReady),
        }
        if self.out.room() < 2 {
            return Err(SessionError::QueueFull);
        }
        let uuid = self.link.uuid();
        let frame = self.link.encode(&build(uuid, self.link.timestamp(now)))?;
        self.out.transmit(frame);
        self.out.touch();
        Ok(())
    }

    /// Sends `NOTIFY_PROVIDER` from the stored info.
    fn send_info(&mut self, reference: Option<Uuid>, now: Instant) -> Result<(), SessionError> {
        let Some(json) = &self.info else {
            return Err(SessionError::NotReady);
        };
        let template = Message::parse(json).map_err(|_| SessionError::InvalidProviderInfo)?;
        let info = *template
            .provider_info()
            .ok_or(SessionError::InvalidProviderInfo)?;
        let uuid = self.link.uuid();
        let msg = Message::notify_provider(uuid, reference, self.link.timestamp(now), info);
        let frame = self.link.encode(&msg)?;
        self.out.transmit(frame);
        Ok(())
    }

    fn on_opened(&mut self, now: Instant) {
        self.phase_deadline = None;
        self.last_ref = None;
        match self.link.open(now) {
            Ok(f) => {
                self.out.transmit(f);
                self.phase = Phase::Rendezvous;
            }
            Err(_) => self.close_with(CloseReason::Local),
        }
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
            Incoming::NotReady => Some(ProviderEvent::WaitingForPeer),
            Incoming::Paired => {
                self.phase = Phase::AwaitRequest;
                self.phase_deadline = self.config.consumer_timeout.map(|d| now.saturating_add(d));
                Some(ProviderEvent::Paired)
            }
            Incoming::End { was_paired } => {
                self.close_with(if was_paired {
                    CloseReason::PeerGone
                } else {
                    CloseReason::RendezvousRefused
                });
                None
            }
            Incoming::Refused(r) => Some(ProviderEvent::Refused(r)),
            Incoming::Notification => {
                // Only providers send notifications: the peer is a provider too.
                self.close_with(CloseReason::WrongRole);
                None
            }
            Incoming::Ping(request) => {
                self.last_ref = Some(request);
                self.stats.pongs += 1;
                let uuid = self.link.uuid();
                let msg = Message::notify_pong(uuid, Some(request), self.link.timestamp(now));
                self.out.send(&mut self.link, &msg);
                None
            }
            Incoming::ProviderRequest(request) => self.on_provider_request(request, now),
            Incoming::Invoice(request, msats) if self.phase == Phase::Ready => {
                Some(ProviderEvent::InvoiceRequested { request, msats })
            }
            Incoming::Pay(request, bolt11) if self.phase == Phase::Ready => {
                Some(ProviderEvent::PayRequested { request, bolt11 })
            }
            Incoming::Invoice(request, _) | Incoming::Pay(request, _) => {
                self.stats.early_requests += 1;
                let uuid = self.link.uuid();
                let msg = Message::notify_error(
                    uuid,
                    Some(request),
                    self.link.timestamp(now),
                    NOT_READY_ERROR,
                );
                self.out.send(&mut self.link, &msg);
                None
            }
        };
        if let Some(e) = event {
            self.out.event(e);
        }
    }

    fn on_provider_request(&mut self, request: Uuid, now: Instant) -> Option<ProviderEvent<N>> {
        self.last_ref = Some(request);
        self.phase_deadline = None;
        if self.info.is_some() && self.send_info(Some(request), now).is_ok() {
            if self.phase == Phase::Ready {
                return None;
            }
            self.phase = Phase::Ready;
            return Some(ProviderEvent::ConsumerReady);
        }
        let uuid = self.link.uuid();
        let msg = Message::notify_provider_not_ready(uuid, Some(request), self.link.timestamp(now));
        self.out.send(&mut self.link, &msg);
        if self.phase == Phase::WaitingForApp {
            return None;
        }
        self.phase = Phase::WaitingForApp;
        Some(ProviderEvent::InfoRequested)
    }

    fn close_with(&mut self, reason: CloseReason) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        let idle = self.phase == Phase::Idle;
        self.phase = Phase::Closed;
        self.phase_deadline = None;
        self.link.set_closed();
        if !idle || reason == CloseReason::Local {
            self.out.event(ProviderEvent::Closed(reason));
        }
    }
}

/// A received frame reduced to owned data.
enum Incoming<const N: usize> {
    Ignored,
    NotReady,
    Paired,
    End { was_paired: bool },
    Refused(Refusal),
    Notification,
    Ping(Uuid),
    ProviderRequest(Uuid),
    Invoice(Uuid, u64),
    Pay(Uuid, String<N>),
}

impl<const N: usize> From<Received<'_>> for Incoming<N> {
    fn from(r: Received<'_>) -> Self {
        match r {
            Received::Ignored => Incoming::Ignored,
            Received::NotReady => Incoming::NotReady,
            Received::Paired => Incoming::Paired,
            Received::End { was_paired } => Incoming::End { was_paired },
            Received::Refused(r) => Incoming::Refused(r),
            Received::LenientError { .. } => Incoming::Notification,
            Received::Message(msg, _) => {
                if msg.class() == MessageClass::Notification {
                    return Incoming::Notification;
                }
                let Some(request) = msg.request_uuid() else {
                    return Incoming::Notification;
                };
                match msg.body() {
                    Body::RequestPing => Incoming::Ping(request),
                    Body::RequestProvider => Incoming::ProviderRequest(request),
                    Body::RequestInvoice { msats } => Incoming::Invoice(request, *msats),
                    Body::RequestPay { bolt11 } => Incoming::Pay(request, lossy(bolt11.chars())),
                    b => Incoming::Refused(Refusal::Unexpected(b.kind())),
                }
            }
        }
    }
}
