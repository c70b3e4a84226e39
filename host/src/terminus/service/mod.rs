//! The terminus at run time: every account served as provider sessions on the session
//! driver, requests answered from the ledger and the Lightning node. Policy only: the
//! sessions, the matchmaker, the rendezvous and the event loop are the driver's.
//!
//! Money moves only through the ledger, every change together with the record that
//! explains it. Group commit: all the ledger work of one poll round (each operation a
//! savepoint) is one transaction, committed at the end of the round; only then do the
//! round's answers go out and its pays start at the node (the outbox, `outbox.rs`). Control
//! requests are not part of a round: each of their ledger operations commits by itself,
//! before the answer. Node calls (which may block for a minute) run as driver jobs, never
//! on the loop. The settlement stream is a chain of jobs, each waiting a little for the
//! node's next settled invoices and resuming from the last index the ledger committed.

mod outbox;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use moneysocket_core::beacon::Beacon;
use moneysocket_core::bolt11::Invoice;
use moneysocket_core::host::SessionId;
use moneysocket_core::message::{ProviderInfo, Wad};
use moneysocket_core::seed::SharedSeed;
use moneysocket_core::session::{ProviderConfig, ProviderEvent};
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{Driver, DriverEvent, JobOutput, SessionEvent, WsIo};
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};

use super::control::{params, ControlError, ControlHandler};
use super::ledger::{self, Ledger, LedgerError, NewInvoice, PayRequest, ReceiptKind, Settled};
use super::node::{
    CreatedInvoice, InvoiceRequest, Node, NodeError, Paid, PaymentHash, PaymentState,
    SettledInvoice,
};
use crate::dial_errors::DialErrors;
use outbox::{Answer, IfLost, Out};

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
    /// This pay request was already handled (a replayed request uuid never pays twice).
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
    /// The ledger could not commit what the request did: nothing was recorded (nothing
    /// paid, no invoice issued), the request may be made again.
    pub const LEDGER: &str = "ledger unavailable, nothing recorded";
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
    /// The websocket URL written into `listen` beacons (`ws[s]://host:port`).
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
        msats: u64,
        preimage: [u8; 32],
        result: Result<CreatedInvoice, NodeError>,
    },
    Pay {
        session: Option<SessionId>,
        request: Uuid,
        account: Uuid,
        hash: PaymentHash,
        result: Result<Paid, NodeError>,
    },
    /// A payment recorded in flight when the terminus started: what the node says now.
    Recheck {
        hash: PaymentHash,
        account: Uuid,
        result: Result<Option<PaymentState>, NodeError>,
    },
    Settled(Result<Vec<SettledInvoice>, NodeError>),
    /// Open invoices the node says are settled (asked one by one after a stream failure).
    Rechecked(Vec<SettledInvoice>),
    Cancelled,
}

/// An account as the running terminus knows it.
#[derive(Debug, Clone)]
struct Live {
    name: String,
    /// Listen seeds and connect beacons (by seed) → their provider session.
    sessions: HashMap<[u8; 16], SessionId>,
}

/// The terminus: ledger, node, driver and the sessions of every account.
pub struct Terminus<N: Node> {
    driver: Driver<WsIo>,
    ledger: Ledger,
    node: Arc<N>,
    policy: Policy,
    accounts: HashMap<Uuid, Live>,
    /// Which account each provider session serves.
    sessions: HashMap<SessionId, Uuid>,
    settlement_running: bool,
    /// The settlement stream failed since the last look at the open invoices.
    stream_failed: bool,
    /// Node jobs under way (pays, invoices, rechecks; not the settlement stream).
    busy: usize,
    next_housekeeping: StdInstant,
    stopping: bool,
    counters: Counters,
    /// The counters when the round began (a round whose commit fails takes back what it
    /// counted of the ledger's work).
    round_counters: Counters,
    /// Accounts whose balance changed this round.
    dirty: std::collections::HashSet<Uuid>,
    /// What the round sends and starts once its ledger transaction committed.
    outbox: Vec<Out>,
    /// Why `connect` sessions are down (for the log and `getaccountinfo`).
    dial_errors: DialErrors,
}

/// What the terminus counts (for its metrics).
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    invoice_requests: u64,
    invoices_made: u64,
    pay_requests: u64,
    internal_transfers: u64,
    pays_succeeded: u64,
    pays_failed: u64,
    pays_refused: u64,
    settlements: u64,
    /// Rounds whose ledger commit failed (their changes rolled back).
    commit_failures: u64,
}

impl Counters {
    /// The counters of the ledger's work taken back to `before` (a rolled-back round);
    /// requests received and commit failures stay counted.
    fn roll_back(&mut self, before: &Counters) {
        *self = Counters {
            invoice_requests: self.invoice_requests,
            pay_requests: self.pay_requests,
            commit_failures: self.commit_failures,
            ..*before
        };
    }
}

impl<N: Node> Terminus<N> {
    /// Begins a poll round: the ledger's round transaction and the counters to take back
    /// if its commit fails.
    fn begin_round(&mut self) {
        self.ledger.begin_round();
        self.round_counters = self.counters;
    }

    /// A terminus over an open ledger, a node and a driver (already listening).
    pub fn new(driver: Driver<WsIo>, ledger: Ledger, node: Arc<N>, policy: Policy) -> Self {
        Terminus {
            driver,
            ledger,
            node,
            policy,
            accounts: HashMap::new(),
            sessions: HashMap::new(),
            settlement_running: false,
            stream_failed: false,
            busy: 0,
            next_housekeeping: StdInstant::now(),
            stopping: false,
            counters: Counters::default(),
            round_counters: Counters::default(),
            dirty: std::collections::HashSet::new(),
            outbox: Vec::new(),
            dial_errors: DialErrors::default(),
        }
    }

    /// The driver (for the daemon's own sources: control server, signals).
    pub fn driver(&self) -> &Driver<WsIo> {
        &self.driver
    }

    /// The driver, mutably.
    pub fn driver_mut(&mut self) -> &mut Driver<WsIo> {
        &mut self.driver
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Node jobs under way (a clean shutdown waits for them a little).
    pub fn busy(&self) -> usize {
        self.busy
    }

    /// Stops taking control requests and new consumer requests (SIGTERM): in-flight pays
    /// finish, or stay recorded as in flight for the next start.
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// Starts serving every stored account (listen seeds wait in the driver's matchmaker,
    /// beacons are dialed), re-checks the payments left in flight, starts the settlement
    /// stream.
    pub fn start(&mut self) -> Result<(), String> {
        let accounts = self.ledger.list_accounts().map_err(|e| e.to_string())?;
        for a in accounts {
            let uuid = parse_uuid(&a.uuid)?;
            self.accounts.insert(
                uuid,
                Live {
                    name: a.name.clone(),
                    sessions: HashMap::new(),
                },
            );
            for seed in &a.seeds {
                let seed = SharedSeed::from_hex(seed).map_err(|e| format!("{}: {e}", a.name))?;
                self.serve_listen(uuid, &seed)?;
            }
            for beacon in &a.beacons {
                let b = Beacon::decode(beacon).map_err(|e| format!("{}: {e}", a.name))?;
                self.serve_connect(uuid, &b)?;
            }
        }
        let in_flight = self
            .ledger
            .in_flight_payments()
            .map_err(|e| e.to_string())?;
        for p in in_flight {
            let Some(account) = self.uuid_of(&p.account) else {
                continue;
            };
            self.spawn_recheck(p.payment_hash, account, Duration::ZERO);
        }
        self.spawn_settlement();
        Ok(())
    }

    /// Runs one round: the driver's poll, then the terminus's handling of what came, its
    /// ledger work committed as one transaction, then the answers. Events the terminus does
    /// not handle (the daemon's own sources) are left in `events`.
    pub fn poll(
        &mut self,
        events: &mut Vec<DriverEvent>,
        timeout: Option<Duration>,
    ) -> std::io::Result<()> {
        self.driver.poll(events, timeout)?;
        let mut rest = Vec::new();
        self.begin_round();
        for ev in events.drain(..) {
            if let Some(ev) = self.on_event(ev) {
                rest.push(ev);
            }
        }
        *events = rest;
        if StdInstant::now() >= self.next_housekeeping {
            self.next_housekeeping = StdInstant::now() + Duration::from_secs(5);
            self.housekeeping();
        }
        self.end_round();
        // What the round produced goes out now (balances once per account); what sending
        // it produced is a round of its own, until quiet.
        for _ in 0..4 {
            let mut more = Vec::new();
            self.driver.flush(&mut more);
            if more.is_empty() {
                break;
            }
            self.begin_round();
            for ev in more {
                if let Some(ev) = self.on_event(ev) {
                    events.push(ev);
                }
            }
            self.end_round();
        }
        Ok(())
    }

    /// Handles one driver event; returns it if it is not the terminus's.
    fn on_event(&mut self, ev: DriverEvent) -> Option<DriverEvent> {
        match ev {
            DriverEvent::Session {
                session,
                event: SessionEvent::Provider(e),
            } => self.on_provider(session, e),
            DriverEvent::Job { result, .. } => match result {
                Ok(out) => self.on_job(out),
                Err(p) => tracing::error!("node job panicked: {:?}", p.0),
            },
            DriverEvent::User { .. } => return Some(ev),
            DriverEvent::Disconnected {
                session,
                cause,
                retry_in,
            } => {
                let what = self.dial_label(session);
                self.dial_errors.disconnected(
                    session,
                    &what,
                    &cause,
                    retry_in,
                    "a private or self-signed relay certificate needs relay_ca_file",
                );
            }
            DriverEvent::Connected { session, .. } => {
                let what = self.dial_label(session);
                self.dial_errors.connected(session, &what);
            }
            _ => {}
        }
        None
    }

    // ---- accounts and their sessions ----

    fn uuid_of(&self, name: &str) -> Option<Uuid> {
        self.accounts
            .iter()
            .find(|(_, l)| l.name == name)
            .map(|(u, _)| *u)
    }

    fn name_of(&self, account: &Uuid) -> Option<String> {
        self.accounts.get(account).map(|l| l.name.clone())
    }

    fn provider_config(&self) -> ProviderConfig {
        ProviderConfig {
            // Answers to pays may take the whole pay timeout.
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
        if let Some(l) = self.accounts.get_mut(&account) {
            l.sessions.insert(*seed.as_bytes(), s);
        }
        let msats = self.balance(&account).map_err(|e| e.to_string())?;
        self.driver
            .set_provider_info(s, &info_of(account, msats))
            .map_err(|e| e.to_string())
    }

    /// How the log names a dialing session: its account.
    fn dial_label(&self, session: SessionId) -> String {
        let name = self.sessions.get(&session).and_then(|u| self.name_of(u));
        format!("account {}", name.as_deref().unwrap_or("(removed)"))
    }

    fn unserve(&mut self, account: &Uuid, seed: &[u8; 16]) {
        let s = self
            .accounts
            .get_mut(account)
            .and_then(|l| l.sessions.remove(seed));
        if let Some(s) = s {
            self.sessions.remove(&s);
            self.dial_errors.remove(s);
            let _ = self.driver.remove(s);
        }
    }

    fn balance(&self, account: &Uuid) -> Result<u64, LedgerError> {
        Ok(self
            .ledger
            .account_by_uuid(&account.to_string())?
            .balance_msat)
    }

    /// Sends the account's balance to every one of its sessions.
    /// The account's balance changed: every one of its sessions hears it, once per round
    /// however many changes the round made (an account may have many sessions).
    fn fan_out_balance(&mut self, account: Uuid) {
        self.dirty.insert(account);
    }

    /// Sends the balances changed this round.
    fn send_balances(&mut self) {
        for account in std::mem::take(&mut self.dirty) {
            match self.balance(&account) {
                Ok(msats) => {
                    let now = self.driver.now();
                    self.driver.host_mut().set_account_info(
                        &account,
                        &info_of(account, msats),
                        now,
                    );
                }
                Err(e) => tracing::error!(%account, "balance not read: {e}"),
            }
        }
    }

    fn receipt(&mut self, account: &Uuid, kind: ReceiptKind, detail: Value) {
        let Some(name) = self.name_of(account) else {
            return;
        };
        if let Err(e) = self.ledger.append_receipt(&name, kind, &detail) {
            tracing::warn!(%account, "receipt not written: {e}");
        }
    }

    // ---- consumer requests ----

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
                self.receipt(&account, ReceiptKind::SessionStart, json!({}))
            }
            ProviderEvent::Closed(reason) => self.receipt(
                &account,
                ReceiptKind::SessionEnd,
                json!({ "reason": reason.to_string() }),
            ),
            ProviderEvent::RequestAbandoned { request, kind }
            | ProviderEvent::RequestExpired { request, kind } => {
                // A payment under way still completes and is recorded by its job; the
                // account's other sessions hear the preimage and the balance.
                tracing::info!(%account, ?kind, "request {request} left unanswered");
            }
            _ => {}
        }
    }

    /// Answers a request with an error (after the round commits).
    fn answer_error(
        &mut self,
        session: Option<SessionId>,
        account: Uuid,
        request: Uuid,
        text: &str,
    ) {
        self.answer_error_or(session, account, request, text, IfLost::Refuse)
    }

    /// [`Terminus::answer_error`], with what stands in for it if the round is lost.
    fn answer_error_or(
        &mut self,
        session: Option<SessionId>,
        account: Uuid,
        request: Uuid,
        text: &str,
        if_lost: IfLost,
    ) {
        self.receipt(
            &account,
            ReceiptKind::ErrorNotified,
            json!({ "error": text }),
        );
        self.outbox.push(Out::Answer {
            session,
            account,
            request,
            answer: Answer::Error(text.to_owned()),
            if_lost,
        });
    }

    fn on_invoice_request(&mut self, session: SessionId, account: Uuid, request: Uuid, msats: u64) {
        self.counters.invoice_requests += 1;
        self.receipt(
            &account,
            ReceiptKind::InvoiceRequest,
            json!({ "msats": msats }),
        );
        if self.stopping {
            return self.answer_error(Some(session), account, request, errors::NODE_UNAVAILABLE);
        }
        let Some(name) = self.name_of(&account) else {
            return;
        };
        if let Err(e) = self.ledger.check_cap(&name, msats) {
            let text = match e {
                LedgerError::CapExceeded => errors::CAP.to_string(),
                e => e.to_string(),
            };
            return self.answer_error(Some(session), account, request, &text);
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
            msats,
            preimage,
            result: node.create_invoice(&req),
        });
        match spawned {
            Ok(_) => self.busy += 1,
            Err(e) => self.answer_error(
                Some(session),
                account,
                request,
                &format!("{}{e}", errors::INVOICE_PREFIX),
            ),
        }
    }

    fn on_pay_request(&mut self, session: SessionId, account: Uuid, request: Uuid, bolt11: &str) {
        self.counters.pay_requests += 1;
        self.receipt(
            &account,
            ReceiptKind::PayRequest,
            json!({ "bolt11": bolt11 }),
        );
        if self.stopping {
            return self.answer_error(Some(session), account, request, errors::NODE_UNAVAILABLE);
        }
        let Some(name) = self.name_of(&account) else {
            return;
        };
        let invoice = match Invoice::parse(bolt11) {
            Ok(i) => i,
            Err(e) => {
                let text = format!("{}: {e}", errors::INVALID_INVOICE);
                return self.answer_error(Some(session), account, request, &text);
            }
        };
        let Some(amount) = invoice.amount_msat() else {
            return self.answer_error(Some(session), account, request, errors::NO_AMOUNT);
        };
        let hash = *invoice.payment_hash();
        let uuid = request.to_string();
        // An invoice of this terminus: settled between the two accounts, without the node.
        let own = matches!(self.ledger.invoice(&hash), Ok(Some(_)));
        if own {
            return match self.ledger.internal_transfer(&name, &uuid, &hash, None) {
                Ok(t) => {
                    self.counters.internal_transfers += 1;
                    let preimage = t.preimage.unwrap_or([0; 32]);
                    self.answer_preimage(
                        Some(session),
                        account,
                        request,
                        &preimage,
                        IfLost::Refuse,
                    );
                    if let Ok(payee) = parse_uuid(&t.payee.uuid) {
                        self.notify_payee(payee, &preimage);
                    }
                    // The node's copy can no longer be paid.
                    self.outbox.push(Out::Cancel {
                        hash,
                        if_lost: false,
                    });
                }
                Err(e) => {
                    self.counters.pays_refused += 1;
                    self.answer_error(Some(session), account, request, &pay_refusal(&e))
                }
            };
        }
        let reserve = self.policy.fee_reserve(amount);
        let begun = self.ledger.begin_pay(&PayRequest {
            account: &name,
            request_uuid: &uuid,
            bolt11,
            payment_hash: hash,
            amount_msat: amount,
            fee_reserve_msat: reserve,
        });
        if let Err(e) = begun {
            self.counters.pays_refused += 1;
            return self.answer_error(Some(session), account, request, &pay_refusal(&e));
        }
        self.fan_out_balance(account);
        // The node pays only once the reservation is durable (after the round's commit).
        self.outbox.push(Out::StartPay {
            session,
            request,
            account,
            hash,
            bolt11: bolt11.to_string(),
            reserve,
        });
    }

    /// Answers a pay request with the preimage (after the round commits).
    fn answer_preimage(
        &mut self,
        session: Option<SessionId>,
        account: Uuid,
        request: Uuid,
        preimage: &[u8; 32],
        if_lost: IfLost,
    ) {
        self.receipt(
            &account,
            ReceiptKind::PreimageNotified,
            json!({ "preimage": hex(preimage), "increment": false }),
        );
        self.outbox.push(Out::Answer {
            session,
            account,
            request,
            answer: Answer::Preimage(*preimage),
            if_lost,
        });
        self.fan_out_balance(account);
    }

    /// An invoice of `account` was paid: every session hears the preimage and the balance
    /// (after the round commits).
    fn notify_payee(&mut self, account: Uuid, preimage: &[u8; 32]) {
        self.receipt(
            &account,
            ReceiptKind::PreimageNotified,
            json!({ "preimage": hex(preimage), "increment": true }),
        );
        self.outbox.push(Out::PreimageToAll {
            account,
            preimage: *preimage,
        });
        self.fan_out_balance(account);
    }

    fn finish_pay(
        &mut self,
        session: Option<SessionId>,
        request: Uuid,
        account: Uuid,
        hash: PaymentHash,
        result: Result<Paid, NodeError>,
    ) {
        match result {
            Ok(paid) => match self
                .ledger
                .finish_pay_success(&hash, paid.fee_msat, &paid.preimage)
            {
                Ok(_) => {
                    self.counters.pays_succeeded += 1;
                    self.answer_preimage(
                        session,
                        account,
                        request,
                        &paid.preimage,
                        IfLost::Recheck(hash),
                    )
                }
                Err(e) => tracing::error!(
                    %account,
                    "payment {} succeeded but was not recorded: {e}",
                    hex(&hash)
                ),
            },
            Err(e) => {
                self.counters.pays_failed += 1;
                if let Err(le) = self.ledger.finish_pay_failure(&hash, &e.to_string()) {
                    tracing::error!(%account, "failed payment {} not refunded: {le}", hex(&hash));
                }
                self.fan_out_balance(account);
                self.answer_error_or(
                    session,
                    account,
                    request,
                    &node_refusal(&e),
                    IfLost::Recheck(hash),
                );
            }
        }
    }

    // ---- jobs ----

    fn on_job(&mut self, out: JobOutput) {
        let Ok(job) = out.take::<Job>() else {
            return;
        };
        if !matches!(job, Job::Settled(_)) {
            self.busy = self.busy.saturating_sub(1);
        }
        match job {
            Job::Invoice {
                session,
                request,
                account,
                msats,
                preimage,
                result,
            } => self.on_invoice(session, request, account, msats, preimage, result),
            Job::Pay {
                session,
                request,
                account,
                hash,
                result,
            } => self.finish_pay(session, request, account, hash, result),
            Job::Recheck {
                hash,
                account,
                result,
            } => match result {
                Ok(Some(PaymentState::Succeeded(paid))) => {
                    self.finish_pay(None, Uuid([0; 16]), account, hash, Ok(paid))
                }
                Ok(Some(PaymentState::Failed(e))) => {
                    self.finish_pay(None, Uuid([0; 16]), account, hash, Err(e))
                }
                // Never reached the node (a crash between the ledger and the node): refund.
                Ok(None) => self.finish_pay(
                    None,
                    Uuid([0; 16]),
                    account,
                    hash,
                    Err(NodeError::Other("not sent before a restart".into())),
                ),
                Ok(Some(PaymentState::InFlight)) | Err(_) => {
                    self.spawn_recheck(hash, account, Duration::from_secs(2))
                }
            },
            Job::Settled(result) => {
                self.settlement_running = false;
                match result {
                    Ok(list) => {
                        for s in list {
                            self.on_settled(&s);
                        }
                        // The stream is back after a failure: what it could have missed
                        // is asked invoice by invoice.
                        if std::mem::take(&mut self.stream_failed) {
                            self.outbox.push(Out::OpenRecheck);
                        }
                    }
                    Err(e) => {
                        tracing::warn!("settlement stream: {e}");
                        self.stream_failed = true;
                    }
                }
                // It resumes from the index the round commits.
                self.outbox.push(Out::Settlement);
            }
            Job::Rechecked(found) => {
                for s in found {
                    self.on_settled(&s);
                }
            }
            Job::Cancelled => {}
        }
    }

    fn on_invoice(
        &mut self,
        session: SessionId,
        request: Uuid,
        account: Uuid,
        msats: u64,
        preimage: [u8; 32],
        result: Result<CreatedInvoice, NodeError>,
    ) {
        let inv = match result {
            Ok(inv) => inv,
            Err(e) => {
                let text = format!("{}{e}", errors::INVOICE_PREFIX);
                return self.answer_error(Some(session), account, request, &text);
            }
        };
        let Some(name) = self.name_of(&account) else {
            return;
        };
        let uuid = request.to_string();
        let recorded = self.ledger.record_invoice(&NewInvoice {
            account: &name,
            request_uuid: Some(&uuid),
            bolt11: &inv.bolt11,
            payment_hash: inv.payment_hash,
            msats,
            expires_at: inv.expires_at,
            preimage: Some(preimage),
        });
        match recorded {
            Ok(()) => {
                self.counters.invoices_made += 1;
                self.receipt(
                    &account,
                    ReceiptKind::InvoiceNotified,
                    json!({ "bolt11": inv.bolt11 }),
                );
                self.outbox.push(Out::Answer {
                    session: Some(session),
                    account,
                    request,
                    answer: Answer::Invoice(inv.bolt11),
                    if_lost: IfLost::CancelAndRefuse(inv.payment_hash),
                });
            }
            Err(e) => {
                // Not recorded, so never credited: the node's invoice must not be paid.
                self.outbox.push(Out::Cancel {
                    hash: inv.payment_hash,
                    if_lost: true,
                });
                let text = match e {
                    LedgerError::CapExceeded => errors::CAP.to_string(),
                    e => format!("{}{e}", errors::INVOICE_PREFIX),
                };
                self.answer_error(Some(session), account, request, &text)
            }
        }
    }

    /// Cancels an invoice at the node, off the loop.
    fn cancel_at_node(&mut self, hash: PaymentHash) {
        let node = Arc::clone(&self.node);
        let spawned = self.driver.spawn(move || {
            if let Err(e) = node.cancel_invoice(&hash) {
                tracing::warn!("invoice {} not cancelled at the node: {e}", hex(&hash));
            }
            Job::Cancelled
        });
        if spawned.is_ok() {
            self.busy += 1;
        }
    }

    fn on_settled(&mut self, s: &SettledInvoice) {
        match self.ledger.settle_invoice(
            &s.payment_hash,
            s.amt_paid_msat,
            &s.preimage,
            s.settle_index,
        ) {
            Ok(Settled::Credited { balance, .. }) => {
                self.counters.settlements += 1;
                match parse_uuid(&balance.uuid) {
                    Ok(account) => self.notify_payee(account, &s.preimage),
                    Err(e) => tracing::error!("{e}"),
                }
            }
            Ok(Settled::AlreadySettled) => {}
            Err(LedgerError::UnknownInvoice) => {
                tracing::info!("incoming payment not known: {}", hex(&s.payment_hash));
                let _ = self.ledger.set_settle_index(s.settle_index);
            }
            Err(e) => tracing::error!("settlement of {} not recorded: {e}", hex(&s.payment_hash)),
        }
    }

    fn spawn_settlement(&mut self) {
        if self.settlement_running {
            return;
        }
        let after = self.ledger.settle_index().unwrap_or(0);
        let node = Arc::clone(&self.node);
        if self
            .driver
            .spawn(move || Job::Settled(node.settled_since(after, Duration::from_secs(2))))
            .is_ok()
        {
            self.settlement_running = true;
        }
    }

    /// Asks the node about every invoice still open in the ledger (after the settlement
    /// stream failed: belt and braces beside resuming it from the stored settle_index).
    fn spawn_open_recheck(&mut self) {
        let open: Vec<PaymentHash> = match self.ledger.open_invoices() {
            Ok(list) => list.into_iter().map(|i| i.payment_hash).collect(),
            Err(e) => {
                tracing::warn!("open invoices: {e}");
                return;
            }
        };
        if open.is_empty() {
            return;
        }
        let node = Arc::clone(&self.node);
        let spawned = self.driver.spawn(move || {
            let mut found = Vec::new();
            for hash in open {
                if let Ok(Some(super::node::InvoiceState::Settled {
                    amt_paid_msat,
                    preimage,
                    settle_index,
                })) = node.lookup_invoice(&hash)
                {
                    found.push(SettledInvoice {
                        payment_hash: hash,
                        amt_paid_msat,
                        preimage,
                        settle_index,
                    });
                }
            }
            Job::Rechecked(found)
        });
        if spawned.is_ok() {
            self.busy += 1;
        }
    }

    fn spawn_recheck(&mut self, hash: PaymentHash, account: Uuid, after: Duration) {
        let node = Arc::clone(&self.node);
        if self
            .driver
            .spawn(move || {
                std::thread::sleep(after);
                Job::Recheck {
                    hash,
                    account,
                    result: node.lookup_payment(&hash),
                }
            })
            .is_ok()
        {
            self.busy += 1;
        }
    }

    fn housekeeping(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match self.ledger.expire_invoices(now) {
            // The node forgets them too (LND: POST /v2/invoices/cancel).
            Ok(expired) => {
                for hash in expired {
                    self.outbox.push(Out::Cancel {
                        hash,
                        if_lost: false,
                    });
                }
            }
            Err(e) => tracing::warn!("expiring invoices: {e}"),
        }
        if !self.settlement_running {
            self.outbox.push(Out::Settlement);
        }
    }

    /// The metrics text (Prometheus format).
    pub fn render_metrics(&self) -> String {
        let mut x = crate::metrics::Exposition::new("moneysocket_terminus_");
        let hs = self.driver.host().stats();
        let c = self.counters;
        let commits = self.ledger.commits();
        x.put_all(&[
            (
                "accounts",
                "gauge",
                "Live accounts.",
                &[("", self.accounts.len() as u64)],
            ),
            (
                "sessions",
                "gauge",
                "Provider sessions held.",
                &[("", hs.sessions as u64)],
            ),
            (
                "node_calls",
                "gauge",
                "Node calls under way.",
                &[("", self.busy as u64)],
            ),
            (
                "requests_total",
                "counter",
                "Consumer requests, by kind.",
                &[
                    ("{kind=\"invoice\"}", c.invoice_requests),
                    ("{kind=\"pay\"}", c.pay_requests),
                ],
            ),
            (
                "invoices_total",
                "counter",
                "Invoices made.",
                &[("", c.invoices_made)],
            ),
            (
                "pays_total",
                "counter",
                "Payments, by outcome.",
                &[
                    ("{outcome=\"internal\"}", c.internal_transfers),
                    ("{outcome=\"succeeded\"}", c.pays_succeeded),
                    ("{outcome=\"failed\"}", c.pays_failed),
                    ("{outcome=\"refused\"}", c.pays_refused),
                ],
            ),
            (
                "settlements_total",
                "counter",
                "Incoming payments credited.",
                &[("", c.settlements)],
            ),
            (
                "ledger_commits_total",
                "counter",
                "Ledger transactions committed (one per poll round with ledger work, one per \
                 operation of a control request).",
                &[("", commits)],
            ),
            (
                "ledger_commit_failures_total",
                "counter",
                "Poll rounds whose ledger commit failed (rolled back, their answers withheld).",
                &[("", c.commit_failures)],
            ),
        ]);
        // Cheap reads on the event loop (the running totals, not the full audit of `check`,
        // which recomputes every total from the receipts).
        let read = (|| -> Result<(u64, u64, ledger::Totals), LedgerError> {
            let balances = self
                .ledger
                .list_accounts()?
                .iter()
                .map(|a| a.balance_msat)
                .sum();
            let in_flight = self
                .ledger
                .in_flight_payments()?
                .iter()
                .map(|p| p.amount_msat.saturating_add(p.fee_reserve_msat))
                .sum();
            Ok((balances, in_flight, self.ledger.totals()?))
        })();
        if let Ok((balances, in_flight, t)) = read {
            x.put(
                "balances_msat",
                "gauge",
                "Sum of account balances.",
                &[("", balances)],
            );
            x.put(
                "in_flight_msat",
                "gauge",
                "Amount plus fee reserve of payments in flight.",
                &[("", in_flight)],
            );
            x.put(
                "ledger_msat_total",
                "counter",
                "The ledger's running totals.",
                &[
                    ("{flow=\"deposits\"}", t.deposits),
                    ("{flow=\"withdrawals\"}", t.withdrawals),
                    ("{flow=\"received\"}", t.received),
                    ("{flow=\"paid\"}", t.paid),
                    ("{flow=\"fees\"}", t.fees),
                ],
            );
            let inflows = u128::from(t.deposits) + u128::from(t.received);
            let outflows = u128::from(t.withdrawals) + u128::from(t.paid) + u128::from(t.fees);
            let held = u128::from(balances) + u128::from(in_flight);
            x.put(
                "ledger_consistent",
                "gauge",
                "1 when balances and reserves equal the recorded flows (the invariant on the running totals; terminus-cli check audits it in full).",
                &[("", u64::from(inflows.checked_sub(outflows) == Some(held)))],
            );
        }
        x.finish()
    }

    // ---- control verbs ----

    fn account_json(&self, a: &ledger::Account) -> Value {
        let uuid = parse_uuid(&a.uuid).ok();
        let attempts: Vec<Value> = a
            .beacons
            .iter()
            .map(|b| {
                let session = Beacon::decode(b).ok().and_then(|b| {
                    let seed = *b.shared_seed().as_bytes();
                    uuid.and_then(|u| self.accounts.get(&u)?.sessions.get(&seed).copied())
                });
                let state = match session.and_then(|s| self.driver.dial_state(s)) {
                    Some(moneysocket_driver::DialState::Up { .. }) => "connected",
                    Some(moneysocket_driver::DialState::Dialing { .. }) => "connecting",
                    _ => "disconnected",
                };
                let mut entry = json!({ "beacon": b, "state": state });
                if let Some(e) = session
                    .filter(|_| state != "connected")
                    .and_then(|s| self.dial_errors.last(s))
                {
                    entry["last_error"] = json!(e);
                }
                entry
            })
            .collect();
        json!({
            "name": a.name,
            "uuid": a.uuid,
            "msats": a.balance_msat,
            "cap": a.cap_msat,
            "incoming_seeds": a.seeds,
            "outgoing_beacons": attempts,
        })
    }

    fn live_account(&self, name: &str) -> Result<(Uuid, ledger::Account), ControlError> {
        let a = self.ledger.account(name).map_err(control_error)?;
        let u = parse_uuid(&a.uuid).map_err(ControlError::Internal)?;
        Ok((u, a))
    }

    fn listen_beacon(&self, seed: &SharedSeed) -> Result<String, ControlError> {
        crate::beacons::at_url(*seed, &self.policy.external_url).map_err(ControlError::Internal)
    }

    fn verb(&mut self, method: &str, p: &Value) -> Result<Value, ControlError> {
        if self.stopping {
            return Err(ControlError::Unavailable("shutting down".into()));
        }
        match method {
            "getinfo" => {
                let accounts = self.ledger.list_accounts().map_err(control_error)?;
                let node = self.node.info().ok();
                Ok(json!({
                    "accounts": accounts.iter().map(|a| self.account_json(a)).collect::<Vec<_>>(),
                    "node": node.map(|n| json!({
                        "pubkey": n.pubkey, "alias": n.alias, "network": n.network,
                    })),
                    "node_spendable_msat": self.node.spendable_msat().ok(),
                    "listen": self.policy.external_url,
                    "ledger_commits": self.ledger.commits(),
                }))
            }
            "getaccountinfo" => {
                let names = params::strs(p, "accounts")?;
                let mut out = Vec::new();
                for n in names {
                    let (_, a) = self.live_account(n)?;
                    out.push(self.account_json(&a));
                }
                Ok(json!({ "accounts": out }))
            }
            "getaccountreceipts" => {
                let name = params::str(p, "account")?;
                let rs = self.ledger.receipts(name, 0).map_err(control_error)?;
                Ok(json!({
                    "name": name,
                    "receipts": rs.iter().map(|r| json!({
                        "id": r.id, "kind": r.kind, "delta_msat": r.delta_msat,
                        "detail": r.detail, "time_ms": r.time_ms,
                    })).collect::<Vec<_>>(),
                }))
            }
            "create" => {
                let msats = params::msats(p, "msats")?;
                let base = params::opt_str(p, "name")?;
                let cap = params::opt_msats(p, "cap")?.unwrap_or(0);
                let a = self
                    .ledger
                    .create_account(base, msats, cap)
                    .map_err(control_error)?;
                let uuid = parse_uuid(&a.uuid).map_err(ControlError::Internal)?;
                self.accounts.insert(
                    uuid,
                    Live {
                        name: a.name.clone(),
                        sessions: HashMap::new(),
                    },
                );
                Ok(
                    json!({ "name": a.name, "uuid": a.uuid, "msats": a.balance_msat, "cap": a.cap_msat }),
                )
            }
            "listen" => {
                let name = params::str(p, "account")?;
                let (uuid, _) = self.live_account(name)?;
                let seed = match params::opt_str(p, "seed")? {
                    Some(h) => SharedSeed::from_hex(h).map_err(|e| {
                        ControlError::Invalid(format!("could not understand shared seed: {e}"))
                    })?,
                    None => SharedSeed::generate(&mut OsRng),
                };
                let beacon = self.listen_beacon(&seed)?;
                self.ledger
                    .add_seed(name, &hex(seed.as_bytes()))
                    .map_err(control_error)?;
                self.serve_listen(uuid, &seed)
                    .map_err(ControlError::Internal)?;
                Ok(json!({ "name": name, "beacon": beacon }))
            }
            "connect" => {
                let name = params::str(p, "account")?;
                let text = params::str(p, "beacon")?;
                let (uuid, _) = self.live_account(name)?;
                let b = Beacon::decode(text)
                    .map_err(|e| ControlError::Invalid(format!("could not decode beacon: {e}")))?;
                if b.first_websocket().is_none() {
                    return Err(ControlError::Invalid(
                        "can't connect to beacon location".into(),
                    ));
                }
                self.ledger.add_beacon(name, text).map_err(control_error)?;
                self.serve_connect(uuid, &b)
                    .map_err(ControlError::Internal)?;
                Ok(json!({ "name": name, "beacon": text }))
            }
            "disconnect" => {
                let name = params::str(p, "account")?;
                let (uuid, _) = self.live_account(name)?;
                let (key, seed) = match (params::opt_str(p, "beacon")?, params::opt_str(p, "seed")?)
                {
                    (Some(b), _) => {
                        let beacon = Beacon::decode(b).map_err(|e| {
                            ControlError::Invalid(format!("could not decode beacon: {e}"))
                        })?;
                        (b.to_string(), beacon.shared_seed())
                    }
                    (None, Some(s)) => {
                        let seed = SharedSeed::from_hex(s).map_err(|e| {
                            ControlError::Invalid(format!("could not understand shared seed: {e}"))
                        })?;
                        (hex(seed.as_bytes()), seed)
                    }
                    (None, None) => {
                        return Err(ControlError::Invalid(
                            "missing parameter: beacon or seed".into(),
                        ))
                    }
                };
                self.ledger
                    .remove_connection(name, &key)
                    .map_err(control_error)?;
                self.unserve(&uuid, seed.as_bytes());
                Ok(json!({ "name": name }))
            }
            "clear" => {
                let name = params::str(p, "account")?;
                let (uuid, _) = self.live_account(name)?;
                let n = self.ledger.clear_connections(name).map_err(control_error)?;
                let seeds: Vec<[u8; 16]> = self
                    .accounts
                    .get(&uuid)
                    .map(|l| l.sessions.keys().copied().collect())
                    .unwrap_or_default();
                for s in seeds {
                    self.unserve(&uuid, &s);
                }
                Ok(json!({ "name": name, "cleared": n }))
            }
            "rm" => {
                let name = params::str(p, "account")?;
                let (uuid, _) = self.live_account(name)?;
                let withdrawn = self.ledger.remove_account(name).map_err(control_error)?;
                self.accounts.remove(&uuid);
                Ok(json!({ "name": name, "withdrawn_msats": withdrawn }))
            }
            "setcap" => {
                let name = params::str(p, "account")?;
                let cap = params::msats(p, "cap")?;
                let b = self.ledger.set_cap(name, cap).map_err(control_error)?;
                Ok(json!({ "name": name, "msats": b.balance_msat, "cap": cap }))
            }
            "deposit" | "withdraw" => {
                let name = params::str(p, "account")?;
                let msats = params::msats(p, "msats")?;
                let (uuid, _) = self.live_account(name)?;
                let b = if method == "deposit" {
                    self.ledger.deposit(name, msats)
                } else {
                    self.ledger.withdraw(name, msats)
                }
                .map_err(control_error)?;
                self.fan_out_balance(uuid);
                Ok(json!({ "name": name, "msats": b.balance_msat }))
            }
            "import_python" => {
                let dir = params::str(p, "dir")?;
                let r = self
                    .ledger
                    .import_python(std::path::Path::new(dir))
                    .map_err(control_error)?;
                // Serve what came in: listen seeds wait, beacons are dialed.
                let accounts = self.ledger.list_accounts().map_err(control_error)?;
                for a in accounts {
                    let Ok(uuid) = parse_uuid(&a.uuid) else {
                        continue;
                    };
                    if self.accounts.contains_key(&uuid) {
                        continue;
                    }
                    self.accounts.insert(
                        uuid,
                        Live {
                            name: a.name.clone(),
                            sessions: HashMap::new(),
                        },
                    );
                    for seed in &a.seeds {
                        if let Ok(seed) = SharedSeed::from_hex(seed) {
                            self.serve_listen(uuid, &seed)
                                .map_err(ControlError::Internal)?;
                        }
                    }
                    for beacon in &a.beacons {
                        if let Ok(b) = Beacon::decode(beacon) {
                            self.serve_connect(uuid, &b)
                                .map_err(ControlError::Internal)?;
                        }
                    }
                }
                Ok(json!({
                    "imported": r.accounts.iter()
                        .map(|(name, msats)| json!({ "name": name, "msats": msats }))
                        .collect::<Vec<_>>(),
                    "skipped": r.skipped,
                }))
            }
            "check" => {
                let r = self.ledger.check().map_err(control_error)?;
                Ok(json!({
                    "ok": r.ok(),
                    "balances_msat": r.balances,
                    "in_flight_msat": r.in_flight,
                    "in_flight_count": r.in_flight_count,
                    "deposits_msat": r.totals.deposits,
                    "withdrawals_msat": r.totals.withdrawals,
                    "received_msat": r.totals.received,
                    "paid_msat": r.totals.paid,
                    "fees_msat": r.totals.fees,
                    "internal_msat": r.totals.internal,
                    "accounts": r.accounts,
                    "problems": r.problems,
                }))
            }
            other => Err(ControlError::UnknownMethod(other.to_string())),
        }
    }
}

impl<N: Node> ControlHandler for Terminus<N> {
    /// A control verb, outside any round: each of its ledger operations commits by itself
    /// before the answer is returned.
    fn call(&mut self, method: &str, params: &Value) -> Result<Value, ControlError> {
        let r = self.verb(method, params);
        self.end_round();
        // Whatever the verb changed (sessions, balances) goes out at once; what that
        // brings is a round of its own.
        let mut events = Vec::new();
        self.driver.flush(&mut events);
        if !events.is_empty() {
            self.begin_round();
            for ev in events {
                let _ = self.on_event(ev);
            }
            self.end_round();
        }
        r
    }
}

fn control_error(e: LedgerError) -> ControlError {
    match e {
        LedgerError::UnknownAccount(n) => ControlError::NotFound(format!("unknown account: {n}")),
        LedgerError::StillConnected(n) => {
            ControlError::Conflict(format!("still has connections: {n}"))
        }
        LedgerError::TooManyBeacons(_) => {
            ControlError::Conflict("max 3 beacons per account".into())
        }
        LedgerError::PaymentsInFlight(n) => {
            ControlError::Conflict(format!("payments in flight: {n}"))
        }
        LedgerError::InsufficientBalance { needed, available } => ControlError::Conflict(format!(
            "insufficient balance: {needed} msat needed, {available} msat available"
        )),
        LedgerError::Sqlite(e) => ControlError::Internal(e.to_string()),
        LedgerError::Io(e) => ControlError::Internal(e.to_string()),
        e => ControlError::Invalid(e.to_string()),
    }
}

fn parse_uuid(s: &str) -> Result<Uuid, String> {
    Uuid::parse_lenient(s).map_err(|e| format!("account uuid {s:?}: {e}"))
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
fn pay_refusal(e: &LedgerError) -> String {
    match e {
        LedgerError::InsufficientBalance { .. } => errors::INSUFFICIENT.into(),
        LedgerError::AlreadyRequested(_) => errors::ALREADY_REQUESTED.into(),
        LedgerError::AlreadyPaid => errors::ALREADY_PAID.into(),
        LedgerError::InvoiceNotOpen(_) => errors::EXPIRED.into(),
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
