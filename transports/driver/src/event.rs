//! What [`Driver::poll`](crate::Driver::poll) reports: owned copies of the host's session
//! events, connection changes of dialing sessions, and finished jobs.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use moneysocket_core::host::SessionId;
use moneysocket_core::matchmaker::Eviction;
use moneysocket_core::session::CloseReason;
use moneysocket_core::ConnId;

use crate::io::IoError;
use crate::jobs::{JobId, JobOutput, JobPanicked};

/// Something the application may act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum DriverEvent {
    /// An event of a hosted session.
    Session {
        /// The session.
        session: SessionId,
        /// What happened (owned).
        event: SessionEvent,
    },
    /// A session placed with [`Driver::connect`](crate::Driver::connect) runs on a newly
    /// opened connection.
    Connected {
        /// The session.
        session: SessionId,
        /// The connection.
        conn: ConnId,
        /// Which of its addresses (index into the list given to `connect`).
        address: usize,
    },
    /// A session placed with [`Driver::connect`](crate::Driver::connect) lost its connection
    /// or a dial failed.
    Disconnected {
        /// The session.
        session: SessionId,
        /// Why.
        cause: Disconnect,
        /// When the driver dials again (`Some(ZERO)`: at once, the next address); `None`:
        /// it does not (the application closed or removed the session).
        retry_in: Option<Duration>,
    },
    /// A job of [`Driver::spawn`](crate::Driver::spawn) finished.
    Job {
        /// Its id.
        job: JobId,
        /// Its result, or the panic.
        result: Result<JobOutput, JobPanicked>,
    },
    /// A connection a remote peer opened (accepted on the listener) is open; it went to the
    /// host's matchmaker.
    Accepted {
        /// The connection.
        conn: ConnId,
        /// The remote address, if the I/O knows it ([`FrameIo::peer_addr`](crate::FrameIo::peer_addr)).
        peer: Option<SocketAddr>,
    },
    /// An accepted connection is gone: it failed or its peer closed it
    /// ([`Disconnect::ConnectionClosed`]), or the host's matchmaker closed it
    /// ([`Disconnect::Evicted`]).
    AcceptedClosed {
        /// The connection.
        conn: ConnId,
        /// Why.
        cause: Disconnect,
    },
    /// A remote peer's connection was refused at once because of a limit of the I/O.
    Refused {
        /// The remote address, if known.
        peer: Option<SocketAddr>,
        /// Which limit (for [`WsIo`](crate::WsIo): `max_connections` or `max_per_ip`).
        reason: &'static str,
    },
    /// A source the application registered with the I/O is ready (for [`WsIo`](crate::WsIo):
    /// with `Transport::user_token(n)` in `driver.io().transport().registry()`; any `n` but
    /// [`WAKE_SOURCE`](crate::WAKE_SOURCE), the driver's own).
    User {
        /// The application's source number.
        n: usize,
        /// Readable.
        readable: bool,
        /// Writable.
        writable: bool,
    },
}

/// Why a dialing session is without a connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Disconnect {
    /// The frame I/O refused to start the dial (e.g. a malformed URL).
    DialRefused(IoError),
    /// The connection (or its opening) failed or the peer closed it.
    ConnectionClosed(Option<IoError>),
    /// The session ended its link (peer gone, timeout, ...) and the driver closed the
    /// connection.
    SessionClosed(CloseReason),
    /// The host refused to place the session on the opened connection (the session was
    /// placed elsewhere meanwhile); the driver stops dialing it.
    Attach(moneysocket_core::host::HostError),
    /// The host's matchmaker closed an accepted connection (only in
    /// [`DriverEvent::AcceptedClosed`]).
    Evicted(Eviction),
}

impl fmt::Display for Disconnect {
    /// The cause as a sentence for logs and users (the I/O error's own text for a failed
    /// connection, e.g. a TLS handshake refused).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disconnect::DialRefused(e) => write!(f, "dial refused: {e}"),
            Disconnect::ConnectionClosed(Some(e)) => write!(f, "{e}"),
            Disconnect::ConnectionClosed(None) => f.write_str("connection closed"),
            Disconnect::SessionClosed(r) => write!(f, "{r}"),
            Disconnect::Attach(e) => write!(f, "session not placed: {e}"),
            Disconnect::Evicted(e) => write!(f, "closed by the matchmaker: {e:?}"),
        }
    }
}

/// A session's event, owned (texts copied out of the host): the core's event types with
/// `String` texts.
pub type SessionEvent = moneysocket_core::host::SessionEvent<String>;
/// A consumer's event, owned.
pub type ConsumerEvent = moneysocket_core::session::ConsumerEvent<String>;
/// A provider's event, owned.
pub type ProviderEvent = moneysocket_core::session::ProviderEvent<String>;
/// A consumer's provider update, owned.
pub type ProviderUpdate = moneysocket_core::session::ProviderUpdate<String>;
