//! UUIDs as Moneysocket peers write them: canonical lowercase on output, the Python
//! reference's lenient spellings accepted on input.

use crate::hex::Hex;
use core::fmt;
use rand_core::{CryptoRng, RngCore};

/// A 128-bit UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Uuid(pub [u8; 16]);

/// The text is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UuidError;

impl fmt::Display for UuidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid uuid")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for UuidError {}

impl Uuid {
    /// A random version-4 UUID from the caller's entropy.
    pub fn new_v4<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        Self::v4_from_bytes(b)
    }

    /// Stamps version 4 and the RFC 4122 variant onto random bytes.
    pub fn v4_from_bytes(mut b: [u8; 16]) -> Self {
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Uuid(b)
    }

    /// Parses the spellings Python's `uuid.UUID(str)` accepts in practice: any case,
    /// optional `urn:`/`uuid:` prefixes, surrounding braces, hyphens anywhere or nowhere.
    pub fn parse_lenient(text: &str) -> Result<Self, UuidError> {
        let mut s = text;
        for prefix in ["urn:", "uuid:"] {
            if let Some(rest) = s.strip_prefix(prefix) {
                s = rest;
            }
        }
        let s = s.trim_matches(|c| c == '{' || c == '}');
        let mut out = [0u8; 16];
        let mut n = 0usize;
        let mut hi: Option<u8> = None;
        for c in s.bytes() {
            if c == b'-' {
                continue;
            }
            let v = (c as char).to_digit(16).ok_or(UuidError)? as u8;
            match hi.take() {
                None => hi = Some(v),
                Some(h) => {
                    *out.get_mut(n).ok_or(UuidError)? = h << 4 | v;
                    n += 1;
                }
            }
        }
        if n != 16 || hi.is_some() {
            return Err(UuidError);
        }
        Ok(Uuid(out))
    }

    /// Parses only the canonical 8-4-4-4-12 form (either case), as the JavaScript peer does.
    pub fn parse_canonical(text: &str) -> Result<Self, UuidError> {
        let b = text.as_bytes();
        if b.len() != 36 {
            return Err(UuidError);
        }
        for (i, &c) in b.iter().enumerate() {
            let dash = matches!(i, 8 | 13 | 18 | 23);
            if dash != (c == b'-') {
                return Err(UuidError);
            }
        }
        Self::parse_lenient(text)
    }

    /// Version 4 with the RFC 4122 variant (what Python's `uuid.version == 4` means).
    pub fn is_v4(&self) -> bool {
        self.0[6] >> 4 == 4 && self.0[8] >> 6 == 0b10
    }

    /// The canonical lowercase text, in a fixed buffer.
    pub fn to_str_buf(&self) -> heapless::String<36> {
        let mut s = heapless::String::new();
        // 36 bytes always fit. Without `core::fmt` (flash on devices); the `Display` text.
        for (i, group) in self.0.chunks(2).enumerate() {
            if matches!(i, 2..=5) {
                let _ = s.push('-');
            }
            crate::hex::push_hex(&mut s, group);
        }
        s
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{}-{}-{}-{}-{}",
            Hex(&b[0..4]),
            Hex(&b[4..6]),
            Hex(&b[6..8]),
            Hex(&b[8..10]),
            Hex(&b[10..16])
        )
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn lenient_spellings() {
        let c = Uuid::parse_lenient("35cefcb2-cab0-4cca-9655-3e110b736efa").unwrap();
        for s in [
            "35CEFCB2-CAB0-4CCA-9655-3E110B736EFA",
            "{35cefcb2-cab0-4cca-9655-3e110b736efa}",
            "urn:uuid:35cefcb2-cab0-4cca-9655-3e110b736efa",
            "35cefcb2cab04cca96553e110b736efa",
        ] {
            assert_eq!(Uuid::parse_lenient(s), Ok(c), "{s}");
        }
        assert!(Uuid::parse_canonical("35cefcb2cab04cca96553e110b736efa").is_err());
        assert!(Uuid::parse_lenient("35cefcb2-cab0-4cca-9655-3e110b736ef").is_err());
        assert_eq!(c.to_string(), "35cefcb2-cab0-4cca-9655-3e110b736efa");
        assert_eq!(
            c.to_str_buf().as_str(),
            "35cefcb2-cab0-4cca-9655-3e110b736efa"
        );
        let all = Uuid(
            (0..16)
                .map(|i| i * 17)
                .collect::<std::vec::Vec<u8>>()
                .try_into()
                .unwrap(),
        );
        assert_eq!(all.to_str_buf().as_str(), all.to_string());
        assert!(c.is_v4());
    }
}
