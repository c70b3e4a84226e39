//! `moneysocket simnet` over HTTPS: every response checked against LND's swagger schema.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use moneysocket_host::simnet::{Simnet, SimnetConfig, SimnetNode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};

const SWAGGER: &str = "../../shared/lnd/swagger";

// ---- A pinned-certificate HTTPS client (LND's cert is CA:true, which webpki refuses) ----

#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned certificate".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

struct Client {
    node: SimnetNode,
    tls: Arc<rustls::ClientConfig>,
    macaroon: String,
}

type Conn = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl Client {
    fn new(node: &SimnetNode) -> Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert = CertificateDer::from_pem_file(&node.tls_cert).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { cert, provider }))
            .with_no_client_auth();
        let macaroon = moneysocket_core::hex::encode(&std::fs::read(&node.macaroon).unwrap());
        Client {
            node: node.clone(),
            tls: Arc::new(tls),
            macaroon,
        }
    }

    /// Sends a request; returns the status and a reader positioned at the body.
    fn open(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Vec<(String, String)>, BufReader<Conn>) {
        let sock = TcpStream::connect(self.node.addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        let conn = rustls::ClientConnection::new(
            Arc::clone(&self.tls),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut s = rustls::StreamOwned::new(conn, sock);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !self.macaroon.is_empty() {
            req.push_str(&format!("Grpc-Metadata-macaroon: {}\r\n", self.macaroon));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes()).unwrap();
        s.flush().unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
        }
        (status, headers, r)
    }

    /// A unary call: status and JSON body.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (status, headers, mut r) = self.open(method, path, body);
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .unwrap()
            .1
            .parse()
            .unwrap();
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf).unwrap();
        (status, serde_json::from_slice(&buf).unwrap())
    }
}

/// Reads the next NDJSON line of a chunked stream (`None` at the end).
fn next_line(r: &mut BufReader<Conn>) -> Option<Value> {
    let mut size = String::new();
    if r.read_line(&mut size).ok()? == 0 {
        return None;
    }
    let n = usize::from_str_radix(size.trim(), 16).unwrap();
    if n == 0 {
        return None;
    }
    let mut buf = vec![0u8; n + 2];
    r.read_exact(&mut buf).unwrap();
    Some(serde_json::from_slice(&buf[..n]).unwrap())
}

fn read_stream(r: &mut BufReader<Conn>) -> Vec<Value> {
    std::iter::from_fn(|| next_line(r)).collect()
}

// ---- The swagger checker ----

struct Swagger {
    defs: serde_json::Map<String, Value>,
}

impl Swagger {
    fn load() -> Swagger {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(SWAGGER);
        let mut defs = serde_json::Map::new();
        for f in ["lightning", "router", "invoices", "stateservice"] {
            let text = std::fs::read_to_string(dir.join(format!("{f}.swagger.json"))).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            for (k, d) in v["definitions"].as_object().unwrap() {
                defs.insert(k.clone(), d.clone());
            }
        }
        Swagger { defs }
    }

    /// Checks `v` against definition `name`: every property present (LND emits unpopulated
    /// fields), no other field, and each of the right JSON type.
    fn check(&self, name: &str, v: &Value) {
        let def = self
            .defs
            .get(name)
            .unwrap_or_else(|| panic!("no definition {name}"));
        self.check_schema(def, v, name);
    }

    fn check_schema(&self, schema: &Value, v: &Value, at: &str) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/definitions/");
            let def = self
                .defs
                .get(name)
                .unwrap_or_else(|| panic!("no definition {name}"));
            if v.is_null() && def.get("properties").is_some() {
                return; // an unset sub-message
            }
            return self.check_schema(def, v, &format!("{at}({name})"));
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            assert!(values.contains(v), "{at}: {v} not in enum {values:?}");
            return;
        }
        let ty = schema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("object");
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        match ty {
            "string" => {
                let s = v
                    .as_str()
                    .unwrap_or_else(|| panic!("{at}: {v} is not a string"));
                match format {
                    "int64" => assert!(s.parse::<i64>().is_ok(), "{at}: {s:?} is not an int64"),
                    "uint64" => assert!(s.parse::<u64>().is_ok(), "{at}: {s:?} is not a uint64"),
                    "byte" => assert!(
                        moneysocket_host::simnet::b64::decode(s).is_some() && s.len() % 4 == 0,
                        "{at}: {s:?} is not padded base64"
                    ),
                    _ => {}
                }
            }
            "integer" => assert!(v.is_i64() || v.is_u64(), "{at}: {v} is not an integer"),
            "number" => assert!(v.is_number(), "{at}: {v} is not a number"),
            "boolean" => assert!(v.is_boolean(), "{at}: {v} is not a boolean"),
            "array" => {
                let items = v
                    .as_array()
                    .unwrap_or_else(|| panic!("{at}: {v} is not an array"));
                for (i, item) in items.iter().enumerate() {
                    self.check_schema(&schema["items"], item, &format!("{at}[{i}]"));
                }
            }
            _ => {
                let obj = v
                    .as_object()
                    .unwrap_or_else(|| panic!("{at}: {v} is not an object"));
                if let Some(extra) = schema.get("additionalProperties") {
                    for (k, item) in obj {
                        self.check_schema(extra, item, &format!("{at}.{k}"));
                    }
                }
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (k, p) in props {
                        let field = obj
                            .get(k)
                            .unwrap_or_else(|| panic!("{at}: field {k} missing"));
                        self.check_schema(p, field, &format!("{at}.{k}"));
                    }
                    for k in obj.keys() {
                        assert!(props.contains_key(k), "{at}: unknown field {k}");
                    }
                }
            }
        }
    }

    fn check_error(&self, v: &Value) {
        self.check("rpcStatus", v);
    }
}

fn config() -> SimnetConfig {
    SimnetConfig {
        latency: Duration::from_millis(50),
        fee_base_msat: 1_000,
        fee_ppm: 1_000,
        balance_msat: 10_000_000,
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("simnet-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn b64_to_hex(s: &str) -> String {
    moneysocket_core::hex::encode(&moneysocket_host::simnet::b64::decode(s).unwrap())
}

#[test]
fn lnd_rest_shapes_pay_subscribe_track() {
    let dir = tempdir("shapes");
    let simnet = Simnet::start(&dir, 2, &config()).unwrap();
    let sw = Swagger::load();
    let a = Client::new(&simnet.nodes()[0]);
    let b = Client::new(&simnet.nodes()[1]);
    assert!(simnet.nodes()[0]
        .macaroon
        .ends_with("data/chain/bitcoin/regtest/admin.macaroon"));
    assert!(simnet.nodes()[0].dir.join("tls.key").exists());

    let (st, v) = a.call("GET", "/v1/state", None);
    assert_eq!(st, 200);
    sw.check("lnrpcGetStateResponse", &v);
    assert_eq!(v["state"], "SERVER_ACTIVE");

    let (st, info) = a.call("GET", "/v1/getinfo", None);
    assert_eq!(st, 200);
    sw.check("lnrpcGetInfoResponse", &info);
    assert_eq!(
        info["chains"],
        json!([{"chain": "bitcoin", "network": "regtest"}])
    );
    assert_eq!(info["identity_pubkey"], simnet.nodes()[0].pubkey);
    assert_eq!(info["synced_to_chain"], true);

    let (st, bal) = b.call("GET", "/v1/balance/channels", None);
    assert_eq!(st, 200);
    sw.check("lnrpcChannelBalanceResponse", &bal);
    assert_eq!(
        bal["local_balance"],
        json!({"sat": "10000", "msat": "10000000"})
    );

    // An invoice of node 0, before any subscription.
    let (st, added) = a.call(
        "POST",
        "/v1/invoices",
        Some(&json!({"value_msat": "150000", "memo": "moneysocket", "expiry": "3600"})),
    );
    assert_eq!(st, 200, "{added}");
    sw.check("lnrpcAddInvoiceResponse", &added);
    assert_eq!(added["add_index"], "1");
    let hash_hex = b64_to_hex(added["r_hash"].as_str().unwrap());
    let (st, inv) = a.call("GET", &format!("/v1/invoice/{hash_hex}"), None);
    assert_eq!(st, 200);
    sw.check("lnrpcInvoice", &inv);
    assert_eq!(inv["state"], "OPEN");
    assert_eq!(inv["value_msat"], "150000");
    assert_eq!(inv["memo"], "moneysocket");
    assert_eq!(inv["expiry"], "3600");

    // Subscribe from the start (settle_index=0 with add_index=0 means "from now": use 0 via
    // settle_index explicitly is the same; here we subscribe before paying).
    let (st, _, mut sub) = a.open(
        "GET",
        "/v1/invoices/subscribe?settle_index=0&add_index=1",
        None,
    );
    assert_eq!(st, 200);

    // Node 1 pays it: IN_FLIGHT then SUCCEEDED with the fee.
    let (st, _, mut pay) = b.open(
        "POST",
        "/v2/router/send",
        Some(&json!({"payment_request": added["payment_request"], "fee_limit_msat": "5000", "timeout_seconds": 10})),
    );
    assert_eq!(st, 200);
    let updates = read_stream(&mut pay);
    assert_eq!(updates.len(), 2, "{updates:?}");
    for u in &updates {
        sw.check("lnrpcPayment", &u["result"]);
    }
    assert_eq!(updates[0]["result"]["status"], "IN_FLIGHT");
    let fin = &updates[1]["result"];
    assert_eq!(fin["status"], "SUCCEEDED");
    assert_eq!(fin["value_msat"], "150000");
    assert_eq!(fin["fee_msat"], "1150");
    assert_eq!(fin["payment_hash"], hash_hex);
    assert_eq!(fin["failure_reason"], "FAILURE_REASON_NONE");
    let preimage = fin["payment_preimage"].as_str().unwrap().to_owned();

    // The subscription delivers the settlement.
    let settled = next_line(&mut sub).unwrap();
    sw.check("lnrpcInvoice", &settled["result"]);
    assert_eq!(settled["result"]["state"], "SETTLED");
    assert_eq!(settled["result"]["settle_index"], "1");
    assert_eq!(settled["result"]["amt_paid_msat"], "150000");
    assert_eq!(
        b64_to_hex(settled["result"]["r_preimage"].as_str().unwrap()),
        preimage
    );
    drop(sub);

    // Lookup shows it settled; balances moved.
    let (_, inv) = a.call("GET", &format!("/v1/invoice/{hash_hex}"), None);
    sw.check("lnrpcInvoice", &inv);
    assert_eq!(inv["state"], "SETTLED");
    let (_, bal) = b.call("GET", "/v1/balance/channels", None);
    assert_eq!(
        bal["local_balance"]["msat"],
        (10_000_000u64 - 151_150).to_string()
    );

    // A second invoice, then resume by settle_index: only settlements after 1.
    let (_, added2) = a.call("POST", "/v1/invoices", Some(&json!({"value": "2"})));
    let (_, _, mut pay2) = b.open(
        "POST",
        "/v2/router/send",
        Some(&json!({"payment_request": added2["payment_request"], "fee_limit_msat": "5000", "timeout_seconds": 10, "no_inflight_updates": true})),
    );
    let u2 = read_stream(&mut pay2);
    assert_eq!(u2.len(), 1);
    assert_eq!(u2[0]["result"]["status"], "SUCCEEDED");
    let (_, _, mut sub) = a.open("GET", "/v1/invoices/subscribe?settle_index=1", None);
    let s2 = next_line(&mut sub).unwrap();
    sw.check("lnrpcInvoice", &s2["result"]);
    assert_eq!(s2["result"]["settle_index"], "2");
    assert_eq!(s2["result"]["r_hash"], added2["r_hash"]);
    drop(sub);

    // Track: by hex and by base64url; the final state.
    let url = added["r_hash"]
        .as_str()
        .unwrap()
        .replace('+', "-")
        .replace('/', "_");
    for h in [hash_hex.clone(), url] {
        let (st, _, mut t) = b.open("GET", &format!("/v2/router/track/{h}"), None);
        assert_eq!(st, 200);
        let lines = read_stream(&mut t);
        assert_eq!(lines.len(), 1);
        sw.check("lnrpcPayment", &lines[0]["result"]);
        assert_eq!(lines[0]["result"]["status"], "SUCCEEDED");
        assert_eq!(lines[0]["result"]["payment_preimage"], preimage.as_str());
    }

    // Paying it again: AlreadyExists.
    let (st, _, mut again) = b.open(
        "POST",
        "/v2/router/send",
        Some(&json!({"payment_request": added["payment_request"], "fee_limit_msat": "5000", "timeout_seconds": 10})),
    );
    assert_eq!(st, 409);
    let mut body = String::new();
    again.read_to_string(&mut body).unwrap();
    let err: Value = serde_json::from_str(&body).unwrap();
    sw.check_error(&err);
    assert_eq!(err["code"], 6);

    // Track of an unknown hash: LND's error.
    let (st, err) = b.call(
        "GET",
        &format!("/v2/router/track/{}", "11".repeat(32)),
        None,
    );
    assert_eq!(st, 404);
    sw.check_error(&err);
    assert_eq!(err["message"], "payment isn't initiated");

    // Unknown invoice: 404, code 5.
    let (st, err) = a.call("GET", &format!("/v1/invoice/{}", "22".repeat(32)), None);
    assert_eq!(st, 404);
    sw.check_error(&err);
    assert_eq!(err["code"], 5);

    // Cancel: an open invoice becomes CANCELED; paying it fails with incorrect details.
    let (_, added3) = a.call("POST", "/v1/invoices", Some(&json!({"value_msat": "1000"})));
    let (st, v) = a.call(
        "POST",
        "/v2/invoices/cancel",
        Some(&json!({"payment_hash": added3["r_hash"]})),
    );
    assert_eq!(st, 200);
    sw.check("invoicesrpcCancelInvoiceResp", &v);
    let (_, inv3) = a.call(
        "GET",
        &format!(
            "/v1/invoice/{}",
            b64_to_hex(added3["r_hash"].as_str().unwrap())
        ),
        None,
    );
    assert_eq!(inv3["state"], "CANCELED");
    let (_, _, mut p3) = b.open(
        "POST",
        "/v2/router/send",
        Some(&json!({"payment_request": added3["payment_request"], "fee_limit_msat": "5000", "timeout_seconds": 10})),
    );
    let l3 = read_stream(&mut p3);
    let last = &l3.last().unwrap()["result"];
    sw.check("lnrpcPayment", last);
    assert_eq!(last["status"], "FAILED");
    assert_eq!(
        last["failure_reason"],
        "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS"
    );

    // Fee limit too low: NO_ROUTE; too much: INSUFFICIENT_BALANCE.
    let (_, added4) = a.call(
        "POST",
        "/v1/invoices",
        Some(&json!({"value_msat": "100000"})),
    );
    let (_, _, mut p4) = b.open(
        "POST",
        "/v2/router/send",
        Some(&json!({"payment_request": added4["payment_request"], "fee_limit_msat": "1", "timeout_seconds": 10})),
    );
    let l4 = read_stream(&mut p4);
    assert_eq!(
        l4.last().unwrap()["result"]["failure_reason"],
        "FAILURE_REASON_NO_ROUTE"
    );
    let (_, added5) = a.call(
        "POST",
        "/v1/invoices",
        Some(&json!({"value_msat": "900000000"})),
    );
    let (_, _, mut p5) = b.open(
        "POST",
        "/v2/router/send",
        Some(&json!({"payment_request": added5["payment_request"], "fee_limit_msat": "5000000", "timeout_seconds": 10})),
    );
    let l5 = read_stream(&mut p5);
    sw.check("lnrpcPayment", &l5.last().unwrap()["result"]);
    assert_eq!(
        l5.last().unwrap()["result"]["failure_reason"],
        "FAILURE_REASON_INSUFFICIENT_BALANCE"
    );

    // Unknown request field: 400, InvalidArgument.
    let (st, err) = a.call(
        "POST",
        "/v1/invoices",
        Some(&json!({"value_msat": "1", "bogus": 1})),
    );
    assert_eq!(st, 400);
    sw.check_error(&err);
    assert_eq!(err["code"], 3);

    simnet.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn macaroon_is_checked_on_every_call() {
    let dir = tempdir("macaroon");
    let simnet = Simnet::start(&dir, 1, &config()).unwrap();
    let sw = Swagger::load();
    let mut c = Client::new(&simnet.nodes()[0]);
    c.macaroon = "00".repeat(32);
    for (method, path) in [
        ("GET", "/v1/getinfo"),
        ("GET", "/v1/balance/channels"),
        ("POST", "/v1/invoices"),
        ("GET", "/v1/invoices/subscribe"),
        ("POST", "/v2/router/send"),
    ] {
        let (st, err) = c.call(method, path, Some(&json!({})));
        assert_eq!(st, 403, "{path}");
        sw.check_error(&err);
        assert_eq!(
            err["message"],
            "verification failed: signature mismatch after caveat verification"
        );
    }
    c.macaroon = String::new();
    let (st, err) = c.call("GET", "/v1/getinfo", None);
    assert_eq!(st, 500);
    assert_eq!(err["message"], "expected 1 macaroon, got 0");
    // /v1/state needs none.
    let (st, _) = c.call("GET", "/v1/state", None);
    assert_eq!(st, 200);

    // A restart keeps the certificate, the macaroon and the node.
    let before = std::fs::read(&simnet.nodes()[0].tls_cert).unwrap();
    let pubkey = simnet.nodes()[0].pubkey.clone();
    simnet.stop();
    let simnet = Simnet::start(&dir, 1, &config()).unwrap();
    assert_eq!(std::fs::read(&simnet.nodes()[0].tls_cert).unwrap(), before);
    let c = Client::new(&simnet.nodes()[0]);
    let (st, info) = c.call("GET", "/v1/getinfo", None);
    assert_eq!(st, 200);
    assert_eq!(info["identity_pubkey"], pubkey);
    simnet.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
