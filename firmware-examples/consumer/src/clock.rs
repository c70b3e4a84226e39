//! A millisecond clock from SysTick, for the consumer's `Instant`.

use core::cell::Cell;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use critical_section::Mutex;
use moneysocket_core::time::Instant;

/// Core clock assumed for the tick: the LM3S6965's 12 MHz internal oscillator after reset
/// (QEMU's default for lm3s6965evb). Adjust for a real board's clock tree.
const CORE_HZ: u32 = 12_000_000;

static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts a 1 kHz SysTick interrupt.
pub fn start(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();
}

/// Milliseconds since [`start`].
pub fn now() -> Instant {
    Instant(critical_section::with(|cs| MILLIS.borrow(cs).get()))
}

/// SysTick handler body.
pub fn on_tick() {
    critical_section::with(|cs| {
        let m = MILLIS.borrow(cs);
        m.set(m.get() + 1);
    });
}
