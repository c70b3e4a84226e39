//! Client side: websocket URLs and the opening-handshake request.

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

/// Parses `ws://host[:port][/path]` or `wss://…` (IPv6 as `[::1]`). No user info.
pub fn parse_ws_url(url: &str) -> Result<WsUrl, String> {
    let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "ws://") {
        (false, r)
    } else if let Some(r) = strip_prefix_ci(url, "wss://") {
        (true, r)
    } else {
        return Err(format!("not a ws:// or wss:// URL: {url:?}"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if authority.contains('@') {
        return Err("user info in websocket URLs is not supported".into());
    }
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let end = r.find(']').ok_or("unterminated IPv6 address")?;
        let after = &r[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("bad authority {authority:?}")),
        };
        (&r[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    let port = match port {
        // digits only and not 0, as the beacon URL reader (`u16::from_str` takes "+80")
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&n| n != 0 && p.bytes().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| format!("bad port {p:?}"))?,
        None if tls => 443,
        None => 80,
    };
    Ok(WsUrl {
        tls,
        host: host.to_owned(),
        port,
        path,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(parse_ws_url("ws://h?q").unwrap().path, "/?q");
        assert!(parse_ws_url("http://h").is_err());
        assert!(parse_ws_url("ws://:80").is_err());
        assert!(parse_ws_url("ws://h:99999").is_err());
        assert!(parse_ws_url("ws://h:+80").is_err());
        assert!(parse_ws_url("ws://h:0").is_err());
        assert!(parse_ws_url("ws://u@h").is_err());
        let r = parse_ws_url("ws://h:1/").unwrap().request().unwrap();
        assert_eq!(r.headers()["Host"], "h:1");
    }
}
