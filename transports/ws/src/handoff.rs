//! Several event loops in one process: an accepted connection is routed by its first binary
//! message to the loop (worker) that owns it, so that connections that belong together
//! (both ends of a relay pair) live on one loop and a forwarded frame never crosses threads.
//!
//! Each worker's transport gives out an [`Inbox`]; each gets a [`Router`] holding every
//! worker's inbox and the caller's rule. A connection accepted with a router is not
//! announced until its first binary message arrives: the rule names its owner, and the
//! transport either announces it here ([`Event::Opened`](crate::Event::Opened), then the
//! message as [`Event::Frame`](crate::Event::Frame)) or moves it, socket, TLS session,
//! websocket and buffered input, to the owner's inbox, whose transport announces it the
//! same way. Input behind the first message travels in the moved buffers or stays in the
//! socket, so nothing is reordered. A connection that sends no binary message within the
//! router's timeout is dropped unannounced.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use mio::Waker;
use tungstenite::Bytes;

use crate::conn::Conn;

/// A connection on its way to the worker that owns it, with its first message.
pub(crate) struct Moved {
    pub conn: Conn,
    pub first: Bytes,
}

/// Where a transport receives connections moved to it (cheap to clone; give one to every
/// worker's [`Router`]).
#[derive(Clone)]
pub struct Inbox {
    pub(crate) tx: mpsc::Sender<Moved>,
    pub(crate) waker: Arc<Waker>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox")
    }
}

/// The rule that gives an accepted connection's first binary message an owner.
pub type Route = Box<dyn FnMut(&[u8]) -> Option<usize> + Send>;

/// How a transport routes the connections it accepts (see the module documentation).
pub struct Router {
    pub(crate) me: usize,
    pub(crate) inboxes: Vec<Inbox>,
    pub(crate) first_frame_timeout: Duration,
    pub(crate) route: Route,
}

impl Router {
    /// A router for worker `me` of `inboxes.len()` workers (`inboxes[me]` is its own).
    /// `route` names the owner of a first message: `Some(i)` for worker `i`, `None` (or
    /// `me`, or a number without a worker) to keep the connection here. A connection has
    /// `first_frame_timeout` from its websocket handshake to its first binary message.
    pub fn new(
        me: usize,
        inboxes: Vec<Inbox>,
        first_frame_timeout: Duration,
        route: impl FnMut(&[u8]) -> Option<usize> + Send + 'static,
    ) -> Self {
        Router {
            me,
            inboxes,
            first_frame_timeout,
            route: Box::new(route),
        }
    }

    /// The worker to move a connection with this first message to, if not this one.
    pub(crate) fn owner(&mut self, first: &[u8]) -> Option<usize> {
        (self.route)(first).filter(|&i| i != self.me && i < self.inboxes.len())
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("me", &self.me)
            .field("workers", &self.inboxes.len())
            .field("first_frame_timeout", &self.first_frame_timeout)
            .finish()
    }
}
