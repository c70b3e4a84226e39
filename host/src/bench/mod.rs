//! `moneysocket bench relay`: a load generator for any v0 relay.
//!
//! Each pair is two websocket connections dialed with `moneysocket-ws` (binary frames,
//! `Host: host:port`). Side A sends the cleartext `REQUEST_RENDEZVOUS` for a fresh seed's
//! rendezvous id and must get `NOTIFY_RENDEZVOUS_NOT_READY`; then side B sends the same
//! request; both must get `NOTIFY_RENDEZVOUS`. When every pair is up, A sends sealed v0
//! messages (a `NOTIFY_ERROR` padded with filler text to the requested frame size, sealed
//! with the pair's key; a small pool per pair is sealed once so the generator spends its CPU on
//! I/O), B echoes each frame back unchanged (optionally opening and validating it first), and
//! A checks the echo is byte-identical and records the round trip. Each round trip is two
//! relay forwards.
//!
//! Closed loop (default): one message in flight per pair. Open loop (`--rate R`): message k
//! of the run is scheduled at `start + k / R` on pair `k mod pairs`, and its latency is
//! measured from that scheduled time, so a stalled relay shows up as latency instead of
//! silently lowering the offered load (no coordinated omission).
//!
//! Direct mode (`--direct`) is the baseline: the URL is an echo server (`moneysocket bench
//! echo`), each "pair" is one connection, no rendezvous, and each round trip is one frame
//! moved by the server.
//!
//! Idle mode (`--idle N`) opens N connections that each request a distinct rendezvous id,
//! so they stay unpaired, and holds them; with `--relay-pid` it reports the relay's resident
//! memory per idle connection.

pub mod echo;
pub mod stats;
pub mod stream;
pub mod terminus;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use moneysocket_core::frame::{self, FramePolicy};
use moneysocket_core::message::{Hex256, Message, MessageKind, Timestamp};
use moneysocket_core::seed::{AesKey, SharedSeed};
use moneysocket_core::session::{read_notice, RelayNotice};
use moneysocket_core::uuid::Uuid;
use moneysocket_ws::{Bytes, ConnId, Event, Transport, TransportConfig};
use rand_core::OsRng;
use serde_json::json;

use stats::Latencies;

/// Longest sleep of the open loop between polls when the next send is near.
const OPEN_LOOP_NAP: Duration = Duration::from_micros(50);

/// What a ping-pong run is asked to do.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `ws://host:port` of the relay (or of the echo server with `direct`).
    pub url: String,
    /// Pairs (connections in direct mode).
    pub pairs: usize,
    /// Round trips per pair.
    pub messages: usize,
    /// Target frame size in bytes (rounded to the nearest sealed size, a multiple of 16).
    pub size: usize,
    /// Open loop at this many messages sent per second in total; `None` = closed loop.
    pub rate: Option<f64>,
    /// Side B opens and validates every frame before echoing it.
    pub verify: bool,
    /// Baseline: talk to an echo server, no rendezvous.
    pub direct: bool,
    /// Overall limit; what was measured so far is reported when it passes.
    pub timeout: Duration,
    /// Most websocket handshakes in progress at once.
    pub window: usize,
    /// Relay (or echo server) process to sample CPU time from.
    pub server_pid: Option<u32>,
    /// Sealed frames per pair (cycled).
    pub pool: usize,
    /// Generator threads, each with its own event loop and an equal share of the pairs
    /// (and of `rate`): for relays with several workers on machines with cores to spare.
    pub threads: usize,
}

/// What an idle run is asked to do.
#[derive(Debug, Clone)]
pub struct IdleOptions {
    /// `ws://host:port` of the relay.
    pub url: String,
    /// Connections to open.
    pub idle: usize,
    /// How long to hold them once all are waiting.
    pub hold: Duration,
    /// Limit on reaching the waiting state.
    pub timeout: Duration,
    /// Most websocket handshakes in progress at once.
    pub window: usize,
    /// Relay process whose RSS is read before and after.
    pub server_pid: Option<u32>,
}

/// The outcome of a run: the text and JSON reports and whether it completed cleanly.
pub struct Outcome {
    /// Human-readable report.
    pub text: String,
    /// Machine-readable report.
    pub json: serde_json::Value,
    /// Everything done and no error.
    pub ok: bool,
}

/// Transport settings of the generator: no accept limits apply to dialing, no keepalive (the
/// relay pings us, and pongs are answered by the transport).
fn client_config() -> TransportConfig {
    TransportConfig {
        max_connections: 1 << 20,
        max_per_ip: 0,
        idle_timeout: None,
        ping_interval: None,
        ..TransportConfig::default()
    }
}

fn now_timestamp() -> Timestamp<'static> {
    let us = u64::try_from(moneysocket_ws::unix_time().as_micros()).unwrap_or(u64::MAX);
    Timestamp::from_micros(us)
}

fn rendezvous_request(rid: &Hex256) -> Bytes {
    let msg = Message::request_rendezvous(Uuid::new_v4(&mut OsRng), now_timestamp(), rid.clone());
    Bytes::from(msg.to_json_string().into_bytes())
}

/// The sealed frame size used for a requested `size`: the nearest multiple of 16 (at least 32).
pub fn sealed_size(size: usize) -> usize {
    (((size + 8) / 16) * 16).max(32)
}

/// Seals `n` `NOTIFY_ERROR` messages whose sealed frames are exactly `sealed_size(size)`
/// bytes (the filler text sets the length).
fn seal_pool(key: &AesKey, size: usize, n: usize) -> Result<Vec<Bytes>, String> {
    let sealed = sealed_size(size);
    // zero padding is 1..=16 bytes: the longest plaintext with this sealed length
    let plain = sealed - frame::IV_LEN - 1;
    let mut pool = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let uuid = Uuid::new_v4(&mut OsRng);
        let ts = now_timestamp();
        let base = Message::notify_error(uuid, None, ts, "").json_len();
        if base > plain {
            return Err(format!(
                "--size {size} is too small: the smallest sealed message is {} bytes",
                frame::sealed_len(base)
            ));
        }
        let filler = "x".repeat(plain - base);
        let json = Message::notify_error(uuid, None, ts, filler.as_str()).to_json_string();
        let mut out = vec![0u8; frame::sealed_len(json.len())];
        let len = frame::seal_with_rng(key, &mut OsRng, json.as_bytes(), &mut out)
            .map_err(|e| format!("sealing: {e}"))?
            .len();
        out.truncate(len);
        pool.push(Bytes::from(out));
    }
    Ok(pool)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

struct Pair {
    key: AesKey,
    rid: Hex256,
    a: Option<ConnId>,
    b: Option<ConnId>,
    a_open: bool,
    b_open: bool,
    a_not_ready: bool,
    b_requested: bool,
    a_paired: bool,
    b_paired: bool,
    ready: bool,
    failed: bool,
    frames: Vec<Bytes>,
    next_frame: usize,
    /// Send (closed loop) or scheduled (open loop) time and pool index of frames in flight.
    in_flight: VecDeque<(Instant, usize)>,
    sent: usize,
    done: usize,
}

/// Counts and first examples of errors.
#[derive(Default)]
struct Errors {
    count: u64,
    examples: Vec<String>,
}

impl Errors {
    fn add(&mut self, what: String) {
        self.count += 1;
        if self.examples.len() < 5 {
            self.examples.push(what);
        }
    }
}

/// One generator thread's share of the run: its pairs on its own event loop.
struct Load {
    o: LoadOptions,
    t: Transport,
    pairs: Vec<Pair>,
    roles: HashMap<ConnId, (usize, Side)>,
    handshaking: usize,
    next_dial: usize,
    ready: usize,
    failed: usize,
    finished: usize,
    running: bool,
    lat: Latencies,
    errors: Errors,
    open_buf: Vec<u8>,
}

impl Load {
    fn dial_more(&mut self) {
        let per_pair = if self.o.direct { 1 } else { 2 };
        while self.next_dial < self.pairs.len() && self.handshaking + per_pair <= self.o.window {
            let i = self.next_dial;
            self.next_dial += 1;
            for side in [Side::A, Side::B].into_iter().take(per_pair) {
                match self.t.dial(&self.o.url, None) {
                    Ok(c) => {
                        self.handshaking += 1;
                        self.roles.insert(c, (i, side));
                        let p = &mut self.pairs[i];
                        match side {
                            Side::A => p.a = Some(c),
                            Side::B => p.b = Some(c),
                        }
                    }
                    Err(e) => {
                        self.fail(i, format!("dial: {e}"));
                        break;
                    }
                }
            }
        }
    }

    fn fail(&mut self, i: usize, why: String) {
        let p = &mut self.pairs[i];
        if p.failed {
            return;
        }
        self.errors.add(format!("pair {i}: {why}"));
        p.failed = true;
        p.in_flight.clear();
        // Closing a connection that is still handshaking produces no Closed event: give its
        // window slot back here (also for the one whose Closed event brought us here).
        for (c, open) in [(p.a, p.a_open), (p.b, p.b_open)] {
            if c.is_some() && !open {
                self.handshaking = self.handshaking.saturating_sub(1);
            }
        }
        self.failed += 1;
        if self.running && p.ready && p.done < self.o.messages {
            // it is part of the run; it will never finish
            self.finished += 1;
        }
        for c in [p.a, p.b].into_iter().flatten() {
            self.t.close(c);
        }
    }

    fn mark_ready(&mut self, i: usize) {
        let p = &mut self.pairs[i];
        if !p.ready && !p.failed {
            p.ready = true;
            self.ready += 1;
        }
    }

    /// Sends the next pooled frame on pair `i`, in flight since `at`.
    fn send_next(&mut self, i: usize, at: Instant) {
        let p = &mut self.pairs[i];
        let (Some(a), false) = (p.a, p.failed) else {
            return;
        };
        let idx = p.next_frame;
        p.next_frame = (p.next_frame + 1) % p.frames.len();
        p.sent += 1;
        p.in_flight.push_back((at, idx));
        let frame = p.frames[idx].clone();
        if let Err(e) = self.t.send(a, frame) {
            self.fail(i, format!("send: {e}"));
        }
    }

    fn on_event(&mut self, ev: Event, now: Instant) {
        match ev {
            Event::Opened { conn, .. } => {
                let Some(&(i, side)) = self.roles.get(&conn) else {
                    return;
                };
                if self.pairs[i].failed {
                    // its slot was given back when the pair failed
                    return;
                }
                self.handshaking = self.handshaking.saturating_sub(1);
                if self.o.direct {
                    self.pairs[i].a_open = true;
                    self.mark_ready(i);
                    return;
                }
                let p = &mut self.pairs[i];
                match side {
                    Side::A => {
                        p.a_open = true;
                        let req = rendezvous_request(&p.rid);
                        if let Err(e) = self.t.send(conn, req) {
                            self.fail(i, format!("send: {e}"));
                        }
                    }
                    Side::B => {
                        p.b_open = true;
                        self.request_b(i);
                    }
                }
            }
            Event::Frame { conn, data } => {
                let Some(&(i, side)) = self.roles.get(&conn) else {
                    return;
                };
                if self.pairs[i].failed {
                    return;
                }
                if self.pairs[i].ready {
                    self.on_data(i, side, conn, data, now);
                } else {
                    self.on_handshake(i, side, &data);
                }
            }
            Event::Closed { conn, cause } => {
                let Some(&(i, _)) = self.roles.get(&conn) else {
                    return;
                };
                self.fail(i, format!("connection closed: {cause}"));
            }
            _ => {}
        }
    }

    fn request_b(&mut self, i: usize) {
        let p = &mut self.pairs[i];
        if let (true, true, false, Some(b)) = (p.a_not_ready, p.b_open, p.b_requested, p.b) {
            p.b_requested = true;
            let req = rendezvous_request(&p.rid);
            if let Err(e) = self.t.send(b, req) {
                self.fail(i, format!("send: {e}"));
            }
        }
    }

    /// A frame before the pair is up: must be a rendezvous notification for our id.
    fn on_handshake(&mut self, i: usize, side: Side, data: &[u8]) {
        let (notice, rid) = match read_notice(data) {
            Ok(n) => n,
            Err(e) => {
                self.fail(i, format!("unexpected frame before pairing: {e}"));
                return;
            }
        };
        if rid.as_ref() != Some(&self.pairs[i].rid) {
            self.fail(
                i,
                format!("{notice:?} for another rendezvous id before pairing"),
            );
            return;
        }
        let p = &mut self.pairs[i];
        match (side, notice) {
            (Side::A, RelayNotice::NotReady) if !p.a_not_ready => {
                p.a_not_ready = true;
                self.request_b(i);
            }
            (Side::A, RelayNotice::Paired) if p.a_not_ready && !p.a_paired => {
                p.a_paired = true;
            }
            (Side::B, RelayNotice::Paired) if p.b_requested && !p.b_paired => {
                p.b_paired = true;
            }
            (s, k) => {
                let s = if s == Side::A { "A" } else { "B" };
                self.fail(i, format!("side {s}: unexpected {k:?} in handshake"));
                return;
            }
        }
        let p = &self.pairs[i];
        if p.a_paired && p.b_paired {
            self.mark_ready(i);
        }
    }

    /// A frame once the pair is up: B echoes, A checks and records.
    fn on_data(&mut self, i: usize, side: Side, conn: ConnId, data: Bytes, now: Instant) {
        if side == Side::B {
            if self.o.verify {
                if let Err(e) = self.verify(i, &data) {
                    self.fail(i, format!("side B: {e}"));
                    return;
                }
            }
            if let Err(e) = self.t.send(conn, data) {
                self.fail(i, format!("echo: {e}"));
            }
            return;
        }
        let p = &mut self.pairs[i];
        let Some((at, idx)) = p.in_flight.pop_front() else {
            let what = describe(&data);
            self.fail(i, format!("side A: unexpected frame ({what})"));
            return;
        };
        if data != p.frames[idx] {
            let what = describe(&data);
            self.fail(
                i,
                format!("side A: echo differs from what was sent ({what})"),
            );
            return;
        }
        self.lat.record(now.saturating_duration_since(at));
        p.done += 1;
        if p.done == self.o.messages {
            self.finished += 1;
        } else if self.o.rate.is_none() && p.sent < self.o.messages {
            self.send_next(i, now);
        }
    }

    fn verify(&mut self, i: usize, data: &[u8]) -> Result<(), String> {
        if self.open_buf.len() < data.len() {
            self.open_buf.resize(data.len(), 0);
        }
        let msg = frame::receive(
            Some(&self.pairs[i].key),
            FramePolicy::Paired,
            data,
            &mut self.open_buf,
        )
        .map_err(|e| format!("invalid frame: {e}"))?
        .message;
        if msg.kind() != MessageKind::NotifyError {
            return Err(format!("unexpected {}", msg.kind().name()));
        }
        Ok(())
    }
}

/// A short description of an unexpected frame (a rendezvous END is named).
fn describe(data: &[u8]) -> String {
    match Message::parse(data) {
        Ok(m) => format!("cleartext {}", m.kind().name()),
        Err(_) => format!("{} bytes", data.len()),
    }
}

fn us(d: Option<Duration>) -> Option<f64> {
    d.map(|d| (d.as_nanos() as f64 / 1000.0 * 10.0).round() / 10.0)
}

fn fmt_us(d: Option<f64>) -> String {
    d.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} µs"))
}

/// A fresh pair (its seed, key, rendezvous id and sealed frames).
fn new_pair(o: &LoadOptions) -> Result<Pair, String> {
    let seed = SharedSeed::generate(&mut OsRng);
    let key = seed.v0_aes_key();
    let frames = seal_pool(&key, o.size, o.pool)?;
    Ok(Pair {
        key,
        rid: Hex256::from(seed.v0_rendezvous_id()),
        a: None,
        b: None,
        a_open: false,
        b_open: false,
        a_not_ready: false,
        b_requested: false,
        a_paired: false,
        b_paired: false,
        ready: false,
        failed: false,
        frames,
        next_frame: 0,
        in_flight: VecDeque::new(),
        sent: 0,
        done: 0,
    })
}

impl Load {
    fn new(o: LoadOptions, pairs: Vec<Pair>) -> Result<Load, String> {
        let total = pairs.len().saturating_mul(o.messages);
        Ok(Load {
            t: Transport::new(client_config()).map_err(|e| format!("event loop: {e}"))?,
            pairs,
            roles: HashMap::new(),
            handshaking: 0,
            next_dial: 0,
            ready: 0,
            failed: 0,
            finished: 0,
            running: false,
            lat: Latencies::with_capacity(total),
            errors: Errors::default(),
            open_buf: Vec::new(),
            o,
        })
    }

    /// Dials and pairs every pair; `true` if `deadline` passed first.
    fn setup(&mut self, deadline: Instant, events: &mut Vec<Event>) -> Result<bool, String> {
        loop {
            self.dial_more();
            if self.pairs.iter().all(|p| p.ready || p.failed) {
                return Ok(false);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(true);
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            self.t
                .poll(events, Some(wait))
                .map_err(|e| format!("poll: {e}"))?;
            let now = Instant::now();
            for ev in events.drain(..) {
                self.on_event(ev, now);
            }
        }
    }

    /// The ping-pong from `start` on the pairs that are up, at `rate` messages per second in
    /// all (open loop) or one in flight per pair; `true` if `deadline` passed first.
    fn run(
        &mut self,
        start: Instant,
        deadline: Instant,
        rate: Option<f64>,
        events: &mut Vec<Event>,
    ) -> Result<bool, String> {
        let ready: Vec<usize> = (0..self.pairs.len())
            .filter(|&i| self.pairs[i].ready && !self.pairs[i].failed)
            .collect();
        let goal = ready.len();
        self.finished = if self.o.messages == 0 { goal } else { 0 };
        self.running = true;
        let mut scheduled = 0usize; // open loop: messages scheduled so far
        let open_total = goal.saturating_mul(self.o.messages);
        let interval = rate.map(|r| Duration::from_secs_f64(1.0 / r));
        if interval.is_none() && self.o.messages > 0 {
            for &i in &ready {
                self.send_next(i, start);
            }
        }
        while self.finished < goal {
            let mut wait = Duration::from_millis(50);
            // open loop, next send under 2 ms away: time left until it
            let mut near: Option<Duration> = None;
            if let Some(iv) = interval {
                let now = Instant::now();
                while scheduled < open_total {
                    let k = u32::try_from(scheduled).unwrap_or(u32::MAX);
                    let at = start + iv.saturating_mul(k);
                    if at > now {
                        let until = at - now;
                        // epoll sleeps in whole milliseconds: when the next send is close,
                        // poll without waiting and nap briefly (see below)
                        wait = if until > Duration::from_millis(2) {
                            until - Duration::from_millis(1)
                        } else {
                            near = Some(until);
                            Duration::ZERO
                        };
                        break;
                    }
                    let i = ready[scheduled % goal];
                    scheduled += 1;
                    if !self.pairs[i].failed {
                        self.send_next(i, at);
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(true);
            }
            wait = wait.min(deadline - now);
            self.t
                .poll(events, Some(wait))
                .map_err(|e| format!("poll: {e}"))?;
            if let (Some(until), true) = (near, events.is_empty()) {
                // Nothing arrived: sleep a little instead of spinning, so the server (which
                // shares the machine) gets the CPU. Receive times are late by at most this
                // nap plus timer slack (~0.1 ms): the resolution of open-loop latencies.
                std::thread::sleep(until.min(OPEN_LOOP_NAP));
            }
            let now = Instant::now();
            for ev in events.drain(..) {
                self.on_event(ev, now);
            }
        }
        Ok(false)
    }

    /// Closes every connection politely, waiting at most a second.
    fn close_all(&mut self, events: &mut Vec<Event>) {
        for p in &self.pairs {
            for c in [p.a, p.b].into_iter().flatten() {
                self.t.close(c);
            }
        }
        let close_until = Instant::now() + Duration::from_secs(1);
        while !self.t.is_empty() && Instant::now() < close_until {
            let _ = self.t.poll(events, Some(Duration::from_millis(20)));
            events.clear();
        }
    }
}

/// What one generator thread measured.
struct ShardDone {
    lat: Latencies,
    errors: Errors,
    pairs: usize,
    ready: usize,
    failed: usize,
    timed_out: bool,
    /// When its run ended (all its pairs done, or the deadline).
    ended: Instant,
}

/// Runs one generator thread: set-up, then (at the gate) the run from the common start,
/// then (at the gate again) the polite close. Every thread passes the gate three times,
/// whatever happens, so that the others never wait for it in vain.
fn shard(
    o: LoadOptions,
    pairs: Vec<Pair>,
    rate: Option<f64>,
    deadline: Instant,
    gate: &std::sync::Barrier,
    start: &std::sync::OnceLock<Instant>,
) -> ShardDone {
    let n = pairs.len();
    let mut events = Vec::new();
    let mut l = Load::new(o, pairs);
    let mut timed_out = match &mut l {
        Ok(l) => l.setup(deadline, &mut events),
        Err(e) => Err(e.clone()),
    };
    gate.wait(); // set up
    gate.wait(); // start chosen
    let t0 = start.get().copied().unwrap_or_else(Instant::now);
    if let (Ok(l), Ok(false)) = (&mut l, &timed_out) {
        timed_out = l.run(t0, deadline, rate, &mut events);
    }
    let ended = Instant::now();
    gate.wait(); // every run over: the CPU times are read
    let mut errors = Errors::default();
    match (l, timed_out) {
        (Ok(mut l), t) => {
            l.close_all(&mut events);
            if let Err(e) = &t {
                l.errors.add(e.clone());
            }
            ShardDone {
                lat: l.lat,
                pairs: n,
                ready: l.ready,
                failed: l.failed,
                timed_out: matches!(t, Ok(true)),
                errors: l.errors,
                ended,
            }
        }
        (Err(e), _) => {
            errors.add(e);
            ShardDone {
                lat: Latencies::default(),
                errors,
                pairs: n,
                ready: 0,
                failed: n,
                timed_out: false,
                ended,
            }
        }
    }
}

/// Runs a ping-pong load (relay or direct) and reports.
pub fn run_load(o: LoadOptions) -> Result<Outcome, String> {
    if o.pairs == 0 {
        return Err("--pairs must be at least 1".into());
    }
    if let Some(r) = o.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err("--rate must be a positive number".into());
        }
    }
    moneysocket_ws::parse_ws_url(&o.url).map_err(|e| format!("--url {:?}: {e}", o.url))?;
    let frame_size = sealed_size(o.size);
    let threads = o.threads.clamp(1, o.pairs);
    // each thread gets an equal share of the pairs (and of an open loop's rate)
    let mut shares: Vec<Vec<Pair>> = (0..threads).map(|_| Vec::new()).collect();
    for k in 0..o.pairs {
        shares[k % threads].push(new_pair(&o)?);
    }
    let t0 = Instant::now();
    let deadline = t0 + o.timeout;
    let gate = std::sync::Barrier::new(threads + 1);
    let start = std::sync::OnceLock::new();
    let mut setup = Duration::ZERO;
    let mut times = (None, None, None, None); // server and own CPU, before and after
    let mut begun = t0;
    let shards: Vec<ShardDone> = std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|pairs| {
                let rate = o.rate.map(|r| r * pairs.len() as f64 / o.pairs as f64);
                let (o, gate, start) = (o.clone(), &gate, &start);
                s.spawn(move || shard(o, pairs, rate, deadline, gate, start))
            })
            .collect();
        gate.wait(); // every thread set up
        setup = t0.elapsed();
        times.0 = o.server_pid.and_then(|p| stats::cpu_time(Some(p)));
        times.1 = stats::cpu_time(None);
        begun = Instant::now();
        let _ = start.set(begun);
        gate.wait(); // go
        gate.wait(); // every run over
        times.2 = o.server_pid.and_then(|p| stats::cpu_time(Some(p)));
        times.3 = stats::cpu_time(None);
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    if shards.len() < threads {
        return Err("a generator thread panicked".into());
    }
    let ended = shards.iter().map(|d| d.ended).max().unwrap_or(begun);
    let elapsed = ended.saturating_duration_since(begun);
    let timed_out = shards.iter().any(|d| d.timed_out) || Instant::now() > deadline;
    let diff = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let server_cpu = diff(times.0, times.2);
    let own_cpu = diff(times.1, times.3);
    let mut lat = Latencies::default();
    let mut errors = Errors::default();
    let (mut pairs, mut ready, mut failed) = (0, 0, 0);
    for d in shards {
        lat.merge(d.lat);
        pairs += d.pairs;
        ready += d.ready;
        failed += d.failed;
        errors.count += d
            .errors
            .count
            .saturating_sub(d.errors.examples.len() as u64);
        for e in d.errors.examples {
            errors.add(e);
        }
    }
    let l = Totals {
        o,
        lat,
        errors,
        pairs,
        ready,
        failed,
    };
    report(
        l, frame_size, setup, elapsed, timed_out, server_cpu, own_cpu,
    )
}

/// What the generator threads measured together.
struct Totals {
    o: LoadOptions,
    lat: Latencies,
    errors: Errors,
    pairs: usize,
    ready: usize,
    failed: usize,
}

/// The text and JSON reports of a ping-pong run.
fn report(
    mut l: Totals,
    frame_size: usize,
    setup: Duration,
    elapsed: Duration,
    timed_out: bool,
    server_cpu: Option<Duration>,
    own_cpu: Option<Duration>,
) -> Result<Outcome, String> {
    let round_trips = l.lat.len() as u64;
    let forwards_per_rt: u64 = if l.o.direct { 1 } else { 2 };
    let forwarded = round_trips * forwards_per_rt;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rt_per_s = round_trips as f64 / secs;
    let fwd_per_s = forwarded as f64 / secs;
    let p50 = us(l.lat.quantile(0.50));
    let p90 = us(l.lat.quantile(0.90));
    let p99 = us(l.lat.quantile(0.99));
    let p999 = us(l.lat.quantile(0.999));
    let max = us(l.lat.quantile(1.0));
    let expected = (l.pairs * l.o.messages) as u64;
    let incomplete = l.pairs - l.ready;
    if incomplete > l.failed && timed_out {
        l.errors.add(format!(
            "{} pairs not up before the timeout",
            incomplete - l.failed
        ));
    }
    let ok = !timed_out && l.errors.count == 0 && round_trips == expected;
    let server_cpu_s = server_cpu.map(|d| d.as_secs_f64());
    let fwd_per_server_cpu_s = server_cpu_s
        .filter(|&c| c > 0.0)
        .map(|c| (forwarded as f64 / c).round());
    let server_cpu_pct = server_cpu_s.map(|c| (c / secs * 1000.0).round() / 10.0);
    let own_cpu_pct = own_cpu.map(|d| (d.as_secs_f64() / secs * 1000.0).round() / 10.0);
    // the generator's own CPU per message the server moved (both ends of every pair)
    let own_cpu_us_per_msg = own_cpu
        .filter(|_| forwarded > 0)
        .map(|d| (d.as_secs_f64() * 1e6 / forwarded as f64 * 100.0).round() / 100.0);
    let mode = if l.o.direct { "direct" } else { "relay" };
    let json = json!({
        "mode": mode,
        "url": l.o.url,
        "pairs": l.pairs,
        "threads": l.o.threads.clamp(1, l.pairs),
        "pairs_ready": l.ready,
        "messages_per_pair": l.o.messages,
        "frame_bytes": frame_size,
        "rate": l.o.rate,
        "verify": l.o.verify,
        "round_trips": round_trips,
        "expected_round_trips": expected,
        "forwarded_msgs": forwarded,
        "bytes_forwarded": forwarded * frame_size as u64,
        "setup_s": setup.as_secs_f64(),
        "elapsed_s": elapsed.as_secs_f64(),
        "round_trips_per_s": rt_per_s.round(),
        "forwarded_msgs_per_s": fwd_per_s.round(),
        "latency_us": { "p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max },
        "server_cpu_s": server_cpu_s,
        "server_cpu_pct": server_cpu_pct,
        "forwarded_msgs_per_server_cpu_s": fwd_per_server_cpu_s,
        "loadgen_cpu_pct": own_cpu_pct,
        "loadgen_cpu_s": own_cpu.map(|d| d.as_secs_f64()),
        "loadgen_cpu_us_per_msg": own_cpu_us_per_msg,
        "errors": l.errors.count,
        "error_examples": l.errors.examples,
        "timed_out": timed_out,
    });
    let mut text = String::new();
    use std::fmt::Write as _;
    let _ =
        writeln!(
        text,
        "mode {mode} ({}), {} pairs ({} up, setup {:.2} s), {} messages/pair, frames {} bytes{}{}",
        l.o.url,
        l.pairs,
        l.ready,
        setup.as_secs_f64(),
        l.o.messages,
        frame_size,
        l.o.rate
            .map_or_else(|| ", closed loop".to_owned(), |r| format!(", open loop at {r} msgs/s")),
        if l.o.verify { ", verified" } else { "" },
    );
    let _ = writeln!(
        text,
        "round trips {round_trips}/{expected} in {:.3} s: {:.0} round trips/s, {:.0} forwarded msgs/s ({} bytes)",
        secs,
        rt_per_s,
        fwd_per_s,
        forwarded * frame_size as u64
    );
    let _ = writeln!(
        text,
        "latency p50 {} p90 {} p99 {} p99.9 {} max {}",
        fmt_us(p50),
        fmt_us(p90),
        fmt_us(p99),
        fmt_us(p999),
        fmt_us(max)
    );
    if let (Some(c), Some(pct)) = (server_cpu_s, server_cpu_pct) {
        let _ = writeln!(
            text,
            "server CPU {c:.3} s ({pct}% of one core), {} forwarded msgs per server CPU-second",
            fwd_per_server_cpu_s.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
        );
    }
    if let Some(pct) = own_cpu_pct {
        let per_msg = own_cpu_us_per_msg
            .map_or_else(String::new, |u| format!(", {u:.2} µs per forwarded msg"));
        let _ = writeln!(text, "loadgen CPU {pct}% of one core{per_msg}");
    }
    let _ = write!(text, "errors {}", l.errors.count);
    if timed_out {
        let _ = write!(text, " (timed out after {:?})", l.o.timeout);
    }
    for e in &l.errors.examples {
        let _ = write!(text, "\n  {e}");
    }
    if let Some(hint) = limit_hint(&l.errors.examples) {
        let _ = write!(text, "\n{hint}");
    }
    Ok(Outcome { text, json, ok })
}

/// What limit the relay probably hit, from the errors of refused opening handshakes: the
/// HTTP status when the relay sent one (429: a per-address limit, 503: its connection
/// limit), else the usual suspects.
pub fn limit_hint(errors: &[String]) -> Option<String> {
    // our relay answers a refused upgrade with an HTTP status (`DialError::Refused`:
    // "refused by the server: HTTP 429: …"); other relays just fail the handshake
    let refused = errors
        .iter()
        .find(|e| e.contains("refused by the server") || e.contains("handshake failed"))?;
    let limit = if refused.contains("429") {
        "its per-address limit (max_per_ip, 64 by default)"
    } else if refused.contains("503") {
        "its connection limit (max_connections, 10000 by default)"
    } else {
        "a connection limit: per client IP (max_per_ip, 64 by default) or in all \
         (max_connections, 10000)"
    };
    Some(format!(
        "hint: the relay refused connections during the opening handshake: it hit {limit}. \
         For a load test from one machine start it with `moneysocket relay --max-per-ip 0` \
         (or max_per_ip = 0 in its config)"
    ))
}

/// Opens idle, unpaired connections and holds them.
pub fn run_idle(o: IdleOptions) -> Result<Outcome, String> {
    moneysocket_ws::parse_ws_url(&o.url).map_err(|e| format!("--url {:?}: {e}", o.url))?;
    let mut t = Transport::new(client_config()).map_err(|e| format!("event loop: {e}"))?;
    let rss0 = o.server_pid.and_then(stats::rss_kib);
    let mut conns: HashMap<ConnId, IdleConn> = HashMap::new();
    let mut dialed = 0usize;
    let mut handshaking = 0usize;
    let mut waiting = 0usize;
    let mut errors = Errors::default();
    let t0 = Instant::now();
    let deadline = t0 + o.timeout;
    let mut events = Vec::new();
    let mut timed_out = false;
    loop {
        let settled = dialed == o.idle && conns.values().all(|c| matches!(c, IdleConn::Waiting));
        if settled {
            break;
        }
        while dialed < o.idle && handshaking < o.window {
            dialed += 1;
            match t.dial(&o.url, None) {
                Ok(c) => {
                    handshaking += 1;
                    let seed = SharedSeed::generate(&mut OsRng);
                    conns.insert(c, IdleConn::Dialed(Hex256::from(seed.v0_rendezvous_id())));
                }
                Err(e) => errors.add(format!("dial: {e}")),
            }
        }
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        t.poll(
            &mut events,
            Some((deadline - now).min(Duration::from_millis(50))),
        )
        .map_err(|e| format!("poll: {e}"))?;
        for ev in events.drain(..) {
            idle_event(
                &mut t,
                ev,
                &mut conns,
                &mut handshaking,
                &mut waiting,
                &mut errors,
            );
        }
    }
    let setup = t0.elapsed();
    let rss_waiting = o.server_pid.and_then(stats::rss_kib);
    let hold_until = Instant::now() + o.hold;
    if !timed_out {
        while Instant::now() < hold_until {
            let left = hold_until.saturating_duration_since(Instant::now());
            t.poll(&mut events, Some(left.min(Duration::from_millis(250))))
                .map_err(|e| format!("poll: {e}"))?;
            for ev in events.drain(..) {
                idle_event(
                    &mut t,
                    ev,
                    &mut conns,
                    &mut handshaking,
                    &mut waiting,
                    &mut errors,
                );
            }
        }
    }
    let rss1 = o.server_pid.and_then(stats::rss_kib);
    let per_conn = match (rss0, rss1) {
        (Some(a), Some(b)) if waiting > 0 => {
            Some((b.saturating_sub(a) as f64 / waiting as f64 * 100.0).round() / 100.0)
        }
        _ => None,
    };
    let ok = !timed_out && errors.count == 0 && waiting == o.idle;
    let json = json!({
        "mode": "idle",
        "url": o.url,
        "idle": o.idle,
        "waiting": waiting,
        "setup_s": setup.as_secs_f64(),
        "hold_s": o.hold.as_secs_f64(),
        "server_rss_kib_before": rss0,
        "server_rss_kib_waiting": rss_waiting,
        "server_rss_kib_after": rss1,
        "server_rss_kib_per_conn": per_conn,
        "errors": errors.count,
        "error_examples": errors.examples,
        "timed_out": timed_out,
    });
    let mut text = format!(
        "idle: {waiting}/{} connections waiting unpaired (setup {:.2} s), held {:.1} s",
        o.idle,
        setup.as_secs_f64(),
        o.hold.as_secs_f64()
    );
    if let (Some(a), Some(b)) = (rss0, rss1) {
        text.push_str(&format!(
            "\nserver RSS {a} KiB before, {} KiB when all waiting, {b} KiB after the hold: {} KiB per idle connection",
            rss_waiting.map_or_else(|| "-".to_owned(), |v| v.to_string()),
            per_conn.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
        ));
    }
    text.push_str(&format!("\nerrors {}", errors.count));
    if timed_out {
        text.push_str(&format!(" (timed out after {:?})", o.timeout));
    }
    for e in &errors.examples {
        text.push_str(&format!("\n  {e}"));
    }
    if let Some(hint) = limit_hint(&errors.examples) {
        text.push_str(&format!("\n{hint}"));
    }
    // dropping the transport closes every socket
    Ok(Outcome { text, json, ok })
}

/// Where an idle connection is.
enum IdleConn {
    /// Handshaking; the rendezvous id it will request.
    Dialed(Hex256),
    /// `REQUEST_RENDEZVOUS` sent.
    Requested,
    /// `NOTIFY_RENDEZVOUS_NOT_READY` received.
    Waiting,
}

fn idle_event(
    t: &mut Transport,
    ev: Event,
    conns: &mut HashMap<ConnId, IdleConn>,
    handshaking: &mut usize,
    waiting: &mut usize,
    errors: &mut Errors,
) {
    match ev {
        Event::Opened { conn, .. } => {
            let Some(slot) = conns.get_mut(&conn) else {
                return;
            };
            if let IdleConn::Dialed(rid) = slot {
                *handshaking = handshaking.saturating_sub(1);
                let req = rendezvous_request(rid);
                *slot = IdleConn::Requested;
                if let Err(e) = t.send(conn, req) {
                    errors.add(format!("send: {e}"));
                }
            }
        }
        Event::Frame { conn, data } => {
            let Some(slot) = conns.get_mut(&conn) else {
                return;
            };
            match (read_notice(&data), &slot) {
                (Ok((RelayNotice::NotReady, _)), IdleConn::Requested) => {
                    *slot = IdleConn::Waiting;
                    *waiting += 1;
                }
                (Ok((n, _)), _) => errors.add(format!("unexpected {n:?}")),
                (Err(e), _) => errors.add(format!("unexpected frame: {e}")),
            }
        }
        Event::Closed { conn, cause } => {
            match conns.remove(&conn) {
                Some(IdleConn::Dialed(_)) => *handshaking = handshaking.saturating_sub(1),
                Some(IdleConn::Waiting) => *waiting = waiting.saturating_sub(1),
                _ => {}
            }
            errors.add(format!("connection closed: {cause}"));
        }
        _ => {}
    }
}
