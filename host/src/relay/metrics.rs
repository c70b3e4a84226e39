//! A tiny plain-HTTP server for `GET /metrics` (Prometheus text format), run as caller
//! sources inside the transport's mio loop. One request per connection, then close.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::Interest;
use moneysocket_ws::Transport;

/// User-token numbers: the listener, then one per client slot.
pub const LISTENER_N: usize = 0;
const SLOT_BASE: usize = 16;
const MAX_CLIENTS: usize = 16;
const MAX_REQUEST: usize = 4096;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
    out: Option<(Vec<u8>, usize)>,
    started: Instant,
}

/// The metrics endpoint.
pub struct Metrics {
    listener: TcpListener,
    clients: Vec<Option<Client>>,
}

impl Metrics {
    /// Binds `addr` and registers with the transport's poll.
    pub fn bind(addr: SocketAddr, t: &Transport) -> io::Result<(Self, SocketAddr)> {
        let mut listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        t.registry().register(
            &mut listener,
            Transport::user_token(LISTENER_N),
            Interest::READABLE,
        )?;
        let clients = (0..MAX_CLIENTS).map(|_| None).collect();
        Ok((Metrics { listener, clients }, local))
    }

    /// Whether user-token number `n` belongs to the metrics server.
    pub fn owns(n: usize) -> bool {
        n == LISTENER_N || (SLOT_BASE..SLOT_BASE + MAX_CLIENTS).contains(&n)
    }

    /// Handles readiness of source `n`; `render` produces the metrics text.
    pub fn ready(&mut self, n: usize, t: &Transport, render: &dyn Fn() -> String) {
        if n == LISTENER_N {
            self.accept(t);
        } else if let Some(slot) = n.checked_sub(SLOT_BASE) {
            if self.step(slot, render).is_err() {
                self.drop_client(slot, t);
            }
        }
    }

    /// Drops clients that take too long.
    pub fn sweep(&mut self, t: &Transport) {
        let now = Instant::now();
        for slot in 0..self.clients.len() {
            if matches!(&self.clients[slot], Some(c) if now.duration_since(c.started) > CLIENT_TIMEOUT)
            {
                self.drop_client(slot, t);
            }
        }
    }

    fn accept(&mut self, t: &Transport) {
        loop {
            let (mut sock, _) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let Some(slot) = self.clients.iter().position(Option::is_none) else {
                continue; // busy: drop the connection
            };
            let token = Transport::user_token(SLOT_BASE + slot);
            if t.registry()
                .register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            self.clients[slot] = Some(Client {
                sock,
                buf: Vec::new(),
                out: None,
                started: Instant::now(),
            });
        }
    }

    /// Reads the request, then writes the response. `Err` ends the client.
    fn step(&mut self, slot: usize, render: &dyn Fn() -> String) -> Result<(), ()> {
        let Some(Some(c)) = self.clients.get_mut(slot) else {
            return Ok(());
        };
        if c.out.is_none() {
            let mut chunk = [0u8; 1024];
            loop {
                match c.sock.read(&mut chunk) {
                    Ok(0) => return Err(()),
                    Ok(n) => {
                        c.buf.extend_from_slice(&chunk[..n]);
                        if c.buf.len() > MAX_REQUEST {
                            return Err(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(()),
                }
            }
            if !c.buf.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(());
            }
            let line = c.buf.split(|&b| b == b'\r').next().unwrap_or_default();
            let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
            let resp = if line.starts_with(b"GET ")
                && (target == b"/metrics" || target.starts_with(b"/metrics?"))
            {
                let body = render();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
            };
            c.out = Some((resp.into_bytes(), 0));
        }
        if let Some((out, at)) = &mut c.out {
            while *at < out.len() {
                match c.sock.write(&out[*at..]) {
                    Ok(0) => return Err(()),
                    Ok(n) => *at += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(()),
                }
            }
            return Err(()); // done: close
        }
        Ok(())
    }

    fn drop_client(&mut self, slot: usize, t: &Transport) {
        if let Some(Some(mut c)) = self.clients.get_mut(slot).map(Option::take) {
            let _ = t.registry().deregister(&mut c.sock);
        }
    }
}
