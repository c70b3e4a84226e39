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

/// Frame/message buffer bytes, output queue depth, outstanding requests.
const FRAME: usize = 1024;
/// Silence after which a partial incoming frame is dropped (resynchronises after noise that
/// looked like a valid length). Senders write a frame in one burst; the main loop calls
/// `Decoder::resume` after its own stalls, so only silence on the line counts.
const IDLE_GAP: Duration = Duration::from_millis(500);
#[cfg(not(feature = "baseline"))]
const QUEUE: usize = 8;
#[cfg(not(feature = "baseline"))]
const PENDING: usize = 4;

#[cfg(not(feature = "baseline"))]
mod app {
    use core::mem::MaybeUninit;

    use moneysocket_core::seed::SharedSeed;
    use moneysocket_core::session::{Consumer, ConsumerConfig, ConsumerEvent, Input, Output};
    use moneysocket_core::time::Instant;

    use crate::rng::DemoRng;
    use crate::send as write_frame;
    use crate::{FRAME, PENDING, QUEUE};

    /// The beacon's shared seed (hex). A real device would take it from provisioning.
    const SEED_HEX: &str = "000102030405060708090a0b0c0d0e0f";

    /// Amount of the invoice requested once the provider is ready.
    pub const DEMO_INVOICE_MSATS: u64 = 1_000;

    pub type DeviceConsumer = Consumer<DemoRng, FRAME, QUEUE, PENDING>;

    pub struct App {
        consumer: &'static mut DeviceConsumer,
        deadline: Option<Instant>,
        invoice_requested: bool,
    }

    impl App {
        /// Builds the consumer in `slot` (a static: the consumer does not sit on the stack).
        pub fn new(slot: &'static mut MaybeUninit<DeviceConsumer>, rng_seed: u64) -> Self {
            let Ok(seed) = SharedSeed::from_hex(SEED_HEX) else {
                crate::halt()
            };
            let consumer = slot.write(Consumer::new(
                &seed,
                ConsumerConfig::default(),
                DemoRng::new(rng_seed),
            ));
            let mut app = App {
                consumer,
                deadline: None,
                invoice_requested: false,
            };
            app.input(Input::Opened, Instant(0));
            app
        }

        pub fn on_frame(&mut self, frame: &[u8], now: Instant) {
            if frame.is_empty() {
                // A new transport: forget the old one, start over with the same seed.
                self.consumer.handle_input(Input::Closed, now);
                self.drain(now);
                self.invoice_requested = false;
                self.input(Input::Opened, now);
            } else {
                self.input(Input::Frame(frame), now);
            }
        }

        pub fn on_tick(&mut self, now: Instant) {
            if self.deadline.is_some_and(|d| now >= d) {
                self.input(Input::Timeout, now);
            }
        }

        fn input(&mut self, input: Input<'_>, now: Instant) {
            self.consumer.handle_input(input, now);
            self.drain(now);
            if self.consumer.is_ready() && !self.invoice_requested {
                self.invoice_requested = true;
                if self
                    .consumer
                    .request_invoice(DEMO_INVOICE_MSATS, now)
                    .is_ok()
                {
                    self.drain(now);
                }
            }
        }

        fn drain(&mut self, _now: Instant) {
            while let Some(out) = self.consumer.poll_output() {
                match out {
                    Output::Transmit(frame) => write_frame(&frame),
                    Output::Event(ConsumerEvent::Closed(_)) => write_frame(&[]),
                    // Invoice, Preimage, Provider (balance), Error, ...: an application
                    // would act here (show the invoice, ...). The demo does not.
                    Output::Event(_) => {}
                    Output::Timeout(d) => self.deadline = d,
                }
            }
        }
    }
}

#[cfg(feature = "baseline")]
mod app {
    use core::mem::MaybeUninit;

    use moneysocket_core::time::Instant;

    /// Stands in for the consumer's slot so both variants share one `main`.
    pub type DeviceConsumer = ();

    pub struct App;

    impl App {
        pub fn new(_slot: &'static mut MaybeUninit<DeviceConsumer>, _rng_seed: u64) -> Self {
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
    let mut app = app::App::new(CONSUMER, rng_seed);

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
