//! `moneysocket web`: serves the browser pages (web wallet, seller, buyer, beacon tool,
//! the scripted demo) for a relay and terminus accounts that run elsewhere.

use std::io::Write as _;
use std::net::SocketAddr;

use clap::Args;

use super::CmdResult;
use moneysocket_host::web::{DemoConfig, WebServer};

/// Options of `moneysocket web`.
#[derive(Args)]
pub struct WebArgs {
    /// Address to serve the pages on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// The relay's websocket URL: the beacons the pages make point there.
    #[arg(long, default_value = "ws://127.0.0.1:11060")]
    relay: String,
    /// The seller's terminus account beacon (`terminus-cli listen ACCOUNT`).
    #[arg(long)]
    seller_beacon: Option<String>,
    /// The buyer's terminus account beacon: the web wallet's downstream.
    #[arg(long)]
    buyer_beacon: Option<String>,
    /// The web wallet's allowance at start, percent of the buyer's balance.
    #[arg(long, default_value_t = 35, value_parser = clap::value_parser!(u8).range(0..=100))]
    allowance_percent: u8,
    /// Price of one purchase in the scripted demo, msat.
    #[arg(long, default_value_t = 10_000_000)]
    price_msats: u64,
}

impl WebArgs {
    /// The pages' configuration.
    pub fn config(&self) -> DemoConfig {
        DemoConfig {
            relay: self.relay.clone(),
            seller_beacon: self.seller_beacon.clone(),
            buyer_beacon: self.buyer_beacon.clone(),
            allowance_percent: self.allowance_percent,
            price_msats: self.price_msats,
        }
    }
}

/// Serves until killed; prints `listening at: http://ADDR` first.
pub fn run(a: WebArgs) -> CmdResult {
    let server = WebServer::start(a.listen, a.config())
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening at: {}", server.url());
    let _ = writeln!(out, "demo at: {}/demo", server.url());
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
