//! The simulated Lightning node: the terminus's zero-setup default backend, and the node
//! behind each `moneysocket simnet` REST server.
//!
//! A [`SimNode`] is honest about money: its invoices are real BOLT11 strings (network
//! `lnbcrt`, regtest) signed by a node key kept in its data directory, its preimages are
//! random (payment hash = SHA-256 of the preimage), an invoice is paid at most once and never
//! after it expired, and a payment moves spendable balance from the payer to the payee.
//!
//! Several nodes can share one [`SimNetwork`] (`moneysocket simnet`): an invoice of one is
//! payable from any other, with the payer's configured fee (base + ppm) and latency. An
//! invoice no node of the network knows fails with [`NodeError::NoRoute`]. A node opened
//! with [`SimNode::open`] is alone on a network of its own.
//!
//! # Data directory
//!
//! - `simnode.key`: the node's secp256k1 secret key, hex, mode 0600, created on first start.
//! - `simnode.jsonl`: an append-only log of JSON lines (invoices, settlements, payments),
//!   each line fsynced before the call that wrote it returns, replayed at start. A torn last
//!   line (a crash mid-write, never acknowledged) is cut off at start. The starting balance is
//!   written by the first start; changing it in the configuration later has no effect.
//!
//! # Crash consistency
//!
//! A payment is logged at the payer when it starts (the amount and fee leave the balance),
//! then the settlement at the payee, then the outcome at the payer. A payment left in flight
//! by a crash is resolved when both nodes are back on the network: it succeeded if the
//! payee's log shows the invoice settled by this payer, otherwise it failed and is refunded.
//! Until then [`Node::lookup_payment`] reports it [`PaymentState::InFlight`].
//!
//! A data directory belongs to one process at a time (there is no file lock); within a
//! process, [`SimNetwork::open_node`] refuses a node that is already open.
//!
//! Locking: one mutex holds the state of every node of a network (payments between two
//! nodes change both atomically); log writes happen under it. Payments sleep their latency
//! without it.

use super::node::{
    CreatedInvoice, InvoiceRequest, InvoiceState, Node, NodeError, NodeInfo, Paid, PaymentHash,
    PaymentState, Preimage, SettledInvoice,
};
use moneysocket_core::bolt11::{DescriptionRef, Network, UnsignedInvoice, VerifiedInvoice};
use moneysocket_core::hex;
use rand_core::{OsRng, RngCore};
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey, SignOnly};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The key file in the data directory.
pub const KEY_FILE: &str = "simnode.key";
/// The state log in the data directory.
pub const LOG_FILE: &str = "simnode.jsonl";

/// Expiry used when an invoice request asks for zero seconds (LND's default).
pub const DEFAULT_INVOICE_EXPIRY_SECS: u64 = 86_400;

/// A compressed secp256k1 public key: a node's id on the network.
pub type NodeId = [u8; 33];

/// Where the simulated network reads the time (Unix seconds), so tests can move it.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since 1970.
    fn now_unix(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock set by hand (tests); clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `unix_secs`.
    pub fn new(unix_secs: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(unix_secs)))
    }

    /// Sets the time.
    pub fn set(&self, unix_secs: u64) {
        self.0.store(unix_secs, Ordering::SeqCst);
    }

    /// Moves the time forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An invoice as [`SimNode::invoice_details`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDetails {
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// Its preimage (known to the node from creation on, as with LND).
    pub preimage: Preimage,
    /// The amount asked, in millisatoshi.
    pub amount_msat: u64,
    /// The memo it was created with.
    pub memo: String,
    /// The BOLT11 string.
    pub bolt11: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Unix seconds after which it cannot be paid.
    pub expires_at: u64,
    /// The node's index of it (LND `add_index`).
    pub add_index: u64,
    /// Settlement time, Unix seconds (0: not settled, or settled before times were logged).
    pub settled_at: u64,
    /// Where it stands (an expired open invoice is [`InvoiceState::Cancelled`]).
    pub state: InvoiceState,
}

/// How a simulated node behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimNodeConfig {
    /// The alias [`Node::info`] reports.
    pub alias: String,
    /// Spendable balance at the first start, in millisatoshi.
    pub starting_balance_msat: u64,
    /// Fee of every payment this node sends to another node: a base, in millisatoshi...
    pub fee_base_msat: u64,
    /// ...plus this many millionths of the amount (rounded down). Paying one's own invoice
    /// costs no fee.
    pub fee_ppm: u64,
    /// How long a payment takes to complete (the payer sleeps that long).
    pub latency: Duration,
    /// The `min_final_cltv_expiry_delta` its invoices carry.
    pub min_final_cltv_expiry_delta: u64,
    /// Whether every log record is fsynced (turn off only for throwaway benchmarks).
    pub fsync: bool,
}

impl Default for SimNodeConfig {
    fn default() -> Self {
        SimNodeConfig {
            alias: "simnode".to_owned(),
            starting_balance_msat: 100_000_000_000,
            fee_base_msat: 1_000,
            fee_ppm: 1_000,
            latency: Duration::ZERO,
            min_final_cltv_expiry_delta: 80,
            fsync: true,
        }
    }
}

impl SimNodeConfig {
    /// The fee this node pays to deliver `amount_msat` to another node.
    pub fn fee_msat(&self, amount_msat: u64) -> u64 {
        let prop = u128::from(amount_msat) * u128::from(self.fee_ppm) / 1_000_000;
        u64::try_from(prop)
            .unwrap_or(u64::MAX)
            .saturating_add(self.fee_base_msat)
    }
}

/// Why a simulated node could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum SimNodeError {
    /// Reading or writing a file of its data directory failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A file of its data directory holds something else than what the node writes.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line (1-based; 0 for the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A node with the same key is already on this network.
    AlreadyOpen {
        /// Its public key, hex.
        pubkey: String,
    },
}

impl fmt::Display for SimNodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimNodeError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            SimNodeError::Corrupt { path, line, reason } => {
                write!(f, "{}:{line}: {reason}", path.display())
            }
            SimNodeError::AlreadyOpen { pubkey } => {
                write!(f, "node {pubkey} is already on this simulated network")
            }
        }
    }
}

impl std::error::Error for SimNodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimNodeError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SimNodeError + '_ {
    move |source| SimNodeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Simulated nodes that can pay each other. Shared (`Arc`) by its nodes.
pub struct SimNetwork {
    clock: Arc<dyn Clock>,
    state: Mutex<NetState>,
    settled: Condvar,
}

impl fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimNetwork").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct NetState {
    nodes: HashMap<NodeId, NodeState>,
    /// Whether some node may hold a payment left in flight by a previous process.
    stale: bool,
}

impl SimNetwork {
    /// An empty network on the system clock.
    pub fn new() -> Arc<SimNetwork> {
        SimNetwork::with_clock(Arc::new(SystemClock))
    }

    /// An empty network reading the time from `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Arc<SimNetwork> {
        Arc::new(SimNetwork {
            clock,
            state: Mutex::new(NetState::default()),
            settled: Condvar::new(),
        })
    }

    /// The current time of the network, Unix seconds.
    pub fn now_unix(&self) -> u64 {
        self.clock.now_unix()
    }

    /// The ids of the nodes on the network, in no particular order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.lock()
            .map(|s| s.nodes.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Starts the node whose data directory is `dir` (created if needed, with a new key on
    /// first start) and puts it on this network. Payments it left in flight, and payments
    /// of other nodes to it, are resolved now that both ends are present.
    pub fn open_node(
        self: &Arc<Self>,
        dir: &Path,
        config: SimNodeConfig,
    ) -> Result<SimNode, SimNodeError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let secp = Secp256k1::signing_only();
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let id = PublicKey::from_secret_key(&secp, &key).serialize();
        // Under the lock, so that the log of a node already open is never read (or cut).
        let mut net = self.lock().map_err(|e| SimNodeError::Io {
            path: dir.to_owned(),
            source: io::Error::other(e.to_string()),
        })?;
        if net.nodes.contains_key(&id) {
            return Err(SimNodeError::AlreadyOpen {
                pubkey: hex::encode(&id),
            });
        }
        let state = NodeState::open(&dir.join(LOG_FILE), &id, &config)?;
        net.nodes.insert(id, state);
        net.stale = true;
        net.resolve_stale();
        drop(net);
        self.settled.notify_all();
        Ok(SimNode {
            net: Arc::clone(self),
            id,
            key,
            secp,
            config,
            dir: dir.to_owned(),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, NetState>, NodeError> {
        self.state
            .lock()
            .map_err(|_| NodeError::Unavailable("simulated network state poisoned".to_owned()))
    }
}

/// A simulated Lightning node (see the [module documentation](self)). Dropping it takes it
/// off its network: payments to it then fail with no route.
pub struct SimNode {
    net: Arc<SimNetwork>,
    id: NodeId,
    key: SecretKey,
    secp: Secp256k1<SignOnly>,
    config: SimNodeConfig,
    dir: PathBuf,
}

impl fmt::Debug for SimNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimNode")
            .field("pubkey", &hex::encode(&self.id))
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for SimNode {
    fn drop(&mut self) {
        if let Ok(mut net) = self.net.state.lock() {
            net.nodes.remove(&self.id);
        }
    }
}

impl SimNode {
    /// Starts the node of data directory `dir` alone on a network of its own (system clock).
    pub fn open(dir: &Path, config: SimNodeConfig) -> Result<SimNode, SimNodeError> {
        SimNetwork::new().open_node(dir, config)
    }

    /// The node's public key.
    pub fn pubkey(&self) -> NodeId {
        self.id
    }

    /// The network it is on.
    pub fn network(&self) -> &Arc<SimNetwork> {
        &self.net
    }

    /// Its configuration.
    pub fn config(&self) -> &SimNodeConfig {
        &self.config
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Everything the node keeps about an invoice it created (`None`: unknown), for
    /// servers that show invoices the way a real node does (`moneysocket simnet`).
    pub fn invoice_details(&self, hash: &PaymentHash) -> Result<Option<InvoiceDetails>, NodeError> {
        let state = match self.lookup_invoice(hash)? {
            Some(s) => s,
            None => return Ok(None),
        };
        self.with_me(|me| {
            Ok(me.invoices.get(hash).map(|inv| InvoiceDetails {
                payment_hash: *hash,
                preimage: inv.preimage,
                amount_msat: inv.amount_msat,
                memo: inv.memo.clone(),
                bolt11: inv.bolt11.clone(),
                created_at: inv.created_at,
                expires_at: inv.expires_at,
                add_index: inv.add_index,
                settled_at: inv.settled_at,
                state,
            }))
        })
    }

    /// The highest `settle_index` so far (0: nothing settled yet).
    pub fn last_settle_index(&self) -> Result<u64, NodeError> {
        self.with_me(|me| Ok(me.settled.last().map_or(0, |s| s.settle_index)))
    }

    fn sign(&self, hash: &[u8; 32]) -> ([u8; 64], u8) {
        let sig = self
            .secp
            .sign_ecdsa_recoverable(&Message::from_digest(*hash), &self.key);
        let (id, rs) = sig.serialize_compact();
        // Recovery ids are 0..=3.
        (rs, u8::try_from(id.to_i32()).unwrap_or(u8::MAX))
    }

    /// Runs `f` on this node's state under the network lock.
    fn with_me<T>(
        &self,
        f: impl FnOnce(&mut NodeState) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        let mut net = self.net.lock()?;
        let me = net.nodes.get_mut(&self.id).ok_or_else(closed)?;
        f(me)
    }

    /// Fails an in-flight payment of this node and refunds it.
    fn fail(&self, hash: &PaymentHash, reason: FailReason) -> NodeError {
        let err = reason.to_error();
        if let Ok(mut net) = self.net.lock() {
            if let Some(me) = net.nodes.get_mut(&self.id) {
                if me.finish_payment(hash, Outcome::Failed(reason)) {
                    net.stale = true;
                }
            }
        }
        err
    }
}

fn closed() -> NodeError {
    NodeError::Unavailable("simulated node is closed".to_owned())
}

impl Node for SimNode {
    fn info(&self) -> Result<NodeInfo, NodeError> {
        Ok(NodeInfo {
            pubkey: hex::encode(&self.id),
            alias: self.config.alias.clone(),
            network: "regtest".to_owned(),
            invoice_prefix: Network::Regtest.prefix().to_owned(),
            synced: true,
        })
    }

    fn spendable_msat(&self) -> Result<u64, NodeError> {
        self.with_me(|me| Ok(me.balance_msat))
    }

    fn create_invoice(&self, req: &InvoiceRequest) -> Result<CreatedInvoice, NodeError> {
        let amount = NonZeroU64::new(req.msats)
            .ok_or_else(|| NodeError::Other("invoice amount must be positive".to_owned()))?;
        // The caller's preimage (the terminus draws its own), else a fresh random one.
        let preimage = req.preimage.unwrap_or_else(|| {
            let mut p = [0u8; 32];
            OsRng.fill_bytes(&mut p);
            p
        });
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        let hash: PaymentHash = Sha256::digest(preimage).into();
        let expiry = match req.expiry.as_secs() {
            0 => DEFAULT_INVOICE_EXPIRY_SECS,
            s => s,
        };
        let now = self.net.now_unix();
        let description = match &req.description_hash {
            Some(h) => DescriptionRef::Hash(h),
            None => DescriptionRef::Direct(&req.memo),
        };
        let mut fields = UnsignedInvoice::new(Network::Regtest, now, hash, secret, description);
        fields.amount_msat = Some(amount);
        fields.expiry_secs = Some(expiry);
        fields.min_final_cltv_expiry_delta = Some(self.config.min_final_cltv_expiry_delta);
        let bolt11 = fields
            .to_signed_string(|h| self.sign(h))
            .map_err(|e| NodeError::Other(format!("cannot write the invoice: {e}")))?;
        let expires_at = fields.expires_at();
        self.with_me(|me| {
            if me.invoices.contains_key(&hash) {
                return Err(NodeError::Other("payment hash collision".to_owned()));
            }
            let add_index = me.add_index + 1;
            me.log.append(&Record::Invoice {
                hash: hex::encode(&hash),
                preimage: hex::encode(&preimage),
                amount_msat: req.msats,
                created_at: now,
                expires_at,
                add_index,
                memo: req.memo.clone(),
                bolt11: bolt11.clone(),
            })?;
            me.add_index = add_index;
            me.invoices.insert(
                hash,
                SimInvoice {
                    amount_msat: req.msats,
                    expires_at,
                    preimage,
                    state: InvState::Open,
                    created_at: now,
                    add_index,
                    memo: req.memo.clone(),
                    bolt11: bolt11.clone(),
                    settled_at: 0,
                },
            );
            Ok(CreatedInvoice {
                bolt11,
                payment_hash: hash,
                expires_at,
                add_index,
            })
        })
    }

    fn pay(&self, bolt11: &str, fee_limit_msat: u64, timeout: Duration) -> Result<Paid, NodeError> {
        let invalid = |e: String| NodeError::InvalidInvoice(e);
        let inv = VerifiedInvoice::parse(bolt11.trim()).map_err(|e| invalid(e.to_string()))?;
        if inv.network() != Network::Regtest {
            return Err(invalid(format!(
                "invoice is for {} ({}), this node is on regtest",
                network_name(inv.network()),
                inv.network().prefix()
            )));
        }
        let amount = inv
            .amount_msat()
            .ok_or_else(|| invalid("invoice has no amount".to_owned()))?;
        let hash = *inv.payment_hash();
        let payee = *inv.payee_pubkey();
        if inv.is_expired(self.net.now_unix()) {
            return Err(NodeError::Expired);
        }
        let fee = if payee == self.id {
            0
        } else {
            self.config.fee_msat(amount)
        };
        if fee > fee_limit_msat {
            return Err(NodeError::FeeLimitExceeded);
        }
        let total = amount.checked_add(fee).ok_or(NodeError::NoRoute)?;

        // Reserve: checks, then the payment recorded in flight at the payer.
        {
            let mut net = self.net.lock()?;
            let now = self.net.now_unix();
            net.check_payable(&payee, &hash, amount, now)?;
            let me = net.nodes.get_mut(&self.id).ok_or_else(closed)?;
            match me.payments.get(&hash).map(|p| &p.state) {
                Some(PayState::Succeeded(_)) => return Err(NodeError::AlreadyPaid),
                Some(PayState::InFlight) => {
                    return Err(NodeError::Other(
                        "a payment of this invoice is already in flight".to_owned(),
                    ))
                }
                Some(PayState::Failed(_)) | None => {}
            }
            if me.balance_msat < total {
                return Err(NodeError::NoRoute);
            }
            me.log.append(&Record::PayStarted {
                hash: hex::encode(&hash),
                payee: hex::encode(&payee),
                amount_msat: amount,
                fee_msat: fee,
            })?;
            me.balance_msat -= total;
            me.payments.insert(
                hash,
                SimPayment {
                    payee,
                    amount_msat: amount,
                    fee_msat: fee,
                    state: PayState::InFlight,
                    stale: false,
                },
            );
        }

        // Route.
        if self.config.latency > timeout {
            std::thread::sleep(timeout);
            return Err(self.fail(&hash, FailReason::Timeout));
        }
        std::thread::sleep(self.config.latency);

        // Settle at the payee, then record the success at the payer.
        let mut net = self.net.lock()?;
        let now = self.net.now_unix();
        if let Err(e) = net.check_payable(&payee, &hash, amount, now) {
            drop(net);
            return Err(self.fail(&hash, FailReason::from_error(&e)));
        }
        let settled = net
            .nodes
            .get_mut(&payee)
            .ok_or(NodeError::NoRoute)
            .and_then(|p| p.settle(&hash, amount, &self.id, now));
        let preimage = match settled {
            Ok(preimage) => preimage,
            Err(e) => {
                drop(net);
                return Err(self.fail(&hash, FailReason::from_error(&e)));
            }
        };
        if let Some(me) = net.nodes.get_mut(&self.id) {
            me.finish_payment(&hash, Outcome::Succeeded(preimage));
        }
        drop(net);
        self.net.settled.notify_all();
        Ok(Paid {
            preimage,
            amount_msat: amount,
            fee_msat: fee,
        })
    }

    fn lookup_invoice(&self, hash: &PaymentHash) -> Result<Option<InvoiceState>, NodeError> {
        let now = self.net.now_unix();
        self.with_me(|me| {
            Ok(me.invoices.get(hash).map(|inv| match &inv.state {
                InvState::Open if now >= inv.expires_at => InvoiceState::Cancelled,
                InvState::Open => InvoiceState::Open,
                InvState::Cancelled => InvoiceState::Cancelled,
                InvState::Settled {
                    amt_paid_msat,
                    settle_index,
                    ..
                } => InvoiceState::Settled {
                    amt_paid_msat: *amt_paid_msat,
                    preimage: inv.preimage,
                    settle_index: *settle_index,
                },
            }))
        })
    }

    fn lookup_payment(&self, hash: &PaymentHash) -> Result<Option<PaymentState>, NodeError> {
        let mut net = self.net.lock()?;
        net.resolve_stale();
        let me = net.nodes.get(&self.id).ok_or_else(closed)?;
        Ok(me.payments.get(hash).map(|p| match &p.state {
            PayState::InFlight => PaymentState::InFlight,
            PayState::Succeeded(preimage) => PaymentState::Succeeded(Paid {
                preimage: *preimage,
                amount_msat: p.amount_msat,
                fee_msat: p.fee_msat,
            }),
            PayState::Failed(reason) => PaymentState::Failed(reason.to_error()),
        }))
    }

    fn settled_since(&self, after: u64, wait: Duration) -> Result<Vec<SettledInvoice>, NodeError> {
        let deadline = Instant::now() + wait;
        let mut net = self.net.lock()?;
        loop {
            let me = net.nodes.get(&self.id).ok_or_else(closed)?;
            let from = me.settled.partition_point(|s| s.settle_index <= after);
            if let Some(new) = me.settled.get(from..).filter(|s| !s.is_empty()) {
                return Ok(new.to_vec());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Vec::new());
            }
            net = self
                .net
                .settled
                .wait_timeout(net, left)
                .map_err(|_| closed())?
                .0;
        }
    }

    fn cancel_invoice(&self, hash: &PaymentHash) -> Result<(), NodeError> {
        self.with_me(|me| {
            let inv = me
                .invoices
                .get(hash)
                .ok_or_else(|| NodeError::Other("unknown invoice".to_owned()))?;
            match inv.state {
                InvState::Cancelled => Ok(()),
                InvState::Settled { .. } => {
                    Err(NodeError::Other("invoice already settled".to_owned()))
                }
                InvState::Open => {
                    me.log.append(&Record::Cancelled {
                        hash: hex::encode(hash),
                    })?;
                    if let Some(inv) = me.invoices.get_mut(hash) {
                        inv.state = InvState::Cancelled;
                    }
                    Ok(())
                }
            }
        })
    }
}

fn network_name(n: Network) -> &'static str {
    match n {
        Network::Bitcoin => "mainnet",
        Network::Testnet => "testnet",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        Network::Simnet => "simnet",
    }
}

// ---- State ----

struct SimInvoice {
    amount_msat: u64,
    expires_at: u64,
    preimage: Preimage,
    state: InvState,
    created_at: u64,
    add_index: u64,
    memo: String,
    bolt11: String,
    /// When it was settled (Unix seconds); 0 for settlements logged before this was recorded.
    settled_at: u64,
}

enum InvState {
    Open,
    Settled {
        amt_paid_msat: u64,
        settle_index: u64,
        payer: NodeId,
    },
    Cancelled,
}

struct SimPayment {
    payee: NodeId,
    amount_msat: u64,
    fee_msat: u64,
    state: PayState,
    /// In flight in a previous process: to be resolved against the payee's log.
    stale: bool,
}

enum PayState {
    InFlight,
    Succeeded(Preimage),
    Failed(FailReason),
}

enum Outcome {
    Succeeded(Preimage),
    Failed(FailReason),
}

/// Why a payment failed, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FailReason {
    NoRoute,
    Expired,
    AlreadyPaid,
    Timeout,
    Other(String),
}

impl FailReason {
    fn to_error(&self) -> NodeError {
        match self {
            FailReason::NoRoute => NodeError::NoRoute,
            FailReason::Expired => NodeError::Expired,
            FailReason::AlreadyPaid => NodeError::AlreadyPaid,
            FailReason::Timeout => NodeError::Timeout,
            FailReason::Other(s) => NodeError::Other(s.clone()),
        }
    }

    fn from_error(e: &NodeError) -> FailReason {
        match e {
            NodeError::NoRoute => FailReason::NoRoute,
            NodeError::Expired => FailReason::Expired,
            NodeError::AlreadyPaid => FailReason::AlreadyPaid,
            NodeError::Timeout => FailReason::Timeout,
            other => FailReason::Other(other.to_string()),
        }
    }
}

/// One line of the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum Record {
    Genesis {
        pubkey: String,
        balance_msat: u64,
    },
    Invoice {
        hash: String,
        preimage: String,
        amount_msat: u64,
        created_at: u64,
        expires_at: u64,
        add_index: u64,
        memo: String,
        bolt11: String,
    },
    Settled {
        hash: String,
        amt_paid_msat: u64,
        settle_index: u64,
        payer: String,
        /// Unix seconds (absent in logs written before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        settled_at: Option<u64>,
    },
    Cancelled {
        hash: String,
    },
    PayStarted {
        hash: String,
        payee: String,
        amount_msat: u64,
        fee_msat: u64,
    },
    PaySucceeded {
        hash: String,
        preimage: String,
    },
    PayFailed {
        hash: String,
        reason: FailReason,
    },
}

/// The append-only log file.
struct Log {
    file: File,
    path: PathBuf,
    len: u64,
    fsync: bool,
}

impl Log {
    /// Appends one record; on failure the file is cut back and nothing changed.
    fn append(&mut self, rec: &Record) -> Result<(), NodeError> {
        let unavailable =
            |e: &dyn fmt::Display| NodeError::Unavailable(format!("{}: {e}", self.path.display()));
        let mut line = serde_json::to_vec(rec).map_err(|e| unavailable(&e))?;
        line.push(b'\n');
        let written = self.file.write_all(&line).and_then(|()| {
            if self.fsync {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(unavailable(&e))
            }
        }
    }
}

/// One node's state, rebuilt from its log.
struct NodeState {
    log: Log,
    balance_msat: u64,
    add_index: u64,
    invoices: HashMap<PaymentHash, SimInvoice>,
    /// Settlements, by increasing `settle_index` (1, 2, ...).
    settled: Vec<SettledInvoice>,
    payments: HashMap<PaymentHash, SimPayment>,
}

impl NodeState {
    fn open(path: &Path, id: &NodeId, config: &SimNodeConfig) -> Result<NodeState, SimNodeError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err(path))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(io_err(path))?;
        let mut state = NodeState {
            log: Log {
                file,
                path: path.to_owned(),
                len: 0,
                fsync: config.fsync,
            },
            balance_msat: 0,
            add_index: 0,
            invoices: HashMap::new(),
            settled: Vec::new(),
            payments: HashMap::new(),
        };
        let mut good = 0usize;
        let mut lines = data.split_inclusive(|&b| b == b'\n').enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            let last = lines.peek().is_none();
            let complete = line.last() == Some(&b'\n');
            let rec = serde_json::from_slice::<Record>(line);
            match rec {
                Ok(rec) if complete => {
                    state
                        .replay(rec, id, i == 0)
                        .map_err(|reason| SimNodeError::Corrupt {
                            path: path.to_owned(),
                            line: i + 1,
                            reason,
                        })?;
                    good += line.len();
                }
                // A torn last write: it was never acknowledged.
                _ if last => break,
                // (Only the last chunk of the split can lack its line end.)
                Ok(_) => {
                    return Err(SimNodeError::Corrupt {
                        path: path.to_owned(),
                        line: i + 1,
                        reason: "record without a line end".to_owned(),
                    })
                }
                Err(e) => {
                    return Err(SimNodeError::Corrupt {
                        path: path.to_owned(),
                        line: i + 1,
                        reason: e.to_string(),
                    })
                }
            }
        }
        if good < data.len() {
            state.log.file.set_len(good as u64).map_err(io_err(path))?;
            state.log.file.sync_data().map_err(io_err(path))?;
        }
        state.log.len = good as u64;
        if good == 0 {
            let rec = Record::Genesis {
                pubkey: hex::encode(id),
                balance_msat: config.starting_balance_msat,
            };
            state.log.append(&rec).map_err(|e| SimNodeError::Io {
                path: path.to_owned(),
                source: io::Error::other(e.to_string()),
            })?;
            state.balance_msat = config.starting_balance_msat;
        }
        // Whatever was in flight belongs to a process that is gone.
        for p in state.payments.values_mut() {
            p.stale = matches!(p.state, PayState::InFlight);
        }
        Ok(state)
    }

    fn replay(&mut self, rec: Record, id: &NodeId, first: bool) -> Result<(), String> {
        if first != matches!(rec, Record::Genesis { .. }) {
            return Err("the log must start with exactly one genesis record".to_owned());
        }
        match rec {
            Record::Genesis {
                pubkey,
                balance_msat,
            } => {
                if pubkey != hex::encode(id) {
                    return Err(format!("log of node {pubkey}, not of this node's key"));
                }
                self.balance_msat = balance_msat;
            }
            Record::Invoice {
                hash,
                preimage,
                amount_msat,
                created_at,
                expires_at,
                add_index,
                memo,
                bolt11,
            } => {
                let hash = decode32(&hash)?;
                let preimage = decode32(&preimage)?;
                if <[u8; 32]>::from(Sha256::digest(preimage)) != hash {
                    return Err("preimage does not hash to the payment hash".to_owned());
                }
                self.add_index = self.add_index.max(add_index);
                self.invoices.insert(
                    hash,
                    SimInvoice {
                        amount_msat,
                        expires_at,
                        preimage,
                        state: InvState::Open,
                        created_at,
                        add_index,
                        memo,
                        bolt11,
                        settled_at: 0,
                    },
                );
            }
            Record::Settled {
                hash,
                amt_paid_msat,
                settle_index,
                payer,
                settled_at,
            } => {
                let hash = decode32(&hash)?;
                let payer = decode33(&payer)?;
                let next = self.settled.len() as u64 + 1;
                if settle_index != next {
                    return Err(format!("settle_index {settle_index}, expected {next}"));
                }
                let inv = self
                    .invoices
                    .get_mut(&hash)
                    .ok_or("settlement of an unknown invoice")?;
                if !matches!(inv.state, InvState::Open) {
                    return Err("settlement of an invoice that is not open".to_owned());
                }
                inv.state = InvState::Settled {
                    amt_paid_msat,
                    settle_index,
                    payer,
                };
                inv.settled_at = settled_at.unwrap_or(0);
                self.balance_msat = self.balance_msat.saturating_add(amt_paid_msat);
                self.settled.push(SettledInvoice {
                    payment_hash: hash,
                    amt_paid_msat,
                    preimage: inv.preimage,
                    settle_index,
                });
            }
            Record::Cancelled { hash } => {
                let hash = decode32(&hash)?;
                let inv = self
                    .invoices
                    .get_mut(&hash)
                    .ok_or("cancellation of an unknown invoice")?;
                if matches!(inv.state, InvState::Open) {
                    inv.state = InvState::Cancelled;
                }
            }
            Record::PayStarted {
                hash,
                payee,
                amount_msat,
                fee_msat,
            } => {
                let hash = decode32(&hash)?;
                let total = amount_msat
                    .checked_add(fee_msat)
                    .filter(|&t| t <= self.balance_msat)
                    .ok_or("payment exceeds the balance")?;
                if matches!(
                    self.payments.get(&hash).map(|p| &p.state),
                    Some(PayState::InFlight | PayState::Succeeded(_))
                ) {
                    return Err("second payment of one invoice".to_owned());
                }
                self.balance_msat -= total;
                self.payments.insert(
                    hash,
                    SimPayment {
                        payee: decode33(&payee)?,
                        amount_msat,
                        fee_msat,
                        state: PayState::InFlight,
                        stale: false,
                    },
                );
            }
            Record::PaySucceeded { hash, preimage } => {
                let hash = decode32(&hash)?;
                let preimage = decode32(&preimage)?;
                if <[u8; 32]>::from(Sha256::digest(preimage)) != hash {
                    return Err("preimage does not hash to the payment hash".to_owned());
                }
                self.apply_outcome(&hash, Outcome::Succeeded(preimage))?;
            }
            Record::PayFailed { hash, reason } => {
                let hash = decode32(&hash)?;
                self.apply_outcome(&hash, Outcome::Failed(reason))?;
            }
        }
        Ok(())
    }

    /// Ends an in-flight payment in memory (refunding a failure).
    fn apply_outcome(&mut self, hash: &PaymentHash, outcome: Outcome) -> Result<(), String> {
        let p = self
            .payments
            .get_mut(hash)
            .filter(|p| matches!(p.state, PayState::InFlight))
            .ok_or("outcome of a payment that is not in flight")?;
        p.stale = false;
        match outcome {
            Outcome::Succeeded(preimage) => p.state = PayState::Succeeded(preimage),
            Outcome::Failed(reason) => {
                let refund = p.amount_msat.saturating_add(p.fee_msat);
                p.state = PayState::Failed(reason);
                self.balance_msat = self.balance_msat.saturating_add(refund);
            }
        }
        Ok(())
    }

    /// Logs and applies the end of an in-flight payment. If the log write fails, memory
    /// still moves on for a success (the payee's log proves it at the next start) but a
    /// failure stays in flight (to be resolved, and refunded, later). Returns whether it
    /// stayed in flight.
    fn finish_payment(&mut self, hash: &PaymentHash, outcome: Outcome) -> bool {
        let rec = match &outcome {
            Outcome::Succeeded(preimage) => Record::PaySucceeded {
                hash: hex::encode(hash),
                preimage: hex::encode(preimage),
            },
            Outcome::Failed(reason) => Record::PayFailed {
                hash: hex::encode(hash),
                reason: reason.clone(),
            },
        };
        let logged = self.log.append(&rec).is_ok();
        if logged || matches!(outcome, Outcome::Succeeded(_)) {
            let _ = self.apply_outcome(hash, outcome);
            false
        } else if let Some(p) = self.payments.get_mut(hash) {
            p.stale = true;
            true
        } else {
            false
        }
    }

    /// Settles an open invoice paid by `payer` (logged first); returns its preimage.
    fn settle(
        &mut self,
        hash: &PaymentHash,
        amount_msat: u64,
        payer: &NodeId,
        now: u64,
    ) -> Result<Preimage, NodeError> {
        let preimage = self
            .invoices
            .get(hash)
            .map(|inv| inv.preimage)
            .ok_or(NodeError::NoRoute)?;
        let settle_index = self.settled.len() as u64 + 1;
        self.log.append(&Record::Settled {
            hash: hex::encode(hash),
            amt_paid_msat: amount_msat,
            settle_index,
            payer: hex::encode(payer),
            settled_at: Some(now),
        })?;
        if let Some(inv) = self.invoices.get_mut(hash) {
            inv.state = InvState::Settled {
                amt_paid_msat: amount_msat,
                settle_index,
                payer: *payer,
            };
            inv.settled_at = now;
        }
        self.balance_msat = self.balance_msat.saturating_add(amount_msat);
        self.settled.push(SettledInvoice {
            payment_hash: *hash,
            amt_paid_msat: amount_msat,
            preimage,
            settle_index,
        });
        Ok(preimage)
    }
}

impl NetState {
    /// Whether `payee` has an open, unexpired invoice `hash` for at most `amount_msat`.
    fn check_payable(
        &self,
        payee: &NodeId,
        hash: &PaymentHash,
        amount_msat: u64,
        now: u64,
    ) -> Result<(), NodeError> {
        let inv = self
            .nodes
            .get(payee)
            .and_then(|n| n.invoices.get(hash))
            .ok_or(NodeError::NoRoute)?;
        match inv.state {
            InvState::Settled { .. } => Err(NodeError::AlreadyPaid),
            InvState::Cancelled if now < inv.expires_at => Err(NodeError::Other(
                "invoice cancelled by the payee".to_owned(),
            )),
            InvState::Cancelled => Err(NodeError::Expired),
            InvState::Open if now >= inv.expires_at => Err(NodeError::Expired),
            InvState::Open if amount_msat < inv.amount_msat => Err(NodeError::Other(
                "amount below the invoice's amount".to_owned(),
            )),
            InvState::Open => Ok(()),
        }
    }

    /// Resolves payments left in flight by a previous process whose payee is on the
    /// network: succeeded if the payee settled the invoice for this payer, else failed.
    fn resolve_stale(&mut self) {
        if !self.stale {
            return;
        }
        let stale: Vec<(NodeId, PaymentHash, NodeId)> = self
            .nodes
            .iter()
            .flat_map(|(id, n)| {
                n.payments
                    .iter()
                    .filter(|(_, p)| p.stale)
                    .map(move |(h, p)| (*id, *h, p.payee))
            })
            .collect();
        for (payer, hash, payee) in stale {
            let Some(payee_state) = self.nodes.get(&payee) else {
                continue;
            };
            let outcome = match payee_state.invoices.get(&hash) {
                Some(SimInvoice {
                    preimage,
                    state: InvState::Settled { payer: by, .. },
                    ..
                }) if *by == payer => Outcome::Succeeded(*preimage),
                _ => Outcome::Failed(FailReason::Other(
                    "interrupted by a restart before it settled".to_owned(),
                )),
            };
            if let Some(n) = self.nodes.get_mut(&payer) {
                n.finish_payment(&hash, outcome);
            }
        }
        self.stale = self
            .nodes
            .values()
            .any(|n| n.payments.values().any(|p| p.stale));
    }
}

fn decode32(s: &str) -> Result<[u8; 32], String> {
    hex::decode_array(s).map_err(|e| format!("bad hex {s:?}: {e}"))
}

fn decode33(s: &str) -> Result<[u8; 33], String> {
    hex::decode_array(s).map_err(|e| format!("bad hex {s:?}: {e}"))
}

/// Reads the node key, or creates it (mode 0600, written to a temporary file, fsynced and
/// renamed into place so a crash never leaves half a key).
fn load_or_create_key(path: &Path) -> Result<SecretKey, SimNodeError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let corrupt = |reason: String| SimNodeError::Corrupt {
                path: path.to_owned(),
                line: 0,
                reason,
            };
            let bytes: [u8; 32] =
                hex::decode_array(text.trim()).map_err(|e| corrupt(format!("not a key: {e}")))?;
            SecretKey::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key = loop {
                let mut bytes = [0u8; 32];
                OsRng.fill_bytes(&mut bytes);
                if let Ok(k) = SecretKey::from_slice(&bytes) {
                    break k;
                }
            };
            let tmp = path.with_extension("key.tmp");
            // A leftover of a crash may have another mode; start afresh.
            let _ = fs::remove_file(&tmp);
            let mut opts = OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
            let text = format!("{}\n", hex::encode(&key.secret_bytes()));
            f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
            drop(f);
            fs::rename(&tmp, path).map_err(io_err(path))?;
            if let Some(dir) = path.parent() {
                // Make the rename durable (directories can be opened for fsync on Unix).
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(key)
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

#[cfg(test)]
mod tests;
