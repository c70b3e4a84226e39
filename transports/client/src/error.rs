//! What can go wrong with a client call.

use std::fmt;

use moneysocket_core::session::SessionError;

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The beacon string does not decode (the decoder's reason).
    InvalidBeacon(String),
    /// The beacon has no websocket location to dial.
    NoAddress,
    /// The client's thread could not start its I/O (socket setup).
    Io(String),
    /// No provider info arrived within [`ClientConfig::connect_timeout`](crate::ClientConfig::connect_timeout);
    /// `last` is the last connection problem seen, if any.
    ConnectTimeout {
        /// The last reason the connection failed or closed.
        last: Option<String>,
    },
    /// No answer within the call's timeout. For a payment, whether it went out is unknown:
    /// watch the balance.
    Timeout,
    /// The provider refused the request, with its text.
    Refused(String),
    /// The link to the provider was down for the whole call, or closed with the request in
    /// flight (for a payment, whether it went out is unknown: watch the balance).
    Disconnected,
    /// The session refused the call (e.g. a zero amount).
    Request(SessionError),
    /// The BOLT11 invoice does not parse (the reader's reason).
    InvalidInvoice(String),
    /// An invoice from the provider is not for the amount requested.
    WrongAmount {
        /// Asked for.
        requested: u64,
        /// In the invoice (`None`: no amount).
        invoice: Option<u64>,
    },
    /// The provider answered a payment with a preimage whose SHA-256 is not the invoice's
    /// payment hash.
    WrongPreimage,
    /// The client was closed (or its thread is gone).
    Closed,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidBeacon(e) => write!(f, "invalid beacon: {e}"),
            ClientError::NoAddress => f.write_str("the beacon has no websocket location"),
            ClientError::Io(e) => write!(f, "i/o: {e}"),
            ClientError::ConnectTimeout { last: Some(e) } => {
                write!(f, "no provider info in time (last: {e})")
            }
            ClientError::ConnectTimeout { last: None } => f.write_str("no provider info in time"),
            ClientError::Timeout => f.write_str("no answer in time"),
            ClientError::Refused(e) => write!(f, "refused by the provider: {e}"),
            ClientError::Disconnected => f.write_str("disconnected from the provider"),
            ClientError::Request(e) => write!(f, "request refused by the session: {e}"),
            ClientError::InvalidInvoice(e) => write!(f, "invalid invoice: {e}"),
            ClientError::WrongAmount {
                requested,
                invoice: Some(a),
            } => write!(f, "invoice for {a} msat, requested {requested} msat"),
            ClientError::WrongAmount {
                requested,
                invoice: None,
            } => write!(f, "invoice without amount, requested {requested} msat"),
            ClientError::WrongPreimage => {
                f.write_str("the preimage does not match the invoice's payment hash")
            }
            ClientError::Closed => f.write_str("the client is closed"),
        }
    }
}

impl std::error::Error for ClientError {}
