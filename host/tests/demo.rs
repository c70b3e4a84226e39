//! The one-command demo, as a user runs it: the real binary, real sockets.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_moneysocket");

/// `demo --json` exits 0 within 60 s; its last line is the summary: purchases until the
/// allowance refused one, balances before and after that add up, the ledger consistent.
#[test]
fn demo_buys_until_the_allowance_refuses() {
    let start = Instant::now();
    let mut child = Command::new(EXE)
        .args(["demo", "--json", "--timeout", "55"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("demo starts");
    let out = child.stdout.take().expect("stdout");
    let lines: Vec<String> = BufReader::new(out).lines().map_while(Result::ok).collect();
    let status = child.wait().expect("demo ends");
    let took = start.elapsed();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read as _;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "demo failed: {err}\n{}", lines.join("\n"));
    assert!(took < Duration::from_secs(60), "demo took {took:?}");
    let story = lines.join("\n");
    for step in [
        "relay",
        "listening at ws://127.0.0.1:",
        "connected to the seller's account",
        "connected to its wallet",
        "the store sells",
        "got the invoice",
        "paid: preimage",
        "received \"hello\": Sincere Hello!!",
        "the wallet refused",
    ] {
        assert!(story.contains(step), "the story lacks {step:?}:\n{story}");
    }
    let summary: Value = serde_json::from_str(lines.last().expect("a last line")).expect("JSON");
    assert_eq!(summary["ok"], true, "{summary}");
    let purchases = summary["purchases"].as_array().expect("purchases");
    let refusals = summary["refusals"].as_array().expect("refusals");
    assert!(!purchases.is_empty(), "{summary}");
    assert_eq!(refusals.len(), 1, "{summary}");
    let spent: u64 = purchases.iter().map(|p| p["msats"].as_u64().unwrap()).sum();
    let b = &summary["balances"];
    let buyer_before = b["before"]["buyer_msats"].as_u64().unwrap();
    assert_eq!(
        b["after"]["buyer_msats"].as_u64().unwrap(),
        buyer_before - spent
    );
    assert_eq!(
        b["after"]["seller_msats"].as_u64().unwrap(),
        b["before"]["seller_msats"].as_u64().unwrap() + spent
    );
    // the refused purchase would have gone past the allowance
    let allowance = b["before"]["allowance_left_msats"].as_u64().unwrap();
    let refused = refusals[0]["msats"].as_u64().unwrap();
    assert!(
        spent <= allowance && spent + refused > allowance,
        "{summary}"
    );
    assert_eq!(
        b["after"]["allowance_left_msats"].as_u64().unwrap(),
        allowance - spent
    );
    assert_eq!(summary["ledger"]["ok"], true);
}

/// `demo --keep-running` stays up after the story and prints beacons of both accounts;
/// `moneysocket consumer BEACON info` from "another terminal" sees the buyer's balance after
/// the purchases; Ctrl-C (SIGINT) ends it with exit 0.
#[test]
fn keep_running_serves_beacons_to_the_consumer_cli() {
    let mut child = Command::new(EXE)
        .args(["demo", "--keep-running", "--timeout", "55"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buyer_beacon = None;
    let mut spent = None;
    while buyer_beacon.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("the demo prints the beacons");
        if let Some(rest) = line.strip_prefix("buyer's account: moneysocket consumer ") {
            buyer_beacon = rest.split_whitespace().next().map(str::to_owned);
        }
        if let Some(s) = line.split("buyer 50,000 sat → ").nth(1) {
            spent = s.split(';').next().map(str::to_owned);
        }
    }
    let beacon = buyer_beacon.expect("beacon");
    assert_eq!(spent.as_deref(), Some("41,000 sat"));
    let info = Command::new(EXE)
        .args(["consumer", &beacon, "--timeout", "20", "info"])
        .output()
        .expect("consumer runs");
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let v: Value = serde_json::from_slice(&info.stdout).expect("JSON");
    let text = v.to_string();
    assert!(text.contains("41000000"), "{text}");
    // Ctrl-C
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < until, "the demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ctrl-C during the story stops the demo at once (the relay inside it must not take the
/// process's SIGINT for itself: it did, and the demo went on to the end).
#[test]
fn ctrl_c_during_the_story_stops_the_demo() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(EXE)
        .args(["demo", "--timeout", "55"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines().map_while(Result::ok);
    // the relay runs from the first line on
    let first = lines
        .find(|l| l.contains("listening at ws://"))
        .expect("relay line");
    assert!(first.contains("relay"), "{first}");
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let until = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < until, "the demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    let rest: Vec<String> = lines.collect();
    assert_eq!(status.signal(), Some(2), "{status:?}: {}", rest.join("\n"));
    assert!(!rest.iter().any(|l| l.contains("== Summary")), "{rest:?}");
}
