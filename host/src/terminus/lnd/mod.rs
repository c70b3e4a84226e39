//! The terminus on a real LND, over LND's REST API ([`LndNode`], a [`Node`]). Blocking:
//! the terminus calls it on worker threads. TLS is pinned to LND's `tls.cert`; the
//! macaroon goes, hex-encoded, into the `Grpc-Metadata-macaroon` header of every call.
//! Operator notes (macaroon permissions, troubleshooting): docs/terminus.md, "Running
//! against LND".
//!
//! | [`Node`] call | LND REST call |
//! |---|---|
//! | [`LndNode::connect`] | `GET /v1/state`, `GET /v1/getinfo` |
//! | [`Node::info`] | `GET /v1/getinfo` |
//! | [`Node::spendable_msat`] | `GET /v1/balance/channels` (`local_balance.msat`) |
//! | [`Node::create_invoice`] | `POST /v1/invoices` |
//! | [`Node::pay`] | `POST /v2/router/send` (stream read to its final state) |
//! | [`Node::lookup_invoice`] | `GET /v1/invoice/{hex hash}` |
//! | [`Node::lookup_payment`] | `GET /v2/router/track/{base64url hash}` (first state) |
//! | [`Node::settled_since`] | `GET /v1/invoices/subscribe?settle_index=N`, one stream on a background thread |
//! | [`Node::cancel_invoice`] | `POST /v2/invoices/cancel` |

mod json;
mod subscribe;
#[cfg(test)]
mod tests;
mod tls;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moneysocket_core::bolt11::Invoice;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::config::LndConfig;
use super::node::{
    CreatedInvoice, InvoiceRequest, InvoiceState, Node, NodeError, NodeInfo, Paid, PaymentHash,
    PaymentState, SettledInvoice,
};
use json::{Item, Lines, Status};

/// How long to wait for a TCP + TLS connection to LND.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a unary call (and the first state of a tracked payment) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How much longer than its `timeout_seconds` a payment stream may stay silent: HTLCs
/// already in flight are not aborted at the timeout (router.swagger.json).
const PAY_GRACE: Duration = Duration::from_secs(120);
/// The header LND's gateway turns into the gRPC `macaroon` metadata.
const MACAROON_HEADER: &str = "Grpc-Metadata-macaroon";

/// Why [`LndNode::connect`] failed. Each text says what to check or do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LndError {
    /// Neither `tls_cert_path` nor a readable `~/.lnd/tls.cert`.
    NoTlsCert,
    /// The `tls.cert` file cannot be read or holds no PEM certificate.
    TlsCert {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Neither `macaroon_path` nor `macaroon_hex` is set.
    NoMacaroon,
    /// The macaroon file cannot be read, or `macaroon_hex` is not hex.
    Macaroon {
        /// The file, or `macaroon_hex`.
        source: String,
        /// What went wrong.
        reason: String,
    },
    /// Nothing answers at the REST address (LND down, wrong host or port, firewall).
    Unreachable {
        /// The URL tried.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The server presented a certificate other than the pinned `tls.cert`.
    CertificateMismatch {
        /// The certificate file pinned.
        path: PathBuf,
        /// The URL tried.
        url: String,
    },
    /// LND is up but not ready (`GET /v1/state` is not `SERVER_ACTIVE`, or a call said so).
    NotReady {
        /// LND's state (`LOCKED`, `NON_EXISTING`, `WAITING_TO_START`, ...) or message.
        state: String,
    },
    /// LND refused the macaroon (wrong node, wrong file, missing permission).
    MacaroonRejected {
        /// The macaroon file, or `macaroon_hex`.
        source: String,
        /// LND's message.
        message: String,
    },
    /// The node is on another network than the one expected.
    WrongNetwork {
        /// The network expected.
        expected: String,
        /// LND's `chains[0].network`.
        actual: String,
    },
    /// LND reports a network this client has no invoice prefix for.
    UnknownNetwork(String),
    /// Any other error LND returned.
    Api {
        /// The call (`GET /v1/getinfo`, ...).
        call: String,
        /// The HTTP status.
        status: u16,
        /// LND's message.
        message: String,
    },
    /// A response that does not follow LND's REST conventions.
    Protocol {
        /// The call.
        call: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl fmt::Display for LndError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LndError::NoTlsCert => f.write_str(
                "LND: no tls.cert: set tls_cert_path (LND's tls.cert, by default ~/.lnd/tls.cert)",
            ),
            LndError::TlsCert { path, reason } => write!(
                f,
                "LND: cannot use tls.cert {}: {reason} (point tls_cert_path at LND's tls.cert)",
                path.display()
            ),
            LndError::NoMacaroon => {
                f.write_str("LND: no macaroon: set macaroon_path (or macaroon_hex)")
            }
            LndError::Macaroon { source, reason } => {
                write!(f, "LND: cannot use the macaroon {source}: {reason}")
            }
            LndError::Unreachable { url, reason } => write!(
                f,
                "LND unreachable at {url}: {reason} (is lnd running, with its REST listener \
                 (restlisten) on this host and port?)"
            ),
            LndError::CertificateMismatch { path, url } => write!(
                f,
                "LND at {url} presented a TLS certificate other than {} (wrong tls.cert, \
                 another server on that port, or a regenerated certificate not copied here)",
                path.display()
            ),
            LndError::NotReady { state } => match state.as_str() {
                "LOCKED" => f.write_str("LND's wallet is locked: unlock it (lncli unlock)"),
                "NON_EXISTING" => f.write_str("LND has no wallet yet: create one (lncli create)"),
                s => write!(
                    f,
                    "LND is not ready yet ({s}): wait for it to start, then retry"
                ),
            },
            LndError::MacaroonRejected { source, message } => write!(
                f,
                "LND refused the macaroon {source}: {message} (is it this node's, with the \
                 permissions in docs/terminus.md?)"
            ),
            LndError::WrongNetwork { expected, actual } => {
                write!(f, "LND is on {actual}, not {expected}")
            }
            LndError::UnknownNetwork(n) => write!(f, "LND reports an unknown network {n:?}"),
            LndError::Api {
                call,
                status,
                message,
            } => write!(f, "LND {call}: HTTP {status}: {message}"),
            LndError::Protocol { call, reason } => {
                write!(f, "LND {call}: unexpected response: {reason}")
            }
        }
    }
}

impl std::error::Error for LndError {}

/// How a call failed, before it is mapped to [`NodeError`] or [`LndError`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum CallError {
    /// No connection (refused, DNS, TLS failure other than the pin).
    Connect(String),
    /// The connection broke after the request may have reached LND.
    Io(String),
    /// The server's certificate is not the pinned one.
    Pin,
    /// LND answered with an error status.
    Api { status: u16, status_body: Status },
    /// The response does not follow LND's conventions.
    Protocol(String),
}

/// Whether an LND message says it is up but not serving yet.
fn not_ready(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "wallet locked",
        "wallet not created",
        "not yet ready",
        "rpc services not available",
        "in the process of starting up",
        "server is still starting",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// Whether an LND message is about the macaroon (or a permission it lacks).
fn macaroon_problem(status: u16, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    status == 401
        || status == 403
        || m.contains("macaroon")
        || m.contains("permission denied")
        || m.contains("verification failed")
        || m.contains("root key")
}

/// Whether an LND error means "no such invoice / payment".
fn not_found(s: &Status, http: u16) -> bool {
    let m = s.message.to_ascii_lowercase();
    http == 404
        || s.code == Some(5)
        || m.contains("unable to locate invoice")
        || m.contains("isn't initiated")
        || m.contains("not initiated")
        || m.contains("not found")
}

/// A pay error LND raised before or instead of a payment (lnd-rest.md §5.8).
fn pay_refusal(message: &str) -> NodeError {
    let m = message.to_ascii_lowercase();
    if m.contains("already paid") || m.contains("already succeeded") {
        NodeError::AlreadyPaid
    } else if m.contains("invoice expired") || m.contains("invoice is expired") {
        NodeError::Expired
    } else if m.contains("fee limit") || m.contains("fee_limit") {
        NodeError::FeeLimitExceeded
    } else if m.contains("no route") || m.contains("unable to find a path") {
        NodeError::NoRoute
    } else if m.contains("not for current active network")
        || m.contains("invalid")
        || m.contains("decode")
        || m.contains("amount must be specified")
    {
        NodeError::InvalidInvoice(message.to_owned())
    } else if not_ready(message) {
        NodeError::Unavailable(message.to_owned())
    } else {
        NodeError::Other(message.to_owned())
    }
}

/// Maps `failure_reason` of a FAILED payment (lnrpcPaymentFailureReason).
///
/// LND reports a fee limit no route fits as `FAILURE_REASON_NO_ROUTE` (the path finder
/// drops routes over the limit), so that case is [`NodeError::NoRoute`]; an insufficient
/// local balance is also a routing failure for the payer: [`NodeError::NoRoute`].
/// `INCORRECT_PAYMENT_DETAILS` (the swagger: "unknown hash, invalid amt or invalid final
/// cltv delta") is the payee refusing the invoice: [`NodeError::InvalidInvoice`].
pub fn failure_reason_error(reason: &str) -> NodeError {
    match reason {
        "FAILURE_REASON_NO_ROUTE" | "FAILURE_REASON_INSUFFICIENT_BALANCE" => NodeError::NoRoute,
        "FAILURE_REASON_TIMEOUT" => NodeError::Timeout,
        "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS" => NodeError::InvalidInvoice(
            "the payee refused the payment details (unknown payment hash, wrong amount or \
             final CLTV delta)"
                .to_owned(),
        ),
        "FAILURE_REASON_CANCELED" => NodeError::Other("payment canceled".to_owned()),
        "FAILURE_REASON_ERROR" => NodeError::Other("payment failed with an error".to_owned()),
        other => NodeError::Other(format!("payment failed: {other}")),
    }
}

/// The BOLT11 prefix of LND's `chains[0].network`.
pub fn invoice_prefix(network: &str) -> Option<&'static str> {
    Some(match network {
        "mainnet" => "lnbc",
        "testnet" | "testnet4" => "lntb",
        "signet" => "lntbs",
        "regtest" => "lnbcrt",
        "simnet" => "lnsb",
        _ => return None,
    })
}

/// Where the macaroon came from (named in errors; never the secret itself).
fn macaroon_source(path: Option<&Path>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "macaroon_hex".to_owned(),
    }
}

/// The shared parts of a client: base URL, macaroon, agents, pin.
#[derive(Clone)]
pub(crate) struct Client {
    base: String,
    macaroon: String,
    pin: Arc<tls::Pin>,
    /// Unary calls: connect and read timeouts.
    agent: ureq::Agent,
    /// Long streams: no read timeout (payments set their own per request).
    stream_agent: ureq::Agent,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("tls_cert", &self.pin.path())
            .finish_non_exhaustive()
    }
}

impl Client {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; non-2xx answers become [`CallError::Api`] with LND's message.
    fn send(
        &self,
        agent: &ureq::Agent,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<ureq::Response, CallError> {
        let mut req = agent
            .request(method, &self.url(path))
            .set(MACAROON_HEADER, &self.macaroon);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let result = match body {
            Some(b) => req
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => req.call(),
        };
        match result {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let status_body = Status::parse(&text).unwrap_or(Status {
                    code: None,
                    message: if text.trim().is_empty() {
                        format!("HTTP {status}")
                    } else {
                        json::clip(text.trim())
                    },
                });
                Err(CallError::Api {
                    status,
                    status_body,
                })
            }
            Err(ureq::Error::Transport(t)) => {
                if self.pin.take_mismatch() {
                    return Err(CallError::Pin);
                }
                let msg = t.to_string();
                match t.kind() {
                    ureq::ErrorKind::Dns
                    | ureq::ErrorKind::ConnectionFailed
                    | ureq::ErrorKind::InvalidUrl
                    | ureq::ErrorKind::UnknownScheme => Err(CallError::Connect(msg)),
                    _ => Err(CallError::Io(msg)),
                }
            }
        }
    }

    /// A unary call whose answer is one JSON object.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, CallError> {
        let resp = self.send(&self.agent, method, path, body, None)?;
        let text = resp
            .into_string()
            .map_err(|e| CallError::Io(format!("reading the response: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| CallError::Protocol(format!("not JSON ({e}): {}", json::clip(&text))))
    }

    /// Opens a server stream.
    fn stream(
        &self,
        agent: &ureq::Agent,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Lines<Box<dyn std::io::Read + Send + Sync>>, CallError> {
        let resp = self.send(agent, method, path, body, timeout)?;
        Ok(Lines::new(resp.into_reader()))
    }

    fn node_error(&self, e: CallError) -> NodeError {
        match e {
            CallError::Connect(m) | CallError::Io(m) => NodeError::Unavailable(m),
            CallError::Pin => NodeError::Unavailable(format!(
                "{} presented a TLS certificate other than {}",
                self.base,
                self.pin.path().display()
            )),
            CallError::Api {
                status,
                status_body,
            } => {
                if status == 503 || not_ready(&status_body.message) {
                    NodeError::Unavailable(status_body.message)
                } else {
                    NodeError::Other(status_body.message)
                }
            }
            CallError::Protocol(m) => NodeError::Other(format!("unexpected LND response: {m}")),
        }
    }
}

/// A [`Node`] over LND's REST API.
#[derive(Debug)]
pub struct LndNode {
    client: Client,
    macaroon_source: String,
    prefix: &'static str,
    network: String,
    subscription: Mutex<subscribe::Subscription>,
}

impl LndNode {
    /// Loads the certificate and macaroon, checks that LND is ready
    /// (`GET /v1/state` is `SERVER_ACTIVE`) and accepts the macaroon (`GET /v1/getinfo`),
    /// and learns its network. `tls_cert_path` unset: `~/.lnd/tls.cert`.
    pub fn connect(config: &LndConfig) -> Result<LndNode, LndError> {
        let cert_path = match &config.tls_cert_path {
            Some(p) => p.clone(),
            None => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".lnd/tls.cert"))
                .filter(|p| p.is_file())
                .ok_or(LndError::NoTlsCert)?,
        };
        let pin = Arc::new(
            tls::Pin::load(&cert_path).map_err(|reason| LndError::TlsCert {
                path: cert_path.clone(),
                reason,
            })?,
        );
        let tls = pin.client_config().map_err(|reason| LndError::TlsCert {
            path: cert_path.clone(),
            reason,
        })?;
        let (macaroon, macaroon_source) = load_macaroon(config)?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::clone(&tls))
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(CALL_TIMEOUT)
            .timeout_write(CALL_TIMEOUT)
            .build();
        let stream_agent = ureq::AgentBuilder::new()
            .tls_config(tls)
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_write(CALL_TIMEOUT)
            .build();
        let host = if config.rest_host.contains(':') && !config.rest_host.starts_with('[') {
            format!("[{}]", config.rest_host)
        } else {
            config.rest_host.clone()
        };
        let client = Client {
            base: format!("https://{host}:{}", config.rest_port),
            macaroon,
            pin,
            agent,
            stream_agent,
        };
        let startup = |call: &str, e: CallError| -> LndError {
            match e {
                CallError::Connect(reason) | CallError::Io(reason) => LndError::Unreachable {
                    url: client.url(call.split(' ').nth(1).unwrap_or("")),
                    reason,
                },
                CallError::Pin => LndError::CertificateMismatch {
                    path: cert_path.clone(),
                    url: client.base.clone(),
                },
                CallError::Api {
                    status,
                    status_body,
                } => {
                    if not_ready(&status_body.message) {
                        LndError::NotReady {
                            state: status_body.message,
                        }
                    } else if macaroon_problem(status, &status_body.message) {
                        LndError::MacaroonRejected {
                            source: macaroon_source.clone(),
                            message: status_body.message,
                        }
                    } else {
                        LndError::Api {
                            call: call.to_owned(),
                            status,
                            message: status_body.message,
                        }
                    }
                }
                CallError::Protocol(reason) => LndError::Protocol {
                    call: call.to_owned(),
                    reason,
                },
            }
        };
        match client.call("GET", "/v1/state", None) {
            Ok(v) => {
                let state = json::str_field(&v, "state").map_err(|reason| LndError::Protocol {
                    call: "GET /v1/state".into(),
                    reason,
                })?;
                if state != "SERVER_ACTIVE" {
                    return Err(LndError::NotReady {
                        state: state.to_owned(),
                    });
                }
            }
            // An LND older than the state service (0.13): go on to getinfo.
            Err(CallError::Api { status: 404, .. }) => {}
            Err(e) => return Err(startup("GET /v1/state", e)),
        }
        let v = client
            .call("GET", "/v1/getinfo", None)
            .map_err(|e| startup("GET /v1/getinfo", e))?;
        let info = parse_info(&v).map_err(|reason| LndError::Protocol {
            call: "GET /v1/getinfo".into(),
            reason,
        })?;
        let prefix = invoice_prefix(&info.network)
            .ok_or_else(|| LndError::UnknownNetwork(info.network.clone()))?;
        Ok(LndNode {
            subscription: Mutex::new(subscribe::Subscription::new(client.clone())),
            client,
            macaroon_source,
            prefix,
            network: info.network,
        })
    }

    /// Refuses a node on another network than `expected` (`mainnet`, `regtest`, ...).
    pub fn check_network(&self, expected: &str) -> Result<(), LndError> {
        if self.network == expected {
            Ok(())
        } else {
            Err(LndError::WrongNetwork {
                expected: expected.to_owned(),
                actual: self.network.clone(),
            })
        }
    }

    /// The network LND reported at startup (`chains[0].network`).
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The BOLT11 prefix of the node's invoices (`lnbc`, `lnbcrt`, ...).
    pub fn invoice_prefix(&self) -> &'static str {
        self.prefix
    }

    /// The macaroon's origin: its file, or `macaroon_hex`.
    pub fn macaroon_source(&self) -> &str {
        &self.macaroon_source
    }

    /// The REST base URL (`https://host:port`).
    pub fn base_url(&self) -> &str {
        &self.client.base
    }

    fn err(&self, e: CallError) -> NodeError {
        self.client.node_error(e)
    }

    /// The first state `GET /v2/router/track/{hash}` reports (`None`: never attempted).
    fn track_once(&self, hash: &PaymentHash) -> Result<Option<PaymentState>, CallError> {
        let path = format!("/v2/router/track/{}", json::b64url(hash));
        let mut lines =
            match self
                .client
                .stream(&self.client.agent, "GET", &path, None, Some(CALL_TIMEOUT))
            {
                Ok(l) => l,
                Err(CallError::Api {
                    status,
                    status_body,
                }) if not_found(&status_body, status) => return Ok(None),
                Err(e) => return Err(e),
            };
        match lines.next_item().map_err(CallError::Io)? {
            None => Err(CallError::Io("track stream ended without a state".into())),
            Some(Item::Error(s)) if not_found(&s, 0) => Ok(None),
            Some(Item::Error(s)) => Err(CallError::Api {
                status: 200,
                status_body: s,
            }),
            Some(Item::Result(p)) => payment_state(&p).map_err(CallError::Protocol),
        }
    }

    /// A payment whose stream broke after LND may have started it: follow it with
    /// TrackPaymentV2 until it is final. `pay` must not report a failure while the payment
    /// may still succeed (the terminus refunds on failure), so this waits for LND.
    fn resolve(&self, hash: &PaymentHash, why: &str) -> Result<Paid, NodeError> {
        tracing::warn!(
            "payment {}: {why}; following it with track",
            json::hex(hash)
        );
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.track_once(hash) {
                Ok(Some(PaymentState::Succeeded(p))) => return Ok(p),
                Ok(Some(PaymentState::Failed(e))) => return Err(e),
                Ok(None) => {
                    return Err(NodeError::Unavailable(format!(
                        "LND did not start the payment ({why})"
                    )))
                }
                Ok(Some(PaymentState::InFlight)) => {}
                Err(e) => tracing::warn!("tracking payment {}: {e:?}", json::hex(hash)),
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}

/// The macaroon as lowercase hex, and where it came from.
fn load_macaroon(config: &LndConfig) -> Result<(String, String), LndError> {
    if let Some(h) = &config.macaroon_hex {
        let h = h.trim();
        if h.is_empty() || h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LndError::Macaroon {
                source: "macaroon_hex".into(),
                reason: "not hex".into(),
            });
        }
        return Ok((h.to_ascii_lowercase(), macaroon_source(None)));
    }
    let path = config
        .macaroon_path
        .as_deref()
        .ok_or(LndError::NoMacaroon)?;
    let bytes = std::fs::read(path).map_err(|e| LndError::Macaroon {
        source: macaroon_source(Some(path)),
        reason: e.to_string(),
    })?;
    if bytes.is_empty() {
        return Err(LndError::Macaroon {
            source: macaroon_source(Some(path)),
            reason: "the file is empty".into(),
        });
    }
    Ok((json::hex(&bytes), macaroon_source(Some(path))))
}

fn parse_info(v: &Value) -> Result<NodeInfo, String> {
    let network = v
        .get("chains")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .map(|c| json::str_field(c, "network"))
        .transpose()?
        .unwrap_or("")
        .to_owned();
    if network.is_empty() {
        return Err("no chains[0].network".into());
    }
    Ok(NodeInfo {
        pubkey: json::str_field(v, "identity_pubkey")?.to_owned(),
        alias: json::str_field(v, "alias")?.to_owned(),
        invoice_prefix: invoice_prefix(&network).unwrap_or("").to_owned(),
        network,
        synced: v
            .get("synced_to_chain")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// An lnrpcPayment as a [`PaymentState`].
fn payment_state(p: &Value) -> Result<Option<PaymentState>, String> {
    Ok(Some(match json::str_field(p, "status")? {
        "SUCCEEDED" => PaymentState::Succeeded(Paid {
            preimage: json::hex_32(p, "payment_preimage")?,
            amount_msat: json::u64_field(p, "value_msat")?,
            fee_msat: json::u64_field(p, "fee_msat")?,
        }),
        "FAILED" => {
            PaymentState::Failed(failure_reason_error(json::str_field(p, "failure_reason")?))
        }
        "IN_FLIGHT" | "INITIATED" | "UNKNOWN" | "" => PaymentState::InFlight,
        other => return Err(format!("unknown payment status {other:?}")),
    }))
}

/// An lnrpcInvoice as an [`InvoiceState`].
fn invoice_state(v: &Value) -> Result<InvoiceState, String> {
    Ok(match json::str_field(v, "state")? {
        "SETTLED" => InvoiceState::Settled {
            amt_paid_msat: json::u64_field(v, "amt_paid_msat")?,
            preimage: json::b64_32(v, "r_preimage")?,
            settle_index: json::u64_field(v, "settle_index")?,
        },
        "CANCELED" => InvoiceState::Cancelled,
        "OPEN" | "ACCEPTED" => InvoiceState::Open,
        other => return Err(format!("unknown invoice state {other:?}")),
    })
}

/// A SETTLED lnrpcInvoice as a [`SettledInvoice`] (`None`: not settled).
fn settled(v: &Value) -> Result<Option<SettledInvoice>, String> {
    match invoice_state(v)? {
        InvoiceState::Settled {
            amt_paid_msat,
            preimage,
            settle_index,
        } => Ok(Some(SettledInvoice {
            payment_hash: json::b64_32(v, "r_hash")?,
            amt_paid_msat,
            preimage,
            settle_index,
        })),
        _ => Ok(None),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Node for LndNode {
    fn info(&self) -> Result<NodeInfo, NodeError> {
        let v = self
            .client
            .call("GET", "/v1/getinfo", None)
            .map_err(|e| self.err(e))?;
        parse_info(&v).map_err(|e| NodeError::Other(format!("GET /v1/getinfo: {e}")))
    }

    fn spendable_msat(&self) -> Result<u64, NodeError> {
        let v = self
            .client
            .call("GET", "/v1/balance/channels", None)
            .map_err(|e| self.err(e))?;
        let bad = |e: String| NodeError::Other(format!("GET /v1/balance/channels: {e}"));
        match v.get("local_balance") {
            Some(lb) if lb.is_object() => json::u64_field(lb, "msat").map_err(bad),
            // Older LND: only the deprecated `balance` in sat.
            _ => json::u64_field(&v, "balance")
                .map_err(bad)?
                .checked_mul(1000)
                .ok_or_else(|| NodeError::Other("balance overflows".into())),
        }
    }

    fn create_invoice(&self, req: &InvoiceRequest) -> Result<CreatedInvoice, NodeError> {
        if req.msats == 0 {
            return Err(NodeError::Other("invoice amount must be > 0".into()));
        }
        let expiry = req.expiry.as_secs();
        let mut body = json!({
            "value_msat": req.msats.to_string(),
            "expiry": expiry.to_string(),
        });
        match &req.description_hash {
            Some(h) => body["description_hash"] = json!(json::b64(h)),
            None => body["memo"] = json!(req.memo),
        }
        if let Some(p) = &req.preimage {
            body["r_preimage"] = json!(json::b64(p));
        }
        let v = self
            .client
            .call("POST", "/v1/invoices", Some(&body))
            .map_err(|e| self.err(e))?;
        let bad = |e: String| NodeError::Other(format!("POST /v1/invoices: {e}"));
        let payment_hash = json::b64_32(&v, "r_hash").map_err(bad)?;
        if let Some(p) = &req.preimage {
            if <[u8; 32]>::from(Sha256::digest(p)) != payment_hash {
                return Err(bad("r_hash is not the hash of the preimage sent".into()));
            }
        }
        let bolt11 = json::str_field(&v, "payment_request").map_err(bad)?;
        if bolt11.is_empty() {
            return Err(bad("no payment_request".into()));
        }
        Ok(CreatedInvoice {
            bolt11: bolt11.to_owned(),
            payment_hash,
            expires_at: now_secs().saturating_add(expiry),
            add_index: json::u64_field(&v, "add_index").map_err(bad)?,
        })
    }

    fn pay(&self, bolt11: &str, fee_limit_msat: u64, timeout: Duration) -> Result<Paid, NodeError> {
        let invoice =
            Invoice::parse(bolt11).map_err(|e| NodeError::InvalidInvoice(e.to_string()))?;
        let hash = *invoice.payment_hash();
        let secs = timeout.as_secs().clamp(1, i32::MAX as u64);
        let body = json!({
            "payment_request": bolt11,
            "fee_limit_msat": fee_limit_msat.to_string(),
            "timeout_seconds": secs,
            "no_inflight_updates": true,
        });
        let mut lines = match self.client.stream(
            &self.client.stream_agent,
            "POST",
            "/v2/router/send",
            Some(&body),
            Some(timeout.saturating_add(PAY_GRACE)),
        ) {
            Ok(l) => l,
            Err(CallError::Api { status_body, .. }) => {
                return Err(pay_refusal(&status_body.message))
            }
            Err(CallError::Io(e)) => return self.resolve(&hash, &e),
            Err(e) => return Err(self.err(e)),
        };
        loop {
            match lines.next_item() {
                Ok(Some(Item::Result(p))) => match payment_state(&p) {
                    Ok(Some(PaymentState::Succeeded(paid))) => return Ok(paid),
                    Ok(Some(PaymentState::Failed(e))) => return Err(e),
                    Ok(_) => {}
                    Err(e) => return self.resolve(&hash, &e),
                },
                Ok(Some(Item::Error(s))) => return Err(pay_refusal(&s.message)),
                Ok(None) => return self.resolve(&hash, "the payment stream ended early"),
                Err(e) => return self.resolve(&hash, &e),
            }
        }
    }

    fn lookup_invoice(&self, hash: &PaymentHash) -> Result<Option<InvoiceState>, NodeError> {
        let path = format!("/v1/invoice/{}", json::hex(hash));
        match self.client.call("GET", &path, None) {
            Ok(v) => invoice_state(&v)
                .map(Some)
                .map_err(|e| NodeError::Other(format!("GET /v1/invoice: {e}"))),
            Err(CallError::Api {
                status,
                status_body,
            }) if not_found(&status_body, status) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    fn lookup_payment(&self, hash: &PaymentHash) -> Result<Option<PaymentState>, NodeError> {
        self.track_once(hash).map_err(|e| self.err(e))
    }

    fn settled_since(&self, after: u64, wait: Duration) -> Result<Vec<SettledInvoice>, NodeError> {
        let mut sub = self
            .subscription
            .lock()
            .map_err(|_| NodeError::Other("settlement stream state poisoned".into()))?;
        sub.settled_since(after, wait)
    }

    fn cancel_invoice(&self, hash: &PaymentHash) -> Result<(), NodeError> {
        let body = json!({ "payment_hash": json::b64(hash) });
        self.client
            .call("POST", "/v2/invoices/cancel", Some(&body))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}
