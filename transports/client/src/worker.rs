//! The client's background thread: one [`Driver`] with one consumer session, fed by a
//! command channel, answering each request through its own reply.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use moneysocket_core::beacon::Beacon;
use moneysocket_core::session::{ConsumerConfig, RequestFailure, SessionError};
use moneysocket_core::uuid::Uuid;
use moneysocket_driver::{
    ConsumerEvent, Driver, DriverConfig, DriverEvent, HostError, SessionEvent, SessionId,
};
use moneysocket_ws::TransportConfig;
use sha2::{Digest, Sha256};

use crate::event::{ClientEvent, ProviderInfo};
use crate::{ClientConfig, ClientError};

/// A successful answer.
#[derive(Debug)]
pub(crate) enum Answer {
    Invoice(String),
    Preimage([u8; 32]),
}

/// Where an answer goes (run on the client's thread: keep it short).
pub(crate) type Reply = Box<dyn FnOnce(Result<Answer, ClientError>) + Send>;

/// What a request asks.
pub(crate) enum Op {
    Invoice(u64),
    Pay {
        bolt11: String,
        payment_hash: [u8; 32],
    },
}

/// One call, from the application to the client's thread.
pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) deadline: Instant,
    pub(crate) reply: Reply,
}

/// Application → client thread.
pub(crate) enum Command {
    Request(Request),
    Close,
}

/// What the application reads without asking the thread.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) provider: Option<ProviderInfo>,
    pub(crate) ready: bool,
    pub(crate) last_error: Option<String>,
    /// The thread ended.
    pub(crate) stopped: bool,
}

/// Shared between the application's handles and the thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: Condvar,
    pub(crate) dropped_events: AtomicU64,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // a poisoned lock only means a reply callback panicked; the state is still whole
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

struct InFlight {
    deadline: Instant,
    payment_hash: Option<[u8; 32]>,
    reply: Reply,
}

pub(crate) struct Worker {
    driver: Driver,
    session: SessionId,
    commands: Receiver<Command>,
    shared: Arc<Shared>,
    events: SyncSender<ClientEvent>,
    /// Not issued yet: the link is down, or the session has as many requests out as it
    /// holds.
    waiting: VecDeque<Request>,
    in_flight: HashMap<Uuid, InFlight>,
    ready: bool,
}

impl Worker {
    /// The driver and the session, dialing the beacon. Made on the caller's thread so that
    /// setup errors come back from `connect`; the driver then moves to the client thread.
    pub(crate) fn new(
        beacon: &Beacon,
        config: &ClientConfig,
        commands: Receiver<Command>,
        shared: Arc<Shared>,
        events: SyncSender<ClientEvent>,
    ) -> Result<(Worker, std::task::Waker), ClientError> {
        let driver_config = DriverConfig {
            backoff: config.backoff,
            ..DriverConfig::default()
        };
        let mut driver: Driver = Driver::new(driver_config, TransportConfig::default())
            .map_err(|e| ClientError::Io(e.to_string()))?;
        if let Some(tls) = &config.tls {
            driver.io_mut().set_client_tls(Arc::clone(tls));
        }
        let consumer = ConsumerConfig {
            ping_interval: config.ping_interval,
            request_timeout: config.request_timeout,
            ..ConsumerConfig::default()
        };
        let session = driver.add_consumer(&beacon.shared_seed(), consumer);
        driver
            .connect_beacon(session, beacon)
            .map_err(|_| ClientError::NoAddress)?;
        let waker = driver.waker();
        Ok((
            Worker {
                driver,
                session,
                commands,
                shared,
                events,
                waiting: VecDeque::new(),
                in_flight: HashMap::new(),
                ready: false,
            },
            waker,
        ))
    }

    /// The loop, until `Close` or every handle is gone.
    pub(crate) fn run(mut self) {
        let mut events = Vec::new();
        loop {
            if !self.take_commands() {
                break;
            }
            self.issue();
            self.expire(Instant::now());
            let wait = self.next_deadline().map_or(Duration::from_secs(1), |d| {
                d.saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1))
            });
            if let Err(e) = self.driver.poll(&mut events, Some(wait)) {
                self.shared.update(|s| s.last_error = Some(e.to_string()));
                break;
            }
            for ev in events.drain(..) {
                self.on_event(ev);
            }
        }
        let _ = self.driver.close(self.session);
        self.driver.flush(&mut events);
        for r in self.waiting.drain(..) {
            (r.reply)(Err(ClientError::Closed));
        }
        for (_, r) in self.in_flight.drain() {
            (r.reply)(Err(ClientError::Closed));
        }
        // one more round so the close reaches the socket
        let _ = self.driver.poll(&mut events, Some(Duration::ZERO));
        self.shared.update(|s| {
            s.ready = false;
            s.stopped = true;
        });
    }

    /// Moves queued commands in; `false` to stop.
    fn take_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Request(r)) => self.waiting.push_back(r),
                Ok(Command::Close) | Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    /// Hands waiting requests to the session while it takes them.
    fn issue(&mut self) {
        while self.ready {
            let Some(r) = self.waiting.pop_front() else {
                return;
            };
            let issued = match &r.op {
                Op::Invoice(msats) => self.driver.request_invoice(self.session, *msats),
                Op::Pay { bolt11, .. } => self.driver.pay(self.session, bolt11),
            };
            match issued {
                Ok(uuid) => {
                    let payment_hash = match r.op {
                        Op::Pay { payment_hash, .. } => Some(payment_hash),
                        Op::Invoice(_) => None,
                    };
                    self.in_flight.insert(
                        uuid,
                        InFlight {
                            deadline: r.deadline,
                            payment_hash,
                            reply: r.reply,
                        },
                    );
                }
                // full for now: a slot frees with the next answer or the next poll
                Err(HostError::Session(SessionError::TooManyPending | SessionError::QueueFull)) => {
                    self.waiting.push_front(r);
                    return;
                }
                Err(HostError::Session(SessionError::NotReady | SessionError::Closed)) => {
                    self.waiting.push_front(r);
                    self.ready = false;
                    return;
                }
                Err(HostError::Session(e)) => (r.reply)(Err(ClientError::Request(e))),
                Err(_) => (r.reply)(Err(ClientError::Closed)),
            }
        }
    }

    /// Fails what is past its deadline (a late answer is then ignored).
    fn expire(&mut self, now: Instant) {
        let ready = self.ready;
        let mut i = 0;
        while i < self.waiting.len() {
            if self.waiting[i].deadline <= now {
                if let Some(r) = self.waiting.remove(i) {
                    (r.reply)(Err(if ready {
                        ClientError::Timeout
                    } else {
                        ClientError::Disconnected
                    }));
                }
            } else {
                i += 1;
            }
        }
        let late: Vec<Uuid> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(u, _)| *u)
            .collect();
        for u in late {
            if let Some(r) = self.in_flight.remove(&u) {
                (r.reply)(Err(ClientError::Timeout));
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let w = self.waiting.iter().map(|r| r.deadline);
        let f = self.in_flight.values().map(|r| r.deadline);
        w.chain(f).min()
    }

    fn emit(&self, ev: ClientEvent) {
        match self.events.try_send(ev) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.shared.dropped_events.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn answer(&mut self, request: Uuid, result: Result<Answer, ClientError>) {
        if let Some(r) = self.in_flight.remove(&request) {
            let result = match (result, r.payment_hash) {
                (Ok(Answer::Preimage(p)), Some(hash)) => {
                    let got: [u8; 32] = Sha256::digest(p).into();
                    if got == hash {
                        Ok(Answer::Preimage(p))
                    } else {
                        Err(ClientError::WrongPreimage)
                    }
                }
                (r, _) => r,
            };
            (r.reply)(result);
        }
    }

    fn on_event(&mut self, ev: DriverEvent) {
        match ev {
            DriverEvent::Session {
                event: SessionEvent::Consumer(ev),
                ..
            } => self.on_consumer(ev),
            DriverEvent::Disconnected {
                cause, retry_in, ..
            } => {
                let reason = cause.to_string();
                self.ready = false;
                self.shared.update(|s| {
                    s.ready = false;
                    s.last_error = Some(reason.clone());
                });
                self.emit(ClientEvent::Disconnected { reason, retry_in });
            }
            _ => {}
        }
    }

    fn on_consumer(&mut self, ev: ConsumerEvent) {
        match ev {
            ConsumerEvent::Provider(info) => {
                let first = !self.ready;
                self.ready = true;
                self.shared.update(|s| {
                    s.ready = true;
                    s.provider = Some(info.clone());
                });
                self.emit(if first {
                    ClientEvent::Connected(info)
                } else {
                    ClientEvent::Provider(info)
                });
            }
            ConsumerEvent::Invoice { request, bolt11 } => {
                self.answer(request, Ok(Answer::Invoice(bolt11)))
            }
            ConsumerEvent::Preimage {
                request: Some(request),
                preimage,
            } => self.answer(request, Ok(Answer::Preimage(preimage))),
            ConsumerEvent::Preimage {
                request: None,
                preimage,
            } => self.emit(ClientEvent::Preimage(preimage)),
            ConsumerEvent::Error {
                request: Some(request),
                message,
            } => self.answer(request, Err(ClientError::Refused(message))),
            ConsumerEvent::Error {
                request: None,
                message,
            } => self.emit(ClientEvent::Error(message)),
            ConsumerEvent::RequestFailed {
                request, reason, ..
            } => {
                let e = match reason {
                    RequestFailure::TimedOut => ClientError::Timeout,
                    _ => ClientError::Disconnected,
                };
                self.answer(request, Err(e));
            }
            ConsumerEvent::Closed(reason) => {
                self.ready = false;
                self.shared.update(|s| {
                    s.ready = false;
                    s.last_error = Some(reason.to_string());
                });
            }
            _ => {}
        }
    }
}
