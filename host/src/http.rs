//! A small non-blocking HTTP/1.1 server run as caller sources inside a mio loop (the
//! transport's, so the session driver's): the relay's metrics endpoint and the terminus's
//! control interface. One request per connection, answered with `Connection: close`.
//!
//! Bounded everywhere: request head size and header count, body size (`Content-Length` only;
//! `Transfer-Encoding` is refused), clients at once (when full, the oldest client that has not
//! sent a whole request makes room), and a deadline per connection enforced by
//! [`Server::sweep`]. Source numbers: `base` is the listener, `base + 1 + i` client slot `i`,
//! registered with [`Transport::user_token`].
//!
//! The blocking client side ([`post`]) is a few lines on `std::net::TcpStream`: the control
//! interface is plain HTTP on loopback, so an HTTP client crate (and its TLS stack) would add
//! much more code than it saves.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry};
use moneysocket_ws::Transport;

/// The bounds of a [`Server`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request line plus headers, in bytes (else 431).
    pub max_head: usize,
    /// Most header lines (else 431).
    pub max_headers: usize,
    /// Largest body (`Content-Length`), in bytes (else 413).
    pub max_body: usize,
    /// Clients at once.
    pub max_clients: usize,
    /// Time from accept to the end of the response; a slower client is dropped.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_headers: 32,
            max_body: 64 * 1024,
            max_clients: 16,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A request read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ... (as sent).
    pub method: String,
    /// The request target, e.g. `/metrics`.
    pub target: String,
    /// Header `(name, value)` pairs as sent (values trimmed).
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// Not HTTP/1.x as this server reads it (400).
    Malformed(&'static str),
    /// The request line and headers exceed `max_head` (431).
    HeadTooLarge,
    /// More than `max_headers` headers (431).
    TooManyHeaders,
    /// `Content-Length` exceeds `max_body` (413).
    BodyTooLarge,
    /// A `Transfer-Encoding` header (501: send `Content-Length`).
    TransferEncoding,
}

impl HttpError {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Malformed(_) => 400,
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::BodyTooLarge => 413,
            HttpError::TransferEncoding => 501,
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Malformed(why) => write!(f, "malformed request: {why}"),
            HttpError::HeadTooLarge => f.write_str("request head too large"),
            HttpError::TooManyHeaders => f.write_str("too many headers"),
            HttpError::BodyTooLarge => f.write_str("request body too large"),
            HttpError::TransferEncoding => {
                f.write_str("Transfer-Encoding is not supported: send Content-Length")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// A response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` value.
    pub content_type: &'static str,
    /// Other headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with no extra headers.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "text/plain; charset=utf-8", body)
    }

    /// The bytes on the wire (`Connection: close`, `Content-Length`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Reads one request from the start of `buf`: `Ok(None)` while it is incomplete.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<Request>, HttpError> {
    let Some(end) = find_head_end(buf) else {
        return if buf.len() > limits.max_head {
            Err(HttpError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if end > limits.max_head {
        return Err(HttpError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::Malformed("not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed("bad request line"));
    };
    if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("bad request line"));
    }
    let mut headers = Vec::new();
    for l in lines {
        if headers.len() == limits.max_headers {
            return Err(HttpError::TooManyHeaders);
        }
        if l.starts_with([' ', '\t']) {
            return Err(HttpError::Malformed("folded header"));
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(HttpError::Malformed("header without a colon"));
        };
        if k.is_empty() || k.contains([' ', '\t']) {
            return Err(HttpError::Malformed("bad header name"));
        }
        headers.push((k.to_owned(), v.trim().to_owned()));
    }
    let mut length: Option<usize> = None;
    for (k, v) in &headers {
        if k.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::TransferEncoding);
        }
        if k.eq_ignore_ascii_case("content-length") {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::Malformed("bad Content-Length"));
            }
            // a number too long for usize is too large anyway
            let n = v.parse::<usize>().unwrap_or(usize::MAX);
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::Malformed("conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    let length = length.unwrap_or(0);
    if length > limits.max_body {
        return Err(HttpError::BodyTooLarge);
    }
    let start = end + 4;
    if buf.len() - start < length {
        return Ok(None);
    }
    Ok(Some(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: buf[start..start + length].to_vec(),
    }))
}

enum State {
    Reading,
    Writing(Vec<u8>, usize),
    /// Response sent and write side shut: read and discard until the client closes, so
    /// unread request bytes do not turn the close into a reset that loses the response.
    Draining(usize),
}

struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
    eof: bool,
    state: State,
    started: Instant,
}

/// Most bytes discarded while draining before the client is dropped.
const MAX_DRAIN: usize = 1024 * 1024;

/// A listener and its client slots (see the module docs).
pub struct Server {
    listener: TcpListener,
    local: SocketAddr,
    base: usize,
    limits: Limits,
    clients: Vec<Option<Client>>,
    /// Clients connected now.
    live: usize,
    /// Earliest next deadline check of [`Server::sweep`].
    next_sweep: Instant,
}

/// How often [`Server::sweep`] looks at the deadlines (it is called after every poll of a
/// busy loop).
const SWEEP_EVERY: Duration = Duration::from_millis(100);

impl Server {
    /// Binds `addr` and registers the listener as source `base` in `registry`.
    pub fn bind(
        addr: SocketAddr,
        registry: &Registry,
        base: usize,
        limits: Limits,
    ) -> io::Result<Self> {
        let mut listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        registry.register(
            &mut listener,
            Transport::user_token(base),
            Interest::READABLE,
        )?;
        let clients = (0..limits.max_clients).map(|_| None).collect();
        Ok(Server {
            listener,
            local,
            base,
            limits,
            clients,
            live: 0,
            next_sweep: Instant::now(),
        })
    }

    /// How many source numbers a server with `limits` takes from its `base` on.
    pub fn sources(limits: &Limits) -> usize {
        1 + limits.max_clients
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether source number `n` is this server's.
    pub fn owns(&self, n: usize) -> bool {
        n >= self.base && n - self.base < Self::sources(&self.limits)
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.live
    }

    /// Handles readiness of source `n` (ignored unless [`owns`](Self::owns)). `handle` gets
    /// each complete request, or the reason one could not be read, and returns the response.
    pub fn ready(
        &mut self,
        n: usize,
        registry: &Registry,
        handle: &mut dyn FnMut(Result<&Request, &HttpError>) -> Response,
    ) {
        if n == self.base {
            self.accept(registry, handle);
        } else if self.owns(n) {
            let slot = n - self.base - 1;
            if self.step(slot, handle).is_err() {
                self.drop_client(slot, registry);
            }
        }
    }

    /// Drops clients past their deadline; call after each poll of the loop.
    pub fn sweep(&mut self, registry: &Registry) {
        let now = Instant::now();
        if self.live == 0 || now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_EVERY;
        for slot in 0..self.clients.len() {
            if matches!(&self.clients[slot], Some(c) if now.duration_since(c.started) > self.limits.timeout)
            {
                self.drop_client(slot, registry);
            }
        }
    }

    /// Deregisters the listener and every client.
    pub fn close(mut self, registry: &Registry) {
        for slot in 0..self.clients.len() {
            self.drop_client(slot, registry);
        }
        let _ = registry.deregister(&mut self.listener);
    }

    /// Accepts every pending connection. A request already received is answered at once,
    /// before later accepts may need its slot. When every slot is taken, a client that was
    /// answered (draining) makes room, else the oldest one still sending its request:
    /// stalled clients cannot lock the server out.
    fn accept(
        &mut self,
        registry: &Registry,
        handle: &mut dyn FnMut(Result<&Request, &HttpError>) -> Response,
    ) {
        loop {
            let (mut sock, _) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let slot = match self.clients.iter().position(Option::is_none) {
                Some(s) => s,
                None => {
                    let victim = self
                        .clients
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
                        .filter(|(_, c)| !matches!(c.state, State::Writing(..)))
                        .min_by_key(|(_, c)| (!matches!(c.state, State::Draining(_)), c.started))
                        .map(|(i, _)| i);
                    let Some(s) = victim else {
                        continue; // all busy answering: drop the new connection
                    };
                    self.drop_client(s, registry);
                    s
                }
            };
            let token = Transport::user_token(self.base + 1 + slot);
            if registry
                .register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)
                .is_err()
            {
                continue;
            }
            self.live += 1;
            self.clients[slot] = Some(Client {
                sock,
                buf: Vec::new(),
                eof: false,
                state: State::Reading,
                started: Instant::now(),
            });
            if self.step(slot, handle).is_err() {
                self.drop_client(slot, registry);
            }
        }
    }

    /// Reads the request, answers, drains. `Err` ends the client.
    fn step(
        &mut self,
        slot: usize,
        handle: &mut dyn FnMut(Result<&Request, &HttpError>) -> Response,
    ) -> Result<(), ()> {
        let limits = self.limits;
        let Some(Some(c)) = self.clients.get_mut(slot) else {
            return Ok(());
        };
        if let State::Reading = c.state {
            let cap = limits.max_head + 4 + limits.max_body;
            let mut chunk = [0u8; 4096];
            while !c.eof && c.buf.len() <= cap {
                match c.sock.read(&mut chunk) {
                    Ok(0) => c.eof = true,
                    Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(()),
                }
            }
            let resp = match parse_request(&c.buf, &limits) {
                Ok(Some(req)) => handle(Ok(&req)),
                Ok(None) if c.eof => return Err(()),
                Ok(None) => return Ok(()),
                Err(e) => handle(Err(&e)),
            };
            c.buf = Vec::new();
            c.state = State::Writing(resp.to_bytes(), 0);
        }
        if let State::Writing(out, at) = &mut c.state {
            while *at < out.len() {
                match c.sock.write(&out[*at..]) {
                    Ok(0) => return Err(()),
                    Ok(n) => *at += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(()),
                }
            }
            if c.eof || c.sock.shutdown(Shutdown::Write).is_err() {
                return Err(());
            }
            c.state = State::Draining(0);
        }
        if let State::Draining(seen) = &mut c.state {
            let mut chunk = [0u8; 4096];
            loop {
                match c.sock.read(&mut chunk) {
                    Ok(0) => return Err(()),
                    Ok(n) => {
                        *seen += n;
                        if *seen > MAX_DRAIN {
                            return Err(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(()),
                }
            }
        }
        Ok(())
    }

    fn drop_client(&mut self, slot: usize, registry: &Registry) {
        if let Some(Some(mut c)) = self.clients.get_mut(slot).map(Option::take) {
            self.live -= 1;
            let _ = registry.deregister(&mut c.sock);
        }
    }
}

/// A response as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// Status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends one `POST` to `addr` (plain HTTP, blocking, each step bounded by `timeout`) and
/// reads the response up to `max_response` bytes.
pub fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
    max_response: usize,
) -> io::Result<ClientResponse> {
    let mut sock = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    sock.write_all(&out)?;
    let mut buf = Vec::new();
    (&mut sock)
        .take(max_response as u64 + 1)
        .read_to_end(&mut buf)?;
    if buf.len() > max_response {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "response too large",
        ));
    }
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> io::Result<ClientResponse> {
    let bad =
        |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad response: {why}"));
    let end = find_head_end(buf).ok_or_else(|| bad("incomplete head"))?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(bad("status line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("status line"));
    }
    let status: u16 = code.parse().map_err(|_| bad("status code"))?;
    let body = &buf[end + 4..];
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<usize>().map_err(|_| bad("Content-Length")))
        .transpose()?;
    let body = match length {
        Some(n) if n > body.len() => return Err(bad("truncated body")),
        Some(n) => &body[..n],
        None => body,
    };
    Ok(ClientResponse {
        status,
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Request>, HttpError> {
        parse_request(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn requests_complete_partial_and_bounded() {
        let r = parse("POST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcEXTRA")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path(), &r.body[..]),
            ("POST", "/x", &b"abc"[..])
        );
        assert_eq!(r.header("host"), Some("a"));
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: a\r\n").unwrap(), None);
        assert_eq!(
            parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab").unwrap(),
            None
        );
        let l = Limits::default();
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(l.max_head));
        assert_eq!(parse(&big), Err(HttpError::HeadTooLarge));
        assert_eq!(
            parse(&"a".repeat(l.max_head + 1)),
            Err(HttpError::HeadTooLarge)
        );
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: 1\r\n".repeat(l.max_headers + 1)
        );
        assert_eq!(parse(&many), Err(HttpError::TooManyHeaders));
        let body = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            l.max_body + 1
        );
        assert_eq!(parse(&body), Err(HttpError::BodyTooLarge));
        assert_eq!(
            parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            Err(HttpError::BodyTooLarge)
        );
        for bad in [
            "GET\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET x HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nnocolon\r\n\r\n",
            "GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HttpError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HttpError::TransferEncoding)
        );
    }

    #[test]
    fn responses_round_trip() {
        let mut r = Response::new(401, "application/json", "{}");
        r.headers.push(("WWW-Authenticate", "Bearer".into()));
        let bytes = r.to_bytes();
        assert!(bytes.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"));
        let back = parse_response(&bytes).unwrap();
        assert_eq!((back.status, &back.body[..]), (401, &b"{}"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab").is_err());
        assert!(parse_response(b"nonsense").is_err());
    }
}
