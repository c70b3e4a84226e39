//! Where a session keeps variable-length text between an input and the drain that reports
//! it: outgoing invoice/pay/error texts until they are sealed, incoming invoices, errors and
//! provider info until the application has seen them. Empty between drains.

use crate::sink::{Overflow, Sink};

/// Byte storage for a session's texts (caller's choice, smoltcp style): a bounded
/// `heapless::Vec<u8, N>` on a microcontroller, a growable `Vec<u8>` (with `alloc`) in a
/// host, where it holds no memory while the session is idle.
pub trait TextStore: Sink + Default {
    /// Everything stored.
    fn bytes(&self) -> &[u8];
    /// Forgets everything (and gives memory back where that applies).
    fn reset(&mut self);
    /// Gives back spare capacity (for a text kept long, like provider info).
    fn compact(&mut self) {}
}

impl<const N: usize> TextStore for heapless::Vec<u8, N> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn reset(&mut self) {
        self.clear();
    }
}

#[cfg(feature = "alloc")]
impl TextStore for alloc::vec::Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn reset(&mut self) {
        *self = alloc::vec::Vec::new();
    }
    fn compact(&mut self) {
        self.shrink_to_fit();
    }
}

/// The default store: growable with `alloc`, 2 KiB inline without.
#[cfg(feature = "alloc")]
pub type DefaultStore = alloc::vec::Vec<u8>;
/// The default store: growable with `alloc`, 2 KiB inline without.
#[cfg(not(feature = "alloc"))]
pub type DefaultStore = heapless::Vec<u8, 2048>;

/// A range of a [`TextStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

/// Appends `bytes`; the span where they went.
pub(crate) fn push_bytes<B: TextStore>(store: &mut B, bytes: &[u8]) -> Result<Span, Overflow> {
    let start = u32::try_from(store.bytes().len()).map_err(|_| Overflow)?;
    let len = u32::try_from(bytes.len()).map_err(|_| Overflow)?;
    store.put(bytes)?;
    Ok(Span { start, len })
}

/// Appends the UTF-8 of `chars`; the span where they went.
pub(crate) fn push_chars<B: TextStore>(
    store: &mut B,
    chars: impl Iterator<Item = char>,
) -> Result<Span, Overflow> {
    let start = store.bytes().len();
    let mut tmp = [0u8; 4];
    for c in chars {
        store.put(c.encode_utf8(&mut tmp).as_bytes())?;
    }
    let len = store.bytes().len() - start;
    Ok(Span {
        start: u32::try_from(start).map_err(|_| Overflow)?,
        len: u32::try_from(len).map_err(|_| Overflow)?,
    })
}

/// Appends what `write` puts into the store; the span where it went. On overflow the
/// partial bytes stay until the store is reset.
pub(crate) fn push_with<B: TextStore>(
    store: &mut B,
    write: impl FnOnce(&mut B) -> Result<(), Overflow>,
) -> Result<Span, Overflow> {
    let start = store.bytes().len();
    write(store)?;
    let len = store.bytes().len() - start;
    Ok(Span {
        start: u32::try_from(start).map_err(|_| Overflow)?,
        len: u32::try_from(len).map_err(|_| Overflow)?,
    })
}

/// The bytes of `span` (empty if the store no longer holds them).
pub(crate) fn bytes<B: TextStore>(store: &B, span: Span) -> &[u8] {
    let start = span.start as usize;
    store
        .bytes()
        .get(start..start.saturating_add(span.len as usize))
        .unwrap_or(&[])
}

/// The text of `span` (stored from `&str` or chars, so always UTF-8; empty otherwise).
pub(crate) fn text<B: TextStore>(store: &B, span: Span) -> &str {
    core::str::from_utf8(bytes(store, span)).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_bounds() {
        let mut s: heapless::Vec<u8, 8> = heapless::Vec::new();
        let a = push_chars(&mut s, "héllo".chars()).unwrap();
        assert_eq!(text(&s, a), "héllo");
        assert!(push_bytes(&mut s, b"abc").is_err());
        let b = push_bytes(&mut s, b"ab").unwrap();
        assert_eq!(bytes(&s, b), b"ab");
        s.reset();
        assert_eq!(text(&s, a), "");
    }
}
