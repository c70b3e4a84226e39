//! The session host: many consumer and provider sessions behind one sans-IO object, the way
//! quinn-proto's endpoint holds its connections (`alloc` feature).
//!
//! The host owns the sessions, a [`Matchmaker`] (lazily, for accepted connections and
//! listening sessions), one frame buffer and one RNG for all of them. The caller owns the
//! transport and the clock:
//!
//! * [`SessionHost::handle_input`]`(`[`HostInput`]`, now)`: a connection opened, a frame
//!   arrived, a connection closed, or the deadline passed;
//! * [`SessionHost::poll_output`]`() -> Option<`[`HostOutput`]`>`: drain after every input
//!   and every call: frames to send, frames to forward, connections to close, and events
//!   of sessions (tagged with their [`SessionId`]);
//! * [`SessionHost::poll_timeout`]: the earliest deadline of the matchmaker and of every
//!   session (a plain query, kept in an ordered index: O(log n)).
//!
//! Sessions are placed in one of two ways:
//!
//! * **on a connection** the caller dialed ([`SessionHost::attach`]): the session's frames
//!   go to that connection, its close closes it. Reconnecting is the caller's policy: dial
//!   again and attach again (the session starts over on `Opened`).
//! * **listening** ([`SessionHost::listen`]): the session waits in the host's matchmaker,
//!   as an [`Endpoint::Local`] with its own id space, for a remote peer that connects to the
//!   caller's listener with the same beacon (how a terminus serves its beacons, host-apps
//!   §2.2), or for another listening session of this host. When its peer leaves it waits
//!   again. Accepted connections that match no local session pair with each other: the
//!   host is then a relay as well.
//!
//! Providers may belong to an account (its uuid): [`SessionHost::set_account_info`] sends a
//! provider-info change to every session of the account.

mod rng;
mod types;

pub use rng::HashRng;
pub use types::{HostConfig, HostError, HostInput, HostOutput, HostStats, SessionEvent, SessionId};

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec;
use alloc::vec::Vec;

use rand_core::{CryptoRng, RngCore};

use crate::conn::{ConnId, Endpoint, LocalId};
use crate::matchmaker::{Eviction, Matchmaker, MatchmakerInput, MatchmakerOutput};
use crate::message::ProviderInfo;
use crate::seed::SharedSeed;
use crate::session::{
    CloseReason, Consumer, ConsumerConfig, Provider, ProviderConfig, SessionInput, SessionOutput,
};
use crate::time::Instant;
use crate::uuid::Uuid;

/// A consumer as the host keeps it (texts on the heap only while they wait).
pub type HostedConsumer = Consumer<Vec<u8>>;
/// A provider as the host keeps it.
pub type HostedProvider = Provider<Vec<u8>>;

/// The host's matchmaker: up to `CONNS` endpoints (accepted connections plus listening
/// sessions), on the heap.
type Mm<const CONNS: usize> = Matchmaker<HashRng, CONNS, 64>;

#[derive(Debug)]
enum Role {
    Consumer(HostedConsumer),
    Provider(HostedProvider),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Detached,
    Conn(ConnId),
    Listening,
}

#[derive(Debug)]
struct Entry {
    role: Role,
    place: Place,
    account: Option<Uuid>,
    /// The deadline indexed in `deadlines`.
    deadline: Option<Instant>,
    /// In the ready queue.
    ready: bool,
    /// Closed by the app: its last frames (answers) still go out, then its connection
    /// closes or it leaves the matchmaker.
    closing: bool,
    /// Removed by the app: drained (its last events reported), then freed.
    removing: bool,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    /// Boxed: the table grows by doubling, and slack must not cost a whole session.
    entry: Option<Box<Entry>>,
}

/// Work the host queued for the caller.
#[derive(Debug)]
enum Queued {
    Transmit(ConnId, Vec<u8>),
    Forward(ConnId, ConnId),
    /// With the matchmaker's reason when it evicted an accepted connection.
    Close(ConnId, Option<Eviction>),
}

/// Many sessions, one matchmaker, one buffer, one RNG. `CONNS` bounds the matchmaker's
/// table (accepted connections plus listening sessions); size it about twice the peak.
#[derive(Debug)]
pub struct SessionHost<R, const CONNS: usize = 65_536> {
    config: HostConfig,
    rng: R,
    now: Instant,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Connections carrying a session.
    by_conn: BTreeMap<ConnId, u32>,
    /// Accepted connections (in the matchmaker).
    accepted: BTreeSet<ConnId>,
    accounts: BTreeMap<Uuid, Vec<u32>>,
    deadlines: BTreeSet<(Instant, u32)>,
    mm: Option<Box<Mm<CONNS>>>,
    out: VecDeque<Queued>,
    ready: VecDeque<u32>,
    /// Listening sessions to put back in the matchmaker after their peer left.
    rejoin: Vec<u32>,
    buf: Vec<u8>,
    stats: HostStats,
    /// The matchmaker's reason for the `Close` last returned by `poll_output`.
    last_eviction: Option<Eviction>,
}

impl<R: RngCore + CryptoRng, const CONNS: usize> SessionHost<R, CONNS> {
    /// An empty host; `rng` provides every session's entropy.
    pub fn new(config: HostConfig, rng: R) -> Self {
        SessionHost {
            config,
            rng,
            now: Instant::ZERO,
            slots: Vec::new(),
            free: Vec::new(),
            by_conn: BTreeMap::new(),
            accepted: BTreeSet::new(),
            accounts: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            mm: None,
            out: VecDeque::new(),
            ready: VecDeque::new(),
            rejoin: Vec::new(),
            buf: vec![0; config.max_frame.max(64)],
            stats: HostStats::default(),
            last_eviction: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> HostStats {
        let mut s = self.stats;
        s.sessions = self.slots.len() - self.free.len();
        s
    }

    /// The matchmaker's counters (zero until something was accepted or listens).
    pub fn matchmaker_stats(&self) -> crate::matchmaker::MatchmakerStats {
        self.mm.as_ref().map(|m| m.stats()).unwrap_or_default()
    }

    /// Accepted connections open now (in the matchmaker).
    pub fn accepted_len(&self) -> usize {
        self.accepted.len()
    }

    /// The `NOTIFY_RENDEZVOUS_END` frame for an accepted, paired connection, for a caller
    /// that shuts down and closes every connection itself (nothing changes in the host).
    pub fn end_frame(
        &mut self,
        conn: ConnId,
        now: Instant,
    ) -> Option<crate::matchmaker::NotifyFrame> {
        self.mm.as_mut()?.end_frame(Endpoint::Remote(conn), now)
    }

    /// Why the matchmaker closed the accepted connection of the [`HostOutput::Close`] that
    /// [`poll_output`](Self::poll_output) returned last (for a relay's logs); `None` when
    /// that connection carried a session, or before any `Close`.
    pub fn last_eviction(&self) -> Option<Eviction> {
        self.last_eviction
    }

    /// Every accepted connection (for a shutdown that closes them all).
    pub fn accepted(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.accepted.iter().copied()
    }

    /// Adds a consumer for a beacon's seed, detached: [`attach`](Self::attach) or
    /// [`listen`](Self::listen) it.
    pub fn add_consumer(&mut self, seed: &SharedSeed, mut config: ConsumerConfig) -> SessionId {
        config.max_frame = config.max_frame.min(self.config.max_frame);
        self.insert(Role::Consumer(Consumer::new(seed, config)), None)
    }

    /// Adds a provider for a beacon's seed, detached, optionally serving `account` (see
    /// [`set_account_info`](Self::set_account_info)).
    pub fn add_provider(
        &mut self,
        seed: &SharedSeed,
        mut config: ProviderConfig,
        account: Option<Uuid>,
    ) -> SessionId {
        config.max_frame = config.max_frame.min(self.config.max_frame);
        let id = self.insert(Role::Provider(Provider::new(seed, config)), account);
        if let Some(a) = account {
            self.accounts.entry(a).or_default().push(id.index);
        }
        id
    }

    /// Removes a session: it is closed ([`CloseReason::Local`]), its last events (requests
    /// abandoned, `Closed`) and frames still come out of the next drain, then its connection
    /// is closed (`HostOutput::Close`) or it leaves the matchmaker (a paired remote peer
    /// gets `NOTIFY_RENDEZVOUS_END`), and the handle is gone. App calls on it fail from now.
    pub fn remove(&mut self, id: SessionId, now: Instant) -> Result<(), HostError> {
        self.now = now;
        let i = self.index(id)?;
        let e = self.entry_mut(i)?;
        e.removing = true;
        match &mut e.role {
            Role::Consumer(c) => c.close(now),
            Role::Provider(p) => p.close(now),
        }
        self.rejoin.retain(|&x| x != i);
        self.touched(i);
        Ok(())
    }

    /// Frees slot `i` once its session is drained: its connection or matchmaker place is
    /// let go, its indexes cleaned.
    fn free(&mut self, i: u32) {
        let Some(entry) = self.slots.get_mut(i as usize).and_then(|s| s.entry.take()) else {
            return;
        };
        if let Some(d) = entry.deadline {
            self.deadlines.remove(&(d, i));
        }
        if let Some(a) = entry.account {
            if let Some(list) = self.accounts.get_mut(&a) {
                list.retain(|&x| x != i);
                if list.is_empty() {
                    self.accounts.remove(&a);
                }
            }
        }
        match entry.place {
            Place::Conn(c) => {
                self.by_conn.remove(&c);
                self.out.push_back(Queued::Close(c, None));
            }
            Place::Listening => self.matchmaker_input(MatchmakerInput::Closed(local(i))),
            Place::Detached => {}
        }
        self.ready.retain(|&x| x != i);
        self.rejoin.retain(|&x| x != i);
        let slot = &mut self.slots[i as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(i);
    }

    /// A session closed by the app has sent its last frames: close its connection or take
    /// it out of the matchmaker.
    fn finish_close(&mut self, i: u32) {
        let Some(e) = slot_mut(&mut self.slots, i) else {
            return;
        };
        e.closing = false;
        match core::mem::replace(&mut e.place, Place::Detached) {
            Place::Conn(c) => {
                self.by_conn.remove(&c);
                self.out.push_back(Queued::Close(c, None));
            }
            Place::Listening => self.matchmaker_input(MatchmakerInput::Closed(local(i))),
            Place::Detached => {}
        }
    }

    /// Runs the session on `conn`, a connection the caller dialed to one of the beacon's
    /// locations. The session opens on `HostInput::Opened(conn)` (or at once if the
    /// caller says the connection is open already with `open = true`).
    pub fn attach(
        &mut self,
        id: SessionId,
        conn: ConnId,
        open: bool,
        now: Instant,
    ) -> Result<(), HostError> {
        self.now = now;
        let i = self.index(id)?;
        if self.by_conn.contains_key(&conn) || self.accepted.contains(&conn) {
            return Err(HostError::ConnInUse);
        }
        let entry = self.entry_mut(i)?;
        if entry.place != Place::Detached {
            return Err(HostError::AlreadyPlaced);
        }
        entry.place = Place::Conn(conn);
        self.by_conn.insert(conn, i);
        if open {
            self.session_input(i, SessionInput::Opened);
        }
        Ok(())
    }

    /// Takes the session off its connection (which the caller closes or has lost) without
    /// telling the session; it stays held, detached, for a later [`attach`](Self::attach).
    pub fn detach(&mut self, id: SessionId) -> Result<(), HostError> {
        let i = self.index(id)?;
        let entry = self.entry_mut(i)?;
        match entry.place {
            Place::Conn(c) => {
                entry.place = Place::Detached;
                self.by_conn.remove(&c);
                Ok(())
            }
            Place::Listening => {
                entry.place = Place::Detached;
                self.matchmaker_input(MatchmakerInput::Closed(local(i)));
                Ok(())
            }
            Place::Detached => Ok(()),
        }
    }

    /// Puts the session in the host's matchmaker, waiting for a peer with the same beacon
    /// on an accepted connection (or another listening session). It opens at once.
    pub fn listen(&mut self, id: SessionId, now: Instant) -> Result<(), HostError> {
        self.now = now;
        let i = self.index(id)?;
        let entry = self.entry_mut(i)?;
        if entry.place != Place::Detached {
            return Err(HostError::AlreadyPlaced);
        }
        entry.place = Place::Listening;
        if self.join(i) {
            Ok(())
        } else {
            Err(HostError::MatchmakerFull)
        }
    }

    /// The consumer behind `id`, to read its state.
    pub fn consumer(&self, id: SessionId) -> Option<&HostedConsumer> {
        match &self.entry(id)?.role {
            Role::Consumer(c) => Some(c),
            Role::Provider(_) => None,
        }
    }

    /// The provider behind `id`, to read its state.
    pub fn provider(&self, id: SessionId) -> Option<&HostedProvider> {
        match &self.entry(id)?.role {
            Role::Provider(p) => Some(p),
            Role::Consumer(_) => None,
        }
    }

    /// The sessions serving `account`.
    pub fn account_sessions(&self, account: &Uuid) -> impl Iterator<Item = SessionId> + '_ {
        self.accounts
            .get(account)
            .into_iter()
            .flatten()
            .map(|&i| SessionId {
                index: i,
                generation: self.slots[i as usize].generation,
            })
    }

    /// [`Consumer::request_invoice`] on session `id`.
    pub fn request_invoice(
        &mut self,
        id: SessionId,
        msats: u64,
        now: Instant,
    ) -> Result<Uuid, HostError> {
        self.with_consumer(id, now, |c, rng| c.request_invoice(msats, now, rng))
    }

    /// [`Consumer::pay`] on session `id`.
    pub fn pay(&mut self, id: SessionId, bolt11: &str, now: Instant) -> Result<Uuid, HostError> {
        self.with_consumer(id, now, |c, rng| c.pay(bolt11, now, rng))
    }

    /// [`Provider::set_provider_info`] on session `id`.
    pub fn set_provider_info(
        &mut self,
        id: SessionId,
        info: &ProviderInfo<'_>,
        now: Instant,
    ) -> Result<(), HostError> {
        self.with_provider(id, now, |p| p.set_provider_info(info, now))
    }

    /// Sets the provider info of every session of `account` (each ready consumer gets it as
    /// an update). Returns how many sessions took it; refusals are counted in
    /// [`HostStats::fanout_refused`].
    pub fn set_account_info(
        &mut self,
        account: &Uuid,
        info: &ProviderInfo<'_>,
        now: Instant,
    ) -> usize {
        self.now = now;
        let members = self.accounts.get(account).cloned().unwrap_or_default();
        let mut ok = 0;
        for i in members {
            let Some(Entry {
                role: Role::Provider(p),
                ..
            }) = self.slots[i as usize].entry.as_deref_mut()
            else {
                continue;
            };
            match p.set_provider_info(info, now) {
                Ok(()) => ok += 1,
                Err(_) => self.stats.fanout_refused += 1,
            }
            self.touched(i);
        }
        ok
    }

    /// [`Provider::send_invoice`] on session `id`.
    pub fn send_invoice(
        &mut self,
        id: SessionId,
        request: Uuid,
        bolt11: &str,
        now: Instant,
    ) -> Result<(), HostError> {
        self.with_provider(id, now, |p| p.send_invoice(request, bolt11, now))
    }

    /// [`Provider::send_preimage`] on session `id`.
    pub fn send_preimage(
        &mut self,
        id: SessionId,
        request: Option<Uuid>,
        preimage: &[u8; 32],
        now: Instant,
    ) -> Result<(), HostError> {
        self.with_provider(id, now, |p| p.send_preimage(request, preimage, now))
    }

    /// [`Provider::send_error`] on session `id`.
    pub fn send_error(
        &mut self,
        id: SessionId,
        request: Option<Uuid>,
        error: &str,
        now: Instant,
    ) -> Result<(), HostError> {
        self.with_provider(id, now, |p| p.send_error(request, error, now))
    }

    /// [`Consumer::send_extension`] or [`Provider::send_extension`] on session `id`
    /// (either role).
    pub fn send_extension(
        &mut self,
        id: SessionId,
        msg: &crate::message::opinion::OpinionMessage<'_>,
        now: Instant,
    ) -> Result<(), HostError> {
        self.with_role(id, now, |role, _| {
            match role {
                Role::Consumer(c) => c.send_extension(msg, now),
                Role::Provider(p) => p.send_extension(msg, now),
            }
            .map_err(HostError::Session)
        })
    }

    /// Closes session `id` ([`CloseReason::Local`]); it stays held (a listening session
    /// leaves the matchmaker; an attached one closes its connection).
    pub fn close(&mut self, id: SessionId, now: Instant) -> Result<(), HostError> {
        self.now = now;
        let i = self.index(id)?;
        let e = self.entry_mut(i)?;
        let already = match &mut e.role {
            Role::Consumer(c) => {
                let was = c.is_closed();
                c.close(now);
                was
            }
            Role::Provider(p) => {
                let was = p.is_closed();
                p.close(now);
                was
            }
        };
        // Closed already (its peer left) and waiting to rejoin: it stays out.
        if already && self.rejoin.contains(&i) {
            self.rejoin.retain(|&x| x != i);
            if let Some(e) = slot_mut(&mut self.slots, i) {
                e.place = Place::Detached;
            }
            self.matchmaker_input(MatchmakerInput::Closed(local(i)));
        }
        self.touched(i);
        Ok(())
    }

    /// Processes one transport input at `now`; then drain [`poll_output`](Self::poll_output).
    pub fn handle_input(&mut self, input: HostInput<'_>, now: Instant) {
        self.now = now;
        // Listening sessions whose peer left wait again (not inside a drain: a drain must
        // end even when two of them keep meeting).
        for i in core::mem::take(&mut self.rejoin) {
            self.join(i);
        }
        match input {
            HostInput::Opened(conn) => match self.by_conn.get(&conn) {
                Some(&i) => self.session_input(i, SessionInput::Opened),
                None => {
                    if self.accepted.insert(conn) {
                        self.matchmaker_input(MatchmakerInput::Opened(Endpoint::Remote(conn)));
                    }
                }
            },
            HostInput::Frame(conn, bytes) => {
                if let Some(&i) = self.by_conn.get(&conn) {
                    self.deliver(i, bytes);
                } else if self.accepted.contains(&conn) {
                    self.matchmaker_frame(Endpoint::Remote(conn), bytes);
                } else {
                    self.stats.unknown_conn += 1;
                }
            }
            HostInput::Closed(conn) => {
                if let Some(i) = self.by_conn.remove(&conn) {
                    if let Some(e) = self.slots[i as usize].entry.as_mut() {
                        e.place = Place::Detached;
                    }
                    self.session_input(i, SessionInput::Closed);
                } else if self.accepted.remove(&conn) {
                    self.matchmaker_input(MatchmakerInput::Closed(Endpoint::Remote(conn)));
                } else {
                    self.stats.unknown_conn += 1;
                }
            }
            HostInput::Timeout => self.on_timeout(now),
        }
    }

    /// When to call `handle_input(HostInput::Timeout, now)` next (`None`: no deadline).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.rejoin.is_empty() {
            return Some(self.now);
        }
        let sessions = self.deadlines.first().map(|&(d, _)| d);
        let mm = self.mm.as_ref().and_then(|m| m.poll_timeout());
        match (sessions, mm) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to do, until `None`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<HostOutput<'_>> {
        loop {
            if let Some(q) = self.out.pop_front() {
                return Some(match q {
                    Queued::Transmit(conn, frame) => HostOutput::Transmit { conn, frame },
                    Queued::Forward(from, to) => HostOutput::Forward { from, to },
                    Queued::Close(conn, why) => {
                        self.last_eviction = why;
                        HostOutput::Close { conn }
                    }
                });
            }
            let &i = self.ready.front()?;
            let Some(e) = self.slots.get(i as usize).and_then(|s| s.entry.as_ref()) else {
                self.ready.pop_front();
                continue;
            };
            let next = match &e.role {
                Role::Consumer(c) => c.peek_event(),
                Role::Provider(p) => p.peek_event(),
            };
            match next {
                Some(closed) => {
                    if let Some(reason) = closed {
                        self.on_closed(i, reason);
                    }
                    return self.take_event(i);
                }
                None => {
                    if !self.step(i) {
                        self.ready.pop_front();
                        let (closing, removing) = match slot_mut(&mut self.slots, i) {
                            Some(e) => {
                                e.ready = false;
                                (e.closing, e.removing)
                            }
                            None => (false, false),
                        };
                        if closing {
                            self.finish_close(i);
                        }
                        if removing {
                            self.free(i);
                        } else {
                            self.reindex(i);
                        }
                    }
                }
            }
        }
    }

    // ---- internals ----

    fn insert(&mut self, role: Role, account: Option<Uuid>) -> SessionId {
        let entry = Entry {
            role,
            place: Place::Detached,
            account,
            deadline: None,
            ready: false,
            closing: false,
            removing: false,
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].entry = Some(Box::new(entry));
                i
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: Some(Box::new(entry)),
                });
                (self.slots.len() - 1) as u32
            }
        };
        SessionId {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    fn index(&self, id: SessionId) -> Result<u32, HostError> {
        match self.slots.get(id.index as usize) {
            Some(s)
                if s.generation == id.generation
                    && s.entry.as_ref().is_some_and(|e| !e.removing) =>
            {
                Ok(id.index)
            }
            _ => Err(HostError::UnknownSession),
        }
    }

    fn entry(&self, id: SessionId) -> Option<&Entry> {
        let i = self.index(id).ok()?;
        self.slots[i as usize].entry.as_deref()
    }

    fn entry_mut(&mut self, i: u32) -> Result<&mut Entry, HostError> {
        slot_mut(&mut self.slots, i).ok_or(HostError::UnknownSession)
    }

    /// Runs an app call on session `id`'s role, then queues it for the drain.
    fn with_role<T>(
        &mut self,
        id: SessionId,
        now: Instant,
        f: impl FnOnce(&mut Role, &mut R) -> Result<T, HostError>,
    ) -> Result<T, HostError> {
        self.now = now;
        let i = self.index(id)?;
        let rng = &mut self.rng;
        let r = match self.slots[i as usize].entry.as_deref_mut() {
            Some(e) => f(&mut e.role, rng),
            None => Err(HostError::UnknownSession),
        };
        self.touched(i);
        r
    }

    fn with_consumer<T>(
        &mut self,
        id: SessionId,
        now: Instant,
        f: impl FnOnce(&mut HostedConsumer, &mut R) -> Result<T, crate::session::SessionError>,
    ) -> Result<T, HostError> {
        self.with_role(id, now, |role, rng| match role {
            Role::Consumer(c) => f(c, rng).map_err(HostError::Session),
            Role::Provider(_) => Err(HostError::WrongRole),
        })
    }

    fn with_provider<T>(
        &mut self,
        id: SessionId,
        now: Instant,
        f: impl FnOnce(&mut HostedProvider) -> Result<T, crate::session::SessionError>,
    ) -> Result<T, HostError> {
        self.with_role(id, now, |role, _| match role {
            Role::Provider(p) => f(p).map_err(HostError::Session),
            Role::Consumer(_) => Err(HostError::WrongRole),
        })
    }

    /// The session may have output or a new deadline: queue it for the drain.
    fn touched(&mut self, i: u32) {
        let Some(e) = slot_mut(&mut self.slots, i) else {
            return;
        };
        if !e.ready {
            e.ready = true;
            self.ready.push_back(i);
        }
        self.reindex(i);
    }

    /// Keeps `deadlines` in step with the session's own `poll_timeout`.
    fn reindex(&mut self, i: u32) {
        let Some(e) = slot_mut(&mut self.slots, i) else {
            return;
        };
        let d = match &e.role {
            Role::Consumer(c) => c.poll_timeout(),
            Role::Provider(p) => p.poll_timeout(),
        };
        if d != e.deadline {
            if let Some(old) = e.deadline {
                self.deadlines.remove(&(old, i));
            }
            if let Some(new) = d {
                self.deadlines.insert((new, i));
            }
            e.deadline = d;
        }
    }

    fn session_input(&mut self, i: u32, input: SessionInput<'_>) {
        let now = self.now;
        let Some(e) = slot_mut(&mut self.slots, i) else {
            return;
        };
        match &mut e.role {
            Role::Consumer(c) => c.handle_input(input, now),
            Role::Provider(p) => p.handle_input(input, now),
        }
        self.touched(i);
    }

    /// Hands a received frame to session `i` (copied into the host's buffer, where the
    /// session decrypts it in place).
    fn deliver(&mut self, i: u32, bytes: &[u8]) {
        let Some(dst) = self.buf.get_mut(..bytes.len()) else {
            self.stats.oversized += 1;
            return;
        };
        dst.copy_from_slice(bytes);
        self.stats.frames_in += 1;
        let now = self.now;
        let Some(e) = slot_mut(&mut self.slots, i) else {
            return;
        };
        let frame = SessionInput::Frame(dst);
        match &mut e.role {
            Role::Consumer(c) => c.handle_input(frame, now),
            Role::Provider(p) => p.handle_input(frame, now),
        }
        self.touched(i);
    }

    fn on_timeout(&mut self, now: Instant) {
        // Each due session hears one Timeout per call: a session whose deadline stays due
        // (saturated at the end of time) would otherwise be fired again forever.
        let due: Vec<(Instant, u32)> = self
            .deadlines
            .iter()
            .take_while(|&&(d, _)| d <= now)
            .copied()
            .collect();
        for (d, i) in due {
            self.deadlines.remove(&(d, i));
            if let Some(e) = slot_mut(&mut self.slots, i) {
                e.deadline = None;
            }
            self.session_input(i, SessionInput::Timeout);
        }
        if self
            .mm
            .as_ref()
            .and_then(|m| m.poll_timeout())
            .is_some_and(|d| d <= now)
        {
            self.matchmaker_input(MatchmakerInput::Timeout);
        }
    }

    fn matchmaker(&mut self) -> &mut Mm<CONNS> {
        let rng = &mut self.rng;
        let mut config = self.config.matchmaker;
        // A listening session the matchmaker expires rejoins at once: with a zero timeout
        // it would be due again at the same instant, forever (as zero session intervals).
        config.unpaired_timeout = config
            .unpaired_timeout
            .max(core::time::Duration::from_millis(1));
        self.mm
            .get_or_insert_with(|| Box::new(Matchmaker::new(config, HashRng::from_rng(rng))))
    }

    /// A listening session enters the matchmaker and opens; false if the matchmaker is
    /// full (the session is then detached).
    fn join(&mut self, i: u32) -> bool {
        let listening = |slots: &[Slot]| {
            matches!(
                slots.get(i as usize).and_then(|s| s.entry.as_deref()),
                Some(Entry {
                    place: Place::Listening,
                    ..
                })
            )
        };
        if !listening(&self.slots) {
            return false;
        }
        self.matchmaker_input(MatchmakerInput::Opened(local(i)));
        if !listening(&self.slots) {
            return false;
        }
        self.session_input(i, SessionInput::Opened);
        true
    }

    fn matchmaker_input(&mut self, input: MatchmakerInput<'_>) {
        let now = self.now;
        self.matchmaker().handle_input(input, now);
        self.matchmaker_drain(None);
    }

    /// A frame from `from` into the matchmaker; forwards to local sessions are delivered
    /// from `bytes`.
    fn matchmaker_frame(&mut self, from: Endpoint, bytes: &[u8]) {
        let now = self.now;
        self.matchmaker()
            .handle_input(MatchmakerInput::Frame(from, bytes), now);
        self.matchmaker_drain(Some(bytes));
    }

    fn matchmaker_drain(&mut self, frame: Option<&[u8]>) {
        while let Some(o) = self.mm.as_mut().and_then(|m| m.poll_output()) {
            match o {
                MatchmakerOutput::Transmit { to, frame: f } => match to {
                    Endpoint::Remote(c) => self.out.push_back(Queued::Transmit(c, f.to_vec())),
                    Endpoint::Local(l) => self.deliver(l.0, &f),
                },
                MatchmakerOutput::Forward { from, to } => {
                    let Some(bytes) = frame else { continue };
                    match (from, to) {
                        (Endpoint::Remote(a), Endpoint::Remote(b)) => {
                            self.stats.bytes_forwarded += bytes.len() as u64;
                            self.out.push_back(Queued::Forward(a, b))
                        }
                        (_, Endpoint::Remote(b)) => {
                            self.out.push_back(Queued::Transmit(b, bytes.to_vec()))
                        }
                        (_, Endpoint::Local(l)) => self.deliver(l.0, bytes),
                    }
                }
                MatchmakerOutput::Close { endpoint, reason } => match endpoint {
                    Endpoint::Remote(c) => {
                        self.accepted.remove(&c);
                        self.out.push_back(Queued::Close(c, Some(reason)));
                    }
                    // The table is full: the session cannot listen.
                    Endpoint::Local(l) if reason == Eviction::Full => {
                        self.stats.listen_refused += 1;
                        if let Some(e) = slot_mut(&mut self.slots, l.0) {
                            e.place = Place::Detached;
                        }
                    }
                    // Evicted (expired unpaired, or END sent after its peer left): the
                    // session learns it from the transport's point of view.
                    Endpoint::Local(l) => self.session_input(l.0, SessionInput::Closed),
                },
            }
        }
    }

    /// Drains one frame of session `i` (whose next output is not an event) and routes it;
    /// false once the session has nothing more.
    fn step(&mut self, i: u32) -> bool {
        let Some(e) = slot_mut(&mut self.slots, i) else {
            return false;
        };
        let place = e.place;
        let (buf, rng) = (&mut self.buf, &mut self.rng);
        let len = match &mut e.role {
            Role::Consumer(c) => match c.poll_output(rng, buf) {
                Some(SessionOutput::Transmit(f)) => f.len(),
                Some(_) => return true,
                None => return false,
            },
            Role::Provider(p) => match p.poll_output(rng, buf) {
                Some(SessionOutput::Transmit(f)) => f.len(),
                Some(_) => return true,
                None => return false,
            },
        };
        self.stats.frames_out += 1;
        match place {
            Place::Conn(c) => self
                .out
                .push_back(Queued::Transmit(c, self.buf[..len].to_vec())),
            Place::Listening => {
                let frame = self.buf[..len].to_vec();
                self.matchmaker_frame(local(i), &frame);
            }
            // Not on any transport (closed, or removed from it): nowhere to go.
            Place::Detached => {}
        }
        true
    }

    /// Pops session `i`'s next output, an event (checked by the caller with `peek_event`).
    fn take_event(&mut self, i: u32) -> Option<HostOutput<'_>> {
        let generation = self.slots.get(i as usize)?.generation;
        let session = SessionId {
            index: i,
            generation,
        };
        let e = self.slots.get_mut(i as usize)?.entry.as_mut()?;
        let (buf, rng) = (&mut self.buf, &mut self.rng);
        let event = match &mut e.role {
            Role::Consumer(c) => match c.poll_output(rng, buf)? {
                SessionOutput::Event(ev) => SessionEvent::Consumer(ev),
                _ => return None,
            },
            Role::Provider(p) => match p.poll_output(rng, buf)? {
                SessionOutput::Event(ev) => SessionEvent::Provider(ev),
                _ => return None,
            },
        };
        Some(HostOutput::Event { session, event })
    }

    /// Session `i` reports it closed. Closed by the app: its last frames still go out, then
    /// its connection closes or it leaves the matchmaker. Otherwise a session on a
    /// connection closes it, and a listening session waits for its next peer, unless its
    /// peer played the same role or never completed the handshake (it would meet that peer
    /// again at once): then it stops listening.
    fn on_closed(&mut self, i: u32, reason: CloseReason) {
        let Some(e) = slot_mut(&mut self.slots, i) else {
            return;
        };
        if reason == CloseReason::Local {
            e.closing = e.place != Place::Detached;
            return;
        }
        match e.place {
            // The transport is gone already; a newer connection may be attached by now.
            Place::Conn(_) if reason == CloseReason::TransportClosed => {}
            Place::Conn(c) => {
                e.place = Place::Detached;
                self.by_conn.remove(&c);
                self.out.push_back(Queued::Close(c, None));
            }
            Place::Listening => {
                if matches!(
                    reason,
                    CloseReason::WrongRole | CloseReason::HandshakeTimeout
                ) {
                    e.place = Place::Detached;
                    self.stats.listen_stopped += 1;
                } else if !e.removing {
                    self.rejoin.push(i);
                }
                // Gone from the matchmaker already if it evicted the session; else now.
                self.matchmaker_input(MatchmakerInput::Closed(local(i)));
            }
            Place::Detached => {}
        }
    }
}

/// The entry in slot `i`, if a session lives there.
fn slot_mut(slots: &mut [Slot], i: u32) -> Option<&mut Entry> {
    slots
        .get_mut(i as usize)
        .and_then(|s| s.entry.as_deref_mut())
}

fn local(i: u32) -> Endpoint {
    Endpoint::Local(LocalId(i))
}

#[cfg(test)]
mod tests;
