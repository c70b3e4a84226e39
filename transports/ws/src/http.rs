//! The few HTTP answers the transport gives by itself: refusals at the connection limits and
//! to requests that are not websocket upgrades (a plain `GET /`, a missing key, a wrong
//! version). Each is a status line, a one-line plain-text body and `Connection: close`.

/// Longest request head read before the websocket handshake (browsers send 1–2 KiB).
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// An HTTP error answer: status, one-line reason (the body) and an optional extra header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HttpRefusal {
    pub status: u16,
    pub reason: &'static str,
    pub header: Option<&'static str>,
}

/// Over [`crate::TransportConfig::max_connections`].
pub(crate) const FULL: HttpRefusal = HttpRefusal {
    status: 503,
    reason: "server at its connection limit, try again later",
    header: Some("Retry-After: 5"),
};

/// Over [`crate::TransportConfig::max_per_ip`].
pub(crate) const PER_IP: HttpRefusal = HttpRefusal {
    status: 429,
    reason: "too many connections from your address",
    header: Some("Retry-After: 5"),
};

const TOO_LARGE: HttpRefusal = HttpRefusal {
    status: 431,
    reason: "request head too large",
    header: None,
};

fn bad(reason: &'static str) -> HttpRefusal {
    HttpRefusal {
        status: 400,
        reason,
        header: None,
    }
}

impl HttpRefusal {
    /// The whole response.
    pub(crate) fn response(&self) -> Vec<u8> {
        let body = format!("{}\n", self.reason);
        let mut r = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
             Connection: close\r\n",
            self.status,
            status_text(self.status),
            body.len()
        );
        if let Some(h) = self.header {
            r.push_str(h);
            r.push_str("\r\n");
        }
        r.push_str("\r\n");
        r.push_str(&body);
        r.into_bytes()
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The length of the request head in `buf` (through the blank line), if complete.
/// `Err` if no complete head fits in [`MAX_HEAD`].
pub(crate) fn head_len(buf: &[u8]) -> Result<Option<usize>, HttpRefusal> {
    match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) if i + 4 <= MAX_HEAD => Ok(Some(i + 4)),
        Some(_) => Err(TOO_LARGE),
        None if buf.len() >= MAX_HEAD => Err(TOO_LARGE),
        None => Ok(None),
    }
}

/// Checks a complete request head the way tungstenite's server handshake will, so that a
/// request it would refuse gets an HTTP answer instead of a silent close.
pub(crate) fn check_upgrade(head: &[u8]) -> Result<(), HttpRefusal> {
    let text = std::str::from_utf8(head).map_err(|_| bad("malformed HTTP request"))?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let (method, _target, version) = (
        request_line.next().unwrap_or(""),
        request_line.next().unwrap_or(""),
        request_line.next().unwrap_or(""),
    );
    if !version.starts_with("HTTP/") || request_line.next().is_some() {
        return Err(bad("malformed HTTP request"));
    }
    if method != "GET" {
        return Err(HttpRefusal {
            status: 405,
            reason: "only GET with a websocket upgrade is served here",
            header: Some("Allow: GET"),
        });
    }
    if version != "HTTP/1.1" {
        return Err(bad("HTTP/1.1 websocket upgrade expected"));
    }
    let mut upgrade = None;
    let mut connection = None;
    let mut ws_version = None;
    let mut key = false;
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("malformed HTTP header"));
        };
        let value = value.trim();
        // tungstenite reads the first of repeated headers
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("connection") {
            connection.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            ws_version.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            key = true;
        }
    }
    let connection_upgrade = connection.is_some_and(|c| {
        c.split([' ', ','])
            .any(|p| p.eq_ignore_ascii_case("upgrade"))
    });
    if !upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(HttpRefusal {
            status: 426,
            reason: "this is a websocket endpoint: send a websocket upgrade request",
            header: Some("Upgrade: websocket\r\nConnection: Upgrade"),
        });
    }
    if !connection_upgrade {
        return Err(bad("websocket upgrade without \"Connection: Upgrade\""));
    }
    if ws_version != Some("13") {
        return Err(HttpRefusal {
            status: 426,
            reason: "websocket version 13 required",
            header: Some("Sec-WebSocket-Version: 13"),
        });
    }
    if !key {
        return Err(bad("websocket upgrade without Sec-WebSocket-Key"));
    }
    Ok(())
}

/// The first line of an error response body, trimmed and bounded (for dial errors).
pub(crate) fn reason_line(body: Option<&[u8]>) -> String {
    let text = String::from_utf8_lossy(body.unwrap_or_default());
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "GET / HTTP/1.1\r\nHost: h:1\r\nConnection: keep-alive, Upgrade\r\n\
        Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n\r\n";

    fn status(head: &str) -> u16 {
        check_upgrade(head.as_bytes()).map_or_else(|r| r.status, |()| 101)
    }

    #[test]
    fn upgrade_checks() {
        assert_eq!(status(GOOD), 101);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 426);
        assert_eq!(
            status(&GOOD.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8")),
            426
        );
        assert_eq!(status(&GOOD.replace("Sec-WebSocket-Key", "X-Key")), 400);
        assert_eq!(status(&GOOD.replace("keep-alive, Upgrade", "close")), 400);
        assert_eq!(status(&GOOD.replace("GET", "POST")), 405);
        assert_eq!(status(&GOOD.replace("HTTP/1.1", "HTTP/1.0")), 400);
        assert_eq!(status("\u{0}\u{1}\r\n\r\n"), 400);
        assert_eq!(status("GET /\r\n\r\n"), 400);
        assert_eq!(check_upgrade(&[0xff, 0xfe]).unwrap_err().status, 400);
    }

    #[test]
    fn head_bounds() {
        assert_eq!(head_len(GOOD.as_bytes()), Ok(Some(GOOD.len())));
        assert_eq!(head_len(b"GET / HTTP/1.1\r\n"), Ok(None));
        assert_eq!(head_len(&vec![b'a'; MAX_HEAD]).unwrap_err().status, 431);
    }

    #[test]
    fn responses_are_one_line_bodies() {
        let r = String::from_utf8(FULL.response()).unwrap();
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nserver at its connection limit, try again later\n"));
        assert!(r.contains("Content-Length: 48\r\n"), "{r}");
        assert_eq!(reason_line(Some(b"  too many\nsecond")), "too many");
        assert_eq!(reason_line(None), "");
    }
}
