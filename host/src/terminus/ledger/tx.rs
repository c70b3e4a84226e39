//! The operations, as methods of a transaction ([`LedgerTx`]), and the reads.

use rand_core::{CryptoRng, RngCore};
use rusqlite::{params, Connection, OptionalExtension, Row, Savepoint, Transaction};
use serde_json::json;

use moneysocket_core::uuid::Uuid;

use super::{
    hex, Account, Balance, CheckReport, Clock, Invoice, InvoiceState, LedgerError, NewInvoice,
    PayFinished, PayRequest, Payment, PaymentState, Receipt, ReceiptKind, Result, Settled, Totals,
    Transfer, DEFAULT_ACCOUNT_BASE, MAX_BEACONS_PER_ACCOUNT, MAX_MSAT,
};
use crate::terminus::node::{PaymentHash, Preimage};

/// The longest account name.
const MAX_NAME_LEN: usize = 64;
/// The longest beacon string.
const MAX_BEACON_LEN: usize = 2048;
/// The longest request uuid or failure text kept.
const MAX_TEXT_LEN: usize = 1024;

/// One open transaction of the ledger. Every method is atomic by itself (a savepoint): when
/// it returns an error, nothing it did remains and the transaction may go on. Nothing is
/// durable until [`super::Ledger::batch`] commits (or, inside a round, until
/// [`super::Ledger::commit_round`] commits the round).
pub struct LedgerTx<'a> {
    tx: Scope<'a>,
    clock: Clock,
}

/// What a [`LedgerTx`] runs in: a transaction of its own, or a savepoint inside the open
/// transaction of a round.
enum Scope<'a> {
    Tx(Transaction<'a>),
    Round(Savepoint<'a>),
}

impl std::ops::Deref for Scope<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Scope::Tx(t) => t,
            Scope::Round(s) => s,
        }
    }
}

impl Scope<'_> {
    fn savepoint(&mut self) -> rusqlite::Result<Savepoint<'_>> {
        match self {
            Scope::Tx(t) => t.savepoint(),
            Scope::Round(s) => s.savepoint(),
        }
    }
}

/// A live account's row.
pub(super) struct Acct {
    pub(super) id: i64,
    name: String,
    uuid: String,
    balance: u64,
    cap: u64,
}

impl<'a> LedgerTx<'a> {
    /// A transaction of its own (committed by [`LedgerTx::commit`]).
    pub(super) fn new(tx: Transaction<'a>, clock: Clock) -> Self {
        LedgerTx {
            tx: Scope::Tx(tx),
            clock,
        }
    }

    /// A savepoint inside a round's open transaction ([`LedgerTx::commit`] releases it:
    /// durable only when the round commits).
    pub(super) fn in_round(sp: Savepoint<'a>, clock: Clock) -> Self {
        LedgerTx {
            tx: Scope::Round(sp),
            clock,
        }
    }

    /// Commits the transaction, or releases the savepoint into the round's transaction.
    pub(super) fn commit(self) -> Result<()> {
        match self.tx {
            Scope::Tx(t) => t.commit()?,
            Scope::Round(s) => s.commit()?,
        }
        Ok(())
    }

    /// Runs `f` in a savepoint with the clock's time (Unix ms).
    fn atomic<T>(&mut self, f: impl FnOnce(&Connection, u64) -> Result<T>) -> Result<T> {
        let now = (self.clock)();
        let sp = self.tx.savepoint()?;
        let out = f(&sp, now)?;
        sp.commit()?;
        Ok(out)
    }

    /// Creates an account named `<base>-<n>` (smallest free `n` from 0; base
    /// [`DEFAULT_ACCOUNT_BASE`] when `None`) with a v4 uuid from `rng`, the given cap
    /// (0: none) and, when `initial_msat > 0`, a recorded deposit.
    pub fn create_account<R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        base: Option<&str>,
        initial_msat: u64,
        cap_msat: u64,
        rng: &mut R,
    ) -> Result<Account> {
        let base = base.unwrap_or(DEFAULT_ACCOUNT_BASE);
        check_name(base)?;
        check_amount(initial_msat, true)?;
        check_amount(cap_msat, true)?;
        let uuid = Uuid::new_v4(rng).to_string();
        self.atomic(|c, now| {
            let name = free_name(c, base)?;
            check_name(&name)?;
            insert_account(c, &name, &uuid, cap_msat, now)?;
            receipt(
                c,
                &uuid,
                ReceiptKind::AccountCreated,
                0,
                0,
                0,
                json!({ "name": name, "cap_msat": cap_msat }),
                now,
            )?;
            if initial_msat > 0 {
                let a = live(c, &name)?;
                deposit_in(c, &a, initial_msat, now)?;
            }
            account_by(c, "name", &name)
        })
    }

    /// Removes an account: refused while it has seeds or beacons (`still has connections:
    /// NAME`) or payments in flight. Its open invoices are cancelled and its remaining
    /// balance is recorded as a withdrawal (returned). Its records and receipts stay.
    pub fn remove_account(&mut self, name: &str) -> Result<u64> {
        self.atomic(|c, now| {
            let a = live(c, name)?;
            let conns: i64 = c.query_row(
                "SELECT (SELECT COUNT(*) FROM seeds WHERE account_id = ?1)
                      + (SELECT COUNT(*) FROM beacons WHERE account_id = ?1)",
                [a.id],
                |r| r.get(0),
            )?;
            if conns > 0 {
                return Err(LedgerError::StillConnected(a.name));
            }
            let flying: i64 = c.query_row(
                "SELECT COUNT(*) FROM payments WHERE account_id = ?1 AND state = 'in_flight'",
                [a.id],
                |r| r.get(0),
            )?;
            if flying > 0 {
                return Err(LedgerError::PaymentsInFlight(a.name));
            }
            let cancelled = c.execute(
                "UPDATE invoices SET state = 'cancelled' WHERE account_id = ?1 AND state = 'open'",
                [a.id],
            )?;
            let withdrawn = a.balance;
            if withdrawn > 0 {
                set_balance(c, a.id, 0)?;
                add_total(c, "withdrawals", withdrawn)?;
                receipt(
                    c,
                    &a.uuid,
                    ReceiptKind::Withdraw,
                    neg(withdrawn)?,
                    withdrawn,
                    0,
                    json!({ "msats": withdrawn, "reason": "account removed" }),
                    now,
                )?;
            }
            c.execute(
                "UPDATE accounts SET removed_ms = ?2 WHERE id = ?1",
                params![a.id, now],
            )?;
            receipt(
                c,
                &a.uuid,
                ReceiptKind::AccountRemoved,
                0,
                0,
                0,
                json!({ "name": a.name, "withdrawn_msat": withdrawn, "invoices_cancelled": cancelled }),
                now,
            )?;
            Ok(withdrawn)
        })
    }

    /// Sets the cap (0: none). It limits invoices, not operator deposits.
    pub fn set_cap(&mut self, name: &str, cap_msat: u64) -> Result<Balance> {
        check_amount(cap_msat, true)?;
        self.atomic(|c, now| {
            let a = live(c, name)?;
            c.execute(
                "UPDATE accounts SET cap_msat = ?2 WHERE id = ?1",
                params![a.id, cap_msat],
            )?;
            receipt(
                c,
                &a.uuid,
                ReceiptKind::CapSet,
                0,
                0,
                0,
                json!({ "cap_msat": cap_msat, "previous_msat": a.cap }),
                now,
            )?;
            Ok(balance_of(&a, a.balance))
        })
    }

    /// An operator deposit (> 0), recorded.
    pub fn deposit(&mut self, name: &str, msat: u64) -> Result<Balance> {
        check_amount(msat, false)?;
        self.atomic(|c, now| {
            let a = live(c, name)?;
            deposit_in(c, &a, msat, now)
        })
    }

    /// An operator withdrawal (> 0, at most the balance), recorded.
    pub fn withdraw(&mut self, name: &str, msat: u64) -> Result<Balance> {
        check_amount(msat, false)?;
        self.atomic(|c, now| {
            let a = live(c, name)?;
            if msat > a.balance {
                return Err(LedgerError::InsufficientBalance {
                    needed: msat,
                    available: a.balance,
                });
            }
            let bal = a.balance - msat;
            set_balance(c, a.id, bal)?;
            add_total(c, "withdrawals", msat)?;
            receipt(
                c,
                &a.uuid,
                ReceiptKind::Withdraw,
                neg(msat)?,
                msat,
                0,
                json!({ "msats": msat }),
                now,
            )?;
            Ok(balance_of(&a, bal))
        })
    }

    /// Adds a listen seed (32 hex characters, stored lowercase; one account per seed).
    pub fn add_seed(&mut self, name: &str, seed_hex: &str) -> Result<()> {
        let seed = norm_seed(seed_hex)?;
        self.atomic(|c, now| {
            let a = live(c, name)?;
            let taken: Option<i64> = c
                .query_row("SELECT 1 FROM seeds WHERE seed = ?1", [&seed], |r| r.get(0))
                .optional()?;
            if taken.is_some() {
                return Err(LedgerError::SeedInUse(seed));
            }
            c.execute(
                "INSERT INTO seeds(seed, account_id, added_ms) VALUES (?1, ?2, ?3)",
                params![seed, a.id, now],
            )?;
            // No secrets in receipts: a seed (or a beacon, which carries one) is not logged.
            receipt(
                c,
                &a.uuid,
                ReceiptKind::ConnectionAdded,
                0,
                0,
                0,
                json!({ "type": "seed" }),
                now,
            )?;
            Ok(())
        })
    }

    /// Adds a connect beacon (at most [`MAX_BEACONS_PER_ACCOUNT`] per account).
    pub fn add_beacon(&mut self, name: &str, beacon: &str) -> Result<()> {
        if beacon.is_empty()
            || beacon.len() > MAX_BEACON_LEN
            || !beacon.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(LedgerError::InvalidBeacon(clip(beacon)));
        }
        self.atomic(|c, now| {
            let a = live(c, name)?;
            let (n, dup): (i64, i64) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(beacon = ?2), 0) FROM beacons WHERE account_id = ?1",
                params![a.id, beacon],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if dup > 0 {
                return Err(LedgerError::DuplicateBeacon(beacon.to_owned()));
            }
            if usize::try_from(n).unwrap_or(usize::MAX) >= MAX_BEACONS_PER_ACCOUNT {
                return Err(LedgerError::TooManyBeacons(a.name));
            }
            c.execute(
                "INSERT INTO beacons(account_id, beacon, added_ms) VALUES (?1, ?2, ?3)",
                params![a.id, beacon, now],
            )?;
            receipt(
                c,
                &a.uuid,
                ReceiptKind::ConnectionAdded,
                0,
                0,
                0,
                json!({ "type": "beacon" }),
                now,
            )?;
            Ok(())
        })
    }

    /// Removes one seed or beacon of the account.
    pub fn remove_connection(&mut self, name: &str, seed_or_beacon: &str) -> Result<()> {
        self.atomic(|c, now| {
            let a = live(c, name)?;
            let seed = norm_seed(seed_or_beacon).ok();
            let mut kind = "beacon";
            let mut n = 0;
            if let Some(seed) = seed {
                n = c.execute(
                    "DELETE FROM seeds WHERE seed = ?1 AND account_id = ?2",
                    params![seed, a.id],
                )?;
                kind = "seed";
            }
            if n == 0 {
                n = c.execute(
                    "DELETE FROM beacons WHERE beacon = ?1 AND account_id = ?2",
                    params![seed_or_beacon, a.id],
                )?;
                kind = "beacon";
            }
            if n == 0 {
                return Err(LedgerError::UnknownConnection(clip(seed_or_beacon)));
            }
            receipt(
                c,
                &a.uuid,
                ReceiptKind::ConnectionRemoved,
                0,
                0,
                0,
                json!({ "type": kind }),
                now,
            )?;
            Ok(())
        })
    }

    /// Removes every seed and beacon of the account; returns how many.
    pub fn clear_connections(&mut self, name: &str) -> Result<usize> {
        self.atomic(|c, now| {
            let a = live(c, name)?;
            let n = c.execute("DELETE FROM seeds WHERE account_id = ?1", [a.id])?
                + c.execute("DELETE FROM beacons WHERE account_id = ?1", [a.id])?;
            if n > 0 {
                receipt(
                    c,
                    &a.uuid,
                    ReceiptKind::ConnectionRemoved,
                    0,
                    0,
                    0,
                    json!({ "type": "all", "count": n }),
                    now,
                )?;
            }
            Ok(n)
        })
    }

    /// Whether an invoice of `msats` fits under the cap now (read only): see
    /// [`LedgerTx::record_invoice`].
    pub fn check_cap(&mut self, name: &str, msats: u64) -> Result<()> {
        check_amount(msats, false)?;
        self.atomic(|c, now| {
            let a = live(c, name)?;
            cap_ok(c, &a, msats, now)
        })
    }

    /// Records an invoice the node created for an account. With a cap, refuses
    /// ([`LedgerError::CapExceeded`]) when balance + Σ open unexpired invoices + `msats`
    /// would exceed it.
    pub fn record_invoice(&mut self, inv: &NewInvoice<'_>) -> Result<()> {
        check_amount(inv.msats, false)?;
        if let Some(u) = inv.request_uuid {
            check_text("request uuid", u)?;
        }
        self.atomic(|c, now| {
            let a = live(c, inv.account)?;
            if invoice(c, &inv.payment_hash)?.is_some() {
                return Err(LedgerError::DuplicateInvoice);
            }
            cap_ok(c, &a, inv.msats, now)?;
            c.execute(
                "INSERT INTO invoices(payment_hash, account_id, bolt11, msats, state, created_ms,
                                      expires_at, request_uuid, preimage)
                 VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?7, ?8)",
                params![
                    &inv.payment_hash[..],
                    a.id,
                    inv.bolt11,
                    inv.msats,
                    now,
                    inv.expires_at.min(i64::MAX as u64),
                    inv.request_uuid,
                    inv.preimage.map(|p| p.to_vec())
                ],
            )?;
            Ok(())
        })
    }

    /// The node settled an invoice: credits the account with `amt_paid_msat` (what was
    /// actually received), marks it settled, writes an `invoice_settled` receipt and stores
    /// `settle_index` as the last processed (never lowering it). The node is authoritative:
    /// an invoice the ledger saw as expired or cancelled is credited too. Settled before:
    /// [`Settled::AlreadySettled`], nothing else changes. Unknown hash:
    /// [`LedgerError::UnknownInvoice`] (then store the index with
    /// [`LedgerTx::set_settle_index`]).
    pub fn settle_invoice(
        &mut self,
        hash: &PaymentHash,
        amt_paid_msat: u64,
        preimage: &Preimage,
        settle_index: u64,
    ) -> Result<Settled> {
        check_amount(amt_paid_msat, true)?;
        self.atomic(|c, now| {
            let inv = invoice(c, hash)?.ok_or(LedgerError::UnknownInvoice)?;
            bump_settle_index(c, settle_index)?;
            if inv.state == InvoiceState::Settled {
                return Ok(Settled::AlreadySettled);
            }
            let a = account_row(c, "SELECT id, name, uuid, balance_msat, cap_msat FROM accounts WHERE id = (SELECT account_id FROM invoices WHERE payment_hash = ?1)", [&hash[..]])?;
            let bal = credit(a.balance, amt_paid_msat)?;
            set_balance(c, a.id, bal)?;
            c.execute(
                "UPDATE invoices SET state = 'settled', settled_ms = ?2, amt_paid_msat = ?3,
                        preimage = ?4
                 WHERE payment_hash = ?1",
                params![&hash[..], now, amt_paid_msat, &preimage[..]],
            )?;
            add_total(c, "received", amt_paid_msat)?;
            receipt(
                c,
                &a.uuid,
                ReceiptKind::InvoiceSettled,
                pos(amt_paid_msat)?,
                amt_paid_msat,
                0,
                json!({
                    "payment_hash": hex(hash),
                    "msats": inv.msats,
                    "amt_paid_msat": amt_paid_msat,
                    "request_uuid": inv.request_uuid,
                    "previous_state": inv.state.as_str(),
                    "settle_index": settle_index,
                }),
                now,
            )?;
            Ok(Settled::Credited {
                balance: balance_of(&a, bal),
                amt_paid_msat,
                request_uuid: inv.request_uuid,
            })
        })
    }

    /// Stores the node's last processed settle index (never lowering it).
    pub fn set_settle_index(&mut self, settle_index: u64) -> Result<()> {
        self.atomic(|c, _| bump_settle_index(c, settle_index))
    }

    /// Marks the open invoices with `expires_at <= now_secs` expired; returns their hashes.
    pub fn expire_invoices(&mut self, now_secs: u64) -> Result<Vec<PaymentHash>> {
        let now_secs = now_secs.min(i64::MAX as u64);
        self.atomic(|c, _| {
            let mut st = c.prepare(
                "UPDATE invoices SET state = 'expired'
                 WHERE state = 'open' AND expires_at <= ?1 RETURNING payment_hash",
            )?;
            let rows = st.query_map([now_secs], |r| r.get::<_, Vec<u8>>(0))?;
            let mut out = Vec::new();
            for h in rows {
                out.push(to_hash(&h?)?);
            }
            Ok(out)
        })
    }

    /// Begins a pay through the node: refuses a request uuid seen before
    /// ([`LedgerError::AlreadyRequested`]), a hash already paid
    /// ([`LedgerError::AlreadyPaid`]) or in flight ([`LedgerError::PaymentInFlight`]), an
    /// invoice of this terminus ([`LedgerError::OwnInvoice`]) and amount + reserve above the
    /// balance ([`LedgerError::InsufficientBalance`]); otherwise debits amount + reserve and
    /// records the payment in flight.
    pub fn begin_pay(&mut self, req: &PayRequest<'_>) -> Result<Balance> {
        check_amount(req.amount_msat, false)?;
        check_amount(req.fee_reserve_msat, true)?;
        check_text("request uuid", req.request_uuid)?;
        self.atomic(|c, now| {
            let a = live(c, req.account)?;
            refuse_replay(c, req.request_uuid, &req.payment_hash)?;
            if invoice(c, &req.payment_hash)?.is_some() {
                return Err(LedgerError::OwnInvoice);
            }
            let needed = req.amount_msat + req.fee_reserve_msat;
            if needed > a.balance {
                return Err(LedgerError::InsufficientBalance {
                    needed,
                    available: a.balance,
                });
            }
            let bal = a.balance - needed;
            set_balance(c, a.id, bal)?;
            c.execute(
                "INSERT INTO payments(payment_hash, account_id, request_uuid, bolt11, amount_msat,
                                      fee_reserve_msat, state, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'in_flight', ?7)",
                params![
                    &req.payment_hash[..],
                    a.id,
                    req.request_uuid,
                    req.bolt11,
                    req.amount_msat,
                    req.fee_reserve_msat,
                    now
                ],
            )?;
            receipt(
                c,
                &a.uuid,
                ReceiptKind::PayStarted,
                neg(needed)?,
                req.amount_msat,
                req.fee_reserve_msat,
                json!({
                    "payment_hash": hex(&req.payment_hash),
                    "request_uuid": req.request_uuid,
                    "amount_msat": req.amount_msat,
                    "fee_reserve_msat": req.fee_reserve_msat,
                }),
                now,
            )?;
            Ok(balance_of(&a, bal))
        })
    }

    /// The pay in flight for `hash` succeeded with `fee_paid_msat` in fees. The unused
    /// reserve is refunded. A fee above the reserve (a node ignoring its fee limit) is
    /// debited as far as the balance goes and never below zero; what the balance cannot
    /// cover is the operator's loss, recorded as a `fee_shortfall` receipt and total (it is
    /// not part of the invariant's `fees`, which are the fees charged to accounts).
    pub fn finish_pay_success(
        &mut self,
        hash: &PaymentHash,
        fee_paid_msat: u64,
        preimage: &Preimage,
    ) -> Result<PayFinished> {
        check_amount(fee_paid_msat, true)?;
        self.atomic(|c, now| {
            let (pid, p, a) = in_flight(c, hash)?;
            let reserve = p.fee_reserve_msat;
            let (refund, extra, shortfall) = if fee_paid_msat <= reserve {
                (reserve - fee_paid_msat, 0, 0)
            } else {
                let excess = fee_paid_msat - reserve;
                let extra = excess.min(a.balance);
                (0, extra, excess - extra)
            };
            let charged = fee_paid_msat - shortfall;
            let bal = credit(a.balance, refund)? - extra;
            set_balance(c, a.id, bal)?;
            c.execute(
                "UPDATE payments SET state = 'succeeded', fee_paid_msat = ?2,
                        fee_charged_msat = ?3, preimage = ?4, finished_ms = ?5
                 WHERE id = ?1",
                params![pid, fee_paid_msat, charged, &preimage[..], now],
            )?;
            add_total(c, "paid", p.amount_msat)?;
            add_total(c, "fees", charged)?;
            let delta = pos(refund)? - pos(extra)?;
            receipt(
                c,
                &a.uuid,
                ReceiptKind::PaySucceeded,
                delta,
                p.amount_msat,
                charged,
                json!({
                    "payment_hash": hex(hash),
                    "request_uuid": p.request_uuid,
                    "amount_msat": p.amount_msat,
                    "fee_reserve_msat": reserve,
                    "fee_paid_msat": fee_paid_msat,
                    "fee_charged_msat": charged,
                    "refunded_msat": refund,
                }),
                now,
            )?;
            if shortfall > 0 {
                add_total(c, "fee_shortfall", shortfall)?;
                receipt(
                    c,
                    &a.uuid,
                    ReceiptKind::FeeShortfall,
                    0,
                    shortfall,
                    0,
                    json!({
                        "payment_hash": hex(hash),
                        "fee_paid_msat": fee_paid_msat,
                        "fee_charged_msat": charged,
                        "shortfall_msat": shortfall,
                    }),
                    now,
                )?;
            }
            Ok(PayFinished {
                balance: balance_of(&a, bal),
                request_uuid: p.request_uuid,
                refunded_msat: refund,
                extra_fee_msat: extra,
                fee_shortfall_msat: shortfall,
            })
        })
    }

    /// The pay in flight for `hash` failed: refunds amount + reserve, records `reason`.
    pub fn finish_pay_failure(&mut self, hash: &PaymentHash, reason: &str) -> Result<PayFinished> {
        self.atomic(|c, now| {
            let (pid, p, a) = in_flight(c, hash)?;
            let refund = p.amount_msat + p.fee_reserve_msat;
            let bal = credit(a.balance, refund)?;
            set_balance(c, a.id, bal)?;
            let reason = clip(reason);
            c.execute(
                "UPDATE payments SET state = 'failed', failure = ?2, finished_ms = ?3 WHERE id = ?1",
                params![pid, reason, now],
            )?;
            receipt(
                c,
                &a.uuid,
                ReceiptKind::PayFailed,
                pos(refund)?,
                p.amount_msat,
                p.fee_reserve_msat,
                json!({
                    "payment_hash": hex(hash),
                    "request_uuid": p.request_uuid,
                    "refunded_msat": refund,
                    "reason": reason,
                }),
                now,
            )?;
            Ok(PayFinished {
                balance: balance_of(&a, bal),
                request_uuid: p.request_uuid,
                refunded_msat: refund,
                extra_fee_msat: 0,
                fee_shortfall_msat: 0,
            })
        })
    }

    /// `payer` pays an open invoice of this terminus without the node: debits the payer,
    /// credits the invoice's account, settles the invoice (internal), records a succeeded
    /// payment with fee 0 and an `internal_transfer` receipt on each side. The replay rules
    /// of [`LedgerTx::begin_pay`] apply; an expired or cancelled invoice is refused
    /// ([`LedgerError::InvoiceNotOpen`]). These transfers touch none of the invariant's
    /// totals (they only add to the informational `internal` total).
    pub fn internal_transfer(
        &mut self,
        payer: &str,
        request_uuid: &str,
        invoice_hash: &PaymentHash,
        preimage: Option<&Preimage>,
    ) -> Result<Transfer> {
        check_text("request uuid", request_uuid)?;
        self.atomic(|c, now| {
            let from = live(c, payer)?;
            refuse_replay(c, request_uuid, invoice_hash)?;
            let inv = invoice(c, invoice_hash)?.ok_or(LedgerError::UnknownInvoice)?;
            match inv.state {
                InvoiceState::Open if inv.expires_at > now / 1000 => {}
                InvoiceState::Open => return Err(LedgerError::InvoiceNotOpen(InvoiceState::Expired)),
                InvoiceState::Settled => return Err(LedgerError::AlreadyPaid),
                s => return Err(LedgerError::InvoiceNotOpen(s)),
            }
            let amount = inv.msats;
            if amount > from.balance {
                return Err(LedgerError::InsufficientBalance {
                    needed: amount,
                    available: from.balance,
                });
            }
            set_balance(c, from.id, from.balance - amount)?;
            let to = account_row(
                c,
                "SELECT id, name, uuid, balance_msat, cap_msat FROM accounts WHERE id = (SELECT account_id FROM invoices WHERE payment_hash = ?1)",
                [&invoice_hash[..]],
            )?;
            let to_bal = credit(to.balance, amount)?;
            set_balance(c, to.id, to_bal)?;
            let from_bal = if to.id == from.id { to_bal } else { from.balance - amount };
            let stored: Option<Vec<u8>> = c.query_row(
                "SELECT preimage FROM invoices WHERE payment_hash = ?1",
                [&invoice_hash[..]],
                |r| r.get(0),
            )?;
            let pre = preimage.map(|p| p.to_vec()).or(stored);
            c.execute(
                "UPDATE invoices SET state = 'settled', settled_ms = ?2, amt_paid_msat = ?3,
                        preimage = ?4, internal = 1
                 WHERE payment_hash = ?1",
                params![&invoice_hash[..], now, amount, pre],
            )?;
            c.execute(
                "INSERT INTO payments(payment_hash, account_id, request_uuid, bolt11, amount_msat,
                                      fee_reserve_msat, fee_paid_msat, fee_charged_msat, state,
                                      internal, preimage, created_ms, finished_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0, 'succeeded', 1, ?6, ?7, ?7)",
                params![&invoice_hash[..], from.id, request_uuid, inv.bolt11, amount, pre, now],
            )?;
            add_total(c, "internal", amount)?;
            let h = hex(invoice_hash);
            receipt(
                c,
                &from.uuid,
                ReceiptKind::InternalTransfer,
                neg(amount)?,
                amount,
                0,
                json!({
                    "direction": "out", "payment_hash": h, "request_uuid": request_uuid,
                    "amount_msat": amount, "counterparty": to.uuid,
                }),
                now,
            )?;
            receipt(
                c,
                &to.uuid,
                ReceiptKind::InternalTransfer,
                pos(amount)?,
                0,
                0,
                json!({
                    "direction": "in", "payment_hash": h, "request_uuid": inv.request_uuid,
                    "amount_msat": amount, "counterparty": from.uuid,
                }),
                now,
            )?;
            Ok(Transfer {
                payer: balance_of(&from, from_bal),
                payee: balance_of(&to, to_bal),
                amount_msat: amount,
                invoice_request_uuid: inv.request_uuid,
                preimage: pre.and_then(|p| <[u8; 32]>::try_from(p.as_slice()).ok()),
            })
        })
    }

    /// Appends a session receipt (only the Python session kinds; the ledger writes the
    /// others itself). Returns its id.
    pub fn append_receipt(
        &mut self,
        name: &str,
        kind: ReceiptKind,
        detail: &serde_json::Value,
    ) -> Result<i64> {
        if !kind.is_session_kind() {
            return Err(LedgerError::NotAppendable(kind.as_str().to_owned()));
        }
        self.atomic(|c, now| {
            let a = live(c, name)?;
            receipt(c, &a.uuid, kind, 0, 0, 0, detail.clone(), now)
        })
    }

    /// The live account of that name (inside the transaction).
    pub fn account(&self, name: &str) -> Result<Account> {
        account_by(&self.tx, "name", name)
    }

    /// An invoice by payment hash (inside the transaction).
    pub fn invoice(&self, hash: &PaymentHash) -> Result<Option<Invoice>> {
        invoice(&self.tx, hash)
    }

    /// A payment by payment hash (inside the transaction), as [`super::Ledger::payment`].
    pub fn payment(&self, hash: &PaymentHash) -> Result<Option<Payment>> {
        payment(&self.tx, hash)
    }

    /// Runs `f` atomically (a savepoint) with the clock's time: for the importer.
    pub(super) fn with_savepoint<T>(
        &mut self,
        f: impl FnOnce(&Connection, u64) -> Result<T>,
    ) -> Result<T> {
        self.atomic(f)
    }
}

// ---- helpers shared with the importer ----

pub(super) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(LedgerError::InvalidName(clip(name)));
    }
    Ok(())
}

pub(super) fn check_amount(msat: u64, zero_ok: bool) -> Result<()> {
    if msat == 0 && !zero_ok {
        return Err(LedgerError::InvalidAmount("0 msat".into()));
    }
    if msat > MAX_MSAT {
        return Err(LedgerError::InvalidAmount(format!(
            "{msat} msat is above 21M BTC"
        )));
    }
    Ok(())
}

fn check_text(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_TEXT_LEN {
        return Err(LedgerError::InvalidAmount(format!(
            "{what} empty or too long"
        )));
    }
    Ok(())
}

pub(super) fn norm_seed(seed_hex: &str) -> Result<String> {
    if seed_hex.len() != 32 || !seed_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(LedgerError::InvalidSeed(clip(seed_hex)));
    }
    Ok(seed_hex.to_ascii_lowercase())
}

fn clip(s: &str) -> String {
    let mut end = s.len().min(MAX_TEXT_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn pos(msat: u64) -> Result<i64> {
    i64::try_from(msat).map_err(|_| LedgerError::InvalidAmount(format!("{msat} msat")))
}

fn neg(msat: u64) -> Result<i64> {
    Ok(-pos(msat)?)
}

fn credit(balance: u64, msat: u64) -> Result<u64> {
    match balance.checked_add(msat) {
        Some(b) if b <= MAX_MSAT => Ok(b),
        _ => Err(LedgerError::InvalidAmount(format!(
            "balance {balance} + {msat} msat is above 21M BTC"
        ))),
    }
}

fn balance_of(a: &Acct, balance_msat: u64) -> Balance {
    Balance {
        account: a.name.clone(),
        uuid: a.uuid.clone(),
        balance_msat,
    }
}

fn account_row<P: rusqlite::Params>(c: &Connection, sql: &str, p: P) -> Result<Acct> {
    c.query_row(sql, p, |r| {
        Ok(Acct {
            id: r.get(0)?,
            name: r.get(1)?,
            uuid: r.get(2)?,
            balance: r.get(3)?,
            cap: r.get(4)?,
        })
    })
    .optional()?
    .ok_or_else(|| LedgerError::Corrupt("an invoice or payment without its account".into()))
}

fn live(c: &Connection, name: &str) -> Result<Acct> {
    c.query_row(
        "SELECT id, name, uuid, balance_msat, cap_msat FROM accounts
         WHERE name = ?1 AND removed_ms IS NULL",
        [name],
        |r| {
            Ok(Acct {
                id: r.get(0)?,
                name: r.get(1)?,
                uuid: r.get(2)?,
                balance: r.get(3)?,
                cap: r.get(4)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| LedgerError::UnknownAccount(clip(name)))
}

/// The smallest free `<base>-<n>` among live accounts.
fn free_name(c: &Connection, base: &str) -> Result<String> {
    let prefix = format!("{base}-");
    let mut st = c.prepare(
        "SELECT substr(name, ?2) FROM accounts
         WHERE removed_ms IS NULL AND substr(name, 1, ?3) = ?1",
    )?;
    let rows = st.query_map(params![prefix, prefix.len() + 1, prefix.len()], |r| {
        r.get::<_, String>(0)
    })?;
    let mut used = std::collections::BTreeSet::new();
    for s in rows {
        let s = s?;
        if (s == "0" || !s.starts_with('0')) && s.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = s.parse::<u64>() {
                used.insert(n);
            }
        }
    }
    let mut n = 0u64;
    while used.contains(&n) {
        n += 1;
    }
    Ok(format!("{prefix}{n}"))
}

pub(super) fn insert_account(
    c: &Connection,
    name: &str,
    uuid: &str,
    cap_msat: u64,
    now: u64,
) -> Result<()> {
    let exists: Option<i64> = c
        .query_row(
            "SELECT 1 FROM accounts WHERE (name = ?1 AND removed_ms IS NULL) OR uuid = ?2",
            params![name, uuid],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_some() {
        return Err(LedgerError::DuplicateAccount(format!("{name} / {uuid}")));
    }
    c.execute(
        "INSERT INTO accounts(name, uuid, balance_msat, cap_msat, created_ms)
         VALUES (?1, ?2, 0, ?3, ?4)",
        params![name, uuid, cap_msat, now],
    )?;
    Ok(())
}

fn set_balance(c: &Connection, id: i64, balance: u64) -> Result<()> {
    c.execute(
        "UPDATE accounts SET balance_msat = ?2 WHERE id = ?1",
        params![id, balance],
    )?;
    Ok(())
}

fn add_total(c: &Connection, name: &str, msat: u64) -> Result<()> {
    c.execute(
        "UPDATE totals SET msat = msat + ?2 WHERE name = ?1",
        params![name, msat],
    )?;
    Ok(())
}

fn deposit_in(c: &Connection, a: &Acct, msat: u64, now: u64) -> Result<Balance> {
    deposit_kind(
        c,
        a,
        msat,
        now,
        ReceiptKind::Deposit,
        json!({ "msats": msat }),
    )
}

pub(super) fn deposit_kind(
    c: &Connection,
    a: &Acct,
    msat: u64,
    now: u64,
    kind: ReceiptKind,
    detail: serde_json::Value,
) -> Result<Balance> {
    let bal = credit(a.balance, msat)?;
    set_balance(c, a.id, bal)?;
    add_total(c, "deposits", msat)?;
    receipt(c, &a.uuid, kind, pos(msat)?, msat, 0, detail, now)?;
    Ok(balance_of(a, bal))
}

pub(super) fn live_acct(c: &Connection, name: &str) -> Result<Acct> {
    live(c, name)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn receipt(
    c: &Connection,
    uuid: &str,
    kind: ReceiptKind,
    delta: i64,
    amount: u64,
    fee: u64,
    detail: serde_json::Value,
    now: u64,
) -> Result<i64> {
    receipt_raw(c, uuid, kind.as_str(), delta, amount, fee, &detail, now)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn receipt_raw(
    c: &Connection,
    uuid: &str,
    kind: &str,
    delta: i64,
    amount: u64,
    fee: u64,
    detail: &serde_json::Value,
    time_ms: u64,
) -> Result<i64> {
    c.execute(
        "INSERT INTO receipts(account_uuid, kind, delta_msat, amount_msat, fee_msat, detail, time_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![uuid, kind, delta, amount, fee, detail.to_string(), time_ms.min(i64::MAX as u64)],
    )?;
    Ok(c.last_insert_rowid())
}

fn cap_ok(c: &Connection, a: &Acct, msats: u64, now_ms: u64) -> Result<()> {
    if a.cap == 0 {
        return Ok(());
    }
    let pending: i64 = c.query_row(
        "SELECT COALESCE(SUM(msats), 0) FROM invoices
         WHERE account_id = ?1 AND state = 'open' AND expires_at > ?2",
        params![a.id, now_ms / 1000],
        |r| r.get(0),
    )?;
    let pending =
        u64::try_from(pending).map_err(|_| LedgerError::Corrupt("negative sum".into()))?;
    let total = a
        .balance
        .checked_add(pending)
        .and_then(|t| t.checked_add(msats));
    match total {
        Some(t) if t <= a.cap => Ok(()),
        _ => Err(LedgerError::CapExceeded),
    }
}

fn bump_settle_index(c: &Connection, idx: u64) -> Result<()> {
    let cur = settle_index(c)?;
    if idx > cur {
        c.execute(
            "INSERT INTO node_state(key, value) VALUES ('settle_index', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [idx.to_string()],
        )?;
    }
    Ok(())
}

/// Refuses a seen request uuid, a paid hash and a hash in flight.
fn refuse_replay(c: &Connection, request_uuid: &str, hash: &PaymentHash) -> Result<()> {
    let seen: Option<i64> = c
        .query_row(
            "SELECT 1 FROM payments WHERE request_uuid = ?1",
            [request_uuid],
            |r| r.get(0),
        )
        .optional()?;
    if seen.is_some() {
        return Err(LedgerError::AlreadyRequested(clip(request_uuid)));
    }
    let state: Option<String> = c
        .query_row(
            "SELECT state FROM payments WHERE payment_hash = ?1
             AND state IN ('in_flight', 'succeeded')",
            [&hash[..]],
            |r| r.get(0),
        )
        .optional()?;
    match state.as_deref() {
        Some("succeeded") => Err(LedgerError::AlreadyPaid),
        Some(_) => Err(LedgerError::PaymentInFlight),
        None => Ok(()),
    }
}

/// The in-flight payment of a hash, with its row id and account.
fn in_flight(c: &Connection, hash: &PaymentHash) -> Result<(i64, Payment, Acct)> {
    let pid: Option<i64> = c
        .query_row(
            "SELECT id FROM payments WHERE payment_hash = ?1 AND state = 'in_flight'",
            [&hash[..]],
            |r| r.get(0),
        )
        .optional()?;
    let Some(pid) = pid else {
        return Err(match payment(c, hash)? {
            Some(p) => LedgerError::PaymentNotInFlight(p.state),
            None => LedgerError::UnknownPayment,
        });
    };
    let p = payment(c, hash)?.ok_or(LedgerError::UnknownPayment)?;
    let a = account_row(
        c,
        "SELECT id, name, uuid, balance_msat, cap_msat FROM accounts
         WHERE id = (SELECT account_id FROM payments WHERE id = ?1)",
        [pid],
    )?;
    Ok((pid, p, a))
}

fn to_hash(v: &[u8]) -> Result<PaymentHash> {
    <[u8; 32]>::try_from(v).map_err(|_| LedgerError::Corrupt("a hash is not 32 bytes".into()))
}

fn to_u64(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| LedgerError::Corrupt(format!("negative amount {v}")))
}

// ---- reads ----

fn load_account(r: &Row<'_>) -> rusqlite::Result<(i64, Account)> {
    let id: i64 = r.get(0)?;
    Ok((
        id,
        Account {
            name: r.get(1)?,
            uuid: r.get(2)?,
            balance_msat: r.get(3)?,
            cap_msat: r.get(4)?,
            created_ms: r.get(5)?,
            seeds: Vec::new(),
            beacons: Vec::new(),
        },
    ))
}

fn fill_connections(c: &Connection, id: i64, a: &mut Account) -> Result<()> {
    let mut st = c.prepare_cached("SELECT seed FROM seeds WHERE account_id = ?1 ORDER BY rowid")?;
    a.seeds = st
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut st =
        c.prepare_cached("SELECT beacon FROM beacons WHERE account_id = ?1 ORDER BY rowid")?;
    a.beacons = st
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

const ACCOUNT_COLS: &str =
    "SELECT id, name, uuid, balance_msat, cap_msat, created_ms FROM accounts";

pub(super) fn list_accounts(c: &Connection) -> Result<Vec<Account>> {
    let mut st = c.prepare(&format!(
        "{ACCOUNT_COLS} WHERE removed_ms IS NULL ORDER BY id"
    ))?;
    let rows = st
        .query_map([], load_account)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, mut a) in rows {
        fill_connections(c, id, &mut a)?;
        out.push(a);
    }
    Ok(out)
}

/// `col` is `name` or `uuid` (never outside data).
pub(super) fn account_by(c: &Connection, col: &str, value: &str) -> Result<Account> {
    let col = if col == "uuid" { "uuid" } else { "name" };
    let found = c
        .query_row(
            &format!("{ACCOUNT_COLS} WHERE {col} = ?1 AND removed_ms IS NULL"),
            [value],
            load_account,
        )
        .optional()?;
    let (id, mut a) = found.ok_or_else(|| LedgerError::UnknownAccount(clip(value)))?;
    fill_connections(c, id, &mut a)?;
    Ok(a)
}

pub(super) fn account_by_seed(c: &Connection, seed_hex: &str) -> Result<Account> {
    let seed = norm_seed(seed_hex)?;
    let found = c
        .query_row(
            &format!(
                "{ACCOUNT_COLS} WHERE id = (SELECT account_id FROM seeds WHERE seed = ?1)
                 AND removed_ms IS NULL"
            ),
            [&seed],
            load_account,
        )
        .optional()?;
    let (id, mut a) = found.ok_or(LedgerError::UnknownAccount(seed))?;
    fill_connections(c, id, &mut a)?;
    Ok(a)
}

const INVOICE_COLS: &str =
    "SELECT i.payment_hash, a.name, i.bolt11, i.msats, i.state, i.created_ms,
        i.expires_at, i.settled_ms, i.amt_paid_msat, i.request_uuid, i.internal
    FROM invoices i JOIN accounts a ON a.id = i.account_id";

fn load_invoice(r: &Row<'_>) -> rusqlite::Result<(Vec<u8>, String, Invoice)> {
    let hash: Vec<u8> = r.get(0)?;
    let state: String = r.get(4)?;
    Ok((
        hash,
        state,
        Invoice {
            payment_hash: [0; 32],
            account: r.get(1)?,
            bolt11: r.get(2)?,
            msats: r.get(3)?,
            state: InvoiceState::Open,
            created_ms: r.get(5)?,
            expires_at: r.get(6)?,
            settled_ms: r.get(7)?,
            amt_paid_msat: r.get(8)?,
            request_uuid: r.get(9)?,
            internal: r.get(10)?,
        },
    ))
}

fn finish_invoice((hash, state, mut inv): (Vec<u8>, String, Invoice)) -> Result<Invoice> {
    inv.payment_hash = to_hash(&hash)?;
    inv.state = InvoiceState::parse(&state)?;
    Ok(inv)
}

pub(super) fn invoice(c: &Connection, hash: &PaymentHash) -> Result<Option<Invoice>> {
    c.query_row(
        &format!("{INVOICE_COLS} WHERE i.payment_hash = ?1"),
        [&hash[..]],
        load_invoice,
    )
    .optional()?
    .map(finish_invoice)
    .transpose()
}

pub(super) fn open_invoices(c: &Connection) -> Result<Vec<Invoice>> {
    let mut st = c.prepare(&format!(
        "{INVOICE_COLS} WHERE i.state = 'open' ORDER BY i.created_ms"
    ))?;
    let rows = st.query_map([], load_invoice)?;
    rows.map(|r| finish_invoice(r?)).collect()
}

const PAYMENT_COLS: &str = "SELECT p.payment_hash, a.name, p.request_uuid, p.bolt11, p.amount_msat,
        p.fee_reserve_msat, p.fee_paid_msat, p.fee_charged_msat, p.state, p.internal,
        p.preimage, p.failure, p.created_ms, p.finished_ms
    FROM payments p JOIN accounts a ON a.id = p.account_id";

type PaymentRow = (Vec<u8>, String, Option<Vec<u8>>, Payment);

fn load_payment(r: &Row<'_>) -> rusqlite::Result<PaymentRow> {
    Ok((
        r.get(0)?,
        r.get(8)?,
        r.get(10)?,
        Payment {
            payment_hash: [0; 32],
            account: r.get(1)?,
            request_uuid: r.get(2)?,
            bolt11: r.get(3)?,
            amount_msat: r.get(4)?,
            fee_reserve_msat: r.get(5)?,
            fee_paid_msat: r.get(6)?,
            fee_charged_msat: r.get(7)?,
            state: PaymentState::InFlight,
            internal: r.get(9)?,
            preimage: None,
            failure: r.get(11)?,
            created_ms: r.get(12)?,
            finished_ms: r.get(13)?,
        },
    ))
}

fn finish_payment((hash, state, pre, mut p): PaymentRow) -> Result<Payment> {
    p.payment_hash = to_hash(&hash)?;
    p.state = PaymentState::parse(&state)?;
    p.preimage = pre.map(|v| to_hash(&v)).transpose()?;
    Ok(p)
}

pub(super) fn payment(c: &Connection, hash: &PaymentHash) -> Result<Option<Payment>> {
    c.query_row(
        &format!(
            "{PAYMENT_COLS} WHERE p.payment_hash = ?1
             ORDER BY p.state IN ('in_flight', 'succeeded') DESC, p.id DESC LIMIT 1"
        ),
        [&hash[..]],
        load_payment,
    )
    .optional()?
    .map(finish_payment)
    .transpose()
}

pub(super) fn in_flight_payments(c: &Connection) -> Result<Vec<Payment>> {
    let mut st = c.prepare(&format!(
        "{PAYMENT_COLS} WHERE p.state = 'in_flight' ORDER BY p.id"
    ))?;
    let rows = st.query_map([], load_payment)?;
    rows.map(|r| finish_payment(r?)).collect()
}

pub(super) fn receipts(c: &Connection, name: &str, limit: usize) -> Result<Vec<Receipt>> {
    let a = live(c, name)?;
    let limit = if limit == 0 {
        -1
    } else {
        i64::try_from(limit).unwrap_or(-1)
    };
    let mut st = c.prepare(
        "SELECT id, kind, delta_msat, detail, time_ms FROM receipts
         WHERE account_uuid = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![a.uuid, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, u64>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, delta_msat, detail, time_ms) = row?;
        let detail = serde_json::from_str(&detail)
            .map_err(|e| LedgerError::Corrupt(format!("receipt {id}: {e}")))?;
        out.push(Receipt {
            id,
            account: a.name.clone(),
            kind,
            delta_msat,
            detail,
            time_ms,
        });
    }
    Ok(out)
}

pub(super) fn settle_index(c: &Connection) -> Result<u64> {
    let v: Option<String> = c
        .query_row(
            "SELECT value FROM node_state WHERE key = 'settle_index'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match v {
        None => Ok(0),
        Some(s) => s
            .parse()
            .map_err(|_| LedgerError::Corrupt(format!("settle_index {s:?}"))),
    }
}

pub(super) fn totals(c: &Connection) -> Result<Totals> {
    let mut t = Totals::default();
    let mut st = c.prepare("SELECT name, msat FROM totals")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (name, v) = row?;
        let v = to_u64(v)?;
        match name.as_str() {
            "deposits" => t.deposits = v,
            "withdrawals" => t.withdrawals = v,
            "received" => t.received = v,
            "paid" => t.paid = v,
            "fees" => t.fees = v,
            "fee_shortfall" => t.fee_shortfall = v,
            "internal" => t.internal = v,
            other => return Err(LedgerError::Corrupt(format!("total {other:?}"))),
        }
    }
    Ok(t)
}

fn sum(c: &Connection, sql: &str) -> Result<u64> {
    let v: i64 = c.query_row(sql, [], |r| r.get(0))?;
    to_u64(v)
}

pub(super) fn check(c: &Connection) -> Result<CheckReport> {
    let balances = sum(c, "SELECT COALESCE(SUM(balance_msat), 0) FROM accounts")?;
    let in_flight = sum(
        c,
        "SELECT COALESCE(SUM(amount_msat + fee_reserve_msat), 0) FROM payments
         WHERE state = 'in_flight'",
    )?;
    let in_flight_count = sum(c, "SELECT COUNT(*) FROM payments WHERE state = 'in_flight'")?;
    let accounts = sum(c, "SELECT COUNT(*) FROM accounts WHERE removed_ms IS NULL")?;
    let totals = totals(c)?;
    let r = |kind: &str, col: &str| -> Result<u64> {
        sum(
            c,
            &format!("SELECT COALESCE(SUM({col}), 0) FROM receipts WHERE kind IN ({kind})"),
        )
    };
    let from_receipts = Totals {
        deposits: r("'deposit', 'imported'", "amount_msat")?,
        withdrawals: r("'withdraw'", "amount_msat")?,
        received: r("'invoice_settled'", "amount_msat")?,
        paid: r("'pay_succeeded'", "amount_msat")?,
        fees: r("'pay_succeeded'", "fee_msat")?,
        fee_shortfall: r("'fee_shortfall'", "amount_msat")?,
        internal: r("'internal_transfer'", "amount_msat")?,
    };
    let from_records = Totals {
        deposits: from_receipts.deposits,
        withdrawals: from_receipts.withdrawals,
        received: sum(
            c,
            "SELECT COALESCE(SUM(amt_paid_msat), 0) FROM invoices
             WHERE state = 'settled' AND internal = 0",
        )?,
        paid: sum(
            c,
            "SELECT COALESCE(SUM(amount_msat), 0) FROM payments
             WHERE state = 'succeeded' AND internal = 0",
        )?,
        fees: sum(
            c,
            "SELECT COALESCE(SUM(fee_charged_msat), 0) FROM payments WHERE state = 'succeeded'",
        )?,
        fee_shortfall: sum(
            c,
            "SELECT COALESCE(SUM(fee_paid_msat - fee_charged_msat), 0) FROM payments
             WHERE state = 'succeeded'",
        )?,
        internal: sum(
            c,
            "SELECT COALESCE(SUM(amount_msat), 0) FROM payments
             WHERE state = 'succeeded' AND internal = 1",
        )?,
    };
    let mut problems = Vec::new();
    let lhs = i128::from(balances) + i128::from(in_flight);
    let rhs = i128::from(totals.deposits) - i128::from(totals.withdrawals)
        + i128::from(totals.received)
        - i128::from(totals.paid)
        - i128::from(totals.fees);
    if lhs != rhs {
        problems.push(format!(
            "invariant: balances {balances} + in flight {in_flight} = {lhs}, but deposits − \
             withdrawals + received − paid − fees = {rhs}"
        ));
    }
    if from_receipts != totals {
        problems.push(format!(
            "totals {totals:?} differ from the receipts' {from_receipts:?}"
        ));
    }
    if from_records != totals {
        problems.push(format!(
            "totals {totals:?} differ from the records' {from_records:?}"
        ));
    }
    let mut st = c.prepare(
        "SELECT a.name, a.balance_msat, COALESCE((SELECT SUM(delta_msat) FROM receipts r
                                                  WHERE r.account_uuid = a.uuid), 0)
         FROM accounts a",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (name, bal, deltas) = row?;
        if bal != deltas {
            problems.push(format!(
                "account {name}: balance {bal} but its receipts add up to {deltas}"
            ));
        }
    }
    Ok(CheckReport {
        balances,
        in_flight,
        in_flight_count,
        totals,
        from_receipts,
        from_records,
        accounts,
        problems,
    })
}
