//! The baseline peer: a websocket server on the same transport as the relay that echoes
//! every binary frame back on the connection it came from. No rendezvous, no pairing: what
//! is left is the cost of moving a frame through `moneysocket-ws` (read, queue, write).

use std::io::Write as _;
use std::net::SocketAddr;

use moneysocket_ws::{Event, Transport, TransportConfig};

use crate::relay::config::MAX_CONNECTIONS_CAP;
use crate::relay::RelayConfig;

/// Transport settings of the echo server: the relay's (from its default config, so the
/// baseline stays like-for-like), without the per-IP cap (load comes from one loopback
/// address) and without keepalive timers.
pub fn config() -> Result<TransportConfig, String> {
    Ok(TransportConfig {
        max_connections: MAX_CONNECTIONS_CAP,
        max_per_ip: 0,
        idle_timeout: None,
        ping_interval: None,
        ..RelayConfig::default().transport()?
    })
}

/// Listens on `bind`, prints `listening at: ws://ADDR` and echoes frames until killed.
pub fn serve(bind: SocketAddr) -> Result<(), String> {
    let mut t = Transport::new(config()?).map_err(|e| format!("event loop: {e}"))?;
    let addr = t
        .listen(bind, None)
        .map_err(|e| format!("listen on {bind}: {e}"))?;
    println!("listening at: ws://{addr}");
    let _ = std::io::stdout().flush();
    let mut events = Vec::new();
    loop {
        t.poll(&mut events, None)
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.drain(..) {
            if let Event::Frame { conn, data } = ev {
                // a failed send means the connection is going away
                let _ = t.send(conn, data);
            }
        }
    }
}
