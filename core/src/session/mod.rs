//! The endpoint state machines of Moneysocket v0 (wire reference sections 11.3, 11.6–11.8,
//! 12 and 15): a [`Consumer`] and a [`Provider`], each running on its own link (one socket
//! end with a shared seed), without sockets, clocks, threads or heap.
//!
//! Both offer the same small sans-IO API:
//!
//! * [`handle_input`](Consumer::handle_input)`(`[`Input`]`, now)`: the transport opened,
//!   a frame (one whole WebSocket message) arrived, the transport closed, or the last
//!   announced deadline passed;
//! * [`poll_output`](Consumer::poll_output)`() -> Option<`[`Output`]`>`: drain after every
//!   input and every app call. It yields frames to transmit and events in order, then,
//!   last, `Output::Timeout(next deadline)` (`None`: no deadline), then `None`;
//! * app-facing methods (`request_invoice`, `pay`, `send_invoice`, ...).
//!
//! The caller passes time as [`Instant`] (milliseconds on any monotonic clock) and entropy as
//! a `RngCore + CryptoRng` owned by the session (request uuids and IVs). Frames, events and
//! the output queue live in fixed buffers sized by const generics: `N` bytes per frame (and
//! per received message), `Q` queued outputs, `P` outstanding consumer requests.
//!
//! Close semantics: an [`Output::Event`] carrying `Closed` tells the caller to close the
//! transport (if it is not closed already). After it the session ignores frames until the
//! next [`Input::Opened`], which starts over on a new transport with the same seed
//! (reconnection, 11.10).
//!
//! # Example: a consumer and a provider in memory
//!
//! The two sessions are wired through the core's relay [`Matchmaker`](crate::matchmaker::Matchmaker),
//! as they would be through a relay daemon.
//!
//! ```
//! use moneysocket_core::matchmaker::{self, ConnId, Matchmaker};
//! use moneysocket_core::message::{ProviderInfo, Wad};
//! use moneysocket_core::seed::SharedSeed;
//! use moneysocket_core::session::{
//!     Consumer, ConsumerConfig, ConsumerEvent, Input, Output, Provider, ProviderConfig,
//!     ProviderEvent,
//! };
//! use moneysocket_core::time::Instant;
//! use moneysocket_core::uuid::Uuid;
//! # use rand_core::{CryptoRng, RngCore, impls};
//! # #[derive(Clone)] struct Rng(u64);
//! # impl RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); self.0 >> 11 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { impls::fill_bytes_via_next(self, d) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
//! # }
//! # impl CryptoRng for Rng {}
//!
//! let seed = SharedSeed::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
//! let mut relay: Matchmaker<Rng, 4, 8> = Matchmaker::new(matchmaker::Config::default(), Rng(1));
//! let mut consumer: Consumer<Rng> = Consumer::new(&seed, ConsumerConfig::default(), Rng(2));
//! let mut provider: Provider<Rng> = Provider::new(&seed, ProviderConfig::default(), Rng(3));
//! let info = ProviderInfo {
//!     account_uuid: Uuid::v4_from_bytes([7; 16]),
//!     payer: true,
//!     payee: true,
//!     wad: Some(Wad::bitcoin(50_000_000)),
//! };
//! provider.set_provider_info(&info, Instant(0)).unwrap();
//!
//! let (c, p) = (ConnId(0), ConnId(1));
//! let now = Instant(0);
//! relay.handle_input(matchmaker::Input::Opened(p), now);
//! relay.handle_input(matchmaker::Input::Opened(c), now);
//! provider.handle_input(Input::Opened, now);
//! consumer.handle_input(Input::Opened, now);
//!
//! // Shuttle frames until everything is quiet, collecting the consumer's events.
//! let mut consumer_events = Vec::new();
//! let mut wires: Vec<(ConnId, Vec<u8>)> = Vec::new();
//! for _round in 0..10 {
//!     while let Some(o) = provider.poll_output() {
//!         if let Output::Transmit(f) = o { wires.push((p, f.to_vec())) }
//!     }
//!     while let Some(o) = consumer.poll_output() {
//!         match o {
//!             Output::Transmit(f) => wires.push((c, f.to_vec())),
//!             Output::Event(e) => consumer_events.push(e),
//!             Output::Timeout(_) => {}
//!         }
//!     }
//!     for (from, frame) in wires.drain(..) {
//!         relay.handle_input(matchmaker::Input::Frame(from, &frame), now);
//!         while let Some(o) = relay.poll_output() {
//!             let (to, bytes) = match o {
//!                 matchmaker::Output::Transmit { conn, frame } => (conn, frame.to_vec()),
//!                 matchmaker::Output::Forward { to, .. } => (to, frame.clone()),
//!                 _ => continue,
//!             };
//!             if to == c {
//!                 consumer.handle_input(Input::Frame(&bytes), now);
//!             } else {
//!                 provider.handle_input(Input::Frame(&bytes), now);
//!             }
//!         }
//!     }
//! }
//! assert!(consumer_events.iter().any(|e| matches!(e,
//!     ConsumerEvent::Provider(u) if u.msats == Some(50_000_000))));
//! assert!(consumer.is_ready());
//! ```

mod consumer;
mod link;
mod provider;
mod store;

pub use consumer::{
    Consumer, ConsumerConfig, ConsumerEvent, ConsumerStats, ProviderUpdate, RequestFailure,
    RequestKind,
};
pub use link::LinkState;
pub use provider::{Provider, ProviderConfig, ProviderEvent, ProviderStats, NOT_READY_ERROR};
pub use store::{DefaultStore, TextStore};

use core::fmt;

use crate::frame::FrameError;
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
}

impl fmt::Display for FrameRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameRefusal::Frame(e) => write!(f, "frame refused: {e}"),
            FrameRefusal::TooLarge(n) => write!(f, "frame of {n} bytes exceeds the buffer"),
            FrameRefusal::Replayed(k) => write!(f, "replayed {}", k.name()),
            FrameRefusal::Unexpected(k) => write!(f, "unexpected {} in this state", k.name()),
            FrameRefusal::NoRoom => f.write_str("no room for its text in the session store"),
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
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SessionError {}
