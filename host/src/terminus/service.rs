//! The terminus at run time: every account served as provider sessions on the session
//! driver, requests answered from the ledger and the Lightning node. Policy only: the
//! sessions, the matchmaker, the rendezvous and the event loop are the driver's.
//!
//! Money moves only through the ledger, one transaction per change together with the
//! record that explains it. Node calls (which may block for a minute) run as driver jobs,
//! never on the loop. The settlement stream is a chain of jobs, each waiting a little for
//! the node's next settled invoices and resuming from the last index the ledger stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moneysocket_core::beacon::{v0, Beacon, WebSocket};
use moneysocket_core::bolt11::Invoice;
use moneysocket_core::host::SessionId;
use moneysocket_core::message::{ProviderInfo, Wad};
use moneysocket_core::seed::SharedSeed;
use moneysocket_core::session::{ProviderConfig, ProviderEvent};
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{Driver, DriverEvent, JobId, JobOutput, SessionEvent, WsIo};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use super::ledger::{self, Ledger};
use super::node::{CreatedInvoice, InvoiceRequest, Node, NodeError, Paid, SettledInvoice};

/// Consumer-facing error texts. The first ones are the reference's (consumers may match on
/// them, the misspelling included); the rest are ours, one per distinct cause.
pub mod errors {
    /// `REQUEST_PAY` of an invoice without an amount.
    pub const NO_AMOUNT: &str = "bolt11 does not specify amount";
    /// Balance below amount + fee reserve.
    pub const INSUFFICIENT: &str = "insufficent account balance";
    /// An invoice would take the account (with its open invoices) over its cap.
    pub const CAP: &str = "account cap exceeded";
    /// The node could not create the invoice.
    pub const INVOICE_PREFIX: &str = "get invoice error: ";
    /// No route to the payee.
    pub const NO_ROUTE: &str = "no route";
    /// The invoice expired.
    pub const EXPIRED: &str = "invoice expired";
    /// The invoice was already paid.
    pub const ALREADY_PAID: &str = "invoice already paid";
    /// This pay request was already handled.
    pub const ALREADY_REQUESTED: &str = "pay request already handled";
    /// Every route costs more than the fee limit.
    pub const FEE_LIMIT: &str = "fee limit exceeded";
    /// The node is not reachable or not ready.
    pub const NODE_UNAVAILABLE: &str = "node unavailable";
    /// The payment did not complete in time (nothing was paid).
    pub const TIMED_OUT: &str = "payment timed out";
    /// The invoice does not decode or is for another network.
    pub const INVALID_INVOICE: &str = "invalid invoice";
    /// Any other node failure.
    pub const PAY_PREFIX: &str = "pay exception: ";
}

/// Terminus policy knobs (from the configuration).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Fee reserve per payment: `max(amount × ppm / 1e6, min)`.
    pub fee_limit_ppm: u64,
    /// The reserve's floor, msat.
    pub fee_limit_min_msat: u64,
    /// Invoice expiry.
    pub invoice_expiry: Duration,
    /// How long a payment may route.
    pub pay_timeout: Duration,
    /// The host and port written into `listen` beacons (`ws[s]://host:port`).
    pub external_url: String,
}

impl Policy {
    /// The fee reserve for a payment of `amount` msat.
    pub fn fee_reserve(&self, amount: u64) -> u64 {
        let ppm = u128::from(amount) * u128::from(self.fee_limit_ppm) / 1_000_000;
        u64::try_from(ppm)
            .unwrap_or(u64::MAX)
            .max(self.fee_limit_min_msat)
    }
}

/// What a finished node job brings back.
enum Job {
    Invoice {
        session: SessionId,
        request: Uuid,
        account: Uuid,
        preimage: [u8; 32],
        result: Result<CreatedInvoice, NodeError>,
    },
    Pay {
        session: SessionId,
        request: Uuid,
        account: Uuid,
        hash: [u8; 32],
        result: Result<Paid, NodeError>,
    },
    Settled(Result<Vec<SettledInvoice>, NodeError>),
}

/// The terminus: ledger, node, driver and the sessions of every account.
pub struct Terminus<N: Node> {
    driver: Driver<WsIo>,
    ledger: Ledger,
    node: Arc<N>,
    policy: Policy,
    /// Node jobs under way, by id.
    jobs: HashMap<JobId, ()>,
    /// Which account each provider session serves.
    sessions: HashMap<SessionId, Uuid>,
    /// Listen seeds and connect beacons (as seeds) → their session.
    by_seed: HashMap<[u8; 16], SessionId>,
    settlement_running: bool,
}

impl<N: Node> Terminus<N> {
    /// A terminus over an open ledger, a node and a driver already listening.
    pub fn new(driver: Driver<WsIo>, ledger: Ledger, node: Arc<N>, policy: Policy) -> Self {
        Terminus {
            driver,
            ledger,
            node,
            policy,
            jobs: HashMap::new(),
            sessions: HashMap::new(),
            by_seed: HashMap::new(),
            settlement_running: false,
        }
    }

    /// The driver (for the daemon's own sources: control server, signals).
    pub fn driver_mut(&mut self) -> &mut Driver<WsIo> {
        &mut self.driver
    }

    /// The ledger (for control verbs that only read or change bookkeeping).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Starts serving every stored account: its listen seeds wait in the driver's
    /// matchmaker, its beacons are dialed; the settlement stream starts.
    pub fn start(&mut self) -> Result<(), String> {
        let accounts = self.ledger.accounts().map_err(|e| e.to_string())?;
        for a in accounts {
            for seed in &a.seeds {
                let seed = SharedSeed::from_hex(seed).map_err(|e| format!("{}: {e}", a.name))?;
                self.serve_listen(a.uuid, &seed)?;
            }
            for beacon in &a.beacons {
                let b = Beacon::decode(beacon).map_err(|e| format!("{}: {e}", a.name))?;
                self.serve_connect(a.uuid, &b)?;
            }
        }
        self.spawn_settlement();
        Ok(())
    }

    /// Serves `account` on a new listen seed: returns the beacon pointing at this terminus.
    pub fn listen(&mut self, account: Uuid, seed: Option<SharedSeed>) -> Result<String, String> {
        let seed = seed.unwrap_or_else(|| SharedSeed::generate(&mut OsRng));
        if self.by_seed.contains_key(seed.as_bytes()) {
            return Err("seed already in use".into());
        }
        let ws = WebSocket::parse_url(&self.policy.external_url)
            .map_err(|e| format!("external url {}: {e}", self.policy.external_url))?;
        let mut b = v0::Beacon::new(seed.clone());
        b.push_websocket(ws).map_err(|e| e.to_string())?;
        let beacon: Beacon = b.into();
        self.ledger
            .add_seed(&account, &seed.to_hex())
            .map_err(|e| e.to_string())?;
        self.serve_listen(account, &seed)?;
        Ok(beacon.to_string())
    }

    /// Serves `account` on a beacon made elsewhere: dials its websocket locations.
    pub fn connect(&mut self, account: Uuid, beacon: &str) -> Result<(), String> {
        let b = Beacon::decode(beacon).map_err(|e| format!("could not decode beacon: {e}"))?;
        if b.first_websocket().is_none() {
            return Err("can't connect to beacon location".into());
        }
        if self.by_seed.contains_key(b.shared_seed().as_bytes()) {
            return Err("beacon already connected".into());
        }
        self.ledger
            .add_beacon(&account, beacon)
            .map_err(|e| e.to_string())?;
        self.serve_connect(account, &b)
    }

    /// Stops serving one seed (a listen seed or a beacon's).
    pub fn disconnect(&mut self, account: Uuid, seed: &SharedSeed, beacon: Option<&str>) -> Result<(), String> {
        match beacon {
            Some(b) => self.ledger.remove_beacon(&account, b),
            None => self.ledger.remove_seed(&account, &seed.to_hex()),
        }
        .map_err(|e| e.to_string())?;
        if let Some(s) = self.by_seed.remove(seed.as_bytes()) {
            self.sessions.remove(&s);
            let _ = self.driver.remove(s);
        }
        Ok(())
    }

    /// Runs one round of the loop; `events` is scratch space.
    pub fn poll(&mut self, events: &mut Vec<DriverEvent>, timeout: Option<Duration>) -> std::io::Result<()> {
        self.driver.poll(events, timeout)?;
        for ev in events.drain(..) {
            self.on_event(ev);
        }
        Ok(())
    }

    /// Handles one driver event (the daemon passes the ones it does not handle itself).
    pub fn on_event(&mut self, ev: DriverEvent) {
        match ev {
            DriverEvent::Session {
                session,
                event: SessionEvent::Provider(e),
            } => self.on_provider(session, e),
            DriverEvent::Job { job, result } => {
                self.jobs.remove(&job);
                match result {
                    Ok(out) => self.on_job(out),
                    Err(p) => tracing::error!("node job panicked: {:?}", p.0),
                }
            }
            _ => {}
        }
    }

    // ---- serving ----

    fn provider_config(&self) -> ProviderConfig {
        ProviderConfig {
            request_timeout: self.policy.pay_timeout + Duration::from_secs(30),
            ..ProviderConfig::default()
        }
    }

    fn serve_listen(&mut self, account: Uuid, seed: &SharedSeed) -> Result<(), String> {
        let s = self
            .driver
            .add_provider(seed, self.provider_config(), Some(account));
        self.place(s, account, seed)?;
        self.driver.listen_session(s).map_err(|e| e.to_string())
    }

    fn serve_connect(&mut self, account: Uuid, beacon: &Beacon) -> Result<(), String> {
        let seed = beacon.shared_seed();
        let s = self
            .driver
            .add_provider(&seed, self.provider_config(), Some(account));
        self.place(s, account, &seed)?;
        self.driver
            .connect_beacon(s, beacon)
            .map_err(|e| format!("can't connect to beacon location: {e}"))
    }

    fn place(&mut self, s: SessionId, account: Uuid, seed: &SharedSeed) -> Result<(), String> {
        self.sessions.insert(s, account);
        self.by_seed.insert(*seed.as_bytes(), s);
        let info = self.info(account).map_err(|e| e.to_string())?;
        self.driver
            .set_provider_info(s, &info_of(account, info))
            .map_err(|e| e.to_string())
    }

    fn info(&self, account: Uuid) -> Result<u64, ledger::LedgerError> {
        Ok(self.ledger.account_by_uuid(&account)?.msats)
    }

    /// Sends the account's balance to every one of its sessions.
    fn fan_out_balance(&mut self, account: Uuid) {
        match self.info(account) {
            Ok(msats) => {
                let now = self.driver.now();
                self.driver
                    .host_mut()
                    .set_account_info(&account, &info_of(account, msats), now);
            }
            Err(e) => tracing::error!(%account, "balance not read: {e}"),
        }
    }

    fn on_provider(&mut self, session: SessionId, e: ProviderEvent<String>) {
        let Some(&account) = self.sessions.get(&session) else {
            return;
        };
        match e {
            ProviderEvent::InvoiceRequested { request, msats } => {
                self.on_invoice_request(session, account, request, msats)
            }
            ProviderEvent::PayRequested { request, bolt11 } => {
                self.on_pay_request(session, account, request, &bolt11)
            }
            ProviderEvent::ConsumerReady => {
                let _ = self.ledger.append_receipt(&account, "session_start", serde_json::json!({}));
            }
            ProviderEvent::Closed(reason) => {
                let _ = self.ledger.append_receipt(
                    &account,
                    "session_end",
                    serde_json::json!({ "reason": reason.to_string() }),
                );
            }
            ProviderEvent::RequestAbandoned { request, kind } | ProviderEvent::RequestExpired { request, kind } => {
                // A payment under way still completes and is recorded by its job.
                tracing::info!(%account, ?kind, "request {request} left unanswered");
            }
            _ => {}
        }
    }

    fn answer_error(&mut self, session: SessionId, account: Uuid, request: Uuid, text: &str) {
        let _ = self
            .ledger
            .append_receipt(&account, "error_notified", serde_json::json!({ "error": text }));
        if let Err(e) = self.driver.send_error(session, Some(request), text) {
            tracing::debug!("error not delivered: {e}");
        }
    }

    fn on_invoice_request(&mut self, session: SessionId, account: Uuid, request: Uuid, msats: u64) {
        let _ = self.ledger.append_receipt(
            &account,
            "invoice_request",
            serde_json::json!({ "msats": msats }),
        );
        if let Err(e) = self.ledger.check_cap(&account, msats) {
            let text = match e {
                ledger::LedgerError::CapExceeded { .. } => errors::CAP.to_string(),
                e => e.to_string(),
            };
            return self.answer_error(session, account, request, &text);
        }
        let mut preimage = [0u8; 32];
        OsRng.fill_bytes(&mut preimage);
        let req = InvoiceRequest {
            msats,
            expiry: self.policy.invoice_expiry,
            memo: String::new(),
            description_hash: None,
            preimage: Some(preimage),
        };
        let node = Arc::clone(&self.node);
        let spawned = self.driver.spawn(move || Job::Invoice {
            session,
            request,
            account,
            preimage,
            result: node.create_invoice(&req),
        });
        match spawned {
            Ok(id) => {
                self.jobs.insert(id, ());
            }
            Err(e) => self.answer_error(session, account, request, &format!("{}{e}", errors::INVOICE_PREFIX)),
        }
    }

    fn on_pay_request(&mut self, session: SessionId, account: Uuid, request: Uuid, bolt11: &str) {
        let _ = self.ledger.append_receipt(
            &account,
            "pay_request",
            serde_json::json!({ "bolt11": bolt11 }),
        );
        let invoice = match Invoice::parse(bolt11) {
            Ok(i) => i,
            Err(e) => {
                return self.answer_error(session, account, request, &format!("{}: {e}", errors::INVALID_INVOICE))
            }
        };
        let Some(amount) = invoice.amount_msat() else {
            return self.answer_error(session, account, request, errors::NO_AMOUNT);
        };
        let hash = *invoice.payment_hash();
        // An invoice of this terminus: settled between the two accounts, without the node.
        match self.ledger.internal_transfer(&account, &request, &hash, amount) {
            Ok(Some(t)) => {
                self.answer_preimage(session, account, request, &t.preimage);
                self.notify_payee(t.payee, &t.preimage);
                return;
            }
            Ok(None) => {}
            Err(e) => return self.answer_error(session, account, request, &pay_refusal(&e)),
        }
        let reserve = self.policy.fee_reserve(amount);
        if let Err(e) = self
            .ledger
            .begin_pay(&account, &request, bolt11, &hash, amount, reserve)
        {
            return self.answer_error(session, account, request, &pay_refusal(&e));
        }
        self.fan_out_balance(account);
        let node = Arc::clone(&self.node);
        let bolt11 = bolt11.to_string();
        let timeout = self.policy.pay_timeout;
        let spawned = self.driver.spawn(move || Job::Pay {
            session,
            request,
            account,
            hash,
            result: node.pay(&bolt11, reserve, timeout),
        });
        match spawned {
            Ok(id) => {
                self.jobs.insert(id, ());
            }
            Err(_) => self.finish_pay(session, request, account, hash, Err(NodeError::Unavailable("too many payments under way".into()))),
        }
    }

    fn answer_preimage(&mut self, session: SessionId, account: Uuid, request: Uuid, preimage: &[u8; 32]) {
        let _ = self.ledger.append_receipt(
            &account,
            "preimage_notified",
            serde_json::json!({ "preimage": hex(preimage), "increment": false }),
        );
        if let Err(e) = self.driver.send_preimage(session, Some(request), preimage) {
            tracing::debug!("preimage not delivered: {e}");
        }
        self.fan_out_balance(account);
    }

    /// An invoice of `account` was paid: every session hears the preimage and the balance.
    fn notify_payee(&mut self, account: Uuid, preimage: &[u8; 32]) {
        let _ = self.ledger.append_receipt(
            &account,
            "preimage_notified",
            serde_json::json!({ "preimage": hex(preimage), "increment": true }),
        );
        let sessions: Vec<SessionId> = self.driver.host().account_sessions(&account).collect();
        for s in sessions {
            let _ = self.driver.send_preimage(s, None, preimage);
        }
        self.fan_out_balance(account);
    }

    fn finish_pay(&mut self, session: SessionId, request: Uuid, account: Uuid, hash: [u8; 32], result: Result<Paid, NodeError>) {
        match result {
            Ok(paid) => match self.ledger.finish_pay_success(&hash, paid.fee_msat, &paid.preimage) {
                Ok(()) => self.answer_preimage(session, account, request, &paid.preimage),
                Err(e) => tracing::error!(%account, "payment {} succeeded but was not recorded: {e}", hex(&hash)),
            },
            Err(e) => {
                if let Err(le) = self.ledger.finish_pay_failure(&hash, &e.to_string()) {
                    tracing::error!(%account, "failed payment {} not refunded: {le}", hex(&hash));
                }
                self.fan_out_balance(account);
                self.answer_error(session, account, request, &node_refusal(&e));
            }
        }
    }

    // ---- jobs ----

    fn on_job(&mut self, out: JobOutput) {
        let Ok(job) = out.take::<Job>() else {
            return;
        };
        match job {
            Job::Invoice { session, request, account, preimage, result } => match result {
                Ok(inv) => {
                    let recorded = self.ledger.record_invoice(
                        &account,
                        &inv.payment_hash,
                        &inv.bolt11,
                        &preimage,
                        inv.expires_at,
                        &request,
                    );
                    match recorded {
                        Ok(_) => {
                            let _ = self.ledger.append_receipt(
                                &account,
                                "invoice_notified",
                                serde_json::json!({ "bolt11": inv.bolt11 }),
                            );
                            if let Err(e) = self.driver.send_invoice(session, request, &inv.bolt11) {
                                tracing::debug!("invoice not delivered: {e}");
                            }
                        }
                        Err(ledger::LedgerError::CapExceeded { .. }) => {
                            let _ = self.node.cancel_invoice(&inv.payment_hash);
                            self.answer_error(session, account, request, errors::CAP)
                        }
                        Err(e) => self.answer_error(session, account, request, &format!("{}{e}", errors::INVOICE_PREFIX)),
                    }
                }
                Err(e) => self.answer_error(session, account, request, &format!("{}{e}", errors::INVOICE_PREFIX)),
            },
            Job::Pay { session, request, account, hash, result } => {
                self.finish_pay(session, request, account, hash, result)
            }
            Job::Settled(result) => {
                self.settlement_running = false;
                match result {
                    Ok(list) => {
                        for s in list {
                            self.on_settled(&s);
                        }
                    }
                    Err(e) => tracing::warn!("settlement stream: {e}"),
                }
                self.spawn_settlement();
            }
        }
    }

    fn on_settled(&mut self, s: &SettledInvoice) {
        match self
            .ledger
            .settle_invoice(&s.payment_hash, s.amt_paid_msat, &s.preimage, s.settle_index)
        {
            Ok(Some(account)) => self.notify_payee(account, &s.preimage),
            Ok(None) => tracing::info!("incoming payment not known: {}", hex(&s.payment_hash)),
            Err(e) => tracing::error!("settlement of {} not recorded: {e}", hex(&s.payment_hash)),
        }
    }

    fn spawn_settlement(&mut self) {
        if self.settlement_running {
            return;
        }
        let after = self.ledger.settle_index().unwrap_or(0);
        let node = Arc::clone(&self.node);
        if let Ok(id) = self
            .driver
            .spawn(move || Job::Settled(node.settled_since(after, Duration::from_secs(2))))
        {
            self.jobs.insert(id, ());
            self.settlement_running = true;
        }
    }
}

fn info_of(account: Uuid, msats: u64) -> ProviderInfo<'static> {
    ProviderInfo {
        account_uuid: account,
        payer: true,
        payee: true,
        wad: Some(Wad::bitcoin(msats)),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The consumer text for a payment the ledger refused.
fn pay_refusal(e: &ledger::LedgerError) -> String {
    match e {
        ledger::LedgerError::InsufficientBalance { .. } => errors::INSUFFICIENT.into(),
        ledger::LedgerError::AlreadyRequested => errors::ALREADY_REQUESTED.into(),
        ledger::LedgerError::AlreadyPaid => errors::ALREADY_PAID.into(),
        e => e.to_string(),
    }
}

/// The consumer text for a payment the node failed.
fn node_refusal(e: &NodeError) -> String {
    match e {
        NodeError::NoRoute => errors::NO_ROUTE.into(),
        NodeError::Expired => errors::EXPIRED.into(),
        NodeError::AlreadyPaid => errors::ALREADY_PAID.into(),
        NodeError::FeeLimitExceeded => errors::FEE_LIMIT.into(),
        NodeError::Timeout => errors::TIMED_OUT.into(),
        NodeError::Unavailable(_) => errors::NODE_UNAVAILABLE.into(),
        NodeError::InvalidInvoice(t) => format!("{}: {t}", errors::INVALID_INVOICE),
        e => format!("{}{e}", errors::PAY_PREFIX),
    }
}

#[allow(dead_code)]
fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}
