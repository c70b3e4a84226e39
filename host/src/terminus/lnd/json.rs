//! LND's REST JSON conventions (lnd-rest.md §3–4): 64-bit integers as strings, `bytes` as
//! base64, enums as strings, errors as `google.rpc.Status`, server streams as
//! newline-delimited `{"result": …}` / `{"error": …}` objects.

use std::io::{BufRead, BufReader, Read};

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use serde_json::Value;

/// An error status as LND's gateway writes it (`{"code", "message", "details"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    /// The gRPC code (2 Unknown, 5 NotFound, 6 AlreadyExists, ...), if given.
    pub code: Option<i64>,
    /// LND's message.
    pub message: String,
}

impl Status {
    /// Reads a status from `{"error": {...}}`, a bare `{"code", "message"}`, or the first
    /// line of a stream holding one of these; `None` when the body is neither.
    pub fn parse(body: &str) -> Option<Status> {
        let first = body.lines().map(str::trim).find(|l| !l.is_empty())?;
        let v: Value = serde_json::from_str(first).ok()?;
        let s = match v.get("error") {
            Some(e) if e.is_object() => e,
            _ => &v,
        };
        let message = s.get("message")?.as_str()?.to_owned();
        Some(Status {
            code: s.get("code").and_then(Value::as_i64),
            message,
        })
    }
}

/// Field `key` of `v`: a non-negative 64-bit integer sent as a string (or a number).
/// Missing or `null`: 0 (LND emits zero values, but older versions may lack a field).
pub(crate) fn u64_field(v: &Value, key: &str) -> Result<u64, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s
            .parse::<u64>()
            .map_err(|_| format!("`{key}` is not a non-negative integer: {s:?}")),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("`{key}` is not a non-negative integer: {n}")),
        Some(other) => Err(format!("`{key}` is not an integer: {other}")),
    }
}

/// Field `key` of `v` as a string (missing or `null`: empty).
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("`{key}` is not a string: {other}")),
    }
}

/// Field `key` of `v`: 32 bytes in base64 (a protobuf `bytes` field).
pub(crate) fn b64_32(v: &Value, key: &str) -> Result<[u8; 32], String> {
    let s = str_field(v, key)?;
    let bytes = STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .map_err(|e| format!("`{key}` is not base64: {e}"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("`{key}` is {} bytes, not 32", bytes.len()))
}

/// Field `key` of `v`: 32 bytes in hex (a `string` field carrying hex).
pub(crate) fn hex_32(v: &Value, key: &str) -> Result<[u8; 32], String> {
    let s = str_field(v, key)?;
    unhex_32(s).ok_or_else(|| format!("`{key}` is not 32 bytes of hex: {s:?}"))
}

/// 32 bytes from 64 hex digits.
pub(crate) fn unhex_32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (b[2 * i] as char).to_digit(16)?;
        let lo = (b[2 * i + 1] as char).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Standard padded base64 (request bodies).
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Padded base64url (a `format: byte` path segment, e.g. `/v2/router/track/{payment_hash}`).
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// One message of a server stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// `{"result": ...}`.
    Result(Value),
    /// `{"error": ...}`: the stream ends after it.
    Error(Status),
}

/// Reads a newline-delimited JSON stream, whatever the chunking of the bytes under it.
pub(crate) struct Lines<R> {
    reader: BufReader<R>,
    line: Vec<u8>,
}

/// The longest line accepted (an invoice or payment with many HTLCs is a few KiB).
const MAX_LINE: u64 = 4 << 20;

impl<R: Read> Lines<R> {
    /// Wraps a byte stream.
    pub fn new(r: R) -> Self {
        Lines {
            reader: BufReader::new(r),
            line: Vec::new(),
        }
    }

    /// The next message; `Ok(None)` at the end of the stream. An I/O failure or a line
    /// that is not a stream message is an `Err` (the caller reconnects or gives up).
    pub fn next_item(&mut self) -> Result<Option<Item>, String> {
        loop {
            self.line.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| format!("stream read failed: {e}"))?;
            if n == 0 {
                return Ok(None);
            }
            if self.line.last() != Some(&b'\n') && n as u64 == MAX_LINE {
                return Err("stream line too long".to_owned());
            }
            let text = String::from_utf8_lossy(&self.line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(text)
                .map_err(|e| format!("stream line is not JSON ({e}): {}", clip(text)))?;
            if let Some(r) = v.get("result") {
                return Ok(Some(Item::Result(r.clone())));
            }
            if v.get("error").is_some() {
                return Ok(Some(Item::Error(Status::parse(text).unwrap_or(Status {
                    code: None,
                    message: clip(text),
                }))));
            }
            return Err(format!(
                "stream line has neither result nor error: {}",
                clip(text)
            ));
        }
    }
}

/// A body or line shortened for an error message.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
