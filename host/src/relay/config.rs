//! Relay configuration: TOML (`relay.example.toml`) or the Python relay's `[Relay]` INI file.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use moneysocket_core::matchmaker::MatchmakerConfig;
use moneysocket_host::ini::Ini;
use serde::Deserialize;

/// Everything the relay daemon reads from its config file (all keys optional).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// Address to listen on (a host name is resolved when the file is read).
    #[serde(deserialize_with = "de_ip")]
    pub bind: IpAddr,
    /// Port to listen on (0 = any free port).
    pub port: u16,
    /// PEM certificate (enables wss together with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// PEM chain appended to the certificate.
    pub tls_chain: Option<PathBuf>,
    /// Serve Prometheus text metrics on `GET /metrics` at this address (loopback advised;
    /// `HOST:PORT` with a host name is resolved when the file is read).
    #[serde(deserialize_with = "de_socket")]
    pub metrics: Option<SocketAddr>,
    /// Include client IP addresses in logs.
    pub log_client_ips: bool,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub log_level: String,
    /// Write logs to `<log_dir>/moneysocket-relay.log` instead of stderr.
    pub log_dir: Option<PathBuf>,
    /// Seconds between statistics lines (logged when something changed; 0 = never).
    pub stats_interval: f64,
    /// Seconds between summary lines of refused and dropped connections, with counts by
    /// reason (only when there were some; 0 = never). Each event is logged at `debug`.
    pub summary_interval: f64,
    /// Most connections at once.
    pub max_connections: usize,
    /// Most connections from one IP address (0 = no limit).
    pub max_per_ip: usize,
    /// Largest frame in bytes; a bigger one closes its sender.
    pub max_frame: usize,
    /// Most connections without a partner (registered or not). A newcomer beyond it evicts
    /// the unpaired connection closest to expiry, so that waiters cannot lock out pairs that
    /// would complete. Default (absent): half of `max_connections`.
    pub max_unpaired: Option<usize>,
    /// Most unpaired connections per address prefix (/24 for IPv4, /64 for IPv6); a newcomer
    /// beyond it is refused (0 = no limit). Default (absent): four times `max_per_ip`, no
    /// limit when `max_per_ip` is 0.
    pub max_unpaired_per_prefix: Option<usize>,
    /// Seconds a new connection has to send its `REQUEST_RENDEZVOUS`.
    pub register_timeout: f64,
    /// Seconds a connection may stay without a partner.
    pub unpaired_timeout: f64,
    /// Seconds without receiving anything (pongs included) before a connection is closed
    /// (0 = never).
    pub idle_timeout: f64,
    /// Seconds of silence before the relay pings a connection (0 = never).
    pub ping_interval: f64,
    /// Seconds allowed for the TLS and websocket opening handshake.
    pub handshake_timeout: f64,
    /// Bytes queued towards one connection before its partner is paused.
    pub high_water: usize,
    /// Bytes queued towards one connection above which it is dropped.
    pub max_pending: usize,
    /// `SO_SNDBUF` of accepted sockets in bytes (Linux doubles it; 0 = kernel default).
    pub send_buffer: usize,
    /// `SO_RCVBUF` of the listener and accepted sockets in bytes (doubled; 0 = default).
    pub recv_buffer: usize,
    /// Bytes of an incomplete message one connection may hold on its own.
    pub partial_base: usize,
    /// Bytes shared by all connections for incomplete messages beyond `partial_base`.
    pub partial_budget: usize,
    /// Event loops (threads), each forwarding the pairs whose rendezvous ids it owns; all
    /// listen on the port (`SO_REUSEPORT`). `max_connections`, `max_per_ip` and
    /// `partial_budget` count for the whole relay; `max_unpaired` and
    /// `max_unpaired_per_prefix` are split evenly between the workers (docs/relay.md,
    /// "Workers").
    pub workers: usize,
}

/// Most event loops (`workers`).
pub const MAX_WORKERS: usize = 64;

/// Most connections the relay's matchmaker table holds (compile-time capacity).
pub const MAX_CONNECTIONS_CAP: usize = 16_384;

impl Default for RelayConfig {
    fn default() -> Self {
        let ws = moneysocket_ws::TransportConfig::default();
        RelayConfig {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 11060,
            tls_cert: None,
            tls_key: None,
            tls_chain: None,
            metrics: None,
            log_client_ips: false,
            log_level: "info".into(),
            log_dir: None,
            stats_interval: 2.0,
            summary_interval: 10.0,
            max_connections: 10_000,
            max_per_ip: 64,
            max_frame: moneysocket_core::session::DEFAULT_MAX_FRAME,
            max_unpaired: None,
            max_unpaired_per_prefix: None,
            register_timeout: 10.0,
            unpaired_timeout: 600.0,
            idle_timeout: 120.0,
            ping_interval: 30.0,
            handshake_timeout: 10.0,
            high_water: 64 * 1024,
            max_pending: 1024 * 1024,
            // bounded kernel memory per connection (the transport's default is the kernel's)
            send_buffer: 32 * 1024,
            recv_buffer: 32 * 1024,
            partial_base: ws.partial_base,
            partial_budget: ws.partial_budget,
            workers: 1,
        }
    }
}

fn secs(name: &str, v: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(v).map_err(|_| format!("{name}: not a duration in seconds: {v}"))
}

fn optional_secs(name: &str, v: f64) -> Result<Option<Duration>, String> {
    let d = secs(name, v)?;
    Ok((!d.is_zero()).then_some(d))
}

/// An IP address, or a host name resolved to its first address.
pub fn resolve_ip(name: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = name.parse() {
        return Ok(ip);
    }
    (name, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| a.ip())
        .ok_or_else(|| format!("cannot resolve {name:?} to an address"))
}

/// `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT` (the host name resolved to its first address).
pub fn resolve_socket(name: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = name.parse() {
        return Ok(a);
    }
    let (host, port) = name
        .rsplit_once(':')
        .ok_or_else(|| format!("{name:?}: expected HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{name:?}: not a port: {port:?}"))?;
    Ok(SocketAddr::new(
        resolve_ip(host.trim_matches(['[', ']']))?,
        port,
    ))
}

fn de_ip<'de, D: serde::Deserializer<'de>>(d: D) -> Result<IpAddr, D::Error> {
    let s = String::deserialize(d)?;
    resolve_ip(&s).map_err(serde::de::Error::custom)
}

fn de_socket<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    resolve_socket(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

impl RelayConfig {
    /// Reads a config file: INI if it has a `[Relay]` section (or a `.ini`/`.conf`/`.cfg`
    /// name), TOML otherwise.
    pub fn load(path: &Path) -> Result<Self, String> {
        moneysocket_host::ini::load_config(path, looks_like_relay_ini, Self::from_ini, |t| {
            toml::from_str(t).map_err(|e| e.to_string())
        })
    }

    /// Reads the Python relay's INI file: section `[Relay]` with `ListenBind`, `ListenPort`,
    /// `UseTLS`, `CertFile`, `CertKey`, `SelfSignedCert`, `CertChainFile`, `LogDir`. Booleans
    /// are true only as the literal `True` (as in Python); `None` means absent. Other keys
    /// and sections are ignored with the defaults kept for everything else.
    pub fn from_ini(text: &str) -> Result<Self, String> {
        let ini = Ini::parse(text)?;
        if !ini.has_section("Relay") {
            return Err("no [Relay] section".into());
        }
        let get = |k: &str| ini.get("Relay", k);
        let mut c = RelayConfig::default();
        if let Some(b) = get("ListenBind") {
            // Python only put it in a URL, so host names occur: resolve them
            c.bind = resolve_ip(b).map_err(|e| format!("ListenBind: {e}"))?;
        }
        if let Some(p) = get("ListenPort") {
            c.port = p
                .parse()
                .map_err(|_| format!("ListenPort: not a port: {p:?}"))?;
        }
        if ini.is_true("Relay", "UseTLS") {
            c.tls_cert = Some(
                get("CertFile")
                    .ok_or("UseTLS = True needs CertFile")?
                    .into(),
            );
            c.tls_key = Some(get("CertKey").ok_or("UseTLS = True needs CertKey")?.into());
            if !ini.is_true("Relay", "SelfSignedCert") {
                c.tls_chain = get("CertChainFile").map(PathBuf::from);
            }
        }
        c.log_dir = get("LogDir").map(PathBuf::from);
        Ok(c)
    }

    /// Checks values and relations between them.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 || self.max_connections > MAX_CONNECTIONS_CAP {
            return Err(format!(
                "max_connections must be between 1 and {MAX_CONNECTIONS_CAP}"
            ));
        }
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(format!(
                "workers must be between 1 and {MAX_WORKERS} (got {})",
                self.workers
            ));
        }
        if self.max_frame < 1024 {
            return Err("max_frame must be at least 1024".into());
        }
        if self.high_water == 0 || self.high_water > self.max_pending {
            return Err(format!(
                "high_water ({}) must be between 1 and max_pending ({})",
                self.high_water, self.max_pending
            ));
        }
        // a paused source overshoots high_water by at most one read round (64 KiB) and a
        // frame; keep room for that so backpressure never turns into a drop
        let least = self.high_water + 64 * 1024 + 2 * self.max_frame;
        if self.max_pending < least {
            return Err(format!(
                "max_pending ({}) must be at least high_water + 64 KiB + 2 * max_frame \
                 ({} + 65536 + 2 * {} = {least})",
                self.max_pending, self.high_water, self.max_frame
            ));
        }
        let unpaired = self.max_unpaired();
        if unpaired == 0 || unpaired > self.max_connections {
            return Err(format!(
                "max_unpaired ({unpaired}) must be between 1 and max_connections ({})",
                self.max_connections
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("tls_cert and tls_key go together".into());
        }
        if self.tls_chain.is_some() && self.tls_cert.is_none() {
            return Err("tls_chain needs tls_cert and tls_key".into());
        }
        self.log_level()?;
        self.matchmaker()?;
        self.transport()?;
        secs("stats_interval", self.stats_interval)?;
        secs("summary_interval", self.summary_interval)?;
        Ok(())
    }

    /// The unpaired share of an address prefix: `max_unpaired_per_prefix`, or four times
    /// `max_per_ip` (0: no limit).
    pub fn max_unpaired_per_prefix(&self) -> usize {
        self.max_unpaired_per_prefix
            .unwrap_or(self.max_per_ip.saturating_mul(4))
    }

    /// The unpaired budget: `max_unpaired`, or half of `max_connections`.
    pub fn max_unpaired(&self) -> usize {
        self.max_unpaired
            .unwrap_or((self.max_connections / 2).max(1))
    }

    /// The log level.
    pub fn log_level(&self) -> Result<tracing::Level, String> {
        self.log_level
            .parse()
            .map_err(|_| format!("log_level: unknown level {:?}", self.log_level))
    }

    /// The matchmaker's expiries and budgets (the Unix offset is the driver's).
    pub fn matchmaker(&self) -> Result<MatchmakerConfig, String> {
        let per_prefix = match self.max_unpaired_per_prefix() {
            0 => usize::MAX,
            n => n,
        };
        Ok(MatchmakerConfig {
            unpaired_timeout: secs("unpaired_timeout", self.unpaired_timeout)?,
            register_timeout: secs("register_timeout", self.register_timeout)?,
            max_unpaired: self.max_unpaired(),
            max_unpaired_per_group: per_prefix,
            ..MatchmakerConfig::default()
        })
    }

    /// The transport limits.
    pub fn transport(&self) -> Result<moneysocket_ws::TransportConfig, String> {
        Ok(moneysocket_ws::TransportConfig {
            max_connections: self.max_connections,
            max_per_ip: self.max_per_ip,
            max_frame: self.max_frame,
            high_water: self.high_water,
            low_water: self.high_water / 4,
            max_pending: self.max_pending,
            handshake_timeout: secs("handshake_timeout", self.handshake_timeout)?,
            idle_timeout: optional_secs("idle_timeout", self.idle_timeout)?,
            ping_interval: optional_secs("ping_interval", self.ping_interval)?,
            send_buffer: self.send_buffer,
            recv_buffer: self.recv_buffer,
            partial_base: self.partial_base,
            partial_budget: self.partial_budget,
            ..moneysocket_ws::TransportConfig::default()
        })
    }
}

fn looks_like_relay_ini(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .any(|l| l.eq_ignore_ascii_case("[relay]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY_TLS: &str = "[Relay]\n\n# comment\nListenBind = 0.0.0.0\nListenPort = 443\n\
        UseTLS = True\nCertFile = /etc/ssl/cert.pem\nCertKey = /etc/ssl/key.pem\n\
        SelfSignedCert = False\nCertChainFile = /etc/ssl/fullchain.pem\nLogDir = /var/log/relay\n";

    #[test]
    fn python_ini_maps_every_key() {
        let c = RelayConfig::from_ini(PY_TLS).unwrap();
        assert_eq!(c.bind, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(c.port, 443);
        assert_eq!(c.tls_cert.as_deref(), Some(Path::new("/etc/ssl/cert.pem")));
        assert_eq!(c.tls_key.as_deref(), Some(Path::new("/etc/ssl/key.pem")));
        assert_eq!(
            c.tls_chain.as_deref(),
            Some(Path::new("/etc/ssl/fullchain.pem"))
        );
        assert_eq!(c.log_dir.as_deref(), Some(Path::new("/var/log/relay")));
        c.validate().unwrap();
    }

    #[test]
    fn python_ini_plain_and_self_signed() {
        let plain = "[Relay]\nListenBind = 127.0.0.1\nListenPort = 11060\nUseTLS = False\n\
            CertFile = None\nCertKey = None\nSelfSignedCert = True\nCertChainFile = None\nLogDir = /tmp\n";
        let c = RelayConfig::from_ini(plain).unwrap();
        assert_eq!((c.port, c.tls_cert.is_none()), (11060, true));
        // "true" is not "True" in Python's comparison
        let c = RelayConfig::from_ini(&PY_TLS.replace("UseTLS = True", "UseTLS = true")).unwrap();
        assert!(c.tls_cert.is_none());
        let c = RelayConfig::from_ini(
            &PY_TLS.replace("SelfSignedCert = False", "SelfSignedCert = True"),
        )
        .unwrap();
        assert!(c.tls_chain.is_none() && c.tls_cert.is_some());
        assert!(RelayConfig::from_ini("[Other]\na=1\n").is_err());
        let c = RelayConfig::from_ini("[Relay]\nListenBind = localhost\n").unwrap();
        assert!(c.bind.is_loopback());
        assert!(RelayConfig::from_ini("[Relay]\nListenPort = x\n").is_err());
    }

    #[test]
    fn toml_defaults_and_unknown_keys() {
        let c: RelayConfig = toml::from_str("port = 1\nunpaired_timeout = 2\n").unwrap();
        assert_eq!((c.port, c.unpaired_timeout), (1, 2.0));
        assert_eq!(c.max_frame, 65536);
        assert!(toml::from_str::<RelayConfig>("nope = 1\n").is_err());
        let example = include_str!("../../../relay.example.toml");
        let c: RelayConfig = toml::from_str(example).unwrap();
        assert_eq!(c, RelayConfig::default());
    }

    #[test]
    fn unpaired_budgets_follow_the_connection_limits() {
        let c = RelayConfig::default();
        assert_eq!(
            (c.max_unpaired(), c.max_unpaired_per_prefix()),
            (5_000, 256)
        );
        let m = c.matchmaker().unwrap();
        assert_eq!((m.max_unpaired, m.max_unpaired_per_group), (5_000, 256));
        assert_eq!(m.register_timeout, Duration::from_secs(10));
        let c: RelayConfig = toml::from_str("max_per_ip = 0\nmax_connections = 100\n").unwrap();
        assert_eq!(c.max_unpaired(), 50);
        assert_eq!(c.matchmaker().unwrap().max_unpaired_per_group, usize::MAX);
        let c: RelayConfig = toml::from_str("max_unpaired = 0\n").unwrap();
        assert!(c.validate().unwrap_err().contains("max_unpaired (0)"));
    }

    #[test]
    fn workers_are_between_one_and_the_cap() {
        assert_eq!(RelayConfig::default().workers, 1);
        let c: RelayConfig = toml::from_str("workers = 4\n").unwrap();
        c.validate().unwrap();
        for bad in ["workers = 0\n", "workers = 65\n"] {
            let c: RelayConfig = toml::from_str(bad).unwrap();
            assert!(c
                .validate()
                .unwrap_err()
                .contains("workers must be between 1 and 64"));
        }
    }

    #[test]
    fn host_names_resolve_everywhere() {
        assert!(resolve_ip("localhost").unwrap().is_loopback());
        assert_eq!(
            resolve_ip("::1").unwrap(),
            IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(resolve_socket("localhost:9106").unwrap().port(), 9106);
        assert_eq!(resolve_socket("[::1]:80").unwrap().port(), 80);
        assert!(resolve_socket("localhost")
            .unwrap_err()
            .contains("HOST:PORT"));
        assert!(resolve_socket("localhost:x")
            .unwrap_err()
            .contains("not a port"));
        let c: RelayConfig =
            toml::from_str("bind = \"localhost\"\nmetrics = \"localhost:9106\"\n").unwrap();
        assert!(c.bind.is_loopback());
        assert_eq!(c.metrics.map(|m| m.port()), Some(9106));
        assert!(toml::from_str::<RelayConfig>("bind = \"no such host.invalid\"\n").is_err());
    }
}
