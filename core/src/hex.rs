//! Lowercase hexadecimal in and out, without allocation.

use core::fmt;

/// Why a hex string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HexError {
    /// A character that is not a hex digit, at this byte offset.
    BadChar(usize),
    /// The digit count does not give the expected byte count.
    BadLength {
        /// Bytes expected.
        expected: usize,
        /// Hex digits found.
        found: usize,
    },
    /// An odd number of digits.
    OddLength,
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::BadChar(i) => write!(f, "not a hex digit at offset {i}"),
            HexError::BadLength { expected, found } => {
                write!(f, "expected {} hex digits, got {found}", expected * 2)
            }
            HexError::OddLength => f.write_str("odd number of hex digits"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HexError {}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case) into `out`, which must be exactly half as long as `text`.
pub fn decode_into(text: &str, out: &mut [u8]) -> Result<(), HexError> {
    let b = text.as_bytes();
    if b.len() != out.len() * 2 {
        return Err(HexError::BadLength {
            expected: out.len(),
            found: b.len(),
        });
    }
    for (i, o) in out.iter_mut().enumerate() {
        let hi = nibble(b[2 * i]).ok_or(HexError::BadChar(2 * i))?;
        let lo = nibble(b[2 * i + 1]).ok_or(HexError::BadChar(2 * i + 1))?;
        *o = hi << 4 | lo;
    }
    Ok(())
}

/// Decodes exactly `N` bytes of hex.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let mut out = [0u8; N];
    decode_into(text, &mut out)?;
    Ok(out)
}

/// Decodes any even-length hex string.
#[cfg(feature = "alloc")]
pub fn decode_vec(text: &str) -> Result<alloc::vec::Vec<u8>, HexError> {
    if text.len() % 2 != 0 {
        return Err(HexError::OddLength);
    }
    let mut out = alloc::vec![0u8; text.len() / 2];
    decode_into(text, &mut out)?;
    Ok(out)
}

/// Whether every byte of `text` is a hex digit (either case).
pub fn is_hex(text: &str) -> bool {
    text.bytes().all(|c| nibble(c).is_some())
}

/// Lowercase hex digits, by value.
const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hex of `bytes` to `out`, as far as it fits. Written without
/// `core::fmt` (the text forms of ids and hashes are built on devices, where the formatting
/// machinery costs flash); the same text as `Hex(bytes)` displays.
pub fn push_hex<const N: usize>(out: &mut heapless::String<N>, bytes: &[u8]) {
    for &b in bytes {
        for nib in [b >> 4, b & 0xf] {
            let digit = DIGITS.get(usize::from(nib)).copied().unwrap_or(b'0');
            let _ = out.push(char::from(digit));
        }
    }
}

/// Displays bytes as lowercase hex: `format!("{}", Hex(&bytes))`.
#[derive(Clone, Copy)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Encodes bytes as a lowercase hex `String`.
#[cfg(feature = "alloc")]
pub fn encode(bytes: &[u8]) -> alloc::string::String {
    use alloc::string::ToString;
    Hex(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(decode_array::<2>("aBcD"), Ok([0xab, 0xcd]));
        assert_eq!(
            decode_array::<2>("abc"),
            Err(HexError::BadLength {
                expected: 2,
                found: 3
            })
        );
        assert_eq!(decode_array::<1>("zz"), Err(HexError::BadChar(0)));
        let mut s = heapless::String::<6>::new();
        push_hex(&mut s, &[0x00, 0x9f, 0xa0, 0xff]);
        assert_eq!(s.as_str(), "009fa0", "stops where the string is full");
        #[cfg(feature = "alloc")]
        assert_eq!(encode(&[0, 255]), "00ff");
    }
}
