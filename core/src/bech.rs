//! Bech32 (BIP-173 checksum, never bech32m) without the 90-character or 1023-character
//! limits, as Moneysocket beacons and BOLT11 invoices need. Built on the `bech32` crate's
//! primitives with our own checksum type; 5→8 regrouping is strict (no excess padding,
//! zero leftover bits).

use bech32::primitives::checksum::Checksum;
use bech32::primitives::decode::{CheckedHrpstring, UncheckedHrpstring};
use bech32::{Fe32, Hrp};
use core::fmt;

/// The classic bech32 checksum with a code length large enough for any beacon or invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bech32Long {}

impl Checksum for Bech32Long {
    type MidstateRepr = u32;
    const CODE_LENGTH: usize = MAX_LEN;
    const CHECKSUM_LENGTH: usize = 6;
    const GENERATOR_SH: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    const TARGET_RESIDUE: u32 = 1;
}

/// Longest string accepted (the JavaScript peer's limit).
pub const MAX_LEN: usize = 20_000;

/// Why a string is not valid bech32 for our purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BechError {
    /// Shorter than 8 or longer than [`MAX_LEN`] characters.
    Length,
    /// No separator, bad characters, mixed case, or an HRP outside 1..=83 characters.
    Syntax,
    /// The checksum does not verify (bech32m strings end up here too).
    Checksum,
    /// No data before the checksum.
    Empty,
    /// 5-bit groups do not regroup into whole bytes (excess or non-zero padding).
    Padding,
    /// The decoded bytes do not fit the caller's buffer.
    TooLarge,
}

impl fmt::Display for BechError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BechError::Length => "bech32 string length out of range",
            BechError::Syntax => "malformed bech32 string",
            BechError::Checksum => "bech32 checksum mismatch",
            BechError::Empty => "bech32 string has no data",
            BechError::Padding => "bech32 data has invalid padding",
            BechError::TooLarge => "bech32 data larger than the buffer",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BechError {}

/// A checksum-verified bech32 string: its (lowercased) HRP and 5-bit data groups.
pub struct Checked<'s> {
    inner: CheckedHrpstring<'s>,
}

impl<'s> Checked<'s> {
    /// Parses and verifies `s` (all-lowercase or all-uppercase).
    pub fn new(s: &'s str) -> Result<Self, BechError> {
        if s.len() < 8 || s.len() > MAX_LEN {
            return Err(BechError::Length);
        }
        let unchecked = UncheckedHrpstring::new(s).map_err(|_| BechError::Syntax)?;
        let inner = unchecked
            .validate_and_remove_checksum::<Bech32Long>()
            .map_err(|_| BechError::Checksum)?;
        Ok(Checked { inner })
    }

    /// The human-readable part, lowercase.
    pub fn hrp(&self) -> Hrp {
        self.inner.hrp()
    }

    /// Number of 5-bit data groups (checksum excluded).
    pub fn group_count(&self) -> usize {
        self.inner.data_part_ascii_no_checksum().len()
    }

    /// The 5-bit data groups (checksum excluded).
    pub fn groups(&self) -> impl Iterator<Item = u8> + '_ {
        self.inner
            .data_part_ascii_no_checksum()
            .iter()
            .map(|&c| Fe32::from_char(c as char).map(|f| f.to_u8()).unwrap_or(0))
    }

    /// Regroups the data into bytes (strictly: fewer than 5 leftover bits, all zero) into `out`.
    pub fn bytes_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], BechError> {
        regroup_into(self.groups(), out)
    }
}

/// Strict 5→8 regrouping of `groups` into `out`.
pub fn regroup_into(groups: impl Iterator<Item = u8>, out: &mut [u8]) -> Result<&[u8], BechError> {
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut n = 0usize;
    let mut any = false;
    for g in groups {
        any = true;
        acc = (acc << 5 | u32::from(g & 31)) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n).ok_or(BechError::TooLarge)? = (acc >> bits) as u8;
            n += 1;
        }
    }
    if !any {
        return Err(BechError::Empty);
    }
    if bits >= 5 || acc & ((1 << bits) - 1) != 0 {
        return Err(BechError::Padding);
    }
    Ok(&out[..n])
}

/// Writes `hrp` + `1` + data (8→5 bits, zero padded) + checksum, lowercase, to `w`.
pub fn encode_to_fmt<W: fmt::Write>(
    w: &mut W,
    hrp: &str,
    data: &[u8],
) -> Result<(), BechEncodeError> {
    let hrp = Hrp::parse(hrp).map_err(|_| BechEncodeError::Hrp)?;
    bech32::encode_lower_to_fmt::<Bech32Long, W>(w, hrp, data).map_err(|_| BechEncodeError::Fmt)
}

/// Why encoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BechEncodeError {
    /// The HRP is empty, longer than 83 characters or has characters outside 33..=126.
    Hrp,
    /// The writer refused (buffer full) or the result would exceed [`MAX_LEN`].
    Fmt,
}

impl fmt::Display for BechEncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BechEncodeError::Hrp => "invalid human readable part",
            BechEncodeError::Fmt => "bech32 output did not fit",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BechEncodeError {}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn long_strings_round_trip_and_case() {
        let data = [0x5au8; 2000];
        let mut s = String::new();
        encode_to_fmt(&mut s, "moneysocket", &data).unwrap();
        assert!(s.len() > 3000);
        let mut buf = [0u8; 2100];
        let c = Checked::new(&s).unwrap();
        assert_eq!(c.hrp().as_str(), "moneysocket");
        assert_eq!(c.bytes_into(&mut buf).unwrap(), &data[..]);
        let upper = s.to_uppercase();
        assert_eq!(
            Checked::new(&upper).unwrap().bytes_into(&mut buf).unwrap(),
            &data[..]
        );
        let mut mixed = s.clone();
        mixed.replace_range(0..1, "M");
        assert!(Checked::new(&mixed).is_err());
    }

    #[test]
    fn strict_padding() {
        let mut out = [0u8; 4];
        // 2 groups = 10 bits: one byte plus 2 zero bits is fine.
        assert_eq!(
            regroup_into([0b11111, 0b11100].into_iter(), &mut out),
            Ok(&[0xff][..])
        );
        // non-zero leftover bits
        assert_eq!(
            regroup_into([0b11111, 0b11101].into_iter(), &mut out),
            Err(BechError::Padding)
        );
        // 3 groups = 15 bits: 7 leftover bits is excess padding
        assert_eq!(
            regroup_into([0, 0, 0].into_iter(), &mut out),
            Err(BechError::Padding)
        );
    }
}
