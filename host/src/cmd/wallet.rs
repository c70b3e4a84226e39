//! `moneysocket wallet`: a consumer of a terminus account downstream and a provider to an
//! app upstream that enforces an allowance (see `docs/wallet.md`).

use std::io::{IsTerminal, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args};
use moneysocket_core::beacon::Beacon;
use moneysocket_driver::DriverEvent;
use moneysocket_host::wallet::{Period, Upstream, Wallet, WalletConfig};

use super::terminus_cli::{parse_msats, qr};
use super::CmdResult;

/// The signal pipe's user-source number on the driver's registry.
const SIGNAL_N: usize = 1;

/// Options of `moneysocket wallet`.
#[derive(Args)]
#[command(group(ArgGroup::new("app").required(true).args(["upstream", "listen"])))]
pub struct WalletArgs {
    /// The terminus account's beacon (the wallet is its consumer).
    #[arg(long, value_name = "BEACON")]
    downstream: String,
    /// The app's beacon: the wallet dials its locations (a relay) as the app's provider.
    #[arg(long, value_name = "BEACON")]
    upstream: Option<String>,
    /// Listen for the app here instead; prints the wallet's own beacon (its seed is kept in
    /// the data dir, so the beacon survives restarts).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// The websocket URL written into the --listen beacon [default: ws://the bound address,
    /// wss:// with --tls-cert].
    #[arg(long, value_name = "URL", requires = "listen")]
    external_url: Option<String>,
    /// Serve wss on --listen with this PEM certificate (or full chain); needs --tls-key.
    #[arg(long, value_name = "PEM", requires_all = ["listen", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM intermediate certificates sent after --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_chain: Option<PathBuf>,
    /// Allowance per period (1000sat, 5000msat, a plain number is msat).
    #[arg(long, value_name = "AMOUNT")]
    allowance: String,
    /// Largest invoice amount of one payment.
    #[arg(long, value_name = "AMOUNT")]
    per_payment_max: Option<String>,
    /// When the allowance renews: day, week (from Monday), month (calendar, UTC), never, or
    /// a number of seconds.
    #[arg(long, default_value = "day")]
    period: String,
    /// Where the ledger and the wallet's identity live.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Fee reserve held per payment, parts per million of the amount.
    #[arg(long, default_value_t = 10_000, value_name = "PPM")]
    fee_reserve_ppm: u64,
    /// The fee reserve's floor.
    #[arg(long, default_value = "10sat", value_name = "AMOUNT")]
    fee_reserve_min: String,
    /// PEM certificates trusted for wss:// beacons (e.g. a relay's self-signed
    /// certificate) [default: $SSL_CERT_FILE, else the built-in webpki roots].
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Do not draw the upstream beacon as a QR code.
    #[arg(long)]
    no_qr: bool,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
    /// Append logs to DIR/moneysocket-wallet.log instead of stderr.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
}

impl WalletArgs {
    /// The --listen certificate (reloaded on SIGHUP).
    fn cert(&self) -> Result<Option<moneysocket_ws::tls::ServerCert>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(moneysocket_ws::tls::ServerCert::load(
                cert,
                key,
                self.tls_chain.as_deref(),
            )?)),
            _ => Ok(None),
        }
    }

    fn config(
        &self,
        cert: Option<&moneysocket_ws::tls::ServerCert>,
    ) -> Result<WalletConfig, String> {
        let beacon = |what: &str, text: &str| {
            Beacon::decode(text.trim()).map_err(|e| format!("--{what} beacon: {e}"))
        };
        let upstream = match (&self.upstream, self.listen) {
            (Some(b), None) => Upstream::Connect(Box::new(beacon("upstream", b)?)),
            (None, Some(addr)) => Upstream::Listen {
                addr,
                external_url: self.external_url.clone(),
                tls: cert
                    .map(moneysocket_ws::tls::ServerCert::config)
                    .transpose()?,
            },
            _ => return Err("give one of --upstream and --listen".into()),
        };
        let amount =
            |what: &str, text: &str| parse_msats(text).map_err(|e| format!("--{what}: {e}"));
        let allowance = amount("allowance", &self.allowance)?;
        if allowance == 0 {
            return Err("--allowance: must be above 0".into());
        }
        let period: Period = self.period.parse().map_err(|e| format!("--period: {e}"))?;
        let mut cfg = WalletConfig::new(
            beacon("downstream", &self.downstream)?,
            upstream,
            allowance,
            period,
            self.data_dir.clone(),
        );
        cfg.per_payment_max_msat = self
            .per_payment_max
            .as_deref()
            .map(|t| amount("per-payment-max", t))
            .transpose()?;
        cfg.fee_reserve_ppm = self.fee_reserve_ppm;
        cfg.fee_reserve_min_msat = amount("fee-reserve-min", &self.fee_reserve_min)?;
        cfg.tls = moneysocket_host::trust::wss_client_tls(self.ca_file.as_deref())?;
        Ok(cfg)
    }
}

/// Runs the wallet until SIGTERM/SIGINT. Prints `listening at: ws://addr` (with --listen)
/// and `upstream beacon: BEACON` on stdout once started.
pub fn run(a: WalletArgs) -> CmdResult {
    // logging first: reading the configuration may warn (a $SSL_CERT_FILE that does not load)
    crate::daemon::init_logging(&a.log_level, a.log_dir.as_deref(), "moneysocket-wallet.log")?;
    let cert = a.cert()?;
    let cfg = a.config(cert.as_ref())?;
    let mut wallet = Wallet::new(cfg).map_err(|e| e.to_string())?;
    if let Some(cert) = &cert {
        crate::daemon::log_cert(cert, "TLS certificate");
    }
    let mut signals = match crate::daemon::Signals::register(
        wallet.driver().io().transport().registry(),
        SIGNAL_N,
        true,
    ) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("no signal handling: {e}");
            None
        }
    };
    {
        let mut stdout = std::io::stdout().lock();
        if let Some(addr) = wallet.listen_addr() {
            let scheme = if a.tls_cert.is_some() { "wss" } else { "ws" };
            let _ = writeln!(stdout, "listening at: {scheme}://{addr}");
        }
        let _ = writeln!(stdout, "upstream beacon: {}", wallet.upstream_beacon());
        if !a.no_qr && stdout.is_terminal() {
            if let Some(code) = qr(wallet.upstream_beacon()) {
                let _ = writeln!(stdout, "{code}");
            }
        }
        let _ = stdout.flush();
    }
    let mut events = Vec::new();
    while !wallet.is_done() {
        wallet
            .poll(&mut events, None)
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.drain(..) {
            if let DriverEvent::User { n: SIGNAL_N, .. } = ev {
                let arrived = signals.as_mut().map(crate::daemon::Signals::take);
                if arrived.is_some_and(|a| a.reload) {
                    crate::daemon::reload_cert(cert.as_ref());
                }
                if arrived.is_some_and(|a| a.stop) {
                    tracing::info!("signal received");
                    wallet.begin_stop();
                }
            }
        }
    }
    tracing::info!("stopped");
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: WalletArgs,
    }

    const BEACON: &str = "moneysocket1lcqqzqdm8hlqqqgph5gqqqgzqvzq2ps8pqys5zcvp58qllsqqyquzg07qqqsr0cpq8lqqqgpcv2qqynjv4kxz7fwwdhkx6m9wshx6mmwv4uszxmrns";

    fn parse(extra: &[&str]) -> Result<WalletConfig, String> {
        let mut argv = vec!["w", "--downstream", BEACON, "--data-dir", "/tmp/x"];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        cli.args.config(cli.args.cert()?.as_ref())
    }

    #[test]
    fn arguments_are_checked_before_anything_starts() {
        let c = parse(&[
            "--listen",
            "127.0.0.1:0",
            "--allowance",
            "1000sat",
            "--per-payment-max",
            "300sat",
            "--period",
            "week",
        ])
        .unwrap();
        assert_eq!(c.allowance_msat, 1_000_000);
        assert_eq!(c.per_payment_max_msat, Some(300_000));
        assert_eq!(c.period, Period::Week);
        assert_eq!(c.fee_reserve(0), 10_000);
        assert_eq!(c.fee_reserve(5_000_000), 50_000);
        for bad in [
            vec!["--listen", "127.0.0.1:0", "--allowance", "-5"],
            vec!["--listen", "127.0.0.1:0", "--allowance", "0"],
            vec![
                "--listen",
                "127.0.0.1:0",
                "--allowance",
                "5",
                "--period",
                "x",
            ],
            vec!["--upstream", "nope", "--allowance", "5"],
            vec!["--allowance", "5"],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
    }
}
