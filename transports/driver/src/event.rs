//! What [`Driver::poll`](crate::Driver::poll) reports: owned copies of the host's session
//! events, connection changes of dialing sessions, and finished jobs.

use std::net::SocketAddr;
use std::time::Duration;

use moneysocket_core::host::{SessionEvent as HostSessionEvent, SessionId};
use moneysocket_core::matchmaker::Eviction;
use moneysocket_core::message::{Message, Wad};
use moneysocket_core::session::{self, CloseReason, FrameRefusal, RequestFailure, RequestKind};
use moneysocket_core::uuid::Uuid;
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

/// A session's event, owned (texts copied out of the host).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// From a consumer session.
    Consumer(ConsumerEvent),
    /// From a provider session.
    Provider(ProviderEvent),
}

/// [`moneysocket_core::session::ConsumerEvent`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumerEvent {
    /// The relay has no peer for this beacon yet.
    WaitingForPeer,
    /// Paired with the peer; `REQUEST_PROVIDER` sent.
    Paired,
    /// The provider is not ready; the session keeps asking.
    ProviderNotReady,
    /// Provider info (handshake answer, the session is ready; or a later update).
    Provider(ProviderUpdate),
    /// The invoice for a request.
    Invoice {
        /// The request.
        request: Uuid,
        /// The BOLT11 invoice.
        bolt11: String,
    },
    /// A preimage (the answer to `pay`, or an invoice of ours was paid).
    Preimage {
        /// The request it answers, if any.
        request: Option<Uuid>,
        /// The preimage.
        preimage: [u8; 32],
    },
    /// The provider refused a request or reports an error.
    Error {
        /// The request it answers, if any.
        request: Option<Uuid>,
        /// The provider's text.
        message: String,
    },
    /// The answer to a keepalive ping.
    Pong {
        /// The ping.
        request: Uuid,
        /// Round-trip time.
        rtt: Duration,
    },
    /// A request will not be answered.
    RequestFailed {
        /// The request.
        request: Uuid,
        /// Invoice or pay.
        kind: RequestKind,
        /// Why.
        reason: RequestFailure,
    },
    /// A received frame was dropped.
    Refused(FrameRefusal),
    /// The session closed.
    Closed(CloseReason),
    /// An event this driver version does not know (its `Debug` text).
    Other(String),
}

/// [`moneysocket_core::session::ProviderUpdate`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUpdate {
    /// `request_reference_uuid` as sent.
    pub reference: Option<Uuid>,
    /// The account behind the connection.
    pub account_uuid: Uuid,
    /// The provider pays invoices for this consumer.
    pub payer: bool,
    /// The provider creates invoices for this consumer.
    pub payee: bool,
    /// Balance available to the consumer, in msat.
    pub msats: Option<u64>,
    /// The message JSON as received.
    pub json: Vec<u8>,
}

impl ProviderUpdate {
    /// The full wad, read from the message.
    pub fn wad(&self) -> Option<Wad<'_>> {
        Message::parse(&self.json).ok()?.provider_info()?.wad
    }
}

/// [`moneysocket_core::session::ProviderEvent`], owned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderEvent {
    /// The relay has no peer for this beacon yet.
    WaitingForPeer,
    /// Paired with the peer.
    Paired,
    /// The consumer asked for provider info and none is set.
    InfoRequested,
    /// The consumer has the provider info.
    ConsumerReady,
    /// The consumer wants an invoice.
    InvoiceRequested {
        /// The request.
        request: Uuid,
        /// Amount in msat.
        msats: u64,
    },
    /// The consumer wants an invoice paid.
    PayRequested {
        /// The request.
        request: Uuid,
        /// The invoice.
        bolt11: String,
    },
    /// A request went unanswered too long; answers are refused from now on.
    RequestExpired {
        /// The request.
        request: Uuid,
        /// Invoice or pay.
        kind: RequestKind,
    },
    /// The link closed with this request unanswered.
    RequestAbandoned {
        /// The request.
        request: Uuid,
        /// Invoice or pay.
        kind: RequestKind,
    },
    /// A received frame was dropped.
    Refused(FrameRefusal),
    /// The session closed.
    Closed(CloseReason),
    /// An event this driver version does not know (its `Debug` text).
    Other(String),
}

impl SessionEvent {
    /// Copies a host event.
    pub fn from_host(event: &HostSessionEvent<'_>) -> Self {
        match event {
            HostSessionEvent::Consumer(e) => SessionEvent::Consumer(ConsumerEvent::from_core(e)),
            HostSessionEvent::Provider(e) => SessionEvent::Provider(ProviderEvent::from_core(e)),
            other => SessionEvent::Consumer(ConsumerEvent::Other(format!("{other:?}"))),
        }
    }

    /// The close reason, if this is a session's `Closed`.
    pub fn closed(&self) -> Option<CloseReason> {
        match self {
            SessionEvent::Consumer(ConsumerEvent::Closed(r))
            | SessionEvent::Provider(ProviderEvent::Closed(r)) => Some(*r),
            _ => None,
        }
    }

    /// Whether the session just became ready (a consumer's provider info, a provider's
    /// `ConsumerReady`).
    pub fn is_ready(&self) -> bool {
        matches!(
            self,
            SessionEvent::Consumer(ConsumerEvent::Provider(_))
                | SessionEvent::Provider(ProviderEvent::ConsumerReady)
        )
    }
}

impl ConsumerEvent {
    /// Copies a core event.
    pub fn from_core(e: &session::ConsumerEvent<'_>) -> Self {
        use session::ConsumerEvent as E;
        match e {
            E::WaitingForPeer => ConsumerEvent::WaitingForPeer,
            E::Paired => ConsumerEvent::Paired,
            E::ProviderNotReady => ConsumerEvent::ProviderNotReady,
            E::Provider(u) => ConsumerEvent::Provider(ProviderUpdate {
                reference: u.reference,
                account_uuid: u.account_uuid,
                payer: u.payer,
                payee: u.payee,
                msats: u.msats,
                json: u.json().to_vec(),
            }),
            E::Invoice { request, bolt11 } => ConsumerEvent::Invoice {
                request: *request,
                bolt11: (*bolt11).to_owned(),
            },
            E::Preimage { request, preimage } => ConsumerEvent::Preimage {
                request: *request,
                preimage: *preimage,
            },
            E::Error { request, message } => ConsumerEvent::Error {
                request: *request,
                message: (*message).to_owned(),
            },
            E::Pong { request, rtt } => ConsumerEvent::Pong {
                request: *request,
                rtt: *rtt,
            },
            E::RequestFailed {
                request,
                kind,
                reason,
            } => ConsumerEvent::RequestFailed {
                request: *request,
                kind: *kind,
                reason: *reason,
            },
            E::Refused(r) => ConsumerEvent::Refused(r.clone()),
            E::Closed(r) => ConsumerEvent::Closed(*r),
            other => ConsumerEvent::Other(format!("{other:?}")),
        }
    }
}

impl ProviderEvent {
    /// Copies a core event.
    pub fn from_core(e: &session::ProviderEvent<'_>) -> Self {
        use session::ProviderEvent as E;
        match e {
            E::WaitingForPeer => ProviderEvent::WaitingForPeer,
            E::Paired => ProviderEvent::Paired,
            E::InfoRequested => ProviderEvent::InfoRequested,
            E::ConsumerReady => ProviderEvent::ConsumerReady,
            E::InvoiceRequested { request, msats } => ProviderEvent::InvoiceRequested {
                request: *request,
                msats: *msats,
            },
            E::PayRequested { request, bolt11 } => ProviderEvent::PayRequested {
                request: *request,
                bolt11: (*bolt11).to_owned(),
            },
            E::RequestExpired { request, kind } => ProviderEvent::RequestExpired {
                request: *request,
                kind: *kind,
            },
            E::RequestAbandoned { request, kind } => ProviderEvent::RequestAbandoned {
                request: *request,
                kind: *kind,
            },
            E::Refused(r) => ProviderEvent::Refused(r.clone()),
            E::Closed(r) => ProviderEvent::Closed(*r),
            other => ProviderEvent::Other(format!("{other:?}")),
        }
    }
}
