//! A `GET /metrics` endpoint (Prometheus text format) for the daemons: the shared small HTTP
//! server ([`crate::http`]) run as caller sources inside the transport's mio loop, and a
//! writer for the text format.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::Registry;

use crate::http::{Limits, Response, Server};

/// The endpoint's limits: its own budget of clients, apart from the daemon's connections
/// (32 unless [`Metrics::bind_with`] says otherwise), 2 s each to send a request and read
/// the answer. A request already received is answered as it is accepted, and when the
/// slots are full an answered client or else the oldest unanswered one makes room, so
/// stalled clients cannot keep a scrape out for long: a scrape is lost only if more than
/// the budget of connections arrive between its connect and its request.
const LIMITS: Limits = Limits {
    max_head: 4096,
    max_headers: 32,
    max_body: 0,
    max_clients: 32,
    timeout: Duration::from_secs(2),
};

/// The metrics endpoint, on user-token numbers `base..base + Metrics::sources()`.
pub struct Metrics {
    server: Server,
    base: usize,
    limits: Limits,
}

impl Metrics {
    /// User-token numbers it takes from its base.
    pub fn sources(&self) -> usize {
        Server::sources(&self.limits)
    }

    /// Binds `addr` and registers with `registry` from user-token number `base` on, with
    /// 32 client slots (source numbers `base..base + 33`).
    pub fn bind(
        addr: SocketAddr,
        registry: &Registry,
        base: usize,
    ) -> io::Result<(Self, SocketAddr)> {
        Self::bind_with(addr, registry, base, LIMITS.max_clients)
    }

    /// [`Metrics::bind`] with `max_clients` client slots (source numbers
    /// `base..=base + max_clients`; each slot may hold a socket and a 4 KiB request).
    pub fn bind_with(
        addr: SocketAddr,
        registry: &Registry,
        base: usize,
        max_clients: usize,
    ) -> io::Result<(Self, SocketAddr)> {
        let limits = Limits {
            max_clients: max_clients.max(1),
            ..LIMITS
        };
        let server = Server::bind(addr, registry, base, limits)?;
        let local = server.local_addr();
        Ok((
            Metrics {
                server,
                base,
                limits,
            },
            local,
        ))
    }

    /// Whether user-token number `n` is the metrics server's.
    pub fn owns(&self, n: usize) -> bool {
        (self.base..self.base + self.sources()).contains(&n)
    }

    /// Handles readiness of source `n`; `render` produces the metrics text.
    pub fn ready(&mut self, n: usize, registry: &Registry, render: &dyn Fn() -> String) {
        self.server.ready(n, registry, &mut |req| match req {
            Ok(r) if r.method == "GET" && r.path() == "/metrics" => {
                Response::new(200, "text/plain; version=0.0.4", render())
            }
            Ok(_) => Response::text(404, ""),
            Err(e) => Response::text(e.status(), e.to_string()),
        });
    }

    /// Drops clients that take too long.
    pub fn sweep(&mut self, registry: &Registry) {
        self.server.sweep(registry);
    }
}

/// Writes metrics in the Prometheus text format under one prefix.
pub struct Exposition {
    prefix: &'static str,
    text: String,
}

/// One metric family for [`Exposition::put_all`]: name, kind (`gauge`, `counter`), help
/// text, and its rows (labels such as `{kind="pay"}`, or `""`, and the value).
pub type Family<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, u64)]);

impl Exposition {
    /// An empty exposition whose metric names start with `prefix` (e.g. `moneysocket_relay_`).
    pub fn new(prefix: &'static str) -> Self {
        Exposition {
            prefix,
            text: String::new(),
        }
    }

    /// [`Exposition::put`] for each family, in order.
    pub fn put_all(&mut self, families: &[Family<'_>]) {
        for &(name, kind, help, rows) in families {
            self.put(name, kind, help, rows);
        }
    }

    /// One metric: `kind` is `gauge` or `counter`; each row is (labels such as
    /// `{reason="x"}` or empty, value).
    pub fn put(&mut self, name: &str, kind: &str, help: &str, rows: &[(&str, u64)]) {
        use std::fmt::Write as _;
        let p = self.prefix;
        let _ = writeln!(self.text, "# HELP {p}{name} {help}");
        let _ = writeln!(self.text, "# TYPE {p}{name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(self.text, "{p}{name}{labels} {v}");
        }
    }

    /// The text.
    pub fn finish(self) -> String {
        self.text
    }
}
