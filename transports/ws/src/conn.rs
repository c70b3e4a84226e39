//! One connection: handshake phases, the websocket, its output queue and read/write pumps.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, Error as WsError, Message, WebSocket};

use crate::config::{FRAME_OVERHEAD, WRITE_BATCH};
use crate::dial::{DialError, WsUrl};
use crate::http::{self, HttpRefusal};
use crate::limits::SharedLimits;
use crate::tls::{ClientConfig, ServerConfig, Stream};
use crate::transport::TransportStats;
use crate::{CloseCause, ConnId, Event, Origin};

/// Where a connection is in its life.
pub(crate) enum Phase {
    /// Dialed: waiting for the TCP connect to finish.
    Connecting {
        tcp: TcpStream,
        url: WsUrl,
        tls: Option<Arc<ClientConfig>>,
    },
    /// Accepted: TLS (if any) and reading the request head, which the transport checks
    /// itself so that a bad request gets an HTTP answer.
    ServerHead { stream: Stream, head: Vec<u8> },
    /// Accepted: the websocket handshake (tungstenite) in progress.
    ServerHs(MidHandshake<ServerHandshake<Stream, NoCallback>>),
    /// Dialed: TLS (if any) and websocket handshake in progress.
    ClientHs(MidHandshake<ClientHandshake<Stream>>),
    /// Websocket open.
    Open(Box<WebSocket<Stream>>),
    /// Failed: the HTTP error answer or the close frame was sent (the websocket and its
    /// buffers are gone); input is discarded until the peer hangs up.
    Draining(Stream),
    /// Transient while a handshake step owns the state, or after a failure.
    Gone,
}

/// Payload bytes delivered from one connection per readiness round.
pub(crate) const READ_BYTES_BUDGET: usize = 64 * 1024;

/// Payload bytes moved towards one connection per pump, so that a fast-draining socket
/// with a large kernel buffer cannot make one poll round copy its whole backlog while
/// other connections wait.
pub(crate) const WRITE_BYTES_BUDGET: usize = 256 * 1024;

/// A step's verdict.
pub(crate) type Step = Result<(), CloseCause>;

/// What a handshake step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    /// Waiting for more input or output room.
    Pending,
    /// The websocket just opened.
    Opened,
    /// The request was not a websocket upgrade: an HTTP error was answered (its status).
    Answered(u16),
}

/// How a read round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// Nothing more to read now.
    Drained,
    /// The round's budget ran out with input possibly left.
    More,
    /// An incomplete message reached the connection's input limit: it needs a grant.
    Starved,
}

pub(crate) struct Conn {
    pub id: ConnId,
    pub phase: Phase,
    pub peer: SocketAddr,
    pub origin: Origin,
    /// Counted against this address's per-IP limit.
    pub ip: Option<IpAddr>,
    /// The caller knows this id (Opened emitted, or returned by `dial`): a `Closed` is owed.
    pub announced: bool,
    /// Queued frames not yet handed to tungstenite.
    pub out: VecDeque<Bytes>,
    pub out_bytes: usize,
    /// Tungstenite may hold bytes not yet written to the socket.
    pub unflushed: bool,
    /// Readiness not consumed yet (edge-triggered: only `WouldBlock` clears it).
    pub read_ready: bool,
    /// Paused by the caller.
    pub user_paused: bool,
    /// Number of destinations whose backlog holds this connection's reading.
    pub holds: u32,
    /// Sources paused because of this connection's backlog.
    pub waiters: Vec<ConnId>,
    /// Closing (by the caller or a limit): no more frames are delivered; dropped at this time
    /// at the latest.
    pub closing: Option<Instant>,
    pub close_sent: bool,
    /// Closed by a violation (or an HTTP error answer): input is discarded until the peer
    /// hangs up or `closing` passes.
    pub draining: bool,
    /// Bytes granted from the transport's partial-message budget (beyond the base).
    pub granted: usize,
    /// Accepted over a limit on a TLS listener: answered with this once its request head
    /// is in (a plain listener answers at accept).
    pub refusal: Option<&'static HttpRefusal>,
    /// Tells this grant episode from older entries of the transport's grant queue.
    pub grant_epoch: u32,
    /// In the dirty list (has output to pump).
    pub dirty: bool,
    /// In the retry-read list.
    pub in_again: bool,
    /// Accepted under a router and not announced yet: waiting for the first binary message
    /// that names its owner (`hs_deadline` is then the deadline for it).
    pub unrouted: bool,
    /// Handshake deadline.
    pub hs_deadline: Instant,
    pub last_rx: Instant,
    pub last_ping: Instant,
}

impl Conn {
    pub(crate) fn new(
        id: ConnId,
        phase: Phase,
        peer: SocketAddr,
        origin: Origin,
        now: Instant,
        hs_deadline: Instant,
    ) -> Self {
        Conn {
            id,
            phase,
            peer,
            origin,
            ip: None,
            announced: false,
            out: VecDeque::new(),
            out_bytes: 0,
            unflushed: false,
            read_ready: true,
            user_paused: false,
            holds: 0,
            waiters: Vec::new(),
            closing: None,
            close_sent: false,
            draining: false,
            granted: 0,
            grant_epoch: 0,
            refusal: None,
            dirty: false,
            in_again: false,
            unrouted: false,
            hs_deadline,
            last_rx: now,
            last_ping: now,
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_)) && self.closing.is_none()
    }

    pub(crate) fn reading_paused(&self) -> bool {
        self.user_paused || self.holds > 0
    }

    /// Advances a handshake.
    pub(crate) fn advance_handshake(
        &mut self,
        writable: bool,
        ws: WebSocketConfig,
    ) -> Result<Handshake, CloseCause> {
        let (phase, step) = match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Connecting { tcp, url, tls } => {
                if !writable {
                    (Phase::Connecting { tcp, url, tls }, Handshake::Pending)
                } else {
                    match self.connected(tcp, url, tls, ws)? {
                        Some(p) => {
                            let open = matches!(p, Phase::Open(_));
                            (
                                p,
                                if open {
                                    Handshake::Opened
                                } else {
                                    Handshake::Pending
                                },
                            )
                        }
                        // still connecting: phase restored
                        None => return Ok(Handshake::Pending),
                    }
                }
            }
            Phase::ServerHead { stream, head } => read_head(stream, head, ws, self.refusal)?,
            Phase::ServerHs(m) => match m.handshake() {
                Ok(w) => (Phase::Open(Box::new(w)), Handshake::Opened),
                Err(HandshakeError::Interrupted(m)) => (Phase::ServerHs(m), Handshake::Pending),
                Err(HandshakeError::Failure(e)) => {
                    return Err(CloseCause::HandshakeFailed(e.to_string()))
                }
            },
            Phase::ClientHs(m) => client_step(m.handshake())?,
            p @ (Phase::Open(_) | Phase::Draining(_)) => (p, Handshake::Pending),
            Phase::Gone => return Err(CloseCause::Error("connection gone".into())),
        };
        self.phase = phase;
        Ok(step)
    }

    /// The TCP connect of a dial finished (or failed): starts TLS and the websocket
    /// handshake. `Ok(None)` if not connected yet (the phase is restored).
    fn connected(
        &mut self,
        tcp: TcpStream,
        url: WsUrl,
        tls: Option<Arc<ClientConfig>>,
        ws: WebSocketConfig,
    ) -> Result<Option<Phase>, CloseCause> {
        if let Ok(Some(e)) | Err(e) = tcp.take_error() {
            return Err(CloseCause::HandshakeFailed(format!("connect: {e}")));
        }
        match tcp.peer_addr() {
            Ok(a) => self.peer = a,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                self.phase = Phase::Connecting { tcp, url, tls };
                return Ok(None);
            }
            Err(e) => return Err(CloseCause::HandshakeFailed(format!("connect: {e}"))),
        }
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            None => Stream::plain(tcp),
            Some(cfg) => {
                let name = ServerName::try_from(url.host.clone())
                    .map_err(|e| CloseCause::HandshakeFailed(format!("server name: {e}")))?;
                let c = rustls::ClientConnection::new(cfg, name)
                    .map_err(|e| CloseCause::HandshakeFailed(format!("tls: {e}")))?;
                Stream::client(rustls::StreamOwned::new(c, tcp))
            }
        };
        let req = url.request().map_err(CloseCause::HandshakeFailed)?;
        let (phase, _) = client_step(tungstenite::client::client_with_config(
            req,
            stream,
            Some(ws),
        ))?;
        Ok(Some(phase))
    }

    /// Reads up to `budget` messages or until [`READ_BYTES_BUDGET`] bytes (payload plus
    /// [`FRAME_OVERHEAD`] per message) were delivered, so a paused source overshoots the
    /// high-water mark by a bounded amount. Binary frames become events unless closing. A
    /// complete data message returns the connection's grant to the partial-message budget.
    pub(crate) fn read(
        &mut self,
        budget: usize,
        now: Instant,
        events: &mut Vec<Event>,
        stats: &mut TransportStats,
        limits: &SharedLimits,
    ) -> Result<ReadEnd, CloseCause> {
        let Phase::Open(ws) = &mut self.phase else {
            return Ok(ReadEnd::Drained);
        };
        let mut bytes = 0usize;
        for _ in 0..budget {
            if bytes >= READ_BYTES_BUDGET {
                return Ok(ReadEnd::More);
            }
            match ws.read() {
                Ok(msg) => {
                    self.last_rx = now;
                    let stream = ws.get_mut();
                    match &msg {
                        Message::Binary(_) | Message::Text(_) => {
                            // the incomplete message is complete: its input is released
                            stream.held = 0;
                            stream.limit -= self.granted;
                            limits.give_partial(std::mem::take(&mut self.granted));
                        }
                        // control frames are never fragmented: header (masked) + payload
                        m => stream.held = stream.held.saturating_sub(6 + m.len()),
                    }
                    match msg {
                        Message::Binary(data) => {
                            bytes += data.len() + FRAME_OVERHEAD;
                            if self.closing.is_none() {
                                stats.frames_in += 1;
                                stats.bytes_in += data.len() as u64;
                                events.push(Event::Frame {
                                    conn: self.id,
                                    data,
                                });
                            }
                        }
                        Message::Text(_) => {
                            bytes += FRAME_OVERHEAD;
                            tracing::debug!(
                                conn = self.id.0,
                                "text frame dropped (binary expected)"
                            );
                        }
                        // tungstenite queued the pong (or the close reply): flush it
                        Message::Ping(_) | Message::Close(_) => self.unflushed = true,
                        Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                Err(e) => {
                    return match classify(e) {
                        None if ws.get_ref().starved => Ok(ReadEnd::Starved),
                        None => {
                            self.read_ready = false;
                            Ok(ReadEnd::Drained)
                        }
                        Some(c) => Err(c),
                    }
                }
            }
        }
        Ok(ReadEnd::More)
    }

    /// Queues `data`, charging its payload plus [`FRAME_OVERHEAD`]. A frame smaller than
    /// `compact_below` that joins a backlog is copied into its own allocation (a received
    /// payload shares its read buffer, which a queued frame would otherwise keep alive).
    /// Returns the new backlog.
    pub(crate) fn queue(&mut self, data: Bytes, compact_below: usize) -> usize {
        let data = if !self.out.is_empty() && data.len() < compact_below {
            Bytes::copy_from_slice(&data)
        } else {
            data
        };
        self.out_bytes += data.len() + FRAME_OVERHEAD;
        self.out.push_back(data);
        self.out_bytes
    }

    /// Whether a pump has something to do: queued frames, or a close frame still to send.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty() || (self.closing.is_some() && !self.close_sent)
    }

    /// Drops queued output (the connection is failing).
    pub(crate) fn clear_output(&mut self) {
        self.out.clear();
        self.out_bytes = 0;
    }

    /// Fails an open connection with a close `code` (1002, 1009): the close frame is
    /// written as far as the socket takes it, and input is discarded from now on.
    pub(crate) fn fail(&mut self, code: CloseCode, reason: &'static str) {
        self.clear_output();
        self.draining = true;
        self.close_sent = true;
        if let Phase::Open(ws) = &mut self.phase {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            self.unflushed = true;
            // errors: the socket is gone or full; the linger deadline ends it either way
            if ws.close(Some(frame)).is_ok() {
                self.unflushed = false;
                self.shut_down();
            }
        }
    }

    /// Once the close frame is out: FIN, and the websocket (with its buffers) is dropped,
    /// keeping only the socket to drain.
    fn shut_down(&mut self) {
        self.phase = match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Open(ws) => {
                let mut stream = ws.into_inner();
                stream.shutdown_write();
                Phase::Draining(stream)
            }
            p => p,
        };
    }

    /// Reads and discards input of a draining connection (up to 64 KiB per round).
    /// `Ok(true)` once the peer hung up.
    pub(crate) fn discard(&mut self) -> Result<bool, CloseCause> {
        let stream = match &mut self.phase {
            Phase::Open(ws) => ws.get_mut(),
            Phase::Draining(s) => s,
            _ => return Ok(true),
        };
        for _ in 0..16 {
            match stream.discard() {
                Ok(0) => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_ready = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(true),
            }
        }
        Ok(false)
    }

    /// The socket's stream, once past the TCP connect and while the websocket or the HTTP
    /// answer owns it.
    pub(crate) fn stream_mut(&mut self) -> Option<&mut Stream> {
        match &mut self.phase {
            Phase::Open(ws) => Some(ws.get_mut()),
            Phase::ServerHead { stream, .. } | Phase::Draining(stream) => Some(stream),
            _ => None,
        }
    }

    /// A readiness event reported input (`ending`: or a hang-up or an error): the stream, in
    /// whatever phase holds it, reads from the socket again (see [`Stream::readable`]).
    pub(crate) fn readiness(&mut self, ending: bool) {
        let stream = match &mut self.phase {
            Phase::Open(ws) => ws.get_mut(),
            Phase::ServerHead { stream, .. } | Phase::Draining(stream) => stream,
            Phase::ServerHs(m) => m.get_mut().get_mut(),
            Phase::ClientHs(m) => m.get_mut().get_mut(),
            Phase::Connecting { .. } | Phase::Gone => return,
        };
        stream.readable(ending);
    }

    /// Moves queued frames into the websocket (on an accepted connection: framed by the
    /// transport itself into the stream's output, see `framing`) and flushes as far as the
    /// socket allows; sends the close frame once the queue is empty when closing.
    /// `Ok(true)` if [`WRITE_BYTES_BUDGET`] ran out with output left (pump again next round).
    pub(crate) fn pump_write(&mut self) -> Result<bool, CloseCause> {
        let Phase::Open(ws) = &mut self.phase else {
            return Ok(false);
        };
        let mut moved = 0usize;
        loop {
            if self.unflushed {
                match ws.flush() {
                    Ok(()) => self.unflushed = false,
                    Err(e) => return blocked_or(e).map(|()| false),
                }
            }
            if self.draining {
                self.shut_down();
                return Ok(false);
            }
            if self.out.is_empty() {
                if self.closing.is_some() && !self.close_sent {
                    self.close_sent = true;
                    self.unflushed = true;
                    if let Err(e) = ws.close(None) {
                        return blocked_or(e).map(|()| false);
                    }
                    self.unflushed = false;
                }
                return Ok(false);
            }
            if moved >= WRITE_BYTES_BUDGET {
                return Ok(true);
            }
            if matches!(self.origin, Origin::Accepted(_)) && ws.can_write() {
                // Server side: frame the payloads straight into the stream's output (the
                // websocket's own buffer was just flushed, so nothing interleaves); the
                // flush at the top of the loop writes them.
                let stream = ws.get_mut();
                while stream.unwritten() < WRITE_BATCH {
                    let Some(f) = self.out.pop_front() else {
                        break;
                    };
                    self.out_bytes -= f.len() + FRAME_OVERHEAD;
                    moved += f.len();
                    stream.push_binary(&f);
                }
                self.unflushed = true;
                continue;
            }
            while let Some(f) = self.out.pop_front() {
                self.out_bytes -= f.len() + FRAME_OVERHEAD;
                moved += f.len();
                match ws.write(Message::Binary(f)) {
                    Ok(()) => self.unflushed = true,
                    Err(WsError::WriteBufferFull(m)) => {
                        if let Message::Binary(b) = *m {
                            self.out_bytes += b.len() + FRAME_OVERHEAD;
                            moved -= b.len();
                            self.out.push_front(b);
                        }
                        break;
                    }
                    Err(e) => {
                        self.unflushed = true;
                        return blocked_or(e).map(|()| false);
                    }
                }
            }
            self.unflushed = true;
        }
    }

    /// Queues a websocket ping (flushed by the next pump).
    pub(crate) fn ping(&mut self, now: Instant) {
        self.last_ping = now;
        if let Phase::Open(ws) = &mut self.phase {
            // A full buffer or a blocked socket is fine: the ping is either stored or skipped.
            let _ = ws.write(Message::Ping(Bytes::new()));
            self.unflushed = true;
        }
    }
}

type ClientResult = Result<
    (WebSocket<Stream>, tungstenite::handshake::client::Response),
    HandshakeError<ClientHandshake<Stream>>,
>;

/// The next phase after a client handshake step, and whether it opened.
fn client_step(r: ClientResult) -> Result<(Phase, Handshake), CloseCause> {
    match r {
        Ok((w, _)) => Ok((Phase::Open(Box::new(w)), Handshake::Opened)),
        Err(HandshakeError::Interrupted(m)) => Ok((Phase::ClientHs(m), Handshake::Pending)),
        Err(HandshakeError::Failure(WsError::Http(resp))) => {
            Err(CloseCause::DialFailed(DialError::Refused {
                status: resp.status().as_u16(),
                reason: http::reason_line(resp.body().as_deref()),
            }))
        }
        Err(HandshakeError::Failure(e)) => Err(CloseCause::HandshakeFailed(e.to_string())),
    }
}

/// Reads the request head of an accepted connection (through TLS if any). A complete head
/// that tungstenite would refuse is answered with an HTTP error; a good one is replayed to
/// tungstenite's server handshake.
fn read_head(
    mut stream: Stream,
    mut head: Vec<u8>,
    ws: WebSocketConfig,
    refusal: Option<&'static HttpRefusal>,
) -> Result<(Phase, Handshake), CloseCause> {
    let mut chunk = [0u8; 2048];
    loop {
        match http::head_len(&head) {
            Err(refusal) => return Ok(answer(stream, refusal)),
            Ok(Some(_)) => break,
            Ok(None) => {}
        }
        match io::Read::read(&mut stream, &mut chunk) {
            Ok(0) => {
                return Err(CloseCause::HandshakeFailed(
                    "closed during the request".into(),
                ))
            }
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // TLS may have handshake records to send
                let _ = io::Write::flush(&mut stream);
                return Ok((Phase::ServerHead { stream, head }, Handshake::Pending));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CloseCause::HandshakeFailed(e.to_string())),
        }
    }
    if let Some(refusal) = refusal {
        return Ok(answer(stream, *refusal));
    }
    if let Err(refusal) = http::check_upgrade(&head) {
        return Ok(answer(stream, refusal));
    }
    stream.set_replay(head);
    match tungstenite::accept_with_config(stream, Some(ws)) {
        Ok(w) => Ok((Phase::Open(Box::new(w)), Handshake::Opened)),
        Err(HandshakeError::Interrupted(m)) => Ok((Phase::ServerHs(m), Handshake::Pending)),
        Err(HandshakeError::Failure(e)) => Err(CloseCause::HandshakeFailed(e.to_string())),
    }
}

/// Writes an HTTP error answer (best effort: one write to a fresh socket) and shuts the
/// sending side down; the connection then drains its input.
fn answer(mut stream: Stream, refusal: HttpRefusal) -> (Phase, Handshake) {
    let _ = io::Write::write_all(&mut stream, &refusal.response());
    let _ = io::Write::flush(&mut stream);
    stream.shutdown_write();
    (Phase::Draining(stream), Handshake::Answered(refusal.status))
}

/// `Ok` for a would-block (the rest stays buffered), the close cause otherwise.
fn blocked_or(e: WsError) -> Step {
    match classify(e) {
        None => Ok(()),
        Some(c) => Err(c),
    }
}

/// `None` for would-block, else why the connection is finished.
pub(crate) fn classify(e: WsError) -> Option<CloseCause> {
    use tungstenite::error::ProtocolError;
    match e {
        WsError::Io(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        WsError::Io(e) if e.kind() == io::ErrorKind::Interrupted => None,
        WsError::ConnectionClosed | WsError::AlreadyClosed => Some(CloseCause::Remote),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Some(CloseCause::Remote),
        WsError::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            ) =>
        {
            Some(CloseCause::Remote)
        }
        WsError::Capacity(_) => Some(CloseCause::Oversized),
        WsError::Protocol(p) => Some(CloseCause::Protocol(p.to_string())),
        e => Some(CloseCause::Error(e.to_string())),
    }
}

/// Starts the server side of a connection (TLS if `tls`): reading the request head.
pub(crate) fn start_server(
    tcp: TcpStream,
    tls: Option<&Arc<ServerConfig>>,
) -> Result<Phase, String> {
    let stream = match tls {
        None => Stream::plain(tcp),
        Some(cfg) => {
            let c = rustls::ServerConnection::new(cfg.clone()).map_err(|e| e.to_string())?;
            Stream::server(rustls::StreamOwned::new(c, tcp))
        }
    };
    Ok(Phase::ServerHead {
        stream,
        head: Vec::new(),
    })
}
