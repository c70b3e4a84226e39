//! Endpoint ids shared by the core's state machines and the transports that drive them.
//!
//! A [`ConnId`] names a connection of a transport (a websocket, a serial link); a
//! [`LocalId`] names an in-process endpoint, such as a provider session a listening
//! terminus hosts itself. The two are separate id spaces: an [`Endpoint`] says which one an
//! id belongs to, so `Endpoint::Remote(ConnId(3))` and `Endpoint::Local(LocalId(3))` are
//! different endpoints.

/// A connection id assigned by the transport (the caller of a state machine). Ids may be
/// reused once the connection is gone, after the state machine was told it closed or after
/// it asked for the close itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnId(pub u32);

/// An in-process endpoint id, minted by a session host for a session it runs itself. Its
/// own id space, never a [`ConnId`]: a local endpoint has no transport connection. Reusable
/// under the same rules as a [`ConnId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LocalId(pub u32);

/// One end of a rendezvous: a transport connection or an in-process endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Endpoint {
    /// A connection of a transport.
    Remote(ConnId),
    /// An endpoint inside this process (a hosted session).
    Local(LocalId),
}

impl From<ConnId> for Endpoint {
    fn from(c: ConnId) -> Self {
        Endpoint::Remote(c)
    }
}

impl From<LocalId> for Endpoint {
    fn from(l: LocalId) -> Self {
        Endpoint::Local(l)
    }
}

impl Endpoint {
    /// The connection id of a remote endpoint.
    pub fn remote(self) -> Option<ConnId> {
        match self {
            Endpoint::Remote(c) => Some(c),
            Endpoint::Local(_) => None,
        }
    }

    /// The id of a local endpoint.
    pub fn local(self) -> Option<LocalId> {
        match self {
            Endpoint::Local(l) => Some(l),
            Endpoint::Remote(_) => None,
        }
    }
}
