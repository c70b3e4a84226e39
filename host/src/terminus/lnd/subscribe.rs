//! The settlement stream: one long-lived `GET /v1/invoices/subscribe?settle_index=N` on a
//! background thread, feeding a channel; it reconnects with backoff from the last
//! `settle_index` it passed on when the stream drops. Re-checking the invoices still open
//! after a reconnect is the terminus's job (it knows which are pending).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::json::Item;
use super::{settled, Client};
use crate::terminus::node::{NodeError, SettledInvoice};

/// First and longest pause between reconnections.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

enum Event {
    /// The stream is (re)opened.
    Up,
    /// A settlement.
    Settled(SettledInvoice),
    /// The stream broke or could not be opened (the reader retries).
    Down(String),
}

struct Reader {
    rx: Receiver<Event>,
    stop: Arc<AtomicBool>,
}

impl Drop for Reader {
    fn drop(&mut self) {
        // The thread ends at its next event or reconnection attempt.
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The consumer side of the stream: what arrived and is not yet acknowledged.
pub(crate) struct Subscription {
    client: Client,
    reader: Option<Reader>,
    /// Every settlement with an index in (floor, last received] is in `buffer`.
    floor: u64,
    buffer: BTreeMap<u64, SettledInvoice>,
    down: Option<String>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("floor", &self.floor)
            .field("buffered", &self.buffer.len())
            .field("down", &self.down)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(client: Client) -> Self {
        Subscription {
            client,
            reader: None,
            floor: 0,
            buffer: BTreeMap::new(),
            down: None,
        }
    }

    fn start(&mut self, after: u64) {
        self.reader = None;
        self.buffer.clear();
        self.floor = after;
        self.down = None;
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let client = self.client.clone();
        let thread_stop = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("lnd-invoices".into())
            .spawn(move || run(&client, after, &tx, &thread_stop));
        match spawned {
            Ok(_) => self.reader = Some(Reader { rx, stop }),
            Err(e) => self.down = Some(format!("cannot start the stream reader: {e}")),
        }
    }

    fn absorb(&mut self, ev: Event) {
        match ev {
            Event::Up => self.down = None,
            Event::Down(m) => self.down = Some(m),
            Event::Settled(s) => {
                if s.settle_index > self.floor {
                    self.buffer.insert(s.settle_index, s);
                }
            }
        }
    }

    /// Settlements with `settle_index > after`, oldest first, waiting up to `wait` for the
    /// first. Asking again from the same `after` returns them again; asking from an index
    /// below what was acknowledged reopens the stream from there.
    pub(crate) fn settled_since(
        &mut self,
        after: u64,
        wait: Duration,
    ) -> Result<Vec<SettledInvoice>, NodeError> {
        if self.reader.is_none() || after < self.floor {
            self.start(after);
        } else if after > self.floor {
            self.floor = after;
            self.buffer = match after.checked_add(1) {
                Some(next) => self.buffer.split_off(&next),
                None => BTreeMap::new(),
            };
        }
        let deadline = Instant::now() + wait;
        while let Some(reader) = &self.reader {
            let mut events = Vec::new();
            let mut gone = false;
            loop {
                match reader.rx.try_recv() {
                    Ok(ev) => events.push(ev),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        gone = true;
                        break;
                    }
                }
            }
            if events.is_empty() && !gone {
                if !self.buffer.is_empty() {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                match reader.rx.recv_timeout(left) {
                    Ok(ev) => events.push(ev),
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => gone = true,
                }
            }
            for ev in events {
                self.absorb(ev);
            }
            if gone {
                self.reader = None;
                self.down
                    .get_or_insert_with(|| "the stream reader stopped".to_owned());
                break;
            }
            if !self.buffer.is_empty() {
                // Take whatever else is already there, then answer.
                if let Some(reader) = &self.reader {
                    let more: Vec<Event> = reader.rx.try_iter().collect();
                    for ev in more {
                        self.absorb(ev);
                    }
                }
                break;
            }
        }
        if self.buffer.is_empty() {
            if let Some(m) = &self.down {
                return Err(NodeError::Unavailable(format!("invoice stream: {m}")));
            }
        }
        Ok(self.buffer.values().cloned().collect())
    }
}

/// The reader thread: opens the stream from `after`, passes settlements on, reconnects.
fn run(client: &Client, after: u64, tx: &Sender<Event>, stop: &AtomicBool) {
    let mut last = after;
    let mut backoff = BACKOFF_MIN;
    while !stop.load(Ordering::SeqCst) {
        let path = format!("/v1/invoices/subscribe?settle_index={last}");
        let why = match client.stream(&client.stream_agent, "GET", &path, None, None) {
            Ok(mut lines) => {
                if tx.send(Event::Up).is_err() {
                    return;
                }
                backoff = BACKOFF_MIN;
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    match lines.next_item() {
                        Ok(Some(Item::Result(v))) => match settled(&v) {
                            Ok(Some(s)) if s.settle_index > last => {
                                last = s.settle_index;
                                if tx.send(Event::Settled(s)).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            // Never skip a settlement: reopen from `last` (and say so).
                            Err(e) => break format!("unreadable invoice event: {e}"),
                        },
                        Ok(Some(Item::Error(s))) => break s.message,
                        Ok(None) => break "the stream ended".to_owned(),
                        Err(e) => break e,
                    }
                }
            }
            Err(e) => client.node_error(e).to_string(),
        };
        tracing::warn!("LND invoice stream: {why}; reconnecting from settle_index {last}");
        if tx.send(Event::Down(why)).is_err() {
            return;
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
