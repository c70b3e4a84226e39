//! End-to-end tests of `moneysocket relay` over loopback sockets: the binary runs on a free
//! port, blocking tungstenite clients (and the moneysocket-ws dialer) talk to it.

#[path = "../../core/tests/common/mod.rs"]
mod common;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moneysocket_core::message::{Body, Hex256, Message, MessageKind, Timestamp};
use moneysocket_core::uuid::Uuid;
use tungstenite::{Message as WsMessage, WebSocket};

const RID: &str = "2acc58b612ab45f732bd60b9eb91910918d74ba3107800fea034d80f4171edb6";
const RID2: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- harness

use support::temp_dir;

/// A relay process; killed on drop.
struct Relay {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    /// `ws://127.0.0.1:PORT` or `wss://…`
    url: String,
    port: u16,
    metrics: Option<String>,
}

impl Relay {
    /// Starts the relay with `toml` as its config file (port 0 unless the config says
    /// otherwise) and extra flags.
    fn start(toml: &str, flags: &[&str]) -> Relay {
        let dir = temp_dir();
        let cfg = dir.join("relay.toml");
        let toml = if toml.contains("port") {
            toml.to_owned()
        } else {
            format!("port = 0\n{toml}")
        };
        std::fs::write(&cfg, toml).expect("write config");
        Self::start_with_file(&cfg, flags)
    }

    fn start_with_file(cfg: &std::path::Path, flags: &[&str]) -> Relay {
        let mut args = vec![
            std::ffi::OsStr::new("relay"),
            "--config".as_ref(),
            cfg.as_os_str(),
        ];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        let (child, mut out, url) = support::spawn_listening(&args);
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        let metrics = if flags.contains(&"--metrics") || cfg_has_metrics(cfg) {
            let mut line = String::new();
            out.read_line(&mut line).expect("read metrics line");
            Some(line.trim().strip_prefix("metrics at: ").unwrap().to_owned())
        } else {
            None
        };
        Relay {
            child,
            _stdout: out,
            url,
            port,
            metrics,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn connect(&self) -> Ws {
        connect_plain(&self.addr(), &format!("{}/", self.url))
    }
}

fn cfg_has_metrics(cfg: &std::path::Path) -> bool {
    std::fs::read_to_string(cfg)
        .map(|s| s.lines().any(|l| l.trim_start().starts_with("metrics")))
        .unwrap_or(false)
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws = WebSocket<TcpStream>;

fn connect_plain(addr: &str, url: &str) -> Ws {
    let tcp = TcpStream::connect(addr).expect("tcp connect");
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let (ws, _) = tungstenite::client(url, tcp).expect("websocket handshake");
    ws
}

fn uuid(n: u8) -> Uuid {
    Uuid::v4_from_bytes([n; 16])
}

fn request(n: u8, rid: &str) -> Vec<u8> {
    Message::request_rendezvous(
        uuid(n),
        Timestamp::from_secs(1_612_345_678),
        Hex256::parse(rid).unwrap(),
    )
    .to_json_string()
    .into_bytes()
}

fn send<S: Read + Write>(ws: &mut WebSocket<S>, data: &[u8]) {
    ws.send(WsMessage::Binary(data.to_vec().into()))
        .expect("send");
}

/// The next binary frame.
fn recv<S: Read + Write>(ws: &mut WebSocket<S>) -> Vec<u8> {
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
fn expect_notify<S: Read + Write>(
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
fn expect_closed<S: Read + Write>(ws: &mut WebSocket<S>) {
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

/// Pairs two fresh connections under `rid` and checks the notifications.
fn pair(relay: &Relay, a: u8, b: u8, rid: &str) -> (Ws, Ws) {
    let mut wa = relay.connect();
    send(&mut wa, &request(a, rid));
    expect_notify(
        &mut wa,
        MessageKind::NotifyRendezvousNotReady,
        Some(uuid(a)),
        rid,
    );
    let mut wb = relay.connect();
    send(&mut wb, &request(b, rid));
    expect_notify(&mut wb, MessageKind::NotifyRendezvous, Some(uuid(b)), rid);
    expect_notify(&mut wa, MessageKind::NotifyRendezvous, Some(uuid(a)), rid);
    (wa, wb)
}

/// Deterministic "ciphertext" (IV + blocks).
fn cipher(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ 0x80)
        .collect()
}

fn http_get(addr_url: &str) -> String {
    let rest = addr_url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(s, "GET /{path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

// ---------------------------------------------------------------- tests

#[test]
fn pairing_and_byte_exact_forwarding() {
    let relay = Relay::start("", &[]);
    let (mut a, mut b) = pair(&relay, 1, 2, RID);
    for (i, len) in [1usize, 16, 48, 300, 4096, 60_000].into_iter().enumerate() {
        let f = cipher(len, i as u8);
        send(&mut a, &f);
        assert_eq!(recv(&mut b), f);
        let g = cipher(len, 100 + i as u8);
        send(&mut b, &g);
        assert_eq!(recv(&mut a), g);
    }
    // cleartext after pairing is forwarded untouched too (no re-serialisation)
    let odd = br#"{"b":1,  "a":"\u00e9"}"#.to_vec();
    send(&mut a, &odd);
    assert_eq!(recv(&mut b), odd);
    // many frames in a burst keep their order
    for i in 0..200u32 {
        send(&mut a, &i.to_be_bytes());
    }
    for i in 0..200u32 {
        assert_eq!(recv(&mut b), i.to_be_bytes());
    }
}

#[test]
fn python_request_rendezvous_not_ready_then_rendezvous() {
    let Some(v) = common::load("v0/messages.json") else {
        return;
    };
    let valid = v["valid"].as_array().expect("valid");
    let wire = valid
        .iter()
        .find(|m| m["name"] == "REQUEST_RENDEZVOUS")
        .and_then(|m| m["wire_json"].as_str())
        .expect("REQUEST_RENDEZVOUS vector")
        .to_owned();
    let msg = Message::parse(wire.as_bytes()).unwrap();
    let uuid_a = msg.request_uuid().unwrap();
    let rid = match msg.body() {
        Body::RequestRendezvous { rendezvous_id } => rendezvous_id.as_str().to_owned(),
        _ => unreachable!(),
    };
    // the second peer sends the same text with its own request uuid
    let uuid_b_text = "0d1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
    let wire_b = wire.replace("8a397591-fc3c-4c62-9822-9bbf4750a793", uuid_b_text);
    assert_ne!(wire, wire_b);
    let uuid_b = Message::parse(wire_b.as_bytes())
        .unwrap()
        .request_uuid()
        .unwrap();

    let relay = Relay::start("", &[]);
    let mut a = relay.connect();
    send(&mut a, wire.as_bytes());
    expect_notify(
        &mut a,
        MessageKind::NotifyRendezvousNotReady,
        Some(uuid_a),
        &rid,
    );
    let mut b = relay.connect();
    send(&mut b, wire_b.as_bytes());
    // newcomer first, each referencing its own request
    expect_notify(&mut b, MessageKind::NotifyRendezvous, Some(uuid_b), &rid);
    expect_notify(&mut a, MessageKind::NotifyRendezvous, Some(uuid_a), &rid);
    send(&mut a, b"\x01\x02\x03");
    assert_eq!(recv(&mut b), b"\x01\x02\x03");
}

#[test]
fn end_to_survivor_when_one_side_closes() {
    let relay = Relay::start("", &[]);
    let (mut a, mut b) = pair(&relay, 1, 2, RID);
    a.close(None).unwrap();
    let _ = a.flush();
    expect_notify(&mut b, MessageKind::NotifyRendezvousEnd, None, RID);
    expect_closed(&mut b);
    // the id is free again: a new pair forms
    let (mut c, mut d) = pair(&relay, 3, 4, RID);
    send(&mut c, b"again");
    assert_eq!(recv(&mut d), b"again");
}

#[test]
fn third_party_refused_while_pair_keeps_working() {
    let relay = Relay::start("", &[]);
    let (mut a, mut b) = pair(&relay, 1, 2, RID);
    let mut c = relay.connect();
    send(&mut c, &request(3, RID));
    // A clear refusal: END (reference null) and the close; the Python relay only closes.
    expect_notify(&mut c, MessageKind::NotifyRendezvousEnd, None, RID);
    expect_closed(&mut c);
    send(&mut a, b"still here");
    assert_eq!(recv(&mut b), b"still here");
    send(&mut b, b"me too");
    assert_eq!(recv(&mut a), b"me too");
}

#[test]
fn oversized_frame_closes_only_the_offender() {
    let relay = Relay::start("max_frame = 1024\n", &[]);
    let (mut a, mut b) = pair(&relay, 1, 2, RID);
    let (mut c, mut d) = pair(&relay, 3, 4, RID2);
    // exactly the limit passes
    send(&mut a, &cipher(1024, 1));
    assert_eq!(recv(&mut b), cipher(1024, 1));
    // one more byte closes the sender; its partner learns the pair ended
    send(&mut a, &cipher(1025, 2));
    expect_closed(&mut a);
    expect_notify(&mut b, MessageKind::NotifyRendezvousEnd, None, RID);
    expect_closed(&mut b);
    // the other pair is untouched
    send(&mut c, b"fine");
    assert_eq!(recv(&mut d), b"fine");
    send(&mut d, b"fine too");
    assert_eq!(recv(&mut c), b"fine too");
}

#[test]
fn unpaired_connections_expire() {
    let relay = Relay::start("unpaired_timeout = 0.3\n", &[]);
    let started = Instant::now();
    let mut waiting = relay.connect();
    send(&mut waiting, &request(1, RID));
    expect_notify(
        &mut waiting,
        MessageKind::NotifyRendezvousNotReady,
        Some(uuid(1)),
        RID,
    );
    let mut silent = relay.connect();
    expect_closed(&mut waiting);
    expect_closed(&mut silent);
    assert!(started.elapsed() < IO_TIMEOUT);
}

#[test]
fn per_ip_cap() {
    let relay = Relay::start("max_per_ip = 3\n", &[]);
    let mut held: Vec<Ws> = (0..3).map(|_| relay.connect()).collect();
    // the fourth TCP connection is dropped before the websocket handshake
    let tcp = TcpStream::connect(relay.addr()).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert!(tungstenite::client(format!("{}/", relay.url), tcp).is_err());
    // freeing a slot lets a new one in
    let mut first = held.remove(0);
    first.close(None).unwrap();
    expect_closed(&mut first);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let tcp = TcpStream::connect(relay.addr()).unwrap();
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        if tungstenite::client(format!("{}/", relay.url), tcp).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// 1,000 client sockets live in this test process (the relay is another process), which
/// stays under the common default soft limit of 1,024 descriptors together with the few
/// sockets of concurrently running tests. Raise `ulimit -n` if it does not.
#[test]
fn thousand_concurrent_connections() {
    let relay = Relay::start("max_per_ip = 0\n", &[]);
    let started = Instant::now();
    const PAIRS: usize = 500;
    let rid = |i: usize| format!("{i:064x}");
    let mut first: Vec<Ws> = (0..PAIRS).map(|_| relay.connect()).collect();
    let mut second: Vec<Ws> = (0..PAIRS).map(|_| relay.connect()).collect();
    for (i, ws) in first.iter_mut().enumerate() {
        send(ws, &request(1, &rid(i)));
    }
    for (i, ws) in first.iter_mut().enumerate() {
        expect_notify(
            ws,
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(1)),
            &rid(i),
        );
    }
    for (i, ws) in second.iter_mut().enumerate() {
        send(ws, &request(2, &rid(i)));
    }
    for (i, ws) in second.iter_mut().enumerate() {
        expect_notify(ws, MessageKind::NotifyRendezvous, Some(uuid(2)), &rid(i));
    }
    for (i, ws) in first.iter_mut().enumerate() {
        expect_notify(ws, MessageKind::NotifyRendezvous, Some(uuid(1)), &rid(i));
    }
    for (i, ws) in first.iter_mut().enumerate() {
        send(ws, &cipher(300, i as u8));
    }
    for (i, ws) in second.iter_mut().enumerate() {
        assert_eq!(recv(ws), cipher(300, i as u8));
        send(ws, &(i as u32).to_be_bytes());
    }
    for (i, ws) in first.iter_mut().enumerate() {
        assert_eq!(recv(ws), (i as u32).to_be_bytes());
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn metrics_endpoint_and_graceful_shutdown() {
    let mut relay = Relay::start("", &["--metrics", "127.0.0.1:0"]);
    let (mut a, mut b) = pair(&relay, 1, 2, RID);
    send(&mut a, &cipher(300, 9));
    assert_eq!(recv(&mut b), cipher(300, 9));
    let m = relay.metrics.clone().expect("metrics url");
    let text = http_get(&m);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\nmoneysocket_relay_pairs 1\n"), "{text}");
    assert!(
        text.contains("\nmoneysocket_relay_frames_forwarded_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("\nmoneysocket_relay_bytes_forwarded_total 300\n"),
        "{text}"
    );
    assert!(http_get(&m.replace("/metrics", "/nope")).starts_with("HTTP/1.1 404"));

    // SIGTERM: both sides of the pair get END, then the relay exits cleanly
    let status = Command::new("kill")
        .args(["-TERM", &relay.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    expect_notify(&mut a, MessageKind::NotifyRendezvousEnd, None, RID);
    expect_notify(&mut b, MessageKind::NotifyRendezvousEnd, None, RID);
    expect_closed(&mut a);
    expect_closed(&mut b);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if let Some(st) = relay.child.try_wait().unwrap() {
            assert!(st.success(), "relay exited with {st}");
            break;
        }
        assert!(Instant::now() < deadline, "relay did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn python_ini_config_is_accepted() {
    let dir = temp_dir();
    let ini = dir.join("relay.conf");
    std::fs::write(
        &ini,
        format!(
            "[Relay]\nListenBind = 127.0.0.1\nListenPort = 0\nUseTLS = False\nCertFile = None\n\
             CertKey = None\nSelfSignedCert = True\nCertChainFile = None\nLogDir = {}\n",
            dir.display()
        ),
    )
    .unwrap();
    let relay = Relay::start_with_file(&ini, &[]);
    assert!(relay.url.starts_with("ws://127.0.0.1:"), "{}", relay.url);
    let (mut a, mut b) = pair(&relay, 1, 2, RID);
    send(&mut a, b"x");
    assert_eq!(recv(&mut b), b"x");
    assert!(dir.join("moneysocket-relay.log").exists());
}

#[test]
fn bad_config_exits_1_with_reason() {
    let dir = temp_dir();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "max_frame = 1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .args(["relay", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_frame"));
}

// ---------------------------------------------------------------- TLS

struct Cert {
    dir: PathBuf,
}

fn make_cert() -> Cert {
    let dir = temp_dir();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    Cert { dir }
}

type TlsWs = WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

fn connect_tls(port: u16, ca: &std::path::Path) -> TlsWs {
    let cfg = moneysocket_ws::tls::client_config(Some(ca)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let stream = rustls::StreamOwned::new(conn, tcp);
    let (ws, _) =
        tungstenite::client(format!("wss://localhost:{port}/"), stream).expect("wss handshake");
    ws
}

#[test]
fn wss_with_generated_certificate() {
    let cert = make_cert();
    let c = cert.dir.join("cert.pem");
    let k = cert.dir.join("key.pem");
    let relay = Relay::start(
        "",
        &[
            "--tls-cert",
            c.to_str().unwrap(),
            "--tls-key",
            k.to_str().unwrap(),
        ],
    );
    assert!(relay.url.starts_with("wss://"), "{}", relay.url);
    let mut a = connect_tls(relay.port, &c);
    send(&mut a, &request(1, RID));
    expect_notify(
        &mut a,
        MessageKind::NotifyRendezvousNotReady,
        Some(uuid(1)),
        RID,
    );
    let mut b = connect_tls(relay.port, &c);
    send(&mut b, &request(2, RID));
    expect_notify(&mut b, MessageKind::NotifyRendezvous, Some(uuid(2)), RID);
    expect_notify(&mut a, MessageKind::NotifyRendezvous, Some(uuid(1)), RID);
    for len in [1usize, 300, 20_000] {
        send(&mut a, &cipher(len, 5));
        assert_eq!(recv(&mut b), cipher(len, 5));
    }
    // a plain client on the TLS port gets nowhere, and the relay carries on
    let tcp = TcpStream::connect(relay.addr()).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert!(tungstenite::client(format!("ws://127.0.0.1:{}/", relay.port), tcp).is_err());
    send(&mut b, b"after");
    assert_eq!(recv(&mut a), b"after");
}

// ---------------------------------------------------------------- our client (moneysocket-ws)

/// Polls `t` until `f` returns `Some` for an event, or panics after the IO timeout. Events
/// of the same batch after the match are kept in `backlog` for the next call.
fn poll_until<T>(
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
            .unwrap();
        backlog.extend(events.drain(..));
        assert!(Instant::now() < deadline, "timed out");
    }
}

#[test]
fn our_client_sends_host_with_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    });
    let mut t = moneysocket_ws::Transport::new(moneysocket_ws::TransportConfig::default()).unwrap();
    let mut backlog = std::collections::VecDeque::new();
    let id = t.dial(&format!("ws://localhost:{port}"), None).unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut events = Vec::new();
    let mut seen = Vec::new();
    while !server.is_finished() {
        t.poll(&mut events, Some(Duration::from_millis(20)))
            .unwrap();
        seen.append(&mut events);
        assert!(Instant::now() < deadline);
    }
    let head = server.join().unwrap();
    assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nHost: localhost:{port}\r\n")),
        "{head}"
    );
    assert!(!head
        .to_ascii_lowercase()
        .contains("sec-websocket-extensions"));
    // the server hung up without answering: the dial reports a failure
    let failed = |ev: &moneysocket_ws::Event| matches!(ev, moneysocket_ws::Event::Closed { conn, cause: moneysocket_ws::CloseCause::HandshakeFailed(_) } if *conn == id);
    if !seen.iter().any(failed) {
        poll_until(&mut t, &mut backlog, |_, ev| failed(&ev).then_some(()));
    }
    // and the default-port form still carries the port
    let u = moneysocket_ws::parse_ws_url("wss://relay.socket.money").unwrap();
    assert_eq!(u.host_header(), "relay.socket.money:443");
}

#[test]
fn our_client_pairs_through_the_relay_over_wss() {
    let cert = make_cert();
    let c = cert.dir.join("cert.pem");
    let k = cert.dir.join("key.pem");
    let relay = Relay::start(
        "",
        &[
            "--tls-cert",
            c.to_str().unwrap(),
            "--tls-key",
            k.to_str().unwrap(),
        ],
    );
    let tls = moneysocket_ws::tls::client_config(Some(&c)).unwrap();
    let mut t = moneysocket_ws::Transport::new(moneysocket_ws::TransportConfig::default()).unwrap();
    let mut backlog = std::collections::VecDeque::new();
    let id = t
        .dial(
            &format!("wss://localhost:{}", relay.port),
            Some(Arc::clone(&tls)),
        )
        .unwrap();
    poll_until(&mut t, &mut backlog, |t, ev| match ev {
        moneysocket_ws::Event::Opened { conn, .. } if conn == id => {
            t.send(conn, request(1, RID)).unwrap();
            Some(())
        }
        moneysocket_ws::Event::Closed { cause, .. } => panic!("dial failed: {cause}"),
        _ => None,
    });
    let frame = poll_until(&mut t, &mut backlog, |_, ev| match ev {
        moneysocket_ws::Event::Frame { conn, data } if conn == id => Some(data),
        _ => None,
    });
    let msg = Message::parse(&frame).unwrap();
    assert_eq!(msg.kind(), MessageKind::NotifyRendezvousNotReady);
    // a blocking peer joins; frames flow both ways
    let mut b = connect_tls(relay.port, &c);
    send(&mut b, &request(2, RID));
    expect_notify(&mut b, MessageKind::NotifyRendezvous, Some(uuid(2)), RID);
    let frame = poll_until(&mut t, &mut backlog, |_, ev| match ev {
        moneysocket_ws::Event::Frame { data, .. } => Some(data),
        _ => None,
    });
    assert_eq!(
        Message::parse(&frame).unwrap().kind(),
        MessageKind::NotifyRendezvous
    );
    send(&mut b, &cipher(500, 3));
    let got = poll_until(&mut t, &mut backlog, |_, ev| match ev {
        moneysocket_ws::Event::Frame { data, .. } => Some(data),
        _ => None,
    });
    assert_eq!(&got[..], &cipher(500, 3)[..]);
    t.send(id, cipher(700, 4)).unwrap();
    let mut events = Vec::new();
    t.poll(&mut events, Some(Duration::ZERO)).unwrap();
    assert_eq!(recv(&mut b), cipher(700, 4));
}
