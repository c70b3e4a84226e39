//! Entropy for the QEMU build. **Not secure.**
//!
//! The consumer draws request uuids and AES-CBC IVs from its RNG; predictable IVs and uuids
//! weaken the v0 framing and let a relay or peer guess request ids. A real device must use
//! its hardware TRNG (or a CSPRNG seeded from it, e.g. `rand_chacha`). The LM3S6965 has no
//! TRNG, so this demo uses xorshift64* seeded from a constant mixed with the SysTick counter
//! at boot, which is nearly constant under QEMU.

use rand_core::{impls, CryptoRng, RngCore};

/// xorshift64*: fast and small, **not cryptographic**. See the module docs.
pub struct DemoRng(u64);

impl DemoRng {
    /// Seeds from `seed` (a zero seed is replaced: xorshift would stay at zero).
    pub fn new(seed: u64) -> Self {
        DemoRng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
}

impl RngCore for DemoRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// A lie told to satisfy the session's `CryptoRng` bound, acceptable only in this demo:
/// replace `DemoRng` with a hardware TRNG on a real device.
impl CryptoRng for DemoRng {}

impl crate::entropy::Entropy for DemoRng {
    const SECURE: bool = false;
    const SOURCE: &'static str = "QEMU demo xorshift64* seeded from SysTick";
}
