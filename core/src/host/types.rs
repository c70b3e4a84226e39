//! The session host's vocabulary: handles, inputs, outputs, errors, configuration, counters.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::conn::ConnId;
use crate::matchmaker::MatchmakerConfig;
use crate::session::{ConsumerEvent, ProviderEvent, SessionError, DEFAULT_MAX_FRAME};

/// A session held by a [`SessionHost`](super::SessionHost). Handles are never reused for
/// another session: a stale handle is refused with [`HostError::UnknownSession`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}.{}", self.index, self.generation)
    }
}

/// Something that happened on the caller's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostInput<'a> {
    /// A connection is open: one the caller dialed for a session
    /// ([`SessionHost::attach`](super::SessionHost::attach)), or one accepted on a listener
    /// (it meets listening sessions and other accepted connections in the host's
    /// matchmaker).
    Opened(ConnId),
    /// An accepted connection is open, in a budget group (for instance its peer's address
    /// prefix, [`Group::of_ip`](crate::matchmaker::Group::of_ip)): as `Opened`, and the
    /// matchmaker counts it in the group's share of unpaired connections
    /// ([`MatchmakerConfig::max_unpaired_per_group`]).
    OpenedIn(ConnId, crate::matchmaker::Group),
    /// One whole binary websocket message arrived on a connection.
    Frame(ConnId, &'a [u8]),
    /// A connection closed (either side, or it failed).
    Closed(ConnId),
    /// [`SessionHost::poll_timeout`](super::SessionHost::poll_timeout)'s deadline passed.
    Timeout,
}

/// What a session reports, by role. `S` is the text type: `&str` borrowed from the host
/// until its next poll, or `String` after [`SessionEvent::into_owned`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent<S> {
    /// From a consumer session.
    Consumer(ConsumerEvent<S>),
    /// From a provider session.
    Provider(ProviderEvent<S>),
}

impl<S> SessionEvent<S> {
    /// The close reason, if this is a session's `Closed`.
    pub fn closed(&self) -> Option<crate::session::CloseReason> {
        match self {
            SessionEvent::Consumer(ConsumerEvent::Closed(r))
            | SessionEvent::Provider(ProviderEvent::Closed(r)) => Some(*r),
            _ => None,
        }
    }

    /// Whether the session just became ready (a consumer's provider info, a provider's
    /// `ConsumerReady`).
    pub fn is_ready(&self) -> bool {
        matches!(
            self,
            SessionEvent::Consumer(ConsumerEvent::Provider(_))
                | SessionEvent::Provider(ProviderEvent::ConsumerReady)
        )
    }
}

impl SessionEvent<&str> {
    /// An owned copy, to keep past the next poll.
    pub fn into_owned(self) -> SessionEvent<String> {
        match self {
            SessionEvent::Consumer(e) => SessionEvent::Consumer(e.map_text(str::to_owned)),
            SessionEvent::Provider(e) => SessionEvent::Provider(e.map_text(str::to_owned)),
        }
    }
}

/// Something the caller must do or may want to know, in order. Drain
/// [`SessionHost::poll_output`](super::SessionHost::poll_output) after every input and
/// every call.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostOutput<'a> {
    /// Send `frame` as one binary websocket message on `conn`.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The frame (owned: hand it to the transport without copying).
        frame: Vec<u8>,
    },
    /// Send the frame given in the last `HostInput::Frame(from, ..)` unchanged on `to`
    /// (relaying between two accepted connections; the frame is not copied).
    Forward {
        /// Where the frame came from.
        from: ConnId,
        /// Where it goes.
        to: ConnId,
    },
    /// Close `conn` (the host has forgotten it).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// An event of one session; texts borrow the host until the next poll.
    Event {
        /// The session.
        session: SessionId,
        /// What happened.
        event: SessionEvent<&'a str>,
    },
}

/// Why a host call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HostError {
    /// No such session (removed, or never existed).
    UnknownSession,
    /// The call is for the other role (e.g. `pay` on a provider).
    WrongRole,
    /// The session already runs on a connection or listens.
    AlreadyPlaced,
    /// The connection already carries another session, or is an accepted one.
    ConnInUse,
    /// The host's matchmaker is full: the session cannot listen.
    MatchmakerFull,
    /// The session refused the call.
    Session(SessionError),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::UnknownSession => f.write_str("no such session"),
            HostError::WrongRole => f.write_str("the session plays the other role"),
            HostError::AlreadyPlaced => f.write_str("the session is already placed"),
            HostError::ConnInUse => f.write_str("the connection is already in use"),
            HostError::MatchmakerFull => f.write_str("the host's matchmaker is full"),
            HostError::Session(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HostError {}

impl From<SessionError> for HostError {
    fn from(e: SessionError) -> Self {
        HostError::Session(e)
    }
}

/// Host tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostConfig {
    /// The matchmaker of accepted connections and listening sessions.
    pub matchmaker: MatchmakerConfig,
    /// Largest frame, in bytes: the host's frame buffer, and the limit it checks before
    /// handing a frame to a session. Use the transport's `max_frame` and the sessions'.
    pub max_frame: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            matchmaker: MatchmakerConfig::default(),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// Host counters (the matchmaker and the sessions keep their own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HostStats {
    /// Sessions held now.
    pub sessions: usize,
    /// Frames handed to sessions.
    pub frames_in: u64,
    /// Frames sessions sent (to connections or through the matchmaker).
    pub frames_out: u64,
    /// Inputs naming a connection the host does not know.
    pub unknown_conn: u64,
    /// Frames above `max_frame` dropped before reaching a session.
    pub oversized: u64,
    /// Provider-info updates of an account that a session refused (queue full).
    pub fanout_refused: u64,
    /// Listening sessions the full matchmaker turned away.
    pub listen_refused: u64,
    /// Listening sessions that stopped listening because their peer played the same role
    /// or never completed the handshake (they would meet it again at once).
    pub listen_stopped: u64,
    /// Bytes of the frames relayed between two accepted connections
    /// ([`HostOutput::Forward`]; the matchmaker counts the frames).
    pub bytes_forwarded: u64,
}
