//! The bounded output queue shared by the sessions.

use heapless::Deque;

use super::{Frame, Output};
use crate::time::Instant;

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

    /// The next output; `deadline` is computed only when the queue is empty.
    pub(crate) fn poll(
        &mut self,
        deadline: impl FnOnce() -> Option<Instant>,
    ) -> Option<Output<E, N>> {
        if let Some(o) = self.queue.pop_front() {
            return Some(o);
        }
        if self.report_deadline {
            self.report_deadline = false;
            return Some(Output::Timeout(deadline()));
        }
        None
    }
}
