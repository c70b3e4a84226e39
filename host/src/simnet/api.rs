//! The LND REST calls a simnet node answers, in LND's shapes:
//!
//! | Call | Answer |
//! |---|---|
//! | `GET /v1/state` (no macaroon) | `lnrpcGetStateResponse`, always `SERVER_ACTIVE` |
//! | `GET /v1/getinfo` | `lnrpcGetInfoResponse` (regtest) |
//! | `GET /v1/balance/channels` | `lnrpcChannelBalanceResponse` |
//! | `POST /v1/invoices` | `lnrpcAddInvoiceResponse` |
//! | `GET /v1/invoice/{r_hash_str}` | `lnrpcInvoice` (hex hash) |
//! | `GET /v1/invoices/subscribe?settle_index=N` | stream of settled `lnrpcInvoice` |
//! | `POST /v2/router/send` | stream of `lnrpcPayment` |
//! | `GET /v2/router/track/{payment_hash}` | stream of `lnrpcPayment` (base64url or hex hash) |
//! | `POST /v2/invoices/cancel` | `{}` |
//!
//! Not streamed: invoice "added" events (the subscription carries settlements only).

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moneysocket_core::bolt11::{Description, Invoice, Network, VerifiedInvoice};
use moneysocket_core::hex;
use serde_json::{json, Map, Value};

use super::b64;
use super::Conn;
use crate::http::Request;
use crate::terminus::node::{
    InvoiceRequest, InvoiceState, Node, NodeError, Paid, PaymentHash, PaymentState,
};
use crate::terminus::simnode::{InvoiceDetails, SimNode};

/// Longest invoice expiry LND accepts (one year), seconds.
pub const MAX_EXPIRY_SECS: u64 = 365 * 24 * 3600;
/// Longest memo LND accepts, bytes.
pub const MAX_MEMO_BYTES: usize = 1024;
/// The block height a simnet node reports.
pub const BLOCK_HEIGHT: u32 = 1_000;

/// An error in LND's shape: a gRPC code, its HTTP status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    /// The gRPC code (2 Unknown, 3 InvalidArgument, 5 NotFound, 6 AlreadyExists, ...).
    pub code: i32,
    /// The message.
    pub message: String,
}

impl RestError {
    fn new(code: i32, message: impl Into<String>) -> Self {
        RestError {
            code,
            message: message.into(),
        }
    }

    /// Code 2 (Unknown, HTTP 500): how most lnd failures surface.
    fn unknown(message: impl Into<String>) -> Self {
        RestError::new(2, message)
    }

    /// grpc-gateway's HTTP status for the code.
    pub fn http_status(&self) -> u16 {
        grpc_to_http(self.code)
    }

    fn body(&self) -> Value {
        json!({"code": self.code, "message": self.message, "details": []})
    }
}

/// grpc-gateway v2's mapping of gRPC codes to HTTP statuses.
pub fn grpc_to_http(code: i32) -> u16 {
    match code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

fn status_line(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_json(out: &mut impl Write, status: u16, body: &Value) -> io::Result<()> {
    let body = body.to_string();
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        status_line(status),
        body.len()
    )?;
    out.flush()
}

/// Writes an error response with HTTP `status` and gRPC `code`.
pub fn write_error_status(
    out: &mut impl Write,
    status: u16,
    code: i32,
    message: &str,
) -> io::Result<()> {
    write_json(
        out,
        status,
        &json!({"code": code, "message": message, "details": []}),
    )
}

fn write_error(out: &mut impl Write, e: &RestError) -> io::Result<()> {
    write_json(out, e.http_status(), &e.body())
}

/// A chunked NDJSON stream of `{"result": ...}` lines.
struct Stream<'a> {
    out: &'a mut Conn,
}

impl<'a> Stream<'a> {
    fn open(out: &'a mut Conn) -> io::Result<Self> {
        out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )?;
        out.flush()?;
        Ok(Stream { out })
    }

    fn line(&mut self, v: &Value) -> io::Result<()> {
        let mut s = v.to_string();
        s.push('\n');
        write!(self.out, "{:x}\r\n{s}\r\n", s.len())?;
        self.out.flush()
    }

    fn result(&mut self, v: Value) -> io::Result<()> {
        self.line(&json!({ "result": v }))
    }

    fn error(&mut self, e: &RestError) -> io::Result<()> {
        self.line(&json!({ "error": e.body() }))
    }

    fn end(self) -> io::Result<()> {
        self.out.write_all(b"0\r\n\r\n")?;
        self.out.flush()
    }

    /// Whether the client is still connected (a closed TCP connection reads as EOF).
    fn client_alive(&mut self) -> bool {
        let sock = &self.out.sock;
        if sock.set_nonblocking(true).is_err() {
            return false;
        }
        let mut b = [0u8; 1];
        let alive = match sock.peek(&mut b) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        sock.set_nonblocking(false).is_ok() && alive
    }
}

/// What the server remembers of payments sent through it (LND keeps these in its database;
/// the simulated node keeps the money side).
#[derive(Debug, Clone)]
struct PayRecord {
    bolt11: String,
    amount_msat: u64,
    created_ns: u64,
    index: u64,
    /// A failure decided before the node recorded the payment.
    early_failure: Option<&'static str>,
}

/// One node's REST server.
pub struct NodeServer {
    node: SimNode,
    macaroon_hex: String,
    stop: Arc<AtomicBool>,
    payments: Mutex<(u64, HashMap<PaymentHash, PayRecord>)>,
}

impl std::fmt::Debug for NodeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeServer")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn node_err(e: &NodeError) -> RestError {
    match e {
        NodeError::Unavailable(m) => RestError::new(14, m.clone()),
        other => RestError::unknown(other.to_string()),
    }
}

fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let (_, q) = target.split_once('?')?;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn parse_u64_query(target: &str, name: &str) -> Result<u64, RestError> {
    match query_param(target, name) {
        None | Some("") => Ok(0),
        Some(v) => v
            .parse()
            .map_err(|_| RestError::new(3, format!("invalid value for field {name}: {v:?}"))),
    }
}

fn parse_bool_query(target: &str, name: &str) -> bool {
    matches!(query_param(target, name), Some("true") | Some("1"))
}

/// A JSON 64-bit integer field: a string or a number (protojson accepts both).
fn int_field(obj: &Map<String, Value>, name: &str) -> Result<i64, RestError> {
    let bad = || RestError::new(3, format!("invalid value for int64 field {name}"));
    match obj.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| bad()),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

fn bool_field(obj: &Map<String, Value>, name: &str) -> Result<bool, RestError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(RestError::new(
            3,
            format!("invalid value for bool field {name}"),
        )),
    }
}

fn str_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, RestError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(RestError::new(
            3,
            format!("invalid value for string field {name}"),
        )),
    }
}

fn bytes_field(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, RestError> {
    let s = str_field(obj, name)?;
    b64::decode(s).ok_or_else(|| RestError::new(3, format!("invalid value for bytes field {name}")))
}

/// Parses a request body as a JSON object whose keys are all in `known` (LND rejects
/// unknown fields); camelCase spellings are accepted as protojson does.
fn body_object(body: &[u8], known: &[&str]) -> Result<Map<String, Value>, RestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| RestError::new(3, format!("invalid request body: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(RestError::new(3, "request body must be a JSON object"));
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let name = known
            .iter()
            .find(|n| **n == k || camel(n) == k)
            .ok_or_else(|| RestError::new(3, format!("proto: unknown field \"{k}\"")))?;
        out.insert((*name).to_owned(), v);
    }
    Ok(out)
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn hash32(bytes: &[u8], what: &str) -> Result<PaymentHash, RestError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        RestError::unknown(format!(
            "{what} must be exactly 32 bytes, is {}",
            bytes.len()
        ))
    })
}

/// A payment hash in a URL path: 64 hex digits, or base64url / base64.
fn path_hash(s: &str) -> Result<PaymentHash, RestError> {
    let s = s.replace("%3D", "=").replace("%3d", "=");
    if s.len() == 64 {
        if let Ok(b) = hex::decode_vec(&s) {
            return hash32(&b, "payment hash");
        }
    }
    let b =
        b64::decode(&s).ok_or_else(|| RestError::new(3, format!("invalid payment hash {s:?}")))?;
    hash32(&b, "payment hash")
}

const INVOICE_FIELDS: &[&str] = &[
    "memo",
    "r_preimage",
    "r_hash",
    "value",
    "value_msat",
    "settled",
    "creation_date",
    "settle_date",
    "payment_request",
    "description_hash",
    "expiry",
    "fallback_addr",
    "cltv_expiry",
    "route_hints",
    "private",
    "add_index",
    "settle_index",
    "amt_paid",
    "amt_paid_sat",
    "amt_paid_msat",
    "state",
    "htlcs",
    "features",
    "is_keysend",
    "payment_addr",
    "is_amp",
    "amp_invoice_state",
    "is_blinded",
    "blinded_path_config",
];

const SEND_FIELDS: &[&str] = &[
    "dest",
    "amt",
    "amt_msat",
    "payment_hash",
    "final_cltv_delta",
    "payment_addr",
    "payment_request",
    "timeout_seconds",
    "fee_limit_sat",
    "fee_limit_msat",
    "outgoing_chan_id",
    "outgoing_chan_ids",
    "last_hop_pubkey",
    "cltv_limit",
    "route_hints",
    "dest_custom_records",
    "allow_self_payment",
    "dest_features",
    "max_parts",
    "no_inflight_updates",
    "max_shard_size_msat",
    "amp",
    "time_pref",
    "cancelable",
    "first_hop_custom_records",
];

fn sat(msat: u64) -> String {
    (msat / 1000).to_string()
}

fn amount(msat: u64) -> Value {
    json!({"sat": sat(msat), "msat": msat.to_string()})
}

impl NodeServer {
    /// Serves `node`, checking every call (but `/v1/state`) against `macaroon_hex`; streams
    /// end when `stop` is set.
    pub fn new(node: SimNode, macaroon_hex: String, stop: Arc<AtomicBool>) -> Self {
        NodeServer {
            node,
            macaroon_hex,
            stop,
            payments: Mutex::new((0, HashMap::new())),
        }
    }

    /// The simulated node behind this server.
    pub fn node(&self) -> &SimNode {
        &self.node
    }

    fn check_macaroon(&self, req: &Request) -> Result<(), RestError> {
        let Some(given) = req.header("Grpc-Metadata-macaroon") else {
            return Err(RestError::unknown("expected 1 macaroon, got 0"));
        };
        if hex::decode_vec(given).is_err() {
            return Err(RestError::unknown(
                "unable to decode macaroon: encoding/hex: invalid byte",
            ));
        }
        if !given.eq_ignore_ascii_case(&self.macaroon_hex) {
            return Err(RestError::new(
                7,
                "verification failed: signature mismatch after caveat verification",
            ));
        }
        Ok(())
    }

    /// Answers one request on `out`.
    pub fn handle(&self, req: &Request, out: &mut Conn) -> io::Result<()> {
        let path = req.path().to_owned();
        let method = req.method.as_str();
        if (method, path.as_str()) == ("GET", "/v1/state") {
            return write_json(out, 200, &json!({"state": "SERVER_ACTIVE"}));
        }
        if let Err(e) = self.check_macaroon(req) {
            return write_error(out, &e);
        }
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let unary = match (method, segs.as_slice()) {
            ("GET", ["v1", "getinfo"]) => self.getinfo(),
            ("GET", ["v1", "balance", "channels"]) => self.balance(),
            ("POST", ["v1", "invoices"]) => self.add_invoice(&req.body),
            ("GET", ["v1", "invoice", h]) => self.lookup_invoice(h),
            ("POST", ["v2", "invoices", "cancel"]) => self.cancel_invoice(&req.body),
            ("GET", ["v1", "invoices", "subscribe"]) => {
                return self.subscribe(&req.target, out);
            }
            ("POST", ["v2", "router", "send"]) => return self.send(&req.body, out),
            ("GET", ["v2", "router", "track", h]) => return self.track(h, &req.target, out),
            _ => Err(RestError::new(5, "Not Found")),
        };
        match unary {
            Ok(v) => write_json(out, 200, &v),
            Err(e) => write_error(out, &e),
        }
    }

    fn getinfo(&self) -> Result<Value, RestError> {
        let info = self.node.info().map_err(|e| node_err(&e))?;
        let peers = self.node.network().node_ids().len().saturating_sub(1);
        Ok(json!({
            "version": "0.21.99-beta simnet",
            "commit_hash": "",
            "identity_pubkey": info.pubkey,
            "alias": info.alias,
            "color": "#3399ff",
            "num_pending_channels": 0,
            "num_active_channels": peers,
            "num_inactive_channels": 0,
            "num_peers": peers,
            "block_height": BLOCK_HEIGHT,
            "block_hash": "0".repeat(64),
            "best_header_timestamp": self.node.network().now_unix().to_string(),
            "synced_to_chain": info.synced,
            "synced_to_graph": info.synced,
            "testnet": false,
            "chains": [{"chain": "bitcoin", "network": info.network}],
            "uris": [],
            "features": {},
            "require_htlc_interceptor": false,
            "store_final_htlc_resolutions": false,
            "wallet_synced": true,
            "graph_cache_status": "GRAPH_CACHE_STATUS_LOADED",
        }))
    }

    fn balance(&self) -> Result<Value, RestError> {
        let msat = self.node.spendable_msat().map_err(|e| node_err(&e))?;
        Ok(json!({
            "balance": sat(msat),
            "pending_open_balance": "0",
            "local_balance": amount(msat),
            "remote_balance": amount(0),
            "unsettled_local_balance": amount(0),
            "unsettled_remote_balance": amount(0),
            "pending_open_local_balance": amount(0),
            "pending_open_remote_balance": amount(0),
            "custom_channel_data": "",
        }))
    }

    fn add_invoice(&self, body: &[u8]) -> Result<Value, RestError> {
        let obj = body_object(body, INVOICE_FIELDS)?;
        let value = int_field(&obj, "value")?;
        let value_msat = int_field(&obj, "value_msat")?;
        if value != 0 && value_msat != 0 {
            return Err(RestError::unknown(
                "value and value_msat are mutually exclusive",
            ));
        }
        if value < 0 || value_msat < 0 {
            return Err(RestError::unknown("amount cannot be negative"));
        }
        let msats = if value_msat != 0 {
            value_msat.unsigned_abs()
        } else {
            value
                .unsigned_abs()
                .checked_mul(1000)
                .ok_or_else(|| RestError::unknown("amount too large"))?
        };
        if msats == 0 {
            return Err(RestError::unknown(
                "zero-amount invoices are not supported by the simulated node",
            ));
        }
        let expiry = int_field(&obj, "expiry")?;
        if expiry < 0 {
            return Err(RestError::unknown("expiry cannot be negative"));
        }
        let expiry = expiry.unsigned_abs();
        if expiry > MAX_EXPIRY_SECS {
            return Err(RestError::unknown(format!(
                "expiry of {expiry} seconds greater than max expiry of {MAX_EXPIRY_SECS} seconds"
            )));
        }
        let memo = str_field(&obj, "memo")?.to_owned();
        if memo.len() > MAX_MEMO_BYTES {
            return Err(RestError::unknown(format!(
                "memo too large: {} bytes (maxsize={MAX_MEMO_BYTES})",
                memo.len()
            )));
        }
        let description_hash = match bytes_field(&obj, "description_hash")? {
            b if b.is_empty() => None,
            b => Some(hash32(&b, "description hash")?),
        };
        let preimage = match bytes_field(&obj, "r_preimage")? {
            b if b.is_empty() => None,
            b => Some(hash32(&b, "preimage")?),
        };
        let created = self
            .node
            .create_invoice(&InvoiceRequest {
                msats,
                expiry: Duration::from_secs(expiry),
                memo,
                description_hash,
                preimage,
            })
            .map_err(|e| match e {
                NodeError::Other(m) if m.contains("collision") => {
                    RestError::new(6, "invoice with payment hash already exists")
                }
                e => node_err(&e),
            })?;
        let payment_addr = Invoice::parse(&created.bolt11)
            .map(|i| b64::encode(i.payment_secret()))
            .unwrap_or_default();
        Ok(json!({
            "r_hash": b64::encode(&created.payment_hash),
            "payment_request": created.bolt11,
            "add_index": created.add_index.to_string(),
            "payment_addr": payment_addr,
        }))
    }

    fn details(&self, hash: &PaymentHash) -> Result<InvoiceDetails, RestError> {
        self.node
            .invoice_details(hash)
            .map_err(|e| node_err(&e))?
            .ok_or_else(|| RestError::new(5, "unable to locate invoice"))
    }

    fn lookup_invoice(&self, hash_hex: &str) -> Result<Value, RestError> {
        let bytes = hex::decode_vec(hash_hex)
            .map_err(|_| RestError::unknown("encoding/hex: invalid byte in r_hash_str"))?;
        let hash = hash32(&bytes, "payment hash")?;
        Ok(invoice_json(&self.details(&hash)?, self.cltv()))
    }

    fn cltv(&self) -> u64 {
        self.node.config().min_final_cltv_expiry_delta
    }

    fn cancel_invoice(&self, body: &[u8]) -> Result<Value, RestError> {
        let obj = body_object(body, &["payment_hash"])?;
        let hash = hash32(&bytes_field(&obj, "payment_hash")?, "payment hash")?;
        match self.node.lookup_invoice(&hash).map_err(|e| node_err(&e))? {
            None => Err(RestError::new(5, "unable to locate invoice")),
            Some(InvoiceState::Settled { .. }) => {
                Err(RestError::unknown("invoice already settled"))
            }
            Some(InvoiceState::Cancelled) => Ok(json!({})),
            Some(InvoiceState::Open) => {
                self.node.cancel_invoice(&hash).map_err(|e| node_err(&e))?;
                Ok(json!({}))
            }
        }
    }

    fn subscribe(&self, target: &str, out: &mut Conn) -> io::Result<()> {
        let from = match parse_u64_query(target, "settle_index") {
            Ok(n) => n,
            Err(e) => return write_error(out, &e),
        };
        let add_index = match parse_u64_query(target, "add_index") {
            Ok(n) => n,
            Err(e) => return write_error(out, &e),
        };
        // With neither index, only settlements from now on.
        let mut after = if from == 0 && add_index == 0 {
            match self.node.last_settle_index() {
                Ok(n) => n,
                Err(e) => return write_error(out, &node_err(&e)),
            }
        } else {
            from
        };
        let mut stream = Stream::open(out)?;
        let cltv = self.cltv();
        while !self.stop.load(Ordering::SeqCst) {
            let batch = match self.node.settled_since(after, Duration::from_millis(200)) {
                Ok(b) => b,
                Err(e) => {
                    stream.error(&node_err(&e))?;
                    return stream.end();
                }
            };
            for s in batch {
                if let Ok(d) = self.details(&s.payment_hash) {
                    stream.result(invoice_json(&d, cltv))?;
                }
                after = s.settle_index;
            }
            if !stream.client_alive() {
                return Ok(());
            }
        }
        stream.end()
    }

    fn send(&self, body: &[u8], out: &mut Conn) -> io::Result<()> {
        match self.prepare_send(body) {
            Err(e) => write_error(out, &e),
            Ok(p) => self.run_send(p, out),
        }
    }

    fn prepare_send(&self, body: &[u8]) -> Result<PreparedPay, RestError> {
        let obj = body_object(body, SEND_FIELDS)?;
        let bolt11 = str_field(&obj, "payment_request")?.trim().to_owned();
        if bolt11.is_empty() {
            return Err(RestError::unknown(
                "payment_request is required (this simnet pays invoices only)",
            ));
        }
        let fee_limit_msat = int_field(&obj, "fee_limit_msat")?;
        let fee_limit_sat = int_field(&obj, "fee_limit_sat")?;
        if fee_limit_msat != 0 && fee_limit_sat != 0 {
            return Err(RestError::unknown(
                "sat and msat arguments are mutually exclusive",
            ));
        }
        if fee_limit_msat < 0 || fee_limit_sat < 0 {
            return Err(RestError::unknown("fee limit cannot be negative"));
        }
        let fee_limit = if fee_limit_msat != 0 {
            fee_limit_msat.unsigned_abs()
        } else {
            fee_limit_sat.unsigned_abs().saturating_mul(1000)
        };
        let timeout = match obj.get("timeout_seconds") {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
            Some(_) => {
                return Err(RestError::new(
                    3,
                    "invalid value for int32 field timeout_seconds",
                ))
            }
        };
        if timeout < 0 {
            return Err(RestError::unknown("timeout_seconds cannot be negative"));
        }
        let timeout = if timeout == 0 {
            60
        } else {
            timeout.unsigned_abs()
        };
        let no_inflight = bool_field(&obj, "no_inflight_updates")?;
        let amt_given = int_field(&obj, "amt_msat")? != 0 || int_field(&obj, "amt")? != 0;
        let allow_self = bool_field(&obj, "allow_self_payment")?;

        let inv = VerifiedInvoice::parse(&bolt11).map_err(|e| RestError::unknown(e.to_string()))?;
        if inv.network() != Network::Regtest {
            return Err(RestError::unknown(
                "invoice not for current active network 'regtest'",
            ));
        }
        let Some(amount_msat) = inv.amount_msat() else {
            return Err(RestError::unknown(
                "amount must be specified when paying a zero amount invoice",
            ));
        };
        if amt_given {
            return Err(RestError::unknown(
                "amount must not be specified when paying a non-zero amount invoice",
            ));
        }
        if *inv.payee_pubkey() == self.node.pubkey() && !allow_self {
            return Err(RestError::unknown("self-payments not allowed"));
        }
        let now = self.node.network().now_unix();
        if inv.is_expired(now) {
            return Err(RestError::unknown(format!(
                "invoice expired. Valid until {}",
                inv.expires_at()
            )));
        }
        let hash = *inv.payment_hash();
        match self.node.lookup_payment(&hash).map_err(|e| node_err(&e))? {
            Some(PaymentState::Succeeded(_)) => {
                return Err(RestError::new(6, "invoice is already paid"))
            }
            Some(PaymentState::InFlight) => {
                return Err(RestError::new(6, "payment is in transition"))
            }
            Some(PaymentState::Failed(_)) | None => {}
        }
        let fee = if *inv.payee_pubkey() == self.node.pubkey() {
            0
        } else {
            self.node.config().fee_msat(amount_msat)
        };
        let spendable = self.node.spendable_msat().map_err(|e| node_err(&e))?;
        let early_failure = (spendable < amount_msat.saturating_add(fee))
            .then_some("FAILURE_REASON_INSUFFICIENT_BALANCE");
        let record = {
            let mut p = self
                .payments
                .lock()
                .map_err(|_| RestError::new(13, "payment table poisoned"))?;
            p.0 += 1;
            let record = PayRecord {
                bolt11: bolt11.clone(),
                amount_msat,
                created_ns: now_ns(),
                index: p.0,
                early_failure,
            };
            p.1.insert(hash, record.clone());
            record
        };
        Ok(PreparedPay {
            hash,
            record,
            fee_limit,
            timeout: Duration::from_secs(timeout),
            no_inflight,
        })
    }

    fn run_send(&self, p: PreparedPay, out: &mut Conn) -> io::Result<()> {
        let mut stream = Stream::open(out)?;
        if !p.no_inflight {
            stream.result(payment_json(&p.hash, &p.record, &Status::InFlight))?;
        }
        if let Some(reason) = p.record.early_failure {
            stream.result(payment_json(&p.hash, &p.record, &Status::Failed(reason)))?;
            return stream.end();
        }
        let status = match self.node.pay(&p.record.bolt11, p.fee_limit, p.timeout) {
            Ok(paid) => Status::Succeeded(paid),
            Err(e) => match failure_of(&e) {
                Ok(reason) => Status::Failed(reason),
                Err(rest) => {
                    self.set_early_failure(&p.hash, "FAILURE_REASON_ERROR");
                    stream.error(&rest)?;
                    return stream.end();
                }
            },
        };
        if let Status::Failed(reason) = status {
            // Failures the node decided before recording the payment (fee limit) are
            // remembered here, so that track reports them as LND would.
            if matches!(self.node.lookup_payment(&p.hash), Ok(None)) {
                self.set_early_failure(&p.hash, reason);
            }
        }
        stream.result(payment_json(&p.hash, &p.record, &status))?;
        stream.end()
    }

    fn set_early_failure(&self, hash: &PaymentHash, reason: &'static str) {
        if let Ok(mut p) = self.payments.lock() {
            if let Some(r) = p.1.get_mut(hash) {
                r.early_failure = Some(reason);
            }
        }
    }

    fn record(&self, hash: &PaymentHash) -> Option<PayRecord> {
        self.payments
            .lock()
            .ok()
            .and_then(|p| p.1.get(hash).cloned())
    }

    fn current(&self, hash: &PaymentHash) -> Result<Option<(PayRecord, Status)>, RestError> {
        let rec = self.record(hash);
        let state = self.node.lookup_payment(hash).map_err(|e| node_err(&e))?;
        Ok(match (state, rec) {
            (Some(state), rec) => {
                let status = match state {
                    PaymentState::InFlight => Status::InFlight,
                    PaymentState::Succeeded(paid) => Status::Succeeded(paid),
                    PaymentState::Failed(e) => {
                        Status::Failed(failure_of(&e).unwrap_or("FAILURE_REASON_ERROR"))
                    }
                };
                let rec = rec.unwrap_or(PayRecord {
                    bolt11: String::new(),
                    amount_msat: match &status {
                        Status::Succeeded(p) => p.amount_msat,
                        _ => 0,
                    },
                    created_ns: 0,
                    index: 0,
                    early_failure: None,
                });
                Some((rec, status))
            }
            (None, Some(rec)) => rec
                .early_failure
                .map(|reason| (rec.clone(), Status::Failed(reason))),
            (None, None) => None,
        })
    }

    fn track(&self, hash: &str, target: &str, out: &mut Conn) -> io::Result<()> {
        let hash = match path_hash(hash) {
            Ok(h) => h,
            Err(e) => return write_error(out, &e),
        };
        let no_inflight = parse_bool_query(target, "no_inflight_updates");
        let (rec, mut status) = match self.current(&hash) {
            Ok(Some(c)) => c,
            Ok(None) => return write_error(out, &RestError::new(5, "payment isn't initiated")),
            Err(e) => return write_error(out, &e),
        };
        let mut stream = Stream::open(out)?;
        if !(no_inflight && matches!(status, Status::InFlight)) {
            stream.result(payment_json(&hash, &rec, &status))?;
        }
        let mut last_alive_check = Instant::now();
        while matches!(status, Status::InFlight) {
            if self.stop.load(Ordering::SeqCst) {
                return stream.end();
            }
            std::thread::sleep(Duration::from_millis(20));
            if last_alive_check.elapsed() > Duration::from_millis(200) {
                if !stream.client_alive() {
                    return Ok(());
                }
                last_alive_check = Instant::now();
            }
            match self.current(&hash) {
                Ok(Some((_, s))) => {
                    status = s;
                    if !matches!(status, Status::InFlight) {
                        stream.result(payment_json(&hash, &rec, &status))?;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    stream.error(&e)?;
                    break;
                }
            }
        }
        stream.end()
    }
}

struct PreparedPay {
    hash: PaymentHash,
    record: PayRecord,
    fee_limit: u64,
    timeout: Duration,
    no_inflight: bool,
}

enum Status {
    InFlight,
    Succeeded(Paid),
    Failed(&'static str),
}

/// The `failure_reason` of a failed payment, or the error LND would return instead of a
/// payment update.
fn failure_of(e: &NodeError) -> Result<&'static str, RestError> {
    match e {
        NodeError::NoRoute | NodeError::FeeLimitExceeded => Ok("FAILURE_REASON_NO_ROUTE"),
        NodeError::Timeout => Ok("FAILURE_REASON_TIMEOUT"),
        // The payee refuses: expired, already paid by someone else, cancelled, too little.
        NodeError::Expired | NodeError::AlreadyPaid => {
            Ok("FAILURE_REASON_INCORRECT_PAYMENT_DETAILS")
        }
        NodeError::Other(m) if m.contains("already in flight") => {
            Err(RestError::new(6, "payment is in transition"))
        }
        NodeError::Other(m) if m.contains("cancelled") || m.contains("amount below") => {
            Ok("FAILURE_REASON_INCORRECT_PAYMENT_DETAILS")
        }
        NodeError::InvalidInvoice(m) => Err(RestError::unknown(m.clone())),
        NodeError::Unavailable(m) => Err(RestError::new(14, m.clone())),
        _ => Ok("FAILURE_REASON_ERROR"),
    }
}

fn payment_json(hash: &PaymentHash, rec: &PayRecord, status: &Status) -> Value {
    let (name, preimage, value_msat, fee_msat, reason) = match status {
        Status::InFlight => (
            "IN_FLIGHT",
            [0u8; 32],
            rec.amount_msat,
            0,
            "FAILURE_REASON_NONE",
        ),
        Status::Succeeded(p) => (
            "SUCCEEDED",
            p.preimage,
            p.amount_msat,
            p.fee_msat,
            "FAILURE_REASON_NONE",
        ),
        Status::Failed(r) => ("FAILED", [0u8; 32], rec.amount_msat, 0, *r),
    };
    json!({
        "payment_hash": hex::encode(hash),
        "value": sat(value_msat),
        "creation_date": (rec.created_ns / 1_000_000_000).to_string(),
        "fee": sat(fee_msat),
        "payment_preimage": hex::encode(&preimage),
        "value_sat": sat(value_msat),
        "value_msat": value_msat.to_string(),
        "payment_request": rec.bolt11,
        "status": name,
        "fee_sat": sat(fee_msat),
        "fee_msat": fee_msat.to_string(),
        "creation_time_ns": rec.created_ns.to_string(),
        "htlcs": [],
        "payment_index": rec.index.to_string(),
        "failure_reason": reason,
        "first_hop_custom_records": {},
    })
}

fn invoice_json(d: &InvoiceDetails, cltv: u64) -> Value {
    let (state, settled, amt_paid, settle_index) = match &d.state {
        InvoiceState::Open => ("OPEN", false, 0, 0),
        InvoiceState::Settled {
            amt_paid_msat,
            settle_index,
            ..
        } => ("SETTLED", true, *amt_paid_msat, *settle_index),
        InvoiceState::Cancelled => ("CANCELED", false, 0, 0),
    };
    let parsed = Invoice::parse(&d.bolt11).ok();
    let description_hash = match parsed.as_ref().map(Invoice::description) {
        Some(Description::Hash(h)) => b64::encode(h),
        _ => String::new(),
    };
    let payment_addr = parsed
        .as_ref()
        .map(|i| b64::encode(i.payment_secret()))
        .unwrap_or_default();
    json!({
        "memo": d.memo,
        "r_preimage": b64::encode(&d.preimage),
        "r_hash": b64::encode(&d.payment_hash),
        "value": sat(d.amount_msat),
        "value_msat": d.amount_msat.to_string(),
        "settled": settled,
        "creation_date": d.created_at.to_string(),
        "settle_date": if settled { d.settled_at } else { 0 }.to_string(),
        "payment_request": d.bolt11,
        "description_hash": description_hash,
        "expiry": d.expires_at.saturating_sub(d.created_at).to_string(),
        "fallback_addr": "",
        "cltv_expiry": cltv.to_string(),
        "route_hints": [],
        "private": false,
        "add_index": d.add_index.to_string(),
        "settle_index": settle_index.to_string(),
        "amt_paid": amt_paid.to_string(),
        "amt_paid_sat": sat(amt_paid),
        "amt_paid_msat": amt_paid.to_string(),
        "state": state,
        "htlcs": [],
        "features": {},
        "is_keysend": false,
        "payment_addr": payment_addr,
        "is_amp": false,
        "amp_invoice_state": {},
        "is_blinded": false,
        "blinded_path_config": null,
    })
}
