//! A small blocking HTTP server on its own thread for the pages (loopback demo use: one
//! request per connection, `Connection: close`, the bounds of [`crate::http::Limits`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use serde_json::json;

use crate::http::{parse_request, Limits, Request, Response};

/// What the pages start from (`GET /demo.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoConfig {
    /// The relay's websocket URL, for beacons the pages make.
    pub relay: String,
    /// The seller's terminus account beacon (the seller page's wallet consumer).
    pub seller_beacon: Option<String>,
    /// The buyer's terminus account beacon (the web wallet's downstream).
    pub buyer_beacon: Option<String>,
    /// The web wallet's allowance (the slider's start), percent of the buyer's balance.
    pub allowance_percent: u8,
    /// Price of one purchase in the scripted demo, msat.
    pub price_msats: u64,
}

/// The answer to one request.
pub fn route(req: &Request, config: &DemoConfig) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::text(405, "only GET\n");
    }
    let path = req.path();
    match path {
        "/demo.json" => Response::new(
            200,
            "application/json",
            json!({
                "relay": config.relay,
                "seller_beacon": config.seller_beacon,
                "buyer_beacon": config.buyer_beacon,
                "allowance_percent": config.allowance_percent,
                "price_msats": config.price_msats,
            })
            .to_string(),
        ),
        "/qr.svg" => {
            let text = query_param(&req.target, "text").unwrap_or_default();
            match super::qr::svg(&text) {
                Ok(svg) => Response::new(200, "image/svg+xml", svg),
                Err(e) => Response::text(400, format!("{e}\n")),
            }
        }
        _ => match super::asset(path) {
            Some((t, body)) => {
                let mut r = Response::new(200, t, body);
                r.headers.push(("Cache-Control", "no-store".into()));
                r
            }
            None => Response::text(404, format!("no page at {path}\n")),
        },
    }
}

/// The value of `name` in the target's query string, percent-decoded (`+` is a space);
/// `None` when absent or not UTF-8.
fn query_param(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    let raw = query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })?;
    let mut out = Vec::with_capacity(raw.len());
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The pages served on a listener by a thread, until dropped.
#[derive(Debug)]
pub struct WebServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Serves on `addr` (port 0: any free one).
    pub fn start(addr: SocketAddr, config: DemoConfig) -> io::Result<WebServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("web".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    // A failed accept (a client gone at once) concerns that client only.
                    if let Ok(conn) = conn {
                        if let Err(e) = serve(conn, &config) {
                            tracing::debug!("web client: {e}");
                        }
                    }
                }
            })?;
        Ok(WebServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The pages' base URL, `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request, one response, within the limits' deadline.
fn serve(mut conn: TcpStream, config: &DemoConfig) -> io::Result<()> {
    let limits = Limits::default();
    let start = Instant::now();
    conn.set_read_timeout(Some(limits.timeout))?;
    conn.set_write_timeout(Some(limits.timeout))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let response = loop {
        if start.elapsed() > limits.timeout {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "slow client"));
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_request(&buf, &limits) {
            Ok(Some(req)) => {
                let mut r = route(&req, config);
                if req.method == "HEAD" {
                    r.body.clear();
                }
                break r;
            }
            Ok(None) => continue,
            Err(e) => break Response::text(e.status(), format!("{e}\n")),
        }
    };
    conn.write_all(&response.to_bytes())?;
    let _ = conn.shutdown(Shutdown::Write);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> Request {
        parse_request(
            format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
            &Limits::default(),
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn routes() {
        let c = DemoConfig {
            relay: "ws://127.0.0.1:1".into(),
            seller_beacon: Some("moneysocket1abc".into()),
            ..DemoConfig::default()
        };
        let r = route(&get("/demo.json"), &c);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["relay"], "ws://127.0.0.1:1");
        assert_eq!(v["buyer_beacon"], serde_json::Value::Null);
        assert_eq!(route(&get("/demo?auto=1"), &c).status, 200);
        assert_eq!(route(&get("/nothing"), &c).status, 404);
        let q = route(&get("/qr.svg?text=moneysocket1abc"), &c);
        assert_eq!((q.status, q.content_type), (200, "image/svg+xml"));
    }

    #[test]
    fn query_params_decode_and_refuse_garbage() {
        assert_eq!(
            query_param("/q?a=1&text=a%20b+c", "text").as_deref(),
            Some("a b c")
        );
        assert_eq!(query_param("/q?text=%zz", "text"), None);
        assert_eq!(query_param("/q?text=%4", "text"), None);
        assert_eq!(query_param("/q?text=%ff", "text"), None);
        assert_eq!(query_param("/q", "text"), None);
    }

    #[test]
    fn serves_over_a_socket() {
        let s = WebServer::start("127.0.0.1:0".parse().unwrap(), DemoConfig::default()).unwrap();
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        c.write_all(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("Moneysocket"));
    }
}
