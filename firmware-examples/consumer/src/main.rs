//! A consumer-only Moneysocket firmware for Cortex-M (thumbv7em-none-eabihf, no heap), built
//! to measure what the sans-IO `moneysocket_core::session::Consumer` costs in flash and RAM,
//! and runnable on QEMU's lm3s6965evb.
//!
//! The UART carries length-prefixed frames (`moneysocket_core::serial_framing`, see
//! `docs/uart-framing.md`): a host-side bridge relays them to and from a WebSocket connected
//! to a Moneysocket relay. At boot the transport counts as
//! open; a zero-length frame from the host announces a new transport (reconnect), and the
//! device sends a zero-length frame when the session closes. Once the provider handshake is
//! done the firmware requests one invoice of [`DEMO_INVOICE_MSATS`].
//!
//! Memory: the consumer (`Consumer<heapless::Vec<u8, FRAME>, 6, 2>`, see `app`) and its one
//! frame buffer are statics; the app owns the RNG and passes it to each call that needs
//! entropy. A received frame is copied from the UART decoder into the frame buffer and
//! decrypted there in place; outgoing frames are sealed into the same buffer at poll time
//! and written to the UART before the next poll. The main loop sleeps until the next
//! interrupt and fires `SessionInput::Timeout` once `poll_timeout()`'s deadline has passed.
//!
//! With the `baseline` feature the same skeleton (UART driver, SysTick clock, frame loop)
//! only echoes frames: the difference in size is the consumer's cost.
#![no_std]
#![no_main]

mod clock;
#[cfg(not(feature = "baseline"))]
mod rng;
mod uart;

use cortex_m as _; // critical-section implementation (single core)
use cortex_m_rt::{entry, exception};

use core::convert::Infallible;
use core::time::Duration;

use moneysocket_core::serial_framing::{self, Decoded, Decoder};

/// Largest frame on the UART and in the session (`ConsumerConfig::max_frame`), in bytes.
const FRAME: usize = 1024;
/// Silence after which a partial incoming frame is dropped (resynchronises after noise that
/// looked like a valid length). Senders write a frame in one burst; the main loop calls
/// `Decoder::resume` after its own stalls, so only silence on the line counts.
const IDLE_GAP: Duration = Duration::from_millis(500);

#[cfg(not(feature = "baseline"))]
mod app {
    use core::mem::MaybeUninit;

    use moneysocket_core::seed::SharedSeed;
    use moneysocket_core::session::{
        Consumer, ConsumerConfig, ConsumerEvent, SessionInput, SessionOutput,
    };
    use moneysocket_core::time::Instant;

    use crate::rng::DemoRng;
    use crate::send as write_frame;
    use crate::FRAME;

    /// The beacon's shared seed (hex). A real device would take it from provisioning.
    const SEED_HEX: &str = "000102030405060708090a0b0c0d0e0f";

    /// Amount of the invoice requested once the provider is ready.
    pub const DEMO_INVOICE_MSATS: u64 = 1_000;

    /// Outstanding requests: the demo's one invoice request, plus room for one `pay`.
    const PENDING: usize = 2;
    /// Depth of each output queue (frames to seal, events). The core requires
    /// `QUEUE > PENDING + 3`: on a close every outstanding request fails (`PENDING` events)
    /// before `Closed`, and a drain follows every input, so the queues never hold more.
    const QUEUE: usize = PENDING + 4;
    /// Where received texts (provider info JSON, invoice, error text) wait for the drain. The
    /// app drains after every input, so the store holds at most one frame's text, which is
    /// shorter than `FRAME`: a received message never fails with `FrameRefusal::NoRoom`.
    pub type TextStore = heapless::Vec<u8, FRAME>;

    pub type DeviceConsumer = Consumer<TextStore, QUEUE, PENDING>;

    /// One frame buffer: a received frame is copied here (the decoder keeps the next one in
    /// its own buffer) and decrypted in place, and every outgoing frame is sealed here at
    /// poll time, then written to the UART before the next poll.
    pub type FrameBuf = [u8; FRAME];

    pub struct App {
        consumer: &'static mut DeviceConsumer,
        buf: &'static mut FrameBuf,
        /// The session draws request uuids and IVs from it on each call that needs entropy.
        rng: DemoRng,
        /// `poll_timeout()` after the last drain.
        deadline: Option<Instant>,
        invoice_requested: bool,
    }

    impl App {
        /// Builds the consumer in `slot` (a static: the consumer does not sit on the stack)
        /// and opens the session: at boot the transport counts as open.
        pub fn new(
            slot: &'static mut MaybeUninit<DeviceConsumer>,
            buf: &'static mut FrameBuf,
            rng_seed: u64,
            now: Instant,
        ) -> Self {
            let Ok(seed) = SharedSeed::from_hex(SEED_HEX) else {
                crate::halt()
            };
            let config = ConsumerConfig {
                max_frame: FRAME,
                ..ConsumerConfig::default()
            };
            let consumer = slot.write(Consumer::new(&seed, config));
            let mut app = App {
                consumer,
                buf,
                rng: DemoRng::new(rng_seed),
                deadline: None,
                invoice_requested: false,
            };
            app.input(SessionInput::Opened, now);
            app
        }

        /// A frame from the host; an empty one announces a new transport.
        pub fn on_frame(&mut self, frame: &[u8], now: Instant) {
            if frame.is_empty() {
                // A new transport: forget the old one, start over with the same seed.
                self.input(SessionInput::Closed, now);
                self.invoice_requested = false;
                self.input(SessionInput::Opened, now);
                return;
            }
            // The decoder's bound is FRAME, so this always fits.
            let Some(bytes) = self.buf.get_mut(..frame.len()) else {
                return;
            };
            bytes.copy_from_slice(frame);
            self.consumer.handle_input(SessionInput::Frame(bytes), now);
            self.settle(now);
        }

        pub fn on_tick(&mut self, now: Instant) {
            if self.deadline.is_some_and(|d| now >= d) {
                self.input(SessionInput::Timeout, now);
            }
        }

        /// An input that carries no frame.
        fn input(&mut self, input: SessionInput<'_>, now: Instant) {
            self.consumer.handle_input(input, now);
            self.settle(now);
        }

        /// After an input: drain, request the demo invoice once the provider is ready, and
        /// take the next deadline.
        fn settle(&mut self, now: Instant) {
            self.drain();
            if self.consumer.is_ready() && !self.invoice_requested {
                self.invoice_requested = true;
                if self
                    .consumer
                    .request_invoice(DEMO_INVOICE_MSATS, now, &mut self.rng)
                    .is_ok()
                {
                    self.drain();
                }
            }
            self.deadline = self.consumer.poll_timeout();
        }

        /// Writes every queued frame (sealed into `buf`) and acts on the events.
        fn drain(&mut self) {
            while let Some(out) = self.consumer.poll_output(&mut self.rng, &mut self.buf[..]) {
                match out {
                    SessionOutput::Transmit(frame) => write_frame(frame),
                    SessionOutput::Event(ConsumerEvent::Closed(_)) => write_frame(&[]),
                    // Invoice, Preimage, Provider (balance), Error, ...: an application
                    // would act here (show the invoice, ...) before the next poll, while
                    // the texts are borrowed. The demo does not.
                    _ => {}
                }
            }
        }
    }
}

#[cfg(feature = "baseline")]
mod app {
    use core::mem::MaybeUninit;

    use moneysocket_core::time::Instant;

    /// Stand in for the consumer's slot and frame buffer so both variants share one `main`.
    pub type DeviceConsumer = ();
    pub type FrameBuf = [u8; 0];

    pub struct App;

    impl App {
        pub fn new(
            _slot: &'static mut MaybeUninit<DeviceConsumer>,
            _buf: &'static mut FrameBuf,
            _rng_seed: u64,
            _now: Instant,
        ) -> Self {
            App
        }
        pub fn on_frame(&mut self, frame: &[u8], _now: Instant) {
            crate::send(frame);
        }
        pub fn on_tick(&mut self, _now: Instant) {}
    }
}

#[cfg(not(feature = "baseline"))]
pub use app::DEMO_INVOICE_MSATS;

#[entry]
fn main() -> ! {
    // cortex-m-rt turns these into `&'static mut` (entry runs once): no `unsafe` needed.
    // The consumer lives in .bss, not on the stack; its symbol size is
    // `size_of::<DeviceConsumer>()` (the size report reads it with `llvm-nm -S`).
    static mut CONSUMER: core::mem::MaybeUninit<app::DeviceConsumer> =
        core::mem::MaybeUninit::uninit();
    // The session's frame buffer (received frames decrypted in place, outgoing ones sealed).
    static mut FRAME_BUF: app::FrameBuf = [0; core::mem::size_of::<app::FrameBuf>()];
    // All-zero initial value: the frame buffer stays in .bss; the gap is set below.
    static mut READER: Decoder<FRAME> = Decoder::new();

    let Some(mut cp) = cortex_m::Peripherals::take() else {
        halt()
    };
    READER.set_idle_gap(Some(IDLE_GAP));
    clock::start(&mut cp.SYST);
    uart::init();
    // SAFETY: unmasking UART0's interrupt; its handler (`DefaultHandler` below) only touches
    // the RX ring buffer inside a critical section.
    unsafe { cp.NVIC.iser[0].write(1 << uart::IRQ) };

    // Not secure, see `rng`: a constant mixed with the SysTick counter.
    let rng_seed = 0x6d6f_6e65_7973_6f63 ^ u64::from(cortex_m::peripheral::SYST::get_current());
    let mut app = app::App::new(CONSUMER, FRAME_BUF, rng_seed, clock::now());

    loop {
        while let Some(b) = uart::read_byte() {
            let now = clock::now();
            match READER.push(b, now) {
                Some(Decoded::Frame(frame)) => app.on_frame(frame, now),
                Some(Decoded::Control) => app.on_frame(&[], now),
                // Dropped bytes (counted in `READER.stats()`); the decoder has resynchronised.
                // A board with a log would print the error's one-line `Display` here.
                Some(Decoded::Error(_)) | None => {}
            }
        }
        app.on_tick(clock::now());
        // Bytes that arrived while `on_tick` ran wait in the RX buffer: not line silence.
        READER.resume(clock::now());
        // Sleep until the next interrupt (UART RX or the 1 ms tick). Checking with interrupts
        // masked avoids sleeping on a byte that arrived after the check.
        critical_section::with(|cs| {
            if !uart::rx_pending(cs) {
                cortex_m::asm::wfi();
            }
        });
    }
}

#[exception]
fn SysTick() {
    clock::on_tick();
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == uart::IRQ as i16 {
        uart::on_interrupt();
    }
}

/// Sends one frame (an empty one is the control frame). A frame above [`FRAME`] bytes is not
/// sent at all (the core's encoder refuses it rather than truncate); the session's frames are
/// bounded by `FRAME`, so this does not happen.
fn send(frame: &[u8]) {
    let _ = serial_framing::write_frame(frame, FRAME, |bytes| {
        uart::write_all(bytes);
        Ok::<(), Infallible>(())
    });
}

/// Stops here (bad setup or panic); a debugger shows where.
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}
