//! The bounded output queue shared by the sessions.

use heapless::Deque;

use rand_core::{CryptoRng, RngCore};

use super::link::Link;
use super::{Frame, Output};
use crate::message::Message;

/// Outputs waiting for `poll_output`, plus the "report the deadline last" flag.
#[derive(Debug)]
pub(crate) struct Outbox<E, const N: usize, const Q: usize> {
    queue: Deque<Output<E, N>, Q>,
    report_deadline: bool,
    /// Outputs lost because the caller did not drain (should stay 0).
    pub(crate) overflow: u64,
}

impl<E, const N: usize, const Q: usize> Outbox<E, N, Q> {
    pub(crate) const fn new() -> Self {
        Outbox {
            queue: Deque::new(),
            report_deadline: false,
            overflow: 0,
        }
    }

    fn push(&mut self, o: Output<E, N>) {
        if self.queue.push_back(o).is_err() {
            self.overflow += 1;
        }
    }

    pub(crate) fn transmit(&mut self, f: Frame<N>) {
        self.push(Output::Transmit(f));
    }

    /// Encodes `msg` on `link` and queues the frame. Only the sessions' own fixed-size
    /// messages come through here (they always fit `N >= 256`); a failure counts as lost.
    pub(crate) fn send<R: RngCore + CryptoRng>(&mut self, link: &mut Link<R>, msg: &Message<'_>) {
        match link.encode(msg) {
            Ok(f) => self.transmit(f),
            Err(_) => self.overflow += 1,
        }
    }

    pub(crate) fn event(&mut self, e: E) {
        self.push(Output::Event(e));
    }

    /// Free slots.
    pub(crate) fn room(&self) -> usize {
        Q - self.queue.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Something changed: the next drain ends with the deadline.
    pub(crate) fn touch(&mut self) {
        self.report_deadline = true;
    }

    /// The next queued output (the deadline is reported by the session, last).
    pub(crate) fn pop(&mut self) -> Option<Output<E, N>> {
        self.queue.pop_front()
    }

    /// Whether the drain in progress must end with the deadline (once per input).
    pub(crate) fn take_deadline_report(&mut self) -> bool {
        core::mem::take(&mut self.report_deadline)
    }
}
