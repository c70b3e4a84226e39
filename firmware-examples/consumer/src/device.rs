//! The payment device: a Moneysocket consumer of one account that sells (vending: it asks
//! for an invoice, waits for its preimage, dispenses) and buys (metered: it pays a BOLT11 it
//! is handed over the link and checks the preimage against the invoice's payment hash).
//!
//! Its beacon comes over the link at run time (a provisioning device message, see
//! `docs/uart-framing.md`); the relay location is the bridge's. Everything it says goes to
//! the host as device messages (status lines, the invoice it wants paid) and to the
//! semihosting console.

use core::mem::MaybeUninit;

use moneysocket_core::bolt11;
use moneysocket_core::device_message::{self, Body, DeviceMessage};
use moneysocket_core::session::{
    Consumer, ConsumerConfig, ConsumerEvent, RequestKind, SessionInput, SessionOutput,
};
use moneysocket_core::time::Instant;
use moneysocket_core::uuid::Uuid;
use sha2::{Digest, Sha256};

use crate::entropy::Entropy;
use crate::{send as write_frame, FRAME};

/// Price of what the vending side sells, in msat.
pub const VEND_MSATS: u64 = 5_000;
/// The same, for status lines (the device links no integer formatting of its own).
const VEND_PRICE: &str = "5000";

/// Outstanding requests: the vending invoice and the metered payment.
const PENDING: usize = 2;
/// Depth of each output queue. The core requires `QUEUE > PENDING + 3`: on a close every
/// outstanding request fails (`PENDING` events) before `Closed`, and a drain follows every
/// input, so the queues never hold more.
const QUEUE: usize = PENDING + 4;
/// Where received texts wait for the drain: at most one frame's text, shorter than `FRAME`.
pub type TextStore = heapless::Vec<u8, FRAME>;
/// The session.
pub type DeviceConsumer = Consumer<TextStore, QUEUE, PENDING>;
/// One frame buffer: received frames are decrypted in place here, outgoing ones sealed here.
pub type FrameBuf = [u8; FRAME];
/// Longest BOLT11 the device accepts to pay (a device message fits in one frame).
pub const BOLT11_MAX: usize = FRAME - device_message::HEADER_LEN - 1;
/// The BOLT11 to pay, kept until the session is ready for it.
pub type PayText = heapless::String<BOLT11_MAX>;

/// How often an unprovisioned device asks for its seed (bytes the host sent before the UART
/// was up are lost, and a host may come after the device).
const HELLO_EVERY_MS: u64 = 1_000;

/// How the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still going.
    Running,
    /// Sold and bought, both preimages checked.
    Done,
    /// Something the device cannot recover from (a provider error, a wrong preimage).
    Failed,
}

/// The metered payment.
struct Pay {
    hash: [u8; 32],
    /// The request in flight on this transport.
    request: Option<Uuid>,
}

/// What the drain saw, acted on once the event's borrow of the session ends.
#[derive(Default)]
struct Seen {
    ready: bool,
    failed: bool,
    vend_lost: bool,
    pay_lost: bool,
    vend_paid: bool,
    pay_answered: Option<[u8; 32]>,
}

/// The device's state: all in statics or in this struct (on `main`'s stack).
pub struct Device<E: Entropy> {
    slot: Option<&'static mut MaybeUninit<DeviceConsumer>>,
    consumer: Option<&'static mut DeviceConsumer>,
    buf: &'static mut FrameBuf,
    pay_text: &'static mut PayText,
    rng: E,
    deadline: Option<Instant>,
    /// The vending invoice's request on this transport.
    vend_request: Option<Uuid>,
    /// The vending invoice's payment hash, once it came.
    vend_hash: Option<[u8; 32]>,
    dispensed: bool,
    pay: Option<Pay>,
    paid: bool,
    outcome: Outcome,
    /// Set while the session is told that the host already replaced its transport.
    transport_gone: bool,
    /// "ready" was said on this transport (later provider info is balance news).
    ready_said: bool,
    /// When to ask for a seed again.
    next_hello: Instant,
}

impl<E: Entropy> Device<E> {
    /// A device waiting for its beacon.
    pub fn new(
        slot: &'static mut MaybeUninit<DeviceConsumer>,
        buf: &'static mut FrameBuf,
        pay_text: &'static mut PayText,
        rng: E,
    ) -> Self {
        let secure = if E::SECURE { "" } else { ", NOT SECURE" };
        say!(
            "boot: entropy ",
            E::SOURCE,
            secure,
            "; waiting for provisioning"
        );
        Device {
            slot: Some(slot),
            consumer: None,
            buf,
            pay_text,
            rng,
            deadline: None,
            vend_request: None,
            vend_hash: None,
            dispensed: false,
            pay: None,
            paid: false,
            outcome: Outcome::Running,
            transport_gone: false,
            ready_said: false,
            next_hello: Instant(0),
        }
    }

    /// Where the run is.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// A frame from the host: a device message, a Moneysocket frame, or (empty) a new
    /// transport.
    pub fn on_frame(&mut self, frame: &[u8], now: Instant) {
        if frame.is_empty() {
            self.new_transport(now);
            return;
        }
        match device_message::classify(frame) {
            Body::Device(m) => self.on_device_message(m, now),
            Body::Malformed => say!("dropped a malformed device message"),
            Body::Moneysocket => {
                let Some(consumer) = self.consumer.as_deref_mut() else {
                    return;
                };
                // The decoder's bound is FRAME, so this always fits.
                let Some(bytes) = self.buf.get_mut(..frame.len()) else {
                    return;
                };
                bytes.copy_from_slice(frame);
                consumer.handle_input(SessionInput::Frame(bytes), now);
                self.settle(now);
            }
        }
    }

    /// Fires the session's deadline once it has passed; unprovisioned, asks for a seed every
    /// [`HELLO_EVERY_MS`].
    pub fn on_tick(&mut self, now: Instant) {
        if self.consumer.is_none() && now >= self.next_hello {
            self.next_hello = Instant(now.0 + HELLO_EVERY_MS);
            send_message(device_message::KIND_HELLO, &[]);
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.input(SessionInput::Timeout, now);
        }
    }

    fn new_transport(&mut self, now: Instant) {
        // The old transport is gone already: its session's `Closed` must not be answered
        // with a close frame, which would make the bridge close the new one (and so on).
        self.transport_gone = true;
        self.input(SessionInput::Closed, now);
        self.transport_gone = false;
        self.vend_request = None;
        self.ready_said = false;
        if let Some(p) = &mut self.pay {
            p.request = None;
        }
        self.input(SessionInput::Opened, now);
    }

    fn on_device_message(&mut self, m: DeviceMessage<'_>, now: Instant) {
        let Ok(text) = core::str::from_utf8(m.payload) else {
            say!("dropped a device message that is not UTF-8");
            return;
        };
        match m.kind {
            device_message::KIND_PROVISION => self.provision(text, now),
            device_message::KIND_PAY => {
                let Some(hash) = payment_hash(text) else {
                    return;
                };
                self.pay_text.clear();
                if self.pay_text.push_str(text).is_err() {
                    say!("pay refused: BOLT11 longer than a frame");
                    return;
                }
                say!("pay: got an invoice to pay");
                self.pay = Some(Pay {
                    hash,
                    request: None,
                });
                self.paid = false;
                self.settle(now);
            }
            _ => {}
        }
    }

    /// A beacon: a session on its seed, over the transport the bridge has open.
    fn provision(&mut self, beacon: &str, now: Instant) {
        let seed = match moneysocket_core::seed::SharedSeed::from_hex(beacon) {
            Ok(b) => b,
            // The error's text would link every decoder message (~2 KB of flash).
            Err(_) => {
                say!("provisioning refused: not a shared seed");
                return;
            }
        };
        let session = Consumer::new(
            &seed,
            ConsumerConfig {
                max_frame: FRAME,
                ..ConsumerConfig::default()
            },
        );
        // A new seed starts the run over.
        self.vend_request = None;
        self.vend_hash = None;
        self.dispensed = false;
        self.pay = None;
        self.paid = false;
        self.ready_said = false;
        self.deadline = None;
        match (self.consumer.as_deref_mut(), self.slot.take()) {
            (Some(c), _) => {
                // The bridge's websocket met the old seed's peer: ask for a new one; its
                // announcement (an empty frame) opens the new session.
                *c = session;
                say!("provisioned again; asking for a new transport");
                write_frame(&[]);
            }
            (None, Some(slot)) => {
                // The transport the bridge has open has carried nothing yet: use it.
                self.consumer = Some(slot.write(session));
                say!("provisioned; rendezvous through the bridge's relay");
                self.input(SessionInput::Opened, now);
            }
            (None, None) => {}
        }
    }

    /// An input that carries no frame.
    fn input(&mut self, input: SessionInput<'_>, now: Instant) {
        let Some(consumer) = self.consumer.as_deref_mut() else {
            return;
        };
        consumer.handle_input(input, now);
        self.settle(now);
    }

    /// After an input: drain, act on what came, make the next request, take the deadline.
    fn settle(&mut self, now: Instant) {
        loop {
            let seen = self.drain();
            self.act(&seen);
            if self.outcome != Outcome::Running || !self.next_request(now) {
                break;
            }
        }
        self.deadline = self.consumer.as_deref().and_then(Consumer::poll_timeout);
    }

    /// Makes the next request the session is ready for; whether one was made.
    fn next_request(&mut self, now: Instant) -> bool {
        let Some(consumer) = self.consumer.as_deref_mut() else {
            return false;
        };
        if !consumer.is_ready() {
            return false;
        }
        if self.vend_hash.is_none() && self.vend_request.is_none() {
            if let Ok(r) = consumer.request_invoice(VEND_MSATS, now, &mut self.rng) {
                self.vend_request = Some(r);
                say!("vending: asked for an invoice of ", VEND_PRICE, " msat");
                return true;
            }
        }
        if self.dispensed && !self.paid {
            if let Some(p) = self.pay.as_mut().filter(|p| p.request.is_none()) {
                if let Ok(r) = consumer.pay(self.pay_text.as_str(), now, &mut self.rng) {
                    p.request = Some(r);
                    say!("metered: paying");
                    return true;
                }
            }
        }
        false
    }

    /// Writes every queued frame and notes what the events say.
    fn drain(&mut self) -> Seen {
        let mut seen = Seen::default();
        let Some(consumer) = self.consumer.as_deref_mut() else {
            return seen;
        };
        let vend_request = self.vend_request;
        let pay_request = self.pay.as_ref().and_then(|p| p.request);
        while let Some(out) = consumer.poll_output(&mut self.rng, &mut self.buf[..]) {
            match out {
                SessionOutput::Transmit(frame) => write_frame(frame),
                SessionOutput::Event(ev) => match ev {
                    ConsumerEvent::Closed(_) if !self.transport_gone => write_frame(&[]),
                    ConsumerEvent::Provider(_) => seen.ready = true,
                    ConsumerEvent::Invoice { request, bolt11 } if Some(request) == vend_request => {
                        match payment_hash(bolt11) {
                            Some(h) => {
                                self.vend_hash = Some(h);
                                send_message(device_message::KIND_INVOICE, bolt11.as_bytes());
                                say!("vending: invoice ready, waiting for its payment");
                            }
                            None => seen.failed = true,
                        }
                    }
                    ConsumerEvent::Preimage {
                        request: None,
                        preimage,
                    } if Some(sha256(&preimage)) == self.vend_hash => seen.vend_paid = true,
                    ConsumerEvent::Preimage {
                        request: Some(r),
                        preimage,
                    } if Some(r) == pay_request => seen.pay_answered = Some(preimage),
                    ConsumerEvent::Error {
                        request: Some(r),
                        message,
                    } if Some(r) == vend_request || Some(r) == pay_request => {
                        say!("provider refused: ", message);
                        seen.failed = true;
                    }
                    ConsumerEvent::RequestFailed { kind, .. } => match kind {
                        RequestKind::Invoice => seen.vend_lost = true,
                        _ => seen.pay_lost = true,
                    },
                    _ => {}
                },
                _ => {}
            }
        }
        seen
    }

    fn act(&mut self, seen: &Seen) {
        if seen.ready && !self.ready_said {
            self.ready_said = true;
            say!("ready: provider info received");
        }
        if seen.vend_lost {
            self.vend_request = None;
        }
        if seen.vend_paid && !self.dispensed {
            self.dispensed = true;
            say!("vending: paid, preimage checked; DISPENSED");
        }
        if let Some(p) = &mut self.pay {
            if seen.pay_lost {
                // The transport went with the request: a payment may or may not have been
                // made, and paying again would pay twice. The host decides (a new `pay`).
                say!("metered: the payment's answer was lost with the transport");
                self.pay = None;
            } else if let Some(preimage) = seen.pay_answered {
                if sha256(&preimage) == p.hash {
                    self.paid = true;
                    say!("metered: paid, preimage matches the payment hash");
                } else {
                    say!("metered: the preimage does not match the payment hash");
                    self.outcome = Outcome::Failed;
                }
                p.request = None;
            }
        }
        if seen.failed {
            self.outcome = Outcome::Failed;
        } else if self.dispensed && self.paid {
            self.outcome = Outcome::Done;
        }
    }
}

/// The payment hash of `bolt11`, or `None` (said on the link) if it does not parse.
fn payment_hash(bolt11: &str) -> Option<[u8; 32]> {
    match bolt11::payment_hash(bolt11) {
        Ok(h) => Some(h),
        // The error's text would link every reader message (~1.5 KB of flash). The light
        // reader (no `Invoice`) saves ~3 KB; the preimage check needs only the hash.
        Err(_) => {
            say!("refused: not a BOLT11 invoice");
            None
        }
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Sends a device message to the host.
pub fn send_message(kind: u8, payload: &[u8]) {
    let mut body = [0u8; FRAME];
    if let Ok(n) = device_message::encode(kind, payload, &mut body) {
        if let Some(b) = body.get(..n) {
            write_frame(b);
        }
    }
}

/// Longest status line.
const STATUS_MAX: usize = 160;

/// One status line, the concatenation of `parts`, to the host (a device message) and to the
/// semihosting console. No `core::fmt`: the line is copied together (cut at [`STATUS_MAX`]).
pub fn status(parts: &[&str]) {
    let mut line: heapless::Vec<u8, STATUS_MAX> = heapless::Vec::new();
    for b in parts.iter().flat_map(|p| p.bytes()) {
        if line.push(b).is_err() {
            break;
        }
    }
    let mut body = [0u8; STATUS_MAX + device_message::HEADER_LEN + 1];
    if let Ok(n) = device_message::encode(device_message::KIND_STATUS, &line, &mut body) {
        if let Some(b) = body.get(..n) {
            write_frame(b);
        }
    }
    crate::semihosting::write(&line);
    crate::semihosting::write(b"\n");
}

/// `n` in decimal, in `buf`.
pub fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    core::str::from_utf8(buf.get(i..).unwrap_or(&[])).unwrap_or("?")
}
