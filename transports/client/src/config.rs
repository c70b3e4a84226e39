//! Client tunables.

use std::sync::Arc;
use std::time::Duration;

use moneysocket_driver::Backoff;
use moneysocket_ws::tls;

/// How a [`Client`](crate::Client) connects and how long it waits.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// [`Client::connect`](crate::Client::connect) waits this long for the provider's info
    /// (default 10 s).
    pub connect_timeout: Duration,
    /// Each invoice or pay call is answered (or fails with
    /// [`ClientError::Timeout`](crate::ClientError::Timeout)) within this (default 60 s).
    /// A call made while the link is down waits for it within the same limit.
    pub request_timeout: Duration,
    /// Reconnect delays after the link drops (the driver's; default 250 ms doubling to 30 s).
    pub backoff: Backoff,
    /// Keepalive ping interval once connected (`None`: never; default 5 s).
    pub ping_interval: Option<Duration>,
    /// Events kept for [`Client::recv_event`](crate::Client::recv_event) before new ones are
    /// dropped (and counted in [`Client::dropped_events`](crate::Client::dropped_events));
    /// default 1024.
    pub event_capacity: usize,
    /// TLS of `wss://` locations: the certificates trusted. `None` (default): the webpki
    /// (Mozilla) roots; for a relay or provider with a private or self-signed certificate,
    /// [`tls::client_config`]`(Some(ca_file))` trusts only the certificates in that file.
    pub tls: Option<Arc<tls::ClientConfig>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            backoff: Backoff::default(),
            ping_interval: Some(Duration::from_secs(5)),
            event_capacity: 1024,
            tls: None,
        }
    }
}
