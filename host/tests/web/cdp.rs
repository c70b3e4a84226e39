//! A minimal Chrome DevTools Protocol client over tungstenite: headless Chromium started
//! with `--remote-debugging-port=0`, one page target, `Runtime.evaluate` and
//! `Page.captureScreenshot`. Every wait is bounded.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// Where Chromium is: `$CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// A headless Chromium, killed on drop.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    session: Option<String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts `chromium` headless with a fresh profile in `profile` (flags of the machine's
    /// doc: no sandbox as root, no background networking on a closed network).
    pub fn start(chromium: &Path, profile: &Path) -> Browser {
        std::fs::create_dir_all(profile).unwrap();
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes its port and browser target path once it listens.
        let file = profile.join("DevToolsActivePort");
        let until = Instant::now() + Duration::from_secs(30);
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let mut lines = text.lines();
                if let (Some(p), Some(path)) = (lines.next(), lines.next()) {
                    break (p.trim().to_owned(), path.trim().to_owned());
                }
            }
            assert!(
                Instant::now() < until,
                "chromium wrote no DevToolsActivePort"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let addr = format!("127.0.0.1:{port}");
        let tcp = TcpStream::connect(&addr).expect("devtools port");
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (ws, _) =
            tungstenite::client(format!("ws://{addr}{path}"), tcp).expect("devtools handshake");
        let mut b = Browser {
            child,
            ws,
            next_id: 0,
            session: None,
        };
        b.new_tab();
        b
    }

    /// Opens a new tab (about:blank) and makes it the current one; its session id.
    pub fn new_tab(&mut self) -> String {
        self.session = None;
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}))["targetId"]
            .as_str()
            .expect("targetId")
            .to_owned();
        let session = self.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        self.session = Some(session.clone());
        self.call("Page.enable", json!({}));
        session
    }

    /// Makes the tab of `session` the current one (commands go to it).
    pub fn switch(&mut self, session: &str) {
        self.session = Some(session.to_owned());
        self.call("Page.bringToFront", json!({}));
    }

    /// One command (on the page once attached); its `result`. Events are skipped.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("devtools send");
        loop {
            let m = self.ws.read().expect("devtools read");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).expect("devtools json");
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Opens `url` in the page (returns once navigation started).
    pub fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// The value of a JavaScript expression (JSON-able).
    pub fn eval(&mut self, expr: &str) -> Value {
        self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        )["result"]["value"]
            .clone()
    }

    /// Polls `expr` every 200 ms until `done` holds for it or `limit` passes; the last value.
    pub fn wait_for(
        &mut self,
        expr: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let until = Instant::now() + limit;
        loop {
            let v = self.eval(expr);
            if done(&v) || Instant::now() > until {
                return v;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A PNG screenshot of the page into `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let data = self.call("Page.captureScreenshot", json!({"format": "png"}))["data"]
            .as_str()
            .expect("screenshot data")
            .to_owned();
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }
}
