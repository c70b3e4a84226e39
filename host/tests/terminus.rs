//! The terminus end to end: the real `moneysocket` binary (terminus, terminus-cli, relay),
//! consumers on real websockets (the session driver in this process), the simulated node.

#[path = "support/relay.rs"]
mod relay;
mod support;
#[path = "support/terminus.rs"]
mod terminus_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use moneysocket_core::beacon::Beacon;
use relay::Relay;
use serde_json::Value;
use support::{http_get, read_metrics_line, temp_dir};
use terminus_support::{
    cli, cli_raw, encode_beacon, hex, listen_beacon, sha256, start_terminus, start_terminus_out,
    Apps, Killed, BIN,
};

/// A running terminus and its data dir.
struct Terminus {
    child: Killed,
    dir: std::path::PathBuf,
    /// Where its websocket listener is (`host:port`).
    listen: String,
}

impl Terminus {
    fn start(dir: &Path) -> Terminus {
        Terminus::start_on(dir, "127.0.0.1:0")
    }

    /// On a given listen address (a restart keeps the address its beacons name), with the
    /// config already in `DIR/terminus.toml` if there is one.
    fn start_on(dir: &Path, listen: &str) -> Terminus {
        let config = std::fs::read_to_string(dir.join("terminus.toml")).unwrap_or_default();
        let (child, listen) = start_terminus(&config, dir, listen);
        Terminus {
            child,
            dir: dir.to_path_buf(),
            listen,
        }
    }

    /// `terminus-cli VERB ARGS…` → its JSON result (panics on failure).
    fn cli(&self, args: &[&str]) -> Value {
        cli(&self.dir, args)
    }

    fn cli_raw(&self, args: &[&str]) -> std::process::Output {
        cli_raw(&self.dir, args)
    }

    /// SIGTERM, and wait for the exit.
    fn stop(mut self) {
        self.child.stop("terminus");
    }

    fn check(&self) {
        let r = self.cli(&["check"]);
        assert_eq!(r["ok"], Value::Bool(true), "invariant: {r}");
    }
}

#[test]
fn accounts_pay_each_other_and_everything_survives_a_restart() {
    let dir = temp_dir();
    let t = Terminus::start(&dir);
    let alice = t.cli(&["create", "100000sat", "-a", "alice"]);
    assert_eq!(alice["msats"], 100_000_000);
    let bob = t.cli(&["create", "0", "-a", "bob"]);
    let a_beacon = listen_beacon(&t.dir, "alice-0");
    let b_beacon = listen_beacon(&t.dir, "bob-0");
    assert_eq!(bob["name"], "bob-0");

    let mut apps = Apps::new();
    let a = apps.consumer(&a_beacon);
    let b = apps.consumer(&b_beacon);
    assert_eq!(apps.ready(a), 100_000_000);
    assert_eq!(apps.ready(b), 0);

    // Bob asks for 5,000 sat; the invoice is a real, signed BOLT11 of the node.
    let bolt11 = apps.invoice(b, 5_000_000).unwrap();
    assert!(bolt11.starts_with("lnbcrt"), "{bolt11}");
    let decoded = Command::new(BIN)
        .args(["bolt11", "decode", &bolt11])
        .output()
        .unwrap();
    assert!(
        decoded.status.success(),
        "{}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    let decoded: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(decoded["amount_msat"], 5_000_000, "{decoded}");

    // Alice pays it: she gets the preimage, Bob hears it and his new balance.
    let preimage = apps.pay(a, &bolt11).unwrap();
    assert_eq!(
        hex(&sha256(&preimage)),
        decoded["payment_hash"].as_str().unwrap()
    );
    let bob_heard = apps.incoming_preimage(b);
    assert_eq!(bob_heard, preimage);
    assert_eq!(apps.balance(b, |m| m > 0), 5_000_000);
    assert_eq!(apps.balance(a, |m| m < 100_000_000), 95_000_000);

    // Paying it again: refused, no second debit.
    assert_eq!(apps.pay(a, &bolt11), Err("invoice already paid".to_owned()));
    // Bob cannot pay more than he has.
    let big = apps.invoice(a, 6_000_000).unwrap();
    assert_eq!(
        apps.pay(b, &big),
        Err("insufficent account balance".to_owned())
    );
    // A cap counts open invoices.
    t.cli(&["setcap", "bob-0", "6000sat"]);
    assert!(apps.invoice(b, 500_000).is_ok());
    assert_eq!(
        apps.invoice(b, 600_000),
        Err("account cap exceeded".to_owned())
    );
    // An invoice of a node this terminus cannot reach.
    let other_dir = temp_dir();
    let other = Terminus::start(&other_dir);
    other.cli(&["create", "0", "-a", "carol"]);
    let c_beacon = listen_beacon(&other.dir, "carol-0");
    let c = apps.consumer(&c_beacon);
    apps.ready(c);
    let foreign = apps.invoice(c, 1_000).unwrap();
    assert_eq!(apps.pay(a, &foreign), Err("no route".to_owned()));
    assert_eq!(apps.balance(a, |m| m == 95_000_000), 95_000_000);
    // Through the node the fee reserve counts: Bob's whole balance is not enough.
    let exact = apps.invoice(c, 5_000_000).unwrap();
    assert_eq!(
        apps.pay(b, &exact),
        Err("insufficent account balance".to_owned())
    );
    other.stop();

    t.check();
    let before = t.cli(&["getaccountinfo", "alice-0", "bob-0"]);
    let receipts = t.cli(&["getaccountreceipts", "bob-0"]);
    assert!(
        receipts["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "internal_transfer"),
        "{receipts}"
    );

    // Restart: balances, invoices, receipts and listen seeds are all there; the consumers
    // come back by themselves.
    let listen = t.listen.clone();
    t.stop();
    let t = Terminus::start_on(&dir, &listen);
    t.check();
    let after = t.cli(&["getaccountinfo", "alice-0", "bob-0"]);
    for i in 0..2 {
        assert_eq!(
            before["accounts"][i]["msats"],
            after["accounts"][i]["msats"]
        );
        assert_eq!(
            before["accounts"][i]["incoming_seeds"],
            after["accounts"][i]["incoming_seeds"]
        );
    }
    assert_eq!(apps.balance(a, |m| m == 95_000_000), 95_000_000);
    assert_eq!(apps.pay(a, &bolt11), Err("invoice already paid".to_owned()));
    t.check();
}

#[test]
fn sighup_reloads_the_listeners_certificate() {
    let certs = relay::self_signed_cert();
    let dir = temp_dir();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(certs.join("cert.pem"), &cert).expect("copy");
    std::fs::copy(certs.join("key.pem"), &key).expect("copy");
    let first = certs.join("cert.pem");
    std::fs::write(
        dir.join("terminus.toml"),
        format!(
            "[listen]\nexternal_host = \"localhost\"\ntls_cert = {cert:?}\ntls_key = {key:?}\n"
        ),
    )
    .expect("config");
    let t = Terminus::start(&dir);
    t.cli(&["create", "1000sat", "-a", "fay"]);
    let beacon = listen_beacon(&dir, "fay-0");
    let info = |ca: &Path| {
        Command::new(BIN)
            .args(["consumer", &beacon, "--timeout", "5", "--ca-file"])
            .arg(ca)
            .arg("info")
            .env_remove("SSL_CERT_FILE")
            .output()
            .expect("consumer")
    };
    assert!(info(&first).status.success());
    let renewed = relay::self_signed_cert();
    std::fs::copy(renewed.join("cert.pem"), &cert).expect("copy");
    std::fs::copy(renewed.join("key.pem"), &key).expect("copy");
    let pid = t.child.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill")
        .success());
    let until = Instant::now() + Duration::from_secs(10);
    while !info(&cert).status.success() {
        assert!(
            Instant::now() < until,
            "the renewed certificate is not served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!info(&first).status.success());
    t.check();
}

#[test]
fn a_relay_whose_certificate_is_refused_is_reported_by_getaccountinfo() {
    let (relay, _cert) = Relay::start_tls("");
    let dir = temp_dir();
    let t = Terminus::start(&dir);
    t.cli(&["create", "1000sat", "-a", "erin"]);
    let beacon = encode_beacon(
        "00112233445566778899aabbccddeeff",
        &format!("wss://localhost:{}", relay.port),
    );
    t.cli(&["connect", "erin-0", &beacon]);
    // no relay_ca_file: the relay's self-signed certificate is refused, and the account says
    // why (and what to set) instead of only "disconnected"
    let until = Instant::now() + Duration::from_secs(10);
    let entry = loop {
        let info = t.cli(&["getaccountinfo", "erin-0"]);
        let entry = info["accounts"][0]["outgoing_beacons"][0].clone();
        if entry.get("last_error").is_some() || Instant::now() > until {
            break entry;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_ne!(entry["state"], "connected", "{entry}");
    let err = entry["last_error"].as_str().unwrap_or_default();
    assert!(
        err.contains("invalid peer certificate") && err.contains("relay_ca_file"),
        "{entry}"
    );
    t.check();
    drop(relay);
}

#[test]
fn an_account_is_reached_through_a_relay_with_connect() {
    let relay = Relay::on_port(0);
    let dir = temp_dir();
    let t = Terminus::start(&dir);
    t.cli(&["create", "2500sat", "-a", "dave"]);
    let seed = "00112233445566778899aabbccddeeff";
    let beacon = encode_beacon(seed, &relay.url);
    let r = t.cli(&["connect", "dave-0", &beacon]);
    assert_eq!(r["name"], "dave-0");
    let mut apps = Apps::new();
    let c = apps.consumer(&beacon);
    assert_eq!(apps.ready(c), 2_500_000);
    assert!(apps.invoice(c, 1_000).unwrap().starts_with("lnbcrt"));
    // An account with a connection cannot be removed.
    let out = t.cli_raw(&["rm", "dave-0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("still has connections"));
    t.check();
    drop(relay);
}

#[test]
fn python_terminus_accounts_are_imported_and_served() {
    let dir = temp_dir();
    let t = Terminus::start(&dir);
    let src = temp_dir();
    let seed = "0123456789abcdef0123456789abcdef";
    let account = serde_json::json!({
        "account_name": "account-0",
        "account_uuid": "6e8ae3b2-9c3b-4e4b-8f7e-1d7a4f5b2c10",
        "wad": { "msats": 1234567.0, "asset_stable": false, "asset_units": 1234567.0,
                 "code": "BTC", "countries": "All", "decimals": 0, "iso_num": null,
                 "name": "Bitcoin", "symbol": "₿" },
        "cap": { "msats": 0, "asset_stable": false, "code": "BTC" },
        "pending": {},
        "shared_seeds": [seed],
        "beacons": [],
        "receipts": []
    });
    std::fs::write(src.join("account-0.json"), account.to_string()).unwrap();
    let r = t.cli(&["import-python", src.to_str().unwrap()]);
    assert_eq!(r["imported"][0]["name"], "account-0", "{r}");
    assert_eq!(r["imported"][0]["msats"], 1_234_567, "{r}");
    // Its listen seed is served at once: a consumer of that seed at our listener gets in.
    let encoded = Command::new(BIN)
        .args([
            "beacon",
            "encode",
            "--seed",
            seed,
            "--location",
            &format!("ws://{}", t.listen),
        ])
        .output()
        .unwrap();
    let beacon = String::from_utf8(encoded.stdout).unwrap().trim().to_owned();
    let mut apps = Apps::new();
    let c = apps.consumer(&beacon);
    assert_eq!(apps.ready(c), 1_234_567);
    t.check();
    // A second import of the same accounts is refused as a whole.
    let again = t.cli_raw(&["import-python", src.to_str().unwrap()]);
    assert!(!again.status.success());
}

#[test]
fn metrics_count_what_happened() {
    let dir = temp_dir();
    let (_t, mut out, _) = start_terminus_out("metrics = \"127.0.0.1:0\"\n", &dir, "127.0.0.1:0");
    let addr = read_metrics_line(&mut out);
    cli(&dir, &["create", "7sat"]);
    let text = http_get(addr.as_str(), "/metrics");
    assert!(text.contains("moneysocket_terminus_accounts 1"), "{text}");
    assert!(
        text.contains("moneysocket_terminus_ledger_consistent 1"),
        "{text}"
    );
    assert!(
        text.contains("moneysocket_terminus_ledger_msat_total{flow=\"deposits\"} 7000"),
        "{text}"
    );
}

#[test]
fn the_world_outside_pays_and_is_paid_through_the_node() {
    let dir = temp_dir();
    let t = Terminus::start(&dir);
    t.cli(&["create", "10000sat", "-a", "erin"]);
    let beacon = listen_beacon(&t.dir, "erin-0");
    let mut apps = Apps::new();
    let e = apps.consumer(&beacon);
    assert_eq!(apps.ready(e), 10_000_000);
    // A peer node of the simulated network pays Erin's invoice: the settlement stream
    // credits her and she hears the preimage.
    let bolt11 = apps.invoice(e, 2_000_000).unwrap();
    assert_eq!(t.cli(&["simnet-pay", &bolt11])["paying"], true);
    let heard = apps.incoming_preimage(e);
    assert_eq!(apps.balance(e, |m| m == 12_000_000), 12_000_000);
    let decoded: Value = serde_json::from_slice(
        &Command::new(BIN)
            .args(["bolt11", "decode", &bolt11])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        hex(&sha256(&heard)),
        decoded["payment_hash"].as_str().unwrap()
    );
    // Erin pays a peer's invoice through the node: the actual fee is charged, the rest of
    // the reserve refunded (fee: 1,000 msat base + 1,000 ppm of 3,000,000 = 4,000 msat).
    let theirs = t.cli(&["simnet-invoice", "3000sat"])["bolt11"][0]
        .as_str()
        .unwrap()
        .to_owned();
    apps.pay(e, &theirs).unwrap();
    // (While it routes, the balance shows the reserve of max(1 %, 10 sat) = 30,000 taken.)
    let settled = 12_000_000 - 3_000_000 - 4_000;
    assert_eq!(apps.balance(e, |m| m == settled), settled);
    let check = t.cli(&["check"]);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(check["received_msat"], 2_000_000, "{check}");
    assert_eq!(check["paid_msat"], 3_000_000, "{check}");
    assert_eq!(check["fees_msat"], 4_000, "{check}");
}

/// kill -9 with 1,000 pays in flight, restart: the invariant holds, nothing is paid or
/// debited twice (the ledger agrees with both nodes), every pay completed or was refunded.
#[test]
fn a_crash_with_1000_pays_in_flight_loses_and_doubles_nothing() {
    const PAYS: usize = 1000;
    const SESSIONS: usize = 125; // each consumer keeps 8 requests outstanding
    const AMOUNT: u64 = 1_000;
    let dir = temp_dir();
    // Every payment routes for 4 s: the kill comes while they are under way.
    std::fs::write(
        dir.join("terminus.toml"),
        "[listen]\nmax_per_ip = 0\n[simnode]\nlatency_ms = 4000\n",
    )
    .unwrap();
    let t = Terminus::start(&dir);
    let start_balance: u64 = 20_000_000;
    t.cli(&["create", &format!("{start_balance}msat"), "-a", "frank"]);
    let node_before = t.cli(&["getinfo"])["node_spendable_msat"].as_u64().unwrap();
    let peer_before = t.cli(&["simnet-info"])["peers"][0]["spendable_msat"]
        .as_u64()
        .unwrap();
    let invoices = t.cli(&[
        "simnet-invoice",
        &format!("{AMOUNT}msat"),
        "--count",
        &PAYS.to_string(),
    ]);
    let invoices: Vec<String> = invoices["bolt11"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_owned())
        .collect();
    let mut apps = Apps::new();
    let mut consumers = Vec::new();
    for _ in 0..SESSIONS {
        let beacon = listen_beacon(&t.dir, "frank-0");
        consumers.push(apps.consumer(&beacon));
    }
    for &c in &consumers {
        apps.ready(c);
    }
    for (i, inv) in invoices.iter().enumerate() {
        apps.d.pay(consumers[i % SESSIONS], inv).unwrap();
    }
    // Until every pay is recorded (in flight, reserved, or already completed: on a loaded
    // machine handing 1,000 pays over takes longer than the first ones route) while some
    // are still routing...
    let until = Instant::now() + Duration::from_secs(30);
    let mut buf = Vec::new();
    loop {
        apps.d
            .poll(&mut buf, Some(Duration::from_millis(10)))
            .unwrap();
        buf.clear();
        let c = t.cli(&["check"]);
        let in_flight = c["in_flight_count"].as_u64().unwrap_or(0);
        let completed = c["paid_msat"].as_u64().unwrap_or(0) / AMOUNT;
        if in_flight + completed == PAYS as u64 {
            assert!(in_flight > 0, "every pay completed before the kill: {c}");
            break;
        }
        assert!(Instant::now() < until, "pays not all recorded: {c}");
    }
    // ...and some have completed (the first ones routed for 4 s), others are routing.
    loop {
        apps.d
            .poll(&mut buf, Some(Duration::from_millis(10)))
            .unwrap();
        buf.clear();
        let c = t.cli(&["check"]);
        if c["paid_msat"].as_u64().unwrap_or(0) >= 10 * AMOUNT {
            break;
        }
        assert!(Instant::now() < until, "no pay completed: {c}");
    }
    let listen = t.listen.clone();
    let mut t = t;
    t.child.0.kill().unwrap(); // SIGKILL
    let _ = t.child.0.wait();
    drop(t);
    drop(apps);

    let t = Terminus::start_on(&dir, &listen);
    let until = Instant::now() + Duration::from_secs(60);
    let c = loop {
        let c = t.cli(&["check"]);
        if c["in_flight_count"] == 0 {
            break c;
        }
        assert!(
            Instant::now() < until,
            "pays still in flight after the restart: {c}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(c["ok"], true, "{c}");
    let paid = c["paid_msat"].as_u64().unwrap();
    let fees = c["fees_msat"].as_u64().unwrap();
    assert_eq!(paid % AMOUNT, 0);
    let completed = paid / AMOUNT;
    assert!(completed <= PAYS as u64);
    // Every pay either completed (debited once, with its fee) or was refunded.
    let balance = t.cli(&["getaccountinfo", "frank-0"])["accounts"][0]["msats"]
        .as_u64()
        .unwrap();
    assert_eq!(balance, start_balance - paid - fees, "{c}");
    // The nodes agree: the terminus's node spent exactly that, the peer received it.
    let node_after = t.cli(&["getinfo"])["node_spendable_msat"].as_u64().unwrap();
    assert_eq!(node_before - node_after, paid + fees);
    let peer_after = t.cli(&["simnet-info"])["peers"][0]["spendable_msat"]
        .as_u64()
        .unwrap();
    assert_eq!(peer_after - peer_before, paid);
    eprintln!("crash test: {completed} of {PAYS} pays completed, the rest refunded");
}

/// Group commit: a round's answers leave only after its ledger transaction committed.
/// Eighty pays between accounts at once (many per round), kill -9 as soon as the first
/// preimages arrived (others may still be on their way): after the restart every pay a
/// consumer holds the preimage of is in the ledger, and the ledger adds up.
#[test]
fn every_answered_pay_survives_a_kill_right_after_its_answer() {
    const PAYERS: usize = 10;
    const EACH: usize = 8; // a consumer keeps at most 8 requests outstanding
    const AMOUNT: u64 = 1_000;
    const START: u64 = 100_000;
    let dir = temp_dir();
    std::fs::write(dir.join("terminus.toml"), "[listen]\nmax_per_ip = 0\n").unwrap();
    let t = Terminus::start(&dir);
    t.cli(&["create", "0", "-a", "pat"]);
    let mut apps = Apps::new();
    let payee = apps.consumer(&listen_beacon(&t.dir, "pat-0"));
    let mut payers = Vec::new();
    for _ in 0..PAYERS {
        let a = t.cli(&["create", &format!("{START}msat"), "-a", "payer"]);
        let name = a["name"].as_str().unwrap().to_owned();
        payers.push((apps.consumer(&listen_beacon(&t.dir, &name)), name));
    }
    apps.ready(payee);
    for (c, _) in &payers {
        apps.ready(*c);
    }
    let invoices: Vec<String> = (0..PAYERS * EACH)
        .map(|_| apps.invoice(payee, AMOUNT).unwrap())
        .collect();
    let mut asked = std::collections::HashMap::new();
    for (i, bolt11) in invoices.iter().enumerate() {
        let c = payers[i % PAYERS].0;
        asked.insert(apps.d.pay(c, bolt11).unwrap(), c);
    }
    let mut answered = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while answered.is_empty() {
        assert!(Instant::now() < until, "no answer");
        apps.pump();
        apps.events.retain(|(s, e)| match e {
            moneysocket_driver::ConsumerEvent::Preimage {
                request: Some(r),
                preimage,
            } if asked.get(r) == Some(s) => {
                answered.push(hex(&sha256(preimage)));
                false
            }
            _ => true,
        });
    }
    let listen = t.listen.clone();
    let mut t = t;
    t.child.0.kill().unwrap(); // SIGKILL, right after the answers
    let _ = t.child.0.wait();
    drop(t);
    drop(apps);

    let t = Terminus::start_on(&dir, &listen);
    t.check();
    let receipts = t.cli(&["getaccountreceipts", "pat-0"]);
    let received: std::collections::HashSet<&str> = receipts["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "internal_transfer")
        .filter_map(|r| r["detail"]["payment_hash"].as_str())
        .collect();
    for hash in &answered {
        assert!(
            received.contains(hash.as_str()),
            "answered pay {hash} not in the ledger"
        );
    }
    // Money moved only between these accounts, all of it recorded.
    let mut names = vec!["pat-0".to_owned()];
    names.extend(payers.iter().map(|(_, n)| n.clone()));
    let mut args = vec!["getaccountinfo"];
    args.extend(names.iter().map(String::as_str));
    let info = t.cli(&args);
    let balances: Vec<u64> = info["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["msats"].as_u64().unwrap())
        .collect();
    assert_eq!(balances[0], received.len() as u64 * AMOUNT);
    assert_eq!(balances.iter().sum::<u64>(), PAYERS as u64 * START);
    eprintln!(
        "kill test: {} pays answered before the kill, {} in the ledger after it",
        answered.len(),
        received.len()
    );
}

/// A relay (or anyone holding an old frame) replays a REQUEST_PAY long after it was paid,
/// past the session's replay window: the ledger knows its uuid and never pays twice.
#[test]
fn a_pay_request_replayed_past_the_window_never_pays_twice() {
    use moneysocket_core::frame;
    use moneysocket_core::message::{Message, Timestamp};
    use moneysocket_core::uuid::Uuid;

    let dir = temp_dir();
    let t = Terminus::start(&dir);
    t.cli(&["create", "1000sat", "-a", "gina"]);
    t.cli(&["create", "0", "-a", "hank"]);
    let g_beacon = listen_beacon(&t.dir, "gina-0");
    let h_beacon = listen_beacon(&t.dir, "hank-0");
    let mut apps = Apps::new();
    let g = apps.consumer(&g_beacon);
    let h = apps.consumer(&h_beacon);
    apps.ready(g);
    apps.ready(h);
    // Gina's connection: the replayed frames go on it, as a relay would inject them.
    let conn = loop {
        if let Some(moneysocket_driver::DialState::Up { conn, .. }) = apps.d.dial_state(g) {
            break conn;
        }
        apps.pump();
    };
    let key = Beacon::decode(&g_beacon)
        .unwrap()
        .shared_seed()
        .v0_aes_key();
    let seal = |msg: &Message<'_>, iv: u8| {
        let text = msg.to_json_string();
        let mut out = vec![0u8; text.len() + 64];
        let n = frame::seal(&key, [iv; 16], text.as_bytes(), &mut out)
            .unwrap()
            .len();
        out.truncate(n);
        out
    };
    let bolt11 = apps.invoice(h, 100_000).unwrap();
    let request = Uuid::v4_from_bytes([0x3c; 16]);
    let pay = seal(
        &Message::request_pay(request, Timestamp::from_secs(1_700_000_000), &*bolt11),
        1,
    );
    let send = |apps: &mut Apps, f: Vec<u8>| {
        apps.d.io_mut().transport_mut().send(conn, f).unwrap();
        apps.pump();
    };
    send(&mut apps, pay.clone());
    assert_eq!(apps.balance(h, |m| m == 100_000), 100_000);
    // 40 other requests later the session has forgotten the uuid...
    for i in 0..40u8 {
        let ping = Message::request_ping(Uuid::v4_from_bytes([i; 16]), Timestamp::from_secs(1));
        send(&mut apps, seal(&ping, i + 2));
    }
    // ...the replay reaches the terminus, and the ledger refuses it.
    send(&mut apps, pay);
    let until = Instant::now() + Duration::from_secs(10);
    let mut receipts;
    loop {
        apps.pump();
        receipts = t.cli(&["getaccountreceipts", "gina-0"]);
        let errors = receipts["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "error_notified")
            .count();
        if errors > 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "the replay was never answered: {receipts}"
        );
    }
    assert!(
        receipts.to_string().contains("pay request already handled"),
        "{receipts}"
    );
    let gina = t.cli(&["getaccountinfo", "gina-0"]);
    assert_eq!(gina["accounts"][0]["msats"], 1_000_000 - 100_000, "{gina}");
    t.check();
}

/// Two invoices asked at once that fit the cap one by one but not together: one is made,
/// the other refused (the cap counts open invoices, checked again when recording).
#[test]
fn the_cap_holds_for_concurrent_invoice_requests() {
    let dir = temp_dir();
    let t = Terminus::start(&dir);
    t.cli(&["create", "0", "-a", "ivy", "-c", "1500sat"]);
    let b1 = listen_beacon(&t.dir, "ivy-0");
    let b2 = listen_beacon(&t.dir, "ivy-0");
    let mut apps = Apps::new();
    let c1 = apps.consumer(&b1);
    let c2 = apps.consumer(&b2);
    apps.ready(c1);
    apps.ready(c2);
    let r1 = apps.d.request_invoice(c1, 1_000_000).unwrap();
    let r2 = apps.d.request_invoice(c2, 1_000_000).unwrap();
    let mut made = 0;
    let mut refused = 0;
    for (c, r) in [(c1, r1), (c2, r2)] {
        match apps.invoice_outcome(c, r) {
            Ok(_) => made += 1,
            Err(message) => {
                assert_eq!(message, "account cap exceeded");
                refused += 1;
            }
        }
    }
    assert_eq!((made, refused), (1, 1));
    t.check();
}
