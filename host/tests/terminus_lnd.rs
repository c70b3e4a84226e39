//! The terminus on LND over REST: the real `moneysocket terminus` with an `[lnd]` config
//! against `moneysocket simnet` (simulated nodes behind LND's REST API, over HTTPS), the
//! outside world played by a second simnet node through the same LND client.

mod support;
#[path = "support/terminus.rs"]
mod terminus_support;

use std::ffi::OsStr;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use moneysocket_driver::ConsumerEvent;
use moneysocket_host::terminus::config::LndConfig;
use moneysocket_host::terminus::lnd::LndNode;
use moneysocket_host::terminus::node::{InvoiceRequest, Node};
use support::{spawn_piped, temp_dir};
use terminus_support::{cli, listen_beacon, start_terminus, Apps, Killed, BIN};

/// `moneysocket simnet --nodes 2 --latency-ms MS`: each node's REST port and directory.
fn simnet(dir: &Path, latency_ms: u64) -> (Killed, Vec<(u16, PathBuf)>) {
    let latency_ms = latency_ms.to_string();
    let mut args = [
        "simnet",
        "--nodes",
        "2",
        "--latency-ms",
        &latency_ms,
        "--dir",
    ]
    .map(OsStr::new)
    .to_vec();
    args.push(dir.as_os_str());
    let (child, mut out) = spawn_piped(&args);
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // node I: https://127.0.0.1:PORT dir=DIR
        let port: u16 = line
            .split("https://127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{line:?}"));
        let d = line
            .split("dir=")
            .nth(1)
            .map(|d| PathBuf::from(d.trim()))
            .unwrap_or_else(|| panic!("{line:?}"));
        nodes.push((port, d));
    }
    (Killed(child), nodes)
}

fn lnd_config(port: u16, dir: &Path) -> LndConfig {
    LndConfig {
        rest_host: "127.0.0.1".into(),
        rest_port: port,
        macaroon_path: Some(dir.join("data/chain/bitcoin/regtest/admin.macaroon")),
        macaroon_hex: None,
        tls_cert_path: Some(dir.join("tls.cert")),
    }
}

#[test]
fn the_terminus_pays_and_is_paid_through_lnd_rest() {
    let net_dir = temp_dir();
    let (_simnet, nodes) = simnet(&net_dir, 0);
    let (p0, d0) = nodes[0].clone();
    let (p1, d1) = nodes[1].clone();
    let dir = temp_dir();
    let (_terminus, _) = start_terminus(&lnd_toml(p0, &d0, ""), &dir, "127.0.0.1:0");
    let info = cli(&dir, &["getinfo"]);
    assert_eq!(info["node"]["network"], "regtest", "{info}");
    cli(&dir, &["create", "10000sat", "-a", "lena"]);
    let beacon = listen_beacon(&dir, "lena-0");
    let mut apps = Apps::new();
    let c = apps.consumer(&beacon);
    let start = apps.ready(c);
    assert_eq!(start, 10_000_000);

    // The outside world (node 1, through the same LND client) pays Lena's invoice.
    let outside = LndNode::connect(&lnd_config(p1, &d1)).unwrap();
    let bolt11 = apps.invoice(c, 2_000_000).unwrap_or_else(|e| panic!("{e}"));
    let paid = outside
        .pay(&bolt11, 100_000, Duration::from_secs(30))
        .unwrap();
    let heard = apps.incoming_preimage(c);
    assert_eq!(heard, paid.preimage);
    apps.until("the credited balance", |s, e| match e {
        ConsumerEvent::Provider(u) if s == c && u.msats == Some(12_000_000) => Some(()),
        _ => None,
    });

    // Lena pays an invoice of the outside world: through LND, the actual fee charged.
    let theirs = outside
        .create_invoice(&InvoiceRequest {
            msats: 3_000_000,
            expiry: Duration::from_secs(600),
            memo: "lnd test".into(),
            description_hash: None,
            preimage: None,
        })
        .unwrap();
    let r = apps.d.pay(c, &theirs.bolt11).unwrap();
    apps.until("the payment's preimage", |s, e| match e {
        ConsumerEvent::Preimage {
            request: Some(q), ..
        } if s == c && *q == r => Some(()),
        ConsumerEvent::Error {
            request: Some(q),
            message,
        } if s == c && *q == r => panic!("{message}"),
        _ => None,
    });
    let check = cli(&dir, &["check"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["received_msat"], 2_000_000, "{check}");
    assert_eq!(check["paid_msat"], 3_000_000, "{check}");
    let fee = check["fees_msat"].as_u64().unwrap();
    assert!(fee > 0 && fee <= 30_000, "{check}");
    let lena = cli(&dir, &["getaccountinfo", "lena-0"]);
    let balance = lena["accounts"][0]["msats"].as_u64().unwrap();
    assert_eq!(balance, 12_000_000 - 3_000_000 - fee);

    // More than she has (the fee reserve counts): refused, nothing reserved.
    let big = outside
        .create_invoice(&InvoiceRequest {
            msats: balance,
            expiry: Duration::from_secs(600),
            memo: String::new(),
            description_hash: None,
            preimage: None,
        })
        .unwrap();
    let err = apps
        .pay(c, &big.bolt11)
        .expect_err("a pay over the balance");
    assert_eq!(err, "insufficent account balance");
    // A cap counts her open invoices.
    cli(&dir, &["setcap", "lena-0", "9500sat"]);
    let err = apps
        .invoice(c, 1_000_000)
        .expect_err("an invoice over the cap");
    assert_eq!(err, "account cap exceeded");
    let check = cli(&dir, &["check"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["in_flight_count"], 0, "{check}");
}

#[test]
fn a_wrong_macaroon_is_a_clear_startup_error() {
    let net_dir = temp_dir();
    let (_simnet, nodes) = simnet(&net_dir, 0);
    let (p0, d0) = nodes[0].clone();
    let bad = temp_dir().join("bad.macaroon");
    std::fs::write(&bad, [7u8; 32]).unwrap();
    let dir = temp_dir();
    let config = dir.join("terminus.toml");
    std::fs::write(
        &config,
        format!(
            "[lnd]\nrest_host = \"127.0.0.1\"\nrest_port = {p0}\nmacaroon_path = {bad:?}\ntls_cert_path = {:?}\n",
            d0.join("tls.cert"),
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("terminus")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.macaroon"), "{err}");
}

/// `[lnd]` for simnet node `(port, dir)`, plus `extra` TOML.
fn lnd_toml(port: u16, dir: &Path, extra: &str) -> String {
    format!(
        "{extra}\n[lnd]\nrest_host = \"127.0.0.1\"\nrest_port = {port}\nmacaroon_path = {:?}\ntls_cert_path = {:?}\n",
        dir.join("data/chain/bitcoin/regtest/admin.macaroon"),
        dir.join("tls.cert"),
    )
}

#[test]
fn lnd_failures_reach_the_consumer_and_the_reserve_comes_back() {
    let net_dir = temp_dir();
    let (mut simnet, nodes) = simnet(&net_dir, 0);
    let (p0, d0) = nodes[0].clone();
    let (p1, d1) = nodes[1].clone();
    let dir = temp_dir();
    // A fee limit of 1 msat: no route is cheap enough (LND says NO_ROUTE).
    let cfg = lnd_toml(
        p0,
        &d0,
        "[payments]\nfee_limit_ppm = 0\nfee_limit_min_msat = 1\n",
    );
    let (_t, _listen) = start_terminus(&cfg, &dir, "127.0.0.1:0");
    cli(&dir, &["create", "5000sat", "-a", "mo"]);
    let beacon = listen_beacon(&dir, "mo-0");
    let mut apps = Apps::new();
    let c = apps.consumer(&beacon);
    apps.until("provider info", |s, e| match e {
        ConsumerEvent::Provider(_) if s == c => Some(()),
        _ => None,
    });
    let outside = LndNode::connect(&lnd_config(p1, &d1)).unwrap();
    let theirs = outside
        .create_invoice(&InvoiceRequest {
            msats: 1_000_000,
            expiry: Duration::from_secs(600),
            memo: String::new(),
            description_hash: None,
            preimage: None,
        })
        .unwrap();
    assert_eq!(apps.pay(c, &theirs.bolt11), Err("no route".to_owned()));
    let check = cli(&dir, &["check"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["in_flight_count"], 0, "{check}");
    let mo = cli(&dir, &["getaccountinfo", "mo-0"]);
    assert_eq!(
        mo["accounts"][0]["msats"], 5_000_000,
        "the reserve came back: {mo}"
    );

    // LND goes away: requests fail with "node unavailable", balances are still served.
    drop(outside);
    let _ = simnet.0.kill();
    let _ = simnet.0.wait();
    let err = apps
        .invoice(c, 1_000)
        .expect_err("an invoice without a node");
    assert!(err.contains("node unavailable"), "{err}");
    let c2 = apps.consumer(&beacon.clone());
    let _ = c2;
    let again = cli(&dir, &["getaccountinfo", "mo-0"]);
    assert_eq!(again["accounts"][0]["msats"], 5_000_000);
}

#[test]
fn a_different_certificate_on_the_lnd_port_is_refused() {
    let net_dir = temp_dir();
    let (_simnet, nodes) = simnet(&net_dir, 0);
    let (p0, d0) = nodes[0].clone();
    let (_, d1) = nodes[1].clone();
    let dir = temp_dir();
    // Node 0's port, node 1's certificate.
    let cfg = format!(
        "[lnd]\nrest_host = \"127.0.0.1\"\nrest_port = {p0}\nmacaroon_path = {:?}\ntls_cert_path = {:?}\n",
        d0.join("data/chain/bitcoin/regtest/admin.macaroon"),
        d1.join("tls.cert"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("terminus.toml"), cfg).unwrap();
    let out = Command::new(BIN)
        .arg("terminus")
        .arg("--config")
        .arg(dir.join("terminus.toml"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");
}

/// kill -9 while LND payments are in flight: at restart every one is reconciled through
/// track (completed or refunded), the invariant holds, nothing is debited twice.
#[test]
fn a_crash_with_lnd_pays_in_flight_is_reconciled_through_track() {
    const PAYS: usize = 40;
    const AMOUNT: u64 = 10_000;
    let net_dir = temp_dir();
    let (_simnet, nodes) = simnet(&net_dir, 1500);
    let (p0, d0) = nodes[0].clone();
    let (p1, d1) = nodes[1].clone();
    let outside = LndNode::connect(&lnd_config(p1, &d1)).unwrap();
    let outside_before = outside.spendable_msat().unwrap();
    let dir = temp_dir();
    let cfg = lnd_toml(p0, &d0, "");
    let (mut t, listen) = start_terminus(&cfg, &dir, "127.0.0.1:0");
    cli(&dir, &["create", "1000sat", "-a", "nia"]);
    let mut apps = Apps::new();
    let mut cs = Vec::new();
    for _ in 0..(PAYS / 8) {
        let beacon = listen_beacon(&dir, "nia-0");
        cs.push(apps.consumer(&beacon));
    }
    for &c in &cs {
        apps.until("provider info", |s, e| match e {
            ConsumerEvent::Provider(_) if s == c => Some(()),
            _ => None,
        });
    }
    for i in 0..PAYS {
        let inv = outside
            .create_invoice(&InvoiceRequest {
                msats: AMOUNT,
                expiry: Duration::from_secs(600),
                memo: String::new(),
                description_hash: None,
                preimage: None,
            })
            .unwrap();
        apps.d.pay(cs[i % cs.len()], &inv.bolt11).unwrap();
    }
    let until = Instant::now() + Duration::from_secs(20);
    let mut buf = Vec::new();
    loop {
        apps.d
            .poll(&mut buf, Some(Duration::from_millis(10)))
            .unwrap();
        buf.clear();
        if cli(&dir, &["check"])["in_flight_count"] == PAYS {
            break;
        }
        assert!(Instant::now() < until, "pays not all in flight");
    }
    t.0.kill().unwrap(); // SIGKILL while LND routes them
    let _ = t.0.wait();
    drop(apps);
    let (_t, _) = start_terminus(&cfg, &dir, &listen);
    let until = Instant::now() + Duration::from_secs(60);
    let c = loop {
        let c = cli(&dir, &["check"]);
        if c["in_flight_count"] == 0 {
            break c;
        }
        assert!(Instant::now() < until, "still in flight: {c}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(c["ok"], true, "{c}");
    let paid = c["paid_msat"].as_u64().unwrap();
    let fees = c["fees_msat"].as_u64().unwrap();
    let balance = cli(&dir, &["getaccountinfo", "nia-0"])["accounts"][0]["msats"]
        .as_u64()
        .unwrap();
    assert_eq!(balance, 1_000_000 - paid - fees, "{c}");
    // LND (node 1) received exactly what the ledger says was paid: nothing twice.
    assert_eq!(
        outside.spendable_msat().unwrap() - outside_before,
        paid,
        "{c}"
    );
    assert_eq!(paid % AMOUNT, 0);
    assert!(paid / AMOUNT <= PAYS as u64);
    eprintln!("lnd crash test: {} of {PAYS} completed", paid / AMOUNT);
}

/// LND (simnet) restarts under the terminus: its subscription comes back from the stored
/// settle_index, and a settlement after the restart is credited (none missed).
#[test]
fn the_terminus_resubscribes_after_lnd_restarts() {
    use moneysocket_host::simnet::{Simnet, SimnetConfig};
    let net_dir = temp_dir();
    let config = SimnetConfig::default();
    let sn = Simnet::start(&net_dir, 2, &config).unwrap();
    let ports: Vec<u16> = sn.nodes().iter().map(|n| n.addr.port()).collect();
    let (n0, n1) = (sn.nodes()[0].dir.clone(), sn.nodes()[1].dir.clone());
    let dir = temp_dir();
    let (_t, _) = start_terminus(&lnd_toml(ports[0], &n0, ""), &dir, "127.0.0.1:0");
    cli(&dir, &["create", "0", "-a", "ola"]);
    let beacon = listen_beacon(&dir, "ola-0");
    let mut apps = Apps::new();
    let c = apps.consumer(&beacon);
    apps.until("provider info", |s, e| match e {
        ConsumerEvent::Provider(_) if s == c => Some(()),
        _ => None,
    });
    let first = apps.invoice(c, 1_000_000).unwrap();
    let second = apps.invoice(c, 2_000_000).unwrap();
    // The first is paid while everything is up: the subscription is live.
    LndNode::connect(&lnd_config(ports[1], &n1))
        .unwrap()
        .pay(&first, 100_000, Duration::from_secs(30))
        .unwrap();
    apps.until("the first credit", |s, e| match e {
        ConsumerEvent::Provider(u) if s == c && u.msats == Some(1_000_000) => Some(()),
        _ => None,
    });
    // LND restarts on the same ports (same keys, same state).
    sn.stop();
    let sn = Simnet::start_on_ports(&net_dir, &ports, &config).unwrap();
    LndNode::connect(&lnd_config(ports[1], &n1))
        .unwrap()
        .pay(&second, 100_000, Duration::from_secs(30))
        .unwrap();
    apps.until("the credit after the restart", |s, e| match e {
        ConsumerEvent::Provider(u) if s == c && u.msats == Some(3_000_000) => Some(()),
        _ => None,
    });
    let check = cli(&dir, &["check"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["received_msat"], 3_000_000, "{check}");
    sn.stop();
}
