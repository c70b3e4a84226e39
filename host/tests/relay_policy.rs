//! The relay's abuse limits and newcomer friction (issue 13), end to end: the real binary on
//! loopback, raw or tungstenite clients, every load bounded in count and time.

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "support/relay.rs"]
mod relay;
mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use moneysocket_core::message::{Body, Message, MessageKind, Timestamp};
use moneysocket_core::uuid::Uuid;
use relay::{pair_clients, recv, request, scrape_after, send, Relay, Ws};

/// Connect and read timeout of this file's raw clients (longer than the harness's: the
/// relay and this process hold thousands of sockets).
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The tests that open thousands of sockets take turns (the file-descriptor limit is shared
/// by the test process).
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    // the test process and the relay each hold up to 10,000 sockets
    if let Some(limit) = open_file_limit() {
        assert!(
            limit >= 12_000,
            "these tests need `ulimit -n` of at least 12000 (it is {limit})"
        );
    }
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

/// The soft limit on open files (Linux's /proc; `None` elsewhere or when unlimited).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

// ---------------------------------------------------------------- harness

/// A TCP connection to `to` from the loopback address `from` (any when `None`).
fn tcp(from: Option<Ipv4Addr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    if let Some(ip) = from {
        sock.bind(&SocketAddr::new(IpAddr::V4(ip), 0).into())?;
    }
    sock.connect_timeout(&to.into(), IO_TIMEOUT)?;
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// The websocket opening handshake, by hand (thousands of tungstenite clients would take a
/// read buffer each).
fn upgrade(s: &mut TcpStream, host: SocketAddr) -> std::io::Result<()> {
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        // (a read interrupted by a signal, seen under load, is tried again)
        let n = match s.read(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        if n == 0 || head.len() > 4096 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(b[0]);
    }
    if head.starts_with(b"HTTP/1.1 101") {
        Ok(())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&head).into_owned(),
        ))
    }
}

/// A masked client frame.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The next server frame: (opcode, payload).
fn read_frame(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l)?;
            u64::from(u16::from_be_bytes(l))
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l)?;
            u64::from_be_bytes(l)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; usize::try_from(len).unwrap_or(0).min(1 << 20)];
    s.read_exact(&mut payload)?;
    Ok((h[0] & 0x0f, payload))
}

/// Reads until the relay closes the connection (close frame or EOF).
fn until_closed(s: &mut TcpStream) -> bool {
    loop {
        match read_frame(s) {
            Ok((8, _)) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}

fn rid(n: u64) -> String {
    format!("{n:064x}")
}

/// The kind of a notification frame.
fn kind_of(frame: &[u8]) -> Option<MessageKind> {
    Message::parse(frame).ok().map(|m| m.kind())
}

/// What became of an idle waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiter {
    Waiting,
    Refused,
}

/// Opens a raw connection from `from` that requests rendezvous id `n` and returns it with
/// what the relay answered (`NOT_READY`: waiting; a close: refused).
fn waiter(from: Ipv4Addr, to: SocketAddr, n: u64) -> (Option<TcpStream>, Waiter) {
    let Ok(mut s) = tcp(Some(from), to) else {
        return (None, Waiter::Refused);
    };
    if upgrade(&mut s, to).is_err()
        || s.write_all(&client_frame(2, &request((n % 251) as u8, &rid(n))))
            .is_err()
    {
        return (None, Waiter::Refused);
    }
    loop {
        match read_frame(&mut s) {
            Ok((2, f)) if kind_of(&f) == Some(MessageKind::NotifyRendezvousNotReady) => {
                return (Some(s), Waiter::Waiting)
            }
            Ok((9 | 10, _)) => continue,
            _ => return (None, Waiter::Refused),
        }
    }
}

/// `count` idle waiters from 127.0.0.2 ..= 127.0.0.201 (spread evenly), opened by 8 threads;
/// returns the sockets still waiting and how many were refused.
fn waiters(to: SocketAddr, count: u64) -> (Vec<TcpStream>, u64) {
    let threads = 8;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut held = Vec::new();
                let mut refused = 0;
                for n in (t..count).step_by(threads as usize) {
                    let from = Ipv4Addr::new(127, 0, 0, 2 + (n % 200) as u8);
                    match waiter(from, to, n + 1) {
                        (Some(s), Waiter::Waiting) => held.push(s),
                        _ => refused += 1,
                    }
                }
                (held, refused)
            })
        })
        .collect();
    let mut held = Vec::new();
    let mut refused = 0;
    for h in handles {
        let (h, r) = h.join().expect("waiter thread");
        held.extend(h);
        refused += r;
    }
    (held, refused)
}

fn ws_from(relay: &Relay, from: Option<Ipv4Addr>) -> Ws {
    let s = tcp(from, relay.addr()).expect("tcp");
    tungstenite::client(relay.ws_url(), s).expect("handshake").0
}

/// A legitimate pair from two addresses outside the waiters' /24: rendezvous and one
/// message each way. Returns the time from the first connect to the echoed message, and
/// the two connections (the pair lasts while they are open).
fn legitimate_pair(relay: &Relay) -> (Duration, Ws, Ws) {
    let t0 = Instant::now();
    let id = "f".repeat(64);
    let mut from = [Ipv4Addr::new(127, 0, 1, 1), Ipv4Addr::new(127, 0, 2, 1)].into_iter();
    let (mut a, mut b) = pair_clients(|| ws_from(relay, from.next()), 1, 2, &id);
    let sealed = vec![0xa5u8; 320];
    send(&mut a, &sealed);
    assert_eq!(recv(&mut b), sealed);
    send(&mut b, &sealed);
    assert_eq!(recv(&mut a), sealed);
    (t0.elapsed(), a, b)
}

/// Runs `moneysocket ARGS` to completion: (status, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run moneysocket");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------- log floods

/// 10,000 oversized frames and 300 refused third parties add a handful of summary lines to
/// the log (one per interval with counts by reason), not one line each.
#[test]
fn floods_of_refusals_log_a_few_summary_lines() {
    let _g = heavy();
    let relay = Relay::start_logging(
        "max_per_ip = 0\nmax_frame = 1024\nsummary_interval = 2.0\nstats_interval = 0\n",
    );
    let before = relay.log_lines().len();
    let t0 = Instant::now();
    let to = relay.addr();
    let oversized: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let big = client_frame(2, &[0x80; 2048]);
                let mut closed = 0;
                for _ in 0..2_500 {
                    let mut s = tcp(None, to).expect("tcp");
                    upgrade(&mut s, to).expect("upgrade");
                    let _ = s.write_all(&big);
                    closed += u32::from(until_closed(&mut s));
                }
                closed
            })
        })
        .collect();
    // third parties for a paired id
    let id = "e".repeat(64);
    let (mut a, mut b) = pair_clients(|| ws_from(&relay, None), 1, 2, &id);
    for n in 0..300 {
        let mut s = tcp(None, to).expect("tcp");
        upgrade(&mut s, to).expect("upgrade");
        s.write_all(&client_frame(2, &request((n % 251) as u8, &id)))
            .expect("send");
        let (_, end) = read_frame(&mut s).expect("END");
        assert_eq!(kind_of(&end), Some(MessageKind::NotifyRendezvousEnd));
        assert!(until_closed(&mut s));
    }
    let closed: u32 = oversized
        .into_iter()
        .map(|h| h.join().expect("flood"))
        .sum();
    assert_eq!(closed, 10_000);
    let flood = t0.elapsed();
    eprintln!("relay RSS after the flood: {} KiB", relay.rss_kib());
    // the last interval's summary
    std::thread::sleep(Duration::from_millis(2_500));
    let lines = relay.log_lines();
    let added = &lines[before..];
    let summaries: Vec<_> = added
        .iter()
        .filter(|l| l.contains("refused or dropped in the last 2 s"))
        .collect();
    let count = |reason: &str| -> u64 {
        summaries
            .iter()
            .flat_map(|l| l.split(' '))
            .filter_map(|w| {
                w.strip_prefix(reason)?
                    .strip_prefix('=')?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    eprintln!(
        "{} connections in {flood:?}: {} log lines added, {} summaries: {summaries:#?}",
        10_300,
        added.len(),
        summaries.len()
    );
    assert_eq!(count("oversized"), 10_000, "{summaries:#?}");
    assert_eq!(count("already_paired"), 300, "{summaries:#?}");
    let bound = (flood.as_secs_f64() / 2.0).ceil() as usize + 2;
    assert!(summaries.len() <= bound, "{} > {bound}", summaries.len());
    assert_eq!(added.len(), summaries.len(), "{added:#?}");
    // the pair was not disturbed
    send(&mut a, &[1u8; 64]);
    assert_eq!(recv(&mut b), vec![1u8; 64]);
}

// ---------------------------------------------------------------- invalid first frames

/// A first frame that is not a valid REQUEST_RENDEZVOUS gets NOTIFY_ERROR saying why and a
/// close within a second.
#[test]
fn invalid_first_frames_are_refused_within_a_second() {
    let relay = Relay::start_logging("metrics = \"127.0.0.1:0\"\n");
    let good = String::from_utf8(request(1, &rid(7))).expect("utf8");
    let short_id = good.replace(&rid(7), "abc");
    let not_hex = good.replace(&rid(7), &("g".to_owned() + &rid(7)[1..]));
    let deep = "[".repeat(300) + &"]".repeat(300);
    let ping = Message::request_ping(
        Uuid::v4_from_bytes([5; 16]),
        Timestamp::from_secs(1_612_345_678),
    )
    .to_json_string();
    let cases: [(&[u8], &str); 5] = [
        (short_id.as_bytes(), "rendezvous_id"),
        (not_hex.as_bytes(), "rendezvous_id"),
        (deep.as_bytes(), "not JSON"),
        (
            ping.as_bytes(),
            "expected REQUEST_RENDEZVOUS first, got REQUEST_PING",
        ),
        (&[0x17, 0x80, 0xfe, 0x01], "not JSON"),
    ];
    for (frame, why) in cases {
        let t0 = Instant::now();
        let mut s = tcp(None, relay.addr()).expect("tcp");
        upgrade(&mut s, relay.addr()).expect("upgrade");
        s.write_all(&client_frame(2, frame)).expect("send");
        let (op, answer) = read_frame(&mut s).expect("an answer");
        assert_eq!(op, 2);
        let msg = Message::parse(&answer).expect("a message");
        assert_eq!(msg.kind(), MessageKind::NotifyError);
        let Body::NotifyError { error_msg } = msg.body() else {
            panic!("not an error")
        };
        let text = error_msg.as_str().unwrap_or_default().to_owned();
        assert!(text.contains(why), "{text:?} lacks {why:?}");
        assert!(until_closed(&mut s));
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{why}: refused after {took:?}"
        );
    }
    assert_eq!(
        relay.metric("moneysocket_relay_refusals_total{reason=\"invalid_request\"}"),
        5
    );
}

// ---------------------------------------------------------------- fair capacity

/// Defaults: 10,000 idle waiters from 200 addresses of one /24 get at most their prefix's
/// share (256); a pair from other prefixes connects and talks at once.
#[test]
fn waiters_of_one_prefix_get_their_share_and_a_pair_still_connects() {
    let _g = heavy();
    let relay = Relay::start_logging("metrics = \"127.0.0.1:0\"\n");
    let (alone, ..) = legitimate_pair(&relay);
    eprintln!("legitimate pair on an idle relay: {alone:?}");
    let rss0 = relay.rss_kib();
    let t0 = Instant::now();
    let (held, refused) = waiters(relay.addr(), 10_000);
    eprintln!(
        "10,000 waiters in {:?}: {} waiting, {refused} refused; relay RSS {rss0} KiB before, {} KiB after",
        t0.elapsed(),
        held.len(),
        relay.rss_kib()
    );
    assert_eq!(held.len(), 256);
    assert_eq!(refused, 10_000 - 256);
    let (took, _a, _b) = legitimate_pair(&relay);
    eprintln!("legitimate pair beside them: {took:?}");
    assert_eq!(
        relay.metric("moneysocket_relay_refusals_total{reason=\"max_unpaired_per_prefix\"}"),
        10_000 - 256
    );
    assert_eq!(relay.metric("moneysocket_relay_pairs"), 1);
}

/// 10,000 idle waiters from 200 addresses hold the whole unpaired budget (no prefix share):
/// a legitimate pair still connects (its first side evicts the waiter closest to expiry).
#[test]
fn a_pair_connects_while_ten_thousand_waiters_hold_the_unpaired_budget() {
    let _g = heavy();
    let relay = Relay::start_logging(
        "metrics = \"127.0.0.1:0\"\nmax_connections = 16384\nmax_unpaired = 10000\n\
         max_unpaired_per_prefix = 0\nidle_timeout = 0\nping_interval = 0\n",
    );
    let rss0 = relay.rss_kib();
    let t0 = Instant::now();
    let (held, refused) = waiters(relay.addr(), 10_000);
    eprintln!(
        "10,000 waiters in {:?}: {} waiting, {refused} refused; relay RSS {rss0} KiB before, {} KiB with them",
        t0.elapsed(),
        held.len(),
        relay.rss_kib()
    );
    assert_eq!(held.len(), 10_000);
    assert_eq!(
        relay.metric("moneysocket_relay_unpaired{state=\"waiting\"}"),
        10_000
    );
    let (took, _a, _b) = legitimate_pair(&relay);
    eprintln!("legitimate pair beside 10,000 waiters: {took:?}");
    assert_eq!(relay.metric("moneysocket_relay_pairs"), 1);
    let evicted = relay.metric("moneysocket_relay_closes_total{reason=\"unpaired_evicted\"}");
    assert!((1..=2).contains(&evicted), "{evicted}");
    assert_eq!(
        relay.metric("moneysocket_relay_unpaired{state=\"waiting\"}"),
        10_000 - evicted
    );
}

// ---------------------------------------------------------------- metrics endpoint

/// Scrapes succeed beside stalled requests (a request line without its blank line): 2,000
/// held at once, then during a rolling flood (4 threads opening 4,000 stalled requests as
/// fast as they can, 2,000 open at a time: the endpoint's 1,024 slots keep turning over)
/// while the scraper takes 10 ms to send its request. During the flood a scrape whose
/// request comes after 1,024 newer connections is the oldest unanswered client and makes
/// room (a scraper descheduled on a loaded machine while the flood runs on): the metrics
/// stay available when no two scrapes in a row fail and at most 1% (at least one) fail
/// (before the endpoint's own slots, 16 of 680 failed).
#[test]
fn metrics_scrapes_succeed_beside_two_thousand_stalled_requests() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let _g = heavy();
    let relay = Relay::start_logging("metrics = \"127.0.0.1:0\"\n");
    let addr = relay.metrics.clone().expect("metrics");
    let stall = |addr: &str| {
        let mut s = TcpStream::connect(addr).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\n").ok()?;
        Some(s)
    };
    let slowest = std::cell::Cell::new(Duration::ZERO);
    let check = |delay: Duration, failures: &mut Vec<String>| {
        let t0 = Instant::now();
        match scrape_after(&addr, delay) {
            Ok(body) if body.contains("moneysocket_relay_connections") => {}
            other => failures.push(format!("{other:?}")),
        }
        let took = t0.elapsed().saturating_sub(delay);
        slowest.set(slowest.get().max(took));
        assert!(took < Duration::from_secs(5));
    };
    let held: Vec<_> = (0..2_000).filter_map(|_| stall(&addr)).collect();
    assert_eq!(held.len(), 2_000);
    let mut failures = Vec::new();
    for _ in 0..6 {
        check(Duration::ZERO, &mut failures);
    }
    assert!(failures.is_empty(), "beside 2,000 held: {failures:#?}");
    drop(held);
    // The flood runs until it has opened 4,000 requests and the scraper has scraped 5 times
    // beside it (a count, not a time: on a quiet machine 4,000 opened before a second
    // scrape), at most 16,000 requests.
    let opened = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (addr, opened, enough) = (addr.clone(), opened.clone(), enough.clone());
            std::thread::spawn(move || {
                let mut held = std::collections::VecDeque::new();
                loop {
                    let n = opened.fetch_add(1, Ordering::Relaxed);
                    if n >= 16_000 || (n >= 4_000 && enough.load(Ordering::Relaxed)) {
                        break;
                    }
                    held.extend(stall(&addr));
                    if held.len() > 500 {
                        held.pop_front();
                    }
                }
            })
        })
        .collect();
    let mut scrapes = 0;
    let mut in_a_row = 0;
    let mut worst_run = 0;
    while !flood.iter().all(|t| t.is_finished()) {
        let before = failures.len();
        check(Duration::from_millis(10), &mut failures);
        in_a_row = if failures.len() > before {
            in_a_row + 1
        } else {
            0
        };
        worst_run = worst_run.max(in_a_row);
        scrapes += 1;
        if scrapes >= 5 {
            enough.store(true, Ordering::Relaxed);
        }
    }
    for t in flood {
        t.join().expect("flood thread");
    }
    eprintln!(
        "{} of {scrapes} scrapes failed during a flood of 4,000 stalled requests; slowest {:?}",
        failures.len(),
        slowest.get()
    );
    assert!(scrapes >= 3, "{scrapes}");
    assert!(
        worst_run <= 1,
        "{worst_run} scrapes in a row failed: {failures:#?}"
    );
    assert!(
        failures.len() <= (scrapes / 100).max(1),
        "{} of {scrapes} scrapes failed: {failures:#?}",
        failures.len()
    );
}

// ---------------------------------------------------------------- newcomer friction

#[test]
fn metrics_on_the_relays_own_port_fails_before_printing_success() {
    let port = support::free_port().to_string();
    let (code, out, err) = run(&[
        "relay",
        "--port",
        &port,
        "--metrics",
        &format!("127.0.0.1:{port}"),
    ]);
    assert_eq!(code, 1, "{out} {err}");
    assert_eq!(out, "", "success printed before the failure");
    assert!(err.contains("the relay itself listens there"), "{err}");
}

#[test]
fn bind_and_metrics_accept_host_names() {
    let args = [
        "relay",
        "--bind",
        "localhost",
        "--port",
        "0",
        "--metrics",
        "localhost:0",
    ]
    .map(std::ffi::OsStr::new);
    // the harness reads the `metrics at: http://` line
    let relay = Relay::spawn(&args, false);
    let url = relay.url.clone();
    drop(relay);
    let host = url.strip_prefix("ws://").expect("ws url");
    let ip: SocketAddr = host.parse().expect("an address");
    assert!(ip.ip().is_loopback(), "{url}");
    // and in the TOML file
    let relay = Relay::start("bind = \"localhost\"\nmetrics = \"localhost:0\"\n");
    let url = relay.url.clone();
    drop(relay);
    assert!(url.starts_with("ws://"), "{url}");
}

#[test]
fn config_errors_name_the_values() {
    let dir = support::temp_dir();
    let cfg = dir.join("relay.toml");
    std::fs::write(&cfg, "max_pending = 1000\n").expect("write");
    let (code, _, err) = run(&["relay", "--config", cfg.to_str().expect("path")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("high_water (65536)") && err.contains("max_pending (1000)"),
        "{err}"
    );
    std::fs::write(&cfg, "max_connections = 100\nmax_unpaired = 200\n").expect("write");
    let (code, _, err) = run(&["relay", "--config", cfg.to_str().expect("path")]);
    assert_eq!(code, 1);
    assert!(err.contains("max_unpaired (200)"), "{err}");
}

#[test]
fn beacon_decode_errors_say_what_was_wrong() {
    let seed = "000102030405060708090a0b0c0d0e0f";
    let (code, beacon, err) = run(&[
        "beacon",
        "encode",
        "--seed",
        seed,
        "--location",
        "ws://relay.example:11060",
    ]);
    assert_eq!(code, 0, "{err}");
    let beacon = beacon.trim().to_owned();
    // one character changed: the checksum fails
    let last = beacon.chars().last().expect("char");
    let typo = format!(
        "{}{}",
        &beacon[..beacon.len() - 1],
        if last == 'q' { 'p' } else { 'q' }
    );
    let (code, _, err) = run(&["beacon", "decode", &typo]);
    assert_eq!(code, 1);
    assert!(
        err.contains("could not decode bech32 string") && err.contains("checksum"),
        "{err}"
    );
    // a valid bech32 string with another prefix
    let data = bech32_data(&beacon);
    let other = encode_bech32("moneysockex", &data);
    let (_, _, err) = run(&["beacon", "decode", &other]);
    assert!(err.contains("wrong prefix \"moneysockex\""), "{err}");
    // the right prefix around bytes that are no beacon
    let junk = encode_bech32("moneysocket", &[0xfd, 0x00]);
    let (code, _, err) = run(&["beacon", "decode", &junk]);
    assert_eq!(code, 1);
    assert!(err.contains("bad TLV"), "{err}");
}

fn bech32_data(s: &str) -> Vec<u8> {
    let c = moneysocket_core::bech::Checked::new(s).expect("bech32");
    let mut buf = vec![0u8; s.len()];
    c.bytes_into(&mut buf).expect("bytes").to_vec()
}

fn encode_bech32(hrp: &str, data: &[u8]) -> String {
    let mut s = String::new();
    moneysocket_core::bech::encode_to_fmt(&mut s, hrp, data).expect("encode");
    s
}

#[test]
fn frame_seal_refuses_what_is_not_a_message() {
    let seed = "000102030405060708090a0b0c0d0e0f";
    let (code, _, err) = run(&["frame", "seal", "--seed", seed, "{\"a\": 1}"]);
    assert_eq!(code, 1);
    assert!(err.contains("not a Moneysocket message"), "{err}");
    let (code, sealed, _) = run(&["frame", "seal", "--raw", "--seed", seed, "{\"a\": 1}"]);
    assert_eq!(code, 0);
    // what --raw seals, `frame open` refuses
    let (code, _, _) = run(&["frame", "open", "--seed", seed, sealed.trim()]);
    assert_eq!(code, 1);
    let ping = Message::request_ping(Uuid::v4_from_bytes([5; 16]), Timestamp::from_secs(1))
        .to_json_string();
    let (code, sealed, _) = run(&["frame", "seal", "--seed", seed, &ping]);
    assert_eq!(code, 0);
    let (_, opened, _) = run(&["frame", "open", "--seed", seed, sealed.trim()]);
    assert_eq!(opened.trim(), ping);
}

/// A missing vectors directory is reported on stderr even when the harness captures the
/// test's output (checked in a child run of this very test).
#[test]
fn vectors_skip_is_reported_without_nocapture() {
    const INNER: &str = "RELAY_POLICY_VECTORS_INNER";
    if std::env::var_os(INNER).is_some() {
        assert!(common::vectors_dir().is_none());
        return;
    }
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["vectors_skip_is_reported_without_nocapture", "--exact"])
        .env(INNER, "1")
        .env("MONEYSOCKET_VECTORS", "/nonexistent/vectors")
        .env_remove("CI")
        .output()
        .expect("run the test binary");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("SKIPPING vector tests"), "{err}");
}

/// README's `bench relay --pairs 100` against a default relay names the limit it hit; the
/// relay started as README says (`--max-per-ip 0`) takes it.
#[test]
fn bench_names_the_limit_and_the_readme_command_works() {
    let _g = heavy();
    let bench = |url: &str| {
        run(&[
            "bench",
            "relay",
            "--url",
            url,
            "--pairs",
            "100",
            "--messages",
            "20",
            "--timeout",
            "60",
        ])
    };
    let default = Relay::start_logging("");
    let (code, out, _) = bench(&default.ws_url());
    assert_eq!(code, 1);
    assert!(out.contains("hint: the relay refused connections"), "{out}");
    assert!(out.contains("--max-per-ip 0"), "{out}");
    drop(default);
    let args = ["relay", "--port", "0", "--max-per-ip", "0"].map(std::ffi::OsStr::new);
    let readme = Relay::spawn(&args, false);
    let (code, out, err) = bench(&readme.url);
    drop(readme);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("errors 0"), "{out}");
}
