//! `moneysocket bench stream`: streaming payments end to end, client → relay → terminus on
//! its simulated node, with the relay-only round trip measured in the same run as the
//! baseline.
//!
//! The bench starts a relay and a terminus (this binary, as child processes) with two
//! accounts, a payer with a budget and a payee; the terminus connects each account to the
//! relay with a fresh beacon (`connect`), and two [`Client`]s of `moneysocket-client` (in
//! this process) attach to those beacons, so every message crosses the relay. Then:
//!
//! 1. **baseline**: `bench relay`'s ping-pong through the same relay, `window` pairs in a
//!    closed loop (a round trip is two relay forwards);
//! 2. **window**: `pays` events as fast as the window allows ([`PayWindow`], `window` in
//!    flight); each event is an invoice from the payee's client and its payment by the
//!    payer's; latency from the event to the checked preimage; then the same run with two
//!    more clients on the terminus's own listener (the accounts' `listen` beacons), without
//!    the relay, to tell the relay's share from the terminus's;
//! 3. **fixed rate**: `rate` events/s in an open loop (event k scheduled at start + k/rate,
//!    latency from the scheduled time, so a stall shows as latency);
//! 4. **metered**: `meter_rate` events/s for `meter_secs` accrued on a [`Meter`] settling
//!    every `settle_ms`, then closed (the rest settled);
//!
//! and checks that the two accounts' balances moved by exactly the msats paid and that the
//! terminus's ledger invariant holds.
//!
//! Then the window run and the fixed-rate run again with the payer behind the wallet
//! (`wallet_path`: client → relay → wallet → relay → terminus), and the wallet's spent total
//! checked against what was paid.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moneysocket_client::stream::{Meter, MeterConfig, MeterStats, PayWindow, WindowConfig};
use moneysocket_client::{Client, ClientConfig};
use moneysocket_core::beacon::Beacon;
use moneysocket_host::terminus::control::ControlClient;
use moneysocket_host::wallet::{self, Period, Upstream, WalletConfig, WalletHandle};
use serde_json::{json, Value};

use super::stats::Latencies;
use super::terminus::{spawn_terminus, Daemon};
use super::{LoadOptions, Outcome};

/// What to run.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Events of the window run.
    pub pays: usize,
    /// Events in flight at most.
    pub window: usize,
    /// Events per second of the fixed-rate run.
    pub rate: f64,
    /// Events of the fixed-rate run.
    pub rate_pays: usize,
    /// msat per event.
    pub msats: u64,
    /// Events per second offered to the meter.
    pub meter_rate: u64,
    /// Seconds of metered events.
    pub meter_secs: f64,
    /// The meter settles this often (ms).
    pub settle_ms: u64,
    /// Give up after this long (per phase).
    pub timeout: Duration,
    /// Where the terminus keeps its data (a fresh temporary directory by default).
    pub data_dir: Option<PathBuf>,
}

/// The wallet's fee reserve per pay in flight (its default floor: 10 sat).
const WINDOW_FEE_RESERVE: u64 = 10_000;

/// `moneysocket relay --port 0`: the process and its URL.
fn spawn_relay() -> Result<(Daemon, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["relay", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("relay: {e}"))?;
    let out = child.stdout.take().ok_or("relay: no stdout")?;
    let daemon = Daemon(child);
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .map_err(|e| format!("relay: {e}"))?;
    let url = line
        .trim()
        .strip_prefix("listening at: ")
        .ok_or_else(|| format!("relay: unexpected first line {line:?}"))?
        .to_owned();
    Ok((daemon, url))
}

/// The payer's side through the wallet: a wallet (in this process, `wallet::spawn`) whose
/// downstream is a fresh beacon the payer's account dials at the relay, and whose upstream is
/// another beacon at the relay, with `allowance` msat for ever. Returns the wallet and its
/// upstream beacon (the payer client connects there instead of to the account).
fn wallet_path(
    cli: &ControlClient,
    payer: &str,
    relay_url: &str,
    allowance: u64,
    dir: &std::path::Path,
) -> Result<(WalletHandle, String), String> {
    let downstream = moneysocket_host::beacons::fresh(relay_url)?;
    cli.call(
        "connect",
        &json!({ "account": payer, "beacon": downstream }),
    )?;
    let upstream = moneysocket_host::beacons::fresh(relay_url)?;
    let decode = |b: &str| Beacon::decode(b).map_err(|e| format!("beacon: {e}"));
    let config = WalletConfig::new(
        decode(&downstream)?,
        Upstream::Connect(Box::new(decode(&upstream)?)),
        allowance,
        Period::Never,
        dir.join("wallet"),
    );
    let wallet = wallet::spawn(config).map_err(|e| format!("wallet: {e}"))?;
    Ok((wallet, upstream))
}

/// One paced or closed-loop run of the window.
#[derive(Debug, Default)]
struct Run {
    paid: u64,
    paid_msats: u64,
    failed: u64,
    unknown: u64,
    secs: f64,
    lat: Latencies,
    errors: Vec<String>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.paid as f64 / self.secs.max(1e-9)
    }

    fn q(&mut self, q: f64) -> f64 {
        self.lat
            .quantile(q)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    }

    fn json(&mut self) -> Value {
        json!({
            "paid": self.paid, "paid_msats": self.paid_msats, "failed": self.failed,
            "unknown": self.unknown, "elapsed_s": self.secs, "pays_per_s": self.rate(),
            "latency_ms": {"p50": self.q(0.5), "p99": self.q(0.99), "p99_9": self.q(0.999)},
            "errors": self.errors,
        })
    }

    fn line(&mut self, what: &str) -> String {
        let (p50, p99, p999) = (self.q(0.5), self.q(0.99), self.q(0.999));
        format!(
            "{what}: {} paid ({} failed, {} unknown) in {:.2} s = {:.0} pays/s, latency p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms{}",
            self.paid,
            self.failed,
            self.unknown,
            self.secs,
            self.rate(),
            p50,
            p99,
            p999,
            if self.errors.is_empty() {
                String::new()
            } else {
                format!(", errors: {}", self.errors.join("; "))
            }
        )
    }
}

/// `n` events through a window; `rate`: open loop at that many per second (latency from
/// each event's scheduled time), else as fast as the window allows (latency from the
/// event's start).
fn window_run(
    payer: &Client,
    payee: &Client,
    o: &StreamOptions,
    n: usize,
    rate: Option<f64>,
) -> Run {
    let mut w = PayWindow::new(
        payer.handle(),
        payee.handle(),
        WindowConfig { window: o.window },
    );
    let mut run = Run {
        lat: Latencies::with_capacity(n),
        ..Run::default()
    };
    let start = Instant::now();
    let scheduled = |k: usize| match rate {
        Some(r) => start + Duration::from_secs_f64(k as f64 / r),
        None => start,
    };
    let record = |run: &mut Run, cs: Vec<moneysocket_client::stream::Completion>| {
        for c in cs {
            match &c.result {
                Ok(_) => {
                    run.paid += 1;
                    run.paid_msats += c.msats;
                    let done = c.started + c.latency;
                    let from = if rate.is_some() {
                        scheduled(c.id as usize)
                    } else {
                        c.started
                    };
                    run.lat.record(done.saturating_duration_since(from));
                }
                Err(e) => {
                    if c.uncertain {
                        run.unknown += 1;
                    } else {
                        run.failed += 1;
                    }
                    if run.errors.len() < 5 {
                        run.errors.push(e.to_string());
                    }
                }
            }
        }
    };
    for k in 0..n {
        if rate.is_some() {
            let at = scheduled(k);
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
        }
        if let Err(e) = w.pay(o.msats) {
            run.errors.push(format!("event {k}: {e}"));
            break;
        }
        let cs = w.take_completions();
        record(&mut run, cs);
        if start.elapsed() > o.timeout {
            run.errors.push("timed out".into());
            break;
        }
    }
    w.finish(o.timeout);
    let cs = w.take_completions();
    record(&mut run, cs);
    run.secs = start.elapsed().as_secs_f64();
    run
}

/// The metered run: events at `meter_rate` for `meter_secs`, then close.
fn meter_run(
    payer: &Client,
    payee: &Client,
    o: &StreamOptions,
) -> Result<(MeterStats, f64, f64), String> {
    let meter = Meter::start(
        payer.handle(),
        payee.handle(),
        MeterConfig {
            settle_every: Duration::from_millis(o.settle_ms.max(1)),
            settle_at_msats: u64::MAX,
            close_timeout: o.timeout,
            ..MeterConfig::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let total = (o.meter_rate as f64 * o.meter_secs).round() as u64;
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        // pace in 1 ms steps: the events due by now
        let due = ((start.elapsed().as_secs_f64() * o.meter_rate as f64) as u64).min(total);
        while sent < due {
            meter.accrue(o.msats).map_err(|e| e.to_string())?;
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let offered = sent as f64 / start.elapsed().as_secs_f64().max(1e-9);
    let closing = Instant::now();
    let stats = meter.close();
    Ok((stats, offered, closing.elapsed().as_secs_f64() * 1e3))
}

fn balance(cli: &ControlClient, account: &str) -> Result<u64, String> {
    let r = cli.call("getaccountinfo", &json!({ "accounts": [account] }))?;
    r["accounts"][0]["msats"]
        .as_u64()
        .ok_or_else(|| format!("getaccountinfo {account}: no msats in {r}"))
}

/// Runs the benchmark.
pub fn run(o: StreamOptions) -> Result<Outcome, String> {
    let dir = match &o.data_dir {
        Some(d) => {
            moneysocket_host::scratch::fresh(d)?;
            d.clone()
        }
        None => moneysocket_host::scratch::for_process("moneysocket-bench-stream")?,
    };
    let result = run_in(&o, &dir);
    if o.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(o: &StreamOptions, dir: &std::path::Path) -> Result<Outcome, String> {
    let (relay, relay_url) = spawn_relay()?;
    let _terminus = spawn_terminus(dir, "")?;
    let cli = ControlClient::from_data_dir(dir)?;
    let meter_events = (o.meter_rate as f64 * o.meter_secs).round() as u64;
    let events = meter_events.saturating_add((o.pays + o.rate_pays) as u64);
    // the window run goes three times (through the relay, without it, through the wallet),
    // the fixed-rate run twice (directly and through the wallet)
    let events = events.saturating_add((2 * o.pays + o.rate_pays) as u64);
    // the wallet reserves a fee (at least 10 sat) per pay in flight on top of the amount
    let reserve = WINDOW_FEE_RESERVE.saturating_mul(o.window as u64 + 1);
    let budget = o
        .msats
        .saturating_mul(events)
        .saturating_add(1_000)
        .saturating_add(reserve);
    let mut beacons = Vec::new();
    let mut direct = Vec::new();
    let mut names = Vec::new();
    for (base, msats) in [("payer", budget), ("payee", 0)] {
        let a = cli.call("create", &json!({ "msats": msats, "name": base }))?;
        let name = a["name"].as_str().ok_or("create: no name")?.to_owned();
        let beacon = moneysocket_host::beacons::fresh(&relay_url)?;
        cli.call("connect", &json!({ "account": name, "beacon": beacon }))?;
        beacons.push(beacon);
        // the same account on the terminus's own listener: the run without the relay
        let l = cli.call("listen", &json!({ "account": name }))?;
        direct.push(l["beacon"].as_str().ok_or("listen: no beacon")?.to_owned());
        names.push(name);
    }
    let config = ClientConfig {
        connect_timeout: o.timeout,
        request_timeout: o.timeout,
        ..ClientConfig::default()
    };
    let payer = Client::connect(&beacons[0], config.clone()).map_err(|e| format!("payer: {e}"))?;
    let payee = Client::connect(&beacons[1], config.clone()).map_err(|e| format!("payee: {e}"))?;
    let before = (balance(&cli, &names[0])?, balance(&cli, &names[1])?);

    // 1. the relay-only round trip through the same relay
    let base = super::run_load(LoadOptions {
        url: relay_url.clone(),
        pairs: o.window.max(1),
        messages: (o.pays / o.window.max(1)).max(100),
        size: 300,
        rate: None,
        verify: false,
        direct: false,
        timeout: o.timeout,
        window: 16,
        server_pid: Some(relay.0.id()),
        pool: 4,
        threads: 1,
    })?;
    let base_rt_s = base.json["round_trips_per_s"].as_f64().unwrap_or(f64::NAN);
    let base_p50 = base.json["latency_us"]["p50"].as_f64().unwrap_or(f64::NAN) / 1e3;
    let base_p99 = base.json["latency_us"]["p99"].as_f64().unwrap_or(f64::NAN) / 1e3;

    // 2.–4.
    let mut fast = window_run(&payer, &payee, o, o.pays, None);
    let mut no_relay = {
        let payer =
            Client::connect(&direct[0], config.clone()).map_err(|e| format!("payer: {e}"))?;
        let payee =
            Client::connect(&direct[1], config.clone()).map_err(|e| format!("payee: {e}"))?;
        window_run(&payer, &payee, o, o.pays, None)
    };
    let mut paced = window_run(&payer, &payee, o, o.rate_pays, Some(o.rate));
    let (meter, offered, close_ms) = meter_run(&payer, &payee, o)?;
    payer.close();

    // 5. the same window and fixed-rate runs, the payer through the wallet
    // While pays overlap without a pause the wallet counts each at its full fee reserve (it
    // learns the fees when the burst ends: docs/wallet.md), so the allowance covers that.
    let allowance = o
        .msats
        .saturating_add(WINDOW_FEE_RESERVE)
        .saturating_mul((o.pays + o.rate_pays) as u64);
    let (wallet, upstream) = wallet_path(&cli, &names[0], &relay_url, allowance, dir)?;
    let (mut w_fast, mut w_paced) = {
        let payer = Client::connect(&upstream, config).map_err(|e| format!("wallet: {e}"))?;
        let fast = window_run(&payer, &payee, o, o.pays, None);
        let paced = window_run(&payer, &payee, o, o.rate_pays, Some(o.rate));
        (fast, paced)
    };
    // the last burst's fees are settled at the next balance update (at most 10 s)
    let through = w_fast.paid_msats + w_paced.paid_msats;
    let w_state = match wallet.wait_for(Duration::from_secs(15), |s| {
        s.reserved_msat == 0 && s.spent_msat == through
    }) {
        Ok(s) | Err(s) => s,
    };
    drop(wallet);
    payee.close();

    let paid = fast.paid_msats
        + no_relay.paid_msats
        + paced.paid_msats
        + meter.settled_msats
        + w_fast.paid_msats
        + w_paced.paid_msats;
    let wallet_exact = w_state.spent_msat == w_fast.paid_msats + w_paced.paid_msats;
    let after = (balance(&cli, &names[0])?, balance(&cli, &names[1])?);
    let check = cli.call("check", &json!({}))?;
    let ledger_ok = check["ok"] == Value::Bool(true);
    let exact =
        before.0.checked_sub(after.0) == Some(paid) && after.1.checked_sub(before.1) == Some(paid);
    let meter_exact = meter.settled_msats == meter.accrued_msats;

    let goal_rate = fast.rate() >= 500.0;
    let goal_p99 = paced.q(0.99) < 50.0;
    let mut text = format!(
        "client → relay ({relay_url}) → terminus (simulated node), window {}, {} msat per event\n\
         baseline, relay-only ping-pong ({} pairs, closed loop): {:.0} round trips/s, p50 {:.2} ms p99 {:.2} ms\n",
        o.window, o.msats, o.window.max(1), base_rt_s, base_p50, base_p99
    );
    text.push_str(&fast.line("window, as fast as it goes"));
    text.push_str(&format!(
        " ({:.2}× the relay round trips/s; p50 = {:.1} relay round trips)\n",
        fast.rate() / base_rt_s,
        fast.q(0.5) / base_p50
    ));
    text.push_str(&no_relay.line("same window without the relay (terminus's own listener)"));
    text.push_str(&format!(
        " (through the relay: {:.2}× these pays/s)\n",
        fast.rate() / no_relay.rate().max(1e-9)
    ));
    text.push_str(&paced.line(&format!("window, open loop at {} pays/s", o.rate)));
    text.push_str(&format!(
        " (p99 = {:.1} relay round trips)\n",
        paced.q(0.99) / base_p50
    ));
    text.push_str(&format!(
        "metered: {} events at {:.0} events/s, settled every {} ms: {} settles, {} msat accrued, {} settled, {} owed, {} unknown; close settled the rest in {:.1} ms{}\n",
        meter.events,
        offered,
        o.settle_ms,
        meter.settles,
        meter.accrued_msats,
        meter.settled_msats,
        meter.owed_msats,
        meter.unknown_msats,
        close_ms,
        meter
            .last_error
            .as_ref()
            .map_or_else(String::new, |e| format!(", last error: {e}")),
    ));
    text.push_str(
        &w_fast.line("through the wallet (client → relay → wallet → relay → terminus), window"),
    );
    text.push_str(&format!(
        " ({:.2}× the direct window's pays/s)\n",
        w_fast.rate() / fast.rate().max(1e-9)
    ));
    text.push_str(&w_paced.line(&format!(
        "through the wallet, open loop at {} pays/s",
        o.rate
    )));
    text.push_str(&format!(
        " (the wallet counted {} msat spent: {})\n",
        w_state.spent_msat,
        if wallet_exact { "exact" } else { "NOT exact" }
    ));
    text.push_str(&format!(
        "balances moved by exactly the {paid} msat paid: {}; ledger invariant {}\n\
         goals: ≥ 500 pays/s {}, p99 < 50 ms at 100 pays/s {}",
        if exact { "yes" } else { "NO" },
        if ledger_ok { "ok" } else { "BROKEN" },
        if goal_rate { "met" } else { "NOT met" },
        if goal_p99 { "met" } else { "NOT met" },
    ));
    let json = json!({
        "window": o.window, "msats": o.msats,
        "baseline": {"pairs": o.window.max(1), "round_trips_per_s": base_rt_s,
                     "p50_ms": base_p50, "p99_ms": base_p99},
        "window_run": fast.json(),
        "window_run_without_relay": no_relay.json(),
        "rate_run": {"rate": o.rate, "run": paced.json()},
        "ratios": {"pays_per_relay_round_trip": fast.rate() / base_rt_s,
                   "window_p50_in_relay_rtts": fast.q(0.5) / base_p50,
                   "relay_path_vs_direct_pays_per_s": fast.rate() / no_relay.rate().max(1e-9),
                   "rate_p99_in_relay_rtts": paced.q(0.99) / base_p50},
        "metered": {"events": meter.events, "offered_events_per_s": offered,
                    "settle_ms": o.settle_ms, "settles": meter.settles,
                    "accrued_msats": meter.accrued_msats, "settled_msats": meter.settled_msats,
                    "owed_msats": meter.owed_msats, "unknown_msats": meter.unknown_msats,
                    "failed_settles": meter.failed_settles, "close_ms": close_ms},
        "wallet": {"window_run": w_fast.json(), "rate_run": w_paced.json(),
                   "spent_msats": w_state.spent_msat, "exact": wallet_exact,
                   "pays_vs_direct": w_fast.rate() / fast.rate().max(1e-9)},
        "paid_msats": paid, "balances_exact": exact, "ledger_ok": ledger_ok,
        "goals": {"pays_per_s_500": goal_rate, "p99_under_50ms_at_100": goal_p99},
    });
    let ok = base.ok
        && fast.errors.is_empty()
        && paced.errors.is_empty()
        && fast.paid == o.pays as u64
        && no_relay.paid == o.pays as u64
        && no_relay.errors.is_empty()
        && paced.paid == o.rate_pays as u64
        && meter_exact
        && w_fast.errors.is_empty()
        && w_paced.errors.is_empty()
        && w_fast.paid == o.pays as u64
        && w_paced.paid == o.rate_pays as u64
        && wallet_exact
        && exact
        && ledger_ok;
    Ok(Outcome { text, json, ok })
}
