//! The frame I/O the driver talks to: connections that carry whole frames, opened by dialing
//! an address or by a remote peer, and a way for other threads to wake the loop.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

use moneysocket_core::ConnId;
use moneysocket_ws::tls::{ClientConfig, ServerConfig};
use moneysocket_ws::{CloseCause, Event, Origin, Transport, TransportConfig};

/// Why a connection failed or a dial was refused, as the frame I/O reports it (downcast to
/// the I/O's own error type: for [`WsIo`], [`moneysocket_ws::DialError`] or
/// [`ConnectionClosed`]).
pub type IoError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Something that happened in the frame I/O.
#[derive(Debug, Clone)]
pub enum IoEvent<F> {
    /// A connection is open: one [`FrameIo::dial`] returned, or one a remote peer opened
    /// (accepted on a listener, a new transport on a serial link).
    Opened(ConnId),
    /// One whole frame arrived on a connection.
    Frame(ConnId, F),
    /// A connection ended without the driver asking (a dial that failed included), with the
    /// reason if the I/O knows one.
    Closed(ConnId, Option<IoError>),
    /// A [`FrameIo::waker`] was woken.
    Woken,
    /// A source the caller registered with the I/O itself (for [`WsIo`]: in the transport's
    /// mio registry with [`Transport::user_token`]`(n)`) is ready. The driver passes it on as
    /// [`DriverEvent::User`](crate::DriverEvent::User).
    User {
        /// The caller's source number.
        n: usize,
        /// Readable.
        readable: bool,
        /// Writable.
        writable: bool,
    },
    /// A remote peer's connection was refused at once because of a limit (it never opened;
    /// the I/O counts these). Passed on as [`DriverEvent::Refused`](crate::DriverEvent::Refused).
    Refused {
        /// The remote address, if the I/O has one.
        peer: Option<SocketAddr>,
        /// Which limit (a short label, e.g. `max_per_ip`).
        reason: &'static str,
    },
}

/// Frames in, frames out: what the driver needs from a transport. Implemented by [`WsIo`]
/// (websockets); a TCP or serial bridge implements the same five calls.
///
/// Contract: every connection id the I/O reports as [`IoEvent::Opened`] or returns from
/// [`dial`](Self::dial) ends with exactly one [`IoEvent::Closed`], unless the driver closed
/// it itself with [`close`](Self::close) (no event then). Sending on a connection that is
/// gone is silently dropped (its `Closed` comes, or came, as an event).
pub trait FrameIo {
    /// A received frame (cheap to clone: the driver keeps it to forward it unchanged).
    type Frame: AsRef<[u8]> + Clone;

    /// Waits up to `timeout` (`None`: until something happens) and appends what happened.
    fn poll_io(
        &mut self,
        events: &mut Vec<IoEvent<Self::Frame>>,
        timeout: Option<Duration>,
    ) -> io::Result<()>;

    /// Starts a connection to `address` (for websockets a `ws://` or `wss://` URL) without
    /// blocking; [`IoEvent::Opened`] or [`IoEvent::Closed`] follows. An I/O that cannot dial
    /// returns an error.
    fn dial(&mut self, address: &str) -> Result<ConnId, IoError>;

    /// Sends one frame on `conn`.
    fn send(&mut self, conn: ConnId, frame: Vec<u8>);

    /// Sends a frame received on `from` unchanged on `to` (relaying; the I/O may apply
    /// backpressure to `from`).
    fn forward(&mut self, from: ConnId, to: ConnId, frame: Self::Frame);

    /// Closes `conn` (after flushing what was sent); no [`IoEvent::Closed`] follows.
    fn close(&mut self, conn: ConnId);

    /// A handle that ends a [`poll_io`](Self::poll_io) early from any thread (it then reports
    /// [`IoEvent::Woken`]). Called once by the driver.
    fn waker(&mut self) -> io::Result<Waker>;

    /// The remote address of `conn`, if the I/O knows it. The driver asks for connections
    /// reported [`IoEvent::Opened`] by the last [`poll_io`](Self::poll_io) that it did not
    /// dial (accepted ones). The default knows none.
    fn peer_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        let _ = conn;
        None
    }
}

/// A websocket connection ended: the transport's cause, as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionClosed(pub CloseCause);

impl std::fmt::Display for ConnectionClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connection closed: {}", self.0)
    }
}

impl std::error::Error for ConnectionClosed {}

/// The user-source number of the wake socket in the transport's mio registry (the caller's
/// own sources take other numbers: [`IoEvent::User`]).
pub const WAKE_SOURCE: usize = 0xffff_fffe;

/// [`FrameIo`] over the websocket [`Transport`], plus the client TLS configuration its dials
/// use (`wss://`; the webpki roots unless set).
pub struct WsIo {
    transport: Transport,
    client_tls: Option<Arc<ClientConfig>>,
    events: Vec<Event>,
    wake: Option<WakeSocket>,
    /// Remote addresses of the connections opened in the last `poll_io` (for `peer_addr`).
    opened: Vec<(ConnId, SocketAddr)>,
}

/// Wakes the mio loop with a datagram on a loopback UDP socket registered as a user source
/// (the transport keeps the one `mio::Waker` its `Poll` may have for itself).
struct WakeSocket {
    rx: mio::net::UdpSocket,
    flag: Arc<WakeFlag>,
}

/// Empties the wake socket, then clears the flag, in that order: a wake that comes in
/// between (`between`, for tests) finds the flag still set and sends nothing, but its job
/// result is collected in this round anyway; the other order would swallow that wake's
/// datagram and leave the flag set with nothing in flight, silencing every later wake.
fn take_wakes(w: &WakeSocket, between: impl FnOnce()) {
    let mut b = [0u8; 8];
    while w.rx.recv(&mut b).is_ok() {}
    between();
    w.flag.pending.store(false, Ordering::Release);
}

struct WakeFlag {
    pending: AtomicBool,
    tx: UdpSocket,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // one datagram per batch of wakes; the loop clears the flag after it drains
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(&[1]);
        }
    }
}

impl WsIo {
    /// A transport with these limits, no listener.
    pub fn new(config: TransportConfig) -> io::Result<Self> {
        Ok(Self::from_transport(Transport::new(config)?))
    }

    /// Wraps an existing transport.
    pub fn from_transport(transport: Transport) -> Self {
        WsIo {
            transport,
            client_tls: None,
            events: Vec::new(),
            wake: None,
            opened: Vec::new(),
        }
    }

    /// Sets the TLS client configuration of `wss://` dials (default: the webpki roots).
    pub fn set_client_tls(&mut self, tls: Arc<ClientConfig>) {
        self.client_tls = Some(tls);
    }

    /// Listens on `addr` (`ws`, or `wss` with `tls`); returns the bound address.
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<SocketAddr> {
        self.transport.listen(addr, tls)
    }

    /// The transport (counters, limits).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The transport, to call it directly (e.g. `stop_listening`, or to register the
    /// caller's own mio sources with [`Transport::user_token`]: any number but
    /// [`WAKE_SOURCE`]). Do not close or send on connections the driver's host runs (a
    /// relay shutting down may: it closes them all).
    pub fn transport_mut(&mut self) -> &mut Transport {
        &mut self.transport
    }
}

fn is_wss(url: &str) -> bool {
    url.get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("wss://"))
}

impl FrameIo for WsIo {
    type Frame = moneysocket_ws::Bytes;

    fn poll_io(
        &mut self,
        events: &mut Vec<IoEvent<Self::Frame>>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.transport.poll(&mut self.events, timeout)?;
        self.opened.clear();
        for ev in self.events.drain(..) {
            match ev {
                Event::Opened { conn, peer, origin } => {
                    if matches!(origin, Origin::Accepted(_)) {
                        self.opened.push((conn, peer));
                    }
                    events.push(IoEvent::Opened(conn))
                }
                Event::Frame { conn, data } => events.push(IoEvent::Frame(conn, data)),
                Event::Closed { conn, cause } => {
                    let cause: IoError = Arc::new(ConnectionClosed(cause));
                    events.push(IoEvent::Closed(conn, Some(cause)))
                }
                Event::User { n, .. } if n == WAKE_SOURCE => {
                    if let Some(w) = &self.wake {
                        take_wakes(w, || {});
                    }
                    events.push(IoEvent::Woken);
                }
                Event::User {
                    n,
                    readable,
                    writable,
                } => events.push(IoEvent::User {
                    n,
                    readable,
                    writable,
                }),
                // also counted in the transport's stats
                Event::Refused { peer, reason } => events.push(IoEvent::Refused {
                    peer: Some(peer),
                    reason: reason.label(),
                }),
                // a newer transport's event this driver does not know
                _ => {}
            }
        }
        Ok(())
    }

    fn dial(&mut self, address: &str) -> Result<ConnId, IoError> {
        if is_wss(address) && self.client_tls.is_none() {
            let tls = moneysocket_ws::tls::client_config(None)
                .map_err(|_| Arc::new(moneysocket_ws::DialError::TlsConfigMissing) as IoError)?;
            self.client_tls = Some(tls);
        }
        self.transport
            .dial(address, self.client_tls.clone())
            .map_err(|e| Arc::new(e) as IoError)
    }

    fn send(&mut self, conn: ConnId, frame: Vec<u8>) {
        // a refused send is followed by (or followed) a Closed event
        let _ = self.transport.send(conn, frame);
    }

    fn forward(&mut self, from: ConnId, to: ConnId, frame: Self::Frame) {
        let _ = self.transport.forward(from, to, frame);
    }

    fn close(&mut self, conn: ConnId) {
        self.transport.close(conn)
    }

    fn peer_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        self.opened
            .iter()
            .find(|&&(c, _)| c == conn)
            .map(|&(_, peer)| peer)
    }

    fn waker(&mut self) -> io::Result<Waker> {
        if let Some(w) = &self.wake {
            return Ok(Waker::from(Arc::clone(&w.flag)));
        }
        let rx = UdpSocket::bind("127.0.0.1:0")?;
        rx.set_nonblocking(true)?;
        let tx = UdpSocket::bind("127.0.0.1:0")?;
        tx.connect(rx.local_addr()?)?;
        tx.set_nonblocking(true)?;
        let mut rx = mio::net::UdpSocket::from_std(rx);
        self.transport.registry().register(
            &mut rx,
            Transport::user_token(WAKE_SOURCE),
            mio::Interest::READABLE,
        )?;
        let flag = Arc::new(WakeFlag {
            pending: AtomicBool::new(false),
            tx,
        });
        self.wake = Some(WakeSocket {
            rx,
            flag: Arc::clone(&flag),
        });
        Ok(Waker::from(flag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wake_socket() -> WakeSocket {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        WakeSocket {
            rx: mio::net::UdpSocket::from_std(rx),
            flag: Arc::new(WakeFlag {
                pending: AtomicBool::new(false),
                tx,
            }),
        }
    }

    fn datagram_arrives(w: &WakeSocket) -> bool {
        let mut b = [0u8; 8];
        for _ in 0..200 {
            if w.rx.recv(&mut b).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// A wake that lands while the loop takes the previous ones must not silence the
    /// wakes after it.
    #[test]
    fn a_wake_during_the_take_does_not_silence_later_wakes() {
        let w = wake_socket();
        let flag = Arc::clone(&w.flag);
        flag.wake_by_ref();
        assert!(datagram_arrives(&w));
        flag.wake_by_ref(); // flag still set: no datagram
        take_wakes(&w, || flag.wake_by_ref());
        // Later wakes reach the loop.
        flag.wake_by_ref();
        assert!(
            datagram_arrives(&w),
            "the wake was lost: the loop would sleep"
        );
    }
}
