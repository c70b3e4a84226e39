//! Dialing: host names resolved off the event loop, typed dial errors.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use moneysocket_core::beacon::UrlError;
use moneysocket_ws::{CloseCause, ConnId, DialError, Event, Origin, Transport, TransportConfig};

const TIMEOUT: Duration = Duration::from_secs(30);
/// No single poll may take much longer than its timeout: the loop never waits for a resolver.
const SLOW_POLL: Duration = Duration::from_millis(500);

/// Polls `t` until `done` holds, checking that every poll returns promptly.
fn run_until(t: &mut Transport, seen: &mut Vec<Event>, mut done: impl FnMut(&[Event]) -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    let mut events = Vec::new();
    while !done(seen) {
        let start = Instant::now();
        t.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
        let took = start.elapsed();
        assert!(took < SLOW_POLL, "poll blocked for {took:?}");
        seen.append(&mut events);
        assert!(Instant::now() < deadline, "timed out: {seen:?}");
    }
}

fn opened(seen: &[Event], id: ConnId) -> bool {
    seen.iter()
        .any(|e| matches!(e, Event::Opened { conn, origin: Origin::Dialed, .. } if *conn == id))
}

fn handshake_failed(seen: &[Event], id: ConnId) -> Option<String> {
    seen.iter().find_map(|e| match e {
        Event::Closed {
            conn,
            cause: CloseCause::HandshakeFailed(why),
        } if *conn == id => Some(why.clone()),
        _ => None,
    })
}

#[test]
fn dialing_localhost_reaches_a_local_listener() {
    let mut t = Transport::new(TransportConfig::default()).unwrap();
    // listen where the name resolves first (the dial connects to the first address)
    let local: SocketAddr = ("localhost", 0).to_socket_addrs().unwrap().next().unwrap();
    let addr = t.listen(local, None).unwrap();
    let started = Instant::now();
    let id = t
        .dial(&format!("ws://localhost:{}/x?y", addr.port()), None)
        .unwrap();
    assert!(started.elapsed() < SLOW_POLL);
    assert_eq!(t.len(), 1, "the resolving dial is counted");
    assert_eq!(t.pending_output(id), Some(0));
    let mut seen = Vec::new();
    run_until(&mut t, &mut seen, |s| opened(s, id));
    // the accepted side is up too; a frame goes through
    let accepted = loop {
        if let Some(c) = seen.iter().find_map(|e| match e {
            Event::Opened {
                conn,
                origin: Origin::Accepted(_),
                ..
            } => Some(*conn),
            _ => None,
        }) {
            break c;
        }
        run_until(&mut t, &mut seen, |s| s.len() > 1);
    };
    t.send(id, vec![7u8, 8, 9]).unwrap();
    run_until(&mut t, &mut seen, |s| {
        s.iter().any(|e| matches!(e, Event::Frame { conn, data } if *conn == accepted && data[..] == [7, 8, 9]))
    });
}

#[test]
fn unresolvable_name_fails_as_a_closed_event_without_blocking_the_loop() {
    let mut t = Transport::new(TransportConfig::default()).unwrap();
    let addr = t.listen("127.0.0.1:0".parse().unwrap(), None).unwrap();
    let started = Instant::now();
    let bad = t.dial("ws://nonexistent.invalid:1", None).unwrap();
    assert!(started.elapsed() < SLOW_POLL, "dial blocked");
    // while the name is being resolved, the loop goes on serving: a second dial opens
    let good = t.dial(&format!("ws://{addr}"), None).unwrap();
    assert_ne!(bad, good);
    let mut seen = Vec::new();
    run_until(&mut t, &mut seen, |s| {
        opened(s, good) && handshake_failed(s, bad).is_some()
    });
    let why = handshake_failed(&seen, bad).unwrap();
    assert!(why.contains("nonexistent.invalid"), "{why}");
    // exactly one event for the failed dial, and it never opened
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, Event::Closed { conn, .. } if *conn == bad))
            .count(),
        1
    );
    assert!(!opened(&seen, bad));
}

#[test]
fn refused_connect_to_an_ip_literal_is_a_closed_event() {
    // a port nobody listens on: bind one, learn it, free it
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut t = Transport::new(TransportConfig::default()).unwrap();
    let id = t.dial(&format!("ws://127.0.0.1:{port}"), None).unwrap();
    let mut seen = Vec::new();
    run_until(&mut t, &mut seen, |s| handshake_failed(s, id).is_some());
}

#[test]
fn closing_a_resolving_dial_is_silent() {
    let mut t = Transport::new(TransportConfig::default()).unwrap();
    let id = t.dial("ws://localhost:1", None).unwrap();
    t.close(id);
    assert!(t.is_empty());
    assert_eq!(t.pending_output(id), None);
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_millis(300);
    run_until(&mut t, &mut seen, |_| Instant::now() >= until);
    assert!(seen.is_empty(), "{seen:?}");
}

#[test]
fn dial_errors_are_typed() {
    let mut t = Transport::new(TransportConfig::default()).unwrap();
    assert_eq!(
        t.dial("http://h", None),
        Err(DialError::BadUrl(UrlError::Scheme))
    );
    assert_eq!(
        t.dial("ws://[::1", None),
        Err(DialError::BadUrl(UrlError::Host))
    );
    assert_eq!(
        t.dial("ws://h:65536", None),
        Err(DialError::BadUrl(UrlError::Port))
    );
    assert_eq!(
        t.dial("ws://h/#top", None),
        Err(DialError::BadUrl(UrlError::Fragment))
    );
    assert_eq!(t.dial("wss://h", None), Err(DialError::TlsConfigMissing));
    let e: Box<dyn std::error::Error> = Box::new(DialError::BadUrl(UrlError::Port));
    assert_eq!(e.to_string(), "bad websocket URL: invalid port in URL");
    assert!(e.source().is_some());
    assert!(t.is_empty());
}

#[test]
fn ipv6_literal_is_dialed_without_resolution() {
    let mut t = Transport::new(TransportConfig::default()).unwrap();
    // IPv6 loopback may be unavailable in a sandbox; then there is nothing to check
    let Ok(addr) = t.listen("[::1]:0".parse().unwrap(), None) else {
        eprintln!("no IPv6 loopback: skipped");
        return;
    };
    let id = t
        .dial(&format!("ws://[::1]:{}/", addr.port()), None)
        .unwrap();
    let mut seen = Vec::new();
    run_until(&mut t, &mut seen, |s| {
        opened(s, id) || handshake_failed(s, id).is_some()
    });
    assert!(opened(&seen, id), "{seen:?}");
}
