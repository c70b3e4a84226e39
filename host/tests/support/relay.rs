//! The relay tests' harness: a `moneysocket relay` child process (config, metrics endpoint,
//! log file, RSS, SIGTERM) and blocking websocket clients for it (included with `#[path]`
//! by the tests that use it).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command};
use std::time::{Duration, Instant};

use moneysocket_core::message::{Body, Hex256, Message, MessageKind, Timestamp};
use moneysocket_core::uuid::Uuid;
use tungstenite::{Message as WsMessage, WebSocket};

use crate::support::{read_metrics_line, spawn_listening, temp_dir};

/// Read timeout of the test clients.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A blocking websocket client.
pub type Ws = WebSocket<TcpStream>;

/// A blocking websocket client over TLS.
pub type TlsWs = WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// A relay process on a free port; killed on drop.
pub struct Relay {
    /// The relay process.
    pub child: Child,
    /// Its stdout, kept open (read up to the listening and metrics lines).
    _stdout: BufReader<ChildStdout>,
    /// `ws://127.0.0.1:PORT` or `wss://…`, as the relay printed it.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// The metrics endpoint's `HOST:PORT` when the relay serves one.
    pub metrics: Option<String>,
    /// The relay's log file when it was started with a log directory.
    log: Option<PathBuf>,
}

impl Relay {
    /// Starts the relay with `toml` (after `port = 0`) as its config file.
    pub fn start(toml: &str) -> Relay {
        Self::start_with(toml, &[])
    }

    /// [`Relay::start`] with extra command-line `flags`.
    pub fn start_with(toml: &str, flags: &[&str]) -> Relay {
        let cfg = temp_dir().join("relay.toml");
        std::fs::write(&cfg, format!("port = 0\n{toml}")).expect("write config");
        Self::from_config_file(&cfg, flags)
    }

    /// [`Relay::start`] logging to a file in a fresh directory (see [`Relay::log_lines`]).
    pub fn start_logging(toml: &str) -> Relay {
        let dir = temp_dir();
        let cfg = dir.join("relay.toml");
        let text = format!(
            "port = 0\nlog_dir = {:?}\n{toml}",
            dir.display().to_string()
        );
        std::fs::write(&cfg, text).expect("write config");
        let mut relay = Self::from_config_file(&cfg, &[]);
        relay.log = Some(dir.join("moneysocket-relay.log"));
        relay
    }

    /// [`Relay::start_with`] serving wss with a fresh self-signed certificate for
    /// `localhost` (`--tls-cert`, `--tls-key`): the relay and the certificate's path.
    pub fn start_tls(toml: &str) -> (Relay, PathBuf) {
        let dir = self_signed_cert();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let flags = [
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
        ];
        (Self::start_with(toml, &flags), cert)
    }

    /// Starts the relay with the config file `cfg` (TOML or the Python relay's INI) and
    /// extra `flags`.
    pub fn from_config_file(cfg: &Path, flags: &[&str]) -> Relay {
        let mut args = vec![OsStr::new("relay"), "--config".as_ref(), cfg.as_os_str()];
        args.extend(flags.iter().map(OsStr::new));
        let metrics = std::fs::read_to_string(cfg)
            .is_ok_and(|s| s.lines().any(|l| l.trim_start().starts_with("metrics")));
        Self::spawn(&args, metrics)
    }

    /// `moneysocket relay --port PORT` (0: a free one), default settings otherwise.
    pub fn on_port(port: u16) -> Relay {
        let port = port.to_string();
        Self::spawn(&["relay", "--port", &port].map(OsStr::new), false)
    }

    /// Runs `moneysocket ARGS…` (a `relay` command line); reads the metrics line when
    /// `metrics` is set or the flags ask for an endpoint.
    ///
    /// `MONEYSOCKET_TEST_RELAY_WORKERS=N` in the environment runs every such relay without
    /// a `--workers` flag of its own with `--workers N`, to run the relay suites against
    /// several event loops (one test then fails by design:
    /// `a_pair_connects_while_ten_thousand_waiters_hold_the_unpaired_budget` asserts the
    /// whole unpaired budget in one loop, which workers split).
    pub fn spawn(args: &[&OsStr], metrics: bool) -> Relay {
        let workers = std::env::var("MONEYSOCKET_TEST_RELAY_WORKERS").ok();
        let mut args = args.to_vec();
        if let Some(n) = workers.filter(|_| !args.contains(&OsStr::new("--workers"))) {
            args.extend([OsStr::new("--workers"), OsStr::new(n.leak())]);
        }
        let args = &args[..];
        let (child, mut out, url) = spawn_listening(args);
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the listening line {url:?}"));
        let metrics = (metrics || args.contains(&OsStr::new("--metrics")))
            .then(|| read_metrics_line(&mut out));
        Relay {
            child,
            _stdout: out,
            url,
            port,
            metrics,
            log: None,
        }
    }

    /// Kills the relay and reaps it (as dropping it does).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The URL a websocket client requests: `URL/`.
    pub fn ws_url(&self) -> String {
        format!("{}/", self.url)
    }

    /// A websocket client connected to the relay.
    pub fn connect(&self) -> Ws {
        ws_client(self.addr(), &self.ws_url()).expect("websocket handshake")
    }

    /// A websocket client over TLS connected to the relay, trusting the certificate `ca`.
    pub fn connect_tls(&self, ca: &Path) -> TlsWs {
        self.try_connect_tls(ca).expect("wss handshake")
    }

    /// [`Relay::connect_tls`], or why the TLS or websocket handshake failed.
    pub fn try_connect_tls(&self, ca: &Path) -> Result<TlsWs, String> {
        let cfg = moneysocket_ws::tls::client_config(Some(ca)).expect("tls client config");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
        let conn = rustls::ClientConnection::new(cfg, name).expect("tls client");
        let tcp = TcpStream::connect(self.addr()).expect("tcp connect");
        tcp.set_read_timeout(Some(IO_TIMEOUT))
            .expect("read timeout");
        let stream = rustls::StreamOwned::new(conn, tcp);
        let url = format!("wss://localhost:{}/", self.port);
        tungstenite::client(url, stream)
            .map(|(ws, _)| ws)
            .map_err(|e| e.to_string())
    }

    /// Two clients paired under rendezvous id `rid` (64 hex digits), with request uuids
    /// from 1 and 2.
    pub fn pair(&self, rid: &str) -> (Ws, Ws) {
        self.pair_as(1, 2, rid)
    }

    /// Two clients paired under `rid`, their request uuids from `a` and `b` (see
    /// [`pair_clients`]).
    pub fn pair_as(&self, a: u8, b: u8, rid: &str) -> (Ws, Ws) {
        pair_clients(|| self.connect(), a, b, rid)
    }

    /// The relay's resident set size in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("relay /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS line")
    }

    /// The first log line containing `needle`, waiting for it up to 10 s (panics without
    /// it, showing the log).
    pub fn wait_log(&self, needle: &str) -> String {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(l) = self.log_lines().into_iter().find(|l| l.contains(needle)) {
                return l;
            }
            assert!(
                Instant::now() < until,
                "no {needle:?} in the log: {:?}",
                self.log_lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log lines so far (the relay must have been started by [`Relay::start_logging`]).
    pub fn log_lines(&self) -> Vec<String> {
        let log = self.log.as_ref().expect("relay started without a log file");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// One metric's value from a scrape of the metrics endpoint.
    pub fn metric(&self, name: &str) -> u64 {
        let text = scrape(self.metrics.as_deref().expect("metrics on")).expect("scrape");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `HUP`, …).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Waits up to `limit` for the relay to exit (successfully); its exit time since `since`.
    pub fn wait_exit(&mut self, since: Instant, limit: Duration) -> Option<Duration> {
        while since.elapsed() < limit {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                assert!(st.success(), "relay exited with {st}");
                return Some(since.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pairs two clients from `connect` under `rid`, their request uuids from `a` and `b`;
/// checks the notifications (the newcomer hears first, each references its own request).
pub fn pair_clients<S: Read + Write>(
    mut connect: impl FnMut() -> WebSocket<S>,
    a: u8,
    b: u8,
    rid: &str,
) -> (WebSocket<S>, WebSocket<S>) {
    let mut wa = connect();
    send(&mut wa, &request(a, rid));
    expect_notify(
        &mut wa,
        MessageKind::NotifyRendezvousNotReady,
        Some(uuid(a)),
        rid,
    );
    let mut wb = connect();
    send(&mut wb, &request(b, rid));
    expect_notify(&mut wb, MessageKind::NotifyRendezvous, Some(uuid(b)), rid);
    expect_notify(&mut wa, MessageKind::NotifyRendezvous, Some(uuid(a)), rid);
    (wa, wb)
}

/// `rids.len()` pairs at once: every first end connects and registers (and hears
/// NOT_READY, uuid from 1), then every second end (uuid from 2); both hear RENDEZVOUS.
pub fn pair_many(relay: &Relay, rids: &[String]) -> (Vec<Ws>, Vec<Ws>) {
    let mut first: Vec<Ws> = rids.iter().map(|_| relay.connect()).collect();
    for (ws, rid) in first.iter_mut().zip(rids) {
        send(ws, &request(1, rid));
    }
    for (ws, rid) in first.iter_mut().zip(rids) {
        expect_notify(
            ws,
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(1)),
            rid,
        );
    }
    let mut second: Vec<Ws> = rids.iter().map(|_| relay.connect()).collect();
    for (ws, rid) in second.iter_mut().zip(rids) {
        send(ws, &request(2, rid));
    }
    for (ws, rid) in second.iter_mut().zip(rids) {
        expect_notify(ws, MessageKind::NotifyRendezvous, Some(uuid(2)), rid);
    }
    for (ws, rid) in first.iter_mut().zip(rids) {
        expect_notify(ws, MessageKind::NotifyRendezvous, Some(uuid(1)), rid);
    }
    (first, second)
}

/// A websocket client of `url` over a TCP connection to `addr` (read timeout
/// [`IO_TIMEOUT`]); the handshake's error as text.
pub fn ws_client(addr: SocketAddr, url: &str) -> Result<Ws, String> {
    let tcp = TcpStream::connect(addr).expect("tcp connect");
    tcp.set_read_timeout(Some(IO_TIMEOUT))
        .expect("read timeout");
    tungstenite::client(url, tcp)
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

/// Polls `t` until `f` returns `Some` for an event, or panics after the IO timeout. Events
/// of the same batch after the match are kept in `backlog` for the next call.
pub fn poll_until<T>(
    t: &mut moneysocket_ws::Transport,
    backlog: &mut std::collections::VecDeque<moneysocket_ws::Event>,
    mut f: impl FnMut(&mut moneysocket_ws::Transport, moneysocket_ws::Event) -> Option<T>,
) -> T {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut events = Vec::new();
    loop {
        while let Some(ev) = backlog.pop_front() {
            if let Some(x) = f(t, ev) {
                return x;
            }
        }
        t.poll(&mut events, Some(Duration::from_millis(50)))
            .expect("poll");
        backlog.extend(events.drain(..));
        assert!(Instant::now() < deadline, "timed out");
    }
}

/// The request uuid made from `n`.
pub fn uuid(n: u8) -> Uuid {
    Uuid::v4_from_bytes([n; 16])
}

/// The cleartext `REQUEST_RENDEZVOUS` for `rid` (uuid from `n`).
pub fn request(n: u8, rid: &str) -> Vec<u8> {
    Message::request_rendezvous(
        uuid(n),
        Timestamp::from_secs(1_612_345_678),
        Hex256::parse(rid).expect("rendezvous id"),
    )
    .to_json_string()
    .into_bytes()
}

/// Sends one binary frame.
pub fn send<S: Read + Write>(ws: &mut WebSocket<S>, data: &[u8]) {
    ws.send(WsMessage::Binary(data.to_vec().into()))
        .expect("send");
}

/// The next binary frame.
pub fn recv<S: Read + Write>(ws: &mut WebSocket<S>) -> Vec<u8> {
    loop {
        match ws.read() {
            Ok(WsMessage::Binary(b)) => return b.to_vec(),
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            Ok(other) => panic!("expected a binary frame, got {other:?}"),
            Err(e) => panic!("expected a binary frame, got error {e}"),
        }
    }
}

/// Expects a rendezvous notification of `kind` for `rid` referencing `reference`.
pub fn expect_notify<S: Read + Write>(
    ws: &mut WebSocket<S>,
    kind: MessageKind,
    reference: Option<Uuid>,
    rid: &str,
) {
    let frame = recv(ws);
    let msg = Message::parse(&frame).unwrap_or_else(|e| {
        panic!(
            "bad notification {:?}: {e:?}",
            String::from_utf8_lossy(&frame)
        )
    });
    assert_eq!(msg.kind(), kind, "{}", String::from_utf8_lossy(&frame));
    assert_eq!(msg.reference_uuid(), reference);
    let got = match msg.body() {
        Body::NotifyRendezvous { rendezvous_id }
        | Body::NotifyRendezvousNotReady { rendezvous_id }
        | Body::NotifyRendezvousEnd { rendezvous_id } => rendezvous_id.as_str().to_owned(),
        _ => panic!("not a rendezvous notification"),
    };
    assert_eq!(got, rid);
}

/// Expects the connection to end without any further binary frame.
pub fn expect_closed<S: Read + Write>(ws: &mut WebSocket<S>) {
    loop {
        match ws.read() {
            Ok(WsMessage::Close(_) | WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            Ok(other) => panic!("expected close, got {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("connection not closed within {IO_TIMEOUT:?}")
            }
            Err(_) => return,
        }
    }
}

/// A directory with a self-signed certificate for `localhost` (`cert.pem`) and its key
/// (`key.pem`).
pub fn self_signed_cert() -> PathBuf {
    let dir = temp_dir();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).expect("write key");
    dir
}

/// `GET /metrics` on `addr`: the body of a 200 answer.
pub fn scrape(addr: &str) -> Result<String, String> {
    scrape_after(addr, Duration::ZERO)
}

/// [`scrape`] by a client that sends its request `delay` after connecting (read timeout
/// 3 s; errors as text).
pub fn scrape_after(addr: &str, delay: Duration) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    std::thread::sleep(delay);
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(format!("not a 200 answer: {out:?}")),
    }
}
