//! `moneysocket web`: serves the browser pages (web wallet, seller, buyer, beacon tool,
//! the scripted demo) for a relay and terminus accounts that run elsewhere; and
//! `moneysocket demo --web`, which runs the relay and the terminus in this process too.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::CmdResult;
use crate::demo::terminus::TerminusThread;
use crate::relay::{RelayConfig, RelayThread};
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

/// Serves until SIGTERM/SIGINT; prints `listening at: http://ADDR` first.
pub fn run(a: WebArgs) -> CmdResult {
    let server = WebServer::start(a.listen, a.config())
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    announce(&server);
    until_signal()?;
    Ok(String::new())
}

/// What `moneysocket demo --web` runs.
pub struct WebDemo {
    /// The pages' address (port 0: any free port).
    pub listen: SocketAddr,
    /// The buyer account's balance, msat.
    pub buyer_msats: u64,
    /// The web wallet's allowance, msat (the page takes it as a share of the balance,
    /// rounded down to a whole percent).
    pub allowance_msats: u64,
    /// Price of "Hello World" (the others cost two and three times it), msat.
    pub price_msats: u64,
    /// Where the terminus keeps its data (default: a temporary directory, removed at exit).
    pub data_dir: Option<PathBuf>,
}

/// `demo --web`: a relay and a terminus (simulated node) in this process with a seller
/// account and a funded buyer account, and the pages; until SIGTERM/SIGINT.
pub fn run_demo(d: WebDemo) -> CmdResult {
    let (dir, remove) = match d.data_dir.clone() {
        Some(p) => (p, false),
        None => (
            moneysocket_host::scratch::for_process("moneysocket-demo-web")?,
            true,
        ),
    };
    let result = serve_demo(&d, &dir);
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn serve_demo(d: &WebDemo, dir: &std::path::Path) -> CmdResult {
    let relay = RelayThread::spawn(RelayConfig {
        bind: [127, 0, 0, 1].into(),
        port: 0,
        ..RelayConfig::default()
    })?;
    let term = TerminusThread::spawn(&dir.join("terminus"))?;
    let seller = term.create("seller", 0)?;
    let buyer = term.create("buyer", d.buyer_msats)?;
    let percent = (u128::from(d.allowance_msats) * 100)
        .checked_div(u128::from(d.buyer_msats))
        .unwrap_or(0)
        .min(100) as u8;
    let config = DemoConfig {
        relay: format!("ws://{}", relay.addr),
        seller_beacon: Some(term.listen(&seller)?),
        buyer_beacon: Some(term.listen(&buyer)?),
        allowance_percent: percent,
        price_msats: d.price_msats,
    };
    let server = WebServer::start(d.listen, config)
        .map_err(|e| format!("cannot listen on {}: {e}", d.listen))?;
    announce(&server);
    until_signal()?;
    drop(server);
    drop(term);
    drop(relay);
    Ok(String::new())
}

fn announce(server: &WebServer) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening at: {}", server.url());
    let _ = writeln!(
        out,
        "demo at: {0}/demo (scripted: {0}/demo?auto=1); wallet, seller, buyer, beacons at {0}/",
        server.url()
    );
    let _ = out.flush();
}

fn until_signal() -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("cannot handle signals: {e}"))?;
    }
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
