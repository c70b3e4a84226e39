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
//!   ([`CloseCause::Oversized`]).
//! * Output is queued per connection. [`Transport::forward`] pauses reading the source while
//!   the destination's queue is above [`TransportConfig::high_water`] and resumes it below
//!   [`TransportConfig::low_water`]; a queue above [`TransportConfig::max_pending`] closes
//!   the destination ([`CloseCause::Overflow`]).
//!
//! Only 64-bit targets are supported (mio tokens carry the id and a kind tag).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(target_pointer_width = "64"))]
compile_error!("moneysocket-ws needs a 64-bit target");

mod config;
mod conn;
mod dial;
pub mod tls;
mod transport;

pub use config::TransportConfig;
pub use dial::{parse_ws_url, WsUrl};
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
    /// An accepted TCP connection was dropped at once because of a limit.
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
    /// A websocket protocol violation or an I/O error.
    Error(String),
}

impl std::fmt::Display for CloseCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseCause::Remote => f.write_str("closed by peer"),
            CloseCause::Oversized => f.write_str("frame too large"),
            CloseCause::Overflow => f.write_str("pending output over limit"),
            CloseCause::Idle => f.write_str("idle timeout"),
            CloseCause::HandshakeFailed(e) => write!(f, "handshake failed: {e}"),
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
