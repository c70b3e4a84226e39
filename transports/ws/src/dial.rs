//! Client side: websocket URLs and the opening-handshake request.

use std::fmt;
use std::net::SocketAddr;

use moneysocket_core::beacon::{UrlError, WsUrlParts};
use tungstenite::handshake::client::{generate_key, Request};

/// A parsed `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss`.
    pub tls: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port (explicit, or 80 / 443 by scheme).
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

impl WsUrl {
    /// `host:port` as sent in the `Host` header (IPv6 in brackets). The port is always
    /// included: the Python relay (autobahn 19.8.1) checks it against its listening port.
    pub fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The opening-handshake request: `GET path` with `Host: host:port`, no subprotocol and
    /// no extension.
    pub(crate) fn request(&self) -> Result<Request, String> {
        let scheme = if self.tls { "wss" } else { "ws" };
        let uri = format!("{scheme}://{}{}", self.host_header(), self.path);
        Request::builder()
            .method("GET")
            .uri(uri)
            .header("Host", self.host_header())
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", generate_key())
            .body(())
            .map_err(|e| e.to_string())
    }
}

impl From<WsUrlParts<'_>> for WsUrl {
    /// The owned form. Bytes of the path and query that RFC 3986 does not allow there
    /// (non-ASCII bytes and `"`, `<`, `>`, `\`, `^`, backtick, `{`, `|`, `}`) are
    /// percent-encoded, as browsers do, so that the request line is valid; everything else
    /// (existing `%XX` escapes included) is kept as written.
    fn from(p: WsUrlParts<'_>) -> Self {
        let mut path = String::with_capacity(p.path.len() + p.query.map_or(0, |q| q.len() + 1));
        let mut push = |s: &str| {
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
                    path.push(char::from(b));
                } else {
                    path.push_str(&format!("%{b:02X}"));
                }
            }
        };
        push(p.path);
        if let Some(q) = p.query {
            push("?");
            push(q);
        }
        WsUrl {
            tls: p.tls,
            host: p.host.to_owned(),
            port: p.port,
            path,
        }
    }
}

/// Parses `ws://host[:port][/path][?query]` or `wss://…` with the core's parser
/// ([`WsUrlParts::parse`]: IPv6 as `[::1]`, no user info, no fragment) into the owned form.
pub fn parse_ws_url(url: &str) -> Result<WsUrl, UrlError> {
    WsUrlParts::parse(url).map(WsUrl::from)
}

/// Why [`Transport::dial`](crate::Transport::dial) refused to start a connection. Failures
/// after it returned an id (name resolution, connect, TLS, websocket handshake, timeout) come
/// as [`Event::Closed`](crate::Event::Closed) with
/// [`CloseCause::HandshakeFailed`](crate::CloseCause::HandshakeFailed) instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialError {
    /// The URL was refused.
    BadUrl(UrlError),
    /// A `wss://` URL without a TLS client configuration.
    TlsConfigMissing,
    /// The opening-handshake request could not be built from the URL.
    Request(String),
    /// Name resolution could not be started (no thread).
    Resolve(String),
    /// The TCP connect to an IP address failed at once.
    Connect {
        /// The address dialed.
        addr: SocketAddr,
        /// The operating system's error.
        error: String,
    },
    /// The socket could not be registered with the event loop.
    Register(String),
    /// The server answered the websocket upgrade with an HTTP error (for a relay: 503 at
    /// its connection limit, 429 at its per-address limit). Reported after the dial
    /// started, inside [`CloseCause::DialFailed`](crate::CloseCause::DialFailed).
    Refused {
        /// The HTTP status code.
        status: u16,
        /// The first line of the response body (empty if none came with the head).
        reason: String,
    },
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialError::BadUrl(e) => write!(f, "bad websocket URL: {e}"),
            DialError::TlsConfigMissing => f.write_str("wss:// needs a TLS client configuration"),
            DialError::Request(e) => write!(f, "handshake request: {e}"),
            DialError::Resolve(e) => write!(f, "cannot start name resolution: {e}"),
            DialError::Connect { addr, error } => write!(f, "connect {addr}: {error}"),
            DialError::Register(e) => write!(f, "event loop registration: {e}"),
            DialError::Refused { status, reason } if reason.is_empty() => {
                write!(f, "refused by the server: HTTP {status}")
            }
            DialError::Refused { status, reason } => {
                write!(f, "refused by the server: HTTP {status}: {reason}")
            }
        }
    }
}

impl std::error::Error for DialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DialError::BadUrl(e) => Some(e),
            _ => None,
        }
    }
}

impl From<UrlError> for DialError {
    fn from(e: UrlError) -> Self {
        DialError::BadUrl(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The parsing cases live with the parser (moneysocket-core, beacon/url.rs); these check
    // the owned form and the request built from it.
    #[test]
    fn urls() {
        let u = parse_ws_url("ws://relay.example:11060").unwrap();
        assert_eq!((u.tls, u.port, u.path.as_str()), (false, 11060, "/"));
        assert_eq!(u.host_header(), "relay.example:11060");
        let u = parse_ws_url("WSS://relay.socket.money").unwrap();
        assert_eq!(u.host_header(), "relay.socket.money:443");
        let u = parse_ws_url("ws://[::1]:9/x?y").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str()), ("::1", "/x?y"));
        assert_eq!(u.host_header(), "[::1]:9");
        let u = parse_ws_url("wss://[2001:db8::1]").unwrap();
        assert_eq!(u.host_header(), "[2001:db8::1]:443");
        assert_eq!(parse_ws_url("ws://h?q").unwrap().path, "/?q");
        assert_eq!(parse_ws_url("ws://h/?").unwrap().path, "/?");
        assert_eq!(
            parse_ws_url("ws://h/\u{fc}?\u{e9}").unwrap().path,
            "/%C3%BC?%C3%A9"
        );
        assert_eq!(
            parse_ws_url("ws://h/{a}?b=<c>").unwrap().path,
            "/%7Ba%7D?b=%3Cc%3E"
        );
        assert_eq!(parse_ws_url("http://h"), Err(UrlError::Scheme));
        assert_eq!(parse_ws_url("ws://:80"), Err(UrlError::Host));
        assert_eq!(parse_ws_url("ws://h:99999"), Err(UrlError::Port));
        assert_eq!(parse_ws_url("ws://h:+80"), Err(UrlError::Port));
        assert_eq!(parse_ws_url("ws://h:0"), Err(UrlError::Port));
        assert_eq!(parse_ws_url("ws://u@h"), Err(UrlError::Host));
        let r = parse_ws_url("ws://h:1/").unwrap().request().unwrap();
        assert_eq!(r.headers()["Host"], "h:1");
    }

    #[test]
    fn every_accepted_url_makes_a_request() {
        for u in [
            "ws://h/a/b?x=1&y=2",
            "ws://[::1]:8080/x",
            "wss://[2001:db8::1]",
            "ws://h//a",
            "ws://h/\u{fc}",
            "ws://h/a%20b?c=%7B%7D",
            "ws://h/{}|^`\"<>\\?{}|^`\"<>",
        ] {
            let url = parse_ws_url(u).unwrap();
            let r = url.request();
            assert!(r.is_ok(), "{u}: {r:?}");
        }
    }

    #[test]
    fn dial_errors_display() {
        assert_eq!(
            DialError::from(UrlError::Port).to_string(),
            "bad websocket URL: invalid port in URL"
        );
        assert_eq!(
            DialError::Refused {
                status: 503,
                reason: "full".into()
            }
            .to_string(),
            "refused by the server: HTTP 503: full"
        );
        assert_eq!(
            DialError::TlsConfigMissing.to_string(),
            "wss:// needs a TLS client configuration"
        );
    }
}
