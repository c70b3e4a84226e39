//! The blocking client and its handles.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moneysocket_core::beacon::Beacon;
use moneysocket_core::bolt11::Invoice;

use crate::event::{ClientEvent, ProviderInfo};
use crate::worker::{Answer, Command, Op, Reply, Request, Shared, Worker};
use crate::{ClientConfig, ClientError};

/// A consumer connected to one provider through its beacon: blocking calls, answered by a
/// background thread that owns the connection (and redials it with the same beacon when it
/// drops). Cheap handles for other threads: [`Client::handle`].
///
/// Dropping the client (or [`close`](Self::close)) closes the session and stops the thread;
/// calls still waiting fail with [`ClientError::Closed`].
#[derive(Debug)]
pub struct Client {
    handle: Handle,
    events: Receiver<ClientEvent>,
    thread: Option<JoinHandle<()>>,
}

/// A clonable, `Send` way to make calls on a [`Client`] from any thread (the streaming
/// helpers use it). Calls fail with [`ClientError::Closed`] once the client is closed.
#[derive(Clone)]
pub struct Handle {
    commands: Sender<Command>,
    waker: Waker,
    shared: Arc<Shared>,
    config: ClientConfig,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The answer to a call made without waiting ([`Handle::pay_async`],
/// [`Handle::request_invoice_async`]).
#[derive(Debug)]
pub struct Ticket<T> {
    rx: Receiver<Result<T, ClientError>>,
    deadline: Instant,
}

impl<T> Ticket<T> {
    /// Waits for the answer (the client answers every call by its deadline).
    pub fn wait(self) -> Result<T, ClientError> {
        // a margin over the call's deadline: the client's thread answers by then, unless gone
        let limit = self.deadline + Duration::from_secs(5);
        let left = limit.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(ClientError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(ClientError::Closed),
        }
    }

    /// The answer if it is there (`None`: not yet).
    pub fn try_take(&self) -> Option<Result<T, ClientError>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(ClientError::Closed)),
        }
    }
}

/// The BOLT11 payment hash of `bolt11`, or why it is not an invoice.
pub(crate) fn payment_hash(bolt11: &str) -> Result<[u8; 32], ClientError> {
    Invoice::parse(bolt11)
        .map(|i| *i.payment_hash())
        .map_err(|e| ClientError::InvalidInvoice(e.to_string()))
}

impl Client {
    /// Connects to the provider behind `beacon` (a beacon string, or a decoded
    /// [`Beacon`]) and waits up to [`ClientConfig::connect_timeout`] for its info.
    pub fn connect(beacon: impl AsBeacon, config: ClientConfig) -> Result<Client, ClientError> {
        let beacon = beacon.as_beacon()?;
        let (commands, rx) = mpsc::channel();
        let (events_tx, events) = mpsc::sync_channel(config.event_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let (worker, waker) = Worker::new(&beacon, &config, rx, Arc::clone(&shared), events_tx)?;
        let thread = std::thread::Builder::new()
            .name("moneysocket-client".to_owned())
            .spawn(move || worker.run())
            .map_err(|e| ClientError::Io(e.to_string()))?;
        let client = Client {
            handle: Handle {
                commands,
                waker,
                shared,
                config,
            },
            events,
            thread: Some(thread),
        };
        client.wait_ready(client.handle.config.connect_timeout)?;
        Ok(client)
    }

    /// Waits until the provider's info is there (at most `timeout`).
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), ClientError> {
        let shared = &self.handle.shared;
        let deadline = Instant::now() + timeout;
        let mut s = shared.lock();
        loop {
            if s.ready {
                return Ok(());
            }
            if s.stopped {
                return Err(ClientError::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::ConnectTimeout {
                    last: s.last_error.clone(),
                });
            }
            s = shared
                .changed
                .wait_timeout(s, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// A handle for calls from other threads.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The latest balance the provider reported, in msat (`None`: no info yet, or the
    /// provider reports none).
    pub fn balance(&self) -> Option<u64> {
        self.handle.balance()
    }

    /// The provider's latest info (the handshake answer or a later update).
    pub fn provider_info(&self) -> Option<ProviderInfo> {
        self.handle.provider_info()
    }

    /// Whether the link is up and the provider answered (requests go out at once).
    pub fn is_ready(&self) -> bool {
        self.handle.shared.lock().ready
    }

    /// Asks the provider for an invoice of `msats` to this account; waits for the BOLT11.
    /// The invoice's amount must be `msats`, or `msats` rounded to a whole sat (providers
    /// that make invoices in sats do that: the Python terminus on LND); anything else is
    /// refused ([`ClientError::WrongAmount`]). For exactly `msats`, see
    /// [`Handle::request_exact_invoice_with`].
    pub fn request_invoice(&self, msats: u64) -> Result<String, ClientError> {
        self.handle.request_invoice(msats)
    }

    /// Asks the provider to pay `bolt11`; waits for the preimage, checked against the
    /// invoice's payment hash.
    pub fn pay(&self, bolt11: &str) -> Result<[u8; 32], ClientError> {
        self.handle.pay(bolt11)
    }

    /// The next event, waiting up to `timeout` (`None`: none came, or the client stopped).
    pub fn recv_event(&self, timeout: Duration) -> Option<ClientEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// The events, blocking for each until the client stops.
    pub fn events(&self) -> impl Iterator<Item = ClientEvent> + '_ {
        self.events.iter()
    }

    /// Events dropped because nobody read them ([`ClientConfig::event_capacity`]).
    pub fn dropped_events(&self) -> u64 {
        self.handle
            .shared
            .dropped_events
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Closes the session and stops the thread (calls still waiting fail with
    /// [`ClientError::Closed`]).
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.handle.commands.send(Command::Close);
        self.handle.waker.wake_by_ref();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Handle {
    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The same handle with another per-call timeout (for the calls made through it). A
    /// timeout longer than [`ClientConfig::request_timeout`] is cut to it by the session.
    pub fn with_timeout(mut self, timeout: Duration) -> Handle {
        self.config.request_timeout = timeout.min(self.config.request_timeout);
        self
    }

    /// [`Client::balance`].
    pub fn balance(&self) -> Option<u64> {
        self.shared.lock().provider.as_ref().and_then(|p| p.msats)
    }

    /// [`Client::provider_info`].
    pub fn provider_info(&self) -> Option<ProviderInfo> {
        self.shared.lock().provider.clone()
    }

    /// [`Client::request_invoice`].
    pub fn request_invoice(&self, msats: u64) -> Result<String, ClientError> {
        self.request_invoice_async(msats).wait()
    }

    /// [`Client::pay`].
    pub fn pay(&self, bolt11: &str) -> Result<[u8; 32], ClientError> {
        self.pay_async(bolt11).wait()
    }

    /// Starts an invoice request; the answer comes through the ticket.
    pub fn request_invoice_async(&self, msats: u64) -> Ticket<String> {
        let (tx, rx) = mpsc::sync_channel(1);
        let deadline = self.request_invoice_with(msats, move |r| {
            let _ = tx.send(r);
        });
        Ticket { rx, deadline }
    }

    /// Starts a payment; the preimage comes through the ticket.
    pub fn pay_async(&self, bolt11: &str) -> Ticket<[u8; 32]> {
        let (tx, rx) = mpsc::sync_channel(1);
        let deadline = self.pay_with(bolt11, move |r| {
            let _ = tx.send(r);
        });
        Ticket { rx, deadline }
    }

    /// Starts an invoice request; `done` runs with the answer on the client's thread (keep
    /// it short: hand the answer on). Returns the call's deadline. The invoice's amount is
    /// checked as by [`Client::request_invoice`].
    pub fn request_invoice_with(
        &self,
        msats: u64,
        done: impl FnOnce(Result<String, ClientError>) + Send + 'static,
    ) -> Instant {
        self.invoice_with(msats, Amount::WholeSatRounding, done)
    }

    /// Like [`request_invoice_with`](Self::request_invoice_with), but the invoice must be for
    /// exactly `msats` (what the streaming helpers need to count every msat).
    pub fn request_exact_invoice_with(
        &self,
        msats: u64,
        done: impl FnOnce(Result<String, ClientError>) + Send + 'static,
    ) -> Instant {
        self.invoice_with(msats, Amount::Exact, done)
    }

    fn invoice_with(
        &self,
        msats: u64,
        check: Amount,
        done: impl FnOnce(Result<String, ClientError>) + Send + 'static,
    ) -> Instant {
        let reply: Reply = Box::new(move |r| {
            done(r.and_then(|a| match a {
                Answer::Invoice(bolt11) => check_amount(&bolt11, msats, check).map(|()| bolt11),
                Answer::Preimage(_) => Err(ClientError::Closed),
            }))
        });
        self.send(Op::Invoice(msats), reply)
    }

    /// Starts a payment; `done` runs with the checked preimage on the client's thread (keep
    /// it short). Returns the call's deadline. An invoice that does not parse fails at once.
    pub fn pay_with(
        &self,
        bolt11: &str,
        done: impl FnOnce(Result<[u8; 32], ClientError>) + Send + 'static,
    ) -> Instant {
        let deadline = Instant::now() + self.config.request_timeout;
        let payment_hash = match payment_hash(bolt11) {
            Ok(h) => h,
            Err(e) => {
                done(Err(e));
                return deadline;
            }
        };
        let reply: Reply = Box::new(move |r| {
            done(r.and_then(|a| match a {
                Answer::Preimage(p) => Ok(p),
                Answer::Invoice(_) => Err(ClientError::Closed),
            }))
        });
        let op = Op::Pay {
            bolt11: bolt11.to_owned(),
            payment_hash,
        };
        self.send(op, reply)
    }

    fn send(&self, op: Op, reply: Reply) -> Instant {
        let deadline = Instant::now() + self.config.request_timeout;
        let request = Request {
            op,
            deadline,
            reply,
        };
        match self.commands.send(Command::Request(request)) {
            Ok(()) => self.waker.wake_by_ref(),
            Err(mpsc::SendError(Command::Request(r))) => (r.reply)(Err(ClientError::Closed)),
            Err(_) => {}
        }
        deadline
    }
}

/// How an invoice's amount must match the amount asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Amount {
    /// To the msat.
    Exact,
    /// To the msat, or `msats` rounded to a whole sat (either way): providers that make
    /// invoices in sats do that (the Python terminus on LND rounds half-even).
    WholeSatRounding,
}

/// Refuses an invoice that is not for `msats` (as `check` allows).
fn check_amount(bolt11: &str, msats: u64, check: Amount) -> Result<(), ClientError> {
    let invoice = Invoice::parse(bolt11).map_err(|e| ClientError::InvalidInvoice(e.to_string()))?;
    let rounded = |a: u64| {
        let down = msats - msats % 1000;
        a == down || Some(a) == down.checked_add(1000)
    };
    match invoice.amount_msat() {
        Some(a) if a == msats => Ok(()),
        Some(a) if check == Amount::WholeSatRounding && msats % 1000 != 0 && rounded(a) => Ok(()),
        other => Err(ClientError::WrongAmount {
            requested: msats,
            invoice: other,
        }),
    }
}

/// A beacon given as a string or decoded.
pub trait AsBeacon {
    /// The decoded beacon, or why the string is not one.
    fn as_beacon(&self) -> Result<Beacon, ClientError>;
}

impl AsBeacon for Beacon {
    fn as_beacon(&self) -> Result<Beacon, ClientError> {
        Ok(self.clone())
    }
}

impl AsBeacon for &Beacon {
    fn as_beacon(&self) -> Result<Beacon, ClientError> {
        Ok((*self).clone())
    }
}

impl AsBeacon for &str {
    fn as_beacon(&self) -> Result<Beacon, ClientError> {
        Beacon::decode(self.trim()).map_err(|e| ClientError::InvalidBeacon(e.to_string()))
    }
}

impl AsBeacon for String {
    fn as_beacon(&self) -> Result<Beacon, ClientError> {
        self.as_str().as_beacon()
    }
}

impl AsBeacon for &String {
    fn as_beacon(&self) -> Result<Beacon, ClientError> {
        self.as_str().as_beacon()
    }
}
