//! An HTTPS fixture serving canned LND answers written from lnd-rest.md and the swagger
//! files (uint64 as strings, bytes as base64, streams as NDJSON), and the client against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::json::{b64, b64url, hex, Item, Lines};
use super::*;

/// A bolt11 (BOLT 11's "coffee" example) and its payment hash.
const COFFEE: &str = "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh";
const COFFEE_HASH: [u8; 32] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2,
];
const MACAROON: &[u8] = b"\x02\x01\x03lnd\x02\x04fake-macaroon";

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

enum Reply {
    /// A unary answer.
    Json(u16, Value),
    /// A chunked stream: these chunks, then a pause, then the end.
    Stream(u16, Vec<String>, Duration),
    /// Drop the connection without answering.
    Close,
}

type Handler = dyn Fn(&Req) -> Reply + Send + Sync;

struct Fixture {
    port: u16,
    dir: PathBuf,
    requests: Arc<Mutex<Vec<Req>>>,
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

fn temp_dir() -> PathBuf {
    let n = DIRS.fetch_add(1, Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("ms-lnd-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A self-signed CA:true certificate, like LND's.
fn lnd_like_cert() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().clone();
    let pk = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.pem(), der, pk)
}

impl Fixture {
    fn start(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Fixture {
        let (pem, der, key) = lnd_like_cert();
        let dir = temp_dir();
        std::fs::write(dir.join("tls.cert"), pem).unwrap();
        std::fs::write(dir.join("admin.macaroon"), MACAROON).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der], key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let reqs = Arc::clone(&requests);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { continue };
                let (config, handler, reqs) =
                    (Arc::clone(&config), Arc::clone(&handler), Arc::clone(&reqs));
                std::thread::spawn(move || serve(tcp, config, &*handler, &reqs));
            }
        });
        Fixture {
            port,
            dir,
            requests,
        }
    }

    fn config(&self) -> LndConfig {
        LndConfig {
            rest_host: "127.0.0.1".into(),
            rest_port: self.port,
            macaroon_path: Some(self.dir.join("admin.macaroon")),
            macaroon_hex: None,
            tls_cert_path: Some(self.dir.join("tls.cert")),
        }
    }

    fn node(&self) -> LndNode {
        LndNode::connect(&self.config()).unwrap()
    }

    fn requests(&self, path_prefix: &str) -> Vec<Req> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }
}

fn serve(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    handler: &Handler,
    reqs: &Mutex<Vec<Req>>,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut reader = BufReader::new(&mut tls);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    drop(reader);
    let req = Req {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    reqs.lock().unwrap().push(req.clone());
    let reason = |s: u16| match s {
        200 => "OK",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Error",
    };
    match handler(&req) {
        Reply::Close => {}
        Reply::Json(status, v) => {
            let b = v.to_string();
            let _ = write!(
                tls,
                "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                reason(status),
                b.len()
            );
            let _ = tls.flush();
        }
        Reply::Stream(status, chunks, hold) => {
            let _ = write!(
                tls,
                "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                reason(status)
            );
            for c in chunks {
                let _ = write!(tls, "{:x}\r\n{c}\r\n", c.len());
                let _ = tls.flush();
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(hold);
            let _ = write!(tls, "0\r\n\r\n");
            let _ = tls.flush();
        }
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn getinfo() -> Value {
    json!({
        "version": "0.21.0-beta", "commit_hash": "", "identity_pubkey":
        "02aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899",
        "alias": "alice", "color": "#3399ff", "num_pending_channels": 0,
        "num_active_channels": 1, "num_inactive_channels": 0, "num_peers": 1,
        "block_height": 812, "block_hash": "00", "best_header_timestamp": "1767225600",
        "synced_to_chain": true, "synced_to_graph": true, "testnet": false,
        "chains": [{"chain": "bitcoin", "network": "regtest"}], "uris": [],
        "features": {"9": {"name": "tlv-onion", "is_required": false, "is_known": true}},
        "require_htlc_interceptor": false, "store_final_htlc_resolutions": false
    })
}

/// The common startup answers; `other` serves the rest.
fn lnd(other: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Fixture {
    Fixture::start(move |r| match r.path.as_str() {
        "/v1/state" => Reply::Json(200, json!({"state": "SERVER_ACTIVE"})),
        "/v1/getinfo" => Reply::Json(200, getinfo()),
        _ => other(r),
    })
}

fn not_found(msg: &str) -> Reply {
    Reply::Json(404, json!({"code": 5, "message": msg, "details": []}))
}

fn payment(status: &str, reason: &str, preimage: &str) -> Value {
    json!({
        "payment_hash": hex(&COFFEE_HASH), "value": "250000", "creation_date": "1767225600",
        "fee": "1", "payment_preimage": preimage, "value_sat": "250000",
        "value_msat": "250000000", "payment_request": COFFEE, "status": status,
        "fee_sat": "1", "fee_msat": "1001", "creation_time_ns": "1767225600000000000",
        "htlcs": [], "payment_index": "7", "failure_reason": reason,
        "first_hop_custom_records": {}
    })
}

fn invoice(state: &str, settle_index: u64, preimage: [u8; 32]) -> Value {
    let hash: [u8; 32] = Sha256::digest(preimage).into();
    json!({
        "memo": "", "r_preimage": b64(&preimage), "r_hash": b64(&hash), "value": "150",
        "value_msat": "150000", "settled": state == "SETTLED", "creation_date": "1767225600",
        "settle_date": "0", "payment_request": "lnbcrt1500n1...", "description_hash": "",
        "expiry": "3600", "fallback_addr": "", "cltv_expiry": "80", "route_hints": [],
        "private": false, "add_index": "41", "settle_index": settle_index.to_string(),
        "amt_paid": "0", "amt_paid_sat": "150",
        "amt_paid_msat": if state == "SETTLED" { "150001" } else { "0" },
        "state": state, "htlcs": [], "features": {}, "is_keysend": false,
        "payment_addr": b64(&[7; 32]), "is_amp": false, "amp_invoice_state": {}
    })
}

fn line(v: Value) -> String {
    format!("{}\n", json!({ "result": v }))
}

#[test]
fn connect_reads_state_and_getinfo_with_the_macaroon() {
    let fx = lnd(|_| not_found("no"));
    let node = fx.node();
    assert_eq!(node.invoice_prefix(), "lnbcrt");
    assert_eq!(node.network(), "regtest");
    assert!(node.check_network("regtest").is_ok());
    assert!(matches!(
        node.check_network("mainnet"),
        Err(LndError::WrongNetwork { .. })
    ));
    let info = node.info().unwrap();
    assert_eq!(info.alias, "alice");
    assert!(info.synced);
    assert_eq!(info.invoice_prefix, "lnbcrt");
    for r in fx.requests("/v1/getinfo") {
        assert_eq!(r.method, "GET");
        assert_eq!(
            r.header("grpc-metadata-macaroon"),
            Some(hex(MACAROON).as_str())
        );
    }
    // macaroon_hex works too.
    let mut cfg = fx.config();
    cfg.macaroon_path = None;
    cfg.macaroon_hex = Some("0A0b".into());
    LndNode::connect(&cfg).unwrap();
    assert_eq!(
        fx.requests("/v1/getinfo")
            .last()
            .unwrap()
            .header("Grpc-Metadata-macaroon"),
        Some("0a0b")
    );
}

#[test]
fn a_wrong_macaroon_names_the_file() {
    let fx = Fixture::start(|r| match r.path.as_str() {
        "/v1/state" => Reply::Json(200, json!({"state": "SERVER_ACTIVE"})),
        _ => Reply::Json(
            500,
            json!({"code": 2, "message": "verification failed: signature mismatch after caveat verification", "details": []}),
        ),
    });
    let err = LndNode::connect(&fx.config()).unwrap_err();
    assert!(matches!(err, LndError::MacaroonRejected { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("admin.macaroon"), "{text}");
    assert!(text.contains("signature mismatch"), "{text}");
}

#[test]
fn a_locked_wallet_is_a_clear_error() {
    let fx = Fixture::start(|_| Reply::Json(200, json!({"state": "LOCKED"})));
    let err = LndNode::connect(&fx.config()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LND's wallet is locked: unlock it (lncli unlock)"
    );
}

#[test]
fn another_certificate_is_refused() {
    let fx = lnd(|_| not_found("no"));
    let (pem, _, _) = lnd_like_cert();
    let other = fx.dir.join("other.cert");
    std::fs::write(&other, pem).unwrap();
    let mut cfg = fx.config();
    cfg.tls_cert_path = Some(other);
    let err = LndNode::connect(&cfg).unwrap_err();
    assert!(
        matches!(err, LndError::CertificateMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("other.cert"));
    // And nothing reached the handler past the handshake.
    assert!(fx.requests("/").is_empty());
}

#[test]
fn unreachable_and_dropped_connections_are_unavailable() {
    let fx = lnd(|_| Reply::Close);
    let mut cfg = fx.config();
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    cfg.rest_port = free.local_addr().unwrap().port();
    drop(free);
    let err = LndNode::connect(&cfg).unwrap_err();
    assert!(matches!(err, LndError::Unreachable { .. }), "{err:?}");
    let node = fx.node();
    assert!(matches!(
        node.spendable_msat(),
        Err(NodeError::Unavailable(_))
    ));
}

#[test]
fn balance_invoice_and_cancel_send_lnd_shapes() {
    let fx = lnd(|r| match r.path.as_str() {
        "/v1/balance/channels" => Reply::Json(
            200,
            json!({"balance": "500000", "pending_open_balance": "0",
                "local_balance": {"sat": "500000", "msat": "500000123"},
                "remote_balance": {"sat": "300000", "msat": "300000000"},
                "unsettled_local_balance": {"sat": "0", "msat": "0"},
                "unsettled_remote_balance": {"sat": "0", "msat": "0"},
                "pending_open_local_balance": {"sat": "0", "msat": "0"},
                "pending_open_remote_balance": {"sat": "0", "msat": "0"}}),
        ),
        "/v1/invoices" => {
            let body = r.json();
            let hash: [u8; 32] = match body.get("r_preimage").and_then(Value::as_str) {
                Some(p) => Sha256::digest(
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, p).unwrap(),
                )
                .into(),
                None => [9; 32],
            };
            Reply::Json(
                200,
                json!({"r_hash": b64(&hash), "payment_request": "lnbcrt1500n1pexample",
                    "add_index": "42", "payment_addr": b64(&[1; 32])}),
            )
        }
        "/v2/invoices/cancel" => Reply::Json(200, json!({})),
        _ => not_found("no"),
    });
    let node = fx.node();
    assert_eq!(node.spendable_msat().unwrap(), 500_000_123);
    let preimage = [5u8; 32];
    let created = node
        .create_invoice(&InvoiceRequest {
            msats: 150_001,
            expiry: Duration::from_secs(3600),
            memo: "moneysocket".into(),
            description_hash: None,
            preimage: Some(preimage),
        })
        .unwrap();
    assert_eq!(
        created.payment_hash,
        <[u8; 32]>::from(Sha256::digest(preimage))
    );
    assert_eq!(created.add_index, 42);
    assert_eq!(created.bolt11, "lnbcrt1500n1pexample");
    let sent = fx.requests("/v1/invoices").pop().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.json(),
        json!({"value_msat": "150001", "expiry": "3600", "memo": "moneysocket",
            "r_preimage": b64(&preimage)})
    );
    node.create_invoice(&InvoiceRequest {
        msats: 1,
        expiry: Duration::from_secs(60),
        memo: "ignored".into(),
        description_hash: Some([3; 32]),
        preimage: None,
    })
    .unwrap();
    assert_eq!(
        fx.requests("/v1/invoices").pop().unwrap().json(),
        json!({"value_msat": "1", "expiry": "60", "description_hash": b64(&[3; 32])})
    );
    node.cancel_invoice(&[4; 32]).unwrap();
    let c = fx.requests("/v2/invoices/cancel").pop().unwrap();
    assert_eq!(c.json(), json!({"payment_hash": b64(&[4; 32])}));
    assert_eq!(c.header("content-type"), Some("application/json"));
}

#[test]
fn pay_reads_the_stream_to_its_final_state() {
    let preimage = hex(&[0xab; 32]);
    let fx = lnd(move |r| {
        if r.path != "/v2/router/send" {
            return not_found("no");
        }
        // Lines split across chunk boundaries, with a blank keep-alive line.
        let all = format!(
            "{}\n{}",
            line(payment("IN_FLIGHT", "FAILURE_REASON_NONE", &hex(&[0; 32]))),
            line(payment("SUCCEEDED", "FAILURE_REASON_NONE", &preimage))
        );
        let (a, b) = all.split_at(37);
        let (b, c) = b.split_at(b.len() / 2);
        Reply::Stream(200, vec![a.into(), b.into(), c.into()], Duration::ZERO)
    });
    let node = fx.node();
    let paid = node.pay(COFFEE, 5000, Duration::from_secs(60)).unwrap();
    assert_eq!(paid.preimage, [0xab; 32]);
    assert_eq!(paid.amount_msat, 250_000_000);
    assert_eq!(paid.fee_msat, 1001);
    let r = fx.requests("/v2/router/send").pop().unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.header("grpc-metadata-macaroon"),
        Some(hex(MACAROON).as_str())
    );
    assert_eq!(
        r.json(),
        json!({"payment_request": COFFEE, "fee_limit_msat": "5000", "timeout_seconds": 60,
            "no_inflight_updates": true})
    );
}

#[test]
fn pay_failures_map_to_node_errors() {
    let reason = Arc::new(Mutex::new(String::new()));
    let r2 = Arc::clone(&reason);
    let fx = lnd(move |r| {
        if r.path != "/v2/router/send" {
            return not_found("no");
        }
        let want = r2.lock().unwrap().clone();
        match want.as_str() {
            "paid" => Reply::Stream(
                409,
                vec![
                    "{\"error\":{\"code\":6,\"message\":\"invoice is already paid\",\"details\":[]}}\n"
                        .into(),
                ],
                Duration::ZERO,
            ),
            "network" => Reply::Json(
                500,
                json!({"code": 2, "message": "invoice not for current active network 'regtest'", "details": []}),
            ),
            "expired" => Reply::Stream(
                500,
                vec!["{\"error\":{\"code\":2,\"message\":\"invoice expired. Valid until 2026-01-01\",\"details\":[]}}\n".into()],
                Duration::ZERO,
            ),
            r => Reply::Stream(
                200,
                vec![line(payment("FAILED", r, &hex(&[0; 32])))],
                Duration::ZERO,
            ),
        }
    });
    let node = fx.node();
    let cases = [
        ("FAILURE_REASON_NO_ROUTE", NodeError::NoRoute),
        ("FAILURE_REASON_TIMEOUT", NodeError::Timeout),
        ("FAILURE_REASON_INSUFFICIENT_BALANCE", NodeError::NoRoute),
        ("paid", NodeError::AlreadyPaid),
        ("expired", NodeError::Expired),
    ];
    for (r, want) in cases {
        *reason.lock().unwrap() = r.into();
        assert_eq!(
            node.pay(COFFEE, 10, Duration::from_secs(5)),
            Err(want),
            "{r}"
        );
    }
    for r in ["FAILURE_REASON_INCORRECT_PAYMENT_DETAILS", "network"] {
        *reason.lock().unwrap() = r.into();
        assert!(
            matches!(
                node.pay(COFFEE, 10, Duration::from_secs(5)),
                Err(NodeError::InvalidInvoice(_))
            ),
            "{r}"
        );
    }
    *reason.lock().unwrap() = "FAILURE_REASON_ERROR".into();
    assert!(matches!(
        node.pay(COFFEE, 10, Duration::from_secs(5)),
        Err(NodeError::Other(_))
    ));
    // Not a bolt11: refused before any call.
    let before = fx.requests("/v2/router/send").len();
    assert!(matches!(
        node.pay("lnbc1nonsense", 10, Duration::from_secs(5)),
        Err(NodeError::InvalidInvoice(_))
    ));
    assert_eq!(fx.requests("/v2/router/send").len(), before);
    assert_eq!(
        pay_refusal("fee limit exceeded"),
        NodeError::FeeLimitExceeded
    );
}

#[test]
fn a_stream_that_breaks_mid_payment_is_followed_with_track() {
    let fx = lnd(|r| {
        if r.path == "/v2/router/send" {
            // Cut after the first half-line: the payment's fate is unknown.
            Reply::Stream(200, vec!["{\"result\":{\"status\":".into()], Duration::ZERO)
        } else if r.path.starts_with("/v2/router/track/") {
            Reply::Stream(
                200,
                vec![line(payment(
                    "SUCCEEDED",
                    "FAILURE_REASON_NONE",
                    &hex(&[0xcd; 32]),
                ))],
                Duration::ZERO,
            )
        } else {
            not_found("no")
        }
    });
    let paid = fx.node().pay(COFFEE, 10, Duration::from_secs(5)).unwrap();
    assert_eq!(paid.preimage, [0xcd; 32]);
}

#[test]
fn lookups_read_invoice_and_payment_states() {
    let settled_hash: [u8; 32] = Sha256::digest([1u8; 32]).into();
    let fx = lnd(move |r| {
        let p = r.path.as_str();
        if p == format!("/v1/invoice/{}", hex(&settled_hash)) {
            Reply::Json(200, invoice("SETTLED", 17, [1; 32]))
        } else if p == format!("/v1/invoice/{}", hex(&[2; 32])) {
            Reply::Json(200, invoice("OPEN", 0, [2; 32]))
        } else if p == format!("/v1/invoice/{}", hex(&[3; 32])) {
            Reply::Json(200, invoice("CANCELED", 0, [3; 32]))
        } else if p == format!("/v2/router/track/{}", b64url(&[0xfb; 32])) {
            Reply::Stream(
                200,
                vec![line(payment(
                    "IN_FLIGHT",
                    "FAILURE_REASON_NONE",
                    &hex(&[0; 32]),
                ))],
                Duration::from_millis(50),
            )
        } else if p == format!("/v2/router/track/{}", b64url(&[0xfc; 32])) {
            Reply::Stream(
                200,
                vec![line(payment(
                    "FAILED",
                    "FAILURE_REASON_NO_ROUTE",
                    &hex(&[0; 32]),
                ))],
                Duration::ZERO,
            )
        } else if p.starts_with("/v2/router/track/") {
            Reply::Stream(
                404,
                vec!["{\"error\":{\"code\":5,\"message\":\"payment isn't initiated\",\"details\":[]}}\n".into()],
                Duration::ZERO,
            )
        } else {
            not_found("unable to locate invoice")
        }
    });
    let node = fx.node();
    assert_eq!(
        node.lookup_invoice(&settled_hash).unwrap(),
        Some(InvoiceState::Settled {
            amt_paid_msat: 150_001,
            preimage: [1; 32],
            settle_index: 17
        })
    );
    assert_eq!(
        node.lookup_invoice(&[2; 32]).unwrap(),
        Some(InvoiceState::Open)
    );
    assert_eq!(
        node.lookup_invoice(&[3; 32]).unwrap(),
        Some(InvoiceState::Cancelled)
    );
    assert_eq!(node.lookup_invoice(&[4; 32]).unwrap(), None);
    assert_eq!(
        node.lookup_payment(&[0xfb; 32]).unwrap(),
        Some(PaymentState::InFlight)
    );
    assert_eq!(
        node.lookup_payment(&[0xfc; 32]).unwrap(),
        Some(PaymentState::Failed(NodeError::NoRoute))
    );
    assert_eq!(node.lookup_payment(&[0xfd; 32]).unwrap(), None);
    // base64url in the path: 0xfb.. encodes with '-' and '_', never '+' or '/'.
    assert!(fx
        .requests("/v2/router/track/")
        .iter()
        .all(|r| !r.path[17..].contains('/')));
}

#[test]
fn settled_since_streams_resumes_and_reconnects() {
    let conns = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&conns);
    let fx = lnd(move |r| {
        if !r.path.starts_with("/v1/invoices/subscribe") {
            return not_found("no");
        }
        match c2.fetch_add(1, Ordering::SeqCst) {
            // First connection: an add event, two settlements, then LND goes away.
            0 => Reply::Stream(
                200,
                vec![
                    line(invoice("OPEN", 0, [9; 32])),
                    line(invoice("SETTLED", 1, [1; 32])),
                    line(invoice("SETTLED", 2, [2; 32])),
                ],
                Duration::from_millis(50),
            ),
            // Then: the third settlement, and the stream stays quiet.
            _ => Reply::Stream(
                200,
                vec![line(invoice("SETTLED", 3, [3; 32]))],
                Duration::from_millis(1500),
            ),
        }
    });
    let node = fx.node();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut after = 0;
    while got.len() < 3 && start.elapsed() < Duration::from_secs(3) {
        let batch = node
            .settled_since(after, Duration::from_millis(500))
            .unwrap_or_default();
        // Asking again without acknowledging repeats the batch.
        if let Some(last) = batch.last() {
            let again = node.settled_since(after, Duration::ZERO).unwrap();
            assert_eq!(again[..batch.len()], batch[..]);
            after = last.settle_index;
        }
        got.extend(batch);
    }
    let idx: Vec<u64> = got.iter().map(|s| s.settle_index).collect();
    assert_eq!(idx, vec![1, 2, 3]);
    assert_eq!(got[0].preimage, [1; 32]);
    assert_eq!(
        got[0].payment_hash,
        <[u8; 32]>::from(Sha256::digest([1u8; 32]))
    );
    assert_eq!(got[0].amt_paid_msat, 150_001);
    let paths: Vec<String> = fx
        .requests("/v1/invoices/subscribe")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths[0], "/v1/invoices/subscribe?settle_index=0");
    assert_eq!(paths[1], "/v1/invoices/subscribe?settle_index=2");
    // Nothing new: an empty answer within the wait.
    let t = Instant::now();
    assert_eq!(
        node.settled_since(3, Duration::from_millis(100)).unwrap(),
        vec![]
    );
    assert!(t.elapsed() < Duration::from_millis(1000));
}

/// A reader handing out one byte at a time.
struct Trickle(Vec<u8>, usize);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1 >= self.0.len() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.0[self.1];
        self.1 += 1;
        Ok(1)
    }
}

#[test]
fn ndjson_lines_survive_any_chunking() {
    let text = "{\"result\":{\"a\":\"1\"}}\n\n  \n{\"result\":{\"b\":2}}\r\n{\"error\":{\"code\":2,\"message\":\"boom\",\"details\":[]}}\n";
    let mut l = Lines::new(Trickle(text.as_bytes().to_vec(), 0));
    assert_eq!(
        l.next_item().unwrap(),
        Some(Item::Result(json!({"a": "1"})))
    );
    assert_eq!(l.next_item().unwrap(), Some(Item::Result(json!({"b": 2}))));
    match l.next_item().unwrap() {
        Some(Item::Error(s)) => assert_eq!((s.code, s.message.as_str()), (Some(2), "boom")),
        other => panic!("{other:?}"),
    }
    assert_eq!(l.next_item().unwrap(), None);
    let mut bad = Lines::new(Trickle(b"{\"neither\":1}\n".to_vec(), 0));
    assert!(bad.next_item().is_err());
}

#[test]
fn json_fields_follow_lnd_conventions() {
    let v = json!({"s": "18446744073709551615", "n": 5, "neg": "-1", "e": "", "b": b64(&[7; 32])});
    assert_eq!(json::u64_field(&v, "s"), Ok(u64::MAX));
    assert_eq!(json::u64_field(&v, "n"), Ok(5));
    assert_eq!(json::u64_field(&v, "missing"), Ok(0));
    assert_eq!(json::u64_field(&v, "e"), Ok(0));
    assert!(json::u64_field(&v, "neg").is_err());
    assert_eq!(json::b64_32(&v, "b"), Ok([7; 32]));
    assert!(json::b64_32(&v, "s").is_err());
    assert_eq!(invoice_prefix("signet"), Some("lntbs"));
    assert_eq!(invoice_prefix("mainnet"), Some("lnbc"));
    assert_eq!(invoice_prefix("litecoin"), None);
}
