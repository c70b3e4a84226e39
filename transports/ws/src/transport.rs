//! The event loop: listeners, dialing, connection table, timers and backpressure.

use std::collections::VecDeque;
use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use moneysocket_core::time::duration_millis;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::Bytes;

use crate::conn::{start_server, Conn, Handshake, Phase, ReadEnd};
use crate::dial::{parse_ws_url, DialError, WsUrl};
use crate::handoff::{Inbox, Moved, Router};
use crate::http::{self, HttpRefusal};
use crate::ids::IdMap;
use crate::limits::SharedLimits;
use crate::tls::{ClientConfig, ServerConfig};
use crate::{AcceptRefusal, CloseCause, ConnId, Event, Origin, SendError, TransportConfig};

/// Token kinds live above the 32-bit connection ids.
const LISTENER: usize = 1 << 33;
const USER: usize = 1 << 34;
/// Wakes the loop when a name resolution finished.
const WAKER: usize = 1 << 35;
/// Timer granularity (handshake, idle, ping, linger).
const SWEEP: Duration = Duration::from_millis(250);
/// Longest a failed connection (close code sent, or an HTTP error answered) drains its
/// input before it is dropped.
const DRAIN_LINGER: Duration = Duration::from_secs(1);
/// Bytes granted at a time from the partial-message budget.
const GRANT: usize = 16 * 1024;
/// Messages read from a connection on a fresh readiness event: a short first turn, so that
/// a connection with one message waiting is served before bulk senders get their full
/// turns (`read_budget`) from the retry list.
const FIRST_TURN: usize = 4;
/// Messages delivered from the retry list per `poll` in all; the rest keep their place for
/// the next `poll`. Bounds how long one `poll` takes however many bulk senders there are.
const RETRY_CAP: usize = 1024;
/// Refused connections on TLS listeners kept at once to answer them over TLS (beyond
/// that, a refusal is a bare close); each has [`REFUSAL_TIME`] for its handshake.
const MAX_REFUSING: usize = 64;
const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// `now + d`, saturating far in the future instead of overflowing on absurd settings.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// Cumulative transport counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// TCP connections accepted (before limits).
    pub accepted: u64,
    /// Accepts refused by `max_connections`.
    pub refused_max_connections: u64,
    /// Accepts refused by `max_per_ip`.
    pub refused_max_per_ip: u64,
    /// Requests that were not websocket upgrades, answered with an HTTP error (400, 405,
    /// 426, 431).
    pub bad_requests: u64,
    /// Accepted connections whose TLS or websocket handshake failed or timed out.
    pub handshake_failures: u64,
    /// Connections closed because of an oversized frame.
    pub closed_oversized: u64,
    /// Connections closed because their pending output passed the limit.
    pub closed_overflow: u64,
    /// Connections closed for idleness.
    pub closed_idle: u64,
    /// Connections closed for a websocket protocol violation (close code 1002).
    pub closed_protocol: u64,
    /// Connections closed because their incomplete message found the partial-message
    /// budget used up (close code 1009).
    pub closed_input_budget: u64,
    /// Times a source was paused because its destination's backlog passed high water.
    pub backpressure_pauses: u64,
    /// Binary frames received.
    pub frames_in: u64,
    /// Bytes of binary frames received.
    pub bytes_in: u64,
    /// Frames queued for sending.
    pub frames_out: u64,
    /// Bytes of frames queued for sending.
    pub bytes_out: u64,
    /// Accepted connections moved to another worker's transport by their first message
    /// (see [`Router`]).
    pub handed_off: u64,
    /// Connections received from another worker's transport.
    pub adopted: u64,
    /// Accepted connections under a router dropped because no binary message came within
    /// its first-message timeout.
    pub first_frame_timeouts: u64,
}

/// Time since the Unix epoch on the system clock (zero if the clock is set before 1970). The
/// one place std code of the workspace reads wall-clock time for protocol timestamps.
pub fn unix_time() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// [`unix_time`] in whole milliseconds: what `moneysocket_core::time::UnixClock::new` and the
/// `unix_offset_ms` settings take.
pub fn unix_time_ms() -> u64 {
    duration_millis(unix_time())
}

/// A dial waiting for its host name to resolve (on a short-lived thread).
struct Resolving {
    /// Tells this dial's answer from a stale one for a reused id.
    seq: u64,
    url: WsUrl,
    tls: Option<Arc<ClientConfig>>,
    /// The dial's handshake deadline (resolution included).
    deadline: Instant,
    user_paused: bool,
}

/// A resolver thread's answer: id, sequence number, first address or the reason.
type Resolved = (ConnId, u64, Result<SocketAddr, String>);

/// Resolves `host` (blocking: runs on a resolver thread).
fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolving {host}: no address"))
}

struct Listener {
    sock: TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<ServerConfig>>,
}

/// One mio event loop serving many websockets. See the crate documentation.
pub struct Transport {
    config: TransportConfig,
    ws: WebSocketConfig,
    poll: Poll,
    mio_events: Events,
    listeners: Vec<Option<Listener>>,
    conns: IdMap<Conn>,
    /// `max_connections`, `max_per_ip` and `partial_budget`, possibly shared with the other
    /// workers' transports.
    limits: Arc<SharedLimits>,
    next_id: u32,
    /// Connections with output to pump.
    dirty: Vec<ConnId>,
    /// Connections whose pump ran out of its round's budget (kept for its capacity).
    dirty_more: Vec<ConnId>,
    /// Connections with input left over (budget ran out, or resumed).
    again: Vec<ConnId>,
    /// The emptied `again` of the last poll, kept for its capacity.
    again_spare: Vec<ConnId>,
    /// Readiness of the last `mio` poll (kept for its capacity): token, readable, writable,
    /// read side closed or failed.
    ready: Vec<(Token, bool, bool, bool)>,
    /// Closes decided outside `poll` (overflow in `send`), reported by the next `poll`.
    deferred: Vec<(ConnId, CloseCause)>,
    next_sweep: Instant,
    /// The clock read once per `poll` round, after the wait (input times, idle timers).
    round: Instant,
    stats: TransportStats,
    /// Dials whose host name is being resolved.
    resolving: IdMap<Resolving>,
    /// Connections holding a grant from it, oldest first (with the grant's epoch; entries
    /// of finished grants are skipped).
    grants: VecDeque<(ConnId, u32)>,
    next_epoch: u32,
    /// Connections in the table only to be answered with a refusal (TLS listeners).
    refusing: usize,
    next_seq: u64,
    resolved_tx: mpsc::Sender<Resolved>,
    resolved_rx: mpsc::Receiver<Resolved>,
    waker: Arc<Waker>,
    /// Routes accepted connections to their worker (several loops in one process).
    router: Option<Router>,
    /// Connections moved here by other workers' transports (created by [`Transport::inbox`]).
    inbox: Option<(mpsc::Sender<Moved>, mpsc::Receiver<Moved>)>,
    /// Accepted connections waiting for the first message their router needs.
    unrouted: usize,
}

impl Transport {
    /// A transport with no listener and no connection.
    pub fn new(config: TransportConfig) -> io::Result<Self> {
        let limits = SharedLimits::new(&config);
        Self::with_limits(config, limits)
    }

    /// A transport whose `max_connections`, `max_per_ip` and `partial_budget` are counted
    /// in `limits`, together with every other transport given the same (the workers of
    /// one process; give them equal configurations).
    pub fn with_limits(config: TransportConfig, limits: Arc<SharedLimits>) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), Token(WAKER))?);
        let (resolved_tx, resolved_rx) = mpsc::channel();
        Ok(Transport {
            ws: config.websocket(),
            config,
            poll,
            mio_events: Events::with_capacity(1024),
            listeners: Vec::new(),
            conns: IdMap::default(),
            limits,
            next_id: 1,
            dirty: Vec::new(),
            dirty_more: Vec::new(),
            again: Vec::new(),
            again_spare: Vec::new(),
            ready: Vec::new(),
            deferred: Vec::new(),
            next_sweep: Instant::now() + SWEEP,
            round: Instant::now(),
            stats: TransportStats::default(),
            resolving: IdMap::default(),
            grants: VecDeque::new(),
            next_epoch: 0,
            refusing: 0,
            next_seq: 0,
            resolved_tx,
            resolved_rx,
            waker,
            router: None,
            inbox: None,
            unrouted: 0,
        })
    }

    /// Where other transports move connections to this one (see [`Router`]).
    pub fn inbox(&mut self) -> Inbox {
        let tx = match &self.inbox {
            Some((tx, _)) => tx.clone(),
            None => {
                let (tx, rx) = mpsc::channel();
                self.inbox = Some((tx.clone(), rx));
                tx
            }
        };
        Inbox {
            tx,
            waker: Arc::clone(&self.waker),
        }
    }

    /// Routes the connections accepted from now on by their first binary message (see
    /// [`Router`]); the transport then announces an accepted connection only with that
    /// message, or moves it to the worker that owns it.
    pub fn set_router(&mut self, router: Router) {
        self.router = Some(router);
    }

    /// The counters of `max_connections`, `max_per_ip` and `partial_budget`.
    pub fn limits(&self) -> &Arc<SharedLimits> {
        &self.limits
    }

    /// Accepted connections open and waiting for their first binary message (only under a
    /// router; they are not announced yet).
    pub fn awaiting_first_message(&self) -> usize {
        self.unrouted
    }

    /// The configuration.
    pub fn config(&self) -> &TransportConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    /// Connections in the table (resolving, handshaking and closing ones included, and
    /// those kept only to answer a refusal or to drain after a close code).
    pub fn len(&self) -> usize {
        self.conns.len() + self.resolving.len()
    }

    /// Whether there is no connection.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty() && self.resolving.is_empty()
    }

    /// Listens on `addr` (`ws`, or `wss` with `tls`). Returns the bound address (useful with
    /// port 0).
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<SocketAddr> {
        self.add_listener(TcpListener::bind(addr)?, tls)
    }

    /// Listens on `addr` with `SO_REUSEPORT`, so that the transports of several workers
    /// listen on one port and the kernel spreads new connections over them (each worker
    /// calls this with the same address; with port 0 the first one's bound address).
    /// Beware: any process of the same user may then bind the port as well.
    #[cfg(unix)]
    pub fn listen_reuse_port(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<SocketAddr> {
        use socket2::{Domain, Socket, Type};
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        sock.set_reuse_address(true)?;
        sock.set_reuse_port(true)?;
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        sock.listen(1024)?;
        self.add_listener(TcpListener::from_std(sock.into()), tls)
    }

    fn add_listener(
        &mut self,
        mut sock: TcpListener,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<SocketAddr> {
        let addr = sock.local_addr()?;
        if self.config.recv_buffer > 0 {
            // inherited by accepted sockets, and in effect for the window offered in the SYN-ACK
            socket2::SockRef::from(&sock).set_recv_buffer_size(self.config.recv_buffer)?;
        }
        let token = Token(LISTENER | self.listeners.len());
        self.poll
            .registry()
            .register(&mut sock, token, Interest::READABLE)?;
        self.listeners.push(Some(Listener { sock, addr, tls }));
        Ok(addr)
    }

    /// Closes every listener and drops the accepted connections that never opened (still in
    /// their TLS or websocket handshake, or answered with an HTTP error) and those already
    /// failed (draining after a close code): none of them is known to the caller. Open
    /// connections stay.
    pub fn stop_listening(&mut self) {
        for l in self.listeners.iter_mut() {
            if let Some(mut l) = l.take() {
                let _ = self.poll.registry().deregister(&mut l.sock);
            }
        }
        let unopened: Vec<ConnId> = self
            .conns
            .values()
            .filter(|c| {
                c.draining
                    || c.unrouted
                    || (matches!(c.origin, Origin::Accepted(_))
                        && !matches!(c.phase, Phase::Open(_)))
            })
            .map(|c| c.id)
            .collect();
        for id in unopened {
            self.remove(id, None, &mut Vec::new());
        }
    }

    /// Dials `url` (`ws://host[:port][/path][?query]` or `wss://…`, parsed by
    /// [`parse_ws_url`](crate::parse_ws_url); TLS with `tls`, required for `wss`). The `Host`
    /// header always carries the port. Never blocks: an IP address is connected at once, a
    /// host name is resolved on a short-lived thread and connected (first address) when the
    /// answer reaches the loop. The id is reported in [`Event::Opened`] once the handshake is
    /// done, or in [`Event::Closed`] with [`CloseCause::HandshakeFailed`] if resolution,
    /// connect or handshake fail or [`TransportConfig::handshake_timeout`] passes first.
    pub fn dial(&mut self, url: &str, tls: Option<Arc<ClientConfig>>) -> Result<ConnId, DialError> {
        let url = parse_ws_url(url)?;
        let tls = match (url.tls, tls) {
            (true, None) => return Err(DialError::TlsConfigMissing),
            (true, t) => t,
            (false, _) => None,
        };
        url.request().map_err(DialError::Request)?;
        let now = Instant::now();
        let deadline = later(now, self.config.handshake_timeout);
        let id = self.alloc_id();
        if let Ok(ip) = url.host.parse::<IpAddr>() {
            let addr = SocketAddr::new(ip, url.port);
            self.connect(id, addr, url, tls, deadline, false)?;
            return Ok(id);
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let (host, port) = (url.host.clone(), url.port);
        let tx = self.resolved_tx.clone();
        let waker = Arc::clone(&self.waker);
        std::thread::Builder::new()
            .name("ws-resolve".into())
            .spawn(move || {
                let r = resolve(&host, port);
                // the loop may be gone (or the dial closed): nobody to tell
                if tx.send((id, seq, r)).is_ok() {
                    let _ = waker.wake();
                }
            })
            .map_err(|e| DialError::Resolve(e.to_string()))?;
        self.resolving.insert(
            id,
            Resolving {
                seq,
                url,
                tls,
                deadline,
                user_paused: false,
            },
        );
        Ok(id)
    }

    /// Starts the TCP connect of dial `id` to `addr`.
    fn connect(
        &mut self,
        id: ConnId,
        addr: SocketAddr,
        url: WsUrl,
        tls: Option<Arc<ClientConfig>>,
        deadline: Instant,
        user_paused: bool,
    ) -> Result<(), DialError> {
        let mut tcp = TcpStream::connect(addr).map_err(|e| DialError::Connect {
            addr,
            error: e.to_string(),
        })?;
        self.poll
            .registry()
            .register(
                &mut tcp,
                Token(id.0 as usize),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| DialError::Register(e.to_string()))?;
        let mut c = Conn::new(
            id,
            Phase::Connecting { tcp, url, tls },
            addr,
            Origin::Dialed,
            Instant::now(),
            deadline,
        );
        c.announced = true;
        c.user_paused = user_paused;
        self.limits.dialed();
        self.conns.insert(id, c);
        Ok(())
    }

    /// Connects the dials whose names were resolved (answers of closed or timed-out dials are
    /// dropped); a failure is reported as [`CloseCause::HandshakeFailed`].
    fn take_resolved(&mut self, events: &mut Vec<Event>) {
        while let Ok((id, seq, answer)) = self.resolved_rx.try_recv() {
            if self.resolving.get(&id).is_none_or(|r| r.seq != seq) {
                continue;
            }
            let Some(r) = self.resolving.remove(&id) else {
                continue;
            };
            let host = r.url.host.clone();
            let started = answer.and_then(|addr| {
                self.connect(id, addr, r.url, r.tls, r.deadline, r.user_paused)
                    .map_err(|e| e.to_string())
            });
            if let Err(reason) = started {
                tracing::debug!(conn = id.0, "dial of {host} failed: {reason}");
                events.push(Event::Closed {
                    conn: id,
                    cause: CloseCause::HandshakeFailed(reason),
                });
            }
        }
    }

    /// Queues a binary frame on an open connection.
    pub fn send(&mut self, conn: ConnId, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.queue(conn, data.into()).map(|_| ())
    }

    /// [`Transport::send`], returning the connection's pending output afterwards.
    fn queue(&mut self, conn: ConnId, data: Bytes) -> Result<usize, SendError> {
        let max = self.config.max_pending;
        let compact_below = self.config.read_buffer;
        let c = self
            .conns
            .get_mut(&conn)
            .filter(|c| c.is_open())
            .ok_or(SendError::Unknown)?;
        self.stats.frames_out += 1;
        self.stats.bytes_out += data.len() as u64;
        let backlog = c.queue(data, compact_below);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(conn);
        }
        if backlog > max {
            self.stats.closed_overflow += 1;
            // drop it now; the event goes out with the next poll
            if std::mem::replace(&mut c.announced, false) {
                self.deferred.push((conn, CloseCause::Overflow));
            }
            self.remove(conn, None, &mut Vec::new());
            return Err(SendError::Overflow);
        }
        Ok(backlog)
    }

    /// Sends `data` on `to`, and pauses reading `from` while `to`'s pending output is above
    /// [`TransportConfig::high_water`] (it resumes below [`TransportConfig::low_water`] or
    /// when `to` goes away).
    pub fn forward(
        &mut self,
        from: ConnId,
        to: ConnId,
        data: impl Into<Bytes>,
    ) -> Result<(), SendError> {
        let backlog = self.queue(to, data.into())?;
        // The common case (output below high water) needs no second lookup.
        if backlog <= self.config.high_water || from == to {
            return Ok(());
        }
        let Some(dst) = self.conns.get_mut(&to) else {
            return Ok(());
        };
        if !dst.waiters.contains(&from) {
            dst.waiters.push(from);
            if let Some(src) = self.conns.get_mut(&from) {
                src.holds += 1;
                self.stats.backpressure_pauses += 1;
            }
        }
        Ok(())
    }

    /// Output queued on `conn` and not yet handed to the socket layer: payload bytes plus
    /// [`FRAME_OVERHEAD`](crate::FRAME_OVERHEAD) per frame (what `high_water` and
    /// `max_pending` are compared with).
    pub fn pending_output(&self, conn: ConnId) -> Option<usize> {
        match self.conns.get(&conn) {
            Some(c) => Some(c.out_bytes),
            None => self.resolving.contains_key(&conn).then_some(0),
        }
    }

    /// Closes `conn`: pending output is flushed, then a websocket close is sent, then the
    /// socket is dropped (after the peer's close reply or
    /// [`TransportConfig::close_linger`]). No [`Event::Closed`] follows. Unknown ids are
    /// ignored.
    pub fn close(&mut self, conn: ConnId) {
        let linger = self.config.close_linger;
        if self.resolving.remove(&conn).is_some() {
            return;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.announced = false;
        if !matches!(c.phase, Phase::Open(_)) || c.draining {
            self.remove(conn, None, &mut Vec::new());
            return;
        }
        if c.closing.is_none() {
            c.closing = Some(later(Instant::now(), linger));
        }
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(conn);
        }
    }

    /// Stops reading `conn` until [`Transport::resume_reading`].
    pub fn pause_reading(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.user_paused = true;
        } else if let Some(r) = self.resolving.get_mut(&conn) {
            r.user_paused = true;
        }
    }

    /// Resumes reading `conn` after [`Transport::pause_reading`].
    pub fn resume_reading(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.user_paused = false;
            if !c.reading_paused() {
                Self::retry(&mut self.again, c);
            }
        } else if let Some(r) = self.resolving.get_mut(&conn) {
            r.user_paused = false;
        }
    }

    /// The mio registry, to register the caller's own sources with [`Transport::user_token`].
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// The token for the caller's source number `n` (below 2^32); its readiness comes back
    /// as [`Event::User`].
    pub fn user_token(n: usize) -> Token {
        Token(USER | (n & 0xffff_ffff))
    }

    /// Sends pending output, waits for readiness up to `timeout` (`None` = until something
    /// happens; timers still wake it every 250 ms), and appends what happened to `events`.
    pub fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        for (conn, cause) in self.deferred.drain(..) {
            events.push(Event::Closed { conn, cause });
        }
        self.pump_dirty(events);
        let now = Instant::now();
        let until_sweep = self.next_sweep.saturating_duration_since(now);
        let mut wait = timeout.map_or(until_sweep, |t| t.min(until_sweep));
        if !self.again.is_empty() || !self.dirty.is_empty() || !events.is_empty() {
            wait = Duration::ZERO;
        }
        if let Err(e) = self.poll.poll(&mut self.mio_events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        self.round = Instant::now();
        // Reused buffers: no allocation per poll.
        let mut ready = std::mem::take(&mut self.ready);
        ready.extend(self.mio_events.iter().map(|e| {
            (
                e.token(),
                e.is_readable() || e.is_read_closed() || e.is_error(),
                e.is_writable() || e.is_write_closed() || e.is_error(),
                e.is_read_closed() || e.is_error(),
            )
        }));
        for (token, readable, writable, ending) in ready.drain(..) {
            let t = token.0;
            if t & USER != 0 {
                events.push(Event::User {
                    n: t & 0xffff_ffff,
                    readable,
                    writable,
                });
            } else if t & LISTENER != 0 {
                self.accept(t & 0xffff_ffff, events);
            } else if let Ok(id) = u32::try_from(t) {
                if readable {
                    if let Some(c) = self.conns.get_mut(&ConnId(id)) {
                        c.readiness(ending);
                    }
                }
                self.drive(ConnId(id), readable, writable, events, FIRST_TURN);
            }
        }
        self.ready = ready;
        self.take_resolved(events);
        self.take_moved(events);
        self.drive_again(events);
        let now = Instant::now();
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP;
            self.sweep(now, events);
            // accepts that failed (e.g. out of file descriptors) are not signalled again
            // by the edge-triggered listener: retry them here
            for idx in 0..self.listeners.len() {
                self.accept(idx, events);
            }
        }
        self.pump_dirty(events);
        Ok(())
    }

    /// Full read turns for the connections with input left, in order, until
    /// [`RETRY_CAP`] messages were delivered; the others stay first in line.
    fn drive_again(&mut self, events: &mut Vec<Event>) {
        let budget = self.config.read_budget.max(1);
        let spare = std::mem::take(&mut self.again_spare);
        let mut again = std::mem::replace(&mut self.again, spare);
        let start = events.len();
        let mut done = 0;
        for &id in again.iter() {
            if events.len() - start >= RETRY_CAP {
                break;
            }
            done += 1;
            if let Some(c) = self.conns.get_mut(&id) {
                c.in_again = false;
                self.drive(id, true, false, events, budget);
            }
        }
        if done < again.len() {
            // still flagged `in_again`: ahead of the retries scheduled meanwhile
            let mut fresh = std::mem::take(&mut self.again);
            again.drain(..done);
            again.append(&mut fresh);
            self.again = again;
            self.again_spare = fresh;
        } else {
            again.clear();
            self.again_spare = again;
        }
    }

    fn alloc_id(&mut self) -> ConnId {
        loop {
            let id = ConnId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.conns.contains_key(&id) && !self.resolving.contains_key(&id) {
                return id;
            }
        }
    }

    fn accept(&mut self, idx: usize, events: &mut Vec<Event>) {
        loop {
            let Some(Some(l)) = self.listeners.get(idx) else {
                return;
            };
            let (tcp, peer) = match l.sock.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // e.g. out of file descriptors: retried by the next sweep
                    tracing::warn!("accept: {e}");
                    return;
                }
            };
            let local = l.addr;
            let tls = l.tls.clone();
            self.stats.accepted += 1;
            let admitted = self.limits.admit(
                peer.ip(),
                self.config.max_connections,
                self.config.max_per_ip,
            );
            if let Err(reason) = admitted {
                let answer = match reason {
                    AcceptRefusal::MaxConnections => {
                        self.stats.refused_max_connections += 1;
                        &http::FULL
                    }
                    AcceptRefusal::MaxPerIp => {
                        self.stats.refused_max_per_ip += 1;
                        &http::PER_IP
                    }
                };
                events.push(Event::Refused { peer, reason });
                if tls.is_none() {
                    refuse(&tcp, *answer);
                } else if self.refusing < MAX_REFUSING {
                    // the answer needs the TLS handshake and the request head first
                    self.admit(tcp, peer, local, tls, Some(answer), events);
                }
                continue;
            }
            self.admit(tcp, peer, local, tls, None, events);
        }
    }

    /// Puts an accepted socket in the table (in its handshake), or, with `refusal`, only
    /// to answer it with that once its TLS handshake and request head are in. Without
    /// `refusal` the connection is already counted in the limits.
    fn admit(
        &mut self,
        mut tcp: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
        refusal: Option<&'static HttpRefusal>,
        events: &mut Vec<Event>,
    ) {
        let _ = tcp.set_nodelay(true);
        self.set_buffers(&tcp);
        let id = self.alloc_id();
        let counted = refusal.is_none().then(|| peer.ip());
        if let Err(e) = self.poll.registry().register(
            &mut tcp,
            Token(id.0 as usize),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!("register: {e}");
            if counted.is_some() {
                self.limits.release(counted);
            }
            return;
        }
        let now = Instant::now();
        let phase = match start_server(tcp, tls.as_ref()) {
            Ok(p) => p,
            Err(e) => {
                self.stats.handshake_failures += 1;
                tracing::debug!("handshake failed at once: {e}");
                if counted.is_some() {
                    self.limits.release(counted);
                }
                return;
            }
        };
        let deadline = match refusal {
            Some(_) => REFUSAL_TIME.min(self.config.handshake_timeout),
            None => self.config.handshake_timeout,
        };
        let mut c = Conn::new(
            id,
            phase,
            peer,
            Origin::Accepted(local),
            now,
            later(now, deadline),
        );
        if refusal.is_some() {
            c.refusal = refusal;
            self.refusing += 1;
        } else {
            c.ip = counted;
            if self.router.is_some() {
                c.unrouted = true;
                self.unrouted += 1;
            }
        }
        self.conns.insert(id, c);
        // the request is often there already
        self.drive(id, true, true, events, FIRST_TURN);
    }

    /// Applies the configured kernel buffer sizes to an accepted socket (best effort).
    fn set_buffers(&self, tcp: &TcpStream) {
        let sock = socket2::SockRef::from(tcp);
        if self.config.send_buffer > 0 {
            let _ = sock.set_send_buffer_size(self.config.send_buffer);
        }
        if self.config.recv_buffer > 0 {
            let _ = sock.set_recv_buffer_size(self.config.recv_buffer);
        }
    }

    fn opened(&mut self, id: ConnId, events: &mut Vec<Event>) {
        let base = self.config.partial_base;
        if let Some(c) = self.conns.get_mut(&id) {
            if let Some(s) = c.stream_mut() {
                s.held = 0;
                s.limit = base;
            }
            c.read_ready = true;
            c.last_rx = Instant::now();
            match &self.router {
                // announced with its first message, here or by the worker that owns it
                Some(r) if c.unrouted => {
                    c.hs_deadline = later(c.last_rx, r.first_frame_timeout);
                }
                _ => {
                    c.announced = true;
                    events.push(Event::Opened {
                        conn: id,
                        peer: c.peer,
                        origin: c.origin,
                    });
                }
            }
            Self::retry(&mut self.again, c);
        }
    }

    /// The first binary message of an unrouted connection arrived: announces it here, or
    /// moves it to the worker that owns it.
    fn route(&mut self, id: ConnId, first: Bytes, events: &mut Vec<Event>) {
        let owner = self.router.as_mut().and_then(|r| r.owner(&first));
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.unrouted = false;
        self.unrouted -= 1;
        match owner {
            None => announce_with(c, first, events),
            Some(worker) => self.hand_off(id, worker, first),
        }
    }

    /// Moves connection `id` (open, unannounced, just routed) to `worker`'s transport.
    fn hand_off(&mut self, id: ConnId, worker: usize, first: Bytes) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        // a grant stays with the budget; the next loop starts at the base limit
        self.limits.give_partial(std::mem::take(&mut c.granted));
        let base = self.config.partial_base;
        if let Some(s) = c.stream_mut() {
            s.limit = s.held.max(base);
            let _ = self.poll.registry().deregister(s.tcp_mut());
        }
        // entries left in `dirty`, `again` and the grant queue no longer find it
        c.dirty = false;
        c.in_again = false;
        self.stats.handed_off += 1;
        let Some(inbox) = self.router.as_ref().and_then(|r| r.inboxes.get(worker)) else {
            self.limits.release(c.ip);
            return;
        };
        match inbox.tx.send(Moved { conn: c, first }) {
            Ok(()) => {
                let _ = inbox.waker.wake();
            }
            // that worker is gone (shutting down): the connection is dropped
            Err(mpsc::SendError(m)) => self.limits.release(m.conn.ip),
        }
    }

    /// Takes in the connections other workers moved here.
    fn take_moved(&mut self, events: &mut Vec<Event>) {
        loop {
            let Some(Ok(m)) = self.inbox.as_ref().map(|(_, rx)| rx.try_recv()) else {
                return;
            };
            self.adopt(m, events);
        }
    }

    /// Registers a moved connection here and announces it with its first message.
    fn adopt(&mut self, m: Moved, events: &mut Vec<Event>) {
        let Moved { mut conn, first } = m;
        let id = self.alloc_id();
        conn.id = id;
        let registered = match conn.stream_mut() {
            Some(s) => self
                .poll
                .registry()
                .register(
                    s.tcp_mut(),
                    Token(id.0 as usize),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| e.to_string()),
            None => Err("no stream".into()),
        };
        if let Err(e) = registered {
            tracing::warn!("register a moved connection: {e}");
            self.limits.release(conn.ip);
            return;
        }
        self.stats.adopted += 1;
        // its old loop may have seen the socket drained: read it again here
        conn.readiness(false);
        conn.read_ready = true;
        announce_with(&mut conn, first, events);
        Self::retry(&mut self.again, &mut conn);
        if conn.unflushed || conn.has_output() {
            conn.dirty = true;
            self.dirty.push(id);
        }
        self.conns.insert(id, conn);
    }

    /// Reacts to readiness of one connection.
    /// Reads at most `budget` messages.
    fn drive(
        &mut self,
        id: ConnId,
        readable: bool,
        writable: bool,
        events: &mut Vec<Event>,
        budget: usize,
    ) {
        let ws = self.ws;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if readable {
            c.read_ready = true;
        }
        if c.draining {
            if c.read_ready {
                match c.discard() {
                    Ok(false) if c.read_ready => Self::retry(&mut self.again, c),
                    Ok(false) => {}
                    Ok(true) | Err(_) => {
                        self.remove(id, None, events);
                        return;
                    }
                }
            }
            if writable && !c.dirty {
                c.dirty = true;
                self.dirty.push(id);
            }
            return;
        }
        if !matches!(c.phase, Phase::Open(_)) {
            match c.advance_handshake(writable, ws) {
                Ok(Handshake::Opened) => self.opened(id, events),
                Ok(Handshake::Pending) => {}
                Ok(Handshake::Answered(status)) => {
                    if c.refusal.is_none() {
                        tracing::debug!(conn = id.0, "not a websocket upgrade: answered {status}");
                        self.stats.bad_requests += 1;
                    }
                    c.draining = true;
                    c.closing = Some(later(Instant::now(), DRAIN_LINGER));
                    Self::retry(&mut self.again, c);
                }
                Err(cause) => {
                    tracing::debug!(conn = id.0, "handshake failed: {cause}");
                    self.remove(id, Some(cause), events);
                }
            }
            return;
        }
        let now = self.round;
        if c.read_ready && (!c.reading_paused() || c.closing.is_some()) {
            // an unrouted connection reads one message at a time until its first one
            let unrouted = c.unrouted;
            let budget = if unrouted { 1 } else { budget };
            let from = events.len();
            match c.read(budget, now, events, &mut self.stats, &self.limits) {
                Ok(ReadEnd::More) => Self::retry(&mut self.again, c),
                Ok(ReadEnd::Starved) => self.feed(id, events),
                Ok(ReadEnd::Drained) => {}
                Err(cause @ CloseCause::Oversized) => {
                    self.fail(id, cause, CloseCode::Size, "message too large", events);
                }
                Err(cause @ CloseCause::Protocol(_)) => {
                    self.fail(id, cause, CloseCode::Protocol, "protocol error", events);
                }
                Err(cause) => {
                    self.remove(id, Some(cause), events);
                    return;
                }
            }
            // its first message, if it came (a violation may have announced and closed it)
            if unrouted
                && events.len() > from
                && matches!(events.last(), Some(Event::Frame { conn, .. }) if *conn == id)
            {
                if let Some(Event::Frame { data, .. }) = events.pop() {
                    self.route(id, data, events);
                }
            }
        }
        if let Some(c) = self.conns.get_mut(&id) {
            // writable readiness comes with every readable event: pump only a connection
            // with something to write
            if (c.unflushed || (writable && c.has_output())) && !c.dirty {
                c.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// Closes `id` with a close `code` because of `cause`: the caller gets
    /// [`Event::Closed`] now, the close frame goes out, and the connection discards its
    /// input until the peer hangs up or [`DRAIN_LINGER`] passes.
    fn fail(
        &mut self,
        id: ConnId,
        cause: CloseCause,
        code: CloseCode,
        reason: &'static str,
        events: &mut Vec<Event>,
    ) {
        let linger = self.config.close_linger.min(DRAIN_LINGER);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match cause {
            CloseCause::Oversized => self.stats.closed_oversized += 1,
            CloseCause::Protocol(_) => self.stats.closed_protocol += 1,
            CloseCause::InputBudget => self.stats.closed_input_budget += 1,
            _ => {}
        }
        tracing::debug!(conn = id.0, "closing with {}: {cause}", u16::from(code));
        if c.unrouted {
            // a violation before the first message: announced here and closed, as without a
            // router, so that the caller sees (and counts) it
            c.unrouted = false;
            self.unrouted -= 1;
            c.announced = true;
            events.push(Event::Opened {
                conn: id,
                peer: c.peer,
                origin: c.origin,
            });
        }
        if std::mem::replace(&mut c.announced, false) && c.closing.is_none() {
            events.push(Event::Closed { conn: id, cause });
        }
        self.limits.give_partial(std::mem::take(&mut c.granted));
        c.fail(code, reason);
        c.closing = Some(later(Instant::now(), linger));
        Self::retry(&mut self.again, c);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
        for w in std::mem::take(&mut c.waiters) {
            self.release(w);
        }
    }

    /// `id`'s incomplete message needs more than its input limit: grants it more from the
    /// partial-message budget, closing the connections whose incomplete messages have
    /// waited longest while the budget is used up (`id` itself if it is the oldest).
    fn feed(&mut self, id: ConnId, events: &mut Vec<Event>) {
        let grant = GRANT.min(self.config.partial_budget).max(1);
        loop {
            if self.conns.contains_key(&id) && self.limits.take_partial(grant) {
                let Some(c) = self.conns.get_mut(&id) else {
                    return;
                };
                if c.granted == 0 {
                    self.next_epoch = self.next_epoch.wrapping_add(1);
                    c.grant_epoch = self.next_epoch;
                    self.grants.push_back((id, self.next_epoch));
                }
                c.granted += grant;
                if let Some(s) = c.stream_mut() {
                    s.limit = s.limit.saturating_add(grant);
                }
                Self::retry(&mut self.again, c);
                self.compact_grants();
                return;
            }
            let victim = self.oldest_grant().unwrap_or(id);
            self.fail(
                victim,
                CloseCause::InputBudget,
                CloseCode::Size,
                "incomplete message over the input budget",
                events,
            );
            if victim == id {
                return;
            }
        }
    }

    /// Takes the connection holding the oldest live grant off the grant queue.
    fn oldest_grant(&mut self) -> Option<ConnId> {
        while let Some((id, epoch)) = self.grants.pop_front() {
            if self.live_grant(id, epoch) {
                return Some(id);
            }
        }
        None
    }

    fn live_grant(&self, id: ConnId, epoch: u32) -> bool {
        self.conns
            .get(&id)
            .is_some_and(|c| c.granted > 0 && c.grant_epoch == epoch && !c.draining)
    }

    /// Drops finished grants from the queue once they outnumber the connections.
    fn compact_grants(&mut self) {
        if self.grants.len() > 2 * self.conns.len() + 64 {
            let conns = &self.conns;
            self.grants.retain(|&(id, epoch)| {
                conns
                    .get(&id)
                    .is_some_and(|c| c.granted > 0 && c.grant_epoch == epoch)
            });
        }
    }

    /// Pumps output of every dirty connection, in the order they got output (frames read
    /// on fresh readiness, forwarded first, leave first); releases paused sources below low
    /// water.
    fn pump_dirty(&mut self, events: &mut Vec<Event>) {
        let low = self.config.low_water;
        let mut list = std::mem::take(&mut self.dirty);
        let mut more = std::mem::take(&mut self.dirty_more);
        for &id in list.iter() {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            c.dirty = false;
            let r = c.pump_write();
            let release = c.out_bytes <= low && !c.waiters.is_empty();
            match r {
                Err(cause) => {
                    self.remove(id, Some(cause), events);
                    continue;
                }
                Ok(true) => {
                    c.dirty = true;
                    more.push(id);
                }
                Ok(false) => {}
            }
            if release {
                let waiters = std::mem::take(&mut c.waiters);
                for w in waiters {
                    self.release(w);
                }
            }
        }
        // the rest of their output goes out in the next round
        list.clear();
        list.append(&mut more);
        list.append(&mut self.dirty);
        self.dirty = list;
        self.dirty_more = more;
    }

    /// Schedules another read round for `c` in the next `poll` (once).
    fn retry(again: &mut Vec<ConnId>, c: &mut Conn) {
        if !c.in_again {
            c.in_again = true;
            again.push(c.id);
        }
    }

    fn release(&mut self, src: ConnId) {
        if let Some(s) = self.conns.get_mut(&src) {
            s.holds = s.holds.saturating_sub(1);
            if !s.reading_paused() {
                Self::retry(&mut self.again, s);
            }
        }
    }

    /// Drops a connection; emits `Closed` if the caller knows it and `cause` is given.
    fn remove(&mut self, id: ConnId, cause: Option<CloseCause>, events: &mut Vec<Event>) {
        let Some(mut c) = self.conns.remove(&id) else {
            return;
        };
        self.limits.give_partial(std::mem::take(&mut c.granted));
        if c.refusal.is_some() {
            self.refusing -= 1;
        } else {
            self.limits.release(c.ip);
        }
        if c.unrouted {
            self.unrouted -= 1;
        }
        // Accepted connections that never opened (dials are announced from the start).
        if cause.is_some()
            && !c.announced
            && c.refusal.is_none()
            && !matches!(c.phase, Phase::Open(_) | Phase::Draining(_))
        {
            self.stats.handshake_failures += 1;
        }
        for w in std::mem::take(&mut c.waiters) {
            self.release(w);
        }
        if let Phase::Connecting { tcp, .. } = &mut c.phase {
            let _ = self.poll.registry().deregister(tcp);
        }
        if c.announced && c.closing.is_none() {
            if let Some(cause) = cause {
                events.push(Event::Closed { conn: id, cause });
            }
        }
        // dropping closes the socket (and removes it from the poll set)
    }

    /// Timers: handshake deadline, idle close, keepalive ping, close linger.
    fn sweep(&mut self, now: Instant, events: &mut Vec<Event>) {
        let mut expired: Vec<(ConnId, Option<CloseCause>)> = Vec::new();
        let mut idle: Vec<ConnId> = Vec::new();
        for (id, c) in self.conns.iter_mut() {
            if let Some(deadline) = c.closing {
                if now >= deadline {
                    expired.push((*id, None));
                }
                continue;
            }
            if !matches!(c.phase, Phase::Open(_)) {
                if now >= c.hs_deadline {
                    expired.push((*id, Some(CloseCause::HandshakeFailed("timeout".into()))));
                }
                continue;
            }
            if c.unrouted {
                if now >= c.hs_deadline {
                    self.stats.first_frame_timeouts += 1;
                    expired.push((*id, None));
                }
                continue;
            }
            if let Some(s) = c.stream_mut() {
                s.trim();
            }
            let quiet = now.saturating_duration_since(c.last_rx);
            if let Some(t) = self.config.idle_timeout {
                if quiet >= t {
                    idle.push(*id);
                    continue;
                }
            }
            if let Some(p) = self.config.ping_interval {
                if quiet >= p && now.saturating_duration_since(c.last_ping) >= p {
                    c.ping(now);
                    if !c.dirty {
                        c.dirty = true;
                        self.dirty.push(*id);
                    }
                }
            }
        }
        for (id, cause) in expired {
            self.remove(id, cause, events);
        }
        self.resolving.retain(|&conn, r| {
            let alive = now < r.deadline;
            if !alive {
                events.push(Event::Closed {
                    conn,
                    cause: CloseCause::HandshakeFailed(format!("timeout resolving {}", r.url.host)),
                });
            }
            alive
        });
        for id in idle {
            self.stats.closed_idle += 1;
            if let Some(c) = self.conns.get(&id) {
                if c.announced {
                    events.push(Event::Closed {
                        conn: id,
                        cause: CloseCause::Idle,
                    });
                }
            }
            self.close(id);
        }
    }
}

/// Announces a routed connection with its first message: `Opened`, then the message.
fn announce_with(c: &mut Conn, first: Bytes, events: &mut Vec<Event>) {
    c.announced = true;
    events.push(Event::Opened {
        conn: c.id,
        peer: c.peer,
        origin: c.origin,
    });
    events.push(Event::Frame {
        conn: c.id,
        data: first,
    });
}

/// Answers a refused accept with an HTTP error and closes it: the response and a FIN go out
/// at once (a fresh socket's buffer takes them), and whatever the client already sent is
/// read and dropped first so that the close does not turn into a reset.
fn refuse(tcp: &TcpStream, answer: HttpRefusal) {
    let mut scratch = [0u8; 2048];
    for _ in 0..4 {
        match (&*tcp).read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let _ = (&*tcp).write(&answer.response());
    let _ = tcp.shutdown(std::net::Shutdown::Write);
}
