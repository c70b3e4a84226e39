//! `moneysocket terminus`: the terminus daemon (accounts on a durable ledger, served as
//! Moneysocket providers, on the simulated Lightning node until LND is configured).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use moneysocket_driver::{Driver, DriverConfig, DriverEvent};
use moneysocket_host::terminus::config::{Overrides, TerminusConfig};
use moneysocket_host::terminus::control::ControlServer;
use moneysocket_host::terminus::control::{params, ControlError, ControlHandler};
use moneysocket_host::terminus::ledger::Ledger;
use moneysocket_host::terminus::lnd::LndNode;
use moneysocket_host::terminus::node::{InvoiceRequest, Node};
use moneysocket_host::terminus::service::{Policy, Terminus};
use moneysocket_host::terminus::simnode::{self, SimNode};
use moneysocket_ws::{tls, TransportConfig};
use serde_json::{json, Value};

use super::CmdResult;

/// User-source numbers on the driver's registry: signals, then the control server's.
const SIGNAL_N: usize = 1;
const CONTROL_BASE: usize = 64;
const METRICS_BASE: usize = 16;
/// How long a shutdown waits for payments under way (they stay recorded in flight after).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Options of `moneysocket terminus`; flags override the config file.
#[derive(Args)]
pub struct TerminusArgs {
    /// Config file: TOML (see terminus.example.toml) or the Python terminus's INI file.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Data directory: ledger, node key, control token and address.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The websocket listener that `listen` beacons point at (port 0: any free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The control interface for `terminus-cli` (port 0: any free port).
    #[arg(long)]
    rpc: Option<SocketAddr>,
}

/// Runs the terminus until SIGTERM/SIGINT. Prints `listening at: ws[s]://addr` and
/// `control at: http://addr` on stdout once both are bound.
pub fn run(a: TerminusArgs) -> CmdResult {
    let overrides = Overrides {
        data_dir: a.data_dir,
        listen: a.listen,
        rpc: a.rpc,
    };
    let cfg = TerminusConfig::resolve(a.config.as_deref(), &overrides)?;
    crate::daemon::init_logging(
        &cfg.log_level()?,
        cfg.log_dir.as_deref(),
        "moneysocket-terminus.log",
    )?;
    let data_dir = cfg.data_dir();
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let ledger_path = data_dir.join("ledger.sqlite");
    let ledger =
        Ledger::open(&ledger_path).map_err(|e| format!("{}: {e}", ledger_path.display()))?;
    match &cfg.lnd {
        Some(lnd) => {
            let node = LndNode::connect(lnd).map_err(|e| format!("LND: {e}"))?;
            serve(cfg.clone(), data_dir, ledger, node, Vec::new())
        }
        None => {
            let (node, peers) = open_simnodes(&cfg, &data_dir)?;
            serve(cfg.clone(), data_dir, ledger, node, peers)
        }
    }
}

/// Opens the simulated node of a terminus without `[lnd]`, and its peers (the outside world),
/// under `data_dir`.
pub fn open_simnodes(
    cfg: &TerminusConfig,
    data_dir: &std::path::Path,
) -> Result<(SimNode, Vec<Arc<SimNode>>), String> {
    let sim_cfg = simnode::SimNodeConfig {
        starting_balance_msat: cfg.simnode.starting_balance_msat,
        fee_base_msat: cfg.simnode.fee_base_msat,
        fee_ppm: u64::from(cfg.simnode.fee_ppm),
        latency: cfg.simnode.latency(),
        ..simnode::SimNodeConfig::default()
    };
    let network = simnode::SimNetwork::new();
    let node = network
        .open_node(&data_dir.join("simnode"), sim_cfg.clone())
        .map_err(|e| format!("simulated node: {e}"))?;
    let mut peers = Vec::new();
    for i in 0..cfg.simnode.peers {
        let peer = network
            .open_node(
                &data_dir.join(format!("simpeer-{i}")),
                simnode::SimNodeConfig {
                    alias: format!("simpeer-{i}"),
                    ..sim_cfg.clone()
                },
            )
            .map_err(|e| format!("simulated peer {i}: {e}"))?;
        peers.push(Arc::new(peer));
    }
    Ok((node, peers))
}

/// A terminus bound to its listener and started (in-flight payments reconciled).
pub struct Started<N: Node> {
    /// The service; drive it with `poll`.
    pub terminus: Terminus<N>,
    /// Where its websocket listener is bound.
    pub bound: SocketAddr,
    /// `ws` or `wss`.
    pub scheme: &'static str,
    /// The URL its beacons carry.
    pub external_url: String,
    /// The listener's certificate (wss), reloaded on SIGHUP.
    pub cert: Option<tls::ServerCert>,
}

/// Binds the terminus's listener and starts the service over `node`: what the daemon and
/// the in-process demo share.
pub fn start_terminus<N: Node>(
    cfg: &TerminusConfig,
    ledger: Ledger,
    node: N,
) -> Result<Started<N>, String> {
    let cert = match (&cfg.listen.tls_cert, &cfg.listen.tls_key) {
        (Some(c), Some(k)) => Some(tls::ServerCert::load(
            c,
            k,
            cfg.listen.tls_chain.as_deref(),
        )?),
        _ => None,
    };
    let server_tls = cert.as_ref().map(tls::ServerCert::config).transpose()?;
    let driver_cfg = DriverConfig {
        // payments block a worker thread each while they route
        max_running_jobs: 64,
        max_queued_jobs: 4096,
        ..DriverConfig::default()
    };
    let transport = TransportConfig {
        max_connections: cfg.listen.max_connections,
        max_per_ip: cfg.listen.max_per_ip,
        ..TransportConfig::default()
    };
    let mut driver: Driver =
        Driver::new(driver_cfg, transport).map_err(|e| format!("event loop: {e}"))?;
    if let Some(t) = moneysocket_host::trust::wss_client_tls(cfg.relay_ca_file.as_deref())? {
        driver.io_mut().set_client_tls(t);
    }
    let bound = driver
        .listen(cfg.listen.bind, server_tls.clone())
        .map_err(|e| format!("listening on {}: {e}", cfg.listen.bind))?;
    let (host, port, tls) = cfg.listen.beacon_location(bound);
    let scheme = if tls { "wss" } else { "ws" };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let external_url = format!("{scheme}://{host}:{port}");
    let policy = Policy {
        fee_limit_ppm: u64::from(cfg.payments.fee_limit_ppm),
        fee_limit_min_msat: cfg.payments.fee_limit_min_msat,
        invoice_expiry: cfg.payments.invoice_expiry(),
        pay_timeout: cfg.payments.pay_timeout(),
        external_url: external_url.clone(),
    };
    let mut terminus = Terminus::new(driver, ledger, Arc::new(node), policy);
    terminus.start()?;
    Ok(Started {
        terminus,
        bound,
        scheme,
        external_url,
        cert,
    })
}

/// Runs the terminus over `node` (the simulated one with its `peers`, or LND) until a signal.
fn serve<N: Node>(
    cfg: TerminusConfig,
    data_dir: PathBuf,
    ledger: Ledger,
    node: N,
    peers: Vec<Arc<SimNode>>,
) -> CmdResult {
    let Started {
        mut terminus,
        bound,
        scheme,
        external_url,
        cert,
    } = start_terminus(&cfg, ledger, node)?;
    let registry = terminus
        .driver()
        .io()
        .transport()
        .registry()
        .try_clone()
        .map_err(|e| format!("event loop: {e}"))?;
    let mut control = ControlServer::bind(cfg.rpc.bind, &registry, CONTROL_BASE)
        .map_err(|e| format!("control on {}: {e}", cfg.rpc.bind))?;
    control
        .publish(&data_dir)
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let mut signals = match crate::daemon::Signals::register(&registry, SIGNAL_N, true) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("no signal handling: {e}");
            None
        }
    };
    let mut metrics = match cfg.metrics {
        Some(m) => Some(
            moneysocket_host::metrics::Metrics::bind(m, &registry, METRICS_BASE)
                .map_err(|e| format!("metrics on {m}: {e}"))?,
        ),
        None => None,
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "listening at: {scheme}://{bound}");
    let _ = writeln!(stdout, "control at: http://{}", control.local_addr());
    if let Some((_, local)) = &metrics {
        let _ = writeln!(stdout, "metrics at: http://{local}/metrics");
    }
    let _ = stdout.flush();
    tracing::info!("listening at: {scheme}://{bound} (beacons say {external_url})");
    if let Some(cert) = &cert {
        crate::daemon::log_cert(cert, "TLS certificate");
    }
    tracing::info!("control at: http://{}", control.local_addr());

    let mut events = Vec::new();
    let mut stop_at: Option<Instant> = None;
    loop {
        let timeout = stop_at.map(|_| Duration::from_millis(50));
        terminus
            .poll(&mut events, timeout)
            .map_err(|e| format!("poll: {e}"))?;
        for ev in events.drain(..) {
            if let DriverEvent::User { n, .. } = ev {
                if n == SIGNAL_N {
                    let arrived = signals.as_mut().map(|s| s.take());
                    if arrived.is_some_and(|a| a.reload) {
                        crate::daemon::reload_cert(cert.as_ref());
                    }
                    if arrived.is_some_and(|a| a.stop) && stop_at.is_none() {
                        tracing::info!("signal received: stopping (payments under way may finish)");
                        terminus.stop();
                        stop_at = Some(Instant::now() + SHUTDOWN_GRACE);
                    }
                } else if control.owns(n) {
                    let mut handler = WithPeers {
                        terminus: &mut terminus,
                        peers: &peers,
                    };
                    control.ready(n, &registry, &mut handler);
                } else if let Some((m, _)) = &mut metrics {
                    if m.owns(n) {
                        m.ready(n, &registry, &|| terminus.render_metrics());
                    }
                }
            }
        }
        control.sweep(&registry);
        if let Some((m, _)) = &mut metrics {
            m.sweep(&registry);
        }
        if let Some(at) = stop_at {
            if terminus.busy() == 0 || Instant::now() >= at {
                break;
            }
        }
    }
    ControlServer::unpublish(&data_dir);
    tracing::info!("stopped with {} node calls under way", terminus.busy());
    Ok(String::new())
}

/// The control verbs, plus those of the simulated world outside the terminus (its peer
/// nodes): an invoice at a peer for an account to pay, a peer paying an account's invoice.
struct WithPeers<'a, N: Node> {
    terminus: &'a mut Terminus<N>,
    peers: &'a [Arc<SimNode>],
}

impl<N: Node> WithPeers<'_, N> {
    fn peer(&self, p: &Value) -> Result<&Arc<SimNode>, ControlError> {
        let i = p.get("peer").and_then(Value::as_u64).unwrap_or(0);
        usize::try_from(i)
            .ok()
            .and_then(|i| self.peers.get(i))
            .ok_or_else(|| ControlError::NotFound(format!("no simulated peer {i}")))
    }
}

impl<N: Node> ControlHandler for WithPeers<'_, N> {
    fn call(&mut self, method: &str, p: &Value) -> Result<Value, ControlError> {
        match method {
            "simnet_invoice" => {
                let peer = self.peer(p)?;
                let msats = params::msats(p, "msats")?;
                let count = p
                    .get("count")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .clamp(1, 10_000);
                let mut out = Vec::new();
                for _ in 0..count {
                    let inv = peer
                        .create_invoice(&InvoiceRequest {
                            msats,
                            expiry: Duration::from_secs(3600),
                            memo: "simnet".into(),
                            description_hash: None,
                            preimage: None,
                        })
                        .map_err(|e| ControlError::Internal(e.to_string()))?;
                    out.push(inv.bolt11);
                }
                Ok(json!({ "bolt11": out }))
            }
            "simnet_pay" => {
                let peer = Arc::clone(self.peer(p)?);
                let bolt11 = params::str(p, "bolt11")?.to_owned();
                // A payment may take the node's latency: it runs on its own thread; the
                // account hears of it through the settlement stream.
                std::thread::spawn(move || {
                    if let Err(e) = peer.pay(&bolt11, u64::MAX, Duration::from_secs(600)) {
                        tracing::warn!("simulated peer's payment failed: {e}");
                    }
                });
                Ok(json!({ "paying": true }))
            }
            "simnet_info" => {
                let mut out = Vec::new();
                for (i, peer) in self.peers.iter().enumerate() {
                    let info = peer
                        .info()
                        .map_err(|e| ControlError::Internal(e.to_string()))?;
                    out.push(json!({
                        "peer": i,
                        "pubkey": info.pubkey,
                        "spendable_msat": peer.spendable_msat().ok(),
                    }));
                }
                Ok(json!({ "peers": out }))
            }
            _ => self.terminus.call(method, p),
        }
    }
}
