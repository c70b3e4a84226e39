//! Terminus configuration: TOML (`terminus.example.toml`) or the Python terminus's INI file
//! (`[App]`, `[Listen]`, `[Rpc]`, `[LND]`), then the command line's overrides, then
//! [`TerminusConfig::validate`].

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::ini::Ini;

/// Everything the terminus daemon reads from its config file (all keys optional).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TerminusConfig {
    /// The data directory: ledger, node key, `control.token`, `control.addr`
    /// (default: [`default_data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub log_level: String,
    /// Write logs to a file in this folder instead of stderr.
    pub log_dir: Option<PathBuf>,
    /// Serve Prometheus text metrics on `GET /metrics` at this address (loopback advised).
    pub metrics: Option<SocketAddr>,
    /// PEM certificates trusted for the `wss://` relays that `connect` dials (e.g. a
    /// relay's self-signed certificate); default `$SSL_CERT_FILE`, else the webpki roots
    /// (`moneysocket_host::trust`).
    pub relay_ca_file: Option<PathBuf>,
    /// The websocket listener that `listen` beacons point at.
    pub listen: ListenConfig,
    /// The control interface of `terminus-cli`.
    pub rpc: RpcConfig,
    /// Payment policy.
    pub payments: PaymentsConfig,
    /// The simulated Lightning node (used when `[lnd]` is absent).
    pub simnode: SimNodeConfig,
    /// An LND node over REST (its presence selects it instead of the simulated node).
    pub lnd: Option<LndConfig>,
}

impl Default for TerminusConfig {
    fn default() -> Self {
        TerminusConfig {
            data_dir: None,
            log_level: "info".into(),
            log_dir: None,
            metrics: None,
            relay_ca_file: None,
            listen: ListenConfig::default(),
            rpc: RpcConfig::default(),
            payments: PaymentsConfig::default(),
            simnode: SimNodeConfig::default(),
            lnd: None,
        }
    }
}

/// The terminus's own websocket listener.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// Address and port to listen on (port 0: any free port).
    pub bind: SocketAddr,
    /// Host written into beacons (default: the bind address, which must then be specific).
    pub external_host: Option<String>,
    /// Port written into beacons (default: the bound port).
    pub external_port: Option<u16>,
    /// TLS flag written into beacons (default: whether the listener serves TLS; set it when a
    /// TLS-terminating proxy is in front).
    pub external_tls: Option<bool>,
    /// PEM certificate (serves wss together with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// PEM chain appended to the certificate.
    pub tls_chain: Option<PathBuf>,
    /// Most connections the listener holds at once (accepted ones; default 10,000).
    pub max_connections: usize,
    /// Most connections from one address (default 64; 0: no limit, e.g. behind a proxy).
    pub max_per_ip: usize,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            max_connections: 10_000,
            max_per_ip: 64,
            bind: SocketAddr::from(([127, 0, 0, 1], DEFAULT_LISTEN_PORT)),
            external_host: None,
            external_port: None,
            external_tls: None,
            tls_cert: None,
            tls_key: None,
            tls_chain: None,
        }
    }
}

/// The control interface (HTTP JSON with a bearer token; see `docs/terminus.md`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Address and port of the control server (loopback advised: plain HTTP).
    pub bind: SocketAddr,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], DEFAULT_RPC_PORT)),
        }
    }
}

/// Payment policy.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Fee limit of a pay, in parts per million of its amount.
    pub fee_limit_ppm: u32,
    /// Smallest fee limit of a pay, in msat.
    pub fee_limit_min_msat: u64,
    /// Expiry of the invoices the terminus creates, in seconds.
    pub invoice_expiry_secs: u64,
    /// Time a pay may take before it is given up, in seconds.
    pub pay_timeout_secs: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            fee_limit_ppm: 10_000,
            fee_limit_min_msat: 10_000,
            invoice_expiry_secs: 3600,
            pay_timeout_secs: 60,
        }
    }
}

impl PaymentsConfig {
    /// The fee limit of a pay of `amount_msat`: `max(amount × ppm / 10⁶ rounded up, min)`.
    pub fn fee_limit_msat(&self, amount_msat: u64) -> u64 {
        let prop = (u128::from(amount_msat) * u128::from(self.fee_limit_ppm)).div_ceil(1_000_000);
        u64::try_from(prop)
            .unwrap_or(u64::MAX)
            .max(self.fee_limit_min_msat)
    }

    /// The invoice expiry.
    pub fn invoice_expiry(&self) -> Duration {
        Duration::from_secs(self.invoice_expiry_secs)
    }

    /// The pay timeout.
    pub fn pay_timeout(&self) -> Duration {
        Duration::from_secs(self.pay_timeout_secs)
    }
}

/// The simulated Lightning node.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimNodeConfig {
    /// Spendable balance of a new node, in msat.
    pub starting_balance_msat: u64,
    /// Routing fee of a pay to an unknown node: base part, in msat.
    pub fee_base_msat: u64,
    /// Routing fee: proportional part, in parts per million.
    pub fee_ppm: u32,
    /// Time a pay takes, in milliseconds.
    pub latency_ms: u64,
    /// Other simulated nodes on the same simulated network (the world outside the terminus:
    /// `terminus-cli simnet-invoice` makes an invoice at one for an account to pay,
    /// `simnet-pay` pays an account's invoice from one). Default 1.
    pub peers: u32,
}

impl Default for SimNodeConfig {
    fn default() -> Self {
        SimNodeConfig {
            starting_balance_msat: 100_000_000_000,
            fee_base_msat: 1_000,
            fee_ppm: 1_000,
            latency_ms: 0,
            peers: 1,
        }
    }
}

impl SimNodeConfig {
    /// The latency.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms)
    }
}

/// An LND node over its REST interface.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LndConfig {
    /// REST host.
    pub rest_host: String,
    /// REST port.
    pub rest_port: u16,
    /// The macaroon file (e.g. `admin.macaroon`); or give `macaroon_hex`.
    pub macaroon_path: Option<PathBuf>,
    /// The macaroon as hex.
    pub macaroon_hex: Option<String>,
    /// LND's `tls.cert`.
    pub tls_cert_path: Option<PathBuf>,
}

impl Default for LndConfig {
    fn default() -> Self {
        LndConfig {
            rest_host: "localhost".into(),
            rest_port: 8080,
            macaroon_path: None,
            macaroon_hex: None,
            tls_cert_path: None,
        }
    }
}

/// Default port of the websocket listener (the Python example's).
pub const DEFAULT_LISTEN_PORT: u16 = 11033;
/// Default port of the control interface (the Python example's).
pub const DEFAULT_RPC_PORT: u16 = 11054;

/// The data directory used when none is configured: `$XDG_DATA_HOME/moneysocket-terminus`,
/// else `$HOME/.local/share/moneysocket-terminus`, else `./moneysocket-terminus`.
pub fn default_data_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = env("XDG_DATA_HOME").or_else(|| env("HOME").map(|h| h.join(".local/share")));
    base.unwrap_or_else(|| PathBuf::from("."))
        .join("moneysocket-terminus")
}

/// The command line's settings, which win over the file's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--data-dir DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen ADDR:PORT`.
    pub listen: Option<SocketAddr>,
    /// `--rpc ADDR:PORT`.
    pub rpc: Option<SocketAddr>,
}

/// The keys of the Python INI sections this reader knows (others are errors: typos).
const INI_KEYS: &[(&str, &[&str])] = &[
    ("App", &["AccountPersistDir", "LogDir"]),
    (
        "Listen",
        &[
            "BindHost",
            "BindPort",
            "ExternalHost",
            "ExternalPort",
            "UseTLS",
            "CertFile",
            "CertKey",
            "SelfSignedCert",
            "CertChainFile",
            "DefaultBind",
            "DefaultPort",
        ],
    ),
    (
        "Rpc",
        &["BindHost", "BindPort", "ExternalHost", "ExternalPort"],
    ),
    (
        "LND",
        &[
            "LndDir",
            "Network",
            "GrpcHost",
            "GrpcPort",
            "RestHost",
            "RestPort",
            "MacaroonPath",
            "MacaroonHex",
            "TlsCertPath",
            "FeeLimitPpm",
            "FeeLimitMinMsat",
            "InvoiceExpirySecs",
            "PayTimeoutSecs",
        ],
    ),
];

fn looks_like_terminus_ini(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .any(|l| INI_KEYS.iter().any(|(s, _)| l == format!("[{s}]")))
}

fn resolve_host(key: &str, host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| format!("{key}: cannot resolve {host:?}"))
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{key}: not a valid number: {v:?}"))
}

impl TerminusConfig {
    /// Reads a config file: INI if its name ends in `.ini`/`.conf`/`.cfg` or (unless it ends
    /// in `.toml`) it has an `[App]`, `[Listen]`, `[Rpc]` or `[LND]` section; TOML otherwise.
    pub fn load(path: &Path) -> Result<Self, String> {
        crate::ini::load_config(
            path,
            looks_like_terminus_ini,
            Self::from_ini,
            Self::from_toml,
        )
    }

    /// Reads TOML (see `terminus.example.toml`); unknown keys are errors.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Reads the Python terminus's INI file. `[App] AccountPersistDir` is the data dir
    /// (`LogDir` the log dir); `[Listen]` and `[Rpc]` `BindHost`/`BindPort` the listener and
    /// control addresses (host names resolved); `[Listen] ExternalHost`/`ExternalPort`/`UseTLS`
    /// what beacons say; `UseTLS = True` needs `CertFile` and `CertKey` and takes
    /// `CertChainFile` unless `SelfSignedCert = True`. An `[LND]` section selects LND: its REST
    /// keys (`RestHost`, `RestPort`, `MacaroonPath`, `MacaroonHex`, `TlsCertPath`) are read,
    /// `FeeLimitPpm`, `FeeLimitMinMsat`, `InvoiceExpirySecs`, `PayTimeoutSecs` set the payment
    /// policy, and the gRPC keys (`LndDir`, `Network`, `GrpcHost`, `GrpcPort`) are accepted and
    /// ignored, as are `[Rpc] ExternalHost`/`ExternalPort` (the CLI reads `control.addr`) and
    /// `[Listen] DefaultBind`/`DefaultPort`. Booleans are true only as the literal `True`;
    /// `None` or an empty value means absent. Other sections are ignored; an unknown key in one
    /// of these four is an error.
    pub fn from_ini(text: &str) -> Result<Self, String> {
        let ini = Ini::parse(text)?;
        if !INI_KEYS.iter().any(|(s, _)| ini.has_section(s)) {
            return Err("no [App], [Listen], [Rpc] or [LND] section".into());
        }
        for (section, known) in INI_KEYS {
            for (k, _) in ini.keys(section) {
                if !known.iter().any(|kk| kk.eq_ignore_ascii_case(k)) {
                    return Err(format!(
                        "[{section}] {k}: unknown key (known: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        let mut c = TerminusConfig {
            data_dir: ini.get("App", "AccountPersistDir").map(PathBuf::from),
            log_dir: ini.get("App", "LogDir").map(PathBuf::from),
            ..TerminusConfig::default()
        };

        // [Listen]
        let l = &mut c.listen;
        if let Some(h) = ini.get("Listen", "BindHost") {
            l.bind.set_ip(resolve_host("[Listen] BindHost", h)?);
        }
        if let Some(p) = ini.get("Listen", "BindPort") {
            l.bind.set_port(parse_num("[Listen] BindPort", p)?);
        }
        l.external_host = ini.get("Listen", "ExternalHost").map(str::to_owned);
        if let Some(p) = ini.get("Listen", "ExternalPort") {
            l.external_port = Some(parse_num("[Listen] ExternalPort", p)?);
        }
        if ini.is_true("Listen", "UseTLS") {
            l.tls_cert = Some(
                ini.get("Listen", "CertFile")
                    .ok_or("[Listen] UseTLS = True needs CertFile")?
                    .into(),
            );
            l.tls_key = Some(
                ini.get("Listen", "CertKey")
                    .ok_or("[Listen] UseTLS = True needs CertKey")?
                    .into(),
            );
            if !ini.is_true("Listen", "SelfSignedCert") {
                l.tls_chain = ini.get("Listen", "CertChainFile").map(PathBuf::from);
            }
            l.external_tls = Some(true);
        }
        if let Some(p) = ini.get("Listen", "DefaultPort") {
            parse_num::<u16>("[Listen] DefaultPort", p)?;
        }

        // [Rpc]
        if let Some(h) = ini.get("Rpc", "BindHost") {
            c.rpc.bind.set_ip(resolve_host("[Rpc] BindHost", h)?);
        }
        if let Some(p) = ini.get("Rpc", "BindPort") {
            c.rpc.bind.set_port(parse_num("[Rpc] BindPort", p)?);
        }
        if let Some(p) = ini.get("Rpc", "ExternalPort") {
            parse_num::<u16>("[Rpc] ExternalPort", p)?;
        }

        // [LND]
        if ini.has_section("LND") {
            let mut lnd = LndConfig::default();
            if let Some(h) = ini.get("LND", "RestHost") {
                lnd.rest_host = h.to_owned();
            }
            if let Some(p) = ini.get("LND", "RestPort") {
                lnd.rest_port = parse_num("[LND] RestPort", p)?;
            }
            lnd.macaroon_path = ini.get("LND", "MacaroonPath").map(PathBuf::from);
            lnd.macaroon_hex = ini.get("LND", "MacaroonHex").map(str::to_owned);
            lnd.tls_cert_path = ini.get("LND", "TlsCertPath").map(PathBuf::from);
            if let Some(p) = ini.get("LND", "GrpcPort") {
                parse_num::<u16>("[LND] GrpcPort", p)?;
            }
            let p = &mut c.payments;
            if let Some(v) = ini.get("LND", "FeeLimitPpm") {
                p.fee_limit_ppm = parse_num("[LND] FeeLimitPpm", v)?;
            }
            if let Some(v) = ini.get("LND", "FeeLimitMinMsat") {
                p.fee_limit_min_msat = parse_num("[LND] FeeLimitMinMsat", v)?;
            }
            if let Some(v) = ini.get("LND", "InvoiceExpirySecs") {
                p.invoice_expiry_secs = parse_num("[LND] InvoiceExpirySecs", v)?;
            }
            if let Some(v) = ini.get("LND", "PayTimeoutSecs") {
                p.pay_timeout_secs = parse_num("[LND] PayTimeoutSecs", v)?;
            }
            c.lnd = Some(lnd);
        }
        Ok(c)
    }

    /// Applies the command line's settings.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(d) = &o.data_dir {
            self.data_dir = Some(d.clone());
        }
        if let Some(l) = o.listen {
            self.listen.bind = l;
        }
        if let Some(r) = o.rpc {
            self.rpc.bind = r;
        }
    }

    /// Loads `file` (or the defaults without one), applies `overrides` and validates: what
    /// the daemon starts from.
    pub fn resolve(file: Option<&Path>, overrides: &Overrides) -> Result<Self, String> {
        let mut c = match file {
            Some(p) => Self::load(p)?,
            None => Self::default(),
        };
        c.apply(overrides);
        c.validate()?;
        Ok(c)
    }

    /// The data directory (configured or [`default_data_dir`]).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    /// The log level.
    pub fn log_level(&self) -> Result<tracing::Level, String> {
        let l = &self.log_level;
        l.parse().map_err(|_| {
            format!("log_level: unknown level {l:?} (error, warn, info, debug, trace)")
        })
    }

    /// Checks values and relations between them.
    pub fn validate(&self) -> Result<(), String> {
        if self
            .data_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            return Err("data_dir: empty".into());
        }
        self.log_level()?;
        let l = &self.listen;
        if l.tls_cert.is_some() != l.tls_key.is_some() {
            return Err("listen: tls_cert and tls_key go together".into());
        }
        if l.tls_chain.is_some() && l.tls_cert.is_none() {
            return Err("listen: tls_chain needs tls_cert and tls_key".into());
        }
        match &l.external_host {
            Some(h) => {
                let ok = h.parse::<IpAddr>().is_ok()
                    || moneysocket_core::beacon::v1::is_valid_hostname(h);
                if !ok {
                    return Err(format!(
                        "listen.external_host: not a host name or IP: {h:?}"
                    ));
                }
            }
            None if l.bind.ip().is_unspecified() => {
                return Err(format!(
                    "listen.external_host is needed when listen.bind is {} (beacons must name \
                     a reachable host)",
                    l.bind.ip()
                ));
            }
            None => {}
        }
        if l.external_port == Some(0) {
            return Err("listen.external_port: 0 is not a port".into());
        }
        if self.rpc.bind.port() != 0 && self.rpc.bind.port() == l.bind.port() {
            let same_ip = self.rpc.bind.ip() == l.bind.ip()
                || self.rpc.bind.ip().is_unspecified()
                || l.bind.ip().is_unspecified();
            if same_ip {
                return Err(format!(
                    "rpc.bind and listen.bind are the same address ({})",
                    self.rpc.bind
                ));
            }
        }
        let p = &self.payments;
        if p.fee_limit_ppm > 1_000_000 {
            return Err("payments.fee_limit_ppm: at most 1000000 (100 %)".into());
        }
        if !(1..=365 * 86_400).contains(&p.invoice_expiry_secs) {
            return Err("payments.invoice_expiry_secs: between 1 and 31536000".into());
        }
        if !(1..=86_400).contains(&p.pay_timeout_secs) {
            return Err("payments.pay_timeout_secs: between 1 and 86400".into());
        }
        let s = &self.simnode;
        if s.fee_ppm > 1_000_000 {
            return Err("simnode.fee_ppm: at most 1000000 (100 %)".into());
        }
        if s.latency_ms > 600_000 {
            return Err("simnode.latency_ms: at most 600000".into());
        }
        if s.peers > 16 {
            return Err("simnode.peers: at most 16".into());
        }
        if let Some(lnd) = &self.lnd {
            if lnd.rest_host.is_empty() {
                return Err("lnd.rest_host: empty".into());
            }
            if lnd.rest_port == 0 {
                return Err("lnd.rest_port: 0 is not a port".into());
            }
            match (&lnd.macaroon_path, &lnd.macaroon_hex) {
                (Some(_), Some(_)) => {
                    return Err("lnd: give macaroon_path or macaroon_hex, not both".into())
                }
                (None, None) => return Err("lnd: macaroon_path or macaroon_hex is needed".into()),
                (None, Some(h)) => {
                    if h.is_empty() || h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        return Err("lnd.macaroon_hex: not hex".into());
                    }
                }
                (Some(_), None) => {}
            }
        }
        Ok(())
    }
}

impl ListenConfig {
    /// What beacons of `listen` say: `(host, port, tls)`, given the address the listener
    /// actually bound (its port when `bind` asked for port 0).
    pub fn beacon_location(&self, bound: SocketAddr) -> (String, u16, bool) {
        let host = match &self.external_host {
            Some(h) => h.clone(),
            None => bound.ip().to_string(),
        };
        let port = self.external_port.unwrap_or(bound.port());
        let tls = self.external_tls.unwrap_or(self.tls_cert.is_some());
        (host, port, tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Python terminus-lnd example config, with the REST keys added.
    const PY_LND: &str = "\
[App]
AccountPersistDir = /home/u/.moneysocket-terminus
LogDir = /home/u/.moneysocket-terminus/logs

[Listen]
BindHost = 0.0.0.0
BindPort = 11033
ExternalHost = 192.168.1.20
ExternalPort = 11033
UseTLS = False
CertFile = None
CertKey = None
SelfSignedCert = True
CertChainFile = None
DefaultBind = 0.0.0.0
DefaultPort = 11038

[LND]
LndDir = /home/u/.lnd
MacaroonPath = /home/u/.lnd/data/chain/bitcoin/mainnet/admin.macaroon
TlsCertPath = /home/u/.lnd/tls.cert
Network = bitcoin
GrpcHost = localhost
GrpcPort = 10009
RestHost = 10.0.0.5
RestPort = 8081
FeeLimitPpm = 5000
FeeLimitMinMsat = 2000
InvoiceExpirySecs = 600
PayTimeoutSecs = 30

[Rpc]
BindHost = 127.0.0.1
BindPort = 11054
ExternalHost = 127.0.0.1
ExternalPort = 11054
";

    #[test]
    fn python_ini_maps_every_key() {
        let c = TerminusConfig::from_ini(PY_LND).unwrap();
        c.validate().unwrap();
        assert_eq!(
            c.data_dir.as_deref(),
            Some(Path::new("/home/u/.moneysocket-terminus"))
        );
        assert_eq!(
            c.log_dir.as_deref(),
            Some(Path::new("/home/u/.moneysocket-terminus/logs"))
        );
        assert_eq!(c.listen.bind, "0.0.0.0:11033".parse().unwrap());
        assert_eq!(c.listen.external_host.as_deref(), Some("192.168.1.20"));
        assert_eq!(c.listen.external_port, Some(11033));
        assert!(c.listen.tls_cert.is_none() && c.listen.external_tls.is_none());
        assert_eq!(c.rpc.bind, "127.0.0.1:11054".parse().unwrap());
        let lnd = c.lnd.as_ref().unwrap();
        assert_eq!((lnd.rest_host.as_str(), lnd.rest_port), ("10.0.0.5", 8081));
        assert_eq!(
            lnd.macaroon_path.as_deref(),
            Some(Path::new(
                "/home/u/.lnd/data/chain/bitcoin/mainnet/admin.macaroon"
            ))
        );
        assert_eq!(
            lnd.tls_cert_path.as_deref(),
            Some(Path::new("/home/u/.lnd/tls.cert"))
        );
        assert_eq!(
            c.payments,
            PaymentsConfig {
                fee_limit_ppm: 5000,
                fee_limit_min_msat: 2000,
                invoice_expiry_secs: 600,
                pay_timeout_secs: 30,
            }
        );
        let bound = "0.0.0.0:11033".parse().unwrap();
        assert_eq!(
            c.listen.beacon_location(bound),
            ("192.168.1.20".into(), 11033, false)
        );
    }

    #[test]
    fn python_ini_grpc_only_tls_and_clightning() {
        // the unmodified Python LND example: REST defaults, the gRPC keys ignored
        let grpc_only: String = PY_LND
            .lines()
            .filter(|l| {
                !["Rest", "FeeLimit", "InvoiceExpiry", "PayTimeout"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let c = TerminusConfig::from_ini(&grpc_only).unwrap();
        let lnd = c.lnd.as_ref().unwrap();
        assert_eq!((lnd.rest_host.as_str(), lnd.rest_port), ("localhost", 8080));
        assert_eq!(c.payments, PaymentsConfig::default());
        c.validate().unwrap();

        let tls = PY_LND
            .replace("UseTLS = False", "UseTLS = True")
            .replace("CertFile = None", "CertFile = /c.pem")
            .replace("CertKey = None", "CertKey = /k.pem")
            .replace("SelfSignedCert = True", "SelfSignedCert = False")
            .replace("CertChainFile = None", "CertChainFile = /chain.pem");
        let c = TerminusConfig::from_ini(&tls).unwrap();
        assert_eq!(c.listen.tls_cert.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(c.listen.tls_key.as_deref(), Some(Path::new("/k.pem")));
        assert_eq!(c.listen.tls_chain.as_deref(), Some(Path::new("/chain.pem")));
        let (_, _, tls_flag) = c.listen.beacon_location("0.0.0.0:1".parse().unwrap());
        assert!(tls_flag);
        let self_signed = tls.replace("SelfSignedCert = False", "SelfSignedCert = True");
        let c = TerminusConfig::from_ini(&self_signed).unwrap();
        assert!(c.listen.tls_chain.is_none() && c.listen.tls_cert.is_some());
        let no_key = tls.replace("CertKey = /k.pem", "CertKey = None");
        assert_eq!(
            TerminusConfig::from_ini(&no_key).unwrap_err(),
            "[Listen] UseTLS = True needs CertKey"
        );

        // the c-lightning plugin's file: no [LND], so the simulated node
        let cln =
            "[App]\nAccountPersistDir = /x\n[Listen]\nBindHost = localhost\nBindPort = 11033\n\
                   [Rpc]\nBindHost = 127.0.0.1\nBindPort = 11055\n";
        let c = TerminusConfig::from_ini(cln).unwrap();
        assert!(c.lnd.is_none() && c.listen.bind.ip().is_loopback());
        assert_eq!(c.rpc.bind.port(), 11055);
        c.validate().unwrap();
    }

    #[test]
    fn python_ini_errors_are_clear() {
        let err = |t: &str| TerminusConfig::from_ini(t).unwrap_err();
        assert_eq!(
            err("[Other]\na = 1\n"),
            "no [App], [Listen], [Rpc] or [LND] section"
        );
        assert!(err("[Listen]\nBindPrt = 1\n").starts_with("[Listen] BindPrt: unknown key"));
        assert_eq!(
            err("[Listen]\nBindPort = 70000\n"),
            "[Listen] BindPort: not a valid number: \"70000\""
        );
        assert!(err("[Rpc]\nBindPort = x\n").contains("[Rpc] BindPort"));
        assert!(err("[LND]\nFeeLimitPpm = -1\n").contains("[LND] FeeLimitPpm"));
        assert!(err("[App]\nnot a pair\n").contains("line 2"));
        // an [LND] section without a macaroon parses but does not validate
        let c = TerminusConfig::from_ini("[LND]\nGrpcHost = localhost\n").unwrap();
        assert_eq!(
            c.validate().unwrap_err(),
            "lnd: macaroon_path or macaroon_hex is needed"
        );
    }

    #[test]
    fn toml_defaults_example_and_unknown_keys() {
        let c = TerminusConfig::from_toml("").unwrap();
        assert_eq!(c, TerminusConfig::default());
        c.validate().unwrap();
        assert_eq!(c.listen.bind, "127.0.0.1:11033".parse().unwrap());
        assert_eq!(c.rpc.bind, "127.0.0.1:11054".parse().unwrap());
        assert_eq!(c.payments.fee_limit_msat(0), 10_000);
        assert_eq!(c.payments.fee_limit_msat(1_000_000), 10_000);
        assert_eq!(c.payments.fee_limit_msat(5_000_000), 50_000);
        assert_eq!(c.payments.fee_limit_msat(1_000_001), 10_001);
        assert_eq!(c.payments.fee_limit_msat(u64::MAX), u64::MAX / 100 + 1);

        let example = include_str!("../../../terminus.example.toml");
        let e = TerminusConfig::from_toml(example).unwrap();
        e.validate().unwrap();
        // the example spells out the defaults
        assert_eq!(e, TerminusConfig::default());

        let err = TerminusConfig::from_toml("[listen]\nbnd = \"1.2.3.4:5\"\n").unwrap_err();
        assert!(err.contains("unknown field `bnd`"), "{err}");
        let c = TerminusConfig::from_toml(
            "data_dir = \"/d\"\nlog_level = \"debug\"\n[listen]\nbind = \"0.0.0.0:0\"\n\
             external_host = \"pay.example.com\"\nexternal_tls = true\n\
             [lnd]\nmacaroon_hex = \"0201\"\n[simnode]\nlatency_ms = 5\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.log_level().unwrap(), tracing::Level::DEBUG);
        assert_eq!(c.simnode.latency(), Duration::from_millis(5));
        assert_eq!(
            c.listen.beacon_location("0.0.0.0:40000".parse().unwrap()),
            ("pay.example.com".into(), 40000, true)
        );
        assert_eq!(c.lnd.unwrap().rest_port, 8080);
    }

    #[test]
    fn validation_errors() {
        let bad = |t: &str| {
            TerminusConfig::from_toml(t)
                .unwrap()
                .validate()
                .unwrap_err()
        };
        assert!(bad("log_level = \"loud\"\n").contains("log_level"));
        assert!(bad("[listen]\nbind = \"0.0.0.0:1\"\n").contains("external_host is needed"));
        assert!(bad("[listen]\nexternal_host = \"bad host!\"\n").contains("external_host"));
        assert!(bad("[listen]\nexternal_port = 0\n").contains("external_port"));
        assert!(bad("[listen]\ntls_cert = \"/c\"\n").contains("go together"));
        assert!(bad("[listen]\ntls_chain = \"/c\"\n").contains("tls_chain"));
        assert!(bad("[rpc]\nbind = \"127.0.0.1:11033\"\n").contains("same address"));
        assert!(bad("[payments]\nfee_limit_ppm = 1000001\n").contains("fee_limit_ppm"));
        assert!(bad("[payments]\ninvoice_expiry_secs = 0\n").contains("invoice_expiry"));
        assert!(bad("[payments]\npay_timeout_secs = 0\n").contains("pay_timeout"));
        assert!(bad("[simnode]\nfee_ppm = 2000000\n").contains("simnode.fee_ppm"));
        assert!(bad("[lnd]\nmacaroon_hex = \"zz\"\n").contains("not hex"));
        assert!(bad("[lnd]\nmacaroon_hex = \"00\"\nmacaroon_path = \"/m\"\n").contains("not both"));
        assert!(bad("data_dir = \"\"\n").contains("data_dir"));
    }

    #[test]
    fn overrides_win_and_load_picks_the_format() {
        let dir = std::env::temp_dir().join(format!("ms-terminus-cfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ini = dir.join("moneysocket-terminus.conf");
        std::fs::write(&ini, PY_LND).unwrap();
        let toml_path = dir.join("t.toml");
        std::fs::write(
            &toml_path,
            "data_dir = \"/from-file\"\n[rpc]\nbind = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        // INI by extension, and by content under another name
        let c = TerminusConfig::load(&ini).unwrap();
        assert!(c.lnd.is_some());
        let other = dir.join("terminus-config");
        std::fs::write(&other, PY_LND).unwrap();
        assert!(TerminusConfig::load(&other).unwrap().lnd.is_some());

        let o = Overrides {
            data_dir: Some("/over".into()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            rpc: Some("127.0.0.1:0".parse().unwrap()),
        };
        let c = TerminusConfig::resolve(Some(&toml_path), &o).unwrap();
        assert_eq!(c.data_dir(), PathBuf::from("/over"));
        assert_eq!(c.listen.bind, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.rpc.bind, "127.0.0.1:0".parse().unwrap());
        let c = TerminusConfig::resolve(Some(&toml_path), &Overrides::default()).unwrap();
        assert_eq!(c.data_dir(), PathBuf::from("/from-file"));
        assert_eq!(c.rpc.bind, "127.0.0.1:1".parse().unwrap());

        let missing = dir.join("missing.toml");
        assert!(TerminusConfig::resolve(Some(&missing), &o)
            .unwrap_err()
            .contains("missing.toml"));
        std::fs::write(&toml_path, "nope = 1\n").unwrap();
        let err = TerminusConfig::load(&toml_path).unwrap_err();
        assert!(err.contains("t.toml") && err.contains("nope"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
