//! The connection table's hasher: connection ids are handed out by the transport itself
//! (sequential, never chosen by a peer), so they need no DoS-resistant hashing; a
//! multiplicative hash spreads them over the table at a fraction of SipHash's cost (several
//! table lookups per forwarded frame).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use moneysocket_core::ConnId;

/// A map keyed by connection id, hashed with [`IdHasher`].
pub(crate) type IdMap<V> = HashMap<ConnId, V, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of integer keys: the product's low bits (the bucket) are a bijection of
/// the key's low bits, so sequential ids never collide in them, and its high bits (the
/// control byte) mix the whole key.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(K);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_fill_distinct_buckets() {
        let mask = 1023u64;
        let mut seen = std::collections::HashSet::new();
        for id in 1..=1024u32 {
            let mut h = IdHasher::default();
            std::hash::Hash::hash(&ConnId(id), &mut h);
            seen.insert(h.finish() & mask);
        }
        assert_eq!(seen.len(), 1024);
    }

    #[test]
    fn the_map_finds_what_it_holds() {
        let mut m: IdMap<u32> = IdMap::default();
        for id in (1..5000u32).step_by(7) {
            m.insert(ConnId(id), id * 2);
        }
        assert_eq!(m.get(&ConnId(8)), Some(&16));
        assert_eq!(m.get(&ConnId(9)), None);
    }
}
