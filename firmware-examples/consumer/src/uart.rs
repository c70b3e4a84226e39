//! A minimal driver for UART0 of the LM3S6965 (an ARM PL011 at `0x4000_C000`), as QEMU's
//! lm3s6965evb models it: 8N1 with FIFOs, blocking transmit, interrupt-driven receive into a
//! ring buffer. No clock gating or baud setup is needed under QEMU; a real board would also
//! enable the UART clock (RCGC1) and program IBRD/FBRD.
//!
//! [`Uart`] is the driver as `embedded_io` traits (`Read`, `ReadReady`, `Write`, `WriteReady`):
//! the main loop and the frame writer use only those, so a board whose HAL UART implements
//! them replaces this module without touching the rest.
//!
//! MMIO is the one place that needs `unsafe`: each access is a volatile read or write of a
//! PL011 register at a fixed, aligned address that is valid for the whole run, and only this
//! module touches the UART.

use core::cell::RefCell;
use core::ptr;

use critical_section::Mutex;
use heapless::Deque;

const BASE: usize = 0x4000_C000;
/// Data register: a read pops the RX FIFO, a write pushes the TX FIFO.
const DR: usize = 0x00;
/// Flag register.
const FR: usize = 0x18;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const FR_BUSY: u32 = 1 << 3;
const FR_TXFE: u32 = 1 << 7;
/// Line control: 8 data bits, FIFOs enabled.
const LCRH: usize = 0x2C;
const LCRH_8N1_FIFO: u32 = 0x70;
/// Control: UART, TX and RX enable.
const CR: usize = 0x30;
const CR_ENABLE: u32 = 0x301;
/// Interrupt mask: RX and RX timeout.
const IMSC: usize = 0x38;
const IMSC_RX_RT: u32 = (1 << 4) | (1 << 6);

/// UART0's interrupt number on the LM3S6965.
pub const IRQ: u16 = 5;

/// Bytes received by the interrupt handler, not yet read by the main loop. Sized to hold a
/// few frames' worth while the main loop is busy in the consumer.
static RX: Mutex<RefCell<Deque<u8, 2048>>> = Mutex::new(RefCell::new(Deque::new()));

fn read(offset: usize) -> u32 {
    // SAFETY: BASE + offset is a PL011 register (see the module docs).
    unsafe { ptr::read_volatile((BASE + offset) as *const u32) }
}

fn write(offset: usize, value: u32) {
    // SAFETY: BASE + offset is a PL011 register (see the module docs).
    unsafe { ptr::write_volatile((BASE + offset) as *mut u32, value) }
}

/// Enables UART0 (8N1, FIFOs) with receive interrupts. Unmask [`IRQ`] in the NVIC afterwards.
pub fn init() {
    write(CR, 0);
    write(LCRH, LCRH_8N1_FIFO);
    write(IMSC, IMSC_RX_RT);
    write(CR, CR_ENABLE);
}

/// UART0 (a handle: the hardware is one, set up by [`init`]).
pub struct Uart;

impl embedded_io::ErrorType for Uart {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for Uart {
    /// Queues `bytes` in the TX FIFO, waiting while it is full; all of them are taken.
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Self::Error> {
        for &b in bytes {
            while read(FR) & FR_TXFF != 0 {}
            write(DR, u32::from(b));
        }
        Ok(bytes.len())
    }

    /// Waits until everything written has left the UART.
    fn flush(&mut self) -> Result<(), Self::Error> {
        while read(FR) & (FR_BUSY | FR_TXFE) != FR_TXFE {}
        Ok(())
    }
}

impl embedded_io::WriteReady for Uart {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(read(FR) & FR_TXFF == 0)
    }
}

impl embedded_io::Read for Uart {
    /// Received bytes from the ring buffer, waiting (`wfi`) until there is at least one.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = critical_section::with(|cs| {
                let mut rx = RX.borrow_ref_mut(cs);
                let mut n = 0;
                for slot in buf.iter_mut() {
                    let Some(b) = rx.pop_front() else { break };
                    *slot = b;
                    n += 1;
                }
                if n == 0 {
                    // Sleep with interrupts masked: a byte arriving now still wakes us.
                    cortex_m::asm::wfi();
                }
                n
            });
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(critical_section::with(|cs| !RX.borrow_ref(cs).is_empty()))
    }
}

/// Whether received bytes are waiting (call inside a critical section before `wfi`).
pub fn rx_pending(cs: critical_section::CriticalSection<'_>) -> bool {
    !RX.borrow_ref(cs).is_empty()
}

/// Bytes dropped because the ring buffer was full (the link will see a broken frame).
static DROPPED: Mutex<core::cell::Cell<u32>> = Mutex::new(core::cell::Cell::new(0));

/// Interrupt handler body: moves the RX FIFO into the ring buffer (reading DR clears the
/// RX and RX-timeout interrupts once the FIFO is empty).
pub fn on_interrupt() {
    critical_section::with(|cs| {
        let mut rx = RX.borrow_ref_mut(cs);
        while read(FR) & FR_RXFE == 0 {
            let b = read(DR) as u8;
            if rx.push_back(b).is_err() {
                let d = DROPPED.borrow(cs);
                d.set(d.get().wrapping_add(1));
            }
        }
    });
}
