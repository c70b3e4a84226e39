//! A Moneysocket payment device for Cortex-M (thumbv7em-none-eabihf, no heap), runnable on
//! QEMU's lm3s6965evb: a consumer of one account that sells (vending) and buys (metered)
//! through a host-side bridge, a relay and a provider. See `docs/firmware.md`.
//!
//! The UART carries length-prefixed frames (`moneysocket_core::serial_framing`, see
//! `docs/uart-framing.md`): Moneysocket frames, which the bridge carries to and from a
//! websocket to the relay, and device messages for the bridge itself
//! (`moneysocket_core::device_message`): the beacon is provisioned that way at run time, the
//! BOLT11 to pay comes that way, and the device reports its status and the invoice it wants
//! paid that way. A zero-length frame from the host announces a new transport (the bridge
//! opened a new websocket); the device sends one when its session closes.
//!
//! Run (`device::Device`): boot, wait for the beacon; rendezvous, provider info; ask for an
//! invoice of [`device::VEND_MSATS`], wait for its preimage (checked against the invoice's
//! payment hash), "dispense"; then pay the BOLT11 the host hands over, check the preimage;
//! report the peak stack and exit through semihosting (QEMU's exit status 0), or exit with
//! failure (status 1) on a provider error or a wrong preimage.
//!
//! Memory: the session (`Consumer<heapless::Vec<u8, FRAME>, 6, 2>`), its one frame buffer,
//! the BOLT11 to pay and the UART decoder are statics; the stack is painted at boot and its
//! peak reported at the end (`stack`).
//!
//! With the `baseline` feature the same skeleton (UART driver, SysTick clock, frame loop)
//! only echoes frames: the difference in size is the device's cost.
#![no_std]
#![no_main]

/// A status line to the host and the console (see `device::status`).
#[cfg(not(feature = "baseline"))]
macro_rules! say {
    ($($part:expr),+ $(,)?) => { $crate::device::status(&[$($part),+]) };
}

mod clock;
#[cfg(not(feature = "baseline"))]
mod device;
#[cfg(not(feature = "baseline"))]
mod entropy;
mod mem;
#[cfg(not(feature = "baseline"))]
mod rng;
// The baseline only exits on a panic and never reads the stack's peak.
#[cfg_attr(feature = "baseline", allow(dead_code))]
mod semihosting;
#[cfg_attr(feature = "baseline", allow(dead_code))]
mod stack;
mod uart;

use cortex_m as _; // critical-section implementation (single core)
use cortex_m_rt::{entry, exception};

use core::time::Duration;

use embedded_io::{Read as _, ReadReady as _, Write as _};

use moneysocket_core::serial_framing::{self, Decoded, Decoder};

/// Largest frame on the UART and in the session (`ConsumerConfig::max_frame`), in bytes.
const FRAME: usize = 1024;
/// Silence after which a partial incoming frame is dropped (resynchronises after noise that
/// looked like a valid length). Senders write a frame in one burst; the main loop calls
/// `Decoder::resume` after its own stalls, so only silence on the line counts.
const IDLE_GAP: Duration = Duration::from_millis(500);

#[cfg(not(feature = "baseline"))]
mod app {
    pub use crate::device::{Device, DeviceConsumer, FrameBuf, Outcome, PayText};
    pub type App = Device<crate::rng::DemoRng>;

    /// The QEMU board's entropy: **not secure** (see `rng`).
    pub fn entropy() -> crate::rng::DemoRng {
        crate::rng::DemoRng::new(
            0x6d6f_6e65_7973_6f63 ^ u64::from(cortex_m::peripheral::SYST::get_current()),
        )
    }
}

#[cfg(feature = "baseline")]
mod app {
    use core::mem::MaybeUninit;

    use moneysocket_core::time::Instant;

    /// Stand in for the device's statics so both variants share one `main`.
    pub type DeviceConsumer = ();
    pub type FrameBuf = [u8; 0];
    pub type PayText = heapless::String<0>;

    #[derive(PartialEq, Eq)]
    #[allow(dead_code)] // the same variants as the device's
    pub enum Outcome {
        Running,
        Done,
        Failed,
    }

    pub struct App;

    /// No session, no entropy.
    pub struct NoEntropy;

    pub fn entropy() -> NoEntropy {
        NoEntropy
    }

    impl App {
        pub fn new(
            _slot: &'static mut MaybeUninit<DeviceConsumer>,
            _buf: &'static mut FrameBuf,
            _pay: &'static mut PayText,
            _rng: NoEntropy,
        ) -> Self {
            App
        }
        pub fn on_frame(&mut self, frame: &[u8], _now: Instant) {
            crate::send(frame);
        }
        pub fn on_tick(&mut self, _now: Instant) {}
        pub fn outcome(&self) -> Outcome {
            Outcome::Running
        }
    }
}

#[entry]
fn main() -> ! {
    // cortex-m-rt turns these into `&'static mut` (entry runs once): no `unsafe` needed.
    // The session lives in .bss, not on the stack; its symbol size is
    // `size_of::<DeviceConsumer>()` (the size report reads it with `llvm-nm -S`).
    static mut CONSUMER: core::mem::MaybeUninit<app::DeviceConsumer> =
        core::mem::MaybeUninit::uninit();
    // The session's frame buffer (received frames decrypted in place, outgoing ones sealed).
    static mut FRAME_BUF: app::FrameBuf = [0; core::mem::size_of::<app::FrameBuf>()];
    // The BOLT11 to pay, kept until the session is ready for it.
    static mut PAY_TEXT: app::PayText = app::PayText::new();
    // All-zero initial value: the frame buffer stays in .bss; the gap is set below.
    static mut READER: Decoder<FRAME> = Decoder::new();

    stack::paint();
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        halt()
    };
    READER.set_idle_gap(Some(IDLE_GAP));
    clock::start(&mut cp.SYST);
    uart::init();
    // SAFETY: unmasking UART0's interrupt; its handler (`DefaultHandler` below) only touches
    // the RX ring buffer inside a critical section.
    unsafe { cp.NVIC.iser[0].write(1 << uart::IRQ) };

    let mut app = app::App::new(CONSUMER, FRAME_BUF, PAY_TEXT, app::entropy());

    let mut uart = uart::Uart;
    let mut chunk = [0u8; 64];
    loop {
        while uart.read_ready().unwrap_or(false) {
            let n = uart.read(&mut chunk).unwrap_or(0);
            let now = clock::now();
            let mut rest = chunk.get(..n).unwrap_or(&[]);
            while !rest.is_empty() {
                let (used, decoded) = READER.feed(rest, now);
                rest = rest.get(used..).unwrap_or(&[]);
                match decoded {
                    Some(Decoded::Frame(frame)) => app.on_frame(frame, now),
                    Some(Decoded::Control) => app.on_frame(&[], now),
                    // Dropped bytes (counted in `READER.stats()`); the decoder has
                    // resynchronised. A board with a log would print the error's `Display`.
                    Some(Decoded::Error(_)) | None => {}
                }
            }
            settle_reader(READER, &mut uart);
        }
        app.on_tick(clock::now());
        settle_reader(READER, &mut uart);
        match app.outcome() {
            app::Outcome::Running => {}
            outcome => finish(outcome == app::Outcome::Done),
        }
        // Sleep until the next interrupt (UART RX or the 1 ms tick). Checking with interrupts
        // masked avoids sleeping on a byte that arrived after the check.
        critical_section::with(|cs| {
            if !uart::rx_pending(cs) {
                cortex_m::asm::wfi();
            }
        });
    }
}

/// Bytes are stamped when the main loop reads them, not when they arrive: if some waited in
/// the receive ring while the device worked, that wait is not silence on the line, so the
/// decoder's idle gap restarts now. (Restarting it on every loop turn instead would hide real
/// silence, and a garbled length would never be dropped.)
fn settle_reader(reader: &mut Decoder<FRAME>, uart: &mut uart::Uart) {
    if uart.read_ready().unwrap_or(false) {
        reader.resume(clock::now());
    }
}

/// Time the host gets to read the last lines before the link closes (QEMU's exit resets the
/// TCP connection, which may discard what the bridge has not read yet).
const LAST_WORDS: u64 = 300;

/// Reports the peak stack and ends the run.
fn finish(success: bool) -> ! {
    #[cfg(not(feature = "baseline"))]
    {
        let mut digits = [0u8; 10];
        let peak = u32::try_from(stack::peak()).unwrap_or(u32::MAX);
        say!(
            if success { "DONE" } else { "FAILED" },
            "; peak stack ",
            device::decimal(peak, &mut digits),
            " bytes"
        );
    }
    let _ = uart::Uart.flush();
    let until = clock::now().0 + LAST_WORDS;
    while clock::now().0 < until {
        cortex_m::asm::wfi();
    }
    semihosting::exit(success)
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
    let _ = serial_framing::write_frame(frame, FRAME, |bytes| uart::Uart.write_all(bytes));
}

/// Stops here (bad setup); a debugger shows where.
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    semihosting::exit(false)
}
