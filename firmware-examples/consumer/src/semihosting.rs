//! ARM semihosting (QEMU `-semihosting-config enable=on`): console lines on the host's stdout
//! and the exit that becomes QEMU's exit code. On a real board without a debugger attached a
//! semihosting call faults: a port replaces these with its own console and reset.

/// SYS_WRITE: write a buffer to a host file handle.
const SYS_WRITE: u32 = 0x05;
/// SYS_EXIT (reported as an exception): ends the run.
const SYS_EXIT: u32 = 0x18;
/// ADP_Stopped_ApplicationExit: QEMU exits with status 0.
const EXIT_SUCCESS: u32 = 0x20026;
/// ADP_Stopped_RunTimeErrorUnknown: QEMU exits with status 1.
const EXIT_FAILURE: u32 = 0x20023;
/// The host's stdout handle.
const STDOUT: u32 = 1;

/// Writes `bytes` to the host's stdout.
pub fn write(bytes: &[u8]) {
    let block = [STDOUT, bytes.as_ptr() as u32, bytes.len() as u32];
    // SAFETY: SYS_WRITE reads `block` (three words) and the buffer it points to, both alive
    // for the duration of the call; it writes no guest memory.
    unsafe {
        cortex_m::asm::semihosting_syscall(SYS_WRITE, block.as_ptr() as u32);
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
