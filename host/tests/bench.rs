//! End-to-end test of `moneysocket bench relay` against our relay (and of the `--direct`
//! baseline against `moneysocket bench echo`) on loopback. Counts only, no timing assertions.

mod support;

use std::process::{Child, Command, Output};

/// A server process (relay or echo server) on a free port; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        let (child, _, url) = support::spawn_listening(&args);
        Server { child, url }
    }

    fn relay() -> Server {
        // A directory per relay: tests start relays in parallel.
        let cfg = support::temp_dir().join("relay.toml");
        std::fs::write(&cfg, "port = 0\nmax_per_ip = 0\nlog_level = \"warn\"\n").expect("config");
        Server::start(&["relay", "--config", cfg.to_str().expect("utf-8 path")])
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench(args: &[&str]) -> (Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .args(["bench", "relay", "--json"])
        .args(args)
        .output()
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        panic!("bad JSON report ({e}): {stdout:?}, stderr {stderr:?}")
    });
    (out, report)
}

#[test]
fn pairs_ping_pong_through_our_relay() {
    let relay = Server::relay();
    let pid = relay.pid();
    let (out, r) = bench(&[
        "--url",
        &relay.url,
        "--pairs",
        "4",
        "--messages",
        "50",
        "--size",
        "300",
        "--verify",
        "--server-pid",
        &pid,
    ]);
    assert!(out.status.success(), "bench failed: {r}");
    assert_eq!(r["mode"], "relay");
    assert_eq!(r["pairs_ready"], 4);
    assert_eq!(r["round_trips"], 200);
    assert_eq!(r["forwarded_msgs"], 400);
    assert_eq!(r["frame_bytes"], 304);
    assert_eq!(r["bytes_forwarded"], 400 * 304);
    assert_eq!(r["errors"], 0);
    assert!(r["latency_us"]["p99"].as_f64().is_some());
}

/// `--threads`: the pairs (and an open loop's rate) shared by generator threads, each on its
/// own event loop; the report sums them.
#[test]
fn generator_threads_share_the_pairs() {
    let relay = Server::relay();
    let pid = relay.pid();
    let (out, r) = bench(&[
        "--url",
        &relay.url,
        "--pairs",
        "7",
        "--threads",
        "3",
        "--messages",
        "40",
        "--verify",
        "--server-pid",
        &pid,
    ]);
    assert!(out.status.success(), "bench failed: {r}");
    assert_eq!(r["threads"], 3);
    assert_eq!(r["pairs_ready"], 7);
    assert_eq!(r["round_trips"], 280);
    assert_eq!(r["errors"], 0);
    assert!(r["server_cpu_s"].as_f64().is_some_and(|c| c > 0.0));
    // open loop: every scheduled message of every thread is sent and answered
    let (out, r) = bench(&[
        "--url",
        &relay.url,
        "--pairs",
        "4",
        "--threads",
        "2",
        "--messages",
        "25",
        "--rate",
        "2000",
    ]);
    assert!(out.status.success(), "bench failed: {r}");
    assert_eq!(
        (r["threads"].as_u64(), r["round_trips"].as_u64()),
        (Some(2), Some(100))
    );
    // more threads than pairs: one pair each
    let (out, r) = bench(&[
        "--url",
        &relay.url,
        "--pairs",
        "2",
        "--threads",
        "8",
        "--messages",
        "5",
    ]);
    assert!(out.status.success(), "bench failed: {r}");
    assert_eq!(
        (r["threads"].as_u64(), r["round_trips"].as_u64()),
        (Some(2), Some(10))
    );
}

#[test]
fn open_loop_at_a_rate() {
    let relay = Server::relay();
    let (out, r) = bench(&[
        "--url",
        &relay.url,
        "--pairs",
        "3",
        "--messages",
        "20",
        "--rate",
        "2000",
    ]);
    assert!(out.status.success(), "bench failed: {r}");
    assert_eq!(r["round_trips"], 60);
    assert_eq!(r["errors"], 0);
}

#[test]
fn idle_connections_stay_unpaired() {
    let relay = Server::relay();
    let pid = relay.pid();
    let (out, r) = bench(&[
        "--url",
        &relay.url,
        "--idle",
        "50",
        "--hold",
        "0.2",
        "--server-pid",
        &pid,
    ]);
    assert!(out.status.success(), "bench failed: {r}");
    assert_eq!(r["mode"], "idle");
    assert_eq!(r["waiting"], 50);
    assert_eq!(r["errors"], 0);
    assert!(r["server_rss_kib_after"].as_u64().is_some());
}

#[test]
fn direct_baseline_against_the_echo_server() {
    let echo = Server::start(&["bench", "echo", "--port", "0"]);
    let (out, r) = bench(&[
        "--url",
        &echo.url,
        "--direct",
        "--pairs",
        "4",
        "--messages",
        "50",
    ]);
    assert!(out.status.success(), "bench failed: {r}");
    assert_eq!(r["mode"], "direct");
    assert_eq!(r["round_trips"], 200);
    assert_eq!(r["forwarded_msgs"], 200);
    assert_eq!(r["errors"], 0);
}

#[test]
fn unreachable_relay_exits_nonzero_with_a_report() {
    // a port nobody listens on: bind, note it, drop
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    let (out, r) = bench(&[
        "--url",
        &url,
        "--pairs",
        "2",
        "--messages",
        "5",
        "--timeout",
        "5",
    ]);
    assert!(!out.status.success());
    assert_eq!(r["round_trips"], 0);
    assert!(r["errors"].as_u64().is_some_and(|e| e > 0));
}

#[test]
fn too_small_a_size_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .args([
            "bench",
            "relay",
            "--url",
            "ws://127.0.0.1:1",
            "--size",
            "40",
        ])
        .output()
        .expect("run bench");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too small"));
}

#[test]
fn failed_handshakes_give_their_window_slots_back() {
    // A "relay" that drops every other TCP connection (that handshake fails) and never
    // answers the rest (those stay handshaking): a pair fails while its other side is still
    // handshaking. With a window of one pair, the failure must free both slots so that the
    // next pair is dialed (the still-handshaking side's slot leaked and stalled the run
    // until the timeout).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, s) in listener.incoming().enumerate() {
            if n % 2 == 1 {
                held.push(s);
            }
        }
    });
    let (out, r) = bench(&[
        "--url",
        &url,
        "--pairs",
        "3",
        "--window",
        "2",
        "--messages",
        "1",
        "--timeout",
        "8",
    ]);
    assert!(!out.status.success());
    assert_eq!(r["pairs_ready"], 0);
    assert_eq!(
        r["errors"], 3,
        "one error per failed pair, none left waiting: {r}"
    );
}

#[test]
fn terminus_bench_pays_through_a_terminus_it_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_moneysocket"))
        .args([
            "bench",
            "terminus",
            "--consumers",
            "2",
            "--pays",
            "3",
            "--timeout",
            "60",
            "--json",
            "--lnd",
        ])
        .output()
        .expect("run bench terminus");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(v["pays"], 6, "{v}");
    assert_eq!(v["ledger_ok"], true, "{v}");
    assert!(v["baseline_commits_per_s"].as_f64().unwrap() > 0.0);
    // The terminus counts its ledger commits (group commit: at most one per poll round).
    assert!(v["sim"]["ledger_commits"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["lnd"]["pays"], 6, "{v}");
    assert_eq!(v["lnd"]["ledger_ok"], true, "{v}");
}
