//! The demo's terminus: the daemon's service (`cmd::terminus::start_terminus`) on its
//! simulated node, on a thread of this process, controlled through the same verbs as
//! `terminus-cli` (sent over a channel instead of HTTP).

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use moneysocket_host::terminus::config::TerminusConfig;
use moneysocket_host::terminus::control::ControlHandler;
use moneysocket_host::terminus::ledger::Ledger;
use serde_json::{json, Value};

use crate::cmd::terminus::{open_simnodes, start_terminus};

type Reply = mpsc::Sender<Result<Value, String>>;

enum Msg {
    Call(String, Value, Reply),
    Stop,
}

/// A terminus running on its own thread.
pub struct TerminusThread {
    /// The URL its beacons carry (its websocket listener).
    pub url: String,
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

/// How often the terminus loop looks at its channel when nothing else happens.
const TICK: Duration = Duration::from_millis(20);

impl TerminusThread {
    /// Opens the ledger and the simulated node under `dir`, binds a listener on loopback
    /// (any free port) and starts serving.
    pub fn spawn(dir: &Path) -> Result<TerminusThread, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cfg = TerminusConfig::default();
        cfg.listen.bind = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
        let dir = dir.to_path_buf();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("terminus".into())
            .spawn(move || {
                let started = Ledger::open(&dir.join("ledger.sqlite"))
                    .map_err(|e| format!("ledger: {e}"))
                    .and_then(|ledger| {
                        let (node, _peers) = open_simnodes(&cfg, &dir)?;
                        start_terminus(&cfg, ledger, node)
                    });
                let mut started = match started {
                    Ok(s) => {
                        let _ = ready_tx.send(Ok(s.external_url.clone()));
                        s
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut events = Vec::new();
                loop {
                    if started.terminus.poll(&mut events, Some(TICK)).is_err() {
                        return;
                    }
                    events.clear();
                    loop {
                        match rx.try_recv() {
                            Ok(Msg::Call(method, params, reply)) => {
                                let r = started
                                    .terminus
                                    .call(&method, &params)
                                    .map_err(|e| e.to_string());
                                let _ = reply.send(r);
                            }
                            Ok(Msg::Stop) | Err(mpsc::TryRecvError::Disconnected) => {
                                started.terminus.stop();
                                return;
                            }
                            Err(mpsc::TryRecvError::Empty) => break,
                        }
                    }
                }
            })
            .map_err(|e| format!("terminus thread: {e}"))?;
        let url = ready_rx
            .recv()
            .map_err(|_| "terminus thread ended before listening".to_string())??;
        Ok(TerminusThread {
            url,
            tx,
            thread: Some(thread),
        })
    }

    /// Runs a control verb (as `terminus-cli` would) and returns its JSON result.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Msg::Call(method.into(), params, reply))
            .map_err(|_| "the terminus stopped".to_string())?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("the terminus did not answer {method}"))?
            .map_err(|e| format!("terminus {method}: {e}"))
    }

    /// Creates an account holding `msats` from the node's balance; its name is `base`
    /// with a number (`seller-0`), as `terminus-cli create -a base` names it.
    pub fn create(&self, base: &str, msats: u64) -> Result<String, String> {
        let v = self.call("create", json!({ "name": base, "msats": msats }))?;
        v["name"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "terminus create: no name in the answer".into())
    }

    /// A new beacon for `account`, served at the terminus's own listener.
    pub fn listen(&self, account: &str) -> Result<String, String> {
        let v = self.call("listen", json!({ "account": account }))?;
        v["beacon"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "terminus listen: no beacon in the answer".into())
    }

    /// The balance of `account`, msat, from the ledger.
    pub fn balance(&self, account: &str) -> Result<u64, String> {
        let v = self.call("getaccountinfo", json!({ "accounts": [account] }))?;
        v["accounts"][0]["msats"]
            .as_u64()
            .ok_or_else(|| format!("terminus getaccountinfo: no balance for {account}"))
    }

    /// Whether the ledger's invariant holds (`check`).
    pub fn check(&self) -> Result<Value, String> {
        self.call("check", json!({}))
    }
}

impl Drop for TerminusThread {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
