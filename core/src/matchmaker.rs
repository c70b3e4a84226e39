//! The relay matchmaker (v0 wire reference, sections 11.4, 11.5, 11.10) as a sans-IO state
//! machine: the incoming-rendezvous directory plus the forwarding relay layer, without
//! sockets, clocks, threads or heap.
//!
//! The caller owns the transport. It assigns a [`ConnId`] to every connection, feeds
//! [`Input`]s to [`Matchmaker::handle_input`] with the current [`Instant`], and then drains
//! [`Matchmaker::poll_output`] until it returns `None` before the next input.
//!
//! Behaviour:
//!
//! * Before pairing, a cleartext `REQUEST_RENDEZVOUS` registers the connection under its
//!   `rendezvous_id`, compared as the exact string received. The first arrival gets
//!   `NOTIFY_RENDEZVOUS_NOT_READY` referencing its `request_uuid`. When a second connection
//!   requests the same id, `NOTIFY_RENDEZVOUS` goes to the newcomer first, then to the older
//!   one, each referencing its own `request_uuid`.
//! * A `REQUEST_RENDEZVOUS` for an id that is already paired gets `NOTIFY_RENDEZVOUS_END`
//!   (reference `null`) and then `Close { reason: AlreadyPaired }`. The pair is not touched.
//!   **Deviation:** the Python relay closes without a usable notification (pitfall 34);
//!   every reference endpoint reacts to END while waiting by closing, so the refusal is
//!   clear to all of them, and our link reports `CloseReason::RendezvousRefused`.
//! * Once paired, every frame is forwarded opaquely: [`Output::Forward`] tells the caller to
//!   pass on the frame it just handed in, byte for byte. **Deviation:** the Python relay
//!   re-serialises cleartext frames and drops invalid ones (pitfall 33). This core never
//!   parses paired traffic. Peers must accept both forms anyway.
//! * When one side of a pair closes, the survivor gets `NOTIFY_RENDEZVOUS_END` (reference
//!   `null`) and then `Close { reason: PeerGone }`. After that the id is free again
//!   (reconnection, 11.10).
//! * **Dropped, not closed:** before pairing, a repeated `REQUEST_RENDEZVOUS` on a waiting
//!   connection, invalid cleartext, valid messages of other kinds, and ciphertext are all
//!   dropped and counted in [`Stats`]. This matches "any other message / bytes before
//!   pairing: dropped" in 11.4. A waiter cannot re-register under another id.
//! * **Expiry (extension):** the reference relay never times out. Here any connection that
//!   is not paired (registered or not) is closed with `UnpairedExpired` once
//!   [`Config::unpaired_timeout`] has passed since it was opened, or since it registered if
//!   that was later. Use `Duration::MAX` to switch expiry off.
//! * A full table refuses a new connection with `Close { reason: Full }`.
//!
//! Every [`Output::Close`] is final for the core: the connection is already gone from the
//! table when the output is queued, and a later `Input::Closed` or frame for that id is
//! ignored and counted as `unknown_conn`. The same goes for ids that were never opened.
//!
//! Entropy: the matchmaker holds the `RngCore + CryptoRng` it was built with. The RNG is
//! used only for the `notification_uuid` of the notifications it sends.
//!
//! Timestamps in notifications: `Instant` + [`Config::unix_offset_ms`], read as
//! milliseconds since the Unix epoch.

use core::time::Duration;

use heapless::{Deque, Vec};
use rand_core::{CryptoRng, RngCore};

use crate::message::{Body, Hex256, Message, Timestamp};
use crate::time::Instant;
use crate::uuid::Uuid;

/// Capacity of a frame originated by the matchmaker (a rendezvous notification is about 330
/// bytes with the longest timestamp).
pub const NOTIFY_FRAME_CAP: usize = 512;

/// The bytes of a notification the matchmaker originates.
pub type NotifyFrame = Vec<u8, NOTIFY_FRAME_CAP>;

/// A connection id assigned by the caller. Ids may be reused once the connection has left
/// the table, after `Input::Closed` or after the matchmaker emitted `Output::Close` for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId(pub u32);

/// Something that happened on the caller's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// A new connection was accepted.
    Opened(ConnId),
    /// A complete frame (one WebSocket message) arrived on a connection.
    Frame(ConnId, &'a [u8]),
    /// The connection was closed by the peer or the transport.
    Closed(ConnId),
    /// The deadline of the last [`Output::Timeout`] has been reached.
    Timeout,
}

/// Why the matchmaker closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseReason {
    /// The rendezvous id is already held by two connections (`NOTIFY_RENDEZVOUS_END` was
    /// sent just before).
    AlreadyPaired,
    /// The connection table was full when the connection opened.
    Full,
    /// The connection stayed unpaired longer than [`Config::unpaired_timeout`].
    UnpairedExpired,
    /// The peer of a pair went away. `NOTIFY_RENDEZVOUS_END` was sent just before.
    PeerGone,
}

/// Something the caller must do, in order.
// No heap in this crate's no_std build, so the notification frame lives inline; the queue
// is sized by `QUEUE`, which bounds the total memory anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `frame` (cleartext JSON) on `conn`.
    Transmit {
        /// Destination connection.
        conn: ConnId,
        /// The frame bytes.
        frame: NotifyFrame,
    },
    /// Send the frame just given in `Input::Frame(from, ..)` unchanged on `to`.
    Forward {
        /// Connection the frame came from.
        from: ConnId,
        /// Connection to forward it to.
        to: ConnId,
    },
    /// Close `conn`. It has already left the table.
    Close {
        /// The connection to close.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Call `handle_input(Input::Timeout, now)` once `now >= ` this instant. Replaces any
    /// earlier deadline. No output means there is no deadline change.
    Timeout(Instant),
}

/// Tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long a connection may stay unpaired (default 10 minutes).
    pub unpaired_timeout: Duration,
    /// Added to an `Instant` to get milliseconds since the Unix epoch for notification
    /// timestamps (default 0: the caller's `Instant` already is Unix time).
    pub unix_offset_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            unpaired_timeout: Duration::from_secs(600),
            unix_offset_ms: 0,
        }
    }
}

/// Observability counters. Events are cumulative, `waiting` / `unregistered` / `pairs` are
/// current values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Connections currently open and not yet registered.
    pub unregistered: usize,
    /// Connections registered and waiting for a peer.
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
    /// Unpaired connections closed by expiry.
    pub expired_unpaired: u64,
    /// Non-JSON (ciphertext) frames dropped before pairing.
    pub dropped_ciphertext: u64,
    /// JSON frames before pairing that are not a valid message.
    pub dropped_invalid: u64,
    /// Valid messages before pairing that are not a first `REQUEST_RENDEZVOUS`.
    pub dropped_unexpected: u64,
    /// Inputs naming a connection that is not in the table (or a duplicate `Opened`).
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
    Paired { rid: Hex256, peer: ConnId },
}

#[derive(Debug, Clone)]
struct Conn {
    id: ConnId,
    /// Expiry deadline while unpaired.
    deadline: Instant,
    state: State,
}

/// The relay matchmaker for up to `CONNS` connections, queueing up to `QUEUE` outputs
/// (`QUEUE >= 4` is checked at compile time). Holds the RNG `R` for notification uuids.
#[derive(Debug)]
pub struct Matchmaker<R, const CONNS: usize, const QUEUE: usize> {
    config: Config,
    rng: R,
    conns: Vec<Conn, CONNS>,
    out: Deque<Output, QUEUE>,
    announced: Option<Instant>,
    stats: Stats,
}

/// The most outputs a single non-timeout input queues (two notifications, or END + Close,
/// plus a deadline).
const MAX_OUTPUTS_PER_INPUT: usize = 3;

impl<R: RngCore + CryptoRng, const CONNS: usize, const QUEUE: usize> Matchmaker<R, CONNS, QUEUE> {
    const QUEUE_OK: () = assert!(
        QUEUE > MAX_OUTPUTS_PER_INPUT,
        "Matchmaker QUEUE must be at least 4"
    );

    /// A matchmaker with an empty table.
    pub fn new(config: Config, rng: R) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::QUEUE_OK;
        Matchmaker {
            config,
            rng,
            conns: Vec::new(),
            out: Deque::new(),
            announced: None,
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.unregistered = 0;
        s.waiting = 0;
        s.pairs = 0;
        for c in &self.conns {
            match c.state {
                State::Unregistered => s.unregistered += 1,
                State::Waiting { .. } => s.waiting += 1,
                State::Paired { .. } => s.pairs += 1,
            }
        }
        s.pairs /= 2;
        s
    }

    /// Number of connections in the table.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Number of queued outputs.
    pub fn pending_outputs(&self) -> usize {
        self.out.len()
    }

    /// Processes one input at time `now`. Drain [`Matchmaker::poll_output`] afterwards.
    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) {
        let force_announce = match input {
            Input::Opened(id) => {
                self.on_opened(id, now);
                false
            }
            Input::Frame(id, bytes) => {
                self.on_frame(id, bytes, now);
                false
            }
            Input::Closed(id) => {
                self.on_closed(id, now);
                false
            }
            Input::Timeout => {
                self.on_timeout(now);
                true
            }
        };
        self.announce_deadline(force_announce);
    }

    /// The next thing to do, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn push(&mut self, o: Output) {
        if self.out.push_back(o).is_err() {
            self.stats.output_overflow += 1;
        }
    }

    fn index(&self, id: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    fn on_opened(&mut self, id: ConnId, now: Instant) {
        if self.index(id).is_some() {
            self.stats.unknown_conn += 1;
            return;
        }
        let conn = Conn {
            id,
            deadline: now.saturating_add(self.config.unpaired_timeout),
            state: State::Unregistered,
        };
        if self.conns.push(conn).is_err() {
            self.stats.refused_full += 1;
            self.push(Output::Close {
                conn: id,
                reason: CloseReason::Full,
            });
        }
    }

    fn on_frame(&mut self, id: ConnId, bytes: &[u8], now: Instant) {
        let Some(i) = self.index(id) else {
            self.stats.unknown_conn += 1;
            return;
        };
        match &self.conns[i].state {
            State::Paired { peer, .. } => {
                let to = *peer;
                self.stats.frames_forwarded += 1;
                self.push(Output::Forward { from: id, to });
            }
            State::Waiting { .. } => {
                // Only classify for the counters; nothing is accepted from a waiter.
                self.classify_drop(bytes);
            }
            State::Unregistered => {
                if !crate::json::parses_as_json(bytes) {
                    self.stats.dropped_ciphertext += 1;
                    return;
                }
                let msg = match Message::parse(bytes) {
                    Ok(m) => m,
                    Err(_) => {
                        self.stats.dropped_invalid += 1;
                        return;
                    }
                };
                let (Body::RequestRendezvous { rendezvous_id }, Some(request_uuid)) =
                    (msg.body(), msg.request_uuid())
                else {
                    self.stats.dropped_unexpected += 1;
                    return;
                };
                let rid = rendezvous_id.clone();
                self.register(i, rid, request_uuid, now);
            }
        }
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

    fn register(&mut self, i: usize, rid: Hex256, request_uuid: Uuid, now: Instant) {
        let paired = self
            .conns
            .iter()
            .any(|c| matches!(&c.state, State::Paired { rid: r, .. } if *r == rid));
        if paired {
            let id = self.conns.swap_remove(i).id;
            self.stats.refused_already_paired += 1;
            let u = Uuid::new_v4(&mut self.rng);
            let end = Message::notify_rendezvous_end(u, self.timestamp(now), rid);
            self.transmit(id, &end);
            self.push(Output::Close {
                conn: id,
                reason: CloseReason::AlreadyPaired,
            });
            return;
        }
        let newcomer = self.conns[i].id;
        let waiter = self
            .conns
            .iter()
            .position(|c| matches!(&c.state, State::Waiting { rid: r, .. } if *r == rid));
        match waiter {
            Some(j) => {
                let older = self.conns[j].id;
                let older_uuid = match &self.conns[j].state {
                    State::Waiting { request_uuid, .. } => *request_uuid,
                    _ => request_uuid, // unreachable by the position() filter
                };
                self.conns[i].state = State::Paired {
                    rid: rid.clone(),
                    peer: older,
                };
                self.conns[j].state = State::Paired {
                    rid: rid.clone(),
                    peer: newcomer,
                };
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
            None => {
                let c = &mut self.conns[i];
                c.deadline = c
                    .deadline
                    .max(now.saturating_add(self.config.unpaired_timeout));
                c.state = State::Waiting {
                    rid: rid.clone(),
                    request_uuid,
                };
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
        let ms = now.as_millis().saturating_add(self.config.unix_offset_ms);
        Timestamp::from_micros(ms.saturating_mul(1_000))
    }

    fn transmit(&mut self, conn: ConnId, msg: &Message<'_>) {
        let mut frame = NotifyFrame::new();
        if msg.write_json(&mut frame).is_err() {
            self.stats.encode_failures += 1;
            return;
        }
        self.push(Output::Transmit { conn, frame });
    }

    fn on_closed(&mut self, id: ConnId, now: Instant) {
        let Some(i) = self.index(id) else {
            self.stats.unknown_conn += 1;
            return;
        };
        let gone = self.conns.swap_remove(i);
        if let State::Paired { rid, peer } = gone.state {
            self.stats.pairs_ended += 1;
            if let Some(j) = self.index(peer) {
                self.conns.swap_remove(j);
            }
            let ts = self.timestamp(now);
            let u = Uuid::new_v4(&mut self.rng);
            self.transmit(peer, &Message::notify_rendezvous_end(u, ts, rid));
            self.push(Output::Close {
                conn: peer,
                reason: CloseReason::PeerGone,
            });
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        // Leave room for the deadline output; anything left over is due at once and gets
        // announced as such.
        let mut room = QUEUE.saturating_sub(self.out.len()).saturating_sub(1);
        let mut i = 0;
        while i < self.conns.len() && room > 0 {
            let c = &self.conns[i];
            if !matches!(c.state, State::Paired { .. }) && c.deadline <= now {
                let id = self.conns.swap_remove(i).id;
                self.stats.expired_unpaired += 1;
                self.push(Output::Close {
                    conn: id,
                    reason: CloseReason::UnpairedExpired,
                });
                room -= 1;
            } else {
                i += 1;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.conns
            .iter()
            .filter(|c| !matches!(c.state, State::Paired { .. }))
            .map(|c| c.deadline)
            .min()
    }

    fn announce_deadline(&mut self, force: bool) {
        let next = self.next_deadline();
        if next != self.announced || (force && next.is_some()) {
            self.announced = next;
            if let Some(d) = next {
                self.push(Output::Timeout(d));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::message::MessageKind;
    use proptest::prelude::*;
    use rand_core::{CryptoRng, RngCore};
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
            Config {
                unpaired_timeout: Duration::from_secs(60),
                unix_offset_ms: 1_600_000_000_000,
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

    fn feed(m: &mut Mm, input: Input<'_>, now: u64) -> StdVec<Output> {
        m.handle_input(input, Instant(now));
        let mut v = StdVec::new();
        while let Some(o) = m.poll_output() {
            v.push(o);
        }
        assert!(v.len() <= 8);
        v
    }

    /// Outputs without deadline announcements.
    fn feed_nt(m: &mut Mm, input: Input<'_>, now: u64) -> StdVec<Output> {
        feed(m, input, now)
            .into_iter()
            .filter(|o| !matches!(o, Output::Timeout(_)))
            .collect()
    }

    /// Asserts a Transmit to `conn` of `kind` referencing `reference`, for `rid`.
    fn check_notify(o: &Output, conn: u32, kind: MessageKind, reference: Option<Uuid>, rid: &str) {
        let Output::Transmit { conn: c, frame } = o else {
            panic!("expected transmit, got {o:?}");
        };
        assert_eq!(*c, ConnId(conn));
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

    fn pair(m: &mut Mm, a: u32, b: u32, rid: &str) {
        feed(m, Input::Opened(ConnId(a)), 0);
        feed(m, Input::Opened(ConnId(b)), 0);
        feed(m, Input::Frame(ConnId(a), &request(a as u8, rid)), 0);
        feed(m, Input::Frame(ConnId(b), &request(b as u8, rid)), 0);
    }

    #[test]
    fn not_ready_then_rendezvous_in_order() {
        let mut m = mm();
        assert!(feed_nt(&mut m, Input::Opened(ConnId(1)), 0).is_empty());
        let o = feed_nt(&mut m, Input::Frame(ConnId(1), &request(1, RID)), 10);
        assert_eq!(o.len(), 1);
        check_notify(
            &o[0],
            1,
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(1)),
            RID,
        );
        assert_eq!(m.stats().waiting, 1);

        feed(&mut m, Input::Opened(ConnId(2)), 20);
        let o = feed_nt(&mut m, Input::Frame(ConnId(2), &request(2, RID)), 30);
        assert_eq!(o.len(), 2);
        // newcomer first, then the older one, each with its own reference
        check_notify(&o[0], 2, MessageKind::NotifyRendezvous, Some(uuid(2)), RID);
        check_notify(&o[1], 1, MessageKind::NotifyRendezvous, Some(uuid(1)), RID);
        let s = m.stats();
        assert_eq!((s.pairs, s.waiting, s.pairs_formed), (1, 0, 1));

        // notifications are clear JSON with a 1.6e9-ish timestamp
        let Output::Transmit { frame, .. } = &o[0] else {
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
            Input::Frame(ConnId(1), &[0xde, 0xad, 0xbe, 0xef]),
            40,
        );
        assert_eq!(
            o,
            [Output::Forward {
                from: ConnId(1),
                to: ConnId(2)
            }]
        );
        // even a cleartext REQUEST_RENDEZVOUS is forwarded once paired
        let o = feed(&mut m, Input::Frame(ConnId(2), &request(9, RID)), 41);
        assert_eq!(
            o,
            [Output::Forward {
                from: ConnId(2),
                to: ConnId(1)
            }]
        );
        assert_eq!(m.stats().frames_forwarded, 2);
    }

    #[test]
    fn end_to_survivor_then_close() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        let o = feed_nt(&mut m, Input::Closed(ConnId(1)), 50);
        assert_eq!(o.len(), 2);
        check_notify(&o[0], 2, MessageKind::NotifyRendezvousEnd, None, RID);
        assert_eq!(
            o[1],
            Output::Close {
                conn: ConnId(2),
                reason: CloseReason::PeerGone
            }
        );
        assert!(m.is_empty());
        assert_eq!(m.stats().pairs_ended, 1);
        // the survivor's own close notification later is harmless
        assert!(feed(&mut m, Input::Closed(ConnId(2)), 51).is_empty());
        assert!(feed(&mut m, Input::Frame(ConnId(2), b"x"), 51).is_empty());
    }

    #[test]
    fn third_party_refused_pair_keeps_forwarding() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        feed(&mut m, Input::Opened(ConnId(3)), 60);
        let o = feed_nt(&mut m, Input::Frame(ConnId(3), &request(3, RID)), 61);
        assert_eq!(o.len(), 2);
        check_notify(&o[0], 3, MessageKind::NotifyRendezvousEnd, None, RID);
        assert_eq!(
            o[1],
            Output::Close {
                conn: ConnId(3),
                reason: CloseReason::AlreadyPaired
            }
        );
        assert_eq!(m.stats().refused_already_paired, 1);
        let o = feed(&mut m, Input::Frame(ConnId(2), b"ciphertext"), 62);
        assert_eq!(
            o,
            [Output::Forward {
                from: ConnId(2),
                to: ConnId(1)
            }]
        );
        assert_eq!(m.stats().pairs, 1);
    }

    #[test]
    fn unpaired_expiry_via_timeout() {
        let mut m = mm();
        let o = feed(&mut m, Input::Opened(ConnId(1)), 1_000);
        assert_eq!(o, [Output::Timeout(Instant(61_000))]);
        // registering later pushes the deadline out
        let o = feed(&mut m, Input::Frame(ConnId(1), &request(1, RID)), 5_000);
        assert_eq!(o.len(), 2);
        assert_eq!(o[1], Output::Timeout(Instant(65_000)));
        // early timeout: nothing expires, deadline re-announced
        let o = feed(&mut m, Input::Timeout, 30_000);
        assert_eq!(o, [Output::Timeout(Instant(65_000))]);
        let o = feed(&mut m, Input::Timeout, 65_000);
        assert_eq!(
            o,
            [Output::Close {
                conn: ConnId(1),
                reason: CloseReason::UnpairedExpired
            }]
        );
        assert!(m.is_empty());
        assert_eq!(m.stats().expired_unpaired, 1);
        // id is free: a new pair forms normally
        pair(&mut m, 4, 5, RID);
        assert_eq!(m.stats().pairs, 1);
    }

    #[test]
    fn paired_connections_never_expire() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        assert!(feed(&mut m, Input::Timeout, u64::MAX).is_empty());
        assert_eq!(m.stats().pairs, 1);
    }

    #[test]
    fn reconnect_with_same_id() {
        let mut m = mm();
        pair(&mut m, 1, 2, RID);
        feed(&mut m, Input::Closed(ConnId(2)), 10);
        feed(&mut m, Input::Opened(ConnId(1)), 20); // caller reuses ids
        feed(&mut m, Input::Opened(ConnId(7)), 20);
        let o = feed_nt(&mut m, Input::Frame(ConnId(7), &request(7, RID)), 21);
        check_notify(
            &o[0],
            7,
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(7)),
            RID,
        );
        let o = feed_nt(&mut m, Input::Frame(ConnId(1), &request(11, RID)), 22);
        check_notify(&o[0], 1, MessageKind::NotifyRendezvous, Some(uuid(11)), RID);
        check_notify(&o[1], 7, MessageKind::NotifyRendezvous, Some(uuid(7)), RID);
        assert_eq!(m.stats().pairs_formed, 2);
    }

    #[test]
    fn table_full_refuses() {
        let mut m = mm();
        for i in 0..4 {
            feed(&mut m, Input::Opened(ConnId(i)), 0);
        }
        let o = feed_nt(&mut m, Input::Opened(ConnId(9)), 0);
        assert_eq!(
            o,
            [Output::Close {
                conn: ConnId(9),
                reason: CloseReason::Full
            }]
        );
        assert_eq!(m.stats().refused_full, 1);
        assert_eq!(m.len(), 4);
        // closing one frees a slot
        feed(&mut m, Input::Closed(ConnId(0)), 1);
        assert!(feed_nt(&mut m, Input::Opened(ConnId(9)), 1).is_empty());
    }

    #[test]
    fn case_and_ids_are_exact_strings() {
        let mut m = mm();
        let upper = RID.to_ascii_uppercase();
        pair(&mut m, 1, 2, RID2);
        feed(&mut m, Input::Opened(ConnId(3)), 0);
        feed(&mut m, Input::Opened(ConnId(4)), 0);
        feed(&mut m, Input::Frame(ConnId(3), &request(3, RID)), 0);
        let o = feed_nt(&mut m, Input::Frame(ConnId(4), &request(4, &upper)), 0);
        check_notify(
            &o[0],
            4,
            MessageKind::NotifyRendezvousNotReady,
            Some(uuid(4)),
            &upper,
        );
        assert_eq!(m.stats().waiting, 2);
    }

    #[test]
    fn garbage_before_pairing_is_dropped() {
        let mut m = mm();
        feed(&mut m, Input::Opened(ConnId(1)), 0);
        assert!(feed(&mut m, Input::Frame(ConnId(1), &[0x80, 0xff, 0, 1]), 1).is_empty());
        assert!(feed(&mut m, Input::Frame(ConnId(1), b"{\"x\":1}"), 1).is_empty());
        assert!(feed(&mut m, Input::Frame(ConnId(1), b""), 1).is_empty());
        let ping = Message::request_ping(uuid(5), Timestamp::from_secs(1)).to_json_string();
        assert!(feed(&mut m, Input::Frame(ConnId(1), ping.as_bytes()), 1).is_empty());
        feed(&mut m, Input::Frame(ConnId(1), &request(1, RID)), 2);
        // repeated request on a waiter: dropped, still waiting under the first id
        assert!(feed(&mut m, Input::Frame(ConnId(1), &request(1, RID2)), 3).is_empty());
        assert!(feed(&mut m, Input::Frame(ConnId(1), b"\x01\x02"), 3).is_empty());
        let s = m.stats();
        assert_eq!(s.dropped_ciphertext, 3);
        assert_eq!(s.dropped_invalid, 1);
        assert_eq!(s.dropped_unexpected, 2);
        assert_eq!(s.waiting, 1);
        // unknown connections
        assert!(feed(&mut m, Input::Frame(ConnId(77), b"x"), 4).is_empty());
        assert!(feed(&mut m, Input::Closed(ConnId(77)), 4).is_empty());
        assert_eq!(m.stats().unknown_conn, 2);
    }

    #[test]
    fn mass_expiry_respects_queue_bound() {
        // QUEUE 4, CONNS 8: expiring 8 needs several Timeout rounds.
        let mut m: Matchmaker<TestRng, 8, 4> = Matchmaker::new(
            Config {
                unpaired_timeout: Duration::from_millis(10),
                unix_offset_ms: 0,
            },
            TestRng(7),
        );
        for i in 0..8 {
            m.handle_input(Input::Opened(ConnId(i)), Instant(0));
            while m.poll_output().is_some() {}
        }
        let mut closed = 0;
        for _ in 0..10 {
            m.handle_input(Input::Timeout, Instant(100));
            assert!(m.pending_outputs() <= 4);
            while let Some(o) = m.poll_output() {
                if let Output::Close { .. } = o {
                    closed += 1;
                }
            }
        }
        assert_eq!(closed, 8);
        assert_eq!(m.stats().output_overflow, 0);
        assert!(m.is_empty());
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
                Config { unpaired_timeout: Duration::from_millis(3000), unix_offset_ms: 0 },
                TestRng(99),
            );
            let rids = [RID, RID2, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"];
            let mut now = 0u64;
            for op in ops {
                let frame;
                let input = match op {
                    Op::Open(c) => Input::Opened(ConnId(c.into())),
                    Op::Close(c) => Input::Closed(ConnId(c.into())),
                    Op::Req(c, r, upper) => {
                        let rid = if upper { rids[r as usize].to_ascii_uppercase() } else { rids[r as usize].into() };
                        frame = request(c, &rid);
                        Input::Frame(ConnId(c.into()), &frame)
                    }
                    Op::Bytes(c, b) => { frame = b; Input::Frame(ConnId(c.into()), &frame) }
                    Op::Tick(d) => { now += u64::from(d); Input::Timeout }
                };
                m.handle_input(input, Instant(now));
                prop_assert!(m.pending_outputs() <= 4);
                while let Some(o) = m.poll_output() {
                    if let Output::Transmit { frame, .. } = &o {
                        prop_assert!(Message::parse(frame).is_ok());
                    }
                }
                let s = m.stats();
                prop_assert_eq!(s.output_overflow, 0);
                prop_assert_eq!(s.encode_failures, 0);
                prop_assert!(m.len() <= 5);
                prop_assert_eq!(s.unregistered + s.waiting + 2 * s.pairs, m.len());
            }
        }
    }
}
