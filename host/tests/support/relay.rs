//! A `moneysocket relay` child process and blocking websocket clients for it (included with
//! `#[path]` by the relay tests that use it).
#![allow(dead_code)]

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command};
use std::time::{Duration, Instant};

use moneysocket_core::message::{Hex256, Message, Timestamp};
use moneysocket_core::uuid::Uuid;
use tungstenite::{Message as WsMessage, WebSocket};

use crate::support::{spawn_listening, temp_dir};

/// Read timeout of the test clients.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A blocking websocket client.
pub type Ws = WebSocket<TcpStream>;

/// A relay process on a free port; killed on drop.
pub struct Relay {
    pub child: Child,
    _stdout: BufReader<ChildStdout>,
    /// `ws://127.0.0.1:PORT`
    pub url: String,
    pub port: u16,
}

impl Relay {
    /// Starts the relay with `toml` (plus `port = 0`) as its config file.
    pub fn start(toml: &str) -> Relay {
        let cfg = temp_dir().join("relay.toml");
        std::fs::write(&cfg, format!("port = 0\n{toml}")).expect("write config");
        let args = [
            std::ffi::OsStr::new("relay"),
            "--config".as_ref(),
            cfg.as_os_str(),
        ];
        let (child, out, url) = spawn_listening(&args);
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the listening line");
        Relay {
            child,
            _stdout: out,
            url,
            port,
        }
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A websocket client connected to the relay.
    pub fn connect(&self) -> Ws {
        let tcp = TcpStream::connect(self.addr()).expect("tcp connect");
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let (ws, _) = tungstenite::client(format!("{}/", self.url), tcp).expect("handshake");
        ws
    }

    /// Two clients paired under rendezvous id `rid` (64 hex digits).
    pub fn pair(&self, rid: &str) -> (Ws, Ws) {
        let mut a = self.connect();
        send(&mut a, &request(1, rid));
        expect_kind(&mut a, "NOTIFY_RENDEZVOUS_NOT_READY");
        let mut b = self.connect();
        send(&mut b, &request(2, rid));
        expect_kind(&mut b, "NOTIFY_RENDEZVOUS");
        expect_kind(&mut a, "NOTIFY_RENDEZVOUS");
        (a, b)
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

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// Waits up to `limit` for the relay to exit; its exit time since `since`.
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cleartext `REQUEST_RENDEZVOUS` for `rid` (uuid from `n`).
pub fn request(n: u8, rid: &str) -> Vec<u8> {
    Message::request_rendezvous(
        Uuid::v4_from_bytes([n; 16]),
        Timestamp::from_secs(1_612_345_678),
        Hex256::parse(rid).expect("rendezvous id"),
    )
    .to_json_string()
    .into_bytes()
}

/// Sends one binary frame.
pub fn send(ws: &mut Ws, data: &[u8]) {
    ws.send(WsMessage::Binary(data.to_vec().into()))
        .expect("send");
}

/// The next binary frame.
pub fn recv(ws: &mut Ws) -> Vec<u8> {
    loop {
        match ws.read() {
            Ok(WsMessage::Binary(b)) => return b.to_vec(),
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            Ok(other) => panic!("expected a binary frame, got {other:?}"),
            Err(e) => panic!("expected a binary frame, got error {e}"),
        }
    }
}

/// Expects a message of `kind` (its JSON `request_type`/`notification_type` value).
pub fn expect_kind(ws: &mut Ws, kind: &str) {
    let frame = recv(ws);
    let text = String::from_utf8_lossy(&frame);
    assert!(
        text.contains(&format!("\"{kind}\"")),
        "expected {kind}: {text}"
    );
}

/// A directory with a self-signed certificate for `localhost` (`cert.pem`) and its key
/// (`key.pem`).
pub fn self_signed_cert() -> std::path::PathBuf {
    let dir = temp_dir();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).expect("write key");
    dir
}

/// Writes `request` on a fresh TCP connection to `addr` and reads the answer to the end
/// (the server closes).
pub fn http_exchange(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("tcp connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(request).expect("write request");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
