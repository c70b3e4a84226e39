//! `moneysocket bench relay|echo`: load generator for v0 relays and its baseline echo server.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::CmdResult;
use crate::bench::{self, IdleOptions, LoadOptions};

/// Benchmark subcommands.
#[derive(Subcommand)]
pub enum BenchCmd {
    /// Load a v0 relay: rendezvous pairs ping-pong sealed messages (or hold idle connections
    /// with --idle). Prints throughput and round-trip latency; exits 1 on errors or timeout.
    Relay(RelayBenchArgs),
    /// Baseline server for `bench relay --direct`: echoes every binary frame back.
    Echo(EchoArgs),
    /// Durable payments per second through a terminus on its simulated node (it starts
    /// one), next to plain SQLite commits per second measured in the same run.
    Terminus(TerminusBenchArgs),
    /// Streaming payments, client → relay → terminus on its simulated node (it starts
    /// both): pays/s and latency with a window, at a fixed rate, and the metered mode, next
    /// to the relay-only round trip measured in the same run.
    Stream(StreamBenchArgs),
}

/// Options of `bench stream`.
#[derive(Args)]
pub struct StreamBenchArgs {
    /// Events of the as-fast-as-it-goes window run.
    #[arg(long, default_value_t = 2000)]
    pays: usize,
    /// Events in flight at most.
    #[arg(long, default_value_t = 8)]
    window: usize,
    /// Events per second of the fixed-rate run (open loop).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Events of the fixed-rate run.
    #[arg(long, default_value_t = 500)]
    rate_pays: usize,
    /// msat per event.
    #[arg(long, default_value_t = 1000)]
    msats: u64,
    /// Events per second offered to the metered mode.
    #[arg(long, default_value_t = 20_000)]
    meter_rate: u64,
    /// Seconds of metered events.
    #[arg(long, default_value_t = 2.0)]
    meter_secs: f64,
    /// The metered mode settles this often, in ms.
    #[arg(long, default_value_t = 100)]
    settle_ms: u64,
    /// Give up on a phase after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Keep the terminus's data here (default: a temporary directory, removed after).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `bench terminus`.
#[derive(Args)]
pub struct TerminusBenchArgs {
    /// Pairs of accounts (payer, payee) paying concurrently.
    #[arg(long, default_value_t = 10)]
    consumers: usize,
    /// Payments per pair.
    #[arg(long, default_value_t = 100)]
    pays: usize,
    /// Amount of each payment, msat.
    #[arg(long, default_value_t = 1000)]
    msats: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Keep the terminus's data here (default: a temporary directory, removed after).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Also run the terminus on LND's REST API over HTTPS (a simnet node started here) and
    /// compare with the in-process simulated node.
    #[arg(long)]
    lnd: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `moneysocket bench relay`.
#[derive(Args)]
pub struct RelayBenchArgs {
    /// Relay URL, e.g. ws://127.0.0.1:11060 (with --direct: the echo server's URL).
    #[arg(long)]
    url: String,
    /// Rendezvous pairs (two connections each).
    #[arg(long, default_value_t = 10)]
    pairs: usize,
    /// Round trips per pair (each is two relay forwards).
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Frame size in bytes (rounded to the nearest sealed size, a multiple of 16).
    #[arg(long, default_value_t = 300)]
    size: usize,
    /// Open loop: send this many messages per second in total, latency measured from each
    /// message's scheduled time. Default: closed loop, one message in flight per pair.
    #[arg(long)]
    rate: Option<f64>,
    /// Side B decrypts and validates every message before echoing it.
    #[arg(long)]
    verify: bool,
    /// Baseline: --url is a `moneysocket bench echo` server; one connection per pair, no
    /// rendezvous, each round trip is one frame moved by the server.
    #[arg(long, conflicts_with = "idle")]
    direct: bool,
    /// Idle mode: open this many connections, each requesting a distinct rendezvous id
    /// (they stay unpaired), and hold them.
    #[arg(long)]
    idle: Option<usize>,
    /// Idle mode: seconds to hold the connections once all are waiting.
    #[arg(long, default_value_t = 0.0, requires = "idle")]
    hold: f64,
    /// Overall limit in seconds (setup and run; the hold of idle mode comes on top). What was
    /// measured is reported, and the exit status is 1.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Most websocket handshakes in progress at once.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Sealed frames per pair, cycled.
    #[arg(long, default_value_t = 4)]
    pool: usize,
    /// Generator threads, each with its own event loop and an equal share of the pairs
    /// (and of --rate): to load a relay with several workers from a machine with cores to
    /// spare. CPU figures are the whole generator's.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// PID of the relay (or echo server) when it runs on this machine: report its CPU time
    /// during the run, or its RSS in idle mode.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `moneysocket bench echo`.
#[derive(Args)]
pub struct EchoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port (0 = any free port; the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

fn secs(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|_| format!("--{name} must be a non-negative number"))
}

/// Runs a bench subcommand. The report goes to stdout even when the run failed.
pub fn run(cmd: BenchCmd) -> CmdResult {
    match cmd {
        BenchCmd::Terminus(a) => {
            let outcome = bench::terminus::run(bench::terminus::TerminusOptions {
                consumers: a.consumers.max(1),
                pays: a.pays.max(1),
                msats: a.msats.max(1),
                timeout: secs("timeout", a.timeout)?,
                data_dir: a.data_dir,
                lnd: a.lnd,
            })?;
            finish(outcome, a.json)
        }
        BenchCmd::Stream(a) => {
            if !(a.rate.is_finite() && a.rate > 0.0) {
                return Err("--rate must be a positive number".into());
            }
            let outcome = bench::stream::run(bench::stream::StreamOptions {
                pays: a.pays.max(1),
                window: a.window.max(1),
                rate: a.rate,
                rate_pays: a.rate_pays.max(1),
                msats: a.msats.max(1),
                meter_rate: a.meter_rate.max(1),
                meter_secs: secs("meter-secs", a.meter_secs)?.as_secs_f64(),
                settle_ms: a.settle_ms.max(1),
                timeout: secs("timeout", a.timeout)?,
                data_dir: a.data_dir,
            })?;
            finish(outcome, a.json)
        }
        BenchCmd::Echo(a) => {
            bench::echo::serve(SocketAddr::new(a.bind, a.port))?;
            Ok(String::new())
        }
        BenchCmd::Relay(a) => {
            let window = a.window.max(2);
            let timeout = secs("timeout", a.timeout)?;
            let outcome = match a.idle {
                Some(n) => bench::run_idle(IdleOptions {
                    url: a.url,
                    idle: n,
                    hold: secs("hold", a.hold)?,
                    timeout,
                    window,
                    server_pid: a.server_pid,
                })?,
                None => bench::run_load(LoadOptions {
                    url: a.url,
                    pairs: a.pairs,
                    messages: a.messages,
                    size: a.size,
                    rate: a.rate,
                    verify: a.verify,
                    direct: a.direct,
                    timeout,
                    window,
                    server_pid: a.server_pid,
                    pool: a.pool.max(1),
                    threads: a.threads.max(1),
                })?,
            };
            finish(outcome, a.json)
        }
    }
}

/// The report (text or JSON) on success; on failure the report still goes to stdout and
/// the command fails.
fn finish(outcome: bench::Outcome, json: bool) -> CmdResult {
    let report = if json {
        outcome.json.to_string()
    } else {
        outcome.text
    };
    if outcome.ok {
        Ok(report)
    } else {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{report}");
        Err("bench: incomplete run or errors (see the report)".into())
    }
}
