//! The wallet: a consumer of a terminus account downstream and a provider to an app
//! upstream, in one driver loop, that *enforces* an allowance per period (see
//! `docs/wallet.md`).
//!
//! * Upstream it stays `PROVIDER_NOT_READY` until the downstream provider info arrives, then
//!   advertises `min(allowance left, downstream balance)` under its own persistent account
//!   uuid, again whenever that changes (balance updates, spends, renewals).
//! * An upstream `REQUEST_PAY` is decided in one ledger transaction: refused (no amount,
//!   above the per-payment maximum, `amount + fee reserve` above what is left, the same
//!   invoice twice, downstream not connected) with a `NOTIFY_ERROR` that says why and
//!   never forwarded; or allowed, which reserves `amount + fee reserve` before it goes
//!   downstream. The outcome settles the row: the actual fee (observed from the downstream
//!   balance, see [`service`]) or released on failure.
//! * `REQUEST_INVOICE` is forwarded (receiving is not limited) and its payment hash kept,
//!   so the preimage of a paid upstream invoice is sent upstream.
//!
//! [`Wallet`] is the loop's state (for a daemon that owns the loop, as `moneysocket wallet`);
//! [`spawn`] runs one on its own thread and returns a [`WalletHandle`].

pub mod ledger;
pub mod period;
pub mod service;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use moneysocket_core::beacon::Beacon;

pub use ledger::{LedgerError, Refusal};
pub use period::{Period, PeriodError, Window};
pub use service::Wallet;

use crate::terminus::ledger::{system_clock, Clock};

/// Where the app meets the wallet.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Dial the locations of the app's beacon (a relay) as its provider.
    Connect(Box<Beacon>),
    /// Listen on this address; the wallet's beacon (its persistent seed) names
    /// `external_url` or, if `None`, `ws://` (`wss://` with `tls`) and the bound address.
    Listen {
        /// The address to bind (port 0: any).
        addr: SocketAddr,
        /// The websocket URL written into the beacon.
        external_url: Option<String>,
        /// Serve `wss` with this certificate (`moneysocket_ws::tls::server_config`).
        tls: Option<Arc<moneysocket_ws::tls::ServerConfig>>,
    },
}

/// What a wallet runs with.
#[derive(Clone)]
pub struct WalletConfig {
    /// The terminus account's beacon (the wallet is its consumer).
    pub downstream: Beacon,
    /// Where the app is.
    pub upstream: Upstream,
    /// Allowance per period, msat.
    pub allowance_msat: u64,
    /// Largest invoice amount of one pay, msat.
    pub per_payment_max_msat: Option<u64>,
    /// When the allowance renews.
    pub period: Period,
    /// Where the ledger (`wallet.sqlite`, with the identity) lives.
    pub data_dir: PathBuf,
    /// Fee reserve per pay: `max(amount × ppm / 1e6, min)` (the terminus's default:
    /// 10,000 ppm, 10,000 msat). Keep it at least the downstream's fee limit.
    pub fee_reserve_ppm: u64,
    /// The fee reserve's floor, msat.
    pub fee_reserve_min_msat: u64,
    /// Unix milliseconds (injectable for tests).
    pub clock: Clock,
    /// TLS of `wss://` dials (downstream, and upstream with [`Upstream::Connect`]); `None`:
    /// the webpki roots (`moneysocket_host::trust`).
    pub tls: Option<Arc<moneysocket_ws::tls::ClientConfig>>,
}

impl WalletConfig {
    /// A configuration with the default fee reserve, the system clock and no per-payment
    /// maximum.
    pub fn new(
        downstream: Beacon,
        upstream: Upstream,
        allowance_msat: u64,
        period: Period,
        data_dir: PathBuf,
    ) -> Self {
        WalletConfig {
            downstream,
            upstream,
            allowance_msat,
            per_payment_max_msat: None,
            period,
            data_dir,
            fee_reserve_ppm: 10_000,
            fee_reserve_min_msat: 10_000,
            clock: system_clock(),
            tls: None,
        }
    }

    /// The fee reserve held with a pay of `amount` msat.
    pub fn fee_reserve(&self, amount: u64) -> u64 {
        let ppm = u128::from(amount) * u128::from(self.fee_reserve_ppm) / 1_000_000;
        u64::try_from(ppm)
            .unwrap_or(u64::MAX)
            .max(self.fee_reserve_min_msat)
    }
}

impl fmt::Debug for WalletConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletConfig")
            .field("upstream", &self.upstream)
            .field("allowance_msat", &self.allowance_msat)
            .field("per_payment_max_msat", &self.per_payment_max_msat)
            .field("period", &self.period)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Why a wallet could not start or run.
#[derive(Debug)]
#[non_exhaustive]
pub enum WalletError {
    /// The ledger failed.
    Ledger(LedgerError),
    /// Sockets, the event loop, the data dir.
    Io(std::io::Error),
    /// A configuration value is unusable (the text says which).
    Config(String),
    /// The wallet's thread ended abnormally.
    Thread(String),
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalletError::Ledger(e) => write!(f, "{e}"),
            WalletError::Io(e) => write!(f, "wallet: {e}"),
            WalletError::Config(t) => write!(f, "wallet configuration: {t}"),
            WalletError::Thread(t) => write!(f, "wallet thread: {t}"),
        }
    }
}

impl std::error::Error for WalletError {}

impl From<LedgerError> for WalletError {
    fn from(e: LedgerError) -> Self {
        WalletError::Ledger(e)
    }
}

impl From<std::io::Error> for WalletError {
    fn from(e: std::io::Error) -> Self {
        WalletError::Io(e)
    }
}

/// A snapshot of the wallet (all amounts msat).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletState {
    /// The downstream provider info arrived (and the link is up).
    pub downstream_ready: bool,
    /// The downstream account's last reported balance.
    pub downstream_balance_msat: Option<u64>,
    /// An app is connected upstream and has the provider info.
    pub upstream_ready: bool,
    /// The allowance per period.
    pub allowance_msat: u64,
    /// Spent in this period: succeeded pays, amount + fee.
    pub spent_msat: u64,
    /// Reserved in this period: pays in flight (or of unknown outcome), amount + reserve.
    pub reserved_msat: u64,
    /// What is left of the allowance.
    pub left_msat: u64,
    /// What is advertised upstream (`None`: nothing yet, the app hears not ready).
    pub advertised_msat: Option<u64>,
    /// Pays allowed, in all (the ledger's count).
    pub allowed: u64,
    /// Pays refused, in all (the ledger's count).
    pub refusals: u64,
    /// The current period's window.
    pub period_start_ms: u64,
    /// Its end (`None`: never).
    pub period_end_ms: Option<u64>,
}

/// A wallet running on its own thread ([`spawn`]). Dropping it stops the wallet.
pub struct WalletHandle {
    beacon: String,
    listen: Option<SocketAddr>,
    state: Arc<Mutex<WalletState>>,
    stop: Arc<AtomicBool>,
    waker: std::task::Waker,
    thread: Option<JoinHandle<Result<(), WalletError>>>,
}

impl WalletHandle {
    /// The beacon an app uses to reach the wallet (the configured one with `Connect`).
    pub fn upstream_beacon(&self) -> &str {
        &self.beacon
    }

    /// Where the wallet listens for its app (with [`Upstream::Listen`]).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen
    }

    /// The wallet's state now.
    pub fn state(&self) -> WalletState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Polls [`state`](Self::state) until `f` holds or `timeout` passes; the last state.
    pub fn wait_for(
        &self,
        timeout: Duration,
        f: impl Fn(&WalletState) -> bool,
    ) -> Result<WalletState, WalletState> {
        let until = std::time::Instant::now() + timeout;
        loop {
            let s = self.state();
            if f(&s) {
                return Ok(s);
            }
            if std::time::Instant::now() >= until {
                return Err(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the wallet (pays in flight get a few seconds to answer) and waits for its
    /// thread.
    pub fn stop(mut self) -> Result<(), WalletError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), WalletError> {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake_by_ref();
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| WalletError::Thread("panicked".into()))?,
            None => Ok(()),
        }
    }
}

impl Drop for WalletHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Starts a wallet on its own thread: returns once it listens/dials (an error if it
/// cannot start), with a handle to read its state and stop it.
pub fn spawn(config: WalletConfig) -> Result<WalletHandle, WalletError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("moneysocket-wallet".into())
        .spawn(move || -> Result<(), WalletError> {
            let mut wallet = match Wallet::new(config) {
                Ok(w) => w,
                Err(e) => {
                    let text = e.to_string();
                    let _ = tx.send(Err(e));
                    return Err(WalletError::Thread(text));
                }
            };
            let waker = wallet.waker()?;
            let _ = tx.send(Ok((
                wallet.upstream_beacon().to_owned(),
                wallet.listen_addr(),
                wallet.shared_state(),
                waker,
            )));
            let mut events = Vec::new();
            loop {
                if stop2.load(Ordering::SeqCst) && !wallet.is_stopping() {
                    wallet.begin_stop();
                }
                if wallet.is_done() {
                    return Ok(());
                }
                wallet.poll(&mut events, Some(Duration::from_millis(250)))?;
                events.clear();
            }
        })?;
    match rx.recv() {
        Ok(Ok((beacon, listen, state, waker))) => Ok(WalletHandle {
            beacon,
            listen,
            state,
            stop,
            waker,
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => Err(match thread.join() {
            Ok(Err(e)) => e,
            _ => WalletError::Thread("ended before it started".into()),
        }),
    }
}
