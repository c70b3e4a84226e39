//! Transport behaviour against blocking tungstenite clients on loopback.

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use moneysocket_ws::{CloseCause, ConnId, Event, SendError, Transport, TransportConfig};
use tungstenite::Message;

const TIMEOUT: Duration = Duration::from_secs(20);

fn client(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    tungstenite::client(format!("ws://{addr}/"), tcp).unwrap().0
}

fn server(config: TransportConfig) -> (Transport, SocketAddr) {
    let mut t = Transport::new(config).unwrap();
    let addr = t.listen("127.0.0.1:0".parse().unwrap(), None).unwrap();
    (t, addr)
}

/// Polls until `on` returns true for an event of the batch; every event goes to `on`.
fn run(t: &mut Transport, mut on: impl FnMut(&mut Transport, Event) -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    let mut events = Vec::new();
    loop {
        t.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
        let mut done = false;
        for ev in events.drain(..) {
            // the whole batch is handled even after `on` is satisfied
            done |= on(t, ev);
        }
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "timed out");
    }
}

#[test]
fn text_frames_dropped_pings_answered_binary_echoed() {
    let (mut t, addr) = server(TransportConfig::default());
    let h = thread::spawn(move || {
        let mut ws = client(addr);
        ws.send(Message::Text("ignored".into())).unwrap();
        ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
        ws.send(Message::Binary(vec![1, 2, 3].into())).unwrap();
        let mut pong = false;
        loop {
            match ws.read().unwrap() {
                Message::Pong(p) => pong = &p[..] == b"p",
                Message::Binary(b) => return (pong, b.to_vec()),
                _ => {}
            }
        }
    });
    run(&mut t, |t, ev| match ev {
        Event::Frame { conn, data } => {
            assert_eq!(&data[..], &[1, 2, 3], "only the binary frame is delivered");
            t.send(conn, data).unwrap();
            true
        }
        _ => false,
    });
    let mut events = Vec::new();
    while !h.is_finished() {
        t.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
    }
    let (pong, echo) = h.join().unwrap();
    assert!(pong, "ping answered before the echo");
    assert_eq!(echo, [1, 2, 3]);
}

#[test]
fn forward_pauses_the_source_and_delivers_everything() {
    const FRAMES: usize = 1200;
    const SIZE: usize = 32 * 1024;
    let (mut t, addr) = server(TransportConfig::default());
    let max_pending = t.config().max_pending;
    let (go_tx, go_rx) = mpsc::channel::<()>();
    // B says hello, then reads nothing until told to
    let b = thread::spawn(move || {
        let mut ws = client(addr);
        ws.send(Message::Binary(b"B".to_vec().into())).unwrap();
        go_rx.recv().unwrap();
        for i in 0..FRAMES {
            match ws.read().unwrap() {
                Message::Binary(f) => {
                    assert_eq!(f.len(), SIZE);
                    assert!(f.iter().all(|&x| x == i as u8), "frame {i} out of order");
                }
                m => panic!("unexpected {m:?}"),
            }
        }
    });
    let mut ids: (Option<ConnId>, Option<ConnId>) = (None, None);
    run(&mut t, |_, ev| {
        if let Event::Frame { conn, data } = ev {
            assert_eq!(&data[..], b"B");
            ids.1 = Some(conn);
            return true;
        }
        false
    });
    let a = thread::spawn(move || {
        let mut ws = client(addr);
        ws.send(Message::Binary(b"A".to_vec().into())).unwrap();
        for i in 0..FRAMES {
            ws.send(Message::Binary(vec![i as u8; SIZE].into()))
                .unwrap();
        }
        ws
    });
    let to = ids.1.unwrap();
    let mut seen = 0usize;
    let mut peak = 0usize;
    let mut go = Some(go_tx);
    run(&mut t, |t, ev| {
        match ev {
            Event::Frame { conn, data } if &data[..] == b"A" => ids.0 = Some(conn),
            Event::Frame { conn, data } => {
                assert_eq!(Some(conn), ids.0);
                if let Err(e) = t.forward(conn, to, data) {
                    panic!("{e} after {seen} frames, peak {peak}");
                }
                seen += 1;
                peak = peak.max(t.pending_output(to).unwrap_or(0));
                assert!(peak <= max_pending, "backlog {peak} over the limit");
                // let B read once the source has been held back at least once
                if t.stats().backpressure_pauses > 0 {
                    if let Some(tx) = go.take() {
                        tx.send(()).unwrap();
                    }
                }
            }
            Event::Closed { cause, .. } => panic!("closed: {cause}"),
            _ => {}
        }
        seen == FRAMES
    });
    assert!(
        t.stats().backpressure_pauses > 0,
        "never paused (peak {peak})"
    );
    drop(go);
    let mut events = Vec::new();
    while !b.is_finished() {
        t.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
        // B hangs up once it has everything; nothing is dropped for overflow
        assert!(!events.iter().any(|e| matches!(
            e,
            Event::Closed {
                cause: CloseCause::Overflow,
                ..
            }
        )));
        events.clear();
    }
    b.join().unwrap();
    drop(a.join().unwrap());
}

#[test]
fn slow_reader_is_dropped_past_max_pending() {
    let config = TransportConfig {
        high_water: 64 * 1024,
        max_pending: 256 * 1024,
        ..TransportConfig::default()
    };
    let (mut t, addr) = server(config);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let h = thread::spawn(move || {
        let _ws = client(addr); // never reads
        let _ = done_rx.recv_timeout(TIMEOUT);
    });
    let mut conn = None;
    run(&mut t, |_, ev| {
        if let Event::Opened { conn: c, .. } = ev {
            conn = Some(c);
            return true;
        }
        false
    });
    let conn = conn.unwrap();
    let frame = vec![7u8; 32 * 1024];
    let mut events = Vec::new();
    let mut overflowed = false;
    for _ in 0..20_000 {
        match t.send(conn, frame.clone()) {
            Ok(()) => {}
            Err(SendError::Overflow) => {
                overflowed = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
        t.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "{events:?}");
    }
    assert!(overflowed);
    t.poll(&mut events, Some(Duration::ZERO)).unwrap();
    assert_eq!(
        events,
        [Event::Closed {
            conn,
            cause: CloseCause::Overflow
        }]
    );
    assert_eq!(t.send(conn, vec![1]), Err(SendError::Unknown));
    assert_eq!(t.stats().closed_overflow, 1);
    done_tx.send(()).unwrap();
    h.join().unwrap();
}

#[test]
fn silent_peers_are_closed_live_ones_kept_by_pings() {
    let config = TransportConfig {
        idle_timeout: Some(Duration::from_millis(600)),
        ping_interval: Some(Duration::from_millis(100)),
        ..TransportConfig::default()
    };
    let (mut t, addr) = server(config);
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    // live: keeps reading, so tungstenite answers the server's pings
    let live = thread::spawn(move || {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut ws = tungstenite::client(format!("ws://{addr}/"), tcp).unwrap().0;
        let mut pings = 0;
        while stop_rx.try_recv().is_err() {
            match ws.read() {
                Ok(Message::Ping(_)) => pings += 1,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("live connection failed: {e}"),
            }
        }
        pings
    });
    // silent: never reads, never answers
    let (silent_tx, silent_rx) = mpsc::channel::<()>();
    let silent = thread::spawn(move || {
        let ws = client(addr);
        let _ = silent_rx.recv_timeout(TIMEOUT);
        drop(ws);
    });
    let mut opened = Vec::new();
    let started = Instant::now();
    let mut idle_closed = None;
    run(&mut t, |_, ev| {
        match ev {
            Event::Opened { conn, .. } => opened.push(conn),
            Event::Closed {
                conn,
                cause: CloseCause::Idle,
            } => idle_closed = Some(conn),
            Event::Closed { cause, .. } => panic!("unexpected close: {cause}"),
            _ => {}
        }
        idle_closed.is_some()
    });
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(opened.len(), 2);
    assert_eq!(t.stats().closed_idle, 1);
    // the live one survives well past the idle timeout
    let mut events = Vec::new();
    let until = Instant::now() + Duration::from_millis(1000);
    while Instant::now() < until {
        t.poll(&mut events, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(
            !events.iter().any(|e| matches!(e, Event::Closed { .. })),
            "{events:?}"
        );
    }
    stop_tx.send(()).unwrap();
    silent_tx.send(()).unwrap();
    assert!(live.join().unwrap() > 0, "the server pinged");
    silent.join().unwrap();
}

#[test]
fn stalled_handshake_times_out_without_an_event() {
    let config = TransportConfig {
        handshake_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    };
    let (mut t, addr) = server(config);
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    std::io::Write::write_all(&mut tcp, b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut events = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while t.stats().handshake_failures == 0 {
        t.poll(&mut events, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(events.is_empty(), "{events:?}");
        assert!(Instant::now() < deadline);
    }
    assert!(t.is_empty());
    let mut buf = [0u8; 16];
    // the server hung up
    assert!(matches!(
        std::io::Read::read(&mut tcp, &mut buf),
        Ok(0) | Err(_)
    ));
}

#[test]
fn empty_frames_are_charged_and_overflow_a_stalled_reader() {
    // a client that never reads; its queue fills with empty frames
    let config = TransportConfig {
        max_pending: 64 * 1024,
        ..TransportConfig::default()
    };
    let (mut t, addr) = server(config);
    let stalled = thread::spawn(move || {
        let ws = client(addr);
        thread::sleep(Duration::from_secs(2));
        drop(ws);
    });
    let mut conn = None;
    run(&mut t, |_, ev| match ev {
        Event::Opened { conn: c, .. } => {
            conn = Some(c);
            true
        }
        _ => false,
    });
    let conn = conn.unwrap();
    t.send(conn, tungstenite::Bytes::new()).unwrap();
    assert_eq!(t.pending_output(conn), Some(moneysocket_ws::FRAME_OVERHEAD));
    // 64 KiB of queue holds 1,024 empty frames: the next one overflows (no poll in between,
    // so nothing was written)
    let sent = (0..2_000)
        .take_while(|_| t.send(conn, tungstenite::Bytes::new()).is_ok())
        .count();
    assert_eq!(sent, 64 * 1024 / moneysocket_ws::FRAME_OVERHEAD - 1);
    run(
        &mut t,
        |_, ev| matches!(ev, Event::Closed { conn: c, cause: CloseCause::Overflow } if c == conn),
    );
    stalled.join().unwrap();
}

#[test]
fn a_large_backlog_is_written_over_several_rounds_in_order() {
    // 4 MiB queued at once: more than one pump's write budget (256 KiB) per round
    let config = TransportConfig {
        max_pending: 8 * 1024 * 1024,
        ..TransportConfig::default()
    };
    let (mut t, addr) = server(config);
    let reader = thread::spawn(move || {
        let mut ws = client(addr);
        (0..64u8)
            .map(|_| match ws.read().unwrap() {
                Message::Binary(b) => b[0],
                other => panic!("{other:?}"),
            })
            .collect::<Vec<u8>>()
    });
    run(&mut t, |t, ev| match ev {
        Event::Opened { conn, .. } => {
            for i in 0..64u8 {
                t.send(conn, vec![i; 64 * 1024]).unwrap();
            }
            true
        }
        _ => false,
    });
    let deadline = Instant::now() + TIMEOUT;
    let mut events = Vec::new();
    while !reader.is_finished() {
        t.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
        assert!(Instant::now() < deadline, "timed out");
    }
    assert_eq!(reader.join().unwrap(), (0..64u8).collect::<Vec<u8>>());
}

/// A frame and the peer's hang-up that reach the socket together come as one readiness
/// event: the short read that takes the frame must not hide the end of the stream (no later
/// event would report it, and with no idle timeout the connection would hang).
#[test]
fn a_frame_and_a_hang_up_in_one_burst_are_both_seen() {
    use std::io::Write as _;
    let (mut t, addr) = server(TransportConfig {
        idle_timeout: None,
        ping_interval: None,
        ..TransportConfig::default()
    });
    let (opened_tx, opened_rx) = mpsc::channel::<()>();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let h = thread::spawn(move || {
        let ws = client(addr);
        opened_rx.recv().unwrap();
        let mut tcp = ws.into_inner();
        // a masked binary frame [7, 7, 7] (mask 0), then FIN
        tcp.write_all(&[0x82, 0x83, 0, 0, 0, 0, 7, 7, 7]).unwrap();
        tcp.shutdown(std::net::Shutdown::Write).unwrap();
        sent_tx.send(()).unwrap();
        // hold the socket until the server is done with it
        let _ = std::io::Read::read(&mut tcp, &mut [0u8; 64]);
    });
    let mut conn = None;
    run(&mut t, |_, ev| match ev {
        Event::Opened { conn: c, .. } => {
            conn = Some(c);
            true
        }
        _ => false,
    });
    opened_tx.send(()).unwrap();
    sent_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(50));
    let mut frame = false;
    run(&mut t, |_, ev| match ev {
        Event::Frame { conn: c, data } => {
            assert_eq!(Some(c), conn);
            assert_eq!(&data[..], &[7, 7, 7]);
            frame = true;
            false
        }
        Event::Closed { conn: c, cause } => {
            assert_eq!(Some(c), conn);
            assert_eq!(cause, CloseCause::Remote);
            true
        }
        _ => false,
    });
    assert!(frame, "the frame before the hang-up is delivered");
    drop(t);
    h.join().unwrap();
}
