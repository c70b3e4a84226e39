//! What a client reports besides the answers to its calls.

use std::time::Duration;

/// The provider's latest info (balance and roles), owned.
pub type ProviderInfo = moneysocket_driver::ProviderUpdate;

/// Something that happened on the client's link, in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The provider answered the handshake (at connect, and again after each reconnect).
    Connected(ProviderInfo),
    /// A later provider update (e.g. the balance after a payment).
    Provider(ProviderInfo),
    /// A preimage nobody asked for: an invoice of this account was paid.
    Preimage([u8; 32]),
    /// An error the provider sent outside any request.
    Error(String),
    /// The link dropped; the client redials after `retry_in` (`None`: it does not).
    Disconnected {
        /// Why.
        reason: String,
        /// When the next dial is.
        retry_in: Option<Duration>,
    },
}
