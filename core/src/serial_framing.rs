//! Framing of websocket messages over a byte stream: the link between a device's UART and a
//! host-side bridge (a serial port, or QEMU's serial over TCP). See `docs/uart-framing.md`.
//!
//! Wire format: a big-endian `u16` length, then that many bytes, which are one websocket
//! message. A zero-length frame is a control signal: from the host, "a new transport is
//! open"; from the device, "close the transport". Nothing else is on the wire: no checksum, no
//! sync byte (the format is the deployed firmware's, unchanged).
//!
//! The [`Decoder`] keeps its frame in caller-sized storage (`N` bytes, no allocation) and is
//! robust to line noise:
//! - a length above `N` is an error, never a long wait: the decoder drops the length's first
//!   byte and reads a new length starting at its second one (slide by one byte);
//! - a plausible but wrong length (noise that happens to be `<= N`) would swallow the following
//!   frames, so with [`Decoder::with_idle_gap`] a partial frame is discarded once the line has
//!   been silent for the gap: senders write a frame in one burst, so silence inside a frame
//!   means the frame is broken, and the next burst starts with a length;
//! - every dropped byte is counted in [`DecoderStats`] and reported as a [`DecodeError`] whose
//!   `Display` is one log line.
//!
//! Both the sliding and the gap are needed: sliding alone cannot tell a garbled length that is
//! in bounds, and the gap alone would leave an out-of-bounds length waiting for silence.
//!
//! The encoder side is [`header`], [`put_frame`] (into any [`Sink`]) and [`write_frame`] (into
//! any closure, e.g. a UART driver or `std::io::Write::write_all`): a body longer than the
//! bound or than `u16::MAX` is refused before a byte is written, never truncated.

use core::fmt;
use core::time::Duration;

use crate::sink::{Overflow, Sink};
use crate::time::Instant;

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 2;
/// The longest body the length prefix can describe.
pub const MAX_LEN: usize = u16::MAX as usize;
/// The control frame (zero length): host to device "new transport", device to host "close".
pub const CONTROL: [u8; HEADER_LEN] = [0, 0];

/// What one [`Decoder::push`] or [`Decoder::feed`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Decoded<'a> {
    /// A whole non-empty frame: one websocket message.
    Frame(&'a [u8]),
    /// A zero-length frame (host to device: a new transport; device to host: close).
    Control,
    /// Bytes were dropped; the decoder has already resynchronised and goes on.
    Error(DecodeError),
}

/// Why bytes were dropped. Decoding continues after every one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// A length prefix above the decoder's bound: its first byte was dropped and a new length
    /// is read starting at its second byte.
    Oversized {
        /// The length read.
        len: u16,
        /// The decoder's bound (`N`).
        max: u16,
    },
    /// A partial frame was discarded after a silence of at least the idle gap.
    Stale {
        /// Bytes discarded (length prefix included).
        dropped: usize,
        /// The frame's announced length, if its prefix was complete.
        len: Option<u16>,
        /// How long the line had been silent, in milliseconds.
        silence_ms: u64,
    },
    /// A partial frame was discarded by [`Decoder::reset`].
    Reset {
        /// Bytes discarded (length prefix included).
        dropped: usize,
    },
}

impl DecodeError {
    /// How many received bytes this event dropped.
    pub fn dropped_bytes(&self) -> usize {
        match *self {
            DecodeError::Oversized { .. } => 1,
            DecodeError::Stale { dropped, .. } | DecodeError::Reset { dropped } => dropped,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Oversized { len, max } => write!(
                f,
                "serial framing: length {len} above the {max}-byte bound; dropped 1 byte to resynchronise"
            ),
            DecodeError::Stale {
                dropped,
                len: Some(len),
                silence_ms,
            } => write!(
                f,
                "serial framing: partial frame ({dropped} bytes of {} expected) discarded after {silence_ms} ms of silence",
                usize::from(len) + HEADER_LEN
            ),
            DecodeError::Stale {
                dropped,
                len: None,
                silence_ms,
            } => write!(
                f,
                "serial framing: partial length prefix ({dropped} byte) discarded after {silence_ms} ms of silence"
            ),
            DecodeError::Reset { dropped } => write!(
                f,
                "serial framing: partial frame ({dropped} bytes) discarded on reset"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Counters of everything a [`Decoder`] delivered or dropped (saturating).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DecoderStats {
    /// Non-empty frames delivered.
    pub frames: u32,
    /// Control (zero-length) frames delivered.
    pub controls: u32,
    /// Length prefixes above the bound ([`DecodeError::Oversized`]).
    pub oversized: u32,
    /// Partial frames discarded after silence ([`DecodeError::Stale`]).
    pub stale: u32,
    /// Partial frames discarded by [`Decoder::reset`].
    pub resets: u32,
    /// Received bytes dropped, all causes together.
    pub dropped_bytes: u32,
}

fn bump(counter: &mut u32, by: usize) {
    *counter = counter.saturating_add(u32::try_from(by).unwrap_or(u32::MAX));
}

/// Whole milliseconds of a gap, at least 1, saturating.
const fn gap_ms(gap: Duration) -> u64 {
    let ms = gap.as_millis();
    if ms == 0 {
        1
    } else if ms > u64::MAX as u128 {
        u64::MAX
    } else {
        ms as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the first byte of a length.
    Idle,
    /// One byte of the length seen.
    Header(u8),
    /// Reading a body of `len` bytes, `got` of them so far (`0 < len <= N`).
    Body { len: u16, got: u16 },
}

/// What a step completed, without borrowing the buffer.
enum Step {
    Frame(usize),
    Control,
}

/// Reassembles frames of at most `N` bytes (`N <= 65535`) from a byte stream.
///
/// Feed it with [`push`](Self::push) (one byte) or [`feed`](Self::feed) (a slice); pass the
/// time the bytes were received (any clock, see [`Instant`]; ignored without an idle gap).
#[derive(Debug, Clone)]
pub struct Decoder<const N: usize> {
    buf: [u8; N],
    state: State,
    /// Silence after which a partial frame is discarded, in ms (`None`: never).
    idle_gap_ms: Option<u64>,
    /// When the last byte was received.
    last: Instant,
    stats: DecoderStats,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    const BOUND_FITS_U16: () = assert!(N <= MAX_LEN, "Decoder<N>: N must be <= 65535");

    /// A decoder without an idle gap: it resynchronises only on out-of-bound lengths.
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::BOUND_FITS_U16;
        Decoder {
            buf: [0; N],
            state: State::Idle,
            idle_gap_ms: None,
            last: Instant::ZERO,
            stats: DecoderStats {
                frames: 0,
                controls: 0,
                oversized: 0,
                stale: 0,
                resets: 0,
                dropped_bytes: 0,
            },
        }
    }

    /// A decoder that discards a partial frame when no byte arrived for `gap` (whole
    /// milliseconds; a zero gap counts as one millisecond). Choose it well above the longest
    /// pause a sender makes inside a frame, and above the longest time the caller may stall
    /// between reading two bytes (or call [`resume`](Self::resume) after such a stall).
    ///
    /// In a `static`, prefer [`new`](Self::new) then [`set_idle_gap`](Self::set_idle_gap) at
    /// run time: an all-zero initial value keeps the `N`-byte buffer in `.bss` instead of
    /// `.data` (flash plus a copy at boot).
    pub const fn with_idle_gap(gap: Duration) -> Self {
        let mut d = Self::new();
        d.idle_gap_ms = Some(gap_ms(gap));
        d
    }

    /// Sets or removes the idle gap (see [`with_idle_gap`](Self::with_idle_gap)).
    pub fn set_idle_gap(&mut self, gap: Option<Duration>) {
        self.idle_gap_ms = gap.map(gap_ms);
    }

    /// The bound: the longest frame body accepted.
    pub const fn max_len(&self) -> usize {
        N
    }

    /// The idle gap, if any.
    pub fn idle_gap(&self) -> Option<Duration> {
        self.idle_gap_ms.map(Duration::from_millis)
    }

    /// Counters since construction.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Bytes of a partial frame held (length prefix included); 0 between frames.
    pub fn pending(&self) -> usize {
        match self.state {
            State::Idle => 0,
            State::Header(_) => 1,
            State::Body { got, .. } => HEADER_LEN + usize::from(got),
        }
    }

    /// Feeds one byte received at `now`.
    pub fn push(&mut self, byte: u8, now: Instant) -> Option<Decoded<'_>> {
        self.feed(&[byte], now).1
    }

    /// Feeds bytes received at `now`, up to and including the first one that completes a
    /// frame or an error. Returns how many bytes were consumed (all of them when there is no
    /// event; at least one unless `bytes` is empty) and the event; feed the rest again.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> (usize, Option<Decoded<'_>>) {
        if bytes.is_empty() {
            return (0, None);
        }
        if let Some(err) = self.expire(now) {
            // The first byte starts a new length; it cannot complete anything by itself.
            self.state = State::Header(bytes[0]);
            self.last = now;
            return (1, Some(Decoded::Error(err)));
        }
        self.last = now;
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Idle => {
                    self.state = State::Header(bytes[i]);
                    i += 1;
                }
                State::Header(hi) => {
                    let b = bytes[i];
                    i += 1;
                    let len = u16::from_be_bytes([hi, b]);
                    if len == 0 {
                        self.state = State::Idle;
                        return (i, Some(self.deliver(Step::Control)));
                    }
                    if usize::from(len) > N {
                        // Slide by one byte: the second byte may start the real length.
                        self.state = State::Header(b);
                        self.stats.oversized = self.stats.oversized.saturating_add(1);
                        bump(&mut self.stats.dropped_bytes, 1);
                        let max = N as u16; // N <= u16::MAX (BOUND_FITS_U16)
                        return (i, Some(Decoded::Error(DecodeError::Oversized { len, max })));
                    }
                    self.state = State::Body { len, got: 0 };
                }
                State::Body { len, got } => {
                    let (len_u, got_u) = (usize::from(len), usize::from(got));
                    let take = (len_u - got_u).min(bytes.len() - i);
                    self.buf[got_u..got_u + take].copy_from_slice(&bytes[i..i + take]);
                    i += take;
                    let got_u = got_u + take;
                    if got_u == len_u {
                        self.state = State::Idle;
                        return (i, Some(self.deliver(Step::Frame(len_u))));
                    }
                    // got_u < len <= u16::MAX
                    self.state = State::Body {
                        len,
                        got: got_u as u16,
                    };
                }
            }
        }
        (i, None)
    }

    /// When a pending partial frame will count as stale (`None` without a partial frame or
    /// without an idle gap). A caller may call [`poll_idle`](Self::poll_idle) then, to report
    /// the loss without waiting for the next byte.
    pub fn idle_deadline(&self) -> Option<Instant> {
        match (self.state, self.idle_gap_ms) {
            (State::Idle, _) | (_, None) => None,
            (_, Some(ms)) => Some(Instant(self.last.0.saturating_add(ms))),
        }
    }

    /// Discards a partial frame if the line has been silent for the idle gap at `now`.
    pub fn poll_idle(&mut self, now: Instant) -> Option<DecodeError> {
        let err = self.expire(now)?;
        self.state = State::Idle;
        Some(err)
    }

    /// Tells the decoder the caller was not reading from the last byte until `now` (busy
    /// elsewhere, bytes may be waiting in a buffer): that time is not silence on the line.
    pub fn resume(&mut self, now: Instant) {
        if self.state != State::Idle && now > self.last {
            self.last = now;
        }
    }

    /// Discards a partial frame (for example when the byte stream was reconnected).
    pub fn reset(&mut self) -> Option<DecodeError> {
        let dropped = self.pending();
        self.state = State::Idle;
        if dropped == 0 {
            return None;
        }
        self.stats.resets = self.stats.resets.saturating_add(1);
        bump(&mut self.stats.dropped_bytes, dropped);
        Some(DecodeError::Reset { dropped })
    }

    /// The stale-partial error at `now`, counted; the caller resets the state.
    fn expire(&mut self, now: Instant) -> Option<DecodeError> {
        let gap = self.idle_gap_ms?;
        let silence_ms = now.0.saturating_sub(self.last.0);
        if self.state == State::Idle || silence_ms < gap {
            return None;
        }
        let len = match self.state {
            State::Body { len, .. } => Some(len),
            _ => None,
        };
        let dropped = self.pending();
        self.stats.stale = self.stats.stale.saturating_add(1);
        bump(&mut self.stats.dropped_bytes, dropped);
        Some(DecodeError::Stale {
            dropped,
            len,
            silence_ms,
        })
    }

    fn deliver(&mut self, step: Step) -> Decoded<'_> {
        match step {
            Step::Frame(len) => {
                self.stats.frames = self.stats.frames.saturating_add(1);
                Decoded::Frame(&self.buf[..len])
            }
            Step::Control => {
                self.stats.controls = self.stats.controls.saturating_add(1);
                Decoded::Control
            }
        }
    }
}

/// A body longer than the bound (or than [`MAX_LEN`]); nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TooLong {
    /// The body's length.
    pub len: usize,
    /// The bound in force (the caller's, or [`MAX_LEN`] if that is smaller).
    pub max: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "serial framing: a {}-byte frame is above the {}-byte bound; not sent",
            self.len, self.max
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TooLong {}

/// Why [`write_frame`] or [`put_frame`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteError<E> {
    /// The body is too long; nothing was written.
    TooLong(TooLong),
    /// The writer failed (part of the frame may have been written: the link is broken).
    Write(E),
}

impl<E> From<TooLong> for WriteError<E> {
    fn from(e: TooLong) -> Self {
        WriteError::TooLong(e)
    }
}

impl<E: fmt::Display> fmt::Display for WriteError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::TooLong(e) => e.fmt(f),
            WriteError::Write(e) => write!(f, "serial framing: write failed: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl<E: fmt::Debug + fmt::Display> std::error::Error for WriteError<E> {}

/// The length prefix of a `len`-byte body, if `len <= max` and `len <= u16::MAX`.
pub fn header(len: usize, max: usize) -> Result<[u8; HEADER_LEN], TooLong> {
    let max = max.min(MAX_LEN);
    if len > max {
        return Err(TooLong { len, max });
    }
    // len <= MAX_LEN
    Ok((len as u16).to_be_bytes())
}

/// Writes `body` as one frame through `write` (called twice: prefix, then body if non-empty).
/// An empty body is the control frame.
pub fn write_frame<E>(
    body: &[u8],
    max: usize,
    mut write: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), WriteError<E>> {
    let head = header(body.len(), max)?;
    write(&head).map_err(WriteError::Write)?;
    if !body.is_empty() {
        write(body).map_err(WriteError::Write)?;
    }
    Ok(())
}

/// Writes `body` as one frame into `sink`.
pub fn put_frame<S: Sink + ?Sized>(
    body: &[u8],
    max: usize,
    sink: &mut S,
) -> Result<(), WriteError<Overflow>> {
    write_frame(body, max, |b| sink.put(b))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// What a decoder produced, owned.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Out {
        Frame(Vec<u8>),
        Control,
        Error(DecodeError),
    }

    fn own(d: Decoded<'_>) -> Out {
        match d {
            Decoded::Frame(f) => Out::Frame(f.to_vec()),
            Decoded::Control => Out::Control,
            Decoded::Error(e) => Out::Error(e),
        }
    }

    fn feed_all<const N: usize>(dec: &mut Decoder<N>, mut bytes: &[u8], now: Instant) -> Vec<Out> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (n, ev) = dec.feed(bytes, now);
            assert!(n >= 1 && n <= bytes.len());
            out.extend(ev.map(own));
            bytes = &bytes[n..];
        }
        out
    }

    fn push_all<const N: usize>(dec: &mut Decoder<N>, bytes: &[u8], now: Instant) -> Vec<Out> {
        bytes
            .iter()
            .filter_map(|&b| dec.push(b, now).map(own))
            .collect()
    }

    fn wire(bodies: &[&[u8]], max: usize) -> Vec<u8> {
        let mut w = Vec::new();
        for b in bodies {
            put_frame(b, max, &mut w).unwrap();
        }
        w
    }

    fn frames(bodies: &[&[u8]]) -> Vec<Out> {
        bodies
            .iter()
            .map(|b| {
                if b.is_empty() {
                    Out::Control
                } else {
                    Out::Frame(b.to_vec())
                }
            })
            .collect()
    }

    #[test]
    fn round_trip_push_and_feed() {
        let long = [0xa5u8; 64];
        let bodies: [&[u8]; 5] = [b"hello", b"", b"x", &long, b""];
        let w = wire(&bodies, 64);
        assert_eq!(&w[..7], b"\x00\x05hello");
        let mut a = Decoder::<64>::new();
        assert_eq!(push_all(&mut a, &w, Instant::ZERO), frames(&bodies));
        let mut b = Decoder::<64>::new();
        assert_eq!(feed_all(&mut b, &w, Instant::ZERO), frames(&bodies));
        let s = b.stats();
        assert_eq!((s.frames, s.controls, s.dropped_bytes), (3, 2, 0));
        assert_eq!(b.pending(), 0);
    }

    #[test]
    fn split_at_every_byte_boundary() {
        let bodies: [&[u8]; 4] = [b"abc", b"", b"0123456789", b"z"];
        let w = wire(&bodies, 16);
        for cut in 0..=w.len() {
            let mut d = Decoder::<16>::new();
            let mut got = feed_all(&mut d, &w[..cut], Instant::ZERO);
            got.extend(feed_all(&mut d, &w[cut..], Instant::ZERO));
            assert_eq!(got, frames(&bodies), "cut at {cut}");
        }
        // And a frame of exactly the bound.
        let full = [7u8; 16];
        let w = wire(&[&full], 16);
        let mut d = Decoder::<16>::new();
        assert_eq!(feed_all(&mut d, &w, Instant::ZERO), frames(&[&full]));
    }

    #[test]
    fn feed_stops_after_each_event() {
        let w = wire(&[b"ab", b"cd"], 8);
        let mut d = Decoder::<8>::new();
        let (n, ev) = d.feed(&w, Instant::ZERO);
        assert_eq!((n, ev), (4, Some(Decoded::Frame(b"ab"))));
        assert_eq!(d.feed(&[], Instant::ZERO), (0, None));
    }

    #[test]
    fn oversized_length_slides_one_byte() {
        let mut d = Decoder::<8>::new();
        // 0x01 0x00 = 256 > 8: drop 0x01; then 0x00 0x02 is a valid length.
        let mut w = std::vec![0x01, 0x00, 0x02, b'h', b'i'];
        assert_eq!(
            feed_all(&mut d, &w, Instant::ZERO),
            std::vec![
                Out::Error(DecodeError::Oversized { len: 256, max: 8 }),
                Out::Frame(b"hi".to_vec())
            ]
        );
        // u16::MAX never makes it wait.
        w = std::vec![0xff, 0xff, 0xff, 0x00, 0x01, b'k'];
        let out = push_all(&mut d, &w, Instant::ZERO);
        // ff ff, ff ff, ff 00: three oversized lengths, then 00 01 k.
        assert_eq!(out.len(), 4);
        assert_eq!(out[3], Out::Frame(b"k".to_vec()));
        let s = d.stats();
        assert_eq!((s.oversized, s.dropped_bytes, s.frames), (4, 4, 2));
        let line = std::format!("{}", DecodeError::Oversized { len: 256, max: 8 });
        assert!(
            line.contains("256") && line.contains("8-byte bound"),
            "{line}"
        );
    }

    #[test]
    fn garbage_between_frames_then_recovery_by_gap() {
        let gap = Duration::from_millis(100);
        let mut d = Decoder::<32>::with_idle_gap(gap);
        let t0 = Instant(1_000);
        assert_eq!(
            feed_all(&mut d, &wire(&[b"one"], 32), t0),
            frames(&[b"one"])
        );
        // Noise whose "length" (0x00 0x1e = 30) is in bounds: swallowed as a partial frame.
        assert_eq!(
            feed_all(&mut d, &[0x00, 0x1e, 0x55, 0x66], Instant(1_010)),
            []
        );
        assert_eq!(d.pending(), 4);
        assert_eq!(d.idle_deadline(), Some(Instant(1_110)));
        // Before the gap, the partial frame is kept.
        assert_eq!(d.poll_idle(Instant(1_109)), None);
        // After a quiet gap the next burst is decoded from its length.
        let w = wire(&[b"two", b""], 32);
        let out = feed_all(&mut d, &w, Instant(1_200));
        assert_eq!(
            out,
            std::vec![
                Out::Error(DecodeError::Stale {
                    dropped: 4,
                    len: Some(30),
                    silence_ms: 190
                }),
                Out::Frame(b"two".to_vec()),
                Out::Control
            ]
        );
        let s = d.stats();
        assert_eq!(
            (s.stale, s.dropped_bytes, s.frames, s.controls),
            (1, 4, 2, 1)
        );
        // poll_idle reports without waiting for a byte.
        feed_all(&mut d, &[0x00], Instant(2_000));
        assert_eq!(
            d.poll_idle(Instant(2_100)),
            Some(DecodeError::Stale {
                dropped: 1,
                len: None,
                silence_ms: 100
            })
        );
        assert_eq!(d.pending(), 0);
        assert_eq!(d.idle_deadline(), None);
    }

    #[test]
    fn no_gap_without_idle_gap_and_resume_excuses_stalls() {
        let mut d = Decoder::<8>::new();
        feed_all(&mut d, &[0x00, 0x02, b'a'], Instant(0));
        assert_eq!(d.idle_deadline(), None);
        assert_eq!(feed_all(&mut d, b"b", Instant(1_000_000)), frames(&[b"ab"]));
        let mut d = Decoder::<8>::new();
        d.set_idle_gap(Some(Duration::from_millis(50)));
        assert_eq!(d.idle_gap(), Some(Duration::from_millis(50)));
        feed_all(&mut d, &[0x00, 0x02, b'a'], Instant(0));
        d.resume(Instant(500)); // the caller was busy; bytes waited in its buffer
        assert_eq!(feed_all(&mut d, b"b", Instant(510)), frames(&[b"ab"]));
    }

    #[test]
    fn reset_discards_and_counts() {
        let mut d = Decoder::<8>::new();
        assert_eq!(d.reset(), None);
        feed_all(&mut d, &[0x00, 0x03, b'a'], Instant::ZERO);
        assert_eq!(d.reset(), Some(DecodeError::Reset { dropped: 3 }));
        assert_eq!(d.stats().dropped_bytes, 3);
        assert_eq!(
            feed_all(&mut d, &wire(&[b"ok"], 8), Instant::ZERO),
            frames(&[b"ok"])
        );
    }

    #[test]
    fn control_frames() {
        let mut d = Decoder::<4>::new();
        assert_eq!(
            feed_all(&mut d, &[0, 0, 0, 0, 0, 1, 9, 0, 0], Instant::ZERO),
            std::vec![
                Out::Control,
                Out::Control,
                Out::Frame(std::vec![9]),
                Out::Control
            ]
        );
        // A zero-bound decoder only takes control frames.
        let mut z = Decoder::<0>::new();
        assert_eq!(z.push(0, Instant::ZERO), None);
        assert_eq!(z.push(0, Instant::ZERO), Some(Decoded::Control));
        let mut w = Vec::new();
        put_frame(b"", 0, &mut w).unwrap();
        assert_eq!(w, CONTROL);
    }

    #[test]
    fn encoder_refuses_instead_of_truncating() {
        assert_eq!(header(5, 1024), Ok([0, 5]));
        assert_eq!(header(MAX_LEN, usize::MAX), Ok([0xff, 0xff]));
        assert_eq!(
            header(MAX_LEN + 1, usize::MAX),
            Err(TooLong {
                len: MAX_LEN + 1,
                max: MAX_LEN
            })
        );
        assert_eq!(header(9, 8), Err(TooLong { len: 9, max: 8 }));
        let mut calls = 0;
        let r = write_frame(&[0u8; 9], 8, |_| {
            calls += 1;
            Ok::<(), ()>(())
        });
        assert_eq!(r, Err(WriteError::TooLong(TooLong { len: 9, max: 8 })));
        assert_eq!(calls, 0, "nothing written for a refused frame");
        // A sink that overflows is reported, not hidden.
        let mut buf = [0u8; 4];
        let mut sink = crate::sink::SliceSink::new(&mut buf);
        assert_eq!(
            put_frame(b"abc", 8, &mut sink),
            Err(WriteError::Write(Overflow))
        );
        let mut big = std::vec![0u8; MAX_LEN + 1];
        big[0] = 1;
        assert!(put_frame(&big, usize::MAX, &mut Vec::new()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary noise never panics, every byte is accounted for, nothing exceeds the
        /// bound, and valid frames sent after a quiet gap are decoded exactly.
        #[test]
        fn noise_then_quiet_gap_then_frames(
            noise in proptest::collection::vec(any::<u8>(), 0..300),
            chunks in proptest::collection::vec(1usize..40, 1..20),
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..=48), 0..6),
            bytewise in any::<bool>(),
        ) {
            let mut d = Decoder::<48>::with_idle_gap(Duration::from_millis(20));
            let mut fed = 0usize;
            let mut delivered = 0usize;
            // Noise arrives in chunks, 1 ms apart (never a gap).
            let mut rest = &noise[..];
            let mut t = 0u64;
            let mut k = 0;
            while !rest.is_empty() {
                let n = chunks[k % chunks.len()].min(rest.len());
                k += 1;
                let out = if bytewise { push_all(&mut d, &rest[..n], Instant(t)) } else { feed_all(&mut d, &rest[..n], Instant(t)) };
                for o in &out {
                    match o {
                        Out::Frame(f) => { prop_assert!(f.len() <= 48); delivered += HEADER_LEN + f.len(); }
                        Out::Control => delivered += HEADER_LEN,
                        Out::Error(_) => {}
                    }
                }
                fed += n;
                rest = &rest[n..];
                t += 1;
            }
            let s = d.stats();
            prop_assert_eq!(fed, delivered + s.dropped_bytes as usize + d.pending());
            // A quiet gap, then valid frames: decoded exactly (after at most one Stale).
            let refs: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
            let w = wire(&refs, 48);
            // Either report the stale partial frame at the deadline, or on the next byte.
            let polled = bytewise;
            if polled {
                if let Some(deadline) = d.idle_deadline() {
                    prop_assert!(deadline <= Instant(t + 20));
                }
                d.poll_idle(Instant(t + 20));
                prop_assert_eq!(d.pending(), 0);
            }
            let mut out = feed_all(&mut d, &w, Instant(t + 20));
            if let Some(Out::Error(DecodeError::Stale { .. })) = out.first() {
                out.remove(0);
            }
            prop_assert_eq!(out, frames(&refs));
            if polled || !w.is_empty() {
                prop_assert_eq!(d.pending(), 0);
            }
            let s = d.stats();
            prop_assert_eq!(
                fed + w.len(),
                delivered + w.len() + s.dropped_bytes as usize + d.pending()
            );
        }
    }
}
