//! The `GET /metrics` endpoint (Prometheus text format): the shared small HTTP server
//! (`moneysocket_host::http`) run as caller sources inside the transport's mio loop.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use moneysocket_host::http::{Limits, Response, Server};
use moneysocket_ws::Transport;

/// User-token numbers: the listener, then one per client slot (`BASE..BASE + 17`).
const BASE: usize = 16;
const LIMITS: Limits = Limits {
    max_head: 4096,
    max_headers: 32,
    max_body: 0,
    max_clients: 16,
    timeout: Duration::from_secs(5),
};

/// The metrics endpoint.
pub struct Metrics {
    server: Server,
}

impl Metrics {
    /// Binds `addr` and registers with the transport's poll.
    pub fn bind(addr: SocketAddr, t: &Transport) -> io::Result<(Self, SocketAddr)> {
        let server = Server::bind(addr, t.registry(), BASE, LIMITS)?;
        let local = server.local_addr();
        Ok((Metrics { server }, local))
    }

    /// Whether user-token number `n` belongs to the metrics server.
    pub fn owns(n: usize) -> bool {
        (BASE..BASE + Server::sources(&LIMITS)).contains(&n)
    }

    /// Handles readiness of source `n`; `render` produces the metrics text.
    pub fn ready(&mut self, n: usize, t: &Transport, render: &dyn Fn() -> String) {
        self.server.ready(n, t.registry(), &mut |req| match req {
            Ok(r) if r.method == "GET" && r.path() == "/metrics" => {
                Response::new(200, "text/plain; version=0.0.4", render())
            }
            Ok(_) => Response::text(404, ""),
            Err(e) => Response::text(e.status(), e.to_string()),
        });
    }

    /// Drops clients that take too long.
    pub fn sweep(&mut self, t: &Transport) {
        self.server.sweep(t.registry());
    }
}
