//! The payment device end to end: the Cortex-M firmware (`firmware-examples/consumer`) under
//! `qemu-system-arm`, its UART on a loopback TCP socket, the real `moneysocket bridge`, relay
//! and terminus (simulated node). The device is provisioned over the link, sells (its invoice
//! is paid from another account, by a consumer in this process) and buys (pays a BOLT11
//! handed over the link); the test passes only when QEMU exits with the firmware's success.
//!
//! Without `qemu-system-arm` the tests are skipped (loudly); under `CI=true` (or
//! `MONEYSOCKET_REQUIRE_QEMU=1`, as `firmware-examples/e2e.sh` sets) a missing QEMU fails them. The firmware is built by the first test that needs it, into
//! `target/firmware` (cached).

#[path = "support/relay.rs"]
mod relay;
mod support;
#[path = "support/terminus.rs"]
mod terminus_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use moneysocket_core::host::SessionId;
use moneysocket_driver::ConsumerEvent;
use relay::Relay;
use support::{free_port, lines_of, temp_dir};
use terminus_support::{cli, encode_beacon, listen_beacon, start_terminus, Apps, Killed, BIN};

/// Longest wait for one step of the device (QEMU paces its UART: a frame takes ~0.3 s).
const STEP: Duration = Duration::from_secs(60);
/// What the device's vending side charges (firmware `device::VEND_MSATS`).
const VEND_MSATS: u64 = 5_000;
/// What the metered side pays.
const METERED_MSATS: u64 = 3_000;

/// The QEMU binary, or `None` (skip) when it is missing outside CI.
fn qemu() -> Option<&'static str> {
    const QEMU: &str = "qemu-system-arm";
    let found = Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(QEMU);
    }
    let required = std::env::var("CI").as_deref() == Ok("true")
        || std::env::var("MONEYSOCKET_REQUIRE_QEMU").as_deref() == Ok("1");
    assert!(
        !required,
        "{QEMU} is missing under CI=true or MONEYSOCKET_REQUIRE_QEMU=1 \
         (apt-get install -y qemu-system-arm)"
    );
    eprintln!(
        "\n*** SKIPPED: {QEMU} not found; the payment device end-to-end test did not run \
         (apt-get install -y qemu-system-arm) ***\n"
    );
    None
}

/// Builds the firmware once per test process; its ELF.
fn firmware() -> &'static Path {
    static ELF: OnceLock<PathBuf> = OnceLock::new();
    ELF.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join("firmware-examples");
        let target = root.join("target").join("firmware");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(&cargo)
            .args(["build", "--release", "--quiet"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("run cargo for the firmware");
        assert!(
            out.status.success(),
            "firmware build failed (is the thumbv7em-none-eabihf target installed? \
             `rustup target add thumbv7em-none-eabihf`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("thumbv7em-none-eabihf/release/consumer-size")
    })
}

/// Everything a device run needs, killed when dropped.
struct Rig {
    relay: Relay,
    _terminus: Killed,
    dir: PathBuf,
    qemu: Killed,
    qemu_status: Option<ExitStatus>,
    _bridge: Killed,
    bridge_in: ChildStdin,
    bridge_out: Receiver<String>,
    /// Lines the bridge printed, for failure messages.
    seen: Vec<String>,
    /// The device's account's beacon (on the relay).
    beacon: String,
    /// The payer's consumer session (paying the device, paid by it) on `apps`.
    apps: Apps,
    payer: SessionId,
}

/// How the bridge reaches the device's UART.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// QEMU's serial as a TCP server (`wait=on`), the bridge's `--tcp`.
    Tcp,
    /// QEMU's serial as a pseudo-terminal, the bridge's `--serial` (a serial port).
    Pty,
}

impl Rig {
    fn start(qemu: &str, link: Link) -> Rig {
        let elf = firmware();
        let relay = Relay::on_port(0);
        let dir = temp_dir();
        let (terminus, _) = start_terminus("", &dir, "127.0.0.1:0");
        cli(&dir, &["create", "2500sat", "-a", "shop"]);
        cli(&dir, &["create", "10000sat", "-a", "payer"]);
        let beacon = encode_beacon(
            "00112233445566778899aabbccddeeff",
            &format!("ws://127.0.0.1:{}", relay.port),
        );
        cli(&dir, &["connect", "shop-0", &beacon]);
        let payer_beacon = listen_beacon(&dir, "payer-0");
        let mut apps = Apps::new();
        let payer = apps.consumer(&payer_beacon);
        apps.until("the payer's provider", |s, e| {
            matches!(e, ConsumerEvent::Provider(_) if s == payer).then_some(())
        });

        let port = free_port();
        let serial = match link {
            Link::Tcp => format!("tcp:127.0.0.1:{port},server=on,wait=on"),
            Link::Pty => "pty".to_owned(),
        };
        let qemu = Killed(
            Command::new(qemu)
                .args(["-M", "lm3s6965evb", "-cpu", "cortex-m4"])
                .args(["-display", "none", "-monitor", "none"])
                .args(["-semihosting-config", "enable=on,target=native"])
                .args(["-serial", &serial, "-kernel"])
                .arg(elf)
                // The semihosting console: the device's lines again, for failure reports.
                .stdout(std::fs::File::create(dir.join("qemu.out")).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn qemu"),
        );
        let device = match link {
            // The bridge redials until QEMU listens.
            Link::Tcp => vec!["--tcp".to_owned(), format!("127.0.0.1:{port}")],
            Link::Pty => vec!["--serial".to_owned(), pty_of(&dir.join("qemu.out"))],
        };
        let mut child = Command::new(BIN)
            .arg("bridge")
            .args(&device)
            .args(["--provision", &beacon, "--log-level", "debug"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its log, for failure reports.
            .stderr(std::fs::File::create(dir.join("bridge.log")).unwrap())
            .spawn()
            .expect("spawn bridge");
        let bridge_in = child.stdin.take().unwrap();
        let bridge_out = lines_of(child.stdout.take().unwrap());
        Rig {
            relay,
            _terminus: terminus,
            dir,
            qemu,
            qemu_status: None,
            _bridge: Killed(child),
            bridge_in,
            bridge_out,
            seen: Vec::new(),
            beacon,
            apps,
            payer,
        }
    }

    /// Waits for a bridge line `f` accepts (keeping the payer's session polled); its value.
    fn line<T>(&mut self, what: &str, mut f: impl FnMut(&str) -> Option<T>) -> T {
        let until = Instant::now() + STEP;
        loop {
            match self.bridge_out.recv_timeout(Duration::from_millis(20)) {
                Ok(line) => {
                    let found = f(&line);
                    self.seen.push(line);
                    if let Some(t) = found {
                        return t;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Ok(Some(s)) = self.qemu.0.try_wait() {
                        self.qemu_status = Some(s);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("bridge ended waiting for {what}; it said:\n{}", self.log())
                }
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}; the bridge said:\n{}",
                self.log()
            );
            self.apps.pump();
        }
    }

    fn log(&self) -> String {
        let console = std::fs::read_to_string(self.dir.join("qemu.out")).unwrap_or_default();
        let bridge_log = std::fs::read_to_string(self.dir.join("bridge.log")).unwrap_or_default();
        format!(
            "{}\n--- QEMU console (exit {:?}):\n{console}\n--- bridge log:\n{bridge_log}",
            self.seen.join("\n"),
            self.qemu_status
        )
    }

    /// A command to the bridge (stdin).
    fn command(&mut self, line: &str) {
        writeln!(self.bridge_in, "{line}").unwrap();
        self.bridge_in.flush().unwrap();
    }

    /// The device's invoice.
    fn device_invoice(&mut self) -> String {
        self.line("the device's invoice", |l| {
            l.strip_prefix("device invoice: ").map(str::to_owned)
        })
    }

    /// The payer pays `bolt11`.
    fn pay(&mut self, bolt11: &str) {
        let r = self.apps.pay(self.payer, bolt11);
        assert!(r.is_ok(), "paying the device's invoice: {r:?}");
    }

    /// The payer's invoice of `msats`, for the device to pay.
    fn payer_invoice(&mut self, msats: u64) -> String {
        self.apps
            .invoice(self.payer, msats)
            .unwrap_or_else(|e| panic!("the payer's invoice: {e}"))
    }

    /// Sells, then buys; asserts QEMU's exit and the balances.
    fn sell_and_buy(&mut self, bolt11: &str) {
        self.pay(bolt11);
        self.line("the device dispensing", |l| {
            l.contains("DISPENSED").then_some(())
        });
        let to_pay = self.payer_invoice(METERED_MSATS);
        self.command(&format!("pay {to_pay}"));
        let done = self.line("the device's end", |l| {
            (l.contains("DONE") || l.contains("FAILED")).then(|| l.to_owned())
        });
        assert!(done.contains("DONE"), "{done}\n{}", self.log());
        eprintln!("{done}");
        let status = self.wait_qemu();
        assert!(status.success(), "QEMU exit {status:?}\n{}", self.log());
        let info = cli(&self.dir, &["getaccountinfo", "shop-0", "payer-0"]);
        let msats = |i: usize| info["accounts"][i]["msats"].as_u64();
        assert_eq!(
            msats(0),
            Some(2_500_000 + VEND_MSATS - METERED_MSATS),
            "{info}"
        );
        assert_eq!(
            msats(1),
            Some(10_000_000 - VEND_MSATS + METERED_MSATS),
            "{info}"
        );
        assert_eq!(cli(&self.dir, &["check"])["ok"], true);
    }

    fn wait_qemu(&mut self) -> ExitStatus {
        let until = Instant::now() + STEP;
        loop {
            if let Some(s) = self.qemu.0.try_wait().unwrap() {
                self.qemu_status = Some(s);
                return s;
            }
            assert!(Instant::now() < until, "QEMU did not exit\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The pseudo-terminal QEMU made for the serial port (from its `char device redirected to
/// /dev/pts/N` line on stdout, which goes to `console`).
fn pty_of(console: &Path) -> String {
    let until = Instant::now() + STEP;
    loop {
        let text = std::fs::read_to_string(console).unwrap_or_default();
        if let Some(at) = text.find("redirected to /dev/") {
            let path = text[at + "redirected to ".len()..]
                .split_whitespace()
                .next();
            return path.unwrap().to_owned();
        }
        assert!(Instant::now() < until, "no pty line from QEMU: {text:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_device_sells_and_buys_through_bridge_relay_and_terminus() {
    let Some(qemu) = qemu() else { return };
    let mut rig = Rig::start(qemu, Link::Tcp);
    rig.line("the device's boot line", |l| {
        l.contains("NOT SECURE").then_some(())
    });
    let bolt11 = rig.device_invoice();
    rig.sell_and_buy(&bolt11);
}

#[test]
fn the_device_survives_a_dropped_websocket_and_a_relay_restart() {
    let Some(qemu) = qemu() else { return };
    let mut rig = Rig::start(qemu, Link::Tcp);
    let first = rig.device_invoice();
    // Provisioned again: the device closes its transport (the bridge dials a new websocket)
    // and starts the run over with a new invoice.
    let beacon = rig.beacon.clone();
    rig.command(&format!("provision {beacon}"));
    rig.line("the device provisioned again", |l| {
        l.contains("provisioned again").then_some(())
    });
    rig.line("the device's close", |l| {
        (l == "relay lost: closed by the device").then_some(())
    });
    let bolt11 = rig.device_invoice();
    assert_ne!(bolt11, first);
    // The bridge drops its websocket mid-session: the device starts a new session.
    rig.command("drop-relay");
    rig.line("the device ready again", |l| {
        l.contains("ready: provider info").then_some(())
    });
    // The relay dies and comes back on the same port: everyone reconnects.
    let port = rig.relay.port;
    rig.relay.kill();
    rig.relay = Relay::on_port(port);
    rig.line("the relay lost", |l| {
        l.starts_with("relay lost").then_some(())
    });
    rig.line("the device ready after the restart", |l| {
        l.contains("ready: provider info").then_some(())
    });
    rig.sell_and_buy(&bolt11);
}

/// The same over a serial port: QEMU's UART on a pseudo-terminal, the bridge's `--serial`.
#[test]
fn the_device_sells_and_buys_over_a_serial_port() {
    let Some(qemu) = qemu() else { return };
    let mut rig = Rig::start(qemu, Link::Pty);
    let bolt11 = rig.device_invoice();
    rig.sell_and_buy(&bolt11);
}
