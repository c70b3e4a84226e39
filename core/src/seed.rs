//! The 128-bit shared seed and what is derived from it.
//!
//! v0 (deployed): AES-256 key = SHA-256(SHA-256(seed)); rendezvous id =
//! SHA-256(SHA-256(key)). The v1 draft uses one round for each.

use crate::hex::{self, Hex, HexError};
use core::fmt;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// The 16-byte shared seed a beacon carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SharedSeed(pub [u8; 16]);

/// A 256-bit AES key derived from a seed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AesKey(pub [u8; 32]);

/// A 256-bit rendezvous id derived from a seed; on the wire as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RendezvousId(pub [u8; 32]);

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

impl SharedSeed {
    /// A fresh seed from the caller's entropy.
    pub fn generate<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        SharedSeed(b)
    }

    /// Parses exactly 32 hex digits (either case), as the reference's parser does.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        hex::decode_array(text).map(SharedSeed)
    }

    /// The seed bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// v0 AES-256 key: two SHA-256 rounds over the seed.
    pub fn v0_aes_key(&self) -> AesKey {
        AesKey(sha256(&sha256(&self.0)))
    }

    /// v0 rendezvous id: two more SHA-256 rounds over the v0 key (four from the seed).
    pub fn v0_rendezvous_id(&self) -> RendezvousId {
        RendezvousId(sha256(&sha256(&self.v0_aes_key().0)))
    }

    /// v1 draft AES-256 key: one SHA-256 round over the seed.
    pub fn v1_aes_key(&self) -> AesKey {
        AesKey(sha256(&self.0))
    }

    /// v1 draft rendezvous id: one SHA-256 round over the v1 key.
    pub fn v1_rendezvous_id(&self) -> RendezvousId {
        RendezvousId(sha256(&self.v1_aes_key().0))
    }
}

impl fmt::Display for SharedSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Hex(&self.0).fmt(f)
    }
}

impl fmt::Debug for SharedSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedSeed({})", Hex(&self.0))
    }
}

impl fmt::Display for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Hex(&self.0).fmt(f)
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material in debug output.
        f.write_str("AesKey(..)")
    }
}

impl RendezvousId {
    /// The 64-character lowercase hex form sent in `REQUEST_RENDEZVOUS`.
    pub fn to_hex(&self) -> heapless::String<64> {
        let mut s = heapless::String::new();
        // 64 characters always fit.
        crate::hex::push_hex(&mut s, &self.0);
        s
    }
}

impl fmt::Display for RendezvousId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Hex(&self.0).fmt(f)
    }
}

impl fmt::Debug for RendezvousId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RendezvousId({})", Hex(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn v0_derivation_matches_reference_example() {
        let seed = SharedSeed::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
        assert_eq!(
            seed.v0_aes_key().to_string(),
            "fc793c641b354b10b9a264ad4f541f6efe8445a0d05fe39336a126252b166e8b"
        );
        assert_eq!(
            seed.v0_rendezvous_id().to_hex().as_str(),
            "2acc58b612ab45f732bd60b9eb91910918d74ba3107800fea034d80f4171edb6"
        );
        assert!(SharedSeed::from_hex("0001").is_err());
    }
}
