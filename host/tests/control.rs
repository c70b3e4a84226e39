//! The terminus's control interface over real loopback sockets: the server (on a small mio
//! loop in a thread, with a fake handler) against raw HTTP clients, the library's client, and
//! the real `moneysocket terminus-cli` binary.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moneysocket_host::terminus::control::{
    ControlClient, ControlError, ControlServer, ADDR_FILE, TOKEN_FILE,
};
use moneysocket_ws::Transport;
use serde_json::{json, Value};
use support::temp_dir;

const BEACON: &str = "moneysocket1lcqqzqdm8hlqqqgph5gqqqgzqvzq2ps8pqys5zcvp58qllsqqyquzg07qqqsr0cpq8lqqqgpcv2qqynjv4kxz7fwwdhkx6m9wshx6mmwv4uszxmrns";
/// Any base works; a large one shows the numbers are passed through.
const BASE: usize = 1000;

type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// A control server with a fake handler, on its own mio loop in a thread.
struct Fake {
    addr: SocketAddr,
    token: String,
    dir: PathBuf,
    calls: Calls,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    fn start() -> Fake {
        let dir = temp_dir().join("data");
        let calls: Calls = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (d, c, s) = (dir.clone(), calls.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut poll = mio::Poll::new().expect("poll");
            let mut server =
                ControlServer::bind("127.0.0.1:0".parse().unwrap(), poll.registry(), BASE)
                    .expect("bind");
            server.publish(&d).expect("publish");
            tx.send((server.local_addr(), server.token().to_owned()))
                .expect("send");
            let mut handler = |m: &str, p: &Value| {
                c.lock().unwrap().push((m.to_owned(), p.clone()));
                match m {
                    "getinfo" => Ok(json!({"accounts": []})),
                    "create" => Ok(json!({"name": "account-0", "msats": p["msats"]})),
                    "listen" => Ok(json!({"name": p["account"], "beacon": BEACON})),
                    "rm" => Err(ControlError::Conflict(format!(
                        "still has connections: {}",
                        p["account"].as_str().unwrap_or_default()
                    ))),
                    "getaccountreceipts" => Err(ControlError::NotFound(format!(
                        "unknown account: {}",
                        p["account"].as_str().unwrap_or_default()
                    ))),
                    "frobnicate" | "check" => Err(ControlError::UnknownMethod(m.to_owned())),
                    _ => Ok(p.clone()),
                }
            };
            let mut events = mio::Events::with_capacity(64);
            while !s.load(Ordering::Relaxed) {
                if poll
                    .poll(&mut events, Some(Duration::from_millis(20)))
                    .is_err()
                {
                    continue;
                }
                for ev in events.iter() {
                    let Some(n) = (BASE..BASE + ControlServer::SOURCES)
                        .find(|&n| Transport::user_token(n) == ev.token())
                    else {
                        continue;
                    };
                    server.ready(n, poll.registry(), &mut handler);
                }
                server.sweep(poll.registry());
            }
            server.close(poll.registry());
        });
        let (addr, token) = rx.recv_timeout(Duration::from_secs(5)).expect("bound");
        Fake {
            addr,
            token,
            dir,
            calls,
            stop,
            thread: Some(thread),
        }
    }

    fn last_call(&self) -> Option<(String, Value)> {
        self.calls.lock().unwrap().last().cloned()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends raw bytes, returns (status, JSON body) of the answer.
fn raw(addr: SocketAddr, req: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(req).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let text = String::from_utf8(out).expect("utf8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(head.contains("Content-Type: application/json"), "{head}");
    (status, serde_json::from_str(body).expect("json body"))
}

fn post(addr: SocketAddr, auth: &str, body: &str) -> (u16, Value) {
    raw(
        addr,
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

#[test]
fn server_answers_by_the_contract() {
    let f = Fake::start();
    let bearer = format!("Bearer {}", f.token);
    assert_eq!(
        post(f.addr, &bearer, r#"{"method":"echo","params":{"msats":5}}"#),
        (200, json!({"result": {"msats": 5}}))
    );
    assert_eq!(
        post(f.addr, "Bearer 00", r#"{"method":"echo"}"#),
        (401, json!({"error": "unauthorized"}))
    );
    let (status, v) = post(f.addr, &bearer, "{\"method\": ");
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().starts_with("malformed JSON"));
    assert_eq!(
        post(f.addr, &bearer, r#"{"method":"frobnicate"}"#),
        (404, json!({"error": "unknown method: frobnicate"}))
    );
    assert_eq!(
        post(
            f.addr,
            &bearer,
            r#"{"method":"rm","params":{"account":"a"}}"#
        ),
        (409, json!({"error": "still has connections: a"}))
    );
    // oversized: refused from the header, whatever follows
    let (status, v) = raw(
        f.addr,
        format!(
            "POST / HTTP/1.1\r\nAuthorization: {bearer}\r\nContent-Length: 1000000\r\n\r\n{}",
            "x".repeat(70_000)
        )
        .as_bytes(),
    );
    assert_eq!(
        (status, v),
        (413, json!({"error": "request body too large"}))
    );
    let many: String = (0..40).map(|i| format!("X-{i}: 1\r\n")).collect();
    let (status, _) = raw(f.addr, format!("POST / HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert_eq!(status, 431);
    // only the fake's own calls reached the handler (none of the refused ones)
    let methods: Vec<String> = f
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.0.clone())
        .collect();
    assert_eq!(methods, ["echo", "frobnicate", "rm"]);
}

#[test]
fn files_are_published_with_a_private_token() {
    let f = Fake::start();
    let token_path = f.dir.join(TOKEN_FILE);
    let mode = std::fs::metadata(&token_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(&f.dir).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o077, 0);
    assert_eq!(
        std::fs::read_to_string(&token_path).unwrap().trim(),
        f.token
    );
    assert_eq!(
        std::fs::read_to_string(f.dir.join(ADDR_FILE))
            .unwrap()
            .trim(),
        f.addr.to_string()
    );
    assert_eq!(f.token.len(), 64);
    // the library client finds both
    let c = ControlClient::from_data_dir(&f.dir).unwrap();
    assert_eq!(c.addr(), f.addr);
    assert_eq!(c.call("getinfo", &json!({})), Ok(json!({"accounts": []})));
    assert_eq!(
        c.call("getaccountreceipts", &json!({"account": "zz"})),
        Err("unknown account: zz".into())
    );
    let wrong = ControlClient::new(f.addr, "0".repeat(64));
    assert!(wrong
        .call("getinfo", &json!({}))
        .unwrap_err()
        .starts_with("unauthorized"));
    ControlServer::unpublish(&f.dir);
    assert!(!token_path.exists());
    assert!(ControlClient::from_data_dir(&f.dir)
        .unwrap_err()
        .contains("is the terminus running"));
}

#[test]
fn stalled_clients_do_not_block_others() {
    let f = Fake::start();
    let bearer = format!("Bearer {}", f.token);
    // more half-requests than the server has slots, all kept open
    let mut stalled = Vec::new();
    for _ in 0..12 {
        let mut s = TcpStream::connect(f.addr).expect("connect");
        s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"met")
            .unwrap();
        stalled.push(s);
    }
    let t = Instant::now();
    for _ in 0..3 {
        assert_eq!(
            post(f.addr, &bearer, r#"{"method":"echo","params":{}}"#),
            (200, json!({"result": {}}))
        );
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // and the server drops stalled clients after its deadline (5 s)
    let mut s = stalled.pop().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 16];
    let t = Instant::now();
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(t.elapsed() < Duration::from_secs(8));
}

/// Runs the real binary; returns (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .arg("terminus-cli")
        .args(args)
        .output()
        .expect("spawn moneysocket");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
    )
}

fn cli_ok(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = cli(&all);
    assert_eq!(code, 0, "{args:?}: {err}");
    assert!(err.is_empty(), "{err}");
    serde_json::from_str(&out).expect("stdout is JSON only (not a TTY: no QR code)")
}

fn cli_err(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["--data-dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = cli(&all);
    assert_eq!((code, out.as_str()), (1, ""), "{args:?}: {err}");
    assert!(!err.is_empty());
    err
}

#[test]
fn cli_sends_typed_params_and_prints_results() {
    let f = Fake::start();
    let d = f.dir.as_path();
    assert_eq!(cli_ok(d, &["getinfo"]), json!({"accounts": []}));
    assert_eq!(
        cli_ok(d, &["create", "10sat", "-a", "wallet", "-c", "1000"]),
        json!({"name": "account-0", "msats": 10000})
    );
    assert_eq!(
        f.last_call(),
        Some((
            "create".into(),
            json!({"msats": 10000, "name": "wallet", "cap": 1000})
        ))
    );
    assert_eq!(
        cli_ok(
            d,
            &[
                "listen",
                "wallet-0",
                "-s",
                "000102030405060708090A0B0C0D0E0F"
            ]
        )["beacon"],
        BEACON
    );
    assert_eq!(
        f.last_call().unwrap().1,
        json!({"account": "wallet-0", "seed": "000102030405060708090a0b0c0d0e0f"})
    );
    // global options after the verb work too
    cli_ok(d, &["deposit", "wallet-0", "5msats", "--no-qr"]);
    assert_eq!(
        f.last_call(),
        Some(("deposit".into(), json!({"account": "wallet-0", "msats": 5})))
    );
    cli_ok(d, &["disconnect", "wallet-0", BEACON]);
    assert_eq!(
        f.last_call().unwrap().1,
        json!({"account": "wallet-0", "beacon": BEACON})
    );
    cli_ok(d, &["getaccountinfo", "a", "b"]);
    assert_eq!(f.last_call().unwrap().1, json!({"accounts": ["a", "b"]}));
    // the daemon's errors: exit 1 with its text
    assert_eq!(cli_err(d, &["rm", "a"]), "still has connections: a");
    assert_eq!(cli_err(d, &["check"]), "unknown method: check");
}

#[test]
fn cli_refuses_bad_arguments_without_asking() {
    let f = Fake::start();
    let d = f.dir.as_path();
    let before = f.calls.lock().unwrap().len();
    assert!(cli_err(d, &["create", "-5"]).starts_with("invalid msatoshis value"));
    assert!(cli_err(d, &["create", "1.5sat"]).starts_with("could not parse msat value"));
    assert!(cli_err(d, &["create", "1", "-c", "x"]).starts_with("could not parse msat value"));
    assert!(cli_err(d, &["deposit", "a", "0"]).starts_with("invalid msatoshis value"));
    assert!(cli_err(d, &["withdraw", "a", "-1sat"]).starts_with("invalid msatoshis value"));
    assert!(
        cli_err(d, &["listen", "a", "-s", "abc"]).starts_with("could not understand shared seed")
    );
    assert!(cli_err(d, &["connect", "a", "moneysocket1xyz"]).starts_with("could not decode beacon"));
    assert!(cli_err(d, &["disconnect", "a", "nope"]).contains("32-hex-digit shared seed"));
    assert_eq!(f.calls.lock().unwrap().len(), before);
    // no daemon in that dir
    let empty = temp_dir();
    assert!(cli_err(&empty, &["getinfo"]).contains("control.addr not found"));
    // a stale token
    std::fs::write(f.dir.join(TOKEN_FILE), "00\n").unwrap();
    assert!(cli_err(d, &["getinfo"]).starts_with("unauthorized"));
}

#[test]
fn cli_finds_the_data_dir_in_the_config() {
    let f = Fake::start();
    let cfg = temp_dir().join("terminus.toml");
    std::fs::write(&cfg, format!("data_dir = {:?}\n", f.dir.to_str().unwrap())).unwrap();
    let (code, out, err) = cli(&["--config", cfg.to_str().unwrap(), "getinfo"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"accounts": []})
    );
    let ini = temp_dir().join("moneysocket-terminus.conf");
    std::fs::write(
        &ini,
        format!("[App]\nAccountPersistDir = {}\n", f.dir.display()),
    )
    .unwrap();
    let (code, _, err) = cli(&["--config", ini.to_str().unwrap(), "getinfo"]);
    assert_eq!(code, 0, "{err}");
}
