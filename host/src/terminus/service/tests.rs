//! Group commit, in process: a terminus on a simulated node, consumers on real loopback
//! websockets, the ledger's commits counted and made to fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moneysocket_core::beacon::Beacon;
use moneysocket_core::host::SessionId;
use moneysocket_core::session::ConsumerConfig;
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{ConsumerEvent, Driver, DriverConfig, DriverEvent, SessionEvent};
use moneysocket_ws::TransportConfig;
use serde_json::json;

use super::{errors, Policy, Terminus};
use crate::terminus::control::ControlHandler;
use crate::terminus::ledger::tests::TempDir;
use crate::terminus::ledger::{InvoiceState, Ledger};
use crate::terminus::node::{InvoiceRequest, Node};
use crate::terminus::simnode::{SimNode, SimNodeConfig};

/// A terminus and consumers of its accounts, all in this thread.
struct World {
    t: Terminus<SimNode>,
    /// A node outside the terminus (an external payee).
    peer: SimNode,
    apps: Driver,
    events: Vec<(SessionId, ConsumerEvent)>,
    /// While true, every ledger commit fails.
    fail: Arc<AtomicBool>,
    dir: TempDir,
}

impl World {
    fn new() -> World {
        let dir = TempDir::new();
        let ledger = Ledger::open(&dir.db()).expect("ledger");
        let fail = Arc::new(AtomicBool::new(false));
        ledger.fail_commits_while(Arc::clone(&fail));
        let network = crate::terminus::simnode::SimNetwork::new();
        let node = network
            .open_node(&dir.0.join("simnode"), SimNodeConfig::default())
            .expect("node");
        let peer = network
            .open_node(
                &dir.0.join("peer"),
                SimNodeConfig {
                    alias: "peer".into(),
                    ..SimNodeConfig::default()
                },
            )
            .expect("peer");
        let mut driver: Driver =
            Driver::new(DriverConfig::default(), TransportConfig::default()).expect("driver");
        let bound = driver
            .listen("127.0.0.1:0".parse().expect("addr"), None)
            .expect("listen");
        let policy = Policy {
            fee_limit_ppm: 10_000,
            fee_limit_min_msat: 10_000,
            invoice_expiry: Duration::from_secs(3600),
            pay_timeout: Duration::from_secs(10),
            external_url: format!("ws://{bound}"),
        };
        let mut t = Terminus::new(driver, ledger, Arc::new(node), policy);
        t.start().expect("start");
        World {
            t,
            peer,
            apps: Driver::new(DriverConfig::default(), TransportConfig::default()).expect("apps"),
            events: Vec::new(),
            fail,
            dir,
        }
    }

    /// A new account with `msats` and a consumer of it, ready.
    fn account(&mut self, name: &str, msats: u64) -> (String, SessionId) {
        let a = self
            .t
            .call("create", &json!({ "msats": msats, "name": name }))
            .expect("create");
        let name = a["name"].as_str().expect("name").to_owned();
        let l = self
            .t
            .call("listen", &json!({ "account": name }))
            .expect("listen");
        let b = Beacon::decode(l["beacon"].as_str().expect("beacon")).expect("decode");
        let c = self
            .apps
            .add_consumer(&b.shared_seed(), ConsumerConfig::default());
        self.apps.connect_beacon(c, &b).expect("connect");
        self.until("the provider", |s, e| {
            (s == c && matches!(e, ConsumerEvent::Provider(_))).then_some(())
        });
        (name, c)
    }

    /// One poll of the terminus and one of the consumers.
    fn pump(&mut self) {
        let mut evs = Vec::new();
        self.t
            .poll(&mut evs, Some(Duration::from_millis(1)))
            .expect("terminus poll");
        let mut buf = Vec::new();
        self.apps
            .poll(&mut buf, Some(Duration::from_millis(1)))
            .expect("apps poll");
        for ev in buf {
            if let DriverEvent::Session {
                session,
                event: SessionEvent::Consumer(e),
            } = ev
            {
                self.events.push((session, e));
            }
        }
    }

    /// Pumps until `f` matches an event (taken; the others stay).
    fn until<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(SessionId, &ConsumerEvent) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((i, t)) = self
                .events
                .iter()
                .enumerate()
                .find_map(|(i, (s, e))| f(*s, e).map(|t| (i, t)))
            {
                self.events.remove(i);
                return t;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.pump();
        }
    }

    /// Pumps a while, keeping every event.
    fn settle(&mut self) {
        for _ in 0..50 {
            self.pump();
        }
    }

    fn invoice(&mut self, c: SessionId, msats: u64) -> Result<String, String> {
        let r = self.apps.request_invoice(c, msats).expect("request");
        self.until("an invoice", |s, e| match e {
            ConsumerEvent::Invoice { request, bolt11 } if s == c && *request == r => {
                Some(Ok(bolt11.clone()))
            }
            ConsumerEvent::Error {
                request: Some(q),
                message,
            } if s == c && *q == r => Some(Err(message.clone())),
            _ => None,
        })
    }

    fn pay_outcome(&mut self, c: SessionId, r: Uuid) -> Result<[u8; 32], String> {
        self.until("a pay answer", |s, e| match e {
            ConsumerEvent::Preimage {
                request: Some(q),
                preimage,
            } if s == c && *q == r => Some(Ok(*preimage)),
            ConsumerEvent::Error {
                request: Some(q),
                message,
            } if s == c && *q == r => Some(Err(message.clone())),
            _ => None,
        })
    }

    fn pay(&mut self, c: SessionId, bolt11: &str) -> Result<[u8; 32], String> {
        let r = self.apps.pay(c, bolt11).expect("pay");
        self.pay_outcome(c, r)
    }

    fn balance(&self, name: &str) -> u64 {
        self.t.ledger().account(name).expect("account").balance_msat
    }

    /// Whether any consumer heard a preimage.
    fn heard_a_preimage(&self) -> bool {
        self.events
            .iter()
            .any(|(_, e)| matches!(e, ConsumerEvent::Preimage { .. }))
    }
}

#[test]
fn a_round_whose_commit_fails_answers_nothing_it_did_and_changes_nothing() {
    let mut w = World::new();
    let (payer, a) = w.account("payer", 1_000_000);
    let (payee, b) = w.account("payee", 0);
    let bolt11 = w.invoice(b, 10_000).expect("invoice");
    let hash = *moneysocket_core::bolt11::Invoice::parse(&bolt11)
        .expect("bolt11")
        .payment_hash();
    // An invoice of a node outside the terminus (a pay through the node).
    let external = w
        .peer
        .create_invoice(&InvoiceRequest {
            msats: 20_000,
            expiry: Duration::from_secs(3600),
            memo: String::new(),
            description_hash: None,
            preimage: None,
        })
        .expect("peer invoice");
    let receipts_before = w.t.ledger().receipts(&payer, 0).expect("receipts").len();
    let failures_before = w.t.counters.commit_failures;
    let counted_before = w.t.counters;

    w.fail.store(true, Ordering::SeqCst);
    // An internal transfer, a pay through the node and an invoice: each answered with the
    // ledger error, none of them recorded, nothing paid.
    assert_eq!(w.pay(a, &bolt11), Err(errors::LEDGER.to_owned()));
    assert_eq!(w.pay(a, &external.bolt11), Err(errors::LEDGER.to_owned()));
    assert_eq!(w.invoice(b, 5_000), Err(errors::LEDGER.to_owned()));
    w.settle();
    assert!(!w.heard_a_preimage(), "{:?}", w.events);
    assert!(w.t.counters.commit_failures > failures_before);
    // what the rolled-back rounds did is not counted (the requests are)
    let c = w.t.counters;
    assert_eq!(
        (c.internal_transfers, c.pays_succeeded, c.invoices_made),
        (
            counted_before.internal_transfers,
            counted_before.pays_succeeded,
            counted_before.invoices_made
        )
    );
    // (requests_total counted nothing before: the counters were never incremented)
    assert_eq!(c.pay_requests, counted_before.pay_requests + 2);
    assert_eq!(c.invoice_requests, counted_before.invoice_requests + 1);
    assert_eq!(w.balance(&payer), 1_000_000);
    assert_eq!(w.balance(&payee), 0);
    let inv = w.t.ledger().invoice(&hash).expect("read").expect("invoice");
    assert_eq!(inv.state, InvoiceState::Open);
    assert_eq!(
        w.t.ledger().payment(&external.payment_hash).expect("read"),
        None
    );
    assert_eq!(w.t.ledger().open_invoices().expect("open").len(), 1);
    assert_eq!(
        w.t.ledger().receipts(&payer, 0).expect("receipts").len(),
        receipts_before
    );
    // The node never started the pay: the peer's invoice is still open.
    let at_peer = w
        .peer
        .invoice_details(&external.payment_hash)
        .expect("peer")
        .expect("details");
    assert_eq!(at_peer.settled_at, 0);
    assert!(!matches!(
        at_peer.state,
        crate::terminus::node::InvoiceState::Settled { .. }
    ));
    assert!(w.t.ledger().check().expect("check").ok());

    // The ledger is back: the same requests go through.
    w.fail.store(false, Ordering::SeqCst);
    let preimage = w.pay(a, &bolt11).expect("internal pay");
    let heard = w.until("the payee's preimage", |s, e| match e {
        ConsumerEvent::Preimage {
            request: None,
            preimage,
        } if s == b => Some(*preimage),
        _ => None,
    });
    assert_eq!(heard, preimage);
    w.pay(a, &external.bolt11).expect("external pay");
    assert_eq!(w.balance(&payee), 10_000);
    assert!(w.t.ledger().check().expect("check").ok());

    // What was answered is what a restart finds.
    let payer_balance = w.balance(&payer);
    let World { t, dir, .. } = w;
    drop(t);
    let l = Ledger::open(&dir.db()).expect("reopen");
    assert_eq!(
        l.account(&payer).expect("payer").balance_msat,
        payer_balance
    );
    assert_eq!(l.account(&payee).expect("payee").balance_msat, 10_000);
    assert!(l.check().expect("check").ok());
}

#[test]
fn pays_answered_in_one_round_share_one_commit() {
    // Four payers with five pays each (a consumer has at most eight requests out).
    const PAYERS: usize = 4;
    const EACH: usize = 5;
    const PAYS: u64 = (PAYERS * EACH) as u64;
    let mut w = World::new();
    let (payee, b) = w.account("payee", 0);
    let mut payers = Vec::new();
    for _ in 0..PAYERS {
        payers.push(w.account("payer", 100_000));
    }
    let mut invoices = Vec::new();
    for _ in 0..PAYS {
        invoices.push(w.invoice(b, 1_000).expect("invoice"));
    }
    let commits_before = w.t.ledger().commits();
    // All the pay requests leave at once: the terminus handles those a poll brings in one
    // round, one commit.
    let mut requests = Vec::new();
    for (i, bolt11) in invoices.iter().enumerate() {
        let c = payers[i % PAYERS].1;
        requests.push((c, w.apps.pay(c, bolt11).expect("pay")));
    }
    for (c, r) in requests {
        w.pay_outcome(c, r).expect("paid");
    }
    let commits = w.t.ledger().commits() - commits_before;
    eprintln!("{commits} ledger commits for {PAYS} pays");
    // Before group commit each internal transfer was four commits (three receipts and the
    // transfer); now a round is one, however many pays it holds.
    assert!(commits <= PAYS, "{commits} commits for {PAYS} pays");
    assert_eq!(w.balance(&payee), PAYS * 1_000);
    for (name, _) in &payers {
        assert_eq!(w.balance(name), 100_000 - EACH as u64 * 1_000);
    }
    assert!(w.t.ledger().check().expect("check").ok());
}
