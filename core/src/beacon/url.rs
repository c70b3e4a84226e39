//! `ws[s]://host[:port][/path]` parsing into a [`WebSocket`] view.

use super::WebSocket;
use core::fmt;

/// Why a WebSocket URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UrlError {
    /// The scheme is not `ws://` or `wss://`.
    Scheme,
    /// The host is empty or has characters that cannot appear in a host
    /// (`@`, `[`, `]`, `?`, `#`, `\`, whitespace or control characters).
    Host,
    /// The port is empty, not decimal, 0 or above 65535.
    Port,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Scheme => "URL scheme must be ws:// or wss://",
            UrlError::Host => "invalid host in URL",
            UrlError::Port => "invalid port in URL",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UrlError {}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

pub(super) fn parse(url: &str) -> Result<WebSocket<'_>, UrlError> {
    let (use_tls, rest) = if let Some(r) = strip_prefix_ci(url, "wss://") {
        (true, r)
    } else if let Some(r) = strip_prefix_ci(url, "ws://") {
        (false, r)
    } else {
        return Err(UrlError::Scheme);
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, p.trim_start_matches('/')),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
                return Err(UrlError::Port);
            }
            let port: u64 = p.parse().map_err(|_| UrlError::Port)?;
            if port == 0 || port > 65535 {
                return Err(UrlError::Port);
            }
            (h, port)
        }
        None => (authority, WebSocket::default_port(use_tls)),
    };
    let bad = |c: char| {
        c.is_whitespace() || c.is_control() || matches!(c, '@' | '[' | ']' | '?' | '#' | '\\' | ':')
    };
    if host.is_empty() || host.chars().any(bad) {
        return Err(UrlError::Host);
    }
    Ok(WebSocket::new(host, use_tls)
        .with_port(port)
        .with_path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let ws = parse("ws://localhost:11060/ws").unwrap();
        assert_eq!(
            (ws.host, ws.use_tls, ws.port, ws.path),
            ("localhost", false, 11060, "ws")
        );
        let ws = parse("wss://relay.socket.money").unwrap();
        assert_eq!((ws.use_tls, ws.port, ws.path), (true, 443, ""));
        let ws = parse("WSS://relay.socket.money:8443/").unwrap();
        assert_eq!((ws.use_tls, ws.port, ws.path), (true, 8443, ""));
        let ws = parse("ws://h//a/b").unwrap();
        assert_eq!((ws.port, ws.path), (80, "a/b"));
    }

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(parse("http://x"), Err(UrlError::Scheme));
        assert_eq!(parse("ws://"), Err(UrlError::Host));
        assert_eq!(parse("ws://:80"), Err(UrlError::Host));
        assert_eq!(parse("ws://h:"), Err(UrlError::Port));
        assert_eq!(parse("ws://h:0"), Err(UrlError::Port));
        assert_eq!(parse("ws://h:65536"), Err(UrlError::Port));
        assert_eq!(parse("ws://h:+80"), Err(UrlError::Port));
        assert_eq!(parse("ws://[::1]:80"), Err(UrlError::Host));
        assert_eq!(parse("ws://u@h"), Err(UrlError::Host));
        assert_eq!(parse("ws://a b"), Err(UrlError::Host));
    }

    #[test]
    fn url_round_trip() {
        extern crate std;
        use std::string::String;
        for u in [
            "ws://localhost:80",
            "wss://a.b:443/x/y",
            "ws://10.0.0.1:11060",
        ] {
            let mut s = String::new();
            parse(u).unwrap().url(&mut s).unwrap();
            assert_eq!(s, u);
        }
    }
}
