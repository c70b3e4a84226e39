//! Small `memcpy`/`memmove`/`memset` and their ARM EABI variants, in place of
//! `compiler_builtins`' speed-tuned ones (about 3 KB of flash: unaligned-copy paths, unrolled
//! loops; the sysroot's copy is prebuilt and ignores `opt-level = "z"`). Ours are about 100
//! bytes: a word loop when both pointers are word-aligned, bytes otherwise.
//!
//! `compiler_builtins` defines these symbols weak, so these (strong) definitions replace them
//! at link time; nothing calls this module by name. They are written in assembly so the
//! compiler cannot turn a copy loop back into a call to `memcpy` (itself).
//!
//! The session's copies are small (frames up to 1 KiB, the 2 KiB session once on
//! provisioning): byte-at-a-time is fast enough at 12 MHz (about 1 µs per 3 bytes).
//!
//! Contracts (C and AEABI): `memcpy`, `memmove(dst, src, n) -> dst` (`memcpy` is `memmove`:
//! overlap allowed); `memset(dst, c, n) -> dst`; `__aeabi_memcpy*`, `__aeabi_memmove*(dst,
//! src, n)`; `__aeabi_memset*(dst, n, c)`; `__aeabi_memclr*(dst, n)`. The `4`/`8` variants only
//! promise alignment, which the generic code does not need.

core::arch::global_asm!(
    ".syntax unified",
    ".section .text.device_mem,\"ax\",%progbits",
    ".p2align 1",
    // memmove(r0 = dst, r1 = src, r2 = n) -> r0. Uses r3 and r12 only (caller-saved).
    ".globl memmove",
    ".type memmove,%function",
    ".thumb_func",
    "memmove:",
    "    cmp   r0, r1",
    "    bhi   3f", // dst above src: copy from the end (overlap-safe)
    // Forward: words while both pointers are aligned, then bytes; r3 is the offset.
    "    movs  r3, #0",
    "    orr   r12, r0, r1",
    "    tst   r12, #3",
    "    bne   2f",
    "1:  adds  r12, r3, #4",
    "    cmp   r12, r2",
    "    bhi   2f",
    "    ldr   r12, [r1, r3]",
    "    str   r12, [r0, r3]",
    "    adds  r3, #4",
    "    b     1b",
    "2:  cmp   r3, r2",
    "    beq   4f",
    "    ldrb  r12, [r1, r3]",
    "    strb  r12, [r0, r3]",
    "    adds  r3, #1",
    "    b     2b",
    // Backward, bytes: r2 counts down to 0.
    "3:  subs  r2, #1",
    "    bcc   4f", // borrow: r2 was 0
    "    ldrb  r12, [r1, r2]",
    "    strb  r12, [r0, r2]",
    "    b     3b",
    "4:  bx    lr",
    ".size memmove, . - memmove",
    // memset(r0 = dst, r1 = c, r2 = n) -> r0.
    ".globl memset",
    ".type memset,%function",
    ".thumb_func",
    "memset:",
    "    movs  r3, #0",
    "5:  cmp   r3, r2",
    "    beq   6f",
    "    strb  r1, [r0, r3]",
    "    adds  r3, #1",
    "    b     5b",
    "6:  bx    lr",
    ".size memset, . - memset",
    // __aeabi_memset(r0 = dst, r1 = n, r2 = c): memset with n and c swapped.
    ".globl __aeabi_memset",
    ".type __aeabi_memset,%function",
    ".thumb_func",
    "__aeabi_memset:",
    "    mov   r3, r1",
    "    mov   r1, r2",
    "    mov   r2, r3",
    "    b     memset",
    ".size __aeabi_memset, . - __aeabi_memset",
    // __aeabi_memclr(r0 = dst, r1 = n): memset(dst, 0, n).
    ".globl __aeabi_memclr",
    ".type __aeabi_memclr,%function",
    ".thumb_func",
    "__aeabi_memclr:",
    "    mov   r2, r1",
    "    movs  r1, #0",
    "    b     memset",
    ".size __aeabi_memclr, . - __aeabi_memclr",
    // Aliases (Thumb function symbols at the same code).
    ".globl memcpy",
    ".thumb_set memcpy, memmove",
    ".globl __aeabi_memcpy",
    ".thumb_set __aeabi_memcpy, memmove",
    ".globl __aeabi_memcpy4",
    ".thumb_set __aeabi_memcpy4, memmove",
    ".globl __aeabi_memcpy8",
    ".thumb_set __aeabi_memcpy8, memmove",
    ".globl __aeabi_memmove",
    ".thumb_set __aeabi_memmove, memmove",
    ".globl __aeabi_memmove4",
    ".thumb_set __aeabi_memmove4, memmove",
    ".globl __aeabi_memmove8",
    ".thumb_set __aeabi_memmove8, memmove",
    ".globl __aeabi_memset4",
    ".thumb_set __aeabi_memset4, __aeabi_memset",
    ".globl __aeabi_memset8",
    ".thumb_set __aeabi_memset8, __aeabi_memset",
    ".globl __aeabi_memclr4",
    ".thumb_set __aeabi_memclr4, __aeabi_memclr",
    ".globl __aeabi_memclr8",
    ".thumb_set __aeabi_memclr8, __aeabi_memclr",
);
