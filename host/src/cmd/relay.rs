//! `moneysocket relay`: the relay daemon.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;

use super::CmdResult;
use crate::relay::config::{resolve_ip, resolve_socket};
use crate::relay::RelayConfig;

/// Options of `moneysocket relay`; flags override the config file.
#[derive(Args)]
pub struct RelayArgs {
    /// Config file: TOML (see relay.example.toml) or the Python relay's [Relay] INI file.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Address or host name to listen on [default: 127.0.0.1].
    #[arg(long, value_parser = resolve_ip)]
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
    /// Serve Prometheus metrics on GET /metrics at this address (e.g. 127.0.0.1:9106 or
    /// localhost:9106).
    #[arg(long, value_parser = resolve_socket)]
    metrics: Option<SocketAddr>,
    /// Most connections at once [default: 10000, at most 16384].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Most connections per client IP address, 0 = no limit [default: 64]. Load tests from
    /// one machine (`bench relay`) need more than 64, or 0.
    #[arg(long)]
    max_per_ip: Option<usize>,
    /// Event loops (threads), one core each; connections are routed to the loop that owns
    /// their rendezvous id [default: 1, at most 64].
    #[arg(long)]
    workers: Option<usize>,
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
    if let Some(n) = a.max_connections {
        cfg.max_connections = n;
    }
    if let Some(n) = a.max_per_ip {
        cfg.max_per_ip = n;
    }
    if let Some(n) = a.workers {
        cfg.workers = n;
    }
    crate::relay::run(cfg)?;
    Ok(String::new())
}
