//! BigSize: the Lightning (BOLT #1) variable-length unsigned integer, big-endian, minimal.
//!
//! Decoding reads only the leading BigSize and returns the remainder; trailing bytes are
//! the caller's business (several v0 fields rely on that leniency).

use core::fmt;

/// Why a BigSize could not be read. `Display` gives the reference implementation's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BigSizeError {
    /// Fewer bytes than the prefix announces; the field is the integer width (8, 16, 32, 64).
    Underrun(u8),
    /// The value fits a shorter form; the field is the width that was used (16, 32, 64).
    NotMinimal(u8),
}

impl fmt::Display for BigSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BigSizeError::Underrun(w) => write!(f, "underrun while peeking a uint{w}"),
            // "unit16" is the reference's own spelling; peers and vectors quote it.
            BigSizeError::NotMinimal(16) => f.write_str("not a minimally encoded unit16"),
            BigSizeError::NotMinimal(w) => write!(f, "not a minimally encoded uint{w}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BigSizeError {}

/// Maximum encoded length of a BigSize.
pub const MAX_LEN: usize = 9;

/// Number of bytes `value` takes when encoded.
pub const fn encoded_len(value: u64) -> usize {
    match value {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Encodes `value` minimally; returns the buffer and the number of bytes used.
pub fn encode(value: u64) -> ([u8; MAX_LEN], usize) {
    let mut out = [0u8; MAX_LEN];
    let len = encoded_len(value);
    match len {
        1 => out[0] = value as u8,
        3 => {
            out[0] = 0xfd;
            out[1..3].copy_from_slice(&(value as u16).to_be_bytes());
        }
        5 => {
            out[0] = 0xfe;
            out[1..5].copy_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out[0] = 0xff;
            out[1..9].copy_from_slice(&value.to_be_bytes());
        }
    }
    (out, len)
}

/// Decodes the leading BigSize of `bytes`; returns the value and the bytes after it.
pub fn decode(bytes: &[u8]) -> Result<(u64, &[u8]), BigSizeError> {
    let (&first, rest) = bytes.split_first().ok_or(BigSizeError::Underrun(8))?;
    fn take<const N: usize>(rest: &[u8], width: u8) -> Result<([u8; N], &[u8]), BigSizeError> {
        if rest.len() < N {
            return Err(BigSizeError::Underrun(width));
        }
        let (head, tail) = rest.split_at(N);
        let mut arr = [0u8; N];
        arr.copy_from_slice(head);
        Ok((arr, tail))
    }
    match first {
        0xfd => {
            let (b, tail) = take::<2>(rest, 16)?;
            let v = u64::from(u16::from_be_bytes(b));
            if v < 0xfd {
                return Err(BigSizeError::NotMinimal(16));
            }
            Ok((v, tail))
        }
        0xfe => {
            let (b, tail) = take::<4>(rest, 32)?;
            let v = u64::from(u32::from_be_bytes(b));
            if v < 0x1_0000 {
                return Err(BigSizeError::NotMinimal(32));
            }
            Ok((v, tail))
        }
        0xff => {
            let (b, tail) = take::<8>(rest, 64)?;
            let v = u64::from_be_bytes(b);
            if v < 0x1_0000_0000 {
                return Err(BigSizeError::NotMinimal(64));
            }
            Ok((v, tail))
        }
        v => Ok((u64::from(v), rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_round_trip() {
        for v in [
            0,
            0xfc,
            0xfd,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
        ] {
            let (buf, len) = encode(v);
            assert_eq!(len, encoded_len(v));
            assert_eq!(decode(&buf[..len]), Ok((v, &[][..])));
        }
    }

    #[test]
    fn rejects_non_minimal_and_short() {
        assert_eq!(
            decode(&[0xfd, 0x00, 0xfc]),
            Err(BigSizeError::NotMinimal(16))
        );
        assert_eq!(
            decode(&[0xfe, 0, 0, 0xff, 0xff]),
            Err(BigSizeError::NotMinimal(32))
        );
        assert_eq!(
            decode(&[0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(BigSizeError::NotMinimal(64))
        );
        assert_eq!(decode(&[0xfd, 0x01]), Err(BigSizeError::Underrun(16)));
        assert_eq!(decode(&[]), Err(BigSizeError::Underrun(8)));
    }

    #[test]
    fn error_texts_match_reference() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            BigSizeError::NotMinimal(16).to_string(),
            "not a minimally encoded unit16"
        );
        assert_eq!(
            BigSizeError::Underrun(32).to_string(),
            "underrun while peeking a uint32"
        );
    }
}
