//! The Lightning backend the terminus stands on: a blocking trait, called off the event
//! loop (a payment may take a minute to route). The simulated node and the LND REST client
//! implement it; the terminus logic is written and tested against it.

use std::fmt;
use std::time::Duration;

/// A 32-byte payment hash (SHA-256 of the preimage).
pub type PaymentHash = [u8; 32];
/// A 32-byte payment preimage.
pub type Preimage = [u8; 32];

/// What the node says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's public key, 33 bytes compressed, lowercase hex.
    pub pubkey: String,
    /// Its alias (may be empty).
    pub alias: String,
    /// `mainnet`, `testnet`, `signet`, `regtest` or `simnet`.
    pub network: String,
    /// The BOLT11 prefix its invoices carry (`lnbc`, `lntb`, `lnbcrt`, ...).
    pub invoice_prefix: String,
    /// Whether it is synced to the chain and can route.
    pub synced: bool,
}

/// An invoice to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRequest {
    /// The exact amount in millisatoshi (> 0).
    pub msats: u64,
    /// Seconds until it expires.
    pub expiry: Duration,
    /// A memo (`d` field), or a description hash (`h` field) when set.
    pub memo: String,
    /// SHA-256 of a long description, written instead of the memo.
    pub description_hash: Option<[u8; 32]>,
    /// The preimage to use (the terminus draws it, so that it can settle an invoice
    /// between two of its accounts without the node); `None`: the node draws one.
    pub preimage: Option<Preimage>,
}

/// An invoice the node created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedInvoice {
    /// The BOLT11 string.
    pub bolt11: String,
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// Unix seconds after which it cannot be paid.
    pub expires_at: u64,
    /// The node's index of it (LND `add_index`), for resumable lookups.
    pub add_index: u64,
}

/// Where an invoice the node created stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceState {
    /// Not paid yet (and not expired).
    Open,
    /// Paid: what was received and the preimage; `settle_index` orders settlements.
    Settled {
        /// Millisatoshi actually received (may exceed the invoice amount).
        amt_paid_msat: u64,
        /// The preimage.
        preimage: Preimage,
        /// The node's settlement counter (LND `settle_index`), strictly increasing.
        settle_index: u64,
    },
    /// Expired or cancelled: it will never be paid.
    Cancelled,
}

/// A settled invoice, as the settlement stream yields them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledInvoice {
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// Millisatoshi received.
    pub amt_paid_msat: u64,
    /// The preimage.
    pub preimage: Preimage,
    /// The node's settlement counter (resume after the last one processed).
    pub settle_index: u64,
}

/// A payment that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    /// The preimage (its SHA-256 is the invoice's payment hash).
    pub preimage: Preimage,
    /// The amount delivered to the payee, in millisatoshi.
    pub amount_msat: u64,
    /// Routing fees paid, in millisatoshi.
    pub fee_msat: u64,
}

/// Where an outgoing payment stands (after a restart, for payments recorded in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// Still routing.
    InFlight,
    /// Done.
    Succeeded(Paid),
    /// Failed for good: nothing was paid.
    Failed(NodeError),
}

/// Why the node refused or failed. Each maps to a distinct consumer error text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeError {
    /// No route to the payee (or an invoice nobody on this network knows).
    NoRoute,
    /// The invoice expired.
    Expired,
    /// The invoice was already paid.
    AlreadyPaid,
    /// Every route costs more than the fee limit.
    FeeLimitExceeded,
    /// The payment did not complete within the timeout (it failed; nothing was paid).
    Timeout,
    /// The invoice does not decode, or is for another network.
    InvalidInvoice(String),
    /// The node cannot be reached or is not ready (locked, syncing, ...).
    Unavailable(String),
    /// Anything else the node said.
    Other(String),
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::NoRoute => f.write_str("no route to the payee"),
            NodeError::Expired => f.write_str("invoice expired"),
            NodeError::AlreadyPaid => f.write_str("invoice already paid"),
            NodeError::FeeLimitExceeded => f.write_str("fee limit exceeded"),
            NodeError::Timeout => f.write_str("payment timed out"),
            NodeError::InvalidInvoice(e) => write!(f, "invalid invoice: {e}"),
            NodeError::Unavailable(e) => write!(f, "node unavailable: {e}"),
            NodeError::Other(e) => write!(f, "node error: {e}"),
        }
    }
}

impl std::error::Error for NodeError {}

/// A Lightning node. Every call may block (network, routing); the terminus calls them on
/// worker threads, never on its event loop. Implementations are shared between threads.
pub trait Node: Send + Sync + 'static {
    /// Who the node is.
    fn info(&self) -> Result<NodeInfo, NodeError>;

    /// What the node can spend now, in millisatoshi (sum of local channel balances).
    fn spendable_msat(&self) -> Result<u64, NodeError>;

    /// Creates an invoice for exactly `req.msats`.
    fn create_invoice(&self, req: &InvoiceRequest) -> Result<CreatedInvoice, NodeError>;

    /// Pays `bolt11` (which must carry an amount), spending at most `fee_limit_msat` in
    /// fees, giving up after `timeout`.
    fn pay(&self, bolt11: &str, fee_limit_msat: u64, timeout: Duration) -> Result<Paid, NodeError>;

    /// An invoice this node created (`None`: unknown).
    fn lookup_invoice(&self, hash: &PaymentHash) -> Result<Option<InvoiceState>, NodeError>;

    /// An outgoing payment of this node (`None`: never attempted).
    fn lookup_payment(&self, hash: &PaymentHash) -> Result<Option<PaymentState>, NodeError>;

    /// The settlement stream: invoices settled with `settle_index > after`, oldest first,
    /// waiting up to `wait` for the first one (an empty result means none yet). Resuming
    /// from the last index processed never loses or repeats a settlement.
    fn settled_since(&self, after: u64, wait: Duration) -> Result<Vec<SettledInvoice>, NodeError>;

    /// Cancels an open invoice (it can no longer be paid). Unknown or settled: an error.
    fn cancel_invoice(&self, hash: &PaymentHash) -> Result<(), NodeError>;
}
