//! The endpoint state machines of Moneysocket v0 (wire reference sections 11.3, 11.6–11.8,
//! 12 and 15): a [`Consumer`] and a [`Provider`], each running on its own link (one socket
//! end with a shared seed), without sockets, clocks, threads or heap. Both stand on one
//! skeleton (rendezvous, frame crypto, replay window, output queues).
//!
//! Every state machine of the core (sessions, [`Matchmaker`](crate::matchmaker::Matchmaker),
//! [`SessionHost`](crate::host::SessionHost)) has the same contract:
//!
//! * `handle_input(input, now)`: here [`SessionInput`]: the transport opened, a frame (one
//!   whole WebSocket message, decrypted in place in the caller's buffer) arrived, the
//!   transport closed, or the deadline passed;
//! * `poll_output(..)`: drain after every input and every app call until `None`. A session
//!   yields events first, then frames, which it seals only now, into the buffer the caller
//!   passes (quinn's `poll_transmit(now, buf)`), with entropy from the RNG the caller passes
//!   (nothing is owned per session);
//! * `poll_timeout()`: a plain query, the next deadline (`None`: wait for input).
//!
//! A session keeps only small entries (what to send, what happened) and, while they wait,
//! their texts in a [`TextStore`] of the caller's choice: a bounded `heapless::Vec` on a
//! device, a `Vec<u8>` in a host (empty, holding no memory, when the session is idle).
//! Events borrow those texts until the next poll.
//!
//! Close semantics: an event carrying `Closed` tells the caller to close the transport (if
//! it is not closed already). After it the session ignores frames until the next
//! [`SessionInput::Opened`], which starts over on a new transport with the same seed
//! (reconnection, 11.10).
//!
//! Most applications hold sessions in a [`SessionHost`](crate::host::SessionHost) rather
//! than driving them one by one.
//!
//! # Example: a consumer and a provider in one host
//!
//! Both listen in the host's matchmaker, which pairs them as a relay would (the wallet's
//! shape: a consumer of one beacon and a provider of another in one loop).
//!
//! ```
//! use moneysocket_core::host::{HostConfig, HostOutput, SessionEvent, SessionHost};
//! use moneysocket_core::message::{ProviderInfo, Wad};
//! use moneysocket_core::seed::SharedSeed;
//! use moneysocket_core::session::{ConsumerConfig, ConsumerEvent, ProviderConfig, ProviderEvent};
//! use moneysocket_core::time::Instant;
//! use moneysocket_core::uuid::Uuid;
//! # use rand_core::{CryptoRng, RngCore, impls};
//! # struct Rng(u64);
//! # impl RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); self.0 >> 11 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { impls::fill_bytes_via_next(self, d) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
//! # }
//! # impl CryptoRng for Rng {}
//!
//! let seed = SharedSeed::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
//! let account = Uuid::v4_from_bytes([7; 16]);
//! let now = Instant(0);
//! let mut host: SessionHost<Rng, 64> = SessionHost::new(HostConfig::default(), Rng(1));
//! let provider = host.add_provider(&seed, ProviderConfig::default(), Some(account));
//! let info = ProviderInfo { account_uuid: account, payer: true, payee: true, wad: Some(Wad::bitcoin(50_000)) };
//! host.set_provider_info(provider, &info, now).unwrap();
//! let consumer = host.add_consumer(&seed, ConsumerConfig::default());
//! host.listen(provider, now).unwrap();
//! host.listen(consumer, now).unwrap();
//!
//! // Drain: the two pair and complete the provider handshake.
//! let mut asked = None;
//! let mut invoice = None;
//! for round in 0..2 {
//!     if round == 1 {
//!         host.request_invoice(consumer, 1_000, now).unwrap();
//!     }
//!     while let Some(out) = host.poll_output() {
//!         match out {
//!             HostOutput::Event { event: SessionEvent::Provider(ProviderEvent::InvoiceRequested { request, msats }), .. } => {
//!                 asked = Some((request, msats));
//!             }
//!             HostOutput::Event { event: SessionEvent::Consumer(ConsumerEvent::Invoice { bolt11, .. }), .. } => {
//!                 invoice = Some(bolt11.to_owned());
//!             }
//!             _ => {}
//!         }
//!         if let Some((request, _)) = asked.take() {
//!             // The app answers (a real one asks its Lightning node first).
//!             host.send_invoice(provider, request, "lnbc10n1example", now).unwrap();
//!         }
//!     }
//! }
//! assert_eq!(host.consumer(consumer).unwrap().balance_msats(), Some(50_000));
//! assert_eq!(invoice.as_deref(), Some("lnbc10n1example"));
//! ```

mod consumer;
mod link;
mod provider;
mod rendezvous;
mod store;

pub use consumer::{
    Consumer, ConsumerConfig, ConsumerEvent, ConsumerStats, ProviderUpdate, RequestFailure,
    RequestKind,
};
pub use link::LinkState;
pub use provider::{Provider, ProviderConfig, ProviderEvent, ProviderStats, NOT_READY_ERROR};
pub use rendezvous::{read_notice, RelayNotice};
pub use store::{DefaultStore, TextStore};

use core::fmt;

use crate::frame::FrameError;
use crate::message::opinion::{OpinionError, OpinionKind};
use crate::message::MessageKind;

/// Default output queue depth (frames to send, and events, each).
pub const DEFAULT_QUEUE: usize = 12;
/// Default number of outstanding requests (a consumer's, or a provider's to answer).
pub const DEFAULT_PENDING: usize = 8;
/// Default largest frame a session sends or accepts, in bytes (the websocket transport's
/// default `max_frame` too: one number from config to transport to session).
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
/// How many recent message uuids a link remembers to refuse replays.
pub const REPLAY_WINDOW: usize = 32;

/// Something that happened on the transport below the session.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionInput<'a> {
    /// The transport is open (WebSocket handshake done): the link sends `REQUEST_RENDEZVOUS`.
    Opened,
    /// One whole binary WebSocket message arrived. The session decrypts it in place (the
    /// buffer is the caller's scratch; its contents are garbage afterwards).
    Frame(&'a mut [u8]),
    /// The transport closed (either side, or it failed).
    Closed,
    /// [`poll_timeout`](Consumer::poll_timeout)'s deadline has passed.
    Timeout,
}

/// What a session's `poll_output` yields, in order.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum SessionOutput<'a, E> {
    /// Send this frame (sealed into the caller's buffer) as one binary WebSocket message.
    Transmit(&'a [u8]),
    /// An event for the application; texts borrow the session until the next poll.
    Event(E),
}

/// Why a session closed. When a session reports this, the caller closes the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseReason {
    /// The transport closed ([`Input::Closed`]).
    TransportClosed,
    /// The relay said `NOTIFY_RENDEZVOUS_END` after pairing: the peer went away.
    PeerGone,
    /// The relay said `NOTIFY_RENDEZVOUS_END` before pairing: it refused the rendezvous
    /// (typically a third connection on an already paired id).
    RendezvousRefused,
    /// No `NOTIFY_PONG` arrived within the configured pong timeout.
    PongTimeout,
    /// The peer plays the same role: a consumer received a request, or a provider received
    /// a provider notification (two consumers, or two providers, sharing one beacon).
    WrongRole,
    /// The provider handshake did not complete in time. For a provider: no
    /// `REQUEST_PROVIDER` arrived after pairing, typically because the peer is another
    /// provider. For a consumer: no `NOTIFY_PROVIDER` within the configured limit.
    HandshakeTimeout,
    /// The rendezvous did not complete within the configured limit.
    RendezvousTimeout,
    /// The application called `close`.
    Local,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::TransportClosed => "transport closed",
            CloseReason::PeerGone => "peer gone (rendezvous ended)",
            CloseReason::RendezvousRefused => "relay refused the rendezvous",
            CloseReason::PongTimeout => "no pong within the deadline",
            CloseReason::WrongRole => {
                "peer plays the same role (consumer met consumer or provider met provider)"
            }
            CloseReason::HandshakeTimeout => "provider handshake timed out",
            CloseReason::RendezvousTimeout => "rendezvous timed out",
            CloseReason::Local => "closed by the application",
        })
    }
}

/// A received frame the session dropped, with the reason. The link stays up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameRefusal {
    /// The frame did not open or validate (garbled or foreign ciphertext, invalid message,
    /// cleartext application message after rendezvous, encrypted rendezvous message).
    Frame(FrameError),
    /// The frame is longer than the session's `max_frame`.
    TooLarge(usize),
    /// A message with a uuid this link has already accepted (a replay).
    Replayed(MessageKind),
    /// A valid message that has no meaning in the current state (dropped, as the reference
    /// does).
    Unexpected(MessageKind),
    /// Its text did not fit the session's text store (a bounded store on a device).
    NoRoom,
    /// An extension message (a session with `extensions` on) whose fields do not validate.
    Extension(OpinionError),
    /// An extension message with a uuid this link has already accepted (a replay).
    ReplayedExtension(OpinionKind),
    /// An extension message before the link was paired.
    UnexpectedExtension(OpinionKind),
}

impl fmt::Display for FrameRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameRefusal::Frame(e) => write!(f, "frame refused: {e}"),
            FrameRefusal::TooLarge(n) => write!(f, "frame of {n} bytes exceeds the buffer"),
            FrameRefusal::Replayed(k) => write!(f, "replayed {}", k.name()),
            FrameRefusal::Unexpected(k) => write!(f, "unexpected {} in this state", k.name()),
            FrameRefusal::NoRoom => f.write_str("no room for its text in the session store"),
            FrameRefusal::Extension(e) => write!(f, "extension message refused: {e}"),
            FrameRefusal::ReplayedExtension(k) => write!(f, "replayed {}", k.name()),
            FrameRefusal::UnexpectedExtension(k) => {
                write!(f, "unexpected {} in this state", k.name())
            }
        }
    }
}

/// Why an application call was refused. Nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionError {
    /// The session is not in a state that allows this (e.g. no provider info yet).
    NotReady,
    /// The session is closed.
    Closed,
    /// The output queue is full: drain `poll_output` first.
    QueueFull,
    /// Too many requests are outstanding.
    TooManyPending,
    /// `msats` must be greater than zero.
    InvalidAmount,
    /// Not a `lnbc…` invoice (v0 peers accept nothing else).
    NotBolt11,
    /// The message does not fit the session's frame buffer.
    TooLarge,
    /// The provider info (its wad) does not validate.
    InvalidProviderInfo,
    /// A preimage must be 32 bytes.
    InvalidPreimage,
    /// The answer names no outstanding request of this session (unknown, already
    /// answered, expired, or of the other kind).
    UnknownRequest,
    /// Extension messages are off for this session (`extensions: false` in its config).
    ExtensionsDisabled,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionError::NotReady => "session not ready",
            SessionError::Closed => "session closed",
            SessionError::QueueFull => "output queue full",
            SessionError::TooManyPending => "too many outstanding requests",
            SessionError::InvalidAmount => "msats must be greater than zero",
            SessionError::NotBolt11 => "not a lnbc bolt11 invoice",
            SessionError::TooLarge => "message does not fit the frame buffer",
            SessionError::InvalidProviderInfo => "invalid provider info",
            SessionError::InvalidPreimage => "invalid preimage",
            SessionError::UnknownRequest => "no such outstanding request",
            SessionError::ExtensionsDisabled => "extension messages are off for this session",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SessionError {}
