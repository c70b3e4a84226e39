//! The wallet end to end: the real `moneysocket` binary (terminus on the simulated node,
//! terminus-cli, relay, wallet), the apps as consumer sessions on a driver in this process,
//! real websockets on loopback.

#[path = "support/relay.rs"]
mod relay;
mod support;
#[path = "support/terminus.rs"]
mod terminus_support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moneysocket_core::beacon::Beacon;
use moneysocket_core::bolt11::Invoice;
use moneysocket_core::host::SessionId;
use moneysocket_driver::ConsumerEvent;
use moneysocket_host::terminus::ledger::system_clock;
use moneysocket_host::wallet::ledger::WalletLedger;
use moneysocket_host::wallet::{self, Period, Upstream, WalletConfig, Window};
use relay::Relay;
use support::{read_line_after, spawn_listening, spawn_piped, temp_dir};
use terminus_support::{cli, encode_beacon, listen_beacon, sha256, start_terminus, Apps, Killed};

const FOREVER: Window = Window {
    start_ms: 0,
    end_ms: None,
};

/// A terminus on the simulated node with accounts `(name, amount)`; the listen beacons of
/// `name-0`, in order.
fn terminus(dir: &Path, accounts: &[(&str, &str)]) -> (Killed, Vec<String>) {
    terminus_with("", dir, accounts)
}

/// [`terminus`] with a configuration (TOML).
fn terminus_with(config: &str, dir: &Path, accounts: &[(&str, &str)]) -> (Killed, Vec<String>) {
    let (t, _) = start_terminus(config, dir, "127.0.0.1:0");
    let beacons = accounts
        .iter()
        .map(|(name, amount)| {
            cli(dir, &["create", amount, "-a", name]);
            listen_beacon(dir, &format!("{name}-0"))
        })
        .collect();
    (t, beacons)
}

/// `name-0`'s balance as the terminus has it.
fn balance_of(dir: &Path, name: &str) -> u64 {
    cli(dir, &["getaccountinfo", &format!("{name}-0")])["accounts"][0]["msats"]
        .as_u64()
        .expect("msats")
}

/// A peer node's invoice (paid through the simulated node: fee 1,000 msat + 1,000 ppm).
fn peer_invoice(dir: &Path, amount: &str) -> String {
    cli(dir, &["simnet-invoice", amount])["bolt11"][0]
        .as_str()
        .expect("bolt11")
        .to_owned()
}

/// A signed regtest invoice that names no amount.
fn amountless_invoice() -> String {
    signed_invoice(None, [9; 32])
}

/// A signed regtest invoice of `msats` (`None`: any amount) for `payment_hash`.
fn signed_invoice(msats: Option<u64>, payment_hash: [u8; 32]) -> String {
    use moneysocket_core::bolt11::{DescriptionRef, Network, UnsignedInvoice};
    use secp256k1::{Message, Secp256k1, SecretKey};
    let secp = Secp256k1::signing_only();
    let key = SecretKey::from_slice(&[7; 32]).unwrap();
    let now = (system_clock())() / 1000;
    let mut invoice = UnsignedInvoice::new(
        Network::Regtest,
        now,
        payment_hash,
        [8; 32],
        DescriptionRef::Direct("any amount"),
    );
    invoice.amount_msat = msats.and_then(std::num::NonZeroU64::new);
    invoice
        .to_signed_string(|h| {
            let sig = secp.sign_ecdsa_recoverable(&Message::from_digest(*h), &key);
            let (id, rs) = sig.serialize_compact();
            (rs, u8::try_from(id.to_i32()).unwrap())
        })
        .unwrap()
}

/// A `moneysocket wallet` process (logs in `DIR/moneysocket-wallet.log`).
struct WalletProc {
    child: Killed,
    dir: PathBuf,
    beacon: String,
    /// `host:port` with --listen.
    listen: Option<String>,
}

impl WalletProc {
    /// `wallet --downstream D --data-dir DIR --log-dir DIR --no-qr ARGS…`.
    fn start(dir: &Path, downstream: &str, args: &[&str]) -> WalletProc {
        let mut all: Vec<&OsStr> = vec![
            OsStr::new("wallet"),
            OsStr::new("--downstream"),
            OsStr::new(downstream),
            OsStr::new("--data-dir"),
            dir.as_os_str(),
            OsStr::new("--log-dir"),
            dir.as_os_str(),
            OsStr::new("--no-qr"),
        ];
        all.extend(args.iter().map(OsStr::new));
        let listening = args.contains(&"--listen");
        let (child, mut out, listen) = if listening {
            let (c, out, url) = spawn_listening(&all);
            let host_port = url.split_once("://").map_or(url.as_str(), |(_, hp)| hp);
            (c, out, Some(host_port.to_owned()))
        } else {
            let (c, out) = spawn_piped(&all);
            (c, out, None)
        };
        let beacon = read_line_after(&mut out, "upstream beacon: ");
        WalletProc {
            child: Killed(child),
            dir: dir.to_path_buf(),
            beacon,
            listen,
        }
    }

    /// [`WalletProc::start`] with `--listen LISTEN` before `args`.
    fn listening(dir: &Path, downstream: &str, listen: &str, args: &[&str]) -> WalletProc {
        let mut all = vec!["--listen", listen];
        all.extend(args);
        WalletProc::start(dir, downstream, &all)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("moneysocket-wallet.log")).unwrap_or_default()
    }

    /// Polls `apps` until the wallet's log contains `what`, for at most `limit`.
    fn wait_log(&self, apps: &mut Apps, what: &str, limit: Duration) {
        let until = Instant::now() + limit;
        while !self.log().contains(what) {
            assert!(
                Instant::now() < until,
                "no {what:?} in the wallet's log: {}",
                self.log()
            );
            apps.pump();
        }
    }

    /// SIGTERM, and wait for the exit (graceful stop).
    fn stop(mut self) {
        self.child.stop("wallet");
    }
}

/// What the wallet's ledger says (read beside the running wallet: SQLite WAL).
fn ledger(dir: &Path) -> WalletLedger {
    WalletLedger::open(&dir.join("wallet.sqlite"), system_clock()).expect("wallet ledger")
}

#[test]
fn an_allowed_pay_counts_its_fee_and_the_limits_refuse_without_touching_downstream() {
    let tdir = temp_dir();
    let (_t, beacons) = terminus(&tdir, &[("buyer", "100000sat")]);
    let wdir = temp_dir();
    let w = WalletProc::start(
        &wdir,
        &beacons[0],
        &[
            "--listen",
            "127.0.0.1:0",
            "--allowance",
            "20000sat",
            "--per-payment-max",
            "17000sat",
            "--period",
            "never",
        ],
    );
    let mut apps = Apps::new();
    let app = apps.consumer(&w.beacon);
    // min(allowance 20,000 sat, downstream 100,000 sat)
    assert_eq!(apps.balance(app, |_| true), 20_000_000);

    // Through the node: fee 1,000 msat + 1,000 ppm of 3,000,000 = 4,000 msat.
    let bolt11 = peer_invoice(&tdir, "3000sat");
    let preimage = apps.pay(app, &bolt11).expect("allowed pay");
    let invoice = Invoice::parse(&bolt11).unwrap();
    assert_eq!(&sha256(&preimage), invoice.payment_hash());
    let left = 20_000_000 - 3_004_000;
    assert_eq!(apps.balance(app, |m| m == left), left, "{}", w.log());
    let after = 100_000_000 - 3_004_000;
    assert_eq!(balance_of(&tdir, "buyer"), after);

    // Above the per-payment maximum: refused, never forwarded.
    let big = peer_invoice(&tdir, "18000sat");
    let e = apps.pay(app, &big).unwrap_err();
    assert!(e.contains("per-payment maximum of 17000000 msat"), "{e}");
    // Within the maximum but 16,990,000 + 169,900 reserve > 16,996,000 left: refused.
    let over = peer_invoice(&tdir, "16990sat");
    let e = apps.pay(app, &over).unwrap_err();
    assert!(e.contains("allowance exceeded"), "{e}");
    assert!(e.contains(&format!("{left} msat left")), "{e}");
    // An invoice without an amount, and one that does not decode.
    let e = apps.pay(app, &amountless_invoice()).unwrap_err();
    assert!(e.contains("the invoice has no amount"), "{e}");
    let e = apps.pay(app, "lnbcrt1notaninvoice").unwrap_err();
    assert!(e.contains("invalid invoice"), "{e}");
    assert_eq!(balance_of(&tdir, "buyer"), after, "downstream untouched");

    let mut l = ledger(&wdir);
    let u = l.usage(&FOREVER).unwrap();
    assert_eq!((u.spent_msat, u.reserved_msat), (3_004_000, 0));
    assert_eq!(l.counts(), (1, 4));
    let log = w.log();
    assert!(log.contains("fee 4000 msat"), "{log}");
    assert!(log.contains("refused pay"), "{log}");
    w.stop();
}

#[test]
fn the_allowance_renews_on_a_period_boundary() {
    let tdir = temp_dir();
    let (_t, beacons) = terminus(&tdir, &[("buyer", "100000sat"), ("seller", "0")]);
    let wdir = temp_dir();
    let w = WalletProc::start(
        &wdir,
        &beacons[0],
        &[
            "--listen",
            "127.0.0.1:0",
            "--allowance",
            "5000sat",
            "--period",
            "4",
        ],
    );
    let mut apps = Apps::new();
    let app = apps.consumer(&w.beacon);
    let seller = apps.consumer(&beacons[1]);
    assert_eq!(apps.balance(app, |_| true), 5_000_000);
    apps.balance(seller, |_| true);
    let first = apps.invoice(seller, 4_000_000).unwrap();
    let second = apps.invoice(seller, 4_000_000).unwrap();

    // Start right after a boundary (rolling windows count from the wallet's anchor), so
    // both pays fall in one window of 4 s.
    let anchor: u64 = rusqlite::Connection::open(wdir.join("wallet.sqlite"))
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'anchor_ms'", [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap()
        .parse()
        .unwrap();
    let now = (system_clock())();
    let into = (now - anchor) % 4_000;
    if into > 300 {
        std::thread::sleep(Duration::from_millis(4_000 - into + 50));
    }

    // An internal transfer: no fee; 4,000,000 spent, 1,000,000 left.
    apps.pay(app, &first).expect("first pay");
    assert_eq!(apps.balance(app, |m| m == 1_000_000), 1_000_000);
    let e = apps.pay(app, &second).unwrap_err();
    assert!(
        e.contains("allowance exceeded") && e.contains("renews at"),
        "{e}"
    );
    // The boundary renews it: advertised again, and the same invoice now goes through.
    assert_eq!(
        apps.balance(app, |m| m == 5_000_000),
        5_000_000,
        "{}",
        w.log()
    );
    apps.pay(app, &second).expect("after renewal");
    assert_eq!(balance_of(&tdir, "seller"), 8_000_000);
    let log = w.log();
    assert!(log.contains("allowance renewed"), "{log}");
    w.stop();
}

#[test]
fn the_spent_amount_survives_a_kill_and_restart() {
    let tdir = temp_dir();
    let (_t, beacons) = terminus(&tdir, &[("buyer", "100000sat"), ("seller", "0")]);
    let wdir = temp_dir();
    let args = ["--allowance", "10000sat", "--period", "month"];
    let w = WalletProc::listening(&wdir, &beacons[0], "127.0.0.1:0", &args);
    let listen = w.listen.clone().expect("listen address");
    let mut apps = Apps::new();
    let app = apps.consumer(&w.beacon);
    let seller = apps.consumer(&beacons[1]);
    let (msats, account) = apps.info(app);
    assert_eq!(msats, Some(10_000_000));
    apps.balance(seller, |_| true);
    let bolt11 = apps.invoice(seller, 3_000_000).unwrap();
    apps.pay(app, &bolt11).expect("pay");
    assert_eq!(apps.balance(app, |m| m == 7_000_000), 7_000_000);

    // kill -9, restart on the same port with the same data dir: same beacon, same account,
    // 7,000 sat left.
    let beacon = w.beacon.clone();
    drop(w);
    apps.until("the link to close", |s, e| {
        matches!(e, ConsumerEvent::Closed(_) if s == app).then_some(())
    });
    apps.events.clear(); // what the first wallet said
    let w2 = WalletProc::listening(&wdir, &beacons[0], &listen, &args);
    assert_eq!(w2.beacon, beacon);
    // The app redials by itself and hears what is left, of the same account.
    assert_eq!(apps.info(app), (Some(7_000_000), account), "{}", w2.log());
    let big = apps.invoice(seller, 8_000_000).unwrap();
    let e = apps.pay(app, &big).unwrap_err();
    assert!(e.contains("allowance exceeded"), "{e}");
    w2.stop();
    let u = ledger(&wdir).usage(&FOREVER).unwrap();
    assert_eq!((u.spent_msat, u.reserved_msat), (3_000_000, 0));
    assert_eq!(balance_of(&tdir, "buyer"), 97_000_000);
}

#[test]
fn a_pay_in_flight_when_the_wallet_dies_stays_reserved_and_is_reconciled() {
    let tdir = temp_dir();
    // Payments through the node take 8 s: the restarted wallet must be connected again when
    // the terminus tells the account's sessions the outcome (told while it is down, the pay
    // stays reserved: docs/wallet.md), and a restart on a loaded machine took over 3 s.
    let (_t, beacons) = terminus_with(
        "[simnode]\nlatency_ms = 8000\n",
        &tdir,
        &[("buyer", "100000sat")],
    );
    let wdir = temp_dir();
    let args = ["--allowance", "10000sat", "--period", "never"];
    let w = WalletProc::listening(&wdir, &beacons[0], "127.0.0.1:0", &args);
    let listen = w.listen.clone().expect("listen address");
    let mut apps = Apps::new();
    let app = apps.consumer(&w.beacon);
    assert_eq!(apps.balance(app, |_| true), 10_000_000);
    let bolt11 = peer_invoice(&tdir, "2000sat");
    apps.d.pay(app, &bolt11).unwrap();
    // forwarded
    w.wait_log(&mut apps, "allowed pay", Duration::from_secs(10));
    // ...and routing at the terminus: the wallet logs before its round's frames leave, and a
    // kill in between (seen on a loaded CI machine) means the pay never left at all
    let until = Instant::now() + Duration::from_secs(10);
    while cli(&tdir, &["check"])["in_flight_count"] != 1 {
        assert!(Instant::now() < until, "the pay never reached the terminus");
        std::thread::sleep(Duration::from_millis(20));
    }
    // kill -9 with the pay routing; restart at once: the pay is still reserved
    // (2,000,000 + 20,000 reserve), then the terminus tells the account's sessions the
    // preimage and the wallet marks it succeeded (its fee unknown: the reserve counts).
    drop(w);
    let w2 = WalletProc::listening(&wdir, &beacons[0], &listen, &args);
    w2.wait_log(&mut apps, "reconciled", Duration::from_secs(30));
    assert!(w2.log().contains("1 pay(s) were in flight"), "{}", w2.log());
    // as much used as before (reserved then, spent now): the same amount advertised
    assert_eq!(apps.balance(app, |m| m == 7_980_000), 7_980_000);
    // (the log line is written before the round commits)
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let u = ledger(&wdir).usage(&FOREVER).unwrap();
        if (u.spent_msat, u.reserved_msat) == (2_020_000, 0) {
            break;
        }
        assert!(Instant::now() < until, "{u:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // the terminus charged the actual fee (1,000 + 2,000 ppm = 3,000 msat)
    assert_eq!(balance_of(&tdir, "buyer"), 100_000_000 - 2_003_000);
    w2.stop();
}

#[test]
fn pays_in_flight_reserve_before_they_are_forwarded() {
    let tdir = temp_dir();
    let (_t, beacons) = terminus_with(
        "[simnode]\nlatency_ms = 500\n",
        &tdir,
        &[("buyer", "100000sat")],
    );
    let wdir = temp_dir();
    let w = WalletProc::start(
        &wdir,
        &beacons[0],
        &["--listen", "127.0.0.1:0", "--allowance", "7000sat"],
    );
    let mut apps = Apps::new();
    let app = apps.consumer(&w.beacon);
    assert_eq!(apps.balance(app, |_| true), 7_000_000);
    // Three pays of 3,000 sat sent at once: two fit (2 × 3,030,000 reserved), the third
    // is refused while they route.
    let requests: Vec<_> = (0..3)
        .map(|_| {
            let b = peer_invoice(&tdir, "3000sat");
            apps.d.pay(app, &b).unwrap()
        })
        .collect();
    let mut answers = Vec::new();
    for r in &requests {
        answers.push(apps.pay_outcome(app, *r).map(|_| ()));
    }
    assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
    let refused = answers[2].as_ref().unwrap_err();
    assert!(refused.contains("allowance exceeded"), "{refused}");
    // Both routed at once: their fees (4,000 msat each) are told together by the balance
    // once both were answered.
    assert_eq!(apps.balance(app, |m| m == 992_000), 992_000, "{}", w.log());
    let u = ledger(&wdir).usage(&FOREVER).unwrap();
    assert_eq!(
        (u.spent_msat, u.reserved_msat),
        (6_008_000, 0),
        "{}",
        w.log()
    );
    assert_eq!(balance_of(&tdir, "buyer"), 100_000_000 - 2 * 3_004_000);
    w.stop();
}

#[test]
fn the_app_hears_not_ready_until_the_downstream_account_is_there() {
    let tdir = temp_dir();
    let (_t, listen) = start_terminus("", &tdir, "127.0.0.1:0");
    cli(&tdir, &["create", "2000sat", "-a", "late"]);
    // The account's beacon, before the terminus serves it.
    let seed = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0";
    let downstream = encode_beacon(seed, &format!("ws://{listen}"));
    let wdir = temp_dir();
    let w = WalletProc::start(
        &wdir,
        &downstream,
        &["--listen", "127.0.0.1:0", "--allowance", "5000sat"],
    );
    let mut apps = Apps::new();
    let app = apps.consumer(&w.beacon);
    apps.until("not ready", |s, e| {
        matches!(e, ConsumerEvent::ProviderNotReady if s == app).then_some(())
    });
    assert!(!apps.d.host().consumer(app).unwrap().is_ready());
    // The terminus serves the account now: the wallet is ready, and so is the app.
    cli(&tdir, &["listen", "late-0", "-s", seed]);
    assert_eq!(apps.balance(app, |_| true), 2_000_000, "{}", w.log());
    w.stop();
}

/// A consumer of the seller's account on `apps`, ready.
fn fresh_seller(apps: &mut Apps, beacon: &str) -> SessionId {
    let s = apps.consumer(beacon);
    apps.balance(s, |_| true);
    s
}

#[test]
fn an_upstream_invoice_is_paid_by_another_account_and_its_preimage_reaches_the_app() {
    let relay = Relay::on_port(0);
    let tdir = temp_dir();
    let (_t, beacons) = terminus(&tdir, &[("buyer", "1000sat"), ("payer", "50000sat")]);
    let app_beacon = encode_beacon("0f1e2d3c4b5a69788796a5b4c3d2e1f0", &relay.url);
    let wdir = temp_dir();
    let w = WalletProc::start(
        &wdir,
        &beacons[0],
        &["--upstream", &app_beacon, "--allowance", "5000sat"],
    );
    assert_eq!(w.beacon, app_beacon);
    let mut apps = Apps::new();
    let app = apps.consumer(&app_beacon);
    let payer = apps.consumer(&beacons[1]);
    // min(allowance 5,000 sat, downstream 1,000 sat)
    assert_eq!(apps.balance(app, |_| true), 1_000_000);
    apps.balance(payer, |_| true);

    // Receiving is not limited by the allowance.
    let bolt11 = apps.invoice(app, 20_000_000).unwrap();
    let hash = *Invoice::parse(&bolt11).unwrap().payment_hash();
    apps.pay(payer, &bolt11)
        .expect("payer pays the app's invoice");
    let heard = apps.incoming_preimage(app);
    assert_eq!(sha256(&heard), hash);
    // the downstream balance grew: the advertised amount is the allowance now
    assert_eq!(apps.balance(app, |m| m == 5_000_000), 5_000_000);
    assert_eq!(balance_of(&tdir, "buyer"), 21_000_000);
    assert!(w.log().contains("upstream invoice paid"), "{}", w.log());
    w.stop();
    drop(relay);
}

#[test]
fn the_in_process_wallet_reports_its_state_and_stops() {
    let tdir = temp_dir();
    let (_t, beacons) = terminus(&tdir, &[("buyer", "10000sat"), ("seller", "0")]);
    let mut cfg = WalletConfig::new(
        Beacon::decode(&beacons[0]).unwrap(),
        Upstream::Listen {
            addr: "127.0.0.1:0".parse().unwrap(),
            external_url: None,
            tls: None,
        },
        3_000_000,
        Period::Day,
        temp_dir(),
    );
    cfg.per_payment_max_msat = Some(2_500_000);
    let handle = wallet::spawn(cfg).expect("wallet starts");
    let mut apps = Apps::new();
    let app = apps.consumer(handle.upstream_beacon());
    let seller = fresh_seller(&mut apps, &beacons[1]);
    assert_eq!(apps.balance(app, |_| true), 3_000_000);
    let bolt11 = apps.invoice(seller, 2_000_000).unwrap();
    apps.pay(app, &bolt11).expect("pay");
    let s = handle
        .wait_for(Duration::from_secs(10), |s| s.spent_msat == 2_000_000)
        .expect("spent counted");
    assert_eq!((s.left_msat, s.reserved_msat, s.allowed), (1_000_000, 0, 1));
    assert!(s.downstream_ready && s.upstream_ready, "{s:?}");
    let again = apps.invoice(seller, 2_000_000).unwrap();
    assert!(apps.pay(app, &again).unwrap_err().contains("allowance"));
    let s = handle
        .wait_for(Duration::from_secs(10), |s| s.refusals == 1)
        .expect("refusal counted");
    assert_eq!(s.advertised_msat, Some(1_000_000));
    assert_eq!(s.downstream_balance_msat, Some(8_000_000));
    handle.stop().expect("stops");
    // the app's link is gone
    let until = Instant::now() + Duration::from_secs(10);
    while apps.d.host().consumer(app).is_some_and(|c| c.is_ready()) {
        assert!(Instant::now() < until, "app still linked after stop");
        apps.pump();
    }
}

#[test]
fn a_calendar_day_renews_at_midnight_utc_on_the_wallets_clock() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let tdir = temp_dir();
    let (_t, beacons) = terminus(&tdir, &[("buyer", "10000sat"), ("seller", "0")]);
    // 2026-12-04T23:59:59Z, a second before the next calendar day
    let clock = Arc::new(AtomicU64::new(1_796_428_799_000));
    let mut cfg = WalletConfig::new(
        Beacon::decode(&beacons[0]).unwrap(),
        Upstream::Listen {
            addr: "127.0.0.1:0".parse().unwrap(),
            external_url: None,
            tls: None,
        },
        2_000_000,
        Period::Day,
        temp_dir(),
    );
    let c = Arc::clone(&clock);
    cfg.clock = Arc::new(move || c.load(Ordering::SeqCst));
    let handle = wallet::spawn(cfg).expect("wallet starts");
    let mut apps = Apps::new();
    let app = apps.consumer(handle.upstream_beacon());
    let seller = fresh_seller(&mut apps, &beacons[1]);
    assert_eq!(apps.balance(app, |_| true), 2_000_000);
    let first = apps.invoice(seller, 1_500_000).unwrap();
    let second = apps.invoice(seller, 1_500_000).unwrap();
    apps.pay(app, &first).expect("first pay");
    let e = apps.pay(app, &second).unwrap_err();
    assert!(e.contains("renews at 2026-12-05T00:00:00Z"), "{e}");
    // midnight on the wallet's clock: renewed, advertised again, the second pay allowed
    clock.store(1_796_428_801_000, Ordering::SeqCst);
    assert_eq!(apps.balance(app, |m| m == 2_000_000), 2_000_000);
    let s = handle.state();
    assert_eq!((s.spent_msat, s.period_start_ms), (0, 1_796_428_800_000));
    apps.pay(app, &second).expect("after midnight");
    let s = handle
        .wait_for(Duration::from_secs(10), |s| s.spent_msat == 1_500_000)
        .expect("spent in the new day");
    assert_eq!((s.allowed, s.refusals), (2, 1));
    handle.stop().expect("stops");
}

/// A provider in this process that reports the balance before the preimage, as the
/// JavaScript reference app can (docs/quirks-js-peers.md, check 3h): the fee the wallet
/// counts comes from that balance once no update follows the answer, not from the reserve.
#[test]
fn a_provider_that_reports_the_balance_before_the_preimage_is_charged_the_fee_it_shows() {
    use moneysocket_core::message::{ProviderInfo, Wad};
    use moneysocket_core::seed::SharedSeed;
    use moneysocket_core::session::ProviderConfig;
    use moneysocket_core::uuid::Uuid;
    use moneysocket_driver::{Driver, DriverConfig, DriverEvent, ProviderEvent, SessionEvent};
    use moneysocket_ws::TransportConfig;

    let relay = Relay::on_port(0);
    let seed_hex = "1f2e3d4c5b6a79889786a5b4c3d2e1f0";
    let beacon = encode_beacon(seed_hex, &relay.url);
    let mut pd = Driver::new(DriverConfig::default(), TransportConfig::default()).unwrap();
    let account = Uuid::v4_from_bytes([0x24; 16]);
    let info = |msats| ProviderInfo {
        account_uuid: account,
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(msats)),
    };
    let p = pd.add_provider(
        &SharedSeed::from_hex(seed_hex).unwrap(),
        ProviderConfig::default(),
        Some(account),
    );
    pd.set_provider_info(p, &info(10_000_000)).unwrap();
    pd.connect(p, [relay.url.clone()]).unwrap();

    let cfg = WalletConfig::new(
        Beacon::decode(&beacon).unwrap(),
        Upstream::Listen {
            addr: "127.0.0.1:0".parse().unwrap(),
            external_url: None,
            tls: None,
        },
        5_000_000,
        Period::Never,
        temp_dir(),
    );
    let handle = wallet::spawn(cfg).expect("wallet starts");
    let mut apps = Apps::new();
    let app = apps.consumer(handle.upstream_beacon());
    // The provider: the new balance (amount + 3 msat fee), then the preimage.
    let serve = |pd: &mut Driver| {
        let mut evs = Vec::new();
        pd.poll(&mut evs, Some(Duration::from_millis(5))).unwrap();
        for ev in evs {
            if let DriverEvent::Session {
                session,
                event: SessionEvent::Provider(ProviderEvent::PayRequested { request, .. }),
            } = ev
            {
                pd.set_provider_info(session, &info(10_000_000 - 1_000_003))
                    .unwrap();
                pd.send_preimage(session, Some(request), &[7; 32]).unwrap();
            }
        }
    };
    let until = Instant::now() + Duration::from_secs(20);
    while !handle.state().downstream_ready {
        assert!(
            Instant::now() < until,
            "wallet not ready: {:?}",
            handle.state()
        );
        serve(&mut pd);
        apps.pump();
    }
    assert_eq!(apps.balance(app, |_| true), 5_000_000);
    let bolt11 = signed_invoice(Some(1_000_000), [5; 32]);
    let r = apps.d.pay(app, &bolt11).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while !apps.events.iter().any(|(s, e)| {
        *s == app
            && matches!(e, ConsumerEvent::Preimage { request: Some(q), preimage }
            if *q == r && *preimage == [7; 32])
    }) {
        assert!(Instant::now() < until, "no preimage: {:?}", apps.events);
        serve(&mut pd);
        apps.pump();
    }
    // Before the fix the reserve (10 sat) counted: spent 1,010,000 msat.
    let until = Instant::now() + Duration::from_secs(30);
    while handle.state().spent_msat != 1_000_003 {
        assert!(
            Instant::now() < until,
            "fee not taken from the balance heard before the preimage: {:?}",
            handle.state()
        );
        serve(&mut pd);
        apps.pump();
    }
    let s = handle.state();
    assert_eq!((s.left_msat, s.reserved_msat), (5_000_000 - 1_000_003, 0));
    handle.stop().expect("stops");
    drop(relay);
}

/// `moneysocket consumer BEACON --timeout 5 info`, with `SSL_CERT_FILE` set to `env` (or
/// removed) and `args` before the verb.
fn consumer_info(beacon: &str, args: &[&str], env: Option<&Path>) -> std::process::Output {
    let mut cmd = std::process::Command::new(terminus_support::BIN);
    cmd.args(["consumer", beacon, "--timeout", "5"])
        .args(args)
        .arg("info");
    match env {
        Some(file) => cmd.env("SSL_CERT_FILE", file),
        None => cmd.env_remove("SSL_CERT_FILE"),
    };
    cmd.output().expect("run moneysocket consumer")
}

/// A self-signed certificate for `localhost` and `127.0.0.1` marked CA:true (as
/// `openssl req -x509` makes them): `(cert.pem, key.pem)` in a fresh directory.
fn ca_true_cert() -> (PathBuf, PathBuf) {
    let dir = temp_dir();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("names");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).expect("write cert");
    std::fs::write(&k, key.serialize_pem()).expect("write key");
    (c, k)
}

#[test]
fn a_wss_relay_with_a_self_signed_certificate_is_trusted_through_its_ca_file() {
    let (cert, key) = ca_true_cert();
    let cert_text = cert.to_str().expect("utf-8 path");
    let key_text = key.to_str().expect("utf-8 path");
    let relay = Relay::start_with("", &["--tls-cert", cert_text, "--tls-key", key_text]);
    let location = format!("wss://localhost:{}", relay.port);
    let dir = temp_dir();
    let (_t, _) = terminus_with(
        &format!("relay_ca_file = {cert_text:?}\n"),
        &dir,
        &[("alice", "100000sat"), ("bob", "100000sat")],
    );
    // one beacon per consumer below, each its own pairing at the relay (an account takes
    // three beacons, its listen beacon is one)
    let beacons: Vec<String> = (0..4)
        .map(|i| {
            let b = encode_beacon(&format!("{i:032x}"), &location);
            cli(&dir, &["connect", ["alice-0", "bob-0"][i / 2], &b]);
            b
        })
        .collect();

    // without the certificate the consumer refuses the relay, and says why
    let out = consumer_info(&beacons[0], &[], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid peer certificate") && err.contains("--ca-file"),
        "{err}"
    );

    // --ca-file, or $SSL_CERT_FILE: the terminus (which trusts it by `relay_ca_file`) answers
    let info = |out: std::process::Output| -> serde_json::Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let flagged = info(consumer_info(&beacons[1], &["--ca-file", cert_text], None));
    assert_eq!(flagged["balance_msats"], 100_000_000, "{flagged}");
    let by_env = info(consumer_info(&beacons[2], &[], Some(&cert)));
    assert_eq!(by_env["balance_msats"], 100_000_000, "{by_env}");

    // the wallet dials its downstream account through the same relay with --ca-file, and
    // serves its app over wss with the same certificate (its beacon names wss://127.0.0.1)
    let wdir = temp_dir();
    let w = WalletProc::listening(
        &wdir,
        &beacons[3],
        "127.0.0.1:0",
        &[
            "--allowance",
            "1000sat",
            "--ca-file",
            cert_text,
            "--tls-cert",
            cert_text,
            "--tls-key",
            key_text,
        ],
    );
    let app = info(consumer_info(&w.beacon, &["--ca-file", cert_text], None));
    assert_eq!(app["balance_msats"], 1_000_000, "{app}");
    w.stop();
    drop(relay);
}

#[test]
fn sighup_reloads_the_wallets_listener_certificate() {
    let dir = temp_dir();
    let (_t, beacons) = terminus(&dir, &[("gus", "10000sat")]);
    let wdir = temp_dir();
    let (first, first_key) = ca_true_cert();
    let (cert, key) = (wdir.join("cert.pem"), wdir.join("key.pem"));
    std::fs::copy(&first, &cert).expect("copy");
    std::fs::copy(&first_key, &key).expect("copy");
    let (cert_text, key_text) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let w = WalletProc::listening(
        &wdir,
        &beacons[0],
        "127.0.0.1:0",
        &[
            "--allowance",
            "1000sat",
            "--tls-cert",
            cert_text,
            "--tls-key",
            key_text,
        ],
    );
    let ok =
        |ca: &Path| consumer_info(&w.beacon, &["--ca-file", ca.to_str().expect("utf-8")], None);
    assert!(ok(&first).status.success());
    let (renewed, renewed_key) = ca_true_cert();
    std::fs::copy(&renewed, &cert).expect("copy");
    std::fs::copy(&renewed_key, &key).expect("copy");
    let pid = w.child.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    let until = Instant::now() + Duration::from_secs(15);
    while !ok(&renewed).status.success() {
        assert!(
            Instant::now() < until,
            "the renewed certificate is not served"
        );
    }
    assert!(w.log().contains("TLS certificate reloaded"), "{}", w.log());
    w.stop();
}
