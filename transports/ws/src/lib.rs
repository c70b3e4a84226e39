//! Moneysocket's websocket transport: one synchronous [mio] event loop that serves many
//! websockets (listeners, `ws` and `wss`) and dials out, with bounded per-connection buffers
//! and backpressure. No async runtime.
//!
//! This crate moves frames; it knows nothing about Moneysocket messages. The caller drives it:
//!
//! ```no_run
//! use moneysocket_ws::{TransportConfig, Event, Transport};
//! # fn main() -> std::io::Result<()> {
//! let mut t = Transport::new(TransportConfig::default())?;
//! let addr = t.listen("127.0.0.1:0".parse().unwrap(), None)?;
//! let mut events = Vec::new();
//! loop {
//!     t.poll(&mut events, None)?;
//!     for ev in events.drain(..) {
//!         match ev {
//!             Event::Frame { conn, data } => { let _ = t.send(conn, data); } // echo
//!             _ => {}
//!         }
//!     }
//! }
//! # }
//! ```
//!
//! * **Events** ([`Event`]) come out of [`Transport::poll`]: a websocket completed its opening
//!   handshake ([`Event::Opened`]), a binary message arrived ([`Event::Frame`]), a connection
//!   ended ([`Event::Closed`]), an accept was refused by a limit ([`Event::Refused`]), or a
//!   caller-registered mio source is ready ([`Event::User`]).
//! * **Commands**: [`Transport::send`], [`Transport::forward`] (send with backpressure on the
//!   source), [`Transport::close`], [`Transport::pause_reading`] /
//!   [`Transport::resume_reading`], [`Transport::dial`], [`Transport::listen`].
//! * Connection ids are the core's [`ConnId`] (re-exported here), so they can be fed
//!   straight into the core's state machines (`moneysocket_core::Endpoint::Remote`).
//! * Binary frames only: text frames are logged and dropped. Pings are answered
//!   (tungstenite queues the pong, the loop flushes it); idle connections are pinged and
//!   eventually closed (see [`TransportConfig`]). No extension (permessage-deflate) is
//!   negotiated.
//! * Frames larger than [`TransportConfig::max_frame`] close the offending connection
//!   ([`CloseCause::Oversized`], close code 1009); protocol violations close it with 1002
//!   ([`CloseCause::Protocol`]). Such connections send their close frame, then their input
//!   is discarded until the peer hangs up (at most `close_linger`).
//! * Refusals are HTTP answers: over a connection limit 503 or 429, a request that is not a
//!   websocket upgrade 400/405/426, each with a one-line body. A dial refused that way ends
//!   with [`CloseCause::DialFailed`] carrying [`DialError::Refused`] (status and reason).
//! * Input memory is bounded: a connection may hold [`TransportConfig::partial_base`] bytes
//!   of an incomplete message; more comes from the shared
//!   [`TransportConfig::partial_budget`], and when that is used up the connection whose
//!   incomplete message has waited longest is closed ([`CloseCause::InputBudget`], 1009).
//! * Accepted sockets get [`TransportConfig::send_buffer`] and
//!   [`TransportConfig::recv_buffer`] as kernel buffer sizes, so kernel memory per
//!   connection is bounded too.
//! * Output is queued per connection. [`Transport::forward`] pauses reading the source while
//!   the destination's queue is above [`TransportConfig::high_water`] and resumes it below
//!   [`TransportConfig::low_water`]; a queue above [`TransportConfig::max_pending`] closes
//!   the destination ([`CloseCause::Overflow`]). Queues are measured in payload bytes plus
//!   [`FRAME_OVERHEAD`] per frame, so empty and tiny frames are bounded too.
//!
//! Only 64-bit targets are supported (mio tokens carry the id and a kind tag).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(target_pointer_width = "64"))]
compile_error!("moneysocket-ws needs a 64-bit target");

mod config;
mod conn;
mod dial;
mod framing;
mod handoff;
mod http;
mod ids;
mod limits;
pub mod tls;
mod transport;
pub mod x509;

pub use config::{TransportConfig, FRAME_OVERHEAD};
pub use dial::{parse_ws_url, WsUrl};
pub use handoff::{Inbox, Route, Router};
pub use limits::SharedLimits;
pub use moneysocket_core::ConnId;
pub use transport::{Transport, TransportStats};
pub use tungstenite::Bytes;

use std::net::SocketAddr;

/// How a connection came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Accepted on a listener (the listener's local address).
    Accepted(SocketAddr),
    /// Dialed with [`Transport::dial`].
    Dialed,
}

/// Something that happened in the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A websocket finished its opening handshake.
    Opened {
        /// Its id.
        conn: ConnId,
        /// The remote address.
        peer: SocketAddr,
        /// Accepted or dialed.
        origin: Origin,
    },
    /// A complete binary message arrived.
    Frame {
        /// The connection it came from.
        conn: ConnId,
        /// The payload, exactly as received.
        data: Bytes,
    },
    /// A connection ended without the caller asking for it (the caller's own
    /// [`Transport::close`] produces no event). Emitted for every id the caller has seen in
    /// [`Event::Opened`] or got from [`Transport::dial`].
    Closed {
        /// The connection.
        conn: ConnId,
        /// Why.
        cause: CloseCause,
    },
    /// An accepted TCP connection was refused because of a limit. It is answered with an
    /// HTTP error (503 for `max_connections`, 429 for `max_per_ip`) and a one-line reason,
    /// then closed: at once on a plain listener; on a TLS listener after the TLS handshake
    /// and the request head, for at most 64 refused connections at a time (2 s each; beyond
    /// that a bare close).
    Refused {
        /// The remote address.
        peer: SocketAddr,
        /// Which limit.
        reason: AcceptRefusal,
    },
    /// A mio source the caller registered with a [`Transport::user_token`] is ready.
    User {
        /// The `n` given to [`Transport::user_token`].
        n: usize,
        /// Readable.
        readable: bool,
        /// Writable.
        writable: bool,
    },
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCause {
    /// The peer closed the websocket or the TCP connection.
    Remote,
    /// A message or frame exceeded [`TransportConfig::max_frame`].
    Oversized,
    /// The pending output passed [`TransportConfig::max_pending`].
    Overflow,
    /// Nothing was received for [`TransportConfig::idle_timeout`].
    Idle,
    /// A dialed connection failed to connect or to complete its handshake.
    HandshakeFailed(String),
    /// A websocket protocol violation by the peer (answered with close code 1002).
    Protocol(String),
    /// The connection's incomplete message needed more input memory than
    /// [`TransportConfig::partial_base`] while the shared
    /// [`TransportConfig::partial_budget`] was used up, and it had waited longest (closed
    /// with 1009).
    InputBudget,
    /// A dial failed with a typed reason (today [`DialError::Refused`]: the server answered
    /// the websocket upgrade with an HTTP error, e.g. 503 or 429, and a one-line reason).
    DialFailed(DialError),
    /// An I/O error, or a protocol error of our own side.
    Error(String),
}

impl CloseCause {
    /// The HTTP status and reason when a dial was refused at the HTTP layer.
    pub fn http_refusal(&self) -> Option<(u16, &str)> {
        match self {
            CloseCause::DialFailed(DialError::Refused { status, reason }) => {
                Some((*status, reason.as_str()))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for CloseCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseCause::Remote => f.write_str("closed by peer"),
            CloseCause::Oversized => f.write_str("frame too large"),
            CloseCause::Overflow => f.write_str("pending output over limit"),
            CloseCause::Idle => f.write_str("idle timeout"),
            CloseCause::HandshakeFailed(e) => write!(f, "handshake failed: {e}"),
            CloseCause::Protocol(e) => write!(f, "protocol error: {e}"),
            CloseCause::InputBudget => f.write_str("incomplete message over the input budget"),
            CloseCause::DialFailed(e) => write!(f, "dial failed: {e}"),
            CloseCause::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// Why an accept was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AcceptRefusal {
    /// [`TransportConfig::max_connections`] reached.
    MaxConnections,
    /// [`TransportConfig::max_per_ip`] reached for the peer's address.
    MaxPerIp,
}

impl AcceptRefusal {
    /// A short label (for metrics).
    pub fn label(self) -> &'static str {
        match self {
            AcceptRefusal::MaxConnections => "max_connections",
            AcceptRefusal::MaxPerIp => "max_per_ip",
        }
    }
}

/// Why a [`Transport::send`] or [`Transport::forward`] did not queue the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No open connection with that id (never existed, closed, or still handshaking).
    Unknown,
    /// The queue passed [`TransportConfig::max_pending`]; the connection is being closed
    /// and a [`Event::Closed`] with [`CloseCause::Overflow`] follows.
    Overflow,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Unknown => f.write_str("no such open connection"),
            SendError::Overflow => f.write_str("pending output over limit"),
        }
    }
}

impl std::error::Error for SendError {}

// Typed dial errors and the wall clock (kept apart from the re-exports above).
pub use dial::DialError;
pub use transport::{unix_time, unix_time_ms};
