//! Streaming payments: paying per event, many times a second.
//!
//! * [`PayWindow`]: one Lightning payment per event, up to `window` events in flight (a
//!   game pays per hit). Each event gets a fresh invoice from an [`InvoiceSource`] (e.g.
//!   the payee's own [`Handle`]), then the payer pays it; both steps are pipelined on the
//!   clients' threads.
//! * [`Meter`]: events only accrue msats; a background thread settles what is owed (one
//!   invoice, one payment) every `settle_every` or once `settle_at_msats` are owed, and on
//!   close, so event rates far above what Lightning carries one payment at a time work.
//!
//! Accounting is exact in msat. Every event's amount is in exactly one bucket: paid,
//! failed (certainly not paid: the invoice never came or the provider refused the
//! payment), in flight, or unknown (the payment timed out or the link dropped while it was
//! out: it may or may not have gone through).

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{ClientError, Handle};

/// Where the invoices come from: something that asks the payee for an invoice of `msats`
/// without blocking and hands the BOLT11 to `done`.
pub trait InvoiceSource: Send + Sync {
    /// Starts getting an invoice for exactly `msats`.
    fn invoice(&self, msats: u64, done: Box<dyn FnOnce(Result<String, ClientError>) + Send>);
}

/// The payee's own client: its provider makes the invoices, for exactly the amount asked
/// (an invoice rounded to a whole sat fails as [`ClientError::WrongAmount`]: with such a
/// provider, pay whole sats per event, or set [`MeterConfig::settle_unit_msats`] to 1000).
impl InvoiceSource for Handle {
    fn invoice(&self, msats: u64, done: Box<dyn FnOnce(Result<String, ClientError>) + Send>) {
        self.request_exact_invoice_with(msats, done);
    }
}

/// Whether a payment that failed this way may still have gone out.
fn uncertain(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Timeout
            | ClientError::Disconnected
            | ClientError::Closed
            | ClientError::WrongPreimage
    )
}

/// One finished event of a [`PayWindow`].
#[derive(Debug, Clone)]
pub struct Completion {
    /// The event's number (from 0, in the order of [`PayWindow::pay`]).
    pub id: u64,
    /// Its amount.
    pub msats: u64,
    /// When [`PayWindow::pay`] started it (after any wait for room in the window).
    pub started: Instant,
    /// From the event to its answer (invoice and payment).
    pub latency: Duration,
    /// The preimage, or why not.
    pub result: Result<[u8; 32], ClientError>,
    /// The payment failed in a way that leaves open whether it went out (it timed out or
    /// the link dropped while it was out); `false` when paid or certainly not paid.
    pub uncertain: bool,
}

/// Counts of a stream, in events and msat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Events started.
    pub events: u64,
    /// msat of all events started.
    pub msats: u64,
    /// Events paid (preimage checked).
    pub paid: u64,
    /// msat paid.
    pub paid_msats: u64,
    /// Events certainly not paid.
    pub failed: u64,
    /// msat certainly not paid.
    pub failed_msats: u64,
    /// Events whose payment may or may not have gone out.
    pub unknown: u64,
    /// msat of those.
    pub unknown_msats: u64,
    /// Events not answered yet.
    pub in_flight: u64,
    /// msat of those.
    pub in_flight_msats: u64,
}

impl StreamStats {
    fn record(&mut self, c: &Completion) {
        self.in_flight -= 1;
        self.in_flight_msats -= c.msats;
        match &c.result {
            Ok(_) => {
                self.paid += 1;
                self.paid_msats += c.msats;
            }
            Err(_) if c.uncertain => {
                self.unknown += 1;
                self.unknown_msats += c.msats;
            }
            Err(_) => {
                self.failed += 1;
                self.failed_msats += c.msats;
            }
        }
    }
}

/// Tunables of a [`PayWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConfig {
    /// Events in flight at most; [`PayWindow::pay`] blocks while that many are out.
    /// Default 8 (a consumer session holds 8 requests; more wait in the client).
    pub window: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig { window: 8 }
    }
}

/// One payment per event with up to `window` events in flight. See the module docs.
pub struct PayWindow {
    payer: Handle,
    source: Arc<dyn InvoiceSource>,
    window: usize,
    /// Longest wait for one answer (the two calls' timeouts, and a margin).
    patience: Duration,
    tx: Sender<Completion>,
    rx: Receiver<Completion>,
    next: u64,
    done: VecDeque<Completion>,
    stats: StreamStats,
}

impl std::fmt::Debug for PayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayWindow")
            .field("window", &self.window)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl PayWindow {
    /// A window paying from `payer` the invoices of `source`.
    pub fn new(payer: Handle, source: impl InvoiceSource + 'static, config: WindowConfig) -> Self {
        let (tx, rx) = mpsc::channel();
        let patience = payer.config().request_timeout * 2 + Duration::from_secs(5);
        PayWindow {
            payer,
            source: Arc::new(source),
            window: config.window.max(1),
            patience,
            tx,
            rx,
            next: 0,
            done: VecDeque::new(),
            stats: StreamStats::default(),
        }
    }

    /// Starts paying `msats` for one event, after waiting (if the window is full) for an
    /// earlier one to finish. Returns the event's number.
    pub fn pay(&mut self, msats: u64) -> Result<u64, ClientError> {
        if msats == 0 {
            return Err(ClientError::Request(
                moneysocket_core::session::SessionError::InvalidAmount,
            ));
        }
        while self.stats.in_flight >= self.window as u64 {
            self.wait_one(self.patience)?;
        }
        let id = self.next;
        self.next += 1;
        self.stats.events += 1;
        self.stats.msats += msats;
        self.stats.in_flight += 1;
        self.stats.in_flight_msats += msats;
        let started = Instant::now();
        let tx = self.tx.clone();
        let payer = self.payer.clone();
        self.source.invoice(
            msats,
            Box::new(move |r| {
                let finish = move |result: Result<[u8; 32], ClientError>, paying: bool| {
                    let uncertain = paying && result.as_ref().err().is_some_and(uncertain);
                    let _ = tx.send(Completion {
                        id,
                        msats,
                        started,
                        latency: started.elapsed(),
                        result,
                        uncertain,
                    });
                };
                match r {
                    Ok(bolt11) => {
                        payer.pay_with(&bolt11, move |r| finish(r, true));
                    }
                    // no invoice: nothing was paid
                    Err(e) => finish(Err(e), false),
                }
            }),
        );
        Ok(id)
    }

    /// Waits up to `timeout` for one more event to finish; `Err(Timeout)` if none did.
    fn wait_one(&mut self, timeout: Duration) -> Result<(), ClientError> {
        match self.rx.recv_timeout(timeout) {
            Ok(c) => {
                self.stats.record(&c);
                self.done.push_back(c);
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(ClientError::Timeout),
            // we hold a sender: cannot happen
            Err(RecvTimeoutError::Disconnected) => Err(ClientError::Closed),
        }
    }

    /// Takes the events finished so far (also those collected while [`pay`](Self::pay)
    /// waited), in the order they finished.
    pub fn take_completions(&mut self) -> Vec<Completion> {
        while let Ok(c) = self.rx.try_recv() {
            self.stats.record(&c);
            self.done.push_back(c);
        }
        self.done.drain(..).collect()
    }

    /// Waits (up to `timeout`) until no event is in flight; the counts then.
    pub fn finish(&mut self, timeout: Duration) -> StreamStats {
        let until = Instant::now() + timeout;
        while self.stats.in_flight > 0 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.wait_one(left).is_err() {
                break;
            }
        }
        self.stats
    }

    /// The counts so far (events finished but not yet collected count as in flight).
    pub fn stats(&self) -> StreamStats {
        self.stats
    }
}

/// Tunables of a [`Meter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterConfig {
    /// Settle what is owed at least this often (default 1 s); also the retry delay after a
    /// failed settle.
    pub settle_every: Duration,
    /// Settle as soon as this much is owed (default 100,000 msat).
    pub settle_at_msats: u64,
    /// How long [`Meter::close`] (and drop) keeps trying to settle the rest (default 30 s).
    pub close_timeout: Duration,
    /// Settle only multiples of this (default 1 msat); the remainder stays owed, also at
    /// close. 1000 for providers that make invoices in whole sats.
    pub settle_unit_msats: u64,
}

impl Default for MeterConfig {
    fn default() -> Self {
        MeterConfig {
            settle_every: Duration::from_secs(1),
            settle_at_msats: 100_000,
            close_timeout: Duration::from_secs(30),
            settle_unit_msats: 1,
        }
    }
}

/// Where a [`Meter`]'s msats are; `accrued = settled + owed + settling + unknown` always.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterStats {
    /// Events accrued.
    pub events: u64,
    /// msat accrued in all.
    pub accrued_msats: u64,
    /// msat paid (settles whose preimage came back).
    pub settled_msats: u64,
    /// msat owed, not being settled.
    pub owed_msats: u64,
    /// msat of the settle under way (also one whose payment is uncertain, until a retry
    /// of the same invoice resolves it).
    pub settling_msats: u64,
    /// msat of a settle whose payment may or may not have gone out and that could not be
    /// resolved by paying the same invoice again, before close (never paid with a new
    /// invoice: that could pay twice).
    pub unknown_msats: u64,
    /// Settles paid.
    pub settles: u64,
    /// Settle attempts that failed (each retried or reported).
    pub failed_settles: u64,
    /// The last failure.
    pub last_error: Option<ClientError>,
}

#[derive(Debug, Default)]
struct MeterState {
    stats: MeterStats,
    closing: bool,
    /// A settle's invoice whose payment is uncertain: paid again (the same invoice, never a
    /// new one) until it resolves.
    retry: Option<(String, u64)>,
}

struct MeterShared {
    state: Mutex<MeterState>,
    changed: Condvar,
}

impl MeterShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accrues msats per event and settles them in bulk. See the module docs.
pub struct Meter {
    shared: Arc<MeterShared>,
    config: MeterConfig,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Meter {
    /// A meter paying from `payer` the invoices of `source`; its settling thread starts.
    pub fn start(
        payer: Handle,
        source: impl InvoiceSource + 'static,
        config: MeterConfig,
    ) -> Result<Meter, ClientError> {
        let shared = Arc::new(MeterShared {
            state: Mutex::new(MeterState::default()),
            changed: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("moneysocket-meter".to_owned())
                .spawn(move || settle_loop(&shared, &payer, &source, config))
                .map_err(|e| ClientError::Io(e.to_string()))?
        };
        Ok(Meter {
            shared,
            config,
            thread: Some(thread),
        })
    }

    /// Adds `msats` for one event (cheap: no I/O). Refused only if the total would overflow
    /// `u64` (nothing is added then).
    pub fn accrue(&self, msats: u64) -> Result<(), ClientError> {
        let mut s = self.shared.lock();
        let (Some(total), Some(owed)) = (
            s.stats.accrued_msats.checked_add(msats),
            s.stats.owed_msats.checked_add(msats),
        ) else {
            return Err(ClientError::Request(
                moneysocket_core::session::SessionError::InvalidAmount,
            ));
        };
        s.stats.accrued_msats = total;
        s.stats.owed_msats = owed;
        s.stats.events += 1;
        let wake = owed >= self.config.settle_at_msats;
        drop(s);
        if wake {
            self.shared.changed.notify_all();
        }
        Ok(())
    }

    /// Where the msats are now.
    pub fn stats(&self) -> MeterStats {
        self.shared.lock().stats.clone()
    }

    /// Settles what is owed (trying up to [`MeterConfig::close_timeout`]) and stops; the
    /// final counts (`owed_msats` > 0: it could not all be settled, see `last_error`, or it
    /// is less than [`MeterConfig::settle_unit_msats`]).
    pub fn close(mut self) -> MeterStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The settling thread: waits until a settle is due, settles, repeats; on close settles the
/// rest until done or the close timeout.
fn settle_loop(
    shared: &MeterShared,
    payer: &Handle,
    source: &dyn InvoiceSource,
    config: MeterConfig,
) {
    let mut last = Instant::now();
    let mut close_by: Option<Instant> = None;
    // retries while closing come after this pause
    let pause = config.settle_every.min(Duration::from_millis(200));
    let mut urgent = false;
    let unit = config.settle_unit_msats.max(1);
    loop {
        let mut s = shared.lock();
        loop {
            if s.closing && close_by.is_none() {
                close_by = Some(Instant::now() + config.close_timeout);
                urgent = true;
            }
            // what can be settled now: whole units
            let pending = s.stats.owed_msats >= unit || s.retry.is_some();
            let elapsed = last.elapsed();
            if let Some(by) = close_by {
                if !pending || Instant::now() >= by {
                    // an uncertain settle never resolved: reported, not dropped
                    if let Some((_, m)) = s.retry.take() {
                        s.stats.settling_msats -= m;
                        s.stats.unknown_msats += m;
                    }
                    return;
                }
                // closing: settle at once, retries after a short pause
                if urgent || elapsed >= pause {
                    urgent = false;
                    break;
                }
            } else if pending
                && (s.stats.owed_msats >= config.settle_at_msats || elapsed >= config.settle_every)
            {
                break;
            }
            let every = if close_by.is_some() {
                pause
            } else {
                config.settle_every
            };
            let wait = every.saturating_sub(elapsed).max(Duration::from_millis(1));
            s = shared
                .changed
                .wait_timeout(s, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        // take the job: an uncertain earlier settle first, else the whole units owed
        let (bolt11, msats) = match s.retry.take() {
            Some((b, m)) => (Some(b), m),
            None => {
                let m = s.stats.owed_msats - s.stats.owed_msats % unit;
                s.stats.owed_msats -= m;
                (None, m)
            }
        };
        let retrying = bolt11.is_some();
        s.stats.settling_msats = msats;
        drop(s);
        last = Instant::now();
        let outcome = settle(payer, source, bolt11, msats);
        let mut s = shared.lock();
        s.stats.settling_msats = 0;
        match outcome {
            Ok(()) => {
                s.stats.settled_msats += msats;
                s.stats.settles += 1;
            }
            Err((e, invoice)) => {
                s.stats.failed_settles += 1;
                match invoice {
                    // may have gone out: pay the same invoice again, never a new one
                    // (still under way: it stays in `settling_msats` until it resolves)
                    Some(b) if uncertain(&e) => {
                        s.retry = Some((b, msats));
                        s.stats.settling_msats = msats;
                    }
                    // refused after an uncertain attempt: it may be paid already
                    Some(_) if retrying => s.stats.unknown_msats += msats,
                    // certainly not paid: owed again
                    _ => s.stats.owed_msats += msats,
                }
                s.stats.last_error = Some(e);
            }
        }
    }
}

/// One settle: an invoice for `msats` (unless retrying `bolt11`), then its payment. On
/// failure, the error and the invoice if one was obtained.
fn settle(
    payer: &Handle,
    source: &dyn InvoiceSource,
    bolt11: Option<String>,
    msats: u64,
) -> Result<(), (ClientError, Option<String>)> {
    let bolt11 = match bolt11 {
        Some(b) => b,
        None => {
            let (tx, rx) = mpsc::sync_channel(1);
            source.invoice(
                msats,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            );
            let patience = payer.config().request_timeout + Duration::from_secs(5);
            match rx.recv_timeout(patience) {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => return Err((e, None)),
                Err(_) => return Err((ClientError::Timeout, None)),
            }
        }
    };
    match payer.pay(&bolt11) {
        Ok(_) => Ok(()),
        Err(e) => Err((e, Some(bolt11))),
    }
}
