//! The one `ws[s]://host[:port][/path][?query]` parser of the workspace.
//!
//! [`WsUrlParts::parse`] splits a websocket URL into borrowed parts without allocating; the
//! beacon builder ([`WebSocket::parse_url`]) and the websocket transport (`moneysocket-ws`'s
//! `parse_ws_url` and `Transport::dial`) both read URLs through it. What it accepts, and why
//! where the two former parsers disagreed, is listed in `docs/quirks-beacons.md`
//! ("WebSocket URLs").

use super::WebSocket;
use core::fmt;
use core::net::Ipv6Addr;

/// Why a WebSocket URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `ws://` or `wss://`.
    Scheme,
    /// The host is empty, has user info (`@`), or has characters that cannot appear in a host
    /// (`[`, `]`, `:`, `\`, whitespace or control characters); or a bracketed host is not an
    /// IPv6 address or is followed by something other than `:port`.
    Host,
    /// The port is empty, not only decimal digits (`+80`), 0 or above 65535.
    Port,
    /// The path or query has whitespace or control characters.
    Path,
    /// The URL has a fragment (`#…`), which websocket URLs must not carry.
    Fragment,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Scheme => "URL scheme must be ws:// or wss://",
            UrlError::Host => "invalid host in URL",
            UrlError::Port => "invalid port in URL",
            UrlError::Path => "invalid path in URL",
            UrlError::Fragment => "websocket URLs cannot have a fragment",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UrlError {}

/// A websocket URL split into parts borrowed from it (see [`WsUrlParts::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WsUrlParts<'a> {
    /// `wss://` (scheme in either case).
    pub tls: bool,
    /// Host name or IP address; an IPv6 address without its brackets.
    pub host: &'a str,
    /// The explicit port, or 443 (`wss`) / 80 (`ws`).
    pub port: u16,
    /// The path, starting with `/`; `/` when the URL has none. Repeated leading slashes are
    /// kept as written.
    pub path: &'a str,
    /// The query without its `?` (`Some("")` for a bare `?`), if any.
    pub query: Option<&'a str>,
}

impl<'a> WsUrlParts<'a> {
    /// Parses `ws://host[:port][/path][?query]` or `wss://…`: scheme in either case, IPv6
    /// hosts in brackets (`ws://[::1]:8080/x`), port 1–65535 in decimal digits (leading zeros
    /// allowed), no user info, no fragment.
    pub fn parse(url: &'a str) -> Result<Self, UrlError> {
        split(url).map(|(parts, _)| parts)
    }

    /// Whether the host is an IPv6 address (it is written in brackets in URLs and `Host`
    /// headers).
    pub fn host_is_ipv6(&self) -> bool {
        self.host.contains(':')
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Decimal digits only, 1–65535 (leading zeros allowed).
fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() {
        return Err(UrlError::Port);
    }
    let mut n: u32 = 0;
    for c in p.bytes() {
        if !c.is_ascii_digit() {
            return Err(UrlError::Port);
        }
        n = n * 10 + u32::from(c - b'0');
        if n > 65535 {
            return Err(UrlError::Port);
        }
    }
    match u16::try_from(n) {
        Ok(0) | Err(_) => Err(UrlError::Port),
        Ok(port) => Ok(port),
    }
}

/// The parts, and the raw path-and-query as written (empty, or starting with `/` or `?`).
fn split(url: &str) -> Result<(WsUrlParts<'_>, &str), UrlError> {
    let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "wss://") {
        (true, r)
    } else if let Some(r) = strip_prefix_ci(url, "ws://") {
        (false, r)
    } else {
        return Err(UrlError::Scheme);
    };
    if rest.contains('#') {
        return Err(UrlError::Fragment);
    }
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if tail.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::Path);
    }
    let (path, query) = match tail.split_once('?') {
        Some(("", q)) => ("/", Some(q)),
        Some((p, q)) => (p, Some(q)),
        None if tail.is_empty() => ("/", None),
        None => (tail, None),
    };
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let (host, after) = r.split_once(']').ok_or(UrlError::Host)?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::Host);
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UrlError::Host)?),
        };
        (host, port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let bad = |c: char| {
            c.is_whitespace() || c.is_control() || matches!(c, '@' | '[' | ']' | '\\' | ':')
        };
        if host.is_empty() || host.chars().any(bad) {
            return Err(UrlError::Host);
        }
        (host, port)
    };
    let port = match port {
        Some(p) => parse_port(p)?,
        None if tls => 443,
        None => 80,
    };
    let parts = WsUrlParts {
        tls,
        host,
        port,
        path,
        query,
    };
    Ok((parts, tail))
}

/// The beacon view: the path is the raw path-and-query without its leading slashes.
pub(super) fn parse(url: &str) -> Result<WebSocket<'_>, UrlError> {
    let (p, tail) = split(url)?;
    Ok(WebSocket::new(p.host, p.tls)
        .with_port(u64::from(p.port))
        .with_path(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (bool, &str, u16, &str, Option<&str>) {
        let p = WsUrlParts::parse(url).unwrap();
        (p.tls, p.host, p.port, p.path, p.query)
    }

    #[test]
    fn parses_common_forms() {
        // from the former beacon parser
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
        assert_eq!(parts("ws://h//a/b"), (false, "h", 80, "//a/b", None));
        // from the former moneysocket-ws parser
        assert_eq!(
            parts("ws://relay.example:11060"),
            (false, "relay.example", 11060, "/", None)
        );
        assert_eq!(
            parts("WSS://relay.socket.money"),
            (true, "relay.socket.money", 443, "/", None)
        );
        assert_eq!(parts("ws://h:1/"), (false, "h", 1, "/", None));
        assert_eq!(
            parts("ws://10.0.0.1:11060"),
            (false, "10.0.0.1", 11060, "/", None)
        );
    }

    #[test]
    fn ipv6_hosts() {
        assert_eq!(parts("ws://[::1]:8080/x"), (false, "::1", 8080, "/x", None));
        assert_eq!(
            parts("wss://[2001:db8::1]"),
            (true, "2001:db8::1", 443, "/", None)
        );
        assert_eq!(
            parts("ws://[::1]:9/x?y"),
            (false, "::1", 9, "/x", Some("y"))
        );
        assert_eq!(
            parts("ws://[::ffff:10.0.0.1]"),
            (false, "::ffff:10.0.0.1", 80, "/", None)
        );
        assert!(WsUrlParts::parse("ws://[::1]").unwrap().host_is_ipv6());
        assert!(!WsUrlParts::parse("ws://h").unwrap().host_is_ipv6());
        for bad in [
            "ws://[::1",
            "ws://[]:80",
            "ws://[h]:80",
            "ws://[10.0.0.1]",
            "ws://[::1]x",
            "ws://[::1]80",
            "ws://[::1]]:80",
            "ws://::1",
            "ws://::1:80",
            "ws://[fe80::1%25eth0]",
        ] {
            assert_eq!(WsUrlParts::parse(bad), Err(UrlError::Host), "{bad}");
        }
        assert_eq!(WsUrlParts::parse("ws://[::1]:"), Err(UrlError::Port));
        assert_eq!(WsUrlParts::parse("ws://[::1]:0"), Err(UrlError::Port));
        // the beacon view keeps the bare address and writes it back in brackets
        let ws = parse("ws://[::1]:8080/x").unwrap();
        assert_eq!((ws.host, ws.port, ws.path), ("::1", 8080, "x"));
    }

    #[test]
    fn ports() {
        assert_eq!(parts("ws://h:65535").2, 65535);
        assert_eq!(parts("ws://h:1").2, 1);
        assert_eq!(parts("wss://h:80").2, 80);
        assert_eq!(parts("ws://h:443").2, 443);
        assert_eq!(parts("ws://h:0080").2, 80);
        assert_eq!(parts("ws://h:000000000080").2, 80);
        for bad in [
            "ws://h:",
            "ws://h:/x",
            "ws://h:?q",
            "ws://h:0",
            "ws://h:00",
            "ws://h:65536",
            "ws://h:99999",
            "ws://h:4294967376",
            "ws://h:+80",
            "ws://h:-1",
            "ws://h: 80",
            "ws://h:8o",
            "ws://h:0x50",
        ] {
            assert_eq!(WsUrlParts::parse(bad), Err(UrlError::Port), "{bad}");
        }
        assert_eq!(WsUrlParts::parse("ws://h:80:90"), Err(UrlError::Host));
    }

    #[test]
    fn paths_and_queries() {
        assert_eq!(parts("ws://h?q"), (false, "h", 80, "/", Some("q")));
        assert_eq!(parts("ws://h/?q"), (false, "h", 80, "/", Some("q")));
        assert_eq!(parts("ws://h:9?"), (false, "h", 9, "/", Some("")));
        assert_eq!(
            parts("wss://h/a/b?x=1&y=2"),
            (true, "h", 443, "/a/b", Some("x=1&y=2"))
        );
        assert_eq!(parts("ws://h/a?b?c"), (false, "h", 80, "/a", Some("b?c")));
        assert_eq!(parts("ws://h/a%20b"), (false, "h", 80, "/a%20b", None));
        assert_eq!(parts("ws://h/ü"), (false, "h", 80, "/ü", None));
        // a query right after the authority ends the host (also for the port)
        assert_eq!(parts("ws://h:81?q=/x"), (false, "h", 81, "/", Some("q=/x")));
        // the beacon view keeps the query in its path
        assert_eq!(parse("ws://h/a?b").unwrap().path, "a?b");
        assert_eq!(parse("ws://h?q").unwrap().path, "?q");
        for bad in ["ws://h/a b", "ws://h/?a b", "ws://h/a\tb", "ws://h/\u{7f}"] {
            assert_eq!(WsUrlParts::parse(bad), Err(UrlError::Path), "{bad}");
        }
        for bad in ["ws://h#f", "ws://h/p#f", "ws://h/?q#f", "ws://h:80#"] {
            assert_eq!(WsUrlParts::parse(bad), Err(UrlError::Fragment), "{bad}");
        }
    }

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(parse("http://x"), Err(UrlError::Scheme));
        assert_eq!(parse("http://h"), Err(UrlError::Scheme));
        assert_eq!(parse("ws:/h"), Err(UrlError::Scheme));
        assert_eq!(parse("wss:h"), Err(UrlError::Scheme));
        assert_eq!(parse(""), Err(UrlError::Scheme));
        assert_eq!(parse("ws://"), Err(UrlError::Host));
        assert_eq!(parse("ws:///x"), Err(UrlError::Host));
        assert_eq!(parse("ws://?q"), Err(UrlError::Host));
        assert_eq!(parse("ws://:80"), Err(UrlError::Host));
        assert_eq!(parse("ws://h:"), Err(UrlError::Port));
        assert_eq!(parse("ws://h:0"), Err(UrlError::Port));
        assert_eq!(parse("ws://h:65536"), Err(UrlError::Port));
        assert_eq!(parse("ws://h:+80"), Err(UrlError::Port));
        assert_eq!(parse("ws://u@h"), Err(UrlError::Host));
        assert_eq!(parse("ws://u:p@h:80"), Err(UrlError::Host));
        assert_eq!(parse("ws://a b"), Err(UrlError::Host));
        assert_eq!(parse("ws://a\\b"), Err(UrlError::Host));
        assert_eq!(parse("ws://a]b"), Err(UrlError::Host));
    }

    #[test]
    fn url_round_trip() {
        extern crate std;
        use std::string::String;
        for u in [
            "ws://localhost:80",
            "wss://a.b:443/x/y",
            "ws://10.0.0.1:11060",
            "ws://[::1]:8080/x",
            "wss://[2001:db8::1]:443",
            "ws://h:80/a?b=c",
        ] {
            let mut s = String::new();
            parse(u).unwrap().url(&mut s).unwrap();
            assert_eq!(s, u);
        }
    }
}
