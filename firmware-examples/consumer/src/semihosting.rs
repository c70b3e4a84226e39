//! ARM semihosting (QEMU `-semihosting-config enable=on`): console lines on the host's stdout
//! and the exit that becomes QEMU's exit code. On a real board without a debugger attached a
//! semihosting call faults: a port replaces these with its own console and reset.

/// SYS_WRITEC: write one character to the debug console (QEMU: its stdout).
const SYS_WRITEC: u32 = 0x03;
/// SYS_EXIT (reported as an exception): ends the run.
const SYS_EXIT: u32 = 0x18;
/// ADP_Stopped_ApplicationExit: QEMU exits with status 0.
const EXIT_SUCCESS: u32 = 0x20026;
/// ADP_Stopped_RunTimeErrorUnknown: QEMU exits with status 1.
const EXIT_FAILURE: u32 = 0x20023;
/// Writes `bytes` to the debug console, one call per byte (status lines are short; no file
/// handle to open first).
pub fn write(bytes: &[u8]) {
    for b in bytes {
        // SAFETY: SYS_WRITEC reads the one byte `b` points to, alive during the call; it
        // writes no guest memory.
        unsafe {
            cortex_m::asm::semihosting_syscall(SYS_WRITEC, b as *const u8 as u32);
        }
    }
}

/// Ends the run: QEMU exits with 0 (`success`) or 1.
pub fn exit(success: bool) -> ! {
    let reason = if success { EXIT_SUCCESS } else { EXIT_FAILURE };
    // SAFETY: SYS_EXIT on a 32-bit target takes the reason code in the argument register and
    // reads no memory.
    unsafe {
        cortex_m::asm::semihosting_syscall(SYS_EXIT, reason);
    }
    // Without a semihosting host the call does not return an exit: stop here.
    loop {
        cortex_m::asm::wfi();
    }
}
