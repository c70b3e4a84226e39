//! `moneysocket relay`: the relay daemon.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;

use super::CmdResult;
use crate::relay::RelayConfig;

/// Options of `moneysocket relay`; flags override the config file.
#[derive(Args)]
pub struct RelayArgs {
    /// Config file: TOML (see relay.example.toml) or the Python relay's [Relay] INI file.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Port to listen on (0 = any free port) [default: 11060].
    #[arg(long)]
    port: Option<u16>,
    /// PEM certificate: serve wss (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM chain appended to the certificate.
    #[arg(long, requires = "tls_cert")]
    tls_chain: Option<PathBuf>,
    /// Serve Prometheus metrics on GET /metrics at this address (e.g. 127.0.0.1:9106).
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

/// Runs the relay until SIGTERM/SIGINT.
pub fn run(a: RelayArgs) -> CmdResult {
    let mut cfg = match &a.config {
        Some(p) => RelayConfig::load(p)?,
        None => RelayConfig::default(),
    };
    if let Some(b) = a.bind {
        cfg.bind = b;
    }
    if let Some(p) = a.port {
        cfg.port = p;
    }
    if a.tls_cert.is_some() {
        cfg.tls_cert = a.tls_cert;
        cfg.tls_key = a.tls_key;
        cfg.tls_chain = a.tls_chain;
    }
    if a.metrics.is_some() {
        cfg.metrics = a.metrics;
    }
    crate::relay::run(cfg)?;
    Ok(String::new())
}
