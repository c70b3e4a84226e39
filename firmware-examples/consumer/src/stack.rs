//! Peak stack, measured by painting: at boot every word between the end of the statics and a
//! little below the current stack pointer is filled with a pattern; the peak is the distance
//! from the top of RAM to the lowest word no longer holding it.

use core::ptr;

/// The paint.
const PAINT: u32 = 0xdead_beef;
/// Words left unpainted below the stack pointer at the time of painting (the painter's own
/// frame lives there).
const MARGIN_WORDS: usize = 16;

extern "C" {
    /// End of .bss/.uninit: the lowest address the stack may reach (cortex-m-rt's link.x).
    static __sheap: u32;
    /// Initial stack pointer: the top of RAM (cortex-m-rt's link.x).
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker symbols are taken, never their contents.
    (
        ptr::addr_of!(__sheap) as usize,
        ptr::addr_of!(_stack_start) as usize,
    )
}

/// Paints the unused stack. Call first thing in `main`.
pub fn paint() {
    let (low, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let high = sp.saturating_sub(MARGIN_WORDS * 4);
    let mut p = (low + 3) & !3;
    while p < high {
        // SAFETY: `p` is word-aligned, between the end of the statics and below the live
        // stack: memory nothing else uses yet.
        unsafe { ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of stack used at the deepest so far.
pub fn peak() -> usize {
    let (low, top) = bounds();
    let mut p = (low + 3) & !3;
    while p < top {
        // SAFETY: `p` is word-aligned inside RAM (between the statics' end and the top).
        if unsafe { ptr::read_volatile(p as *const u32) } != PAINT {
            break;
        }
        p += 4;
    }
    top - p
}
