//! The browser pages and the WASM core end to end, on the real binary: headless Chromium
//! runs the scripted demo (`/demo?auto=1` → `document.title`) against `moneysocket demo
//! --web` and screenshots every page; Node drives the WASM consumer and provider
//! (transports/wasm/tests/node/consumer.mjs) against a relay and a terminus run as their own
//! processes, with the pages' config from `moneysocket web`. Under CI=true a missing
//! Chromium or Node fails the test; elsewhere it is skipped with a loud message.

#[path = "web/cdp.rs"]
mod cdp;
#[path = "support/relay.rs"]
mod relay;
mod support;
#[path = "support/terminus.rs"]
mod terminus_support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use relay::Relay;
use serde_json::Value;
use support::{spawn_listening, temp_dir};
use terminus_support::{cli, listen_beacon, start_terminus, Killed};

/// Relay and terminus processes with a buyer (100,000 sat) and a seller (0) account, and
/// `moneysocket web` serving the pages for them.
struct World {
    _relay: Relay,
    _terminus: Killed,
    _web: Killed,
    relay: String,
    buyer_beacon: String,
    seller_beacon: String,
}

fn world() -> World {
    let dir = temp_dir();
    let relay = Relay::on_port(0);
    let relay_url = relay.url.clone();
    let (terminus, _) = start_terminus("", &dir, "127.0.0.1:0");
    cli(&dir, &["create", "100000sat", "-a", "buyer"]);
    cli(&dir, &["create", "0", "-a", "seller"]);
    let buyer_beacon = listen_beacon(&dir, "buyer-0");
    let seller_beacon = listen_beacon(&dir, "seller-0");
    let (web, _, _) = spawn_listening(&[
        OsStr::new("web"),
        OsStr::new("--listen"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--relay"),
        OsStr::new(&relay_url),
        OsStr::new("--buyer-beacon"),
        OsStr::new(&buyer_beacon),
        OsStr::new("--seller-beacon"),
        OsStr::new(&seller_beacon),
        OsStr::new("--allowance-percent"),
        OsStr::new("35"),
        OsStr::new("--price-msats"),
        OsStr::new("10000000"),
    ]);
    World {
        _relay: relay,
        _terminus: terminus,
        _web: Killed(web),
        relay: relay_url,
        buyer_beacon,
        seller_beacon,
    }
}

/// A tool the test needs: found, or `None` after a loud skip (a failure under CI=true).
fn required(tool: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    let msg = format!("{tool} not found: install it (.ci/run does)");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("\n*** SKIPPED: {msg} ***\n");
    None
}

/// Where screenshots go: the test's output directory.
fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn chromium_runs_the_scripted_demo_and_every_page_renders() {
    let Some(chromium) = required("chromium", cdp::find_chromium()) else {
        return;
    };
    let (_demo, web) = demo_web();
    let profile = temp_dir().join("chromium-profile");
    let mut b = cdp::Browser::start(&chromium, &profile);
    let out = out_dir();

    b.goto(&format!("{web}/demo?auto=1"));
    let title = b.wait_for("document.title", Duration::from_secs(60), |v| {
        v.as_str()
            .is_some_and(|t| t.starts_with("PASS") || t.starts_with("FAIL"))
    });
    b.screenshot(&out.join("demo.png"));
    // The demo's defaults: an allowance of 10,000 sat (20 % of the buyer's 50,000 sat), a
    // "Hello World" at 1,000 sat: ten purchases, the eleventh refused by the web wallet.
    assert_eq!(
        title,
        Value::from("PASS purchases=10 refusals=1"),
        "logs: {}",
        b.eval("[...document.querySelectorAll('pre.log')].map(p => p.textContent).join('\\n')")
    );
    // the wallet's panel shows the refusal it made
    assert_eq!(
        b.eval("document.getElementById('w-refused').textContent"),
        "1"
    );

    for page in ["index", "wallet", "seller", "buyer", "beacon"] {
        b.goto(&format!("{web}/{page}"));
        // every page but the buyer's and the index fills a beacon from the WASM module
        let probe = match page {
            "wallet" => "document.getElementById('up').value",
            "seller" => "document.getElementById('store').value",
            "beacon" => "document.getElementById('decoded').textContent",
            _ => "document.readyState === 'complete' ? 'moneysocket' : ''",
        };
        let v = b.wait_for(probe, Duration::from_secs(20), |v| {
            v.as_str().is_some_and(|s| s.contains("moneysocket"))
        });
        assert!(
            v.as_str().is_some_and(|s| s.contains("moneysocket")),
            "{page}: {v}"
        );
        b.screenshot(&out.join(format!("{page}.png")));
    }
    // the beacon page decoded the fresh beacon it made for the relay
    let decoded = b.eval("document.getElementById('decoded').textContent");
    let decoded: Value = serde_json::from_str(decoded.as_str().unwrap()).unwrap();
    let url = decoded["locations"][0]["url"].as_str().unwrap_or_default();
    assert!(url.starts_with("ws://127.0.0.1:"), "{decoded}");
    eprintln!("screenshots in {}", out.display());
}

#[test]
fn the_pages_keep_msat_amounts_exact_as_bigints() {
    let Some(chromium) = required("chromium", cdp::find_chromium()) else {
        return;
    };
    let (_demo, web) = demo_web();
    let mut b = cdp::Browser::start(&chromium, &temp_dir().join("chromium-profile"));
    b.goto(&format!("{web}/"));
    b.wait_for("document.readyState", Duration::from_secs(20), |v| {
        v == "complete"
    });
    // apps.js's helpers and the module in the browser: amounts above 2^53 stay exact through
    // JSON both ways, sat text is exact, a Number is refused by the module.
    let script = r#"(async () => {
      const m = await import('/apps.js');
      const ms = await m.load();
      const refused = (f) => { try { f(); return 'accepted'; } catch (e) { return e.message; } };
      const parsed = m.fromJson('{"msats": 18446744073709551614, "price_msats": 9007199254740993, "n": 1.5}');
      return [
        m.sats(1500n), m.sats(21000n), m.sats(1n), m.sats(null),
        typeof parsed.msats, String(parsed.msats), String(parsed.price_msats), parsed.n,
        m.toJson({ msats: 18446744073709551615n, list: [1n] }),
        String(m.msatsOfSats('1.5')), String(m.msatsOfSats('10000')), refused(() => m.msatsOfSats('1e3')),
        String(ms.Allowance.percent_of(18446744073709551615n, 100)), typeof ms.bolt11_msats('x'),
        refused(() => new ms.Allowance(1000)), refused(() => new ms.Allowance(-1n)),
      ];
    })()"#;
    let v = b.call(
        "Runtime.evaluate",
        serde_json::json!({"expression": script, "returnByValue": true, "awaitPromise": true}),
    );
    assert_eq!(
        v["result"]["value"],
        serde_json::json!([
            "1.5 sat",
            "21 sat",
            "0.001 sat",
            "?",
            "bigint",
            "18446744073709551614",
            "9007199254740993",
            1.5,
            r#"{"msats":18446744073709551615,"list":[1]}"#,
            "1500",
            "10000000",
            r#"not a sat amount: "1e3""#,
            "18446744073709551615",
            "undefined",
            "msats must be a BigInt (e.g. 1000n), not the number 1000",
            "msats must not be negative, not -1n",
        ]),
        "{v}"
    );
}

/// `demo --web` on any free port with its data in a fresh directory: the process and the
/// pages' base URL.
fn demo_web() -> (Killed, String) {
    let data = temp_dir();
    let (demo, _, web) = spawn_listening(&[
        OsStr::new("demo"),
        OsStr::new("--web"),
        OsStr::new("--port"),
        OsStr::new("0"),
        OsStr::new("--data-dir"),
        data.as_os_str(),
    ]);
    (Killed(demo), web)
}

/// Waits (20 s at most) until the JavaScript `expr` is `true` in the current tab.
fn until_true(b: &mut cdp::Browser, expr: &str) {
    let v = b.wait_for(expr, Duration::from_secs(20), |v| v == &Value::Bool(true));
    if v != Value::Bool(true) {
        let logs =
            b.eval("[...document.querySelectorAll('pre.log')].map(p => p.textContent).join('\\n')");
        panic!(
            "{expr}: {v}\nthe page's logs:\n{}",
            logs.as_str().unwrap_or_default()
        );
    }
}

#[test]
fn the_separate_pages_wire_by_hand_like_the_prototype() {
    let Some(chromium) = required("chromium", cdp::find_chromium()) else {
        return;
    };
    let (_demo, web) = demo_web();
    let mut b = cdp::Browser::start(&chromium, &temp_dir().join("chromium-profile"));
    let el = |id: &str, prop: &str| format!("document.getElementById('{id}').{prop}");

    // the seller opens its store on its own account (prefilled) and a fresh relay beacon
    let seller = b.new_tab();
    b.goto(&format!("{web}/seller"));
    until_true(&mut b, "document.body.dataset.ready === 'yes'");
    until_true(
        &mut b,
        &format!("{}.startsWith('moneysocket1')", el("store", "value")),
    );
    b.eval(&el("open", "click()"));
    until_true(
        &mut b,
        &format!("{} === '0 sat'", el("balance", "textContent")),
    );
    let store = b.eval(&el("store", "value"));

    // the wallet: the buyer's account downstream (prefilled), a fresh upstream beacon
    let wallet = b.new_tab();
    b.goto(&format!("{web}/wallet"));
    until_true(&mut b, "document.body.dataset.ready === 'yes'");
    until_true(
        &mut b,
        &format!("{}.startsWith('moneysocket1')", el("up", "value")),
    );
    b.eval(&el("connect", "click()"));
    until_true(
        &mut b,
        &format!("{} === '50000 sat'", el("balance", "textContent")),
    );
    // the slider starts at the demo's allowance: 20 % of 50,000 sat
    until_true(
        &mut b,
        &format!("{} === '10000 sat'", el("left", "textContent")),
    );
    let upstream = b.eval(&el("up", "value"));

    // the buyer pastes both beacons, connects, and buys the first item
    b.new_tab();
    b.goto(&format!("{web}/buyer"));
    until_true(&mut b, "document.body.dataset.ready === 'yes'");
    b.eval(&format!("{} = {upstream}", el("wallet", "value")));
    b.eval(&format!("{} = {store}", el("store", "value")));
    b.eval(&el("connect", "click()"));
    until_true(
        &mut b,
        "document.querySelectorAll('#items button').length === 3",
    );
    b.eval("document.querySelector('#items button').click()");
    until_true(
        &mut b,
        &format!("{} === '1'", el("purchases", "textContent")),
    );
    b.screenshot(&out_dir().join("buyer-after-purchase.png"));

    b.switch(&wallet);
    until_true(&mut b, &format!("{} === '1'", el("paid", "textContent")));
    until_true(
        &mut b,
        &format!("{} === '49000 sat'", el("balance", "textContent")),
    );
    until_true(
        &mut b,
        &format!("{} === '9000 sat'", el("left", "textContent")),
    );
    // the slider to 50 %: from now on half of the 49,000 sat
    b.eval("const s = document.getElementById('slider'); s.value = 50; s.dispatchEvent(new Event('change')); 0");
    until_true(
        &mut b,
        &format!("{} === '24500 sat'", el("left", "textContent")),
    );
    b.switch(&seller);
    until_true(&mut b, &format!("{} === '1'", el("sales", "textContent")));
    until_true(
        &mut b,
        &format!("{} === '1000 sat'", el("balance", "textContent")),
    );
}

#[test]
fn node_drives_the_wasm_consumer_and_provider() {
    let node = required("node", which("node"));
    let Some(node) = node else {
        return;
    };
    let w = world();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../transports/wasm/tests/node/consumer.mjs");
    let out = Command::new(node)
        .arg("--experimental-websocket")
        .arg(&script)
        .args([&w.relay, &w.buyer_beacon, &w.seller_beacon])
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(v["ok"], true);
    assert_eq!(
        v["buyer"],
        serde_json::json!([100_000_000u64, 99_979_000u64])
    );
    assert_eq!(v["seller"], serde_json::json!([0, 21_000]));
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[test]
fn the_wasm_consumer_redials_a_terminus_that_restarts() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let Some(node) = required("node", which("node")) else {
        return;
    };
    let dir = temp_dir();
    let (terminus, listen) = start_terminus("", &dir, "127.0.0.1:0");
    cli(&dir, &["create", "4000sat", "-a", "ruth"]);
    let beacon = listen_beacon(&dir, "ruth-0");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../transports/wasm/tests/node/reconnect.mjs");
    let mut child = Command::new(node)
        .arg("--experimental-websocket")
        .arg(&script)
        .arg(&beacon)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run node");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let _node = Killed(child);
    let mut line = || {
        let mut l = String::new();
        out.read_line(&mut l).expect("node output");
        l.trim().to_owned()
    };
    assert_eq!(line(), "READY");
    drop(terminus); // killed: the consumer's link is lost
    assert_eq!(line(), "DOWN");
    let (_terminus, again) = start_terminus("", &dir, &listen);
    assert_eq!(again, listen);
    // the same account on the same address: the consumer is ready again by itself
    // (two websockets opened in all: the first, and the one after the restart)
    assert_eq!(line(), "BACK 4000000 dials=2");
}
