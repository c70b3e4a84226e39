//! Device messages: what a device and its bridge say to each other on the serial link besides
//! Moneysocket frames (provisioning, a BOLT11 to pay, the device's status). See
//! `docs/uart-framing.md`, "Device messages".
//!
//! A device message travels as the body of one [`serial_framing`](crate::serial_framing)
//! frame, like a websocket message, and is told apart from every Moneysocket message by its
//! body alone:
//!
//! ```text
//! +------+------+-------------+----------------+-----------+
//! | 0x00 | kind | len: u16 BE | payload (len)  | [0x00]    |
//! +------+------+-------------+----------------+-----------+
//! ```
//!
//! - A v0 Moneysocket message is either cleartext JSON (an object: its first byte is `{`,
//!   never `0x00`) or ciphertext (a 16-byte IV and whole AES blocks: its length is a multiple
//!   of 16). A device message starts with `0x00` *and* its length is not a multiple of 16:
//!   when `4 + len` would be one, the encoder appends one `0x00` pad byte. So no Moneysocket
//!   message is ever taken for a device message, and a bridge that forwards everything else
//!   untouched never looks inside Moneysocket frames.
//! - The explicit `len` makes the payload exact (the pad byte is not part of it).
//!
//! Kinds in use are the `KIND_*` constants; a receiver ignores kinds it does not know.

use core::fmt;

/// First byte of every device message (a JSON object never starts with it).
pub const MARKER: u8 = 0x00;
/// Bytes before the payload: marker, kind, big-endian `u16` payload length.
pub const HEADER_LEN: usize = 4;

/// Host → device: the shared seed of the beacon to use, 32 hex digits. The bridge decodes the
/// beacon and sends its seed (its locations are the bridge's business: it dials the relay);
/// the device forgets any earlier session and starts over with that seed.
pub const KIND_PROVISION: u8 = b'p';
/// Host → device: a BOLT11 invoice to pay (its text).
pub const KIND_PAY: u8 = b'b';
/// Device → host: a BOLT11 invoice the device wants paid (its text).
pub const KIND_INVOICE: u8 = b'i';
/// Device → host: one line of status for the log (UTF-8 text).
pub const KIND_STATUS: u8 = b's';
/// Device → host: "I have no seed: provision me" (empty payload). An unprovisioned device
/// repeats it (the QEMU firmware every second), so provisioning never depends on bytes the
/// host sent before the device's UART was up.
pub const KIND_HELLO: u8 = b'h';

/// One device message, borrowed from the frame body it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceMessage<'a> {
    /// What it is (`KIND_*`).
    pub kind: u8,
    /// Its payload.
    pub payload: &'a [u8],
}

/// What a frame body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Body<'a> {
    /// A Moneysocket message (or anything that is not a device message): forward it.
    Moneysocket,
    /// A device message.
    Device(DeviceMessage<'a>),
    /// It has a device message's marker and length class but its header does not match its
    /// length: drop it (no Moneysocket message looks like this either).
    Malformed,
}

/// Tells a frame body apart (see the module documentation).
pub fn classify(body: &[u8]) -> Body<'_> {
    if body.first() != Some(&MARKER) || body.len() % 16 == 0 {
        return Body::Moneysocket;
    }
    let (Some(&kind), Some(&hi), Some(&lo)) = (body.get(1), body.get(2), body.get(3)) else {
        return Body::Malformed;
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let rest = body.get(HEADER_LEN..).unwrap_or(&[]);
    match rest.len().checked_sub(len) {
        Some(0) => {}
        Some(1) if rest.last() == Some(&0) && (HEADER_LEN + len) % 16 == 0 => {}
        _ => return Body::Malformed,
    }
    match rest.get(..len) {
        Some(payload) => Body::Device(DeviceMessage { kind, payload }),
        None => Body::Malformed,
    }
}

/// Bytes of the frame body that carries a `payload_len`-byte payload.
pub const fn encoded_len(payload_len: usize) -> usize {
    let n = HEADER_LEN + payload_len;
    if n % 16 == 0 {
        n + 1
    } else {
        n
    }
}

/// The payload does not fit: above `u16::MAX`, or above the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TooLong {
    /// Bytes the message needs.
    pub needed: usize,
    /// Bytes available.
    pub available: usize,
}

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "device message: needs {} bytes, only {} available",
            self.needed, self.available
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TooLong {}

/// Writes the body of a `kind` message carrying `payload` into `out`; returns its length.
pub fn encode(kind: u8, payload: &[u8], out: &mut [u8]) -> Result<usize, TooLong> {
    let needed = encoded_len(payload.len());
    let Ok(len) = u16::try_from(payload.len()) else {
        return Err(TooLong {
            needed,
            available: usize::from(u16::MAX),
        });
    };
    let Some(body) = out.get_mut(..needed) else {
        return Err(TooLong {
            needed,
            available: out.len(),
        });
    };
    let [hi, lo] = len.to_be_bytes();
    let (head, rest) = body.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&[MARKER, kind, hi, lo]);
    let (data, pad) = rest.split_at_mut(payload.len());
    data.copy_from_slice(payload);
    pad.fill(0);
    Ok(needed)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    #[test]
    fn round_trip_and_padding() {
        let mut buf = [0u8; 64];
        for n in 0..40 {
            let payload: std::vec::Vec<u8> = (0..n as u8).collect();
            let len = encode(KIND_PAY, &payload, &mut buf).unwrap();
            assert_eq!(len, encoded_len(n));
            assert_ne!(len % 16, 0, "payload {n}");
            assert_eq!(
                classify(&buf[..len]),
                Body::Device(DeviceMessage {
                    kind: KIND_PAY,
                    payload: &payload
                })
            );
        }
        // 12 bytes of payload make 16: padded to 17.
        assert_eq!(encoded_len(12), 17);
    }

    #[test]
    fn moneysocket_messages_are_never_device_messages() {
        assert_eq!(classify(b"{\"kind\":\"x\"}"), Body::Moneysocket);
        // Ciphertext starting with a zero byte: length is a multiple of 16.
        assert_eq!(classify(&[0u8; 32]), Body::Moneysocket);
        assert_eq!(classify(&[0u8; 48]), Body::Moneysocket);
        assert_eq!(classify(&[]), Body::Moneysocket);
    }

    #[test]
    fn inconsistent_headers_are_malformed() {
        assert_eq!(classify(&[0]), Body::Malformed);
        assert_eq!(classify(&[0, b'p', 0]), Body::Malformed);
        // Claims 5 bytes, carries 2.
        assert_eq!(classify(&[0, b'p', 0, 5, 1, 2]), Body::Malformed);
        // Two trailing bytes.
        assert_eq!(classify(&[0, b'p', 0, 1, 1, 0, 0]), Body::Malformed);
        // A pad byte where none is due.
        assert_eq!(classify(&[0, b'p', 0, 1, 1, 0]), Body::Malformed);
    }

    #[test]
    fn too_long_is_refused() {
        let mut small = [0u8; 8];
        assert_eq!(
            encode(KIND_STATUS, b"hello", &mut small),
            Err(TooLong {
                needed: 9,
                available: 8
            })
        );
        let big = vec![0u8; 70_000];
        let mut out = vec![0u8; 80_000];
        assert!(encode(KIND_STATUS, &big, &mut out).is_err());
    }

    proptest! {
        #[test]
        fn classify_never_panics(body in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = classify(&body);
        }
    }
}
