//! `moneysocket simnet`: simulated Lightning nodes served over LND's REST API.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::CmdResult;
use moneysocket_host::simnet::{Simnet, SimnetConfig};

/// Options of `moneysocket simnet`.
#[derive(Args)]
pub struct SimnetArgs {
    /// How many nodes (all on one simulated network).
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// Data directory: DIR/nodeI holds node I's tls.cert, tls.key, macaroon and state.
    #[arg(long)]
    dir: PathBuf,
    /// How long a payment takes, in milliseconds.
    #[arg(long, default_value_t = 10)]
    latency_ms: u64,
    /// Base fee of a payment between two nodes, in millisatoshi.
    #[arg(long, default_value_t = 1_000)]
    fee_base_msat: u64,
    /// Proportional fee, in parts per million.
    #[arg(long, default_value_t = 1_000)]
    fee_ppm: u64,
    /// Each node's spendable balance at its first start, in millisatoshi.
    #[arg(long, default_value_t = 1_000_000_000)]
    balance_msat: u64,
}

/// Runs the nodes until SIGTERM/SIGINT.
pub fn run(a: SimnetArgs) -> CmdResult {
    let config = SimnetConfig {
        latency: Duration::from_millis(a.latency_ms),
        fee_base_msat: a.fee_base_msat,
        fee_ppm: a.fee_ppm,
        balance_msat: a.balance_msat,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("cannot handle signals: {e}"))?;
    }
    let simnet = Simnet::start(&a.dir, a.nodes, &config).map_err(|e| e.to_string())?;
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        for (i, n) in simnet.nodes().iter().enumerate() {
            let _ = writeln!(out, "node {i}: {} dir={}", n.url(), n.dir.display());
        }
        let _ = out.flush();
    }
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    simnet.stop();
    Ok(String::new())
}
