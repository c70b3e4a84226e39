//! The wallet's loop: the downstream consumer and the upstream provider on one driver, the
//! decisions, the request map and the fee rule.
//!
//! **The fee rule.** A terminus debits `amount + its fee reserve` when a pay starts and,
//! when it succeeds, refunds the reserve minus the actual fee, then reports the balance
//! (after the preimage, in the same round); a failed pay is refunded in full. The wallet
//! groups overlapping pays into a *burst*: it opens when a pay is forwarded with none in
//! flight, keeping the downstream balance heard last (`base`), and closes at the first
//! balance update (`after`) once every pay of the burst was answered. Then
//! `Σ fees = base − after − Σ amounts of the succeeded pays`, exact when nothing else moved
//! the balance meanwhile. The wallet accepts it when the burst is *clean* (no incoming
//! payment or late preimage heard, no pay of unknown outcome) and `0 ≤ Σ fees ≤ Σ reserves`,
//! and splits it over the pays in proportion to their amounts (a lone pay gets exactly its
//! fee); otherwise every pay counts its whole fee reserve (an upper bound of what the
//! terminus may charge, if the wallet's reserve is at least the terminus's). Until its
//! burst closes a succeeded pay counts `amount + reserve`. A provider that reports the
//! balance *before* the preimage (a JavaScript provider app may: docs/quirks-js-peers.md)
//! sends no update after the last answer; when none comes within [`FEE_WAIT`], the balance
//! heard last while pays were open stands for `after` (the same checks apply: a balance that
//! does not yet show the pays gives no fee, and every pay counts its reserve).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use moneysocket_core::bolt11::Invoice;
use moneysocket_core::host::SessionId;
use moneysocket_core::message::{ProviderInfo, Wad};
use moneysocket_core::session::{ConsumerConfig, ProviderConfig, RequestFailure, RequestKind};
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{
    ConsumerEvent, Driver, DriverConfig, DriverEvent, FrameIo, ProviderEvent, SessionEvent,
};
use moneysocket_ws::TransportConfig;
use sha2::{Digest, Sha256};

use super::ledger::{hex, Limits, PayAsk, Refusal, WalletLedger};
use super::period::{utc_text, Window};
use super::{Upstream, WalletConfig, WalletError, WalletState};

/// How long a downstream request may take (pays route up to the terminus's pay timeout).
const DOWNSTREAM_TIMEOUT: Duration = Duration::from_secs(120);
/// Upstream requests outlive the downstream ones, so every upstream request is answered.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(130);
/// A settled pay whose balance update does not come in this time counts its reserve.
const FEE_WAIT: Duration = Duration::from_secs(10);
/// On stop, pays in flight get this long to answer.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A pay forwarded downstream.
#[derive(Debug, Clone)]
struct Flight {
    up_request: Uuid,
    row: i64,
    hash: [u8; 32],
    amount: u64,
    reserve: u64,
}

/// Overlapping pays whose fees are told together (the fee rule in the module docs).
#[derive(Debug, Default)]
struct Burst {
    /// The downstream balance heard last when its first pay was forwarded.
    base: Option<u64>,
    /// Pays forwarded and not answered yet.
    open: usize,
    /// Pays that succeeded.
    settled: Vec<Flight>,
    /// Something else moved the balance (see the fee rule).
    tainted: bool,
    /// When its last pay was answered.
    quiet_since: Option<StdInstant>,
    /// The downstream balance heard last while some of its pays were open, after its last
    /// forward (`after` when no update comes once all were answered).
    heard: Option<u64>,
}

/// A downstream request and the upstream one it answers.
#[derive(Debug, Clone)]
enum Forward {
    Pay(Flight),
    Invoice { up_request: Uuid, msats: u64 },
}

/// A running wallet's state (one thread). See the module docs of [`crate::wallet`].
pub struct Wallet {
    driver: Driver,
    ledger: WalletLedger,
    config: WalletConfig,
    anchor_ms: u64,
    account: Uuid,
    beacon: String,
    listening: Option<std::net::SocketAddr>,
    down: SessionId,
    up: SessionId,
    down_info: Option<(bool, bool)>,
    down_balance: Option<u64>,
    /// By downstream request uuid.
    forwarded: HashMap<Uuid, Forward>,
    /// The pays whose fees are not known yet.
    burst: Option<Burst>,
    window: Window,
    advertised: Option<u64>,
    dirty: bool,
    stopping: Option<StdInstant>,
    state: Arc<Mutex<WalletState>>,
    /// Why a dialed side is down (logged once per new reason).
    dial_errors: crate::dial_errors::DialErrors,
}

impl Wallet {
    /// Opens the ledger in `config.data_dir`, starts the downstream consumer and the
    /// upstream provider (listening or dialing).
    pub fn new(config: WalletConfig) -> Result<Wallet, WalletError> {
        if config.allowance_msat == 0 {
            return Err(WalletError::Config("the allowance must be above 0".into()));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            WalletError::Config(format!("data dir {}: {e}", config.data_dir.display()))
        })?;
        let mut ledger = WalletLedger::open(
            &config.data_dir.join("wallet.sqlite"),
            Arc::clone(&config.clock),
        )?;
        let id = ledger.identity()?;
        let mut driver: Driver = Driver::new(DriverConfig::default(), TransportConfig::default())?;
        if let Some(tls) = &config.tls {
            driver.io_mut().set_client_tls(Arc::clone(tls));
        }

        let down = driver.add_consumer(
            &config.downstream.shared_seed(),
            ConsumerConfig {
                request_timeout: DOWNSTREAM_TIMEOUT,
                ..ConsumerConfig::default()
            },
        );
        driver
            .connect_beacon(down, &config.downstream)
            .map_err(|e| WalletError::Config(format!("downstream beacon: {e}")))?;

        let provider = ProviderConfig {
            request_timeout: UPSTREAM_TIMEOUT,
            ..ProviderConfig::default()
        };
        let mut listening = None;
        let (up, beacon) = match &config.upstream {
            Upstream::Connect(b) => {
                let up = driver.add_provider(&b.shared_seed(), provider, Some(id.account));
                driver
                    .connect_beacon(up, b)
                    .map_err(|e| WalletError::Config(format!("upstream beacon: {e}")))?;
                (up, b.to_string())
            }
            Upstream::Listen {
                addr,
                external_url,
                tls,
            } => {
                let bound = driver.listen(*addr, tls.clone())?;
                listening = Some(bound);
                let scheme = if tls.is_some() { "wss" } else { "ws" };
                let url = external_url
                    .clone()
                    .unwrap_or_else(|| format!("{scheme}://{bound}"));
                let beacon = crate::beacons::at_url(id.seed, &url).map_err(WalletError::Config)?;
                let up = driver.add_provider(&id.seed, provider, Some(id.account));
                driver
                    .listen_session(up)
                    .map_err(|e| WalletError::Config(format!("listening session: {e}")))?;
                (up, beacon)
            }
        };
        let now = ledger.now_ms();
        let window = config.period.window(now, id.anchor_ms);
        let pending = ledger.pending_count()?;
        if pending > 0 {
            tracing::warn!(
                "{pending} pay(s) were in flight when the wallet stopped: they stay reserved \
                 until the downstream reports them"
            );
        }
        tracing::info!(
            account = %id.account,
            "wallet: allowance {} msat per {}, per-payment max {}; period from {}",
            config.allowance_msat,
            config.period,
            config
                .per_payment_max_msat
                .map_or("none".to_string(), |m| format!("{m} msat")),
            utc_text(window.start_ms)
        );
        let mut w = Wallet {
            driver,
            ledger,
            anchor_ms: id.anchor_ms,
            account: id.account,
            beacon,
            listening,
            down,
            up,
            down_info: None,
            down_balance: None,
            forwarded: HashMap::new(),
            burst: None,
            window,
            advertised: None,
            dirty: true,
            stopping: None,
            state: Arc::new(Mutex::new(WalletState::default())),
            dial_errors: crate::dial_errors::DialErrors::default(),
            config,
        };
        w.refresh();
        Ok(w)
    }

    /// The beacon an app uses to reach the wallet.
    pub fn upstream_beacon(&self) -> &str {
        &self.beacon
    }

    /// The address the wallet listens on for its app (with [`Upstream::Listen`]).
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        self.listening
    }

    /// The account uuid advertised upstream.
    pub fn account(&self) -> Uuid {
        self.account
    }

    /// The driver (e.g. to register a signal source in `io().transport().registry()`).
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// A waker of the loop (from any thread).
    pub fn waker(&mut self) -> std::io::Result<std::task::Waker> {
        self.driver.io_mut().waker()
    }

    /// The state snapshot, shared (updated after every poll round).
    pub fn shared_state(&self) -> Arc<Mutex<WalletState>> {
        Arc::clone(&self.state)
    }

    /// The state now.
    pub fn state(&self) -> WalletState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stops taking requests (they are refused) and gives pays in flight a few seconds.
    pub fn begin_stop(&mut self) {
        if self.stopping.is_none() {
            tracing::info!(
                "stopping ({} request(s) downstream under way)",
                self.forwarded.len()
            );
            self.stopping = Some(StdInstant::now() + STOP_GRACE);
        }
    }

    /// Whether [`begin_stop`](Self::begin_stop) was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_some()
    }

    /// Stopping, and nothing is left under way (or the grace ran out).
    pub fn is_done(&self) -> bool {
        match self.stopping {
            Some(at) => self.forwarded.is_empty() || StdInstant::now() >= at,
            None => false,
        }
    }

    /// One round of the loop (up to `timeout`, at most 250 ms so period boundaries are
    /// seen); events that are not the wallet's (the caller's user sources) are left in
    /// `events`.
    pub fn poll(
        &mut self,
        events: &mut Vec<DriverEvent>,
        timeout: Option<Duration>,
    ) -> std::io::Result<()> {
        let step = Duration::from_millis(250);
        let timeout = Some(timeout.map_or(step, |t| t.min(step)));
        self.driver.poll(events, timeout)?;
        let mut rest = Vec::new();
        for _ in 0..4 {
            // One commit for the round's decisions, before anything they allow is sent.
            self.ledger.begin_batch();
            for ev in events.drain(..) {
                if let Some(ev) = self.on_event(ev) {
                    rest.push(ev);
                }
            }
            self.expire_burst();
            self.refresh();
            if let Err(e) = self.ledger.end_batch() {
                tracing::error!("ledger commit failed: {e}");
            }
            self.driver.flush(events);
            if events.is_empty() {
                break;
            }
        }
        events.append(&mut rest);
        Ok(())
    }

    fn on_event(&mut self, ev: DriverEvent) -> Option<DriverEvent> {
        match ev {
            DriverEvent::Session { session, event } => match event {
                SessionEvent::Consumer(e) if session == self.down => self.on_downstream(e),
                SessionEvent::Provider(e) if session == self.up => self.on_upstream(e),
                _ => {}
            },
            DriverEvent::Connected { session, .. } => {
                tracing::debug!(%session, "connected");
                let side = self.side(session);
                self.dial_errors.connected(session, side);
            }
            DriverEvent::Disconnected {
                session,
                cause,
                retry_in,
            } => {
                let side = self.side(session);
                self.dial_errors.disconnected(
                    session,
                    side,
                    &cause,
                    retry_in,
                    "a private or self-signed certificate needs --ca-file or $SSL_CERT_FILE",
                );
                self.dirty = true;
            }
            DriverEvent::User { .. } => return Some(ev),
            _ => {}
        }
        None
    }

    /// How the log names a session of the wallet.
    fn side(&self, session: SessionId) -> &'static str {
        if session == self.down {
            "downstream"
        } else {
            "upstream"
        }
    }

    // ---- downstream: the terminus account ----

    fn on_downstream(&mut self, e: ConsumerEvent) {
        match e {
            ConsumerEvent::Provider(u) => {
                if self.down_info.is_none() {
                    tracing::info!(
                        "downstream ready: account {} balance {:?} msat",
                        u.account_uuid,
                        u.msats
                    );
                }
                self.down_info = Some((u.payer, u.payee));
                self.down_balance = u.msats;
                if let Some(b) = self.burst.as_mut().filter(|b| b.open > 0) {
                    b.heard = u.msats;
                }
                self.close_burst(u.msats);
                self.dirty = true;
            }
            ConsumerEvent::Preimage {
                request: Some(r),
                preimage,
            } if self.forwarded.contains_key(&r) => match self.forwarded.remove(&r) {
                Some(Forward::Pay(f)) => self.paid(f, &preimage),
                Some(Forward::Invoice { up_request, .. }) => {
                    tracing::warn!(
                        "downstream answered invoice request {up_request} with a preimage"
                    );
                    self.answer_error(up_request, "downstream answered with a preimage");
                }
                None => {}
            },
            ConsumerEvent::Preimage { preimage, .. } => self.unsolicited_preimage(&preimage),
            ConsumerEvent::Invoice { request, bolt11 } => match self.forwarded.remove(&request) {
                Some(Forward::Invoice { up_request, msats }) => {
                    match Invoice::parse(&bolt11) {
                        Ok(inv) => {
                            if let Err(e) =
                                self.ledger
                                    .add_invoice(inv.payment_hash(), up_request, msats)
                            {
                                tracing::error!("invoice not recorded: {e}");
                            }
                        }
                        Err(e) => tracing::warn!(
                            "downstream invoice does not decode ({e}): its payment will not be \
                             reported upstream"
                        ),
                    }
                    tracing::info!("invoice for {msats} msat forwarded upstream ({up_request})");
                    if let Err(e) = self.driver.send_invoice(self.up, up_request, &bolt11) {
                        tracing::info!("invoice not delivered upstream: {e}");
                    }
                }
                other => {
                    tracing::warn!("unexpected invoice for downstream request {request}");
                    if let Some(f) = other {
                        self.forwarded.insert(request, f);
                    }
                }
            },
            ConsumerEvent::Error {
                request: Some(r),
                message,
            } => match self.forwarded.remove(&r) {
                Some(Forward::Pay(f)) => {
                    tracing::info!(
                        "pay {} failed downstream: {message}; released {} msat",
                        f.up_request,
                        f.amount + f.reserve
                    );
                    if let Err(e) = self.ledger.fail(f.row, &message) {
                        tracing::error!("failure not recorded: {e}");
                    }
                    self.answered();
                    self.dirty = true;
                    self.answer_error(f.up_request, &message);
                }
                Some(Forward::Invoice { up_request, .. }) => {
                    tracing::info!("invoice request {up_request} refused downstream: {message}");
                    self.answer_error(up_request, &message);
                }
                None => tracing::info!("downstream error for {r}: {message}"),
            },
            ConsumerEvent::Error {
                request: None,
                message,
            } => tracing::warn!("downstream error: {message}"),
            ConsumerEvent::RequestFailed {
                request,
                kind,
                reason,
            } => self.request_failed(request, kind, reason),
            ConsumerEvent::Closed(reason) => {
                tracing::info!("downstream link closed: {reason}");
                self.dirty = true;
            }
            _ => {}
        }
    }

    /// A pay succeeded downstream.
    fn paid(&mut self, f: Flight, preimage: &[u8; 32]) {
        match self.ledger.succeed(f.row, preimage, None) {
            Ok(_) => {}
            Err(e) => tracing::error!("succeeded pay {} not recorded: {e}", hex(&f.hash)),
        }
        tracing::info!(
            "paid {} msat for {} (hash {})",
            f.amount,
            f.up_request,
            hex(&f.hash)
        );
        if let Err(e) = self
            .driver
            .send_preimage(self.up, Some(f.up_request), preimage)
        {
            // The app left (or its request expired): it hears the preimage unsolicited if it
            // is linked again.
            tracing::info!("preimage not delivered as the answer upstream: {e}");
            let _ = self.driver.send_preimage(self.up, None, preimage);
        }
        if let Some(b) = &mut self.burst {
            b.settled.push(f);
        }
        self.answered();
        self.dirty = true;
    }

    /// A pay of the burst was answered (success, failure or unknown).
    fn answered(&mut self) {
        if let Some(b) = &mut self.burst {
            b.open = b.open.saturating_sub(1);
            if b.open == 0 {
                b.quiet_since = Some(StdInstant::now());
            }
        }
    }

    /// The fee rule (module docs): the first balance update once every pay of the burst
    /// was answered closes it (`after`: `None` when none came in time).
    fn close_burst(&mut self, after: Option<u64>) {
        if self.burst.as_ref().is_none_or(|b| b.open > 0) {
            return;
        }
        let Some(b) = self.burst.take() else {
            return;
        };
        let pays: Vec<(u64, u64)> = b.settled.iter().map(|f| (f.amount, f.reserve)).collect();
        let base = if b.tainted { None } else { b.base };
        let fees = burst_fees(base, after, &pays);
        for (f, fee) in b.settled.iter().zip(fees.iter().copied()) {
            let observed = fee.is_some();
            let fee = fee.unwrap_or(f.reserve);
            if observed {
                tracing::info!(
                    "pay {}: fee {fee} msat; spent {} msat",
                    f.up_request,
                    f.amount + fee
                );
            } else {
                tracing::info!(
                    "pay {}: fee not observable (other balance changes meanwhile): the \
                     reserve {fee} msat counts; spent {} msat",
                    f.up_request,
                    f.amount + fee
                );
            }
            if let Err(e) = self.ledger.set_fee(f.row, fee) {
                tracing::error!("fee not recorded: {e}");
            }
        }
        self.dirty = true;
    }

    /// A burst whose balance update does not come after its last answer: the balance heard
    /// while its pays were open decides (the fee rule), or its pays count their reserves.
    fn expire_burst(&mut self) {
        let Some(b) = &self.burst else {
            return;
        };
        if b.quiet_since.is_some_and(|t| t.elapsed() >= FEE_WAIT) {
            let heard = b.heard;
            self.close_burst(heard);
        }
    }

    /// Something besides the burst's pays moved the downstream balance.
    fn taint_burst(&mut self) {
        if let Some(b) = &mut self.burst {
            b.tainted = true;
        }
    }

    fn unsolicited_preimage(&mut self, preimage: &[u8; 32]) {
        let hash: [u8; 32] = Sha256::digest(preimage).into();
        // A pay of ours answered to another session (ours timed out, or a restart).
        let ours = self
            .forwarded
            .iter()
            .find(|(_, f)| matches!(f, Forward::Pay(p) if p.hash == hash))
            .map(|(k, _)| *k);
        if let Some(Forward::Pay(f)) = ours.and_then(|k| self.forwarded.remove(&k)) {
            return self.paid(f, preimage);
        }
        // An incoming payment, or a pay of an earlier run: the balance moves besides the
        // burst's pays.
        self.taint_burst();
        match self.ledger.invoice_paid(&hash) {
            Ok(true) => {
                tracing::info!(
                    "upstream invoice paid (hash {}): preimage sent upstream",
                    hex(&hash)
                );
                if let Err(e) = self.driver.send_preimage(self.up, None, preimage) {
                    tracing::info!("preimage not delivered upstream: {e}");
                }
                return;
            }
            Ok(false) => {}
            Err(e) => tracing::error!("invoice lookup failed: {e}"),
        }
        match self.ledger.pending_by_hash(&hash) {
            Ok(Some(p)) => {
                // In flight when a reply was lost (restart, timeout): it succeeded. Its fee
                // cannot be told: the reserve counts.
                let _ = self
                    .ledger
                    .succeed(p.id, preimage, Some(p.fee_reserve_msat));
                tracing::info!(
                    "reconciled pay {} (hash {}): succeeded; spent {} msat (reserve as fee)",
                    p.id,
                    hex(&hash),
                    p.amount_msat + p.fee_reserve_msat
                );
                self.dirty = true;
            }
            Ok(None) => tracing::info!(
                "preimage for hash {} (not an invoice of the wallet's app): ignored",
                hex(&hash)
            ),
            Err(e) => tracing::error!("pending lookup failed: {e}"),
        }
    }

    fn request_failed(&mut self, request: Uuid, kind: RequestKind, reason: RequestFailure) {
        let why = match reason {
            RequestFailure::TimedOut => "did not answer in time",
            RequestFailure::LinkClosed => "link closed before it answered",
            _ => "did not answer",
        };
        match self.forwarded.remove(&request) {
            Some(Forward::Pay(f)) => {
                tracing::warn!(
                    "pay {} outcome unknown: downstream {why}; {} msat stay reserved until \
                     it reports",
                    f.up_request,
                    f.amount + f.reserve
                );
                self.taint_burst();
                self.answered();
                let text = format!(
                    "payment outcome unknown: the downstream provider {why} (the amount stays \
                     reserved until it reports)"
                );
                self.answer_error(f.up_request, &text);
            }
            Some(Forward::Invoice { up_request, .. }) => {
                let text = format!("no invoice: the downstream provider {why}");
                self.answer_error(up_request, &text);
            }
            None => tracing::debug!("downstream {kind:?} request {request} failed: {why}"),
        }
    }

    fn answer_error(&mut self, up_request: Uuid, text: &str) {
        if let Err(e) = self.driver.send_error(self.up, Some(up_request), text) {
            tracing::info!("error not delivered upstream: {e}");
        }
    }

    // ---- upstream: the app ----

    fn down_ready(&self) -> bool {
        self.down_info.is_some()
            && self
                .driver
                .host()
                .consumer(self.down)
                .is_some_and(|c| c.is_ready())
    }

    fn on_upstream(&mut self, e: ProviderEvent) {
        match e {
            ProviderEvent::InfoRequested => {
                tracing::debug!("app asked for provider info before the downstream was ready")
            }
            ProviderEvent::ConsumerReady => {
                tracing::info!("app connected upstream");
                self.dirty = true;
            }
            ProviderEvent::InvoiceRequested { request, msats } => {
                self.on_invoice_request(request, msats)
            }
            ProviderEvent::PayRequested { request, bolt11 } => {
                self.on_pay_request(request, &bolt11)
            }
            ProviderEvent::RequestExpired { request, kind }
            | ProviderEvent::RequestAbandoned { request, kind } => {
                tracing::info!("upstream {kind:?} request {request} left unanswered");
            }
            ProviderEvent::Closed(reason) => {
                tracing::info!("upstream link closed: {reason}");
                self.dirty = true;
            }
            _ => {}
        }
    }

    fn on_invoice_request(&mut self, request: Uuid, msats: u64) {
        if self.stopping.is_some() {
            return self.answer_error(request, "the wallet is stopping");
        }
        if !self.down_ready() {
            return self.answer_error(request, "the downstream account is not connected");
        }
        match self.driver.request_invoice(self.down, msats) {
            Ok(r) => {
                self.forwarded.insert(
                    r,
                    Forward::Invoice {
                        up_request: request,
                        msats,
                    },
                );
            }
            Err(e) => self.answer_error(request, &format!("invoice not requested: {e}")),
        }
    }

    fn on_pay_request(&mut self, request: Uuid, bolt11: &str) {
        if self.stopping.is_some() {
            return self.answer_error(request, "the wallet is stopping");
        }
        if !self.down_ready() {
            return self.refuse(request, bolt11, Refusal::DownstreamNotReady, true);
        }
        let (hash, amount) = match Invoice::parse(bolt11) {
            Ok(inv) => (Some(*inv.payment_hash()), inv.amount_msat()),
            Err(e) => {
                return self.refuse(
                    request,
                    bolt11,
                    Refusal::InvalidInvoice(e.to_string()),
                    true,
                )
            }
        };
        let reserve = amount.map_or(0, |a| self.config.fee_reserve(a));
        self.window = self.current_window();
        let limits = Limits {
            allowance_msat: self.config.allowance_msat,
            per_payment_max_msat: self.config.per_payment_max_msat,
            window: self.window,
        };
        let ask = PayAsk {
            request,
            bolt11,
            payment_hash: hash,
            amount_msat: amount,
            fee_reserve_msat: reserve,
        };
        let row = match self.ledger.decide(&ask, &limits) {
            Ok(Ok(row)) => row,
            Ok(Err(refusal)) => return self.refuse(request, bolt11, refusal, false),
            Err(e) => {
                tracing::error!("pay {request} not decided: {e}");
                return self.answer_error(request, "the wallet's ledger failed");
            }
        };
        let (Some(hash), Some(amount)) = (hash, amount) else {
            return; // decide refuses these
        };
        match self.driver.pay(self.down, bolt11) {
            Ok(r) => {
                tracing::info!(
                    "allowed pay {request}: {amount} msat + {reserve} msat fee reserve \
                     (hash {})",
                    hex(&hash)
                );
                self.forwarded.insert(
                    r,
                    Forward::Pay(Flight {
                        up_request: request,
                        row,
                        hash,
                        amount,
                        reserve,
                    }),
                );
                let base = self.down_balance;
                let b = self.burst.get_or_insert_with(|| Burst {
                    base,
                    ..Burst::default()
                });
                b.open += 1;
                b.quiet_since = None;
                // Only a balance heard after every forward can show every pay.
                b.heard = None;
            }
            Err(e) => {
                let text = format!("pay not forwarded: {e}");
                let _ = self.ledger.fail(row, &text);
                self.answer_error(request, &text);
            }
        }
        self.dirty = true;
    }

    fn refuse(&mut self, request: Uuid, bolt11: &str, refusal: Refusal, record: bool) {
        if record {
            if let Err(e) = self.ledger.record_refusal(request, bolt11, &refusal) {
                tracing::error!("refusal not recorded: {e}");
            }
        }
        let text = refusal.to_string();
        tracing::info!("refused pay {request}: {text}");
        self.answer_error(request, &text);
        self.dirty = true;
    }

    // ---- advertising ----

    fn current_window(&self) -> Window {
        self.config
            .period
            .window(self.ledger.now_ms(), self.anchor_ms)
    }

    /// Renewals, what is advertised upstream, the shared state.
    fn refresh(&mut self) {
        let window = self.current_window();
        if window != self.window {
            tracing::info!(
                "allowance renewed: {} msat for the period from {} to {}",
                self.config.allowance_msat,
                utc_text(window.start_ms),
                window.end_ms.map_or("never".into(), utc_text)
            );
            self.window = window;
            self.dirty = true;
        }
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let usage = match self.ledger.usage(&self.window) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!("usage not read: {e}");
                return;
            }
        };
        let left = self.config.allowance_msat.saturating_sub(usage.used());
        if let Some((payer, payee)) = self.down_info {
            let adv = self.down_balance.map_or(left, |b| b.min(left));
            if self.advertised != Some(adv) {
                let info = ProviderInfo {
                    account_uuid: self.account,
                    payer,
                    payee,
                    wad: Some(Wad::bitcoin(adv)),
                };
                match self.driver.set_provider_info(self.up, &info) {
                    Ok(()) => {
                        tracing::info!("advertising {adv} msat upstream ({left} msat left)");
                        self.advertised = Some(adv);
                    }
                    Err(e) => tracing::warn!("provider info not set: {e}"),
                }
            }
        }
        let (allowed, refusals) = self.ledger.counts();
        let state = WalletState {
            downstream_ready: self.down_ready(),
            downstream_balance_msat: self.down_balance,
            upstream_ready: self
                .driver
                .host()
                .provider(self.up)
                .is_some_and(|p| p.is_ready()),
            allowance_msat: self.config.allowance_msat,
            spent_msat: usage.spent_msat,
            reserved_msat: usage.reserved_msat,
            left_msat: left,
            advertised_msat: self.advertised,
            allowed,
            refusals,
            period_start_ms: self.window.start_ms,
            period_end_ms: self.window.end_ms,
        };
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }
}

/// The fee rule's arithmetic: the fees of a burst's succeeded pays `(amount, reserve)`
/// from the balance before it (`base`, `None` if tainted) and after it; `None` for every
/// pay when they cannot be told.
fn burst_fees(base: Option<u64>, after: Option<u64>, pays: &[(u64, u64)]) -> Vec<Option<u64>> {
    let amounts = pays.iter().fold(0u64, |s, p| s.saturating_add(p.0));
    let reserves = pays.iter().fold(0u64, |s, p| s.saturating_add(p.1));
    let total = match (base, after) {
        (Some(base), Some(after)) => base
            .checked_sub(after)
            .and_then(|d| d.checked_sub(amounts))
            .filter(|fees| *fees <= reserves),
        _ => None,
    };
    let Some(total) = total else {
        return vec![None; pays.len()];
    };
    let mut left = total;
    let n = pays.len();
    pays.iter()
        .enumerate()
        .map(|(i, (amount, _))| {
            // in proportion to the amounts; the last one takes the rounding
            let fee = if i + 1 < n && amounts > 0 {
                let share = u128::from(total) * u128::from(*amount) / u128::from(amounts);
                u64::try_from(share).unwrap_or(left).min(left)
            } else {
                left
            };
            left -= fee;
            Some(fee)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::burst_fees;

    #[test]
    fn fees_of_a_burst_are_exact_in_sum_or_the_reserves() {
        // one pay: exactly its fee
        assert_eq!(
            burst_fees(Some(100_000), Some(96_996), &[(3_000, 30_000)]),
            vec![Some(4)]
        );
        // two pays: split by amount, the sum exact
        assert_eq!(
            burst_fees(
                Some(10_000_000),
                Some(10_000_000 - 4_000_000 - 7),
                &[(1_000_000, 10_000), (3_000_000, 30_000)]
            ),
            vec![Some(1), Some(6)]
        );
        // an internal transfer: no fee
        assert_eq!(burst_fees(Some(10), Some(7), &[(3, 10)]), vec![Some(0)]);
        // tainted, more than the reserves, the balance grew, no update: not observable
        let none = vec![None, None];
        let pays = [(1_000, 10), (1_000, 10)];
        assert_eq!(burst_fees(None, Some(0), &pays), none);
        assert_eq!(burst_fees(Some(5_000), Some(2_000), &pays), none);
        assert_eq!(burst_fees(Some(5_000), Some(6_000), &pays), none);
        assert_eq!(burst_fees(Some(5_000), None, &pays), none);
        assert_eq!(
            burst_fees(Some(5_000), Some(5_000), &[]),
            Vec::<Option<u64>>::new()
        );
    }
}
