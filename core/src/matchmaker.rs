//! The relay matchmaker (v0 wire reference, sections 11.4, 11.5, 11.10) as a sans-IO state
//! machine: the incoming-rendezvous directory plus the forwarding relay layer, without
//! sockets, clocks, threads or heap.
//!
//! The caller owns the transport. It names every endpoint with an [`Endpoint`] (a
//! transport's [`ConnId`](crate::ConnId) or an in-process [`LocalId`](crate::LocalId)), feeds [`MatchmakerInput`]s to
//! [`Matchmaker::handle_input`] with the current [`Instant`], and then drains
//! [`Matchmaker::poll_output`] until it returns `None` before the next input. After that,
//! [`Matchmaker::poll_timeout`] tells when to feed [`MatchmakerInput::Timeout`] next.
//!
//! Behaviour:
//!
//! * Before pairing, a cleartext `REQUEST_RENDEZVOUS` registers the endpoint under its
//!   `rendezvous_id`, compared as the exact string received. The first arrival gets
//!   `NOTIFY_RENDEZVOUS_NOT_READY` referencing its `request_uuid`. When a second endpoint
//!   requests the same id, `NOTIFY_RENDEZVOUS` goes to the newcomer first, then to the older
//!   one, each referencing its own `request_uuid`.
//! * A `REQUEST_RENDEZVOUS` for an id that is already paired gets `NOTIFY_RENDEZVOUS_END`
//!   (reference `null`) and then `Close { reason: AlreadyPaired }`. The pair is not touched.
//!   **Deviation:** the Python relay closes without a usable notification (pitfall 34);
//!   every reference endpoint reacts to END while waiting by closing, so the refusal is
//!   clear to all of them, and our sessions report it as a refused rendezvous.
//! * Once paired, every frame is forwarded opaquely: [`MatchmakerOutput::Forward`] tells the
//!   caller to pass on the frame it just handed in, byte for byte. **Deviation:** the Python
//!   relay re-serialises cleartext frames and drops invalid ones (pitfall 33). This core never
//!   parses paired traffic. Peers must accept both forms anyway.
//! * When one side of a pair closes, the survivor gets `NOTIFY_RENDEZVOUS_END` (reference
//!   `null`) and then `Close { reason: PeerGone }`. After that the id is free again
//!   (reconnection, 11.10).
//! * **Refused:** the first frame of an endpoint must be a valid cleartext
//!   `REQUEST_RENDEZVOUS`. Anything else (ciphertext, JSON nested past the bound, an invalid
//!   message such as a `rendezvous_id` that is not 64 hex digits, another message) gets a
//!   `NOTIFY_ERROR` saying what was wrong (referencing the request's uuid when there is one)
//!   and `Close { reason: Invalid }`. **Deviation:** the Python relay drops such frames and
//!   leaves the connection waiting in silence; a client that sent a broken request would
//!   wait for a partner that can never come.
//! * **Dropped, not closed:** after a waiter registered, a repeated `REQUEST_RENDEZVOUS`,
//!   invalid cleartext, valid messages of other kinds, and ciphertext are all dropped and
//!   counted in [`MatchmakerStats`] ("any other message / bytes before pairing: dropped" in
//!   11.4). A waiter cannot re-register under another id.
//! * **Budgets for the unpaired (extension):** remote endpoints without a partner hold at most
//!   [`MatchmakerConfig::max_unpaired`] slots, so that waiters cannot lock out pairs that
//!   would complete. When the budget is full, a new endpoint makes room by evicting the
//!   unpaired endpoint closest to its expiry (`NOTIFY_RENDEZVOUS_END` if it had registered,
//!   then `Close { reason: Crowded }`). Endpoints opened with a [`Group`]
//!   ([`MatchmakerInput::OpenedIn`], e.g. the peer's address prefix) are also limited to
//!   [`MatchmakerConfig::max_unpaired_per_group`] unpaired endpoints per group; a newcomer
//!   beyond it is refused with `Close { reason: GroupFull }`. Paired endpoints count in
//!   neither budget.
//! * **Registration deadline (extension):** an endpoint that has not sent its
//!   `REQUEST_RENDEZVOUS` within [`MatchmakerConfig::register_timeout`] (when shorter than
//!   `unpaired_timeout`) is closed as expired.
//! * **Expiry (extension):** the reference relay never times out. Here any remote endpoint
//!   that is not paired (registered or not) is closed with [`Eviction::UnpairedExpired`] once
//!   [`MatchmakerConfig::unpaired_timeout`] has passed since it was opened, or since it
//!   registered if that was later. Use `Duration::MAX` to switch expiry off. Local endpoints
//!   (a host's listening sessions) wait as long as their session listens: they never expire.
//! * A full table refuses a new endpoint with `Close { reason: Full }`.
//!
//! Every [`MatchmakerOutput::Close`] is final for the core: the endpoint is already gone from
//! the table when the output is queued, and a later `MatchmakerInput::Closed` or frame for it
//! is ignored and counted as `unknown_conn`. The same goes for endpoints never opened.
//!
//! Timeouts: [`Matchmaker::poll_timeout`] is a plain query, the earliest expiry of an
//! unpaired endpoint (`None` when nothing can expire). Once `now` reaches it, call
//! `handle_input(MatchmakerInput::Timeout, now)`; feeding `Timeout` early or late is
//! harmless. A round that expires more endpoints than the output queue holds leaves the
//! rest due, so `poll_timeout` then returns an instant that has already passed.
//!
//! In-process endpoints: a listening terminus pairs its own provider sessions with remote
//! consumers through the same table. Name each local session [`Endpoint::Local`] with a
//! [`LocalId`](crate::LocalId) of its own (its own id space: no transport id is taken or faked), feed its
//! transmitted frames in as `MatchmakerInput::Frame(Endpoint::Local(id), ..)`, and hand the
//! frames the matchmaker sends or forwards to that endpoint to the session's `handle_input`
//! (the wire reference's "local nexus", 11.9). Local and remote endpoints pair with each
//! other, or among themselves, exactly like two connections.
//!
//! Entropy: the matchmaker holds the `RngCore + CryptoRng` it was built with. The RNG is
//! used only for the `notification_uuid` of the notifications it sends.
//!
//! Timestamps in notifications: `Instant` + [`MatchmakerConfig::unix_offset_ms`], read as
//! milliseconds since the Unix epoch.

use core::fmt::Write as _;
use core::time::Duration;

use heapless::{Deque, Vec};
use rand_core::{CryptoRng, RngCore};

use crate::conn::Endpoint;
use crate::message::{Body, Hex256, Message, MessageError, Timestamp};
use crate::time::{Instant, UnixClock};
use crate::uuid::Uuid;

/// Capacity of a frame originated by the matchmaker (a rendezvous notification is about 330
/// bytes with the longest timestamp).
pub const NOTIFY_FRAME_CAP: usize = 512;

/// The text of a refusal's `NOTIFY_ERROR` (cut short if longer).
type ErrorText = heapless::String<192>;

/// The bytes of a notification the matchmaker originates.
pub type NotifyFrame = Vec<u8, NOTIFY_FRAME_CAP>;

/// The budget group of an endpoint: endpoints in one group share
/// [`MatchmakerConfig::max_unpaired_per_group`]. The caller chooses the key; for accepted
/// connections [`Group::of_ip`] gives the peer's address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Group(pub u64);

impl Group {
    /// The group of a peer address: its /24 for IPv4 (IPv4-mapped IPv6 included), its /64
    /// for IPv6 (one subscriber usually holds a whole /64).
    pub fn of_ip(ip: core::net::IpAddr) -> Group {
        let v4 = match ip {
            core::net::IpAddr::V4(a) => Some(a),
            core::net::IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        match (v4, ip) {
            // ff00::/8 is multicast, never a TCP source: the IPv4 groups live there
            (Some(a), _) => {
                let [x, y, z, _] = a.octets();
                Group(0xff00_0000_0000_0000 | u64::from_be_bytes([0, 0, 0, 0, 0, x, y, z]))
            }
            (None, core::net::IpAddr::V6(a)) => Group((u128::from(a) >> 64) as u64),
            (None, core::net::IpAddr::V4(_)) => Group(0),
        }
    }
}

/// Something that happened on the caller's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchmakerInput<'a> {
    /// A new endpoint: a connection was accepted, or a local session starts.
    Opened(Endpoint),
    /// A new endpoint in a budget [`Group`] (an accepted connection and its address prefix).
    OpenedIn(Endpoint, Group),
    /// A complete frame (one WebSocket message) arrived from an endpoint.
    Frame(Endpoint, &'a [u8]),
    /// The endpoint was closed by the peer, the transport or the local session.
    Closed(Endpoint),
    /// The instant of [`Matchmaker::poll_timeout`] has been reached.
    Timeout,
}

/// Why the matchmaker closes an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Eviction {
    /// The rendezvous id is already held by two endpoints (`NOTIFY_RENDEZVOUS_END` was
    /// sent just before).
    AlreadyPaired,
    /// The table was full when the endpoint opened.
    Full,
    /// The endpoint stayed unpaired longer than [`MatchmakerConfig::unpaired_timeout`].
    UnpairedExpired,
    /// The peer of a pair went away. `NOTIFY_RENDEZVOUS_END` was sent just before.
    PeerGone,
    /// The first frame was not a valid `REQUEST_RENDEZVOUS` (`NOTIFY_ERROR` saying why was
    /// sent just before).
    Invalid,
    /// Evicted while unpaired to make room for a newcomer: the unpaired budget
    /// ([`MatchmakerConfig::max_unpaired`]) was full (`NOTIFY_RENDEZVOUS_END` was sent just
    /// before if it had registered).
    Crowded,
    /// Refused on opening: its [`Group`] already held
    /// [`MatchmakerConfig::max_unpaired_per_group`] unpaired endpoints.
    GroupFull,
}

/// Something the caller must do, in order.
// No heap in this crate's no_std build, so the notification frame lives inline; the queue
// is sized by `QUEUE`, which bounds the total memory anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchmakerOutput {
    /// Send `frame` (cleartext JSON) to `to`.
    Transmit {
        /// Destination endpoint.
        to: Endpoint,
        /// The frame bytes.
        frame: NotifyFrame,
    },
    /// Send the frame just given in `MatchmakerInput::Frame(from, ..)` unchanged to `to`.
    Forward {
        /// Endpoint the frame came from.
        from: Endpoint,
        /// Endpoint to forward it to.
        to: Endpoint,
    },
    /// Close `endpoint`. It has already left the table.
    Close {
        /// The endpoint to close.
        endpoint: Endpoint,
        /// Why.
        reason: Eviction,
    },
}

/// Tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchmakerConfig {
    /// How long an endpoint may stay unpaired (default 10 minutes).
    pub unpaired_timeout: Duration,
    /// Added to an `Instant` to get milliseconds since the Unix epoch for notification
    /// timestamps (default 0: the caller's `Instant` already is Unix time).
    pub unix_offset_ms: u64,
    /// How long a remote endpoint may take to send its `REQUEST_RENDEZVOUS` (default
    /// `Duration::MAX`: only `unpaired_timeout` applies).
    pub register_timeout: Duration,
    /// Most remote endpoints without a partner (registered or not); a newcomer beyond it
    /// evicts the one closest to expiry (default `usize::MAX`: no separate budget).
    pub max_unpaired: usize,
    /// Most unpaired remote endpoints per [`Group`]; a newcomer beyond it is refused
    /// (default `usize::MAX`: no limit).
    pub max_unpaired_per_group: usize,
}

impl Default for MatchmakerConfig {
    fn default() -> Self {
        MatchmakerConfig {
            unpaired_timeout: Duration::from_secs(600),
            unix_offset_ms: 0,
            register_timeout: Duration::MAX,
            max_unpaired: usize::MAX,
            max_unpaired_per_group: usize::MAX,
        }
    }
}

/// Observability counters. Events are cumulative, `waiting` / `unregistered` / `pairs` are
/// current values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MatchmakerStats {
    /// Endpoints currently open and not yet registered.
    pub unregistered: usize,
    /// Endpoints registered and waiting for a peer.
    pub waiting: usize,
    /// Pairs currently forwarding.
    pub pairs: usize,
    /// Pairs formed since creation.
    pub pairs_formed: u64,
    /// Pairs ended by a close since creation.
    pub pairs_ended: u64,
    /// Frames forwarded between peers.
    pub frames_forwarded: u64,
    /// Refusals because the rendezvous id was already paired.
    pub refused_already_paired: u64,
    /// Refusals because the table was full.
    pub refused_full: u64,
    /// Unpaired endpoints closed by expiry.
    pub expired_unpaired: u64,
    /// Endpoints refused because their first frame was not a valid `REQUEST_RENDEZVOUS`.
    pub refused_invalid: u64,
    /// Unpaired endpoints evicted to make room (the unpaired budget was full).
    pub evicted_crowded: u64,
    /// Endpoints refused because their group held its share of unpaired endpoints.
    pub refused_group_full: u64,
    /// Non-JSON (ciphertext) frames dropped before pairing.
    pub dropped_ciphertext: u64,
    /// JSON frames before pairing that are not a valid message.
    pub dropped_invalid: u64,
    /// Valid messages before pairing that are not a first `REQUEST_RENDEZVOUS`.
    pub dropped_unexpected: u64,
    /// Inputs naming an endpoint that is not in the table (or a duplicate `Opened`).
    pub unknown_conn: u64,
    /// Outputs lost because the caller did not drain the queue (should stay 0).
    pub output_overflow: u64,
    /// Notifications that failed to encode (should stay 0).
    pub encode_failures: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Unregistered,
    Waiting { rid: Hex256, request_uuid: Uuid },
    Paired { rid: Hex256, peer: u32 },
}

/// "No slot" in the index tables and deadline lists.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Conn {
    id: Endpoint,
    /// Budget group (remote endpoints opened with one).
    group: Option<Group>,
    /// Expiry deadline while unpaired.
    deadline: Instant,
    state: State,
    /// Neighbours in the deadline list of its state (unpaired connections only).
    prev: u32,
    next: u32,
}

/// Connection storage: slots addressed by index. With `alloc` it lives on the heap (a relay
/// sizes it for tens of thousands of connections); without, inline.
#[cfg(feature = "alloc")]
type Slots<const N: usize> = alloc::vec::Vec<Option<Conn>>;
#[cfg(not(feature = "alloc"))]
type Slots<const N: usize> = [Option<Conn>; N];
#[cfg(feature = "alloc")]
type Table<const N: usize> = alloc::vec::Vec<u32>;
#[cfg(not(feature = "alloc"))]
type Table<const N: usize> = [u32; N];

#[cfg(feature = "alloc")]
fn new_slots<const N: usize>() -> Slots<N> {
    (0..N).map(|_| None).collect()
}
#[cfg(not(feature = "alloc"))]
fn new_slots<const N: usize>() -> Slots<N> {
    [const { None }; N]
}
#[cfg(feature = "alloc")]
fn new_table<const N: usize>(fill: impl Fn(usize) -> u32) -> Table<N> {
    (0..N).map(fill).collect()
}
#[cfg(not(feature = "alloc"))]
fn new_table<const N: usize>(fill: impl Fn(usize) -> u32) -> Table<N> {
    core::array::from_fn(fill)
}

#[cfg(feature = "alloc")]
type Keys<const N: usize> = alloc::vec::Vec<u64>;
#[cfg(not(feature = "alloc"))]
type Keys<const N: usize> = [u64; N];
#[cfg(feature = "alloc")]
fn new_keys<const N: usize>() -> Keys<N> {
    alloc::vec![0; N]
}
#[cfg(not(feature = "alloc"))]
fn new_keys<const N: usize>() -> Keys<N> {
    [0; N]
}

/// How many unpaired remote endpoints each [`Group`] holds: records (key, count) found
/// through an [`Index`] by the keyed hash of the group; a record is freed when its count
/// drops to zero. At most one record per unpaired endpoint, so `N` records always suffice.
#[derive(Debug)]
struct Groups<const N: usize> {
    keys: Keys<N>,
    counts: Table<N>,
    free: Table<N>,
    free_len: usize,
    index: Index<N>,
}

impl<const N: usize> Groups<N> {
    fn new() -> Self {
        Groups {
            keys: new_keys::<N>(),
            counts: new_table::<N>(|_| 0),
            free: new_table::<N>(|i| (N - 1 - i) as u32),
            free_len: N,
            index: Index::new(),
        }
    }

    fn hash(key: u64, g: Group) -> u64 {
        fnv1a(key, &g.0.to_le_bytes())
    }

    fn find(&self, key: u64, g: Group) -> Option<u32> {
        let (keys, counts) = (&self.keys, &self.counts);
        self.index.find(Self::hash(key, g), |r| {
            keys.get(r as usize) == Some(&g.0) && counts.get(r as usize).is_some_and(|&c| c > 0)
        })
    }

    /// Unpaired endpoints in `g`.
    fn count(&self, key: u64, g: Group) -> usize {
        self.find(key, g)
            .and_then(|r| self.counts.get(r as usize))
            .map_or(0, |&c| c as usize)
    }

    fn inc(&mut self, key: u64, g: Group) {
        if let Some(r) = self.find(key, g) {
            if let Some(c) = self.counts.get_mut(r as usize) {
                *c = c.saturating_add(1);
            }
            return;
        }
        if self.free_len == 0 {
            return; // cannot happen: one record per unpaired endpoint at most
        }
        self.free_len -= 1;
        let r = self.free[self.free_len];
        self.keys[r as usize] = g.0;
        self.counts[r as usize] = 1;
        self.index.insert(Self::hash(key, g), r);
    }

    fn dec(&mut self, key: u64, g: Group) {
        let Some(r) = self.find(key, g) else {
            return;
        };
        let Some(c) = self.counts.get_mut(r as usize) else {
            return;
        };
        *c -= 1;
        if *c > 0 {
            return;
        }
        let keys = &self.keys;
        self.index.remove(Self::hash(key, g), r, |s| {
            Self::hash(key, Group(keys.get(s as usize).copied().unwrap_or(0)))
        });
        if self.free_len < N {
            self.free[self.free_len] = r;
            self.free_len += 1;
        }
    }
}

/// An open-addressing (linear probing) hash index of slot numbers, with backward-shift
/// deletion. Probing is bounded by the table length, so a full table degrades to a scan
/// instead of looping.
#[derive(Debug)]
struct Index<const N: usize> {
    table: Table<N>,
}

impl<const N: usize> Index<N> {
    fn new() -> Self {
        Index {
            table: new_table::<N>(|_| NIL),
        }
    }

    fn home(h: u64) -> usize {
        (h % N as u64) as usize
    }

    fn find(&self, h: u64, is: impl Fn(u32) -> bool) -> Option<u32> {
        let mut i = Self::home(h);
        for _ in 0..N {
            let s = self.table[i];
            if s == NIL {
                return None;
            }
            if is(s) {
                return Some(s);
            }
            i = (i + 1) % N;
        }
        None
    }

    fn insert(&mut self, h: u64, slot: u32) -> bool {
        let mut i = Self::home(h);
        for _ in 0..N {
            if self.table[i] == NIL {
                self.table[i] = slot;
                return true;
            }
            i = (i + 1) % N;
        }
        false
    }

    fn remove(&mut self, h: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        let mut i = Self::home(h);
        let mut found = false;
        for _ in 0..N {
            let s = self.table[i];
            if s == NIL {
                return;
            }
            if s == slot {
                found = true;
                break;
            }
            i = (i + 1) % N;
        }
        if !found {
            return;
        }
        self.table[i] = NIL;
        // Shift later members of the probe run back into the hole when their home allows.
        let mut hole = i;
        let mut j = (i + 1) % N;
        for _ in 0..N {
            let s = self.table[j];
            if s == NIL {
                return;
            }
            let k = Self::home(hash_of(s));
            let movable = if hole <= j {
                k <= hole || k > j
            } else {
                k <= hole && k > j
            };
            if movable {
                self.table[hole] = s;
                self.table[j] = NIL;
                hole = j;
            }
            j = (j + 1) % N;
        }
    }
}

/// A FIFO of slots linked through `Conn::prev/next`, in deadline order (deadlines are
/// `now + unpaired_timeout` at insertion, so appending keeps the order).
#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// Which deadline list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Unregistered,
    Waiting,
}

/// The relay matchmaker for up to `CONNS` endpoints, queueing up to `QUEUE` outputs
/// (`QUEUE >= 2` is checked at compile time). Holds the RNG `R` for notification uuids.
///
/// Every operation is O(1) on average (hash indexes by endpoint and rendezvous id,
/// intrusive deadline lists). Size `CONNS` with headroom (about twice the expected peak)
/// to keep the hash probes short. With the `alloc` feature the tables live on the heap.
#[derive(Debug)]
pub struct Matchmaker<R, const CONNS: usize, const QUEUE: usize> {
    config: MatchmakerConfig,
    rng: R,
    slots: Slots<CONNS>,
    /// Free slot numbers (a stack).
    free: Table<CONNS>,
    free_len: usize,
    by_id: Index<CONNS>,
    by_rid: Index<CONNS>,
    hash_key: u64,
    unregistered: List,
    waiting: List,
    /// Remote endpoints in the deadline lists (the unpaired ones).
    queued: usize,
    groups: Groups<CONNS>,
    out: Deque<MatchmakerOutput, QUEUE>,
    stats: MatchmakerStats,
}

/// The most outputs a single non-timeout input queues (two notifications, or END + Close).
const MAX_OUTPUTS_PER_INPUT: usize = 2;

/// The table key of an endpoint: its tag and its id, so that equal numbers in the two id
/// spaces are different keys.
fn endpoint_hash(key: u64, id: Endpoint) -> u64 {
    let (tag, n) = match id {
        Endpoint::Remote(c) => (0u8, c.0),
        Endpoint::Local(l) => (1u8, l.0),
    };
    let n = n.to_le_bytes();
    fnv1a(key, &[tag, n[0], n[1], n[2], n[3]])
}

fn fnv1a(key: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ key;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Final avalanche so that the low bits (used for the slot) depend on every byte.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The rendezvous id a frame asks for if it is what the matchmaker takes as a first frame:
/// a valid cleartext `REQUEST_RENDEZVOUS` with a request uuid. A relay with several event
/// loops routes a new connection by it, so that both ends of a pair meet on the loop that
/// owns the id; anything else gets `None` (and is refused by whichever matchmaker sees it).
pub fn requested_rendezvous(bytes: &[u8]) -> Option<Hex256> {
    let msg = Message::parse(bytes).ok()?;
    msg.request_uuid()?;
    match msg.body() {
        Body::RequestRendezvous { rendezvous_id } => Some(rendezvous_id.clone()),
        _ => None,
    }
}

impl<R: RngCore + CryptoRng, const CONNS: usize, const QUEUE: usize> Matchmaker<R, CONNS, QUEUE> {
    const SIZES_OK: () = {
        assert!(
            QUEUE >= MAX_OUTPUTS_PER_INPUT,
            "Matchmaker QUEUE must be at least 2"
        );
        assert!(
            CONNS > 0 && CONNS < NIL as usize,
            "Matchmaker CONNS must be in 1..u32::MAX"
        );
    };

    /// A matchmaker with an empty table.
    pub fn new(config: MatchmakerConfig, mut rng: R) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZES_OK;
        // Keyed hashing: peers choose rendezvous ids, so they must not choose collisions.
        let hash_key = rng.next_u64();
        Matchmaker {
            config,
            rng,
            slots: new_slots::<CONNS>(),
            // Popped from the end: slot 0 is used first.
            free: new_table::<CONNS>(|i| (CONNS - 1 - i) as u32),
            free_len: CONNS,
            by_id: Index::new(),
            by_rid: Index::new(),
            hash_key,
            unregistered: List::EMPTY,
            waiting: List::EMPTY,
            queued: 0,
            groups: Groups::new(),
            out: Deque::new(),
            stats: MatchmakerStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MatchmakerConfig {
        &self.config
    }

    /// Current counters.
    pub fn stats(&self) -> MatchmakerStats {
        self.stats
    }

    /// Number of endpoints in the table.
    pub fn len(&self) -> usize {
        CONNS - self.free_len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of queued outputs.
    pub fn pending_outputs(&self) -> usize {
        self.out.len()
    }

    /// The peer of a paired endpoint.
    pub fn peer(&self, endpoint: Endpoint) -> Option<Endpoint> {
        match &self.conn(self.slot_of(endpoint)?)?.state {
            State::Paired { peer, .. } => self.conn(*peer).map(|p| p.id),
            _ => None,
        }
    }

    /// The `NOTIFY_RENDEZVOUS_END` frame for a paired endpoint, for a caller that shuts
    /// down and closes every endpoint itself (nothing is queued and the table is not
    /// changed; feed `MatchmakerInput::Closed` afterwards, or drop the matchmaker).
    pub fn end_frame(&mut self, endpoint: Endpoint, now: Instant) -> Option<NotifyFrame> {
        let rid = match &self.conn(self.slot_of(endpoint)?)?.state {
            State::Paired { rid, .. } => rid.clone(),
            _ => return None,
        };
        let u = Uuid::new_v4(&mut self.rng);
        let mut frame = NotifyFrame::new();
        Message::notify_rendezvous_end(u, self.timestamp(now), rid)
            .write_json(&mut frame)
            .ok()?;
        Some(frame)
    }

    /// Processes one input at time `now`. Drain [`Matchmaker::poll_output`] afterwards.
    pub fn handle_input(&mut self, input: MatchmakerInput<'_>, now: Instant) {
        match input {
            MatchmakerInput::Opened(id) => self.on_opened(id, None, now),
            MatchmakerInput::OpenedIn(id, group) => self.on_opened(id, Some(group), now),
            MatchmakerInput::Frame(id, bytes) => self.on_frame(id, bytes, now),
            MatchmakerInput::Closed(id) => self.on_closed(id, now),
            MatchmakerInput::Timeout => self.on_timeout(now),
        }
    }

    /// The next thing to do, oldest first.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<MatchmakerOutput> {
        self.out.pop_front()
    }

    /// When to call `handle_input(MatchmakerInput::Timeout, now)` next: the earliest expiry
    /// of an unpaired endpoint, `None` when nothing can expire. A plain query (nothing is
    /// queued or changed); ask again after every input. It may already have passed (a
    /// timeout round that filled the output queue leaves the rest due).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.earliest().map(|(_, d)| d)
    }

    fn push(&mut self, o: MatchmakerOutput) {
        if self.out.push_back(o).is_err() {
            self.stats.output_overflow += 1;
        }
    }

    fn id_hash(&self, id: Endpoint) -> u64 {
        endpoint_hash(self.hash_key, id)
    }

    fn rid_hash(&self, rid: &Hex256) -> u64 {
        fnv1a(self.hash_key, rid.as_str().as_bytes())
    }

    fn conn(&self, slot: u32) -> Option<&Conn> {
        self.slots.get(slot as usize)?.as_ref()
    }

    fn conn_mut(&mut self, slot: u32) -> Option<&mut Conn> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    fn slot_of(&self, id: Endpoint) -> Option<u32> {
        let slots = &self.slots;
        self.by_id.find(
            self.id_hash(id),
            |s| matches!(slots.get(s as usize), Some(Some(c)) if c.id == id),
        )
    }

    fn list(&mut self, which: Which) -> &mut List {
        match which {
            Which::Unregistered => &mut self.unregistered,
            Which::Waiting => &mut self.waiting,
        }
    }

    /// Local endpoints never expire: they are kept out of the deadline lists.
    fn expires(&self, slot: u32) -> bool {
        self.conn(slot)
            .is_some_and(|c| matches!(c.id, Endpoint::Remote(_)))
    }

    fn link_tail(&mut self, which: Which, slot: u32) {
        if !self.expires(slot) {
            return;
        }
        self.queued += 1;
        if let Some(g) = self.conn(slot).and_then(|c| c.group) {
            self.groups.inc(self.hash_key, g);
        }
        let tail = self.list(which).tail;
        if let Some(c) = self.conn_mut(slot) {
            c.prev = tail;
            c.next = NIL;
        }
        match self.conn_mut(tail) {
            Some(t) => t.next = slot,
            None => self.list(which).head = slot,
        }
        self.list(which).tail = slot;
    }

    fn unlink(&mut self, which: Which, slot: u32) {
        if !self.expires(slot) {
            return;
        }
        let Some((prev, next, group)) = self.conn(slot).map(|c| (c.prev, c.next, c.group)) else {
            return;
        };
        self.queued = self.queued.saturating_sub(1);
        if let Some(g) = group {
            self.groups.dec(self.hash_key, g);
        }
        match self.conn_mut(prev) {
            Some(p) => p.next = next,
            None => self.list(which).head = next,
        }
        match self.conn_mut(next) {
            Some(n) => n.prev = prev,
            None => self.list(which).tail = prev,
        }
        if let Some(c) = self.conn_mut(slot) {
            c.prev = NIL;
            c.next = NIL;
        }
    }

    /// Takes a connection out of every structure and frees its slot.
    fn remove(&mut self, slot: u32) -> Option<Conn> {
        let (id, state) = {
            let c = self.conn(slot)?;
            (c.id, c.state.clone())
        };
        match &state {
            State::Unregistered => {
                self.unlink(Which::Unregistered, slot);
                self.stats.unregistered = self.stats.unregistered.saturating_sub(1);
            }
            State::Waiting { rid, .. } => {
                self.unlink(Which::Waiting, slot);
                let h = self.rid_hash(rid);
                self.remove_rid(h, slot);
                self.stats.waiting = self.stats.waiting.saturating_sub(1);
            }
            State::Paired { rid, peer } => {
                // The index entry names one side of the pair; drop it with either side.
                let h = self.rid_hash(rid);
                let peer = *peer;
                if let Some(e) = self.by_rid.find(h, |s| s == slot || s == peer) {
                    self.remove_rid(h, e);
                }
            }
        }
        let h = self.id_hash(id);
        let key = self.hash_key;
        let slots = &self.slots;
        self.by_id.remove(h, slot, |s| match slots.get(s as usize) {
            Some(Some(c)) => endpoint_hash(key, c.id),
            _ => 0,
        });
        let conn = self.slots.get_mut(slot as usize)?.take();
        if self.free_len < CONNS {
            self.free[self.free_len] = slot;
            self.free_len += 1;
        }
        conn
    }

    fn remove_rid(&mut self, h: u64, slot: u32) {
        let key = self.hash_key;
        let slots = &self.slots;
        self.by_rid
            .remove(h, slot, |s| match slots.get(s as usize) {
                Some(Some(Conn {
                    state: State::Waiting { rid, .. } | State::Paired { rid, .. },
                    ..
                })) => fnv1a(key, rid.as_str().as_bytes()),
                _ => 0,
            });
    }

    fn on_opened(&mut self, id: Endpoint, group: Option<Group>, now: Instant) {
        if self.slot_of(id).is_some() {
            self.stats.unknown_conn += 1;
            return;
        }
        if self.free_len == 0 {
            self.stats.refused_full += 1;
            self.push(MatchmakerOutput::Close {
                endpoint: id,
                reason: Eviction::Full,
            });
            return;
        }
        let remote = matches!(id, Endpoint::Remote(_));
        let group = group.filter(|_| remote);
        if let Some(g) = group {
            if self.groups.count(self.hash_key, g) >= self.config.max_unpaired_per_group {
                self.stats.refused_group_full += 1;
                self.push(MatchmakerOutput::Close {
                    endpoint: id,
                    reason: Eviction::GroupFull,
                });
                return;
            }
        }
        if remote && self.queued >= self.config.max_unpaired {
            self.evict_crowded(now);
        }
        self.free_len -= 1;
        let slot = self.free[self.free_len];
        let wait = self
            .config
            .register_timeout
            .min(self.config.unpaired_timeout);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(Conn {
                id,
                group,
                deadline: now.saturating_add(wait),
                state: State::Unregistered,
                prev: NIL,
                next: NIL,
            });
        }
        let h = self.id_hash(id);
        self.by_id.insert(h, slot);
        self.link_tail(Which::Unregistered, slot);
        self.stats.unregistered += 1;
    }

    /// Makes room in the unpaired budget: the unpaired endpoint closest to its expiry goes
    /// (with END if it had registered). Queues at most two outputs.
    fn evict_crowded(&mut self, now: Instant) {
        let Some((slot, _)) = self.earliest() else {
            return;
        };
        let Some(gone) = self.remove(slot) else {
            return;
        };
        self.stats.evicted_crowded += 1;
        if let State::Waiting { rid, .. } = gone.state {
            let u = Uuid::new_v4(&mut self.rng);
            let end = Message::notify_rendezvous_end(u, self.timestamp(now), rid);
            self.transmit(gone.id, &end);
        }
        self.push(MatchmakerOutput::Close {
            endpoint: gone.id,
            reason: Eviction::Crowded,
        });
    }

    fn on_frame(&mut self, id: Endpoint, bytes: &[u8], now: Instant) {
        let Some(slot) = self.slot_of(id) else {
            self.stats.unknown_conn += 1;
            return;
        };
        let Some(conn) = self.conn(slot) else {
            return;
        };
        match &conn.state {
            State::Paired { peer, .. } => {
                let Some(to) = self.conn(*peer).map(|p| p.id) else {
                    return;
                };
                self.stats.frames_forwarded += 1;
                self.push(MatchmakerOutput::Forward { from: id, to });
            }
            State::Waiting { .. } => {
                // Only classify for the counters; nothing is accepted from a waiter.
                self.classify_drop(bytes);
            }
            State::Unregistered => match Message::parse(bytes) {
                Ok(msg) => match (msg.body(), msg.request_uuid()) {
                    (Body::RequestRendezvous { rendezvous_id }, Some(request_uuid)) => {
                        let rid = rendezvous_id.clone();
                        self.register(slot, rid, request_uuid, now);
                    }
                    _ => {
                        self.stats.dropped_unexpected += 1;
                        let mut why = ErrorText::new();
                        let _ =
                            write!(why, "expected REQUEST_RENDEZVOUS first, got {}", msg.kind());
                        self.refuse_invalid(slot, msg.request_uuid(), &why, now);
                    }
                },
                Err(MessageError::Json(e)) => {
                    self.stats.dropped_ciphertext += 1;
                    let mut why = ErrorText::new();
                    let _ = write!(
                        why,
                        "expected a cleartext REQUEST_RENDEZVOUS first: not JSON ({e})"
                    );
                    self.refuse_invalid(slot, None, &why, now);
                }
                Err(e) => {
                    self.stats.dropped_invalid += 1;
                    let mut why = ErrorText::new();
                    let _ = write!(why, "invalid REQUEST_RENDEZVOUS: {e}");
                    self.refuse_invalid(slot, None, &why, now);
                }
            },
        }
    }

    /// Refuses an endpoint whose first frame is not a valid `REQUEST_RENDEZVOUS`:
    /// `NOTIFY_ERROR` with `why`, then `Close { reason: Invalid }`.
    fn refuse_invalid(&mut self, slot: u32, reference: Option<Uuid>, why: &str, now: Instant) {
        let Some(gone) = self.remove(slot) else {
            return;
        };
        self.stats.refused_invalid += 1;
        let u = Uuid::new_v4(&mut self.rng);
        let err = Message::notify_error(u, reference, self.timestamp(now), why);
        self.transmit(gone.id, &err);
        self.push(MatchmakerOutput::Close {
            endpoint: gone.id,
            reason: Eviction::Invalid,
        });
    }

    fn classify_drop(&mut self, bytes: &[u8]) {
        if !crate::json::parses_as_json(bytes) {
            self.stats.dropped_ciphertext += 1;
        } else if Message::parse(bytes).is_err() {
            self.stats.dropped_invalid += 1;
        } else {
            self.stats.dropped_unexpected += 1;
        }
    }

    fn register(&mut self, slot: u32, rid: Hex256, request_uuid: Uuid, now: Instant) {
        let Some(newcomer) = self.conn(slot).map(|c| c.id) else {
            return;
        };
        let h = self.rid_hash(&rid);
        let slots = &self.slots;
        let holder = self.by_rid.find(h, |s| {
            matches!(slots.get(s as usize), Some(Some(Conn {
                state: State::Waiting { rid: r, .. } | State::Paired { rid: r, .. },
                ..
            })) if *r == rid)
        });
        let holder_state = holder
            .and_then(|s| self.conn(s))
            .map(|c| (c.id, c.state.clone()));
        match (holder, holder_state) {
            (Some(_), Some((_, State::Paired { .. }))) => {
                self.remove(slot);
                self.stats.refused_already_paired += 1;
                let u = Uuid::new_v4(&mut self.rng);
                let end = Message::notify_rendezvous_end(u, self.timestamp(now), rid);
                self.transmit(newcomer, &end);
                self.push(MatchmakerOutput::Close {
                    endpoint: newcomer,
                    reason: Eviction::AlreadyPaired,
                });
            }
            (
                Some(older_slot),
                Some((
                    older,
                    State::Waiting {
                        request_uuid: older_uuid,
                        ..
                    },
                )),
            ) => {
                self.unlink(Which::Unregistered, slot);
                self.unlink(Which::Waiting, older_slot);
                if let Some(c) = self.conn_mut(slot) {
                    c.state = State::Paired {
                        rid: rid.clone(),
                        peer: older_slot,
                    };
                }
                if let Some(c) = self.conn_mut(older_slot) {
                    c.state = State::Paired {
                        rid: rid.clone(),
                        peer: slot,
                    };
                }
                self.stats.unregistered = self.stats.unregistered.saturating_sub(1);
                self.stats.waiting = self.stats.waiting.saturating_sub(1);
                self.stats.pairs += 1;
                self.stats.pairs_formed += 1;
                let ts = self.timestamp(now);
                let u1 = Uuid::new_v4(&mut self.rng);
                self.transmit(
                    newcomer,
                    &Message::notify_rendezvous(u1, Some(request_uuid), ts, rid.clone()),
                );
                let u2 = Uuid::new_v4(&mut self.rng);
                self.transmit(
                    older,
                    &Message::notify_rendezvous(u2, Some(older_uuid), ts, rid),
                );
            }
            _ => {
                self.unlink(Which::Unregistered, slot);
                let deadline = now.saturating_add(self.config.unpaired_timeout);
                if let Some(c) = self.conn_mut(slot) {
                    c.deadline = c.deadline.max(deadline);
                    c.state = State::Waiting {
                        rid: rid.clone(),
                        request_uuid,
                    };
                }
                self.by_rid.insert(h, slot);
                self.link_tail(Which::Waiting, slot);
                self.stats.unregistered = self.stats.unregistered.saturating_sub(1);
                self.stats.waiting += 1;
                let ts = self.timestamp(now);
                let u = Uuid::new_v4(&mut self.rng);
                self.transmit(
                    newcomer,
                    &Message::notify_rendezvous_not_ready(u, Some(request_uuid), ts, rid),
                );
            }
        }
    }

    fn timestamp(&self, now: Instant) -> Timestamp<'static> {
        Timestamp::at(UnixClock::from_offset_ms(self.config.unix_offset_ms), now)
    }

    fn transmit(&mut self, to: Endpoint, msg: &Message<'_>) {
        let mut frame = NotifyFrame::new();
        if msg.write_json(&mut frame).is_err() {
            self.stats.encode_failures += 1;
            return;
        }
        self.push(MatchmakerOutput::Transmit { to, frame });
    }

    fn on_closed(&mut self, id: Endpoint, now: Instant) {
        let Some(slot) = self.slot_of(id) else {
            self.stats.unknown_conn += 1;
            return;
        };
        let Some(gone) = self.remove(slot) else {
            return;
        };
        if let State::Paired { rid, peer } = gone.state {
            self.stats.pairs = self.stats.pairs.saturating_sub(1);
            self.stats.pairs_ended += 1;
            let Some(peer) = self.remove(peer) else {
                return;
            };
            let ts = self.timestamp(now);
            let u = Uuid::new_v4(&mut self.rng);
            self.transmit(peer.id, &Message::notify_rendezvous_end(u, ts, rid));
            self.push(MatchmakerOutput::Close {
                endpoint: peer.id,
                reason: Eviction::PeerGone,
            });
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        // Expire as many as the queue holds; anything left over stays due, and
        // `poll_timeout` reports a deadline that has already passed.
        let mut room = QUEUE.saturating_sub(self.out.len());
        while room > 0 {
            let Some(slot) = self.earliest().filter(|&(_, d)| d <= now).map(|(s, _)| s) else {
                break;
            };
            let Some(gone) = self.remove(slot) else {
                break;
            };
            self.stats.expired_unpaired += 1;
            self.push(MatchmakerOutput::Close {
                endpoint: gone.id,
                reason: Eviction::UnpairedExpired,
            });
            room -= 1;
        }
    }

    /// The unpaired endpoint with the earliest deadline.
    fn earliest(&self) -> Option<(u32, Instant)> {
        let a = self
            .conn(self.unregistered.head)
            .map(|c| (self.unregistered.head, c.deadline));
        let b = self
            .conn(self.waiting.head)
            .map(|c| (self.waiting.head, c.deadline));
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.1 < a.1 { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::conn::{ConnId, LocalId};
    use crate::message::MessageKind;
    use proptest::prelude::*;
    use rand_core::{CryptoRng, RngCore};
    use std::string::String as StdString;
    use std::vec::Vec as StdVec;

    /// Deterministic test RNG (xorshift64*); not cryptographic, tests only.
    struct TestRng(u64);
    impl RngCore for TestRng {
        fn next_u32(&mut self) -> u32 {
            (self.next_u64() >> 32) as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
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

    type Mm = Matchmaker<TestRng, 4, 8>;

    const RID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const RID2: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn mm() -> Mm {
        Matchmaker::new(
            MatchmakerConfig {
                unpaired_timeout: Duration::from_secs(60),
                unix_offset_ms: 1_600_000_000_000,
                ..MatchmakerConfig::default()
            },
            TestRng(0x1234_5678),
        )
    }

    fn uuid(n: u8) -> Uuid {
        Uuid::v4_from_bytes([n; 16])
    }

    fn request(n: u8, rid: &str) -> StdVec<u8> {
        let rid = Hex256::parse(rid).unwrap();
        Message::request_rendezvous(uuid(n), Timestamp::from_secs(1_600_000_000), rid)
            .to_json_string()
            .into_bytes()
    }

    fn feed(m: &mut Mm, input: MatchmakerInput<'_>, now: u64) -> StdVec<MatchmakerOutput> {
        m.handle_input(input, Instant(now));
        let mut v = StdVec::new();
        while let Some(o) = m.poll_output() {
            v.push(o);
        }
        assert!(v.len() <= 8);
        v
    }

    /// `feed` for a matchmaker of any size.
    fn feed_any<const C: usize, const Q: usize>(
        m: &mut Matchmaker<TestRng, C, Q>,
        input: MatchmakerInput<'_>,
        now: u64,
    ) -> StdVec<MatchmakerOutput> {
        m.handle_input(input, Instant(now));
        core::iter::from_fn(|| m.poll_output()).collect()
    }

    /// Asserts a Transmit to `to` of `kind` referencing `reference`, for `rid`.
    fn check_notify(
        o: &MatchmakerOutput,
        to: Endpoint,
        kind: MessageKind,
        reference: Option<Uuid>,
        rid: &str,
    ) {
        let MatchmakerOutput::Transmit { to: got_to, frame } = o else {
            panic!("expected transmit, got {o:?}");
        };
        assert_eq!(*got_to, to);
        let msg = Message::parse(frame).unwrap();
        assert_eq!(msg.kind(), kind);
        assert_eq!(msg.reference_uuid(), reference);
        let got = match msg.body() {
            Body::NotifyRendezvous { rendezvous_id }
            | Body::NotifyRendezvousNotReady { rendezvous_id }
            | Body::NotifyRendezvousEnd { rendezvous_id } => rendezvous_id.as_str(),
            _ => panic!("not a rendezvous notification"),
        };
        assert_eq!(got, rid);
    }

    fn rem(n: u32) -> Endpoint {
        Endpoint::Remote(ConnId(n))
    }

    fn loc(n: u32) -> Endpoint {
        Endpoint::Local(LocalId(n))
    }

    fn pair(m: &mut Mm, a: u32, b: u32, rid: &str) {
        feed(m, MatchmakerInput::Opened(rem(a)), 0);
        feed(m, MatchmakerInput::Opened(rem(b)), 0);
        feed(m, MatchmakerInput::Frame(rem(a), &request(a as u8, rid)), 0);
        feed(m, MatchmakerInput::Frame(rem(b), &request(b as u8, rid)), 0);
    }

    #[test]
    fn not_ready_then_rendezvous_in_order() {
        let mut m = mm();
        assert!(feed(&mut m, MatchmakerInput::Opened(rem(1)), 0).is_empty());
        let o = feed(&mut m, MatchmakerInput::Frame(rem(1), &request(1, RID)), 10);
        assert_eq!(o.len(), 1);
        check_notify(
            &o[0],
            rem(1),
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(1)),
            RID,
        );
        assert_eq!(m.stats().waiting, 1);

        feed(&mut m, MatchmakerInput::Opened(rem(2)), 20);
        let o = feed(&mut m, MatchmakerInput::Frame(rem(2), &request(2, RID)), 30);
        assert_eq!(o.len(), 2);
        // newcomer first, then the older one, each with its own reference
        check_notify(
            &o[0],
            rem(2),
            MessageKind::NotifyRendezvous,
            Some(uuid(2)),
            RID,
        );
        check_notify(
            &o[1],
            rem(1),
            MessageKind::NotifyRendezvous,
            Some(uuid(1)),
            RID,
        );
        let s = m.stats();
        assert_eq!((s.pairs, s.waiting, s.pairs_formed), (1, 0, 1));

        // notifications are clear JSON with a 1.6e9-ish timestamp
        let MatchmakerOutput::Transmit { frame, .. } = &o[0] else {
            unreachable!()
        };
        let msg = Message::parse(frame).unwrap();
        assert_eq!(msg.timestamp().whole_seconds(), Some(1_600_000_000));
        assert_ne!(msg.notification_uuid(), None);
    }

    #[test]
    fn paired_frames_forward_opaquely() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        let o = feed(
            &mut m,
            MatchmakerInput::Frame(rem(1), &[0xde, 0xad, 0xbe, 0xef]),
            40,
        );
        assert_eq!(
            o,
            [MatchmakerOutput::Forward {
                from: rem(1),
                to: rem(2)
            }]
        );
        // even a cleartext REQUEST_RENDEZVOUS is forwarded once paired
        let o = feed(&mut m, MatchmakerInput::Frame(rem(2), &request(9, RID)), 41);
        assert_eq!(
            o,
            [MatchmakerOutput::Forward {
                from: rem(2),
                to: rem(1)
            }]
        );
        assert_eq!(m.stats().frames_forwarded, 2);
    }

    #[test]
    fn end_to_survivor_then_close() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        let o = feed(&mut m, MatchmakerInput::Closed(rem(1)), 50);
        assert_eq!(o.len(), 2);
        check_notify(&o[0], rem(2), MessageKind::NotifyRendezvousEnd, None, RID);
        assert_eq!(
            o[1],
            MatchmakerOutput::Close {
                endpoint: rem(2),
                reason: Eviction::PeerGone
            }
        );
        assert!(m.is_empty());
        assert_eq!(m.stats().pairs_ended, 1);
        // the survivor's own close notification later is harmless
        assert!(feed(&mut m, MatchmakerInput::Closed(rem(2)), 51).is_empty());
        assert!(feed(&mut m, MatchmakerInput::Frame(rem(2), b"x"), 51).is_empty());
    }

    #[test]
    fn third_party_refused_pair_keeps_forwarding() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        feed(&mut m, MatchmakerInput::Opened(rem(3)), 60);
        let o = feed(&mut m, MatchmakerInput::Frame(rem(3), &request(3, RID)), 61);
        assert_eq!(o.len(), 2);
        check_notify(&o[0], rem(3), MessageKind::NotifyRendezvousEnd, None, RID);
        assert_eq!(
            o[1],
            MatchmakerOutput::Close {
                endpoint: rem(3),
                reason: Eviction::AlreadyPaired
            }
        );
        assert_eq!(m.stats().refused_already_paired, 1);
        let o = feed(&mut m, MatchmakerInput::Frame(rem(2), b"ciphertext"), 62);
        assert_eq!(
            o,
            [MatchmakerOutput::Forward {
                from: rem(2),
                to: rem(1)
            }]
        );
        assert_eq!(m.stats().pairs, 1);
    }

    #[test]
    fn unpaired_expiry_via_timeout() {
        let mut m = mm();
        assert!(feed(&mut m, MatchmakerInput::Opened(rem(1)), 1_000).is_empty());
        assert_eq!(m.poll_timeout(), Some(Instant(61_000)));
        // registering later pushes the deadline out
        let o = feed(
            &mut m,
            MatchmakerInput::Frame(rem(1), &request(1, RID)),
            5_000,
        );
        assert_eq!(o.len(), 1);
        assert_eq!(m.poll_timeout(), Some(Instant(65_000)));
        // early timeout: nothing expires, the deadline stays
        assert!(feed(&mut m, MatchmakerInput::Timeout, 30_000).is_empty());
        assert_eq!(m.poll_timeout(), Some(Instant(65_000)));
        let o = feed(&mut m, MatchmakerInput::Timeout, 65_000);
        assert_eq!(
            o,
            [MatchmakerOutput::Close {
                endpoint: rem(1),
                reason: Eviction::UnpairedExpired
            }]
        );
        assert!(m.is_empty());
        assert_eq!(m.poll_timeout(), None);
        assert_eq!(m.stats().expired_unpaired, 1);
        // id is free: a new pair forms normally
        pair(&mut m, 4, 5, RID);
        assert_eq!(m.stats().pairs, 1);
    }

    #[test]
    fn poll_timeout_is_the_earliest_unpaired_deadline() {
        let mut m = mm();
        assert_eq!(m.poll_timeout(), None);
        // a waiter registered at 1 s (deadline 61 s), an unregistered one opened at 2 s
        // (deadline 62 s): the earlier of the two lists' heads wins, whichever list
        feed(&mut m, MatchmakerInput::Opened(rem(1)), 0);
        feed(
            &mut m,
            MatchmakerInput::Frame(rem(1), &request(1, RID)),
            1_000,
        );
        feed(&mut m, MatchmakerInput::Opened(rem(9)), 2_000);
        assert_eq!(m.poll_timeout(), Some(Instant(61_000)));
        // a plain query: asking twice changes nothing and queues nothing
        assert_eq!(m.poll_timeout(), Some(Instant(61_000)));
        assert_eq!(m.pending_outputs(), 0);
        // the waiter leaves: the unregistered one is next
        feed(&mut m, MatchmakerInput::Closed(rem(1)), 3_000);
        assert_eq!(m.poll_timeout(), Some(Instant(62_000)));
        // paired endpoints never expire
        feed(&mut m, MatchmakerInput::Opened(rem(2)), 3_000);
        feed(
            &mut m,
            MatchmakerInput::Frame(rem(9), &request(3, RID2)),
            4_000,
        );
        assert_eq!(m.poll_timeout(), Some(Instant(63_000)));
        feed(
            &mut m,
            MatchmakerInput::Frame(rem(2), &request(4, RID2)),
            5_000,
        );
        assert_eq!(m.stats().pairs, 1);
        assert_eq!(m.poll_timeout(), None);
        // switched off: Duration::MAX saturates to a deadline that is never reached early
        let mut m: Mm = Matchmaker::new(
            MatchmakerConfig {
                unpaired_timeout: Duration::MAX,
                unix_offset_ms: 0,
                ..MatchmakerConfig::default()
            },
            TestRng(5),
        );
        feed(&mut m, MatchmakerInput::Opened(rem(1)), 7);
        assert_eq!(m.poll_timeout(), Some(Instant(u64::MAX)));
    }

    #[test]
    fn paired_connections_never_expire() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        assert_eq!(m.poll_timeout(), None);
        assert!(feed(&mut m, MatchmakerInput::Timeout, u64::MAX).is_empty());
        assert_eq!(m.stats().pairs, 1);
    }

    /// A host's listening session waits in the table as long as it listens: only remote
    /// endpoints expire (10,000 listening sessions used to be closed and rejoined every 600 s).
    #[test]
    fn local_endpoints_never_expire() {
        let mut m = mm();
        feed(&mut m, MatchmakerInput::Opened(loc(1)), 0);
        feed(&mut m, MatchmakerInput::Frame(loc(1), &request(1, RID)), 0);
        feed(&mut m, MatchmakerInput::Opened(loc(2)), 0);
        feed(&mut m, MatchmakerInput::Opened(rem(3)), 0);
        feed(&mut m, MatchmakerInput::Frame(rem(3), &request(3, RID2)), 0);
        let out = feed(&mut m, MatchmakerInput::Timeout, 120_000);
        assert_eq!(
            out,
            [MatchmakerOutput::Close {
                endpoint: rem(3),
                reason: Eviction::UnpairedExpired
            }]
        );
        assert_eq!(m.poll_timeout(), None);
        assert_eq!(m.stats().waiting, 1);
        assert_eq!(m.stats().unregistered, 1);
        // They still pair and leave normally.
        feed(&mut m, MatchmakerInput::Opened(rem(4)), 120_001);
        feed(
            &mut m,
            MatchmakerInput::Frame(rem(4), &request(4, RID)),
            120_001,
        );
        assert_eq!(m.peer(loc(1)), Some(rem(4)));
        feed(&mut m, MatchmakerInput::Closed(loc(2)), 120_002);
        assert_eq!(m.stats().unregistered, 0);
    }

    #[test]
    fn local_endpoint_pairs_with_remote_and_forwards_both_ways() {
        let mut m = mm();
        // the same number in both id spaces names two different endpoints
        let (local, remote) = (loc(5), rem(5));
        feed(&mut m, MatchmakerInput::Opened(local), 0);
        feed(&mut m, MatchmakerInput::Opened(remote), 0);
        assert_eq!(m.len(), 2);
        let o = feed(&mut m, MatchmakerInput::Frame(local, &request(1, RID)), 1);
        check_notify(
            &o[0],
            local,
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(1)),
            RID,
        );
        let o = feed(&mut m, MatchmakerInput::Frame(remote, &request(2, RID)), 2);
        assert_eq!(o.len(), 2);
        check_notify(
            &o[0],
            remote,
            MessageKind::NotifyRendezvous,
            Some(uuid(2)),
            RID,
        );
        check_notify(
            &o[1],
            local,
            MessageKind::NotifyRendezvous,
            Some(uuid(1)),
            RID,
        );
        assert_eq!(m.peer(local), Some(remote));
        assert_eq!(m.peer(remote), Some(local));
        assert_eq!(
            feed(&mut m, MatchmakerInput::Frame(local, b"to remote"), 3),
            [MatchmakerOutput::Forward {
                from: local,
                to: remote
            }]
        );
        assert_eq!(
            feed(&mut m, MatchmakerInput::Frame(remote, b"to local"), 4),
            [MatchmakerOutput::Forward {
                from: remote,
                to: local
            }]
        );
        assert_eq!(m.stats().frames_forwarded, 2);
        assert!(m.end_frame(local, Instant(5)).is_some());
        // the local session goes away: the remote one gets END and is closed
        let o = feed(&mut m, MatchmakerInput::Closed(local), 6);
        assert_eq!(o.len(), 2);
        check_notify(&o[0], remote, MessageKind::NotifyRendezvousEnd, None, RID);
        assert_eq!(
            o[1],
            MatchmakerOutput::Close {
                endpoint: remote,
                reason: Eviction::PeerGone
            }
        );
        assert!(m.is_empty());
        // two local endpoints pair with each other too
        feed(&mut m, MatchmakerInput::Opened(loc(1)), 7);
        feed(&mut m, MatchmakerInput::Opened(loc(2)), 7);
        feed(&mut m, MatchmakerInput::Frame(loc(1), &request(1, RID2)), 7);
        feed(&mut m, MatchmakerInput::Frame(loc(2), &request(2, RID2)), 7);
        assert_eq!(m.peer(loc(1)), Some(loc(2)));
    }

    #[test]
    fn reconnect_with_same_id() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        feed(&mut m, MatchmakerInput::Closed(rem(2)), 10);
        feed(&mut m, MatchmakerInput::Opened(rem(1)), 20); // caller reuses ids
        feed(&mut m, MatchmakerInput::Opened(rem(7)), 20);
        let o = feed(&mut m, MatchmakerInput::Frame(rem(7), &request(7, RID)), 21);
        check_notify(
            &o[0],
            rem(7),
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(7)),
            RID,
        );
        let o = feed(
            &mut m,
            MatchmakerInput::Frame(rem(1), &request(11, RID)),
            22,
        );
        check_notify(
            &o[0],
            rem(1),
            MessageKind::NotifyRendezvous,
            Some(uuid(11)),
            RID,
        );
        check_notify(
            &o[1],
            rem(7),
            MessageKind::NotifyRendezvous,
            Some(uuid(7)),
            RID,
        );
        assert_eq!(m.stats().pairs_formed, 2);
    }

    #[test]
    fn table_full_refuses() {
        let mut m = mm();
        for i in 0..4 {
            feed(&mut m, MatchmakerInput::Opened(rem(i)), 0);
        }
        let o = feed(&mut m, MatchmakerInput::Opened(rem(9)), 0);
        assert_eq!(
            o,
            [MatchmakerOutput::Close {
                endpoint: rem(9),
                reason: Eviction::Full
            }]
        );
        assert_eq!(m.stats().refused_full, 1);
        assert_eq!(m.len(), 4);
        // closing one frees a slot
        feed(&mut m, MatchmakerInput::Closed(rem(0)), 1);
        assert!(feed(&mut m, MatchmakerInput::Opened(rem(9)), 1).is_empty());
    }

    #[test]
    fn case_and_ids_are_exact_strings() {
        let mut m = mm();
        let upper = RID.to_ascii_uppercase();
        pair(&mut m, 1, 2, RID2);
        feed(&mut m, MatchmakerInput::Opened(rem(3)), 0);
        feed(&mut m, MatchmakerInput::Opened(rem(4)), 0);
        feed(&mut m, MatchmakerInput::Frame(rem(3), &request(3, RID)), 0);
        let o = feed(
            &mut m,
            MatchmakerInput::Frame(rem(4), &request(4, &upper)),
            0,
        );
        check_notify(
            &o[0],
            rem(4),
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(4)),
            &upper,
        );
        assert_eq!(m.stats().waiting, 2);
    }

    /// Expects `NOTIFY_ERROR` (referencing `reference`, its text containing `why`) and then
    /// `Close { reason: Invalid }` for `to`.
    fn check_refused(o: &[MatchmakerOutput], to: Endpoint, reference: Option<Uuid>, why: &str) {
        assert_eq!(o.len(), 2, "{o:?}");
        let MatchmakerOutput::Transmit { to: got_to, frame } = &o[0] else {
            panic!("expected transmit, got {o:?}");
        };
        assert_eq!(*got_to, to);
        let msg = Message::parse(frame).unwrap();
        assert_eq!(msg.kind(), MessageKind::NotifyError);
        assert_eq!(msg.reference_uuid(), reference);
        let Body::NotifyError { error_msg } = msg.body() else {
            panic!("not an error")
        };
        assert!(
            error_msg.as_str().is_some_and(|t| t.contains(why)),
            "{error_msg:?}"
        );
        assert_eq!(
            o[1],
            MatchmakerOutput::Close {
                endpoint: to,
                reason: Eviction::Invalid
            }
        );
    }

    #[test]
    fn requested_rendezvous_names_the_id_of_a_valid_first_frame_only() {
        let rid = "ab".repeat(32);
        let req = request(1, &rid);
        assert_eq!(
            requested_rendezvous(&req).as_ref().map(|h| h.as_str()),
            Some(rid.as_str())
        );
        assert!(requested_rendezvous(b"\x00\x01ciphertext").is_none());
        assert!(requested_rendezvous(br#"{"request_type":"PING"}"#).is_none());
        let short = std::string::String::from_utf8(req.clone())
            .unwrap()
            .replace(&rid, "ab");
        assert!(requested_rendezvous(short.as_bytes()).is_none());
    }

    #[test]
    fn invalid_first_frame_is_refused_with_a_reason() {
        let mut m = mm();
        let deep = "[".repeat(200) + &"]".repeat(200);
        let bad_rid = StdString::from_utf8(request(1, RID))
            .unwrap()
            .replace(RID, "abc");
        let ping = Message::request_ping(uuid(5), Timestamp::from_secs(1)).to_json_string();
        let cases: [(&[u8], Option<Uuid>, &str); 5] = [
            (&[0x80, 0xff, 0, 1], None, "not JSON"),
            (deep.as_bytes(), None, "not JSON"),
            (b"{\"x\":1}", None, "invalid REQUEST_RENDEZVOUS: "),
            (bad_rid.as_bytes(), None, "rendezvous_id"),
            (ping.as_bytes(), Some(uuid(5)), "got REQUEST_PING"),
        ];
        for (n, (frame, reference, why)) in cases.into_iter().enumerate() {
            let n = n as u32;
            feed(&mut m, MatchmakerInput::Opened(rem(n)), 0);
            let o = feed(&mut m, MatchmakerInput::Frame(rem(n), frame), 1);
            check_refused(&o, rem(n), reference, why);
        }
        assert!(m.is_empty());
        let s = m.stats();
        assert_eq!(s.refused_invalid, 5);
        assert_eq!(
            (
                s.dropped_ciphertext,
                s.dropped_invalid,
                s.dropped_unexpected
            ),
            (2, 2, 1)
        );
        assert_eq!(s.unregistered, 0);
    }

    #[test]
    fn garbage_from_a_waiter_is_dropped() {
        let mut m = mm();
        feed(&mut m, MatchmakerInput::Opened(rem(1)), 0);
        feed(&mut m, MatchmakerInput::Frame(rem(1), &request(1, RID)), 2);
        // repeated request on a waiter: dropped, still waiting under the first id
        assert!(feed(&mut m, MatchmakerInput::Frame(rem(1), &request(1, RID2)), 3).is_empty());
        assert!(feed(&mut m, MatchmakerInput::Frame(rem(1), b"\x01\x02"), 3).is_empty());
        assert!(feed(&mut m, MatchmakerInput::Frame(rem(1), b"{\"x\":1}"), 3).is_empty());
        let s = m.stats();
        assert_eq!(s.dropped_ciphertext, 1);
        assert_eq!(s.dropped_invalid, 1);
        assert_eq!(s.dropped_unexpected, 1);
        assert_eq!(s.waiting, 1);
        // unknown connections
        assert!(feed(&mut m, MatchmakerInput::Frame(rem(77), b"x"), 4).is_empty());
        assert!(feed(&mut m, MatchmakerInput::Closed(rem(77)), 4).is_empty());
        assert_eq!(m.stats().unknown_conn, 2);
    }

    #[test]
    fn register_timeout_closes_silent_endpoints_early() {
        let mut m = Mm::new(
            MatchmakerConfig {
                unpaired_timeout: Duration::from_secs(60),
                register_timeout: Duration::from_secs(10),
                ..MatchmakerConfig::default()
            },
            TestRng(7),
        );
        feed(&mut m, MatchmakerInput::Opened(rem(1)), 0);
        feed(&mut m, MatchmakerInput::Opened(rem(2)), 0);
        assert_eq!(m.poll_timeout(), Some(Instant(10_000)));
        // registering gives the full unpaired timeout
        feed(
            &mut m,
            MatchmakerInput::Frame(rem(2), &request(2, RID)),
            5_000,
        );
        let o = feed(&mut m, MatchmakerInput::Timeout, 10_000);
        assert_eq!(
            o,
            [MatchmakerOutput::Close {
                endpoint: rem(1),
                reason: Eviction::UnpairedExpired
            }]
        );
        assert_eq!(m.poll_timeout(), Some(Instant(65_000)));
    }

    #[test]
    fn full_unpaired_budget_evicts_the_oldest_waiter_so_pairs_still_form() {
        let mut m: Matchmaker<TestRng, 8, 8> = Matchmaker::new(
            MatchmakerConfig {
                max_unpaired: 3,
                ..MatchmakerConfig::default()
            },
            TestRng(3),
        );
        let rids = [RID, RID2, &"c".repeat(64)];
        for (i, rid) in rids.iter().enumerate() {
            let n = i as u32;
            feed_any(&mut m, MatchmakerInput::Opened(rem(n)), n.into());
            feed_any(
                &mut m,
                MatchmakerInput::Frame(rem(n), &request(n as u8, rid)),
                n.into(),
            );
        }
        assert_eq!(m.stats().waiting, 3);
        // a legitimate pair: its first side evicts the oldest waiter (END, then Close)
        let pair_rid = "d".repeat(64);
        let o = feed_any(&mut m, MatchmakerInput::Opened(rem(10)), 10);
        assert_eq!(o.len(), 2);
        check_notify(&o[0], rem(0), MessageKind::NotifyRendezvousEnd, None, RID);
        assert_eq!(
            o[1],
            MatchmakerOutput::Close {
                endpoint: rem(0),
                reason: Eviction::Crowded
            }
        );
        feed_any(
            &mut m,
            MatchmakerInput::Frame(rem(10), &request(10, &pair_rid)),
            11,
        );
        // its second side evicts another (still unregistered: no END) and completes the pair
        let o = feed_any(&mut m, MatchmakerInput::Opened(rem(11)), 12);
        assert_eq!(o.len(), 2);
        let o = feed_any(
            &mut m,
            MatchmakerInput::Frame(rem(11), &request(11, &pair_rid)),
            13,
        );
        check_notify(
            &o[0],
            rem(11),
            MessageKind::NotifyRendezvous,
            Some(uuid(11)),
            &pair_rid,
        );
        let s = m.stats();
        assert_eq!((s.pairs, s.waiting, s.evicted_crowded), (1, 1, 2));
        assert_eq!(m.queued, 1);
        // paired endpoints are outside the budget: three new waiters fit beside the pair
        for n in 20..22 {
            assert!(feed_any(&mut m, MatchmakerInput::Opened(rem(n)), 20).is_empty());
        }
        assert_eq!(m.queued, 3);
    }

    #[test]
    fn group_share_refuses_newcomers_of_a_crowded_group_only() {
        let mut m: Matchmaker<TestRng, 8, 8> = Matchmaker::new(
            MatchmakerConfig {
                max_unpaired_per_group: 2,
                ..MatchmakerConfig::default()
            },
            TestRng(3),
        );
        let (a, b) = (Group(1), Group(2));
        let open = |m: &mut Matchmaker<TestRng, 8, 8>, n: u32, g: Group| {
            feed_any(m, MatchmakerInput::OpenedIn(rem(n), g), 0)
        };
        assert!(open(&mut m, 1, a).is_empty());
        assert!(open(&mut m, 2, a).is_empty());
        assert_eq!(
            open(&mut m, 3, a),
            [MatchmakerOutput::Close {
                endpoint: rem(3),
                reason: Eviction::GroupFull
            }]
        );
        assert!(open(&mut m, 4, b).is_empty());
        assert_eq!(m.stats().refused_group_full, 1);
        // pairing frees the group's share
        m.handle_input(MatchmakerInput::Frame(rem(1), &request(1, RID)), Instant(1));
        m.handle_input(MatchmakerInput::Frame(rem(2), &request(2, RID)), Instant(1));
        while m.poll_output().is_some() {}
        assert_eq!(m.stats().pairs, 1);
        assert!(open(&mut m, 5, a).is_empty());
        assert!(open(&mut m, 6, a).is_empty());
        assert_eq!(m.groups.count(m.hash_key, a), 2);
        m.handle_input(MatchmakerInput::Closed(rem(5)), Instant(2));
        assert_eq!(m.groups.count(m.hash_key, a), 1);
        m.handle_input(MatchmakerInput::Closed(rem(6)), Instant(2));
        assert_eq!(m.groups.count(m.hash_key, a), 0);
        assert_eq!(m.groups.free_len, 7); // only group b's record is left
    }

    #[test]
    fn groups_are_address_prefixes() {
        use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let v4 = |a, b, c, d| Group::of_ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
        assert_eq!(v4(127, 0, 0, 2), v4(127, 0, 0, 201));
        assert_ne!(v4(127, 0, 0, 2), v4(127, 0, 1, 2));
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 9).to_ipv6_mapped());
        assert_eq!(Group::of_ip(mapped), v4(127, 0, 0, 1));
        let v6 = |s: &str| Group::of_ip(IpAddr::V6(s.parse::<Ipv6Addr>().unwrap()));
        assert_eq!(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff::9"));
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
        assert_ne!(v6("::1"), v4(0, 0, 0, 1));
    }

    #[test]
    fn mass_expiry_respects_queue_bound() {
        // QUEUE 4, CONNS 8: expiring 8 needs several Timeout rounds.
        let mut m: Matchmaker<TestRng, 8, 4> = Matchmaker::new(
            MatchmakerConfig {
                unpaired_timeout: Duration::from_millis(10),
                unix_offset_ms: 0,
                ..MatchmakerConfig::default()
            },
            TestRng(7),
        );
        for i in 0..8 {
            m.handle_input(MatchmakerInput::Opened(rem(i)), Instant(0));
            while m.poll_output().is_some() {}
        }
        assert_eq!(m.poll_timeout(), Some(Instant(10)));
        let mut closed = 0;
        let mut rounds = 0;
        while let Some(at) = m.poll_timeout() {
            // what a round could not expire is still due
            assert!(at <= Instant(100));
            rounds += 1;
            assert!(rounds <= 10);
            m.handle_input(MatchmakerInput::Timeout, Instant(100));
            assert!(m.pending_outputs() <= 4);
            while let Some(o) = m.poll_output() {
                if let MatchmakerOutput::Close { .. } = o {
                    closed += 1;
                }
            }
        }
        assert_eq!((closed, rounds), (8, 2));
        assert_eq!(m.stats().output_overflow, 0);
        assert!(m.is_empty());
    }

    #[test]
    fn peer_and_end_frame_for_shutdown() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        feed(&mut m, MatchmakerInput::Opened(rem(3)), 0);
        assert_eq!(m.peer(rem(1)), Some(rem(2)));
        assert_eq!(m.peer(rem(2)), Some(rem(1)));
        assert_eq!(m.peer(rem(3)), None);
        assert_eq!(m.peer(rem(9)), None);
        let f = m.end_frame(rem(2), Instant(5)).unwrap();
        let o = MatchmakerOutput::Transmit {
            to: rem(2),
            frame: f,
        };
        check_notify(&o, rem(2), MessageKind::NotifyRendezvousEnd, None, RID);
        assert!(m.end_frame(rem(3), Instant(5)).is_none());
        assert_eq!(m.stats().pairs, 1);
    }

    #[test]
    fn ten_thousand_connections() {
        // Heap tables with `alloc`: no stack overflow in a 2 MiB test thread, and O(1)
        // lookups keep this fast even in debug builds.
        let mut m: Matchmaker<TestRng, 16384, 8> =
            Matchmaker::new(MatchmakerConfig::default(), TestRng(3));
        let rid = |i: u32| std::format!("{:064x}", u64::from(i) * 0x9e37_79b9);
        for i in 0..10_000u32 {
            m.handle_input(MatchmakerInput::Opened(rem(i)), Instant(0));
            let r = request((i % 251) as u8, &rid(i / 2));
            m.handle_input(MatchmakerInput::Frame(rem(i), &r), Instant(0));
            while m.poll_output().is_some() {}
        }
        assert_eq!(m.stats().pairs, 5_000);
        for i in (0..10_000u32).step_by(97) {
            m.handle_input(MatchmakerInput::Frame(rem(i), b"x"), Instant(1));
            assert_eq!(
                m.poll_output(),
                Some(MatchmakerOutput::Forward {
                    from: rem(i),
                    to: rem(i ^ 1)
                })
            );
        }
        for i in 0..10_000u32 {
            m.handle_input(MatchmakerInput::Closed(rem(i)), Instant(2));
            while m.poll_output().is_some() {}
        }
        assert!(m.is_empty());
        assert_eq!(m.stats().pairs_ended, 5_000);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Open(u8),
        Close(u8),
        Req(u8, u8, bool),
        Bytes(u8, StdVec<u8>),
        Tick(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8).prop_map(Op::Open),
            (0u8..8).prop_map(Op::Close),
            (0u8..8, 0u8..3, any::<bool>()).prop_map(|(c, r, u)| Op::Req(c, r, u)),
            (0u8..8, proptest::collection::vec(any::<u8>(), 0..40))
                .prop_map(|(c, b)| Op::Bytes(c, b)),
            (0u16..5000).prop_map(Op::Tick),
        ]
    }

    proptest! {
        #[test]
        fn random_inputs_never_panic_and_stay_bounded(ops in proptest::collection::vec(op(), 0..80)) {
            let mut m: Matchmaker<TestRng, 5, 4> = Matchmaker::new(
                MatchmakerConfig { unpaired_timeout: Duration::from_millis(3000), max_unpaired: 3, max_unpaired_per_group: 2, ..MatchmakerConfig::default() },
                TestRng(99),
            );
            let rids = [RID, RID2, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"];
            let mut now = 0u64;
            // Even numbers are connections, odd ones local endpoints, with the same ids:
            // rem(0), loc(0), rem(1), loc(1), ...
            let ep = |c: u8| if c & 1 == 0 { rem(u32::from(c >> 1)) } else { loc(u32::from(c >> 1)) };
            // Model: which endpoints the table holds.
            let mut open = std::collections::BTreeSet::new();
            for op in ops {
                let frame;
                let input = match op {
                    // remote endpoints in two groups, local ones without
                    Op::Open(c) if c & 1 == 0 => MatchmakerInput::OpenedIn(ep(c), Group(u64::from(c & 2))),
                    Op::Open(c) => MatchmakerInput::Opened(ep(c)),
                    Op::Close(c) => MatchmakerInput::Closed(ep(c)),
                    Op::Req(c, r, upper) => {
                        let rid = if upper { rids[r as usize].to_ascii_uppercase() } else { rids[r as usize].into() };
                        frame = request(c, &rid);
                        MatchmakerInput::Frame(ep(c), &frame)
                    }
                    Op::Bytes(c, b) => { frame = b; MatchmakerInput::Frame(ep(c), &frame) }
                    Op::Tick(d) => { now += u64::from(d); MatchmakerInput::Timeout }
                };
                match input {
                    MatchmakerInput::Opened(id) | MatchmakerInput::OpenedIn(id, _) if open.len() < 5 => { open.insert(id); }
                    MatchmakerInput::Closed(id) => { open.remove(&id); }
                    _ => {}
                }
                m.handle_input(input, Instant(now));
                prop_assert!(m.pending_outputs() <= 4);
                while let Some(o) = m.poll_output() {
                    match &o {
                        MatchmakerOutput::Transmit { frame, .. } => prop_assert!(Message::parse(frame).is_ok()),
                        MatchmakerOutput::Close { endpoint, .. } => { open.remove(endpoint); }
                        _ => {}
                    }
                }
                for id in &open {
                    prop_assert!(m.slot_of(*id).is_some(), "lost {:?}", id);
                }
                prop_assert_eq!(open.len(), m.len());
                let s = m.stats();
                prop_assert_eq!(s.output_overflow, 0);
                prop_assert_eq!(s.encode_failures, 0);
                prop_assert!(m.len() <= 5);
                prop_assert_eq!(s.unregistered + s.waiting + 2 * s.pairs, m.len());
                // Only remote endpoints expire: a deadline exactly when one of them is unpaired.
                let remote_unpaired = open.iter().any(|id| {
                    matches!(id, Endpoint::Remote(_))
                        && m.peer(*id).is_none()
                });
                prop_assert_eq!(m.poll_timeout().is_some(), remote_unpaired);
                // the unpaired budgets hold
                let unpaired: StdVec<_> = open.iter().filter(|id| matches!(id, Endpoint::Remote(_)) && m.peer(**id).is_none()).collect();
                prop_assert!(unpaired.len() <= 3);
                prop_assert_eq!(m.queued, unpaired.len());
            }
        }
    }
}
