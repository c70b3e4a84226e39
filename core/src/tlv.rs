//! TLV records and streams (`type` BigSize ‖ `length` BigSize ‖ value).
//!
//! Records borrow from the input. Two stream readers exist because the deployed code
//! uses two rule sets: [`Records`] iterates in wire order with no ordering, duplicate or
//! even-type rules (what every v0 and v1 object decoder really does), and
//! [`check_strict`] applies the BOLT #1 namespace rules in the reference's check order.

use crate::bigsize::{self, BigSizeError};
use crate::sink::{CountingSink, Overflow, Sink};
use core::fmt;

/// One TLV record, borrowing its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record type.
    pub typ: u64,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Why a record could not be popped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TlvError {
    /// The type BigSize is malformed.
    Type(BigSizeError),
    /// The length BigSize is malformed.
    Length(BigSizeError),
    /// The length announces more bytes than remain.
    ValueTruncated,
}

impl fmt::Display for TlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlvError::Type(e) => write!(f, "could not get type: {e}"),
            TlvError::Length(e) => write!(f, "could not get length: {e}"),
            TlvError::ValueTruncated => f.write_str("value truncated"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TlvError {}

/// Pops the leading record of `bytes`; returns it and the bytes after it.
pub fn pop(bytes: &[u8]) -> Result<(Record<'_>, &[u8]), TlvError> {
    let (typ, rest) = bigsize::decode(bytes).map_err(TlvError::Type)?;
    let (len, rest) = bigsize::decode(rest).map_err(TlvError::Length)?;
    let len = usize::try_from(len).map_err(|_| TlvError::ValueTruncated)?;
    if len > rest.len() {
        return Err(TlvError::ValueTruncated);
    }
    let (value, rest) = rest.split_at(len);
    Ok((Record { typ, value }, rest))
}

/// Iterates the records of a stream in wire order. After an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Iterates the records of `bytes`.
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records {
        rest: bytes,
        failed: false,
    }
}

impl<'a> Records<'a> {
    /// The bytes not yet consumed.
    pub fn remainder(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, TlvError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match pop(self.rest) {
            Ok((rec, rest)) => {
                self.rest = rest;
                Some(Ok(rec))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Whether `bytes` pops cleanly into records until nothing is left (the empty stream is valid).
pub fn is_valid_stream(bytes: &[u8]) -> bool {
    records(bytes).all(|r| r.is_ok())
}

/// Violations of the BOLT #1 stream rules, in the reference namespace parser's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StrictError {
    /// The stream does not pop cleanly.
    NotValid,
    /// An even type the caller does not know.
    UnknownEven(u64),
    /// A type occurs twice.
    Duplicate(u64),
    /// Types are not strictly ascending.
    NotAscending(u64),
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StrictError::NotValid => "tlvs are not valid",
            StrictError::UnknownEven(_) => "got unknown even type tlv for Namespace",
            StrictError::Duplicate(_) => "duplicate TLVs in stream",
            StrictError::NotAscending(_) => "tlvs values not ascending",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for StrictError {}

/// Checks `bytes` against the BOLT #1 rules in the order the reference's namespace parser
/// does: validity, unknown even types, duplicates, ascending order. No allocation; the
/// duplicate check is quadratic in the record count, which is fine for beacon-sized input.
pub fn check_strict(bytes: &[u8], known: impl Fn(u64) -> bool) -> Result<(), StrictError> {
    if !is_valid_stream(bytes) {
        return Err(StrictError::NotValid);
    }
    let recs = || records(bytes).filter_map(Result::ok);
    if let Some(r) = recs().find(|r| r.typ % 2 == 0 && !known(r.typ)) {
        return Err(StrictError::UnknownEven(r.typ));
    }
    // A strictly ascending stream has no duplicates; only otherwise look for them.
    let ascending = recs().zip(recs().skip(1)).all(|(a, b)| a.typ < b.typ);
    if !ascending {
        if let Some(t) = find_duplicate(recs().map(|r| r.typ)) {
            return Err(StrictError::Duplicate(t));
        }
    }
    let mut prev: Option<u64> = None;
    for r in recs() {
        if prev.is_some_and(|p| r.typ <= p) {
            return Err(StrictError::NotAscending(r.typ));
        }
        prev = Some(r.typ);
    }
    Ok(())
}

/// A type that occurs twice, found in O(n log n) with `alloc`.
#[cfg(feature = "alloc")]
fn find_duplicate(types: impl Iterator<Item = u64>) -> Option<u64> {
    let mut v: alloc::vec::Vec<u64> = types.collect();
    v.sort_unstable();
    v.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// A type that occurs twice. Without `alloc` this is quadratic in the record count; no
/// decoder uses the strict check, so only callers that opt in pay for it.
#[cfg(not(feature = "alloc"))]
fn find_duplicate(types: impl Iterator<Item = u64> + Clone) -> Option<u64> {
    let all = types.clone();
    for (i, a) in types.enumerate() {
        if all.clone().skip(i + 1).any(|b| b == a) {
            return Some(a);
        }
    }
    None
}

/// Writes a BigSize.
pub fn write_bigsize<S: Sink + ?Sized>(sink: &mut S, value: u64) -> Result<(), Overflow> {
    let (buf, len) = bigsize::encode(value);
    sink.put(&buf[..len])
}

/// Writes one record with the given value bytes.
pub fn write_record<S: Sink + ?Sized>(
    sink: &mut S,
    typ: u64,
    value: &[u8],
) -> Result<(), Overflow> {
    write_bigsize(sink, typ)?;
    write_bigsize(sink, value.len() as u64)?;
    sink.put(value)
}

/// Writes one record whose value is produced by `body` (called twice: once to measure,
/// once to write), so nested TLVs need no scratch buffer.
pub fn write_nested<S, F>(sink: &mut S, typ: u64, mut body: F) -> Result<(), Overflow>
where
    S: Sink + ?Sized,
    F: FnMut(&mut dyn Sink) -> Result<(), Overflow>,
{
    let mut count = CountingSink::default();
    body(&mut count)?;
    write_bigsize(sink, typ)?;
    write_bigsize(sink, count.0 as u64)?;
    let mut dyn_sink: &mut S = sink;
    body(&mut dyn_sink)
}

/// Writes one record whose value is a BigSize.
pub fn write_bigsize_record<S: Sink + ?Sized>(
    sink: &mut S,
    typ: u64,
    value: u64,
) -> Result<(), Overflow> {
    let (buf, len) = bigsize::encode(value);
    write_record(sink, typ, &buf[..len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SliceSink;

    #[test]
    fn pop_returns_remainder() {
        let (r, rest) = pop(&[1, 3, 0xaa, 0xbb, 0xcc, 0xdd]).unwrap();
        assert_eq!(
            (r.typ, r.value, rest),
            (1, &[0xaa, 0xbb, 0xcc][..], &[0xdd][..])
        );
        assert_eq!(pop(&[1, 2]), Err(TlvError::ValueTruncated));
    }

    #[test]
    fn nested_write_measures_first() {
        let mut buf = [0u8; 16];
        let mut s = SliceSink::new(&mut buf);
        write_nested(&mut s, 7, |inner| write_record(inner, 1, &[9, 9])).unwrap();
        assert_eq!(s.written(), &[7, 4, 1, 2, 9, 9]);
    }

    #[test]
    fn strict_check_order() {
        assert_eq!(
            check_strict(&[2, 1, 0x50, 0, 2, 0x68, 0x69], |t| t < 3),
            Err(StrictError::NotAscending(0))
        );
        assert_eq!(
            check_strict(&[0, 0, 6, 0, 6, 0], |t| t < 3),
            Err(StrictError::UnknownEven(6))
        );
        assert_eq!(check_strict(&[0, 0, 1, 0, 2, 0], |t| t < 3), Ok(()));
        // Duplicates outrank ordering, as in the reference: 2, 0, 2 is a duplicate.
        assert_eq!(
            check_strict(&[2, 0, 0, 0, 2, 0], |t| t < 3),
            Err(StrictError::Duplicate(2))
        );
    }
}
