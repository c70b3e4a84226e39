//! End-to-end tests of `moneysocket relay` over loopback sockets: the binary runs on a free
//! port, blocking tungstenite clients (and the moneysocket-ws dialer) talk to it.

#[path = "../../core/tests/common/mod.rs"]
mod common;
#[path = "support/relay.rs"]
mod relay;
mod support;

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moneysocket_core::message::{Body, Message, MessageKind};
use relay::{
    expect_closed, expect_notify, pair_clients, poll_until, recv, request, send, uuid, ws_client,
    Relay, Ws, IO_TIMEOUT,
};
use support::{http_get, temp_dir};

const RID: &str = "2acc58b612ab45f732bd60b9eb91910918d74ba3107800fea034d80f4171edb6";
const RID2: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Deterministic "ciphertext" (IV + blocks).
fn cipher(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ 0x80)
        .collect()
}

// ---------------------------------------------------------------- tests

#[test]
fn pairing_and_byte_exact_forwarding() {
    let relay = Relay::start("");
    let (mut a, mut b) = relay.pair(RID);
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

    let relay = Relay::start("");
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
    let relay = Relay::start("");
    let (mut a, mut b) = relay.pair(RID);
    a.close(None).unwrap();
    let _ = a.flush();
    expect_notify(&mut b, MessageKind::NotifyRendezvousEnd, None, RID);
    expect_closed(&mut b);
    // the id is free again: a new pair forms
    let (mut c, mut d) = relay.pair_as(3, 4, RID);
    send(&mut c, b"again");
    assert_eq!(recv(&mut d), b"again");
}

#[test]
fn third_party_refused_while_pair_keeps_working() {
    let relay = Relay::start("");
    let (mut a, mut b) = relay.pair(RID);
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
    let relay = Relay::start("max_frame = 1024\n");
    let (mut a, mut b) = relay.pair(RID);
    let (mut c, mut d) = relay.pair_as(3, 4, RID2);
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
    let relay = Relay::start("unpaired_timeout = 0.3\n");
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
    let relay = Relay::start("max_per_ip = 3\n");
    let mut held: Vec<Ws> = (0..3).map(|_| relay.connect()).collect();
    // the fourth TCP connection is dropped before the websocket handshake
    assert!(ws_client(relay.addr(), &relay.ws_url()).is_err());
    // freeing a slot lets a new one in
    let mut first = held.remove(0);
    first.close(None).unwrap();
    expect_closed(&mut first);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if ws_client(relay.addr(), &relay.ws_url()).is_ok() {
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
    let relay = Relay::start("max_per_ip = 0\n");
    let started = Instant::now();
    const PAIRS: usize = 500;
    let rids: Vec<String> = (0..PAIRS).map(|i| format!("{i:064x}")).collect();
    let (mut first, mut second) = relay::pair_many(&relay, &rids);
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
    let mut relay = Relay::start_with("", &["--metrics", "127.0.0.1:0"]);
    let (mut a, mut b) = relay.pair(RID);
    send(&mut a, &cipher(300, 9));
    assert_eq!(recv(&mut b), cipher(300, 9));
    let m = relay.metrics.clone().expect("metrics address");
    let text = http_get(&m, "/metrics");
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
    assert!(http_get(&m, "/nope").starts_with("HTTP/1.1 404"));

    // SIGTERM: both sides of the pair get END, then the relay exits cleanly
    relay.sigterm();
    expect_notify(&mut a, MessageKind::NotifyRendezvousEnd, None, RID);
    expect_notify(&mut b, MessageKind::NotifyRendezvousEnd, None, RID);
    expect_closed(&mut a);
    expect_closed(&mut b);
    relay
        .wait_exit(Instant::now(), IO_TIMEOUT)
        .expect("relay did not exit");
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
    let relay = Relay::from_config_file(&ini, &[]);
    assert!(relay.url.starts_with("ws://127.0.0.1:"), "{}", relay.url);
    let (mut a, mut b) = relay.pair(RID);
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

#[test]
fn wss_with_generated_certificate() {
    let (relay, c) = Relay::start_tls("");
    assert!(relay.url.starts_with("wss://"), "{}", relay.url);
    let (mut a, mut b) = pair_clients(|| relay.connect_tls(&c), 1, 2, RID);
    for len in [1usize, 300, 20_000] {
        send(&mut a, &cipher(len, 5));
        assert_eq!(recv(&mut b), cipher(len, 5));
    }
    // a plain client on the TLS port gets nowhere, and the relay carries on
    assert!(ws_client(relay.addr(), &format!("ws://127.0.0.1:{}/", relay.port)).is_err());
    send(&mut b, b"after");
    assert_eq!(recv(&mut a), b"after");
}

#[test]
fn sighup_reloads_the_certificate_for_new_connections_and_keeps_the_pairs() {
    let dir = relay::self_signed_cert();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let first = temp_dir().join("first.pem");
    std::fs::copy(&cert, &first).expect("copy");
    let relay = Relay::start_logging(&format!("tls_cert = {cert:?}\ntls_key = {key:?}\n"));
    let (mut a, mut b) = pair_clients(|| relay.connect_tls(&first), 1, 2, RID);

    // the renewal lands on disk: nothing changes until SIGHUP
    let renewed = relay::self_signed_cert();
    std::fs::copy(renewed.join("cert.pem"), &cert).expect("copy cert");
    std::fs::copy(renewed.join("key.pem"), &key).expect("copy key");
    assert!(relay.try_connect_tls(&first).is_ok());
    relay.signal("HUP");
    let until = Instant::now() + Duration::from_secs(10);
    while relay.try_connect_tls(&cert).is_err() {
        assert!(Instant::now() < until, "the new certificate is not served");
        std::thread::sleep(Duration::from_millis(50));
    }
    let old = relay.try_connect_tls(&first).map(|_| ()).unwrap_err();
    assert!(old.contains("certificate"), "{old}");
    // the pair made before the reload goes on
    send(&mut a, &cipher(300, 7));
    assert_eq!(recv(&mut b), cipher(300, 7));

    // a broken renewal: the relay says so and keeps serving the certificate it has
    std::fs::write(&key, "not a key\n").expect("write");
    relay.signal("HUP");
    relay.wait_log("TLS certificate not reloaded");
    assert!(relay.try_connect_tls(&cert).is_ok());
    send(&mut b, b"still paired");
    assert_eq!(recv(&mut a), b"still paired");
}

#[test]
fn sighup_leaves_a_plain_relay_running() {
    let relay = Relay::start_logging("");
    let (mut a, mut b) = relay.pair(RID);
    relay.signal("HUP");
    relay.wait_log("SIGHUP: nothing to reload");
    send(&mut a, b"after the hang-up");
    assert_eq!(recv(&mut b), b"after the hang-up");
}

#[test]
fn a_certificate_near_its_end_is_logged_as_a_warning() {
    // a certificate that ends in five days
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 86_400;
    let (y, m, d) = moneysocket_core::civil::civil_from_days(today as i64);
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("names");
    params.not_after =
        rcgen::date_time_ymd(y as i32, m as u8, d as u8) + Duration::from_secs(5 * 86_400 + 3600);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    let dir = temp_dir();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).expect("write");
    std::fs::write(&k, key.serialize_pem()).expect("write");
    let relay = Relay::start_logging(&format!(
        "tls_cert = {c:?}\ntls_key = {k:?}\nmetrics = \"127.0.0.1:0\"\n"
    ));
    let line = relay.wait_log("TLS certificate");
    // 4 or 5 whole days, depending on the time of day
    assert!(
        line.contains("WARN") && line.contains(" day(s) left") && line.contains("valid until"),
        "{line}"
    );
    assert!(relay.try_connect_tls(&c).is_ok());
    // and the metric to alert on
    let end = relay.metric("moneysocket_relay_tls_certificate_expiry_timestamp_seconds");
    let days = (end / 86_400) as i64 - today as i64;
    assert!((5..=6).contains(&days), "{end}: {days} days");
}

// ---------------------------------------------------------------- our client (moneysocket-ws)

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
    let (relay, c) = Relay::start_tls("");
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
    let mut b = relay.connect_tls(&c);
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
