//! Helpers shared by the end-to-end tests of the terminus and what runs on it (wallet,
//! device, web, consumer; included with `#[path]`, each uses a part of them).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output};
use std::time::{Duration, Instant};

use moneysocket_core::beacon::Beacon;
use moneysocket_core::host::SessionId;
use moneysocket_core::session::ConsumerConfig;
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{ConsumerEvent, Driver, DriverConfig, DriverEvent, SessionEvent};
use moneysocket_ws::TransportConfig;
use serde_json::Value;

use crate::support::{read_line_after, spawn_listening};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_moneysocket");

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Killed {
    /// SIGTERM, and waits up to 15 s for the exit (`what` names the process if it does
    /// not stop).
    pub fn stop(&mut self, what: &str) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(15);
        while !matches!(self.0.try_wait(), Ok(Some(_))) {
            assert!(Instant::now() < until, "{what} did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `terminus-cli --data-dir DIR --no-qr ARGS…`, as it ended.
pub fn cli_raw(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("terminus-cli")
        .arg("--data-dir")
        .arg(dir)
        .arg("--no-qr")
        .args(args)
        .output()
        .expect("run terminus-cli")
}

/// `terminus-cli VERB ARGS…` → its JSON result (panics on failure).
pub fn cli(dir: &Path, args: &[&str]) -> Value {
    let out = cli_raw(dir, args);
    assert!(
        out.status.success(),
        "terminus-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json result")
}

/// The beacon of `terminus-cli listen ACCOUNT`.
pub fn listen_beacon(dir: &Path, account: &str) -> String {
    cli(dir, &["listen", account])["beacon"]
        .as_str()
        .expect("beacon")
        .to_owned()
}

/// A terminus on `config` (TOML text, written to `DIR/terminus.toml`) with its data in
/// `dir`, listening on `listen`: the process and its listen address (`host:port`).
pub fn start_terminus(config: &str, dir: &Path, listen: &str) -> (Killed, String) {
    let (t, _, listen) = start_terminus_out(config, dir, listen);
    (t, listen)
}

/// [`start_terminus`], also giving its stdout after the `control at:` line.
pub fn start_terminus_out(
    config: &str,
    dir: &Path,
    listen: &str,
) -> (Killed, BufReader<ChildStdout>, String) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("terminus.toml");
    std::fs::write(&path, config).unwrap();
    let (child, mut out, url) = spawn_listening(&[
        OsStr::new("terminus"),
        OsStr::new("--config"),
        path.as_os_str(),
        OsStr::new("--data-dir"),
        dir.as_os_str(),
        OsStr::new("--listen"),
        OsStr::new(listen),
        OsStr::new("--rpc"),
        OsStr::new("127.0.0.1:0"),
    ]);
    read_line_after(&mut out, "control at:");
    (
        Killed(child),
        out,
        url.trim_start_matches("ws://").to_owned(),
    )
}

/// `moneysocket beacon encode --seed SEED --location LOCATION`: the beacon.
pub fn encode_beacon(seed: &str, location: &str) -> String {
    let out = Command::new(BIN)
        .args(["beacon", "encode", "--seed", seed, "--location", location])
        .output()
        .expect("run beacon encode");
    assert!(
        out.status.success(),
        "beacon encode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A consumer of `beacon` on `d`, dialing its location.
pub fn consumer(d: &mut Driver, beacon: &str) -> SessionId {
    let b = Beacon::decode(beacon).expect("beacon");
    let c = d.add_consumer(&b.shared_seed(), ConsumerConfig::default());
    d.connect_beacon(c, &b).unwrap();
    c
}

/// One poll of `d`; the consumers' events are kept in `events`.
pub fn pump(d: &mut Driver, events: &mut Vec<(SessionId, ConsumerEvent)>) {
    let mut buf = Vec::new();
    d.poll(&mut buf, Some(Duration::from_millis(5))).unwrap();
    for ev in buf {
        if let DriverEvent::Session {
            session,
            event: SessionEvent::Consumer(e),
        } = ev
        {
            events.push((session, e));
        }
    }
}

/// Polls until `f` finds what it waits for among the events: the first match is taken,
/// everything else stays for later waits.
pub fn wait_for<T>(
    d: &mut Driver,
    events: &mut Vec<(SessionId, ConsumerEvent)>,
    what: &str,
    mut f: impl FnMut(SessionId, &ConsumerEvent) -> Option<T>,
) -> T {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((i, t)) = events
            .iter()
            .enumerate()
            .find_map(|(i, (s, e))| f(*s, e).map(|t| (i, t)))
        {
            events.remove(i);
            return t;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        pump(d, events);
    }
}

/// `c` pays `bolt11`: the preimage, or the provider's error text.
pub fn pay_answer(
    d: &mut Driver,
    events: &mut Vec<(SessionId, ConsumerEvent)>,
    c: SessionId,
    bolt11: &str,
) -> Result<[u8; 32], String> {
    let r = d.pay(c, bolt11).unwrap();
    pay_outcome(d, events, c, r)
}

/// The answer to `c`'s pay request `r`: the preimage, or the provider's error text.
pub fn pay_outcome(
    d: &mut Driver,
    events: &mut Vec<(SessionId, ConsumerEvent)>,
    c: SessionId,
    r: Uuid,
) -> Result<[u8; 32], String> {
    wait_for(d, events, "a payment's answer", |s, e| match e {
        ConsumerEvent::Preimage {
            request: Some(q),
            preimage,
        } if s == c && *q == r => Some(Ok(*preimage)),
        ConsumerEvent::Error {
            request: Some(q),
            message,
        } if s == c && *q == r => Some(Err(message.clone())),
        _ => None,
    })
}

/// `c` asks for an invoice of `msats`: the BOLT11, or the provider's error text.
pub fn invoice_answer(
    d: &mut Driver,
    events: &mut Vec<(SessionId, ConsumerEvent)>,
    c: SessionId,
    msats: u64,
) -> Result<String, String> {
    let r = d.request_invoice(c, msats).unwrap();
    invoice_outcome(d, events, c, r)
}

/// The answer to `c`'s invoice request `r`: the BOLT11, or the provider's error text.
pub fn invoice_outcome(
    d: &mut Driver,
    events: &mut Vec<(SessionId, ConsumerEvent)>,
    c: SessionId,
    r: Uuid,
) -> Result<String, String> {
    wait_for(d, events, "an invoice", |s, e| match e {
        ConsumerEvent::Invoice { request, bolt11 } if s == c && *request == r => {
            Some(Ok(bolt11.clone()))
        }
        ConsumerEvent::Error {
            request: Some(q),
            message,
        } if s == c && *q == r => Some(Err(message.clone())),
        _ => None,
    })
}

/// Consumers in this process: a driver and the events its consumer sessions heard (kept
/// until a wait takes them).
pub struct Apps {
    pub d: Driver,
    pub events: Vec<(SessionId, ConsumerEvent)>,
}

impl Apps {
    /// A driver with default settings.
    pub fn new() -> Apps {
        Apps {
            d: Driver::new(DriverConfig::default(), TransportConfig::default()).unwrap(),
            events: Vec::new(),
        }
    }

    /// A consumer of `beacon`, dialing its location.
    pub fn consumer(&mut self, beacon: &str) -> SessionId {
        consumer(&mut self.d, beacon)
    }

    /// One poll; the consumers' events are kept for later waits.
    pub fn pump(&mut self) {
        pump(&mut self.d, &mut self.events);
    }

    /// Polls until `f` finds what it waits for among the events (see [`wait_for`]).
    pub fn until<T>(
        &mut self,
        what: &str,
        f: impl FnMut(SessionId, &ConsumerEvent) -> Option<T>,
    ) -> T {
        wait_for(&mut self.d, &mut self.events, what, f)
    }

    /// The first balance `c` hears (its provider is ready).
    pub fn ready(&mut self, c: SessionId) -> u64 {
        self.balance(c, |_| true)
    }

    /// The next balance `c` hears that satisfies `ok`.
    pub fn balance(&mut self, c: SessionId, ok: impl Fn(u64) -> bool) -> u64 {
        self.until("a balance", |s, e| match e {
            ConsumerEvent::Provider(u) if s == c => u.msats.filter(|m| ok(*m)),
            _ => None,
        })
    }

    /// The next provider info `c` hears: balance and account uuid.
    pub fn info(&mut self, c: SessionId) -> (Option<u64>, Uuid) {
        self.until("provider info", |s, e| match e {
            ConsumerEvent::Provider(u) if s == c => Some((u.msats, u.account_uuid)),
            _ => None,
        })
    }

    /// The preimage of an incoming payment `c` hears of (no request of its own).
    pub fn incoming_preimage(&mut self, c: SessionId) -> [u8; 32] {
        self.until("an incoming preimage", |s, e| match e {
            ConsumerEvent::Preimage {
                request: None,
                preimage,
            } if s == c => Some(*preimage),
            _ => None,
        })
    }

    /// `c` asks for an invoice of `msats` (see [`invoice_answer`]).
    pub fn invoice(&mut self, c: SessionId, msats: u64) -> Result<String, String> {
        invoice_answer(&mut self.d, &mut self.events, c, msats)
    }

    /// The answer to `c`'s invoice request `r` (see [`invoice_outcome`]).
    pub fn invoice_outcome(&mut self, c: SessionId, r: Uuid) -> Result<String, String> {
        invoice_outcome(&mut self.d, &mut self.events, c, r)
    }

    /// The answer to `c`'s pay request `r` (see [`pay_outcome`]).
    pub fn pay_outcome(&mut self, c: SessionId, r: Uuid) -> Result<[u8; 32], String> {
        pay_outcome(&mut self.d, &mut self.events, c, r)
    }

    /// `c` pays `bolt11` (see [`pay_answer`]).
    pub fn pay(&mut self, c: SessionId, bolt11: &str) -> Result<[u8; 32], String> {
        pay_answer(&mut self.d, &mut self.events, c, bolt11)
    }
}

/// SHA-256.
pub fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
