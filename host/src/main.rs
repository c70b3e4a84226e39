//! `moneysocket`: the command-line tool of moneysocket-rs.
//!
//! Codec commands print JSON (or the plain string they produce) on stdout; bad input exits
//! with status 1 and the reason on stderr.

mod bench;
mod cmd;
mod daemon;
mod demo;
mod relay;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Moneysocket tools.
#[derive(Parser)]
#[command(
    name = "moneysocket",
    version,
    about = "Moneysocket: start with `moneysocket demo`; relay, terminus, wallet, consumer, device bridge, web pages, codec tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole system in one process: relay, terminus, wallet, a seller and a buyer app;
    /// buys until the wallet's allowance refuses (the first thing to run).
    Demo(cmd::demo::DemoArgs),
    /// Decode or encode beacons.
    #[command(subcommand)]
    Beacon(cmd::beacon::BeaconCmd),
    /// Derive the AES key and rendezvous id (v0) from a shared seed.
    Seed {
        /// The shared seed, 32 hex digits.
        seed: String,
    },
    /// Open or seal encrypted frames.
    #[command(subcommand)]
    Frame(cmd::frame::FrameCmd),
    /// Wad tools.
    #[command(subcommand)]
    Wad(cmd::wad::WadCmd),
    /// Provider-info tools (v1 draft).
    #[command(subcommand, name = "provider-info")]
    ProviderInfo(cmd::wad::ProviderInfoCmd),
    /// BOLT11 invoice tools.
    #[command(subcommand)]
    Bolt11(cmd::bolt11::Bolt11Cmd),
    /// Run the relay daemon (pairs peers by rendezvous id, forwards frames).
    Relay(cmd::relay::RelayArgs),
    /// Carry frames between a device (serial port or TCP) and a relay websocket; commands
    /// on stdin (provision BEACON, pay BOLT11, drop-relay), events on stdout.
    Bridge(cmd::bridge::BridgeArgs),
    /// Run the terminus: accounts on a durable ledger served as Moneysocket providers,
    /// on a simulated Lightning node (control it with terminus-cli).
    Terminus(cmd::terminus::TerminusArgs),
    /// Control a running terminus: accounts, listen/connect, deposits (see its --help).
    #[command(
        name = "terminus-cli",
        long_about = cmd::terminus_cli::LONG_ABOUT,
        after_long_help = cmd::terminus_cli::AFTER_HELP
    )]
    TerminusCli(cmd::terminus_cli::TerminusCliArgs),
    /// Simulated Lightning nodes, each served over LND's REST API (HTTPS, macaroon) on its
    /// own loopback port, until SIGTERM/SIGINT.
    Simnet(cmd::simnet::SimnetArgs),
    /// A wallet between a terminus account (downstream) and an app (upstream) that enforces
    /// an allowance per period.
    Wallet(cmd::wallet::WalletArgs),
    /// A consumer of the provider behind a beacon: info, invoice, pay, watch (JSON out).
    Consumer(cmd::consumer::ConsumerArgs),
    /// Load generator for v0 relays (and its baseline echo server).
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
    /// Serve the browser pages (web wallet, seller, buyer, beacons, scripted demo) on the
    /// WASM build of the core.
    Web(cmd::web::WebArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Beacon(c) => cmd::beacon::run(c),
        Command::Seed { seed } => cmd::seed::run(&seed),
        Command::Frame(c) => cmd::frame::run(c),
        Command::Wad(c) => cmd::wad::run_wad(c),
        Command::ProviderInfo(c) => cmd::wad::run_provider_info(c),
        Command::Bolt11(c) => cmd::bolt11::run(c),
        Command::Relay(a) => cmd::relay::run(a),
        Command::Bridge(a) => cmd::bridge::run(a),
        Command::Terminus(a) => cmd::terminus::run(a),
        Command::TerminusCli(a) => cmd::terminus_cli::run(a),
        Command::Simnet(a) => cmd::simnet::run(a),
        Command::Consumer(a) => cmd::consumer::run(a),
        Command::Bench(c) => cmd::bench::run(c),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Wallet(a) => cmd::wallet::run(a),
        Command::Web(a) => cmd::web::run(a),
    };
    match result {
        Ok(out) => {
            if !out.is_empty() {
                use std::io::Write as _;
                // A closed pipe (`| head`) is the reader's choice, not an error.
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{out}");
                let _ = stdout.flush();
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
