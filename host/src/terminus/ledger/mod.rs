//! The terminus's durable ledger, in SQLite (WAL, `synchronous=FULL`, foreign keys on).
//!
//! A blocking API used from one thread (the terminus owns the [`Ledger`]). Every public
//! mutating call is one transaction that commits a balance change together with the record
//! that explains it (an invoice, a payment, a receipt) and the running totals. Several
//! operations can share one transaction with [`Ledger::batch`]; inside a batch each
//! operation is atomic on its own (a savepoint), so an operation that fails leaves nothing
//! behind and the batch may go on.
//!
//! Group commit of a poll round: between [`Ledger::begin_round`] and
//! [`Ledger::commit_round`] every call (the `Ledger` methods as well as [`Ledger::batch`])
//! runs as a savepoint inside one transaction, opened by the round's first operation and
//! committed (fsynced) once at the end. Nothing done in a round is durable before
//! `commit_round` returns `Ok`; when it fails, the whole round is rolled back. Reads see the
//! round's uncommitted changes.
//!
//! Amounts are integer millisatoshi (`u64`, at most [`MAX_MSAT`]); balances never go
//! negative (the schema checks it too). The invariant, verified by [`Ledger::check`]:
//!
//! ```text
//! Σ balances + Σ (amount + fee reserve) of in-flight pays
//!     = deposits − withdrawals + received − paid − fees
//! ```
//!
//! where `received` is what the node received for settled invoices, `paid` the amounts
//! delivered by succeeded pays through the node and `fees` the routing fees charged to
//! accounts. Internal transfers (an account paying an invoice of another account of this
//! terminus) move money between two balances and touch none of these totals.

#![deny(missing_docs)]

mod import;
mod schema;
#[cfg(test)]
pub(crate) mod tests;
mod tx;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rand_core::{CryptoRng, RngCore};
use rusqlite::{Connection, TransactionBehavior};

pub use import::ImportReport;
pub use tx::LedgerTx;

use super::node::{PaymentHash, Preimage};

/// The largest amount the ledger holds anywhere: 21 million BTC in millisatoshi.
pub const MAX_MSAT: u64 = 21_000_000 * 100_000_000 * 1_000;

/// At most this many connect beacons per account (as the reference terminus).
pub const MAX_BEACONS_PER_ACCOUNT: usize = 3;

/// The account-name base when none is given (`account-0`, `account-1`, ...).
pub const DEFAULT_ACCOUNT_BASE: &str = "account";

/// The schema version this build writes (migrations run up to it on open).
pub const SCHEMA_VERSION: u32 = schema::MIGRATIONS.len() as u32;

/// A clock: milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    })
}

/// Everything that can go wrong in the ledger.
#[derive(Debug)]
#[non_exhaustive]
pub enum LedgerError {
    /// SQLite failed (I/O, corruption, a constraint the API should have caught).
    Sqlite(rusqlite::Error),
    /// Reading an import directory or file failed.
    Io(std::io::Error),
    /// The database was written by a newer build.
    SchemaTooNew {
        /// The version found in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// The database holds something the API never writes.
    Corrupt(String),
    /// No live account of that name (or uuid, or seed).
    UnknownAccount(String),
    /// A live account with that name, or any account with that uuid, exists.
    DuplicateAccount(String),
    /// An account name or base that is empty, too long or has characters outside
    /// `[A-Za-z0-9._-]`.
    InvalidName(String),
    /// A listen seed that is not 32 hex characters.
    InvalidSeed(String),
    /// A connect beacon that is empty, too long or not printable ASCII.
    InvalidBeacon(String),
    /// An amount that is zero where it may not be, or above [`MAX_MSAT`].
    InvalidAmount(String),
    /// The seed already belongs to an account.
    SeedInUse(String),
    /// The account already has this beacon.
    DuplicateBeacon(String),
    /// The account already has [`MAX_BEACONS_PER_ACCOUNT`] beacons.
    TooManyBeacons(String),
    /// The account has no such seed or beacon.
    UnknownConnection(String),
    /// `rm` of an account that still has seeds or beacons.
    StillConnected(String),
    /// `rm` of an account with payments in flight.
    PaymentsInFlight(String),
    /// The cap would be exceeded (balance + open invoices + new > cap).
    CapExceeded,
    /// A withdrawal or pay needs more than the balance.
    InsufficientBalance {
        /// What the operation needs (for a pay: amount + fee reserve).
        needed: u64,
        /// The balance.
        available: u64,
    },
    /// A pay request with this uuid was already seen (it never pays twice).
    AlreadyRequested(String),
    /// A payment for this payment hash already succeeded.
    AlreadyPaid,
    /// Another payment for this payment hash is in flight.
    PaymentInFlight,
    /// A pay through the node of an invoice of this terminus: use
    /// [`LedgerTx::internal_transfer`].
    OwnInvoice,
    /// An invoice with that payment hash is already recorded.
    DuplicateInvoice,
    /// No invoice with that payment hash.
    UnknownInvoice,
    /// The invoice is not open (internal transfer of an expired, cancelled or paid one).
    InvoiceNotOpen(InvoiceState),
    /// No payment with that payment hash in flight or recorded.
    UnknownPayment,
    /// The payment is not in flight (finished twice).
    PaymentNotInFlight(PaymentState),
    /// A receipt kind only the ledger itself writes.
    NotAppendable(String),
    /// The round's transaction was rolled back under it (SQLite gave it up after an I/O
    /// error, or its commit failed): nothing of the round is recorded.
    RoundRolledBack,
    /// An import file is malformed.
    Import {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Sqlite(e) => write!(f, "database error: {e}"),
            LedgerError::Io(e) => write!(f, "i/o error: {e}"),
            LedgerError::SchemaTooNew { found, supported } => write!(
                f,
                "ledger schema version {found} is newer than this build's {supported}"
            ),
            LedgerError::Corrupt(e) => write!(f, "ledger corrupt: {e}"),
            LedgerError::UnknownAccount(a) => write!(f, "unknown account: {a}"),
            LedgerError::DuplicateAccount(a) => write!(f, "account exists: {a}"),
            LedgerError::InvalidName(n) => write!(f, "invalid account name: {n:?}"),
            LedgerError::InvalidSeed(s) => write!(f, "invalid seed (32 hex characters): {s:?}"),
            LedgerError::InvalidBeacon(b) => write!(f, "invalid beacon: {b:?}"),
            LedgerError::InvalidAmount(a) => write!(f, "invalid amount: {a}"),
            LedgerError::SeedInUse(s) => write!(f, "seed already in use: {s}"),
            LedgerError::DuplicateBeacon(b) => write!(f, "beacon already added: {b}"),
            LedgerError::TooManyBeacons(a) => write!(
                f,
                "account {a} already has {MAX_BEACONS_PER_ACCOUNT} beacons"
            ),
            LedgerError::UnknownConnection(c) => write!(f, "unknown seed or beacon: {c}"),
            LedgerError::StillConnected(a) => write!(f, "still has connections: {a}"),
            LedgerError::PaymentsInFlight(a) => write!(f, "still has payments in flight: {a}"),
            LedgerError::CapExceeded => f.write_str("account cap exceeded"),
            LedgerError::InsufficientBalance { needed, available } => write!(
                f,
                "insufficient balance: needs {needed} msat, has {available} msat"
            ),
            LedgerError::AlreadyRequested(u) => write!(f, "request already seen: {u}"),
            LedgerError::AlreadyPaid => f.write_str("invoice already paid"),
            LedgerError::PaymentInFlight => f.write_str("a payment of this invoice is in flight"),
            LedgerError::OwnInvoice => f.write_str("invoice of this terminus: pay it internally"),
            LedgerError::DuplicateInvoice => f.write_str("invoice already recorded"),
            LedgerError::UnknownInvoice => f.write_str("unknown invoice"),
            LedgerError::InvoiceNotOpen(s) => write!(f, "invoice is {}", s.as_str()),
            LedgerError::UnknownPayment => f.write_str("unknown payment"),
            LedgerError::PaymentNotInFlight(s) => write!(f, "payment already {}", s.as_str()),
            LedgerError::NotAppendable(k) => write!(f, "receipt kind {k:?} is the ledger's own"),
            LedgerError::RoundRolledBack => {
                f.write_str("the round's transaction was rolled back: nothing of it is recorded")
            }
            LedgerError::Import { file, reason } => write!(f, "import {file}: {reason}"),
        }
    }
}

impl std::error::Error for LedgerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LedgerError::Sqlite(e) => Some(e),
            LedgerError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        LedgerError::Sqlite(e)
    }
}

impl From<std::io::Error> for LedgerError {
    fn from(e: std::io::Error) -> Self {
        LedgerError::Io(e)
    }
}

/// The ledger's result type.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// An account, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name (unique among live accounts).
    pub name: String,
    /// Its uuid (v4, lowercase hyphenated; unique forever).
    pub uuid: String,
    /// The balance in millisatoshi (in-flight pays already debited).
    pub balance_msat: u64,
    /// The cap in millisatoshi (0: none).
    pub cap_msat: u64,
    /// Creation time, Unix milliseconds.
    pub created_ms: u64,
    /// Listen seeds (32 lowercase hex characters), oldest first.
    pub seeds: Vec<String>,
    /// Connect beacons, oldest first.
    pub beacons: Vec<String>,
}

/// Where an invoice of this terminus stands in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceState {
    /// Issued, not paid yet.
    Open,
    /// Paid (through the node, or internally).
    Settled,
    /// Past its expiry, unpaid.
    Expired,
    /// Cancelled (its account was removed).
    Cancelled,
}

impl InvoiceState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceState::Open => "open",
            InvoiceState::Settled => "settled",
            InvoiceState::Expired => "expired",
            InvoiceState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "open" => InvoiceState::Open,
            "settled" => InvoiceState::Settled,
            "expired" => InvoiceState::Expired,
            "cancelled" => InvoiceState::Cancelled,
            other => return Err(LedgerError::Corrupt(format!("invoice state {other:?}"))),
        })
    }
}

/// An invoice of this terminus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// The account it was issued for.
    pub account: String,
    /// The BOLT11 string.
    pub bolt11: String,
    /// The amount asked, in millisatoshi.
    pub msats: u64,
    /// Where it stands.
    pub state: InvoiceState,
    /// When it was recorded, Unix milliseconds.
    pub created_ms: u64,
    /// Unix seconds after which it cannot be paid.
    pub expires_at: u64,
    /// When it was settled, Unix milliseconds.
    pub settled_ms: Option<u64>,
    /// What was received (may exceed `msats`).
    pub amt_paid_msat: Option<u64>,
    /// The REQUEST_INVOICE uuid it answers.
    pub request_uuid: Option<String>,
    /// Settled by another account of this terminus, without the node.
    pub internal: bool,
}

/// An invoice to record (the node created it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice<'a> {
    /// The account it is for.
    pub account: &'a str,
    /// The REQUEST_INVOICE uuid.
    pub request_uuid: Option<&'a str>,
    /// The BOLT11 string.
    pub bolt11: &'a str,
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// The amount, millisatoshi (> 0).
    pub msats: u64,
    /// Unix seconds after which it cannot be paid.
    pub expires_at: u64,
    /// Its preimage, when the terminus drew it (then the invoice can be settled between two
    /// accounts of this terminus, [`LedgerTx::internal_transfer`]).
    pub preimage: Option<Preimage>,
}

/// Where an outgoing payment stands in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Amount and fee reserve debited; the node is paying.
    InFlight,
    /// Paid.
    Succeeded,
    /// Failed; everything refunded.
    Failed,
}

impl PaymentState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::InFlight => "in_flight",
            PaymentState::Succeeded => "succeeded",
            PaymentState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "in_flight" => PaymentState::InFlight,
            "succeeded" => PaymentState::Succeeded,
            "failed" => PaymentState::Failed,
            other => return Err(LedgerError::Corrupt(format!("payment state {other:?}"))),
        })
    }
}

/// An outgoing payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The payment hash paid.
    pub payment_hash: PaymentHash,
    /// The paying account.
    pub account: String,
    /// The REQUEST_PAY uuid.
    pub request_uuid: String,
    /// The BOLT11 paid.
    pub bolt11: String,
    /// The amount, millisatoshi.
    pub amount_msat: u64,
    /// The fee reserve debited with the amount.
    pub fee_reserve_msat: u64,
    /// The routing fee the node reported (succeeded pays).
    pub fee_paid_msat: Option<u64>,
    /// The part of it charged to the account (less only when the account could not cover a
    /// fee above the reserve; the rest is the operator's loss).
    pub fee_charged_msat: Option<u64>,
    /// Where it stands.
    pub state: PaymentState,
    /// Paid internally (no node, fee 0).
    pub internal: bool,
    /// The preimage (succeeded pays).
    pub preimage: Option<Preimage>,
    /// Why it failed.
    pub failure: Option<String>,
    /// When it began, Unix milliseconds.
    pub created_ms: u64,
    /// When it finished, Unix milliseconds.
    pub finished_ms: Option<u64>,
}

/// A pay to begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest<'a> {
    /// The paying account.
    pub account: &'a str,
    /// The REQUEST_PAY uuid (seen once, ever).
    pub request_uuid: &'a str,
    /// The BOLT11 to pay.
    pub bolt11: &'a str,
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// The amount, millisatoshi (> 0).
    pub amount_msat: u64,
    /// The most the node may spend in fees; debited now, the unused part refunded.
    pub fee_reserve_msat: u64,
}

/// An account's balance after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The account name.
    pub account: String,
    /// Its uuid.
    pub uuid: String,
    /// The new balance, millisatoshi.
    pub balance_msat: u64,
}

/// What [`LedgerTx::settle_invoice`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Credited now.
    Credited {
        /// The credited account and its new balance.
        balance: Balance,
        /// The amount credited (what the node received).
        amt_paid_msat: u64,
        /// The REQUEST_INVOICE uuid the invoice answered.
        request_uuid: Option<String>,
    },
    /// It was settled before: nothing changed ("already settled").
    AlreadySettled,
}

/// What finishing a pay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayFinished {
    /// The paying account and its new balance.
    pub balance: Balance,
    /// The REQUEST_PAY uuid.
    pub request_uuid: String,
    /// Credited back (unused reserve, or amount + reserve on failure).
    pub refunded_msat: u64,
    /// Extra debited for a fee above the reserve.
    pub extra_fee_msat: u64,
    /// A fee above the reserve that the account could not cover (the operator's loss).
    pub fee_shortfall_msat: u64,
}

/// What an internal transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The payer and its new balance.
    pub payer: Balance,
    /// The payee and its new balance.
    pub payee: Balance,
    /// The amount moved.
    pub amount_msat: u64,
    /// The REQUEST_INVOICE uuid the invoice answered (for the payee's NOTIFY_PREIMAGE).
    pub invoice_request_uuid: Option<String>,
    /// The preimage (given, or the one stored with the invoice).
    pub preimage: Option<Preimage>,
}

/// The kinds of receipt. The session kinds are the Python terminus's (the terminus appends
/// them with [`LedgerTx::append_receipt`]); the others only the ledger writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    /// A provider session on a seed began.
    SessionStart,
    /// REQUEST_INVOICE received.
    InvoiceRequest,
    /// REQUEST_PAY received.
    PayRequest,
    /// NOTIFY_INVOICE sent.
    InvoiceNotified,
    /// NOTIFY_PREIMAGE sent.
    PreimageNotified,
    /// NOTIFY_ERROR sent.
    ErrorNotified,
    /// The session ended.
    SessionEnd,
    /// The account was created.
    AccountCreated,
    /// The account was imported from a Python terminus file (its balance counts as a deposit).
    Imported,
    /// The operator deposited.
    Deposit,
    /// The operator withdrew (or `rm` took the remaining balance out).
    Withdraw,
    /// The cap changed.
    CapSet,
    /// A seed or beacon was added.
    ConnectionAdded,
    /// A seed or beacon was removed.
    ConnectionRemoved,
    /// The account was removed.
    AccountRemoved,
    /// An invoice was paid through the node: credited.
    InvoiceSettled,
    /// A pay began: amount + fee reserve debited.
    PayStarted,
    /// A pay succeeded: unused reserve refunded (or a fee above it debited).
    PaySucceeded,
    /// A pay failed: amount + reserve refunded.
    PayFailed,
    /// The node charged a fee above the reserve that the balance could not cover.
    FeeShortfall,
    /// Money moved between two accounts of this terminus (one receipt on each).
    InternalTransfer,
}

impl ReceiptKind {
    /// Every kind.
    pub const ALL: [ReceiptKind; 21] = [
        ReceiptKind::SessionStart,
        ReceiptKind::InvoiceRequest,
        ReceiptKind::PayRequest,
        ReceiptKind::InvoiceNotified,
        ReceiptKind::PreimageNotified,
        ReceiptKind::ErrorNotified,
        ReceiptKind::SessionEnd,
        ReceiptKind::AccountCreated,
        ReceiptKind::Imported,
        ReceiptKind::Deposit,
        ReceiptKind::Withdraw,
        ReceiptKind::CapSet,
        ReceiptKind::ConnectionAdded,
        ReceiptKind::ConnectionRemoved,
        ReceiptKind::AccountRemoved,
        ReceiptKind::InvoiceSettled,
        ReceiptKind::PayStarted,
        ReceiptKind::PaySucceeded,
        ReceiptKind::PayFailed,
        ReceiptKind::FeeShortfall,
        ReceiptKind::InternalTransfer,
    ];

    /// The stored spelling (the Python `type` for the session kinds).
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::SessionStart => "session_start",
            ReceiptKind::InvoiceRequest => "invoice_request",
            ReceiptKind::PayRequest => "pay_request",
            ReceiptKind::InvoiceNotified => "invoice_notified",
            ReceiptKind::PreimageNotified => "preimage_notified",
            ReceiptKind::ErrorNotified => "error_notified",
            ReceiptKind::SessionEnd => "session_end",
            ReceiptKind::AccountCreated => "account_created",
            ReceiptKind::Imported => "imported",
            ReceiptKind::Deposit => "deposit",
            ReceiptKind::Withdraw => "withdraw",
            ReceiptKind::CapSet => "cap_set",
            ReceiptKind::ConnectionAdded => "connection_added",
            ReceiptKind::ConnectionRemoved => "connection_removed",
            ReceiptKind::AccountRemoved => "account_removed",
            ReceiptKind::InvoiceSettled => "invoice_settled",
            ReceiptKind::PayStarted => "pay_started",
            ReceiptKind::PaySucceeded => "pay_succeeded",
            ReceiptKind::PayFailed => "pay_failed",
            ReceiptKind::FeeShortfall => "fee_shortfall",
            ReceiptKind::InternalTransfer => "internal_transfer",
        }
    }

    /// The kind of a stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the terminus may append it (the Python session kinds).
    pub fn is_session_kind(self) -> bool {
        matches!(
            self,
            ReceiptKind::SessionStart
                | ReceiptKind::InvoiceRequest
                | ReceiptKind::PayRequest
                | ReceiptKind::InvoiceNotified
                | ReceiptKind::PreimageNotified
                | ReceiptKind::ErrorNotified
                | ReceiptKind::SessionEnd
        )
    }
}

/// One receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    /// Its id (increasing in commit order).
    pub id: i64,
    /// The account's name.
    pub account: String,
    /// Its kind (a [`ReceiptKind`] spelling; imported Python receipts keep their `type`).
    pub kind: String,
    /// The balance change it explains, millisatoshi (0 for the session kinds).
    pub delta_msat: i64,
    /// Details (amounts, hashes, uuids, texts).
    pub detail: serde_json::Value,
    /// When, Unix milliseconds.
    pub time_ms: u64,
}

/// The running totals the invariant reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Operator deposits, imported balances included.
    pub deposits: u64,
    /// Operator withdrawals, `rm` included.
    pub withdrawals: u64,
    /// Received by the node for settled invoices.
    pub received: u64,
    /// Delivered by succeeded pays through the node.
    pub paid: u64,
    /// Routing fees charged to accounts.
    pub fees: u64,
    /// Routing fees above the reserve that no balance covered (not in the invariant).
    pub fee_shortfall: u64,
    /// Moved by internal transfers (not in the invariant).
    pub internal: u64,
}

/// What [`Ledger::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Σ balances of all accounts (removed ones included).
    pub balances: u64,
    /// Σ (amount + fee reserve) of in-flight pays.
    pub in_flight: u64,
    /// How many pays are in flight.
    pub in_flight_count: u64,
    /// The running totals.
    pub totals: Totals,
    /// The totals recomputed from the receipts.
    pub from_receipts: Totals,
    /// The totals recomputed from the invoice and payment records (deposits and
    /// withdrawals have no other record: copied from the receipts).
    pub from_records: Totals,
    /// Live accounts.
    pub accounts: u64,
    /// Everything that does not add up (empty: the ledger is consistent).
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether the invariant and every cross-check hold.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The ledger: one SQLite connection.
pub struct Ledger {
    conn: Connection,
    clock: Clock,
    round: Round,
    commits: u64,
}

/// Where the ledger stands with respect to a round ([`Ledger::begin_round`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// No round: every operation is a transaction of its own.
    Off,
    /// A round began; its transaction opens with the first operation.
    Armed,
    /// The round's transaction is open.
    Open,
    /// SQLite rolled the round's transaction back before its end (an I/O error): the
    /// round's operations fail until it ends, and its commit fails.
    RolledBack,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `path`, migrating its schema.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_clock(path, system_clock())
    }

    /// [`Ledger::open`] with a clock of the caller's (tests).
    pub fn open_with_clock(path: &Path, clock: Clock) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(Ledger {
            conn,
            clock,
            round: Round::Off,
            commits: 0,
        })
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<u32> {
        schema::version(&self.conn)
    }

    /// Runs `f` in one transaction, committed when it returns `Ok` and rolled back
    /// otherwise. Each operation inside is atomic by itself, so `f` may handle an
    /// operation's error and go on. Inside a round ([`Ledger::begin_round`]) the
    /// transaction is a savepoint of the round's: what `f` did is durable only when the
    /// round commits.
    pub fn batch<T, E>(&mut self, f: impl FnOnce(&mut LedgerTx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<LedgerError>,
    {
        if self.round == Round::Off {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(LedgerError::from)?;
            let mut ltx = LedgerTx::new(tx, self.clock.clone());
            let out = f(&mut ltx)?;
            ltx.commit().map_err(E::from)?;
            self.commits += 1;
            return Ok(out);
        }
        if self.round == Round::Armed {
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(LedgerError::from)?;
            self.round = Round::Open;
        }
        // Out of the transaction: SQLite gave it up. What follows must not commit by
        // itself (a savepoint outside a transaction would), nor may the round.
        if self.round == Round::Open && self.conn.is_autocommit() {
            self.round = Round::RolledBack;
        }
        if self.round == Round::RolledBack {
            return Err(LedgerError::RoundRolledBack.into());
        }
        let sp = self.conn.savepoint().map_err(LedgerError::from)?;
        let mut ltx = LedgerTx::in_round(sp, self.clock.clone());
        let out = f(&mut ltx)?;
        ltx.commit().map_err(E::from)?;
        Ok(out)
    }

    /// Begins a round: until [`Ledger::commit_round`], every operation runs as a savepoint
    /// inside one transaction (opened by the first operation: a round without one commits
    /// nothing). Beginning a round while one is under way changes nothing.
    pub fn begin_round(&mut self) {
        if self.round == Round::Off {
            self.round = Round::Armed;
        }
    }

    /// Ends the round: commits (and fsyncs) its transaction. `Ok(true)`: the round's
    /// changes are durable; `Ok(false)`: the round changed nothing (no transaction was
    /// opened, or there was no round). On an error the round's changes are all rolled
    /// back. Either way the ledger is out of the round afterwards.
    pub fn commit_round(&mut self) -> Result<bool> {
        match std::mem::replace(&mut self.round, Round::Off) {
            Round::Off | Round::Armed => Ok(false),
            Round::RolledBack => Err(LedgerError::RoundRolledBack),
            Round::Open if self.conn.is_autocommit() => Err(LedgerError::RoundRolledBack),
            Round::Open => match self.conn.execute_batch("COMMIT") {
                Ok(()) => {
                    self.commits += 1;
                    Ok(true)
                }
                Err(e) => {
                    // A failed COMMIT may leave the transaction open: roll it back.
                    if !self.conn.is_autocommit() {
                        let _ = self.conn.execute_batch("ROLLBACK");
                    }
                    Err(e.into())
                }
            },
        }
    }

    /// Transactions committed by this `Ledger` since it was opened (each round counts once,
    /// each operation outside a round once).
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// Fault injection for tests: while `fail` holds `true`, every commit fails (SQLite's
    /// commit hook turns it into a rollback, as a failing disk would).
    #[cfg(test)]
    pub(crate) fn fail_commits_while(&self, fail: Arc<std::sync::atomic::AtomicBool>) {
        self.conn
            .commit_hook(Some(move || fail.load(std::sync::atomic::Ordering::SeqCst)));
    }

    fn one<T>(&mut self, f: impl FnOnce(&mut LedgerTx<'_>) -> Result<T>) -> Result<T> {
        self.batch(f)
    }

    /// [`LedgerTx::create_account`] with the operating system's RNG.
    pub fn create_account(
        &mut self,
        base: Option<&str>,
        initial_msat: u64,
        cap_msat: u64,
    ) -> Result<Account> {
        self.one(|t| t.create_account(base, initial_msat, cap_msat, &mut rand_core::OsRng))
    }

    /// [`LedgerTx::create_account`] with the caller's RNG.
    pub fn create_account_with_rng<R: RngCore + CryptoRng>(
        &mut self,
        base: Option<&str>,
        initial_msat: u64,
        cap_msat: u64,
        rng: &mut R,
    ) -> Result<Account> {
        self.one(|t| t.create_account(base, initial_msat, cap_msat, rng))
    }

    /// [`LedgerTx::remove_account`].
    pub fn remove_account(&mut self, name: &str) -> Result<u64> {
        self.one(|t| t.remove_account(name))
    }

    /// [`LedgerTx::set_cap`].
    pub fn set_cap(&mut self, name: &str, cap_msat: u64) -> Result<Balance> {
        self.one(|t| t.set_cap(name, cap_msat))
    }

    /// [`LedgerTx::deposit`].
    pub fn deposit(&mut self, name: &str, msat: u64) -> Result<Balance> {
        self.one(|t| t.deposit(name, msat))
    }

    /// [`LedgerTx::withdraw`].
    pub fn withdraw(&mut self, name: &str, msat: u64) -> Result<Balance> {
        self.one(|t| t.withdraw(name, msat))
    }

    /// [`LedgerTx::add_seed`].
    pub fn add_seed(&mut self, name: &str, seed_hex: &str) -> Result<()> {
        self.one(|t| t.add_seed(name, seed_hex))
    }

    /// [`LedgerTx::add_beacon`].
    pub fn add_beacon(&mut self, name: &str, beacon: &str) -> Result<()> {
        self.one(|t| t.add_beacon(name, beacon))
    }

    /// [`LedgerTx::remove_connection`].
    pub fn remove_connection(&mut self, name: &str, seed_or_beacon: &str) -> Result<()> {
        self.one(|t| t.remove_connection(name, seed_or_beacon))
    }

    /// [`LedgerTx::clear_connections`].
    pub fn clear_connections(&mut self, name: &str) -> Result<usize> {
        self.one(|t| t.clear_connections(name))
    }

    /// [`LedgerTx::check_cap`].
    pub fn check_cap(&mut self, name: &str, msats: u64) -> Result<()> {
        self.one(|t| t.check_cap(name, msats))
    }

    /// [`LedgerTx::record_invoice`].
    pub fn record_invoice(&mut self, inv: &NewInvoice<'_>) -> Result<()> {
        self.one(|t| t.record_invoice(inv))
    }

    /// [`LedgerTx::settle_invoice`].
    pub fn settle_invoice(
        &mut self,
        hash: &PaymentHash,
        amt_paid_msat: u64,
        preimage: &Preimage,
        settle_index: u64,
    ) -> Result<Settled> {
        self.one(|t| t.settle_invoice(hash, amt_paid_msat, preimage, settle_index))
    }

    /// [`LedgerTx::expire_invoices`].
    pub fn expire_invoices(&mut self, now_secs: u64) -> Result<Vec<PaymentHash>> {
        self.one(|t| t.expire_invoices(now_secs))
    }

    /// [`LedgerTx::set_settle_index`].
    pub fn set_settle_index(&mut self, settle_index: u64) -> Result<()> {
        self.one(|t| t.set_settle_index(settle_index))
    }

    /// [`LedgerTx::begin_pay`].
    pub fn begin_pay(&mut self, req: &PayRequest<'_>) -> Result<Balance> {
        self.one(|t| t.begin_pay(req))
    }

    /// [`LedgerTx::finish_pay_success`].
    pub fn finish_pay_success(
        &mut self,
        hash: &PaymentHash,
        fee_paid_msat: u64,
        preimage: &Preimage,
    ) -> Result<PayFinished> {
        self.one(|t| t.finish_pay_success(hash, fee_paid_msat, preimage))
    }

    /// [`LedgerTx::finish_pay_failure`].
    pub fn finish_pay_failure(&mut self, hash: &PaymentHash, reason: &str) -> Result<PayFinished> {
        self.one(|t| t.finish_pay_failure(hash, reason))
    }

    /// [`LedgerTx::internal_transfer`].
    pub fn internal_transfer(
        &mut self,
        payer: &str,
        request_uuid: &str,
        invoice_hash: &PaymentHash,
        preimage: Option<&Preimage>,
    ) -> Result<Transfer> {
        self.one(|t| t.internal_transfer(payer, request_uuid, invoice_hash, preimage))
    }

    /// [`LedgerTx::append_receipt`].
    pub fn append_receipt(
        &mut self,
        name: &str,
        kind: ReceiptKind,
        detail: &serde_json::Value,
    ) -> Result<i64> {
        self.one(|t| t.append_receipt(name, kind, detail))
    }

    /// [`LedgerTx::import_python`]: one transaction for the whole directory.
    pub fn import_python(&mut self, dir: &Path) -> Result<ImportReport> {
        self.one(|t| t.import_python(dir))
    }

    /// Live accounts, oldest first.
    pub fn list_accounts(&self) -> Result<Vec<Account>> {
        tx::list_accounts(&self.conn)
    }

    /// The live account of that name.
    pub fn account(&self, name: &str) -> Result<Account> {
        tx::account_by(&self.conn, "name", name)
    }

    /// The live account of that uuid.
    pub fn account_by_uuid(&self, uuid: &str) -> Result<Account> {
        tx::account_by(&self.conn, "uuid", uuid)
    }

    /// The live account that owns a listen seed (32 hex characters, any case).
    pub fn account_by_seed(&self, seed_hex: &str) -> Result<Account> {
        tx::account_by_seed(&self.conn, seed_hex)
    }

    /// An invoice by payment hash.
    pub fn invoice(&self, hash: &PaymentHash) -> Result<Option<Invoice>> {
        tx::invoice(&self.conn, hash)
    }

    /// The open invoices (the terminus re-checks them with the node after a restart).
    pub fn open_invoices(&self) -> Result<Vec<Invoice>> {
        tx::open_invoices(&self.conn)
    }

    /// The live payment (in flight or succeeded) for a payment hash, else the newest failed.
    pub fn payment(&self, hash: &PaymentHash) -> Result<Option<Payment>> {
        tx::payment(&self.conn, hash)
    }

    /// Every payment in flight, oldest first (re-checked with the node after a restart).
    pub fn in_flight_payments(&self) -> Result<Vec<Payment>> {
        tx::in_flight_payments(&self.conn)
    }

    /// An account's receipts, newest first, at most `limit` (0: all).
    pub fn receipts(&self, name: &str, limit: usize) -> Result<Vec<Receipt>> {
        tx::receipts(&self.conn, name, limit)
    }

    /// The last settle index processed (0: none).
    pub fn settle_index(&self) -> Result<u64> {
        tx::settle_index(&self.conn)
    }

    /// The running totals.
    pub fn totals(&self) -> Result<Totals> {
        tx::totals(&self.conn)
    }

    /// Verifies the invariant and recomputes every total from receipts and records.
    pub fn check(&self) -> Result<CheckReport> {
        tx::check(&self.conn)
    }
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}
