//! Several transports in one process: accepted connections routed by their first message
//! to the worker that owns them, limits counted together.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use moneysocket_ws::{
    ConnId, Event, Router, SharedLimits, Transport, TransportConfig, TransportStats,
};
use tungstenite::Message;

const TIMEOUT: Duration = Duration::from_secs(20);

fn client(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    tungstenite::client(format!("ws://{addr}/"), tcp).unwrap().0
}

/// Messages starting with `B` belong to worker 1, everything else stays.
fn route(first: &[u8]) -> Option<usize> {
    (first.first() == Some(&b'B')).then_some(1)
}

/// What a worker saw, in order: opened ids and frames.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Opened(ConnId),
    Frame(ConnId, Vec<u8>),
    Closed(ConnId),
}

/// Runs `t` on a thread, echoing every frame, until `stop`; returns what it saw and its
/// counters.
fn echo_worker(
    mut t: Transport,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<(Vec<Seen>, TransportStats)> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        let mut events = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            t.poll(&mut events, Some(Duration::from_millis(5))).unwrap();
            for ev in events.drain(..) {
                match ev {
                    Event::Opened { conn, .. } => seen.push(Seen::Opened(conn)),
                    Event::Frame { conn, data } => {
                        seen.push(Seen::Frame(conn, data.to_vec()));
                        let _ = t.send(conn, data);
                    }
                    Event::Closed { conn, .. } => seen.push(Seen::Closed(conn)),
                    _ => {}
                }
            }
        }
        (seen, t.stats())
    })
}

/// Worker 0 listening (routed), worker 1 (routed, not listening) sharing its limits.
fn workers(config: TransportConfig, first_timeout: Duration) -> (Transport, Transport, SocketAddr) {
    let limits = SharedLimits::new(&config);
    let mut a = Transport::with_limits(config.clone(), Arc::clone(&limits)).unwrap();
    let mut b = Transport::with_limits(config, limits).unwrap();
    let inboxes = vec![a.inbox(), b.inbox()];
    a.set_router(Router::new(0, inboxes.clone(), first_timeout, route));
    b.set_router(Router::new(1, inboxes, first_timeout, route));
    let addr = a.listen("127.0.0.1:0".parse().unwrap(), None).unwrap();
    (a, b, addr)
}

fn echoes(ws: &mut tungstenite::WebSocket<TcpStream>, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while got.len() < n {
        if let Message::Binary(b) = ws.read().unwrap() {
            got.push(b.to_vec());
        }
    }
    got
}

#[test]
fn a_connection_moves_to_its_owner_with_the_input_behind_its_first_message() {
    let (a, b, addr) = workers(TransportConfig::default(), TIMEOUT);
    let stop = Arc::new(AtomicBool::new(false));
    let wa = echo_worker(a, Arc::clone(&stop));
    let wb = echo_worker(b, Arc::clone(&stop));

    // Owned by worker 1: the first message and two more in the same write, so the second
    // and third are read (or buffered) before the move.
    let mut moved = client(addr);
    moved
        .write(Message::Ping(b"early".to_vec().into()))
        .unwrap();
    for m in [&b"B first"[..], b"second", b"third"] {
        moved.write(Message::Binary(m.to_vec().into())).unwrap();
    }
    moved.flush().unwrap();
    // Stays on worker 0.
    let mut stays = client(addr);
    stays
        .send(Message::Binary(b"A first".to_vec().into()))
        .unwrap();

    assert_eq!(
        echoes(&mut moved, 3),
        [b"B first".to_vec(), b"second".to_vec(), b"third".to_vec()]
    );
    assert_eq!(echoes(&mut stays, 1), [b"A first".to_vec()]);
    // the moved connection keeps working both ways after the move
    moved
        .send(Message::Binary(b"fourth".to_vec().into()))
        .unwrap();
    assert_eq!(echoes(&mut moved, 1), [b"fourth".to_vec()]);

    stop.store(true, Ordering::Relaxed);
    let (seen_a, stats_a) = wa.join().unwrap();
    let (seen_b, stats_b) = wb.join().unwrap();
    let [Seen::Opened(ia), Seen::Frame(fa, first_a)] = &seen_a[..] else {
        panic!("worker 0 announces only the connection it keeps: {seen_a:?}");
    };
    assert_eq!((ia, first_a.as_slice()), (fa, &b"A first"[..]));
    let Some(Seen::Opened(ib)) = seen_b.first() else {
        panic!("worker 1 announces the moved connection first: {seen_b:?}");
    };
    let frames: Vec<&[u8]> = seen_b[1..]
        .iter()
        .map(|s| match s {
            Seen::Frame(c, d) if c == ib => d.as_slice(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(frames, [&b"B first"[..], b"second", b"third", b"fourth"]);
    assert_eq!((stats_a.handed_off, stats_a.adopted), (1, 0));
    assert_eq!((stats_b.handed_off, stats_b.adopted), (0, 1));
}

#[test]
fn limits_count_the_connections_of_every_worker() {
    let config = TransportConfig {
        max_connections: 1,
        ..TransportConfig::default()
    };
    let (a, b, addr) = workers(config, TIMEOUT);
    let limits = Arc::clone(a.limits());
    let stop = Arc::new(AtomicBool::new(false));
    let wa = echo_worker(a, Arc::clone(&stop));
    let wb = echo_worker(b, Arc::clone(&stop));
    let mut moved = client(addr);
    moved.send(Message::Binary(b"B".to_vec().into())).unwrap();
    assert_eq!(echoes(&mut moved, 1), [b"B".to_vec()]);
    assert_eq!(limits.connections(), 1, "counted once, on its new worker");
    // worker 0 holds nothing now, but the process is at its limit
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    match tungstenite::client(format!("ws://{addr}/"), tcp) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status().as_u16(), 503)
        }
        Ok(_) => panic!("a second connection was admitted over max_connections = 1"),
        Err(e) => panic!("expected 503, got {e}"),
    }
    drop(moved);
    let deadline = Instant::now() + TIMEOUT;
    while limits.connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "the closed connection was never released"
        );
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    wa.join().unwrap();
    wb.join().unwrap();
}

#[test]
fn a_connection_without_a_first_message_is_dropped_unannounced() {
    let (mut a, _b, addr) = workers(TransportConfig::default(), Duration::from_millis(300));
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let mut ws = client(addr);
        // control frames do not count as the first message
        ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
        let started = Instant::now();
        loop {
            match ws.read() {
                Ok(Message::Pong(_)) => continue,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        let _ = tx.send(started.elapsed());
    });
    let mut events = Vec::new();
    let mut seen = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while rx.try_recv().is_err() {
        a.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
        seen.append(&mut events);
        assert!(Instant::now() < deadline, "the silent connection was kept");
    }
    h.join().unwrap();
    assert!(seen.is_empty(), "nothing announced: {seen:?}");
    assert_eq!(a.stats().first_frame_timeouts, 1);
    assert_eq!((a.awaiting_first_message(), a.len()), (0, 0));
}

#[test]
fn an_oversized_first_message_is_announced_and_closed_as_without_a_router() {
    let config = TransportConfig {
        max_frame: 1024,
        ..TransportConfig::default()
    };
    let (mut a, _b, addr) = workers(config, TIMEOUT);
    let h = thread::spawn(move || {
        let mut ws = client(addr);
        let _ = ws.send(Message::Binary(vec![b'B'; 4096].into()));
        // the close frame (1009) or the hang-up
        while ws.read().is_ok() {}
    });
    let mut events = Vec::new();
    let mut seen = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while !seen.iter().any(|e| matches!(e, Event::Closed { .. })) {
        a.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
        seen.append(&mut events);
        assert!(Instant::now() < deadline, "no close reported: {seen:?}");
    }
    h.join().unwrap();
    let [Event::Opened { conn: o, .. }, Event::Closed { conn: c, cause }] = &seen[..] else {
        panic!("expected Opened then Closed: {seen:?}");
    };
    assert_eq!((o, cause), (c, &moneysocket_ws::CloseCause::Oversized));
    assert_eq!((a.stats().handed_off, a.awaiting_first_message()), (0, 0));
}
