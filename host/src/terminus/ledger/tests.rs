//! Ledger tests: every operation, the invariant after each test, restart, import and a
//! property test of random operation sequences.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use moneysocket_core::uuid::Uuid;
use rand_core::{CryptoRng, RngCore};
use serde_json::json;

use super::*;

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// A temporary directory removed on drop (the terminus's service tests use it too).
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    /// A fresh, empty directory.
    pub(crate) fn new() -> Self {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ms-ledger-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    /// The ledger file in it.
    pub(crate) fn db(&self) -> PathBuf {
        self.0.join("ledger.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test RNG (xorshift); "crypto" only for the trait bound.
struct TestRng(u64);
impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

/// A clock the test moves (Unix ms).
fn clock(start_ms: u64) -> (Clock, Arc<AtomicU64>) {
    let t = Arc::new(AtomicU64::new(start_ms));
    let t2 = t.clone();
    (Arc::new(move || t2.load(Ordering::Relaxed)), t)
}

const T0: u64 = 1_700_000_000_000;

fn open(dir: &TempDir) -> (Ledger, Arc<AtomicU64>) {
    let (c, t) = clock(T0);
    (Ledger::open_with_clock(&dir.db(), c).expect("open"), t)
}

fn h(n: u8) -> PaymentHash {
    [n; 32]
}

/// The invariant and every cross-check hold.
fn assert_ok(l: &Ledger) -> CheckReport {
    let r = l.check().expect("check");
    assert!(r.ok(), "ledger inconsistent: {:#?}", r);
    r
}

fn bal(l: &Ledger, name: &str) -> u64 {
    l.account(name).expect("account").balance_msat
}

fn invoice<'a>(account: &'a str, hash: PaymentHash, msats: u64, uuid: &'a str) -> NewInvoice<'a> {
    NewInvoice {
        account,
        request_uuid: Some(uuid),
        bolt11: "lnbcrt1test",
        payment_hash: hash,
        msats,
        expires_at: T0 / 1000 + 3600,
        preimage: None,
    }
}

fn pay<'a>(
    account: &'a str,
    uuid: &'a str,
    hash: PaymentHash,
    amount: u64,
    reserve: u64,
) -> PayRequest<'a> {
    PayRequest {
        account,
        request_uuid: uuid,
        bolt11: "lnbcrt1other",
        payment_hash: hash,
        amount_msat: amount,
        fee_reserve_msat: reserve,
    }
}

#[test]
fn open_configures_and_migrates() {
    let d = TempDir::new();
    let (l, _) = open(&d);
    assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
    let mode: String = l
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = l
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "FULL");
    let fk: i64 = l
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    drop(l);
    let (l, _) = open(&d);
    assert_eq!(l.schema_version().unwrap(), SCHEMA_VERSION);
    l.conn
        .execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    drop(l);
    let (c, _) = clock(T0);
    match Ledger::open_with_clock(&d.db(), c) {
        Err(LedgerError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn accounts_names_uuids_caps() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    let mut rng = TestRng(7);
    let a0 = l.create_account_with_rng(None, 0, 0, &mut rng).unwrap();
    let a1 = l
        .create_account_with_rng(None, 5_000, 10_000, &mut rng)
        .unwrap();
    assert_eq!(a0.name, "account-0");
    assert_eq!(a1.name, "account-1");
    assert_eq!(a1.balance_msat, 5_000);
    assert_eq!(a1.cap_msat, 10_000);
    let u = Uuid::parse_canonical(&a0.uuid).unwrap();
    assert!(u.is_v4());
    assert_ne!(a0.uuid, a1.uuid);
    assert_eq!(l.account_by_uuid(&a1.uuid).unwrap().name, "account-1");
    let shop = l.create_account(Some("shop"), 0, 0).unwrap();
    assert_eq!(shop.name, "shop-0");
    assert!(matches!(
        l.create_account(Some("bad name"), 0, 0),
        Err(LedgerError::InvalidName(_))
    ));
    assert!(matches!(
        l.create_account(None, MAX_MSAT + 1, 0),
        Err(LedgerError::InvalidAmount(_))
    ));
    // The smallest free n is reused after rm.
    assert_eq!(l.remove_account("account-0").unwrap(), 0);
    assert_eq!(l.create_account(None, 0, 0).unwrap().name, "account-0");
    assert_eq!(l.create_account(None, 0, 0).unwrap().name, "account-2");
    let names: Vec<_> = l
        .list_accounts()
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["account-1", "shop-0", "account-0", "account-2"]);
    l.set_cap("account-1", 0).unwrap();
    assert_eq!(l.account("account-1").unwrap().cap_msat, 0);
    assert!(matches!(
        l.account("nobody"),
        Err(LedgerError::UnknownAccount(_))
    ));
    assert!(matches!(
        l.deposit("nobody", 1),
        Err(LedgerError::UnknownAccount(_))
    ));
    assert_ok(&l);
}

#[test]
fn deposit_withdraw_and_receipts() {
    let d = TempDir::new();
    let (mut l, t) = open(&d);
    l.create_account(None, 0, 0).unwrap();
    l.deposit("account-0", 10_000).unwrap();
    t.fetch_add(5, Ordering::Relaxed);
    assert_eq!(l.withdraw("account-0", 4_000).unwrap().balance_msat, 6_000);
    match l.withdraw("account-0", 6_001) {
        Err(LedgerError::InsufficientBalance {
            needed: 6_001,
            available: 6_000,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        l.deposit("account-0", 0),
        Err(LedgerError::InvalidAmount(_))
    ));
    let r = l.receipts("account-0", 0).unwrap();
    let kinds: Vec<_> = r.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["withdraw", "deposit", "account_created"]);
    assert_eq!(r[0].delta_msat, -4_000);
    assert_eq!(r[0].time_ms, T0 + 5);
    assert_eq!(r[0].detail, json!({ "msats": 4_000 }));
    assert_eq!(l.receipts("account-0", 1).unwrap().len(), 1);
    let rep = assert_ok(&l);
    assert_eq!(rep.totals.deposits, 10_000);
    assert_eq!(rep.totals.withdrawals, 4_000);
    assert_eq!(rep.balances, 6_000);
}

#[test]
fn seeds_beacons_and_rm() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 7_000, 0).unwrap();
    l.create_account(None, 0, 0).unwrap();
    let seed = "00112233445566778899AABBCCDDEEFF";
    l.add_seed("account-0", seed).unwrap();
    assert_eq!(
        l.account_by_seed(&seed.to_lowercase()).unwrap().name,
        "account-0"
    );
    assert!(matches!(
        l.add_seed("account-1", seed),
        Err(LedgerError::SeedInUse(_))
    ));
    assert!(matches!(
        l.add_seed("account-1", "xyz"),
        Err(LedgerError::InvalidSeed(_))
    ));
    for b in ["moneysocket1a", "moneysocket1b", "moneysocket1c"] {
        l.add_beacon("account-0", b).unwrap();
    }
    assert!(matches!(
        l.add_beacon("account-0", "moneysocket1d"),
        Err(LedgerError::TooManyBeacons(_))
    ));
    assert!(matches!(
        l.add_beacon("account-0", "moneysocket1a"),
        Err(LedgerError::DuplicateBeacon(_))
    ));
    let a = l.account("account-0").unwrap();
    assert_eq!(a.seeds, [seed.to_lowercase()]);
    assert_eq!(a.beacons.len(), 3);
    let e = l.remove_account("account-0").unwrap_err();
    assert_eq!(e.to_string(), "still has connections: account-0");
    l.remove_connection("account-0", "moneysocket1b").unwrap();
    l.remove_connection("account-0", seed).unwrap();
    assert!(matches!(
        l.remove_connection("account-0", seed),
        Err(LedgerError::UnknownConnection(_))
    ));
    assert_eq!(l.clear_connections("account-0").unwrap(), 2);
    // An open invoice is cancelled and the balance withdrawn on rm.
    l.record_invoice(&invoice("account-0", h(1), 500, "u1"))
        .unwrap();
    assert_eq!(l.remove_account("account-0").unwrap(), 7_000);
    assert_eq!(
        l.invoice(&h(1)).unwrap().unwrap().state,
        InvoiceState::Cancelled
    );
    assert!(l.account("account-0").is_err());
    assert!(l.account_by_seed(seed).is_err());
    // No secrets in receipts.
    let conn_receipts: i64 = l
        .conn
        .query_row(
            "SELECT COUNT(*) FROM receipts WHERE detail LIKE '%00112233%' OR detail LIKE '%moneysocket1%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(conn_receipts, 0);
    // Receipts are append-only.
    assert!(l.conn.execute("DELETE FROM receipts", []).is_err());
    assert!(l
        .conn
        .execute("UPDATE receipts SET delta_msat = 0", [])
        .is_err());
    let r = assert_ok(&l);
    assert_eq!(r.totals.withdrawals, 7_000);
    assert_eq!(r.accounts, 1);
}

#[test]
fn cap_counts_pending_invoices() {
    let d = TempDir::new();
    let (mut l, t) = open(&d);
    l.create_account(None, 4_000, 10_000).unwrap();
    l.record_invoice(&invoice("account-0", h(1), 5_000, "u1"))
        .unwrap();
    let e = l
        .record_invoice(&invoice("account-0", h(2), 2_000, "u2"))
        .unwrap_err();
    assert!(matches!(e, LedgerError::CapExceeded));
    assert_eq!(e.to_string(), "account cap exceeded");
    l.record_invoice(&invoice("account-0", h(2), 1_000, "u2"))
        .unwrap();
    assert!(matches!(
        l.record_invoice(&invoice("account-0", h(2), 1, "u3")),
        Err(LedgerError::DuplicateInvoice)
    ));
    assert!(l.check_cap("account-0", 1).is_err());
    // After expiry (by clock, then marked), pending no longer counts.
    t.store(T0 + 3_600_000, Ordering::Relaxed);
    l.check_cap("account-0", 6_000).unwrap();
    let expired = l.expire_invoices(T0 / 1000 + 3600).unwrap();
    assert_eq!(expired.len(), 2);
    assert_eq!(
        l.invoice(&h(1)).unwrap().unwrap().state,
        InvoiceState::Expired
    );
    assert!(l.open_invoices().unwrap().is_empty());
    assert!(matches!(
        l.record_invoice(&invoice("account-0", h(3), 0, "u4")),
        Err(LedgerError::InvalidAmount(_))
    ));
    assert_ok(&l);
}

#[test]
fn settle_credits_what_was_received_once() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 0, 0).unwrap();
    l.record_invoice(&invoice("account-0", h(1), 1_000, "req-1"))
        .unwrap();
    let s = l.settle_invoice(&h(1), 1_200, &[9; 32], 5).unwrap();
    match s {
        Settled::Credited {
            balance,
            amt_paid_msat,
            request_uuid,
        } => {
            assert_eq!(balance.balance_msat, 1_200);
            assert_eq!(amt_paid_msat, 1_200);
            assert_eq!(request_uuid.as_deref(), Some("req-1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(l.settle_index().unwrap(), 5);
    assert_eq!(
        l.settle_invoice(&h(1), 1_200, &[9; 32], 6).unwrap(),
        Settled::AlreadySettled
    );
    assert_eq!(bal(&l, "account-0"), 1_200);
    assert_eq!(l.settle_index().unwrap(), 6);
    let e = l.settle_invoice(&h(2), 1, &[0; 32], 7).unwrap_err();
    assert!(matches!(e, LedgerError::UnknownInvoice));
    assert_eq!(e.to_string(), "unknown invoice");
    assert_eq!(
        l.settle_index().unwrap(),
        6,
        "nothing of a failed call remains"
    );
    l.set_settle_index(7).unwrap();
    l.set_settle_index(3).unwrap();
    assert_eq!(l.settle_index().unwrap(), 7, "never lowered");
    // The node is authoritative: an invoice we saw expire but the node settled is credited.
    l.record_invoice(&invoice("account-0", h(3), 500, "req-3"))
        .unwrap();
    l.expire_invoices(u64::MAX).unwrap();
    assert!(matches!(
        l.settle_invoice(&h(3), 500, &[1; 32], 8).unwrap(),
        Settled::Credited { .. }
    ));
    let inv = l.invoice(&h(1)).unwrap().unwrap();
    assert_eq!(inv.state, InvoiceState::Settled);
    assert_eq!(inv.amt_paid_msat, Some(1_200));
    assert!(inv.settled_ms.is_some());
    assert_eq!(
        l.receipts("account-0", 1).unwrap()[0].kind,
        "invoice_settled"
    );
    let r = assert_ok(&l);
    assert_eq!(r.totals.received, 1_700);
}

#[test]
fn pay_reserve_refund_and_replay() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 10_000, 0).unwrap();
    l.create_account(None, 10_000, 0).unwrap();
    // amount + reserve above the balance.
    match l.begin_pay(&pay("account-0", "p1", h(1), 9_950, 100)) {
        Err(LedgerError::InsufficientBalance {
            needed: 10_050,
            available: 10_000,
        }) => {}
        other => panic!("{other:?}"),
    }
    let b = l
        .begin_pay(&pay("account-0", "p1", h(1), 5_000, 100))
        .unwrap();
    assert_eq!(b.balance_msat, 4_900);
    // The same uuid never pays twice; another pay of the same hash waits.
    assert!(matches!(
        l.begin_pay(&pay("account-0", "p1", h(1), 5_000, 100)),
        Err(LedgerError::AlreadyRequested(_))
    ));
    assert!(matches!(
        l.begin_pay(&pay("account-1", "p2", h(1), 5_000, 100)),
        Err(LedgerError::PaymentInFlight)
    ));
    let flying = l.in_flight_payments().unwrap();
    assert_eq!(flying.len(), 1);
    assert_eq!(flying[0].request_uuid, "p1");
    let r = assert_ok(&l);
    assert_eq!(r.in_flight, 5_100);
    let f = l.finish_pay_success(&h(1), 30, &[7; 32]).unwrap();
    assert_eq!(f.refunded_msat, 70);
    assert_eq!(f.balance.balance_msat, 4_970);
    assert!(matches!(
        l.finish_pay_success(&h(1), 30, &[7; 32]),
        Err(LedgerError::PaymentNotInFlight(PaymentState::Succeeded))
    ));
    assert!(matches!(
        l.finish_pay_failure(&h(9), "x"),
        Err(LedgerError::UnknownPayment)
    ));
    // Paid once, by anyone.
    assert!(matches!(
        l.begin_pay(&pay("account-1", "p3", h(1), 5_000, 100)),
        Err(LedgerError::AlreadyPaid)
    ));
    let p = l.payment(&h(1)).unwrap().unwrap();
    assert_eq!(p.state, PaymentState::Succeeded);
    assert_eq!(p.fee_paid_msat, Some(30));
    assert_eq!(p.preimage, Some([7; 32]));
    // Failure refunds everything; the hash may then be paid again (new uuid).
    l.begin_pay(&pay("account-1", "p4", h(2), 1_000, 10))
        .unwrap();
    let f = l
        .finish_pay_failure(&h(2), "no route to the payee")
        .unwrap();
    assert_eq!(f.refunded_msat, 1_010);
    assert_eq!(bal(&l, "account-1"), 10_000);
    assert_eq!(
        l.payment(&h(2)).unwrap().unwrap().failure.as_deref(),
        Some("no route to the payee")
    );
    assert!(matches!(
        l.begin_pay(&pay("account-1", "p4", h(2), 1_000, 10)),
        Err(LedgerError::AlreadyRequested(_))
    ));
    l.begin_pay(&pay("account-1", "p5", h(2), 1_000, 10))
        .unwrap();
    l.finish_pay_success(&h(2), 0, &[8; 32]).unwrap();
    let r = assert_ok(&l);
    assert_eq!(r.totals.paid, 6_000);
    assert_eq!(r.totals.fees, 30);
    assert_eq!(r.in_flight, 0);
}

#[test]
fn fee_above_reserve_never_goes_negative() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 1_100, 0).unwrap();
    l.begin_pay(&pay("account-0", "p1", h(1), 1_000, 10))
        .unwrap();
    assert_eq!(bal(&l, "account-0"), 90);
    // Fee 50 > reserve 10: 40 more, covered.
    let f = l.finish_pay_success(&h(1), 50, &[1; 32]).unwrap();
    assert_eq!((f.extra_fee_msat, f.fee_shortfall_msat), (40, 0));
    assert_eq!(bal(&l, "account-0"), 50);
    // Fee 500 > reserve 0 + balance 0 after the pay: all of it is shortfall beyond 0.
    l.begin_pay(&pay("account-0", "p2", h(2), 50, 0)).unwrap();
    let f = l.finish_pay_success(&h(2), 500, &[2; 32]).unwrap();
    assert_eq!((f.extra_fee_msat, f.fee_shortfall_msat), (0, 500));
    assert_eq!(f.balance.balance_msat, 0);
    let p = l.payment(&h(2)).unwrap().unwrap();
    assert_eq!((p.fee_paid_msat, p.fee_charged_msat), (Some(500), Some(0)));
    assert_eq!(l.receipts("account-0", 1).unwrap()[0].kind, "fee_shortfall");
    let r = assert_ok(&l);
    assert_eq!(r.totals.fees, 50);
    assert_eq!(r.totals.fee_shortfall, 500);
}

#[test]
fn internal_transfer_settles_without_the_node() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 0, 0).unwrap(); // payee
    l.create_account(None, 3_000, 0).unwrap(); // payer
    l.record_invoice(&invoice("account-0", h(1), 1_000, "inv-1"))
        .unwrap();
    assert!(matches!(
        l.begin_pay(&pay("account-1", "p1", h(1), 1_000, 10)),
        Err(LedgerError::OwnInvoice)
    ));
    let t = l
        .internal_transfer("account-1", "p1", &h(1), Some(&[5; 32]))
        .unwrap();
    assert_eq!(t.payer.balance_msat, 2_000);
    assert_eq!(t.payee.balance_msat, 1_000);
    assert_eq!(t.invoice_request_uuid.as_deref(), Some("inv-1"));
    let inv = l.invoice(&h(1)).unwrap().unwrap();
    assert!(inv.internal);
    assert_eq!(inv.state, InvoiceState::Settled);
    let p = l.payment(&h(1)).unwrap().unwrap();
    assert!(p.internal && p.state == PaymentState::Succeeded && p.fee_paid_msat == Some(0));
    assert!(matches!(
        l.internal_transfer("account-1", "p1", &h(1), None),
        Err(LedgerError::AlreadyRequested(_))
    ));
    assert!(matches!(
        l.internal_transfer("account-1", "p2", &h(1), None),
        Err(LedgerError::AlreadyPaid)
    ));
    // Insufficient, expired, unknown.
    l.record_invoice(&invoice("account-0", h(2), 5_000, "inv-2"))
        .unwrap();
    assert!(matches!(
        l.internal_transfer("account-1", "p3", &h(2), None),
        Err(LedgerError::InsufficientBalance {
            needed: 5_000,
            available: 2_000
        })
    ));
    assert!(matches!(
        l.internal_transfer("account-1", "p3", &h(3), None),
        Err(LedgerError::UnknownInvoice)
    ));
    l.expire_invoices(u64::MAX).unwrap();
    assert!(matches!(
        l.internal_transfer("account-1", "p3", &h(2), None),
        Err(LedgerError::InvoiceNotOpen(InvoiceState::Expired))
    ));
    // Paying one's own invoice: no change.
    l.record_invoice(&invoice("account-1", h(4), 700, "inv-4"))
        .unwrap();
    let t = l.internal_transfer("account-1", "p4", &h(4), None).unwrap();
    assert_eq!((t.payer.balance_msat, t.payee.balance_msat), (2_000, 2_000));
    let kinds: Vec<_> = l
        .receipts("account-0", 0)
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(kinds[0], "internal_transfer");
    let r = assert_ok(&l);
    assert_eq!(
        (r.totals.received, r.totals.paid, r.totals.internal),
        (0, 0, 1_700)
    );
}

#[test]
fn batch_commits_together_or_not_at_all() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 10_000, 0).unwrap();
    l.record_invoice(&invoice("account-0", h(1), 1_000, "i1"))
        .unwrap();
    // One round: a pay, a settlement, an unknown settlement handled in the batch.
    let n = l
        .batch(|tx| -> Result<u32> {
            tx.begin_pay(&pay("account-0", "p1", h(2), 2_000, 20))?;
            tx.settle_invoice(&h(1), 1_000, &[1; 32], 1)?;
            match tx.settle_invoice(&h(3), 1, &[3; 32], 2) {
                Err(LedgerError::UnknownInvoice) => tx.set_settle_index(2)?,
                other => panic!("{other:?}"),
            }
            assert_eq!(tx.account("account-0")?.balance_msat, 8_980);
            Ok(3)
        })
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(bal(&l, "account-0"), 8_980);
    assert_eq!(l.settle_index().unwrap(), 2);
    // An error out of the closure rolls everything back.
    let e = l
        .batch(|tx| -> Result<()> {
            tx.deposit("account-0", 1_000)?;
            tx.withdraw("account-0", 1_000_000)?;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(e, LedgerError::InsufficientBalance { .. }));
    assert_eq!(bal(&l, "account-0"), 8_980);
    assert_ok(&l);
}

#[test]
fn a_round_is_one_commit_and_a_failed_operation_only_undoes_itself() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 10_000, 0).unwrap();
    l.record_invoice(&invoice("account-0", h(1), 1_000, "i1"))
        .unwrap();
    let before = l.commits();
    // A round without an operation opens no transaction.
    l.begin_round();
    assert!(!l.commit_round().unwrap());
    assert_eq!(l.commits(), before);
    l.begin_round();
    l.begin_pay(&pay("account-0", "p1", h(2), 2_000, 20))
        .unwrap();
    // Refused inside the round: its savepoint only.
    assert!(matches!(
        l.withdraw("account-0", 1_000_000),
        Err(LedgerError::InsufficientBalance { .. })
    ));
    l.settle_invoice(&h(1), 1_000, &[1; 32], 1).unwrap();
    l.append_receipt("account-0", ReceiptKind::SessionStart, &json!({}))
        .unwrap();
    // Reads see the round's changes before they are durable.
    assert_eq!(bal(&l, "account-0"), 8_980);
    assert_eq!(l.commits(), before);
    assert!(l.commit_round().unwrap());
    assert_eq!(l.commits(), before + 1);
    // Outside a round every operation is its own commit again.
    l.deposit("account-0", 20).unwrap();
    assert_eq!(l.commits(), before + 2);
    drop(l);
    let (l, _) = open(&d);
    assert_eq!(bal(&l, "account-0"), 9_000);
    assert_eq!(l.settle_index().unwrap(), 1);
    assert_ok(&l);
}

#[test]
fn a_round_whose_commit_fails_leaves_the_ledger_as_before() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 10_000, 0).unwrap();
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    l.fail_commits_while(Arc::clone(&fail));
    l.begin_round();
    l.begin_pay(&pay("account-0", "p1", h(2), 2_000, 20))
        .unwrap();
    l.deposit("account-0", 5).unwrap();
    assert!(l.commit_round().is_err());
    assert_eq!(bal(&l, "account-0"), 10_000);
    assert_eq!(l.payment(&h(2)).unwrap(), None);
    // The next round starts clean and commits.
    fail.store(false, Ordering::SeqCst);
    l.begin_round();
    l.begin_pay(&pay("account-0", "p1", h(2), 2_000, 20))
        .unwrap();
    assert!(l.commit_round().unwrap());
    drop(l);
    let (l, _) = open(&d);
    assert_eq!(bal(&l, "account-0"), 7_980);
    assert_ok(&l);
}

#[test]
fn a_round_sqlite_gave_up_fails_to_its_end_and_commits_nothing() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 10_000, 0).unwrap();
    let commits = l.commits();
    l.begin_round();
    l.deposit("account-0", 1_000).unwrap();
    // As SQLite does after some I/O errors: the transaction is gone.
    l.conn.execute_batch("ROLLBACK").unwrap();
    // Nothing after it may commit by itself.
    assert!(matches!(
        l.deposit("account-0", 2_000),
        Err(LedgerError::RoundRolledBack)
    ));
    assert!(matches!(
        l.commit_round(),
        Err(LedgerError::RoundRolledBack)
    ));
    assert_eq!(l.commits(), commits);
    assert_eq!(bal(&l, "account-0"), 10_000);
    // The next round is a fresh one.
    l.begin_round();
    l.deposit("account-0", 3_000).unwrap();
    assert!(l.commit_round().unwrap());
    assert_eq!(bal(&l, "account-0"), 13_000);
    assert_ok(&l);
}

#[test]
fn two_begin_pay_same_uuid_one_wins() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 10_000, 0).unwrap();
    let r = l.batch(|tx| -> Result<(bool, bool)> {
        let a = tx
            .begin_pay(&pay("account-0", "same", h(1), 1_000, 0))
            .is_ok();
        let b = tx
            .begin_pay(&pay("account-0", "same", h(2), 1_000, 0))
            .is_ok();
        Ok((a, b))
    });
    assert_eq!(r.unwrap(), (true, false));
    assert!(l.begin_pay(&pay("account-0", "same", h(3), 1, 0)).is_err());
    assert_eq!(bal(&l, "account-0"), 9_000);
    assert_ok(&l);
}

#[test]
fn restart_keeps_everything() {
    let d = TempDir::new();
    let before;
    {
        let (mut l, _) = open(&d);
        l.create_account(None, 10_000, 50_000).unwrap();
        l.add_seed("account-0", "ffffffffffffffffffffffffffffffff")
            .unwrap();
        l.record_invoice(&invoice("account-0", h(1), 1_000, "i1"))
            .unwrap();
        l.record_invoice(&invoice("account-0", h(4), 1_000, "i4"))
            .unwrap();
        l.settle_invoice(&h(1), 1_000, &[1; 32], 42).unwrap();
        l.begin_pay(&pay("account-0", "p1", h(2), 3_000, 30))
            .unwrap();
        l.append_receipt("account-0", ReceiptKind::SessionStart, &json!({}))
            .unwrap();
        before = (
            l.list_accounts().unwrap(),
            l.receipts("account-0", 0).unwrap(),
            l.check().unwrap(),
        );
    }
    let (mut l, _) = open(&d);
    assert_eq!(l.list_accounts().unwrap(), before.0);
    assert_eq!(l.receipts("account-0", 0).unwrap(), before.1);
    assert_eq!(l.check().unwrap(), before.2);
    assert_eq!(l.settle_index().unwrap(), 42);
    assert_eq!(l.open_invoices().unwrap().len(), 1);
    let flying = l.in_flight_payments().unwrap();
    assert_eq!(flying.len(), 1);
    // The terminus re-checks it with the node and finishes it.
    l.finish_pay_failure(&flying[0].payment_hash, "node: never attempted")
        .unwrap();
    assert_eq!(bal(&l, "account-0"), 11_000);
    assert_ok(&l);
}

#[test]
fn session_receipts_only() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 0, 0).unwrap();
    for k in ReceiptKind::ALL {
        assert_eq!(ReceiptKind::parse(k.as_str()), Some(k));
        let r = l.append_receipt("account-0", k, &json!({ "x": 1 }));
        if k.is_session_kind() {
            r.unwrap();
        } else {
            assert!(matches!(r, Err(LedgerError::NotAppendable(_))));
        }
    }
    let r = l.receipts("account-0", 0).unwrap();
    assert_eq!(r[0].kind, "session_end");
    assert_eq!(r.len(), 8);
    assert_ok(&l);
}

#[test]
fn check_catches_drift() {
    let d = TempDir::new();
    let (mut l, _) = open(&d);
    l.create_account(None, 1_000, 0).unwrap();
    assert_ok(&l);
    l.conn
        .execute("UPDATE accounts SET balance_msat = balance_msat + 1", [])
        .unwrap();
    let r = l.check().unwrap();
    assert!(!r.ok());
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    l.conn
        .execute("UPDATE accounts SET balance_msat = balance_msat - 1", [])
        .unwrap();
    l.conn
        .execute("UPDATE totals SET msat = msat + 5 WHERE name = 'fees'", [])
        .unwrap();
    let r = l.check().unwrap();
    assert!(!r.ok());
    assert!(r.problems.iter().any(|p| p.contains("receipts'")));
}

const BOLT11_2500U: &str = "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh";

fn write(dir: &Path, name: &str, v: &serde_json::Value) {
    std::fs::write(dir.join(name), v.to_string()).unwrap();
}

#[test]
fn import_python_accounts() {
    let d = TempDir::new();
    let src = d.0.join("accounts");
    std::fs::create_dir_all(&src).unwrap();
    let wad = |m: serde_json::Value| json!({ "msats": m, "asset_stable": false, "code": "BTC" });
    write(
        &src,
        "account-0.json",
        &json!({
            "account_name": "account-0",
            "account_uuid": "6E8AE3B2-9C3B-4E4B-8F7E-1D7A4F5B2C10",
            "wad": wad(json!(1234567.0)),
            "cap": wad(json!(0)),
            "pending": {
                "0001020304050607080900010203040506070809000102030405060708090102": BOLT11_2500U,
                "ab": "lnbcnotaninvoice"
            },
            "shared_seeds": ["0123456789abcdef0123456789abcdef"],
            "beacons": ["moneysocket1x", "moneysocket1y", "moneysocket1z", "moneysocket1w"],
            "receipts": [
                [{ "type": "session_end", "time": 1600000010.5 }, { "type": "pay_request", "time": 1600000005.0, "wad": {} }],
                [{ "type": "session_start", "time": 1600000000.0 }, { "type": "bogus", "time": 1.0 }]
            ]
        }),
    );
    write(
        &src,
        "account-1.json",
        &json!({
            "account_name": "account-1",
            "account_uuid": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0",
            "wad": wad(json!(5000)),
            "cap": wad(json!(100000))
        }),
    );
    std::fs::write(src.join("notes.txt"), "ignored").unwrap();
    let (mut l, _) = open(&d);
    let rep = l.import_python(&src).unwrap();
    assert_eq!(
        rep.accounts,
        [
            ("account-0".to_owned(), 1_234_567),
            ("account-1".to_owned(), 5_000)
        ]
    );
    assert_eq!(rep.skipped.len(), 3, "{:?}", rep.skipped);
    let a = l.account("account-0").unwrap();
    assert_eq!(a.uuid, "6e8ae3b2-9c3b-4e4b-8f7e-1d7a4f5b2c10");
    assert_eq!(a.balance_msat, 1_234_567);
    assert_eq!(a.beacons.len(), 3);
    assert_eq!(a.seeds.len(), 1);
    assert_eq!(l.account("account-1").unwrap().cap_msat, 100_000);
    let inv = l.open_invoices().unwrap();
    assert_eq!(inv.len(), 1);
    assert_eq!(inv[0].msats, 250_000_000);
    let kinds: Vec<_> = l
        .receipts("account-0", 0)
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "imported",
            "account_created",
            "session_end",
            "pay_request",
            "session_start"
        ]
    );
    let r = assert_ok(&l);
    assert_eq!(r.totals.deposits, 1_239_567);
    // A second import of the same files: refused whole.
    let before = l.list_accounts().unwrap();
    assert!(matches!(
        l.import_python(&src),
        Err(LedgerError::DuplicateAccount(_))
    ));
    assert_eq!(l.list_accounts().unwrap(), before);
    // Fractional msats are refused.
    let src2 = d.0.join("frac");
    std::fs::create_dir_all(&src2).unwrap();
    write(
        &src2,
        "x.json",
        &json!({ "account_name": "x", "account_uuid": "11111111-2222-4333-8444-555555555555",
                 "wad": wad(json!(1000.5)) }),
    );
    assert!(matches!(
        l.import_python(&src2),
        Err(LedgerError::Import { .. })
    ));
    assert!(l.account("x").is_err());
    assert_ok(&l);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Create(u64, u64),
        Deposit(u8, u64),
        Withdraw(u8, u64),
        Invoice(u8, u8, u64),
        Settle(u8, u64),
        Expire,
        Tick(u64),
        BeginPay(u8, u8, u64, u64),
        Succeed(u8, u64),
        Fail(u8),
        Internal(u8, u8),
        Rm(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        let amt = 0u64..20_000;
        prop_oneof![
            2 => (amt.clone(), prop_oneof![Just(0u64), 1u64..50_000]).prop_map(|(a, c)| Op::Create(a, c)),
            3 => (any::<u8>(), amt.clone()).prop_map(|(a, m)| Op::Deposit(a, m)),
            1 => (any::<u8>(), amt.clone()).prop_map(|(a, m)| Op::Withdraw(a, m)),
            3 => (any::<u8>(), 0u8..16, amt.clone()).prop_map(|(a, hsh, m)| Op::Invoice(a, hsh, m)),
            3 => (any::<u8>(), amt.clone()).prop_map(|(hsh, m)| Op::Settle(hsh, m)),
            1 => Just(Op::Expire),
            1 => (0u64..4_000_000).prop_map(Op::Tick),
            4 => (any::<u8>(), 0u8..32, 1u64..5_000, 0u64..500)
                .prop_map(|(a, hsh, m, r)| Op::BeginPay(a, hsh, m, r)),
            3 => (any::<u8>(), 0u64..1_000).prop_map(|(hsh, f)| Op::Succeed(hsh, f)),
            2 => any::<u8>().prop_map(Op::Fail),
            2 => (any::<u8>(), any::<u8>()).prop_map(|(a, hsh)| Op::Internal(a, hsh)),
            1 => any::<u8>().prop_map(Op::Rm),
        ]
    }

    /// An open invoice (by index), or `None` one time in four.
    fn known_invoice(l: &Ledger, i: u8) -> Option<PaymentHash> {
        let open = l.open_invoices().unwrap();
        (i % 4 != 0 && !open.is_empty()).then(|| open[usize::from(i) % open.len()].payment_hash)
    }

    /// A payment in flight (by index), or `None` one time in eight.
    fn flying(l: &Ledger, i: u8) -> Option<PaymentHash> {
        let f = l.in_flight_payments().unwrap();
        (i % 8 != 0 && !f.is_empty()).then(|| f[usize::from(i) % f.len()].payment_hash)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn random_operations_keep_the_invariant(ops in proptest::collection::vec(op(), 1..60)) {
            let (c, t) = clock(T0);
            let mut l = Ledger::open_with_clock(Path::new(":memory:"), c).unwrap();
            let mut uuid = 0u32;
            let mut names: Vec<String> = Vec::new();
            let pick = |names: &Vec<String>, i: u8| -> String {
                if names.is_empty() { "none".into() } else { names[usize::from(i) % names.len()].clone() }
            };
            for op in ops {
                uuid += 1;
                let u = format!("u{uuid}");
                // Errors are fine (refusals); inconsistency is not.
                let _ = match op {
                    Op::Create(a, cap) => l.create_account(None, a, cap).map(|a| names.push(a.name)),
                    Op::Deposit(a, m) => l.deposit(&pick(&names, a), m).map(drop),
                    Op::Withdraw(a, m) => l.withdraw(&pick(&names, a), m).map(drop),
                    Op::Invoice(a, hsh, m) => {
                        let name = pick(&names, a);
                        l.record_invoice(&NewInvoice {
                            account: &name, request_uuid: Some(&u), bolt11: "lnbcrt1x",
                            payment_hash: h(hsh), msats: m,
                            expires_at: t.load(Ordering::Relaxed) / 1000 + 3600,
                            preimage: None,
                        })
                    }
                    Op::Settle(hsh, m) => {
                        // Mostly an invoice on record (open or not), sometimes an unknown one.
                        let hash = known_invoice(&l, hsh).unwrap_or(h(hsh));
                        l.settle_invoice(&hash, m, &[0; 32], u64::from(uuid)).map(drop)
                    }
                    Op::Expire => l.expire_invoices(t.load(Ordering::Relaxed) / 1000).map(drop),
                    Op::Tick(ms) => { t.fetch_add(ms, Ordering::Relaxed); Ok(()) }
                    Op::BeginPay(a, hsh, m, r) => {
                        let name = pick(&names, a);
                        l.begin_pay(&pay(&name, &u, h(hsh), m, r)).map(drop)
                    }
                    Op::Succeed(i, f) => {
                        let hash = flying(&l, i).unwrap_or(h(i));
                        l.finish_pay_success(&hash, f, &[1; 32]).map(drop)
                    }
                    Op::Fail(i) => {
                        let hash = flying(&l, i).unwrap_or(h(i));
                        l.finish_pay_failure(&hash, "failed").map(drop)
                    }
                    Op::Internal(a, hsh) => {
                        let hash = known_invoice(&l, hsh).unwrap_or(h(hsh));
                        l.internal_transfer(&pick(&names, a), &u, &hash, None).map(drop)
                    }
                    Op::Rm(a) => {
                        let name = pick(&names, a);
                        let r = l.remove_account(&name).map(drop);
                        if r.is_ok() { names.retain(|n| *n != name); }
                        r
                    }
                };
                let rep = l.check().unwrap();
                prop_assert!(rep.ok(), "{:#?}", rep);
                let neg: i64 = l.conn.query_row(
                    "SELECT COUNT(*) FROM accounts WHERE balance_msat < 0", [], |r| r.get(0)).unwrap();
                prop_assert_eq!(neg, 0);
            }
        }
    }
}

#[test]
fn an_internal_transfer_reveals_the_invoices_stored_preimage() {
    let dir = TempDir::new();
    let (mut l, _t) = open(&dir);
    let payer = l.create_account(None, 50_000, 0).unwrap().name;
    let payee = l.create_account(None, 0, 0).unwrap().name;
    let preimage = [0x11; 32];
    let hash = [0x22; 32];
    l.record_invoice(&NewInvoice {
        preimage: Some(preimage),
        ..invoice(&payee, hash, 20_000, "req-inv")
    })
    .unwrap();
    let t = l.internal_transfer(&payer, "req-pay", &hash, None).unwrap();
    assert_eq!(t.preimage, Some(preimage));
    assert_eq!(t.payee.balance_msat, 20_000);
    assert!(l.check().unwrap().ok());
}
