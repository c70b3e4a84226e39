//! Transport-level limits of `moneysocket relay` (issue 13), each against the real binary
//! over loopback sockets, bounded in time and count: frame floods to a stalled reader,
//! HTTP refusals, kernel buffer sizes, parked partial frames, close codes, shutdown with a
//! stalled handshake. The slow-reader latency measurement is `#[ignore]`d (a bench: run it
//! with `--ignored --nocapture`).
//!
//! Some tests hold a few thousand sockets: raise `ulimit -n` above 5,000 if they fail to
//! connect.

#[path = "support/relay.rs"]
mod relay;
mod support;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use moneysocket_core::message::MessageKind;
use relay::{expect_notify, poll_until, recv, send, Relay, Ws};
use support::{http_exchange, http_get};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message as WsMessage;

const RID: &str = "2acc58b612ab45f732bd60b9eb91910918d74ba3107800fea034d80f4171edb6";
const RID2: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Streams binary frames of `len` payload bytes from `ws`, pre-encoded (masked, mask key 0)
/// and written 64 KiB at a time, until the relay stops taking them (a write blocks for
/// 300 ms: backpressure), about `max` frames were sent or `limit` passed. Returns the
/// number of frames sent.
fn flood(ws: &mut Ws, len: usize, max: usize, limit: Duration) -> usize {
    assert!(len < 126);
    let mut one = vec![0x82, 0x80 | len as u8, 0, 0, 0, 0];
    one.resize(one.len() + len, 0xa5);
    let per_chunk = 64 * 1024 / one.len();
    let chunk = one.repeat(per_chunk);
    let tcp = ws.get_mut();
    tcp.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let started = Instant::now();
    let mut bytes = 0usize;
    while bytes / one.len() < max && started.elapsed() < limit {
        match tcp.write(&chunk) {
            Ok(n) => bytes += n,
            Err(_) => break,
        }
    }
    // finish the frame cut by the last write
    let cut = bytes % one.len();
    if cut > 0 {
        let _ = tcp.write_all(&one[cut..]);
    }
    bytes.div_ceil(one.len())
}

/// Lets the relay settle, then its RSS (KiB).
fn settled_rss(relay: &Relay) -> u64 {
    std::thread::sleep(Duration::from_millis(500));
    relay.rss_kib()
}

#[test]
fn empty_and_one_byte_frame_floods_to_a_stalled_reader_keep_rss_bounded() {
    // Stated bound: both floods together grow the relay by less than 8 MiB. Before frames
    // were charged FRAME_OVERHEAD, empty frames never reached high_water: the relay queued
    // 32+ bytes per frame without bound.
    const BOUND_KIB: u64 = 8 * 1024;
    let relay = Relay::start("");
    let (mut a, _b) = relay.pair(RID);
    let (mut c, _d) = relay.pair(RID2);
    let before = settled_rss(&relay);
    let empty = flood(&mut a, 0, 20_000_000, Duration::from_secs(4));
    let tiny = flood(&mut c, 1, 20_000_000, Duration::from_secs(4));
    let after = settled_rss(&relay);
    let grown = after.saturating_sub(before);
    eprintln!("sent {empty} empty and {tiny} 1-byte frames; relay RSS {before} -> {after} KiB");
    assert!(grown < BOUND_KIB, "relay RSS grew by {grown} KiB");
    // backpressure, not a drop: the pairs are still there, and a new pair works
    let (mut e, mut f) = relay.pair(&"c".repeat(64));
    send(&mut e, b"ciphertext");
    assert_eq!(recv(&mut f), b"ciphertext");
}

#[test]
fn refusals_carry_an_http_status() {
    let relay = Relay::start("max_connections = 2\nmax_per_ip = 0\n");
    let _a = relay.connect();
    let _b = relay.connect();
    // a third: 503 with a one-line reason, then the relay closes
    let upgrade = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        relay.addr()
    );
    let answer = http_exchange(relay.addr(), upgrade.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    assert!(answer.ends_with("\r\n\r\nserver at its connection limit, try again later\n"));
    // our dialer reports status and reason
    assert_eq!(
        dial_refusal(&relay.url),
        (
            503,
            "server at its connection limit, try again later".into()
        )
    );

    let relay = Relay::start("max_per_ip = 1\n");
    let _a = relay.connect();
    assert_eq!(
        dial_refusal(&relay.url),
        (429, "too many connections from your address".into())
    );
}

/// Dials `url` with moneysocket-ws and returns the HTTP refusal it ends with.
fn dial_refusal(url: &str) -> (u16, String) {
    let mut t = moneysocket_ws::Transport::new(moneysocket_ws::TransportConfig::default())
        .expect("transport");
    dial_until_closed(&mut t, url, None)
}

/// Dials `url` on `t`; the HTTP refusal the dial ends with.
fn dial_until_closed(
    t: &mut moneysocket_ws::Transport,
    url: &str,
    tls: Option<std::sync::Arc<moneysocket_ws::tls::ClientConfig>>,
) -> (u16, String) {
    let id = t.dial(url, tls).expect("dial");
    poll_until(t, &mut VecDeque::new(), |_, ev| {
        let moneysocket_ws::Event::Closed { conn, cause } = ev else {
            return None;
        };
        assert_eq!(conn, id);
        let err = cause.to_string();
        let (status, reason) = cause
            .http_refusal()
            .unwrap_or_else(|| panic!("not an HTTP refusal: {err}"));
        assert!(err.contains(&format!("HTTP {status}: {reason}")), "{err}");
        Some((status, reason.to_owned()))
    })
}

#[test]
fn refusals_over_wss_come_after_the_tls_handshake() {
    let dir = relay::self_signed_cert();
    let relay = Relay::start(&format!(
        "max_connections = 1
tls_cert = {:?}
tls_key = {:?}
",
        dir.join("cert.pem"),
        dir.join("key.pem")
    ));
    let url = format!("wss://localhost:{}", relay.port);
    let tls = moneysocket_ws::tls::client_config(Some(&dir.join("cert.pem"))).expect("ca");
    let mut t = moneysocket_ws::Transport::new(moneysocket_ws::TransportConfig::default())
        .expect("transport");
    let first = t.dial(&url, Some(tls.clone())).expect("dial");
    // the first wss dial opens
    poll_until(&mut t, &mut VecDeque::new(), |_, ev| {
        matches!(ev, moneysocket_ws::Event::Opened { conn, .. } if conn == first).then_some(())
    });
    assert_eq!(
        dial_until_closed(&mut t, &url, Some(tls)),
        (
            503,
            "server at its connection limit, try again later".into()
        )
    );
}

#[test]
fn non_websocket_requests_get_an_http_answer() {
    let relay = Relay::start("");
    let host = relay.addr();
    let plain = http_get(host, "/");
    assert!(
        plain.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{plain:?}"
    );
    assert!(
        plain.ends_with("\r\n\r\nthis is a websocket endpoint: send a websocket upgrade request\n")
    );
    let upgrade = |extra: &str| {
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n{extra}\r\n")
    };
    let no_key = http_exchange(host, upgrade("Sec-WebSocket-Version: 13\r\n").as_bytes());
    assert!(
        no_key.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{no_key:?}"
    );
    assert!(no_key.ends_with("\r\n\r\nwebsocket upgrade without Sec-WebSocket-Key\n"));
    let old = http_exchange(
        host,
        upgrade("Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
            .as_bytes(),
    );
    assert!(
        old.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{old:?}"
    );
    assert!(old.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{old:?}");
    // the relay still serves websockets
    let (mut a, mut b) = relay.pair(RID);
    send(&mut a, b"x");
    assert_eq!(recv(&mut b), b"x");
}

/// `rb` and `tb` (receive and send buffer sizes) of the relay's sockets on `port`, from
/// `ss -tm`; `None` if `ss` is missing.
fn kernel_buffers(port: u16) -> Option<Vec<(u64, u64)>> {
    let out = std::process::Command::new("ss")
        .args([
            "-tmnH",
            "state",
            "established",
            "sport",
            "=",
            &format!(":{port}"),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |s: &str, k: &str| -> u64 {
        s.split([',', '(', ')'])
            .find_map(|f| f.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(
        text.split("skmem:")
            .skip(1)
            .map(|s| (field(s, "rb"), field(s, "tb")))
            .collect(),
    )
}

#[test]
fn accepted_sockets_get_the_configured_kernel_buffers() {
    let relay = Relay::start("send_buffer = 16384\nrecv_buffer = 8192\n");
    let (mut a, _b) = relay.pair(RID);
    // a stalled reader: the relay's send buffer towards it fills, and stays at its size
    flood(&mut a, 100, 200_000, Duration::from_secs(3));
    let Some(socks) = kernel_buffers(relay.port) else {
        eprintln!("SKIPPED: `ss` not available");
        return;
    };
    assert_eq!(socks.len(), 2, "{socks:?}");
    // Linux doubles the values set
    for (rb, tb) in socks {
        assert_eq!((rb, tb), (16384, 32768));
    }
}

/// A websocket client that sent a frame header for `len` bytes and only `body` of them.
fn park_partial_frame(relay: &Relay, len: usize, body: usize) -> Ws {
    let mut ws = relay.connect();
    let mut frame = vec![0x82, 0xff];
    frame.extend_from_slice(&(len as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]); // mask key 0: payload as is
    frame.resize(frame.len() + body, b'p');
    ws.get_mut().write_all(&frame).expect("write partial frame");
    ws
}

#[test]
fn parked_partial_frames_share_a_bounded_budget() {
    // 2,000 connections each park a 65,000-byte frame with 60,000 bytes sent. Unbounded
    // that held ~69 KiB each (~135 MiB). Now each may hold 8 KiB (partial_base) and all
    // share 16 MiB (partial_budget); the longest-waiting ones are closed with 1009.
    // Stated bound: the relay's RSS grows by less than 64 MiB.
    const CONNS: usize = 2_000;
    const BOUND_KIB: u64 = 64 * 1024;
    let relay = Relay::start("max_per_ip = 0\n");
    let before = settled_rss(&relay);
    let mut parked: Vec<Ws> = (0..CONNS)
        .map(|_| park_partial_frame(&relay, 65_000, 60_000))
        .collect();
    let mut after = settled_rss(&relay);
    for _ in 0..6 {
        let again = settled_rss(&relay);
        if again == after {
            break;
        }
        after = again.max(after);
    }
    let grown = after.saturating_sub(before);
    eprintln!(
        "{CONNS} parked partial frames: relay RSS {before} -> {after} KiB ({} KiB per connection)",
        grown / CONNS as u64
    );
    assert!(grown < BOUND_KIB, "relay RSS grew by {grown} KiB");
    // the first one waited longest: closed with 1009
    match parked[0].read() {
        Ok(WsMessage::Close(Some(f))) => assert_eq!(f.code, CloseCode::Size),
        other => panic!("expected close 1009, got {other:?}"),
    }
    // a legitimate pair still gets through, with a frame larger than partial_base
    drop(parked);
    let (mut a, mut b) = relay.pair(RID);
    let big = vec![9u8; 40_000];
    send(&mut a, &big);
    assert_eq!(recv(&mut b), big);
}

/// Reads until a close frame; its code.
fn close_code(ws: &mut Ws) -> Option<CloseCode> {
    loop {
        match ws.read() {
            Ok(WsMessage::Close(f)) => return f.map(|f| f.code),
            Ok(_) => continue,
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    }
}

#[test]
fn oversized_frames_and_protocol_errors_get_close_codes() {
    let relay = Relay::start("");
    let (mut a, mut b) = relay.pair(RID);
    send(&mut a, &vec![0u8; 70_000]);
    assert_eq!(close_code(&mut a), Some(CloseCode::Size));
    // the partner is told the pair ended
    expect_notify(&mut b, MessageKind::NotifyRendezvousEnd, None, RID);

    let mut c = relay.connect();
    // an unmasked frame from a client
    c.get_mut().write_all(&[0x82, 0x01, b'x']).unwrap();
    assert_eq!(close_code(&mut c), Some(CloseCode::Protocol));
    let mut d = relay.connect();
    // a reserved opcode
    d.get_mut().write_all(&[0x83, 0x80, 0, 0, 0, 0]).unwrap();
    assert_eq!(close_code(&mut d), Some(CloseCode::Protocol));
}

#[test]
fn sigterm_with_a_stalled_handshake_exits_at_once() {
    let mut relay = Relay::start("");
    let mut half = TcpStream::connect(relay.addr()).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        .unwrap();
    let (mut a, mut b) = relay.pair(RID);
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    relay.sigterm();
    // the pair is ended and closed (the clients answer the close); the half handshake does
    // not hold the exit to the 3 s grace
    for ws in [&mut a, &mut b] {
        expect_notify(ws, MessageKind::NotifyRendezvousEnd, None, RID);
        assert_eq!(close_code(ws), None);
        while ws.read().is_ok() {}
    }
    let took = relay
        .wait_exit(t0, Duration::from_secs(10))
        .expect("relay did not exit");
    assert!(took < Duration::from_millis(1500), "exit took {took:?}");
    let mut rest = Vec::new();
    let _ = half.read_to_end(&mut rest);
}

// ---------------------------------------------------------------- measurement

/// Round-trip latencies (µs, sorted) of `n` 300-byte ping-pongs over the pair `(a, b)`.
fn ping_pong(a: &mut Ws, b: &mut Ws, n: usize) -> Vec<u64> {
    let msg = vec![0x5au8; 300];
    let mut rtts: Vec<u64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            send(a, &msg);
            let got = recv(b);
            send(b, &got);
            recv(a);
            t.elapsed().as_micros() as u64
        })
        .collect();
    rtts.sort_unstable();
    rtts
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Latency of a legitimate pair with and without 150 slow-reader pairs attached: their
/// senders stream 300-byte frames as fast as the relay takes them, their readers read
/// up to 64 KiB every 100 ms (640 KB/s each, 96 MB/s in all). Prints p50, p99, p99.9 and max; asserts nothing about time.
#[test]
#[ignore = "measurement: cargo test --test relay_limits -- --ignored --nocapture"]
fn slow_reader_flood_latency() {
    const FLOOD_PAIRS: usize = 150;
    const ROUND_TRIPS: usize = 20_000;
    // extra relay settings to compare, e.g. RELAY_TOML='send_buffer = 0'
    let extra = std::env::var("RELAY_TOML").unwrap_or_default();
    let relay = Relay::start(&format!("max_per_ip = 0\n{extra}\n"));
    let (mut a, mut b) = relay.pair(RID);
    let quiet = ping_pong(&mut a, &mut b, ROUND_TRIPS);
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for i in 0..FLOOD_PAIRS {
        let (s, r) = relay.pair(&format!("{:064x}", i + 1));
        senders.push(s.into_inner());
        readers.push(r.into_inner());
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // 300-byte masked binary frames (mask key 0), many per write
            let mut one = vec![0x82, 0x80 | 126, 0x01, 0x2c, 0, 0, 0, 0];
            one.resize(one.len() + 300, 0xa5);
            let chunk: Vec<u8> = one.repeat(50);
            let mut at = vec![0usize; senders.len()];
            let mut scratch = vec![0u8; 64 * 1024];
            let mut last_read = Instant::now();
            for s in senders.iter().chain(readers.iter()) {
                s.set_nonblocking(true).unwrap();
            }
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut wrote = false;
                for (s, at) in senders.iter_mut().zip(at.iter_mut()) {
                    if let Ok(n) = s.write(&chunk[*at..]) {
                        wrote |= n > 0;
                        *at = (*at + n) % chunk.len();
                    }
                }
                if last_read.elapsed() >= Duration::from_millis(100) {
                    last_read = Instant::now();
                    for r in readers.iter_mut() {
                        let _ = r.read(&mut scratch);
                    }
                }
                if !wrote {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let flooded = ping_pong(&mut a, &mut b, ROUND_TRIPS);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.join().unwrap();
    for (name, rtts) in [("quiet", &quiet), ("150 slow-reader pairs", &flooded)] {
        eprintln!(
            "{name}: {} round trips, p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
            rtts.len(),
            quantile(rtts, 0.5),
            quantile(rtts, 0.99),
            quantile(rtts, 0.999),
            rtts[rtts.len() - 1]
        );
    }
    eprintln!("relay RSS {} KiB", relay.rss_kib());
}
