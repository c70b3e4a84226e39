//! `moneysocket bench terminus`: durable payments per second through a terminus (the real
//! binary, on its simulated node), next to a baseline measured in the same run: plain
//! SQLite insert + commit per transaction with the ledger's settings (WAL, synchronous=FULL).
//!
//! `consumers` pairs of accounts (a payer with a balance, a payee with none), each account
//! served to one consumer over the terminus's listener. Each pair runs `pays` round trips
//! one after another: the payee asks for an invoice, the payer pays it, the round trip ends
//! when the payer holds the preimage (the terminus answers only after its ledger committed
//! the transfer, so every counted pay is durable). Pairs run concurrently. The terminus's
//! ledger commits during the timed part (`getinfo`'s `ledger_commits`) are reported per pay.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use moneysocket_core::beacon::Beacon;
use moneysocket_core::host::SessionId;
use moneysocket_core::session::ConsumerConfig;
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{ConsumerEvent, Driver, DriverConfig, DriverEvent, SessionEvent};
use moneysocket_host::terminus::control::ControlClient;
use moneysocket_ws::TransportConfig;
use serde_json::json;

use super::stats::Latencies;
use super::Outcome;

/// What to run.
pub struct TerminusOptions {
    /// Pairs of accounts paying concurrently.
    pub consumers: usize,
    /// Round trips per pair.
    pub pays: usize,
    /// Amount of each payment, msat.
    pub msats: u64,
    /// Give up after this long.
    pub timeout: Duration,
    /// Where the terminus keeps its data (a fresh temporary directory by default).
    pub data_dir: Option<PathBuf>,
    /// Also run the terminus on LND's REST API (a `simnet` node over HTTPS, in this
    /// process) after the run on its in-process simulated node, and compare.
    pub lnd: bool,
}

/// One run's figures.
struct Measured {
    pays: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    ledger_ok: bool,
    /// Ledger commits during the timed part (`None`: the terminus does not report them).
    commits: Option<u64>,
    errors: Vec<String>,
}

/// The terminus's count of ledger commits so far (`getinfo`'s `ledger_commits`).
fn ledger_commits(cli: &ControlClient) -> Result<Option<u64>, String> {
    Ok(cli.call("getinfo", &json!({}))?["ledger_commits"].as_u64())
}

/// A child process killed (and reaped) when dropped.
pub(super) struct Daemon(pub(super) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One pair's state.
struct Pair {
    payer: SessionId,
    payee: SessionId,
    done: usize,
    /// The invoice request under way and when the round trip began.
    invoice: Option<(Uuid, Instant)>,
    pay: Option<(Uuid, Instant)>,
}

/// Commits per second of one-row transactions, with the ledger's SQLite settings.
fn sqlite_baseline(dir: &Path, n: usize) -> Result<f64, String> {
    let path = dir.join("baseline.sqlite");
    let c = rusqlite::Connection::open(&path).map_err(|e| e.to_string())?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL);",
    )
    .map_err(|e| e.to_string())?;
    let start = Instant::now();
    for i in 0..n {
        c.execute("INSERT INTO t(v) VALUES (?1)", [vec![i as u8; 64]])
            .map_err(|e| e.to_string())?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// A terminus child (this binary) on its simulated node in `dir`, `extra_config` appended to
/// its TOML; killed when the returned value drops.
pub(super) fn spawn_terminus(dir: &Path, extra_config: &str) -> Result<Daemon, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Every consumer comes from loopback: no per-address cap.
    let config = dir.join("bench-terminus.toml");
    std::fs::write(&config, format!("[listen]\nmax_per_ip = 0\n{extra_config}"))
        .map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("terminus")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("terminus: {e}"))?;
    let out = child.stdout.take().ok_or("terminus: no stdout")?;
    let daemon = Daemon(child);
    let mut lines = std::io::BufReader::new(out).lines();
    for _ in 0..2 {
        match lines.next() {
            Some(Ok(_)) => {}
            _ => return Err("terminus did not start".into()),
        }
    }
    Ok(daemon)
}

/// One run through a terminus started in `dir` with `extra_config` (TOML).
fn measure(dir: &Path, o: &TerminusOptions, extra_config: &str) -> Result<Measured, String> {
    let total = o.consumers * o.pays;
    let _daemon = spawn_terminus(dir, extra_config)?;
    let cli = ControlClient::from_data_dir(dir)?;
    let mut d: Driver = Driver::new(DriverConfig::default(), TransportConfig::default())
        .map_err(|e| format!("event loop: {e}"))?;
    let mut pairs = Vec::new();
    let mut owner: HashMap<SessionId, usize> = HashMap::new();
    let budget = o.msats.saturating_mul(o.pays as u64 + 1);
    for i in 0..o.consumers {
        let mut sessions = [None, None];
        for (k, (base, msats)) in [("payer", budget), ("payee", 0)].into_iter().enumerate() {
            let a = cli.call("create", &json!({ "msats": msats, "name": base }))?;
            let name = a["name"].as_str().ok_or("create: no name")?.to_owned();
            let l = cli.call("listen", &json!({ "account": name }))?;
            let beacon = l["beacon"].as_str().ok_or("listen: no beacon")?;
            let b = Beacon::decode(beacon).map_err(|e| e.to_string())?;
            let s = d.add_consumer(&b.shared_seed(), ConsumerConfig::default());
            d.connect_beacon(s, &b).map_err(|e| e.to_string())?;
            owner.insert(s, i);
            sessions[k] = Some(s);
        }
        let (Some(payer), Some(payee)) = (sessions[0], sessions[1]) else {
            return Err("no sessions".into());
        };
        pairs.push(Pair {
            payer,
            payee,
            done: 0,
            invoice: None,
            pay: None,
        });
    }
    let deadline = Instant::now() + o.timeout;
    let mut events = Vec::new();
    // Everyone ready.
    let mut ready = std::collections::HashSet::new();
    while ready.len() < 2 * o.consumers {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} consumers ready",
                ready.len(),
                2 * o.consumers
            ));
        }
        d.poll(&mut events, Some(Duration::from_millis(5)))
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            if let DriverEvent::Session {
                session,
                event: SessionEvent::Consumer(ConsumerEvent::Provider(_)),
            } = ev
            {
                ready.insert(session);
            }
        }
    }
    let mut lat = Latencies::with_capacity(total);
    let mut errors = Vec::new();
    let commits_before = ledger_commits(&cli)?;
    let start = Instant::now();
    for p in &mut pairs {
        let r = d
            .request_invoice(p.payee, o.msats)
            .map_err(|e| e.to_string())?;
        p.invoice = Some((r, Instant::now()));
    }
    let mut finished = 0;
    while finished < pairs.len() {
        if Instant::now() > deadline {
            errors.push(format!(
                "timed out with {finished} of {} pairs done",
                pairs.len()
            ));
            break;
        }
        d.poll(&mut events, Some(Duration::from_millis(1)))
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            let DriverEvent::Session {
                session,
                event: SessionEvent::Consumer(e),
            } = ev
            else {
                continue;
            };
            let Some(&i) = owner.get(&session) else {
                continue;
            };
            let p = &mut pairs[i];
            match e {
                ConsumerEvent::Invoice { request, bolt11 }
                    if p.invoice.map(|x| x.0) == Some(request) =>
                {
                    let began = p.invoice.take().map_or(Instant::now(), |x| x.1);
                    let r = d.pay(p.payer, &bolt11).map_err(|e| e.to_string())?;
                    p.pay = Some((r, began));
                }
                ConsumerEvent::Preimage {
                    request: Some(request),
                    ..
                } if p.pay.map(|x| x.0) == Some(request) => {
                    let began = p.pay.take().map_or(Instant::now(), |x| x.1);
                    lat.record(began.elapsed());
                    p.done += 1;
                    if p.done == o.pays {
                        finished += 1;
                    } else {
                        let r = d
                            .request_invoice(p.payee, o.msats)
                            .map_err(|e| e.to_string())?;
                        p.invoice = Some((r, Instant::now()));
                    }
                }
                ConsumerEvent::Error {
                    request: Some(_),
                    message,
                } => {
                    errors.push(message);
                    finished = pairs.len();
                }
                _ => {}
            }
        }
    }
    let elapsed = start.elapsed();
    let pays = lat.len();
    let commits = match (commits_before, ledger_commits(&cli)?) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let check = cli.call("check", &json!({}))?;
    Ok(Measured {
        pays,
        rate: pays as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: lat.quantile(0.5).unwrap_or_default(),
        p99: lat.quantile(0.99).unwrap_or_default(),
        ledger_ok: check["ok"] == serde_json::Value::Bool(true),
        commits,
        errors,
    })
}

/// Ledger commits per pay.
fn commits_per_pay(m: &Measured) -> Option<f64> {
    m.commits.map(|c| c as f64 / m.pays.max(1) as f64)
}

fn line(what: &str, m: &Measured, baseline: f64) -> String {
    format!(
        "{what}: {} pays, {:.0} durable pays/s, p50 {:.2} ms, p99 {:.2} ms, {:.3} pays per \
         baseline commit, {}, ledger invariant {}{}",
        m.pays,
        m.rate,
        m.p50.as_secs_f64() * 1e3,
        m.p99.as_secs_f64() * 1e3,
        m.rate / baseline,
        match (m.commits, commits_per_pay(m)) {
            (Some(c), Some(per)) => format!("{c} ledger commits ({per:.2} per pay)"),
            _ => "ledger commits not reported".to_owned(),
        },
        if m.ledger_ok { "ok" } else { "BROKEN" },
        if m.errors.is_empty() {
            String::new()
        } else {
            format!(", errors: {}", m.errors.join("; "))
        },
    )
}

fn figures(m: &Measured, baseline: f64) -> serde_json::Value {
    json!({
        "pays": m.pays, "pays_per_s": m.rate,
        "p50_us": m.p50.as_micros() as u64, "p99_us": m.p99.as_micros() as u64,
        "ratio_to_baseline": m.rate / baseline, "ledger_ok": m.ledger_ok, "errors": m.errors,
        "ledger_commits": m.commits, "commits_per_pay": commits_per_pay(m),
    })
}

/// Runs the benchmark.
pub fn run(o: TerminusOptions) -> Result<Outcome, String> {
    let dir = match &o.data_dir {
        Some(d) => {
            moneysocket_host::scratch::fresh(d)?;
            d.clone()
        }
        None => moneysocket_host::scratch::for_process("moneysocket-bench-terminus")?,
    };
    let total = o.consumers * o.pays;
    let baseline = sqlite_baseline(&dir, total.clamp(200, 2000))?;
    let sim = measure(&dir.join("terminus"), &o, "")?;
    let mut text = format!(
        "{} pairs × {} pays; baseline (SQLite insert+commit, WAL, synchronous=FULL): {:.0} commits/s\n{}",
        o.consumers,
        o.pays,
        baseline,
        line("simulated node (in process)", &sim, baseline),
    );
    let mut json = json!({
        "pairs": o.consumers, "pays_per_pair": o.pays, "baseline_commits_per_s": baseline,
        "pays": sim.pays, "pays_per_s": sim.rate, "ledger_ok": sim.ledger_ok,
        "sim": figures(&sim, baseline),
    });
    let mut ok = sim.errors.is_empty() && sim.ledger_ok && sim.pays == total;
    if o.lnd {
        let net = moneysocket_host::simnet::Simnet::start(
            &dir.join("simnet"),
            1,
            &moneysocket_host::simnet::SimnetConfig {
                latency: Duration::ZERO,
                ..moneysocket_host::simnet::SimnetConfig::default()
            },
        )
        .map_err(|e| format!("simnet: {e}"))?;
        let node = &net.nodes()[0];
        let lnd_config = format!(
            "[lnd]\nrest_host = \"127.0.0.1\"\nrest_port = {}\nmacaroon_path = {:?}\ntls_cert_path = {:?}\n",
            node.addr.port(),
            node.macaroon,
            node.tls_cert,
        );
        let lnd = measure(&dir.join("terminus-lnd"), &o, &lnd_config)?;
        net.stop();
        text.push('\n');
        text.push_str(&line("LND REST over HTTPS (simnet)", &lnd, baseline));
        text.push_str(&format!(
            "\nLND / in-process: {:.2}× the pays/s",
            lnd.rate / sim.rate.max(1e-9)
        ));
        json["lnd"] = figures(&lnd, baseline);
        ok &= lnd.errors.is_empty() && lnd.ledger_ok && lnd.pays == total;
    }
    if o.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(Outcome { text, json, ok })
}
