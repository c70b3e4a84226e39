//! Byte sinks: where encoders write. Bounded (`SliceSink`, `heapless::Vec`) or growable
//! (`alloc::vec::Vec`), plus a `CountingSink` to size a nested TLV before writing it.

use core::fmt;

/// The output did not fit the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Overflow;

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output buffer too small")
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Overflow {}

/// A destination for encoded bytes.
pub trait Sink {
    /// Appends `bytes`, or fails without a partial guarantee if they do not fit.
    fn put(&mut self, bytes: &[u8]) -> Result<(), Overflow>;
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        (**self).put(bytes)
    }
}

/// Counts bytes without storing them.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingSink(pub usize);

impl Sink for CountingSink {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        self.0 = self.0.checked_add(bytes.len()).ok_or(Overflow)?;
        Ok(())
    }
}

impl CountingSink {
    /// How many bytes `write` puts into a sink (`usize::MAX` if it overflows even counting).
    pub fn measure(write: impl FnOnce(&mut CountingSink) -> Result<(), Overflow>) -> usize {
        let mut c = CountingSink::default();
        match write(&mut c) {
            Ok(()) => c.0,
            Err(_) => usize::MAX,
        }
    }
}

/// The output of `write` (an ASCII JSON writer) as a `String`, sized by `len` first.
#[cfg(feature = "alloc")]
pub(crate) fn ascii_string(
    len: usize,
    write: impl FnOnce(&mut alloc::vec::Vec<u8>) -> Result<(), Overflow>,
) -> alloc::string::String {
    let mut v = alloc::vec::Vec::with_capacity(len);
    // Writing into a Vec cannot fail, and the output is ASCII.
    let _ = write(&mut v);
    alloc::string::String::from_utf8(v).unwrap_or_default()
}

/// Writes into a caller-provided slice.
#[derive(Debug)]
pub struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    /// A sink over `buf`, initially empty.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceSink { buf, len: 0 }
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The written bytes.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// Consumes the sink, returning the written part of the buffer.
    pub fn into_written(self) -> &'a mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        let end = self.len.checked_add(bytes.len()).ok_or(Overflow)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(Overflow)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

impl<const N: usize> Sink for heapless::Vec<u8, N> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        self.extend_from_slice(bytes).map_err(|_| Overflow)
    }
}

#[cfg(feature = "alloc")]
impl Sink for alloc::vec::Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// Adapts a [`Sink`] to `core::fmt::Write`, for text encoders.
pub struct FmtSink<'s, S: Sink + ?Sized>(pub &'s mut S);

impl<S: Sink + ?Sized> fmt::Write for FmtSink<'_, S> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.put(s.as_bytes()).map_err(|_| fmt::Error)
    }
}
