//! `moneysocket simnet`: simulated Lightning nodes behind LND's own REST API.
//!
//! [`Simnet::start`] opens N [`SimNode`]s on one [`SimNetwork`] (an invoice of one is payable
//! from another, with the configured fee and latency) and serves each over HTTPS on its own
//! loopback port, laid out like an LND data directory:
//!
//! - `DIR/nodeI/tls.cert`, `tls.key`: a self-signed ECDSA P-256 certificate made like LND's
//!   (CA:true, SANs `localhost` and `127.0.0.1`), kept across restarts;
//! - `DIR/nodeI/data/chain/bitcoin/regtest/admin.macaroon`: random bytes; every call except
//!   `GET /v1/state` must carry their lowercase hex in the `Grpc-Metadata-macaroon` header;
//! - `DIR/nodeI/simnode/`: the simulated node's key and log (its state survives restarts).
//!
//! It answers exactly the calls the terminus's LND client makes (see [`api`]), with LND's
//! JSON conventions: 64-bit integers as strings, bytes as base64, enums as strings, every
//! field present, streams as chunked newline-delimited `{"result": ...}` objects, errors as
//! `{"code", "message", "details"}` with grpc-gateway's HTTP status.
//!
//! One thread per connection (at most [`MAX_CONNECTIONS`] per node, requests bounded by
//! [`crate::http::Limits`]), blocking std I/O, rustls.

pub mod api;
pub mod b64;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::terminus::simnode::{SimNetwork, SimNodeConfig, SimNodeError};

/// Connections served at once by one node; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 64;
/// The certificate file in a node's directory.
pub const TLS_CERT_FILE: &str = "tls.cert";
/// The certificate's key file in a node's directory.
pub const TLS_KEY_FILE: &str = "tls.key";
/// Where the macaroon lives under a node's directory (as in LND's data dir on regtest).
pub const MACAROON_PATH: &str = "data/chain/bitcoin/regtest/admin.macaroon";

/// How the simulated nodes behave (the same for every node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimnetConfig {
    /// How long a payment takes.
    pub latency: Duration,
    /// Fee of each payment between two nodes: a base in millisatoshi...
    pub fee_base_msat: u64,
    /// ...plus parts per million of the amount.
    pub fee_ppm: u64,
    /// Each node's spendable balance at its first start, in millisatoshi.
    pub balance_msat: u64,
}

impl Default for SimnetConfig {
    fn default() -> Self {
        SimnetConfig {
            latency: Duration::from_millis(10),
            fee_base_msat: 1_000,
            fee_ppm: 1_000,
            balance_msat: 1_000_000_000,
        }
    }
}

/// Why the simnet could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum SimnetError {
    /// Reading or writing a file, or binding a port.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// A simulated node would not open.
    Node(SimNodeError),
    /// The TLS certificate could not be made or loaded.
    Tls(String),
    /// Zero nodes asked for.
    NoNodes,
}

impl fmt::Display for SimnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimnetError::Io { what, source } => write!(f, "{what}: {source}"),
            SimnetError::Node(e) => write!(f, "simulated node: {e}"),
            SimnetError::Tls(e) => write!(f, "TLS: {e}"),
            SimnetError::NoNodes => f.write_str("--nodes must be at least 1"),
        }
    }
}

impl std::error::Error for SimnetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimnetError::Io { source, .. } => Some(source),
            SimnetError::Node(e) => Some(e),
            _ => None,
        }
    }
}

fn io_at(what: impl Into<String>) -> impl FnOnce(io::Error) -> SimnetError {
    let what = what.into();
    move |source| SimnetError::Io { what, source }
}

/// One served node: where to reach it and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimnetNode {
    /// Its REST address (loopback).
    pub addr: SocketAddr,
    /// `DIR/nodeI`.
    pub dir: PathBuf,
    /// `DIR/nodeI/tls.cert`.
    pub tls_cert: PathBuf,
    /// `DIR/nodeI/data/chain/bitcoin/regtest/admin.macaroon`.
    pub macaroon: PathBuf,
    /// The node's public key, hex.
    pub pubkey: String,
}

impl SimnetNode {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// Running simulated nodes; [`Simnet::stop`] (or drop) ends them.
pub struct Simnet {
    nodes: Vec<SimnetNode>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for Simnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simnet")
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl Simnet {
    /// Starts `n` nodes with data under `dir` (`dir/node0` ...), each on a free loopback port.
    pub fn start(dir: &Path, n: usize, config: &SimnetConfig) -> Result<Simnet, SimnetError> {
        Simnet::start_on_ports(dir, &vec![0; n], config)
    }

    /// Like [`Simnet::start`], node `i` on loopback port `ports[i]` (0: any free port); for
    /// restarting a simnet on the ports its clients know.
    pub fn start_on_ports(
        dir: &Path,
        ports: &[u16],
        config: &SimnetConfig,
    ) -> Result<Simnet, SimnetError> {
        if ports.is_empty() {
            return Err(SimnetError::NoNodes);
        }
        let net = SimNetwork::new();
        let stop = Arc::new(AtomicBool::new(false));
        let mut simnet = Simnet {
            nodes: Vec::new(),
            stop: Arc::clone(&stop),
            threads: Vec::new(),
        };
        for (i, port) in ports.iter().enumerate() {
            let node_dir = dir.join(format!("node{i}"));
            let node = net
                .open_node(
                    &node_dir.join("simnode"),
                    SimNodeConfig {
                        alias: format!("simnet-node{i}"),
                        starting_balance_msat: config.balance_msat,
                        fee_base_msat: config.fee_base_msat,
                        fee_ppm: config.fee_ppm,
                        latency: config.latency,
                        ..SimNodeConfig::default()
                    },
                )
                .map_err(SimnetError::Node)?;
            let tls = tls_config(&node_dir)?;
            let macaroon_path = node_dir.join(MACAROON_PATH);
            let macaroon = load_or_create_macaroon(&macaroon_path)?;
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, *port))
                .map_err(io_at(format!("binding 127.0.0.1:{port}")))?;
            let addr = listener.local_addr().map_err(io_at("local address"))?;
            listener
                .set_nonblocking(true)
                .map_err(io_at("listener mode"))?;
            let pubkey = moneysocket_core::hex::encode(&node.pubkey());
            let server = Arc::new(api::NodeServer::new(
                node,
                moneysocket_core::hex::encode(&macaroon),
                Arc::clone(&stop),
            ));
            let stop = Arc::clone(&stop);
            let thread = std::thread::Builder::new()
                .name(format!("simnet-node{i}"))
                .spawn(move || accept_loop(listener, tls, server, stop))
                .map_err(io_at("spawning a thread"))?;
            simnet.threads.push(thread);
            simnet.nodes.push(SimnetNode {
                addr,
                tls_cert: node_dir.join(TLS_CERT_FILE),
                macaroon: macaroon_path,
                dir: node_dir,
                pubkey,
            });
        }
        Ok(simnet)
    }

    /// The served nodes, in order.
    pub fn nodes(&self) -> &[SimnetNode] {
        &self.nodes
    }

    /// Stops accepting, ends open streams and waits for the listeners (connection threads
    /// finish their current request on their own).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Simnet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    server: Arc<api::NodeServer>,
    stop: Arc<AtomicBool>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((sock, _)) => {
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    drop(sock);
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let tls = Arc::clone(&tls);
                let server = Arc::clone(&server);
                let active2 = Arc::clone(&active);
                let spawned = std::thread::Builder::new()
                    .name("simnet-conn".to_owned())
                    .spawn(move || {
                        serve_connection(sock, tls, &server);
                        active2.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A TLS connection to a client.
pub type Conn = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

fn serve_connection(sock: TcpStream, tls: Arc<rustls::ServerConfig>, server: &api::NodeServer) {
    let limits = crate::http::Limits::default();
    if sock.set_nonblocking(false).is_err()
        || sock
            .set_read_timeout(Some(Duration::from_secs(10)))
            .is_err()
        || sock
            .set_write_timeout(Some(Duration::from_secs(10)))
            .is_err()
    {
        return;
    }
    let _ = sock.set_nodelay(true);
    let Ok(conn) = rustls::ServerConnection::new(tls) else {
        return;
    };
    let mut stream = rustls::StreamOwned::new(conn, sock);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let request = loop {
        match crate::http::parse_request(&buf, &limits) {
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(e) => {
                let _ = api::write_error_status(&mut stream, e.status(), 3, &e.to_string());
                return;
            }
        }
        if buf.len() > limits.max_head + limits.max_body {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    };
    if server.handle(&request, &mut stream).is_ok() {
        let _ = stream.flush();
        stream.conn.send_close_notify();
        let _ = stream.flush();
    }
}

/// The certificate for `dir` (made on first start), as a server configuration.
fn tls_config(dir: &Path) -> Result<Arc<rustls::ServerConfig>, SimnetError> {
    let cert_path = dir.join(TLS_CERT_FILE);
    let key_path = dir.join(TLS_KEY_FILE);
    if !cert_path.exists() || !key_path.exists() {
        let (cert_pem, key_pem) = make_certificate()?;
        std::fs::create_dir_all(dir).map_err(io_at(format!("creating {}", dir.display())))?;
        write_private(&key_path, key_pem.as_bytes())?;
        std::fs::write(&cert_path, cert_pem)
            .map_err(io_at(format!("writing {}", cert_path.display())))?;
    }
    let cert = CertificateDer::from_pem_file(&cert_path)
        .map_err(|e| SimnetError::Tls(format!("{}: {e}", cert_path.display())))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| SimnetError::Tls(format!("{}: {e}", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimnetError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| SimnetError::Tls(e.to_string()))?;
    Ok(Arc::new(config))
}

/// A certificate made like LND's: ECDSA P-256, self-signed, CA:true, server auth.
fn make_certificate() -> Result<(String, String), SimnetError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let tls = |e: rcgen::Error| SimnetError::Tls(e.to_string());
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(tls)?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "lnd autogenerated cert");
    params
        .distinguished_name
        .push(DnType::CommonName, "moneysocket simnet");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls)?;
    let cert = params.self_signed(&key).map_err(tls)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn load_or_create_macaroon(path: &Path) -> Result<Vec<u8>, SimnetError> {
    match std::fs::read(path) {
        Ok(bytes) if !bytes.is_empty() => return Ok(bytes),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_at(format!("reading {}", path.display()))(e)),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_at(format!("creating {}", parent.display())))?;
    }
    let mut bytes = vec![0u8; 64];
    OsRng.fill_bytes(&mut bytes);
    write_private(path, &bytes)?;
    Ok(bytes)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SimnetError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_at(format!("writing {}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_at(format!("writing {}", path.display())))
}
