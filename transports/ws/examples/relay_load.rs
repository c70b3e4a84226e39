//! Load generator for a v0 relay (ours or any other): opens `PAIRS` rendezvous pairs
//! (cleartext REQUEST_RENDEZVOUS, as every v0 peer sends it) plus `IDLE` idle connections,
//! then each pair ping-pongs `MESSAGES` frames of `SIZE` bytes (opaque bytes: the relay does
//! not decrypt, so no AES is needed to load it). Prints forwarded messages per second and
//! round-trip percentiles.
//!
//! `cargo run --release -p moneysocket-ws --example relay_load -- ws://127.0.0.1:11060 PAIRS MESSAGES SIZE [IDLE]`
//!
//! The relay needs `max_per_ip = 0` (everything comes from one address) and
//! `max_connections` above `2 * PAIRS + IDLE`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use moneysocket_core::message::{Hex256, Message, MessageKind, Timestamp};
use moneysocket_core::uuid::Uuid;
use moneysocket_ws::{Config, ConnId, Event, Transport};

fn arg(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:11060".into());
    let pairs = arg(&args, 2, 10);
    let messages = arg(&args, 3, 1000);
    let size = arg(&args, 4, 300).max(16);
    let idle = arg(&args, 5, 0);

    let mut t = Transport::new(Config {
        max_connections: usize::MAX,
        idle_timeout: None,
        ping_interval: None,
        handshake_timeout: Duration::from_secs(60),
        ..Config::default()
    })
    .map_err(|e| e.to_string())?;
    let mut events = Vec::new();
    let total = 2 * pairs + idle;
    let mut ids = Vec::with_capacity(total);
    let mut open = 0usize;
    for _ in 0..total {
        ids.push(t.dial(&url, None)?);
        // keep the handshakes moving while dialing
        t.poll(&mut events, Some(Duration::ZERO))
            .map_err(|e| e.to_string())?;
        open += count_opened(&mut events)?;
    }
    while open < total {
        t.poll(&mut events, Some(Duration::from_millis(10)))
            .map_err(|e| e.to_string())?;
        open += count_opened(&mut events)?;
    }
    eprintln!("{total} connections open");

    // rendezvous: first halves, then second halves
    let rid = |i: usize| Hex256::parse(&format!("{i:064x}")).expect("hex");
    let req = |i: usize, n: u8| {
        Message::request_rendezvous(
            Uuid::v4_from_bytes([n; 16]),
            Timestamp::from_secs(1_700_000_000),
            rid(i),
        )
        .to_json_string()
        .into_bytes()
    };
    let a: Vec<ConnId> = ids[..pairs].to_vec();
    let b: Vec<ConnId> = ids[pairs..2 * pairs].to_vec();
    for (i, &c) in a.iter().enumerate() {
        t.send(c, req(i, 1)).map_err(|e| e.to_string())?;
    }
    wait_notifications(&mut t, pairs, MessageKind::NotifyRendezvousNotReady)?;
    for (i, &c) in b.iter().enumerate() {
        t.send(c, req(i, 2)).map_err(|e| e.to_string())?;
    }
    wait_notifications(&mut t, 2 * pairs, MessageKind::NotifyRendezvous)?;
    eprintln!("{pairs} pairs formed");

    // closed-loop ping-pong: a sends (8-byte send time + padding), b echoes, a records RTT
    let start = Instant::now();
    let payload = |sent: Instant| {
        let mut p = vec![0xa5u8; size];
        p[..8].copy_from_slice(&(sent.duration_since(start).as_nanos() as u64).to_le_bytes());
        p
    };
    let is_a: HashMap<ConnId, usize> = a.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let mut left = vec![messages; pairs];
    let mut rtts: Vec<u64> = Vec::with_capacity(pairs * messages);
    for &c in &a {
        if messages > 0 {
            t.send(c, payload(Instant::now()))
                .map_err(|e| e.to_string())?;
        }
    }
    let mut done = left.iter().filter(|&&l| l == 0).count();
    let mut forwarded = 0u64;
    while done < pairs {
        t.poll(&mut events, Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            match ev {
                Event::Frame { conn, data } => {
                    forwarded += 1;
                    if let Some(&i) = is_a.get(&conn) {
                        let mut ns = [0u8; 8];
                        ns.copy_from_slice(&data[..8]);
                        let sent = u64::from_le_bytes(ns);
                        let now = start.elapsed().as_nanos() as u64;
                        rtts.push(now.saturating_sub(sent));
                        left[i] -= 1;
                        if left[i] == 0 {
                            done += 1;
                        } else {
                            t.send(conn, payload(Instant::now()))
                                .map_err(|e| e.to_string())?;
                        }
                    } else {
                        // b echoes on its own connection; the relay forwards it to a
                        t.send(conn, data).map_err(|e| e.to_string())?;
                    }
                }
                Event::Closed { conn, cause } => {
                    return Err(format!("connection {} closed: {cause}", conn.0))
                }
                _ => {}
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    rtts.sort_unstable();
    let pct = |p: f64| {
        rtts.get(((rtts.len() as f64 - 1.0) * p) as usize)
            .map_or(0.0, |&ns| ns as f64 / 1000.0)
    };
    println!(
        "pairs {pairs} messages/pair {messages} size {size} idle {idle}: {:.0} forwarded msgs/s, rtt p50 {:.0} us p99 {:.0} us ({secs:.2} s)",
        forwarded as f64 / secs,
        pct(0.50),
        pct(0.99),
    );
    if idle > 0 {
        eprintln!("holding {idle} idle connections for 30 s (measure the relay's RSS now)");
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            t.poll(&mut events, Some(Duration::from_millis(200)))
                .map_err(|e| e.to_string())?;
            events.clear();
        }
    }
    Ok(())
}

fn count_opened(events: &mut Vec<Event>) -> Result<usize, String> {
    let mut n = 0;
    for ev in events.drain(..) {
        match ev {
            Event::Opened { .. } => n += 1,
            Event::Closed { conn, cause } => {
                return Err(format!("connection {} failed: {cause}", conn.0))
            }
            _ => {}
        }
    }
    Ok(n)
}

fn wait_notifications(t: &mut Transport, n: usize, kind: MessageKind) -> Result<(), String> {
    let mut events = Vec::new();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while got < n {
        if Instant::now() > deadline {
            return Err(format!("only {got} of {n} {kind:?}"));
        }
        t.poll(&mut events, Some(Duration::from_millis(10)))
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            match ev {
                Event::Frame { data, .. } => {
                    let m = Message::parse(&data).map_err(|e| format!("{e:?}"))?;
                    if m.kind() == kind {
                        got += 1;
                    }
                }
                Event::Closed { conn, cause } => {
                    return Err(format!("connection {} closed: {cause}", conn.0))
                }
                _ => {}
            }
        }
    }
    Ok(())
}
