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
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, Error as WsError, Message, WebSocket};

use crate::dial::WsUrl;
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
    /// Accepted: TLS (if any) and websocket handshake in progress.
    ServerHs(MidHandshake<ServerHandshake<Stream, NoCallback>>),
    /// Dialed: TLS (if any) and websocket handshake in progress.
    ClientHs(MidHandshake<ClientHandshake<Stream>>),
    /// Websocket open.
    Open(Box<WebSocket<Stream>>),
    /// Transient while a handshake step owns the state, or after a failure.
    Gone,
}

/// Payload bytes delivered from one connection per readiness round.
pub(crate) const READ_BYTES_BUDGET: usize = 64 * 1024;

/// A step's verdict.
pub(crate) type Step = Result<(), CloseCause>;

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
    /// In the dirty list (has output to pump).
    pub dirty: bool,
    /// In the retry-read list.
    pub in_again: bool,
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
            dirty: false,
            in_again: false,
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

    /// Advances a handshake. Returns `Ok(true)` when the websocket just opened.
    pub(crate) fn advance_handshake(
        &mut self,
        writable: bool,
        ws: WebSocketConfig,
    ) -> Result<bool, CloseCause> {
        let (phase, opened) = match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Connecting { tcp, url, tls } => {
                if !writable {
                    (Phase::Connecting { tcp, url, tls }, false)
                } else {
                    match self.connected(tcp, url, tls, ws)? {
                        Some(p) => {
                            let open = matches!(p, Phase::Open(_));
                            (p, open)
                        }
                        None => return Ok(false), // still connecting: phase restored
                    }
                }
            }
            Phase::ServerHs(m) => match m.handshake() {
                Ok(w) => (Phase::Open(Box::new(w)), true),
                Err(HandshakeError::Interrupted(m)) => (Phase::ServerHs(m), false),
                Err(HandshakeError::Failure(e)) => {
                    return Err(CloseCause::HandshakeFailed(e.to_string()))
                }
            },
            Phase::ClientHs(m) => client_step(m.handshake())?,
            p @ Phase::Open(_) => (p, false),
            Phase::Gone => return Err(CloseCause::Error("connection gone".into())),
        };
        self.phase = phase;
        Ok(opened)
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
            None => Stream::Plain(tcp),
            Some(cfg) => {
                let name = ServerName::try_from(url.host.clone())
                    .map_err(|e| CloseCause::HandshakeFailed(format!("server name: {e}")))?;
                let c = rustls::ClientConnection::new(cfg, name)
                    .map_err(|e| CloseCause::HandshakeFailed(format!("tls: {e}")))?;
                Stream::Client(Box::new(rustls::StreamOwned::new(c, tcp)))
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

    /// Reads up to `budget` messages or until [`READ_BYTES_BUDGET`] payload bytes were
    /// delivered (so a paused source overshoots the high-water mark by a bounded amount).
    /// Binary frames become events unless closing. Returns `Ok(true)` if the budget ran out
    /// with input possibly left.
    pub(crate) fn read(
        &mut self,
        budget: usize,
        now: Instant,
        events: &mut Vec<Event>,
        stats: &mut TransportStats,
    ) -> Result<bool, CloseCause> {
        let Phase::Open(ws) = &mut self.phase else {
            return Ok(false);
        };
        let mut bytes = 0usize;
        for _ in 0..budget {
            if bytes >= READ_BYTES_BUDGET {
                return Ok(true);
            }
            match ws.read() {
                Ok(msg) => {
                    self.last_rx = now;
                    match msg {
                        Message::Binary(data) => {
                            bytes += data.len();
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
                        None => {
                            self.read_ready = false;
                            Ok(false)
                        }
                        Some(c) => Err(c),
                    }
                }
            }
        }
        Ok(true)
    }

    /// Queues `data`. Returns the new backlog.
    pub(crate) fn queue(&mut self, data: Bytes) -> usize {
        self.out_bytes += data.len();
        self.out.push_back(data);
        self.out_bytes
    }

    /// Moves queued frames into the websocket and flushes as far as the socket allows;
    /// sends the close frame once the queue is empty when closing.
    pub(crate) fn pump_write(&mut self) -> Step {
        let Phase::Open(ws) = &mut self.phase else {
            return Ok(());
        };
        loop {
            if self.unflushed {
                match ws.flush() {
                    Ok(()) => self.unflushed = false,
                    Err(e) => return blocked_or(e),
                }
            }
            if self.out.is_empty() {
                if self.closing.is_some() && !self.close_sent {
                    self.close_sent = true;
                    self.unflushed = true;
                    if let Err(e) = ws.close(None) {
                        return blocked_or(e);
                    }
                    self.unflushed = false;
                }
                return Ok(());
            }
            while let Some(f) = self.out.pop_front() {
                self.out_bytes -= f.len();
                match ws.write(Message::Binary(f)) {
                    Ok(()) => self.unflushed = true,
                    Err(WsError::WriteBufferFull(m)) => {
                        if let Message::Binary(b) = *m {
                            self.out_bytes += b.len();
                            self.out.push_front(b);
                        }
                        break;
                    }
                    Err(e) => {
                        self.unflushed = true;
                        return blocked_or(e);
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
fn client_step(r: ClientResult) -> Result<(Phase, bool), CloseCause> {
    match r {
        Ok((w, _)) => Ok((Phase::Open(Box::new(w)), true)),
        Err(HandshakeError::Interrupted(m)) => Ok((Phase::ClientHs(m), false)),
        Err(HandshakeError::Failure(e)) => Err(CloseCause::HandshakeFailed(e.to_string())),
    }
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
        e => Some(CloseCause::Error(e.to_string())),
    }
}

/// Starts the server side of a connection (TLS if `tls`).
pub(crate) fn start_server(
    tcp: TcpStream,
    tls: Option<&Arc<ServerConfig>>,
    ws: WebSocketConfig,
) -> Result<Phase, String> {
    let stream = match tls {
        None => Stream::Plain(tcp),
        Some(cfg) => {
            let c = rustls::ServerConnection::new(cfg.clone()).map_err(|e| e.to_string())?;
            Stream::Server(Box::new(rustls::StreamOwned::new(c, tcp)))
        }
    };
    match tungstenite::accept_with_config(stream, Some(ws)) {
        Ok(w) => Ok(Phase::Open(Box::new(w))),
        Err(HandshakeError::Interrupted(m)) => Ok(Phase::ServerHs(m)),
        Err(HandshakeError::Failure(e)) => Err(e.to_string()),
    }
}
