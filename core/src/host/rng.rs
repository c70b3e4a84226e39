//! A small deterministic CSPRNG (SHA-256 in counter mode over a 256-bit key) that the host
//! seeds from the caller's entropy, so that the matchmaker it owns has an RNG of its own
//! without the caller passing two.

use rand_core::{impls, CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// SHA-256(key ‖ counter) blocks. Seeded once from a `CryptoRng`; never reseeded.
#[derive(Debug, Clone)]
pub struct HashRng {
    key: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl HashRng {
    /// Seeds from `rng`.
    pub fn from_rng<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        HashRng {
            key,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(self.counter.to_le_bytes());
        self.block = h.finalize().into();
        self.counter = self.counter.wrapping_add(1);
        self.used = 0;
    }
}

impl RngCore for HashRng {
    fn next_u32(&mut self) -> u32 {
        impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            if self.used == self.block.len() {
                self.refill();
            }
            *b = self.block[self.used];
            self.used += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for HashRng {}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(u8);
    impl RngCore for Counting {
        fn next_u32(&mut self) -> u32 {
            impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            for b in d {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }
    impl CryptoRng for Counting {}

    #[test]
    fn blocks_do_not_repeat() {
        let mut r = HashRng::from_rng(&mut Counting(0));
        let mut a = [0u8; 40];
        let mut b = [0u8; 40];
        r.fill_bytes(&mut a);
        r.fill_bytes(&mut b);
        assert_ne!(a, b);
        assert_ne!(a[..32], a[8..40]);
    }
}
