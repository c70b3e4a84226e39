//! `moneysocket demo`: the one-command demo (see `crate::demo`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::terminus_cli::parse_msats;
use super::CmdResult;
use crate::demo::{self, DemoOptions};

/// Long help of `moneysocket demo`.
pub const LONG_ABOUT: &str = "\
Runs the whole system in this process, on a simulated Lightning node, with nothing to install:
a relay; a terminus with a seller account and a buyer account; the buyer's wallet, which
enforces an allowance; a seller app and a buyer app speaking the opinion-seller extension.
It narrates each step (beacons, pairings, balances, invoices, payments, the opinions
delivered), buys until the wallet refuses a purchase, prints a summary and exits 0 (1 if
anything did not happen as it should).";

/// Options of `moneysocket demo`.
#[derive(Args)]
#[command(long_about = LONG_ABOUT)]
pub struct DemoArgs {
    /// The buyer account's balance (1000 = msat; 50000sat).
    #[arg(long, default_value = "50000sat", value_parser = parse_msats)]
    buyer: u64,
    /// The wallet's allowance: what the buyer app may spend.
    #[arg(long, default_value = "10000sat", value_parser = parse_msats)]
    allowance: u64,
    /// The wallet's largest single payment.
    #[arg(long, default_value = "5000sat", value_parser = parse_msats)]
    per_payment_max: u64,
    /// Where the terminus and the wallet keep their data (default: a temporary directory,
    /// removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Also print the summary as one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// Stay up after the story and print beacons (with QR codes) to attach
    /// `moneysocket consumer` to from another terminal; Ctrl-C stops.
    #[arg(long)]
    keep_running: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 50)]
    timeout: u64,
    /// Serve the browser pages instead (web wallet, seller, buyer, beacons, `/demo`): relay
    /// and terminus in this process, the apps in the browser on the WASM core; prints the
    /// URL; Ctrl-C stops (docs/web.md).
    #[arg(long)]
    web: bool,
    /// The pages' port with --web (0: any free port).
    #[arg(long, default_value_t = 8000, requires = "web")]
    port: u16,
}

/// Runs the demo; the summary JSON (with `--json`) is the last line.
pub fn run(a: DemoArgs) -> CmdResult {
    if a.web {
        return super::web::run_demo(super::web::WebDemo {
            listen: ([127, 0, 0, 1], a.port).into(),
            buyer_msats: a.buyer,
            allowance_msats: a.allowance,
            price_msats: DemoOptions::default().prices.hello,
            data_dir: a.data_dir,
        });
    }
    let summary = demo::run(DemoOptions {
        buyer_msats: a.buyer,
        allowance_msats: a.allowance,
        per_payment_max_msats: a.per_payment_max,
        data_dir: a.data_dir,
        keep_running: a.keep_running,
        timeout: Duration::from_secs(a.timeout),
        ..DemoOptions::default()
    })?;
    if a.json {
        serde_json::to_string(&summary).map_err(|e| e.to_string())
    } else {
        Ok(String::new())
    }
}
