//! The terminus's control interface: HTTP JSON on loopback with a bearer token, served as
//! caller sources of the session driver's mio loop ([`ControlServer`]), and its blocking
//! client ([`ControlClient`], used by `terminus-cli`).
//!
//! # Contract
//!
//! `POST /` with `Authorization: Bearer <token>` and the body
//! `{"method": "<verb>", "params": {...}}` (`params` may be left out: `{}`). Answers, always
//! `Content-Type: application/json` and `Connection: close`:
//!
//! | status | body | when |
//! |---|---|---|
//! | 200 | `{"result": ...}` | the verb ran |
//! | 400 | `{"error": "..."}` | malformed HTTP or JSON, not an object, no `method`, bad params ([`ControlError::Invalid`]) |
//! | 401 | `{"error": "unauthorized"}` | missing or wrong token (with `WWW-Authenticate: Bearer`) |
//! | 404 | `{"error": "..."}` | another path, an unknown method or account |
//! | 405 | `{"error": "..."}` | not `POST` |
//! | 409 | `{"error": "..."}` | refused in the current state ([`ControlError::Conflict`]) |
//! | 413, 431 | `{"error": "..."}` | body over 64 KiB; head over 8 KiB or 32 headers |
//! | 500, 503 | `{"error": "..."}` | [`ControlError::Internal`], [`ControlError::Unavailable`] |
//!
//! The token is 32 random bytes (OS RNG) as 64 hex digits, made by [`ControlServer::bind`]; the
//! daemon writes it to `<data_dir>/control.token` (mode 0600) and the bound address to
//! `<data_dir>/control.addr` with [`ControlServer::publish`].

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::Registry;
use serde_json::{json, Map, Value};

use crate::http::{self, HttpError, Limits, Request, Response, Server};

/// File in the data dir holding the bearer token (64 hex digits, mode 0600).
pub const TOKEN_FILE: &str = "control.token";
/// File in the data dir holding the control server's `ip:port`.
pub const ADDR_FILE: &str = "control.addr";

/// The limits of the control server: 8 KiB of head, 32 headers, 64 KiB of body, 8 clients at
/// once (the oldest idle one makes room for a new one), 5 s per connection.
pub const LIMITS: Limits = Limits {
    max_head: 8 * 1024,
    max_headers: 32,
    max_body: 64 * 1024,
    max_clients: 8,
    timeout: Duration::from_secs(5),
};

/// Why a verb failed; its text goes to the client as `{"error": text}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlError {
    /// Bad parameters (400).
    Invalid(String),
    /// No such method (404).
    UnknownMethod(String),
    /// No such account or object (404); the text is sent as is (`unknown account: X`).
    NotFound(String),
    /// Not possible in the current state (409), e.g. `still has connections: X`.
    Conflict(String),
    /// The daemon cannot serve it now, e.g. shutting down (503).
    Unavailable(String),
    /// A failure of the daemon (500).
    Internal(String),
}

impl ControlError {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ControlError::Invalid(_) => 400,
            ControlError::UnknownMethod(_) | ControlError::NotFound(_) => 404,
            ControlError::Conflict(_) => 409,
            ControlError::Unavailable(_) => 503,
            ControlError::Internal(_) => 500,
        }
    }
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::UnknownMethod(m) => write!(f, "unknown method: {m}"),
            ControlError::Invalid(s)
            | ControlError::NotFound(s)
            | ControlError::Conflict(s)
            | ControlError::Unavailable(s)
            | ControlError::Internal(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ControlError {}

/// What the daemon implements: runs one verb (called on the loop's thread, so it must not
/// block for long).
pub trait ControlHandler {
    /// Runs `method` with `params` (always a JSON object).
    fn call(&mut self, method: &str, params: &Value) -> Result<Value, ControlError>;
}

impl<F: FnMut(&str, &Value) -> Result<Value, ControlError>> ControlHandler for F {
    fn call(&mut self, method: &str, params: &Value) -> Result<Value, ControlError> {
        self(method, params)
    }
}

/// Reading typed params in a [`ControlHandler`]: each names the key in its error.
pub mod params {
    use super::ControlError;
    use serde_json::Value;

    fn missing(key: &str) -> ControlError {
        ControlError::Invalid(format!("missing parameter: {key}"))
    }

    /// A required string.
    pub fn str<'a>(p: &'a Value, key: &str) -> Result<&'a str, ControlError> {
        opt_str(p, key)?.ok_or_else(|| missing(key))
    }

    /// An optional string (absent or null: `None`).
    pub fn opt_str<'a>(p: &'a Value, key: &str) -> Result<Option<&'a str>, ControlError> {
        match p.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ControlError::Invalid(format!("{key}: not a string"))),
        }
    }

    /// A required msat amount (a non-negative integer).
    pub fn msats(p: &Value, key: &str) -> Result<u64, ControlError> {
        opt_msats(p, key)?.ok_or_else(|| missing(key))
    }

    /// An optional msat amount.
    pub fn opt_msats(p: &Value, key: &str) -> Result<Option<u64>, ControlError> {
        match p.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                ControlError::Invalid(format!("{key}: not a non-negative integer of msats"))
            }),
        }
    }

    /// A list of strings (absent: empty).
    pub fn strs<'a>(p: &'a Value, key: &str) -> Result<Vec<&'a str>, ControlError> {
        match p.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| ControlError::Invalid(format!("{key}: not all strings")))
                })
                .collect(),
            Some(_) => Err(ControlError::Invalid(format!("{key}: not a list"))),
        }
    }
}

/// A new bearer token: 32 bytes from the OS RNG as 64 lowercase hex digits.
pub fn generate_token() -> String {
    let mut b = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn same_token(given: &str, token: &str) -> bool {
    // constant time in the token's content
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::new(status, "application/json", body.to_string())
}

fn error_response(status: u16, msg: &str) -> Response {
    json_response(status, &json!({ "error": msg }))
}

/// The control server: a listener and its clients on the caller's mio registry (the
/// driver's: `driver.io().transport().registry()`), under source numbers
/// `token_base..token_base + ControlServer::SOURCES` given to
/// `moneysocket_ws::Transport::user_token`.
pub struct ControlServer {
    http: Server,
    token: String,
}

impl ControlServer {
    /// How many source numbers the server takes from `token_base` on.
    pub const SOURCES: usize = 1 + LIMITS.max_clients;

    /// Binds `addr` (use loopback), registers with `registry` and makes a new token.
    pub fn bind(addr: SocketAddr, registry: &Registry, token_base: usize) -> io::Result<Self> {
        let http = Server::bind(addr, registry, token_base, LIMITS)?;
        Ok(ControlServer {
            http,
            token: generate_token(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// The bearer token clients must send.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether source number `n` is the server's.
    pub fn owns(&self, n: usize) -> bool {
        self.http.owns(n)
    }

    /// Handles `DriverEvent::User { n, .. }` for one of the server's sources (others are
    /// ignored): accepts, reads, runs complete requests through `handler`, answers.
    pub fn ready(&mut self, n: usize, registry: &Registry, handler: &mut dyn ControlHandler) {
        let token = &self.token;
        self.http
            .ready(n, registry, &mut |req| answer(token, req, handler));
    }

    /// Drops clients past their 5 s; call after each poll of the loop.
    pub fn sweep(&mut self, registry: &Registry) {
        self.http.sweep(registry);
    }

    /// Writes `<data_dir>/control.token` (mode 0600) and `<data_dir>/control.addr`, each
    /// atomically (temporary file, fsync, rename), creating `data_dir` (mode 0700) if needed.
    pub fn publish(&self, data_dir: &Path) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)?;
        write_atomic(
            &data_dir.join(TOKEN_FILE),
            format!("{}\n", self.token).as_bytes(),
            0o600,
        )?;
        write_atomic(
            &data_dir.join(ADDR_FILE),
            format!("{}\n", self.local_addr()).as_bytes(),
            0o644,
        )
    }

    /// Removes the two files (at shutdown, so the CLI says the daemon is not running).
    pub fn unpublish(data_dir: &Path) {
        let _ = std::fs::remove_file(data_dir.join(ADDR_FILE));
        let _ = std::fs::remove_file(data_dir.join(TOKEN_FILE));
    }

    /// Deregisters the listener and its clients.
    pub fn close(self, registry: &Registry) {
        self.http.close(registry);
    }
}

fn write_atomic(path: &Path, content: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    // the umask may have narrowed the mode; never widen a secret beyond `mode`
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(content)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn answer(
    token: &str,
    req: Result<&Request, &HttpError>,
    handler: &mut dyn ControlHandler,
) -> Response {
    let req = match req {
        Ok(r) => r,
        Err(e) => return error_response(e.status(), &e.to_string()),
    };
    let authorized = req
        .header("authorization")
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .is_some_and(|given| same_token(given, token));
    if !authorized {
        let mut r = error_response(401, "unauthorized");
        r.headers.push(("WWW-Authenticate", "Bearer".into()));
        return r;
    }
    if req.path() != "/" {
        return error_response(404, &format!("not found: {} (use POST /)", req.path()));
    }
    if req.method != "POST" {
        let mut r = error_response(405, &format!("method not allowed: {}", req.method));
        r.headers.push(("Allow", "POST".into()));
        return r;
    }
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return error_response(400, &format!("malformed JSON: {e}")),
    };
    let Some(method) = body.get("method").and_then(Value::as_str) else {
        return error_response(400, "expected {\"method\": \"<verb>\", \"params\": {...}}");
    };
    let empty = Value::Object(Map::new());
    let params = match body.get("params") {
        None | Some(Value::Null) => &empty,
        Some(p @ Value::Object(_)) => p,
        Some(_) => return error_response(400, "params: not an object"),
    };
    match handler.call(method, params) {
        Ok(result) => json_response(200, &json!({ "result": result })),
        Err(e) => error_response(e.status(), &e.to_string()),
    }
}

/// Largest response the client reads (receipts can be long).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// The blocking client of the control interface.
#[derive(Debug, Clone)]
pub struct ControlClient {
    addr: SocketAddr,
    token: String,
    timeout: Duration,
}

impl ControlClient {
    /// A client of the server at `addr` with `token`; 30 s timeout per step.
    pub fn new(addr: SocketAddr, token: impl Into<String>) -> Self {
        ControlClient {
            addr,
            token: token.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Reads `control.addr` and `control.token` from `data_dir`.
    pub fn from_data_dir(data_dir: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            let p = data_dir.join(name);
            std::fs::read_to_string(&p).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    format!(
                        "{} not found: is the terminus running with this data dir? (--data-dir)",
                        p.display()
                    )
                } else {
                    format!("{}: {e}", p.display())
                }
            })
        };
        let addr_text = read(ADDR_FILE)?;
        let addr = addr_text.trim().parse().map_err(|_| {
            format!(
                "{}: not an address: {:?}",
                data_dir.join(ADDR_FILE).display(),
                addr_text.trim()
            )
        })?;
        let token = read(TOKEN_FILE)?.trim().to_owned();
        if token.is_empty() {
            return Err(format!("{}: empty", data_dir.join(TOKEN_FILE).display()));
        }
        Ok(Self::new(addr, token))
    }

    /// Sets the timeout of each step (connect, send, receive).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `method` with `params` (an object); the `result`, or the server's `error` text
    /// (or why the server could not be asked).
    pub fn call(&self, method: &str, params: &Value) -> Result<Value, String> {
        let body = json!({ "method": method, "params": params }).to_string();
        let auth = format!("Bearer {}", self.token);
        let r = http::post(
            self.addr,
            "/",
            &[("Authorization", &auth)],
            body.as_bytes(),
            self.timeout,
            MAX_RESPONSE,
        )
        .map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => format!(
                "cannot reach the terminus at {}: connection refused (is it running?)",
                self.addr
            ),
            _ => format!("terminus at {}: {e}", self.addr),
        })?;
        let v: Value = serde_json::from_slice(&r.body).map_err(|_| {
            format!(
                "terminus at {}: status {} with a body that is not JSON",
                self.addr, r.status
            )
        })?;
        match (r.status, v) {
            (200, Value::Object(mut o)) if o.contains_key("result") => {
                Ok(o.remove("result").unwrap_or(Value::Null))
            }
            (401, _) => Err(format!(
                "unauthorized: the token in {TOKEN_FILE} is not the running terminus's"
            )),
            (status, v) => Err(match v.get("error").and_then(Value::as_str) {
                Some(e) => e.to_owned(),
                None => format!("terminus at {}: status {status}: {v}", self.addr),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_hex_and_compared_exactly() {
        let a = generate_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, generate_token());
        assert!(same_token(&a, &a.clone()));
        assert!(!same_token(&a[..63], &a));
    }

    #[test]
    fn params_are_typed() {
        let p = json!({"account": "a", "msats": 5, "neg": -1, "f": 1.5, "l": ["x"], "bad": [1]});
        assert_eq!(params::str(&p, "account"), Ok("a"));
        assert_eq!(params::msats(&p, "msats"), Ok(5));
        assert!(params::msats(&p, "neg").is_err() && params::msats(&p, "f").is_err());
        assert_eq!(
            params::str(&p, "nope"),
            Err(ControlError::Invalid("missing parameter: nope".into()))
        );
        assert_eq!(params::opt_msats(&p, "nope"), Ok(None));
        assert_eq!(params::strs(&p, "l"), Ok(vec!["x"]));
        assert_eq!(params::strs(&p, "nope"), Ok(vec![]));
        assert!(params::strs(&p, "bad").is_err() && params::str(&p, "msats").is_err());
    }

    fn req(method: &str, path: &str, auth: Option<&str>, body: &str) -> Request {
        let mut headers = vec![];
        if let Some(a) = auth {
            headers.push(("Authorization".to_owned(), a.to_owned()));
        }
        Request {
            method: method.into(),
            target: path.into(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_follow_the_contract() {
        let tok = "t0k";
        let mut h = |m: &str, p: &Value| match m {
            "echo" => Ok(p.clone()),
            "busy" => Err(ControlError::Conflict("still has connections: a".into())),
            other => Err(ControlError::UnknownMethod(other.into())),
        };
        let mut run = |r: Request| {
            let resp = answer(tok, Ok(&r), &mut h);
            let v: Value = serde_json::from_slice(&resp.body).unwrap();
            (resp.status, v)
        };
        let ok = Some("Bearer t0k");
        assert_eq!(
            run(req(
                "POST",
                "/",
                ok,
                r#"{"method":"echo","params":{"a":1}}"#
            )),
            (200, json!({"result": {"a": 1}}))
        );
        assert_eq!(
            run(req(
                "POST",
                "/",
                Some("bearer  t0k"),
                r#"{"method":"echo"}"#
            )),
            (200, json!({"result": {}}))
        );
        assert_eq!(run(req("POST", "/", Some("Bearer x"), "")).0, 401);
        assert_eq!(run(req("POST", "/", Some("Basic t0k"), "")).0, 401);
        assert_eq!(run(req("POST", "/", None, "")).0, 401);
        assert_eq!(run(req("GET", "/", ok, "")).0, 405);
        assert_eq!(run(req("POST", "/x", ok, "")).0, 404);
        assert_eq!(run(req("POST", "/", ok, "{")).0, 400);
        assert_eq!(run(req("POST", "/", ok, "[]")).0, 400);
        assert_eq!(
            run(req("POST", "/", ok, r#"{"method":"echo","params":[1]}"#)).0,
            400
        );
        assert_eq!(
            run(req("POST", "/", ok, r#"{"method":"busy"}"#)),
            (409, json!({"error": "still has connections: a"}))
        );
        assert_eq!(
            run(req("POST", "/", ok, r#"{"method":"nope"}"#)),
            (404, json!({"error": "unknown method: nope"}))
        );
        let e = answer(tok, Err(&HttpError::BodyTooLarge), &mut h);
        assert_eq!(e.status, 413);
    }
}
