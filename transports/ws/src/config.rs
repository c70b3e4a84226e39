//! Transport limits and buffer sizes.

use std::time::Duration;

/// Bytes of small frames tungstenite collects before writing to the socket.
pub(crate) const WRITE_BATCH: usize = 16 * 1024;

/// Bytes charged per queued frame on top of its payload, for pending output and for the
/// read round's byte budget: the queue slot (a 32-byte `Bytes`) and the frame's own
/// allocation (a small payload is copied into one when it joins a backlog; an allocator
/// chunk is at least 32 bytes). The websocket header (at most 10 bytes towards a client) is
/// added when the frame moves into the bounded write buffer. So an empty frame costs 64
/// bytes of `max_pending`, not 0.
pub const FRAME_OVERHEAD: usize = 64;

/// Limits and buffer sizes of a [`crate::Transport`]. The defaults suit Moneysocket's small
/// messages (a few hundred bytes).
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Most connections at once, handshaking ones included (default 10,000). Further accepts
    /// are refused with [`crate::AcceptRefusal::MaxConnections`].
    pub max_connections: usize,
    /// Most accepted connections from one IP address (default 64; 0 = no limit).
    pub max_per_ip: usize,
    /// Largest message accepted (default 64 KiB). Bigger closes the connection with
    /// [`crate::CloseCause::Oversized`].
    pub max_frame: usize,
    /// Read chunk and initial read buffer per connection (default 4 KiB; grows up to
    /// `max_frame` for a large message).
    pub read_buffer: usize,
    /// Pending output above which [`crate::Transport::forward`] pauses the source
    /// (default 64 KiB).
    pub high_water: usize,
    /// Pending output below which paused sources resume (default 16 KiB).
    pub low_water: usize,
    /// Pending output above which the connection is dropped (default 1 MiB).
    pub max_pending: usize,
    /// Time allowed for TCP connect, TLS and the websocket opening handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// Close a connection after this long without receiving anything, pongs included
    /// (default 120 s; `None` = never).
    pub idle_timeout: Option<Duration>,
    /// Send a websocket ping after this long without receiving anything (default 30 s;
    /// `None` = never).
    pub ping_interval: Option<Duration>,
    /// Time a closing connection may take to flush and finish the close handshake
    /// (default 2 s).
    pub close_linger: Duration,
    /// Messages read from one connection per turn before others get theirs (default 64; a
    /// turn also ends after 64 KiB of payload plus `FRAME_OVERHEAD` per message). A fresh
    /// readiness event gets a first turn of 4 messages; connections with input left get
    /// full turns from a retry list, at most 1,024 messages per `poll` in all, so a
    /// connection with one message waiting is served before bulk senders. A source paused by
    /// [`crate::Transport::forward`] can therefore overshoot `high_water` by at most
    /// 64 KiB plus one message: keep `max_pending` above `high_water + 64 KiB + 2 * max_frame`.
    pub read_budget: usize,
    /// `SO_SNDBUF` of accepted sockets. Linux doubles the value for its bookkeeping and
    /// turns off send-buffer autotuning, which otherwise grows up to `net.ipv4.tcp_wmem`'s
    /// maximum (4 MiB) towards a slow reader. Default 0: the kernel's default with
    /// autotuning (a relay sets it: 32 KiB).
    pub send_buffer: usize,
    /// `SO_RCVBUF` of listeners and accepted sockets (doubled by Linux; fixes the window,
    /// so it also caps one connection's inbound rate per round trip). Default 0: the
    /// kernel's default with autotuning up to `net.ipv4.tcp_rmem`'s maximum (a relay sets
    /// it: 32 KiB).
    pub recv_buffer: usize,
    /// Bytes of an incomplete message (a partial frame, or the frames of an unfinished
    /// fragmented message) a connection may hold without drawing on `partial_budget`
    /// (default 8 KiB, well above a Moneysocket message).
    pub partial_base: usize,
    /// Bytes shared by all connections for incomplete messages beyond `partial_base`
    /// (default 16 MiB: 256 frames of 64 KiB in flight at once). When it is used up, the
    /// connection whose incomplete message has waited longest is closed with 1009
    /// ([`crate::CloseCause::InputBudget`]). 0: messages above `partial_base` are refused.
    pub partial_budget: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            max_connections: 10_000,
            max_per_ip: 64,
            max_frame: moneysocket_core::session::DEFAULT_MAX_FRAME,
            read_buffer: 4 * 1024,
            high_water: 64 * 1024,
            low_water: 16 * 1024,
            max_pending: 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(120)),
            ping_interval: Some(Duration::from_secs(30)),
            close_linger: Duration::from_secs(2),
            read_budget: 64,
            send_buffer: 0,
            recv_buffer: 0,
            partial_base: 8 * 1024,
            partial_budget: 16 * 1024 * 1024,
        }
    }
}

impl TransportConfig {
    /// The tungstenite settings derived from these limits: small read buffer, frames written
    /// through promptly, bounded write buffer, `max_frame` for both message and frame size.
    pub(crate) fn websocket(&self) -> tungstenite::protocol::WebSocketConfig {
        let max = self.max_frame.max(1);
        tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(self.read_buffer.max(256))
            // batch small frames into one write; `flush` always writes everything
            .write_buffer_size(WRITE_BATCH)
            // a batch plus one message with framing plus a pending pong or close
            .max_write_buffer_size(WRITE_BATCH + max + 1024)
            .max_message_size(Some(max))
            .max_frame_size(Some(max))
    }
}
