//! The wallet's ledger of what it allowed, in SQLite (WAL, `synchronous=FULL`, as the
//! terminus ledger): one row per upstream pay request with its decision (allowed or
//! refused and why), amount, fee reserve, actual fee, invoice, payment hash, times and
//! outcome; the invoices it forwarded (their payment hashes); and its identity (upstream
//! seed, account uuid, anchor of rolling periods).
//!
//! What is spent in a window is derived from the rows, in the same transaction as the
//! decision that depends on it ([`WalletLedger::decide`]), so two pays in flight cannot
//! overspend: a pending pay counts as `amount + fee reserve`, a succeeded one as
//! `amount + fee` (its fee reserve while the fee is not known yet), a failed or refused one
//! as nothing.

use std::fmt;
use std::path::Path;

use moneysocket_core::seed::SharedSeed;
use moneysocket_core::uuid::Uuid;
use rand_core::OsRng;
use rusqlite::{params, Connection, OptionalExtension};

use super::period::{utc_text, Window};
use crate::terminus::ledger::Clock;

/// The schema this build writes.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pays (
    id               INTEGER PRIMARY KEY,
    request_uuid     TEXT NOT NULL,
    bolt11           TEXT NOT NULL,
    payment_hash     TEXT,
    amount_msat      INTEGER CHECK (amount_msat IS NULL OR amount_msat >= 0),
    fee_reserve_msat INTEGER NOT NULL DEFAULT 0 CHECK (fee_reserve_msat >= 0),
    fee_msat         INTEGER CHECK (fee_msat IS NULL OR fee_msat >= 0),
    decided_ms       INTEGER NOT NULL,
    finished_ms      INTEGER,
    outcome          TEXT NOT NULL
                     CHECK (outcome IN ('pending', 'succeeded', 'failed', 'refused')),
    reason           TEXT,
    preimage         TEXT
);
CREATE INDEX IF NOT EXISTS pays_decided ON pays (decided_ms);
CREATE INDEX IF NOT EXISTS pays_hash ON pays (payment_hash);
CREATE TABLE IF NOT EXISTS invoices (
    payment_hash TEXT PRIMARY KEY,
    request_uuid TEXT NOT NULL,
    amount_msat  INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    paid_ms      INTEGER
);
";

/// What can go wrong in the ledger.
#[derive(Debug)]
#[non_exhaustive]
pub enum LedgerError {
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// The file holds something this build does not understand.
    Corrupt(String),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Sqlite(e) => write!(f, "wallet ledger: {e}"),
            LedgerError::Corrupt(t) => write!(f, "wallet ledger: {t}"),
        }
    }
}

impl std::error::Error for LedgerError {}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        LedgerError::Sqlite(e)
    }
}

type Result<T> = std::result::Result<T, LedgerError>;

/// Why an upstream pay was refused (the text is what the app reads in `NOTIFY_ERROR`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The invoice does not decode.
    InvalidInvoice(String),
    /// The invoice names no amount.
    NoAmount,
    /// The amount is above the per-payment maximum.
    PerPaymentMax {
        /// The invoice's amount, msat.
        amount: u64,
        /// The maximum, msat.
        max: u64,
    },
    /// Amount plus fee reserve is more than what is left of the allowance.
    Allowance {
        /// The invoice's amount, msat.
        amount: u64,
        /// The fee reserve held with it, msat.
        reserve: u64,
        /// What is left of the allowance in this period, msat.
        left: u64,
        /// The allowance per period, msat.
        allowance: u64,
        /// When the allowance renews (`None`: never).
        renews_ms: Option<u64>,
    },
    /// This invoice was already paid (or is being paid) through this wallet.
    AlreadyPaid,
    /// The downstream account is not connected (its provider info has not arrived).
    DownstreamNotReady,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("payment refused by the wallet: ")?;
        match self {
            Refusal::InvalidInvoice(e) => write!(f, "invalid invoice: {e}"),
            Refusal::NoAmount => f.write_str(
                "the invoice has no amount (the wallet pays only invoices that name one)",
            ),
            Refusal::PerPaymentMax { amount, max } => write!(
                f,
                "{amount} msat is above the per-payment maximum of {max} msat"
            ),
            Refusal::Allowance {
                amount,
                reserve,
                left,
                allowance,
                renews_ms,
            } => {
                write!(
                    f,
                    "allowance exceeded: {amount} msat + {reserve} msat fee reserve is more than \
                     the {left} msat left of the {allowance} msat allowance"
                )?;
                match renews_ms {
                    Some(t) => write!(f, " (it renews at {})", utc_text(*t)),
                    None => f.write_str(" (it never renews)"),
                }
            }
            Refusal::AlreadyPaid => f.write_str("this invoice was already paid through the wallet"),
            Refusal::DownstreamNotReady => f.write_str("the downstream account is not connected"),
        }
    }
}

/// An upstream pay to decide on.
#[derive(Debug, Clone)]
pub struct PayAsk<'a> {
    /// The upstream request's uuid.
    pub request: Uuid,
    /// The invoice as received.
    pub bolt11: &'a str,
    /// Its payment hash, if it decoded.
    pub payment_hash: Option<[u8; 32]>,
    /// Its amount, if it decoded and names one.
    pub amount_msat: Option<u64>,
    /// The fee reserve to hold with it.
    pub fee_reserve_msat: u64,
}

/// The limits a decision applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The allowance per period, msat.
    pub allowance_msat: u64,
    /// The per-payment maximum (invoice amount), msat.
    pub per_payment_max_msat: Option<u64>,
    /// The current period's window.
    pub window: Window,
}

/// What is used of the allowance in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Succeeded pays: amount + fee (+ the fee reserve while the fee is not known), msat.
    pub spent_msat: u64,
    /// Pays in flight (or whose outcome is unknown): amount + fee reserve, msat.
    pub reserved_msat: u64,
}

impl Usage {
    /// Spent and reserved.
    pub fn used(&self) -> u64 {
        self.spent_msat.saturating_add(self.reserved_msat)
    }
}

/// A pay whose outcome the ledger does not know yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPay {
    /// Its row.
    pub id: i64,
    /// Amount, msat.
    pub amount_msat: u64,
    /// Fee reserve, msat.
    pub fee_reserve_msat: u64,
}

/// The wallet's identity, created on first open and kept.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The seed of the upstream beacon when the wallet listens.
    pub seed: SharedSeed,
    /// The account uuid advertised upstream.
    pub account: Uuid,
    /// The start of rolling periods (Unix ms of the wallet's creation).
    pub anchor_ms: u64,
}

/// The ledger (used from the wallet's loop thread only).
///
/// Every mutating call is atomic (a savepoint). Outside a batch each one commits on its
/// own; between [`begin_batch`](Self::begin_batch) and [`end_batch`](Self::end_batch) they
/// share one transaction (group commit of a loop round: one fsync for every decision of
/// the round; the wallet ends the batch before it sends anything the decisions allow).
/// What is used of the current window is read from the rows once and then kept up to date
/// by the same calls that change the rows (it is read again after a failed commit).
pub struct WalletLedger {
    conn: Connection,
    clock: Clock,
    batching: bool,
    in_tx: bool,
    cache: Option<(Window, Usage)>,
    counts: (u64, u64),
}

/// What one row uses of the window holding `decided_ms`.
#[derive(Debug, Clone, Copy)]
struct RowUse {
    decided_ms: u64,
    usage: Usage,
}

impl WalletLedger {
    /// Opens (creating) the ledger at `path`.
    pub fn open(path: &Path, clock: Clock) -> Result<Self> {
        let conn = Connection::open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Corrupt(format!(
                "journal_mode WAL refused (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(LedgerError::Corrupt(format!(
                "schema version {version} is newer than this build's {SCHEMA_VERSION}"
            )));
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(SCHEMA)?;
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        let (a, r): (i64, i64) = conn.query_row(
            "SELECT COALESCE(SUM(outcome != 'refused'), 0), \
             COALESCE(SUM(outcome = 'refused'), 0) FROM pays",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(WalletLedger {
            conn,
            clock,
            batching: false,
            in_tx: false,
            cache: None,
            counts: (from_sql(a), from_sql(r)),
        })
    }

    /// Now on the ledger's clock (Unix ms).
    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// From now on, mutating calls share one transaction until [`end_batch`](Self::end_batch).
    pub fn begin_batch(&mut self) {
        self.batching = true;
    }

    /// Commits what the batch did (one fsync) and goes back to one commit per call.
    pub fn end_batch(&mut self) -> Result<()> {
        self.batching = false;
        self.commit()
    }

    fn begin(&mut self) -> Result<()> {
        if !self.in_tx {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_tx = true;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if !self.in_tx {
            return Ok(());
        }
        self.in_tx = false;
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.forget();
            return Err(e.into());
        }
        Ok(())
    }

    /// After a rollback: what is cached is read again.
    fn forget(&mut self) {
        self.cache = None;
        if let Ok(c) = self.conn.query_row(
            "SELECT COALESCE(SUM(outcome != 'refused'), 0), \
             COALESCE(SUM(outcome = 'refused'), 0) FROM pays",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        ) {
            self.counts = (from_sql(c.0), from_sql(c.1));
        }
    }

    /// Runs `f` atomically (a savepoint in the transaction), committing at once outside a
    /// batch.
    fn op<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.begin()?;
        let r = self
            .conn
            .execute_batch("SAVEPOINT op")
            .map_err(LedgerError::from)
            .and_then(|()| f(&self.conn));
        match r {
            Ok(v) => {
                self.conn.execute_batch("RELEASE op")?;
                if !self.batching {
                    self.commit()?;
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK TO op; RELEASE op");
                if !self.batching {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    self.in_tx = false;
                }
                Err(e)
            }
        }
    }

    /// Keeps the cached usage in step with a row that changed.
    fn apply(&mut self, before: Option<RowUse>, after: Option<RowUse>) {
        let Some((w, u)) = &mut self.cache else {
            return;
        };
        let inside =
            |r: &RowUse| r.decided_ms >= w.start_ms && w.end_ms.is_none_or(|e| r.decided_ms < e);
        if let Some(b) = before.filter(inside) {
            u.spent_msat = u.spent_msat.saturating_sub(b.usage.spent_msat);
            u.reserved_msat = u.reserved_msat.saturating_sub(b.usage.reserved_msat);
        }
        if let Some(a) = after.filter(inside) {
            u.spent_msat = u.spent_msat.saturating_add(a.usage.spent_msat);
            u.reserved_msat = u.reserved_msat.saturating_add(a.usage.reserved_msat);
        }
    }

    /// Changes row `id` with `f` (atomically), keeping the cache in step; `f`'s count.
    fn change(&mut self, id: i64, f: impl FnOnce(&Connection) -> Result<usize>) -> Result<usize> {
        let (before, n, after) = self.op(|c| {
            let before = row_use(c, id)?;
            let n = f(c)?;
            Ok((before, n, row_use(c, id)?))
        })?;
        self.apply(before, after);
        Ok(n)
    }

    /// The wallet's identity, made (and stored) the first time.
    pub fn identity(&mut self) -> Result<Identity> {
        let now = self.now_ms();
        self.op(|tx| {
            let get = |key: &str| -> Result<Option<String>> {
                Ok(tx
                    .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()?)
            };
            let (seed, account, anchor) = (get("seed")?, get("account_uuid")?, get("anchor_ms")?);
            let seed = match seed {
                Some(s) => SharedSeed::from_hex(&s)
                    .map_err(|e| LedgerError::Corrupt(format!("stored seed {s:?}: {e}")))?,
                None => {
                    let s = SharedSeed::generate(&mut OsRng);
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('seed', ?1)",
                        [hex(s.as_bytes())],
                    )?;
                    s
                }
            };
            let account = match account {
                Some(a) => Uuid::parse_lenient(&a)
                    .map_err(|_| LedgerError::Corrupt(format!("stored account uuid {a:?}")))?,
                None => {
                    let a = Uuid::new_v4(&mut OsRng);
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('account_uuid', ?1)",
                        [a.to_string()],
                    )?;
                    a
                }
            };
            let anchor_ms = match anchor {
                Some(t) => t
                    .parse::<u64>()
                    .map_err(|_| LedgerError::Corrupt(format!("stored anchor {t:?}")))?,
                None => {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('anchor_ms', ?1)",
                        [now.to_string()],
                    )?;
                    now
                }
            };
            Ok(Identity {
                seed,
                account,
                anchor_ms,
            })
        })
    }

    /// Decides on an upstream pay, in the transaction that records the decision: refused (a
    /// row with the reason) or allowed (a pending row that reserves `amount + fee
    /// reserve`). Returns the row id of an allowed pay.
    pub fn decide(
        &mut self,
        ask: &PayAsk<'_>,
        limits: &Limits,
    ) -> Result<std::result::Result<i64, Refusal>> {
        let now = self.now_ms();
        // the read of what is used and the decision in one transaction
        self.begin()?;
        let used = match self.usage(&limits.window) {
            Ok(u) => u.used(),
            Err(e) => {
                if !self.batching {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    self.in_tx = false;
                }
                return Err(e);
            }
        };
        let (decision, id) = self.op(|tx| {
            let refusal = match (ask.payment_hash, ask.amount_msat) {
                (None, _) => Some(Refusal::InvalidInvoice("it does not decode".into())),
                (Some(_), None) => Some(Refusal::NoAmount),
                (Some(hash), Some(amount)) => {
                    let reserve = ask.fee_reserve_msat;
                    let left = limits.allowance_msat.saturating_sub(used);
                    let taken: bool = tx.query_row(
                        "SELECT EXISTS (SELECT 1 FROM pays WHERE payment_hash = ?1 \
                         AND outcome IN ('pending', 'succeeded'))",
                        [hex(&hash)],
                        |r| r.get(0),
                    )?;
                    match limits.per_payment_max_msat {
                        Some(max) if amount > max => Some(Refusal::PerPaymentMax { amount, max }),
                        _ if taken => Some(Refusal::AlreadyPaid),
                        _ if amount.saturating_add(reserve) > left => Some(Refusal::Allowance {
                            amount,
                            reserve,
                            left,
                            allowance: limits.allowance_msat,
                            renews_ms: limits.window.end_ms,
                        }),
                        _ => None,
                    }
                }
            };
            let (outcome, reason) = match &refusal {
                Some(r) => ("refused", Some(r.to_string())),
                None => ("pending", None),
            };
            tx.execute(
                "INSERT INTO pays (request_uuid, bolt11, payment_hash, amount_msat, \
                 fee_reserve_msat, decided_ms, finished_ms, outcome, reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    ask.request.to_string(),
                    ask.bolt11,
                    ask.payment_hash.map(|h| hex(&h)),
                    ask.amount_msat.map(to_sql),
                    if refusal.is_some() {
                        0
                    } else {
                        to_sql(ask.fee_reserve_msat)
                    },
                    to_sql(now),
                    refusal.as_ref().map(|_| to_sql(now)),
                    outcome,
                    reason,
                ],
            )?;
            let id = tx.last_insert_rowid();
            Ok((refusal, id))
        })?;
        Ok(match decision {
            Some(r) => {
                self.counts.1 += 1;
                Err(r)
            }
            None => {
                self.counts.0 += 1;
                let reserved = ask
                    .amount_msat
                    .unwrap_or(0)
                    .saturating_add(ask.fee_reserve_msat);
                self.apply(
                    None,
                    Some(RowUse {
                        decided_ms: now,
                        usage: Usage {
                            spent_msat: 0,
                            reserved_msat: reserved,
                        },
                    }),
                );
                Ok(id)
            }
        })
    }

    /// Records a refusal decided before the ledger (e.g. the downstream is not connected).
    pub fn record_refusal(&mut self, request: Uuid, bolt11: &str, refusal: &Refusal) -> Result<()> {
        let now = to_sql(self.now_ms());
        self.op(|c| {
            c.execute(
                "INSERT INTO pays (request_uuid, bolt11, decided_ms, finished_ms, outcome, \
                 reason) VALUES (?1, ?2, ?3, ?3, 'refused', ?4)",
                params![request.to_string(), bolt11, now, refusal.to_string()],
            )?;
            Ok(())
        })?;
        self.counts.1 += 1;
        Ok(())
    }

    /// Pay `id` succeeded (its fee, if known; else its reserve counts until
    /// [`set_fee`](Self::set_fee)). False if it was not pending.
    pub fn succeed(&mut self, id: i64, preimage: &[u8; 32], fee: Option<u64>) -> Result<bool> {
        let now = to_sql(self.now_ms());
        let n = self.change(id, |c| {
            Ok(c.execute(
                "UPDATE pays SET outcome = 'succeeded', preimage = ?2, fee_msat = ?3, \
                 finished_ms = ?4 WHERE id = ?1 AND outcome = 'pending'",
                params![id, hex(preimage), fee.map(to_sql), now],
            )?)
        })?;
        Ok(n == 1)
    }

    /// The actual fee of succeeded pay `id`.
    pub fn set_fee(&mut self, id: i64, fee: u64) -> Result<()> {
        self.change(id, |c| {
            Ok(c.execute(
                "UPDATE pays SET fee_msat = ?2 WHERE id = ?1 AND outcome = 'succeeded'",
                params![id, to_sql(fee)],
            )?)
        })?;
        Ok(())
    }

    /// Pay `id` failed downstream: its reservation is released.
    pub fn fail(&mut self, id: i64, reason: &str) -> Result<()> {
        let now = to_sql(self.now_ms());
        self.change(id, |c| {
            Ok(c.execute(
                "UPDATE pays SET outcome = 'failed', reason = ?2, finished_ms = ?3 \
                 WHERE id = ?1 AND outcome = 'pending'",
                params![id, reason, now],
            )?)
        })?;
        Ok(())
    }

    /// A pending pay of this payment hash (e.g. one in flight when the wallet stopped).
    pub fn pending_by_hash(&self, hash: &[u8; 32]) -> Result<Option<PendingPay>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, amount_msat, fee_reserve_msat FROM pays \
                 WHERE payment_hash = ?1 AND outcome = 'pending' ORDER BY id LIMIT 1",
                [hex(hash)],
                |r| {
                    Ok(PendingPay {
                        id: r.get(0)?,
                        amount_msat: from_sql(r.get::<_, Option<i64>>(1)?.unwrap_or(0)),
                        fee_reserve_msat: from_sql(r.get(2)?),
                    })
                },
            )
            .optional()?)
    }

    /// Pays still pending (at start: those in flight when the wallet stopped).
    pub fn pending_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM pays WHERE outcome = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(from_sql(n))
    }

    /// What is used of the allowance in `window` (read from the rows when the window is
    /// not the one kept).
    pub fn usage(&mut self, window: &Window) -> Result<Usage> {
        if let Some((w, u)) = &self.cache {
            if w == window {
                return Ok(*u);
            }
        }
        let u = usage(&self.conn, window)?;
        self.cache = Some((*window, u));
        Ok(u)
    }

    /// How many pays were allowed and how many refused, in all.
    pub fn counts(&self) -> (u64, u64) {
        self.counts
    }

    /// Remembers an invoice made downstream for an upstream request.
    pub fn add_invoice(&mut self, hash: &[u8; 32], request: Uuid, msats: u64) -> Result<()> {
        let now = to_sql(self.now_ms());
        self.op(|c| {
            c.execute(
                "INSERT OR IGNORE INTO invoices (payment_hash, request_uuid, amount_msat, \
                 created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![hex(hash), request.to_string(), to_sql(msats), now],
            )?;
            Ok(())
        })
    }

    /// Marks an invoice made for upstream paid; false if it is not one of them.
    pub fn invoice_paid(&mut self, hash: &[u8; 32]) -> Result<bool> {
        let now = to_sql(self.now_ms());
        let n = self.op(|c| {
            Ok(c.execute(
                "UPDATE invoices SET paid_ms = COALESCE(paid_ms, ?2) WHERE payment_hash = ?1",
                params![hex(hash), now],
            )?)
        })?;
        Ok(n == 1)
    }
}

/// What row `id` uses (the same rule as [`usage`]).
fn row_use(c: &Connection, id: i64) -> Result<Option<RowUse>> {
    Ok(c.query_row(
        "SELECT decided_ms, outcome, COALESCE(amount_msat, 0), fee_reserve_msat, fee_msat \
         FROM pays WHERE id = ?1",
        [id],
        |r| {
            let amount = from_sql(r.get(2)?);
            let reserve = from_sql(r.get(3)?);
            let fee: Option<i64> = r.get(4)?;
            let outcome: String = r.get(1)?;
            let usage = match outcome.as_str() {
                "pending" => Usage {
                    spent_msat: 0,
                    reserved_msat: amount.saturating_add(reserve),
                },
                "succeeded" => Usage {
                    spent_msat: amount.saturating_add(fee.map_or(reserve, from_sql)),
                    reserved_msat: 0,
                },
                _ => Usage::default(),
            };
            Ok(RowUse {
                decided_ms: from_sql(r.get(0)?),
                usage,
            })
        },
    )
    .optional()?)
}

fn usage(conn: &Connection, w: &Window) -> Result<Usage> {
    let end = w.end_ms.map_or(i64::MAX, to_sql);
    let (spent, reserved): (i64, i64) = conn.query_row(
        "SELECT \
           COALESCE(SUM(CASE WHEN outcome = 'succeeded' \
             THEN amount_msat + COALESCE(fee_msat, fee_reserve_msat) END), 0), \
           COALESCE(SUM(CASE WHEN outcome = 'pending' \
             THEN amount_msat + fee_reserve_msat END), 0) \
         FROM pays WHERE decided_ms >= ?1 AND decided_ms < ?2",
        params![to_sql(w.start_ms), end],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Usage {
        spent_msat: from_sql(spent),
        reserved_msat: from_sql(reserved),
    })
}

/// Msat and ms values are below 2^63 (21 M BTC is 2.1e18 msat).
fn to_sql(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Lowercase hex.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn ledger(name: &str) -> (WalletLedger, Arc<AtomicU64>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "moneysocket-wallet-ledger-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let t = Arc::new(AtomicU64::new(1_000_000));
        let t2 = Arc::clone(&t);
        let clock: Clock = Arc::new(move || t2.load(Ordering::SeqCst));
        let l = WalletLedger::open(&dir.join("wallet.sqlite"), clock).unwrap();
        (l, t, dir)
    }

    fn ask(n: u8, amount: u64) -> PayAsk<'static> {
        PayAsk {
            request: Uuid::v4_from_bytes([n; 16]),
            bolt11: "lnbc...",
            payment_hash: Some([n; 32]),
            amount_msat: Some(amount),
            fee_reserve_msat: 10_000,
        }
    }

    const ALL: Window = Window {
        start_ms: 0,
        end_ms: None,
    };

    fn limits(allowance: u64, window: Window) -> Limits {
        Limits {
            allowance_msat: allowance,
            per_payment_max_msat: Some(500_000),
            window,
        }
    }

    #[test]
    fn reservations_hold_for_pays_in_flight_and_fees_count() {
        let (mut l, _, _) = ledger("reserve");
        let lim = limits(1_000_000, ALL);
        let a = l.decide(&ask(1, 400_000), &lim).unwrap().unwrap();
        let b = l.decide(&ask(2, 400_000), &lim).unwrap().unwrap();
        // 820,000 reserved: a third of 400,000 + 10,000 does not fit
        let r = l.decide(&ask(3, 400_000), &lim).unwrap().unwrap_err();
        assert!(
            matches!(r, Refusal::Allowance { left: 180_000, .. }),
            "{r:?}"
        );
        assert!(r.to_string().contains("never renews"), "{r}");
        assert_eq!(l.usage(&ALL).unwrap().reserved_msat, 820_000);
        // a succeeds with a fee not known yet: its reserve still counts; then 1,234 msat
        assert!(l.succeed(a, &[9; 32], None).unwrap());
        assert_eq!(l.usage(&ALL).unwrap().spent_msat, 410_000);
        l.set_fee(a, 1_234).unwrap();
        // b fails: released
        l.fail(b, "no route").unwrap();
        assert_eq!(
            l.usage(&ALL).unwrap(),
            Usage {
                spent_msat: 401_234,
                reserved_msat: 0
            }
        );
        // the same invoice twice is refused; over the per-payment maximum too
        assert_eq!(
            l.decide(&ask(1, 1_000), &lim).unwrap(),
            Err(Refusal::AlreadyPaid)
        );
        assert!(matches!(
            l.decide(&ask(4, 500_001), &lim).unwrap(),
            Err(Refusal::PerPaymentMax { .. })
        ));
        let mut no_amount = ask(5, 0);
        no_amount.amount_msat = None;
        assert_eq!(l.decide(&no_amount, &lim).unwrap(), Err(Refusal::NoAmount));
        assert_eq!(l.counts(), (2, 4));
    }

    #[test]
    fn a_batch_commits_once_and_the_kept_usage_matches_the_rows() {
        let (mut l, _, dir) = ledger("batch");
        let lim = limits(10_000_000, ALL);
        assert_eq!(l.usage(&ALL).unwrap(), Usage::default());
        l.begin_batch();
        let mut ids = Vec::new();
        for n in 1..=20u8 {
            ids.push(l.decide(&ask(n, 100_000), &lim).unwrap().unwrap());
        }
        for (i, id) in ids.iter().enumerate() {
            match i % 3 {
                0 => {
                    l.succeed(*id, &[1; 32], None).unwrap();
                    l.set_fee(*id, i as u64).unwrap();
                }
                1 => l.fail(*id, "no route").unwrap(),
                _ => {}
            }
        }
        let kept = l.usage(&ALL).unwrap();
        l.end_batch().unwrap();
        let t = Arc::new(AtomicU64::new(0));
        let mut again = WalletLedger::open(
            &dir.join("wallet.sqlite"),
            Arc::new(move || t.load(Ordering::SeqCst)),
        )
        .unwrap();
        assert_eq!(again.usage(&ALL).unwrap(), kept);
        // 7 succeeded (fees 0+3+…+18 = 63), 6 pending
        assert_eq!(
            kept,
            Usage {
                spent_msat: 700_063,
                reserved_msat: 6 * 110_000
            }
        );
        assert_eq!(again.counts(), (20, 0));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_new_window_renews_and_state_survives_reopening() {
        let (mut l, t, dir) = ledger("renew");
        let id = l.identity().unwrap();
        let w1 = Window {
            start_ms: 0,
            end_ms: Some(2_000_000),
        };
        let a = l
            .decide(&ask(1, 400_000), &limits(500_000, w1))
            .unwrap()
            .unwrap();
        assert_eq!(l.pending_count().unwrap(), 1);
        drop(l);
        let t2 = Arc::clone(&t);
        let mut l = WalletLedger::open(
            &dir.join("wallet.sqlite"),
            Arc::new(move || t2.load(Ordering::SeqCst)),
        )
        .unwrap();
        let again = l.identity().unwrap();
        assert_eq!((again.account, again.anchor_ms), (id.account, id.anchor_ms));
        assert_eq!(again.seed.as_bytes(), id.seed.as_bytes());
        // still reserved after the restart, reconciled by its hash
        assert_eq!(l.usage(&w1).unwrap().reserved_msat, 410_000);
        let p = l.pending_by_hash(&[1; 32]).unwrap().unwrap();
        assert_eq!(p.id, a);
        assert!(l.succeed(a, &[7; 32], None).unwrap());
        assert!(!l.succeed(a, &[7; 32], None).unwrap());
        // the next window starts from nothing
        t.store(2_000_000, Ordering::SeqCst);
        let w2 = Window {
            start_ms: 2_000_000,
            end_ms: Some(4_000_000),
        };
        assert_eq!(l.usage(&w2).unwrap(), Usage::default());
        assert!(l
            .decide(&ask(2, 480_000), &limits(500_000, w2))
            .unwrap()
            .is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
