//! `moneysocket consumer` and `beacon new|encode` end to end: the real binary against a
//! terminus (the real binary, on its simulated node) over loopback websockets.

/// The client's mock provider (one copy, shared with the client's tests).
#[path = "../../transports/client/tests/support/mod.rs"]
mod client_mock;
mod support;
#[path = "support/terminus.rs"]
mod terminus_support;

use std::process::{Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use serde_json::Value;
use support::{lines_of, temp_dir};
use terminus_support::{cli, hex, listen_beacon, sha256, start_terminus, BIN};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run moneysocket")
}

/// `moneysocket consumer BEACON --timeout 10 ARGS…` → its JSON (panics on failure).
fn consumer(beacon: &str, args: &[&str]) -> Value {
    let out = consumer_raw(beacon, args);
    assert!(
        out.status.success(),
        "consumer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn consumer_raw(beacon: &str, args: &[&str]) -> Output {
    let mut all = vec!["consumer", beacon, "--timeout", "10"];
    all.extend_from_slice(args);
    run(&all)
}

/// Exit 1, nothing on stdout, the reason on stderr.
fn fails(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The next line as JSON, within 10 s.
fn next_json(lines: &Receiver<String>) -> Value {
    let line = lines
        .recv_timeout(Duration::from_secs(10))
        .expect("a line from watch within 10 s");
    serde_json::from_str(&line).expect("one JSON object per line")
}

#[test]
fn consumer_cli_pays_between_two_terminus_accounts() {
    let dir = temp_dir();
    let (_t, _listen) = start_terminus("[listen]\nmax_per_ip = 0\n", &dir, "127.0.0.1:0");
    cli(&dir, &["create", "100000sat", "-a", "alice"]);
    cli(&dir, &["create", "0", "-a", "bob"]);
    let a = listen_beacon(&dir, "alice-0");
    let b = listen_beacon(&dir, "bob-0");

    let info = consumer(&a, &["info"]);
    assert_eq!(info["balance_msats"], 100_000_000, "{info}");
    assert_eq!(info["payer"], true);
    assert_eq!(consumer(&b, &["info"])["balance_msats"], 0);

    let inv = consumer(&b, &["invoice", "1000sat"]);
    assert_eq!(inv["msats"], 1_000_000);
    let bolt11 = inv["bolt11"].as_str().expect("bolt11").to_owned();
    let decoded: Value =
        serde_json::from_slice(&run(&["bolt11", "decode", &bolt11]).stdout).expect("bolt11 decode");
    let paid = consumer(&a, &["pay", &bolt11]);
    let preimage = paid["preimage"].as_str().expect("preimage");
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&preimage[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert_eq!(
        Some(hex(&sha256(&bytes)).as_str()),
        decoded["payment_hash"].as_str()
    );

    assert_eq!(consumer(&a, &["info"])["balance_msats"], 99_000_000);
    assert_eq!(consumer(&b, &["info"])["balance_msats"], 1_000_000);

    // watch: one JSON line per event; bob hears his invoice paid and his new balance
    let bolt11 = consumer(&b, &["invoice", "2sat"])["bolt11"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watch = terminus_support::Killed(
        Command::new(BIN)
            .args(["consumer", &b, "--timeout", "10", "watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watch"),
    );
    let lines = lines_of(watch.0.stdout.take().expect("stdout"));
    let first = next_json(&lines);
    assert_eq!(first["event"], "connected", "{first}");
    assert_eq!(first["provider"]["balance_msats"], 1_000_000);
    consumer(&a, &["pay", &bolt11]);
    let (mut preimage_seen, mut balance_seen) = (false, false);
    while !(preimage_seen && balance_seen) {
        let ev = next_json(&lines);
        match ev["event"].as_str() {
            Some("preimage") => preimage_seen = true,
            Some("provider") => balance_seen |= ev["provider"]["balance_msats"] == 1_002_000,
            _ => {}
        }
    }
    drop(watch);

    // failures: exit 1 with the reason
    let again = fails(&consumer_raw(&a, &["pay", &bolt11]));
    assert!(again.contains("refused by the provider"), "{again}");
    let broke = consumer(&b, &["invoice", "1000000sat"])["bolt11"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = fails(&consumer_raw(&b, &["pay", &broke]));
    assert!(e.contains("refused"), "{e}");
    assert!(fails(&consumer_raw(&a, &["invoice", "1.5sat"])).contains("could not parse"));
    assert!(fails(&consumer_raw(&a, &["pay", "lnbc1nonsense"])).contains("invalid invoice"));
    assert!(fails(&run(&["consumer", "moneysocket1xyz", "info"])).contains("invalid beacon"));
    cli(&dir, &["check"]);
}

#[test]
fn consumer_cli_invoice_reports_the_invoice_amount_of_a_whole_sat_provider() {
    // the Python terminus on LND makes invoices in whole sats (round(msats / 1000),
    // half-even): 1,500 msat asked → an invoice of 2,000 msat, which the client accepts.
    // `msats` must say what the invoice is for, not what was asked.
    let how = client_mock::Behaviour {
        whole_sats: true,
        ..client_mock::Behaviour::default()
    };
    let mock = client_mock::MockProvider::start("127.0.0.1:0", &[], &[0], how);
    let b = &mock.beacons[0];
    let inv = consumer(b, &["invoice", "1500"]);
    assert_eq!(
        (&inv["msats"], &inv["requested_msats"]),
        (&2_000.into(), &1_500.into()),
        "{inv}"
    );
    let decoded: Value = serde_json::from_slice(
        &run(&["bolt11", "decode", inv["bolt11"].as_str().expect("bolt11")]).stdout,
    )
    .expect("bolt11 decode");
    assert_eq!(decoded["amount_msat"], 2_000, "{decoded}");
    let exact = consumer(b, &["invoice", "3sat"]);
    assert_eq!(
        (&exact["msats"], &exact["requested_msats"]),
        (&3_000.into(), &3_000.into()),
        "{exact}"
    );
}

#[test]
fn consumer_cli_gives_up_when_nobody_answers() {
    // a beacon at a port where nothing listens
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(&[
        "beacon",
        "new",
        "--relay",
        &format!("ws://127.0.0.1:{port}"),
    ]);
    assert!(out.status.success());
    let beacon = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let t = std::time::Instant::now();
    let e = fails(&run(&["consumer", &beacon, "--timeout", "0.5", "info"]));
    assert!(e.contains("no provider info in time"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn beacon_new_is_fresh_and_encode_takes_no_location() {
    let new = |relay: &str| {
        let out = run(&["beacon", "new", "--relay", relay]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let b1 = new("ws://127.0.0.1:11060");
    let b2 = new("ws://127.0.0.1:11060");
    assert_ne!(b1, b2, "a fresh seed each time");
    let d: Value = serde_json::from_slice(&run(&["beacon", "decode", &b1]).stdout).unwrap();
    assert_eq!(d["locations"][0]["url"], "ws://127.0.0.1:11060");
    assert_eq!(d["shared_seed"].as_str().map(str::len), Some(32));

    // the Python encoder's zero_locations case (shared/vectors/v0/beacons.json)
    let out = run(&[
        "beacon",
        "encode",
        "--seed",
        "d64b4378352bca4b61e738e191a453c6",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "moneysocket1lcqqzqdmy0lqqqgph5gdvj6r0q6jhjjtv8nn3cv353fudlsqqyquzpl7qqqsr0cpqqt09mw2"
    );
    let e = fails(&run(&["beacon", "new", "--relay", "http://x"]));
    assert!(e.contains("invalid location"), "{e}");
}

#[test]
fn bench_stream_smoke() {
    let out = run(&[
        "bench",
        "stream",
        "--pays",
        "40",
        "--rate-pays",
        "20",
        "--rate",
        "200",
        "--meter-rate",
        "2000",
        "--meter-secs",
        "0.3",
        "--settle-ms",
        "50",
        "--timeout",
        "30",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(r["window_run"]["paid"], 40, "{r}");
    assert_eq!(r["window_run_without_relay"]["paid"], 40, "{r}");
    assert_eq!(r["rate_run"]["run"]["paid"], 20, "{r}");
    assert_eq!(r["metered"]["events"], 600, "{r}");
    assert_eq!(r["metered"]["settled_msats"], 600_000, "{r}");
    assert_eq!(r["metered"]["owed_msats"], 0, "{r}");
    // through the wallet: the window and the fixed-rate runs again, the wallet's total exact
    assert_eq!(r["wallet"]["window_run"]["paid"], 40, "{r}");
    assert_eq!(r["wallet"]["rate_run"]["paid"], 20, "{r}");
    assert_eq!(r["wallet"]["spent_msats"], 60_000, "{r}");
    assert_eq!(r["wallet"]["exact"], true, "{r}");
    assert_eq!(r["paid_msats"], 100_000 + 600_000 + 60_000, "{r}");
    assert_eq!(r["balances_exact"], true, "{r}");
    assert_eq!(r["ledger_ok"], true, "{r}");
    assert!(
        r["baseline"]["round_trips_per_s"].as_f64().unwrap() > 0.0,
        "{r}"
    );
}
